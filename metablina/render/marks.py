"""Figures drawn straight into a Skia picture: the report's way to draw its forest plots (and their
leave-one-out, cumulative and comparison kin) and its specification curves.

:class:`SkiaPainter` takes the marks :func:`metablina.render.forestlayout.paint_forest` lays out, and
:class:`SkiaSpecPainter` those of :func:`metablina.render.speclayout.paint_spec_curve`, and draws each as
the matplotlib artist the public ``draw_forest`` or ``spec_curve`` makes of it would draw itself through
:class:`metablina.render.skiarender.SkiaRenderer`: the same positions (computed with matplotlib's own
transform objects, built as an Axes builds them, so every coordinate has the same bits), the same
pens, fills and text primitives (:class:`metablina.render.skiafig.SkiaCanvas`), in the same order
(matplotlib's z-order, then the order the marks were made). The files are the same; tests compare them
byte for byte. What is left out is what costs: building an Axes, a few hundred artists and their draw
calls (two-thirds of a forest plot's time), and importing matplotlib's figure machinery (0.15 s).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import skia
from matplotlib.colors import to_rgba
from matplotlib.font_manager import FontProperties
from matplotlib.markers import TICKDOWN, TICKLEFT, MarkerStyle
from matplotlib.path import Path as MplPath
from matplotlib.scale import LogTransform
from matplotlib.transforms import (
    Affine2D,
    Bbox,
    BboxTransformFrom,
    BboxTransformTo,
    IdentityTransform,
    ScaledTranslation,
    Transform,
    TransformedBbox,
    TransformWrapper,
    blended_transform_factory,
)

from metablina.render.forestlayout import Unit, arrow_path, paint_forest
from metablina.render.forestmodel import ForestData, ForestStyle
from metablina.render.skiafig import (
    Drawing,
    Pen,
    SkiaCanvas,
    aligned,
    font_extent,
    layout,
    line_box,
    polyline,
)
from metablina.render.speclayout import paint_spec_curve


def _device(transform: Transform, path: MplPath) -> np.ndarray:
    """The vertices of ``path`` in display points (y upwards), as an artist's draw hands them over:
    the transform's non-affine part applied to the path, then its affine part."""
    moved = transform.transform_path_non_affine(path)
    return transform.get_affine().transform(np.asarray(moved.vertices, dtype=float))


@dataclass
class Panel:
    """The transforms of one Axes as matplotlib composes them, and its place in the drawing order."""

    order: int
    trans_axes: Transform
    trans_data: Transform
    view: Bbox
    clip: tuple[float, float, float, float]  # the Axes' box (x0, y0, width, height), y upwards


class SkiaMarks:
    """A figure of panels drawn straight into a Skia picture, each mark as its matplotlib artist would
    draw itself through :class:`~metablina.render.skiarender.SkiaRenderer`.

    Marks are queued with matplotlib's drawing order: the figure's background, then each panel (Axes) in
    the order made, its marks by z-order (null lines 1, lines 2, the axis line 2.5, text and glyphs 3)
    and then the order made; then text placed on the figure itself. :meth:`drawing` draws them.
    """

    def __init__(self, style: ForestStyle) -> None:
        self.measure_dpi = style.dpi
        self._marks: list[tuple[tuple[float, int, float, int], Callable[[SkiaCanvas], None]]] = []
        self._size_in = (0.0, 0.0)
        self.panels: dict[str, Panel] = {}
        self._transforms: dict[tuple[str, Unit, Unit, float, float], Transform] = {}

    # ---- figure and panels

    def new_figure(self, width_in: float, height_in: float, dpi: float) -> None:
        self._size_in = (width_in, height_in)
        self.dpi_scale = Affine2D().scale(72.0)  # a figure is recorded at 72 dpi: a unit is a point
        self.trans_figure = BboxTransformTo(
            TransformedBbox(Bbox.from_bounds(0, 0, *self._size_in), self.dpi_scale)
        )
        corners = _device(self.trans_figure, MplPath.unit_rectangle())
        background = self._shape(corners, MplPath.unit_rectangle().codes, (1.0, 1.0, 1.0, 1.0), None, None)
        self._marks.append(((-1.0, 0, 0.0, 0), background))

    def figure_size_pt(self) -> tuple[float, float]:
        return self._size_in[0] * 72.0, self._size_in[1] * 72.0

    def add_panel(
        self,
        key: str,
        position: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        xlog: bool = False,
        ylog: bool = False,
    ) -> Panel:
        """An Axes at ``position`` (figure fractions) with these limits (log scales base 10)."""
        trans_axes = BboxTransformTo(TransformedBbox(Bbox.from_bounds(*position), self.trans_figure))
        scale = TransformWrapper(IdentityTransform())
        scale.set(
            blended_transform_factory(
                LogTransform(10, "clip") if xlog else IdentityTransform(),
                LogTransform(10, "clip") if ylog else IdentityTransform(),
            )
        )
        view = Bbox.unit()
        view.intervalx = xlim
        view.intervaly = ylim
        trans_data = scale + (BboxTransformFrom(TransformedBbox(view, scale)) + trans_axes)
        clip = TransformedBbox(Bbox.unit(), trans_axes).bounds
        self.panels[key] = Panel(len(self.panels), trans_axes, trans_data, view, clip)
        return self.panels[key]

    def transform(self, key: str, x: Unit, y: Unit, dx: float = 0.0, dy: float = 0.0) -> Transform:
        """Panel ``key``'s transform for x and y in these units (``figure``: fractions of the figure),
        then moved by ``dx``, ``dy`` points."""
        cache = (key, x, y, dx, dy)
        if cache not in self._transforms:
            panel = self.panels.get(key)
            of = {"inch": self.dpi_scale, "figure": self.trans_figure}
            if panel is not None:
                of |= {"data": panel.trans_data, "axes": panel.trans_axes}
            base = blended_transform_factory(of[x], of[y]) if x != y else of[x]
            moved = base + ScaledTranslation(dx / 72.0, dy / 72.0, self.dpi_scale) if dx or dy else base
            self._transforms[cache] = moved
        return self._transforms[cache]

    def spine(self, key: str, side: str, lw: float, color: str) -> None:
        """The ``bottom`` or ``left`` spine of a panel: its line along the view limits."""
        panel = self.panels[key]
        if side == "bottom":
            xy = np.array([[panel.view.intervalx[0], 0.0], [panel.view.intervalx[1], 0.0]])
            at = self.transform(key, "data", "axes")
        else:
            xy = np.array([[0.0, panel.view.intervaly[0]], [0.0, panel.view.intervaly[1]]])
            at = self.transform(key, "axes", "data")
        shape = self._shape(
            _device(at, MplPath(xy)), None, None, Pen(to_rgba(color), lw, "projecting", "miter")
        )
        self._add(key, 2.5, shape)

    # ---- queue and draw

    def _add(self, key: str | None, z: float, mark: Callable[[SkiaCanvas], None]) -> None:
        """Queue ``mark`` in panel ``key`` (None: on the figure, after every panel) at z-order ``z``."""
        where = (0.0, self.panels[key].order, z) if key is not None else (z, 0, 0.0)
        self._marks.append(((*where, len(self._marks)), mark))

    def _shape(
        self,
        xy: np.ndarray,
        codes: np.ndarray | None,
        face: tuple[float, ...] | None,
        pen: Pen | None,
        clip: tuple[float, float, float, float] | None = None,
    ) -> Callable[[SkiaCanvas], None]:
        """A path through ``xy`` (display points, y upwards) filled and stroked, clipped to ``clip``."""
        return self._shapes([(xy, codes, face, pen)], clip)

    @staticmethod
    def _shapes(
        shapes: list[tuple[np.ndarray, np.ndarray | None, tuple[float, ...] | None, Pen | None]],
        clip: tuple[float, float, float, float] | None = None,
    ) -> Callable[[SkiaCanvas], None]:
        """Paths (points, codes, fill, pen) drawn under one clip: an artist's path, or a collection's
        paths as :meth:`SkiaRenderer.draw_path_collection` draws them."""

        def mark(out: SkiaCanvas) -> None:
            out.save()
            if clip is not None:
                out.clip_rect(*clip)
            for xy, codes, face, pen in shapes:
                if not np.isfinite(xy).all():  # as the renderer does: the path broken at its NaNs
                    broken = MplPath(xy, codes).cleaned(remove_nans=True)
                    xy, codes = broken.vertices, broken.codes
                flipped = np.column_stack([xy[:, 0], out.height - xy[:, 1]])
                out.paint(polyline(flipped, codes), face, pen)
            out.restore()

        return mark

    def _stamps(
        self,
        shape: tuple[np.ndarray, np.ndarray | None],
        at: np.ndarray,
        face: tuple[float, ...] | None,
        pen: Pen,
        clip: tuple[float, float, float, float] | None = None,
    ) -> Callable[[SkiaCanvas], None]:
        """One marker shape (its points about its own origin, y upwards) at each finite point of ``at``."""
        points = [(float(x), float(y)) for x, y in at if np.isfinite(x) and np.isfinite(y)]

        def mark(out: SkiaCanvas) -> None:
            outline = polyline(np.column_stack([shape[0][:, 0], -shape[0][:, 1]]), shape[1])
            out.save()
            if clip is not None:
                out.clip_rect(*clip)
            for x, y in points:
                out.save()
                out.translate(x, out.height - y)
                out.paint(outline, face, pen)
                out.restore()
            out.restore()

        return mark

    def _offsets(self, key: str, xs: Sequence[float], ys: Sequence[float]) -> np.ndarray:
        """Data points of panel ``key`` in display points, as a collection's offsets are placed."""
        data = self.panels[key].trans_data
        offsets = np.column_stack([np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)])
        return data.get_affine().transform(data.transform_non_affine(offsets))

    def _scatter(
        self,
        key: str,
        xs: Sequence[float],
        ys: Sequence[float],
        sizes: Sequence[float],
        marker: str,
        faces: Sequence[tuple[float, ...]],
        pen: Pen,
        z: float,
        clipped: bool,
    ) -> None:
        """A scatter's marks as a PathCollection draws them: stamped as one marker when it has one size and
        one colour, else each point as a path of its own (points with no finite position skipped)."""
        style = MarkerStyle(marker)
        shape = style.get_path().transformed(style.get_transform())
        sides = np.sqrt(np.asarray(sizes, dtype=float)) * 72.0 / 72.0 * 1.0  # as a PathCollection scales
        at = self._offsets(key, xs, ys)
        clip = self.panels[key].clip if clipped else None
        if len(sides) == 1 and len(faces) == 1:
            outline = Affine2D().scale(sides[0]).transform(shape.vertices)
            self._add(key, z, self._stamps((outline, shape.codes), at, faces[0], pen, clip))
            return
        paths = []
        for i, (xo, yo) in enumerate(at):
            if not (np.isfinite(xo) and np.isfinite(yo)):
                continue
            moved = Affine2D().scale(sides[i % len(sides)])
            if xo != 0 or yo != 0:
                moved = moved.frozen().translate(xo, yo)
            paths.append((moved.transform(shape.vertices), shape.codes, faces[i % len(faces)], pen))
        self._add(key, z, self._shapes(paths, clip))

    def _text(
        self,
        x: float,
        y: float,
        text: str,
        prop: FontProperties,
        color: str,
        ha: str,
        va: str,
        key: str | None,
        rotation: float = 0.0,
    ) -> None:
        """One line of text anchored at ``x``, ``y`` as matplotlib aligns it (a rotated line as with
        ``rotation_mode="anchor"``): the line is at least as tall as the font's own ascent and descent."""
        if not text or not (abs(x) < float("inf") and abs(y) < float("inf")):
            return
        line = layout(text, prop)
        width, height, descent = line.width, line.ascent + line.descent, line.descent
        extent = font_extent(prop, 72.0)
        if extent is None:  # a font with neither table: matplotlib takes the extent of "lp" instead
            lp = layout("lp", prop)
            extent = (lp.ascent + lp.descent - lp.descent, lp.descent)
        ascent, descent = line_box(height, descent, extent)
        if rotation:
            x, y = _anchored(x, y, width, ascent, descent, ha, va, rotation)
        else:
            x, y = aligned(x, y, width, ascent, descent, ha, va)
        rgba = to_rgba(color)

        def mark(out: SkiaCanvas) -> None:
            out.save()
            out.text(x, y, text, prop, out.colour(rgba), rotation)
            out.restore()

        self._add(key, 3.0, mark)

    def drawing(self) -> Drawing:
        """The picture of every mark made so far."""
        width, height = self.figure_size_pt()
        recorder = skia.PictureRecorder()
        out = SkiaCanvas(recorder.beginRecording(skia.Rect.MakeWH(width, height)), width, height)
        for _where, mark in sorted(self._marks, key=lambda m: m[0]):
            mark(out)
        return Drawing(recorder.finishRecordingAsPicture(), width, height, out.grey, tuple(out.ops))


def _anchored(
    x: float, y: float, width: float, ascent: float, descent: float, ha: str, va: str, rotation: float
) -> tuple[float, float]:
    """The origin of a rotated line anchored at ``x``, ``y`` by ``Text._get_layout`` with
    ``rotation_mode="anchor"`` (its arithmetic, step by step, so the bits agree)."""
    rad = math.radians(rotation)
    cos, sin = math.cos(rad), math.sin(rad)
    baseline = ascent
    xmin1, ymin1, xmax1, ymax1 = 0, -ascent - descent, width, 0
    offsetx = xmin1 if ha == "left" else xmax1 if ha == "right" else (xmin1 + xmax1) / 2
    offsety = (
        ymin1
        if va == "bottom"
        else ymax1
        if va == "top"
        else (ymin1 + ymax1) / 2
        if va == "center"
        else ymax1 - baseline
        if va == "baseline"
        else ymax1 - baseline / 2
    )
    offsetx, offsety = (cos * offsetx - sin * offsety, sin * offsetx + cos * offsety)
    line_x, line_y = (cos * 0.0 - sin * -ascent, sin * 0.0 + cos * -ascent)
    return (line_x - offsetx) + x, (line_y - offsety) + y


class SkiaPainter(SkiaMarks):
    """Draws the marks of :func:`~metablina.render.forestlayout.paint_forest` (one panel, "plot")."""

    region = None  # always a figure of its own

    def panel(
        self,
        position: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        log: bool,
        color: str,
    ) -> None:
        """The plot panel, and its bottom spine as the x axis."""
        self.add_panel("plot", position, xlim, ylim, xlog=log)
        self.spine("plot", "bottom", 0.6, color)

    def _transform(self, x: Unit, y: Unit, dy: float) -> Transform:
        return self.transform("plot", x, y, 0.0, dy)

    @property
    def trans_data(self) -> Transform:
        return self.panels["plot"].trans_data

    @property
    def _clip(self) -> tuple[float, float, float, float]:
        return self.panels["plot"].clip

    # ---- marks

    def tick_marks(self, ticks: Sequence[float], length: float, color: str) -> None:
        marker = MarkerStyle(TICKDOWN)
        shape = marker.get_path()
        outline = marker.get_transform().scale(length).transform(shape.vertices)
        at = _device(
            self._transform("data", "axes", 0.0), MplPath(np.column_stack([ticks, np.zeros(len(ticks))]))
        )
        pen = Pen(to_rgba(color), 0.6, "butt", "round")
        # a tick has no area, and matplotlib fills it with its line colour as it does any marker
        self._add("plot", 2.0, self._stamps((outline, shape.codes), at, pen.color, pen))

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
        px, py = self._transform(x[1], y[1], dy).transform((float(x[0]), float(y[0])))
        self._text(float(px), float(py), text, prop, color, ha, va, "plot")

    def note(
        self, xy_in: tuple[float, float], dy: float, text: str, prop: FontProperties, color: str, ha: str
    ) -> None:
        x0, y0 = self._transform("inch", "axes", 0.0).transform(xy_in)
        at = Affine2D().scale(1.0).translate(float(x0), float(y0)).transform((0.0, dy))  # "offset points"
        self._text(float(at[0]), float(at[1]), text, prop, color, ha, "top", "plot")

    def rule(self, x_in: tuple[float, float], y: float, color: str, lw: float, gid: str) -> None:
        xy = _device(self._transform("inch", "data", 0.0), MplPath(np.array([[x_in[0], y], [x_in[1], y]])))
        self._add("plot", 2.0, self._shape(xy, None, None, Pen(to_rgba(color), lw, "projecting", "round")))

    def arrow(self, x: float, y: float, direction: int, color: str, gid: str) -> None:
        marker = MarkerStyle(arrow_path(direction))
        shape = marker.get_path()
        outline = marker.get_transform().scale(9.0).transform(shape.vertices)
        at = _device(self.trans_data, MplPath(np.array([[x, y]], dtype=float)))
        face = to_rgba(color)
        edge = Pen((0.0, 0.0, 0.0, face[3]), 1.0, "butt", "round")  # matplotlib's edge of a filled marker
        self._add("plot", 2.0, self._stamps((outline, shape.codes), at, face, edge))

    def intervals(
        self, segments: list[tuple[tuple[float, float], tuple[float, float]]], color: str, lw: float
    ) -> None:
        pen = Pen(to_rgba(color), lw, "butt", "round")
        paths = [
            (_device(self.trans_data, MplPath(np.array(seg, dtype=float))), None, None, pen)
            for seg in segments
        ]
        self._add("plot", 2.0, self._shapes(paths, self._clip))

    def estimates(
        self, xs: list[float], ys: list[float], sizes: list[float], marker: str, color: str
    ) -> None:
        face = to_rgba(color)
        self._scatter("plot", xs, ys, sizes, marker, [face], Pen(face, 0.0), 3.0, False)

    def unweighted(self, xs: list[float], ys: list[float], size: float, edge: str, lw: float) -> None:
        pen = Pen(to_rgba(edge), lw, "butt", "round")
        self._scatter("plot", xs, ys, [size], "o", [(1.0, 1.0, 1.0, 1.0)], pen, 3.0, False)

    def diamond(
        self, corners: list[tuple[float, float]], face: str, edge: str, lw: float, gid: str, label: str
    ) -> None:
        path = MplPath(np.concatenate([np.asarray(corners, dtype=float), [corners[0]]]), closed=True)
        pen = Pen(to_rgba(edge), lw, "butt", "miter")
        self._add(
            "plot",
            3.0,
            self._shape(_device(self.trans_data, path), path.codes, to_rgba(face), pen, self._clip),
        )

    def bar(
        self, xy: tuple[float, float], width: float, height: float, color: str, gid: str, label: str
    ) -> None:
        """A Rectangle patch: its unit square through the patch's own transform, then the data's."""
        x0, y0 = xy
        box = Bbox.from_extents(x0, y0, x0 + width, y0 + height)
        turn = Affine2D().translate(-box.x0, -box.y0).scale(1, 1.0).rotate_deg(0.0).scale(1, 1 / 1.0)
        patch = BboxTransformTo(box) + turn.translate(box.x0, box.y0)
        xy_pt = _device(patch + self.trans_data, MplPath.unit_rectangle())
        square = MplPath.unit_rectangle().codes
        self._add("plot", 3.0, self._shape(xy_pt, square, to_rgba(color), None, self._clip))

    def vline(
        self,
        x: float,
        span: tuple[float, float],
        color: str,
        lw: float,
        dashes: tuple[float, float] | None,
        gid: str,
    ) -> None:
        xy = _device(self.trans_data, MplPath(np.array([[x, span[0]], [x, span[1]]], dtype=float)))
        self._add("plot", 1.0, self._shape(xy, None, None, _line_pen(color, lw, dashes), self._clip))


def _line_pen(color: str, lw: float, dashes: tuple[float, ...] | None) -> Pen:
    """A Line2D's pen: projecting caps when solid, butt caps and dashes scaled by the width when dashed."""
    if dashes is None:
        return Pen(to_rgba(color), lw, "projecting", "round")
    return Pen(to_rgba(color), lw, "butt", "round", (0 * lw, tuple(d * lw for d in dashes)))


def forest_drawing(
    data: ForestData,
    style: ForestStyle,
    *,
    reference: float | None = None,
    marker: Literal["square", "point"] = "square",
) -> Drawing:
    """A forest plot drawn straight into a Skia picture (the same picture ``draw_forest`` would give)."""
    painter = SkiaPainter(style)
    paint_forest(data, painter, style, reference=reference, marker=marker)
    return painter.drawing()


class SkiaSpecPainter(SkiaMarks):
    """Draws the marks of :func:`~metablina.render.speclayout.paint_spec_curve` (panels "curve" and
    "choices") as :class:`metablina.render.speccurve.AxesSpecPainter`'s artists would draw themselves."""

    def panel(
        self,
        key: str,
        position: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        ylog: bool,
    ) -> None:
        self.add_panel(key, position, xlim, ylim, ylog=ylog)

    def segments(
        self,
        key: str,
        segments: list[tuple[tuple[float, float], tuple[float, float]]],
        colors: list[str],
        lw: float,
    ) -> None:
        """A LineCollection: a path per segment, its colour cycling through ``colors``, clipped."""
        panel = self.panels[key]
        pens = [Pen(to_rgba(c), lw, "butt", "round") for c in colors]
        paths = [
            (_device(panel.trans_data, MplPath(np.array(seg, dtype=float))), None, None, pens[i % len(pens)])
            for i, seg in enumerate(segments)
        ]
        self._add(key, 2.0, self._shapes(paths, panel.clip))

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
        self._scatter(key, xs, ys, [size], marker, faces, Pen(faces[0], 0.0), z, True)

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
        panel = self.panels[key]
        at = self.transform(key, x_units, "data")
        xy = _device(at, MplPath(np.column_stack([np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)])))
        self._add(key, z, self._shape(xy, None, None, _line_pen(color, lw, dashes), panel.clip))

    def y_ticks(self, key: str, values: Sequence[float], length: float, lw: float, color: str) -> None:
        marker = MarkerStyle(TICKLEFT)
        shape = marker.get_path()
        outline = marker.get_transform().scale(length).transform(shape.vertices)
        at = _device(
            self.transform(key, "axes", "data"), MplPath(np.column_stack([np.zeros(len(values)), values]))
        )
        pen = Pen(to_rgba(color), lw, "butt", "round")
        self._add(key, 2.0, self._stamps((outline, shape.codes), at, pen.color, pen))

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
        px, py = self.transform(key, units[0], units[1], dx, dy).transform((float(xy[0]), float(xy[1])))
        self._text(float(px), float(py), text, prop, color, ha, va, key, rotation)


def spec_curve_drawing(
    estimate: Sequence[float],
    ci_low: Sequence[float],
    ci_high: Sequence[float],
    choices: Mapping[str, Sequence[str]],
    *,
    style: ForestStyle,
    **options: Any,
) -> Drawing:
    """A specification curve drawn straight into a Skia picture (the picture ``spec_curve`` would give)."""
    painter = SkiaSpecPainter(style)
    paint_spec_curve(estimate, ci_low, ci_high, choices, painter, style=style, **options)
    return painter.drawing()
