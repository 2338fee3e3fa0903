"""`vcmon probe` (one site, once, everything shown) and `vcmon assess` (every site, a while).

An assessment is what a network-assessment tool does before a rollout: probe every site
repeatedly for a fixed time, then write one measurement per site and link that `vcmon
analyze`, `plan` and `report` read (`--measurements FILE`, format in docs/plan.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcmon.errors import InventoryError
from vcmon.model import (
    Device,
    Direction,
    FailureReason,
    Inventory,
    LinkMeasurement,
    Measurements,
    Module,
    PathMeasurement,
    ProberKind,
)
from vcmon.probers.counters import RateTracker, SnmpResult
from vcmon.probers.icmp import IcmpEngine, IcmpResult, ipdv_mean, percentile, rfc3550_jitter
from vcmon.probers.icmp import to_measurement as icmp_measurement
from vcmon.probers.snmp import SnmpEngine


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """Everything one `vcmon probe` learned about one site."""

    icmp: list[tuple[Device, IcmpResult, PathMeasurement]] = field(default_factory=list)
    snmp: list[tuple[Device, SnmpResult, SnmpResult | None, list[LinkMeasurement]]] = field(
        default_factory=list
    )


def devices_at(inv: Inventory, site: str) -> list[Device]:
    found = [d for d in inv.devices.values() if d.site == site]
    if site not in inv.sites:
        raise InventoryError.single("command line", 0, "--site", f"unknown site {site!r}")
    return found


def _modules(inv: Inventory, dev: Device, only: str | None) -> list[Module]:
    names = [m for m in dev.modules if only is None or m == only]
    return [inv.modules[n] for n in names]


async def probe_site(
    inv: Inventory, site: str, *, module: str | None, snmp_gap_s: float, snmp_port: int = 161
) -> ProbeReport:
    """Probe a site's devices once with each module (SNMP twice, `snmp_gap_s` apart)."""
    if module is not None and module not in inv.modules:
        raise InventoryError.single("command line", 0, "--module", f"unknown module {module!r}")
    report = ProbeReport()
    devices = devices_at(inv, site)
    async with IcmpEngine() as icmp, SnmpEngine() as snmp:
        tracker = RateTracker(inv.links)
        for dev in devices:
            for mod in _modules(inv, dev, module):
                if mod.prober is ProberKind.ICMP:
                    r = await icmp.probe(dev.address, mod)
                    report.icmp.append((dev, r, icmp_measurement(r, time.time(), site=dev.site)))
                elif dev.auth is not None:
                    auth = inv.auths[dev.auth]
                    first = await snmp.poll(dev, auth, mod, snmp_port)
                    tracker.update(dev, first)
                    second = None
                    links: list[LinkMeasurement] = []
                    if first.failure is None:
                        await asyncio.sleep(snmp_gap_s)
                        second = await snmp.poll(dev, auth, mod, snmp_port)
                        links = [r.to_measurement() for r in tracker.update(dev, second).values()]
                    report.snmp.append((dev, first, second, links))
    return report


def as_jsonable(obj: Any) -> Any:
    """Dataclasses and enums as plain JSON values (secrets never live in these objects)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [as_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): as_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    return str(obj)


# --- assess ----------------------------------------------------------------------------


@dataclass(slots=True)
class _PathAcc:
    site: str
    sent: int = 0
    lost: int = 0
    rtts: list[float] = field(default_factory=list)
    ipdv: list[tuple[float, int]] = field(default_factory=list)
    rfc3550: list[float] = field(default_factory=list)
    failures: list[FailureReason] = field(default_factory=list)
    last_at: float = 0.0

    def add(self, r: IcmpResult, at: float) -> None:
        self.last_at = at
        if r.failure is not None and not r.received:
            self.failures.append(r.failure)
        self.sent += r.sent
        self.lost += r.sent - r.received
        got = [x for x in r.rtts_s if x is not None]
        self.rtts.extend(got)
        j = ipdv_mean(got)
        if j is not None:
            self.ipdv.append((j, len(got)))
        s = rfc3550_jitter(got)
        if s is not None:
            self.rfc3550.append(s)

    def measurement(self) -> PathMeasurement:
        if not self.rtts:
            reason = max(set(self.failures), key=self.failures.count, default=FailureReason.TIMEOUT)
            return PathMeasurement(self.site, self.last_at, None, None, None, None, reason.value)
        ordered = sorted(self.rtts)
        weight = sum(n for _, n in self.ipdv)
        return PathMeasurement(
            site=self.site,
            measured_at=self.last_at,
            rtt_p50_s=percentile(ordered, 0.5),
            rtt_p95_s=percentile(ordered, 0.95),
            jitter_s=sum(j * n for j, n in self.ipdv) / weight if weight else None,
            loss_ratio=self.lost / self.sent if self.sent else None,
            rtt_min_s=ordered[0],
            rtt_max_s=ordered[-1],
            jitter_rfc3550_s=sum(self.rfc3550) / len(self.rfc3550) if self.rfc3550 else None,
        )


def _busy(values: Sequence[float]) -> float | None:
    """The 95th percentile of the interval rates: a busy-period figure, not the mean."""
    return percentile(sorted(values), 0.95) if values else None


@dataclass(slots=True)
class _LinkAcc:
    first: LinkMeasurement
    up: list[float] = field(default_factory=list)
    down: list[float] = field(default_factory=list)
    last: LinkMeasurement | None = None

    def add(self, m: LinkMeasurement) -> None:
        self.last = m
        if m.used_up_bps is not None:
            self.up.append(m.used_up_bps)
        if m.used_down_bps is not None:
            self.down.append(m.used_down_bps)

    def measurement(self) -> LinkMeasurement:
        m = self.last or self.first
        if not self.up and not self.down:
            failure = m.failure or FailureReason.TIMEOUT.value
            return dataclasses.replace(m, used_up_bps=None, used_down_bps=None, failure=failure)
        return dataclasses.replace(
            m, used_up_bps=_busy(self.up), used_down_bps=_busy(self.down), failure=None
        )


async def assess(
    inv: Inventory,
    duration_s: float,
    *,
    snmp_port: int = 161,
    progress: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Measurements:
    """Probe every device with every module, round after round, for `duration_s`."""
    paths: dict[str, _PathAcc] = {}
    links: dict[str, _LinkAcc] = {}
    tracker = RateTracker(inv.links)
    start = clock()
    jobs = [(dev, inv.modules[m]) for dev in inv.devices.values() for m in dev.modules]
    async with IcmpEngine() as icmp, SnmpEngine() as snmp:

        async def one(dev: Device, mod: Module) -> None:
            while clock() - start < duration_s:
                round_started = clock()
                if mod.prober is ProberKind.ICMP:
                    r = await icmp.probe(dev.address, mod)
                    paths.setdefault(dev.site, _PathAcc(dev.site)).add(r, time.time())
                elif dev.auth is not None:
                    res = await snmp.poll(dev, inv.auths[dev.auth], mod, snmp_port)
                    for rate in tracker.update(dev, res).values():
                        m = rate.to_measurement()
                        links.setdefault(m.link, _LinkAcc(m)).add(m)
                left = duration_s - (clock() - start)
                await asyncio.sleep(max(0.0, min(mod.interval_s - (clock() - round_started), left)))

        async def report_progress() -> None:
            while (done := clock() - start) < duration_s:
                if progress is not None:
                    progress(min(1.0, done / duration_s))
                await asyncio.sleep(1.0)

        async with asyncio.TaskGroup() as tg:
            for dev, mod in jobs:
                tg.create_task(one(dev, mod))
            tg.create_task(report_progress())
    if progress is not None:
        progress(1.0)
    return Measurements(
        paths={s: acc.measurement() for s, acc in paths.items()},
        links={lk: acc.measurement() for lk, acc in links.items()},
    )


def write_measurements(m: Measurements, out: Path) -> None:
    """The file `--measurements` reads: {"paths": [...], "links": [...]} in base units."""
    doc = {
        "paths": [as_jsonable(p) for p in m.paths.values()],
        "links": [as_jsonable(lk) for lk in m.links.values()],
    }
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)


def summarise(m: Measurements, inv: Inventory) -> Iterable[str]:
    measured = sum(1 for p in m.paths.values() if p.failure is None)
    yield f"{measured} of {len(inv.sites)} sites answered ICMP; {len(m.links)} links measured"
    by_failure: dict[str, int] = defaultdict(int)
    for p in m.paths.values():
        if p.failure:
            by_failure[p.failure] += 1
    for reason, count in sorted(by_failure.items()):
        yield f"  {count} sites failed: {reason}"
    for lk in m.links.values():
        u = lk.utilisation(Direction.UP)
        if u is not None and u > 0.8:
            yield f"  link {lk.link} busy: {u:.0%} of its up capacity"
