"""CPU per batch chunk, in process: where ``batches.services.process_chunk`` spends its time.

A fresh database (SQLite file or PostgreSQL), one officer, a file of
``--rows`` rows cut from the shared training data staged as a job (the
page's service), then ``--chunks`` chunks processed here, one after the
other, timed by this process's CPU time (``time.process_time``: what the
chunk costs, whatever else runs on the machine). ``--profile`` adds a
cProfile of the same chunks, top functions by own and cumulative time.

    .venv/bin/python bench/batch_chunk_profile.py --rows 10000 --chunks 5
    .venv/bin/python bench/batch_chunk_profile.py --rows 5000 --chunks 3 --profile
    .venv/bin/python bench/batch_chunk_profile.py --database postgres --rows 10000 --chunks 5
    .venv/bin/python bench/batch_chunk_profile.py --rows 10000 --chunks 5 --challenger hgb-47ffccc83994

``--challenger VERSION`` sets a challenger first (the state an approved
proposal leaves), so each chunk is shadow-scored too; a version not in the
store (``--challenger hgb-000000000000``) times the FAILED rows of a broken one.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.batch_bench import DATA, write_file  # noqa: E402
from bench.load_common import ROOT, loadavg, log, make_workdir  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--chunks", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--challenger", default="", help="a model version to shadow-score every chunk with")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"needs the shared data at {DATA}", file=sys.stderr)
        return 2
    workdir = make_workdir("chunk")
    data_file = workdir / "chunk.csv"
    write_file(data_file, args.rows)

    from bench.load_common import app_env, create_database

    os.environ.update(app_env(create_database(args.database, f"bench_batch_chunk_{os.getpid()}", workdir)))
    os.environ["DJANGO_SETTINGS_MODULE"] = "creditsite.settings"
    os.chdir(ROOT)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db.models import Count

    from accounts import roles
    from batches import services
    from batches.models import BatchJob
    from governance.models import ChallengerScore, ChallengerState

    call_command("migrate", verbosity=0, interactive=False)
    if args.challenger:
        from django.utils import timezone

        ChallengerState.objects.update_or_create(
            pk=ChallengerState.SINGLETON_ID, defaults={"model_version": args.challenger, "changed_at": timezone.now()}
        )
    officer = get_user_model().objects.create_user(username="chunk-officer")
    officer.groups.add(Group.objects.get(name=roles.OFFICER))
    with data_file.open("rb") as handle:
        job = services.create_batch_job(officer=officer, file=handle, file_name="chunk.csv")
    # Warm up: model load, compiled functions, statement caches.
    services.process_chunk(job_id=job.pk, number=0)
    numbers = list(range(1, min(args.chunks, job.chunk_count - 1) + 1))
    profiler = cProfile.Profile() if args.profile else None
    log(f"{len(numbers)} chunks of {settings.BATCH_CHUNK_ROWS} rows, {args.database}; load {loadavg()}")
    cpu = time.process_time()
    wall = time.perf_counter()
    if profiler:
        profiler.enable()
    rows = sum(services.process_chunk(job_id=job.pk, number=n) for n in numbers)
    if profiler:
        profiler.disable()
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    job = BatchJob.objects.get(pk=job.pk)
    result = {
        "database": args.database,
        "chunk_rows": settings.BATCH_CHUNK_ROWS,
        "chunks": len(numbers),
        "rows": rows,
        "stored": job.rows_stored,
        "rejected": job.rows_rejected,
        "challenger": args.challenger or None,
        "shadow_scores": dict(
            ChallengerScore.objects.order_by().values("status").annotate(n=Count("id")).values_list("status", "n")
        ),
        "cpu_seconds_per_1000_rows": round(cpu / rows * 1000, 4),
        "wall_seconds_per_1000_rows": round(wall / rows * 1000, 4),
        "profiled": bool(profiler),
        "load": loadavg(),
    }
    if profiler:
        stats = pstats.Stats(profiler)
        for order in ("tottime", "cumulative"):
            print(f"\n== by {order}")
            stats.sort_stats(order).print_stats(args.top)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
