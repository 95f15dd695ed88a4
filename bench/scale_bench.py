"""Scale benchmark (issue 16): every page and job at N applications, SQLite and PostgreSQL, one table.

    .venv/bin/python bench/scale_bench.py [--applications 1000000] [--db sqlite,postgres]
    make bench-scale N=1000000

For each database: a small database with 1,000 seeded applications (the
baseline for "a new submission"), then a database filled by ``manage.py
seed_demo --applications N`` (timed: applications/s in wall time, the whole
command from start-up to its last index and VACUUM, against the target; also
per CPU-second of the command and its producer processes; SQLite in a
temporary file, PostgreSQL in ``--pg-database``, dropped and created again).
Then, in that database:

* each page through Django's test client (in process, no HTTP; DEBUG on, so
  no HTTPS redirect): one warm-up request, then the median of 5 (a page
  slower than 10 s is timed once);
* a new submission (POST of the form, a different amount each time) at N and
  at 1,000: median of 5;
* the two CSV exports through a live gunicorn (``gunicorn.conf.py``, one
  worker, its 30 s timeout): downloaded to the end, the last line checked
  against the exact row count;
* ``verify_decisions`` and ``verify_decisions --replay`` as commands (the
  command's own time, its wall time with start-up, and peak memory: resident,
  and private to the process and its children);
* incremental verification of 10,000 new records: ``seed_demo`` adds 10,000
  applications after the full verification's checkpoint, then
  ``verify_decisions --incremental`` (the command's own time);
* the query plans of the history's and admin's queries at N (printed).

``--reuse-sqlite FILE`` / ``--reuse-postgres DBNAME`` time an already seeded
database instead of building one (its seed figure is then not measured; the
bench writes to it: users, submissions, verification runs, the 10,000
incremental applications, so give it a copy). ``--phases`` runs only some of
``pages,exports,verify,incremental`` (the seed and the 1,000-application
baseline always run unless reused/skipped). Each database runs in a
child process (Django binds one database per process); the parent prints one
table with every figure against its target. The machine is shared: the load
average is printed beside the figures. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
SECRET = "scale-bench-" + "s" * 40
SMALL = 1_000
INCREMENTAL = 10_000
PAGE_TARGET_MS = 300

# (key, what, target as text, target value, unit): the table.
ROWS = (
    ("seed_per_second", "seed_demo: applications/s", ">= 5,000/s", 5000, "rate"),
    ("history_first", "history, first page", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("history_last", "history, last page", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("history_pd", "history sorted by probability", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("history_amount", "history sorted by amount", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("history_version", "history filtered by model version", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("history_search", "history search by reference", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("admin_list", "admin change list", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("admin_version", "admin filtered by model version", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("admin_search", "admin search by reference", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("admin_decisions", "admin decision records list", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("admin_decisions_version", "admin decision records by model version", "<= 300 ms", PAGE_TARGET_MS, "ms"),
    ("audit_page", "/audit/", "<= 500 ms", 500, "ms"),
    ("application_page", "one application's page", "<= 50 ms", 50, "ms"),
    ("submission", "a new submission", "<= at 1,000", None, "ms"),
    ("submission_small", "a new submission at 1,000", "(baseline)", None, "ms"),
    ("export_applications", "CSV export of all applications", "complete", None, "export"),
    ("export_decisions", "audit decisions CSV", "complete", None, "export"),
    ("verify", "verify_decisions (full)", "<= 20 s", 20_000, "ms"),
    ("verify_replay", "verify_decisions --replay", "(no target)", None, "ms"),
    ("verify_incremental", f"incremental verification, {INCREMENTAL:,} new records", "<= 1 s", 1_000, "ms"),
)
PHASES = ("pages", "exports", "verify", "incremental")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load() -> str:
    return "load " + " ".join(f"{value:.1f}" for value in os.getloadavg())


# --- child: one database --------------------------------------------------------------------------------------


def _database_url(db: str, name: str, workdir: Path) -> str:
    if db == "sqlite":
        return f"sqlite:///{workdir / (name + '.sqlite3')}"
    for statement in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", statement], check=True)
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def _env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "creditsite.settings",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", SECRET),
        "DJANGO_DEBUG": "1",
        "DJANGO_LOG_LEVEL": "WARNING",
    }


# Runs manage.py and reports its own peak memory on the last lines of stderr: PEAK_KB, the peak resident set
# (ru_maxrss: it counts the pages of a memory-mapped file read, SQLite's database under verify_decisions'
# mmap, which are the kernel's shared page cache), and OWN_PEAK_KB, the peak of the anonymous memory of the
# process and its children together (verify_decisions' walkers), each page counted once however many forked
# processes share it (Pss_Anon), sampled while BENCH_SAMPLE_MEMORY is set. Reading Pss_Anon walks the page
# tables, SQLite's mapped database file's too (68 ms for a 6 GB map), so the sampler waits 50 times as long as
# its last reading cost (at least 200 ms): it never takes more than 2% of one core from the command it measures.
_PEAK_WRAPPER = (
    "import os, resource, runpy, sys, threading, time\n"
    "sys.argv = sys.argv[1:]\n"
    "own_peak = [0]\n"
    "def _anon(pid):\n"
    "    try:\n"
    "        with open(f'/proc/{pid}/smaps_rollup') as rollup:\n"
    "            return next((int(l.split()[1]) for l in rollup if l.startswith('Pss_Anon:')), 0)\n"
    "    except OSError:\n"
    "        return 0\n"
    "def _tree(pid):\n"
    "    pids = [pid]\n"
    "    for found in pids:\n"
    "        try:\n"
    "            for task in os.listdir(f'/proc/{found}/task'):\n"
    "                with open(f'/proc/{found}/task/{task}/children') as children:\n"
    "                    pids += [int(child) for child in children.read().split()]\n"
    "        except OSError:\n"
    "            pass\n"
    "    return pids\n"
    "def _sample():\n"
    "    while True:\n"
    "        cost = time.thread_time()\n"
    "        own_peak[0] = max(own_peak[0], sum(_anon(pid) for pid in _tree(os.getpid())))\n"
    "        time.sleep(max(0.2, 50 * (time.thread_time() - cost)))\n"
    "if os.environ.get('BENCH_SAMPLE_MEMORY'):\n"
    "    threading.Thread(target=_sample, daemon=True).start()\n"
    "try:\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "finally:\n"
    "    print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "    print('OWN_PEAK_KB', own_peak[0], file=sys.stderr)\n"
    "    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]\n"
    "    print('CPU_S', sum(u.ru_utime + u.ru_stime for u in used), file=sys.stderr)\n"
)


def _manage(url: str, *args: str, sample_memory: bool = False) -> tuple[float, int, str]:
    """Run ``manage.py args`` in a child process: (seconds, its peak RSS in MB, output); ``sample_memory``: its
    output also ends with OWN_PEAK_KB (see ``_PEAK_WRAPPER``)."""
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-c", _PEAK_WRAPPER, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env={**_env(url), **({"BENCH_SAMPLE_MEMORY": "1"} if sample_memory else {})},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    peak = 0
    for line in done.stderr.splitlines():
        if line.startswith("PEAK_KB "):
            peak = int(line.split()[1]) // 1024
    if done.returncode != 0:
        log(f"manage.py {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}{done.stdout[-2000:]}")
    return seconds, peak, done.stdout + done.stderr


def child(args: argparse.Namespace) -> dict:
    db = args.child
    workdir = Path(tempfile.mkdtemp(prefix=f"scale-bench-{db}-"))
    results: dict = {"db": db, "applications": args.applications}
    try:
        phases = set(args.phases.split(","))
        if "pages" in phases:
            # The baseline: a new submission at 1,000 applications.
            small_url = _database_url(db, f"{args.pg_database}_small", workdir)
            _manage(small_url, "migrate", "--noinput", "-v0")
            _manage(small_url, "seed_demo", "--applications", str(SMALL), "-v0")
            small = _in_django(small_url, "submissions")
            results["submission_small"] = small["submission"]
        reused = args.reuse_sqlite if db == "sqlite" else args.reuse_postgres
        if reused:
            url = (
                f"sqlite:///{Path(reused).resolve()}"
                if db == "sqlite"
                else f"postgres://postgres@127.0.0.1:5432/{reused}"
            )
            _manage(url, "migrate", "--noinput", "-v0")
            results["seed_per_second"] = None
        else:
            url = _database_url(db, args.pg_database, workdir)
            _manage(url, "migrate", "--noinput", "-v0")
            log(f"{db}: seeding {args.applications:,} applications ({load()})")
            seconds, _, output = _manage(url, "seed_demo", "--applications", str(args.applications))
            summary = [line for line in output.splitlines() if line.startswith("Seeded ")]
            cpu = re.search(r"^CPU_S ([\d.]+)$", output, re.MULTILINE)
            # Against the target: the whole command, start-up to the last index and VACUUM, in wall time
            # (what "1,000,000 in under 4 minutes" means); also per CPU-second, the figure a shared
            # machine does not distort, and the command's own (from reading the training file on).
            reported = re.search(r"in ([\d.]+) s: ([\d,]+) applications/s", summary[-1]) if summary else None
            if summary:
                results["seed_per_second"] = round(args.applications / seconds)
                results["seed_seconds"] = round(seconds, 1)
                results["seed_cpu_seconds"] = round(float(cpu.group(1)), 1) if cpu else None
                results["seed_command_per_second"] = int(reported.group(2).replace(",", "")) if reported else None
            else:
                results["seed_per_second"] = None
            results["seed_output"] = summary[-1:]
            log(f"{db}: seed_demo took {seconds:.0f} s: {summary[-1:]} ({load()})")
        if "pages" in phases:
            results.update(_in_django(url, "pages"))
        if "exports" in phases:
            results.update(_exports(url, args))
        if "verify" in phases or "incremental" in phases:
            runs = [("verify", ("--full",))]
            if "verify" in phases:
                runs.append(("verify_replay", ("--full", "--replay")))
            for key, extra in runs:
                results.update(_verify(db, url, key, *extra))
        if "incremental" in phases:
            # 10,000 applications (and their records) after the checkpoint of the full verification above.
            _manage(url, "seed_demo", "--applications", str(INCREMENTAL), "--seed", str(int(time.time())), "-v0")
            results.update(_verify(db, url, "verify_incremental", "--incremental"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["load"] = load()
    return results


def _verify(db: str, url: str, key: str, *extra: str) -> dict:
    """``verify_decisions extra``: the command's own time (its line "... in N s"), wall time, peak memory, verdict."""
    seconds, peak, output = _manage(url, "verify_decisions", *extra, sample_memory=True)
    own = re.search(r" in ([\d.]+) s; decision chain head", output)
    private = re.search(r"^OWN_PEAK_KB (\d+)$", output, re.MULTILINE)
    own_peak = int(private.group(1)) // 1024 if private else None
    result = {
        key: round(float(own.group(1)) * 1000) if own else round(seconds * 1000),
        f"{key}_wall_ms": round(seconds * 1000),
        f"{key}_peak_mb": peak,
        f"{key}_own_peak_mb": own_peak,
        f"{key}_ok": output.lstrip().startswith("OK"),
        f"{key}_line": next((line for line in output.splitlines() if line.startswith(("OK", "FAILED"))), "")[:300],
    }
    log(
        f"{db}: verify_decisions {' '.join(extra)}: {result[key] / 1000:.2f} s (wall {seconds:.1f} s), "
        f"peak {peak} MB resident, {own_peak} MB private ({load()})"
    )
    return result


def _in_django(url: str, what: str) -> dict:
    """Run ``--django-phase what`` in a fresh process bound to ``url``; its JSON answer."""
    done = subprocess.run(
        [PYTHON, __file__, "--django-phase", what],
        env=_env(url),
        capture_output=True,
        text=True,
        check=True,
    )
    sys.stderr.write(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- in a Django process ----------------------------------------------------------------------------------------


def _timed(client, method: str, url: str, data=None, *, samples: int = 5) -> float:
    """Median milliseconds of ``samples`` requests after one warm-up.

    A page slower than 10 s is timed once, after its warm-up: the first request on a cold cache (a database
    file copied just before) is not the figure.
    """
    times = []
    slow = False
    for attempt in range(samples + 1):
        started = time.perf_counter()
        response = client.get(url) if method == "GET" else client.post(url, data() if callable(data) else data)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code not in (200, 302, 303):
            raise RuntimeError(f"{method} {url}: {response.status_code}")
        if attempt:
            times.append(elapsed)
            if slow or elapsed > 10_000:
                return round(elapsed, 1)
        slow = elapsed > 10_000
    return round(statistics.median(times), 1)


def _users():
    from django.contrib.auth import get_user_model

    from staff.services import grant_role

    user_model = get_user_model()
    made = {}
    for role in ("reviewer", "admin", "auditor", "officer"):
        user = user_model.objects.filter(username=f"bench-{role}").first()
        if user is None:
            user = user_model.objects.create_user(username=f"bench-{role}", password=None)
            grant_role(user=user, role=role)
        made[role] = user
    return made


# A different amount per submission, and per run: the same inputs from the same officer within 10 minutes
# would be refused as a possible duplicate (409).
_amount = [1000 + int(time.time()) % 20_000]


def _submission_data():
    from tests.support.factories import application_form_data

    _amount[0] += 1
    return application_form_data(loan_amnt=str(_amount[0]))


def phase_submissions() -> dict:
    from django.test import Client

    client = Client()
    client.force_login(_users()["officer"])
    return {"submission": _timed(client, "POST", "/applications/new/", _submission_data)}


def phase_pages() -> dict:
    from django.test import Client

    from applications.models import LoanApplication
    from applications.selectors import model_versions

    users = _users()
    reviewer, admin, auditor = Client(), Client(), Client()
    reviewer.force_login(users["reviewer"])
    admin.force_login(users["admin"])
    auditor.force_login(users["auditor"])
    version = model_versions()[0]
    # An application from the middle of the table, with a reference to search for.
    largest = LoanApplication.objects.order_by("-id").values_list("pk", flat=True).first()
    sample = (
        LoanApplication.objects.filter(pk__gte=largest // 2)
        .exclude(applicant_reference="")
        .order_by("pk")
        .values("pk", "applicant_reference")
        .first()
    )
    results = {}
    pages = (
        ("history_first", reviewer, "/applications/"),
        ("history_last", reviewer, "/applications/?page=last"),
        ("history_pd", reviewer, "/applications/?sort=pd_high"),
        ("history_amount", reviewer, "/applications/?sort=amount_high"),
        ("history_version", reviewer, f"/applications/?model_version={version}"),
        ("history_search", reviewer, f"/applications/?q={sample['applicant_reference']}"),
        ("admin_list", admin, "/admin/applications/loanapplication/"),
        ("admin_version", admin, f"/admin/applications/loanapplication/?model_version={version}"),
        ("admin_search", admin, f"/admin/applications/loanapplication/?q={sample['applicant_reference']}"),
        ("admin_decisions", admin, "/admin/audit/decisionrecord/"),
        ("admin_decisions_version", admin, f"/admin/audit/decisionrecord/?model_version={version}"),
        ("application_page", reviewer, f"/applications/{sample['pk']}/"),
        ("audit_page", auditor, "/audit/"),
    )
    for key, client, url in pages:
        results[key] = _timed(client, "GET", url)
        log(f"{key} {url}: {results[key]} ms ({load()})")
    officer = Client()
    officer.force_login(users["officer"])
    results["submission"] = _timed(officer, "POST", "/applications/new/", _submission_data)
    log(f"submission: {results['submission']} ms ({load()})")
    results["plans"] = _plans(version, sample["applicant_reference"])
    return results


def _plans(version: str, reference: str) -> dict[str, str]:
    """EXPLAIN of the history's queries at this size (the pages' own querysets)."""
    from django.db import connection

    from applications import selectors

    reviewer = _users()["reviewer"]
    queries = {
        "history newest": selectors.application_list(user=reviewer, filters={})[:25],
        "history last page": selectors.application_list(user=reviewer, filters={}).reverse()[:25],
        "history by probability": selectors.application_list(user=reviewer, filters={"sort": "pd_high"})[:25],
        "history by amount": selectors.application_list(user=reviewer, filters={"sort": "amount_high"})[:25],
        "history by version": selectors.application_list(user=reviewer, filters={"model_version": version})[:25],
        "history search": selectors.application_list(user=reviewer, filters={"q": reference})[:25],
    }
    plans = {}
    with connection.cursor() as cursor:
        for name, queryset in queries.items():
            sql, params = queryset.query.sql_with_params()
            if connection.vendor == "sqlite":
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
                plans[name] = " | ".join(str(row[-1]) for row in cursor.fetchall())
            else:
                cursor.execute(f"EXPLAIN {sql}", params)
                plans[name] = " | ".join(row[0].strip() for row in cursor.fetchall())
    return plans


# --- exports through a live gunicorn -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _exports(url: str, args: argparse.Namespace) -> dict:
    port = _free_port()
    cookies = _in_django(url, "session")
    env = {**_env(url), "PORT": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "GUNICORN_ACCESS_LOG": "0"}
    server = subprocess.Popen(
        [str(Path(PYTHON).parent / "gunicorn"), "-c", "gunicorn.conf.py", "creditsite.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    results = {}
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        exports = (
            ("export_applications", "/applications/export.csv", "reviewer"),
            ("export_decisions", "/audit/decisions.csv", "auditor"),
        )
        for key, path, role in exports:
            cpu = _cpu_seconds(server.pid)
            results[key] = _download(f"http://127.0.0.1:{port}{path}", cookies[role])
            # The server's CPU time for the export (its worker's): less sensitive to a shared machine than wall time.
            results[key]["server_cpu_seconds"] = round(_cpu_seconds(server.pid) - cpu, 1)
            log(f"{key}: {results[key]} ({load()})")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    return results


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its children (gunicorn's master and its worker), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            pids += [int(child) for child in children.read().split()]
    except OSError:
        pass
    for each in pids:
        try:
            with open(f"/proc/{each}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            continue
    return total


def _download(address: str, cookie: str) -> dict:
    request = urllib.request.Request(address, headers={"Cookie": f"sessionid={cookie}"})
    started = time.perf_counter()
    lines = size = 0
    tail = b""
    error = ""
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            # Read in blocks (a line at a time, the client spent more than the server on a 7 GB file).
            while block := response.read(1 << 20):
                size += len(block)
                lines += block.count(b"\n")
                tail = (tail + block)[-4096:]
    except Exception as failure:  # noqa: BLE001 - a cut download is the finding
        error = f"{type(failure).__name__}: {failure}"
    seconds = time.perf_counter() - started
    last = tail.rstrip(b"\r\n").rpartition(b"\n")[2]
    text = last.decode("utf-8", "replace").strip()
    stated = int(text.split(": ")[1].split()[0]) if text.startswith("# END OF EXPORT:") else None
    return {
        "seconds": round(seconds, 1),
        "megabytes": round(size / 1e6),
        "lines": lines,
        "rows_per_second": round(max(lines - 2, 0) / seconds) if seconds else None,
        "end_line": text[:60],
        # Complete: the end line is there and states every data line (header and end line aside).
        "complete": stated is not None and stated == lines - 2 and not error,
        "error": error,
    }


def phase_session() -> dict:
    """Session cookies for the exports: a reviewer's (every application) and an auditor's (decision records)."""
    from django.test import Client

    cookies = {}
    for role in ("reviewer", "auditor"):
        client = Client()
        client.force_login(_users()[role])
        cookies[role] = client.cookies["sessionid"].value
    return cookies


# --- parent: both databases, one table ---------------------------------------------------------------------------


def _figure(key: str, unit: str, result: dict) -> str:
    value = result.get(key)
    if value is None:
        return "not measured"
    if unit == "rate":
        cpu = result.get("seed_cpu_seconds")
        per_cpu = f", {round(result['applications'] / cpu):,} per CPU-second ({cpu} s CPU)" if cpu else ""
        own = result.get("seed_command_per_second")
        return f"{value:,}/s wall ({result.get('seed_seconds')} s end to end{per_cpu}" + (
            f"; the command's own figure {own:,}/s)" if own else ")"
        )
    if unit == "export":
        state = "complete" if value["complete"] else f"CUT ({value['error'] or value['end_line']})"
        cpu = value.get("server_cpu_seconds")
        return (
            f"{value['seconds']} s ({value.get('rows_per_second') or 0:,} rows/s"
            + (f"; server CPU {cpu} s" if cpu is not None else "")
            + f"), {value['megabytes']:,} MB, {state}"
        )
    if key.startswith("verify"):
        return (
            f"{value / 1000:.2f} s, peak {result.get(key + '_peak_mb')} MB resident / {result.get(key + '_own_peak_mb')} MB private"
            + ("" if result.get(key + "_ok") else " NOT OK")
        )
    return f"{value:,.0f} ms" if value >= 100 else f"{value} ms"


def _verdict(key: str, target, unit: str, result: dict) -> str:
    value = result.get(key)
    if value is None:
        return ""
    if unit == "export":
        return "meets" if value["complete"] else "MISSES"
    if key.startswith("verify") and not result.get(key + "_ok"):
        return "MISSES"
    if key == "submission":
        baseline = result.get("submission_small")
        return "meets" if baseline and value <= baseline * 1.25 else "MISSES"  # within run-to-run noise
    if target is None:
        return ""
    if unit == "rate":
        return "meets" if value >= target else "MISSES"
    return "meets" if value <= target else "MISSES"


def print_table(results: list[dict]) -> None:
    header = ["page or job", "target", *(f"{r['db']} ({r['applications']:,})" for r in results)]
    lines = [header]
    for key, what, target_text, target, unit in ROWS:
        cells = [what, target_text]
        for result in results:
            verdict = _verdict(key, target, unit, result)
            cells.append(_figure(key, unit, result) + (f" [{verdict}]" if verdict else ""))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |")
        if number == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for result in results:
        print(f"\n{result['db']}: {result['load']}")
        for name, plan in result.get("plans", {}).items():
            print(f"  plan, {name}: {plan}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--pg-database", default="scale_bench")
    parser.add_argument("--reuse-sqlite", help="an already seeded SQLite file to time (not rebuilt; written to)")
    parser.add_argument(
        "--reuse-postgres", help="an already seeded PostgreSQL database to time (not rebuilt; written to)"
    )
    parser.add_argument("--phases", default=",".join(PHASES), help=f"some of {','.join(PHASES)} (default: all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--django-phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.django_phase:
        import django

        django.setup()
        phase = {"submissions": phase_submissions, "pages": phase_pages, "session": phase_session}[args.django_phase]
        print(json.dumps(phase()))
        return
    if args.child:
        print(json.dumps(child(args)))
        return
    results = []
    started = time.perf_counter()
    for db in args.db.split(","):
        command = [PYTHON, __file__, "--child", db, "--applications", str(args.applications)]
        command += ["--pg-database", args.pg_database]
        if args.reuse_sqlite:
            command += ["--reuse-sqlite", args.reuse_sqlite]
        if args.reuse_postgres:
            command += ["--reuse-postgres", args.reuse_postgres]
        command += ["--phases", args.phases]
        log(f"{db}: starting ({load()})")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        sys.stderr.write(done.stderr)
        if done.returncode != 0:
            log(f"{db}: failed ({done.returncode})")
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print_table(results)
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s; {load()}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
