"""Changing what serves: propose, approve (a second admin), reject, withdraw. Keyword-only.

Four eyes: one admin proposes, a different admin approves; who may do what
is asked of ``accounts.roles`` (``can_propose_model_change``,
``can_decide_model_change``, ``can_withdraw_model_change``). Approval
switches ``ServingState`` and appends the ``audit`` governance record in
one transaction; every process reads the serving state before it scores
(``governance.selectors.scoring_arguments``), so the switch applies at once
everywhere, with no restart.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit.models import GovernanceRecord
from audit.services import append_governance_record
from governance.models import ChallengerState, ChangeProposal, ServingState
from governance.selectors import challenger_version, current_serving, serving_policy
from scoring.exceptions import ModelUnavailable
from scoring.model_cache import get_model
from scoring.services import manifest_policy_version
from scoring.store import read_manifest

NOTE_MAX_CHARS = 2000


def _clean_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX_CHARS or "\x00" in note:
        raise ValidationError({"note": f"Write at most {NOTE_MAX_CHARS:,} characters."})
    return note


def _require_proposer(user: Any) -> None:
    if not roles.can_propose_model_change(user):
        raise PermissionDenied("Only admins may propose a model activation or new cut-offs.")


def propose_model_activation(*, proposer: Any, model_version: str, note: str = "") -> ChangeProposal:
    """Propose that ``model_version`` serve (an activation, or a rollback to an earlier version).

    Refuses a version that does not load and verify (``ValidationError``) and
    the version already serving. Its cut-offs will be its manifest's.
    """
    _require_proposer(proposer)
    note = _clean_note(note)
    try:
        model = get_model(model_version)
    except ModelUnavailable as error:
        raise ValidationError({"model_version": f"This version cannot serve: {error}"}) from None
    if current_serving().model_version == model_version:
        raise ValidationError({"model_version": f"{model_version} is already the active version."})
    return ChangeProposal.objects.create(
        kind=ChangeProposal.Kind.ACTIVATE_MODEL,
        model_version=model_version,
        approve_below=model.approve_below,
        decline_from=model.decline_from,
        note=note,
        proposed_by=proposer,
        proposed_at=timezone.now(),
    )


def propose_challenger(*, proposer: Any, model_version: str, note: str = "") -> ChangeProposal:
    """Propose that ``model_version`` (not the active one) score every new application in shadow.

    The same four eyes as an activation: another admin approves. A
    challenger never decides; it replaces the current challenger, if any,
    once approved. Refuses a version that does not load and verify.
    """
    _require_proposer(proposer)
    note = _clean_note(note)
    try:
        model = get_model(model_version)
    except ModelUnavailable as error:
        raise ValidationError({"model_version": f"This version cannot be the challenger: {error}"}) from None
    if current_serving().model_version == model_version:
        raise ValidationError({"model_version": f"{model_version} is the active version; a challenger is another one."})
    if challenger_version() == model_version:
        raise ValidationError({"model_version": f"{model_version} is the challenger already."})
    return ChangeProposal.objects.create(
        kind=ChangeProposal.Kind.SET_CHALLENGER,
        model_version=model_version,
        approve_below=model.approve_below,
        decline_from=model.decline_from,
        note=note,
        proposed_by=proposer,
        proposed_at=timezone.now(),
    )


def propose_challenger_removal(*, proposer: Any, note: str = "") -> ChangeProposal:
    """Propose that the current challenger stop scoring in shadow (another admin approves)."""
    _require_proposer(proposer)
    note = _clean_note(note)
    state = ChallengerState.objects.filter(pk=ChallengerState.SINGLETON_ID).first()
    if state is None or not state.model_version:
        raise ValidationError("There is no challenger to remove.")
    return ChangeProposal.objects.create(
        kind=ChangeProposal.Kind.REMOVE_CHALLENGER,
        model_version=state.model_version,
        approve_below=state.approve_below,
        decline_from=state.decline_from,
        note=note,
        proposed_by=proposer,
        proposed_at=timezone.now(),
    )


def validate_cutoffs(*, approve_below: Any, decline_from: Any) -> tuple[float, float]:
    """Cut-offs as two probabilities with 0 < approve_below <= decline_from <= 1 (``ValidationError`` otherwise)."""
    errors = {}
    values = {}
    for name, value in (("approve_below", approve_below), ("decline_from", decline_from)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            errors[name] = "Give a probability between 0 and 1, e.g. 0.12."
            continue
        if not math.isfinite(number) or not 0 < number <= 1:
            errors[name] = "Give a probability above 0 and at most 1."
        values[name] = number
    if not errors and values["approve_below"] > values["decline_from"]:
        errors["decline_from"] = "The decline cut-off must not be below the approve cut-off."
    if errors:
        raise ValidationError(errors)
    return values["approve_below"], values["decline_from"]


def propose_cutoffs(*, proposer: Any, approve_below: Any, decline_from: Any, note: str = "") -> ChangeProposal:
    """Propose new cut-offs for the active model: a new decision-policy version once a second admin approves."""
    _require_proposer(proposer)
    note = _clean_note(note)
    approve_below, decline_from = validate_cutoffs(approve_below=approve_below, decline_from=decline_from)
    serving = current_serving()
    policy = serving_policy(serving)
    if (policy.approve_below, policy.decline_from) == (approve_below, decline_from):
        raise ValidationError("These are the cut-offs in force already.")
    return ChangeProposal.objects.create(
        kind=ChangeProposal.Kind.ADOPT_POLICY,
        model_version=serving.model_version,
        approve_below=approve_below,
        decline_from=decline_from,
        note=note,
        proposed_by=proposer,
        proposed_at=timezone.now(),
    )


def _pending(proposal_id: int) -> ChangeProposal:
    proposal = ChangeProposal.objects.select_for_update().select_related("proposed_by").filter(pk=proposal_id).first()
    if proposal is None:
        raise ValidationError("There is no such proposal.")
    if proposal.status != ChangeProposal.Status.PENDING:
        raise ValidationError(f"This proposal is no longer pending ({proposal.get_status_display().lower()}).")
    return proposal


def approve_proposal(*, proposal_id: int, approver: Any) -> GovernanceRecord:
    """Approve a pending proposal (not one's own): switch what serves and record it in the governance chain.

    An activation must still load and verify; new cut-offs apply only to the
    model they were proposed for (if another version was activated since,
    the proposal must be made again).
    """
    if not roles.can_propose_model_change(approver):
        raise PermissionDenied("Only admins may approve a model activation or new cut-offs.")
    # Load and verify the model before the transaction: on SQLite the transaction holds the
    # write lock, and every submission would wait for a model load (seconds) behind it.
    # Removing a challenger needs no model: a broken one must still be removable.
    version, kind = ChangeProposal.objects.filter(pk=proposal_id).values_list("model_version", "kind").first() or (
        None,
        None,
    )
    try:
        model = get_model(version) if version and kind != ChangeProposal.Kind.REMOVE_CHALLENGER else None
    except ModelUnavailable as error:
        raise ValidationError(f"Version {version} cannot serve now: {error}") from None
    with transaction.atomic():
        proposal = _pending(proposal_id)
        if not roles.can_decide_model_change(approver, proposal):
            raise PermissionDenied("A change must be approved by another admin than the one who proposed it.")
        if proposal.kind == ChangeProposal.Kind.REMOVE_CHALLENGER:
            return _approve_challenger_removal(proposal, approver)
        if model is None or proposal.model_version != model.version:
            raise ValidationError("This proposal changed while it was being approved; try again.")
        if proposal.kind == ChangeProposal.Kind.SET_CHALLENGER:
            return _approve_challenger(proposal, approver, model)
        serving = current_serving()
        before = serving_policy(serving)
        if proposal.kind == ChangeProposal.Kind.ACTIVATE_MODEL:
            action = GovernanceRecord.ACTIVATE_MODEL
            policy_version = manifest_policy_version(model.version)
            approve_below, decline_from = model.approve_below, model.decline_from
        else:
            if serving.model_version != proposal.model_version:
                raise ValidationError(
                    f"These cut-offs were proposed for {proposal.model_version}, but {serving.model_version} "
                    "serves now: propose them again for the active version."
                )
            action = GovernanceRecord.ADOPT_POLICY
            policy_version = proposal.policy_version
            approve_below, decline_from = proposal.approve_below, proposal.decline_from
        record = _chain_decision(
            proposal=proposal,
            action=action,
            model_version=model.version,
            model_sha256=model.sha256,
            policy_version=policy_version,
            approve_below=approve_below,
            decline_from=decline_from,
            decided_by=approver,
            previous={"model_version": serving.model_version, "policy_version": before.version},
        )
        state = ServingState.objects.select_for_update().filter(pk=ServingState.SINGLETON_ID).first()
        revision = (state.revision if state else 0) + 1
        ServingState.objects.update_or_create(
            pk=ServingState.SINGLETON_ID,
            defaults={
                "model_version": model.version,
                "policy_version": policy_version,
                "approve_below": approve_below,
                "decline_from": decline_from,
                "revision": revision,
                "changed_at": record.created_at,
            },
        )
        _mark_approved(proposal, approver, record)
    return record


def _chain_decision(*, proposal: ChangeProposal, decided_by: Any, **record: Any) -> GovernanceRecord:
    """Chain the record of a decision on ``proposal`` (approval, rejection, withdrawal): who proposed it, when, and
    their note come from the proposal itself, so no decision can be recorded against the wrong proposer."""
    return append_governance_record(
        proposal_id=proposal.pk,
        proposed_by=proposal.proposed_by,
        proposed_at=proposal.proposed_at,
        approved_by=decided_by,
        note=proposal.note,
        **record,
    )


def _mark_approved(proposal: ChangeProposal, approver: Any, record: GovernanceRecord) -> None:
    proposal.status = ChangeProposal.Status.APPROVED
    proposal.decided_by = approver
    proposal.decided_at = record.created_at
    proposal.record = record
    proposal.save(update_fields=["status", "decided_by", "decided_at", "record"])


def _set_challenger_state(
    *, model_version: str, model_sha256: str, approve_below: float, decline_from: float, at: Any
) -> None:
    state = ChallengerState.objects.select_for_update().filter(pk=ChallengerState.SINGLETON_ID).first()
    ChallengerState.objects.update_or_create(
        pk=ChallengerState.SINGLETON_ID,
        defaults={
            "model_version": model_version,
            "model_sha256": model_sha256,
            "approve_below": approve_below,
            "decline_from": decline_from,
            "revision": (state.revision if state else 0) + 1,
            "changed_at": at,
        },
    )


def _approve_challenger(proposal: ChangeProposal, approver: Any, model: Any) -> GovernanceRecord:
    """Inside ``approve_proposal``'s transaction: make ``model`` the challenger and chain the record."""
    if current_serving().model_version == model.version:
        raise ValidationError(f"{model.version} has become the active version since; it cannot be the challenger.")
    before = challenger_version()
    record = _chain_decision(
        proposal=proposal,
        action=GovernanceRecord.SET_CHALLENGER,
        model_version=model.version,
        model_sha256=model.sha256,
        policy_version=manifest_policy_version(model.version),
        approve_below=model.approve_below,
        decline_from=model.decline_from,
        decided_by=approver,
        previous={"challenger": before},
    )
    _set_challenger_state(
        model_version=model.version,
        model_sha256=model.sha256,
        approve_below=model.approve_below,
        decline_from=model.decline_from,
        at=record.created_at,
    )
    _mark_approved(proposal, approver, record)
    return record


def _approve_challenger_removal(proposal: ChangeProposal, approver: Any) -> GovernanceRecord:
    """Inside ``approve_proposal``'s transaction: stop the challenger named in the proposal and chain the record."""
    state = ChallengerState.objects.select_for_update().filter(pk=ChallengerState.SINGLETON_ID).first()
    if state is None or state.model_version != proposal.model_version:
        raise ValidationError(
            f"{proposal.model_version} is no longer the challenger; this proposal has nothing left to remove."
        )
    record = _chain_decision(
        proposal=proposal,
        action=GovernanceRecord.REMOVE_CHALLENGER,
        model_version=state.model_version,
        model_sha256=state.model_sha256,
        policy_version=manifest_policy_version(state.model_version),
        approve_below=state.approve_below,
        decline_from=state.decline_from,
        decided_by=approver,
        previous={"challenger": state.model_version},
    )
    _set_challenger_state(model_version="", model_sha256="", approve_below=0.0, decline_from=0.0, at=record.created_at)
    _mark_approved(proposal, approver, record)
    return record


def reject_proposal(*, proposal_id: int, decider: Any) -> ChangeProposal:
    """Another admin turns a pending proposal down; nothing serves differently. Chained like an approval."""
    sha256 = _proposed_sha256(proposal_id)
    with transaction.atomic():
        proposal = _pending(proposal_id)
        if not roles.can_decide_model_change(decider, proposal):
            raise PermissionDenied("A proposal is rejected by another admin; withdraw your own instead.")
        return _close(proposal, decider, ChangeProposal.Status.REJECTED, sha256)


def withdraw_proposal(*, proposal_id: int, proposer: Any) -> ChangeProposal:
    """The proposer takes their pending proposal back. Chained like an approval."""
    sha256 = _proposed_sha256(proposal_id)
    with transaction.atomic():
        proposal = _pending(proposal_id)
        if not roles.can_withdraw_model_change(proposer, proposal):
            raise PermissionDenied("Only the admin who proposed it may withdraw a proposal.")
        return _close(proposal, proposer, ChangeProposal.Status.WITHDRAWN, sha256)


def _proposed_sha256(proposal_id: int) -> str:
    """The artifact SHA-256 the manifest of the proposal's version names ("" if it cannot be read any more).

    Read from the manifest, not by loading the model: a proposal for a
    version that broke since must still be closable. Outside the transaction,
    like every file read here.
    """
    version = ChangeProposal.objects.filter(pk=proposal_id).values_list("model_version", flat=True).first()
    if not version:
        return ""
    try:
        return str(read_manifest(Path(settings.MODELS_STORE_DIR), version).get("artifact_sha256") or "")
    except ModelUnavailable:
        return ""


def _close(proposal: ChangeProposal, user: Any, status: str, sha256: str) -> ChangeProposal:
    """Close a proposal without effect and chain the record of who closed it (``REJECT`` / ``WITHDRAW``)."""
    rejected = status == ChangeProposal.Status.REJECTED
    policy_version = (
        proposal.policy_version
        if proposal.kind == ChangeProposal.Kind.ADOPT_POLICY
        else manifest_policy_version(proposal.model_version)
    )
    record = _chain_decision(
        proposal=proposal,
        action=GovernanceRecord.REJECT if rejected else GovernanceRecord.WITHDRAW,
        model_version=proposal.model_version,
        model_sha256=sha256,
        policy_version=policy_version,
        approve_below=proposal.approve_below,
        decline_from=proposal.decline_from,
        decided_by=user,
        previous={"proposal_kind": proposal.kind},
    )
    proposal.status = status
    proposal.decided_by = user
    proposal.decided_at = record.created_at
    proposal.record = record
    proposal.save(update_fields=["status", "decided_by", "decided_at", "record"])
    return proposal
