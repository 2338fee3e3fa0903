"""`vcmon run`: the always-on agent, wired from store, runner, evaluator and HTTP server.

Lifecycle: load the inventory (fatal if invalid at start), serve HTTP, probe on schedule,
evaluate readiness every few seconds, reload the inventory on SIGHUP or when its files change
(keeping the last good one if the new one is invalid), stop cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import signal
import sys
import time
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from vcmon.errors import InventoryError
from vcmon.exporter.server import make_server, serve_in_background
from vcmon.exporter.view import Evaluator
from vcmon.inventory import load_inventory
from vcmon.model import Inventory, Level
from vcmon.probers.icmp import IcmpEngine
from vcmon.probers.snmp import SnmpEngine
from vcmon.runner import IcmpPaths, Runner, SnmpLinks
from vcmon.store import Store

log = logging.getLogger("vcmon")

EVALUATE_EVERY_S = 5.0
WATCH_EVERY_S = 5.0


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    _skip = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in self._skip})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(fmt: str, *, debug: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # pysnmp's debug output could carry PDUs; keep third-party loggers quiet
    logging.getLogger("pysnmp").setLevel(logging.WARNING)


M_MMAP_THRESHOLD = -3
"""glibc's mallopt parameter number (malloc.h)."""


def return_big_buffers_to_the_os() -> None:
    """Serve large allocations (each /metrics body is ~50 MB at national scale) by mmap.

    glibc's default threshold adapts upward after the first big free, after which freed
    bodies stay in the heap and RSS creeps to ~390 MB; a fixed 256 KiB threshold gives them
    back (~300 MB measured, bench/RESULTS.md). Same as MALLOC_MMAP_THRESHOLD_=262144.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 256 * 1024)


def shard_of(district: str, n: int) -> int:
    """The shard a district belongs to: stable across runs, machines and Python versions.

    >>> shard_of("522", 2) == shard_of("522", 2), shard_of("522", 1)
    (True, 0)
    """
    return zlib.crc32(district.encode()) % n


def select_shard(inv: Inventory, k: int, n: int) -> Inventory:
    """The part of the inventory shard k of n covers.

    Sites are split by district; province-level sites stay in every shard (the topology
    needs them) but only shard 0 probes their devices, so no series is exported twice.
    """
    keep = {
        code
        for code, s in inv.sites.items()
        if s.level is Level.PROVINCE or (s.district is not None and shard_of(s.district, n) == k)
    }
    probed = {code for code in keep if inv.sites[code].level is not Level.PROVINCE or k == 0}
    return replace(
        inv,
        sites={c: s for c, s in inv.sites.items() if c in keep},
        links={i: lk for i, lk in inv.links.items() if lk.site in keep and lk.to in keep},
        devices={d: dev for d, dev in inv.devices.items() if dev.site in probed},
    )


def _fingerprint(paths: tuple[Path, ...]) -> tuple[tuple[str, float, int], ...]:
    out = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            out.append((str(p), 0.0, -1))
            continue
        out.append((str(p), st.st_mtime, st.st_size))
    return tuple(out)


class Agent:
    def __init__(
        self,
        path: Path,
        *,
        listen: str,
        shard: tuple[int, int] | None = None,
        snmp_port: int = 161,
    ) -> None:
        self.path = path
        self.listen = listen
        self.shard = shard
        self.snmp_port = snmp_port
        self.store = Store()
        self.evaluator = Evaluator(
            shard=f"{shard[0]}/{shard[1]}" if shard else None,
            report_province=shard is None or shard[0] == 0,
        )
        self._inventory: Inventory | None = None
        self._fingerprint: tuple[tuple[str, float, int], ...] = ()
        self._reload = asyncio.Event()

    def _read(self) -> Inventory:
        inv = load_inventory(self.path)
        return select_shard(inv, *self.shard) if self.shard else inv

    def load_first(self) -> None:
        inv = self._read()
        self._adopt(inv)

    def _adopt(self, inv: Inventory) -> None:
        self._inventory = inv
        self._fingerprint = _fingerprint(inv.sources)
        self.evaluator.set_inventory(inv)
        self.store.retain(inv.sites, inv.links, [*inv.sites, *inv.devices])
        log.info(
            "inventory loaded",
            extra={"sites": len(inv.sites), "devices": len(inv.devices), "path": str(self.path)},
        )

    def reload(self, runner: Runner, snmp: SnmpLinks) -> None:
        try:
            inv = self._read()
        except InventoryError as exc:
            first = exc.problems[0] if exc.problems else None
            self.evaluator.reject_inventory(str(first) if first else "invalid inventory")
            self._fingerprint = _fingerprint(self._inventory.sources if self._inventory else ())
            log.error(
                "inventory reload refused; keeping the last good one",
                extra={"problems": [str(p) for p in exc.problems[:20]]},
            )
            return
        self._adopt(inv)
        snmp.set_links(inv.links)
        runner.set_inventory(inv)

    async def run(self) -> None:
        assert self._inventory is not None, "call load_first() before run()"
        server, _registry = make_server(self.listen, self.evaluator.latest)
        serve_in_background(server)
        log.info("listening", extra={"listen": self.listen})
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)
        try:
            async with IcmpEngine() as icmp, SnmpEngine() as snmp_engine:
                snmp = SnmpLinks(snmp_engine, self._inventory.links, port=self.snmp_port)
                runner = Runner(self.store, IcmpPaths(icmp), snmp)
                runner.set_inventory(self._inventory)
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(runner.run(stop))
                    tg.create_task(self._evaluate_loop(stop))
                    tg.create_task(self._watch_loop(stop, runner, snmp))
        finally:
            server.shutdown()
            server.server_close()
            log.info("stopped")

    async def _evaluate_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            # in a thread: a national evaluation must not stall the probes' event loop
            await asyncio.to_thread(self.evaluator.evaluate, self.store.snapshot())
            took = time.monotonic() - started
            log.debug("evaluated", extra={"seconds": round(took, 4)})
            try:
                # at national scale an evaluation costs CPU: keep it under ~10% of a core
                async with asyncio.timeout(max(EVALUATE_EVERY_S, 10 * took)):
                    await stop.wait()
            except TimeoutError:
                pass

    async def _watch_loop(self, stop: asyncio.Event, runner: Runner, snmp: SnmpLinks) -> None:
        while not stop.is_set():
            try:
                async with asyncio.timeout(WATCH_EVERY_S):
                    await self._reload.wait()
                log.info("SIGHUP: reloading inventory")
            except TimeoutError:
                inv = self._inventory
                if inv is None or _fingerprint(inv.sources) == self._fingerprint:
                    continue
                log.info("inventory files changed: reloading")
            self._reload.clear()
            self.reload(runner, snmp)
