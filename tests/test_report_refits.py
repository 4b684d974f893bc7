"""The report's leave-one-out and cumulative refits, fitted in one ragged batch (metablina.stats.batch), give
the numbers of pooling each subset alone (``stacked=False``, :func:`metablina.analyze.pool`) for every model.

Tolerances: inverse variance, Mantel-Haenszel, Peto and the Bayesian models run exactly the code of a single
fit on a stack of equal k (1e-10 relative); the GLMMs are fitted masked, padded to the chunk's widest k, and
agree to the GLMM's own tolerance (Newton steps below 1e-9 on the logit scale; 1e-6 relative here).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from metablina.report import Series, cumulative, leave_one_out, run_plan
from metablina.run import fit_rows

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"
THREE = ROOT / "tests" / "fixtures" / "two-reports"  # SYNTHETIC: a CRS analysis that pools three trials
PAIRS = ROOT / "tests" / "fixtures" / "comparisons"  # SYNTHETIC: two-arm trials, k = 4


def _same(a: Series, b: Series, rel: float) -> None:
    assert a.labels == b.labels and a.k == b.k and a.notes == b.notes
    for name in ("estimate", "ci_low", "ci_high"):
        x, y = getattr(a, name), getattr(b, name)
        assert [math.isnan(v) for v in x] == [math.isnan(v) for v in y], name
        assert [v for v in x if not math.isnan(v)] == pytest.approx(
            [v for v in y if not math.isnan(v)], rel=rel
        )
    assert [v is None for v in a.i2] == [v is None for v in b.i2]
    assert [v for v in a.i2 if v is not None] == pytest.approx([v for v in b.i2 if v is not None], abs=1e-6)


def _check(stratum, prior: str | None = None) -> None:
    rel = 1e-6 if stratum.result.method == "GLMM" else 1e-10
    first = (0.5, 0.1, 0.9)
    _same(
        leave_one_out(stratum, tau_prior=prior),
        leave_one_out(stratum, stacked=False, tau_prior=prior),
        rel,
    )
    _same(
        cumulative(stratum, first, tau_prior=prior),
        cumulative(stratum, first, stacked=False, tau_prior=prior),
        rel,
    )


@pytest.fixture(scope="module")
def shipped_rows():
    """The three frontline and relapse cohorts reporting grade >= 3 CRS in the shipped review, as one set
    of rows (the plan keeps them apart, by setting and grading: here only the arithmetic is tested)."""
    run = run_plan(STUDIES)
    result = next(r for r in run.results if r.analysis.id == "crs-grade3")
    rows = tuple(r for s in result.strata for r in s.rows)
    assert len(rows) == 3
    return rows


@pytest.mark.parametrize(
    ("measure", "method", "ci"),
    [
        ("PLO", "GLMM", "t"),
        ("PLO", "GLMM", "z"),
        ("PLO", "REML", "hksj"),
        ("PLO", "DL", "z"),
        ("PLO", "FE", "z"),
        ("PLO", "PM", "hksj-adhoc"),
        ("PFT", "REML", "z"),
        ("PAS", "ML", "hksj"),
        ("PLO", "BAYES-GLMM", None),
        ("PLO", "BAYES", None),
    ],
)
def test_batched_refits_equal_one_at_a_time_on_shipped_rows(shipped_rows, measure, method, ci) -> None:
    stratum = fit_rows(
        shipped_rows, measure, method, ci, tau_prior="halfnormal:0.5" if "BAYES" in method else None
    )
    assert stratum.pooled, stratum.error
    _check(stratum, "halfnormal:0.5" if "BAYES" in method else None)


def test_batched_refits_equal_one_at_a_time_on_a_plan_stratum() -> None:
    run = run_plan(THREE)
    stratum = next(r for r in run.results if r.analysis.id == "crs-grade3").strata[0]
    assert stratum.result.method == "GLMM" and len(stratum.rows) == 3
    _check(stratum)


@pytest.mark.parametrize(
    ("measure", "method", "ci"),
    [
        ("OR", "GLMM", "z"),
        ("OR", "MH", "z"),
        ("RR", "MH", "z"),
        ("RD", "MH", "z"),
        ("OR", "PETO", "z"),
        ("RR", "REML", "hksj"),
        ("RD", "REML", "z"),
        ("OR", "BAYES", None),
    ],
)
def test_batched_refits_equal_one_at_a_time_for_two_arm_models(measure, method, ci) -> None:
    run = run_plan(PAIRS)
    rows = next(r for r in run.results if r.analysis.id == "relapse-rr").strata[0].rows
    stratum = fit_rows(rows, measure, method, ci)
    assert stratum.pooled and len(rows) == 4, stratum.error
    _check(stratum)


def test_a_subset_the_model_refuses_is_nan_with_the_single_fits_note(shipped_rows) -> None:
    """Without the one cohort with events, the GLMM of the other two (0 events each) is refused: NaN and
    the note that pooling that subset alone gives, the other subsets still fitted."""
    stratum = fit_rows(shipped_rows, "PLO", "GLMM", "t")
    loo = leave_one_out(stratum)
    i = next(j for j, r in enumerate(shipped_rows) if r.events > 0)
    assert math.isnan(loo.estimate[i]) and sum(math.isnan(v) for v in loo.estimate) == 1
    assert len(loo.notes) == 1 and loo.notes[0].startswith(f"Without {shipped_rows[i].label}: not estimable")
    assert loo.notes == leave_one_out(stratum, stacked=False).notes


def test_a_study_without_an_estimable_effect_is_left_out_of_each_subset_as_pooling_does() -> None:
    """A double-zero trial has no log RR (NaN): pool leaves it out of the subsets it is in, so must the batch."""
    import dataclasses

    run = run_plan(PAIRS)
    rows = next(r for r in run.results if r.analysis.id == "relapse-rr").strata[0].rows
    rows = (dataclasses.replace(rows[0], events=0, control_events=0), *rows[1:])
    stratum = fit_rows(rows, "RR", "REML", "hksj")
    assert stratum.pooled and stratum.result.k == 3, stratum.error
    _check(stratum)


def test_refits_in_worker_processes_equal_those_in_this_one(monkeypatch, tmp_path) -> None:
    """With two workers and refits heavy enough (the threshold lowered to 0 here), the strata's
    leave-one-out and cumulative series are fitted in forked processes, while this one fits the
    multiverse: the same series, in the same order, as fitted here one after another."""
    from metablina import report

    run = run_plan(STUDIES)
    serial = report.build_model(STUDIES, tmp_path / "a", run, workers=1)
    monkeypatch.setattr(report, "PARALLEL_REFIT_CELLS", 0)
    from concurrent.futures import ProcessPoolExecutor

    submitted = []
    submit = ProcessPoolExecutor.submit
    monkeypatch.setattr(
        ProcessPoolExecutor, "submit", lambda pool, fn, *a: submitted.append(fn) or submit(pool, fn, *a)
    )
    parallel = report.build_model(STUDIES, tmp_path / "b", run, workers=2)
    pairs = [
        (d, e)
        for x, y in zip(serial.analyses, parallel.analyses, strict=True)
        for d, e in zip(x.diagnostics, y.diagnostics, strict=True)
    ]
    assert len(pairs) >= 2 and submitted == [report._refit_pair] * len(pairs)
    for d, e in pairs:
        assert d.stratum.label == e.stratum.label
        assert d.leave_one_out == e.leave_one_out and d.cumulative == e.cumulative
    assert [f.name for a in serial.analyses for f in a.figures] == [
        f.name for a in parallel.analyses for f in a.figures
    ]


def test_refits_and_bayesian_specifications_share_one_pool_forked_once(monkeypatch, tmp_path) -> None:
    """Both heavy (thresholds lowered to 0): the refits and the multiverse's binomial-normal Bayesian
    specifications go to one pool, made once (every worker forked at its first submit, before this process
    has threads), and every number is what one process gives."""
    from metablina import multiverse, report, workers

    run = run_plan(STUDIES)
    serial = report.build_model(STUDIES, tmp_path / "a", run, workers=1)
    monkeypatch.setattr(report, "PARALLEL_REFIT_CELLS", 0)
    monkeypatch.setattr(multiverse, "PARALLEL_BAYES_CELLS", 0)
    pools = []
    make = workers.forked_pool
    for module in (report, workers):  # the report's own name for it, and the one metablina.multiverse imports
        monkeypatch.setattr(module, "forked_pool", lambda n: pools.append(make(n)) or pools[-1])
    parallel = report.build_model(STUDIES, tmp_path / "b", run, workers=2)
    assert len(pools) == 1

    def numbers(model):
        return [
            (f.spec.inclusion, f.spec.how, f.k, *(float(x).hex() for x in (f.estimate, f.ci_low, f.ci_high)))
            for a in model.analyses
            for mv in a.multiverse
            for f in mv.fits
        ]

    assert numbers(serial) == numbers(parallel)
    assert any(how.method == "BAYES-GLMM" for _, how, *_ in numbers(parallel))
    assert [d.leave_one_out for a in serial.analyses for d in a.diagnostics] == [
        d.leave_one_out for a in parallel.analyses for d in a.diagnostics
    ]
