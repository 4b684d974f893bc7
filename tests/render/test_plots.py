"""Funnel, leave-one-out and cumulative plots: what is drawn is what was passed in."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtri

from metablina.render.plots import FUNNEL_MIN_K, cumulative_plot, funnel_plot, leave_one_out_plot
from tests.render.test_forest import assert_clean_layout, drawn_data_xy, lines, patches, squares

YI = np.log([0.45, 0.33, 0.62, 0.9])
SEI = np.array([0.30, 0.31, 0.25, 0.54])
LABELS = ["Brown 2021", "Locatelli 2021", "Gupta 2023", "van der Sluis 2024"]


def funnel_note(ax) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_gid() == "funnel-note"]


def test_funnel_points_region_and_estimate_line():
    est = float(np.log(0.47))
    ax = funnel_plot(YI, SEI, estimate=est, xlabel="log hazard ratio")
    (pts,) = [c for c in ax.collections if c.get_gid() == "funnel-points"]
    np.testing.assert_allclose(pts.get_offsets(), np.column_stack([YI, SEI]))
    (region,) = patches(ax, "funnel-region")
    xy = drawn_data_xy(ax, region)
    se_max = ax.get_ylim()[0]
    assert se_max >= SEI.max() and ax.get_ylim()[1] == 0  # inverted: SE 0 at the top
    z = ndtri(0.975)
    np.testing.assert_allclose(sorted(xy[:3, 0]), [est - z * se_max, est, est + z * se_max], rtol=1e-9)
    np.testing.assert_allclose(xy[np.argmin(xy[:, 1]), 0], est)  # apex at SE = 0 on the estimate
    (line,) = lines(ax, "funnel-estimate")
    np.testing.assert_allclose(line.get_xdata(), [est, est])


def test_funnel_with_few_studies_says_so_instead_of_testing():
    ax = funnel_plot(YI, SEI, estimate=-0.75, title="EFS")
    assert funnel_note(ax) == ["k = 4: too few studies to judge funnel asymmetry"]
    ax.figure.canvas.draw()
    r = ax.figure.canvas.get_renderer()
    title, note = ax.title.get_window_extent(r), ax.texts[0].get_window_extent(r)
    assert note.y1 <= title.y0 + 0.5  # note under the title, not on it
    rng = np.random.default_rng(0)
    k = FUNNEL_MIN_K
    assert funnel_note(funnel_plot(rng.normal(size=k), rng.uniform(0.1, 0.5, k), estimate=0.0)) == []


def test_funnel_on_ratio_axis():
    ax = funnel_plot(YI, SEI, estimate=-0.75, exp=True)
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(
        next(c for c in ax.collections if c.get_gid() == "funnel-points").get_offsets()[:, 0], np.exp(YI)
    )
    ax.figure.canvas.draw()
    assert len(ax.get_xticklabels()) >= 3


def test_funnel_refuses_bad_input():
    with pytest.raises(ValueError, match="sei"):
        funnel_plot(YI, [0.3, 0.0, 0.2, 0.1], estimate=0.0)
    with pytest.raises(ValueError, match="sei: expected 4"):
        funnel_plot(YI, SEI[:3], estimate=0.0)


def test_leave_one_out_rows_diamond_and_reference_line():
    est, lo, hi = [0.50, 0.55, 0.40, 0.45], [0.33, 0.37, 0.26, 0.31], [0.77, 0.82, 0.62, 0.66]
    ax = leave_one_out_plot(LABELS, est, lo, hi, full=(0.47, 0.33, 0.67), scale="ratio", measure_label="HR")
    np.testing.assert_allclose(squares(ax).get_offsets()[:, 0], est)
    assert len(set(squares(ax).get_sizes())) == 1  # points, not weights
    (diamond,) = patches(ax, "diamond-frequentist")
    xy = drawn_data_xy(ax, diamond)
    np.testing.assert_allclose([xy[:, 0].min(), xy[:, 0].max()], [0.33, 0.67], rtol=1e-9)
    ref = lines(ax, "reference-line")
    assert ref and all(list(ln.get_xdata()) == [0.47, 0.47] for ln in ref)
    shown = {t.get_text() for t in ax.texts}
    assert set(LABELS) <= shown and "Omitted study" in shown
    assert_clean_layout(ax)


def test_cumulative_rows_in_the_given_order_with_the_final_estimate_marked():
    est, lo, hi = [0.81, 0.74, 0.70, 0.71], [0.52, 0.58, 0.60, 0.62], [0.95, 0.85, 0.79, 0.79]
    ax = cumulative_plot(LABELS, est, lo, hi, scale="proportion", measure_label="MRD negativity (%)")
    offsets = squares(ax).get_offsets()
    np.testing.assert_allclose(offsets[:, 0], est)
    assert np.all(np.diff(offsets[:, 1]) > 0)  # first study on top, then downwards in the given order
    texts = [t.get_text() for t in ax.texts]
    assert texts.index(LABELS[0]) < texts.index("+ " + LABELS[1]) < texts.index("+ " + LABELS[3])
    assert "k = 4" in texts
    assert all(list(ln.get_xdata()) == [0.71, 0.71] for ln in lines(ax, "reference-line"))
    assert not patches(ax, "diamond-frequentist")
    assert_clean_layout(ax)


def test_cumulative_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="ci_low: expected 4"):
        cumulative_plot(LABELS, [1, 1, 1, 1], [0.5] * 3, [2] * 4, scale="ratio", measure_label="OR")
    with pytest.raises(ValueError, match="labels: expected 4"):
        cumulative_plot(LABELS[:3], [1, 1, 1, 1], [0.5] * 4, [2] * 4, scale="ratio", measure_label="OR")


@pytest.mark.parametrize("exp", [False, True])
@pytest.mark.parametrize("k", [4, FUNNEL_MIN_K + 2])
def test_funnel_texts_fit_the_figure_without_overlapping(exp, k):
    # the panel is placed from measured labels (no constrained layout): nothing may be cut off or clash
    rng = np.random.default_rng(k)
    ax = funnel_plot(
        rng.normal(-0.5, 1.5, k), rng.uniform(0.05, 2.5, k), estimate=-0.5, exp=exp, title="Funnel plot"
    )
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    shown = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
    for axis in (ax.xaxis, ax.yaxis):  # the drawn ticks: those inside the view limits
        lo, hi = sorted(axis.get_view_interval())
        shown += [t.label1 for t in axis.get_major_ticks() if lo <= t.get_loc() <= hi and t.label1.get_text()]
    boxes = [t.get_window_extent(r) for t in shown]
    for t, b in zip(shown, boxes, strict=True):
        assert b.x0 >= 0 and b.y0 >= 0 and b.x1 <= fig.bbox.x1 and b.y1 <= fig.bbox.y1, t.get_text()
    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            assert not a.overlaps(boxes[j]), (shown[i].get_text(), shown[j].get_text())
    panel = ax.get_window_extent(r)
    assert panel.width > 0.6 * fig.bbox.width and panel.height > 0.6 * fig.bbox.height  # no waste
