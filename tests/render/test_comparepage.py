"""Comparative analyses in the report: the forest data, the page's tables, the verdict and the methods
paragraph, on the SYNTHETIC fixture review of four two-arm trials (one three-armed, one with zero cells)."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pytest

from metablina.render import comparepage
from metablina.render.compareforest import analysis_forest_data, favourable_side
from metablina.render.report import render_page, summary_context
from metablina.report import build_model, run_plan

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "comparisons"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    run = run_plan(FIXTURE)
    return build_model(FIXTURE, tmp_path_factory.mktemp("out"), run)


@pytest.fixture(scope="module")
def page(model) -> str:
    return html.unescape(render_page(model))


def report_of(model, aid: str):
    return next(ar for ar in model.analyses if ar.result.analysis.id == aid)


def section(page: str, aid: str) -> str:
    start = page.index(f'<section id="{aid}">')
    return page[start : page.index("</section>", start)]


def test_comparative_analyses_are_drawn_as_two_arm_forest_plots(model):
    for aid in ("relapse-rr", "relapse-or", "relapse-rd", "ae-g3-rr", "efs-hr", "alpha-relapse"):
        data = report_of(model, aid).forest
        assert data.symmetric and data.favours is not None
        assert data.scale == ("difference" if aid == "relapse-rd" else "ratio")
    rr = report_of(model, "relapse-rr").forest
    assert [c.header for c in rr.columns] == ["Events", "Total", "Events", "Total"]
    rows = {r.label: r for g in rr.groups for r in g.rows}
    c = report_of(model, "relapse-rr").result.strata[0].comparison
    for s in c.rows:  # arm counts as the engine paired them, the three-armed trial's arms combined
        cells = (s.intervention_events, s.intervention_total, s.control_events, s.control_total)
        assert rows[s.label].cells == tuple(str(x) for x in cells)
    assert rows["synthetic-gamma"].cells == ("11", "60", "14", "32")
    assert rows["synthetic-delta"].mark == "*" and any("0.5 added" in n for n in rr.notes)
    glmm = report_of(model, "relapse-or").forest  # no weights, and the plot says why
    assert all(r.weight is None for g in glmm.groups for r in g.rows)
    assert any(n.startswith("No study weights") for n in glmm.notes)
    assert "; Wald Q = " in glmm.heterogeneity


def test_relapse_is_a_harm_lower_favours_the_intervention(model):
    a = report_of(model, "relapse-rr").result.analysis
    assert favourable_side(a) == "lower"
    (ctx,) = comparepage.comparison_context(report_of(model, "relapse-rr"), model)
    assert report_of(model, "relapse-rr").forest.favours == (
        f"Favours {ctx['intervention']}",
        f"Favours {ctx['control']}",
    )
    # the three-armed trial's "blinatumomab-low + blinatumomab-high" and the others' "blinatumomab"
    assert (ctx["intervention"], ctx["control"]) == ("blinatumomab", "chemotherapy")


def test_one_trial_is_shown_as_itself_not_pooled(model, page):
    data = report_of(model, "alpha-relapse").forest
    (group,) = data.groups
    assert group.refusal and not data.overall and data.heterogeneity is None
    assert all(r.weight is None for r in group.rows)
    text = section(page, "alpha-relapse")
    assert "Not pooled: k = 1" in text
    assert "not pooled (one study); the trial's own effect: RR 0.50 [0.28, 0.91]" in text


def test_page_shows_arm_counts_relative_and_absolute_effects(model, page):
    text = section(page, "relapse-rr")
    for cells in ("12/60", "24/60", "0/25", "4/24", "11/60", "14/32"):
        assert f'<td class="num">{cells}</td>' in text
    c = report_of(model, "relapse-rr").result.strata[0].comparison
    a = c.absolute
    pooled = c.pooled
    # GRADE SoF numbers, by hand from the pooled RR and the comparator risk held fixed
    acr = a.acr
    assert a.control_per_1000 == pytest.approx(1000 * acr, rel=1e-12)
    for got, rr in (
        (a.intervention_per_1000, pooled["estimate"]),
        (a.intervention_low, pooled["ci_low"]),
        (a.intervention_high, pooled["ci_high"]),
    ):
        assert got == pytest.approx(1000 * acr * rr, rel=1e-9)
    shown = f"{round(a.intervention_per_1000)} ({round(a.intervention_low)} to {round(a.intervention_high)})"
    assert shown in text
    fewer = f"{-round(a.difference_per_1000)} fewer ({-round(a.difference_low)} fewer to"
    assert fewer in text
    assert a.acr_source in text


def test_summary_of_findings_gives_relative_effect_and_absolute_effects(model):
    rows = {g["analysis"]: g["rows"] for g in summary_context(model)}
    (rr,) = rows["relapse-rr"]
    assert rr["estimate_text"].startswith("RR 0.")
    assert re.match(r"\d+ fewer \(\d+ fewer to \d+ (fewer|more)\)$", rr["per_1000_lines"][0])
    assert rr["per_1000_lines"][2].startswith("comparator risk: ")
    (hr,) = rows["efs-hr"]
    assert hr["per_1000_lines"][0].endswith("at 24 months")
    (one,) = rows["alpha-relapse"]
    assert one["single_study"] and one["estimate_text"] == "RR 0.50 [0.28, 0.91]"
    assert one["patients"] == 120  # both arms (60 + 60), not the intervention arm alone
    assert rr["patients"] == 60 + 60 + 45 + 44 + 25 + 24 + 60 + 32


def test_methods_name_measure_model_correction_multi_arm_rule_and_ph_assumption(model):
    rr = comparepage.methods(report_of(model, "relapse-rr"))
    assert "risk ratio (RR)" in rr and "restricted maximum likelihood" in rr
    assert "0.5" in rr and "23.3.4" in rr
    assert "An effect below 1 favours the intervention" in rr
    assert "Mantel–Haenszel" in comparepage.methods(report_of(model, "relapse-or")) or "GLMM" in (
        comparepage.methods(report_of(model, "relapse-or"))
    )
    hr = comparepage.methods(report_of(model, "efs-hr"))
    assert "proportional hazards" in hr and "Tierney" in hr
    two_arms = comparepage.methods(report_of(model, "alpha-relapse"))  # no multi-arm trial: the rule is named
    assert "23.3.4" in two_arms and "Nothing was pooled" in two_arms
    rd = comparepage.methods(report_of(model, "relapse-rd"))
    assert "An effect below 0 favours the intervention" in rd


def test_derived_hazard_ratios_are_marked_on_the_plot_and_in_the_table(model, page):
    data = report_of(model, "efs-hr").forest
    marked = [r for g in data.groups for r in g.rows if r.mark]
    assert marked and all(any(n.startswith(f"{r.mark} Derived:") for n in data.notes) for r in marked)
    assert "Derived: HR" in section(page, "efs-hr")


def test_not_estimable_double_zero_trial_has_no_weight(model):
    data = analysis_forest_data(report_of(model, "ae-g3-rr").result)
    (dz,) = [r for g in data.groups for r in g.rows if math.isnan(r.estimate)]
    assert dz.note.startswith("not estimable") and dz.weight is None and dz.cells == ("0", "25", "0", "24")


def test_strata_share_one_plot_with_their_own_absolute_effects_and_no_overall_diamond():
    """The shipped review's CRS comparison has one stratum per grade (k = 1 each, the grade >= 3 table
    with no events in either arm): each stratum its rows and reason, its absolute effect named."""
    studies = Path(__file__).resolve().parents[2] / "studies"
    run = run_plan(studies)
    result = next(r for r in run.results if r.analysis.id == "crs-comparison")
    data = analysis_forest_data(result)
    labels = [s.label for s in result.strata]
    assert [g.label for g in data.groups] == labels and len(labels) == 2
    assert not data.overall and all(g.refusal for g in data.groups)
    for s in result.strata:
        c = s.comparison
        start = f"{s.label}: Absolute effect" if c.absolute is not None else f"{s.label}: No absolute effect"
        assert any(n.startswith(start) for n in data.notes)
    assert [c.header for c in data.columns] == ["Events", "Total", "Events", "Total"]


def test_fixture_plots_are_drawn_without_overlaps(model):
    from metablina.render.forest import draw_forest
    from tests.render.test_forest import assert_clean_layout

    for ar in model.analyses:
        assert_clean_layout(draw_forest(ar.forest))


def test_tables_give_arm_counts_relative_and_absolute_effects(model, tmp_path):
    import csv
    import json

    from metablina.render.report_tables import write_tables

    write_tables(model, tmp_path)
    summary = {r["analysis"]: r for r in csv.DictReader((tmp_path / "summary.csv").open(encoding="utf-8"))}
    c = report_of(model, "relapse-rr").result.strata[0].comparison
    a = c.absolute
    row = summary["relapse-rr"]
    assert float(row["estimate"]) == pytest.approx(c.pooled["estimate"], rel=1e-5)
    assert int(row["acr_per_1000"]) == round(a.control_per_1000)
    assert (int(row["per_1000"]), int(row["per_1000_low"]), int(row["per_1000_high"])) == (
        round(a.intervention_per_1000),
        round(a.intervention_low),
        round(a.intervention_high),
    )
    assert int(row["diff_per_1000"]) == round(a.difference_per_1000) < 0
    assert row["acr_source"] == a.acr_source
    one = summary["alpha-relapse"]
    assert one["single_study"] == "true" and float(one["estimate"]) == pytest.approx(0.5, abs=0.005)
    assert int(one["patients"]) == 120
    study = [r for r in csv.DictReader((tmp_path / "relapse-rr.csv").open(encoding="utf-8"))]
    gamma = next(r for r in study if r["row_type"] == "study" and r["study"] == "synthetic-gamma")
    assert (gamma["events"], gamma["total"], gamma["control_events"], gamma["control_total"]) == (
        "11",
        "60",
        "14",
        "32",
    )
    data = json.loads((tmp_path / "relapse-rr.json").read_text(encoding="utf-8"))
    (comp,) = data["comparisons"]
    assert comp["absolute"]["acr"] == pytest.approx(a.acr) and len(comp["rows"]) == 4


def test_overall_effect_test_against_metafor(model):
    """The plot's "Test for overall effect" line: statistic and p from the fit, checked against metafor's
    estimate and SE (tests/reference/compare.R -> tests/data/compare.json) and the t or normal tail."""
    import json

    from scipy import stats

    from metablina.render.compareforest import overall_test_of

    ref = json.loads((Path(__file__).resolve().parents[1] / "data" / "compare.json").read_text())
    case = next(c for c in ref["cases"] if c["name"] == "fixture_relapse")
    for aid, fit, name, df in (
        ("relapse-rr", case["RR"]["rma"]["REML_knha"], "t", 3),
        ("relapse-or", case["GLMM_z"], "z", None),
        ("relapse-rd", case["RD"]["rma"]["REML_z"], "z", None),
    ):
        result = report_of(model, aid).result.strata[0].result
        got_name, got_df, stat, p = overall_test_of(result)
        want = fit["beta"] / fit["se"]
        want_p = 2 * (stats.t.sf(abs(want), df) if df else stats.norm.sf(abs(want)))
        assert (got_name, got_df) == (name, df)
        assert stat == pytest.approx(want, rel=1e-6) and p == pytest.approx(want_p, rel=1e-6)
