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

No process of a run outlives its main process, however that ends (``kill -9`` included): every worker
starts with :func:`die_with`, the figure server gets SIGKILL when its parent dies (Linux; elsewhere it
stops once no process holds its pipe, as multiprocessing's resource tracker does). SIGINT and SIGTERM
stop the command line through :func:`stop_on_signals`, which turns them into an exception, so that the
run cleans up as after any failure and exits with one line.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Executor, ProcessPoolExecutor

# What a figure worker needs: everything draw_figure imports for the report's figures (no scipy, no
# pydantic, no matplotlib figure machinery: they are drawn straight into Skia by metablina.render.marks).
# PNGs are written by metablina.render.skiafig itself, so Pillow's image plugins are not needed.
FIGURE_MODULES = (
    "metablina.render.draw",
    "metablina.render.marks",
)

_server_started = False

# glibc's malloc gives freed blocks of more than 128 KiB back to the kernel (munmap, or trimming the top of
# the heap) and faults fresh pages in when numpy asks again a moment later: in the GLMM refits of a
# 200-study report that was 3.3 million page faults and 7 s of system time in 24 s. Fixed thresholds keep
# blocks up to 32 MiB (glibc's own dynamic limit) in the heap, and up to 128 MiB free at its top.
MALLOC_SETTINGS = {"MALLOC_MMAP_THRESHOLD_": 32 << 20, "MALLOC_TRIM_THRESHOLD_": 128 << 20}
_MALLOPT = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3}  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD


def tune_malloc() -> None:
    """Apply :data:`MALLOC_SETTINGS` to this process (``mallopt``) and to the processes it starts (their
    environment, which glibc reads at start-up); a setting already in the environment is the user's and
    is kept. Only where the C library has ``mallopt`` (glibc): elsewhere nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this interpreter runs on
    except (OSError, AttributeError):  # e.g. musl: no mallopt
        return
    for name, value in MALLOC_SETTINGS.items():
        if name not in os.environ:
            os.environ[name] = str(value)
            mallopt(_MALLOPT[name], value)


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
    """Start the figure server now, so that it imports the plotting modules in the background and draws
    a figure of each common kind (:mod:`metablina._warm_figure_server`) for its workers to start warm.
    Only for a main module that metablina owns (the command line): see the module's docstring."""
    global _server_started
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    preload = ["metablina._die_with_parent", *FIGURE_MODULES, "metablina._warm_figure_server"]
    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    from multiprocessing import forkserver

    # Started with SIGINT ignored, which it keeps and hands on to the workers: Ctrl-C reaches every
    # process of the run, and is the main process's to handle (in the server's imports it would
    # print a traceback).
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, handler)
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


# ------------------------------------------------------------------------------------- process lifecycle


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM reached the main process of the command line."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Raise :class:`Interrupted` in the main process at the first SIGINT or SIGTERM, and ignore both
    from then on, so that neither a second Ctrl-C during the clean-up nor one during the interpreter's
    exit prints a traceback (for the command line, whose process ends then). Without a signal the
    handlers are restored when the block ends."""
    stopped = []

    def stop(signum: int, _frame: object) -> None:
        stopped.append(signum)
        _ignore_stop_signals()
        raise Interrupted(signum)

    handlers = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        if not stopped:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)


def _ignore_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def stop_now(pool: Executor) -> None:
    """Stop a process pool whose results are no longer wanted (Ctrl-C, a failure): cancel what has
    not started and end the workers, rather than wait for what they are computing. Python 3.14 has
    ``terminate_workers`` for this; before it the pool's processes are a private attribute."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def forked_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes forked from this one (they need only what it has imported), each
    ending when this process ends (:func:`die_with`)."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, multiprocessing.get_context("fork"), die_with, (os.getpid(),))


@contextlib.contextmanager
def beside(task: Callable[[], object], fork: bool) -> Iterator[None]:
    """Run ``task`` in a process forked from this one while the block runs here, and wait for it at the
    block's end, raising what it raised; without ``fork`` (or where there is none) run it here first.

    The child inherits everything (nothing is pickled to it), so this process must have one thread when
    the block starts. On a failure or Ctrl-C in the block the child is ended at once."""
    if not (fork and can_fork()):
        task()
        yield
        return
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    parent = os.getpid()

    def child() -> None:
        die_with(parent)
        try:
            task()
        except BaseException as exc:  # handed to the parent, which raises it
            send.send(_portable(exc))
        else:
            send.send(None)

    with gc_frozen():
        process = context.Process(target=child, daemon=True)
        process.start()
    send.close()
    try:
        yield
        try:
            error = receive.recv()
        except EOFError:  # it ended without a word
            process.join()
            error = RuntimeError(f"a worker process ended with code {process.exitcode} before its task did")
        process.join()
    except BaseException:
        process.terminate()
        process.join()
        raise
    finally:
        receive.close()
    if error is not None:
        raise error


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it can be pickled back to the parent, else a RuntimeError saying what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


@contextlib.contextmanager
def gc_frozen() -> Iterator[None]:
    """Keep the garbage collector off this process's objects while workers are forked: a collection in
    a worker would otherwise write to (and so copy) every page holding a tracked object."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def shut_down_after(pool: Executor | None) -> Iterator[Executor | None]:
    """Use ``pool`` (None: nothing to do) and shut it down after, waiting for its work; on a failure or
    Ctrl-C end its workers at once (:func:`stop_now`) rather than wait for what they compute."""
    try:
        yield pool
    except BaseException:
        if pool is not None:
            stop_now(pool)
        raise
    if pool is not None:
        pool.shutdown()


def die_with(parent: int) -> None:
    """Initializer of every worker process: end this worker as soon as process ``parent`` (the run's
    main process) ends, so that no worker outlives a run that was killed; leave Ctrl-C, which a
    terminal sends to every process of the run, to the main process, which stops the workers itself
    (with SIGTERM, which ends a worker without a word).

    A worker forked by ``parent`` asks the kernel for SIGKILL at its death (Linux's
    PR_SET_PDEATHSIG); one forked by the figure server (whose own death would be too late) watches
    ``parent`` from a thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the handler a forked worker inherits
    if os.getppid() == parent and kill_me_when_parent_dies():
        if os.getppid() != parent:  # the parent died before the request was made
            os._exit(1)
        return
    threading.Thread(target=_exit_when_ended, args=(parent,), daemon=True, name="die-with").start()


def kill_me_when_parent_dies() -> bool:
    """Ask Linux to send SIGKILL to this process when its parent dies; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _exit_when_ended(pid: int) -> None:
    """Wait for process ``pid`` to end (on a pidfd where Linux has them, else by polling), then end
    this process."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # not Linux 5.3 or later
        while running(pid):
            time.sleep(0.2)
    else:
        select.select([pidfd], [], [])
    os._exit(1)


def running(pid: int) -> bool:
    """Whether process ``pid`` exists (POSIX: on Windows signal 0 would end it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
