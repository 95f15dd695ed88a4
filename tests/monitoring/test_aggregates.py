"""The periodic refresh (issue 18, points 1, 2 and 4): every figure against an independent count of the stored rows."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import numpy as np
import pytest
from django.db.models import F, Sum

from accounts import roles
from applications.models import LoanApplication
from monitoring import selectors
from monitoring.models import DailyDecisions, MonthlyBinCount, MonthlyGroupStats
from monitoring.services import age_bands, rebuild_aggregates, refresh_aggregates
from scoring import drift
from scoring.store import read_monitoring_reference
from tests.monitoring.support import application_on
from tests.support.factories import UserFactory
from tests.support.reviews import decide_by_review
from tests.support.scoring import COMMITTED_STORE

pytestmark = pytest.mark.django_db

MONDAY = dt.date(2026, 9, 7)
# Approved at every age from 19 up (short employment and history, so a 19-year-old is valid).
LOW_RISK = {
    "loan_grade": "A",
    "person_income": "120000",
    "loan_amnt": "3000",
    "loan_int_rate": "6.5",
    "person_emp_length": "2",
    "cb_person_cred_hist_length": "3",
}


@pytest.fixture
def officer():
    return UserFactory(role=roles.OFFICER)


@pytest.fixture
def portfolio(officer):
    """Eleven applications over two weeks and two months, approvals and declines known."""
    days = [MONDAY, MONDAY, MONDAY + dt.timedelta(days=2), MONDAY + dt.timedelta(days=8), dt.date(2026, 10, 1)]
    made = []
    for index, day in enumerate(days):
        made.append(application_on(day, officer=officer, approved=True, person_age=str(22 + 9 * index)))
    made.append(application_on(MONDAY, officer=officer, approved=False, person_age="40"))
    made.append(
        application_on(
            MONDAY + dt.timedelta(days=8), officer=officer, approved=False, person_age="66", person_home_ownership="OWN"
        )
    )
    for age in ("19", "57", "62", "61"):
        made.append(
            application_on(
                dt.date(2026, 10, 1),
                officer=officer,
                approved=True,
                person_age=age,
                person_home_ownership="MORTGAGE",
                **LOW_RISK,
            )
        )
    return made


def test_age_bands_follow_the_issue():
    ages = [18, 24, 25, 34, 35, 44, 45, 54, 55, 61, 62, 100]
    assert list(age_bands(ages)) == [
        "18-24",
        "18-24",
        "25-34",
        "25-34",
        "35-44",
        "35-44",
        "45-54",
        "45-54",
        "55-61",
        "55-61",
        "62+",
        "62+",
    ]


def test_daily_and_weekly_figures_match_the_stored_applications(portfolio):
    summary = refresh_aggregates()
    assert summary.decisions == len(portfolio)
    expected = Counter((app.created_at.date(), app.decision) for app in LoanApplication.objects.all())
    series = {row["day"]: row for row in selectors.daily_series(days=None)}
    for (day, decision), n in expected.items():
        assert series[day][decision.lower()] == n
    # Days without decisions between the first and the last are there, with zeros.
    assert series[MONDAY + dt.timedelta(days=1)]["decisions"] == 0
    assert len(series) == (dt.date(2026, 10, 1) - MONDAY).days + 1
    weeks = {row["week"]: row for row in selectors.weekly_series(weeks=None)}
    assert weeks[MONDAY]["decisions"] == 4 and weeks[MONDAY]["decline"] == 1
    assert weeks[MONDAY]["approve_share"] == pytest.approx(3 / 4)
    assert weeks[MONDAY + dt.timedelta(days=7)]["decisions"] == 2


def test_a_refresh_counts_only_what_arrived_and_matches_a_rebuild(portfolio, officer):
    refresh_aggregates()
    assert refresh_aggregates().decisions == 0
    application_on(MONDAY, officer=officer, approved=False)
    assert refresh_aggregates().decisions == 1
    incremental = sorted(DailyDecisions.objects.values_list("day", "model_version", "decisions", "decline"))
    bins = sorted(MonthlyBinCount.objects.values_list("month", "feature", "bin", "count"))
    groups = sorted(MonthlyGroupStats.objects.values_list("month", "attribute", "group", "decisions", "approved"))
    rebuilt = rebuild_aggregates(batch_size=3)  # several batches
    assert rebuilt.decisions == len(portfolio) + 1
    assert sorted(DailyDecisions.objects.values_list("day", "model_version", "decisions", "decline")) == incremental
    assert sorted(MonthlyBinCount.objects.values_list("month", "feature", "bin", "count")) == bins
    assert (
        sorted(MonthlyGroupStats.objects.values_list("month", "attribute", "group", "decisions", "approved")) == groups
    )
    assert selectors.freshness()["behind"] == 0


def test_override_rate_follows_the_decision_in_force(portfolio):
    refresh_aggregates()
    on_monday = [app for app in portfolio if app.created_at.date() == MONDAY]
    approved = next(app for app in on_monday if app.decision == "APPROVE")
    declined = next(app for app in on_monday if app.decision == "DECLINE")
    decide_by_review(approved, "DECLINE")  # a reviewer overrides the model's approval
    refresh_aggregates()
    day = {row["day"]: row for row in selectors.daily_series(days=None)}[MONDAY]
    assert day["overridden"] == 1 and day["overridden_share"] == pytest.approx(1 / 3)
    # Referred (documents requested): its decision in force is REVIEW, not the model's DECLINE...
    decide_by_review(declined, "REFER")
    refresh_aggregates()
    assert {row["day"]: row for row in selectors.daily_series(days=None)}[MONDAY]["overridden"] == 2
    # ...then declined in review: back to the model's decision, no longer overridden.
    decide_by_review(declined, "DECLINE")
    refresh_aggregates()
    assert {row["day"]: row for row in selectors.daily_series(days=None)}[MONDAY]["overridden"] == 1
    final = LoanApplication.objects.filter(created_at__date=MONDAY).exclude(final_decision=F("decision")).count()
    assert final == 1


def test_psi_per_month_matches_a_hand_binning_of_the_stored_applications(portfolio):
    refresh_aggregates()
    version = portfolio[0].model_version
    reference = read_monitoring_reference(COMMITTED_STORE, version)
    table = selectors.drift_table(version)
    assert table["months"] == [dt.date(2026, 9, 1), dt.date(2026, 10, 1)]
    october = [app for app in LoanApplication.objects.all() if app.created_at.month == 10]

    def psi_by_hand(shares, bins_of_rows):
        counts = Counter(bins_of_rows)
        total = len(bins_of_rows)
        value = 0.0
        for index, expected in enumerate(shares):
            actual = max(counts.get(index, 0) / total, 1e-4)
            expected = max(expected, 1e-4)
            value += (actual - expected) * math.log(actual / expected)
        return value

    cells = {feature["feature"]: feature["cells"][1] for feature in table["features"]}
    homes = reference["features"]["person_home_ownership"]
    home_bins = [homes["categories"].index(app.person_home_ownership) for app in october]
    assert cells["person_home_ownership"]["n"] == 5
    assert cells["person_home_ownership"]["psi"] == pytest.approx(psi_by_hand(homes["shares"], home_bins), rel=1e-12)
    ages = reference["features"]["person_age"]
    age_bins = [int(np.digitize(app.person_age, ages["edges"], right=False)) for app in october]
    assert cells["person_age"]["psi"] == pytest.approx(psi_by_hand(ages["shares"], age_bins), rel=1e-12)
    probability = reference["features"][drift.PROBABILITY]
    pd_bins = [int(np.digitize(app.probability_of_default, probability["edges"])) for app in october]
    assert cells[drift.PROBABILITY]["psi"] == pytest.approx(psi_by_hand(probability["shares"], pd_bins), rel=1e-12)
    assert cells[drift.PROBABILITY]["band"] == drift.psi_band(cells[drift.PROBABILITY]["psi"])


def test_a_drifting_month_raises_the_banner(portfolio, monkeypatch):
    refresh_aggregates()
    # Five applications, all mortgages aged 19-62, against a training population mostly renting: act.
    monkeypatch.setattr(selectors, "MIN_ROWS_FOR_ALERT", 5)
    alerts = selectors.drift_alerts()
    labels = {alert["label"]: alert for alert in alerts}
    assert labels["Home ownership"]["band"] == drift.ACT and labels["Home ownership"]["psi"] > 0.25
    monkeypatch.setattr(selectors, "MIN_ROWS_FOR_ALERT", 6)
    assert selectors.drift_alerts() == []  # the latest month has 5 decisions: too few to alert on


def test_probability_distribution_counts_each_decision_once(portfolio):
    refresh_aggregates()
    version = portfolio[0].model_version
    data = selectors.probability_distribution(version)
    assert data["total"] == len(portfolio)
    expected = Counter(int(np.digitize(app.probability_of_default, drift.HISTOGRAM_EDGES)) for app in portfolio)
    assert [row["count"] for row in data["rows"]] == [expected.get(i, 0) for i in range(20)]
    reference = read_monitoring_reference(COMMITTED_STORE, version)
    assert [row["training_share"] for row in data["rows"]] == reference["probability_histogram"]["shares"]


def test_adverse_impact_ratio_against_the_most_approved_band(officer):
    # 25-34: 4 of 4 approved; 45-54: 3 of 4 (ratio 0.75, flagged); 62+: 4 of 5 (0.8, not below 0.8).
    plan = {"30": (4, 0), "50": (3, 1), "70": (4, 1)}
    for age, (approved, declined) in plan.items():
        for _ in range(approved):
            application_on(MONDAY, officer=officer, approved=True, person_age=age)
        for _ in range(declined):
            application_on(MONDAY, officer=officer, approved=False, person_age=age)
    refresh_aggregates()
    table = {t["attribute"]: t for t in selectors.fairness()}["age_band"]
    rows = {row["group"]: row for row in table["rows"]}
    assert rows["25-34"]["air"] == 1.0 and not rows["25-34"]["air_flag"]
    assert rows["45-54"]["air"] == pytest.approx(0.75) and rows["45-54"]["air_flag"]
    assert rows["62+"]["air"] == pytest.approx(0.8) and not rows["62+"]["air_flag"]
    assert rows["18-24"]["decisions"] == 0 and rows["18-24"]["air"] is None
    stored = LoanApplication.objects.filter(person_age=50)
    assert rows["45-54"]["mean_probability"] == pytest.approx(
        sum(app.probability_of_default for app in stored) / stored.count(), rel=1e-12
    )
    # A reviewer approves the declined 45-54 applicant: after overrides the band is at 1.0.
    decide_by_review(stored.get(decision="DECLINE"), "APPROVE")  # proposed, then confirmed by a second reviewer
    refresh_aggregates()
    rows = {row["group"]: row for row in {t["attribute"]: t for t in selectors.fairness()}["age_band"]["rows"]}
    assert rows["45-54"]["final_approval_rate"] == 1.0 and rows["45-54"]["approval_rate"] == 0.75


def test_the_refresh_runs_every_five_minutes_on_the_task_queue(portfolio):
    from django_q.models import Schedule

    from infrastructure.task_queue import enqueue
    from monitoring.tasks import SCHEDULE_NAME

    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "monitoring.tasks.refresh",
        Schedule.MINUTES,
        5,
        -1,
    )
    assert selectors.freshness()["behind"] == len(portfolio)
    enqueue(schedule.func)  # the suite's queue runs tasks in process (QUEUE_SYNC)
    assert selectors.freshness()["behind"] == 0 and selectors.freshness()["refreshed_at"] is not None


def test_two_refreshes_racing_count_each_decision_once(portfolio, monkeypatch):
    import monitoring.services as services

    real_sums = services._decision_sums
    raced = []

    def sums_while_another_refresh_finishes(rows):
        if not raced:  # the first run has read its batch; a second run counts everything meanwhile
            raced.append(True)
            services.refresh_aggregates()
        return real_sums(rows)

    monkeypatch.setattr(services, "_decision_sums", sums_while_another_refresh_finishes)
    services.refresh_aggregates()
    assert sum(row["decisions"] for row in selectors.daily_series(days=None)) == len(portfolio)
    assert MonthlyGroupStats.objects.filter(attribute="age_band").aggregate(n=Sum("decisions"))["n"] == len(portfolio)
