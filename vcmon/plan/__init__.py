"""Rollout planning: the cheapest upgrades to a ready province, rollout waves, what-if.

Public API (everything else is private):

    plan(inventory, graph, routes, *, profile, topology, target, budget, weight,
         measurements, blocked, capacity, costs) -> Plan
    waves(plan) -> tuple[Wave, ...]
    what_if(inventory, graph, routes, scenarios, ...) -> list[Outcome]; compare(outcomes)
    select_sites(inventory, "all" | "district:CODE,...") ; parse_what_if(text, inventory)

Pure: no I/O. The ILP (PuLP + the CBC binary bundled with it) lives in `solver.py` alone.
"""

from vcmon.plan.planner import (
    NO_MCU_COST,
    Costs,
    Plan,
    blocked_by_quality,
    build_problem,
    plan,
    select_sites,
)
from vcmon.plan.problem import Problem, Purchase, PurchaseKind, Weight, ready_sites
from vcmon.plan.waves import Wave, waves
from vcmon.plan.whatif import (
    Difference,
    LoadChange,
    Outcome,
    WhatIf,
    compare,
    parse_what_if,
    what_if,
)

__all__ = [
    "NO_MCU_COST",
    "Costs",
    "Difference",
    "LoadChange",
    "Outcome",
    "Plan",
    "Problem",
    "Purchase",
    "PurchaseKind",
    "Wave",
    "Weight",
    "WhatIf",
    "blocked_by_quality",
    "build_problem",
    "compare",
    "parse_what_if",
    "plan",
    "ready_sites",
    "select_sites",
    "waves",
    "what_if",
]
