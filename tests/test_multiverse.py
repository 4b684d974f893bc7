"""The multiverse of an analysis (issue 14): enumeration counted by hand, guards kept, every specification
equal to pooling it alone, the summary's shares, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from metablina import multiverse as M
from metablina.analyze import pool
from metablina.cli import main
from metablina.plan import MULTIVERSE_INCLUSION, Analysis, Multiverse
from metablina.run import columns_of, load_everything
from metablina.stats.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
TWO_REPORTS = (
    ROOT / "tests" / "fixtures" / "two-reports"
)  # SYNTHETIC review: three trials, two reports of one
STUDIES = ROOT / "studies"
COMPARISONS = ROOT / "tests" / "fixtures" / "comparisons"  # SYNTHETIC two-arm trials


@pytest.fixture(scope="module")
def synthetic():
    _, rows, plan = load_everything(TWO_REPORTS)
    return rows, {a.id: a for a in plan.analyses}


@pytest.fixture(scope="module")
def comparisons():
    _, rows, plan = load_everything(COMPARISONS)
    return rows, {a.id: a for a in plan.analyses}


@pytest.fixture(scope="module")
def shipped():
    _, rows, plan = load_everything(STUDIES)
    return rows, {a.id: a for a in plan.analyses}


def with_multiverse(a: Analysis, **choices) -> Analysis:
    return a.model_copy(update={"multiverse": Multiverse(**choices)})


# ------------------------------------------------------------------------------------------ enumeration


def test_small_plan_counted_by_hand(synthetic):
    """crs-grade3 of the SYNTHETIC review pools KAPPA (update), LAMBDA and MU. Inclusion: the plan and each
    trial left out = 4 record sets. How, by hand: PLO: GLMM z and t (hksj asks the GLMM for its t), common
    effect z only (no HKSJ for it), REML z and hksj, Bayesian at one prior scale = 6; PFT: no GLMM and no
    agreed prior on its scale, so common effect z, REML z and hksj = 3. 4 x 9 = 36."""
    rows, by_id = synthetic
    a = with_multiverse(
        by_id["crs-grade3"],
        measures=["PLO", "PFT"],
        models=["GLMM", "FE", "REML", "BAYES"],
        intervals=["z", "hksj"],
        prior_scales=[1],
        inclusion=["leave_one_out"],
    )
    (mv,) = M.enumerate_specs(rows, a)
    assert len(mv.specs) == 36
    sets = {tuple(s.studies) for s in mv.specs}
    assert sets == {
        ("synthetic-kappa-update", "synthetic-lambda", "synthetic-mu"),
        ("synthetic-lambda", "synthetic-mu"),
        ("synthetic-kappa-update", "synthetic-mu"),
        ("synthetic-kappa-update", "synthetic-lambda"),
    }
    hows = {(s.how.measure, s.how.method, s.how.interval) for s in mv.specs}
    assert hows == {
        ("PLO", "GLMM", "z"),
        ("PLO", "GLMM", "t"),
        ("PLO", "FE", "z"),
        ("PLO", "REML", "z"),
        ("PLO", "REML", "hksj"),
        ("PLO", "BAYES-GLMM", "credible"),
        ("PFT", "FE", "z"),
        ("PFT", "REML", "z"),
        ("PFT", "REML", "hksj"),
    }
    primary = [s for s in mv.specs if s.primary]
    assert len(primary) == 1
    assert (primary[0].inclusion, primary[0].how.method, primary[0].how.interval) == (
        "as planned",
        "GLMM",
        "t",
    )


def test_default_grid_counted_by_hand(synthetic):
    """Defaults: PLO 2 (GLMM) + 1 (common effect) + 8 estimators x 3 intervals + 3 prior scales = 30;
    PFT and PAS 25 each (no GLMM, no Bayesian prior on their scales) = 80 ways; record sets: the plan, each
    trial left out, first relapse alone (= without MU: one set), frontline alone (k = 1: none) = 4."""
    rows, by_id = synthetic
    (mv,) = M.enumerate_specs(rows, by_id["crs-grade3"])
    assert len(M.how_choices(by_id["crs-grade3"])) == 80
    assert len(mv.specs) == 320
    labels = {s.inclusion for s in mv.specs}
    assert "first relapse alone" in labels and "without synthetic-mu" not in labels  # same records: one


def test_bayesian_specifications_only_up_to_bayes_max_k(synthetic):
    """crs-grade3 pools 3 records in the plan's set and 2 in each trial-left-out set: with bayes_max_k = 2
    the 3 prior scales stay only where k = 2 (3 sets), except the plan's primary, which is never dropped."""
    rows, by_id = synthetic
    a = by_id["crs-grade3"]
    (every,) = M.enumerate_specs(rows, a)
    (capped,) = M.enumerate_specs(rows, with_multiverse(a, bayes_max_k=2))
    bayes = [s for s in capped.specs if s.how.method == "BAYES-GLMM"]
    assert {len(s.rows) for s in bayes} == {2} and len(bayes) == 3 * 3
    assert len(every.specs) - len(capped.specs) == 3  # the plan's set loses its three Bayesian fits
    primary = with_multiverse(a.model_copy(update={"primary": "bayes"}), bayes_max_k=2)
    (mv,) = M.enumerate_specs(rows, primary)
    assert [s.how.method for s in mv.specs if s.primary] == ["BAYES-GLMM"]


def test_the_primary_specification_is_the_estimate_the_summary_uses(synthetic, monkeypatch):
    """With ``primary: bayes`` the summary and the SoF use the Bayesian fit only where the report makes it
    (2 <= k <= BAYES_MAX_K) and the plan's model beyond; the multiverse's primary follows. It once stayed
    Bayesian at any k: a 200-study review marked as primary, and fitted for 1.2 s each, Bayesian fits at
    k = 197 that no table showed."""
    from metablina import run
    from metablina.render.sof import primary_result

    rows, by_id = synthetic
    a = by_id["crs-grade3"].model_copy(update={"primary": "bayes"})
    for cap, method in ((3, "BAYES-GLMM"), (2, "GLMM")):
        monkeypatch.setattr(run, "BAYES_MAX_K", cap)
        (mv,) = M.enumerate_specs(rows, a)
        (primary,) = [s for s in mv.specs if s.primary]
        assert primary.how.method == method and len(primary.rows) == 3
        (stratum,) = [s for s in run.run_analysis(rows, a).strata if len(s.rows) == 3]
        assert primary_result(stratum, a)[0].method == method
    # beyond bayes_max_k no Bayesian specification is left, the primary no longer among them
    (capped,) = M.enumerate_specs(rows, with_multiverse(a, bayes_max_k=2))
    assert not [s for s in capped.specs if s.how.method == "BAYES-GLMM" and len(s.rows) == 3]


def test_each_study_left_out_only_up_to_leave_one_out_max_k(synthetic):
    """crs-grade3 pools 3 studies: with leave_one_out_max_k = 2 no study is left out (the other inclusion
    choices stay: first relapse alone), with 3 each of them is."""
    rows, by_id = synthetic
    a = by_id["crs-grade3"]

    def kinds(max_k: int) -> list[str]:
        (mv,) = M.enumerate_specs(rows, with_multiverse(a, leave_one_out_max_k=max_k))
        return sorted({s.inclusion for s in mv.specs})

    assert kinds(2) == ["as planned", "first relapse alone"]
    assert kinds(3) == [
        "as planned",
        "first relapse alone",
        "without synthetic-kappa-update",
        "without synthetic-lambda",
    ]


def test_forbidden_combinations_absent(synthetic):
    rows, by_id = synthetic
    (mv,) = M.enumerate_specs(rows, by_id["crs-grade3"])
    for s in mv.specs:
        m, method, ci = s.how.measure, s.how.method, s.how.interval
        assert not (method == "GLMM" and m != "PLO"), s
        assert not (method == "FE" and ci != "z"), s
        assert not (method == "BAYES-GLMM" and m != "PLO"), s
        assert not (m in ("PFT", "PAS") and s.how.prior is not None), s
        assert not (method == "GLMM" and ci in ("hksj", "hksj-adhoc")), s
        assert len(s.rows) >= 2
        # one report per trial (a guard): the two KAPPA reports never share a specification
        assert not {"synthetic-kappa-update", "synthetic-kappa-primary"} <= set(s.studies)


def test_inclusion_sets_keep_the_guards(shipped):
    """Every inclusion choice runs through select_rows: overlapping cohorts (bch-firstline-2024 and
    bch-infant-2025) never share a record set, whichever is kept."""
    rows, by_id = shipped
    incl = M.inclusions(rows, by_id["relapse"])
    kinds = [i.kind for i in incl]
    assert kinds[0] == "plan" and "overlap" in kinds
    for inc in incl:
        studies = {r.study for r in inc.selection.rows}
        assert not {"bch-firstline-2024", "bch-infant-2025"} <= studies, inc.label
    rob = next(i for i in incl if i.kind == "risk_of_bias")
    assert rob.label == "without serious or high or critical risk of bias"
    assert all(r.risk_of_bias not in ("serious", "high", "critical") for r in rob.selection.rows)
    assert any(d.reason == "risk of bias serious" for d in rob.selection.decisions)
    swapped = next(i for i in incl if i.label.startswith("keeping bch-infant-2025"))
    assert {r.study for r in swapped.selection.rows} == {"bch-infant-2025"}
    assert any(
        d.action == "excluded" and d.subject == "bch-firstline-2024" for d in swapped.selection.decisions
    )


def test_guard_strata_are_separate_multiverses(shipped):
    """crs-grade3 of the shipped review: settings and grading systems are strata of one study each, so no
    stratum of the plan pools; each says why. The one multiverse is the departure that pools grading
    systems within the frontline setting (the setting guard still holds: first relapse stays apart)."""
    rows, by_id = shipped
    no_definition = with_multiverse(
        by_id["crs-grade3"], inclusion=[k for k in MULTIVERSE_INCLUSION if k != "definition"]
    )
    assert M.enumerate_specs(rows, no_definition) == []
    unpooled = M.unpooled_strata(rows, by_id["crs-grade3"])
    assert [(k, why[:5]) for _, k, why in unpooled] == [(1, "k = 1")] * 3
    (mv,) = M.enumerate_specs(rows, by_id["crs-grade3"])
    assert mv.stratum == "frontline; grading systems pooled"
    assert {s.inclusion_kind for s in mv.specs} == {"definition"}
    assert not any(s.primary for s in mv.specs)
    assert {r.key for s in mv.specs for r in s.rows} == {
        "bch-infant-2025/crs-g3",
        "cclg-frontline-2025/crs-g3",
    }
    assert "'frontline; graded by CTCAE v5.0' and 'frontline; grading not stated'" in mv.departure
    neuro = M.enumerate_specs(rows, by_id["neuro-grade3"])
    assert [m.stratum for m in neuro] == ["frontline; grading not stated"]  # nothing for pooling to join
    assert neuro[0].departure is None


def test_pooled_definitions_by_hand(shipped):
    """The departure's numbers, computed here from the extracts' counts: CCLG 9/202 grade >= 3 CRS (grading
    not stated), BCH infants 0/11 (CTCAE v5.0; 0.5 added to its cells only). Common-effect logit and
    Freeman-Tukey, as metafor's escalc/rma define them."""
    rows, by_id = shipped
    (mv,) = M.multiverse(rows, by_id["crs-grade3"])
    by = {(f.spec.how.measure, f.spec.how.method, f.spec.how.interval): f for f in mv.fits}
    y = np.array([math.log(9 / 193), math.log(0.5 / 11.5)])
    v = np.array([1 / 9 + 1 / 193, 1 / 0.5 + 1 / 11.5])
    w = 1 / v
    mu, se = float(np.sum(w * y) / np.sum(w)), float(1 / math.sqrt(np.sum(w)))
    expit = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    fe = by[("PLO", "FE", "z")]
    assert fe.y == pytest.approx(mu, rel=1e-12)
    assert (fe.estimate, fe.ci_low, fe.ci_high) == pytest.approx(
        (expit(mu), expit(mu - 1.959963984540054 * se), expit(mu + 1.959963984540054 * se)), rel=1e-9
    )
    x, n = np.array([9, 0]), np.array([202, 11])
    yft = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
    vft = 1 / (4 * n + 2)
    assert by[("PFT", "FE", "z")].y == pytest.approx(float(np.sum(yft / vft) / np.sum(1 / vft)), rel=1e-12)
    assert M.records([mv])[0]["primary"] is False


def test_pool_definitions_sensitivity_keeps_one_record_per_study(shipped):
    """A study reporting one estimand under two grading systems enters the pooled-definitions variant once
    (by the record preference), and the decision says which records of which systems were pooled."""
    from dataclasses import replace

    from metablina.plan import Sensitivity, select_rows

    rows, by_id = shipped
    a = by_id["crs-grade3"]
    bch = next(r for r in rows if r.key == "bch-infant-2025/crs-g3")
    twin = replace(bch, record="crs-g3-astct", grading="ASTCT 2019", total=10, events=0)
    v = Sensitivity(id="any-grading", label="any grading", pool_definitions=True)
    sel = select_rows([*rows, twin], a, v)
    frontline = next(s for s in sel.strata if "frontline" in s.label)
    assert sorted(r.key for r in frontline.rows) == ["bch-infant-2025/crs-g3", "cclg-frontline-2025/crs-g3"]
    assert any(d.subject == twin.key and d.action == "excluded" for d in sel.decisions)
    assert any("grading system pooled (sensitivity 'any grading')" in d.reason for d in sel.decisions)
    assert "grading" not in sel.keys and "setting" in sel.keys  # the setting guard still holds
    plain = select_rows([*rows, twin], a)
    assert "grading" in plain.keys


def test_disabled_and_measure_of_another_kind(synthetic, tmp_path):
    rows, by_id = synthetic
    assert M.enumerate_specs(rows, with_multiverse(by_id["crs-grade3"], enabled=False)) == []
    with pytest.raises(ValueError, match="measure RR cannot pool the analysis's records"):
        Analysis.model_validate({**by_id["crs-grade3"].model_dump(), "multiverse": {"measures": ["RR"]}})
    # in a plan file: one located line, as validate prints it
    import shutil

    from metablina.plan import read_plan

    shutil.copytree(TWO_REPORTS, tmp_path / "review")
    plan = tmp_path / "review" / "analyses.yaml"
    text = plan.read_text().replace(
        "    threshold: 0.05\n", "    threshold: 0.05\n    multiverse: {measures: [RR]}\n", 1
    )
    plan.write_text(text)
    (problem,) = read_plan(plan).problems
    assert str(problem).endswith(
        "analyses.yaml:13: analyses[0].multiverse: measure RR cannot pool the analysis's records (PLO)"
    )


# ------------------------------------------------------------------------------------------ numbers


def one_at_a_time(spec):
    ci = None if spec.how.interval == "credible" else spec.how.interval
    cols = columns_of(spec.rows)
    return pool(
        spec.how.measure,
        spec.how.method,
        ci,
        cols,
        [r.label for r in spec.rows],
        tau_prior=spec.how.prior,
        shrinkage=False,
    )


@pytest.mark.parametrize(
    ("review", "analysis"),
    [
        ("synthetic", "crs-grade3"),
        ("synthetic", "efs-hazard-ratio"),
        ("comparisons", "relapse-rr"),  # RR, OR, RD: MH, Peto, the UM.FS GLMM, Bayesian normal-normal
    ],
)
def test_every_specification_equals_pooling_it_alone(request, review, analysis):
    """Each batched specification gives the numbers of analyze.pool on its own: inverse variance to 1e-10,
    the GLMMs and the Bayesian models to 1e-7 (the GLMM's own tolerance: Newton steps below
    1e-9, the OR model's SE from a finite-difference Hessian), analysis and natural scale."""
    rows, by_id = request.getfixturevalue(review)
    mvs = M.multiverse(rows, by_id[analysis])
    assert mvs
    checked = 0
    for mv in mvs:
        for f in mv.fits:
            try:
                r = one_at_a_time(f.spec)
            except InputError:
                assert f.error is not None
                continue
            tol = 1e-10 if f.spec.how.method not in ("GLMM", "BAYES-GLMM", "BAYES") else 1e-7
            fit = r.fit
            assert f.y == pytest.approx(float(fit.estimate), abs=tol, rel=tol)
            assert f.y_low == pytest.approx(float(fit.ci_low), abs=tol, rel=tol)
            assert f.y_high == pytest.approx(float(fit.ci_high), abs=tol, rel=tol)
            back = r.back()
            assert f.estimate == pytest.approx(back["estimate"], abs=tol, rel=tol)
            assert (f.ci_low, f.ci_high) == pytest.approx((back["ci_low"], back["ci_high"]), abs=tol, rel=tol)
            assert f.k == r.k
            checked += 1
    assert checked == sum(len(mv.fits) for mv in mvs)


def test_fitted_together_equals_fitted_apart(synthetic, shipped):
    """The report fits every analysis's multiverse in one go; each equals its own."""
    rows, by_id = shipped
    together = M.review_multiverse(rows, list(by_id.values()))
    alone = M.multiverse(rows, by_id["hsct"])
    assert [f.estimate for f in together["hsct"][0].fits] == [f.estimate for f in alone[0].fits]


def test_bayesian_specifications_fitted_in_workers_are_the_same(shipped, tmp_path, monkeypatch):
    """With workers, the binomial-normal Bayesian specifications are fitted in forked processes (the
    threshold lowered so that the shipped review's few are), and every number is the same."""
    import os

    rows, by_id = shipped
    analyses = list(by_id.values())
    one = M.review_multiverse(rows, analyses)
    seen = tmp_path / "pids"
    fit_tables = M._fit_tables

    def spy(how, tables, effects):  # a forked worker finds it as the parent left the module
        if how.method == "BAYES-GLMM":
            with seen.open("a") as f:
                f.write(f"{os.getpid()} {len(tables)}\n")
        return fit_tables(how, tables, effects)

    monkeypatch.setattr(M, "PARALLEL_BAYES_CELLS", 0)
    monkeypatch.setattr(M, "_fit_tables", spy)
    two = M.review_multiverse(rows, analyses, workers=2)
    calls = [line.split() for line in seen.read_text().splitlines()]
    assert calls and all(int(pid) != os.getpid() for pid, _ in calls)
    bayes = sum(f.spec.how.method == "BAYES-GLMM" for mvs in one.values() for mv in mvs for f in mv.fits)
    assert bayes > 0 and sum(int(n) for _, n in calls) <= bayes  # each table once; known fits not again

    def numbers(mvs):  # bit for bit, NaN included
        return [
            (f.spec, f.k, f.error, *(float(x).hex() for x in (f.estimate, f.ci_low, f.ci_high)))
            for mv in mvs
            for f in mv.fits
        ]

    assert all(numbers(one[aid]) == numbers(two[aid]) for aid in one)


# ------------------------------------------------------------------------------------------ summary


def fitted(est, lo, hi, measure="PLO", method="REML", error=None):
    spec = M.Specification("as planned", "plan", M.How(measure, method, "z"), (), False)
    return M.Fitted(spec, 3, math.nan, math.nan, math.nan, est, lo, hi, error)


def test_summary_shares_on_a_constructed_case(synthetic):
    """Threshold 5%: CIs [1%, 4%] and [2%, 4.9%] wholly below, [6%, 10%] wholly above, [3%, 7%] spans it
    (and [5%, 8%], touching it, is not wholly above): below 2/5, above 1/5. Median of 2.5, 3.5, 8, 5, 6
    = 5; range 2.5 to 8. A failed fit and an RD on another scale are counted apart."""
    _, by_id = synthetic
    a = by_id["crs-grade3"]
    assert a.threshold == 0.05
    fits = (
        fitted(0.025, 0.01, 0.04),
        fitted(0.035, 0.02, 0.049),
        fitted(0.08, 0.06, 0.10),
        fitted(0.05, 0.03, 0.07),
        fitted(0.06, 0.05, 0.08),
        fitted(math.nan, math.nan, math.nan, error="no events"),
        fitted(0.01, -0.02, 0.04, measure="RD"),
    )
    s = M.StratumMultiverse(a, "", tuple(f.spec for f in fits), fits).summary()
    assert (s.n, s.n_failed, s.n_other_scale) == (5, 1, 1)
    assert s.below == pytest.approx(2 / 5) and s.above == pytest.approx(1 / 5)
    assert (s.median, s.low, s.high) == pytest.approx((0.05, 0.025, 0.08))
    text = s.text(lambda v: f"{100 * v:.1f}%")
    assert "5 specifications" in text and "CI wholly below 5.0%: 40%" in text and "wholly above: 20%" in text


# ------------------------------------------------------------------------------------------ command line


def run_cli(*args: str):
    return CliRunner().invoke(main, ["multiverse", *args])


def test_cli_table_csv_json(synthetic):
    rows, by_id = synthetic
    (mv,) = M.multiverse(rows, by_id["crs-grade3"])
    table = run_cli("crs-grade3", "--studies", str(TWO_REPORTS))
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0] == "crs-grade3"
    assert lines[1].strip().startswith("320 specifications; median")
    assert sum(1 for line in lines if line.startswith("*  as planned")) == 1
    assert sum(1 for line in lines if line.endswith("%]")) == 320

    out = run_cli("crs-grade3", "--studies", str(TWO_REPORTS), "--format", "csv")
    assert out.exit_code == 0
    csv_lines = out.output.splitlines()
    assert csv_lines[0] == ",".join(M.COLUMNS) and len(csv_lines) == 321

    out = run_cli("crs-grade3", "--studies", str(TWO_REPORTS), "--format", "json")
    doc = json.loads(out.output)
    assert len(doc["specifications"]) == 320
    assert doc["multiverses"][0]["summary"]["n"] == 320
    inclusions = doc["multiverses"][0]["inclusions"]
    assert inclusions[0]["label"] == "as planned"
    left_out = next(i for i in inclusions if i["label"] == "without synthetic-lambda")
    assert any(d.startswith("excluded: synthetic-lambda") for d in left_out["decisions"])
    assert any("synthetic-kappa-primary" in d for d in inclusions[0]["decisions"])  # one report per trial
    (primary,) = [s for s in doc["specifications"] if s["primary"]]
    assert primary["model"] == "GLMM" and primary["interval"] == "t(k-1)"
    assert primary["estimate"] == pytest.approx(
        next(f.estimate for f in mv.fits if f.spec.primary), rel=1e-12
    )


def test_cli_shipped_crs_grade3_and_errors():
    out = run_cli("crs-grade3")
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[0] == "crs-grade3 (frontline; grading systems pooled)"
    assert lines[1].startswith("  80 specifications; median ")
    assert lines[2].startswith(
        "  A departure: the plan does not pool these records: they differ in grading system"
    )
    assert "* the plan's primary specification" not in out.output
    assert sum(1 for line in lines if line.startswith("  grading systems pooled  ")) == 80
    assert lines[-5:] == [
        "strata without a specification:",
        "  stratum                               k  why",
        "  first relapse; graded by CTCAE v4.0   1  k = 1: shown as the study itself, not as a pooled estimate",
        "  frontline; graded by CTCAE v5.0       1  k = 1: shown as the study itself, not as a pooled estimate",
        "  frontline; grading not stated         1  k = 1: shown as the study itself, not as a pooled estimate",
    ]
    mixed = run_cli("neuro-grade3").output  # one stratum pools, the other is a single study
    assert "strata without a specification:" in mixed and mixed.startswith("neuro-grade3 (frontline")
    bad = run_cli("no-such-analysis")
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [
        "error: no analysis 'no-such-analysis' in studies; `metablina analyses` lists them"
    ]
    assert "Traceback" not in bad.output


def test_curve_payload_holds_the_primary_and_threshold(synthetic):
    rows, by_id = synthetic
    (mv,) = M.multiverse(rows, by_id["crs-grade3"])
    p = M.curve_payload(mv)
    assert len(p["estimate"]) == 320 and p["threshold"] == 0.05 and p["scale"] == "proportion"
    assert (
        p["choices"]["model"][p["primary"]] == "GLMM" and p["choices"]["interval"][p["primary"]] == "t(k-1)"
    )
    assert list(dict.fromkeys(p["choices"]["model"]))[:3] == ["GLMM", "common effect", "DL"]
    assert set(p["choices"]) == set(M.DIMENSIONS)
    assert np.all(np.asarray(p["ci_low"]) <= np.asarray(p["estimate"]))


def test_known_fits_are_the_same_numbers(shipped):
    """The report passes what the plan's run pooled already (known_fits); the multiverse is the same."""
    from metablina.run import run_review

    run = run_review(STUDIES)
    known = M.known_fits(run.results)
    assert len(known) >= 6  # hsct and neuro-grade3: the plan's fit and three Bayesian priors each, at least
    fresh = M.review_multiverse(run.rows, run.plan.analyses)
    reused = M.review_multiverse(run.rows, run.plan.analyses, known)
    for aid, mvs in fresh.items():
        for a, b in zip(mvs, reused[aid], strict=True):
            for f, g in zip(a.fits, b.fits, strict=True):
                assert f.ok == g.ok
                if f.ok:
                    tol = 1e-10 if f.spec.how.method not in ("GLMM", "BAYES-GLMM", "BAYES") else 1e-7
                    assert (g.estimate, g.ci_low, g.ci_high) == pytest.approx(
                        (f.estimate, f.ci_low, f.ci_high), abs=tol, rel=tol
                    )


def test_a_primary_that_cannot_be_fitted_is_said(shipped):
    """mrd-response (MRD unspecified: every patient converted) cannot be fitted by the plan's GLMM nor by
    the binomial-normal Bayesian model; the other 75 specifications are drawn, and the curve says why the
    primary is missing."""
    rows, by_id = shipped
    (mv,) = M.multiverse(rows, by_id["mrd-response-mrd-positive"])
    s = mv.summary()
    assert (s.n, s.n_failed, s.primary) == (75, 5, None)
    assert "xi = ni" in M.primary_error(mv)
    p = M.curve_payload(mv)
    assert p["primary"] is None and "the plan's primary specification could not be fitted" in p["note"]


def test_each_admissible_timepoint_alone(shipped):
    """The plan's timepoint list is an order of preference; each timepoint alone is an inclusion level,
    selected through the guards (the CCLG trial's MFC records at the end of induction, and at the end of
    consolidation in its high-risk group)."""
    rows, by_id = shipped
    a = by_id["mrd-mfc-all-treated"]
    assert a.select.timepoint[:2] == ["end-of-induction", "end-of-consolidation"]
    incl = {i.label: i for i in M.inclusions(rows, a) if i.kind == "timepoint"}
    assert list(incl) == [f"timepoint {t} only" for t in a.select.timepoint]
    for t in a.select.timepoint:
        assert {r.timepoint for r in incl[f"timepoint {t} only"].selection.rows} <= {t}
    assert incl["timepoint end-of-consolidation only"].selection.rows
