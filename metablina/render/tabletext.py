"""Text for figures that are mostly a table (forest plots, the spec curve's indicator panel).

A forest plot of 200 studies holds about 2,000 labels. Through ``Axes.text`` each cost about 0.14 ms
to make (most of it setting a clip path that an unclipped label never uses) and as much again to draw
(matplotlib's general layout engine: wrapping, rotation, several lines, a box), so the labels took
most of a big figure's time. :class:`TableText` is still a :class:`matplotlib.text.Text` (``ax.texts``,
``get_text``, ``get_window_extent`` work as before); it only draws a plain label, one line without
rotation, box, wrapping, path effects, TeX or mathtext, by the same arithmetic as
``Text._get_layout`` for that case, and hands anything else to matplotlib.
"""

from __future__ import annotations

from typing import Any

from matplotlib import colors as mcolors
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.text import Text
from matplotlib.transforms import TransformedPatchPath

from metablina.render.skiafig import aligned, font_extent, line_box

__all__ = ["Labels", "TableText"]


class TableText(Text):
    """A :class:`~matplotlib.text.Text` drawn without the general layout engine when it is a plain label."""

    def _plain(self, renderer: RendererBase) -> bool:
        return (
            "\n" not in self._text
            and self.get_rotation() == 0
            and self.get_rotation_mode() in ("default", "anchor")
            and not self.get_wrap()
            and not self.get_usetex()
            and self._bbox_patch is None
            and not self.get_path_effects()
            and self._linespacing == "normal"
            and not self._preprocess_math(self._text)[1]
            and not hasattr(renderer, "_get_font_height_metrics")
        )

    def draw(self, renderer: RendererBase) -> None:
        if renderer is None or not self.get_visible() or self._text == "" or not self._plain(renderer):
            super().draw(renderer)
            return
        self._renderer = renderer
        dpi = self.get_figure(root=True).dpi
        extent = font_extent(self._fontproperties, dpi)
        if extent is None:
            super().draw(renderer)
            return
        x, y = self.get_transform().transform((float(self._x), float(self._y)))
        if not (abs(x) < float("inf") and abs(y) < float("inf")):
            return  # Text.draw skips a label at a NaN or infinite position
        # Text._get_layout for one line: the line is at least as tall as the font's own extent
        prop = self._fontproperties
        width, height, descent = renderer.get_text_width_height_descent(self._text, prop, False)
        ascent, descent = line_box(height, descent, extent)
        x, y = aligned(x, y, width, ascent, descent, self._horizontalalignment, self._verticalalignment)
        if renderer.flipy():
            y = renderer.get_canvas_width_height()[1] - y
        renderer.open_group("text", self.get_gid())
        gc = renderer.new_gc()
        gc.set_foreground(mcolors.to_rgba(self.get_color()), isRGBA=True)
        gc.set_alpha(self.get_alpha())
        gc.set_url(self._url)
        gc.set_antialiased(self._antialiased)
        gc.set_snap(self.get_snap())
        self._set_gc_clip(gc)
        renderer.draw_text(gc, x, y, self._text, self._fontproperties, 0.0, ismath=False, mtext=self)
        gc.restore()
        renderer.close_group("text")
        self.stale = False


class Labels:
    """Makes the :class:`TableText` labels of one Axes, as ``ax.text(x, y, text, clip_on=False,
    parse_math=False, **kwargs)`` would.

    ``Axes.text`` gives every label a clip path of its own (the Axes' patch), which costs more than
    making the label; an unclipped label never uses it, so the labels made here share one (the Axes
    then leaves it alone). The shared path is held here, not in a table keyed by the Axes: it refers to
    the Axes through its patch, so such a table would keep every figure alive.
    """

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        self.clip = TransformedPatchPath(ax.patch)

    def add(self, x: float, y: float, text: str, **kwargs: Any) -> TableText:
        label = TableText(x, y, text, clip_on=False, parse_math=False, clip_path=self.clip, **kwargs)
        return self.ax.add_artist(label)
