"""The champion/challenger comparison page's figures with 1,000,000 shadow scores of one challenger.

    .venv/bin/python bench/challenger_bench.py [--rows 1000000] [--database-url URL]

Fills ``governance.ChallengerScore`` on a throwaway migrated database
(SQLite by default; or the PostgreSQL database given, which must be empty)
with ``--rows`` shadow scores of one challenger (random decisions and
probabilities; the rows' applications are not created, so foreign keys are
not enforced while filling: the comparison reads this table alone, and the
outcomes, which are none here), counts them into the tallies with the periodic refresh
(``monitoring.services.refresh_aggregates``: the catch-up is timed, then
one steady-state run with nothing new), then times
``monitoring.challenger.comparison`` (tallies, both swap sets with their
counts and latest 100, the chart) five times and prints the median. The back-test part follows the
outcomes recorded, not the shadow scores, and is not exercised here.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rows", type=int, default=1_000_000)
parser.add_argument("--database-url", default="")
options = parser.parse_args()
WORKDIR = Path(tempfile.mkdtemp(prefix="challenger-bench-"))
os.environ["DATABASE_URL"] = options.database_url or f"sqlite:///{WORKDIR / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "challenger-bench-" + "c" * 40)
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from governance.models import ChallengerScore  # noqa: E402
from monitoring.challenger import comparison  # noqa: E402
from monitoring.services import refresh_aggregates  # noqa: E402

CHALLENGER = "hgb-47ffccc83994"
CHAMPION = "hgb-3409bea3c4cf"


def fill(rows: int) -> None:
    """One INSERT ... SELECT over a generated series: random probabilities, decisions from them (cut-offs 0.2/0.4)."""
    table = ChallengerScore._meta.db_table
    columns = (
        "application_id, model_version, model_sha256, policy_version, status, probability_of_default, decision, "
        "error, champion_version, champion_policy_version, champion_probability, champion_decision, scored_at"
    )
    now = timezone.now()
    if connection.vendor == "sqlite":
        series = f"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {int(rows)}), "
        draws = "r AS (SELECT x, (abs(random()) % 600000) / 1e6 AS p, (abs(random()) % 600000) / 1e6 AS q FROM n) "
    else:
        series = f"WITH n(x) AS (SELECT generate_series(1, {int(rows)})), "
        draws = "r AS (SELECT x, random() * 0.6 AS p, random() * 0.6 AS q FROM n) "

    def decision(column: str) -> str:
        return f"CASE WHEN {column} < 0.2 THEN 'APPROVE' WHEN {column} < 0.4 THEN 'REVIEW' ELSE 'DECLINE' END"

    sql = (
        f"INSERT INTO {table} ({columns}) {series}{draws}"
        f"SELECT x, %s, %s, %s, 'SCORED', q, {decision('q')}, '', %s, %s, p, {decision('p')}, %s FROM r"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA foreign_keys = OFF")
        else:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        cursor.execute(sql, [CHALLENGER, "0" * 64, f"manifest:{CHALLENGER}", CHAMPION, f"manifest:{CHAMPION}", now])
        if connection.vendor != "sqlite":
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL")
        cursor.execute(f"ANALYZE {table}")


def main() -> None:
    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        fill(options.rows)
        print(
            f"database: {connection.vendor}; {options.rows:,} shadow scores filled in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        counted = refresh_aggregates().challenger_scores
        catch_up = time.perf_counter() - started
        started = time.perf_counter()
        refresh_aggregates()
        steady = time.perf_counter() - started
        print(f"  refresh: catch-up {catch_up:.1f} s for {counted:,} scores; nothing new {steady * 1000:.0f} ms")
        times = []
        for _ in range(5):
            started = time.perf_counter()
            figures = comparison(CHALLENGER)
            times.append(time.perf_counter() - started)
        agreement = figures["agreement"]
        print(
            f"  comparison(): median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
            f"max {max(times) * 1000:.0f}); agreement {agreement['rate']:.4f} over {agreement['scored']:,}; "
            f"swap in {figures['swaps']['in']['count']:,}, out {figures['swaps']['out']['count']:,}"
        )
    finally:
        connection.close()
        shutil.rmtree(WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    main()
