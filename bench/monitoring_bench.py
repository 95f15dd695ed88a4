"""Monitoring benchmark (issue 18): every monitoring page at 1,000,000 stored applications.

    .venv/bin/python bench/monitoring_bench.py --db sqlite   [--rows 1000000]
    .venv/bin/python bench/monitoring_bench.py --db postgres [--rows 1000000] [--pg-database h18]
    make bench-monitoring                                     # both, one after the other
    .venv/bin/python bench/monitoring_bench.py --simulator-only --database-url URL   # an existing database

Builds a throwaway database (SQLite in a temporary directory; PostgreSQL: the
named database is dropped and created again), migrates it and bulk-inserts
``--rows`` scored applications, each with its decision record: inputs drawn
from the shared training file (``DATA``), the probability the serving model
really gives them (its compiled batch path), creation times spread over two
years. 1% are overridden (override records) and 20% have an outcome drawn from
their probability (outcome records). The records are inserted through the
ORM's ``bulk_create`` with placeholder payloads: this measures the monitoring
aggregates and pages, not the chain (``bench/audit_bench.py`` does that).

Then it times the periodic task (``refresh_aggregates``) catching up on
everything, and again after 1,000 more decisions (the steady state), and
each page and CSV as an auditor through Django's test client (in process,
no HTTP): median of 7 requests after one warm-up. Target: every page
<= 1 s median. Last line: JSON.

The cut-off simulator (``/governance/cutoffs/`` with cut-offs: the whole
period, then its last full month) is timed after the other pages: median of 5
after one warm-up. ``--simulator-only --database-url URL`` times only it on an
already seeded, migrated database (e.g. a copy of one ``seed_demo`` filled).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "credit_risk_train.csv"
CHUNK = 20_000


def configure(args: argparse.Namespace) -> str:
    if args.database_url:
        url = args.database_url
    elif args.db == "sqlite":
        args.workdir = Path(tempfile.mkdtemp(prefix="monitoring-bench-"))
        url = f"sqlite:///{args.workdir / 'bench.sqlite3'}"
    elif not args.reuse:
        for statement in (f'DROP DATABASE IF EXISTS "{args.pg_database}"', f'CREATE DATABASE "{args.pg_database}"'):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", statement], check=True)
    if args.db == "postgres" and not args.database_url:
        url = f"postgres://postgres@127.0.0.1:5432/{args.pg_database}"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "monitoring-bench-" + "m" * 40)
    os.environ["DJANGO_DEBUG"] = "1"  # plain static storage and HTTP: the pages, not the security middleware
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    return url


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _case_columns(decision: str, final: str, overridden: bool, stamp) -> tuple:
    """The case lifecycle's columns (``audit.lifecycle``): REVIEW queued, APPROVE/DECLINE final, legacy overrides decided."""
    from audit import lifecycle

    step = lifecycle.after_legacy_override(final) if overridden else lifecycle.initial_step(decision)
    return (step.state, 0, stamp if step.state in lifecycle.OPEN_STATES else None, "")


def seed(rows: int) -> dict:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from accounts import roles
    from applications.models import LoanApplication
    from audit.latest import rebuild_latest_decisions
    from audit.models import ChainHead, DecisionRecord, OutcomeRecord, OverrideRecord
    from scoring import schema
    from scoring.model_cache import get_model
    from scoring.services import score_batch
    from scoring.training import clean_training_frame, read_dataset

    rng = np.random.default_rng(20261130)
    model = get_model()
    frame, _ = clean_training_frame(read_dataset(DATA))
    inputs = frame.loc[:, list(schema.INPUT_NAMES)]
    sample = inputs.iloc[rng.integers(0, len(inputs), rows)].reset_index(drop=True)
    # The stored columns are required (the form asks for them); the training file leaves some blank.
    sample = sample.fillna({name: inputs[name].median() for name in ("loan_int_rate", "person_emp_length")})
    started = time.perf_counter()
    scores = score_batch(sample)
    log(f"scored {rows:,} sampled applications in {time.perf_counter() - started:.1f} s")
    probability = scores.probability_of_default
    decisions = scores.decisions
    now = dt.datetime.now(dt.UTC)
    seconds = np.sort(rng.uniform(0, 730 * 86400, rows))[::-1]
    created = [now - dt.timedelta(seconds=float(s)) for s in seconds]
    User = get_user_model()
    officer = User.objects.create_user(username="bench-officer", password="not-used-0123456789")
    reviewer = User.objects.create_user(username="bench-reviewer", password="not-used-0123456789")
    admin = User.objects.create_user(username="bench-admin", password="not-used-0123456789")
    overridden = rng.uniform(0, 1, rows) < 0.01
    with_outcome = rng.uniform(0, 1, rows) < 0.2
    defaulted = rng.uniform(0, 1, rows) < probability
    records = sample.to_dict("records")
    started = time.perf_counter()
    ops = connection.ops
    stamp = [ops.adapt_datetimefield_value(moment) for moment in created]
    if connection.vendor == "postgresql":
        from psycopg.types.json import Jsonb

        no_reasons = Jsonb([])
    else:
        no_reasons = "[]"
    today = ops.adapt_datefield_value(now.date())
    now_stamp = ops.adapt_datetimefield_value(now)
    app_rows, decision_rows, override_rows, outcome_rows = [], [], [], []
    override_sequence = outcome_sequence = 0
    for i in range(rows):
        values = records[i]
        app_id = sequence = i + 1
        final = decisions[i]
        if overridden[i]:
            final = "REVIEW" if decisions[i] != "REVIEW" else "DECLINE"
        app_rows.append(
            (
                app_id,
                *(values[name] for name in schema.INPUT_NAMES),
                "",
                officer.pk,
                stamp[i],
                stamp[i],
                values["loan_amnt"] / values["person_income"],
                values["loan_amnt"] * values["loan_int_rate"] / 100 / values["person_income"],
                "SCORED",
                float(probability[i]),
                decisions[i],
                final,
                "RISKY" if probability[i] > 0.5 else "SAFE",
                no_reasons,
                model.version,
                model.sha256,
                "",
                *_case_columns(decisions[i], final, overridden[i], stamp[i]),
            )
        )
        decision_rows.append(
            (
                sequence,
                sequence,
                hashlib.sha256(f"p{sequence}".encode()).hexdigest(),
                hashlib.sha256(f"d{sequence}".encode()).hexdigest(),
                "{}",
                stamp[i],
                app_id,
                officer.pk,
                float(probability[i]),
                decisions[i],
                model.approve_below,
                model.decline_from,
                model.version,
                model.sha256,
            )
        )
        if overridden[i]:
            override_sequence += 1
            override_rows.append(
                (
                    override_sequence,
                    override_sequence,
                    hashlib.sha256(f"op{override_sequence}".encode()).hexdigest(),
                    hashlib.sha256(f"o{override_sequence}".encode()).hexdigest(),
                    "{}",
                    stamp[i],
                    app_id,
                    sequence,
                    reviewer.pk,
                    decisions[i],
                    final,
                    "bench",
                )
            )
        if with_outcome[i]:
            outcome_sequence += 1
            outcome_rows.append(
                (
                    outcome_sequence,
                    outcome_sequence,
                    hashlib.sha256(f"up{outcome_sequence}".encode()).hexdigest(),
                    hashlib.sha256(f"u{outcome_sequence}".encode()).hexdigest(),
                    "{}",
                    now_stamp,
                    app_id,
                    sequence,
                    "DEFAULTED" if defaulted[i] else "REPAID",
                    today,
                    admin.pk,
                    "command",
                )
            )
    app_columns = (
        "id",
        *schema.INPUT_NAMES,
        "applicant_reference",
        "officer_id",
        "created_at",
        "scored_at",
        "loan_percent_income",
        "interest_burden",
        "status",
        "probability_of_default",
        "decision",
        "final_decision",
        "risk_label",
        "reasons",
        "model_version",
        "model_sha256",
        "scoring_error",
        "case_state",
        "case_version",
        "queued_at",
        "proposed_decision",
    )
    chained = ("id", "sequence", "previous_hash", "record_hash", "payload", "created_at", "application_id")
    tables = (
        (LoanApplication, app_columns, app_rows),
        (
            DecisionRecord,
            (
                *chained,
                "officer_id",
                "probability_of_default",
                "decision",
                "approve_below",
                "decline_from",
                "model_version",
                "model_sha256",
            ),
            decision_rows,
        ),
        (
            OverrideRecord,
            (*chained, "decision_record_id", "reviewer_id", "from_decision", "to_decision", "reason"),
            override_rows,
        ),
        (
            OutcomeRecord,
            (*chained, "decision_record_id", "outcome", "outcome_date", "recorded_by_id", "source"),
            outcome_rows,
        ),
    )
    for model_class, columns, table_rows in tables:
        table = model_class._meta.db_table
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        for first in range(0, len(table_rows), CHUNK):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, table_rows[first : first + CHUNK])
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        log(f"inserted {len(table_rows):,} rows into {table} ({time.perf_counter() - started:.0f} s)")
    sequence = rows
    for name, last in (("decisions", sequence), ("overrides", override_sequence), ("outcomes", outcome_sequence)):
        ChainHead.objects.update_or_create(name=name, defaults={"sequence": last, "record_hash": "0" * 64})
    # The records went in directly, not through the services that keep the latest-decision index.
    with transaction.atomic():
        indexed = rebuild_latest_decisions(using=connection.alias)
    log(f"latest-decision index of {indexed:,} applications ({time.perf_counter() - started:.0f} s)")
    auditor = User.objects.create_user(username="bench-auditor", password="not-used-0123456789")
    from tests.support.factories import RoleGroupFactory

    auditor.groups.add(RoleGroupFactory(name=roles.AUDITOR))
    return {
        "auditor": auditor,
        "officer": officer,
        "model": model,
        "overrides": override_sequence,
        "outcomes": outcome_sequence,
        "insert_seconds": round(time.perf_counter() - started, 1),
    }


def more_decisions(seeded: dict, count: int) -> None:
    """``count`` more decisions through the product's own submit path (scored, chained)."""
    from applications.forms import LoanApplicationForm
    from applications.services import submit_application
    from tests.support.factories import application_form_data

    form = LoanApplicationForm(data=application_form_data())
    assert form.is_valid(), form.errors
    from audit.models import ChainHead, DecisionRecord

    # The seeded chain has placeholder hashes: restart the head from the last record so appends link.
    last = DecisionRecord.objects.order_by("-sequence").values_list("sequence", "record_hash").first()
    ChainHead.objects.filter(name="decisions").update(sequence=last[0], record_hash=last[1])
    for _ in range(count):
        submit_application(officer=seeded["officer"], cleaned_data=form.cleaned_data)


def time_pages(auditor) -> dict:
    from django.test import Client

    client = Client()
    client.force_login(auditor)
    urls = [
        "/monitoring/",
        "/monitoring/drift/",
        "/monitoring/outcomes/",
        "/monitoring/fairness/",
        "/monitoring/daily.csv",
        "/monitoring/weekly.csv",
        "/monitoring/drift.csv",
        "/monitoring/backtest.csv",
        "/monitoring/fairness.csv",
    ]
    results = {}
    for url in urls:
        times = []
        for attempt in range(8):
            started = time.perf_counter()
            response = client.get(url)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, (url, response.status_code)
            if attempt:
                times.append(elapsed)
        results[url] = {"median_ms": round(statistics.median(times) * 1000, 1), "max_ms": round(max(times) * 1000, 1)}
        log(f"{url}: median {results[url]['median_ms']} ms, max {results[url]['max_ms']} ms")
    return results


def time_simulator(auditor) -> dict:
    """The cut-off simulator with cut-offs a little off the serving ones: the whole period, then its last full month."""
    from django.test import Client

    from audit.models import DecisionRecord
    from governance import selectors

    policy = selectors.serving_policy(selectors.current_serving())
    cutoffs = {
        "approve_below": round(policy.approve_below + 0.03, 4),
        "decline_from": round(policy.decline_from - 0.05, 4),
    }
    last = DecisionRecord.objects.order_by("-sequence").values_list("created_at", flat=True).first()
    month_end = last.date().replace(day=1) - dt.timedelta(days=1)
    queries = {
        "/governance/cutoffs/ (whole period)": cutoffs,
        "/governance/cutoffs/ (one month)": {
            **cutoffs,
            "start": month_end.replace(day=1).isoformat(),
            "end": month_end.isoformat(),
        },
    }
    client = Client()
    client.force_login(auditor)
    results = {}
    for name, query in queries.items():
        times = []
        for attempt in range(6):
            started = time.perf_counter()
            response = client.get("/governance/cutoffs/", query)
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or b'data-testid="sim-swaps"' not in response.content:
                # The fault page (e.g. too many SQL variables): reported with its time, not timed further.
                results[name] = {"failed": response.status_code, "after_ms": round(elapsed * 1000, 1)}
                break
            if attempt:
                times.append(elapsed)
        if name in results:
            log(f"{name} {query}: failed ({response.status_code}) after {results[name]['after_ms']} ms")
            continue
        results[name] = {"median_ms": round(statistics.median(times) * 1000, 1), "max_ms": round(max(times) * 1000, 1)}
        log(f"{name} {query}: median {results[name]['median_ms']} ms, max {results[name]['max_ms']} ms")
    return results


def _bench_auditor():
    from django.contrib.auth import get_user_model

    from staff.services import grant_role

    user = get_user_model().objects.filter(username="bench-auditor").first()
    if user is None:
        user = get_user_model().objects.create_user(username="bench-auditor", password=None)
        grant_role(user=user, role="auditor")
    return user


def reuse_and_time() -> dict:
    from django.contrib.auth import get_user_model

    from applications.models import LoanApplication
    from monitoring.services import refresh_aggregates

    log(f"reusing {LoanApplication.objects.count():,} stored applications")
    started = time.perf_counter()
    summary = refresh_aggregates()
    log(f"refresh: {summary.decisions} new decisions in {time.perf_counter() - started:.2f} s")
    auditor = get_user_model().objects.get(username="bench-auditor")
    return {**time_pages(auditor), **time_simulator(auditor)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-database", default="monitoring_bench", help="dropped and created again")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite database (its path is printed)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="PostgreSQL: time the refresh and the pages on the database a previous run seeded (no seeding)",
    )
    parser.add_argument("--database-url", default="", help="an existing database (with --simulator-only)")
    parser.add_argument("--simulator-only", action="store_true", help="time only the cut-off simulator")
    args = parser.parse_args()
    if args.simulator_only:
        if not args.database_url:
            sys.exit("--simulator-only needs --database-url")
        configure(args)
        from django.core.management import call_command

        from audit.models import DecisionRecord

        call_command("migrate", verbosity=0)
        log(f"{DecisionRecord.objects.count():,} decision records")
        pages = time_simulator(_bench_auditor())
        print(json.dumps({"database": args.database_url.split("/")[-1], "pages": pages}))
        return
    if not DATA.is_file():
        sys.exit(f"needs the shared training data at {DATA}")
    configure(args)
    from django.core.management import call_command

    from monitoring.services import refresh_aggregates

    call_command("migrate", verbosity=0)
    call_command("ensure_model", verbosity=0)
    if args.reuse:
        pages = reuse_and_time()
        print(
            json.dumps(
                {
                    "db": args.db,
                    "reused": True,
                    "pages": pages,
                    "slowest_page_median_ms": max(page["median_ms"] for page in pages.values()),
                }
            )
        )
        return
    log(f"{args.db}: seeding {args.rows:,} applications")
    seeded = seed(args.rows)
    started = time.perf_counter()
    catch_up = refresh_aggregates()
    catch_up_seconds = time.perf_counter() - started
    log(
        f"refresh from nothing: {catch_up.decisions:,} decisions, {catch_up.overrides:,} overrides, "
        f"{catch_up.outcomes:,} outcomes in {catch_up_seconds:.1f} s"
    )
    more_decisions(seeded, 1000)
    started = time.perf_counter()
    steady = refresh_aggregates()
    steady_seconds = time.perf_counter() - started
    log(f"refresh after 1,000 more decisions: {steady.decisions} decisions in {steady_seconds:.2f} s")
    pages = {**time_pages(seeded["auditor"]), **time_simulator(seeded["auditor"])}
    summary = {
        "db": args.db,
        "applications": args.rows + 1000,
        "overrides": seeded["overrides"],
        "outcomes": seeded["outcomes"],
        "insert_seconds": seeded["insert_seconds"],
        "refresh_catch_up_seconds": round(catch_up_seconds, 1),
        "refresh_1000_new_seconds": round(steady_seconds, 2),
        "pages": pages,
        "slowest_page_median_ms": max(page["median_ms"] for page in pages.values()),
    }
    print(json.dumps(summary))
    if args.db == "sqlite":
        if args.keep:
            log(f"kept {args.workdir / 'bench.sqlite3'}")
        else:
            shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
