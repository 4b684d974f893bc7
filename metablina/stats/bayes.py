"""Bayesian random-effects meta-analysis by deterministic integration (no MCMC).

Normal–normal model, :func:`bayes_nn` (Röver 2020, bayesmeta): y_i ~ N(θ_i, σ_i²), θ_i ~ N(μ, τ²), a
prior on τ and a flat or normal prior on μ. Given τ, μ is normal, so μ is integrated out in closed
form and p(τ | y) is known up to a constant (Röver 2020, eq. 8). p(τ | y) is integrated with Fejér's
rule in u ∈ (0, 1), τ = c·(u/(1 − u))^β, c a coarse posterior median and β ≤ 1 shrinking for a
posterior peaked away from 0; the same nodes define a Chebyshev interpolant whose antiderivative is
the τ CDF. μ, a new study's θ_new and the shrunken θ_i are then normal mixtures over the nodes:
bayesmeta's DIRECT algorithm (Röver & Friede 2017) with quadrature weights instead of a coarse
discretisation, so DIRECT's error (≈ 1e-3 posterior SD for μ summaries) is gone, and with no
truncation of the τ tail (DIRECT stops at the 1 − 1e-4 quantile, which lowers the SDs of μ and θ_new
under heavy-tailed priors: 8 schools, uniform prior, SD(θ_new) 10.162 here, 10.148 in bayesmeta).

Binomial–normal model, :func:`bayes_bn` (Stijnen et al. 2010; METHODS §1.5): x_i ~ Bin(n_i, expit θ_i),
θ_i ~ N(μ, τ²), each study's likelihood by adaptive Gauss–Hermite quadrature (:mod:`.agq`, 21 nodes).
The posterior of (μ, τ) is integrated on a product rule: the Fejér rule in τ and, for each τ node, an
equally spaced grid in t with μ = m + s·A·sinh(t/A), centred on the conditional mode m of μ and scaled
by the curvature s there (linear near the mode, reaching ±42 s for tails near 0 % and 100 %). The
trapezoid rule on such a grid is spectrally accurate, and the sinc interpolant of the sampled density
integrates in closed form with the sine integral (Stenger 1993), which gives the CDF at any point.
The predictive θ_new and each shrunken θ_i (∝ Bin(x_i | θ) × leave-one-out predictive) get their own
grids per τ node, built from the (μ, τ) atoms, and are inverted the same way.

Both functions take a stack: the last axis is studies, leading axes are independent analyses, all
fitted at once (chunked to bound memory).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri, sici

from metablina.stats.errors import InputError
from metablina.stats.memory import check_memory
from metablina.stats.plain import plain
from metablina.stats.priors import (
    FlatMu,
    MuPrior,
    NormalMu,
    TauPrior,
    Uniform,
    parse_mu_prior,
    parse_tau_prior,
)

__all__ = ["BayesResult", "bayes_bn", "bayes_nn"]

_LOG_2PI = math.log(2.0 * math.pi)
_N_TAU_NN = 128  # Fejér nodes in τ for the normal–normal model
_N_TAU_BN = 48  # Fejér nodes in τ for the binomial–normal model
_QUANTILE_KEYS = ("median", "low", "high", "short_low", "short_high")  # a mixture's quantile summaries
_AGQ_NODES = 21  # adaptive Gauss–Hermite nodes per study likelihood (the grid reaches extreme μ, τ)
_H_MU, _T_MU = 0.25, 10.0  # μ grid per τ node: t = −T, −T+h, …, T
_H_TH, _T_TH = 0.25, 10.0  # θ grids of θ_new and of the shrunken θ_i (skewed near 0 % and 100 %)
_A = 3.0  # μ = m + s·A·sinh(t/A): linear (spacing h·s) near the mode, reaching ±A·sinh(T/A) ≈ 42 s
_KAPPA = 0.5  # atoms resolve N(θ; μ, τ²) when τ ≥ κ·s; below, Gauss–Hermite in z over the interpolant
_GH_Z = 12  # Gauss–Hermite nodes in z for those small-τ nodes
_TAIL = 1e-6  # warn when the τ rule's last Chebyshev coefficients exceed this (the rule is too coarse)
_EDGE = -20.0  # warn when a grid's edge atom carries more than e^-20 of its node's mass
_CHUNK = 2_000_000  # elements per temporary (m·nodes·k) in stacked fits


# ----------------------------------------------------------------------------------------------------
# result
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BayesResult:
    """Posterior summaries; arrays have the stack's leading shape (scalars for one analysis); for the
    binomial–normal model (``model == "BN"``) everything is on the logit scale.

    μ: ``estimate`` (posterior median), ``mean``, ``sd``, central interval ``ci_low``/``ci_high`` and
    shortest interval ``ci_shortest_low``/``ci_shortest_high``; τ: median, mean, sd, central interval;
    θ_new (a new study's effect): ``pred_median``, ``pred_mean``, ``pred_sd``, central ``pi_low``/``pi_high``
    and shortest ``pi_shortest_low``/``pi_shortest_high``; ``p_below`` = P(μ < threshold);
    shrunken study effects θ_i (last axis = studies): ``shrink_*``. NaN marks a moment that does not
    exist (heavy-tailed posterior); a warning then says so.
    """

    model: str
    k: int
    level: float
    tau_prior: str
    mu_prior: str
    estimate: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ci_shortest_low: np.ndarray
    ci_shortest_high: np.ndarray
    tau_median: np.ndarray
    tau_mean: np.ndarray
    tau_sd: np.ndarray
    tau_ci_low: np.ndarray
    tau_ci_high: np.ndarray
    pred_median: np.ndarray
    pred_mean: np.ndarray
    pred_sd: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    pi_shortest_low: np.ndarray
    pi_shortest_high: np.ndarray
    threshold: float | None
    p_below: np.ndarray | None
    shrink_median: np.ndarray
    shrink_mean: np.ndarray
    shrink_sd: np.ndarray
    shrink_low: np.ndarray
    shrink_high: np.ndarray
    warnings: tuple[str, ...] = field(default_factory=tuple)

    _SCALARS = (
        "estimate",
        "mean",
        "sd",
        "ci_low",
        "ci_high",
        "ci_shortest_low",
        "ci_shortest_high",
        "tau_median",
        "tau_mean",
        "tau_sd",
        "tau_ci_low",
        "tau_ci_high",
        "pred_median",
        "pred_mean",
        "pred_sd",
        "pi_low",
        "pi_high",
        "pi_shortest_low",
        "pi_shortest_high",
    )
    _SHRINK = ("median", "mean", "sd", "low", "high")

    def to_dict(self) -> dict:
        """Plain Python values; a stack gives lists (nested like the leading shape); NaN -> None."""
        out: dict = {
            "model": self.model,
            "k": self.k,
            "level": float(self.level),
            "tau_prior": self.tau_prior,
            "mu_prior": self.mu_prior,
        }
        for name in self._SCALARS:
            out[name] = plain(getattr(self, name))
        out["threshold"] = self.threshold
        if self.p_below is not None:
            out["p_below"] = plain(self.p_below)
        sh = {name: getattr(self, "shrink_" + name) for name in self._SHRINK}
        lead = self.shrink_mean.shape[:-1]
        computed = not np.isnan(self.shrink_median).all()
        out["shrinkage"] = _shrink_list(sh, lead) if computed else None
        out["warnings"] = list(self.warnings)
        return out

    def summary(self):
        """Rows μ, τ, θ_new with median, mean, sd and the central interval (one block per analysis)."""
        import pandas as pd

        blocks = (
            ("mu", ("estimate", "mean", "sd", "ci_low", "ci_high")),
            ("tau", ("tau_median", "tau_mean", "tau_sd", "tau_ci_low", "tau_ci_high")),
            ("theta_new", ("pred_median", "pred_mean", "pred_sd", "pi_low", "pi_high")),
        )
        rows = []
        lead = np.shape(self.estimate)
        for idx in np.ndindex(*lead):
            tag = {"analysis": int(np.ravel_multi_index(idx, lead))} if lead else {}
            for parameter, names in blocks:
                vals = [float(np.asarray(getattr(self, name))[idx]) for name in names]
                rows.append(
                    {
                        **tag,
                        "parameter": parameter,
                        **dict(zip(("median", "mean", "sd", "ci_low", "ci_high"), vals, strict=True)),
                    }
                )
        return pd.DataFrame(rows)


def _shrink_list(sh: dict, lead: tuple[int, ...]):
    if lead:
        return [_shrink_list({key: val[i] for key, val in sh.items()}, lead[1:]) for i in range(lead[0])]
    k = sh["mean"].shape[-1]
    return [{key: plain(val[i]) for key, val in sh.items()} for i in range(k)]


# ----------------------------------------------------------------------------------------------------
# numerical building blocks
# ----------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _fejer(n: int):
    """Fejér's first rule on (−1, 1): nodes (ascending), weights, and the linear map node values ->
    Chebyshev coefficients of the interpolant's antiderivative that vanishes at −1 (so it is a CDF)."""
    from numpy.polynomial import chebyshev as C

    theta = (2.0 * np.arange(n, 0, -1) - 1.0) * np.pi / (2.0 * n)  # ascending x = cos θ
    x = np.cos(theta)
    ell = np.arange(1, n // 2 + 1)
    w = (2.0 / n) * (1.0 - 2.0 * (np.cos(2.0 * np.outer(theta, ell)) / (4.0 * ell**2 - 1.0)).sum(axis=1))
    T = np.cos(np.outer(np.arange(n), theta))  # T_l(x_j), (n, n)
    coef = (2.0 / n) * T
    coef[0] *= 0.5  # values -> Chebyshev coefficients: c = coef @ f
    anti = C.chebint(np.eye(n), lbnd=-1.0, axis=0)  # (n+1, n): coefficients -> antiderivative coefficients
    cdf_map = anti @ coef  # (n+1, n)
    for arr in (x, w, cdf_map):
        arr.setflags(write=False)
    return x, w, cdf_map


def _cheb_eval(d: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Σ_l d[..., l] T_l(x[..., q]) -> (..., q), for x in [−1, 1]."""
    th = np.arccos(np.clip(x, -1.0, 1.0))
    return np.einsum("...l,...ql->...q", d, np.cos(th[..., None] * np.arange(d.shape[-1])))


def _cheb_eval_pdf(d: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Derivative of Σ d_l T_l at x: Σ d_l l U_{l−1}(x) = Σ d_l l sin(lθ)/sin θ."""
    th = np.arccos(np.clip(x, -1.0 + 1e-15, 1.0 - 1e-15))
    ell = np.arange(d.shape[-1])
    return np.einsum("...l,...ql->...q", d * ell, np.sin(th[..., None] * ell)) / np.sin(th)


def _invert(fun, p, lo, hi, x0, tol=1e-10, ftol=1e-13, max_iter=200):
    """Solve F(x) = p for increasing F by Newton steps kept inside a shrinking bracket [lo, hi].

    ``fun(x)`` returns (F(x), F'(x)); all arrays broadcast. A Newton step that leaves the bracket or
    does not reduce |F − p| by half is replaced by bisection, so the iteration always converges. It
    stops when |F − p| ≤ ftol (rounding level of a CDF) or the step is below tol·(1 + |x|).
    """
    lo = np.array(lo, dtype=float)
    hi = np.array(hi, dtype=float)
    x = np.clip(np.array(x0, dtype=float), lo, hi)
    lo, hi, x, p = np.broadcast_arrays(lo, hi, x, p)
    lo, hi, x = lo.copy(), hi.copy(), x.copy()
    r_prev = np.full(x.shape, np.inf)
    for _ in range(max_iter):
        F, f = fun(x)
        r = F - p
        if np.all(np.abs(r) <= ftol):
            break
        lo = np.where(r < 0, x, lo)
        hi = np.where(r > 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x - r / f
        bad = ~np.isfinite(xn) | (xn <= lo) | (xn >= hi) | (np.abs(r) > 0.5 * np.abs(r_prev))
        xn = np.where(bad, 0.5 * (lo + hi), xn)
        xn = np.where(np.abs(r) <= ftol, x, xn)
        r_prev = np.where(bad, np.inf, r)
        step = np.abs(xn - x)
        x = xn
        if np.all(step <= tol * (1.0 + np.abs(x))):
            break
    return x


def _shortest(ev, level, lo, hi, max_iter=60):
    """Shortest interval of probability ``level`` of a unimodal density, from the central one (lo, hi).

    Newton on F(b) − F(a) = level, log f(a) = log f(b). ``ev(x[..., 2])`` -> (F, f, d log f/dx) at
    both ends at once.
    """
    a, b = np.array(lo, dtype=float), np.array(hi, dtype=float)
    for _ in range(max_iter):
        F, f, g = ev(np.stack([a, b], axis=-1))
        Fa, Fb, fa, fb, ga, gb = F[..., 0], F[..., 1], f[..., 0], f[..., 1], g[..., 0], g[..., 1]
        r1 = Fb - Fa - level
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.log(fa) - np.log(fb)
            det = fa * gb - fb * ga  # Jacobian [[-fa, fb], [ga, -gb]]
            da = (gb * r1 + fb * r2) / det
            db = (ga * r1 + fa * r2) / det
        width = b - a
        ok = np.isfinite(da) & np.isfinite(db)
        da = np.where(ok, np.clip(da, -0.25 * width, 0.25 * width), 0.0)
        db = np.where(ok, np.clip(db, -0.25 * width, 0.25 * width), 0.0)
        a, b = a + da, b + db
        if np.all(np.abs(da) + np.abs(db) <= 1e-10 * (1.0 + np.abs(a) + np.abs(b))):
            break
    return a, b


def _mix_cdf_pdf(x, w, m, s):
    """CDF and density at x[..., q] of the normal mixture Σ_j w_j N(m_j, s_j²) (arrays (..., n))."""
    z = (x[..., :, None] - m[..., None, :]) / s[..., None, :]
    F = (w[..., None, :] * ndtr(z)).sum(-1)
    f = (w[..., None, :] * np.exp(-0.5 * z * z) / s[..., None, :]).sum(-1) / math.sqrt(2 * math.pi)
    return F, f


def _mix_ev(x, w, m, s):
    """CDF, density and d log density/dx of a normal mixture at x[..., q]."""
    z = (x[..., :, None] - m[..., None, :]) / s[..., None, :]
    F = (w[..., None, :] * ndtr(z)).sum(-1)
    phi = w[..., None, :] * np.exp(-0.5 * z * z) / s[..., None, :]
    f = phi.sum(-1)
    return F, f / math.sqrt(2 * math.pi), (phi * (-z / s[..., None, :])).sum(-1) / f


def _mix_quantiles(p, w, m, s):
    """Quantiles p (q,) of Σ w_j N(m_j, s_j²): bracketed by the components' own quantiles."""
    p = np.asarray(p, dtype=float)
    zq = ndtri(p)
    live = w > 1e-300
    comp = m[..., None, :] + s[..., None, :] * zq[:, None]  # (..., q, n)
    lo = np.where(live[..., None, :], comp, np.inf).min(-1)
    hi = np.where(live[..., None, :], comp, -np.inf).max(-1)
    mean = (w * m).sum(-1)
    sd = np.sqrt((w * (s * s + m * m)).sum(-1) - mean**2)
    x0 = np.nan_to_num(mean[..., None] + sd[..., None] * zq)  # moments may not exist (heavy tails)
    pad = 1e-9 * (1.0 + np.abs(hi - lo))
    return _invert(lambda x: _mix_cdf_pdf(x, w, m, s), p, lo - pad, hi + pad, x0)


def _mix_summaries(w, m, s, level, *, shortest=False):
    """Median, mean, sd, central (and optionally shortest) interval of a normal mixture."""
    a = 0.5 * (1.0 - level)
    q = _mix_quantiles(np.array([0.5, a, 1.0 - a]), w, m, s)
    mean = (w * m).sum(-1)
    var = (w * (s * s + m * m)).sum(-1) - mean**2
    out = {
        "median": q[..., 0],
        "mean": mean,
        "sd": np.sqrt(np.maximum(var, 0.0)),
        "low": q[..., 1],
        "high": q[..., 2],
    }
    if shortest:
        ends = _shortest(lambda x: _mix_ev(x, w, m, s), level, q[..., 1], q[..., 2])
        out["short_low"], out["short_high"] = ends
    return out


# ----------------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------------
def _where(lead: tuple[int, ...], flat: int) -> str:
    return "" if not lead else f"analysis {tuple(int(i) for i in np.unravel_index(flat, lead))}, "


# Peak bytes per element of the arrays the chunk sizes below count, measured with tracemalloc (k = 20 to 10^5,
# single analyses and stacks): some 16 float64 temporaries per (τ node, study) element in the normal–normal
# model (the chunk size counts 4); in the binomial–normal one about 7.6 bytes per (τ node, μ point, study,
# AGQ node + 4) element (k = 6 to 1,000, since the mode search stopped copying its arrays every round),
# counted as 9.
_NN_BYTES_PER_ELEMENT = 16 * 8
_BN_BYTES_PER_ELEMENT = 9


def _working_memory(model: str, m: int, k: int) -> int:
    """Peak bytes of a fit of ``m`` analyses of ``k`` studies: its largest chunk of analyses."""
    if model == "NN":
        per = _N_TAU_NN * (k + 1)
        return min(m, max(1, _CHUNK // (per * 4))) * per * _NN_BYTES_PER_ELEMENT
    per = _N_TAU_BN * len(_grid(_H_MU, _T_MU)) * k * (_AGQ_NODES + 4)
    return min(m, max(1, _CHUNK // per)) * per * _BN_BYTES_PER_ELEMENT


def _check_memory(model: str, m: int, k: int) -> None:
    """Refuse before fitting a model that would not fit in memory."""
    if model == "NN":
        what, instead = "normal-normal", "pool them by REML, or in smaller sets"
    else:
        what, instead = (
            "binomial-normal",
            "use the normal-normal model (BAYES) or the GLMM, or pool smaller sets",
        )
    check_memory(_working_memory(model, m, k), f"a Bayesian {what} model with k = {k} studies", instead)


def _check_level(level) -> float:
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise InputError(f"level: must be a number strictly between 0 and 1, not {level!r}") from None
    if not 0.0 < lv < 1.0:
        raise InputError(f"level: must be a number strictly between 0 and 1, not {level!r}")
    return lv


def _check_threshold(threshold) -> float | None:
    if threshold is None:
        return None
    try:
        c = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"threshold: expected a number, got {threshold!r}") from None
    if not math.isfinite(c):
        raise InputError(f"threshold: expected a finite number, got {threshold!r}")
    return c


def _priors(tau_prior, mu_prior, k: int, *, model: str) -> tuple[TauPrior, MuPrior, list[str]]:
    tp = parse_tau_prior(tau_prior)
    mp = parse_mu_prior(mu_prior)
    notes: list[str] = []
    if isinstance(tp, Uniform):
        if k <= 3:
            raise InputError(
                f"tau_prior: a uniform prior on tau is refused with k = {k} <= 3 studies "
                "(bayesmeta warns that results can be invalid for small k); "
                "use e.g. 'halfnormal:0.5'"
            )
        if model == "BN" and not tp.proper:
            raise InputError(
                "tau_prior: the binomial-normal model needs a proper tau prior; "
                "give 'uniform:U' with a finite U, or a half-normal prior"
            )
        notes.append(
            f"tau prior {tp.label}: uniform heterogeneity priors can give misleading results "
            "with few studies (Röver 2020); prefer a half-normal prior"
        )
    if k == 1:
        notes.append("k = 1: tau is not identified by the data; its posterior is essentially the prior")
    elif k == 2:
        notes.append("k = 2: the posterior of tau is dominated by its prior")
    return tp, mp, notes


def _moments_exist(a: float, flat_mu: bool) -> dict[str, bool]:
    """Which posterior moments are finite when p(τ | data) ~ τ^(−a) in the tail."""
    return {
        "tau_mean": a > 2,
        "tau_sd": a > 3,
        "mean": a > 2 or not flat_mu,
        "sd": a > 3 or not flat_mu,
        "pred_mean": a > 2,
        "pred_sd": a > 3,
    }


def _moment_warnings(exist: dict[str, bool], a: float) -> list[str]:
    gone = [name for name, ok in exist.items() if not ok]
    if not gone:
        return []
    return [
        f"the posterior has a heavy tail in tau (density ~ tau^-{a:g}): {', '.join(gone)} "
        "do not exist and are reported as NaN; use medians and intervals"
    ]


# ----------------------------------------------------------------------------------------------------
# normal–normal model
# ----------------------------------------------------------------------------------------------------
def _nn_loglik(tau, y, v, mp: MuPrior):
    """log p(y | τ) up to a constant (μ integrated out) and the conditional mean and variance of μ.

    Röver 2020, eq. (8): −½[Σ log(σ_i²+τ²) + Σ (y_i − μ̂)²/(σ_i²+τ²) + log Σ 1/(σ_i²+τ²)], with a normal
    μ prior entering as a pseudo-study (mean, sd²) without τ. tau (m, n); y, v (m, k).
    """
    w = 1.0 / (v[:, None, :] + (tau * tau)[..., None])
    sw = w.sum(-1)
    swy = (w * y[:, None, :]).sum(-1)
    if isinstance(mp, NormalMu):
        w0 = 1.0 / mp.sd**2
        sw = sw + w0
        swy = swy + w0 * mp.mean
    M = swy / sw
    Q = (w * (y[:, None, :] - M[..., None]) ** 2).sum(-1)
    if isinstance(mp, NormalMu):
        Q = Q + w0 * (mp.mean - M) ** 2
    ll = 0.5 * np.log(w).sum(-1) - 0.5 * Q - 0.5 * np.log(sw)
    return ll, M, 1.0 / sw


def _tau_map(c, beta, upper, n):
    """Fejér nodes in x ∈ (−1, 1) mapped to τ = c·(u/(1 − u))^β, u = u_max·(x + 1)/2.

    c is about the posterior median; β ≤ 1 is about the posterior SD of log τ, so that a posterior
    peaked away from 0 is spread over the whole rule (β = 1 when there is mass near τ = 0, where the
    map is then smooth). A bounded prior U(0, U) ends the rule at u_max = u(U).
    Returns τ, log(quadrature weight · dτ/dx) and u_max, all (m, n) or (m, 1).
    """
    x, w, _ = _fejer(n)
    c, beta = c[..., None], beta[..., None]
    bounded = np.isfinite(upper)[..., None]
    ratio = np.where(bounded, c / np.where(bounded, upper[..., None], 1.0), 0.0)
    umax = 1.0 / (1.0 + ratio ** (1.0 / beta))
    u = umax * 0.5 * (x + 1.0)
    tau = c * np.exp(beta * (np.log(u) - np.log1p(-u)))
    log_jac = np.log(0.5 * umax * beta) + np.log(tau) - np.log(u) - np.log1p(-u)
    return tau, log_jac + np.log(w), umax


def _tau_from_x(x, c, beta, umax):
    u = umax * 0.5 * (x + 1.0)
    return c[..., None] * np.exp(beta[..., None] * (np.log(u) - np.log1p(-u)))


def _tau_summaries(W, tau, c, beta, umax, level, n):
    """Mean, sd and quantiles of τ from normalised node weights W (m, n)."""
    x, w, cdf_map = _fejer(n)
    d = (W / w) @ cdf_map.T  # antiderivative coefficients, (m, n+1)
    a = 0.5 * (1.0 - level)
    p = np.array([0.5, a, 1.0 - a])
    cum = np.cumsum(W, axis=-1)
    idx = np.clip((cum[:, None, :] < p[:, None]).sum(-1), 0, n - 1)  # first node with cum >= p
    x0 = x[idx]
    xq = _invert(lambda t: (_cheb_eval(d, t), _cheb_eval_pdf(d, t)), p, -1.0, 1.0, x0)
    tq = _tau_from_x(xq, c, beta, umax)
    mean = (W * tau).sum(-1)
    sd = np.sqrt(np.maximum((W * tau * tau).sum(-1) - mean**2, 0.0))
    tail = np.abs(d[:, -4:]).max(-1)  # Chebyshev coefficients that have not decayed: the rule is too coarse
    lt = np.log(tau)
    lmean = (W * lt).sum(-1)
    lsd = np.sqrt(np.maximum((W * lt * lt).sum(-1) - lmean**2, 0.0))  # SD of log τ, to set β
    return {
        "median": tq[:, 0],
        "low": tq[:, 1],
        "high": tq[:, 2],
        "mean": mean,
        "sd": sd,
        "tail": tail,
        "logsd": lsd,
    }


def _nn_scale(y, v, tp: TauPrior, mp: MuPrior):
    """Coarse posterior median of τ and SD of log τ (log-spaced grid): c and β of the τ map.

    The grid runs from 1e-4 of the smallest to 1e2 of the largest of: the standard errors, the spread
    of the y_i and the prior's median, so that it holds the posterior whichever of them dominates.
    """
    pm = tp.median if math.isfinite(tp.median) else np.nan
    spread = y.std(-1)
    scales = np.stack([np.sqrt(v.min(-1)), np.sqrt(v.max(-1)), spread, np.full(len(y), pm)], -1)
    lo = np.nanmin(np.where(scales > 0, scales, np.nan), -1)
    hi = np.nanmax(scales, -1)
    grid = np.exp(np.log(1e-4 * lo)[:, None] + np.linspace(0.0, 1.0, 121) * np.log(1e6 * hi / lo)[:, None])
    ll, _, _ = _nn_loglik(grid, y, v, mp)
    lp = tp.logpdf(grid) + ll + np.log(grid)  # mass per d(log τ); the first cell also stands for [0, τ_0]
    p = np.exp(lp - lp.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    idx = (np.cumsum(p, -1) < 0.5).sum(-1)
    c = grid[np.arange(len(grid)), np.minimum(idx, grid.shape[1] - 1)]
    if isinstance(tp, Uniform) and tp.proper:
        c = np.minimum(c, 0.5 * tp.upper)
    lg = np.log(grid)
    lsd = np.sqrt(np.maximum((p * lg * lg).sum(-1) - (p * lg).sum(-1) ** 2, 0.0))
    return c, _beta(lsd)


def _beta(logsd):
    """β of the τ map from the SD of log τ: 1 unless the posterior is peaked well away from 0."""
    return np.clip(logsd, 0.05, 1.0)


def _nn_core(y, v, tp: TauPrior, mp: MuPrior, level: float, threshold: float | None, n: int = _N_TAU_NN):
    m = y.shape[0]
    c, beta = _nn_scale(y, v, tp, mp)
    upper = np.full(m, tp.upper if isinstance(tp, Uniform) else np.inf)
    tau, log_q, umax = _tau_map(c, beta, upper, n)
    ll, M, V = _nn_loglik(tau, y, v, mp)
    lp = tp.logpdf(tau) + ll + log_q
    W = np.exp(lp - logsumexp(lp, axis=-1, keepdims=True))
    out = {f"tau_{key}": val for key, val in _tau_summaries(W, tau, c, beta, umax, level, n).items()}
    mu = _mix_summaries(W, M, np.sqrt(V), level, shortest=True)
    pred = _mix_summaries(W, M, np.sqrt(V + tau * tau), level, shortest=True)
    for key, val in mu.items():
        out["mu_" + key] = val
    for key, val in pred.items():
        out["pred_" + key] = val
    if threshold is not None:
        out["p_below"] = _mix_cdf_pdf(np.full((m, 1), threshold), W, M, np.sqrt(V))[0][:, 0]
    # shrinkage: θ_i | τ, y ~ N((1−B)y_i + B μ̂, σ_i²τ²/(σ_i²+τ²) + B² V), B = σ_i²/(σ_i²+τ²)
    t2 = (tau * tau)[:, None, :]
    vi = v[:, :, None]
    B = vi / (vi + t2)
    sm = (1.0 - B) * y[:, :, None] + B * M[:, None, :]
    ss = np.sqrt(vi * t2 / (vi + t2) + B * B * V[:, None, :])
    sh = _mix_summaries(np.broadcast_to(W[:, None, :], sm.shape), sm, ss, level)
    for key, val in sh.items():
        out["shrink_" + key] = val
    return out


def _check_nn_data(yi, vi, sei):
    y = np.asarray(yi, dtype=float)
    if y.ndim == 0:
        raise InputError("yi: expected an array of study effects, got a scalar")
    if (vi is None) == (sei is None):
        raise InputError("vi, sei: give exactly one of the sampling variances vi or the standard errors sei")
    name = "vi" if vi is not None else "sei"
    s = np.asarray(vi if vi is not None else sei, dtype=float)
    if s.shape != y.shape:
        raise InputError(f"{name}: shape {s.shape} does not match yi {y.shape}")
    k = y.shape[-1]
    if k == 0:
        raise InputError("yi: no studies (k = 0)")
    lead = y.shape[:-1]
    y2, s2 = y.reshape(-1, k), s.reshape(-1, k)
    bad = ~np.isfinite(y2)
    if bad.any():
        a, i = np.argwhere(bad)[0]
        raise InputError(f"yi: {_where(lead, a)}study {i} is {y2[a, i]} (must be finite)")
    bad = ~(np.isfinite(s2) & (s2 > 0))
    if bad.any():
        a, i = np.argwhere(bad)[0]
        raise InputError(f"{name}: {_where(lead, a)}study {i} is {s2[a, i]} (must be finite and > 0)")
    v2 = s2 * s2 if name == "sei" else s2
    return y2, v2, lead


def bayes_nn(
    yi,
    vi=None,
    *,
    sei=None,
    tau_prior: str | TauPrior,
    mu_prior: str | MuPrior = "flat",
    level: float = 0.95,
    threshold: float | None = None,
) -> BayesResult:
    """Bayesian normal–normal random-effects meta-analysis (Röver 2020), integrated deterministically.

    Give the sampling variances ``vi`` or the standard errors ``sei``. ``tau_prior``: a prior object or
    'halfnormal:S', 'halfcauchy:S', 'halft:S:DF', 'uniform:U' (U may be 'inf', bayesmeta's improper
    default; uniform priors are refused for k ≤ 3 and warned about otherwise); ``mu_prior``: 'flat' or
    'normal:M:S'. ``threshold``: also report P(μ < threshold).

    Properness: with a flat μ prior, p(y | τ) ∝ Π(σ_i²+τ²)^−½ (Σ w_i)^−½ exp(−Q/2) is bounded and decays
    like τ^−(k−1), so any proper τ prior gives a proper posterior for every k ≥ 1 (for k = 1 the τ
    posterior is the prior itself). Moments need more: E τ^r exists iff the tail exponent of p(τ | y)
    exceeds r + 1, so e.g. a half-Cauchy prior with k = 1 has no posterior mean of τ or μ; such
    moments are NaN (None in ``to_dict``) with a warning.
    """
    y, v, lead = _check_nn_data(yi, vi, sei)
    _check_memory("NN", len(y), y.shape[-1])
    level = _check_level(level)
    threshold = _check_threshold(threshold)
    k = y.shape[-1]
    tp, mp, notes = _priors(tau_prior, mu_prior, k, model="NN")
    flat = isinstance(mp, FlatMu)
    # p(τ | y) ~ p(τ)·τ^−(k−1) as τ → ∞ (flat μ: Π (σ²+τ²)^−½ · (Σw)^−½), p(τ)·τ^−k with a normal μ prior
    a = tp.tail + (k - 1 if flat else k)
    exist = _moments_exist(a, flat)
    notes += _moment_warnings(exist, a)
    step = max(1, _CHUNK // (_N_TAU_NN * (k + 1) * 4))
    parts = [
        _nn_core(y[i : i + step], v[i : i + step], tp, mp, level, threshold) for i in range(0, len(y), step)
    ]
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    notes += _tail_warning(out, lead)
    return _assemble("NN", k, level, tp, mp, out, exist, threshold, lead, notes)


def _tail_warning(out, lead) -> list[str]:
    bad = out["tau_tail"] > _TAIL
    if not bad.any():
        return []
    where = "" if not lead else f" in analyses {np.flatnonzero(bad).tolist()}"
    return [
        f"tau integration{where}: the quadrature rule does not resolve the posterior of tau well; "
        "results may be inaccurate (is the tau prior far narrower than the spread of the data?)"
    ]


def _assemble(model, k, level, tp, mp, out, exist, threshold, lead, notes) -> BayesResult:
    def g(key, exists=True):
        val = out[key].reshape(lead + out[key].shape[1:])
        ok = np.broadcast_to(np.asarray(exists), (int(np.prod(lead, dtype=int)),)).reshape(lead)
        val = np.where(ok.reshape(ok.shape + (1,) * (val.ndim - ok.ndim)), val, np.nan)
        val.setflags(write=False)
        return val if val.ndim else val[()]

    return BayesResult(
        model=model,
        k=k,
        level=level,
        tau_prior=tp.label,
        mu_prior=mp.label,
        estimate=g("mu_median"),
        mean=g("mu_mean", exist["mean"]),
        sd=g("mu_sd", exist["sd"]),
        ci_low=g("mu_low"),
        ci_high=g("mu_high"),
        ci_shortest_low=g("mu_short_low"),
        ci_shortest_high=g("mu_short_high"),
        tau_median=g("tau_median"),
        tau_mean=g("tau_mean", exist["tau_mean"]),
        tau_sd=g("tau_sd", exist["tau_sd"]),
        tau_ci_low=g("tau_low"),
        tau_ci_high=g("tau_high"),
        pred_median=g("pred_median"),
        pred_mean=g("pred_mean", exist["pred_mean"]),
        pred_sd=g("pred_sd", exist["pred_sd"]),
        pi_low=g("pred_low"),
        pi_high=g("pred_high"),
        pi_shortest_low=g("pred_short_low"),
        pi_shortest_high=g("pred_short_high"),
        threshold=threshold,
        p_below=g("p_below") if threshold is not None else None,
        shrink_median=g("shrink_median"),
        shrink_mean=g("shrink_mean"),
        shrink_sd=g("shrink_sd"),
        shrink_low=g("shrink_low"),
        shrink_high=g("shrink_high"),
        warnings=tuple(notes),
    )


# ----------------------------------------------------------------------------------------------------
# binomial–normal model
# ----------------------------------------------------------------------------------------------------
def _grid(h: float, T: float) -> np.ndarray:
    g = np.arange(-round(T / h), round(T / h) + 1) * h
    g.setflags(write=False)
    return g


@functools.lru_cache(maxsize=4)
def _gh_prob(q: int):
    """Gauss–Hermite rule for E f(Z), Z ~ N(0, 1): nodes z and weights summing to 1."""
    t, w = np.polynomial.hermite.hermgauss(q)
    return np.sqrt(2.0) * t, w / w.sum()


def _sinh_t(x, m, s):
    return _A * np.arcsinh((x - m) / (_A * s))


def _sinh_dt(x, m, s):
    """dt/dx of t = A asinh((x − m)/(A s))."""
    r = (x - m) / (_A * s)
    return 1.0 / (s * np.sqrt(1.0 + r * r))


def _live(weights, tiny=1e-16):
    """Index of the nodes (axis −2) and contiguous grid range (axis −1) holding any atom ≥ tiny."""
    live = weights >= tiny
    j = np.flatnonzero(live.any(axis=(0, 2)))
    g = np.flatnonzero(live.any(axis=(0, 1)))
    G = weights.shape[-1]
    lo, hi = (g[0], g[-1]) if g.size else (0, G - 1)
    lo, hi = max(0, min(lo, hi - 5)), min(G - 1, max(hi, lo + 5))  # ≥ 6 points for the Lagrange rule
    return (j if j.size else np.arange(weights.shape[-2])), slice(lo, hi + 1)


class _SincMixture:
    """A density given as Σ_j (node j's density), each sampled on its own grid x = c_j + S_j·A·sinh(t/A),
    t = tg (spacing h), with atom weights W[..., j, g] = h · (t-density) (they sum to the total mass).

    The trapezoid rule on such a grid is spectrally accurate; the sinc interpolant of the t-density
    integrates in closed form (Stenger 1993): ∫_{−∞}^{t} sinc((s − t_g)/h) ds = h(½ + Si(π(t − t_g)/h)/π),
    which gives the CDF at any point without a further quadrature.
    """

    def __init__(self, centre, scale, W, tg, h):
        # drop nodes and grid ends whose atoms all weigh < 1e-16 (the total is 1): they change nothing
        j, g = _live(W)
        self.c, self.S, self.W, self.tg, self.h = centre[:, j], scale[:, j], W[:, j, g], tg[g], h
        self.x = self.c[..., None] + self.S[..., None] * _A * np.sinh(self.tg / _A)

    def cdf_pdf(self, q):
        """F and f at q[m, Q]."""
        c, S = self.c[:, None, :], self.S[:, None, :]
        tq = _sinh_t(q[..., None], c, S)
        u = (tq[..., None] - self.tg) / self.h  # (m, Q, J, G)
        Wb = self.W[:, None]
        F = (Wb * (0.5 + sici(np.pi * u)[0] / np.pi)).sum((-2, -1))
        f = ((Wb * np.sinc(u)).sum(-1) * _sinh_dt(q[..., None], c, S)).sum(-1) / self.h
        return F, f

    def moments(self):
        mean = (self.W * self.x).sum((-2, -1))
        var = (self.W * self.x * self.x).sum((-2, -1)) - mean**2
        return mean, np.sqrt(np.maximum(var, 0.0))

    def summaries(self, level, *, shortest=False, threshold=None):
        mean, sd = self.moments()
        a = 0.5 * (1.0 - level)
        p = np.array([0.5, a, 1.0 - a])
        live = self.W > 1e-14
        pad = self.S.max(-1)[:, None]
        lo = np.where(live, self.x, np.inf).min((-2, -1))[:, None] - pad
        hi = np.where(live, self.x, -np.inf).max((-2, -1))[:, None] + pad
        q = _invert(self.cdf_pdf, p, lo, hi, mean[:, None] + sd[:, None] * ndtri(p))
        out = {"median": q[:, 0], "low": q[:, 1], "high": q[:, 2], "mean": mean, "sd": sd}
        if shortest:
            d = 1e-4 * sd[:, None]

            def ev(x):  # (m, 2): F, f and d log f/dx by central differences, one call
                F, f = self.cdf_pdf(np.concatenate([x, x - d, x + d], axis=-1))
                return F[:, :2], f[:, :2], (np.log(f[:, 4:]) - np.log(f[:, 2:4])) / (2 * d)

            out["short_low"], out["short_high"] = _shortest(ev, level, q[:, 1], q[:, 2])
        if threshold is not None:
            out["p_below"] = self.cdf_pdf(np.full((len(mean), 1), threshold))[0][:, 0]
        return out


def _node_grid(logdens, centre, scale, mass, tg, h):
    """Per-node θ grids: log density values (m, J, P) -> _SincMixture whose node j carries mass[j]."""
    lw = logdens + np.log(h * scale[..., None] * np.cosh(tg / _A))
    lw = lw - logsumexp(lw, axis=-1, keepdims=True)
    edge = np.maximum(lw[..., 0], lw[..., -1]) - lw.max(-1)
    edge = np.where(mass > 1e-8, edge, -np.inf).max(-1)
    return _SincMixture(centre, scale, mass[..., None] * np.exp(lw), tg, h), edge


_LAGRANGE_DEN = np.array([-120.0, 24.0, -12.0, 12.0, -24.0, 120.0])  # Π_{b≠a} (a − b), a = 0..5


def _lagrange_log(vals, tq, tg, h):
    """6-point Lagrange interpolation of vals[N, G] (sampled on tg) at tq[N, ...]; −inf off the grid."""
    G = tg.size
    pos = (tq - tg[0]) / h
    inside = (pos >= 0) & (pos <= G - 1)
    i0 = np.clip(np.floor(np.where(inside, pos, 0.0)).astype(np.int64) - 2, 0, G - 6)
    d = [pos - i0 - b for b in range(6)]
    left = [np.ones(tq.shape)]
    for b in range(5):
        left.append(left[-1] * d[b])
    right = np.ones(tq.shape)
    n_idx = np.arange(vals.shape[0]).reshape((-1,) + (1,) * (tq.ndim - 1))
    out = np.zeros(tq.shape)
    for a in range(5, -1, -1):
        out += left[a] * right * (vals[n_idx, i0 + a] / _LAGRANGE_DEN[a])
        right = right * d[a]
    return np.where(inside, out, -np.inf)


def _lse(x, axis=-1):
    """log Σ exp(x) along an axis (rows of −inf give −inf); a lean scipy.special.logsumexp."""
    mx = np.max(x, axis=axis, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x - mx), axis=axis)) + np.squeeze(mx, axis=axis)


def _bn_modes(x, n, tau, mp: MuPrior, mu0):
    """Conditional mode of μ given each τ node, and the curvature scale s = (−∂²/∂μ² log p)^(−1/2) there.

    Newton steps on finite differences of the AGQ log-likelihood, kept inside a bracket of the
    gradient's sign changes (the conditional posterior of μ is log-concave, Prékopa 1973). Only an
    approximate mode is needed (it centres a wide grid), so iteration stops at 1e-3 s.
    """
    d = 1e-3
    offs = np.array([-d, 0.0, d])
    mu = mu0.copy()
    lo = np.full(mu.shape, -np.inf)
    hi = np.full(mu.shape, np.inf)
    s = np.ones(mu.shape)
    for _ in range(60):
        pts = mu[..., None] + offs
        ll = _log_marginal(x[:, None, None, :], n[:, None, None, :], pts[..., None], tau[..., None, None])
        ll = ll.sum(-1) + _mu_logprior(mp, pts)
        g = (ll[..., 2] - ll[..., 0]) / (2 * d)
        H = (ll[..., 2] - 2 * ll[..., 1] + ll[..., 0]) / (d * d)
        lo = np.where(g > 0, mu, lo)
        hi = np.where(g < 0, mu, hi)
        cap = 2.0 + 2.0 * tau
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(H < 0, -g / H, np.sign(g) * cap)
        step = np.clip(np.nan_to_num(step), -cap, cap)
        new = mu + step
        both = np.isfinite(lo) & np.isfinite(hi)
        with np.errstate(invalid="ignore"):
            new = np.where(both & ((new <= lo) | (new >= hi)), 0.5 * (lo + hi), new)
        s = 1.0 / np.sqrt(np.maximum(-H, 1e-12))
        done = np.abs(new - mu) <= 1e-3 * s
        mu = new
        if done.all():
            break
    return mu, np.minimum(s, 1e6)


def _log_marginal(x, n, mu, tau):
    from metablina.stats.agq import log_marginal

    return log_marginal(x, n, mu, tau, nodes=_AGQ_NODES)


def _mu_logprior(mp: MuPrior, mu):
    return mp.logpdf(mu) if isinstance(mp, NormalMu) else np.zeros(np.shape(mu))


def _conv_logdensity(theta, logw, mu_g, tau, mode, s, tg):
    """log of node j's Σ_g w_jg N(θ; μ_jg, τ_j²) at its own points theta[m, J, P].

    Nodes with τ ≥ κ s: the atoms themselves (the grid resolves the normal kernel). Nodes with smaller
    τ: E_z f_j(θ − τ_j z) by Gauss–Hermite, with f_j the node's μ-density interpolated (in log) from
    the grid. Each branch is computed only on its own nodes.
    """
    h = tg[1] - tg[0]
    out = np.empty(theta.shape)
    big = tau >= _KAPPA * s
    ia, ib = np.nonzero(big), np.nonzero(~big)
    if ia[0].size:
        t = tau[ia]
        z = (theta[ia][:, :, None] - mu_g[ia][:, None, :]) / t[:, None, None]
        out[ia] = _lse(logw[ia][:, None, :] - 0.5 * z * z) - np.log(t)[:, None] - 0.5 * _LOG_2PI
    if ib[0].size:
        zq, wq = _gh_prob(_GH_Z)
        pts = theta[ib][..., None] - tau[ib][:, None, None] * zq  # (nB, P, Q)
        ms, ss = mode[ib][:, None, None], s[ib][:, None, None]
        lf = _lagrange_log(logw[ib] - math.log(h), _sinh_t(pts, ms, ss), tg, h)
        out[ib] = _lse(lf + np.log(_sinh_dt(pts, ms, ss)) + np.log(wq))
    return out


def _node_modes(logdens, x0, s0):
    """Mode and curvature scale of each node's 1-D log density ``logdens(x[m, J, P])``, from x0 with scale s0.

    Newton on central differences, steps capped at 3·s0 and kept in the bracket of gradient sign
    changes; the mode only centres a grid, so 20 steps or a step below 0.02 of the scale suffice.
    Where the curvature is not negative the starting scale is kept.
    """
    x = x0.copy()
    lo = np.full(x.shape, -np.inf)
    hi = np.full(x.shape, np.inf)
    scale = s0.copy()
    for _ in range(20):
        d = 1e-3 * s0
        f = logdens(x[..., None] + d[..., None] * np.array([-1.0, 0.0, 1.0]))
        g = (f[..., 2] - f[..., 0]) / (2 * d)
        H = (f[..., 2] - 2 * f[..., 1] + f[..., 0]) / (d * d)
        ok = np.isfinite(g) & np.isfinite(H)
        lo = np.where(ok & (g > 0), x, lo)
        hi = np.where(ok & (g < 0), x, hi)
        cap = 3.0 * s0
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(ok & (H < 0), -g / H, np.sign(g) * cap)
        step = np.clip(np.nan_to_num(step), -cap, cap)
        new = x + step
        both = np.isfinite(lo) & np.isfinite(hi)
        with np.errstate(invalid="ignore"):
            new = np.where(both & ((new <= lo) | (new >= hi)), 0.5 * (lo + hi), new)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(ok & (H < 0), 1.0 / np.sqrt(-H), s0)
        done = ~ok | (np.abs(new - x) <= 0.02 * scale)
        x = np.where(ok, new, x)
        if done.all():
            break
    return x, np.clip(scale, 1e-4 * s0, s0)


def _bn_start(x, n, tau, mp: MuPrior):
    """Starting μ for each τ node: the normal–normal conditional mean of the logits (0.5 added to all)."""
    y = np.log(x + 0.5) - np.log(n - x + 0.5)
    v = 1.0 / (x + 0.5) + 1.0 / (n - x + 0.5)
    _, M, _ = _nn_loglik(tau, y, v, mp)
    return M


def _bn_core(x, n, tp: TauPrior, mp: MuPrior, level, threshold, c, beta, shrinkage=True, predictive=True):
    from scipy.special import gammaln

    from metablina.stats.agq import log_binom_kernel

    m, k = x.shape
    J = _N_TAU_BN
    tg = _grid(_H_MU, _T_MU)
    tt = _grid(_H_TH, _T_TH)
    upper = np.full(m, tp.upper if isinstance(tp, Uniform) else np.inf)
    tau, log_q, umax = _tau_map(c, beta, upper, J)
    mode, s = _bn_modes(x, n, tau, mp, _bn_start(x, n, tau, mp))
    dmu_dt = s[..., None] * np.cosh(tg / _A)
    mu_g = mode[..., None] + s[..., None] * _A * np.sinh(tg / _A)  # (m, J, G)
    ll_i = _log_marginal(x[:, None, None, :], n[:, None, None, :], mu_g[..., None], tau[..., None, None])
    lp = ll_i.sum(-1) + _mu_logprior(mp, mu_g) + (tp.logpdf(tau) + log_q)[..., None] + np.log(_H_MU * dmu_dt)
    logW = lp - logsumexp(lp, axis=(-2, -1), keepdims=True)
    W = np.exp(logW)
    D = W.sum(-1)
    out = {f"tau_{key}": val for key, val in _tau_summaries(D, tau, c, beta, umax, level, J).items()}
    row = logsumexp(logW, axis=-1)
    edge = np.maximum(logW[..., 0], logW[..., -1]) - row
    out["edge_mu"] = np.where(D > 1e-8, edge, -np.inf).max(-1)
    # μ: node j's conditional density lives on its own grid
    mix = _SincMixture(mode, s, W, tg, _H_MU)
    mu = mix.summaries(level, shortest=predictive, threshold=threshold)
    for key, val in mu.items():
        out[key if key == "p_below" else "mu_" + key] = val
    out["pred_mean"] = mu["mean"]
    out["pred_sd"] = np.sqrt(mu["sd"] ** 2 + (D * tau * tau).sum(-1))
    # from here on only nodes and atoms that carry mass matter
    j, g = _live(W)
    tau, mode, s, D, tg = tau[:, j], mode[:, j], s[:, j], D[:, j], tg[g]
    logW, mu_g, ll_i = logW[:, j, g], mu_g[:, j, g], ll_i[:, j, g]
    sp = np.sqrt(s * s + tau * tau)
    if predictive:
        # θ_new ~ N(μ, τ²): node j's density on a grid centred at its mode, scale √(s² + τ²)
        theta = mode[..., None] + sp[..., None] * _A * np.sinh(tt / _A)
        ld = _conv_logdensity(theta, logW, mu_g, tau, mode, s, tg)
        pmix, out["pred_edge"] = _node_grid(ld, mode, sp, D, tt, _H_TH)
        for key, val in pmix.summaries(level, shortest=True).items():
            if key not in ("mean", "sd"):  # exact moments above
                out["pred_" + key] = val
    else:
        out["pred_edge"] = np.full(m, -np.inf)
        for key in ("mu_short_low", "mu_short_high", *(f"pred_{q}" for q in _QUANTILE_KEYS)):
            out[key] = np.full(m, np.nan)
    # shrinkage: p(θ_i, τ_j | x) ∝ Bin(x_i | θ) Σ_g (w_jg / L_i) N(θ; μ_jg, τ_j²)  (leave-one-out predictive);
    # each node's grid is centred on the mode of that density and scaled by the curvature there, found by
    # Newton from the node's μ mode with the scale √(s² + τ²) of a new study's θ as the cap.
    sh = {key: np.full((m, k), np.nan) for key in ("median", "low", "high", "mean", "sd")}
    sh_edge = np.full((m, k), -np.inf)
    for i in range(k if shrinkage else 0):  # a loop over studies (k is small), not over analyses
        li = ll_i[..., i]
        xi, ni = x[:, i, None, None], n[:, i, None, None]
        lc = gammaln(ni + 1) - gammaln(xi + 1) - gammaln(ni - xi + 1)

        def logdens(th, xi=xi, ni=ni, lc=lc, li=li):
            return lc + log_binom_kernel(xi, ni, th) + _conv_logdensity(th, logW - li, mu_g, tau, mode, s, tg)

        cen, sc = _node_modes(logdens, mode, sp)
        th = cen[..., None] + sc[..., None] * _A * np.sinh(tt / _A)  # (m, J, P)
        smix, sh_edge[:, i] = _node_grid(logdens(th), cen, sc, D, tt, _H_TH)
        for key, val in smix.summaries(level).items():
            sh[key][:, i] = val
    for key, val in sh.items():
        out["shrink_" + key] = val
    out["shrink_edge"] = sh_edge
    return out


def _check_bn_data(xi, ni):
    try:
        x = np.asarray(xi, dtype=float)
        n = np.asarray(ni, dtype=float)
    except (TypeError, ValueError):
        raise InputError("xi, ni: must be numeric") from None
    if x.ndim == 0:
        raise InputError("xi: expected an array of event counts, got a scalar")
    if n.shape != x.shape:
        raise InputError(f"ni: shape {n.shape} does not match xi {x.shape}")
    k = x.shape[-1]
    if k == 0:
        raise InputError("xi: no studies (k = 0)")
    lead = x.shape[:-1]
    x2, n2 = x.reshape(-1, k), n.reshape(-1, k)
    for name, arr, cond, what in (
        ("ni", n2, lambda a: np.isfinite(a) & (a >= 1) & (a == np.round(a)), "must be a whole number >= 1"),
        ("xi", x2, lambda a: np.isfinite(a) & (a >= 0) & (a == np.round(a)), "must be a whole number >= 0"),
        ("xi", x2, lambda a: ~(a > n2), "exceeds ni"),
    ):
        bad = ~cond(arr)
        if bad.any():
            a, i = np.argwhere(bad)[0]
            raise InputError(f"{name}: {_where(lead, a)}study {i} is {arr[a, i]:g} ({what})")
    return x2, n2, lead


def bayes_bn(
    xi,
    ni,
    *,
    tau_prior: str | TauPrior = "halfnormal:1",
    mu_prior: str | MuPrior = "flat",
    level: float = 0.95,
    threshold: float | None = None,
    shrinkage: bool = True,
    predictive: bool = True,
) -> BayesResult:
    """Bayesian binomial–normal (logit) random-effects model for proportions, exact binomial likelihood.

    x_i ~ Bin(n_i, expit θ_i), θ_i ~ N(μ, τ²) (Stijnen et al. 2010), priors as in :func:`bayes_nn`
    (a uniform τ prior must be bounded here). All summaries, ``threshold`` included, are on the logit
    scale; quantiles back-transform with expit, means do not. θ_new is a new study's logit p.
    HN(1) on τ is this project's default for absolute logit rates (METHODS §1.5: a judgement, not a
    published rule).

    Properness with a flat μ prior: ∫ L_i(μ, τ) dμ = C(n_i, x_i)·B(x_i, n_i − x_i) for every τ when
    0 < x_i < n_i, so one such study makes the posterior proper under any proper τ prior. Without one,
    the studies need ≥ 1 event and ≥ 1 non-event in total, and then ∫ Π L_i dμ grows like τ, so the
    τ prior needs a finite mean (half-Cauchy does not). Calls that fail this are refused with a pointer
    to a normal μ prior, which always gives a proper posterior.

    ``shrinkage=False`` skips the shrunken study estimates (about 40% of the time; their fields are
    NaN and ``to_dict()["shrinkage"]`` is None). ``predictive=False`` skips the predictive distribution
    of a new study's θ and the shortest intervals (about a third of the rest; ``pi_*``,
    ``ci_shortest_*`` and ``pi_shortest_*`` are NaN): a multiverse shows the estimate and its interval.
    """
    x, n, lead = _check_bn_data(xi, ni)
    _check_memory("BN", len(x), x.shape[-1])
    level = _check_level(level)
    threshold = _check_threshold(threshold)
    k = x.shape[-1]
    tp, mp, notes = _priors(tau_prior, mu_prior, k, model="BN")
    flat = isinstance(mp, FlatMu)
    interior = ((x > 0) & (x < n)).sum(-1)
    if flat:
        ev, nonev = x.sum(-1), (n - x).sum(-1)
        bad = (ev < 1) | (nonev < 1)
        if bad.any():
            a = int(np.argmax(bad))
            what = "no events" if ev[a] < 1 else "no non-events"
            raise InputError(
                f"xi: {_where(lead, a)}the studies have {what} in total, so the posterior of mu "
                "is improper under a flat prior; use a normal prior on mu, e.g. "
                "mu_prior='normal:0:10'"
            )
        bad = (interior == 0) & (tp.tail <= 2)
        if bad.any():
            a = int(np.argmax(bad))
            raise InputError(
                f"tau_prior: {_where(lead, a)}every study has 0 or n events and {tp.label} has "
                "no finite mean, so the posterior is improper under a flat mu prior; use a "
                "half-normal tau prior or a normal mu prior"
            )
    # p(τ | x) ~ p(τ)·τ^−a as τ → ∞: L_i ~ 1/τ for a study with 0 < x_i < n_i, O(1) for 0/n and n/n,
    # and a flat μ prior gives back one power of τ (the width of the μ integral)
    a_tail = tp.tail + interior - (1 if flat else 0)
    per_analysis = [_moments_exist(float(aa), flat) for aa in a_tail]
    exist = {key: np.array([e[key] for e in per_analysis]) for key in per_analysis[0]}
    for aa in sorted(set(a_tail.tolist())):
        for msg in _moment_warnings(_moments_exist(float(aa), flat), float(aa)):
            idx = np.flatnonzero(a_tail == aa)
            notes.append(msg if not lead else f"analyses {idx.tolist()}: {msg}")
    c0 = tp.median if not (isinstance(tp, Uniform)) else 0.5 * tp.upper
    per = _N_TAU_BN * len(_grid(_H_MU, _T_MU)) * k * (_AGQ_NODES + 4)
    step = max(1, _CHUNK // per)
    parts = []
    for i in range(0, len(x), step):
        xs, ns = x[i : i + step], n[i : i + step]
        c, beta = np.full(len(xs), c0), np.ones(len(xs))
        o = _bn_core(xs, ns, tp, mp, level, threshold, c, beta, shrinkage, predictive)
        # second pass where the τ map fits the posterior badly: median far from c, a peak narrow in
        # log τ (β < 1 then spreads it over the rule), or Chebyshev coefficients that have not decayed
        ratio = o["tau_median"] / c
        beta2 = _beta(o["tau_logsd"])
        redo = (ratio < 1 / 3) | (ratio > 3) | (beta2 < 0.7) | (o["tau_tail"] > _TAIL)
        if redo.any():
            r = np.flatnonzero(redo)
            o2 = _bn_core(
                xs[r], ns[r], tp, mp, level, threshold, o["tau_median"][r], beta2[r], shrinkage, predictive
            )
            for key in o:
                o[key][r] = o2[key]
        parts.append(o)
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    for name, key in (("mu grid", "edge_mu"), ("predictive grid", "pred_edge")):
        bad = out[key] > _EDGE
        if bad.any():
            notes.append(
                f"{name}: posterior mass reaches the edge of the integration grid"
                f"{'' if not lead else ' in analyses ' + str(np.flatnonzero(bad).tolist())}; "
                "results may be inaccurate"
            )
    bad = (out["shrink_edge"] > _EDGE).any(-1)
    if bad.any():
        notes.append(
            "shrinkage grid: posterior mass reaches the edge of the integration grid; "
            "shrunken estimates may be inaccurate"
        )
    notes += _tail_warning(out, lead)
    return _assemble("BN", k, level, tp, mp, out, exist, threshold, lead, notes)
