"""Bayesian pooling from the command line and in the plan (the co-primary analysis for k <= 5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from metablina.analyze import pool
from metablina.cli import main
from metablina.run import run_review
from metablina.stats.bayes import bayes_bn

ROOT = Path(__file__).resolve().parents[1]
HR_TABLE = (
    "study,yi,sei\na,-0.967584,0.276369\nb,-0.597837,0.309680\nc,-0.342490,0.232616\nd,-0.798508,0.413117\n"
)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["pool", *args])
    return result.exit_code, result.stdout, result.stderr


def test_normal_normal_reproduces_bayesmeta_on_four_hazard_ratios(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_text(HR_TABLE)
    code, out, err = run(
        "--table",
        str(path),
        "--measure",
        "GEN",
        "--method",
        "BAYES",
        "--tau-prior",
        "halfnormal:0.5",
        "--format",
        "json",
    )
    assert code == 0, err
    got = json.loads(out)
    assert list(got) == [
        "k",
        "measure",
        "method",
        "ci_method",
        "estimate",
        "mean",
        "sd",
        "ci_low",
        "ci_high",
        "tau_median",
        "tau_ci_low",
        "tau_ci_high",
        "pi_low",
        "pi_high",
        "tau_prior",
        "mu_prior",
        "back",
    ]
    # METHODS.md §2.5 (bayesmeta 3.4, HN(0.5), flat mu): tau median 0.2184; mu median -0.6418, mean -0.6454,
    # SD 0.2218, central 95% [-1.0998, -0.2145]. mu to DIRECT's own approximation error (2e-3).
    assert got["tau_median"] == pytest.approx(0.2184, abs=6e-5)
    assert got["estimate"] == pytest.approx(-0.6418, abs=2e-3)
    assert (got["mean"], got["sd"]) == pytest.approx((-0.6454, 0.2218), abs=2e-3)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((-1.0998, -0.2145), abs=2e-3)
    assert got["tau_prior"] == "half-normal(0.5) on tau"


def test_binomial_normal_from_the_command_line_is_the_engines_fit(tmp_path: Path) -> None:
    path = tmp_path / "crs.csv"
    path.write_text("study,xi,ni\na,0,11\nb,9,202\nc,0,54\n")
    code, out, _ = run(
        "--table",
        str(path),
        "--measure",
        "PLO",
        "--method",
        "BAYES-GLMM",
        "--threshold",
        "0.05",
        "--format",
        "json",
    )
    assert code == 0
    got = json.loads(out)
    direct = bayes_bn(
        [0, 9, 0], [11, 202, 54], tau_prior="halfnormal:1", threshold=float(np.log(0.05 / 0.95))
    )
    assert got["estimate"] == pytest.approx(float(direct.estimate), rel=1e-12)
    assert got["p_below"] == pytest.approx(float(direct.p_below), rel=1e-12)
    assert got["back"]["estimate"] == pytest.approx(1 / (1 + np.exp(-float(direct.estimate))), rel=1e-12)
    assert got["tau_prior"] == "half-normal(1) on tau"


def test_threshold_on_a_decreasing_scale_is_turned_round() -> None:
    cols = {
        "yi": np.array([-3.805611, -0.601149, -1.816961]),
        "sei": np.array([1.011206, 0.227341, 0.217169]),
    }
    low = pool("KM", "BAYES", None, cols, ["a", "b", "c"], threshold=0.5).fit.p_below
    high = pool("KM", "BAYES", None, cols, ["a", "b", "c"], threshold=0.99).fit.p_below
    assert 0 < low < high < 1  # P(S < 0.5) < P(S < 0.99)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--measure", "GEN", "--method", "BAYES"], "no default prior on tau for measure GEN"),
        (
            ["--measure", "GEN", "--method", "BAYES", "--tau-prior", "halfnormal:0.5", "--ci", "z"],
            "credible interval",
        ),
        (["--measure", "GEN", "--method", "BAYES", "--tau-prior", "halfnormal:-1"], "tau"),
        (
            ["--measure", "GEN", "--method", "BAYES-GLMM", "--tau-prior", "halfnormal:1"],
            "BAYES-GLMM pools proportions",
        ),
    ],
)
def test_bayesian_misuse_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "hr.csv"
    path.write_text(HR_TABLE)
    code, out, err = run("--table", str(path), *args)
    assert code == 1 and out == "" and len(err.splitlines()) == 1 and message in err, err


@pytest.fixture(scope="module")
def review_run():
    return {r.analysis.id: r for r in run_review(ROOT / "studies").results}


def test_the_plan_adds_a_bayesian_row_and_prior_sensitivity_for_few_studies(review_run) -> None:
    crs = next(s for s in review_run["hsct"].strata if s.pooled)  # frontline, k = 2
    assert [(b.role, b.tau_prior) for b in crs.bayes] == [
        ("primary", "halfnormal:1"),
        ("half the prior scale", "halfnormal:0.5"),
        ("twice the prior scale", "halfnormal:2"),
    ]
    widths = [b.result.fit.tau_ci_high - b.result.fit.tau_ci_low for b in crs.bayes]
    assert widths[1] < widths[0] < widths[2]  # a wider prior widens the interval for tau


def test_no_bayesian_row_where_nothing_is_pooled(review_run) -> None:
    assert all(not s.bayes for s in review_run["infection-grade3"].strata)


@pytest.mark.parametrize("measure", ["PLO", "PFT", "PAS"])
def test_the_posterior_median_is_the_threshold_with_probability_one_half(measure: str) -> None:
    """P(effect < the back-transformed posterior median) = 1/2 on every proportion scale. A PFT threshold
    was once put on the Freeman-Tukey scale unconverted: P(p < 0.185) came out 0.02 for a median of 0.185."""
    cols = {"xi": np.array([3.0, 5.0, 9.0]), "ni": np.array([20.0, 30.0, 40.0])}
    labels = ["a", "b", "c"]
    median = pool(measure, "BAYES", None, cols, labels, tau_prior="halfnormal:0.5").back()["estimate"]
    at = pool(measure, "BAYES", None, cols, labels, tau_prior="halfnormal:0.5", threshold=median)
    assert at.fit.p_below == pytest.approx(0.5, abs=1e-6)
    assert at.to_dict()["threshold"] == pytest.approx(median, rel=1e-12)


def test_plan_mode_bayesian_pool_takes_the_plans_threshold() -> None:
    """`metablina pool ANALYSIS --method bayes-glmm` reports P(effect < the plan's threshold), as the table
    mode does with --threshold (the SYNTHETIC plan's CRS threshold is 0.05)."""
    code, out, _ = run(
        "crs-grade3", "--studies", str(ROOT / "tests/fixtures/two-reports"), "--method", "bayes-glmm"
    )
    assert code == 0 and "P(effect < 0.05) = " in out
    code, out, _ = run(
        "crs-grade3",
        "--studies",
        str(ROOT / "tests/fixtures/two-reports"),
        "--method",
        "bayes-glmm",
        "--format",
        "json",
    )
    doc = json.loads(out)
    assert doc["threshold"] == pytest.approx(0.05) and 0 < doc["p_below"] < 1


def test_bayesian_strata_have_no_q_test_and_no_traceback() -> None:
    """Settings kept apart are tested for subgroup differences by a Q test on estimates and SEs; a
    posterior has no sampling SE, so a Bayesian pool of the shipped HSCT analysis (two settings) gives no
    test rather than the AttributeError it once gave."""
    from metablina.run import between_test, run_one

    code, out, err = run("hsct", "--studies", str(ROOT / "studies"), "--method", "bayes-glmm")
    assert code == 0 and "Traceback" not in out + err and "No overall estimate" in out
    result = run_one(ROOT / "studies", "hsct", method="BAYES-GLMM")
    assert result.subgroup_test is None and any(s.result is not None for s in result.strata)
    assert between_test(run_one(ROOT / "studies", "hsct").strata, "PLO") is not None  # the GLMM's own
    assert "Test for subgroup differences: none for a Bayesian model" in out  # said, not left out silently
    code, out, _ = run(
        "crs-grade3", "--studies", str(ROOT / "tests/fixtures/two-reports"), "--method", "bayes-glmm"
    )
    assert (
        code == 0 and "Test for subgroup differences: none for a Bayesian model" in out
    )  # subgroup: setting
