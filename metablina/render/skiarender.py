"""matplotlib figures into a Skia picture: :class:`SkiaRenderer` is a matplotlib renderer, so every artist
draws itself as usual, and each call becomes a primitive of :class:`metablina.render.skiafig.SkiaCanvas`
(the same primitives the report's directly drawn figures use). :func:`record` draws a figure once; the
writers of :mod:`metablina.render.skiafig` make its PNG, PDF and SVG from that one drawing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import skia
from matplotlib.backend_bases import GraphicsContextBase, RendererBase
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Transform

from metablina.render.skiafig import Drawing, Pen, Shape, SkiaCanvas, layout, polyline


class SkiaRenderer(RendererBase):
    """A matplotlib renderer drawing onto a Skia canvas in points (72 units per inch), y downwards.

    Markers are stamped from one converted shape; collections go through ``draw_path`` (RendererBase
    turns them into paths); text through :func:`~metablina.render.skiafig.layout`; mathtext through
    RendererBase, as outlines. Images are not supported (no metablina figure has one).
    """

    def __init__(self, canvas: skia.Canvas, width: float, height: float) -> None:
        super().__init__()
        self.out = SkiaCanvas(canvas, width, height)
        self.width, self.height = width, height

    @property
    def grey(self) -> bool:
        return self.out.grey

    def flipy(self) -> bool:
        return False

    def get_canvas_width_height(self) -> tuple[float, float]:
        return self.width, self.height

    def points_to_pixels(self, points: float) -> float:
        return points

    def _path(self, path: MplPath, transform: Transform, *, offset: bool = False) -> Shape:
        """``path`` through ``transform`` into Skia's y-down coordinates (``offset``: a marker shape,
        flipped about its own origin rather than about the canvas)."""
        verts = np.asarray(path.vertices, dtype=float)
        if not np.isfinite(verts).all():  # matplotlib breaks a path at NaNs: let it do so
            path = path.cleaned(remove_nans=True)
            verts = np.asarray(path.vertices, dtype=float)
        xy = transform.transform(verts) if len(verts) else verts.reshape(0, 2)
        xy[:, 1] = -xy[:, 1] if offset else self.height - xy[:, 1]
        return polyline(xy, path.codes)

    @staticmethod
    def _alpha(gc: GraphicsContextBase) -> float | None:
        return gc.get_alpha() if gc.get_forced_alpha() else None

    def _clip(self, gc: GraphicsContextBase) -> None:
        rect = gc.get_clip_rectangle()
        if rect is not None:
            self.out.clip_rect(*rect.bounds)
        path, transform = gc.get_clip_path()
        if path is not None:
            self.out.clip_path(self._path(path, transform))

    def _paint(self, gc: GraphicsContextBase, shape: Shape, face: tuple[float, ...] | None) -> None:
        """Fill ``shape`` with ``face`` (if any), then stroke it with the gc's pen (if any)."""
        if gc.get_hatch() is not None:
            raise NotImplementedError("hatching is not supported by metablina's figure writer")
        offset, dashes = gc.get_dashes()
        pen = Pen(
            tuple(gc.get_rgb()),  # type: ignore[arg-type]
            gc.get_linewidth(),
            gc.get_capstyle(),
            gc.get_joinstyle(),
            (offset, tuple(dashes) if dashes else None),
        )
        self.out.paint(shape, face, pen, self._alpha(gc))

    def draw_path(
        self,
        gc: GraphicsContextBase,
        path: MplPath,
        transform: Transform,
        rgbFace: tuple[float, ...] | None = None,  # matplotlib's name
    ) -> None:
        self.out.save()
        self._clip(gc)
        self._paint(gc, self._path(path, transform), rgbFace)
        self.out.restore()

    def draw_path_collection(
        self,
        gc: GraphicsContextBase,
        master_transform: Transform,
        paths: Sequence[MplPath],
        all_transforms: Sequence[np.ndarray],
        offsets: np.ndarray,
        offset_trans: Transform,
        facecolors: np.ndarray,
        edgecolors: np.ndarray,
        linewidths: np.ndarray,
        linestyles: Sequence[Any],
        antialiaseds: Sequence[bool],
        urls: Sequence[str | None],
        offset_position: str,
        *,
        hatchcolors: Sequence[Any] | None = None,
    ) -> None:
        """RendererBase's collection, each path filled and stroked as it would be, under ONE clip: every
        path of a collection shares the collection's clip, and a clip per path made a 200-study plot's
        SVG hold 200 clip paths (a third of its writing time)."""
        raw = list(self._iter_collection_raw_paths(master_transform, paths, all_transforms))
        self.out.save()
        self._clip(gc)
        for xo, yo, (path, transform), gc0, face in self._iter_collection(
            gc,
            raw,
            offsets,
            offset_trans,
            facecolors,
            edgecolors,
            linewidths,
            linestyles,
            antialiaseds,
            urls,
            offset_position,
            hatchcolors=hatchcolors if hatchcolors is not None else [],
        ):
            if xo != 0 or yo != 0:  # as RendererBase: a copy moved, the shared transform left alone
                transform = transform.frozen()
                transform.translate(xo, yo)
            self._paint(gc0, self._path(path, transform), face)
        self.out.restore()

    def draw_markers(
        self,
        gc: GraphicsContextBase,
        marker_path: MplPath,
        marker_trans: Transform,
        path: MplPath,
        trans: Transform,
        rgbFace: tuple[float, ...] | None = None,  # matplotlib's name
    ) -> None:
        """The marker shape is converted once and stamped at each vertex of ``path``."""
        shape = self._path(marker_path, marker_trans, offset=True)
        out = self.out
        out.save()
        self._clip(gc)
        for vertices, _code in path.iter_segments(trans, simplify=False):
            if len(vertices):
                x, y = vertices[-2:]
                out.save()
                out.translate(float(x), self.height - float(y))
                self._paint(gc, shape, rgbFace)
                out.restore()
        out.restore()

    def get_text_width_height_descent(
        self, s: str, prop: FontProperties, ismath: bool | str
    ) -> tuple[float, float, float]:
        if ismath:
            return super().get_text_width_height_descent(s, prop, ismath)
        line = layout(s, prop)
        return line.width, line.ascent + line.descent, line.descent

    def draw_text(
        self,
        gc: GraphicsContextBase,
        x: float,
        y: float,
        s: str,
        prop: FontProperties,
        angle: float,
        ismath: bool | str = False,
        mtext: object = None,
    ) -> None:
        if ismath:
            super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
            return
        colour = self.out.colour(gc.get_rgb(), self._alpha(gc))
        self.out.save()
        self._clip(gc)
        self.out.text(x, y, s, prop, colour, angle)
        self.out.restore()


def record(fig: Figure) -> Drawing:
    """Draw ``fig`` into a Skia picture, in points (the figure's dpi is set to 72 meanwhile)."""
    width, height = (float(v) * 72.0 for v in fig.get_size_inches())
    recorder = skia.PictureRecorder()
    canvas = recorder.beginRecording(skia.Rect.MakeWH(width, height))
    saved = fig.dpi
    fig.dpi = 72.0
    renderer = SkiaRenderer(canvas, width, height)
    try:
        fig.draw(renderer)
    finally:
        fig.dpi = saved
    return Drawing(recorder.finishRecordingAsPicture(), width, height, renderer.grey, tuple(renderer.out.ops))
