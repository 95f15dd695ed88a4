"""Cut-off simulator and decision policies: figures against an independent computation, four eyes, replay."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from accounts import roles
from applications import services as application_services
from audit.models import DecisionRecord, GovernanceRecord, LatestDecision, OutcomeRecord
from audit.services import record_outcome
from audit.verification import verify_audit_trail
from governance import selectors, services
from governance.simulator import simulate
from scoring.services import DecisionPolicy
from tests.support.factories import UserFactory, scored_application

pytestmark = pytest.mark.django_db

SERVING = "hgb-3409bea3c4cf"
MANIFEST = DecisionPolicy(version=f"manifest:{SERVING}", approve_below=0.1, decline_from=0.5)
# A spread of applicants: from the factory's default (approved) to high risk.
VARIANTS = [
    {},
    {"loan_grade": "A", "person_income": "90000"},
    {"loan_grade": "C", "loan_amnt": "15000"},
    {"loan_grade": "D", "loan_amnt": "18000", "person_income": "40000"},
    {"loan_grade": "B", "loan_amnt": "20000", "person_income": "35000"},
    {"loan_grade": "E", "loan_amnt": "9000"},
    {"loan_grade": "C", "cb_person_default_on_file": "Y"},
    {"loan_grade": "G", "cb_person_default_on_file": "Y", "loan_amnt": "30000", "person_income": "30000"},
    {"person_home_ownership": "OWN", "loan_amnt": "5000"},
    {"person_home_ownership": "MORTGAGE", "loan_grade": "D", "loan_amnt": "25000", "person_income": "60000"},
]


@pytest.fixture
def admins():
    return UserFactory(role=roles.ADMIN), UserFactory(role=roles.ADMIN)


@pytest.fixture
def portfolio(admins):
    officer = UserFactory(role=roles.OFFICER)
    applications = [scored_application(officer, **fields) for fields in VARIANTS]
    today = timezone.localdate()
    # Outcomes for every other application: defaulted when its probability is above the median.
    median = sorted(a.probability_of_default for a in applications)[len(applications) // 2]
    outcomes = {}
    for application in applications[::2]:
        outcome = "DEFAULTED" if application.probability_of_default >= median else "REPAID"
        record_outcome(
            application_id=application.pk, outcome=outcome, outcome_date=today, recorded_by=admins[0], source="command"
        )
        outcomes[application.pk] = outcome
    return applications, outcomes


def _independent(applications, outcomes, approve_below, decline_from):
    """The figures by plain Python over the application rows (not the records the simulator reads)."""
    approved = [a for a in applications if a.probability_of_default < approve_below]
    declined = [a for a in applications if a.probability_of_default >= decline_from]
    with_outcome = [a for a in approved if a.pk in outcomes]
    return {
        "approved": len(approved),
        "declined": len(declined),
        "approval_rate": len(approved) / len(applications),
        "expected_bad_rate": sum(a.probability_of_default for a in approved) / len(approved) if approved else None,
        "approved_with_outcome": len(with_outcome),
        "realised_bad_rate": (
            sum(outcomes[a.pk] == "DEFAULTED" for a in with_outcome) / len(with_outcome) if with_outcome else None
        ),
        "approved_ids": {a.pk for a in approved},
        "declined_ids": {a.pk for a in declined},
    }


def test_simulator_rates_and_swap_sets_match_an_independent_computation(portfolio):
    applications, outcomes = portfolio
    probabilities = sorted(a.probability_of_default for a in applications)
    assert len(set(probabilities)) == len(applications), "the variants must give distinct probabilities"
    # Cut-offs between recorded probabilities, chosen so both directions swap.
    proposed = DecisionPolicy(
        version="proposed",
        approve_below=(probabilities[4] + probabilities[5]) / 2,
        decline_from=(probabilities[7] + probabilities[8]) / 2,
    )
    current = DecisionPolicy(
        version="now",
        approve_below=(probabilities[2] + probabilities[3]) / 2,
        decline_from=(probabilities[8] + probabilities[9]) / 2,
    )
    result = simulate(model_version=SERVING, current=current, proposed=proposed)
    assert result.applications == len(applications)
    for figures, policy in ((result.current, current), (result.proposed, proposed)):
        expected = _independent(applications, outcomes, policy.approve_below, policy.decline_from)
        assert figures.approved == expected["approved"]
        assert figures.declined == expected["declined"]
        assert figures.referred == len(applications) - expected["approved"] - expected["declined"]
        assert figures.approval_rate == pytest.approx(expected["approval_rate"], abs=1e-15)
        assert figures.expected_bad_rate == pytest.approx(expected["expected_bad_rate"], rel=1e-12)
        assert figures.approved_with_outcome == expected["approved_with_outcome"]
        if expected["realised_bad_rate"] is None:
            assert figures.realised_bad_rate is None
        else:
            assert figures.realised_bad_rate == pytest.approx(expected["realised_bad_rate"], abs=1e-15)
    now = _independent(applications, outcomes, current.approve_below, current.decline_from)
    then = _independent(applications, outcomes, proposed.approve_below, proposed.decline_from)
    assert set(result.swap_in) == then["approved_ids"] - now["approved_ids"] and len(result.swap_in) == 2
    assert result.swap_out == [] and result.swap_out_count == 0
    assert result.newly_declined_count == len(then["declined_ids"] - now["declined_ids"]) == 1
    # The other way round, the same applications swap out.
    reverse = simulate(model_version=SERVING, current=proposed, proposed=current)
    assert reverse.swap_out == result.swap_in and reverse.swap_in == []
    # The period: nothing was recorded yesterday; everything today.
    today = timezone.localdate()
    assert (
        simulate(
            model_version=SERVING, current=current, proposed=proposed, end=today - dt.timedelta(days=1)
        ).applications
        == 0
    )
    assert (
        simulate(model_version=SERVING, current=current, proposed=proposed, start=today, end=today).applications == 10
    )


def test_adopting_cutoffs_needs_a_second_admin_and_then_decides_every_new_application(admins, portfolio):
    proposer, approver = admins
    with pytest.raises(PermissionDenied):
        services.propose_cutoffs(proposer=UserFactory(role=roles.REVIEWER), approve_below=0.2, decline_from=0.6)
    with pytest.raises(ValidationError):
        services.propose_cutoffs(proposer=proposer, approve_below=0.7, decline_from=0.6)
    with pytest.raises(ValidationError, match="in force already"):
        services.propose_cutoffs(proposer=proposer, approve_below=0.1, decline_from=0.5)
    proposal = services.propose_cutoffs(proposer=proposer, approve_below=0.02, decline_from=0.03, note="tighter")
    with pytest.raises(PermissionDenied):
        services.approve_proposal(proposal_id=proposal.pk, approver=proposer)
    # Not approved yet: decisions still follow the manifest.
    assert scored_application().decision_records.get().document["policy_version"] == MANIFEST.version
    record = services.approve_proposal(proposal_id=proposal.pk, approver=approver)
    assert (record.action, record.policy_version) == (GovernanceRecord.ADOPT_POLICY, f"policy-{proposal.pk}")
    application = scored_application()  # the factory's default applicant: approved under the manifest's 10%
    decision_record = application.decision_records.get()
    assert decision_record.document["policy_version"] == f"policy-{proposal.pk}"
    assert (decision_record.approve_below, decision_record.decline_from) == (0.02, 0.03)
    assert application.probability_of_default >= 0.03 and application.decision == "DECLINE"
    assert selectors.current_serving().model_version == SERVING
    summary = verify_audit_trail(replay=True)
    assert summary.ok, summary.problems()
    assert summary.policy_mismatches == 0 and summary.replayed == 12


def test_replay_checks_the_policy_each_decision_names(admins, monkeypatch):
    proposer, approver = admins
    proposal = services.propose_cutoffs(proposer=proposer, approve_below=0.02, decline_from=0.03)
    services.approve_proposal(proposal_id=proposal.pk, approver=approver)
    scored_application()
    assert verify_audit_trail(replay=True).ok
    # A decision naming a policy the governance chain never adopted.
    monkeypatch.setattr(
        application_services,
        "scoring_plan",
        lambda: ({"policy": DecisionPolicy(version="policy-999", approve_below=0.02, decline_from=0.03)}, None),
    )
    scored_application()
    summary = verify_audit_trail(replay=True)
    assert not summary.ok and summary.policy_mismatches == 1
    assert "never adopted" in summary.policy_problems[0]
    assert summary.mismatches == 0  # the probabilities themselves replay bit for bit


def test_replay_checks_cutoffs_against_the_named_policy(admins, monkeypatch):
    proposer, approver = admins
    proposal = services.propose_cutoffs(proposer=proposer, approve_below=0.02, decline_from=0.03)
    services.approve_proposal(proposal_id=proposal.pk, approver=approver)
    monkeypatch.setattr(
        application_services,
        "scoring_plan",
        lambda: (
            {"policy": DecisionPolicy(version=f"policy-{proposal.pk}", approve_below=0.5, decline_from=0.9)},
            None,
        ),
    )
    scored_application()
    summary = verify_audit_trail(replay=True)
    assert summary.policy_mismatches == 1 and "not those of policy" in summary.policy_problems[0]


def test_records_without_a_policy_name_are_checked_against_their_manifest(admins, monkeypatch):
    """Records from before versioned policies carry no policy_version: theirs is the manifest's."""
    real_prepare = application_services.prepare_decision_record

    def without_policy_name(**kwargs):
        prepared = real_prepare(**kwargs)
        prepared.document.pop("policy_version")
        return prepared

    monkeypatch.setattr(application_services, "prepare_decision_record", without_policy_name)
    scored_application()
    assert "policy_version" not in DecisionRecord.objects.get().document
    assert verify_audit_trail(replay=True).ok
    # Unnamed, but decided with other cut-offs than the manifest's: caught.
    monkeypatch.setattr(
        application_services,
        "scoring_plan",
        lambda: ({"policy": DecisionPolicy(version="", approve_below=0.02, decline_from=0.03)}, None),
    )
    scored_application()
    summary = verify_audit_trail(replay=True)
    assert summary.policy_mismatches == 1 and f"manifest:{SERVING}" in summary.policy_problems[0]


def test_cutoffs_proposed_for_a_model_no_longer_active_are_refused(admins):
    from tests.support.scoring import CANDIDATE_VERSION

    proposer, approver = admins
    cutoffs = services.propose_cutoffs(proposer=proposer, approve_below=0.2, decline_from=0.6)
    services.approve_proposal(
        proposal_id=services.propose_model_activation(proposer=proposer, model_version=CANDIDATE_VERSION).pk,
        approver=approver,
    )
    with pytest.raises(ValidationError, match="propose them again"):
        services.approve_proposal(proposal_id=cutoffs.pk, approver=approver)


def test_simulator_page_shows_figures_and_admins_propose(client_for, portfolio):
    auditor = client_for(roles.AUDITOR)
    page = auditor.get("/governance/cutoffs/", {"approve_below": "0.2", "decline_from": "0.6"}).content.decode()
    assert 'data-testid="sim-figures"' in page and 'data-testid="sim-count">10 applications' in page
    assert "propose-cutoffs" not in page
    assert auditor.post("/governance/cutoffs/", {"approve_below": "0.2", "decline_from": "0.6"}).status_code == 403
    bad = auditor.get("/governance/cutoffs/", {"approve_below": "0.7", "decline_from": "0.6"}).content.decode()
    assert "must not be below the approve cut-off" in bad and "sim-figures" not in bad
    admin = client_for(roles.ADMIN)
    assert admin.post("/governance/cutoffs/", {"approve_below": "0.2", "decline_from": "0.6"}).status_code == 302
    page = client_for(roles.ADMIN).get("/governance/cutoffs/").content.decode()
    assert 'data-testid="pending-proposals"' in page and "Approve" in page


def _independent_from_records(model_version, start, end, approve_below, decline_from):
    """The figures by plain Python over every decision and outcome record: the definition, step by step."""
    zone = timezone.get_current_timezone()
    latest = {}
    for record in DecisionRecord.objects.order_by("sequence"):
        day = record.created_at.astimezone(zone).date()
        if record.model_version != model_version or (start and day < start) or (end and day > end):
            continue
        latest[record.application_id] = record.probability_of_default  # a later record wins
    outcomes = {record.application_id: record.outcome for record in OutcomeRecord.objects.order_by("sequence")}
    approved = sorted(pk for pk, p in latest.items() if p < approve_below)
    declined = {pk for pk, p in latest.items() if p >= decline_from}
    known = [pk for pk in approved if pk in outcomes]
    return {
        "applications": len(latest),
        "approved": len(approved),
        "declined": len(declined),
        "expected_bad_rate": sum(latest[pk] for pk in approved) / len(approved) if approved else None,
        "approved_with_outcome": len(known),
        "realised_bad_rate": sum(outcomes[pk] == "DEFAULTED" for pk in known) / len(known) if known else None,
        "approved_ids": set(approved),
        "declined_ids": declined,
    }


def _assert_matches_records(model_version, current, proposed, start=None, end=None):
    result = simulate(model_version=model_version, current=current, proposed=proposed, start=start, end=end)
    now = _independent_from_records(model_version, start, end, current.approve_below, current.decline_from)
    then = _independent_from_records(model_version, start, end, proposed.approve_below, proposed.decline_from)
    assert result.applications == now["applications"]
    for figures, expected in ((result.current, now), (result.proposed, then)):
        assert (figures.approved, figures.declined) == (expected["approved"], expected["declined"])
        assert figures.referred == expected["applications"] - expected["approved"] - expected["declined"]
        if expected["expected_bad_rate"] is None:
            assert figures.expected_bad_rate is None
        else:
            assert figures.expected_bad_rate == pytest.approx(expected["expected_bad_rate"], rel=1e-12)
        assert figures.approved_with_outcome == expected["approved_with_outcome"]
        assert figures.realised_bad_rate == expected["realised_bad_rate"]
    swap_in = sorted(then["approved_ids"] - now["approved_ids"])
    swap_out = sorted(now["approved_ids"] - then["approved_ids"])
    assert (result.swap_in, result.swap_in_count) == (swap_in, len(swap_in))
    assert (result.swap_out, result.swap_out_count) == (swap_out, len(swap_out))
    assert result.newly_declined_count == len(then["declined_ids"] - now["declined_ids"])
    assert result.no_longer_declined_count == len(now["declined_ids"] - then["declined_ids"])
    return result


@pytest.fixture
def rescored(admins, monkeypatch):
    """Applications with several decision records: scored 40 days ago, counter-offered today by another model.

    Two declined applications are scored (by the serving model) 40 days ago, one of them also
    counter-offered then (a second record, same model); a third is scored today. Then the candidate
    model is activated and the first two are counter-offered (or offered again) today: their latest
    record is the candidate's, today; their serving model's latest is 40 days back.
    """
    from applications.services import offer_counter_offer
    from governance.services import approve_proposal, propose_model_activation
    from tests.support.factories import DECLINED_FORM
    from tests.support.scoring import CANDIDATE_VERSION

    proposer, approver = admins
    officer, reviewer = UserFactory(role=roles.OFFICER), UserFactory(role=roles.REVIEWER)
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() - dt.timedelta(days=40))
    first = scored_application(officer, **DECLINED_FORM)
    second = scored_application(officer, **{**DECLINED_FORM, "loan_amnt": "18000"})
    offer_counter_offer(application=second, reviewer=reviewer)
    record_outcome(
        application_id=second.pk,
        outcome="DEFAULTED",
        outcome_date=timezone.localdate(),
        recorded_by=proposer,
        source="command",
    )
    monkeypatch.setattr(timezone, "now", real_now)
    today = scored_application(officer)
    approve_proposal(
        proposal_id=propose_model_activation(proposer=proposer, model_version=CANDIDATE_VERSION).pk, approver=approver
    )
    offer_counter_offer(application=first, reviewer=reviewer)
    # A correction: the latest outcome counts.
    for outcome in ("DEFAULTED", "REPAID"):
        record_outcome(
            application_id=first.pk,
            outcome=outcome,
            outcome_date=timezone.localdate(),
            recorded_by=proposer,
            source="command",
        )
    assert DecisionRecord.objects.filter(application=first).count() == 2
    assert DecisionRecord.objects.filter(application=second).count() == 2
    return first, second, today, CANDIDATE_VERSION


def test_applications_with_several_records_count_by_their_latest_record_in_the_period(rescored):
    first, second, today, candidate = rescored
    latest = LatestDecision.objects.get(application=first)
    assert (latest.model_version, latest.decision_records, latest.outcome) == (candidate, 2, "REPAID")
    assert LatestDecision.objects.get(application=second).decision_records == 2
    back = timezone.localdate() - dt.timedelta(days=40)
    # Cut-offs that approve the counter-offers but not the declined first scorings, and the reverse.
    for current, proposed in (
        (MANIFEST, DecisionPolicy(version="wide", approve_below=0.999, decline_from=0.9995)),
        (DecisionPolicy(version="wide", approve_below=0.999, decline_from=0.9995), MANIFEST),
    ):
        # The serving model: its latest record of the first application is 40 days old (not its latest).
        whole = _assert_matches_records(SERVING, current, proposed)
        assert whole.applications == 3
        assert _assert_matches_records(SERVING, current, proposed, start=back, end=back).applications == 2
        assert _assert_matches_records(SERVING, current, proposed, start=back + dt.timedelta(days=1)).applications == 1
        assert _assert_matches_records(candidate, current, proposed).applications == 1
        assert _assert_matches_records(candidate, current, proposed, end=back).applications == 0
    # The first application's serving record, read apart from the index, swaps and is listed.
    assert first.pk in whole.swap_out or first.pk in whole.swap_in


def test_swap_lists_keep_the_first_listed_ids_across_both_reads(rescored, monkeypatch):
    from governance import simulator

    first, second, today, candidate = rescored
    none = DecisionPolicy(version="none", approve_below=0.0, decline_from=0.9995)
    wide = DecisionPolicy(version="wide", approve_below=0.999, decline_from=0.9995)
    # The first application's serving record is read apart; the other two come from the index.
    assert simulate(model_version=SERVING, current=none, proposed=wide).swap_in == [first.pk, second.pk, today.pk]
    for listed in (1, 2):
        monkeypatch.setattr(simulator, "LISTED", listed)
        result = simulate(model_version=SERVING, current=none, proposed=wide)
        assert result.swap_in == [first.pk, second.pk][:listed] and result.swap_in_count == 3
        assert simulate(model_version=SERVING, current=wide, proposed=none).swap_out == result.swap_in


def test_the_latest_decision_index_is_what_the_records_say_and_tampering_is_reported(rescored, portfolio):
    from audit.latest import mismatched_applications, rebuild_latest_decisions

    first, second, today, candidate = rescored
    kept = sorted(LatestDecision.objects.values_list(*FIELDS))
    assert len(kept) == DecisionRecord.objects.values("application").distinct().count() == 13
    assert mismatched_applications() == []
    assert verify_audit_trail().ok
    # The migration's backfill and the rebuild compute from the chains what the services kept.
    backfill = importlib.import_module("audit.migrations.0014_latest_decision").BACKFILL
    LatestDecision.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(backfill)
    assert sorted(LatestDecision.objects.values_list(*FIELDS)) == kept
    assert rebuild_latest_decisions(using="default") == 13
    assert sorted(LatestDecision.objects.values_list(*FIELDS)) == kept
    # Any disagreement with the records is reported, application by application.
    LatestDecision.objects.filter(application=first).update(probability_of_default=0.01)
    LatestDecision.objects.filter(application=second).update(outcome="")
    LatestDecision.objects.filter(application=today).update(decision_records=2)
    portfolio_first = portfolio[0][0]
    LatestDecision.objects.filter(application=portfolio_first).delete()
    tampered = sorted([first.pk, second.pk, today.pk, portfolio_first.pk])
    assert mismatched_applications() == tampered
    assert mismatched_applications(among=[first.pk, portfolio[0][1].pk]) == [first.pk]
    # Among every application (an incremental run's path): each kind of tampering, the deleted row too.
    every = sorted(DecisionRecord.objects.values_list("application_id", flat=True).distinct())
    assert mismatched_applications(among=every) == tampered
    summary = verify_audit_trail()
    assert not summary.ok and sorted(summary.application_mismatch_ids) == tampered
    assert "latest-decision index" in summary.application_problems[0]
    rebuild_latest_decisions(using="default")
    assert mismatched_applications() == []
    # A row naming an earlier record of its application, that record's columns copied faithfully.
    earlier = DecisionRecord.objects.filter(application=first).order_by("sequence").first()
    LatestDecision.objects.filter(application=first).update(
        decision_record=earlier,
        model_version=earlier.model_version,
        created_at=earlier.created_at,
        probability_of_default=earlier.probability_of_default,
    )
    assert mismatched_applications() == mismatched_applications(among=[first.pk]) == [first.pk]


FIELDS = (
    "application_id",
    "decision_record_id",
    "model_version",
    "created_at",
    "probability_of_default",
    "decision_records",
    "outcome",
)
