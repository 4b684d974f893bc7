"""The specification curve of an analysis (Simonsohn, Simmons & Nelson 2020, Nat Hum Behav 4:1208).

Every specification's pooled estimate, sorted by size, with its confidence or credible interval, above an
indicator panel of the choices that made it (one row per level of each choice, a mark under each
specification that takes it), as Voracek, Kossmeier & Tran (2019, Z Psychol 227:64) draw it for
meta-analysis. The plan's primary specification is marked in both panels and the plan's decision
threshold (or a comparison's null) is drawn, so a committee sees at once whether the answer depends on the
choices. Plain arrays in, the upper Axes out. The layout is :mod:`metablina.render.speclayout`'s; here
its marks become matplotlib artists (the report draws the same marks straight into Skia,
:mod:`metablina.render.marks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib import transforms
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.markers import TICKLEFT

from metablina.render.figures import new_figure
from metablina.render.forestlayout import Unit
from metablina.render.forestmodel import ForestStyle, Scale
from metablina.render.speclayout import (
    ABOVE_COLOR,
    BELOW_COLOR,
    PRIMARY_COLOR,
    SPAN_COLOR,
    paint_spec_curve,
)
from metablina.render.tabletext import Labels

__all__ = ["ABOVE_COLOR", "BELOW_COLOR", "PRIMARY_COLOR", "SPAN_COLOR", "spec_curve"]


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
    below ``threshold`` are blue, wholly above brown, the rest grey. Returns the curve's Axes (the
    indicator panel is the figure's other Axes). As on a forest plot, the y axis's ticks and labels are
    marks laid out for the curve's limits (gids ``y-ticks``, ``spec-y-tick-label``), not a matplotlib
    Axis: changing the Axes' limits afterwards does not move them."""
    style = style or ForestStyle()
    painter = AxesSpecPainter()
    painter.measure_dpi = style.dpi
    paint_spec_curve(
        estimate,
        ci_low,
        ci_high,
        choices,
        painter,
        primary=primary,
        threshold=threshold,
        scale=scale,
        measure_label=measure_label,
        title=title,
        note=note,
        style=style,
    )
    return painter.axes["curve"]


class AxesSpecPainter:
    """The specification curve's marks as matplotlib artists: one Axes per panel, with no Axis ticks
    (the y axis's ticks and labels are marks of their own, gids ``y-ticks``, ``spec-y-tick-label``,
    ``spec-y-label``) and no spines but those drawn."""

    measure_dpi: float | None = None

    def __init__(self) -> None:
        self.axes: dict[str, Axes] = {}
        self._labels: dict[str, Labels] = {}

    def new_figure(self, width_in: float, height_in: float, dpi: float) -> None:
        self.figure = new_figure(width_in, height_in, dpi=dpi)

    def panel(
        self,
        key: str,
        position: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        ylog: bool,
    ) -> None:
        ax = self.figure.add_axes(position)
        ax.set_facecolor("none")
        if ylog:
            ax.set_yscale("log")
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        for minor in (False, True):
            ax.set_xticks([], minor=minor)
            ax.set_yticks([], minor=minor)
        for spine in ax.spines.values():
            spine.set_visible(False)
        self.axes[key] = ax
        self._labels[key] = Labels(ax)

    def spine(self, key: str, side: str, lw: float, color: str) -> None:
        spine = self.axes[key].spines[side]
        spine.set_visible(True)
        spine.set_linewidth(lw)
        spine.set_color(color)

    def segments(
        self,
        key: str,
        segments: list[tuple[tuple[float, float], tuple[float, float]]],
        colors: list[str],
        lw: float,
    ) -> None:
        self.axes[key].add_collection(LineCollection(segments, colors=colors, linewidths=lw, gid="spec-ci"))

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
    ) -> None:
        faces = [to_rgba(c) for c in colors]
        self.axes[key].scatter(xs, ys, s=size, marker=marker, c=faces, linewidths=0, zorder=z, gid=gid)

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
    ) -> None:
        ax = self.axes[key]
        at = ax.transData if x_units == "data" else ax.get_yaxis_transform()
        style = {} if dashes is None else {"ls": (0, dashes)}
        ax.add_line(Line2D(xs, ys, transform=at, color=color, lw=lw, zorder=z, gid=gid, **style))

    def y_ticks(self, key: str, values: Sequence[float], length: float, lw: float, color: str) -> None:
        ax = self.axes[key]
        ax.add_line(
            Line2D(
                [0.0] * len(values),
                values,
                transform=ax.get_yaxis_transform(),
                ls="",
                marker=TICKLEFT,
                markersize=length,
                markeredgewidth=lw,
                color=color,
                clip_on=False,
                gid="y-ticks",
            )
        )

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
    ) -> None:
        ax = self.axes[key]
        of = {"data": ax.transData, "axes": ax.transAxes, "figure": self.figure.transFigure}
        base = (
            transforms.blended_transform_factory(of[units[0]], of[units[1]])
            if units[0] != units[1]
            else of[units[0]]
        )
        at = (
            base + transforms.ScaledTranslation(dx / 72.0, dy / 72.0, self.figure.dpi_scale_trans)
            if dx or dy
            else base
        )
        turn = {"rotation": rotation, "rotation_mode": "anchor"} if rotation else {}
        self._labels[key].add(
            xy[0], xy[1], text, transform=at, ha=ha, va=va, fontproperties=prop, color=color, gid=gid, **turn
        )
