"""Topology analyses on small literal graphs whose answers are computed by hand."""

from __future__ import annotations

import pytest

from vcmon.model import (
    Conference,
    ConferenceTopology,
    Direction,
    Inventory,
    Level,
    Link,
    LinkRole,
    Medium,
    Policy,
    Profile,
    Site,
    Terrain,
    Threshold,
)
from vcmon.topology import (
    Hop,
    LinkLoad,
    Scenario,
    bottlenecks,
    build_graph,
    conference_load,
    routes,
    spofs,
)

M = 1e6
UP, DOWN = Direction.UP, Direction.DOWN
POLICY = Policy(
    rtt_p95_s=Threshold(0.1, 0.3, "Teams"),
    jitter_s=Threshold(0.03, 0.05, "Teams"),
    loss_ratio=Threshold(0.01, 0.05, "Teams"),
    max_age_s=300.0,
)
# 1 Mb/s streams + 25% overhead: demand 1.25 Mb/s; tiles 0.4 Mb/s + 25% = 0.5 Mb/s.
PROFILE = Profile("p", 1 * M, 0.25, "test", POLICY, sfu_max_tiles=3, sfu_tile_bps=0.4 * M)


def inventory(
    sites: dict[str, tuple[str | None, int]],
    links: list[tuple[str, str, str, float, float]],
    backups: frozenset[str] = frozenset(),
) -> Inventory:
    """sites: code -> (parent, rooms); links: (id, site, to, up_bps, down_bps)."""
    site_objs = {
        code: Site(
            code,
            code,
            Level.PROVINCE if parent is None else Level.COMMUNE,
            parent,
            None,
            Terrain.PLAIN,
            rooms,
            None,
        )
        for code, (parent, rooms) in sites.items()
    }
    link_objs = {
        lid: Link(
            lid,
            a,
            b,
            Medium.FIBRE,
            up,
            down,
            None,
            LinkRole.BACKUP if lid in backups else LinkRole.PRIMARY,
        )
        for lid, a, b, up, down in links
    }
    return Inventory(
        sites=site_objs,
        links=link_objs,
        devices={},
        profiles={"p": PROFILE},
        modules={},
        auths={},
        conference=Conference("P", ConferenceTopology.MCU),
    )


def star() -> Inventory:
    """P (bridge) <- D1 <- A (1 room), B (2 rooms); P <- D2 <- C; D1 also joins."""
    return inventory(
        {
            "P": (None, 1),
            "D1": ("P", 1),
            "A": ("D1", 1),
            "B": ("D1", 2),
            "D2": ("P", 1),
            "C": ("D2", 1),
        },
        [
            ("P-D1", "D1", "P", 20 * M, 20 * M),
            ("D1-A", "A", "D1", 4 * M, 2 * M),
            ("D1-B", "B", "D1", 10 * M, 10 * M),
            ("P-D2", "D2", "P", 5 * M, 5 * M),
            ("D2-C", "C", "D2", 3 * M, 3 * M),
        ],
    )


def load_of(inv: Inventory, sites: str, topology: ConferenceTopology, cascade_at: str = ""):
    graph = build_graph(inv)
    r = routes(graph, "P")
    scenario = Scenario(frozenset(sites.split()), PROFILE, topology, frozenset(cascade_at.split()))
    return conference_load(graph, r, scenario)


def flows(loads, link: str) -> tuple[float, float, int, int]:
    ld = loads[link]
    return (ld.up_bps, ld.down_bps, ld.streams_up, ld.streams_down)


# --- graph and routes ---------------------------------------------------------------------


def test_routes_give_every_site_its_path_and_hops_to_the_bridge() -> None:
    r = routes(build_graph(star()), "P")
    assert r.paths["B"] == ("B", "D1", "P")
    assert r.hops["B"] == (Hop("D1-B", UP), Hop("P-D1", UP))
    assert r.paths["P"] == ("P",)
    assert r.hops["P"] == ()
    assert r.unreachable == frozenset()


def test_link_declared_from_the_bridge_side_is_crossed_downwards() -> None:
    inv = inventory({"P": (None, 1), "A": ("P", 1)}, [("P-A", "P", "A", 1 * M, 2 * M)])
    r = routes(build_graph(inv), "P")
    assert r.hops["A"] == (Hop("P-A", DOWN),)


def test_backup_link_carries_traffic_only_when_no_primary_path_exists() -> None:
    inv = inventory(
        {"P": (None, 1), "D": ("P", 1), "A": ("D", 1), "Z": ("P", 1)},
        [
            ("P-D", "D", "P", 1 * M, 1 * M),
            ("D-A", "A", "D", 1 * M, 1 * M),
            ("A-P", "A", "P", 1 * M, 1 * M),  # direct but backup: longer primary path wins
            ("Z-A", "Z", "A", 1 * M, 1 * M),  # Z reaches P only through A's links
        ],
        backups=frozenset({"A-P"}),
    )
    r = routes(build_graph(inv), "P")
    assert r.paths["A"] == ("A", "D", "P")
    assert r.paths["Z"] == ("Z", "A", "D", "P")

    without_primary = inventory(
        {"P": (None, 1), "A": ("P", 1)},
        [("A-P", "A", "P", 1 * M, 1 * M)],
        backups=frozenset({"A-P"}),
    )
    assert routes(build_graph(without_primary), "P").paths["A"] == ("A", "P")


def test_equal_cost_paths_take_the_first_listed_link_and_routes_list_parents_first() -> None:
    # A reaches P through D1 or D2 at equal cost; A-D1 is listed before A-D2.
    inv = inventory(
        {"P": (None, 1), "D2": ("P", 1), "D1": ("P", 1), "A": ("D1", 1)},
        [
            ("P-D2", "D2", "P", M, M),
            ("P-D1", "D1", "P", M, M),
            ("D1-A", "A", "D1", M, M),
            ("D2-A", "A", "D2", M, M),
        ],
    )
    r = routes(build_graph(inv), "P")
    assert r.paths["A"] == ("A", "D1", "P")
    order = list(r.paths)
    assert order[0] == "P"
    assert all(order.index(p[1]) < order.index(s) for s, p in r.paths.items() if len(p) > 1)
    assert list(r.hops) == order


def test_site_without_any_link_is_unreachable_and_has_no_path() -> None:
    inv = inventory({"P": (None, 1), "X": ("P", 1)}, [])
    r = routes(build_graph(inv), "P")
    assert r.unreachable == frozenset({"X"})
    assert "X" not in r.paths


def test_parallel_links_share_one_edge_preferring_the_primary() -> None:
    inv = inventory(
        {"P": (None, 1), "A": ("P", 1)},
        [("A-P-4g", "A", "P", 2 * M, 8 * M), ("A-P", "A", "P", 10 * M, 10 * M)],
        backups=frozenset({"A-P-4g"}),
    )
    edge = build_graph(inv).edges["A", "P"]
    assert edge["link"].id == "A-P"
    assert [lk.id for lk in edge["links"]] == ["A-P", "A-P-4g"]
    assert edge["weight"] == 1


def test_link_to_unknown_site_is_rejected_naming_the_link() -> None:
    inv = inventory({"P": (None, 1)}, [("P-X", "X", "P", M, M)])
    with pytest.raises(ValueError, match="link 'P-X': unknown site 'X'"):
        build_graph(inv)


def test_unknown_bridge_is_rejected() -> None:
    with pytest.raises(ValueError, match="bridge 'Q'"):
        routes(build_graph(star()), "Q")


# --- conference load ----------------------------------------------------------------------


def test_mcu_load_sums_one_stream_per_room_each_way_on_every_shared_link() -> None:
    loads = load_of(star(), "A B D1 C", ConferenceTopology.MCU)
    d = 1.25 * M
    # A: 1 room, B: 2 rooms, D1 itself: 1 room -> 4 streams each way on P-D1.
    assert flows(loads, "D1-A") == (d, d, 1, 1)
    assert flows(loads, "D1-B") == (2 * d, 2 * d, 2, 2)
    assert flows(loads, "P-D1") == (4 * d, 4 * d, 4, 4)
    assert flows(loads, "P-D2") == (d, d, 1, 1)
    assert flows(loads, "D2-C") == (d, d, 1, 1)


def test_non_joining_sites_add_nothing_but_their_links_are_listed() -> None:
    loads = load_of(star(), "A", ConferenceTopology.MCU)
    assert set(loads) == {"P-D1", "D1-A", "D1-B", "P-D2", "D2-C"}
    assert flows(loads, "D1-B") == (0.0, 0.0, 0, 0)
    assert flows(loads, "P-D2") == (0.0, 0.0, 0, 0)
    assert loads["D2-C"].capacity_up_bps == 3 * M


def test_load_on_a_link_declared_from_the_bridge_side_goes_to_its_down_direction() -> None:
    inv = inventory({"P": (None, 1), "A": ("P", 3)}, [("P-A", "P", "A", 10 * M, 2 * M)])
    loads = load_of(inv, "A", ConferenceTopology.MCU)
    ld = loads["P-A"]
    # A's upload toward P crosses P-A in its to->site sense: it loads DOWN.
    assert (ld.down_bps, ld.streams_down, ld.up_bps) == (3.75 * M, 3, 3.75 * M)
    assert ld.spare_bps(DOWN) == pytest.approx(-1.75 * M)
    assert ld.overloaded


def test_sfu_on_a_link_declared_from_the_bridge_side_puts_tiles_on_its_up_direction() -> None:
    inv = inventory(
        {"P": (None, 1), "A": ("P", 1), "B": ("P", 1)},
        [("P-A", "P", "A", 10 * M, 10 * M), ("B-P", "B", "P", 10 * M, 10 * M)],
    )
    loads = load_of(inv, "A B", ConferenceTopology.SFU)
    # N = 2: each receives 1 tile (0.5 M) and sends 1 stream (1.25 M).
    assert flows(loads, "P-A") == (0.5 * M, 1.25 * M, 1, 1)
    assert flows(loads, "B-P") == (1.25 * M, 0.5 * M, 1, 1)


def test_cascade_district_uplink_carries_one_stream_each_way_whatever_the_communes() -> None:
    loads = load_of(star(), "A B D1 C", ConferenceTopology.CASCADE, cascade_at="D1")
    d = 1.25 * M
    assert flows(loads, "D1-A") == (d, d, 1, 1)
    assert flows(loads, "D1-B") == (2 * d, 2 * d, 2, 2)
    assert flows(loads, "P-D1") == (d, d, 1, 1)
    # D2 has no cascade MCU: plain MCU behaviour.
    assert flows(loads, "P-D2") == (d, d, 1, 1)


def test_cascade_with_no_joining_site_behind_it_loads_nothing() -> None:
    loads = load_of(star(), "C", ConferenceTopology.CASCADE, cascade_at="D1")
    assert flows(loads, "P-D1") == (0.0, 0.0, 0, 0)


def test_cascade_at_is_ignored_for_plain_mcu() -> None:
    loads = load_of(star(), "A B", ConferenceTopology.MCU, cascade_at="D1")
    assert loads["P-D1"].streams_up == 3


def test_nested_cascades_each_send_one_stream_to_the_next() -> None:
    inv = inventory(
        {"P": (None, 1), "D": ("P", 1), "H": ("D", 1), "A": ("H", 2), "B": ("H", 1)},
        [
            ("P-D", "D", "P", 10 * M, 10 * M),
            ("D-H", "H", "D", 10 * M, 10 * M),
            ("H-A", "A", "H", 10 * M, 10 * M),
            ("H-B", "B", "H", 10 * M, 10 * M),
        ],
    )
    loads = load_of(inv, "A B", ConferenceTopology.CASCADE, cascade_at="D H")
    assert loads["H-A"].streams_up == 2
    assert loads["D-H"].streams_up == 1
    assert loads["P-D"].streams_up == 1


def test_sfu_downlink_is_layout_limited_tiles_per_endpoint() -> None:
    loads = load_of(star(), "A B C", ConferenceTopology.SFU)
    d, t = 1.25 * M, 0.5 * M
    # N = 1 + 2 + 1 = 4 endpoints; each receives min(N - 1, 3) = 3 tiles.
    assert flows(loads, "D1-A") == (d, 3 * t, 1, 3)
    assert flows(loads, "D1-B") == (2 * d, 6 * t, 2, 6)
    assert flows(loads, "P-D1") == (3 * d, 9 * t, 3, 9)
    assert flows(loads, "P-D2") == (d, 3 * t, 1, 3)


def test_sfu_with_few_endpoints_receives_n_minus_one_tiles() -> None:
    loads = load_of(star(), "A C", ConferenceTopology.SFU)
    assert flows(loads, "D1-A") == (1.25 * M, 0.5 * M, 1, 1)


def test_sfu_alone_receives_nothing() -> None:
    loads = load_of(star(), "A", ConferenceTopology.SFU)
    assert flows(loads, "D1-A") == (1.25 * M, 0.0, 1, 0)


def test_link_load_utilisation_and_spare_per_direction() -> None:
    ld = LinkLoad("l", 3 * M, 1 * M, 4 * M, 0.0, 3, 1)
    assert ld.utilisation(UP) == 0.75
    assert ld.spare_bps(UP) == 1 * M
    assert ld.utilisation(DOWN) == float("inf")
    assert ld.spare_bps(DOWN) == -1 * M
    assert ld.overloaded
    idle = LinkLoad("l", 0.0, 0.0, 0.0, 0.0, 0, 0)
    assert idle.utilisation(DOWN) == 0.0
    assert not idle.overloaded


# --- bottlenecks --------------------------------------------------------------------------


def test_bottleneck_is_the_least_spare_link_of_the_path_each_way() -> None:
    inv = star()
    graph = build_graph(inv)
    r = routes(graph, "P")
    loads = conference_load(
        graph, r, Scenario(frozenset({"A", "B", "C"}), PROFILE, ConferenceTopology.MCU)
    )
    result = bottlenecks(r, loads)
    up, down = result["A"]
    # A up: D1-A 4 - 1.25 = 2.75; P-D1 20 - 3.75 = 16.25.  A down: D1-A 2 - 1.25 = 0.75.
    assert (up.site, up.direction, up.link, up.spare_bps) == ("A", UP, "D1-A", 2.75 * M)
    assert (down.direction, down.link, down.spare_bps) == (DOWN, "D1-A", 0.75 * M)
    # C: D2-C 3 - 1.25 = 1.75 < P-D2 5 - 1.25 = 3.75.
    assert result["C"][0].link == "D2-C"
    assert result["C"][0].spare_bps == 1.75 * M
    # Non-joining sites still get a bottleneck: the conference load of the others counts.
    assert result["D1"][0].link == "P-D1"
    assert result["D1"][0].spare_bps == 16.25 * M
    assert "P" not in result


def test_bottleneck_tie_goes_to_the_link_closest_to_the_site() -> None:
    inv = inventory(
        {"P": (None, 1), "D": ("P", 1), "A": ("D", 1)},
        [("P-D", "D", "P", 5 * M, 5 * M), ("D-A", "A", "D", 5 * M, 5 * M)],
    )
    graph = build_graph(inv)
    r = routes(graph, "P")
    loads = conference_load(graph, r, Scenario(frozenset({"A"}), PROFILE, ConferenceTopology.MCU))
    assert bottlenecks(r, loads)["A"][0].link == "D-A"


def test_bottleneck_spare_is_negative_on_an_overloaded_link() -> None:
    inv = inventory({"P": (None, 1), "A": ("P", 3)}, [("A-P", "A", "P", 10 * M, 2 * M)])
    graph = build_graph(inv)
    r = routes(graph, "P")
    loads = conference_load(graph, r, Scenario(frozenset({"A"}), PROFILE, ConferenceTopology.MCU))
    up, down = bottlenecks(r, loads)["A"]
    # 3 rooms x 1.25 Mb/s = 3.75 Mb/s each way.
    assert up.spare_bps == 6.25 * M
    assert down.spare_bps == -1.75 * M


# --- single points of failure -------------------------------------------------------------


def spof_table(inv: Inventory) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(s.kind, s.id, s.cut_off) for s in spofs(build_graph(inv), "P")]


def test_spofs_list_hubs_and_links_most_cut_off_first_with_their_cut_off_sites() -> None:
    assert spof_table(star()) == [
        ("link", "P-D1", ("A", "B", "D1")),
        ("link", "P-D2", ("C", "D2")),
        ("site", "D1", ("A", "B")),
        ("link", "D1-A", ("A",)),
        ("link", "D1-B", ("B",)),
        ("link", "D2-C", ("C",)),
        ("site", "D2", ("C",)),
    ]


def test_backup_link_removes_the_spofs_it_bypasses() -> None:
    base = star()
    with_backup = inventory(
        {code: (s.parent, s.rooms) for code, s in base.sites.items()},
        [(lk.id, lk.site, lk.to, lk.up_bps, lk.down_bps) for lk in base.links.values()]
        + [("C-P-4g", "C", "P", 2 * M, 8 * M)],
        backups=frozenset({"C-P-4g"}),
    )
    table = spof_table(with_backup)
    assert ("link", "P-D2", ("C", "D2")) not in table
    assert ("site", "D2", ("C",)) not in table
    assert ("link", "D2-C", ("C",)) not in table
    # The P-D2-C ring has no SPOF left; D1's branch is untouched.
    assert ("link", "P-D1", ("A", "B", "D1")) in table
    assert len(table) == 4


def test_parallel_links_are_not_a_spof() -> None:
    inv = inventory(
        {"P": (None, 1), "A": ("P", 1)},
        [("A-P", "A", "P", M, M), ("A-P-2", "A", "P", M, M)],
    )
    assert spof_table(inv) == []


def test_spof_cut_off_excludes_sites_already_unreachable_and_the_bridge_is_not_listed() -> None:
    inv = inventory(
        {"P": (None, 1), "D": ("P", 1), "A": ("D", 1), "X": ("P", 1), "Y": ("P", 1)},
        [
            ("P-D", "D", "P", M, M),
            ("D-A", "A", "D", M, M),
            ("X-Y", "X", "Y", M, M),  # an island component with no path to P
        ],
    )
    assert spof_table(inv) == [
        ("link", "P-D", ("A", "D")),
        ("link", "D-A", ("A",)),
        ("site", "D", ("A",)),
    ]


def test_site_cut_off_counts_sites_behind_a_ring_below_it() -> None:
    # P - D, then D - A - B - D is a ring: losing A or B cuts nothing; losing D cuts both.
    inv = inventory(
        {"P": (None, 1), "D": ("P", 1), "A": ("D", 1), "B": ("D", 1)},
        [
            ("P-D", "D", "P", M, M),
            ("D-A", "A", "D", M, M),
            ("A-B", "B", "A", M, M),
            ("B-D", "B", "D", M, M),
        ],
    )
    assert spof_table(inv) == [("link", "P-D", ("A", "B", "D")), ("site", "D", ("A", "B"))]


@pytest.mark.parametrize("seed", range(40))
def test_spofs_agree_with_removing_each_site_and_link_by_brute_force(seed: int) -> None:
    import random

    import networkx as nx

    rnd = random.Random(seed)
    codes = ["P", *(f"S{i}" for i in range(1, rnd.randint(2, 30)))]
    links: list[tuple[str, str, str, float, float]] = []
    for i, code in enumerate(codes[1:], start=1):
        if rnd.random() < 0.9:  # a few sites stay cut off from the start
            links.append((f"L{len(links)}", code, codes[rnd.randrange(i)], M, M))
    for _ in range(rnd.randint(0, len(codes))):  # rings, cross links, parallel links
        a, b = rnd.sample(codes, 2)
        links.append((f"L{len(links)}", a, b, M, M))
    inv = inventory({c: (None if c == "P" else "P", 1) for c in codes}, links)
    graph = build_graph(inv)
    reach = nx.node_connected_component(graph, "P")

    expected = []
    for code in reach - {"P"}:
        without = graph.subgraph(set(graph) - {code})
        cut = reach - {code} - nx.node_connected_component(without, "P")
        if cut:
            expected.append(("site", code, tuple(sorted(cut))))
    for u, v, data in graph.edges(data=True):
        if u in reach and len(data["links"]) == 1:
            without = nx.restricted_view(graph, [], [(u, v)])
            cut = reach - nx.node_connected_component(without, "P")
            if cut:
                expected.append(("link", data["link"].id, tuple(sorted(cut))))
    assert sorted(spof_table(inv)) == sorted(expected)


@pytest.mark.parametrize("topo", list(ConferenceTopology))
def test_link_loads_rates_match_the_loads_built_from_them(topo: ConferenceTopology) -> None:
    inv = inventory(
        {"P": (None, 1), "D": ("P", 2), "A": ("D", 3), "B": ("D", 1)},
        [
            ("P-D", "D", "P", 4 * M, 4 * M),
            ("D-A", "A", "D", M, M),
            ("B-D", "D", "B", M, M),  # described from the upstream end: DOWN carries uploads
            ("B-P", "B", "P", M, M),
        ],
        backups=frozenset({"B-P"}),
    )
    graph = build_graph(inv)
    r = routes(graph, "P")
    loads = conference_load(graph, r, Scenario(frozenset("ABD"), PROFILE, topo, frozenset("D")))
    assert sorted(loads) == sorted(inv.links) and len(loads) == 4
    for link in loads:
        assert loads.bps(link) == (loads[link].up_bps, loads[link].down_bps)
    assert loads["B-P"].up_bps == loads["B-P"].down_bps == 0.0  # the backup carries nothing
    assert loads["B-D"].streams_down == 1  # B's upload crosses B-D against its UP sense
    with pytest.raises(KeyError):
        loads["nope"]
