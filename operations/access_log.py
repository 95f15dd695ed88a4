"""gunicorn's access logger, building only the atoms the access log uses.

For every request gunicorn's ``Logger.atoms`` builds a dict of every atom
its format language knows: one entry per request header, per response
header and per WSGI environ key (about 60 here), each lower-cased and
formatted, then copied again by ``SafeAtoms`` to escape quotes. Our access
line (``gunicorn.conf.py``) and the JSON formatter (``operations.logging``)
read ten plain atoms. Under load this was ~3% of a worker's time, on the
path every submission takes.

``AccessLogger`` (gunicorn's ``logger_class``) builds the plain atoms with
gunicorn's own definitions and hands the rest to gunicorn: as soon as the
configured format names a header or environ atom (``%({x-request-id}i)s``),
the time (``%(t)s``) or the basic-auth user (``%(u)s``), it uses gunicorn's
full ``atoms`` again, so any format gunicorn accepts still logs the same
line. ``tests/test_access_log.py`` compares both, atom for atom.
"""

from __future__ import annotations

import os
import re
from typing import Any

from gunicorn import glogging

# Atoms built only by gunicorn's full ``atoms``: headers and environ ({...}),
# the strftime'd time and the basic-auth user.
_NEEDS_FULL_ATOMS = re.compile(r"%\((?:\{|t\)|u\))")


class AccessLogger(glogging.Logger):
    """``gunicorn.glogging.Logger`` with a lean ``atoms`` for formats of plain atoms."""

    _format_checked: str | None = None
    _full_atoms = True

    def _uses_full_atoms(self) -> bool:
        log_format = self.cfg.access_log_format
        if log_format != self._format_checked:
            self._full_atoms = bool(_NEEDS_FULL_ATOMS.search(log_format))
            self._format_checked = log_format
        return self._full_atoms

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        if self._uses_full_atoms():
            return super().atoms(resp, req, environ, request_time)
        # Exactly gunicorn's definitions (glogging.Logger.atoms), minus t and u.
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        seconds, microseconds = request_time.seconds, request_time.microseconds
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "l": "-",
            "r": "%s %s %s" % (environ["REQUEST_METHOD"], environ["RAW_URI"], environ["SERVER_PROTOCOL"]),
            "s": status,
            "m": environ.get("REQUEST_METHOD"),
            "U": environ.get("PATH_INFO"),
            "q": environ.get("QUERY_STRING"),
            "H": environ.get("SERVER_PROTOCOL"),
            "b": sent is not None and str(sent) or "-",
            "B": sent,
            "f": environ.get("HTTP_REFERER", "-"),
            "a": environ.get("HTTP_USER_AGENT", "-"),
            "T": seconds,
            "D": seconds * 1000000 + microseconds,
            "M": seconds * 1000 + int(microseconds / 1000),
            "L": "%d.%06d" % (seconds, microseconds),
            "p": "<%s>" % os.getpid(),
        }
