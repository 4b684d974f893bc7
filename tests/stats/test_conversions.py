"""Reported forms -> estimate and SE, against the worked numbers of METHODS.md §3.1, §3.2 and §4.2."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metablina.stats.conversions import (
    back_cloglog,
    km_from_ci,
    km_from_se,
    log_hr_from_ci,
    log_hr_from_logrank_events,
    log_hr_from_logrank_p,
    log_hr_from_o_minus_e,
    log_hr_from_p,
    mean_sd_from_quantiles,
    most_symmetric_scale,
)
from metablina.stats.errors import InputError

# METHODS.md §3.1 table (values computed with metafor conv.wald / by hand there, 6 decimals).


def test_hr_from_ci() -> None:
    est = log_hr_from_ci(0.38, 0.22, 0.65)
    assert est.yi == pytest.approx(-0.967584, abs=5e-7)
    assert est.sei == pytest.approx(0.276369, abs=5e-7)
    assert log_hr_from_ci(0.38, None, 0.65).sei == pytest.approx(0.273883, abs=5e-7)
    assert log_hr_from_ci(0.38, 0.22, None).sei == pytest.approx(0.278854, abs=5e-7)


def test_hr_from_p() -> None:
    assert log_hr_from_p(0.55, 0.048).sei == pytest.approx(0.302340, abs=5e-7)
    assert "upper bound" in log_hr_from_p(0.38, 0.001, bound=True).rule


def test_logrank_conversions() -> None:
    one_to_one = log_hr_from_logrank_p(0.03, 60, favours_experimental=True)
    assert (one_to_one.yi, one_to_one.sei) == pytest.approx((-0.560315, 0.258199), abs=5e-7)
    two_to_one = log_hr_from_logrank_p(0.03, 60, favours_experimental=True, allocation=(2, 1))
    assert (two_to_one.yi, two_to_one.sei) == pytest.approx((-0.594304, 0.273861), abs=5e-7)
    per_arm = log_hr_from_logrank_events(0.03, 22, 38, favours_experimental=True)
    assert (per_arm.yi, per_arm.sei) == pytest.approx((-0.581367, 0.267900), abs=5e-7)
    oe = log_hr_from_o_minus_e(-8.1, 14.2)
    assert (oe.yi, oe.sei) == pytest.approx((-0.570423, 0.265372), abs=5e-7)
    assert log_hr_from_logrank_p(0.03, 60, favours_experimental=False).yi == pytest.approx(0.560315, abs=5e-7)


def test_km_ci_scale_is_detected_and_converted() -> None:
    scale, ratios = most_symmetric_scale(0.578, 0.425, 0.704)
    assert scale == "cloglog"
    expected = {"identity": 0.824, "log": 0.641, "logit": 0.895, "cloglog": 1.001, "arcsine": 0.858}
    assert ratios == pytest.approx(expected, abs=5e-4)
    est = km_from_ci(0.578, 0.425, 0.704)
    assert (est.yi, est.sei) == pytest.approx((-0.601149, 0.227341), abs=5e-7)


def test_km_plus_minus_se() -> None:
    cll = km_from_se(0.978, 0.022)
    assert (cll.yi, cll.sei) == pytest.approx((-3.805611, 1.011206), abs=5e-6)
    logit = km_from_se(0.978, 0.022, "logit")
    assert (logit.yi, logit.sei) == pytest.approx((3.7945, 1.0225), abs=5e-5)
    # Back-transformed cloglog 95% CI [0.851, 0.997]; the naive Wald interval would pass 1.
    low, high = back_cloglog(cll.yi + 1.959964 * cll.sei), back_cloglog(cll.yi - 1.959964 * cll.sei)
    assert (low, high) == pytest.approx((0.851, 0.997), abs=5e-4)


@pytest.mark.parametrize(
    ("kwargs", "mean", "sd", "stat", "crit"),
    [
        ({"minimum": 2, "median": 6, "maximum": 14}, 6.594468, 3.211576, 0.333, 0.416),
        ({"q1": 4, "median": 6, "q3": 10}, 6.719500, 4.787076, 0.333, 0.578),
        ({"minimum": 2, "q1": 4, "median": 6, "q3": 10, "maximum": 14}, 6.938841, 3.679435, 0.491, 0.666),
    ],
)
def test_five_number_summaries(kwargs: dict, mean: float, sd: float, stat: float, crit: float) -> None:
    # METHODS.md §4.2, n = 20 (metafor conv.fivenum, development version).
    out = mean_sd_from_quantiles(20, **kwargs)
    assert (out.mean, out.sd) == pytest.approx((mean, sd), abs=5e-7)
    assert (out.skew_statistic, out.skew_critical) == pytest.approx((stat, crit), abs=5e-4)
    assert not out.skewed


def test_hozo_and_skewness_refusal() -> None:
    hozo = mean_sd_from_quantiles(20, minimum=2, median=6, maximum=14, method="hozo")
    assert (hozo.mean, hozo.sd) == pytest.approx((7.05, 3.512), abs=5e-4)
    assert mean_sd_from_quantiles(20, minimum=0, median=1, maximum=30).skewed


@pytest.mark.parametrize(
    "call",
    [
        lambda: log_hr_from_ci(-1, 0.2, 0.6),
        lambda: log_hr_from_ci(0.9, 0.2, 0.6),
        lambda: log_hr_from_p(1.0, 0.5),
        lambda: km_from_se(1.0, 0.0),
        lambda: km_from_ci(0.5, 0.6, 0.7),
        lambda: mean_sd_from_quantiles(4, minimum=1, median=2, maximum=3),
        lambda: mean_sd_from_quantiles(20, minimum=5, median=2, maximum=3),
        lambda: mean_sd_from_quantiles(20, median=2),
    ],
)
def test_bad_input_is_refused(call) -> None:
    with pytest.raises(InputError):
        call()


@given(st.floats(0.02, 0.98), st.floats(0.001, 0.05))
def test_cloglog_round_trip_and_positive_se(s: float, se: float) -> None:
    est = km_from_se(s, se)
    assert back_cloglog(est.yi) == pytest.approx(s, rel=1e-12)
    assert est.sei > 0 and math.isfinite(est.sei)
