"""Reported forms -> effect rows, checked on the shipped extracts against METHODS.md's worked numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from metablina.extract.validate import load_review
from metablina.normalize import characteristics, normalize, normalize_record

STUDIES = Path(__file__).resolve().parents[1] / "studies"


@pytest.fixture(scope="module")
def review():
    return load_review(STUDIES)


@pytest.fixture(scope="module")
def rows(review):
    return {r.key: r for r in normalize(review.studies)}


def test_percentage_of_a_denominator_becomes_a_flagged_count(rows) -> None:
    crs = rows["cclg-frontline-2025/crs-g3"]
    assert (crs.events, crs.total, crs.reported) == (9, 202, "4.5% of 202")
    assert any("events = 9" in d and "4.5%" in d for d in crs.derivations)
    printed = rows["cclg-frontline-2025/mrd-mfc-eoi"]
    assert (printed.events, printed.total, printed.derivations) == (192, 202, ())


def test_km_plus_minus_se_on_log_minus_log(rows) -> None:
    efs = rows["multicentre-preemptive-2025/efs-1y-mrdneg"]
    assert efs.scale == "cloglog" and efs.landmark_months == 12
    assert (efs.yi, efs.sei) == pytest.approx((-3.805611, 1.011206), abs=5e-6)  # METHODS.md §3.2


def test_km_with_ci_recovers_the_se_on_the_scale_it_was_built_on(rows) -> None:
    efs = rows["locatelli-relapse-phase3-2025/efs-km60-blinatumomab"]
    assert (efs.yi, efs.sei) == pytest.approx((-0.601149, 0.227341), abs=5e-7)  # METHODS.md §3.2
    assert not any("caution" in d for d in efs.derivations)


def test_hazard_ratio_with_ci(rows) -> None:
    hr = rows["locatelli-relapse-phase3-2025/efs-hr"]
    assert (hr.yi, hr.sei) == pytest.approx((-0.967584, 0.276369), abs=5e-7)  # METHODS.md §3.1
    assert (hr.estimate, hr.ci_low, hr.ci_high) == (0.38, 0.22, 0.65)


def test_hazard_ratio_reported_the_other_way_round_is_inverted(review) -> None:
    trial = next(s for s in review.studies if s.study.id == "locatelli-relapse-phase3-2025")
    record = next(r for r in trial.study.outcomes if r.id == "efs-hr")
    flipped = record.model_copy(
        update={
            "hazard_ratio": record.hazard_ratio.model_copy(
                update={
                    "experimental": "chemotherapy",
                    "control": "blinatumomab",
                    "hr": 1 / 0.38,
                    "ci": record.hazard_ratio.ci.model_copy(update={"low": 1 / 0.65, "high": 1 / 0.22}),
                }
            )
        }
    )
    row = normalize_record(trial, flipped)
    assert row.yi == pytest.approx(-0.967584, abs=5e-7)
    assert row.estimate == pytest.approx(0.38)
    assert any("inverted" in d for d in row.derivations)


def test_rates_without_precision_are_kept_but_marked_unusable(rows) -> None:
    efs = rows["bch-firstline-2024/efs-2y"]
    assert efs.yi is None and "no SE or CI" in efs.unusable
    assert efs.estimate == pytest.approx(0.978)


def test_every_row_keeps_its_quotes_and_source(rows) -> None:
    for r in rows.values():
        assert r.quotes and r.source.endswith(".txt")
        if r.form != "proportion" and not r.unusable:
            assert math.isfinite(r.yi) and r.sei > 0


def test_age_median_and_range_become_a_flagged_mean_and_sd(review) -> None:
    by_id = {c.study: c for c in characteristics(review.studies)}
    infants = by_id["bch-infant-2025"]
    assert infants.age == "median 8.5, range 1.3-11.5 months"
    assert infants.age_derivation.startswith("derived (Luo 2018 / Wan 2014, scenario S1)")
    assert infants.age_mean_sd[0] == pytest.approx(7.663355, abs=1e-6)
    assert "skewness test rejects" in by_id["cclg-frontline-2025"].age_derivation
