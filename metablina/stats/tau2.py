"""Between-study variance τ² in the normal–normal model y_i ~ N(x_i'β, v_i + τ²), as metafor 3.8 ``rma.uni``.

Estimators (all on arrays of shape (k,) or a stack (m, k), optional shared design matrix X):

* ``FE``  — common effect, τ² ≡ 0.
* ``DL``  — DerSimonian & Laird 1986, method of moments with weights 1/v_i.
* ``HE``  — Hedges 1983 / Hedges & Olkin 1985, method of moments with unit weights.
* ``HS``  — Hunter & Schmidt 2004, (Q − k)/Σw.
* ``SJ``  — Sidik & Jonkman 2005, one step from τ₀² = mean((y − ȳ)²).
* ``ML``, ``REML`` — (restricted) maximum likelihood by Fisher scoring (Viechtbauer 2005).
* ``EB``  — empirical Bayes, Morris 1983 (Fisher-scoring form of Berkey et al. 1995).
* ``PM``  — Paule & Mandel 1982: root of Q_gen(τ²) = k − p.

metafor's numerical settings are reproduced so that the numbers agree with it beyond its own tolerances:
Fisher scoring starts at max(0, τ²_HE), stops when |Δτ²| ≤ 1e-5 (at most 100 steps) and halves a step
that would leave [0, ∞); ML/REML estimates whose log-likelihood is below the one at τ² = 0 by more than
ε^¼ are reset to 0 (metafor's ``ll0check``); PM and the Q-profile bounds use R's ``uniroot`` (Brent's
zeroin, tol ε^¼), re-implemented here step for step, on [0, max(100, 10·mad(y)²)].

Where metafor gives up, this module does not (each case says so in the result's warnings):

* the upper end of a root search grows tenfold until it brackets the root, instead of stopping at a fixed
  ``tau2.max`` (metafor then returns NA for PM and asks for a larger ``tau2.max``; given one, it agrees);
* when Fisher scoring does not converge (it can oscillate between two points), τ² is the root of the
  estimating equation itself, found by the same bracketed Brent search: the score of the (restricted)
  likelihood for ML / REML, Q_gen(τ²) = k − p for EB (Morris's EB and PM solve the same equation), kept
  only if its log-likelihood is not below the one at τ² = 0.
Like metafor, the moment estimators and Q are computed from mean-centred y (this only matters for
models without an intercept).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from metablina.stats.errors import InputError

__all__ = [
    "METHODS",
    "Tau2Estimate",
    "estimate_tau2",
    "q_gen",
    "uniroot_brent",
]

METHODS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "PM", "EB")
_ALIASES = {"EE": "FE", "CE": "FE"}
THRESHOLD = 1e-5  # metafor control$threshold (Fisher scoring)
MAXITER = 100  # metafor control$maxiter
GROWTH = 10.0  # factor by which an upper search bound grows until it brackets the root
MAX_GROWTH = 40  # 10^40 times the first bound: beyond any τ² of finite data with positive variances
TOL = np.finfo(float).eps ** 0.25  # metafor control$tol = uniroot's default tolerance
EVTOL = 1e-7  # metafor control$evtol (rank check on X'X)


# ------------------------------------------------------------------------------------------------------------
# input checks shared with rma
# ------------------------------------------------------------------------------------------------------------
def normalise_method(method: str) -> str:
    """Upper-case ``method`` and map metafor's synonyms EE/CE to FE."""
    if not isinstance(method, str):
        raise InputError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    m = _ALIASES.get(method.upper(), method.upper())
    if m not in METHODS:
        raise InputError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    return m


def _where(lead: tuple[int, ...], flat_index: int) -> str:
    """'study i' or 'analysis (a, b), study i' for a flat (m, k) position."""
    if not lead:
        return ""
    pos = tuple(int(j) for j in np.unravel_index(flat_index, lead))
    return f"analysis {pos[0] if len(pos) == 1 else pos}, "


def check_data(yi, vi) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Validate yi, vi -> float arrays reshaped to (m, k) and the leading (stack) shape."""
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    if y.ndim == 0:
        raise InputError("yi: expected an array of study effects, got a scalar")
    if v.shape != y.shape:
        raise InputError(f"vi: shape {v.shape} does not match yi {y.shape}")
    k = y.shape[-1]
    if k == 0:
        raise InputError("yi: no studies (k = 0)")
    lead = y.shape[:-1]
    y2 = y.reshape(-1, k)
    v2 = v.reshape(-1, k)
    bad = ~np.isfinite(y2)
    if bad.any():
        a, i = np.argwhere(bad)[0]
        raise InputError(f"yi: {_where(lead, a)}study {i} is {y2[a, i]} (must be finite)")
    bad = ~(np.isfinite(v2) & (v2 > 0))
    if bad.any():
        a, i = np.argwhere(bad)[0]
        raise InputError(f"vi: {_where(lead, a)}study {i} has sampling variance {v2[a, i]} (must be > 0)")
    return y2, v2, lead


def check_X(X, k: int, m: int) -> np.ndarray | None:
    """Validate a design matrix of shape (k, p) or (m, k, p); None (intercept only) passes through.

    A single column of ones is returned as None, so that the intercept-only closed forms are used.
    """
    if X is None:
        return None
    Xa = np.asarray(X, dtype=float)
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    if Xa.ndim not in (2, 3) or Xa.shape[-2] != k or (Xa.ndim == 3 and Xa.shape[0] != m):
        raise InputError(f"X: expected shape ({k}, p) or ({m}, {k}, p), got {Xa.shape}")
    if not np.isfinite(Xa).all():
        raise InputError("X: contains non-finite values")
    ev = np.linalg.eigvalsh(np.swapaxes(Xa, -1, -2) @ Xa)
    if (ev <= EVTOL).any():
        raise InputError("X: design matrix is not of full column rank (redundant or constant moderators)")
    if Xa.shape[-1] == 1 and np.all(np.abs(Xa - 1.0) < 1e-8):
        return None
    return Xa


def intercept_column(X: np.ndarray | None) -> int | None:
    """Index of the all-ones column of X (metafor's ``.is.intercept``), None if there is none."""
    if X is None:
        return 0
    ones = np.all(np.abs(X - 1.0) < 1e-8, axis=-2)
    ones = ones.all(axis=0) if ones.ndim == 2 else ones
    hit = np.flatnonzero(ones)
    return int(hit[0]) if hit.size else None


def _sub(X: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    """Rows idx of a stacked X; a shared X is returned unchanged."""
    return X[idx] if X is not None and X.ndim == 3 else X


def mad(y: np.ndarray) -> np.ndarray:
    """R's ``mad``: 1.4826 · median |y − median y| along the last axis."""
    med = np.median(y, axis=-1, keepdims=True)
    return 1.4826 * np.median(np.abs(y - med), axis=-1)


# ------------------------------------------------------------------------------------------------------------
# weighted projection P = W − W X (X'WX)^{-1} X'W for a stack of weight vectors
# ------------------------------------------------------------------------------------------------------------
class Projection:
    """P = W − W X (X'WX)⁻¹ X'W for weights w (m, k); y'Py is the (generalised) Q statistic.

    Intercept-only models (X is None) use closed forms. With moderators, the QR decomposition
    W^½X = QR gives X'WX = R'R and P = W − W^½QQ'W^½ without inverting X'WX, which keeps full
    precision when a moderator (a calendar year, say) is nearly collinear with the intercept; the
    (m, k, k) matrix P itself is formed only for the two traces that need it.
    """

    def __init__(self, w: np.ndarray, X: np.ndarray | None):
        self.w = w
        self.X = X
        self.sw = w.sum(axis=-1)
        if X is not None:
            self.s = np.sqrt(w)
            self.Q, self.R = np.linalg.qr(self.s[..., :, None] * X)
            self.h = (self.Q**2).sum(-1)  # leverages of W^(1/2) X

    @functools.cached_property
    def Rinv(self) -> np.ndarray:
        return np.linalg.inv(self.R)

    @functools.cached_property
    def Ainv(self) -> np.ndarray:
        """(X'WX)⁻¹ (m, p, p)."""
        if self.X is None:
            return (1.0 / self.sw)[:, None, None]
        return self.Rinv @ np.swapaxes(self.Rinv, -1, -2)

    @functools.cached_property
    def P(self) -> np.ndarray:
        sQ = self.s[..., :, None] * self.Q
        P = -(sQ @ np.swapaxes(sQ, -1, -2))
        d = np.arange(self.w.shape[-1])
        P[:, d, d] += self.w
        return P

    def beta(self, y: np.ndarray) -> np.ndarray:
        """Weighted least-squares coefficients (m, p)."""
        if self.X is None:
            return ((self.w * y).sum(-1) / self.sw)[:, None]
        qty = np.einsum("mkp,mk->mp", self.Q, self.s * y)
        return (self.Rinv @ qty[..., None])[..., 0]

    def resid(self, y: np.ndarray) -> np.ndarray:
        """y − Xβ̂."""
        if self.X is None:
            return y - ((self.w * y).sum(-1) / self.sw)[:, None]
        sub = "mkp,mp->mk" if self.X.ndim == 3 else "kp,mp->mk"
        return y - np.einsum(sub, self.X, self.beta(y))

    def Py(self, y: np.ndarray) -> np.ndarray:
        return self.w * self.resid(y)

    def quad(self, y: np.ndarray) -> np.ndarray:
        """y'Py = Σ w_i r_i², r = y − Xβ̂."""
        r = self.resid(y)
        return (self.w * r * r).sum(-1)

    def trP(self) -> np.ndarray:
        if self.X is None:
            return self.sw - (self.w**2).sum(-1) / self.sw
        return self.sw - (self.w * self.h).sum(-1)

    def sumPP(self) -> np.ndarray:
        """tr(PP) = Σ_ij P_ij² (P is symmetric)."""
        w = self.w
        if self.X is None:
            S = self.sw
            s2 = (w**2).sum(-1)
            return s2 - 2.0 * (w**3).sum(-1) / S + (s2 / S) ** 2
        QWQ = np.swapaxes(self.Q, -1, -2) @ (w[..., :, None] * self.Q)
        return (w**2).sum(-1) - 2.0 * (w**2 * self.h).sum(-1) + (QWQ**2).sum((-1, -2))

    def trPV(self, v: np.ndarray) -> np.ndarray:
        """tr(PV), V = diag(v)."""
        if self.X is None:
            return ((self.w - self.w**2 / self.sw[:, None]) * v).sum(-1)
        return ((self.w - self.w * self.h) * v).sum(-1)

    def sumPVP(self, v: np.ndarray) -> np.ndarray:
        """Σ_ij (PV)_ij P_ij = Σ_ij P_ij² v_j."""
        if self.X is None:
            w, S = self.w, self.sw[:, None]
            s2 = (w**2).sum(-1, keepdims=True)
            return (v * w**2 * (1.0 - 2.0 * w / S + s2 / S**2)).sum(-1)
        return np.einsum("mij,mij,mj->m", self.P, self.P, v)

    def trPVPV(self, v: np.ndarray) -> np.ndarray:
        """tr(PVPV) = Σ_ij P_ij² v_i v_j."""
        if self.X is None:
            w, S = self.w, self.sw
            return (w**2 * v**2).sum(-1) - 2.0 * (w**3 * v**2).sum(-1) / S + ((w**2 * v).sum(-1) / S) ** 2
        return np.einsum("mij,mij,mi,mj->m", self.P, self.P, v, v)

    def logdetA(self) -> np.ndarray:
        """log det(X'WX)."""
        if self.X is None:
            return np.log(self.sw)
        return 2.0 * np.log(np.abs(np.diagonal(self.R, axis1=-2, axis2=-1))).sum(-1)


def q_gen(tau2, yi, vi, X=None) -> np.ndarray:
    """Generalised Q: Σ w_i(τ²) (y_i − x_i'β̂(τ²))², w_i = 1/(v_i + τ²) (Viechtbauer 2007); Q at τ² = 0.

    Uses yi as given (not centred), as metafor's Q-profile does. Returns shape (m,) for a stack.
    """
    y, v, lead = check_data(yi, vi)
    Xc = check_X(X, y.shape[1], y.shape[0])
    t = np.broadcast_to(np.asarray(tau2, dtype=float).reshape(-1), (y.shape[0],))
    out = Projection(1.0 / (v + t[:, None]), Xc).quad(y)
    return out.reshape(lead) if lead else float(out[0])


# ------------------------------------------------------------------------------------------------------------
# R's uniroot (Brent's zeroin, R_zeroin2) vectorised over a stack
# ------------------------------------------------------------------------------------------------------------
def uniroot_brent(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    lower: np.ndarray,
    upper: np.ndarray,
    f_lower: np.ndarray,
    f_upper: np.ndarray,
    tol: float = TOL,
    maxiter: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Roots of f on [lower, upper] for n independent problems, following R's ``uniroot``/``R_zeroin2``.

    Brent (1973) as coded by Forsythe, Malcolm & Moler (1977): inverse quadratic or linear interpolation,
    bisection when the interpolated point is unreasonable, steps of at least ``tol_act`` =
    2ε|b| + tol/2. Taking the same steps as R (not just reaching the same tolerance) is what makes the PM
    estimate and Q-profile bounds agree with metafor far below ``tol``.

    ``f(x, idx)`` evaluates the problems ``idx`` at ``x``. Returns (root, converged).
    """
    eps = np.finfo(float).eps
    a = np.array(lower, dtype=float)
    b = np.array(upper, dtype=float)
    fa = np.array(f_lower, dtype=float)
    fb = np.array(f_upper, dtype=float)
    c, fc = a.copy(), fa.copy()
    root = np.full(a.shape, np.nan)
    conv = np.ones(a.shape, dtype=bool)
    at_a = fa == 0
    root[at_a] = a[at_a]
    at_b = ~at_a & (fb == 0)
    root[at_b] = b[at_b]
    active = ~(at_a | at_b)
    for _ in range(maxiter + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        A, B, C, FA, FB, FC = a[idx], b[idx], c[idx], fa[idx], fb[idx], fc[idx]
        prev = B - A
        swap = np.abs(FC) < np.abs(FB)
        A, B, C = np.where(swap, B, A), np.where(swap, C, B), np.where(swap, B, C)
        FA, FB, FC = np.where(swap, FB, FA), np.where(swap, FC, FB), np.where(swap, FB, FC)
        tol_act = 2.0 * eps * np.abs(B) + tol / 2.0
        step = (C - B) / 2.0
        done = (np.abs(step) <= tol_act) | (FB == 0)
        root[idx[done]] = B[done]
        active[idx[done]] = False
        keep = ~done
        idx = idx[keep]
        if idx.size == 0:
            break
        A, B, C, FA, FB, FC = A[keep], B[keep], C[keep], FA[keep], FB[keep], FC[keep]
        prev, tol_act, step = prev[keep], tol_act[keep], step[keep]
        interp = (np.abs(prev) >= tol_act) & (np.abs(FA) > np.abs(FB))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            cb = C - B
            lin = A == C
            t1_lin = FB / FA
            p_lin = cb * t1_lin
            q_lin = 1.0 - t1_lin
            qq = FA / FC
            t1 = FB / FC
            t2 = FB / FA
            p_quad = t2 * (cb * qq * (qq - t1) - (B - A) * (t1 - 1.0))
            q_quad = (qq - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            p = np.where(lin, p_lin, p_quad)
            q = np.where(lin, q_lin, q_quad)
            q = np.where(p > 0, -q, q)
            p = np.abs(p)
            ok = interp & (p < 0.75 * cb * q - np.abs(tol_act * q) / 2.0) & (p < np.abs(prev * q / 2.0))
            step = np.where(ok, p / q, step)
        small = np.abs(step) < tol_act
        step = np.where(small, np.where(step > 0, tol_act, -tol_act), step)
        A, FA = B, FB
        B = B + step
        FB = np.asarray(f(B, idx), dtype=float)
        flip = ((FB > 0) & (FC > 0)) | ((FB < 0) & (FC < 0))
        C = np.where(flip, A, C)
        FC = np.where(flip, FA, FC)
        a[idx], b[idx], c[idx], fa[idx], fb[idx], fc[idx] = A, B, C, FA, FB, FC
    left = np.flatnonzero(active)
    root[left] = b[left]
    conv[left] = False
    return root, conv


def widen_upper(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray], upper: np.ndarray, f_upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grow ``upper`` tenfold where the decreasing function ``f`` is still positive there, until it is not.

    ``f(x, idx)`` evaluates problems ``idx`` at ``x``. Returns the new upper ends, f at them, and a mask of
    the problems whose upper end had to grow (for a warning). A problem still positive after
    ``MAX_GROWTH`` steps keeps its last (positive) value: the caller treats it as not bracketed.
    """
    upper, f_upper = upper.astype(float).copy(), f_upper.astype(float).copy()
    grown = np.zeros(upper.shape, dtype=bool)
    for _ in range(MAX_GROWTH):
        out = np.flatnonzero(f_upper > 0)
        if out.size == 0:
            break
        grown[out] = True
        upper[out] *= GROWTH
        f_upper[out] = f(upper[out], out)
    return upper, f_upper, grown


def _estimating_equation(method: str, ymc, v, X, p: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The equation whose root is τ², positive below it: the ML or REML score (up to a positive factor),
    or Q_gen(τ²) − (k − p) for PM and EB."""
    k = ymc.shape[1]

    def f(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        w = 1.0 / (v[idx] + x[:, None])
        pr = Projection(w, _sub(X, idx))
        if method in ("PM", "EB"):
            return pr.quad(ymc[idx]) - (k - p)
        Py = pr.Py(ymc[idx])
        return (Py * Py).sum(-1) - (pr.trP() if method == "REML" else w.sum(-1))

    return f


def _root_search(
    method: str,
    ymc,
    v,
    X,
    p: int,
    rows: np.ndarray,
    start: np.ndarray,
    tol: float = TOL,
    maxiter: int = MAXITER,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """τ² for the problems ``rows`` as the root of their estimating equation on [0, upper], the upper end
    starting at ``start`` and grown until it brackets the root; 0 where the equation is negative at 0.
    ``tol`` is Brent's (metafor's ε^¼ for PM, to take its steps). Returns (τ², converged, upper grown)."""
    f_all = _estimating_equation(method, ymc, v, X, p)

    def f(x, idx):
        return f_all(x, rows[idx])

    n = rows.size
    f0 = f(np.zeros(n), np.arange(n))
    upper, f_upper, grown = widen_upper(f, start, f(start, np.arange(n)))
    t = np.zeros(n)
    conv = np.ones(n, dtype=bool)
    run = np.flatnonzero((f0 >= 0) & (f_upper <= 0))
    if run.size:

        def fr(x, idx):
            return f(x, run[idx])

        t[run], conv[run] = uniroot_brent(
            fr, np.zeros(run.size), upper[run], f0[run], f_upper[run], tol, maxiter
        )
    unbracketed = (f0 >= 0) & ~(f_upper <= 0)  # also NaN: no root to be found
    t[unbracketed] = np.nan
    conv[unbracketed] = False
    return t, conv, grown & (f0 >= 0)


# ------------------------------------------------------------------------------------------------------------
# estimators
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tau2Estimate:
    """τ² estimates for a stack of analyses (arrays of shape (m,), or floats for one analysis)."""

    method: str
    tau2: np.ndarray | float
    se: np.ndarray | float
    converged: np.ndarray | bool
    iterations: np.ndarray | int
    reset_to_zero: np.ndarray | bool  # ML/REML: metafor's ll0check set τ² to 0 (local maximum)
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        def py(x):
            return np.asarray(x).tolist()

        return {
            "method": self.method,
            "tau2": py(self.tau2),
            "tau2_se": py(self.se),
            "converged": py(self.converged),
            "iterations": py(self.iterations),
            "reset_to_zero": py(self.reset_to_zero),
            "warnings": list(self.warnings),
        }

    def summary(self):
        """One row per analysis (a stack is flattened in C order)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "tau2": np.ravel(self.tau2),
                "tau2_se": np.ravel(self.se),
                "converged": np.ravel(self.converged),
                "iterations": np.ravel(self.iterations),
            }
        )


@dataclass
class _Raw:
    """Internal (m,)-shaped estimator output."""

    tau2: np.ndarray
    se: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    reset: np.ndarray
    messages: list[tuple[np.ndarray, str]]  # (mask over the stack, message)


def _he_raw(ymc: np.ndarray, v: np.ndarray, X: np.ndarray | None, p: int) -> np.ndarray:
    k = ymc.shape[1]
    pr = Projection(np.ones_like(v), X)
    return (pr.quad(ymc) - pr.trPV(v)) / (k - p)


def _fisher_scoring(
    method: str, ymc: np.ndarray, v: np.ndarray, X: np.ndarray | None, p: int, init: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """metafor's Fisher scoring for ML / REML / EB, vectorised with an active set."""
    m, k = ymc.shape
    t = init.copy()
    it = np.zeros(m, dtype=int)
    conv = np.ones(m, dtype=bool)
    active = np.ones(m, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        it[idx] += 1
        old = t[idx]
        w = 1.0 / (v[idx] + old[:, None])
        pr = Projection(w, _sub(X, idx))
        y = ymc[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            if method == "ML":
                Py = pr.Py(y)
                adj = ((Py * Py).sum(-1) - w.sum(-1)) / (w**2).sum(-1)
            elif method == "REML":
                Py = pr.Py(y)
                adj = ((Py * Py).sum(-1) - pr.trP()) / pr.sumPP()
            else:  # EB
                adj = (pr.quad(y) * k / (k - p) - k) / w.sum(-1)
        adj = np.where(np.isnan(adj), 0.0, adj)
        # an infinite step (sum of squared P entries underflowed to 0) cannot be halved into range:
        # stop scoring there, unconverged, so the bracketed search below takes over
        blown = ~np.isfinite(adj)
        adj[blown] = 0.0
        # step halving: a step below tau2.min = 0 is halved until it stays inside; from 0 it vanishes
        neg = old + adj < 0
        adj[neg & (old == 0)] = 0.0
        neg = old + adj < 0
        while neg.any():
            adj[neg] /= 2.0
            neg = old + adj < 0
        new = old + adj
        t[idx] = new
        failed = (it[idx] > MAXITER) | blown
        conv[idx[failed]] = False
        still = (np.abs(old - new) > THRESHOLD) & ~failed
        active[idx[~still]] = False
    return t, conv, it


def _loglik(method: str, ymc, v, X, p, t) -> np.ndarray:
    """ML or REML log-likelihood at τ² = t, from mean-centred y as in metafor's ll0check."""
    k = ymc.shape[1]
    pr = Projection(1.0 / (v + t[:, None]), X)
    rss = pr.quad(ymc)
    if method == "ML":
        return -0.5 * k * np.log(2 * np.pi) - 0.5 * np.log(v + t[:, None]).sum(-1) - 0.5 * rss
    return (
        -0.5 * (k - p) * np.log(2 * np.pi)
        - 0.5 * np.log(v + t[:, None]).sum(-1)
        - 0.5 * pr.logdetA()
        - 0.5 * rss
    )


def _estimate(
    method: str,
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray | None,
    fixed: np.ndarray | None = None,
) -> _Raw:
    """Core estimator on validated (m, k) arrays. ``fixed``: user-specified τ² (metafor's ``tau2=``)."""
    m, k = y.shape
    p = 1 if X is None else X.shape[-1]
    ymc = y - y.mean(axis=-1, keepdims=True)
    conv = np.ones(m, dtype=bool)
    iters = np.zeros(m, dtype=int)
    reset = np.zeros(m, dtype=bool)
    msgs: list[tuple[np.ndarray, str]] = []
    if method == "FE":
        zero = np.zeros(m)
        return _Raw(zero, np.full(m, np.nan), conv, iters, reset, msgs)

    t0 = None
    if method in ("HS", "DL"):
        pr = Projection(1.0 / v, X)
        rss = pr.quad(ymc)
        t = (rss - k) / pr.sw if method == "HS" else (rss - (k - p)) / pr.trP()
    elif method == "HE":
        t = _he_raw(ymc, v, X, p)
    elif method == "SJ":
        t0 = (ymc**2).mean(axis=-1)
        pr = Projection(1.0 / (v + t0[:, None]), X)
        t = t0 * pr.quad(ymc) / (k - p)
    elif method in ("ML", "REML", "EB"):
        if fixed is not None:
            t = fixed.copy()
        else:
            init = np.maximum(0.0, _he_raw(ymc, v, X, p))
            t, conv, iters = _fisher_scoring(method, ymc, v, X, p, init)
            stuck = np.flatnonzero(~conv)
            if stuck.size:
                start = np.maximum(100.0, 10.0 * mad(y[stuck]) ** 2)
                # no metafor steps to follow here: solve to near machine precision
                t[stuck], conv[stuck], _ = _root_search(
                    method, ymc, v, X, p, stuck, start, tol=1e-13, maxiter=1000
                )
                fell_back = np.zeros(m, dtype=bool)
                fell_back[stuck[conv[stuck]]] = True
                if fell_back.any():
                    equation = "Q_gen(tau^2) = k - p" if method == "EB" else f"the {method} score equation"
                    msgs.append(
                        (
                            fell_back,
                            f"Fisher scoring did not converge (in {MAXITER} iterations, or its step "
                            f"overflowed); tau^2 is the root of {equation} "
                            "from a bracketed Brent search instead",
                        )
                    )
            if method in ("ML", "REML"):
                ok = np.flatnonzero(conv)
                if ok.size:
                    Xo = _sub(X, ok)
                    ll0 = _loglik(method, ymc[ok], v[ok], Xo, p, np.zeros(ok.size))
                    ll = _loglik(method, ymc[ok], v[ok], Xo, p, t[ok])
                    bad = (ll0 - ll > TOL) & (t[ok] > THRESHOLD)
                    reset[ok[bad]] = True
                    t[ok[bad]] = 0.0
                if reset.any():
                    msgs.append(
                        (
                            reset,
                            "Fisher scoring may have got stuck at a local maximum; tau^2 set to 0 "
                            "(metafor: check the profile likelihood)",
                        )
                    )
            if (~conv).any():
                msgs.append(
                    (~conv, "neither Fisher scoring nor a bracketed root search converged; tau^2 = NaN")
                )
                t = np.where(conv, t, np.nan)
    elif method == "PM":
        if fixed is not None:
            t = fixed.copy()
        else:
            everyone = np.arange(m)
            t, conv, grown = _root_search(
                method, ymc, v, X, p, everyone, np.maximum(100.0, 10.0 * mad(y) ** 2)
            )
            if grown.any():
                msgs.append(
                    (
                        grown,
                        "PM: Q_gen(tau^2) > k - p at max(100, 10 mad(y)^2); the search bound grew tenfold "
                        "until it bracketed the root (metafor: raise 'tau2.max')",
                    )
                )
            if (~conv).any():
                t[~conv] = np.nan
                msgs.append((~conv, "PM root search did not converge; tau^2 = NaN"))
    else:  # pragma: no cover - normalise_method guards
        raise InputError(f"method: unknown {method!r}")

    if fixed is not None:
        t = fixed.copy()
    t = np.where(np.isnan(t), np.nan, np.maximum(0.0, t))

    # standard errors, metafor's formulas, evaluated at the final tau^2
    tp = np.where(np.isnan(t), 0.0, t)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "HS":
            pr = Projection(1.0 / v, X)
            se = np.sqrt((2 * (k - p) + 4 * tp * pr.trP() + 2 * tp**2 * pr.sumPP()) / pr.sw**2)
        elif method == "DL":
            pr = Projection(1.0 / v, X)
            trP = pr.trP()
            se = np.sqrt((2 * (k - p) + 4 * tp * trP + 2 * tp**2 * pr.sumPP()) / trP**2)
        elif method == "HE":
            pr = Projection(np.ones_like(v), X)
            se = np.sqrt((2 * pr.trPVPV(v) + 4 * tp * pr.trPV(v) + 2 * tp**2 * (k - p)) / (k - p) ** 2)
        elif method == "SJ":
            pr = Projection(1.0 / (v + t0[:, None]), X)
            se = np.sqrt(
                t0**2 / (k - p) ** 2 * (2 * pr.trPVPV(v) + 4 * tp * pr.sumPVP(v) + 2 * tp**2 * pr.sumPP())
            )
        elif method == "ML":
            w = 1.0 / (v + tp[:, None])
            se = np.sqrt(2.0 / (w**2).sum(-1))
        elif method == "REML":
            se = np.sqrt(2.0 / Projection(1.0 / (v + tp[:, None]), X).sumPP())
        else:  # EB, PM
            w = 1.0 / (v + tp[:, None])
            se = np.sqrt(2.0 * k**2 / (k - p) / w.sum(-1) ** 2)
    se = np.where(np.isnan(t), np.nan, se)
    return _Raw(t, se, conv, iters, reset, msgs)


def stack_message(mask: np.ndarray, msg: str, lead: tuple[int, ...]) -> str:
    """Prefix a message with the analyses it concerns (all of a stack, or the listed ones)."""
    if not lead or mask.all():
        return msg
    where = [tuple(int(j) for j in np.unravel_index(i, lead)) for i in np.flatnonzero(mask)]
    shown = ", ".join(str(w[0]) if len(w) == 1 else str(w) for w in where[:10])
    more = f", ... ({len(where)} in total)" if len(where) > 10 else ""
    return f"{'analysis' if len(where) == 1 else 'analyses'} {shown}{more}: {msg}"


def estimate_tau2(yi, vi, method: str = "REML", X=None, tau2=None) -> Tau2Estimate:
    """Estimate τ² for one analysis (yi, vi of shape (k,)) or a stack (shape (..., k)), metafor 3.8 style.

    ``X`` is the full design matrix, shape (k, p) or (m, k, p) (include a column of ones for an
    intercept); None means intercept only. ``tau2`` fixes τ² (the SE is then metafor's formula at that
    value). Estimates are truncated at 0.
    """
    method = normalise_method(method)
    y, v, lead = check_data(yi, vi)
    m, k = y.shape
    Xc = check_X(X, k, m)
    p = 1 if Xc is None else Xc.shape[-1]
    if method != "FE" and tau2 is None and p + 1 > k:
        raise InputError(f"yi: k = {k} studies cannot estimate {p} coefficients and tau^2")
    if method == "FE" and p > k:
        raise InputError(f"yi: k = {k} studies cannot estimate {p} coefficients")
    fixed = None
    if tau2 is not None:
        fixed = np.broadcast_to(np.asarray(tau2, dtype=float), lead).reshape(-1).copy()
        if not (np.isfinite(fixed) & (fixed >= 0)).all():
            raise InputError("tau2: a fixed tau^2 must be finite and >= 0")
    raw = _estimate(method, y, v, Xc, fixed)

    def out(a):
        return a.reshape(lead) if lead else a[0].item()

    return Tau2Estimate(
        method=method,
        tau2=out(raw.tau2),
        se=out(raw.se),
        converged=out(raw.converged),
        iterations=out(raw.iterations),
        reset_to_zero=out(raw.reset),
        warnings=tuple(stack_message(mk, msg, lead) for mk, msg in raw.messages),
    )
