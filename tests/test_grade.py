"""GRADE rules (metablina.grade): each rule with a case on each side of its boundary, the override, the
start, the level and the plain-language statements. Numbers in the expectations are hand computations."""

from __future__ import annotations

import math
from dataclasses import replace
from statistics import NormalDist

import pytest

from metablina import grade
from metablina.grade import Evidence, StudyEvidence
from metablina.plan import GradeOverrides

Z975 = NormalDist().inv_cdf(0.975)
Z80 = NormalDist().inv_cdf(0.80)


def study(
    name: str, weight: float, rob: str = "low", setting: tuple[str, ...] = ("frontline",)
) -> StudyEvidence:
    return StudyEvidence(name, weight, rob, setting)


def rate(**kw) -> Evidence:
    """A pooled rate of three low-risk frontline studies, CI [0.06, 0.09], nothing to rate down."""
    base = {
        "kind": "rate",
        "measure": "PLO",
        "randomised": False,
        "studies": (study("a", 1), study("b", 1), study("c", 1)),
        "question_setting": ("frontline",),
        "estimate": 0.075,
        "ci_low": 0.06,
        "ci_high": 0.09,
        "reference": 0.05,
        "reference_kind": "threshold",
        "study_estimates": (0.07, 0.075, 0.08),
        "i2": 10.0,
        "participants": 1000,
        "interval": "t",
        "random_effects": True,
    }
    return Evidence(**(base | kw))


def comparison(**kw) -> Evidence:
    """A randomised RR of 0.5 [0.4, 0.6] from one low-risk trial with ample information."""
    base = {
        "kind": "comparative",
        "measure": "RR",
        "randomised": True,
        "studies": (study("t", 1),),
        "question_setting": ("frontline",),
        "estimate": 0.5,
        "ci_low": 0.4,
        "ci_high": 0.6,
        "reference": 1.0,
        "reference_kind": "null",
        "participants": 100000,
        "control_risk": 0.2,
    }
    return Evidence(**(base | kw))


def change(domain: grade.Domain) -> int:
    return domain.change


# ------------------------------------------------------------------------------------------ risk of bias


def test_risk_of_bias_most_of_the_weight_at_serious_risk() -> None:
    half = rate(studies=(study("a", 1, "serious"), study("b", 1, "low")))
    assert change(grade.risk_of_bias(half)) == -1  # 50% is "most"
    assert "50% of the weight" in grade.risk_of_bias(half).footnote
    less = rate(studies=(study("a", 49, "serious"), study("b", 51, "low")))
    assert change(grade.risk_of_bias(less)) == 0


def test_risk_of_bias_critical_twice() -> None:
    crit = rate(studies=(study("a", 1, "critical"), study("b", 1, "low")))
    assert change(grade.risk_of_bias(crit)) == -2
    almost = rate(studies=(study("a", 49, "critical"), study("b", 2, "serious"), study("c", 49, "low")))
    assert change(grade.risk_of_bias(almost)) == -1  # 51% serious or worse, 49% critical
    assert "critical 49%" in grade.risk_of_bias(almost).footnote


def test_some_concerns_alone_is_not_serious() -> None:
    assert change(grade.risk_of_bias(rate(studies=(study("a", 1, "some concerns"),)))) == 0


# ------------------------------------------------------------------------------------------ inconsistency


def test_inconsistency_i2_with_estimates_on_both_sides_of_the_threshold() -> None:
    both = rate(i2=50.0, study_estimates=(0.03, 0.06, 0.08))
    d = grade.inconsistency(both)
    assert change(d) == -1 and "I² = 50%" in d.footnote and "threshold 5.0%" in d.footnote
    assert change(grade.inconsistency(replace(both, i2=49.9))) == 0
    one_side = rate(i2=95.0, study_estimates=(0.06, 0.07, 0.08))
    assert change(grade.inconsistency(one_side)) == 0  # large I², but every study on one side


def test_inconsistency_without_reference_reads_i2_alone() -> None:
    assert change(grade.inconsistency(rate(reference=None, i2=50.0))) == -1
    assert change(grade.inconsistency(rate(reference=None, i2=49.0))) == 0


def test_inconsistency_prediction_interval_across_the_threshold() -> None:
    pi = rate(pi_low=0.04, pi_high=0.11)  # CI [0.06, 0.09] excludes 5%, the PI does not
    d = grade.inconsistency(pi)
    assert change(d) == -1 and "prediction interval [4.0%, 11.0%]" in d.footnote
    assert change(grade.inconsistency(replace(pi, pi_low=0.051))) == 0
    both = replace(pi, ci_low=0.04)  # the CI includes 5% too: imprecision, not inconsistency
    assert change(grade.inconsistency(both)) == 0
    two = replace(pi, studies=pi.studies[:2])  # no PI verdict from k = 2
    assert change(grade.inconsistency(two)) == 0


def test_inconsistency_subgroup_test() -> None:
    assert change(grade.inconsistency(rate(subgroup_p=0.099))) == -1
    assert change(grade.inconsistency(rate(subgroup_p=0.10))) == 0


def test_inconsistency_not_applicable_to_one_study() -> None:
    assert change(grade.inconsistency(rate(studies=(study("a", 1),), i2=99.0, reference=None))) == 0


# ------------------------------------------------------------------------------------------ indirectness


def test_indirectness_setting_share() -> None:
    half = rate(
        studies=(study("a", 1, setting=("frontline", "bridging during chemotherapy delay")), study("b", 1))
    )
    d = grade.indirectness(half)
    assert change(d) == -1 and "50% of the weight" in d.footnote and "bridging" in d.footnote
    less = rate(studies=(study("a", 49, setting=("first relapse",)), study("b", 51)))
    assert change(grade.indirectness(less)) == 0


def test_indirectness_surrogate_and_both() -> None:
    assert change(grade.indirectness(rate(surrogate_for="event-free survival"))) == -1
    both = rate(studies=(study("a", 1, setting=("first relapse",)),), surrogate_for="event-free survival")
    d = grade.indirectness(both)
    assert change(d) == -2 and "surrogate outcome for event-free survival" in d.footnote


# ------------------------------------------------------------------------------------------ imprecision


def test_imprecision_ratio_ci_against_the_null_and_appreciable_effects() -> None:
    assert change(grade.imprecision(comparison(ci_low=0.8, ci_high=1.1))) == -1
    wide = grade.imprecision(comparison(ci_low=0.7, ci_high=1.3))
    assert change(wide) == -2 and "appreciable benefit" in wide.footnote
    assert change(grade.imprecision(comparison(ci_low=0.75, ci_high=1.3))) == -1  # 0.75 is not below 0.75


def test_imprecision_optimal_information_size_two_groups() -> None:
    p1 = 0.2
    p2 = p1 * 0.75
    ois = 2 * (Z975 + Z80) ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2  # 1805.3 patients
    assert grade.optimal_information_size(comparison())[0] == pytest.approx(ois, rel=1e-12)
    assert math.ceil(ois) == 1806
    assert change(grade.imprecision(comparison(participants=1806))) == 0
    below = grade.imprecision(comparison(participants=1805))
    assert (
        change(below) == -1 and "1805 patients against an optimal information size of 1806" in below.footnote
    )


def test_imprecision_optimal_information_size_events_for_hr() -> None:
    d = 4 * (Z975 + Z80) ** 2 / math.log(0.75) ** 2  # Schoenfeld: 379.4 events
    hr = comparison(measure="HR", estimate=0.4, ci_low=0.25, ci_high=0.65, control_risk=None)
    assert grade.optimal_information_size(hr)[0] == pytest.approx(d, rel=1e-12)
    assert change(grade.imprecision(replace(hr, events=380))) == 0
    assert change(grade.imprecision(replace(hr, events=379))) == -1
    unknown = grade.imprecision(replace(hr, participants=111))  # no event count: patients bound events
    assert change(unknown) == -1 and "111 patients (fewer events)" in unknown.footnote


def test_imprecision_rate_against_threshold() -> None:
    assert change(grade.imprecision(rate())) == 0  # [6%, 9%] excludes 5%
    inc = grade.imprecision(rate(ci_low=0.021, ci_high=0.083))
    assert change(inc) == -1 and "[2.1%, 8.3%] includes the threshold 5.0%" in inc.footnote
    assert change(grade.imprecision(rate(ci_low=0.02, ci_high=0.52))) == -1  # width 0.50: not wider
    assert change(grade.imprecision(rate(ci_low=0.02, ci_high=0.53))) == -2


def test_imprecision_rate_without_threshold_uses_ois() -> None:
    n = Z975**2 * 0.5 * 0.5 / 0.05**2  # 384.1 patients for ±5 points at p = 0.5
    r = rate(reference=None, estimate=0.5, ci_low=0.45, ci_high=0.55)
    assert grade.optimal_information_size(r)[0] == pytest.approx(n, rel=1e-12)
    assert change(grade.imprecision(replace(r, participants=385))) == 0
    assert change(grade.imprecision(replace(r, participants=384))) == -1


def test_imprecision_k2_random_effects_interval_counts() -> None:
    two = rate(studies=(study("a", 1), study("b", 1)), interval="t")
    d = grade.imprecision(two)
    assert change(d) == -1 and "k = 2 studies (t) is uninformative" in d.footnote
    assert change(grade.imprecision(replace(two, random_effects=False))) == 0
    assert change(grade.imprecision(rate())) == 0  # k = 3


def test_imprecision_no_interval_and_the_cap() -> None:
    d = grade.imprecision(rate(kind="unweighted", ci_low=None, ci_high=None))
    assert change(d) == -2 and "no SE, CI or number at risk" in d.footnote
    worst = rate(studies=(study("a", 1), study("b", 1)), ci_low=0.001, ci_high=0.9)
    assert change(grade.imprecision(worst)) == -3  # very wide across the threshold (-2), k = 2 (-1)


# ------------------------------------------------------------------------------- publication bias, rating up


def test_publication_bias_not_assessable_below_ten() -> None:
    nine = rate(studies=tuple(study(str(i), 1) for i in range(9)))
    d = grade.publication_bias(nine)
    assert change(d) == 0 and d.footnote == grade.PUBLICATION_NOTE
    ten = replace(nine, studies=tuple(study(str(i), 1) for i in range(10)), egger_p=0.05)
    assert change(grade.publication_bias(ten)) == -1
    assert change(grade.publication_bias(replace(ten, egger_p=0.10))) == 0


def test_rating_up_large_effect_only_for_clean_non_randomised_comparisons() -> None:
    nr = comparison(randomised=False, estimate=3.0, ci_low=2.1, ci_high=5.0)
    assert change(grade.upgrade(nr, 0)) == 1
    assert change(grade.upgrade(replace(nr, ci_low=1.9), 0)) == 0
    very = replace(nr, estimate=0.1, ci_low=0.05, ci_high=0.19)  # 1/0.19 = 5.3-fold
    assert change(grade.upgrade(very, 0)) == 2
    assert change(grade.upgrade(replace(very, ci_high=0.21), 0)) == 1  # 4.8-fold
    assert change(grade.upgrade(very, -1)) == 0  # a reason to rate down: no rating up
    assert change(grade.upgrade(replace(very, randomised=True), 0)) == 0


# ------------------------------------------------------------------------------------ start, level, override


def test_start_and_level() -> None:
    r = grade.rate(comparison())
    assert (r.start, r.level, r.label, r.symbols) == ("high", 4, "HIGH", "⊕⊕⊕⊕")
    single = grade.rate(
        rate(studies=(study("a", 1, "critical"),), kind="unweighted", ci_low=None, ci_high=None)
    )
    assert single.start == "low" and single.level == 1  # low - 2 - 2, floored at very low
    assert grade.rate(comparison(randomised=False)).start == "low"
    moderate = grade.rate(comparison(ci_low=0.8, ci_high=1.1))
    assert (moderate.level, moderate.symbols) == (3, "⊕⊕⊕◯")


def test_override_replaces_the_rule_and_says_so() -> None:
    ev = comparison(ci_low=0.8, ci_high=1.1)  # the rule: imprecision -1
    o = GradeOverrides.model_validate(
        {
            "imprecision": {"change": 0, "reason": "the CI lies within the range of no important difference"},
            "start": {"level": "low", "reason": "the trial was stopped early and is read as observational"},
        }
    )
    r = grade.rate(ev, o)
    d = next(x for x in r.domains if x.name == "imprecision")
    assert (d.change, d.override, d.rule_change) == (0, True, -1)
    assert d.footnote.startswith("Imprecision (override in the plan): the CI lies within")
    assert "the rule gave serious" in d.footnote
    assert r.start == "low" and r.start_override and r.level == 2
    assert r.footnotes()[0].startswith("Study design (override): the trial was stopped early")
    assert grade.rate(ev).level == 3  # without the override


def test_override_needs_a_reason_and_a_direction() -> None:
    with pytest.raises(ValueError, match="reason"):
        GradeOverrides.model_validate({"risk_of_bias": {"change": -1}})
    with pytest.raises(ValueError, match="less than or equal to 0"):
        GradeOverrides.model_validate({"risk_of_bias": {"change": 1, "reason": "a reason long enough"}})


def test_with_note_adds_a_footnote_and_keeps_the_level() -> None:
    r = grade.rate(comparison())
    noted = r.with_note("Robust across 24 specifications.")
    assert noted.level == r.level and noted.footnotes()[-1] == "Robust across 24 specifications."


def test_overall_is_the_lowest_critical() -> None:
    assert grade.overall([3, 1, 4]) == 1 and grade.overall([]) is None


# ------------------------------------------------------------------------------------------ statements


@pytest.mark.parametrize(
    ("level", "measure", "est", "lo", "hi", "expected"),
    [
        (3, "HR", 0.38, 0.22, 0.65, "Blinatumomab probably increases event-free survival."),
        (4, "HR", 1.5, 1.2, 1.9, "Blinatumomab reduces event-free survival."),
        (2, "RR", 0.26, 0.14, 0.49, "Blinatumomab may reduce event-free survival."),
        (
            3,
            "RR",
            0.9,
            0.7,
            1.1,
            "Blinatumomab probably results in little to no difference in event-free survival.",
        ),
        (
            1,
            "RR",
            0.26,
            0.14,
            0.49,
            "The evidence is very uncertain about the effect of blinatumomab on event-free survival.",
        ),
    ],
)
def test_statement_wording(level, measure, est, lo, hi, expected) -> None:
    text = grade.statement(
        level, "blinatumomab", "Event-free survival", measure=measure, estimate=est, ci_low=lo, ci_high=hi
    )
    assert text == expected


def test_statement_for_rates() -> None:
    assert (
        grade.statement(
            2,
            "blinatumomab",
            "CRS of grade 3 or higher",
            estimate=0.045,
            ci_low=0.021,
            ci_high=0.083,
            rate=True,
        )
        == "The rate of CRS of grade 3 or higher with blinatumomab may be about 45 per 1,000 (95% CI 21 to 83)."
    )
    assert grade.statement(1, "blinatumomab", "Relapse", estimate=0.02, rate=True) == (
        "The evidence is very uncertain about the rate of relapse with blinatumomab."
    )


def test_a_strata_override_replaces_the_analysiss_domain_by_domain() -> None:
    o = GradeOverrides.model_validate(
        {
            "risk_of_bias": {"change": -1, "reason": "open label: every stratum graded unblinded"},
            "imprecision": {"change": 0, "reason": "the analysis-wide judgement of imprecision"},
            "strata": {
                "frontline; grading not stated": {
                    "imprecision": {"change": -2, "reason": "this stratum's own judgement"},
                    "indirectness": {"change": -1, "reason": "grading system not stated in this stratum"},
                }
            },
        }
    )
    own = o.for_stratum("frontline; grading not stated")
    assert own.imprecision.change == -2 and own.indirectness.change == -1  # the stratum's
    assert own.risk_of_bias.reason.startswith("open label")  # the analysis's, where the stratum gives none
    assert o.for_stratum("first relapse") is o and o.for_stratum(None) is o
    ev = comparison(ci_low=0.8, ci_high=1.1)
    levels = [grade.rate(ev, x).level for x in (o, own)]
    assert levels == [3, 1]  # HIGH - 1 (risk of bias); HIGH - 1 - 2 - 1, at the floor: VERY LOW
