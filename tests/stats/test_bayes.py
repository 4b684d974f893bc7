"""Bayesian random-effects models (metablina.stats.bayes) against published bayesmeta output and against
independent brute-force integration written here.

Tolerances, and why:

* τ summaries vs bayesmeta: bayesmeta integrates p(τ | y) with ``integrate`` (rel.tol ≈ 1.5e-11), as we
  do in effect, so they must agree to the printed digits (7 significant digits: rel 2e-6; the §2.5 table
  has 4 decimals: abs 6e-5).
* μ, θ_new and shrinkage summaries vs bayesmeta: bayesmeta replaces the continuous mixture over τ by
  DIRECT's finite one (Röver & Friede 2017; δ = 0.01) and truncates τ at its 1 − 1e-4 quantile. Those
  approximations move its numbers by up to 3.3e-3 posterior SDs in these examples (our numbers are the
  exact ones: see the brute-force tests), so the tolerance is 3.5e-3 SD. Moments that the truncation
  visibly changes (heavy τ tails: uniform and half-Cauchy priors) are checked to lie between the
  untruncated value (ours) and the value truncated at the 1 − 1e-4 quantile, computed here with quad.
* vs brute force: a midpoint rectangle grid over (μ, τ) of the full joint posterior (plain normal or
  binomial likelihood, no μ integrated analytically, no AGQ). Its own error is O(h²); tolerances say so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, signal, special, stats

from metablina.stats.bayes import BayesResult, bayes_bn, bayes_nn
from metablina.stats.errors import InputError
from metablina.stats.priors import (
    FlatMu,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    NormalMu,
    Uniform,
    parse_mu_prior,
    parse_tau_prior,
)

PUB = json.loads((Path(__file__).parents[1] / "data" / "bayes_published.json").read_text())
SCH = PUB["schools"]
HR = PUB["hazard_ratios"]
DIRECT_TOL = 3.5e-3  # in posterior SDs, see module docstring

CRS = ([0, 9, 0], [54, 202, 11])  # grade >= 3 CRS: two 0/n studies (METHODS §1.1)
MRD = ([97, 192, 11], [100, 202, 11])  # MRD negativity: one n/n study


# ----------------------------------------------------------------------------------------------------
# priors
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec, prior, label",
    [
        ("halfnormal:0.5", HalfNormal(0.5), "half-normal(0.5) on tau"),
        ("HalfCauchy:25", HalfCauchy(25), "half-Cauchy(25) on tau"),
        ("halft:0.5:3", HalfStudentT(0.5, 3), "half-Student-t(0.5, df=3) on tau"),
        ("uniform:2", Uniform(2), "uniform(0, 2) on tau"),
        ("uniform:inf", Uniform(), "uniform(0, inf) on tau (improper)"),
    ],
)
def test_parse_tau_prior(spec, prior, label):
    p = parse_tau_prior(spec)
    assert p == prior and p.label == label


def test_parse_mu_prior():
    assert parse_mu_prior("flat") == FlatMu()
    assert parse_mu_prior("normal:0:10") == NormalMu(0.0, 10.0)
    assert parse_mu_prior("normal:0:10").label == "normal(0, 10) on mu"


@pytest.mark.parametrize("spec", ["halfnormal", "halfnormal:-1", "halfnormal:x", "halfnormal:1:2", "gamma:1",
                                  "halft:1", "uniform:0", "halfcauchy:nan", "", 3.0])
def test_parse_tau_prior_rejects(spec):
    with pytest.raises(InputError, match="tau_prior"):
        parse_tau_prior(spec)


@pytest.mark.parametrize("spec", ["normal:0", "normal:0:-1", "normal:a:1", "cauchy:0:1", "flat:1", None])
def test_parse_mu_prior_rejects(spec):
    with pytest.raises(InputError, match="mu_prior"):
        parse_mu_prior(spec)


@pytest.mark.parametrize("prior", [HalfNormal(0.7), HalfCauchy(0.4), HalfStudentT(0.5, 3.5), Uniform(2.5)])
def test_prior_densities_normalised(prior):
    """logpdf integrates to 1 and 'median' is the median (both used by the grids)."""
    f = lambda t: math.exp(prior.logpdf(t))  # noqa: E731
    upper = getattr(prior, "upper", np.inf)
    assert integrate.quad(f, 0, upper, epsrel=1e-12, limit=200)[0] == pytest.approx(1.0, rel=1e-9)
    assert integrate.quad(f, 0, prior.median, epsrel=1e-12)[0] == pytest.approx(0.5, rel=1e-9)


# ----------------------------------------------------------------------------------------------------
# normal–normal model vs bayesmeta (published)
# ----------------------------------------------------------------------------------------------------
def _close_sd(value, published, sd, tol=DIRECT_TOL):
    assert abs(value - published) <= tol * sd, (value, published, (value - published) / sd)


@pytest.fixture(scope="module")
def schools_hc():
    return bayes_nn(SCH["y"], sei=SCH["sigma"], tau_prior="halfcauchy:25", mu_prior="normal:0:50", threshold=0.0,
                    level=0.95)


@pytest.fixture(scope="module")
def schools_unif():
    return bayes_nn(SCH["y"], sei=SCH["sigma"], tau_prior="uniform:inf", mu_prior="flat")


def test_schools_tau_matches_bayesmeta(schools_hc, schools_unif):
    for r, ref in ((schools_hc, SCH["halfcauchy25_normal0_50"]["tau"]), (schools_unif, SCH["uniform_flat"]["tau"])):
        assert r.tau_median == pytest.approx(ref["median"], rel=2e-6)
        assert r.tau_mean == pytest.approx(ref["mean"], rel=2e-6)
        assert r.tau_sd == pytest.approx(ref["sd"], rel=2e-6)
    ref = SCH["halfcauchy25_normal0_50"]["tau"]
    assert schools_hc.tau_ci_low == pytest.approx(ref["q025"], rel=2e-6)
    assert schools_hc.tau_ci_high == pytest.approx(ref["q975"], rel=2e-6)
    # the 95% quantile (bayesmeta's one-sided shortest interval) via level = 0.90's upper limit
    r90 = bayes_nn(SCH["y"], sei=SCH["sigma"], tau_prior="halfcauchy:25", mu_prior="normal:0:50", level=0.90)
    assert r90.tau_ci_high == pytest.approx(ref["q95"], rel=2e-6)
    r90u = bayes_nn(SCH["y"], sei=SCH["sigma"], tau_prior="uniform:inf", level=0.90)
    assert r90u.tau_ci_high == pytest.approx(SCH["uniform_flat"]["tau"]["q95"], rel=2e-6)


def test_schools_mu_theta_shrinkage_match_bayesmeta_within_direct_error(schools_hc, schools_unif):
    for r, ref in ((schools_hc, SCH["halfcauchy25_normal0_50"]), (schools_unif, SCH["uniform_flat"])):
        mu, th = ref["mu"], ref["theta"]
        _close_sd(r.estimate, mu["median"], r.sd)
        _close_sd(r.mean, mu["mean"], r.sd)
        _close_sd(r.ci_shortest_low, mu["shortest_low"], r.sd)
        _close_sd(r.ci_shortest_high, mu["shortest_high"], r.sd)
        _close_sd(r.pred_median, th["median"], r.pred_sd)
        _close_sd(r.pred_mean, th["mean"], r.pred_sd)
        _close_sd(r.pi_shortest_low, th["shortest_low"], r.pred_sd)
        _close_sd(r.pi_shortest_high, th["shortest_high"], r.pred_sd)
    # moments that the heavy-tailed (uniform) τ posterior makes sensitive to DIRECT's truncation: see below
    _close_sd(schools_hc.sd, SCH["halfcauchy25_normal0_50"]["mu"]["sd"], schools_hc.sd)
    _close_sd(schools_hc.pred_sd, SCH["halfcauchy25_normal0_50"]["theta"]["sd"], schools_hc.pred_sd)
    assert 1.0 - schools_hc.p_below == pytest.approx(SCH["halfcauchy25_normal0_50"]["mu"]["p_above_0"], abs=1e-4)
    for ref in SCH["halfcauchy25_normal0_50"]["shrink"].values():
        i = ref["index"]
        sd = schools_hc.shrink_sd[i]
        _close_sd(schools_hc.shrink_median[i], ref["median"], sd)
        _close_sd(schools_hc.shrink_mean[i], ref["mean"], sd)
        _close_sd(schools_hc.shrink_sd[i], ref["sd"], sd)


def _nn_tau_moments(y, se, logprior, mu_prior=None, upper=np.inf):
    """Independent 1-D quad: E(μ), SD(μ) and SD(θ_new) with τ integrated over [0, upper]."""
    y, v = np.asarray(y), np.asarray(se) ** 2

    def cond(t):
        w = 1 / (v + t * t)
        sw, swy = w.sum(), (w * y).sum()
        extra = 0.0
        if mu_prior is not None:
            sw, swy = sw + 1 / mu_prior[1] ** 2, swy + mu_prior[0] / mu_prior[1] ** 2
        M = swy / sw
        if mu_prior is not None:
            extra = (mu_prior[0] - M) ** 2 / mu_prior[1] ** 2
        ll = 0.5 * np.log(w).sum() - 0.5 * ((w * (y - M) ** 2).sum() + extra) - 0.5 * np.log(sw)
        return math.exp(ll + logprior(t)), M, 1 / sw

    def q(f, up):
        return integrate.quad(f, 0, up, epsabs=0, epsrel=1e-10, limit=500)[0]

    Z = q(lambda t: cond(t)[0], np.inf)
    if upper == "eps":  # DIRECT's truncation at the 1 - 1e-4 quantile of τ
        upper = optimize.brentq(lambda x: q(lambda t: cond(t)[0], x) / Z - (1 - 1e-4), 1e-6, 1e3, xtol=1e-10)
    Zt = q(lambda t: cond(t)[0], upper)
    m1 = q(lambda t: cond(t)[0] * cond(t)[1], upper) / Zt
    m2 = q(lambda t: cond(t)[0] * (cond(t)[1] ** 2 + cond(t)[2]), upper) / Zt
    p2 = q(lambda t: cond(t)[0] * (cond(t)[1] ** 2 + cond(t)[2] + t * t), upper) / Zt
    return m1, math.sqrt(m2 - m1 * m1), math.sqrt(p2 - m1 * m1)


def test_truncation_explains_bayesmeta_moments(schools_unif):
    """bayesmeta's uniform-prior SDs lie between our untruncated values and the 1 − ε truncated ones."""
    y, se = SCH["y"], SCH["sigma"]
    full = _nn_tau_moments(y, se, lambda t: 0.0)
    trunc = _nn_tau_moments(y, se, lambda t: 0.0, upper="eps")
    assert schools_unif.mean == pytest.approx(full[0], rel=1e-9)
    assert schools_unif.sd == pytest.approx(full[1], rel=1e-9)
    assert schools_unif.pred_sd == pytest.approx(full[2], rel=1e-9)
    ref = SCH["uniform_flat"]
    assert trunc[1] < ref["mu"]["sd"] < full[1]
    assert trunc[2] < ref["theta"]["sd"] < full[2]  # 10.128 < 10.148 (bayesmeta) < 10.162


def test_hazard_ratio_example_matches_bayesmeta():
    ref = HR["halfnormal05"]
    r = bayes_nn(HR["lnhr"], sei=HR["se"], tau_prior="halfnormal:0.5", threshold=0.0)
    assert r.tau_median == pytest.approx(ref["tau"]["median"], abs=6e-5)
    assert r.tau_mean == pytest.approx(ref["tau"]["mean"], abs=6e-5)
    mu = ref["mu"]
    for got, want in ((r.estimate, mu["median"]), (r.mean, mu["mean"]), (r.sd, mu["sd"]), (r.ci_low, mu["q025"]),
                      (r.ci_high, mu["q975"]), (r.ci_shortest_low, mu["shortest_low"]),
                      (r.ci_shortest_high, mu["shortest_high"])):
        _close_sd(got, want, r.sd)
    _close_sd(r.pi_low, ref["theta"]["q025"], r.pred_sd)
    _close_sd(r.pi_high, ref["theta"]["q975"], r.pred_sd)
    assert r.p_below == pytest.approx(mu["p_below_0"], abs=1.5e-4)

    ref = HR["halfcauchy05"]
    r = bayes_nn(HR["lnhr"], sei=HR["se"], tau_prior=HalfCauchy(0.5))
    assert r.tau_median == pytest.approx(ref["tau"]["median"], abs=6e-5)
    assert r.tau_mean == pytest.approx(ref["tau"]["mean"], abs=6e-5)
    for got, want in ((r.mean, ref["mu"]["mean"]), (r.ci_low, ref["mu"]["q025"]), (r.ci_high, ref["mu"]["q975"])):
        _close_sd(got, want, r.sd)
    # SD(μ) 0.2336 (bayesmeta) vs 0.2348 (ours): the half-Cauchy tail that DIRECT truncates
    logp = lambda t: float(HalfCauchy(0.5).logpdf(t))  # noqa: E731
    full = _nn_tau_moments(HR["lnhr"], HR["se"], logp)
    trunc = _nn_tau_moments(HR["lnhr"], HR["se"], logp, upper="eps")
    assert r.sd == pytest.approx(full[1], rel=1e-9)
    assert trunc[1] < ref["mu"]["sd"] < full[1]


# ----------------------------------------------------------------------------------------------------
# normal–normal model vs a 2-D brute force over (μ, τ)
# ----------------------------------------------------------------------------------------------------
def _G(u):
    return u * special.ndtr(u) + np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)


def _cell_phi(c, centre, slope, scale, h):
    """Mean over a μ-cell of width h of Φ((c − centre − slope·(μ' − μ))/scale), exact (∫Φ = scale·G)."""
    u1 = (c - centre + slope * h / 2) / scale
    u0 = (c - centre - slope * h / 2) / scale
    return scale * (_G(u1) - _G(u0)) / (slope * h)


@pytest.mark.parametrize(
    "y, se, tau_prior, mu_prior, mu_rng, tau_max, h",
    [
        (HR["lnhr"], HR["se"], HalfNormal(0.5), None, (-4, 3), 4.0, 0.005),
        ([0.3, -0.1], [0.2, 0.3], HalfNormal(0.5), (0.0, 1.0), (-5, 5), 4.0, 0.005),
        ([1.2, 0.4, -0.3], [0.5, 0.3, 0.6], HalfStudentT(0.5, 3), None, (-8, 8), 12.0, 0.008),
    ],
    ids=["hazard ratios HN(0.5)", "k=2 normal mu prior", "k=3 half-t(0.5, 3)"],
)
def test_nn_against_brute_force(y, se, tau_prior, mu_prior, mu_rng, tau_max, h):
    """Every summary's probability under the brute-force posterior: |F(ours) − p| ≤ 2e-5 (the grid's O(h²)
    error; 2e-5 in probability is ≈ 2e-5 posterior SDs here)."""
    y, v = np.asarray(y, float), np.asarray(se, float) ** 2
    mu = np.arange(mu_rng[0] + h / 2, mu_rng[1], h)
    tau = np.arange(h / 2, tau_max, h)
    T = tau[:, None]
    lp = tau_prior.logpdf(T) + (np.zeros_like(mu) if mu_prior is None else stats.norm.logpdf(mu, *mu_prior))
    for yi, vi in zip(y, v, strict=True):
        lp = lp - 0.5 * np.log(vi + T**2) - 0.5 * (yi - mu) ** 2 / (vi + T**2)
    P = np.exp(lp - lp.max())
    P /= P.sum()
    pm, pt = P.sum(0), P.sum(1)
    assert pm[:3].sum() + pm[-3:].sum() + pt[-3:].sum() < 1e-7  # the grid holds the posterior
    rows = pt > 1e-15 * pt.max()  # drop rows that cannot matter, to keep the test quick
    P, T = P[rows], T[rows]

    def lin(grid, p, c):  # CDF of the midpoint rule, linear inside each cell
        return (p * np.clip((c - grid + h / 2) / h, 0, 1)).sum()

    r = bayes_nn(y, vi=v, tau_prior=tau_prior, mu_prior="flat" if mu_prior is None else NormalMu(*mu_prior),
                 threshold=0.1)
    tol = 2e-5
    for p, got in ((0.5, r.estimate), (0.025, r.ci_low), (0.975, r.ci_high)):
        assert lin(mu, pm, got) == pytest.approx(p, abs=tol)
    for p, got in ((0.5, r.tau_median), (0.025, r.tau_ci_low), (0.975, r.tau_ci_high)):
        assert lin(tau, pt, got) == pytest.approx(p, abs=tol)
    assert r.mean == pytest.approx((pm * mu).sum(), abs=tol)
    assert -tol <= r.tau_mean - (pt * tau).sum() <= 1e-4  # the grid stops at tau_max: its mean lacks the tail
    assert r.p_below == pytest.approx(lin(mu, pm, 0.1), abs=tol)
    for p, got in ((0.5, r.pred_median), (0.025, r.pi_low), (0.975, r.pi_high)):
        assert (P * _cell_phi(got, mu, 1.0, T, h)).sum() == pytest.approx(p, abs=tol)
    for i in range(len(y)):
        B = v[i] / (v[i] + T**2)
        b = np.sqrt(v[i] * T**2 / (v[i] + T**2))
        for p, got in ((0.5, r.shrink_median[i]), (0.975, r.shrink_high[i])):
            assert (P * _cell_phi(got, (1 - B) * y[i] + B * mu, B, b, h)).sum() == pytest.approx(p, abs=tol)


@pytest.mark.parametrize(
    "y, se, prior",
    [([1.0, 2.0, 3.0], [1e-4] * 3, HalfNormal(0.5)),  # τ ≈ 0.8, far above every standard error
     ([-2.0, 3.0, 0.5, 5.0], [0.1] * 4, HalfNormal(0.01)),  # prior far narrower than the data: narrow peak
     ([1e4, 2e4], [1.0, 1.0], HalfCauchy(1e4))],  # large scale, heavy tail
)
def test_nn_tau_quantiles_when_the_posterior_sits_away_from_zero(y, se, prior):
    """τ quantiles against quad of p(τ | y) = p(τ)·Π N(y_i; μ, σ_i² + τ²) integrated over μ in closed form."""
    y, v = np.asarray(y), np.asarray(se) ** 2

    def dens(t):
        w = 1 / (v + t * t)
        m = (w * y).sum() / w.sum()
        return math.exp(float(prior.logpdf(t)) + 0.5 * np.log(w).sum() - 0.5 * (w * (y - m) ** 2).sum()
                        - 0.5 * math.log(w.sum()) - shift)

    r = bayes_nn(y, vi=v, tau_prior=prior)
    shift = 0.0
    shift = math.log(dens(r.tau_median))  # keep the integrand near 1
    pts = [r.tau_ci_low, r.tau_median, r.tau_ci_high]
    parts = [integrate.quad(dens, a, b, limit=500, epsabs=0, epsrel=1e-11)[0]
             for a, b in zip([0.0, *pts], [*pts, np.inf], strict=True)]
    np.testing.assert_allclose(np.cumsum(parts)[:3] / sum(parts), [0.025, 0.5, 0.975], atol=1e-8)
    assert not any("tau integration" in w for w in r.warnings)


# ----------------------------------------------------------------------------------------------------
# binomial–normal model vs a brute force on the exact binomial likelihood
# ----------------------------------------------------------------------------------------------------
def _brute_bn(x, n, tau_prior, mu_prior, mu_rng, tau_max, h=0.01, h_tau=0.02):
    """Midpoint grid over (μ, τ). L_i(μ, τ) = ∫ Bin(x_i | expit η) N(η; μ, τ²) dη by the trapezoid rule on an
    η lattice of spacing h (a discrete convolution, done by FFT; exact to rounding once τ ≥ 2h); for the
    few τ < 2h cells, 60-point Gauss–Hermite in z. The predictive and shrinkage densities are the same
    convolutions of the grid posterior (leave-one-out weights times Bin(x_i | expit θ) for shrinkage).
    """
    x, n = np.asarray(x, float), np.asarray(n, float)
    mu = np.arange(mu_rng[0], mu_rng[1] + h / 2, h)
    tau = np.arange(h_tau / 2, tau_max, h_tau)
    logc = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)

    def lbin(eta):
        return logc + x * special.log_expit(eta[..., None]) + (n - x) * special.log_expit(-eta[..., None])

    R = int(np.ceil(12 * tau_max / h))
    eta = mu[0] + h * np.arange(-R, mu.size + R)
    top = lbin(eta).max(0)
    B = np.exp(lbin(eta) - top)
    zq, wq = np.polynomial.hermite_e.hermegauss(60)
    wq = wq / wq.sum()
    logL = np.empty((tau.size, mu.size, x.size))
    kern = []
    for j, t in enumerate(tau):
        if t < 2 * h:
            L = (np.exp(lbin(mu[:, None] + t * zq) - top) * wq[:, None]).sum(1)
            kern.append(None)
        else:
            r = int(np.ceil(12 * t / h))
            K = np.exp(-0.5 * (np.arange(-r, r + 1) * h / t) ** 2)
            K /= K.sum()
            kern.append(K)
            L = signal.fftconvolve(B[R - r:R + mu.size + r], K[:, None], mode="valid", axes=0)
        logL[j] = np.log(np.maximum(L, 1e-300)) + top
    lp = logL.sum(-1) + tau_prior.logpdf(tau)[:, None] + (0.0 if mu_prior is None else mu_prior.logpdf(mu))
    P = np.exp(lp - lp.max())
    P /= P.sum()

    def conv(a, K):
        return a if K is None else signal.fftconvolve(a, K, mode="same")

    pred = sum(conv(P[j], K) for j, K in enumerate(kern))
    shrink = []
    for i in range(x.size):
        bi = np.exp(lbin(mu)[:, i])
        d = sum(conv(P[j] / np.exp(logL[j, :, i]), K) for j, K in enumerate(kern)) * bi
        shrink.append(d / d.sum())
    return mu, tau, P, pred, shrink


def _q(grid, p, h, probs):
    cdf = np.concatenate([[0.0], np.cumsum(p)])
    edges = np.concatenate([[grid[0] - h / 2], grid + h / 2])
    return np.interp(probs, cdf, edges)


@pytest.mark.parametrize(
    "data, tau_prior, mu_prior, mu_rng",
    [
        (CRS, HalfNormal(1.0), None, (-25.0, 8.0)),
        (MRD, HalfNormal(1.0), None, (-8.0, 25.0)),
        (([0, 0, 0], [20, 35, 11]), HalfNormal(0.5), NormalMu(-2.0, 2.0), (-20.0, 8.0)),
    ],
    ids=["CRS 0/54 9/202 0/11", "MRD 97/100 192/202 11/11", "all zero, normal mu prior"],
)
def test_bn_against_brute_force(data, tau_prior, mu_prior, mu_rng):
    x, n = data
    tau_max = 7.0 * tau_prior.scale
    mu, tau, P, pred, shrink = _brute_bn(x, n, tau_prior, mu_prior, mu_rng, tau_max)
    pm, pt = P.sum(0), P.sum(1)
    for mass in (pm, pred, *shrink):  # the lattice holds every density (what it loses moves a quantile < 1e-5)
        assert mass[:50].sum() + mass[-50:].sum() < 1e-5
    r = bayes_bn(x, n, tau_prior=tau_prior, mu_prior=mu_prior or "flat", threshold=-3.0)
    assert r.warnings == ()
    probs = [0.5, 0.025, 0.975]
    # brute-force error: O(h²) in μ (h = 0.01) and τ (0.02), ≈ 1e-5 on these scales
    tol = 1e-4
    np.testing.assert_allclose([r.estimate, r.ci_low, r.ci_high], _q(mu, pm, 0.01, probs), atol=tol)
    np.testing.assert_allclose([r.tau_median, r.tau_ci_low, r.tau_ci_high], _q(tau, pt, 0.02, probs), atol=tol)
    np.testing.assert_allclose([r.mean, r.sd], [(pm * mu).sum(), math.sqrt((pm * mu * mu).sum() - (pm * mu).sum() ** 2)],
                               atol=tol)
    np.testing.assert_allclose(r.tau_mean, (pt * tau).sum(), atol=tol)
    np.testing.assert_allclose(r.p_below, pm[mu < -3.0].sum() + 0.5 * pm[np.isclose(mu, -3.0)].sum(), atol=tol)
    np.testing.assert_allclose([r.pred_median, r.pi_low, r.pi_high], _q(mu, pred, 0.01, probs), atol=tol)
    for i, s in enumerate(shrink):
        np.testing.assert_allclose([r.shrink_median[i], r.shrink_low[i], r.shrink_high[i]], _q(mu, s, 0.01, probs),
                                   atol=tol)
        np.testing.assert_allclose([r.shrink_mean[i]], [(s * mu).sum()], atol=tol)


# ----------------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------------
def _finite_ordered(r: BayesResult):
    for name in ("estimate", "ci_low", "ci_high", "tau_median", "tau_ci_low", "tau_ci_high", "pi_low", "pi_high"):
        assert np.isfinite(getattr(r, name)), name
    assert r.ci_low < r.estimate < r.ci_high
    assert 0 < r.tau_ci_low < r.tau_median < r.tau_ci_high
    assert r.pi_low < r.ci_low and r.ci_high < r.pi_high
    assert np.all(r.shrink_low < r.shrink_median) and np.all(r.shrink_median < r.shrink_high)


def test_k1_flat_mu_posterior_of_tau_is_the_prior():
    """k = 1, flat μ: ∫ N(y; μ, σ² + τ²) dμ = 1, so p(τ | y) = p(τ) exactly (proper iff the prior is)."""
    r = bayes_nn([0.3], sei=[0.2], tau_prior="halfnormal:0.5")
    assert r.tau_median == pytest.approx(0.5 * stats.norm.ppf(0.75), rel=1e-9)
    assert r.tau_ci_high == pytest.approx(0.5 * stats.norm.ppf(0.9875), rel=1e-9)
    assert r.tau_mean == pytest.approx(0.5 * math.sqrt(2 / math.pi), rel=1e-9)
    assert r.estimate == pytest.approx(0.3, abs=1e-12)  # symmetric mixture of N(y, σ² + τ²)
    assert r.ci_low + r.ci_high == pytest.approx(0.6, abs=1e-9)
    _finite_ordered(r)
    # binomial–normal, one study with events and non-events: ∫ L(μ, τ) dμ = C(n,x)·B(x, n−x) for every τ
    rb = bayes_bn([3], [40], tau_prior="halfnormal:1")
    assert rb.tau_median == pytest.approx(stats.norm.ppf(0.75), rel=1e-6)
    assert rb.tau_ci_high == pytest.approx(stats.norm.ppf(0.9875), rel=1e-6)
    _finite_ordered(rb)


def test_heavy_tailed_prior_reports_missing_moments():
    """Half-Cauchy with k = 1 (flat μ): p(τ | y) ~ τ^-2, so neither E(τ) nor E|μ| exist."""
    r = bayes_nn([0.3], sei=[0.2], tau_prior="halfcauchy:0.5")
    assert math.isnan(r.tau_mean) and math.isnan(r.mean) and math.isnan(r.pred_sd)
    assert r.tau_median == pytest.approx(0.5, rel=1e-9) and r.tau_ci_high == pytest.approx(0.5 * math.tan(0.975 * math.pi / 2))
    assert any("heavy tail" in w for w in r.warnings)
    d = r.to_dict()
    assert d["mean"] is None and d["tau_median"] == pytest.approx(0.5)
    r2 = bayes_nn([0.3, -0.1], sei=[0.2, 0.3], tau_prior="halfcauchy:0.5")  # τ^-3: mean yes, SD no
    assert np.isfinite(r2.tau_mean) and math.isnan(r2.tau_sd) and math.isnan(r2.sd)


@pytest.mark.parametrize("k", [1, 2])
def test_small_k_proper_posteriors(k):
    y, se = [0.2, -0.4][:k], [0.3, 0.25][:k]
    for mp in ("flat", "normal:0:2"):
        _finite_ordered(bayes_nn(y, sei=se, tau_prior="halfnormal:0.5", mu_prior=mp))
    x, n = [4, 0][:k], [30, 25][:k]
    _finite_ordered(bayes_bn(x, n, tau_prior="halfnormal:1", mu_prior="normal:0:10"))


study = st.tuples(st.floats(-2, 2), st.floats(0.05, 1.0))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(study, min_size=1, max_size=6), st.floats(0.1, 2.0), st.randoms(use_true_random=False))
def test_nn_properties(studies, scale, rnd):
    y = np.array([s[0] for s in studies])
    se = np.array([s[1] for s in studies])
    r = bayes_nn(y, sei=se, tau_prior=HalfNormal(scale))
    _finite_ordered(r)
    # study order does not matter
    perm = list(range(len(y)))
    rnd.shuffle(perm)
    rp = bayes_nn(y[perm], sei=se[perm], tau_prior=HalfNormal(scale))
    for name in ("estimate", "ci_low", "ci_high", "tau_median", "tau_ci_high", "pi_low", "pi_high", "sd"):
        assert getattr(rp, name) == pytest.approx(getattr(r, name), rel=1e-9, abs=1e-10)
    np.testing.assert_allclose(rp.shrink_median, r.shrink_median[perm], rtol=1e-9, atol=1e-10)
    # a wider prior gives a wider τ interval (and a larger upper limit)
    r2 = bayes_nn(y, sei=se, tau_prior=HalfNormal(2 * scale))
    assert r2.tau_ci_high - r2.tau_ci_low > r.tau_ci_high - r.tau_ci_low
    assert r2.tau_median > r.tau_median


@settings(max_examples=10, deadline=None)
@given(st.lists(st.lists(study, min_size=4, max_size=4), min_size=2, max_size=5))
def test_nn_stacked_equals_one_by_one(stack):
    y = np.array([[s[0] for s in row] for row in stack])
    se = np.array([[s[1] for s in row] for row in stack])
    r = bayes_nn(y, sei=se, tau_prior="halfnormal:0.5", mu_prior="normal:0:3", threshold=0.0)
    assert r.estimate.shape == (len(stack),) and r.shrink_median.shape == y.shape
    for a in range(len(stack)):
        ra = bayes_nn(y[a], sei=se[a], tau_prior="halfnormal:0.5", mu_prior="normal:0:3", threshold=0.0)
        for name in (*BayesResult._SCALARS, "p_below"):
            assert getattr(r, name)[a] == pytest.approx(getattr(ra, name), rel=1e-9, abs=1e-12), name
        np.testing.assert_allclose(r.shrink_high[a], ra.shrink_high, rtol=1e-9)


def test_bn_stacked_equals_one_by_one_and_order():
    x = np.array([CRS[0], MRD[0], [5, 7, 2]])
    n = np.array([CRS[1], MRD[1], [40, 60, 30]])
    r = bayes_bn(x.reshape(3, 1, 3), n.reshape(3, 1, 3), threshold=0.0)
    assert r.estimate.shape == (3, 1)
    for a in range(3):
        ra = bayes_bn(x[a], n[a], threshold=0.0)
        for name in ("estimate", "ci_low", "ci_high", "tau_median", "tau_ci_high", "pi_low", "pi_high", "p_below"):
            assert getattr(r, name)[a, 0] == pytest.approx(getattr(ra, name), rel=1e-7, abs=1e-9), name
        np.testing.assert_allclose(r.shrink_median[a, 0], ra.shrink_median, rtol=1e-7)
    ro = bayes_bn(x[0][::-1], n[0][::-1], threshold=0.0)
    r0 = bayes_bn(x[0], n[0], threshold=0.0)
    for name in ("estimate", "ci_low", "ci_high", "tau_median", "pi_high"):
        assert getattr(ro, name) == pytest.approx(getattr(r0, name), rel=1e-7)
    np.testing.assert_allclose(ro.shrink_median[::-1], r0.shrink_median, rtol=1e-7)


def test_bn_wider_prior_widens_tau_interval():
    r1 = bayes_bn(*CRS, tau_prior="halfnormal:0.5")
    r2 = bayes_bn(*CRS, tau_prior="halfnormal:1")
    assert r2.tau_ci_high - r2.tau_ci_low > r1.tau_ci_high - r1.tau_ci_low


def _reml(y, v):
    """Tiny independent REML (Viechtbauer 2005): maximise the restricted log-likelihood over τ² ≥ 0."""
    def nll(t2):
        w = 1 / (v + t2)
        m = (w * y).sum() / w.sum()
        return 0.5 * (np.log(v + t2).sum() + math.log(w.sum()) + (w * (y - m) ** 2).sum())

    t2 = optimize.minimize_scalar(nll, bounds=(0, 10), method="bounded", options={"xatol": 1e-12}).x
    w = 1 / (v + t2)
    return (w * y).sum() / w.sum(), math.sqrt(1 / w.sum())


def test_many_large_studies_approach_reml():
    rng = np.random.default_rng(2024)
    k = 60
    v = rng.uniform(0.01, 0.03, k) ** 2
    y = 0.4 + rng.normal(0, 0.15, k) + rng.normal(0, np.sqrt(v))
    est, se = _reml(y, v)
    r = bayes_nn(y, vi=v, tau_prior="halfnormal:0.5")
    assert abs(r.estimate - est) < 0.02 * se
    assert r.sd == pytest.approx(se, rel=0.05)


def test_bn_many_large_studies_approach_glm_logit():
    """With many large studies the posterior median of μ sits at the ML estimate of the GLMM (checked against
    a plain-quadrature ML fit written here)."""
    rng = np.random.default_rng(7)
    k = 30
    n = rng.integers(800, 1500, k).astype(float)
    theta = -2.0 + 0.3 * rng.normal(size=k)
    x = rng.binomial(n.astype(int), special.expit(theta)).astype(float)
    zq, wq = np.polynomial.hermite_e.hermegauss(80)
    wq = wq / wq.sum()

    def nll(par):
        mu_, tau_ = par[0], math.exp(par[1])
        eta = mu_ + tau_ * zq[:, None]
        lb = x * special.log_expit(eta) + (n - x) * special.log_expit(-eta)
        return -special.logsumexp(lb + np.log(wq)[:, None], axis=0).sum()

    fit = optimize.minimize(nll, [-2.0, math.log(0.3)], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
    r = bayes_bn(x, n, tau_prior="halfnormal:1")
    assert abs(r.estimate - fit.x[0]) < 0.03 * r.sd


# ----------------------------------------------------------------------------------------------------
# inputs, refusals, output format
# ----------------------------------------------------------------------------------------------------
def test_uniform_prior_refused_for_small_k_and_warned_otherwise():
    with pytest.raises(InputError, match=r"tau_prior.*k = 3"):
        bayes_nn([0.1, 0.2, 0.3], sei=[0.1, 0.1, 0.1], tau_prior="uniform:2")
    r = bayes_nn([0.1, 0.2, 0.3, 0.5], sei=[0.1, 0.1, 0.1, 0.2], tau_prior="uniform:2")
    assert any("uniform" in w for w in r.warnings)
    assert r.tau_ci_high < 2.0
    with pytest.raises(InputError, match="proper tau prior"):
        bayes_bn([1, 2, 3, 4], [10, 10, 10, 10], tau_prior="uniform:inf")


def test_bn_improper_posteriors_refused():
    with pytest.raises(InputError, match=r"no events.*normal prior on mu"):
        bayes_bn([0, 0, 0], [54, 20, 11])
    with pytest.raises(InputError, match="no non-events"):
        bayes_bn([10, 12], [10, 12])
    # every study 0/n or n/n: ∫ Π L dμ grows like τ, so a prior without a mean (half-Cauchy) is improper
    with pytest.raises(InputError, match="half-Cauchy"):
        bayes_bn([0, 11], [54, 11], tau_prior="halfcauchy:1")
    r = bayes_bn([0, 11], [54, 11], tau_prior="halfnormal:1")  # proper: half-normal has a mean
    assert np.isfinite(r.estimate)
    r = bayes_bn([0, 0, 0], [54, 20, 11], mu_prior="normal:0:10")  # proper with a normal μ prior
    assert r.ci_high < -3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(yi=[0.1, 0.2], vi=[0.1, -0.1]), "vi: study 1"),
        (dict(yi=[0.1, np.nan], vi=[0.1, 0.1]), "yi: study 1"),
        (dict(yi=[0.1, 0.2], vi=[0.1]), "vi: shape"),
        (dict(yi=[0.1, 0.2]), "exactly one"),
        (dict(yi=[0.1, 0.2], vi=[0.1, 0.1], sei=[0.3, 0.3]), "exactly one"),
        (dict(yi=[[0.1, 0.2], [0.1, 0.2]], sei=[[0.1, 0.1], [0.1, 0.0]]), r"sei: analysis \(1,\), study 1"),
        (dict(yi=[0.1, 0.2], vi=[0.1, 0.1], level=1.2), "level"),
        (dict(yi=[0.1, 0.2], vi=[0.1, 0.1], threshold="a"), "threshold"),
        (dict(yi=[0.1, 0.2], vi=[0.1, 0.1], tau_prior="halfnormal:0"), "tau_prior"),
    ],
)
def test_nn_bad_input(kwargs, match):
    kwargs.setdefault("tau_prior", "halfnormal:0.5")
    with pytest.raises(InputError, match=match):
        bayes_nn(**kwargs)


@pytest.mark.parametrize(
    "x, n, match",
    [([1, 12], [10, 10], "xi: study 1 is 12"), ([1, 1.5], [10, 10], "xi: study 1"), ([1, 2], [10, 0], "ni: study 1"),
     ([1, 2], [10], "ni: shape"), (3, 10, "scalar")],
)
def test_bn_bad_input(x, n, match):
    with pytest.raises(InputError, match=match):
        bayes_bn(x, n)


def test_to_dict_and_summary():
    r = bayes_nn(HR["lnhr"], sei=HR["se"], tau_prior="halfnormal:0.5", threshold=0.0)
    d = r.to_dict()
    for key in ("estimate", "mean", "sd", "ci_low", "ci_high", "tau_median", "tau_mean", "tau_ci_low", "tau_ci_high",
                "pi_low", "pi_high", "tau_prior", "mu_prior", "k", "p_below", "shrinkage"):
        assert key in d, key
    assert d["tau_prior"] == "half-normal(0.5) on tau" and d["mu_prior"] == "flat on mu" and d["k"] == 4
    assert len(d["shrinkage"]) == 4 and set(d["shrinkage"][0]) == {"median", "mean", "sd", "low", "high"}
    json.dumps(d)
    assert "p_below" not in bayes_nn([0.1], sei=[0.2], tau_prior="hn:0.5").to_dict()
    s = r.summary()
    assert list(s["parameter"]) == ["mu", "tau", "theta_new"]
    assert s.loc[0, "median"] == pytest.approx(r.estimate)
    rs = bayes_nn([HR["lnhr"], HR["lnhr"]], sei=[HR["se"], HR["se"]], tau_prior="halfnormal:0.5")
    ds = rs.to_dict()
    assert len(ds["estimate"]) == 2 and len(ds["shrinkage"]) == 2 and len(ds["shrinkage"][1]) == 4
    assert len(rs.summary()) == 6
    db = bayes_bn(*CRS).to_dict()
    assert db["model"] == "BN" and db["tau_prior"] == "half-normal(1) on tau"
    json.dumps(db)


def test_bn_without_shrinkage_gives_the_same_posterior_and_no_study_estimates():
    x, n = np.array([3, 5, 2, 7]), np.array([20, 30, 15, 40])
    full = bayes_bn(x, n)
    lean = bayes_bn(x, n, shrinkage=False)
    for name in ("estimate", "ci_low", "ci_high", "tau_median", "pi_low", "pi_high", "pred_sd"):
        assert getattr(lean, name) == getattr(full, name), name
    assert np.isfinite(full.shrink_median).all() and np.isnan(lean.shrink_median).all()
    assert len(full.to_dict()["shrinkage"]) == 4
    assert lean.to_dict()["shrinkage"] is None


def test_bn_without_predictive_gives_the_same_posterior_of_mu_and_tau():
    """``predictive=False`` (the multiverse's fits) skips the new study's θ and the shortest intervals,
    bit for bit the same μ and τ summaries otherwise, for a stack whose analyses differ."""
    x = np.array([[3, 5, 2, 7], [0, 9, 1, 4], [12, 11, 30, 25]])
    n = np.array([[20, 30, 15, 40], [25, 20, 18, 30], [40, 35, 60, 50]])
    full = bayes_bn(x, n, shrinkage=False)
    lean = bayes_bn(x, n, shrinkage=False, predictive=False)
    for name in ("estimate", "ci_low", "ci_high", "mean", "sd", "tau_median", "tau_ci_low", "tau_ci_high"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name), err_msg=name)
    for name in ("pi_low", "pi_high", "ci_shortest_low", "pi_shortest_high"):
        assert np.isfinite(getattr(full, name)).all() and np.isnan(getattr(lean, name)).all(), name
