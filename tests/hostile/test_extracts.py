"""Hostile extracts and sources through `metablina validate`, run as a user runs it.

Each case starts the command line in a subprocess with a timeout and an address-space cap (a hang or
a memory blow-up is what these guard) and expects exit 1, exactly one problem line naming the file,
the line and the field, and no traceback. The review is the valid demo of tests/extract, broken once.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.extract.conftest import STUDY, write_review

MEMORY_CAP = 512 << 20  # `validate` of the shipped review peaks well under 300 MiB of address space
TIMEOUT_S = 20  # each case takes about half a second; a guard that fails hangs or runs for minutes


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _validate(folder: Path, *extra: str) -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, "-m", "metablina", "validate", str(folder), *extra],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        preexec_fn=_cap_memory,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "Error:" not in output, output
    return result.returncode, result.stderr.splitlines()


def _one_problem(folder: Path, *extra: str) -> str:
    """The single problem line `validate` prints for ``folder`` (it must print exactly one)."""
    code, lines = _validate(folder, *extra)
    assert code == 1, lines
    assert len(lines) == 2 and lines[1] == f"1 problem(s) in {folder}", lines
    return lines[0]


@pytest.fixture
def review(tmp_path: Path) -> Path:
    return write_review(tmp_path)


def _edit(review: Path, old: str, new: str) -> Path:
    path = review / "demo.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


def _line_of(path: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def test_the_demo_review_is_valid(review: Path) -> None:
    assert _validate(review) == (0, [])


# --- only regular files inside the review are read -------------------------------------------------


def test_extract_linked_to_proc_is_not_echoed(review: Path) -> None:
    os.symlink("/proc/self/status", review / "status.yaml")
    line = _one_problem(review)
    assert line.startswith(f"{review}/status.yaml: (file): a link leading outside {review}")
    assert "VmRSS" not in line and "Pid" not in line


def test_extract_linked_to_dev_zero_is_refused(review: Path) -> None:
    os.symlink("/dev/zero", review / "zero.yaml")
    assert _one_problem(review).startswith(f"{review}/zero.yaml: (file): a link leading outside")


def test_fifo_extract_does_not_hang(review: Path) -> None:
    os.mkfifo(review / "pipe.yaml")
    assert _one_problem(review) == (
        f"{review}/pipe.yaml: (file): a named pipe, not a regular file; only regular files are read"
    )


def test_source_linked_out_of_the_review_is_not_read(review: Path) -> None:
    # /etc/passwd holds "root": without the guard the quote below would be "found" in it
    (review / "sources" / "demo.txt").unlink()
    os.symlink("/etc/passwd", review / "sources" / "demo.txt")
    line = _one_problem(review)
    assert line.startswith(f"{review}/demo.yaml:4: source.file: source document {review}/sources/demo.txt: ")
    assert "a link leading outside" in line


def test_source_that_is_a_device_is_not_opened(review: Path) -> None:
    # a sources folder named on the command line is trusted, but only its regular files are read
    _edit(review, "file: demo.txt", "file: zero")
    line = _one_problem(review, "--sources", "/dev")
    assert line == (
        f"{review}/demo.yaml:4: source.file: source document /dev/zero: "
        "a character device, not a regular file; only regular files are read"
    )


def test_fifo_source_does_not_hang(review: Path) -> None:
    (review / "sources" / "demo.txt").unlink()
    os.mkfifo(review / "sources" / "demo.txt")
    assert "a named pipe, not a regular file" in _one_problem(review)


def test_oversized_source_is_refused_on_the_bytes_read(review: Path) -> None:
    with (review / "sources" / "demo.txt").open("a") as fh:
        fh.write(" " * (8 << 20))
    assert _one_problem(review).endswith("sources/demo.txt: larger than 8 MiB; not read")


# --- consistency checks are bounded in time ----------------------------------------------------------


def test_absurd_total_is_refused_before_any_count_check(review: Path) -> None:
    path = _edit(review, "binary: {events: 4, total: 11}", "binary: {total: 1000000000000, percent: 50}")
    line = _one_problem(review)
    assert line == (
        f"{path}:{_line_of(path, 'total: 1000000000000')}: outcomes[0].binary.total: "
        "Input should be less than or equal to 10000000 (got 1000000000000)"
    )


def test_percent_with_a_billion_decimals_is_refused_at_once(review: Path) -> None:
    path = _edit(review, "binary: {events: 0, total: 11}", "binary: {percent: 0.0e-999999999, total: 11}")
    line = _one_problem(review)
    assert line.startswith(f"{path}:{_line_of(path, '0.0e-999999999')}: outcomes[1].binary.percent: ")
    assert "as the source prints it" in line


def test_no_count_check_on_a_total_already_too_large(review: Path) -> None:
    path = _edit(
        review,
        "binary: {events: 0, total: 11}",
        "binary: {percent: 0.0e-999999999, total: 12}\n    derived: {binary.total: from the text}",
    )
    line = _one_problem(review)
    assert line == (
        f"{path}:{_line_of(path, 'total: 12')}: outcomes[1].binary.total: "
        "total 12 exceeds the n of the cohort (11)"
    )


# --- non-finite and overlong numbers are refused at their field -------------------------------------

_KM = """\
  - id: efs-12
    outcome: efs
    km: {landmark_months: 12, percent: 54.5, se: 2.2, ci: {low: 40.1, high: 80.2}}
    quote: "This study included 11 patients"
    derived: {km.percent: x, km.se: x, km.ci.low: x, km.ci.high: x}
  - id: hr-efs
    outcome: efs
    hazard_ratio: {experimental: blina, control: blina, hr: 0.5, p: 0.5}
    quote: "This study included 11 patients"
    derived: {hazard_ratio.hr: x, hazard_ratio.p.value: x}
"""


def test_non_finite_numbers_are_refused_at_their_fields_in_one_run(review: Path) -> None:
    # before the guard: .inf passed the schema and crashed the quote check with an OverflowError
    path = review / "demo.yaml"
    path.write_text(STUDY + _KM)
    for old, new in [
        ("se: 2.2", "se: .inf"),
        ("high: 80.2", "high: .inf"),
        ("percent: 54.5", "percent: .nan"),
        ("hr: 0.5", "hr: 1e999"),
        ("    grade: any\n", "    grade: any\n    follow_up_months: .inf\n"),
        ("median: 8.5,", "median: 8.5, mean: -.inf,"),
    ]:
        _edit(review, old, new)
    code, lines = _validate(review)
    km, hr, follow_up = (_line_of(path, text) for text in ("se: .inf", "hr: 1e999", "follow_up_months"))
    assert code == 1
    assert lines == [
        f"{path}:11: population.age.mean: Input should be a finite number (got -inf)",
        f"{path}:{follow_up}: outcomes[0].follow_up_months: Input should be a finite number (got inf)",
        f"{path}:{km}: outcomes[2].km.percent: Input should be a finite number (got nan)",
        f"{path}:{km}: outcomes[2].km.se: Input should be a finite number (got inf)",
        f"{path}:{km}: outcomes[2].km.ci.high: Input should be a finite number (got inf)",
        f"{path}:{hr}: outcomes[3].hazard_ratio.hr: Input should be a finite number (got '1e999')",
        f"6 problem(s) in {review}",
    ]


def test_number_with_thousands_of_digits_is_one_short_line(review: Path) -> None:
    path = _edit(review, "year: 2025", "year: " + "9" * 5000)
    line = _one_problem(review)
    assert line.startswith(f"{path}:3: year: '9999") and line.endswith("...: too many digits to read")
    assert len(line) < 200 + len(str(path))


# --- locations are exact, and a message never spans two lines ---------------------------------------


def test_merge_key_is_reported_where_it_stands(review: Path) -> None:
    path = _edit(review, "  female: 7\n", "  female: 7\n  <<: {n: 11}\n")
    assert _one_problem(review) == (
        f"{path}:13: population.<<: merge keys (<<) are not allowed; write the keys out"
    )


def test_complex_key_is_reported_where_it_stands(review: Path) -> None:
    path = review / "demo.yaml"
    path.write_text(STUDY + "? [a, b]\n: 1\n")
    assert _one_problem(review) == (
        f"{path}:{len(STUDY.splitlines()) + 1}: [a, b]: a key must be a plain word, not a list or a mapping"
    )


def test_newline_in_a_key_cannot_fake_a_problem_line(review: Path) -> None:
    path = _edit(review, "year: 2025\n", 'year: 2025\n"x\\nstudies/fake.yaml:1: id": 1\n')
    assert _one_problem(review) == (
        f"{path}:4: x\\nstudies/fake.yaml:1: id: unknown key (a typo? see studies/README.md for the fields)"
    )


def test_newline_in_a_file_name_is_escaped(review: Path) -> None:
    (review / "x\nfake.yaml").write_text("a: [1\n")
    line = _one_problem(review)
    assert line.startswith(f"{review}/x\\nfake.yaml:2: (yaml): ")


def test_deep_nesting_is_one_line(review: Path) -> None:
    (review / "deep.yaml").write_text("[" * 3000 + "]" * 3000)
    assert _one_problem(review).startswith(f"{review}/deep.yaml:1: (yaml): ")
