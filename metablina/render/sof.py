"""The Summary of Findings table of each review question (Cochrane / GRADEpro layout) and its files.

For each question of the plan (``questions:``) and each of its outcomes, the analyses that name it
(``question: [q/outcome]``) give one row per stratum in the question's setting, from the PRIMARY
estimate only (the plan's model, or the Bayesian fit when ``primary: bayes``): outcome with follow-up;
№ of participants (studies); certainty (⊕⊕◯◯ LOW, by :mod:`metablina.grade`); relative effect (95% CI);
anticipated absolute effects per 1,000 (risk with the comparator, risk difference with the intervention,
from :mod:`metablina.compare`); GRADE's plain-language statement; footnotes. Single-arm outcomes give
the pooled (or single) rate per 1,000; a result without an SE (e.g. a Kaplan-Meier rate printed alone)
is an unweighted row with its reason. Written into the page, as ``tables/sof.csv`` and
``tables/sof.json``, and as ``sof.docx`` (python-docx) for committees that edit in Word.
"""

from __future__ import annotations

import functools
import io
import math
import re
import string
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metablina import grade
from metablina.grade import Evidence, Rating, StudyEvidence
from metablina.plan import stratum_label, unweighted_rows

if TYPE_CHECKING:
    from metablina.compare import Absolute
    from metablina.normalize import EffectRow
    from metablina.plan import Analysis, Question, QuestionOutcome
    from metablina.run import AnalysisResult, ReviewRun, StratumFit

RATE_MEASURES = ("PLO", "PFT", "PAS", "PR", "KM")
FIXED = ("FE", "EE", "MH", "PETO")
CSV_FIELDS = (
    "question",
    "outcome",
    "importance",
    "follow_up",
    "analysis",
    "stratum",
    "participants",
    "studies",
    "certainty",
    "relative_effect",
    "risk_with_comparator",
    "risk_difference",
    "rate",
    "statement",
    "primary_model",
    "bayes_probability",
    "reason",
    "footnotes",
)


@dataclass
class SofRow:
    """One row of a Summary of Findings table; numbers on the natural scale, per 1,000 as floats."""

    question: str
    outcome_id: str
    outcome: str
    importance: str
    follow_up: str
    analysis: str
    stratum: str
    kind: str  # comparative | rate | unweighted
    measure: str
    participants: int | None
    studies: int
    rating: Rating
    statement: str
    primary_model: str
    relative: dict[str, float | None] | None = None
    absolute: dict[str, Any] | None = None
    rate: dict[str, float | None] | None = None
    bayes_probability: str = ""
    reason: str = ""
    footnote_marks: list[str] = field(default_factory=list)

    def cells(self) -> dict[str, str]:
        """The row's cells as the page, the CSV and the .docx print them."""
        return {
            "outcome": self.outcome + (f" ({self.stratum})" if self.stratum else ""),
            "follow_up": self.follow_up,
            "participants": f"{'n/a' if self.participants is None else self.participants} ({self.studies} "
            f"{'study' if self.studies == 1 else 'studies'})",
            "certainty": f"{self.rating.symbols} {self.rating.label}",
            "relative": _relative(self),
            "comparator": _per(self.absolute, "control_per_1000", self.unit) if self.absolute else "",
            "difference": _difference(self.absolute, self.unit) if self.absolute else "",
            "rate": _rate(self),
            "statement": self.statement,
            "marks": ",".join(self.footnote_marks),
        }

    @property
    def unit(self) -> str:
        """What an HR's absolute effect counts: events (1 - survival) by the landmark."""
        return "events " if self.measure == "HR" else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "outcome_id": self.outcome_id,
            "outcome": self.outcome,
            "importance": self.importance,
            "follow_up": self.follow_up,
            "analysis": self.analysis,
            "stratum": self.stratum,
            "kind": self.kind,
            "measure": self.measure,
            "participants": self.participants,
            "studies": self.studies,
            "certainty": self.rating.to_dict(),
            "relative": self.relative,
            "absolute": self.absolute,
            "rate": self.rate,
            "statement": self.statement,
            "primary_model": self.primary_model,
            "bayes_probability": self.bayes_probability,
            "reason": self.reason,
            "footnotes": self.footnote_marks,
            "cells": self.cells(),
        }


@dataclass
class QuestionSoF:
    """One question with its SoF rows, the table's footnotes (letter = position) and its answer."""

    question: Question
    rows: list[SofRow]
    footnotes: list[str]
    certainty: int | None
    answer: list[str]

    def to_dict(self) -> dict[str, Any]:
        q = self.question
        return {
            "id": q.id,
            "title": q.title,
            "population": q.population,
            "setting": list(q.setting),
            "intervention": q.intervention,
            "comparator": q.comparator,
            "outcomes": [o.model_dump() for o in q.outcomes],
            "certainty": None
            if self.certainty is None
            else {"level": self.certainty, "label": grade.LEVELS[self.certainty]},
            "answer": self.answer,
            "rows": [r.to_dict() for r in self.rows],
            "footnotes": [{"mark": mark(i), "text": t} for i, t in enumerate(self.footnotes)],
        }


def mark(i: int) -> str:
    """Footnote letters a..z, then aa, ab, ..."""
    letters = string.ascii_lowercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


# ------------------------------------------------------------------------------------------- numbers


def _pct(x: float | None) -> str:
    return grade.fmt(x)


def _relative(row: SofRow) -> str:
    r = row.relative
    if not r:
        return "not estimable" if row.measure in ("RR", "OR", "RD", "HR") else ""
    if r.get("estimate") is None:
        return "not estimable"
    return f"{row.measure} {r['estimate']:.2f} ({r['ci_low']:.2f} to {r['ci_high']:.2f})"


def _per(a: dict[str, Any], key: str, unit: str = "") -> str:
    v = a.get(key)
    return "" if v is None else f"{v:.0f} {unit}per 1,000"


def _difference(a: dict[str, Any], unit: str = "") -> str:
    d, lo, hi = a.get("difference_per_1000"), a.get("difference_low"), a.get("difference_high")
    if d is None:
        return ""

    def word(x: float) -> str:
        return f"{abs(x):.0f} {'more' if x > 0 else 'fewer'}" if round(x) != 0 else "0"

    return f"{word(d)} {unit}per 1,000 ({word(lo)} to {word(hi)})"


def absolute_footnote(a: Absolute) -> str:
    """Where the row's absolute effect comes from (GRADE SoF: the assumed comparator risk and its source),
    and its caveat, if any: a risk capped at 0-1,000, or an HR of another data cut than that risk."""
    text = (
        f"Absolute effect: the risk with the comparator is from the {a.acr_source}; {a.based_on} is applied"
    )
    return f"{text}. {a.note[0].upper()}{a.note[1:]}." if a.note else f"{text}."


def _rate(row: SofRow) -> str:
    r = row.rate
    if not r or r.get("estimate") is None:
        return ""
    per = f"{1000 * r['estimate']:.0f} per 1,000"
    if r.get("ci_low") is None:
        return f"{per} (no CI reported)"
    text = f"{per} ({1000 * r['ci_low']:.0f} to {1000 * r['ci_high']:.0f})"
    if r.get("pi_low") is not None:
        text += f"; 95% PI {1000 * r['pi_low']:.0f} to {1000 * r['pi_high']:.0f}"
    return text


# ------------------------------------------------------------------------------------------- evidence


def primary_result(stratum: StratumFit, analysis: Analysis) -> tuple[Any, str]:
    """The one estimate of a stratum the summary and the SoF use, and its name: the plan's model, or
    the Bayesian fit (prior role "primary") when the plan says ``primary: bayes`` and it was fitted."""
    if analysis.primary == "bayes":
        for b in stratum.bayes:
            if b.role == "primary" and b.result is not None:
                return b.result, f"Bayesian random effects ({b.tau_prior} on τ)"
    if stratum.result is not None:
        from metablina.render.forestdata import model_text

        return stratum.result, model_text(stratum.result)
    return None, ""


def primary_role(stratum: StratumFit, analysis: Analysis, bayes: Any) -> str:
    """The row type of a stratum's frequentist fit (``bayes`` None) or of one Bayesian fit in the
    analysis table: ``pooled`` for the primary estimate, ``sensitivity`` for the frequentist fit when
    the Bayesian one is primary, ``bayes`` for the other priors."""
    result, _ = primary_result(stratum, analysis)
    if bayes is None:
        return "pooled" if result is stratum.result else "sensitivity"
    return "pooled" if bayes.result is not None and bayes.result is result else "bayes"


def bayes_probability(stratum: StratumFit, analysis: Analysis) -> str:
    """P(pooled effect < the plan's threshold) from the Bayesian primary prior, where the plan gives a
    threshold and the Bayesian fit exists (2 <= k <= 5)."""
    if analysis.threshold is None:
        return ""
    fit = next((b for b in stratum.bayes if b.role == "primary" and b.result is not None), None)
    if fit is None:
        return ""
    from metablina.run import columns_of

    columns = tuple((k, tuple(v.tolist())) for k, v in columns_of(stratum.rows).items())
    p = _p_below(analysis.measure, fit.result.method, columns, fit.tau_prior, analysis.threshold)
    if p is None:
        return ""
    what = "rate" if analysis.measure in RATE_MEASURES else "effect"
    return f"P({what} < {_threshold(analysis)}) = {float(p):.2f} (Bayesian)"


@functools.lru_cache(maxsize=256)
def _p_below(measure: str, method: str, columns: tuple, tau_prior: str, threshold: float) -> float | None:
    """P(pooled effect < threshold) of a Bayesian fit; cached, as the summary and the SoF both ask."""
    import numpy as np

    from metablina.analyze import pool

    cols = {name: np.array(values, float) for name, values in columns}
    labels = [str(i) for i in range(len(columns[0][1]))]
    fit = pool(measure, method, None, cols, labels, tau_prior=tau_prior, threshold=threshold, shrinkage=False)
    return None if fit.fit.p_below is None else float(fit.fit.p_below)


def _threshold(a: Analysis) -> str:
    t = a.threshold
    return grade.fmt(t, a.measure) if a.measure in RATE_MEASURES else f"{t:g}"


def _studies(rows: list[EffectRow], weights: dict[str, float], review: Any) -> tuple[StudyEvidence, ...]:
    """Each study's share of the weight (the model's IV weights, else its share of the participants)."""
    info = {s.study.id: s.study for s in review.studies}
    share: dict[str, float] = {}
    for r in rows:
        w = weights.get(r.key)
        if w is None:
            w = float(_participants([r]) or 1)
        share[r.study] = share.get(r.study, 0.0) + w
    return tuple(
        StudyEvidence(
            study,
            w,
            info[study].risk_of_bias.overall if study in info else "unclear",
            tuple(info[study].setting) if study in info else (),
        )
        for study, w in share.items()
    )


def _participants(rows: list[EffectRow]) -> int | None:
    total = 0
    for r in rows:
        n = r.total
        ct = getattr(r, "control_total", None)
        if n is not None and ct is not None:
            n += ct
        n = n if n is not None else (r.cohort_n or None)
        if n is None:
            return None
        total += n
    return total


def _events(rows: list[EffectRow]) -> int | None:
    if any(r.events is None for r in rows):
        return None
    return sum(r.events + (getattr(r, "control_events", None) or 0) for r in rows)


def _follow_up(outcome: QuestionOutcome, rows: list[EffectRow]) -> str:
    if outcome.follow_up:
        return outcome.follow_up
    marks = sorted({r.landmark_months for r in rows if r.landmark_months})
    if marks:
        return "at " + ", ".join(f"{m:g}" for m in marks) + " months"
    fu = sorted({r.follow_up_months for r in rows if r.follow_up_months})
    return ("median follow-up " + ", ".join(f"{m:g}" for m in fu) + " months") if fu else ""


def _in_setting(rows: list[EffectRow], question: Question) -> bool:
    return any(set(r.setting) & set(question.setting) for r in rows)


# ------------------------------------------------------------------------------------------ the rows


def stratum_row(
    result: AnalysisResult,
    stratum: StratumFit,
    question: Question,
    outcome: QuestionOutcome,
    run: ReviewRun,
    egger_p: float | None = None,
) -> SofRow:
    """One SoF row from a stratum's primary estimate, rated by :func:`metablina.grade.rate`; ``egger_p``:
    Egger's test of the stratum where the report ran it (k >= 10)."""
    from metablina.render.forestdata import display_rows, weights_of

    a = result.analysis
    rows = list(stratum.rows)
    c = stratum.comparison
    base = {
        "question": question.id,
        "outcome_id": outcome.id,
        "outcome": outcome.name,
        "importance": outcome.importance,
        "follow_up": _follow_up(outcome, rows),
        "analysis": a.id,
        "stratum": stratum.label,
        "measure": a.measure,
        "participants": _participants(rows),
    }
    common = {
        "question_setting": tuple(question.setting),
        "surrogate_for": outcome.surrogate_for,
        "participants": base["participants"],
        "events": _events(rows),
        "egger_p": egger_p,
    }
    if c is not None:
        live = [r for r in c.rows if not r.left_out]
        weights = {r.key: r.weight for r in live if r.weight is not None}
        pooled = c.pooled
        if pooled:
            nums = {k: pooled.get(k) for k in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}
            het = {"i2": pooled.get("i2"), "tau2": pooled.get("tau2")}
        elif len(live) == 1:
            nums = {"estimate": live[0].estimate, "ci_low": live[0].ci_low, "ci_high": live[0].ci_high}
            het = {}
        else:
            nums, het = {}, {}
        null = 0.0 if a.measure == "RD" else 1.0
        ref, ref_kind = (a.threshold, "threshold") if a.threshold is not None else (null, "null")
        ev = Evidence(
            kind="comparative" if nums.get("estimate") is not None else "unweighted",
            measure=a.measure,
            randomised=c.comparison == "randomised",
            studies=_studies(
                [r for r in rows if r.key in {x.key for x in live}] or rows, weights, run.review
            ),
            study_estimates=tuple(r.estimate for r in live if r.estimate is not None),
            reference=ref,
            reference_kind=ref_kind,
            interval=c.ci_method,
            random_effects=bool(pooled) and c.method not in FIXED,
            control_risk=c.absolute.acr if c.absolute else None,
            no_interval=_left_out_reason(c),
            **nums,
            **het,
            **common,
        )
        rating = grade.rate(ev, a.grade.for_stratum(stratum.label))
        if c.absolute is not None:
            rating = rating.with_note(absolute_footnote(c.absolute))
        absolute = None if c.absolute is None else c.absolute.to_dict()
        return SofRow(
            **base,
            kind=ev.kind,
            studies=len({r.study for r in live}) or len({r.study for r in rows}),
            rating=rating,
            statement=grade.statement(
                rating.level,
                question.intervention,
                outcome.name,
                measure=a.measure,
                estimate=nums.get("estimate"),
                ci_low=nums.get("ci_low"),
                ci_high=nums.get("ci_high"),
            ),
            primary_model=f"{c.method}, {c.ci_method}"
            if pooled
            else "the trial's own effect (k = 1)"
            if len(live) == 1
            else c.not_pooled or "",
            relative=nums or None,
            absolute=absolute,
            reason="" if nums.get("estimate") is not None else (c.not_pooled or ""),
        )
    fit, model = primary_result(stratum, a)
    if fit is not None:
        back = fit.back()
        d = fit.to_dict()
        nums = {k: back.get(k) for k in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}
        het = {"i2": d.get("i2"), "tau2": d.get("tau2") if "tau2" in d else d.get("tau_median")}
        weights = weights_of(stratum) if fit is stratum.result else {}
        shown = display_rows(rows, a.measure)
        estimates = tuple(x.estimate for x in shown)
        interval = fit.ci_method
        reason = ""
    elif len(rows) == 1:
        x = display_rows(rows, a.measure)[0]
        nums, het, weights, estimates = (
            {"estimate": x.estimate, "ci_low": x.ci_low, "ci_high": x.ci_high},
            {},
            {},
            (),
        )
        interval, model, reason = "", "the study's own estimate (k = 1)", ""
    else:
        nums, het, weights, estimates, interval = {}, {}, {}, (), ""
        model, reason = "", stratum.error or stratum.refusal or ""
    ev = Evidence(
        kind="rate" if nums.get("ci_low") is not None else "unweighted",
        measure=a.measure,
        randomised=False,
        studies=_studies(rows, weights, run.review),
        study_estimates=estimates,
        reference=a.threshold,
        reference_kind="threshold",
        interval=interval,
        random_effects=fit is not None and fit.method not in FIXED and interval != "credible",
        subgroup_p=_subgroup_p(result),
        no_interval=reason or "no pooled estimate",
        **nums,
        **het,
        **common,
    )
    rating = grade.rate(ev, a.grade.for_stratum(stratum.label))
    return SofRow(
        **base,
        kind=ev.kind,
        studies=len({r.study for r in rows}),
        rating=rating,
        statement=grade.statement(
            rating.level,
            question.intervention,
            outcome.name,
            estimate=nums.get("estimate"),
            ci_low=nums.get("ci_low"),
            ci_high=nums.get("ci_high"),
            rate=True,
        ),
        primary_model=model,
        rate=nums or None,
        bayes_probability=bayes_probability(stratum, a) if fit is not None else "",
        reason=reason,
    )


def _left_out_reason(c: Any) -> str:
    """Why a comparison has no effect to show: its rows' notes (e.g. a double zero), else why not pooled."""
    notes = [f"{r.study}: {r.note}" for r in c.rows if r.left_out and r.note]
    return "; ".join(notes) or c.not_pooled or "no estimable effect"


def _subgroup_p(result: AnalysisResult) -> float | None:
    """The test for subgroup differences inside one pooled set (not across strata, which are apart)."""
    if result.subgroups and result.subgroup_test is not None and len(result.strata) == 1:
        return float(result.subgroup_test.p)
    return None


def unweighted_row(
    result: AnalysisResult, row: EffectRow, question: Question, outcome: QuestionOutcome, run: ReviewRun
) -> SofRow:
    """A single result without an SE or CI: shown with its reason, rated (by the overrides of the stratum
    it belongs in, else the analysis's), never pooled."""
    a = result.analysis
    ev = Evidence(
        kind="unweighted",
        measure=a.measure,
        randomised=False,
        studies=_studies([row], {}, run.review),
        question_setting=tuple(question.setting),
        surrogate_for=outcome.surrogate_for,
        estimate=row.estimate,
        no_interval=row.unusable or "no SE or CI",
    )
    rating = grade.rate(ev, a.grade.for_stratum(stratum_label(result.selection.keys, row)))
    return SofRow(
        question=question.id,
        outcome_id=outcome.id,
        outcome=outcome.name,
        importance=outcome.importance,
        follow_up=_follow_up(outcome, [row]),
        analysis=a.id,
        stratum=f"{row.label}, unweighted",
        kind="unweighted",
        measure=a.measure,
        participants=_participants([row]),
        studies=1,
        rating=rating,
        statement=grade.statement(
            rating.level, question.intervention, outcome.name, estimate=row.estimate, rate=True
        ),
        primary_model="not pooled: unweighted",
        rate={"estimate": row.estimate, "ci_low": None, "ci_high": None},
        reason=row.unusable or "",
    )


def answer_line(r: SofRow) -> str:
    """One critical outcome in a question's answer: what it is, its numbers, the statement, certainty."""
    c = r.cells()
    diff = c["difference"] and c["difference"] + " (risk difference)"
    numbers = "; ".join(x for x in (c["relative"], diff, c["rate"]) if x)
    where = f" ({r.stratum})" if r.stratum else ""
    return f"{r.outcome}{where}: {numbers + '. ' if numbers else ''}{r.statement} ({r.rating.label})"


def unweighted_forest_rows(result: AnalysisResult, rows: Any) -> list[tuple[str, Any]]:
    """Each result the analysis left out for having no SE or CI, as an unweighted forest-plot row (open
    circle, no interval, no weight, the reason as its note) with the label of the stratum it belongs in:
    described by the keys the selection split on, exactly as the plan labels its strata, so it joins a
    stratum with those values or starts a group of its own."""
    from metablina.render.forestmodel import StudyRow

    out = []
    for r in unweighted_rows(result.selection, rows):
        label = stratum_label(result.selection.keys, r)
        detail = f"{100 * r.estimate:.1f}%" if a_rate(result.analysis.measure) else f"{r.estimate:.2f}"
        note = r.unusable or "no SE or CI"
        out.append(
            (label, StudyRow(r.label, detail, r.estimate, math.nan, math.nan, note=note, unweighted=True))
        )
    return out


def a_rate(measure: str) -> bool:
    return measure in RATE_MEASURES


IMPORTANCE_ORDER = {"critical": 0, "important": 1, "not important": 2}


def robustness_of(model: Any) -> dict[str, dict[str, str]]:
    """The multiverse's robustness footnote of each pooled stratum (analysis id -> stratum label -> text)
    from a report model whose analyses carry their multiverse (metablina.multiverse); none otherwise."""
    if model is None:
        return {}
    from metablina.multiverse import robustness_notes

    return {
        ar.result.analysis.id: robustness_notes(ar.multiverse)
        for ar in model.analyses
        if getattr(ar, "multiverse", None)
    }


def egger_of(model: Any) -> dict[tuple[str, str], float]:
    """Egger's test p of each pooled stratum with k >= 10 (the report's diagnostics), by (analysis, label)."""
    out = {}
    for ar in getattr(model, "analyses", ()):
        for diag in ar.diagnostics:
            egger = getattr(diag, "egger", None)
            if egger and egger.get("p_value") is not None:
                out[(ar.result.analysis.id, diag.stratum.label)] = float(egger["p_value"])
    return out


def build(run: ReviewRun, model: Any = None) -> list[QuestionSoF]:
    """Every question of the plan with its SoF rows, footnotes, certainty and answer; with the report
    ``model``, each pooled row also gets the multiverse's robustness footnote (it changes no rating)."""
    robustness = robustness_of(model)
    egger = egger_of(model)
    out = []
    for q in run.plan.questions:
        rows: list[SofRow] = []
        for o in sorted(q.outcomes, key=lambda o: IMPORTANCE_ORDER[o.importance]):
            ref = f"{q.id}/{o.id}"
            for result in run.results:
                if ref not in result.analysis.question:
                    continue
                robust = robustness.get(result.analysis.id, {})
                for s in result.strata:
                    if s.rows and _in_setting(list(s.rows), q):
                        row = stratum_row(result, s, q, o, run, egger.get((result.analysis.id, s.label)))
                        # a pooled row's robustness; a single-study row's, where a departure pools it
                        if s.label in robust and (s.pooled or s.refusal is not None):
                            row.rating = row.rating.with_note(robust[s.label])
                        rows.append(row)
                for r in unweighted_rows(result.selection, run.rows):
                    if _in_setting([r], q):
                        rows.append(unweighted_row(result, r, q, o, run))
        notes: list[str] = []
        for row in rows:
            row.footnote_marks = []
            for text in row.rating.footnotes():
                if text not in notes:
                    notes.append(text)
                row.footnote_marks.append(mark(notes.index(text)))
        critical = [r.rating.level for r in rows if r.importance == "critical"]
        certainty = grade.overall(critical or [r.rating.level for r in rows])
        answer = [answer_line(r) for r in rows if r.importance == "critical"]
        out.append(QuestionSoF(q, rows, notes, certainty, answer))
    return out


# ------------------------------------------------------------------------------------------- files


def answer_lead(s: QuestionSoF) -> str:
    """The first sentence of a question's answer: the certainty across its critical outcomes, and
    whether any study compares the intervention with the comparator at all."""
    q = s.question
    if s.certainty is None:
        return "No analysis of the plan answers this question yet."
    lead = (
        f"Certainty of the evidence across the critical outcomes: {grade.SYMBOLS[s.certainty]} "
        f"{grade.LEVELS[s.certainty]} (the lowest of their ratings)."
    )
    if not any(r.kind == "comparative" or r.relative for r in s.rows):
        lead += (
            f" No study compares {q.intervention} with {q.comparator} in this setting: every row is a rate "
            f"with {q.intervention}, without a comparator."
        )
    return lead


def page_context(run: ReviewRun, model: Any = None) -> list[dict[str, Any]]:
    """What the page template needs for each question: PICO, answer, table cells, footnotes."""
    out = []
    for s in build(run, model):
        q = s.question
        out.append(
            {
                "id": q.id,
                "title": q.title,
                "population": q.population,
                "setting": ", ".join(q.setting),
                "intervention": q.intervention,
                "comparator": q.comparator,
                "lead": answer_lead(s),
                "comparative": any(r.relative or r.absolute for r in s.rows),
                "answer": s.answer,
                "rows": [
                    r.cells()
                    | {
                        "importance": r.importance,
                        "reason": r.reason,
                        "bayes": r.bayes_probability,
                        "model": r.primary_model,
                        "analysis": r.analysis,
                    }
                    for r in s.rows
                ],
                "footnotes": [(mark(i), text) for i, text in enumerate(s.footnotes)],
            }
        )
    return out


def to_json_obj(sofs: list[QuestionSoF]) -> dict[str, Any]:
    return {
        "method": GRADE_METHOD,
        "questions": [s.to_dict() for s in sofs],
    }


def csv_rows(sofs: list[QuestionSoF]) -> list[dict[str, Any]]:
    out = []
    for s in sofs:
        notes = {mark(i): text for i, text in enumerate(s.footnotes)}
        for r in s.rows:
            cells = r.cells()
            out.append(
                {
                    "question": s.question.id,
                    "outcome": r.outcome,
                    "importance": r.importance,
                    "follow_up": r.follow_up,
                    "analysis": r.analysis,
                    "stratum": r.stratum,
                    "participants": r.participants,
                    "studies": r.studies,
                    "certainty": cells["certainty"],
                    "relative_effect": cells["relative"],
                    "risk_with_comparator": cells["comparator"],
                    "risk_difference": cells["difference"],
                    "rate": cells["rate"],
                    "statement": r.statement,
                    "primary_model": r.primary_model,
                    "bayes_probability": r.bayes_probability,
                    "reason": r.reason,
                    "footnotes": " ".join(f"({m}) {notes[m]}" for m in r.footnote_marks),
                }
            )
    return out


def write_sof(run: ReviewRun, out: Path, model: Any = None) -> list[Path]:
    """``tables/sof.csv``, ``tables/sof.json`` and ``sof.docx`` in the report folder ``out``; nothing
    when the plan has no questions."""
    from metablina.render.tables import to_csv
    from metablina.render.text import to_json

    sofs = build(run, model)
    if not sofs:
        return []
    (out / "tables").mkdir(parents=True, exist_ok=True)
    paths = [out / "tables" / "sof.csv", out / "tables" / "sof.json", out / "sof.docx"]
    paths[0].write_text(to_csv(csv_rows(sofs), CSV_FIELDS), encoding="utf-8")
    paths[1].write_text(to_json(to_json_obj(sofs)), encoding="utf-8")
    write_docx(sofs, paths[2])
    return paths


DOCX_HEADER = (
    "Outcome (follow-up)",
    "№ of participants (studies)",
    "Certainty of the evidence (GRADE)",
    "Relative effect (95% CI)",
    "Risk with comparator",
    "Risk difference with intervention, or rate with intervention (95% CI)",
    "What happens",
)


def docx_cells(row: SofRow) -> list[str]:
    """One SoF row as the Word table's seven cells (the page shows the same)."""
    c = row.cells()
    marks = f" ({c['marks']})" if c["marks"] else ""
    outcome = c["outcome"] + (f" — {c['follow_up']}" if c["follow_up"] else "")
    return [
        outcome,
        c["participants"],
        c["certainty"] + marks,
        c["relative"],
        c["comparator"],
        c["difference"] or c["rate"],
        c["statement"],
    ]


def write_docx(sofs: list[QuestionSoF], path: Path) -> None:
    """The SoF tables as a Word document: per question its PICO, answer, table and footnotes."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.shared import Pt

    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = section.page_height, section.page_width
    doc.styles["Normal"].font.size = Pt(9)
    doc.add_heading("Summary of findings", level=1)
    for s in sofs:
        q = s.question
        doc.add_heading(q.title, level=2)
        doc.add_paragraph(
            f"Population: {q.population}. Setting: {', '.join(q.setting)}. Intervention: {q.intervention}. "
            f"Comparison: {q.comparator}."
        )
        doc.add_paragraph(answer_lead(s))
        for line in s.answer:
            doc.add_paragraph(line, style="List Bullet")
        table = doc.add_table(rows=1, cols=len(DOCX_HEADER))
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, DOCX_HEADER, strict=True):
            cell.text = text
        for r in s.rows:
            for cell, text in zip(table.add_row().cells, docx_cells(r), strict=True):
                cell.text = text
        for i, text in enumerate(s.footnotes):
            doc.add_paragraph(f"{mark(i)}. {text}")
    doc.add_paragraph(GRADE_METHOD)
    props = doc.core_properties
    props.title = "Summary of findings"
    props.author = props.last_modified_by = "metablina"
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    buf = io.BytesIO()
    doc.save(buf)
    path.write_bytes(_fixed_zip(buf.getvalue()))


FIXED_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def _fixed_zip(data: bytes) -> bytes:
    """The .docx (a zip) with every entry's date fixed, so two runs write byte-identical files."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def read_docx(path: Path) -> dict[str, Any]:
    """The tables and footnotes of a written ``sof.docx``, read back (for tests and checks)."""
    from docx import Document

    doc = Document(str(path))
    tables = [
        {
            "header": [c.text for c in t.rows[0].cells],
            "rows": [[c.text for c in row.cells] for row in t.rows[1:]],
        }
        for t in doc.tables
    ]
    notes = [p.text for p in doc.paragraphs if FOOTNOTE.match(p.text)]
    return {"tables": tables, "footnotes": notes}


FOOTNOTE = re.compile(r"^[a-z]{1,2}\. ")
GRADE_METHOD = (
    "Certainty drafted by metablina's GRADE rules (GRADE Handbook, Schünemann et al. 2013; GRADE guidelines "
    "3-9, J Clin Epidemiol 2011;64); statements after Santesso et al., J Clin Epidemiol 2020;119:126. "
    "⊕⊕⊕⊕ HIGH, ⊕⊕⊕◯ MODERATE, ⊕⊕◯◯ LOW, ⊕◯◯◯ VERY LOW. Overrides by the reviewers are marked as such."
)
