"""metablina.stats.agq: AGQ marginal likelihood of the binomial-normal model.

Checked against (i) brute-force adaptive integration (scipy.integrate.quad, rel 1e-12) of the exact
integral, (ii) an independent re-implementation of the AGQ rule with scipy's brentq for the mode, which
must agree to rounding at any (μ, τ) however extreme — that is what the safeguarded mode search
guarantees —, and (iii) the binomial pmf at τ = 0. The exact (μ, τ) derivatives that Newton and the SE
use are checked against Richardson-extrapolated central differences of the value.
"""

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, stats
from scipy.special import expit, gammaln

from metablina.stats.agq import (
    _log_marginal_arms,
    _log_marginal_derivs,
    _mode,
    log_binom_kernel,
    log_marginal,
)


def _kernel(x, n, eta):
    # x log p + (n - x) log(1 - p), straight from the definition (scipy's log_expit)
    from scipy.special import log_expit

    return x * log_expit(eta) + (n - x) * log_expit(-eta)


def _exact(x, n, mu, tau):
    """log ∫ Bin(x | n, expit(mu + tau z)) φ(z) dz by quad around the mode (independent of agq.py)."""
    lc = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
    if tau == 0:
        return lc + _kernel(x, n, mu)

    def h(z):
        return _kernel(x, n, mu + tau * z) - z * z / 2

    zm = optimize.minimize_scalar(lambda z: -h(z), bounds=(tau * (x - n) - 1, tau * x + 1), method="bounded",
                                  options={"xatol": 1e-12}).x
    hm = h(zm)
    val, _ = integrate.quad(lambda z: np.exp(h(z) - hm), zm - 40, zm + 40, points=[zm], epsabs=0,
                            epsrel=1e-12, limit=2000)
    return lc + hm + np.log(val) - 0.5 * np.log(2 * np.pi)


def _agq_reference(x, n, mu, tau, nodes):
    """The AGQ rule written out independently: brentq for the mode, hermgauss nodes, plain sums."""
    lc = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
    if tau == 0:
        return lc + _kernel(x, n, mu)
    g = lambda z: tau * (x - n * expit(mu + tau * z)) - z  # noqa: E731
    lo, hi = tau * (x - n), tau * x
    zhat = lo if g(lo) == 0 else hi if g(hi) == 0 else optimize.brentq(g, lo, hi, xtol=1e-15, rtol=1e-15)
    p = expit(mu + tau * zhat)
    sigma = (tau**2 * n * p * (1 - p) + 1) ** -0.5
    t, w = np.polynomial.hermite.hermgauss(nodes)
    z = zhat + np.sqrt(2) * sigma * t
    logs = np.log(w) + t**2 + _kernel(x, n, mu + tau * z) - z**2 / 2
    top = logs.max()
    return lc + np.log(np.sqrt(2) * sigma) - 0.5 * np.log(2 * np.pi) + top + np.log(np.exp(logs - top).sum())


# a grid of ordinary points: every kind of x (0, 1, interior, n - 1, n), small and large n, τ up to 1.5
GRID = [(x, n, mu, tau)
        for n in (1, 7, 50, 400)
        for x in sorted({0, 1, min(5, n), n // 2, n - 1, n})
        for mu, tau in itertools.product((-4.0, -1.0, 0.0, 2.0), (0.2, 0.8, 1.5))]

# points where plain Newton from z = 0 diverges or the integrand is extremely skewed
EXTREME = [
    (0, 1, 30.0, 20.0), (1, 1, -30.0, 20.0), (5, 1000, -40.0, 15.0), (500, 1000, 40.0, 15.0),
    (0, 100000, -20.0, 20.0), (100000, 100000, -20.0, 20.0), (0, 54, 40.0, 0.01), (54, 54, -40.0, 30.0),
    (3, 7, 700.0, 50.0), (3, 7, -700.0, 50.0), (2, 5, 15.0, 1e-8), (97, 100, 3.0, 12.0),
]


@pytest.mark.parametrize(("x", "n", "mu", "tau"), GRID)
def test_matches_brute_force_integration(x, n, mu, tau):
    exact = _exact(x, n, mu, tau)
    # 21 nodes: within 2e-6 of the exact integral on this grid (worst case 0/50, μ = −4, τ = 1.5)
    assert log_marginal(x, n, mu, tau, nodes=21) == pytest.approx(exact, abs=2e-6)
    # 7 nodes (lme4's default): the AGQ error itself, within 1e-3 here
    assert log_marginal(x, n, mu, tau, nodes=7) == pytest.approx(exact, abs=1e-3)


def test_error_shrinks_with_nodes():
    x, n, mu, tau = 0, 50, -4.0, 1.5
    exact = _exact(x, n, mu, tau)
    errs = [abs(log_marginal(x, n, mu, tau, nodes=q) - exact) for q in (7, 11, 15, 21, 31)]
    assert all(b < a for a, b in itertools.pairwise(errs))
    assert errs[-1] < 1e-8


@pytest.mark.parametrize(("x", "n", "mu", "tau"), GRID[::7] + EXTREME)
@pytest.mark.parametrize("nodes", [1, 7, 21])
def test_matches_independent_agq(x, n, mu, tau, nodes):
    got = log_marginal(x, n, mu, tau, nodes=nodes)
    assert np.isfinite(got)
    # rounding in g(z) = τ(x − n p) − z grows with τn (2e6 for n = 1e5, τ = 20)
    assert got == pytest.approx(_agq_reference(x, n, mu, tau, nodes), rel=1e-11, abs=1e-11 + 1e-15 * tau * n)


@pytest.mark.parametrize(("x", "n", "mu", "tau"), EXTREME)
def test_mode_is_a_root_at_extremes(x, n, mu, tau):
    z = _mode((np.array([x], float),), (np.array([n], float),), (np.array([mu]),), (1.0,), np.array([tau]))[0]
    assert tau * (x - n) <= z <= tau * x
    g = tau * (x - n * expit(mu + tau * z)) - z
    slope = tau**2 * n * expit(mu + tau * z) * expit(-mu - tau * z) + 1
    assert abs(g) <= 1e-12 * max(1.0, abs(z)) * slope + 1e-15 * tau * n  # rounding in τ·n·p


def test_extremes_are_close_to_exact_with_many_nodes():
    # far from Gaussian integrands: 61 nodes still get within 1e-2 of the exact value, and never above 0
    for x, n, mu, tau in EXTREME:
        got = log_marginal(x, n, mu, tau, nodes=61)
        assert got <= 1e-12
        if n <= 1000:
            assert got == pytest.approx(_exact(x, n, mu, tau), abs=1e-2)


def test_tau_zero_is_the_binomial_pmf():
    x = np.array([0, 3, 7, 20, 20])
    n = np.array([5, 10, 7, 20, 100])
    lc = gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)
    for mu in (-50.0, -3.0, 0.0, 1.2, 50.0):
        # scipy's logpmf underflows to -inf at expit(±50); the log-kernel form does not
        want = stats.binom.logpmf(x, n, expit(mu)) if abs(mu) < 10 else lc + _kernel(x, n, mu)
        for nodes in (1, 7, 20):
            np.testing.assert_allclose(log_marginal(x, n, mu, 0.0, nodes=nodes), want, rtol=1e-13, atol=1e-13)


def test_broadcasting_grid_shape():
    x = np.array([0, 9, 0, 3])
    n = np.array([54, 202, 11, 40])
    mu = np.linspace(-6, 1, 5)[:, None]
    tau = np.linspace(0, 3, 5)[:, None]
    got = log_marginal(x, n, mu, tau)
    assert got.shape == (5, 4)
    for g in range(5):
        for i in range(4):
            assert got[g, i] == log_marginal(x[i], n[i], mu[g, 0], tau[g, 0])
    full = log_marginal(x, n, mu[:, None], tau[None])  # (5, 5, 4) grid of (μ, τ)
    assert full.shape == (5, 5, 4)
    assert full[2, 3, 1] == pytest.approx(log_marginal(x[1], n[1], mu[2, 0], tau[3, 0]), rel=1e-15)


def test_two_arm_integral_matches_quad():
    # one study, two arms sharing u = τz with s = ±1/2 (metafor's UM.FS coding)
    a, n1, c, n2, alpha, beta, tau = 3.0, 20.0, 9.0, 22.0, -1.2, -0.6, 1.4
    got = _log_marginal_arms((np.array([a]), np.array([c])), (np.array([n1]), np.array([n2])),
                             (np.array([alpha + beta]), np.array([alpha])), (0.5, -0.5), np.array([tau]), 21)[0]

    def f(z):
        return np.exp(_kernel(a, n1, alpha + beta + tau * z / 2) + _kernel(c, n2, alpha - tau * z / 2)
                      - z * z / 2) / np.sqrt(2 * np.pi)

    val, _ = integrate.quad(f, -30, 30, epsabs=0, epsrel=1e-12, limit=500)
    assert got == pytest.approx(np.log(val), abs=1e-9)


def test_kernel_is_stable():
    eta = np.array([-800.0, -40.0, -1e-8, 0.0, 3.0, 40.0, 800.0])
    got = log_binom_kernel(2.0, 5.0, eta)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, _kernel(2.0, 5.0, eta), rtol=1e-14)


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(1, 6),
    m=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-9, 1.0, 30.0, 1e3]),
)
def test_kernel_is_the_two_sided_formula_to_the_bit(k, m, seed, scale):
    """The kernel picks x·η or −(n − x)·η per element and reuses its temporaries: it must give exactly
    what −x·max(−η, 0) − (n − x)·max(η, 0) − n·log1p(e^(−|η|)) gives (both products, one of them zero),
    for broadcast and scalar arguments, and leave its arguments alone."""
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 300, size=k).astype(float)
    x = np.floor(rng.uniform(0, 1, size=k) * (n + 1)).clip(max=n)
    eta = rng.normal(0.0, scale, size=(m, k))
    eta[0, 0] = 0.0
    before = (x.copy(), n.copy(), eta.copy())

    def two_sided(x, n, eta):
        return -x * np.maximum(-eta, 0.0) - (n - x) * np.maximum(eta, 0.0) - n * np.log1p(np.exp(-np.abs(eta)))

    np.testing.assert_array_equal(log_binom_kernel(x, n, eta), two_sided(x, n, eta))
    np.testing.assert_array_equal(log_binom_kernel(x[:, None], n[:, None], eta[0]), two_sided(x[:, None], n[:, None], eta[0]))
    one = log_binom_kernel(float(x[0]), float(n[0]), float(eta[-1, 0]))
    assert np.ndim(one) == 0 and one == two_sided(x[0], n[0], eta[-1, 0])
    for was, now in zip(before, (x, n, eta), strict=True):
        np.testing.assert_array_equal(was, now)


def test_bad_arguments():
    with pytest.raises(ValueError, match="nodes"):
        log_marginal(1, 2, 0.0, 1.0, nodes=0)
    with pytest.raises(ValueError, match="tau"):
        log_marginal(1, 2, 0.0, -1.0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 500), frac=st.floats(0, 1), mu=st.floats(-30, 30), tau=st.floats(0, 15),
       nodes=st.sampled_from([1, 5, 7, 11]))
def test_properties(n, frac, mu, tau, nodes):
    x = round(frac * n)
    got = log_marginal(x, n, mu, tau, nodes=nodes)
    assert np.isfinite(got)
    assert got <= 1e-12  # a probability
    # events ↔ non-events with μ ↔ −μ is the same integral
    assert log_marginal(n - x, n, -mu, tau, nodes=nodes) == pytest.approx(got, rel=1e-12, abs=1e-12)


def richardson_derivs(f: Callable[[float, float], np.ndarray], h: float) -> np.ndarray:
    """(ℓ, ℓ_μ, ℓ_τ, ℓ_μμ, ℓ_μτ, ℓ_ττ) of f(dμ, dτ) at (0, 0) by central differences with steps h, h/2 and
    h/4, Richardson-extrapolated twice (truncation error O(h⁶)); f maps two offsets to an array."""

    def central(s: float) -> np.ndarray:
        f0, fm, fp, tm, tp = f(0, 0), f(-s, 0), f(s, 0), f(0, -s), f(0, s)
        corners = f(s, s) - f(s, -s) - f(-s, s) + f(-s, -s)
        return np.array([f0, (fp - fm) / (2 * s), (tp - tm) / (2 * s), (fp - 2 * f0 + fm) / s**2,
                         corners / (4 * s * s), (tp - 2 * f0 + tm) / s**2])

    d = [central(h / 2**i) for i in range(3)]
    d = [(4 * d[i + 1] - d[i]) / 3 for i in range(2)]
    return (16 * d[1] - d[0]) / 15


@pytest.mark.parametrize("nodes", [1, 7])
def test_derivatives_match_richardson_differences(nodes: int) -> None:
    # Random studies (fixed seed): a quarter with x = 0, a quarter with x = n, n from 1 to 250, μ around
    # −8, …, 3 and τ ∈ {0, 1e-6, 0.01, 1, 5}. The differences use steps 8e-3, 4e-3, 2e-3: their rounding
    # error (~1e-16 |ℓ| / 4e-6, |ℓ| up to ~2000 here) and truncation error both stay below ~3e-7.
    rng = np.random.default_rng(20240917)
    size = 1500
    n = rng.integers(1, 251, size).astype(float)
    kind = rng.integers(0, 4, size)
    x = np.where(kind == 0, 0.0, np.where(kind == 1, n, np.round(rng.uniform(0, 1, size) * n)))
    mu = rng.integers(-8, 4, size) + rng.uniform(-0.5, 0.5, size)
    tau = rng.choice([0.0, 1e-6, 0.01, 1.0, 5.0], size)

    def value(dmu: float, dtau: float) -> np.ndarray:
        return _log_marginal_arms((x,), (n,), (mu + dmu,), (1.0,), np.abs(tau + dtau), nodes)

    got = _log_marginal_derivs(x, n, mu, tau, nodes)
    assert got.shape == (6, size) and np.isfinite(got).all()
    assert np.array_equal(got[0], value(0.0, 0.0))  # the same operations as the value alone
    want = richardson_derivs(value, 8e-3)
    err = np.abs(got - want) / np.maximum(np.abs(want), 1.0)
    worst = np.unravel_index(np.argmax(err), err.shape)
    i = worst[1]
    assert err.max() < 1e-6, (worst, x[i], n[i], mu[i], tau[i], got[:, i], want[:, i])
    # ℓ is even in τ: at τ = 0 its τ-slope and the μτ cross derivative vanish
    at0 = tau == 0
    assert np.all(np.abs(got[2, at0]) <= 1e-12 * (1.0 + np.abs(got[1, at0])))
    assert np.all(np.abs(got[4, at0]) <= 1e-12 * (1.0 + np.abs(got[3, at0])))


@pytest.mark.parametrize(("x", "n", "mu", "tau"), EXTREME)
def test_derivatives_are_finite_at_extremes(x, n, mu, tau):
    # where the mode search must be safeguarded, the derivatives are finite and the value unchanged
    args = (np.array([x], float), np.array([n], float), np.array([mu]), np.array([tau]))
    for nodes in (1, 7):
        got = _log_marginal_derivs(*args, nodes)
        assert np.isfinite(got).all()
        assert got[0, 0] == _log_marginal_arms((args[0],), (args[1],), (args[2],), (1.0,), args[3], nodes)[0]
