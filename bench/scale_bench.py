"""Scale benchmark (issue 16): every page and job at N applications, SQLite and PostgreSQL, one table.

    .venv/bin/python bench/scale_bench.py [--applications 1000000] [--db sqlite,postgres]
    make bench-scale N=1000000

For each database: a small database with 1,000 seeded applications (the
baseline for "a new submission"), then a database filled by ``manage.py
seed_demo --applications N`` (timed: applications/s; SQLite in a temporary
file, PostgreSQL in ``--pg-database``, dropped and created again). Then, in
that database:

* each page through Django's test client (in process, no HTTP; DEBUG on, so
  no HTTPS redirect): one warm-up request, then the median of 5 (a page
  slower than 10 s is timed once);
* a new submission (POST of the form, a different amount each time) at N and
  at 1,000: median of 5;
* the two CSV exports through a live gunicorn (``gunicorn.conf.py``, one
  worker, its 30 s timeout): downloaded to the end, the last line checked
  against the exact row count;
* ``verify_decisions`` and ``verify_decisions --replay`` as commands (wall
  time and peak memory);
* the query plans of the history's and admin's queries at N (printed).

``--reuse-sqlite FILE`` times an already seeded SQLite database instead of
building one (its seed figure is then not measured). Each database runs in a
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
    ("verify", "verify_decisions", "<= 20 s", 20_000, "ms"),
    ("verify_replay", "verify_decisions --replay", "(no target)", None, "ms"),
)


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


# Runs manage.py and reports its own peak memory on the last line of stderr.
_PEAK_WRAPPER = (
    "import resource, runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "finally:\n"
    "    print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def _manage(url: str, *args: str) -> tuple[float, int, str]:
    """Run ``manage.py args`` in a child process: (seconds, its peak RSS in MB, output)."""
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-c", _PEAK_WRAPPER, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=_env(url),
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
        # The baseline: a new submission at 1,000 applications.
        small_url = _database_url(db, f"{args.pg_database}_small", workdir)
        _manage(small_url, "migrate", "--noinput", "-v0")
        _manage(small_url, "seed_demo", "--applications", str(SMALL), "-v0")
        small = _in_django(small_url, "submissions")
        results["submission_small"] = small["submission"]
        if db == "sqlite" and args.reuse_sqlite:
            url = f"sqlite:///{Path(args.reuse_sqlite).resolve()}"
            _manage(url, "migrate", "--noinput", "-v0")
            results["seed_per_second"] = None
        else:
            url = _database_url(db, args.pg_database, workdir)
            _manage(url, "migrate", "--noinput", "-v0")
            log(f"{db}: seeding {args.applications:,} applications ({load()})")
            seconds, _, output = _manage(url, "seed_demo", "--applications", str(args.applications))
            summary = [line for line in output.splitlines() if line.startswith("Seeded ")]
            # The command's own figure (scoring, hashing and inserting; not Django's start-up).
            reported = re.search(r"in ([\d.]+) s: ([\d,]+) applications/s", summary[-1]) if summary else None
            results["seed_per_second"] = int(reported.group(2).replace(",", "")) if reported else None
            results["seed_seconds"] = float(reported.group(1)) if reported else None
            results["seed_output"] = summary[-1:]
            log(f"{db}: seed_demo took {seconds:.0f} s: {summary[-1:]} ({load()})")
        results.update(_in_django(url, "pages"))
        results.update(_exports(url, args))
        for key, extra in (("verify", ()), ("verify_replay", ("--replay",))):
            seconds, peak, output = _manage(url, "verify_decisions", *extra)
            results[key] = round(seconds * 1000)
            results[f"{key}_peak_mb"] = peak
            results[f"{key}_ok"] = output.lstrip().startswith("OK")
            log(f"{db}: verify_decisions {' '.join(extra)}: {seconds:.1f} s, peak {peak} MB ({load()})")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["load"] = load()
    return results


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
    """Median milliseconds of ``samples`` requests after one warm-up (one request if it takes over 10 s)."""
    times = []
    for attempt in range(samples + 1):
        started = time.perf_counter()
        response = client.get(url) if method == "GET" else client.post(url, data() if callable(data) else data)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code not in (200, 302, 303):
            raise RuntimeError(f"{method} {url}: {response.status_code}")
        if attempt == 0 and elapsed > 10_000:
            return round(elapsed, 1)
        if attempt:
            times.append(elapsed)
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
            results[key] = _download(f"http://127.0.0.1:{port}{path}", cookies[role])
            log(f"{key}: {results[key]} ({load()})")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    return results


def _download(address: str, cookie: str) -> dict:
    request = urllib.request.Request(address, headers={"Cookie": f"sessionid={cookie}"})
    started = time.perf_counter()
    lines = size = 0
    last = b""
    error = ""
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            for line in response:
                size += len(line)
                lines += 1
                last = line
    except Exception as failure:  # noqa: BLE001 - a cut download is the finding
        error = f"{type(failure).__name__}: {failure}"
    seconds = time.perf_counter() - started
    text = last.decode("utf-8", "replace").strip()
    stated = int(text.split(": ")[1].split()[0]) if text.startswith("# END OF EXPORT:") else None
    return {
        "seconds": round(seconds, 1),
        "megabytes": round(size / 1e6),
        "lines": lines,
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
        return f"{value:,}/s"
    if unit == "export":
        state = "complete" if value["complete"] else f"CUT ({value['error'] or value['end_line']})"
        return f"{value['seconds']} s, {value['megabytes']} MB, {state}"
    if key.startswith("verify"):
        return f"{value / 1000:.1f} s, {result.get(key + '_peak_mb')} MB" + (
            "" if result.get(key + "_ok") else " NOT OK"
        )
    return f"{value:,.0f} ms" if value >= 100 else f"{value} ms"


def _verdict(key: str, target, unit: str, result: dict) -> str:
    value = result.get(key)
    if value is None:
        return ""
    if unit == "export":
        return "meets" if value["complete"] else "MISSES"
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
    parser.add_argument("--reuse-sqlite", help="an already seeded SQLite file to time (not rebuilt)")
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
    for db in args.db.split(","):
        command = [PYTHON, __file__, "--child", db, "--applications", str(args.applications)]
        command += ["--pg-database", args.pg_database]
        if args.reuse_sqlite:
            command += ["--reuse-sqlite", args.reuse_sqlite]
        log(f"{db}: starting ({load()})")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        sys.stderr.write(done.stderr)
        if done.returncode != 0:
            log(f"{db}: failed ({done.returncode})")
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print_table(results)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
