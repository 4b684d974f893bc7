"""The report's figures (drawn from plain job descriptions, in any process) and its HTML page.

``report.html`` is one self-contained file: every figure is embedded as an SVG data URI (its text in
Liberation Sans, or the metric-compatible Arial or Helvetica a reader's system has), the CSS is inline,
and nothing is fetched from a network. Links point only
to files next to it (the figure files, the extracts and their source documents). The page holds no date
or time, so two runs on the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import functools
import platform
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from metablina.multiverse import page_context as multiverse_context
from metablina.render import comparepage
from metablina.render.forestdata import (
    PROPORTION_MEASURES,
    SCALE_OF,
    TRANSFORM_NAMES,
    fmt_interval,
    fmt_p,
    fmt_tau2,
    fmt_value,
    short_reason,
)
from metablina.render.forestmodel import uninformative
from metablina.render.report_tables import analysis_records, summary_rows

if TYPE_CHECKING:
    from metablina.report import AnalysisReport, ReportModel

TEMPLATES = Path(__file__).parent / "templates"


# ------------------------------------------------------------------------------------------------ figures


def _data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


# Figures are laid out in points for print (8 pt text); on screen they are shown 25% larger than their
# print size (1 pt = 4/3 CSS px), so that their text is as large as the page's small print.
SCREEN_PX_PER_PT = 4 / 3 * 1.25


def svg_width_pt(svg: bytes) -> float | None:
    """The width of a figure's SVG in points, read from its root element."""
    head = svg[:2000].decode("utf-8", "replace")
    match = re.search(r'<svg[^>]*\swidth="([0-9.]+)pt"', head)
    return float(match.group(1)) if match else None


# ------------------------------------------------------------------------------------------------ context


def software_versions() -> list[tuple[str, str]]:
    from importlib.metadata import PackageNotFoundError, version

    import metablina

    out = [("metablina", metablina.__version__), ("Python", platform.python_version())]
    for name, dist in (
        ("NumPy", "numpy"),
        ("SciPy", "scipy"),
        ("matplotlib", "matplotlib"),
        ("Skia", "skia-python"),
        ("Jinja2", "jinja2"),
    ):
        try:
            out.append((name, version(dist)))
        except PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def _screen_width(svg: bytes) -> str:
    width = svg_width_pt(svg)
    return "" if width is None else f"{width * SCREEN_PX_PER_PT:.0f}px"


def short_model(method: str | None, ci_method: str | None) -> str:
    """The model in a few words for the summary table: "GLMM (ML), t(k−1)", "REML, HKSJ (ad hoc)"."""
    if method is None:
        return ""
    name = "GLMM (ML)" if method == "GLMM" else method
    ci = {"z": "z", "t": "t(k−1)", "hksj": "HKSJ", "hksj-adhoc": "HKSJ (ad hoc)"}
    return f"{name}, {ci.get(ci_method or '', ci_method)}"


def _estimate_text(row: dict[str, Any], measure: str) -> str:
    if row.get("estimate") is None:
        return "NA"
    interval = fmt_interval(row.get("ci_low"), row.get("ci_high"), measure)
    return f"{fmt_value(row['estimate'], measure)} {interval}"


def _het_text(row: dict[str, Any]) -> str:
    bits = []
    if row.get("tau2") is not None:
        bits.append(f"τ² = {fmt_tau2(row['tau2'])}")
    if row.get("i2") is not None:
        bits.append(f"I² = {row['i2']:.0f}%")
    if row.get("q") is not None:
        bits.append(f"Q: p {fmt_p(row.get('q_p'))}")
    return "; ".join(bits)


def summary_context(model: ReportModel) -> list[dict[str, Any]]:
    """The summary-of-findings rows grouped by analysis, with their printed texts; a comparative
    analysis shows its relative effect and the absolute effects per 1,000."""
    groups: dict[str, dict[str, Any]] = {}
    compared = {
        ar.result.analysis.id: comparepage.summary_texts(ar)
        for ar in model.analyses
        if comparepage.is_comparative(ar.result)
    }
    for row in summary_rows(model):
        measure = row["measure"]
        pooled = row.get("pooled")
        per = ""
        if row.get("per_1000") is not None:
            per = f"{row['per_1000']} ({row.get('per_1000_low')} to {row.get('per_1000_high')})"
        comment = ""
        if row.get("ci_vs_threshold"):
            t = (
                f"{100 * row['threshold']:g}%"
                if SCALE_OF[measure] == "proportion"
                else f"{row['threshold']:g}"
            )
            what = "CI" if pooled else "the study's CI"
            comment = {
                "below": f"{what} entirely below the {t} threshold",
                "above": f"{what} entirely above the {t} threshold",
                "includes": f"{what} includes the {t} threshold",
            }[row["ci_vs_threshold"]]
            if row.get("bayes_probability"):  # beside the threshold
                comment += f"; {row['bayes_probability']}"
        group = groups.setdefault(
            row["analysis"],
            {
                "analysis": row["analysis"],
                "title": row["title"],
                "reason": row.get("overall_reason"),
                "rows": [],
            },
        )
        group["rows"].append(
            {
                **row,
                "estimate_text": _estimate_text(row, measure) if row.get("estimate") is not None else "",
                "pi_text": fmt_interval(row.get("pi_low"), row.get("pi_high"), measure) if pooled else "",
                "per_1000_text": per if pooled else "",
                "het_text": _het_text(row) if pooled else "",
                "model_short": short_model(row.get("method"), row.get("ci_method")) if pooled else "",
                "reason_short": short_reason(row.get("reason") or ""),
                "comment": comment,
                "caution": _caution(row.get("studies"), row.get("method"), row.get("estimate")),
                "per_1000_lines": [],
            }
        )
        texts = compared.get(row["analysis"], {}).get(row["stratum"] or "")
        if texts is not None:
            group["rows"][-1].update(
                estimate_text=texts["estimate_text"],
                per_1000_lines=texts["per_1000_lines"],
                single_study=not pooled and row.get("records") == 1,
            )
            if texts["patients"] is not None:  # both arms, not the intervention arm's total alone
                group["rows"][-1]["patients"] = texts["patients"]
    return list(groups.values())


def _caution(k: int | None, method: str | None, estimate: float | None) -> str | None:
    """The forest plot's flag for a random-effects interval from k = 2 studies, for the tables."""
    if k is None or method is None or estimate is None:
        return None
    return uninformative(int(k), method)


def _study_context(rec: dict[str, Any], measure: str, model: ReportModel) -> dict[str, Any]:
    shown, href, line = model.provenance.get(f"{rec['study']}/{rec['record']}", ("", "", None))
    return {
        **rec,
        "estimate_text": _estimate_text(rec, measure),
        "weight_text": "" if rec.get("weight") is None else f"{rec['weight']:.1f}%",
        "extract_text": f"{shown}:{line}" if line is not None else shown,
        "extract_href": f"{href}#L{line}" if line is not None else href,
        "source_href": model.sources.get(rec["source"], ""),
    }


def _pooled_context(rec: dict[str, Any], measure: str) -> dict[str, Any]:
    return {
        **rec,
        "set": rec.get("label") or rec.get("subgroup") or rec.get("stratum") or "All studies",
        "estimate_text": _estimate_text(rec, measure) if rec.get("estimate") is not None else "",
        "pi_text": fmt_interval(rec.get("pi_low"), rec.get("pi_high"), measure),
        "caution": _caution(rec.get("k"), rec.get("method"), rec.get("estimate")),
        "tau2_text": "" if rec.get("tau2") is None else fmt_tau2(rec["tau2"]),
        "i2_text": "" if rec.get("i2") is None else f"{rec['i2']:.0f}%",
        "q_text": ""
        if rec.get("q") is None
        else f"{rec['q']:.2f} (df {rec.get('q_df')}, p {fmt_p(rec.get('q_p'))})",
    }


def analysis_context(ar: AnalysisReport, model: ReportModel) -> dict[str, Any]:
    result = ar.result
    a = result.analysis
    measure = a.measure
    records = analysis_records(ar, model)
    studies = [_study_context(r, measure, model) for r in records if r["row_type"] == "study"]
    sets: dict[str, list[dict[str, Any]]] = {}
    for s in studies:
        sets.setdefault(s["subgroup"] or s["stratum"], []).append(s)
    pooled = [
        _pooled_context(r, measure) for r in records if r["row_type"] in ("pooled", "subtotal", "not pooled")
    ]
    primary = [
        _pooled_context({**r, "label": "Primary analysis"}, measure)
        for r in records
        if r["row_type"] in ("pooled", "not pooled") and not r.get("subgroup")
    ]
    sensitivity = [_pooled_context(r, measure) for r in records if r["row_type"] in ("bayes", "sensitivity")]
    # "check this in R": the estimate's script, where metafor has the model
    for p in (*pooled, *primary, *sensitivity):
        where = (a.id, p.get("stratum") or "", p.get("subgroup") or "", p.get("variant") or "")
        p["r_href"] = model.r_scripts.get(where, "") if p.get("estimate") is not None else ""
    decisions = [r for r in records if r["row_type"] == "decision" and not r.get("variant")]
    variant_decisions = [r for r in records if r["row_type"] == "decision" and r.get("variant")]
    figures = []
    for job in ar.figures:
        figures.append(
            {
                "name": job.name,
                "kind": job.kind,
                "caption": job.caption,
                "uri": _figure_slot("uri", job.name),
                "width": _figure_slot("width", job.name),
                "files": [(fmt.upper(), f"figures/{job.name}.{fmt}") for fmt in job.formats],
            }
        )
    warnings = []
    for s, kind in [(x, "stratum") for x in result.strata] + [(x, "subgroup") for x in result.subgroups]:
        if s.result is not None:
            where = f"{kind} {s.label}: " if s.label else ("all studies: " if result.subgroups else "")
            warnings += [where + w for w in s.result.warnings]
    comparative = comparepage.is_comparative(result)
    return {
        "id": a.id,
        "title": a.title,
        "analysis": a,
        "comparisons": comparepage.comparison_context(ar, model) if comparative else [],
        "verdict": comparepage.verdict(ar) if comparative else _verdict(ar, model),
        "notes": a.notes,
        "forest": figures[0],
        "diagnostics": [f for f in figures[1:] if f["kind"] != "speccurve"],
        "multiverse": multiverse_context(ar.multiverse, figures),  # its own block
        "sets": sets,
        "show_sets": len(sets) > 1,
        "has_weights": any(s.get("weight") is not None for s in studies),
        "pooled": pooled,
        "primary": primary,
        "sensitivity": sensitivity,
        "decisions": decisions,
        "variant_decisions": variant_decisions,
        "warnings": warnings,
        "subgroup_test": ar.forest.subgroup_test,
        "small_study": [d.small_study for d in ar.diagnostics],
        "methods": methods_text(ar),
        "loo_notes": [
            n for d in ar.diagnostics for s in (d.leave_one_out, d.cumulative) if s for n in s.notes
        ],
    }


def _verdict(ar: AnalysisReport, model: ReportModel) -> list[str]:
    """What the analysis found, or why nothing was pooled: one sentence per stratum."""
    from dataclasses import replace

    groups = summary_context(replace(model, analyses=[ar]))
    out = []
    for r in groups[0]["rows"] if groups else []:
        where = f"{r['stratum']}: " if r["stratum"] else ""
        n = f"{r['studies']} {'study' if r['studies'] == 1 else 'studies'}"
        if r.get("patients"):
            n += f", {r['patients']} patients"
        if r["pooled"]:
            out.append(f"{where}{r['estimate_text']}, 95% PI {r['pi_text'] or 'n/a'} ({n}).")
        elif r.get("single_study"):
            out.append(f"{where}not pooled ({r['reason_short']}); the study: {r['estimate_text']} ({n}).")
        else:
            out.append(f"{where}not pooled: {r['reason']} ({n}).")
    return out


# ------------------------------------------------------------------------------------------------ methods


OUTCOME_NAMES = {
    "mrd_negativity": "MRD negativity",
    "complete_remission": "complete remission",
    "crs": "cytokine release syndrome",
    "icans": "ICANS",
    "neurological_event": "neurological events",
    "efs": "event-free survival",
    "os": "overall survival",
    "hsct": "allogeneic stem cell transplantation",
    "treatment_related_adverse_event": "treatment-related adverse events",
}


BASELINE_WORDS = {
    "all": "all treated patients",
    "positive": "patients MRD-positive at the start",
    "negative": "patients MRD-negative at the start",
    None: "patients of any MRD status at the start, each status a stratum of its own",
}
BACK_WORDS = {
    "PLO": "back-transformed by the inverse logit",
    "PFT": "back-transformed by Miller's (1978) inverse Freeman–Tukey transformation at the harmonic mean n",
    "PAS": "back-transformed by sin²",
    "PR": "on the natural scale",
    "KM": "back-transformed by S = exp(−exp(y)), which swaps the ends of each interval",
    "HR": "back-transformed by exp",
}


def _selection_sentence(ar: AnalysisReport) -> str:
    a = ar.result.analysis
    sel = a.select
    quals = [f"MRD by {sel.mrd_method}"] if sel.mrd_method else []
    quals.append(BASELINE_WORDS[sel.baseline_mrd])
    if sel.grade:
        quals.append(f"grade {sel.grade}")
    if sel.timepoint:
        quals.append("timepoints in the order of preference " + ", ".join(sel.timepoint))
    if a.level == "subpopulations":
        level = "disjoint sub-populations"
    else:
        level = "whole cohorts (sub-populations only where no whole-cohort record exists)"
    if comparepage.is_comparative(ar.result):
        arms = "the intervention against the control arm of each trial"
    elif a.measure == "HR":
        arms = "hazard ratios of the intervention against its comparator"
    else:
        arms = f"{a.arm} arms"
    outcomes = " or ".join(OUTCOME_NAMES.get(o, o.replace("_", " ")) for o in a.outcome)
    return (
        f"Records of {outcomes} were selected for {', '.join(quals)}, {arms}, from {level}; the "
        "Decisions list above (before this paragraph) gives what was included, excluded or kept apart, "
        "and why."
    )


def _model_sentence(f: Any, scale: str) -> str:
    if f.method == "GLMM":
        quantiles = (
            "the normal distribution"
            if f.ci_method == "z"
            else "a t distribution with k − 1 degrees of freedom (no Knapp–Hartung adjustment exists "
            "for a GLMM)"
        )
        return (
            "Proportions were pooled with a binomial-normal generalised linear mixed model on the "
            f"{scale} scale (random study intercepts, maximum likelihood, adaptive Gauss–Hermite "
            "quadrature with 7 nodes; Stijnen et al. 2010), which uses the counts as they are, zero and "
            f"100% included; 95% confidence and prediction intervals use {quantiles}. Heterogeneity: τ² "
            "by ML, I², and the Wald-type and likelihood-ratio tests."
        )
    from metablina.analyze import CI_NAMES, METHOD_NAMES

    pi = "z" if f.ci_method == "z" else "t(k − 1)"
    return (
        f"Estimates were pooled by inverse variance on the {scale} scale with a random-effects model, "
        f"τ² by {METHOD_NAMES.get(f.method, f.method)}; 95% CI: {CI_NAMES.get(f.ci_method, f.ci_method)}; "
        f"prediction interval with {pi}. Heterogeneity: τ², I² and Cochran's Q."
    )


def _variant_words(fit: Any) -> str:
    v = fit.variant
    computed = next((s.result.ci_method for s in fit.strata if s.result is not None), v.ci)
    bits = [
        f"measure {v.measure}" if v.measure else "",
        f"model {v.model}" if v.model else "",
        f"interval {computed}" if v.ci else "",
        "other studies"
        if (v.exclude or v.overlap_keep is not None or v.exclude_overlapping or v.exclude_risk_of_bias)
        else "",
    ]
    return f"{v.label} ({', '.join(b for b in bits if b)})"


def methods_text(ar: AnalysisReport) -> str:
    """A methods paragraph generated from what was run for this analysis."""
    result = ar.result
    a = result.analysis
    if comparepage.is_comparative(result):
        return _comparison_methods(ar)
    fits = [s.result for s in (*result.strata, *result.subgroups) if s.result is not None]
    scale = TRANSFORM_NAMES[a.measure]
    text = [_selection_sentence(ar)]
    if not fits:
        reasons = sorted({s.error or s.refusal or "" for s in result.strata})
        text.append(f"Nothing was pooled: {'; '.join(reasons)}.")
    else:
        text.append(_model_sentence(fits[0], scale))
        text.append(f"Pooled estimates are {BACK_WORDS[a.measure]}.")
    if a.measure in PROPORTION_MEASURES:
        text.append("Study intervals are Clopper–Pearson exact 95% intervals (Clopper & Pearson 1934).")
    else:
        text.append(
            "Study intervals are the reported 95% intervals; where only an SE or a p-value was reported, "
            f"the Wald interval on the {scale} scale, back-transformed."
        )
    cc = sorted({w for f in fits for w in f.warnings if "continuity correction" in w})
    if cc:
        text.append(
            f"For the effect sizes of studies with no or only events on the {scale} scale (used for I², "
            f"the funnel plot and the inverse-variance models), 0.5 was added to each cell: {'; '.join(cc)}."
        )
    if result.subgroups:
        text.append(
            f"Subgroups by {a.subgroup} were pooled separately, each with its own τ²; the test for subgroup "
            "differences is Cochran's Q between the subgroup estimates (Borenstein et al. 2009)."
        )
    bayes = [b for st in result.strata for b in st.bayes if b.role == "primary"]
    if bayes:
        done = next((b.result for b in bayes if b.result is not None), None)
        kind = (
            "binomial–normal model with the exact binomial likelihood"
            if a.measure == "PLO"
            else (f"normal–normal model on the {scale} scale")
        )
        text.append(
            f"Because k ≤ 5, a Bayesian random-effects {kind} was fitted as a co-primary analysis "
            "(Friede et al. 2017; Bender et al. 2018), computed by deterministic integration without MCMC: "
            + (
                f"{done.fit.tau_prior} and {done.fit.mu_prior}"
                if done
                else f"prior {bayes[0].tau_prior} on tau"
            )
            + " (half-normal 1.0 for absolute rates is our judgement; 0.5 for log ratios follows "
            "Friede et al. 2017); prior sensitivity with half and twice the scale. It reports the "
            "posterior median with central 95% credible and predictive intervals."
        )
        failed = [b.error for b in bayes if b.result is None]
        if failed:
            text.append(f"The Bayesian model could not be fitted where {failed[0]}")
    if result.sensitivity:
        variants = "; ".join(_variant_words(v) for v in result.sensitivity)
        text.append(f"Sensitivity analyses: {variants}.")
    if ar.diagnostics:
        text.append(
            "Leave-one-out (k ≥ 3) and cumulative (by year of report) analyses refit the same model on "
            f"subsets of the rows. {SMALL_STUDY_RULE}"
        )
    return " ".join(text)


def _comparison_methods(ar: AnalysisReport) -> str:
    """Selection, then measure, model, corrections, multi-arm rule and derivations
    (:func:`comparepage.methods`), then the sensitivity analyses and diagnostics."""
    result = ar.result
    text = [_selection_sentence(ar), comparepage.methods(ar)]
    if result.sensitivity:
        text.append(f"Sensitivity analyses: {'; '.join(_variant_words(v) for v in result.sensitivity)}.")
    if ar.diagnostics:
        text.append(
            "Leave-one-out (k ≥ 3) and cumulative (by year of report) analyses refit the same model on "
            f"subsets of the trials. {SMALL_STUDY_RULE}"
        )
    return " ".join(text)


SMALL_STUDY_RULE = (
    "A funnel plot and Egger's regression test (metafor's regtest: mixed-effects meta-regression on the "
    "standard error) are done only from k = 10 studies; with fewer, funnel asymmetry cannot be told "
    "from chance and neither is shown (Sterne et al. 2011, BMJ 343:d4002)."
)


GENERAL_METHODS = (
    "Every number comes from a study extract (a YAML file per study) whose quotes were checked against "
    "the source documents by metablina validate. Reported forms were normalised: a percentage of a "
    "denominator becomes the only whole number of patients that prints as that percentage; a "
    "Kaplan–Meier rate with an SE or a CI becomes log(−log S) with its SE (delta method, or from the CI "
    "width); a hazard ratio with a CI or a p-value becomes ln HR with its SE, oriented so that HR < 1 "
    "favours the intervention. The analysis plan (analyses.yaml) names each analysis; before pooling, "
    "guards keep different estimands apart (kind of estimate, unit, baseline MRD status, grade "
    "threshold, MRD method and sensitivity, landmark time), count no patient twice (a whole cohort wins "
    "over its sub-populations, and only disjoint sub-populations of one partition are used), do not pool "
    "cohorts declared as overlapping, and show a single study as itself. The statistics are validated "
    "against R's metafor."
)


# ------------------------------------------------------------------------------------------------ page


def _age_text(c: Any) -> str:
    """Age as reported, and the mean and SD estimated from the median and range where possible,
    flagged as derived (Luo 2018 / Wan 2014), with the skewness caution when it applies."""
    if c.age_mean_sd is None:
        return c.age
    mean, sd = c.age_mean_sd
    return f"{c.age}; estimated mean {mean:.1f} (SD {sd:.1f}), {c.age_derivation}"


def render_html(model: ReportModel, figures_dir: Path) -> str:
    """The whole report page; figures are read from ``figures_dir`` (``<name>.svg``) and embedded."""
    return embed_figures(render_page(model), model, figures_dir)


def _figure_slot(what: str, name: str) -> Markup:
    """Where a figure's data URI (``what="uri"``) or on-screen width goes in a page rendered before the
    figures exist. The slot is markup starting with ``<``, which the template inserts as it is; text from
    an extract has every ``<`` escaped to ``&lt;``, so no extract can write a slot and have a figure put
    in its place."""
    return Markup(f"<@metablina-figure-{what}:{name}@>")


def embed_figures(page: str, model: ReportModel, figures_dir: Path) -> str:
    """Fill the figure slots of ``page`` (from :func:`render_page`) from ``figures_dir``."""
    slots = {}
    for ar in model.analyses:
        for job in ar.figures:
            svg = (figures_dir / f"{job.name}.svg").read_bytes()
            slots[_figure_slot("uri", job.name)] = _data_uri(svg)
            slots[_figure_slot("width", job.name)] = _screen_width(svg)
    if not slots:
        return page
    return re.sub("|".join(map(re.escape, slots)), lambda m: slots[m.group()], page)


@functools.cache
def page_template() -> Any:
    """The page's Jinja template, compiled once per process (compiling it is most of rendering it, so
    ``metablina report`` does it while the analyses run)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    env.filters["nb"] = keep_intervals_together
    return env.get_template("report.html.j2")


def keep_intervals_together(text: str) -> str:
    """No-break spaces inside each "[low, high]": a number cell may wrap between an estimate and its
    interval (so a table fits a narrow page), never inside the interval."""
    return re.sub(r"\[[^\]]*\]", lambda m: m.group().replace(" ", "\u00a0"), text)


def render_page(model: ReportModel) -> str:
    """The report page with a slot for each figure, so that it can be rendered while the figures are
    still being drawn; :func:`embed_figures` fills the slots."""
    from metablina.normalize import characteristics
    from metablina.render.sof import page_context as sof_page

    ages = {c.study: c for c in characteristics(list(model.run.review.studies))}
    studies = [
        {
            "id": s.study.id,
            "age": _age_text(ages[s.study.id]),
            "citation": s.study.citation,
            "year": s.study.year,
            "design": s.study.design,
            "setting": ", ".join(s.study.setting),
            "n": s.study.population.n,
            "rob": s.study.risk_of_bias.overall,
            "overlap": ", ".join(o.study for o in s.study.overlap),
            "extract": model.extracts[s.study.id][0],
            "extract_href": model.extracts[s.study.id][1],
            "source": s.study.source.file,
            "source_href": model.sources.get(s.study.source.file, ""),
        }
        for s in model.run.review.studies
    ]
    page = page_template().render(
        folder=Path(model.folder).as_posix(),
        studies=studies,
        summary=summary_context(model),
        questions=sof_page(model.run, model),  # questions, answers, Summary of Findings (sof.py)
        analyses=[analysis_context(ar, model) for ar in model.analyses],
        general_methods=GENERAL_METHODS,
        software=software_versions(),
        n_records=sum(len(s.study.outcomes) for s in model.run.review.studies),
    )
    return page
