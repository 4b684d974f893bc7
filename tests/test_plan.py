"""The pooling guards of the analysis plan: each test fails if its guard is taken out."""

from __future__ import annotations

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
