"""The five extracts of the first review: valid, traceable, and holding what the sources say."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from metablina.cli import main
from metablina.extract.consistency import quote_in_source
from metablina.extract.validate import load_review

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def test_shipped_extracts_validate() -> None:
    result = CliRunner().invoke(main, ["validate", str(STUDIES)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 5 studies")


def test_every_extract_names_an_existing_source_and_quotes_it() -> None:
    review = load_review(STUDIES)
    files = {s.study.source.file for s in review.studies}
    assert files == {p.name for p in (STUDIES / "sources").glob("*.txt")}
    for loaded in review.studies:
        text = (STUDIES / "sources" / loaded.study.source.file).read_text(encoding="utf-8")
        for rec in loaded.study.outcomes:
            assert all(quote_in_source(q, text) for q in rec.quotes), (loaded.study.id, rec.id)


def test_key_numbers_as_the_sources_print_them() -> None:
    review = {s.study.id: s.study for s in load_review(STUDIES).studies}
    cclg = {r.id: r for r in review["cclg-frontline-2025"].outcomes}
    mrd = [
        r
        for r in cclg.values()
        if r.outcome == "mrd_negativity"
        and r.subpopulation is None
        and r.timepoint == "end-of-induction"
        and r.mrd.method == "MFC"
    ]
    assert [(r.binary.events, r.binary.total) for r in mrd] == [(192, 202)]
    crs = [r for r in cclg.values() if r.outcome == "crs"]
    assert [(r.grade, r.binary.percent, r.binary.total, r.binary.events) for r in crs] == [
        (">=3", 4.5, 202, None)
    ]
    trial = review["locatelli-relapse-phase3-2025"]
    hr = next(r.hazard_ratio for r in trial.outcomes if r.id == "efs-hr")
    assert (hr.hr, hr.ci.low, hr.ci.high, hr.experimental, hr.control) == (
        0.38,
        0.22,
        0.65,
        "blinatumomab",
        "chemotherapy",
    )
    assert {a.id: a.n for a in trial.arms} == {"blinatumomab": 54, "chemotherapy": 57}


def test_overlapping_bch_cohorts_are_declared() -> None:
    review = {s.study.id: s.study for s in load_review(STUDIES).studies}
    assert "bch-firstline-2024" in {o.study for o in review["bch-infant-2025"].overlap}
    assert "bch-infant-2025" in {o.study for o in review["bch-firstline-2024"].overlap}


def test_each_extract_says_which_trial_and_report_it_is() -> None:
    review = load_review(STUDIES)
    for loaded in review.studies:
        study = loaded.study
        assert study.trial is not None and study.report is not None, study.id
        assert study.sources and all(s.checked for s in study.sources), study.id
    trials = review.trials
    assert trials["locatelli-relapse-phase3-2025"] == "NCT02393859"
    assert trials["cclg-frontline-2025"] == "ChiCTR2400083570"
    assert len(set(trials.values())) == 5  # five different trials or cohorts: no note on shared trials
    assert review.notes == []
    trial = next(s.study for s in review.studies if s.study.id == "locatelli-relapse-phase3-2025")
    assert trial.report is not None
    assert (trial.report.kind, trial.report.data_cut, trial.report.follow_up_months) == (
        "final analysis",
        "2022-11-21",
        51.9,
    )


def test_os_hazard_ratio_carries_its_2_year_cut_and_says_its_ci_is_derived() -> None:
    review = {s.study.id: s.study for s in load_review(STUDIES).studies}
    rec = next(r for r in review["locatelli-relapse-phase3-2025"].outcomes if r.id == "os-hr-2y-analysis")
    assert rec.data_cut == "2021-09"
    assert rec.hazard_ratio is not None and rec.hazard_ratio.ci is None
    assert "derived from the p-value" in (rec.label or "") and "derived" in (rec.notes or "")


def test_infant_day_15_remission_is_before_blinatumomab() -> None:
    review = {s.study.id: s.study for s in load_review(STUDIES).studies}
    before = {r.id for r in review["bch-infant-2025"].outcomes if r.exposure == "before"}
    assert before == {"cr-day15", "mrd-day15"}


def test_every_crs_icans_and_neurological_record_states_its_grading() -> None:
    expected = {
        "locatelli-relapse-phase3-2025": {"CTCAE v4.0"},
        "bch-infant-2025": {"CTCAE v5.0", "not stated"},
        "cclg-frontline-2025": {"not stated"},
    }
    for loaded in load_review(STUDIES).studies:
        toxic = [r for r in loaded.study.outcomes if r.outcome in ("crs", "icans", "neurological_event")]
        assert all(r.grading is not None for r in toxic), loaded.study.id
        assert {r.grading for r in toxic} <= expected.get(loaded.study.id, set()), loaded.study.id


def test_relapsed_refractory_survival_rates_sit_with_a_group_that_can_give_them() -> None:
    loaded = next(s for s in load_review(STUDIES).studies if s.study.id == "multicentre-preemptive-2025")
    subs = {s.id: s for s in loaded.study.population.subpopulations}
    rows = {r.id: r for r in loaded.study.outcomes}
    for rid in ("efs-1y-rr", "os-1y-rr"):
        assert rows[rid].subpopulation == "rr-survival"
    assert subs["rr-survival"].n == 30 and subs["rr-before"].n == 11
    assert "1 - 1/11" in (subs["rr-survival"].notes or "")


def test_the_guide_s_annotated_example_validates(tmp_path: Path) -> None:
    guide = (STUDIES / "README.md").read_text(encoding="utf-8")
    example = guide.split("## A complete annotated example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    folder = tmp_path / "studies"
    shutil.copytree(STUDIES, folder)
    (folder / "bch-infant-2025.yaml").write_text(example, encoding="utf-8")
    review = load_review(folder)
    assert [str(p) for p in review.problems] == []
    study = next(s.study for s in review.studies if s.study.id == "bch-infant-2025")
    assert study.trial is not None and study.trial.key == "bch-infant-blinatumomab"
