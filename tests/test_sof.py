"""The Summary of Findings of the shipped review (render/sof.py): rows from the primary estimate only, the
absolute effects of metablina.compare, unweighted rows for results without an SE, a footnote for every
change of certainty, and the same table in the page, the CSV, the JSON and the Word document."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from metablina.plan import Plan, question_problems, unweighted_rows
from metablina.render import sof
from metablina.run import run_review

STUDIES = Path(__file__).resolve().parents[1] / "studies"


@pytest.fixture(scope="module")
def run():
    return run_review(STUDIES)


@pytest.fixture(scope="module")
def sofs(run):
    return {s.question.id: s for s in sof.build(run)}


def row(s: sof.QuestionSoF, outcome_id: str, analysis: str | None = None) -> sof.SofRow:
    return next(
        r for r in s.rows if r.outcome_id == outcome_id and (analysis is None or r.analysis == analysis)
    )


def test_questions_and_critical_outcomes_first(sofs) -> None:
    assert list(sofs) == ["frontline", "first-relapse"]
    order = [sof.IMPORTANCE_ORDER[r.importance] for r in sofs["frontline"].rows]
    assert order == sorted(order)
    assert {r.analysis for r in sofs["first-relapse"].rows} >= {"efs-comparison", "os-comparison"}
    # settings never mix: the relapse trial's strata are not frontline rows and vice versa
    assert all("first relapse" not in r.stratum for r in sofs["frontline"].rows)
    assert all(not r.stratum.startswith("frontline") for r in sofs["first-relapse"].rows)


def test_unpooled_first_line_survival_speaks(sofs, run) -> None:
    efs = row(sofs["frontline"], "efs")
    os_ = row(sofs["frontline"], "os")
    assert efs.kind == "unweighted" and efs.rate == {"estimate": 0.978, "ci_low": None, "ci_high": None}
    assert os_.rate["estimate"] == 1.0
    assert efs.cells()["rate"] == "978 per 1,000 (no CI reported)"
    assert efs.reason == "no SE or CI is reported: no inverse-variance weight can be given"
    assert efs.follow_up == "at 24 months" and efs.participants == 90
    # critical risk of bias (-2), a setting beyond the question's (-1), no interval (-2): very low
    changes = {d.name: d.change for d in efs.rating.domains}
    assert changes == {
        "risk_of_bias": -2,
        "inconsistency": 0,
        "indirectness": -1,
        "imprecision": -2,
        "publication_bias": 0,
        "upgrade": 0,
    }
    assert efs.rating.label == "VERY LOW"
    rows = unweighted_rows(next(r for r in run.results if r.analysis.id == "efs-landmark").selection, run.rows)
    assert [r.key for r in rows] == ["bch-firstline-2024/efs-2y"]


def test_relapse_efs_row_is_the_trials_hr_with_absolute_effects(sofs, run) -> None:
    r = row(sofs["first-relapse"], "efs")
    c = next(x for x in run.results if x.analysis.id == "efs-comparison").strata[0].comparison
    trial = c.rows[0]
    assert r.relative == {"estimate": trial.estimate, "ci_low": trial.ci_low, "ci_high": trial.ci_high}
    assert r.cells()["relative"] == "HR 0.38 (0.22 to 0.65)"
    # 1 - 0.276 = 724 events per 1,000 with chemotherapy at 60 months; 1 - 0.276^0.38 with blinatumomab
    assert r.absolute["control_per_1000"] == pytest.approx(724.0, rel=1e-9)
    assert r.absolute["intervention_per_1000"] == pytest.approx(1000 * (1 - 0.276**trial.estimate), rel=1e-9)
    assert r.cells()["comparator"] == "724 events per 1,000"
    assert r.cells()["difference"].startswith("337 fewer events per 1,000")
    assert (r.rating.start, r.rating.label) == ("high", "MODERATE")
    imprecision = next(d for d in r.rating.domains if d.name == "imprecision")
    assert (
        "111 patients (fewer events) against an optimal information size of 380 events"
        in imprecision.footnote
    )
    assert r.statement == "Blinatumomab probably increases event-free survival."


def test_override_in_the_shipped_plan_is_shown(sofs) -> None:
    r = row(sofs["first-relapse"], "trae")
    rob = next(d for d in r.rating.domains if d.name == "risk_of_bias")
    assert (rob.change, rob.override, rob.rule_change) == (-1, True, 0)
    assert "override in the plan" in rob.footnote and "RoB 2 domain 4" in rob.footnote
    assert r.rating.label == "LOW"


def test_every_change_of_certainty_has_its_footnote(sofs) -> None:
    for s in sofs.values():
        letters = {sof.mark(i): text for i, text in enumerate(s.footnotes)}
        for r in s.rows:
            marked = [letters[m] for m in r.footnote_marks]
            for d in r.rating.domains:
                if d.change or d.override:
                    assert d.footnote in marked, (r.outcome, d.name)
                    # names its numbers, unless there are none to name (no interval, a surrogate)
                    wordy = d.override or "no confidence interval" in d.footnote or "surrogate" in d.footnote
                    assert any(ch.isdigit() for ch in d.footnote) or wordy, d.footnote


def test_primary_estimate_only(sofs, run) -> None:
    neuro = row(sofs["frontline"], "neuro")
    result = next(x for x in run.results if x.analysis.id == "neuro-grade3")
    stratum = next(s for s in result.strata if s.pooled)
    bayes = next(b for b in stratum.bayes if b.role == "primary").result.back()
    assert neuro.rate["estimate"] == bayes["estimate"] and neuro.rate["ci_high"] == bayes["ci_high"]
    assert neuro.primary_model.startswith("Bayesian")
    assert sof.primary_role(stratum, result.analysis, None) == "sensitivity"  # the GLMM
    assert neuro.bayes_probability.startswith("P(rate < 5.0%) = ")
    # no k = 2 flag on a credible interval, and the CI [0.0%, 2.9%] lies below the 5% threshold
    assert next(d for d in neuro.rating.domains if d.name == "imprecision").change == 0


def test_answer_says_when_nothing_is_compared(sofs) -> None:
    lead = sof.answer_lead(sofs["frontline"])
    assert "No study compares blinatumomab added to chemotherapy with chemotherapy alone" in lead
    assert sofs["frontline"].certainty == 1
    assert sofs["first-relapse"].certainty == 2  # trae LOW is the lowest critical outcome
    assert "No study compares" not in sof.answer_lead(sofs["first-relapse"])
    assert any(line.startswith("Event-free survival: HR 0.38") for line in sofs["first-relapse"].answer)


def test_files_hold_the_same_table(run, sofs, tmp_path: Path) -> None:
    paths = sof.write_sof(run, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "tables/sof.csv",
        "tables/sof.json",
        "sof.docx",
    ]
    rows = [r for s in sofs.values() for r in s.rows]
    with (tmp_path / "tables" / "sof.csv").open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [(t["analysis"], t["certainty"], t["statement"]) for t in table] == [
        (r.analysis, f"{r.rating.symbols} {r.rating.label}", r.statement) for r in rows
    ]
    data = json.loads((tmp_path / "tables" / "sof.json").read_text(encoding="utf-8"))
    assert [q["id"] for q in data["questions"]] == list(sofs)
    assert data["questions"][1]["rows"][0]["certainty"]["label"] == "MODERATE"

    back = sof.read_docx(tmp_path / "sof.docx")
    assert len(back["tables"]) == len(sofs)
    for t, s in zip(back["tables"], sofs.values(), strict=True):
        assert t["header"] == list(sof.DOCX_HEADER)
        assert t["rows"] == [sof.docx_cells(r) for r in s.rows]
    assert back["footnotes"] == [
        f"{sof.mark(i)}. {text}" for s in sofs.values() for i, text in enumerate(s.footnotes)
    ]
    efs = next(r for r in back["tables"][0]["rows"] if r[0].startswith("Event-free survival"))
    assert efs[2].startswith("⊕◯◯◯ VERY LOW") and efs[5] == "978 per 1,000 (no CI reported)"


def test_docx_is_byte_identical_across_runs(run, tmp_path: Path) -> None:
    sof.write_sof(run, tmp_path / "one")
    sof.write_sof(run, tmp_path / "two")
    assert (tmp_path / "one" / "sof.docx").read_bytes() == (tmp_path / "two" / "sof.docx").read_bytes()
    # and across days: no entry carries the time it was written (two runs within a second would not show it)
    import zipfile

    from docx import Document

    with zipfile.ZipFile(tmp_path / "one" / "sof.docx") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    props = Document(str(tmp_path / "one" / "sof.docx")).core_properties
    assert props.created == props.modified == sof.FIXED_TIME


def test_no_questions_no_files(run, tmp_path: Path) -> None:
    bare = run.__class__(run.review, run.rows, run.plan.model_copy(update={"questions": []}), run.results)
    assert sof.write_sof(bare, tmp_path) == [] and not (tmp_path / "tables").exists()


def test_question_references_are_checked() -> None:
    plan = Plan.model_validate(
        {
            "questions": [
                {
                    "id": "q",
                    "title": "T",
                    "population": "P",
                    "setting": "frontline",
                    "intervention": "I",
                    "comparator": "C",
                    "outcomes": [{"id": "efs", "name": "EFS", "importance": "critical"}],
                }
            ],
            "analyses": [
                {"id": "a", "title": "A", "outcome": "efs", "measure": "KM", "question": "q/os"},
                {"id": "b", "title": "B", "outcome": "efs", "measure": "KM", "question": ["q/efs", "r/efs"]},
                {
                    "id": "c",
                    "title": "C",
                    "outcome": "efs",
                    "measure": "KM",
                    "primary": "bayes",
                    "bayes": False,
                },
            ],
        }
    )
    assert question_problems(plan) == [
        (("analyses", 0, "question"), "question 'q' has no outcome 'os' (efs)"),
        (("analyses", 1, "question", 1), "no question 'r' in the plan (questions: q)"),
        (("analyses", 2, "primary"), "primary: bayes needs the Bayesian fit (bayes: true)"),
    ]
    with pytest.raises(ValueError, match="importance"):
        Plan.model_validate(
            {
                "questions": [
                    {
                        "id": "q",
                        "title": "T",
                        "population": "P",
                        "setting": "frontline",
                        "intervention": "I",
                        "comparator": "C",
                        "outcomes": [{"id": "efs", "name": "EFS", "importance": "vital"}],
                    }
                ],
                "analyses": [{"id": "a", "title": "A", "outcome": "efs", "measure": "KM"}],
            }
        )


def test_egger_from_the_report_diagnostics_reaches_the_rating() -> None:
    from types import SimpleNamespace as NS

    stratum = NS(label="frontline")
    ar = NS(
        result=NS(analysis=NS(id="a")),
        diagnostics=[NS(stratum=stratum, egger={"p_value": 0.04}), NS(stratum=NS(label="x"), egger=None)],
    )
    assert sof.egger_of(NS(analyses=[ar])) == {("a", "frontline"): 0.04}
    assert sof.egger_of(None) == {}


def test_unweighted_results_are_drawn_in_the_forest_plot(run) -> None:
    """The first-line cohort's 2-year EFS (97.8%, no SE) is an unweighted row of the EFS forest plot, in a
    group of its own (no stratum of the analysis shares its setting and landmark), with its reason."""
    import math

    from metablina.render.forestdata import forest_data

    result = next(r for r in run.results if r.analysis.id == "efs-landmark")
    rows = sof.unweighted_forest_rows(result, run.rows)
    assert [(label, r.label, r.estimate, r.unweighted, r.weight) for label, r in rows] == [
        (
            "frontline + bridging during chemotherapy delay; 24 months; all treated",
            "bch-firstline-2024",
            0.978,
            True,
            None,
        )
    ]
    assert math.isnan(rows[0][1].ci_low) and rows[0][1].note.startswith("no SE or CI is reported")
    forest = forest_data(result, unweighted=rows)
    last = forest.groups[-1]
    assert last.label == rows[0][0] and last.rows == (rows[0][1],) and last.refusal
    assert len(forest.groups) == len(result.strata) + 1
    assert forest_data(result).groups == forest.groups[:-1]  # nothing else moves
    # one of the same stratum as a pooled row joins it: the multicentre cohort's MRD-positive 1-year OS
    # (100%, no SE) has no stratum of its own in os-landmark, the MRD-negative one has
    os_result = next(r for r in run.results if r.analysis.id == "os-landmark")
    labels = [label for label, _ in sof.unweighted_forest_rows(os_result, run.rows)]
    strata = [s.label for s in os_result.strata]
    assert labels == [
        "frontline + bridging during chemotherapy delay; 24 months; all treated",
        "relapsed/refractory + mrd-positive pre-emptive + bridging during chemotherapy delay; 12 months; "
        "MRD-positive at start",
    ]
    assert not set(labels) & set(strata)
    efs = sof.unweighted_forest_rows(result, run.rows)[0][1]
    joined = forest_data(result, unweighted=[(result.strata[0].label, efs)])
    assert joined.groups[0].rows[-1] == efs and len(joined.groups) == len(result.strata)


def test_bayesian_probability_below_the_threshold(run) -> None:
    """P(rate < c) of the Bayesian primary fit: 0.5 at its posterior median, 0.975 at its upper 95% limit
    (the same posterior, so any slip of scale or direction shows)."""
    from metablina.run import columns_of

    result = next(r for r in run.results if r.analysis.id == "neuro-grade3")
    stratum = next(s for s in result.strata if s.pooled)
    fit = next(b for b in stratum.bayes if b.role == "primary")
    back = fit.result.back()
    columns = tuple((k, tuple(v.tolist())) for k, v in columns_of(stratum.rows).items())
    p = [
        sof._p_below("PLO", fit.result.method, columns, fit.tau_prior, back[k])
        for k in ("estimate", "ci_high")
    ]
    assert p == pytest.approx([0.5, 0.975], abs=1e-9)
    assert sof.bayes_probability(stratum, result.analysis) == "P(rate < 5.0%) = 0.99 (Bayesian)"


def test_pool_text_names_the_primary_estimate(run) -> None:
    from metablina.render.text import analysis_text

    hsct = analysis_text(next(r for r in run.results if r.analysis.id == "hsct"))
    assert "Primary estimate (the plan's primary: bayes): 0.1252 [0.0196, 0.7096], Bayesian" in hsct
    relapse = analysis_text(next(r for r in run.results if r.analysis.id == "infection-grade3"))
    assert "Primary estimate" not in relapse


def test_a_departure_footnotes_the_single_study_rows_it_pools(run) -> None:
    """crs-grade3's frontline cohorts are single-study rows (CTCAE v5.0; grading not stated); the
    multiverse that pools them across grading systems footnotes each with the other and its spread, and
    changes no rating. No other row is footnoted so."""
    from types import SimpleNamespace as NS

    from metablina import multiverse as M

    analysis = next(r.analysis for r in run.results if r.analysis.id == "crs-grade3")
    mvs = M.multiverse(run.rows, analysis)
    model = NS(analyses=[NS(result=NS(analysis=analysis), multiverse=mvs, diagnostics=[])])
    plain = {s.question.id: s for s in sof.build(run)}
    noted = {s.question.id: s for s in sof.build(run, model)}
    rows = [r for r in noted["frontline"].rows if r.analysis == "crs-grade3"]
    assert sorted(r.stratum for r in rows) == [
        "frontline; graded by CTCAE v5.0",
        "frontline; grading not stated",
    ]
    for r in rows:
        (note,) = [n for n in r.rating.footnotes() if n.startswith("Pooled with")]
        other = next(x.stratum for x in rows if x is not r)
        assert note.startswith(f"Pooled with '{other}' (grading systems pooled: a departure from the plan")
        assert "across 80 specifications" in note and "spanned it in 100%" in note
        before = next(
            x for x in plain["frontline"].rows if x.analysis == "crs-grade3" and x.stratum == r.stratum
        )
        assert r.rating.level == before.rating.level
    others = [r for q in noted.values() for r in q.rows if r.analysis != "crs-grade3"]
    assert others and not any(n.startswith("Pooled with") for r in others for n in r.rating.footnotes())


def test_every_absolute_effect_names_its_comparator_risk_and_caveat(sofs) -> None:
    """GRADE SoF practice: the risk with the comparator is footnoted with its source; a risk capped at
    1,000 (HSCT: RR 1.67 x 684 per 1,000) and an HR of an earlier data cut (OS) carry their caveat."""
    seen = 0
    for s in sofs.values():
        for r in s.rows:
            notes = [n for n in r.rating.footnotes() if n.startswith("Absolute effect:")]
            assert len(notes) == (r.absolute is not None), r.analysis
            if r.absolute is not None:
                seen += 1
                assert r.absolute["acr_source"] in notes[0]
                assert (r.absolute["note"] or "")[1:] in notes[0]  # its first letter capitalised
    assert seen == 5  # EFS, OS, TRAE >= 3, CRS <= 2, HSCT of the phase 3 trial
    os_ = next(n for n in row(sofs["first-relapse"], "os").rating.footnotes() if n.startswith("Absolute"))
    assert "data cut 2021-09" in os_ and "data cut 2022-11-21" in os_
    hsct = next(n for n in row(sofs["first-relapse"], "hsct").rating.footnotes() if n.startswith("Absolute"))
    assert "1140 per 1,000: capped" in hsct


def _plan_with_stratum_override(
    tmp_path: Path,
    label: str,
    analysis: str = "crs-grade3",
    reason: str = "CRS grading system not stated: other criteria than CTCAE or ASTCT",
) -> Path:
    """A copy of the shipped review whose plan rates one stratum of ``analysis`` down for indirectness."""
    import shutil

    folder = tmp_path / "studies"
    shutil.copytree(STUDIES, folder)
    plan = folder / "analyses.yaml"
    text = plan.read_text(encoding="utf-8")
    start = text.index(f"  - id: {analysis}\n")
    at = text.index("\n", text.index("    measure:", start))
    override = (
        f'\n    grade:\n      strata:\n        "{label}":\n          indirectness: '
        f'{{change: -1, reason: "{reason}"}}'
    )
    plan.write_text(text[:at] + override + text[at:], encoding="utf-8")
    return folder


def test_a_stratum_override_rates_that_stratum_only(tmp_path: Path) -> None:
    folder = _plan_with_stratum_override(tmp_path, "frontline; grading not stated")
    rows = {r.stratum: r for s in sof.build(run_review(folder)) for r in s.rows if r.analysis == "crs-grade3"}
    indirect = {
        label: next(d for d in r.rating.domains if d.name == "indirectness") for label, r in rows.items()
    }
    assert indirect["frontline; grading not stated"].override
    assert indirect["frontline; grading not stated"].footnote.startswith(
        "Indirectness (override in the plan)"
    )
    assert not any(d.override for label, d in indirect.items() if label != "frontline; grading not stated")


def test_a_stratum_override_rates_an_unweighted_row_of_that_stratum(tmp_path: Path) -> None:
    """The first-line cohort's 2-year EFS (no SE) is an unweighted row in a stratum of its own: the report
    accepts an override naming that stratum, and it rates the row."""
    from metablina.report import load_inputs

    label = "frontline + bridging during chemotherapy delay; 24 months; all treated"
    folder = _plan_with_stratum_override(tmp_path, label, "efs-landmark", "time origin not stated")
    load_inputs(folder)  # no ReportError: the label names a stratum
    rows = [r for s in sof.build(run_review(folder)) for r in s.rows if r.analysis == "efs-landmark"]
    assert [r.stratum for r in rows] == ["bch-firstline-2024, unweighted"]
    indirect = next(d for d in rows[0].rating.domains if d.name == "indirectness")
    assert indirect.override and indirect.change == -1
    assert indirect.footnote.startswith("Indirectness (override in the plan): time origin not stated")


def test_a_stratum_override_naming_no_stratum_is_refused_with_its_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from metablina.cli import main

    folder = _plan_with_stratum_override(tmp_path, "frontline; grading unknown")
    out = tmp_path / "outputs"
    result = CliRunner().invoke(main, ["report", "--studies", str(folder), "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = next(
        i + 1
        for i, s in enumerate((folder / "analyses.yaml").read_text(encoding="utf-8").splitlines())
        if "frontline; grading unknown" in s
    )
    assert f"analyses.yaml:{line}:" in result.output
    assert "no stratum 'frontline; grading unknown' in 'crs-grade3'" in result.output
    assert "'frontline; grading not stated'" in result.output  # the strata it has
    assert not out.exists()
