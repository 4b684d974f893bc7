"""Nothing the report shows depends on the order of records in an extract or of the extracts (issue 11).

The report is built from a temporary copy of the shipped review, once as shipped and then with the records
of every extract shuffled and the extracts written to a fresh folder in a shuffled order; the tables
(CSV and JSON) and the page must be byte-identical. Only the line of each record in its extract moves
with it (the report links every study row to that line), so ``extract.yaml:LINE`` and ``#LLINE`` are
masked before comparing. The same holds for the rows handed to each analysis, in any order.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from metablina.extract.validate import load_review, study_files
from metablina.normalize import normalize
from metablina.plan import load_plan, plan_path
from metablina.render.text import analysis_json
from metablina.report import build_report
from metablina.run import run_analysis

STUDIES = Path(__file__).resolve().parents[1] / "studies"
RECORD = re.compile(r"(?m)^  - id: ")
LINES = (
    re.compile(r"(\.ya?ml):\d+"),  # the page's link text, extract.yaml:LINE
    re.compile(r"#L\d+"),  # and its anchor
    re.compile(r'"line": \d+'),  # the JSON tables
    re.compile(r"(\.ya?ml),\d+,"),  # the CSV tables: extract,line,
)


def shuffle_records(text: str, rnd: random.Random) -> str:
    """The extract with the records under its last key, ``outcomes:``, in another order (each record
    moves whole, with its comments and blank lines)."""
    head, sep, body = text.partition("\noutcomes:\n")
    assert sep and not re.search(r"(?m)^[a-z_]+:", body), "outcomes is the extract's last key"
    starts = [m.start() for m in RECORD.finditer(body)]
    ends = [*starts[1:], len(body)]
    lead, records = body[: starts[0]], [body[a:b] for a, b in zip(starts, ends, strict=True)]
    records = [r if r.endswith("\n") else r + "\n" for r in records]
    rnd.shuffle(records)
    return head + sep + lead + "".join(records)


def write_review(folder: Path, rnd: random.Random | None) -> None:
    """A fresh copy of the shipped review at ``folder``; with ``rnd``, records and file order shuffled."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copytree(STUDIES / "sources", folder / "sources")
    files = sorted(STUDIES.iterdir())
    if rnd is not None:
        rnd.shuffle(files)  # the order the files are created in, which a directory listing may follow
    for path in files:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if rnd is not None and path in study_files(STUDIES):
                text = shuffle_records(text, rnd)
            (folder / path.name).write_text(text, encoding="utf-8")


def report_bytes(review: Path, out: Path) -> dict[str, bytes]:
    """Every table and the page of a report of ``review``, with the extract line numbers masked."""
    build_report(review, out, workers=1, on_note=lambda line: None)
    found = {}
    for path in sorted([*(out / "tables").iterdir(), out / "report.html"]):
        text = path.read_text(encoding="utf-8")
        for pattern, mask in zip(LINES, (r"\1:N", "#LN", '"line": N', r"\1,N,"), strict=True):
            text = pattern.sub(mask, text)
        found[path.name] = text.encode()
    return found


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    base = tmp_path_factory.mktemp("order")
    write_review(base / "review", None)
    return base, report_bytes(base / "review", base / "out")


# A report takes seconds: few examples, and no shrinking (a seed is as small as a failure gets).
@settings(max_examples=3, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(seed=st.integers(0, 2**32 - 1))
def test_shuffled_records_and_files_give_a_byte_identical_report(shipped, seed: int) -> None:
    base, expected = shipped
    rnd = random.Random(seed)
    write_review(base / "review", rnd)  # the same path, so the page's links to the extracts agree
    assert load_review(base / "review").ok
    got = report_bytes(base / "review", base / "out")
    assert got.keys() == expected.keys()
    different = [name for name in got if got[name] != expected[name]]
    assert different == []


@pytest.fixture(scope="module")
def shipped_rows():
    review = load_review(STUDIES)
    plan, _ = load_plan(plan_path(STUDIES))
    rows = normalize(review.studies)
    return rows, plan, {a.id: analysis_json(run_analysis(rows, a)) for a in plan.analyses}


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_every_analysis_is_the_same_for_rows_in_any_order(shipped_rows, data) -> None:
    rows, plan, expected = shipped_rows
    shuffled = data.draw(st.permutations(rows))
    for a in plan.analyses:
        got = analysis_json(run_analysis(shuffled, a))
        assert json.loads(got) == json.loads(expected[a.id]), a.id
        assert got == expected[a.id], a.id
