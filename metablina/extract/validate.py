"""Load a folder of extracts into :class:`Study` objects and list everything wrong with them.

All problems of all files come back in one run, each located as ``path:line: field: message``, so a
reviewer can fix a folder in one pass. Nothing here prints; the CLI does.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from metablina.extract.consistency import closest_count, number_in_quotes, quote_in_source
from metablina.extract.loader import Key, LoadError, Located, Problem, load_yaml
from metablina.extract.schema import Provenance, Study

PLAN_FILE = "analyses.yaml"
SOURCES_DIR = "sources"


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


def load_review(folder: Path, sources: Path | None = None) -> Review:
    """Load and check every extract in ``folder``; sources are looked up in ``folder/sources``."""
    folder = Path(folder)
    sources = Path(sources) if sources is not None else folder / SOURCES_DIR
    if not folder.is_dir():
        return Review(folder, [], [Problem(folder, None, "(folder)", "not a folder")])
    problems: list[Problem] = []
    studies: list[LoadedStudy] = []
    files = study_files(folder)
    if not files:
        problems.append(Problem(folder, None, "(folder)", "holds no *.yaml study extracts"))
    for path in files:
        try:
            doc = load_yaml(path)
        except LoadError as exc:
            problems.append(exc.problem)
            continue
        study, found = parse_study(doc)
        problems += found
        if study is not None:
            loaded = LoadedStudy(study, doc)
            problems += check_study(loaded, sources)
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
    return f"{msg} (got {value!r})"


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

    from metablina.extract.schema import Arm, OutcomeRecord, Population, SubPopulation

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


def _records(study: Study) -> Iterator[tuple[Key, Provenance]]:
    yield ("population",), study.population
    for i, sub in enumerate(study.population.subpopulations):
        yield ("population", "subpopulations", i), sub
    for i, arm in enumerate(study.arms):
        yield ("arms", i), arm
    for i, rec in enumerate(study.outcomes):
        yield ("outcomes", i), rec


def _key(base: Key, dotted_field: str) -> Key:
    return (*base, *dotted_field.split("."))


def check_study(loaded: LoadedStudy, sources: Path) -> list[Problem]:
    """Consistency within one study: ids, references, sub-population sizes, counts, quotes, source."""
    study, doc = loaded.study, loaded.doc
    out: list[Problem] = []
    if study.id != doc.path.stem:
        out.append(doc.problem(("id",), f"id {study.id!r} differs from the file name {doc.path.stem!r}"))

    source_path = sources / study.source.file
    source_text = None
    if not source_path.is_file():
        out.append(doc.problem(("source", "file"), f"source document not found at {source_path}"))
    else:
        source_text = source_path.read_text(encoding="utf-8", errors="replace")

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

    for base, record in _records(study):
        out += _check_provenance(record, base, doc, source_text, study.source.file)
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
    out = []
    b = rec.binary
    if rec.unit == "patients":
        group, group_n = "the cohort", study.population.n
        if rec.subpopulation in subs and subs[rec.subpopulation].n is not None:
            group, group_n = f"sub-population {rec.subpopulation}", subs[rec.subpopulation].n
        elif rec.arm in arms and len(arms) > 1:
            group, group_n = f"arm {rec.arm}", arms[rec.arm].n
        if b.total > group_n:
            out.append(
                doc.problem(
                    (*base, "binary", "total"), f"total {b.total} exceeds the n of {group} ({group_n})"
                )
            )
    if b.percent is not None:
        text = doc.texts.get((*base, "binary", "percent"), repr(b.percent))
        count, candidates = closest_count(text, b.total)
        if count is None:
            out.append(
                doc.problem(
                    (*base, "binary", "percent"),
                    f"{text}% of {b.total} is no whole number of patients at the printed precision",
                )
            )
        elif b.events is not None and b.events not in candidates:
            out.append(
                doc.problem(
                    (*base, "binary", "events"),
                    f"{b.events}/{b.total} does not print as {text}% (consistent: {candidates})",
                )
            )
    return out


def _check_provenance(
    record: Provenance, base: Key, doc: Located, source_text: str | None, source_file: str
) -> list[Problem]:
    out = []
    quotes = record.quotes
    for j, quote in enumerate(quotes):
        if source_text is not None and not quote_in_source(quote, source_text):
            key = (*base, "quote") if isinstance(record.quote, str) else (*base, "quote", j)
            out.append(doc.problem(key, f"quote not found verbatim in {source_file}: {quote[:60]!r}"))
    for dotted_field in record.derived:
        if dotted_field not in {name for name, _ in _data_numbers(record)}:
            out.append(doc.problem((*base, "derived", dotted_field), "names no number field of this record"))
    total = getattr(getattr(record, "binary", None), "total", None)
    for name, value in _data_numbers(record):
        if name in record.derived:
            continue
        equals_total = name == "binary.events" and value == total
        if not number_in_quotes(value, quotes, equals_total=equals_total):
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
