"""Leave-one-out and cumulative refits of Kaplan–Meier rates: the stacked path against pooling each subset.

S = exp(−exp(y)) decreases in y, so the lower limit of S comes from the upper limit of y: the stacked refits
must swap the limits as the one-at-a-time fits do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from metablina.extract.validate import load_review
from metablina.normalize import normalize
from metablina.report import cumulative, leave_one_out
from metablina.run import StratumFit, pool_rows

STUDIES = Path(__file__).resolve().parents[1] / "studies"


@pytest.fixture(scope="module")
def km_stratum() -> StratumFit:
    rows = [r for r in normalize(load_review(STUDIES).studies) if r.form == "km" and r.yi is not None]
    assert len(rows) >= 4, "the shipped review has at least four KM rates with an SE"
    rows = tuple(rows[:4])
    return StratumFit("KM rates", rows, pool_rows(rows, "KM", "REML", "hksj-adhoc"))


def test_stacked_km_refits_agree_with_pooling_each_subset(km_stratum) -> None:
    first = (0.5, 0.4, 0.6)
    for stacked, each in (
        (leave_one_out(km_stratum), leave_one_out(km_stratum, stacked=False)),
        (cumulative(km_stratum, first), cumulative(km_stratum, first, stacked=False)),
    ):
        assert stacked.labels == each.labels
        for name in ("estimate", "ci_low", "ci_high"):
            assert getattr(stacked, name) == pytest.approx(getattr(each, name), rel=1e-8)
        for est, low, high in zip(stacked.estimate, stacked.ci_low, stacked.ci_high, strict=True):
            assert 0 < low <= est <= high < 1
