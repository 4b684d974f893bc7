"""An analysis of the plan -> the plain data objects a forest plot draws (:class:`ForestData`).

Everything is on the natural scale a committee reads: proportions and Kaplan-Meier rates as fractions
(drawn in percent), hazard ratios as ratios (drawn on a log axis). Study intervals are Clopper-Pearson
exact intervals for counts (Clopper & Pearson 1934; meta's default for single proportions), the reported
interval for a survival rate or hazard ratio where one was reported, and otherwise the Wald interval on
the scale the row is pooled on (log(-log S), ln HR), back-transformed.

A second diamond per pooled set of rows (a Bayesian posterior, ``Pooled(kind="bayes")``) is added by
passing ``extra``: a function of the :class:`StratumFit` that returns the diamonds to draw after the
frequentist one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from metablina.analyze import METHOD_NAMES, PoolResult
from metablina.normalize import EffectRow
from metablina.render.forestmodel import ForestData, Group, Pooled, StudyRow, uninformative
from metablina.run import AnalysisResult, StratumFit

Z975 = 1.959963984540054
PROPORTION_MEASURES = ("PLO", "PFT", "PAS", "PR")
SCALE_OF = {**dict.fromkeys(PROPORTION_MEASURES, "proportion"), "KM": "proportion", "HR": "ratio"}
TRANSFORM_NAMES = {
    "PLO": "logit",
    "PFT": "Freeman-Tukey double arcsine",
    "PAS": "arcsine square root",
    "PR": "raw proportion",
    "KM": "log(-log S)",
    "HR": "ln HR",
}
CI_SOURCES = {
    "exact": "Clopper-Pearson exact",
    "reported": "as reported",
    "se": "from the SE on the pooling scale",
}

ExtraPooled = Callable[[StratumFit], Sequence[Pooled]]


@dataclass(frozen=True)
class DisplayRow:
    """One study row as the plot and the report's table show it (natural scale)."""

    row: EffectRow
    detail: str
    estimate: float
    ci_low: float
    ci_high: float
    ci_source: str  # a key of CI_SOURCES
    weight: float | None = None
    note: str | None = None

    def study_row(self) -> StudyRow:
        return StudyRow(
            self.row.label, self.detail, self.estimate, self.ci_low, self.ci_high, self.weight, self.note
        )


# ------------------------------------------------------------------------------------------------ numbers


def fmt_p(p: float | None) -> str:
    """A p-value as printed under a forest plot: two significant digits, ``< 0.001`` below."""
    if p is None or not math.isfinite(p):
        return "NA"
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.2g}" if p < 0.1 else f"= {p:.2f}"


def fmt_num(x: float | None, digits: int = 2) -> str:
    if x is None or not math.isfinite(x):
        return "NA"
    s = f"{x:.{digits}f}"
    return s.lstrip("-") if float(s) == 0 else s


def fmt_tau2(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "NA"
    return "0" if x == 0 else (f"{x:.3f}" if x >= 0.001 else f"{x:.1e}")


def fmt_value(x: float | None, measure: str, digits: int | None = None) -> str:
    """A natural-scale value as the report prints it: percent for proportions and rates."""
    if x is None or not math.isfinite(x):
        return "NA"
    if SCALE_OF.get(measure) == "proportion":
        return f"{100 * x:.{1 if digits is None else digits}f}%"
    return f"{x:.{2 if digits is None else digits}f}"


def fmt_interval(low: float | None, high: float | None, measure: str) -> str:
    """``[2.1, 8.3]``: the interval without units (the estimate before it carries the % sign)."""
    if low is None or high is None:
        return ""
    return f"[{fmt_value(low, measure).rstrip('%')}, {fmt_value(high, measure).rstrip('%')}]"


def short_reason(text: str) -> str:
    """A refusal in a few words, for the plots and the summary table (the report's analysis section
    gives the whole text): "single study (k = 1)", "GLMM could not be fitted (every study has xi = ni)"."""
    if text.startswith("k = 1"):
        return "single study (k = 1)"
    if text == "the plan presents these records without pooling":
        return "the plan shows these records unpooled"
    if "could not be fitted" in text:
        head, _, rest = text.partition(": ")
        rest = re.sub(r"^\w+: ", "", rest).split(";")[0].split(". ")[0]
        return f"{head} ({rest})"
    return text


def reason_of(fit: StratumFit, result: AnalysisResult) -> str:
    """Why a set of rows was not pooled, in the words of the plan's guards."""
    reason = fit.error or fit.refusal or ""
    if reason == "not pooled (plan)":
        return result.selection.overall_refusal or "the plan presents these records without pooling"
    return reason


# --------------------------------------------------------------------------------------------- study rows


def display_rows(
    rows: Sequence[EffectRow], measure: str, weights: dict[str, float] | None = None
) -> list[DisplayRow]:
    """The study rows of one set on the natural scale; ``weights`` (percent) by row key, if any."""
    weights = weights or {}
    out: list[DisplayRow] = []
    counts = [r for r in rows if r.form == "proportion"]
    exact: dict[str, tuple[float, float]] = {}
    if counts:
        from metablina.stats.intervals import proportion_ci

        ci = proportion_ci([r.events for r in counts], [r.total for r in counts], method="clopper-pearson")
        exact = {
            r.key: (float(lo), float(hi)) for r, lo, hi in zip(counts, ci.ci_low, ci.ci_high, strict=True)
        }
    for r in rows:
        weight = weights.get(r.key)
        if r.form == "proportion":
            assert r.events is not None and r.total is not None
            low, high = exact[r.key]
            note = None
            if r.reported != f"{r.events}/{r.total}":
                note = f"from {r.reported.split(' of ')[0]}"
            note = "; ".join(n for n in (note, context(r)) if n) or None
            out.append(
                DisplayRow(r, f"{r.events}/{r.total}", r.events / r.total, low, high, "exact", weight, note)
            )
            continue
        estimate = float(r.estimate) if r.estimate is not None else math.nan
        if r.ci_low is not None and r.ci_high is not None:
            low, high, source = float(r.ci_low), float(r.ci_high), "reported"
        elif r.yi is not None and r.sei is not None:
            a, b = r.yi - Z975 * r.sei, r.yi + Z975 * r.sei
            if r.form == "km":  # S = exp(-exp(y)) decreases in y: the ends swap
                low, high = math.exp(-math.exp(b)), math.exp(-math.exp(a))
            else:
                low, high = math.exp(a), math.exp(b)
            source = "se"
        else:
            low = high = math.nan
            source = "se"
        out.append(DisplayRow(r, _detail(r), estimate, low, high, source, weight, context(r) or None))
    return out


def report_text(r: EffectRow) -> str:
    """Which report and data cut a row comes from: "final analysis, cut 2022-11", or the cut alone. A row
    of an earlier cut that a report quotes names the report with the report's own cut ("cut 2021-09,
    reported in the final analysis (cut 2022-11-21)"), so the report's kind never labels the other cut."""
    if r.data_cut and r.report_data_cut and r.data_cut != r.report_data_cut:
        report = (
            f"the {r.report_kind} (cut {r.report_data_cut})"
            if r.report_kind
            else f"a report of cut {r.report_data_cut}"
        )
        return f"cut {r.data_cut}, reported in {report}"
    cut = f"cut {r.data_cut}" if r.data_cut else ""
    return ", ".join(p for p in (r.report_kind or "", cut) if p)


def context(r: EffectRow) -> str:
    """What a reader must see beside a study's number to know what it measures: its grading system
    (for graded events), its definition, its report and data cut, and for a hazard ratio printed
    without a CI that the CI shown is derived."""
    parts = []
    if r.grading is not None:
        parts.append("grading not stated" if r.grading == "not stated" else f"graded by {r.grading}")
    if r.definition:
        parts.append(r.definition)
    if report := report_text(r):
        parts.append(report)
    if r.form == "hr" and r.ci_low is None and r.yi is not None:
        parts.append("no CI reported: the CI shown is derived")
    return "; ".join(parts)


def _detail(r: EffectRow) -> str:
    """What the source reported, short: "73.3 ± 8.1", "57.8 (42.5–70.4)", "0.38 (0.22–0.65)"."""
    text = r.reported
    if r.form == "km":
        value = text.split("%")[0]
        if " ± " in text:
            return f"{value} ± {text.split(' ± ')[1]}"
        if "CI " in text:
            return f"{value} ({text.split('CI ')[1].rstrip(')')})".replace("-", "–")
        return value
    if r.form == "hr":
        text = text.removeprefix("HR ")
        if "CI " in text:
            return f"{text.split(' (')[0]} ({text.split('CI ')[1].rstrip(')')})".replace("-", "–")
    return text


def weights_of(stratum: StratumFit) -> dict[str, float]:
    """Inverse-variance weights in percent by row key; empty for a GLMM (no study weights)."""
    result = stratum.result
    w = getattr(result.fit, "weights", None) if result is not None else None
    if w is None:
        return {}
    w = np.asarray(w, dtype=float)
    if w.shape != (len(stratum.rows),) or not np.all(np.isfinite(w)):
        return {}  # a row left out as not estimable: weights cannot be matched to rows
    return {r.key: float(x) for r, x in zip(stratum.rows, w, strict=True)}


# ------------------------------------------------------------------------------------------------ pooled


def pooled_of(result: PoolResult, label: str, kind: str = "frequentist") -> Pooled:
    """The diamond (and prediction-interval bar) of a pooled result on the natural scale."""
    back = result.back()
    pi = (back.get("pi_low"), back.get("pi_high"))
    if pi[0] is None or pi[1] is None:
        pi = (None, None)
    return Pooled(
        label,
        back["estimate"],
        back["ci_low"],
        back["ci_high"],
        pi_low=pi[0],
        pi_high=pi[1],
        kind=kind,  # type: ignore[arg-type]
        caution=uninformative(result.k, result.method),
    )


def model_name(result: PoolResult) -> str:
    if result.method in ("BAYES", "BAYES-GLMM"):
        kind = "binomial-normal" if result.method == "BAYES-GLMM" else "normal-normal"
        return f"Bayesian random effects, {kind}, {result.fit.tau_prior}"
    if result.method == "GLMM":
        return "Random effects, binomial-normal GLMM (ML)"
    if result.method == "FE":
        return "Common effect, inverse variance"
    if result.method in ("MH", "PETO"):
        return f"Common effect, {METHOD_NAMES[result.method]}"
    return f"Random effects, {result.method}"


def interval_text(result: PoolResult) -> str:
    """How the 95% CI (and PI) were computed, e.g. "95% CI and PI with t(k−1 = 2)"."""
    df = result.k - 1
    if result.ci_method == "credible":
        return "posterior median, central 95% credible and predictive intervals"
    if result.ci_method == "z":
        return "95% CI " + ("and PI " if _has_pi(result) else "") + "with z"
    if result.method == "GLMM":
        return f"95% CI and PI with t(k−1 = {df})"
    name = "Hartung–Knapp" + (
        " (ad hoc, never narrower than Wald)" if result.ci_method == "hksj-adhoc" else ""
    )
    return f"95% CI {name} with t(k−1 = {df}); PI with t({df})"


def _has_pi(result: PoolResult) -> bool:
    return result.method not in ("FE", "MH", "PETO")


def model_text(result: PoolResult) -> str:
    """The model line under the plot: model, estimator, scale and interval."""
    return (
        f"{model_name(result)} on the {TRANSFORM_NAMES.get(result.measure, result.measure)} scale; "
        f"{interval_text(result)}"
    )


def heterogeneity_text(result: PoolResult) -> str:
    """τ², I², Q and its p (Wald-type and likelihood-ratio tests for a GLMM, as metafor prints them)."""
    d = result.to_dict()
    fit = result.fit
    parts = []
    if "tau2" in d:
        parts.append(f"τ² = {fmt_tau2(d['tau2'])}")
    if d.get("i2") is not None:
        parts.append(f"I² = {d['i2']:.0f}%")
    q, df, p = d.get("q"), d.get("q_df"), d.get("q_p")
    if result.method == "GLMM":
        lrt, lrt_p = _num(getattr(fit, "q_lrt", None)), _num(getattr(fit, "q_lrt_p", None))
        parts.append(f"Wald Q = {fmt_num(q)}, df = {df}, p {fmt_p(p)}")
        parts.append(f"LRT = {fmt_num(lrt)}, p {fmt_p(lrt_p)}")
    elif q is not None:
        parts.append(f"Q = {fmt_num(q)}, df = {df}, p {fmt_p(p)}")
    return "Heterogeneity: " + "; ".join(parts)


def _num(x: object) -> float | None:
    if x is None:
        return None
    v = float(np.asarray(x))
    return v if math.isfinite(v) else None


def subgroup_test_text(result: AnalysisResult) -> str | None:
    """The test for subgroup differences: for subgroups, or for strata that are settings (a
    one-study subgroup enters with its own estimate, as in R's meta)."""
    test = result.subgroup_test
    if test is None:
        why = no_subgroup_test(result)
        return None if why is None else f"Test for subgroup differences: {why}"
    return f"Test for subgroup differences: Q = {test.q:.2f}, df = {test.df}, p {fmt_p(test.p)}"


def no_subgroup_test(result: AnalysisResult) -> str | None:
    """Why subgroups (or settings kept apart) have no test for subgroup differences; None where they have
    one, or where there is nothing to compare."""
    from metablina.options import BAYES_METHODS

    groups = result.subgroups or (result.strata if len(result.strata) > 1 else ())
    if result.subgroup_test is not None or not groups:
        return None
    if any(g.result is not None and g.result.method in BAYES_METHODS for g in groups):
        return "none for a Bayesian model (no sampling SE for a Q test; compare the posteriors)"
    if result.subgroups:
        return "not done (fewer than two subgroups have an estimate)"
    return None


# ------------------------------------------------------------------------------------------------ labels


def measure_label(result: AnalysisResult) -> str:
    a = result.analysis
    rows = result.selection.rows
    if a.measure == "HR":
        return "Hazard ratio (log scale)"
    if a.measure == "KM":
        return "Kaplan–Meier estimate at the landmark (%)"
    unit = "courses" if rows and all(r.unit == "courses" for r in rows) else "patients"
    return f"Proportion of {unit} (%)"


def favours(result: AnalysisResult) -> tuple[str, str] | None:
    """For hazard ratios (HR < 1 favours the intervention): the arms, when every row names the same."""
    if result.analysis.measure != "HR":
        return None
    pairs = set()
    for r in result.selection.rows:
        if r.arm and " vs " in r.arm:
            exp, ctrl = r.arm.split(" vs ", 1)
            if any(d.startswith("inverted") for d in r.derivations):
                exp, ctrl = ctrl, exp
            pairs.add((exp, ctrl))
    exp, ctrl = pairs.pop() if len(pairs) == 1 else ("intervention", "comparator")
    return f"Favours {exp}", f"Favours {ctrl}"


def detail_label(measure: str) -> str:
    if measure in PROPORTION_MEASURES:
        return "Events/N"
    return "Reported (%)" if measure == "KM" else "Reported HR"


def ci_note(measure: str) -> str:
    if measure in PROPORTION_MEASURES:
        return "Study 95% CIs: Clopper–Pearson (exact)."
    scale = "log(−log S)" if measure == "KM" else "ln HR"
    return (
        f"Study 95% CIs: as reported; where only an SE or p was reported, Wald on {scale}, back-transformed."
    )


def diamond_label(result: PoolResult, subtotal: bool = False) -> str:
    if subtotal:
        return "Subtotal"
    return "Common-effect model" if result.method in ("FE", "MH", "PETO") else "Random-effects model"


def bayes_diamonds(stratum: StratumFit) -> list[Pooled]:
    """The Bayesian co-primary fit (the plan's prior) as an open diamond: posterior median and 95% CrI."""
    out = []
    for b in stratum.bayes:
        if b.role == "primary" and b.result is not None:
            out.append(pooled_of(b.result, "Bayesian (posterior median, 95% CrI)", kind="bayes"))
            out[-1] = replace(out[-1], pi_low=None, pi_high=None)
    return out


def bayes_note(result: AnalysisResult) -> str | None:
    """Which prior the open diamond used, or why there is no Bayesian fit."""
    fits = [b for s in (*result.strata, *result.subgroups) for b in s.bayes if b.role == "primary"]
    if not fits:
        return None
    done = [b for b in fits if b.result is not None]
    if done:
        d = done[0].result.to_dict()
        return f"Open diamond: Bayesian random effects, {d['tau_prior']}, {d['mu_prior']}."
    return f"No Bayesian fit: {short_reason(fits[0].error or '')}"


# ------------------------------------------------------------------------------------------------ forest


def forest_data(
    result: AnalysisResult,
    *,
    extra: ExtraPooled | None = None,
    unweighted: Sequence[tuple[str, StudyRow]] = (),
) -> ForestData:
    """The forest plot of one analysis: strata (no overall diamond, the reason under the plot),
    or subgroups with subtotals and an overall diamond, or one set of studies.

    ``extra(stratum)`` may return further diamonds (e.g. ``Pooled(..., kind="bayes")``) for each pooled
    stratum or subgroup; they are drawn right after its frequentist diamond. ``unweighted``: (group
    label, row) of results shown but not pooled (no SE or CI; render.sof.unweighted_forest_rows), added
    to the group of that label or to a group of their own.
    """
    a = result.analysis
    measure = a.measure
    extra = extra or bayes_diamonds
    notes: list[str] = [ci_note(measure)]
    groups: list[Group] = []
    overall: list[Pooled] = []
    heterogeneity = model = None
    primary = result.primary

    def diamonds(stratum: StratumFit, subtotal: bool) -> list[Pooled]:
        assert stratum.result is not None
        return [pooled_of(stratum.result, diamond_label(stratum.result, subtotal)), *extra(stratum)]

    if len(result.strata) > 1:
        for s in result.strata:
            rows = [d.study_row() for d in display_rows(s.rows, measure, weights_of(s))]
            if s.pooled:
                groups.append(Group(s.label, rows, diamonds(s, True), heterogeneity_text(s.result)))  # type: ignore[arg-type]
            else:
                groups.append(Group(s.label, rows, refusal=short_reason(reason_of(s, result))))
        if result.selection.overall_refusal:
            notes.append(f"No overall estimate: {result.selection.overall_refusal}.")
    elif result.strata:
        stratum = result.strata[0]
        weights = weights_of(stratum)
        if result.subgroups:
            for g in result.subgroups:
                rows = [d.study_row() for d in display_rows(g.rows, measure, weights)]
                if g.pooled:
                    groups.append(Group(g.label, rows, diamonds(g, True), heterogeneity_text(g.result)))  # type: ignore[arg-type]
                else:
                    groups.append(Group(g.label, rows, refusal=short_reason(reason_of(g, result))))
        else:
            rows = [d.study_row() for d in display_rows(stratum.rows, measure, weights)]
            refusal = None if stratum.pooled else short_reason(reason_of(stratum, result))
            groups.append(Group(None, rows, refusal=refusal))
        if primary is not None:
            overall = diamonds(primary, False)
            heterogeneity = heterogeneity_text(primary.result)  # type: ignore[arg-type]
        elif result.subgroups:
            notes.append(f"No overall estimate: {reason_of(stratum, result)}.")
    pooled = [s.result for s in (*result.strata, *result.subgroups) if s.result is not None]
    if pooled:
        main = primary.result if primary is not None else pooled[0]
        model = model_text(main)  # type: ignore[arg-type]
        if main.method == "GLMM":  # type: ignore[union-attr]
            notes.append("No study weights: a GLMM weighs the studies through the binomial likelihood.")
    if (note := bayes_note(result)) is not None:
        notes.append(note)
    if a.threshold is not None and SCALE_OF[measure] == "proportion":
        notes.append(f"Vertical line: the plan's decision threshold, {100 * a.threshold:g}%.")
    for label, row in unweighted:  # results without an SE still speak, unweighted
        at = next((i for i, g in enumerate(groups) if (g.label or "") == label), None)
        if at is None:
            groups.append(Group(label, [row], refusal="no SE or CI: shown, not weighted"))
        else:
            groups[at] = replace(groups[at], rows=(*groups[at].rows, row))
    if not groups:
        groups = [Group(None, refusal="no record matches this analysis")]
    return ForestData(
        title=a.title,
        measure_label=measure_label(result),
        scale=SCALE_OF[measure],  # type: ignore[arg-type]
        groups=groups,
        overall=overall,
        heterogeneity=heterogeneity,
        model=model or "",
        subgroup_test=subgroup_test_text(result),
        notes=notes,
        null_value=a.threshold if (a.threshold is not None and SCALE_OF[measure] == "proportion") else None,
        detail_label=detail_label(measure),
        favours=favours(result),
    )
