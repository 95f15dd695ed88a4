"""Audit trail benchmark: verify and replay 100,000 decision records.

    .venv/bin/python bench/audit_bench.py [--records 100000]

Builds a throwaway SQLite database (durable settings, as served), migrates
it, and bulk-inserts ``--records`` decision records with correct hashes
chained in order, each with a realistic feature vector and the probability
the active model really gives it (so replay must find zero mismatches).
The insert goes around the ORM guard with raw ``executemany`` — INSERT is
what the triggers allow; this is the only place that writes records without
``audit.services``. Then it times ``verify_audit_trail`` without and with
replay, and the ``verify_decisions --replay`` command end to end.
Targets: chain check of 100,000 records <= 10 s; replay >= 20,000 records/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
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
WORKDIR = Path(tempfile.mkdtemp(prefix="audit-bench-"))
DATABASE = WORKDIR / "audit-bench.sqlite3"
os.environ["DATABASE_URL"] = f"sqlite:///{DATABASE}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "audit-bench-" + "b" * 40)
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from audit import canonical  # noqa: E402
from audit.models import ChainHead  # noqa: E402
from scoring import schema  # noqa: E402
from scoring.model_cache import get_model  # noqa: E402
from scoring.services import decide, model_features, replay_probabilities  # noqa: E402


def random_inputs(rng: random.Random) -> dict:
    age = rng.randint(20, 70)
    return {
        "person_age": age,
        "person_income": round(rng.uniform(8_000, 250_000), 2),
        "person_home_ownership": rng.choice(("RENT", "OWN", "MORTGAGE", "OTHER")),
        "person_emp_length": round(rng.uniform(0, min(age - 14, 30)), 1),
        "loan_intent": rng.choice(
            ("EDUCATION", "MEDICAL", "VENTURE", "PERSONAL", "DEBTCONSOLIDATION", "HOMEIMPROVEMENT")
        ),
        "loan_grade": rng.choice("ABCDEFG"),
        "loan_amnt": round(rng.uniform(500, 35_000), 2),
        "loan_int_rate": round(rng.uniform(5, 23), 2),
        "cb_person_default_on_file": rng.choice("NY"),
        "cb_person_cred_hist_length": rng.randint(0, min(age - 14, 30)),
    }


def build(records: int) -> None:
    from django.contrib.auth import get_user_model

    from applications.models import LoanApplication

    model = get_model()
    rng = random.Random(20261126)
    officer = get_user_model().objects.create_user(username="bench-officer", password="not-used-0123456789")
    # A pool of applications the records point at (the FK is PROTECT, not unique).
    pool_size = 1000
    started = time.perf_counter()
    inputs = [schema.validate_inputs(random_inputs(rng)) for _ in range(records)]
    features = [model_features(clean) for clean in inputs]
    probabilities = []
    for start in range(0, records, 20000):
        probabilities.extend(
            replay_probabilities(model_version=model.version, feature_rows=features[start : start + 20000]).tolist()
        )
    now = dt.datetime.now(dt.UTC)
    pool_size = min(pool_size, records)
    # Record i belongs to application i % pool_size; each application shows its latest record's outcome.
    last = [k + pool_size * ((records - 1 - k) // pool_size) for k in range(pool_size)]
    applications = LoanApplication.objects.bulk_create(
        [
            LoanApplication(
                **{name: inputs[i][name] for name in schema.INPUT_NAMES},
                officer=officer,
                loan_percent_income=features[i]["loan_percent_income"],
                interest_burden=features[i]["interest_burden"],
                status="SCORED",
                probability_of_default=probabilities[i],
                decision=decide(probabilities[i], approve_below=model.approve_below, decline_from=model.decline_from),
                final_decision=decide(
                    probabilities[i], approve_below=model.approve_below, decline_from=model.decline_from
                ),
                risk_label="SAFE",
                model_version=model.version,
                model_sha256=model.sha256,
                scored_at=now,
            )
            for i in last
        ]
    )
    prepared = time.perf_counter()
    rows = []
    previous = canonical.GENESIS_HASH
    approve_below, decline_from = model.approve_below, model.decline_from
    for i in range(records):
        created_at = now + dt.timedelta(microseconds=i)
        probability = probabilities[i]
        decision = decide(probability, approve_below=approve_below, decline_from=decline_from)
        application_id = applications[i % pool_size].pk
        document = {
            "kind": "decision",
            "application_id": application_id,
            "applicant_reference": f"B-{i}",
            "officer_id": officer.pk,
            "officer_username": officer.username,
            "created_at": canonical.utc_iso(created_at),
            "inputs": canonical.canonical_value(inputs[i]),
            "features": canonical.canonical_value(features[i]),
            "probability_of_default": probability.hex(),
            "decision": decision,
            "risk_label": "SAFE",
            "approve_below": approve_below.hex(),
            "decline_from": decline_from.hex(),
            "reasons": [{"feature": "loan_grade", "text": "Loan grade", "contribution": (0.25).hex()}],
            "model_version": model.version,
            "model_sha256": model.sha256,
            "sequence": i + 1,
            "previous_hash": previous,
        }
        payload = canonical.dumps(document)
        digest = canonical.record_hash(payload)
        rows.append(
            (
                i + 1,
                previous,
                digest,
                payload,
                created_at.isoformat(),
                application_id,
                officer.pk,
                probability,
                decision,
                approve_below,
                decline_from,
                model.version,
                model.sha256,
            )
        )
        previous = digest
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO audit_decisionrecord (sequence, previous_hash, record_hash, payload, created_at, "
            "application_id, officer_id, probability_of_default, decision, approve_below, decline_from, "
            "model_version, model_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        ChainHead.objects.filter(name=ChainHead.DECISIONS).update(sequence=records, record_hash=previous)
    print(
        f"built {records:,} records in {time.perf_counter() - started:.1f} s "
        f"(features+scores {prepared - started:.1f} s, hash+insert {time.perf_counter() - prepared:.1f} s); "
        f"model {model.version}; database {DATABASE}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    build(args.records)

    from audit.verification import verify_audit_trail

    connection.close()
    chain_times, full_times, chain_cpu, full_cpu = [], [], [], []
    for _ in range(args.repeat):  # interleaved, so both see the same machine load
        started, cpu = time.perf_counter(), time.process_time()
        summary = verify_audit_trail(replay=False)
        chain_times.append(time.perf_counter() - started)
        chain_cpu.append(time.process_time() - cpu)
        assert summary.ok and summary.decisions.checked == args.records, summary.as_dict()
        started, cpu = time.perf_counter(), time.process_time()
        summary = verify_audit_trail(replay=True)
        full_times.append(time.perf_counter() - started)
        full_cpu.append(time.process_time() - cpu)
        assert summary.ok and summary.replayed == args.records, summary.as_dict()
    chain_seconds, total_seconds = statistics.median(chain_times), statistics.median(full_times)
    n = args.records
    print(
        f"chain check : {n:,} records, median of {args.repeat}: {chain_seconds:.2f} s "
        f"({n / chain_seconds:,.0f} records/s; runs {', '.join(f'{t:.2f}' for t in chain_times)} s; target <= 10 s)"
    )
    print(
        f"verify+replay: {n:,} records, median of {args.repeat}: {total_seconds:.2f} s "
        f"({n / total_seconds:,.0f} records/s including the chain check; runs {', '.join(f'{t:.2f}' for t in full_times)} s; "
        f"target >= 20,000 records/s)"
    )
    print(
        f"CPU time    : chain check median {statistics.median(chain_cpu):.2f} s, verify+replay median "
        f"{statistics.median(full_cpu):.2f} s ({n / statistics.median(full_cpu):,.0f} records/s of CPU; "
        f"wall time above also depends on machine load: {os.getloadavg()[0]:.1f} now on {os.cpu_count()} CPUs)"
    )

    env = dict(os.environ)
    for flag in ([], ["--replay"]):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "manage.py", "verify_decisions", *flag], cwd=ROOT, env=env, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - started
        print(
            f"command     : manage.py verify_decisions {' '.join(flag)} -> exit {done.returncode} "
            f"in {elapsed:.2f} s wall (incl. Python/Django start-up)"
        )
        for line in done.stdout.strip().splitlines()[-2:]:
            print(f"              {line}")
    import shutil

    shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    main()
