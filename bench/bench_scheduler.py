#!/usr/bin/env python3
"""Scheduler drift under load: how late the runner starts probe jobs.

Runs vcmon's real Runner with the real ICMP engine against N loopback targets (127.1.0.0/16:
the kernel answers, nothing leaves the machine), each probed every `--interval` seconds,
while other threads load the CPU the way a national agent does (readiness evaluations of the
national snapshot, if bench/out/national exists; otherwise a Python busy loop). Reports the
lag quantiles the agent exports as vcmon_scheduler_lag_seconds.

    python bench/bench_scheduler.py [--targets 2000] [--interval 10] [--seconds 60] [--load 1]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from pathlib import Path
from types import MappingProxyType

from vcmon.model import (
    Conference,
    ConferenceTopology,
    Device,
    Inventory,
    Level,
    Module,
    ProberKind,
    Site,
    Terrain,
)
from vcmon.probers.icmp import IcmpEngine
from vcmon.runner import IcmpPaths, Runner
from vcmon.store import Store

BENCH = Path(__file__).resolve().parent


def loopback_inventory(n: int, interval_s: float) -> Inventory:
    module = Module("icmp_bench", ProberKind.ICMP, interval_s=interval_s, timeout_s=2.0,
                    count=5, spacing_s=0.02, size_bytes=200, dscp=34)  # fmt: skip
    sites = {"P": Site("P", "P", Level.PROVINCE, None, None, Terrain.PLAIN, 1, None)}
    devices = {}
    for i in range(n):
        code = f"S{i}"
        sites[code] = Site(code, code, Level.COMMUNE, "P", None, Terrain.PLAIN, 1, None)
        address = f"127.1.{i // 250}.{i % 250 + 1}"
        devices[f"d{i}"] = Device(f"d{i}", code, address, (module.name,), None)
    return Inventory(
        sites=MappingProxyType(sites),
        links=MappingProxyType({}),
        devices=MappingProxyType(devices),
        profiles=MappingProxyType({}),
        modules=MappingProxyType({module.name: module}),
        auths=MappingProxyType({}),
        conference=Conference("P", ConferenceTopology.MCU),
    )


def cpu_load(stop: threading.Event) -> None:
    national = BENCH / "out" / "national"
    if national.exists():
        from vcmon.exporter.view import Evaluator
        from vcmon.inventory import load_inventory

        ev = Evaluator()
        ev.set_inventory(load_inventory(national))
        empty = Store().snapshot()
        while not stop.is_set():
            ev.evaluate(empty)
    else:
        while not stop.is_set():
            sum(i * i for i in range(100_000))


async def run(args: argparse.Namespace) -> Store:
    store = Store()
    inv = loopback_inventory(args.targets, args.interval)
    stop = asyncio.Event()
    async with IcmpEngine() as engine:
        runner = Runner(store, IcmpPaths(engine), None, concurrency=4096)
        runner.set_inventory(inv)
        task = asyncio.create_task(runner.run(stop))
        await asyncio.sleep(args.seconds)
        stop.set()
        await task
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--load", type=int, default=1, help="CPU-loading threads")
    args = parser.parse_args(argv)

    stop = threading.Event()
    loaders = [
        threading.Thread(target=cpu_load, args=(stop,), daemon=True) for _ in range(args.load)
    ]
    for t in loaders:
        t.start()
    started = time.process_time()
    try:
        store = asyncio.run(run(args))
    finally:
        stop.set()
    cpu = time.process_time() - started
    snap = store.snapshot()
    lag = snap.lag
    ok = sum(1 for s in snap.probes.values() if s.success)
    print(
        f"{args.targets} targets every {args.interval:g} s for {args.seconds:g} s, "
        f"{args.load} loading thread(s): {lag.count} jobs, {ok} of {len(snap.probes)} "
        f"targets' last probe succeeded, process CPU {cpu:.1f} s"
    )
    for q in (0.5, 0.99, 1.0):
        value = lag.quantile(q)
        print(f"  lag q{q:g}: {value * 1000:.1f} ms" if value is not None else "  no jobs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
