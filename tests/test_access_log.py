"""operations.access_log.AccessLogger logs exactly what gunicorn's own Logger logs."""

from __future__ import annotations

import datetime as dt
import types

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from operations.access_log import AccessLogger

OUR_FORMAT = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'
PLAIN_FORMATS = [
    OUR_FORMAT,
    '%(h)s %(l)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',  # gunicorn's default minus t and u
    "%(m)s %(U)s?%(q)s %(H)s %(s)s %(B)s %(b)s %(T)s %(D)s %(M)s %(L)s %(p)s %(missing)s",
]
FULL_FORMATS = [
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',  # gunicorn's default
    '%(h)s "%(r)s" %(s)s %({x-request-id}i)s %({content-type}o)s %({wsgi.url_scheme}e)s',
]


def _request(**headers: str):
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/applications/new/?a=1",
        "PATH_INFO": "/applications/new/",
        "QUERY_STRING": "a=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_USER_AGENT": 'agent "quoted"',
        "HTTP_REFERER": "https://bank.example/applications/new/",
        "HTTP_AUTHORIZATION": "Basic b2ZmaWNlcjpzZWNyZXQ=",
        "HTTP_X_REQUEST_ID": "r-1",
        "wsgi.url_scheme": "https",
    }
    request = types.SimpleNamespace(
        headers=[("X-REQUEST-ID", "r-1"), ("USER-AGENT", 'agent "quoted"'), *headers.items()]
    )
    response = types.SimpleNamespace(
        status="303 See Other", sent=0, headers=[("Content-Type", "text/html"), ("Location", "/applications/7/")]
    )
    return response, request, environ, dt.timedelta(seconds=1, microseconds=23456)


def _line(logger_class, log_format: str) -> str:
    config = Config()
    config.set("access_log_format", log_format)
    logger = logger_class(config)
    response, request, environ, took = _request()
    return log_format % logger.atoms_wrapper_class(logger.atoms(response, request, environ, took))


@pytest.mark.parametrize("log_format", PLAIN_FORMATS)
def test_plain_atoms_render_as_gunicorn_renders_them(log_format):
    assert _line(AccessLogger, log_format) == _line(glogging.Logger, log_format)


@pytest.mark.parametrize("log_format", FULL_FORMATS)
def test_formats_naming_headers_time_or_user_use_gunicorns_full_atoms(log_format, monkeypatch):
    # The time atom would differ by a second at a boundary; freeze it for both.
    monkeypatch.setattr(glogging.Logger, "now", lambda self: "[27/Nov/2026:06:00:00 +0000]")
    line = _line(AccessLogger, log_format)
    assert line == _line(glogging.Logger, log_format)
    assert ("officer" in line) if "%(u)s" in log_format else ("r-1 text/html https" in line)


def test_our_line_and_json_fields():
    line = _line(AccessLogger, OUR_FORMAT)
    assert line == '127.0.0.1 "POST /applications/new/?a=1 HTTP/1.1" 303 0 1023ms "agent \\"quoted\\""'
    config = Config()
    config.set("access_log_format", OUR_FORMAT)
    logger = AccessLogger(config)
    atoms = logger.atoms(*_request())
    # The fields operations.logging.JsonLinesFormatter reads from an access record.
    assert {key: atoms[key] for key in ("h", "m", "U", "q", "s", "B", "M", "D", "a")} == {
        "h": "127.0.0.1",
        "m": "POST",
        "U": "/applications/new/",
        "q": "a=1",
        "s": "303",
        "B": 0,
        "M": 1023,
        "D": 1023456,
        "a": 'agent "quoted"',
    }


def test_the_production_configuration_uses_it(monkeypatch):
    from tests.test_serving import _config

    assert _config(monkeypatch)["logger_class"] == "operations.access_log.AccessLogger"
