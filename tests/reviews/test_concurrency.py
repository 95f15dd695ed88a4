"""Two reviewers acting on the same cases at the same instant: exactly one wins each, on SQLite and PostgreSQL.

Two separate Python processes (as two gunicorn workers or two servers would be) are released
together and go through the same cases in the same order, each trying the same action with the
version it saw (0). For every case exactly one action is recorded; the other process gets
``CaseConflict`` (the message a reviewer sees), never an error and never a second record. Two
races: claiming the same queued cases, and overriding the same model DECLINEs (an approval
proposal, no claim needed). The trail verifies afterwards.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from tests.audit.conftest import postgres_database  # noqa: F401 - the fixture, for the PostgreSQL run
from tests.audit.test_concurrency import migrated_env, run, start_together

CASES = 30
RACERS = 2

SETUP = textwrap.dedent("""
    import django
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from tests.support.factories import application_form_data, submit_form, REVIEW_FIELDS, DECLINE_FIELDS
    users = get_user_model().objects
    officer = users.create_user(username="race-officer", password="not-used-0123456789")
    officer.groups.add(Group.objects.get(name="officer"))
    for n in range(2):
        users.create_user(username=f"racer-{n}", password="not-used-0123456789").groups.add(
            Group.objects.get(name="reviewer"))
    for i in range(30):
        app = submit_form(officer=officer, data=application_form_data(applicant_reference=f"RACE-REVIEW-{i}", **REVIEW_FIELDS))
        assert app.case_state == "IN_QUEUE", app.case_state
        app = submit_form(officer=officer, data=application_form_data(applicant_reference=f"RACE-DECLINE-{i}", **DECLINE_FIELDS))
        assert app.case_state == "MODEL_FINAL", app.case_state
""")

RACER = textwrap.dedent("""
    import json, os, sys, time, traceback
    import django
    django.setup()
    from django.contrib.auth import get_user_model
    from applications.models import LoanApplication
    from reviews import services
    number, _, start_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    reviewer = get_user_model().objects.get(username=f"racer-{number}")
    queued = list(LoanApplication.objects.filter(applicant_reference__startswith="RACE-REVIEW-").order_by("id").values_list("id", flat=True))
    declined = list(LoanApplication.objects.filter(applicant_reference__startswith="RACE-DECLINE-").order_by("id").values_list("id", flat=True))
    open(start_file + f".ready{number}", "w").close()
    while not os.path.exists(start_file):
        time.sleep(0.005)
    outcome = {"claimed": 0, "claim_conflicts": 0, "proposed": 0, "decide_conflicts": 0}
    try:
        for pk in queued:
            try:
                services.claim_case(application_id=pk, reviewer=reviewer, expected_version=0)
                outcome["claimed"] += 1
            except services.CaseConflict:
                outcome["claim_conflicts"] += 1
        for pk in declined:
            try:
                services.decide_case(application_id=pk, reviewer=reviewer, expected_version=0, decision="APPROVE",
                                     reason_code="APP-COLLAT", explanation="A guarantor signed for the full amount.")
                outcome["proposed"] += 1
            except services.CaseConflict:
                outcome["decide_conflicts"] += 1
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    print(json.dumps(outcome))
""")

CHECK = textwrap.dedent("""
    import json
    import django
    django.setup()
    from django.db.models import Count
    from applications.models import LoanApplication
    from audit.models import CaseRecord
    per_case = list(CaseRecord.objects.values("application_id").annotate(n=Count("id")).values_list("n", flat=True))
    rows = LoanApplication.objects.filter(applicant_reference__startswith="RACE-")
    print(json.dumps({
        "records": CaseRecord.objects.count(),
        "max_per_case": max(per_case),
        "cases": len(per_case),
        "claimed": rows.filter(case_state="CLAIMED", case_version=1).count(),
        "awaiting": rows.filter(case_state="AWAITING_2ND", case_version=1, final_decision="DECLINE").count(),
    }))
""")


def race(database_url: str, tmp_path) -> list[dict]:
    env = migrated_env(database_url) if database_url.startswith("sqlite") else None
    if env is None:
        from tests.audit.test_concurrency import child_env

        env = child_env(database_url)
    done = run([sys.executable, "-c", SETUP], env)
    assert done.returncode == 0, done.stderr[-3000:]
    racers = start_together(RACER, RACERS, 0, env, tmp_path)
    outcomes = []
    for racer in racers:
        stdout, stderr = racer.communicate(timeout=300)
        assert racer.returncode == 0, stderr[-3000:]
        outcomes.append(json.loads(stdout.strip().splitlines()[-1]))
    checked = run([sys.executable, "-c", CHECK], env)
    assert checked.returncode == 0, checked.stderr[-3000:]
    state = json.loads(checked.stdout.strip().splitlines()[-1])
    verified = run([sys.executable, "manage.py", "verify_decisions"], env)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]

    # Exactly one winner per case, the other told why; one record per case, the rows agree.
    assert sum(o["claimed"] for o in outcomes) == CASES
    assert sum(o["proposed"] for o in outcomes) == CASES
    for outcome in outcomes:
        assert outcome["claimed"] + outcome["claim_conflicts"] == CASES
        assert outcome["proposed"] + outcome["decide_conflicts"] == CASES
    assert state == {"records": 2 * CASES, "max_per_case": 1, "cases": 2 * CASES, "claimed": CASES, "awaiting": CASES}
    return outcomes


@pytest.mark.slow
def test_two_reviewers_at_once_exactly_one_wins_on_sqlite(tmp_path):
    print(race(f"sqlite:///{tmp_path / 'race.sqlite3'}", tmp_path))


@pytest.mark.slow
@pytest.mark.postgres
def test_two_reviewers_at_once_exactly_one_wins_on_postgres(postgres_database, tmp_path):  # noqa: F811
    print(race(postgres_database, tmp_path))
