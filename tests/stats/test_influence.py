"""leave_one_out / cumulative / influence against metafor 3.8 leave1out() / cumul() / influence.rma.uni().

References: tests/data/influence.json, written by tests/reference/influence.R (dat.bcg log RR with all nine τ²
estimators × z / knha / adhoc, meta-regressions, the four hazard ratios of METHODS.md §2.5, k = 2 and 3, an outlier,
homogeneous studies). Every field is compared at rel 1e-6 (abs 1e-12 for exact zeros). That holds for the iterative
leave-one-out τ² (Fisher scoring, threshold 1e-5; uniroot tol ε^¼ for PM) because rma reproduces metafor's steps:
those numbers are only within metafor's own tolerance of the exact optimum, exactly as metafor's are.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metablina.stats.errors import InputError
from metablina.stats.influence import cumulative, influence, leave_one_out
from metablina.stats.rma import rma

DATA = json.loads((Path(__file__).parents[1] / "data" / "influence.json").read_text())
CASES = DATA["cases"]
INT_ONLY = [c for c in CASES if c["int_only"]]
RTOL = 1e-6
ATOL = 1e-12
ROWS = [("estimate", "estimate"), ("se", "se"), ("stat", "stat"), ("p_value", "pval"), ("ci_low", "ci_lb"),
        ("ci_high", "ci_ub"), ("q", "Q"), ("q_p", "Qp"), ("tau2", "tau2"), ("i2", "I2"), ("h2", "H2")]
BCG = next(c for c in CASES if c["id"] == "bcg_REML_z")
HR4 = next(c for c in CASES if c["id"] == "hr4_REML_z")


def _num(x):
    if isinstance(x, list):
        return np.array([_num(v) for v in x], dtype=float)
    if isinstance(x, str):
        return {"NA": np.nan, "NaN": np.nan, "Inf": np.inf, "-Inf": -np.inf}[x]
    return np.nan if x is None else float(x)


def _close(ours, theirs, what):
    a = np.asarray(ours, dtype=float)
    b = _num(theirs).reshape(a.shape)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=what)


def _fixed(c):
    return None if c["tau2_fixed"] == "NA" else c["tau2_fixed"]


# ----------------------------------------------------------------------------------------------------------
# every case of tests/reference/influence.R, every column
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", INT_ONLY, ids=[c["id"] for c in INT_ONLY])
def test_leave_one_out_matches_metafor(case):
    r = leave_one_out(case["yi"], case["vi"], method=case["method"], test=case["test"], level=case["level"],
                      tau2=_fixed(case))
    for ours, key in ROWS:
        _close(getattr(r, ours), case["leave1out"][key], f"leave1out {key}")
    k = len(case["yi"])
    assert r.q_df == (k - 2,) * k
    if k > 2 and case["test"] != "z":
        assert r.stat_name == "t" and r.df == (k - 2,) * k
    else:
        assert r.stat_name == "z" and r.df == (None,) * k


@pytest.mark.parametrize("case", INT_ONLY, ids=[c["id"] for c in INT_ONLY])
def test_cumulative_matches_metafor(case):
    r = cumulative(case["yi"], case["vi"], case["order"], method=case["method"], test=case["test"],
                   level=case["level"], tau2=_fixed(case))
    np.testing.assert_array_equal(r.studies + 1, _num(case["cumul"]["ids"]))
    for ours, key in ROWS:
        _close(getattr(r, ours), case["cumul"][key], f"cumul {key}")
    assert r.q_df == tuple(range(len(case["yi"])))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_influence_matches_metafor(case):
    X = None if case["int_only"] else np.array(case["X"], dtype=float)
    r = influence(case["yi"], case["vi"], method=case["method"], test=case["test"], X=X, tau2=_fixed(case))
    e = case["influence"]
    for ours, key in [("rstudent", "rstudent"), ("resid", "resid"), ("se_resid", "se_resid"), ("dffits", "dffits"),
                      ("cook_d", "cook_d"), ("cov_r", "cov_r"), ("tau2_del", "tau2_del"), ("qe_del", "QE_del"),
                      ("hat", "hat"), ("weight", "weight"), ("dfbetas", "dfbs")]:
        _close(getattr(r, ours), e[key], key)
    np.testing.assert_array_equal(r.inf, np.array(e["is_infl"], dtype=bool))
    assert list(r.summary()["inf"]) == e["inf"]
    assert r.p == np.array(case["X"]).shape[1]


def test_the_cases_cover_what_they_claim():
    ids = {c["id"] for c in CASES}
    for m in ("REML", "DL"):
        for t in ("z", "knha"):
            assert f"bcg_{m}_{t}" in ids and f"hr4_{m}_{t}" in ids
    flagged = sum(any(c["influence"]["is_infl"]) for c in CASES)
    assert flagged >= 10  # the influence flag is exercised both ways
    assert any(np.isnan(_num(c["influence"]["rstudent"])).any() for c in CASES)  # a rank-deficient deletion


# ----------------------------------------------------------------------------------------------------------
# stacks: one call on (..., k) equals the analyses one by one
# ----------------------------------------------------------------------------------------------------------
def _stack(seed=1, lead=(2, 3)):
    rng = np.random.default_rng(seed)
    y0, v0 = np.array(BCG["yi"]), np.array(BCG["vi"])
    return y0 + rng.normal(0, 0.3, (*lead, y0.size)), v0 * rng.uniform(0.5, 2.0, (*lead, y0.size))


@pytest.mark.parametrize("method,test", [("REML", "z"), ("DL", "knha"), ("PM", "adhoc")])
def test_stacked_leave_one_out_and_cumulative_equal_one_by_one(method, test):
    Y, V = _stack()
    year = np.array(BCG["order"])
    L = leave_one_out(Y, V, method=method, test=test)
    C = cumulative(Y, V, year, method=method, test=test)
    assert L.estimate.shape == C.estimate.shape == Y.shape
    for a in np.ndindex(*Y.shape[:-1]):
        one = leave_one_out(Y[a], V[a], method=method, test=test)
        cone = cumulative(Y[a], V[a], year, method=method, test=test)
        for f, _ in ROWS:
            np.testing.assert_allclose(getattr(L, f)[a], getattr(one, f), rtol=1e-10, atol=1e-13, err_msg=f)
            np.testing.assert_allclose(getattr(C, f)[a], getattr(cone, f), rtol=1e-10, atol=1e-13, err_msg=f)


def test_stacked_influence_equals_one_by_one_with_a_per_analysis_design():
    Y, V = _stack(2, lead=(4,))
    rng = np.random.default_rng(5)
    X = np.concatenate([np.ones((4, Y.shape[-1], 1)), rng.normal(size=(4, Y.shape[-1], 1))], axis=-1)
    R = influence(Y, V, method="REML", test="knha", X=X)
    assert R.dfbetas.shape == (4, Y.shape[-1], 2)
    for a in range(4):
        one = influence(Y[a], V[a], method="REML", test="knha", X=X[a])
        for f in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight", "dfbetas"):
            np.testing.assert_allclose(getattr(R, f)[a], getattr(one, f), rtol=1e-9, atol=1e-13, err_msg=f)
        np.testing.assert_array_equal(R.inf[a], one.inf)


def test_per_analysis_order_in_a_stack():
    Y, V = _stack(3, lead=(2,))
    keys = np.stack([np.arange(13), np.arange(13)[::-1]])
    C = cumulative(Y, V, keys)
    np.testing.assert_array_equal(C.studies[1], np.arange(13)[::-1])
    rev = cumulative(Y[1][::-1], V[1][::-1])
    np.testing.assert_allclose(C.estimate[1], rev.estimate, rtol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------------------
_studies = st.integers(3, 9).flatmap(lambda k: st.tuples(
    st.lists(st.floats(-2, 2), min_size=k, max_size=k),
    st.lists(st.floats(0.01, 1.0), min_size=k, max_size=k)))
_cfg = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_cfg
@given(_studies, st.sampled_from(["REML", "DL", "FE", "PM"]), st.sampled_from(["z", "knha"]))
def test_cumulative_last_row_is_the_full_fit(data, method, test):
    y, v = map(np.array, data)
    key = np.arange(y.size)[::-1]
    c = cumulative(y, v, key, method=method, test=test)
    full = rma(y, v, method=method, test=test)
    for f in ("estimate", "se", "stat", "p_value", "ci_low", "ci_high", "q", "q_p", "tau2", "i2", "h2"):
        np.testing.assert_allclose(getattr(c, f)[-1], getattr(full, f), rtol=1e-9, atol=1e-12, err_msg=f)
    # step 1 is the first study added (the last in input order), alone
    assert c.estimate[0] == y[-1] and c.tau2[0] == 0 and c.q[0] == 0


@_cfg
@given(_studies, st.sampled_from(["REML", "DL", "FE"]))
def test_leave_one_out_of_a_doubled_set_pairs_up(data, method):
    """Studies i and i + k of (y, y) are the same study: omitting either gives the same fit."""
    y, v = map(np.array, data)
    k = y.size
    r = leave_one_out(np.r_[y, y], np.r_[v, v], method=method)
    for f in ("estimate", "se", "tau2", "q", "i2"):
        a = getattr(r, f)
        np.testing.assert_allclose(a[:k], a[k:], rtol=1e-7, atol=1e-10, err_msg=f)


@_cfg
@given(_studies, st.randoms(use_true_random=False), st.sampled_from(["REML", "DL"]))
def test_leave_one_out_and_influence_follow_a_permutation(data, rnd, method):
    y, v = map(np.array, data)
    perm = np.array(rnd.sample(range(y.size), y.size))
    a = leave_one_out(y, v, method=method)
    b = leave_one_out(y[perm], v[perm], method=method)
    np.testing.assert_allclose(b.estimate, a.estimate[perm], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(b.tau2, a.tau2[perm], rtol=1e-6, atol=1e-8)
    ia = influence(y, v, method=method)
    ib = influence(y[perm], v[perm], method=method)
    np.testing.assert_allclose(ib.hat, ia.hat[perm], rtol=1e-7)
    np.testing.assert_allclose(ib.dffits, ia.dffits[perm], rtol=1e-6, atol=1e-9)


@_cfg
@given(_studies)
def test_common_effect_diagnostics_have_closed_forms(data):
    """Under FE, β̂_(−i) = (Σw ȳ − w_i y_i)/(Σw − w_i) and Cook's D_i = (β̂ − β̂_(−i))² Σw."""
    y, v = map(np.array, data)
    r = influence(y, v, method="FE")
    w = 1 / v
    mu = (w * y).sum() / w.sum()
    mu_del = ((w * y).sum() - w * y) / (w.sum() - w)
    np.testing.assert_allclose(r.cook_d, (mu - mu_del) ** 2 * w.sum(), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(r.hat, w / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(r.cov_r, w.sum() / (w.sum() - w), rtol=1e-10)
    np.testing.assert_allclose(r.rstudent, (y - mu_del) / np.sqrt(v + 1 / (w.sum() - w)), rtol=1e-9, atol=1e-12)
    assert np.all(r.tau2_del == 0)


# ----------------------------------------------------------------------------------------------------------
# edge cases, input errors, output shapes
# ----------------------------------------------------------------------------------------------------------
def test_k2_refits_are_single_studies_with_z():
    c = next(c for c in CASES if c["id"] == "k2_REML_knha")
    r = leave_one_out(c["yi"], c["vi"], test="knha")
    np.testing.assert_array_equal(r.estimate, np.array(c["yi"])[::-1])
    assert r.stat_name == "z" and any("single study" in w for w in r.warnings)
    i = influence(c["yi"], c["vi"], test="knha")
    assert np.all(i.tau2_del == 0) and any("single study" in w for w in i.warnings)


def test_huge_heterogeneity_outlier_is_flagged():
    c = next(c for c in CASES if c["id"] == "outlier_REML_z")
    r = influence(c["yi"], c["vi"])
    assert r.inf[4] and r.inf.sum() == 1
    assert r.tau2_del[4] < 0.01 * r.tau2  # without the outlier the heterogeneity is gone


def test_homogeneous_studies_keep_tau2_at_zero():
    c = next(c for c in CASES if c["id"] == "homog_REML_z")
    assert np.all(leave_one_out(c["yi"], c["vi"]).tau2 == 0)
    assert np.all(influence(c["yi"], c["vi"]).tau2_del == 0)


def test_input_errors():
    y, v = np.array(HR4["yi"]), np.array(HR4["vi"])
    with pytest.raises(InputError, match="k = 1"):
        leave_one_out(y[:1], v[:1])
    with pytest.raises(InputError, match="k = 1"):
        influence(y[:1], v[:1])
    with pytest.raises(InputError, match="order"):
        cumulative(y, v, [1, 2, 3])
    with pytest.raises(InputError, match="order: study 2"):
        cumulative(y, v, [1, 2, np.nan, 4])
    with pytest.raises(InputError, match="tau2"):
        leave_one_out(y, v, method="FE", tau2=0.1)
    with pytest.raises(InputError, match="test"):
        leave_one_out(y, v, test="bogus")
    with pytest.raises(InputError, match="vi: study 1"):
        influence(y, np.r_[v[0], -1.0, v[2:]])
    with pytest.raises(InputError, match="method"):
        cumulative(y, v, method="XYZ")


def test_cumulative_with_one_study_and_string_keys():
    c = cumulative([0.3], [0.04])
    assert c.estimate.shape == (1,) and c.se[0] == pytest.approx(0.2)
    s = cumulative(HR4["yi"], HR4["vi"], ["b", "a", "d", "c"])
    np.testing.assert_array_equal(s.studies, [1, 0, 3, 2])


def test_dicts_and_tables():
    y, v = np.array(BCG["yi"]), np.array(BCG["vi"])
    for r in (leave_one_out(y, v), cumulative(y, v, BCG["order"], test="knha"), influence(y, v)):
        d = r.to_dict()
        json.dumps(d, allow_nan=False)
        assert r.summary().shape[0] == 13
    assert leave_one_out(y, v, test="knha").summary().columns[2] == "tval"
    assert "tau2" not in leave_one_out(y, v, method="FE").summary().columns
    X = np.column_stack([np.ones(13), np.array(BCG["order"], float)])
    t = influence(y, v, X=X, coef_names=("intrcpt", "year")).summary()
    assert {"dfbs.intrcpt", "dfbs.year", "inf"} <= set(t.columns)
    stacked = leave_one_out(np.stack([y, y]), np.stack([v, v])).summary()
    assert stacked.shape[0] == 26 and stacked.index.names == ["analysis", "omitted"]
