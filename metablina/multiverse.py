"""The multiverse of an analysis: every defensible specification, pooled at once.

A reviewer chooses which records to pool ("which" factors) and how to pool them ("how" factors); another
reviewer could defensibly have chosen otherwise. Multiverse analysis (Steegen, Tuerlinckx, Gelman &
Vanpaemel 2016, Perspect Psychol Sci 11:702) and the specification curve (Simonsohn, Simmons & Nelson
2020, Nat Hum Behav 4:1208), carried over to meta-analysis by Voracek, Kossmeier & Tran (2019, Z Psychol
227:64), pool the data under every combination of those choices and show how the answer moves.

Here, for one analysis of the plan:

* **how**: the measure (PLO, PFT, PAS for rates; RR, OR, RD for comparisons; the generic log scale of a
  Kaplan-Meier rate or hazard ratio), the model (binomial-normal GLMM, common effect, each tau^2
  estimator, Mantel-Haenszel and Peto for two-arm counts, the Bayesian model at each prior scale) and
  the interval (Wald, HKSJ, HKSJ ad hoc; a GLMM's HKSJ is its t(k-1) interval, as in ``metablina pool``);
* **which**: the plan's records, or one of: without cohorts that may overlap, or keeping the other of an
  overlapping pair; without a high risk of bias; the other rule for the report of a trial (latest or
  largest); each setting alone; each admissible timepoint of the plan's list alone; each study left out;
  grading systems and outcome definitions pooled.
  Inclusion is one factor whose levels are these alternatives (not crossed with each other), so a
  committee reads each specification as the plan with one departure in which records and any choice of
  how to pool them.

Each inclusion choice is run through :func:`metablina.plan.select_rows` as a sensitivity variant, so every
guard applies (and logs its decisions): what a guard refuses, and what a model refuses for a measure or
an interval (:func:`metablina.analyze.interval_of`), is no specification. Guard strata (a grading system,
a setting without ``overall: true``, an MRD threshold or landmark) are separate multiverses, one per
pooled stratum of the plan. Choices that select the same records are one specification, labelled by the
first of them in the order above (the plan's own first).

One guard is also looked past, in the open: records graded by different systems or defined differently
("CRS by ASTCT only" against CTCAE) are different estimands to the plan, yet pooling them is a choice other
reviewers make (Voracek et al. list outcome definitions among the "which" factors). Where that choice
joins strata of the plan, the joined stratum is a multiverse of its own, marked as a departure
(:attr:`StratumMultiverse.departure`), with no primary specification: the plan does not pool it.

All specifications of any number of analyses are fitted together by :mod:`metablina.stats.batch`, one
ragged stack per (measure, model, interval, prior), and give the numbers of
:func:`metablina.analyze.pool` one at a time.
"""

from __future__ import annotations

import csv
import io
import math
import textwrap
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metablina.analyze import (
    DEFAULT_TAU_PRIOR,
    GENERIC_LOG,
    TEST_OF_CI,
    back_value,
    interval_of,
    scaled_prior,
)
from metablina.normalize import EffectRow
from metablina.options import BAYES_METHODS, IV_METHODS
from metablina.plan import (
    DEFINITION_KEYS,
    GUARD_NAMES,
    MEASURE_FORM,
    Analysis,
    Selection,
    Sensitivity,
    select_rows,
)
from metablina.run import bayes_co_primary
from metablina.stats.errors import InputError

# measures by the kind of record they pool
FORM_MEASURES = {
    "proportion": ("PLO", "PFT", "PAS"),
    "pair": ("RR", "OR", "RD"),
    "km": ("KM",),
    "hr": ("HR",),
}
# scales on which estimates can share one axis (a proportion from PLO, PFT or PAS; a ratio from RR or OR)
FAMILY = {"PLO": "rate", "PFT": "rate", "PAS": "rate", "PR": "rate", "KM": "survival"}
FAMILY |= {"RR": "ratio", "OR": "ratio", "HR": "ratio", "RD": "difference"}
NULL = {"ratio": 1.0, "difference": 0.0}
MODEL_ORDER = ("GLMM", *IV_METHODS, "MH", "PETO", "BAYES")
INTERVAL_NAMES = {
    "z": "Wald",
    "hksj": "HKSJ",
    "hksj-adhoc": "HKSJ ad hoc",
    "t": "t(k-1)",
    "credible": "credible",
}
MODEL_NAMES = {"FE": "common effect", "MH": "Mantel-Haenszel", "PETO": "Peto"}
DIMENSIONS = ("inclusion", "measure", "model", "interval")
DEFINITION_NAMES = {"grading": "grading systems", "definition": "outcome definitions"}


@dataclass(frozen=True)
class How:
    """A measure, model and interval (and for a Bayesian model its prior on tau)."""

    measure: str
    method: str  # as analyze.pool takes it: GLMM, FE, DL, ..., MH, PETO, BAYES, BAYES-GLMM
    interval: str  # as results are labelled: z, hksj, hksj-adhoc, t, credible
    prior: str | None = None

    @property
    def model(self) -> str:
        """The model as a reader names it: the estimator, or Bayesian with its prior."""
        if self.prior is not None:
            return f"Bayesian {self.prior}"
        return MODEL_NAMES.get(self.method, self.method)


@dataclass(frozen=True)
class Inclusion:
    """Which records: the plan's, or one departure from it (``kind`` a MULTIVERSE_INCLUSION entry)."""

    kind: str
    label: str
    selection: Selection


@dataclass(frozen=True)
class Specification:
    """One way to pool one stratum: records (through the guards) and how they are pooled."""

    inclusion: str  # the inclusion label
    inclusion_kind: str
    how: How
    rows: tuple[EffectRow, ...]
    primary: bool = False

    @property
    def studies(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.study for r in self.rows))

    def choices(self) -> dict[str, str]:
        return {
            "inclusion": self.inclusion,
            "measure": self.how.measure,
            "model": self.how.model,
            "interval": INTERVAL_NAMES[self.how.interval],
        }


@dataclass(frozen=True)
class Fitted:
    """A specification's pooled estimate: analysis scale (``y``) and natural scale, or why it failed."""

    spec: Specification
    k: int
    y: float
    y_low: float
    y_high: float
    estimate: float
    ci_low: float
    ci_high: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and math.isfinite(self.estimate)


@dataclass(frozen=True)
class Summary:
    """What a committee reads beside the curve: how many specifications, where they lie, and the shares
    whose interval lies wholly below or wholly above the threshold (on the primary's scale)."""

    n: int
    n_failed: int
    n_other_scale: int
    median: float | None
    low: float | None
    high: float | None
    threshold: float | None
    below: float | None
    above: float | None
    primary: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def text(self, fmt: Any = None) -> str:
        """One sentence: '240 specifications; median 3.1% (range 0.4% to 9.0%); CI wholly below 5%: 62%,
        wholly above: 0%'."""
        f = fmt or (lambda v: f"{v:.3g}")
        if self.n == 0:
            return "no specification pools two or more studies"
        out = f"{self.n} specifications"
        if self.median is not None:
            out += f"; median {f(self.median)} (range {f(self.low)} to {f(self.high)})"
        if self.threshold is not None and self.below is not None:
            out += (
                f"; CI wholly below {f(self.threshold)}: {self.below:.0%}, "
                f"wholly above: {self.above:.0%}, spanning it: {1 - self.below - self.above:.0%}"
            )
        if self.n_other_scale:
            out += f"; {self.n_other_scale} more on another scale (table only)"
        if self.n_failed:
            out += f"; {self.n_failed} could not be fitted"
        return out


@dataclass(frozen=True)
class StratumMultiverse:
    """Every specification of one pooled stratum of an analysis, fitted (``fits`` in enumeration order)."""

    analysis: Analysis
    stratum: str
    specs: tuple[Specification, ...]
    fits: tuple[Fitted, ...] = ()
    inclusions: tuple[Inclusion, ...] = field(default=(), repr=False)
    departure: str | None = None  # why the plan itself does not pool this stratum, if it does not
    joins: tuple[str, ...] = ()  # a departure's strata of the plan

    @property
    def threshold(self) -> float | None:
        """The plan's decision threshold, else a comparison's null (1 for a ratio, 0 for a difference)."""
        if self.analysis.threshold is not None:
            return self.analysis.threshold
        return NULL.get(FAMILY.get(self.analysis.measure, ""))

    @property
    def family(self) -> str:
        return FAMILY.get(self.analysis.measure, "rate")

    def on_scale(self) -> list[Fitted]:
        """Fitted specifications on the primary's scale (the curve and the summary are about these)."""
        return [f for f in self.fits if f.ok and FAMILY.get(f.spec.how.measure) == self.family]

    def summary(self) -> Summary:
        good = self.on_scale()
        failed = sum(1 for f in self.fits if not f.ok)
        other = sum(1 for f in self.fits if f.ok) - len(good)
        primary = next((f.estimate for f in self.fits if f.spec.primary and f.ok), None)
        if not good:
            return Summary(0, failed, other, None, None, None, self.threshold, None, None, primary)
        est = np.array([f.estimate for f in good])
        lo = np.array([min(f.ci_low, f.ci_high) for f in good])
        hi = np.array([max(f.ci_low, f.ci_high) for f in good])
        c = self.threshold
        below = above = None
        if c is not None:
            below, above = float(np.mean(hi < c)), float(np.mean(lo > c))
        return Summary(
            len(good),
            failed,
            other,
            float(np.median(est)),
            float(est.min()),
            float(est.max()),
            c,
            below,
            above,
            primary,
        )


# ------------------------------------------------------------------------------------------ enumeration


def how_choices(analysis: Analysis) -> list[How]:
    """Every measure x model x interval (x prior scale) the plan's multiverse allows and the models accept,
    in that order, the plan's own among them; combinations :func:`metablina.analyze.interval_of` refuses
    are left out, and two that compute the same interval (a GLMM asked for hksj or hksj-adhoc: its t) are
    one."""
    mv = analysis.multiverse
    form = MEASURE_FORM[analysis.measure]
    measures = mv.measures or list(FORM_MEASURES[form])
    models = mv.models or list(MODEL_ORDER)
    out: dict[How, None] = {}
    for measure in measures:
        pool_measure = measure
        for model in [m for m in MODEL_ORDER if m in models]:
            if model == "BAYES":
                for how in _bayes(analysis, pool_measure, mv.prior_scales):
                    out.setdefault(how, None)
                continue
            for ci in mv.intervals:
                try:
                    label = interval_of(pool_measure, model, ci)
                except InputError:
                    continue
                out.setdefault(How(measure, model, label), None)
    # the plan's own model (and Bayesian primary) where the multiverse's models leave them out
    out.setdefault(How(analysis.measure, analysis.model, analysis.interval), None)
    if analysis.primary == "bayes":
        out.update(dict.fromkeys(_bayes(analysis, analysis.measure, [1.0])))
    return list(out)


def _bayes(analysis: Analysis, measure: str, scales: Sequence[float]) -> list[How]:
    """The Bayesian model at each prior scale: the plan's prior on tau for its own measure, else the
    measure's default (none for PFT, PAS or RD, whose scales have no agreed prior: no specification)."""
    prior = analysis.tau_prior if measure == analysis.measure and analysis.tau_prior else None
    prior = prior or DEFAULT_TAU_PRIOR.get(measure)
    if prior is None:
        return []
    method = "BAYES-GLMM" if measure == "PLO" else "BAYES"
    return [How(measure, method, "credible", scaled_prior(prior, s)) for s in scales]


def primary_how(analysis: Analysis, k: int) -> How:
    """The plan's own choice for a stratum of ``k`` records, the estimate its summary and SoF row use: the
    plan's model and interval, or its Bayesian fit at the plan's prior where the plan makes that the primary
    estimate (``primary: bayes``) and the stratum gets it (:func:`metablina.run.bayes_co_primary`)."""
    if analysis.primary == "bayes" and bayes_co_primary(k):
        bayes = _bayes(analysis, analysis.measure, [1.0])
        if bayes:
            return bayes[0]
    return How(analysis.measure, analysis.model, analysis.interval)


def inclusions(
    rows: Sequence[EffectRow], analysis: Analysis, plan: Selection | None = None
) -> list[Inclusion]:
    """The plan's selection (``plan``, if made already), then each departure the plan's multiverse allows,
    each through the guards."""
    plan = plan or select_rows(list(rows), analysis)
    out = [Inclusion("plan", "as planned", plan)]
    kinds = analysis.multiverse.inclusion
    used = plan.rows

    def variant(kind: str, label: str, a: Analysis = analysis, **changes: Any) -> None:
        v = Sensitivity(id="multiverse", label=label, **changes) if changes else None
        out.append(Inclusion(kind, label, select_rows(list(rows), a, v)))

    if "overlap" in kinds and (any(r.overlap for r in used) or plan.excluded_overlap):
        variant("overlap", "without cohorts that may overlap", exclude_overlapping=True)
        for study in plan.excluded_overlap:
            variant("overlap", f"keeping {study} of overlapping cohorts", overlap_keep=[study])
    high = analysis.multiverse.high_risk
    if "risk_of_bias" in kinds and any(r.risk_of_bias in high for r in used):
        variant("risk_of_bias", f"without {' or '.join(high)} risk of bias", exclude_risk_of_bias=high)
    if "report" in kinds and len({r.trial for r in rows}) < len({r.study for r in rows}):
        other = "largest" if analysis.report_rule == "latest" else "latest"
        variant("report", f"the {other} report of each trial", report_rule=other)
    settings = sorted({r.setting for r in used})
    if "setting" in kinds and len(settings) > 1:
        for s in settings:
            others = sorted({r.study for r in used if r.setting != s})
            variant("setting", f"{' + '.join(s)} alone", exclude=others)
    times = analysis.select.timepoint or []
    if "timepoint" in kinds and len(times) > 1:
        for t in times:
            one = analysis.model_copy(
                update={"select": analysis.select.model_copy(update={"timepoint": [t]})}
            )
            variant("timepoint", f"timepoint {t} only", one)
    if "leave_one_out" in kinds:
        strata = [{r.study for r in s.rows} for s in plan.strata]
        small = [st for st in strata if len(st) <= analysis.multiverse.leave_one_out_max_k]
        for study in sorted({r.study for r in used}):
            if any(study in st for st in small):
                variant("leave_one_out", f"without {study}", exclude=[study])
    apart = [k for k in DEFINITION_KEYS if k in plan.keys]
    if "definition" in kinds and apart:
        names = " and ".join(DEFINITION_NAMES[k] for k in apart)
        variant("definition", f"{names} pooled", pool_definitions=True)
    return out


def _identity(rows: Sequence[EffectRow], keys: Sequence[str]) -> tuple | None:
    """The values of ``keys`` that every row shares, or None when the rows differ in one of them."""
    values = []
    for k in keys:
        seen = {getattr(r, k) for r in rows}
        if len(seen) != 1:
            return None
        values.append(seen.pop())
    return tuple(values)


def enumerate_specs(rows: Sequence[EffectRow], analysis: Analysis) -> list[StratumMultiverse]:
    """The specifications of each pooled stratum of the plan's selection (unfitted).

    A stratum of an inclusion choice belongs to the plan's stratum whose rows share its values of every
    key either selection is stratified by (a guard's or the plan's), and pools if it has two or more rows
    and no refusal. Inclusion choices that give a stratum the same records as an earlier one add nothing.
    """
    if not analysis.multiverse.enabled or not analysis.pool:
        return []
    rows = [r for r in rows if r.outcome in analysis.outcome]  # the others never match: not looked at again
    plan = select_rows(rows, analysis)
    pools = any(s.refusal is None and len(s.rows) >= 2 for s in plan.strata)
    if not pools and not any(k in plan.keys for k in DEFINITION_KEYS):
        return []  # no stratum pools, none would if definitions were pooled: nothing is looked at
    incl = inclusions(rows, analysis, plan)
    hows = how_choices(analysis)
    bayes_max_k = analysis.multiverse.bayes_max_k

    def specs_of(inc: Inclusion, rows: tuple[EffectRow, ...]) -> list[Specification]:
        out = []
        for how in hows:
            primary = inc.kind == "plan" and how == primary_how(analysis, len(rows))
            if how.method in BAYES_METHODS and len(rows) > bayes_max_k and not primary:
                continue
            out.append(Specification(inc.label, inc.kind, how, rows, primary))
        return out

    targets = [s for s in plan.strata if s.refusal is None and len(s.rows) >= 2]
    out = []
    for target in targets:
        specs: list[Specification] = []
        seen: set[tuple[str, ...]] = set()
        for inc in incl:
            keys = list(dict.fromkeys([*plan.keys, *inc.selection.keys]))
            want = _identity(target.rows, keys)
            for s in inc.selection.strata:
                if s.refusal is not None or len(s.rows) < 2 or _identity(s.rows, keys) != want:
                    continue
                record_keys = tuple(r.key for r in s.rows)
                if record_keys in seen:
                    continue
                seen.add(record_keys)
                specs += specs_of(inc, s.rows)
        out.append(StratumMultiverse(analysis, target.label, tuple(specs), (), tuple(incl)))
    for inc in (i for i in incl if i.kind == "definition"):
        for s in inc.selection.strata:
            if s.refusal is not None or len(s.rows) < 2 or _identity(s.rows, DEFINITION_KEYS) is not None:
                continue  # joins no strata of the plan: the plan's own multiverse holds it
            label = "; ".join(x for x in (s.label, inc.label) if x)
            keys = {r.key for r in s.rows}
            joins = tuple(p.label for p in plan.strata if keys & {r.key for r in p.rows})
            specs = tuple(specs_of(inc, s.rows))
            why = _departure(s.rows, joins)
            out.append(StratumMultiverse(analysis, label, specs, (), (incl[0], inc), why, joins))
    return out


def _departure(rows: Sequence[EffectRow], joins: Sequence[str]) -> str:
    """Why the plan keeps these records apart: what they differ in and the plan's strata they come from."""
    parts = [f"'{label}'" for label in joins]
    differ = [GUARD_NAMES[k] for k in DEFINITION_KEYS if _identity(rows, [k]) is None]
    return (
        f"the plan does not pool these records: they differ in {' and '.join(differ)}, which the plan keeps "
        f"apart as different estimands (strata {' and '.join(parts)}). Every specification here departs from "
        "the plan in that choice; none is its primary."
    )


# ------------------------------------------------------------------------------------------ fitting


def _columns(rows: tuple[EffectRow, ...]) -> dict[str, np.ndarray]:
    from metablina.run import columns_of

    return columns_of(rows)


def _effects(measure: str, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Study effects and variances as analyze.pool computes them (escalc; non-finite ones left out)."""
    from metablina.stats.measures import escalc

    es = escalc("GEN" if measure in GENERIC_LOG else measure, **columns)
    yi, vi = np.asarray(es.yi, dtype=float), np.asarray(es.vi, dtype=float)
    keep = np.isfinite(yi) & np.isfinite(vi)
    return yi[keep], vi[keep]


def _fit_group(how: How, tables: list[dict[str, np.ndarray]], effects: Any) -> Any:
    """One ragged batch of every table pooled one way; ``effects(measure, i)``: table i's yi and vi."""
    from metablina.stats import batch

    def cols(*names: str) -> list[list[np.ndarray]]:
        return [[t[n] for t in tables] for n in names]

    if how.method in IV_METHODS:
        yi, vi = zip(*(effects(how.measure, i) for i in range(len(tables))), strict=True)
        # the pooled estimate and its CI are all a specification shows: no Q-profile CI for tau^2
        return batch.rma(list(yi), list(vi), method=how.method, test=TEST_OF_CI[how.interval], tau2_ci=False)
    if how.method == "GLMM" and how.measure == "PLO":
        return batch.glmm_proportion(*cols("xi", "ni"), test=how.interval)
    if how.method == "GLMM":
        return batch.glmm_or_umfs(*cols("ai", "n1i", "ci", "n2i"), test=how.interval)
    if how.method == "MH":
        return batch.mantel_haenszel(*cols("ai", "n1i", "ci", "n2i"), measure=how.measure)
    if how.method == "PETO":
        return batch.peto(*cols("ai", "n1i", "ci", "n2i"))
    if how.method == "BAYES-GLMM":
        # a specification shows the median and the equal-tailed interval: no predictive, no shrinkage
        return batch.bayes_bn(*cols("xi", "ni"), tau_prior=how.prior, shrinkage=False, predictive=False)
    yi, vi = zip(*(effects(how.measure, i) for i in range(len(tables))), strict=True)
    return batch.bayes_nn(list(yi), list(vi), tau_prior=how.prior)


def _table_key(columns: dict[str, np.ndarray]) -> tuple:
    return tuple((n, tuple(v.tolist())) for n, v in columns.items())


def known_fits(results: Sequence[Any]) -> dict[tuple[How, tuple], tuple]:
    """What a run of the plan has pooled already (each stratum's fit, its Bayesian fits, its sensitivity
    variants' fits: :class:`metablina.run.AnalysisResult`), keyed as :func:`fit` keys a specification, so
    that the multiverse does not fit them again. The same function (analyze.pool) made them."""
    out: dict[tuple[How, tuple], tuple] = {}

    def add(rows: Sequence[EffectRow], r: Any, prior: str | None) -> None:
        if r is None or len(rows) < 2 or (r.ci_method == "credible") != (prior is not None):
            return
        how = How(r.measure, r.method, r.ci_method, prior)
        fit = r.fit
        out[(how, _table_key(_columns(tuple(rows))))] = (
            r.k,
            float(np.asarray(fit.estimate)),
            float(np.asarray(fit.ci_low)),
            float(np.asarray(fit.ci_high)),
            None,
        )

    for result in results:
        fits = [*result.strata, *(s for v in result.sensitivity for s in v.strata)]
        for s in fits:
            add(s.rows, s.result, None)
            for b in s.bayes:
                add(s.rows, b.result, b.tau_prior)
    return out


def _fit_tables(how: How, tables: list[dict[str, np.ndarray]], effects: Any) -> list[tuple]:
    """(k, estimate, ci_low, ci_high, error) of each table pooled ``how``, in one ragged batch."""
    try:
        b = _fit_group(how, tables, effects)
    except InputError as exc:  # every table refused alike (e.g. an effect computation)
        return [(0, math.nan, math.nan, math.nan, str(exc))] * len(tables)
    est, lo, hi = (np.asarray(getattr(b, f), dtype=float) for f in ("estimate", "ci_low", "ci_high"))
    return [(int(b.k[i]), est[i], lo[i], hi[i], b.errors[i]) for i in range(len(tables))]


def _fit_bayes_bn(how: How, tables: list[dict[str, np.ndarray]]) -> list[tuple]:
    return _fit_tables(how, tables, None)  # a binomial-normal model takes the counts, no effect sizes


# Binomial-normal Bayesian specifications (tables x their studies) from which they are worth fitting in
# worker processes while this one fits the rest: each costs about 5 ms per study, and a 10-study review
# has 1,300
PARALLEL_BAYES_CELLS = 400
BAYES_CHUNK = 8


def _bayes_chunks(order: list[tuple]) -> list[list[tuple]]:
    """Tables in batches of :data:`BAYES_CHUNK`, in or out of workers alike: the binomial-normal fit's
    iterations stop when every analysis of a batch has converged, so an analysis's last digits depend on
    its companions, and the same batches give the same numbers whatever the number of workers."""
    return [order[i : i + BAYES_CHUNK] for i in range(0, len(order), BAYES_CHUNK)]


class Fitting:
    """Every specification of ``multiverses`` to fit: identical (table, how) pairs once, and all tables
    pooled one way in one ragged batch; ``known`` fits (:func:`known_fits`) are taken as they are.

    In two steps, so that the caller chooses where the binomial-normal Bayesian specifications (most of a
    small review's time) are fitted: :meth:`start` submits them to a process pool (the caller's, forked
    when it suits it: the report shares one with its refits), :meth:`result` fits the rest here and
    gathers everything. The numbers are the same either way (:func:`_bayes_chunks`)."""

    def __init__(
        self, multiverses: Sequence[StratumMultiverse], known: dict[tuple[How, tuple], tuple] | None = None
    ) -> None:
        known = known or {}
        self.multiverses = list(multiverses)
        self.tables: dict[tuple, dict[str, np.ndarray]] = {}
        groups: dict[How, dict[tuple, None]] = defaultdict(dict)
        self.keys: list[list[tuple]] = []
        self.results: dict[tuple[How, tuple], tuple] = {}
        for mv in self.multiverses:
            mine = []
            for spec in mv.specs:
                columns = _columns(spec.rows)
                key = _table_key(columns)
                self.tables.setdefault(key, columns)
                if (spec.how, key) in known:
                    self.results[(spec.how, key)] = known[(spec.how, key)]
                else:
                    groups[spec.how][key] = None
                mine.append(key)
            self.keys.append(mine)
        self.orders = {how: list(members) for how, members in groups.items()}
        self.remote: dict[How, list[tuple[list[tuple], Any]]] = {}

    @property
    def heavy(self) -> bool:
        """Whether the binomial-normal Bayesian specifications still to fit have enough study cells
        (:data:`PARALLEL_BAYES_CELLS`) to be worth fitting in worker processes."""
        cells = sum(
            len(self.tables[key]["xi"])
            for how, order in self.orders.items()
            if how.method == "BAYES-GLMM"
            for key in order
        )
        return cells >= PARALLEL_BAYES_CELLS

    def start(self, pool: Any) -> None:
        """Submit the binomial-normal Bayesian specifications to ``pool`` (an Executor), in fixed batches."""
        for how, order in self.orders.items():
            if how.method == "BAYES-GLMM":
                self.remote[how] = [
                    (chunk, pool.submit(_fit_bayes_bn, how, [self.tables[k] for k in chunk]))
                    for chunk in _bayes_chunks(order)
                ]

    def result(self) -> list[StratumMultiverse]:
        """Fit what was not submitted, wait for what was, and give each multiverse its fits."""
        from dataclasses import replace

        cache: dict[tuple[str, tuple], tuple[np.ndarray, np.ndarray]] = {}

        def effects_of(order: list[tuple]) -> Any:
            def effects(measure: str, i: int) -> tuple[np.ndarray, np.ndarray]:
                key = (measure, order[i])
                if key not in cache:
                    cache[key] = _effects(measure, self.tables[order[i]])
                return cache[key]

            return effects

        results = self.results
        for how, order in self.orders.items():
            if how in self.remote:
                continue
            for chunk in _bayes_chunks(order) if how.method == "BAYES-GLMM" else [order]:
                fitted = _fit_tables(how, [self.tables[k] for k in chunk], effects_of(chunk))
                results.update(((how, key), r) for key, r in zip(chunk, fitted, strict=True))
        for how, chunks in self.remote.items():
            for chunk, future in chunks:
                results.update(((how, key), r) for key, r in zip(chunk, future.result(), strict=True))
        natural = self._natural()
        out = []
        for mv, mine in zip(self.multiverses, self.keys, strict=True):
            fits = []
            for spec, key in zip(mv.specs, mine, strict=True):
                k, y, ylo, yhi, error = results[(spec.how, key)]
                fits.append(
                    Fitted(spec, k, float(y), float(ylo), float(yhi), *natural[(spec.how, key)], error)
                )
            out.append(replace(mv, fits=tuple(fits)))
        return out

    def _natural(self) -> dict[tuple[How, tuple], tuple[float, float, float]]:
        """Every result back on the natural scale: one call per (measure, table), since PFT's needs its n."""
        scale: dict[tuple[str, tuple], list[tuple[How, tuple]]] = defaultdict(list)
        for how, key in self.results:
            scale[(how.measure, key)].append((how, key))
        natural: dict[tuple[How, tuple], tuple[float, float, float]] = {}
        for (measure, key), members in scale.items():
            y = np.array([self.results[m][1:4] for m in members], dtype=float)
            ni = self.tables[key].get("ni")
            back = np.asarray(back_value(measure, y, ni), dtype=float).reshape(y.shape)
            if measure == "KM":  # S = exp(-exp(y)) decreases in y
                back = back[:, [0, 2, 1]]
            for m, row in zip(members, back, strict=True):
                natural[m] = (float(row[0]), float(row[1]), float(row[2]))
        return natural


def fit(
    multiverses: Sequence[StratumMultiverse],
    known: dict[tuple[How, tuple], tuple] | None = None,
    workers: int = 1,
) -> list[StratumMultiverse]:
    """Fit every specification of every multiverse given (:class:`Fitting`). With ``workers`` > 1 and
    enough binomial-normal Bayesian specifications (:data:`PARALLEL_BAYES_CELLS`), those are fitted in
    forked processes meanwhile; the results are the same."""
    from metablina.workers import can_fork, forked_pool, gc_frozen, shut_down_after

    fitting = Fitting(multiverses, known)
    if workers <= 1 or not fitting.heavy or not can_fork():
        return fitting.result()
    with shut_down_after(forked_pool(workers)) as pool:
        with gc_frozen():  # the first submit forks the workers
            fitting.start(pool)
        return fitting.result()


def multiverse(rows: Sequence[EffectRow], analysis: Analysis) -> list[StratumMultiverse]:
    """Enumerate and fit the multiverse of one analysis (one entry per pooled stratum)."""
    return fit(enumerate_specs(rows, analysis))


def enumerate_review(
    rows: Sequence[EffectRow], analyses: Sequence[Analysis]
) -> dict[str, list[StratumMultiverse]]:
    """Every analysis's multiverses, enumerated, not fitted."""
    return {a.id: enumerate_specs(rows, a) for a in analyses}


def by_analysis(
    enumerated: dict[str, list[StratumMultiverse]], fitted: list[StratumMultiverse]
) -> dict[str, list[StratumMultiverse]]:
    """The fitted multiverses of :func:`enumerate_review`'s flattened lists, back under their analyses."""
    it = iter(fitted)
    return {aid: [next(it) for _ in mvs] for aid, mvs in enumerated.items()}


def review_multiverse(
    rows: Sequence[EffectRow],
    analyses: Sequence[Analysis],
    known: dict[tuple[How, tuple], tuple] | None = None,
    workers: int = 1,
) -> dict[str, list[StratumMultiverse]]:
    """The multiverses of every analysis, fitted together (tables the analyses share are pooled once;
    ``known`` fits, :func:`known_fits`, are taken as they are; ``workers``: as :func:`fit`)."""
    enumerated = enumerate_review(rows, analyses)
    return by_analysis(enumerated, fit([mv for mvs in enumerated.values() for mv in mvs], known, workers))


def unpooled_strata(rows: Sequence[EffectRow], analysis: Analysis) -> list[tuple[str, int, str]]:
    """The strata of the plan's selection that have no multiverse, each with its k and why (k = 1, not
    pooled by the plan, or the plan turns the multiverse off)."""
    sel = select_rows(list(rows), analysis)
    if not sel.strata:
        return [(analysis.id, 0, "no record matches this analysis")]
    out = []
    for s in sel.strata:
        why = s.refusal or ("fewer than two records" if len(s.rows) < 2 else None)
        if why is None and not analysis.multiverse.enabled:
            why = "the plan turns the multiverse off (multiverse: {enabled: false})"
        if why is not None:
            out.append((s.label, len({r.study for r in s.rows}), why))
    return out


# ------------------------------------------------------------------------------------------ output

COLUMNS = (
    "analysis",
    "stratum",
    "primary",
    "inclusion",
    "measure",
    "model",
    "interval",
    "k",
    "studies",
    "estimate",
    "ci_low",
    "ci_high",
    "error",
)


def records(mvs: Sequence[StratumMultiverse]) -> list[dict[str, Any]]:
    """One plain record per specification, in enumeration order."""

    def num(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    out = []
    for mv in mvs:
        for f in mv.fits:
            s = f.spec
            out.append(
                {
                    "analysis": mv.analysis.id,
                    "stratum": mv.stratum,
                    "primary": s.primary,
                    **s.choices(),
                    "k": f.k,
                    "studies": list(s.studies),
                    "estimate": num(f.estimate),
                    "ci_low": num(f.ci_low),
                    "ci_high": num(f.ci_high),
                    "error": f.error,
                }
            )
    return out


def to_json(mvs: Sequence[StratumMultiverse]) -> str:
    """Every specification, and per stratum its summary and each inclusion choice with the decisions the
    guards took for it (what it left out, naming both sides and the rule)."""
    doc = {
        "multiverses": [
            {
                "analysis": mv.analysis.id,
                "stratum": mv.stratum,
                "departure": mv.departure,
                "summary": mv.summary().to_dict(),
                "inclusions": [
                    {"kind": i.kind, "label": i.label, "decisions": [str(d) for d in i.selection.decisions]}
                    for i in mv.inclusions
                ],
            }
            for mv in mvs
        ],
        "specifications": records(mvs),
    }
    from metablina.render.text import to_json as json_text

    return json_text(doc)


def to_csv(mvs: Sequence[StratumMultiverse]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in records(mvs):
        w.writerow({**r, "studies": " ".join(r["studies"]), "error": r["error"] or ""})
    return buf.getvalue()


def _fmt(measure: str) -> Any:
    if FAMILY.get(measure) in ("rate", "survival"):
        return lambda v: f"{100 * v:.1f}%"
    return lambda v: f"{v:.2f}"


def to_table(mvs: Sequence[StratumMultiverse], unpooled: Sequence[tuple[str, int, str]] = ()) -> str:
    """Every specification as a text table, one block per stratum, sorted by estimate, with the summary."""
    lines: list[str] = []
    for mv in mvs:
        f = _fmt(mv.analysis.measure)
        head = mv.analysis.id + (f" ({mv.stratum})" if mv.stratum else "")
        lines += [head, "  " + mv.summary().text(f)]
        if mv.departure:
            lines += textwrap.wrap(
                f"A departure: {mv.departure}", 110, initial_indent="  ", subsequent_indent="  "
            )
        lines.append("")
        rows = [("", "inclusion", "measure", "model", "interval", "k", "estimate [95% CI]")]
        ranked = sorted(mv.fits, key=lambda x: (not x.ok, x.estimate if x.ok else 0.0))
        for x in ranked:
            g = _fmt(x.spec.how.measure)
            shown = f"{g(x.estimate)} [{g(x.ci_low)}, {g(x.ci_high)}]" if x.ok else f"not fitted: {x.error}"
            c = x.spec.choices()
            mark = "*" if x.spec.primary else ""
            rows.append((mark, c["inclusion"], c["measure"], c["model"], c["interval"], str(x.k), shown))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            lines.append("  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
        lines += ["", "  * the plan's primary specification", ""] if mv.departure is None else [""]
    if unpooled:
        if mvs:
            lines.append("strata without a specification:")
        else:
            lines.append("no specification: no stratum of this analysis pools two or more studies")
        width = max(len(label or "(all records)") for label, _, _ in unpooled)
        lines.append(f"  {'stratum'.ljust(width)}  {'k':>2}  why")
        for label, k, why in unpooled:
            lines.append(f"  {(label or '(all records)').ljust(width)}  {k:>2}  {why}")
    return "\n".join(lines).rstrip("\n") + "\n"


SCALE = {"rate": "proportion", "survival": "proportion", "ratio": "ratio", "difference": "difference"}
AXIS_LABEL = {
    "rate": "Proportion",
    "survival": "Survival at the landmark",
    "ratio": "Ratio",
    "difference": "Risk difference",
}


def primary_error(mv: StratumMultiverse) -> str | None:
    """Why the plan's own specification has no estimate (e.g. a GLMM at 100% events), if it has none."""
    primary = next((f for f in mv.fits if f.spec.primary), None)
    if primary is None or primary.ok:
        return None
    return primary.error or "not estimable"


def curve_payload(mv: StratumMultiverse) -> dict[str, Any]:
    """Plain data for :func:`metablina.render.speccurve.spec_curve` (a figure job's payload): the
    specifications on the primary's scale, their choices, the primary and the threshold."""
    good = mv.on_scale()
    primary = next((i for i, f in enumerate(good) if f.spec.primary), None)
    choices = {d: tuple(f.spec.choices()[d] for f in good) for d in DIMENSIONS}
    s = mv.summary()
    left = []
    if s.n_other_scale:
        left.append(f"{s.n_other_scale} specifications on another scale are in the table only")
    if s.n_failed:
        left.append(f"{s.n_failed} could not be fitted")
    if mv.departure:
        left.append("a departure from the plan, which keeps these records apart: no primary specification")
    if primary is None and (why := primary_error(mv)):
        left.append(f"the plan's primary specification could not be fitted: {why}")
    return {
        "estimate": tuple(f.estimate for f in good),
        "ci_low": tuple(f.ci_low for f in good),
        "ci_high": tuple(f.ci_high for f in good),
        "choices": choices,
        "primary": primary,
        "threshold": mv.threshold,
        "scale": SCALE[mv.family],
        "measure_label": AXIS_LABEL[mv.family],
        "title": "Specification curve" + (f": {mv.stratum}" if mv.stratum else ""),
        "note": "; ".join(left),
    }


def figure_jobs(analysis: Analysis, mvs: Sequence[StratumMultiverse], several: bool) -> list[Any]:
    """The report's spec-curve figure jobs of one analysis: one per pooled stratum with a specification
    (``several``: the analysis has several strata, so the file names carry the stratum's slug)."""
    from metablina.plan import slug
    from metablina.render.draw import FigureJob

    jobs = []
    for mv in mvs:
        if not mv.on_scale():
            continue
        sfx = f"-{slug(mv.stratum)}" if several and mv.stratum else ""
        where = f" ({mv.stratum})" if mv.stratum else ""
        caption = f"Specification curve: {analysis.title}{where}"
        jobs.append(
            FigureJob(f"speccurve-{analysis.id}{sfx}", "speccurve", curve_payload(mv), ("svg",), caption)
        )
    return jobs


def page_context(mvs: Sequence[StratumMultiverse], figures: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report page's multiverse block of one analysis: per pooled stratum its summary sentence and its
    spec-curve figure (from the page's figure entries, by name)."""
    by_name = {f["name"]: f for f in figures if f["kind"] == "speccurve"}
    curves = iter(by_name.values())
    out = []
    for mv in mvs:
        s = mv.summary()
        fmt = _fmt(mv.analysis.measure)
        primary = next((f for f in mv.fits if f.spec.primary), None)
        out.append(
            {
                "stratum": mv.stratum,
                "summary": s.text(fmt),
                "primary": (
                    f"{fmt(primary.estimate)} [{fmt(primary.ci_low)}, {fmt(primary.ci_high)}]"
                    if primary is not None and primary.ok
                    else None
                ),
                "primary_error": primary_error(mv),
                "departure": mv.departure,
                "choices": _choices_text(mv),
                "figure": next(curves) if mv.on_scale() else None,
            }
        )
    return out


def _choices_text(mv: StratumMultiverse) -> str:
    """What was varied: each choice with its number of levels, the inclusion levels named."""
    levels = {d: list(dict.fromkeys(s.choices()[d] for s in mv.specs)) for d in DIMENSIONS}
    parts = [
        f"{len(levels[d])} {d if len(levels[d]) == 1 else d + 's'}" for d in ("measure", "model", "interval")
    ]
    return f"inclusion: {'; '.join(levels['inclusion'])}; " + ", ".join(parts)


def robustness_notes(mvs: Sequence[StratumMultiverse]) -> dict[str, str]:
    """A GRADE footnote per stratum (label -> text) saying how far the answer moves across every
    defensible specification: beside imprecision and inconsistency, it tells a committee whether another
    reasonable analysis could have reached the other side of the threshold. It changes no rating. A
    departure's footnote sits on each single-study stratum of the plan it pools."""
    out = {}
    for mv in mvs:
        s = mv.summary()
        if s.n == 0:
            continue
        f = _fmt(mv.analysis.measure)
        spread = f"the estimate ranged from {f(s.low)} to {f(s.high)} (median {f(s.median)})"
        if s.threshold is not None and s.below is not None and s.above is not None:
            spread += (
                f"; the CI lay wholly below {f(s.threshold)} in {s.below:.0%}, wholly above in {s.above:.0%} "
                f"and spanned it in {1 - s.below - s.above:.0%}"
            )
        spread += f" (metablina multiverse {mv.analysis.id})."
        if mv.departure is None:
            out[mv.stratum] = (
                f"Robustness: across {s.n} defensible specifications (which records; measure, model, "
                f"interval) {spread}"
            )
            continue
        for label in mv.joins:
            others = " and ".join(f"'{j}'" for j in mv.joins if j != label)
            out[label] = (
                f"Pooled with {others} ({mv.inclusions[-1].label}: a departure from the plan, which keeps "
                f"them apart), across {s.n} specifications (measure, model, interval) {spread}"
            )
    return out
