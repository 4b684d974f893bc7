"""metablina.stats.mh against metafor 3.8 ``rma.mh`` / ``rma.peto`` (tests/data/mh.json, tests/reference/mh.R).

Everything here is closed form: every field is compared at relative 1e-10 (absolute 1e-12 near 0), and
NaN where metafor reports NA.
"""

import json
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metablina.stats.errors import InputError
from metablina.stats.mh import mantel_haenszel, peto

DATA = json.loads((pathlib.Path(__file__).parents[1] / "data" / "mh.json").read_text())
CASES = DATA["cases"]

COMMON = {"beta": "estimate", "se": "se", "zval": "zval", "pval": "pval", "ci_lb": "ci_low", "ci_ub": "ci_high",
          "QE": "q", "QEp": "q_p", "I2": "i2", "H2": "h2", "k": "k", "k_yi": "k_q"}
OR_ONLY = {"MH": "cmh", "MHp": "cmh_p", "BD": "breslow_day", "BDp": "breslow_day_p", "TA": "tarone",
           "TAp": "tarone_p", "k_pos": "k_pos"}


def _fit(case, measure):
    args = [np.atleast_1d(case[v]) for v in ("ai", "n1i", "ci", "n2i")]
    if measure == "PETO":
        return peto(*args, level=case["level"])
    return mantel_haenszel(*args, measure=measure, level=case["level"])


def _check(res, ref, fields):
    bad = []
    for rname, ours in fields.items():
        want, got = ref[rname], float(getattr(res, ours))
        if want is None:
            if not np.isnan(got):
                bad.append(f"{ours}: ours {got!r}, R NA")
        elif not abs(got - want) <= 1e-12 + 1e-10 * abs(want):
            bad.append(f"{ours}: ours {got!r}, R {want!r}")
    return bad


PARAMS = [(i, m) for i in range(len(CASES)) for m in ("OR", "RR", "RD", "PETO")]


@pytest.mark.parametrize(("i", "measure"), PARAMS, ids=[f"{CASES[i]['name']}-{m}" for i, m in PARAMS])
def test_matches_metafor(i, measure):
    case = CASES[i]
    ref = case[measure]
    assert "error" not in ref, ref
    res = _fit(case, measure)
    fields = dict(COMMON)
    if measure == "OR":
        fields.update(OR_ONLY)
        if case["name"] == "psi_one":
            # metafor's MH OR here is 0.9999999999999999 instead of 1, and its Breslow–Day root
            # (A − B)/(2(ψ − 1)) then cancels to nothing (BD = 0 on k.pos = 0 tables, TA = NA). We use the
            # cancellation-free form; the reference is metafor's own ψ = 1 branch, computed in mh.R.
            for f in ("BD", "BDp", "TA", "TAp", "k_pos"):
                fields.pop(f)
            bad = _check(res, DATA["psi_one_exact"], {f: OR_ONLY[f] for f in ("BD", "BDp", "TA", "TAp", "k_pos")})
            assert not bad, bad
    if measure == "PETO":
        fields["k_pos"] = "k_pos"
    bad = _check(res, ref, fields)
    assert not bad, bad


def test_undefined_estimates_warn():
    case = next(c for c in CASES if c["name"] == "no_events_group1")
    r = _fit(case, "OR")
    assert np.isnan(r.estimate) and any("undefined" in w for w in r.warnings)
    r = _fit(case, "RR")
    assert np.isnan(r.estimate) and any("undefined" in w for w in r.warnings)
    assert np.isfinite(_fit(case, "RD").estimate)


def test_double_zero_warning():
    case = next(c for c in CASES if c["name"] == "zero_cells")
    r = _fit(case, "OR")
    assert r.k == 8 and r.k_q == 6
    assert any("left out of Q: 2" in w for w in r.warnings)


def test_stack_equals_separate():
    rand = [c for c in CASES if c["name"].startswith("random")]
    arrays = [np.array([c[v] for c in rand]).reshape(2, 3, -1) for v in ("ai", "n1i", "ci", "n2i")]
    for measure in ("OR", "RR", "RD", "PETO"):
        stack = peto(*arrays) if measure == "PETO" else mantel_haenszel(*arrays, measure=measure)
        assert stack.estimate.shape == (2, 3)
        for j, c in enumerate(rand):
            one = _fit(c, measure)
            for name in ("estimate", "se", "ci_low", "q", "i2", "h2", "cmh", "tarone", "k_q"):
                a, b = np.ravel(getattr(stack, name))[j], getattr(one, name)
                assert a == pytest.approx(b, rel=1e-13, abs=1e-15, nan_ok=True)
    d = stack.to_dict()
    assert d["cmh"][0][0] is None and isinstance(d["estimate"][1][2], float)
    assert len(stack.summary()) == 6


def test_errors():
    with pytest.raises(InputError, match="never occurs"):
        peto([0, 0], [10, 10], [0, 0], [12, 12])
    with pytest.raises(InputError, match=r"analysis \(1,\)"):
        peto([[1, 0], [0, 0]], [[10, 10], [10, 10]], [[2, 0], [0, 0]], [[12, 12], [12, 12]])
    with pytest.raises(InputError, match="measure"):
        mantel_haenszel([1], [10], [2], [10], measure="HR")
    with pytest.raises(InputError, match="level"):
        mantel_haenszel([1], [10], [2], [10], level=95)
    with pytest.raises(InputError, match="ai: study 0"):
        mantel_haenszel([-1, 2], [10, 10], [2, 3], [10, 10])
    with pytest.raises(InputError, match="n2i: study 1"):
        peto([1, 2], [10, 10], [2, 0], [10, 0])


tables = st.lists(st.tuples(st.integers(1, 60), st.integers(1, 60), st.floats(0, 1), st.floats(0, 1)),
                  min_size=2, max_size=7)


@settings(max_examples=40, deadline=None)
@given(tabs=tables, seed=st.integers(0, 2**16))
def test_properties(tabs, seed):
    n1 = np.array([t[0] for t in tabs])
    n2 = np.array([t[1] for t in tabs])
    a = np.round(np.array([t[2] for t in tabs]) * n1).astype(int)
    c = np.round(np.array([t[3] for t in tabs]) * n2).astype(int)
    perm = np.random.default_rng(seed).permutation(len(a))
    for measure in ("OR", "RR", "RD"):
        r = mantel_haenszel(a, n1, c, n2, measure=measure)
        p = mantel_haenszel(a[perm], n1[perm], c[perm], n2[perm], measure=measure)
        s = mantel_haenszel(c, n2, a, n1, measure=measure)  # swapping the groups negates the estimate
        for name in ("estimate", "se"):
            assert getattr(p, name) == pytest.approx(getattr(r, name), rel=1e-9, abs=1e-12, nan_ok=True)
        # Q and I² sum w·(y - est)²; with degenerate tables (all events in one group) w reaches 1e8 and a
        # Q that is analytically 0 carries ~1e-8 of round-off that depends on the summation order.
        for name in ("q", "i2"):
            assert getattr(p, name) == pytest.approx(getattr(r, name), rel=1e-9, abs=1e-6, nan_ok=True)
        assert s.estimate == pytest.approx(-r.estimate, rel=1e-9, abs=1e-12, nan_ok=True)
        assert s.se == pytest.approx(r.se, rel=1e-9, nan_ok=True)
        if np.isfinite(r.se):  # se = 0 for an RD on double-zero tables only
            assert r.se >= 0 and r.ci_low <= r.estimate <= r.ci_high
        assert r.q >= 0 or np.isnan(r.q)
        assert 0 <= r.i2 < 100 or np.isnan(r.i2)
    if (a + c).sum() > 0 and (n1 - a + n2 - c).sum() > 0:
        r = peto(a, n1, c, n2)
        s = peto(c, n2, a, n1)
        assert s.estimate == pytest.approx(-r.estimate, rel=1e-9, abs=1e-12)
        assert r.q >= 0


def test_rd_variance_that_is_zero_stays_zero_when_the_groups_are_swapped():
    # Found by hypothesis: every patient of group 1 has the event and none of group 2; metafor gives se = 0.
    r = mantel_haenszel([0, 0], [1, 17], [1, 9], [1, 9], measure="RD")
    assert (r.estimate, r.se) == (pytest.approx(-1.0), 0.0)
