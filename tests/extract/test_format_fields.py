"""The extract fields of issues 11 and 12: trials and reports, several sources, record qualifiers, new forms,
and the checks that come with them (each test fails when its check is removed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from metablina.cli import main
from metablina.extract import schema
from metablina.extract.consistency import (
    binomial_cis,
    ci_methods,
    greenwood_n,
    km_unachievable,
    number_in_quotes,
    numbers_in,
)
from metablina.extract.schema import GRADES, Range, Source, Study
from metablina.extract.validate import load_review, trial_ids

from .conftest import SOURCE, STUDY


def _validate(folder: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["validate", str(folder)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output.splitlines()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _add_record(review: Path, record: str, name: str = "demo") -> None:
    """Append one outcome record (YAML lines indented as in the outcomes list) to an extract."""
    path = review / f"{name}.yaml"
    path.write_text(path.read_text() + record)


def _messages(review: Path) -> list[str]:
    return [str(p) for p in load_review(review).problems]


def _second_report(review: Path, name: str, head: str) -> None:
    """A copy of the demo extract as ``name``, with ``head`` (trial/report lines) after its year."""
    text = STUDY.replace("id: demo\n", f"id: {name}\n").replace("year: 2025\n", "year: 2025\n" + head)
    (review / f"{name}.yaml").write_text(text)


# --- trial identity -------------------------------------------------------------------------------------------


def test_reports_sharing_a_registry_id_are_one_trial_a_note_not_a_problem(review: Path) -> None:
    _edit(review / "demo.yaml", "year: 2025\n", "year: 2025\nregistry: NCT02393859\n")
    _second_report(
        review,
        "demo-update",
        "trial: {registry: [NCT02393859]}\nreport: {kind: final analysis, data_cut: 2022-11}\n",
    )
    code, lines = _validate(review)
    assert code == 0, lines
    notes = [x for x in lines if x.startswith("note: ")]
    assert len(notes) == 1
    assert notes[0].startswith(
        f"note: {review}/demo-update.yaml:4: trial: reports of one trial (NCT02393859): "
    )
    assert "demo-update (final analysis, cut 2022-11)" in notes[0]
    assert "demo (kind of report not stated, data cut not stated)" in notes[0]
    review_ = load_review(review)
    assert review_.trials == {"demo": "NCT02393859", "demo-update": "NCT02393859"}


def test_reports_sharing_a_trial_key_are_one_trial(review: Path) -> None:
    _edit(review / "demo.yaml", "year: 2025\n", "year: 2025\ntrial: {key: demo-cohort}\n")
    _second_report(
        review, "demo-abstract", "trial: {key: demo-cohort}\nreport: {kind: conference abstract}\n"
    )
    assert load_review(review).trials == {"demo": "demo-cohort", "demo-abstract": "demo-cohort"}
    assert [n.field for n in load_review(review).same_trial] == ["trial"]


def test_registry_ids_link_reports_whose_first_ids_differ() -> None:
    base = {"citation": "x", "year": 2020, "source": {"file": "a.txt", "kind": "full text"}}
    rest = {
        "design": "case series",
        "setting": "frontline",
        "country": "x",
        "centres": "x",
        "population": {"n": 5, "quote": "5"},
        "arms": [{"id": "a", "label": "a", "role": "intervention", "n": 5, "quote": "5"}],
        "risk_of_bias": {"tool": "judgement", "overall": "high"},
    }
    a = Study.model_validate({**base, **rest, "id": "a", "trial": {"registry": ["NCT1111", "ISRCTN22"]}})
    b = Study.model_validate({**base, **rest, "id": "b", "trial": {"registry": "ISRCTN22"}})
    c = Study.model_validate({**base, **rest, "id": "c", "registry": "NCT1111"})
    d = Study.model_validate({**base, **rest, "id": "d"})
    assert (a.trial_id, b.trial_id, c.trial_id, d.trial_id) == ("NCT1111", "ISRCTN22", "NCT1111", "d")
    assert trial_ids([a, b, c, d]) == {"a": "ISRCTN22", "b": "ISRCTN22", "c": "ISRCTN22", "d": "d"}


def test_two_keys_for_one_registry_id_are_refused(review: Path) -> None:
    _edit(review / "demo.yaml", "year: 2025\n", "year: 2025\ntrial: {registry: NCT0001, key: one}\n")
    _second_report(review, "demo-two", "trial: {registry: NCT0001, key: two}\n")
    assert any(
        "/demo.yaml:4: trial.key: shares registry id NCT0001 with demo-two, whose trial key is 'two'" in m
        for m in _messages(review)
    )


def test_report_follow_up_must_stand_in_its_quote(review: Path) -> None:
    head = "year: 2025\nreport: {kind: update, data_cut: 2024-05, follow_up_months: 20, quote: 'grade 1'}\n"
    _edit(review / "demo.yaml", "year: 2025\n", head)
    assert any("report.follow_up_months: 20.0 does not appear in the quote" in m for m in _messages(review))


def test_record_data_cut_cannot_follow_the_report_cut(review: Path) -> None:
    _edit(review / "demo.yaml", "year: 2025\n", "year: 2025\nreport: {kind: update, data_cut: 2024-05}\n")
    _edit(review / "demo.yaml", "    grade: any\n", "    grade: any\n    data_cut: 2024-06\n")
    assert any(
        "outcomes[0].data_cut: data cut 2024-06 is later than the report's (2024-05)" in m
        for m in _messages(review)
    )
    _edit(review / "demo.yaml", "data_cut: 2024-06\n", "data_cut: 2024\n")  # same year: not surely later
    assert _messages(review) == []


# --- sources --------------------------------------------------------------------------------------------------


def test_old_source_and_a_list_of_sources_read_alike() -> None:
    source = Source.model_validate({"file": "a.txt", "kind": "journal abstract"})
    assert (source.id, source.kind, source.checked) == ("main", "abstract", True)
    assert Source.model_validate({"kind": "registry", "url": "https://x.org/1"}).kind == "registry entry"
    assert Source.model_validate({"kind": "abstract", "pmid": 41234567}).cited_as == "PMID 41234567"
    with pytest.raises(ValidationError, match="give file"):
        Source.model_validate({"kind": "full text"})
    with pytest.raises(ValidationError, match="pattern"):
        Source.model_validate({"kind": "full text", "doi": "not a doi"})


def test_source_and_sources_together_are_refused(review: Path) -> None:
    _edit(
        review / "demo.yaml",
        "source: {file: demo.txt, kind: conference abstract}\n",
        "source: {file: demo.txt, kind: conference abstract}\nsources: [{file: demo.txt, kind: abstract}]\n",
    )
    assert any("give sources (a list) or source (one), not both" in m for m in _messages(review))


def test_quotes_of_a_source_without_local_copy_are_noted_not_checked(review: Path) -> None:
    _edit(
        review / "demo.yaml",
        "source: {file: demo.txt, kind: conference abstract}\n",
        "sources:\n  - {id: abstract, file: demo.txt, kind: conference abstract}\n"
        "  - {id: paper, doi: 10.1000/demo.1, kind: full text}\n",
    )
    _add_record(
        review,
        "  - id: crs-paper\n    outcome: crs\n    grade: '1'\n    source: paper\n"
        "    binary: {events: 4, total: 11}\n    quote: 'A sentence of the paper: 4 of 11 had grade 1 CRS.'\n",
    )
    code, lines = _validate(review)
    assert code == 0, lines
    assert lines[0] == (
        f"note: {review}/demo.yaml:42: outcomes[2].quote: not checked against a local copy "
        "(source 'paper' is doi:10.1000/demo.1)"
    )
    assert lines[-1].startswith(
        "ok: 1 studies, 3 outcome records, every quote found in its source (but those noted)"
    )


def test_a_record_quote_is_checked_against_the_source_it_names(review: Path) -> None:
    (review / "sources" / "letter.txt").write_text(
        "SYNTHETIC letter. At 2 years, 5 of 11 had CRS of grade 1."
    )
    _edit(
        review / "demo.yaml",
        "source: {file: demo.txt, kind: conference abstract}\n",
        "sources:\n  - {id: abstract, file: demo.txt, kind: conference abstract}\n"
        "  - {id: letter, file: letter.txt, kind: letter}\n",
    )
    record = "  - id: crs-letter\n    outcome: crs\n    grade: '1'\n    source: {src}\n"
    record += "    binary: {{events: 5, total: 11}}\n    quote: '5 of 11 had CRS of grade 1'\n"
    _add_record(review, record.format(src="letter"))
    assert _messages(review) == []
    _edit(review / "demo.yaml", "    source: letter\n", "    source: abstract\n")
    assert any("outcomes[2].quote: quote not found verbatim in demo.txt" in m for m in _messages(review))
    _edit(review / "demo.yaml", "    source: abstract\n", "    source: poster\n")
    assert any(
        "outcomes[2].source: names no declared source 'poster' (sources: abstract, letter)" in m
        for m in _messages(review)
    )


def test_old_source_file_still_located(review: Path) -> None:
    _edit(review / "demo.yaml", "source: {file: demo.txt", "source: {file: gone.txt")
    assert any("demo.yaml:4: source.file: source document not found" in m for m in _messages(review))


# --- vocabulary -----------------------------------------------------------------------------------------------


def test_unknown_word_is_one_line_saying_where_to_add_it(review: Path) -> None:
    _edit(review / "demo.yaml", "    grade: any\n", "    grade: any\n    timepoint: end-of-cycle-3\n")
    code, lines = _validate(review)
    assert code == 1
    assert lines[0] == (
        f"{review}/demo.yaml:26: outcomes[0].timepoint: unknown timepoint 'end-of-cycle-3': "
        f"a new word can be added to {review}/vocabulary.yaml under timepoints:"
    )
    (review / "vocabulary.yaml").write_text("timepoints: [end-of-cycle-3]\ngrading: [Penn 2018]\n")
    code, lines = _validate(review)
    assert code == 0, lines  # and vocabulary.yaml is not read as a study extract
    assert load_review(review).vocabulary.words("timepoints") >= {"end-of-cycle-3", "day-15"}


def test_unknown_grading_and_outcome_words(review: Path) -> None:
    _edit(review / "demo.yaml", "    grade: any\n", "    grade: any\n    grading: Penn 2018\n")
    _edit(review / "demo.yaml", "    outcome: crs\n", "    outcome: cytokine-storm\n")
    messages = _messages(review)
    assert any("outcomes[0].grading: unknown grading 'Penn 2018'" in m for m in messages)
    assert any("outcomes[0].outcome: unknown outcome 'cytokine-storm'" in m for m in messages)
    (review / "vocabulary.yaml").write_text("grading: [Penn 2018]\noutcomes: cytokine-storm\n")
    assert _messages(review) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("timepoints: [End Of Cycle]\n", "vocabulary.yaml:1: timepoints[0]: 'End Of Cycle' is no word"),
        ("colours: [red]\n", "vocabulary.yaml:1: colours: unknown key"),
        ("- a list\n", "vocabulary.yaml:1: (document): a mapping"),
        ("timepoints: !!python/name:os.system x\n", "vocabulary.yaml:1: timepoints: YAML tag"),
        ("grading: {a: 1}\n", "vocabulary.yaml:1: grading: give a list of words"),
    ],
)
def test_a_bad_vocabulary_file_is_a_located_problem(review: Path, text: str, expected: str) -> None:
    (review / "vocabulary.yaml").write_text(text)
    assert any(expected in m for m in _messages(review)), _messages(review)


# --- record fields and forms ----------------------------------------------------------------------------------


def test_grade_ranges_and_one_bound_age_ranges() -> None:
    assert {"3-4", "1-2", "<=2", ">=3", "any"} <= set(GRADES)
    assert "4-3" not in GRADES and "3-3" not in GRADES
    assert Range.model_validate({"high": 1}).low is None
    with pytest.raises(ValidationError, match="give low, high or both"):
        Range.model_validate({})


def test_new_record_fields_and_forms_validate(review: Path) -> None:
    (review / "sources" / "demo.txt").write_text(
        SOURCE + " SYNTHETIC. Median EFS was not reached (95% CI 14.2-NR). Responders vs non-responders: "
        "HR 0.41 (95% CI 0.2-0.84), P=.03. Log-rank O-E -4.1, variance 6.2. RMST difference 3.4 months "
        "(95% CI 0.5-6.3) at 24 months. 16/30 (53.3%; 95% CI 34.3-71.7) were MRD-negative."
    )
    _edit(
        review / "demo.yaml",
        "  age: {median: 8.5, range: {low: 1.3, high: 11.5}",
        "  age: {median: 8.5, range: {high: 11.5}",
    )
    _edit(
        review / "demo.yaml",
        "{id: blina, label: Blinatumomab, role: intervention, n: 11",
        "{id: blina, label: Blinatumomab, role: intervention, n: 11",
    )
    records = """\
  - id: median-efs
    outcome: efs
    median: {kind: survival, reached: false, unit: months, ci: {low: 14.2}}
    quote: "Median EFS was not reached (95% CI 14.2-NR)."
  - id: hr-responders
    outcome: efs
    hazard_ratio: {experimental: ir, control: hr, hr: 0.41, ci: {low: 0.2, high: 0.84}, p: .03}
    quote: "HR 0.41 (95% CI 0.2-0.84), P=.03."
  - id: logrank-responders
    outcome: efs
    logrank: {experimental: ir, control: hr, o_minus_e: -4.1, variance: 6.2}
    quote: "Log-rank O-E -4.1, variance 6.2."
  - id: rmst
    outcome: efs
    difference: {measure: RMST, experimental: ir, control: hr, value: 3.4, ci: {low: 0.5, high: 6.3}, unit: months, landmark_months: 24}
    quote: "RMST difference 3.4 months (95% CI 0.5-6.3) at 24 months."
  - id: crs-grades
    outcome: crs
    grade: "3-4"
    grading: ASTCT 2019
    exposure: during
    definition: any CRS sign during the first cycle
    binary: {events: 0, total: 11}
    quote: ["with no severe CRS events", "This study included 11 patients"]
"""
    _add_record(review, records)
    assert _messages(review) == []
    study = load_review(review).studies[0].study
    hr = study.outcomes[3].hazard_ratio
    assert hr is not None and hr.p is not None and hr.p.value == 0.03
    assert [r.form for r in study.outcomes[2:6]] == ["median", "hazard_ratio", "logrank", "difference"]
    assert study.comparison_of(study.outcomes[4].comparison) == "non-randomised"


def test_leading_dot_numbers_are_read_in_quotes() -> None:
    assert numbers_in("P=.03 and P = .5") >= {numbers_in("0.03").pop(), numbers_in("0.5").pop()}
    assert number_in_quotes(0.03, ["(P=.03)"])
    assert not number_in_quotes(0.03, ["version 1.03"])


@pytest.mark.parametrize(
    ("roles_line", "sides", "comparison", "expected"),
    [
        ("", "experimental: ir, control: hr", "randomised", "'ir' is a sub-population, not a randomised arm"),
        (
            "role: historical control",
            "experimental: blina, control: hist",
            "randomised",
            "'hist' is a historical control arm",
        ),
        ("", "experimental: ir, control: nobody", "non-randomised", "no arm or sub-population 'nobody'"),
        (
            "",
            "experimental: ir, control: ir",
            "non-randomised",
            "experimental and control are the same group",
        ),
    ],
)
def test_comparisons_between_groups_that_were_not_randomised(
    review: Path, roles_line: str, sides: str, comparison: str, expected: str
) -> None:
    (review / "sources" / "demo.txt").write_text(SOURCE + " SYNTHETIC: HR 0.5 (95% CI 0.2-0.9); 12 controls.")
    if roles_line:
        _edit(
            review / "demo.yaml",
            "risk_of_bias:",
            f'  - {{id: hist, label: historical controls, {roles_line}, n: 12, quote: "12 controls"}}\nrisk_of_bias:',
        )
    _add_record(
        review,
        f"  - id: hr-x\n    outcome: efs\n    hazard_ratio: {{{sides}, hr: 0.5, ci: {{low: 0.2, high: 0.9}}, "
        f"comparison: {comparison}}}\n    quote: 'HR 0.5 (95% CI 0.2-0.9)'\n",
    )
    messages = _messages(review)
    assert any(expected in m for m in messages), messages


def test_historical_control_defaults_to_non_randomised(review: Path) -> None:
    (review / "sources" / "demo.txt").write_text(SOURCE + " SYNTHETIC: HR 0.5 (95% CI 0.2-0.9); 12 controls.")
    _edit(
        review / "demo.yaml",
        "risk_of_bias:",
        '  - {id: hist, label: historical controls, role: historical control, n: 12, quote: "12 controls"}\n'
        "risk_of_bias:",
    )
    _edit(review / "demo.yaml", "    grade: any\n", "    grade: any\n    arm: blina\n")
    _edit(review / "demo.yaml", '    grade: ">=3"\n', '    grade: ">=3"\n    arm: blina\n')
    _add_record(
        review,
        "  - id: hr-x\n    outcome: efs\n    hazard_ratio: {experimental: blina, control: hist, hr: 0.5, "
        "ci: {low: 0.2, high: 0.9}}\n    quote: 'HR 0.5 (95% CI 0.2-0.9)'\n",
    )
    assert _messages(review) == []
    study = load_review(review).studies[0].study
    assert study.comparison_of(study.outcomes[2].comparison) == "non-randomised"


# --- binary CI ------------------------------------------------------------------------------------------------


def test_binomial_cis_match_r() -> None:
    # R 4: binom.test(16, 30)$conf.int and prop.test(16, 30, correct = FALSE)$conf.int (Wilson)
    cis = binomial_cis(16, 30, 95)
    assert cis["Clopper-Pearson"] == pytest.approx((34.3255238161, 71.6581920816), rel=1e-9)
    assert cis["Wilson"] == pytest.approx((36.1422996199, 69.7676110923), rel=1e-9)
    cis = binomial_cis(7, 11, 90)
    assert cis["Clopper-Pearson"] == pytest.approx((34.9811534572, 86.4924527080), rel=1e-9)
    assert cis["Wilson"] == pytest.approx((39.4026261070, 82.4863271479), rel=1e-9)
    assert binomial_cis(0, 20, 95)["Clopper-Pearson"] == pytest.approx((0, 16.8433470983), rel=1e-9)
    assert binomial_cis(0, 20, 95)["Wald"] == (0.0, 0.0)
    assert ci_methods(16, 30, 95, "34.3", "71.7") == ["Clopper-Pearson"]
    assert ci_methods(16, 30, 95, "36.1", "69.8") == ["Wilson"]
    assert ci_methods(16, 30, 95, "35.5", "71.2") == ["Wald"]


@pytest.mark.parametrize(
    ("binary", "ok"),
    [
        ("{events: 16, total: 30, percent: 53.3, ci: {low: 34.3, high: 71.7}}", True),
        ("{events: 16, total: 30, ci: {low: 36.1, high: 69.8}}", True),
        ("{percent: 53.3, total: 30, ci: {low: 34.3, high: 71.7}}", True),
        ("{events: 16, total: 30, ci: {low: 30.0, high: 71.7}}", False),
        ("{events: 17, total: 30, ci: {low: 34.3, high: 71.7}}", False),
    ],
)
def test_a_printed_ci_of_a_proportion_must_follow_from_its_count(review: Path, binary: str, ok: bool) -> None:
    (review / "sources" / "demo.txt").write_text(
        SOURCE + " SYNTHETIC: 16/30 (53.3%; 95% CI 34.3-71.7); 95% CI 36.1-69.8; 95% CI 30.0-71.7; 17 of 30."
    )
    _edit(review / "demo.yaml", "  n: 11\n", "  n: 30\n")
    _edit(
        review / "demo.yaml",
        "{id: blina, label: Blinatumomab, role: intervention, n: 11",
        "{id: blina, label: Blinatumomab, role: intervention, n: 30",
    )
    (review / "demo.yaml").write_text(
        (review / "demo.yaml")
        .read_text()
        .replace("complete_partitions: [risk group]", "complete_partitions: []")
    )
    _add_record(
        review,
        f"  - id: mrd\n    outcome: mrd_negativity\n    mrd: {{method: MFC}}\n    binary: {binary}\n"
        "    quote: ['16/30 (53.3%; 95% CI 34.3-71.7)', '95% CI 36.1-69.8', '95% CI 30.0-71.7', '17 of 30']\n",
    )
    messages = [m for m in _messages(review) if "outcomes[2]" in m]
    assert (messages == []) == ok, messages
    if not ok:
        assert "binary.ci: 95% CI" in messages[0] and "Clopper-Pearson, Wilson or Wald" in messages[0]


# --- Kaplan-Meier rates ---------------------------------------------------------------------------------------


def test_km_rate_must_be_achievable_with_its_n() -> None:
    assert km_unachievable("93.3", 11, "survival") == (
        "a Kaplan-Meier rate below 100% cannot exceed 90.9% (1 - 1/11)"
    )
    assert km_unachievable("90.9", 11, "survival") is None
    assert km_unachievable("100", 11, "survival") is None
    assert km_unachievable("66.7", 3, "survival") is None  # 66.67% printed at one decimal: rounding allowed
    assert km_unachievable("5.0", 11, "cumulative incidence") == (
        "a cumulative incidence above 0% cannot be below 9.1% (1/11)"
    )
    assert km_unachievable("9.1", 11, "cumulative incidence") is None


def test_greenwood_effective_n_allows_for_rounding() -> None:
    assert greenwood_n("73.3", "8.1") == pytest.approx(73.35 * 26.65 / 8.15**2)
    assert greenwood_n("30.0", "9.1") == pytest.approx(29.95 * 70.05 / 9.15**2)
    assert greenwood_n("100", "0") is None


@pytest.mark.parametrize(
    ("km", "n", "expected"),
    [
        (
            "{landmark_months: 12, percent: 93.3, se: 4.6}",
            11,
            "km.percent: 93.3% is impossible with the n of the cohort (11)",
        ),
        (
            "{landmark_months: 12, percent: 73.3, se: 8.1}",
            11,
            "km.se: 73.3% with SE 8.1 implies at least 29.4 patients",
        ),
        ("{landmark_months: 12, percent: 73.3, se: 8.1}", 30, None),
        ("{landmark_months: 12, percent: 50.0, se: 9.1}", 30, None),  # 30.2 unrounded; 29.9 at SE 9.15
        (
            "{landmark_months: 12, percent: 50.0, se: 9.1, plus_minus: ci95-halfwidth}",
            115,
            None,
        ),  # 116.0 unrounded
        (
            "{landmark_months: 12, percent: 50.0, se: 9.1, plus_minus: ci95-halfwidth}",
            114,
            "km.se: 50.0% with 95% half-width 9.1 implies at least 114.7 patients",
        ),
        ("{landmark_months: 12, percent: 50.0, se: 9.1}", 29, "implies at least 29.9 patients"),
        (
            "{landmark_months: 12, kind: cumulative incidence, percent: 5.0}",
            11,
            "cannot be below 9.1% (1/11)",
        ),
    ],
)
def test_km_rates_checked_against_their_group(review: Path, km: str, n: int, expected: str | None) -> None:
    (review / "sources" / "demo.txt").write_text(
        SOURCE.replace("11 patients", f"{n} patients")
        + " SYNTHETIC: 93.3% ± 4.6, 73.3% ± 8.1, 50.0% ± 9.1, 5.0%."
    )
    text = STUDY.replace("n: 11\n", f"n: {n}\n").replace(
        "role: intervention, n: 11", f"role: intervention, n: {n}"
    )
    text = text.replace("This study included 11 patients", f"This study included {n} patients")
    text = text.replace("complete_partitions: [risk group]", "complete_partitions: []").replace(
        "total: 11", f"total: {n}"
    )
    (review / "demo.yaml").write_text(text)
    _add_record(
        review,
        f"  - id: efs\n    outcome: efs\n    km: {km}\n    quote: '93.3% ± 4.6, 73.3% ± 8.1, 50.0% ± 9.1, 5.0%'\n",
    )
    messages = [m for m in _messages(review) if "outcomes[2]" in m]
    if expected is None:
        assert messages == []
    else:
        assert len(messages) == 1 and expected in messages[0], messages


def test_km_rate_uses_the_sub_population_n(review: Path) -> None:
    (review / "sources" / "demo.txt").write_text(SOURCE + " SYNTHETIC: 70.0% ± 20.0 and 80.0%.")
    _add_record(
        review,
        "  - id: efs-ir\n    outcome: efs\n    subpopulation: ir\n    km: {landmark_months: 12, percent: 80.0}\n    quote: '80.0%'\n",
    )
    assert any(
        "n of sub-population ir (3): a Kaplan-Meier rate below 100% cannot exceed 66.7%" in m
        for m in _messages(review)
    )


def test_a_source_id_declared_twice_is_refused(review: Path) -> None:
    _edit(
        review / "demo.yaml",
        "source: {file: demo.txt, kind: conference abstract}\n",
        "sources:\n  - {file: demo.txt, kind: conference abstract}\n  - {doi: 10.1000/x, kind: full text}\n",
    )
    assert any(
        "demo.yaml:6: sources[1].id: source id 'main' is declared twice" in m for m in _messages(review)
    )


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (
            "Binary",
            {"events": 5, "total": 10, "percent": 50.0, "ci": {"low": 60, "high": 70}},
            "outside its CI",
        ),
        ("Binary", {"events": 5, "total": 10, "ci": {"low": -1, "high": 70}}, "within 0-100"),
        ("Median", {"kind": "survival", "unit": "months"}, "reached: false"),
        (
            "Median",
            {"kind": "survival", "unit": "months", "reached": False, "value": 3},
            "not reached has no",
        ),
        ("Median", {"kind": "survival", "unit": "months", "value": 3, "ci": {"low": 4}}, "outside its CI"),
        (
            "Difference",
            {"measure": "RD", "experimental": "a", "control": "b", "value": 3, "unit": "months", "p": 0.1},
            "percentage points",
        ),
        (
            "Difference",
            {"measure": "RMST", "experimental": "a", "control": "b", "value": 3, "unit": "months"},
            "CI or its p-value",
        ),
        ("LogRank", {"experimental": "a", "control": "b", "o_minus_e": -1, "variance": 0}, "greater than 0"),
    ],
)
def test_the_new_forms_refuse_what_cannot_be(model: str, data: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        getattr(schema, model).model_validate(data)
