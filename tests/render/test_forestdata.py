"""From an analysis of the plan to ForestData: rows, intervals, diamonds, strata, subgroups, a second diamond."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.patches import Polygon

from metablina.render.forest import Pooled, draw_forest
from metablina.render.forestdata import (
    display_rows,
    fmt_p,
    forest_data,
    heterogeneity_text,
    model_text,
    short_reason,
)
from metablina.report import run_plan
from metablina.run import run_analysis

STUDIES = Path(__file__).resolve().parents[2] / "studies"
# A SYNTHETIC review whose CRS analysis pools three trials across two settings (overall: true), with
# subgroups by setting: the shipped review keeps settings and grading systems apart, so pools at most two.
THREE = Path(__file__).resolve().parents[1] / "fixtures" / "two-reports"
Z = 1.959963984540054


@pytest.fixture(scope="module")
def run():
    return run_plan(STUDIES)


@pytest.fixture(scope="module")
def by_id(run):
    return {r.analysis.id: r for r in run.results}


@pytest.fixture(scope="module")
def three():
    return run_plan(THREE)


@pytest.fixture(scope="module")
def crs(three):
    return next(r for r in three.results if r.analysis.id == "crs-grade3")


def test_every_analysis_of_the_plan_gives_forest_data(run) -> None:
    for result in run.results:
        if result.analysis.measure in ("RR", "OR", "RD") or result.analysis.landmark is not None:
            continue  # comparisons of two arms: metablina.render.compareforest draws them
        data = forest_data(result)
        assert data.title == result.analysis.title
        rows = [r for g in data.groups for r in g.rows]
        assert len(rows) == len(result.selection.rows)
        assert data.scale == ("ratio" if result.analysis.measure == "HR" else "proportion")


def test_pooled_analysis_with_subgroups(crs) -> None:
    result = crs
    data = forest_data(result)
    assert [g.label for g in data.groups] == [s.label for s in result.subgroups]
    back = result.primary.result.back()
    overall, bayes = data.overall
    post = result.primary.bayes[0].result.back()  # the plan's prior: the open diamond, no PI bar
    assert (bayes.kind, bayes.estimate, bayes.ci_low, bayes.ci_high) == (
        "bayes",
        post["estimate"],
        post["ci_low"],
        post["ci_high"],
    )
    assert bayes.pi_low is None and any(
        "Open diamond: Bayesian random effects, half-normal(1)" in n for n in data.notes
    )
    assert (overall.estimate, overall.ci_low, overall.ci_high) == (
        back["estimate"],
        back["ci_low"],
        back["ci_high"],
    )
    assert (overall.pi_low, overall.pi_high) == (back["pi_low"], back["pi_high"])
    assert overall.kind == "frequentist"
    pooled_groups = [g for g in data.groups if g.subtotals]
    refused = [g for g in data.groups if g.refusal]
    assert len(pooled_groups) + len(refused) == len(data.groups)
    assert all(g.heterogeneity.startswith("Heterogeneity: τ² = ") for g in pooled_groups)
    assert data.heterogeneity and "LRT" in data.heterogeneity  # a GLMM prints the Wald and LR tests
    assert data.model.startswith("Random effects, binomial-normal GLMM (ML) on the logit scale")
    assert "t(k−1 = 2)" in data.model
    assert data.subgroup_test.startswith("Test for subgroup differences")
    assert data.null_value == 0.05  # the plan's decision threshold
    assert all(r.weight is None for g in data.groups for r in g.rows)  # a GLMM has no study weights


def test_strata_have_no_overall_diamond_and_say_why(by_id) -> None:
    result = by_id["crs-by-grade"]
    data = forest_data(result)
    assert data.overall == ()
    assert [g.label for g in data.groups] == [s.label for s in result.strata]
    for g, s in zip(data.groups, result.strata, strict=True):
        if s.pooled:
            assert [d.kind for d in g.subtotals] == ["frequentist", "bayes"] and g.refusal is None
        else:
            assert g.subtotals == () and g.refusal == "single study (k = 1)"
    assert any(n.startswith("No overall estimate: not pooled across strata") for n in data.notes)


def test_k1_analysis_shows_the_study_with_the_reason(by_id) -> None:
    data = forest_data(by_id["infection-grade3"])
    (group,) = data.groups
    assert len(group.rows) == 1 and group.refusal == "single study (k = 1)" and data.overall == ()
    assert data.model == "" and data.heterogeneity is None


def test_failed_fit_and_plan_refusals_are_shown(by_id) -> None:
    data = forest_data(by_id["mrd-response-mrd-positive"])
    assert "GLMM could not be fitted (every study has xi = ni)" in [g.refusal for g in data.groups]
    data = forest_data(by_id["efs-hazard-ratio-strata"])
    assert data.groups[0].refusal == "the plan shows these records unpooled"


def test_inverse_variance_weights_match_the_fit(three, crs) -> None:
    analysis = crs.analysis
    result = run_analysis(
        list(three.rows), analysis.model_copy(update={"subgroup": None}), method="REML", ci="hksj"
    )
    data = forest_data(result)
    weights = [r.weight for r in data.groups[0].rows]
    assert weights == pytest.approx(list(result.primary.result.fit.weights), rel=1e-12)
    assert sum(weights) == pytest.approx(100.0)
    assert "Hartung–Knapp" in data.model and "REML" in data.model


def test_proportion_rows_use_exact_intervals(by_id) -> None:
    rows = [r for s in by_id["crs-grade3"].strata for r in s.rows]  # one study in each stratum
    shown = {d.row.study: d for d in display_rows(rows, "PLO")}
    zero = shown["bch-infant-2025"]  # 0/11: [0, 1 - (alpha/2)^(1/n)] in closed form
    assert (zero.estimate, zero.ci_low) == (0.0, 0.0)
    assert zero.ci_high == pytest.approx(1 - 0.025 ** (1 / 11), rel=1e-9)
    nine = shown["cclg-frontline-2025"]  # 9/202 from a printed 4.5%
    assert nine.detail == "9/202" and nine.note == "from 4.5%; grading not stated; conference abstract"
    assert nine.ci_source == "exact"


def test_hazard_ratio_from_p_gets_a_wald_interval_on_the_log_scale(by_id) -> None:
    (d,) = display_rows(by_id["os-hazard-ratio"].strata[0].rows, "HR")
    r = d.row
    assert d.ci_source == "se"
    assert (d.ci_low, d.ci_high) == pytest.approx(
        (math.exp(r.yi - Z * r.sei), math.exp(r.yi + Z * r.sei)), rel=1e-12
    )
    assert d.detail == "0.34 (p = 0.002)"
    data = forest_data(by_id["os-hazard-ratio"])
    assert data.scale == "ratio" and data.favours == ("Favours blinatumomab", "Favours chemotherapy")


def test_km_rows_swap_interval_ends(by_id) -> None:
    rows = by_id["efs-landmark"].selection.rows
    for d in display_rows(rows, "KM"):
        assert d.ci_low < d.estimate < d.ci_high
    se = next(d for d in display_rows(rows, "KM") if d.ci_source == "se")
    assert se.detail == "73.3 ± 8.1"


def test_extra_diamonds_follow_the_frequentist_one(crs) -> None:
    """The hook for a Bayesian posterior: an open diamond after each pooled set's filled one."""
    result = crs

    def bayes(stratum):
        b = stratum.result.back()
        return [
            Pooled(
                "Bayesian (half-normal prior)", b["estimate"], b["ci_low"] * 0.9, b["ci_high"], kind="bayes"
            )
        ]

    data = forest_data(result, extra=bayes)
    assert [p.kind for p in data.overall] == ["frequentist", "bayes"]
    for g in data.groups:
        if g.subtotals:
            assert [p.kind for p in g.subtotals] == ["frequentist", "bayes"]
    ax = draw_forest(data)
    gids = [p.get_gid() for p in ax.patches if isinstance(p, Polygon)]
    assert gids.count("diamond-bayes") == 1 + sum(1 for g in data.groups if g.subtotals)


def test_texts(crs) -> None:
    assert fmt_p(0.0004) == "< 0.001" and fmt_p(0.0123) == "= 0.012" and fmt_p(0.5) == "= 0.50"
    assert fmt_p(None) == "NA" and fmt_p(float("nan")) == "NA"
    assert (
        short_reason("k = 1: shown as the study itself, not as a pooled estimate") == "single study (k = 1)"
    )
    fit = crs.primary.result
    d = fit.to_dict()
    text = heterogeneity_text(fit)
    assert f"τ² = {d['tau2']:.3f}" in text and f"I² = {d['i2']:.0f}%" in text
    assert f"Wald Q = {d['q']:.2f}, df = {d['q_df']}" in text
    assert model_text(fit).endswith("95% CI and PI with t(k−1 = 2)")
    assert np.isfinite(d["estimate"])


def test_a_row_of_an_earlier_cut_is_not_labelled_with_the_reports_kind(run) -> None:
    """The phase 3 trial's OS HR 0.34 is of its 2-year analysis (cut 2021-09), quoted in the 5-year
    letter (a final analysis, cut 2022-11-21): the label says so, not "final analysis, cut 2021-09"."""
    from metablina.render.forestdata import context

    rows = {r.record: r for r in run.rows if r.study == "locatelli-relapse-phase3-2025"}
    assert context(rows["os-hr-2y-analysis"]).startswith(
        "cut 2021-09, reported in the final analysis (cut 2022-11-21)"
    )
    assert context(rows["os-km60-chemotherapy"]) == "final analysis, cut 2022-11-21"
