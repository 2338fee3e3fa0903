"""Line-aware YAML reading: plain Python data plus a way back to the line of any field.

PyYAML's `compose()` keeps each node's position; its constructors throw positions away. So
we compose, then build dicts/lists/scalars ourselves and record, per container, the line of
each key or item. Errors in the text itself (tabs, bad indentation, duplicate keys, alias
bombs, non-UTF-8 bytes) become `Problem`s in the same FILE:LINE form as schema errors.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vcmon.errors import InventoryError, Problem

Key = str | int
"""One step of a path into a document: a mapping key or a list index."""

MAX_DEPTH = 64
"""Deeper nesting than this is a mistake or an attack, never an inventory."""

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_constructor = SafeConstructor()
_SCALARS: dict[str, Callable[[ScalarNode], Any]] = {
    "tag:yaml.org,2002:null": lambda _node: None,
    "tag:yaml.org,2002:bool": _constructor.construct_yaml_bool,
    "tag:yaml.org,2002:int": _constructor.construct_yaml_int,
    "tag:yaml.org,2002:float": _constructor.construct_yaml_float,
    # Dates stay text: no field is a date, and a datetime would fail every schema type.
    _TIMESTAMP: lambda node: node.value,
}


class _Loader(_BaseLoader):  # type: ignore[misc]
    """The safe loader with a memoised implicit resolver.

    Profiling a 5 MB inventory showed PyYAML's pure-Python `resolve()` (regex tries per
    plain scalar) and its path-resolver hooks taking a third of `compose()`; inventories
    repeat the same words ('commune', 'fibre', 'primary') endlessly, so a cache pays.
    """

    _cache: dict[tuple[str, bool], str] = {}  # noqa: RUF012 (shared on purpose)

    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0] and value is not None:
            key = (value, implicit[1])
            tag = self._cache.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(self._cache) < 100_000:
                    self._cache[key] = tag
            return tag
        result: str = super().resolve(kind, value, implicit)
        return result

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """No path resolvers are registered: skip the bookkeeping."""

    def ascend_resolver(self) -> None:
        """See descend_resolver."""


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
    data: Any
    _lines: dict[int, dict[Key, int]] = field(repr=False, default_factory=dict)

    def line(self, path: Sequence[Key]) -> int:
        """The line of the deepest existing step of `path` (1 for the document itself)."""
        node, line = self.data, 1
        for key in path:
            lines = self._lines.get(id(node))
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
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> Document:
    """Parse YAML text that came from `name` (see read_yaml)."""
    # A large inventory makes hundreds of thousands of nodes at once; the cyclic GC would
    # rescan them all again and again (5x slower on a 5 MB file), and nodes have no cycles.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        try:
            root = yaml.compose(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            raise InventoryError([_yaml_problem(name, text, exc)]) from None
        except yaml.YAMLError as exc:
            raise InventoryError.single(name, 0, "", f"invalid YAML: {exc}") from None
        # Without an anchor there is no alias: skip the per-node alias bookkeeping.
        builder = _Builder(name, aliases="&" in text)
        data = {} if root is None else builder.build(root, [], 0)
    finally:
        if was_enabled:
            gc.enable()
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


class _Builder:
    """Turns composed nodes into data; aliases are shared, and their expansion is bounded."""

    def __init__(self, name: str, *, aliases: bool) -> None:
        self.name = name
        self.aliases = aliases
        self.lines: dict[int, dict[Key, int]] = {}
        self.problems: list[Problem] = []
        self._done: dict[int, tuple[Any, int]] = {}  # id(node) -> (data, expanded size)
        self._expanded = 0
        self._nodes = 0

    def build(self, node: Node, path: list[Key], depth: int) -> Any:
        data, _ = self._node(node, path, depth)
        # An alias bomb ('billion laughs') shares nodes, so building is cheap, but every
        # later walk (schema, checks) would see the full expansion: refuse it here.
        if self._expanded > 10 * self._nodes + 10_000:
            self.problems.append(
                Problem(
                    self.name,
                    1,
                    "",
                    f"YAML aliases expand to {self._expanded:,} nodes from {self._nodes:,}: "
                    "refusing a possible 'billion laughs' bomb",
                )
            )
        return data

    def _node(self, node: Node, path: list[Key], depth: int) -> tuple[Any, int]:
        if self.aliases:
            seen = self._done.get(id(node))
            if seen is not None:  # an alias: reuse, but count what a walk would visit
                self._expanded += seen[1]
                return seen
        if depth > MAX_DEPTH:
            raise InventoryError(
                [self._at(node, path, f"nested more than {MAX_DEPTH} levels deep")]
            )
        self._nodes += 1
        if isinstance(node, ScalarNode):
            result = (self._scalar(node, path), 1)
        elif isinstance(node, MappingNode):
            result = self._mapping(node, path, depth)
        elif isinstance(node, SequenceNode):
            result = self._sequence(node, path, depth)
        else:  # pragma: no cover - compose makes only these three
            raise TypeError(type(node))
        if self.aliases:
            self._done[id(node)] = result
        self._expanded += result[1]
        return result

    def _scalar(self, node: ScalarNode, path: list[Key]) -> Any:
        if node.tag == _STR:
            return node.value
        construct = _SCALARS.get(node.tag)
        if construct is None:
            self.problems.append(self._at(node, path, f"unsupported YAML tag {node.tag}"))
            return None
        try:
            return construct(node)
        except (ValueError, yaml.YAMLError):
            self.problems.append(self._at(node, path, f"bad {node.tag} value {node.value!r}"))
            return None

    def _mapping(self, node: MappingNode, path: list[Key], depth: int) -> tuple[Any, int]:
        out: dict[Key, Any] = {}
        lines: dict[Key, int] = {}
        size = 1
        merged: list[tuple[dict[Key, Any], dict[Key, int]]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self._merge_sources(value_node, path, depth))
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(self._at(key_node, path, "a key must be a plain scalar"))
                continue
            # Keys stay the text as written: site code 00123 must not become the int 83.
            key: Key = key_node.value
            line = key_node.start_mark.line + 1
            if key in lines:
                self.problems.append(
                    Problem(
                        self.name,
                        line,
                        format_path([*path, key]),
                        f"duplicate key '{key}' (first at line {lines[key]})",
                    )
                )
                continue
            value, child_size = self._node(value_node, [*path, key], depth + 1)
            out[key] = value
            lines[key] = line
            size += child_size
        for source, source_lines in merged:  # YAML merge keys: explicit keys win
            for key, value in source.items():
                if key not in out:
                    out[key] = value
                    lines[key] = source_lines[key]
        self.lines[id(out)] = lines
        return out, size

    def _merge_sources(
        self, node: Node, path: list[Key], depth: int
    ) -> list[tuple[dict[Key, Any], dict[Key, int]]]:
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        out = []
        for item in nodes:
            value, _ = self._node(item, path, depth + 1)
            if isinstance(value, dict):
                out.append((value, self.lines[id(value)]))
            else:
                self.problems.append(self._at(item, path, "'<<' merges mappings only"))
        return out

    def _sequence(self, node: SequenceNode, path: list[Key], depth: int) -> tuple[Any, int]:
        out: list[Any] = []
        lines: dict[Key, int] = {}
        size = 1
        for index, item in enumerate(node.value):
            value, child_size = self._node(item, [*path, index], depth + 1)
            out.append(value)
            lines[index] = item.start_mark.line + 1
            size += child_size
        self.lines[id(out)] = lines
        return out, size

    def _at(self, node: Node, path: list[Key], message: str) -> Problem:
        return Problem(self.name, node.start_mark.line + 1, format_path(path), message)
