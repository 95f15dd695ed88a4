"""What governance costs each scoring: the serving-state check, and a submission with and without a challenger.

    .venv/bin/python bench/governance_bench.py [--calls 20000] [--submissions 2000] [--database-url URL]

Every scoring asks ``governance.selectors.scoring_plan()`` (one SELECT of
the serving state and the challenger, both one-row tables by primary key) so an approved switch applies in
every process at once. This times, in one run on a throwaway migrated
database (SQLite by default, durable settings as served; or the PostgreSQL
database given, which must be empty): the check with no approved change,
the check with one, and ``score_application`` on the compiled path; and
prints the check's share of a scoring. Then whole submissions
(``applications.services.submit_application``: duplicate check, scoring,
the application INSERT and its chained decision record, committed) with no
challenger, with the issue-12 candidate as challenger (shadow scoring and
its row), and with a challenger whose artifact is missing (the FAILED
path), in interleaved rounds so that the machine's drift falls on all three
alike. Compare the ratios, not the absolute figures (shared machines are noisy).
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
parser.add_argument("--submissions", type=int, default=2000, help="per mode, over 10 interleaved rounds")
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

from accounts import roles  # noqa: E402
from applications.forms import clean_application_data  # noqa: E402
from applications.services import submit_application  # noqa: E402
from governance.models import ChallengerScore, ChallengerState, ServingState  # noqa: E402
from governance.selectors import scoring_arguments, scoring_plan  # noqa: E402
from governance.shadow import forget_failures, shadow_score  # noqa: E402
from scoring.services import score_application  # noqa: E402
from staff.services import create_user  # noqa: E402

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


CHALLENGER = "hgb-47ffccc83994"
MISSING = "hgb-000000000000"
ROUNDS = 10


def set_challenger(version: str) -> None:
    """The state an approved proposal leaves (the four-eyes path itself is not what is timed)."""
    ChallengerState.objects.update_or_create(
        pk=ChallengerState.SINGLETON_ID, defaults={"model_version": version, "changed_at": timezone.now()}
    )
    forget_failures()


def submissions(officer, count: int, start: int) -> tuple[list[float], float]:
    """Milliseconds per ``submit_application`` (wall), and the CPU milliseconds they took in total.

    Each with other inputs (so no duplicate warning). Wall time includes the
    commit's fsync, which swings widely on a shared disk; CPU time does not.
    """
    times = []
    clock = time.perf_counter_ns
    cpu_started = time.process_time_ns()
    for number in range(start, start + count):
        data = {key: str(value) for key, value in APPLICATION.items()}
        data["person_income"] = str(20000 + number)
        cleaned, errors = clean_application_data(data)
        assert not errors, errors
        started = clock()
        submit_application(officer=officer, cleaned_data=cleaned)
        times.append((clock() - started) / 1e6)
    return times, (time.process_time_ns() - cpu_started) / 1e6


def submission_latency() -> None:
    officer = create_user(username="bench-officer", password="Bench-password-7391-long", role=roles.OFFICER)
    modes = {"no challenger": "", f"challenger {CHALLENGER}": CHALLENGER, "challenger missing (FAILED rows)": MISSING}
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, float] = dict.fromkeys(modes, 0.0)
    per_round = max(1, options.submissions // ROUNDS)
    number = 0
    set_challenger(CHALLENGER)
    submissions(officer, 100, 1_000_000)  # warm: both models loaded, statements built
    for _ in range(ROUNDS):
        for mode, version in modes.items():
            set_challenger(version)
            times, cpu_ms = submissions(officer, per_round, number)
            results[mode] += times
            cpu[mode] += cpu_ms
            number += per_round
    baseline = statistics.median(results["no challenger"])
    cpu_baseline = cpu["no challenger"] / len(results["no challenger"])
    print(
        f"submit_application, {per_round * ROUNDS} per mode in {ROUNDS} interleaved rounds "
        "(wall ms median / p99, ratio; CPU ms per submission, ratio)"
    )
    for mode, times in results.items():
        times.sort()
        median = statistics.median(times)
        cpu_each = cpu[mode] / len(times)
        print(
            f"  {mode:<34}: {median:7.3f} / {times[int(len(times) * 0.99)]:7.3f}  x{median / baseline:.3f};"
            f"  CPU {cpu_each:6.3f}  x{cpu_each / cpu_baseline:.3f}"
        )
    scored = ChallengerScore.objects.filter(status=ChallengerScore.Status.SCORED).count()
    failed = ChallengerScore.objects.filter(status=ChallengerScore.Status.FAILED).count()
    print(f"  shadow rows stored: {scored} scored, {failed} failed")


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
        set_challenger(CHALLENGER)
        read = per_call(scoring_plan, options.calls)
        champion = score_application(APPLICATION, **arguments)
        shadow = per_call(
            lambda: shadow_score(inputs=APPLICATION, champion=champion, challenger=CHALLENGER),
            max(2000, options.calls // 10),
        )
        print(f"  scoring_plan, challenger set        : {read[0]:8.1f} / {read[1]:8.1f}")
        print(f"  shadow_score (challenger scoring)   : {shadow[0]:8.1f} / {shadow[1]:8.1f}")
        submission_latency()
    finally:
        connection.close()
        shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    main()
