"""Hostile and broken YAML: each gets one located line, never a traceback, never code run, never a hang."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from metablina.extract.loader import MAX_BYTES, MAX_DEPTH, LoadError, load_yaml


def _load_error(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    with pytest.raises(LoadError) as info:
        load_yaml(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"a: [1, 2\n", "(yaml)"),
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"a: 1\nb: \xff\xfe\n", "not valid UTF-8"),
        (b"a: 1\na: 2\n", "a: key appears twice"),
        (b"a: 1\n---\nb: 2\n", "expected a single document"),
        (b"x: !!python/object/apply:os.system ['echo pwned']\n", "is not allowed"),
        (b"x: !!python/name:os.system\n", "is not allowed"),
        (b"x: !custom 3\n", "is not allowed"),
        (b"a: &x 1\nb: *x\n", "anchors and aliases"),
    ],
)
def test_broken_yaml_gives_one_located_line(tmp_path: Path, content: bytes, expected: str) -> None:
    assert expected in _load_error(tmp_path / "bad.yaml", content)


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 3000 + b"]" * 3000,
        b"{a: " * 3000 + b"1" + b"}" * 3000,
        b"- " * 3000 + b"x\n",
    ],
    ids=["flow-list", "flow-map", "block-list"],
)
def test_deep_nesting_is_one_line_naming_the_file(tmp_path: Path, content: bytes) -> None:
    # PyYAML 6.0.4's libyaml stops flow nesting at 1000 levels in its own words, 6.0.3 does not stop it
    # at all: either way the reader gets one line naming the file and the line, never a RecursionError
    message = _load_error(tmp_path / "deep.yaml", content)
    assert message.startswith(f"{tmp_path}/deep.yaml:")
    assert message.split(":")[1].isdigit()


def test_nesting_is_refused_past_our_own_depth(tmp_path: Path) -> None:
    path = tmp_path / "nested.yaml"
    path.write_bytes(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    load_yaml(path)
    block = "".join(f"{'  ' * i}k{i}:\n" for i in range(MAX_DEPTH + 1)) + "  " * (MAX_DEPTH + 1) + "x\n"
    message = _load_error(path, block.encode())
    assert message == f"{path}:{MAX_DEPTH + 1}: (yaml): nested more than {MAX_DEPTH} levels deep"


def test_error_names_the_line(tmp_path: Path) -> None:
    assert _load_error(tmp_path / "dup.yaml", b"a: 1\nb: 2\nc: 3\nb: 4\n").startswith(
        f"{tmp_path}/dup.yaml:4:"
    )


def test_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    # "billion laughs": nine levels of nine aliases expand to 9**9 nodes if anything walks them.
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    start = time.perf_counter()
    message = _load_error(tmp_path / "bomb.yaml", "\n".join(lines).encode())
    assert "anchors and aliases" in message
    assert time.perf_counter() - start < 5  # generous: the point is that it does not expand 387 million nodes


def test_tags_do_not_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f"x: !!python/object/apply:os.system ['touch {marker}']\n".encode()
    _load_error(tmp_path / "evil.yaml", payload)
    assert not marker.exists()


def test_oversized_file_is_not_read(tmp_path: Path) -> None:
    message = _load_error(tmp_path / "big.yaml", b"a: " + b"x" * (MAX_BYTES + 1))
    assert "larger than" in message


def test_values_keep_lines_and_printed_text(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("id: x\nbinary:\n  percent: 95.0\n  total: 202\nlist:\n  - 1\n")
    doc = load_yaml(path)
    assert doc.data == {"id": "x", "binary": {"percent": 95.0, "total": 202}, "list": [1]}
    assert doc.lines[("binary", "percent")] == 3
    assert doc.texts[("binary", "percent")] == "95.0"
    assert doc.line(("binary", "percent", "missing")) == 3
    assert doc.lines[("list", 0)] == 6


def test_a_date_is_kept_as_typed_text(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("cut: 2022-11-21\nyear: 2022\nmonth: 2022-11\n")
    doc = load_yaml(path)
    assert doc.data == {"cut": "2022-11-21", "year": 2022, "month": "2022-11"}
    assert doc.texts[("cut",)] == "2022-11-21"
