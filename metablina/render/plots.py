"""Funnel, leave-one-out and cumulative plots from plain arrays.

The leave-one-out and cumulative plots are forest plots of pooled estimates (one row per omitted or added
study, a point rather than a weighted square, and a dashed reference line at the full-data estimate), so
they reuse the forest layout. The funnel plot (Light & Pillemer 1984; Sterne & Egger 2001) puts the
standard error on an inverted y axis with the pseudo-confidence region estimate ± z·SE around the pooled
estimate; below 10 studies it prints that asymmetry cannot be judged (Sterne et al. 2011, BMJ 343:d4002)
instead of testing it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Polygon
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from metablina.render.figures import TextMeasure, font, font_family, new_figure
from metablina.render.forest import (
    ForestStyle,
    Scale,
    _render,
)
from metablina.render.forestlayout import (
    cumulative_data,
    float_arrays,
    leave_one_out_data,
    ratio_ticks,
    tick_label,
)
from metablina.render.forestmodel import Comparison

FUNNEL_MIN_K = 10


def funnel_plot(
    yi: Sequence[float],
    sei: Sequence[float],
    *,
    estimate: float,
    level: float = 95.0,
    xlabel: str = "Effect size",
    title: str = "",
    exp: bool = False,
    ax: Axes | None = None,
    style: ForestStyle | None = None,
) -> Axes:
    """Funnel plot of ``yi`` against ``sei`` around the pooled ``estimate`` (all on the analysis scale,
    e.g. log ratios); ``exp=True`` shows the x axis as ratios on a log scale. Returns the Axes."""
    style = style or ForestStyle()
    yi_a, sei_a = float_arrays(yi=yi, sei=sei)
    if not np.all(np.isfinite(yi_a)):
        raise ValueError("yi: every value must be finite")
    if not np.all(np.isfinite(sei_a) & (sei_a > 0)):
        raise ValueError(f"sei: every value must be finite and > 0 (study {int(np.argmin(sei_a > 0))})")
    if not 0 < level < 100:
        raise ValueError(f"level: {level!r} must be in (0, 100)")
    k = len(yi_a)
    fs = style.fontsize
    family = style.font or font_family()
    body, small = font(family, fs), font(family, fs - 0.5)
    own = ax is None
    if ax is None:
        fig = new_figure(*FUNNEL_SIZE, dpi=style.dpi)
        ax = fig.add_axes((0.15, 0.15, 0.8, 0.75))  # placed by _fit_axes once the labels are known
    z = NormalDist().inv_cdf(1 - (1 - level / 100) / 2)  # the stdlib's: figure workers never load scipy
    se_ticks = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(0, float(sei_a.max()) * 1.05)
    se_max = float(se_ticks[-1])
    t = np.exp if exp else (lambda v: v)
    region = [(t(estimate - z * se_max), se_max), (t(estimate), 0.0), (t(estimate + z * se_max), se_max)]
    ax.add_patch(
        Polygon(region, closed=True, facecolor="#ececec", edgecolor="none", zorder=0, gid="funnel-region")
    )
    for side in (-1, 1):
        ax.plot(
            [t(estimate), t(estimate + side * z * se_max)],
            [0, se_max],
            color=style.reference_color,
            lw=0.7,
            ls=(0, (3, 2)),
            zorder=1,
            gid="funnel-limit",
        )
    ax.plot([t(estimate)] * 2, [0, se_max], color=style.ink, lw=0.7, zorder=1, gid="funnel-estimate")
    ax.scatter(
        t(yi_a),
        sei_a,
        s=22,
        color=style.square_color,
        edgecolors="white",
        linewidths=0.5,
        zorder=3,
        gid="funnel-points",
        clip_on=False,
    )
    ax.set_ylim(se_max, 0.0)
    ax.yaxis.set_major_locator(FixedLocator([float(v) for v in se_ticks]))
    xs = np.concatenate([t(yi_a), [region[0][0], region[2][0]]])
    pad = 0.04 * (np.log(xs.max() / xs.min()) if exp else xs.max() - xs.min())
    if exp:
        ax.set_xscale("log")
        lim = (xs.min() * math.exp(-pad), xs.max() * math.exp(pad))
        ax.set_xlim(*lim)
        width_pt = ax.get_position().width * ax.figure.get_size_inches()[0] * 72 - 30
        ticks = ratio_ticks(*lim, False, width_pt, TextMeasure(ax.figure.dpi), small)[1]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: tick_label(x, "ratio")))
        ax.xaxis.set_minor_locator(NullLocator())
    else:
        ax.set_xlim(xs.min() - pad, xs.max() + pad)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: tick_label(x, "difference")))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _p: tick_label(x, "difference")))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("bottom", "left"):
        ax.spines[side].set_linewidth(0.6)
    ax.tick_params(
        direction="out", length=3, width=0.6, pad=2.5, labelsize=fs - 0.5, labelfontfamily=family[0]
    )
    ax.set_xlabel(xlabel, fontproperties=body)
    ax.set_ylabel("Standard error", fontproperties=body)
    note_h = 0.0
    if k < FUNNEL_MIN_K:
        note = f"k = {k}: too few studies to judge funnel asymmetry"
        ax.annotate(
            note,
            xy=(0, 1),
            xycoords="axes fraction",
            xytext=(0, 6),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontproperties=font(family, fs - 0.5, style="italic"),
            color=style.stat_color,
            annotation_clip=False,
            gid="funnel-note",
        )
        note_h = TextMeasure(ax.figure.dpi).extent(note, small)[1] + 4
    title_font = font(family, fs + 1, weight="bold")
    if title:
        # y given: matplotlib then leaves the title where it is put instead of measuring every artist
        # above the panel to move it clear (there are none: the top spine is hidden), a sixth of the
        # figure's drawing time
        ax.set_title(title, loc="left", fontproperties=title_font, pad=6 + note_h, y=1.0)
    if own:
        y_labels = [tick_label(float(v), "difference") for v in se_ticks]
        top = note_h + (6 + TextMeasure(ax.figure.dpi).extent(title, title_font)[1] if title else 0.0)
        _fit_axes(ax, y_labels, body, small, top)
    return ax


FUNNEL_SIZE = (4.2, 3.6)  # inches


def _fit_axes(
    ax: Axes, y_labels: Sequence[str], body: FontProperties, small: FontProperties, top: float
) -> None:
    """Place the plot panel so that axis labels, tick labels and the title just fit inside the figure
    (measured text; what a constrained layout would find, at a third of its cost)."""
    measure = TextMeasure(ax.figure.dpi)
    margin, label_pad, tick = 6.0, 4.0, 3.0 + 2.5  # points: edge, axis label pad, tick length + pad
    line = measure.extent("Ag", body)[1]
    lo, hi = ax.get_xlim()
    x_ticks = [t for t in ax.xaxis.get_major_locator()() if min(lo, hi) <= t <= max(lo, hi)]
    x_labels = ax.xaxis.get_major_formatter().format_ticks(x_ticks)
    left = margin + line + label_pad + measure.max_width(y_labels, small) + tick
    bottom = margin + line + label_pad + measure.extent("0123456789", small)[1] + tick
    right = max(margin, measure.width(x_labels[-1], small) / 2 + 2.0) if x_labels else margin
    w, h = (v * 72.0 for v in FUNNEL_SIZE)
    ax.set_position((left / w, bottom / h, 1 - (left + right) / w, 1 - (bottom + top + margin) / h))


def leave_one_out_plot(
    labels: Sequence[str],
    estimate: Sequence[float],
    ci_low: Sequence[float],
    ci_high: Sequence[float],
    *,
    full: tuple[float, float, float],
    scale: Scale,
    measure_label: str,
    title: str = "Leave-one-out analysis",
    detail: Sequence[str] | None = None,
    detail_label: str = "",
    estimate_header: str = "Estimate [95% CI]",
    null_value: float | None = None,
    xlim: tuple[float, float] | None = None,
    notes: Sequence[str] = (),
    ax: Axes | None = None,
    style: ForestStyle | None = None,
) -> Axes:
    """The pooled estimate and CI with each study omitted in turn (row i omits ``labels[i]``), the
    all-studies estimate ``full = (estimate, ci_low, ci_high)`` as a diamond and a dashed reference line.
    ``detail`` (optional) is a text per row, e.g. the I² without that study. Values on the display scale."""
    data = leave_one_out_data(
        labels,
        estimate,
        ci_low,
        ci_high,
        full=full,
        scale=scale,
        measure_label=measure_label,
        title=title,
        detail=detail,
        detail_label=detail_label,
        estimate_header=estimate_header,
        null_value=null_value,
        xlim=xlim,
        notes=notes,
    )
    return _render(data, ax, style or ForestStyle(), reference=float(full[0]), marker="point")


def cumulative_plot(
    labels: Sequence[str],
    estimate: Sequence[float],
    ci_low: Sequence[float],
    ci_high: Sequence[float],
    *,
    scale: Scale,
    measure_label: str,
    title: str = "Cumulative meta-analysis",
    detail: Sequence[str] | None = None,
    detail_label: str = "",
    estimate_header: str = "Estimate [95% CI]",
    null_value: float | None = None,
    xlim: tuple[float, float] | None = None,
    notes: Sequence[str] = (),
    ax: Axes | None = None,
    style: ForestStyle | None = None,
) -> Axes:
    """The pooled estimate and CI as studies are added in the given order (row i pools ``labels[:i+1]``;
    sort the studies, e.g. by year, before pooling). ``detail`` defaults to "k = i+1". A dashed line marks
    the final estimate. Values on the display scale."""
    data = cumulative_data(
        labels,
        estimate,
        ci_low,
        ci_high,
        scale=scale,
        measure_label=measure_label,
        title=title,
        detail=detail,
        detail_label=detail_label,
        estimate_header=estimate_header,
        null_value=null_value,
        xlim=xlim,
        notes=notes,
    )
    return _render(
        data, ax, style or ForestStyle(), reference=data.groups[0].rows[-1].estimate, marker="point"
    )


def comparison_forest_plot(
    comparison: Comparison, ax: Axes | None = None, *, style: ForestStyle | None = None
) -> Axes:
    """The forest plot of a two-arm comparison (RR, OR, RD or HR) as RevMan and R's meta draw it: each
    arm's events and total, weights, the relative effect as text and as a square, the diamond with its
    heterogeneity and overall-effect lines, "Favours" labels on the sides the comparison states. Returns
    the plot-panel Axes, as :func:`metablina.render.forest.draw_forest` does."""
    from metablina.render.compareforest import comparison_forest_data

    return _render(comparison_forest_data(comparison), ax, style or ForestStyle())


__all__ = ["FUNNEL_MIN_K", "comparison_forest_plot", "cumulative_plot", "funnel_plot", "leave_one_out_plot"]
