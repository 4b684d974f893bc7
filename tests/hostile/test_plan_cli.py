"""Hostile analysis plans and command lines: every mistake in one clear line, valid commands doing what
they say.

CLI cases run as a user runs them: in a subprocess with a timeout and an address-space cap, expecting
an exit code, the exact problem lines and no traceback. The review is the demo study of tests/extract
twice (``demo`` and ``demo2``, 4/11 CRS of any grade and 0/11 of grade 3 or higher each) with a small
plan, broken once per test.
"""

from __future__ import annotations

import csv
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from metablina.analyze import check_threshold, interval_of, pool, scaled_prior
from metablina.cli import main
from metablina.extract.validate import load_review
from metablina.plan import check_plan
from metablina.stats.errors import InputError
from tests.extract.conftest import STUDY, write_review

MEMORY_CAP = 1 << 30  # a report of the demo review peaks near 600 MiB of address space
TIMEOUT_S = 60  # each run takes one to four seconds; a hang is what a timeout would show

PLAN = """\
analyses:
  - id: crs-any
    title: CRS of any grade
    outcome: crs
    select: {grade: any}
    measure: PLO
    model: GLMM
    ci: t
    threshold: 0.5
    sensitivity:
      - {id: iv, label: logit IV, model: REML, ci: hksj}
  - id: crs-by-grade
    title: CRS by grade
    outcome: crs
    select: {grade: null}
    stratify: [grade]
    measure: PLO
    model: GLMM
"""


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def metablina(*args: str) -> tuple[int, str, list[str]]:
    """Exit code, stdout and the lines of stderr of one command line; never a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "metablina", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        preexec_fn=_cap_memory,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr.splitlines()


def cli(*args: str) -> tuple[int, str, list[str]]:
    """The same in this process, for command lines that did the wrong thing without a crash or a hang
    (faster: the package is imported once)."""
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr.splitlines()


@pytest.fixture
def review(tmp_path: Path) -> Path:
    folder = tmp_path / "studies"
    folder.mkdir()
    write_review(folder)
    (folder / "demo2.yaml").write_text(STUDY.replace("id: demo\n", "id: demo2\n", 1), encoding="utf-8")
    (folder / "analyses.yaml").write_text(PLAN, encoding="utf-8")
    return folder


def _add(review: Path, text: str) -> Path:
    """Append analyses (YAML list items) to the plan; returns the plan's path."""
    plan = review / "analyses.yaml"
    plan.write_text(PLAN + text, encoding="utf-8")
    return plan


def _analysis(aid: str, extra: str = "") -> str:
    """One analysis of the plan, valid unless ``extra`` (more keys, one per line) breaks it."""
    lines = [f"  - id: {aid}", f"    title: {aid}", "    outcome: crs", "    measure: PLO"]
    return "\n".join(lines + [f"    {line}" for line in extra.splitlines()]) + "\n"


def _line_of(plan: Path, text: str) -> int:
    return plan.read_text().splitlines().index(text) + 1


def _problem_line(plan: Path, aid: str, extra: str) -> int:
    """The line a problem of ``_analysis(aid, extra)`` stands at: the last line of ``extra``, else the id."""
    first = _line_of(plan, f"  - id: {aid}")
    return first + 3 + len(extra.splitlines()) if extra else first


def _assert_problems(review: Path, plan: Path, problems: list[tuple[str, str, str, str]]) -> None:
    """``validate`` lists exactly ``problems`` (analysis id, its extra keys, field, part of the message),
    each once at its line, in one run; the plan's own two analyses come first."""
    ids = list(dict.fromkeys(aid for aid, *_ in problems))
    code, _, err = metablina("validate", "--studies", str(review))
    assert code == 1 and err[-1] == f"{len(problems)} problem(s) in {review}", err
    assert len(err) == len(problems) + 1, err
    for aid, extra, field, message in problems:
        prefix = f"{plan}:{_problem_line(plan, aid, extra)}: analyses[{2 + ids.index(aid)}].{field}: "
        assert sum(e.startswith(prefix) and message in e for e in err) == 1, (prefix, message, err)


# ------------------------------------------------------------------------------------- validate: the plan


def test_validate_reads_the_plan_and_passes_a_valid_one(review: Path) -> None:
    code, out, err = cli("validate", "--studies", str(review))
    assert (code, err) == (0, [])
    assert out == "ok: 2 studies, 4 outcome records, every quote found in its source; a plan of 2 analyses\n"


def test_every_schema_mistake_of_the_plan_in_one_run(review: Path) -> None:
    problems = [
        ("model-foo", "model: FOO", "model", "Input should be 'GLMM', 'FE'"),
        ("ci-bar", "ci: bar", "ci", "Input should be 'z', 't', 'hksj' or 'hksj-adhoc'"),
        (
            "variant-xyz",
            "sensitivity:\n  - {id: v, label: v, measure: XYZ}",
            "sensitivity[0].measure",
            "Input should be 'PLO', 'PFT'",
        ),
        ("prior-garbage", "tau_prior: garbage", "tau_prior", "unknown prior 'garbage'"),
        (
            "prior-abc",
            "tau_prior: halfnormal:abc",
            "tau_prior",
            "parameters of 'halfnormal:abc' must be numbers",
        ),
        ("threshold-nan", "threshold: .nan", "threshold", "must be a finite number"),
        ("threshold-inf", "threshold: .inf", "threshold", "must be a finite number"),
        ("threshold-neg", "threshold: -5", "threshold", "a proportion between 0 and 1"),
        (
            "landmark-nan",
            "select: {landmark_months: [.nan]}",
            "select.landmark_months",
            "a landmark is a positive number of months, not nan",
        ),
        ("typo", "modle: GLMM", "modle", "unknown key"),
        ("summary", "", "id", "would overwrite the report's tables/summary.csv"),
    ]
    plan = _add(review, "".join(_analysis(aid, extra) for aid, extra, *_ in problems))
    _assert_problems(review, plan, problems)


def test_references_combinations_and_empty_analyses_in_one_run(review: Path) -> None:
    problems = [
        ("ghost-select", "select: {studies: [ghost]}", "select.studies[0]", f"no study 'ghost' in {review}"),
        ("ghost-select", "", "id", "no record matches this analysis (its outcome, measure and select)"),
        ("ghost-keep", "overlap_keep: [ghost]", "overlap_keep[0]", "no study 'ghost'"),
        (
            "ghost-part",
            "select: {subpopulation: [ghost]}",
            "select.subpopulation[0]",
            "no sub-population 'ghost'",
        ),
        ("ghost-part", "", "id", "no record matches this analysis"),
        (
            "ghost-out",
            "sensitivity:\n  - {id: v, label: v, exclude: [ghost]}",
            "sensitivity[0].exclude[0]",
            "ghost",
        ),
        (
            "fe-hksj",
            "model: FE\nci: hksj",
            "ci",
            "a common-effect (inverse variance) model has no hksj interval",
        ),
        ("reml-t", "model: REML\nci: t", "ci", "a plain t(k-1) interval is the GLMM's; for REML use hksj"),
        (
            "km-glmm",
            "model: GLMM\nsensitivity:\n  - {id: v, label: v, measure: KM}",
            "sensitivity[0].measure",
            "measure KM cannot pool the analysis's records (PLO)",
        ),
        (
            "crs-by-grade-grade-any",
            "",
            "id",
            "the figures of 'crs-by-grade-grade-any' and 'crs-by-grade' would both be named 'crs-by-grade-grade-any'",
        ),
    ]
    extras = {aid: extra for aid, extra, *_ in problems if extra}
    plan = _add(
        review, "".join(_analysis(aid, extras.get(aid, "")) for aid in dict.fromkeys(p[0] for p in problems))
    )
    _assert_problems(review, plan, problems)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("", "(document)", "the file is empty"),
        ("analyses:\n\t- id: x\n", "(yaml)", "cannot start any token"),
        ("analyses: !!python/object:os.system [echo]\n", "analyses", "YAML tag"),
        ("- a list\n", "(document)", "a plan is a mapping with the key 'analyses'"),
        ("analyses: []\n", "analyses", "at least 1 item"),
    ],
)
def test_unreadable_plans_are_one_located_line(review: Path, text: str, field: str, message: str) -> None:
    (review / "analyses.yaml").write_text(text, encoding="utf-8")
    code, _, lines = cli("validate", "--studies", str(review))
    assert code == 1 and len(lines) == 2 and lines[1] == f"1 problem(s) in {review}", lines
    assert re.match(rf"{re.escape(str(review / 'analyses.yaml'))}:(\d+:)? {re.escape(field)}: ", lines[0])
    assert message in lines[0], lines


def test_a_plan_linked_to_a_device_is_refused_without_reading_it(review: Path) -> None:
    (review / "analyses.yaml").unlink()
    (review / "analyses.yaml").symlink_to("/dev/zero")
    code, _, err = metablina("validate", "--studies", str(review))
    assert code == 1 and len(err) == 2, err
    assert err[0].startswith(f"{review / 'analyses.yaml'}: (file): ")


def test_a_review_without_a_plan_still_validates(review: Path) -> None:
    (review / "analyses.yaml").unlink()
    plan, problems = check_plan(review, load_review(review))
    assert (plan, problems) == (None, [])


def test_references_to_an_extract_that_does_not_load_are_left_to_its_own_problems(review: Path) -> None:
    (review / "demo2.yaml").write_text(
        STUDY.replace("id: demo\n", "id: demo2\n").replace("year: 2025", "year: x")
    )
    _add(review, _analysis("only-demo2", "select: {studies: [demo2], subpopulation: [ghost]}"))
    _, problems = check_plan(review, load_review(review))
    assert problems == []  # the plan's checks against records wait until every extract loads


# --------------------------------------------------------------------------------------- report


def test_report_shows_analyses_without_records_and_refuses_nan_landmarks(
    review: Path, tmp_path: Path
) -> None:
    plan = review / "analyses.yaml"
    empty = _analysis("no-study", "select: {studies: [no-such-study]}") + _analysis(
        "no-part", "select: {subpopulation: [no-such-part]}"
    )
    plan.write_text("analyses:\n" + empty)  # only these: the report is then quick to draw
    out = tmp_path / "outputs"
    code, stdout, err = metablina("report", "--studies", str(review), "--out", str(out), "--jobs", "1")
    assert code == 0, err
    assert stdout.startswith(f"wrote {out / 'report.html'}: 2 analyses")
    page = (out / "report.html").read_text()
    for aid in ("no-study", "no-part"):
        section = page[page.index(f'<section id="{aid}"') :]
        section = section[: section.index("</section>")]
        assert "not pooled: no record matches this analysis (0 studies)." in section, aid
    with (out / "tables" / "summary.csv").open(newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["analysis"] == "no-study")
    assert {k: v for k, v in row.items() if v} == {
        "analysis": "no-study",
        "title": "no-study",
        "outcome": "crs",
        "measure": "PLO",
        "studies": "0",
        "records": "0",
        "patients": "0",
        "pooled": "false",
        "single_study": "false",
        "reason": "no record matches this analysis",
    }

    plan.write_text("analyses:\n" + empty + _analysis("nan-landmark", "select: {landmark_months: [.nan]}"))
    code, _, err = metablina("report", "--studies", str(review), "--out", str(out), "--jobs", "1")
    line = _line_of(plan, "    select: {landmark_months: [.nan]}")
    assert code == 1 and err == [
        f"{plan}:{line}: analyses[2].select.landmark_months: a landmark is a positive number of months, not nan",
        f"1 problem(s) in {review}; nothing was written",
    ]


def test_report_refuses_an_id_that_takes_another_analysiss_figure_names(review: Path, tmp_path: Path) -> None:
    plan = _add(review, _analysis("crs-by-grade-grade-ge3"))
    code, _, err = metablina(
        "report", "--studies", str(review), "--out", str(tmp_path / "out"), "--jobs", "1"
    )
    line = _line_of(plan, "  - id: crs-by-grade-grade-ge3")
    assert code == 1 and err == [
        f"{plan}:{line}: analyses[2].id: the figures of 'crs-by-grade-grade-ge3' and 'crs-by-grade' would "
        "both be named 'crs-by-grade-grade-ge3'; choose another id",
        f"1 problem(s) in {review}; nothing was written",
    ]
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------ pool


@pytest.mark.parametrize("method", ["bayes", "bayes-glmm"])
def test_plan_pool_runs_the_bayesian_methods(review: Path, method: str) -> None:
    code, out, err = cli("pool", "crs-any", "--studies", str(review), "--method", method, "--format", "json")
    assert code == 0, err
    got = json.loads(out)
    assert (got["k"], got["method"], got["ci_method"], got["pooled"]) == (2, method.upper(), "credible", True)
    assert 0.2 < got["back"]["estimate"] < 0.5  # two studies with 4/11 each


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (
            ["--method", "bayes", "--ci", "z"],
            1,
            "error: analysis crs-any: a Bayesian model reports a central credible interval, not a z interval",
        ),
        (["--measure", "RR"], 2, "error: --measure applies to --table; the plan gives crs-any its measure"),
        (
            ["--method", "bayes", "--tau-prior", "halfnormal:2"],
            2,
            "error: --tau-prior applies to --table; the plan sets crs-any's tau_prior",
        ),
        (
            ["--threshold", "0.1"],
            2,
            "error: --threshold applies to --table; the plan sets crs-any's threshold",
        ),
        (["--method", "MH"], 1, "error: analysis crs-any: method MH pools OR, RR or RD, not PLO"),
    ],
)
def test_plan_pool_refuses_what_it_would_ignore_or_cannot_do(
    review: Path, args: list[str], code: int, line: str
) -> None:
    assert cli("pool", "crs-any", "--studies", str(review), *args) == (code, "", [line])


def test_glmm_intervals_are_labelled_t_everywhere(review: Path, tmp_path: Path) -> None:
    code, out, _ = cli("pool", "crs-any", "--studies", str(review), "--format", "json")
    assert code == 0 and json.loads(out)["ci_method"] == "t"
    table = tmp_path / "t.csv"
    table.write_text("study,xi,ni\na,1,11\nb,6,12\nc,9,10\n")
    args = ("--table", str(table), "--measure", "PLO", "--method", "GLMM")
    code, out, err = cli("pool", *args, "--ci", "hksj", "--format", "json")
    assert code == 0 and json.loads(out)["ci_method"] == "t"
    assert err == [
        "warning: GLMM: no Knapp-Hartung adjustment exists for a GLMM; the hksj interval asked for is t with "
        "k-1 df (ci t)"
    ]
    code, plain, err = cli("pool", *args, "--ci", "t", "--format", "json")
    assert (code, err, plain) == (0, [], out)


@pytest.mark.parametrize(
    ("option", "value"), [("--tau-prior", "halfnormal:1"), ("--threshold", "0.1"), ("--mu-prior", "flat")]
)
def test_table_pool_refuses_bayesian_options_for_other_methods(
    tmp_path: Path, option: str, value: str
) -> None:
    table = tmp_path / "t.csv"
    table.write_text("study,xi,ni\na,4,11\nb,2,12\n")
    assert cli("pool", "--table", str(table), "--measure", "PLO", option, value) == (
        2,
        "",
        [f"error: {option} applies to the Bayesian methods (--method BAYES or BAYES-GLMM)"],
    )


# --------------------------------------------------------------------------------- the review folder


def test_every_command_takes_the_folder_as_studies_with_the_old_spellings_kept(review: Path) -> None:
    assert cli("validate", str(review)) == cli("validate", "--studies", str(review))
    assert cli("studies", str(review)) == cli("studies", "--studies", str(review))
    assert cli("new", "a-study", "--dir", str(review))[0] == 0
    assert cli("new", "b-study", "--studies", str(review))[0] == 0
    assert (review / "a-study.yaml").is_file() and (review / "b-study.yaml").is_file()
    for command in ("validate", "studies", "analyses", "pool", "new"):
        assert re.search(r"--studies(, --dir)? FOLDER", cli(command, "--help")[1]), command
    assert (
        "List the analyses of the plan, FOLDER/analyses.yaml (--studies FOLDER)."
        in cli("analyses", "--help")[1]
    )
    assert cli("validate", str(review), "--studies", "elsewhere") == (
        2,
        "",
        [f"error: two review folders given: {review} and --studies elsewhere"],
    )


def test_new_into_a_file_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    assert cli("new", "x", "--dir", str(target)) == (1, "", [f"error: {target} is not a folder"])


# ------------------------------------------------------------------------------------------ units


@pytest.mark.parametrize(
    ("measure", "method", "ci", "interval"),
    [
        ("PLO", "GLMM", None, "t"),
        ("PLO", "GLMM", "hksj", "t"),
        ("PLO", "GLMM", "hksj-adhoc", "t"),
        ("PLO", "GLMM", "z", "z"),
        ("PLO", "REML", None, "hksj-adhoc"),
        ("HR", "FE", None, "z"),
        ("PLO", "BAYES-GLMM", None, "credible"),
    ],
)
def test_the_interval_is_named_by_what_is_computed(
    measure: str, method: str, ci: str | None, interval: str
) -> None:
    assert interval_of(measure, method, ci) == interval


def test_a_glmm_result_says_t_and_matches_the_t_interval() -> None:
    arrays = {"xi": np.array([1.0, 6.0, 9.0]), "ni": np.array([11.0, 12.0, 10.0])}
    asked_hksj = pool("PLO", "GLMM", "hksj", arrays, ["a", "b", "c"])
    plain_t = pool("PLO", "GLMM", "t", arrays, ["a", "b", "c"])
    assert asked_hksj.ci_method == plain_t.ci_method == "t"
    assert asked_hksj.fit.ci_low == plain_t.fit.ci_low and asked_hksj.fit.test == "t"
    assert asked_hksj.warnings and not plain_t.warnings


@pytest.mark.parametrize(
    ("measure", "value", "ok"),
    [
        ("PLO", 0.05, True),
        ("PLO", 0.0, False),
        ("KM", 1.0, False),
        ("HR", 0.8, True),
        ("HR", 0.0, False),
        ("RD", -0.1, True),
        ("RD", float("nan"), False),
    ],
)
def test_thresholds_on_the_natural_scale_of_the_measure(measure: str, value: float, ok: bool) -> None:
    if ok:
        check_threshold(measure, value)
    else:
        with pytest.raises(InputError):
            check_threshold(measure, value)


def test_prior_sensitivity_scales_every_prior_form() -> None:
    assert [scaled_prior(p, 2) for p in ("halfnormal:0.5", "halft:1:3", "uniform:inf")] == [
        "halfnormal:1",
        "halft:2:3",
        "uniform:inf",
    ]
