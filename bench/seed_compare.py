"""Dump what ``seed_demo`` stored, to compare two versions of it row for row (same seed, same clock).

    DATABASE_URL=sqlite:////tmp/a.sqlite3 .venv/bin/python bench/seed_compare.py --project /work/main \
        --applications 20000 --out /tmp/main.tsv
    DATABASE_URL=... .venv/bin/python bench/seed_compare.py --project . --applications 20000 --out /tmp/branch.tsv
    cmp /tmp/main.tsv /tmp/branch.tsv

``seed_demo`` spreads its applications over the two years before *now*; the script fixes *now*
(``--now``), so two runs with the same seed store the same values, ids and hashes included. It
migrates the (fresh) database, seeds it through ``operations.demo_data.seed_demo`` and writes every
row of the tables the seed fills (applications, decision and case records, the chain heads, the
latest-decision table), ordered by key, one tab-separated line each, values as the database
returns them. Left out: the role-change chain's head (the seed users' role grants are chained at the
wall-clock time they were made, so it differs between any two runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import types
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="the checkout whose seed_demo runs")
    parser.add_argument("--applications", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--now", default="2026-11-30T12:00:00+00:00")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    project = args.project.resolve()
    sys.path.insert(0, str(project))
    os.chdir(project)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    import operations.demo_data as demo_data

    fixed = dt.datetime.fromisoformat(args.now)

    class _Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return fixed

    demo_data.dt = types.SimpleNamespace(datetime=_Clock, UTC=dt.UTC, timedelta=dt.timedelta)
    call_command("migrate", verbosity=0)
    report = demo_data.seed_demo(applications=args.applications, seed=args.seed)
    print(f"{report.applications} applications, {report.case_records} case records in {report.seconds:.1f} s")
    tables = [
        "applications_loanapplication",
        "audit_decisionrecord",
        "audit_caserecord",
        "audit_chainhead",
        "audit_latestdecision",
    ]
    with args.out.open("w", encoding="utf-8") as out, connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        for table in tables:
            if table not in existing:
                out.write(f"# {table}: missing\n")
                continue
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            order = "name" if table == "audit_chainhead" else columns[0]
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} ORDER BY {order}")
            out.write(f"# {table}: {', '.join(columns)}\n")
            for row in cursor.fetchall():
                if table == "audit_chainhead" and row[0] == "role_changes":
                    continue  # the seed users' role grants, chained at the wall-clock time they were made
                out.write("\t".join(repr(value) for value in row) + "\n")


if __name__ == "__main__":
    main()
