"""Issue 12: when a new model version serves, nothing recorded with the old one breaks.

One database holds decisions from the model that uses age (hgb-3409bea3c4cf)
and from the issue-12 candidate. Every decision replays bit for bit with its own
recorded model, old stored reasons stay exactly as recorded, and the officer's
page shows each kind as it should.
"""

from __future__ import annotations

import copy

import pytest
from django.urls import reverse

from accounts import roles
from applications import formatting
from applications.models import LoanApplication
from audit.models import DecisionRecord
from tests.support.audit import run_verify, scored_application
from tests.support.factories import UserFactory
from tests.support.scoring import CANDIDATE_VERSION

pytestmark = pytest.mark.django_db

OLD_VERSION = "hgb-3409bea3c4cf"


def test_decisions_from_both_versions_replay_and_old_reasons_stay(settings, client):
    officer = UserFactory(role=roles.OFFICER)
    active = CANDIDATE_VERSION

    settings.SCORING_MODEL_VERSION = OLD_VERSION
    old = [
        scored_application(
            officer, applicant_reference=f"OLD-{i}", loan_amnt=str(6000 + 2500 * i), person_age=str(25 + i)
        )
        for i in range(4)
    ]
    old_reasons = {application.pk: copy.deepcopy(application.reasons) for application in old}
    settings.SCORING_MODEL_VERSION = CANDIDATE_VERSION
    new = [
        scored_application(
            officer, applicant_reference=f"NEW-{i}", loan_amnt=str(6000 + 2500 * i), person_age=str(25 + i)
        )
        for i in range(4)
    ]

    assert {a.model_version for a in old} == {OLD_VERSION}
    assert {a.model_version for a in new} == {active}
    records = DecisionRecord.objects.order_by("sequence")
    assert sorted({record.model_version for record in records}) == sorted({OLD_VERSION, active})
    # The old model was fed age; the new one never is.
    for record in records:
        assert ("person_age" in record.document["features"]) == (record.model_version == OLD_VERSION)

    code, out, summary = run_verify("--replay")
    assert code == 0, out
    assert summary["replayed"] == 8 and summary["mismatches"] == 0 and summary["chain_ok"] is True

    for application in old:
        stored = LoanApplication.objects.get(pk=application.pk)
        assert stored.reasons == old_reasons[application.pk]
        assert all(set(reason) == {"feature", "text", "contribution"} for reason in stored.reasons)
    for application in new:
        stored = LoanApplication.objects.get(pk=application.pk)
        assert stored.reasons and all(
            {"code", "statement", "value_text", "contribution"} <= set(reason) for reason in stored.reasons
        )

    client.force_login(officer)
    old_page = client.get(reverse("applications:detail", args=[old[-1].pk])).content.decode()
    inputs = {name: getattr(old[-1], name) for name in ("person_income", "loan_amnt")}
    for reason in old_reasons[old[-1].pk]:
        assert formatting.reason_text(reason, inputs) in old_page
    new_application = LoanApplication.objects.get(pk=new[-1].pk)
    new_page = client.get(reverse("applications:detail", args=[new_application.pk])).content.decode()
    for reason in new_application.reasons:
        assert f"{reason['statement']} — {reason['value_text']}" in new_page
