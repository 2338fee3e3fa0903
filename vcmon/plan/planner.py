"""From an inventory and its routes to a `Plan`: what to buy, what it costs, who gets ready.

The conference is the whole province (every routed site joins unless told otherwise), its
load comes from `vcmon.topology.conference_load`, and a site counts as ready when every
link of its path has room for that load on top of the measured background traffic, in both
directions, and its measured path quality does not fail (see `docs/plan.md`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import networkx as nx

from vcmon.errors import InventoryError
from vcmon.model import (
    ConferenceTopology,
    Direction,
    Inventory,
    Level,
    Measurements,
    Metric,
    Profile,
    Verdict,
)
from vcmon.plan.problem import (
    LinkNeed,
    McuOption,
    Problem,
    Purchase,
    PurchaseKind,
    Weight,
    cost,
    lead_time,
    ready_sites,
)
from vcmon.plan.solver import solve
from vcmon.readiness import SiteReadiness, assess
from vcmon.topology import Routes, Scenario, conference_load

# Readiness reasons a purchase of bandwidth can fix; any other failing reason blocks a site.
_CAPACITY_METRICS = frozenset({Metric.SPARE_UP, Metric.SPARE_DOWN})


@dataclass(frozen=True, slots=True)
class Plan:
    profile: str
    topology: ConferenceTopology
    target: frozenset[str]
    budget: float | None
    weight: Weight
    purchases: tuple[Purchase, ...]
    monthly_cost: float
    lead_time_s: float
    """The slowest purchase: everything is ordered on day one."""
    ready_now: frozenset[str]
    """Target sites ready before any purchase."""
    ready: frozenset[str]
    """Target sites ready once the purchases are in place."""
    unreachable: frozenset[str]
    """Target sites no purchase can make ready (path quality fails, or no tier is enough)."""
    problem: Problem
    optimal: bool = True
    """False if the solver's time limit stopped it before proving this plan optimal."""


@dataclass(frozen=True, slots=True)
class Costs:
    """What a cascaded MCU costs; the inventory has no price for it, so the caller says."""

    mcu_monthly_cost: float = 0.0
    mcu_lead_time_s: float = 0.0


NO_MCU_COST = Costs()


def select_sites(inventory: Inventory, spec: str) -> frozenset[str]:
    """Site codes from `all`, `district:CODE[,district:CODE...]` or plain site codes.

    The bridge is never a target: it hosts the conference.

    >>> from vcmon.plan.planner import _doctest_inventory
    >>> sorted(select_sites(_doctest_inventory(), "district:D"))
    ['A', 'B', 'D']
    """
    bridge = inventory.conference.bridge
    chosen: set[str] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if item == "all":
            chosen.update(inventory.sites)
        elif item.startswith("district:"):
            code = item.removeprefix("district:")
            site = inventory.sites.get(code)
            if site is None or site.level is not Level.DISTRICT:
                raise InventoryError.single("--target", 0, item, f"no district {code!r}")
            chosen.update(s.code for s in inventory.sites.values() if s.district == code)
        elif item in inventory.sites:
            chosen.add(item)
        else:
            raise InventoryError.single(
                "--target", 0, item, "not a site code, all or district:CODE"
            )
    return frozenset(chosen - {bridge})


def build_problem(
    inventory: Inventory,
    graph: nx.Graph,
    routes: Routes,
    *,
    profile: Profile,
    topology: ConferenceTopology,
    sites: Iterable[str] | None = None,
    cascade_at: Iterable[str] | None = None,
    measurements: Measurements | None = None,
    blocked: Iterable[str] = (),
    capacity: Mapping[str, tuple[float, float]] | None = None,
    costs: Costs = NO_MCU_COST,
    now: float | None = None,
) -> Problem:
    """The solver's view of one conference scenario.

    `sites` join the conference (default: every routed site); `cascade_at` are MCUs already
    in place (default: the inventory's); under the cascade topology every other district
    with joining sites behind it is an MCU the plan may buy. `capacity` overrides links'
    contracted (up, down) rates, for what-if scenarios. Measured link use counts as
    background traffic when fresh at `now` (as `vcmon.readiness` judges it).
    """
    joining = frozenset(routes.paths) if sites is None else frozenset(sites) & set(routes.paths)
    existing = frozenset(inventory.conference.cascade_at if cascade_at is None else cascade_at)
    base = _loads(graph, routes, profile, topology, joining, existing)
    mcus: dict[str, McuOption] = {}
    if topology is ConferenceTopology.CASCADE:
        candidates = _mcu_candidates(inventory, routes, joining, existing)
        full = _loads(graph, routes, profile, topology, joining, existing | candidates)
        for code in sorted(candidates):
            first = routes.hops[code][0]
            saved = base[first.link].load_bps(first.direction) - full[first.link].load_bps(
                first.direction
            )
            if saved > 0:
                buy = Purchase(
                    PurchaseKind.MCU, code, "mcu", costs.mcu_monthly_cost, costs.mcu_lead_time_s
                )
                above = tuple(h.link for h in routes.hops[code])
                mcus[code] = McuOption(buy, above, saved, saved)
    links = {}
    measured = measurements.links if measurements else {}
    overrides = capacity or {}
    for lid, link in inventory.links.items():
        load = base.get(lid)
        m = measured.get(lid)
        use_ok = (
            m is not None
            and m.failure is None
            and (now is None or now - m.measured_at <= profile.policy.max_age_s)
        )
        up, down = overrides.get(lid, (link.up_bps, link.down_bps))
        links[lid] = LinkNeed(
            lid,
            up,
            down,
            load.up_bps if load else 0.0,
            load.down_bps if load else 0.0,
            (m.used_up_bps or 0.0) if use_ok and m else 0.0,
            (m.used_down_bps or 0.0) if use_ok and m else 0.0,
            tuple(
                Purchase(
                    PurchaseKind.UPGRADE,
                    lid,
                    t.name,
                    t.monthly_cost,
                    t.lead_time_s,
                    t.up_bps,
                    t.down_bps,
                )
                for t in link.upgrades
            ),
        )
    paths = {s: tuple(h.link for h in routes.hops[s]) for s in joining}
    weights = {s: float(max(inventory.sites[s].rooms, 1)) for s in joining}
    return Problem(links, paths, weights, frozenset(blocked) & joining, mcus)


def _loads(
    graph: nx.Graph,
    routes: Routes,
    profile: Profile,
    topology: ConferenceTopology,
    joining: frozenset[str],
    cascade_at: frozenset[str],
) -> dict[str, _Load]:
    scenario = Scenario(joining, profile, topology, cascade_at)
    return {
        lid: _Load(x.up_bps, x.down_bps)
        for lid, x in conference_load(graph, routes, scenario).items()
    }


@dataclass(frozen=True, slots=True)
class _Load:
    up_bps: float
    down_bps: float

    def load_bps(self, direction: Direction) -> float:
        return self.up_bps if direction is Direction.UP else self.down_bps


def _mcu_candidates(
    inventory: Inventory, routes: Routes, joining: frozenset[str], existing: frozenset[str]
) -> frozenset[str]:
    """Districts with joining sites behind them and no MCU yet (nested cascades excluded)."""
    behind = {inventory.sites[s].district for s in joining}
    return frozenset(
        code
        for code, site in inventory.sites.items()
        if site.level is Level.DISTRICT
        and code in behind
        and code not in existing
        and code != routes.bridge
        and routes.hops.get(code)
    )


def plan(
    inventory: Inventory,
    graph: nx.Graph,
    routes: Routes,
    *,
    profile: str | None = None,
    topology: ConferenceTopology | None = None,
    target: Iterable[str] | None = None,
    budget: float | None = None,
    weight: Weight = Weight.SITES,
    measurements: Measurements | None = None,
    now: float | None = None,
    capacity: Mapping[str, tuple[float, float]] | None = None,
    costs: Costs = NO_MCU_COST,
    blocked: Iterable[str] | None = None,
) -> Plan:
    """The cheapest purchases readying every `target` site (default: all but the bridge);
    with a `budget`, the purchases readying the most sites (or rooms) it allows.

    Sites that `vcmon.readiness` fails for anything but spare capacity (RTT, jitter, loss,
    no fresh data...) cannot be fixed by bandwidth: they are reported as unreachable.
    `now` (Unix seconds) is required with `measurements`, to judge their freshness.
    `blocked` skips that assessment when the caller already has it (`blocked_by_quality`).

    >>> from vcmon.plan.planner import _doctest_inventory
    >>> from vcmon.topology import build_graph, routes
    >>> inv = _doctest_inventory(); g = build_graph(inv)
    >>> p = plan(inv, g, routes(g, "P"))
    >>> [x.key for x in p.purchases], p.monthly_cost, sorted(p.ready_now), sorted(p.ready)
    (['upgrade:D-B:10M', 'upgrade:P-D:20M'], 800.0, [], ['A', 'B', 'D'])
    """
    name = profile or inventory.conference.profile
    if name not in inventory.profiles:
        known = ", ".join(sorted(inventory.profiles))
        raise InventoryError.single("--profile", 0, name, f"unknown profile (known: {known})")
    topo = topology or inventory.conference.topology
    problem = build_problem(
        inventory,
        graph,
        routes,
        profile=inventory.profiles[name],
        topology=topo,
        measurements=measurements,
        blocked=(
            quality_blocked(
                inventory, graph, routes, name, topo, measurements=measurements, now=now
            )
            if blocked is None
            else blocked
        ),
        capacity=capacity,
        costs=costs,
        now=now,
    )
    # Sites with no route to the bridge stay targets: they are unreachable, not forgotten.
    wanted = frozenset(inventory.sites if target is None else target) - {routes.bridge}
    solution = solve(problem, wanted, budget=budget, weight=weight)
    return Plan(
        profile=name,
        topology=topo,
        target=wanted,
        budget=budget,
        weight=weight,
        purchases=solution.purchases,
        monthly_cost=cost(solution.purchases),
        lead_time_s=lead_time(solution.purchases),
        ready_now=ready_sites(problem) & wanted,
        ready=solution.ready,
        unreachable=solution.unreachable | (wanted - problem.paths.keys()),
        problem=problem,
        optimal=solution.optimal,
    )


def quality_blocked(
    inventory: Inventory,
    graph: nx.Graph,
    routes: Routes,
    profile: str,
    topology: ConferenceTopology,
    *,
    sites: Iterable[str] | None = None,
    cascade_at: Iterable[str] | None = None,
    measurements: Measurements | None = None,
    now: float | None = None,
) -> frozenset[str]:
    """Sites whose readiness fails for a reason other than spare capacity."""
    joining = frozenset(routes.paths) if sites is None else frozenset(sites) & set(routes.paths)
    existing = frozenset(inventory.conference.cascade_at if cascade_at is None else cascade_at)
    return blocked_by_quality(
        assess(
            inventory,
            graph,
            routes,
            joining,
            topology,
            existing,
            measurements=measurements,
            now=now,
            profiles=[profile],
        ),
        profile,
    )


def blocked_by_quality(verdicts: Mapping[str, SiteReadiness], profile: str) -> frozenset[str]:
    """Sites with a failing reason that bandwidth cannot fix, from `vcmon.readiness` verdicts."""
    return frozenset(
        code
        for code, r in verdicts.items()
        if any(
            x.metric not in _CAPACITY_METRICS and x.verdict is not Verdict.READY
            for x in r.verdicts[profile].reasons
        )
    )


def _doctest_inventory() -> Inventory:
    """P <- D (4 Mb/s, a 20M tier at 500/month) <- A (10 Mb/s), B (1 Mb/s, a 10M tier at 300).

    The D uplink carries 3 HD streams (4.32 Mb/s each way): short; B's link (1.44) too.
    """
    from vcmon.model import (
        Conference,
        Link,
        LinkRole,
        Medium,
        Policy,
        Site,
        Terrain,
        Threshold,
        UpgradeTier,
    )

    policy = Policy(
        Threshold(0.1, 0.3, "Teams"),
        Threshold(0.03, 0.05, "Teams"),
        Threshold(0.01, 0.05, "Teams"),
        300.0,
    )
    hd = Profile("hd", 1.2e6, 0.2, "Teams 720p", policy)

    def site(code: str, level: Level, parent: str | None) -> Site:
        district = code if level is Level.DISTRICT else ("D" if parent == "D" else None)
        return Site(code, code, level, parent, None, Terrain.PLAIN, 1, district)

    def link(lid: str, a: str, b: str, mbps: float, *tiers: UpgradeTier) -> Link:
        return Link(lid, a, b, Medium.FIBRE, mbps * 1e6, mbps * 1e6, 0.002, LinkRole.PRIMARY, tiers)

    sites = [
        site("P", Level.PROVINCE, None),
        site("D", Level.DISTRICT, "P"),
        site("A", Level.COMMUNE, "D"),
        site("B", Level.COMMUNE, "D"),
    ]
    links = [
        link("P-D", "D", "P", 4, UpgradeTier("20M", 20e6, 20e6, 500.0, 30 * 86400.0)),
        link("D-A", "A", "D", 10),
        link("D-B", "B", "D", 1, UpgradeTier("10M", 10e6, 10e6, 300.0, 14 * 86400.0)),
    ]
    return Inventory(
        sites={s.code: s for s in sites},
        links={x.id: x for x in links},
        devices={},
        profiles={"hd": hd},
        modules={},
        auths={},
        conference=Conference("P", ConferenceTopology.MCU),
    )
