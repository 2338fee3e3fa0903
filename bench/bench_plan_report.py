#!/usr/bin/env python3
"""Plan and report benchmark on the national inventory (issue 6: <= 10 s each).

Two views, because loading 11,994 sites of YAML is not the planner's or the report's work:

* end to end: `vcmon plan DIR --format json` and `vcmon report DIR --out ...` as child
  processes (wall time around the process, max RSS of that child from os.wait4);
* in process, per stage, inventory loaded once: graph + routes, plan (ILP), waves, collect
  (readiness for every profile, loads, SPOFs, plan, waves), HTML, JSON + CSV. Wall and CPU
  time, since the machine is shared (CPU time is what the code costs; wall what a user waits).

    python bench/bench_plan_report.py [--inventory bench/out/national] [--repeat 3]

Not a test: record the figures in bench/RESULTS.md with the load average printed here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TARGET_S = 10.0


def child(argv: list[str]) -> tuple[float, float, int]:
    """(wall seconds, max RSS MB, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code:
        sys.stderr.write(err.decode(errors="replace"))
    return time.perf_counter() - start, usage.ru_maxrss / 1024, code


def stage(name: str, fn: Callable[[], Any], rows: list[tuple[str, float, float]]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    rows.append((name, time.perf_counter() - wall, time.process_time() - cpu))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=BENCH / "out" / "national")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.inventory.exists():
        subprocess.run([sys.executable, str(BENCH / "national.py")], check=True)
    sys.path.insert(0, str(REPO))
    from vcmon.inventory import load_inventory
    from vcmon.plan import plan, waves
    from vcmon.report import collect
    from vcmon.report.render import render_html, tables, to_json
    from vcmon.topology import build_graph, routes

    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as out:
        commands = {
            "vcmon plan": [
                sys.executable,
                "-m",
                "vcmon",
                "plan",
                str(args.inventory),
                "--format",
                "json",
            ],
            "vcmon report": [
                sys.executable,
                "-m",
                "vcmon",
                "report",
                str(args.inventory),
                "--out",
                out,
            ],
        }
        print(f"\n| command | median wall s | max RSS MB | runs | target {TARGET_S:.0f} s |")
        print("|---|---|---|---|---|")
        for name, argv in commands.items():
            runs = [child(argv) for _ in range(args.repeat)]
            wall = statistics.median(r[0] for r in runs)
            print(
                f"| {name} | {wall:.2f} | {max(r[1] for r in runs):.0f} | {len(runs)} | "
                f"{'ok' if wall <= TARGET_S else 'MISSED'} |"
            )

    rows: list[tuple[str, float, float]] = []
    inv = stage(
        "load inventory (not this issue's code)", lambda: load_inventory(args.inventory), rows
    )
    graph = stage("graph + routes", lambda: build_graph(inv), rows)
    r = stage("routes", lambda: routes(graph, inv.conference.bridge), rows)
    p = stage("plan (ILP, CBC)", lambda: plan(inv, graph, r), rows)
    stage("waves", lambda: waves(p), rows)
    data = stage("report: collect", lambda: collect(inv, graph, r, now=time.time()), rows)
    stage("report: HTML (vi)", lambda: render_html(data, "vi"), rows)
    stage("report: JSON + CSV rows", lambda: (to_json(data), tables(data)), rows)
    print(
        f"\n{len(inv.sites)} sites, {len(inv.links)} links; plan: {len(p.purchases)} purchases, "
        f"{len(p.ready_now)} ready now, {len(p.ready)} after, {len(p.unreachable)} unreachable"
    )
    print("\n| stage | wall s | CPU s |\n|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
    print(f"\nload average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
