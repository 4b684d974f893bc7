"""rma() against metafor 3.8 rma.uni / predict / confint / weights / print, plus properties and cross-checks.

References: tests/data/rma.json (tests/reference/rma.R) and tests/data/rma_shared.json (a copy of the rma rows of
/work/shared/reference/expected, written by the project's reference.R). All fields are compared at rel 1e-6.
That holds for the iterative parts too (Fisher scoring for ML/REML/EB, threshold 1e-5; R's uniroot with tol
ε^¼ ≈ 1.2e-4 for PM and the Q-profile bounds), because metafor's iterations are reproduced step for step;
those numbers are therefore only within the stated tolerances of the exact optimum/root, exactly as in metafor.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import chdtri, ndtri, stdtrit

from metablina.stats.errors import InputError
from metablina.stats.rma import RMAResult, format_rma, rma
from metablina.stats.tau2 import METHODS, TOL, q_gen

HERE = Path(__file__).parents[1] / "data"
DATA = json.loads((HERE / "rma.json").read_text())
SHARED = json.loads((HERE / "rma_shared.json").read_text())
CASES = {c["id"]: c for c in DATA["cases"]}
FITTABLE = [c for c in DATA["cases"] if "error" not in c]
RTOL = 1e-6
ATOL = 1e-12


def _num(x):
    if isinstance(x, list):
        return np.array([_num(v) for v in x], dtype=float)
    if isinstance(x, str):
        return {"NA": np.nan, "NaN": np.nan, "Inf": np.inf, "-Inf": -np.inf}[x]
    return np.nan if x is None else float(x)


def _warnings(e) -> list[str]:
    w = e.get("warnings", [])
    return [w] if isinstance(w, str) else list(w)  # jsonlite unboxes a single warning


def _fit(c, **kw) -> RMAResult:
    fixed = None if c["tau2_fixed"] == "NA" else c["tau2_fixed"]
    return rma(
        c["yi"],
        c["vi"],
        method=c["method"],
        test=c["test"],
        X=np.array(c["X"], float),
        level=c["level"],
        tau2=fixed,
        **kw,
    )


def _close(ours, theirs, what):
    a = np.asarray(np.nan if ours is None else ours, dtype=float)
    b = _num(theirs)
    b = np.reshape(b, a.shape) if np.size(b) == np.size(a) else b
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=what)


# ----------------------------------------------------------------------------------------------------------
# every case of tests/reference/rma.R, every field
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", FITTABLE, ids=[c["id"] for c in FITTABLE])
def test_matches_metafor(case):
    e = case["expected"]
    r = _fit(case)
    assert r.k == e["k"] and r.p == e["p"]
    for ours, key in [
        (r.b, "b"),
        (r.b_se, "se"),
        (r.b_stat, "zval"),
        (r.b_p, "pval"),
        (r.b_ci_low, "ci_lb"),
        (r.b_ci_high, "ci_ub"),
        (r.tau2, "tau2"),
        (r.i2, "I2"),
        (r.h2, "H2"),
        (r.q, "QE"),
        (r.q_p, "QEp"),
        (r.qm, "QM"),
        (r.qm_p, "QMp"),
        (r.s2w, "s2w"),
        (r.vt, "vt"),
        (r.weights, "weights"),
    ]:
        _close(ours, e[key], key)
    assert r.q_df == e["k"] - e["p"]
    qmdf = _num(e["QMdf"])
    assert r.qm_df[0] == qmdf[0] and (r.qm_df[1] is None if np.isnan(qmdf[1]) else r.qm_df[1] == qmdf[1])
    if case["method"] != "FE":
        _close(r.tau2_se, e["se_tau2"], "se_tau2")
    if r.int_only:
        _close(r.estimate, e["b"], "estimate")
        _close(r.ci_low, e["ci_lb"], "ci_low")
        if case["method"] != "FE":
            _close(r.pi_low, e["pi_lb"], "pi_lb")
            _close(r.pi_high, e["pi_ub"], "pi_ub")
            if r.k >= 3:
                _close(r.pi_hts_low, e["hts_lb"], "hts_lb")
                _close(r.pi_hts_high, e["hts_ub"], "hts_ub")
            else:
                assert r.pi_hts_low is None
        else:
            assert r.pi_low is None and r.tau2_ci_low is None
    else:
        assert r.estimate is None and r.pi_low is None
        _close(r.r2, e["R2"], "R2")  # NA in R when the model has no intercept
    if "tau2_lb" in e:
        for ours, key in [
            (r.tau2_ci_low, "tau2_lb"),
            (r.tau2_ci_high, "tau2_ub"),
            (r.i2_ci_low, "I2_lb"),
            (r.i2_ci_high, "I2_ub"),
            (r.h2_ci_low, "H2_lb"),
            (r.h2_ci_high, "H2_ub"),
        ]:
            _close(ours, e[key], key)
        assert r.tau2_ci_empty == e["ci_null"]
        assert any("empty" in w for w in r.warnings) == e["ci_null"]
        assert any("beyond the searched maximum" in w for w in r.warnings) == (e["ub_sign"] == ">")
    elif case["method"] != "FE":
        assert r.tau2_fixed and r.tau2_ci_low is None
    if any("Knapp & Hartung method is not meant" in w for w in _warnings(e)):
        assert any("not meant to be used with a common-effect model" in w for w in r.warnings)
    assert json.dumps(r.to_dict(), allow_nan=False)


@pytest.mark.parametrize("row", SHARED["rows"], ids=[r["id"] for r in SHARED["rows"]])
def test_shared_reference(row):
    """Every field of /work/shared/reference/expected/*.json (rma rows), as the CLI's to_dict keys."""
    test = "knha" if row["ci"] == "hksj" else "z"
    d = rma(row["yi"], row["vi"], method=row["method"], test=test).to_dict()
    for key, val in row.items():
        if key in ("id", "data", "measure", "ci", "back", "method"):
            continue
        if key == "k" or key == "q_df":
            assert d[key] == val
        else:
            _close(d[key], val, key)
    assert d["method"] == row["method"]


def test_shared_copy_is_current():
    """tests/data/rma_shared.json is a copy of the shared reference (checked where that directory exists)."""
    src = Path("/work/shared/reference/expected")
    if not src.is_dir():
        pytest.skip("shared reference directory not available")
    rows = {r["id"]: r for r in SHARED["rows"]}
    for f in sorted(src.glob("*.json")):
        row = json.loads(f.read_text())
        if row.get("method") in METHODS:
            assert rows.get(row["id"]) == row, (
                f"{f.name}: refresh tests/data/rma_shared.json from the shared set"
            )


def test_methods_md_hazard_ratio_example():
    """METHODS.md §2.5 table ([R] metafor 3.8-1 numbers, printed to 6 decimals / 3 for HR)."""
    c = CASES["hr4_REML_z"]
    y, v = np.array(c["yi"]), np.array(c["vi"])
    np.testing.assert_allclose(y, [-0.967584, -0.597837, -0.342490, -0.798508], atol=5e-7)
    np.testing.assert_allclose(np.sqrt(v), [0.276369, 0.309680, 0.232616, 0.413117], atol=5e-7)
    fe = rma(y, v, method="FE")
    assert round(fe.estimate, 6) == -0.624951 and round(fe.se, 6) == 0.144548
    reml = rma(y, v, method="REML", test="adhoc")
    assert round(reml.tau2, 6) == 0.022662
    assert (round(reml.ci_low, 6), round(reml.ci_high, 6)) == (-1.162301, -0.112068)
    assert tuple(np.round(np.exp([reml.pi_low, reml.pi_high]), 3)) == (0.260, 1.076)
    assert tuple(np.round(np.exp([reml.pi_hts_low, reml.pi_hts_high]), 3)) == (0.202, 1.382)
    knha = rma(y, v, method="REML", test="knha")
    assert round(knha.s2w, 4) == 0.7937 and round(knha.se, 6) == 0.147001
    dl = rma(y, v, method="DL", test="knha")
    assert (round(dl.tau2, 6), round(dl.se, 6), round(dl.ci_low, 6)) == (0.005729, 0.148579, -1.101619)
    pm = rma(y, v, method="PM", test="knha")
    assert (round(pm.tau2, 6), round(pm.ci_low, 6), round(pm.ci_high, 6)) == (0.004303, -1.101197, -0.154564)
    assert (
        round(rma(y, v, method="ML").tau2, 6) == 0.000763
        and round(rma(y, v, method="SJ").tau2, 6) == 0.031868
    )
    assert (round(reml.q, 4), round(reml.i2, 1), round(reml.h2, 3)) == (3.1957, 20.5, 1.258)
    assert (reml.tau2_ci_low, round(reml.tau2_ci_high, 4), round(reml.i2_ci_high, 1)) == (0.0, 0.9358, 91.4)


# ----------------------------------------------------------------------------------------------------------
# stacks
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", list(DATA["stack"]["fits"]))
def test_stack_equals_metafor_one_by_one(key):
    s = DATA["stack"]
    fits = s["fits"][key]
    if key.startswith("reg_"):
        method, test = key[4:], "z"
        y, X = np.array(s["yi_reg"]), np.column_stack([np.ones(len(s["xmod"])), s["xmod"]])
    else:
        method, test = key.split("_")[0], ("knha" if key.endswith("knha") else "z")
        y, X = np.array(s["yi"]), None
    r = rma(y, np.array(s["vi"]), method=method, test=test, X=X)
    for ours, k in [
        (r.b, "b"),
        (r.b_se, "se"),
        (r.b_ci_low, "ci_lb"),
        (r.tau2, "tau2"),
        (r.q, "QE"),
        (r.i2, "I2"),
        (r.b_p, "pval"),
    ]:
        _close(ours, [f[k] for f in fits], k)
    if method != "FE":
        _close(r.tau2_ci_low, [f["tau2_lb"] for f in fits], "tau2_lb")
        _close(r.tau2_ci_high, [f["tau2_ub"] for f in fits], "tau2_ub")
    if key.startswith("reg_"):
        _close(r.r2, [f["R2"] for f in fits], "R2")
        _close(r.qm, [f["QM"] for f in fits], "QM")
    else:
        if method != "FE":
            _close(r.pi_low, [f["pi_lb"] for f in fits], "pi_lb")
    t2 = np.array([f["tau2"] for f in fits])
    if method in ("DL", "REML", "PM"):
        assert 0 < (t2 == 0).sum() < t2.size
        boundary = [w for w in r.warnings if "boundary" in w]
        assert len(boundary) == 1 and boundary[0].startswith("analyses ")


def test_stack_shapes_and_dict():
    s = DATA["stack"]
    y = np.array(s["yi"]).reshape(4, 10, 6)
    v = np.array(s["vi"]).reshape(4, 10, 6)
    r = rma(y, v)
    assert np.shape(r.estimate) == (4, 10) and np.shape(r.weights) == (4, 10, 6)
    flat = rma(np.array(s["yi"]), np.array(s["vi"]))
    np.testing.assert_array_equal(np.ravel(r.estimate), flat.estimate)
    d = flat.to_dict()
    assert len(d["estimate"]) == 40 and len(d["yi"]) == 40 and len(d["yi"][0]) == 6
    assert json.dumps(d, allow_nan=False)
    assert r.summary().shape[1] == 40
    with pytest.raises(InputError, match="index"):
        format_rma(r)
    for i in range(40):  # a stack's per-analysis messages are those of the one-by-one fit
        one = rma(np.array(s["yi"])[i], np.array(s["vi"])[i])
        assert flat.warnings_for(i) == one.warnings
        assert r.warnings_for(np.unravel_index(i, (4, 10))) == one.warnings
    assert any(flat.warnings_for(i) for i in range(40))
    assert format_rma(flat, 3) == format_rma(rma(np.array(s["yi"])[3], np.array(s["vi"])[3]))
    assert format_rma(r, (0, 9)) == format_rma(flat, 9)


def test_per_analysis_design_matrix():
    s = DATA["stack"]
    y, v = np.array(s["yi_reg"])[:5], np.array(s["vi"])[:5]
    X = np.column_stack([np.ones(6), s["xmod"]])
    shared = rma(y, v, X=X)
    per = rma(y, v, X=np.broadcast_to(X, (5, 6, 2)))
    np.testing.assert_allclose(per.b, shared.b, rtol=1e-12)
    np.testing.assert_allclose(per.r2, shared.r2, rtol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# edge cases
# ----------------------------------------------------------------------------------------------------------
def test_k1_refused():
    with pytest.raises(
        InputError, match=r"^k = 1: a single study cannot be pooled; report the study itself$"
    ):
        rma([0.3], [0.1])


@pytest.mark.parametrize("method", METHODS)
def test_k2_warns_and_matches(method):
    c = CASES[f"k2_{method}_z"]
    r = _fit(c)
    assert ("k = 2: tau^2 cannot be estimated reliably" in r.warnings) == (method != "FE")
    assert r.pi_hts_low is None and r.q_df == 1
    knha = _fit(CASES[f"k2_{method}_knha"])
    assert knha.df == 1  # t with 1 df: a uselessly wide interval, as it should be
    assert knha.ci_high - knha.ci_low > 5 * (r.ci_high - r.ci_low) or knha.s2w < 0.05


@pytest.mark.parametrize("method", [m for m in METHODS if m != "FE"])
def test_boundary_every_estimator(method):
    """Homogeneous studies: τ² = 0 for every estimator, a warning, and metafor's empty Q-profile CI."""
    for prefix, empty in (("homog", True), ("boundary", False)):
        c = CASES[f"{prefix}_{method}_z"]
        r = _fit(c)
        if c["expected"]["tau2"] == 0:
            assert r.tau2 == 0 and any("boundary" in w for w in r.warnings)
            fe = rma(c["yi"], c["vi"], method="FE")
            np.testing.assert_allclose(r.estimate, fe.estimate, rtol=1e-12)
        assert r.tau2_ci_empty == empty
        assert r.tau2_ci_low == 0
        if empty:
            assert r.tau2_ci_high == 0 and r.i2_ci_high == 0 and r.h2_ci_high == 1
        else:
            assert r.tau2_ci_high > 0


def test_sj_is_never_zero_unless_identical():
    """SJ starts from the variance of yi, so it stays > 0 on homogeneous data (as in metafor)."""
    assert _fit(CASES["homog_SJ_z"]).tau2 > 0
    assert rma([0.2] * 4, [0.01, 0.02, 0.05, 0.1], method="SJ").tau2 == 0


def test_identical_yi_knapp_hartung_factor_zero():
    r = _fit(CASES["identical_REML_knha"])
    assert r.s2w == 0 and r.se == 0 and r.ci_low == r.ci_high == 0.2
    assert any("factor is 0" in w for w in r.warnings)
    adhoc = _fit(CASES["identical_REML_adhoc"])
    assert adhoc.s2w == 1 and adhoc.se > 0


@pytest.mark.parametrize(("data", "factor"), [("cloglog3", 2.0), ("huge", 1.3)])
def test_huge_heterogeneity_knapp_hartung_widens(data, factor):
    """k = 3 (t_2) and k = 5 (t_4) with I² > 90%: the KH interval is much wider than Wald's."""
    z, kh = _fit(CASES[f"{data}_REML_z"]), _fit(CASES[f"{data}_REML_knha"])
    assert kh.ci_high - kh.ci_low > factor * (z.ci_high - z.ci_low)
    assert z.i2 > 90


def test_adhoc_never_narrower_than_wald():
    for c in FITTABLE:
        if c["test"] != "adhoc":
            continue
        a = _fit(c)
        zc = CASES[c["id"].replace("_adhoc", "_z")]
        z = _fit(zc)
        assert np.all(np.asarray(a.b_ci_low) <= np.asarray(z.b_ci_low) + 1e-12), c["id"]
        assert np.all(np.asarray(a.b_ci_high) >= np.asarray(z.b_ci_high) - 1e-12), c["id"]


def test_plo_zero_and_all_events():
    """Logit proportions with 0/15 and 15/15 studies (escalc adds 1/2 to those only)."""
    c = CASES["plo_REML_adhoc"]
    y = np.array(c["yi"])
    np.testing.assert_allclose(y[[0, 4]], [np.log(0.5 / 15.5), np.log(15.5 / 0.5)], rtol=1e-12)
    r = _fit(c)
    assert r.tau2 > 0 and r.ci_low < r.estimate < r.ci_high


def test_meta_regression_bcg():
    """dat.bcg with absolute latitude: Berkey et al. 1995 / metafor documentation example."""
    c = CASES["bcgreg_ablat_REML_z"]
    r = _fit(c, coef_names=("intrcpt", "ablat"))
    d = r.to_dict()
    assert [x["name"] for x in d["coefficients"]] == ["intrcpt", "ablat"]
    assert d["QM_df"] == [1, None] and r.qm_coefs == (1,)
    np.testing.assert_allclose(d["R2"], c["expected"]["R2"], rtol=RTOL)
    kh = _fit(CASES["bcgreg_ablat_year_REML_knha"])
    assert kh.qm_df == (2, 10) and kh.stat_name == "t" and kh.df == 10


def test_intercept_column_anywhere_and_no_intercept():
    c = CASES["bcgreg_ablat_REML_z"]
    X = np.array(c["X"])
    swapped = rma(c["yi"], c["vi"], X=X[:, ::-1])
    np.testing.assert_allclose(np.asarray(swapped.b)[::-1], c["expected"]["b"], rtol=RTOL)
    np.testing.assert_allclose(swapped.qm, c["expected"]["QM"], rtol=RTOL)
    assert swapped.coef_names == ("X1", "intrcpt")
    noint = _fit(CASES["bcgreg_noint_REML_z"])
    assert noint.r2 is None and noint.qm_coefs == (0,)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([0.1, 0.2, 0.3], [0.1, 0.0, 0.1]), {}, r"^vi: study 1 has sampling variance 0.0"),
        (([0.1, 0.2, 0.3], [0.1, np.nan, 0.1]), {}, r"^vi: study 1 "),
        (([0.1, np.inf, 0.3], [0.1, 0.1, 0.1]), {}, r"^yi: study 1 "),
        (([[0.1, 0.2], [0.1, 0.2]], [[0.1, 0.1], [0.1, -0.1]]), {}, r"^vi: analysis 1, study 1"),
        (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"test": "t"}, r"^test"),
        (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"level": 95}, r"^level"),
        (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"method": "GLMM"}, r"^method"),
        (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"X": np.c_[np.ones(3), [1, 2, 3.0], [2, 4, 6.0]]}, r"^X: "),
        (([0.1, 0.2], [0.1, 0.1]), {"X": np.c_[np.ones(2), [1, 2.0]]}, r"^X: 2 coefficients and tau"),
        (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"X": np.ones((2, 1))}, r"^X: expected shape"),
        (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"method": "FE", "tau2": 0.1}, r"^tau2"),
        (([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), {"coef_names": ("a", "b")}, r"^coef_names"),
    ],
)
def test_bad_input(args, kwargs, match):
    with pytest.raises(InputError, match=match):
        rma(*args, **kwargs)


def test_to_dict_keys_for_the_cli():
    r = rma(CASES["bcg_REML_z"]["yi"], CASES["bcg_REML_z"]["vi"], test="adhoc")
    d = r.to_dict()
    required = [
        "k",
        "method",
        "ci_method",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "tau2",
        "tau2_ci_low",
        "tau2_ci_high",
        "i2",
        "h2",
        "q",
        "q_df",
        "q_p",
        "pi_low",
        "pi_high",
        "pi_hts_low",
        "pi_hts_high",
        "yi",
        "vi",
    ]
    assert all(k in d for k in required)
    assert d["ci_method"] == "adhoc" and d["method"] == "REML" and isinstance(d["estimate"], float)
    assert abs(sum(d["weights"]) - 100) < 1e-9
    fe = rma(CASES["bcg_REML_z"]["yi"], CASES["bcg_REML_z"]["vi"], method="EE").to_dict()
    assert fe["method"] == "FE" and fe["pi_low"] is None and fe["tau2_ci_low"] is None and fe["tau2"] == 0.0


def test_summary_and_format_like_metafor_print():
    table = rma(CASES["bcg_REML_z"]["yi"], CASES["bcg_REML_z"]["vi"]).summary()
    assert table.loc["tau^2 estimator", "value"] == "REML" and table.loc["k", "value"] == 13
    np.testing.assert_allclose(
        table.loc["tau^2", "value"], CASES["bcg_REML_z"]["expected"]["tau2"], rtol=RTOL
    )
    reg = _fit(CASES["bcgreg_ablat_REML_z"]).summary()
    assert "X1: estimate" in reg.index and "R^2 (%)" in reg.index
    printed = [c for c in FITTABLE if "print" in c["expected"]]
    assert len(printed) >= 6
    for c in printed:
        r = _fit(c)
        ours = [ln.rstrip() for ln in format_rma(r).splitlines() if not ln.startswith("Warning")]
        theirs = [ln.rstrip() for ln in c["expected"]["print"]]
        while theirs and not theirs[0]:
            theirs.pop(0)
        while theirs and not theirs[-1]:
            theirs.pop()
        assert len(ours) == len(theirs), c["id"]
        namew = 0 if r.int_only else max(len(n) for n in r.coef_names)
        for a, b in zip(ours, theirs, strict=True):
            if namew and a.split() and a.split()[0] in r.coef_names:
                a, b = a[namew:], b[namew:]  # R's row names come from an unnamed matrix (".1", "")
            assert a == b, (c["id"], a, b)


# ----------------------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------------------
def _studies(kmin=2, kmax=9):
    return st.integers(kmin, kmax).flatmap(
        lambda k: st.tuples(
            arrays(float, k, elements=st.floats(-3, 3, allow_nan=False)),
            arrays(float, k, elements=st.floats(0.005, 2.0, allow_nan=False)),
        )
    )


PROP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ITERATIVE = {"ML", "REML", "EB", "PM"}


@PROP
@given(data=_studies(), perm_seed=st.integers(0, 2**31), method=st.sampled_from(METHODS))
def test_study_order_does_not_matter(data, perm_seed, method):
    y, v = data
    perm = np.random.default_rng(perm_seed).permutation(y.size)
    a, b = rma(y, v, method=method), rma(y[perm], v[perm], method=method)
    # closed forms agree to rounding; iterative estimators and Q-profile roots could in principle take a
    # different step after a rounding-level difference, so those get their stopping tolerance
    t_tol = 2 * TOL if method in ITERATIVE else 1e-9
    np.testing.assert_allclose(b.tau2, a.tau2, rtol=1e-9, atol=t_tol)
    rt = 1e-3 if method in ITERATIVE else 1e-9
    for f in ("estimate", "se", "q", "i2"):
        np.testing.assert_allclose(getattr(b, f), getattr(a, f), rtol=rt, atol=1e-9)
    np.testing.assert_allclose(np.asarray(b.weights), np.asarray(a.weights)[perm], rtol=rt, atol=1e-9)
    if method != "FE":
        np.testing.assert_allclose(b.tau2_ci_high, a.tau2_ci_high, rtol=1e-9, atol=2 * TOL)


@PROP
@given(data=_studies())
def test_tau2_nonnegative_and_fe_inside_range(data):
    y, v = data
    fe = rma(y, v, method="FE")
    assert y.min() - 1e-12 <= fe.estimate <= y.max() + 1e-12
    for m in METHODS:
        r = rma(y, v, method=m)
        assert np.isnan(r.tau2) or r.tau2 >= 0
        if r.tau2_ci_low is not None and not np.isnan(r.tau2):
            assert 0 <= r.tau2_ci_low <= r.tau2_ci_high


@PROP
@given(data=_studies(kmin=3))
def test_duplicating_every_study(data):
    """Exactly invariant: the common-effect estimate and HS τ² (Q − k and Σw both double).

    Not invariant: DL (k − 1 and tr(P) do not double), HE, SJ, PM, EB (k − 1 or k − p terms) and REML (the
    log|X'WX| term). ML maximises a doubled log-likelihood, but metafor's Fisher scoring is not invariant
    either: it starts at the HE estimate, so on a bimodal likelihood the two fits can end in different
    modes (y = 1, 2, 1, 2, 0, 0; v = .5, 1/64, 1, 1, 1, 1: τ² = 0.2787 vs 0 doubled), or one of them does
    not converge; metafor 3.8 gives the same (checked in R), so ML is not tested here."""
    y, v = data
    y2, v2 = np.r_[y, y], np.r_[v, v]
    a, b = rma(y, v, method="FE"), rma(y2, v2, method="FE")
    np.testing.assert_allclose(b.estimate, a.estimate, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.se, a.se / np.sqrt(2), rtol=1e-10)
    a, b = rma(y, v, method="HS"), rma(y2, v2, method="HS")
    np.testing.assert_allclose(b.tau2, a.tau2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.estimate, a.estimate, rtol=1e-9, atol=1e-12)


@PROP
@given(
    m=st.integers(1, 4),
    k=st.integers(2, 7),
    seed=st.integers(0, 2**31),
    method=st.sampled_from(METHODS),
    test=st.sampled_from(["z", "knha", "adhoc"]),
)
def test_stacked_equals_one_by_one(m, k, seed, method, test):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.5, (m, k))
    y = rng.normal(0, np.sqrt(v + rng.choice([0, 0.05, 1.0], (m, 1))))
    X = np.column_stack([np.ones(k), np.linspace(-1, 1, k)]) if k >= 4 and method != "FE" else None
    s = rma(y, v, method=method, test=test, X=X)
    for i in range(m):
        one = rma(y[i], v[i], method=method, test=test, X=X)
        for f in (
            "b",
            "b_se",
            "b_ci_low",
            "b_p",
            "tau2",
            "q",
            "i2",
            "h2",
            "weights",
            "tau2_ci_low",
            "tau2_ci_high",
            "pi_low",
            "pi_hts_high",
            "qm",
            "r2",
        ):
            a, b = getattr(one, f), getattr(s, f)
            if a is None:
                assert b is None
                continue
            np.testing.assert_allclose(np.asarray(b)[i], a, rtol=1e-12, atol=1e-14, err_msg=f)


def test_quantiles_are_rs():
    """scipy.special quantiles used here vs R's qnorm/qt/qchisq values in the reference (95% level)."""
    c = CASES["bcg_REML_knha"]["expected"]
    crit_t = (c["ci_ub"] - c["b"]) / c["se"]
    np.testing.assert_allclose(stdtrit(12, 0.975), crit_t, rtol=1e-12)
    z = CASES["bcg_REML_z"]["expected"]
    np.testing.assert_allclose(ndtri(0.975), (z["ci_ub"] - z["b"]) / z["se"], rtol=1e-12)
    assert chdtri(12, 0.025) > chdtri(12, 0.975)


# ----------------------------------------------------------------------------------------------------------
# other Python implementations
# ----------------------------------------------------------------------------------------------------------
XCHECK = ["bcg_DL_z", "hr4_DL_z", "plo_DL_z", "huge_DL_z", "boundary_DL_z", "cloglog3_DL_z"]


@pytest.mark.parametrize("cid", XCHECK)
def test_statsmodels_combine_effects(cid):
    from statsmodels.stats.meta_analysis import combine_effects

    c = CASES[cid]
    y, v = np.array(c["yi"]), np.array(c["vi"])
    dl = rma(y, v, method="DL")
    kh = rma(y, v, method="DL", test="knha")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = combine_effects(y, v, method_re="chi2")
    # Paule-Mandel: statsmodels iterates to |Q_gen − (k−1)| < 1e-5 (DerSimonian & Kacker 2007), metafor stops
    # R's uniroot at tol ε^¼ on τ²; both must be within those tolerances of the exact root
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm_sm = combine_effects(y, v, method_re="iterated")
    pm = rma(y, v, method="PM")
    from scipy.optimize import brentq

    if q_gen(0.0, y, v) <= y.size - 1:
        exact = 0.0
    else:
        exact = brentq(lambda t: q_gen(t, y, v) - (y.size - 1), 0, 1e4, xtol=1e-15, rtol=1e-15)
    assert abs(pm.tau2 - exact) <= TOL
    assert abs(pm_sm.tau2 - exact) <= 1e-5 * (1 + exact)
    np.testing.assert_allclose(sm.q, dl.q, rtol=1e-10)
    if sm.tau2 < 0:
        # statsmodels does not truncate the DL moment estimate at 0 and weights with the negative τ², so its
        # "random-effects" SE falls below the common-effect SE; metafor/metablina truncate (τ² = 0)
        assert dl.tau2 == 0 and sm.sd_eff_w_re < rma(y, v, method="FE").se
        return
    np.testing.assert_allclose(sm.tau2, dl.tau2, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(sm.mean_effect_re, dl.estimate, rtol=1e-10)
    np.testing.assert_allclose(sm.sd_eff_w_re, dl.se, rtol=1e-10)
    np.testing.assert_allclose(100 * sm.i2, dl.i2, rtol=1e-9, atol=1e-12)  # DL: τ²-based I² = (Q − df)/Q
    np.testing.assert_allclose(sm.sd_eff_w_re_hksj, kh.se, rtol=1e-10)


@pytest.mark.parametrize("cid", XCHECK)
def test_pymare(cid):
    pymare = pytest.importorskip("pymare")
    from pymare.estimators import DerSimonianLaird, VarianceBasedLikelihoodEstimator

    c = CASES[cid]
    y, v = np.array(c["yi"]), np.array(c["vi"])
    ds = pymare.Dataset(y=y, v=v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = DerSimonianLaird().fit_dataset(ds).summary()
        fe, het = s.get_fe_stats(), s.get_heterogeneity_stats()
    kh = rma(y, v, method="DL", test="knha")  # PyMARE applies Knapp-Hartung by default (its "z" is a t)
    np.testing.assert_allclose(float(np.ravel(s.tau2)[0]), kh.tau2, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(fe["est"].ravel()[0], kh.estimate, rtol=1e-10)
    np.testing.assert_allclose(fe["se"].ravel()[0], kh.se, rtol=1e-10)
    np.testing.assert_allclose(fe["p"].ravel()[0], kh.p_value, rtol=1e-8)
    np.testing.assert_allclose(
        [fe["ci_l"].ravel()[0], fe["ci_u"].ravel()[0]], [kh.ci_low, kh.ci_high], rtol=1e-10
    )
    np.testing.assert_allclose(het["Q"][0], kh.q, rtol=1e-10)
    for method in (
        "ML",
        "REML",
    ):  # PyMARE's default is ML; it maximises with scipy, metafor by Fisher scoring
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = VarianceBasedLikelihoodEstimator(method=method).fit_dataset(ds).summary()
            re = s.get_re_stats()
        ours = rma(y, v, method=method, test="knha")
        np.testing.assert_allclose(float(np.ravel(s.tau2)[0]), ours.tau2, rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(s.get_fe_stats()["est"].ravel()[0], ours.estimate, rtol=1e-5, atol=1e-6)
        # Q-profile: PyMARE searches without metafor's cap at max(100, 10 τ²) (cloglog3: 102.8 vs 100)
        np.testing.assert_allclose(re["ci_l"][0], ours.tau2_ci_low, rtol=1e-3, atol=1e-4)
        if ours.tau2_ci_high < max(100.0, 10 * ours.tau2):
            np.testing.assert_allclose(re["ci_u"][0], ours.tau2_ci_high, rtol=1e-3, atol=1e-4)
        else:
            assert re["ci_u"][0] > ours.tau2_ci_high


def test_non_convergence_is_a_stated_fallback_per_analysis_of_a_stack():
    """metafor stops with an error for this EB fit; we take the root of its estimating equation instead and
    say so, for that analysis only: the other analyses of the stack are unaffected."""
    bad = CASES["nonconv_EB"]
    assert "did not converge" in bad["error"]
    r = rma(bad["yi"], bad["vi"], method="EB", test="knha")
    assert np.isfinite(r.tau2) and np.isfinite(r.estimate) and r.converged
    assert any("bracketed Brent search" in w for w in r.to_dict()["warnings"])
    good = CASES["ll0_REML"]
    s = rma(np.array([bad["yi"], good["yi"]]), np.array([bad["vi"], good["vi"]]), method="EB", test="knha")
    one = rma(good["yi"], good["vi"], method="EB", test="knha")
    assert s.estimate[0] == r.estimate and s.estimate[1] == one.estimate and s.qm[1] == one.qm
    assert s.warnings_for(0) and not any("converge" in w for w in s.warnings_for(1))


def test_when_no_search_converges_the_analysis_is_nan_with_a_warning(monkeypatch):
    """Should the root search fail too, τ² and everything built on it are NaN (None in JSON), stated."""
    import metablina.stats.tau2 as tau2_module

    def failing(method, ymc, v, X, p, rows, start, **kw):
        return np.full(rows.size, np.nan), np.zeros(rows.size, bool), np.zeros(rows.size, bool)

    monkeypatch.setattr(tau2_module, "_root_search", failing)
    bad = CASES["nonconv_EB"]
    r = rma(bad["yi"], bad["vi"], method="EB", test="knha")
    assert np.isnan(r.tau2) and np.isnan(r.estimate) and np.isnan(r.se) and not r.converged
    d = r.to_dict()
    assert (
        d["estimate"] is None
        and d["tau2_ci_low"] is None
        and any("nor a bracketed root search converged" in w for w in d["warnings"])
    )


def test_knapp_hartung_zero_factor_in_a_stack():
    """s2w = 0 in one analysis (identical yi) leaves QM of the others intact (metafor: QM = NA there)."""
    c = CASES["identical_REML_knha"]
    g = CASES["hr4_REML_knha"]
    s = rma(np.array([c["yi"], g["yi"]]), np.array([c["vi"], g["vi"]]), test="knha")
    assert np.isnan(s.qm[0]) and np.isclose(s.qm[1], _num(g["expected"]["QM"]), rtol=RTOL)
    assert _num(c["expected"]["QM"]) != _num(c["expected"]["QM"])  # NA in metafor too


def test_without_the_tau2_ci_everything_else_is_the_same() -> None:
    """tau2_ci=False (the multiverse's fits) leaves out the Q-profile CI of tau^2, I^2 and H^2 and nothing
    else: a stack of three analyses, REML with the ad hoc HKSJ interval."""
    rng = np.random.default_rng(5)
    vi = rng.uniform(0.02, 0.3, (3, 8))
    yi = rng.normal(0.2, np.sqrt(vi + 0.1))
    full = rma(yi, vi, method="REML", test="adhoc")
    lean = rma(yi, vi, method="REML", test="adhoc", tau2_ci=False)
    for name in (
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "tau2",
        "tau2_se",
        "i2",
        "h2",
        "q",
        "pi_low",
        "pi_high",
    ):
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name), err_msg=name)
    assert full.tau2_ci_low is not None and lean.tau2_ci_low is None and lean.i2_ci_high is None
