"""Monitoring pages: who may see them, what they show, the CSV downloads, the import page and the admin form."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts import roles
from audit.models import AccessEvent, OutcomeRecord
from monitoring.services import refresh_aggregates
from tests.monitoring.support import application_on
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGES = ("/monitoring/", "/monitoring/drift/", "/monitoring/outcomes/", "/monitoring/fairness/")
CSVS = ("daily", "weekly", "probability", "drift", "backtest", "fairness", "fairness-version")


@pytest.fixture
def counted():
    officer = UserFactory(role=roles.OFFICER)
    apps = [
        application_on(dt.date(2026, 9, 7), officer=officer, approved=True, person_age=str(30 + i)) for i in range(3)
    ]
    apps.append(application_on(dt.date(2026, 9, 8), officer=officer, approved=False, person_age="50"))
    refresh_aggregates()
    return apps


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.mark.parametrize("role", [roles.REVIEWER, roles.AUDITOR, roles.ADMIN])
def test_reviewers_auditors_and_admins_see_every_page_with_a_chart(client_for, counted, role):
    client = client_for(role)
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        if url != "/monitoring/outcomes/":  # no outcomes yet: no calibration chart
            assert b'<svg class="chart"' in response.content, url
    page = client.get("/monitoring/").content.decode()
    assert 'data-testid="pending-count">0<' in page
    assert "Figures as of" in page
    assert 'data-testid="outside-experience-count">0<' in page


@pytest.mark.parametrize("role", [roles.OFFICER, None])
def test_officers_and_people_without_a_role_are_refused_and_logged(client_for, counted, role):
    client = client_for(role)
    for url in [*PAGES, "/monitoring/daily.csv", "/monitoring/outcomes/import/"]:
        assert client.get(url).status_code == 403, url
    assert AccessEvent.objects.filter(action=AccessEvent.PERMISSION_DENIED, user=client.user).count() == len(PAGES) + 2


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/monitoring/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_daily_csv_has_every_day_and_is_logged(client_for, counted):
    client = client_for(roles.AUDITOR)
    rows = _csv(client.get("/monitoring/daily.csv"))
    assert rows[0] == [
        "day",
        "decisions",
        "approve",
        "review",
        "decline",
        "overridden",
        "override_rate",
        "outside_experience",
    ]
    assert rows[1] == ["2026-09-07", "3", "3", "0", "0", "0", "0.0", "0"]
    assert rows[2] == ["2026-09-08", "1", "0", "0", "1", "0", "0.0", "0"]
    assert AccessEvent.objects.filter(action=AccessEvent.EXPORT, target="monitoring:daily.csv").count() == 1


def test_every_csv_downloads(client_for, counted):
    client = client_for(roles.REVIEWER)
    for name in CSVS:
        response = client.get(f"/monitoring/{name}.csv")
        assert response.status_code == 200, name
        assert response["Content-Disposition"].startswith(f'attachment; filename="monitoring-{name}')
        assert len(_csv(response)[0]) > 2
    assert client.get("/monitoring/nothing.csv").status_code == 404
    drift_rows = _csv(client.get("/monitoring/drift.csv"))
    assert {row[1] for row in drift_rows[1:]} >= {"person_age", "probability_of_default"}
    assert all(row[2] == "2026-09" and row[3] == "4" for row in drift_rows[1:])
    fairness = _csv(client.get("/monitoring/fairness.csv"))
    band = next(row for row in fairness if row[:2] == ["age_band", "45-54"])
    assert band[2:6] == ["1", "0.0", "0.0", "yes"]  # declined: ratio 0 against 25-34's 100%


def test_the_weekly_table_shows_the_mix(client_for, counted):
    page = client_for(roles.AUDITOR).get("/monitoring/").content.decode()
    assert "75.0%" in page and "25.0%" in page  # approve 3 of 4, decline 1 of 4 in the week of 7 September


def test_an_admin_imports_outcomes_through_the_page(client_for, counted):
    client = client_for(roles.ADMIN)
    assert client.get("/monitoring/outcomes/").content.count(b'data-testid="import-link"') == 1
    today = timezone.localdate().isoformat()
    upload = SimpleUploadedFile(
        "outcomes.csv",
        f"application_id,outcome,outcome_date\n{counted[0].pk},REPAID,{today}\n{counted[3].pk},DEFAULTED,{today}\n".encode(),
        content_type="text/csv",
    )
    response = client.post("/monitoring/outcomes/import/", {"file": upload}, follow=True)
    assert response.redirect_chain[-1][0] == "/monitoring/outcomes/"
    assert "Recorded 2 outcome(s)" in response.content.decode()
    assert OutcomeRecord.objects.count() == 2
    refresh_aggregates()
    page = client.get("/monitoring/outcomes/").content.decode()
    assert "2 loans with an outcome, 1 defaulted" in page and "Not enough outcomes yet" in page


def test_a_bad_import_shows_each_wrong_row_and_records_nothing(client_for, counted):
    client = client_for(roles.ADMIN)
    upload = SimpleUploadedFile("o.csv", b"application_id,outcome,outcome_date\nabc,REPAID,2026-01-01\n")
    response = client.post("/monitoring/outcomes/import/", {"file": upload})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was recorded" in page and "Line 2: application_id" in page
    assert OutcomeRecord.objects.count() == 0


def test_auditors_and_reviewers_cannot_import(client_for, counted):
    for role in (roles.AUDITOR, roles.REVIEWER):
        client = client_for(role)
        assert b"import-link" not in client.get("/monitoring/outcomes/").content
        upload = SimpleUploadedFile(
            "o.csv", f"application_id,outcome,outcome_date\n{counted[0].pk},REPAID,2026-11-30\n".encode()
        )
        assert client.post("/monitoring/outcomes/import/", {"file": upload}).status_code == 403
    assert OutcomeRecord.objects.count() == 0


def test_an_admin_records_an_outcome_in_the_admin(client_for, counted):
    client = client_for(roles.ADMIN)
    assert client.get("/admin/audit/outcomerecord/add/").status_code == 200
    today = timezone.localdate().isoformat()
    response = client.post(
        "/admin/audit/outcomerecord/add/",
        {"application_id": counted[1].pk, "outcome_choice": "DEFAULTED", "date": today},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    record = OutcomeRecord.objects.get()
    assert (record.application_id, record.outcome, record.source) == (counted[1].pk, "DEFAULTED", "admin")
    # The same again is refused beside the form, a future date beside its field.
    again = client.post(
        "/admin/audit/outcomerecord/add/",
        {"application_id": counted[1].pk, "outcome_choice": "DEFAULTED", "date": today},
    )
    assert again.status_code == 200 and "already the one recorded" in again.content.decode()
    future = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    response = client.post(
        "/admin/audit/outcomerecord/add/", {"application_id": counted[1].pk, "outcome_choice": "REPAID", "date": future}
    )
    assert "in the future" in response.content.decode()
    assert OutcomeRecord.objects.count() == 1
    # Nobody changes or deletes one.
    assert client.post(f"/admin/audit/outcomerecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    # Auditors are not staff: Django's admin sends them to its sign-in page.
    assert client_for(roles.AUDITOR).get("/admin/audit/outcomerecord/add/").status_code == 302


def test_charts_need_no_inline_style_or_script_and_the_csp_stays_strict(client_for, counted):
    import re

    client = client_for(roles.AUDITOR)
    for url in PAGES:
        response = client.get(url)
        page = response.content.decode()
        assert " style=" not in page and "<style" not in page, url
        assert re.findall(r"<script(?![^>]*\bsrc=)", page) == [], url
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe-inline" not in policy


def test_the_dashboard_counts_decisions_outside_the_models_experience(client_for, counted):
    """Issue 18 point 1's out-of-range count: decision records the guard (issue 15) sent to REVIEW."""
    from applications.models import LoanApplication
    from audit.models import DecisionRecord
    from tests.support.factories import scored_application

    officer = UserFactory(role=roles.OFFICER)
    guarded = []
    for n in range(2):
        application = scored_application(
            officer, applicant_reference=f"OUT-{n}", loan_amnt="900000", person_income=str(1000 + n)
        )
        assert application.decision == "REVIEW"
        guarded.append(application.pk)
    moment = timezone.make_aware(dt.datetime(2026, 9, 8, 12), dt.UTC)
    LoanApplication.objects.filter(pk__in=guarded).update(created_at=moment)
    refresh_aggregates()
    assert DecisionRecord.objects.filter(outside_experience=True).count() == 2
    client = client_for(roles.REVIEWER)
    page = client.get("/monitoring/").content.decode()
    assert 'data-testid="outside-experience-count">2<' in page
    rows = _csv(client.get("/monitoring/daily.csv"))
    by_day = {row[0]: row for row in rows[1:]}
    assert by_day["2026-09-08"][-1] == "2" and by_day["2026-09-07"][-1] == "0"
