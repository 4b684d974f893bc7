"""TableText draws a plain label where matplotlib's own Text would, and leaves anything else to it."""

from __future__ import annotations

import gc
import itertools
import weakref

import numpy as np
import pytest
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.transforms import blended_transform_factory

from metablina.render.figures import font_family, new_figure
from metablina.render.skiarender import SkiaRenderer
from metablina.render.tabletext import Labels, TableText


class Spy:
    """Wraps a renderer and records the position of every draw_text call."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        self.calls.append((s, x, y, angle))

    def __getattr__(self, name):
        return getattr(self.inner, name)


def renderers(fig):
    import skia

    width, height = (float(v) * fig.dpi for v in fig.get_size_inches())
    canvas = skia.PictureRecorder().beginRecording(skia.Rect.MakeWH(width, height))
    return {"skia": SkiaRenderer(canvas, width, height), "agg": RendererAgg(width, height, fig.dpi)}


ALIGN = list(
    itertools.product(["left", "center", "right"], ["baseline", "top", "bottom", "center", "center_baseline"])
)


@pytest.mark.parametrize("which", ["skia", "agg"])
@pytest.mark.parametrize("size, weight", [(8.0, "normal"), (9.5, "bold"), (6.0, "normal")])
def test_plain_labels_land_where_text_puts_them(which, size, weight):
    fig = new_figure(4.0, 3.0)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    renderer = renderers(fig)[which]
    prop = FontProperties(family=list(font_family()), size=size, weight=weight)
    to_in = blended_transform_factory(fig.dpi_scale_trans, ax.transData)
    for (ha, va), text in zip(
        ALIGN, itertools.cycle(["Study 12", "97.5% [34.5, 100.0]", "gy", "Ω τ²", "ÅÉ"])
    ):
        kw = dict(transform=to_in, ha=ha, va=va, fontproperties=prop, parse_math=False, clip_on=False)
        ours, theirs = Spy(renderer), Spy(renderer)
        label = TableText(0.7, 0.3, text, **kw)
        label.set_figure(fig)
        label.draw(ours)
        reference = Text(0.7, 0.3, text, **kw)
        reference.set_figure(fig)
        reference.draw(theirs)
        assert len(ours.calls) == len(theirs.calls) == 1
        (s1, x1, y1, a1), (s2, x2, y2, a2) = ours.calls[0], theirs.calls[0]
        assert (s1, a1) == (s2, a2)
        assert x1 == pytest.approx(x2, abs=1e-9), (ha, va, text)
        assert y1 == pytest.approx(y2, abs=1e-9), (ha, va, text)


@pytest.mark.parametrize(
    "setting",
    [
        {"rotation": 90},
        {"wrap": True},
        {"bbox": {"facecolor": "white"}},
        {"linespacing": 1.5},
    ],
)
def test_anything_but_a_plain_label_goes_to_matplotlib(setting, monkeypatch):
    fig = new_figure(4.0, 3.0)
    renderer = renderers(fig)["skia"]
    called = []
    monkeypatch.setattr(Text, "draw", lambda self, r: called.append(self.get_text()))
    label = TableText(0.5, 0.5, "Study", **setting)
    label.set_figure(fig)
    label.draw(renderer)
    assert called == ["Study"]


def test_two_lines_and_mathtext_go_to_matplotlib(monkeypatch):
    fig = new_figure(4.0, 3.0)
    renderer = renderers(fig)["skia"]
    called = []
    monkeypatch.setattr(Text, "draw", lambda self, r: called.append(self.get_text()))
    for text, math in (("two\nlines", False), ("$x^2$", True)):
        label = TableText(0.5, 0.5, text, parse_math=math)
        label.set_figure(fig)
        label.draw(renderer)
    assert called == ["two\nlines", "$x^2$"]


def test_labels_are_unclipped_labels_of_the_axes():
    fig = new_figure(4.0, 3.0)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    labels = Labels(ax)
    first = labels.add(0.1, 0.2, "one", ha="right", gid="g")
    second = labels.add(0.1, 0.4, "two")
    assert list(ax.texts) == [first, second]
    assert not first.get_clip_on() and first.get_gid() == "g" and first.get_ha() == "right"
    assert first.get_clip_path() is second.get_clip_path()  # one shared path, never set per label
    assert first.get_transform() is ax.transData  # as Axes.text gives
    x, y = first.get_transform().transform(first.get_position())
    assert np.isfinite([x, y]).all()


def test_a_labelled_figure_is_freed_once_dropped():
    """The shared clip path refers to the Axes; kept in a module-level table keyed by the Axes, it kept
    every forest plot a figure worker drew alive (and each garbage collection walked them all again)."""
    fig = new_figure(4.0, 3.0)
    Labels(fig.add_axes((0.1, 0.1, 0.8, 0.8))).add(0.1, 0.2, "one")
    gone = weakref.ref(fig)
    del fig
    gc.collect()
    assert gone() is None
