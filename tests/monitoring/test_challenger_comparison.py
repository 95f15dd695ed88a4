"""The champion/challenger comparison against an independent computation on known shadow scores and outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import timezone
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, roc_auc_score

from accounts import roles
from audit.services import record_outcome
from governance.models import ChallengerScore
from monitoring import challenger
from monitoring.services import refresh_aggregates
from tests.support.factories import UserFactory, scored_application

pytestmark = pytest.mark.django_db

CHALLENGER = "hgb-47ffccc83994"
A, R, D = "APPROVE", "REVIEW", "DECLINE"
# Twelve applications: what the champion decided and what the challenger said, with both probabilities.
CHAMPION = [A, A, A, R, R, D, D, D, A, D, R, A]
CHALLENGER_SAID = [A, D, R, R, A, A, D, A, D, D, R, A]
CHAMPION_P = [0.03, 0.05, 0.06, 0.12, 0.10, 0.40, 0.55, 0.31, 0.07, 0.62, 0.14, 0.02]
CHALLENGER_P = [0.02, 0.33, 0.11, 0.13, 0.06, 0.05, 0.71, 0.04, 0.45, 0.58, 0.12, 0.03]
# How ten of them turned out (1 = defaulted); the last two have no outcome.
DEFAULTED = [0, 1, 0, 0, 0, 1, 1, 0, 1, 1]


@pytest.fixture
def known(monkeypatch):
    import monitoring.services

    monkeypatch.setattr(monitoring.services, "MIN_OUTCOMES", 6)
    monkeypatch.setattr(monitoring.services, "MIN_EACH_OUTCOME", 2)
    officer = UserFactory(role=roles.OFFICER)
    admin = UserFactory(role=roles.ADMIN)
    applications = [scored_application(officer, loan_amnt=str(3000 + 700 * i)) for i in range(len(CHAMPION))]
    now = timezone.now()
    for application, champion, said, p_champion, p_challenger in zip(
        applications, CHAMPION, CHALLENGER_SAID, CHAMPION_P, CHALLENGER_P, strict=True
    ):
        ChallengerScore.objects.create(
            application=application,
            model_version=CHALLENGER,
            status=ChallengerScore.Status.SCORED,
            probability_of_default=p_challenger,
            decision=said,
            champion_version=application.model_version,
            champion_probability=p_champion,
            champion_decision=champion,
            scored_at=now,
        )
    # A failure of this challenger (counted, never compared) and another challenger's score (never mixed in).
    for version, status in ((CHALLENGER, ChallengerScore.Status.FAILED), ("hgb-other", ChallengerScore.Status.SCORED)):
        ChallengerScore.objects.create(
            application=applications[0],
            model_version=version,
            status=status,
            probability_of_default=None if status == ChallengerScore.Status.FAILED else 0.9,
            decision="" if status == ChallengerScore.Status.FAILED else D,
            error="artifact missing" if status == ChallengerScore.Status.FAILED else "",
            champion_version=applications[0].model_version,
            champion_probability=0.5,
            champion_decision=A,
            scored_at=now,
        )
    for application, defaulted in zip(applications, DEFAULTED, strict=False):
        record_outcome(
            application_id=application.pk,
            outcome="REPAID",
            outcome_date=timezone.localdate(),
            recorded_by=admin,
            source="import",
        )
        if defaulted:  # a correction: only the latest outcome counts
            record_outcome(
                application_id=application.pk,
                outcome="DEFAULTED",
                outcome_date=timezone.localdate(),
                recorded_by=admin,
                source="admin",
            )
    assert refresh_aggregates().challenger_scores == len(CHAMPION) + 2
    return applications


def test_agreement_rate_matrix_and_means_match_a_plain_count(known):
    figures = challenger.agreement(CHALLENGER)
    pairs = list(zip(CHAMPION, CHALLENGER_SAID, strict=True))
    assert figures["scored"] == 12 and figures["failed"] == 1
    assert figures["agreed"] == sum(champion == said for champion, said in pairs) == 6
    assert figures["rate"] == pytest.approx(6 / 12)
    for champion in (A, R, D):
        for said in (A, R, D):
            assert figures["matrix"][champion][said] == pairs.count((champion, said))
    assert figures["mean_champion"] == pytest.approx(np.mean(CHAMPION_P), abs=1e-12)
    assert figures["mean_challenger"] == pytest.approx(np.mean(CHALLENGER_P), abs=1e-12)


def test_swap_sets_are_exactly_the_opposite_decisions(known):
    sets = challenger.swap_sets(CHALLENGER)
    swap_in = {a.pk for a, c, s in zip(known, CHAMPION, CHALLENGER_SAID, strict=True) if c == D and s == A}
    swap_out = {a.pk for a, c, s in zip(known, CHAMPION, CHALLENGER_SAID, strict=True) if c == A and s == D}
    assert len(swap_in) == 2 and len(swap_out) == 2
    assert sets["in"]["count"] == 2 and {row["application_id"] for row in sets["in"]["rows"]} == swap_in
    assert sets["out"]["count"] == 2 and {row["application_id"] for row in sets["out"]["rows"]} == swap_out
    assert challenger.swap_sets(CHALLENGER, limit=1)["in"]["rows"][0]["application_id"] == max(swap_in)


def test_both_backtests_match_sklearn_and_scipy_on_the_same_loans(known):
    tests = challenger.backtests(CHALLENGER)
    outcomes = np.array(DEFAULTED)
    assert tests["outcomes"] == 10
    for name, probabilities in (("champion", CHAMPION_P[:10]), ("challenger", CHALLENGER_P[:10])):
        p = np.array(probabilities)
        metrics = tests[name]["metrics"]
        assert metrics["roc_auc"] == pytest.approx(roc_auc_score(outcomes, p), abs=1e-12)
        assert metrics["brier"] == pytest.approx(brier_score_loss(outcomes, p), abs=1e-12)
        assert metrics["ks"] == pytest.approx(ks_2samp(p[outcomes == 1], p[outcomes == 0]).statistic, abs=1e-12)
        # Ten loans, ten deciles: each decile is one loan, in order of predicted probability.
        order = np.argsort(p, kind="stable")
        assert [cell["predicted"] for cell in tests[name]["deciles"]] == pytest.approx(p[order].tolist())
        assert [cell["realised"] for cell in tests[name]["deciles"]] == outcomes[order].tolist()


def test_the_page_shows_the_figures_to_admins_and_auditors_only(known, client_for):
    for role in (roles.ADMIN, roles.AUDITOR):
        response = client_for(role).get("/governance/challenger/")
        assert response.status_code == 200
        page = response.content.decode()
        assert 'data-testid="agreement-rate">50.00%' in page
        assert 'data-testid="swap-in-count">2<' in page and 'data-testid="failed-count">1<' in page
        assert f'href="/applications/{known[5].pk}/"' in page  # champion DECLINE, challenger APPROVE
        assert 'data-testid="backtest-table"' in page and "<svg" in page
        assert f"{roc_auc_score(DEFAULTED, CHALLENGER_P[:10]):.4f}" in page
    for role in (roles.REVIEWER, roles.OFFICER):
        assert client_for(role).get("/governance/challenger/").status_code == 403


def test_scores_stored_after_the_refresh_wait_for_the_next_one(known):
    ChallengerScore.objects.create(
        application=known[1],
        model_version=CHALLENGER,
        status=ChallengerScore.Status.SCORED,
        probability_of_default=0.01,
        decision=A,
        champion_version=known[1].model_version,
        champion_probability=0.9,
        champion_decision=D,
        scored_at=timezone.now(),
    )
    assert challenger.freshness()["behind"] == 1
    assert challenger.agreement(CHALLENGER)["scored"] == 12 and challenger.swap_sets(CHALLENGER)["in"]["count"] == 2
    refresh_aggregates()
    assert challenger.freshness()["behind"] == 0
    figures = challenger.agreement(CHALLENGER)
    assert figures["scored"] == 13 and figures["matrix"][D][A] == 3
    assert figures["mean_champion"] == pytest.approx((sum(CHAMPION_P) + 0.9) / 13, abs=1e-12)
    assert challenger.swap_sets(CHALLENGER)["in"]["count"] == 3
