"""`vcmon lab`: the simulated province network (namespaces, shaped veths, an ICMP responder
with delay/jitter/loss, real snmpd agents, background traffic, timed events).

Public API::

    up(inventory, scenario=None, *, state_dir, prefix="vl-") -> LabState
    down(state_dir) -> None
    status(state_dir) -> LabStatus | None
    exec_in_noc(state_dir, argv) -> int
    load_scenario(path) -> Scenario
    build_plan(inventory, scenario, prefix) -> LabPlan      (pure, no I/O)

Everything raises `vcmon.errors.LabError` (or `InventoryError` for a bad scenario file)
with a message meant for a person.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vcmon.lab.lab import LabState, LabStatus, down, exec_in_noc, status, up
    from vcmon.lab.plan import BRIDGE_ADDR, NOC_ADDR, LabPlan, build_plan, flat_addresses
    from vcmon.lab.scenario import Scenario, load_scenario, parse_scenario

_HOME = {
    **dict.fromkeys(("LabState", "LabStatus", "down", "exec_in_noc", "status", "up"), "lab"),
    **dict.fromkeys(("BRIDGE_ADDR", "NOC_ADDR", "LabPlan", "build_plan", "flat_addresses"), "plan"),
    **dict.fromkeys(("Scenario", "load_scenario", "parse_scenario"), "scenario"),
}


def __getattr__(name: str) -> Any:
    """Import on first use: every `vcmon` command builds the `lab` parser, few run the lab."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "BRIDGE_ADDR",
    "NOC_ADDR",
    "LabPlan",
    "LabState",
    "LabStatus",
    "Scenario",
    "build_plan",
    "down",
    "exec_in_noc",
    "flat_addresses",
    "load_scenario",
    "parse_scenario",
    "status",
    "up",
]
