"""`metablina report` run in a subprocess, for the tests that interrupt it: a small review, the moments
to interrupt a run at, and the processes a run leaves behind."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from metablina.reportfolder import MARKER, MARKER_TEXT
from tests.test_report import STUDIES, files

TOKEN = "METABLINA_TEST_RUN"  # in the environment of every process of a run, whatever its group
SMALL_PLAN = ("hsct", "neuro-grade3", "efs-hazard-ratio")  # two of them pool (k = 2), with Bayesian fits

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")


def small_review(folder: Path) -> Path:
    """The shipped review with three analyses of three outcomes: every kind of process a report
    starts (analysis workers, the figure server and its workers), in less time."""
    shutil.copytree(STUDIES, folder)
    path = folder / "analyses.yaml"
    plan = yaml.safe_load(path.read_text(encoding="utf-8"))
    plan["analyses"] = [a for a in plan["analyses"] if a["id"] in SMALL_PLAN]
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return folder


def previous_report(out: Path) -> dict[str, bytes]:
    """Make ``out`` a previous report (it has the marker) whose files no run writes, and return them."""
    shutil.rmtree(out, ignore_errors=True)
    (out / "figures").mkdir(parents=True)
    (out / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    (out / "report.html").write_text("the previous report", encoding="utf-8")
    (out / "figures" / "previous.svg").write_text("<svg/>", encoding="utf-8")
    return files(out)


def start_report(review: Path, out: Path, token: str) -> subprocess.Popen:
    """`metablina report` in a session of its own (its process group is its pid, as a terminal's
    foreground job), its output in files beside ``out`` (a pipe would wait for every process holding
    it)."""
    log = out.parent.parent / token
    with log.with_suffix(".out").open("w") as stdout, log.with_suffix(".err").open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "metablina", "report", "--studies", str(review), "--out", str(out)],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, TOKEN: token},
            cwd=out.parent.parent,
        )


def stderr_of(proc: subprocess.Popen, out: Path, token: str) -> str:
    proc.wait(timeout=120)
    return (out.parent.parent / f"{token}.err").read_text(encoding="utf-8")


def wait_for(moment: str, proc: subprocess.Popen, out: Path, rng: random.Random) -> None:
    """Return at ``moment`` of the run: "start" (a random time in its first second: imports, the
    figure server starting, the extracts read), "analyses" (the analysis workers are running),
    "figures" (its temporary folder holds a figure, the figure workers are busy) or "swap" (its page
    is written: the swap comes next), plus a random delay; or when the run has ended."""
    if moment == "start":
        time.sleep(rng.uniform(0.05, 1.0))
        return
    if moment == "analyses":  # the main process has forked its analysis workers (same command line)
        while proc.poll() is None and len(_same_command(proc.pid)) < 2:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.2))
        return
    pattern, delay = {"figures": ("figures/*", 0.02), "swap": ("report.html", 0.005)}[moment]
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if any(out.parent.glob(f"{out.name}.tmp-*/{pattern}")):
            time.sleep(rng.uniform(0, delay))
            return
        time.sleep(0.002)


def processes_left(pgid: int, token: str, grace: float = 5.0) -> list[str]:
    """The processes of a run still alive ``grace`` seconds after its main process ended: those of its
    process group, and any carrying its token in the environment (one that left the group). They are
    killed, so that a failing test leaves nothing running either."""
    deadline = time.monotonic() + grace
    entry = f"{TOKEN}={token}\0".encode()
    while True:
        left = [p for p in _processes() if p[1] == pgid or entry in p[2]]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid, *_ in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return [f"{pid} {cmdline}" for pid, _, _, cmdline in left]


def _same_command(pid: int) -> list[int]:
    """The processes of ``pid``'s group running its command line: it and the workers it forked."""
    found = {p[0]: p for p in _processes() if p[1] == pid}
    return [p for p, (_, _, _, cmdline) in found.items() if pid in found and cmdline == found[pid][3]]


def _processes() -> list[tuple[int, int, bytes, str]]:
    """(pid, process group, environment, command line) of every live process (zombies are dead)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            state, _ppid, pgrp = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[:3]
            environ = Path(entry.path, "environ").read_bytes()
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        except (OSError, ValueError):
            continue
        if state != "Z":
            found.append((int(entry.name), int(pgrp), environ, cmdline))
    return found
