"""The words an extract may use for outcomes, timepoints and grading systems.

The built-in words live in :mod:`metablina.extract.schema`; a review adds its own in one documented
place, ``vocabulary.yaml`` beside the extracts, instead of editing code::

    timepoints: [end-of-cycle-3]
    outcomes: [minimal-residual-disease-relapse]
    grading: [Penn 2018]

The file is optional and read as safely as an extract (:func:`metablina.extract.loader.load_yaml`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from metablina.extract.loader import LoadError, Located, Problem, load_yaml, shown
from metablina.extract.schema import GRADINGS, OUTCOMES, TIMEPOINTS, WORD

VOCABULARY_FILE = "vocabulary.yaml"
# field of a record -> (key of vocabulary.yaml, built-in words)
FIELDS = {"outcome": "outcomes", "timepoint": "timepoints", "grading": "grading"}
BUILT_IN = {"outcomes": OUTCOMES, "timepoints": TIMEPOINTS, "grading": GRADINGS}
# A grading system's name is free text ("CTCAE v5.0"), but one printable line of sensible length.
GRADING_WORD = r"^[A-Za-z0-9][A-Za-z0-9 .,/()+-]{0,63}$"


@dataclass(frozen=True)
class Vocabulary:
    """The built-in words plus those of a review's ``vocabulary.yaml`` (``path`` None: none there)."""

    path: Path | None = None
    added: dict[str, frozenset[str]] = field(default_factory=dict)

    def words(self, kind: str) -> frozenset[str]:
        """Every accepted word of ``kind`` ("outcomes", "timepoints" or "grading")."""
        return frozenset(BUILT_IN[kind]) | self.added.get(kind, frozenset())

    def unknown(self, record_field: str, word: str, folder: Path) -> str | None:
        """The message for a word ``record_field`` does not know, or None when the word is known."""
        kind = FIELDS[record_field]
        if word in self.words(kind):
            return None
        where = self.path if self.path is not None else folder / VOCABULARY_FILE
        return f"unknown {record_field} {shown(word)}: a new word can be added to {where} under {kind}:"


def load_vocabulary(folder: Path) -> tuple[Vocabulary, list[Problem]]:
    """The review's vocabulary: built-in words, plus ``folder/vocabulary.yaml`` when it exists."""
    path = Path(folder) / VOCABULARY_FILE
    if not path.exists() and not path.is_symlink():
        return Vocabulary(), []
    try:
        doc = load_yaml(path, inside=Path(folder))
    except LoadError as exc:
        return Vocabulary(), [exc.problem]
    if not isinstance(doc.data, dict):
        return Vocabulary(path), [doc.problem((), "a mapping of timepoints, outcomes and grading to lists")]
    problems: list[Problem] = []
    added: dict[str, frozenset[str]] = {}
    for key, value in doc.data.items():
        if key not in BUILT_IN:
            problems.append(doc.problem((key,), f"unknown key; use {', '.join(BUILT_IN)}"))
            continue
        words, found = _words(doc, key, value)
        added[key] = frozenset(words)
        problems += found
    return Vocabulary(path, added), problems


def _words(doc: Located, key: str, value: object) -> tuple[list[str], list[Problem]]:
    """The words listed under ``key``; a word that could not be used in an extract is a problem."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return [], [doc.problem((key,), "give a list of words")]
    pattern = GRADING_WORD if key == "grading" else WORD
    words, problems = [], []
    for i, word in enumerate(items):
        if isinstance(word, str) and re.fullmatch(pattern, word):
            words.append(word)
            continue
        rule = (
            "letters, digits, spaces and . , / ( ) + -"
            if key == "grading"
            else "lower-case letters, digits, hyphens and underscores"
        )
        where = (key, i) if isinstance(value, list) else (key,)
        problems.append(doc.problem(where, f"{shown(word)} is no word for {key} ({rule}, at most 64)"))
    return words, problems
