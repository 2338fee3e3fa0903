"""The probe schedule: every (device, module) job on its module's interval, spread out.

One event loop, one ICMP engine, one SNMP engine; a semaphore bounds the probes in flight and
every probe runs under a timeout, so a dead device costs its own job a timeout and nothing
else. Results go to the Store; failures are results (with a reason), never exceptions.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from vcmon.model import (
    Auth,
    Device,
    FailureReason,
    Inventory,
    Link,
    LinkMeasurement,
    Module,
    PathMeasurement,
    ProberKind,
)
from vcmon.probers.counters import RateTracker
from vcmon.probers.icmp import IcmpEngine
from vcmon.probers.icmp import to_measurement as icmp_measurement
from vcmon.probers.snmp import SnmpEngine
from vcmon.store import Store

log = logging.getLogger(__name__)


class PathProber(Protocol):
    async def measure_path(self, site: str, address: str, module: Module) -> PathMeasurement: ...


class LinkProber(Protocol):
    async def measure_links(
        self, device: Device, auth: Auth, module: Module
    ) -> tuple[list[LinkMeasurement], FailureReason | None]: ...


@dataclass(frozen=True, slots=True, order=True)
class Job:
    """One module probing one device; `offset_s` spreads jobs evenly over the interval."""

    device: str
    module: str
    interval_s: float
    offset_s: float


def plan_jobs(inv: Inventory) -> list[Job]:
    """Every (device, module) pair with a stable offset in [0, interval).

    The offset is a hash of the names, so a restart or reload keeps each job's slot and
    11,000 sites do not all probe in the same second.

    >>> from vcmon.model import Module, ProberKind
    >>> m = Module("icmp_video", ProberKind.ICMP, interval_s=60, timeout_s=5)
    >>> _offset("r-522", m) == _offset("r-522", m), 0 <= _offset("r-522", m) < 60
    (True, True)
    """
    jobs = []
    for dev in inv.devices.values():
        for name in dev.modules:
            module = inv.modules[name]
            jobs.append(Job(dev.name, name, module.interval_s, _offset(dev.name, module)))
    return sorted(jobs)


def _offset(device: str, module: Module) -> float:
    h = zlib.crc32(f"{device}/{module.name}".encode())
    return (h / 2**32) * module.interval_s


@dataclass(slots=True)
class Runner:
    store: Store
    path_prober: PathProber | None
    link_prober: LinkProber | None
    concurrency: int = 256
    clock: Callable[[], float] = time.time
    on_cycle: Callable[[], Awaitable[None]] | None = None
    """Called after each batch of results (the evaluator)."""
    _inventory: Inventory | None = None
    _jobs: list[tuple[float, Job]] = field(default_factory=list)
    _reload: asyncio.Event = field(default_factory=asyncio.Event)

    def set_inventory(self, inv: Inventory) -> None:
        self._inventory = inv
        self._reload.set()

    def _schedule(self, inv: Inventory, now: float) -> None:
        self._jobs = []
        for job in plan_jobs(inv):
            first = now - (now % job.interval_s) + job.offset_s
            if first < now:
                first += job.interval_s
            heapq.heappush(self._jobs, (first, job))

    async def run(self, stop: asyncio.Event) -> None:
        sem = asyncio.Semaphore(self.concurrency)
        async with asyncio.TaskGroup() as tg:
            while not stop.is_set():
                if self._reload.is_set() and self._inventory is not None:
                    self._reload.clear()
                    self._schedule(self._inventory, self.clock())
                if not self._jobs:
                    await _wait_any(stop, self._reload, timeout=1.0)
                    continue
                due, job = self._jobs[0]
                delay = due - self.clock()
                if delay > 0:
                    await _wait_any(stop, self._reload, timeout=min(delay, 1.0))
                    continue
                heapq.heapreplace(self._jobs, (due + job.interval_s, job))
                self._note_lag(-delay)
                inv = self._inventory
                if inv is not None:
                    tg.create_task(self._run_job(inv, job, sem))

    def _note_lag(self, lag: float) -> None:
        self.store.record_lag(lag)

    async def _run_job(self, inv: Inventory, job: Job, sem: asyncio.Semaphore) -> None:
        dev = inv.devices.get(job.device)
        module = inv.modules.get(job.module)
        if dev is None or module is None:  # removed by a reload since scheduling
            return
        async with sem:
            started = self.clock()
            failure: FailureReason | None = None
            try:
                async with asyncio.timeout(module.timeout_s + module.count * module.spacing_s + 5):
                    failure = await self._probe(inv, dev, module)
            except TimeoutError:
                failure = FailureReason.TIMEOUT
            except Exception:
                # A bug in one probe must cost that probe, never the monitor.
                log.exception("probe %s/%s failed", dev.name, module.name)
                failure = FailureReason.ERROR
            finished = self.clock()
            self.store.record_probe(
                dev.name,
                module.name,
                finished_at=finished,
                duration_s=finished - started,
                failure=failure,
            )
        if self.on_cycle is not None:
            await self.on_cycle()

    async def _probe(self, inv: Inventory, dev: Device, module: Module) -> FailureReason | None:
        if module.prober is ProberKind.ICMP:
            if self.path_prober is None:
                return FailureReason.ERROR
            m = await self.path_prober.measure_path(dev.site, dev.address, module)
            self.store.record_path(m)
            return FailureReason(m.failure) if m.failure else None
        if self.link_prober is None or dev.auth is None:
            return FailureReason.ERROR
        auth: Auth = inv.auths[dev.auth]
        measurements, failure = await self.link_prober.measure_links(dev, auth, module)
        for lm in measurements:
            self.store.record_link(lm)
        if failure is not None:
            self.store.record_snmp_error(dev.name, failure)
        return failure


async def _wait_any(a: asyncio.Event, b: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


class IcmpPaths:
    """PathProber over the shared ICMP engine: the site's path is probed at its device."""

    def __init__(self, engine: IcmpEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def measure_path(self, site: str, address: str, module: Module) -> PathMeasurement:
        result = await self._engine.probe(address, module)
        return icmp_measurement(result, self._clock(), site=site)


class SnmpLinks:
    """LinkProber over the shared SNMP engine, with counter state kept across polls."""

    def __init__(self, engine: SnmpEngine, links: Mapping[str, Link], port: int = 161) -> None:
        self._engine = engine
        self._tracker = RateTracker(links)
        self._port = port

    def set_links(self, links: Mapping[str, Link]) -> None:
        self._tracker = RateTracker(links)

    async def measure_links(
        self, device: Device, auth: Auth, module: Module
    ) -> tuple[list[LinkMeasurement], FailureReason | None]:
        result = await self._engine.poll(device, auth, module, self._port)
        rates = self._tracker.update(device, result)
        return [r.to_measurement() for r in rates.values()], result.failure
