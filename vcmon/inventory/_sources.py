"""Which files make an inventory, and how their sections merge.

A path is a file or a directory (its *.yaml/*.yml, sorted); each file's `include:` adds more,
relative to that file. A file reached twice is read once; a file that includes itself,
directly or not, is an error at the include line. Named entries (sites, links, ...) merge
across files, and a name defined twice is an error naming both places.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from vcmon.errors import InventoryError, Problem
from vcmon.inventory._cache import yaml_files
from vcmon.inventory._schema import check_schema
from vcmon.inventory._yaml import Document, Key, display_name, read_yaml

ENTRY_SECTIONS = ("profiles", "sites", "links", "devices", "modules", "auths", "schedule")
SINGLE_SECTIONS = ("conference", "policy", "currency")
DEFAULT_KINDS = ("site", "link", "device")
_SINGULAR = {
    "profiles": "profile",
    "sites": "site",
    "links": "link",
    "devices": "device",
    "modules": "module",
    "auths": "auth",
    "schedule": "conference",
}

SCHEMA_FILE = Path(__file__).with_name("inventory.schema.json")


@cache
def inventory_schema() -> dict[str, Any]:
    """The inventory's JSON Schema (also what editors use through `$schema`)."""
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


@dataclass(frozen=True, slots=True)
class Entry:
    """A piece of YAML and where it was written."""

    doc: Document
    path: tuple[Key, ...]
    data: Any

    @property
    def line(self) -> int:
        return self.doc.line(self.path)

    @property
    def where(self) -> str:
        return f"{self.doc.file}:{self.line}"

    def problem(self, message: str, *sub: Key) -> Problem:
        return self.doc.problem((*self.path, *sub), message)


@dataclass
class Sources:
    """All files of one inventory, merged by section, and what was wrong with them."""

    docs: list[Document] = field(default_factory=list)
    entries: dict[str, dict[str, Entry]] = field(
        default_factory=lambda: {s: {} for s in ENTRY_SECTIONS}
    )
    singles: dict[str, Entry] = field(default_factory=dict)
    defaults: dict[str, Entry] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    broken: set[tuple[str, str]] = field(default_factory=set)
    """(section, name) of entries with schema errors: known to exist, not built."""
    fatal: bool = False
    """A schema error outside named entries (conference, defaults...): stop after reading."""


def read_sources(path: str | os.PathLike[str]) -> Sources:
    """Read, schema-check and merge every file of the inventory at `path`."""
    sources = Sources()
    root = Path(path)
    if root.is_dir():
        files = yaml_files(root)
        if not files:
            sources.problems.append(
                Problem(display_name(root), 0, "", "no *.yaml or *.yml file in this directory")
            )
    elif root.exists():
        files = [root]
    else:
        raise InventoryError.single(display_name(root), 0, "", "no such file or directory")
    seen: set[str] = set()
    for file in files:
        _visit(file, [], seen, sources)
    for doc in sources.docs:
        _merge(doc, sources)
    return sources


def _visit(path: Path, stack: list[tuple[str, Entry]], seen: set[str], sources: Sources) -> None:
    real = os.path.realpath(path)
    chain = [r for r, _ in stack]
    if real in chain:
        cycle = [display_name(r) for r in chain[chain.index(real) :]] + [display_name(real)]
        including = stack[-1][1]
        sources.problems.append(including.problem(f"include cycle: {' -> '.join(cycle)}"))
        return
    if real in seen:
        return
    seen.add(real)
    try:
        doc = read_yaml(path)
    except InventoryError as exc:
        sources.problems.extend(exc.problems)
        return
    sources.docs.append(doc)
    problems = check_schema(doc, inventory_schema())
    sources.problems.extend(problems)
    for problem in problems:
        _classify(doc, problem, sources)
    data = doc.data
    includes = data.get("include") if isinstance(data, dict) else None
    if not isinstance(includes, list):
        return
    for index, name in enumerate(includes):
        if not isinstance(name, str):
            continue
        entry = Entry(doc, ("include", index), name)
        target = path.parent / name
        if not target.is_file():
            sources.problems.append(entry.problem(f"no such file: {display_name(target)}"))
            continue
        _visit(target, [*stack, (real, entry)], seen, sources)


def _classify(doc: Document, problem: Problem, sources: Sources) -> None:
    """Remember which entry a schema error belongs to, so later checks skip it.

    Names may hold dots (`links.a.b.site`: entry 'a.b' or 'a'?): the longest name that
    the path starts with, followed by '.', '[' or the end, is the entry.
    """
    head, _, rest = problem.path.partition(".")
    section = doc.data.get(head) if isinstance(doc.data, dict) else None
    if head in ENTRY_SECTIONS and rest and isinstance(section, dict):
        ends = [i for i, char in enumerate(rest) if char in ".["] + [len(rest)]
        for end in reversed(ends):
            if rest[:end] in section:
                sources.broken.add((head, rest[:end]))
                return
    sources.fatal = True


def _merge(doc: Document, sources: Sources) -> None:
    data = doc.data
    if not isinstance(data, dict):
        return
    for section in ENTRY_SECTIONS:
        block = data.get(section)
        if not isinstance(block, dict):
            continue
        known = sources.entries[section]
        for name, value in block.items():
            entry = Entry(doc, (section, name), value)
            first = known.get(name)
            if first is not None:
                what = _SINGULAR[section]
                sources.problems.append(
                    entry.problem(f"{what} '{name}' is already defined at {first.where}")
                )
                continue
            known[name] = entry
    for section in SINGLE_SECTIONS:
        if section in data:
            _once(sources.singles, section, Entry(doc, (section,), data[section]), sources)
    defaults = data.get("defaults")
    if isinstance(defaults, dict):
        for kind in DEFAULT_KINDS:
            if kind in defaults:
                entry = Entry(doc, ("defaults", kind), defaults[kind])
                _once(sources.defaults, kind, entry, sources)


def _once(into: dict[str, Entry], key: str, entry: Entry, sources: Sources) -> None:
    first = into.get(key)
    if first is not None:
        sources.problems.append(entry.problem(f"already defined at {first.where}"))
    else:
        into[key] = entry
