"""The report's tables: the summary of findings and, per analysis, its study rows, pooled estimates,
sensitivity analyses, leave-one-out and cumulative rows and decisions, as CSV and JSON.

Files are deterministic: rows in the plan's and the extracts' order, JSON through :func:`to_json`, CSV
numbers with a fixed format (``.6g``) and ``\\n`` line ends, so two runs give byte-identical files. CSV
goes through :func:`metablina.render.tables.to_csv`, so extract text cannot run as a spreadsheet formula.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metablina.plan import NO_RECORDS
from metablina.render.comparepage import STUDY_FIELDS as COMPARISON_STUDY_FIELDS
from metablina.render.comparepage import SUMMARY_FIELDS as COMPARISON_SUMMARY_FIELDS
from metablina.render.comparepage import study_fields, summary_fields
from metablina.render.forestdata import (
    CI_SOURCES,
    PROPORTION_MEASURES,
    display_rows,
    model_text,
    reason_of,
    report_text,
    weights_of,
)
from metablina.render.sof import bayes_probability, primary_result, primary_role
from metablina.render.tables import to_csv
from metablina.render.text import analysis_dict, to_json

if TYPE_CHECKING:
    from metablina.analyze import PoolResult
    from metablina.normalize import EffectRow
    from metablina.report import AnalysisReport, ReportModel
    from metablina.run import AnalysisResult, StratumFit

SUMMARY_FIELDS = (
    "analysis",
    "title",
    "outcome",
    "stratum",
    "measure",
    "studies",
    "records",
    "patients",
    "pooled",
    "single_study",
    "estimate",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
    "per_1000",
    "per_1000_low",
    "per_1000_high",
    "tau2",
    "i2",
    "q",
    "q_df",
    "q_p",
    "method",
    "ci_method",
    "model",
    "threshold",
    "ci_vs_threshold",
    "bayes_probability",
    "reason",
    "overall_reason",
    *COMPARISON_SUMMARY_FIELDS,
)
ANALYSIS_FIELDS = (
    "row_type",
    "analysis",
    "variant",
    "stratum",
    "subgroup",
    "study",
    "record",
    "label",
    "year",
    "trial",
    "report",
    "data_cut",
    "follow_up_months",
    "setting",
    "grading",
    "definition",
    "reported",
    "events",
    "total",
    *COMPARISON_STUDY_FIELDS,
    "yi",
    "sei",
    "k",
    "estimate",
    "ci_low",
    "ci_high",
    "ci_source",
    "pi_low",
    "pi_high",
    "weight",
    "tau2",
    "i2",
    "q",
    "q_df",
    "q_p",
    "method",
    "ci_method",
    "model",
    "action",
    "subject",
    "reason",
    "extract",
    "line",
    "source",
    "source_checked",
    "location",
    "derivations",
    "quotes",
)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def pooled_numbers(result: PoolResult) -> dict[str, Any]:
    """Natural-scale estimate, CI and PI with the heterogeneity numbers of one pooled result."""
    d = result.to_dict()
    back = d["back"]
    return {
        "k": result.k,
        "estimate": back.get("estimate"),
        "ci_low": back.get("ci_low"),
        "ci_high": back.get("ci_high"),
        "pi_low": back.get("pi_low"),
        "pi_high": back.get("pi_high"),
        "tau2": d.get("tau2"),
        "i2": d.get("i2"),
        "q": d.get("q"),
        "q_df": d.get("q_df"),
        "q_p": d.get("q_p"),
        "method": result.method,
        "ci_method": result.ci_method,
        "model": model_text(result),
    }


# --------------------------------------------------------------------------------------------- summary


def patients(rows: tuple[EffectRow, ...], model: ReportModel) -> int | None:
    """Patients (or courses) behind the rows: each row's denominator, else its sub-population's, arm's
    or cohort's size; None when one of them is not reported."""
    studies = {s.study.id: s.study for s in model.run.review.studies}
    total = 0
    for r in rows:
        n = r.total
        study = studies.get(r.study)
        if n is None and study is not None and r.subpopulation:
            n = next((s.n for s in study.population.subpopulations if s.id == r.subpopulation), None)
        if n is None and study is not None and r.subpopulation is None:
            arm = next((a.n for a in study.arms if a.id == r.arm), None)
            n = arm if arm is not None else (r.cohort_n or None)
        if n is None:
            return None
        total += n
    return total


def summary_rows(model: ReportModel) -> list[dict[str, Any]]:
    """The summary of findings: one row per analysis and stratum, pooled or with the reason it is not."""
    out = []
    for ar in model.analyses:
        result = ar.result
        a = result.analysis
        strata = result.strata or ()
        if not strata:  # every field a row has, so the page and the tables treat it like any other
            out.append(
                dict.fromkeys(SUMMARY_FIELDS)
                | {
                    "analysis": a.id,
                    "title": a.title,
                    "outcome": ", ".join(a.outcome),
                    "stratum": "",
                    "measure": a.measure,
                    "studies": 0,
                    "records": 0,
                    "patients": 0,
                    "pooled": False,
                    "single_study": False,
                    "reason": NO_RECORDS,
                    "overall_reason": "",
                }
            )
            continue
        for s in strata:
            row: dict[str, Any] = {
                "analysis": a.id,
                "title": a.title,
                "outcome": ", ".join(a.outcome),
                "stratum": s.label,
                "measure": a.measure,
                "studies": len({r.study for r in s.rows}),
                "records": len(s.rows),
                "patients": patients(s.rows, model),
                "pooled": s.pooled,
                "single_study": False,
            }
            comparison = summary_fields(s)  # relative and absolute effects of a comparison (H4)
            if s.result is not None:  # the plan's primary estimate only
                row.update(pooled_numbers(primary_result(s, a)[0]))
                row.pop("k")
            elif len(s.rows) == 1 and not comparison:
                d = display_rows(s.rows, a.measure)[0]
                row.update(
                    single_study=True,
                    estimate=_num(d.estimate),
                    ci_low=_num(d.ci_low),
                    ci_high=_num(d.ci_high),
                )
            row.update(comparison)
            if a.measure in PROPORTION_MEASURES and row.get("estimate") is not None:
                for key in ("estimate", "ci_low", "ci_high"):
                    value = row.get(key)
                    name = "per_1000" if key == "estimate" else f"per_1000_{key[3:]}"
                    row[name] = None if value is None else round(1000 * value)
            if a.threshold is not None and row.get("ci_low") is not None:
                row["threshold"] = a.threshold
                row["ci_vs_threshold"] = (
                    "below"
                    if row["ci_high"] < a.threshold
                    else "above"
                    if row["ci_low"] > a.threshold
                    else "includes"
                )
                row["bayes_probability"] = bayes_probability(s, a)  # P(estimate < threshold), Bayesian
            row["reason"] = reason_of(s, result)
            row["overall_reason"] = result.selection.overall_refusal or ""
            out.append(row)
    return out


# ------------------------------------------------------------------------------------------- analysis


def study_records(
    stratum: StratumFit, ar: AnalysisReport, model: ReportModel, subgroup: str = ""
) -> list[dict[str, Any]]:
    """The study rows of a stratum (or subgroup) as shown, with their provenance."""
    measure = ar.result.analysis.measure
    weights = weights_of(ar.result.strata[0]) if subgroup else weights_of(stratum)
    out = []
    for d in display_rows(stratum.rows, measure, weights):
        r = d.row
        shown, _href, line = model.provenance.get(r.key, ("", "", None))
        out.append(
            {
                "row_type": "study",
                "analysis": ar.result.analysis.id,
                "stratum": "" if subgroup else stratum.label,
                "subgroup": subgroup,
                "study": r.study,
                "record": r.record,
                "label": r.label,
                "year": r.year,
                "trial": r.trial,
                "report": report_text(r),
                "data_cut": r.data_cut,
                "follow_up_months": r.follow_up_months,
                "setting": " + ".join(r.setting),
                "grading": r.grading,
                "definition": r.definition,
                "reported": r.reported,
                "events": r.events,
                "total": r.total,
                "yi": r.yi,
                "sei": r.sei,
                "estimate": _num(d.estimate),
                "ci_low": _num(d.ci_low),
                "ci_high": _num(d.ci_high),
                "ci_source": CI_SOURCES[d.ci_source],
                "weight": d.weight,
                "extract": shown,
                "line": line,
                "source": r.source,
                "source_checked": r.source_checked,
                "location": r.location,
                "derivations": list(r.derivations),
                "quotes": list(r.quotes),
                **study_fields(stratum, r.key),
            }
        )
    return out


def pooled_record(fit: StratumFit, result: AnalysisResult, row_type: str, **where: str) -> dict[str, Any]:
    """A pooled set of rows (or the reason it was not pooled) as one table row."""
    base = {"row_type": row_type, "analysis": result.analysis.id, "stratum": "", "subgroup": "", **where}
    if fit.result is None:
        return {**base, "row_type": "not pooled", "k": len(fit.rows), "reason": reason_of(fit, result)}
    return {**base, **pooled_numbers(fit.result), "warnings": list(fit.result.warnings)}


def analysis_records(ar: AnalysisReport, model: ReportModel) -> list[dict[str, Any]]:
    """Every row of an analysis' table: studies, pooled sets, sensitivity variants, leave-one-out and
    cumulative re-fits, and the decisions of the selection."""
    result = ar.result
    aid = result.analysis.id
    rows: list[dict[str, Any]] = []
    if result.subgroups:
        for g in result.subgroups:
            rows += study_records(g, ar, model, subgroup=g.label)
            rows.append(pooled_record(g, result, "subtotal", subgroup=g.label))
        for s in result.strata:
            rows.append(pooled_record(s, result, "pooled", stratum=s.label))
    else:
        for s in result.strata:
            rows += study_records(s, ar, model)
            rows.append(pooled_record(s, result, primary_role(s, result.analysis, None), stratum=s.label))
    for s in result.strata:
        for b in s.bayes:
            rec = {
                "row_type": primary_role(s, result.analysis, b),
                "analysis": aid,
                "stratum": s.label,
                "subgroup": "",
                "variant": f"bayes-{b.tau_prior}",
                "label": f"Bayesian, {b.tau_prior} on tau ({b.role})",
            }
            if b.result is None:
                rec.update(k=len(s.rows), reason=b.error)
            else:
                rec.update(pooled_numbers(b.result), tau_median=b.result.fit.to_dict()["tau_median"])
            rows.append(rec)
    for v in result.sensitivity:
        for s in v.strata:
            rec = pooled_record(s, result, "sensitivity", stratum=s.label)
            rec.update(variant=v.variant.id, label=v.variant.label)
            if rec["row_type"] == "not pooled":
                rec["row_type"] = "sensitivity"
            rows.append(rec)
    for diag in ar.diagnostics:
        for series in (diag.leave_one_out, diag.cumulative):
            if series is None:
                continue
            for item in series.to_dict()["rows"]:
                rows.append({"row_type": series.kind, "analysis": aid, "stratum": diag.stratum.label, **item})
    for d in result.selection.decisions:
        rows.append(
            {
                "row_type": "decision",
                "analysis": aid,
                "action": d.action,
                "subject": d.subject,
                "reason": d.reason,
            }
        )
    for v in result.sensitivity:
        for d in v.decisions:
            rows.append(
                {
                    "row_type": "decision",
                    "analysis": aid,
                    "variant": v.variant.id,
                    "action": d.action,
                    "subject": d.subject,
                    "reason": d.reason,
                }
            )
    return rows


def analysis_json(ar: AnalysisReport, model: ReportModel) -> dict[str, Any]:
    """The analysis-scale result exactly as ``metablina pool --format json`` prints it (``pool``), and
    the report's rows on the natural scale (``rows``)."""
    a = ar.result.analysis
    return {
        "analysis": a.id,
        "title": a.title,
        "rows": analysis_records(ar, model),
        "pool": analysis_dict(ar.result),
        "comparisons": [
            {"stratum": s.label, **s.comparison.to_dict()}
            for s in ar.result.strata
            if getattr(s, "comparison", None) is not None
        ],
    }


# ------------------------------------------------------------------------------------------------ CSV


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else ""
    if isinstance(value, list | tuple):
        return " | ".join(_cell(v) for v in value)
    return str(value)


def write_tables(model: ReportModel, folder: Path) -> list[Path]:
    """tables/summary.csv|json and tables/<analysis>.csv|json."""
    summary = summary_rows(model)
    files = {
        "summary.csv": to_csv(summary, SUMMARY_FIELDS, _cell),
        "summary.json": to_json({"summary": summary}),
    }
    for ar in model.analyses:
        data = analysis_json(ar, model)
        files[f"{ar.result.analysis.id}.csv"] = to_csv(data["rows"], ANALYSIS_FIELDS, _cell)
        files[f"{ar.result.analysis.id}.json"] = to_json(data)
    paths = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8", newline="")
        paths.append(path)
    return paths
