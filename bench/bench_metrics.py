#!/usr/bin/env python3
"""Benchmark the monitor's hot paths on a national snapshot (~11,000 sites).

Measures, in one process:
- `/metrics` render: the collector building every family from the latest View plus the
  text exposition (prometheus_client.generate_latest), median and worst of N scrapes;
  target <= 250 ms;
- one readiness evaluation of the whole snapshot (what `vcmon run` does every 5 s);
- peak RSS of the agent-shaped process; target <= 300 MB.

Every site gets a fresh measurement and every link a fresh SNMP rate, so each scrape carries
the full series set.

    python bench/national.py            # once, writes bench/out/national
    python bench/bench_metrics.py [--inventory bench/out/national] [--scrapes 20]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from vcmon.exporter.collector import SnapshotCollector
from vcmon.exporter.view import Evaluator
from vcmon.inventory import load_inventory
from vcmon.model import LinkMeasurement, PathMeasurement
from vcmon.store import Store

BENCH = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=BENCH / "out" / "national")
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args(argv)
    if not args.inventory.exists():
        print(f"{args.inventory} missing: run python bench/national.py first", file=sys.stderr)
        return 2

    inv = load_inventory(args.inventory)
    rng = random.Random(11_000)
    now = time.time()
    store = Store()
    for code in inv.sites:
        rtt = rng.uniform(0.005, 0.2)
        store.record_path(
            PathMeasurement(code, now, rtt, rtt * 1.3, rtt / 20, rng.choice([0, 0, 0.01, 0.03]),
                            rtt_min_s=rtt * 0.9, rtt_max_s=rtt * 1.6, jitter_rfc3550_s=rtt / 25)
        )  # fmt: skip
    for link in inv.links.values():
        store.record_link(
            LinkMeasurement(link.id, now, link.up_bps * rng.random(), link.down_bps * rng.random(),
                            link.up_bps, link.down_bps, oper_up=True)
        )  # fmt: skip
    for dev in inv.devices.values():
        for mod in dev.modules:
            store.record_probe(dev.name, mod, finished_at=now, duration_s=0.4, failure=None)

    ev = Evaluator()
    t0 = time.perf_counter()
    ev.set_inventory(inv, now)
    t_topology = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev.evaluate(store.snapshot(), now)
    t_eval = time.perf_counter() - t0

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(ev.latest))
    times, size = [], 0
    for _ in range(args.scrapes):
        t0 = time.perf_counter()
        body = generate_latest(registry)
        times.append(time.perf_counter() - t0)
        size = len(body)
    series = body.count(b"\n") - body.count(b"\n#")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"inventory: {len(inv.sites)} sites, {len(inv.links)} links, {len(inv.devices)} devices")
    print(f"topology analyses on load: {t_topology * 1000:.0f} ms")
    print(f"readiness evaluation (all sites, all profiles): {t_eval * 1000:.0f} ms")
    print(
        f"/metrics render: median {statistics.median(times) * 1000:.0f} ms, "
        f"worst {max(times) * 1000:.0f} ms over {args.scrapes} scrapes "
        f"({series} series, {size / 1e6:.1f} MB); target <= 250 ms"
    )
    print(f"peak RSS: {rss_mb:.0f} MB; target <= 300 MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
