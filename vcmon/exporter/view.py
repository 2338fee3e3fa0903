"""What the monitor shows: observations turned into verdicts with hysteresis, once per cycle.

The evaluator runs after each probe cycle (never at scrape time); the collector and the HTTP
API only read the latest immutable `View`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import networkx as nx

from vcmon import readiness, topology
from vcmon.model import Inventory, Level, Measurements, ProberKind, Verdict
from vcmon.store import Observations


@dataclass(frozen=True, slots=True)
class InventoryStatus:
    ok: bool
    loaded_at: float
    error: str | None = None
    """A one-line summary of why the last reload was refused (file:line: field: message)."""


@dataclass(frozen=True, slots=True)
class View:
    inventory: Inventory
    observations: Observations
    verdicts: Mapping[str, readiness.SiteReadiness]
    loads: Mapping[str, Mapping[str, topology.LinkLoad]]
    """Conference load per profile, then per link."""
    spofs: Sequence[topology.Spof]
    inventory_status: InventoryStatus
    built_at: float
    shard: str | None = None
    conferences: Mapping[str, Mapping[str, Verdict]] = field(default_factory=dict)
    """Per upcoming scheduled conference, each needed site's verdict for its profile,
    judged with only that conference's sites joining."""


@dataclass(slots=True)
class _Held:
    reported: readiness.ProfileVerdict
    candidate: Verdict
    streak: int


@dataclass(slots=True)
class Hysteresis:
    """A reported verdict changes only after the new one holds for `cycles` evaluations.

    While a change is pending, the previously reported verdict is shown whole, reasons
    included, so a verdict never appears with reasons that contradict it. Going to
    `unknown` is immediate: green must never outlive the data behind it.
    """

    cycles: int
    _held: dict[tuple[str, str], _Held] = field(default_factory=dict)

    def step(self, site: str, pv: readiness.ProfileVerdict) -> readiness.ProfileVerdict:
        key = (site, pv.profile)
        held = self._held.get(key)
        new = pv.verdict
        if held is None or new is Verdict.UNKNOWN or self.cycles <= 1:
            self._held[key] = _Held(pv, new, 0)
            return pv
        if new is held.reported.verdict:
            held.reported, held.candidate, held.streak = pv, new, 0
            return pv
        held.streak = held.streak + 1 if new is held.candidate else 1
        held.candidate = new
        if held.streak >= self.cycles:
            held.reported, held.streak = pv, 0
        return held.reported

    def forget_except(self, sites: set[str]) -> None:
        for key in [k for k in self._held if k[0] not in sites]:
            del self._held[key]


MISSED_CYCLES_STALE = 3


def stale_after(inv: Inventory) -> dict[str, float]:
    """Per site (ICMP) and link (SNMP): data older than three missed cycles of the module
    that measures it is stale. A probe's own duration is added so a slow probe is not late.

    >>> from vcmon.inventory import load_inventory
    >>> ages = stale_after(load_inventory("inventory/example.yaml"))
    >>> ages["21010"]      # icmp_video: 3 x 60 s, + 20 echoes x 20 ms + 5 s timeout
    185.4
    >>> ages["522-21010"]  # snmp_v2c_ifmib: 3 x 60 s, + 3 s timeout x (1 + 1 retry)
    186.0
    """
    out: dict[str, float] = {}
    for dev in inv.devices.values():
        for name in dev.modules:
            m = inv.modules[name]
            if m.prober is ProberKind.ICMP:
                keys, probe_s = [dev.site], m.count * m.spacing_s + m.timeout_s
            else:
                keys, probe_s = [i.link for i in dev.interfaces], m.timeout_s * (1 + m.retries)
            limit = MISSED_CYCLES_STALE * m.interval_s + probe_s
            for key in keys:
                out[key] = max(out.get(key, 0.0), limit)
    return out


@dataclass(frozen=True, slots=True)
class _Rerouted:
    """The topology analyses with `failed` links down (see `Evaluator._current`)."""

    failed: frozenset[str]
    graph: nx.Graph
    routes: topology.Routes
    loads: Mapping[str, topology.LinkLoads]


class Evaluator:
    """Holds the inventory-derived analyses and the hysteresis state; publishes Views."""

    def __init__(self, shard: str | None = None, *, report_province: bool = True) -> None:
        """`report_province=False` for every shard but one: province-level sites are in
        each shard's topology, but only one shard may export their verdicts."""
        self._report_province = report_province
        self._lock = threading.Lock()
        self._view: View | None = None
        self._shard = shard
        self._inventory: Inventory | None = None
        self._status = InventoryStatus(ok=False, loaded_at=0.0, error="not loaded")
        self._graph: nx.Graph | None = None
        self._routes: topology.Routes | None = None
        self._loads: dict[str, topology.LinkLoads] = {}
        self._spofs: list[topology.Spof] = []
        self._scenario: topology.Scenario | None = None
        self._in_use: frozenset[str] = frozenset()
        self._rerouted: _Rerouted | None = None
        self._monitored: frozenset[str] = frozenset()
        self._max_age: Mapping[str, float] = {}
        self._hysteresis = Hysteresis(cycles=1)

    @property
    def inventory(self) -> Inventory | None:
        return self._inventory

    def set_inventory(self, inv: Inventory, now: float | None = None) -> None:
        """Adopt a new inventory: the topology analyses are recomputed here, once."""
        graph = topology.build_graph(inv)
        routes = topology.routes(graph, inv.conference.bridge)
        conf = inv.conference
        sites = frozenset(inv.sites)
        first = next(iter(inv.profiles.values()))
        scenario = topology.Scenario(sites, first, conf.topology, frozenset(conf.cascade_at))
        loads = topology.conference_loads(graph, routes, scenario, list(inv.profiles.values()))
        cycles = max(p.policy.hysteresis_cycles for p in inv.profiles.values())
        with self._lock:
            self._inventory, self._graph, self._routes = inv, graph, routes
            self._loads, self._scenario, self._rerouted = loads, scenario, None
            self._in_use = frozenset(hops[0].link for hops in routes.hops.values() if hops)
            # links a polled device reports on: the monitor needs fresh rates for them
            self._monitored = frozenset(
                i.link
                for d in inv.devices.values()
                if any(inv.modules[m].prober is ProberKind.SNMP for m in d.modules)
                for i in d.interfaces
            )
            self._max_age = stale_after(inv)
            self._spofs = topology.spofs(graph, conf.bridge)
            self._hysteresis.cycles = cycles
            self._hysteresis.forget_except(set(inv.sites))
            self._status = InventoryStatus(ok=True, loaded_at=now or time.time())

    def reject_inventory(self, error: str) -> None:
        """A reload failed: keep the last good inventory and say so."""
        with self._lock:
            self._status = replace(self._status, ok=False, error=error)

    def evaluate(self, observations: Observations, now: float | None = None) -> View | None:
        now = time.time() if now is None else now
        with self._lock:
            inv, graph, routes = self._inventory, self._graph, self._routes
            if inv is None or graph is None or routes is None:
                return None
            conf = inv.conference
            measurements = observations.measurements()
            graph, routes, loads = self._current(inv, measurements, now)
            raw = readiness.assess(
                inv,
                graph,
                routes,
                frozenset(inv.sites),
                conf.topology,
                cascade_at=frozenset(conf.cascade_at),
                measurements=measurements,
                now=now,
                monitored_links=self._monitored,
                loads=loads,
                max_age_s=self._max_age,
            )
            verdicts = {
                code: self._apply_hysteresis(code, sr)
                for code, sr in raw.items()
                if self._report_province or inv.sites[code].level is not Level.PROVINCE
            }
            conferences = {}
            for event in inv.schedule:
                if not event.active(now):
                    continue
                judged = readiness.assess(
                    inv,
                    graph,
                    routes,
                    event.sites,
                    conf.topology,
                    cascade_at=frozenset(conf.cascade_at),
                    measurements=measurements,
                    now=now,
                    profiles=[event.profile],
                    monitored_links=self._monitored,
                    max_age_s=self._max_age,
                )
                conferences[event.name] = {
                    code: sr.verdicts[event.profile].verdict for code, sr in judged.items()
                }
            view = View(
                inventory=inv,
                observations=observations,
                verdicts=verdicts,
                loads=loads,
                spofs=self._spofs,
                inventory_status=self._status,
                built_at=now,
                shard=self._shard,
                conferences=conferences,
            )
            self._view = view
            return view

    def _current(
        self, inv: Inventory, measurements: Measurements, now: float
    ) -> tuple[nx.Graph, topology.Routes, Mapping[str, topology.LinkLoads]]:
        """The topology traffic takes now: without the links whose interface reports
        ifOperStatus down (freshly), so sites behind them are judged on their backup path,
        or as cut off, and the conference load moves with them. Recomputed only when the
        set of failed links that carry a path changes."""
        assert self._graph is not None and self._routes is not None
        failed = frozenset(
            link
            for link, lm in measurements.links.items()
            if lm.oper_up is False and now - lm.measured_at <= self._max_age.get(link, 0.0)
        )
        if failed.isdisjoint(self._in_use):
            self._rerouted = None  # mended: a national graph copy is not kept for nothing
            return self._graph, self._routes, self._loads
        if self._rerouted is None or self._rerouted.failed != failed:
            assert self._scenario is not None
            graph, routes = topology.reroute(self._graph, self._routes, failed)
            loads = topology.conference_loads(
                graph, routes, self._scenario, list(inv.profiles.values())
            )
            self._rerouted = _Rerouted(failed, graph, routes, loads)
        return self._rerouted.graph, self._rerouted.routes, self._rerouted.loads

    def _apply_hysteresis(self, code: str, sr: readiness.SiteReadiness) -> readiness.SiteReadiness:
        changed = {name: self._hysteresis.step(code, pv) for name, pv in sr.verdicts.items()}
        if all(changed[n] is sr.verdicts[n] for n in changed):
            return sr
        demand = {} if self._inventory is None else self._inventory.profiles
        ready = [n for n, pv in changed.items() if pv.verdict is Verdict.READY and n in demand]
        best = max(ready, key=lambda n: demand[n].demand_bps, default=None)
        return replace(sr, verdicts=changed, best_profile=best)

    def latest(self) -> View | None:
        return self._view
