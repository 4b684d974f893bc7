"""Safe YAML loading that remembers where every value stands.

A study extract is data typed by a person, so the loader is strict where PyYAML is lenient: no tags
(nothing can construct an object), no anchors or aliases (no alias bombs, and nothing to expand), no
merge or complex keys, no duplicate keys (the second would silently win), one document, bounded size
and depth, UTF-8 only, and only a regular file inside its folder (see :mod:`metablina.safeio`).
Every value's line and its text as typed are kept, so that a problem can be reported as
``path:line: field: message`` and a percentage's printed decimals survive (``95.0`` is not ``95``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from metablina.safeio import InputRefused, read_input

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
STANDARD_TAGS = {"tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq")}
MERGE_TAG = "tag:yaml.org,2002:merge"
# A date such as 2022-11-21 (a data cut-off) is kept as the text typed, not made a datetime object.
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
SHOWN_CHARS = 40

Key = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, printed as ``path:line: field: message``."""

    path: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        line = "" if self.line is None else f"{self.line}:"
        return one_line(f"{self.path}:{line} {self.field}: {self.message}")


def one_line(text: str) -> str:
    """``text`` with every unprintable character escaped (``\\n``, ``\\x1b``, ``\\u2028``).

    A file name, key or value from an extract may hold a line break: printed as it is, one problem
    would span two lines, and an extract could print a line that looks like another file's problem.
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def shown(value: object) -> str:
    """A value for a message about it: its ``repr``, cut short (a value may be a megabyte long)."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


class LoadError(Exception):
    """Raised with the one :class:`Problem` that stops a file from being read at all."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class Located:
    """A loaded document with the line (1-based) and the typed text of every key path."""

    path: Path
    data: Any
    lines: dict[Key, int] = field(default_factory=dict)
    texts: dict[Key, str] = field(default_factory=dict)

    def line(self, key: Key) -> int | None:
        """The line of ``key`` or of its nearest ancestor that has one."""
        for cut in range(len(key), -1, -1):
            if key[:cut] in self.lines:
                return self.lines[key[:cut]]
        return None

    def problem(self, key: Key, message: str) -> Problem:
        return Problem(self.path, self.line(key), dotted(key), message)


def dotted(key: Key) -> str:
    """``("outcomes", 3, "binary", "events")`` -> ``outcomes[3].binary.events``."""
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C parser where PyYAML was built with it
_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _compose(text: str) -> Node | None:
    """Parse ``text`` into one node tree, refusing anchors, aliases and deep nesting first.

    The event stream is read once, before anything is composed, so an alias bomb is refused as soon
    as its first anchor is seen and is never expanded, and nesting is refused at our own depth (the
    same message whatever depth limit, if any, the installed PyYAML has).
    """
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.MarkedYAMLError(
                problem="anchors and aliases (&name, *name) are not allowed in an extract",
                problem_mark=event.start_mark,
            )
        depth += isinstance(event, _OPEN) - isinstance(event, _CLOSE)
        if depth > MAX_DEPTH:
            raise yaml.MarkedYAMLError(
                problem=f"nested more than {MAX_DEPTH} levels deep", problem_mark=event.start_mark
            )
    return yaml.compose(text, Loader=_Loader)


def load_yaml(path: Path, *, inside: Path | None = None) -> Located:
    """Read one YAML file safely; raise :class:`LoadError` naming the file and line on any problem.

    The file must be a regular file inside ``inside`` (default: its own folder) once links are followed.
    """
    path = Path(path)
    try:
        raw = read_input(path, MAX_BYTES, inside=path.parent if inside is None else inside)
    except InputRefused as exc:
        raise LoadError(Problem(path, None, "(file)", exc.reason)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LoadError(
            Problem(path, line, "(file)", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})")
        ) from None
    if not text.strip():
        raise LoadError(Problem(path, None, "(document)", "the file is empty"))
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise LoadError(Problem(path, line, "(yaml)", message)) from None
    except yaml.YAMLError as exc:
        raise LoadError(Problem(path, None, "(yaml)", str(exc).splitlines()[0])) from None
    if root is None:
        raise LoadError(Problem(path, None, "(document)", "the file holds no YAML document"))
    doc = Located(path, None)
    doc.data = _Builder(doc, text).build(root, ())
    return doc


class SafeScalars(yaml.SafeLoader):
    """Only used for its scalar resolution (int, float, bool, null, str), never to parse a stream."""

    def __init__(self) -> None:
        super().__init__("")


class _Builder:
    """Turns a node tree into plain values, recording each one's line and typed text in ``doc``.

    Every refusal names the line and field of the node at fault: a merge key or a list used as a key
    is reported where it stands, not at the mapping that holds it.
    """

    def __init__(self, doc: Located, text: str) -> None:
        self.doc, self.text, self.scalars = doc, text, SafeScalars()

    def refuse(self, node: Node, key: Key, message: str) -> LoadError:
        return LoadError(Problem(self.doc.path, node.start_mark.line + 1, dotted(key), message))

    def build(self, node: Node, key: Key) -> Any:
        self.doc.lines.setdefault(key, node.start_mark.line + 1)
        if isinstance(node, ScalarNode) and node.tag == TIMESTAMP_TAG:
            self.doc.texts[key] = node.value
            return node.value
        if node.tag not in STANDARD_TAGS:
            raise self.refuse(node, key, f"YAML tag {shown(node.tag)} is not allowed")
        if isinstance(node, ScalarNode):
            self.doc.texts[key] = node.value
            try:
                return self.scalars.construct_object(node)
            except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
                raise self.refuse(node, key, f"{shown(node.value)}: too many digits to read") from None
        if isinstance(node, SequenceNode):
            return [self.build(item, (*key, i)) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.mapping(node, key)
        raise self.refuse(node, key, "unsupported YAML node")

    def mapping(self, node: MappingNode, key: Key) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, ScalarNode):
                typed = self.text[knode.start_mark.index : knode.end_mark.index]
                raise self.refuse(
                    knode, (*key, typed[:SHOWN_CHARS]), "a key must be a plain word, not a list or a mapping"
                )
            child = (*key, knode.value)
            if knode.tag == MERGE_TAG:
                raise self.refuse(knode, child, "merge keys (<<) are not allowed; write the keys out")
            if knode.tag not in STANDARD_TAGS:
                raise self.refuse(knode, child, f"YAML tag {shown(knode.tag)} is not allowed on a key")
            if knode.value in out:
                raise self.refuse(knode, child, "key appears twice")
            self.doc.lines[child] = knode.start_mark.line + 1
            out[knode.value] = self.build(vnode, child)
        return out
