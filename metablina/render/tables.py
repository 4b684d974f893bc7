"""Plain tables (pandas) for the terminal and for outputs/tables/."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from metablina.extract.schema import Study


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
