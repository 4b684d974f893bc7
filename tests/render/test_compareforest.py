"""Two-arm forest plots (RR, OR, RD, HR): layout facts read back from the drawn Axes and its texts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from metablina.render.compareforest import absolute_text, comparison_forest_data
from metablina.render.forest import draw_forest
from metablina.render.forestmodel import (
    AbsoluteEffect,
    Column,
    Comparison,
    ComparisonFit,
    ComparisonStudy,
    ForestData,
    Group,
    StudyRow,
)
from metablina.render.plots import comparison_forest_plot
from tests.render.test_forest import assert_clean_layout, lines, patches, squares

FIT = ComparisonFit(
    "Random-effects model",
    0.65,
    0.49,
    0.86,
    pi_low=0.35,
    pi_high=1.2,
    tau2=0.012,
    i2=8.0,
    q=3.26,
    q_df=3,
    q_p=0.35,
    stat=-3.02,
    p=0.0025,
    model="Random effects, REML; 95% CI with z",
)
ZERO = ComparisonStudy(
    "Delta 2022", 0.2, 0.0102, 3.92, 0, 25, 2, 25, weight=8.2, correction="0.5 added to each cell"
)
STUDIES = [
    ComparisonStudy("Alpha 2019", 0.52, 0.31, 0.87, 12, 60, 23, 61, weight=31.2),
    ComparisonStudy("Beta 2020", 0.71, 0.45, 1.12, 20, 95, 28, 94, weight=40.1),
    ComparisonStudy("Gamma 2021", 0.88, 0.40, 1.95, 9, 80, 5, 39, weight=20.5),
    ZERO,
]


def comparison(favourable: str | None = "lower", **kw) -> Comparison:
    args = {
        "title": "Relapse",
        "measure": "RR",
        "intervention": "blinatumomab",
        "control": "chemotherapy",
        "favourable": favourable,
        "studies": STUDIES,
        "fit": FIT,
    }
    return Comparison(**(args | kw))


def all_texts(ax) -> list:
    ax.figure.canvas.draw()
    return [t for t in ax.texts if t.get_visible() and t.get_text().strip()]


def text(ax, content: str):
    (t,) = [t for t in all_texts(ax) if t.get_text() == content]
    return t


def null_x(ax) -> float:
    """The null line's x in display pixels."""
    (x,) = {round(float(x), 6) for ln in lines(ax, "null-line") for x in ln.get_xdata()}
    return float(ax.transData.transform((x, 0))[0])


def extent(ax, t):
    return t.get_window_extent(ax.figure.canvas.get_renderer())


# ------------------------------------------------------------------------------------------------ favours


@pytest.mark.parametrize(
    ("favourable", "left", "right"),
    [
        ("lower", "Favours blinatumomab", "Favours chemotherapy"),  # a harm (relapse, CRS): fewer is better
        ("higher", "Favours chemotherapy", "Favours blinatumomab"),  # a benefit (MRD negativity)
    ],
)
@pytest.mark.parametrize("measure", ["RR", "HR", "RD"])
def test_favours_labels_sit_on_the_side_the_analysis_states(favourable, left, right, measure):
    studies = STUDIES
    fit = FIT
    if measure == "RD":  # same layout on a linear axis around 0
        studies = [ComparisonStudy(s.label, math.log(s.estimate) / 4, -0.5, 0.3) for s in STUDIES]
        fit = ComparisonFit("Random-effects model", -0.4, -0.7, -0.1)
    c = comparison(favourable, measure=measure, studies=studies, fit=fit)
    ax = comparison_forest_plot(c)
    x0 = null_x(ax)
    assert extent(ax, text(ax, left)).x1 <= x0
    assert extent(ax, text(ax, right)).x0 >= x0
    assert_clean_layout(ax)


def test_the_same_numbers_with_the_other_direction_swap_only_the_labels():
    harm, benefit = comparison("lower"), comparison("higher")
    assert comparison_forest_data(harm).favours == tuple(reversed(comparison_forest_data(benefit).favours))


def test_no_direction_no_favours_labels_and_a_note_saying_so():
    data = comparison_forest_data(comparison(None))
    assert data.favours is None
    assert any("does not state which side favours" in n for n in data.notes)
    ax = draw_forest(data)
    assert not [t for t in all_texts(ax) if t.get_text().startswith("Favours")]


def test_favourable_is_checked():
    with pytest.raises(ValueError, match="favourable"):
        comparison("left")


# ------------------------------------------------------------------------------------------------ axis


@pytest.mark.parametrize(
    ("measure", "values", "null"),
    [
        ("RR", (2.0, 1.6, 2.6), 1.0),  # every CI above 1
        ("HR", (0.3, 0.2, 0.45), 1.0),  # every CI below 1
        ("OR", (40.0, 20.0, 90.0), 1.0),  # far from 1
        ("RD", (0.2, 0.1, 0.3), 0.0),  # every CI above 0
    ],
)
def test_null_line_is_inside_the_axis_even_when_every_interval_is_on_one_side(measure, values, null):
    est, lo, hi = values
    studies = [ComparisonStudy("A", est, lo, hi), ComparisonStudy("B", est, lo * 0.9, hi * 1.1)]
    c = comparison(measure=measure, studies=studies, fit=ComparisonFit("RE", est, lo, hi))
    ax = comparison_forest_plot(c)
    a, b = ax.get_xlim()
    assert a < null < b
    assert ax.get_xscale() == ("linear" if measure == "RD" else "log")
    # the null is in the middle: as much room for the favours label on either side
    left, centre, right = (ax.transData.transform((x, 0))[0] for x in (a, null, b))
    assert centre - left == pytest.approx(right - centre, rel=0.35)
    assert lines(ax, "null-line")


# ------------------------------------------------------------------------------------------------ rows


def row_texts(ax, label: str) -> list[str]:
    """The texts on the row of ``label``, left to right."""
    t = text(ax, label)
    y = t.get_position()[1]
    same = [u for u in all_texts(ax) if u.get_position()[1] == y and u.get_transform() == t.get_transform()]
    return [u.get_text() for u in sorted(same, key=lambda u: extent(ax, u).x0)]


def test_arm_counts_are_printed_as_given_under_their_arms():
    ax = comparison_forest_plot(comparison())
    for s in STUDIES[:3]:
        cells = row_texts(ax, s.label)
        assert cells[1:5] == [str(s.events_i), str(s.total_i), str(s.events_c), str(s.total_c)]
    headers = row_texts(ax, "Study")
    assert headers[:5] == ["Study", "Events", "Total", "Events", "Total"]
    # arm names above their two columns
    for name, col in (("blinatumomab", 1), ("chemotherapy", 3)):
        box = extent(ax, text(ax, name))
        events = [t for t in all_texts(ax) if t.get_text() == "Events"]
        events.sort(key=lambda t: extent(ax, t).x0)
        mid = (box.x0 + box.x1) / 2
        assert box.x0 <= extent(ax, events[col // 2]).x1 and mid < extent(ax, events[col // 2]).x1 + 80
    assert_clean_layout(ax)


def test_pooled_row_gives_the_arm_totals_and_the_statistics_lines():
    ax = comparison_forest_plot(comparison())
    cells = row_texts(ax, "Random-effects model")
    assert cells[1:3] == ["260", "219"]
    assert "0.65 [0.49, 0.86]" in " ".join(cells)
    shown = [t.get_text() for t in all_texts(ax)]
    assert "Heterogeneity: τ² = 0.012; I² = 8%; Q = 3.26, df = 3, p = 0.35" in shown
    assert "Test for overall effect: z = −3.02, p = 0.0025" in shown
    assert patches(ax, "diamond-frequentist") and patches(ax, "prediction-interval")


def test_zero_cell_study_is_shown_with_its_correction_noted():
    ax = comparison_forest_plot(comparison())
    cells = row_texts(ax, "Delta 2022 *")
    assert cells[:5] == ["Delta 2022 *", "0", "25", "2", "25"]
    assert "0.20 [0.01, 3.92]" in " ".join(cells)
    assert "* Continuity correction: 0.5 added to each cell." in [t.get_text() for t in all_texts(ax)]
    offsets = squares(ax).get_offsets()
    assert np.any(np.isclose(offsets[:, 0], 0.2))  # its square is drawn


def test_derived_hazard_ratio_is_marked_and_explained():
    derived = "HR from 36-month Kaplan–Meier rates, proportional hazards assumed (Tierney et al. 2007)"
    studies = [
        ComparisonStudy("Reported 2021", 0.33, 0.18, 0.61, None, 54, None, 54, weight=60),
        ComparisonStudy("Landmark 2023", 0.45, 0.2, 1.01, None, 40, None, 41, weight=40, derived=derived),
    ]
    c = comparison(measure="HR", studies=studies, fit=ComparisonFit("Common-effect model", 0.37, 0.23, 0.6))
    ax = comparison_forest_plot(c)
    assert row_texts(ax, "Landmark 2023 *")[1:3] == ["40", "41"]
    assert row_texts(ax, "Reported 2021")[1:3] == ["54", "54"]  # no events columns: none were given
    assert f"* Derived: {derived}." in [t.get_text() for t in all_texts(ax)]
    assert "Events" not in [t.get_text() for t in all_texts(ax)]


def test_double_zero_study_is_not_estimable_and_has_no_square():
    dz = ComparisonStudy("Epsilon 2023", math.nan, math.nan, math.nan, 0, 20, 0, 20)
    ax = comparison_forest_plot(comparison(studies=[*STUDIES, dz]))
    assert row_texts(ax, "Epsilon 2023")[:6] == ["Epsilon 2023", "0", "20", "0", "20", "NA"]
    # the note on its own line under the label
    below = text(ax, "not estimable").get_position()[1] - text(ax, "Epsilon 2023").get_position()[1]
    assert below > 0
    assert len(squares(ax).get_offsets()) == len(STUDIES)


# ------------------------------------------------------------------------------------------------ k = 1


def test_one_study_is_labelled_not_pooled_with_no_diamond_weight_or_statistics():
    study = ComparisonStudy("Locatelli 2021", 2.22, 1.49, 3.31, 40, 54, 18, 54, weight=100.0)
    c = comparison("higher", studies=[study], fit=None, refusal="one study, not pooled")
    ax = comparison_forest_plot(c)
    shown = [t.get_text() for t in all_texts(ax)]
    assert "Not pooled: one study, not pooled" in shown
    assert not patches(ax, "diamond-frequentist")
    assert "Weight" not in shown and not any(t.startswith(("Heterogeneity", "Test for")) for t in shown)
    assert row_texts(ax, "Locatelli 2021")[1:5] == ["40", "54", "18", "54"]
    assert_clean_layout(ax)


def test_a_comparison_without_a_fit_must_say_why():
    with pytest.raises(ValueError, match="refusal"):
        comparison(fit=None)


# ------------------------------------------------------------------------------------------------ texts


def test_absolute_effect_sentence_per_1000():
    absolute = AbsoluteEffect(0.32, "pooled control arms", 208.0, 156.8, 275.2, -112.0, -163.2, -44.8)
    c = comparison(absolute=absolute)
    assert absolute_text(c) == (
        "Absolute effect per 1,000: 320 with chemotherapy (assumed comparator risk: pooled control arms); "
        "208 (157 to 275) with blinatumomab, 112 fewer per 1,000 (163 fewer to 45 fewer)."
    )
    assert absolute_text(c) in comparison_forest_data(c).notes
    capped = comparison(
        absolute=AbsoluteEffect(0.684, "x", 944, 783, 1000, 260, 98, 316, caveat="capped at 1,000")
    )
    assert absolute_text(capped).endswith("(98 more to 316 more). Caveat: capped at 1,000.")


def test_the_plot_of_an_hr_from_another_data_cut_carries_the_caveat():
    """The shipped OS comparison: the plot, not only the SoF, says what its absolute effect assumes."""
    from metablina.render.compareforest import analysis_forest_data
    from metablina.run import run_one

    result = run_one(Path(__file__).parents[2] / "studies", "os-comparison")
    notes = " ".join(analysis_forest_data(result).notes)
    assert "Caveat: the HR of locatelli-relapse-phase3-2025 is from its data cut 2021-09" in notes


def test_non_randomised_comparison_is_noted():
    notes = comparison_forest_data(comparison(randomised=False)).notes
    assert "Non-randomised comparison: chemotherapy is not a randomised control." in notes


def test_cells_must_match_the_columns():
    row = StudyRow("A", "", 0.5, 0.3, 0.8, cells=["1", "2"])
    with pytest.raises(ValueError, match="2 cells for 4 columns"):
        ForestData("t", "RR", "ratio", [Group(None, [row])], columns=[Column("Events")] * 4)


# ------------------------------------------------------------------------------------------------ pipeline


def test_drawn_into_a_given_axes_and_saved_by_the_figure_pipeline(tmp_path):
    from metablina.render.draw import FigureJob, draw_figure
    from metablina.render.figures import new_figure

    fig = new_figure(10, 5)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96))
    assert comparison_forest_plot(comparison(), ax=ax) is ax and ax.figure is fig
    assert_clean_layout(ax)
    job = FigureJob("forest-rr", "forest", comparison_forest_data(comparison()), ("png", "svg", "pdf"))
    paths = draw_figure(job, tmp_path)
    assert [p.suffix for p in paths] == [".png", ".svg", ".pdf"] and all(p.stat().st_size > 0 for p in paths)
    assert "Favours blinatumomab" in (tmp_path / "forest-rr.svg").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("outcome", "measure", "side"),
    [
        (["crs"], "RR", "lower"),  # a harm: fewer is better
        (["treatment_related_adverse_event"], "OR", "lower"),
        (["mrd_negativity"], "RR", "higher"),  # a response: more is better
        (["mrd_negativity"], "HR", "higher"),  # the hazard of reaching it: sooner is better
        (["efs"], "HR", "lower"),  # the hazard of an EFS event
        (["os"], "HR", "lower"),
        (["hsct"], "RR", None),  # more transplants: benefit or harm, the plan must say
        (["crs", "mrd_negativity"], "RR", None),  # mixed: no side
    ],
)
def test_favourable_side_comes_from_the_outcome_or_the_plan_never_the_numbers(outcome, measure, side):
    from types import SimpleNamespace

    from metablina.render.compareforest import favourable_side

    analysis = SimpleNamespace(outcome=outcome, measure=measure)
    assert favourable_side(analysis) == side
    stated = SimpleNamespace(outcome=outcome, measure=measure, favourable="higher")
    assert favourable_side(stated) == "higher"  # the plan's word wins
