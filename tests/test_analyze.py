"""Landmark survival and hazard-ratio pooling through analyze.pool, against METHODS.md's worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metablina.analyze import pool
from metablina.stats.errors import InputError

# METHODS.md Appendix A.6: 97.8% ± 2.2%, 57.8% (42.5-70.4), 85% ± 3% on log(-log S).
KM = {"yi": np.array([-3.805611, -0.601149, -1.816961]), "sei": np.array([1.011206, 0.227341, 0.217169])}
# METHODS.md §2.5: HR 0.38 (0.22-0.65), 0.55 (0.30-1.01), 0.71 (0.45-1.12), 0.45 (0.20-1.01).
HR = {
    "yi": np.log([0.38, 0.55, 0.71, 0.45]),
    "sei": (np.log([0.65, 1.01, 1.12, 1.01]) - np.log([0.22, 0.30, 0.45, 0.20])) / (2 * 1.959964),
}


def test_landmark_survival_pools_on_log_minus_log_and_swaps_the_ends_back() -> None:
    z = pool("KM", "REML", "z", KM, ["a", "b", "c"])
    assert z.fit.tau2 == pytest.approx(1.78431, abs=5e-5)
    assert z.fit.estimate == pytest.approx(-1.84895, abs=5e-5)
    back = z.back()
    assert back["estimate"] == pytest.approx(0.8544, abs=5e-5)
    assert (back["ci_low"], back["ci_high"]) == pytest.approx((0.4480, 0.9696), abs=5e-5)
    assert back["ci_low"] < back["estimate"] < back["ci_high"]
    adhoc = pool("KM", "REML", "hksj-adhoc", KM, ["a", "b", "c"]).back()
    assert (adhoc["ci_low"], adhoc["ci_high"]) == pytest.approx((0.0011, 0.9963), abs=5e-5)
    assert (adhoc["pi_low"], adhoc["pi_high"]) == pytest.approx((0.0000, 0.9998), abs=5e-5)


def test_hazard_ratios_pool_on_the_log_scale() -> None:
    res = pool("HR", "REML", "hksj-adhoc", HR, ["a", "b", "c", "d"])
    assert res.fit.tau2 == pytest.approx(0.022662, abs=5e-6)
    back = res.back()
    assert (back["ci_low"], back["ci_high"]) == pytest.approx((0.313, 0.894), abs=5e-4)
    assert back["estimate"] == pytest.approx(math.exp(-0.637184), rel=1e-5)


@pytest.mark.parametrize("method", ["GLMM", "MH", "PETO"])
def test_generic_estimates_only_take_inverse_variance_models(method: str) -> None:
    with pytest.raises(InputError, match="pooled by inverse variance"):
        pool("HR", method, "z", HR, ["a", "b", "c", "d"])
