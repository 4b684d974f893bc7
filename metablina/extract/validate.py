"""Load a folder of extracts into :class:`Study` objects and list everything wrong with them.

All problems of all files come back in one run, each located as ``path:line: field: message``, so a
reviewer can fix a folder in one pass. Notes (reports of one trial, quotes that cannot be checked
because a source has no local copy) come back too but do not fail the review. Nothing here prints;
the CLI does.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from scipy.special import ndtri

from metablina.extract.consistency import (
    MAX_DECIMALS,
    ci_methods,
    closest_count,
    greenwood_n,
    km_unachievable,
    number_in_quotes,
    printed_percent,
    quote_in_source,
)
from metablina.extract.loader import Key, LoadError, Located, Problem, load_yaml, shown
from metablina.extract.schema import (
    CONTROL_ROLES_NOT_RANDOMISED,
    SLUG,
    Arm,
    OutcomeRecord,
    Population,
    Provenance,
    Report,
    Source,
    Study,
    SubPopulation,
)
from metablina.extract.vocabulary import VOCABULARY_FILE, Vocabulary, load_vocabulary
from metablina.safeio import InputRefused, read_input

PLAN_FILE = "analyses.yaml"
SOURCES_DIR = "sources"
MAX_SOURCE_BYTES = 8 << 20  # a full text is a few hundred KiB


@dataclass(frozen=True)
class LoadedStudy:
    """A valid study with the located document it came from (for line numbers and printed decimals)."""

    study: Study
    doc: Located

    @property
    def path(self) -> Path:
        return self.doc.path


@dataclass(frozen=True)
class Review:
    """The studies of a review folder, in file-name order, every problem found in it and its notes.

    ``trials`` maps each study id to the id of the trial it reports (see :func:`trial_ids`).
    """

    folder: Path
    studies: list[LoadedStudy]
    problems: list[Problem]
    unchecked: list[Problem] = field(default_factory=list)
    same_trial: list[Problem] = field(default_factory=list)
    trials: dict[str, str] = field(default_factory=dict)
    vocabulary: Vocabulary = field(default_factory=Vocabulary)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def notes(self) -> list[Problem]:
        """What is said but does not fail: reports of one trial, then quotes with no local copy to check."""
        return self.same_trial + self.unchecked


def study_files(folder: Path) -> list[Path]:
    """The extract files of a review folder: every ``*.yaml``/``*.yml`` but the plan and the vocabulary."""
    files = [
        p
        for p in folder.iterdir()
        if p.suffix in (".yaml", ".yml") and p.name not in (PLAN_FILE, VOCABULARY_FILE)
    ]
    return sorted(files)


@dataclass(frozen=True)
class Sources:
    """Where source documents are looked up, and the folder they must lie in once links are followed.

    ``folder/sources`` must stay inside the review folder; a sources folder named on the command line
    is trusted as given, but nothing may lead out of it.
    """

    folder: Path
    inside: Path


def load_review(
    folder: Path, sources: Path | None = None, *, map_files: Callable[..., Iterable[Any]] = map
) -> Review:
    """Load and check every extract in ``folder``; sources are looked up in ``folder/sources``.

    Every check that can run does, even on an extract the schema refuses (its id, its source and
    its quotes, and the numbers of each record that is valid by itself), so one run lists them all.
    ``map_files``: how the extracts are read and checked one by one (:func:`load_extract`), in order; a
    process pool's ``map`` reads them side by side.
    """
    folder = Path(folder)
    if sources is None:
        where = Sources(folder / SOURCES_DIR, inside=folder)
    else:
        where = Sources(Path(sources), inside=Path(sources))
    if not folder.is_dir():
        return Review(folder, [], [Problem(folder, None, "(folder)", "not a folder")])
    vocabulary, problems = load_vocabulary(folder)
    notes: list[Problem] = []
    studies: list[LoadedStudy] = []
    files = study_files(folder)
    if not files:
        problems.append(Problem(folder, None, "(folder)", "holds no *.yaml study extracts"))
    for found, unchecked, loaded in map_files(
        load_extract, files, repeat(folder), repeat(where), repeat(vocabulary)
    ):
        problems += found
        notes += unchecked
        if loaded is not None:
            studies.append(loaded)
    problems += check_across(studies)
    trials = trial_ids([s.study for s in studies])
    return Review(folder, studies, problems, notes, trial_notes(studies), trials, vocabulary)


def load_extract(
    path: Path, folder: Path, where: Sources, vocabulary: Any
) -> tuple[list[Problem], list[Problem], LoadedStudy | None]:
    """One extract of the review ``folder`` read and checked by itself: its problems, the quotes that
    could not be checked, and the study (None where the schema refuses it)."""
    try:
        doc = load_yaml(path, inside=folder)
    except LoadError as exc:
        return [exc.problem], [], None
    study, problems = parse_study(doc)
    notes: list[Problem] = []
    if isinstance(doc.data, dict):
        found, notes = check_provenance(doc, where)
        problems += found
    if study is None:
        return problems, notes, None
    loaded = LoadedStudy(study, doc)
    return problems + check_study(loaded, vocabulary), notes, loaded


_TYPE_PARTS = re.compile(
    r"^(str|int|float|bool|list\[.*\]|dict\[.*\]|function-.*|literal\[.*\]|union\[.*\])$"
)


def parse_study(doc: Located) -> tuple[Study | None, list[Problem]]:
    """Validate a loaded document against the schema; pydantic's errors become located problems."""
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__
        return None, [doc.problem((), f"an extract is a mapping of keys to values, not a {kind}")]
    try:
        return Study.model_validate(doc.data), []
    except ValidationError as exc:
        return None, parse_errors(doc, exc)


def parse_errors(doc: Located, exc: ValidationError) -> list[Problem]:
    """pydantic's errors for a document as located, de-duplicated problems."""
    problems = []
    for err in exc.errors():
        key = tuple(p for p in err["loc"] if isinstance(p, int) or not _TYPE_PARTS.match(str(p)))
        problems.append(doc.problem(key, _message(err)))
    return _dedupe(problems)


def _message(err: dict[str, Any]) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        return "unknown key (a typo? see studies/README.md for the fields)"
    if kind == "missing":
        return "required field is missing"
    msg = msg.removeprefix("Value error, ")
    if isinstance(value, dict | list) or (kind.endswith("_error") and "ValueError" in msg):
        return msg
    return f"{msg} (got {shown(value)})"


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.line, p.field, p.message) not in seen:
            seen.add((p.line, p.field, p.message))
            out.append(p)
    return out


# Fields of each record that are numbers read from the source, and must therefore stand in its quote.
def _data_numbers(record: Provenance) -> Iterator[tuple[str, float | int]]:
    def walk(obj: Any, prefix: str, names: tuple[str, ...]) -> Iterator[tuple[str, float | int]]:
        for name in names:
            value = getattr(obj, name, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield f"{prefix}{name}", value

    if isinstance(record, Report):
        yield from walk(record, "", ("follow_up_months",))
    elif isinstance(record, Population):
        yield from walk(record, "", ("n", "female_percent", "female"))
        if record.age is not None:
            yield from walk(record.age, "age.", ("median", "mean"))
            for part in ("range", "iqr"):
                if (r := getattr(record.age, part)) is not None:
                    yield from walk(r, f"age.{part}.", ("low", "high"))
    elif isinstance(record, SubPopulation | Arm):
        yield from walk(record, "", ("n",))
    elif isinstance(record, OutcomeRecord):
        yield from walk(record, "", ("follow_up_months",))
        if record.binary is not None:
            yield from walk(record.binary, "binary.", ("events", "total", "percent"))
            if record.binary.ci is not None:
                yield from walk(record.binary.ci, "binary.ci.", ("low", "high"))
        if record.km is not None:
            yield from walk(record.km, "km.", ("percent", "se", "n_at_risk"))
            if record.km.ci is not None:
                yield from walk(record.km.ci, "km.ci.", ("low", "high"))
        for form, names in _FORM_NUMBERS.items():
            if (value := getattr(record, form)) is None:
                continue
            yield from walk(value, f"{form}.", names)
            if getattr(value, "ci", None) is not None:
                yield from walk(value.ci, f"{form}.ci.", ("low", "high"))
            if getattr(value, "p", None) is not None:
                yield f"{form}.p.value", value.p.value


# The numbers of the forms with a CI or a p-value (binary and km are walked above).
_FORM_NUMBERS = {
    "hazard_ratio": ("hr",),
    "median": ("value",),
    "logrank": ("o_minus_e", "variance", "events"),
    "difference": ("value", "landmark_months"),
}


def _records(data: dict[str, Any]) -> Iterator[tuple[Key, type[Provenance], Any]]:
    """Every record of a loaded extract, as typed (valid or not), with the model it should fit."""

    def items(parent: Any, name: str) -> list[Any]:
        value = parent.get(name) if isinstance(parent, dict) else None
        return value if isinstance(value, list) else []

    if isinstance(data.get("report"), dict):
        yield ("report",), Report, data["report"]
    population = data.get("population")
    yield ("population",), Population, population
    for i, sub in enumerate(items(population, "subpopulations")):
        yield ("population", "subpopulations", i), SubPopulation, sub
    for i, arm in enumerate(items(data, "arms")):
        yield ("arms", i), Arm, arm
    for i, rec in enumerate(items(data, "outcomes")):
        yield ("outcomes", i), OutcomeRecord, rec


def _valid(model: type[BaseModel], data: Any) -> Any:
    """``data`` as a ``model``, or None when the schema refuses it (its errors are reported already)."""
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def _key(base: Key, dotted_field: str) -> Key:
    return (*base, *dotted_field.split("."))


def check_provenance(doc: Located, sources: Sources) -> tuple[list[Problem], list[Problem]]:
    """The checks that need no valid study: its id against the file name, its source documents, every
    quote against the source its record names and the numbers of every record that is valid by itself
    against its quotes. Returns the problems and the notes (quotes of a source with no local copy).
    """
    out: list[Problem] = []
    notes: list[Problem] = []
    study_id = doc.data.get("id")
    if isinstance(study_id, str) and re.fullmatch(SLUG, study_id) and study_id != doc.path.stem:
        out.append(doc.problem(("id",), f"id {study_id!r} differs from the file name {doc.path.stem!r}"))
    declared = _declared_sources(doc.data)
    texts: dict[str, str | None] = {}
    seen: set[str] = set()
    for key, sid, source in declared:
        if sid in seen:
            out.append(doc.problem((*key, "id"), f"source id {sid!r} is declared twice"))
        seen.add(sid)
        if source is not None and source.file is not None and sid not in texts:
            texts[sid], problem = _read_source(doc, sources, source.file, (*key, "file"))
            out += problem
    by_id: dict[str, Source | None] = {}
    for _, sid, source in declared:
        by_id.setdefault(sid, source)  # a twice-declared id is reported above; the first one counts
    first = declared[0][1] if declared else None
    for base, model, raw in _records(doc.data):
        if not isinstance(raw, dict):
            continue
        sid = first if raw.get("source") is None else raw["source"]
        source = by_id.get(sid) if isinstance(sid, str) else None
        if isinstance(sid, str) and sid not in by_id:
            names = ", ".join(by_id) or "none"
            message = f"names no declared source {shown(sid)} (sources: {names})"
            out.append(doc.problem((*base, "source"), message))
        elif source is not None and not source.checked and raw.get("quote") is not None:
            message = f"not checked against a local copy (source {sid!r} is {source.cited_as})"
            notes.append(doc.problem((*base, "quote"), message))
        elif source is not None and isinstance(sid, str):
            out += _check_quotes(raw.get("quote"), base, doc, texts.get(sid), source.file or "")
        if (record := _valid(model, raw)) is not None:
            out += _check_numbers(record, base, doc)
    return out, notes


def _declared_sources(data: dict[str, Any]) -> list[tuple[Key, str, Source | None]]:
    """The sources an extract declares, as typed: (where, id, the valid Source or None), in order.

    The ids are read even from a source the schema refuses, so that its records are not also reported
    as naming an undeclared source.
    """
    if isinstance(data.get("source"), dict) and "sources" not in data:
        raw = data["source"]
        return [(("source",), str(raw.get("id", "main")), _valid(Source, raw))]
    items = data.get("sources")
    if not isinstance(items, list):
        return []
    return [
        (("sources", i), str(raw.get("id", "main")), _valid(Source, raw))
        for i, raw in enumerate(items)
        if isinstance(raw, dict)
    ]


def _read_source(doc: Located, sources: Sources, name: str, key: Key) -> tuple[str | None, list[Problem]]:
    path = sources.folder / name
    if not os.path.lexists(path):
        return None, [doc.problem(key, f"source document not found at {path}")]
    try:
        raw = read_input(path, MAX_SOURCE_BYTES, inside=sources.inside)
    except InputRefused as exc:
        return None, [doc.problem(key, f"source document {path}: {exc.reason}")]
    return raw.decode("utf-8", errors="replace"), []


def check_study(loaded: LoadedStudy, vocabulary: Vocabulary | None = None) -> list[Problem]:
    """Consistency within one valid study: ids, references, words, sub-population sizes, counts, rates."""
    study, doc = loaded.study, loaded.doc
    vocabulary = vocabulary or Vocabulary()
    out: list[Problem] = []
    arms = {a.id: a for a in study.arms}
    subs = {s.id: s for s in study.population.subpopulations}
    for kind, ids, base in (
        ("arm", [a.id for a in study.arms], ("arms",)),
        ("sub-population", [s.id for s in study.population.subpopulations], ("population", "subpopulations")),
        ("outcome record", [r.id for r in study.outcomes], ("outcomes",)),
    ):
        for dup, count in Counter(ids).items():
            if count > 1:
                i = ids.index(dup, ids.index(dup) + 1)
                out.append(doc.problem((*base, i, "id"), f"{kind} id {dup!r} is used {count} times"))

    out += _check_subpopulations(study, doc, subs)

    cut = study.report.data_cut if study.report is not None else None
    for i, rec in enumerate(study.outcomes):
        base: Key = ("outcomes", i)
        if rec.arm is None and len(arms) > 1 and rec.comparison is None:
            out.append(
                doc.problem((*base, "arm"), f"the study has {len(arms)} arms; say which ({', '.join(arms)})")
            )
        if rec.arm is not None and rec.arm not in arms:
            out.append(doc.problem((*base, "arm"), f"no arm {rec.arm!r} (arms: {', '.join(arms)})"))
        if rec.subpopulation is not None and rec.subpopulation not in subs:
            out.append(doc.problem((*base, "subpopulation"), f"no sub-population {rec.subpopulation!r}"))
        out += _check_words(rec, base, doc, vocabulary)
        if rec.data_cut is not None and cut is not None and _later(rec.data_cut, cut):
            message = f"data cut {rec.data_cut} is later than the report's ({cut})"
            out.append(doc.problem((*base, "data_cut"), message))
        if rec.comparison is not None:
            out += _check_comparison(rec, base, doc, study, arms, subs)
        if rec.binary is not None:
            out += _check_binary(rec, base, doc, study, arms, subs)
        if rec.km is not None and rec.unit == "patients":
            out += _check_km(rec, base, doc, _group(rec, study, arms, subs))
    return out


def _later(date: str, than: str) -> bool:
    """Whether ``date`` is surely after ``than`` (compared at the precision both give)."""
    size = min(len(date), len(than))
    return date[:size] > than[:size]


def _check_words(rec: OutcomeRecord, base: Key, doc: Located, vocabulary: Vocabulary) -> list[Problem]:
    """Outcome, timepoint and grading must be built-in words or listed in the review's vocabulary.yaml."""
    out = []
    for name in ("outcome", "timepoint", "grading"):
        word = getattr(rec, name)
        if word is not None and (message := vocabulary.unknown(name, word, doc.path.parent)) is not None:
            out.append(doc.problem((*base, name), message))
    return out


def _group(rec: OutcomeRecord, study: Study, arms: dict, subs: dict) -> tuple[str, int | None]:
    """The group a record's rate is measured in and its n: its sub-population, its arm, or the cohort."""
    if rec.subpopulation in subs:
        return f"sub-population {rec.subpopulation}", subs[rec.subpopulation].n
    if rec.arm in arms and len(arms) > 1:
        return f"arm {rec.arm}", arms[rec.arm].n
    return "the cohort", study.population.n


def _check_comparison(
    rec: OutcomeRecord, base: Key, doc: Located, study: Study, arms: dict, subs: dict
) -> list[Problem]:
    """A two-group record names arms or sub-populations; with a sub-population or a historical or
    external control it is a non-randomised comparison, and may not be declared randomised."""
    c, form = rec.comparison, rec.form
    assert c is not None
    out = []
    for side in ("experimental", "control"):
        name = getattr(c, side)
        if name not in arms and name not in subs:
            out.append(doc.problem((*base, form, side), f"no arm or sub-population {name!r}"))
    if c.experimental == c.control:
        out.append(doc.problem((*base, form), "experimental and control are the same group"))
    if c.comparison == "randomised":
        for side in ("experimental", "control"):
            name = getattr(c, side)
            why = None
            if name in subs and name not in arms:
                why = f"{name!r} is a sub-population, not a randomised arm"
            elif name in arms and arms[name].role in CONTROL_ROLES_NOT_RANDOMISED:
                why = f"{name!r} is a {arms[name].role} arm"
            if why is not None:
                message = f"{why}: the comparison is non-randomised (write comparison: non-randomised)"
                out.append(doc.problem((*base, form, "comparison"), message))
                break
    return out


def _check_km(rec: OutcomeRecord, base: Key, doc: Located, group: tuple[str, int | None]) -> list[Problem]:
    """A Kaplan-Meier rate must be achievable with its group's n, and its SE must not imply more patients."""
    km = rec.km
    assert km is not None
    name, n = group
    if n is None:
        return []
    percent = doc.texts.get((*base, "km", "percent"), repr(km.percent))
    why = km_unachievable(percent, n, km.kind)
    if why is not None:
        message = f"{percent}% is impossible with the n of {name} ({n}): {why}; is the group another one?"
        return [doc.problem((*base, "km", "percent"), message)]
    if km.se is None:
        return []
    se = doc.texts.get((*base, "km", "se"), repr(km.se))
    halfwidth = km.plus_minus == "ci95-halfwidth"
    effective = greenwood_n(percent, se, 1 / float(ndtri(0.975)) if halfwidth else 1.0)
    if effective is not None and effective > n + 1e-9:
        what = "95% half-width" if halfwidth else "SE"
        message = (
            f"{percent}% with {what} {se} implies at least {effective:.1f} patients (S(1-S)/SE^2, "
            f"Greenwood), more than the n of {name} ({n}); is the group another one?"
        )
        return [doc.problem((*base, "km", "se"), message)]
    return []


def _check_subpopulations(study: Study, doc: Located, subs: dict) -> list[Problem]:
    out = []
    base = ("population", "subpopulations")
    for i, sub in enumerate(study.population.subpopulations):
        parent_n = study.population.n
        if sub.parent is not None:
            if sub.parent not in subs or sub.parent == sub.id:
                out.append(doc.problem((*base, i, "parent"), f"no other sub-population {sub.parent!r}"))
                continue
            parent_n = subs[sub.parent].n
        if sub.n is not None and parent_n is not None and sub.n > parent_n:
            out.append(doc.problem((*base, i, "n"), f"n = {sub.n} exceeds the n of its parent ({parent_n})"))
    parts: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for i, sub in enumerate(study.population.subpopulations):
        parts[(sub.partition, sub.parent)].append(i)
    for j, name in enumerate(study.population.complete_partitions):
        groups = [(parent, idx) for (part, parent), idx in parts.items() if part == name]
        if not groups:
            out.append(
                doc.problem(
                    ("population", "complete_partitions", j), f"no sub-population has partition {name!r}"
                )
            )
        for parent, idx in groups:
            whole = study.population.n if parent is None else subs[parent].n if parent in subs else None
            sizes = [study.population.subpopulations[i].n for i in idx]
            if None in sizes:
                message = f"partition {name!r} is complete, so every part needs its n"
                out.append(doc.problem((*base, idx[0], "n"), message))
                continue
            total = sum(sizes)
            if whole is not None and total != whole:
                names = " + ".join(
                    f"{study.population.subpopulations[i].id} {study.population.subpopulations[i].n}"
                    for i in idx
                )
                out.append(
                    doc.problem((*base, idx[0], "n"), f"partition {name!r}: {names} = {total}, not {whole}")
                )
    return out


def _check_binary(rec: Any, base: Key, doc: Located, study: Study, arms: dict, subs: dict) -> list[Problem]:
    """A count's total within its group, then (only if that holds) its percentage against its count."""
    b = rec.binary
    counts: list[int] = [] if b.events is None else [b.events]
    if rec.unit == "patients":
        group, group_n = "the cohort", study.population.n
        if rec.subpopulation in subs and subs[rec.subpopulation].n is not None:
            group, group_n = f"sub-population {rec.subpopulation}", subs[rec.subpopulation].n
        elif rec.arm in arms and len(arms) > 1:
            group, group_n = f"arm {rec.arm}", arms[rec.arm].n
        if b.total > group_n:
            message = f"total {b.total} exceeds the n of {group} ({group_n})"
            return [doc.problem((*base, "binary", "total"), message)]
    if b.percent is None:
        return _check_binary_ci(b, base, doc, counts)
    text = doc.texts.get((*base, "binary", "percent"), repr(b.percent))
    if printed_percent(text) is None:
        message = f"write the percentage as the source prints it, e.g. 95.0 (at most {MAX_DECIMALS} decimals)"
        return [doc.problem((*base, "binary", "percent"), f"{message}, not {shown(text)}")]
    count, candidates = closest_count(text, b.total)
    if count is None:
        message = f"{text}% of {b.total} is no whole number of patients at the printed precision"
        return [doc.problem((*base, "binary", "percent"), message)]
    if b.events is not None and b.events not in candidates:
        message = f"{b.events}/{b.total} does not print as {text}% (consistent: {candidates})"
        return [doc.problem((*base, "binary", "events"), message)]
    return _check_binary_ci(b, base, doc, [b.events] if b.events is not None else list(candidates))


def _check_binary_ci(b: Any, base: Key, doc: Located, counts: list[int]) -> list[Problem]:
    """A printed CI of a proportion must follow from its count by one of the usual methods."""
    if b.ci is None:
        return []
    low = doc.texts.get((*base, "binary", "ci", "low"), repr(b.ci.low))
    high = doc.texts.get((*base, "binary", "ci", "high"), repr(b.ci.high))
    if any(ci_methods(x, b.total, b.ci_level, low, high) for x in counts):
        return []
    shown_count = f"{counts[0]}/{b.total}" if len(counts) == 1 else f"any of {counts} of {b.total}"
    message = (
        f"{b.ci_level:g}% CI {low}-{high} does not follow from {shown_count} by Clopper-Pearson, "
        "Wilson or Wald at the printed decimals"
    )
    return [doc.problem((*base, "binary", "ci"), message)]


def _check_quotes(
    quote: Any, base: Key, doc: Located, source_text: str | None, source_file: str
) -> list[Problem]:
    """Each quote (a string or a list of strings, as typed) must stand verbatim in the source."""
    if source_text is None:
        return []
    out = []
    quotes = [(("quote",), quote)] if isinstance(quote, str) else []
    if isinstance(quote, list):
        quotes = [(("quote", j), q) for j, q in enumerate(quote) if isinstance(q, str)]
    for where, text in quotes:
        if not quote_in_source(text, source_text):
            message = f"quote not found verbatim in {source_file}: {text.strip()[:60]!r}"
            out.append(doc.problem((*base, *where), message))
    return out


def _check_numbers(record: Provenance, base: Key, doc: Located) -> list[Problem]:
    """Every number of a record must stand in its quotes, or be explained under ``derived``."""
    out = []
    for dotted_field in record.derived:
        if dotted_field not in {name for name, _ in _data_numbers(record)}:
            out.append(doc.problem((*base, "derived", dotted_field), "names no number field of this record"))
    total = getattr(getattr(record, "binary", None), "total", None)
    for name, value in _data_numbers(record):
        if name in record.derived:
            continue
        equals_total = name == "binary.events" and value == total
        if not number_in_quotes(value, record.quotes, equals_total=equals_total):
            out.append(
                doc.problem(
                    _key(base, name),
                    f"{value} does not appear in the quote (write it, or explain it under derived)",
                )
            )
    return out


def check_across(studies: list[LoadedStudy]) -> list[Problem]:
    """Problems between studies: duplicated ids, and overlaps naming unknown studies or declared one way."""
    out = []
    by_id: dict[str, LoadedStudy] = {}
    for s in studies:
        if s.study.id in by_id:
            first = by_id[s.study.id].path.name
            out.append(s.doc.problem(("id",), f"id {s.study.id!r} is already used by {first}"))
        else:
            by_id[s.study.id] = s
    out += _check_trial_keys(studies)
    for s in studies:
        for i, ov in enumerate(s.study.overlap):
            key = ("overlap", i, "study")
            if ov.study == s.study.id:
                out.append(s.doc.problem(key, "a study cannot overlap itself"))
            elif ov.study not in by_id:
                out.append(s.doc.problem(key, f"no study with id {ov.study!r} in this folder"))
            elif s.study.id not in {o.study for o in by_id[ov.study].study.overlap}:
                out.append(
                    s.doc.problem(
                        key, f"{ov.study} does not declare the overlap back; declare it on both sides"
                    )
                )
    return out


def _check_trial_keys(studies: list[LoadedStudy]) -> list[Problem]:
    """Extracts sharing a registry id report one trial, so their trial keys (if given) must agree."""
    out = []
    first_key: dict[str, tuple[str, str]] = {}  # registry id -> (key, study id) of the first keyed extract
    for s in studies:
        key = s.study.trial.key if s.study.trial else None
        if key is None:
            continue
        for reg in s.study.registry_ids:
            if reg in first_key and first_key[reg][0] != key:
                other_key, other = first_key[reg]
                message = f"shares registry id {reg} with {other}, whose trial key is {other_key!r}: use one"
                out.append(s.doc.problem(("trial", "key"), message))
            first_key.setdefault(reg, (key, s.study.id))
    return out


def trial_ids(studies: list[Study]) -> dict[str, str]:
    """Study id -> the id of the trial it reports: extracts sharing a registry id or a trial key are
    reports of one trial, even when their own first ids differ. The id is the shared key if any, else
    the smallest registry id, else the study id."""
    parent = {s.id: s.id for s in studies}

    def root(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    owner: dict[str, str] = {}
    for s in studies:
        names = list(s.registry_ids) + ([f"key:{s.trial.key}"] if s.trial and s.trial.key else [])
        for name in names:
            if name in owner:
                parent[root(s.id)] = root(owner[name])
            else:
                owner[name] = s.id
    groups: dict[str, list[Study]] = defaultdict(list)
    for s in studies:
        groups[root(s.id)].append(s)
    out = {}
    for members in groups.values():
        keys = sorted({m.trial.key for m in members if m.trial and m.trial.key})
        registries = sorted({r for m in members for r in m.registry_ids})
        name = keys[0] if keys else registries[0] if registries else members[0].id
        out.update({m.id: name for m in members})
    return out


def trial_notes(studies: list[LoadedStudy]) -> list[Problem]:
    """One note per trial reported by more than one extract, naming each with its kind and data cut."""
    trials = trial_ids([s.study for s in studies])
    groups: dict[str, list[LoadedStudy]] = defaultdict(list)
    for s in studies:
        groups[trials[s.study.id]].append(s)
    out = []
    for trial, members in groups.items():
        if len(members) < 2:
            continue
        parts = []
        for m in members:
            report = m.study.report
            kind = report.kind if report else "kind of report not stated"
            cut = f"cut {report.data_cut}" if report and report.data_cut else "data cut not stated"
            parts.append(f"{m.study.id} ({kind}, {cut})")
        message = f"reports of one trial ({trial}): {'; '.join(parts)}; an analysis uses one of them"
        first = members[0]
        key = ("trial",) if first.study.trial is not None else ("registry",)
        out.append(first.doc.problem(key, message))
    return out
