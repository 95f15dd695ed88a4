"""Verification at scale (issue 16 point 2): ``verify_decisions`` over N decision records, and incremental.

    .venv/bin/python bench/verify_bench.py [--records 1000000] [--new 10000] [--database sqlite|postgres|both]
    make bench-verify N=1000000

For each database: a fresh database (a temp SQLite file, durable settings as served; or the PostgreSQL
database ``$VERIFY_BENCH_PG`` / ``postgres://postgres@127.0.0.1:5432/i16v_bench``, dropped and created),
filled with N scored applications and their chained decision records (one each, realistic payloads: the
inputs, derived features, reasons and links of a real record) unless ``--existing`` says the database
already holds a trail (e.g. one ``manage.py seed_demo`` filled). Then, each timed separately:

1. ``manage.py verify_decisions --full`` end to end (a subprocess: Python and Django start-up included),
   with the peak RSS of that process: the target is <= 20 s at 1,000,000 records, in flat memory;
2. ``--new`` more records appended, then ``verify_decisions --incremental``: only the records after the
   stored checkpoint; target <= 1 s for 10,000 (the time the command reports for the verification itself,
   and end to end).

``verify_figures(database_url=..., records=..., new=...)`` returns the figures as a dict, for
``make bench-scale`` to print beside its own table. The fill writes records with raw ``executemany`` (an
INSERT is what the append-only triggers allow), the only place besides ``seed_demo`` that writes records
without ``audit.services``; the figures are for verification, not for the fill.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/i16v_bench"
TARGET_FULL_SECONDS = 20.0
TARGET_INCREMENTAL_SECONDS = 1.0


def _environment(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="creditsite.settings",
        DJANGO_LOG_LEVEL="WARNING",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    env.setdefault("DJANGO_SECRET_KEY", "verify-bench-" + "v" * 40)
    return env


def _manage(database_url: str, *args: str) -> tuple[float, int, str, int]:
    """Run ``manage.py args`` in a fresh process: (wall seconds, exit code, stdout, peak RSS in kB)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS %M", sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_environment(database_url),
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    rss = re.search(r"MAXRSS (\d+)", done.stderr)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, done.returncode, done.stdout, int(rss.group(1)) if rss else 0


def _reported_seconds(stdout: str) -> float | None:
    """The verification's own time, as the command prints it (``… in 12.34 s``)."""
    found = re.search(r" in ([0-9.]+) s", stdout)
    return float(found.group(1)) if found else None


def _fresh_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


FILL_SCRIPT = r"""
import sys
from bench.verify_bench import fill
fill(int(sys.argv[1]))
"""


def fill(count: int, *, seed: int = 20261130) -> None:
    """Append ``count`` scored applications, each with its chained decision record, to the configured database.

    Runs inside a configured Django (``manage.py shell`` or ``django.setup()``). Probabilities are drawn, not
    scored: this fill serves the chain check (no replay), which reads what was stored.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from applications.models import LoanApplication
    from audit import canonical, lifecycle
    from audit.bulk import DECISION_COLUMNS
    from audit.models import ChainHead, DecisionRecord
    from scoring import schema
    from scoring.model_cache import get_model
    from scoring.services import decide, model_features

    model = get_model()
    rng = random.Random(seed + DecisionRecord.objects.count())
    officer, _ = get_user_model().objects.get_or_create(username="bench-officer")
    head = ChainHead.objects.get(name=ChainHead.DECISIONS)
    sequence, previous = head.sequence, head.record_hash
    approve_below, decline_from = model.approve_below, model.decline_from
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=sequence * 30)
    quote = connection.ops.quote_name
    columns = DECISION_COLUMNS[1:]  # the bulk loader's columns, without the id the database assigns here
    insert = (
        f"INSERT INTO {quote(DecisionRecord._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    chunk = 20_000
    for offset in range(0, count, chunk):
        size = min(chunk, count - offset)
        inputs = [schema.validate_inputs(_random_inputs(rng)) for _ in range(size)]
        features = [model_features(clean) for clean in inputs]
        probabilities = [rng.betavariate(1.2, 5.0) for _ in range(size)]
        decisions = [decide(p, approve_below=approve_below, decline_from=decline_from) for p in probabilities]
        times = [start + dt.timedelta(seconds=30 * (offset + i)) for i in range(size)]
        with transaction.atomic():
            applications = LoanApplication.objects.bulk_create(
                [
                    LoanApplication(
                        **{name: inputs[i][name] for name in schema.INPUT_NAMES},
                        applicant_reference=f"VB-{sequence + i + 1}",
                        officer=officer,
                        created_at=times[i],
                        loan_percent_income=features[i]["loan_percent_income"],
                        interest_burden=features[i]["interest_burden"],
                        status="SCORED",
                        probability_of_default=probabilities[i],
                        decision=decisions[i],
                        final_decision=decisions[i],
                        risk_label="SAFE",
                        model_version=model.version,
                        model_sha256=model.sha256,
                        scored_at=times[i],
                        case_state=lifecycle.initial_step(decisions[i]).state,
                        queued_at=times[i] if decisions[i] == "REVIEW" else None,
                    )
                    for i in range(size)
                ],
                batch_size=2000,
            )
            rows = []
            for i, application in enumerate(applications):
                sequence += 1
                document = {
                    "kind": "decision",
                    "application_id": application.pk,
                    "applicant_reference": application.applicant_reference,
                    "officer_id": officer.pk,
                    "officer_username": officer.username,
                    "created_at": canonical.utc_iso(times[i]),
                    "inputs": canonical.canonical_value(inputs[i]),
                    "features": canonical.canonical_value(features[i]),
                    "probability_of_default": probabilities[i].hex(),
                    "decision": decisions[i],
                    "risk_label": "SAFE",
                    "approve_below": approve_below.hex(),
                    "decline_from": decline_from.hex(),
                    "reasons": [
                        {"feature": "loan_grade", "text": "Loan grade", "contribution": (0.25).hex()},
                        {
                            "feature": "loan_percent_income",
                            "text": "Loan as a share of income",
                            "contribution": (0.125).hex(),
                        },
                    ],
                    "model_version": model.version,
                    "model_sha256": model.sha256,
                    "experience_sha256": None,
                    "duplicate_confirmed_of": None,
                    "outside_experience": [],
                    "policy_version": f"manifest:{model.version}",
                    "sequence": sequence,
                    "previous_hash": previous,
                }
                payload = canonical.dumps(document)
                digest = canonical.record_hash(payload)
                rows.append(
                    (
                        sequence,
                        previous,
                        digest,
                        payload,
                        times[i],
                        application.pk,
                        officer.pk,
                        probabilities[i],
                        decisions[i],
                        approve_below,
                        decline_from,
                        model.version,
                        model.sha256,
                        False,
                    )
                )
                previous = digest
            with connection.cursor() as cursor:
                cursor.executemany(insert, rows)
            ChainHead.objects.filter(name=ChainHead.DECISIONS).update(sequence=sequence, record_hash=previous)


def _random_inputs(rng: random.Random) -> dict:
    age = rng.randint(21, 70)
    return {
        "person_age": age,
        "person_income": round(rng.uniform(20_000, 200_000), 2),
        "person_home_ownership": rng.choice(("RENT", "OWN", "MORTGAGE")),
        "person_emp_length": round(rng.uniform(0, min(age - 18, 30)), 1),
        "loan_intent": rng.choice(("EDUCATION", "MEDICAL", "VENTURE", "PERSONAL", "DEBTCONSOLIDATION")),
        "loan_grade": rng.choice("ABCDE"),
        "loan_amnt": round(rng.uniform(1_000, 25_000), 2),
        "loan_int_rate": round(rng.uniform(6, 20), 2),
        "cb_person_default_on_file": rng.choice("NY"),
        "cb_person_cred_hist_length": rng.randint(2, min(age - 18, 25)),
    }


def _fill(database_url: str, count: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + FILL_SCRIPT, str(count)],
        cwd=ROOT,
        env={**_environment(database_url), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"fill failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def verify_figures(*, database_url: str, records: int, new: int = 10_000, existing: bool = False) -> dict:
    """Fill (unless ``existing``), then time a full and an incremental ``verify_decisions``; figures as a dict."""
    figures: dict = {"database": database_url.split(":", 1)[0], "records": records, "new": new}
    if not existing:
        _manage(database_url, "migrate", "--noinput")
        _manage(database_url, "ensure_model")
        figures["fill_seconds"] = round(_fill(database_url, records), 1)
    wall, code, out, rss = _manage(database_url, "verify_decisions", "--full")
    summary = json.loads(out.strip().splitlines()[-1])
    figures.update(
        full_ok=code == 0,
        full_checked=summary["checked"],
        full_wall_seconds=round(wall, 2),
        full_seconds=_reported_seconds(out),
        full_peak_rss_mb=round(rss / 1024),
    )
    if new:
        _fill(database_url, new)
        wall, code, out, _ = _manage(database_url, "verify_decisions", "--incremental")
        summary = json.loads(out.strip().splitlines()[-1])
        figures.update(
            incremental_ok=code == 0,
            incremental_checked=summary["checked"],
            incremental_wall_seconds=round(wall, 2),
            incremental_seconds=_reported_seconds(out),
        )
    figures["load"] = os.getloadavg()[0]
    return figures


def print_figures(figures: dict) -> None:
    db, n = figures["database"], figures["records"]
    print(
        f"{db:10} verify_decisions --full, {figures['full_checked']:,} records: {figures['full_seconds']:.2f} s "
        f"({figures['full_wall_seconds']:.2f} s end to end; peak RSS {figures['full_peak_rss_mb']} MB; "
        f"{'intact' if figures['full_ok'] else 'PROBLEMS'}) target <= {TARGET_FULL_SECONDS:.0f} s: "
        f"{'met' if figures['full_seconds'] <= TARGET_FULL_SECONDS else 'MISSED'}"
    )
    if "incremental_seconds" in figures:
        print(
            f"{db:10} verify_decisions --incremental, {figures['incremental_checked']:,} new records after {n:,}: "
            f"{figures['incremental_seconds']:.2f} s ({figures['incremental_wall_seconds']:.2f} s end to end; "
            f"{'intact' if figures['incremental_ok'] else 'PROBLEMS'}) target <= {TARGET_INCREMENTAL_SECONDS:.0f} s: "
            f"{'met' if figures['incremental_seconds'] <= TARGET_INCREMENTAL_SECONDS else 'MISSED'}"
        )
    print(f"{'':10} load average {figures['load']:.1f} on {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--sqlite-path", help="an existing SQLite database to verify (with --existing)")
    parser.add_argument("--postgres-url", default=os.environ.get("VERIFY_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--existing", action="store_true", help="verify the trail already in the database")
    args = parser.parse_args()
    if args.database in ("sqlite", "both"):
        workdir = Path(tempfile.mkdtemp(prefix="verify-bench-"))
        path = Path(args.sqlite_path) if args.sqlite_path else workdir / "verify-bench.sqlite3"
        print_figures(
            verify_figures(database_url=f"sqlite:///{path}", records=args.records, new=args.new, existing=args.existing)
        )
        if not args.sqlite_path:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    if args.database in ("postgres", "both"):
        if not args.existing:
            _fresh_postgres(args.postgres_url)
        print_figures(
            verify_figures(database_url=args.postgres_url, records=args.records, new=args.new, existing=args.existing)
        )


if __name__ == "__main__":
    main()
