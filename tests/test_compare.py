"""Comparisons from arm rows: pairing guards, derived hazard ratios, absolute effects, the Python API.

Numbers are checked against hand computations here; against metafor in tests/test_compare_metafor.py.
"""

from __future__ import annotations

import math
import pathlib

import pandas as pd
import pytest
from pydantic import ValidationError

from metablina.compare import (
    HANDBOOK,
    ComparisonRow,
    absolute_effect,
    compare,
    intervention_risk,
    log_hr_from_landmarks,
)
from metablina.normalize import EffectRow
from metablina.plan import Analysis, read_plan, select_rows
from metablina.run import run_analysis, run_review
from metablina.stats.conversions import log_hr_from_o_minus_e
from metablina.stats.errors import InputError

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "comparisons"
Z = 1.959963984540054


def _arm(study: str, arm: str, role: str, events: int, total: int, **kw: object) -> EffectRow:
    base = dict(
        study=study,
        record=f"r-{arm}",
        outcome="relapse",
        form="proportion",
        label=study,
        arm=arm,
        arm_role=role,
        subpopulation=None,
        subpopulation_label=None,
        partition=None,
        mrd_method=None,
        mrd_sensitivity=None,
        timepoint=None,
        baseline_mrd="all",
        grade=None,
        unit="patients",
        denominator="randomised",
        landmark_months=None,
        km_kind=None,
        follow_up_months=None,
        events=events,
        total=total,
    )
    return EffectRow(**{**base, **kw})  # type: ignore[arg-type]


def _analysis(**kw: object) -> Analysis:
    return Analysis.model_validate({"id": "a", "title": "t", "outcome": "relapse", "measure": "RR", **kw})


def _pairs(rows: list[EffectRow], **kw: object) -> tuple[list[ComparisonRow], list[str]]:
    sel = select_rows(rows, _analysis(**kw))
    return [r for r in sel.rows if isinstance(r, ComparisonRow)], [str(d) for d in sel.decisions]


# ------------------------------------------------------------------------------------------ derived HRs


def test_hr_from_logrank_worked_numbers() -> None:
    """O - E = -8.1 and V = 14.2 (the worked numbers of the issue; Tierney et al. 2007's method)."""
    est = log_hr_from_o_minus_e(-8.1, 14.2)
    assert est.yi == pytest.approx(-0.570423, abs=5e-7)
    assert est.sei == pytest.approx(0.265372, abs=5e-7)
    run = {r.analysis.id: r for r in run_review(FIXTURE).results}["efs-hr"]
    (delta,) = [r for r in run.strata[0].comparison.rows if r.study == "synthetic-delta"]
    assert delta.yi == pytest.approx(-0.570423, abs=5e-7)
    assert math.sqrt(delta.vi) == pytest.approx(0.265372, abs=5e-7)
    assert delta.derived == "HR from log-rank O-E/V"


def test_hr_from_landmarks_by_hand() -> None:
    """Trial BETA of the fixture: 70.0% (53.3-81.7) vs 55.0% (38.5-68.8) at 24 months, by hand."""

    def cloglog(s: float) -> float:
        return math.log(-math.log(s))

    se1 = (cloglog(0.533) - cloglog(0.817)) / (2 * Z)
    se0 = (cloglog(0.385) - cloglog(0.688)) / (2 * Z)
    want = cloglog(0.70) - cloglog(0.55)
    yi, sei = log_hr_from_landmarks(cloglog(0.70), se1, cloglog(0.55), se0)
    assert yi == pytest.approx(want, rel=1e-12)
    assert yi == pytest.approx(-0.516493, abs=1e-6)
    assert sei == pytest.approx(math.sqrt(se1**2 + se0**2), rel=1e-12)
    assert sei == pytest.approx(0.375610, abs=1e-5)
    with pytest.raises(InputError):
        log_hr_from_landmarks(yi, 0.0, yi, se0)

    run = {r.analysis.id: r for r in run_review(FIXTURE).results}["efs-hr"]
    (stratum,) = run.strata
    by_study = {r.study: r for r in stratum.comparison.rows}
    beta = by_study["synthetic-beta"]
    assert beta.yi == pytest.approx(want, rel=1e-6)  # the CI is read at its printed decimals
    assert beta.vi == pytest.approx(se1**2 + se0**2, rel=1e-6)
    assert "proportional hazards" in beta.derived and "Tierney" in beta.derived
    delta = by_study["synthetic-delta"]
    assert delta.yi == pytest.approx(-8.1 / 14.2, rel=1e-12)
    assert delta.derived == "HR from log-rank O-E/V"
    assert by_study["synthetic-alpha"].derived is None  # reported
    assert by_study["synthetic-alpha"].estimate == 0.55 and by_study["synthetic-alpha"].ci_low == 0.33
    assert stratum.comparison.pooled["k"] == 3
    methods = stratum.comparison.methods
    assert "proportional hazards" in methods and "(O-E)/V" in methods


def test_reported_hr_wins_over_derived() -> None:
    """ALPHA reports an HR and KM rates: the reported HR is used, the derived one logged with both."""
    run = {r.analysis.id: r for r in run_review(FIXTURE).results}["efs-hr"]
    assert any(
        d.action == "excluded"
        and d.subject == "synthetic-alpha/efs-km24-blinatumomab vs efs-km24-chemotherapy"
        and "synthetic-alpha/efs-hr (reported HR) is used" in d.reason
        for d in run.selection.decisions
    )


def test_hr_absolute_effect_at_the_landmark() -> None:
    """With an HR derived from the 24-month rates, 1 - (1 - ACR)^HR gives back the intervention arm's
    24-month event risk: 1 - 0.70 (BETA alone)."""
    rows = [r for r in run_review(FIXTURE).rows]
    a = Analysis.model_validate(
        {
            "id": "b",
            "title": "t",
            "outcome": "efs",
            "measure": "HR",
            "landmark": 24,
            "select": {"studies": ["synthetic-beta"]},
        }
    )
    (stratum,) = run_analysis(rows, a).strata
    ab = stratum.comparison.absolute
    assert ab.based_on == "the trial's own effect" and ab.landmark_months == 24
    assert ab.acr == pytest.approx(0.45, rel=1e-12)
    assert ab.intervention_per_1000 == pytest.approx(300, rel=1e-9)
    assert ab.difference_per_1000 == pytest.approx(-150, rel=1e-9)


# ------------------------------------------------------------------------------------------ pairing


def test_three_armed_trial_combines_its_intervention_arms() -> None:
    rows = [
        _arm("g", "low", "intervention", 6, 30),
        _arm("g", "high", "intervention", 5, 30),
        _arm("g", "chemo", "comparator", 14, 32),
    ]
    (pair,), decisions = _pairs(rows)
    assert (pair.events, pair.total, pair.control_events, pair.control_total) == (11, 60, 14, 32)
    assert pair.intervention_arms == ("high", "low") and pair.control_arms == ("chemo",)
    assert any(HANDBOOK in d and "high + low" in d and "chemo" in d for d in decisions)


def test_plan_names_the_arms() -> None:
    rows = [
        _arm("g", "low", "intervention", 6, 30),
        _arm("g", "high", "intervention", 5, 30),
        _arm("g", "chemo", "comparator", 14, 32),
    ]
    (pair,), decisions = _pairs(rows, arms={"g": {"intervention": ["high"], "control": ["chemo"]}})
    assert (pair.events, pair.total, pair.control_events) == (5, 30, 14)
    assert any(
        "high (intervention) vs chemo (control), by the arms the plan names (arms)" in d for d in decisions
    )
    assert any("low not in the comparison the plan names" in d for d in decisions)


def test_an_arm_is_never_on_both_sides() -> None:
    with pytest.raises(ValidationError, match="named on both sides"):
        _analysis(arms={"g": {"intervention": ["a", "c"], "control": ["c"]}})


def test_historical_control_only_in_a_non_randomised_analysis() -> None:
    rows = [_arm("h", "blina", "intervention", 3, 20), _arm("h", "past", "historical control", 9, 25)]
    pairs, decisions = _pairs(rows)
    assert pairs == []
    assert any(
        "historical control arm past vs blina" in d and "comparison: non-randomised" in d for d in decisions
    )
    (pair,), decisions = _pairs(rows, comparison="non-randomised")
    assert pair.comparison == "non-randomised" and pair.control_total == 25
    assert any(
        "blina (intervention) vs past (control), by the historical control arm (comparison: non-randomised)"
        in d
        for d in decisions
    )


def test_historical_control_beside_a_randomised_comparator_is_left_out() -> None:
    rows = [
        _arm("h", "blina", "intervention", 3, 20),
        _arm("h", "chemo", "comparator", 6, 21),
        _arm("h", "past", "historical control", 9, 25),
    ]
    (pair,), decisions = _pairs(rows, comparison="non-randomised")
    assert pair.control_arms == ("chemo",) and pair.comparison == "randomised"
    assert any("past" in d and "randomised comparator chemo" in d for d in decisions)


def test_non_randomised_reported_hr_left_out_of_a_randomised_pool() -> None:
    hr = _arm(
        "h",
        "blina vs past",
        "intervention",
        0,
        1,
        form="hr",
        arm_role=None,
        outcome="efs",
        yi=-0.5,
        sei=0.3,
        comparison="non-randomised",
    )
    a = Analysis.model_validate({"id": "a", "title": "t", "outcome": "efs", "measure": "HR"})
    sel = select_rows([hr], a)
    assert sel.rows == ()
    assert any("non-randomised comparison (blina vs past)" in str(d) for d in sel.decisions)
    b = Analysis.model_validate(
        {"id": "a", "title": "t", "outcome": "efs", "measure": "HR", "comparison": "non-randomised"}
    )
    assert len(select_rows([hr], b).rows) == 1


def test_two_records_of_one_arm_form_no_comparison() -> None:
    rows = [
        _arm("s", "blina", "intervention", 3, 20),
        _arm("s", "blina", "intervention", 4, 20, record="r-blina-again"),
        _arm("s", "chemo", "comparator", 6, 21),
    ]
    pairs, decisions = _pairs(rows)
    assert pairs == []
    assert any("s/r-blina and s/r-blina-again" in d and "two records of arm blina" in d for d in decisions)


def test_arms_pair_only_within_one_estimand() -> None:
    """Different timepoints, grades or data cuts never make one comparison."""
    rows = [
        _arm("s", "blina", "intervention", 3, 20, timepoint="end-of-induction"),
        _arm("s", "chemo", "comparator", 6, 21, timepoint="end-of-consolidation"),
        _arm("t", "blina", "intervention", 3, 20, data_cut="2021-09"),
        _arm("t", "chemo", "comparator", 6, 21, data_cut="2022-11"),
    ]
    pairs, decisions = _pairs(rows)
    assert pairs == []
    assert sum("a control arm is missing" in d for d in decisions) == 2


# ------------------------------------------------------------------------------------------ plan checks


def test_glmm_refuses_rr_and_rd_in_one_line(tmp_path: pathlib.Path) -> None:
    plan = tmp_path / "analyses.yaml"
    plan.write_text(
        "analyses:\n"
        "  - {id: a, title: t, outcome: relapse, measure: RR, model: GLMM}\n"
        "  - {id: b, title: t, outcome: relapse, measure: RD, model: PETO, ci: z}\n"
        "  - {id: c, title: t, outcome: relapse, measure: OR, model: MH, ci: hksj}\n"
    )
    problems = [str(p) for p in read_plan(plan).problems]
    assert len(problems) == 3 and all("\n" not in p for p in problems)
    assert "method GLMM pools PLO (proportions) or OR (two-group counts), not RR" in problems[0]
    assert "method PETO pools odds ratios" in problems[1]
    assert "has no hksj interval" in problems[2]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"measure": "PLO", "arms": {"s": {"intervention": ["a"], "control": ["b"]}}}, "arms applies"),
        ({"measure": "PLO", "comparison": "non-randomised"}, "comparison applies"),
        ({"measure": "RR", "landmark": 24}, "landmark gives an HR"),
        ({"measure": "HR", "baseline": {"risk": 0.3, "source": "x"}}, "needs the landmark"),
        ({"measure": "RR", "baseline": {"risk": 1.2, "source": "x"}}, "less than 1"),
    ],
)
def test_plan_fields_of_comparisons(extra: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Analysis.model_validate({"id": "a", "title": "t", "outcome": "relapse", **extra})


# ------------------------------------------------------------------------------------------ absolute


@pytest.mark.parametrize(
    ("measure", "effect", "want"),
    [
        ("RR", 0.5, 0.2),
        ("OR", 0.5, 0.5 * 0.4 / (1 - 0.4 + 0.5 * 0.4)),
        ("RD", -0.1, 0.3),
        ("HR", 0.5, 1 - 0.6**0.5),
    ],
)
def test_intervention_risk(measure: str, effect: float, want: float) -> None:
    assert intervention_risk(measure, 0.4, effect) == pytest.approx(want, rel=1e-14)


def test_absolute_effect_keeps_the_acr_fixed() -> None:
    a = absolute_effect("RR", 0.4, 0.5, 0.25, 1.2, acr_source="x", based_on="pooled estimate")
    assert a.control_per_1000 == pytest.approx(400)
    assert (a.intervention_per_1000, a.intervention_low, a.intervention_high) == pytest.approx(
        (200, 100, 480)
    )
    assert (a.difference_per_1000, a.difference_low, a.difference_high) == pytest.approx((-200, -300, 80))
    with pytest.raises(InputError):
        absolute_effect("RR", 1.5, 0.5, None, None, acr_source="x", based_on="y")


def test_absolute_risk_is_capped_at_1000() -> None:
    a = absolute_effect("RR", 0.684, 1.38, 1.14, 1.67, acr_source="x", based_on="y")
    assert a.intervention_high == 1000 and a.difference_high == pytest.approx(316)
    assert a.note is not None and "1142 per 1,000: capped" in a.note
    assert absolute_effect("RR", 0.4, 0.5, 0.25, 1.2, acr_source="x", based_on="y").note is None


def test_shipped_review_comparisons_are_the_trials_own_effects() -> None:
    """The phase 3 trial's EFS, OS, HSCT, CRS and grade >= 3 TRAE comparisons: k = 1, never pooled, each
    with its relative and absolute effect (CRS grade >= 3: no events in either arm, not estimable)."""
    run = {r.analysis.id: r for r in run_review(pathlib.Path(__file__).parents[1] / "studies").results}
    for aid in (
        "efs-comparison",
        "os-comparison",
        "hsct-comparison",
        "crs-comparison",
        "trae-grade3-comparison",
    ):
        for stratum in run[aid].strata:
            c = stratum.comparison
            assert stratum.result is None and c.pooled is None and c.not_pooled.startswith("k = 1"), aid
            assert [r.study for r in c.rows] == ["locatelli-relapse-phase3-2025"], aid
            if stratum.label == "grade >=3":
                assert c.absolute is None and "no events (or only events) in both arms" in c.absolute_note
            else:
                assert c.absolute is not None and c.absolute.based_on == "the trial's own effect", aid
    efs = run["efs-comparison"].strata[0].comparison
    assert (efs.rows[0].estimate, efs.rows[0].ci_low, efs.rows[0].ci_high) == (0.38, 0.22, 0.65)
    assert efs.absolute.acr == pytest.approx(1 - 0.276)  # the chemotherapy arm's 60-month EFS, 27.6%
    assert efs.absolute.intervention_per_1000 == pytest.approx(1000 * (1 - 0.276**0.38), rel=1e-12)
    trae = run["trae-grade3-comparison"].strata[0].comparison
    assert (trae.rows[0].intervention_events, trae.rows[0].control_events) == (9, 33)
    assert trae.absolute.intervention_per_1000 == pytest.approx(1000 * 9 / 54, rel=1e-12)


def test_k1_is_the_trials_own_effect() -> None:
    run = {r.analysis.id: r for r in run_review(FIXTURE).results}["alpha-relapse"]
    (stratum,) = run.strata
    c = stratum.comparison
    assert c.pooled is None and c.not_pooled.startswith("k = 1")
    (row,) = c.rows
    assert row.estimate == pytest.approx(0.5)
    se = math.sqrt(1 / 12 - 1 / 60 + 1 / 24 - 1 / 60)
    assert row.ci_low == pytest.approx(math.exp(math.log(0.5) - Z * se), rel=1e-12)
    ab = c.absolute
    assert ab.based_on == "the trial's own effect" and ab.acr == pytest.approx(0.4)
    assert ab.acr_source == "control arm of synthetic-alpha (24/60)"
    assert ab.intervention_low == pytest.approx(400 * row.ci_low, rel=1e-12)


def test_plan_baseline_is_the_acr() -> None:
    run = {r.analysis.id: r for r in run_review(FIXTURE).results}["ae-g3-rr"]
    ab = run.strata[0].comparison.absolute
    assert ab.acr == 0.4 and ab.acr_source == "plan baseline: SYNTHETIC baseline for the test"


def test_methods_text_states_zero_cells_and_the_handbook() -> None:
    run = {r.analysis.id: r for r in run_review(FIXTURE).results}
    rr = run["relapse-rr"].strata[0].comparison
    assert "0.5 added to every cell" in rr.methods and HANDBOOK in rr.methods
    assert "left out of the ratio" in rr.methods
    rows = {r.study: r for r in rr.rows}
    assert rows["synthetic-delta"].note == "continuity correction 0.5 added to every cell (zero cell)"
    assert "RD 0" not in rr.methods
    rd = run["relapse-rd"].strata[0].comparison
    assert "kept (risk difference 0)" in rd.methods


# ------------------------------------------------------------------------------------------ Python API


def test_dataframe_api() -> None:
    df = pd.DataFrame(
        {
            "study": ["a", "a", "b", "b"],
            "arm": ["new", "old", "new", "old"],
            "role": ["intervention", "comparator"] * 2,
            "events": [12, 24, 8, 15],
            "total": [60, 60, 45, 44],
        }
    )
    res = compare(df, "rr", "reml", "hksj")
    table = res.summary()
    assert list(table["study"]) == ["a", "b", "pooled"]
    d = res.to_dict()
    assert d["measure"] == "RR" and d["pooled"]["k"] == 2 and d["absolute"]["based_on"] == "pooled estimate"
    assert d["rows"][0]["estimate"] == pytest.approx(0.5)
    one = compare(df[df.study == "a"], "OR", "REML")
    assert one.result is None and one.to_dict()["not_pooled"].startswith("k = 1")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"role": "control"}, "role 'control' is not one of"),
        ({"events": 70}, "must lie between 0 and total"),
        ({"events": 2.5}, "not a whole number"),
        ({"events": "x"}, "is not a number"),
    ],
)
def test_dataframe_api_refuses_bad_rows(change: dict, message: str) -> None:
    row = {"study": "a", "arm": "new", "role": "intervention", "events": 12, "total": 60, **change}
    other = {"study": "a", "arm": "old", "role": "comparator", "events": 24, "total": 60}
    with pytest.raises(InputError, match=message):
        compare(pd.DataFrame([row, other]))


def test_dataframe_api_refuses_what_it_cannot_do() -> None:
    df = pd.DataFrame([{"study": "a", "arm": "new", "role": "intervention", "events": 1, "total": 9}])
    with pytest.raises(InputError, match="lacks column"):
        compare(df.drop(columns="role"))
    with pytest.raises(InputError, match="no study has both"):
        compare(df)
    with pytest.raises(InputError, match="not HR"):
        compare(df, "HR")
    two = pd.concat([df, df.assign(arm="old", role="comparator")])
    for kw, message in (
        ({"method": "XYZ"}, "^method: Input should be"),
        ({"method": "GLMM"}, "method GLMM pools PLO"),
        ({"ci": "bad"}, "^ci: Input should be"),
        ({"baseline": (2, "x")}, "^baseline.risk: Input should be less than 1"),
    ):
        with pytest.raises(InputError, match=message):
            compare(two, **kw)


def test_validate_names_unknown_studies_and_arms_of_a_comparison(tmp_path: pathlib.Path) -> None:
    import shutil

    from metablina.extract.validate import load_review
    from metablina.plan import check_plan

    folder = tmp_path / "review"
    shutil.copytree(FIXTURE, folder)
    with (folder / "analyses.yaml").open("a") as f:
        f.write(
            "  - id: named-arms\n    title: named arms\n    outcome: relapse\n    measure: RR\n    arms:\n"
            "      synthetic-gamma: {intervention: [blinatumomab-high, blinatumomab-mid], control: [chemotherapy]}\n"
            "      synthetic-omega: {intervention: [a], control: [b]}\n"
        )
    _, problems = check_plan(folder, load_review(folder))
    lines = [str(p) for p in problems]
    assert any("intervention[1]: study synthetic-gamma has no arm 'blinatumomab-mid'" in x for x in lines)
    assert any("arms.synthetic-omega: no study 'synthetic-omega'" in x for x in lines)
    assert len(lines) == 2


def test_an_hr_of_an_earlier_cut_says_so_where_it_meets_a_later_comparator_risk() -> None:
    """The OS HR 0.34 is of the trial's 2-year analysis (data cut 2021-09); the chemotherapy arm's 60-month
    rate, 41.4%, is of the 5-year letter (data cut 2022-11-21). Applying the one to the other assumes the HR
    holds to 60 months, and the absolute effect says so; the EFS HR 0.38 is of the 5-year letter itself."""
    run = {r.analysis.id: r for r in run_review(pathlib.Path(__file__).parents[1] / "studies").results}
    os_, efs = (run[a].strata[0].comparison.absolute for a in ("os-comparison", "efs-comparison"))
    assert os_.acr == pytest.approx(1 - 0.414)
    assert os_.acr_source.endswith("(60-month KM, data cut 2022-11-21)")
    assert "HR of locatelli-relapse-phase3-2025 is from its data cut 2021-09" in os_.note
    assert "comparator risk from its data cut 2022-11-21" in os_.note and "proportional hazards" in os_.note
    assert efs.note is None and efs.acr_source.endswith("data cut 2022-11-21)")
