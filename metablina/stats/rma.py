"""Inverse-variance common-effect and random-effects meta-analysis / meta-regression (metafor's ``rma.uni``).

Model: y_i ~ N(x_i'β, v_i + τ²), τ² from :mod:`metablina.stats.tau2`; β by weighted least squares with
w_i = 1/(v_i + τ²). Inference on β (``test``):

* ``"z"``     — Wald, Var(β̂) = (X'WX)⁻¹, normal quantiles.
* ``"knha"``  — Hartung & Knapp 2001 / Sidik & Jonkman 2002: Var scaled by q = Σ w_i r_i²/(k − p), t_{k−p}.
* ``"adhoc"`` — Knapp & Hartung 2003 modification: q* = max(1, q), never narrower than Wald
  (metafor test="adhoc").

Also computed as metafor does: Q (Cochran 1954) / QE with k − p df; I² = 100·τ²/(τ² + s²) and
H² = τ²/s² + 1 with the "typical" within-study variance s² = (k − p)/tr(P) (Higgins & Thompson 2002);
for the common-effect model I² = (Q − df)/Q and H² = Q/df; the Q-profile CI for τ² (Viechtbauer 2007)
and the implied I², H² bounds (``confint``); the prediction interval of ``predict`` (z, or t_{k−p} under
knha/adhoc, with that test's SE); the Higgins, Thompson & Spiegelhalter 2009 interval (t_{k−2},
√(SE² + τ²), k ≥ 3); the omnibus Wald test QM of the moderators and R² = max(0, 100(τ₀² − τ²)/τ₀²)
with τ₀² from the intercept-only model (Raudenbush 2009).

Everything is vectorised over a stack of analyses: yi, vi of shape (m, k) (or any (..., k)) with a shared
design matrix X (k, p) or one per analysis (m, k, p).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import chdtrc, chdtri, fdtrc, ndtr, ndtri, stdtr, stdtrit

from metablina.stats.errors import InputError
from metablina.stats.plain import plain
from metablina.stats.tau2 import (
    TOL,
    Projection,
    _estimate,
    _sub,
    check_data,
    check_X,
    intercept_column,
    normalise_method,
    stack_message,
    uniroot_brent,
)

__all__ = ["TESTS", "RMAResult", "format_rma", "rma"]

TESTS = ("z", "knha", "adhoc")
_TEST_ALIASES = {"hksj": "knha", "hk": "knha", "wald": "z"}
_EPS = np.finfo(float).eps

Arr = np.ndarray | float | None


@dataclass(frozen=True)
class RMAResult:
    """Result of :func:`rma`. Scalars for one analysis; arrays with the stack's leading shape otherwise.

    ``estimate``/``se``/``stat``/``p_value``/``ci_*``/``pi_*`` describe the pooled effect of an
    intercept-only model and are None for meta-regressions, whose coefficients are in ``b``, ``b_se``,
    ``b_stat``, ``b_p``, ``b_ci_low``, ``b_ci_high`` (last axis = coefficient, names in ``coef_names``).
    """

    k: int
    p: int
    method: str
    ci_method: str
    level: float
    stat_name: str  # "z" or "t"
    df: int | None  # t degrees of freedom (k - p) under knha/adhoc
    estimate: Arr
    se: Arr
    stat: Arr
    p_value: Arr
    ci_low: Arr
    ci_high: Arr
    tau2: Arr
    tau2_se: Arr
    tau2_fixed: bool
    tau2_ci_low: Arr
    tau2_ci_high: Arr
    i2: Arr
    h2: Arr
    i2_ci_low: Arr
    i2_ci_high: Arr
    h2_ci_low: Arr
    h2_ci_high: Arr
    q: Arr
    q_df: int
    q_p: Arr
    pi_low: Arr
    pi_high: Arr
    pi_hts_low: Arr
    pi_hts_high: Arr
    s2w: Arr  # Knapp-Hartung scale factor actually used (1 under "z")
    vt: Arr  # metafor's "typical" within-study variance s²
    weights: np.ndarray  # percent, as metafor weights()
    yi: np.ndarray
    vi: np.ndarray
    coef_names: tuple[str, ...]
    b: np.ndarray
    b_se: np.ndarray
    b_stat: np.ndarray
    b_p: np.ndarray
    b_ci_low: np.ndarray
    b_ci_high: np.ndarray
    qm: Arr
    qm_coefs: tuple[int, ...]  # 0-based columns of X tested by QM (all but the intercept)
    qm_df: tuple[int, int | None]
    qm_p: Arr
    r2: Arr
    converged: np.ndarray | bool
    tau2_ci_empty: np.ndarray | bool | None  # metafor confint's ci.null: Q-profile CI is the empty set
    warnings: tuple[str, ...] = field(default=())
    # each message with the (flattened) analyses it concerns, for warnings_for() on a stack
    warning_masks: tuple[tuple[str, np.ndarray], ...] = field(default=(), repr=False)

    def warnings_for(self, index: int | tuple[int, ...]) -> tuple[str, ...]:
        """The messages that concern one analysis of a stack (without the "analyses ...:" prefix)."""
        lead = np.shape(self.yi)[:-1]
        if not lead:
            return self.warnings
        flat = int(np.ravel_multi_index(tuple(np.atleast_1d(index)), lead))
        return tuple(msg for msg, mask in self.warning_masks if mask[flat])

    @property
    def int_only(self) -> bool:
        return self.estimate is not None

    @property
    def stacked(self) -> bool:
        return np.ndim(self.yi) > 1

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (floats / nested lists, None where n/a), keys as printed by the CLI."""

        d: dict[str, Any] = {
            "k": self.k,
            "method": self.method,
            "ci_method": self.ci_method,
            "level": self.level,
        }
        if self.int_only:
            d.update(
                estimate=plain(self.estimate),
                se=plain(self.se),
                ci_low=plain(self.ci_low),
                ci_high=plain(self.ci_high),
                stat_name=self.stat_name,
                stat=plain(self.stat),
                df=self.df,
                p_value=plain(self.p_value),
            )
        d.update(
            tau2=plain(self.tau2),
            tau2_se=plain(self.tau2_se),
            tau2_ci_low=plain(self.tau2_ci_low),
            tau2_ci_high=plain(self.tau2_ci_high),
            i2=plain(self.i2),
            i2_ci_low=plain(self.i2_ci_low),
            i2_ci_high=plain(self.i2_ci_high),
            h2=plain(self.h2),
            h2_ci_low=plain(self.h2_ci_low),
            h2_ci_high=plain(self.h2_ci_high),
            q=plain(self.q),
            q_df=self.q_df,
            q_p=plain(self.q_p),
        )
        if self.int_only:
            d.update(
                pi_low=plain(self.pi_low),
                pi_high=plain(self.pi_high),
                pi_hts_low=plain(self.pi_hts_low),
                pi_hts_high=plain(self.pi_hts_high),
            )
        else:
            b = np.moveaxis(np.asarray(self.b), -1, 0)
            cols = [
                np.moveaxis(np.asarray(a), -1, 0)
                for a in (self.b_se, self.b_stat, self.b_p, self.b_ci_low, self.b_ci_high)
            ]
            d["coefficients"] = [
                {
                    "name": nm,
                    "estimate": plain(b[j]),
                    "se": plain(cols[0][j]),
                    "stat": plain(cols[1][j]),
                    "p": plain(cols[2][j]),
                    "ci_low": plain(cols[3][j]),
                    "ci_high": plain(cols[4][j]),
                }
                for j, nm in enumerate(self.coef_names)
            ]
            d.update(
                stat_name=self.stat_name,
                df=self.df,
                QM=plain(self.qm),
                QM_df=list(self.qm_df),
                QM_p=plain(self.qm_p),
                R2=plain(self.r2),
            )
        d.update(
            s2w=plain(self.s2w),
            weights=plain(self.weights),
            yi=plain(self.yi),
            vi=plain(self.vi),
            warnings=list(self.warnings),
        )
        return d

    def summary(self):
        """The content of metafor's print method as a table: one row per quantity, one column per analysis."""
        import pandas as pd

        lead = np.shape(self.yi)[:-1]
        n = int(np.prod(lead)) if lead else 1

        def col(x):
            if x is None:
                return [None] * n
            a = (
                np.asarray(x, dtype=float).reshape(n, -1)
                if np.ndim(x) > len(lead)
                else np.asarray(x, dtype=float).reshape(n)
            )
            return list(a)

        rows: dict[str, list] = {}
        model = (
            ("Common-effect" if self.method == "FE" else "Random-effects")
            if self.int_only
            else ("Fixed-effects with moderators" if self.method == "FE" else "Mixed-effects")
        )
        rows["model"] = [model] * n
        rows["tau^2 estimator"] = [self.method] * n
        rows["test"] = [self.ci_method] * n
        rows["k"] = [self.k] * n
        if self.method != "FE":
            t2 = col(self.tau2)
            rows["tau^2"] = t2
            rows["tau^2 SE"] = col(self.tau2_se)
            rows["tau"] = [np.sqrt(t) if t is not None and t >= 0 else None for t in t2]
            rows["tau^2 CI low"] = col(self.tau2_ci_low)
            rows["tau^2 CI high"] = col(self.tau2_ci_high)
        rows["I^2 (%)"] = col(self.i2)
        rows["H^2"] = col(self.h2)
        if not self.int_only:
            rows["R^2 (%)"] = col(self.r2)
        rows["Q" if self.int_only else "QE"] = col(self.q)
        rows["Q df"] = [self.q_df] * n
        rows["Q p-value"] = col(self.q_p)
        if not self.int_only:
            rows["QM"] = col(self.qm)
            rows["QM df1"] = [self.qm_df[0]] * n
            rows["QM df2"] = [self.qm_df[1]] * n
            rows["QM p-value"] = col(self.qm_p)
        b = np.asarray(self.b).reshape(n, -1)
        parts = {
            "estimate": b,
            "se": np.asarray(self.b_se).reshape(n, -1),
            f"{self.stat_name}val": np.asarray(self.b_stat).reshape(n, -1),
            "pval": np.asarray(self.b_p).reshape(n, -1),
            "ci.lb": np.asarray(self.b_ci_low).reshape(n, -1),
            "ci.ub": np.asarray(self.b_ci_high).reshape(n, -1),
        }
        for j, nm in enumerate(self.coef_names):
            for lab, arr in parts.items():
                rows[lab if self.int_only else f"{nm}: {lab}"] = list(arr[:, j])
            if self.df is not None:
                rows["df" if self.int_only else f"{nm}: df"] = [self.df] * n
        if self.int_only and self.method != "FE":
            rows["pi.lb"] = col(self.pi_low)
            rows["pi.ub"] = col(self.pi_high)
        names = (
            ["value"]
            if not lead
            else [str(i) if len(lead) == 1 else str(np.unravel_index(i, lead)) for i in range(n)]
        )
        return pd.DataFrame.from_dict(rows, orient="index", columns=names)


# ------------------------------------------------------------------------------------------------------------
def _q_profile(y, v, X, p, tau2, vt, alpha):
    """metafor ``confint.rma.uni`` type "QP" for τ² (Viechtbauer 2007), vectorised. Uses y as given."""
    m, k = y.shape
    df = k - p
    crit_u = chdtri(df, alpha / 2)  # upper alpha/2 quantile
    crit_l = chdtri(df, 1 - alpha / 2)  # lower alpha/2 quantile
    tmin = np.zeros(m)
    tmax = np.maximum(100.0, 10.0 * tau2)

    def qe(x, idx):
        return Projection(1.0 / (v[idx] + x[:, None]), _sub(X, idx)).quad(y[idx])

    allidx = np.arange(m)
    q_min = qe(tmin, allidx)
    q_max = qe(tmax, allidx)
    lb = np.full(m, np.nan)
    ub = np.full(m, np.nan)
    conv = np.ones(m, dtype=bool)
    null = q_min < crit_l
    lb[null] = tmin[null]
    ub[null] = tmin[null]
    ub_at_max = ~null & (q_max > crit_l)
    ub[ub_at_max] = tmax[ub_at_max]

    def solve(rows, crit):
        if rows.size == 0:
            return

        def f(x, idx):
            return qe(x, rows[idx]) - crit

        root, ok = uniroot_brent(f, tmin[rows], tmax[rows], q_min[rows] - crit, q_max[rows] - crit, TOL, 1000)
        conv[rows[~ok]] = False
        return root

    rows = np.flatnonzero(~null & ~ub_at_max)
    if rows.size:
        ub[rows] = solve(rows, crit_l)
    all_max = q_max > crit_u
    lb[all_max] = tmax[all_max]
    ub[all_max] = tmax[all_max]
    lb_zero = ~all_max & (q_min < crit_u)
    lb[lb_zero] = tmin[lb_zero]
    rows = np.flatnonzero(~all_max & ~lb_zero)
    if rows.size:
        lb[rows] = solve(rows, crit_u)
    i2 = (100 * lb / (vt + lb), 100 * ub / (vt + ub))
    h2 = (lb / vt + 1, ub / vt + 1)
    return lb, ub, i2, h2, null, ub_at_max | all_max, conv


def _adj_r2_fe(y, v, X):
    """metafor's R² of a common-effect meta-regression: weighted lm adjusted R², w = 1/v, in percent."""
    k = y.shape[1]
    p = X.shape[-1]
    w = 1.0 / v
    pr = Projection(w, X)
    rss = pr.quad(y)
    ybar = (w * y).sum(-1) / w.sum(-1)
    tss = (w * (y - ybar[:, None]) ** 2).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        adj = 1.0 - (rss / tss) * (k - 1) / (k - p)
    r2 = np.maximum(0.0, 100 * adj)
    return np.where(np.var(y, axis=-1) == 0, 0.0, r2)


def rma(
    yi,
    vi,
    *,
    method: str = "REML",
    test: str = "z",
    X=None,
    level: float = 0.95,
    tau2=None,
    coef_names: tuple[str, ...] | list[str] | None = None,
    tau2_ci: bool = True,
) -> RMAResult:
    """Fit metafor's ``rma.uni`` (no ``weights``, no scale model) to one analysis or a stack of analyses.

    Parameters
    ----------
    yi, vi : effect sizes and sampling variances, shape (k,) or (..., k) for a stack of analyses.
    method : τ² estimator, one of FE (alias EE, CE), DL, HE, HS, SJ, ML, REML, PM, EB.
    test : "z", "knha" (alias "hksj") or "adhoc".
    X : full design matrix, shape (k, p) or (m, k, p); include a column of ones for an intercept.
        None = intercept only (a random-effects / common-effect meta-analysis).
    level : confidence level of every interval, in (0, 1).
    tau2 : fix τ² at this value (scalar or one per analysis) instead of estimating it.
    coef_names : names of the columns of X (default "intrcpt" for the ones column, else "X1", ...).
    tau2_ci : False: no Q-profile CI for τ², I² and H² (None, as for a common-effect model), for callers
        that use only the pooled estimate (the multiverse); in its small analyses it was two thirds of a fit.
    """
    method = normalise_method(method)
    if not isinstance(test, str) or _TEST_ALIASES.get(test.lower(), test.lower()) not in TESTS:
        raise InputError(f"test: expected one of z, knha, adhoc, got {test!r}")
    test = _TEST_ALIASES.get(test.lower(), test.lower())
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise InputError(f"level: expected a confidence level in (0, 1), got {level!r}")
    alpha = 1.0 - float(level)

    y, v, lead = check_data(yi, vi)
    m, k = y.shape
    if k == 1:
        raise InputError("k = 1: a single study cannot be pooled; report the study itself")
    Xc = check_X(X, k, m)
    p = 1 if Xc is None else Xc.shape[-1]
    int_col = intercept_column(Xc)
    int_only = Xc is None
    if coef_names is None:
        names = tuple(
            "intrcpt" if j == int_col else f"X{j + 1 - (int_col is not None and j > int_col)}"
            for j in range(p)
        )
    else:
        names = tuple(str(s) for s in coef_names)
        if len(names) != p:
            raise InputError(f"coef_names: expected {p} names, got {len(names)}")
    fixed = None
    if tau2 is not None:
        if method == "FE":
            raise InputError("tau2: a fixed tau^2 cannot be combined with method='FE'")
        fixed = np.broadcast_to(np.asarray(tau2, dtype=float), lead).reshape(-1).copy()
        if not (np.isfinite(fixed) & (fixed >= 0)).all():
            raise InputError("tau2: a fixed tau^2 must be finite and >= 0")
    if method == "FE" and p > k:
        raise InputError(f"X: {p} coefficients cannot be estimated from k = {k} studies")
    if method != "FE" and fixed is None and p + 1 > k:
        raise InputError(f"X: {p} coefficients and tau^2 cannot be estimated from k = {k} studies")

    msgs: list[tuple[np.ndarray, str]] = []
    everyone = np.ones(m, dtype=bool)
    if k == 2 and method != "FE":
        msgs.append((everyone, "k = 2: tau^2 cannot be estimated reliably"))
    ratio = v.max(-1) / v.min(-1)
    if (ratio >= 1e7).any():
        msgs.append(
            (
                ratio >= 1e7,
                "ratio of largest to smallest sampling variance is extremely large; "
                "results may not be stable",
            )
        )

    # --- tau^2 ---------------------------------------------------------------------------------------------
    raw = _estimate(method, y, v, Xc, fixed)
    msgs.extend(raw.messages)
    t2 = raw.tau2
    tp = np.where(np.isnan(t2), 0.0, t2)
    if method != "FE" and fixed is None:
        at0 = t2 == 0
        if at0.any():
            msgs.append(
                (
                    at0,
                    "tau^2 estimated at 0 (boundary): the random-effects model coincides with the "
                    "common-effect model; see the tau^2 CI",
                )
            )

    # --- fixed effects --------------------------------------------------------------------------------------
    w = 1.0 / (v + tp[:, None])
    pr = Projection(w, Xc)
    b = pr.beta(y)
    vb = pr.Ainv.copy()
    s2w = np.ones(m)
    if test in ("knha", "adhoc"):
        rss = pr.quad(y)
        s2w = np.where(rss <= _EPS, 0.0, rss / (k - p))
        if (rss <= _EPS).any() and test == "knha":
            msgs.append((rss <= _EPS, "Knapp-Hartung factor is 0 (all weighted residuals are 0): SE = 0"))
        if test == "adhoc":
            s2w = np.maximum(s2w, 1.0)
        if method == "FE":
            msgs.append(
                (everyone, "the Knapp & Hartung method is not meant to be used with a common-effect model")
            )
    vb = vb * s2w[:, None, None]
    se_b = np.sqrt(np.diagonal(vb, axis1=-2, axis2=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = b / se_b
    btt = [j for j in range(p) if j != int_col] if (p > 1 and int_col is not None) else list(range(p))
    bb = b[:, btt]
    vbb = vb[:, btt][:, :, btt]
    qm = np.full(m, np.nan)
    inv_ok = (s2w > 0) & ~np.isnan(t2)  # vb = 0 when the KH factor is 0: metafor's chol() fails, QM = NA
    if inv_ok.any():
        sol = np.linalg.solve(vbb[inv_ok], bb[inv_ok][..., None])[..., 0]
        qm[inv_ok] = np.einsum("mi,mi->m", bb[inv_ok], sol)
    mdf = len(btt)
    if test in ("knha", "adhoc"):
        ddf = k - p
        qm = qm / mdf
        qm_df: tuple[int, int | None] = (mdf, ddf)
        qm_p = fdtrc(mdf, ddf, qm) if ddf > 0 else np.full(m, np.nan)
        pval = 2 * stdtr(ddf, -np.abs(stat)) if ddf > 0 else np.full_like(stat, np.nan)
        crit = stdtrit(ddf, 1 - alpha / 2) if ddf > 0 else np.nan
        stat_name, df_out = "t", ddf
    else:
        qm_df = (mdf, None)
        qm_p = chdtrc(mdf, qm)
        pval = 2 * ndtr(-np.abs(stat))
        crit = ndtri(1 - alpha / 2)
        stat_name, df_out = "z", None
    ci_lo = b - crit * se_b
    ci_hi = b + crit * se_b

    # --- heterogeneity (metafor: from mean-centred y, FE weights) -------------------------------------------
    df_q = k - p
    if k > p:
        prf = Projection(1.0 / v, Xc)
        ymc = y - y.mean(-1, keepdims=True)
        qe = np.maximum(0.0, prf.quad(ymc))
        qe_p = chdtrc(df_q, qe)
        vt = df_q / prf.trP()
        if method == "FE":
            with np.errstate(divide="ignore", invalid="ignore"):
                i2 = np.maximum(0.0, np.where(qe > 0, 100 * (qe - df_q) / qe, -np.inf))
            h2 = qe / df_q
        else:
            i2 = 100 * t2 / (vt + t2)
            h2 = t2 / vt + 1
    else:
        qe, qe_p, i2, h2, vt = (np.zeros(m), np.ones(m), np.zeros(m), np.ones(m), np.zeros(m))

    # --- Q-profile CI for tau^2, I^2, H^2 -------------------------------------------------------------------
    nanm = np.full(m, np.nan)
    t2_lo = t2_hi = i2_lo = i2_hi = h2_lo = h2_hi = None
    ci_empty = None
    if tau2_ci and method != "FE" and fixed is None and k > p:
        good = ~np.isnan(t2)
        t2_lo, t2_hi, i2_lo, i2_hi, h2_lo, h2_hi = (nanm.copy() for _ in range(6))
        ci_empty = np.zeros(m, dtype=bool)
        g = np.flatnonzero(good)
        if g.size:
            lb, ub, (il, iu), (hl, hu), null, atmax, okci = _q_profile(
                y[g], v[g], _sub(Xc, g), p, t2[g], vt[g], alpha
            )
            t2_lo[g], t2_hi[g], i2_lo[g], i2_hi[g], h2_lo[g], h2_hi[g] = lb, ub, il, iu, hl, hu
            ci_empty[g] = null
            sel = np.zeros(m, dtype=bool)
            sel[g[null]] = True
            if sel.any():
                msgs.append(
                    (
                        sel,
                        "Q-profile CI for tau^2 is empty (Q is below the lower chi^2 quantile "
                        "even at tau^2 = 0); reported as [0, 0] like metafor",
                    )
                )
            sel = np.zeros(m, dtype=bool)
            sel[g[atmax]] = True
            if sel.any():
                msgs.append(
                    (
                        sel,
                        "Q-profile CI bound for tau^2 lies beyond the searched maximum "
                        "max(100, 10 tau^2); reported at that maximum",
                    )
                )
            sel = np.zeros(m, dtype=bool)
            sel[g[~okci]] = True
            if sel.any():
                msgs.append((sel, "Q-profile CI root search did not converge"))

    # --- prediction intervals (intercept-only random-effects models) ----------------------------------------
    pi_lo = pi_hi = hts_lo = hts_hi = None
    if int_only and method != "FE":
        half = crit * np.sqrt(se_b[:, 0] ** 2 + t2)
        pi_lo, pi_hi = b[:, 0] - half, b[:, 0] + half
        if k >= 3:
            half = stdtrit(k - 2, 1 - alpha / 2) * np.sqrt(se_b[:, 0] ** 2 + t2)
            hts_lo, hts_hi = b[:, 0] - half, b[:, 0] + half

    # --- R^2 of a meta-regression (metafor r2def "1") -------------------------------------------------------
    r2 = None
    if not int_only and int_col is not None:
        if method == "FE":
            r2 = _adj_r2_fe(y, v, Xc)
        else:
            raw0 = _estimate(method, y, v, None, None)
            t0 = raw0.tau2
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = np.where(t0 == 0, 0.0, np.maximum(0.0, 100 * (t0 - t2) / t0))
            r2 = np.where(raw0.converged, r2, np.nan)

    weights = 100 * w / w.sum(-1, keepdims=True)

    # analyses whose tau^2 could not be estimated (metafor stops with an error): everything downstream is NaN
    bad = np.isnan(t2)
    if bad.any():
        for a in (b, se_b, stat, pval, ci_lo, ci_hi, weights):
            a[bad] = np.nan
        for a in (s2w, qm, qm_p, i2, h2, pi_lo, pi_hi, hts_lo, hts_hi, r2):
            if isinstance(a, np.ndarray) and a.shape == (m,):
                a[bad] = np.nan

    # --- pack ---------------------------------------------------------------------------------------------
    def s(a):
        if a is None:
            return None
        a = np.asarray(a, dtype=float)
        a = np.broadcast_to(a, (m,)) if a.ndim == 0 else a
        return a.reshape(lead) if lead else float(a[0])

    def vec(a):  # (m, j) -> lead + (j,)
        a = np.asarray(a)
        return a.reshape(lead + a.shape[1:]) if lead else a[0]

    def flag(a):
        if a is None:
            return None
        return a.reshape(lead) if lead else bool(a[0])

    io = int_only
    warns = []
    for mk, msg in msgs:
        txt = stack_message(mk, msg, lead)
        if txt not in warns:
            warns.append(txt)
    masks: dict[str, np.ndarray] = {}
    for mk, msg in msgs:
        masks[msg] = masks[msg] | mk if msg in masks else mk.copy()
    return RMAResult(
        k=k,
        p=p,
        method=method,
        ci_method=test,
        level=float(level),
        stat_name=stat_name,
        df=df_out,
        estimate=s(b[:, 0]) if io else None,
        se=s(se_b[:, 0]) if io else None,
        stat=s(stat[:, 0]) if io else None,
        p_value=s(pval[:, 0]) if io else None,
        ci_low=s(ci_lo[:, 0]) if io else None,
        ci_high=s(ci_hi[:, 0]) if io else None,
        tau2=s(t2),
        tau2_se=s(raw.se) if method != "FE" else None,
        tau2_fixed=fixed is not None,
        tau2_ci_low=s(t2_lo),
        tau2_ci_high=s(t2_hi),
        i2=s(i2),
        h2=s(h2),
        i2_ci_low=s(i2_lo),
        i2_ci_high=s(i2_hi),
        h2_ci_low=s(h2_lo),
        h2_ci_high=s(h2_hi),
        q=s(qe),
        q_df=df_q,
        q_p=s(qe_p),
        pi_low=s(pi_lo),
        pi_high=s(pi_hi),
        pi_hts_low=s(hts_lo),
        pi_hts_high=s(hts_hi),
        s2w=s(s2w),
        vt=s(vt),
        weights=vec(weights),
        yi=vec(y),
        vi=vec(v),
        coef_names=names,
        b=vec(b),
        b_se=vec(se_b),
        b_stat=vec(stat),
        b_p=vec(pval),
        b_ci_low=vec(ci_lo),
        b_ci_high=vec(ci_hi),
        qm=s(qm),
        qm_coefs=tuple(btt),
        qm_df=qm_df,
        qm_p=s(qm_p),
        r2=s(r2),
        converged=flag(raw.converged),
        tau2_ci_empty=flag(ci_empty),
        warnings=tuple(warns),
        warning_masks=tuple(masks.items()),
    )


# ------------------------------------------------------------------------------------------------------------
# metafor-style text
# ------------------------------------------------------------------------------------------------------------
def _fcf(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "NA"
    return f"{x:.{digits}f}"


def _pval(p, digits: int = 4, showeq: bool = False) -> str:
    """metafor's .pval: '<.0001' below 10^-digits."""
    if p is None or np.isnan(p):
        return "NA"
    if p < 10**-digits:
        return ("< " if showeq else "<") + "." + "0" * (digits - 1) + "1"
    txt = f"{p:.{digits}f}"
    return ("= " if showeq else "") + txt


def _stars(p: float) -> str:
    if p is None or np.isnan(p):
        return ""
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return ""


def _format_btt(cols: tuple[int, ...]) -> str:
    """metafor's .format.btt: 1-based coefficient numbers with runs collapsed ("2:4,6")."""
    idx = sorted(j + 1 for j in cols)
    parts, i = [], 0
    while i < len(idx):
        j = i
        while j + 1 < len(idx) and idx[j + 1] == idx[j] + 1:
            j += 1
        parts.append(str(idx[i]) if j == i else f"{idx[i]}:{idx[j]}")
        i = j + 1
    return ",".join(parts)


def format_rma(result: RMAResult, index: int | tuple[int, ...] | None = None) -> str:
    """Text like metafor's ``print.rma.uni`` for one analysis (``index`` picks one from a stack)."""
    r = result
    lead = np.shape(r.yi)[:-1]
    if lead and index is None:
        raise InputError("index: the result holds a stack of analyses; choose one with index=")

    def g(x):
        if x is None:
            return None
        a = np.asarray(x)
        return float(a[index]) if lead else float(a)

    def gv(x):
        a = np.asarray(x, dtype=float)
        return a[index] if lead else a

    lines: list[str] = []
    fe = r.method == "FE"
    if fe:
        head = "Fixed-Effects Model" if r.int_only else "Fixed-Effects with Moderators Model"
        lines.append(f"{head} (k = {r.k})")
    else:
        head = "Random-Effects Model" if r.int_only else "Mixed-Effects Model"
        est = "user-specified tau^2 value" if r.tau2_fixed else f"tau^2 estimator: {r.method}"
        lines.append(f"{head} (k = {r.k}; {est})")
    lines.append("")
    if not fe:
        t2, se_t2 = g(r.tau2), g(r.tau2_se)
        sev = f" (SE = {_fcf(se_t2)})" if se_t2 is not None and not np.isnan(se_t2) else ""
        dig = 0 if abs(t2) <= 10 * _EPS else 4  # metafor prints an exact 0 as "0"
        if r.int_only:
            lab_t2 = "tau^2 (estimated amount of total heterogeneity): "
            lab_t = "tau (square root of estimated tau^2 value):      "
        else:
            lab_t2 = "tau^2 (estimated amount of residual heterogeneity):     "
            lab_t = "tau (square root of estimated tau^2 value):             "
        lines.append(f"{lab_t2}{_fcf(t2, dig)}{sev}")
        lines.append(f"{lab_t}{_fcf(np.sqrt(t2), dig)}")
    if r.int_only:
        lines.append(f"I^2 (total heterogeneity / total variability):   {_fcf(g(r.i2), 2)}%")
        lines.append(f"H^2 (total variability / sampling variability):  {_fcf(g(r.h2), 2)}")
    else:
        lines.append(f"I^2 (residual heterogeneity / unaccounted variability): {_fcf(g(r.i2), 2)}%")
        lines.append(f"H^2 (unaccounted variability / sampling variability):   {_fcf(g(r.h2), 2)}")
        if r.r2 is not None:
            lines.append(f"R^2 (amount of heterogeneity accounted for):            {_fcf(g(r.r2), 2)}%")
    lines.append("")
    lines.append("Test for Heterogeneity:" if r.int_only else "Test for Residual Heterogeneity:")
    qn = "Q" if r.int_only else "QE"
    lines.append(f"{qn}(df = {r.q_df}) = {_fcf(g(r.q))}, p-val {_pval(g(r.q_p), showeq=True)}")
    lines.append("")
    if not r.int_only:
        nb = r.qm_df[0]
        lines.append(f"Test of Moderators (coefficient{'' if nb == 1 else 's'} {_format_btt(r.qm_coefs)}):")
        if r.stat_name == "t":
            lines.append(
                f"F(df1 = {r.qm_df[0]}, df2 = {r.qm_df[1]}) = {_fcf(g(r.qm))}, "
                f"p-val {_pval(g(r.qm_p), showeq=True)}"
            )
        else:
            lines.append(f"QM(df = {r.qm_df[0]}) = {_fcf(g(r.qm))}, p-val {_pval(g(r.qm_p), showeq=True)}")
        lines.append("")
    lines.append("Model Results:")
    lines.append("")
    cols = (
        ["estimate", "se", f"{r.stat_name}val"]
        + (["df"] if r.df is not None else [])
        + ["pval", "ci.lb", "ci.ub", ""]
    )
    b, se, st, pv = gv(r.b), gv(r.b_se), gv(r.b_stat), gv(r.b_p)
    lo, hi = gv(r.b_ci_low), gv(r.b_ci_high)
    table = []
    for j, nm in enumerate(r.coef_names):
        row = (
            [_fcf(b[j]), _fcf(se[j]), _fcf(st[j])]
            + ([str(r.df)] if r.df is not None else [])
            + [_pval(pv[j]), _fcf(lo[j]), _fcf(hi[j]), _stars(pv[j])]
        )
        table.append((nm if not r.int_only else "", row))
    widths = [max(len(c), *(len(row[i]) for _, row in table)) for i, c in enumerate(cols)]
    namew = max(len(nm) for nm, _ in table)
    lead_pad = " " * namew + "  " if namew else ""
    lines.append(lead_pad + "  ".join(c.rjust(wd) for c, wd in zip(cols, widths, strict=True)).rstrip())
    for nm, row in table:
        pad = nm.ljust(namew) + "  " if namew else ""
        lines.append(pad + "  ".join(c.rjust(wd) for c, wd in zip(row, widths, strict=True)).rstrip())
    lines.append("")
    lines.append("---")
    lines.append("Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1")
    for wmsg in r.warnings_for(index) if lead else r.warnings:
        lines.append(f"Warning: {wmsg}")
    return "\n".join(lines)
