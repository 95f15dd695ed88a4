"""Serving: gunicorn.conf.py from the environment, JSON-lines logs, and a real
gunicorn started with the production configuration answering /healthz."""

from __future__ import annotations

import json
import logging
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from operations.logging import JsonLinesFormatter

CONFIG = Path(settings.BASE_DIR) / "gunicorn.conf.py"


def _config(monkeypatch, **env: str) -> dict:
    for name in (
        "PORT",
        "WEB_CONCURRENCY",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "FORWARDED_ALLOW_IPS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_defaults(monkeypatch):
    config = _config(monkeypatch)
    assert config["bind"] == ["127.0.0.1:8000"]
    assert config["workers"] == 2 and config["worker_class"] == "sync"
    assert config["preload_app"] is True
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert os.environ[name] == "1"
    assert "%(M)s" in config["access_log_format"]  # request time
    assert callable(config["post_fork"]) and callable(config["post_worker_init"])


def test_port_and_workers_from_the_environment(monkeypatch):
    config = _config(monkeypatch, PORT="9123", WEB_CONCURRENCY="6")
    assert config["bind"] == ["127.0.0.1:9123"] and config["workers"] == 6
    assert _config(monkeypatch, PORT="0.0.0.0:8080")["bind"] == ["0.0.0.0:8080"]


def test_forwarded_headers_are_trusted_from_nobody_unless_configured(monkeypatch):
    # Loopback is not a load balancer: any local process could claim HTTPS.
    assert _config(monkeypatch)["forwarded_allow_ips"] == ""
    assert _config(monkeypatch, FORWARDED_ALLOW_IPS="10.0.0.7")["forwarded_allow_ips"] == "10.0.0.7"


def test_thread_pools_are_pinned_even_if_the_environment_said_otherwise(monkeypatch):
    _config(monkeypatch, OMP_NUM_THREADS="16")
    assert os.environ["OMP_NUM_THREADS"] == "1"


def test_json_lines_formatter():
    formatter = JsonLinesFormatter()
    record = logging.LogRecord("operations.faults", logging.ERROR, __file__, 1, "database %s", ("down",), None)
    record.status_code = 503
    entry = json.loads(formatter.format(record))
    assert entry["level"] == "ERROR" and entry["logger"] == "operations.faults"
    assert entry["message"] == "database down" and entry["status_code"] == 503
    assert entry["time"].endswith("+00:00")
    try:
        raise ValueError("multi\nline")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = formatter.format(record)
    assert "\n" not in line and "ValueError" in json.loads(line)["exc_info"]


def test_gunicorn_access_records_become_fields():
    atoms = {
        "h": "10.0.0.5",
        "m": "POST",
        "U": "/applications/new/",
        "q": "",
        "s": "303",
        "B": 0,
        "M": 4,
        "D": 4210,
        "a": 'curl/8 "quoted"',
        "r": "POST /applications/new/ HTTP/1.1",
    }
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s" %(s)s', (atoms,), None)
    entry = json.loads(JsonLinesFormatter().format(record))
    assert entry["status"] == 303 and entry["duration_ms"] == 4 and entry["method"] == "POST"
    assert entry["path"] == "/applications/new/" and entry["user_agent"] == 'curl/8 "quoted"'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_gunicorn_serves_the_production_configuration(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    port = _free_port()
    env.update(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "s3rv-" + "Zq8r5tWv1xYb7nPc0mLd2sFg6hJk4aEo9uIy3" * 2,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
            "SCORING_MODELS_STORE": str(settings.MODELS_STORE_DIR),
            "DJANGO_SECURE_SSL_REDIRECT": "1",
        }
    )
    # As `make serve` does: migrate and collect static files (whitenoise
    # warns on every worker start when STATIC_ROOT does not exist yet).
    for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "--clear", "-v", "0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=settings.BASE_DIR, env=env, check=True, timeout=300)
    # Everything under STATIC_ROOT is served to anyone: the manifest listing
    # every static file is kept outside it, and pages still find hashed names.
    assert not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists()
    assert (Path(settings.STATIC_MANIFEST_ROOT) / "staticfiles.json").exists()
    hashed = (
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from django.templatetags.static import static; print(static('css/app.css'))",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            check=True,
            timeout=120,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", hashed), hashed
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 - closed in the finally below, after the server stops
    server = subprocess.Popen(
        [str(gunicorn), "-c", "gunicorn.conf.py", "creditsite.wsgi"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                    assert response.status == 200
                    assert response.headers["X-Content-Type-Options"] == "nosniff"
                    body = json.loads(response.read())
            except OSError:
                assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.3)
        assert body == {"status": "ok"}  # up or down, nothing else, to anyone
        # Nothing names the server software or lists the static files.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert "gunicorn" not in response.headers.get("Server", "").lower()
        # Every other page is redirected to HTTPS in production.
        request = urllib.request.Request(f"http://127.0.0.1:{port}/accounts/login/")
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(request, timeout=5)
        assert redirect.value.code == 301
        # A local process claiming HTTPS is redirected all the same (no trusted proxy configured).
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/accounts/login/", headers={"X-Forwarded-Proto": "https"}
        )
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(request, timeout=5)
        assert redirect.value.code == 301
        # Both workers have started (a worker signalled while still booting
        # would miss it and hold the shutdown for the graceful timeout).
        while time.monotonic() < deadline and (tmp_path / "gunicorn.log").read_text().count("loaded and verified") < 3:
            time.sleep(0.2)
    finally:
        server.terminate()  # the master stops its workers
        try:
            server.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()
    lines = [json.loads(line) for line in (tmp_path / "gunicorn.log").read_text().splitlines() if line.strip()]
    messages = [entry["message"] for entry in lines]
    assert sum("loaded and verified" in message for message in messages) >= 3  # master + 2 workers
    access = [entry for entry in lines if entry["logger"] == "gunicorn.access" and entry["path"] == "/healthz"]
    assert access and access[-1]["status"] == 200 and isinstance(access[-1]["duration_ms"], int)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
