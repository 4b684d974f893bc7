"""The specification curve of an analysis (Simonsohn, Simmons & Nelson 2020, Nat Hum Behav 4:1208).

Every specification's pooled estimate, sorted by size, with its confidence or credible interval, above an
indicator panel of the choices that made it (one row per level of each choice, a mark under each
specification that takes it), as Voracek, Kossmeier & Tran (2019, Z Psychol 227:64) draw it for
meta-analysis. The plan's primary specification is marked in both panels and the plan's decision
threshold (or a comparison's null) is drawn, so a committee sees at once whether the answer depends on the
choices. Plain arrays in, the upper Axes out; drawn through :mod:`metablina.render.figures` (and saved by
:mod:`metablina.render.skiafig`), so it is a figure job like the forest plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import transforms
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from metablina.render.figures import TextMeasure, font, font_family, new_figure
from metablina.render.forestlayout import _tick_label, ratio_ticks
from metablina.render.forestmodel import ForestStyle, Scale
from metablina.render.tabletext import Labels

WIDTH = 7.0  # inches
CURVE_HEIGHT = 2.3  # inches
PRIMARY_COLOR = "#c0392b"
BELOW_COLOR = "#1f4e79"
ABOVE_COLOR = "#8a4b00"
SPAN_COLOR = "#c4c4c4"


def spec_curve(
    estimate: Sequence[float],
    ci_low: Sequence[float],
    ci_high: Sequence[float],
    choices: Mapping[str, Sequence[str]],
    *,
    primary: int | None = None,
    threshold: float | None = None,
    scale: Scale = "proportion",
    measure_label: str = "Estimate",
    title: str = "Specification curve",
    note: str = "",
    style: ForestStyle | None = None,
) -> Axes:
    """Draw the curve of ``estimate`` (natural scale) with ``ci_low``/``ci_high`` sorted by estimate, and
    under it one row per level of each choice in ``choices`` (name -> that choice's level per
    specification, in the order given). ``primary``: index of the plan's specification. Intervals wholly
    below ``threshold`` are blue, wholly above brown, the rest grey. Returns the curve's Axes."""
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
    measure = TextMeasure(style.dpi)
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
    fig = new_figure(WIDTH, height, dpi=style.dpi)
    right_in = 0.25
    w_frac = 1 - (left_in + right_in) / WIDTH
    ax = fig.add_axes((left_in / WIDTH, 1 - (top_in + CURVE_HEIGHT) / height, w_frac, CURVE_HEIGHT / height))
    ind = fig.add_axes((left_in / WIDTH, bottom_in / height, w_frac, panel_h / height), sharex=ax)

    colors = np.full(n, SPAN_COLOR, dtype=object)
    if threshold is not None:
        colors[b < threshold] = BELOW_COLOR
        colors[a > threshold] = ABOVE_COLOR
    finite = np.isfinite(a) & np.isfinite(b)
    segments = [((i, lo_), (i, hi_)) for i, lo_, hi_ in zip(x[finite], a[finite], b[finite], strict=True)]
    width = 0.8 if n <= 100 else 0.5
    ax.add_collection(LineCollection(segments, colors=list(colors[finite]), linewidths=width, gid="spec-ci"))
    dots = [style.square_color if c == SPAN_COLOR else c for c in colors]
    ax.scatter(x, e, s=7 if n <= 200 else 4, c=dots, zorder=3, linewidths=0, gid="spec-estimates")
    if where is not None:
        ax.plot([where, where], [a[where], b[where]], color=PRIMARY_COLOR, lw=1.6, zorder=4)
        ax.scatter([where], [e[where]], s=40, marker="D", color=PRIMARY_COLOR, zorder=5, gid="spec-primary")
    _y_axis(ax, e, a, b, threshold, scale, style, small)
    key = ["\u25c6 the plan's primary specification"] if where is not None else []
    if threshold is not None:
        ax.axhline(threshold, color=style.ink, lw=0.8, ls=(0, (4, 2)), zorder=2, gid="spec-threshold")
        key.append(f"dashed: threshold {_tick_label(threshold, scale)}")
        key.append("blue: CI wholly below it, brown: wholly above")
    bottom, top = ax.get_ylim()
    cut = int(np.sum(finite & ((a < bottom) | (b > top))))
    if key:
        ax.annotate(
            "; ".join(key),
            xy=(0, 1),
            xycoords="axes fraction",
            xytext=(0, 4),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontproperties=small,
            color=style.note_color,
            gid="spec-key",
        )
    ax.set_xlim(-0.5 - 0.01 * n, n - 0.5 + 0.01 * n)
    ax.xaxis.set_major_locator(NullLocator())
    ax.set_ylabel(measure_label, fontproperties=body)
    if title:  # where ax.set_title(loc="left", pad=…) puts it, without the title's per-draw bbox search
        over = transforms.ScaledTranslation(0, (6 + fs + 4) / 72, fig.dpi_scale_trans)
        at = ax.transAxes + over
        Labels(ax).add(0, 1, title, transform=at, va="baseline", fontproperties=bold, gid="spec-title")

    # indicator panel: groups of rows top-down, a tick mark under each specification taking the level
    ys: dict[tuple[str, str], float] = {}
    y = 0.0
    for g, (name, levels) in enumerate(choices.items()):
        if g:
            y += gap / row_h
        for level in dict.fromkeys(levels):
            ys[(name, level)] = y
            y += 1
    total = y
    for name, levels in choices.items():  # one collection per choice (a scatter costs ~1 ms to make)
        lv = np.asarray(levels, dtype=object)[order]
        row_of = np.array([ys[(name, level)] for level in lv], dtype=float)
        ind.scatter(x, row_of, s=4, marker="s", color=style.square_color, linewidths=0)
        if where is not None:
            ind.scatter([where], [ys[(name, lv[where])]], s=14, marker="s", color=PRIMARY_COLOR, zorder=3)
    ind.set_ylim(total - 0.5, -0.5)
    # the levels as text beside their rows, not as tick labels: a tick is five artists, and the panel's
    # ticks were 40% of a curve's drawing; the x axes have no ticks (specifications are ranks)
    beside = ind.get_yaxis_transform() + transforms.ScaledTranslation(-2 / 72, 0, fig.dpi_scale_trans)
    levels = Labels(ind)
    for name, level in rows:
        levels.add(
            0,
            ys[(name, level)],
            level,
            transform=beside,
            ha="right",
            va="center_baseline",
            fontproperties=small,
            color=style.ink,
            gid="spec-level",
        )
    for a_ in (ax, ind):
        a_.xaxis.set_major_locator(NullLocator())
    ind.yaxis.set_major_locator(NullLocator())
    for name in choices:  # the choice's name above its first row
        first = min(ys[(name, lv)] for lv in dict.fromkeys(choices[name]))
        ind.annotate(
            name,
            xy=(0, first - 0.5),
            xycoords=("axes fraction", "data"),
            xytext=(-label_w - fs - 8, 0),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontproperties=font(family, fs - 0.5, weight="bold"),
            rotation=0,
        )
    for a_ in (ax, ind):
        for side in ("top", "right"):
            a_.spines[side].set_visible(False)
        for side in ("bottom", "left"):
            a_.spines[side].set_linewidth(0.6)
        a_.tick_params(
            direction="out", length=2.5, width=0.6, pad=2, labelsize=fs - 0.5, labelfontfamily=family[0]
        )
    ind.tick_params(axis="x", length=0)
    ax.tick_params(axis="x", length=0)
    ind.spines["bottom"].set_visible(False)
    ind.spines["left"].set_visible(False)
    ind.tick_params(axis="y", length=0)
    cut_text = f"; {cut} CI{'s' if cut > 1 else ''} cut at the panel's edge" if cut else ""
    ind.set_xlabel(f"{n} specifications, sorted by estimate{cut_text}", fontproperties=small, labelpad=2)
    if note:
        fig.text(
            left_in / WIDTH, 0.04 / height, note, fontproperties=small, color=style.note_color, va="bottom"
        )
    return ax


def _y_axis(ax: Axes, e, a, b, threshold, scale: Scale, style: ForestStyle, small) -> None:
    """Limits that show every estimate, the threshold and the narrower half of the intervals whole (width
    on the axis's scale), ticks on the measure's scale. Wider intervals run to the panel's edge (the x
    label counts them): with two studies an HKSJ or t interval can span 0 to 1, and an axis drawn for it
    leaves the estimates, the threshold and the informative intervals a sliver at its foot."""
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
        ax.set_yscale("log")
        pad = (hi / lo) ** 0.05
        lim = (lo / pad, hi * pad)
        ax.set_ylim(*lim)
        ticks = ratio_ticks(*lim, False, CURVE_HEIGHT * 72, TextMeasure(style.dpi), small)[1]
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        if scale == "proportion":
            lo, hi = max(lo, 0.0), min(hi, 1.0)
        pad = 0.05 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad if scale != "proportion" else max(lo - pad, 0.0), hi + pad)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: _tick_label(v, scale)))


__all__ = ["spec_curve"]
