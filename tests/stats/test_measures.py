"""escalc and back-transformations against metafor 3.8 (tests/reference/measures.R -> tests/data/measures.json).

All formulas are closed form, so every comparison is at 1e-10 relative (plus 1e-13 absolute for values at 0);
the JSON keeps R's numbers to 15 significant digits.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metablina.stats.errors import InputError
from metablina.stats.measures import (
    EffectSizes,
    back_transform,
    back_transform_warnings,
    escalc,
    hedges_cm,
    iarcsin,
    ilogit,
    ipft,
    ipft_hm,
    pft,
)

REF = json.loads((Path(__file__).parents[1] / "data" / "measures.json").read_text())
RTOL, ATOL = 1e-10, 1e-13


def arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def assert_close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), arr(expected), rtol=rtol, atol=atol,
                               equal_nan=True)


def assert_es(es: EffectSizes, ref: dict):
    assert_close(es.yi, ref["yi"])
    assert_close(es.vi, ref["vi"])


# ------------------------------------------------------------------------------------------------- 2x2 tables

@pytest.mark.parametrize("measure", ["RR", "OR", "RD", "PETO"])
def test_bcg_two_group_binary(measure):
    es = escalc(measure, **REF["bcg"]["data"])
    assert_es(es, REF["bcg"][measure])
    assert es.measure == measure and es.k == 13
    assert not es.cc.any() and not es.dropped.any() and es.warnings == ()
    np.testing.assert_array_equal(es.ni, np.add(REF["bcg"]["data"]["n1i"], REF["bcg"]["data"]["n2i"]))


def test_bcg_rd_unbiased_variance():
    assert_es(escalc("RD", vtype="UB", **REF["bcg"]["data"]), REF["bcg"]["RD_UB"])


ZERO = REF["zero2x2"]
DOUBLE = np.array([True, False, False, True, False, False, False, False])  # 0/10 vs 0/12 and 5/5 vs 5/5


@pytest.mark.parametrize("case", ZERO["cases"],
                         ids=lambda c: f"{c['measure']}-{c['to']}-drop{int(c['drop00'])}-add{c['add']}")
def test_zero_cells_every_to_option(case):
    es = escalc(case["measure"], add=case["add"], to=case["to"], drop00=case["drop00"], **ZERO["data"])
    assert_es(es, case)
    np.testing.assert_array_equal(es.dropped, DOUBLE & case["drop00"])
    d = ZERO["data"]
    cells = np.array([d["ai"], np.subtract(d["n1i"], d["ai"]), d["ci"], np.subtract(d["n2i"], d["ci"])])
    has_zero = (cells == 0).any(axis=0) & ~es.dropped
    expected_cc = {"only0": has_zero, "all": ~es.dropped, "if0all": ~es.dropped,
                   "none": np.zeros(8, bool)}[case["to"]]
    np.testing.assert_array_equal(es.cc, expected_cc)
    if case["drop00"]:
        assert any("studies 0, 3" in w and "drop00" in w for w in es.warnings)
    peto_double = case["measure"] == "PETO" and not case["drop00"]
    if case["to"] == "none" and (case["measure"] in ("RR", "OR") or peto_double):
        # zero cells (PETO: double zeros) without correction give infinite yi/vi: metafor recodes to NA,
        # we to NaN with a warning
        assert any("infinite or undefined" in w for w in es.warnings)


def test_drop00_default_drops_ratio_measures_keeps_rd():
    cases = {(c["measure"], c["to"], c["drop00"], c["add"]): c for c in ZERO["cases"]}
    for measure in ("RR", "OR", "PETO"):
        assert_es(escalc(measure, **ZERO["data"]), cases[(measure, "only0", True, 0.5)])
    # a double-zero study estimates RD = 0 and is informative: kept by default (metafor's drop00=FALSE)
    es = escalc("RD", **ZERO["data"])
    assert_es(es, cases[("RD", "only0", False, 0.5)])
    assert not es.dropped.any() and es.cc[0] and es.cc[3]
    assert escalc("RD", to="none", **ZERO["data"]).yi[0] == 0


def test_if0all_adds_nothing_without_zero_cells():
    nz = ZERO["nozero"]
    es = escalc("OR", to="if0all", **nz["data"])
    assert_es(es, nz["OR_if0all"])
    assert not es.cc.any() and es.warnings == ()


def test_rd_zero_variance_is_flagged():
    es = escalc("RD", ai=[0, 2], n1i=[10, 10], ci=[0, 3], n2i=[10, 10], to="none")
    assert es.vi[0] == 0 and es.yi[0] == 0
    assert any("vi = 0" in w and "study 0" in w for w in es.warnings)


# ------------------------------------------------------------------------------------------------- proportions

PROP_KEYS = ["PLO", "PFT", "PAS", "PR", "PR_UB"] + [
    f"{m}_{v}" for m in ("PLO", "PFT", "PAS", "PR") for v in ("all", "if0all", "none", "add1")]


def _prop_kwargs(key):
    measure, _, variant = key.partition("_")
    kw = {}
    if variant in ("all", "if0all", "none"):
        kw["to"] = variant
    elif variant == "add1":
        kw["add"] = 1.0
    elif variant == "UB":
        kw["vtype"] = "UB"
    return measure, kw


@pytest.mark.parametrize("data", ["table", "pritz"])
@pytest.mark.parametrize("key", PROP_KEYS)
def test_proportions(data, key):
    ref = REF["prop"][data]
    measure, kw = _prop_kwargs(key)
    es = escalc(measure, xi=ref["xi"], ni=ref["ni"], **kw)
    assert_es(es, ref[key])
    np.testing.assert_array_equal(es.ni, ref["ni"])


def test_proportion_continuity_correction_defaults():
    ref = REF["prop"]["table"]
    edge = np.array([True, False, True, True, False, False])  # 0/54, 0/11, 11/11
    for measure in ("PLO", "PR"):  # metafor adds 1/2 by default for these
        es = escalc(measure, xi=ref["xi"], ni=ref["ni"])
        np.testing.assert_array_equal(es.cc, edge)
        assert es.add == 0.5 and "studies 0, 2, 3" in es.warnings[0]
    for measure in ("PAS", "PFT"):  # defined at 0/n: metafor uses add = 0 unless add is given
        es = escalc(measure, xi=ref["xi"], ni=ref["ni"])
        assert not es.cc.any() and es.add == 0 and es.warnings == ()
        np.testing.assert_array_equal(escalc(measure, xi=ref["xi"], ni=ref["ni"], add=1).cc, edge)


def test_logit_zero_events_without_correction_is_nan():
    es = escalc("PLO", xi=[0, 3], ni=[10, 10], to="none")
    assert np.isnan(es.yi[0]) and np.isnan(es.vi[0]) and np.isfinite(es.yi[1])
    assert any("study 0" in w for w in es.warnings)


# ------------------------------------------------------------------------------------------------- means

MEANS = REF["means"]


@pytest.mark.parametrize("key", ["MD", "SMD", "MD_HO", "SMD_UB", "SMD_LS2"])
def test_normand_means(key):
    measure, _, vtype = key.partition("_")
    es = escalc(measure, vtype=vtype or "LS", **MEANS["data"])
    assert_es(es, MEANS[key])
    assert es.cc is None and es.dropped is None


def test_smd_small_samples_and_bias_correction():
    assert_es(escalc("SMD", **MEANS["small"]["data"]), MEANS["small"]["SMD"])
    assert_close(hedges_cm(MEANS["small"]["cmi_m"]), MEANS["small"]["cmi"])
    # c(m) -> 1 as m grows, and equals 1 - 3/(4m - 1) to O(m^-2) (Hedges 1981's approximation)
    m = np.array([50.0, 500.0])
    np.testing.assert_allclose(hedges_cm(m), 1 - 3 / (4 * m - 1), rtol=2e-5)
    assert np.isnan(hedges_cm(1.0))


# ------------------------------------------------------------------------------------------------- generic

def test_generic_with_vi_and_sei():
    g = REF["gen"]
    assert_es(escalc("GEN", yi=g["data"]["yi"], vi=g["data"]["vi"]), g["with_vi"])
    es = escalc("GEN", yi=g["data"]["yi"], sei=g["data"]["sei"])
    assert_es(es, g["with_sei"])
    assert_close(es.sei, g["data"]["sei"])


def test_precomputed_yi_keeps_measure_label():
    es = escalc("RR", yi=[-0.2, 0.3], vi=[0.1, 0.2])
    assert es.measure == "RR"
    np.testing.assert_allclose(back_transform(es.measure, es.yi), np.exp([-0.2, 0.3]))


# ------------------------------------------------------------------------------------------------- back-transforms

BACK = REF["back"]


def test_ilogit():
    assert_close(ilogit(BACK["ilogit"]["x"]), BACK["ilogit"]["y"])
    assert_close(back_transform("PLO", BACK["ilogit"]["x"]), BACK["ilogit"]["y"])


def test_iarcsin_with_clipping():
    assert_close(iarcsin(BACK["iarcsin"]["x"]), BACK["iarcsin"]["y"])
    assert_close(back_transform("PAS", BACK["iarcsin"]["x"]), BACK["iarcsin"]["y"])


def test_ipft_hm_including_boundaries():
    b = BACK["ipft_hm"]
    assert_close(ipft_hm(b["x"], b["ni"]), b["y"])
    assert_close(back_transform("PFT", b["x"], ni=b["ni"]), b["y"])
    # exactly at the clipping points (computed here, not read from 15-digit JSON)
    nhm = 1 / np.mean(1 / np.asarray(b["ni"], float))
    lo, hi = pft(0.0, nhm), pft(1.0, nhm)
    out = ipft_hm([np.nextafter(lo, -1), np.nextafter(hi, 9)], b["ni"])
    np.testing.assert_array_equal(out, [0.0, 1.0])


def test_ipft_per_study():
    b = BACK["ipft"]
    assert_close(ipft(b["x"], b["n"]), b["y"])
    p = BACK["pft_pritz"]
    assert_close(ipft(p["yi"], p["ni"]), p["y"])
    # Miller's inverse recovers the study proportion exactly
    np.testing.assert_allclose(ipft(p["yi"], p["ni"]), np.divide(REF["prop"]["pritz"]["xi"], p["ni"]),
                               rtol=1e-10, atol=1e-12)


def test_ipft_hm_stack_shapes():
    ni = np.array([[10, 20, 40], [5, 5, 5]], float)
    est = np.array([0.3, 0.9])
    out = ipft_hm(est, ni)  # one value per analysis
    assert out.shape == (2,)
    assert out[1] == pytest.approx(ipft(0.9, 5.0)[()], rel=1e-14)
    three = ipft_hm(np.array([[0.2, 0.3, 0.4], [0.8, 0.9, 1.0]]), ni)  # estimate, lower, upper per analysis
    np.testing.assert_allclose(three[:, 1], out, rtol=1e-14)


def test_back_transform_log_and_identity():
    x = np.array([-1.0, 0.0, 2.0])
    for m in ("RR", "OR", "PETO", "HR"):
        np.testing.assert_array_equal(back_transform(m, x), np.exp(x))
    for m in ("PR", "RD", "MD", "SMD", "GEN"):
        np.testing.assert_array_equal(back_transform(m, x), x)
    with pytest.raises(InputError, match="ni"):
        back_transform("PFT", x)
    with pytest.raises(InputError, match="measure"):
        back_transform("XYZ", x)


def test_back_transform_warnings():
    (w,) = back_transform_warnings("PFT")
    assert "Schwarzer" in w and "harmonic mean" in w
    assert back_transform_warnings("PLO") == () and back_transform_warnings("RR") == ()


# ------------------------------------------------------------------------------------------------- stacks

def test_stack_matches_row_by_row():
    rng = np.random.default_rng(1)
    d = ZERO["data"]
    perms = np.array([rng.permutation(8) for _ in range(5)])
    stacked = {k: np.asarray(v)[perms] for k, v in d.items()}
    for measure in ("RR", "OR", "RD", "PETO"):
        for to in ("only0", "if0all"):
            es = escalc(measure, to=to, **stacked)
            assert es.yi.shape == (5, 8)
            for r in range(5):
                row = escalc(measure, to=to, **{k: v[r] for k, v in stacked.items()})
                np.testing.assert_array_equal(es.yi[r], row.yi)
                np.testing.assert_array_equal(es.vi[r], row.vi)
                np.testing.assert_array_equal(es.cc[r], row.cc)
    # if0all works per analysis: a row without a zero cell gets no correction
    es = escalc("OR", to="if0all", ai=[[0, 3], [2, 3]], n1i=10, ci=[[4, 4], [4, 4]], n2i=10)
    np.testing.assert_array_equal(es.cc, [[True, True], [False, False]])
    assert "in 1 of 2 analyses" in es.warnings[0]
    p = escalc("PLO", xi=[[0, 5], [1, 5]], ni=[20, 30])
    assert p.yi.shape == (2, 2)
    assert p.summary().shape[0] == 4


def test_to_dict_and_summary():
    es = escalc("RR", **ZERO["data"])
    d = es.to_dict()
    json.dumps(d)
    assert d["yi"][0] is None and isinstance(d["yi"][1], float) and d["dropped"][0] is True
    s = es.summary()
    assert list(s.columns) == ["study", "yi", "vi", "sei", "ni", "cc", "dropped"]
    with pytest.raises(ValueError):
        es.yi[1] = 0.0  # frozen results


def test_input_arrays_not_modified_or_locked():
    xi = np.array([0.0, 3.0])
    es = escalc("PLO", xi=xi, ni=[10, 10])
    xi[1] = 4.0  # caller's array stays writable and the result is unaffected
    assert es.yi[1] == pytest.approx(math.log(3 / 7))


# ------------------------------------------------------------------------------------------------- validation

@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(measure="RR", ai=[1, 2], n1i=[10, 10], ci=[1, 2]), r"measure RR needs ai, n1i, ci, n2i"),
        (dict(measure="PLO", xi=[1]), r"measure PLO needs xi, ni"),
        (dict(measure="MD", m1i=[1], sd1i=[1], n1i=[5], m2i=[1], sd2i=[1]), r"needs m1i, sd1i, n1i"),
        (dict(measure="GEN", yi=[1.0]), r"exactly one of vi or sei"),
        (dict(measure="PLO", xi=[1], ni=[5], ai=[1]), r"does not use ai"),
        (dict(measure="XX", xi=[1], ni=[5]), r"unknown measure"),
        (dict(measure="PLO", xi=[1], ni=[5], to="some"), r"^to:"),
        (dict(measure="PLO", xi=[1, 2, 3, -1], ni=[5, 5, 5, 5]), r"xi: negative count \(study 3\)"),
        (dict(measure="PLO", xi=[1, 6], ni=[5, 5]), r"xi: events > total ni \(study 1\)"),
        (dict(measure="PLO", xi=[1, 2.5], ni=[5, 5]), r"xi: count is not a whole number \(study 1\)"),
        (dict(measure="PLO", xi=[1, 0], ni=[5, 0]), r"ni: n < 1 \(study 1\)"),
        (dict(measure="PLO", xi=[1, np.nan], ni=[5, 5]), r"xi: is NaN or infinite \(study 1\)"),
        (dict(measure="RR", ai=[1, 2], n1i=[10, 1], ci=[1, 2], n2i=[10, 10]), r"ai: events > group size n1i"),
        (dict(measure="OR", ai=[1, 2], n1i=[10, 10], ci=[1, 2], n2i=[10, np.inf]), r"n2i: is NaN or infinite"),
        (dict(measure="RR", ai=[[1, 2], [1, -2]], n1i=10, ci=1, n2i=10),
         r"ai: negative count \(study 1 of analysis 1\)"),
        (dict(measure="SMD", m1i=[1, 2], sd1i=[1, 0], n1i=[5, 5], m2i=[0, 0], sd2i=[1, 1], n2i=[5, 5]),
         r"sd1i: standard deviation <= 0 \(study 1\)"),
        (dict(measure="MD", m1i=[1], sd1i=[1], n1i=[0.5], m2i=[0], sd2i=[1], n2i=[5]), r"n1i: n < 1"),
        (dict(measure="SMD", m1i=[1], sd1i=[1], n1i=[1], m2i=[0], sd2i=[1], n2i=[2]), r"too small for SMD"),
        (dict(measure="GEN", yi=[0.1, 0.2], vi=[0.1, 0.0]), r"vi: vi <= 0 \(study 1\)"),
        (dict(measure="GEN", yi=[0.1, 0.2], sei=[-0.1, 0.2]), r"sei: sei <= 0 \(study 0\)"),
        (dict(measure="GEN", yi=[0.1, np.nan], vi=[0.1, 0.1]), r"yi: is NaN or infinite \(study 1\)"),
        (dict(measure="PLO", xi=[1, 2], ni=[5, 5, 5]), r"incompatible shapes"),
        (dict(measure="PLO", xi=[1], ni=[5], add=-1), r"^add:"),
        (dict(measure="PLO", xi=[1], ni=[5], vtype="UB"), r"^vtype:"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(InputError, match=message):
        escalc(**kwargs)


# ------------------------------------------------------------------------------------------------- properties

counts = st.integers(min_value=1, max_value=500).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n)))


@settings(max_examples=150, deadline=None)
@given(st.lists(counts, min_size=1, max_size=8), st.sampled_from(["only0", "all", "if0all", "none"]))
def test_logit_antisymmetric_under_swapping_events(studies, to):
    x = np.array([s[0] for s in studies])
    n = np.array([s[1] for s in studies])
    a = escalc("PLO", xi=x, ni=n, to=to)
    b = escalc("PLO", xi=n - x, ni=n, to=to)
    np.testing.assert_allclose(a.yi, -b.yi, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(a.vi, b.vi)


@settings(max_examples=150, deadline=None)
@given(counts)
def test_ilogit_inverts_logit(study):
    x, n = study
    es = escalc("PLO", xi=[x], ni=[n])
    p = (x + 0.5 * es.cc[0]) / (n + es.cc[0])  # the (corrected) proportion the logit was taken of
    assert back_transform("PLO", es.yi)[0] == pytest.approx(p, rel=1e-12, abs=1e-15)


@settings(max_examples=150, deadline=None)
@given(counts)
def test_ipft_inverts_pft_for_a_single_study(study):
    x, n = study
    es = escalc("PFT", xi=[x], ni=[n])
    assert ipft(es.yi, n)[0] == pytest.approx(x / n, abs=1e-9)
    # a single study: harmonic mean = n, so the pooled back-transformation is the same
    assert back_transform("PFT", es.yi[0], ni=[n]) == pytest.approx(x / n, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(counts, min_size=2, max_size=8), st.randoms(use_true_random=False))
def test_study_order_permutes_results(studies, rnd):
    x = np.array([s[0] for s in studies])
    n = np.array([s[1] for s in studies])
    perm = np.array(rnd.sample(range(len(x)), len(x)))
    for measure in ("PLO", "PFT", "PR"):
        a = escalc(measure, xi=x, ni=n, to="if0all")
        b = escalc(measure, xi=x[perm], ni=n[perm], to="if0all")
        np.testing.assert_array_equal(a.yi[perm], b.yi)
