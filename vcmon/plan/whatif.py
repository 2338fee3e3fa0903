"""What-if: the same province under other scenarios, side by side with a baseline.

A scenario may change the profile, the conference topology (and its cascaded MCUs), who
joins, links' capacities, and which links are down (their sites fall back on backup links,
or are cut off). Each gives the sites ready, the load on every link and the cheapest plan
to make every joining site ready; `compare` states the differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx

from vcmon.errors import InventoryError
from vcmon.model import ConferenceTopology, Inventory, Measurements
from vcmon.plan.planner import NO_MCU_COST, Costs, build_problem, quality_blocked, select_sites
from vcmon.plan.problem import LinkNeed, ready_sites
from vcmon.plan.solver import solve
from vcmon.topology import Routes, reroute
from vcmon.units import parse_rate


@dataclass(frozen=True, slots=True)
class WhatIf:
    name: str
    profile: str | None = None
    topology: ConferenceTopology | None = None
    cascade_at: frozenset[str] | None = None
    sites: frozenset[str] | None = None
    """Who joins (default: every site)."""
    capacity: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Link id -> (up, down) bits/s replacing the contracted rate."""
    down: frozenset[str] = frozenset()
    """Links failed: traffic takes what routing has left (see `topology.reroute`)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario: WhatIf
    joining: frozenset[str]
    ready: frozenset[str]
    links: Mapping[str, LinkNeed]
    """Each link's capacity and conference load in this scenario."""
    plan_cost: float
    """Monthly cost of the cheapest plan making every joining site ready it can."""
    plan_purchases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LoadChange:
    link: str
    before_up_bps: float
    after_up_bps: float
    before_down_bps: float
    after_down_bps: float


@dataclass(frozen=True, slots=True)
class Difference:
    name: str
    ready_gained: tuple[str, ...]
    ready_lost: tuple[str, ...]
    cost_delta: float
    loads: tuple[LoadChange, ...]


def parse_what_if(text: str, inventory: Inventory) -> WhatIf:
    """A scenario from
    `name=N,profile=P,topology=T,cascade=C+C,sites=SPEC+SPEC,link:ID=RATE,down=ID+ID`.

    A rate may be `UP/DOWN`. Site specs are those of `--target`, joined with `+`.

    >>> from vcmon.plan.planner import _doctest_inventory
    >>> w = parse_what_if("name=fast,link:P-D=30M/40M,topology=cascade", _doctest_inventory())
    >>> w.name, w.topology.value, w.capacity["P-D"]
    ('fast', 'cascade', (30000000.0, 40000000.0))
    >>> sorted(parse_what_if("name=cut,down=P-D+D-A", _doctest_inventory()).down)
    ['D-A', 'P-D']
    """
    values: dict[str, str] = {}
    capacity: dict[str, tuple[float, float]] = {}
    for raw in text.split(","):
        key, sep, value = raw.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise InventoryError.single("--what-if", 0, raw, "expected key=value")
        try:
            if key.startswith("link:"):
                lid = key.removeprefix("link:")
                if lid not in inventory.links:
                    raise ValueError(f"no link {lid!r}")
                up, _, down = value.partition("/")
                capacity[lid] = (parse_rate(up), parse_rate(down or up))
            elif key in {"name", "profile", "topology", "cascade", "sites", "down"}:
                values[key] = value
            else:
                raise ValueError(
                    "unknown key (name, profile, topology, cascade, sites, link:ID, down)"
                )
            if key == "down":
                unknown = [lid for lid in value.split("+") if lid not in inventory.links]
                if unknown:
                    raise ValueError(f"no link {unknown[0]!r}")
            if key == "topology":
                ConferenceTopology(value)
            if key == "profile" and value not in inventory.profiles:
                raise ValueError(f"unknown profile {value!r}")
        except ValueError as exc:
            raise InventoryError.single("--what-if", 0, key, str(exc)) from None
    return WhatIf(
        name=values.get("name", text),
        profile=values.get("profile"),
        topology=ConferenceTopology(values["topology"]) if "topology" in values else None,
        cascade_at=frozenset(values["cascade"].split("+")) if "cascade" in values else None,
        sites=(
            select_sites(inventory, values["sites"].replace("+", ","))
            if "sites" in values
            else None
        ),
        capacity=capacity,
        down=frozenset(values["down"].split("+")) if "down" in values else frozenset(),
    )


def what_if(
    inventory: Inventory,
    graph: nx.Graph,
    routes: Routes,
    scenarios: Sequence[WhatIf],
    *,
    measurements: Measurements | None = None,
    now: float | None = None,
    costs: Costs = NO_MCU_COST,
) -> list[Outcome]:
    """One `Outcome` per scenario, in order (the first is the baseline for `compare`)."""
    outcomes = []
    for sc in scenarios:
        name = sc.profile or inventory.conference.profile
        topology = sc.topology or inventory.conference.topology
        g, r = reroute(graph, routes, sc.down) if sc.down else (graph, routes)
        blocked = quality_blocked(
            inventory,
            g,
            r,
            name,
            topology,
            sites=sc.sites,
            cascade_at=sc.cascade_at,
            measurements=measurements,
            now=now,
        )
        problem = build_problem(
            inventory,
            g,
            r,
            profile=inventory.profiles[name],
            topology=topology,
            sites=sc.sites,
            cascade_at=sc.cascade_at,
            measurements=measurements,
            blocked=blocked,
            capacity=sc.capacity,
            costs=costs,
            now=now,
        )
        joining = frozenset(problem.paths) - {routes.bridge}
        solution = solve(problem, joining)
        outcomes.append(
            Outcome(
                scenario=sc,
                joining=joining,
                ready=ready_sites(problem) & joining,
                links=problem.links,
                plan_cost=sum(p.monthly_cost for p in solution.purchases),
                plan_purchases=tuple(p.key for p in solution.purchases),
            )
        )
    return outcomes


def compare(outcomes: Sequence[Outcome]) -> list[Difference]:
    """Each scenario against the first: sites gained/lost, plan cost and changed link loads.

    >>> from vcmon.plan.planner import _doctest_inventory
    >>> from vcmon.topology import build_graph, routes
    >>> inv = _doctest_inventory(); g = build_graph(inv); r = routes(g, "P")
    >>> fat = WhatIf("fat", capacity={"P-D": (5e6, 5e6)})
    >>> base, fat = what_if(inv, g, r, [WhatIf("base"), fat])
    >>> d = compare([base, fat])[0]
    >>> d.ready_gained, d.cost_delta, d.loads
    (('A', 'D'), -500.0, ())
    """
    if not outcomes:
        return []
    base = outcomes[0]
    diffs = []
    for out in outcomes[1:]:
        changes = []
        for lid, after in out.links.items():
            before = base.links.get(lid)
            b_up = before.load_up_bps if before else 0.0
            b_down = before.load_down_bps if before else 0.0
            if (b_up, b_down) != (after.load_up_bps, after.load_down_bps):
                changes.append(
                    LoadChange(lid, b_up, after.load_up_bps, b_down, after.load_down_bps)
                )
        diffs.append(
            Difference(
                name=out.scenario.name,
                ready_gained=tuple(sorted(out.ready - base.ready)),
                ready_lost=tuple(sorted(base.ready - out.ready)),
                cost_delta=out.plan_cost - base.plan_cost,
                loads=tuple(changes),
            )
        )
    return diffs
