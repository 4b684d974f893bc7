"""`metablina report` on the shipped studies: files, determinism, provenance, self-containment, atomicity.

Two complete reports are written once per module (one through the command line, one through
``build_report``) and every test reads them; the failure tests write (or fail to write) their own.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import metablina.workers
from metablina.cli import main
from metablina.render import skiafig
from metablina.report import FOREST_FORMATS, ReportError, build_report, cumulative, leave_one_out, run_plan
from metablina.reportfolder import MARKER, MARKER_TEXT

STUDIES = Path(__file__).resolve().parents[1] / "studies"
# A SYNTHETIC review whose CRS analysis pools three trials, for the leave-one-out fits (on the shipped
# review no pooled set holds three studies: settings and grading systems are strata).
THREE = Path(__file__).resolve().parent / "fixtures" / "two-reports"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("report")
    first = base / "one" / "outputs"
    result = CliRunner().invoke(main, ["report", "--studies", str(STUDIES), "--out", str(first)])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    second = base / "two" / "outputs"
    build_report(STUDIES, second)
    return first, second


@pytest.fixture(scope="module")
def out(reports: tuple[Path, Path]) -> Path:
    return reports[0]


@pytest.fixture(scope="module")
def html(out: Path) -> str:
    return (out / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def run():
    return run_plan(STUDIES)


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def summary(out: Path) -> list[dict]:
    return json.loads((out / "tables" / "summary.json").read_text(encoding="utf-8"))["summary"]


# ------------------------------------------------------------------------------------------- the folder


def test_every_analysis_has_its_tables_and_forest_plot(out: Path, run) -> None:
    names = set(files(out))
    assert {"report.html", "tables/summary.csv", "tables/summary.json"} <= names
    for result in run.results:
        aid = result.analysis.id
        assert {f"tables/{aid}.csv", f"tables/{aid}.json"} <= names
        for fmt in FOREST_FORMATS:
            data = (out / "figures" / f"forest-{aid}.{fmt}").read_bytes()
            assert data[:4] == {"png": b"\x89PNG", "svg": b"<?xm", "pdf": b"%PDF"}[fmt]
    assert not [p for p in out.parent.iterdir() if p.name != "outputs"], "a temporary folder was left behind"


def test_diagnostic_plots_exactly_for_pooled_sets(out: Path, run) -> None:
    expected = set()
    for result in run.results:
        several = len(result.strata) > 1
        for s in result.strata:
            stem = result.analysis.id + (
                "-" + re.sub(r"[^a-z0-9]+", "-", s.label.replace(">=", "ge")) if several else ""
            )
            if s.refusal is None and len(s.rows) >= 2:  # a spec curve even where the plan's model fails
                expected.add(f"speccurve-{stem}.svg")
            if not s.pooled:
                continue
            expected.add(f"cumulative-{stem}.svg")
            if len(s.rows) >= 10:  # funnel plot and Egger's test from k = 10 only (Sterne et al. 2011)
                expected.add(f"funnel-{stem}.svg")
            if len(s.rows) >= 3:
                expected.add(f"leave-one-out-{stem}.svg")
    # departures: grade >= 3 CRS of the frontline cohorts with their grading systems pooled (CTCAE v5.0 and
    # not stated), strata the plan keeps apart, have a curve of their own (and no primary specification)
    expected |= {
        "speccurve-crs-grade3-frontline-grading-systems-pooled.svg",
        "speccurve-crs-by-grade-frontline-grade-ge3-grading-systems-pooled.svg",
    }
    found = {p.name for p in (out / "figures").iterdir() if not p.name.startswith("forest-")}
    assert found == expected
    assert "cumulative-hsct-frontline.svg" in found  # the shipped plan pools HSCT in frontline cohorts
    assert "funnel-hsct-frontline.svg" not in found  # k = 2: no funnel plot


def test_two_runs_are_byte_identical(reports: tuple[Path, Path]) -> None:
    one, two = (files(folder) for folder in reports)
    assert one.keys() == two.keys()
    different = [name for name in one if one[name] != two[name]]
    assert different == []


# ---------------------------------------------------------------------------------------------- tables


def test_summary_has_a_row_per_stratum_with_estimate_or_reason(out: Path, run) -> None:
    rows = summary(out)
    assert [(r["analysis"], r["stratum"]) for r in rows] == [
        (res.analysis.id, s.label) for res in run.results for s in res.strata
    ]
    for r in rows:
        if r["pooled"]:
            assert r["ci_low"] <= r["estimate"] <= r["ci_high"]
            assert r["pi_low"] <= r["estimate"] <= r["pi_high"]
            assert r["reason"] == ""
        else:
            assert r["reason"]
    neuro = next(r for r in rows if r["analysis"] == "neuro-grade3" and r["pooled"])
    assert neuro["stratum"] == "frontline; grading not stated"
    assert (neuro["studies"], neuro["records"], neuro["patients"]) == (2, 2, 11 + 202)
    assert neuro["per_1000"] == round(1000 * neuro["estimate"])
    # the plan's primary estimate is the Bayesian fit (primary: bayes, k = 2): its 95% CrI lies below 5%
    assert neuro["method"] == "BAYES-GLMM"
    assert neuro["ci_vs_threshold"] == "below"


def test_summary_csv_and_json_agree(out: Path) -> None:
    import csv

    with open(out / "tables" / "summary.csv", encoding="utf-8", newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    for c, j in zip(csv_rows, summary(out), strict=True):
        assert c["analysis"] == j["analysis"]
        if j.get("estimate") is not None:
            assert float(c["estimate"]) == pytest.approx(j["estimate"], rel=1e-5)  # CSV keeps 6 digits


def test_forest_diamond_centre_is_the_pooled_estimate_in_the_tables(out: Path, run) -> None:
    """Draw each pooled analysis' forest plot from its ForestData and read the diamond back."""
    from matplotlib.patches import Polygon

    from metablina.render.forest import draw_forest
    from metablina.render.forestdata import forest_data

    by_id = {(r["analysis"], r["stratum"]): r for r in summary(out)}
    checked = 0
    for result in run.results:
        pooled = [s for s in result.strata if s.pooled]
        if not pooled or result.subgroups:
            continue
        ax = draw_forest(forest_data(result))
        kind = "bayes" if result.analysis.primary == "bayes" else "frequentist"  # the plan's primary (issue 13)
        diamonds = [p for p in ax.patches if isinstance(p, Polygon) and p.get_gid() == f"diamond-{kind}"]
        assert len(diamonds) == len(pooled)  # one per pooled stratum, in order; no overall across strata
        for stratum, diamond in zip(pooled, diamonds, strict=True):
            xy = diamond.get_xy()
            row = by_id[(result.analysis.id, stratum.label)]
            assert xy[1][0] == pytest.approx(row["estimate"], rel=1e-12)
            lo, hi = ax.get_xlim()  # an interval beyond the axis: the diamond ends at the axis limit
            ends = (max(row["ci_low"], lo), min(row["ci_high"], hi))
            assert (xy[0][0], xy[2][0]) == pytest.approx(ends, rel=1e-12)
            checked += 1
    assert checked >= 2


def test_analysis_table_rows(out: Path) -> None:
    data = json.loads((out / "tables" / "neuro-grade3.json").read_text(encoding="utf-8"))
    kinds = [r["row_type"] for r in data["rows"]]
    assert kinds.count("study") == 3
    # logit IV in each of two strata, ICANS only, and the GLMM of the pooled stratum (the plan's primary is
    # the Bayesian fit: primary: bayes)
    assert kinds.count("sensitivity") == 4
    assert {"pooled", "not pooled", "cumulative"} <= set(kinds)
    assert (
        data["pool"]["analysis"] == "neuro-grade3"
    )  # the same JSON as `metablina pool neuro-grade3 --format json`
    grading = {r["study"]: r["grading"] for r in data["rows"] if r["row_type"] == "study"}
    assert grading == {
        "bch-infant-2025": "not stated",
        "cclg-frontline-2025": "not stated",
        "locatelli-relapse-phase3-2025": "CTCAE v4.0",
    }
    text = (out / "tables" / "neuro-grade3.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("row_type,analysis,")
    assert "\r" not in text


def test_exact_interval_of_all_events_study(out: Path) -> None:
    """7/7: the Clopper-Pearson lower bound is (alpha/2)^(1/n) in closed form, the upper one 1."""
    data = json.loads((out / "tables" / "mrd-response-mrd-positive.json").read_text(encoding="utf-8"))
    row = next(
        r for r in data["rows"] if r["row_type"] == "study" and r["record"] == "mrd-week2-in-induction"
    )
    assert (row["events"], row["total"], row["estimate"]) == (7, 7, 1.0)
    assert row["ci_low"] == pytest.approx(0.025 ** (1 / 7), rel=1e-9)  # 59.0%
    assert row["ci_high"] == 1.0


def test_km_study_interval_is_back_transformed_from_log_minus_log(out: Path) -> None:
    data = json.loads((out / "tables" / "efs-landmark.json").read_text(encoding="utf-8"))
    rows = {r["record"]: r for r in data["rows"] if r["row_type"] == "study"}
    se_row = rows["efs-1y-rr"]  # 73.3% ± 8.1 (SE): delta method on log(-log S)
    s, se = 0.733, 0.081
    y, sy = math.log(-math.log(s)), se / (s * abs(math.log(s)))
    z = 1.959963984540054
    assert se_row["ci_low"] == pytest.approx(math.exp(-math.exp(y + z * sy)), rel=1e-9)
    assert se_row["ci_high"] == pytest.approx(math.exp(-math.exp(y - z * sy)), rel=1e-9)
    assert se_row["ci_source"].startswith("from the SE")
    ci_row = rows["efs-km60-blinatumomab"]  # 57.8% (95% CI 42.5-70.4): as reported
    assert (ci_row["ci_low"], ci_row["estimate"], ci_row["ci_high"]) == pytest.approx((0.425, 0.578, 0.704))
    assert ci_row["ci_source"] == "as reported"


# ------------------------------------------------------------------------------------------------ HTML


def test_html_is_self_contained(html: str) -> None:
    assert not re.search(r"https?://", html)
    assert not re.search(r"<(script|link|iframe|object|embed)\b", html, re.I)
    assert "@import" not in html and "url(" not in html
    sources = re.findall(r'\ssrc="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert "@@metablina-figure" not in html  # every slot of the page rendered early is filled
    for href in re.findall(r'\shref="([^"]*)"', html):
        assert href.startswith(("#", "figures/", "tables/", "r/", "../")) or href == "sof.docx", href


def test_html_embeds_every_figure(out: Path, html: str) -> None:
    svgs = sorted((out / "figures").glob("*.svg"))
    embedded = [base64.b64decode(s.split(",", 1)[1]) for s in re.findall(r'\ssrc="([^"]*)"', html)]
    assert len(embedded) == len(svgs)
    assert sorted(embedded) == sorted(p.read_bytes() for p in svgs)


def test_every_study_row_links_to_its_extract_and_line(out: Path, html: str) -> None:
    study_rows = re.findall(r'<tr class="study">(.*?)</tr>', html, re.S)
    n_rows = sum(
        sum(1 for r in json.loads(p.read_text(encoding="utf-8"))["rows"] if r["row_type"] == "study")
        for p in (out / "tables").glob("*.json")
        if p.name not in ("summary.json", "sof.json")
    )
    assert len(study_rows) == n_rows > 0
    for row in study_rows:
        # the provenance link opens the quote in the page; the extract file and line are beside the quote
        quote = re.search(r'<a class="prov" href="#([^"]+)">', row)
        assert quote and f'<div class="quotes" id="{quote.group(1)}">' in row, row
        m = re.search(r'Extract: <a href="([^"#]+)#L(\d+)">([^<:]+\.yaml):(\d+)</a>', row)
        assert m, row
        href, line, shown, shown_line = m.groups()
        assert line == shown_line
        target = (out / href).resolve()
        assert target == (STUDIES / Path(shown).name).resolve()
        record_line = target.read_text(encoding="utf-8").splitlines()[int(line) - 1]
        assert re.match(r"\s*- id: \S+", record_line), record_line
        assert "<blockquote>" in row  # the quoted sentence(s) from the source
    assert "studies/bch-infant-2025.yaml:162" in html  # the 7/7 MRD conversion record


def test_html_shows_refusals_sensitivity_and_methods(html: str) -> None:
    assert "not pooled across strata: records differ in grade threshold" in html
    assert "GLMM could not be fitted" in html
    assert "Sensitivity analyses" in html and "without cohorts that may overlap" in html
    assert "Clopper–Pearson" in html and "t distribution with k − 1 degrees of freedom" in html
    for name in ("metablina", "NumPy", "SciPy", "matplotlib"):
        assert re.search(rf"{name} \d", html)
    undated = re.sub(r"cut \d{4}-\d\d-\d\d\b", "cut", html)  # a source's data cut is the extract's date
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b|\d\d:\d\d:\d\d", undated)  # no date or time of the run


# --------------------------------------------------------------------------------- leave-one-out etc.


@pytest.fixture(scope="module")
def three():
    return run_plan(THREE)


def test_leave_one_out_and_cumulative_refit_subsets(three) -> None:
    from metablina.analyze import pool
    from metablina.run import columns_of

    stratum = next(r for r in three.results if r.analysis.id == "crs-grade3").strata[0]
    loo = leave_one_out(stratum)
    assert loo.k == (2, 2, 2)
    for i in range(3):
        rest = stratum.rows[:i] + stratum.rows[i + 1 :]
        try:
            back = pool("PLO", "GLMM", "hksj", columns_of(rest), [r.label for r in rest]).back()
        except Exception:
            assert math.isnan(loo.estimate[i])
            continue
        assert loo.estimate[i] == pytest.approx(back["estimate"], rel=1e-12)
    cum = cumulative(stratum, (0.5, 0.1, 0.9))
    years = [int(label.rsplit("(", 1)[1].rstrip(")")) for label in cum.labels]
    assert years == sorted(years)
    assert cum.estimate[0] == 0.5 and cum.k == (1, 2, 3)
    assert cum.estimate[-1] == pytest.approx(stratum.result.back()["estimate"], rel=1e-12)


def test_stacked_refits_agree_with_pooling_each_subset(three) -> None:
    """For an inverse-variance model the leave-one-out and cumulative fits come from
    metablina.stats.influence (stacked rma); pooling each subset again must give the same numbers."""
    result = next(r for r in three.results if r.analysis.id == "crs-grade3")
    stratum = next(v for v in result.sensitivity if v.variant.id == "logit-iv").strata[0]
    assert stratum.result.method == "REML" and len(stratum.rows) == 3
    first = (0.5, 0.1, 0.9)
    for a, b in (
        (leave_one_out(stratum), leave_one_out(stratum, stacked=False)),
        (cumulative(stratum, first), cumulative(stratum, first, stacked=False)),
    ):
        assert a.labels == b.labels and a.k == b.k
        for name in ("estimate", "ci_low", "ci_high"):
            assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-8)  # REML to rma's tolerance
        assert [x for x in a.i2 if x is not None] == pytest.approx(
            [x for x in b.i2 if x is not None], abs=1e-6
        )


# ---------------------------------------------------------------------------------------------- safety


def _existing(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path / "outputs"
    (out / "figures").mkdir(parents=True)
    (out / MARKER).write_text(MARKER_TEXT, encoding="utf-8")  # what makes it a report to replace
    (out / "report.html").write_text("an earlier report", encoding="utf-8")
    (out / "figures" / "old.svg").write_text("<svg/>", encoding="utf-8")
    return out, files(out)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failure_midway_leaves_outputs_untouched(tmp_path: Path, monkeypatch, workers: int) -> None:
    out, before = _existing(tmp_path)
    calls = []
    real = skiafig.write_drawing

    def flaky(drawing, path, formats, **kw):
        calls.append(path)
        if "forest-crs-grade3" in str(path):
            raise OSError("disk full (injected)")
        return real(drawing, path, formats, **kw)

    monkeypatch.setattr(skiafig, "write_drawing", flaky)
    # workers forked from this process see the patch (a figure server, if a test started one, would not)
    monkeypatch.setattr(metablina.workers, "_server_started", False)
    with pytest.raises(OSError, match="injected"):
        build_report(STUDIES, out, workers=workers)
    assert files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]  # no temporary folder left


def test_a_broken_extract_exits_1_with_the_line_and_writes_nothing(tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    shutil.copytree(STUDIES, studies)
    path = studies / "bch-infant-2025.yaml"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    line = next(i for i, s in enumerate(lines) if "binary: {events: 11, total: 11}" in s)
    lines[line] = lines[line].replace("events: 11", "events: eleven")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "outputs"
    result = CliRunner().invoke(main, ["report", "--studies", str(studies), "--out", str(out)])
    assert result.exit_code == 1
    assert f"{path}:{line + 1}:" in result.output
    assert "outputs" not in {p.name for p in tmp_path.iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studies"]


def test_refuses_to_replace_a_folder_that_is_not_a_report(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("years of work", encoding="utf-8")
    with pytest.raises(ReportError, match="not a metablina report folder"):
        build_report(STUDIES, out)
    assert (out / "thesis.txt").read_text(encoding="utf-8") == "years of work"


def test_studies_table_shows_reported_age_and_the_flagged_derived_mean(html: str) -> None:
    assert (
        "median 8.5, range 1.3-11.5 months; estimated mean 7.7 (SD 3.2), derived (Luo 2018 / Wan 2014" in html
    )
    assert "skewness test rejects normality (Shi 2023): use with care" in html  # the CCLG trial's ages


def test_a_script_without_a_main_guard_can_build_a_report(out: Path, tmp_path: Path) -> None:
    # From Python the figure workers are forked from the caller (no forkserver, which would re-run the
    # caller's main module in every worker); the command line's figure server gives the same files
    script = tmp_path / "script.py"
    target = tmp_path / "outputs"
    script.write_text(
        "from pathlib import Path\n"
        "from metablina.report import build_report\n"
        f"print(build_report(Path({str(STUDIES)!r}), Path({str(target)!r}), workers=2).figures)\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len({p.stem for p in (out / "figures").iterdir()}))
    mine, cli = files(target), files(out)  # report.html links to the extracts relative to its folder
    assert mine.keys() == cli.keys()
    assert {k: v for k, v in mine.items() if k != "report.html"} == {
        k: v for k, v in cli.items() if k != "report.html"
    }
