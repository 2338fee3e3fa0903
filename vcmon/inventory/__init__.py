"""YAML -> a validated, fully resolved, immutable `vcmon.model.Inventory`.

Public API (everything else here is private):

    load_inventory(path) -> Inventory     a file or a directory; raises InventoryError
    validate_inventory(path) -> InventorySummary   the same checks; counts, not the model
    read_yaml(path) -> Document           line-aware YAML, reusable for other files
    check_schema(doc, schema) -> [Problem] JSON Schema errors as FILE:LINE: path: message
    inventory_schema() -> dict            the inventory's JSON Schema (inventory.schema.json)

Every error is a `vcmon.errors.Problem`; `InventoryError` (a ValueError) carries all of a run.
The format is documented in docs/inventory.md.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from vcmon.errors import InventoryError, Problem
from vcmon.inventory import _cache
from vcmon.memory import gc_paused
from vcmon.model import Inventory, InventorySummary

if TYPE_CHECKING:
    from vcmon.inventory._schema import check_schema
    from vcmon.inventory._sources import inventory_schema
    from vcmon.inventory._yaml import Document, read_yaml

__all__ = [
    "Document",
    "check_schema",
    "inventory_schema",
    "load_inventory",
    "read_yaml",
    "validate_inventory",
]

_HOME = {
    "Document": "_yaml",
    "read_yaml": "_yaml",
    "check_schema": "_schema",
    "inventory_schema": "_sources",
}


def __getattr__(name: str) -> Any:
    """Import on first use: an unchanged, cached inventory needs neither YAML nor the schema."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read, validate and resolve the inventory at `path` (a YAML file or a directory).

    >>> inv = load_inventory("inventory/example.yaml")
    >>> inv.links["dc-536"].up_bps, inv.profiles["hd"].demand_bps, inv.sites["21340"].district
    (4000000.0, 1440000.0, '530')
    """
    with gc_paused():
        inventory = _cache.load_inventory(path)
        if inventory is None:
            inventory, digests = _load(path)
            _cache.store_inventory(path, inventory, digests)
        return inventory


def validate_inventory(path: str | os.PathLike[str]) -> InventorySummary:
    """Check the inventory at `path` as `load_inventory` does; what it holds, in counts.

    An unchanged inventory that passed before is confirmed from the cache's file digests,
    without loading it.

    >>> s = validate_inventory("inventory/example.yaml")
    >>> s.sites, s.districts, s.profiles
    (8, 3, 3)
    """
    with gc_paused():
        summary = _cache.load_summary(path)
    return summary if summary is not None else InventorySummary.of(load_inventory(path))


def _load(path: str | os.PathLike[str]) -> tuple[Inventory, list[str]]:
    """The inventory, and the cache digest of each file it was read from (in `sources` order)."""
    from vcmon.inventory._resolve import Resolver
    from vcmon.inventory._sources import read_sources
    from vcmon.inventory._yaml import display_name

    sources = read_sources(path)
    if sources.fatal:
        raise InventoryError(sources.problems)
    problems = list(sources.problems)
    if "conference" not in sources.singles and sources.docs:
        message = "missing section (at least the bridge site)"
        problems.append(Problem(display_name(path), 0, "conference", message))
    resolver = Resolver(sources)
    inventory = resolver.resolve()
    problems.extend(resolver.problems)
    if problems:
        raise InventoryError(problems)
    return inventory, [doc.digest for doc in sources.docs]
