"""Where a full verification's CPU goes: each part of ``verify_decisions --full``, alone and one after the other.

    DATABASE_URL=... .venv/bin/python bench/verify_parts.py

On a seeded database (``seed_demo --applications 1000000``), runs each part the command overlaps on the
machine's cores, alone, in one process and one read-only snapshot (PostgreSQL: REPEATABLE READ, no JIT, as
the command reads; SQLite through its memory map): the decision chain's walk (one range: every record), the case chain's walk, the reviewed
applications' comparison, the never-reviewed applications' statement and the latest-decision check. Prints
for each its wall time, this process's CPU seconds and the rest of the machine's busy CPU seconds over the
same time (on PostgreSQL: the server's share, with the kernel's; run it with nothing else running).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (not idle, not waiting on I/O) since boot."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def timed(label: str, part: Callable[[], Any]) -> None:
    from django.db import connection, transaction

    from audit.verification import NO_JIT, _mapped

    busy, cpu, started = machine_busy_seconds(), time.process_time(), time.perf_counter()
    with transaction.atomic(), _mapped(connection):  # SQLite: through the memory map, as the command reads
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cursor.execute(NO_JIT)
        found = part()
    wall, own = time.perf_counter() - started, time.process_time() - cpu
    rest = machine_busy_seconds() - busy - own
    print(f"{label:40s} wall {wall:6.2f} s   this process {own:6.2f} CPU-s   the rest {rest:6.2f} CPU-s   ({found})")


def main() -> None:
    import django

    django.setup()
    from django.db import connection

    from audit import verification
    from audit.latest import mismatched_applications

    def reviewed() -> str:
        summary = verification.VerificationSummary(
            decisions=verification.ChainReport(), overrides=verification.ChainReport()
        )
        verification._compare_reviewed_applications(summary)
        return f"{summary.application_mismatches} mismatches"

    gc.disable()  # as verify_audit_trail runs
    print(f"{connection.vendor}, load {os.getloadavg()[0]:.1f}")
    timed(
        "decision chain walk",
        lambda: f"{verification._walk_part(verification.DECISIONS.head, None, None).report.checked} records",
    )
    timed(
        "case chain walk",
        lambda: f"{verification._walk_part(verification.CASES.head, None, None).report.checked} records",
    )
    timed("reviewed applications' comparison", reviewed)
    timed(
        "never-reviewed applications' statement",
        lambda: f"{len(verification._plain_applications(connection)[1])} mismatches",
    )
    timed("latest-decision check", lambda: f"{len(mismatched_applications())} mismatches")


if __name__ == "__main__":
    main()
