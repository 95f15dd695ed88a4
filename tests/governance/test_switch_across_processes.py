"""An approved activation reaches a process that is already running, without a restart.

Three processes on one database (a SQLite file, or a PostgreSQL database in
the PostgreSQL pass): a long-running one that submits an application each
time it is asked (as a gunicorn or task-queue worker would), and two
``manage.py shell`` runs in which one admin proposes and another approves.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from tests.support.scoring import CANDIDATE_VERSION
from tests.support.workers import Site

SERVER = """
import sys
from applications.forms import LoanApplicationForm
from applications.services import submit_application
from tests.support.factories import UserFactory, application_form_data
officer = UserFactory(role="officer")
print("ready", flush=True)
for n, line in enumerate(sys.stdin):
    # A different amount each time: the same inputs again within 10 minutes would be a possible duplicate (#15).
    form = LoanApplicationForm(data=application_form_data(loan_amnt=str(5000 + n)))
    assert form.is_valid(), form.errors
    application = submit_application(officer=officer, cleaned_data=form.cleaned_data)
    record = application.decision_records.get()
    print(application.model_version, record.document["policy_version"], flush=True)
"""

CHANGE = f"""
from governance import services
from tests.support.factories import UserFactory
first, second = UserFactory(role="admin"), UserFactory(role="admin")
proposal = services.propose_model_activation(proposer=first, model_version={CANDIDATE_VERSION!r})
services.approve_proposal(proposal_id=proposal.pk, approver=second)
print("approved")
"""


@pytest.fixture
def site(tmp_path):
    site = Site(tmp_path)
    yield site
    site.close()


@pytest.mark.slow
def test_a_running_process_scores_with_the_newly_approved_version(site):
    server = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", SERVER],
        cwd=settings.BASE_DIR,
        env=site.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:

        def ask() -> str:
            server.stdin.write("score\n")
            server.stdin.flush()
            return server.stdout.readline().strip()

        assert server.stdout.readline().strip() == "ready"
        assert ask() == "hgb-3409bea3c4cf manifest:hgb-3409bea3c4cf"
        assert "approved" in site.python(CHANGE)
        assert ask() == f"{CANDIDATE_VERSION} manifest:{CANDIDATE_VERSION}"
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    assert server.returncode == 0
