"""What the serving-state freshness check costs each scoring, beside the scoring itself.

    .venv/bin/python bench/governance_bench.py [--calls 20000] [--database-url URL]

Every scoring asks ``governance.selectors.scoring_arguments()`` (one
primary-key SELECT of the serving state) so an approved switch applies in
every process at once. This times, in one run on a throwaway migrated
database (SQLite by default, durable settings as served; or the PostgreSQL
database given, which must be empty): the check with no approved change,
the check with one, and ``score_application`` on the compiled path; and
prints the check's share of a scoring. Compare the ratios, not the absolute
figures (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--calls", type=int, default=20000)
parser.add_argument("--database-url", default="")
options = parser.parse_args()
WORKDIR = Path(tempfile.mkdtemp(prefix="governance-bench-"))
os.environ["DATABASE_URL"] = options.database_url or f"sqlite:///{WORKDIR / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "governance-bench-" + "g" * 40)
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from governance.models import ServingState  # noqa: E402
from governance.selectors import scoring_arguments  # noqa: E402
from scoring.services import score_application  # noqa: E402

APPLICATION = {
    "person_age": 31,
    "person_income": 52000.0,
    "person_home_ownership": "RENT",
    "person_emp_length": 6.5,
    "loan_intent": "EDUCATION",
    "loan_grade": "B",
    "loan_amnt": 12000.0,
    "loan_int_rate": 11.25,
    "cb_person_default_on_file": "N",
    "cb_person_cred_hist_length": 4,
}


def per_call(function, calls: int) -> tuple[float, float]:
    """Median and p99 of single calls, in microseconds."""
    for _ in range(200):
        function()
    times = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        started = clock()
        function()
        times.append(clock() - started)
    times.sort()
    return statistics.median(times) / 1000, times[int(len(times) * 0.99)] / 1000


def main() -> None:
    try:
        call_command("migrate", verbosity=0)
        vendor = connection.vendor
        empty = per_call(scoring_arguments, options.calls)
        ServingState.objects.create(
            model_version="hgb-3409bea3c4cf",
            policy_version="manifest:hgb-3409bea3c4cf",
            approve_below=0.1,
            decline_from=0.5,
            revision=1,
            changed_at=timezone.now(),
        )
        governed = per_call(scoring_arguments, options.calls)
        arguments = scoring_arguments()
        scoring = per_call(lambda: score_application(APPLICATION, **arguments), max(2000, options.calls // 10))
        print(f"database: {vendor}; {options.calls} calls each (median / p99, microseconds)")
        print(f"  freshness check, no approved change : {empty[0]:8.1f} / {empty[1]:8.1f}")
        print(f"  freshness check, approved change    : {governed[0]:8.1f} / {governed[1]:8.1f}")
        print(f"  score_application (compiled path)   : {scoring[0]:8.1f} / {scoring[1]:8.1f}")
        print(f"  check / scoring (medians)           : {governed[0] / scoring[0]:8.3f}")
    finally:
        connection.close()
        shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    main()
