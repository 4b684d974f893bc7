"""metablina.stats.glmm against metafor 3.8 ``rma.glmm`` (lme4 1.1-31), data in tests/data/glmm.json.

Tolerances (see tests/reference/glmm.R). Each case was fitted by R twice:

* ``tight``: bobyqa to rhoend 1e-12 and conditional modes to tolPwrss 1e-13 — R's own estimate of the
  same AGQ optimum to ~1e-7. Compared at: μ̂/β̂ and τ̂² 1e-6 (×max(1, |value|)); SE relative 2e-5 for
  PLO, 1e-4 for OR (lme4 differentiates a deviance that still carries ~1e-12 noise with step 1e-4, so its
  SE is only good to ~1e-5); closed-form fields (QE.LRT, vt, k, df) 1e-9; QE.Wld relative 1e-5 (glm's
  IRLS stops at a 1e-8 deviance change).
* ``default``: rma.glmm out of the box. AGQ (nAGQ = 7): μ̂ and τ̂² within 1e-4 (the issue's target),
  SE relative 1e-4. Laplace (nAGQ = 1) is looser — default lme4 evaluates the Laplace deviance with
  ~1e-5 noise (tolPwrss 1e-7), which moves its optimum by up to 6e-4 and its finite-difference SE by 1e-2
  on flat likelihoods; the tight fit agrees with us, and our log-likelihood is never below R's.
"""

import json
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit

from metablina.stats.agq import log_binom_coef, log_marginal
from metablina.stats.errors import InputError
from metablina.stats.glmm import _ll_or, _ll_prop, _ll_prop_derivs, glmm_or_umfs, glmm_proportion
from tests.stats.test_agq import richardson_derivs

DATA = json.loads((pathlib.Path(__file__).parents[1] / "data" / "glmm.json").read_text())
PROP = DATA["prop"]
OR = DATA["or"]

FIELDS = {"beta": "estimate", "se": "se", "zval": "zval", "pval": "pval", "ci_lb": "ci_low", "ci_ub": "ci_high",
          "pi_lb": "pi_low", "pi_ub": "pi_high", "tau2": "tau2", "QE_Wld": "q_wald", "QEp_Wld": "q_wald_p",
          "QE_LRT": "q_lrt", "QEp_LRT": "q_lrt_p", "QE_df": "q_df", "I2": "i2", "H2": "h2", "vt": "vt", "k": "k"}


def _tolerances(est_tau, se_rel):
    """abs tolerance as a function of the reference value, per R field."""
    scaled = lambda t: lambda v: t * max(1.0, abs(v))  # noqa: E731
    return {
        "beta": scaled(est_tau), "tau2": scaled(est_tau),
        "se": lambda v: se_rel * abs(v), "zval": lambda v: 2 * se_rel * abs(v) + est_tau,
        "ci_lb": scaled(est_tau + 3 * se_rel), "ci_ub": scaled(est_tau + 3 * se_rel),
        "pi_lb": scaled(3 * (est_tau + se_rel)), "pi_ub": scaled(3 * (est_tau + se_rel)),
        "pval": lambda v: 1e-7 + 50 * se_rel * v,
        "I2": lambda v: 100 * 20 * est_tau, "H2": lambda v: 20 * est_tau * abs(v),
        "QE_Wld": lambda v: 1e-6 + 1e-5 * abs(v), "QEp_Wld": lambda v: 1e-6,
        "QE_LRT": lambda v: 1e-9 * max(1.0, abs(v)), "QEp_LRT": lambda v: 1e-9,
        "vt": lambda v: 1e-9 * abs(v), "QE_df": lambda v: 0, "k": lambda v: 0,
    }


def _compare(res, ref, tol):
    bad = []
    for rname, ours in FIELDS.items():
        want = ref[rname]
        got = float(getattr(res, ours))
        if abs(got - want) > tol[rname](want):
            bad.append(f"{ours}: ours {got!r}, R {want!r}, diff {got - want:.3g}")
    return bad


def _prop_ids(cases):
    return [f"{c['name']}-nagq{c['nagq']}-{c['test']}" for c in cases]


@pytest.fixture(scope="module")
def prop_fits():
    return {i: glmm_proportion(c["xi"], c["ni"], nagq=c["nagq"], test=c["test"]) for i, c in enumerate(PROP)}


@pytest.mark.parametrize("i", range(len(PROP)), ids=_prop_ids(PROP))
def test_proportion_matches_tight_metafor(prop_fits, i):
    c = PROP[i]
    assert "error" not in c["tight"], c["tight"]
    bad = _compare(prop_fits[i], c["tight"], _tolerances(1e-6, 2e-5))
    assert not bad, bad


@pytest.mark.parametrize("i", range(len(PROP)), ids=_prop_ids(PROP))
def test_proportion_matches_default_metafor(prop_fits, i):
    c = PROP[i]
    res, ref = prop_fits[i], c["default"]
    tol = _tolerances(1e-4, 1e-4) if c["nagq"] > 1 else _tolerances(2e-3, 2e-2)
    bad = _compare(res, ref, tol)
    assert not bad, bad
    # our optimum is at least as high on the likelihood both fits maximise
    mu, tau = ref["beta"], np.sqrt(ref["tau2"])
    ll_r = log_marginal(c["xi"], c["ni"], mu, tau, nodes=c["nagq"]).sum()
    assert res.ll >= ll_r - 1e-9


@pytest.mark.parametrize("i", range(len(PROP)), ids=_prop_ids(PROP))
def test_proportion_likelihood_not_below_tight_r(prop_fits, i):
    c, res = PROP[i], prop_fits[i]
    ref = c["tight"]
    ll_r = log_marginal(c["xi"], c["ni"], ref["beta"], np.sqrt(ref["tau2"]), nodes=c["nagq"]).sum()
    assert res.ll >= ll_r - 1e-9


def _case(name, nagq=7, test="z"):
    return next(c for c in PROP if c["name"] == name and c["nagq"] == nagq and c["test"] == test)


def test_stijnen_2010_table2_published():
    # Stijnen, Hamza & Özdemir 2010, Table II, binomial-normal model (also metafor's test file
    # test_analysis_example_stijnen2010.r); METHODS.md §1.7 quotes them to 4 decimals.
    ctrl = _case("nielweise2007_control")
    r = glmm_proportion(ctrl["xi"], ctrl["ni"])
    assert (round(r.estimate, 4), round(r.se, 4), round(r.tau2, 4)) == (-3.4964, 0.2570, 0.8124)
    assert [round(float(expit(v)), 3) for v in (r.estimate, r.ci_low, r.ci_high)] == [0.029, 0.018, 0.048]
    trt = _case("nielweise2007_treatment")
    r = glmm_proportion(trt["xi"], trt["ni"])
    assert (round(r.estimate, 4), round(r.se, 4), round(r.tau2, 4)) == (-4.8121, 0.3555, 0.8265)
    assert [round(float(expit(v)), 3) for v in (r.estimate, r.ci_low, r.ci_high)] == [0.008, 0.004, 0.016]


def test_boundary_uses_pooled_binomial_se():
    c = _case("crs")
    r = glmm_proportion(c["xi"], c["ni"])
    assert r.tau2 == 0.0
    x, n = np.array(c["xi"]), np.array(c["ni"])
    p = x.sum() / n.sum()
    assert r.estimate == pytest.approx(np.log(p / (1 - p)), rel=1e-14)
    assert r.se == pytest.approx(1 / np.sqrt((n * p * (1 - p)).sum()), rel=1e-14)
    assert any("boundary" in w for w in r.warnings)
    assert r.pi_low == pytest.approx(r.ci_low) and r.pi_high == pytest.approx(r.ci_high)


def test_t_test_uses_k_minus_1_df():
    z = glmm_proportion([3, 9, 4, 12], [40, 60, 35, 50])
    t = glmm_proportion([3, 9, 4, 12], [40, 60, 35, 50], test="t")
    assert t.estimate == z.estimate and t.se == z.se and t.tau2 == z.tau2
    from scipy import stats

    q = stats.t.ppf(0.975, 3)
    assert t.ci_high - t.estimate == pytest.approx(q * t.se, rel=1e-12)
    assert t.pi_high - t.estimate == pytest.approx(q * np.sqrt(t.se**2 + t.tau2), rel=1e-12)
    assert t.pval == pytest.approx(2 * stats.t.sf(abs(t.zval), 3), rel=1e-12)
    assert z.pval == pytest.approx(2 * stats.norm.sf(abs(z.zval)), rel=1e-12)
    lv = glmm_proportion([3, 9, 4, 12], [40, 60, 35, 50], level=0.9)
    assert lv.ci_high - lv.estimate == pytest.approx(stats.norm.ppf(0.95) * lv.se, rel=1e-12)


def test_stack_equals_separate_fits():
    c, t = _case("nielweise2007_control"), _case("nielweise2007_treatment")
    rng = np.random.default_rng(3)
    perm = rng.permutation(len(c["xi"]))
    xs = np.array([c["xi"], t["xi"], np.array(c["xi"])[perm], [0] * 17 + [3]])
    ns = np.array([c["ni"], t["ni"], np.array(c["ni"])[perm], c["ni"]])
    stack = glmm_proportion(xs.reshape(2, 2, -1), ns.reshape(2, 2, -1))
    assert stack.estimate.shape == (2, 2)
    for j in range(4):
        single = glmm_proportion(xs[j], ns[j])
        for name in ("estimate", "se", "tau2", "ci_low", "pi_high", "q_wald", "q_lrt", "i2", "ll"):
            assert np.ravel(getattr(stack, name))[j] == pytest.approx(getattr(single, name), rel=1e-9, abs=1e-12)
    d = stack.to_dict()
    assert isinstance(d["estimate"][0][0], float) and d["k"] == [[18, 18], [18, 18]]
    assert len(stack.summary()) == 4


def test_random_stack_equals_separate_fits():
    # analyses converge at different iterations, so the vectorised loop keeps changing its active set
    rng = np.random.default_rng(11)
    n = rng.integers(2, 60, size=(30, 4))
    theta = rng.uniform(-5, 3, (30, 1)) + rng.uniform(0, 3, (30, 1)) * rng.standard_normal((30, 4))
    x = rng.binomial(n, expit(theta))
    keep = ((x > 0) & (x < n)).any(-1)
    x, n = x[keep], n[keep]
    stack = glmm_proportion(x, n)
    for j in range(len(x)):
        one = glmm_proportion(x[j], n[j])
        for name in ("estimate", "se", "tau2", "ll"):
            assert getattr(stack, name)[j] == pytest.approx(getattr(one, name), rel=1e-8, abs=1e-12, nan_ok=True)


def test_global_optimum_on_awkward_data():
    # one study with events and three 0/n: AGQ with 7 nodes has two local maxima in τ here; the τ grid
    # start must find the higher one (τ ≈ 9). Profile ℓ over a τ grid with μ optimised numerically.
    for x, n in (([0, 0, 0, 3], [50, 5, 31, 4]), ([19, 24, 16, 137, 77], [36, 48, 34, 228, 157]),
                 ([1, 45, 20, 5], [50, 50, 40, 60])):
        r = glmm_proportion(x, n)
        best = -np.inf
        for tau in np.concatenate([[0.0], np.geomspace(0.01, 40, 80)]):
            o = minimize_scalar(lambda mu, x=x, n=n, tau=tau: -log_marginal(x, n, mu, tau).sum(),
                                bounds=(-40, 10), method="bounded", options={"xatol": 1e-10})
            best = max(best, -o.fun)
        assert r.ll >= best - 1e-9


def test_warnings():
    r = glmm_proportion([3, 8], [20, 25])
    assert "k = 2: tau^2 cannot be estimated reliably" in r.warnings
    assert any("consider test='t'" in w for w in r.warnings)
    r = glmm_proportion([0, 0, 0, 3], [50, 5, 31, 4])
    assert any("tau > 5" in w for w in r.warnings)
    many = glmm_proportion(np.tile([10, 11, 9, 10], (3, 1)), np.full((3, 4), 100))
    assert any("[3 of 3 analyses" in w for w in many.warnings)


def _brute_force_ll(x, n, mu, tau):
    """The binomial-normal log-likelihood by a 400,001-point rule on ±12 SD: no quadrature assumption."""
    z = np.linspace(-12.0, 12.0, 400_001)
    w = np.exp(-z * z / 2) / np.sqrt(2 * np.pi) * (z[1] - z[0])
    x, n = np.asarray(x, float)[:, None], np.asarray(n, float)[:, None]
    u = mu + tau * z
    lb = log_binom_coef(x[:, 0], n[:, 0])[:, None] + x * log_expit(u) + (n - x) * log_expit(-u)
    top = lb.max(axis=1, keepdims=True)
    return float(np.sum(np.log(np.exp(lb - top) @ w) + top[:, 0]))


def test_the_big_tau_warning_is_borne_out_by_brute_force_integration():
    # one study with events among four 0/n: the integrands are far from Gaussian and the likelihood is
    # flat in τ. By brute-force integration the MLE is μ = -11.08, τ² = 60.7 (ℓ = -8.4716, Nelder-Mead on
    # _brute_force_ll). Seven nodes miss it by 60% in τ² (hence the warning); the warning's advice,
    # 100 nodes, gets within 6% and to within 0.002 of the maximum of ℓ.
    x, n = [0, 0, 0, 76, 0], [129, 68, 40, 131, 70]
    seven, hundred = glmm_proportion(x, n), glmm_proportion(x, n, nagq=100)
    assert any("tau > 5" in w and "nagq=51 or 100" in w for w in seven.warnings)
    assert seven.tau2 > 1.5 * 60.7
    assert abs(hundred.tau2 / 60.7 - 1) < 0.06
    assert _brute_force_ll(x, n, hundred.estimate, np.sqrt(hundred.tau2)) > -8.4716 - 0.002
    assert _brute_force_ll(x, n, seven.estimate, np.sqrt(seven.tau2)) < -8.4716 - 0.1


@pytest.mark.parametrize(("xi", "ni", "match"), [
    ([4], [20], "k = 1"),
    ([0, 0, 0], [10, 20, 30], "every study has 0 events"),
    ([10, 20], [10, 20], "xi = ni"),
    ([0, 20, 0], [10, 20, 30], "0 or ni events"),
    ([-1, 3], [10, 10], "xi: study 0"),
    ([1.5, 3], [10, 10], "xi: study 0"),
    ([3, 11], [10, 10], "xi: study 1 has 11 events out of 10"),
    ([3, 0], [10, 0], "ni: study 1"),
    ([3, np.nan], [10, 10], "xi: study 1"),
    ([1, 2, 3], [10, 10], "shapes"),
    ("abc", [10], "numeric"),
])
def test_input_errors(xi, ni, match):
    with pytest.raises(InputError, match=match):
        glmm_proportion(xi, ni)


def test_option_errors():
    for kw, match in (({"nagq": 0}, "nagq"), ({"nagq": 2.5}, "nagq"), ({"test": "hk"}, "test"),
                      ({"level": 95}, "level")):
        with pytest.raises(InputError, match=match):
            glmm_proportion([3, 5], [10, 10], **kw)


def test_stack_error_names_the_analysis():
    with pytest.raises(InputError, match=r"analysis \(1,\)"):
        glmm_proportion([[3, 5], [0, 0]], [[10, 10], [10, 10]])


@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.tuples(st.integers(1, 80), st.floats(0, 1)), min_size=3, max_size=6),
       seed=st.integers(0, 2**16))
def test_properties(data, seed):
    n = np.array([d[0] for d in data])
    x = np.round(np.array([d[1] for d in data]) * n).astype(int)
    inner = (x > 0) & (x < n)
    if not inner.any():
        return
    r = glmm_proportion(x, n)
    assert r.converged and r.tau2 >= 0
    assert r.ci_low < r.estimate < r.ci_high
    assert r.pi_low <= r.ci_low + 1e-12 and r.pi_high >= r.ci_high - 1e-12
    assert 0 <= r.i2 < 100 and r.h2 >= 1
    # (τ̂² can be ~80 on such data, located only to ~1e-8 relative on a flat ridge)
    perm = np.random.default_rng(seed).permutation(len(n))
    p = glmm_proportion(x[perm], n[perm])
    assert p.estimate == pytest.approx(r.estimate, rel=1e-7, abs=1e-7)
    assert p.tau2 == pytest.approx(r.tau2, rel=1e-7, abs=1e-7)
    # events <-> non-events mirrors the logit
    m = glmm_proportion(n - x, n)
    assert m.estimate == pytest.approx(-r.estimate, rel=1e-7, abs=1e-7)
    assert m.tau2 == pytest.approx(r.tau2, rel=1e-7, abs=1e-7)


def test_exact_derivatives_of_a_ragged_stack():
    # analyses of k = 1, 2, 4 and 5 studies padded on the right, each at three (μ, τ), τ < 0 included
    # (ℓ is even in τ, so its τ-slope and μτ derivative change sign there) and τ = 0, 1e-6
    X = np.array([[3, 1, 1, 1, 1], [0, 9, 1, 1, 1], [12, 0, 40, 7, 1], [5, 30, 30, 0, 2]], float)
    N = np.array([[20, 2, 2, 2, 2], [15, 9, 2, 2, 2], [12, 50, 40, 90, 2], [60, 30, 31, 45, 3]], float)
    used = np.arange(5) < np.array([1, 2, 4, 5])[:, None]
    mu = np.array([[-1.0, 2.0, -6.0, 0.3], [-8.0, 0.5, 1.5, -2.0], [3.0, -3.0, -0.2, 0.0]])
    tau = np.array([[0.8, -1.2, 0.0, 2.5], [1e-6, 0.01, -5.0, 1.0], [-0.3, 0.0, 1e-6, -1e-6]])
    f, g, H = _ll_prop_derivs(X, N, mu, tau, 7, used)
    assert f.shape == (3, 4) and g.shape == (3, 4, 2) and H.shape == (3, 4, 2, 2)
    assert np.array_equal(f, _ll_prop(X, N, mu, tau, 7, used))
    want = richardson_derivs(lambda dm, dt: _ll_prop(X, N, mu + dm, tau + dt, 7, used), 8e-3)
    got = np.stack([f, g[..., 0], g[..., 1], H[..., 0, 0], H[..., 0, 1], H[..., 1, 1]])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert np.array_equal(H[..., 0, 1], H[..., 1, 0])
    # the padding is left out: an analysis alone gives the same numbers
    alone = _ll_prop_derivs(X[2:3, :4], N[2:3, :4], mu[:, 2:3], tau[:, 2:3], 7)
    for a, b in zip(alone, (f, g, H), strict=True):
        np.testing.assert_allclose(a[:, 0], b[:, 2], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("i", [i for i, c in enumerate(PROP) if c["test"] == "z"],
                         ids=_prop_ids([c for c in PROP if c["test"] == "z"]))
def test_fit_is_stationary_and_se_from_the_exact_hessian(prop_fits, i):
    # Newton on exact derivatives ends where the AGQ likelihood's gradient vanishes, and the SE is that
    # of its Hessian in (τ, μ), here by Richardson differences of the public log_marginal
    c, r = PROP[i], prop_fits[i]
    if r.tau2 == 0:
        return  # the boundary's SE is the pooled binomial one (test_boundary_uses_pooled_binomial_se)
    mu, tau = float(r.estimate), float(np.sqrt(r.tau2))
    d = richardson_derivs(lambda dm, dt: log_marginal(c["xi"], c["ni"], mu + dm, tau + dt, nodes=c["nagq"]).sum(),
                          8e-3)
    scale = max(abs(d[3]), abs(d[5]), 1.0)
    assert abs(d[1]) < 1e-7 * scale and abs(d[2]) < 1e-7 * scale, d
    se = np.sqrt(-d[5] / (d[3] * d[5] - d[4] ** 2))
    assert r.se == pytest.approx(se, rel=1e-6)


# ----------------------------------------------------------------------------------------------------------
# OR, model = "UM.FS"


def _or_ids(cases):
    return [f"{c['name']}-nagq{c['nagq']}-{c['test']}" for c in cases]


@pytest.fixture(scope="module")
def or_fits():
    return {i: glmm_or_umfs(c["ai"], c["n1i"], c["ci"], c["n2i"], nagq=c["nagq"], test=c["test"])
            for i, c in enumerate(OR)}


def _profile_ll(c, beta, tau, nagq):
    """max over the study intercepts α_i of the UM.FS AGQ log-likelihood at (β, τ), constants included."""
    A, N1, C, N2 = (np.array(c[v], float) for v in ("ai", "n1i", "ci", "n2i"))
    used = ~(((A == 0) & (C == 0)) | ((A == N1) & (C == N2)))
    total = 0.0
    for i in np.flatnonzero(used):
        one = [v[None, i:i + 1] for v in (A, N1, C, N2, used)]

        def f(a, one=one):
            return -_ll_or(*one, np.array([[[a]]]), np.array([[beta]]), np.array([[tau]]), nagq)[0, 0, 0]

        total -= minimize_scalar(f, bracket=(-3, 0), tol=1e-12).fun
    return total + (log_binom_coef(A, N1) + log_binom_coef(C, N2))[used].sum()


@pytest.mark.parametrize("i", range(len(OR)), ids=_or_ids(OR))
def test_or_matches_tight_metafor(or_fits, i):
    c = OR[i]
    # bcg: lme4 reached tolPwrss 1e-11 only, so its optimum is located to ~5e-6 (our ℓ is higher)
    bad = _compare(or_fits[i], c["tight"], _tolerances(1e-5 if c["name"] == "bcg" else 1e-6, 1e-4))
    assert not bad, bad


@pytest.mark.parametrize("i", range(len(OR)), ids=_or_ids(OR))
def test_or_matches_default_metafor(or_fits, i):
    c = OR[i]
    # nielweise2007: lme4 warns "Model failed to converge" and stops 4e-4 short of the optimum
    tol = 5e-4 if c["name"] == "nielweise2007" else 1e-4
    bad = _compare(or_fits[i], c["default"], _tolerances(tol, 10 * tol if c["nagq"] == 1 else tol))
    assert not bad, bad


@pytest.mark.parametrize("i", [i for i, c in enumerate(OR) if c["test"] == "z"],
                         ids=_or_ids([c for c in OR if c["test"] == "z"]))
def test_or_likelihood_not_below_r(or_fits, i):
    c, res = OR[i], or_fits[i]
    for key in ("tight", "default"):
        ref = c[key]
        assert res.ll >= _profile_ll(c, ref["beta"], np.sqrt(ref["tau2"]), c["nagq"]) - 1e-9


def test_or_drop00_and_stack():
    c = next(c for c in OR if c["name"] == "zero_cells" and c["nagq"] == 7 and c["test"] == "z")
    r = glmm_or_umfs(c["ai"], c["n1i"], c["ci"], c["n2i"])
    assert r.k == 6
    assert any("drop00" in w and "0, 7" in w for w in r.warnings)
    b = next(c for c in OR if c["name"] == "bcg" and c["nagq"] == 7 and c["test"] == "z")
    z = c  # stack bcg's first 8 tables with the zero-cell set
    stack = glmm_or_umfs([b["ai"][:8], z["ai"]], [b["n1i"][:8], z["n1i"]], [b["ci"][:8], z["ci"]],
                         [b["n2i"][:8], z["n2i"]])
    assert list(stack.k) == [8, 6]
    one = glmm_or_umfs(b["ai"][:8], b["n1i"][:8], b["ci"][:8], b["n2i"][:8])
    for name in ("estimate", "se", "tau2", "q_wald", "q_lrt", "i2", "ll"):
        assert getattr(stack, name)[0] == pytest.approx(getattr(one, name), rel=1e-9, abs=1e-12)
        assert getattr(stack, name)[1] == pytest.approx(getattr(r, name), rel=1e-9, abs=1e-12)


def test_or_random_stack_equals_separate_fits():
    rng = np.random.default_rng(5)
    n1, n2 = rng.integers(5, 80, size=(12, 5)), rng.integers(5, 80, size=(12, 5))
    alpha = rng.normal(-1.5, 1, (12, 5))
    u = rng.uniform(0, 1.5, (12, 1)) * rng.standard_normal((12, 5))
    a = rng.binomial(n1, expit(alpha - 0.5 + u / 2))
    c = rng.binomial(n2, expit(alpha - u / 2))
    stack = glmm_or_umfs(a, n1, c, n2)
    for j in range(12):
        # sums over differently shaped arrays round differently, and Newton stops ~1e-10 from the optimum
        one = glmm_or_umfs(a[j], n1[j], c[j], n2[j])
        for name in ("estimate", "se", "tau2", "ll", "k"):
            assert getattr(stack, name)[j] == pytest.approx(getattr(one, name), rel=1e-7, abs=1e-10)


def test_or_group_swap_negates_estimate():
    b = next(c for c in OR if c["name"] == "bcg")
    r = glmm_or_umfs(b["ai"], b["n1i"], b["ci"], b["n2i"])
    s = glmm_or_umfs(b["ci"], b["n2i"], b["ai"], b["n1i"])
    assert s.estimate == pytest.approx(-r.estimate, abs=1e-7)
    assert s.tau2 == pytest.approx(r.tau2, abs=1e-7) and s.se == pytest.approx(r.se, rel=1e-6)


@pytest.mark.parametrize(("args", "match"), [
    (([0, 3], [10, 10], [0, 4], [10, 10]), "fewer than 2 studies"),
    (([0, 0, 0], [10, 10, 10], [1, 2, 3], [10, 10, 10]), "odds ratio estimate is 0"),
    (([1, 2, 3], [10, 10, 10], [0, 0, 0], [10, 10, 10]), "odds ratio estimate is infinite"),
    (([1, 2], [10, 10], [1, 12], [10, 10]), "ci: study 1"),
    (([1, 2, 3], [10, 10], [1, 2], [10, 10]), "shapes"),
])
def test_or_input_errors(args, match):
    with pytest.raises(InputError, match=match):
        glmm_or_umfs(*args)
