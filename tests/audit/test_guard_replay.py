"""Issue 15.4: a guarded decision is recorded as such, counted for auditors, and replays.

The decision record holds the guard's sentences and the SHA-256 of the
training ranges; ``verify_decisions --replay`` decides every record again
(guard, then thresholds) and refuses ranges other than the recorded ones.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts import roles
from audit.models import DecisionRecord
from audit.verification import verify_audit_trail
from scoring.experience import EXPERIENCE_FILE, document_bytes
from scoring.model_cache import forget_loaded_models, get_model
from tests.support.audit import scored_application
from tests.support.factories import UserFactory
from tests.support.scoring import private_store  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def guarded_and_ordinary():
    officer = UserFactory(role=roles.OFFICER)
    guarded = scored_application(officer, applicant_reference="G-1", loan_amnt="900000", person_income="1000")
    ordinary = scored_application(officer, applicant_reference="G-2")
    return guarded, ordinary


def test_guarded_decision_is_recorded_with_its_reason(guarded_and_ordinary):
    guarded, ordinary = guarded_and_ordinary
    assert guarded.decision == "REVIEW"
    record = DecisionRecord.objects.get(application=guarded)
    assert record.outside_experience is True
    texts = [e["text"] for e in record.document["outside_experience"]]
    assert any(t.startswith("Outside the model's experience: loan is 90,000% of income") for t in texts)
    assert record.document["experience_sha256"] == get_model().experience.sha256
    plain = DecisionRecord.objects.get(application=ordinary)
    assert plain.outside_experience is False and plain.document["outside_experience"] == []


def test_guarded_decision_replays(guarded_and_ordinary):
    summary = verify_audit_trail(replay=True)
    assert summary.ok, summary.problems()
    assert summary.replayed == 2 and summary.policy_mismatches == 0


def test_replay_refuses_other_training_ranges(private_store, guarded_and_ordinary):  # noqa: F811
    version = guarded_and_ordinary[0].model_version
    path = private_store / version / EXPERIENCE_FILE
    document = json.loads(path.read_text())
    document["ranges"]["loan_percent_income"]["ordinary_high"] = 1000.0  # would not guard the first one
    path.write_bytes(document_bytes(document))
    forget_loaded_models()
    summary = verify_audit_trail(replay=True)
    assert not summary.ok
    assert "training ranges" in summary.model_errors[version]


def test_guarded_record_with_a_forged_decision_fails_replay(guarded_and_ordinary):
    """A guarded record claiming the cut-offs' decision instead of REVIEW is caught by the policy replay."""
    from audit.verification import ChainReport, VerificationSummary, _Replayer

    guarded = guarded_and_ordinary[0]
    record = DecisionRecord.objects.get(application=guarded)
    summary = VerificationSummary(decisions=ChainReport(), overrides=ChainReport(), replay_requested=True)
    replayer = _Replayer(summary, {})
    probability = record.probability_of_default
    forged = "DECLINE" if probability >= record.decline_from else "APPROVE"
    for decision in ("REVIEW", forged):
        replayer.add(
            record.model_version,
            record.id,
            probability,
            record.model_sha256,
            record.document["features"],
            (
                record.document["policy_version"],
                decision,
                record.approve_below,
                record.decline_from,
                record.document["experience_sha256"],
            ),
        )
    replayer.flush_all()
    assert summary.policy_mismatches == 1 and summary.mismatches == 0
    assert f"its decision {forged} is not REVIEW" in summary.policy_problems[0]


def test_audit_page_counts_guarded_decisions(guarded_and_ordinary):
    from tests.support.audit import run_verify

    run_verify()
    client = Client()
    client.force_login(UserFactory(role=roles.AUDITOR))
    page = client.get("/audit/")
    assert page.status_code == 200
    (mix,) = page.context["mix"]
    assert mix["outside_experience"] == 1
    assert 'data-testid="outside-experience">1<' in page.content.decode()


def test_application_page_says_why_it_was_not_decided(guarded_and_ordinary):
    guarded = guarded_and_ordinary[0]
    client = Client()
    client.force_login(guarded.officer)
    html = client.get(f"/applications/{guarded.pk}/").content.decode()
    assert "Not decided automatically" in html
    assert "Outside the model&#x27;s experience: loan is 90,000% of income" in html
