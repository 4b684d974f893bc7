"""A forest plot's marks drawn straight into a Skia picture: the report's way to draw its forest plots.

:class:`SkiaPainter` takes the marks :func:`metablina.render.forestlayout.paint_forest` lays out and draws
each as the matplotlib artist the public ``draw_forest`` makes of it would draw itself through
:class:`metablina.render.skiarender.SkiaRenderer`: the same positions (computed with matplotlib's own
transform objects, built as an Axes builds them, so every coordinate has the same bits), the same
pens, fills and text primitives (:class:`metablina.render.skiafig.SkiaCanvas`), in the same order
(matplotlib's z-order, then the order the marks were made). The files are the same; a test compares
them. What is left out is what costs: building an Axes, a few hundred artists and their draw calls
(two-thirds of a forest plot's time), and importing matplotlib's figure machinery (0.2 s).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import skia
from matplotlib.colors import to_rgba
from matplotlib.font_manager import FontProperties
from matplotlib.markers import TICKDOWN, MarkerStyle
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
from metablina.render.skiafig import Drawing, Pen, SkiaCanvas, font_extent, layout, polyline


def _device(transform: Transform, path: MplPath) -> np.ndarray:
    """The vertices of ``path`` in display points (y upwards), as an artist's draw hands them over:
    the transform's non-affine part applied to the path, then its affine part."""
    moved = transform.transform_path_non_affine(path)
    return transform.get_affine().transform(np.asarray(moved.vertices, dtype=float))


class SkiaPainter:
    """Draws the marks of :func:`~metablina.render.forestlayout.paint_forest` into a Skia picture.

    Each mark is queued with matplotlib's z-order for its artist (lines 2, text and glyphs 3, the null
    and reference lines 1, the axis line 2.5) and drawn, in that order, by :meth:`drawing`.
    """

    region = None  # always a figure of its own

    def __init__(self, style: ForestStyle) -> None:
        self.measure_dpi = style.dpi
        self._marks: list[tuple[float, int, Callable[[SkiaCanvas], None]]] = []
        self._size_in = (0.0, 0.0)

    # ---- figure and panel

    def new_figure(self, width_in: float, height_in: float, dpi: float) -> None:
        self._size_in = (width_in, height_in)
        self.dpi_scale = Affine2D().scale(72.0)  # a figure is recorded at 72 dpi: a unit is a point
        self.trans_figure = BboxTransformTo(
            TransformedBbox(Bbox.from_bounds(0, 0, *self._size_in), self.dpi_scale)
        )
        corners = _device(self.trans_figure, MplPath.unit_rectangle())
        self._add(
            -1.0, self._shape(corners, MplPath.unit_rectangle().codes, (1.0, 1.0, 1.0, 1.0), None, False)
        )

    def figure_size_pt(self) -> tuple[float, float]:
        return self._size_in[0] * 72.0, self._size_in[1] * 72.0

    def panel(
        self,
        position: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        log: bool,
        color: str,
    ) -> None:
        """The transforms of an Axes at ``position`` (figure fractions) with these limits, as matplotlib
        composes them; then the bottom spine, the axis line."""
        self.trans_axes = BboxTransformTo(TransformedBbox(Bbox.from_bounds(*position), self.trans_figure))
        scale = TransformWrapper(IdentityTransform())
        x_scale = LogTransform(10, "clip") if log else IdentityTransform()
        scale.set(blended_transform_factory(x_scale, IdentityTransform()))
        view = Bbox.unit()
        view.intervalx = xlim
        view.intervaly = ylim
        self.trans_data = scale + (BboxTransformFrom(TransformedBbox(view, scale)) + self.trans_axes)
        self._clip = TransformedBbox(Bbox.unit(), self.trans_axes).bounds
        self._below: dict[tuple[Unit, Unit, float], Transform] = {}
        spine = MplPath(np.array([[view.intervalx[0], 0.0], [view.intervalx[1], 0.0]]))
        xy = _device(self._transform("data", "axes", 0.0), spine)
        self._add(2.5, self._shape(xy, None, None, Pen(to_rgba(color), 0.6, "projecting", "miter"), False))

    def _transform(self, x: Unit, y: Unit, dy: float) -> Transform:
        of = {"data": self.trans_data, "axes": self.trans_axes, "inch": self.dpi_scale}
        key = (x, y, dy)
        if key not in self._below:
            base = blended_transform_factory(of[x], of[y]) if x != y else of[x]
            self._below[key] = base + ScaledTranslation(0, dy / 72.0, self.dpi_scale) if dy else base
        return self._below[key]

    # ---- queue and draw

    def _add(self, z: float, mark: Callable[[SkiaCanvas], None]) -> None:
        self._marks.append((z, len(self._marks), mark))

    def _shape(
        self,
        xy: np.ndarray,
        codes: np.ndarray | None,
        face: tuple[float, ...] | None,
        pen: Pen | None,
        clipped: bool,
    ) -> Callable[[SkiaCanvas], None]:
        clip = self._clip if clipped else None

        def mark(out: SkiaCanvas) -> None:
            flipped = np.column_stack([xy[:, 0], out.height - xy[:, 1]])
            out.canvas.save()
            if clip is not None:
                out.clip_rect(*clip)
            out.paint(polyline(flipped, codes), face, pen)
            out.canvas.restore()

        return mark

    def _stamps(
        self,
        shape: tuple[np.ndarray, np.ndarray | None],
        at: np.ndarray,
        face: tuple[float, ...] | None,
        pen: Pen,
    ) -> Callable[[SkiaCanvas], None]:
        """One marker shape (its points about its own origin, y upwards) at each finite point of ``at``."""
        points = [(float(x), float(y)) for x, y in at if np.isfinite(x) and np.isfinite(y)]

        def mark(out: SkiaCanvas) -> None:
            outline = polyline(np.column_stack([shape[0][:, 0], -shape[0][:, 1]]), shape[1])
            canvas = out.canvas
            canvas.save()
            for x, y in points:
                canvas.save()
                canvas.translate(x, out.height - y)
                out.paint(outline, face, pen)
                canvas.restore()
            canvas.restore()

        return mark

    def drawing(self) -> Drawing:
        """The picture of every mark made so far."""
        width, height = self.figure_size_pt()
        recorder = skia.PictureRecorder()
        out = SkiaCanvas(recorder.beginRecording(skia.Rect.MakeWH(width, height)), width, height)
        for _z, _order, mark in sorted(self._marks, key=lambda m: m[:2]):
            mark(out)
        return Drawing(recorder.finishRecordingAsPicture(), width, height, out.grey)

    # ---- marks

    def tick_marks(self, ticks: Sequence[float], length: float, color: str) -> None:
        marker = MarkerStyle(TICKDOWN)
        shape = marker.get_path()
        outline = marker.get_transform().scale(length).transform(shape.vertices)
        at = _device(
            self._transform("data", "axes", 0.0), MplPath(np.column_stack([ticks, np.zeros(len(ticks))]))
        )
        pen = Pen(to_rgba(color), 0.6, "butt", "round")
        self._add(2.0, self._stamps((outline, shape.codes), at, (0.0, 0.0, 0.0, 0.0), pen))

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
        self._text(float(px), float(py), text, prop, color, ha, va)

    def note(
        self, xy_in: tuple[float, float], dy: float, text: str, prop: FontProperties, color: str, ha: str
    ) -> None:
        x0, y0 = self._transform("inch", "axes", 0.0).transform(xy_in)
        at = Affine2D().scale(1.0).translate(float(x0), float(y0)).transform((0.0, dy))  # "offset points"
        self._text(float(at[0]), float(at[1]), text, prop, color, ha, "top")

    def _text(
        self, x: float, y: float, text: str, prop: FontProperties, color: str, ha: str, va: str
    ) -> None:
        """One line of text anchored at ``x``, ``y`` as matplotlib aligns it: the line is at least as tall
        as the font's own ascent and descent."""
        if not text or not (abs(x) < float("inf") and abs(y) < float("inf")):
            return
        line = layout(text, prop)
        width, height, descent = line.width, line.ascent + line.descent, line.descent
        extent = font_extent(prop, 72.0)
        assert extent is not None
        ascent = max(height - descent, extent[0])
        descent = max(descent, extent[1])
        x -= {"left": 0.0, "center": width / 2, "right": width}[ha]
        y += {
            "baseline": 0.0,
            "top": -ascent,
            "bottom": descent,
            "center": (descent - ascent) / 2,
            "center_baseline": -ascent / 2,
        }[va]
        rgba = to_rgba(color)

        def mark(out: SkiaCanvas) -> None:
            out.canvas.save()
            out.text(x, y, text, prop, out.colour(rgba))
            out.canvas.restore()

        self._add(3.0, mark)

    def rule(self, x_in: tuple[float, float], y: float, color: str, lw: float, gid: str) -> None:
        xy = _device(self._transform("inch", "data", 0.0), MplPath(np.array([[x_in[0], y], [x_in[1], y]])))
        self._add(2.0, self._shape(xy, None, None, Pen(to_rgba(color), lw, "projecting", "round"), False))

    def arrow(self, x: float, y: float, direction: int, color: str, gid: str) -> None:
        marker = MarkerStyle(arrow_path(direction))
        shape = marker.get_path()
        outline = marker.get_transform().scale(9.0).transform(shape.vertices)
        at = _device(self.trans_data, MplPath(np.array([[x, y]], dtype=float)))
        face = to_rgba(color)
        pen = Pen(
            (0.0, 0.0, 0.0, face[3]), 1.0, "butt", "round"
        )  # matplotlib: a black edge on a filled marker
        self._add(2.0, self._stamps((outline, shape.codes), at, face, pen))

    def intervals(
        self, segments: list[tuple[tuple[float, float], tuple[float, float]]], color: str, lw: float
    ) -> None:
        pen = Pen(to_rgba(color), lw, "butt", "round")
        for segment in segments:
            xy = _device(self.trans_data, MplPath(np.array(segment, dtype=float)))
            self._add(2.0, self._shape(xy, None, None, pen, True))

    def estimates(
        self, xs: list[float], ys: list[float], sizes: list[float], marker: str, color: str
    ) -> None:
        style = MarkerStyle(marker)
        shape = style.get_path().transformed(style.get_transform())
        sides = np.sqrt(np.asarray(sizes, dtype=float)) * 72.0 / 72.0 * 1.0  # as a PathCollection scales
        at = self._offsets(xs, ys)
        face = to_rgba(color)
        if len(sides) == 1:  # one size: matplotlib stamps it as a marker
            outline = Affine2D().scale(sides[0]).transform(shape.vertices)
            self._add(3.0, self._stamps((outline, shape.codes), at, face, Pen(face, 0.0)))
            return
        for side, (xo, yo) in zip(sides, at, strict=True):
            if not (np.isfinite(xo) and np.isfinite(yo)):
                continue
            moved = Affine2D().scale(side)
            if xo != 0 or yo != 0:
                moved = moved.frozen().translate(xo, yo)
            self._add(
                3.0, self._shape(moved.transform(shape.vertices), shape.codes, face, Pen(face, 0.0), False)
            )

    def _offsets(self, xs: list[float], ys: list[float]) -> np.ndarray:
        offsets = np.column_stack([np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)])
        return self.trans_data.get_affine().transform(self.trans_data.transform_non_affine(offsets))

    def unweighted(self, xs: list[float], ys: list[float], size: float, edge: str, lw: float) -> None:
        style = MarkerStyle("o")
        shape = style.get_path().transformed(style.get_transform())
        outline = Affine2D().scale(np.sqrt(size) * 72.0 / 72.0 * 1.0).transform(shape.vertices)
        pen = Pen(to_rgba(edge), lw, "butt", "round")
        self._add(3.0, self._stamps((outline, shape.codes), self._offsets(xs, ys), (1.0, 1.0, 1.0, 1.0), pen))

    def diamond(
        self, corners: list[tuple[float, float]], face: str, edge: str, lw: float, gid: str, label: str
    ) -> None:
        path = MplPath(np.concatenate([np.asarray(corners, dtype=float), [corners[0]]]), closed=True)
        pen = Pen(to_rgba(edge), lw, "butt", "miter")
        self._add(3.0, self._shape(_device(self.trans_data, path), path.codes, to_rgba(face), pen, True))

    def bar(
        self, xy: tuple[float, float], width: float, height: float, color: str, gid: str, label: str
    ) -> None:
        x0, y0 = xy
        box = Bbox.from_extents(x0, y0, x0 + width, y0 + height)
        patch = BboxTransformTo(box) + Affine2D().translate(-box.x0, -box.y0).scale(1, 1.0).rotate_deg(
            0.0
        ).scale(1, 1 / 1.0).translate(box.x0, box.y0)
        xy_pt = _device(patch + self.trans_data, MplPath.unit_rectangle())
        self._add(3.0, self._shape(xy_pt, MplPath.unit_rectangle().codes, to_rgba(color), None, True))

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
        if dashes is None:
            pen = Pen(to_rgba(color), lw, "projecting", "round")
        else:  # matplotlib scales a dash pattern by the line width
            pen = Pen(to_rgba(color), lw, "butt", "round", (0 * lw, tuple(d * lw for d in dashes)))
        self._add(1.0, self._shape(xy, None, None, pen, True))


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
