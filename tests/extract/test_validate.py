"""`metablina validate`, `new` and `studies`: every problem located, all of them in one run."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from metablina.cli import main
from metablina.extract.validate import load_review


def _validate(folder: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["validate", str(folder)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output.splitlines()


def _break(review: Path, old: str, new: str) -> None:
    path = review / "demo.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_valid_folder_passes_with_a_summary(review: Path) -> None:
    code, lines = _validate(review)
    assert code == 0
    assert lines == [
        "ok: 1 studies, 2 outcome records, every quote found in its source; no plan (analyses.yaml)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("  female: 7\n", "  femal: 7\n", 12, "population.femal: unknown key"),
        (
            "binary: {events: 4, total: 11}",
            "binary: {events: -4, total: 11}",
            26,
            "outcomes[0].binary.events: Input should be greater than or equal to 0",
        ),
        (
            "binary: {events: 4, total: 11}",
            "binary: {events: four, total: 11}",
            26,
            "outcomes[0].binary.events: Input should be a valid integer",
        ),
        (
            "binary: {events: 4, total: 11}",
            "binary: {events: 4.5, total: 11}",
            26,
            "outcomes[0].binary.events: Input should be a valid integer",
        ),
        (
            "binary: {events: 4, total: 11}",
            "binary: {events: 12, total: 11}",
            26,
            "events (12) exceed total (11)",
        ),
        (
            "binary: {events: 4, total: 11}",
            "binary: {events: 5, total: 11, percent: 36.4}",
            26,
            "5/11 does not print as 36.4%",
        ),
        (
            "binary: {events: 4, total: 11}",
            "binary: {percent: 36.5, total: 11}",
            26,
            "36.5% of 11 is no whole number",
        ),
        (
            "binary: {events: 4, total: 11}",
            "binary: {events: 5, total: 11}",
            26,
            "binary.events: 5 does not appear in the quote",
        ),
        (
            "binary: {events: 4, total: 11}",
            "binary: {events: 4, total: 12}",
            26,
            "total 12 exceeds the n of the cohort (11)",
        ),
        (
            "{id: hr, label: high risk, n: 8",
            "{id: hr, label: high risk, n: 9",
            16,
            "partition 'risk group': ir 3 + hr 9 = 12, not 11",
        ),
        (
            'of grade 1 occurred in 4 pts"',
            'of grade 1 occurred in four pts"',
            28,
            "quote not found verbatim in demo.txt",
        ),
        (
            "source: {file: demo.txt",
            "source: {file: missing.txt",
            4,
            "source.file: source document not found",
        ),
        ("id: demo\n", "id: other\n", 1, "id: id 'other' differs from the file name 'demo'"),
        (
            "  - id: crs-severe",
            "  - id: crs-any",
            30,
            "outcomes[1].id: outcome record id 'crs-any' is used 2 times",
        ),
        ("    grade: any\n", "    grade: any\n    arm: chemo\n", 26, "outcomes[0].arm: no arm 'chemo'"),
        ("    grade: any\n", "    grade: worst\n", 25, "outcomes[0].grade: Input should be"),
        (
            "    outcome: crs\n",
            "    outcome: cytokine_storm\n",
            24,
            "outcomes[0].outcome: unknown outcome 'cytokine_storm'",
        ),
        ("design: retrospective cohort", "design: [retrospective cohort]", 5, "design: Input should be"),
        (
            "arms:\n",
            "overlap: [{study: nobody, reason: same centre}]\narms:\n",
            19,
            "no study with id 'nobody'",
        ),
    ],
)
def test_each_problem_is_one_located_line(review: Path, old: str, new: str, line: int, expected: str) -> None:
    _break(review, old, new)
    code, lines = _validate(review)
    assert code == 1
    assert lines[-1].endswith(f"problem(s) in {review}")
    hits = [x for x in lines if expected in x]
    assert hits, lines
    assert hits[0].startswith(f"{review}/demo.yaml:{line}: "), hits[0]


def test_all_problems_of_all_files_come_in_one_run(review: Path) -> None:
    _break(review, "binary: {events: 4, total: 11}", "binary: {events: 5, total: 12}")
    (review / "other.yaml").write_text("- just\n- a list\n")
    (review / "empty.yaml").write_text("")
    code, lines = _validate(review)
    assert code == 1
    assert any("other.yaml:1: (document): an extract is a mapping" in x for x in lines)
    assert any("empty.yaml: (document): the file is empty" in x for x in lines)
    assert sum("demo.yaml" in x for x in lines) >= 3
    assert lines[-1] == f"{len(lines) - 1} problem(s) in {review}"


def test_duplicated_study_ids_across_files(review: Path) -> None:
    (review / "copy.yaml").write_text((review / "demo.yaml").read_text())
    problems = [str(p) for p in load_review(review).problems]
    assert any("demo.yaml:1: id: id 'demo' is already used by copy.yaml" in p for p in problems), problems


def test_derived_numbers_need_no_quote_but_must_name_a_field(review: Path) -> None:
    _break(
        review,
        'quote: ["with no severe CRS events", "This study included 11 patients"]',
        'quote: "with no severe CRS events"\n    derived: {binary.total: the 11 patients of the cohort}',
    )
    assert load_review(review).ok
    _break(review, "derived: {binary.total:", "derived: {binary.totl:")
    problems = [str(p) for p in load_review(review).problems]
    assert any("derived.binary.totl: names no number field" in p for p in problems), problems


def test_not_a_folder(tmp_path: Path) -> None:
    code, lines = _validate(tmp_path / "nowhere")
    assert code == 1 and "not a folder" in lines[0]


def test_new_writes_a_template_that_validate_reads(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["new", "my-study", "--dir", str(tmp_path)]).exit_code == 0
    text = (tmp_path / "my-study.yaml").read_text()
    assert text.startswith("# Study extract for metablina")
    # The placeholders are caught as problems of the schema, not as broken YAML.
    problems = [str(p) for p in load_review(tmp_path).problems]
    assert problems and not any("(yaml)" in p for p in problems)
    again = runner.invoke(main, ["new", "my-study", "--dir", str(tmp_path)])
    assert again.exit_code == 1 and "not overwriting" in again.output
    bad = runner.invoke(main, ["new", "My Study", "--dir", str(tmp_path)])
    assert bad.exit_code == 1 and "lower-case letters" in bad.output


def test_template_gets_its_schema_source_and_quote_problems_in_one_run(tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["new", "x", "--dir", str(tmp_path)]).exit_code == 0
    code, lines = _validate(tmp_path)
    assert code == 1
    assert f"{tmp_path}/x.yaml:26: population.n: Input should be greater than or equal to 1 (got 0)" in lines
    assert (
        f"{tmp_path}/x.yaml:18: sources[0].file: source document not found at {tmp_path}/sources/NAME.txt"
        in lines
    )
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "NAME.txt").write_text("The sentence that gives n, age and sex.")
    code, lines = _validate(tmp_path)
    assert code == 1
    assert lines == [
        f"{tmp_path}/x.yaml:26: population.n: Input should be greater than or equal to 1 (got 0)",
        f"{tmp_path}/x.yaml:37: arms[0].n: Input should be greater than or equal to 1 (got 0)",
        f"{tmp_path}/x.yaml:61: outcomes[0].binary.total: Input should be greater than or equal to 1 (got 0)",
        f"{tmp_path}/x.yaml:39: arms[0].quote: quote not found verbatim in NAME.txt: "
        '"The sentence that gives the arm\'s n."',
        f"{tmp_path}/x.yaml:62: outcomes[0].quote: quote not found verbatim in NAME.txt: "
        "'The sentence with the numbers, verbatim.'",
        f"5 problem(s) in {tmp_path}",
    ]


def test_numbers_of_valid_records_are_checked_when_another_field_is_wrong(review: Path) -> None:
    _break(review, "year: 2025", "year: 1800")
    _break(review, "binary: {events: 4, total: 11}", "binary: {events: 5, total: 11}")
    code, lines = _validate(review)
    assert code == 1
    assert lines == [
        f"{review}/demo.yaml:3: year: Input should be greater than or equal to 1900 (got 1800)",
        f"{review}/demo.yaml:26: outcomes[0].binary.events: 5 does not appear in the quote "
        "(write it, or explain it under derived)",
        f"2 problem(s) in {review}",
    ]


def test_studies_lists_outcome_counts(review: Path) -> None:
    result = CliRunner().invoke(main, ["studies", str(review), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["outcome,demo", "crs,2"]


def test_overlap_must_be_declared_on_both_sides(review: Path) -> None:
    other = (review / "demo.yaml").read_text().replace("id: demo\n", "id: twin\n")
    (review / "twin.yaml").write_text(
        other.replace("arms:\n", "overlap: [{study: demo, reason: same centre}]\narms:\n", 1)
    )
    problems = [str(p) for p in load_review(review).problems]
    assert any(
        "twin.yaml:19: overlap[0].study: demo does not declare the overlap back" in p for p in problems
    ), problems
    _break(review, "arms:\n", "overlap: [{study: twin, reason: same centre}]\narms:\n")
    assert load_review(review).ok


def test_a_complete_partition_needs_every_size(review: Path) -> None:
    _break(review, "{id: hr, label: high risk, n: 8,", "{id: hr, label: high risk, n: null,")
    problems = [str(p) for p in load_review(review).problems]
    assert any("partition 'risk group' is complete, so every part needs its n" in p for p in problems), (
        problems
    )
    _break(review, "  complete_partitions: [risk group]\n", "")
    assert load_review(review).ok


def test_schema_command_prints_the_json_schema_of_an_extract() -> None:
    import json

    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Study" and schema["additionalProperties"] is False
    assert {"id", "population", "outcomes", "risk_of_bias"} <= set(schema["properties"])
