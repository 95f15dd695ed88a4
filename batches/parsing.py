"""Reading an uploaded batch file as a stream: the file-level checks and each row's own.

The file is read once, line by line, never whole into memory. A file that is
not what we take (not UTF-8 text, not CSV, missing or unknown columns, too
big, too many rows) is refused as a whole with one reason; a row that is
wrong on its own (a cell too long, a NUL byte, a formula, the wrong number of
cells, a value the form refuses) is rejected alone, naming the field, and
the others go on.

Accepted columns: the ten inputs under the dataset's names (``scoring.schema``),
the optional ``applicant_reference``, and the training file's own
``loan_status`` and ``loan_percent_income``, which are ignored (the outcome
is not an input; the ratio is recomputed), so the shared dataset can be
uploaded as it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO, Any

from scoring import schema

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_ROWS = 1_000_000
# No input is anywhere near this long (the reference holds 64 characters);
# a longer cell is rejected with its row.
MAX_CELL_CHARS = 100
# The csv module refuses a cell beyond this outright: the file is refused.
csv.field_size_limit(64 * 1024)

REFERENCE = "applicant_reference"
IGNORED_COLUMNS = ("loan_status", "loan_percent_income")
REQUIRED_COLUMNS = tuple(schema.INPUT_NAMES)
KNOWN_COLUMNS = frozenset((*REQUIRED_COLUMNS, REFERENCE, *IGNORED_COLUMNS))
# Text a spreadsheet would run as a formula if the cell were opened in one.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


NUL_STAND_IN = "\ufffd"


class FileRefused(Exception):
    """The whole file is refused; the message says why, for the person who uploaded it."""


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from the upload and stops at the size limit."""

    def __init__(self, raw: IO[bytes], limit: int, digest: Any = None) -> None:
        self.raw, self.limit, self.count, self.digest = raw, limit, 0, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        self.count += len(data)
        if self.count > self.limit:
            raise FileRefused(f"The file is larger than {self.limit // (1024 * 1024)} MB.")
        if self.digest is not None:
            self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)


def read_header(columns: list[str]) -> list[str]:
    """Check the header row; returns the column names (stripped)."""
    names = [name.strip() for name in columns]
    if not any(names):
        raise FileRefused("The file has no header row: the first line must name the columns.")
    unknown = [name for name in names if name not in KNOWN_COLUMNS]
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise FileRefused(f"Unknown column(s) {shown}. Expected the dataset's columns: {', '.join(REQUIRED_COLUMNS)}.")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise FileRefused(f"Missing column(s): {', '.join(missing)}.")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise FileRefused(f"Column(s) named twice: {', '.join(duplicated)}.")
    return names


def read_rows(
    raw: IO[bytes], *, max_bytes: int = MAX_FILE_BYTES, max_rows: int = MAX_ROWS, digest: Any = None
) -> Iterator[list[str]]:
    """Yield the header's column names, then each data row's cells (texts), streaming.

    Raises ``FileRefused`` as soon as the file turns out to be unacceptable;
    rows yielded before that must then be thrown away by the caller.
    ``digest`` (a ``hashlib`` object) is fed every byte read.
    """
    text = io.TextIOWrapper(
        io.BufferedReader(_CountingReader(raw, max_bytes, digest), 1024 * 1024), encoding="utf-8-sig", newline=""
    )
    reader = csv.reader(text, strict=True)
    try:
        try:
            header = next(reader)
        except StopIteration:
            raise FileRefused("The file is empty.") from None
        yield read_header(header)
        count = 0
        for cells in reader:
            if not cells or cells == [""]:
                continue  # blank line
            count += 1
            if count > max_rows:
                raise FileRefused(f"The file has more than {max_rows:,} rows; split it into several files.")
            # Keep at most one character past the limit: enough to reject the row, not to store 64 KiB.
            # A NUL cannot be stored (PostgreSQL text and JSON refuse it): it is kept as U+FFFD, which
            # ``row_problems`` rejects the same way.
            yield [cell[: MAX_CELL_CHARS + 1].replace("\x00", NUL_STAND_IN) for cell in cells]
    except UnicodeDecodeError as error:
        raise FileRefused(
            f"The file is not UTF-8 text (undecodable byte near line {reader.line_num + 1}); save it as CSV UTF-8."
        ) from error
    except csv.Error as error:
        raise FileRefused(f"The file is not valid CSV at line {reader.line_num}: {error}.") from error


def row_problems(columns: list[str], cells: list[str]) -> dict[str, str]:
    """Checks of one row before its values are validated: ``{field: message}``, empty if none."""
    if len(cells) != len(columns):
        return {"row": f"Has {len(cells)} cells where the header names {len(columns)} columns."}
    problems: dict[str, str] = {}
    for name, cell in zip(columns, cells):
        if name in IGNORED_COLUMNS:
            continue
        if len(cell) > MAX_CELL_CHARS:
            problems[name] = f"Longer than {MAX_CELL_CHARS} characters."
        elif NUL_STAND_IN in cell or "\x00" in cell:
            problems[name] = "Contains a NUL character (or U+FFFD, the replacement character)."
        elif name not in schema.NUMERIC_INPUTS and cell.startswith(FORMULA_PREFIXES):
            # Numbers may start with "-" or "+" (the form then checks the range).
            problems[name] = "Starts like a spreadsheet formula (=, +, -, @); not accepted as text."
    return problems


def row_values(columns: list[str], cells: list[str]) -> dict[str, str]:
    """The row's inputs and reference by column name (ignored columns left out)."""
    return {name: cell for name, cell in zip(columns, cells) if name not in IGNORED_COLUMNS}
