"""Tamper with a seeded trail so two trees' ``verify_decisions --full`` can be compared line for line.

    DATABASE_URL=… .venv/bin/python bench/verify_tamper.py   # on a COPY of a seed_demo database (>= 800,000)

Destructive: drops the append-only triggers, edits the rows below in one transaction and reinstalls them.
Then run ``manage.py verify_decisions --full`` with each tree (e.g. main and a branch) and diff the PROBLEM
lines and the JSON summary: a faster path must report exactly what the plain one does (docs/performance.md,
"verify --full under 20 s"). What it edits, each caught by a different check: a decision record's decision
column and another's time (decision chain walk), a case record's explanation and another's binding to its
decision record (case chain walk, bindings), an application's probability (application comparison), and a
``LatestDecision`` row (latest-decision check).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")

import django  # noqa: E402 - after the path and settings

django.setup()

from django.db import connection, transaction  # noqa: E402

from audit import db_triggers  # noqa: E402

EDITS = (
    ("UPDATE audit_decisionrecord SET decision = 'XDECLINE' WHERE sequence = 123456", ()),
    ("UPDATE audit_decisionrecord SET created_at = '2020-01-01 00:00:00.000001' WHERE sequence = 777777", ()),
    ("UPDATE audit_caserecord SET explanation = 'Edited.' WHERE sequence = 300000", ()),
    (
        "UPDATE audit_caserecord SET decision_record_id = "
        "(SELECT decision_record_id FROM audit_caserecord WHERE sequence = 5) WHERE sequence = 400001",
        (),
    ),
    ("UPDATE applications_loanapplication SET probability_of_default = 0.5 WHERE id = 500000", ()),
    ("UPDATE audit_latestdecision SET probability_of_default = 0.5 WHERE application_id = 654321", ()),
)


def main() -> None:
    with transaction.atomic():
        db_triggers.drop(connection)
        with connection.cursor() as cursor:
            for sql, params in EDITS:
                cursor.execute(sql, params)
        db_triggers.install(connection)
    print(f"{len(EDITS)} edits made")


if __name__ == "__main__":
    main()
