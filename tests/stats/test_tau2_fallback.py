"""τ² where metafor's defaults give up: Fisher scoring that oscillates, and PM roots above ``tau2.max``.

Reference: tests/data/tau2_fallback.json, written by tests/reference/tau2_fallback.R. For each case it records
metafor's own failure with its defaults (so these tests say where metafor stops) and the value metafor reaches
when helped as help(rma) suggests: Fisher scoring with half steps (``stepadj = 0.5``) and a tight threshold, or
PM with ``tau2.max`` raised to the bound metablina's search grows to.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metablina.stats.rma import rma
from metablina.stats.tau2 import _estimating_equation, estimate_tau2

DATA = json.loads((Path(__file__).parents[1] / "data" / "tau2_fallback.json").read_text())
CASES = {c["id"]: c for c in DATA["cases"]}
OSCILLATING = [c for c in DATA["cases"] if c["default_error"] != "NA" and c["method"] != "PM"]


@pytest.mark.parametrize("case", OSCILLATING, ids=lambda c: c["id"])
def test_where_fisher_scoring_oscillates_the_root_of_the_estimating_equation_is_found(case):
    # metafor's default: "Fisher scoring algorithm did not converge" (an error, no estimate at all)
    assert "did not converge" in case["default_error"]
    r = estimate_tau2(case["yi"], case["vi"], method=case["method"])
    assert r.converged and r.iterations == 101  # scoring ran out of steps, then the search took over
    assert any("bracketed Brent search" in w for w in r.warnings)
    # metafor with half steps converges linearly to a threshold of 1e-12: agreement to 1e-8 relative
    np.testing.assert_allclose(r.tau2, case["expected"]["tau2"], rtol=1e-8, atol=1e-10)


def test_the_whole_fit_follows_the_recovered_tau2():
    case = CASES["reml_oscillates"]
    fit = rma(case["yi"], case["vi"], method="REML", test="z")
    e = case["expected"]
    np.testing.assert_allclose(
        [fit.tau2, fit.estimate, fit.se, fit.ci_low, fit.ci_high, fit.tau2_se, fit.i2],
        [e["tau2"], e["b"], e["se"], e["ci_lb"], e["ci_ub"], e["se_tau2"], e["I2"]],
        rtol=1e-8,
    )
    assert any("bracketed Brent search" in w for w in fit.warnings)


def test_pm_above_metafors_default_bound_grows_the_bracket():
    case = CASES["curtis1998_MD_PM"]
    # metafor's default stops at tau2.max = max(100, 10 mad(y)^2) and returns NA with this error
    assert "tau2.max" in case["default_error"]
    r = estimate_tau2(case["yi"], case["vi"], method="PM")
    assert r.converged
    assert any("grew tenfold" in w for w in r.warnings)
    # the same bracket as metafor's raised tau2.max, so Brent takes the same steps
    np.testing.assert_allclose(r.tau2, case["expected"]["tau2"], rtol=1e-10)
    np.testing.assert_allclose(r.se, case["expected"]["se_tau2"], rtol=1e-10)


@pytest.mark.parametrize("method", ["DL", "HE", "HS", "SJ", "ML", "REML", "EB"])
def test_curtis1998_every_other_estimator_agrees_with_metafor(method):
    case = CASES[f"curtis1998_MD_{method}"]
    r = estimate_tau2(case["yi"], case["vi"], method=method)
    np.testing.assert_allclose(r.tau2, case["expected"]["tau2"], rtol=1e-6)


def _score_at(method: str, yi, vi, tau2: float) -> float:
    y, v = np.atleast_2d(yi), np.atleast_2d(vi)
    f = _estimating_equation(method, y - y.mean(-1, keepdims=True), v, None, 1)
    return float(f(np.array([tau2]), np.array([0]))[0])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=3, max_size=8),
    st.lists(st.sampled_from([0.125, 0.25, 1.0, 4.0]), min_size=8, max_size=8),
    st.sampled_from(["ML", "REML", "EB", "PM"]),
)
def test_no_estimate_is_nan_where_the_equation_has_a_root(ys, vs, method):
    """The estimating equation is positive at τ² = 0 (or not) and negative for large τ², so a root (or the
    boundary 0) always exists: the estimate is never NaN, and the equation changes sign within metafor's
    tolerances of it (Fisher scoring stops at |Δτ²| ≤ 1e-5, uniroot at ε^¼ ≈ 1.2e-4), or it sits at 0 where
    the equation is negative (or metafor's ll0check put it there)."""
    yi = np.array(ys, dtype=float) / 2
    vi = np.array(vs[: len(ys)])
    r = estimate_tau2(yi, vi, method=method)
    assert r.converged and np.isfinite(r.tau2) and r.tau2 >= 0
    if r.reset_to_zero:
        return
    delta = 2e-4 * max(1.0, r.tau2)
    assert _score_at(method, yi, vi, r.tau2 + delta) <= 0
    if r.tau2 > delta:
        assert _score_at(method, yi, vi, r.tau2 - delta) >= 0


def test_the_subgroup_property_tests_failing_example_is_fitted():
    """Found by tests/stats/test_subgroups.py (about 1 seed in 30): REML's Fisher scoring oscillated, τ² = NaN."""
    r = rma([0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 0.125], method="REML")
    assert np.isfinite(r.tau2) and np.isfinite(r.estimate)


def test_the_stacked_benchmark_has_no_nan_estimate():
    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    from bench_stack import simulate

    yi, vi = simulate(2000, 10, 1)
    for method in ("ML", "REML", "EB", "PM"):
        assert not np.isnan(estimate_tau2(yi, vi, method=method).tau2).any(), method


def test_a_step_that_overflows_ends_scoring_instead_of_halving_forever():
    # sum of squared P entries underflows to 0 here, so the REML step is -inf; halving -inf never
    # brings it back inside [0, inf) and the fit used to hang. Run it in a child with a deadline.
    code = (
        "from metablina.stats.tau2 import estimate_tau2\n"
        "r = estimate_tau2([8.6e29, -9.4e-78], [6.1e75, 7.2e59], method='REML')\n"
        "print(r.tau2, r.converged, len(r.warnings))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    tau2, converged, notes = done.stdout.split()
    # the squared difference of the two estimates is below the smaller variance: no excess variation
    assert (float(tau2), converged, notes) == (0.0, "True", "1")
