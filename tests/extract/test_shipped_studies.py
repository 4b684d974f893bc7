"""The five extracts of the first review: valid, traceable, and holding what the sources say."""

from __future__ import annotations

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
