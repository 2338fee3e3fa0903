"""The ILP behind every plan: PuLP with its bundled CBC (the only module importing pulp).

Variables: one binary per upgrade tier (at most one per link) and per cascaded MCU; under
a budget, one binary per constrained link ("has room") and per site ("ready"). Capacities
are in Mb/s inside the model so CBC's tolerances stay meaningful. CBC runs single-threaded
on a model written in a fixed order, so the same problem always gives the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pulp  # type: ignore[import-untyped]  # pulp ships no type hints

from vcmon.plan.problem import (
    LinkNeed,
    Problem,
    Purchase,
    Weight,
    fits,
    ready_sites,
)

_MB = 1e6
# Breaks ties between equally cheap plans toward fewer purchases; far below one currency unit.
_PER_PURCHASE = 1e-3


@dataclass(frozen=True, slots=True)
class Solution:
    purchases: tuple[Purchase, ...]
    ready: frozenset[str]
    """Target sites ready after the purchases."""
    unreachable: frozenset[str]
    """Target sites no combination of purchases can make ready."""
    optimal: bool = True
    """False when CBC hit its time limit and returned its best plan so far."""


def solve(
    problem: Problem,
    target: Iterable[str],
    *,
    budget: float | None = None,
    weight: Weight = Weight.SITES,
    time_limit_s: float = 120.0,
) -> Solution:
    """The cheapest purchases making every reachable target ready; under `budget`, the
    purchases making the most target weight ready (cheapest among those).

    >>> from vcmon.plan.problem import LinkNeed, PurchaseKind
    >>> t = Purchase(PurchaseKind.UPGRADE, "l1", "30M", 100.0, 86400.0, 30e6, 30e6)
    >>> p = Problem({"l1": LinkNeed("l1", 10e6, 10e6, 12e6, 12e6, tiers=(t,))}, {"a": ("l1",)})
    >>> solve(p, ["a"]).purchases == (t,), solve(p, ["a"], budget=50.0).ready
    (True, frozenset())
    """
    if budget is not None and budget < 0:
        raise ValueError(f"budget must not be negative (got {budget})")
    wanted = sorted(set(target) & set(problem.paths))
    relief = _full_relief(problem)
    reachable = [s for s in wanted if s not in problem.blocked and _satisfiable(problem, s, relief)]
    unreachable = frozenset(wanted) - frozenset(reachable)
    model = _Model(problem, reachable, time_limit_s)
    chosen = model.cheapest() if budget is None else model.best_within(budget, weight)
    ready = ready_sites(problem, chosen) & frozenset(wanted)
    if budget is None and not ready >= frozenset(reachable):
        raise RuntimeError("the solver returned a plan that leaves reachable targets unready")
    return Solution(tuple(sorted(chosen)), ready, unreachable, model.optimal)


def _satisfiable(problem: Problem, site: str, relief: dict[str, tuple[float, float]]) -> bool:
    """With every MCU bought, each link of the path has some tier (or none) that fits."""
    for lid in problem.paths[site]:
        need = problem.links.get(lid)
        if need is None:
            continue
        r_up, r_down = relief.get(lid, (0.0, 0.0))
        want_up = need.load_up_bps + need.used_up_bps - r_up
        want_down = need.load_down_bps + need.used_down_bps - r_down
        choices = [(need.capacity_up_bps, need.capacity_down_bps)]
        choices += [(t.up_bps, t.down_bps) for t in need.tiers]
        if not any(fits(want_up, u) and fits(want_down, d) for u, d in choices):
            return False
    return True


def _full_relief(problem: Problem) -> dict[str, tuple[float, float]]:
    relief: dict[str, tuple[float, float]] = {}
    for option in problem.mcus.values():
        for lid in option.above:
            u, d = relief.get(lid, (0.0, 0.0))
            relief[lid] = (u + option.reduction_up_bps, d + option.reduction_down_bps)
    return relief


class _Model:
    """Builds the shared part (purchase variables, capacity and load expressions) once."""

    def __init__(self, problem: Problem, sites: list[str], time_limit_s: float) -> None:
        self.problem = problem
        self.sites = sites
        self.time_limit_s = time_limit_s
        self.optimal = True
        relief = _full_relief(problem)
        # Only links that can fail need constraints: short now, or a tier might lower them.
        self.links = sorted(
            {
                lid
                for s in sites
                for lid in problem.paths[s]
                if lid in problem.links and not _always_fits(problem.links[lid])
            }
        )
        self.mcu_codes = sorted(
            code
            for code, option in problem.mcus.items()
            if any(lid in relief and lid in self.links for lid in option.above)
        )
        self.x: dict[Purchase, pulp.LpVariable] = {}
        self.y: dict[str, pulp.LpVariable] = {}

    def _base(self, name: str, sense: int) -> pulp.LpProblem:
        """A fresh model with the purchase variables (PuLP ties variables to one model)."""
        prob = pulp.LpProblem(name, sense)
        self.x = {}
        for lid in self.links:
            for tier in self.problem.links[lid].tiers:
                self.x[tier] = prob.add_variable(f"x{len(self.x)}", cat="Binary")
        self.y = {c: prob.add_variable(f"y{i}", cat="Binary") for i, c in enumerate(self.mcu_codes)}
        for lid in self.links:
            tiers = [self.x[t] for t in self.problem.links[lid].tiers]
            if len(tiers) > 1:
                prob += pulp.lpSum(tiers) <= 1
        return prob

    def _slack(self, lid: str) -> list[pulp.LpAffineExpression]:
        """capacity - (load + used - MCU relief) per direction, in Mb/s; >= 0 means room."""
        need = self.problem.links[lid]
        out = []
        for base, load, used, attr, red in (
            (need.capacity_up_bps, need.load_up_bps, need.used_up_bps, "up_bps", "up"),
            (need.capacity_down_bps, need.load_down_bps, need.used_down_bps, "down_bps", "down"),
        ):
            cap = base / _MB + pulp.lpSum(
                (getattr(t, attr) - base) / _MB * self.x[t] for t in need.tiers
            )
            relief = pulp.lpSum(
                getattr(self.problem.mcus[c], f"reduction_{red}_bps") / _MB * v
                for c, v in self.y.items()
                if lid in self.problem.mcus[c].above
            )
            out.append(cap - (load + used) / _MB + relief)
        return out

    def _cost(self, per_purchase: float = _PER_PURCHASE) -> pulp.LpAffineExpression:
        """Monthly cost, plus `per_purchase` each as a tie-break (0 for the budget itself)."""
        terms = [(p.monthly_cost + per_purchase) * v for p, v in self.x.items()]
        terms += [
            (self.problem.mcus[c].purchase.monthly_cost + per_purchase) * v
            for c, v in self.y.items()
        ]
        return pulp.lpSum(terms)

    def _solve(self, prob: pulp.LpProblem) -> list[Purchase]:
        status = prob.solve(_cbc(self.time_limit_s))
        if pulp.LpStatus[status] != "Optimal":
            raise RuntimeError(f"CBC found no plan ({pulp.LpStatus[status]})")
        # With a time limit CBC may stop at a feasible, unproven plan: say so, do not hide it.
        self.optimal = self.optimal and prob.sol_status == pulp.LpSolutionOptimal
        chosen = [p for p, v in self.x.items() if (v.value() or 0) > 0.5]
        chosen += [
            self.problem.mcus[c].purchase for c, v in self.y.items() if (v.value() or 0) > 0.5
        ]
        return chosen

    def cheapest(self) -> list[Purchase]:
        if not self.links:
            return []
        prob = self._base("cheapest", pulp.LpMinimize)
        prob += self._cost()
        for lid in self.links:
            for slack in self._slack(lid):
                prob += slack >= 0
        return self._solve(prob)

    def best_within(self, budget: float, weight: Weight) -> list[Purchase]:
        if not self.links:
            return []
        # Sites gated by the same links are one variable worth their total: at national
        # scale thousands of communes wait only for their district's uplink.
        groups: dict[tuple[str, ...], float] = {}
        for s in self.sites:
            key = tuple(sorted(lid for lid in self.problem.paths[s] if lid in self.links))
            if key:
                groups[key] = groups.get(key, 0.0) + self._value(s, weight)
        relieved = {lid for c in self.mcu_codes for lid in self.problem.mcus[c].above}

        def constrained(name: str, sense: int) -> tuple[pulp.LpProblem, pulp.LpAffineExpression]:
            prob = self._base(name, sense)
            ok: dict[str, pulp.LpAffineExpression | pulp.LpVariable] = {}
            for i, lid in enumerate(self.links):
                if lid in relieved:  # room depends on MCUs too: a big-M indicator
                    var = prob.add_variable(f"ok{i}", cat="Binary")
                    for slack in self._slack(lid):
                        prob += slack >= -self._big_m(lid) * (1 - var)
                    ok[lid] = var
                else:  # room depends on this link's tier alone: exact, no big-M
                    ok[lid] = self._fits_expr(lid)
            r = {key: prob.add_variable(f"r{i}", cat="Binary") for i, key in enumerate(groups)}
            prob += self._cost(per_purchase=0.0) <= budget + 1e-6
            for key, var in r.items():
                for lid in key:
                    prob += var <= ok[lid]
            return prob, pulp.lpSum(groups[key] * var for key, var in r.items())

        first, value = constrained("most_ready", pulp.LpMaximize)
        first += value
        self._solve(first)
        best = pulp.value(first.objective) or 0.0
        second, value = constrained("cheapest_most_ready", pulp.LpMinimize)
        second += self._cost()
        second += value >= best - 0.5  # values are whole sites or rooms
        return self._solve(second)

    def _fits_expr(self, lid: str) -> pulp.LpAffineExpression:
        """1 if the link has room with the chosen tier (or none), else 0 (at most one tier)."""
        need = self.problem.links[lid]
        want_up = need.load_up_bps + need.used_up_bps
        want_down = need.load_down_bps + need.used_down_bps
        base = fits(want_up, need.capacity_up_bps) and fits(want_down, need.capacity_down_bps)
        terms = []
        for t in need.tiers:
            good = fits(want_up, t.up_bps) and fits(want_down, t.down_bps)
            if good != base:
                terms.append((1 if good else -1) * self.x[t])
        return pulp.lpSum(terms) + (1 if base else 0)

    def _value(self, site: str, weight: Weight) -> float:
        return self.problem.weight(site) if weight is Weight.ROOMS else 1.0

    def _big_m(self, lid: str) -> float:
        """Largest shortfall any choice can leave: need with no relief minus smallest capacity."""
        need = self.problem.links[lid]
        caps_up = [need.capacity_up_bps, *(t.up_bps for t in need.tiers)]
        caps_down = [need.capacity_down_bps, *(t.down_bps for t in need.tiers)]
        short_up = need.load_up_bps + need.used_up_bps - min(caps_up)
        short_down = need.load_down_bps + need.used_down_bps - min(caps_down)
        return max(short_up, short_down, 0.0) / _MB + 1.0


def _cbc(time_limit_s: float) -> pulp.COIN_CMD:
    """The CBC binary bundled in PuLP's wheel, through the non-deprecated COIN_CMD.

    gapAbs < 1: objectives are counts (sites, rooms) or money in whole units, so a solution
    within 1 of the bound is optimal; without it CBC spends minutes proving the 0.001
    per-purchase tie-break on national budgets.
    """
    return pulp.COIN_CMD(
        path=pulp.PULP_CBC_CMD.pulp_cbc_path,
        msg=False,
        threads=1,
        gapAbs=0.99,
        timeLimit=time_limit_s,
    )


def _always_fits(need: LinkNeed) -> bool:
    caps = [(need.capacity_up_bps, need.capacity_down_bps)]
    caps += [(t.up_bps, t.down_bps) for t in need.tiers]
    want_up = need.load_up_bps + need.used_up_bps
    want_down = need.load_down_bps + need.used_down_bps
    return all(fits(want_up, u) and fits(want_down, d) for u, d in caps)
