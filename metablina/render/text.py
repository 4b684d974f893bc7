"""A pooled result as the terminal shows it (metafor's print layout), as JSON and as CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from metablina.render.tables import to_csv

if TYPE_CHECKING:
    from metablina.analyze import PoolResult
    from metablina.run import AnalysisResult, StratumFit


def to_json(obj: Any) -> str:
    """Deterministic JSON, laid out as ``json.dumps(indent=2)`` lays it out: keys in the order built,
    shortest round-trip floats, UTF-8 text as it is, NaN and infinities as null.

    orjson writes it: 10-20 times faster than the json module on long lists of numbers (a table's yi and
    vi, 10^5 of each), where the json module's indenting encoder is pure Python.
    """
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode("utf-8") + "\n"


def pool_json(result: PoolResult) -> str:
    return to_json(result.to_dict())


def pool_csv(result: PoolResult) -> str:
    """One row of the scalar results (analysis scale) and the back-transformed ones (``back_*``)."""
    d = result.to_dict()
    row = {k: v for k, v in d.items() if not isinstance(v, list | dict)}
    row.update({f"back_{k}": v for k, v in d["back"].items()})
    return to_csv([row], list(row))


def _f(x: float | None, digits: int = 4) -> str:
    return "NA" if x is None else f"{x:.{digits}f}"


def _p(p: float | None) -> str:
    if p is None:
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def pool_text(result: PoolResult) -> str:
    """The layout of metafor's print methods: model line, heterogeneity, test, the estimate table."""
    from metablina.stats.rma import RMAResult, format_rma

    body = format_rma(result.fit) if isinstance(result.fit, RMAResult) else _format_other(result)
    back = result.back()
    lines = [body.rstrip(), "", f"Back-transformed ({result.measure}, natural scale):"]
    lines.append("  ".join(f"{k} = {_f(v)}" for k, v in back.items()))
    return "\n".join(lines) + "\n"


def _format_bayes(result: PoolResult) -> str:
    d = result.fit.to_dict()
    model = "normal-normal" if result.method == "BAYES" else "binomial-normal (exact likelihood)"
    lines = [
        f"Bayesian random-effects model, {model} (k = {result.k})",
        f"Priors: {d['tau_prior']}; {d['mu_prior']}",
        "",
        f"{'':10}{'median':>9} {'mean':>9} {'sd':>9} {'95% CrI':>21}",
        f"{'mu':10}{_f(d['estimate']):>9} {_f(d['mean']):>9} {_f(d['sd']):>9}"
        f"   [{_f(d['ci_low'])}, {_f(d['ci_high'])}]",
        f"{'tau':10}{_f(d['tau_median']):>9} {_f(d['tau_mean']):>9} {_f(d['tau_sd']):>9}"
        f"   [{_f(d['tau_ci_low'])}, {_f(d['tau_ci_high'])}]",
        f"{'theta_new':10}{_f(d['pred_median']):>9} {_f(d['pred_mean']):>9} {_f(d['pred_sd']):>9}"
        f"   [{_f(d['pi_low'])}, {_f(d['pi_high'])}]",
    ]
    threshold = result.to_dict().get("threshold")
    if threshold is not None:
        p_below = _f(d["p_below"])
        lines += [
            "",
            f"P(effect < {threshold:.6g}) = {p_below} (threshold on the natural scale of {result.measure})",
        ]
    return "\n".join(lines) + "\n"


def _format_other(result: PoolResult) -> str:
    if result.method.startswith("BAYES"):
        return _format_bayes(result)
    d = result.fit.to_dict()
    if result.method == "GLMM":
        head = [
            f"Random-Effects Model (k = {result.k}; tau^2 estimator: ML)",
            "",
            f"tau^2 (estimated amount of total heterogeneity): {_f(d.get('tau2'))}",
            f"tau (square root of estimated tau^2 value):      {_f((d.get('tau2') or 0) ** 0.5)}",
            f"I^2 (total heterogeneity / total variability):   {_f(d.get('i2'), 2)}%",
            f"H^2 (total variability / sampling variability):  {_f(d.get('h2'), 2)}",
            "",
            "Tests for Heterogeneity:",
            f"Wld(df = {d.get('q_df')}) = {_f(d.get('q_wald'))}, p-val {_p(d.get('q_wald_p'))}",
            f"LRT(df = {d.get('q_df')}) = {_f(d.get('q_lrt'))}, p-val {_p(d.get('q_lrt_p'))}",
        ]
        stat = "tval" if result.ci_method != "z" else "zval"
    else:
        name = "Mantel-Haenszel" if result.method == "MH" else "Peto's"
        head = [
            f"Equal-Effects Model ({name} method; k = {result.k})",
            "",
            f"I^2 (total heterogeneity / total variability):  {_f(d.get('i2'), 2)}%",
            f"H^2 (total variability / sampling variability): {_f(d.get('h2'), 2)}",
            "",
            "Test for Heterogeneity:",
            f"Q(df = {d.get('q_df')}) = {_f(d.get('q'))}, p-val {_p(d.get('q_p'))}",
        ]
        stat = "zval"
    table = [
        f"{'estimate':>9} {'se':>8} {stat:>8} {'pval':>8} {'ci.lb':>8} {'ci.ub':>8}",
        f"{_f(d.get('estimate')):>9} {_f(d.get('se')):>8} {_f(d.get('zval', d.get('stat'))):>8} "
        f"{_p(d.get('pval', d.get('p_value'))):>8} {_f(d.get('ci_low')):>8} {_f(d.get('ci_high')):>8}",
    ]
    return "\n".join([*head, "", "Model Results:", "", *table]) + "\n"


def row_dict(row: Any) -> dict[str, Any]:
    """A study row as reported and as normalised, with its trial, report, data cut, grading and
    provenance (a source without a local copy says its quotes were not checked)."""
    out = {"study": row.study, "record": row.record, "label": row.label, "reported": row.reported}
    if row.form == "proportion":
        out.update(events=row.events, total=row.total)
    else:
        out.update(yi=row.yi, sei=row.sei, scale=row.scale)
    out.update(
        trial=row.trial,
        report=row.report_kind,
        data_cut=row.data_cut,
        follow_up_months=row.follow_up_months,
        setting=list(row.setting),
        grading=row.grading,
        definition=row.definition,
    )
    out.update(derivations=list(row.derivations), quotes=list(row.quotes), source=row.source)
    if not row.source_checked:
        out["source_checked"] = False
    return out


def stratum_dict(stratum: StratumFit) -> dict[str, Any]:
    out: dict[str, Any] = {"label": stratum.label, "k": len(stratum.rows), "pooled": stratum.pooled}
    if stratum.result is not None:
        out["result"] = stratum.result.to_dict()
        out["warnings"] = list(stratum.result.warnings)
    else:
        out["reason"] = stratum.error or stratum.refusal
    out["studies"] = [row_dict(r) for r in stratum.rows]
    return out


def analysis_dict(result: AnalysisResult) -> dict[str, Any]:
    """The pooled result with the same keys as table mode, plus the analysis, its strata and decisions."""
    a = result.analysis
    primary = result.primary
    out: dict[str, Any] = (
        primary.result.to_dict() if primary is not None else {"k": len(result.selection.rows)}
    )
    out.update(analysis=a.id, title=a.title, pooled=primary is not None)
    if primary is None:
        out["reason"] = result.selection.overall_refusal or next(
            (s.error or s.refusal for s in result.strata), "no record matches this analysis"
        )
    out["strata"] = [stratum_dict(s) for s in result.strata]
    if result.subgroups:
        out["subgroups"] = [stratum_dict(s) for s in result.subgroups]
    if result.subgroups or result.subgroup_test is not None:
        out["subgroup_test"] = result.subgroup_test.to_dict() if result.subgroup_test else None
    out["sensitivity"] = [
        {
            "id": v.variant.id,
            "label": v.variant.label,
            "strata": [stratum_dict(s) for s in v.strata],
            "decisions": [str(d) for d in v.decisions],
        }
        for v in result.sensitivity
    ]
    out["decisions"] = [str(d) for d in result.selection.decisions]
    return out


def analysis_json(result: AnalysisResult) -> str:
    return to_json(analysis_dict(result))


def analysis_csv(result: AnalysisResult) -> str:
    """One row per stratum: the pooled numbers, or the reason it was not pooled."""
    fields = [
        "analysis",
        "stratum",
        "k",
        "pooled",
        "measure",
        "method",
        "ci_method",
        "estimate",
        "ci_low",
        "ci_high",
        "pi_low",
        "pi_high",
        "tau2",
        "i2",
        "back_estimate",
        "back_ci_low",
        "back_ci_high",
        "back_pi_low",
        "back_pi_high",
        "reason",
    ]
    rows = []
    for s in result.strata:
        row: dict[str, Any] = {
            "analysis": result.analysis.id,
            "stratum": s.label,
            "k": len(s.rows),
            "pooled": s.pooled,
            "reason": s.error or s.refusal or "",
        }
        if s.result is not None:
            d = s.result.to_dict()
            row.update({k: v for k, v in d.items() if not isinstance(v, list | dict)})
            row.update({f"back_{k}": v for k, v in d["back"].items()})
        rows.append(row)
    return to_csv(rows, fields)


def _primary_line(s: Any, a: Any) -> list[str]:
    """The plan's primary estimate when it is not the fit printed above (``primary: bayes``)."""
    from metablina.render.sof import primary_result

    fit, name = primary_result(s, a)
    if fit is None or fit is s.result:
        return []
    b = fit.back()
    return [
        "",
        f"Primary estimate (the plan's primary: bayes): {_f(b.get('estimate'))} "
        f"[{_f(b.get('ci_low'))}, {_f(b.get('ci_high'))}], {name}; the fit above is a sensitivity analysis.",
    ]


def analysis_text(result: AnalysisResult) -> str:
    """The analysis as a reviewer reads it at the terminal: title, each stratum, then the decisions."""
    from metablina.render.forestdata import context, no_subgroup_test

    a = result.analysis
    lines = [f"{a.title} [{a.id}]", ""]
    for s in result.strata:
        if s.label:
            lines.append(f"-- {s.label} --")
        if s.result is not None:
            lines.append(pool_text(s.result).rstrip())
            lines += _primary_line(s, a)
        else:
            lines.append(f"Not pooled: {s.error or s.refusal}")
            for r in s.rows:
                shown = context(r)
                lines.append(f"  {r.label}: {r.reported}" + (f" ({shown})" if shown else ""))
        lines.append("")
    if result.selection.overall_refusal and len(result.strata) > 1:
        lines += [f"No overall estimate: {result.selection.overall_refusal}", ""]
    if result.subgroup_test is not None:
        t = result.subgroup_test
        lines += [f"Test for subgroup differences: Q = {t.q:.4f}, df = {t.df}, p = {_p(t.p)}", ""]
    elif (why := no_subgroup_test(result)) is not None:
        lines += [f"Test for subgroup differences: {why}", ""]
    if result.sensitivity:
        lines.append("Sensitivity analyses:")
        for v in result.sensitivity:
            for s in v.strata:
                label = f"{v.variant.label}" + (f" [{s.label}]" if s.label else "")
                if s.result is not None:
                    b = s.result.back()
                    lines.append(
                        f"  {label}: {_f(b.get('estimate'))} [{_f(b.get('ci_low'))}, {_f(b.get('ci_high'))}]"
                        f" (k = {s.result.k})"
                    )
                else:
                    lines.append(f"  {label}: not pooled ({s.error or s.refusal})")
        lines.append("")
    if result.selection.decisions:
        lines.append("Decisions:")
        lines += [f"  {d}" for d in result.selection.decisions]
    return "\n".join(lines).rstrip() + "\n"
