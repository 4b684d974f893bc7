"""R scripts that check the report's pooled estimates with metafor: ``OUT/r/<analysis>[-<stratum>].R``.

A committee member who does not trust metablina can run each script with R and the metafor package
(Viechtbauer, J Stat Softw 2010;36(3)) and see the same numbers. Each script is self-contained: it holds
the data of every pooled estimate of one analysis (one stratum of it when the analysis has several),
calls metafor with the settings metablina used (``escalc`` measure, ``rma`` estimator and interval,
``rma.glmm`` with 7-point adaptive Gauss-Hermite quadrature and the same test, ``rma.mh``, ``rma.peto``),
and prints one tab-separated line per estimate, starting with ``metablina-check``, in the order of the
header line it prints first (natural scale, as the report's tables show them). metafor has no Bayesian
model: a Bayesian estimate gets a comment saying so, naming bayesmeta for the normal-normal model.

The scripts hold no date or path, so a rerun writes the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metablina.analyze import GENERIC_LOG, PoolResult
from metablina.options import BAYES_METHODS
from metablina.plan import slug

FOLDER = "r"
MARKER = "metablina-check"
FIELDS = (
    "analysis",
    "stratum",
    "subgroup",
    "variant",
    "k",
    "estimate",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
)
FIELDS += ("tau2", "i2")

# metablina's interval -> metafor's ``test``
TEST = {"z": "z", "hksj": "knha", "hksj-adhoc": "adhoc", "t": "t"}
# the natural scale: metafor's transformation (predict() puts the ends of a decreasing one in order)
TRANSF = {
    "PLO": "transf.ilogit",
    "PFT": "transf.ipft.hm",
    "PAS": "transf.iarcsin",
    "PR": "function(x) x",
    "KM": "function(x) exp(-exp(x))",
    "HR": "exp",
    "RR": "exp",
    "OR": "exp",
    "RD": "function(x) x",
}

_HEADER = """\
# Check metablina's pooled estimates with metafor: {what}.
# Written by metablina {version} with the report. Self-contained: the data of each estimate are below.
# Run: Rscript {name}   (needs R and the metafor package: install.packages("metafor"))
# Each estimate prints one tab-separated line starting with "{marker}", fields as the first line names
# them, on the natural scale as the report's tables show them (NA: the fit has no such number).
suppressPackageStartupMessages(library(metafor))

check <- function(fit, analysis, stratum, subgroup, variant, transf, targs = NULL) {{
  p <- if (is.null(targs)) predict(fit, transf = transf) else predict(fit, transf = transf, targs = targs)
  num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.numeric(x)[1]
  ci <- c(num(p$ci.lb), num(p$ci.ub))
  pi <- c(num(p$pi.lb), num(p$pi.ub))
  values <- sprintf("%.17g", c(num(p$pred), ci, pi, num(fit$tau2), num(fit$I2)))
  where <- c(analysis, stratum, subgroup, variant)
  cat(paste(c("{marker}", where, fit$k, values), collapse = "\\t"), "\\n", sep = "")
}}

cat(paste(c("{marker}", {fields}), collapse = "\\t"), "\\n", sep = "")
"""


@dataclass(frozen=True)
class Estimate:
    """One pooled estimate of the report: where its table row is (stratum, subgroup, variant) and its fit."""

    analysis: str
    stratum: str
    subgroup: str
    variant: str
    label: str
    result: PoolResult

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.analysis, self.stratum, self.subgroup, self.variant)


def estimates(result: Any) -> Iterator[Estimate]:
    """Every pooled estimate of an analysis, keyed as metablina.render.report_tables keys its rows."""
    aid = result.analysis.id
    for g in result.subgroups:
        if g.result is not None:
            yield Estimate(aid, "", g.label, "", f"subgroup {g.label}", g.result)
    for s in result.strata:
        if s.result is not None:
            yield Estimate(aid, s.label, "", "", "primary analysis", s.result)
        for b in s.bayes:
            if b.result is not None:
                label = f"Bayesian, {b.tau_prior} on tau ({b.role})"
                yield Estimate(aid, s.label, "", f"bayes-{b.tau_prior}", label, b.result)
    for v in result.sensitivity:
        for s in v.strata:
            if s.result is not None:
                yield Estimate(aid, s.label, "", v.variant.id, f"sensitivity: {v.variant.label}", s.result)


def file_name(analysis: str, stratum: str, strata: int) -> str:
    """``<analysis>.R``, or ``<analysis>-<stratum>.R`` for a stratum of an analysis with several."""
    return f"{analysis}-{slug(stratum)}.R" if strata > 1 and stratum else f"{analysis}.R"


def _r(value: Any) -> str:
    """A Python string or number as an R literal (numbers round-trip: repr gives 17 significant digits)."""
    if isinstance(value, str):
        return json.dumps(value)
    x = float(value)
    if not np.isfinite(x):
        return "NA"
    return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)


def _data_frame(e: Estimate) -> str:
    columns = {"study": list(e.result.labels), **{n: list(v) for n, v in e.result.columns.items()}}
    lines = [f"  {name} = c({', '.join(_r(v) for v in values)})" for name, values in columns.items()]
    return "dat <- data.frame(\n" + ",\n".join(lines) + "\n)"


def _fit_call(r: PoolResult) -> str:
    """The metafor call with metablina's settings for this fit (its data in ``dat``)."""
    cols = r.columns
    test = TEST[r.ci_method]
    two = "ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat"
    if r.method == "GLMM":
        if r.measure == "PLO":
            args = "xi = xi, ni = ni, data = dat"
            return f'fit <- rma.glmm(measure = "PLO", {args}, method = "ML", nAGQ = 7, test = "{test}")'
        umfs = 'model = "UM.FS", method = "ML", nAGQ = 7'
        return f'fit <- rma.glmm(measure = "OR", {two}, {umfs}, test = "{test}")'
    if r.method == "MH":
        return f'fit <- rma.mh(measure = "{r.measure}", {two})'
    if r.method == "PETO":
        return f"fit <- rma.peto({two})"
    if r.measure in GENERIC_LOG:
        es = "es <- dat"
        data = "yi = yi, sei = sei, data = es"
    else:
        given = "xi = xi, ni = ni" if "xi" in cols else "ai = ai, n1i = n1i, ci = ci, n2i = n2i"
        # metablina leaves out double-zero studies for ratio measures (metafor's escalc keeps them by default)
        drop = ", drop00 = TRUE" if r.measure in ("RR", "OR") else ""
        es = f'es <- escalc(measure = "{r.measure}", {given}, data = dat{drop})'
        data = "yi, vi, data = es"
    return f'{es}\nfit <- rma({data}, method = "{r.method}", test = "{test}")'


def _check_call(e: Estimate) -> str:
    r = e.result
    extra = ", targs = list(ni = dat$ni)" if r.measure == "PFT" else ""
    where = ", ".join(_r(x) for x in (e.analysis, e.stratum, e.subgroup, e.variant))
    return f"check(fit, {where}, transf = {TRANSF[r.measure]}{extra})"


def _block(i: int, e: Estimate) -> str:
    r = e.result
    where = f" ({e.stratum})" if e.stratum else ""
    head = f"# {i}. {e.label}{where}: k = {r.k}, {r.measure} {r.method}"
    if r.method in BAYES_METHODS:
        return (
            f"{head}\n"
            "# metafor has no Bayesian model, so this estimate is not checked here. In R, the normal-normal\n"
            "# model (BAYES) with the same prior is bayesmeta::bayesmeta(y, sigma, tau.prior = ...); the\n"
            "# binomial-normal model (BAYES-GLMM) has no counterpart there.\n"
        )
    return f"{head}, {r.ci_method} interval\n{_data_frame(e)}\n{_fit_call(r)}\n{_check_call(e)}\n"


def scripts(results: Any) -> dict[str, tuple[str, list[Estimate]]]:
    """File name -> (R text, its estimates) for every pooled estimate of ``results`` (analysis results)."""
    from metablina import __version__

    grouped: dict[str, list[Estimate]] = {}
    titles: dict[str, str] = {}
    for result in results:
        strata = len(result.strata)
        for e in estimates(result):
            name = file_name(e.analysis, e.stratum if strata > 1 else "", strata)
            grouped.setdefault(name, []).append(e)
            what = f"analysis {e.analysis} ({result.analysis.title})"
            titles[name] = what + (f", stratum {e.stratum}" if strata > 1 and e.stratum else "")
    out = {}
    for name, group in grouped.items():
        head = _HEADER.format(
            what=titles[name],
            version=__version__,
            name=name,
            marker=MARKER,
            fields=", ".join(json.dumps(f) for f in FIELDS),
        )
        blocks = [_block(i, e) for i, e in enumerate(group, 1)]
        out[name] = (head + "\n" + "\n".join(blocks), group)
    return out


def write_r_scripts(results: Any, out: Path) -> dict[tuple[str, str, str, str], str]:
    """Write the scripts into ``out / "r"``; return each checked estimate's key (analysis, stratum,
    subgroup, variant) -> the script's path relative to ``out`` (for the report's links)."""
    written = scripts(results)
    links: dict[tuple[str, str, str, str], str] = {}
    if not written:
        return links
    (out / FOLDER).mkdir()
    for name, (text, group) in written.items():
        (out / FOLDER / name).write_text(text, encoding="utf-8", newline="\n")
        for e in group:
            if e.result.method not in BAYES_METHODS:
                links[e.key] = f"{FOLDER}/{name}"
    return links


def parse_output(text: str) -> list[dict[str, Any]]:
    """The ``metablina-check`` lines a script printed, as dicts of FIELDS (numbers as floats, NA None)."""
    rows = []
    for line in text.splitlines():
        parts = line.split("\t")
        if parts[0] != MARKER or parts[1:] == list(FIELDS):
            continue
        rec: dict[str, Any] = dict(zip(FIELDS[:4], parts[1:5], strict=True))
        for name, value in zip(FIELDS[4:], parts[5:], strict=True):
            rec[name] = None if value == "NA" else float(value)
        rows.append(rec)
    return rows
