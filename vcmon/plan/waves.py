"""Rollout waves: who can go live now, then what each purchase unlocks, best value first.

A purchase is taken together with the plan's purchases upstream of it (a commune link's
upgrade is useless until its thin district uplink is upgraded), so each wave is a bundle
that makes sites ready on its own. Bundles are ranked by ready sites per monthly cost.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from vcmon.plan.planner import Plan
from vcmon.plan.problem import Problem, Purchase, PurchaseKind, cost, fits, lead_time, link_ok


@dataclass(frozen=True, slots=True)
class Wave:
    number: int
    sites: tuple[str, ...]
    """Target sites that become ready in this wave (wave 1: ready now)."""
    purchases: tuple[Purchase, ...]
    monthly_cost: float
    lead_time_s: float


def waves(plan: Plan) -> tuple[Wave, ...]:
    """Wave 1 is ready now; each next wave is the best-value bundle of the plan's purchases.

    >>> from vcmon.plan.planner import _doctest_inventory, plan as make_plan
    >>> from vcmon.topology import build_graph, routes
    >>> g = build_graph(_doctest_inventory())
    >>> [(w.number, w.sites, [p.target for p in w.purchases]) for w in waves(make_plan(
    ...     _doctest_inventory(), g, routes(g, "P")))]
    [(1, (), []), (2, ('A', 'D'), ['P-D']), (3, ('B',), ['D-B'])]
    """
    problem = plan.problem
    upstream = _upstream(problem)
    behind = _behind(problem)
    state = _State(problem)
    ready = set(plan.ready_now)
    result = [Wave(1, tuple(sorted(plan.ready_now)), (), 0.0, 0.0)]
    remaining = list(plan.purchases)
    position = {p: _position(problem, p) for p in remaining}
    hops = _hops_to_bridge(problem)
    top = {
        p: min([position[p], *upstream.get(position[p], ())], key=lambda lid: hops.get(lid, 0))
        for p in remaining
    }
    # A bundle's gain depends only on links under its top link (its province, say): after a
    # purchase, only bundles sharing that top link are re-evaluated.
    cache: dict[Purchase, tuple[tuple[float, float, str], list[Purchase], set[str]]] = {}
    while remaining:
        at: dict[str, list[Purchase]] = {}
        for p in remaining:
            at.setdefault(position[p], []).append(p)
        best: tuple[tuple[float, float, str], list[Purchase], set[str]] | None = None
        for p in remaining:
            if p not in cache:
                here = position[p]
                bundle = [
                    q for lid in (here, *sorted(upstream.get(here, ()))) for q in at.get(lid, ())
                ]
                gained = state.newly_ready(bundle, ready, plan.target, behind)
                price = cost(bundle)
                value = math.inf if price <= 0 else len(gained) / price
                cache[p] = ((-value, lead_time(bundle), p.key), bundle, gained)
            rank, bundle, gained = cache[p]
            if gained and (best is None or rank < best[0]):
                best = (rank, bundle, gained)
        if best is None:  # nothing left unlocks a site by itself: one last wave
            best = ((0.0, 0.0, ""), list(remaining), set())
        _, bundle, gained = best
        state.buy(bundle)
        ready |= gained
        remaining = [p for p in remaining if p not in bundle]
        tops = {top[p] for p in bundle}
        left = set(remaining)
        cache = {p: v for p, v in cache.items() if p in left and top[p] not in tops}
        result.append(
            Wave(
                len(result) + 1,
                tuple(sorted(gained)),
                tuple(sorted(bundle, key=lambda p: p.key)),
                cost(bundle),
                lead_time(bundle),
            )
        )
    return tuple(result)


class _State:
    """What is bought so far, with each link's verdict kept up to date incrementally.

    Re-judging every link for every candidate bundle would be quadratic at national scale;
    a bundle only changes the links it touches.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.caps: dict[str, tuple[float, float]] = {}
        self.relief: dict[str, tuple[float, float]] = {}
        self.ok = link_ok(problem, [])

    def _judge(
        self, lid: str, caps: dict[str, tuple[float, float]], relief: dict[str, tuple[float, float]]
    ) -> bool:
        need = self.problem.links[lid]
        up, down = (
            caps.get(lid) or self.caps.get(lid) or (need.capacity_up_bps, need.capacity_down_bps)
        )
        r_up, r_down = relief.get(lid) or self.relief.get(lid) or (0.0, 0.0)
        return fits(need.load_up_bps + need.used_up_bps - r_up, up) and fits(
            need.load_down_bps + need.used_down_bps - r_down, down
        )

    def _effects(
        self, bundle: list[Purchase]
    ) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
        caps = {p.target: (p.up_bps, p.down_bps) for p in bundle if p.kind is PurchaseKind.UPGRADE}
        relief: dict[str, tuple[float, float]] = {}
        for p in bundle:
            if p.kind is PurchaseKind.MCU:
                option = self.problem.mcus[p.target]
                for lid in option.above:
                    u, d = relief.get(lid) or self.relief.get(lid) or (0.0, 0.0)
                    relief[lid] = (u + option.reduction_up_bps, d + option.reduction_down_bps)
        return caps, relief

    def newly_ready(
        self,
        bundle: list[Purchase],
        ready: set[str],
        target: frozenset[str],
        behind: dict[str, list[str]],
    ) -> set[str]:
        caps, relief = self._effects(bundle)
        touched = {lid: self._judge(lid, caps, relief) for lid in set(caps) | set(relief)}
        candidates = {s for lid in touched for s in behind.get(lid, ())} - ready
        return {
            s
            for s in candidates & target
            if s not in self.problem.blocked
            and all(touched.get(lid, self.ok.get(lid, True)) for lid in self.problem.paths[s])
        }

    def buy(self, bundle: list[Purchase]) -> None:
        caps, relief = self._effects(bundle)
        self.caps.update(caps)
        self.relief.update(relief)
        for lid in set(caps) | set(relief):
            self.ok[lid] = self._judge(lid, {}, {})


def _upstream(problem: Problem) -> dict[str, set[str]]:
    """Link -> the links between it and the bridge (paths form a tree)."""
    up: dict[str, set[str]] = {}
    for path in problem.paths.values():
        for i, lid in enumerate(path):
            up.setdefault(lid, set()).update(path[i + 1 :])
    return up


def _behind(problem: Problem) -> dict[str, list[str]]:
    """Link -> the sites whose path crosses it."""
    out: dict[str, list[str]] = defaultdict(list)
    for site, path in problem.paths.items():
        for lid in path:
            out[lid].append(site)
    return out


def _anchor(problem: Problem, p: Purchase) -> set[str]:
    """The links a purchase changes: its link, or every link an MCU relieves."""
    if p.kind is PurchaseKind.UPGRADE:
        return {p.target}
    return set(problem.mcus[p.target].above)


def _hops_to_bridge(problem: Problem) -> dict[str, int]:
    """Link -> how many links from it to the bridge, itself included (paths form a tree)."""
    return {lid: len(path) - i for path in problem.paths.values() for i, lid in enumerate(path)}


def _position(problem: Problem, p: Purchase) -> str:
    """Where a purchase sits: its link, or an MCU's own uplink (a sibling's MCU is elsewhere)."""
    if p.kind is PurchaseKind.UPGRADE:
        return p.target
    return problem.mcus[p.target].above[0]
