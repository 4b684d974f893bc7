"""Marginal likelihood of binomial-normal models by adaptive Gauss–Hermite quadrature (AGQ).

Model (Stijnen, Hamza & Özdemir 2010): x ~ Binomial(n, expit(μ + τ z)), z ~ N(0, 1). Each study's
likelihood is the one-dimensional integral

    L(μ, τ) = ∫ C(n, x) expit(μ+τz)^x (1 − expit(μ+τz))^(n−x) φ(z) dz,

computed as lme4 does for ``nAGQ`` > 1 (Liu & Pierce 1994; Pinheiro & Bates 1995): centre the
Gauss–Hermite rule on the mode ẑ of the integrand and scale it by the curvature there,
σ̂ = (τ² n p̂(1 − p̂) + 1)^(−1/2). One node is the Laplace approximation.

The mode solves g(z) = τ(x − n expit(μ + τz)) − z = 0. g is strictly decreasing (g' ≤ −1) and
g(τ(x − n)) ≥ 0 ≥ g(τx), so the root is bracketed. Plain Newton from 0 diverges at extreme (μ, τ)
(g is neither convex nor concave), hence a bracketed Newton iteration that falls back to bisection
whenever the Newton step leaves the bracket or fails to halve |g| (the "rtsafe" safeguard): every
step either halves |g| (and |z − ẑ| ≤ |g| since |g'| ≥ 1) or follows a bisection, so it converges
from any start.

The same code integrates a study with several arms sharing one random effect, η_j = η0_j + s_j τ z
(metafor's ``rma.glmm(model="UM.FS")`` uses two arms with s = ±½); :func:`log_marginal` is the
one-arm case.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import expit, gammaln, logsumexp

__all__ = ["gh_rule", "log_binom_kernel", "log_marginal"]

_LOG_SQRT_PI = 0.5 * np.log(np.pi)


@functools.lru_cache(maxsize=64)
def gh_rule(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes t_q and log weights log(w_q/√π) for the weight e^(−t²) (normalised to sum 1)."""
    t, w = np.polynomial.hermite.hermgauss(nodes)
    lw = np.log(w) - _LOG_SQRT_PI
    lw = lw - logsumexp(lw)  # Σ w/√π = 1 to the last bit, so τ = 0 reproduces the binomial pmf
    t.setflags(write=False)
    lw.setflags(write=False)
    return t, lw


def log_binom_kernel(x, n, eta):
    """x·log expit(η) + (n − x)·log expit(−η), written without cancellation for any η.

    With s = log(1 + e^(−|η|)): log expit(η) = −max(−η, 0) − s and log expit(−η) = −max(η, 0) − s.
    """
    s = np.log1p(np.exp(-np.abs(eta)))
    return -x * np.maximum(-eta, 0.0) - (n - x) * np.maximum(eta, 0.0) - n * s


def log_binom_coef(x, n):
    """log C(n, x)."""
    return gammaln(n + 1.0) - gammaln(x + 1.0) - gammaln(n - x + 1.0)


def _mode(x, n, eta0, s, tau, max_iter: int = 200) -> np.ndarray:
    """Root of g(z) = τ Σ_j s_j (x_j − n_j expit(η0_j + s_j τ z)) − z by safeguarded Newton.

    x, n, eta0: tuples (one entry per arm j) of 1-D arrays of length N; s: tuple of floats; tau: (N,)
    with τ ≥ 0. The root lies in [τ Σ_j min(s_j(x_j − n_j), s_j x_j), τ Σ_j max(…)]. Only unconverged
    elements are iterated, so a converged element is never moved again (a bisection from a converged
    point would undo it).
    """
    arms = range(len(s))
    lo = tau * sum(np.minimum(s[j] * (x[j] - n[j]), s[j] * x[j]) for j in arms)
    hi = tau * sum(np.maximum(s[j] * (x[j] - n[j]), s[j] * x[j]) for j in arms)
    # Start: the mode under a normal approximation to each arm's binomial likelihood on the logit scale.
    num = 0.0
    den = 1.0
    for j in arms:
        y = np.log(x[j] + 0.5) - np.log(n[j] - x[j] + 0.5)
        v = 1.0 / (x[j] + 0.5) + 1.0 / (n[j] - x[j] + 0.5)
        num = num + s[j] * (y - eta0[j]) / v
        den = den + tau * tau * (s[j] * s[j]) / v
    z = np.clip(tau * num / den, lo, hi)
    out = z.copy()
    idx = np.arange(z.size)
    g_prev = np.full(z.size, np.inf)
    for _ in range(max_iter):
        g = -z
        dg = -1.0
        for j in arms:
            ts = tau * s[j]
            eta = eta0[j] + ts * z
            p = expit(eta)
            g = g + ts * (x[j] - n[j] * p)
            dg = dg - ts * ts * n[j] * p * expit(-eta)
        lo = np.where(g > 0, z, lo)
        hi = np.where(g < 0, z, hi)
        z_newton = z - g / dg
        bisect = (z_newton < lo) | (z_newton > hi) | (np.abs(g) > 0.5 * np.abs(g_prev))
        z_new = np.where(bisect, 0.5 * (lo + hi), z_newton)
        done = (g == 0) | (np.abs(z_new - z) <= 1e-14 * (1.0 + np.abs(z)))
        out[idx] = z_new
        if done.all():
            break
        keep = ~done
        idx, tau, lo, hi, z = idx[keep], tau[keep], lo[keep], hi[keep], z_new[keep]
        x, n, eta0 = (tuple(a[keep] for a in arrs) for arrs in (x, n, eta0))
        g_prev = np.where(bisect, np.inf, g)[keep]
    return out


def _log_marginal_arms(x, n, eta0, s, tau, nodes: int) -> np.ndarray:
    """log ∫ Π_j Bin(x_j | n_j, expit(η0_j + s_j τ z)) φ(z) dz by AGQ, binomial coefficients excluded.

    x, n, eta0: tuples (one entry per arm j) of 1-D arrays of length N; s: tuple of floats; tau: (N,)
    with τ ≥ 0. Returns shape (N,).
    """
    arms = range(len(s))
    zhat = _mode(x, n, eta0, s, tau)
    info = 0.0
    h_hat = -0.5 * zhat * zhat
    for j in arms:
        eta_hat = eta0[j] + (tau * s[j]) * zhat
        info = info + (tau * s[j]) ** 2 * n[j] * expit(eta_hat) * expit(-eta_hat)
        h_hat = h_hat + log_binom_kernel(x[j], n[j], eta_hat)
    sigma = 1.0 / np.sqrt(info + 1.0)
    # log L = log σ + log Σ_q (w_q/√π) exp{h(z_q) + t_q²}, z_q = ẑ + √2 σ t_q, h(z) = Σ_j ℓ_j(η_j(z)) − z²/2.
    # h(z_q) ≤ h(ẑ), so with h(ẑ) factored out each summand is at most w_q e^(t_q²)/√π: no overflow,
    # and the nodes nearest ẑ keep the sum away from underflow. One node at a time keeps memory O(N).
    t, lw = gh_rule(int(nodes))
    scale = np.sqrt(2.0) * sigma
    acc = np.zeros_like(zhat)
    for tq, lwq in zip(t, lw, strict=True):
        zq = zhat + scale * tq
        h_q = -0.5 * zq * zq
        for j in arms:
            h_q = h_q + log_binom_kernel(x[j], n[j], eta0[j] + (tau * s[j]) * zq)
        acc += np.exp(np.minimum(h_q - h_hat, 0.0) + (lwq + tq * tq))
    return np.log(sigma) + h_hat + np.log(acc)


def log_marginal(x, n, mu, tau, nodes: int = 7) -> np.ndarray:
    """log L_i(μ, τ) for each study, binomial coefficient included, by AGQ with ``nodes`` points.

    All arguments broadcast against each other (e.g. x, n of shape (k,) with μ, τ of shape (G, 1)
    give (G, k)). τ must be ≥ 0; τ = 0 gives the binomial log-pmf exactly. ``nodes=1`` is Laplace.

    Accuracy is that of AGQ, not of the exact integral: for moderate n·p(1−p)τ² seven nodes give
    ~1e-5 in log L, but for a 0/n or n/n study with τ ≳ 3 the integrand is far from Gaussian and
    even 21 nodes can be off by 1e-4–1e-2 (lme4 shares this approximation).
    """
    if int(nodes) != nodes or nodes < 1:
        raise ValueError("nodes must be a positive integer")
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, n, mu, tau)))
    shape = arrays[0].shape
    x, n, mu, tau = (a.reshape(-1) for a in arrays)
    if np.any(tau < 0):
        raise ValueError("tau must be >= 0")
    out = _log_marginal_arms((x,), (n,), (mu,), (1.0,), tau, int(nodes))
    return (log_binom_coef(x, n) + out).reshape(shape)
