"""Reading the product's CSV exports in tests."""

from __future__ import annotations

import csv
import io
import re


def complete_export(raw: bytes) -> str:
    """A CSV export's text without its end line, after checking that line states exactly the rows before it.

    Exports that must be complete end with ``# END OF EXPORT: N data rows``
    (``infrastructure.csv_export``); N counts the lines after the header.
    """
    text = raw.decode("utf-8-sig")
    body, _, last = text.rstrip("\r\n").rpartition("\r\n")
    match = re.fullmatch(r"# END OF EXPORT: (\d+) data rows", last)
    assert match, f"the export does not end with its end line: {last[:80]!r}"
    body += "\r\n"
    assert int(match.group(1)) == len(list(csv.reader(io.StringIO(body)))) - 1
    return body
