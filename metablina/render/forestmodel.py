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
Measure = Literal["RR", "OR", "RD", "HR"]
MEASURES: tuple[str, ...] = ("RR", "OR", "RD", "HR")
Favourable = Literal["lower", "higher"]


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
    A NaN estimate is printed as NA with no square (a study that is not estimable).

    ``cells``: one text per :attr:`ForestData.columns` (e.g. events and total of each arm), printed as
    given; ``mark``: a footnote mark printed after the label (the footnote is one of the plot's notes).

    ``unweighted``: a study that speaks but is not pooled (a result reported without an SE or CI): drawn
    as an open circle at its estimate with no interval and no weight, its reason as the ``note``."""

    label: str
    detail: str
    estimate: float
    ci_low: float
    ci_high: float
    weight: float | None = None
    note: str | None = None
    cells: Sequence[str] = ()
    mark: str = ""
    unweighted: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(str(c) for c in self.cells))
        for name in ("estimate", "ci_low", "ci_high"):
            object.__setattr__(self, name, _float(getattr(self, name), f"{self.label}: {name}"))
        if self.unweighted and (self.weight is not None or not self.note):
            raise ValueError(f"{self.label}: an unweighted row has no weight and says why (note)")
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
    beneath. ``cells``: texts in :attr:`ForestData.columns` on the diamond's row (e.g. each arm's total).

    ``caution``: why the intervals say little (see :func:`uninformative`); printed under the label, and the
    x axis is fitted without them, so such an interval ends in arrows instead of squeezing the studies."""

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float | None = None
    pi_high: float | None = None
    kind: Literal["frequentist", "bayes"] = "frequentist"
    weight: float | None = None
    cells: Sequence[str] = ()
    caution: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(str(c) for c in self.cells))
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


def uninformative(k: int, method: str) -> str | None:
    """Why a random-effects interval from k = 2 studies says little, or None: with two studies τ² is
    estimated from one degree of freedom, so a t(1) interval spans nearly the whole scale and a z interval
    ignores the uncertainty of τ² (Röver et al. 2015, BMC Med Res Methodol 15:99; Bender et al. 2018,
    Res Synth Methods 9:382). A common-effect model and a Bayesian fit with a weakly informative prior on
    τ are not flagged."""
    if k != 2 or method in ("FE", "MH", "PETO", "BAYES", "BAYES-GLMM"):
        return None
    return "k = 2: random-effects interval uninformative"


@dataclass(frozen=True)
class Column:
    """A text column between the study labels and the plot (right-aligned, as RevMan's and meta's
    "Events" and "Total"); columns with the same ``group`` next to each other share a header above them
    (the arm's name)."""

    header: str
    group: str = ""


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
    otherwise). ``columns``: text columns left of the plot in place of the one ``detail`` column (study and
    pooled rows then give one cell per column). ``overall_test`` (e.g. "Test for overall effect: z = 2.31,
    p = 0.021") is printed under the heterogeneity line. ``symmetric``: the default x axis is symmetric about
    the null (log-symmetric for ratios), as RevMan and meta draw comparisons, so the null sits in the middle
    with room for a "favours" label on either side wherever the intervals lie.
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
    columns: Sequence[Column] = ()
    overall_test: str | None = None
    symmetric: bool = False

    def __post_init__(self) -> None:
        if self.scale not in _SCALES:
            raise ValueError(f"scale: {self.scale!r} is not one of {', '.join(_SCALES)}")
        for name in ("groups", "overall", "notes", "columns"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        n = len(self.columns)
        for item in [r for g in self.groups for r in g.rows] + list(self.pooled):
            if item.cells and len(item.cells) != n:
                raise ValueError(f"{item.label}: {len(item.cells)} cells for {n} columns")
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


# ----------------------------------------------------------------------------------- comparisons (two arms)


@dataclass(frozen=True)
class ComparisonStudy:
    """One study of a two-arm comparison as its forest row shows it.

    Arm counts (``events_i``/``total_i`` intervention, ``events_c``/``total_c`` control) are printed as
    given, None as blank (an HR row often has no counts). ``estimate`` and its CI are on the natural scale
    (a ratio, or a risk difference as a fraction); NaN when not estimable (a double-zero study for RR/OR).
    ``derived`` says how a relative effect was derived (e.g. "from landmark Kaplan–Meier rates, proportional
    hazards assumed"), ``correction`` what continuity correction its own effect and CI carry (e.g. "0.5
    added to each cell"); each gets a footnote mark and note on the plot.
    """

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    events_i: int | None = None
    total_i: int | None = None
    events_c: int | None = None
    total_c: int | None = None
    weight: float | None = None
    derived: str | None = None
    correction: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ComparisonFit:
    """A pooled comparison: the estimate with its CI (and PI where the model has one) on the natural
    scale, heterogeneity (tau2, i2 in percent, q, q_df, q_p, ``q_name`` "Wald Q" for a GLMM; None where
    the model has none) and the test for the overall effect (``stat_name`` "z" or "t" with ``stat_df``,
    ``stat``, ``p``)."""

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float | None = None
    pi_high: float | None = None
    tau2: float | None = None
    i2: float | None = None
    q: float | None = None
    q_df: int | None = None
    q_p: float | None = None
    q_name: str = "Q"
    stat_name: str = "z"
    stat_df: int | None = None
    stat: float | None = None
    p: float | None = None
    model: str = ""
    caution: str | None = None


@dataclass(frozen=True)
class AbsoluteEffect:
    """GRADE Summary-of-Findings numbers per 1,000: the assumed comparator risk (ACR, a fraction) and its
    source, the corresponding intervention risk and the difference, each with its CI (per 1,000; a
    positive difference means more events with the intervention). ``landmark`` names the time point of an
    HR's risks ("at 36 months"); ``caveat`` what the numbers assume or cap (a risk capped at 1,000, an HR
    of another data cut than the comparator risk)."""

    acr: float
    acr_source: str
    risk: float
    risk_low: float
    risk_high: float
    difference: float
    difference_low: float
    difference_high: float
    landmark: str | None = None
    caveat: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.acr <= 1.0:
            raise ValueError(f"acr: {self.acr!r} is a risk, a fraction in [0, 1]")
        _check_interval("risk per 1,000", self.risk, self.risk_low, self.risk_high)
        _check_interval("difference per 1,000", self.difference, self.difference_low, self.difference_high)


@dataclass(frozen=True)
class Comparison:
    """Everything a two-arm forest plot shows (RevMan's and R meta's layout).

    ``favourable`` is the side of the null on which the effect favours the intervention: "lower" for a
    ratio (or difference) of bad events (relapse, death, CRS: fewer with the intervention is better),
    "higher" for good events (MRD negativity, event-free survival proportion). It is part of the analysis,
    never guessed from the numbers; None: not stated, and no "favours" labels are drawn. ``fit`` None: not
    pooled, with ``refusal`` saying why (k = 1: "one study"). ``absolute_note``: why there is no
    ``absolute`` effect.
    """

    title: str
    measure: Measure
    intervention: str
    control: str
    favourable: Favourable | None
    studies: Sequence[ComparisonStudy]
    fit: ComparisonFit | None = None
    refusal: str | None = None
    absolute: AbsoluteEffect | None = None
    absolute_note: str | None = None
    randomised: bool = True
    notes: Sequence[str] = ()
    digits: int = 2

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ValueError(f"measure: {self.measure!r} is not one of {', '.join(MEASURES)}")
        if self.favourable not in ("lower", "higher", None):
            raise ValueError(f"favourable: {self.favourable!r} must be 'lower', 'higher' or None")
        object.__setattr__(self, "studies", tuple(self.studies))
        object.__setattr__(self, "notes", tuple(self.notes))
        if not self.studies:
            raise ValueError(f"{self.title}: a comparison needs at least one study")
        if self.fit is None and not self.refusal:
            raise ValueError(f"{self.title}: not pooled, so give the reason (refusal)")
        if self.fit is not None and self.refusal:
            raise ValueError(f"{self.title}: a pooled comparison has no refusal")

    @property
    def scale(self) -> Scale:
        return "difference" if self.measure == "RD" else "ratio"

    @property
    def favours(self) -> tuple[str, str] | None:
        """The labels left and right of the null; None when the analysis does not state the direction."""
        if self.favourable is None:
            return None
        good, bad = f"Favours {self.intervention}", f"Favours {self.control}"
        return (good, bad) if self.favourable == "lower" else (bad, good)
