"""The data a forest plot draws: study rows, pooled rows, groups and the whole plot, plus its style.

Plain frozen dataclasses that check themselves, with no plotting library behind them, so that the
analyses can be turned into plot data (:mod:`metablina.render.forestdata`) in a process that never
imports matplotlib; :mod:`metablina.render.forest` draws them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Scale = Literal["proportion", "ratio", "difference"]
_SCALES = ("proportion", "ratio", "difference")
_KINDS = ("frequentist", "bayes")


# --------------------------------------------------------------------------------------------- data objects


def _float(value: object, what: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {value!r} is not a number") from None


def _check_interval(what: str, estimate: float, low: float, high: float, name: str = "CI") -> None:
    if math.isnan(estimate) or math.isnan(low) or math.isnan(high):
        return
    tol = 1e-9 * max(1.0, abs(estimate))
    if not (low <= estimate + tol and estimate <= high + tol):
        raise ValueError(f"{what}: {name} [{low:g}, {high:g}] does not contain the estimate {estimate:g}")


@dataclass(frozen=True)
class StudyRow:
    """One study: ``detail`` is shown as given ("9/202", "97.8 ± 2.2"); values on the display scale
    (proportions in [0, 1], ratios as ratios); ``weight`` in percent, None when the model has none.
    A NaN estimate is printed as NA with no square (a study that is not estimable)."""

    label: str
    detail: str
    estimate: float
    ci_low: float
    ci_high: float
    weight: float | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        for name in ("estimate", "ci_low", "ci_high"):
            object.__setattr__(self, name, _float(getattr(self, name), f"{self.label}: {name}"))
        if self.weight is not None:
            weight = _float(self.weight, f"{self.label}: weight")
            if not (math.isfinite(weight) and weight >= 0):
                raise ValueError(f"{self.label}: weight {weight!r} must be a finite percentage >= 0")
            object.__setattr__(self, "weight", weight)
        _check_interval(self.label, self.estimate, self.ci_low, self.ci_high)


@dataclass(frozen=True)
class Pooled:
    """A pooled estimate, drawn as a diamond: filled for ``kind="frequentist"``, open for ``"bayes"``
    (posterior summary and credible interval); ``pi_low``/``pi_high`` add a prediction-interval bar
    beneath."""

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float | None = None
    pi_high: float | None = None
    kind: Literal["frequentist", "bayes"] = "frequentist"
    weight: float | None = None

    def __post_init__(self) -> None:
        for name in ("estimate", "ci_low", "ci_high"):
            object.__setattr__(self, name, _float(getattr(self, name), f"{self.label}: {name}"))
        if not math.isfinite(self.estimate):
            raise ValueError(f"{self.label}: a pooled estimate must be finite, got {self.estimate!r}")
        if self.kind not in _KINDS:
            raise ValueError(f"{self.label}: kind {self.kind!r} is not one of {', '.join(_KINDS)}")
        if (self.pi_low is None) != (self.pi_high is None):
            raise ValueError(f"{self.label}: give both pi_low and pi_high or neither")
        if self.pi_low is not None:
            object.__setattr__(self, "pi_low", _float(self.pi_low, f"{self.label}: pi_low"))
            object.__setattr__(self, "pi_high", _float(self.pi_high, f"{self.label}: pi_high"))
            _check_interval(self.label, self.estimate, self.pi_low, self.pi_high, "prediction interval")  # type: ignore[arg-type]
        if self.weight is not None:
            object.__setattr__(self, "weight", _float(self.weight, f"{self.label}: weight"))
        _check_interval(self.label, self.estimate, self.ci_low, self.ci_high)

    @property
    def has_pi(self) -> bool:
        return self.pi_low is not None


@dataclass(frozen=True)
class Group:
    """A subgroup (header, studies, subtotal diamonds, heterogeneity line) or, with ``refusal``, a stratum
    that is shown without a diamond and with the reason it was not pooled. ``label`` None or "": no header."""

    label: str | None
    rows: Sequence[StudyRow] = ()
    subtotals: Sequence[Pooled] = ()
    heterogeneity: str | None = None
    refusal: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "subtotals", tuple(self.subtotals))
        if self.refusal and self.subtotals:
            raise ValueError(f"group {self.label!r}: a refused stratum has no subtotal diamond")


@dataclass(frozen=True)
class ForestData:
    """Everything a forest plot shows.

    ``scale``: "proportion" (values in [0, 1], shown in percent on a linear axis), "ratio" (log axis) or
    "difference" (linear). ``null_value`` None means the scale's default: 1 for ratios, 0 for differences,
    no line for proportions. ``heterogeneity``, ``model`` and ``subgroup_test`` are printed as lines under
    the overall estimate, ``notes`` under the x axis. ``digits``: decimals (default 1 for percentages, 2
    otherwise).
    """

    title: str
    measure_label: str
    scale: Scale
    groups: Sequence[Group]
    overall: Sequence[Pooled] = ()
    heterogeneity: str | None = None
    model: str = ""
    subgroup_test: str | None = None
    notes: Sequence[str] = ()
    null_value: float | None = None
    xlim: tuple[float, float] | None = None
    detail_label: str = ""
    study_label: str = "Study"
    estimate_header: str = "Estimate [95% CI]"
    favours: tuple[str, str] | None = None
    digits: int | None = None

    def __post_init__(self) -> None:
        if self.scale not in _SCALES:
            raise ValueError(f"scale: {self.scale!r} is not one of {', '.join(_SCALES)}")
        for name in ("groups", "overall", "notes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not any(g.rows or g.subtotals or g.refusal for g in self.groups) and not self.overall:
            raise ValueError("groups: nothing to draw (no study, subtotal, refusal or overall estimate)")
        values = [(r.label, (r.estimate, r.ci_low, r.ci_high)) for g in self.groups for r in g.rows]
        values += [(p.label, (p.estimate, p.ci_low, p.ci_high, p.pi_low, p.pi_high)) for p in self.pooled]
        for label, vals in values:
            for v in vals:
                if v is None or math.isnan(v):
                    continue
                if self.scale == "proportion" and not 0.0 <= v <= 1.0:
                    raise ValueError(f"{label}: {v:g} is outside [0, 1] (proportions are given as fractions)")
                if self.scale == "ratio" and v < 0:
                    raise ValueError(f"{label}: ratio {v:g} is negative")
        for label, vals in values:
            if self.scale == "ratio" and not vals[0] > 0 and not math.isnan(vals[0]):
                raise ValueError(f"{label}: ratio estimate {vals[0]:g} must be > 0")
        if self.xlim is not None:
            lo, hi = (_float(v, "xlim") for v in self.xlim)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"xlim: {self.xlim!r} must be two finite numbers, low < high")
            if self.scale == "ratio" and lo <= 0:
                raise ValueError(f"xlim: {self.xlim!r} must be positive on a ratio (log) axis")
            object.__setattr__(self, "xlim", (lo, hi))
        if self.favours is not None and len(self.favours) != 2:
            raise ValueError("favours: give two labels (left of the null, right of the null)")

    @property
    def pooled(self) -> tuple[Pooled, ...]:
        return tuple(p for g in self.groups for p in g.subtotals) + tuple(self.overall)

    @property
    def null(self) -> float | None:
        if self.null_value is not None:
            return float(self.null_value)
        return {"ratio": 1.0, "difference": 0.0}.get(self.scale)


@dataclass(frozen=True)
class ForestStyle:
    """Typography and proportions. Sizes in points except ``plot_width`` (inches); ``row_height`` is a
    multiple of ``fontsize``. ``font`` None: the first installed of figures.PREFERRED_FONTS."""

    fontsize: float = 8.0
    font: tuple[str, ...] | None = None
    plot_width: float = 2.4
    row_height: float = 1.5
    ink: str = "black"
    square_color: str = "#3a3a3a"
    stat_color: str = "#262626"
    note_color: str = "#4d4d4d"
    pi_color: str = "#8a8a8a"
    reference_color: str = "#7a7a7a"
    dpi: float = 100.0
