"""The specification curve's layout, drawn through a :class:`SpecPainter` (as the forest plot's is).

:func:`paint_spec_curve` checks the arrays, sorts the specifications, sizes the figure from measured text
and hands every mark to a painter: two panels (the curve, the indicator panel of choices), their axis
lines, intervals, points, the threshold line, the y axis's ticks and labels, and the text around them.
:class:`metablina.render.speccurve.AxesSpecPainter` makes matplotlib artists of them (``spec_curve``
returns the curve's Axes); :class:`metablina.render.marks.SkiaSpecPainter` draws them straight into a
Skia picture for the report. Every label, the y axis's included, is placed here rather than by a
matplotlib Axis, so both ways give the same picture.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

from metablina.render.forestlayout import Unit, ratio_ticks, tick_label
from metablina.render.forestmodel import ForestStyle, Scale
from metablina.render.measure import TextMeasure, font, font_family

WIDTH = 7.0  # inches
CURVE_HEIGHT = 2.3  # inches
PRIMARY_COLOR = "#c0392b"
BELOW_COLOR = "#1f4e79"
ABOVE_COLOR = "#8a4b00"
SPAN_COLOR = "#c4c4c4"
TICK_LENGTH, TICK_PAD, LABEL_PAD = 2.5, 2.0, 4.0  # points


class SpecPainter(Protocol):
    """Where a specification curve's marks go: panels are named ("curve", "choices"); positions are
    (x, y) in ``units`` of that panel, moved by ``dx``, ``dy`` points; colours are matplotlib colour specs."""

    measure_dpi: float | None

    def new_figure(self, width_in: float, height_in: float, dpi: float) -> None: ...

    def panel(
        self,
        key: str,
        position: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        ylog: bool,
    ) -> None: ...

    def spine(self, key: str, side: str, lw: float, color: str) -> None: ...

    def segments(
        self,
        key: str,
        segments: list[tuple[tuple[float, float], tuple[float, float]]],
        colors: list[str],
        lw: float,
    ) -> None: ...

    def points(
        self,
        key: str,
        xs: Sequence[float],
        ys: Sequence[float],
        size: float,
        marker: str,
        colors: list[str],
        z: float,
        gid: str | None = None,
    ) -> None: ...

    def line(
        self,
        key: str,
        xs: Sequence[float],
        ys: Sequence[float],
        color: str,
        lw: float,
        z: float,
        *,
        x_units: Unit = "data",
        dashes: tuple[float, float] | None = None,
        gid: str | None = None,
    ) -> None: ...

    def y_ticks(self, key: str, values: Sequence[float], length: float, lw: float, color: str) -> None: ...

    def text(
        self,
        key: str,
        xy: tuple[float, float],
        units: tuple[Unit, Unit],
        text: str,
        prop: FontProperties,
        color: str,
        *,
        ha: str,
        va: str,
        dx: float = 0.0,
        dy: float = 0.0,
        rotation: float = 0.0,
        gid: str | None = None,
    ) -> None: ...


def paint_spec_curve(
    estimate: Sequence[float],
    ci_low: Sequence[float],
    ci_high: Sequence[float],
    choices: Mapping[str, Sequence[str]],
    painter: SpecPainter,
    *,
    primary: int | None = None,
    threshold: float | None = None,
    scale: Scale = "proportion",
    measure_label: str = "Estimate",
    title: str = "Specification curve",
    note: str = "",
    style: ForestStyle | None = None,
) -> None:
    """Lay the curve out and hand every mark to ``painter`` (arguments as for
    :func:`metablina.render.speccurve.spec_curve`)."""
    style = style or ForestStyle()
    est = np.asarray(estimate, dtype=float)
    lo = np.asarray(ci_low, dtype=float)
    hi = np.asarray(ci_high, dtype=float)
    n = est.size
    if n == 0 or lo.shape != est.shape or hi.shape != est.shape or est.ndim != 1:
        raise ValueError(f"estimate, ci_low, ci_high: one value per specification, got {est.shape}")
    for name, levels in choices.items():
        if len(levels) != n:
            raise ValueError(f"choices[{name!r}]: {len(levels)} levels for {n} specifications")
    if primary is not None and not 0 <= primary < n:
        raise ValueError(f"primary: {primary} is not a specification (0 to {n - 1})")
    order = np.argsort(est, kind="stable")
    x = np.arange(n)
    e, a, b = est[order], np.fmin(lo, hi)[order], np.fmax(lo, hi)[order]
    where = int(np.flatnonzero(order == primary)[0]) if primary is not None else None

    fs = style.fontsize
    family = style.font or font_family()
    body, small, bold = font(family, fs), font(family, fs - 0.5), font(family, fs + 1, weight="bold")
    measure = TextMeasure(painter.measure_dpi)
    rows = [(name, level) for name, levels in choices.items() for level in dict.fromkeys(levels)]
    row_h = (fs + 3) / 72  # inches per indicator row
    gap = 0.12  # inches between the groups of rows
    panel_h = len(rows) * row_h + max(len(choices) - 1, 0) * gap
    label_w = max([measure.width(level, small) for _, level in rows] + [measure.width(measure_label, body)])
    left_in = (label_w + fs + 14) / 72
    top_in = (measure.extent(title, bold)[1] + fs + 20) / 72 if title else (fs + 10) / 72
    note_in = (measure.extent(note, small)[1] + 6) / 72 if note else 0.0
    bottom_in, between_in = 0.22 + note_in, 0.16
    height = top_in + CURVE_HEIGHT + between_in + panel_h + bottom_in
    painter.new_figure(WIDTH, height, style.dpi)
    right_in = 0.25
    w_frac = 1 - (left_in + right_in) / WIDTH
    xlim = (-0.5 - 0.01 * n, n - 0.5 + 0.01 * n)
    ylim, ticks = _y_axis(e, a, b, threshold, scale, measure, small)
    curve_at = (left_in / WIDTH, 1 - (top_in + CURVE_HEIGHT) / height, w_frac, CURVE_HEIGHT / height)
    painter.panel("curve", curve_at, xlim, ylim, ylog=scale == "ratio")

    colors = np.full(n, SPAN_COLOR, dtype=object)
    if threshold is not None:
        colors[b < threshold] = BELOW_COLOR
        colors[a > threshold] = ABOVE_COLOR
    finite = np.isfinite(a) & np.isfinite(b)
    segments = [((i, lo_), (i, hi_)) for i, lo_, hi_ in zip(x[finite], a[finite], b[finite], strict=True)]
    painter.segments("curve", segments, list(colors[finite]), 0.8 if n <= 100 else 0.5)
    dots = [style.square_color if c == SPAN_COLOR else c for c in colors]
    painter.points("curve", x, e, 7 if n <= 200 else 4, "o", dots, 3.0, "spec-estimates")
    if where is not None:
        painter.line("curve", [where, where], [a[where], b[where]], PRIMARY_COLOR, 1.6, 4.0)
        painter.points("curve", [where], [e[where]], 40, "D", [PRIMARY_COLOR], 5.0, "spec-primary")
    key = ["\u25c6 the plan's primary specification"] if where is not None else []
    if threshold is not None:
        painter.line(
            "curve",
            [0, 1],
            [threshold] * 2,
            style.ink,
            0.8,
            2.0,
            x_units="axes",
            dashes=(4, 2),
            gid="spec-threshold",
        )
        key.append(f"dashed: threshold {tick_label(threshold, scale)}")
        key.append("blue: CI wholly below it, brown: wholly above")
    cut = int(np.sum(finite & ((a < ylim[0]) | (b > ylim[1]))))
    for side in ("left", "bottom"):
        painter.spine("curve", side, 0.6, style.ink)
    painter.y_ticks("curve", ticks, TICK_LENGTH, 0.6, style.ink)
    widest = max((measure.width(tick_label(t, scale), small) for t in ticks), default=0.0)
    for t in ticks:
        painter.text(
            "curve",
            (0.0, t),
            ("axes", "data"),
            tick_label(t, scale),
            small,
            style.ink,
            ha="right",
            va="center_baseline",
            dx=-(TICK_LENGTH + TICK_PAD),
            gid="spec-y-tick-label",
        )
    painter.text(
        "curve",
        (0.0, 0.5),
        ("axes", "axes"),
        measure_label,
        body,
        style.ink,
        ha="center",
        va="bottom",
        dx=-(TICK_LENGTH + TICK_PAD + widest + LABEL_PAD),
        rotation=90.0,
        gid="spec-y-label",
    )
    if key:
        painter.text(
            "curve",
            (0.0, 1.0),
            ("axes", "axes"),
            "; ".join(key),
            small,
            style.note_color,
            ha="left",
            va="bottom",
            dy=4.0,
            gid="spec-key",
        )
    if title:  # where ax.set_title(loc="left", pad=…) would put it
        painter.text(
            "curve",
            (0.0, 1.0),
            ("axes", "axes"),
            title,
            bold,
            style.ink,
            ha="left",
            va="baseline",
            dy=6 + fs + 4,
            gid="spec-title",
        )

    # indicator panel: groups of rows top-down, a mark under each specification taking the level
    ys: dict[tuple[str, str], float] = {}
    y = 0.0
    for g, (name, levels) in enumerate(choices.items()):
        if g:
            y += gap / row_h
        for level in dict.fromkeys(levels):
            ys[(name, level)] = y
            y += 1
    panel_at = (left_in / WIDTH, bottom_in / height, w_frac, panel_h / height)
    painter.panel("choices", panel_at, xlim, (y - 0.5, -0.5), ylog=False)
    for name, levels in choices.items():
        lv = np.asarray(levels, dtype=object)[order]
        row_of = np.array([ys[(name, level)] for level in lv], dtype=float)
        painter.points("choices", x, row_of, 4, "s", [style.square_color], 1.0)
        if where is not None:
            painter.points("choices", [where], [ys[(name, lv[where])]], 14, "s", [PRIMARY_COLOR], 3.0)
    for name, level in rows:
        painter.text(
            "choices",
            (0.0, ys[(name, level)]),
            ("axes", "data"),
            level,
            small,
            style.ink,
            ha="right",
            va="center_baseline",
            dx=-2.0,
            gid="spec-level",
        )
    name_font = font(family, fs - 0.5, weight="bold")
    for name in choices:  # the choice's name above its first row
        first = min(ys[(name, lv)] for lv in dict.fromkeys(choices[name]))
        painter.text(
            "choices",
            (0.0, first - 0.5),
            ("axes", "data"),
            name,
            name_font,
            style.ink,
            ha="left",
            va="bottom",
            dx=-label_w - fs - 8,
            gid="spec-choice",
        )
    cut_text = f"; {cut} CI{'s' if cut > 1 else ''} cut at the panel's edge" if cut else ""
    painter.text(
        "choices",
        (0.5, 0.0),
        ("axes", "axes"),
        f"{n} specifications, sorted by estimate{cut_text}",
        small,
        style.ink,
        ha="center",
        va="top",
        dy=-2.0,
        gid="spec-x-label",
    )
    if note:
        painter.text(
            "choices",
            (left_in / WIDTH, 0.04 / height),
            ("figure", "figure"),
            note,
            small,
            style.note_color,
            ha="left",
            va="bottom",
            gid="spec-note",
        )


def _y_axis(
    e: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    threshold: float | None,
    scale: Scale,
    measure: TextMeasure,
    small: FontProperties,
) -> tuple[tuple[float, float], list[float]]:
    """Limits that show every estimate, the threshold and the narrower half of the intervals whole (width
    on the axis's scale), and the ticks inside them, on the measure's scale. Wider intervals run to the
    panel's edge (the x label counts them): with two studies an HKSJ or t interval can span 0 to 1, and
    an axis drawn for it leaves the estimates, the threshold and the informative intervals a sliver at
    its foot."""
    ok = np.isfinite(a) & np.isfinite(b)
    if scale == "ratio":
        ok &= a > 0
    a_ok, b_ok = a[ok], b[ok]
    width = np.log(b_ok / a_ok) if scale == "ratio" else b_ok - a_ok
    narrow = width <= np.median(width) if width.size else np.zeros(0, dtype=bool)
    lows, highs = [np.nanmin(e), *a_ok[narrow]], [np.nanmax(e), *b_ok[narrow]]
    if threshold is not None:
        lows.append(threshold)
        highs.append(threshold)
    lo, hi = float(min(lows)), float(max(highs))
    if scale == "ratio":
        lo, hi = max(lo, 1e-3), max(hi, lo * 1.5)
        pad = (hi / lo) ** 0.05
        lim = (lo / pad, hi * pad)
        ticks = ratio_ticks(*lim, False, CURVE_HEIGHT * 72, measure, small)[1]
        at = math.log10
    else:
        if scale == "proportion":
            lo, hi = max(lo, 0.0), min(hi, 1.0)
        pad = 0.05 * (hi - lo or 1.0)
        lim = (lo - pad if scale != "proportion" else max(lo - pad, 0.0), hi + pad)
        ticks = [float(t) for t in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(*lim)]

        def at(v: float) -> float:
            return v

    # the ticks a matplotlib Axis would draw: those inside the limits, to 1e-10 of the axis's span
    span = (at(lim[1]) - at(lim[0])) * 1e-10
    return lim, [t for t in ticks if at(lim[0]) - span <= at(t) <= at(lim[1]) + span]
