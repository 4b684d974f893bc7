"""Binomial-normal generalized linear mixed models, as metafor's ``rma.glmm`` fits them with lme4.

* :func:`glmm_proportion` — one-group proportions, ``rma.glmm(measure="PLO")``: the random-intercept
  logistic model x_i ~ Bin(n_i, expit(μ + τ z_i)), z_i ~ N(0, 1) (Stijnen, Hamza & Özdemir 2010).
* :func:`glmm_or_umfs` — two-group odds ratio, ``rma.glmm(measure="OR", model="UM.FS")``: unconditional
  model with fixed study effects α_i and a random treatment effect, logit p_1i = α_i + β + u_i/2,
  logit p_2i = α_i − u_i/2, u_i ~ N(0, τ²) (metafor's default group coding ½/−½).

Both maximise the adaptive Gauss–Hermite (AGQ) approximation of the marginal likelihood that lme4's
``glmer(nAGQ=...)`` maximises (:mod:`metablina.stats.agq`), over τ ≥ 0. The likelihood is even in τ,
so the optimiser works on τ ∈ ℝ and reports |τ|: a boundary optimum τ̂ = 0 is then an ordinary
stationary point. Optimisation is a damped Newton iteration run for a whole stack of analyses at once:
for proportions on the exact gradient and Hessian of the AGQ log-likelihood in (μ, τ) (one mode search
and quadrature per study and iteration), for UM.FS on finite differences (one AGQ call per iteration
evaluates the full difference stencil).

Standard errors follow lme4 (``vcov.merMod`` with ``use.hessian=TRUE``): the fixed-effect block of the
inverse Hessian of −log L in (τ, fixed effects); at τ̂ = 0 that is the fixed-effect (pooled binomial /
common-OR logistic) SE. Heterogeneity tests are metafor's: a Wald and a likelihood-ratio test of the
fixed-effect model against the saturated model (one parameter per study), df = k − 1; I² and H² use
metafor's "typical" within-study variance of the escalc estimates (Higgins & Thompson 2002).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields

import numpy as np
from scipy.special import chdtrc, expit, ndtr, ndtri, stdtr, stdtrit, xlogy

from metablina.stats.agq import _log_marginal_arms, _log_marginal_derivs, log_binom_coef
from metablina.stats.errors import InputError
from metablina.stats.memory import check_memory
from metablina.stats.plain import plain

__all__ = ["GLMMResult", "glmm_or_umfs", "glmm_proportion"]

_H = 1e-4  # UM.FS finite-difference step for Newton (lme4's deriv12 uses 1e-4 for its Hessian)
_H_SE = 1e-3  # UM.FS step for the final Hessian, Richardson-extrapolated
_TAU_SNAP = 1e-2  # τ̂ below this is replaced by 0 when ℓ is flat to rounding (lme4: boundary.tol = 1e-5)
_MAX_ITER = 200
_BIG_TAU = 5.0
_BIG_TAU_MSG = (
    "tau > 5 on the logit scale: the likelihood is nearly flat and {nodes}-node quadrature is "
    "crude here (it can even have spurious local maxima); check that the estimate holds with more nodes "
    "(nagq=51 or 100) or with a Bayesian model"
)
_DIVERGED = 50.0  # |β|, |μ| or τ beyond this on the logit scale: the MLE is running off to infinity


@dataclass(frozen=True, eq=False)
class GLMMResult:
    """ML fit of a binomial-normal GLMM, on the logit (PLO) or log-odds-ratio (OR) scale.

    Scalars for one analysis; arrays over the leading axes for a stack. ``k`` is the number of studies
    used (after metafor's ``drop00`` for OR). ``q_wald``/``q_lrt`` are metafor's ``QE.Wld``/``QE.LRT``
    (df ``q_df`` = k − 1); ``i2`` is in percent; ``vt`` is the typical within-study variance behind I²
    and H². ``ll`` is the AGQ marginal log-likelihood including binomial coefficients (lme4's logLik
    for nAGQ > 1 is on another scale and is not comparable); ``ll_fe``/``ll_sat`` are the fixed-effect
    and saturated models' binomial log-likelihoods.
    """

    measure: str
    model: str
    nagq: int
    test: str
    level: float
    k: int | np.ndarray
    estimate: float | np.ndarray
    se: float | np.ndarray
    zval: float | np.ndarray
    pval: float | np.ndarray
    ci_low: float | np.ndarray
    ci_high: float | np.ndarray
    pi_low: float | np.ndarray
    pi_high: float | np.ndarray
    tau2: float | np.ndarray
    q_wald: float | np.ndarray
    q_wald_p: float | np.ndarray
    q_lrt: float | np.ndarray
    q_lrt_p: float | np.ndarray
    q_df: int | np.ndarray
    i2: float | np.ndarray
    h2: float | np.ndarray
    vt: float | np.ndarray
    ll: float | np.ndarray
    ll_fe: float | np.ndarray
    ll_sat: float | np.ndarray
    converged: bool | np.ndarray
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def tau(self):
        """Between-study SD τ̂ = √τ̂²."""
        return np.sqrt(self.tau2)

    def to_dict(self) -> dict:
        """Plain Python values: floats (or nested lists for a stack), None for NaN."""

        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}

    def summary(self):
        """One row per analysis."""
        import pandas as pd

        cols = [
            "k",
            "estimate",
            "se",
            "zval",
            "pval",
            "ci_low",
            "ci_high",
            "pi_low",
            "pi_high",
            "tau2",
            "i2",
            "h2",
            "q_wald",
            "q_wald_p",
            "q_lrt",
            "q_lrt_p",
            "q_df",
            "converged",
        ]
        data = {c: np.ravel(getattr(self, c)) for c in cols}
        df = pd.DataFrame(data)
        df.insert(0, "model", f"{self.model} ({self.measure}, nAGQ={self.nagq}, test={self.test})")
        return df


# ----------------------------------------------------------------------------------------------------------
# input checks


def _counts(name: str, value) -> np.ndarray:
    try:
        a = np.atleast_1d(np.array(value, dtype=float))  # a scalar is one study
    except (TypeError, ValueError):
        raise InputError(f"{name}: must be numeric counts") from None
    if a.size == 0:
        raise InputError(f"{name}: no studies")
    bad = ~np.isfinite(a) | (a != np.round(a)) | (a < 0)
    if bad.any():
        i = np.argwhere(bad)[0]
        raise InputError(
            f"{name}: study {int(i[-1])} has {a[tuple(i)]!r}; counts must be non-negative integers"
        )
    return a


def _events_and_totals(xname, x, nname, n):
    x, n = _counts(xname, x), _counts(nname, n)
    try:
        x, n = np.broadcast_arrays(x, n)
    except ValueError:
        raise InputError(f"{xname}, {nname}: shapes {x.shape} and {n.shape} differ") from None
    if (n < 1).any():
        i = np.argwhere(n < 1)[0]
        raise InputError(f"{nname}: study {int(i[-1])} has total {n[tuple(i)]:g}; each study needs n >= 1")
    if (x > n).any():
        i = np.argwhere(x > n)[0]
        raise InputError(f"{xname}: study {int(i[-1])} has {x[tuple(i)]:g} events out of {n[tuple(i)]:g}")
    return np.array(x), np.array(n)


def _options(nagq, test, level):
    if isinstance(nagq, bool) or int(nagq) != nagq or not 1 <= nagq <= 100:
        raise InputError(f"nagq: must be an integer from 1 (Laplace) to 100, not {nagq!r}")
    if test not in ("z", "t"):
        raise InputError(f"test: must be 'z' or 't', not {test!r}")
    if not 0 < level < 1:
        raise InputError(f"level: must be in (0, 1), e.g. 0.95, not {level!r}")
    return int(nagq)


# Peak working memory per study (and per analysis of a stack), measured with tracemalloc at k = 1500, 10^4
# and 4·10^4 (5.1, 5.0 and 5.0 kB for PLO; 5.9 kB for OR): the widest likelihood call evaluates ℓ with its
# derivatives at the 10 τ start values per study for PLO, with some fifty float64 temporaries each, and
# the 19-point (α, β, τ) stencil for OR, with some thirty temporaries of the AGQ mode search each.
_PEAK_BYTES_PER_STUDY = {"PLO": 5_300, "OR": 6_000}


def _working_memory(measure: str, m: int, k: int) -> int:
    """Peak bytes of a stack of ``m`` GLMMs of ``k`` studies."""
    return _PEAK_BYTES_PER_STUDY[measure] * m * k


def _check_memory(measure: str, lead: tuple, k: int) -> None:
    """Refuse before fitting a stack of GLMMs that would not fit in memory."""
    m = int(np.prod(lead))
    what = f"a GLMM with k = {k} studies" + (f" in each of {m} analyses" if m > 1 else "")
    instead = "pool them by inverse variance (e.g. REML), or in smaller sets"
    check_memory(_working_memory(measure, m, k), what, instead)


def _where(rows: np.ndarray, lead: tuple) -> str:
    """' (analysis 3)' for a stack; '' for a single analysis."""
    if not lead:
        return ""
    return f" (analysis {tuple(int(i) for i in np.unravel_index(int(rows[0]), lead))})"


# ----------------------------------------------------------------------------------------------------------
# Newton machinery shared by both models


def _ascent_direction(g: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Newton step −H⁻¹g for stacked 2×2 Hessians (…, 2, 2); where H is not negative definite it is
    shifted by −(λ_max + δ)I (Levenberg–Marquardt), which always gives an ascent direction. Returns the
    step and whether it was shifted (then its length says little, and the line search may extend it)."""
    a, b, c = H[..., 0, 0], H[..., 0, 1], H[..., 1, 1]
    half_tr, half_diff = 0.5 * (a + c), 0.5 * (a - c)
    lam_max = half_tr + np.sqrt(half_diff**2 + b**2)
    lam_min = half_tr - np.sqrt(half_diff**2 + b**2)
    # δ is relative to the curvature scale: a fixed δ = O(1) crawls along flat ridges (τ ≈ 9, |H| ≈ 0.05)
    delta = 0.1 * np.abs(lam_min) + 1e-10
    shift = np.where(lam_max < -1e-8 * np.maximum(np.abs(lam_min), 1.0), 0.0, lam_max + delta)
    a, c = a - shift, c - shift
    det = a * c - b * b
    d = np.stack([-(c * g[..., 0] - b * g[..., 1]) / det, -(a * g[..., 1] - b * g[..., 0]) / det], -1)
    return d, shift > 0


def _line_search(evaluate, f0, slope, max_step, expand):
    """Vectorised step-length search along fixed directions.

    ``evaluate(rows, steps)`` returns ℓ at θ_rows + steps·d_rows. Backtracking from step 1 (Armijo,
    with slack for ℓ's rounding); rows flagged ``expand`` (non-concave model) that accept step 1 then
    keep doubling it while ℓ improves, up to ``max_step`` — otherwise a Levenberg–Marquardt step crawls
    along flat ridges. Returns (accepted, step)."""
    m = f0.size
    step = np.ones(m)
    best = np.full(m, -np.inf)
    accepted = np.zeros(m, bool)
    todo = np.arange(m)
    for _ in range(40):
        if todo.size == 0:
            break
        fc = evaluate(todo, step[todo])
        ok = fc >= f0[todo] + 1e-4 * step[todo] * slope[todo] - 1e-13 * np.abs(f0[todo])
        accepted[todo[ok]] = True
        best[todo[ok]] = fc[ok]
        step[todo[~ok]] *= 0.5
        todo = todo[~ok]
    grow = np.flatnonzero(accepted & expand & (step == 1.0) & (max_step > 1.0))
    for _ in range(60):
        if grow.size == 0:
            break
        trial = np.minimum(2.0 * step[grow], max_step[grow])
        fc = evaluate(grow, trial)
        better = fc > best[grow]
        step[grow[better]] = trial[better]
        best[grow[better]] = fc[better]
        grow = grow[better & (trial < max_step[grow])]
    return accepted, step


def _cap(d: np.ndarray, caps) -> np.ndarray:
    """Shrink each step vector (last axis) so that no component exceeds its cap."""
    ratio = np.max(np.abs(d) / np.asarray(caps), axis=-1, keepdims=True)
    return d / np.maximum(ratio, 1.0)


def _snap(tau, ll, ll_boundary):
    """Take the boundary τ = 0 when it is better, or when τ̂ is small and ℓ is flat to rounding there
    (ℓ − ℓ(0) = O(τ⁴) when the curvature at 0 vanishes, so such a τ̂ is not distinguishable from 0)."""
    flat = ll_boundary >= ll - 1e-12 * np.maximum(np.abs(ll), 1.0)
    return ((tau < _TAU_SNAP) & flat) | (ll_boundary > ll + 1e-9)


def _chi2_sf(q, df):
    return np.where(df > 0, chdtrc(np.maximum(df, 1), q), 1.0)


def _crit_and_p(z, test, level, df):
    if test == "t":
        crit = stdtrit(df, 1.0 - (1.0 - level) / 2.0)
        p = 2.0 * stdtr(df, -np.abs(z))
    else:
        crit = ndtri(1.0 - (1.0 - level) / 2.0) * np.ones_like(z)
        p = 2.0 * ndtr(-np.abs(z))
    return crit, p


def _i2_h2(vi: np.ndarray, used: np.ndarray, tau2: np.ndarray):
    """metafor's I² and H² for rma.glmm: vt = (k − 1)/tr(P) = (k − 1)/(Σw − Σw²/Σw), w = 1/v_i."""
    w = np.where(used, 1.0 / np.where(used, vi, 1.0), 0.0)
    sw = w.sum(-1)
    kk = used.sum(-1)
    vt = (kk - 1) / (sw - (w * w).sum(-1) / sw)
    return 100.0 * tau2 / (vt + tau2), tau2 / vt + 1.0, vt


def _cochran_q(theta, w):
    """Σ w (θ − θ̄_w)²; w = 0 marks studies left out."""
    sw = w.sum(-1, keepdims=True)
    tbar = (w * np.where(w > 0, theta, 0.0)).sum(-1, keepdims=True) / np.where(sw > 0, sw, 1.0)
    return (w * np.where(w > 0, theta - tbar, 0.0) ** 2).sum(-1)


def _shape_out(lead: tuple, **arrays):
    """Reshape flat per-analysis arrays to the stack's leading shape (scalars for a single analysis)."""
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a).reshape(lead)
        out[name] = a[()] if a.ndim == 0 else a
    return out


def _summarise_warnings(lead, flags: dict[str, np.ndarray]) -> list[str]:
    msgs = []
    total = int(np.prod(lead)) if lead else 1
    for msg, flag in flags.items():
        count = int(np.count_nonzero(flag))
        if count == 0:
            continue
        if not lead:
            msgs.append(msg)
        else:
            rows = np.flatnonzero(flag)
            first = ", ".join(str(tuple(int(i) for i in np.unravel_index(r, lead))) for r in rows[:5])
            more = ", ..." if count > 5 else ""
            msgs.append(f"{msg} [{count} of {total} analyses: {first}{more}]")
    return msgs


# ----------------------------------------------------------------------------------------------------------
# one-group proportions (PLO)


def _per_study_sums(per_study, X, N, mu, tau, used, rows: int) -> np.ndarray:
    """Σ_i over the studies of ``per_study(x, n, η0, |τ|)`` (rows, S) for flat arrays of S studies, at
    every (μ, τ) point of mu, tau (P, m); X, N: (m, k). Returns (rows, P, m).

    ``used`` (m, k), for ragged stacks padded on the right: only its studies are evaluated and summed
    (the padding adds exact zeros after them)."""
    shape = (*mu.shape, X.shape[-1])
    x, n = np.broadcast_to(X, shape), np.broadcast_to(N, shape)
    eta0 = np.broadcast_to(mu[..., None], shape)
    t = np.broadcast_to(np.abs(tau)[..., None], shape)
    if used is None:
        return per_study(*(a.reshape(-1) for a in (x, n, eta0, t))).reshape(rows, *shape).sum(-1)
    sel = np.broadcast_to(used, shape)
    out = np.zeros((rows, *shape))
    out[:, sel] = per_study(x[sel], n[sel], eta0[sel], t[sel])
    return out.sum(-1)


def _ll_prop(X, N, mu, tau, nodes, used=None):
    """Σ_i log L_i(μ, |τ|) without binomial coefficients. X, N: (m, k); mu, tau: (P, m) -> (P, m)."""

    def per_study(x, n, eta0, t):
        return _log_marginal_arms((x,), (n,), (eta0,), (1.0,), t, nodes)[None]

    return _per_study_sums(per_study, X, N, mu, tau, used, rows=1)[0]


def _ll_prop_derivs(
    X: np.ndarray, N: np.ndarray, mu: np.ndarray, tau: np.ndarray, nodes: int, used: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ℓ = Σ_i log L_i(μ, |τ|) as :func:`_ll_prop`, with its exact gradient (P, m, 2) and Hessian (P, m, 2, 2)
    in (μ, τ) (:func:`metablina.stats.agq._log_marginal_derivs`): one mode search and quadrature per study
    instead of a difference stencil's nine. ℓ is even in τ, so at τ < 0 the τ-odd parts change sign."""

    def per_study(x, n, eta0, t):
        return _log_marginal_derivs(x, n, eta0, t, nodes)

    f, g_m, g_t, h_mm, h_mt, h_tt = _per_study_sums(per_study, X, N, mu, tau, used, rows=6)
    sign = np.where(tau < 0, -1.0, 1.0)
    g = np.stack([g_m, sign * g_t], -1)
    H = np.stack([np.stack([h_mm, sign * h_mt], -1), np.stack([sign * h_mt, h_tt], -1)], -2)
    return f, g, H


_TAU_GRID = np.array([0.0, 0.15, 0.3, 0.5, 0.8, 1.3, 2.1, 3.5, 5.5, 9.0])
_MU_STEP_CAP = 3.0  # the grid's Newton steps in μ move at most this far on the logit scale
# The grid check of a warm-started fit leaves out a point whose bound on ℓ is below the fit's ℓ by this
# much. The bound holds for the exact likelihood (log-concave in μ, Prékopa 1973); the margin is for the
# AGQ rule's departures from it between the study grid's points, which are far smaller.
_BOUND_MARGIN = 1.0
_STUDY_GRID_HALF = 4.0  # the study grid's μ spans the warm start ± this, in steps of
_STUDY_GRID_STEP = 0.5
# the study grid is made when the analyses use the pool's studies at least this many times over in all:
# it costs about as much as the grid checks of analyses holding that many studies
_STUDY_GRID_USES = 9


def _mu_step(g: np.ndarray, h: np.ndarray) -> np.ndarray:
    """A Newton step in μ from the gradient ``g`` and curvature ``h`` of ℓ (a unit step uphill where ℓ is
    not concave), at most :data:`_MU_STEP_CAP` long."""
    step = np.where(h < 0, -g / np.where(h < 0, h, -1.0), np.sign(g))
    return np.clip(step, -_MU_STEP_CAP, _MU_STEP_CAP)


def _grid_profile(X, N, nodes, mu, used, steps: int, need: np.ndarray | None = None):
    """ℓ on the τ grid with μ profiled by ``steps`` capped Newton steps from ``mu`` (m,) at each τ:
    returns μ and ℓ, each (grid, m). With ``need`` (grid, m), only those points are evaluated; the others
    are μ = NaN, ℓ = −inf. Each point is its own analysis here, so it is computed as when all are."""
    G, m = _TAU_GRID.size, X.shape[0]
    at_tau, at = np.nonzero(np.ones((G, m), bool) if need is None else need)
    Xs, Ns, Us = X[at], N[at], None if used is None else used[at]
    mu_s = np.broadcast_to(np.asarray(mu, dtype=float), (m,))[at]
    tau_s = _TAU_GRID[at_tau]
    for _ in range(steps):
        _, g, H = _ll_prop_derivs(Xs, Ns, mu_s[None], tau_s[None], nodes, Us)
        mu_s = mu_s + _mu_step(g[0, :, 0], H[0, :, 0, 0])
    mu_out, ll_out = np.full((G, m), np.nan), np.full((G, m), -np.inf)
    mu_out[at_tau, at] = mu_s
    ll_out[at_tau, at] = _ll_prop(Xs, Ns, mu_s[None], tau_s[None], nodes, Us)[0]
    return mu_out, ll_out


@dataclass(frozen=True, eq=False)
class StudyGrid:
    """Each study of a pool on a grid of μ at every τ of :data:`_TAU_GRID`: its ℓ_j and ∂ℓ_j/∂μ there,
    and how far ℓ_j rises above its own tangents at the grid's points (0 where it is concave there).

    An analysis of some of these studies has ℓ = Σ_j ℓ_j, and the exact ℓ_j is concave in μ (Prékopa
    1973), so at each τ every sum of the studies' tangents lies above ℓ at every μ: the check of a
    warm-started fit (:func:`_fit_prop_from`) skips the grid points such a bound shows cannot beat the
    fit, at the cost of one grid for the pool instead of k evaluations per analysis and point. The
    excess measured on the grid is added for the rule's departures from concavity (:data:`_TAU_GRID`'s
    large τ, very skewed data)."""

    keys: np.ndarray  # (u,) the distinct studies, x + i·n, sorted
    mu: np.ndarray  # (L,)
    ll: np.ndarray  # (u, grid, L)
    slope: np.ndarray  # (u, grid, L)
    excess: np.ndarray  # (u, grid)

    @classmethod
    def of(cls, x: np.ndarray, n: np.ndarray, mu: float, nodes: int) -> StudyGrid:
        """The grid of the studies ``x``, ``n`` about ``mu``; the last few are kept, so the leave-one-out
        and cumulative series of one set of studies share one."""
        keys = np.unique(np.asarray(x, float) + 1j * np.asarray(n, float))
        return _study_grid(keys.tobytes(), float(mu), int(nodes))

    def bound(self, X: np.ndarray, N: np.ndarray, used: np.ndarray | None, mu: np.ndarray) -> np.ndarray:
        """(grid, m): an upper bound on ℓ of each analysis X, N (m, k) at every point its grid check
        can reach (μ within :data:`_MU_STEP_CAP` of the fit's ``mu``); +inf for an analysis with a study
        the grid does not hold. At each τ it is the lower of two summed tangents, those either side of
        where ℓ's slope on the grid turns (one at an end), at its highest over that μ window."""
        m, u = X.shape[0], self.keys.size
        use = np.ones(X.shape, bool) if used is None else used
        keys = X + 1j * N
        at = np.minimum(np.searchsorted(self.keys, keys), u - 1)
        held = self.keys[at] == keys
        counts = np.zeros((m, u))
        rows = np.broadcast_to(np.arange(m)[:, None], X.shape)
        np.add.at(counts, (rows[use & held], at[use & held]), 1.0)
        G, L = self.ll.shape[1:]
        F = (counts @ self.ll.reshape(u, -1)).reshape(m, G, L)
        S = (counts @ self.slope.reshape(u, -1)).reshape(m, G, L)
        turn = np.where((S <= 0).any(-1), (S <= 0).argmax(-1), L)  # the first point ℓ does not rise
        a, b = np.maximum(turn - 1, 0), np.minimum(turn, L - 1)
        fa, sa, fb, sb = (
            np.take_along_axis(v, i[..., None], -1)[..., 0] for v, i in ((F, a), (S, a), (F, b), (S, b))
        )
        ma, mb = self.mu[a], self.mu[b]
        lo = (np.asarray(mu, float) - _MU_STEP_CAP)[:, None]
        hi = lo + 2.0 * _MU_STEP_CAP
        # the two tangents cross where ℓ's maximum on them lies; the window may hold it or stop short
        cross = (fb - fa + sa * ma - sb * mb) / np.where(sa > sb, sa - sb, 1.0)
        x = np.clip(cross, lo, hi)
        top = np.minimum(fa + sa * (x - ma), fb + sb * (x - mb))
        top = np.where(turn == 0, fb + sb * (lo - mb), np.where(turn == L, fa + sa * (hi - ma), top))
        top += counts @ self.excess
        whole = (held | ~use).all(-1)
        return np.where(whole[:, None], top, np.inf).T


@functools.lru_cache(maxsize=4)
def _study_grid(keys: bytes, mu: float, nodes: int) -> StudyGrid:
    studies = np.frombuffer(keys, dtype=complex)
    grid = mu + np.arange(-_STUDY_GRID_HALF, _STUDY_GRID_HALF + 1e-9, _STUDY_GRID_STEP)
    shape = (studies.size, _TAU_GRID.size, grid.size)
    x, n = studies.real[:, None, None], studies.imag[:, None, None]
    at = (x, n, grid[None, None], _TAU_GRID[None, :, None])
    d = _log_marginal_derivs(*(np.broadcast_to(a, shape).ravel() for a in at), nodes)
    ll, slope = d[0].reshape(shape), d[1].reshape(shape)
    # ℓ_j at each grid point l' against the tangent at every grid point l
    rise = ll[..., None, :] - ll[..., None] - slope[..., None] * (grid[None, :] - grid[:, None])
    return StudyGrid(studies, grid, ll, slope, np.maximum(rise.max((-2, -1)), 0.0))


@dataclass(frozen=True)
class WarmStart:
    """Where Newton starts every analysis of a batch instead of the τ grid: the fit (μ, τ) of a set of
    studies each analysis is nearly all of (leave-one-out, the end of a cumulative series), and the
    studies the analyses draw on as a :class:`StudyGrid` (None: every grid point is checked)."""

    mu: float
    tau: float
    grid: StudyGrid | None = None


def warm_start(
    mu: float,
    tau: float,
    x: np.ndarray,
    n: np.ndarray,
    xi: list[np.ndarray],
    ni: list[np.ndarray],
    nodes: int,
) -> WarmStart:
    """The warm start at the fit (μ, τ) of the studies ``x``, ``n`` for the analyses ``xi``, ``ni``, with
    the studies' grid where the analyses use them often enough to repay it
    (:data:`_STUDY_GRID_USES`)."""
    if sum(len(a) for a in xi) < _STUDY_GRID_USES * len(x):
        return WarmStart(mu, tau)
    return WarmStart(mu, tau, StudyGrid.of(np.asarray(x, float), np.asarray(n, float), mu, nodes))


def _start_prop(X, N, nodes, mu_fe, used=None):
    """Starting values: the profile log-likelihood on a grid of τ (μ by two capped Newton steps from the
    pooled logit each), best grid point. ℓ is not concave in τ far from τ̂ (it can even be convex at
    τ = 0.5 when τ̂ = 0.14), so a single fixed start can walk off to the wrong side."""
    mu, f = _grid_profile(X, N, nodes, mu_fe, used, steps=2)
    best = np.argmax(np.where(np.isfinite(f), f, -np.inf), axis=0)
    return mu[best, np.arange(X.shape[0])], np.maximum(_TAU_GRID[best], 0.05)


def _fit_prop(X, N, nodes, mu, tau, used=None):
    """Damped Newton for (μ, τ) on the AGQ log-likelihood's exact derivatives, all analyses at once.
    Returns μ, |τ|, converged."""
    mu, tau = mu.astype(float).copy(), tau.astype(float).copy()
    m = X.shape[0]
    caps = np.array([4.0, 2.0])
    converged = np.zeros(m, bool)
    active = np.arange(m)
    for _ in range(_MAX_ITER):
        if active.size == 0:
            break
        Xa, Na = X[active], N[active]
        Ua = None if used is None else used[active]
        f0, g, H = (v[0] for v in _ll_prop_derivs(Xa, Na, mu[active][None], tau[active][None], nodes, Ua))
        d, shifted = _ascent_direction(g, H)
        d = _cap(d, caps)
        slope = (g * d).sum(-1)
        # converged: a tiny Newton step, or a predicted gain below ℓ's rounding (in flat directions the
        # gradient's rounding would otherwise keep the step at ~1e-9 forever); the step is still taken
        small = (np.max(np.abs(d), -1) < 1e-9) | (np.abs(slope) < 1e-15 * np.maximum(np.abs(f0), 1.0))
        mu_a, tau_a = mu[active], tau[active]
        moving = np.flatnonzero(~small)

        def evaluate(rows, steps, Xa=Xa, Na=Na, Ua=Ua, mu_a=mu_a, tau_a=tau_a, d=d, moving=moving):
            rows = moving[rows]  # the line search indexes the moving analyses only
            return _ll_prop(
                Xa[rows],
                Na[rows],
                (mu_a[rows] + steps * d[rows, 0])[None],
                (tau_a[rows] + steps * d[rows, 1])[None],
                nodes,
                None if Ua is None else Ua[rows],
            )[0]

        accepted = small.copy()
        step = np.ones(active.size)
        max_step = np.min(caps / np.maximum(np.abs(d), 1e-300), axis=-1)
        acc, st_ = _line_search(evaluate, f0[moving], slope[moving], max_step[moving], shifted[moving])
        accepted[moving], step[moving] = acc, st_
        # an analysis whose line search failed is at the rounding floor of ℓ
        stuck = ~accepted
        mu[active] += np.where(accepted, step * d[:, 0], 0.0)
        tau[active] += np.where(accepted, step * d[:, 1], 0.0)
        done = small | stuck
        converged[active[small | (stuck & (np.max(np.abs(d), -1) < 1e-6))]] = True
        runaway = (np.abs(mu[active]) > _DIVERGED) | (np.abs(tau[active]) > _DIVERGED)
        active = active[~(done | runaway)]
    return mu, np.abs(tau), converged


def _inference(
    lead, k, est, se, tau2, converged, test, level, q_df, q_wald, q_lrt, i2, h2, vt, ll, ll_fe, ll_sat
) -> dict:
    """The fields every GLMM result carries, from the fitted mean, its SE and τ²: the z or t test and CI,
    the prediction interval (metafor ``predict()``: crit · sqrt(se² + τ²)) and the heterogeneity tests."""
    zval = est / se
    crit, pval = _crit_and_p(zval, test, level, q_df)
    pi_half = crit * np.sqrt(se**2 + tau2)
    return _shape_out(
        lead,
        k=k,
        estimate=est,
        se=se,
        zval=zval,
        pval=pval,
        ci_low=est - crit * se,
        ci_high=est + crit * se,
        pi_low=est - pi_half,
        pi_high=est + pi_half,
        tau2=np.where(converged, tau2, np.nan),
        q_wald=q_wald,
        q_wald_p=_chi2_sf(q_wald, q_df),
        q_lrt=q_lrt,
        q_lrt_p=_chi2_sf(q_lrt, q_df),
        q_df=q_df,
        i2=i2,
        h2=h2,
        vt=vt,
        ll=ll,
        ll_fe=ll_fe,
        ll_sat=ll_sat,
        converged=converged,
    )


def glmm_proportion(xi, ni, *, nagq: int = 7, test: str = "z", level: float = 0.95) -> GLMMResult:
    """Random-intercept logistic model for proportions (metafor ``rma.glmm(measure="PLO")``).

    ML over (μ, τ ≥ 0) of the AGQ marginal likelihood with ``nagq`` nodes (1 = Laplace; lme4's and
    metafor's default is 7). ``test="t"`` uses t_{k−1} for the CI, p-value and prediction interval
    (metafor ``test="t"``; meta ``method.random.ci="HK"``), with the same SE. The prediction interval is
    μ̂ ± crit·√(SE² + τ̂²) (metafor ``predict``). Everything is on the logit scale.

    ``xi``, ``ni``: events and totals, last axis = studies; leading axes are a stack of analyses fitted
    together.
    """
    nodes = _options(nagq, test, level)
    x, n = _events_and_totals("xi", xi, "ni", ni)
    lead, k = x.shape[:-1], x.shape[-1]
    if k < 2:
        raise InputError(
            "xi: k = 1 study; a random-effects model needs at least 2 (report the study's own "
            "proportion with an exact CI)"
        )
    _check_memory("PLO", lead, k)
    X, N = x.reshape(-1, k), n.reshape(-1, k)
    _check_proportions(X, N, lead)
    out, flags = _proportion_core(X, N, None, nodes, test, level)
    warn = []
    if k == 2:
        warn.append("k = 2: tau^2 cannot be estimated reliably")
    if test == "z" and k <= 6:
        warn.append(_FEW_Z_MSG.format(k=k))
    warn += _summarise_warnings(lead, flags)
    return GLMMResult(
        measure="PLO",
        model="binomial-normal",
        nagq=nodes,
        test=test,
        level=float(level),
        warnings=tuple(warn),
        **_shape_out(lead, **out),
    )


_FEW_Z_MSG = "k = {k}: the z-based CI understates uncertainty with few studies; consider test='t'"


def _check_proportions(X: np.ndarray, N: np.ndarray, lead: tuple) -> None:
    """Refuse data whose MLE diverges: no events, only events, or only 0/n and n/n studies."""
    none, every = (X == 0).all(-1), (X == N).all(-1)
    if none.any():
        raise InputError(
            f"xi: every study has 0 events{_where(np.flatnonzero(none), lead)}; the GLMM's MLE "
            "diverges (logit p -> -inf). Report the total 0/sum(ni) with a Clopper-Pearson "
            "bound, or fit a Bayesian model with a proper prior"
        )
    if every.any():
        raise InputError(
            f"xi: every study has xi = ni{_where(np.flatnonzero(every), lead)}; the GLMM's MLE "
            "diverges (logit p -> +inf). Report the total with a Clopper-Pearson bound, or fit "
            "a Bayesian model with a proper prior"
        )
    only_extreme = ~((X > 0) & (X < N)).any(-1)
    if only_extreme.any():
        raise InputError(
            f"xi: every study has 0 or ni events{_where(np.flatnonzero(only_extreme), lead)}; "
            "the GLMM's between-study SD diverges (tau -> inf). Use a Bayesian model with a "
            "proper prior on tau"
        )


def _fit_prop_from(X, N, nodes, mu_fe, used, start: WarmStart):
    """:func:`_fit_prop` from one (μ, τ) for every analysis, checked, and where a check fails fitted from
    the grid (:func:`_start_prop`) after all; returns μ, τ, converged and ℓ and its Hessian at the fit
    (which the checks need). Newton may stop at a stationary point that is not the
    grid fit's maximum, so the fit must

    * have converged;
    * be a local maximum: a negative definite Hessian. τ = 0 is stationary by symmetry (ℓ is even in τ),
      and Newton can land on it where it is a saddle: from far starts, 4% of random analyses stopped
      there while the grid fit had 0 < τ² < 0.01;
    * beat every point of the τ grid (τ = 0 included), μ moved one Newton step from the fit's at each
      τ: with μ held at the fit's, a stop on a τ = 0 local maximum one study away from a fit with
      τ² = 0.085 and another μ went unnoticed.

    The checks cost about half the grid search (less where ``start`` bounds the grid points, which then
    decide as if evaluated). They do not prove that no better maximum exists."""
    m = X.shape[0]
    mu0, tau0 = np.full(m, float(start.mu)), np.full(m, max(float(start.tau), 0.05))
    mu, tau, converged = _fit_prop(X, N, nodes, mu0, tau0, used)
    ll_fit, _, H = (v[0] for v in _ll_prop_derivs(X, N, mu[None], tau[None], nodes, used))
    maximum = (H[:, 0, 0] < 0) & (H[:, 0, 0] * H[:, 1, 1] - H[:, 0, 1] ** 2 > 0)
    # a point whose bound is below the fit by the margin cannot beat it: not evaluated
    need = None if start.grid is None else ~(start.grid.bound(X, N, used, mu) < ll_fit - _BOUND_MARGIN)
    _, grid = _grid_profile(X, N, nodes, mu, used, steps=1, need=need)
    lesser = np.nanmax(grid, axis=0) > ll_fit + 1e-9 * np.maximum(1.0, np.abs(ll_fit))
    redo = np.flatnonzero(~converged | ~maximum | lesser)
    if redo.size:
        U = None if used is None else used[redo]
        start_redo = _start_prop(X[redo], N[redo], nodes, mu_fe[redo], U)
        mu[redo], tau[redo], converged[redo] = _fit_prop(X[redo], N[redo], nodes, *start_redo, U)
        ll_fit[redo], _, H[redo] = (
            v[0] for v in _ll_prop_derivs(X[redo], N[redo], mu[redo][None], tau[redo][None], nodes, U)
        )
    return mu, tau, converged, ll_fit, H


def _proportion_core(
    X, N, used, nodes, test, level, start: WarmStart | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """Fit checked (m, k) counts; ``used`` (m, k) marks the studies of each analysis of a ragged stack
    padded on the right (None: all). Returns the flat result fields and the warning flags.

    ``start``: where Newton starts for every analysis instead of the τ grid's best point (:class:`WarmStart`:
    the fit of all studies when each analysis leaves one out). An analysis whose fit from there fails the
    checks of :func:`_fit_prop_from` is fitted from the grid after all."""
    u = np.ones(X.shape, bool) if used is None else used
    k = u.sum(-1)
    # fixed-effect (pooled binomial) and saturated models
    lc = np.where(u, log_binom_coef(X, N), 0.0)
    pbar = np.where(u, X, 0.0).sum(-1) / np.where(u, N, 0.0).sum(-1)
    mu_fe = np.log(pbar) - np.log1p(-pbar)
    ll_fe = np.where(u, lc + xlogy(X, pbar[:, None]) + xlogy(N - X, 1.0 - pbar[:, None]), 0.0).sum(-1)
    ll_sat = np.where(u, lc + xlogy(X, X / N) + xlogy(N - X, (N - X) / N), 0.0).sum(-1)
    q_lrt = np.maximum(-2.0 * (ll_fe - ll_sat), 0.0)
    # Wald test of the saturated model's study effects = Cochran's Q on the study logits with binomial
    # weights; a 0/n or n/n study has weight 0 (glm's estimate runs off with infinite variance).
    inner = (X > 0) & (X < N) & u
    safe_x = np.where(inner, X, 1.0)
    safe_nx = np.where(inner, N - X, 1.0)
    theta = np.log(safe_x) - np.log(safe_nx)
    q_wald = _cochran_q(theta, np.where(inner, safe_x * safe_nx / N, 0.0))
    q_df = k - 1

    # ML fit from the best point of a τ grid; the boundary τ = 0 (a stationary point, since ℓ is even in τ)
    # is kept when it is at least as good
    # with ℓ and its Hessian at the fit; the Hessian is used only where τ̂ stays > 0, which snapping leaves
    # alone
    if start is None:
        mu, tau, converged = _fit_prop(X, N, nodes, *_start_prop(X, N, nodes, mu_fe, used), used)
        ll, _, H = (v[0] for v in _ll_prop_derivs(X, N, mu[None], tau[None], nodes, used))
    else:
        mu, tau, converged, ll, H = _fit_prop_from(X, N, nodes, mu_fe, used, start)
    ll_boundary = ll_fe - lc.sum(-1)
    snap = _snap(tau, ll, ll_boundary)
    mu = np.where(snap, mu_fe, mu)
    tau = np.where(snap, 0.0, tau)
    ll = np.where(snap, ll_boundary, ll)
    converged = (converged | snap) & ~((np.abs(mu) > _DIVERGED) | (tau > _DIVERGED))

    # SE (lme4: inverse of the finite-difference Hessian of the deviance in (τ, μ); ours is exact), and at
    # τ = 0 the pooled binomial SE
    det = H[:, 0, 0] * H[:, 1, 1] - H[:, 0, 1] ** 2
    var_interior = -H[:, 1, 1] / det
    var_boundary = 1.0 / np.where(u, N * pbar[:, None] * (1.0 - pbar[:, None]), 0.0).sum(-1)
    var = np.where(tau == 0, var_boundary, var_interior)
    bad_hessian = (tau > 0) & ~((H[:, 0, 0] < 0) & (det > 0))
    se = np.sqrt(np.where(bad_hessian | ~converged, np.nan, var))
    tau2 = tau**2

    # I² and H² from escalc(PLO) with ½ added to 0/n and n/n studies
    xc, nc = np.where(inner | ~u, X, X + 0.5), np.where(inner | ~u, N, N + 1.0)
    vi = 1.0 / xc + 1.0 / (nc - xc)
    i2, h2, vt = _i2_h2(vi, u, tau2)

    flags = {
        "tau^2 estimated as 0 (boundary): the SE is the pooled-binomial SE": tau == 0,
        _BIG_TAU_MSG.format(nodes=nodes): converged & (tau > _BIG_TAU),
        "did not converge: results set to NaN": ~converged,
        "Hessian not negative definite at the optimum: SE set to NaN": bad_hessian & converged,
    }
    out = _inference(
        (X.shape[0],),
        k,
        np.where(converged, mu, np.nan),
        se,
        tau2,
        converged,
        test,
        level,
        q_df,
        q_wald,
        q_lrt,
        i2,
        h2,
        vt,
        ll + lc.sum(-1),
        ll_fe,
        ll_sat,
    )
    return out, flags


# ----------------------------------------------------------------------------------------------------------
# two-group odds ratio, unconditional model with fixed study effects (UM.FS)

# stencil in (α_i, β, τ): centre, ±α, ±β, ±τ, then the corners (++, +−, −+, −−) of the pairs (α,β), (α,τ),
# (β,τ)
_PAIRS = ((0, 1), (0, 2), (1, 2))


def _stencil3(h: float) -> np.ndarray:
    rows = [np.zeros(3)]
    for j in range(3):
        for sgn in (1, -1):
            e = np.zeros(3)
            e[j] = sgn
            rows.append(e)
    for i, j in _PAIRS:
        for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            e = np.zeros(3)
            e[i], e[j] = si, sj
            rows.append(e)
    return h * np.array(rows)


def _ll_or(A, N1, C, N2, used, alpha, beta, tau, nodes):
    """Per-study AGQ log-likelihood without binomial coefficients, 0 for dropped studies.

    A, N1, C, N2, used: (m, k); alpha: (P, m, k); beta, tau: (P, m) -> (P, m, k).
    logit p1 = α + β + u/2, logit p2 = α − u/2, u = τ z (metafor's coding = 1/2).
    """
    P = alpha.shape[0]
    shape = alpha.shape
    flat = [np.broadcast_to(v, shape).reshape(-1) for v in (A, N1, C, N2)]
    b = np.broadcast_to(beta[..., None], shape).reshape(-1)
    t = np.broadcast_to(np.abs(tau)[..., None], shape).reshape(-1)
    al = alpha.reshape(-1)
    out = _log_marginal_arms((flat[0], flat[2]), (flat[1], flat[3]), (al + b, al), (0.5, -0.5), t, nodes)
    return np.where(np.broadcast_to(used, (P, *used.shape)), out.reshape(shape), 0.0)


def _derivs_or(f: np.ndarray, used: np.ndarray, h: float):
    """Gradient and arrowhead Hessian from the 19-point stencil values f (19, m, k) of the per-study ℓ_i."""
    d1 = [(f[1 + 2 * j] - f[2 + 2 * j]) / (2 * h) for j in range(3)]
    d2 = [(f[1 + 2 * j] - 2 * f[0] + f[2 + 2 * j]) / h**2 for j in range(3)]
    cross = [(f[7 + 4 * q] - f[8 + 4 * q] - f[9 + 4 * q] + f[10 + 4 * q]) / (4 * h**2) for q in range(3)]
    ga = d1[0]
    haa = np.where(used, d2[0], -1.0)
    u = np.stack([cross[0], cross[1]], -1)  # (m, k, 2): ∂²/∂α∂β, ∂²/∂α∂τ
    gB = np.stack([d1[1].sum(-1), d1[2].sum(-1)], -1)
    hbt = cross[2].sum(-1)
    HB = np.stack([np.stack([d2[1].sum(-1), hbt], -1), np.stack([hbt, d2[2].sum(-1)], -1)], -2)
    return ga, haa, u, gB, HB


def _schur(ga, haa, u, gB, HB):
    """Reduce the arrowhead system onto (β, τ): S = H_BB − Σ u uᵀ/h_αα, r = g_B − Σ u g_α/h_αα."""
    haa = np.minimum(haa, -1e-8)
    S = HB - np.einsum("mki,mkj->mij", u, u / haa[..., None])
    r = gB - (u * (ga / haa)[..., None]).sum(1)
    return S, r, haa


def _fit_fe_or(A, N1, C, N2, used):
    """Common-OR logistic model logit p1 = α_i + β, logit p2 = α_i by Newton (glm's fixed-effect model)."""
    alpha = np.log(A + C + 0.5) - np.log(N1 + N2 - A - C + 0.5)
    beta = np.zeros(A.shape[0])

    def loglik(al, be):
        e1 = al + be[:, None]
        return np.where(
            used,
            A * -np.logaddexp(0, -e1)
            + (N1 - A) * -np.logaddexp(0, e1)
            + C * -np.logaddexp(0, -al)
            + (N2 - C) * -np.logaddexp(0, al),
            0.0,
        ).sum(-1)

    f = loglik(alpha, beta)
    for _ in range(_MAX_ITER):
        p1, p2 = expit(alpha + beta[:, None]), expit(alpha)
        w1, w2 = N1 * p1 * (1 - p1), N2 * p2 * (1 - p2)
        ga = np.where(used, A - N1 * p1 + C - N2 * p2, 0.0)
        gb = np.where(used, A - N1 * p1, 0.0).sum(-1)
        haa = np.where(used, -(w1 + w2), -1.0)
        hab = np.where(used, -w1, 0.0)
        S = np.where(used, -w1, 0.0).sum(-1) - (hab * hab / haa).sum(-1)
        r = gb - (hab * ga / haa).sum(-1)
        db = -r / S
        da = -(ga + hab * db[:, None]) / haa
        scale = 1.0 / np.maximum(np.maximum(np.abs(db) / 5.0, np.abs(da).max(-1) / 10.0), 1.0)
        step = scale.copy()
        for _ls in range(30):
            fn = loglik(alpha + step[:, None] * da, beta + step * db)
            ok = fn >= f - 1e-12 * np.abs(f)
            if ok.all():
                break
            step = np.where(ok, step, 0.5 * step)
        alpha, beta, f = alpha + step[:, None] * da, beta + step * db, fn
        if max(np.abs(db).max(), np.abs(da).max()) < 1e-11:
            break
    return alpha, beta


def _start_or(A, N1, C, N2, used, nodes, alpha, beta):
    """Best τ on a grid at the fixed-effect (α, β); at least 0.05 so Newton can leave τ = 0."""
    G = _TAU_GRID.size
    f = _ll_or(
        A,
        N1,
        C,
        N2,
        used,
        np.broadcast_to(alpha, (G, *alpha.shape)),
        np.broadcast_to(beta, (G, beta.size)),
        np.broadcast_to(_TAU_GRID[:, None], (G, beta.size)),
        nodes,
    ).sum(-1)
    return np.maximum(_TAU_GRID[np.argmax(f, axis=0)], 0.05)


def _fit_or(A, N1, C, N2, used, nodes, alpha, beta, tau):
    """Damped Newton on (α_1..α_k, β, τ) with the arrowhead finite-difference Hessian, all analyses at
    once."""
    alpha, beta, tau = alpha.copy(), beta.astype(float).copy(), tau.astype(float).copy()
    m = beta.size
    st = _stencil3(_H)
    converged = np.zeros(m, bool)
    active = np.arange(m)
    for _ in range(_MAX_ITER):
        if active.size == 0:
            break
        sub = [v[active] for v in (A, N1, C, N2, used)]
        al, be, ta = alpha[active], beta[active], tau[active]
        f = _ll_or(
            *sub, al[None] + st[:, 0, None, None], be[None] + st[:, 1, None], ta[None] + st[:, 2, None], nodes
        )
        ga, haa, u, gB, HB = _derivs_or(f, sub[4], _H)
        S, r, haa = _schur(ga, haa, u, gB, HB)
        dB, shifted = _ascent_direction(r, S)
        da = -(ga + (u * dB[:, None, :]).sum(-1)) / haa
        da = np.where(sub[4], da, 0.0)
        ratio = np.maximum.reduce([np.abs(dB[:, 0]) / 3.0, np.abs(dB[:, 1]) / 1.0, np.abs(da).max(-1) / 5.0])
        dB, da = dB / np.maximum(ratio, 1.0)[:, None], da / np.maximum(ratio, 1.0)[:, None]
        max_step = 1.0 / np.maximum(
            np.maximum.reduce([np.abs(dB[:, 0]) / 3.0, np.abs(dB[:, 1]) / 1.0, np.abs(da).max(-1) / 5.0]),
            1e-300,
        )
        f0 = f[0].sum(-1)
        slope = (gB * dB).sum(-1) + (ga * da).sum(-1)
        small = (np.maximum(np.abs(dB).max(-1), np.abs(da).max(-1)) < 1e-9) | (
            np.abs(slope) < 1e-15 * np.maximum(np.abs(f0), 1.0)
        )

        moving = np.flatnonzero(~small)

        def evaluate(rows, steps, sub=sub, al=al, be=be, ta=ta, da=da, dB=dB, moving=moving):
            rows = moving[rows]  # the line search indexes the moving analyses only
            return _ll_or(
                *[v[rows] for v in sub],
                (al[rows] + steps[:, None] * da[rows])[None],
                (be[rows] + steps * dB[rows, 0])[None],
                (ta[rows] + steps * dB[rows, 1])[None],
                nodes,
            )[0].sum(-1)

        accepted = small.copy()
        step = np.ones(active.size)
        acc, st_ = _line_search(evaluate, f0[moving], slope[moving], max_step[moving], shifted[moving])
        accepted[moving], step[moving] = acc, st_
        move = np.where(accepted, step, 0.0)
        alpha[active] = al + move[:, None] * da
        beta[active] = be + move * dB[:, 0]
        tau[active] = ta + move * dB[:, 1]
        stuck = ~accepted
        big = np.maximum(np.abs(dB).max(-1), np.abs(da).max(-1))
        converged[active[small | (stuck & (big < 1e-6))]] = True
        runaway = (np.abs(beta[active]) > _DIVERGED) | (np.abs(tau[active]) > _DIVERGED)
        active = active[~(small | stuck | runaway)]
    return alpha, beta, np.abs(tau), converged


def _var_beta_or(A, N1, C, N2, used, nodes, alpha, beta, tau):
    """Var(β̂) = [(−H)⁻¹]_ββ over (τ, β, α_1..α_k), from the Schur complement of the arrowhead Hessian
    (Richardson-extrapolated differences); the α block is eliminated exactly."""
    Ss = []
    for h in (_H_SE, 2 * _H_SE):
        st = _stencil3(h)
        f = _ll_or(
            A,
            N1,
            C,
            N2,
            used,
            alpha[None] + st[:, 0, None, None],
            beta[None] + st[:, 1, None],
            tau[None] + st[:, 2, None],
            nodes,
        )
        _, haa, u, _, HB = _derivs_or(f, used, h)
        Ss.append((HB, haa, u))
    HB = (4 * Ss[0][0] - Ss[1][0]) / 3
    haa = np.where(used, (4 * Ss[0][1] - Ss[1][1]) / 3, -1.0)
    u = (4 * Ss[0][2] - Ss[1][2]) / 3
    S = HB - np.einsum("mki,mkj->mij", u, u / haa[..., None])
    det = S[:, 0, 0] * S[:, 1, 1] - S[:, 0, 1] ** 2
    nd = (S[:, 0, 0] < 0) & (det > 0) & (haa < 0).all(-1)
    return -S[:, 1, 1] / det, nd


def glmm_or_umfs(ai, n1i, ci, n2i, *, nagq: int = 7, test: str = "z", level: float = 0.95) -> GLMMResult:
    """Random-effects odds ratio by metafor's ``rma.glmm(measure="OR", model="UM.FS")``.

    Logistic model with a fixed intercept α_i per study and a random treatment effect:
    logit p_1i = α_i + β + u_i/2, logit p_2i = α_i − u_i/2, u_i ~ N(0, τ²) (metafor's default
    ``coding=1/2``; lme4 ``glmer(cbind(x, n−x) ~ −1 + group1 + study + (group12 − 1 | study))``). ML over
    (β, τ ≥ 0, α) of the AGQ likelihood with ``nagq`` nodes — nAGQ > 1 is allowed because the random
    effect is a single scalar per study. Studies with no events or only events in both groups are dropped
    (metafor's ``drop00=TRUE``). ``estimate`` is the pooled log odds ratio of group 1 versus group 2.
    """
    nodes = _options(nagq, test, level)
    a, n1 = _events_and_totals("ai", ai, "n1i", n1i)
    c, n2 = _events_and_totals("ci", ci, "n2i", n2i)
    try:
        a, n1, c, n2 = np.broadcast_arrays(a, n1, c, n2)
    except ValueError:
        raise InputError(f"ai, ci: shapes {a.shape} and {c.shape} differ") from None
    lead, k_all = a.shape[:-1], a.shape[-1]
    _check_memory("OR", lead, k_all)
    A, N1, C, N2 = (np.array(v, dtype=float).reshape(-1, k_all) for v in (a, n1, c, n2))
    dropped = _double_zero(A, N1, C, N2)
    _check_tables(A, N1, C, N2, ~dropped, lead)
    out, flags = _or_core(A, N1, C, N2, ~dropped, nodes, test, level)
    warn = []
    n_drop = dropped.sum(-1)
    if n_drop.any():
        if lead:
            warn.append(
                f"studies with no events (or only events) in both groups dropped (drop00): "
                f"{int(n_drop.sum())} in {int(np.count_nonzero(n_drop))} analyses"
            )
        else:
            warn.append(_drop00_message(dropped[0]))
    warn += _summarise_warnings(lead, flags)
    return GLMMResult(
        measure="OR",
        model="UM.FS",
        nagq=nodes,
        test=test,
        level=float(level),
        warnings=tuple(warn),
        **_shape_out(lead, **out),
    )


def _double_zero(A, N1, C, N2) -> np.ndarray:
    """metafor's drop00: tables with no events, or only events, in both groups."""
    return ((A == 0) & (C == 0)) | ((A == N1) & (C == N2))


def _drop00_message(dropped: np.ndarray) -> str:
    """The drop00 warning of one analysis, naming its dropped studies."""
    listed = ", ".join(str(i) for i in np.flatnonzero(dropped))
    return f"studies with no events (or only events) in both groups dropped (drop00): {listed}"


def _check_tables(A, N1, C, N2, used, lead: tuple) -> None:
    """Refuse tables the model cannot fit: fewer than 2 informative studies, or separation. ``used``: the
    studies kept (not double-zero, nor padding of a ragged stack)."""
    k = used.sum(-1)
    few = k < 2
    if few.any():
        raise InputError(
            "ai: fewer than 2 studies with both events and non-events"
            f"{_where(np.flatnonzero(few), lead)} (studies with 0 events, or only events, in "
            "both groups are dropped); the model cannot be fitted"
        )
    # separation: every study's OR estimate is 0 (or every one is infinite) -> the MLE of β diverges
    zero_or = ((A == 0) | (C == N2) | ~used).all(-1)
    inf_or = ((A == N1) | (C == 0) | ~used).all(-1)
    sep = zero_or | inf_or
    if sep.any():
        raise InputError(
            f"ai: every study's odds ratio estimate is {'0' if zero_or.any() else 'infinite'}"
            f"{_where(np.flatnonzero(sep), lead)} (a zero cell on the same side in each table); "
            "the MLE diverges. Use a Bayesian model or report the tables"
        )


def _or_core(A, N1, C, N2, used, nodes, test, level) -> tuple[dict, dict[str, np.ndarray]]:
    """Fit checked (m, k) tables; ``used`` marks the studies each analysis keeps (not double-zero, nor
    padding of a ragged stack). Returns the flat result fields and the warning flags."""
    k = used.sum(-1)
    # dropped studies get a harmless dummy table; every sum below is masked with `used`
    A, N1, C, N2 = (np.where(used, v, d) for v, d in ((A, 1.0), (N1, 2.0), (C, 1.0), (N2, 2.0)))
    lc = np.where(used, log_binom_coef(A, N1) + log_binom_coef(C, N2), 0.0)
    alpha_fe, beta_fe = _fit_fe_or(A, N1, C, N2, used)
    zero = np.zeros((1, A.shape[0]))
    ll_boundary = _ll_or(A, N1, C, N2, used, alpha_fe[None], beta_fe[None], zero, nodes)[0].sum(-1)
    ll_fe = ll_boundary + lc.sum(-1)
    ll_sat = np.where(
        used,
        lc
        + xlogy(A, A / N1)
        + xlogy(N1 - A, (N1 - A) / N1)
        + xlogy(C, C / N2)
        + xlogy(N2 - C, (N2 - C) / N2),
        0.0,
    ).sum(-1)
    q_lrt = np.maximum(-2.0 * (ll_fe - ll_sat), 0.0)
    q_df = k - 1
    # Wald test of the saturated model's study-by-group terms = Cochran's Q on the study log ORs; a table
    # with a zero cell has weight 0 (glm's estimate for it runs off with infinite variance)
    B, D = N1 - A, N2 - C
    full = used & (A > 0) & (B > 0) & (C > 0) & (D > 0)
    sa, sb, sc, sd = (np.where(full, v, 1.0) for v in (A, B, C, D))
    w = np.where(full, 1.0 / (1 / sa + 1 / sb + 1 / sc + 1 / sd), 0.0)
    q_wald = _cochran_q(np.log(sa * sd / (sb * sc)), w)

    tau0 = _start_or(A, N1, C, N2, used, nodes, alpha_fe, beta_fe)
    alpha, beta, tau, converged = _fit_or(A, N1, C, N2, used, nodes, alpha_fe, beta_fe, tau0)
    ll = _ll_or(A, N1, C, N2, used, alpha[None], beta[None], tau[None], nodes)[0].sum(-1)
    snap = _snap(tau, ll, ll_boundary)
    alpha = np.where(snap[:, None], alpha_fe, alpha)
    beta = np.where(snap, beta_fe, beta)
    tau = np.where(snap, 0.0, tau)
    ll = np.where(snap, ll_boundary, ll)
    converged = (converged | snap) & ~((np.abs(beta) > _DIVERGED) | (tau > _DIVERGED))

    var, nd = _var_beta_or(A, N1, C, N2, used, nodes, alpha, beta, tau)
    bad_hessian = ~nd & converged
    se = np.sqrt(np.where(bad_hessian | ~converged, np.nan, var))
    tau2 = tau**2

    # I² and H² from escalc(OR) with ½ added to every cell of a table with a zero cell
    zero_cell = (A == 0) | (B == 0) | (C == 0) | (D == 0)
    add = np.where(zero_cell, 0.5, 0.0)
    vi = 1 / (A + add) + 1 / (B + add) + 1 / (C + add) + 1 / (D + add)
    i2, h2, vt = _i2_h2(vi, used, tau2)

    flags = {
        "k = 2: tau^2 cannot be estimated reliably": k == 2,
        "tau^2 estimated as 0 (boundary): the SE is the common-OR logistic SE": tau == 0,
        _BIG_TAU_MSG.format(nodes=nodes): converged & (tau > _BIG_TAU),
        "did not converge: results set to NaN": ~converged,
        "Hessian not negative definite at the optimum: SE set to NaN": bad_hessian,
    }
    out = _inference(
        (A.shape[0],),
        k,
        np.where(converged, beta, np.nan),
        se,
        tau2,
        converged,
        test,
        level,
        q_df,
        q_wald,
        q_lrt,
        i2,
        h2,
        vt,
        ll + lc.sum(-1),
        ll_fe,
        ll_sat,
    )
    return out, flags
