"""Load and fault tests: nothing acknowledged is ever lost, duplicated or half-written.

    .venv/bin/python bench/load_faults.py [--db sqlite|postgres|both] [--duration 60] [--only load,scaleout,kill,model,dbdown]

Every scenario runs the production configuration (gunicorn.conf.py, 2 sync
workers, ``DJANGO_DEBUG=0``) on loopback against a fresh database of its own
(a temporary SQLite file, or a throwaway database on the PostgreSQL server at
127.0.0.1:5432), with officers logged in by a real POST, and is bounded in
time. After each one, every acknowledged submission (a 302/303 to
``/applications/<id>/``) is reconciled against the database and
``manage.py verify_decisions`` must report an intact chain.

* ``load``: 32 officers for ``--duration`` seconds (wrk, ``bench/lua/submit.lua``):
  every 10th request re-sends the previous form with the same idempotency
  token (a double click / retried POST: must store one application), every
  7th form carries no token (a script: still accepted). 0 lost, 0 duplicated,
  0 responses 5xx; submissions/s, p50, p99.
* ``scaleout`` (PostgreSQL): two gunicorn servers on two ports, one database,
  loaded at once; the same reconciliation, one valid chain.
* ``kill``: ``kill -9`` of a gunicorn worker five times during the load; no
  acknowledged record missing, none half-written (every scored row has its
  probability, decision and exactly one decision record; pending rows none).
* ``model``: the server reads a copy of ``models_store`` (``SCORING_MODELS_STORE``);
  while officers submit, the artifact is removed, restored, corrupted and
  restored again. Officers get a redirect to a page that says PENDING (never
  a 5xx), ``/healthz`` turns red and green again, new submissions are scored
  again after the fix without a restart, and ``manage.py score_pending``
  scores the ones kept as PENDING.
* ``dbdown`` (PostgreSQL): a dedicated PostgreSQL cluster created under /tmp
  on its own port (``initdb``; the shared server is never touched) is
  stopped (``pg_ctl stop -m immediate``, a crash) while officers submit:
  they get the 503 page saying nothing was saved, nothing is acknowledged
  that is not stored, and the same workers (no restart) serve again once
  the database is back.

Prints one ``FAULTS_JSON {...}`` line per scenario and exits 1 if any
invariant fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_common import (  # noqa: E402
    REAPER,
    ROOT,
    Officer,
    app_env,
    create_database,
    free_port,
    helper,
    loadavg,
    log,
    login_officers,
    make_workdir,
    manage,
    prepare_database,
    run_wrk_submit,
    start_gunicorn,
    unique_amount,
    verify_chain,
    write_sessions_file,
)

PG_BIN = Path(os.environ.get("BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
SCENARIOS = ("load", "scaleout", "kill", "model", "dbdown")


def check(failures: list[str], condition: bool, message: str) -> None:
    if not condition:
        failures.append(message)


def reconcile_checks(
    failures: list[str], rec: dict, *, sent_unacked: int, label: str = "", allow_pending: bool = False
) -> None:
    p = f"{label}: " if label else ""
    check(failures, rec["missing"] == 0, f"{p}{rec['missing']} acknowledged id(s) missing: {rec['missing_ids']}")
    check(
        failures,
        rec["duplicate_references"] == 0,
        f"{p}{rec['duplicate_references']} duplicated reference(s): {rec['duplicate_reference_examples']}",
    )
    check(
        failures, rec["half_written"] == 0, f"{p}{rec['half_written']} half-written row(s): {rec['half_written_ids']}"
    )
    if not allow_pending:
        check(failures, rec["acked_not_scored"] == 0, f"{p}{rec['acked_not_scored']} acknowledged row(s) not scored")
    check(
        failures,
        rec["unacked_rows"] <= sent_unacked,
        f"{p}{rec['unacked_rows']} stored row(s) nobody was told about, but only {sent_unacked} request(s) "
        f"went unacknowledged",
    )
    if "retried_tokens" in rec:
        check(
            failures,
            rec["retried_tokens_stored_once"] + rec["retried_tokens_missing"] == rec["retried_tokens"],
            f"{p}a retried token stored more than once",
        )


def chain_checks(failures: list[str], chain: dict, label: str = "") -> None:
    check(
        failures,
        bool(chain.get("chain_ok")) and chain.get("returncode") == 0,
        f"{label + ': ' if label else ''}verify_decisions failed: {chain}",
    )


def wrk_checks(failures: list[str], summary: dict, label: str, *, allow_socket_errors: bool = False) -> None:
    fivexx = sum(n for status, n in summary["statuses"].items() if int(status) >= 500)
    other = {s: n for s, n in summary["statuses"].items() if int(s) not in (302, 303)}
    check(failures, fivexx == 0, f"{label}: {fivexx} response(s) 5xx ({summary['statuses']})")
    check(failures, not other, f"{label}: responses other than a redirect: {other}")
    check(failures, summary["bad_location"] == 0, f"{label}: {summary['bad_location']} redirect(s) elsewhere")
    if not allow_socket_errors:
        errors = {k: v for k, v in summary["errors"].items() if v and k != "status"}
        check(failures, not errors, f"{label}: socket errors {errors}")


def figures(summary: dict) -> dict:
    return {
        k: summary[k]
        for k in (
            "acked",
            "acked_per_s",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "sent",
            "retries_sent",
            "statuses",
            "errors",
            "seconds",
        )
    }


def setup_app(kind: str, name: str, workdir: Path, officers: int, prefix: str, **extra_env: str):
    database_url = create_database(kind, name, workdir)
    env = app_env(database_url, **extra_env)
    usernames = prepare_database(env, officers=officers, prefix=prefix)
    return env, usernames


def tokens_file(summary: dict, workdir: Path) -> Path | None:
    path = Path(summary.get("retried_file") or "")
    return path if path.is_file() else None


# --- (a) load ------------------------------------------------------------------------------------
def scenario_load(kind: str, workdir: Path, duration: int) -> dict:
    prefix = f"fl{kind[:2]}{int(time.time()) % 100000}"
    env, usernames = setup_app(kind, f"bench_faults_load_{os.getpid()}", workdir, 32, prefix)
    server = start_gunicorn(env, workdir, name=f"load-{kind}")
    failures: list[str] = []
    try:
        officers = login_officers(server.port, usernames)
        sessions = write_sessions_file(officers, workdir / f"sessions-load-{kind}.txt")
        warm = run_wrk_submit(server.port, sessions, prefix + "w", workdir, threads=2, connections=8, duration=3)
        load = loadavg()
        log(f"load/{kind}: wrk -t2 -c32 -d{duration}s, every 10th POST retried with the same token (load {load})")
        summary = run_wrk_submit(
            server.port,
            sessions,
            prefix,
            workdir,
            threads=2,
            connections=32,
            duration=duration,
            dup_every=10,
            no_token_every=7,
        )
    finally:
        REAPER.kill(server.process)
    rec = helper(
        env, "reconcile", "--prefix", prefix, "--acked", summary["ids_file"], "--tokens", summary["retried_file"]
    )
    chain = verify_chain(env)
    wrk_checks(failures, summary, f"load/{kind}")
    reconcile_checks(failures, rec, sent_unacked=summary["sent"] - summary["acked"])
    check(
        failures,
        rec["acked_repeated"] <= summary["retries_sent"],
        f"load/{kind}: {rec['acked_repeated']} repeated acknowledgements but only {summary['retries_sent']} retries",
    )
    check(failures, rec["retried_tokens"] > 0, f"load/{kind}: no retried POST was sent")
    chain_checks(failures, chain, f"load/{kind}")
    return {
        "scenario": "load",
        "db": kind,
        "loadavg_before": load,
        "loadavg_after": loadavg(),
        **figures(summary),
        "warmup_acked": warm["acked"],
        "reconcile": rec,
        "chain_ok": chain.get("chain_ok"),
        "chain_checked": chain.get("checked"),
        "failures": failures,
    }


# --- (b) scale-out ----------------------------------------------------------------------------------
def scenario_scaleout(kind: str, workdir: Path, duration: int) -> dict:
    prefix = f"fs{int(time.time()) % 100000}"
    env, usernames = setup_app(kind, f"bench_faults_scale_{os.getpid()}", workdir, 32, prefix)
    servers = [start_gunicorn(env, workdir, name=f"scale{i}") for i in (1, 2)]
    failures: list[str] = []
    results: dict[int, dict] = {}
    try:
        # One login per officer; its session (in the shared database) works on either server.
        officers = login_officers(servers[0].port, usernames)
        sessions = write_sessions_file(officers, workdir / "sessions-scale.txt")
        for i, server in enumerate(servers):
            run_wrk_submit(server.port, sessions, f"{prefix}w{i}", workdir, threads=1, connections=4, duration=2)
        load = loadavg()
        log(
            f"scaleout/{kind}: two servers (ports {servers[0].port}, {servers[1].port}) x wrk -t1 -c16 "
            f"-d{duration}s at once (load {load})"
        )

        def run(i: int) -> None:
            try:
                results[i] = run_wrk_submit(
                    servers[i].port,
                    sessions,
                    f"{prefix}s{i}",
                    workdir,
                    threads=1,
                    connections=16,
                    duration=duration,
                    dup_every=10,
                )
            except Exception as error:  # noqa: BLE001
                results[i] = {"error": str(error)}

        threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=duration + 180)
    finally:
        for server in servers:
            REAPER.kill(server.process)
    out: dict = {"scenario": "scaleout", "db": kind, "loadavg_before": load, "loadavg_after": loadavg(), "servers": {}}
    total_acked = 0
    for i in (0, 1):
        summary = results.get(i, {"error": "no result"})
        if "error" in summary:
            failures.append(f"scaleout server {i + 1}: {summary['error']}")
            continue
        rec = helper(
            env,
            "reconcile",
            "--prefix",
            f"{prefix}s{i}",
            "--acked",
            summary["ids_file"],
            "--tokens",
            summary["retried_file"],
        )
        wrk_checks(failures, summary, f"scaleout/{kind}/server{i + 1}")
        reconcile_checks(failures, rec, sent_unacked=summary["sent"] - summary["acked"], label=f"server{i + 1}")
        out["servers"][f"server{i + 1}"] = {**figures(summary), "reconcile": rec}
        total_acked += summary["acked"]
    chain = verify_chain(env)
    chain_checks(failures, chain, f"scaleout/{kind}")
    seconds = max((results[i].get("seconds", 0) for i in results if "seconds" in results[i]), default=0) or 1
    out.update(
        {
            "acked_total": total_acked,
            "acked_per_s_total": round(total_acked / seconds, 1),
            "chain_ok": chain.get("chain_ok"),
            "chain_checked": chain.get("checked"),
            "failures": failures,
        }
    )
    return out


# --- (c) kill -9 ----------------------------------------------------------------------------------------
def scenario_kill(kind: str, workdir: Path, duration: int, kills: int = 5) -> dict:
    prefix = f"fk{kind[:2]}{int(time.time()) % 100000}"
    env, usernames = setup_app(kind, f"bench_faults_kill_{os.getpid()}", workdir, 16, prefix)
    server = start_gunicorn(env, workdir, name=f"kill-{kind}")
    failures: list[str] = []
    killed: list[dict] = []
    try:
        officers = login_officers(server.port, usernames)
        sessions = write_sessions_file(officers, workdir / f"sessions-kill-{kind}.txt")
        run_wrk_submit(server.port, sessions, prefix + "w", workdir, threads=2, connections=8, duration=2)
        duration = max(duration, 3 * kills + 3)
        load = loadavg()
        log(f"kill/{kind}: wrk -t2 -c16 -d{duration}s, kill -9 of a worker {kills} times (load {load})")
        box: dict = {}
        runner = threading.Thread(
            target=lambda: box.update(
                summary=run_wrk_submit(
                    server.port, sessions, prefix, workdir, threads=2, connections=16, duration=duration, timeout="5s"
                )
            )
        )
        runner.start()
        gap = duration / (kills + 1)
        rng = random.Random(7)
        for number in range(kills):
            time.sleep(gap * (0.75 + rng.random() * 0.5) if number else gap)
            pids = server.worker_pids()
            if not pids:
                failures.append(f"kill/{kind}: no worker to kill at kill #{number + 1}")
                continue
            victim = pids[number % len(pids)]
            os.kill(victim, signal.SIGKILL)
            killed.append({"at_s": round(gap * (number + 1), 1), "pid": victim})
        runner.join(timeout=duration + 180)
        summary = box.get("summary")
        survivors = server.worker_pids()
    finally:
        REAPER.kill(server.process)
    if summary is None:
        return {"scenario": "kill", "db": kind, "failures": failures + ["wrk produced no summary"]}
    rec = helper(env, "reconcile", "--prefix", prefix, "--acked", summary["ids_file"])
    chain = verify_chain(env)
    fivexx = sum(n for status, n in summary["statuses"].items() if int(status) >= 500)
    reconcile_checks(failures, rec, sent_unacked=summary["sent"] - summary["acked"])
    chain_checks(failures, chain, f"kill/{kind}")
    check(failures, len(killed) == kills, f"kill/{kind}: only {len(killed)} kill(s) happened")
    check(failures, not set(p["pid"] for p in killed) & set(survivors), f"kill/{kind}: a killed worker survived")
    return {
        "scenario": "kill",
        "db": kind,
        "loadavg_before": load,
        "loadavg_after": loadavg(),
        **figures(summary),
        "kills": killed,
        "workers_after": survivors,
        "responses_5xx": fivexx,
        "unacknowledged_requests": summary["sent"] - summary["acked"],
        "reconcile": rec,
        "chain_ok": chain.get("chain_ok"),
        "chain_checked": chain.get("checked"),
        "failures": failures,
    }


# --- A Python driver for the fault scenarios that look at pages ---------------------------------------------
@dataclass
class Sample:
    at: float
    phase: str
    status: int
    application_id: int | None
    seconds: float
    page: str = ""
    error: str = ""


@dataclass
class Driver:
    """A few officers submitting in a loop until told to stop (bounded by a deadline and a count)."""

    officers: list[Officer]
    prefix: str
    deadline: float
    follow_every: int = 5
    max_requests: int = 200_000
    phase: str = "normal"
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = field(default_factory=time.monotonic)

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._loop, args=(i, o), daemon=True) for i, o in enumerate(self.officers)]
        for thread in threads:
            thread.start()
        return threads

    def _loop(self, index: int, officer: Officer) -> None:
        number = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline and len(self.samples) < self.max_requests:
            number += 1
            phase = self.phase
            reference = f"{self.prefix}-{index}-{number}"
            token = f"{self.prefix}t{index}n{number}"
            try:
                # One officer per loop: distinct amounts keep its requests from being duplicates of each other.
                response = officer.submit(reference, token, loan_amnt=unique_amount(number))
                if self.phase != phase:
                    phase = "transition"  # the phase changed while this request was in flight
            except Exception as error:  # noqa: BLE001 - a refused/reset connection is a sample too
                with self.lock:
                    self.samples.append(
                        Sample(time.monotonic() - self.started, phase, 0, None, 0.0, error=type(error).__name__)
                    )
                time.sleep(0.05)
                continue
            page = ""
            if response.status in (302, 303) and number % self.follow_every == 1 and response.application_id:
                page = self._page(officer, response.application_id)
            elif response.status not in (302, 303):
                page = response.body[:4000]
            with self.lock:
                self.samples.append(
                    Sample(
                        time.monotonic() - self.started,
                        phase,
                        response.status,
                        response.application_id,
                        response.seconds,
                        page=page,
                    )
                )
            if response.status >= 500:
                time.sleep(0.05)

    @staticmethod
    def _page(officer: Officer, pk: int) -> str:
        try:
            return officer.request("GET", f"/applications/{pk}/").body
        except Exception as error:  # noqa: BLE001
            return f"(could not load the page: {error})"

    def acked_file(self, path: Path) -> Path:
        path.write_text("".join(f"{s.application_id}\n" for s in self.samples if s.application_id))
        return path

    def by_phase(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for sample in self.samples:
            entry = out.setdefault(sample.phase, {"requests": 0, "statuses": Counter(), "errors": Counter()})
            entry["requests"] += 1
            entry["statuses"][str(sample.status)] += 1
            if sample.error:
                entry["errors"][sample.error] += 1
        return {k: {**v, "statuses": dict(v["statuses"]), "errors": dict(v["errors"])} for k, v in out.items()}


def healthz(port: int) -> tuple[int, dict]:
    import http.client

    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        connection.close()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, {"body": body[:200]}
    except OSError as error:
        return 0, {"error": str(error)}


def healthz_both_workers(port: int, tries: int = 6) -> list[int]:
    """A few polls (the balancer would poll each server often; each poll lands on one worker)."""
    return [healthz(port)[0] for _ in range(tries)]


# --- (d) the model artifact removed or corrupted while serving -------------------------------------------------
def scenario_model(kind: str, workdir: Path, phase_seconds: float) -> dict:
    prefix = f"fm{kind[:2]}{int(time.time()) % 100000}"
    store = workdir / f"models_store_copy_{kind}"
    shutil.copytree(ROOT / "models_store", store)
    version = (store / "ACTIVE").read_text().strip()
    artifact = store / version / "model.joblib"
    pristine = workdir / f"model-{kind}.joblib.orig"
    shutil.copyfile(artifact, pristine)
    env, usernames = setup_app(
        kind, f"bench_faults_model_{os.getpid()}", workdir, 4, prefix, SCORING_MODELS_STORE=str(store)
    )
    server = start_gunicorn(env, workdir, name=f"model-{kind}")
    failures: list[str] = []
    events: list[dict] = []
    try:
        officers = login_officers(server.port, usernames)
        workers_before = sorted(server.worker_pids())
        driver = Driver(officers=officers, prefix=prefix, deadline=time.monotonic() + 8 * phase_seconds + 60)
        threads = driver.run()

        def phase(name: str, action=None) -> None:
            # Requests that start or end while the change is made are labelled "transition"
            # and not held to either phase's expectation.
            driver.phase = "transition"
            if action:
                action()
            changed_at = round(time.monotonic() - driver.started, 3)
            driver.phase = name
            time.sleep(phase_seconds / 2)
            health = healthz_both_workers(server.port)
            events.append({"phase": name, "changed_at_s": changed_at, "healthz": health})
            time.sleep(phase_seconds / 2)

        def restore() -> None:
            # As an operator would: copy beside it, then rename into place (atomic).
            staging = artifact.with_suffix(".restoring")
            shutil.copyfile(pristine, staging)
            os.replace(staging, artifact)

        def corrupt() -> None:
            data = bytearray(pristine.read_bytes())
            for offset in range(1000, len(data), 4096):
                data[offset] ^= 0xFF
            artifact.write_bytes(bytes(data))

        phase("normal")
        phase("removed", lambda: artifact.unlink())
        phase("restored", restore)
        phase("corrupted", corrupt)
        phase("fixed", restore)
        driver.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        workers_after = sorted(server.worker_pids())
    finally:
        REAPER.kill(server.process)
    acked = driver.acked_file(workdir / f"acked-model-{kind}.txt")
    before = helper(env, "reconcile", "--prefix", prefix, "--acked", str(acked))
    pending_run = manage(env, "score_pending", check=False)
    after = helper(env, "reconcile", "--prefix", prefix, "--acked", str(acked))
    chain = verify_chain(env)
    phases = driver.by_phase()
    for name, entry in phases.items():
        bad = {s: n for s, n in entry["statuses"].items() if s not in ("302", "303")}
        if name == "transition":
            continue
        check(failures, not bad, f"model/{kind}/{name}: responses other than a redirect: {bad} {entry['errors']}")
    pages = {name: Counter() for name in phases}
    anomalies = []
    for sample in driver.samples:
        if sample.page:
            text = sample.page
            kind_of_page = (
                "pending"
                if "PENDING" in text and "Not scored yet" in text
                else "scored"
                if any(d in text for d in ("APPROVE", "REVIEW", "DECLINE"))
                else "other"
            )
            pages[sample.phase][kind_of_page] += 1
            if sample.phase != "transition" and (kind_of_page == "scored") == (
                sample.phase in ("removed", "corrupted")
            ):
                anomalies.append(
                    {
                        "phase": sample.phase,
                        "page": kind_of_page,
                        "id": sample.application_id,
                        "answered_at_s": round(sample.at, 3),
                        "latency_s": round(sample.seconds, 3),
                    }
                )
    # While the artifact is gone or damaged, pages say PENDING; once fixed, decisions again.
    for name in ("removed", "corrupted"):
        check(failures, pages.get(name, Counter())["pending"] > 0, f"model/{kind}: no PENDING page seen while {name}")
    for name in ("normal", "restored", "fixed"):
        check(
            failures,
            pages.get(name, Counter())["scored"] > 0 and pages[name]["pending"] == 0,
            f"model/{kind}: {name}: pages {dict(pages.get(name, {}))}",
        )
    for name in ("removed", "corrupted"):
        check(
            failures,
            pages.get(name, Counter())["scored"] == 0,
            f"model/{kind}: a decision was made while the model was {name}: {dict(pages.get(name, {}))}",
        )
    check(failures, not anomalies, f"model/{kind}: pages not matching the model's state: {anomalies[:5]}")
    health = {e["phase"]: e["healthz"] for e in events}
    check(
        failures,
        all(code == 503 for code in health["removed"] + health["corrupted"]),
        f"model/{kind}: /healthz not red while the model was broken: {health}",
    )
    check(
        failures,
        all(code == 200 for code in health["normal"] + health["fixed"] + health["restored"]),
        f"model/{kind}: /healthz not green with a good model: {health}",
    )
    check(
        failures,
        workers_before == workers_after,
        f"model/{kind}: workers restarted {workers_before} -> {workers_after}",
    )
    reconcile_checks(failures, before, sent_unacked=0, allow_pending=True)
    check(failures, before["pending"] > 0, f"model/{kind}: nothing was kept as PENDING")
    check(failures, pending_run.returncode == 0, f"model/{kind}: score_pending failed: {pending_run.stderr[-500:]}")
    reconcile_checks(failures, after, sent_unacked=0, label="after score_pending")
    check(failures, after["pending"] == 0, f"model/{kind}: {after['pending']} still PENDING after score_pending")
    chain_checks(failures, chain, f"model/{kind}")
    return {
        "scenario": "model",
        "db": kind,
        "phases": phases,
        "pages": {k: dict(v) for k, v in pages.items()},
        "healthz": health,
        "phase_changes_s": {e["phase"]: e["changed_at_s"] for e in events},
        "page_anomalies": anomalies[:20],
        "pending_before_score_pending": before["pending"],
        "score_pending": pending_run.stdout.strip()[-200:],
        "pending_after": after["pending"],
        "acked": before["acked"],
        "rows": after["rows"],
        "workers_restarted": workers_before != workers_after,
        "reconcile_after": after,
        "chain_ok": chain.get("chain_ok"),
        "chain_checked": chain.get("checked"),
        "failures": failures,
    }


# --- (e) the database stopped while serving (dedicated PostgreSQL cluster) ---------------------------------------
class Cluster:
    """A throwaway PostgreSQL cluster under /tmp on its own port, run as the postgres user."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "pgcluster"
        self.port = free_port()
        self.log = workdir / "pgcluster.log"

    def _as_postgres(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [*args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def create(self) -> None:
        self.dir.mkdir(parents=True)
        shutil.chown(self.dir, "postgres", "postgres") if os.geteuid() == 0 else None
        self.dir.parent.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir.parent, "postgres", "postgres")
        result = self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "--auth=trust", "-U", "postgres", "--no-sync"
        )
        if result.returncode:
            raise RuntimeError(f"initdb failed: {result.stderr[-1000:]}")
        REAPER.arm()
        REAPER.cleanups.append(self.destroy)
        self.start()

    def start(self) -> None:
        result = self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.dir / "data"),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
            "start",
        )
        if result.returncode:
            raise RuntimeError(f"pg_ctl start failed: {result.stderr[-1000:]} {self.log.read_text()[-1000:]}")

    def stop(self, mode: str = "immediate") -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        if (self.dir / "data" / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def scenario_dbdown(workdir: Path, phase_seconds: float) -> dict:
    prefix = f"fd{int(time.time()) % 100000}"
    cluster = Cluster(workdir)
    cluster.create()
    database_url = f"postgres://postgres@127.0.0.1:{cluster.port}/postgres"
    env = app_env(database_url)
    usernames = prepare_database(env, officers=4, prefix=prefix)
    server = start_gunicorn(env, workdir, name="dbdown")
    failures: list[str] = []
    events: list[dict] = []
    try:
        officers = login_officers(server.port, usernames)
        workers_before = sorted(server.worker_pids())
        driver = Driver(officers=officers, prefix=prefix, deadline=time.monotonic() + 4 * phase_seconds + 90)
        threads = driver.run()
        driver.phase = "normal"
        time.sleep(phase_seconds)
        events.append({"phase": "normal", "healthz": healthz_both_workers(server.port)})
        log("dbdown: pg_ctl stop -m immediate")
        driver.phase = "stopping"  # requests in flight while the server goes down: either outcome is fine
        stopped_at = time.monotonic() - driver.started
        cluster.stop("immediate")
        driver.phase = "down"
        time.sleep(phase_seconds / 2)
        events.append({"phase": "down", "healthz": healthz_both_workers(server.port)})
        time.sleep(phase_seconds / 2)
        log("dbdown: pg_ctl start")
        driver.phase = "starting"
        cluster.start()
        driver.phase = "recovering"
        back = time.monotonic()
        recovered_after = None
        while time.monotonic() - back < 30:
            with driver.lock:
                recent = [s for s in driver.samples if s.phase == "recovering" and s.status in (302, 303)]
            if recent:
                recovered_after = round(recent[0].at - (back - driver.started), 2)
                break
            time.sleep(0.1)
        driver.phase = "back"
        time.sleep(phase_seconds)
        events.append({"phase": "back", "healthz": healthz_both_workers(server.port)})
        driver.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        workers_after = sorted(server.worker_pids())
    finally:
        REAPER.kill(server.process)
    acked = driver.acked_file(workdir / "acked-dbdown.txt")
    rec = helper(env, "reconcile", "--prefix", prefix, "--acked", str(acked))
    chain = verify_chain(env)
    phases = driver.by_phase()
    down_samples = [s for s in driver.samples if s.phase == "down"]
    clear_503 = sum(1 for s in down_samples if s.status == 503 and "not saved" in s.page)
    other_down = Counter(str(s.status) for s in down_samples if not (s.status == 503 and "not saved" in s.page))
    unacked = sum(1 for s in driver.samples if not s.application_id)
    # Before the stop (answered before it) and after recovery: every submission stored.
    before = Counter(str(s.status) for s in driver.samples if s.phase == "normal" and s.at < stopped_at)

    def in_flight(sample: Sample) -> bool:  # answered around a change (stop, start)
        return sample.phase in ("transition", "stopping") or (sample.phase == "normal" and sample.at >= stopped_at)

    straddling = Counter(str(s.status) for s in driver.samples if in_flight(s))
    for name, statuses in (("before the stop", before), ("back", Counter(phases.get("back", {}).get("statuses", {})))):
        bad = {s: n for s, n in statuses.items() if s not in ("302", "303")}
        check(failures, bool(statuses) and not bad, f"dbdown/{name}: {dict(statuses)}")
    straddling_bad = [
        s
        for s in driver.samples
        if in_flight(s) and s.status not in (302, 303) and not (s.status == 503 and "not saved" in s.page)
    ]
    check(failures, not straddling_bad, f"dbdown: in flight at the stop, unclear answers: {len(straddling_bad)}")
    check(failures, clear_503 > 0, "dbdown: no clear 503 page while the database was down")
    check(
        failures,
        not {s for s in other_down if s not in ("0",)} - {"302", "303"},
        f"dbdown: while down, responses other than the 503 page: {dict(other_down)}",
    )
    check(failures, recovered_after is not None, "dbdown: no successful submission within 30 s of the restart")
    check(failures, workers_before == workers_after, f"dbdown: workers restarted {workers_before} -> {workers_after}")
    health = {e["phase"]: e["healthz"] for e in events}
    check(failures, all(code == 503 for code in health["down"]), f"dbdown: /healthz not red while down: {health}")
    check(failures, all(code == 200 for code in health["back"]), f"dbdown: /healthz not green after: {health}")
    reconcile_checks(failures, rec, sent_unacked=unacked)
    chain_checks(failures, chain, "dbdown")
    return {
        "scenario": "dbdown",
        "db": f"postgres (dedicated cluster on port {cluster.port})",
        "phases": phases,
        "clear_503_pages_while_down": clear_503,
        "other_while_down": dict(other_down),
        "in_flight_at_stop": dict(straddling),
        "recovered_after_s": recovered_after,
        "healthz": health,
        "workers_restarted": workers_before != workers_after,
        "reconcile": rec,
        "chain_ok": chain.get("chain_ok"),
        "chain_checked": chain.get("checked"),
        "failures": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load per load scenario (default 60)")
    parser.add_argument(
        "--fault-phase", type=float, default=6.0, help="seconds per phase of the model/dbdown scenarios"
    )
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}")
    args = parser.parse_args()
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    workdir = make_workdir("faults")
    workdir.chmod(0o755)
    results: list[dict] = []
    plan: list[tuple[str, str]] = []
    for kind in kinds:
        for name in wanted:
            if name in ("scaleout", "dbdown") and kind != "postgres":
                continue
            plan.append((name, kind))
    log(f"plan: {plan}; load average {loadavg()}")
    try:
        for name, kind in plan:
            started = time.monotonic()
            try:
                if name == "load":
                    result = scenario_load(kind, workdir, args.duration)
                elif name == "scaleout":
                    result = scenario_scaleout(kind, workdir, args.duration)
                elif name == "kill":
                    result = scenario_kill(kind, workdir, max(20, args.duration // 2))
                elif name == "model":
                    result = scenario_model(kind, workdir, args.fault_phase)
                else:
                    result = scenario_dbdown(workdir, args.fault_phase)
            except Exception as error:  # noqa: BLE001 - report and go on with the next scenario
                import traceback

                traceback.print_exc()
                result = {"scenario": name, "db": kind, "failures": [f"crashed: {type(error).__name__}: {error}"]}
            finally:
                REAPER.stop_processes()
            result["elapsed_s"] = round(time.monotonic() - started, 1)
            result["ok"] = not result["failures"]
            results.append(result)
            print("FAULTS_JSON " + json.dumps(result, sort_keys=True, default=str), flush=True)
    finally:
        REAPER.stop_all()
    print()
    print(f"{'scenario':10} {'db':9} {'ok':4} {'acked':>7} {'acked/s':>8} {'p50 ms':>8} {'p99 ms':>8}  notes")
    for r in results:
        note = "; ".join(r["failures"])[:160] if r["failures"] else ""
        if r["scenario"] == "scaleout" and "servers" in r:
            note = (
                note or f"2 servers, {r.get('acked_per_s_total')} acked/s together, chain {r.get('chain_checked')} ok"
            )
        print(
            f"{r['scenario']:10} {str(r['db'])[:9]:9} {'yes' if r['ok'] else 'NO':4} {r.get('acked', r.get('acked_total', '-')):>7} "
            f"{r.get('acked_per_s', r.get('acked_per_s_total', '-')):>8} {r.get('p50_ms', '-'):>8} {r.get('p99_ms', '-'):>8}  {note}"
        )
    print(f"load average at the end: {loadavg()}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
