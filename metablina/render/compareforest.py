"""A two-arm comparison (RR, OR, RD, HR) -> the data of its forest plot, in RevMan's and R meta's layout.

Per study: events and total of each arm as given, the relative effect with its CI as text and as a square
sized by its weight; the pooled diamond (and prediction interval), the heterogeneity line and the test for
the overall effect; ratios on a log axis and risk differences on a linear one, the null always inside the
axis; "Favours <intervention>" on the side of the null where the effect favours the intervention, which
the analysis states (:attr:`Comparison.favourable`), never read from the numbers. Derived effects and
continuity-corrected studies carry footnote marks. One study is shown as itself, "not pooled".

The same texts (absolute effects per 1,000, the heterogeneity and overall-effect lines) are used by the
report's tables and page, so the plot and the page never disagree.
"""

from __future__ import annotations

import math

from metablina.render.forestdata import fmt_num, fmt_p, fmt_tau2
from metablina.render.forestmodel import (
    AbsoluteEffect,
    Column,
    Comparison,
    ComparisonFit,
    ComparisonStudy,
    ForestData,
    Group,
    Pooled,
    StudyRow,
)

MEASURE_NAMES = {"RR": "Risk ratio", "OR": "Odds ratio", "RD": "Risk difference", "HR": "Hazard ratio"}
MARKS = ("*", "†", "‡", "§", "¶")


def measure_axis_label(measure: str) -> str:
    name = MEASURE_NAMES[measure]
    return name if measure == "RD" else f"{name} (log scale)"


def heterogeneity_line(fit: ComparisonFit) -> str | None:
    """ "Heterogeneity: τ² = 0.012; I² = 23%; Q = 3.90, df = 3, p = 0.27", the parts the model has."""
    parts = []
    if fit.tau2 is not None:
        parts.append(f"τ² = {fmt_tau2(fit.tau2)}")
    if fit.i2 is not None:
        parts.append(f"I² = {fit.i2:.0f}%")
    if fit.q is not None:
        parts.append(f"Q = {fmt_num(fit.q)}, df = {fit.q_df}, p {fmt_p(fit.q_p)}")
    return "Heterogeneity: " + "; ".join(parts) if parts else None


def overall_test_line(fit: ComparisonFit) -> str | None:
    """ "Test for overall effect: z = 2.51, p = 0.012" (t with its df for a t-based interval)."""
    if fit.stat is None:
        return None
    name = f"t({fit.stat_df})" if fit.stat_name == "t" and fit.stat_df is not None else fit.stat_name
    return f"Test for overall effect: {name} = {fmt_num(fit.stat).replace('-', '−')}, p {fmt_p(fit.p)}"


def _per_1000(x: float) -> str:
    return f"{round(x):d}" if math.isfinite(x) else "NA"


def _more_fewer(x: float) -> str:
    n = round(x)
    if n == 0:
        return "0 more"
    return f"{abs(n)} {'more' if n > 0 else 'fewer'}"


def absolute_text(c: Comparison) -> str | None:
    """The GRADE Summary-of-Findings sentence: comparator risk and its source, the risk with the
    intervention and the difference, per 1,000 with 95% CIs."""
    a: AbsoluteEffect | None = c.absolute
    if a is None:
        return None
    when = f" {a.landmark}" if a.landmark else ""
    return (
        f"Absolute effect per 1,000{when}: {_per_1000(1000 * a.acr)} with {c.control} (assumed comparator "
        f"risk: {a.acr_source}); {_per_1000(a.risk)} ({_per_1000(a.risk_low)} to {_per_1000(a.risk_high)}) "
        f"with {c.intervention}, {_more_fewer(a.difference)} per 1,000 "
        f"({_more_fewer(a.difference_low)} to {_more_fewer(a.difference_high)})."
    )


def _count(x: int | None) -> str:
    return "" if x is None else str(x)


def _columns(c: Comparison) -> list[tuple[Column, str]]:
    """The arm columns the studies have numbers for: (column, attribute) pairs."""
    out = []
    for arm, name in (("i", c.intervention), ("c", c.control)):
        for header, what in (("Events", "events"), ("Total", "total")):
            attr = f"{what}_{arm}"
            if any(getattr(s, attr) is not None for s in c.studies):
                out.append((Column(header, name), attr))
    return out


def _footnotes(studies: tuple[ComparisonStudy, ...]) -> tuple[dict[str, str], list[str]]:
    """A mark per distinct derivation or correction text, and the notes explaining them."""
    marks: dict[str, str] = {}
    for s in studies:
        for text in (s.correction, s.derived):
            if text and text not in marks:
                marks[text] = MARKS[len(marks) % len(MARKS)] * (1 + len(marks) // len(MARKS))
    notes = []
    for s_text, mark in marks.items():
        is_correction = any(s.correction == s_text for s in studies)
        what = "Continuity correction" if is_correction else "Derived"
        notes.append(f"{mark} {what}: {s_text}.")
    return marks, notes


def comparison_forest_data(c: Comparison) -> ForestData:
    """The forest plot of one comparison (see the module's docstring)."""
    columns = _columns(c)
    marks, notes = _footnotes(tuple(c.studies))
    rows = []
    for s in c.studies:
        note = s.note
        if math.isnan(s.estimate) and not note:
            note = "not estimable"
        mark = "".join(marks[t] for t in (s.correction, s.derived) if t)
        rows.append(
            StudyRow(
                s.label,
                "",
                s.estimate,
                s.ci_low,
                s.ci_high,
                weight=s.weight if c.fit is not None else None,
                note=note,
                cells=[_count(getattr(s, attr)) for _col, attr in columns],
                mark=mark,
            )
        )
    overall: list[Pooled] = []
    heterogeneity = test = None
    if c.fit is not None:
        f = c.fit
        totals = []
        for _col, attr in columns:
            values = [getattr(s, attr) for s in c.studies]
            shown = attr.startswith("total") and all(v is not None for v in values)
            totals.append(str(sum(values)) if shown else "")
        overall.append(
            Pooled(
                f.label,
                f.estimate,
                f.ci_low,
                f.ci_high,
                pi_low=f.pi_low,
                pi_high=f.pi_high,
                cells=totals if columns else (),
            )
        )
        heterogeneity = heterogeneity_line(f)
        test = overall_test_line(f)
    if c.favourable is None:
        notes.append("No “favours” labels: the analysis does not state which side favours the intervention.")
    if not c.randomised:
        notes.append(f"Non-randomised comparison: {c.control} is not a randomised control.")
    if (text := absolute_text(c)) is not None:
        notes.append(text)
    notes += list(c.notes)
    return ForestData(
        title=c.title,
        measure_label=measure_axis_label(c.measure),
        scale=c.scale,
        groups=[Group(None, rows, refusal=c.refusal if c.fit is None else None)],
        overall=overall,
        heterogeneity=heterogeneity,
        overall_test=test,
        model=c.fit.model if c.fit is not None else "",
        notes=notes,
        estimate_header=f"{c.measure} [95% CI]",
        favours=c.favours,
        digits=c.digits,
        columns=[col for col, _attr in columns],
        symmetric=True,
    )
