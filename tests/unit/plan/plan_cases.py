"""Small literal planning problems, brute force and a greedy baseline to judge the solver by."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from vcmon.plan.problem import (
    LinkNeed,
    McuOption,
    Problem,
    Purchase,
    PurchaseKind,
    cost,
    ready_sites,
)

D = 1.44e6  # one HD stream with overhead, bits/s


def tier(link: str, name: str, mbps: float, price: float, days: float = 30) -> Purchase:
    return Purchase(PurchaseKind.UPGRADE, link, name, price, days * 86400, mbps * 1e6, mbps * 1e6)


def random_problem(seed: int) -> Problem:
    """A province in miniature: districts behind the bridge, communes behind districts."""
    rng = random.Random(seed)
    links: dict[str, LinkNeed] = {}
    paths: dict[str, tuple[str, ...]] = {}
    mcus: dict[str, McuOption] = {}
    weights: dict[str, float] = {}
    for d in range(rng.randint(1, 3)):  # kept small: brute force is exponential
        dist = f"d{d}"
        up = f"up-{dist}"
        communes = [f"{dist}c{c}" for c in range(rng.randint(1, 2))]
        behind = 1 + len(communes)
        paths[dist] = (up,)
        weights[dist] = rng.randint(1, 3)
        for c in communes:
            paths[c] = (f"l-{c}", up)
            weights[c] = rng.randint(1, 3)
            links[f"l-{c}"] = _link(rng, f"l-{c}", 1)
        links[up] = _link(rng, up, behind)
        if rng.random() < 0.6:
            mcu = Purchase(PurchaseKind.MCU, dist, "mcu", float(rng.randint(1, 9)), 0.0)
            mcus[dist] = McuOption(mcu, (up,), (behind - 1) * D, (behind - 1) * D)
    return Problem(links, paths, weights, frozenset(), mcus)


def _link(rng: random.Random, lid: str, streams: int) -> LinkNeed:
    cap = rng.choice([0.5, 1, 2, 3, 4]) * D
    tiers = tuple(
        tier(lid, f"t{i}", rng.choice([2, 4, 6, 10]) * D / 1e6, float(rng.randint(1, 9)))
        for i in range(rng.randint(0, 2))
    )
    return LinkNeed(lid, cap, cap, streams * D, streams * D, tiers=tiers)


def all_plans(problem: Problem) -> Iterator[tuple[Purchase, ...]]:
    """Every choice of at most one tier per link and any set of MCUs."""
    per_link = [(None, *need.tiers) for need in problem.links.values() if need.tiers]
    mcus = [m.purchase for m in problem.mcus.values()]
    for tiers in itertools.product(*per_link):
        for n in range(len(mcus) + 1):
            for extra in itertools.combinations(mcus, n):
                yield tuple(t for t in tiers if t is not None) + extra


def brute_cheapest(problem: Problem, target: frozenset[str]) -> float | None:
    """Lowest cost readying every target that some plan can ready."""
    reachable = frozenset().union(*(ready_sites(problem, p) for p in all_plans(problem))) & target
    costs = [cost(p) for p in all_plans(problem) if ready_sites(problem, p) >= reachable]
    return min(costs) if costs else None


def brute_best(problem: Problem, target: frozenset[str], budget: float) -> tuple[int, float]:
    """(most targets ready, cheapest cost for that) within the budget."""
    best = (-1, 0.0)
    for p in all_plans(problem):
        c = cost(p)
        if c <= budget:
            n = len(ready_sites(problem, p) & target)
            if n > best[0] or (n == best[0] and c < best[1]):
                best = (n, c)
    return best


def greedy(problem: Problem, target: frozenset[str], budget: float) -> tuple[Purchase, ...]:
    """The obvious heuristic: buy the best sites-per-cost purchase until money runs out."""
    bought: list[Purchase] = []
    while True:
        now = len(ready_sites(problem, bought) & target)
        taken = {(p.kind, p.target) for p in bought}
        best: tuple[float, Purchase] | None = None
        for p in problem.options():
            if (p.kind, p.target) in taken or cost([*bought, p]) > budget:
                continue
            gain = len(ready_sites(problem, [*bought, p]) & target) - now
            if gain > 0 and (best is None or gain / p.monthly_cost > best[0]):
                best = (gain / p.monthly_cost, p)
        if best is None:
            return tuple(bought)
        bought.append(best[1])
