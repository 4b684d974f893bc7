"""Ragged stacks: many analyses of different k fitted at once, every model, same numbers as one at a time.

Leave-one-out and cumulative refits, subgroups, sensitivity sets and the multiverse of an analysis are many
analyses of the same kind whose numbers of studies differ. Every model here takes a stack of equal k in one
vectorised call; this module takes a ragged stack — a sequence of 1-D arrays, one per analysis — and fits
it in as few calls as the model allows:

* inverse variance (:func:`rma`, every τ² estimator and interval), Mantel–Haenszel, Peto and the Bayesian
  models are fitted **by group of equal k**: one stacked call per distinct k. Their estimators branch on k
  in many places (medians, moment estimators, root brackets), so masking would touch every formula;
  grouping runs exactly the code of a one-at-a-time fit.
* the binomial–normal GLMMs (:func:`glmm_proportion`, :func:`glmm_or_umfs`) are fitted **masked**: analyses
  sorted by k, padded on the right to the largest k of a chunk, the padding left out of every likelihood
  and sum (as a double-zero table is). Their cost at small k is the per-iteration overhead of the Newton
  steps, so one call for a cumulative series (k = 2, 3, …, K) is several times faster than K calls; at
  large k it is the quadrature itself, and the gain shrinks (benchmarks/bench_ragged.py).

Each function returns a :class:`Batch` whose fields carry the names of the single fit's fields, with one
entry per analysis (a study-level field such as ``weights`` is a tuple of arrays). An analysis that the
single fit refuses (InputError: a GLMM with no events, k = 1, …) does not stop the others: its message is
in ``errors`` and its numbers are NaN. Arrays of a shape the API does not expect are refused up front.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metablina.stats.errors import InputError
from metablina.stats.plain import plain

__all__ = [
    "Batch",
    "bayes_bn",
    "bayes_nn",
    "cumulative_subsets",
    "glmm_or_umfs",
    "glmm_proportion",
    "leave_one_out_subsets",
    "mantel_haenszel",
    "peto",
    "rma",
]

# padded (analysis × study) cells per masked GLMM call: large enough that the quadrature's hundreds of
# array operations per call are long ones, small enough for ~60 MB of AGQ temporaries
# (glmm._PEAK_BYTES_PER_STUDY). The refits of four 200-study strata took 2.0 s at 2,000 cells, 1.5 s at
# 5,000, 1.3 s at 10,000 and 20,000, 1.4 s at 40,000.
_GLMM_CELLS = 10_000

# valid 2x2 tables of two studies: fitted to refuse bad options up front, or for the list of fields
_TOY_TABLES = {"ai": [1, 2], "n1i": [5, 5], "ci": [2, 1], "n2i": [5, 5]}

# fields of a single fit that a batch of intercept-only analyses does not carry
_RMA_SKIP = frozenset(
    {"p", "coef_names", "b", "b_se", "b_stat", "b_p", "b_ci_low", "b_ci_high", "qm", "qm_coefs", "qm_df"}
    | {"qm_p", "r2", "warning_masks"}
)


@dataclass(frozen=True, eq=False)
class Batch:
    """Results of a ragged stack of analyses, in the order given.

    ``values`` maps the single fit's field names to one entry per analysis: an array (m,) for a number
    (NaN where the single fit has None because the quantity does not apply at that k, NaN or False where
    the analysis could not be fitted), a tuple of m arrays (None where not fitted) for a study-level
    field, or one shared value (the model's name, the level) when every analysis has the same.
    Fields are also attributes: ``batch.estimate``, ``batch.ci_low``. ``errors[i]`` is the InputError
    message that refused analysis i (None if it was fitted); ``warnings[i]`` its warnings, as fitting it
    alone gives them, except for the Bayesian models: there, the messages of the stacked fit of its group
    of equal k (analyses numbered within the group).
    """

    model: str
    k: np.ndarray
    values: dict[str, Any]
    errors: tuple[str | None, ...]
    warnings: tuple[tuple[str, ...], ...]

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__} of {self.__dict__.get('model')!r} has no field {name!r}")

    def __len__(self) -> int:
        return len(self.errors)

    @property
    def ok(self) -> np.ndarray:
        """Which analyses were fitted."""
        return np.array([e is None for e in self.errors], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (lists, None for NaN), as the single fits' ``to_dict``."""
        out: dict[str, Any] = {"model": self.model, "k": self.k.tolist()}
        out.update({name: plain(value) for name, value in self.values.items()})
        out["errors"] = list(self.errors)
        out["warnings"] = [list(w) for w in self.warnings]
        return out

    def summary(self):
        """One row per analysis: k, every numeric per-analysis field, the error if any."""
        import pandas as pd

        cols: dict[str, Any] = {"k": self.k}
        for name, value in self.values.items():
            if isinstance(value, np.ndarray) and value.shape == (len(self),) and name != "k":
                cols[name] = value
        cols["error"] = list(self.errors)
        return pd.DataFrame(cols)


# ------------------------------------------------------------------------------------------------------------
# input: a sequence of 1-D arrays per argument, one per analysis
# ------------------------------------------------------------------------------------------------------------
def _ragged(columns: dict[str, Any]) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
    """Validate ragged inputs: each argument a sequence (or a 2-D array) of 1-D arrays, the same number of
    analyses and the same k per analysis across arguments. Returns float arrays and k per analysis."""
    out: dict[str, list[np.ndarray]] = {}
    for name, value in columns.items():
        if isinstance(value, np.ndarray) and value.ndim != 2:
            raise InputError(
                f"{name}: expected a sequence of 1-D arrays, one per analysis (or a 2-D array of equal-k "
                f"analyses), got an array of shape {value.shape}"
            )
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
            raise InputError(
                f"{name}: expected a sequence of 1-D arrays, one per analysis, got {type(value).__name__}"
            )
        rows = []
        for i, item in enumerate(value):
            try:
                a = np.asarray(item, dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"{name}[{i}]: expected a 1-D array of numbers") from None
            if a.ndim != 1:
                what = "a scalar (one analysis? wrap it in a list)" if a.ndim == 0 else f"shape {a.shape}"
                raise InputError(f"{name}[{i}]: expected a 1-D array of study values, got {what}")
            rows.append(a)
        out[name] = rows
    names = list(out)
    m = len(out[names[0]])
    if m == 0:
        raise InputError(f"{names[0]}: no analyses")
    for name in names[1:]:
        if len(out[name]) != m:
            raise InputError(f"{name}: {len(out[name])} analyses, but {names[0]} has {m}")
    k = np.array([a.size for a in out[names[0]]], dtype=int)
    for name in names[1:]:
        for i, a in enumerate(out[name]):
            if a.size != k[i]:
                raise InputError(f"{name}[{i}]: {a.size} studies, but {names[0]}[{i}] has {k[i]}")
    return out, k


def leave_one_out_subsets(k: int) -> list[np.ndarray]:
    """Indices of the k analyses that leave out study 0, 1, …, k − 1 in turn (metafor ``leave1out``)."""
    every = np.arange(k)
    return [np.delete(every, i) for i in range(k)]


def cumulative_subsets(order: Sequence[int]) -> list[np.ndarray]:
    """Indices of the analyses of the first 1, 2, …, k studies in ``order`` (metafor ``cumul``)."""
    order = np.asarray(order, dtype=int)
    return [order[: i + 1] for i in range(order.size)]


# ------------------------------------------------------------------------------------------------------------
# assembling the fits of groups (or chunks) of analyses into one Batch, column by column
# ------------------------------------------------------------------------------------------------------------
def _fields(result: Any, n: int | None, skip: frozenset[str]) -> dict[str, Any]:
    """The fields of a stacked result of ``n`` analyses (None: an unstacked single fit), each as an array
    (n,) of numbers, a list of n study-level arrays, or one value shared by the stack."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(result):
        if f.name in skip or f.name == "warnings":
            continue
        value = getattr(result, f.name)
        if isinstance(value, np.ndarray) and value.ndim >= 1:
            out[f.name] = [value] if n is None else (list(value) if value.ndim > 1 else value)
        else:
            out[f.name] = value[()] if isinstance(value, np.ndarray) else value
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float | np.number | np.bool_) and not isinstance(value, str)


class _Columns:
    """Fields of the analyses of a batch, gathered group by group (``add``) and built into the columns of
    a :class:`Batch`: numbers -> arrays (m,) (NaN / False where not fitted or None), study-level arrays ->
    tuples (None where not fitted), values every analysis shares (strings, None) -> that value."""

    def __init__(self, m: int) -> None:
        self.m = m
        self.parts: dict[str, list[tuple[np.ndarray, Any]]] = {}

    def add(self, idx: np.ndarray, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            self.parts.setdefault(name, []).append((idx, value))

    def add_kinds(self, fields: dict[str, Any]) -> None:
        """The fields of a toy fit, for their names and kinds only, when no analysis was fitted."""
        empty = np.array([], dtype=int)
        for name, v in fields.items():
            kind = [] if isinstance(v, list) else np.empty(0, np.asarray(v).dtype) if _number(v) else None
            self.parts.setdefault(name, []).append((empty, kind))

    def build(self) -> dict[str, Any]:
        return {name: self._column(parts) for name, parts in self.parts.items()}

    def _column(self, parts: list[tuple[np.ndarray, Any]]) -> Any:
        values = [v for _, v in parts]
        if any(isinstance(v, list) for v in values):
            col: list[Any] = [None] * self.m
            for idx, v in parts:
                for i, a in zip(idx, v if isinstance(v, list) else [None] * idx.size, strict=True):
                    col[i] = a
            return tuple(col)
        arrays = [v for v in values if isinstance(v, np.ndarray)]
        if arrays or any(_number(v) for v in values):
            covered = sum(idx.size for idx, v in parts if v is not None) == self.m
            kinds = {np.asarray(v).dtype.kind for v in values if v is not None}
            if kinds == {"b"}:
                out = np.zeros(self.m, dtype=bool)
            elif covered and kinds <= {"i", "u"}:
                out = np.zeros(self.m, dtype=int)
            else:
                out = np.full(self.m, np.nan)
            for idx, v in parts:
                if v is not None:
                    out[idx] = v
            return out
        distinct = {repr(v) for v in values}
        if len(distinct) == 1 and sum(idx.size for idx, _ in parts) == self.m:
            return values[0]
        col = [None] * self.m
        for idx, v in parts:
            for i in idx:
                col[i] = v
        return tuple(col)


def _batch(model: str, k: np.ndarray, columns: _Columns, errors, warnings) -> Batch:
    values = columns.build()
    if isinstance(values.get("k"), np.ndarray):  # the fit's own k (GLMM OR: after drop00), else the data's
        given = values.pop("k").astype(float)
        k = np.where(np.isnan(given), k, given).astype(int)
    return Batch(model, k, values, tuple(errors), tuple(warnings))


def _grouped(
    model: str,
    fit: Callable[..., Any],
    columns: dict[str, list[np.ndarray]],
    k: np.ndarray,
    toy: dict[str, list[float]],
    skip: frozenset[str] = frozenset(),
    warnings_of: str = "group",
) -> Batch:
    """One stacked ``fit`` per distinct k. A group that the fit refuses (one analysis in it is invalid) is
    fitted one analysis at a time, so that the others still get their numbers and the refused one its own
    message, the same as fitting it alone. ``toy``: valid data of one analysis, fitted for the list of
    fields only when no analysis of the batch could be fitted. ``warnings_of``: "masks" reads each
    analysis's warnings from the result's ``warning_masks`` (rma); "refit" fits alone the analyses of a
    group that warned, to give each its own (cheap for closed forms); "group" gives each the group's."""
    m = k.size
    gathered = _Columns(m)
    errors: list[str | None] = [None] * m
    warns: list[tuple[str, ...]] = [()] * m
    for size in np.unique(k):
        idx = np.flatnonzero(k == size)
        try:
            res = fit(**{name: np.stack([cols[i] for i in idx]) for name, cols in columns.items()})
        except InputError:
            for i in idx:
                try:
                    one = fit(**{name: cols[i] for name, cols in columns.items()})
                except InputError as exc:
                    errors[i] = str(exc)
                    continue
                gathered.add(np.array([i]), _fields(one, None, skip))
                warns[i] = tuple(one.warnings)
            continue
        gathered.add(idx, _fields(res, idx.size, skip))
        if warnings_of == "masks":
            own: list[list[str]] = [[] for _ in idx]
            for msg, mask in res.warning_masks:
                for pos in np.flatnonzero(mask):
                    own[pos].append(msg)
            for pos, i in enumerate(idx):
                warns[i] = tuple(own[pos])
        elif warnings_of == "refit" and res.warnings:
            for i in idx:
                warns[i] = tuple(fit(**{name: cols[i] for name, cols in columns.items()}).warnings)
        else:
            for i in idx:
                warns[i] = tuple(res.warnings)
    if not gathered.parts:  # nothing could be fitted: the fields of a toy fit, every one NaN or None
        fields = _fields(fit(**{name: np.asarray(v, dtype=float) for name, v in toy.items()}), None, skip)
        gathered.add_kinds(fields)
    return _batch(model, k, gathered, errors, warns)


# ------------------------------------------------------------------------------------------------------------
# the models
# ------------------------------------------------------------------------------------------------------------
def rma(yi, vi, *, method: str = "REML", test: str = "z", level: float = 0.95, tau2_ci: bool = True) -> Batch:
    """Inverse-variance random-effects (or common-effect, ``method="FE"``) meta-analyses of different k:
    :func:`metablina.stats.rma.rma` for each, with each analysis's own warnings (``warnings_for``).
    ``tau2_ci=False``: without the Q-profile CI of τ² (see :func:`metablina.stats.rma.rma`)."""
    from metablina.stats import rma as rma_mod

    columns, k = _ragged({"yi": yi, "vi": vi})

    def fit(yi, vi):
        return rma_mod.rma(yi, vi, method=method, test=test, level=level, tau2_ci=tau2_ci)

    toy = {"yi": [0.1, 0.3, 0.2], "vi": [0.1, 0.1, 0.1]}
    fit(**toy)  # bad options are refused once for the whole batch, not per analysis
    return _grouped("rma", fit, columns, k, toy, _RMA_SKIP, warnings_of="masks")


def mantel_haenszel(ai, n1i, ci, n2i, *, measure: str = "OR", level: float = 0.95) -> Batch:
    """Mantel–Haenszel pooled OR, RR or RD (:func:`metablina.stats.mh.mantel_haenszel`) per analysis."""
    from metablina.stats import mh

    columns, k = _ragged({"ai": ai, "n1i": n1i, "ci": ci, "n2i": n2i})

    def fit(ai, n1i, ci, n2i):
        return mh.mantel_haenszel(ai, n1i, ci, n2i, measure=measure, level=level)

    fit(**_TOY_TABLES)
    return _grouped("mantel_haenszel", fit, columns, k, _TOY_TABLES, warnings_of="refit")


def peto(ai, n1i, ci, n2i, *, level: float = 0.95) -> Batch:
    """Peto's one-step log odds ratio (:func:`metablina.stats.mh.peto`) per analysis."""
    from metablina.stats import mh

    columns, k = _ragged({"ai": ai, "n1i": n1i, "ci": ci, "n2i": n2i})

    def fit(ai, n1i, ci, n2i):
        return mh.peto(ai, n1i, ci, n2i, level=level)

    fit(**_TOY_TABLES)
    return _grouped("peto", fit, columns, k, _TOY_TABLES, warnings_of="refit")


def bayes_nn(
    yi,
    vi,
    *,
    tau_prior: str | Any,
    mu_prior: str | Any = "flat",
    level: float = 0.95,
    threshold: float | None = None,
) -> Batch:
    """Bayesian normal–normal random-effects analyses (:func:`metablina.stats.bayes.bayes_nn`)."""
    from metablina.stats import bayes

    columns, k = _ragged({"yi": yi, "vi": vi})
    _bayes_options(tau_prior, mu_prior, level, threshold)

    def fit(yi, vi):
        return bayes.bayes_nn(
            yi, vi, tau_prior=tau_prior, mu_prior=mu_prior, level=level, threshold=threshold
        )

    return _grouped("bayes_nn", fit, columns, k, {"yi": [0.1, 0.3, 0.2], "vi": [0.1, 0.1, 0.1]})


def bayes_bn(
    xi,
    ni,
    *,
    tau_prior: str | Any = "halfnormal:1",
    mu_prior: str | Any = "flat",
    level: float = 0.95,
    threshold: float | None = None,
    shrinkage: bool = True,
    predictive: bool = True,
) -> Batch:
    """Bayesian binomial–normal analyses of proportions (:func:`metablina.stats.bayes.bayes_bn`)."""
    from metablina.stats import bayes

    columns, k = _ragged({"xi": xi, "ni": ni})
    _bayes_options(tau_prior, mu_prior, level, threshold)

    def fit(xi, ni):
        return bayes.bayes_bn(
            xi,
            ni,
            tau_prior=tau_prior,
            mu_prior=mu_prior,
            level=level,
            threshold=threshold,
            shrinkage=shrinkage,
            predictive=predictive,
        )

    return _grouped("bayes_bn", fit, columns, k, {"xi": [3, 5, 4], "ni": [20, 20, 20]})


def _bayes_options(tau_prior, mu_prior, level, threshold) -> None:
    """Refuse bad priors or levels once for the whole batch (a prior refused for a small k, such as a
    uniform one, is still refused per analysis)."""
    from metablina.stats import bayes
    from metablina.stats.priors import parse_mu_prior, parse_tau_prior

    parse_tau_prior(tau_prior)
    parse_mu_prior(mu_prior)
    bayes._check_level(level)
    bayes._check_threshold(threshold)


def _masked(
    model: str,
    columns: dict[str, list[np.ndarray]],
    k: np.ndarray,
    check: Callable[[dict[str, np.ndarray]], np.ndarray],
    fit: Callable[..., tuple[dict, dict[str, np.ndarray]]],
    first_warnings: Callable[[int, np.ndarray], list[str]],
    shared: dict[str, Any],
    template: Callable[[], Any],
) -> Batch:
    """Masked fits of a GLMM: each analysis checked alone (``check`` returns the studies it keeps, or
    raises the single fit's InputError); the others sorted by k and fitted in chunks of at most about
    ``_GLMM_CELLS`` padded cells, by ``fit(**arrays, used=mask, chunk=the analyses' indices, width=k)``,
    which returns the flat result fields and the warning flags. ``first_warnings(i, kept)`` are the
    warnings of analysis i that precede the flags' (as the single fit orders them); ``shared`` the fields
    every record carries; ``template`` fits toy data alone, for the list of fields when nothing could be
    fitted."""
    m = k.size
    errors: list[str | None] = [None] * m
    kept: list[np.ndarray | None] = [None] * m
    for i in range(m):
        try:
            kept[i] = check({name: cols[i] for name, cols in columns.items()})
        except InputError as exc:
            errors[i] = str(exc)
    good = [i for i in np.argsort(k, kind="stable") if errors[i] is None]
    gathered = _Columns(m)
    warns: list[tuple[str, ...]] = [()] * m
    start = 0
    while start < len(good):
        stop = start + 1
        while stop < len(good) and (stop + 1 - start) * k[good[stop]] <= _GLMM_CELLS:
            stop += 1
        chunk = good[start:stop]
        width = int(k[chunk[-1]])
        arrays = {
            name: np.full((len(chunk), width), 1.0 if name in ("xi", "ai", "ci") else 2.0) for name in columns
        }
        used = np.zeros((len(chunk), width), dtype=bool)  # padding: a harmless table, never counted
        for row, i in enumerate(chunk):
            for name, cols in columns.items():
                arrays[name][row, : k[i]] = cols[i]
            used[row, : k[i]] = kept[i]
        out, flags = fit(**arrays, used=used, chunk=np.array(chunk), width=width)
        gathered.add(np.array(chunk), {**shared, **out})
        for row, i in enumerate(chunk):
            own = [msg for msg, flag in flags.items() if flag[row]]
            warns[i] = tuple(first_warnings(i, kept[i]) + own)
        start = stop
    if not gathered.parts:  # nothing could be fitted: the fields of a toy fit, every one NaN or None
        gathered.add_kinds(_fields(template(), None, frozenset()))
    return _batch(model, k, gathered, errors, warns)


def glmm_proportion(
    xi,
    ni,
    *,
    nagq: int = 7,
    test: str = "z",
    level: float = 0.95,
    start: tuple[float, float] | None = None,
    whole: tuple[Any, Any] | None = None,
) -> Batch:
    """Binomial-normal GLMMs of proportions (:func:`metablina.stats.glmm.glmm_proportion`) of different k,
    masked: sorted by k and padded on the right within chunks of about ``_GLMM_CELLS`` cells, the padding
    left out of every likelihood and sum. Each analysis is checked, and warned about, as when fitted alone.

    ``start``: (μ̂, τ̂) of a fit each analysis is nearly all of (leave-one-out). Newton starts there instead
    of at the best point of a τ grid, which at k = 200 was half of the refits' time; where it does not
    converge, or a grid point at the fitted μ has a higher likelihood, the analysis is fitted from the grid.
    From a start far from the optimum Newton can stop on a lesser point the check does not see: give
    only a near one. ``whole``: the events and totals ``start`` was fitted on, which the analyses draw
    their studies from; the check of an analysis made only of those studies then skips the grid points a
    bound shows cannot beat its fit (:class:`metablina.stats.glmm.StudyGrid`), most of them at large k:
    the same numbers, sooner.
    """
    from metablina.stats import glmm

    columns, k = _ragged({"xi": xi, "ni": ni})
    nodes = glmm._options(nagq, test, level)
    warm = None
    if whole is not None and start is None:
        raise InputError("whole: the studies a start was fitted on; give start, their fit, with it")
    if start is not None:
        warm = glmm.WarmStart(float(start[0]), float(start[1]))
        if whole is not None:
            warm = glmm.warm_start(warm.mu, warm.tau, *whole, columns["xi"], columns["ni"], nodes)

    def check(one: dict[str, np.ndarray]) -> np.ndarray:
        x, n = glmm._events_and_totals("xi", one["xi"], "ni", one["ni"])
        if x.size < 2:
            glmm.glmm_proportion(x, n)  # raises the single fit's message for k = 1
        glmm._check_proportions(x[None], n[None], ())
        return np.ones(x.size, dtype=bool)

    def fit(xi, ni, used, chunk, width):
        glmm._check_memory("PLO", (chunk.size,), width)
        return glmm._proportion_core(xi, ni, used, nodes, test, level, warm)

    def first_warnings(i: int, kept: np.ndarray) -> list[str]:
        w = ["k = 2: tau^2 cannot be estimated reliably"] if k[i] == 2 else []
        return w + ([glmm._FEW_Z_MSG.format(k=int(k[i]))] if test == "z" and k[i] <= 6 else [])

    shared = {
        "measure": "PLO",
        "model": "binomial-normal",
        "nagq": nodes,
        "test": test,
        "level": float(level),
    }
    return _masked(
        "glmm_proportion",
        columns,
        k,
        check,
        fit,
        first_warnings,
        shared,
        lambda: glmm.glmm_proportion([3, 5, 4], [20, 20, 20], nagq=nodes),
    )


def glmm_or_umfs(ai, n1i, ci, n2i, *, nagq: int = 7, test: str = "z", level: float = 0.95) -> Batch:
    """Binomial-normal GLMMs for odds ratios (:func:`metablina.stats.glmm.glmm_or_umfs`, UM.FS) of
    different k, masked as :func:`glmm_proportion`: padding is left out like a double-zero table."""
    from metablina.stats import glmm

    columns, k = _ragged({"ai": ai, "n1i": n1i, "ci": ci, "n2i": n2i})
    nodes = glmm._options(nagq, test, level)

    def check(one: dict[str, np.ndarray]) -> np.ndarray:
        a, n1 = glmm._events_and_totals("ai", one["ai"], "n1i", one["n1i"])
        c, n2 = glmm._events_and_totals("ci", one["ci"], "n2i", one["n2i"])
        dropped = glmm._double_zero(a, n1, c, n2)
        glmm._check_tables(a[None], n1[None], c[None], n2[None], ~dropped[None], ())
        return ~dropped

    def fit(ai, n1i, ci, n2i, used, chunk, width):
        glmm._check_memory("OR", (chunk.size,), width)
        return glmm._or_core(ai, n1i, ci, n2i, used, nodes, test, level)

    def first_warnings(i: int, kept: np.ndarray) -> list[str]:
        return [glmm._drop00_message(~kept)] if not kept.all() else []

    shared = {"measure": "OR", "model": "UM.FS", "nagq": nodes, "test": test, "level": float(level)}
    return _masked(
        "glmm_or_umfs",
        columns,
        k,
        check,
        fit,
        first_warnings,
        shared,
        lambda: glmm.glmm_or_umfs(**_TOY_TABLES, nagq=nodes),
    )
