"""The network as a graph, and pure analyses over it: routes, conference load, bottlenecks, SPOFs.

Nodes are site codes (attribute ``site``: the Site); edges carry the preferred ``link`` (a
Link), every parallel link in ``links`` (preferred first) and a Dijkstra ``weight`` (primary
1, backup 1000, so backups carry traffic only when no primary path exists). Everything is
computed once per call with linear-ish networkx algorithms (one Dijkstra from the bridge,
one dominator tree), so a national inventory of 11,000 sites stays well under a second.

Directions follow the Link: ``UP`` is from ``link.site`` to ``link.to``. Traffic from a site
toward the bridge that crosses a link in the ``site -> to`` sense loads its UP direction.

>>> inv = _example_inventory()  # doctest helper below: DC "P" <- district "D" <- communes "A", "B"
>>> g = build_graph(inv)
>>> r = routes(g, "P")
>>> r.paths["A"], r.hops["A"][0]
(('A', 'D', 'P'), Hop(link='D-A', direction=<Direction.UP: 'up'>))
>>> hd = inv.profiles["hd"]
>>> load = conference_load(g, r, Scenario(frozenset("AB"), hd, ConferenceTopology.MCU))
>>> load["P-D"].up_bps, load["P-D"].streams_down   # two 1.44 Mb/s streams each way
(2880000.0, 2)
>>> [(s.kind, s.id, s.cut_off) for s in spofs(g, "P")]
[('link', 'P-D', ('A', 'B', 'D')), ('site', 'D', ('A', 'B')), ('link', 'D-A', ('A',)), \
('link', 'D-B', ('B',))]
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import networkx as nx

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

__all__ = [
    "BACKUP_WEIGHT",
    "PRIMARY_WEIGHT",
    "Bottleneck",
    "Hop",
    "LinkLoad",
    "LinkLoads",
    "Routes",
    "Scenario",
    "Spof",
    "bottlenecks",
    "build_graph",
    "conference_load",
    "conference_loads",
    "opposite",
    "reroute",
    "routes",
    "spofs",
    "without_links",
]

PRIMARY_WEIGHT = 1
# Large enough that any all-primary path wins over a path with one backup link.
BACKUP_WEIGHT = 1000


def opposite(direction: Direction) -> Direction:
    """The other direction of a link.

    >>> opposite(Direction.UP)
    <Direction.DOWN: 'down'>
    """
    return Direction.DOWN if direction is Direction.UP else Direction.UP


def build_graph(inventory: Inventory) -> nx.Graph:
    """The undirected site graph of an inventory.

    Parallel links between the same two sites share one edge: ``link`` is the preferred one
    (primary first, then file order) and ``links`` lists them all, so a doubled link is not
    reported as a single point of failure.

    >>> g = build_graph(_example_inventory())
    >>> sorted(g.nodes), g.edges["D", "P"]["link"].id, g.edges["D", "P"]["weight"]
    (['A', 'B', 'D', 'P'], 'P-D', 1)
    """
    sites = inventory.sites
    # networkx's own storage (the dict-of-dicts its Graph docstring describes), filled
    # directly: add_nodes_from/add_edges_from cost 0.1 s per national graph in argument
    # checks and dict merges that these fresh, one-owner dicts do not need.
    adj: dict[str, dict[str, dict[str, Any]]] = {code: {} for code in sites}
    for link in inventory.links.values():
        a, b = link.site, link.to
        if a not in adj or b not in adj:
            unknown = a if a not in adj else b
            raise ValueError(f"link {link.id!r}: unknown site {unknown!r}")
        weight = _weight(link)
        data = adj[a].get(b)
        if data is None:
            adj[a][b] = adj[b][a] = {"link": link, "links": (link,), "weight": weight}
        elif weight < data["weight"]:
            data.update(link=link, weight=weight, links=(link, *data["links"]))
        else:
            data["links"] = (*data["links"], link)
    graph = nx.Graph()
    graph._node.update((code, {"site": site}) for code, site in sites.items())
    graph._adj.update(adj)
    return graph


def without_links(graph: nx.Graph, failed: Collection[str]) -> nx.Graph:
    """A copy of the graph once the `failed` links are down: what routing has left.

    An edge keeps its other parallel links (the preferred one chosen again, primary first);
    an edge with none left is gone. The failed links stay listed in the graph attribute
    ``failed``, so loads still report them (carrying nothing). The given graph is not changed.

    >>> g = without_links(build_graph(_example_inventory(backup=True)), {"P-D"})
    >>> r = routes(g, "P")
    >>> r.paths["D"], [h.link for h in r.hops["A"]], r.unreachable
    (('D', 'B', 'P'), ['D-A', 'D-B', 'B-P'], frozenset())
    >>> routes(without_links(g, {"B-P"}), "P").unreachable == {"A", "B", "D"}
    True
    """
    down = set(failed)
    out = graph.copy()
    gone: list[Link] = list(graph.graph.get("failed", ()))
    for u, v, links in _edges(graph):
        if down.isdisjoint(link.id for link in links):
            continue
        left = [link for link in links if link.id not in down]
        gone += [link for link in links if link.id in down]
        if not left:
            out.remove_edge(u, v)
            continue
        weights = [_weight(lk) for lk in left]
        best = weights.index(min(weights))
        out.edges[u, v].update(
            link=left[best],
            links=(left[best], *left[:best], *left[best + 1 :]),
            weight=weights[best],
        )
    out.graph["failed"] = tuple(gone)
    return out


@dataclass(frozen=True, slots=True)
class Hop:
    """One link of a site's path, and the direction site->bridge traffic crosses it."""

    link: str
    direction: Direction


@dataclass(frozen=True, slots=True)
class Routes:
    """Every routed site's path to the bridge, as one shortest-path tree.

    ``paths[s]`` runs from ``s`` to the bridge (the bridge's own path is ``(bridge,)``);
    ``hops[s]`` lists the links in the same order. Both mappings iterate bridge first and
    every site after its next hop, so one pass in reverse order can sum a subtree.
    Sites with no path are in ``unreachable``; ``cut_by`` names, for those that `reroute`
    cut off, the failed link nearest the bridge on their usual path.
    """

    bridge: str
    paths: Mapping[str, tuple[str, ...]]
    hops: Mapping[str, tuple[Hop, ...]]
    unreachable: frozenset[str] = frozenset()
    cut_by: Mapping[str, str] = field(default_factory=dict)


def routes(graph: nx.Graph, bridge: str) -> Routes:
    """Paths from every site to the bridge, from one Dijkstra run at the bridge.

    The paths form a tree (each path extends its next hop's path), which the cascade load and
    the readiness root-cause analysis rely on. On equal cost, the neighbour listed first in
    the inventory wins, so routes are deterministic.

    >>> r = routes(build_graph(_example_inventory()), "P")
    >>> r.paths["P"], r.hops["B"]
    (('P',), (Hop(link='D-B', direction=<Direction.UP: 'up'>), \
Hop(link='P-D', direction=<Direction.UP: 'up'>)))
    """
    if bridge not in graph:
        raise ValueError(f"bridge {bridge!r} is not a site of the graph")
    adj = dict(graph.adjacency())  # plain dicts: a view costs a Python call per lookup
    # Sites with one neighbour (most communes) are reached through it and carry no one
    # else's path: Dijkstra runs on the rest, and they are appended after it.
    leaves = _leaves(graph, bridge)
    core = nx.Graph()
    core.add_node(bridge)
    core.add_edges_from(
        (u, v, {"weight": adj[u][v]["weight"]})
        for u, v, _ in _edges(graph)
        if u not in leaves and v not in leaves
    )
    # Distances only (no per-node path lists): Dijkstra settles nodes in distance order, so a
    # node's next hop (a neighbour one edge weight closer) is always settled before it.
    dist = nx.single_source_dijkstra_path_length(core, bridge, weight="weight")
    up, down = Direction.UP, Direction.DOWN
    paths: dict[str, tuple[str, ...]] = {bridge: (bridge,)}
    hops: dict[str, tuple[Hop, ...]] = {bridge: ()}

    def reach(node: str, upstream: str, link: Link) -> None:
        paths[node] = (node, *paths[upstream])
        hops[node] = (Hop(link.id, up if link.site == node else down), *hops[upstream])

    for node, d in dist.items():
        if node == bridge:
            continue
        for upstream, data in adj[node].items():
            if upstream in paths and dist[upstream] + data["weight"] == d:
                break
        reach(node, upstream, data["link"])
    for node, upstream in leaves.items():
        if upstream in paths:
            reach(node, upstream, adj[node][upstream]["link"])
    unreachable = frozenset(n for n in graph if n not in paths)
    return Routes(bridge, paths, hops, unreachable)


def reroute(graph: nx.Graph, usual: Routes, failed: Collection[str]) -> tuple[nx.Graph, Routes]:
    """The graph and paths once the `failed` links are down (see `without_links`), from
    the `usual` paths: a site with no path left is `unreachable`, `cut_by` the failed link
    nearest the bridge on its usual path.

    >>> g = build_graph(_example_inventory(backup=True))
    >>> _, r = reroute(g, routes(g, "P"), {"D-B", "D-A"})
    >>> r.paths["B"], sorted(r.unreachable), r.cut_by
    (('B', 'P'), ['A'], {'A': 'D-A'})
    """
    down = frozenset(failed)
    after = without_links(graph, down)
    found = routes(after, usual.bridge)
    cut_by = {}
    for site in found.unreachable:
        on_path = [hop.link for hop in usual.hops.get(site, ()) if hop.link in down]
        if on_path:
            cut_by[site] = on_path[-1]
    return after, replace(found, cut_by=cut_by)


@dataclass(frozen=True, slots=True)
class Scenario:
    """Who joins a conference, with which profile, over which conference topology."""

    sites: frozenset[str]
    profile: Profile
    topology: ConferenceTopology
    cascade_at: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LinkLoad:
    """The conference load on one link, each direction, against its contracted capacity."""

    link: str
    up_bps: float
    down_bps: float
    capacity_up_bps: float
    capacity_down_bps: float
    streams_up: int
    streams_down: int

    def load_bps(self, direction: Direction) -> float:
        return self.up_bps if direction is Direction.UP else self.down_bps

    def capacity_bps(self, direction: Direction) -> float:
        return self.capacity_up_bps if direction is Direction.UP else self.capacity_down_bps

    def utilisation(self, direction: Direction) -> float:
        """Load over capacity (may exceed 1); inf when a zero-capacity direction has load.

        >>> LinkLoad("l", 5e6, 0.0, 10e6, 0.0, 4, 0).utilisation(Direction.UP)
        0.5
        """
        return _ratio(self.load_bps(direction), self.capacity_bps(direction))

    def spare_bps(self, direction: Direction) -> float:
        """Capacity minus conference load; negative when overloaded."""
        return self.capacity_bps(direction) - self.load_bps(direction)

    @property
    def overloaded(self) -> bool:
        return self.spare_bps(Direction.UP) < 0 or self.spare_bps(Direction.DOWN) < 0


def _ratio(load: float, capacity: float) -> float:
    """Load over capacity; inf when a zero capacity has load."""
    if capacity > 0:
        return load / capacity
    return math.inf if load > 0 else 0.0


def conference_load(graph: nx.Graph, routes: Routes, scenario: Scenario) -> LinkLoads:
    """The load a conference puts on every link of the graph (zero-load links included).

    Each joining site has ``max(rooms, 1)`` endpoints, each sending one stream of
    ``profile.demand_bps`` (stream + overhead). MCU: each endpoint also receives one stream
    along its whole path. Cascade: endpoints behind a ``cascade_at`` site stop there, and that
    cascade MCU sends and receives one stream toward the next cascade or the bridge. SFU: each
    endpoint receives ``min(N - 1, sfu_max_tiles)`` tiles of ``tile_demand_bps`` where N counts
    the endpoints of all routed joining sites. Unrouted or non-joining sites add nothing.

    >>> inv = _example_inventory()
    >>> g = build_graph(inv); r = routes(g, "P"); hd = inv.profiles["hd"]
    >>> sfu = conference_load(g, r, Scenario(frozenset("ABP"), hd, ConferenceTopology.SFU))
    >>> sfu["P-D"].streams_up, sfu["P-D"].streams_down, round(sfu["P-D"].down_bps)
    (2, 4, 2400000)
    """
    profile = scenario.profile
    return conference_loads(graph, routes, scenario, [profile])[profile.name]


def conference_loads(
    graph: nx.Graph, routes: Routes, scenario: Scenario, profiles: Sequence[Profile]
) -> dict[str, LinkLoads]:
    """`conference_load` of one scenario for each of `profiles` (`scenario.profile` unused).

    Who sends how many streams over which link does not depend on the profile, so it is
    counted once; each profile then only prices the streams.

    >>> inv = _example_inventory()
    >>> g = build_graph(inv); r = routes(g, "P"); hd = inv.profiles["hd"]
    >>> from dataclasses import replace
    >>> sd = replace(hd, name="sd", stream_bps=0.6e6)
    >>> scenario = Scenario(frozenset("AB"), hd, ConferenceTopology.MCU)
    >>> loads = conference_loads(g, r, scenario, [hd, sd])
    >>> loads["hd"]["P-D"].up_bps, loads["sd"]["P-D"].up_bps, loads["sd"]["P-D"].streams_up
    (2880000.0, 1440000.0, 2)
    """
    cascades = scenario.cascade_at if scenario.topology is ConferenceTopology.CASCADE else ()
    sites: dict[str, Site] = dict(graph.nodes(data="site"))
    # Endpoints in each site's subtree of the route tree, as seen from its first hop
    # (a cascade MCU collapses its subtree to one endpoint), summed leaves first.
    behind: dict[str, int] = {}
    for site in scenario.sites:
        if site in routes.paths:
            behind[site] = max(sites[site].rooms, 1)
    total = sum(behind.values())
    first_hop: dict[str, Hop] = {}
    # Routes list every site after its next hop, so the reversed order sums leaves first.
    for site, hops in reversed(list(routes.hops.items())):
        n = behind.get(site, 0)
        if n == 0 or not hops:
            continue
        if site in cascades:
            n = behind[site] = 1
        first_hop[site] = hops[0]
        upstream = routes.paths[site][1]
        behind[upstream] = behind.get(upstream, 0) + n
    # Per loaded link: streams sent toward the bridge, and whether that is its UP sense.
    sent = {
        hop.link: (behind[site], hop.direction is Direction.UP) for site, hop in first_hop.items()
    }
    links = {link.id: link for _, _, links in _edges(graph) for link in links}
    links.update((link.id, link) for link in graph.graph.get("failed", ()))

    result: dict[str, LinkLoads] = {}
    for profile in profiles:
        if scenario.topology is ConferenceTopology.SFU:
            tiles = max(0, min(total - 1, profile.sfu_max_tiles))
            down_each = profile.tile_demand_bps
        else:
            tiles, down_each = 1, profile.demand_bps
        result[profile.name] = LinkLoads(links, sent, profile.demand_bps, tiles, down_each)
    return result


class LinkLoads(Mapping[str, LinkLoad]):
    """One scenario's load on every link for one profile; each LinkLoad is built on first use.

    Readiness needs only the two rates of each site's first hop, for every profile (36,000
    times on a national inventory): `bps` gives them without building a LinkLoad.
    """

    __slots__ = ("_built", "_down_each", "_links", "_sent", "_tiles", "_up_each")

    def __init__(
        self,
        links: Mapping[str, Link],
        sent: Mapping[str, tuple[int, bool]],
        up_each: float,
        tiles: int,
        down_each: float,
    ) -> None:
        self._links = links
        self._sent = sent
        """Per loaded link: streams sent toward the bridge, and whether that is its UP sense."""
        self._up_each, self._tiles, self._down_each = up_each, tiles, down_each
        self._built: dict[str, LinkLoad] = {}

    def bps(self, link: str) -> tuple[float, float]:
        """(UP, DOWN) load of a link in bits/s."""
        n, toward_is_up = self._sent.get(link, (0, True))
        # Uploads cross the first hop toward the bridge; what the bridge sends, the other way.
        toward, away = n * self._up_each, n * self._tiles * self._down_each
        return (toward, away) if toward_is_up else (away, toward)

    def most_utilised(self, n: int) -> list[LinkLoad]:
        """The `n` links of highest peak utilisation, highest first (ties: iteration order).

        Ranks from the rates alone: only the `n` LinkLoads shown are built.
        """
        bps, links = self.bps, self._links

        def peak(link: str) -> float:
            spec = links[link]
            up, down = bps(link)
            return max(_ratio(float(up), spec.up_bps), _ratio(float(down), spec.down_bps))

        return [self[link] for link in heapq.nsmallest(n, links, key=lambda lk: -peak(lk))]

    def __getitem__(self, link: str) -> LinkLoad:
        built = self._built.get(link)
        if built is None:
            spec = self._links[link]
            n, toward_is_up = self._sent.get(link, (0, True))
            up_bps, down_bps = self.bps(link)
            up_n, down_n = (n, n * self._tiles) if toward_is_up else (n * self._tiles, n)
            built = LinkLoad(
                link, float(up_bps), float(down_bps), spec.up_bps, spec.down_bps, up_n, down_n
            )
            self._built[link] = built
        return built

    def __iter__(self) -> Iterator[str]:
        return iter(self._links)

    def __len__(self) -> int:
        return len(self._links)


@dataclass(frozen=True, slots=True)
class Bottleneck:
    """The tightest link of a site's path in one direction (UP: the site's upload)."""

    site: str
    direction: Direction
    link: str
    spare_bps: float


def bottlenecks(
    routes: Routes, loads: Mapping[str, LinkLoad]
) -> Mapping[str, tuple[Bottleneck, Bottleneck]]:
    """Per routed site (the bridge excepted: it has no links), its (up, down) bottleneck.

    Spare is capacity minus the conference load on that link and direction; on a tie the link
    closest to the site wins.

    >>> inv = _example_inventory()
    >>> g = build_graph(inv); r = routes(g, "P"); hd = inv.profiles["hd"]
    >>> load = conference_load(g, r, Scenario(frozenset("AB"), hd, ConferenceTopology.MCU))
    >>> up, down = bottlenecks(r, load)["A"]
    >>> up.link, up.spare_bps, down.link, down.spare_bps
    ('P-D', 1120000.0, 'D-A', 560000.0)
    """
    result: dict[str, tuple[Bottleneck, Bottleneck]] = {}
    # A site's bottleneck is its first hop or its next hop's bottleneck: one pass, bridge first.
    for site, hops in routes.hops.items():
        if not hops:
            continue
        ld, direction = loads[hops[0].link], hops[0].direction
        up = Bottleneck(site, Direction.UP, ld.link, ld.spare_bps(direction))
        down = Bottleneck(site, Direction.DOWN, ld.link, ld.spare_bps(opposite(direction)))
        upstream = result.get(routes.paths[site][1])
        if upstream is not None:
            if upstream[0].spare_bps < up.spare_bps:
                up = Bottleneck(site, Direction.UP, upstream[0].link, upstream[0].spare_bps)
            if upstream[1].spare_bps < down.spare_bps:
                down = Bottleneck(site, Direction.DOWN, upstream[1].link, upstream[1].spare_bps)
        result[site] = (up, down)
    return result


@dataclass(frozen=True, slots=True)
class Spof:
    """A site or link whose failure leaves `cut_off` (sorted codes) with no path to the bridge.

    A failed site is not listed in its own `cut_off`; a failed link cuts off its far end.
    """

    kind: Literal["site", "link"]
    id: str
    cut_off: tuple[str, ...]


def spofs(graph: nx.Graph, bridge: str) -> list[Spof]:
    """Single points of failure of the bridge's component, most sites cut off first.

    All from one dominator tree rooted at the bridge (networkx): a site dominates exactly the
    sites that lose every path when it fails, so the sites that dominate any are the SPOF
    sites. A link whose far end's dominator subtree has no other edge out of it is a bridge:
    it cuts off that subtree. Edges out of each subtree are counted in one pass, leaves first,
    as its degree sum minus twice the edges inside it. The bridge site itself is not listed:
    everything depends on it by definition. An edge of parallel links is not a SPOF.

    >>> g = build_graph(_example_inventory(backup=True))   # adds a backup link B-P
    >>> [(s.kind, s.id, s.cut_off) for s in spofs(g, "P")]   # link P-D is no longer one
    [('link', 'D-A', ('A',)), ('site', 'D', ('A',))]
    """
    if bridge not in graph:
        raise ValueError(f"bridge {bridge!r} is not a site of the graph")
    adj = dict(graph.adjacency())  # plain dicts: a view costs a Python call per lookup
    # A site with one neighbour (most communes) is dominated by it, lies on no other site's
    # path, and its one edge stays inside its neighbour's subtree: the dominator tree and the
    # edge counts of the rest are the same without them, and ten times cheaper. Leaves are
    # hung back under their neighbours afterwards.
    leaves = _leaves(graph, bridge)
    core_edges = [
        (u, v, links) for u, v, links in _edges(graph) if u not in leaves and v not in leaves
    ]
    core = nx.DiGraph()
    core.add_node(bridge)
    core.add_edges_from((e for u, v, _ in core_edges for e in ((u, v), (v, u))))
    idom = nx.immediate_dominators(core, bridge)
    idom.pop(bridge, None)  # networkx < 3.5 maps the start node to itself
    children: dict[str, list[str]] = defaultdict(list)
    for node, parent in idom.items():
        children[parent].append(node)
    order, depth = [bridge], {bridge: 0}
    for node in order:  # breadth first: parents before children
        for child in children.get(node, ()):
            depth[child] = depth[node] + 1
            order.append(child)

    # Edges leaving each dominator subtree: its degree sum minus twice the edges inside it (an
    # edge is inside the subtrees of its ends' lowest common ancestor and of that one's own).
    leaving = dict.fromkeys(order, 0)
    uplink: dict[str, tuple[Link, ...]] = {}  # the edge from a site to its dominator, if any
    for u, v, links in core_edges:
        if u not in depth:
            continue  # another component
        leaving[u] += 1
        leaving[v] += 1
        if idom.get(u) == v:
            uplink[u] = links
        elif idom.get(v) == u:
            uplink[v] = links
        a, b = u, v  # walk up to their lowest common dominator
        while a != b:
            if depth[a] < depth[b]:
                a, b = b, a
            a = idom[a]
        leaving[a] -= 2
    hung: dict[str, list[str]] = defaultdict(list)  # the leaves under each core site
    for leaf, neighbour in leaves.items():
        if neighbour in depth:
            hung[neighbour].append(leaf)
    below: dict[str, list[str]] = {}  # each core site's dominated sites
    for node in reversed(order):
        found: list[str] = list(hung.get(node, ()))
        for child in children.get(node, ()):
            leaving[node] += leaving[child]
            found.append(child)
            found.extend(below[child])
        below[node] = found

    result: list[Spof] = []
    for node in order[1:]:
        if below[node]:
            result.append(Spof("site", node, tuple(sorted(below[node]))))
        links = uplink.get(node, ())
        if leaving[node] == 1 and len(links) == 1:
            result.append(Spof("link", links[0].id, tuple(sorted([node, *below[node]]))))
    for neighbour, hanging in hung.items():
        for leaf in hanging:  # its one edge is its only way out
            links = adj[leaf][neighbour]["links"]
            if len(links) == 1:
                result.append(Spof("link", links[0].id, (leaf,)))
    result.sort(key=lambda s: (-len(s.cut_off), s.kind, s.id))
    return result


def _weight(link: Link) -> int:
    return BACKUP_WEIGHT if link.role is LinkRole.BACKUP else PRIMARY_WEIGHT


def _leaves(graph: nx.Graph, bridge: str) -> dict[str, str]:
    """Each site but the bridge with exactly one neighbour, and that neighbour."""
    return {
        node: next(iter(nbrs))
        for node, nbrs in graph.adjacency()
        if len(nbrs) == 1 and node != bridge
    }


def _edges(graph: nx.Graph) -> Iterator[tuple[str, str, tuple[Link, ...]]]:
    """(u, v, links) of every edge once, in `graph.edges()` order, from the plain adjacency
    dicts: an EdgeView costs a Python call per edge, and these loops see 12,000 of them."""
    seen: set[str] = set()
    for node, neighbours in graph.adjacency():
        for other, data in neighbours.items():
            if other not in seen:
                yield node, other, data["links"]
        seen.add(node)


# --- doctest fixture -----------------------------------------------------------------------


def _example_inventory(backup: bool = False) -> Inventory:
    """DC "P" <- district "D" (4 Mb/s) <- communes "A" (10/2 Mb/s), "B" (8/4 Mb/s); hd profile.

    Used by the examples in this module's docstrings; ``backup`` adds a 4G link B-P.
    """
    policy = Policy(
        rtt_p95_s=Threshold(0.1, 0.3, "Teams"),
        jitter_s=Threshold(0.03, 0.05, "Teams"),
        loss_ratio=Threshold(0.01, 0.05, "Teams"),
        max_age_s=300.0,
    )
    hd = Profile("hd", 1.2e6, 0.2, "Teams 720p", policy)

    def site(code: str, level: Level, parent: str | None) -> Site:
        return Site(code, code, level, parent, None, Terrain.PLAIN, 1, None)

    def link(lid: str, a: str, b: str, up: float, down: float, role: LinkRole) -> Link:
        return Link(lid, a, b, Medium.FIBRE, up, down, 0.002, role)

    sites = [
        site("P", Level.PROVINCE, None),
        site("D", Level.DISTRICT, "P"),
        site("A", Level.COMMUNE, "D"),
        site("B", Level.COMMUNE, "D"),
    ]
    links = [
        link("P-D", "D", "P", 4e6, 4e6, LinkRole.PRIMARY),
        link("D-A", "A", "D", 10e6, 2e6, LinkRole.PRIMARY),
        link("D-B", "B", "D", 8e6, 4e6, LinkRole.PRIMARY),
    ]
    if backup:
        links.append(link("B-P", "B", "P", 2e6, 8e6, LinkRole.BACKUP))
    return Inventory(
        sites={s.code: s for s in sites},
        links={lk.id: lk for lk in links},
        devices={},
        profiles={"hd": hd},
        modules={},
        auths={},
        conference=Conference("P", ConferenceTopology.MCU),
    )
