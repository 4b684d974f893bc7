"""Worker processes for ``metablina report``, and the figure server they can be forked from.

The analyses run in processes forked from the main one (they need only what it has imported). The
figures are drawn in worker processes too, forked either

* from a *figure server* (a multiprocessing forkserver that imports the plotting modules once), which
  the command line starts first thing: the server does that import on the CPU the main process leaves
  idle while it imports the statistics and reads the extracts, and the main process never imports
  matplotlib at all; or
* from the main process, for a caller of :func:`metablina.report.build_report` from Python: a
  forkserver re-imports the caller's main module in every worker, which a script without an
  ``if __name__ == "__main__":`` guard does not survive, so it is used only where metablina owns the
  main module. The main process then imports the plotting modules while the analyses run.

Where there is no fork (Windows) the figures are drawn in the main process. This module imports
nothing heavy, so that the command line can start the server before anything else.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.context import BaseContext

# What a figure worker needs: everything draw_figure imports (no scipy, no pydantic), and the image
# plugins Pillow imports on its first save.
FIGURE_MODULES = (
    "metablina.render.draw",
    "metablina.render.forest",
    "metablina.render.plots",
    *(f"PIL.{name}ImagePlugin" for name in ("Bmp", "Gif", "Jpeg", "Ppm", "Png")),
)

_server_started = False


def default_workers() -> int:
    """The CPUs this process may use, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def start_figure_server() -> None:
    """Start the figure server now, so that it imports the plotting modules in the background. Only for
    a main module that metablina owns (the command line): see the module's docstring."""
    global _server_started
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(FIGURE_MODULES))
    from multiprocessing import forkserver

    forkserver.ensure_running()
    _server_started = True


def figure_context() -> BaseContext | None:
    """Where figure workers start from: the figure server if it was started, else a fork of this
    process, else None (draw in this process)."""
    if _server_started:
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("fork") if can_fork() else None


def prepare_figure_workers() -> None:
    """Without a figure server, import the plotting modules here, so that forked workers have them."""
    if not _server_started and can_fork():
        import importlib

        for name in FIGURE_MODULES:
            importlib.import_module(name)
