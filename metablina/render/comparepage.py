"""What the report page shows of a comparative analysis (RR, OR, RD, HR): per-study arm counts and
relative effects, the absolute effects per 1,000 as a GRADE Summary-of-Findings table gives them, the
verdict and the methods paragraph.

Everything is read from the comparison engine's result on each stratum (``StratumFit.comparison``,
:mod:`metablina.compare`); the sentences are the forest plot's own (:mod:`metablina.render.compareforest`),
so the page and the plot never disagree.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from metablina.render.compareforest import (
    MEASURE_NAMES,
    comparison_of,
    favourable_side,
    heterogeneity_line,
    is_comparative,
    more_fewer,
    overall_test_line,
    per_1000,
)
from metablina.render.forestdata import context

if TYPE_CHECKING:
    from metablina.report import AnalysisReport, ReportModel
    from metablina.run import StratumFit

MODEL_WORDS = {
    "FE": "a common-effect inverse-variance model",
    "MH": "the Mantel–Haenszel method (common effect; Greenland & Robins 1985)",
    "PETO": "Peto's one-step method (common effect; Yusuf et al. 1985)",
    "GLMM": (
        "a binomial-normal generalised linear mixed model with fixed study effects and a random treatment "
        "effect (unconditional model, metafor's rma.glmm UM.FS; maximum likelihood)"
    ),
}
SCALES = {"RR": "ln RR", "OR": "ln OR", "RD": "risk-difference", "HR": "ln HR"}


def fmt_effect(x: float | None, digits: int = 2) -> str:
    """A relative effect as the tables print it, with a true minus (risk differences)."""
    if x is None or not math.isfinite(x):
        return "NA"
    s = f"{x:.{digits}f}"
    return (s.lstrip("-") if float(s) == 0 else s).replace("-", "−")


def effect_text(measure: str, estimate: float | None, low: float | None, high: float | None) -> str:
    """ "RR 0.65 [0.49, 0.86]"."""
    if estimate is None or not math.isfinite(estimate):
        return f"{measure} not estimable"
    interval = f" [{fmt_effect(low)}, {fmt_effect(high)}]" if low is not None and high is not None else ""
    return f"{measure} {fmt_effect(estimate)}{interval}"


def comparative_strata(ar: AnalysisReport) -> list[StratumFit]:
    return [s for s in ar.result.strata if getattr(s, "comparison", None) is not None]


def _absolute(c: Any, intervention: str, control: str) -> dict[str, Any] | None:
    a = c.absolute
    if a is None:
        return None
    landmark = f" at {a.landmark_months:g} months" if a.landmark_months is not None else ""

    def interval(low: float | None, high: float | None, words: bool) -> str:
        if low is None or high is None:
            return ""
        f = more_fewer if words else per_1000
        return f"{f(low)} to {f(high)}"

    return {
        "landmark": landmark,
        "acr_text": per_1000(a.control_per_1000),
        "acr_source": a.acr_source,
        "based_on": a.based_on,
        "note": a.note,
        "risk_text": per_1000(a.intervention_per_1000),
        "risk_ci": interval(a.intervention_low, a.intervention_high, False),
        "difference_text": more_fewer(a.difference_per_1000),
        "difference_ci": interval(a.difference_low, a.difference_high, True),
        "intervention": intervention,
        "control": control,
    }


def _study_rows(stratum: StratumFit, model: ReportModel) -> list[dict[str, Any]]:
    rows = {r.key: r for r in stratum.rows}
    out = []
    for s in stratum.comparison.rows:
        row = rows.get(s.key)
        links = []
        for record in getattr(row, "records", ()) or ((row.record,) if row is not None else ()):
            shown, href, line = model.provenance.get(f"{s.study}/{record}", ("", "", None))
            if shown:
                links.append(
                    {
                        "text": f"{shown}:{line}" if line is not None else shown,
                        "href": f"{href}#L{line}" if line is not None else href,
                    }
                )
        out.append(
            {
                "label": s.label,
                "intervention_label": s.intervention_label,
                "control_label": s.control_label,
                "intervention": _arm_text(s.intervention_events, s.intervention_total),
                "control": _arm_text(s.control_events, s.control_total),
                "effect_text": effect_text(stratum.comparison.measure, s.estimate, s.ci_low, s.ci_high),
                "weight_text": "" if s.weight is None else f"{s.weight:.1f}%",
                "derived": s.derived,
                "note": s.note,
                "left_out": s.left_out,
                "links": links,
                "quotes": list(getattr(row, "quotes", ()) or ()),
                "derivations": list(getattr(row, "derivations", ()) or ()),
                "reported": getattr(row, "reported", ""),
                "context": context(row) if row is not None else "",  # grading, report and data cut
            }
        )
    return out


def _arm_text(events: int | None, total: int | None) -> str:
    if events is None and total is None:
        return "–"
    if events is None:
        return f"n = {total}"
    return f"{events}/{total}"


def comparison_context(ar: AnalysisReport, model: ReportModel) -> list[dict[str, Any]]:
    """Per stratum: arm names, the study rows, the pooled relative effect and the absolute effects."""
    a = ar.result.analysis
    out = []
    for s in comparative_strata(ar):
        c = s.comparison
        drawn = comparison_of(s, a, a.title)
        pooled = c.pooled
        out.append(
            {
                "label": s.label,
                "measure": c.measure,
                "measure_name": MEASURE_NAMES[c.measure],
                "intervention": drawn.intervention,
                "control": drawn.control,
                "favours": drawn.favours,
                "randomised": c.comparison == "randomised",
                "k": len(c.rows),
                "rows": _study_rows(s, model),
                "has_weights": any(r.weight is not None for r in c.rows),
                "pooled": pooled is not None,
                "effect_text": _effect_of(c),
                "heterogeneity": heterogeneity_line(drawn.fit) if drawn.fit is not None else None,
                "overall_test": overall_test_line(drawn.fit) if drawn.fit is not None else None,
                "not_pooled": c.not_pooled,
                "absolute": _absolute(c, drawn.intervention, drawn.control),
                "absolute_note": c.absolute_note,
            }
        )
    return out


def _effect_of(c: Any) -> str:
    """The pooled relative effect, or the single trial's own."""
    if c.pooled is not None:
        return effect_text(c.measure, c.pooled["estimate"], c.pooled["ci_low"], c.pooled["ci_high"])
    if len(c.rows) == 1:
        r = c.rows[0]
        return effect_text(c.measure, r.estimate, r.ci_low, r.ci_high)
    return ""


def summary_texts(ar: AnalysisReport) -> dict[str, dict[str, Any]]:
    """By stratum label: the summary-of-findings texts of a comparative analysis (relative effect and
    absolute effects per 1,000), which replace the single-arm ones."""
    out = {}
    a = ar.result.analysis
    for s in comparative_strata(ar):
        c = s.comparison
        drawn = comparison_of(s, a, a.title)
        absolute = _absolute(c, drawn.intervention, drawn.control)
        lines = []
        if absolute is not None:
            lines = [
                f"{absolute['difference_text']} ({absolute['difference_ci']}){absolute['landmark']}",
                f"{drawn.control} {absolute['acr_text']}, {drawn.intervention} {absolute['risk_text']} "
                f"({absolute['risk_ci']})",
                f"comparator risk: {absolute['acr_source']}",
            ]
        elif c.absolute_note:
            lines = [f"no absolute effect: {c.absolute_note}"]
        patients = summary_fields(s).get("patients")
        out[s.label] = {"estimate_text": _effect_of(c), "per_1000_lines": lines, "patients": patients}
    return out


def verdict(ar: AnalysisReport) -> list[str]:
    """One sentence per stratum: the relative and absolute effect, or why nothing was pooled."""
    out = []
    texts_of = summary_texts(ar)
    for s in comparative_strata(ar):
        c, label, texts = s.comparison, s.label, texts_of[s.label]
        where = f"{label}: " if label else ""
        n = f"{len(c.rows)} {'study' if len(c.rows) == 1 else 'studies'}"
        x = _absolute(c, "", "")
        absolute = (
            f"; {x['difference_text']} per 1,000{x['landmark']} ({x['difference_ci']})"
            if x is not None
            else ""
        )
        if c.pooled is not None:
            out.append(f"{where}{texts['estimate_text']}{absolute} ({n}).")
        elif len(c.rows) == 1:
            out.append(
                f"{where}not pooled (one study); the trial's own effect: {texts['estimate_text']}{absolute}."
            )
        else:
            out.append(f"{where}not pooled: {c.not_pooled or s.refusal or s.error} ({n}).")
    return out


def methods(ar: AnalysisReport) -> str:
    """The methods paragraph of a comparative analysis: measure, model, continuity correction, multi-arm
    rule, derivations (and the proportional-hazards assumption of a derived HR), absolute effects, and the
    side of the null that favours the intervention."""
    a = ar.result.analysis
    strata = comparative_strata(ar)
    c = strata[0].comparison
    name = MEASURE_NAMES[c.measure].lower()
    text = [
        f"Effect measure: the {name} ({c.measure}) of the intervention against the control arm, "
        + (
            "from each trial's two arms' event counts."
            if c.measure != "HR"
            else "as reported, or derived from the two arms' data."
        )
    ]
    fits = [s.result for s in strata if s.result is not None]
    if fits:
        f = fits[0]
        model = MODEL_WORDS.get(f.method)
        if model is None:
            from metablina.analyze import CI_NAMES, METHOD_NAMES

            model = (
                f"a random-effects inverse-variance model on the {SCALES[c.measure]} scale, τ² by "
                f"{METHOD_NAMES.get(f.method, f.method)}, 95% CI {CI_NAMES.get(f.ci_method, f.ci_method)}, "
                "prediction interval with t(k − 1)"
            )
        text.append(f"Trials were pooled with {model}.")
    else:
        text.append("Nothing was pooled (" + "; ".join(sorted({_why(s) for s in strata})) + ").")
    engine = c.methods
    text.append(engine)
    if c.measure != "HR" and "Multi-arm" not in engine:
        text.append(
            "No trial here has more than two arms; a multi-arm trial would have its intervention (or "
            "control) arms combined into a single pair-wise comparison (Cochrane Handbook §23.3.4), a "
            "control arm never counted twice."
        )
    if any(r.derived for s in strata for r in s.comparison.rows) and "proportional hazards" not in engine:
        text.append("Derived hazard ratios assume proportional hazards (Tierney et al. 2007).")
    side = favourable_side(a, c)
    if side is None:
        text.append("The plan does not state which side of the null favours the intervention.")
    else:
        stated = getattr(a, "favourable", None) or getattr(c, "favourable", None)
        why = "as the plan states" if stated else "from the outcome's events"
        null = "0" if c.measure == "RD" else "1"
        text.append(
            f"An effect {'below' if side == 'lower' else 'above'} {null} favours the intervention ({why})."
        )
    return " ".join(text)


def _why(s: StratumFit) -> str:
    return s.comparison.not_pooled or s.refusal or s.error or "not pooled"


__all__ = [
    "comparison_context",
    "effect_text",
    "is_comparative",
    "methods",
    "summary_texts",
    "verdict",
]


# ------------------------------------------------------------------------------------------------ tables

SUMMARY_FIELDS = (
    "acr_per_1000",
    "acr_source",
    "diff_per_1000",
    "diff_per_1000_low",
    "diff_per_1000_high",
    "absolute_note",
)
STUDY_FIELDS = ("control_events", "control_total", "derived", "note")


def _round(x: float | None) -> int | None:
    return None if x is None or not math.isfinite(x) else round(x)


def summary_fields(stratum: StratumFit) -> dict[str, Any]:
    """A comparative stratum's summary-of-findings numbers: the relative effect (pooled, or the single
    trial's own), the patients of both arms, and the absolute effects per 1,000 (``per_1000*`` is the risk
    with the intervention, ``acr_per_1000`` the assumed comparator risk, ``diff_per_1000*`` the difference);
    empty for a stratum without a comparison."""
    c = getattr(stratum, "comparison", None)
    if c is None:
        return {}
    out: dict[str, Any] = dict.fromkeys(SUMMARY_FIELDS)
    if c.pooled is None and len(c.rows) == 1:
        r = c.rows[0]
        out.update(single_study=True, estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high)
    totals = [t for r in c.rows for t in (r.intervention_total, r.control_total)]
    if all(t is not None for t in totals):
        out["patients"] = sum(totals)
    a = c.absolute
    if a is None:
        out["absolute_note"] = c.absolute_note
        return out
    out.update(
        per_1000=_round(a.intervention_per_1000),
        per_1000_low=_round(a.intervention_low),
        per_1000_high=_round(a.intervention_high),
        acr_per_1000=_round(a.control_per_1000),
        acr_source=a.acr_source,
        diff_per_1000=_round(a.difference_per_1000),
        diff_per_1000_low=_round(a.difference_low),
        diff_per_1000_high=_round(a.difference_high),
        absolute_note=a.note,  # a caveat of the absolute effect (capped, or an HR of another data cut)
    )
    return out


def study_fields(stratum: StratumFit, key: str) -> dict[str, Any]:
    """A comparative study row as the tables give it: each arm's events and total (``events``/``total``
    the intervention's), the relative effect with its CI and weight, and how it was derived; empty for a
    row without a comparison."""
    c = getattr(stratum, "comparison", None)
    row = next((r for r in c.rows if r.key == key), None) if c is not None else None
    if row is None:
        return {}
    return {
        "events": row.intervention_events,
        "total": row.intervention_total,
        "control_events": row.control_events,
        "control_total": row.control_total,
        "estimate": row.estimate,
        "ci_low": row.ci_low,
        "ci_high": row.ci_high,
        "weight": row.weight,
        "derived": row.derived,
        "note": row.note,
    }
