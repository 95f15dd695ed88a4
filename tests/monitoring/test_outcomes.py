"""Outcomes (issue 18, point 3): recorded through the service, import and command, chained, verified, back-tested."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, roc_auc_score

from accounts import roles
from audit.models import OutcomeRecord
from audit.services import import_outcomes_csv, record_outcome
from monitoring import selectors
from monitoring.services import backtest, refresh_aggregates
from tests.support.audit import drop_triggers, raw, run_verify
from tests.support.factories import UserFactory, scored_application

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


@pytest.fixture
def admin_user():
    return UserFactory(role=roles.ADMIN)


@pytest.fixture
def applications():
    officer = UserFactory(role=roles.OFFICER)
    return [scored_application(officer, loan_amnt=str(4000 + 500 * i)) for i in range(4)]


def test_an_outcome_is_chained_to_the_decision_and_verified(applications, admin_user):
    first = record_outcome(
        application_id=applications[0].pk,
        outcome="DEFAULTED",
        outcome_date=TODAY(),
        recorded_by=admin_user,
        source="command",
    )
    assert (
        first.sequence == 1
        and first.document["decision_record_hash"] == applications[0].decision_records.get().record_hash
    )
    # The same outcome again is not appended twice; a correction is.
    assert (
        record_outcome(
            application_id=applications[0].pk,
            outcome="DEFAULTED",
            outcome_date=TODAY(),
            recorded_by=admin_user,
            source="command",
        )
        is None
    )
    second = record_outcome(
        application_id=applications[0].pk,
        outcome="REPAID",
        outcome_date=TODAY(),
        recorded_by=admin_user,
        source="command",
    )
    assert second.previous_hash == first.record_hash
    code, _, summary = run_verify()
    assert code == 0 and summary["outcomes_checked"] == 2 and summary["outcomes_chain_ok"] is True


def test_an_edited_outcome_is_found(applications, admin_user):
    record = record_outcome(
        application_id=applications[1].pk,
        outcome="REPAID",
        outcome_date=TODAY(),
        recorded_by=admin_user,
        source="command",
    )
    with pytest.raises(Exception, match="append-only"):
        raw("UPDATE audit_outcomerecord SET outcome = 'DEFAULTED' WHERE id = %s", (record.pk,))


def test_an_outcome_edited_behind_the_triggers_is_named(applications, admin_user):
    record = record_outcome(
        application_id=applications[1].pk,
        outcome="REPAID",
        outcome_date=TODAY(),
        recorded_by=admin_user,
        source="command",
    )
    drop_triggers()
    raw("UPDATE audit_outcomerecord SET outcome = 'DEFAULTED' WHERE id = %s", (record.pk,))
    code, out, summary = run_verify()
    assert code != 0 and summary["outcomes_chain_ok"] is False and summary["first_bad_outcome_id"] == record.pk
    assert "outcome chain" in out and "column outcome" in out


def test_the_rules_of_an_outcome(applications, admin_user):
    app = applications[0]
    with pytest.raises(ValidationError, match="future"):
        record_outcome(
            application_id=app.pk,
            outcome="REPAID",
            outcome_date=TODAY() + dt.timedelta(days=1),
            recorded_by=admin_user,
            source="admin",
        )
    with pytest.raises(ValidationError, match="before the decision"):
        record_outcome(
            application_id=app.pk,
            outcome="REPAID",
            outcome_date=TODAY() - dt.timedelta(days=1),
            recorded_by=admin_user,
            source="admin",
        )
    with pytest.raises(ValidationError, match="REPAID or DEFAULTED"):
        record_outcome(
            application_id=app.pk, outcome="LATE", outcome_date=TODAY(), recorded_by=admin_user, source="admin"
        )
    with pytest.raises(ValidationError, match="no recorded decision"):
        record_outcome(
            application_id=999999, outcome="REPAID", outcome_date=TODAY(), recorded_by=admin_user, source="admin"
        )
    for role in (roles.AUDITOR, roles.REVIEWER, roles.OFFICER):
        with pytest.raises(PermissionDenied):
            record_outcome(
                application_id=app.pk,
                outcome="REPAID",
                outcome_date=TODAY(),
                recorded_by=UserFactory(role=role),
                source="admin",
            )
    assert OutcomeRecord.objects.count() == 0


def test_an_import_with_one_bad_row_records_nothing(applications, admin_user):
    today = TODAY().isoformat()
    text = (
        "application_id,outcome,outcome_date\n"
        f"{applications[0].pk},REPAID,{today}\n"
        f"{applications[1].pk},DEFAULTED,2020-13-01\n"
        f"999999,REPAID,{today}\n"
    )
    with pytest.raises(ValidationError) as raised:
        import_outcomes_csv(text=text, recorded_by=admin_user, source="import")
    messages = raised.value.messages
    assert messages[0].startswith("Nothing was recorded: 2 row(s)")
    assert any(m.startswith("Line 3:") and "not a date" in m for m in messages)
    assert any(m.startswith("Line 4:") and "no recorded decision" in m for m in messages)
    assert OutcomeRecord.objects.count() == 0


def test_the_command_imports_and_a_rerun_changes_nothing(applications, admin_user, tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text(
        "\ufeffapplication_id,outcome,outcome_date\n"
        + "".join(
            f"{app.pk},{'DEFAULTED' if i % 2 else 'REPAID'},{TODAY().isoformat()}\n"
            for i, app in enumerate(applications)
        )
    )
    out = io.StringIO()
    call_command("import_outcomes", str(path), "--user", admin_user.username, stdout=out)
    assert "recorded 4 outcome(s)" in out.getvalue()
    out = io.StringIO()
    call_command("import_outcomes", str(path), "--user", admin_user.username, stdout=out)
    assert "recorded 0 outcome(s); 4 already recorded" in out.getvalue()
    assert list(OutcomeRecord.objects.order_by("sequence").values_list("outcome", "source")) == [
        ("REPAID", "command"),
        ("DEFAULTED", "command"),
        ("REPAID", "command"),
        ("DEFAULTED", "command"),
    ]
    with pytest.raises(CommandError, match="Only admins"):
        call_command("import_outcomes", str(path), "--user", UserFactory(role=roles.AUDITOR).username)


def test_backtest_figures_match_sklearn_scipy_and_a_hand_calibration():
    generator = np.random.default_rng(18)
    probabilities = generator.uniform(0, 1, 400)
    outcomes = (generator.uniform(0, 1, 400) < probabilities).astype(int)
    decisions = np.where(probabilities < 0.1, "APPROVE", np.where(probabilities < 0.5, "REVIEW", "DECLINE"))
    result = backtest(outcomes, probabilities, decisions)
    assert result["enough"]
    metrics = result["metrics"]
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(outcomes, probabilities), abs=1e-12)
    assert metrics["brier"] == pytest.approx(brier_score_loss(outcomes, probabilities), abs=1e-12)
    ks = ks_2samp(probabilities[outcomes == 1], probabilities[outcomes == 0]).statistic
    assert metrics["ks"] == pytest.approx(ks, abs=1e-12)
    # Deciles by hand: sort, ten groups of 40.
    order = np.argsort(probabilities)
    for number, cell in enumerate(result["deciles"]):
        part = order[number * 40 : (number + 1) * 40]
        assert cell["n"] == 40
        assert cell["predicted"] == pytest.approx(probabilities[part].mean(), abs=1e-12)
        assert cell["realised"] == pytest.approx(outcomes[part].mean(), abs=1e-12)
    bands = {cell["label"]: cell for cell in result["bands"]}
    declined = decisions == "DECLINE"
    assert bands["DECLINE"]["n"] == declined.sum()
    assert bands["DECLINE"]["realised"] == pytest.approx(outcomes[declined].mean(), abs=1e-12)


def test_a_tiny_example_by_hand():
    # Four loans: defaults scored 0.8 and 0.4, repaid scored 0.6 and 0.2. Of the four (default, repaid) pairs
    # three are ordered right: AUC 0.75. Brier: (0.2² + 0.6² + 0.6² + 0.2²) / 4 = 0.2.
    result = backtest(np.array([1, 1, 0, 0] * 30), np.array([0.8, 0.4, 0.6, 0.2] * 30), np.array(["REVIEW"] * 120))
    assert result["metrics"]["roc_auc"] == pytest.approx(0.75)
    assert result["metrics"]["brier"] == pytest.approx(0.2)
    assert result["metrics"]["ks"] == pytest.approx(0.5)
    few = backtest(np.array([1, 0] * 10), np.array([0.5, 0.5] * 10), np.array(["REVIEW"] * 20))
    assert few["enough"] is False and few["metrics"] is None and few["deciles"] == []


def test_the_refresh_backtests_each_version_from_the_latest_outcomes(admin_user, monkeypatch):
    import monitoring.services

    monkeypatch.setattr(monitoring.services, "MIN_OUTCOMES", 6)
    monkeypatch.setattr(monitoring.services, "MIN_EACH_OUTCOME", 2)
    officer = UserFactory(role=roles.OFFICER)
    apps = [
        scored_application(officer, loan_amnt=str(2000 + 3000 * i), person_income=str(30000 + 4000 * i))
        for i in range(8)
    ]
    truth = [1, 0, 1, 0, 0, 1, 0, 0]
    for app, defaulted in zip(apps, truth):
        record_outcome(
            application_id=app.pk,
            outcome="DEFAULTED" if defaulted else "REPAID",
            outcome_date=TODAY(),
            recorded_by=admin_user,
            source="import",
        )
    # A correction: the last loan did default after all. Only the latest outcome counts.
    record_outcome(
        application_id=apps[-1].pk, outcome="DEFAULTED", outcome_date=TODAY(), recorded_by=admin_user, source="admin"
    )
    truth[-1] = 1
    summary = refresh_aggregates()
    assert summary.outcomes_recomputed and summary.outcomes == 8
    version = apps[0].model_version
    result = selectors.backtest(version)["result"]
    probabilities = [app.probability_of_default for app in apps]
    assert result["outcomes"] == 8 and result["defaults"] == 4
    assert result["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(truth, probabilities), abs=1e-12)
    assert result["metrics"]["brier"] == pytest.approx(brier_score_loss(truth, probabilities), abs=1e-12)
    # Nothing new: the back-test is not recomputed.
    assert refresh_aggregates().outcomes_recomputed is False
    realised = {t["attribute"]: t for t in selectors.fairness()}["age_band"]["rows"]
    band = {row["group"]: row for row in realised}["25-34"]
    assert band["outcomes"] == 8 and band["realised_default_rate"] == pytest.approx(0.5)
