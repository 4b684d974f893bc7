"""The report's rules for small-study effects and its pointers between sections (issue 13, item 6):
a funnel plot and Egger's test only from k = 10 studies, a sentence otherwise; the methods paragraph
points at the decisions where they are (above it)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from metablina.analyze import pool
from metablina.render import report as page
from metablina.report import Diagnostics, _diagnostic_jobs, small_study_effects
from metablina.run import StratumFit

# tests/reference/egger_report.R: metafor 3.8 regtest(rma(yi, vi, method = "REML")) on these 12 rows
YI = [-0.2996, -0.2104, -0.3822, -0.5672, -0.4364, -0.5975, -0.282, 0.1021, -0.4477, -0.4861, -0.153, -0.1929]
VI = [0.0584, 0.0946, 0.1059, 0.1152, 0.1991, 0.1606, 0.1282, 0.1979, 0.0509, 0.0404, 0.1264, 0.0183]
METAFOR = {"z": -0.382382738581532, "p": 0.702177491984406, "limit": -0.244800764300725}


def fit(k: int):
    return pool(
        "HR", "REML", "z", {"yi": np.array(YI[:k]), "vi": np.array(VI[:k])}, [f"s{i}" for i in range(k)]
    )


def jobs_of(k: int) -> list:
    result = fit(k)
    diag = Diagnostics(StratumFit("", (), result), "", None, None, *small_study_effects(result))
    return _diagnostic_jobs("x", diag, "ratio", "Hazard ratio", "an analysis")


def test_from_k_10_egger_test_is_metafors_and_the_funnel_plot_is_drawn() -> None:
    sentence, egger = small_study_effects(fit(12))
    assert egger is not None
    assert egger["stat"] == pytest.approx(METAFOR["z"], rel=1e-6)
    assert egger["p_value"] == pytest.approx(METAFOR["p"], rel=1e-6)
    assert egger["limit_estimate"] == pytest.approx(METAFOR["limit"], rel=1e-6)
    assert sentence.startswith("Egger's regression test for funnel asymmetry (k = 12): z = −0.38, p")
    (funnel,) = [j for j in jobs_of(12) if j.kind == "funnel"]
    assert sentence in funnel.caption


@pytest.mark.parametrize("k", [2, 3, 9])
def test_below_k_10_no_funnel_plot_no_test_and_a_sentence_why(k: int) -> None:
    sentence, egger = small_study_effects(fit(k), "frontline")
    assert egger is None
    assert sentence == (
        f"frontline: Funnel plot and Egger's test not done: k = {k} studies, fewer than 10, too few to tell "
        "funnel asymmetry from chance (Sterne et al. 2011)."
    )
    assert not [j for j in jobs_of(k) if j.kind == "funnel"]


def test_methods_text_points_up_at_the_decisions_which_come_before_it() -> None:
    template = (page.TEMPLATES / "report.html.j2").read_text(encoding="utf-8")
    assert template.index("<h3>Decisions</h3>") < template.index('<p class="methods">{{ a.methods }}</p>')
    source = re.sub(r'"\s+"', "", Path(page.__file__).read_text(encoding="utf-8"))
    assert "Decisions list above" in source and "decisions below" not in source.lower()
    assert "Egger's regression test" in page.SMALL_STUDY_RULE and "k = 10" in page.SMALL_STUDY_RULE


def test_intervals_stay_on_one_line_in_number_cells() -> None:
    nb = page.keep_intervals_together
    assert nb("97.5% [34.5, 100.0]") == "97.5% [34.5,\u00a0100.0]"
    assert nb("RR 0.50 [0.28, 0.91]; PI [0.1, 2.0]") == "RR 0.50 [0.28,\u00a00.91]; PI [0.1,\u00a02.0]"


def test_tables_flag_random_effects_intervals_from_two_studies() -> None:
    """The pooled-estimate and summary tables carry the forest plot's flag (issue 13: k = 2 intervals)."""
    flag = "k = 2: random-effects interval uninformative"
    assert page._caution(2, "GLMM", 0.18) == flag and page._caution(2, "REML", 0.21) == flag
    assert page._caution(2, "BAYES-GLMM", 0.13) is None  # a Bayesian fit with its prior on tau
    assert page._caution(3, "REML", 0.2) is None and page._caution(2, "FE", 0.2) is None
    assert page._caution(2, "REML", None) is None  # not pooled: nothing to flag
    template = (page.TEMPLATES / "report.html.j2").read_text(encoding="utf-8")
    assert template.count('{% if p.caution %}<div class="sub caution">{{ p.caution }}</div>') == 2
    assert '{% if r.caution %}<div class="sub caution">{{ r.caution }}</div>' in template
