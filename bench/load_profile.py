"""Where a submit request spends its time: in-process, no network, production settings.

    .venv/bin/python bench/load_profile.py [--requests 2000] [--db sqlite|postgres] [--top 35]

A fresh database (temporary SQLite file, or a throwaway PostgreSQL database
on 127.0.0.1:5432), one officer, Django's test ``Client`` with CSRF checks
enforced, POSTing complete forms over "HTTPS" (as behind the load balancer)
to ``/applications/new/``. Prints: the SQL queries of one submit (with
``CaptureQueriesContext``), the wall time per request without a profiler, the
cProfile top functions over ``--requests`` POSTs (by own time and by
cumulative time), and the time per middleware/view layer.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_common  # noqa: E402

# (label, end of the file path, function): cumulative time of each layer of the submit request.
LAYERS = [
    ("whole request (test client -> response)", "django/test/client.py", "request"),
    ("session: load the row (SessionStore.load)", "sessions/backends/db.py", "load"),
    ("  precompiled SELECTs (rows.RowLookup.get)", "operations/rows.py", "get"),
    ("auth: user from the session (auth.get_user)", "django/contrib/auth/__init__.py", "get_user"),
    ("CSRF check (CsrfViewMiddleware.process_view)", "django/middleware/csrf.py", "process_view"),
    ("role check (roles.can_create)", "accounts/roles.py", "can_create"),
    ("view (application_new)", "applications/views.py", "application_new"),
    ("  service (submit_application)", "applications/services.py", "submit_application"),
    ("    form validation (BaseForm.is_valid)", "django/forms/forms.py", "is_valid"),
    ("      model validation (Model.full_clean)", "django/db/models/base.py", "full_clean"),
    ("    scoring (score_application)", "scoring/services.py", "score_application"),
    ("    audit document (prepare_decision_record)", "audit/services.py", "prepare_decision_record"),
    ("    audit record under the lock (append_decision_record)", "audit/services.py", "append_decision_record"),
    ("      canonical JSON + hash (canonical.dumps)", "audit/canonical.py", "dumps"),
    ("    bind the application row (rows.prepare_insert)", "operations/rows.py", "prepare_insert"),
    ("    inserts, both rows (rows.insert_row)", "operations/rows.py", "insert_row"),
    ("    COMMIT (sqlite3/psycopg commit, fsync)", "django/db/backends/base/base.py", "_commit"),
    ("  redirect URL (reverse)", "django/urls/base.py", "reverse"),
    ("CSP header (CSPMiddleware.process_response)", "csp/middleware.py", "process_response"),
    ("session timeouts (SessionTimeoutMiddleware._check)", "operations/sessions.py", "_check"),
    ("messages (MessageMiddleware.process_response)", "django/contrib/messages/middleware.py", "process_response"),
    ("session save (SessionMiddleware.process_response)", "django/contrib/sessions/middleware.py", "process_response"),
    ("request body parsing (HttpRequest._load_post_and_files)", "django/http/request.py", "_load_post_and_files"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--top", type=int, default=60)
    args = parser.parse_args()

    signed_in = load_common.in_process_officer(
        kind=args.db, database=f"bench_profile_{os.getpid()}", username="profile-officer"
    )
    client, csrf = signed_in.client, signed_in.csrf_token
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from applications.models import LoanApplication

    origin = "https://testserver"
    counter = iter(range(10**9))

    def submit():
        n = next(counter)
        data = {
            **load_common.FORM,
            "applicant_reference": f"prof-{n}",
            "loan_amnt": load_common.unique_amount(n),
            "csrfmiddlewaretoken": csrf,
            "idempotency_key": f"proftoken{n:08d}",
        }
        # url-encoded, as a browser posts this form (the test client would send multipart)
        response = client.post(
            "/applications/new/",
            urlencode(data),
            content_type="application/x-www-form-urlencoded",
            secure=True,
            HTTP_ORIGIN=origin,
            HTTP_REFERER=origin + "/applications/new/",
        )
        if response.status_code not in (302, 303):
            raise RuntimeError(f"submit {n}: {response.status_code} {response.content[:500]!r}")
        return response

    for _ in range(100):
        submit()

    with CaptureQueriesContext(connection) as queries:
        submit()
    print(
        f"== SQL for one submit ({len(queries.captured_queries)} queries, {settings.DATABASES['default']['ENGINE']}):"
    )
    for query in queries.captured_queries:
        print(f"  {query['time']}s  {query['sql'][:220]}")

    started = time.perf_counter()
    for _ in range(args.requests):
        submit()
    plain = (time.perf_counter() - started) / args.requests
    print(
        f"\n== {args.requests} submits without a profiler: {plain * 1e3:.3f} ms per request "
        f"(in-process, one thread; load average {load_common.loadavg()})"
    )

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.requests):
        submit()
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order)
        stats.print_stats(args.top)
        print(f"\n== cProfile over {args.requests} submits, by {order}:")
        print("\n".join(out.getvalue().splitlines()[4:]))
    print(
        f"\n== Layers (cumulative ms per request under cProfile, which inflates Python-heavy parts; "
        f"{args.requests} requests):"
    )
    raw = pstats.Stats(profiler).stats
    for label, path_part, function in LAYERS:
        total = sum(
            v[3]
            for (filename, _, name), v in raw.items()
            if name == function and filename.replace(os.sep, "/").endswith(path_part)
        )
        print(f"  {label:58} {total / args.requests * 1e3:8.3f} ms")
    print(f"rows stored: {LoanApplication.objects.count()}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        load_common.REAPER.stop_all()
