"""Reading an effect table (CSV with metafor's column names) for ``metablina pool --table``.

Uses the csv module rather than pandas so that pooling a table starts fast. Every problem is one
line naming the file, the row (as a spreadsheet shows it: the header is row 1) and the column.
"""

from __future__ import annotations

import csv
import difflib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
KNOWN = {c for cols in COLUMN_SETS.values() for c in cols} | {"study"}
MAX_BYTES = 50 << 20


class TableError(ValueError):
    """A table that cannot be pooled; the message is the one line to print."""


@dataclass(frozen=True)
class Table:
    """The numeric columns a measure needs, as float arrays, and the study labels."""

    path: Path
    columns: dict[str, np.ndarray]
    labels: list[str]

    @property
    def k(self) -> int:
        return len(self.labels)


def read_table(path: Path, measure: str) -> Table:
    """Read ``path`` and return the columns ``measure`` needs; raise :class:`TableError` on any problem."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise TableError(f"{path}: larger than {MAX_BYTES >> 20} MiB; not an effect table")
        with path.open(newline="", encoding="utf-8") as fh:
            records = list(csv.reader(fh))
    except OSError as exc:
        raise TableError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TableError(f"{path}: not valid UTF-8") from None
    except csv.Error as exc:
        raise TableError(f"{path}: not a CSV file ({exc})") from None
    records = [r for r in records if any(cell.strip() for cell in r)]
    if not records:
        raise TableError(f"{path}: the file is empty")
    header = [h.strip() for h in records[0]]
    for i, name in enumerate(header):
        if name not in KNOWN:
            hint = difflib.get_close_matches(name, sorted(KNOWN), n=1, cutoff=0.5)
            also = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(sorted(KNOWN))})"
            raise TableError(f"{path}: row 1, column {i + 1}: unknown column {name!r}{also}")
        if header.index(name) != i:
            raise TableError(f"{path}: row 1: column {name!r} appears twice")
    wanted = _columns_for(measure, header, path)
    body = records[1:]
    if not body:
        raise TableError(f"{path}: no data rows under the header")
    columns: dict[str, list[float]] = {c: [] for c in wanted}
    labels = []
    for r, record in enumerate(body, start=2):
        if len(record) != len(header):
            raise TableError(f"{path}: row {r}: {len(record)} cells, but the header has {len(header)}")
        cells = dict(zip(header, (c.strip() for c in record), strict=True))
        labels.append(cells.get("study") or f"Study {r - 1}")
        for c in wanted:
            columns[c].append(_number(cells[c], c, r, path))
    return Table(path, {c: np.asarray(v, dtype=float) for c, v in columns.items()}, labels)


def _columns_for(measure: str, header: list[str], path: Path) -> tuple[str, ...]:
    options = [COLUMN_SETS[name] for name in MEASURE_COLUMNS[measure]]
    for cols in options:
        if all(c in header for c in cols):
            return cols
    best = max(options, key=lambda cols: sum(c in header for c in cols))
    missing = [c for c in best if c not in header]
    need = " or ".join("(" + ", ".join(cols) + ")" for cols in options)
    raise TableError(f"{path}: measure {measure} needs columns {need}; missing: {', '.join(missing)}")


def _number(text: str, column: str, row: int, path: Path) -> float:
    where = f"{path}: row {row}, column {column}"
    if text == "":
        raise TableError(f"{where}: empty cell")
    try:
        value = float(text)
    except ValueError:
        raise TableError(f"{where}: {text!r} is not a number") from None
    if math.isnan(value) or math.isinf(value):
        raise TableError(f"{where}: {text!r} is not a finite number")
    if column in COUNT_COLUMNS:
        if value < 0:
            raise TableError(f"{where}: negative count {text}")
        if value != int(value):
            raise TableError(f"{where}: count {text} is not a whole number")
    if column in ("vi", "sei") and value <= 0:
        raise TableError(f"{where}: {column} must be positive, got {text}")
    if column in ("sd1i", "sd2i") and value <= 0:
        raise TableError(f"{where}: a standard deviation must be positive, got {text}")
    return value


def check_counts(table: Table) -> None:
    """Events cannot exceed their totals; totals must be at least 1."""
    pairs = (("xi", "ni"), ("ai", "n1i"), ("ci", "n2i"))
    for events, total in pairs:
        if events in table.columns:
            for i, (x, n) in enumerate(zip(table.columns[events], table.columns[total], strict=True)):
                row = i + 2
                if n < 1:
                    raise TableError(
                        f"{table.path}: row {row}, column {total}: total must be at least 1, got {n:g}"
                    )
                if x > n:
                    raise TableError(
                        f"{table.path}: row {row}, column {events}: {x:g} events exceed {total} = {n:g}"
                    )
    for col in ("n1i", "n2i"):
        if col in table.columns and "m1i" in table.columns:
            for i, n in enumerate(table.columns[col]):
                if n < 2:
                    raise TableError(
                        f"{table.path}: row {i + 2}, column {col}: needs at least 2 per group, got {n:g}"
                    )
