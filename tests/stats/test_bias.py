"""egger_test / rank_test against metafor 3.8 regtest() / ranktest().

References: tests/data/bias.json, written by tests/reference/bias.R: dat.bcg (k = 13), its first 8 trials and the
four hazard ratios of METHODS.md §2.5 (k < 10: run here with force=True), simulated sets with small-study effects
(k = 40, 120, 160), without (k = 25), with tied variances (k = 30) and a monotone one (k = 14, tiny exact p).
Egger: every regtest() configuration (rma with REML/DL/FE/ML/PM and z/knha/adhoc, and lm) at rel 1e-6 — REML/ML
τ² are iterative but rma reproduces metafor's steps. Rank test: Kendall's τ and R's exact / normal p at rel 1e-6;
R computes an upper-tail exact p as 1 − P(T ≤ q − 1), so its tiny p-values carry an absolute error of ~1e-16:
p is compared with abs 1e-15 as well.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metablina.stats.bias import MIN_K, egger_test, kendall_cdf, rank_test
from metablina.stats.errors import InputError

DATA = json.loads((Path(__file__).parents[1] / "data" / "bias.json").read_text())
CASES = DATA["cases"]
BY_ID = {c["id"]: c for c in CASES}
RTOL = 1e-6
REG = [(c, e) for c in CASES for e in c["regtest"]]
RANK = [(c, e) for c in CASES for e in c["ranktest"]]


def _num(x):
    if isinstance(x, str):
        return {"NA": np.nan, "NaN": np.nan}[x]
    return float(x)


# ----------------------------------------------------------------------------------------------------------
# metafor
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case,e", REG, ids=[f"{c['id']}-{e['model']}-{e['method']}-{e['test']}" for c, e in REG])
def test_egger_matches_metafor_regtest(case, e):
    k = len(case["yi"])
    r = egger_test(case["yi"], case["vi"], method=e["method"], test=e["test"], model=e["model"], force=k < MIN_K)
    for ours, theirs in [(r.stat, e["zval"]), (r.p_value, e["pval"]), (r.limit_estimate, e["est"]),
                         (r.limit_ci_low, e["ci_lb"]), (r.limit_ci_high, e["ci_ub"]), (r.limit_se, e["se"][0]),
                         (r.slope, e["b"][1]), (r.slope_se, e["se"][1])]:
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-13)
    ddf = None if e["ddf"] == "NA" else e["ddf"]
    assert r.df == ddf
    assert r.stat_name == ("z" if ddf is None else "t")
    if e["model"] == "rma" and e["method"] != "FE":
        np.testing.assert_allclose(r.tau2, e["tau2"], rtol=RTOL, atol=1e-13)
    assert r.forced == (k < MIN_K)


@pytest.mark.parametrize("case,e", RANK, ids=[f"{c['id']}-exact={e['exact_arg']}" for c, e in RANK])
def test_rank_test_matches_metafor_ranktest(case, e):
    k = len(case["yi"])
    r = rank_test(case["yi"], case["vi"], exact=e["exact_arg"], force=k < MIN_K)
    np.testing.assert_allclose(r.tau, e["tau"], rtol=RTOL)
    np.testing.assert_allclose(r.p_value, e["pval"], rtol=RTOL, atol=1e-15)
    exact = e["statistic_name"] == "T"
    assert r.exact == exact
    np.testing.assert_allclose(r.concordant if exact else r.z, e["statistic"], rtol=RTOL)
    if e["warnings"]:  # R: "Cannot compute exact p-value with ties"
        assert any("ties" in w for w in r.warnings)


def test_reference_cases_show_what_they_should():
    assert BY_ID["sim40_asym"]["regtest"][0]["pval"] < 0.01 and BY_ID["sim25_sym"]["regtest"][0]["pval"] > 0.5
    assert BY_ID["sim30_ties"]["ranktest"][0]["statistic_name"] == "z"
    assert BY_ID["sim160_asym"]["ranktest"][0]["statistic_name"] == "T"  # exact with k = 160
    assert BY_ID["monotone14"]["ranktest"][0]["pval"] < 1e-9


# ----------------------------------------------------------------------------------------------------------
# the exact Kendall distribution, independently: Mahonian numbers in integer arithmetic
# ----------------------------------------------------------------------------------------------------------
def _mahonian(n):
    c = [1]
    for j in range(2, n + 1):
        new = [0] * (len(c) + j - 1)
        for i, x in enumerate(c):
            for t in range(j):
                new[i + t] += x
        c = new
    return c


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 12, 25, 45])
def test_kendall_cdf_equals_integer_counts(n):
    c = _mahonian(n)
    top = len(c) - 1
    q = np.arange(-1, top + 2)
    exact = [0.0 if x < 0 else 1.0 if x >= top else math.fsum(c[: x + 1]) / math.factorial(n) for x in q]
    # relative precision in the lower half (the tail the test uses), absolute elsewhere
    np.testing.assert_allclose(kendall_cdf(q, n), exact, rtol=1e-12, atol=0 if n < 20 else 1e-15)
    lower = q[(q >= 0) & (q <= top // 2)]
    np.testing.assert_allclose(kendall_cdf(lower, n), np.array(exact)[lower + 1], rtol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# refusal below k = 10
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [egger_test, rank_test])
def test_refuses_fewer_than_ten_studies_unless_forced(fn):
    c = BY_ID["bcg_k8"]
    with pytest.raises(InputError) as err:
        fn(c["yi"], c["vi"])
    msg = str(err.value)
    assert "k = 8" in msg and "k >= 10" in msg and "Sterne et al. 2011" in msg and "power" in msg
    assert "force=True" in msg and "\n" not in msg
    r = fn(c["yi"], c["vi"], force=True)
    assert r.forced and any("force=True" in w for w in r.warnings)
    bcg = BY_ID["bcg"]
    full = fn(bcg["yi"], bcg["vi"])
    assert not full.forced and not any("force" in w for w in full.warnings)
    assert not fn(bcg["yi"], bcg["vi"], force=True).forced  # force changes nothing at k >= 10


def test_input_errors():
    y = np.linspace(-1, 1, 12)
    with pytest.raises(InputError, match="same sampling variance"):
        egger_test(y, np.full(12, 0.1))
    with pytest.raises(InputError, match="model"):
        egger_test(y, np.linspace(0.1, 0.2, 12), model="glm")
    with pytest.raises(InputError, match="at least 3"):
        egger_test(y[:2], [0.1, 0.2], force=True)
    with pytest.raises(InputError, match="vi: study 3"):
        rank_test(y, np.r_[0.1, 0.1, 0.1, 0.0, np.full(8, 0.1)])
    r = rank_test(y, np.full(12, 0.1))  # all variances tied: tau undefined, as R's NA
    assert np.isnan(r.tau) and np.isnan(r.p_value) and any("undefined" in w for w in r.warnings)


def test_large_k_uses_the_normal_approximation():
    """Beyond 500 studies the exact distribution is replaced by the normal one (R: exact breaks above 170)."""
    from scipy.stats import kendalltau

    rng = np.random.default_rng(7)
    k = 600
    v = rng.uniform(0.01, 0.3, k)
    y = 0.8 * np.sqrt(v) + rng.normal(0, np.sqrt(v))
    r = rank_test(y, v)
    assert not r.exact and any("normal approximation" in w for w in r.warnings)
    w = 1 / v
    ystar = (y - (w * y).sum() / w.sum()) / np.sqrt(v - 1 / w.sum())
    ref = kendalltau(ystar, v, method="asymptotic")
    np.testing.assert_allclose([r.tau, r.p_value], [ref.statistic, ref.pvalue], rtol=1e-9)


# ----------------------------------------------------------------------------------------------------------
# stacks and invariances
# ----------------------------------------------------------------------------------------------------------
def test_stacks_equal_one_by_one():
    c = BY_ID["sim40_asym"]
    rng = np.random.default_rng(3)
    Y = np.array(c["yi"]) + rng.normal(0, 0.1, (2, 3, 40))
    V = np.array(c["vi"]) * rng.uniform(0.8, 1.2, (2, 3, 40))
    V[1, 2, :5] = V[1, 2, 5]  # one analysis with ties: normal approximation there only
    E = egger_test(Y, V, method="DL", test="knha")
    Elm = egger_test(Y, V, model="lm")
    R = rank_test(Y, V)
    assert np.shape(E.p_value) == np.shape(R.p_value) == (2, 3)
    assert R.exact.sum() == 5 and not R.exact[1, 2]
    for a in np.ndindex(2, 3):
        e1 = egger_test(Y[a], V[a], method="DL", test="knha")
        l1 = egger_test(Y[a], V[a], model="lm")
        r1 = rank_test(Y[a], V[a])
        for f in ("stat", "p_value", "limit_estimate", "limit_ci_low", "slope", "tau2"):
            np.testing.assert_allclose(np.asarray(getattr(E, f))[a], getattr(e1, f), rtol=1e-10, err_msg=f)
        np.testing.assert_allclose(np.asarray(Elm.p_value)[a], l1.p_value, rtol=1e-12)
        np.testing.assert_allclose([R.tau[a], R.p_value[a]], [r1.tau, r1.p_value], rtol=1e-12)
    assert E.summary().shape[0] == R.summary().shape[0] == 6


_sets = st.integers(10, 25).flatmap(lambda k: st.tuples(
    st.lists(st.floats(-2, 2), min_size=k, max_size=k),
    st.lists(st.floats(0.01, 1.0), min_size=k, max_size=k, unique=True)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_sets, st.floats(-3, 3), st.floats(0.2, 5))
def test_location_and_scale_invariance(data, shift, scale):
    """Shifting every effect moves only the limit estimate; rescaling effects and SEs leaves both tests as is."""
    y, v = map(np.array, data)
    if np.ptp(np.sqrt(v)) < 1e-6:
        return
    a, b = egger_test(y, v, method="DL"), egger_test(y + shift, v, method="DL")
    np.testing.assert_allclose(b.stat, a.stat, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b.limit_estimate, a.limit_estimate + shift, rtol=1e-9, atol=1e-9)
    c = egger_test(scale * y, scale**2 * v, model="lm")
    np.testing.assert_allclose(c.stat, egger_test(y, v, model="lm").stat, rtol=1e-7, atol=1e-9)
    r = rank_test(y, v)
    w = 1 / v
    ystar = np.sort((y - (w * y).sum() / w.sum()) / np.sqrt(v - 1 / w.sum()))
    if np.ptp(ystar) == 0:  # every standardised effect equal: tau undefined (R: NA)
        assert np.isnan(r.tau) and np.isnan(r.p_value)
        return
    assert -1 <= r.tau <= 1 and 0 <= r.p_value <= 1
    if np.diff(ystar).min() > 1e-9 * np.abs(ystar).max():  # no near-ties that rounding could reorder
        s = rank_test(y + shift, v)
        assert s.tau == pytest.approx(r.tau, abs=1e-12) and s.p_value == pytest.approx(r.p_value, rel=1e-12)


def test_dicts_and_tables():
    c = BY_ID["bcg"]
    for r in (egger_test(c["yi"], c["vi"]), egger_test(c["yi"], c["vi"], model="lm"), rank_test(c["yi"], c["vi"])):
        json.dumps(r.to_dict(), allow_nan=False)
        assert r.summary().shape[0] == 1
    assert egger_test(c["yi"], c["vi"]).fit.coef_names == ("intrcpt", "sei")
