"""The report's promise: after any failure, at any step, `outputs/` is as it was (or, once the swap is
done, the complete new report), and nothing is left beside it.

Every move of the final swap fails in turn (once, and from then on: a disk that went away), by an
error or by Ctrl-C, with the exchange of two folders and with two renames; a whole report fails at its
swap; a real `metablina report` is killed with SIGKILL at random moments. Runs that were killed leave
temporary folders, which the next run removes (and says so).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from metablina import reportfolder
from metablina.report import build_report
from metablina.reportfolder import MARKER, MARKER_TEXT, clean_stale, discard, is_report, replacing
from tests.report_runs import (
    needs_proc,
    previous_report,
    processes_left,
    small_review,
    start_report,
    stderr_of,
    wait_for,
)
from tests.test_report import files

NEW = {"report.html": b"the new report", "figures/forest.svg": b"<svg>new</svg>"}
NEW_FILES = {MARKER: MARKER_TEXT.encode(), **NEW}


def write(folder: Path, contents: dict[str, bytes]) -> None:
    for name, data in contents.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def a_dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


class Moves:
    """The swap's moves (os.rename, and reportfolder.exchange where the system can exchange), failing
    with ``error`` at the ``fail_at``-th move, and at every later one unless ``once``."""

    def __init__(self, monkeypatch, fail_at: int, once: bool, error: BaseException, exchange: bool):
        self.monkeypatch, self.count = monkeypatch, 0
        real_rename, real_exchange = os.rename, reportfolder.exchange

        def step() -> None:
            self.count += 1
            if self.count == fail_at or (not once and self.count > fail_at):
                raise error

        def rename(a, b) -> None:
            step()
            real_rename(a, b)

        def try_exchange(a, b) -> bool:
            if not exchange:
                return False
            step()
            return real_exchange(a, b)

        monkeypatch.setattr(os, "rename", rename)
        monkeypatch.setattr(reportfolder, "exchange", try_exchange)

    def undo(self) -> None:
        self.monkeypatch.undo()


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
@pytest.mark.parametrize("error", [OSError("injected"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
@pytest.mark.parametrize("once", [True, False], ids=["once", "from-then-on"])
def test_a_failure_at_every_move_of_the_swap_leaves_the_previous_report(
    tmp_path: Path, monkeypatch, exchange: bool, error: BaseException, once: bool
) -> None:
    out = tmp_path / "outputs"
    for fail_at in itertools.count(1):
        before = previous_report(out)
        moves = Moves(monkeypatch, fail_at, once, error, exchange)
        try:
            with replacing(out) as tmp:
                write(tmp, NEW)
        except (OSError, KeyboardInterrupt):
            moves.undo()
        else:  # fail_at is past the last move: the swap was done
            moves.undo()
            assert files(out) == NEW_FILES
            assert os.listdir(tmp_path) == ["outputs"]
            break
        if not out.exists():  # the old report could not be put back: the next run does it
            assert (exchange, once) == (False, False)
            monkeypatch.setattr(reportfolder, "running", lambda pid: False)  # as seen by the next run
            (line,) = clean_stale(out)
            assert re.fullmatch(
                rf"note: put {re.escape(str(out))} back from outputs\.tmp-\d+-\w+-old, .*", line
            )
            monkeypatch.undo()
        assert files(out) == before, f"move {fail_at} failed: outputs changed"
        assert os.listdir(tmp_path) == ["outputs"], f"move {fail_at} failed: a folder was left"
    assert fail_at - 1 == (1 if exchange else 2)  # every move of the swap was made to fail


def test_a_first_report_that_cannot_be_moved_in_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "outputs"
    Moves(monkeypatch, 1, True, OSError("injected"), True)
    with pytest.raises(OSError, match="injected"), replacing(out) as tmp:
        write(tmp, NEW)
    assert os.listdir(tmp_path) == []


def test_a_failure_while_writing_leaves_the_previous_report(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    before = previous_report(out)
    with pytest.raises(KeyboardInterrupt), replacing(out) as tmp:
        write(tmp, NEW)
        raise KeyboardInterrupt
    assert files(out) == before
    assert os.listdir(tmp_path) == ["outputs"]


def test_a_removal_cut_short_never_leaves_a_folder_that_passes_for_a_report(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "outputs.tmp-1-abcd"
    previous_report(folder)
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)  # killed before it removed anything
    discard(folder)
    assert folder.is_dir() and not is_report(folder)


def test_only_a_folder_with_the_marker_is_a_report(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text("anyone's page", encoding="utf-8")
    assert not is_report(tmp_path)
    (tmp_path / MARKER).write_text("metablina-report 1\n", encoding="utf-8")
    assert is_report(tmp_path)
    (tmp_path / MARKER).write_text("something else\n", encoding="utf-8")
    assert not is_report(tmp_path)


# ------------------------------------------------------------------------------ what killed runs left


def test_the_next_run_removes_the_folders_of_killed_runs_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    before = previous_report(out)
    dead = a_dead_pid()
    stale = [tmp_path / f"outputs.tmp-{dead}-0a1b2c3d", tmp_path / f"outputs.tmp-{dead}-9f8e7d6c-old"]
    for folder in stale:
        previous_report(folder)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not ours", encoding="utf-8")
    kept = {
        f"outputs.tmp-{os.getpid()}-a1b2c3d4": "dir",  # a run still going (this process)
        "outputs.tmp-notes": "dir",  # not a name of ours
        "outputs-old": "dir",
        f"outputs.tmp-{dead}-0123abcd.txt": "file",
        f"outputs.tmp-{dead}-5a5a5a5a": "link",  # a symlink to a folder elsewhere is not followed
    }
    for name, kind in kept.items():
        path = tmp_path / name
        {"dir": path.mkdir, "file": path.touch, "link": lambda p=path: p.symlink_to(elsewhere)}[kind]()
    (line,) = clean_stale(out)
    names = ", ".join(p.name for p in stale)
    assert line == f"note: removed 2 temporary folder(s) left by killed runs: {names}"
    assert sorted(os.listdir(tmp_path)) == sorted(["outputs", "elsewhere", *kept])
    assert files(out) == before and (elsewhere / "keep.txt").exists()
    assert clean_stale(out) == []


def test_a_run_killed_between_its_two_renames_gets_its_previous_report_back(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    dead = a_dead_pid()
    aside, new = tmp_path / f"outputs.tmp-{dead}-0a1b2c3d-old", tmp_path / f"outputs.tmp-{dead}-0a1b2c3d"
    before = previous_report(aside)
    write(new, NEW_FILES)
    put_back, removed = clean_stale(out)
    assert put_back.startswith(f"note: put {out} back from {aside.name}")
    assert removed == f"note: removed 1 temporary folder(s) left by killed runs: {new.name}"
    assert files(out) == before
    assert os.listdir(tmp_path) == ["outputs"]


# ------------------------------------------------------------------------------------- whole reports


def test_a_report_whose_final_swap_fails_leaves_the_previous_report(tmp_path: Path, monkeypatch) -> None:
    review = small_review(tmp_path / "review")
    out = tmp_path / "work" / "outputs"
    before = previous_report(out)

    def fail(a, b):
        raise OSError("injected at the swap")

    monkeypatch.setattr(reportfolder, "exchange", fail)
    with pytest.raises(OSError, match="injected at the swap"):
        build_report(review, out, workers=2)
    assert files(out) == before
    assert os.listdir(out.parent) == ["outputs"]


@needs_proc
def test_kill_9_at_random_moments_leaves_the_old_or_the_complete_new_report(tmp_path: Path) -> None:
    # Killed while starting, while the analyses run, while the figures are drawn, and around the swap
    # (the page is written just before it): afterwards outputs/ is the previous report or the complete new one, and no
    # process of the run is alive. The next run removes what the killed runs left, and says so.
    review = small_review(tmp_path / "review")
    out = tmp_path / "work" / "outputs"
    rng = random.Random(15)
    before, seen, strays = {}, [], []
    for i, moment in enumerate(["start", "analyses", "swap", "figures", "swap", "figures"]):
        before = previous_report(out)
        token = f"kill-{i}-{os.getpid()}"
        run = start_report(review, out, token)
        try:
            wait_for(moment, run, out, rng)
        finally:
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=60)
            left = processes_left(run.pid, token)
        assert left == [], f"kill at {moment}: processes left"
        after = files(out)
        assert after == before or (MARKER in after and "report.html" in after), f"kill at {moment}"
        seen.append(after)
        # looked at before the next run starts: each run removes what the killed runs before it left
        strays += [p.name for p in out.parent.iterdir() if p.name != "outputs"]
    assert strays, "no kill left a temporary folder: the moments missed the run"
    left = sorted(p.name for p in out.parent.iterdir() if p.name != "outputs")
    token = f"next-{os.getpid()}"
    run = start_report(review, out, token)
    err = stderr_of(run, out, token)
    assert run.returncode == 0, err
    removed = f"note: removed {len(left)} temporary folder(s) left by killed runs: {', '.join(left)}\n"
    assert err == (removed if left else "")
    assert os.listdir(out.parent) == ["outputs"]
    complete = files(out)
    assert all(after in (before, complete) for after in seen)  # byte for byte
