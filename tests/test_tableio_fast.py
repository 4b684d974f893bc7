"""tableio reads a usual table at C speed (all records at once) and anything else record by record: both
readings must give the same rows (the file's line numbers) and cells, or the same one-line refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metablina import tableio
from metablina.tableio import TableError, _Rows


def both_readings(path: Path, width: int, columns: list[int]):
    fast = _Rows(path)
    fast.header()
    slow = _Rows(path)
    slow.header()
    try:
        by_record = slow._body_by_record(width, columns)
    except TableError as exc:
        by_record = str(exc)
    at_once = fast._body_fast(width, columns)
    return at_once, by_record


CELL = st.sampled_from(["0.1", "-2e-3", "", "NA", "x", '"q,1"', '"two\nlines"', "  3 "])
LINE = st.lists(CELL, min_size=2, max_size=4).map(",".join) | st.just("")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, min_size=1, max_size=8), eol=st.sampled_from(["\n", "\r\n"]))
def test_fast_reading_equals_record_by_record(tmp_path: Path, lines: list[str], eol: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(eol.join(["study,yi,vi", *lines]) + eol, encoding="utf-8", newline="")
    at_once, by_record = both_readings(path, 3, [1, 2])
    if at_once is not None:  # declined (a quoted line break, a row of another width): record by record
        assert at_once == by_record


def test_a_quoted_line_break_is_read_record_by_record_with_the_right_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('study,yi,vi\n"a\nb",0.1,0.04\n\nc,0.2,0.05\n', encoding="utf-8")
    at_once, by_record = both_readings(path, 3, [1, 2])
    assert at_once is None
    assert by_record == ([2, 5], [["0.1", "0.2"], ["0.04", "0.05"]])
    table = tableio.read_table(path, "GEN")
    assert table.labels == ["a\nb", "c"] and table.rows.tolist() == [2, 5]


def test_blank_lines_keep_the_file_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\nstudy,yi,vi\n\na,0.1,0.04\r\n,,\nb,0.2,0.05\n\n", encoding="utf-8", newline="")
    assert both_readings(path, 3, [1, 2])[0] == ([4, 6], [["0.1", "0.2"], ["0.04", "0.05"]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("study,yi,vi\na,0.1,0.04\n\nb,0.1\n", "row 4: 2 cells, but the header has 3"),
        ('study,yi,vi\n"a\nb",0.1,0.04\nc,1\n', "row 4: 2 cells, but the header has 3"),
        ("study,yi,vi\na,0.1,0.04\nb," + "1" * 70_000 + ",1\n", "row 3: longer than 65,536 characters"),
    ],
)
def test_refusals_name_the_row_after_the_fast_reading_declines(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TableError, match=message):
        tableio.read_table(path, "GEN")


def test_more_rows_than_the_cap_are_refused_naming_the_row(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tableio, "MAX_ROWS", 3)
    path = tmp_path / "t.csv"
    path.write_text("study,yi,vi\n" + "".join(f"s{i},0.1,0.04\n" for i in range(4)), encoding="utf-8")
    with pytest.raises(TableError, match="row 5: more than 3 data rows"):
        tableio.read_table(path, "GEN")


@pytest.mark.parametrize(
    ("text", "rows", "yi"),
    [
        ("study,yi,vi\na,0.1,0.04\nb,0.2,0.05\nc,0.3,0.06", [2, 3, 4], ["0.1", "0.2", "0.3"]),  # cut at once
        ("study,yi,vi\na,0.1,0.04\n,,\nb,0.2,0.05\n", [2, 4], ["0.1", "0.2"]),  # a row of empty cells
        ("study,yi,vi\na,0.1,0.04\nb,0.2,0.05\n\n", [2, 3], ["0.1", "0.2"]),  # a blank line at the end
    ],
)
def test_plain_text_rows_are_cut_as_csv_would(
    tmp_path: Path, text: str, rows: list[int], yi: list[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    at_once, by_record = both_readings(path, 3, [1, 2])
    assert at_once == by_record and at_once[0] == rows and at_once[1][0] == yi
