"""The pooling guards of the analysis plan: each test fails if its guard is taken out."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from metablina.normalize import EffectRow
from metablina.plan import Analysis, Sensitivity, load_plan, plan_path, select_rows

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def row(study: str, record: str, events: int = 5, total: int = 50, **kw) -> EffectRow:
    base = dict(
        study=study,
        record=record,
        outcome="crs",
        form="proportion",
        label=study,
        arm="blina",
        arm_role="intervention",
        subpopulation=None,
        subpopulation_label=None,
        partition=None,
        mrd_method=None,
        mrd_sensitivity=None,
        timepoint=None,
        baseline_mrd="all",
        grade=">=3",
        unit="patients",
        denominator=None,
        landmark_months=None,
        km_kind=None,
        follow_up_months=None,
        events=events,
        total=total,
        cohort_n=total,
    )
    base.update(kw)
    return EffectRow(**base)


def analysis(**kw) -> Analysis:
    spec = {
        "id": "a",
        "title": "A",
        "outcome": "crs",
        "measure": "PLO",
        "model": "GLMM",
        "select": {"grade": ">=3"},
    }
    spec.update(kw)
    return Analysis.model_validate(spec)


def keys(selection) -> list[str]:
    return sorted(r.key for r in selection.rows)


def test_whole_cohort_wins_over_its_subpopulations() -> None:
    rows = [
        row("s1", "all", 9, 202),
        row("s1", "mr", 4, 100, subpopulation="mr", partition="risk"),
        row("s1", "hr", 5, 102, subpopulation="hr", partition="risk"),
        row("s2", "all", 0, 11),
    ]
    sel = select_rows(rows, analysis())
    assert keys(sel) == ["s1/all", "s2/all"]
    assert any(d.subject == "s1/mr" and "count twice" in d.reason for d in sel.decisions)


def test_subpopulation_level_uses_one_disjoint_partition() -> None:
    rows = [
        row("s1", "all", 9, 202),
        row("s1", "mr", 4, 100, subpopulation="mr", partition="risk"),
        row("s1", "hr", 5, 102, subpopulation="hr", partition="risk"),
        row("s1", "young", 3, 60, subpopulation="young", partition="age"),
        row("s2", "all", 0, 11),
    ]
    sel = select_rows(rows, analysis(level="subpopulations"))
    assert keys(sel) == ["s1/hr", "s1/mr", "s2/all"]
    assert any(d.subject == "s1/young" and "overlaps" in d.reason for d in sel.decisions)


def test_overlapping_cohorts_are_not_pooled_together() -> None:
    rows = [
        row("big", "r", 9, 90, overlap=("small",)),
        row("small", "r", 1, 11, overlap=("big",)),
        row("other", "r", 2, 40),
    ]
    sel = select_rows(rows, analysis())
    assert keys(sel) == ["big/r", "other/r"]
    assert sel.excluded_overlap == ("small",)
    kept = select_rows(rows, analysis(overlap_keep=["small"]))
    assert keys(kept) == ["other/r", "small/r"]
    swapped = select_rows(rows, analysis(), Sensitivity(id="swap", label="swap", overlap_keep=["small"]))
    assert keys(swapped) == ["other/r", "small/r"]


def test_exclude_overlapping_variant_drops_every_declared_overlap() -> None:
    rows = [row("big", "r", overlap=("small",)), row("small", "r", overlap=("big",)), row("other", "r")]
    sel = select_rows(rows, analysis(), Sensitivity(id="no", label="no", exclude_overlapping=True))
    assert keys(sel) == ["other/r"]


@pytest.mark.parametrize(
    ("field", "values", "label"),
    [
        ("landmark_months", (12.0, 24.0), "landmark time"),
        ("mrd_method", ("MFC", "NGS"), "MRD method"),
        ("mrd_sensitivity", (1e-4, 1e-6), "MRD assay sensitivity"),
        ("grade", ("any", ">=3"), "grade threshold"),
        ("km_kind", ("survival", "cumulative incidence"), "survival vs cumulative incidence"),
    ],
)
def test_different_estimands_become_strata_without_an_overall_estimate(field, values, label) -> None:
    rows = [row(f"s{i}", "r", **{field: v}) for i, v in enumerate(values * 2)]
    select = {} if field == "grade" else {"grade": ">=3"}
    if field == "mrd_method":
        sel = select_rows(rows, analysis(select=select, stratify=["mrd_method"]))
    else:
        sel = select_rows(rows, analysis(select=select))
    assert len(sel.strata) == 2
    assert all(len(s.rows) == 2 for s in sel.strata)
    assert sel.overall_refusal is not None and label in sel.overall_refusal
    assert all(len({getattr(r, field) for r in s.rows}) == 1 for s in sel.strata)


def test_mrd_conversion_is_not_mrd_negativity_in_all_treated() -> None:
    rows = [
        row("s1", "all", baseline_mrd="all", outcome="mrd_negativity", mrd_method="MFC"),
        row("s2", "conv", baseline_mrd="positive", outcome="mrd_negativity", mrd_method="MFC"),
    ]
    all_treated = select_rows(rows, analysis(outcome="mrd_negativity", select={"mrd_method": "MFC"}))
    assert keys(all_treated) == ["s1/all"]
    converted = select_rows(
        rows, analysis(outcome="mrd_negativity", select={"mrd_method": "MFC", "baseline_mrd": "positive"})
    )
    assert keys(converted) == ["s2/conv"]


def test_rates_and_hazard_ratios_never_mix() -> None:
    rows = [row("s1", "rate"), row("s2", "hr", form="hr", events=None, total=None, yi=-0.9, sei=0.3)]
    assert keys(select_rows(rows, analysis())) == ["s1/rate"]
    assert keys(select_rows(rows, analysis(measure="HR", model="REML"))) == ["s2/hr"]


def test_courses_are_not_patients() -> None:
    rows = [row("s1", "p"), row("s2", "c", unit="courses")]
    assert keys(select_rows(rows, analysis())) == ["s1/p"]


def test_comparator_arms_stay_out_of_single_arm_rates() -> None:
    rows = [row("rct", "blina"), row("rct", "chemo", arm="chemo", arm_role="comparator"), row("s2", "r")]
    assert keys(select_rows(rows, analysis())) == ["rct/blina", "s2/r"]


def test_k1_is_shown_as_the_study() -> None:
    sel = select_rows([row("only", "r")], analysis())
    assert sel.strata[0].refusal.startswith("k = 1")


def test_one_record_per_study_by_the_plans_timepoint_order() -> None:
    rows = [
        row("s1", "eoi", timepoint="end-of-induction"),
        row("s1", "eoc", timepoint="end-of-consolidation"),
        row("s2", "eoc", timepoint="end-of-consolidation"),
    ]
    plan = analysis(select={"grade": ">=3", "timepoint": ["end-of-induction", "end-of-consolidation"]})
    sel = select_rows(rows, plan)
    assert keys(sel) == ["s1/eoi", "s2/eoc"]
    assert any(d.subject == "s1/eoc" and "prefers" in d.reason for d in sel.decisions)


def test_unusable_rows_are_excluded_with_their_reason() -> None:
    rows = [row("s1", "r"), replace(row("s2", "r"), unusable="no SE or CI is reported")]
    sel = select_rows(rows, analysis())
    assert keys(sel) == ["s1/r"]
    assert any(d.reason == "no SE or CI is reported" for d in sel.decisions)


def test_shipped_plan_loads() -> None:
    plan, problems = load_plan(plan_path(STUDIES))
    assert problems == [] and plan is not None
    assert {"crs-grade3", "mrd-mfc-all-treated", "efs-landmark", "efs-hazard-ratio"} <= {
        a.id for a in plan.analyses
    }


def test_plan_problems_are_located(tmp_path: Path) -> None:
    (tmp_path / "analyses.yaml").write_text(
        "analyses:\n  - {id: a, title: A, outcome: crs, measure: PLO}\n  - {id: a, title: B, outcome: crs, measure: PLO, modle: REML}\n"
    )
    _, problems = load_plan(plan_path(tmp_path))
    assert [str(p).split(": ", 1)[1] for p in problems] == [
        "analyses[1].modle: unknown key (a typo? see studies/README.md for the fields)"
    ]
    (tmp_path / "analyses.yaml").write_text(
        "analyses:\n  - {id: a, title: A, outcome: crs, measure: PLO}\n  - {id: a, title: B, outcome: crs, measure: PLO}\n"
    )
    _, problems = load_plan(plan_path(tmp_path))
    assert [str(p) for p in problems] == [
        f"{tmp_path}/analyses.yaml:3: analyses[1].id: analysis id 'a' is used twice"
    ]


def test_records_outside_the_selection_are_named() -> None:
    rows = [row("s1", "g3"), row("s2", "g3"), row("s2", "any", grade="any")]
    sel = select_rows(rows, analysis())
    assert keys(sel) == ["s1/g3", "s2/g3"]
    assert any(
        d.action == "note" and "outside the selection" in d.reason and "s2/any" in d.reason
        for d in sel.decisions
    )


def test_any_baseline_mrd_keeps_each_status_as_its_own_stratum() -> None:
    rows = [
        row("s1", "neg", baseline_mrd="negative"),
        row("s1b", "pos", baseline_mrd="positive"),
        row("s2", "all"),
    ]
    sel = select_rows(rows, analysis(select={"grade": ">=3", "baseline_mrd": None}))
    assert sorted(s.label for s in sel.strata) == [
        "MRD-negative at start",
        "MRD-positive at start",
        "all treated",
    ]


# ------------------------------------------------------------------ one report per trial (issue 11)


def reports_of_one_trial(**kw) -> list[EffectRow]:
    """The primary report (cut 2021-09, n 120) and an update (cut 2024-11, n 108) of trial T, and U."""
    return [
        row("t-primary", "crs", 4, 120, trial="T", report_kind="primary analysis", data_cut="2021-09", **kw),
        row("t-update", "crs", 5, 108, trial="T", report_kind="update", data_cut="2024-11", **kw),
        row("u", "crs", 2, 40),
    ]


def test_two_reports_of_one_trial_are_never_pooled_together() -> None:
    sel = select_rows(reports_of_one_trial(), analysis())
    assert keys(sel) == ["t-update/crs", "u/crs"]
    [d] = [d for d in sel.decisions if d.subject == "t-primary"]
    assert d.action == "excluded"
    assert "report of trial T (primary analysis, data cut 2021-09, n = 120)" in d.reason
    assert "the analysis uses t-update (update, data cut 2024-11, n = 108)" in d.reason
    assert "rule 'latest': the latest data cut" in d.reason


def test_reports_of_one_trial_stay_apart_with_a_declared_overlap_and_in_every_variant() -> None:
    rows = reports_of_one_trial()
    rows[0] = replace(rows[0], overlap=("t-update",))
    rows[1] = replace(rows[1], overlap=("t-primary",))
    variants = [
        None,
        Sensitivity(id="a", label="a", exclude=["u"]),
        Sensitivity(id="b", label="b", overlap_keep=["t-primary"]),
        Sensitivity(id="c", label="c", report_rule="largest"),
    ]
    for variant in variants:
        sel = select_rows(rows, analysis(subgroup="setting"), variant)
        assert len([r for r in sel.rows if r.trial == "T"]) == 1, variant
    largest = select_rows(rows, analysis(), Sensitivity(id="c", label="c", report_rule="largest"))
    assert "t-primary/crs" in keys(largest)


def test_the_plan_chooses_the_report_by_rule_or_by_name() -> None:
    rows = reports_of_one_trial()
    assert "t-primary/crs" in keys(select_rows(rows, analysis(report_rule="largest")))
    named = select_rows(rows, analysis(reports={"T": "t-primary"}))
    assert keys(named) == ["t-primary/crs", "u/crs"]
    assert any("the plan names t-primary for trial T" in d.reason for d in named.decisions)


def test_the_latest_cut_is_that_of_the_records_here_not_of_the_report() -> None:
    """A number an update quotes from an earlier cut carries that cut: the other report is later."""
    rows = reports_of_one_trial()
    rows[1] = replace(rows[1], data_cut="2019-07", report_data_cut="2024-11")
    assert keys(select_rows(rows, analysis())) == ["t-primary/crs", "u/crs"]


@pytest.mark.parametrize(
    ("second", "kept", "why"),
    [
        ({"source_kind": "conference abstract"}, "t-primary", "full text over an abstract"),
        ({"cohort_n": 90}, "t-primary", "the larger n"),
        ({"data_cut": "2021", "cohort_n": 90}, "t-primary", "the larger n"),  # 2021: before or after 2021-09?
    ],
)
def test_equal_cuts_go_to_full_text_then_the_larger_n(second, kept, why) -> None:
    rows = reports_of_one_trial()
    rows[0] = replace(rows[0], source_kind="full text")
    rows[1] = replace(
        rows[1], **{"data_cut": "2021-09", "source_kind": "full text", "cohort_n": 120, **second}
    )
    sel = select_rows(rows, analysis())
    assert f"{kept}/crs" in keys(sel) and len(sel.rows) == 2
    assert any(why in d.reason for d in sel.decisions if d.action == "excluded")


def test_reports_that_tie_are_refused_and_both_named() -> None:
    rows = reports_of_one_trial()
    rows[1] = replace(rows[1], data_cut="2021-09", cohort_n=120)
    sel = select_rows(rows, analysis())
    assert keys(sel) == ["u/crs"]
    assert sel.ties and "t-primary" in sel.ties[0] and "t-update" in sel.ties[0]
    refused = [d for d in sel.decisions if d.reason.startswith("refused")]
    assert {d.subject for d in refused} == {"t-primary", "t-update"}
    assert "reports: {T: STUDY}" in refused[0].reason


# ------------------------------------------------------------------ exposure, estimand, record choice


def test_records_measured_before_the_intervention_are_never_pooled() -> None:
    rows = [row("s1", "cr-day15", 11, 11, exposure="before"), row("s2", "cr"), row("s3", "cr")]
    sel = select_rows(rows, analysis())
    assert keys(sel) == ["s2/cr", "s3/cr"]
    [d] = [d for d in sel.decisions if d.subject == "s1/cr-day15"]
    assert d.action == "excluded" and "measured before the intervention" in d.reason


@pytest.mark.parametrize(
    ("field", "values", "label"),
    [
        ("mrd_threshold", (1e-4, 5e-4), "MRD threshold"),
        ("grading", ("CTCAE v4.0", "not stated"), "grading system"),
        ("definition", ("CR with MRD < 1e-4", None), "outcome definition"),
    ],
)
def test_threshold_grading_and_definition_are_part_of_the_estimand(field, values, label) -> None:
    rows = [row(f"s{i}", "r", **{field: v}) for i, v in enumerate(values * 2)]
    sel = select_rows(rows, analysis())
    assert len(sel.strata) == 2 and sel.overall_refusal is not None and label in sel.overall_refusal
    assert all(len({getattr(r, field) for r in s.rows}) == 1 for s in sel.strata)


def test_two_mrd_thresholds_of_one_study_are_strata_whatever_the_order() -> None:
    """The issue's example: 16/30 (< 1e-4) and 28/30 (< 5e-4) moved the pooled MRD with file order."""
    strict = row("inf", "mrd-1e4", 16, 30, mrd_threshold=1e-4)
    loose = row("inf", "mrd-5e4", 28, 30, mrd_threshold=5e-4)
    for rows in ([strict, loose], [loose, strict]):
        sel = select_rows([*rows, row("s2", "mrd", 20, 30, mrd_threshold=1e-4)], analysis())
        assert [keys(s) for s in sel.strata] == [["inf/mrd-1e4", "s2/mrd"], ["inf/mrd-5e4"]]


def test_one_record_per_study_names_both_records_and_both_values() -> None:
    rows = [
        row("s1", "a", 3, 30, timepoint="after-blinatumomab"),
        row("s1", "b", 2, 20, timepoint="after-blinatumomab"),
    ]
    for order in (rows, rows[::-1]):
        sel = select_rows(order, analysis())
        assert keys(sel) == ["s1/a"]
        [d] = [d for d in sel.decisions if d.subject == "s1/b"]
        assert (
            d.reason
            == "same patients as s1/a; the larger denominator prefers s1/a (n = 30) over s1/b (n = 20)"
        )


def test_records_that_tie_on_every_preference_are_refused_so_the_plan_chooses() -> None:
    rows = [row("s1", "a", 16, 30), row("s1", "b", 28, 30), row("s2", "r")]
    for order in (rows, rows[::-1]):
        sel = select_rows(order, analysis())
        assert keys(sel) == ["s2/r"]
        assert {d.subject for d in sel.decisions if d.reason.startswith("refused")} == {"s1/a", "s1/b"}
        assert sel.ties
    chosen = select_rows(rows, analysis(prefer=["s1/b"]))
    assert keys(chosen) == ["s1/b", "s2/r"]
    assert any("the plan's prefer list prefers s1/b" in d.reason for d in chosen.decisions)


# ------------------------------------------------------------------ settings


def test_settings_are_strata_unless_the_plan_asks_for_one_estimate() -> None:
    rows = [
        row("f1", "r", setting=("frontline",)),
        row("f2", "r", setting=("frontline",)),
        row("rel", "r", setting=("first relapse",)),
    ]
    sel = select_rows(rows, analysis(subgroup="setting"))
    assert [s.label for s in sel.strata] == ["first relapse", "frontline"]
    assert sel.keys == ("setting",) and "setting" in sel.overall_refusal
    one = select_rows(rows, analysis(subgroup="setting", overall=True))
    assert len(one.strata) == 1 and one.overall_refusal is None


def test_a_one_study_subgroup_enters_the_test_for_subgroup_differences() -> None:
    """overall: true with subgroups by setting: the frontline pair pooled (common effect, by hand) and the
    first-relapse study on its own logit and SE; Q between them as R's meta computes it."""
    from metablina.run import run_analysis

    rows = [
        row("f1", "r", 5, 50, setting=("frontline",)),
        row("f2", "r", 9, 60, setting=("frontline",)),
        row("rel", "r", 3, 40, setting=("first relapse",)),
    ]
    result = run_analysis(rows, analysis(model="FE", ci="z", overall=True, subgroup="setting"))
    assert len(result.strata) == 1 and result.primary is not None
    assert [s.pooled for s in result.subgroups] == [True, False]  # frontline pooled, first relapse k = 1
    y = [math.log(5 / 45), math.log(9 / 51)]
    w = [1 / (1 / 5 + 1 / 45), 1 / (1 / 9 + 1 / 51)]
    front, v_front = sum(a * b for a, b in zip(w, y, strict=True)) / sum(w), 1 / sum(w)
    relapse, v_relapse = math.log(3 / 37), 1 / 3 + 1 / 37
    q = (front - relapse) ** 2 / (v_front + v_relapse)
    assert result.subgroup_test.df == 1
    assert result.subgroup_test.q == pytest.approx(q, rel=1e-10)


def test_survival_records_of_different_data_cuts_are_pooled_with_a_note() -> None:
    hr = dict(outcome="efs", form="hr", events=None, total=None, yi=-0.5, sei=0.3, grade=None)
    rows = [row("a", "hr", data_cut="2021-09", **hr), row("b", "hr", data_cut="2023-03", **hr)]
    sel = select_rows(rows, analysis(outcome="efs", measure="HR", model="REML", select={}))
    assert keys(sel) == ["a/hr", "b/hr"]
    [note] = [d for d in sel.decisions if "different data cuts" in d.reason]
    assert note.reason == "survival records of different data cuts: a/hr (cut 2021-09), b/hr (cut 2023-03)"
