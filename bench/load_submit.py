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

Each measurement also records CPU time from ``/proc``: the app's gunicorn
workers per request, the whole machine's busy time per request (load
generator and kernel included), and the share of the cores left idle, so
the run shows how much of a throughput ratio is work per request and how
much is waiting.

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
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_common import (  # noqa: E402
    REAPER,
    ROOT,
    app_env,
    child_pids,
    cpu_sample,
    cpu_share,
    create_database,
    free_port,
    fsync_probe,
    helper,
    loadavg,
    log,
    login_officers,
    make_workdir,
    manage,
    next_wrk_run,
    parse_wrk_text,
    prepare_database,
    run_wrk_submit,
    start_gunicorn,
    thread_env,
    verify_chain,
    wait_ready,
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
        subprocess.run(
            [str(venv / "bin" / "python"), "train_seed_model.py", str(DATA)],
            cwd=app_dir,
            check=True,
            env={**os.environ, **thread_env()},
            timeout=1200,
            capture_output=True,
        )
        shutil.copy2(app_dir / "credit_risk_model.pkl", cached)
    else:
        shutil.copy2(cached, app_dir / "credit_risk_model.pkl")


class Original:
    """The original Flask app, served from a temporary copy."""

    def __init__(self, workdir: Path) -> None:
        SEED_CACHE.mkdir(parents=True, exist_ok=True)
        venv = seed_venv()
        self.app_dir = workdir / "seed_flask_app"
        shutil.copytree(PEER, self.app_dir)
        for path in [self.app_dir, *self.app_dir.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        seed_model(venv, self.app_dir)
        self.port = free_port()
        log_path = workdir / "gunicorn-original.log"
        with open(log_path, "wb") as handle:
            self.process = REAPER.spawn(
                [str(venv / "bin" / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{self.port}", "app:app"],
                cwd=self.app_dir,
                env={**os.environ, **thread_env()},
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        wait_ready(self.port, self.process, 120, log_path, path="/")
        self.url = f"http://127.0.0.1:{self.port}/predict"
        subprocess.run(
            ["wrk", "-t1", "-c4", "-d3s", "-s", str(self.app_dir / "post.lua"), self.url],
            capture_output=True,
            timeout=60,
        )  # warm-up: both workers

    def measure(self, *, duration: int, connections: int) -> dict:
        load = loadavg()
        log(f"original: wrk -t1 -c{connections} -d{duration}s --latency -s post.lua {self.url} (load {load})")
        workers = child_pids(self.process.pid)
        cpu_before = cpu_sample(workers)
        run = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{duration}s",
                "--latency",
                "-s",
                str(self.app_dir / "post.lua"),
                self.url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 120,
        )
        cpu_after = cpu_sample(workers)
        result = parse_wrk_text(run.stdout)
        result.update(
            {
                "loadavg_before": load,
                "loadavg_after": loadavg(),
                "wrk_text": run.stdout,
                "cpu": cpu_share(cpu_before, cpu_after, result.get("requests", 0)),
            }
        )
        return result


class Ours:
    """Our workbench under gunicorn on a fresh SQLite database, officers logged in."""

    def __init__(self, workdir: Path, *, officers: int, threads: int, connections: int, api: bool = False) -> None:
        self.workdir = workdir
        self.threads, self.connections = threads, connections
        self.prefix = f"ls{int(time.time()) % 100000}"
        database_url = create_database("sqlite", "bench_submit", workdir)
        # The API's per-token rate limit would cap the measurement itself.
        self.env = app_env(database_url, API_RATE_PER_TOKEN="1000000/min")
        log(f"ours: migrating a fresh SQLite database {database_url}")
        usernames = prepare_database(self.env, officers=officers, prefix=self.prefix)
        self.api_token = self._make_api_token(usernames[0]) if api else None
        self.server = start_gunicorn(self.env, workdir, workers=2, name="ours")
        logged_in = login_officers(self.server.port, usernames)
        self.sessions = write_sessions_file(logged_in, workdir / "sessions.txt")
        # Warm-up: both workers have loaded the model at start (gunicorn.conf.py); this opens
        # their database connections and warms the caches.
        self.runs: list[dict] = [self._wrk("w", 4)]

    def _wrk(self, tag: str, duration: int) -> dict:
        summary = run_wrk_submit(
            self.server.port,
            self.sessions,
            f"{self.prefix}{tag}",
            self.workdir,
            threads=self.threads,
            connections=self.connections,
            duration=duration,
        )
        summary["prefix"] = f"{self.prefix}{tag}"
        return summary

    def measure(self, round_number: int, *, duration: int) -> dict:
        fsync = fsync_probe(self.workdir)
        load = loadavg()
        log(
            f"ours: wrk -t{self.threads} -c{self.connections} -d{duration}s --latency -s bench/lua/submit.lua "
            f"http://127.0.0.1:{self.server.port}/applications/new/ (load {load})"
        )
        workers = self.server.worker_pids()
        cpu_before = cpu_sample(workers)
        summary = self._wrk(f"r{round_number}", duration)
        cpu_after = cpu_sample(workers)
        summary.update(
            {
                "loadavg_before": load,
                "loadavg_after": loadavg(),
                "fsync_before": fsync,
                "cpu": cpu_share(cpu_before, cpu_after, summary["acked"]),
            }
        )
        self.runs.append(summary)
        return summary

    def _make_api_token(self, username: str) -> str:
        """An admin and a token for ``username`` (an officer), made as an admin would (the api_token command)."""
        admin = f"{self.prefix}admin"
        manage(
            self.env,
            "shell",
            "-c",
            "from accounts import roles; from django.contrib.auth import get_user_model; "
            "from django.contrib.auth.models import Group; "
            f"user = get_user_model().objects.create_user({admin!r}, password='x' * 24); "
            "user.groups.add(Group.objects.get(name=roles.ADMIN))",
        )
        out = manage(self.env, "api_token", "--as", admin, "create", "--user", username, "--name", "bench").stdout
        return out.strip().splitlines()[-1]

    def measure_api(self, round_number: int, *, duration: int) -> dict:
        """wrk against POST /api/v1/applications/ on the same server, right after the form's round."""
        load = loadavg()
        prefix = f"{self.prefix}a{round_number}"
        url = f"http://127.0.0.1:{self.server.port}/api/v1/applications/"
        log(
            f"ours API: wrk -t{self.threads} -c{self.connections} -d{duration}s -s bench/lua/api_submit.lua {url} (load {load})"
        )
        run = subprocess.run(
            [
                "wrk",
                f"-t{self.threads}",
                f"-c{self.connections}",
                f"-d{duration}s",
                "--latency",
                "-s",
                str(Path(__file__).resolve().parent / "lua" / "api_submit.lua"),
                url,
            ],
            env={
                **os.environ,
                "BENCH_API_TOKEN": self.api_token,
                "BENCH_PREFIX": prefix,
                "BENCH_RUN": str(next_wrk_run()),
            },
            capture_output=True,
            text=True,
            timeout=duration + 120,
        )
        result = parse_wrk_text(run.stdout)
        stored = (
            manage(
                self.env,
                "shell",
                "-c",
                "from applications.models import LoanApplication; "
                f"print(LoanApplication.objects.filter(applicant_reference__startswith={prefix + '-'!r}).count())",
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        result.update({"loadavg_before": load, "stored": int(stored), "wrk_text": run.stdout})
        return result

    def finish(self) -> None:
        """Stop the server, then reconcile every run (warm-up included) and verify the chain."""
        REAPER.kill(self.server.process)
        for summary in self.runs:
            summary["reconcile"] = helper(
                self.env, "reconcile", "--prefix", summary["prefix"], "--acked", summary["ids_file"]
            )
        self.chain = verify_chain(self.env)
        self.fsync_after = fsync_probe(self.workdir)


def _cpu_columns(cpu: dict | None) -> str:
    if not cpu:
        return f"{'-':>11} {'-':>15} {'-':>6}"
    return (
        f"{cpu['server_cpu_ms_per_request']:11.3f} {cpu['machine_busy_ms_per_request']:15.3f} "
        f"{cpu['machine_idle_share'] * 100:5.1f}%"
    )


def invariants(runs: list[dict], chain: dict) -> list[str]:
    failures = []
    for run in runs:
        label, rec = run["prefix"], run["reconcile"]
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
        unanswered = run["sent"] - run["acked"]
        if rec["unacked_rows"] > unanswered:
            failures.append(
                f"{label}: {rec['unacked_rows']} stored row(s) nobody was told about, more than the "
                f"{unanswered} request(s) without an acknowledgement"
            )
        if rec["acked"] != run["acked"] or rec["rows"] - rec["unacked_rows"] != run["acked"]:
            failures.append(f"{label}: acknowledged {run['acked']} but reconciled {rec['acked']} / rows {rec['rows']}")
        if run["bad_location"]:
            failures.append(f"{label}: {run['bad_location']} redirect(s) not to /applications/<id>/")
        fivexx = sum(n for status, n in run["statuses"].items() if int(status) >= 500)
        if fivexx:
            failures.append(f"{label}: {fivexx} response(s) 5xx")
    if not chain.get("chain_ok") or chain.get("returncode"):
        failures.append(f"verify_decisions failed: {chain}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds of load for each app (default 15)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads for ours (default 2)")
    parser.add_argument("--officers", type=int, default=16, help="logged-in officer sessions to rotate (default 16)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds, ours then original in each (default 2)"
    )
    parser.add_argument("--skip-original", action="store_true", help="measure ours only")
    parser.add_argument(
        "--api", action="store_true", help="also POST /api/v1/applications/ (token, JSON) after each form round"
    )
    parser.add_argument("--require-targets", action="store_true", help="exit 1 if a speed target is missed")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    workdir = make_workdir("load-submit")
    started_load = loadavg()
    pairs: list[tuple[dict, dict | None]] = []
    try:
        ours = Ours(workdir, officers=args.officers, threads=args.threads, connections=args.connections, api=args.api)
        original = None if args.skip_original else Original(workdir)
        # Interleaved rounds (ours, original, ours, original, ...): on a shared machine the
        # background load drifts, so each ratio compares two measurements taken side by side.
        for number in range(1, args.rounds + 1):
            mine = ours.measure(number, duration=args.duration)
            if args.api:
                mine["api"] = ours.measure_api(number, duration=args.duration)
            theirs = original.measure(duration=args.duration, connections=args.connections) if original else None
            pairs.append((mine, theirs))
        ours.finish()
    finally:
        REAPER.stop_all()

    print()
    print(
        f"HTTP submit: POST /applications/new/ (ours, wrk -t{args.threads}) vs POST /predict (original, wrk -t1); "
        f"{args.connections} connections, {args.duration} s per measurement, 2 gunicorn sync workers each; "
        f"2 cores shared with other work (load average at start {started_load})"
    )
    print(
        f"{'round':6} {'':12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'load avg before':>18} "
        f"{'cpu ms/req':>11} {'machine ms/req':>15} {'idle':>6}"
    )
    ratios = []
    for number, (mine, theirs) in enumerate(pairs, start=1):
        errors = sum(mine["errors"].values()) + sum(
            n for st, n in mine["statuses"].items() if int(st) not in (302, 303)
        )
        mine["errors_total"] = errors
        print(
            f"{number:<6} {'ours':12} {mine['acked_per_s']:8.1f} {mine['p50_ms']:8.2f} {mine['p99_ms']:8.2f} "
            f"{errors:7d} {mine['loadavg_before']:>18} {_cpu_columns(mine.get('cpu'))}"
        )
        if theirs:
            print(
                f"{'':6} {'original':12} {theirs.get('requests_per_s', 0):8.1f} {theirs.get('p50_ms', 0):8.2f} "
                f"{theirs.get('p99_ms', 0):8.2f} {theirs.get('errors', 0):7d} {theirs['loadavg_before']:>18} "
                f"{_cpu_columns(theirs.get('cpu'))}"
            )
            if theirs.get("requests_per_s"):
                ratio = mine["acked_per_s"] / theirs["requests_per_s"]
                ratios.append(ratio)
                print(
                    f"{'':6} {'ours/orig.':12} {ratio:7.2f}x {mine['p50_ms'] / theirs['p50_ms']:7.2f}x "
                    f"{mine['p99_ms'] / theirs['p99_ms']:7.2f}x"
                )
    for number, (mine, _) in enumerate(pairs, start=1):
        api = mine.get("api")
        if api:
            print(
                f"{number:<6} {'ours API':12} {api.get('requests_per_s', 0):8.1f} {api.get('p50_ms', 0):8.2f} "
                f"{api.get('p99_ms', 0):8.2f} {api.get('errors', 0):7d} {api['loadavg_before']:>18}  "
                f"(POST /api/v1/applications/, JSON + token; {api['stored']} stored)"
            )
    best = max((mine for mine, _ in pairs), key=lambda m: m["acked_per_s"])
    median_ratio = statistics.median(ratios) if ratios else None
    measured = [mine for mine, _ in pairs]
    for mine in measured:
        rec = mine["reconcile"]
        print(
            f"reconciliation {mine['prefix']}: {rec['acked']} acknowledged, {rec['rows']} rows, {rec['missing']} missing, "
            f"{rec['duplicate_references']} duplicated, {rec['half_written']} half-written, {rec['unacked_rows']} "
            f"stored but unacknowledged ({mine['sent'] - mine['acked']} requests in flight at stop); "
            f"statuses {mine['statuses']}"
        )
    print(f"verify_decisions: chain_ok={ours.chain.get('chain_ok')} ({ours.chain.get('checked')} decisions)")
    print(
        "SQLite durable-commit probe on this disk (bare one-row transaction, WAL + synchronous=FULL): "
        + ", ".join(f"{m['fsync_before']['commit_ms']} ms" for m in measured)
        + f" before each round, {ours.fsync_after['commit_ms']} ms after; ceiling ~"
        + f"{min(m['fsync_before']['ceiling_per_s'] for m in measured)}-{max(m['fsync_before']['ceiling_per_s'] for m in measured)}"
        + " commits/s (SQLite fsyncs inside its one write lock)"
    )
    cpu_pairs = [
        (mine["cpu"], theirs["cpu"]) for mine, theirs in pairs if theirs and mine.get("cpu") and theirs.get("cpu")
    ]
    if cpu_pairs:
        ours_ms = statistics.median(m["machine_busy_ms_per_request"] for m, _ in cpu_pairs)
        theirs_ms = statistics.median(t["machine_busy_ms_per_request"] for _, t in cpu_pairs)
        idle = statistics.median(m["machine_idle_share"] for m, _ in cpu_pairs)
        print(
            f"machine time per request (median, all processes): ours {ours_ms:.3f} ms, original {theirs_ms:.3f} ms "
            f"({theirs_ms / ours_ms:.2f}x); cores idle during ours {idle * 100:.1f}% (workers waiting, "
            "e.g. for the commit's fsync), during the original "
            f"{statistics.median(t['machine_idle_share'] for _, t in cpu_pairs) * 100:.1f}%"
        )
    failures = invariants(ours.runs, ours.chain)
    targets = {
        "rps>=600": best["acked_per_s"] >= TARGET_RPS,
        "p99<=40ms": best["p99_ms"] <= TARGET_P99_MS,
        "ratio>=5.5": median_ratio is not None and median_ratio >= TARGET_RATIO,
    }
    print(
        "targets (best round; median ratio "
        + (f"{median_ratio:.2f}x" if median_ratio else "-")
        + "): "
        + ", ".join(f"{name} {'PASS' if ok else 'MISS'}" for name, ok in targets.items())
    )
    for failure in failures:
        print(f"INVARIANT FAILED: {failure}")
    strip = ("wrk_text", "ids_file", "retried_file")
    report = {
        "rounds": [
            {
                "ours": {k: v for k, v in mine.items() if k not in strip},
                "original": {k: v for k, v in (theirs or {}).items() if k not in strip},
            }
            for mine, theirs in pairs
        ],
        "warmup": {k: v for k, v in ours.runs[0].items() if k not in strip},
        "ratios": ratios,
        "median_ratio": median_ratio,
        "targets": targets,
        "invariant_failures": failures,
        "chain": ours.chain,
        "fsync_after": ours.fsync_after,
        "loadavg_start": started_load,
        "loadavg_end": loadavg(),
    }
    print("LOAD_SUBMIT_JSON " + json.dumps(report, sort_keys=True))
    if failures:
        print(ours.server.log_tail(1500), file=sys.stderr)
        return 1
    if args.require_targets and not all(targets.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
