"""GRADE certainty of a body of evidence, drafted by explicit rules from what the tool knows.

Pure: an :class:`Evidence` (numbers of one outcome's primary estimate and its studies) goes in, a
:class:`Rating` (start, one :class:`Domain` per GRADE domain with its change and a footnote naming its
numbers, the certainty) comes out. The rules follow the GRADE Handbook (Schünemann, Brożek, Guyatt,
Oxman, eds., 2013) and the GRADE guidelines series in J Clin Epidemiol:

* start (Balshem et al. 2011;64:401, GRADE 3): a randomised comparison starts HIGH; non-randomised
  comparisons and single-arm rates answering a comparative question start LOW;
* risk of bias (Guyatt et al. 2011;64:407, GRADE 4): rate down when most of the information (≥ 50% of
  the weight) comes from studies at serious/high risk, twice when most comes from studies at critical
  risk (the extracts' overall judgements; weights are the pooled model's inverse-variance weights, or
  each study's share of the participants where the model has none, as the GLMM);
* inconsistency (Guyatt et al. 2011;64:1294, GRADE 7): rate down once when I² ≥ 50% and the study
  estimates lie on both sides of the reference (the plan's threshold, else the null of a comparison; no
  reference: I² alone), when the 95% prediction interval crosses the reference that the CI does not, or
  when a test for subgroup differences inside the pooled set gives p < 0.10; τ² is reported;
* indirectness (Guyatt et al. 2011;64:1303, GRADE 8): rate down once when ≥ 50% of the weight comes
  from studies whose setting is not wholly the question's, once for a surrogate outcome (e.g. MRD
  negativity for event-free survival); at most twice;
* imprecision (Guyatt et al. 2011;64:1283, GRADE 6): no interval at all (a result without SE or CI):
  twice. Otherwise once when the 95% CI includes the reference, twice when it is also very wide (a ratio
  CI from below 0.75 to above 1.25, or a rate or risk difference CI wider than 0.5); when the CI excludes
  it, once when the information is below the optimal information size (OIS: two-group binary at a 25%
  relative risk reduction, α 0.05, power 0.8; time-to-event 4(z₀.₉₇₅ + z₀.₈)²/ln(0.75)² ≈ 379 events;
  a rate without a threshold: z₀.₉₇₅² p(1 − p)/0.05² patients). Once more for a random-effects interval
  from k = 2 studies, which is uninformative (flagged, never silently trusted); at most three levels;
* publication bias (Guyatt et al. 2011;64:1277, GRADE 5): not assessable below 10 studies (funnel
  plots and small-study tests need at least 10), said so, not rated down;
* rating up (Guyatt et al. 2011;64:1311, GRADE 9): only non-randomised comparisons with no reason to
  rate down: once when the CI limit nearest the null is beyond a ratio of 2 (or 0.5), twice beyond 5
  (or 0.2). Dose-response and plausible residual confounding need data the extracts do not hold: only
  by the plan's override.

Each domain can be overridden in the plan (``grade:``) with a required reason; the override replaces the
rule's change, and the footnote says it is an override and what the rule gave.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any, Literal

LEVELS = {4: "HIGH", 3: "MODERATE", 2: "LOW", 1: "VERY LOW"}
SYMBOLS = {4: "⊕⊕⊕⊕", 3: "⊕⊕⊕◯", 2: "⊕⊕◯◯", 1: "⊕◯◯◯"}
START = {"high": 4, "low": 2}
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias", "upgrade")
DOMAIN_NAMES = {
    "start": "Study design",
    "risk_of_bias": "Risk of bias",
    "inconsistency": "Inconsistency",
    "indirectness": "Indirectness",
    "imprecision": "Imprecision",
    "publication_bias": "Publication bias",
    "upgrade": "Rating up",
}
# Overall risk-of-bias judgements (RoB 2, ROBINS-I, or the extract's own words) on one ladder.
ROB_LEVEL = {
    "low": 0,
    "some concerns": 1,
    "moderate": 1,
    "unclear": 1,
    "serious": 2,
    "high": 2,
    "critical": 3,
}
MOST = 0.5  # "most of the information": at least half the weight
I2_SUBSTANTIAL = 50.0  # percent (Cochrane Handbook: 50-90% may represent substantial heterogeneity)
SUBGROUP_P = 0.10
APPRECIABLE = (0.75, 1.25)  # ratios: appreciable benefit or harm (GRADE 6)
WIDE = 0.5  # rates and risk differences: a CI wider than half the scale
RRR = 0.25  # relative risk reduction the OIS is powered for
HR_TARGET = 0.75
RATE_PRECISION = 0.05  # ± 5 percentage points for a rate's OIS
PUBLICATION_BIAS_K = 10
LARGE, VERY_LARGE = 2.0, 5.0
Z_ALPHA = NormalDist().inv_cdf(0.975)
Z_BETA = NormalDist().inv_cdf(0.80)
RATIO_MEASURES = ("RR", "OR", "HR")
PUBLICATION_NOTE = (
    "Publication bias not assessable: fewer than 10 studies (funnel plots and tests for small-study "
    "effects need at least 10); not rated down, not ruled out."
)


@dataclass(frozen=True)
class StudyEvidence:
    """One study of the body of evidence: its share of the weight (0-1) and what the rules read."""

    study: str
    weight: float
    risk_of_bias: str
    setting: tuple[str, ...]


@dataclass(frozen=True)
class Evidence:
    """The numbers of one outcome's primary estimate (natural scale) that the rules read.

    ``kind``: ``comparative`` (a relative effect, ``measure`` RR/OR/RD/HR), ``rate`` (a pooled or single
    rate of one arm) or ``unweighted`` (a single result without SE or CI). ``reference``: the plan's
    threshold, else the null of a comparison, else None. ``interval``: the CI method (``t``, ``hksj``,
    ``credible``...); ``random_effects`` whether the interval is a random-effects one."""

    kind: Literal["comparative", "rate", "unweighted"]
    measure: str
    randomised: bool
    studies: tuple[StudyEvidence, ...]
    question_setting: tuple[str, ...]
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    pi_low: float | None = None
    pi_high: float | None = None
    i2: float | None = None
    tau2: float | None = None
    study_estimates: tuple[float, ...] = ()
    reference: float | None = None
    reference_kind: str = ""  # "threshold" or "null"
    interval: str = ""
    random_effects: bool = False
    subgroup_p: float | None = None
    surrogate_for: str | None = None
    participants: int | None = None
    events: int | None = None
    control_risk: float | None = None
    egger_p: float | None = None
    no_interval: str = "the report gives no SE, CI or number at risk"  # why, when there is no CI

    @property
    def k(self) -> int:
        return len({s.study for s in self.studies})


@dataclass(frozen=True)
class Domain:
    """One domain's verdict: ``change`` in levels (negative: rated down), the footnote that names its
    numbers ('' when there is nothing to say), and whether the plan overrode the rule."""

    name: str
    change: int
    footnote: str
    override: bool = False
    rule_change: int | None = None  # what the rule gave, when overridden

    @property
    def judgement(self) -> str:
        if self.name == "upgrade":
            return {0: "none", 1: "rated up one level", 2: "rated up two levels"}[self.change]
        return {0: "not serious", -1: "serious", -2: "very serious", -3: "extremely serious"}[self.change]

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.name,
            "change": self.change,
            "judgement": self.judgement,
            "footnote": self.footnote,
            "override": self.override,
            "rule_change": self.rule_change,
        }


@dataclass(frozen=True)
class Rating:
    """The certainty of one body of evidence: where it started, every domain, the result."""

    start: str
    start_reason: str
    start_override: bool
    domains: tuple[Domain, ...]
    notes: tuple[str, ...] = field(default=())  # e.g. robustness (multiverse), added later

    @property
    def level(self) -> int:
        total = START[self.start] + sum(d.change for d in self.domains)
        return max(1, min(4, total))

    @property
    def label(self) -> str:
        return LEVELS[self.level]

    @property
    def symbols(self) -> str:
        return SYMBOLS[self.level]

    def footnotes(self) -> list[str]:
        """Footnotes in domain order: the start when overridden, each domain that moved or was
        overridden or has something to say (publication bias not assessable), then notes."""
        out = [f"Study design (override): {self.start_reason}"] if self.start_override else []
        out += [d.footnote for d in self.domains if d.footnote]
        return out + list(self.notes)

    def with_note(self, text: str) -> Rating:
        """The same rating with one more footnote that does not change it (e.g. robustness)."""
        return replace(self, notes=(*self.notes, text))

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "start_reason": self.start_reason,
            "start_override": self.start_override,
            "level": self.level,
            "label": self.label,
            "symbols": self.symbols,
            "domains": [d.to_dict() for d in self.domains],
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------------------------- helpers


def fmt(x: float | None, measure: str = "") -> str:
    """A number as the footnotes print it: rates in percent, ratios to 2 decimals."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if measure in RATIO_MEASURES:
        return f"{x:.2f}"
    if measure == "RD":
        return f"{100 * x:+.1f} percentage points"
    pct = 100 * x
    if pct != 0 and abs(pct) < 0.1:
        return "< 0.1%"
    return f"{pct:.1f}%"


def _interval(e: Evidence) -> str:
    return f"[{fmt(e.ci_low, e.measure)}, {fmt(e.ci_high, e.measure)}]"


def _shares(e: Evidence, keep: Any) -> tuple[float, list[str]]:
    """The share of the weight of studies for which ``keep(study)`` holds, and their descriptions."""
    total = sum(s.weight for s in e.studies) or 1.0
    share, names = 0.0, []
    for s in e.studies:
        if keep(s):
            share += s.weight / total
            names.append(f"{s.study} {s.risk_of_bias} {100 * s.weight / total:.0f}%")
    return share, names


def _includes(lo: float | None, hi: float | None, ref: float) -> bool:
    return lo is not None and hi is not None and lo <= ref <= hi


# --------------------------------------------------------------------------------------------- rules


def start_of(e: Evidence) -> tuple[str, str]:
    """HIGH for a randomised comparison, LOW otherwise (GRADE 3)."""
    if e.kind == "comparative" and e.randomised:
        return "high", "randomised comparison: starts high"
    if e.kind == "comparative":
        return "low", "non-randomised comparison: starts low"
    return "low", "single-arm evidence (no concurrent comparator): starts low"


def risk_of_bias(e: Evidence) -> Domain:
    """Most of the weight from studies at serious/high (−1) or critical (−2) risk of bias (GRADE 4)."""
    critical, crit_names = _shares(e, lambda s: ROB_LEVEL.get(s.risk_of_bias, 1) >= 3)
    serious, names = _shares(e, lambda s: ROB_LEVEL.get(s.risk_of_bias, 1) >= 2)
    if critical >= MOST:
        return Domain(
            "risk_of_bias",
            -2,
            f"Risk of bias: {100 * critical:.0f}% of the weight from studies at critical risk of bias "
            f"({'; '.join(crit_names)}): rated down twice.",
        )
    if serious >= MOST:
        return Domain(
            "risk_of_bias",
            -1,
            f"Risk of bias: {100 * serious:.0f}% of the weight from studies at serious or higher risk "
            f"of bias ({'; '.join(names)}): rated down once.",
        )
    return Domain("risk_of_bias", 0, "")


def inconsistency(e: Evidence) -> Domain:
    """I² with estimates on both sides of the reference, a PI crossing it, or subgroups (GRADE 7)."""
    if e.k < 2 or e.kind == "unweighted":
        return Domain("inconsistency", 0, "")
    ref = e.reference
    reasons = []
    i2 = e.i2
    if i2 is not None and i2 >= I2_SUBSTANTIAL:
        if ref is None:
            reasons.append(f"I² = {i2:.0f}%")
        elif min(e.study_estimates, default=ref) < ref < max(e.study_estimates, default=ref):
            reasons.append(
                f"I² = {i2:.0f}% with study estimates on both sides of the {e.reference_kind} "
                f"{fmt(ref, e.measure)} ({', '.join(fmt(x, e.measure) for x in e.study_estimates)})"
            )
    if (
        ref is not None
        and e.k >= 3
        and _includes(e.pi_low, e.pi_high, ref)
        and not _includes(e.ci_low, e.ci_high, ref)
    ):
        reasons.append(
            f"the 95% prediction interval [{fmt(e.pi_low, e.measure)}, {fmt(e.pi_high, e.measure)}] "
            f"crosses the {e.reference_kind} {fmt(ref, e.measure)} that the CI {_interval(e)} excludes"
        )
    if e.subgroup_p is not None and e.subgroup_p < SUBGROUP_P:
        reasons.append(f"test for subgroup differences p = {e.subgroup_p:.3f}")
    if not reasons:
        return Domain("inconsistency", 0, "")
    tau = "" if e.tau2 is None else f"; τ² = {e.tau2:.3g}"
    return Domain("inconsistency", -1, f"Inconsistency: {'; '.join(reasons)}{tau}: rated down once.")


def indirectness(e: Evidence) -> Domain:
    """Studies outside the question's setting (most of the weight) and surrogate outcomes (GRADE 8)."""
    wanted = set(e.question_setting)
    total = sum(s.weight for s in e.studies) or 1.0
    off = [s for s in e.studies if not set(s.setting) <= wanted]
    share = sum(s.weight for s in off) / total
    reasons, change = [], 0
    if off and share >= MOST:
        change -= 1
        named = "; ".join(f"{s.study}: {', '.join(s.setting)} ({100 * s.weight / total:.0f}%)" for s in off)
        reasons.append(
            f"{100 * share:.0f}% of the weight from studies whose setting is not only the question's "
            f"({', '.join(e.question_setting)}): {named}"
        )
    if e.surrogate_for:
        change -= 1
        reasons.append(f"a surrogate outcome for {e.surrogate_for}")
    if not reasons:
        return Domain("indirectness", 0, "")
    times = "once" if change == -1 else "twice"
    return Domain("indirectness", change, f"Indirectness: {'; '.join(reasons)}: rated down {times}.")


def optimal_information_size(e: Evidence) -> tuple[float, str] | None:
    """The OIS and what it counts (patients or events), or None when the rule has no input."""
    z2 = (Z_ALPHA + Z_BETA) ** 2
    if e.kind == "comparative" and e.measure == "HR":
        return 4 * z2 / math.log(HR_TARGET) ** 2, "events"
    if e.kind == "comparative" and e.control_risk is not None and 0 < e.control_risk < 1:
        p1 = e.control_risk
        p2 = p1 * (1 - RRR)
        per_group = z2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2
        return 2 * per_group, "patients"
    if e.kind == "rate" and e.reference is None and e.estimate is not None:
        p = e.estimate
        return Z_ALPHA**2 * p * (1 - p) / RATE_PRECISION**2, "patients"
    return None


def imprecision(e: Evidence) -> Domain:
    """CI against the reference, OIS, and k = 2 random-effects intervals (GRADE 6)."""
    if e.kind == "unweighted" or e.ci_low is None or e.ci_high is None:
        return Domain(
            "imprecision",
            -2,
            f"Imprecision: no confidence interval can be given ({e.no_interval}): rated down twice.",
        )
    reasons, change = [], 0
    ref = e.reference
    if e.measure in RATIO_MEASURES:
        very_wide = e.ci_low < APPRECIABLE[0] and e.ci_high > APPRECIABLE[1]
        wide_text = "from appreciable benefit (< 0.75) to appreciable harm (> 1.25)"
    else:
        very_wide = e.ci_high - e.ci_low > WIDE
        wide_text = f"wider than {100 * WIDE:.0f} percentage points"
    if ref is not None and _includes(e.ci_low, e.ci_high, ref):
        change -= 2 if very_wide else 1
        reasons.append(
            f"the 95% CI {_interval(e)} includes the {e.reference_kind} {fmt(ref, e.measure)}"
            + (f" and is {wide_text}" if very_wide else "")
        )
    elif ref is None and very_wide:
        change -= 1
        reasons.append(f"the 95% CI {_interval(e)} is {wide_text}")
    else:
        ois = optimal_information_size(e)
        if ois is not None:
            target, unit = ois
            have = e.events if unit == "events" else e.participants
            counted = unit
            if have is None and unit == "events":  # patients bound the events from above
                have, counted = e.participants, "patients (fewer events)"
            if have is not None and have < target:
                change -= 1
                reasons.append(
                    f"{have} {counted} against an optimal information size of {math.ceil(target)} {unit}"
                )
    if e.k == 2 and e.random_effects:
        change -= 1
        reasons.append(f"a random-effects interval from k = 2 studies ({e.interval}) is uninformative")
    change = max(change, -3)
    if not reasons:
        return Domain("imprecision", 0, "")
    times = {-1: "once", -2: "twice", -3: "three times"}[change]
    return Domain("imprecision", change, f"Imprecision: {'; '.join(reasons)}: rated down {times}.")


def publication_bias(e: Evidence) -> Domain:
    """Not assessable below 10 studies; from 10, Egger's p < 0.10 rates down once (GRADE 5)."""
    if e.k < PUBLICATION_BIAS_K:
        return Domain("publication_bias", 0, PUBLICATION_NOTE)
    if e.egger_p is not None and e.egger_p < SUBGROUP_P:
        return Domain(
            "publication_bias",
            -1,
            f"Publication bias: Egger's test p = {e.egger_p:.3f} with k = {e.k}: rated down once.",
        )
    return Domain("publication_bias", 0, "")


def upgrade(e: Evidence, down: int) -> Domain:
    """A large effect of a non-randomised comparison with no reason to rate down (GRADE 9)."""
    if e.kind != "comparative" or e.randomised or down < 0 or e.measure not in RATIO_MEASURES:
        return Domain("upgrade", 0, "")
    if e.ci_low is None or e.ci_high is None:
        return Domain("upgrade", 0, "")
    near = e.ci_low if e.ci_low > 1 else e.ci_high if e.ci_high < 1 else 1.0
    size = max(near, 1 / near)
    change = 2 if size >= VERY_LARGE else 1 if size >= LARGE else 0
    if change == 0:
        return Domain("upgrade", 0, "")
    return Domain(
        "upgrade",
        change,
        f"Rated up {'twice' if change == 2 else 'once'} for a {'very ' if change == 2 else ''}large effect: "
        f"the CI limit nearest the null, {near:.2f}, is beyond "
        f"{VERY_LARGE if change == 2 else LARGE:g}-fold.",
    )


def _overridden(rule: Domain, override: Any) -> Domain:
    if override is None:
        return rule
    was = f"the rule gave {rule.judgement}" + (f" ({rule.footnote})" if rule.change else "")
    name = DOMAIN_NAMES[rule.name]
    return Domain(
        rule.name,
        override.change,
        f"{name} (override in the plan): {override.reason}; {was}.",
        override=True,
        rule_change=rule.change,
    )


def rate(e: Evidence, overrides: Any = None) -> Rating:
    """Every domain by its rule, each replaced by the plan's override where it gives one."""
    start, why = start_of(e)
    start_override = False
    if overrides is not None and overrides.start is not None:
        start, why, start_override = overrides.start.level, overrides.start.reason, True
    downs = [risk_of_bias(e), inconsistency(e), indirectness(e), imprecision(e), publication_bias(e)]
    get = (lambda name: getattr(overrides, name, None)) if overrides is not None else (lambda name: None)
    downs = [_overridden(d, get(d.name)) for d in downs]
    up = _overridden(upgrade(e, sum(d.change for d in downs)), get("upgrade"))
    return Rating(start, why, start_override, (*downs, up))


def overall(levels: list[int]) -> int | None:
    """The certainty of a question across its critical outcomes: the lowest (GRADE 11, Guyatt et al.,
    J Clin Epidemiol 2013;66:151)."""
    return min(levels) if levels else None


# ------------------------------------------------------------------------- plain-language statements

CERTAINTY_WORD = {4: "", 3: "probably ", 2: "may ", 1: ""}


def statement(
    level: int,
    intervention: str,
    outcome: str,
    *,
    measure: str = "",
    estimate: float | None = None,
    ci_low: float | None = None,
    ci_high: float | None = None,
    rate: bool = False,
) -> str:
    """GRADE's informative statement (Santesso et al., J Clin Epidemiol 2020;119:126, GRADE 26): the
    certainty sets the verb (high: "reduces", moderate: "probably reduces", low: "may reduce", very
    low: "the evidence is very uncertain"), the CI against the null sets the direction or "little to no
    difference". An HR outcome is named for the survival (HR < 1 increases it); RR, OR and RD outcomes
    for the event. A rate (one arm, no comparator) is stated as a rate per 1,000."""
    name = outcome if outcome[1:2].isupper() else outcome[:1].lower() + outcome[1:]
    if level == 1:
        what = "the rate of" if rate else "the effect of " + intervention + " on"
        tail = f" with {intervention}" if rate else ""
        return f"The evidence is very uncertain about {what} {name}{tail}."
    if rate:
        per = "no estimate" if estimate is None else f"{1000 * estimate:.0f} per 1,000"
        ci = (
            "no CI reported"
            if ci_low is None or ci_high is None
            else f"95% CI {1000 * ci_low:.0f} to {1000 * ci_high:.0f}"
        )
        verb = {4: "is", 3: "is probably", 2: "may be"}[level]
        return f"The rate of {name} with {intervention} {verb} about {per} ({ci})."
    null = 0.0 if measure == "RD" else 1.0
    word = CERTAINTY_WORD[level]
    if ci_low is None or ci_high is None or estimate is None or ci_low <= null <= ci_high:
        verb = {4: "results", 3: "probably results", 2: "may result"}[level]
        return f"{_capital(intervention)} {verb} in little to no difference in {name}."
    more = estimate < null if measure == "HR" else estimate > null
    verb = "increase" if more else "reduce"
    verb = verb + "s" if level >= 3 else verb
    return f"{_capital(intervention)} {word}{verb} {name}."


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
