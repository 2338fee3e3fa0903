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

from vcmon.lab.lab import LabState, LabStatus, down, exec_in_noc, status, up
from vcmon.lab.plan import BRIDGE_ADDR, NOC_ADDR, LabPlan, build_plan, flat_addresses
from vcmon.lab.scenario import Scenario, load_scenario, parse_scenario

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
