"""Forest plots for publication, drawn on matplotlib directly from plain data objects.

Why not the ``forestplot`` package (0.4.1, evaluated with a rendered example): it draws every estimate
with one scatter marker of fixed size (no squares sized by weight), has no diamond and no prediction-interval
glyph, aligns its text columns by padding strings with spaces (straight only in a monospaced font) and draws
through pyplot. Here every glyph is a matplotlib artist in data coordinates and every text column is measured
with the layout the figure files are drawn with, so it holds for 1 or 300 rows and for any label.

Layout: one Axes is the plot panel; it spans all rows vertically (row centres are data y values, y grows
downwards) and its bottom spine is the x axis, with tick marks, tick labels and the axis label drawn as
artists of their own (gids ``x-ticks``, ``x-tick-label``, ``x-label``) rather than by a matplotlib Axis. Text
columns are ``ax.text`` artists whose x is in inches from the figure's left edge and whose y is in the Axes'
data units, so text and glyphs of a row share one y. Column widths, row count and notes fix the figure size
when ``ax`` is None; when an ``ax`` is given, the table is fitted into that Axes' box and the Axes is shrunk
to the plot panel.

Glyphs (metafor ``forest()`` / meta ``forest.meta()`` conventions): a square per study with area
proportional to its weight (uniform when there are no weights, e.g. GLMM or Bayesian models), its CI as a
line ending in an arrow where it leaves the axis; a filled diamond per frequentist pooled estimate, an open
diamond for a Bayesian posterior (median/mean and credible interval), a grey bar for a prediction interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from matplotlib import transforms
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.markers import TICKDOWN, MarkerStyle
from matplotlib.patches import Polygon, Rectangle

from metablina.render.figures import new_figure
from metablina.render.forestlayout import Unit, arrow_path, paint_forest, ratio_ticks
from metablina.render.forestmodel import ForestData, ForestStyle, Group, Pooled, Scale, StudyRow
from metablina.render.tabletext import Labels

__all__ = ["ForestData", "ForestStyle", "Group", "Pooled", "Scale", "StudyRow", "draw_forest", "ratio_ticks"]


def draw_forest(data: ForestData, ax: Axes | None = None, *, style: ForestStyle | None = None) -> Axes:
    """Draw ``data`` as a forest plot and return the plot-panel Axes (its figure is ``ax.figure``).

    With ``ax`` None a figure is created, sized to the measured text columns and the number of rows.
    With an ``ax``, the table is laid out inside that Axes' box, which is shrunk to the plot panel.
    """
    return _render(data, ax, style or ForestStyle())


def _render(
    data: ForestData,
    ax: Axes | None,
    style: ForestStyle,
    *,
    reference: float | None = None,
    marker: Literal["square", "point"] = "square",
) -> Axes:
    painter = AxesPainter(ax, style)
    paint_forest(data, painter, style, reference=reference, marker=marker)
    assert painter.ax is not None
    return painter.ax


class AxesPainter:
    """The forest plot's marks as matplotlib artists of one Axes (the plot panel): every mark keeps a gid
    (``x-ticks``, ``x-tick-label``, ``ci``, ``study-squares``, ``diamond-…``, ``null-line``…), text columns
    are :class:`~metablina.render.tabletext.TableText` labels whose x is in inches from the figure's left
    edge and whose y is in the Axes' data units, so text and glyphs of a row share one y."""

    def __init__(self, ax: Axes | None, style: ForestStyle) -> None:
        self.ax = ax
        self.measure_dpi: float | None = ax.figure.dpi if ax is not None else style.dpi
        self.region: tuple[float, float, float, float] | None = None
        if ax is not None:
            fw, fh = ax.figure.get_size_inches() * 72.0
            box = ax.get_position()
            self.region = (box.x0 * fw, box.y0 * fh, box.width * fw, box.height * fh)
        self._labels = Labels(ax) if ax is not None else None
        self._below: dict[tuple[str, str, float], transforms.Transform] = {}

    @property
    def labels(self) -> Labels:
        assert self._labels is not None
        return self._labels

    @property
    def axes(self) -> Axes:
        assert self.ax is not None
        return self.ax

    def new_figure(self, width_in: float, height_in: float, dpi: float) -> None:
        self.ax = new_figure(width_in, height_in, dpi=dpi).add_axes((0, 0, 1, 1))
        self._labels = Labels(self.ax)

    def figure_size_pt(self) -> tuple[float, float]:
        fw, fh = self.axes.figure.get_size_inches() * 72.0
        return fw, fh

    def panel(
        self,
        position: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        log: bool,
        color: str,
    ) -> None:
        """The plot panel: its box, scale and limits, and the bottom spine as the x axis (a matplotlib
        Axis would rebuild a Tick of five artists per tick at every draw, so ticks are marks of their own)."""
        ax = self.axes
        ax.set_position(position)
        ax.set_facecolor("none")
        if log:
            ax.set_xscale("log")
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_xticks([])
        ax.set_xticks([], minor=True)  # a log scale brings minor ticks of its own
        ax.set_yticks([])
        for side in ("top", "left", "right"):
            ax.spines[side].set_visible(False)
        ax.spines["bottom"].set_linewidth(0.6)
        ax.spines["bottom"].set_color(color)

    def _transform(self, x: Unit, y: Unit, dy: float) -> transforms.Transform:
        ax = self.axes
        fig = ax.figure
        of = {"data": ax.transData, "axes": ax.transAxes, "inch": fig.dpi_scale_trans}
        base = transforms.blended_transform_factory(of[x], of[y]) if x != y else of[x]
        if not dy:
            return base
        key = (x, y, dy)
        if key not in self._below:
            self._below[key] = base + transforms.ScaledTranslation(0, dy / 72.0, fig.dpi_scale_trans)
        return self._below[key]

    def tick_marks(self, ticks: Sequence[float], length: float, color: str) -> None:
        self.axes.add_line(
            Line2D(
                ticks,
                [0.0] * len(ticks),
                transform=self._transform("data", "axes", 0.0),
                ls="",
                marker=TICKDOWN,
                markersize=length,
                markeredgewidth=0.6,
                color=color,
                clip_on=False,
                gid="x-ticks",
            )
        )

    def text(
        self,
        x: tuple[float, Unit],
        y: tuple[float, Unit],
        text: str,
        prop: FontProperties,
        color: str,
        *,
        ha: str,
        va: str,
        dy: float = 0.0,
        gid: str | None = None,
    ) -> None:
        self.labels.add(
            x[0],
            y[0],
            text,
            transform=self._transform(x[1], y[1], dy),
            ha=ha,
            va=va,
            fontproperties=prop,
            color=color,
            gid=gid,
        )

    def note(
        self, xy_in: tuple[float, float], dy: float, text: str, prop: FontProperties, color: str, ha: str
    ) -> None:
        """Text below the axis (favours labels, notes): at ``xy_in`` (inches across, the axis height) and
        ``dy`` points down, an annotation as a reader of the Axes would look for it."""
        self.axes.annotate(
            text,
            xy=xy_in,
            xycoords=self._transform("inch", "axes", 0.0),
            xytext=(0, dy),
            textcoords="offset points",
            ha=ha,
            va="top",
            fontproperties=prop,
            color=color,
            annotation_clip=False,
        )

    def rule(self, x_in: tuple[float, float], y: float, color: str, lw: float, gid: str) -> None:
        self.axes.add_line(
            Line2D(
                list(x_in),
                [y] * 2,
                transform=self._transform("inch", "data", 0.0),
                color=color,
                lw=lw,
                clip_on=False,
                gid=gid,
            )
        )

    def arrow(self, x: float, y: float, direction: int, color: str, gid: str) -> None:
        """An arrow head at the axis limit for an interval that leaves the axis."""
        self.axes.add_line(
            Line2D(
                [x],
                [y],
                marker=MarkerStyle(arrow_path(direction)),
                markersize=9,
                color=color,
                lw=0,
                gid=gid,
                zorder=2,
                clip_on=False,
            )
        )

    def intervals(
        self, segments: list[tuple[tuple[float, float], tuple[float, float]]], color: str, lw: float
    ) -> None:
        """Every study's CI as one artist: 200 Line2Ds took a third of a 200-study plot's making."""
        self.axes.add_collection(
            LineCollection(segments, colors=color, linewidths=lw, capstyle="butt", gid="ci", zorder=2),
            autolim=False,
        )

    def estimates(
        self, xs: list[float], ys: list[float], sizes: list[float], marker: str, color: str
    ) -> None:
        self.axes.scatter(
            xs,
            ys,
            s=sizes,
            marker=marker,
            color=color,
            linewidths=0,
            zorder=3,
            gid="study-squares",
            clip_on=False,
        )

    def unweighted(self, xs: list[float], ys: list[float], size: float, edge: str, lw: float) -> None:
        self.axes.scatter(
            xs,
            ys,
            s=size,
            marker="o",
            facecolors="white",
            edgecolors=edge,
            linewidths=lw,
            zorder=3,
            gid="unweighted-studies",
            clip_on=False,
        )

    def diamond(
        self, corners: list[tuple[float, float]], face: str, edge: str, lw: float, gid: str, label: str
    ) -> None:
        self.axes.add_patch(
            Polygon(
                corners,
                closed=True,
                facecolor=face,
                edgecolor=edge,
                lw=lw,
                joinstyle="miter",
                zorder=3,
                gid=gid,
                label=label,
            )
        )

    def bar(
        self, xy: tuple[float, float], width: float, height: float, color: str, gid: str, label: str
    ) -> None:
        self.axes.add_patch(
            Rectangle(xy, width, height, facecolor=color, edgecolor="none", zorder=3, gid=gid, label=label)
        )

    def vline(
        self,
        x: float,
        span: tuple[float, float],
        color: str,
        lw: float,
        dashes: tuple[float, float] | None,
        gid: str,
    ) -> None:
        style = {} if dashes is None else {"ls": (0, dashes)}
        self.axes.add_line(Line2D([x, x], list(span), zorder=1, gid=gid, color=color, lw=lw, **style))
