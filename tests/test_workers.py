"""The split between processes that the report's speed rests on: what each side imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def imported_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running ``code``."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_figure_workers_need_neither_scipy_nor_pydantic():
    # the figure server preloads these; anything heavier would slow every report's start
    loaded = imported_after(
        "import importlib\nfrom metablina.workers import FIGURE_MODULES\n"
        "for m in FIGURE_MODULES: importlib.import_module(m)"
    )
    assert {"matplotlib", "skia", "PIL"} <= loaded
    assert not loaded & {"scipy", "pydantic", "yaml", "pandas", "jinja2"}


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
