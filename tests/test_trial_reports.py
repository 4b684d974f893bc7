"""Two reports of one trial never share an analysis (issue 11), on a SYNTHETIC review.

tests/fixtures/two-reports/ holds the primary analysis (cut 2021-09) and an update (cut 2024-11) of one
invented trial, KAPPA (registry id SYNTH-KAPPA-01), and two other invented trials, LAMBDA and MU; its source
document says it is SYNTHETIC. Every pooled set, subgroup and sensitivity row is checked, with the
overlap between the two KAPPA reports declared on both sides and without.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from metablina.extract.validate import load_review
from metablina.run import ReviewRun, run_review

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "two-reports"
KAPPA = ("synthetic-kappa-primary", "synthetic-kappa-update")


def with_overlap(tmp_path: Path) -> Path:
    """The fixture with the two KAPPA reports declaring each other as overlapping cohorts."""
    folder = tmp_path / "two-reports"
    shutil.copytree(FIXTURE, folder)
    for me, other in (KAPPA, KAPPA[::-1]):
        path = folder / f"{me}.yaml"
        text = path.read_text(encoding="utf-8")
        overlap = f"overlap:\n  - study: {other}\n    reason: SYNTHETIC - another report of the same trial\n"
        path.write_text(text.replace("risk_of_bias:", overlap + "risk_of_bias:", 1), encoding="utf-8")
    return folder


def every_set(run: ReviewRun):
    """(where, rows) of every stratum, subgroup and sensitivity stratum of every analysis."""
    for res in run.results:
        for s in (*res.strata, *res.subgroups):
            yield f"{res.analysis.id}/{s.label}", s.rows
        for v in res.sensitivity:
            for s in v.strata:
                yield f"{res.analysis.id}/{v.variant.id}/{s.label}", s.rows


def test_the_fixture_is_valid_and_its_two_reports_are_one_trial() -> None:
    review = load_review(FIXTURE)
    assert review.ok, review.problems
    assert review.trials[KAPPA[0]] == review.trials[KAPPA[1]] == "SYNTH-KAPPA-01"
    assert "SYNTHETIC" in (FIXTURE / "sources" / "synthetic-reports.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("overlap", [False, True], ids=["no overlap declared", "overlap declared"])
def test_no_analysis_pools_two_reports_of_one_trial(tmp_path: Path, overlap: bool) -> None:
    run = run_review(with_overlap(tmp_path) if overlap else FIXTURE)
    seen = 0
    for where, rows in every_set(run):
        kappa = {r.study for r in rows if r.trial == "SYNTH-KAPPA-01"}
        assert len(kappa) <= 1, where
        seen += bool(kappa)
    assert seen >= 5  # the check saw KAPPA in main, subgroup and sensitivity rows
    by_id = {r.analysis.id: r for r in run.results}
    crs = by_id["crs-grade3"]
    assert {r.study for r in crs.selection.rows} == {
        "synthetic-kappa-update",
        "synthetic-lambda",
        "synthetic-mu",
    }
    [decision] = [d for d in crs.selection.decisions if d.subject == "synthetic-kappa-primary"]
    assert decision.reason.startswith("report of trial SYNTH-KAPPA-01 (primary analysis, data cut 2021-09")
    assert "the analysis uses synthetic-kappa-update (update, data cut 2024-11" in decision.reason
    hr = by_id["efs-hazard-ratio"]
    [named] = hr.sensitivity
    assert {r.study for s in named.strata for r in s.rows} == {
        "synthetic-kappa-primary",
        "synthetic-lambda",
        "synthetic-mu",
    }


def test_a_record_measured_before_the_intervention_is_not_pooled() -> None:
    run = run_review(FIXTURE)
    cr = next(r for r in run.results if r.analysis.id == "complete-remission")
    assert [r.key for r in cr.selection.rows] == ["synthetic-lambda/cr"]
    [d] = [d for d in cr.selection.decisions if d.subject == "synthetic-kappa-primary/cr-before"]
    assert d.action == "excluded" and "measured before the intervention" in d.reason


def test_validate_names_reports_that_tie_so_the_plan_chooses(tmp_path: Path) -> None:
    from metablina.plan import check_plan

    folder = tmp_path / "two-reports"
    shutil.copytree(FIXTURE, folder)
    update = folder / "synthetic-kappa-update.yaml"
    update.write_text(update.read_text(encoding="utf-8").replace("data_cut: 2024-11", "data_cut: 2021-09"))
    review = load_review(folder)
    _, problems = check_plan(folder, review)
    ties = [str(p) for p in problems if "tie under the rule" in str(p)]
    assert ties and all("analyses.yaml:" in t for t in ties)
    assert "synthetic-kappa-primary (primary analysis, data cut 2021-09, n = 100)" in ties[0]
    assert "synthetic-kappa-update (update, data cut 2021-09, n = 100)" in ties[0]
    assert "reports: {SYNTH-KAPPA-01: STUDY}" in ties[0]
    plan = folder / "analyses.yaml"
    plan.write_text(
        plan.read_text(encoding="utf-8").replace(
            "    subgroup: setting\n",
            "    subgroup: setting\n    reports: {SYNTH-KAPPA-01: synthetic-kappa-update}\n",
        )
    )
    _, problems = check_plan(folder, load_review(folder))
    ties = [str(p) for p in problems if "tie under the rule" in str(p)]
    assert ties and not any("analyses[0].id" in t for t in ties)  # named for crs-grade3, not for the HR


def test_validate_names_a_plan_word_the_vocabulary_lacks(tmp_path: Path) -> None:
    from metablina.plan import check_plan

    folder = tmp_path / "two-reports"
    shutil.copytree(FIXTURE, folder)
    plan = folder / "analyses.yaml"
    plan.write_text(
        plan.read_text(encoding="utf-8").replace("outcome: complete_remission", "outcome: remision")
    )
    _, problems = check_plan(folder, load_review(folder))
    [problem] = [str(p) for p in problems if "remision" in str(p)]
    assert "analyses[1].outcome[0]: unknown outcome 'remision'" in problem
    assert "vocabulary.yaml under outcomes:" in problem


def test_validate_names_a_report_the_review_does_not_hold(tmp_path: Path) -> None:
    from metablina.plan import check_plan

    folder = tmp_path / "two-reports"
    shutil.copytree(FIXTURE, folder)
    plan = folder / "analyses.yaml"
    text = plan.read_text(encoding="utf-8").replace("synthetic-kappa-primary}}", "synthetic-kappa-jama}}")
    plan.write_text(text, encoding="utf-8")
    _, problems = check_plan(folder, load_review(folder))
    [problem] = [str(p) for p in problems if "synthetic-kappa-jama" in str(p)]
    assert "analyses[2].sensitivity[0].reports.SYNTH-KAPPA-01: no study 'synthetic-kappa-jama'" in problem
