"""Running the plan: extracts -> effect rows -> selections -> pooled strata, subgroups, sensitivity rows.

Every analysis keeps the decisions its selection took, so that the report can say what was pooled,
what was left out and why. Nothing here writes files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from metablina.analyze import PoolResult, interval_of, pool, scaled_prior
from metablina.extract.validate import Review, load_review
from metablina.normalize import EffectRow, NormalizeError, normalize
from metablina.options import BAYES_METHODS
from metablina.plan import (
    Analysis,
    Decision,
    Plan,
    Selection,
    Sensitivity,
    load_plan,
    plan_path,
    select_rows,
    subgroup_of,
)
from metablina.stats.errors import InputError


class AnalysisNotFound(LookupError):
    """The plan has no analysis of that id, or the review or plan cannot be read."""


@dataclass(frozen=True)
class BayesFit:
    """A Bayesian random-effects fit beside the frequentist one: the plan's prior, or a sensitivity prior."""

    role: str  # "primary", "half the prior scale" or "twice the prior scale"
    tau_prior: str
    result: PoolResult | None
    error: str | None = None


@dataclass(frozen=True)
class StratumFit:
    """One set of rows pooled together (or shown without pooling, with the reason)."""

    label: str
    rows: tuple[EffectRow, ...]
    result: PoolResult | None
    refusal: str | None = None
    error: str | None = None
    bayes: tuple[BayesFit, ...] = ()
    comparison: Any = None  # metablina.compare.Comparison for RR, OR, RD and HR analyses

    @property
    def pooled(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class SensitivityFit:
    variant: Sensitivity
    strata: tuple[StratumFit, ...]
    decisions: tuple[Decision, ...]


@dataclass(frozen=True)
class AnalysisResult:
    analysis: Analysis
    selection: Selection
    strata: tuple[StratumFit, ...]
    subgroups: tuple[StratumFit, ...] = ()
    subgroup_test: Any = None
    sensitivity: tuple[SensitivityFit, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def primary(self) -> StratumFit | None:
        """The single pooled stratum, when the analysis has one."""
        pooled = [s for s in self.strata if s.pooled]
        return pooled[0] if len(self.strata) == 1 and pooled else None


@dataclass(frozen=True)
class ReviewRun:
    review: Review
    rows: tuple[EffectRow, ...]
    plan: Plan
    results: tuple[AnalysisResult, ...]


def columns_of(rows: tuple[EffectRow, ...] | list[EffectRow]) -> dict[str, np.ndarray]:
    """The metafor-named columns for a set of rows of one form."""
    forms = {r.form for r in rows}
    if len(forms) != 1:
        raise InputError(f"rows of different forms cannot be pooled together: {sorted(forms)}")
    if forms == {"pair"}:
        from metablina.compare import pair_columns

        return pair_columns(rows)
    if forms == {"proportion"}:
        return {
            "xi": np.array([r.events for r in rows], float),
            "ni": np.array([r.total for r in rows], float),
        }
    return {"yi": np.array([r.yi for r in rows], float), "sei": np.array([r.sei for r in rows], float)}


@lru_cache(maxsize=512)
def _pool_cached(
    measure: str,
    method: str,
    ci: str | None,
    form_columns: tuple,
    labels: tuple[str, ...],
    tau_prior: str | None,
    shrinkage: bool,
    threshold: float | None = None,
) -> PoolResult:
    """Pooling is pure, and a plan repeats tables (a stratum of one analysis is another's whole), so each
    distinct (table, model) is fitted once per process."""
    columns = {name: np.array(values, float) for name, values in form_columns}
    return pool(
        measure, method, ci, columns, labels, tau_prior=tau_prior, shrinkage=shrinkage, threshold=threshold
    )


def pool_rows(
    rows: tuple[EffectRow, ...],
    measure: str,
    method: str,
    ci: str | None,
    tau_prior: str | None = None,
    *,
    shrinkage: bool = True,
    threshold: float | None = None,
) -> PoolResult:
    """Pool effect rows (cached); raises InputError as :func:`metablina.analyze.pool` does."""
    columns = tuple((name, tuple(values.tolist())) for name, values in columns_of(rows).items())
    labels = tuple(r.label for r in rows)
    return _pool_cached(measure, method, ci, columns, labels, tau_prior, shrinkage, threshold)


def fit_rows(
    rows: tuple[EffectRow, ...],
    measure: str,
    method: str,
    ci: str | None,
    label: str = "",
    refusal: str | None = None,
    tau_prior: str | None = None,
    threshold: float | None = None,
) -> StratumFit:
    """Pool ``rows`` or explain why not; a statistical refusal (e.g. all zero events) is kept as ``error``.
    ``tau_prior`` is the prior of a Bayesian ``method`` (None: the measure's default), ``threshold`` the
    natural-scale value whose posterior probability P(effect < threshold) it reports."""
    if refusal is not None or len(rows) < 2:
        return StratumFit(label, rows, None, refusal or "k = 1: shown as the study itself")
    try:
        result = pool_rows(rows, measure, method, ci, tau_prior, threshold=threshold)
    except InputError as exc:
        return StratumFit(label, rows, None, None, f"{method} could not be fitted: {exc}")
    return StratumFit(label, rows, result)


BAYES_MAX_K = 5


def bayes_co_primary(k: int) -> bool:
    """Whether a pooled stratum of ``k`` records gets the Bayesian co-primary fits (where the plan asks for
    them): with few studies only, 2 <= k <= BAYES_MAX_K, where a frequentist interval is least reliable."""
    return 2 <= k <= BAYES_MAX_K


def bayes_fits(
    rows: tuple[EffectRow, ...], measure: str, tau_prior: str | None = None
) -> tuple[BayesFit, ...]:
    """The Bayesian co-primary analysis for few studies (Bender et al. 2018; Friede et al. 2017): the default
    (or given) half-normal prior on tau, and the same prior at half and at twice its scale. Pooled
    estimate, tau and prediction only: the shrunken study estimates of a binomial-normal model, which
    no table or plot shows, are not computed."""
    from metablina.analyze import DEFAULT_TAU_PRIOR

    if measure not in DEFAULT_TAU_PRIOR and tau_prior is None:
        return ()
    prior = tau_prior or DEFAULT_TAU_PRIOR[measure]
    method = "BAYES-GLMM" if measure == "PLO" else "BAYES"
    out = []
    for role, factor in (("primary", 1.0), ("half the prior scale", 0.5), ("twice the prior scale", 2.0)):
        this = scaled_prior(prior, factor)
        try:
            result = pool_rows(rows, measure, method, None, tau_prior=this, shrinkage=False)
            out.append(BayesFit(role, this, result))
        except InputError as exc:
            out.append(BayesFit(role, this, None, str(exc)))
    return tuple(out)


def run_analysis(
    rows: list[EffectRow], analysis: Analysis, *, method: str | None = None, ci: str | None = None
) -> AnalysisResult:
    """Select, guard and pool one analysis with its subgroups and sensitivity variants. A ``method``
    given without ``ci`` takes its own default interval, not the one the plan chose for its model."""
    if method is None:
        method, ci = analysis.model, ci or analysis.ci
    bayesian = method in BAYES_METHODS
    prior = analysis.tau_prior if bayesian else None
    cut = analysis.threshold if bayesian else None  # a posterior gives P(effect < the plan's threshold)
    selection = select_rows(rows, analysis)
    strata = tuple(
        fit_rows(s.rows, analysis.measure, method, ci, s.label, s.refusal, prior, cut)
        for s in selection.strata
    )
    if analysis.bayes and method not in BAYES_METHODS:  # else the primary analysis is Bayesian already
        strata = tuple(
            replace(s, bayes=bayes_fits(s.rows, analysis.measure, analysis.tau_prior))
            if bayes_co_primary(len(s.rows)) and s.refusal is None
            else s
            for s in strata
        )
    if analysis.measure in ("RR", "OR", "RD", "HR"):
        from metablina.compare import summarise

        strata = tuple(
            replace(s, comparison=summarise(analysis, s.rows, s.result, method, ci, s.refusal or s.error))
            for s in strata
        )
    subgroups: tuple[StratumFit, ...] = ()
    test = None
    if analysis.subgroup and len(selection.strata) == 1:
        groups: dict[str, list[EffectRow]] = {}
        for r in selection.strata[0].rows:
            groups.setdefault(subgroup_of(r, analysis.subgroup), []).append(r)
        if len(groups) > 1:
            subgroups = tuple(
                fit_rows(tuple(g), analysis.measure, method, ci, name, tau_prior=prior, threshold=cut)
                for name, g in groups.items()
            )
            test = between_test(subgroups, analysis.measure)
    elif analysis.pool and selection.keys == ("setting",):  # settings as strata: no overall, but the test
        test = between_test(strata, analysis.measure)
    sensitivity = []
    for variant in analysis.sensitivity:
        sel = select_rows(rows, analysis, variant)
        fits = tuple(
            fit_rows(
                s.rows,
                variant.measure or analysis.measure,
                variant.model or method,
                variant.ci or (None if variant.model else ci),
                s.label,
                s.refusal,
            )
            for s in sel.strata
        )
        sensitivity.append(SensitivityFit(variant, fits, sel.decisions))
    return AnalysisResult(analysis, selection, strata, subgroups, test, tuple(sensitivity))


def between_test(groups: tuple[StratumFit, ...], measure: str) -> Any:
    """The test for subgroup differences (Q between) over every group with an estimate: a pooled
    group's, or a single study's own estimate and SE on the pooling scale (escalc's, with its ½
    continuity correction of a zero count), as R's meta includes a one-study subgroup. None with
    fewer than two estimates, and for Bayesian fits: a posterior has no sampling SE for a Q test (the
    groups' posteriors are compared as they are)."""
    from metablina.stats.measures import escalc
    from metablina.stats.subgroups import subgroup_test

    if any(g.result is not None and g.result.method in BAYES_METHODS for g in groups):
        return None
    estimates, ses = [], []
    for g in groups:
        if g.result is not None:
            estimates.append(float(g.result.fit.estimate))
            ses.append(float(g.result.fit.se))
        elif len(g.rows) == 1 and g.rows[0].form == "proportion":
            r = g.rows[0]
            es = escalc(measure, xi=[r.events], ni=[r.total])
            estimates.append(float(es.yi[0]))
            ses.append(float(np.sqrt(es.vi[0])))
        elif len(g.rows) == 1 and g.rows[0].yi is not None and g.rows[0].sei is not None:
            estimates.append(float(g.rows[0].yi))
            ses.append(float(g.rows[0].sei))
    return subgroup_test(estimates, ses) if len(estimates) >= 2 else None


def load_everything(folder: Path) -> tuple[Review, list[EffectRow], Plan]:
    """The review, its effect rows and its plan; AnalysisNotFound with every problem if any is broken."""
    review = load_review(folder)
    if not review.ok:
        raise AnalysisNotFound(
            "; ".join(str(p) for p in review.problems[:5])
            + f" ({len(review.problems)} problem(s): run `metablina validate`)"
        )
    try:
        rows = normalize(review.studies)
    except NormalizeError as exc:
        raise AnalysisNotFound(str(exc)) from None
    plan, problems = load_plan(plan_path(folder))
    if plan is None or problems:
        raise AnalysisNotFound("; ".join(str(p) for p in problems))
    return review, rows, plan


def run_review(folder: Path) -> ReviewRun:
    """Every analysis of the plan in ``folder``."""
    review, rows, plan = load_everything(folder)
    results = tuple(run_analysis(rows, a) for a in plan.analyses)
    return ReviewRun(review, tuple(rows), plan, results)


def run_one(
    folder: Path, analysis_id: str, *, method: str | None = None, ci: str | None = None
) -> AnalysisResult:
    """One analysis of the plan by id, for ``metablina pool ANALYSIS``; InputError, before anything is
    fitted, when ``method`` or ``ci`` cannot pool this analysis's measure."""
    _, rows, plan = load_everything(folder)
    by_id = {a.id: a for a in plan.analyses}
    if analysis_id not in by_id:
        raise AnalysisNotFound(
            f"no analysis {analysis_id!r} in {plan_path(folder)}; `metablina analyses` lists them"
        )
    analysis = by_id[analysis_id]
    if method is not None or ci is not None:
        interval_of(analysis.measure, method or analysis.model, ci)
    return run_analysis(rows, analysis, method=method, ci=ci)
