"""``make bench-batch``: batch files end to end (upload -> validated -> scored -> stored -> chained).

For each configuration: a fresh database (SQLite file or PostgreSQL), a file of
``--rows`` rows cut from the shared training data (its own columns, as a bank
would export them: rows with a blank rate or employment length are rejected
by the form's rules, as they would be on the page), task-queue workers
started and warmed up first (``manage.py run_workers``), then the clock runs from
the upload (``manage.py score_batch_file``, the same service as the page) to
the job's DONE. Reported: rows/s end to end, the upload's own time, stored and
rejected rows, the peak resident memory of the uploading process and of the
largest worker process (``VmHWM``), and ``verify_decisions`` on the result.

    make bench-batch                                   # 100,000 rows: SQLite 1 and 2 workers, PostgreSQL 2 workers
    make bench-batch ARGS="--rows 1000000 --configs sqlite:2"   # the memory run
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_common import (  # noqa: E402
    PYTHON,
    ROOT,
    _process_cpu_seconds,
    app_env,
    child_pids,
    create_database,
    loadavg,
    log,
    make_workdir,
    prepare_database,
    verify_chain,
)

DATA = Path(os.environ.get("BENCH_DATA", ROOT.parent / "shared" / "data" / "credit_risk_train.csv"))


def write_file(path: Path, rows: int) -> None:
    """``rows`` data rows cycled from the shared file, its header and columns unchanged."""
    with DATA.open(newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        data = list(reader)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for n in range(rows):
            writer.writerow(data[n % len(data)])


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the queue's workers are the cluster's grandchildren)."""
    found, todo = [], [pid]
    while todo:
        children = child_pids(todo.pop())
        found += children
        todo += children
    return found


_ROLE_LINES = (
    ("task workers", re.compile(r"ready for work at (\d+)")),
    ("pusher", re.compile(r"pushing tasks at (\d+)")),
    ("monitor", re.compile(r"monitoring at (\d+)")),
)


def cpu_roles(worker_log: str, spent: dict[int, float], *, total_rows: int) -> dict[str, float]:
    """The cluster's CPU per row by process role (from the pids its processes log), the rest as "sentinel"."""
    roles = {pid: role for role, pattern in _ROLE_LINES for pid in map(int, pattern.findall(worker_log))}
    by_role: dict[str, float] = {}
    for pid, seconds in spent.items():
        role = roles.get(pid, "sentinel")
        by_role[role] = by_role.get(role, 0.0) + seconds
    return {role: round(seconds / total_rows * 1000, 3) for role, seconds in sorted(by_role.items())}


def run(kind: str, workers: int, rows: int, workdir: Path, data_file: Path, chunk_rows: int | None) -> dict:
    label = f"{kind}-{workers}w"
    # The process id in the name: two people running the bench at once get their own databases.
    database = create_database(kind, f"bench_batch_{kind}_{workers}w_{os.getpid()}", workdir)
    env = app_env(database, QUEUE_WORKERS=str(workers), QUEUE_POLL_SECONDS="0.1", QUEUE_TIMEOUT_SECONDS="600")
    if chunk_rows:
        env["BATCH_CHUNK_ROWS"] = str(chunk_rows)
    env["DJANGO_LOG_LEVEL"] = "INFO"  # the workers' "ready for work" lines tell when to start the clock
    officer = prepare_database(env, officers=1, prefix=f"batch{workers}")[0]
    log_path = workdir / f"{label}-workers.log"
    with log_path.open("w") as worker_log:
        cluster = subprocess.Popen(
            [PYTHON, "manage.py", "run_workers"],
            cwd=ROOT,
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while log_path.read_text().count("ready for work") < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        log(f"{label}: {workers} worker process(es) ready; load {loadavg()}")
        cpu_before = {pid: _process_cpu_seconds(pid) or 0.0 for pid in descendants(cluster.pid)}
        upload_log_path = workdir / f"{label}-upload.log"
        upload_log = upload_log_path.open("w")
        started = time.monotonic()
        # One process uploads, then watches the job until it finishes (the page's progress read every
        # 0.25 s): a Django start-up per poll would take a core-second from the workers each time.
        upload = subprocess.Popen(
            [PYTHON, "-c", _UPLOAD, str(data_file), officer],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=upload_log,
            text=True,
        )
        # Its stdout also carries the application's log lines: ours are the marked ones.
        line = ""
        while not line.startswith("UPLOADED "):
            line = upload.stdout.readline()
            if not line:
                upload.wait()
                raise RuntimeError(upload_log_path.read_text()[-3000:])
        uploaded = json.loads(line.removeprefix("UPLOADED "))
        upload_seconds = time.monotonic() - started
        worker_peak = 0.0
        sampled = 0.0
        while upload.poll() is None:
            if time.monotonic() - sampled >= 1:
                sampled = time.monotonic()
                worker_peak = max([worker_peak, *(peak_rss_mb(pid) for pid in descendants(cluster.pid))])
            time.sleep(0.05)
        if upload.returncode != 0:
            raise RuntimeError(upload_log_path.read_text()[-3000:])
        (finished,) = [line for line in upload.stdout.read().splitlines() if line.startswith("FINISHED ")]
        state = json.loads(finished.removeprefix("FINISHED "))
        elapsed = time.monotonic() - started
        pids = descendants(cluster.pid)
        # CPU the workers spent (processes alive throughout): what the job costs, whatever else ran.
        spent = {pid: (_process_cpu_seconds(pid) or 0.0) - cpu_before[pid] for pid in pids if pid in cpu_before}
        worker_cpu = sum(spent.values())
        cpu_by_role = cpu_roles(log_path.read_text(), spent, total_rows=max(rows, 1))
        worker_peak = max([worker_peak, *(peak_rss_mb(pid) for pid in pids)])
    finally:
        upload_log.close()
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
    chain = verify_chain(env)
    result = {
        "config": label,
        "chunk_rows": chunk_rows or "setting",
        "rows": state["total_rows"],
        "stored": state["rows_stored"],
        "rejected": state["rows_rejected"],
        "status": state["status"],
        "seconds": round(elapsed, 1),
        "rows_per_second": round(state["total_rows"] / elapsed),
        "upload_seconds": round(upload_seconds, 1),
        "upload_cpu_seconds": round(uploaded["cpu_seconds"], 1),
        "worker_cpu_ms_per_row": round(worker_cpu / max(state["total_rows"], 1) * 1000, 3),
        "cpu_ms_per_row_by_process": cpu_by_role,
        "upload_peak_rss_mb": round(uploaded["peak_rss_mb"], 1),
        "worker_peak_rss_mb": round(worker_peak, 1),
        "verify_decisions_ok": chain.get("ok"),
        "load_after": loadavg(),
    }
    log(json.dumps(result))
    return result


# The upload, in its own process so its peak memory is its own: the page's service on a file.
_UPLOAD = r"""
import json, os, resource, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
django.setup()
from django.contrib.auth import get_user_model
from batches import services
from batches.models import BatchJob
from batches.selectors import job_progress
path, officer = sys.argv[1], sys.argv[2]
with open(path, "rb") as handle:
    job = services.create_batch_job(officer=get_user_model().objects.get(username=officer), file=handle, file_name=os.path.basename(path))
usage = resource.getrusage(resource.RUSAGE_SELF)
print("UPLOADED", json.dumps({"progress": job_progress(job=job), "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_seconds": usage.ru_utime + usage.ru_stime}), flush=True)
while True:
    state = job_progress(job=BatchJob.objects.get(pk=job.pk))
    if state["finished"]:
        break
    time.sleep(0.25)
print("FINISHED", json.dumps(state), flush=True)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--configs", default="sqlite:1,sqlite:2,postgres:2", help="database:workers, comma-separated")
    parser.add_argument("--chunk-rows", type=int, default=None, help="BATCH_CHUNK_ROWS (default: the setting's)")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"bench-batch needs the shared data at {DATA}", file=sys.stderr)
        return 2
    workdir = make_workdir("batch")
    data_file = workdir / f"batch-{args.rows}.csv"
    write_file(data_file, args.rows)
    log(f"file: {args.rows:,} rows, {data_file.stat().st_size / 1e6:.1f} MB; load {loadavg()}")
    results = []
    for config in args.configs.split(","):
        kind, workers = config.split(":")
        results.append(run(kind, int(workers), args.rows, workdir, data_file, args.chunk_rows))
    print(json.dumps({"rows": args.rows, "results": results}))
    return 0 if all(r["status"] == "DONE" and r["verify_decisions_ok"] for r in results) else 1


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    sys.exit(main())
