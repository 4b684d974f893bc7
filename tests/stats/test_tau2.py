"""τ² estimators against metafor 3.8 (tests/data/rma.json, written by tests/reference/rma.R).

Tolerances: metafor's iterative estimators (Fisher scoring for ML/REML/EB, threshold 1e-5; uniroot for PM,
tol ε^¼ ≈ 1.2e-4) are reproduced step for step, so every estimator is compared at rel 1e-6 even though
those estimates are only within the stated tolerances of the exact optimum / root.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metablina.stats.errors import InputError
from metablina.stats.tau2 import METHODS, Projection, estimate_tau2, q_gen, uniroot_brent

DATA = json.loads((Path(__file__).parents[1] / "data" / "rma.json").read_text())
CASES = [c for c in DATA["cases"] if "error" not in c]
RTOL = 1e-6


def _num(x):
    if isinstance(x, list):
        return np.array([_num(v) for v in x], dtype=float)
    return (
        {"NA": np.nan, "NaN": np.nan, "Inf": np.inf, "-Inf": -np.inf}.get(x, x) if isinstance(x, str) else x
    )


def _warnings(e) -> list[str]:
    w = e.get("warnings", [])
    return [w] if isinstance(w, str) else list(w)  # jsonlite unboxes a single warning


def _fixed(c):
    return None if c["tau2_fixed"] == "NA" else c["tau2_fixed"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_tau2_and_se_match_metafor(case):
    e = case["expected"]
    r = estimate_tau2(
        case["yi"], case["vi"], method=case["method"], X=np.array(case["X"], float), tau2=_fixed(case)
    )
    np.testing.assert_allclose(r.tau2, _num(e["tau2"]), rtol=RTOL, atol=1e-12)
    if case["method"] != "FE":
        np.testing.assert_allclose(r.se, _num(e["se_tau2"]), rtol=RTOL, atol=1e-12)
    assert r.converged


def test_special_paths_of_metafor():
    """ll0check resets (RE)ML to 0; EB that metafor cannot fit (error) falls back to a root search (its
    value against metafor with half steps is in test_tau2_fallback.py)."""
    cases = {c["id"]: c for c in DATA["cases"]}
    for cid in ("ll0_REML", "ll0_ML"):
        c = cases[cid]
        assert any("local maximum" in w for w in _warnings(c["expected"]))
        r = estimate_tau2(c["yi"], c["vi"], method=c["method"])
        assert r.tau2 == 0.0 and r.reset_to_zero and r.converged
        assert any("local maximum" in w for w in r.warnings)
    c = cases["nonconv_EB"]
    assert "did not converge" in c["error"]
    r = estimate_tau2(c["yi"], c["vi"], method="EB")
    assert np.isfinite(r.tau2) and r.converged and r.iterations == 101
    assert any("did not converge" in w and "bracketed Brent search" in w for w in r.warnings)


@pytest.mark.parametrize("method", METHODS)
def test_stack_equals_metafor_one_by_one(method):
    """A (40, 6) stack, a quarter of it simulated with τ² = 0 (many estimates at the boundary)."""
    s = DATA["stack"]
    r = estimate_tau2(s["yi"], s["vi"], method=method)
    exp_t2 = np.array([f["tau2"] for f in s["fits"][method]], float)
    np.testing.assert_allclose(r.tau2, exp_t2, rtol=RTOL, atol=1e-12)
    if method != "FE":
        np.testing.assert_allclose(r.se, [f["se_tau2"] for f in s["fits"][method]], rtol=RTOL, atol=1e-12)
    if method in ("DL", "REML", "PM"):
        assert 0 < (exp_t2 == 0).sum() < len(exp_t2)  # the stack mixes boundary and interior estimates


@pytest.mark.parametrize("case", DATA["uniroot"], ids=[c["id"] for c in DATA["uniroot"]])
def test_uniroot_takes_rs_steps(case):
    """Not just a root within tol: the very point R's uniroot stops at (15 significant digits in the JSON)."""
    funcs = {
        "sqrt2": lambda x: x**2 - 2,
        "tight": lambda x: x**2 - 2,
        "maxit": lambda x: x**2 - 2,
        "exp": lambda x: np.exp(x) - 5,
        "cos": lambda x: np.cos(x) - x,
        "cube": lambda x: x**3,
        "linear": lambda x: x - 1 / 3,
        "flat": lambda x: 1 / (1 + x) - 0.01,
    }
    f = funcs[case["id"]]
    lo, hi = np.array([case["lower"]], float), np.array([case["upper"]], float)
    root, conv = uniroot_brent(lambda x, idx: f(x), lo, hi, f(lo), f(hi), case["tol"], case["maxiter"])
    np.testing.assert_allclose(root[0], case["root"], rtol=1e-13, atol=1e-15)
    assert bool(conv[0]) == (case["id"] != "maxit")


def test_projection_closed_forms_equal_matrix_path():
    rng = np.random.default_rng(3)
    w = rng.uniform(0.5, 20, (4, 7))
    v = rng.uniform(0.01, 0.5, (4, 7))
    y = rng.normal(size=(4, 7))
    a = Projection(w, None)
    b = Projection(w, np.ones((7, 1)))
    for name in ("quad", "Py", "beta", "resid"):
        np.testing.assert_allclose(getattr(a, name)(y), getattr(b, name)(y), rtol=1e-12)
    for name in ("trP", "sumPP", "logdetA"):
        np.testing.assert_allclose(getattr(a, name)(), getattr(b, name)(), rtol=1e-12)
    for name in ("trPV", "sumPVP", "trPVPV"):
        np.testing.assert_allclose(getattr(a, name)(v), getattr(b, name)(v), rtol=1e-12)
    np.testing.assert_allclose(a.Ainv, b.Ainv, rtol=1e-12)
    # and the explicit P of the matrix path is W - W 1 (1'W1)^-1 1'W
    P = np.stack([np.diag(wi) - np.outer(wi, wi) / wi.sum() for wi in w])
    np.testing.assert_allclose(b.P, P, rtol=1e-12, atol=1e-12)


def test_q_gen_at_zero_is_cochran_q():
    c = next(c for c in CASES if c["id"] == "bcg_DL_z")
    np.testing.assert_allclose(q_gen(0.0, c["yi"], c["vi"]), c["expected"]["QE"], rtol=1e-10)


def test_fixed_tau2_and_shapes():
    c = next(c for c in CASES if c["id"] == "bcg_tau2fixed_z")
    r = estimate_tau2(c["yi"], c["vi"], "REML", tau2=0.1)
    assert r.tau2 == 0.1
    np.testing.assert_allclose(r.se, c["expected"]["se_tau2"], rtol=RTOL)
    y = np.tile(np.array(c["yi"]), (2, 3, 1))
    v = np.tile(np.array(c["vi"]), (2, 3, 1))
    r = estimate_tau2(y, v, "PM")
    assert r.tau2.shape == (2, 3)
    d = r.to_dict()
    assert np.shape(d["tau2"]) == (2, 3)
    assert list(r.summary().columns) == ["tau2", "tau2_se", "converged", "iterations"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.0]}, r"vi: study 1"),
        ({"yi": [0.1, np.nan], "vi": [0.1, 0.1]}, r"yi: study 1"),
        ({"yi": [[0.1, 0.2], [0.1, 0.2]], "vi": [[0.1, 0.1], [0.1, -1]]}, r"vi: analysis 1, study 1"),
        ({"yi": [0.1, 0.2], "vi": [0.1]}, r"vi: shape"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.1, 0.1], "method": "XX"}, r"method"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.1, 0.1], "X": np.ones((3, 2))}, r"X: .*full column rank"),
        (
            {"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.1, 0.1], "X": np.c_[np.ones(3), [1, 2, 4.0], [0, 1, 1.0]]},
            r"k = 3",
        ),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.1, 0.1], "tau2": -1}, r"tau2"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        estimate_tau2(**kwargs)
