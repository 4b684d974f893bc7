"""Plain tables (pandas) for the terminal, and the one CSV writer behind every CSV metablina writes.

Text in a table can come from an extract (a ``location``, a ``title``, a sensitivity ``label``), and a
table is opened in a spreadsheet by people who did not write the extract. :func:`spreadsheet_safe` keeps
such text from being run as a formula (OWASP's CSV injection rule), and :func:`to_csv` applies it to
every cell and every header it writes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from metablina.extract.schema import Study

# OWASP's list: a cell starting with one of these is read as a formula by Excel, LibreOffice Calc and
# Google Sheets (tab and carriage return can stand before one, and are dropped when it is read).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A cell that is only a number (-0.5, +3, -1.2e-05) is read as that number, never as a formula.
_PLAIN_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


_FORMULA_FIRST = frozenset(FORMULA_STARTS)  # each one character


def spreadsheet_safe(text: str) -> str:
    """``text`` as a spreadsheet should show it without running it: a cell that would start a formula
    gets OWASP's leading single quote (shown as text, not as part of the value); numbers are left as
    they are, so a column of estimates stays numeric."""
    if text[:1] in _FORMULA_FIRST and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def plain_cell(value: Any) -> str:
    """A value as the csv module writes it, with None as an empty cell."""
    return "" if value is None else str(value)


def to_csv(
    rows: Iterable[Mapping[str, Any]], fields: Sequence[str], cell: Callable[[Any], str] = plain_cell
) -> str:
    """``rows`` as CSV with ``\\n`` line ends: a header of ``fields``, then each row's values of those
    fields formatted by ``cell`` (missing keys are empty); every cell passes :func:`spreadsheet_safe`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([spreadsheet_safe(str(f)) for f in fields])
    safe = spreadsheet_safe
    writer.writerows([[safe(cell(get(f))) for f in fields] for get in (row.get for row in rows)])
    return buf.getvalue()


def study_overview(studies: list[Study]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per study (design, setting, n), and the count of records per outcome and study."""
    import pandas as pd

    rows = [
        {
            "study": s.id,
            "design": s.design,
            "setting": ", ".join(s.setting),
            "n": s.population.n,
            "arms": len(s.arms),
            "records": len(s.outcomes),
            "overlaps with": ", ".join(o.study for o in s.overlap) or "-",
        }
        for s in studies
    ]
    counts = pd.DataFrame(
        [(r.outcome, s.id) for s in studies for r in s.outcomes], columns=["outcome", "study"]
    )
    matrix = pd.crosstab(counts["outcome"], counts["study"]) if len(counts) else pd.DataFrame()
    matrix = matrix.reindex(columns=[s.id for s in studies], fill_value=0)
    return pd.DataFrame(rows), matrix


def counts_csv(matrix: pd.DataFrame) -> str:
    """The records-per-outcome-and-study matrix of :func:`study_overview` as CSV (``studies --format
    csv``): an ``outcome`` column, then one column per study."""
    fields = ["outcome", *map(str, matrix.columns)]
    rows = (
        {"outcome": outcome, **dict(zip(fields[1:], counts, strict=True))}
        for outcome, counts in zip(matrix.index, matrix.to_numpy().tolist(), strict=True)
    )
    return to_csv(rows, fields)
