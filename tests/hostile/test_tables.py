"""Hostile tables in and out: CSV a spreadsheet would run, forged figure slots, bad `pool --table` files,
fits too large for memory.

Every case runs the command line in a subprocess with a timeout and an address-space cap, as a user runs
it, and expects its exit code, one clear line where the input is refused, and never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

STUDIES = Path(__file__).resolve().parents[2] / "studies"
BCG = Path(__file__).resolve().parents[1] / "data" / "bcg.csv"
MEMORY_CAP = 1 << 30  # a report of the shipped review peaks at about 300 MiB of address space
TIMEOUT_S = 60  # each run takes seconds; a guard that fails crashes at the cap or runs for minutes


def _cap_memory(cap: int = MEMORY_CAP) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def metablina(*args: str, cwd: Path | None = None, cap: int = MEMORY_CAP) -> tuple[int, str, str]:
    """Run ``metablina ARGS`` as a user does; return its exit code, stdout and stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "metablina", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        preexec_fn=lambda: _cap_memory(cap),
        cwd=cwd,
    )
    assert "Traceback" not in result.stderr and "Warning:" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


# --- CSV cells a spreadsheet would run as formulas -------------------------------------------------------

# Text from the extracts and the plan, each of which a spreadsheet would run as a formula.
HOSTILE = {
    "bch-infant-2025": (
        '=HYPERLINK("http://evil.example","open") '
        "<@metablina-figure-uri:forest-crs-grade3@> @@metablina-figure-uri:forest-crs-grade3@@"
    ),
    "cclg-frontline-2025": "@SUM(1+1)*cmd|' /C calc'!A0",
    "locatelli-relapse-phase3-2025": "-1+cmd|' /C calc'!A0",
}
RECORD = {
    "bch-infant-2025": "crs-g3",
    "cclg-frontline-2025": "crs-g3",
    "locatelli-relapse-phase3-2025": "crs-g3-blinatumomab",
}
TITLE = "+SUM(1,2)*cmd|' /C calc'!A0"
LABEL = "-2+3 common effect"
PLAN = f"""\
analyses:
  - id: crs-grade3
    title: {json.dumps(TITLE)}
    outcome: crs
    select: {{grade: ">=3"}}
    measure: PLO
    model: REML
    ci: hksj
    bayes: false
    sensitivity:
      - {{id: fe, label: {json.dumps(LABEL)}, model: FE, ci: z}}
  - id: os-hazard-ratio
    title: Overall survival, hazard ratio
    outcome: os
    measure: HR
    model: REML
    bayes: false
"""


def _set_location(extract: Path, record: str, text: str) -> None:
    """Replace the ``location`` of record ``record`` in ``extract`` by ``text``."""
    lines = extract.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {record}")
    at = next(i for i in range(start, len(lines)) if lines[i].lstrip().startswith("location:"))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at] = f"{indent}location: {json.dumps(text)}\n"
    extract.write_text("".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped review with formula text in three locations, a title and a sensitivity label; the
    folder its report was written to."""
    root = tmp_path_factory.mktemp("review")
    review = root / "studies"
    shutil.copytree(STUDIES, review)
    (review / "analyses.yaml").write_text(PLAN, encoding="utf-8")
    for study, text in HOSTILE.items():
        _set_location(review / f"{study}.yaml", RECORD[study], text)
    code, _, err = metablina("report", "--studies", "studies", "--out", "outputs", "--jobs", "1", cwd=root)
    assert code == 0, err
    return root / "outputs"


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def _is_number(cell: str) -> bool:
    return re.fullmatch(r"[-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?", cell) is not None


def test_no_report_table_cell_starts_a_formula(hostile_report: Path) -> None:
    cells = [
        cell
        for path in sorted((hostile_report / "tables").glob("*.csv"))
        for record in csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))
        for cell in record
    ]
    starts = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert starts and all(_is_number(c) for c in starts), [c for c in starts if not _is_number(c)]
    assert any(c.startswith("-") for c in starts)  # negative numbers (logits) are still numbers


def test_formula_text_is_quoted_and_numbers_are_not(hostile_report: Path) -> None:
    rows = _rows(hostile_report / "tables" / "crs-grade3.csv")
    studies = {r["study"]: r for r in rows if r["row_type"] == "study"}
    for study, text in HOSTILE.items():
        assert studies[study]["location"] == "'" + text
    assert float(studies["cclg-frontline-2025"]["estimate"]) == pytest.approx(9 / 202, abs=1e-6)
    assert [r["label"] for r in rows if r["row_type"] == "sensitivity"] == ["'" + LABEL]
    summary = _rows(hostile_report / "tables" / "summary.csv")
    assert summary[0]["title"] == "'" + TITLE
    # the JSON tables are not opened as spreadsheets: they keep the text as written
    data = json.loads((hostile_report / "tables" / "crs-grade3.json").read_text(encoding="utf-8"))
    assert {r["location"] for r in data["rows"] if r["row_type"] == "study"} == set(HOSTILE.values())


def test_negative_numbers_stay_numbers(hostile_report: Path) -> None:
    rows = _rows(hostile_report / "tables" / "os-hazard-ratio.csv")
    study = next(r for r in rows if r["record"] == "os-hr-2y-analysis")
    assert study["yi"] == "-1.07881"  # ln 0.34, not '-1.07881


def test_extract_text_cannot_forge_a_figure_slot(hostile_report: Path) -> None:
    page = (hostile_report / "report.html").read_text(encoding="utf-8")
    assert "&lt;@metablina-figure-uri:forest-crs-grade3@&gt;" in page
    assert "@@metablina-figure-uri:forest-crs-grade3@@" in page
    figures = len(list((hostile_report / "figures").glob("*.svg")))
    assert page.count("data:image/svg+xml;base64,") == figures > 0


def test_pool_csv_keeps_negative_numbers() -> None:
    args = ("pool", "--table", str(BCG), "--measure", "RR", "--method", "DL", "--ci", "z", "--format", "csv")
    code, out, _ = metablina(*args)
    row = next(csv.DictReader(io.StringIO(out)))
    assert code == 0 and row["measure"] == "RR"
    assert float(row["estimate"]) == pytest.approx(
        -0.7141, abs=1e-4
    )  # metafor: rma(measure="RR", method="DL")


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-A1", "'-A1"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-", "'-"),
        ("-0.5", "-0.5"),
        ("+3", "+3"),
        ("-1.2e-05", "-1.2e-05"),
        ("1-2", "1-2"),
        ("a=1", "a=1"),
        ("", ""),
    ],
)
def test_spreadsheet_safe(cell: str, shown: str) -> None:
    from metablina.render.tables import spreadsheet_safe

    assert spreadsheet_safe(cell) == shown


def test_studies_csv_is_the_count_matrix() -> None:
    code, out, _ = metablina("studies", str(STUDIES), "--format", "csv")
    rows = _rows_of(out)
    assert code == 0 and rows[0][0] == "outcome"
    counts = {r[0]: r[1:] for r in rows[1:]}
    assert counts["crs"][rows[0].index("cclg-frontline-2025") - 1] == str(_crs_records("cclg-frontline-2025"))


def _rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _crs_records(study: str) -> int:
    text = (STUDIES / f"{study}.yaml").read_text(encoding="utf-8")
    return len(re.findall(r"^\s*outcome: crs\s*$", text, flags=re.M))
