"""Small-study effects: Egger's regression test and Begg & Mazumdar's rank correlation test (metafor 3.8).

* :func:`egger_test` — metafor ``regtest()`` with its defaults: the meta-regression y_i = β₀ + β₁·√v_i
  (Egger et al. 1997, in the random/mixed-effects form of Sterne & Egger 2005), fitted by :func:`rma` with the
  chosen τ² estimator and test; the test of β₁ = 0 is the asymmetry test and β₀ is the "limit estimate" (the
  effect of a study with SE → 0). ``model="lm"`` is Egger's original weighted regression with a multiplicative
  dispersion (t with k − 2 df).
* :func:`rank_test` — metafor ``ranktest()``: Kendall's τ_b between the standardised deviates
  (y_i − θ̂_FE)/√(v_i − 1/Σw) and v_i (Begg & Mazumdar 1994), with R's ``cor.test`` p-value: exact (the
  permutation distribution of Kendall's statistic) when there are no ties, otherwise the normal approximation
  with the tie-corrected variance and no continuity correction.

Both refuse k < 10 unless ``force=True``: with fewer studies the tests have too little power to tell chance
from asymmetry (Sterne et al. 2011, BMJ 343:d4002).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr, stdtr, stdtrit

from metablina.stats.errors import InputError
from metablina.stats.plain import plain
from metablina.stats.rma import RMAResult, rma
from metablina.stats.tau2 import Projection, check_data, stack_message

__all__ = ["MIN_K", "EggerResult", "RankTestResult", "egger_test", "rank_test"]

MIN_K = 10  # Sterne et al. 2011, BMJ 343:d4002
EXACT_MAX_K = 500  # above this the exact Kendall distribution is replaced by its normal approximation


def _check_k(k: int, force: bool, what: str) -> list[str]:
    if k >= MIN_K:
        return []
    if not force:
        raise InputError(
            f"yi: k = {k} studies is too few for the {what} to have any power; funnel asymmetry tests need "
            f"k >= {MIN_K} (Sterne et al. 2011, BMJ 343:d4002); pass force=True to run it anyway"
        )
    return [
        f"k = {k} < {MIN_K}: the {what} has too little power to detect funnel asymmetry (Sterne et al. "
        "2011); run only because force=True, do not read a non-significant result as 'no bias'"
    ]


def _rows(lead: tuple[int, ...]) -> list[str]:
    if not lead:
        return ["value"]
    return [str(p[0]) if len(p) == 1 else str(p) for p in np.ndindex(*lead)]


# ------------------------------------------------------------------------------------------------------------
# Egger's regression test
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EggerResult:
    """:func:`egger_test`. Scalars for one analysis, arrays with the stack's leading shape otherwise."""

    k: int
    model: str  # "rma" or "lm"
    method: str  # tau^2 estimator of the rma model ("FE" for lm: no tau^2)
    ci_method: str
    level: float
    stat_name: str  # "z" or "t"
    df: int | None
    slope: Any  # coefficient of sei
    slope_se: Any
    stat: Any  # test of funnel asymmetry (slope / its SE)
    p_value: Any
    limit_estimate: Any  # intercept: the estimate as sei -> 0
    limit_se: Any
    limit_ci_low: Any
    limit_ci_high: Any
    tau2: Any  # residual tau^2 of the rma model (None for lm)
    forced: bool
    warnings: tuple[str, ...] = field(default=())
    fit: RMAResult | None = field(default=None, repr=False, compare=False)  # the rma meta-regression

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"test": "Egger regression (predictor sei)"}
        for f in (
            "k",
            "model",
            "method",
            "ci_method",
            "level",
            "stat_name",
            "df",
            "slope",
            "slope_se",
            "stat",
            "p_value",
            "limit_estimate",
            "limit_se",
            "limit_ci_low",
            "limit_ci_high",
            "tau2",
            "forced",
        ):
            d[f] = plain(getattr(self, f))
        d["warnings"] = list(self.warnings)
        return d

    def summary(self):
        """One row per analysis: metafor's regtest print (test statistic, p, limit estimate with its CI)."""
        import pandas as pd

        lead = np.shape(self.stat)
        n = int(np.prod(lead)) if lead else 1
        cols = {
            "slope (sei)": self.slope,
            "se": self.slope_se,
            self.stat_name: self.stat,
            "p": self.p_value,
            "limit estimate": self.limit_estimate,
            "ci.lb": self.limit_ci_low,
            "ci.ub": self.limit_ci_high,
        }
        if self.tau2 is not None:
            cols["tau2 (residual)"] = self.tau2
        table = {c: np.asarray(v, dtype=float).reshape(n) for c, v in cols.items()}
        table["df"] = [self.df] * n
        return pd.DataFrame(table, index=_rows(lead))


def egger_test(
    yi,
    vi,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    model: str = "rma",
    force: bool = False,
) -> EggerResult:
    """Egger's regression test for funnel-plot asymmetry (metafor ``regtest``, predictor = sei).

    ``model="rma"`` (metafor's default): mixed-effects meta-regression on √v_i with the given τ² ``method``
    and ``test`` (z, or t with k − 2 df under knha/adhoc). ``model="lm"``: weighted least squares with weights
    1/v_i and an estimated multiplicative dispersion, t with k − 2 df (Egger et al. 1997; metafor
    ``regtest(model="lm")``). Refuses k < 10 unless ``force=True`` (Sterne et al. 2011).
    """
    if model not in ("rma", "lm"):
        raise InputError(f"model: expected 'rma' or 'lm', got {model!r}")
    y, v, lead = check_data(yi, vi)
    m, k = y.shape
    warns = _check_k(k, force, "Egger regression test")
    sei = np.sqrt(v)
    flat = np.ptp(sei, axis=-1) <= 1e-8 * sei.max(-1)
    if flat.any():
        a = int(np.flatnonzero(flat)[0])
        where = f" (analysis {np.unravel_index(a, lead) if len(lead) > 1 else a})" if lead else ""
        raise InputError(
            f"vi: every study has the same sampling variance{where}; the regression on sei is not identified"
        )
    X = np.stack([np.ones_like(sei), sei], axis=-1)  # (m, k, 2)
    if k < 3:
        raise InputError(f"yi: k = {k}: the Egger regression needs at least 3 studies")

    def s(a):
        a = np.asarray(a, dtype=float).reshape(m)
        return a.reshape(lead) if lead else float(a[0])

    if model == "rma":
        r = rma(
            y.reshape((*lead, k)),
            v.reshape((*lead, k)),
            method=method,
            test=test,
            level=level,
            X=X,
            coef_names=("intrcpt", "sei"),
        )
        b, se, st, pv = (np.asarray(a, dtype=float).reshape(m, 2) for a in (r.b, r.b_se, r.b_stat, r.b_p))
        lo, hi = (np.asarray(a, dtype=float).reshape(m, 2) for a in (r.b_ci_low, r.b_ci_high))
        warns += list(r.warnings)
        return EggerResult(
            k=k,
            model="rma",
            method=r.method,
            ci_method=r.ci_method,
            level=float(level),
            stat_name=r.stat_name,
            df=r.df,
            slope=s(b[:, 1]),
            slope_se=s(se[:, 1]),
            stat=s(st[:, 1]),
            p_value=s(pv[:, 1]),
            limit_estimate=s(b[:, 0]),
            limit_se=s(se[:, 0]),
            limit_ci_low=s(lo[:, 0]),
            limit_ci_high=s(hi[:, 0]),
            tau2=s(r.tau2) if r.method != "FE" else None,
            forced=bool(force and k < MIN_K),
            warnings=tuple(warns),
            fit=r,
        )

    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise InputError(f"level: expected a confidence level in (0, 1), got {level!r}")
    pr = Projection(1.0 / v, X)
    b = pr.beta(y)
    df = k - 2
    s2 = pr.quad(y) / df
    se = np.sqrt(np.diagonal(pr.Ainv, axis1=-2, axis2=-1) * s2[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = b / se
    pv = 2 * stdtr(df, -np.abs(t))
    crit = stdtrit(df, 1 - (1 - level) / 2)
    return EggerResult(
        k=k,
        model="lm",
        method="FE",
        ci_method="t",
        level=float(level),
        stat_name="t",
        df=df,
        slope=s(b[:, 1]),
        slope_se=s(se[:, 1]),
        stat=s(t[:, 1]),
        p_value=s(pv[:, 1]),
        limit_estimate=s(b[:, 0]),
        limit_se=s(se[:, 0]),
        limit_ci_low=s(b[:, 0] - crit * se[:, 0]),
        limit_ci_high=s(b[:, 0] + crit * se[:, 0]),
        tau2=None,
        forced=bool(force and k < MIN_K),
        warnings=tuple(warns),
        fit=None,
    )


# ------------------------------------------------------------------------------------------------------------
# Begg & Mazumdar's rank correlation test
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RankTestResult:
    """:func:`rank_test`. ``exact`` says, per analysis, whether the p-value is exact (no ties) or normal."""

    k: int
    tau: Any  # Kendall's tau_b
    p_value: Any
    exact: Any  # bool
    concordant: Any  # R's statistic T (concordant pairs), exact test; NaN otherwise
    z: Any  # R's z statistic, normal approximation; NaN for the exact test
    forced: bool
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"test": "Begg-Mazumdar rank correlation (Kendall's tau)"}
        for f in ("k", "tau", "p_value", "exact", "concordant", "z", "forced"):
            d[f] = plain(getattr(self, f))
        d["warnings"] = list(self.warnings)
        return d

    def summary(self):
        import pandas as pd

        lead = np.shape(self.tau)
        n = int(np.prod(lead)) if lead else 1
        return pd.DataFrame(
            {
                "tau": np.asarray(self.tau, dtype=float).reshape(n),
                "p": np.asarray(self.p_value, dtype=float).reshape(n),
                "exact": np.asarray(self.exact, dtype=bool).reshape(n),
                "T": np.asarray(self.concordant, dtype=float).reshape(n),
                "z": np.asarray(self.z, dtype=float).reshape(n),
            },
            index=_rows(lead),
        )


def kendall_cdf(q, n: int) -> np.ndarray:
    """P(T ≤ q) for T the number of concordant pairs among n untied pairs under independence (R's pkendall).

    T has the Mahonian distribution (inversions of a random permutation), the coefficients of
    Π_{j=1}^{n} (1 + x + … + x^{j−1}) / j!. They are built one factor at a time as window sums; every value
    left of a factor's mode is a difference of cumulative sums of an increasing sequence (no loss of relative
    precision), every value right of it is the mirror image (the distribution is symmetric). Only the
    coefficients up to max(q) are kept, so tail probabilities keep their relative precision.
    """
    q = np.asarray(q)
    qi = np.floor(q).astype(np.int64)
    top = n * (n - 1) // 2
    qmax = int(np.clip(qi, -1, top).max(initial=-1))
    out = np.where(qi < 0, 0.0, 1.0)
    if qmax < 0:
        return out
    c = np.zeros(qmax + 1)
    c[0] = 1.0
    tot = 0  # highest power of the product so far
    for j in range(2, n + 1):
        tot += j - 1
        S = np.cumsum(c)
        new = S.copy()
        new[j:] -= S[:-j]
        half = tot // 2
        if half + 1 <= qmax:  # right of the mode: mirror of the left
            right = np.arange(half + 1, min(qmax, tot) + 1)
            new[right] = new[tot - right]
            new[min(qmax, tot) + 1 :] = 0.0
        c = new / j
    cdf = np.cumsum(c)
    inside = (qi >= 0) & (qi < top)
    out = out.astype(float)
    out[inside] = np.minimum(cdf[qi[inside]], 1.0)
    return out


def _kendall(x: np.ndarray, y: np.ndarray):
    """Kendall's τ_b, S, and tie sums per row of (m, k) arrays, pairwise in chunks of rows."""
    m, k = x.shape
    S = np.empty(m)
    nx = np.empty(m)
    ny = np.empty(m)
    tie_x = np.zeros((m, 4))  # Σ t(t−1), Σ t(t−1)(2t+5), Σ t(t−1)(t−2), any ties
    tie_y = np.zeros((m, 4))
    step = max(1, 4_000_000 // (k * k))
    for a in range(0, m, step):
        xs, ys = x[a : a + step], y[a : a + step]
        sx = np.sign(xs[:, :, None] - xs[:, None, :]).astype(np.int8)
        sy = np.sign(ys[:, :, None] - ys[:, None, :]).astype(np.int8)
        S[a : a + step] = np.einsum("mij,mij->m", sx, sy, dtype=np.int64) / 2
        nx[a : a + step] = np.count_nonzero(sx, axis=(1, 2)) / 2  # untied pairs
        ny[a : a + step] = np.count_nonzero(sy, axis=(1, 2)) / 2
        for sg, out in ((sx, tie_x), (sy, tie_y)):
            t = (sg == 0).sum(-1).astype(float)  # size of each element's tie group (itself included)
            out[a : a + step, 0] = (t - 1).sum(-1)
            out[a : a + step, 1] = ((t - 1) * (2 * t + 5)).sum(-1)
            out[a : a + step, 2] = ((t - 1) * (t - 2)).sum(-1)
            out[a : a + step, 3] = (t > 1).any(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = S / np.sqrt(nx * ny)
    return tau, S, tie_x, tie_y


def rank_test(yi, vi, *, exact: bool = True, force: bool = False) -> RankTestResult:
    """Begg & Mazumdar 1994 rank correlation test for funnel-plot asymmetry (metafor ``ranktest``).

    Kendall's τ_b between y*_i = (y_i − θ̂)/√(v_i − 1/Σw_j) (θ̂ the common-effect estimate, w = 1/v) and v_i.
    The p-value is R's ``cor.test``: exact when ``exact`` and there are no ties (R's exact distribution
    overflows for k > 170 and returns NaN; the exact value is computed here up to k = 500), otherwise the
    normal approximation with the tie-corrected variance, no continuity correction. Refuses k < 10 unless
    ``force=True`` (Sterne et al. 2011).
    """
    y, v, lead = check_data(yi, vi)
    m, k = y.shape
    warns = _check_k(k, force, "rank correlation test")
    if k < 2:
        raise InputError("yi: the rank correlation test needs at least 2 studies")
    w = 1.0 / v
    sw = w.sum(-1, keepdims=True)
    theta = (w * y).sum(-1, keepdims=True) / sw
    ystar = (y - theta) / np.sqrt(v - 1.0 / sw)
    tau, _, tx, ty = _kendall(ystar, v)
    ties = (tx[:, 3] > 0) | (ty[:, 3] > 0)
    finite = np.isfinite(tau)
    use_exact = finite & ~ties & bool(exact) & (k <= EXACT_MAX_K)
    n = k
    p = np.full(m, np.nan)
    conc = np.full(m, np.nan)
    z = np.full(m, np.nan)
    if use_exact.any():
        qv = np.round((tau[use_exact] + 1) * n * (n - 1) / 4)
        top = n * (n - 1) // 2
        low = np.minimum(qv, top - qv)  # P(T >= q) = P(T <= top - q) by symmetry
        p[use_exact] = np.minimum(2 * kendall_cdf(low, n), 1.0)
        conc[use_exact] = qv
    norm = finite & ~use_exact
    if norm.any():
        T0 = n * (n - 1) / 2
        v0 = n * (n - 1) * (2 * n + 5)
        var_s = (
            (v0 - tx[norm, 1] - ty[norm, 1]) / 18
            + tx[norm, 0] * ty[norm, 0] / (2 * n * (n - 1))
            + (tx[norm, 2] * ty[norm, 2] / (9 * n * (n - 1) * (n - 2)) if n > 2 else 0.0)
        )
        s_r = tau[norm] * np.sqrt((T0 - tx[norm, 0] / 2) * (T0 - ty[norm, 0] / 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            z[norm] = s_r / np.sqrt(var_s)
        p[norm] = 2 * ndtr(-np.abs(z[norm]))
    if (ties & finite & bool(exact)).any():
        warns.append(
            stack_message(
                ties & finite,
                "ties among the standardised effects or the variances: "
                "normal approximation for the p-value (R: 'Cannot compute exact p-value "
                "with ties')",
                lead,
            )
        )
    if exact and k > EXACT_MAX_K:
        warns.append(f"k = {k} > {EXACT_MAX_K}: normal approximation for the p-value")
    if (~finite).any():
        warns.append(
            stack_message(
                ~finite,
                "Kendall's tau is undefined (all variances or all standardised "
                "effects equal): tau and p are NaN",
                lead,
            )
        )

    def s(a, dtype=float):
        a = np.asarray(a, dtype=dtype).reshape(m)
        return a.reshape(lead) if lead else a[0].item()

    return RankTestResult(
        k=k,
        tau=s(tau),
        p_value=s(p),
        exact=s(use_exact, bool),
        concordant=s(conc),
        z=s(z),
        forced=bool(force and k < MIN_K),
        warnings=tuple(warns),
    )
