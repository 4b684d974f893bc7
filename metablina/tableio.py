"""Reading an effect table (CSV with metafor's column names) for ``metablina pool --table``.

Uses the csv module rather than pandas so that pooling a table starts fast. Every problem is one line
naming the file, the row and the column; a row is the file's line number (blank lines count, so the
header is row 1 when it comes first), as an editor or a spreadsheet shows it.

The table is read as R's ``read.csv`` and metafor read it, without their surprises:

* the columns the measure needs, and ``study``; any other column is ignored, and named once in a warning;
* ``NA`` or an empty cell is missing, and its row is left out with one warning naming the rows (metafor's
  ``na.omit``);
* a number is plain decimal text (``-1.5``, ``2e-3``); ``1_0``, ``0x1A``, ``١٢``, ``inf`` and ``nan``,
  which Python's ``float`` would take, are refused, and so are numbers beyond 1e±77, whose squares (and
  squares of those) overflow or underflow in a fit: ``yi = 1e308`` would make τ² infinite;
* the file through :func:`metablina.safeio.read_input`: a regular file (never a device or a pipe) of at
  most 50 MiB, UTF-8 with or without a byte-order mark, at most a million data rows of at most 65,536
  characters each.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import itertools
import math
import operator
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metablina.safeio import InputRefused, read_input

if TYPE_CHECKING:
    from metablina.analyze import PoolResult

COLUMN_SETS: dict[str, tuple[str, ...]] = {
    "proportions": ("xi", "ni"),
    "two-group binary": ("ai", "n1i", "ci", "n2i"),
    "two-group means": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "generic (variance)": ("yi", "vi"),
    "generic (SE)": ("yi", "sei"),
}
MEASURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "PLO": ("proportions",),
    "PFT": ("proportions",),
    "PAS": ("proportions",),
    "PR": ("proportions",),
    "RR": ("two-group binary",),
    "OR": ("two-group binary",),
    "RD": ("two-group binary",),
    "MD": ("two-group means",),
    "SMD": ("two-group means",),
    "GEN": ("generic (variance)", "generic (SE)"),
}
COUNT_COLUMNS = {"xi", "ni", "ai", "n1i", "ci", "n2i"}
POSITIVE_COLUMNS = {"vi": "vi must be positive", "sei": "sei must be positive"} | dict.fromkeys(
    ("sd1i", "sd2i"), "a standard deviation must be positive"
)
KNOWN = {c for cols in COLUMN_SETS.values() for c in cols} | {"study"}
MAX_BYTES = 50 << 20
MAX_LINE = 1 << 16  # characters; a row of an effect table is a few dozen
MAX_ROWS = 1_000_000  # no meta-analysis has more studies; reading a million rows takes about a second
MISSING = frozenset({"", "NA"})  # R's read.csv: both are NA in a numeric column
LISTED = 10  # rows named in the warning about missing cells, before "and N more"

_PLAIN_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_NOT_PLAIN_CHARACTER = re.compile(r"[^0-9.eE+-]")
_NOT_FINITE = re.compile(r"[-+]?(?:inf|infinity|nan)", re.IGNORECASE)
# A fit works with squares of the numbers and squares of their squares (REML's information about τ² sums
# 1/(vi + τ²)², and τ² is of the order of yi²): within these bounds x⁴ stays finite and non-zero. Beyond
# them the arithmetic overflows, or Fisher scoring never ends (yi = 1e100).
_LARGEST = 1e77
_SMALLEST = 1e-77


class TableError(ValueError):
    """A table that cannot be pooled; the message is the one line to print."""


@dataclass(frozen=True)
class Table:
    """The numeric columns a measure needs, as float arrays, the study labels and each study's row (its
    line in the file); ``warnings`` are the lines about what was ignored or left out."""

    path: Path
    columns: dict[str, np.ndarray]
    labels: list[str]
    rows: np.ndarray
    warnings: tuple[str, ...] = ()

    @property
    def k(self) -> int:
        return len(self.labels)


def pool_table(path: Path, measure: str, method: str, ci: str | None, priors: dict[str, Any]) -> PoolResult:
    """Read ``path`` and pool it (``metablina pool --table``); the table's warnings come first in the
    result's. Raises :class:`TableError` with the one line to print.

    A fit whose arithmetic overflows (numbers of wildly different scales, each within range on its own)
    is refused rather than reported with an infinite τ² beside numpy's warnings. With the numbers
    studies report no fit warns, so this refuses only arithmetic that went wrong.
    """
    from metablina.analyze import pool
    from metablina.stats.errors import InputError

    table = read_table(path, measure)
    check_counts(table)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            result = pool(measure, method, ci, table.columns, table.labels, **priors)
            result.back()  # the back-transformed numbers every output format shows
    except InputError as exc:
        raise TableError(f"{path}: {exc}") from None
    overflow = next((w for w in caught if issubclass(w.category, RuntimeWarning)), None)
    if overflow is not None:
        raise TableError(
            f"{path}: the numbers are too far apart in scale to pool ({overflow.message}); "
            "give them in other units"
        )
    return dataclasses.replace(result, warnings=(*table.warnings, *result.warnings))


def read_table(path: Path, measure: str) -> Table:
    """Read ``path`` and return the columns ``measure`` needs; raise :class:`TableError` on any problem."""
    path = Path(path)
    reader = _Rows(path)
    header_row, header = reader.header()
    names = [h.strip() for h in header]
    wanted = _columns_for(measure, names, path)
    read = (*wanted, "study") if "study" in names else wanted
    for name in read:
        if names.count(name) > 1:
            raise TableError(f"{path}: row {header_row}: column {name!r} appears twice")
    rows, cells = reader.body(len(names), [names.index(c) for c in read])
    if not rows:
        raise TableError(f"{path}: no data rows under the header")
    by_column = dict(zip(read, cells, strict=True))
    numbers = _numbers(path, rows, {c: by_column[c] for c in wanted})
    studies = by_column.get("study", ("",) * len(rows))
    labels = [s if s not in MISSING else f"Study {i}" for i, s in enumerate(map(str.strip, studies), 1)]
    warnings = []
    ignored = [n or f"(column {i}, unnamed)" for i, n in enumerate(names, 1) if n not in read]
    if ignored:
        listed = ", ".join(dict.fromkeys(ignored))
        warnings.append(f"{path}: ignored the columns that measure {measure} does not use: {listed}")
    missing = np.isnan(np.column_stack(list(numbers.values()))).any(axis=1)
    if missing.any():
        if missing.all():
            raise TableError(f"{path}: every data row has an NA or empty cell in {', '.join(wanted)}")
        warnings.append(_left_out(path, np.flatnonzero(missing), rows, labels))
        keep = ~missing
        numbers = {c: v[keep] for c, v in numbers.items()}
        labels = [label for label, k in zip(labels, keep, strict=True) if k]
        rows = [r for r, k in zip(rows, keep, strict=True) if k]
    return Table(path, numbers, labels, np.asarray(rows), tuple(warnings))


class _Rows:
    """The records of a CSV file with the line each starts on; blank lines (or lines of empty cells) are
    skipped, and counted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = read_input(path, MAX_BYTES, inside=None)
        except InputRefused as exc:
            raise TableError(f"{path}: {exc.reason}") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise TableError(f"{path}: row {line}: not valid UTF-8") from None
        self.text = text
        # every line within MAX_LINE (a "\n"-separated piece is at least as long as the line it holds):
        # csv can read the text directly, else line by line so that a long line is refused before csv
        # splits it
        self.short = max(map(len, text.split("\n"))) < MAX_LINE
        self.reader = csv.reader(io.StringIO(text, newline="") if self.short else self._lines(text))
        self.end = 0  # the line the last record ended on

    def _lines(self, text: str):
        """The lines of ``text`` as csv reads them; one longer than :data:`MAX_LINE` is refused before
        it is split into (possibly millions of) cells."""
        for number, line in enumerate(io.StringIO(text, newline=""), 1):
            if len(line) > MAX_LINE:
                raise TableError(f"{self.path}: row {number}: longer than {MAX_LINE:,} characters; not read")
            yield line

    def __iter__(self):
        try:
            for record in self.reader:
                start, self.end = self.end + 1, self.reader.line_num
                if any(record):  # not a blank line, nor one of empty cells
                    yield start, record
        except csv.Error as exc:
            raise TableError(f"{self.path}: row {self.end + 1}: not a CSV file ({exc})") from None

    def header(self) -> tuple[int, list[str]]:
        first = next(iter(self), None)
        if first is None:
            raise TableError(f"{self.path}: the file is empty")
        return first

    def body(self, width: int, columns: list[int]) -> tuple[list[int], list[list[str]]]:
        """Each data row's line, and the cells of ``columns`` (one list per column); every row must have
        ``width`` cells."""
        fast = self._body_fast(width, columns)
        return fast if fast is not None else self._body_by_record(width, columns)

    def _body_fast(self, width: int, columns: list[int]) -> tuple[list[int], list[list[str]]] | None:
        """:meth:`body` at C speed for the usual table: one record per line, every record ``width`` cells
        (blank lines allowed), at most MAX_ROWS rows. None for anything else, which the record-by-record
        reading then reads, or refuses naming the row, exactly."""
        if not self.short:
            return None
        first = self.end + 1  # the line after the header
        if not any(c in self.text for c in '"\r\0'):
            # nothing csv treats specially but commas and "\n": its records are the lines split at commas
            lines = self.text.split("\n")[self.end :]
            if lines and not lines[-1]:
                lines.pop()  # after the last line's "\n"
            commas = set(map(str.count, lines, itertools.repeat(",")))
            if commas == {width - 1} and not lines.count("," * (width - 1)) and len(lines) <= MAX_ROWS:
                # every line a full row (no blank ones, none of empty cells): cut all at once
                cells = ",".join(lines).split(",")
                return list(range(first, first + len(lines))), [cells[j::width] for j in columns]
            records = [line.split(",") if line else [] for line in lines]
        else:
            try:
                records = list(self.reader)
            except csv.Error:
                return None
            if self.reader.line_num != self.end + len(records):  # a quoted cell spans lines
                return None
        keep = [i for i, record in enumerate(records) if any(record)]
        if len(keep) > MAX_ROWS or set(map(len, (records[i] for i in keep))) - {width}:
            return None
        if len(keep) < len(records):
            records = [records[i] for i in keep]
        return [first + i for i in keep], [[record[j] for record in records] for j in columns]

    def _body_by_record(self, width: int, columns: list[int]) -> tuple[list[int], list[list[str]]]:
        """:meth:`body` one record at a time from the line after the header, refusing the first bad row."""
        if self.short:  # the fast reading stopped somewhere: read again, with the lines counted
            self.reader = csv.reader(self._lines(self.text))
            self.end = 0
            self.header()
        rows, cells = [], []
        pick = operator.itemgetter(*columns)
        for row, record in self:
            if len(record) != width:
                raise TableError(f"{self.path}: row {row}: {len(record)} cells, but the header has {width}")
            if len(rows) == MAX_ROWS:
                raise TableError(f"{self.path}: row {row}: more than {MAX_ROWS:,} data rows; not read")
            rows.append(row)
            cells.extend(pick(record))
        return rows, [cells[j :: len(columns)] for j in range(len(columns))]


def _columns_for(measure: str, header: list[str], path: Path) -> tuple[str, ...]:
    options = [COLUMN_SETS[name] for name in MEASURE_COLUMNS[measure]]
    for cols in options:
        if all(c in header for c in cols):
            return cols
    best = max(options, key=lambda cols: sum(c in header for c in cols))
    missing = [c for c in best if c not in header]
    need = " or ".join("(" + ", ".join(cols) + ")" for cols in options)
    unknown = [h for h in header if h not in KNOWN]
    hints = [
        f"is column {match[0]!r} meant to be {c!r}?"
        for c in missing
        if (match := difflib.get_close_matches(c, unknown, n=1, cutoff=0.5))
    ]
    also = f" ({'; '.join(hints)})" if hints else ""
    raise TableError(f"{path}: measure {measure} needs columns {need}; missing: {', '.join(missing)}{also}")


def _numbers(path: Path, rows: list[int], columns: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Each column as floats, NaN where a cell is missing; the first bad cell in the file is refused."""
    out, problems = {}, []
    for order, (name, cells) in enumerate(columns.items()):
        out[name], problem = _column(name, cells)
        if problem is not None:
            index, message = problem
            problems.append((index, order, f"row {rows[index]}, column {name}: {message}"))
    if problems:
        raise TableError(f"{path}: {min(problems)[2]}")
    return out


def _column(name: str, cells: list[str]) -> tuple[np.ndarray, tuple[int, str] | None]:
    """The floats of one column (NaN where missing) and its first bad cell (index, message), if any."""
    try:
        # the common case at C speed: no cell holds more than digits, signs, points and exponents, and
        # then float() reads exactly the plain numbers
        if _NOT_PLAIN_CHARACTER.search("".join(cells)):
            raise ValueError
        values = np.array(cells, dtype=float)
        plain = np.ones(len(cells), dtype=bool)
    except ValueError:
        cells = [c.strip() for c in cells]
        plain = np.array([c in MISSING or _PLAIN_NUMBER.fullmatch(c) is not None for c in cells], dtype=bool)
        values = np.array(
            [float(c) if ok and c not in MISSING else math.nan for c, ok in zip(cells, plain, strict=True)]
        )
    v = np.where(np.isnan(values), 1.0, values)  # a value every rule below accepts
    rules = [
        (~plain, _not_a_number),
        (
            np.abs(v) > _LARGEST,
            lambda c: f"{c} is too large: above 1e77 its square overflows in a fit",
        ),
    ]
    if name in COUNT_COLUMNS:
        rules.append((v < 0, lambda c: f"negative count {c}"))
        rules.append((v != np.floor(v), lambda c: f"count {c} is not a whole number"))
    if name in POSITIVE_COLUMNS:
        rules.append((v <= 0, lambda c: f"{POSITIVE_COLUMNS[name]}, got {c}"))
        rules.append(
            (np.abs(v) < _SMALLEST, lambda c: f"{c} is too small: below 1e-77 its square underflows in a fit")
        )
    bad = np.logical_or.reduce([mask for mask, _ in rules])
    if not bad.any():
        return values, None
    i = int(np.argmax(bad))
    say = next(say for mask, say in rules if mask[i])
    return values, (i, say(cells[i] if len(cells[i]) <= 40 else cells[i][:40] + "…"))


def _not_a_number(cell: str) -> str:
    return f"{cell!r} is {'not a finite number' if _NOT_FINITE.fullmatch(cell) else 'not a number'}"


def _left_out(path: Path, indices: np.ndarray, rows: list[int], labels: list[str]) -> str:
    named = ", ".join(f"{rows[i]} ({labels[i]})" for i in indices[:LISTED])
    more = f", and {len(indices) - LISTED} more" if len(indices) > LISTED else ""
    return (
        f"{path}: left out {len(indices)} row(s) with an NA or empty cell, as metafor's na.omit does: "
        f"{'row' if len(indices) == 1 else 'rows'} {named}{more}"
    )


def check_counts(table: Table) -> None:
    """Events cannot exceed their totals; totals must be at least 1 (2 per group for means)."""
    cols = table.columns
    for events, total in (("xi", "ni"), ("ai", "n1i"), ("ci", "n2i")):
        if events in cols:
            x, n = cols[events], cols[total]
            if (n < 1).any() or (x > n).any():
                i = int(np.argmax((n < 1) | (x > n)))
                if n[i] < 1:
                    _refuse(table, i, total, f"total must be at least 1, got {n[i]:g}")
                _refuse(table, i, events, f"{x[i]:g} events exceed {total} = {n[i]:g}")
    if "m1i" in cols:
        for col in ("n1i", "n2i"):
            if (cols[col] < 2).any():
                i = int(np.argmax(cols[col] < 2))
                _refuse(table, i, col, f"needs at least 2 per group, got {cols[col][i]:g}")


def _refuse(table: Table, study: int, column: str, message: str) -> None:
    raise TableError(f"{table.path}: row {table.rows[study]}, column {column}: {message}")
