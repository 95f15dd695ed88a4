"""Incremental verification and one application's page, timed again and again from the same checkpoint.

    DATABASE_URL=... .venv/bin/python bench/incremental_bench.py [--rounds 5] [--pages 30] [--profile FILE]
    DATABASE_URL=... .venv/bin/python bench/incremental_bench.py --command [--rounds 5]

On a database that already holds a passed verification (the checkpoint: ``verify_decisions --full``) and new
records after it (``seed_demo --applications 10000``), each round runs ``audit.services.verify_now`` as
``verify_decisions --incremental`` does (the command's reported time is this call) and then deletes the run
row it stored, so every round starts from the same checkpoint. Prints wall and this process's CPU seconds per
round and the medians, then (``--pages``) the median wall and CPU milliseconds of ``/applications/<id>/`` for
that many applications spread over the table (half of them reviewed ones: case records), after one warm-up
each, and the number of queries one page makes. One JSON line at the end, for comparing two trees run
alternately (``BENCH_TREE``: the other tree's directory).

``--command``: each round is ``manage.py verify_decisions --incremental`` itself in a fresh process (as the
target is stated: the time the command reports; a first run in a process costs more than a repeated one),
with that process's CPU seconds (user + system), its run row deleted afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_TREE", Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")


def _incremental(rounds: int, profile: str | None) -> dict:
    from audit.models import VerificationRun
    from audit.services import verify_now

    walls, cpus = [], []
    for _ in range(rounds):
        profiler = cProfile.Profile() if profile else None
        cpu, started = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        run, summary = verify_now(kind=VerificationRun.INCREMENTAL, replay=False)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
        if run.kind != VerificationRun.INCREMENTAL or not summary.ok:
            raise SystemExit(f"run #{run.pk}: {run.kind}, ok={summary.ok}: {summary.problems()[:5]}")
        print(
            f"incremental: {summary.decisions.checked} decisions, {summary.cases.checked} case records, "
            f"{summary.applications_checked} applications: {walls[-1]:.3f} s wall, {cpus[-1]:.3f} s CPU",
            file=sys.stderr,
        )
        VerificationRun.objects.filter(pk=run.pk).delete()
    return {"incremental_wall": statistics.median(walls), "incremental_cpu": statistics.median(cpus)}


def _commands(rounds: int) -> dict:
    from audit.models import VerificationRun

    reported, cpus = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [sys.executable, "manage.py", "verify_decisions", "--incremental"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        line = done.stdout.splitlines()[-2]
        run_id = int(re.search(r"verification #(\d+)", line).group(1))
        reported.append(float(re.search(r" in ([0-9.]+) s", line).group(1)))
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        print(f"{line[:160]} ({cpus[-1]:.2f} s CPU, process)", file=sys.stderr)
        if not line.startswith("OK (incremental"):
            raise SystemExit(line)
        VerificationRun.objects.filter(pk=run_id).delete()
    return {
        "command_reported": statistics.median(reported),
        "command_reported_all": reported,
        "command_process_cpu": round(statistics.median(cpus), 2),
    }


def _pages(count: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from applications.models import LoanApplication
    from audit.models import CaseRecord
    from staff.services import grant_role

    user = get_user_model().objects.filter(username="bench-reviewer").first()
    if user is None:
        user = get_user_model().objects.create_user(username="bench-reviewer", password=None)
        grant_role(user=user, role="reviewer")
    client = Client()
    client.force_login(user)
    largest = LoanApplication.objects.order_by("-id").values_list("pk", flat=True).first()
    step = max(1, largest // (count + 1))
    plain = [
        LoanApplication.objects.filter(pk__gte=step * (i + 1)).order_by("pk").values_list("pk", flat=True).first()
        for i in range(count - count // 2)
    ]
    reviewed = [
        CaseRecord.objects.filter(application_id__gte=step * (i + 1))
        .order_by("application_id")
        .values_list("application_id", flat=True)
        .first()
        for i in range(count // 2)
    ]
    walls, cpus, queries = [], [], []
    for pk in [pk for pk in plain + reviewed if pk is not None]:
        client.get(f"/applications/{pk}/", secure=True)  # warm-up
        cpu, started = time.process_time(), time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/applications/{pk}/", secure=True)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        queries.append(len(captured))
        if response.status_code != 200:
            raise SystemExit(f"/applications/{pk}/: {response.status_code}")
    return {
        "page_wall_ms": round(statistics.median(walls), 1),
        "page_cpu_ms": round(statistics.median(cpus), 1),
        "page_queries": max(queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", type=int, default=0, help="time this many application pages (0: none)")
    parser.add_argument("--profile", help="cProfile the last incremental round into this file")
    parser.add_argument("--command", action="store_true", help="time manage.py verify_decisions --incremental")
    args = parser.parse_args()
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    figures = {"tree": str(ROOT), "load": os.getloadavg()[0]}
    if args.command:
        figures.update(_commands(args.rounds))
    elif args.rounds:
        figures.update(_incremental(args.rounds, args.profile))
    if args.pages:
        figures.update(_pages(args.pages))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
