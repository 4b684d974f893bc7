"""A figure job, once drawn and saved, leaves nothing of its figure behind in the drawing process."""

from __future__ import annotations

import gc
import importlib
import sys
import tempfile
from pathlib import Path

from matplotlib.figure import Figure

from metablina.render import draw
from metablina.render.draw import FigureJob, draw_figure
from metablina.report import build_model, run_plan

ROOT = Path(__file__).resolve().parents[2]
FUNNEL = {
    "yi": (0.1, 0.4, -0.2),
    "sei": (0.2, 0.3, 0.25),
    "estimate": 0.1,
    "xlabel": "Log odds ratio",
    "exp": True,
    "title": "Funnel plot",
}


def _live_figures() -> int:
    gc.collect()
    return sum(isinstance(o, Figure) for o in gc.get_objects())


def test_every_kind_of_figure_is_freed_after_it_is_saved(tmp_path):
    """A figure worker draws many figures one after another: each must be garbage once saved. The
    labels' shared clip path was once kept in a module-level table keyed by the Axes, which it refers
    to, so every forest plot and spec curve stayed alive (and every collection walked them again)."""
    run = run_plan(ROOT / "studies")
    jobs: list[FigureJob] = []
    build_model(ROOT / "studies", tmp_path / "out", run, on_figure=jobs.append)
    jobs.append(FigureJob("funnel-x", "funnel", FUNNEL, ("png",)))
    cumulative = next(job for job in jobs if job.kind == "cumulative").payload
    left_out = dict(cumulative, full=(0.5, 0.3, 0.7), title="Leave-one-out analysis")
    jobs.append(FigureJob("leave-one-out-x", "leave-one-out", left_out, ("png",)))
    kinds = {job.kind for job in jobs}
    assert kinds == {"forest", "leave-one-out", "cumulative", "speccurve", "funnel"}
    picked = [next(job for job in jobs if job.kind == kind) for kind in sorted(kinds)]
    before = _live_figures()
    for job in picked:
        draw_figure(job, tmp_path)
    assert _live_figures() == before


def test_draw_figure_frees_its_own_figure_and_restores_the_collector(tmp_path):
    """draw_figure pauses automatic collection while it draws and frees the figure's reference cycles
    itself, in one young collection, so a worker's memory does not wait on the collector's schedule."""
    job = FigureJob("funnel-x", "funnel", FUNNEL, ("png",))
    assert gc.isenabled()
    before = _live_figures()
    gc.disable()  # no automatic collection may do the work for it
    try:
        draw_figure(job, tmp_path)
        assert sum(isinstance(o, Figure) for o in gc.get_objects()) == before
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
    draw_figure(job, tmp_path)
    assert gc.isenabled()


def test_warm_up_draws_in_a_folder_it_removes(tmp_path, monkeypatch):
    """The figure server's warm-up draws each common kind in every format (a broken figure kind fails
    here, in CI) and leaves neither files nor figures behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    written: list[list[tuple[str, int]]] = []
    real = draw.draw_figure

    def spy(job: FigureJob, folder: Path) -> list[Path]:
        paths = real(job, folder)
        written.append(sorted((p.suffix, p.stat().st_size) for p in paths))
        return paths

    monkeypatch.setattr(draw, "draw_figure", spy)
    before = _live_figures()
    draw.warm_up()
    assert [[suffix for suffix, _ in files] for files in written] == [[".pdf", ".png", ".svg"], [".svg"]]
    assert all(size > 0 for files in written for _, size in files)
    assert list(tmp_path.iterdir()) == []
    assert _live_figures() == before


def test_the_figure_server_starts_whatever_its_warm_up_does(monkeypatch):
    """multiprocessing's forkserver survives only an ImportError in what it preloads: a warm-up that fails
    must not take the server (and every figure of the run) with it."""

    def broken() -> None:
        raise RuntimeError("no fonts")

    monkeypatch.setattr(draw, "warm_up", broken)
    monkeypatch.delitem(sys.modules, "metablina._warm_figure_server", raising=False)
    importlib.import_module("metablina._warm_figure_server")  # does not raise
