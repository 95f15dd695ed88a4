"""A form posted several times at once (double click, client retry on several
workers) is stored exactly once: separate processes race on the same tokens."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import pytest

from tests.audit.test_concurrency import migrated_env, start_together

PROCESSES = 4
TOKENS = 25

RACER = textwrap.dedent("""
    import json, os, sys, time
    import django
    django.setup()
    from django.contrib.auth import get_user_model
    from tests.support.factories import submit_form
    from tests.support.factories import application_form_data
    number, tokens, start_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    officer = get_user_model().objects.get(username="writer")
    open(start_file + f".ready{number}", "w").close()
    while not os.path.exists(start_file):
        time.sleep(0.01)
    ids = {}
    for i in range(tokens):
        app = submit_form(officer=officer, data=application_form_data(applicant_reference=f"T-{i}"),
                                 idempotency_key=f"race-token-{i:04d}")
        ids[i] = app.pk
    print(json.dumps(ids))
""")


@pytest.mark.slow
def test_racing_retries_store_each_form_once(tmp_path):
    database = tmp_path / "idempotency.sqlite3"
    env = migrated_env(f"sqlite:///{database}")
    racers = start_together(RACER, PROCESSES, TOKENS, env, tmp_path)
    answers = []
    for racer in racers:
        stdout, stderr = racer.communicate(timeout=300)
        assert racer.returncode == 0, stderr[-3000:]
        answers.append(json.loads(stdout.strip().splitlines()[-1]))
    # Every process was told the same application for the same form...
    assert all(answer == answers[0] for answer in answers)
    with sqlite3.connect(database) as db:
        applications, keys = db.execute(
            "SELECT count(*), count(DISTINCT idempotency_key) FROM applications_loanapplication"
        ).fetchone()
        records = db.execute("SELECT count(*) FROM audit_decisionrecord").fetchone()[0]
    # ...and each form is stored once, with one decision record.
    assert (applications, keys, records) == (TOKENS, TOKENS, TOKENS)
