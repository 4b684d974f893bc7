"""Safe YAML loading that remembers where every value stands.

A study extract is data typed by a person, so the loader is strict where PyYAML is lenient: no tags
(nothing can construct an object), no anchors or aliases (no alias bombs, and nothing to expand), no
duplicate keys (the second would silently win), one document, bounded size and depth, UTF-8 only.
Every value's line and its text as typed are kept, so that a problem can be reported as
``path:line: field: message`` and a percentage's printed decimals survive (``95.0`` is not ``95``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
STANDARD_TAGS = {"tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq")}

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
        return f"{self.path}:{line} {self.field}: {self.message}"


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


def _compose(text: str) -> Node | None:
    """Parse ``text`` into one node tree, refusing anchors and aliases first.

    The event stream is read once, before anything is composed, so an alias bomb is refused as soon
    as its first anchor is seen and is never expanded.
    """
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.MarkedYAMLError(
                problem="anchors and aliases (&name, *name) are not allowed in an extract",
                problem_mark=event.start_mark,
            )
    return yaml.compose(text, Loader=_Loader)


def load_yaml(path: Path) -> Located:
    """Read one YAML file safely; raise :class:`LoadError` naming the file and line on any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes() if path.stat().st_size <= MAX_BYTES else None
    except OSError as exc:
        raise LoadError(Problem(path, None, "(file)", f"cannot read: {exc.strerror}")) from None
    if raw is None:
        raise LoadError(Problem(path, None, "(file)", f"larger than {MAX_BYTES // 1024} KiB; not an extract"))
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
    except RecursionError:
        raise LoadError(Problem(path, None, "(yaml)", "nested too deeply")) from None
    if root is None:
        raise LoadError(Problem(path, None, "(document)", "the file holds no YAML document"))
    doc = Located(path, None)
    doc.data = _build(root, (), doc, SafeScalars(), 0)
    return doc


class SafeScalars(yaml.SafeLoader):
    """Only used for its scalar resolution (int, float, bool, null, str), never to parse a stream."""

    def __init__(self) -> None:
        super().__init__("")


def _build(node: Node, key: Key, doc: Located, scalars: SafeScalars, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise LoadError(doc.problem(key, f"nested more than {MAX_DEPTH} levels"))
    doc.lines.setdefault(key, node.start_mark.line + 1)
    if node.tag not in STANDARD_TAGS:
        raise LoadError(
            Problem(doc.path, node.start_mark.line + 1, dotted(key), f"YAML tag {node.tag!r} is not allowed")
        )
    if isinstance(node, ScalarNode):
        doc.texts[key] = node.value
        try:
            return scalars.construct_object(node)
        except (yaml.YAMLError, ValueError) as exc:
            raise LoadError(doc.problem(key, f"cannot read value {node.value!r}: {exc}")) from None
    if isinstance(node, SequenceNode):
        return [_build(item, (*key, i), doc, scalars, depth + 1) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, ScalarNode) or knode.tag not in STANDARD_TAGS:
                raise LoadError(doc.problem(key, "a mapping key must be a plain word"))
            name = str(scalars.construct_object(knode))
            child = (*key, name)
            if name in out:
                raise LoadError(
                    Problem(doc.path, knode.start_mark.line + 1, dotted(child), "key appears twice")
                )
            doc.lines[child] = knode.start_mark.line + 1
            out[name] = _build(vnode, child, doc, scalars, depth + 1)
        return out
    raise LoadError(doc.problem(key, "unsupported YAML node"))
