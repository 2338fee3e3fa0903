"""Read a measurements file: JSON `{"paths": [...], "links": [...]}` with the model's fields.

Each path item has `PathMeasurement`'s fields (site, measured_at, rtt_p50_s, rtt_p95_s,
jitter_s, loss_ratio, optional failure, rtt_min_s, rtt_max_s, jitter_rfc3550_s), each link
item `LinkMeasurement`'s (link, measured_at, used_up_bps, used_down_bps, capacity_up_bps,
capacity_down_bps, optional oper_up, failure). Base units; `null` for "not measured".
Nothing else in vcmon reads such a file, so `plan` and `report` share this reader.

Mistakes are reported as `InventoryError`s naming the file, the line and the field.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from vcmon.errors import InventoryError, Problem
from vcmon.model import LinkMeasurement, Measurements, PathMeasurement

_KINDS: dict[str, type[PathMeasurement] | type[LinkMeasurement]] = {
    "paths": PathMeasurement,
    "links": LinkMeasurement,
}


def load_measurements(path: Path) -> Measurements:
    """Measurements from a JSON file; the last item for a site or link wins."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError.single(path, 0, "", f"cannot read: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError.single(path, exc.lineno, "", f"not JSON: {exc.msg}") from None
    if not isinstance(doc, dict) or set(doc) - set(_KINDS):
        raise InventoryError.single(path, 1, "", 'expected an object with "paths" and "links"')
    problems: list[Problem] = []
    found: dict[str, dict[str, Any]] = {"paths": {}, "links": {}}
    for kind, cls in _KINDS.items():
        items = doc.get(kind, [])
        if not isinstance(items, list):
            problems.append(Problem(str(path), _line(text, [kind]), kind, "expected a list"))
            continue
        for i, item in enumerate(items):
            where = f"{kind}[{i}]"
            try:
                value = _build(cls, item)
            except _FieldError as exc:
                field = f"{where}.{exc.field}" if exc.field else where
                line = _line(text, [kind, i, exc.field] if exc.field else [kind, i])
                problems.append(Problem(str(path), line, field, exc.message))
                continue
            key = value.site if isinstance(value, PathMeasurement) else value.link
            found[kind][key] = value
    if problems:
        raise InventoryError(problems)
    return Measurements(paths=found["paths"], links=found["links"])


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _build(cls: type[PathMeasurement] | type[LinkMeasurement], item: object) -> Any:
    if not isinstance(item, dict):
        raise _FieldError("", "expected an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in item:
        if key not in fields:
            raise _FieldError(str(key), f"unknown field (known: {', '.join(fields)})")
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING
        if name not in item:
            if required:
                raise _FieldError(name, "missing")
            continue
        _check(name, item[name], hints[name])
    return cls(**item)


def _check(name: str, value: object, hint: object) -> None:
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) not in allowed:
            raise _FieldError(name, "must not be null")
        return
    if float in allowed and isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise _FieldError(name, f"must not be negative (got {value})")
        return
    for t in (str, bool):
        if t in allowed and isinstance(value, t):
            return
    raise _FieldError(name, f"wrong type {type(value).__name__}")


def _line(text: str, keys: list[str | int]) -> int:
    r"""1-based line of the node at `keys` (JSON is YAML: PyYAML's nodes carry marks).

    >>> _line('{"paths": [\n {"site": "a",\n  "measured_at": -1}]}', ["paths", 0, "measured_at"])
    3
    """
    try:
        node: yaml.Node | None = yaml.compose(text)
    except yaml.YAMLError:
        return 0
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), node)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
    return int(node.start_mark.line) + 1 if node is not None else 0
