"""HTTP submit benchmark: our workbench beside the original design's Flask app, in one run.

    .venv/bin/python bench/load_submit.py [--duration 15] [--connections 16] [--threads 2] [--officers 16]

Ours: gunicorn (2 sync workers, ``DJANGO_DEBUG=0``, a throwaway secret key,
the durable SQLite settings of ``creditsite/settings.py`` on a fresh migrated
temporary database, one OpenMP/BLAS thread), N officers created in the
officer role and logged in with a real POST to ``/accounts/login/``; then
``wrk --latency`` with ``bench/lua/submit.lua`` POSTs complete forms (session
cookie, CSRF token, a per-form idempotency token, a unique
``applicant_reference`` each) to ``/applications/new/``. A success is a
302/303 to ``/applications/<id>/``. Afterwards every acknowledged id is
reconciled against the database (exists once, scored, with its one decision
record; no duplicate references; rows nobody was told about only from
requests still in flight when wrk stopped) and ``manage.py verify_decisions``
must report an intact chain.

Original: ``../shared/peers/seed_flask_app`` copied to a temporary folder, its
RandomForest trained by its own ``train_seed_model.py`` (the artifact is
cached under /tmp keyed by the script, the data and the library versions),
served by ``gunicorn -w 2 app:app`` from a venv cached in /tmp with the
project's pinned scikit-learn/pandas/numpy/scipy/joblib, loaded with its
own ``post.lua`` (``wrk -t1 -c16``).

Prints a side-by-side table and one JSON line (``LOAD_SUBMIT_JSON ...``);
exits 1 if any reconciliation invariant fails (and, with
``--require-targets``, if a speed target is missed).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_common import (  # noqa: E402
    REAPER, ROOT, app_env, create_database, free_port, fsync_probe, helper, log, loadavg, login_officers, make_workdir,
    parse_wrk_text, prepare_database, run_wrk_submit, start_gunicorn, thread_env, verify_chain, wait_ready,
    write_sessions_file,
)

PEER = ROOT.parent / "shared" / "peers" / "seed_flask_app"
DATA = (ROOT.parent / "shared" / "data" / "credit_risk_train.csv").resolve()
SEED_CACHE = Path(os.environ.get("BENCH_SEED_CACHE", "/tmp/scr-seed-flask-cache"))
PINNED = ("scikit-learn", "pandas", "numpy", "scipy", "joblib", "threadpoolctl", "gunicorn")
TARGET_RPS, TARGET_P99_MS, TARGET_RATIO = 600.0, 40.0, 5.5


def pinned_requirements() -> list[str]:
    wanted = {name.lower() for name in PINNED}
    pins = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = line.split("==")[0].strip().lower()
        if "==" in line and name in wanted:
            pins.append(line.strip())
    return pins


def seed_venv() -> Path:
    """A venv for the original app: flask + the project's pinned ML stack (built once, cached in /tmp)."""
    pins = pinned_requirements()
    key = hashlib.sha256(("\n".join(pins) + "\nflask").encode()).hexdigest()[:12]
    venv = SEED_CACHE / f"venv-{key}"
    if (venv / ".ok").exists():
        return venv
    log(f"building the original app's venv in {venv} (once)")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "flask", *pins], check=True, timeout=1200)
    (venv / ".ok").write_text("\n".join(pins))
    return venv


def seed_model(venv: Path, app_dir: Path) -> None:
    """Train the original RandomForest with its own script, or reuse the cached artifact of the same inputs."""
    digest = hashlib.sha256()
    for path in (PEER / "train_seed_model.py", DATA, venv / ".ok"):
        digest.update(path.read_bytes())
    cached = SEED_CACHE / f"credit_risk_model-{digest.hexdigest()[:16]}.pkl"
    if not cached.exists():
        log("training the original RandomForest with train_seed_model.py (once; cached)")
        subprocess.run([str(venv / "bin" / "python"), "train_seed_model.py", str(DATA)], cwd=app_dir, check=True,
                       env={**os.environ, **thread_env()}, timeout=1200, capture_output=True)
        shutil.copy2(app_dir / "credit_risk_model.pkl", cached)
    else:
        shutil.copy2(cached, app_dir / "credit_risk_model.pkl")


def measure_original(workdir: Path, *, duration: int, connections: int) -> dict:
    SEED_CACHE.mkdir(parents=True, exist_ok=True)
    venv = seed_venv()
    app_dir = workdir / "seed_flask_app"
    shutil.copytree(PEER, app_dir)
    for path in [app_dir, *app_dir.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    seed_model(venv, app_dir)
    port = free_port()
    log_path = workdir / "gunicorn-original.log"
    with open(log_path, "wb") as handle:
        process = REAPER.spawn([str(venv / "bin" / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"],
                               cwd=app_dir, env={**os.environ, **thread_env()}, stdout=handle,
                               stderr=subprocess.STDOUT)
    try:
        wait_ready(port, process, 120, log_path, path="/")
        url = f"http://127.0.0.1:{port}/predict"
        subprocess.run(["wrk", "-t1", "-c4", "-d2s", "-s", str(app_dir / "post.lua"), url], capture_output=True,
                       timeout=60)  # warm-up: both workers
        load = loadavg()
        log(f"original: wrk -t1 -c{connections} -d{duration}s --latency -s post.lua {url} (load {load})")
        run = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
                              str(app_dir / "post.lua"), url], capture_output=True, text=True,
                             timeout=duration + 120)
        result = parse_wrk_text(run.stdout)
        result.update({"loadavg_before": load, "loadavg_after": loadavg(), "wrk_text": run.stdout})
        return result
    finally:
        REAPER.kill(process)


def measure_ours(workdir: Path, *, duration: int, connections: int, threads: int, officers: int) -> dict:
    prefix = f"ls{int(time.time()) % 100000}"
    database_url = create_database("sqlite", "bench_submit", workdir)
    env = app_env(database_url)
    log(f"ours: migrating a fresh SQLite database {database_url}")
    usernames = prepare_database(env, officers=officers, prefix=prefix)
    server = start_gunicorn(env, workdir, workers=2, name="ours")
    try:
        logged_in = login_officers(server.port, usernames)
        sessions = write_sessions_file(logged_in, workdir / "sessions.txt")
        # Warm-up: both workers load and verify the model and open their connections.
        warm = run_wrk_submit(server.port, sessions, prefix + "w", workdir, threads=threads,
                              connections=connections, duration=5)
        summary_fsync = fsync_probe(workdir)
        load = loadavg()
        log(f"ours: wrk -t{threads} -c{connections} -d{duration}s --latency -s bench/lua/submit.lua "
            f"http://127.0.0.1:{server.port}/applications/new/ (load {load})")
        summary = run_wrk_submit(server.port, sessions, prefix, workdir, threads=threads, connections=connections,
                                 duration=duration)
        summary["loadavg_before"], summary["loadavg_after"] = load, loadavg()
        summary["warmup_acked"] = warm["acked"]
        summary["fsync_before"] = summary_fsync
    finally:
        REAPER.kill(server.process)
    summary["fsync_after"] = fsync_probe(workdir)
    summary["reconcile"] = helper(env, "reconcile", "--prefix", prefix, "--acked", summary["ids_file"])
    summary["reconcile_warmup"] = helper(env, "reconcile", "--prefix", prefix + "w", "--acked", warm["ids_file"])
    summary["chain"] = verify_chain(env)
    summary["server_log_tail"] = server.log_tail(1500)
    return summary


def invariants(ours: dict) -> list[str]:
    failures = []
    for label, rec, stats in (("measured", ours["reconcile"], ours), ("warm-up", ours["reconcile_warmup"], None)):
        if rec["missing"]:
            failures.append(f"{label}: {rec['missing']} acknowledged id(s) not in the database: {rec['missing_ids']}")
        if rec["duplicate_references"]:
            failures.append(f"{label}: duplicated applicant_reference: {rec['duplicate_reference_examples']}")
        if rec["half_written"]:
            failures.append(f"{label}: half-written rows: {rec['half_written_ids']}")
        if rec["acked_not_scored"]:
            failures.append(f"{label}: {rec['acked_not_scored']} acknowledged application(s) not scored")
        if rec["acked_repeated"]:
            failures.append(f"{label}: {rec['acked_repeated']} id(s) acknowledged twice")
    rec = ours["reconcile"]
    unanswered = ours["sent"] - ours["acked"]
    if rec["unacked_rows"] > unanswered:
        failures.append(f"{rec['unacked_rows']} stored row(s) nobody was told about, more than the "
                        f"{unanswered} request(s) without an acknowledgement")
    if rec["acked"] != ours["acked"] or rec["rows"] - rec["unacked_rows"] != ours["acked"]:
        failures.append(f"acknowledged {ours['acked']} but reconciled {rec['acked']} / rows {rec['rows']}")
    if ours["bad_location"]:
        failures.append(f"{ours['bad_location']} redirect(s) not to /applications/<id>/")
    fivexx = sum(n for status, n in ours["statuses"].items() if int(status) >= 500)
    if fivexx:
        failures.append(f"{fivexx} response(s) 5xx")
    if not ours["chain"].get("chain_ok") or ours["chain"].get("returncode"):
        failures.append(f"verify_decisions failed: {ours['chain']}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds of load for each app (default 15)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads for ours (default 2)")
    parser.add_argument("--officers", type=int, default=16, help="logged-in officer sessions to rotate (default 16)")
    parser.add_argument("--skip-original", action="store_true", help="measure ours only")
    parser.add_argument("--require-targets", action="store_true", help="exit 1 if a speed target is missed")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    workdir = make_workdir("load-submit")
    started_load = loadavg()
    try:
        ours = measure_ours(workdir, duration=args.duration, connections=args.connections, threads=args.threads,
                            officers=args.officers)
        original = None if args.skip_original else measure_original(workdir, duration=args.duration,
                                                                     connections=args.connections)
    finally:
        REAPER.stop_all()

    errors_ours = sum(ours["errors"].values()) + sum(
        n for status, n in ours["statuses"].items() if int(status) not in (302, 303))
    rows = [("requests/s (acknowledged)", f"{ours['acked_per_s']:.0f}"),
            ("p50 ms", f"{ours['p50_ms']:.2f}"), ("p99 ms", f"{ours['p99_ms']:.2f}"), ("errors", str(errors_ours))]
    ratio = None
    print()
    print(f"HTTP submit, {args.connections} connections, {args.duration} s each, 2 gunicorn sync workers "
          f"(load average at start {started_load}; 2 cores shared)")
    if original:
        ratio = ours["acked_per_s"] / original["requests_per_s"] if original.get("requests_per_s") else None
        print(f"{'':28} {'ours':>10} {'original':>10} {'ours/original':>14}")
        values = [(ours["acked_per_s"], original.get("requests_per_s")), (ours["p50_ms"], original.get("p50_ms")),
                  (ours["p99_ms"], original.get("p99_ms")), (errors_ours, original.get("errors"))]
        for (label, text), (a, b) in zip(rows, values):
            r = f"{a / b:.2f}x" if b else "-"
            print(f"{label:28} {text:>10} {b if b is not None else '-':>10} {r:>14}")
        print(f"{'load average before':28} {ours['loadavg_before']:>10} {original['loadavg_before']:>10}")
    else:
        for label, text in rows:
            print(f"{label:28} {text:>10}")
    rec = ours["reconcile"]
    print(f"reconciliation: {rec['acked']} acknowledged, {rec['rows']} rows, {rec['missing']} missing, "
          f"{rec['duplicate_references']} duplicated, {rec['half_written']} half-written, "
          f"{rec['unacked_rows']} stored but unacknowledged (in flight at stop: {ours['sent'] - ours['acked']} "
          f"sent without an acknowledgement); statuses {ours['statuses']}; chain_ok={ours['chain'].get('chain_ok')} "
          f"({ours['chain'].get('checked')} decisions)")
    print(f"SQLite durable-commit probe on this disk (bare one-row transaction, WAL + synchronous=FULL): "
          f"{ours['fsync_before']['commit_ms']} ms before, {ours['fsync_after']['commit_ms']} ms after "
          f"(ceiling ~{ours['fsync_before']['ceiling_per_s']} commits/s: SQLite fsyncs inside its single write lock)")
    failures = invariants(ours)
    targets = {
        "rps>=600": ours["acked_per_s"] >= TARGET_RPS,
        "p99<=40ms": ours["p99_ms"] <= TARGET_P99_MS,
        "ratio>=5.5": ratio is not None and ratio >= TARGET_RATIO,
    }
    print("targets: " + ", ".join(f"{name} {'PASS' if ok else 'MISS'}" for name, ok in targets.items()))
    for failure in failures:
        print(f"INVARIANT FAILED: {failure}")
    report = {
        "ours": {k: v for k, v in ours.items() if k not in ("wrk_text", "server_log_tail", "ids_file")},
        "original": {k: v for k, v in (original or {}).items() if k != "wrk_text"},
        "ratio": ratio, "targets": targets, "invariant_failures": failures, "loadavg_start": started_load,
        "loadavg_end": loadavg(),
    }
    print("LOAD_SUBMIT_JSON " + json.dumps(report, sort_keys=True))
    if failures:
        print(ours["server_log_tail"], file=sys.stderr)
        return 1
    if args.require_targets and not all(targets.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
