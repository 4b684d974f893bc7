"""The report's R scripts (``OUT/r/*.R``, metablina.render.rscript) reproduce its pooled estimates in metafor.

Where R and metafor are installed, every script of the shipped report and of two SYNTHETIC test reviews is
run, and each line it prints is compared with the row of the report's table it names: 1e-6 relative (the
GLMMs 1e-4: lme4's and metablina's quadrature and optimiser stop at different points). Elsewhere (CI has no
R) those tests are skipped with the reason; the tests of what is written run everywhere.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from metablina.render import rscript
from metablina.render.report_tables import pooled_numbers
from metablina.report import build_report, run_plan
from metablina.run import fit_rows

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"
THREE = ROOT / "tests" / "fixtures" / "two-reports"  # SYNTHETIC
PAIRS = ROOT / "tests" / "fixtures" / "comparisons"  # SYNTHETIC
SKIP = ("study", "decision", "leave-one-out", "cumulative")
NUMBERS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2")


def _have_metafor() -> str | None:
    """None if Rscript with metafor can run here, else why not."""
    if shutil.which("Rscript") is None:
        return "Rscript not found: the report's R scripts are not run (install R and metafor to run them)"
    done = subprocess.run(
        ["Rscript", "-e", 'quit(status = if (requireNamespace("metafor", quietly = TRUE)) 0 else 1)'],
        capture_output=True,
    )
    if done.returncode != 0:
        return "R has no metafor package: the report's R scripts are not run (install.packages('metafor'))"
    return None


NO_R = _have_metafor()
needs_r = pytest.mark.skipif(NO_R is not None, reason=NO_R or "")


def run_r(files: list[Path]) -> list[dict]:
    """Run the scripts in one R session (metafor is loaded once) and parse what they print."""
    code = "for (f in commandArgs(TRUE)) source(f, local = new.env())"
    done = subprocess.run(
        ["Rscript", "-e", code, *map(str, files)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return rscript.parse_output(done.stdout)


def close(ours: float | None, theirs: float | None, rel: float) -> bool:
    if ours is None or theirs is None:  # a number one of the two fits does not give (MH has no tau2)
        return True
    return ours == pytest.approx(theirs, rel=rel, abs=1e-12)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, folder in (("shipped", STUDIES), ("three", THREE), ("pairs", PAIRS)):
        out[name] = tmp_path_factory.mktemp(name) / "outputs"
        build_report(folder, out[name], workers=1)
    return out


# ------------------------------------------------------------------------------------- what is written


def test_every_pooled_estimate_has_a_script_and_a_link(reports: dict[str, Path]) -> None:
    """Each pooled row of the tables (but a Bayesian one) is checked by a call in one script, and the page
    links every script."""
    for out in reports.values():
        html = (out / "report.html").read_text(encoding="utf-8")
        links = set(re.findall(r'<a class="rcheck" href="(r/[^"]+\.R)">check this in R</a>', html))
        assert links == {f"r/{p.name}" for p in (out / "r").iterdir()}
        calls = "".join(p.read_text(encoding="utf-8") for p in (out / "r").iterdir())
        pooled = 0
        for table in (out / "tables").glob("*.json"):
            for r in json.loads(table.read_text(encoding="utf-8")).get("rows", []):
                if r["row_type"] in SKIP or r.get("estimate") is None or r["method"].startswith("BAYES"):
                    continue
                where = ", ".join(
                    json.dumps(r.get(f, "")) for f in ("analysis", "stratum", "subgroup", "variant")
                )
                assert f"check(fit, {where}," in calls, (r["analysis"], where)
                pooled += 1
        assert pooled > 0


def test_a_bayesian_estimate_says_metafor_has_none(reports: dict[str, Path]) -> None:
    text = (reports["shipped"] / "r" / "hsct-frontline.R").read_text(encoding="utf-8")
    assert "metafor has no Bayesian model" in text and "bayesmeta" in text


def test_scripts_are_self_contained(reports: dict[str, Path]) -> None:
    """Data in the script, nothing read from a file, no date or path (byte-identical reruns)."""
    for out in reports.values():
        for script in (out / "r").iterdir():
            text = script.read_text(encoding="utf-8")
            assert "read." not in text and "source(" not in text and str(ROOT) not in text
            assert "data.frame(" in text and "library(metafor)" in text


# ------------------------------------------------------------------------------------ run in metafor


@needs_r
@pytest.mark.parametrize("name", ["shipped", "three", "pairs"])
def test_the_scripts_reproduce_the_tables(reports: dict[str, Path], name: str) -> None:
    out = reports[name]
    printed = run_r(sorted((out / "r").iterdir()))
    assert printed
    tables = {}
    for table in (out / "tables").glob("*.json"):
        doc = json.loads(table.read_text(encoding="utf-8"))
        for r in doc.get("rows", []):
            if r["row_type"] in SKIP or r.get("estimate") is None:
                continue
            tables[(r["analysis"], r["stratum"], r.get("subgroup", ""), r.get("variant", ""))] = r
    checked = 0
    for line in printed:
        key = (line["analysis"], line["stratum"], line["subgroup"], line["variant"])
        assert key in tables, key
        row = tables.pop(key)
        rel = 1e-4 if row["method"] == "GLMM" else 1e-6
        assert line["k"] == row["k"], key
        for field in NUMBERS:
            assert close(row.get(field), line[field], rel), (key, field, row.get(field), line[field])
        checked += 1
    assert checked > 0
    assert all(r["method"].startswith("BAYES") for r in tables.values()), "rows no script checks"


@needs_r
@pytest.mark.parametrize(
    ("measure", "method", "ci"),
    [
        ("PLO", "REML", "hksj-adhoc"),
        ("PFT", "REML", "z"),
        ("PAS", "DL", "hksj"),
        ("PR", "PM", "z"),
        ("PLO", "FE", "z"),
        ("PLO", "GLMM", "z"),
        ("KM", "REML", "hksj-adhoc"),
        ("KM", "ML", "z"),
    ],
)
def test_every_measure_and_model_in_metafor(tmp_path: Path, measure: str, method: str, ci: str) -> None:
    """Measures and models the test reviews do not pool, on rows of the shipped review (the plan keeps
    these rows apart: only the arithmetic is tested)."""
    run = run_plan(STUDIES)
    form = "km" if measure == "KM" else "proportion"
    outcome = "efs" if measure == "KM" else "crs"
    rows = tuple(
        r
        for r in run.rows
        if r.form == form and r.outcome == outcome and r.exposure != "before" and (form != "km" or r.sei)
    )
    stratum = fit_rows(rows[:6], measure, method, ci, "rows")
    assert stratum.pooled, stratum.error
    result = SimpleNamespace(
        analysis=SimpleNamespace(id="check", title="check"), strata=(stratum,), subgroups=(), sensitivity=()
    )
    links = rscript.write_r_scripts([result], tmp_path)
    assert links == {("check", "rows", "", ""): "r/check.R"}
    (line,) = run_r([tmp_path / "r" / "check.R"])
    ours = pooled_numbers(stratum.result)
    rel = 1e-4 if method == "GLMM" else 1e-6
    assert line["k"] == ours["k"]
    for field in NUMBERS:
        assert close(ours[field], line[field], rel), field
