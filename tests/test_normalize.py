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


# ----------------------------------------------------------------- trial, report, cut, exposure (issue 11)


def test_rows_carry_trial_report_and_the_records_own_data_cut(rows) -> None:
    os_hr = rows["locatelli-relapse-phase3-2025/os-hr-2y-analysis"]
    assert (os_hr.trial, os_hr.report_kind) == ("NCT02393859", "final analysis")
    assert (os_hr.data_cut, os_hr.report_data_cut) == ("2021-09", "2022-11-21")  # quoted from the 2-year cut
    assert os_hr.follow_up_months == 51.9  # the report's median follow-up
    efs_hr = rows["locatelli-relapse-phase3-2025/efs-hr"]
    assert efs_hr.data_cut == "2022-11-21"  # the report's cut, by default
    assert rows["bch-infant-2025/cr-day15"].exposure == "before"
    assert rows["cclg-frontline-2025/crs-g3"].grading == "not stated"
    assert rows["locatelli-relapse-phase3-2025/crs-g3-blinatumomab"].grading == "CTCAE v4.0"
    assert rows["cclg-frontline-2025/crs-g3"].trial == "ChiCTR2400083570"  # its registry id
    assert rows["bch-infant-2025/crs-g3"].trial == "bch-infant-blinatumomab"  # its trial key


def _trial(review):
    return next(s for s in review.studies if s.study.id == "locatelli-relapse-phase3-2025")


def test_log_rank_o_minus_e_and_v_become_a_peto_hazard_ratio(review) -> None:
    """ln HR = (O - E)/V, SE = 1/sqrt(V) (Parmar 1998; Tierney 2007): O - E = -8, V = 10 by hand."""
    trial = _trial(review)
    record = next(r for r in trial.study.outcomes if r.id == "efs-hr")
    logrank = {"experimental": "blinatumomab", "control": "chemotherapy", "o_minus_e": -8.0, "variance": 10.0}
    rec = type(record).model_validate({"id": "lr", "outcome": "efs", "logrank": logrank, "quote": "x"})
    row = normalize_record(trial, rec)
    assert (row.form, row.scale) == ("hr", "log")
    assert (row.yi, row.sei) == pytest.approx((-0.8, 1 / math.sqrt(10)), rel=1e-12)
    assert row.estimate == pytest.approx(math.exp(-0.8), rel=1e-12)
    assert any(d.startswith("HR from log-rank O−E/V") for d in row.derivations)
    assert row.comparison == "randomised"
    flipped = rec.model_copy(
        update={
            "logrank": rec.logrank.model_copy(
                update={"experimental": "chemotherapy", "control": "blinatumomab"}
            )
        }
    )
    assert normalize_record(trial, flipped).yi == pytest.approx(0.8, rel=1e-12)


def test_medians_and_differences_are_rows_that_are_never_pooled(review) -> None:
    from metablina.plan import MEASURE_FORM

    trial = _trial(review)
    model = type(trial.study.outcomes[0])
    median = model.model_validate(
        {
            "id": "m",
            "outcome": "efs",
            "arm": "blinatumomab",
            "median": {"kind": "survival", "value": 24.5, "unit": "months", "ci": {"low": 18.0}},
            "quote": "x",
        }
    )
    row = normalize_record(trial, median)
    assert (row.form, row.estimate, row.ci_low, row.ci_high) == ("median", 24.5, 18.0, None)
    assert row.reported == "median survival 24.5 months (95% CI 18-NR)"
    rmst = {
        "experimental": "blinatumomab",
        "control": "chemotherapy",
        "measure": "RMST",
        "value": 6.1,
        "ci": {"low": 1.2, "high": 11.0},
        "unit": "months",
        "landmark_months": 60,
    }
    diff = normalize_record(
        trial, model.model_validate({"id": "d", "outcome": "efs", "difference": rmst, "quote": "x"})
    )
    assert (diff.form, diff.estimate, diff.landmark_months) == ("difference", 6.1, 60)
    assert not {"median", "difference"} & set(MEASURE_FORM.values())  # no measure pools them


def test_an_age_range_with_one_bound_is_shown_and_not_converted(review) -> None:
    """Infants "< 1 year": the range has its upper bound only; no mean/SD is derived from half a range."""
    loaded = next(s for s in review.studies if s.study.id == "bch-infant-2025")
    pop = loaded.study.population
    age = pop.age.model_copy(update={"range": pop.age.range.model_copy(update={"low": None})})
    study = loaded.study.model_copy(update={"population": pop.model_copy(update={"age": age})})
    [c] = characteristics([type(loaded)(study, loaded.doc)])
    assert c.age == "median 8.5, at most 11.5 months"
    assert c.age_mean_sd is None and c.age_derivation is None
