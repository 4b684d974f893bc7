"""Every pooled estimate of the shipped plan against metafor run on the same effect table.

tests/reference/plan_tables.py exports each pooled stratum's table; tests/reference/plan.R runs metafor
(rma / rma.glmm) on it. Here the tables are rebuilt from the extracts (so normalisation is pinned too) and
the numbers compared: rel 1e-6 for inverse-variance models; 1e-4 for the GLMM (lme4's optimiser, as the
issue allows), which we meet well inside (see tests/stats/test_glmm.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from metablina.cli import main
from metablina.run import run_review

ROOT = Path(__file__).resolve().parents[1]
TABLES = {c["case"]: c for c in json.loads((ROOT / "tests" / "data" / "plan_tables.json").read_text())}
METAFOR = {c["case"]: c for c in json.loads((ROOT / "tests" / "data" / "plan_metafor.json").read_text())}


@pytest.fixture(scope="module")
def strata() -> dict:
    run = run_review(ROOT / "studies")
    found = {}
    for res in run.results:
        aid = res.analysis.id
        for i, s in enumerate(res.strata):
            found[f"{aid}/stratum{i}"] = s
        for s in res.subgroups:
            found[f"{aid}/subgroup/{s.label}"] = s
        for v in res.sensitivity:
            for i, s in enumerate(v.strata):
                found[f"{aid}/sensitivity/{v.variant.id}/stratum{i}"] = s
    return found


def test_every_pooled_stratum_has_a_reference(strata) -> None:
    pooled = {case for case, s in strata.items() if s.pooled}
    assert pooled == set(TABLES) == set(METAFOR)


@pytest.mark.parametrize("case", sorted(TABLES))
def test_pooled_stratum_matches_metafor(strata, case: str) -> None:
    stratum, table, ref = strata[case], TABLES[case], METAFOR[case]
    result = stratum.result
    assert (result.measure, result.method, result.ci_method) == (
        table["measure"],
        table["method"],
        table["ci"],
    )
    assert {k: list(v) for k, v in result.columns.items()} == table["columns"]
    got = result.to_dict()
    glmm = result.method == "GLMM"
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "pi_low", "pi_high", "q", "i2"):
        if key in ref:
            tol = {"abs": 1e-4} if glmm else {"rel": 1e-6, "abs": 1e-9}
            assert got[key] == pytest.approx(ref[key], **tol), key
    for key in ("estimate", "ci_low", "ci_high"):
        assert got["back"][key] == pytest.approx(ref["back"][key], abs=1e-4 if glmm else 1e-8), key
    if not glmm:
        assert got["yi"] == pytest.approx(ref["yi"], rel=1e-9)


def test_pool_analysis_json_is_the_table_mode_json_plus_the_analysis() -> None:
    result = CliRunner().invoke(
        main, ["pool", "hsct", "--studies", str(ROOT / "studies"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    ref = METAFOR["hsct/stratum1"]
    frontline = got["strata"][1]
    assert frontline["label"] == "frontline" and frontline["k"] == 2
    assert frontline["result"]["method"] == "GLMM"
    assert frontline["result"]["estimate"] == pytest.approx(ref["estimate"], abs=1e-4)
    assert frontline["result"]["back"]["estimate"] == pytest.approx(ref["back"]["estimate"], abs=1e-4)
    assert [s["studies"][0]["quotes"] != [] for s in got["strata"]] == [True, True]


def test_settings_are_strata_with_their_test_for_subgroup_differences() -> None:
    """Transplant in frontline cohorts (k = 2) and at first relapse (one trial, 51/54) is not pooled into
    one estimate; the test for subgroup differences still compares them, the single trial entering with
    its own logit and SE, as R's meta includes a one-study subgroup."""
    result = CliRunner().invoke(
        main, ["pool", "hsct", "--studies", str(ROOT / "studies"), "--format", "json"]
    )
    got = json.loads(result.stdout)
    assert got["pooled"] is False and "setting" in got["reason"]
    assert [(s["label"], s["k"], s["pooled"]) for s in got["strata"]] == [
        ("first relapse", 1, False),
        ("frontline", 2, True),
    ]
    ref = METAFOR["hsct/stratum1"]
    y1, v1 = ref["estimate"], ref["se"] ** 2  # frontline: the GLMM's logit and SE (metafor)
    y2, v2 = math.log(51 / 3), 1 / 51 + 1 / 3  # first relapse: 51 of 54
    q = (y1 - y2) ** 2 / (v1 + v2)  # Q between two groups
    test = got["subgroup_test"]
    assert test["df"] == 1
    assert test["q"] == pytest.approx(q, rel=1e-3)  # the GLMM's SE agrees with lme4's to ~1e-4
    assert test["p"] == pytest.approx(math.erfc(math.sqrt(q / 2)), rel=1e-3)


def test_grading_systems_and_settings_are_strata_named_in_order() -> None:
    result = CliRunner().invoke(
        main, ["pool", "crs-grade3", "--studies", str(ROOT / "studies"), "--format", "json"]
    )
    got = json.loads(result.stdout)
    assert got["pooled"] is False
    assert "setting, grading system" in got["reason"]
    assert [s["label"] for s in got["strata"]] == [
        "first relapse; graded by CTCAE v4.0",
        "frontline; graded by CTCAE v5.0",
        "frontline; grading not stated",
    ]
    assert [s["studies"][0]["grading"] for s in got["strata"]] == ["CTCAE v4.0", "CTCAE v5.0", "not stated"]


def test_refused_analysis_says_why() -> None:
    result = CliRunner().invoke(
        main, ["pool", "efs-landmark", "--studies", str(ROOT / "studies"), "--format", "json"]
    )
    got = json.loads(result.stdout)
    assert got["pooled"] is False
    assert "landmark time" in got["reason"] and "baseline MRD status" in got["reason"]
    rr = "relapsed/refractory + mrd-positive pre-emptive + bridging during chemotherapy delay"
    assert [s["label"] for s in got["strata"]] == [
        "first relapse; 60 months; all treated",
        f"{rr}; 12 months; all treated",
        f"{rr}; 12 months; MRD-negative at start",
        f"{rr}; 12 months; MRD-positive at start",
    ]


def test_unknown_analysis_is_one_line() -> None:
    result = CliRunner().invoke(main, ["pool", "no-such-thing", "--studies", str(ROOT / "studies")])
    assert result.exit_code == 1
    assert (
        result.stderr.startswith("error: no analysis 'no-such-thing'")
        and len(result.stderr.splitlines()) == 1
    )


def test_analyses_lists_the_plan() -> None:
    result = CliRunner().invoke(main, ["analyses", "--studies", str(ROOT / "studies")])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(plan_ids())
    assert lines[0].split()[:3] == ["mrd-mfc-all-treated", "PLO", "GLMM"]


def plan_ids() -> list[str]:
    from metablina.plan import load_plan, plan_path

    plan, _ = load_plan(plan_path(ROOT / "studies"))
    return [a.id for a in plan.analyses]
