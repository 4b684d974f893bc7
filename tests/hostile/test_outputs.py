"""Hostile output folders and interruptions of `metablina report`.

`--out` must never be, hold or lie inside the review folder (by name, through a link, by identity),
nor be a folder of extracts, the current folder, or a folder that is not a previous report (one with
the marker file every report has): each is refused with one line, exit 1, nothing touched. Ctrl-C and
SIGTERM stop a run with one line and leave the previous report; no process of a run outlives it, killed
with SIGKILL included.

The `--out` checks come before anything is read, so they run in this process (`--jobs 1`: no figure
server); the cases that could hang or where processes matter run the command line in a subprocess
with a timeout.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from metablina.cli import main
from metablina.reportfolder import MARKER, MARKER_TEXT
from tests.report_runs import (
    TOKEN,
    needs_proc,
    previous_report,
    processes_left,
    small_review,
    start_report,
    stderr_of,
    wait_for,
)
from tests.test_report import STUDIES, files

EXTRACT = "bch-infant-2025.yaml"


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every link's target under ``folder`` (links not followed)."""
    found: dict[str, bytes | str] = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = Path(root, name)
            key = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[key] = f"-> {os.readlink(path)}"
            elif path.is_file():
                found[key] = path.read_bytes()
            else:
                found[key] = "dir"
    return found


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


def _folder(path: Path, contents: dict[str, str]) -> Path:
    path.mkdir()
    for name, text in contents.items():
        (path / name).write_text(text, encoding="utf-8")
    return path


# case -> (what --out is, made from the review and the working folder; the words of the refusal)
CASES = {
    "the review": (lambda r, w: r, "is the review folder or lies in it"),
    "inside the review": (lambda r, w: r / "outputs", "is the review folder or lies in it"),
    "the review's sources": (lambda r, w: r / "sources", "is the review folder or lies in it"),
    "holding the review": (lambda r, w: r.parent, "holds the review folder"),
    "a link to the review": (lambda r, w: _link(w / "link", r), "is the review folder or lies in it"),
    "a path through a link": (
        lambda r, w: _link(w / "link", r) / "outputs",
        "is the review folder or lies in it",
    ),
    "the current folder": (lambda r, w: Path("."), "is the current folder or holds it"),
    "holding the current folder": (lambda r, w: Path(".."), "is the current folder or holds it"),
    "a dangling link": (lambda r, w: _link(w / "gone", w / "nowhere"), "which does not exist"),
    "under a file": (lambda r, w: _folder(w / "x", {"notes.txt": ""}) / "notes.txt" / "out", "is a file"),
    "a 250-character name": (lambda r, w: w / ("o" * 250), "bytes long; at most 223"),
    "a folder of extracts": (
        lambda r, w: _folder(w / "mine", {EXTRACT: (r / EXTRACT).read_text()}),
        f"holds study extracts ({EXTRACT})",
    ),
    "a folder holding a plan": (
        lambda r, w: _folder(w / "mine", {"analyses.yaml": "analyses: []\n"}),
        "holds study extracts (analyses.yaml)",
    ),
    "a page without the marker": (
        lambda r, w: _folder(w / "mine", {"report.html": "<html>", "notes.txt": "mine"}),
        "is not a metablina report folder (no .metablina-report file)",
    ),
    "a report holding extracts": (
        lambda r, w: _folder(w / "mine", {MARKER: MARKER_TEXT, "study.yml": "id: x\n"}),
        "holds study extracts (study.yml)",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_an_out_that_must_not_be_written_is_refused_in_one_line(tmp_path: Path, monkeypatch, case) -> None:
    review = tmp_path / "review"
    shutil.copytree(STUDIES, review)
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    make, words = CASES[case]
    out = make(review, work)
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, ["report", "--studies", str(review), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: --out") and words in line, line
    assert snapshot(tmp_path) == before


def test_pipes_and_devices_named_like_extracts_do_not_hang_the_check(tmp_path: Path) -> None:
    review = small_review(tmp_path / "review")
    out = tmp_path / "mine"
    out.mkdir()
    os.mkfifo(out / "pipe.yaml")
    (out / "zero.yaml").symlink_to("/dev/zero")
    done = subprocess.run(
        [sys.executable, "-m", "metablina", "report", "--studies", str(review), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=30,  # a pipe read would block for ever, /dev/zero read whole exhaust the memory
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)),
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"error: --out {out} exists and is not a metablina report folder (no {MARKER} file); "
        "not replacing it: move it away or choose another --out"
    ]


# ---------------------------------------------------------------------------------------- interruptions


@needs_proc
@pytest.mark.parametrize(
    ("signum", "moment", "whom"),
    [(signal.SIGINT, "figures", "group"), (signal.SIGTERM, "analyses", "main")],
    ids=["ctrl-c-while-drawing", "sigterm-while-analysing"],
)
def test_an_interrupted_run_stops_with_one_line_and_leaves_the_previous_report(
    tmp_path: Path, signum: int, moment: str, whom: str
) -> None:
    # Ctrl-C goes to every process of the terminal's foreground job; SIGTERM (`kill`) to one
    review = small_review(tmp_path / "review")
    out = tmp_path / "work" / "outputs"
    before = previous_report(out)
    token = f"{moment}-{os.getpid()}"
    run = start_report(review, out, token)
    try:
        wait_for(moment, run, out, random.Random(7))
        assert run.poll() is None, "the run ended before it could be interrupted"
        if whom == "group":
            os.killpg(run.pid, signum)
        else:
            os.kill(run.pid, signum)
        err = stderr_of(run, out, token)
    finally:
        run.kill()
        left = processes_left(run.pid, token)
    name = signal.Signals(signum).name
    assert err == f"interrupted by {name}: stopped, no folder left half-written\n"
    assert run.returncode == 128 + signum
    assert os.listdir(out.parent) == ["outputs"]
    assert files(out) == before
    assert left == []


WORKERS = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from metablina import workers
if sys.argv[1] == "forkserver":
    workers.start_figure_server()
context = workers.figure_context() if sys.argv[1] == "forkserver" else multiprocessing.get_context("fork")
pool = ProcessPoolExecutor(2, context, workers.die_with, (os.getpid(),))
list(pool.map(time.sleep, [0.3, 0.3]))  # both workers started
print("ready", flush=True)
time.sleep(120)
"""


@needs_proc
@pytest.mark.parametrize("start", ["fork", "forkserver"])
def test_workers_die_with_a_killed_main_process(tmp_path: Path, start: str) -> None:
    # The analysis workers are forked from the main process, the figure workers from the figure
    # server: both, and the server and multiprocessing's resource tracker, end with a SIGKILLed main
    token = f"workers-{start}-{os.getpid()}"
    main_process = subprocess.Popen(
        [sys.executable, "-c", WORKERS, start],
        start_new_session=True,
        stdout=subprocess.PIPE,
        env={**os.environ, TOKEN: token},
    )
    try:
        assert main_process.stdout.readline() == b"ready\n"
    finally:
        main_process.kill()
        main_process.wait(timeout=30)
        main_process.stdout.close()
    assert processes_left(main_process.pid, token) == []


@needs_proc
def test_the_figure_server_dies_with_a_main_process_killed_during_its_imports(tmp_path: Path) -> None:
    # The server stops by itself only once it has imported the plotting modules (seconds); killed
    # while it imports them, it must end with its parent at once
    token = f"server-{os.getpid()}"
    code = "from metablina import workers; workers.start_figure_server(); print(flush=True); input()"
    main_process = subprocess.Popen(
        [sys.executable, "-c", code],
        start_new_session=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, TOKEN: token},
    )
    try:
        main_process.stdout.readline()
        server = _child_importing(main_process.pid, "matplotlib")
        main_process.kill()
        main_process.wait(timeout=30)
    finally:
        main_process.kill()
        main_process.stdin.close()
        main_process.stdout.close()
    assert processes_left(main_process.pid, token, grace=0.5) == [], f"server {server}"


def _child_importing(pid: int, package: str) -> int:
    """The child of ``pid`` that has begun to import ``package`` (its libraries are mapped)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for entry in os.scandir("/proc"):
            try:
                if not entry.name.isdigit():
                    continue
                ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == pid and f"/{package}/" in Path(entry.path, "maps").read_text():
                    return int(entry.name)
            except (OSError, ValueError):
                continue
        time.sleep(0.005)
    raise AssertionError(f"no child of {pid} imported {package}")
