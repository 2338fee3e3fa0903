"""The bundled Quảng Ngãi sample: generated from the official data, loads, and tells its story."""

from __future__ import annotations

import doctest
import importlib.util
import ipaddress
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from vcmon import readiness, topology
from vcmon.inventory import load_inventory
from vcmon.model import (
    ConferenceTopology,
    Direction,
    Inventory,
    Level,
    LinkRole,
    Metric,
    RootCause,
    Terrain,
    Verdict,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "inventory" / "quang-ngai.yaml"
GENERATOR = REPO / "scripts" / "make_quang_ngai.py"
DATA = REPO.parent / "shared" / "data" / "quang-ngai-2022.yaml"
LAB = ipaddress.ip_network("198.18.0.0/15")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_quang_ngai", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@pytest.fixture(scope="module")
def official() -> dict[str, Any]:
    if not DATA.exists():
        pytest.skip(f"official data {DATA} is not beside the repo (../shared absent)")
    data: dict[str, Any] = yaml.load(DATA.read_text(encoding="utf-8"), Loader=_FAST_LOADER)
    return data


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_inventory(SAMPLE)


def test_committed_sample_is_exactly_the_generator_output(official: dict[str, Any]) -> None:
    assert SAMPLE.read_text(encoding="utf-8") == _generator().render(official), (
        "inventory/quang-ngai.yaml is stale: run python scripts/make_quang_ngai.py"
    )


def test_generator_doctests_pass() -> None:
    result = doctest.testmod(_generator())
    assert result.attempted > 0
    assert result.failed == 0


def test_sample_sites_are_the_official_codes_and_names(
    inv: Inventory, official: dict[str, Any]
) -> None:
    expected = {}
    for district in official["province"]["districts"]:
        expected[district["code"]] = (district["name"], Level.DISTRICT, "51")
        for commune in district["communes"]:
            expected[commune["code"]] = (commune["name"], Level.COMMUNE, district["code"])
    got = {c: (s.name, s.level, s.parent) for c, s in inv.sites.items() if c != "51"}
    assert got == expected


def test_interface_names_fit_linux_ifnames_and_name_links_of_the_device_site(
    inv: Inventory,
) -> None:
    for device in inv.devices.values():
        for iface in device.interfaces:
            assert len(iface.value) <= 15, (device.name, iface)
            link = inv.links[iface.link]
            assert device.site in (link.site, link.to), (device.name, iface)


def test_commune_coordinates_are_approximate_and_within_a_few_km_of_the_district(
    inv: Inventory,
) -> None:
    for site in inv.sites.values():
        if site.level is not Level.COMMUNE:
            continue
        assert site.parent is not None
        here, hub = site.coordinates, inv.sites[site.parent].coordinates
        assert here is not None and hub is not None
        assert here.approximate
        # 0.07 degrees is about 7.7 km at this latitude: "a few km" from the centroid.
        assert abs(here.lat - hub.lat) < 0.07, site.code
        assert abs(here.lon - hub.lon) < 0.07, site.code


# --- the loaded inventory and what analysis makes of it --------------------------------


@pytest.fixture(scope="module")
def hd(inv: Inventory) -> dict[str, readiness.ProfileVerdict]:
    """Planned hd verdicts with every site joining one mcu conference (the file's default)."""
    graph = topology.build_graph(inv)
    routes = topology.routes(graph, inv.conference.bridge)
    result = readiness.assess(
        inv, graph, routes, frozenset(inv.sites), ConferenceTopology.MCU, profiles=["hd", "sd"]
    )
    return {code: r.verdicts["hd"] for code, r in result.items()}


def _primary_uplink(inv: Inventory, code: str) -> str:
    (link,) = [
        lk.id for lk in inv.links.values() if lk.site == code and lk.role is LinkRole.PRIMARY
    ]
    return link


def test_sample_loads_with_one_province_13_districts_173_communes(inv: Inventory) -> None:
    levels = [site.level for site in inv.sites.values()]
    assert [levels.count(level) for level in Level] == [1, 13, 173]
    assert inv.conference.bridge == "51"
    assert inv.sites["51"].level is Level.PROVINCE
    assert inv.conference.topology is ConferenceTopology.MCU


def test_every_commune_hangs_off_a_district(inv: Inventory) -> None:
    for site in inv.sites.values():
        if site.level is Level.COMMUNE:
            assert site.parent is not None
            assert inv.sites[site.parent].level is Level.DISTRICT, site.code
            assert site.district == site.parent


def test_every_site_has_one_device_with_a_unique_lab_address(inv: Inventory) -> None:
    addresses = [ipaddress.ip_address(d.address) for d in inv.devices.values()]
    assert all(a in LAB for a in addresses)
    assert len(set(addresses)) == len(addresses)
    assert sorted(d.site for d in inv.devices.values()) == sorted(inv.sites)
    assert inv.devices["dc-core"].address == "198.18.0.1"


def test_each_site_has_one_primary_uplink_to_its_parent(inv: Inventory) -> None:
    # The hand arithmetic below relies on it: primary links form the parent tree, so the
    # sites behind a link are the site itself and its children; backups go to the bridge.
    for code, site in inv.sites.items():
        if site.parent is not None:
            assert inv.links[_primary_uplink(inv, code)].to == site.parent
    for link in inv.links.values():
        if link.role is LinkRole.BACKUP:
            assert link.to == "51" and inv.sites[link.site].level is Level.COMMUNE


def _by_hand(inv: Inventory, code: str) -> Verdict:
    """What a planner computes on paper for hd, mcu, everyone joining.

    A link carries one hd stream (1.2 Mb/s + 20% = 1.44 Mb/s) each way per conference room
    behind it: the site's own rooms plus its children's. It is ready if that fits the
    contracted rate, degraded if only the bare 1.2 Mb/s streams fit. The estimated RTT is
    twice the sum of the expected one-way latencies up to the bridge: ready <= 100 ms,
    degraded <= 300 ms (DOMAIN.md).
    """
    profile = inv.profiles["hd"]
    worst = Verdict.READY
    rtt, here = 0.0, code
    while inv.sites[here].parent is not None:
        link = inv.links[_primary_uplink(inv, here)]
        rooms = inv.sites[here].rooms + sum(c.rooms for c in inv.children(here))
        for direction in Direction:
            load, cap = rooms * profile.demand_bps, link.capacity(direction)
            if load > cap:
                bare_fits = rooms * profile.stream_bps <= cap
                found = Verdict.DEGRADED if bare_fits else Verdict.NOT_READY
                worst = max(worst, found, key=lambda v: v.rank)
        assert link.latency_s is not None
        rtt += 2 * link.latency_s
        here = link.to
    limit = profile.policy.rtt_p95_s
    if rtt > limit.ready:
        worst = max(
            worst,
            Verdict.DEGRADED if rtt <= limit.degraded else Verdict.NOT_READY,
            key=lambda v: v.rank,
        )
    return worst


def test_hd_verdict_of_every_site_matches_the_hand_arithmetic(
    inv: Inventory, hd: dict[str, readiness.ProfileVerdict]
) -> None:
    assert {c: v.verdict for c, v in hd.items()} == {c: _by_hand(inv, c) for c in inv.sites}


def test_hd_totals_tell_the_designed_story(
    inv: Inventory, hd: dict[str, readiness.ProfileVerdict]
) -> None:
    stream, demand = inv.profiles["hd"].stream_bps, inv.profiles["hd"].demand_bps
    ba_to = {c for c, s in inv.sites.items() if s.district == "535"}
    elsewhere = [c for c, s in inv.sites.items() if s.level is Level.COMMUNE and c not in ba_to]
    up = {c: inv.links[_primary_uplink(inv, c)].up_bps for c in elsewhere}
    starved = {c for c in elsewhere if up[c] < stream}  # not even the bare stream fits
    squeezed = {c for c in elsewhere if stream <= up[c] < demand}  # only the bare stream
    # Ba Tơ: the district office (2 rooms) and its 19 communes load its 20 Mb/s uplink with
    # 21 x 1.44 = 30.2 Mb/s (21 x 1.2 = 25.2 bare): all 20 of its sites are not ready.
    # Elsewhere, 10 communes have 1 Mb/s upload (7 mountain 4G, 3 plain on old ADSL VPN):
    # not ready; 5 mountain 4G communes have 1.2 Mb/s: degraded; and Lý Sơn, whose 60 ms
    # one way gives an estimated 120 ms RTT, is degraded. Everyone else (151) is ready.
    assert (len(ba_to), len(starved), len(squeezed)) == (20, 10, 5)
    expected = {
        Verdict.NOT_READY: len(ba_to) + len(starved),
        Verdict.DEGRADED: len(squeezed) + 1,
        Verdict.READY: len(inv.sites) - len(ba_to) - len(starved) - len(squeezed) - 1,
    }
    got = {v: sum(1 for pv in hd.values() if pv.verdict is v) for v in expected}
    assert got == expected == {Verdict.NOT_READY: 30, Verdict.DEGRADED: 6, Verdict.READY: 151}
    assert {c for c, pv in hd.items() if pv.verdict is Verdict.NOT_READY} == ba_to | starved


def test_most_plain_and_coastal_communes_are_ready_for_hd(
    inv: Inventory, hd: dict[str, readiness.ProfileVerdict]
) -> None:
    lowland = [
        c
        for c, s in inv.sites.items()
        if s.level is Level.COMMUNE and s.terrain is not Terrain.MOUNTAIN
    ]
    ready = [c for c in lowland if hd[c].verdict is Verdict.READY]
    # 110 lowland communes; only the 3 on 1 Mb/s ADSL VPN are not ready.
    assert (len(lowland), len(ready)) == (110, 107)


def test_ba_to_communes_blame_the_thin_district_uplink(
    hd: dict[str, readiness.ProfileVerdict], inv: Inventory
) -> None:
    communes = [c for c, s in inv.sites.items() if s.parent == "535"]
    assert len(communes) == 19
    for code in communes:
        assert (hd[code].verdict, hd[code].root_cause, hd[code].root) == (
            Verdict.NOT_READY,
            RootCause.UPSTREAM,
            "dc-535",
        ), code
    assert (hd["535"].root_cause, hd["535"].root) == (RootCause.LOCAL, "dc-535")


def test_a_cascaded_mcu_at_ba_to_leaves_only_the_local_thin_uplinks(inv: Inventory) -> None:
    graph = topology.build_graph(inv)
    routes = topology.routes(graph, "51")
    cascade = readiness.assess(
        inv,
        graph,
        routes,
        frozenset(inv.sites),
        ConferenceTopology.CASCADE,
        cascade_at=frozenset({"535"}),
        profiles=["hd"],
    )
    verdicts = {c: r.verdicts["hd"].verdict for c, r in cascade.items()}
    stream, demand = inv.profiles["hd"].stream_bps, inv.profiles["hd"].demand_bps
    communes = [c for c, s in inv.sites.items() if s.level is Level.COMMUNE]
    up = {c: inv.links[_primary_uplink(inv, c)].up_bps for c in communes}
    # dc-535 now carries one stream each way (the cascade MCU), so what is left is local:
    # every commune whose own upload is below the bare 1.2 Mb/s stream (12, two of them in
    # Ba Tơ) is not ready; those at 1.2 Mb/s (6) and Lý Sơn (latency) are degraded.
    starved = {c for c in communes if up[c] < stream}
    squeezed = {c for c in communes if stream <= up[c] < demand}
    assert {c for c, v in verdicts.items() if v is Verdict.NOT_READY} == starved
    assert {c for c, v in verdicts.items() if v is Verdict.DEGRADED} == squeezed | {"536"}
    assert (len(starved), len(squeezed)) == (12, 6)


def test_ly_son_is_degraded_by_estimated_latency_alone(
    hd: dict[str, readiness.ProfileVerdict],
) -> None:
    (reason,) = hd["536"].reasons
    assert (hd["536"].verdict, reason.metric) == (Verdict.DEGRADED, Metric.RTT_P95)
    assert reason.value == pytest.approx(0.120)  # 2 x 60 ms microwave + backhaul


def test_district_hubs_are_spofs_unless_every_commune_has_a_backup(inv: Inventory) -> None:
    graph = topology.build_graph(inv)
    found = {(s.kind, s.id): set(s.cut_off) for s in topology.spofs(graph, "51")}
    backed = {lk.site for lk in inv.links.values() if lk.role is LinkRole.BACKUP}
    for district in (c for c, s in inv.sites.items() if s.level is Level.DISTRICT):
        communes = {c.code for c in inv.children(district)}
        unbacked = communes - backed
        # A hub cuts off exactly its communes without a 4G backup to the province.
        assert found.get(("site", district), set()) == unbacked, district
        # Its uplink cuts off the whole district only if no commune has a way around.
        uplink = found.get(("link", f"dc-{district}"))
        assert uplink == ({district} | communes if not communes & backed else None), district
    # Minh Long's pilot (all 5 communes backed up) makes it the only hub that is no SPOF.
    hubs = {i for kind, i in found if kind == "site"}
    assert sorted(hubs) == sorted(
        set(inv.sites)
        - {"51", "531", "536"}
        - {c for c, s in inv.sites.items() if s.level is Level.COMMUNE}
    )
    assert max(found.items(), key=lambda kv: len(kv[1]))[0] == ("link", "dc-524")


def test_national_benchmark_generator_writes_a_loadable_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bench/national.py must keep up with the inventory format; 2 provinces keep it fast.
    monkeypatch.setenv("VCMON_CACHE_DIR", str(tmp_path / "cache"))  # not the user's cache
    spec = importlib.util.spec_from_file_location("national", REPO / "bench" / "national.py")
    assert spec is not None and spec.loader is not None
    national = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = national
    spec.loader.exec_module(national)
    counts = national.generate(tmp_path / "national", provinces=2)
    loaded = load_inventory(tmp_path / "national")
    levels = [s.level for s in loaded.sites.values()]
    # The national bridge is a province-level site of its own, beside the 2 provinces.
    assert [levels.count(level) for level in Level] == [
        1 + counts["provinces"],
        counts["districts"],
        counts["communes"],
    ]
    assert len(loaded.devices) == len(loaded.sites) == counts["devices"]
    assert loaded.conference.bridge == "00"
