"""The lab plan (pure): addresses, names, routes and shaping follow the inventory."""

from __future__ import annotations

import dataclasses
import ipaddress
import sys
from pathlib import Path

import pytest

from vcmon.errors import InventoryError, LabError
from vcmon.lab.plan import (
    LAB_NET,
    NOC_ADDR,
    LabPlan,
    Route,
    build_plan,
    lab_paths,
    site_delays,
    tree_routes,
)
from vcmon.lab.scenario import Scenario, parse_scenario
from vcmon.model import Device

sys.path.insert(0, str(Path(__file__).parents[2] / "integration" / "lab"))
from lab_inventory import small_inventory


def test_every_address_of_the_plan_is_inside_198_18_0_0_15() -> None:
    plan = build_plan(small_inventory(), Scenario(), "vt-")
    addrs = [a for n in plan.namespaces for a in n.addresses]
    addrs += [e.address for v in plan.veths for e in (v.child, v.parent)]
    addrs += [r.via for n in plan.namespaces for r in n.routes]
    assert addrs and all(ipaddress.ip_address(a) in LAB_NET for a in addrs)


def test_no_namespace_has_a_default_route() -> None:
    plan = build_plan(small_inventory(), Scenario(), "vt-")
    assert all(r.dest not in ("0.0.0.0/0", "default") for n in plan.namespaces for r in n.routes)


def test_veth_ends_carry_the_inventory_ifnames_and_contracted_rates() -> None:
    plan = build_plan(small_inventory(), Scenario(), "vt-")
    v = next(v for v in plan.veths if v.link == "530-21334")
    assert (v.parent.ns, v.parent.ifname, v.parent.rate_bps) == ("vt-530", "veth-21334", 6e6)
    assert (v.child.ns, v.child.ifname, v.child.rate_bps) == ("vt-21334", "to-530", 1.5e6)


def test_backup_links_exist_but_are_not_routed() -> None:
    plan = build_plan(small_inventory(), Scenario(), "vt-")
    backup = next(v for v in plan.veths if v.link == "dc-21334-backup")
    assert not backup.routed
    province_routes = plan.ns("vt-51").routes
    to_21334 = [r for r in province_routes if r.dest == "198.18.2.11/32"]
    assert [r.via for r in to_21334] == [
        next(v for v in plan.veths if v.link == "dc-530").child.address
    ]


def reroute(plan: LabPlan, failed: set[str]) -> dict[str, tuple[Route, ...]]:
    inv = small_inventory()
    own = {code: plan.ns(plan.site_ns(code)).addresses for code in inv.sites}
    return tree_routes(lab_paths(inv, failed), plan.prefix, {v.link: v for v in plan.veths}, own)


def test_a_failed_primary_moves_its_site_onto_the_backup_at_both_ends() -> None:
    plan = build_plan(small_inventory(), Scenario(), "vt-")
    veth = {v.link: v for v in plan.veths}
    backup = veth["dc-21334-backup"]
    routes = reroute(plan, {"530-21334"})
    assert routes["vt-21334"] == (Route(str(LAB_NET), backup.parent.address, "198.18.2.11"),)
    to_21334 = [r.via for r in routes["vt-51"] if r.dest == "198.18.2.11/32"]
    assert to_21334 == [backup.child.address]
    assert all(r.dest != "198.18.2.11/32" for r in routes["vt-530"])


def test_a_failed_district_uplink_reaches_the_district_through_a_communes_backup() -> None:
    plan = build_plan(small_inventory(), Scenario(), "vt-")
    veth = {v.link: v for v in plan.veths}
    routes = reroute(plan, {"dc-530"})
    # 530 -> 21334 (primary, upstream sense reversed) -> 51 (backup): 21334 forwards for 530
    up_530 = [r.via for r in routes["vt-530"] if r.dest == str(LAB_NET)]
    assert up_530 == [veth["530-21334"].child.address]
    behind_21334 = {r.dest for r in routes["vt-21334"] if r.via == veth["530-21334"].parent.address}
    assert behind_21334 == {"198.18.2.1/32", "198.18.2.10/32"}
    assert plan.ns("vt-21334").router
    via_backup = {r.dest for r in routes["vt-51"] if r.via == veth["dc-21334-backup"].child.address}
    assert via_backup == {"198.18.2.1/32", "198.18.2.10/32", "198.18.2.11/32"}


def test_a_site_with_no_path_left_gets_no_routes() -> None:
    plan = build_plan(small_inventory(), Scenario(), "vt-")
    routes = reroute(plan, {"dc-536"})
    assert "vt-536" not in routes
    assert all(not r.dest.startswith("198.18.3.") for r in routes["vt-51"])


def test_replies_leave_with_the_site_device_address_so_traceroute_names_devices() -> None:
    plan = build_plan(small_inventory(), Scenario(), "vt-")
    up = [r for r in plan.ns("vt-522").routes if r.dest == str(LAB_NET)]
    assert [r.src for r in up] == ["198.18.1.1"]
    assert [r.src for r in plan.ns("vt-noc").routes] == [NOC_ADDR]


def test_default_delay_is_twice_the_inventory_path_latency() -> None:
    plan = build_plan(small_inventory(), Scenario(), "vt-")
    # 21334: 35 ms (530-21334) + 4 ms (dc-530), one way
    assert plan.targets["vt-21334"][0].delay_s == pytest.approx(2 * 0.039)


def test_a_link_delay_adds_to_every_site_behind_it_on_its_current_path() -> None:
    sc = parse_scenario("version: 1\nlinks: {dc-530: {delay: 10ms}}\n")
    plan = build_plan(small_inventory(), sc, "vt-")
    delays = {code: plan.targets[f"vt-{code}"][0].delay_s for code in ("530", "21334", "522")}
    assert delays == pytest.approx({"530": 0.008 + 0.010, "21334": 0.078 + 0.010, "522": 0.002})
    # once 530-21334 fails, 21334 answers over its backup: 40 ms one way, dc-530 no longer crossed
    moved = site_delays(small_inventory(), sc, lab_paths(small_inventory(), {"530-21334"}))
    assert moved["21334"] == pytest.approx(0.080)
    assert moved["530"] == pytest.approx(0.018)


def test_a_bad_link_delay_names_its_line() -> None:
    with pytest.raises(InventoryError, match=r"s\.yaml:3: links\.dc-530\.delay: 'slow'"):
        parse_scenario("version: 1\nlinks:\n  dc-530: {delay: slow}\n", "s.yaml")


def test_scenario_overrides_delay_loss_and_rate() -> None:
    sc = parse_scenario(
        "version: 1\nsites: {'21010': {delay: 7ms, jitter: 1ms, loss: 2/10}}\n"
        "links: {522-21010: {rate: {up: 3M}, background: 1M}}\n"
    )
    plan = build_plan(small_inventory(), sc, "vt-")
    t = plan.targets["vt-21010"][0]
    assert (t.delay_s, t.jitter_s, t.loss.drop, t.loss.every) == (0.007, 0.001, 2, 10)
    v = next(v for v in plan.veths if v.link == "522-21010")
    assert (v.child.rate_bps, v.parent.rate_bps) == (3e6, 20e6)
    assert (v.background_up_bps, v.background_down_bps) == (1e6, 1e6)


def test_scenario_naming_an_unknown_site_is_reported_with_its_line() -> None:
    sc = parse_scenario("version: 1\nsites:\n  '99999': {delay: 1ms}\n", "s.yaml")
    with pytest.raises(LabError, match=r"^s\.yaml:3: sites\.99999: unknown site '99999'$"):
        build_plan(small_inventory(), sc, "vt-")


def test_device_outside_the_lab_range_is_refused() -> None:
    inv = small_inventory()
    devices = dict(inv.devices)
    devices["x"] = Device("x", "536", "10.0.0.1", (), None)
    bad = type(inv)(inv.sites, inv.links, devices, {}, {}, {}, inv.conference)
    with pytest.raises(LabError, match=r"10\.0\.0\.1 is outside 198\.18\.0\.0/15"):
        build_plan(bad, Scenario(), "vt-")


def test_flat_mode_adds_thousands_of_targets_in_one_namespace() -> None:
    sc = parse_scenario("version: 1\nflat: {targets: 2500, delay: 2ms}\n")
    plan = build_plan(small_inventory(), sc, "vt-")
    targets = plan.targets["vt-flat"]
    assert len(targets) == len({t.address for t in targets}) == 2500
    assert all(t.delay_s == 0.002 for t in targets)


def test_background_load_at_or_above_the_link_rate_is_refused() -> None:
    sc = parse_scenario("version: 1\nlinks:\n  522-21211: {background: {up: 10M}}\n", "s.yaml")
    with pytest.raises(LabError, match=r"^s\.yaml:3: links\.522-21211\.background: up "):
        build_plan(small_inventory(), sc, "vt-")


def test_a_site_code_that_would_take_the_noc_namespace_is_refused() -> None:
    inv = small_inventory()
    sites = dict(inv.sites)
    sites["noc"] = dataclasses.replace(sites["536"], code="noc")
    bad = dataclasses.replace(inv, sites=sites)
    with pytest.raises(LabError, match=r"site code 'noc' cannot name a lab namespace"):
        build_plan(bad, Scenario(), "vt-")


@pytest.mark.parametrize("name", ["example.yaml", "quang-ngai.yaml"])
def test_the_repo_inventories_plan_every_mapped_ifname_at_its_device(name: str) -> None:
    from vcmon.inventory import load_inventory

    inv = load_inventory(Path(__file__).parents[3] / "inventory" / name)
    plan = build_plan(inv, Scenario(), "vt-")
    assert len(plan.namespaces) == len(inv.sites) + 2  # + NOC and bridge
    ends = {(e.ns, e.ifname) for v in plan.veths for e in (v.child, v.parent)}
    mapped = {
        (f"vt-{d.site}", i.value)
        for d in inv.devices.values()
        for i in d.interfaces
        if i.match.value == "ifName"
    }
    assert mapped and mapped <= ends
    targets = {t.address for ts in plan.targets.values() for t in ts}
    assert {d.address for d in inv.devices.values()} <= targets
