"""Hostile tables in and out: CSV a spreadsheet would run, forged figure slots, bad `pool --table` files,
fits too large for memory.

Every case runs the command line in a subprocess with a timeout and an address-space cap, as a user runs
it, and expects its exit code, one clear line where the input is refused, and never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

STUDIES = Path(__file__).resolve().parents[2] / "studies"
BCG = Path(__file__).resolve().parents[1] / "data" / "bcg.csv"
MEMORY_CAP = 1 << 30  # a report of the shipped review peaks at about 300 MiB of address space
TIMEOUT_S = 30  # each run takes seconds; a guard that fails crashes at the cap or runs for minutes


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
    assert {r["label"] for r in rows if r["row_type"] == "sensitivity"} == {"'" + LABEL}  # one per stratum
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


# --- pool --table: what R's read.csv and metafor accept, and what they should not ---------------------


def pool_table(tmp_path: Path, text: str | bytes, *args: str) -> tuple[int, str, list[str]]:
    """``metablina pool --table T --format json ARGS`` on a table holding ``text``; exit code, stdout
    and the lines of stderr."""
    path = tmp_path / "t.csv"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    code, out, err = metablina("pool", "--table", str(path), "--format", "json", *args)
    return code, out, err.splitlines()


def refusal(tmp_path: Path, text: str | bytes, *args: str) -> str:
    """The one line a refused table gets, without its ``error: PATH: `` head."""
    code, out, lines = pool_table(tmp_path, text, *args)
    assert code == 1 and out == "" and len(lines) == 1, lines
    head = f"error: {tmp_path / 't.csv'}: "
    assert lines[0].startswith(head), lines
    return lines[0][len(head) :]


CLEAN = "study,yi,vi\na,0.1,0.04\nd,0.2,0.05\ne,-0.5,0.02\n"


def test_na_rows_are_left_out_with_one_warning_and_other_columns_ignored(tmp_path: Path) -> None:
    # a BOM on the header, an unused column, blank lines, R's NA and an empty cell
    text = "\ufeffstudy,yi,vi,year\n\na,0.1,0.04,2001\nb,NA,0.1,2002\n\nc,0.3,,2003\nd,0.2,0.05,NA\ne,-0.5,0.02,2005\n"
    code, out, lines = pool_table(tmp_path, text, "--measure", "GEN")
    path = tmp_path / "t.csv"
    assert code == 0 and lines == [
        f"warning: {path}: ignored the columns that measure GEN does not use: year",
        f"warning: {path}: left out 2 row(s) with an NA or empty cell, as metafor's na.omit does: "
        "rows 4 (b), 6 (c)",
    ]
    # the same numbers as the table without those rows (metafor: rma(yi, vi) after na.omit)
    code, clean, _ = pool_table(tmp_path, CLEAN, "--measure", "GEN")
    assert code == 0 and json.loads(out) == json.loads(clean)
    assert json.loads(out)["k"] == 3


def test_a_table_of_na_rows_is_refused(tmp_path: Path) -> None:
    text = "study,yi,vi\na,NA,0.04\nb,0.2,\n"
    assert refusal(tmp_path, text, "--measure", "GEN") == "every data row has an NA or empty cell in yi, vi"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # row numbers are the file's lines, blank lines counted
        ("study,yi,vi\n\na,0.1,0.04\n\nb,x,0.1\n", "row 5, column yi: 'x' is not a number"),
        ("\n\nstudy,yi,vi,yi\na,0.1,0.04,1\n", "row 3: column 'yi' appears twice"),
        ("study,yi,vi\na,0.1,0.04\n\nb,0.1\n", "row 4: 2 cells, but the header has 3"),
        # only plain numbers: none of the spellings Python's float() also reads
        ("study,yi,vi\na,1_0,0.04\nb,1,1\n", "row 2, column yi: '1_0' is not a number"),
        ("study,yi,vi\na,0x1A,0.04\nb,1,1\n", "row 2, column yi: '0x1A' is not a number"),
        ("study,yi,vi\na,\u0661\u0662,0.04\nb,1,1\n", "row 2, column yi: '\u0661\u0662' is not a number"),
        ("study,yi,vi\na,0.1,Infinity\nb,1,1\n", "row 2, column vi: 'Infinity' is not a finite number"),
        ("study,yi,vi\na,-inf,0.1\nb,1,1\n", "row 2, column yi: '-inf' is not a finite number"),
        ("study,yi,vi\na,NaN,0.1\nb,1,1\n", "row 2, column yi: 'NaN' is not a finite number"),
        # numbers whose squares overflow in a fit
        ("study,yi,vi\na,1e308,0.04\nb,1,0.1\n", "row 2, column yi: 1e308 is too large: above 1e77"),
        ("study,yi,sei\na,1,1e200\nb,1,0.1\n", "row 2, column sei: 1e200 is too large: above 1e77"),
        ("study,yi,sei\na,1,0.1\nb,1,1e-200\n", "row 3, column sei: 1e-200 is too small: below 1e-77"),
        (
            "study,yi,vi\na,1e100,0.01\nb,1,0.01\nc,2,9\n",
            "row 2, column yi: 1e100 is too large",
        ),  # REML never ended
        ("study,yi,vi\na,1,0.1\nb,1e999,0.1\n", "row 3, column yi: 1e999 is too large"),
        # numbers each in range, whose arithmetic overflows together
        ("study,yi,sei\na,1,1e30\nb,2,1e-30\n", "the numbers are too far apart in scale to pool"),
        # not a CSV of an effect table
        (b"study,yi,vi\na,0.1,0.04\n\xff\xfe,1,1\n", "row 3: not valid UTF-8"),
        ("study,yi,vi\na," + "1" * 70_000 + ",1\n", "row 2: longer than 65,536 characters; not read"),
        ("study,yi\na,1\nb,2\n", "measure GEN needs columns (yi, vi) or (yi, sei); missing: vi"),
    ],
)
def test_bad_table_gets_one_line(tmp_path: Path, text: str | bytes, message: str) -> None:
    assert message in refusal(tmp_path, text, "--measure", "GEN", "--method", "REML")


def test_plain_numbers_with_spaces_and_exponents_are_read(tmp_path: Path) -> None:
    spaced = "study , yi , vi\na, 1.0e-1 ,4E-2\nd,+.2,0.05 \ne,-5e-1,2e-2\n"
    _, out, _ = pool_table(tmp_path, spaced, "--measure", "GEN")
    _, clean, _ = pool_table(tmp_path, CLEAN, "--measure", "GEN")
    assert json.loads(out) == json.loads(clean)


@pytest.mark.parametrize(("target", "kind"), [("/dev/zero", "a character device"), (None, "a named pipe")])
def test_devices_and_pipes_are_not_read(tmp_path: Path, target: str | None, kind: str) -> None:
    path = tmp_path / "t.csv"
    if target is None:
        os.mkfifo(path)  # reading it would block until someone writes
    else:
        path.symlink_to(target)  # reading it would never end
    code, _, err = metablina("pool", "--table", str(path), "--measure", "GEN")
    assert code == 1 and err == f"error: {path}: {kind}, not a regular file; only regular files are read\n"


def test_a_table_larger_than_its_cap_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    with path.open("wb") as fh:
        fh.truncate((50 << 20) + 1)  # sparse: costs no disk
    code, _, err = metablina("pool", "--table", str(path), "--measure", "GEN")
    assert code == 1 and err == f"error: {path}: larger than 50 MiB; not read\n"


# --- fits too large for memory are refused before they start ----------------------------------------


def _proportions(tmp_path: Path, k: int) -> Path:
    rng = np.random.default_rng(15)
    n = rng.integers(20, 200, k)
    x = rng.binomial(n, 0.3)
    path = tmp_path / f"k{k}.csv"
    path.write_text("xi,ni\n" + "".join(f"{a},{b}\n" for a, b in zip(x, n, strict=True)))
    return path


@pytest.mark.parametrize(
    ("k", "method", "need"),
    [
        (500_000, "GLMM", "a GLMM with k = 500000 studies needs about 2.5 GiB"),
        (10_000, "BAYES-GLMM", "a Bayesian binomial-normal model with k = 10000 studies needs about 8.1 GiB"),
    ],
)
def test_fits_too_large_for_memory_are_refused(tmp_path: Path, k: int, method: str, need: str) -> None:
    path = _proportions(tmp_path, k)
    # an address space of 3 GiB leaves the fixed 2 GiB budget; without the guard the fit dies at the cap
    code, _, err = metablina(
        "pool", "--table", str(path), "--measure", "PLO", "--method", method, cap=3 << 30
    )
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {path}: {need} of working memory, more than the 2.0 GiB a fit may use")


def test_the_budget_shrinks_under_an_address_space_limit(tmp_path: Path) -> None:
    # about 1 GiB: within the 2 GiB budget, not within a 1 GiB address space (numpy and scipy take 0.25)
    path = _proportions(tmp_path, 200_000)
    code, _, err = metablina(
        "pool", "--table", str(path), "--measure", "PLO", "--method", "GLMM", cap=1 << 30
    )
    assert code == 1 and len(err.splitlines()) == 1, err
    budget = re.search(
        r"needs about 1\.0 GiB of working memory, more than the (0\.\d) GiB a fit may use", err
    )
    assert budget is not None and 0.5 <= float(budget.group(1)) <= 0.8, err


@pytest.mark.parametrize(("fit", "k"), [("PLO", 1_500), ("OR", 1_500), ("BN", 12), ("NN", 5_000)])
def test_the_memory_estimate_bounds_the_measured_peak(fit: str, k: int) -> None:
    """The estimate the guards use is above the peak tracemalloc measures, and not far above it."""
    import tracemalloc

    from metablina.stats import bayes, glmm

    rng = np.random.default_rng(3)
    n = rng.integers(20, 200, k).astype(float)
    x = rng.binomial(n.astype(int), 0.3).astype(float)
    run, estimate = {
        "PLO": (lambda: glmm.glmm_proportion(x, n), glmm._working_memory("PLO", 1, k)),
        "OR": (lambda: glmm.glmm_or_umfs(x, n, x[::-1], n[::-1]), glmm._working_memory("OR", 1, k)),
        "BN": (lambda: bayes.bayes_bn(x, n, shrinkage=False), bayes._working_memory("BN", 1, k)),
        "NN": (
            lambda: bayes.bayes_nn(rng.normal(size=k), 1 / n, tau_prior="halfnormal:0.5"),
            bayes._working_memory("NN", 1, k),
        ),
    }[fit]
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= estimate <= 1.3 * peak, (estimate, peak)
