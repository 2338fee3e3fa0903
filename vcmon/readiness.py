"""Readiness verdicts: can a site join a conference with a given profile, and if not, why.

Pure: (inventory, graph, routes, scenario, measurements) -> one verdict per site and profile,
each with the reasons that made it (metric, value, threshold, the threshold's source and the
site or link concerned) and a root cause. Thresholds come from each profile's Policy:

* lower-is-better metrics (RTT p95, jitter, loss): ``ready`` at or below the ready limit,
  ``degraded`` at or below the degraded limit, else ``not_ready``;
* capacity, per link of the path and direction: the scenario's conference load must fit the
  spare capacity (contracted, minus fresh measured non-conference use). It fits: ready. It
  fits only without the profile's overhead headroom (load / (1 + overhead) <= spare): degraded,
  since streams then run at their nominal rate with no room for headers and bursts. Else
  not_ready;
* measured basis: no fresh path measurement gives ``unknown`` (never ready); planned basis
  (no measurements): RTT is estimated as twice the expected one-way latencies of the path.

Only failing checks become reasons; a verdict is the worst of its reasons, ready if none.

>>> from vcmon.topology import _example_inventory, build_graph, routes
>>> inv = _example_inventory()
>>> g = build_graph(inv); r = routes(g, "P")
>>> result = assess(inv, g, r, frozenset("ABD"), ConferenceTopology.MCU)  # 3 x 1.44 Mb/s
>>> v = result["A"].verdicts["hd"]
>>> v.verdict.value, v.root_cause.value, v.root
('degraded', 'upstream', 'P-D')
>>> [r.text() for r in v.reasons]
['spare_up 4 Mb/s < 4.32 Mb/s demand on P-D (fits only without overhead; Teams 720p)', \
'spare_down 4 Mb/s < 4.32 Mb/s demand on P-D (fits only without overhead; Teams 720p)']
>>> result["D"].verdicts["hd"].root_cause.value
'local'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from vcmon.model import (
    ConferenceTopology,
    Direction,
    Inventory,
    Link,
    LinkMeasurement,
    Measurements,
    Metric,
    Policy,
    Profile,
    RootCause,
    Threshold,
    Verdict,
)
from vcmon.topology import Hop, LinkLoads, Routes, Scenario, conference_loads, opposite
from vcmon.units import format_duration, format_rate

if TYPE_CHECKING:  # only for the annotation: the graph is built and walked by vcmon.topology
    import networkx as nx

__all__ = ["Basis", "ProfileVerdict", "Reason", "SiteReadiness", "assess"]

FRESHNESS_SOURCE = "vcmon policy: no fresh measurement means unknown, never ready (DOMAIN.md)"
ROUTING_SOURCE = "inventory links (no primary or backup path)"
LINK_DOWN_SOURCE = "down (ifOperStatus), and no backup path"
ESTIMATED = "estimated from expected link latencies"


class Basis(StrEnum):
    PLANNED = "planned"
    """Contracted capacities and expected latencies only."""
    MEASURED = "measured"


@dataclass(frozen=True, slots=True)
class Reason:
    """One failed check: `metric` at `value` against `threshold`, about site or link `where`.

    For RTT, jitter and loss the threshold is the limit crossed (the ready limit for a
    degraded verdict, the degraded limit for not_ready); for spare capacity, value is the
    spare and threshold the conference demand on that link and direction; for stale data,
    the age and the maximum age. NO_DATA, PROBE_FAILED and UNREACHABLE carry no number
    (value and threshold 0).

    >>> Reason(Metric.RTT_P95, Verdict.DEGRADED, 0.182, 0.1, "Teams", "A").text()
    'rtt_p95 182 ms > 100 ms (ready limit; Teams)'
    >>> Reason(Metric.LOSS, Verdict.NOT_READY, 0.07, 0.05, "Polycom", "A").text()
    'loss 7% > 5% (degraded limit; Polycom)'
    """

    metric: Metric
    verdict: Verdict
    value: float
    threshold: float
    source: str
    where: str
    detail: str = ""
    """Bounded extra words: a FailureReason value, or that a value is an estimate."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "verdict": self.verdict.value,
            "value": self.value,
            "threshold": self.threshold,
            "source": self.source,
            "where": self.where,
            "text": self.text(),
        }

    def text(self) -> str:
        """One English line; reports in other languages build theirs from the fields."""
        m, detail = self.metric, f", {self.detail}" if self.detail else ""
        if m in (Metric.RTT_P95, Metric.JITTER, Metric.LOSS):
            fmt = _percent if m is Metric.LOSS else format_duration
            band = "ready" if self.verdict is Verdict.DEGRADED else "degraded"
            return (
                f"{m} {fmt(self.value)} > {fmt(self.threshold)} "
                f"({band} limit; {self.source}{detail})"
            )
        if m in (Metric.SPARE_UP, Metric.SPARE_DOWN):
            how = (
                "fits only without overhead" if self.verdict is Verdict.DEGRADED else "does not fit"
            )
            return (
                f"{m} {format_rate(self.value)} < {format_rate(self.threshold)} demand on "
                f"{self.where} ({how}; {self.source})"
            )
        if m is Metric.STALE:
            return (
                f"stale: measured {format_duration(self.value)} ago, max age "
                f"{format_duration(self.threshold)} ({self.source})"
            )
        if m is Metric.PROBE_FAILED:
            return f"probe_failed: {self.detail or 'error'} ({self.source})"
        if m is Metric.NO_DATA:
            return f"no_data: no measurement for {self.where} ({self.source})"
        return f"{m}: no path from {self.where} to the bridge ({self.source})"


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.3g}%"


@dataclass(frozen=True, slots=True)
class ProfileVerdict:
    """A site's verdict for one profile; `root` is the site or link responsible, if any.

    It does not name its site (the mapping holding it does), so the sites sharing a verdict
    share one object: every ready site of a profile, every site below the same overloaded
    link. Nationally that is 36,000 verdicts from a few thousand objects.
    """

    profile: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    root_cause: RootCause
    root: str | None
    basis: Basis

    def as_dict(self, shared: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
        """The JSON form shared by `vcmon analyze --format json` and `/api/v1/sites`.

        `shared` (by id of a Reason) lets a caller converting many verdicts reuse the form of
        a reason many sites share, such as an overloaded upstream link's.
        """
        if shared is None:
            shared = {}
        reasons = []
        for r in self.reasons:
            form = shared.get(id(r))
            if form is None:
                form = shared[id(r)] = r.as_dict()
            reasons.append(form)
        return {
            "verdict": self.verdict.value,
            "basis": self.basis.value,
            "root_cause": self.root_cause.value,
            "root": self.root,
            "reasons": reasons,
        }


@dataclass(frozen=True, slots=True)
class SiteReadiness:
    site: str
    verdicts: Mapping[str, ProfileVerdict]
    best_profile: str | None
    """The highest-demand profile the site is READY for, else None."""


# Module constants: an Enum member or property lookup costs 0.1-0.2 us on Python 3.11, ten
# times a local's, and these run per site and profile (36,000 times for a national inventory).
_READY = Verdict.READY
_NO_CAUSE = RootCause.NONE
_RANK = {v: v.rank for v in Verdict}

_PATH_METRICS = frozenset({Metric.RTT_P95, Metric.JITTER, Metric.LOSS, Metric.PROBE_FAILED})


def assess(
    inventory: Inventory,
    graph: nx.Graph,
    routes: Routes,
    sites: frozenset[str],
    topology: ConferenceTopology,
    cascade_at: frozenset[str] = frozenset(),
    measurements: Measurements | None = None,
    now: float | None = None,
    profiles: Sequence[str] | None = None,
    monitored_links: frozenset[str] = frozenset(),
    loads: Mapping[str, LinkLoads] | None = None,
    max_age_s: Mapping[str, float] | None = None,
) -> Mapping[str, SiteReadiness]:
    """Verdicts for every site in `sites` (all of them joining one conference), per profile.

    `monitored_links` (measured mode): links whose usage the monitor polls; one without a
    fresh rate makes the sites behind it unknown. Offline analyses leave it empty and judge
    unmeasured links on their contracted capacity. `loads` (per profile) may pass this very
    scenario's conference loads when the caller already has them (the monitor, every cycle).
    `max_age_s` overrides the policy's freshness limit per site code or link id (the monitor:
    three missed cycles of the module that measures it).

    Planned basis when `measurements` is None; measured basis otherwise, which needs `now`
    (Unix seconds) to judge freshness. `profiles` defaults to all of the inventory's. The
    result keeps the inventory's site order.

    Root cause: among the worst reasons, the one closest to the bridge decides. A capacity
    reason on a link other than the site's first hop is UPSTREAM (root: the link); a path
    metric (RTT, jitter, loss, probe failure) that a site nearer the bridge also fails is
    UPSTREAM (root: the nearest-to-bridge such site); anything else is LOCAL (root: the site,
    or its first-hop link).

    >>> from vcmon.topology import _example_inventory, build_graph, routes
    >>> inv = _example_inventory()
    >>> g = build_graph(inv); r = routes(g, "P")
    >>> result = assess(inv, g, r, frozenset("AB"), ConferenceTopology.MCU)
    >>> result["B"].verdicts["hd"].verdict.value, result["B"].best_profile
    ('ready', 'hd')
    >>> m = assess(inv, g, r, frozenset("A"), ConferenceTopology.MCU, measurements=Measurements(),
    ...            now=0.0)["A"].verdicts["hd"]
    >>> m.verdict.value, m.reasons[0].metric.value, m.basis.value
    ('unknown', 'no_data', 'measured')
    """
    if measurements is not None and now is None:
        raise ValueError("assess: `now` is required with measurements (to judge freshness)")
    names = list(inventory.profiles) if profiles is None else list(profiles)
    for name in names:
        if name not in inventory.profiles:
            raise ValueError(f"assess: unknown profile {name!r}")
    missing = sorted(code for code in sites if code not in inventory.sites)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ValueError(f"assess: unknown site {missing[0]!r}{more}")
    ordered = [code for code in inventory.sites if code in sites]

    all_loads = dict(loads or {})
    missing_loads = [inventory.profiles[n] for n in names if n not in all_loads]
    if missing_loads:
        scenario = Scenario(sites, missing_loads[0], topology, cascade_at)
        all_loads.update(conference_loads(graph, routes, scenario, missing_loads))
    # Expected latencies stand in for RTT on the planned basis only.
    one_way = _one_way_latency(inventory, routes) if measurements is None else {}
    first_hops = _first_hops(inventory, routes)
    columns = []  # per profile, the verdicts of `ordered`
    for name in names:
        judge = _Judge(
            inventory, routes, inventory.profiles[name], all_loads[name], measurements, now,
            one_way, first_hops, monitored_links, max_age_s,
        )  # fmt: skip
        columns.append(judge.verdicts(ordered))

    by_demand = sorted(names, key=lambda n: inventory.profiles[n].demand_bps, reverse=True)
    result: dict[str, SiteReadiness] = {}
    for code, row in zip(ordered, zip(*columns, strict=True), strict=True):
        verdicts = dict(zip(names, row, strict=True))
        best = None
        for name in by_demand:
            if verdicts[name].verdict is _READY:
                best = name
                break
        result[code] = SiteReadiness(code, verdicts, best)
    return result


_FirstHop = tuple[str, Hop, Link, str]
"""(site, its first hop, that hop's link, its next hop's site), for each routed site."""


def _first_hops(inventory: Inventory, routes: Routes) -> list[_FirstHop]:
    """Every routed site but the bridge, after its next hop: the same for every profile."""
    links = inventory.links
    return [
        (site, hops[0], links[hops[0].link], routes.paths[site][1])
        for site, hops in routes.hops.items()
        if hops
    ]


def _one_way_latency(inventory: Inventory, routes: Routes) -> dict[str, float | None]:
    """Each routed site's expected one-way latency to the bridge; None if a link has none.

    One pass, bridge first, each site from its next hop's: linear in the sites.
    """
    one_way: dict[str, float | None] = {}
    links = inventory.links
    for site, hops in routes.hops.items():
        if not hops:
            one_way[site] = 0.0
            continue
        latency, rest = links[hops[0].link].latency_s, one_way[routes.paths[site][1]]
        one_way[site] = None if latency is None or rest is None else latency + rest
    return one_way


class _Judge:
    """The checks for one profile and scenario.

    Capacity reasons along each path are computed once for every routed site, bridge first,
    each from its next hop's: linear in the sites.
    """

    def __init__(
        self,
        inventory: Inventory,
        routes: Routes,
        profile: Profile,
        loads: LinkLoads,
        measurements: Measurements | None,
        now: float | None,
        one_way: Mapping[str, float | None],
        first_hops: Sequence[_FirstHop],
        monitored: frozenset[str] = frozenset(),
        max_age_s: Mapping[str, float] | None = None,
    ) -> None:
        self.inventory = inventory
        self.monitored = monitored
        self.max_age_s: Mapping[str, float] = max_age_s or {}
        self.routes = routes
        self.profile = profile
        self.policy: Policy = profile.policy
        self.loads = loads
        self.measurements = measurements
        self.now = 0.0 if now is None else now
        self.basis = Basis.PLANNED if measurements is None else Basis.MEASURED
        self._ready = ProfileVerdict(profile.name, _READY, (), _NO_CAUSE, None, self.basis)
        self._one_way = one_way
        planned = measurements is None
        self._path: dict[str, tuple[Reason, ...]] = self._planned() if planned else {}
        capacity: dict[str, tuple[Reason, ...]] = {routes.bridge: ()}
        self._capacity = capacity
        bps = loads.bps
        for site, hop, link, next_hop in first_hops:  # every site after its next hop
            upstream = capacity[next_hop]
            up, down = bps(hop.link)
            if planned and up <= link.up_bps and down <= link.down_bps:
                # planned basis, both directions within contract: the common case
                capacity[site] = upstream
                continue
            own = [self._link_data_reason(hop.link)]
            if own[0] is None:
                own = [
                    self._capacity_reason(hop.link, hop.direction, towards=True),
                    self._capacity_reason(hop.link, opposite(hop.direction), towards=False),
                ]
            capacity[site] = (*(r for r in own if r), *upstream)

    def verdicts(self, sites: Sequence[str]) -> list[ProfileVerdict]:
        """`verdict` of each site, the common cases inline (36,000 times nationally).

        A site whose only reasons are its path's links (no path-quality reason) shares its
        capacity tuple with every site below the same failing links: the worst of them and
        the one nearest the bridge are found once per tuple, and only local/upstream is the
        site's own (the root is local when it is the site's first hop).
        """
        paths, hops, capacity, path = (
            self.routes.paths,
            self.routes.hops,
            self._capacity,
            self._path,
        )
        name, basis, ready = self.profile.name, self.basis, self._ready
        local, upstream = RootCause.LOCAL, RootCause.UPSTREAM
        # per capacity tuple: the link to blame, and the verdicts blaming it locally/upstream
        judged: dict[int, tuple[str, ProfileVerdict, ProfileVerdict]] = {}
        out = []
        for site in sites:
            if site not in paths:
                out.append(self.verdict(site))
                continue
            reasons = path.get(site)
            if reasons is None:
                reasons = self.path_reasons(site)
            on_links = capacity[site]
            if reasons:
                out.append(self.verdict(site))
            elif not on_links:
                out.append(ready)
            else:
                found = judged.get(id(on_links))
                if found is None:
                    verdict, root = _nearest_worst(on_links)
                    found = judged[id(on_links)] = (
                        root,
                        ProfileVerdict(name, verdict, on_links, local, root, basis),
                        ProfileVerdict(name, verdict, on_links, upstream, root, basis),
                    )
                out.append(found[1] if hops[site][0].link == found[0] else found[2])
        return out

    def verdict(self, site: str) -> ProfileVerdict:
        if site not in self.routes.paths:
            link = self.routes.cut_by.get(site)
            if link is None:
                reason = Reason(
                    Metric.UNREACHABLE, Verdict.NOT_READY, 0.0, 0.0, ROUTING_SOURCE, site
                )
                return self._verdict((reason,), RootCause.LOCAL, site)
            source = f"{link} {LINK_DOWN_SOURCE}"
            reason = Reason(Metric.UNREACHABLE, Verdict.NOT_READY, 0.0, 0.0, source, site)
            ends = self.inventory.links[link]
            own = site in (ends.site, ends.to)
            return self._verdict((reason,), RootCause.LOCAL if own else RootCause.UPSTREAM, link)
        reasons = self.path_reasons(site) + self._capacity[site]
        if not reasons:  # the common case, kept cheap for national inventories
            return self._ready
        worst = max(_RANK[r.verdict] for r in reasons)
        cause, root = max(
            (self._blame(site, r) for r in reasons if _RANK[r.verdict] == worst),
            key=lambda blame: blame[0],
        )[1:]
        return self._verdict(reasons, cause, root)

    def _verdict(
        self, reasons: tuple[Reason, ...], cause: RootCause, root: str | None
    ) -> ProfileVerdict:
        verdict = max((r.verdict for r in reasons), key=lambda v: v.rank, default=Verdict.READY)
        return ProfileVerdict(self.profile.name, verdict, reasons, cause, root, self.basis)

    def _blame(self, site: str, reason: Reason) -> tuple[float, RootCause, str]:
        """(closeness to the bridge, cause, root) for one reason of `site`."""
        path, hops = self.routes.paths[site], self.routes.hops[site]
        if reason.where in self.inventory.links:
            index = next(i for i, hop in enumerate(hops) if hop.link == reason.where)
            cause = RootCause.LOCAL if index == 0 else RootCause.UPSTREAM
            return index + 0.5, cause, reason.where  # a link sits between two path sites
        if reason.metric in _PATH_METRICS:
            for index in range(len(path) - 1, 0, -1):  # the nearest to the bridge first
                if any(r.metric is reason.metric for r in self.path_reasons(path[index])):
                    return float(index), RootCause.UPSTREAM, path[index]
        return 0.0, RootCause.LOCAL, site

    # --- path quality --------------------------------------------------------------------

    def path_reasons(self, site: str) -> tuple[Reason, ...]:
        cached = self._path.get(site)
        if cached is None:
            cached = self._path[site] = tuple(self._measured(site))
        return cached

    def _planned(self) -> dict[str, tuple[Reason, ...]]:
        """Planned basis, every routed site at once: RTT estimated as twice the one-way latency."""
        limit, bridge = self.policy.rtt_p95_s, self.routes.bridge
        found: dict[str, tuple[Reason, ...]] = {}
        for site, one_way in self._one_way.items():
            if one_way is None or site == bridge or 2 * one_way <= limit.ready:
                found[site] = ()
            else:
                found[site] = (_over(Metric.RTT_P95, 2 * one_way, limit, site, ESTIMATED),)
        return found

    def _measured(self, site: str) -> list[Reason]:
        assert self.measurements is not None
        max_age = self.max_age_s.get(site, self.policy.max_age_s)
        pm = self.measurements.paths.get(site)
        if pm is None:
            return [Reason(Metric.NO_DATA, Verdict.UNKNOWN, 0.0, 0.0, FRESHNESS_SOURCE, site)]
        age = self.now - pm.measured_at
        if age > max_age:
            return [Reason(Metric.STALE, Verdict.UNKNOWN, age, max_age, FRESHNESS_SOURCE, site)]
        if pm.failure is not None:
            failed = Reason(
                Metric.PROBE_FAILED, Verdict.UNKNOWN, 0.0, 0.0, FRESHNESS_SOURCE, site, pm.failure
            )
            return [failed]
        if pm.rtt_p95_s is None and pm.jitter_s is None and pm.loss_ratio is None:
            return [Reason(Metric.NO_DATA, Verdict.UNKNOWN, 0.0, 0.0, FRESHNESS_SOURCE, site)]
        checks = (
            (Metric.RTT_P95, pm.rtt_p95_s, self.policy.rtt_p95_s),
            (Metric.JITTER, pm.jitter_s, self.policy.jitter_s),
            (Metric.LOSS, pm.loss_ratio, self.policy.loss_ratio),
        )
        return [_over(m, v, t, site) for m, v, t in checks if v is not None and v > t.ready]

    # --- capacity ------------------------------------------------------------------------

    def _capacity_reason(self, link: str, direction: Direction, towards: bool) -> Reason | None:
        """Does the conference load fit `link` in `direction` (`towards`: site->bridge)?"""
        demand = self.loads[link].load_bps(direction)
        spare = self._spare(link, direction)
        if demand <= spare:
            return None
        fits_bare = demand / (1.0 + self.profile.overhead_ratio) <= spare
        return Reason(
            Metric.SPARE_UP if towards else Metric.SPARE_DOWN,
            Verdict.DEGRADED if fits_bare else Verdict.NOT_READY,
            spare,
            demand,
            self.profile.source,
            link,
        )

    def _link_data_reason(self, link: str) -> Reason | None:
        """Measured mode: a monitored link without a fresh rate leaves its sites unknown."""
        if self.measurements is None or link not in self.monitored:
            return None
        lm = self.measurements.links.get(link)
        if lm is None or (lm.failure is None and lm.used_up_bps is None):
            return Reason(Metric.NO_DATA, Verdict.UNKNOWN, 0.0, 0.0, FRESHNESS_SOURCE, link)
        if lm.failure is not None:
            return Reason(
                Metric.PROBE_FAILED, Verdict.UNKNOWN, 0.0, 0.0, FRESHNESS_SOURCE, link, lm.failure
            )
        age = self.now - lm.measured_at
        max_age = self.max_age_s.get(link, self.policy.max_age_s)
        if age > max_age:
            return Reason(Metric.STALE, Verdict.UNKNOWN, age, max_age, FRESHNESS_SOURCE, link)
        return None

    def _spare(self, link: str, direction: Direction) -> float:
        contracted = self.inventory.links[link].capacity(direction)
        lm = None if self.measurements is None else self.measurements.links.get(link)
        if lm is None or not self._fresh(lm):
            return contracted
        used = lm.used_up_bps if direction is Direction.UP else lm.used_down_bps
        return contracted if used is None else max(0.0, contracted - used)

    def _fresh(self, lm: LinkMeasurement) -> bool:
        max_age = self.max_age_s.get(lm.link, self.policy.max_age_s)
        return lm.failure is None and self.now - lm.measured_at <= max_age


def _nearest_worst(reasons: tuple[Reason, ...]) -> tuple[Verdict, str]:
    """The worst verdict of reasons about a path's links (site first), and the link of the
    last reason giving it: the one nearest the bridge, which `_Judge._blame` would pick."""
    worst = max(_RANK[r.verdict] for r in reasons)
    root = [r for r in reasons if _RANK[r.verdict] == worst][-1]
    return root.verdict, root.where


def _over(metric: Metric, value: float, limit: Threshold, where: str, detail: str = "") -> Reason:
    """The reason for a value already known to be above the ready limit (limits are inside).

    >>> t = Threshold(0.1, 0.3, "Teams")
    >>> [_over(Metric.RTT_P95, v, t, "A").verdict.value for v in (0.1001, 0.3, 0.3001)]
    ['degraded', 'degraded', 'not_ready']
    """
    if value <= limit.degraded:
        return Reason(metric, Verdict.DEGRADED, value, limit.ready, limit.source, where, detail)
    return Reason(metric, Verdict.NOT_READY, value, limit.degraded, limit.source, where, detail)
