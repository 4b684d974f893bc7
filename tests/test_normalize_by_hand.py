"""Normalisation against numbers worked by hand, for the reported forms whose arithmetic is easy to get wrong.

Each expected value below was computed once, outside metablina, from the formula in its comment with the
normal quantiles z(0.90) = 1.6448536269514722, z(0.95) = 1.959963984540054, z(0.99) = 2.5758293035489004;
the tests never call metablina's own conversion functions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from metablina.extract.validate import load_review
from metablina.normalize import normalize_record

STUDIES = Path(__file__).resolve().parents[1] / "studies"


@pytest.fixture(scope="module")
def review():
    return load_review(STUDIES)


def _record(review, study: str, record: str):
    loaded = next(s for s in review.studies if s.study.id == study)
    return loaded, next(r for r in loaded.study.outcomes if r.id == record)


def _km_variant(review, record: str, **update):
    loaded, rec = _record(review, *record.split("/"))
    return normalize_record(loaded, rec.model_copy(update={"km": rec.km.model_copy(update=update)}))


def _hr_variant(review, **update):
    loaded, rec = _record(review, "locatelli-relapse-phase3-2025", "efs-hr")
    return normalize_record(
        loaded, rec.model_copy(update={"hazard_ratio": rec.hazard_ratio.model_copy(update=update)})
    )


# S = 57.8% (42.5 to 70.4) at 60 months: y = ln(-ln 0.578); SE = |ln(-ln 0.704) - ln(-ln 0.425)| / (2 z)
KM_CI = "locatelli-relapse-phase3-2025/efs-km60-blinatumomab"


@pytest.mark.parametrize(
    ("level", "sei"),
    [(95, 0.22734085278357882), (90, 0.2708933344398935), (99, 0.17298502003084226)],
)
def test_km_rate_with_a_ci_at_its_stated_level(review, level, sei) -> None:
    row = _km_variant(review, KM_CI, ci_level=level)
    assert row.yi == pytest.approx(-0.6011490061047678, rel=1e-12)
    assert row.sei == pytest.approx(sei, rel=1e-12)
    assert f"{level}% CI" in row.reported


# S = 97.8% ± 2.2 at 12 months: y = ln(-ln 0.978); SE(S) = 0.022 (one SE) or 0.022 / z(0.95) (a 95%
# half-width); SE on log(-log) by the delta method = SE(S) / |S ln S|
KM_PM = "multicentre-preemptive-2025/efs-1y-mrdneg"


@pytest.mark.parametrize(
    ("plus_minus", "sei", "how"),
    [
        ("se", 1.0112057430674501, "one SE"),
        ("ci95-halfwidth", 0.5159307778325072, "95% half-width"),
    ],
)
def test_km_plus_minus_read_as_its_stated_kind(review, plus_minus, sei, how) -> None:
    row = _km_variant(review, KM_PM, plus_minus=plus_minus)
    assert row.yi == pytest.approx(-3.8056106405283554, rel=1e-12)
    assert row.sei == pytest.approx(sei, rel=1e-12)
    assert any(how in d for d in row.derivations)


# HR 0.38 (0.22 to 0.65): y = ln 0.38; SE = (ln 0.65 - ln 0.22) / (2 z)
@pytest.mark.parametrize(
    ("level", "sei"),
    [(95, 0.27636855194345583), (90, 0.32931344126503326), (99, 0.21029049072559294)],
)
def test_hazard_ratio_with_a_ci_at_its_stated_level(review, level, sei) -> None:
    row = _hr_variant(review, ci_level=level)
    assert row.yi == pytest.approx(-0.9675840262617056, rel=1e-12)
    assert row.sei == pytest.approx(sei, rel=1e-12)
