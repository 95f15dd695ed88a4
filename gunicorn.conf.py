"""gunicorn configuration for production (``make serve``).

Read by ``gunicorn -c gunicorn.conf.py creditsite.wsgi``. Everything an
operator tunes comes from the environment:

* ``PORT``: ``8000`` or ``host:port`` (default ``127.0.0.1:8000``; put the
  load balancer in front, or set ``0.0.0.0:8000`` deliberately).
* ``WEB_CONCURRENCY``: worker processes (default 2). Sync workers: a
  request is CPU-bound scoring plus one database transaction, so one
  request per process is the fastest and the simplest to reason about.
* ``GUNICORN_TIMEOUT``: seconds before a stuck worker is killed (default 30).
* ``GUNICORN_ACCESS_LOG``: ``0`` turns the access log off (default on).
* ``FORWARDED_ALLOW_IPS``: the load balancers' addresses whose forwarded
  headers are trusted (default: none).

Each worker pins OpenMP/BLAS to one thread (several workers each spawning
a thread per core were an order of magnitude slower, docs/performance.md) and loads and verifies the
scoring model before taking traffic, so the first officer does not pay for
it. A missing or damaged model is logged and the worker serves anyway:
applications are then stored as PENDING, ``/healthz`` is red, and scoring
resumes without a restart once the artifact is fixed.
"""

from __future__ import annotations

import gc
import os

# Before numpy/scikit-learn are imported anywhere (also in the master when
# preloading): the thread pools read these once, at import.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")

import gunicorn.http.wsgi  # noqa: E402

from operations.logging import json_logs_from_env, stdout_logging  # noqa: E402

# gunicorn names itself in every response's Server header (and has no
# setting for it): a free hint for anyone looking for a version to attack.
# Its sync worker reads this module global for each response.
gunicorn.http.wsgi.SERVER = "creditrisk"


def _bind() -> str:
    port = os.environ.get("PORT", "").strip()
    if not port:
        return "127.0.0.1:8000"
    return port if ":" in port else f"127.0.0.1:{port}"


bind = [_bind()]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (jittered so they do not all restart at once).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
# Uploads never exceed a form; refuse absurd request lines and headers early.
limit_request_line = 8190
limit_request_fields = 100
# The load balancer's forwarded headers (X-Forwarded-Proto, ...) are trusted
# only from the addresses given here, and from none by default. gunicorn's own
# default is loopback, which lets any local process claim HTTPS with
# X-Forwarded-Proto and skip the HTTPS redirect.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "")
proc_name = "creditrisk"
# Each worker touches a heartbeat file on every request; on the disk that
# holds the database it would queue behind the commits' fsyncs (gunicorn's
# docs recommend a tmpfs). Falls back to the default where there is none.
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"
# Load Django and the model once in the master, then fork (copy-on-write).
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") not in ("0", "false", "False")
# gunicorn's runtime control socket is off unless a path is given: one fixed
# default path would collide when two servers run on one machine, and
# nothing here needs resizing at run time.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True

# --- Logging: stdout, JSON lines in production --------------------------------
_access = os.environ.get("GUNICORN_ACCESS_LOG", "1") not in ("0", "false", "False", "")
# Request time in milliseconds (%(M)s) and microseconds (%(D)s).
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'
logconfig_dict = stdout_logging(
    json_lines=json_logs_from_env(),
    loggers={
        "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "gunicorn.access": {
            "handlers": ["stdout"] if _access else [],
            "level": "INFO" if _access else "CRITICAL",
            "propagate": False,
        },
    },
)


def _load_model(log) -> None:
    from django.db import DatabaseError

    from governance.selectors import scoring_arguments
    from scoring.exceptions import ModelUnavailable
    from scoring.model_cache import get_model

    try:
        # The approved version if the database names one (else ACTIVE); workers read the
        # serving state again before every scoring, so this only warms the cache.
        try:
            version = scoring_arguments().get("model_version")
        except DatabaseError as error:
            log.warning("serving state unreadable at start (%s); preloading the ACTIVE version", error)
            version = None
        model = get_model(version)
    except ModelUnavailable as error:
        log.error("model unavailable (applications will be stored as PENDING until it is fixed): %s", error)
        return
    log.info("model %s loaded and verified (sha256 %s)", model.version, model.sha256)


def when_ready(server) -> None:
    """With the app preloaded, verify and compile the model once in the master.

    Workers forked afterwards inherit it, so a worker that is restarted (or
    killed) serves again within milliseconds instead of re-compiling for
    seconds while its peers carry the load.
    """
    if server.cfg.preload_app:
        _load_model(server.log)


def post_fork(server, worker) -> None:
    """In each new worker: one BLAS/OpenMP thread, whatever was imported before."""
    from threadpoolctl import threadpool_limits

    worker._threadpool_limits = threadpool_limits(1)


def post_worker_init(worker) -> None:
    """Load and verify the model before the worker accepts its first request; then freeze the heap."""
    # The WSGI app (and so Django) is loaded by now. With a preloaded model
    # this is one stat() confirming the artifact is still the one verified;
    # a file changed since is verified again here.
    _load_model(worker.log)
    # A CSV export of a million rows streams for longer than the worker timeout: while its rows
    # flow it beats this worker's heartbeat, so the arbiter does not kill it mid-file.
    from infrastructure.csv_export import keep_worker_alive_with

    keep_worker_alive_with(worker.notify)
    # Django, pandas, scikit-learn and numba leave hundreds of thousands of
    # long-lived objects that every full garbage collection would walk again,
    # with the officers behind it waiting (docs/performance.md). gc.freeze()
    # moves them out of the collector's view. Nothing stays alive that would
    # not have; what a request creates is still collected.
    gc.freeze()
