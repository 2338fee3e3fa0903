"""Line-aware YAML reading: plain Python data plus a way back to the line of any field.

PyYAML's constructors throw positions away, and its `compose()` builds a node tree (plus a
Python `resolve()` call per node) only to be walked and freed again: on a 5 MB inventory that
was most of the load time. So we read libyaml's parse events directly and build dicts, lists
and scalars in one pass, recording per container the line of each key or item. Errors in
the text itself (tabs, bad indentation, duplicate keys, alias bombs, non-UTF-8 bytes)
become `Problem`s in the same FILE:LINE form as schema errors.

Even so, a Python object per libyaml event costs 1.3-2.4 s of CPU on the national
inventory. A big file first tries the fast path (_fastyaml: rapidyaml, in C++), which gives
exactly the builder's data or declines; it knows no lines, so a Document from it runs the
builder on its text the first time a line is asked for (to report a problem: rare).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver as SafeResolver

from vcmon.errors import InventoryError, Problem
from vcmon.inventory import _cache, _fastyaml
from vcmon.memory import gc_paused

Key = str | int
"""One step of a path into a document: a mapping key or a list index."""

MAX_DEPTH = 64
"""Deeper nesting than this is a mistake or an attack, never an inventory."""

FAST_MIN_BYTES = 16 * 1024
"""Smaller files take the builder: milliseconds, where the fast path would first spend
20 ms importing rapidyaml."""

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_constructor = SafeConstructor()
_SCALARS: dict[str, Callable[[ScalarNode], Any]] = {
    "tag:yaml.org,2002:null": lambda _node: None,
    "tag:yaml.org,2002:bool": _constructor.construct_yaml_bool,
    "tag:yaml.org,2002:int": _constructor.construct_yaml_int,
    "tag:yaml.org,2002:float": _constructor.construct_yaml_float,
    # Dates stay text: no field is a date, and a datetime would fail every schema type.
    _TIMESTAMP: lambda node: node.value,
    # `<<` as a key is the merge key (handled by the builder); as a value, plain text.
    "tag:yaml.org,2002:merge": lambda node: node.value,
}


@dataclass(frozen=True, eq=False)
class Document:
    """One YAML file as plain data, with the line of every key and list item.

    >>> doc = parse_yaml("sites:\\n  '51':\\n    name: DC\\n", "x.yaml")
    >>> doc.data
    {'sites': {'51': {'name': 'DC'}}}
    >>> doc.line(("sites", "51", "name")), doc.line(("sites", "51", "nope"))
    (3, 2)
    """

    file: str
    """The file's name as shown to people (relative to the working directory if inside it)."""
    data: Any = field(repr=False)
    """Plain data; kept out of repr, as a file may (wrongly) hold a literal secret."""
    _lines: dict[int, dict[Key, int]] | None = field(repr=False, default_factory=dict)
    """Line of each key or item, by id() of its container in `data`; None if not known yet
    (data from the fast path): then `_raw` is parsed again by the builder when needed."""
    digest: str = field(repr=False, default="")
    """Content hash when the file is cacheable (see _cache), else ''."""
    _raw: bytes = field(repr=False, default=b"")
    """The file's bytes while `_lines` is None."""

    @functools.cached_property
    def _index(self) -> tuple[Any, dict[int, dict[Key, int]]]:
        """Data with its lines: this document's, or the builder's from the same bytes.

        The builder's data equals `data` but is made of other containers, and lines are
        keyed by container: paths are looked up in the builder's data.
        """
        if self._lines is not None:
            return self.data, self._lines
        built = parse_yaml(self._raw.decode("utf-8-sig"), self.file)
        assert built._lines is not None
        return built.data, built._lines

    def line(self, path: Sequence[Key]) -> int:
        """The line of the deepest existing step of `path` (1 for the document itself)."""
        node, index = self._index
        line = 1
        for key in path:
            lines = index.get(id(node))
            if lines is None or key not in lines:
                break
            line = lines[key]
            node = node[key]
        return line

    def problem(self, path: Sequence[Key], message: str) -> Problem:
        return Problem(self.file, self.line(path), format_path(path), message)


def format_path(path: Sequence[Key]) -> str:
    """`links.dc-530.upgrades[0].capacity` from its steps.

    >>> format_path(["links", "dc-530", "upgrades", 0, "capacity"])
    'links.dc-530.upgrades[0].capacity'
    """
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out


def display_name(path: str | os.PathLike[str]) -> str:
    """A file name as people should see it: relative to the working directory when inside it."""
    text = os.path.normpath(os.fspath(path))
    if os.path.isabs(text):
        try:
            rel = os.path.relpath(text)
        except ValueError:  # another drive on Windows
            return text
        if not rel.startswith(".."):
            return rel
    return text


def read_yaml(path: str | os.PathLike[str]) -> Document:
    """Read one YAML file (UTF-8, one document) into a `Document`.

    Raises InventoryError naming the file and line for anything that is not clean YAML.
    """
    name = display_name(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InventoryError.single(name, 0, "", f"cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): save the file as UTF-8"
        raise InventoryError.single(name, line, "", message) from None
    digest = _cache.digest(raw)
    cached = _cache.load(raw) if digest else None
    if cached is not None:
        data, lines = cached
        return Document(name, data, lines, digest, raw if lines is None else b"")
    data = _fastyaml.parse(raw, MAX_DEPTH) if len(raw) >= FAST_MIN_BYTES else None
    if data is not None:
        if digest:
            _cache.store(raw, data, None)
        return Document(name, data, None, digest, raw)
    doc = parse_yaml(text, name)
    if digest:
        _cache.store(raw, doc.data, doc._lines)
    return Document(name, doc.data, doc._lines, digest)


def parse_yaml(text: str, name: str) -> Document:
    """Parse YAML text that came from `name` (see read_yaml)."""
    builder = _Builder(name)
    loader = _BaseLoader(text)
    try:
        with gc_paused():
            data = builder.run(loader.get_event)
    except yaml.MarkedYAMLError as exc:
        raise InventoryError([_yaml_problem(name, text, exc)]) from None
    except yaml.YAMLError as exc:
        raise InventoryError.single(name, 0, "", f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if builder.problems:
        raise InventoryError(builder.problems)
    return Document(name, data, builder.lines)


def _yaml_problem(name: str, text: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 0
    problem = exc.problem or "invalid YAML"
    # libyaml says "found character that cannot start any token" without naming the tab.
    if mark is not None and "\t" in _line(text, mark.line)[: mark.column + 1]:
        return Problem(name, line, "", "tab character: YAML indents with spaces only")
    context = f" ({exc.context})" if exc.context else ""
    column = f" at column {mark.column + 1}" if mark is not None else ""
    return Problem(name, line, "", f"invalid YAML: {problem}{context}{column}")


def _line(text: str, index: int) -> str:
    lines = text.splitlines()
    return lines[index] if 0 <= index < len(lines) else ""


_SKIP = object()
"""Stands for the key of a pair that is dropped (duplicate or non-scalar key)."""
_MERGE = object()
"""Stands for the YAML merge key `<<`."""


class _Frame:
    """A mapping or list being built, with the line of each of its keys or items."""

    __slots__ = ("anchor", "data", "key", "key_line", "line", "lines", "merges", "size")

    def __init__(self, data: dict[Key, Any] | list[Any], anchor: str | None, line: int) -> None:
        self.data = data
        self.line = line
        self.lines: dict[Key, int] = {}
        self.anchor = anchor
        self.key: Any = None  # None: the next value is a key (mappings only)
        self.key_line = 0
        self.merges: list[dict[Key, Any]] = []
        self.size = 1


class _Builder:
    """Builds data from parse events; aliases share data, and their expansion is bounded."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: dict[int, dict[Key, int]] = {}
        self.problems: list[Problem] = []
        self._anchors: dict[str, tuple[Any, int]] = {}
        self._stack: list[_Frame] = []
        self._nodes = 0
        self._expanded = 0
        self._first_alias = 0

    def run(self, next_event: Callable[[], Any]) -> Any:
        root: Any = {}
        documents = 0
        stack = self._stack
        plain = _PLAIN
        while True:
            event = next_event()
            kind = type(event)
            if kind is ScalarEvent:
                self._nodes += 1
                frame = stack[-1] if stack else None
                # The hot path, inlined: a plain key, then its scalar value, in a mapping.
                if frame is not None and type(frame.data) is dict and event.anchor is None:
                    key = frame.key
                    if key is None:
                        text = event.value
                        if text not in frame.lines and (text != "<<" or event.style):
                            frame.key = text
                            frame.key_line = event.start_mark.line + 1
                            continue
                    elif key is not _SKIP and key is not _MERGE:
                        # Most values are quoted strings or plain words seen before.
                        if event.tag is None and (event.style or not event.implicit[0]):
                            value = event.value
                        else:
                            value = plain.get(event.value, _SKIP)
                            if value is _SKIP or event.tag is not None:
                                value = self._scalar(event)
                        frame.data[key] = value
                        frame.lines[key] = frame.key_line
                        frame.key = None
                        frame.size += 1
                        continue
                value = self._scalar(event)
                if event.anchor is not None:
                    self._anchors[event.anchor] = (value, 1)
                self._attach(value, 1, event.start_mark.line + 1, event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self._nodes += 1
                if len(stack) >= MAX_DEPTH:
                    line = event.start_mark.line + 1
                    raise InventoryError(
                        [Problem(self.name, line, "", f"nested more than {MAX_DEPTH} levels deep")]
                    )
                data: dict[Key, Any] | list[Any] = {} if kind is MappingStartEvent else []
                stack.append(_Frame(data, event.anchor, event.start_mark.line + 1))
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                if frame.merges:
                    self._merge(frame)
                self.lines[id(frame.data)] = frame.lines
                if frame.anchor is not None:
                    self._anchors[frame.anchor] = (frame.data, frame.size)
                if stack:
                    self._attach(frame.data, frame.size, frame.line, None)
                else:
                    root = frame.data
            elif kind is AliasEvent:
                self._alias(event)
            elif kind is DocumentStartEvent:
                documents += 1
                if documents == 2:
                    line = event.start_mark.line + 1
                    self.problems.append(
                        Problem(self.name, line, "", "a second YAML document: use one per file")
                    )
            elif kind is StreamEndEvent:
                break
        # An alias bomb ('billion laughs') is cheap to build, since aliases share data,
        # but every later walk (schema, checks) would see the full expansion: refuse it.
        if self._expanded > 10 * self._nodes + 10_000:
            self.problems.append(
                Problem(
                    self.name,
                    self._first_alias,
                    "",
                    f"YAML aliases expand to {self._expanded + self._nodes:,} nodes "
                    f"from {self._nodes:,}: refusing a possible 'billion laughs' bomb",
                )
            )
        return root if isinstance(root, dict | list) else {}

    def _attach(self, value: Any, size: int, line: int, scalar: Any) -> None:
        """Put a finished value into the container being built, as a key or a value.

        `scalar` is the ScalarEvent when the value is a scalar (a key keeps its raw text).
        """
        stack = self._stack
        if not stack:
            return  # a scalar document: run() turns it into an error via the schema
        frame = stack[-1]
        frame.size += size
        data = frame.data
        if type(data) is list:
            frame.lines[len(data)] = line
            data.append(value)
            return
        if frame.key is None:  # this value is a key
            frame.key_line = line
            if scalar is None:
                self.problems.append(self._at(line, "a key must be a plain scalar"))
                frame.key = _SKIP
            elif scalar.value == "<<" and not scalar.style:
                frame.key = _MERGE
            # Keys stay the text as written: site code 00123 must not become the int 83.
            elif scalar.value in frame.lines:
                first = frame.lines[scalar.value]
                where = self._path_text([scalar.value])
                message = f"duplicate key '{scalar.value}' (first at line {first})"
                self.problems.append(Problem(self.name, line, where, message))
                frame.key = _SKIP
            else:
                frame.key = scalar.value
            return
        key, frame.key = frame.key, None
        if key is _SKIP:
            return
        if key is _MERGE:
            sources = value if type(value) is list else [value]
            for source in sources:
                if type(source) is dict:
                    frame.merges.append(source)
                else:
                    self.problems.append(self._at(frame.key_line, "'<<' merges mappings only"))
            return
        data[key] = value
        frame.lines[key] = frame.key_line

    def _alias(self, event: Any) -> None:
        found = self._anchors.get(event.anchor)
        line = event.start_mark.line + 1
        if found is None:
            self.problems.append(self._at(line, f"unknown alias '*{event.anchor}'"))
            found = (None, 1)
        if not self._first_alias:
            self._first_alias = line
        self._expanded += found[1]
        self._attach(found[0], found[1], line, None)

    def _merge(self, frame: _Frame) -> None:
        """YAML merge keys: explicit keys win, then earlier sources."""
        data = frame.data
        assert type(data) is dict
        for source in frame.merges:
            source_lines = self.lines.get(id(source), {})
            for key, value in source.items():
                if key not in data:
                    data[key] = value
                    frame.lines[key] = source_lines.get(key, frame.key_line)

    def _scalar(self, event: Any) -> Any:
        value: str = event.value
        tag = event.tag
        if tag is None or tag == "!":
            # Plain style is None from PyYAML's parser and '' from libyaml's.
            if event.style or not event.implicit[0]:
                return value  # quoted or block: always a string
            cached = _PLAIN.get(value, _SKIP)
            if cached is not _SKIP:
                return cached
            tag = _implicit_tag(value)
            if tag == _STR:
                if len(_PLAIN) < 100_000:
                    _PLAIN[value] = value
                return value
        if tag == _STR:
            return value
        construct = _SCALARS.get(tag)
        if construct is None:
            line = event.start_mark.line + 1
            self.problems.append(self._at(line, f"unsupported YAML tag {tag}"))
            return None
        try:
            result = construct(ScalarNode(tag, value))
        except (ValueError, yaml.YAMLError):
            line = event.start_mark.line + 1
            self.problems.append(self._at(line, f"bad {tag} value {value!r}"))
            return None
        if event.tag is None and len(_PLAIN) < 100_000:
            _PLAIN[value] = result
        return result

    def _path_text(self, tail: list[Key]) -> str:
        path: list[Key] = []
        for frame in self._stack[:-1]:
            path.append(frame.key if type(frame.data) is dict else len(frame.data))
        return format_path([*path, *tail])

    def _at(self, line: int, message: str) -> Problem:
        return Problem(self.name, line, self._path_text([]), message)


_PLAIN: dict[str, Any] = {}
"""Plain scalars seen before: inventories repeat 'commune', 'fibre', '10M' endlessly."""


def _implicit_tag(value: str) -> str:
    """The tag YAML 1.1 gives a plain scalar (PyYAML's SafeLoader rules)."""
    resolvers = _IMPLICIT.get(value[:1], []) + _IMPLICIT.get(None, [])
    for tag, regexp in resolvers:
        if regexp.match(value):
            return str(tag)
    return _STR


_IMPLICIT: dict[str | None, list[tuple[str, Any]]] = SafeResolver.yaml_implicit_resolvers
