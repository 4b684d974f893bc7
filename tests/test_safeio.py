"""The shared reader refuses links out of the review, special files and oversized files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from metablina.safeio import InputRefused, read_input


def _refused(path: Path, limit: int = 100, inside: Path | None = None) -> str:
    with pytest.raises(InputRefused) as info:
        read_input(path, limit, inside=inside)
    assert "\n" not in info.value.reason
    return info.value.reason


def test_regular_file_inside_is_read_up_to_its_cap(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"x" * 100)
    os.symlink("a.txt", tmp_path / "link.txt")  # a link within the folder is fine
    assert read_input(tmp_path / "a.txt", 100, inside=tmp_path) == b"x" * 100
    assert read_input(tmp_path / "link.txt", 100, inside=tmp_path) == b"x" * 100
    assert "larger than 99 bytes" in _refused(tmp_path / "a.txt", limit=99)


def test_links_leaving_the_folder_are_refused(tmp_path: Path) -> None:
    os.symlink("/proc/self/status", tmp_path / "status.yaml")
    reason = _refused(tmp_path / "status.yaml", limit=1 << 20, inside=tmp_path)
    assert "a link leading outside" in reason and "Name:" not in reason
    (tmp_path / "sub").mkdir()
    (tmp_path / "secret").write_text("s")
    os.symlink("../secret", tmp_path / "sub" / "s.txt")
    assert "a link leading outside" in _refused(tmp_path / "sub" / "s.txt", inside=tmp_path / "sub")


def test_proc_files_are_capped_on_the_bytes_read(tmp_path: Path) -> None:
    # /proc/self/status reports size 0: only the bytes read show it is larger than the cap
    assert os.stat("/proc/self/status").st_size == 0
    assert "larger than 10 bytes" in _refused(Path("/proc/self/status"), limit=10)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: os.mkfifo(p), "a named pipe"),
        (lambda p: os.symlink("/dev/zero", p), "a character device"),
        (lambda p: p.mkdir(), "a folder"),
    ],
)
def test_special_files_are_refused_without_blocking(tmp_path: Path, make, kind: str) -> None:
    make(tmp_path / "x.yaml")
    assert _refused(tmp_path / "x.yaml").startswith(kind)


def test_missing_file_says_so(tmp_path: Path) -> None:
    os.symlink("nowhere", tmp_path / "dangling")
    assert _refused(tmp_path / "dangling") == "cannot read: No such file or directory"
