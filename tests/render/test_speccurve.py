"""The specification curve (issue 14): sorted estimates with intervals, the indicator panel of choices, the
primary marked, the threshold drawn; drawn as a report figure job."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.axes import Axes

from metablina.render.draw import FigureJob, draw_figure, file_style
from metablina.render.speccurve import ABOVE_COLOR, BELOW_COLOR, PRIMARY_COLOR, spec_curve

EST = (0.08, 0.03, 0.05, 0.12)
LOW = (0.06, 0.01, 0.02, 0.07)
HIGH = (0.10, 0.04, 0.09, 0.20)
CHOICES = {
    "inclusion": ("as planned", "as planned", "without A", "as planned"),
    "measure": ("PLO", "PFT", "PLO", "PAS"),
    "model": ("GLMM", "REML", "REML", "DL"),
}


def by_gid(ax: Axes, gid: str):
    return [c for c in ax.get_children() if c.get_gid() == gid]


def test_curve_sorted_with_primary_threshold_and_colours():
    ax = spec_curve(EST, LOW, HIGH, CHOICES, primary=0, threshold=0.05, style=file_style())
    (points,) = by_gid(ax, "spec-estimates")
    xy = points.get_offsets()
    assert np.allclose(xy[:, 1], sorted(EST)) and np.allclose(xy[:, 0], range(4))
    (primary,) = by_gid(ax, "spec-primary")
    assert np.allclose(primary.get_offsets(), [[2, 0.08]])  # 0.08 is third of 0.03, 0.05, 0.08, 0.12
    (line,) = by_gid(ax, "spec-threshold")
    assert np.allclose(line.get_ydata(), 0.05)
    (ci,) = by_gid(ax, "spec-ci")
    segs = ci.get_segments()
    assert [tuple(np.round(s[:, 1], 6)) for s in segs] == [
        (0.01, 0.04),
        (0.02, 0.09),
        (0.06, 0.10),
        (0.07, 0.20),
    ]
    colours = [tuple(np.round(c, 3)) for c in ci.get_colors()]
    from matplotlib.colors import to_rgba

    want = [BELOW_COLOR, "#c4c4c4", ABOVE_COLOR, ABOVE_COLOR]  # wholly below 5%, spans, above, above
    assert colours == [tuple(np.round(to_rgba(c), 3)) for c in want]


def test_indicator_panel_has_a_row_per_level_and_marks_the_primary():
    ax = spec_curve(EST, LOW, HIGH, CHOICES, primary=0, threshold=0.05, style=file_style())
    panel = next(a for a in ax.figure.axes if a is not ax)
    labels = [t.get_text() for t in panel.texts if t.get_gid() == "spec-level"]
    assert labels == ["as planned", "without A", "PLO", "PFT", "PAS", "GLMM", "REML", "DL"]
    marks = [c for c in panel.collections if len(c.get_offsets())]
    reds = [c for c in marks if np.allclose(c.get_facecolor()[0][:3], np.array([0xC0, 0x39, 0x2B]) / 255)]
    assert len(reds) == len(CHOICES)  # the primary's level in each choice
    assert sum(len(c.get_offsets()) for c in marks) - len(reds) == 4 * len(CHOICES)
    assert PRIMARY_COLOR == "#c0392b"


def test_ratio_scale_and_no_threshold():
    ax = spec_curve([0.5, 0.8], [0.3, 0.4], [0.9, 1.6], {"model": ("REML", "DL")}, scale="ratio")
    assert ax.get_yscale() == "log"
    assert not by_gid(ax, "spec-threshold") and not by_gid(ax, "spec-primary")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (((), (), (), {}), "one value per specification"),
        (((0.1, 0.2), (0.0, 0.1), (0.2,), {}), "one value per specification"),
        (((0.1, 0.2), (0.0, 0.1), (0.2, 0.3), {"model": ("REML",)}), r"choices\['model'\]: 1 levels for 2"),
    ],
)
def test_bad_input_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        spec_curve(*args)
    with pytest.raises(ValueError, match="primary: 5"):
        spec_curve((0.1,), (0.0,), (0.2,), {"m": ("a",)}, primary=5)


def test_drawn_as_a_figure_job(tmp_path):
    payload = {
        "estimate": EST,
        "ci_low": LOW,
        "ci_high": HIGH,
        "choices": CHOICES,
        "primary": 0,
        "threshold": 0.05,
        "scale": "proportion",
        "measure_label": "Proportion",
        "title": "Specification curve",
        "note": "",
    }
    (path,) = draw_figure(FigureJob("speccurve-x", "speccurve", payload, ("svg",)), tmp_path)
    svg = path.read_text()
    assert path.name == "speccurve-x.svg" and "plan" in svg and "threshold 5%" in svg


def test_an_interval_far_wider_than_the_rest_runs_to_the_edge_and_is_counted():
    """The axis shows every estimate, the threshold and the narrower half of the intervals: one up to 95%
    (a k = 2 HKSJ interval, say) no longer squeezes the others into the panel's foot; it runs to the edge
    and the x label counts it."""
    high = (0.10, 0.04, 0.09, 0.95)
    ax = spec_curve(EST, LOW, high, CHOICES, primary=0, threshold=0.05, style=file_style())
    bottom, top = ax.get_ylim()
    assert 0.12 <= top < 0.2 and bottom <= 0.01  # the estimates and the two narrower CIs: 0.01 to 0.12
    assert x_label(ax) == "4 specifications, sorted by estimate; 1 CI cut at the panel's edge"
    even = spec_curve(
        EST, LOW, (0.10, 0.04, 0.09, 0.12), CHOICES, primary=0, threshold=0.05, style=file_style()
    )
    assert x_label(even).endswith("sorted by estimate")


def x_label(ax: Axes) -> str:
    """The indicator panel's x label (a text of its own, gid spec-x-label)."""
    panel = next(a for a in ax.figure.axes if a is not ax)
    (label,) = by_gid(panel, "spec-x-label")
    return label.get_text()


def test_title_stands_where_matplotlib_would_put_it():
    """The title is a plain label placed as ``ax.set_title(loc="left", pad=…)`` places it (set_title
    searched the Axes' bounding boxes at every draw: a fifth of a spec curve's time)."""
    style = file_style()
    ax = spec_curve(EST, LOW, HIGH, CHOICES, primary=0, title="A curve", style=style)
    (title,) = by_gid(ax, "spec-title")
    assert title.get_text() == "A curve" and ax.get_title(loc="left") == ""
    fs = style.fontsize
    ax.set_title("A curve", loc="left", fontproperties=title.get_fontproperties(), pad=6 + fs + 4)
    renderer = ax.figure.canvas.get_renderer()
    ax.figure.draw(renderer)  # places matplotlib's title
    ours, theirs = title.get_window_extent(renderer), ax._left_title.get_window_extent(renderer)
    assert np.allclose(ours.bounds, theirs.bounds, atol=1e-6)
