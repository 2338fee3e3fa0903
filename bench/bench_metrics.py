#!/usr/bin/env python3
"""Benchmark the monitor's hot paths on a national snapshot (~12,000 sites, ~12,600 links).

Measures, in one agent-shaped process (store, evaluator, HTTP server on 127.0.0.1):
- one readiness evaluation of the whole snapshot (what `vcmon run` does every >= 5 s);
- the /metrics body (text and gzip) of a View: the first one after an inventory load
  (everything formatted), then new Views where a third of the paths, links and probes were
  re-measured (what the agent sees between evaluations), median and worst;
- scrapes by curl over real HTTP (what Prometheus sees; target <= 250 ms) of a View
  already rendered, gzip and plain, and right after a new View while it is rendered;
- `promtool check metrics` on the national body;
- peak RSS; target <= 300 MB.
With --reference, also prometheus_client's generate_latest over the SnapshotCollector (the
reference; ~10 s and ~+200 MB, so last and apart from the RSS figure) and a byte comparison.

    python bench/national.py            # once, writes bench/out/national
    python bench/bench_metrics.py [--inventory bench/out/national] [--views 6] [--scrapes 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import prometheus_client

from vcmon.exporter.server import make_server, serve_in_background
from vcmon.exporter.view import Evaluator
from vcmon.inventory import load_inventory
from vcmon.model import Inventory, Level, LinkMeasurement, PathMeasurement
from vcmon.monitor import return_big_buffers_to_the_os
from vcmon.store import Store

BENCH = Path(__file__).resolve().parent


def fill(store: Store, inv: Inventory, rng: random.Random, now: float) -> None:
    """A fresh measurement for every site, a fresh SNMP rate for every link, every probe
    run: each View carries the full series set."""
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
    for _ in range(2000):
        store.record_lag(rng.expovariate(200))


def remeasure(store: Store, rng: random.Random, now: float, share: float) -> None:
    """New measurement objects (slightly different numbers) for `share` of everything."""
    snap = store.snapshot()
    for pm in snap.paths.values():
        if rng.random() < share:
            rtt = (pm.rtt_p50_s or 0.05) * rng.uniform(0.9, 1.1)
            store.record_path(dataclasses.replace(pm, measured_at=now, rtt_p50_s=rtt))
    for lm in snap.links.values():
        if rng.random() < share:
            used = lm.capacity_up_bps * rng.random()
            store.record_link(dataclasses.replace(lm, measured_at=now, used_up_bps=used))
    for device, module in snap.probes:
        if rng.random() < share:
            store.record_probe(device, module, finished_at=now, duration_s=0.3, failure=None)


def failover_times(ev: Evaluator, store: Store, inv: Inventory, now: float, n: int) -> str:
    """Evaluations once `n` district uplinks report ifOperStatus down: the first reroutes
    (graph without them, paths, conference loads), the next reuses that. The links are up
    again afterwards."""
    links = store.snapshot().links
    uplinks = [
        ln.id
        for ln in inv.links.values()
        if inv.sites[ln.site].level is Level.DISTRICT and ln.id in links
    ][:n]
    for link in uplinks:
        store.record_link(dataclasses.replace(links[link], oper_up=False, measured_at=now))
    first = timed(lambda: ev.evaluate(store.snapshot(), now))
    again = timed(lambda: ev.evaluate(store.snapshot(), now))
    for link in uplinks:
        store.record_link(links[link])
    ev.evaluate(store.snapshot(), now)
    return f"first (reroute) {first * 1000:.0f} ms, next {again * 1000:.0f} ms"


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms, worst {max(values) * 1000:.0f} ms"


def scrape(url: str, gzipped: bool) -> float:
    """Seconds for one whole scrape, by curl in its own process (a client in this one would
    count its copy of the body in the agent's RSS). Raw bytes, as Prometheus reads them."""
    headers = ["-H", "Accept-Encoding: gzip"] if gzipped else []
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}", *headers, url],
        capture_output=True,
        check=True,
        text=True,
    )
    return float(done.stdout)


def promtool_check(chunks: tuple[bytes, ...]) -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        return "promtool not installed"
    with subprocess.Popen(
        [promtool, "check", "metrics"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        for chunk in chunks:
            proc.stdin.write(chunk)
        proc.stdin.close()
        problems = proc.stdout.read().decode().strip().splitlines()
    return f"exit {proc.returncode}, {len(problems)} problem line(s)" + (
        f": {problems[:3]}" if problems else ""
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=BENCH / "out" / "national")
    parser.add_argument("--views", type=int, default=6)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--share", type=float, default=1 / 3, help="re-measured per View")
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--down", type=int, default=5, help="district uplinks failed once")
    args = parser.parse_args(argv)
    if not args.inventory.exists():
        print(f"{args.inventory} missing: run python bench/national.py first", file=sys.stderr)
        return 2

    return_big_buffers_to_the_os()  # as `vcmon run` does at start
    inv = load_inventory(args.inventory)
    rng = random.Random(11_000)
    now = time.time()
    store = Store()
    fill(store, inv, rng, now)
    ev = Evaluator()
    t_topology = timed(lambda: ev.set_inventory(inv, now))
    t_eval = timed(lambda: ev.evaluate(store.snapshot(), now))
    failover = failover_times(ev, store, inv, now, args.down)

    # one Exposition, the server's, as in the agent; the timings wait for each View's body
    # whichever thread (this one or the server's) renders it
    server, _ = make_server("127.0.0.1:0", ev.latest)
    serve_in_background(server)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    exposition = server.exposition
    try:
        t_first = timed(exposition.chunks)
        renders, cpu = [], []
        for i in range(args.views):
            remeasure(store, rng, now + i + 1, args.share)
            ev.evaluate(store.snapshot(), now + i + 1)
            c0 = time.process_time()
            renders.append(timed(exposition.chunks))
            cpu.append(time.process_time() - c0)
        plain = exposition.chunks()
        size = sum(map(len, plain))
        zipped = sum(map(len, exposition.chunks(gzipped=True)))
        series = sum(c.count(b"\n") - c.count(b"\n#") for c in plain) - 2  # build info's
        gz = [scrape(url, True) for _ in range(args.scrapes)]
        text = [scrape(url, False) for _ in range(max(3, args.scrapes // 4))]
        # a new View: rendered in the server's thread; a scrape waits 0.1 s at most for it
        remeasure(store, rng, now + args.views + 1, args.share)
        ev.evaluate(store.snapshot(), now + args.views + 1)
        during = [scrape(url, True) for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    check = promtool_check(plain)

    print(
        f"python {platform.python_version()}, prometheus_client {_version()}, "
        f"load average {Path('/proc/loadavg').read_text().split()[:3]}"
    )
    print(f"inventory: {len(inv.sites)} sites, {len(inv.links)} links, {len(inv.devices)} devices")
    print(f"topology analyses on load: {t_topology * 1000:.0f} ms")
    print(f"readiness evaluation (all sites, all profiles): {t_eval * 1000:.0f} ms")
    print(f"evaluation with {args.down} district uplinks reported down: {failover}")
    print(f"body: {series} series, {size / 1e6:.1f} MB, gzip {zipped / 1e6:.1f} MB")
    print(f"first View after an inventory load: render + gzip {t_first * 1000:.0f} ms")
    print(
        f"new View ({args.share:.0%} re-measured), {args.views} Views: render + gzip "
        f"{ms(renders)}; CPU per View {ms(cpu)}"
    )
    print(f"HTTP scrape of a rendered View, gzip ({len(gz)}x): {ms(gz)}")
    print(f"HTTP scrape of a rendered View, plain ({len(text)}x): {ms(text)}")
    print(f"HTTP scrape while the server renders a new View, gzip (3x): {ms(during)}")
    print(f"promtool check metrics (national body): {check}")
    print(f"peak RSS: {rss_mb:.0f} MB; target <= 300 MB")
    if args.reference:
        print(reference(ev, b"".join(plain)))
    return 0


def _version() -> str:
    from importlib.metadata import version

    return version(prometheus_client.__name__)


def reference(ev: Evaluator, body: bytes) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    from vcmon.exporter.collector import SnapshotCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(ev.latest))
    t0 = time.perf_counter()
    slow = generate_latest(registry)
    took = time.perf_counter() - t0
    same = "identical bytes" if slow == body else "DIFFERENT bytes"
    return f"reference (collector + generate_latest): {took * 1000:.0f} ms, {same}"


if __name__ == "__main__":
    raise SystemExit(main())
