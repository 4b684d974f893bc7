"""Ragged stacks (metablina.stats.batch): every model's batch equals fitting each analysis alone.

Property tests draw random ragged batches (k = 1 to 9 per analysis, so some are refused) and compare every
field of the batch with the one-at-a-time fit: 1e-10 relative for inverse variance, MH and Peto; for the
masked GLMMs the GLMM's own tolerance, GLMM_TOL: its Newton steps stop below 1e-9 and the OR model's SE
comes from a finite-difference Hessian (steps 1e-3, so the ~1e-14 rounding of ℓ that summing the padding's
zeros moves becomes ~1e-8 in the Hessian), hence 1e-7 on the logit scale; the quadrature's for the Bayesian
models (grouped: the stacked code, agreeing to rounding). Examples are generated from the seed the test profiles fix
(tests/conftest.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metablina.stats import batch, bayes, glmm, mh
from metablina.stats.errors import InputError
from metablina.stats.rma import rma
from metablina.stats.tau2 import METHODS

PROP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GLMM_TOL = {"rel": 1e-6, "abs_": 1e-7}


def assert_same(
    b: batch.Batch, singles: list, rel: float, abs_: float = 1e-12, own_warnings: bool = True
) -> None:
    """Every field of the batch against the single fits (or the single fit's InputError message)."""
    assert len(b) == len(singles)
    for i, one in enumerate(singles):
        if isinstance(one, str):
            assert b.errors[i] == one
            assert np.isnan(b.estimate[i])
            continue
        assert b.errors[i] is None
        if own_warnings:
            assert b.warnings[i] == tuple(one.warnings), i
        assert b.k[i] == one.k
        for name, value in b.values.items():
            mine = value[i] if isinstance(value, np.ndarray | tuple) else value
            theirs = getattr(one, name)
            if theirs is None and isinstance(value, np.ndarray):  # does not apply at this k: NaN in a batch
                assert np.isnan(mine), name
                continue
            if theirs is None or isinstance(theirs, str):
                assert mine == theirs, name
                continue
            np.testing.assert_allclose(
                np.asarray(mine, dtype=float),
                np.asarray(theirs, dtype=float),
                rtol=rel,
                atol=abs_,
                err_msg=name,
            )


def singles(fit, *columns) -> list:
    out = []
    for args in zip(*columns, strict=True):
        try:
            out.append(fit(*args))
        except InputError as exc:
            out.append(str(exc))
    return out


@st.composite
def ragged_effects(draw, kmax: int = 9):
    m = draw(st.integers(1, 7))
    ks = draw(st.lists(st.integers(1, kmax), min_size=m, max_size=m))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    tau2 = rng.choice([0.0, 0.05, 0.5])
    vi = [rng.uniform(0.01, 0.5, k) for k in ks]
    yi = [rng.normal(0.3, np.sqrt(v + tau2)) for v in vi]
    return yi, vi


@st.composite
def ragged_tables(draw, kmax: int = 9):
    m = draw(st.integers(1, 6))
    ks = draw(st.lists(st.integers(1, kmax), min_size=m, max_size=m))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n1 = [rng.integers(1, 60, k) for k in ks]
    n2 = [rng.integers(1, 60, k) for k in ks]
    ai = [rng.binomial(n, rng.uniform(0.0, 0.5)) for n in n1]
    ci = [rng.binomial(n, rng.uniform(0.0, 0.5)) for n in n2]
    return ai, n1, ci, n2


@PROP
@given(data=ragged_effects(), method=st.sampled_from(METHODS), test=st.sampled_from(["z", "knha", "adhoc"]))
def test_rma_batch_equals_single_fits(data, method, test):
    yi, vi = data
    b = batch.rma(yi, vi, method=method, test=test)
    assert_same(b, singles(lambda y, v: rma(y, v, method=method, test=test), yi, vi), rel=1e-10)


@PROP
@given(data=ragged_tables(), measure=st.sampled_from(["OR", "RR", "RD"]))
def test_mantel_haenszel_batch_equals_single_fits(data, measure):
    b = batch.mantel_haenszel(*data, measure=measure)
    assert_same(b, singles(lambda *c: mh.mantel_haenszel(*c, measure=measure), *data), rel=1e-10)


@PROP
@given(data=ragged_tables())
def test_peto_batch_equals_single_fits(data):
    assert_same(batch.peto(*data), singles(mh.peto, *data), rel=1e-10)


@st.composite
def ragged_proportions(draw):
    m = draw(st.integers(1, 6))
    ks = draw(st.lists(st.integers(1, 8), min_size=m, max_size=m))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p = rng.uniform(0.02, 0.6)
    ni = [rng.integers(5, 150, k) for k in ks]
    xi = [rng.binomial(n, 1 / (1 + np.exp(-(np.log(p / (1 - p)) + rng.normal(0, 0.5, n.size))))) for n in ni]
    return xi, ni


@SLOW
@given(data=ragged_proportions(), test=st.sampled_from(["z", "t"]))
def test_masked_glmm_proportion_equals_single_fits(data, test):
    xi, ni = data
    b = batch.glmm_proportion(xi, ni, test=test)
    assert_same(b, singles(lambda x, n: glmm.glmm_proportion(x, n, test=test), xi, ni), **GLMM_TOL)


def _fitted_with_start(data, test: str):
    """Each table of at least three studies that a GLMM fits, with the start at that fit (μ̂, τ̂)."""
    for x, n in zip(*data, strict=True):
        if x.size < 3:
            continue
        try:
            full = glmm.glmm_proportion(x, n, test=test)
        except InputError:
            continue
        yield x, n, (float(full.estimate), math.sqrt(float(full.tau2)))


@SLOW
@given(data=ragged_proportions(), test=st.sampled_from(["z", "t"]))
def test_leave_one_out_from_the_full_fit_equals_single_fits(data, test):
    """Each study left out in turn, Newton started at the fit of all of them (as the report's refits
    start): the numbers of fitting each subset alone from the tau grid."""
    for x, n, start in _fitted_with_start(data, test):
        subsets = batch.leave_one_out_subsets(x.size)
        xs, ns = [x[s] for s in subsets], [n[s] for s in subsets]
        b = batch.glmm_proportion(xs, ns, test=test, start=start)
        assert_same(b, singles(lambda a, m: glmm.glmm_proportion(a, m, test=test), xs, ns), **GLMM_TOL)


@SLOW
@given(data=ragged_proportions(), test=st.sampled_from(["z", "t"]))
def test_the_bounded_grid_check_decides_as_the_full_one(data, test):
    """Leave-one-out, the cumulative series and the whole, started at the fit of all studies: told those
    studies (``whole``), the check skips grid points by the study grid's bound, and every number is the
    same to the last bit as when it evaluates them all."""
    for x, n, start in _fitted_with_start(data, test):
        subsets = [
            *batch.leave_one_out_subsets(x.size),
            *batch.cumulative_subsets(range(x.size))[1:],
        ]
        xs, ns = [x[s] for s in subsets], [n[s] for s in subsets]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(glmm, "_STUDY_GRID_USES", 0)  # a grid even for these few analyses
            bounded = batch.glmm_proportion(xs, ns, test=test, start=start, whole=(x, n))
        every = batch.glmm_proportion(xs, ns, test=test, start=start)
        for name in ("estimate", "se", "tau2", "ci_low", "ci_high", "ll"):
            np.testing.assert_array_equal(getattr(bounded, name), getattr(every, name), err_msg=name)


def _sixty(seed: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Sixty studies of logit-normal proportions and the GLMM fit of all of them (μ̂, τ̂)."""
    rng = np.random.default_rng(seed)
    ni = rng.integers(10, 300, 60).astype(float)
    xi = rng.binomial(ni.astype(int), 1 / (1 + np.exp(-rng.normal(-2.0, 0.8, 60)))).astype(float)
    full = glmm.glmm_proportion(xi, ni)
    return xi, ni, float(full.estimate), math.sqrt(float(full.tau2))


@pytest.mark.parametrize("seed", [14, 3, 8])
@pytest.mark.parametrize("series", ["leave-one-out", "cumulative"])
def test_the_grid_bound_bounds_what_the_check_evaluates(seed, series):
    """Sixty studies, each left out or added in turn, every analysis's Newton started at the fit of all
    sixty: at every grid point the check evaluates (one capped Newton step in mu at each tau) the bound is
    at least the log-likelihood there, and it is below the fit by the margin at most of them, which the
    check then skips."""
    xi, ni, mu0, tau0 = _sixty(seed)
    if series == "leave-one-out":
        subsets = batch.leave_one_out_subsets(60)
    else:
        subsets = batch.cumulative_subsets(range(60))[9:]  # ten studies and more
    used = np.array([[i < s.size for i in range(60)] for s in subsets])
    X = np.array([np.pad(xi[s], (0, 60 - s.size), constant_values=1.0) for s in subsets])
    N = np.array([np.pad(ni[s], (0, 60 - s.size), constant_values=2.0) for s in subsets])
    m = len(subsets)
    mu, tau, converged = glmm._fit_prop(X, N, 7, np.full(m, mu0), np.full(m, tau0), used)
    assert converged.all()
    ll_fit = glmm._ll_prop(X, N, mu[None], tau[None], 7, used)[0]
    bound = glmm.StudyGrid.of(xi, ni, mu0, 7).bound(X, N, used, mu)
    _, every = glmm._grid_profile(X, N, 7, mu, used, steps=1)
    assert (every <= bound + 1e-9 * np.abs(bound)).all()
    assert (bound < ll_fit - glmm._BOUND_MARGIN).mean() > 0.5


def test_each_chunk_is_bounded_by_its_own_analyses_studies(monkeypatch):
    """Sixty studies (seed 14) each left out, in chunks of three analyses: every chunk's bound, summed
    over the studies its own analyses hold, is at least the log-likelihood at each point its check can
    evaluate."""
    xi, ni, mu0, tau0 = _sixty(14)
    subsets = batch.leave_one_out_subsets(60)
    fit_from, held = glmm._fit_prop_from, []

    def checked(X, N, nodes, mu_fe, used, warm):
        out = fit_from(X, N, nodes, mu_fe, used, warm)
        bound = warm.grid.bound(X, N, used, out[0])
        _, every = glmm._grid_profile(X, N, nodes, out[0], used, steps=1)
        held.append(bool(np.isfinite(bound).any() and (every <= bound + 1e-9 * np.abs(bound)).all()))
        return out

    monkeypatch.setattr(batch, "_GLMM_CELLS", 3 * 59)
    monkeypatch.setattr(glmm, "_fit_prop_from", checked)
    batch.glmm_proportion(
        [xi[s] for s in subsets], [ni[s] for s in subsets], start=(mu0, tau0), whole=(xi, ni)
    )
    assert len(held) == 20 and all(held)


def test_the_study_grid_counts_each_analysis_own_studies():
    """An analysis's bound sums the studies it holds, in any order and counting repeats; one with a
    study the grid does not hold is not bounded (+inf). Too few analyses for the grid to repay: none."""
    x, n = np.array([3.0, 5.0, 3.0, 9.0]), np.array([20.0, 30.0, 20.0, 40.0])
    grid = glmm.StudyGrid.of(x, n, -1.5, 7)
    assert grid.keys.size == 3  # the two 3/20 studies are one study of the grid
    X = np.array([x[[0, 1, 3]], x[[3, 1, 0]], x[[0, 1, 2]], [3.0, 5.0, 7.0]])
    N = np.array([n[[0, 1, 3]], n[[3, 1, 0]], n[[0, 1, 2]], [20.0, 30.0, 40.0]])
    mu = np.full(4, -1.5)
    bound = grid.bound(X, N, None, mu)
    np.testing.assert_array_equal(bound[:, 0], bound[:, 1])
    assert np.isfinite(bound[:, :3]).all() and (bound[:, 3] == np.inf).all()
    one = glmm.StudyGrid.of(x[:1], n[:1], -1.5, 7)
    twice = one.bound(np.array([[3.0, 3.0]]), np.array([[20.0, 20.0]]), None, mu[:1])
    np.testing.assert_allclose(twice, 2 * one.bound(np.array([[3.0]]), np.array([[20.0]]), None, mu[:1]))
    few = [x[[0, 1, 3]], x]
    assert glmm.warm_start(-1.5, 0.3, x, n, few, [n[[0, 1, 3]], n], 7).grid is None


def test_whole_without_start_is_refused():
    with pytest.raises(InputError, match=r"whole: .*give start"):
        batch.glmm_proportion([[3, 4, 5]], [[20, 20, 20]], whole=([3, 4, 5], [20, 20, 20]))


@pytest.mark.parametrize("centre", [-11.0, -16.0, -1.0])
def test_where_the_rule_is_not_concave_the_bound_still_holds(centre):
    """One study with events among four 0/n: at tau = 9 the 7-node rule's likelihood has two maxima in
    mu (-10.06 and, 0.08 higher, -16.07), so the studies' tangents alone do not bound it. The grid
    measures how far each study rises above its tangents there and adds it: wherever the grid is
    centred, at every mu of a fine grid within each window the bound is at least the log-likelihood."""
    x, n = np.array([0.0, 0, 0, 76, 0]), np.array([129.0, 68, 40, 131, 70])
    grid = glmm.StudyGrid.of(x, n, centre, 7)
    nine = list(glmm._TAU_GRID).index(9.0)
    if centre < -5:
        assert grid.excess[:, nine].sum() > 0.5
    mus = np.linspace(-25.0, 5.0, 1501)
    for fit in np.linspace(-20.0, 2.0, 23):
        bound = grid.bound(x[None], n[None], None, np.array([fit]))[:, 0]
        window = mus[np.abs(mus - fit) <= glmm._MU_STEP_CAP]
        G = glmm._TAU_GRID.size
        ll = glmm._ll_prop(
            np.repeat(x[None], window.size, 0),
            np.repeat(n[None], window.size, 0),
            np.repeat(window[None], G, 0),
            np.repeat(glmm._TAU_GRID[:, None], window.size, 1),
            7,
        )
        assert (ll.max(1) <= bound + 1e-9 * np.abs(bound)).all()


def test_a_start_that_stops_short_is_caught_by_the_grid_check():
    """From tau = 10 Newton stops on a lesser point for these seven studies (the tau = 0 boundary, mu
    -0.0332 instead of -0.0601); a grid point at the fitted mu beats it, so the grid fit is used."""
    xi, ni = np.array([57, 33, 16, 26, 3, 9, 4]), np.array([97, 79, 44, 49, 10, 15, 7])
    alone = glmm.glmm_proportion(xi, ni)
    b = batch.glmm_proportion([xi], [ni], start=(0.0, 10.0))
    assert float(alone.estimate) == pytest.approx(-0.060089372, abs=1e-8)
    assert_same(b, [alone], **GLMM_TOL)


def test_a_stop_at_tau_zero_is_caught_though_the_better_fit_has_another_mu():
    """Six studies (found by Hypothesis), study 2 left out and Newton started at the fit of all six
    (tau = 0): Newton stops on the tau = 0 boundary (logit -0.388), a local maximum; the fit from the grid
    has tau^2 = 0.0854 and logit -0.2965. At the boundary fit's mu no grid point beats it, so the check
    moves mu at each grid tau before comparing."""
    x, n = np.array([28, 20, 49, 25, 18, 55]), np.array([69, 51, 133, 63, 24, 144])
    full = glmm.glmm_proportion(x, n)
    keep = np.arange(6) != 1
    alone = glmm.glmm_proportion(x[keep], n[keep])
    assert float(alone.estimate) == pytest.approx(-0.296547474, abs=1e-8)
    assert float(alone.tau2) == pytest.approx(0.0854000994, abs=1e-8)
    b = batch.glmm_proportion([x[keep]], [n[keep]], start=(float(full.estimate), math.sqrt(float(full.tau2))))
    assert_same(b, [alone], **GLMM_TOL)


def test_a_stop_on_the_tau_zero_saddle_is_caught():
    """Eight studies with tau^2 = 0.0072 fitted alone; Newton from (8, 10) lands on tau = 0, stationary by
    symmetry but a saddle there (the likelihood rises towards small tau > 0). No grid point beats it
    (tau = 0.15 is already past the maximum), so only the Hessian's sign shows it is no maximum."""
    xi, ni = np.array([81, 55, 24, 61, 46, 41, 65, 32]), np.array([111, 88, 38, 98, 77, 53, 93, 47])
    alone = glmm.glmm_proportion(xi, ni)
    assert float(alone.tau2) == pytest.approx(0.0072389758, abs=1e-8)
    assert_same(batch.glmm_proportion([xi], [ni], start=(8.0, 10.0)), [alone], **GLMM_TOL)


def test_leave_one_out_from_the_full_fit_at_k_60():
    """Sixty heterogeneous studies (seed 14), each left out, started at the fit of all sixty: the numbers
    of fitting each subset alone from the grid."""
    rng = np.random.default_rng(14)
    ni = rng.integers(10, 300, 60)
    xi = rng.binomial(ni, 1 / (1 + np.exp(-rng.normal(-2.0, 0.8, 60))))
    full = glmm.glmm_proportion(xi, ni)
    subsets = batch.leave_one_out_subsets(60)
    start = (float(full.estimate), math.sqrt(float(full.tau2)))
    b = batch.glmm_proportion([xi[s] for s in subsets], [ni[s] for s in subsets], start=start)
    one = singles(glmm.glmm_proportion, [xi[s] for s in subsets], [ni[s] for s in subsets])
    assert_same(b, one, **GLMM_TOL)


def test_masked_glmm_spans_chunks_and_refuses_only_the_bad_analysis(monkeypatch):
    """Leave-one-out and cumulative series of one dataset, in chunks of a few analyses, one subset with
    no events: that one gets the single fit's message, the others their numbers."""
    monkeypatch.setattr(batch, "_GLMM_CELLS", 20)
    x = np.array([0, 0, 4, 9, 2, 15, 7])
    n = np.array([30, 12, 40, 60, 25, 80, 33])
    subsets = batch.leave_one_out_subsets(7) + batch.cumulative_subsets(range(7))
    xi, ni = [x[s] for s in subsets], [n[s] for s in subsets]
    b = batch.glmm_proportion(xi, ni, test="t")
    ones = singles(lambda a, c: glmm.glmm_proportion(a, c, test="t"), xi, ni)
    assert [e is not None for e in b.errors] == [isinstance(o, str) for o in ones]
    assert sum(isinstance(o, str) for o in ones) == 2  # k = 1 (0/30) and k = 2 (0/30, 0/12)
    assert_same(b, ones, **GLMM_TOL)


@st.composite
def ragged_two_group(draw):
    m = draw(st.integers(1, 5))
    ks = draw(st.lists(st.integers(1, 6), min_size=m, max_size=m))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n1 = [rng.integers(5, 80, k) for k in ks]
    n2 = [rng.integers(5, 80, k) for k in ks]
    p2 = rng.uniform(0.0, 0.4)
    ai = [rng.binomial(n, min(0.95, p2 * rng.uniform(0.5, 2.5))) for n in n1]
    ci = [rng.binomial(n, p2) for n in n2]
    return ai, n1, ci, n2


@SLOW
@given(data=ragged_two_group())
def test_masked_glmm_or_umfs_equals_single_fits(data):
    b = batch.glmm_or_umfs(*data)
    assert_same(b, singles(glmm.glmm_or_umfs, *data), **GLMM_TOL)


def test_masked_glmm_or_umfs_drops_double_zeros_per_analysis(monkeypatch):
    monkeypatch.setattr(batch, "_GLMM_CELLS", 9)
    ai = [[3, 5, 0, 7], [3, 5, 0], [2, 9, 4, 1, 6], [0, 0], [0, 4, 2]]
    n1 = [[30, 40, 20, 50], [30, 40, 20], [25, 60, 30, 20, 45], [10, 10], [12, 30, 22]]
    ci = [[6, 9, 0, 8], [6, 9, 2], [5, 11, 9, 4, 7], [0, 0], [0, 7, 5]]
    n2 = [[30, 42, 21, 49], [30, 42, 21], [25, 61, 29, 22, 44], [10, 10], [15, 28, 20]]
    b = batch.glmm_or_umfs(ai, n1, ci, n2)
    assert_same(b, singles(glmm.glmm_or_umfs, ai, n1, ci, n2), **GLMM_TOL)
    assert "fewer than 2 studies" in b.errors[3]
    assert b.k.tolist() == [3, 3, 5, 2, 2]  # studies used, after drop00
    assert b.warnings[0][0].endswith("dropped (drop00): 2") and b.warnings[4][0].endswith("(drop00): 0")


def test_bayes_nn_batch_equals_single_fits():
    rng = np.random.default_rng(5)
    vi = [rng.uniform(0.02, 0.3, k) for k in (3, 5, 3, 8, 1)]
    yi = [rng.normal(0.2, np.sqrt(v + 0.1)) for v in vi]
    b = batch.bayes_nn(yi, vi, tau_prior="halfnormal:0.5", threshold=0.0)
    ones = singles(lambda y, v: bayes.bayes_nn(y, v, tau_prior="halfnormal:0.5", threshold=0.0), yi, vi)
    assert_same(b, ones, rel=1e-9, abs_=1e-12, own_warnings=False)
    assert b.shrink_median[3].shape == (8,)


def test_bayes_bn_batch_equals_single_fits():
    xi = [[3, 8, 5], [3, 8], [1, 4, 0, 7]]
    ni = [[40, 50, 45], [40, 50], [20, 35, 30, 44]]
    b = batch.bayes_bn(xi, ni, shrinkage=False)
    assert_same(
        b,
        singles(lambda x, n: bayes.bayes_bn(x, n, shrinkage=False), xi, ni),
        rel=1e-9,
        abs_=1e-12,
        own_warnings=False,
    )


def test_rma_batch_warnings_are_each_analysis_own():
    yi = [[0.1, 0.2], [0.1, 0.5, 0.9, 0.2], [0.3, 0.31, 0.32]]
    vi = [[0.1, 0.1], [0.01, 0.02, 0.01, 0.03], [0.5, 0.5, 0.5]]
    b = batch.rma(yi, vi, method="REML")
    assert any("k = 2" in w for w in b.warnings[0])
    assert not any("k = 2" in w for w in b.warnings[1])
    assert any("boundary" in w for w in b.warnings[2])
    assert b.to_dict()["k"] == [2, 4, 3]
    assert len(b.summary()) == 3
    assert b.weights[1].shape == (4,) and math.isclose(b.weights[1].sum(), 100.0)


@pytest.mark.parametrize(
    ("yi", "vi", "message"),
    [
        (np.ones((3, 5)), [np.ones(5)] * 3, None),  # a 2-D array is m analyses of equal k: accepted
        (np.ones(5), np.ones(5), "yi: expected a sequence of 1-D arrays, one per analysis (or a 2-D"),
        (np.ones((2, 3, 5)), np.ones((2, 3, 5)), "got an array of shape (2, 3, 5)"),
        (
            [np.ones((3, 5))],
            [np.ones((3, 5))],
            "yi[0]: expected a 1-D array of study values, got shape (3, 5)",
        ),
        ([0.1, 0.2], [0.1, 0.2], "yi[0]: expected a 1-D array of study values, got a scalar"),
        ([[0.1, 0.2]], [[0.1, 0.2], [0.1, 0.2]], "vi: 2 analyses, but yi has 1"),
        ([[0.1, 0.2]], [[0.1, 0.2, 0.3]], "vi[0]: 3 studies, but yi[0] has 2"),
        ("abc", "abc", "yi: expected a sequence of 1-D arrays, one per analysis, got str"),
        ([], [], "yi: no analyses"),
    ],
)
def test_unexpected_shapes_are_refused_in_one_line(yi, vi, message):
    if message is None:
        assert len(batch.rma(yi, vi)) == 3
        return
    with pytest.raises(InputError) as err:
        batch.rma(yi, vi)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_options_are_refused_for_the_whole_batch():
    with pytest.raises(InputError, match="method"):
        batch.rma([[0.1, 0.2]], [[0.1, 0.1]], method="XX")
    with pytest.raises(InputError, match="measure"):
        batch.mantel_haenszel([[1, 2]], [[5, 5]], [[2, 1]], [[5, 5]], measure="HR")
    with pytest.raises(InputError, match="nagq"):
        batch.glmm_proportion([[1, 2]], [[5, 5]], nagq=0)
    with pytest.raises(InputError, match=r"tau_prior|prior"):
        batch.bayes_nn([[0.1, 0.2]], [[0.1, 0.1]], tau_prior="nonsense:1")


def test_subset_helpers():
    assert [s.tolist() for s in batch.leave_one_out_subsets(3)] == [[1, 2], [0, 2], [0, 1]]
    assert [s.tolist() for s in batch.cumulative_subsets([2, 0, 1])] == [[2], [2, 0], [2, 0, 1]]
