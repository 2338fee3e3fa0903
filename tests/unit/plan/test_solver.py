from __future__ import annotations

import pytest
from plan_cases import (
    D,
    brute_best,
    brute_cheapest,
    greedy,
    random_problem,
    tier,
)

from vcmon.plan.problem import LinkNeed, Problem, Weight, cost, ready_sites, valid
from vcmon.plan.solver import solve


@pytest.mark.parametrize("seed", range(12))
def test_cheapest_plan_costs_what_brute_force_finds(seed: int) -> None:
    problem = random_problem(seed)
    target = frozenset(problem.paths)
    solution = solve(problem, target)
    assert valid(problem, solution.purchases)
    assert cost(solution.purchases) == pytest.approx(brute_cheapest(problem, target))
    assert solution.ready == target - solution.unreachable


@pytest.mark.parametrize("seed", range(12))
def test_budget_plan_readies_as_many_sites_as_brute_force_and_no_dearer(seed: int) -> None:
    problem = random_problem(seed)
    target = frozenset(problem.paths)
    budget = float(seed % 7 + 2)
    solution = solve(problem, target, budget=budget)
    assert cost(solution.purchases) <= budget
    assert (len(solution.ready), cost(solution.purchases)) == pytest.approx(
        brute_best(problem, target, budget)
    )


def _knapsack() -> Problem:
    # Three district uplinks, each short for the sites behind it.
    links = {}
    paths = {}
    for name, sites, price in (("a", 5, 6.0), ("b", 4, 5.0), ("c", 4, 5.0)):
        lid = f"up-{name}"
        links[lid] = LinkNeed(lid, D, D, sites * D, sites * D, tiers=(tier(lid, "x", 100, price),))
        for i in range(sites):
            paths[f"{name}{i}"] = (lid,)
    return Problem(links, paths)


def test_budget_plan_beats_greedy_when_best_ratio_first_wastes_budget() -> None:
    problem = _knapsack()
    target = frozenset(problem.paths)
    greedy_ready = ready_sites(problem, greedy(problem, target, 10.0))
    solution = solve(problem, target, budget=10.0)
    assert len(greedy_ready) == 5
    assert len(solution.ready) == 8
    assert sorted(p.target for p in solution.purchases) == ["up-b", "up-c"]


def test_budget_plan_buys_uplink_and_commune_link_that_only_help_together() -> None:
    # A commune behind a thin district uplink: neither upgrade alone readies anything.
    links = {
        "up": LinkNeed("up", D, D, 2 * D, 2 * D, tiers=(tier("up", "20M", 20, 4.0),)),
        "c": LinkNeed("c", 0.5 * D, 0.5 * D, D, D, tiers=(tier("c", "10M", 10, 3.0),)),
    }
    problem = Problem(links, {"com": ("c", "up")})
    target = frozenset(problem.paths)
    assert greedy(problem, target, 7.0) == ()
    assert solve(problem, target, budget=7.0).ready == target
    assert solve(problem, target, budget=6.0).ready == frozenset()


def test_rooms_weight_prefers_the_site_with_more_rooms() -> None:
    links = {
        "a": LinkNeed("a", D, D, 2 * D, 2 * D, tiers=(tier("a", "x", 10, 5.0),)),
        "b": LinkNeed("b", D, D, 2 * D, 2 * D, tiers=(tier("b", "x", 10, 5.0),)),
    }
    problem = Problem(links, {"a": ("a",), "b": ("b",)}, weights={"a": 1, "b": 4})
    target = frozenset(problem.paths)
    assert solve(problem, target, budget=5.0, weight=Weight.ROOMS).ready == {"b"}


def test_plans_are_identical_whatever_the_input_order() -> None:
    problem = random_problem(3)
    shuffled = Problem(
        dict(reversed(problem.links.items())),
        dict(reversed(problem.paths.items())),
        problem.weights,
        problem.blocked,
        dict(reversed(problem.mcus.items())),
    )
    target = frozenset(problem.paths)
    runs = {solve(p, target).purchases for p in (problem, shuffled, problem)}
    assert len(runs) == 1


def test_site_with_failing_path_quality_is_unreachable_and_costs_nothing() -> None:
    links = {"a": LinkNeed("a", D, D, 2 * D, 2 * D, tiers=(tier("a", "x", 10, 5.0),))}
    problem = Problem(links, {"s": ("a",)}, blocked=frozenset({"s"}))
    solution = solve(problem, {"s"})
    assert solution.unreachable == {"s"}
    assert solution.purchases == ()


def test_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        solve(_knapsack(), {"a0"}, budget=-1.0)
