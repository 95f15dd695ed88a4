"""Shared pieces of the HTTP load and fault benchmarks (``load_submit.py``, ``load_faults.py``).

Everything here stays on loopback, is bounded in time, and stops what it
starts: every server runs in its own process group, which ``Reaper`` kills
on exit, on an exception and on SIGINT/SIGTERM.

Run as a script inside a bench environment (``DATABASE_URL`` set), it also
offers two Django-side helpers used by the drivers::

    python bench/load_common.py make-officers --count N --prefix P --password PW
    python bench/load_common.py reconcile --prefix P --acked FILE [--tokens FILE]
"""

from __future__ import annotations

import atexit
import http.client
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
GUNICORN = str(VENV_BIN / "gunicorn")
LUA_SUBMIT = ROOT / "bench" / "lua" / "submit.lua"
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("BENCH_PG_PORT", "5432")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
# A bench-only password for throwaway users in throwaway databases.
OFFICER_PASSWORD = "bench-officer-" + secrets.token_urlsafe(12)

FORM = {
    "person_age": "31",
    "person_income": "52000",
    "person_home_ownership": "RENT",
    "person_emp_length": "6.5",
    "loan_intent": "EDUCATION",
    "loan_grade": "B",
    "loan_amnt": "12000",
    "loan_int_rate": "11.25",
    "cb_person_default_on_file": "N",
    "cb_person_cred_hist_length": "7",
}


def unique_amount(number: int) -> str:
    """A loan amount for request ``number``: distinct cents, so no two bench requests are duplicates.

    The product warns (and stores nothing) on the same inputs from the same
    officer within 10 minutes (applications.services.DUPLICATE_WINDOW).
    """
    return f"{12000 + (number % 1_000_000) / 100:.2f}"


_WRK_RUNS = itertools.count()


def next_wrk_run() -> int:
    """This bench process's next wrk run number (BENCH_RUN): the Lua scripts count requests from 1 in
    every run, so inputs they derive from the count alone would repeat across runs within the duplicate
    window and be refused as possible duplicates (409) instead of being measured."""
    return next(_WRK_RUNS)


LOCATION_RE = re.compile(r"/applications/(\d+)/$")
CSRF_INPUT_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
IDEMPOTENCY_INPUT_RE = re.compile(r'name="idempotency_key" value="([^"]*)"')


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds so far: of some processes (user + system), and of the whole machine busy and idle."""

    processes: dict[int, float]
    machine_busy: float
    machine_idle: float


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (e.g. a gunicorn master's workers); empty once it has exited."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_sample(pids: list[int]) -> CpuSample:
    """Where the CPU time has gone so far (Linux ``/proc``); compare two with ``cpu_share``."""
    times = {pid: seconds for pid in pids if (seconds := _process_cpu_seconds(pid)) is not None}
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait: nothing ran
    hertz = os.sysconf("SC_CLK_TCK")
    return CpuSample(processes=times, machine_busy=(sum(ticks[:8]) - idle) / hertz, machine_idle=idle / hertz)


def cpu_share(before: CpuSample, after: CpuSample, requests: int) -> dict[str, float]:
    """CPU per request between two samples: the server's processes, the whole machine, and the idle share.

    Only processes alive at both samples count (a worker that was replaced
    in between would otherwise be counted from zero). The machine's busy time
    includes the load generator and the kernel's own work (network, disk).
    """
    if requests <= 0:
        return {}
    common = before.processes.keys() & after.processes.keys()
    server = sum(after.processes[pid] - before.processes[pid] for pid in common)
    busy = after.machine_busy - before.machine_busy
    idle = after.machine_idle - before.machine_idle
    return {
        "server_cpu_ms_per_request": round(server / requests * 1000, 3),
        "machine_busy_ms_per_request": round(busy / requests * 1000, 3),
        "machine_idle_share": round(idle / (busy + idle), 4) if busy + idle > 0 else 0.0,
    }


def fsync_probe(directory: Path, commits: int = 200) -> dict[str, float]:
    """Commit latency of a bare one-row SQLite transaction (WAL, synchronous=FULL) in ``directory``.

    SQLite commits one writer at a time and fsyncs inside the write lock, so
    ``1 / latency`` is the ceiling for durable submissions per second on this
    disk, whatever the application does.
    """
    import sqlite3

    path = Path(directory) / f"fsync-probe-{os.getpid()}.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE t (x INTEGER)")
        started = time.perf_counter()
        for number in range(commits):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO t VALUES (?)", (number,))
            connection.execute("COMMIT")
        latency = (time.perf_counter() - started) / commits
    finally:
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return {"commit_ms": round(latency * 1e3, 3), "ceiling_per_s": round(1 / latency)}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Processes ---------------------------------------------------------------
class Reaper:
    """Every process group started here, killed when the script ends, whatever happens."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []
        self.cleanups: list[Any] = []
        self._armed = False

    def arm(self) -> None:
        """Kill everything on exit and on SIGINT/SIGTERM (once something needs killing)."""
        if self._armed:
            return
        self._armed = True
        atexit.register(self.stop_all)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002
        raise SystemExit(128 + signum)

    def spawn(self, args: list[str], **kwargs: Any) -> subprocess.Popen:
        self.arm()
        process = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen, grace: float = 5.0) -> None:
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)

    def stop_processes(self) -> None:
        """Kill every process group started so far (cleanups stay registered)."""
        for process in reversed(self.processes):
            try:
                self.kill(process)
            except Exception as error:  # noqa: BLE001 - keep stopping the others
                log(f"could not stop pid {process.pid}: {error}")
        self.processes.clear()

    def stop_all(self) -> None:
        self.stop_processes()
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as error:  # noqa: BLE001
                log(f"cleanup failed: {error}")
        self.cleanups.clear()


REAPER = Reaper()


def thread_env() -> dict[str, str]:
    return {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    """Production settings (DEBUG off) for a bench server and its manage.py calls."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "SCORING_"))}
    env.update(thread_env())
    env.update(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": database_url,
            "DJANGO_LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
            # Production redirects plain HTTP to HTTPS: the bench plays the TLS-terminating
            # load balancer of a real deployment (X-Forwarded-Proto: https on every request).
            "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
            # Plain static storage, so no collectstatic writes into the work tree.
            "DJANGO_MANIFEST_STATIC": "0",
        }
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def helper(env: dict[str, str], *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run this file's Django-side helper in ``env``; its last stdout line is JSON."""
    result = subprocess.run(
        [PYTHON, str(Path(__file__).resolve()), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"helper {args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def verify_chain(env: dict[str, str]) -> dict[str, Any]:
    """``manage.py verify_decisions``: its JSON summary (last line), plus the exit code."""
    result = manage(env, "verify_decisions", check=False, timeout=900)
    lines = [line for line in result.stdout.strip().splitlines() if line.startswith("{")]
    summary = json.loads(lines[-1]) if lines else {"chain_ok": False, "ok": False, "error": result.stderr[-500:]}
    summary["returncode"] = result.returncode
    return summary


def make_workdir(label: str) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix=f"scr-{label}-"))
    REAPER.arm()
    if not os.environ.get("BENCH_KEEP"):
        REAPER.cleanups.insert(0, lambda: shutil.rmtree(workdir, ignore_errors=True))
    return workdir


@dataclass
class InProcessOfficer:
    """An officer signed in to an in-process Django (production settings), with the new form's CSRF token."""

    user: Any
    client: Any
    csrf_token: str


def in_process_officer(*, kind: str, database: str, username: str) -> InProcessOfficer:
    """Set Django up in this process on a fresh database, migrated, with one signed-in officer.

    For the in-process benchmarks (``load_profile.py``, ``submit_instructions.py``):
    production settings (``app_env``), a test client that enforces CSRF and
    arrives over "HTTPS" as behind the load balancer.
    """
    workdir = make_workdir(database)
    os.environ.update(app_env(create_database(kind, database, workdir)))
    os.environ["DJANGO_SETTINGS_MODULE"] = "creditsite.settings"
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts import roles

    setup_test_environment()  # the test client needs it (templates signal); DEBUG stays off
    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user(username=username, password=secrets.token_urlsafe(16))
    user.groups.add(Group.objects.get(name=roles.OFFICER))
    client = Client(enforce_csrf_checks=True, HTTP_X_FORWARDED_PROTO="https")
    client.force_login(user)
    page = client.get("/applications/new/", secure=True)
    if page.status_code != 200:
        raise RuntimeError(f"GET /applications/new/: {page.status_code}")
    return InProcessOfficer(user=user, client=client, csrf_token=CSRF_INPUT_RE.search(page.content.decode()).group(1))


# --- Databases -----------------------------------------------------------------
def pg_run(*args: str, port: str = PG_PORT, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*args, "-h", PG_HOST, "-p", str(port), "-U", PG_USER], capture_output=True, text=True, timeout=120, check=check
    )


def create_database(kind: str, name: str, workdir: Path, *, pg_port: str = PG_PORT) -> str:
    """A fresh empty database; dropped again when the script ends. Returns its DATABASE_URL."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / (name + '.sqlite3')}"
    pg_run("dropdb", "--if-exists", "--force", name, port=pg_port, check=False)
    pg_run("createdb", name, port=pg_port)
    REAPER.arm()
    REAPER.cleanups.append(lambda: pg_run("dropdb", "--if-exists", "--force", name, port=pg_port, check=False))
    return f"postgres://{PG_USER}@{PG_HOST}:{pg_port}/{name}"


def prepare_database(env: dict[str, str], *, officers: int, prefix: str) -> list[str]:
    """Migrate, then create ``officers`` users in the officer role. Returns their usernames."""
    manage(env, "migrate", "--noinput")
    made = helper(env, "make-officers", "--count", str(officers), "--prefix", prefix, "--password", OFFICER_PASSWORD)
    return made["usernames"]


# --- Servers ---------------------------------------------------------------------
@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def start_gunicorn(
    env: dict[str, str],
    workdir: Path,
    *,
    workers: int = 2,
    port: int | None = None,
    name: str = "app",
    ready_timeout: float = 90,
) -> Server:
    port = port or free_port()
    log_path = workdir / f"gunicorn-{name}-{port}.log"
    handle = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    # The production configuration (gunicorn.conf.py: sync workers, model verified at worker
    # start, JSON logs, access log on), with the worker count and port of this run.
    config = ["-c", str(ROOT / "gunicorn.conf.py")] if (ROOT / "gunicorn.conf.py").exists() else []
    process = REAPER.spawn(
        [
            GUNICORN,
            *config,
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "5",
            "creditsite.wsgi:application",
        ],
        cwd=ROOT,
        env={**env, "WEB_CONCURRENCY": str(workers), "PORT": f"127.0.0.1:{port}"},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    server = Server(port=port, process=process, log_path=log_path, env=env)
    wait_ready(server.port, process, ready_timeout, log_path)
    return server


def wait_ready(
    port: int, process: subprocess.Popen, timeout: float, log_path: Path | None = None, path: str = "/accounts/login/"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
            raise RuntimeError(f"server on port {port} exited ({process.returncode}):\n{tail}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path)
            status = connection.getresponse().status
            connection.close()
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f} s")


# --- An officer's browser ------------------------------------------------------------
@dataclass
class Response:
    status: int
    location: str
    body: str
    seconds: float

    @property
    def application_id(self) -> int | None:
        match = LOCATION_RE.search(self.location or "")
        return int(match.group(1)) if match else None


@dataclass
class Officer:
    """A logged-in officer: cookies and the CSRF token, as a browser keeps them."""

    port: int
    username: str
    cookies: dict[str, str] = field(default_factory=dict)
    csrf_token: str = ""
    form_token: str = ""
    timeout: float = 30.0

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        headers = {"Origin": self.origin, "Referer": self.origin + path, "X-Forwarded-Proto": "https"}
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                value = rest.split(";", 1)[0]
                if "expires=Thu, 01 Jan 1970" in cookie or value in ('""', ""):
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value
            return Response(response.status, response.getheader("Location", ""), text, time.perf_counter() - started)
        finally:
            connection.close()

    def login(self, password: str) -> None:
        page = self.request("GET", "/accounts/login/")
        match = CSRF_INPUT_RE.search(page.body)
        if page.status != 200 or not match:
            raise RuntimeError(f"login page for {self.username}: {page.status}")
        done = self.request(
            "POST",
            "/accounts/login/",
            {
                "csrfmiddlewaretoken": match.group(1),
                "username": self.username,
                "password": password,
                "next": "",
            },
        )
        if done.status not in (302, 303) or "sessionid" not in self.cookies:
            raise RuntimeError(f"login of {self.username} failed: {done.status} {done.body[:300]}")
        self.new_form()

    def new_form(self) -> Response:
        """GET the form: a fresh CSRF token (rotated at login) and a fresh idempotency token."""
        page = self.request("GET", "/applications/new/")
        csrf = CSRF_INPUT_RE.search(page.body)
        if page.status != 200 or not csrf:
            raise RuntimeError(f"/applications/new/ for {self.username}: {page.status}")
        self.csrf_token = csrf.group(1)
        token = IDEMPOTENCY_INPUT_RE.search(page.body)
        self.form_token = token.group(1) if token else ""
        return page

    def submit(self, reference: str, token: str | None, **overrides: str) -> Response:
        form = {**FORM, **overrides, "applicant_reference": reference, "csrfmiddlewaretoken": self.csrf_token}
        if token:
            form["idempotency_key"] = token
        return self.request("POST", "/applications/new/", form)


def login_officers(
    port: int, usernames: list[str], password: str = OFFICER_PASSWORD, threads: int = 4
) -> list[Officer]:
    """Log every officer in with a real POST (in a few threads: each login hashes a password)."""
    officers = [Officer(port=port, username=name) for name in usernames]
    errors: list[str] = []

    def work(chunk: list[Officer]) -> None:
        for officer in chunk:
            try:
                officer.login(password)
            except Exception as error:  # noqa: BLE001
                errors.append(str(error))

    pool = [threading.Thread(target=work, args=(officers[i::threads],)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=300)
    if errors:
        raise RuntimeError(f"{len(errors)} login(s) failed: {errors[:3]}")
    return officers


def write_sessions_file(officers: list[Officer], path: Path) -> Path:
    """One line per officer for the wrk script: cookie header, TAB, CSRF form token."""
    path.write_text("".join(f"{o.cookie_header()}\t{o.csrf_token}\n" for o in officers))
    return path


# --- wrk ---------------------------------------------------------------------------------
def run_wrk_submit(
    port: int,
    sessions_file: Path,
    prefix: str,
    workdir: Path,
    *,
    threads: int,
    connections: int,
    duration: int,
    dup_every: int = 0,
    no_token_every: int = 0,
    use_tokens: bool = True,
    timeout: str = "10s",
    tag: str = "",
) -> dict[str, Any]:
    """wrk + bench/lua/submit.lua against POST /applications/new/. Returns the script's JSON summary."""
    ids_path = workdir / f"acked-{prefix}{tag}.txt"
    retried_path = workdir / f"retried-{prefix}{tag}.txt"
    env = {
        **os.environ,
        "BENCH_SESSIONS": str(sessions_file),
        "BENCH_PREFIX": prefix,
        "BENCH_RUN": str(next_wrk_run()),
        "BENCH_IDS_OUT": str(ids_path),
        "BENCH_DUP_EVERY": str(dup_every),
        "BENCH_ORIGIN": f"https://127.0.0.1:{port}",
        "BENCH_TOKENS": "1" if use_tokens else "0",
        "BENCH_NO_TOKEN_EVERY": str(no_token_every),
        "BENCH_RETRIED_OUT": str(retried_path),
    }
    process = REAPER.spawn(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            timeout,
            "-s",
            str(LUA_SUBMIT),
            f"http://127.0.0.1:{port}/applications/new/",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=duration + 120)
    except subprocess.TimeoutExpired:
        REAPER.kill(process)
        raise RuntimeError("wrk did not finish in time") from None
    lines = [line for line in output.splitlines() if line.startswith("BENCH_JSON ")]
    if not lines:
        raise RuntimeError(f"wrk printed no summary:\n{output[-3000:]}")
    summary = json.loads(lines[-1][len("BENCH_JSON ") :])
    summary["ids_file"] = str(ids_path)
    summary["retried_file"] = str(retried_path)
    summary["wrk_text"] = "\n".join(line for line in output.splitlines() if not line.startswith("BENCH_JSON "))
    return summary


def parse_wrk_text(output: str) -> dict[str, Any]:
    """Requests/s, p50/p99 (ms) and errors from wrk's own text report (for scripts we did not write)."""

    def ms(text: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    result: dict[str, Any] = {"errors": 0, "non_2xx_3xx": 0, "socket_errors": 0}
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("Requests/sec:"):
            result["requests_per_s"] = float(line.split()[1])
        elif re.match(r"^50%\s", line):
            result["p50_ms"] = ms(line.split()[1])
        elif re.match(r"^99%\s", line):
            result["p99_ms"] = ms(line.split()[1])
        elif line.startswith("Non-2xx or 3xx responses:"):
            result["non_2xx_3xx"] = int(line.split(":")[1])
        elif line.startswith("Socket errors:"):
            result["socket_errors"] = sum(int(n) for n in re.findall(r"\d+", line))
        elif re.match(r"^\d+ requests in", line):
            result["requests"] = int(line.split()[0])
    result["errors"] = result["non_2xx_3xx"] + result["socket_errors"]
    return result


# --- Django-side helpers (run in a subprocess with the bench's DATABASE_URL) ------------------
def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
    import django

    django.setup()


def _make_officers(count: int, prefix: str, password: str) -> dict[str, Any]:
    _django()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from accounts import roles

    hashed = make_password(password)  # once: the hasher is deliberately slow
    group = Group.objects.get(name=roles.OFFICER)
    names = []
    for number in range(count):
        user = get_user_model().objects.create(username=f"{prefix}-officer-{number:03d}", password=hashed)
        user.groups.add(group)
        names.append(user.username)
    return {"usernames": names}


def _reconcile(prefix: str, acked_path: str, tokens_path: str | None) -> dict[str, Any]:
    """Compare what the clients were told (acknowledged ids) with what the database holds."""
    _django()
    from collections import Counter

    from django.db.models import Count

    from applications.models import LoanApplication
    from audit.models import DecisionRecord

    acked = [int(line) for line in Path(acked_path).read_text().split() if line.strip()] if acked_path else []
    acked_counts = Counter(acked)
    rows = {
        row["id"]: row
        for row in LoanApplication.objects.filter(applicant_reference__startswith=prefix + "-").values(
            "id", "applicant_reference", "status", "probability_of_default", "decision", "idempotency_key"
        )
    }
    records = Counter(
        dict(
            DecisionRecord.objects.filter(application_id__in=list(rows))
            .values_list("application_id")
            .annotate(n=Count("id"))
            .values_list("application_id", "n")
        )
    )
    missing = sorted(set(acked) - set(rows))
    references = Counter(row["applicant_reference"] for row in rows.values())
    duplicate_refs = [ref for ref, n in references.items() if n > 1]
    half_written = []
    pending = 0
    for pk, row in rows.items():
        if row["status"] == LoanApplication.Status.SCORED:
            if row["probability_of_default"] is None or not row["decision"] or records.get(pk, 0) != 1:
                half_written.append(pk)
        else:
            pending += 1
            if records.get(pk, 0) != 0:
                half_written.append(pk)
    acked_not_scored = [pk for pk in set(acked) if pk in rows and rows[pk]["status"] != LoanApplication.Status.SCORED]
    unacked_rows = sorted(set(rows) - set(acked))
    result = {
        "rows": len(rows),
        "acked": len(acked),
        "acked_distinct": len(acked_counts),
        "acked_repeated": sum(n - 1 for n in acked_counts.values()),
        "missing": len(missing),
        "missing_ids": missing[:20],
        "duplicate_references": len(duplicate_refs),
        "duplicate_reference_examples": duplicate_refs[:10],
        "half_written": len(half_written),
        "half_written_ids": half_written[:20],
        "pending": pending,
        "acked_not_scored": len(acked_not_scored),
        "unacked_rows": len(unacked_rows),
        "unacked_row_ids": unacked_rows[:20],
        "decision_records": sum(records.values()),
    }
    if tokens_path:
        # Per-form tokens sent more than once: each must have stored exactly one row.
        tokens = [line for line in Path(tokens_path).read_text().split() if line.strip()]
        stored = Counter(
            LoanApplication.objects.filter(idempotency_key__in=tokens).values_list("idempotency_key", flat=True)
        )
        result["retried_tokens"] = len(tokens)
        result["retried_tokens_stored_once"] = sum(1 for t in tokens if stored.get(t) == 1)
        result["retried_tokens_missing"] = sum(1 for t in tokens if t not in stored)
    return result


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make-officers")
    make.add_argument("--count", type=int, required=True)
    make.add_argument("--prefix", required=True)
    make.add_argument("--password", required=True)
    rec = sub.add_parser("reconcile")
    rec.add_argument("--prefix", required=True)
    rec.add_argument("--acked", default="")
    rec.add_argument("--tokens", default=None)
    args = parser.parse_args(argv)
    if args.command == "make-officers":
        print(json.dumps(_make_officers(args.count, args.prefix, args.password)))
    else:
        print(json.dumps(_reconcile(args.prefix, args.acked, args.tokens)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
