"""Study-level proportion CIs against R (binom.test, prop.test(correct = FALSE)) and Newcombe 1998 Table I."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtri

from metablina.stats.errors import InputError
from metablina.stats.intervals import clopper_pearson, proportion_ci, wald, wilson

CI = json.loads((Path(__file__).parents[1] / "data" / "measures.json").read_text())["ci"]
LEVELS = ["L9", "L95", "L99"]
RTOL, ATOL = 1e-10, 1e-14  # R's qbeta / closed forms; JSON holds 15 significant digits


@pytest.mark.parametrize("key", LEVELS)
def test_clopper_pearson_matches_binom_test(key):
    ref = CI[key]
    low, high = clopper_pearson(CI["xi"], CI["ni"], ref["level"])
    np.testing.assert_allclose(low, ref["cp_low"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(high, ref["cp_high"], rtol=RTOL, atol=ATOL)
    x, n = np.array(CI["xi"]), np.array(CI["ni"])
    assert np.all(low[x == 0] == 0) and np.all(high[x == n] == 1)


@pytest.mark.parametrize("key", LEVELS)
def test_wilson_matches_prop_test(key):
    ref = CI[key]
    low, high = wilson(CI["xi"], CI["ni"], ref["level"])
    np.testing.assert_allclose(low, ref["wilson_low"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(high, ref["wilson_high"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("key", LEVELS)
def test_wald_formula(key):
    ref = CI[key]
    low, high = wald(CI["xi"], CI["ni"], ref["level"])
    np.testing.assert_allclose(low, ref["wald_low"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(high, ref["wald_high"], rtol=RTOL, atol=ATOL)


# Newcombe RG, Stat Med 1998;17:857, Table I (methods 5 = Wilson score, 7 = Clopper-Pearson), as in
# METHODS.md Appendix A.2 [pub]; published to 4 decimals.
NEWCOMBE = [  # x, n, CP low, CP high, Wilson low, Wilson high
    (81, 263, 0.2527, 0.3676, 0.2553, 0.3662),
    (15, 148, 0.0578, 0.1617, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1684, 0.0, 0.1611),
    (1, 29, 0.0009, 0.1776, 0.0061, 0.1718),
]


def test_newcombe_table_1():
    x, n, cpl, cph, wl, wh = (np.array(c, float) for c in zip(*NEWCOMBE, strict=True))
    cp = proportion_ci(x, n)
    w = proportion_ci(x, n, method="wilson")
    for got, want in ((cp.ci_low, cpl), (cp.ci_high, cph), (w.ci_low, wl), (w.ci_high, wh)):
        np.testing.assert_allclose(got, want, atol=5e-5 + 1e-12)


def test_result_object_and_stack():
    x = np.array([[0, 5, 20], [1, 19, 20]])
    r = proportion_ci(x, 20, method="wilson", level=0.9)
    assert r.ci_low.shape == (2, 3) and r.method == "wilson" and r.level == 0.9
    np.testing.assert_array_equal(r.estimate, x / 20)
    for row in range(2):
        low, high = wilson(x[row], 20, 0.9)
        np.testing.assert_array_equal(r.ci_low[row], low)
        np.testing.assert_array_equal(r.ci_high[row], high)
    json.dumps(r.to_dict())
    assert r.summary().shape == (6, 7)
    assert proportion_ci([3], [10], method="cp").method == "clopper-pearson"


def test_wald_warns_at_the_boundary():
    r = proportion_ci([0, 3, 10], [10, 10, 10], method="wald")
    assert r.ci_low[0] == r.ci_high[0] == 0
    assert any("zero width" in w for w in r.warnings)
    assert proportion_ci([0, 3], [10, 10]).warnings == ()


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([1, -1], [5, 5]), {}, r"xi: negative count \(study 1\)"),
        (([1, 6], [5, 5]), {}, r"xi: events > total ni \(study 1\)"),
        (([1, 1.5], [5, 5]), {}, r"xi: count is not a whole number \(study 1\)"),
        (([0], [0]), {}, r"ni: n < 1 \(study 0\)"),
        (([np.nan], [5]), {}, r"xi: is NaN"),
        (([1], [5]), {"level": 95}, r"^level:"),
        (([1], [5]), {"method": "jeffreys"}, r"^method:"),
        (([1, 2], [5, 5, 5]), {}, r"incompatible shapes"),
    ],
)
def test_bad_input(args, kwargs, message):
    with pytest.raises(InputError, match=message):
        proportion_ci(*args, **kwargs)


counts = st.integers(min_value=1, max_value=2000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n)))


@settings(max_examples=300, deadline=None)
@given(counts, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_cp_contains_wilson_point_and_stays_in_unit_interval(study, level):
    x, n = study
    low, high = clopper_pearson([x], [n], level)
    wl, wh = wilson([x], [n], level)
    z2 = float(ndtri(1 - (1 - level) / 2)) ** 2
    wilson_centre = (x + z2 / 2) / (n + z2)  # Wilson's point estimate, the midpoint of the score interval
    assert 0 <= low[0] <= x / n <= high[0] <= 1
    assert low[0] <= wilson_centre <= high[0]
    assert 0 <= wl[0] <= wh[0] <= 1
    assert (wl[0] + wh[0]) / 2 == pytest.approx(wilson_centre, rel=1e-9) or x in (0, n)
