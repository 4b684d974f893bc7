"""The split between processes that the report's speed rests on: what each side imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def imported_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running ``code``."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_figure_workers_need_neither_scipy_nor_pydantic_nor_matplotlibs_figures():
    # the figure server preloads these; anything heavier would slow every report's start (the report's
    # figures are drawn straight into Skia, without matplotlib's figures, axes and backends)
    preload = "import importlib\nfrom metablina.workers import FIGURE_MODULES\nfor m in FIGURE_MODULES: importlib.import_module(m)"
    loaded = imported_after(preload)
    assert {"matplotlib", "skia"} <= loaded
    assert not loaded & {"scipy", "pydantic", "yaml", "pandas", "jinja2"}
    machinery = ("matplotlib.figure", "matplotlib.axes", "matplotlib.backend_bases")
    probe = preload + f"\nimport sys\nprint([m for m in {machinery!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_main_process_makes_the_whole_report_model_without_matplotlib(tmp_path):
    # the plan, the figure jobs, the tables and the page: nothing there may pull matplotlib in
    loaded = imported_after(
        "from pathlib import Path\n"
        "import metablina.report as r\n"
        "from metablina.render.report import render_page\n"
        "from metablina.render.report_tables import write_tables\n"
        f"run = r.run_plan(Path({str(STUDIES)!r}))\n"
        f"jobs = []\nmodel = r.build_model(Path({str(STUDIES)!r}), Path({str(tmp_path)!r}), run, "
        "on_figure=jobs.append)\n"
        f"write_tables(model, Path({str(tmp_path)!r}))\n"
        # 20 forest plots, 2 cumulative plots, 3 spec curves; no funnel plot (none below k = 10)
        "assert len(jobs) == 27 and '<html' in render_page(model)"
    )
    assert "scipy" in loaded and "matplotlib" not in loaded and "skia" not in loaded


CHURN = """
import os, resource, sys
import numpy as np
{setup}
x = np.linspace(0.0, 1.0, 300_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):  # the GLMM's pattern: arrays of a few MB made and freed in turn
    a = np.exp(x); b = a * 2.0; c = np.log1p(b); del a, b
    d = np.sqrt(c); del c, d
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(os.environ.get("MALLOC_MMAP_THRESHOLD_"), os.environ.get("MALLOC_TRIM_THRESHOLD_"))
"""


def _churn(setup: str, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-c", CHURN.format(setup=setup)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    faults, settings = done.stdout.strip().splitlines()
    return int(faults), settings


def test_the_command_line_keeps_numpys_temporaries_in_the_heap():
    """Importing the command line sets glibc's malloc thresholds (for itself and, through the environment,
    for the processes it starts): freeing and making a few 2.4 MB arrays in turn then reuses the heap,
    where by default each one faults its pages in afresh (about 100,000 page faults here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    default, unset = _churn("", env)
    if not sys.platform.startswith("linux") or default < 50_000:
        pytest.skip(f"this C library does not return freed blocks to the kernel here ({default} faults)")
    tuned, settings = _churn("import metablina.cli", env)
    assert unset == "None None" and settings == f"{32 << 20} {128 << 20}"
    assert tuned < default / 10
    _, settings = _churn("import metablina.cli", {**env, "MALLOC_TRIM_THRESHOLD_": "1048576"})
    assert settings == f"{32 << 20} 1048576"  # the user's own setting is kept


def test_extracts_read_by_forked_workers_give_the_review_read_in_one_process(tmp_path):
    """The report reads the extracts in its worker processes (load_review's ``map_files``): the same
    studies, problems and unchecked quotes, in the same order, as one process reading them one by one;
    here with a file that is not YAML, one the schema refuses and one with a wrong number among them."""
    import shutil
    from functools import partial

    from metablina.extract.validate import load_review
    from metablina.workers import forked_pool

    folder = tmp_path / "review"
    shutil.copytree(STUDIES, folder)
    (folder / "aaa-broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    (folder / "zzz-unknown-key.yaml").write_text("id: zzz\nnot_a_field: 1\n", encoding="utf-8")
    infant = folder / "bch-infant-2025.yaml"
    text = infant.read_text(encoding="utf-8")
    assert "  female: 7\n" in text  # 7 of 11 is the 63.6% quoted: 8 is not
    infant.write_text(text.replace("  female: 7\n", "  female: 8\n", 1), encoding="utf-8")
    alone = load_review(folder)
    with forked_pool(2) as pool:
        side_by_side = load_review(folder, map_files=partial(pool.map, chunksize=1))
    assert len(alone.problems) >= 3
    assert [str(p) for p in side_by_side.problems] == [str(p) for p in alone.problems]
    assert [str(p) for p in side_by_side.notes] == [str(p) for p in alone.notes]
    assert [s.study for s in side_by_side.studies] == [s.study for s in alone.studies]
    assert [s.doc.lines for s in side_by_side.studies] == [s.doc.lines for s in alone.studies]


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_a_task_beside_runs_in_a_forked_process_and_is_waited_for(tmp_path):
    """``beside`` runs its task in a child (which inherits what it needs, here a path) while the block
    runs: its file is there when the block has ended, and written by another process."""
    from metablina.workers import beside

    out = tmp_path / "pid.txt"
    with beside(lambda: _write(out, str(os.getpid())), fork=True):
        pass
    assert out.read_text() not in ("", str(os.getpid()))
    with beside(lambda: _write(out, str(os.getpid())), fork=False):
        assert out.read_text() == str(os.getpid())  # run here, before the block


def test_what_a_task_beside_raises_is_raised_at_the_end_of_the_block():
    from metablina.workers import beside

    def fail() -> None:
        raise ValueError("tables: disk full")

    with pytest.raises(ValueError, match="tables: disk full"), beside(fail, fork=True):
        pass
    with pytest.raises(RuntimeError, match="ended with code 3"), beside(lambda: os._exit(3), fork=True):
        pass


def test_a_failure_in_the_block_ends_the_task_beside_at_once(tmp_path):
    import time

    from metablina.workers import beside

    out = tmp_path / "late.txt"

    def slow() -> None:
        time.sleep(5)
        _write(out, "written")

    start = time.monotonic()
    with pytest.raises(KeyError), beside(slow, fork=True):
        raise KeyError("the page")
    assert time.monotonic() - start < 3 and not out.exists()
