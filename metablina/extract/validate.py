"""Load a folder of extracts into :class:`Study` objects and list everything wrong with them.

All problems of all files come back in one run, each located as ``path:line: field: message``, so a
reviewer can fix a folder in one pass. Nothing here prints; the CLI does.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from metablina.extract.consistency import (
    MAX_DECIMALS,
    closest_count,
    number_in_quotes,
    printed_percent,
    quote_in_source,
)
from metablina.extract.loader import Key, LoadError, Located, Problem, load_yaml, shown
from metablina.extract.schema import (
    SLUG,
    Arm,
    OutcomeRecord,
    Population,
    Provenance,
    Source,
    Study,
    SubPopulation,
)
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
    """The studies of a review folder, in file-name order, and every problem found in it."""

    folder: Path
    studies: list[LoadedStudy]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def study_files(folder: Path) -> list[Path]:
    """The extract files of a review folder: every ``*.yaml``/``*.yml`` except the analysis plan."""
    files = [p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.name != PLAN_FILE]
    return sorted(files)


@dataclass(frozen=True)
class Sources:
    """Where source documents are looked up, and the folder they must lie in once links are followed.

    ``folder/sources`` must stay inside the review folder; a sources folder named on the command line
    is trusted as given, but nothing may lead out of it.
    """

    folder: Path
    inside: Path


def load_review(folder: Path, sources: Path | None = None) -> Review:
    """Load and check every extract in ``folder``; sources are looked up in ``folder/sources``.

    Every check that can run does, even on an extract the schema refuses (its id, its source and
    its quotes, and the numbers of each record that is valid by itself), so one run lists them all.
    """
    folder = Path(folder)
    if sources is None:
        where = Sources(folder / SOURCES_DIR, inside=folder)
    else:
        where = Sources(Path(sources), inside=Path(sources))
    if not folder.is_dir():
        return Review(folder, [], [Problem(folder, None, "(folder)", "not a folder")])
    problems: list[Problem] = []
    studies: list[LoadedStudy] = []
    files = study_files(folder)
    if not files:
        problems.append(Problem(folder, None, "(folder)", "holds no *.yaml study extracts"))
    for path in files:
        try:
            doc = load_yaml(path, inside=folder)
        except LoadError as exc:
            problems.append(exc.problem)
            continue
        study, found = parse_study(doc)
        problems += found
        if isinstance(doc.data, dict):
            problems += check_provenance(doc, where)
        if study is not None:
            loaded = LoadedStudy(study, doc)
            problems += check_study(loaded)
            studies.append(loaded)
    problems += check_across(studies)
    return Review(folder, studies, problems)


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

    if isinstance(record, Population):
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
        if record.km is not None:
            yield from walk(record.km, "km.", ("percent", "se", "n_at_risk"))
            if record.km.ci is not None:
                yield from walk(record.km.ci, "km.ci.", ("low", "high"))
        if (hr := record.hazard_ratio) is not None:
            yield from walk(hr, "hazard_ratio.", ("hr",))
            if hr.ci is not None:
                yield from walk(hr.ci, "hazard_ratio.ci.", ("low", "high"))
            if hr.p is not None:
                yield "hazard_ratio.p.value", hr.p.value


def _records(data: dict[str, Any]) -> Iterator[tuple[Key, type[Provenance], Any]]:
    """Every record of a loaded extract, as typed (valid or not), with the model it should fit."""

    def items(parent: Any, name: str) -> list[Any]:
        value = parent.get(name) if isinstance(parent, dict) else None
        return value if isinstance(value, list) else []

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


def check_provenance(doc: Located, sources: Sources) -> list[Problem]:
    """The checks that need no valid study: its id against the file name, its source document, every
    quote against the source and the numbers of every record that is valid by itself against its quotes.
    """
    out: list[Problem] = []
    study_id = doc.data.get("id")
    if isinstance(study_id, str) and re.fullmatch(SLUG, study_id) and study_id != doc.path.stem:
        out.append(doc.problem(("id",), f"id {study_id!r} differs from the file name {doc.path.stem!r}"))
    source = _valid(Source, doc.data.get("source"))
    source_text = None
    if source is not None:
        source_text, problem = _read_source(doc, sources, source.file)
        out += problem
    for base, model, raw in _records(doc.data):
        if isinstance(raw, dict) and source is not None:
            out += _check_quotes(raw.get("quote"), base, doc, source_text, source.file)
        if (record := _valid(model, raw)) is not None:
            out += _check_numbers(record, base, doc)
    return out


def _read_source(doc: Located, sources: Sources, name: str) -> tuple[str | None, list[Problem]]:
    path = sources.folder / name
    if not os.path.lexists(path):
        return None, [doc.problem(("source", "file"), f"source document not found at {path}")]
    try:
        raw = read_input(path, MAX_SOURCE_BYTES, inside=sources.inside)
    except InputRefused as exc:
        return None, [doc.problem(("source", "file"), f"source document {path}: {exc.reason}")]
    return raw.decode("utf-8", errors="replace"), []


def check_study(loaded: LoadedStudy) -> list[Problem]:
    """Consistency within one valid study: ids, references, sub-population sizes, counts."""
    study, doc = loaded.study, loaded.doc
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

    for i, rec in enumerate(study.outcomes):
        base: Key = ("outcomes", i)
        if rec.arm is None and len(arms) > 1 and rec.hazard_ratio is None:
            out.append(
                doc.problem((*base, "arm"), f"the study has {len(arms)} arms; say which ({', '.join(arms)})")
            )
        if rec.arm is not None and rec.arm not in arms:
            out.append(doc.problem((*base, "arm"), f"no arm {rec.arm!r} (arms: {', '.join(arms)})"))
        if rec.subpopulation is not None and rec.subpopulation not in subs:
            out.append(doc.problem((*base, "subpopulation"), f"no sub-population {rec.subpopulation!r}"))
        if (hr := rec.hazard_ratio) is not None:
            for side in ("experimental", "control"):
                if getattr(hr, side) not in arms:
                    out.append(doc.problem((*base, "hazard_ratio", side), f"no arm {getattr(hr, side)!r}"))
            if hr.experimental == hr.control:
                out.append(doc.problem((*base, "hazard_ratio"), "experimental and control are the same arm"))
        if rec.binary is not None:
            out += _check_binary(rec, base, doc, study, arms, subs)
    return out


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
        return []
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
    return []


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
