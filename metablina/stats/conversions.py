"""Conversions from what a paper reports to an estimate with a standard error on an analysis scale.

Hazard ratios (Cochrane Handbook 6.3; Parmar, Torri & Stewart 1998; Tierney et al. 2007; Altman &
Bland 2011), Kaplan-Meier landmark rates on the complementary log-log or logit scale by the delta
method, and medians with ranges or IQRs to means and SDs (Hozo 2005; Wan 2014; Luo 2018; Shi 2020,
2023). Pure functions on floats; the caller keeps the provenance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from scipy.special import ndtri

from metablina.stats.errors import InputError

Z975 = float(ndtri(0.975))

SCALES: dict[str, Callable[[float], float]] = {
    "identity": lambda s: s,
    "log": math.log,
    "logit": lambda s: math.log(s / (1 - s)),
    "cloglog": lambda s: math.log(-math.log(s)),
    "arcsine": lambda s: math.asin(math.sqrt(s)),
}


@dataclass(frozen=True)
class Estimate:
    """An estimate and its standard error on a named scale, with the rule that produced it."""

    yi: float
    sei: float
    scale: str
    rule: str

    @property
    def vi(self) -> float:
        return self.sei**2


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise InputError(f"level must lie in (0, 1), got {level}")
    return float(ndtri(0.5 + level / 2))


def _proportion(name: str, value: float, *, open_interval: bool = True) -> None:
    if not (0 < value < 1 if open_interval else 0 <= value <= 1) or math.isnan(value):
        raise InputError(f"{name} must lie strictly between 0 and 1, got {value}")


# ---------------------------------------------------------------- hazard ratios


def log_hr_from_ci(hr: float, low: float | None, high: float | None, level: float = 0.95) -> Estimate:
    """ln HR with SE = (ln U − ln L)/(2z); from one limit only, |ln limit − ln HR|/z."""
    for name, v in (("hr", hr), ("ci low", low), ("ci high", high)):
        if v is not None and not v > 0:
            raise InputError(f"{name} must be positive, got {v}")
    z = _z(level)
    y = math.log(hr)
    if low is not None and high is not None:
        if not low <= hr <= high:
            raise InputError(f"HR {hr} lies outside its CI {low}-{high}")
        return Estimate(y, (math.log(high) - math.log(low)) / (2 * z), "log", "SE from the CI width")
    if high is not None:
        return Estimate(y, abs(math.log(high) - y) / z, "log", "SE from the upper CI limit only")
    if low is not None:
        return Estimate(y, abs(y - math.log(low)) / z, "log", "SE from the lower CI limit only")
    raise InputError("a CI needs at least one limit")


def ci_asymmetry(estimate: float, low: float, high: float, scale: str) -> float:
    """Upper over lower half-width on ``scale``: 1 where the CI was built on that scale."""
    g = SCALES[scale]
    return (g(high) - g(estimate)) / (g(estimate) - g(low))


def log_hr_from_p(hr: float, p: float, *, bound: bool = False) -> Estimate:
    """ln HR with SE = |ln HR| / Φ⁻¹(1 − p/2), from a two-sided Wald or log-rank p.

    With ``bound=True`` (p reported as "< p") the SE is an upper bound, so the record is flagged.
    """
    if not hr > 0:
        raise InputError(f"hr must be positive, got {hr}")
    if not 0 < p < 1:
        raise InputError(f"p must lie strictly between 0 and 1, got {p}")
    if hr == 1:
        raise InputError("HR = 1 carries no information about its SE through p")
    z = float(ndtri(1 - p / 2))
    rule = "SE from the two-sided p" + (" (p given as a bound: the SE is an upper bound)" if bound else "")
    return Estimate(math.log(hr), abs(math.log(hr)) / z, "log", rule)


def log_hr_from_logrank_p(
    p: float, events: int, *, favours_experimental: bool, allocation: tuple[float, float] = (1, 1)
) -> Estimate:
    """Peto's ln HR = (O−E)/V from a log-rank p and total events D (Tierney et al. 2007).

    V = D·r·c/(r+c)² for allocation r:c, O−E = ±Φ⁻¹(1−p/2)·√V, so ln HR = (O−E)/V and SE = 1/√V.
    """
    if not 0 < p < 1:
        raise InputError(f"p must lie strictly between 0 and 1, got {p}")
    if events < 1:
        raise InputError(f"events must be at least 1, got {events}")
    r, c = allocation
    v = events * r * c / (r + c) ** 2
    o_minus_e = (-1 if favours_experimental else 1) * float(ndtri(1 - p / 2)) * math.sqrt(v)
    return Estimate(o_minus_e / v, 1 / math.sqrt(v), "log", "Peto (O-E)/V from the log-rank p and events")


def log_hr_from_logrank_events(
    p: float, events_experimental: int, events_control: int, *, favours_experimental: bool
) -> Estimate:
    """As :func:`log_hr_from_logrank_p` with V ≈ O_r·O_c/(O_r+O_c) from the events per arm."""
    total = events_experimental + events_control
    if events_experimental < 1 or events_control < 1:
        raise InputError("both arms need at least one event")
    v = events_experimental * events_control / total
    o_minus_e = (-1 if favours_experimental else 1) * float(ndtri(1 - p / 2)) * math.sqrt(v)
    return Estimate(o_minus_e / v, 1 / math.sqrt(v), "log", "Peto (O-E)/V with V from the events per arm")


def log_hr_from_o_minus_e(o_minus_e: float, v: float) -> Estimate:
    """Peto's estimator from a reported O−E and its variance V."""
    if not v > 0:
        raise InputError(f"V must be positive, got {v}")
    return Estimate(o_minus_e / v, 1 / math.sqrt(v), "log", "Peto (O-E)/V")


# ---------------------------------------------------------------- Kaplan-Meier landmark rates


def _delta_se(s: float, se: float, scale: str) -> float:
    derivative = {
        "cloglog": 1 / abs(s * math.log(s)),
        "logit": 1 / (s * (1 - s)),
        "log": 1 / s,
        "arcsine": 1 / (2 * math.sqrt(s * (1 - s))),
        "identity": 1.0,
    }[scale]
    return se * derivative


def km_from_se(s: float, se: float, scale: str = "cloglog") -> Estimate:
    """A KM rate S ± SE (proportions) on ``scale`` by the delta method; g(S) = log(−log S) by default."""
    _proportion("S", s)
    if not se > 0:
        raise InputError(f"the SE of S must be positive, got {se}")
    return Estimate(
        SCALES[scale](s), _delta_se(s, se, scale), scale, f"delta method from S ± SE onto {scale}"
    )


def km_from_ci(s: float, low: float, high: float, scale: str = "cloglog", level: float = 0.95) -> Estimate:
    """A KM rate with its CI: SE_g = |g(U) − g(L)|/(2z) on the scale the CI is symmetric on."""
    for name, v in (("S", s), ("ci low", low), ("ci high", high)):
        _proportion(name, v)
    if not low <= s <= high:
        raise InputError(f"S {s} lies outside its CI {low}-{high}")
    g = SCALES[scale]
    return Estimate(g(s), abs(g(high) - g(low)) / (2 * _z(level)), scale, f"SE from the CI width on {scale}")


def most_symmetric_scale(s: float, low: float, high: float) -> tuple[str, dict[str, float]]:
    """The scale on which a reported CI is most nearly symmetric, with the half-width ratio of each."""
    ratios = {name: ci_asymmetry(s, low, high, name) for name in SCALES}
    return min(ratios, key=lambda k: abs(math.log(ratios[k]))), ratios


def back_cloglog(y: float) -> float:
    """S = exp(−exp(y)), the inverse of the complementary log-log."""
    return math.exp(-math.exp(y))


# ---------------------------------------------------------------- medians to means


@dataclass(frozen=True)
class MeanSD:
    """A mean and SD estimated from a five-number summary, with the skewness test that licenses it."""

    mean: float
    sd: float
    scenario: str
    method: str
    skew_statistic: float | None
    skew_critical: float | None

    @property
    def skewed(self) -> bool:
        """Shi et al. 2023: reject normality, so the conversion should not be used."""
        return self.skew_statistic is not None and self.skew_statistic > self.skew_critical


def _xi(n: int) -> float:
    return 2 * float(ndtri((n - 0.375) / (n + 0.25)))


def _eta(n: int) -> float:
    return 2 * float(ndtri((0.75 * n - 0.125) / (n + 0.25)))


def mean_sd_from_quantiles(
    n: int,
    *,
    minimum: float | None = None,
    q1: float | None = None,
    median: float,
    q3: float | None = None,
    maximum: float | None = None,
    method: str = "luo-shi",
) -> MeanSD:
    """Mean and SD from the median with the range (S1), the IQR (S2) or both (S3).

    ``luo-shi``: means by Luo et al. 2018, SDs by Wan et al. 2014 (S1, S2) and Shi et al. 2020 (S3),
    as metafor's ``conv.fivenum``; ``hozo``: Hozo et al. 2005 for S1 only (superseded, for replication).
    The skewness test of Shi et al. 2023 comes with the result.
    """
    if n < 5:
        raise InputError(f"n must be at least 5 for these approximations, got {n}")
    has_range = minimum is not None and maximum is not None
    has_iqr = q1 is not None and q3 is not None
    values = [v for v in (minimum, q1, median, q3, maximum) if v is not None]
    if values != sorted(values):
        raise InputError(f"the summary must be ordered min <= q1 <= median <= q3 <= max, got {values}")
    a, b, m = minimum, maximum, median
    if method == "hozo":
        if not has_range or has_iqr:
            raise InputError("Hozo et al. 2005 needs the median with the range only")
        mean = (a + 2 * m + b) / 4 + (a - 2 * m + b) / (4 * n)
        sd = math.sqrt(((a - 2 * m + b) ** 2 / 4 + (b - a) ** 2) / 12)
        return MeanSD(mean, sd, "S1", "Hozo 2005", None, None)
    if method != "luo-shi":
        raise InputError(f"method must be 'luo-shi' or 'hozo', got {method!r}")
    root_n = math.sqrt(n)
    if has_range and has_iqr:
        w1 = 2.2 / (2.2 + n**0.75)
        w2 = 0.7 - 0.72 / n**0.55
        mean = w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m
        w = 1 / (1 + 0.07 * n**0.6)
        sd = w * (b - a) / _xi(n) + (1 - w) * (q3 - q1) / _eta(n)
        stat = max(
            2.65 * math.log(0.6 * n) / root_n * abs(a + b - 2 * m) / (b - a), abs(q1 + q3 - 2 * m) / (q3 - q1)
        )
        return MeanSD(mean, sd, "S3", "Luo 2018 / Shi 2020", stat, 3 / root_n - 40 / n**3)
    if has_range:
        w = 4 / (4 + n**0.75)
        mean = w * (a + b) / 2 + (1 - w) * m
        stat = abs(a + b - 2 * m) / (b - a)
        return MeanSD(
            mean, (b - a) / _xi(n), "S1", "Luo 2018 / Wan 2014", stat, 1 / math.log(n + 9) + 2.5 / (n + 1)
        )
    if has_iqr:
        w = 0.7 + 0.39 / n
        mean = w * (q1 + q3) / 2 + (1 - w) * m
        stat = abs(q1 + q3 - 2 * m) / (q3 - q1)
        return MeanSD(mean, (q3 - q1) / _eta(n), "S2", "Luo 2018 / Wan 2014", stat, 2.65 / root_n - 6 / n**2)
    raise InputError("give the range (minimum and maximum), the IQR (q1 and q3), or both")
