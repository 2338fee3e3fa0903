#!/usr/bin/env python3
"""Core benchmark: `vcmon validate` and `vcmon analyze` (table and json) on the national inventory.

Target (issue 2, point 10): validate + analyze <= 2 s and <= 500 MB max RSS. Each command
runs as its own subprocess, `--repeat` times, with an empty, a primed and a primed-then-one-
file-edited cache; wall time is measured around the process and max RSS comes from
os.wait4's rusage for that very child (so nothing else is counted).

    python bench/bench_core.py                 # generate bench/out/national if absent, run
    python bench/bench_core.py --stages        # also time each stage in-process
    python bench/bench_core.py --profile       # also cProfile the pipeline: where time goes

Not a test: numbers depend on the machine and its load; record them in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_INVENTORY = BENCH / "out" / "national"
TARGET_S = 2.0
TARGET_MB = 500.0


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    """User + system time of the child: less sensitive than wall time to a busy machine."""
    max_rss_mb: float
    returncode: int
    stderr: str


def run_once(argv: list[str], env: dict[str, str]) -> Run:
    """One child process: wall time and its own max RSS (Linux ru_maxrss is in KiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    stderr = proc.stderr.read()  # small; read before waiting so the pipe cannot fill
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, usage.ru_maxrss / 1024, proc.returncode, stderr)


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for dist in ("vcmon", "PyYAML", "networkx", "jsonschema", "fastjsonschema"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist} absent")
    import yaml

    libyaml = "with libyaml" if yaml.__with_libyaml__ else "pure-Python yaml"
    return (
        f"{cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
        f"Python {platform.python_version()}, {', '.join(versions)} ({libyaml}); "
        f"{platform.system()} {platform.release()}"
    )


def inventory_size(path: Path) -> str:
    files = sorted(path.glob("*.yaml"))
    size = sum(f.stat().st_size for f in files)
    return f"{len(files)} files, {size / 1e6:.1f} MB"


CACHES = ("cold", "edited", "warm")
"""The cache before each `validate; analyze; analyze --format json` sequence. cold: empty;
edited: primed, then one province file changed (what a planner pays after editing a file);
warm: primed, nothing changed. Within a sequence, analyze finds what validate cached, as it
would for `vcmon validate X && vcmon analyze X`."""


def bench_commands(inventory: Path, repeat: int) -> bool:
    """`repeat` sequences per cache state of CACHES; returns whether every run succeeded.

    The inventory loader caches parsed documents and resolved inventories by content
    (vcmon/inventory/_cache.py); VCMON_CACHE_DIR points it at a scratch directory so the
    user's cache is left alone. The inventory is copied to the scratch directory, so the
    edited runs can change a file without touching bench/out.
    """
    runs: dict[tuple[str, str], list[Run]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="vcmon-bench-") as scratch:
        copy = Path(scratch) / "national"
        shutil.copytree(inventory, copy)
        for name in copy.glob("*.yaml"):  # relative includes of probes/ must still resolve
            text = name.read_text(encoding="utf-8")
            if "../probes/" in text:
                fixed = re.sub(r"(\.\./)+probes/", f"{REPO / 'probes'}/", text)
                name.write_text(fixed, encoding="utf-8")
        edited = sorted(copy.glob("p*.yaml"))[0]
        rel = os.path.relpath(copy, REPO)
        commands = {
            "validate": [sys.executable, "-m", "vcmon", "validate", rel],
            "analyze": [sys.executable, "-m", "vcmon", "analyze", rel],
            "analyze json": [sys.executable, "-m", "vcmon", "analyze", rel, "--format", "json"],
        }
        # Python's own bytecode cache on, as after any normal install (this machine's
        # environment sets PYTHONDONTWRITEBYTECODE, which recompiles vcmon on every run).
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        base["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")
        compile_vcmon = [sys.executable, "-m", "compileall", "-q", str(REPO / "vcmon")]
        subprocess.run(compile_vcmon, env=base, check=True, stdout=subprocess.DEVNULL)
        primed = {**base, "VCMON_CACHE_DIR": str(Path(scratch) / "primed")}
        run_once(commands["validate"], primed)
        for cache in CACHES:
            for i in range(repeat):
                env = primed
                if cache == "cold":
                    env = {**base, "VCMON_CACHE_DIR": str(Path(scratch) / f"cold-{i}")}
                elif cache == "edited":
                    with edited.open("a", encoding="utf-8") as out:
                        out.write(f"# edited before sequence {i}\n")
                for name, argv in commands.items():
                    runs[name, cache].append(run_once(argv, env))

    print(
        "| command | cache | runs | wall min / median / max (s) | CPU median (s) | max RSS (MB) |"
    )
    print("|---|---|---|---|---|---|")
    cpu: dict[tuple[str, str], float] = {}
    peak, ok = 0.0, True
    for (name, cache), done in runs.items():
        walls = [r.wall_s for r in done]
        rss = max(r.max_rss_mb for r in done)
        cpu[name, cache] = statistics.median(r.cpu_s for r in done)
        peak = max(peak, rss)
        shown = " ".join(commands[name][2:]).replace(rel, "bench/out/national")
        print(
            f"| `python -m {shown}` | {cache} | {len(done)} | {min(walls):.2f} / "
            f"{statistics.median(walls):.2f} / {max(walls):.2f} | {cpu[name, cache]:.2f}"
            f" | {rss:.0f} |"
        )
        failed = [r for r in done if r.returncode != 0]
        if failed:
            ok = False
            tail = "\n".join(failed[0].stderr.strip().splitlines()[-5:])
            print(f"\n{name} failed (exit {failed[0].returncode}):\n{tail}\n")
    print()
    for analyze in ("analyze", "analyze json"):
        for cache in CACHES:
            total = cpu["validate", cache] + cpu[analyze, cache]
            met = ok and total <= TARGET_S and peak <= TARGET_MB
            print(
                f"validate + {analyze}, {cache}: {total:.2f} s CPU (sum of medians), peak "
                f"{peak:.0f} MB; target <= {TARGET_S:g} s and <= {TARGET_MB:g} MB: "
                f"{'met' if met else 'MISSED'}"
            )
    return ok


def pipeline(inventory: Path) -> list[tuple[str, Callable[[], Any]]]:
    """The stages `analyze` runs, as closures sharing state, for in-process timing.

    The caches are disabled here, so the load stage is always the cold one.
    """
    os.environ["VCMON_CACHE_DIR"] = ""
    from vcmon import topology
    from vcmon.inventory import load_inventory

    state: dict[str, Any] = {}

    def load() -> None:
        state["inv"] = load_inventory(inventory)

    def graph() -> None:
        state["graph"] = topology.build_graph(state["inv"])

    def route() -> None:
        state["routes"] = topology.routes(state["graph"], state["inv"].conference.bridge)

    def load_mcu() -> None:
        inv = state["inv"]
        scenario = topology.Scenario(
            frozenset(inv.sites), inv.profiles[inv.conference.profile], inv.conference.topology
        )
        profiles = list(inv.profiles.values())
        state["loads"] = topology.conference_loads(
            state["graph"], state["routes"], scenario, profiles
        )

    def spof() -> None:
        topology.spofs(state["graph"], state["inv"].conference.bridge)

    def assess() -> None:
        from vcmon import readiness

        inv = state["inv"]
        readiness.assess(
            inv,
            state["graph"],
            state["routes"],
            frozenset(inv.sites),
            inv.conference.topology,
            cascade_at=frozenset(inv.conference.cascade_at),
            profiles=list(inv.profiles),
            loads=state["loads"],
        )

    return [
        ("inventory.load_inventory", load),
        ("topology.build_graph", graph),
        ("topology.routes", route),
        ("topology.conference_loads (mcu, all sites, every profile)", load_mcu),
        ("topology.spofs", spof),
        ("readiness.assess (all sites, every profile)", assess),
    ]


def bench_stages(inventory: Path) -> None:
    from vcmon.memory import gc_paused

    print("\n| stage (in-process) | wall (s) | CPU (s) |\n|---|---|---|")
    total_wall = total_cpu = 0.0
    for name, stage in pipeline(inventory):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            with gc_paused():  # as `vcmon analyze` runs them (cmd_analyze)
                stage()
        except (ImportError, AttributeError) as exc:
            print(f"| {name} | not available: {exc} | |")
            break
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        total_wall, total_cpu = total_wall + wall, total_cpu + cpu
        print(f"| {name} | {wall:.3f} | {cpu:.3f} |")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| total | {total_wall:.3f} | {total_cpu:.3f} |\n\nmax RSS of this process: {rss:.0f} MB"
    )


def profile(inventory: Path, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _, stage in pipeline(inventory):
        stage()
    profiler.disable()
    stats = pstats.Stats(profiler)
    # Own time summed per source file: says which module to optimise first.
    per_file: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, tottime, _, _) in raw.items():
        per_file[_short(filename)] += tottime
    print(f"\nOwn time per module (cProfile, top {top}):")
    for filename, tottime in sorted(per_file.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {tottime:7.3f} s  {filename}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(f"\nTop {top} functions by cumulative time:\n{out.getvalue()}")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/vcmon/", "/lib/python"):
        if marker in filename:
            return filename[filename.index(marker) :].lstrip("/")
    return filename


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=DEFAULT_INVENTORY)
    parser.add_argument("--repeat", type=int, default=3, help="0: skip the subprocess runs")
    parser.add_argument("--stages", action="store_true", help="time each stage in-process")
    parser.add_argument("--profile", action="store_true", help="cProfile the pipeline")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    if not args.inventory.exists():
        sys.path.insert(0, str(BENCH))
        from national import generate

        generate(args.inventory)
    print(f"machine: {machine()}")
    print(f"inventory: {args.inventory} ({inventory_size(args.inventory)})\n")
    ok = bench_commands(args.inventory, args.repeat) if args.repeat > 0 else True
    if args.stages:
        bench_stages(args.inventory)
    if args.profile:
        profile(args.inventory, args.top)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
