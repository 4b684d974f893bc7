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
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from metablina.render.forestdata import (
    context,
    diamond_label,
    fmt_num,
    fmt_p,
    fmt_tau2,
    interval_text,
    model_name,
)
from metablina.render.forestmodel import (
    AbsoluteEffect,
    Column,
    Comparison,
    ComparisonFit,
    ComparisonStudy,
    Favourable,
    ForestData,
    Group,
    Pooled,
    StudyRow,
    uninformative,
)

if TYPE_CHECKING:
    from metablina.analyze import PoolResult
    from metablina.run import AnalysisResult, StratumFit

MEASURE_NAMES = {"RR": "Risk ratio", "OR": "Odds ratio", "RD": "Risk difference", "HR": "Hazard ratio"}
MARKS = ("*", "†", "‡", "§", "¶")


def measure_axis_label(measure: str) -> str:
    name = MEASURE_NAMES[measure]
    return name if measure == "RD" else f"{name} (log scale)"


def heterogeneity_line(fit: ComparisonFit) -> str | None:
    """The heterogeneity line with the parts the model has, e.g. "Heterogeneity: τ² = 0.012; I² = 23%;
    Q = 3.90, df = 3, p = 0.27"."""
    parts = []
    if fit.tau2 is not None:
        parts.append(f"τ² = {fmt_tau2(fit.tau2)}")
    if fit.i2 is not None:
        parts.append(f"I² = {fit.i2:.0f}%")
    if fit.q is not None:
        parts.append(f"{fit.q_name} = {fmt_num(fit.q)}, df = {fit.q_df}, p {fmt_p(fit.q_p)}")
    return "Heterogeneity: " + "; ".join(parts) if parts else None


def overall_test_line(fit: ComparisonFit) -> str | None:
    """The test for the overall effect, e.g. "Test for overall effect: z = 2.51, p = 0.012" (t with its
    df for a t-based interval)."""
    if fit.stat is None:
        return None
    name = f"t({fit.stat_df})" if fit.stat_name == "t" and fit.stat_df is not None else fit.stat_name
    return f"Test for overall effect: {name} = {fmt_num(fit.stat).replace('-', '−')}, p {fmt_p(fit.p)}"


def per_1000(x: float) -> str:
    return f"{round(x):d}" if math.isfinite(x) else "NA"


def more_fewer(x: float) -> str:
    if not math.isfinite(x):
        return "NA"
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
        f"Absolute effect per 1,000{when}: {per_1000(1000 * a.acr)} with {c.control} (assumed comparator "
        f"risk: {a.acr_source}); {per_1000(a.risk)} ({per_1000(a.risk_low)} to {per_1000(a.risk_high)}) "
        f"with {c.intervention}, {more_fewer(a.difference)} per 1,000 "
        f"({more_fewer(a.difference_low)} to {more_fewer(a.difference_high)})."
        + (f" Caveat: {a.caveat}." if a.caveat else "")
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


def _footnotes(studies: tuple[ComparisonStudy, ...], marks: dict[str, str]) -> list[str]:
    """A mark per distinct derivation or correction text (added to ``marks``, which strata of one plot
    share), and the notes explaining the marks added."""
    notes = []
    for s in studies:
        for text, what in ((s.correction, "Continuity correction"), (s.derived, "Derived")):
            if text and text not in marks:
                marks[text] = MARKS[len(marks) % len(MARKS)] * (1 + len(marks) // len(MARKS))
                notes.append(f"{marks[text]} {what}: {text}.")
    return notes


def comparison_forest_data(c: Comparison, marks: dict[str, str] | None = None, where: str = "") -> ForestData:
    """The forest plot of one comparison (see the module's docstring). ``marks`` (footnote marks by
    text) and ``where`` (a stratum's name before its absolute effect) let strata share one plot."""
    columns = _columns(c)
    marks = {} if marks is None else marks
    notes = _footnotes(tuple(c.studies), marks)
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
                caution=f.caution,
            )
        )
        heterogeneity = heterogeneity_line(f)
        test = overall_test_line(f)
    if c.favourable is None:
        notes.append("No “favours” labels: the analysis does not state which side favours the intervention.")
    if not c.randomised:
        notes.append(f"Non-randomised comparison: {c.control} is not a randomised control.")
    if (text := absolute_text(c)) is not None:
        notes.append(where + text)
    elif c.absolute_note:
        notes.append(f"{where}No absolute effect: {c.absolute_note}.")
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


# --------------------------------------------------------------------------------- from the analysis run

# Which side of the null favours the intervention when the plan does not say (plan key ``favourable``),
# from the outcome -- what the events are -- never from the numbers. Responses (MRD negativity, remission)
# are good events: more, or an HR of reaching them above 1, favours the intervention. Any other hazard
# ratio is the hazard of a bad event (relapse, death, an EFS event): below 1 favours the intervention.
# Outcomes not listed (e.g. HSCT, where more transplants can be a benefit or a harm) get no "favours"
# labels until the plan states a side.
HARMFUL_OUTCOMES = frozenset(
    {
        "crs",
        "icans",
        "neurological_event",
        "treatment_related_adverse_event",
        "adverse_event",
        "relapse",
        "death",
        "treatment_related_mortality",
    }
)
BENEFICIAL_OUTCOMES = frozenset({"mrd_negativity", "complete_remission"})


def favourable_side(analysis: Any, comparison: Any = None) -> Favourable | None:
    """The side of the null that favours the intervention: the result's or the plan's ``favourable``,
    else the outcome's default (see HARMFUL_OUTCOMES), else None."""
    for source in (comparison, analysis):
        side = getattr(source, "favourable", None)
        if side in ("lower", "higher"):
            return side
    outcomes = set(analysis.outcome)
    if outcomes and outcomes <= BENEFICIAL_OUTCOMES:  # more (or sooner) responses favour the intervention
        return "higher"
    if analysis.measure == "HR" or (outcomes and outcomes <= HARMFUL_OUTCOMES):
        return "lower"
    return None


def overall_test_of(result: PoolResult) -> tuple[str, int | None, float | None, float | None]:
    """(z or t, df, statistic, p) of the test for the overall effect, as the fit reports it."""
    d = result.fit.to_dict()
    stat = d.get("stat", d.get("zval"))
    p = d.get("p_value", d.get("pval"))
    name = d.get("stat_name") or d.get("test") or ("t" if result.ci_method != "z" else "z")
    name = "t" if str(name).startswith("t") else "z"
    df = d.get("df") if name == "t" else None
    if name == "t" and df is None:
        df = result.k - 1
    return name, (None if df is None else int(df)), _finite(stat), _finite(p)


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _arm_name(rows: Sequence[Any], attr: str, default: str) -> str:
    """The arms' common name for the column header and the favours label: the arm id every row shares,
    else the leading words all their arm ids share ("blinatumomab" for "blinatumomab" and
    "blinatumomab-low + blinatumomab-high"), else ``default``."""
    ids = {arm for r in rows for arm in str(getattr(r, attr, "") or "").split(" + ") if arm}
    if len(ids) == 1:
        return ids.pop()
    words = [arm.split("-") for arm in sorted(ids)]
    common = []
    for parts in zip(*words, strict=False):
        if len(set(parts)) > 1:
            break
        common.append(parts[0])
    return "-".join(common) or default


def _correction(note: str | None) -> tuple[str | None, str | None]:
    """(continuity correction, other note) from a row's note."""
    if note and "continuity correction" in note:
        return note.replace("continuity correction ", "").replace("every", "each"), None
    return None, note


def fit_of(result: PoolResult, pooled: dict[str, Any], label: str) -> ComparisonFit:
    """The diamond, heterogeneity and overall-effect numbers of a pooled comparison."""
    name, df, stat, p = overall_test_of(result)
    has_pi = result.method not in ("FE", "MH", "PETO")
    return ComparisonFit(
        label,
        pooled["estimate"],
        pooled["ci_low"],
        pooled["ci_high"],
        pi_low=pooled.get("pi_low") if has_pi else None,
        pi_high=pooled.get("pi_high") if has_pi and pooled.get("pi_low") is not None else None,
        tau2=pooled.get("tau2") if result.method not in ("FE", "MH", "PETO") else None,
        i2=pooled.get("i2"),
        q=pooled.get("q"),
        q_df=pooled.get("q_df"),
        q_p=pooled.get("q_p"),
        q_name="Wald Q" if result.method == "GLMM" else "Q",
        stat_name=name,
        stat_df=df,
        stat=stat,
        p=p,
        model=f"{model_name(result)} on the {SCALE_WORDS[result.measure]} scale; {interval_text(result)}",
        caution=uninformative(result.k, result.method),
    )


SCALE_WORDS = {"RR": "ln RR", "OR": "ln OR", "RD": "risk-difference", "HR": "ln HR"}


def absolute_of(a: Any) -> AbsoluteEffect:
    """The comparison engine's absolute effect (per 1,000) as the plot and page show it."""
    landmark = getattr(a, "landmark_months", None)
    return AbsoluteEffect(
        acr=a.acr,
        acr_source=a.acr_source,
        risk=a.intervention_per_1000,
        risk_low=_nan(a.intervention_low),
        risk_high=_nan(a.intervention_high),
        difference=a.difference_per_1000,
        difference_low=_nan(a.difference_low),
        difference_high=_nan(a.difference_high),
        landmark=None if landmark is None else f"at {landmark:g} months",
        caveat=a.note,
    )


def comparison_of(stratum: StratumFit, analysis: Any, title: str) -> Comparison:
    """The comparison the engine made of one stratum (``stratum.comparison``), as the plot draws it."""
    comp = stratum.comparison
    rows = comp.rows
    effect_rows = {r.key: r for r in stratum.rows}
    studies = []
    for r in rows:
        correction, note = _correction(getattr(r, "correction", None) or r.note)
        if getattr(r, "correction", None):
            note = r.note
        if r.left_out:
            note = "not estimable"
        if r.key in effect_rows:  # grading, report and data cut, as the single-arm plots show them
            note = "; ".join(n for n in (note, context(effect_rows[r.key])) if n) or None
        studies.append(
            ComparisonStudy(
                r.label,
                _nan(r.estimate),
                _nan(r.ci_low),
                _nan(r.ci_high),
                r.intervention_events,
                r.intervention_total,
                r.control_events,
                r.control_total,
                weight=None if r.left_out else r.weight,
                derived=r.derived,
                correction=correction,
                note=note,
            )
        )
    fit = None
    glmm = stratum.result is not None and stratum.result.method == "GLMM"
    if comp.pooled is not None and stratum.result is not None:
        fit = fit_of(stratum.result, comp.pooled, diamond_label(stratum.result))
    return Comparison(
        title=title,
        measure=comp.measure,
        intervention=getattr(comp, "intervention", None)
        or _arm_name(rows, "intervention_label", "intervention"),
        control=getattr(comp, "control", None) or _arm_name(rows, "control_label", "control"),
        favourable=favourable_side(analysis, comp),
        studies=studies,
        fit=fit,
        refusal=None
        if fit is not None
        else (comp.not_pooled or stratum.refusal or stratum.error or "not pooled"),
        absolute=None if comp.absolute is None else absolute_of(comp.absolute),
        absolute_note=comp.absolute_note,
        randomised=comp.comparison == "randomised",
        notes=[study_ci_note(comp.measure)]
        + (["No study weights: the GLMM weighs the trials through the binomial likelihood."] if glmm else []),
    )


def study_ci_note(measure: str) -> str:
    if measure == "HR":
        return "Study 95% CIs: as reported; derived HRs: Wald on ln HR."
    scale = "the risk difference" if measure == "RD" else f"ln {measure}"
    return f"Study 95% CIs: Wald on {scale} from the arm counts."


def is_comparative(result: AnalysisResult) -> bool:
    """True for an analysis the comparison engine ran (RR, OR, RD, HR): its strata carry comparisons."""
    return any(getattr(s, "comparison", None) is not None for s in result.strata)


def analysis_forest_data(result: AnalysisResult) -> ForestData:
    """The forest plot of a comparative analysis: one comparison, or one group per stratum (each with
    its own diamond or reason, no overall estimate)."""
    a = result.analysis
    strata = [s for s in result.strata if getattr(s, "comparison", None) is not None]
    if len(strata) == 1:
        return comparison_forest_data(comparison_of(strata[0], a, a.title))
    marks: dict[str, str] = {}
    parts = [
        (s.label, comparison_forest_data(comparison_of(s, a, a.title), marks, f"{s.label}: ")) for s in strata
    ]
    if not parts:
        raise ValueError(f"{a.id}: no stratum carries a comparison")
    columns: list[Column] = []
    for _label, d in parts:
        if len(d.columns) > len(columns):
            columns = list(d.columns)
    groups, notes = [], []
    for label, d in parts:
        (g,) = d.groups
        rows = [replace(r, cells=_pad(r.cells, d.columns, columns)) for r in g.rows]
        subtotals = [replace(p, label="Subtotal", cells=_pad(p.cells, d.columns, columns)) for p in d.overall]
        lines = "; ".join(t.removeprefix("Heterogeneity: ") for t in (d.heterogeneity, d.overall_test) if t)
        groups.append(
            Group(label, rows, subtotals, ("Heterogeneity: " + lines) if lines else None, g.refusal)
        )
        notes += [n for n in d.notes if n not in notes]
    if result.selection.overall_refusal:
        notes.append(f"No overall estimate: {result.selection.overall_refusal}.")
    first = parts[0][1]
    return replace(
        first, groups=groups, overall=(), heterogeneity=None, overall_test=None, notes=notes, columns=columns
    )


def _pad(cells: Sequence[str], have: Sequence[Column], want: Sequence[Column]) -> tuple[str, ...]:
    """Cells laid out for ``have`` moved into the columns ``want`` (blank where a stratum has none)."""
    if not cells:
        return ()
    by = dict(zip(have, cells, strict=True))
    return tuple(by.get(c, "") for c in want)
