"""A csv file as a checked table of text cells, each row knowing its line in the file.

Every problem is a `DataError` located at the file's line and naming the column, raised
before anything trains: an empty cell, a row with another number of values than the header,
a value that is not a number where one is needed. Errors name the column (from the header
line the spec reads), never a cell's text.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import BinaryIO

# A header longer than this is not a csv header: do not read a whole file as a line.
HEADER_MAX = 1 << 20
NAME_SHOWN = 40
EMPTY, NOT_A_NUMBER, RAGGED = "E130", "E131", "E132"


class DataError(ValueError):
    """A problem in a data file or a data source's options, with its error code and hint."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code, self.hint = code, hint


@dataclass(frozen=True)
class Table:
    """The cells of a csv file: `columns[name]` in row order, `lines[i]` the file line of
    row i (the header is line 1), `name` how the file is shown in errors."""

    name: str
    header: list[str]
    columns: dict[str, list[str]]
    lines: list[int]

    def at(self, row: int) -> str:
        """`d.csv:17` for row `row` (0-based)."""
        return f"{self.name}:{self.lines[row]}"

    def numbers(self, column: str, hint: str | None = None) -> list[float]:
        """The column as numbers; a cell that is not one is E131 at its line."""
        out = []
        for row, cell in enumerate(self.columns[column]):
            value = number(cell)
            if value is None:
                raise DataError(NOT_A_NUMBER, f"{self.at(row)}: column {shown(column)} holds a "
                                "value that is not a number", hint)
            out.append(value)
        return out


def shown(column: str) -> str:
    """A column name for an error: quoted, cut short, control characters escaped."""
    text = column if len(column) <= NAME_SHOWN else column[:NAME_SHOWN] + "..."
    return '"' + text.encode("unicode_escape").decode("ascii") + '"'


def number(cell: str) -> float | None:
    """The cell as a finite float, or None when it is not one (`nan` and `inf` are not:
    a NaN or infinite input would make every loss NaN)."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def header(raw: BinaryIO) -> list[str]:
    """The column names of the header line, stripped."""
    line = raw.readline(HEADER_MAX).decode("utf-8", "replace")
    return [c.strip() for c in next(csv.reader([line]), [])]


def read(raw: BinaryIO, name: str) -> Table:
    """The whole file as a Table; raises DataError at the first empty cell or ragged row."""
    # The wrapper closes `raw` with it: the caller's `with` then closes nothing twice.
    with io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as text:
        reader = csv.reader(text)
        names = [c.strip() for c in next(reader, [])]
        twice = [c for i, c in enumerate(names) if c in names[:i]]
        if twice:
            raise DataError(RAGGED, f"{name}:1: column {shown(twice[0])} appears twice in the "
                            "header line", "give every column its own name")
        cells: list[list[str]] = [[] for _ in names]
        lines = []
        for row in reader:
            if not any(c.strip() for c in row):
                continue  # blank lines (a trailing newline) are not rows
            _check_row(row, names, f"{name}:{reader.line_num}")
            for i, cell in enumerate(row):
                cells[i].append(cell.strip())
            lines.append(reader.line_num)
    return Table(name, names, dict(zip(names, cells)), lines)


def _check_row(row: list[str], names: list[str], where: str) -> None:
    """As many values as columns, none of them empty."""
    if len(row) != len(names):
        raise DataError(RAGGED, f"{where}: the row has {len(row)} values, the header line "
                        f"has {len(names)} columns")
    for i, cell in enumerate(row):
        if not cell.strip():
            raise DataError(EMPTY, f"{where}: column {shown(names[i])} is empty",
                            "fill in every value, or drop the row")
