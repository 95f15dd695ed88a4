"""Model registry and cut-off simulator pages, and the four-eyes actions on them.

Thin: a permission check through ``accounts.roles`` (refusals are logged),
the figures from ``governance.selectors`` / ``governance.simulator``, the
changes through ``governance.services``. Reviewers, auditors and admins
may look; only admins propose, and only another admin approves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from audit.models import AccessEvent, GovernanceRecord
from audit.services import log_access
from governance import selectors, services
from governance.forms import CutoffForm
from governance.simulator import simulate
from scoring.services import DecisionPolicy


def _deny(request: HttpRequest, what: str) -> None:
    log_access(user=request.user, action=AccessEvent.PERMISSION_DENIED, target=what, request=request)
    raise PermissionDenied(what)


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


@login_required
@require_GET
def registry_page(request: HttpRequest) -> HttpResponse:
    """``/governance/models/``: every model version, its manifest and usage; pending changes; the change history."""
    if not roles.can_view_registry(request.user):
        _deny(request, "governance:registry")
    serving = selectors.current_serving()
    proposals = selectors.pending_proposals()
    return render(
        request,
        "governance/registry.html",
        {
            "serving": serving,
            "policy": selectors.serving_policy(serving),
            "entries": selectors.registry(serving),
            "proposals": [
                (p, roles.can_decide_model_change(request.user, p), roles.can_withdraw_model_change(request.user, p))
                for p in proposals
            ],
            "changes": selectors.recent_changes(),
            "may_propose": roles.can_propose_model_change(request.user),
            "challenger": selectors.challenger_version(),
            "may_compare": roles.can_compare_challenger(request.user),
        },
    )


def _propose(
    request: HttpRequest, *, target: str, propose: Callable[[], Any], confirmation: Callable[[Any], str]
) -> HttpResponse:
    """The three registry proposals share one shape: admins only, the service's refusal shown as a message."""
    if not roles.can_propose_model_change(request.user):
        _deny(request, f"governance:{target}")
    try:
        proposal = propose()
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, confirmation(proposal))
    return redirect("governance:registry")


@login_required
@require_POST
def propose_activation(request: HttpRequest) -> HttpResponse:
    """An admin proposes that a version serve (activation or rollback); another admin must approve."""
    return _propose(
        request,
        target="propose_activation",
        propose=lambda: services.propose_model_activation(
            proposer=request.user,
            model_version=request.POST.get("model_version", ""),
            note=request.POST.get("note", ""),
        ),
        confirmation=lambda proposal: (
            f"Proposed: activate {proposal.model_version}. Another admin must approve it before it serves."
        ),
    )


@login_required
@require_POST
def propose_challenger(request: HttpRequest) -> HttpResponse:
    """An admin proposes a version as the challenger (shadow scoring only); another admin must approve."""
    return _propose(
        request,
        target="propose_challenger",
        propose=lambda: services.propose_challenger(
            proposer=request.user,
            model_version=request.POST.get("model_version", ""),
            note=request.POST.get("note", ""),
        ),
        confirmation=lambda proposal: (
            f"Proposed: {proposal.model_version} as the challenger. Another admin must approve it before it scores."
        ),
    )


@login_required
@require_POST
def propose_challenger_removal(request: HttpRequest) -> HttpResponse:
    """An admin proposes that the challenger stop scoring; another admin must approve."""
    return _propose(
        request,
        target="propose_challenger_removal",
        propose=lambda: services.propose_challenger_removal(proposer=request.user, note=request.POST.get("note", "")),
        confirmation=lambda proposal: (
            f"Proposed: remove challenger {proposal.model_version}. Another admin must approve it."
        ),
    )


@login_required
@require_POST
def decide(request: HttpRequest, proposal_id: int, verdict: str) -> HttpResponse:
    """Approve or reject (another admin), or withdraw (the proposer), one pending proposal."""
    if not roles.can_propose_model_change(request.user):
        _deny(request, f"governance:{verdict}")
    back = request.POST.get("back") == "simulator"
    try:
        if verdict == "approve":
            record = services.approve_proposal(proposal_id=proposal_id, approver=request.user)
            messages.success(request, _approved_text(record))
        elif verdict == "reject":
            services.reject_proposal(proposal_id=proposal_id, decider=request.user)
            messages.success(request, "Proposal rejected; nothing changed.")
        else:
            services.withdraw_proposal(proposal_id=proposal_id, proposer=request.user)
            messages.success(request, "Proposal withdrawn; nothing changed.")
    except PermissionDenied as error:
        log_access(
            user=request.user,
            action=AccessEvent.PERMISSION_DENIED,
            target=f"governance:{verdict} {proposal_id}",
            request=request,
        )
        messages.error(request, str(error))
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return redirect("governance:simulator" if back else "governance:registry")


def _approved_text(record: GovernanceRecord) -> str:
    if record.action == GovernanceRecord.SET_CHALLENGER:
        return f"Approved: {record.model_version} is the challenger; it scores every new application in shadow."
    if record.action == GovernanceRecord.REMOVE_CHALLENGER:
        return f"Approved: {record.model_version} is no longer the challenger."
    return f"Approved: {record.model_version} under policy {record.policy_version} now decides every new application."


@login_required
@require_http_methods(["GET", "POST"])
def simulator_page(request: HttpRequest) -> HttpResponse:
    """``/governance/cutoffs/``: other cut-offs on the stored applications; admins propose them (GET simulates)."""
    if not roles.can_view_registry(request.user):
        _deny(request, "governance:simulator")
    serving = selectors.current_serving()
    policy = selectors.serving_policy(serving)
    if request.method == "POST":
        if not roles.can_propose_model_change(request.user):
            _deny(request, "governance:propose_cutoffs")
        form = CutoffForm(request.POST)
        if form.is_valid():
            try:
                proposal = services.propose_cutoffs(
                    proposer=request.user,
                    approve_below=form.cleaned_data["approve_below"],
                    decline_from=form.cleaned_data["decline_from"],
                    note=request.POST.get("note", ""),
                )
            except ValidationError as error:
                messages.error(request, _error_text(error))
            else:
                messages.success(
                    request,
                    f"Proposed: policy {proposal.policy_version} for {proposal.model_version}. "
                    "Another admin must approve it before it applies.",
                )
                return redirect("governance:simulator")
    elif request.GET:
        form = CutoffForm(request.GET)
    else:
        form = CutoffForm(initial={"approve_below": policy.approve_below, "decline_from": policy.decline_from})
    simulation = None
    if form.is_bound and form.is_valid():
        simulation = simulate(
            model_version=serving.model_version,
            current=policy,
            proposed=DecisionPolicy(
                version="proposed",
                approve_below=form.cleaned_data["approve_below"],
                decline_from=form.cleaned_data["decline_from"],
            ),
            start=form.cleaned_data.get("start"),
            end=form.cleaned_data.get("end"),
        )
    proposals = [p for p in selectors.pending_proposals() if p.kind == p.Kind.ADOPT_POLICY]
    return render(
        request,
        "governance/simulator.html",
        {
            "serving": serving,
            "policy": policy,
            "form": form,
            "simulation": simulation,
            "proposals": [
                (p, roles.can_decide_model_change(request.user, p), roles.can_withdraw_model_change(request.user, p))
                for p in proposals
            ],
            "may_propose": roles.can_propose_model_change(request.user),
            "challenger": selectors.challenger_version(),
            "may_compare": roles.can_compare_challenger(request.user),
        },
    )
