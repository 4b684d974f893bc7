"""``metablina report``: run every analysis of the plan and write a report folder a committee can read.

The flow: load and check the extracts and the plan (every problem, one line each) -> run the plan ->
leave-one-out and cumulative re-fits for each pooled set of rows -> figures (drawn in worker processes,
each figure once and saved in every format from the same drawing) -> tables -> ``report.html``.

Everything is written into a temporary folder next to the output folder, which replaces the output
folder only when every file has been written; on any failure the temporary folder is removed and the
output folder is left as it was (see metablina.reportfolder).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from metablina.extract.validate import Review, load_review
from metablina.normalize import EffectRow, NormalizeError, normalize
from metablina.plan import Plan, output_clashes, plan_path, read_plan, slug, stratum_override_problems
from metablina.render.draw import FigureJob
from metablina.reportfolder import OutFolderError, check_out, clean_stale, replacing
from metablina.run import AnalysisResult, ReviewRun, StratumFit, columns_of, run_analysis
from metablina.workers import (
    beside,
    can_fork,
    default_workers,
    die_with,
    figure_context,
    forked_pool,
    gc_frozen,
    prepare_figure_workers,
    shut_down_after,
    stop_now,
)

REPORT_FILE = "report.html"
FOREST_FORMATS = ("png", "svg", "pdf")
DIAGNOSTIC_FORMATS = ("svg",)


class ReportError(Exception):
    """Inputs that cannot be reported on; ``lines`` are printed one per line, as ``validate`` does."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


# --------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Series:
    """Pooled estimates of a leave-one-out or cumulative analysis, natural scale (NaN: not estimable)."""

    kind: str  # "leave-one-out" or "cumulative"
    labels: tuple[str, ...]
    estimate: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    k: tuple[int, ...]
    i2: tuple[float | None, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        return {
            "kind": self.kind,
            "rows": [
                {
                    "label": label,
                    "k": k,
                    "estimate": num(e),
                    "ci_low": num(lo),
                    "ci_high": num(hi),
                    "i2": num(i2),
                }
                for label, k, e, lo, hi, i2 in zip(
                    self.labels, self.k, self.estimate, self.ci_low, self.ci_high, self.i2, strict=True
                )
            ],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Diagnostics:
    """Funnel, leave-one-out and cumulative results of one pooled set of rows."""

    stratum: StratumFit
    slug: str  # "" for an analysis with one stratum
    leave_one_out: Series | None
    cumulative: Series | None
    small_study: str = ""  # Egger's test, or why there is no funnel plot and no test (k < 10)
    egger: dict[str, Any] | None = None  # metablina.stats.bias.EggerResult.to_dict(), from k = 10


@dataclass
class AnalysisReport:
    result: AnalysisResult
    forest: Any  # ForestData
    diagnostics: list[Diagnostics] = field(default_factory=list)
    figures: list[FigureJob] = field(default_factory=list)
    multiverse: list[Any] = field(default_factory=list)  # metablina.multiverse.StratumMultiverse per stratum


@dataclass
class ReportModel:
    """Everything the tables and the HTML are rendered from."""

    folder: Path
    out: Path
    run: ReviewRun
    analyses: list[AnalysisReport]
    provenance: dict[str, tuple[str, str, int | None]]  # row key -> (shown path, href, line)
    extracts: dict[str, tuple[str, str]]  # study id -> (shown path, href)
    sources: dict[str, str]  # source file name -> href
    # (analysis, stratum, subgroup, variant) of a pooled estimate -> its R script (metablina.render.rscript)
    r_scripts: dict[tuple[str, str, str, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportSummary:
    out: Path
    analyses: int
    figures: int
    files: int


# --------------------------------------------------------------------------------------------- inputs


def load_inputs(
    folder: Path, map_files: Callable[..., Iterable[Any]] = map
) -> tuple[Review, list[EffectRow], Plan]:
    """The review, its effect rows and its plan, or ReportError with one line per problem (``map_files``:
    as :func:`metablina.extract.validate.load_review`)."""
    review = load_review(Path(folder), map_files=map_files)
    lines = [str(p) for p in review.problems]
    read = read_plan(plan_path(folder))
    lines += [str(p) for p in read.problems]
    if lines:
        raise ReportError([*lines, f"{len(lines)} problem(s) in {folder}; nothing was written"])
    try:
        rows = normalize(review.studies)
    except NormalizeError as exc:
        raise ReportError([f"{folder}: {exc}", "1 problem; nothing was written"]) from None
    assert read.plan is not None and read.doc is not None
    clashes = [
        str(p)
        for p in (
            *output_clashes(read.plan, read.doc, rows),
            *stratum_override_problems(read.plan, read.doc, rows),
        )
    ]
    if clashes:
        raise ReportError([*clashes, f"{len(clashes)} problem(s) in {folder}; nothing was written"])
    return review, rows, read.plan


def run_plan(folder: Path, workers: int = 1, meanwhile: Callable[[], object] | None = None) -> ReviewRun:
    """Every analysis of the plan; with ``workers`` > 1 the extracts are read, and the analyses
    (independent of each other, and the Bayesian fits in them take most of the time) run, in forked
    processes, results in plan order. ``meanwhile`` is called in this process while the workers compute
    the analyses (or first, with one worker)."""
    if workers <= 1 or not can_fork():
        review, rows, plan = load_inputs(folder)
        if meanwhile is not None:
            meanwhile()
        results = tuple(run_analysis(rows, a) for a in plan.analyses)
        return ReviewRun(review, tuple(rows), plan, results)
    with shut_down_after(forked_pool(workers)) as pool:
        assert pool is not None
        with gc_frozen():  # the first submit forks the workers
            review, rows, plan = load_inputs(folder, partial(pool.map, chunksize=_EXTRACTS_PER_TASK))
        futures = [pool.submit(_run_group, rows, g) for g in _by_outcome(plan.analyses)]
        if meanwhile is not None:
            meanwhile()
        done = {a.id: r for f in futures for a, r in f.result()}
    results = tuple(done[a.id] for a in plan.analyses)
    return ReviewRun(review, tuple(rows), plan, results)


def _by_outcome(analyses: Sequence[Any]) -> list[list[Any]]:
    """Analyses of one outcome in one group, to be run in one worker: they pool the same tables (a
    stratum of one analysis is another's whole), which each process fits once (run.pool_rows caches
    them), so no table is fitted twice in two workers. Groups in plan order."""
    groups: dict[tuple[str, ...], list[Any]] = {}
    for a in analyses:
        groups.setdefault(tuple(sorted(a.outcome)), []).append(a)
    return list(groups.values())


def _run_group(rows: list[EffectRow], analyses: list[Any]) -> list[tuple[Any, AnalysisResult]]:
    return [(a, run_analysis(rows, a)) for a in analyses]


# -------------------------------------------------------------------------------------- diagnostics


def _short_reason(text: str) -> str:
    from metablina.render.forestdata import short_reason

    return short_reason(text)


def _refit(stratum: StratumFit, rows: Sequence[EffectRow], tau_prior: str | None = None) -> Any:
    """The stratum's model on a subset of its rows (same measure, method, interval, prior), or the error:
    one subset at a time, the reference the batched refits (:func:`_batch_points`) are tested against."""
    from metablina.analyze import pool
    from metablina.stats.errors import InputError

    r = stratum.result
    assert r is not None
    try:
        return pool(
            r.measure,
            r.method,
            r.ci_method,
            columns_of(tuple(rows)),
            [x.label for x in rows],
            tau_prior=tau_prior,
            shrinkage=False,
        )
    except InputError as exc:
        return f"{r.method} could not be fitted: {exc}"


def _point(fit: Any) -> tuple[float, float, float, float | None]:
    if isinstance(fit, str):
        return math.nan, math.nan, math.nan, None
    b = fit.back()
    i2 = fit.to_dict().get("i2")

    def num(x: float | None) -> float:
        return math.nan if x is None else float(x)

    return num(b["estimate"]), num(b.get("ci_low")), num(b.get("ci_high")), i2


def _series(
    kind: str, labels: Sequence[str], points: list[tuple], k: Sequence[int], notes: list[str]
) -> Series:
    est, lo, hi, i2 = (tuple(column) for column in zip(*points, strict=True))
    return Series(kind, tuple(labels), est, lo, hi, tuple(k), i2, tuple(notes))


def _batch_fit(stratum: StratumFit, subsets: Sequence[Any], tau_prior: str | None) -> Any:
    """The stratum's model fitted on every subset of its rows (index arrays) in one ragged batch
    (metablina.stats.batch): the same effect sizes, model, interval and prior as :func:`_refit`.
    A proportion GLMM's Newton starts at the stratum's own fit rather than searching a τ grid: each
    subset is the stratum less one study, or the stratum growing towards itself. The fit is checked
    (converged, a local maximum, beating the profiled τ grid) and fitted from the grid where it fails."""
    import numpy as np

    from metablina.analyze import DEFAULT_TAU_PRIOR, GENERIC_LOG, TEST_OF_CI
    from metablina.options import IV_METHODS
    from metablina.stats import batch
    from metablina.stats.measures import escalc

    r = stratum.result
    assert r is not None
    cols = columns_of(stratum.rows)

    def pick(name: str) -> list[Any]:
        return [cols[name][s] for s in subsets]

    if r.method == "GLMM" and r.measure == "PLO":
        start = (float(r.fit.estimate), math.sqrt(float(r.fit.tau2)))
        warm = all(map(math.isfinite, start))
        return batch.glmm_proportion(
            pick("xi"),
            pick("ni"),
            test=r.ci_method,
            start=start if warm else None,
            whole=(cols["xi"], cols["ni"]),
        )
    if r.method == "GLMM":
        return batch.glmm_or_umfs(pick("ai"), pick("n1i"), pick("ci"), pick("n2i"), test=r.ci_method)
    if r.method == "MH":
        return batch.mantel_haenszel(pick("ai"), pick("n1i"), pick("ci"), pick("n2i"), measure=r.measure)
    if r.method == "PETO":
        return batch.peto(pick("ai"), pick("n1i"), pick("ci"), pick("n2i"))
    prior = tau_prior or DEFAULT_TAU_PRIOR.get(r.measure)
    if r.method == "BAYES-GLMM":
        return batch.bayes_bn(pick("xi"), pick("ni"), tau_prior=prior, shrinkage=False)
    # effect sizes are computed study by study (a continuity correction only where a cell is 0), so a
    # subset's are the subset of the stratum's
    es = escalc("GEN" if r.measure in GENERIC_LOG else r.measure, **cols)
    yi, vi = np.asarray(es.yi, dtype=float), np.asarray(es.vi, dtype=float)
    if r.method == "BAYES":
        return batch.bayes_nn([yi[s] for s in subsets], [vi[s] for s in subsets], tau_prior=prior)
    assert r.method in IV_METHODS
    keep = [s[np.isfinite(yi[s]) & np.isfinite(vi[s])] for s in subsets]  # as pool leaves them out
    return batch.rma(
        [yi[s] for s in keep], [vi[s] for s in keep], method=r.method, test=TEST_OF_CI[r.ci_method]
    )


def _batch_points(
    stratum: StratumFit, subsets: Sequence[Any], tau_prior: str | None = None
) -> tuple[list[tuple], list[str | None]]:
    """Estimate, CI (natural scale) and I² of the stratum's model on each subset, fitted in one batch,
    and why a subset could not be fitted (None where it was), worded as :func:`_refit` words it."""
    from metablina.analyze import back_value

    r = stratum.result
    assert r is not None
    b = _batch_fit(stratum, subsets, tau_prior)
    if r.measure == "PFT":  # the inverse Freeman-Tukey transform takes each subset's own sample sizes
        ni = columns_of(stratum.rows)["ni"]
        est, low, high = (
            [float(back_value("PFT", getattr(b, f)[i], ni[s])) for i, s in enumerate(subsets)]
            for f in ("estimate", "ci_low", "ci_high")
        )
    else:
        est, low, high = (back_value(r.measure, getattr(b, f)) for f in ("estimate", "ci_low", "ci_high"))
    if r.measure == "KM":  # S = exp(-exp(y)) decreases in y
        low, high = high, low
    i2 = b.values.get("i2")
    points = [
        (
            float(est[i]),
            float(low[i]),
            float(high[i]),
            None if i2 is None or not math.isfinite(i2[i]) else float(i2[i]),
        )
        for i in range(len(subsets))
    ]
    errors = [None if e is None else f"{r.method} could not be fitted: {e}" for e in b.errors]
    return points, errors


def leave_one_out(stratum: StratumFit, *, stacked: bool = True, tau_prior: str | None = None) -> Series:
    """Each row omitted in turn and the rest re-pooled with the same model (k ≥ 3), every subset in one
    ragged batch (metablina.stats.batch, any model); ``stacked=False`` pools the subsets one at a
    time. ``tau_prior``: the analysis's prior of a Bayesian model (None: the measure's default)."""
    rows = stratum.rows
    notes: list[str] = []
    if stacked:
        from metablina.stats.batch import leave_one_out_subsets

        points, errors = _batch_points(stratum, leave_one_out_subsets(len(rows)), tau_prior)
    else:
        fits = [_refit(stratum, rows[:i] + rows[i + 1 :], tau_prior) for i in range(len(rows))]
        points = [_point(f) for f in fits]
        errors = [f if isinstance(f, str) else None for f in fits]
    for r, error in zip(rows, errors, strict=True):
        if error is not None:
            notes.append(f"Without {r.label}: not estimable, {_short_reason(error)}")
    return _series("leave-one-out", [r.label for r in rows], points, [len(rows) - 1] * len(rows), notes)


def cumulative(
    stratum: StratumFit,
    first: tuple[float, float, float],
    *,
    stacked: bool = True,
    tau_prior: str | None = None,
) -> Series:
    """Rows added in order of year (then label), re-pooled at each step (in one batch, as
    :func:`leave_one_out`); the first row is the study alone with its own interval ``first`` (as the
    forest plot shows it), the last one the stratum's own fit."""
    ranked = sorted(range(len(stratum.rows)), key=lambda i: (stratum.rows[i].year, stratum.rows[i].label))
    order = [stratum.rows[i] for i in ranked]
    middle: list[tuple] = []
    errors: list[str | None] = []
    if len(order) > 2 and stacked:
        from metablina.stats.batch import cumulative_subsets

        middle, errors = _batch_points(stratum, cumulative_subsets(ranked)[1:-1], tau_prior)
    elif len(order) > 2:
        fits = [_refit(stratum, order[:i], tau_prior) for i in range(2, len(order))]
        middle = [_point(f) for f in fits]
        errors = [f if isinstance(f, str) else None for f in fits]
    notes = [
        f"Up to {order[i + 1].label}: not estimable, {_short_reason(e)}"
        for i, e in enumerate(errors)
        if e is not None
    ]
    assert stratum.result is not None
    points = [(*first, None), *middle, _point(stratum.result)]
    labels = [f"{r.label} ({r.year})" for r in order]
    return _series("cumulative", labels, points, range(1, len(order) + 1), notes)


# ------------------------------------------------------------------------------------------- building


def build_model(
    folder: Path,
    out: Path,
    run: ReviewRun,
    *,
    extra: Callable[[StratumFit], Sequence[Any]] | None = None,
    on_figure: Callable[[FigureJob], None] | None = None,
    workers: int = 1,
) -> ReportModel:
    """Forest data, diagnostics and figure jobs of every analysis; provenance of every row.

    ``on_figure`` is called with each figure job as soon as it is known: the forest plots of all
    analyses first, then the diagnostic plots, whose leave-one-out and cumulative fits take longer.
    With ``workers`` > 1, the strata's refits and the multiverse's binomial-normal Bayesian specifications,
    where they are heavy enough to pay for the processes, run in one pool of forked processes while this
    one draws up the forest plots and fits the rest of the multiverse (:func:`_heavy_refits`).
    """
    from metablina.multiverse import Fitting, by_analysis, enumerate_review, known_fits

    on_figure = on_figure or (lambda _job: None)
    todo = [(i, s) for i, r in enumerate(run.results) for s in r.strata if s.pooled and len(s.rows) >= 2]
    items = [(s, run.results[i].analysis) for i, s in todo]
    with contextlib.ExitStack() as stack:
        # the refits first, so that they run while this process enumerates the multiverse; their pool's
        # workers are all forked at its first submit, while this process has one thread
        pool = (
            stack.enter_context(shut_down_after(forked_pool(workers)))
            if _heavy_refits(items, workers)
            else None
        )
        with gc_frozen():
            refits = _Refits(items, pool)
        enumerated = enumerate_review(run.rows, [r.analysis for r in run.results])
        fitting = Fitting([mv for mvs in enumerated.values() for mv in mvs], known_fits(run.results))
        if workers > 1 and can_fork() and fitting.heavy:
            if pool is None:
                pool = stack.enter_context(shut_down_after(forked_pool(workers)))
            with gc_frozen():
                fitting.start(pool)
        analyses = _forest_and_diagnostics(
            run, todo, refits, extra, on_figure, lambda: by_analysis(enumerated, fitting.result())
        )
    extracts = {
        s.study.id: ((folder / s.path.name).as_posix(), _href(s.path, out)) for s in run.review.studies
    }
    provenance = {
        f"{s.study.id}/{rec.id}": (*extracts[s.study.id], s.doc.lines.get(("outcomes", i)))
        for s in run.review.studies
        for i, rec in enumerate(s.study.outcomes)
    }
    sources = {
        s.study.source.file: _href(folder / "sources" / s.study.source.file, out) for s in run.review.studies
    }
    return ReportModel(folder, out, run, analyses, provenance, extracts, sources)


def _forest_and_diagnostics(
    run: ReviewRun,
    todo: list[tuple[int, StratumFit]],
    refits: _Refits,
    extra: Callable[[StratumFit], Sequence[Any]] | None,
    on_figure: Callable[[FigureJob], None],
    multiverses: Callable[[], dict[str, Any]],
) -> list[AnalysisReport]:
    """Each analysis's forest plot, then (the multiverse fitted meanwhile) each pooled stratum's
    diagnostics from its refits, then the spec curves: figure jobs in that order."""
    from metablina.render.compareforest import analysis_forest_data, is_comparative

    analyses = []
    for result in run.results:
        a = result.analysis
        if is_comparative(result):
            forest = analysis_forest_data(result)
        else:
            from metablina.render.forestdata import forest_data
            from metablina.render.sof import unweighted_forest_rows

            forest = forest_data(result, extra=extra, unweighted=unweighted_forest_rows(result, run.rows))
        ar = AnalysisReport(result, forest)
        job = FigureJob(f"forest-{a.id}", "forest", forest, FOREST_FORMATS, f"Forest plot: {a.title}")
        ar.figures.append(job)
        on_figure(job)
        analyses.append(ar)
    fitted = multiverses()  # the rest of the multiverse, meanwhile, if the refits run in workers
    for (i, s), (loo, cum) in zip(todo, refits, strict=True):
        ar = analyses[i]
        a = ar.result.analysis
        several = len(ar.result.strata) > 1
        sfx = f"-{slug(s.label)}" if several else ""
        diag = Diagnostics(
            s,
            sfx.lstrip("-"),
            loo,
            cum,
            *small_study_effects(s.result, s.label if several else ""),  # type: ignore[arg-type]
        )
        ar.diagnostics.append(diag)
        where = f" ({s.label})" if several else ""
        jobs = _diagnostic_jobs(a.id + sfx, diag, ar.forest.scale, ar.forest.measure_label, a.title + where)
        ar.figures += jobs
        for job in jobs:
            on_figure(job)
    _multiverse_figures(analyses, fitted, on_figure)
    return analyses


def _multiverse_figures(
    analyses: list[AnalysisReport], fitted: dict[str, Any], on_figure: Callable[[FigureJob], None]
) -> None:
    """Each analysis's multiverse and its spec-curve figures."""
    from metablina.multiverse import figure_jobs

    for ar in analyses:
        ar.multiverse = fitted[ar.result.analysis.id]
        jobs = figure_jobs(ar.result.analysis, ar.multiverse, len(ar.result.strata) > 1)
        ar.figures += jobs
        for job in jobs:
            on_figure(job)


_EXTRACTS_PER_TASK = 25  # extracts a worker reads per task: few round trips, both workers busy
# Refits of fewer study cells than this (each subset's k, summed over the leave-one-out and cumulative
# series of every stratum) cost less than starting worker processes: the shipped review has about 60.
PARALLEL_REFIT_CELLS = 20_000


def _refit_pair(stratum: StratumFit, measure: str, tau_prior: str | None) -> tuple[Series | None, Series]:
    """A stratum's leave-one-out series (k >= 3) and cumulative series."""
    loo = leave_one_out(stratum, tau_prior=tau_prior) if len(stratum.rows) >= 3 else None
    return loo, cumulative(stratum, _first_study(stratum, measure), tau_prior=tau_prior)


def _heavy_refits(items: Sequence[tuple[StratumFit, Any]], workers: int) -> bool:
    """Whether the strata's refits have study cells enough (:data:`PARALLEL_REFIT_CELLS`; a GLMM's cost
    grows with k squared) to be fitted in ``workers`` forked processes. The multiverse's binomial-normal
    Bayesian specifications go to the same pool when theirs reach
    :data:`metablina.multiverse.PARALLEL_BAYES_CELLS` (a pool of their own where the refits have none)."""
    if workers <= 1 or not can_fork():
        return False
    return sum(len(s.rows) ** 2 * 3 // 2 for s, _ in items) >= PARALLEL_REFIT_CELLS


class _Refits:
    """Each stratum's refits (:func:`_refit_pair`), in order, as the caller iterates: submitted at once to
    ``pool``, largest first, or (no pool) fitted here one stratum at a time."""

    def __init__(self, items: Sequence[tuple[StratumFit, Any]], pool: Any) -> None:
        self.items = items
        self.pool = pool
        self.futures: dict[int, Any] = {}
        if pool is not None:
            for i in sorted(range(len(items)), key=lambda i: -len(items[i][0].rows)):
                s, a = items[i]
                self.futures[i] = pool.submit(_refit_pair, s, a.measure, a.tau_prior)

    def __iter__(self) -> Iterator[tuple[Series | None, Series]]:
        for i, (s, a) in enumerate(self.items):
            yield (
                self.futures[i].result() if self.pool is not None else _refit_pair(s, a.measure, a.tau_prior)
            )


def _first_study(stratum: StratumFit, measure: str) -> tuple[float, float, float]:
    """The estimate and CI of the earliest study, as the forest plot shows it (the cumulative plot's first
    row): a comparison's own row, or the display row of a single-arm estimate."""
    first = min(stratum.rows, key=lambda r: (r.year, r.label))
    comparison = getattr(stratum, "comparison", None)
    if comparison is not None:
        row = next(r for r in comparison.rows if r.key == first.key)
        return tuple(math.nan if v is None else v for v in (row.estimate, row.ci_low, row.ci_high))  # type: ignore[return-value]
    from metablina.render.forestdata import display_rows

    d = display_rows([first], measure)[0]
    return d.estimate, d.ci_low, d.ci_high


FUNNEL_X = {
    "PLO": "Logit proportion",
    "PFT": "Freeman–Tukey transformed proportion",
    "PAS": "Arcsine-transformed proportion",
    "PR": "Proportion",
    "KM": "log(−log S) at the landmark",
    "HR": "Hazard ratio",
    "RR": "Risk ratio",
    "OR": "Odds ratio",
    "RD": "Risk difference",
}


def small_study_effects(result: Any, where: str = "") -> tuple[str, dict[str, Any] | None]:
    """Egger's regression test from k = 10 studies (with the funnel plot), else the sentence saying
    that neither is done and why: below 10 studies the test cannot tell asymmetry from chance (Sterne
    et al. 2011, BMJ 343:d4002). ``where`` names the stratum."""
    from metablina.render.forestdata import fmt_p
    from metablina.stats.bias import MIN_K, egger_test

    at = f"{where}: " if where else ""
    if result.k < MIN_K:
        return (
            f"{at}Funnel plot and Egger's test not done: k = {result.k} studies, fewer than {MIN_K}, too few "
            "to tell funnel asymmetry from chance (Sterne et al. 2011).",
            None,
        )
    egger = egger_test(result.yi, result.vi).to_dict()
    df = f"({egger['df']})" if egger["df"] is not None else ""
    stat = f"{egger['stat']:.2f}".replace("-", "−")
    return (
        f"{at}Egger's regression test for funnel asymmetry (k = {result.k}): {egger['stat_name']}{df} = "
        f"{stat}, p {fmt_p(egger['p_value'])}; a small p suggests small-study effects, which need not be "
        "publication bias.",
        egger,
    )


def _diagnostic_jobs(stem: str, diag: Diagnostics, scale: str, xlabel: str, what: str) -> list[FigureJob]:
    """Funnel (k ≥ 10, with Egger's test in its caption), leave-one-out (k ≥ 3) and cumulative (k ≥ 2)
    plots of one pooled set of rows. Titles name no analysis, so the same rows in two analyses give the
    same figure (drawn once)."""
    import numpy as np

    r = diag.stratum.result
    assert r is not None
    jobs = []
    if diag.egger is not None:  # k >= 10
        jobs.append(
            FigureJob(
                f"funnel-{stem}",
                "funnel",
                {
                    "yi": tuple(float(v) for v in r.yi),
                    "sei": tuple(float(v) for v in np.sqrt(r.vi)),
                    "estimate": float(np.asarray(r.fit.estimate)),
                    "xlabel": FUNNEL_X.get(r.measure, "Effect size"),
                    "exp": r.measure in ("HR", "RR", "OR"),
                    "title": "Funnel plot",
                },
                DIAGNOSTIC_FORMATS,
                f"Funnel plot: {what}. {diag.small_study}",
            )
        )
    back = r.back()
    full = (back["estimate"], back["ci_low"], back["ci_high"])
    for series, kind in ((diag.leave_one_out, "leave-one-out"), (diag.cumulative, "cumulative")):
        if series is None:
            continue
        detail = tuple("" if v is None else f"{v:.0f}%" for v in series.i2)
        payload: dict[str, Any] = {
            "labels": series.labels,
            "estimate": series.estimate,
            "ci_low": series.ci_low,
            "ci_high": series.ci_high,
            "scale": scale,
            "measure_label": xlabel,
            "detail": detail,
            "detail_label": "I²",
            "notes": series.notes,
        }
        if kind == "leave-one-out":
            payload.update(full=full, title="Leave-one-out analysis")
        else:
            payload.update(title="Cumulative meta-analysis by year")
        jobs.append(FigureJob(f"{kind}-{stem}", kind, payload, DIAGNOSTIC_FORMATS, f"{kind}: {what}"))
    return jobs


def _href(path: Path, out: Path) -> str:
    """A link from the report in ``out`` to ``path``: relative (the report folder can move with the
    review), or a file URI where no relative path exists (another drive)."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), Path(out).resolve())).as_posix()
    except ValueError:
        return Path(path).resolve().as_uri()


# ------------------------------------------------------------------------------------------- figures


class FigureDrawer:
    """Draws figure jobs into a folder while the caller goes on: in ``workers`` processes (forked from
    the figure server or from this process, see :mod:`metablina.workers`; started at the first job),
    or in this process when one worker is asked for or processes cannot be forked. A job whose payload
    equals an earlier one is not drawn again; its files are copied at the end."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.folder = folder
        self._context = figure_context() if workers > 1 else None
        self.workers = workers if self._context is not None else 1
        self._seen: dict[Any, FigureJob] = {}
        self._copies: list[tuple[FigureJob, FigureJob]] = []
        self._futures: list[Any] = []
        self._pool: Any = None
        self.drawn = 0

    def submit(self, job: FigureJob) -> None:
        from metablina.render.draw import draw_figure

        key = (job.kind, _freeze(job.payload), job.formats)
        if key in self._seen:
            self._copies.append((self._seen[key], job))
            return
        self._seen[key] = job
        self.drawn += 1
        if self.workers <= 1:
            draw_figure(job, self.folder)
            return
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(self.workers, self._context, die_with, (os.getpid(),))
        self._futures.append(self._pool.submit(draw_figure, job, self.folder))
        for f in self._futures:  # fail early: a broken figure stops the run
            if f.done() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]

    def finish(self) -> None:
        """Wait for every figure; raise the first failure."""
        try:
            for f in self._futures:
                f.result()
        finally:
            self.close()
        for src, dst in self._copies:
            for fmt in dst.formats:
                shutil.copyfile(self.folder / f"{src.name}.{fmt}", self.folder / f"{dst.name}.{fmt}")

    def close(self) -> None:
        """Stop the workers (those of a failed run before they are done), so no process writes on."""
        if self._pool is not None:
            stop_now(self._pool)
            self._pool = None


def _meanwhile() -> None:
    """While the analyses run: compile the page's template and, without a figure server, import the
    plotting modules for the figure workers to inherit."""
    from metablina.render.report import page_template

    page_template()
    prepare_figure_workers()


def _freeze(x: Any) -> Any:
    if isinstance(x, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in x.items()))
    if isinstance(x, list | tuple):
        return tuple(_freeze(v) for v in x)
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return x


# ------------------------------------------------------------------------------------------- writing


def build_report(
    folder: Path,
    out: Path,
    *,
    workers: int | None = None,
    extra: Callable[[StratumFit], Sequence[Any]] | None = None,
    on_note: Callable[[str], object] = lambda line: print(line, file=sys.stderr),
) -> ReportSummary:
    """Run the plan in ``folder`` and write ``out`` (report.html, figures/, tables/) in one piece.

    Raises ReportError for broken inputs and for an ``out`` that must not be written (the review
    folder, in it or holding it, a folder that is not a report: :mod:`metablina.reportfolder`), having
    written nothing; any other failure, SIGINT and SIGTERM included, leaves ``out`` as it was, too.
    Temporary folders that killed runs left beside ``out`` are removed first, in a line to ``on_note``.
    Figures are drawn in ``workers`` processes [the CPUs, at most 4] while the leave-one-out and
    cumulative fits run.
    """
    folder, out = Path(folder), Path(out)
    try:
        target = check_out(out, folder)
    except OutFolderError as exc:
        raise ReportError([f"error: {exc}"]) from None
    for line in clean_stale(target):
        on_note(line)
    workers = default_workers() if workers is None else workers
    run = run_plan(folder, workers, meanwhile=_meanwhile if workers > 1 else None)
    with replacing(target) as tmp:
        drawer = FigureDrawer(tmp / "figures", workers)
        try:
            (tmp / "figures").mkdir()
            (tmp / "tables").mkdir()
            model = build_model(folder, out, run, extra=extra, on_figure=drawer.submit, workers=workers)
            from metablina.render.report import embed_figures, render_page
            from metablina.render.report_tables import write_tables
            from metablina.render.rscript import write_r_scripts
            from metablina.render.sof import write_sof

            drawer.finish()  # its pool's threads gone, this process can fork the tables' writer

            def tables() -> None:  # tables/*.csv|json, and the Summary of Findings (sof.docx too)
                write_tables(model, tmp / "tables")
                write_sof(run, tmp, model)

            with beside(tables, fork=workers > 1):  # the tables and the page side by side
                model.r_scripts = write_r_scripts(run.results, tmp)  # r/*.R: each estimate in metafor
                page = render_page(model)
                (tmp / REPORT_FILE).write_text(embed_figures(page, model, tmp / "figures"), encoding="utf-8")
        finally:
            drawer.close()
        files = sum(1 for p in tmp.rglob("*") if p.is_file())
    figures = sum(len(a.figures) for a in model.analyses)
    return ReportSummary(out, len(model.analyses), figures, files)
