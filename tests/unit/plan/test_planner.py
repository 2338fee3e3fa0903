from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from plan_cases import all_plans

from vcmon.errors import InventoryError
from vcmon.inventory import load_inventory
from vcmon.model import ConferenceTopology, Inventory, Measurements, PathMeasurement, Verdict
from vcmon.plan import (
    Costs,
    WhatIf,
    compare,
    parse_what_if,
    plan,
    ready_sites,
    select_sites,
    waves,
    what_if,
)
from vcmon.plan.problem import cost
from vcmon.readiness import assess
from vcmon.topology import Routes, build_graph, routes

ROOT = Path(__file__).resolve().parents[3]
MCU_COST = Costs(2_000_000.0, 30 * 86400.0)


def _load(name: str) -> tuple[Inventory, nx.Graph, Routes]:
    inv = load_inventory(ROOT / "inventory" / name)
    graph = build_graph(inv)
    return inv, graph, routes(graph, inv.conference.bridge)


@pytest.fixture(scope="module")
def example() -> tuple[Inventory, nx.Graph, Routes]:
    return _load("example.yaml")


@pytest.fixture(scope="module")
def province() -> tuple[Inventory, nx.Graph, Routes]:
    return _load("quang-ngai.yaml")


@pytest.mark.parametrize("topology", list(ConferenceTopology))
def test_ready_now_is_exactly_what_readiness_calls_ready(
    province: tuple[Inventory, nx.Graph, Routes], topology: ConferenceTopology
) -> None:
    inv, g, r = province
    p = plan(inv, g, r, topology=topology)
    verdicts = assess(inv, g, r, frozenset(r.paths), topology, frozenset(), profiles=[p.profile])
    ready = {c for c, v in verdicts.items() if v.verdicts[p.profile].verdict is Verdict.READY}
    assert p.ready_now == ready - {r.bridge}


@pytest.mark.parametrize("topology", list(ConferenceTopology))
def test_example_plan_is_the_cheapest_of_all_plans(
    example: tuple[Inventory, nx.Graph, Routes], topology: ConferenceTopology
) -> None:
    inv, g, r = example
    p = plan(inv, g, r, topology=topology, costs=MCU_COST)
    reach = p.target - p.unreachable
    best = min(cost(x) for x in all_plans(p.problem) if ready_sites(p.problem, x) >= reach)
    assert p.monthly_cost == pytest.approx(best)
    assert p.ready == reach


def test_sfu_on_example_needs_the_son_tay_uplink_and_son_dung_link(
    example: tuple[Inventory, nx.Graph, Routes],
) -> None:
    inv, g, r = example
    p = plan(inv, g, r, topology=ConferenceTopology.SFU)
    assert [x.key for x in p.purchases] == [
        "upgrade:530-21340:vpn-10M",
        "upgrade:dc-530:fibre-30M",
    ]
    assert p.monthly_cost == 1_500_000 + 3_500_000
    assert p.lead_time_s == 30 * 86400


def test_budget_plan_on_province_readies_no_fewer_than_any_single_affordable_purchase(
    province: tuple[Inventory, nx.Graph, Routes],
) -> None:
    inv, g, r = province
    full = plan(inv, g, r)
    half = plan(inv, g, r, budget=full.monthly_cost / 2)
    assert half.monthly_cost <= full.monthly_cost / 2
    assert len(full.ready_now) < len(half.ready) < len(full.ready)
    for option in full.problem.options():
        if option.monthly_cost <= full.monthly_cost / 2:
            alone = ready_sites(full.problem, [option]) & full.target
            assert len(half.ready) >= len(alone)


def test_plans_are_deterministic(province: tuple[Inventory, nx.Graph, Routes]) -> None:
    inv, g, r = province
    runs = {
        plan(inv, g, r, topology=ConferenceTopology.CASCADE, costs=MCU_COST).purchases
        for _ in range(3)
    }
    assert len(runs) == 1


def test_cascade_mcu_replaces_a_district_uplink_upgrade_when_cheaper(
    province: tuple[Inventory, nx.Graph, Routes],
) -> None:
    inv, g, r = province
    mcu = plan(inv, g, r, topology=ConferenceTopology.MCU)
    cascade = plan(inv, g, r, topology=ConferenceTopology.CASCADE, costs=MCU_COST)
    assert any(p.kind == "mcu" for p in cascade.purchases)
    assert cascade.monthly_cost < mcu.monthly_cost
    assert cascade.ready == mcu.ready


def test_waves_start_with_ready_now_and_never_put_a_commune_before_its_uplink(
    province: tuple[Inventory, nx.Graph, Routes],
) -> None:
    inv, g, r = province
    p = plan(inv, g, r, topology=ConferenceTopology.SFU)
    ws = waves(p)
    assert set(ws[0].sites) == p.ready_now and ws[0].purchases == ()
    assert sorted(s for w in ws for s in w.sites) == sorted(p.ready)
    assert sum(w.monthly_cost for w in ws) == pytest.approx(p.monthly_cost)
    bought_in = {x.target: w.number for w in ws for x in w.purchases}
    for w in ws:
        for site in w.sites:
            for link in p.problem.paths[site]:
                assert bought_in.get(link, 0) <= w.number
    # value for money: sites per cost does not increase from one paid wave to the next
    ratios = [len(w.sites) / w.monthly_cost for w in ws[1:]]
    assert ratios[0] == max(ratios)


def test_path_quality_failure_makes_a_target_unreachable_not_a_purchase(
    example: tuple[Inventory, nx.Graph, Routes],
) -> None:
    inv, g, r = example
    bad = PathMeasurement("21340", 1000.0, 0.3, 0.5, 0.08, 0.09)
    good = {s: PathMeasurement(s, 1000.0, 0.01, 0.02, 0.001, 0.0) for s in inv.sites}
    ms = Measurements(paths={**good, "21340": bad})
    p = plan(inv, g, r, topology=ConferenceTopology.SFU, measurements=ms, now=1010.0)
    assert p.unreachable == {"21340"}
    assert [x.key for x in p.purchases] == ["upgrade:dc-530:fibre-30M"]


def test_what_if_shows_sites_lost_to_sfu_and_the_loads_that_grew(
    example: tuple[Inventory, nx.Graph, Routes],
) -> None:
    inv, g, r = example
    base, sfu = what_if(inv, g, r, [WhatIf("mcu"), parse_what_if("name=sfu,topology=sfu", inv)])
    (diff,) = compare([base, sfu])
    assert diff.ready_lost == ("21334", "21340", "530")
    assert diff.cost_delta == 5_000_000
    grown = {c.link for c in diff.loads if c.after_down_bps > c.before_down_bps}
    assert {"dc-530", "dc-522"} <= grown


def test_what_if_capacity_change_readies_sites_behind_it(
    example: tuple[Inventory, nx.Graph, Routes],
) -> None:
    inv, g, r = example
    sc = [
        parse_what_if("name=sfu,topology=sfu", inv),
        parse_what_if("name=fat,topology=sfu,link:dc-530=100M,link:530-21340=10M", inv),
    ]
    (diff,) = compare(what_if(inv, g, r, sc))
    assert diff.ready_gained == ("21334", "21340", "530")
    assert diff.cost_delta == -5_000_000


def test_what_if_a_link_is_down_moves_its_sites_onto_the_backup_or_cuts_them_off(
    example: tuple[Inventory, nx.Graph, Routes],
) -> None:
    inv, g, r = example
    sc = [WhatIf("usual"), parse_what_if("name=cut,down=dc-530+dc-536", inv)]
    usual, cut = what_if(inv, g, r, sc)
    # 536 has no backup: it no longer joins; 530 and 21340 reach the bridge through 21334's
    # 2 Mb/s 4G backup, which cannot carry their three hd streams.
    assert usual.joining - cut.joining == {"536"}
    (diff,) = compare([usual, cut])
    assert {"530", "21340", "21334"} <= set(diff.ready_lost)
    moved = {c.link: c for c in diff.loads}
    assert moved["dc-530"].after_up_bps == 0
    assert moved["dc-21334-backup"].after_up_bps == pytest.approx(3 * 1.44e6)


def test_targets_select_a_district_and_its_communes(
    example: tuple[Inventory, nx.Graph, Routes],
) -> None:
    inv, _, _ = example
    assert select_sites(inv, "district:530") == {"530", "21340", "21334"}
    assert select_sites(inv, "all") == set(inv.sites) - {"51"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("district:999", "--target: district:999: no district '999'"),
        ("nowhere", "--target: nowhere: not a site code, all or district:CODE"),
        ("district:21340", "--target: district:21340: no district '21340'"),
    ],
)
def test_bad_target_names_the_option_and_the_item(
    example: tuple[Inventory, nx.Graph, Routes], spec: str, message: str
) -> None:
    with pytest.raises(InventoryError) as err:
        select_sites(example[0], spec)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("link:nope=10M", "--what-if: link:nope: no link 'nope'"),
        ("topology=mesh", "--what-if: topology: 'mesh' is not a valid ConferenceTopology"),
        (
            "colour=red",
            "--what-if: colour: unknown key (name, profile, topology, cascade, sites, link:ID, "
            "down)",
        ),
        ("down=dc-530+nope", "--what-if: down: no link 'nope'"),
        (
            "link:dc-530=10 MB",
            "--what-if: link:dc-530: '10 MB' is not a bit rate (examples: 10M, 1.5 Mbps, 512k)",
        ),
    ],
)
def test_bad_what_if_says_which_key_is_wrong(
    example: tuple[Inventory, nx.Graph, Routes], text: str, message: str
) -> None:
    with pytest.raises(InventoryError) as err:
        parse_what_if(text, example[0])
    assert str(err.value) == message


def test_site_without_a_route_is_an_unreachable_target(
    example: tuple[Inventory, nx.Graph, Routes],
) -> None:
    inv, g, _ = example
    cut = g.copy()
    cut.remove_edge("536", "51")  # Lý Sơn's only link: the island has no route left
    p = plan(inv, cut, routes(cut, "51"))
    assert p.unreachable == {"536"}
    assert p.target == set(inv.sites) - {"51"}
    assert p.ready == set(inv.sites) - {"51", "536"}
