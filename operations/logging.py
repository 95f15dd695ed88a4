"""JSON-lines log records for production (one object per line on stdout).

A log shipper can parse these without regular expressions; tracebacks stay
inside the record (``exc_info``) instead of spilling over many lines.
Standard library only, to keep the serving path free of extra packages.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed through ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _access_fields(atoms: dict) -> dict[str, Any]:
    """gunicorn's access-log atoms as fields (``M``: request time in ms)."""

    def atom(key: str) -> Any:
        value = atoms.get(key)
        return None if value in (None, "-") else value

    status = atom("s")
    return {
        "remote": atom("h"),
        "method": atom("m"),
        "path": atom("U"),
        "query": atom("q") or None,
        "status": int(status) if str(status or "").isdigit() else status,
        "bytes": atom("B"),
        "duration_ms": atom("M"),
        "duration_us": atom("D"),
        "user_agent": atom("a"),
    }


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            entry.update(_access_fields(record.args))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def json_logs_from_env() -> bool:
    """Whether logs are JSON lines: ``DJANGO_LOG_FORMAT``, else JSON unless DEBUG.

    Read the same way (django-environ) by the settings and by
    ``gunicorn.conf.py``, which is loaded before Django: both must agree on
    what ``DJANGO_DEBUG=no`` means.
    """
    import environ

    env = environ.Env()
    default = "text" if env.bool("DJANGO_DEBUG", default=False) else "json"
    return env.str("DJANGO_LOG_FORMAT", default=default) == "json"


def stdout_logging(*, json_lines: bool, level: str = "INFO", loggers: dict | None = None) -> dict:
    """A ``dictConfig`` sending every record to stdout, as JSON lines or text."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "operations.logging.JsonLinesFormatter"},
            "text": {"format": "%(asctime)s [%(process)d] %(levelname)s %(name)s %(message)s"},
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "json" if json_lines else "text",
            },
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": loggers or {},
    }
