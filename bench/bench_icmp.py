"""ICMP engine vs fping: COUNT echoes to each of N targets, same targets, same run.

Builds two namespaces of its own (prober P, targets T with N /32s on lo, in 198.18.0.0/15,
joined by a veth), then for each N runs, alternately and REPEAT times each:

    ip netns exec P fping -q -c COUNT -p PERIOD -i INTERVAL -t TIMEOUT -b DATA -f targets
    ip netns exec P python bench/bench_icmp.py child ...   (IcmpEngine.probe_many, same knobs)

Wall time and CPU (user+sys, from os.wait4 of that one process) are measured the same way
for both; for the engine, the child also reports the CPU of probe_many alone (excluding the
interpreter start and imports), and a child given no targets measures that one-off cost
(interpreter start, imports, the scapy template, exit). The child imports only what a probe
needs (the parent's tools are imported in the parent). Namespaces are removed at the end,
also on failure.

    python bench/bench_icmp.py --targets 2000 10000 --repeat 3
    python bench/bench_icmp.py --targets 2000 --profile    # cProfile of the engine child
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# The engine child (what a one-shot probe pays) imports only the above, asyncio and vcmon;
# the parent's tools (argparse, subprocess, cProfile ...) are imported where used.
BASE_INT = 0xC6120001  # 198.18.0.1: targets counted up from here (RFC 2544 range)
P_ADDR, T_ADDR = "198.19.254.1", "198.19.254.2"


@dataclass(frozen=True)
class Knobs:
    count: int
    period_ms: float
    interval_ms: float
    timeout_ms: float
    data_bytes: int


@dataclass(frozen=True)
class Run:
    tool: str
    targets: int
    wall_s: float
    cpu_s: float
    replies: int
    probe_cpu_s: float | None = None
    probe_wall_s: float | None = None


def target_addresses(n: int) -> list[str]:
    import ipaddress

    return [str(ipaddress.IPv4Address(BASE_INT + i)) for i in range(n)]


def sh(argv: list[str], stdin: str | None = None) -> str:
    import subprocess

    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True).stdout


def build(prefix: str, n: int) -> tuple[str, str]:
    p, t = f"{prefix}p", f"{prefix}t"
    sh(["ip", "-batch", "-"], f"netns add {p}\nnetns add {t}\n")
    sh(["ip", "link", "add", f"{prefix}a", "netns", p, "type", "veth", "peer", "name",
        f"{prefix}b", "netns", t])  # fmt: skip
    sh(["ip", "-n", p, "-batch", "-"], "\n".join([
        "link set lo up", f"addr add {P_ADDR}/30 dev {prefix}a", f"link set {prefix}a up",
        f"route add 198.18.0.0/16 via {T_ADDR}",
    ]) + "\n")  # fmt: skip
    lines = ["link set lo up", f"addr add {T_ADDR}/30 dev {prefix}b", f"link set {prefix}b up"]
    lines += [f"addr add {a}/32 dev lo" for a in target_addresses(n)]
    sh(["ip", "-n", t, "-batch", "-"], "\n".join(lines) + "\n")
    # Echo replies must not be rate-limited or dropped by the kernel on either side.
    for ns in (p, t):
        sh(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0",
            "net.ipv4.icmp_msgs_per_sec=1000000", "net.ipv4.icmp_msgs_burst=1000000"])  # fmt: skip
    return p, t


def teardown(*names: str) -> None:
    import subprocess

    for ns in names:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def timed(argv: list[str]) -> tuple[float, float, str]:
    """(wall s, user+sys CPU s of that process, stdout+stderr)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    return wall, usage.ru_utime + usage.ru_stime, text


def run_fping(ns: str, targets_file: Path, n: int, k: Knobs) -> Run:
    import re

    wall, cpu, out = timed([
        "ip", "netns", "exec", ns, "fping", "-q", "-c", str(k.count), "-p", str(k.period_ms),
        "-i", str(k.interval_ms), "-t", str(k.timeout_ms), "-b", str(k.data_bytes),
        "-f", str(targets_file),
    ])  # fmt: skip
    replies = sum(int(m[1]) for m in re.finditer(r"xmt/rcv/%loss = \d+/(\d+)/", out))
    return Run("fping", n, wall, cpu, replies)


def run_engine(ns: str, targets_file: Path, n: int, k: Knobs, profile: Path | None) -> Run:
    argv = ["ip", "netns", "exec", ns, sys.executable, __file__, "child", str(targets_file),
            json.dumps(k.__dict__)]  # fmt: skip
    if profile is not None:
        argv.append(str(profile))
    wall, cpu, out = timed(argv)
    child = json.loads(out.strip().splitlines()[-1])
    return Run("vcmon", n, wall, cpu, child["replies"], child["probe_cpu_s"], child["probe_wall_s"])


def child(targets_file: str, knobs_json: str, profile: str | None) -> None:
    """Inside P: probe every target with the engine, print replies and probe_many's CPU."""
    import asyncio
    import resource

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from vcmon.model import Module, ProberKind
    from vcmon.probers.icmp import IcmpEngine

    k = Knobs(**json.loads(knobs_json))
    targets = Path(targets_file).read_text().split()
    module = Module(
        "bench", ProberKind.ICMP, 60.0, k.timeout_ms / 1000, count=k.count,
        spacing_s=k.period_ms / 1000, size_bytes=k.data_bytes + 28, dscp=0,
    )  # fmt: skip

    async def main() -> int:
        async with IcmpEngine(min_interval_s=k.interval_ms / 1000) as eng:
            eng._shape(module)  # build the scapy template (and import scapy) before timing
            before = resource.getrusage(resource.RUSAGE_SELF)
            start = time.perf_counter()
            results = await eng.probe_many(targets, module)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            print(json.dumps({"replies": sum(r.received for r in results.values()),
                              "probe_cpu_s": cpu, "probe_wall_s": wall}))  # fmt: skip
            return 0

    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.runcall(asyncio.run, main())
        prof.dump_stats(profile)
    else:
        asyncio.run(main())


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
        return 0
    import argparse
    import pstats
    import secrets
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--period-ms", type=float, default=20.0)
    ap.add_argument("--interval-ms", type=float, default=0.1)
    ap.add_argument("--timeout-ms", type=float, default=1000.0)
    ap.add_argument("--data-bytes", type=int, default=56)
    ap.add_argument("--profile", action="store_true", help="cProfile the engine child")
    args = ap.parse_args()
    k = Knobs(args.count, args.period_ms, args.interval_ms, args.timeout_ms, args.data_bytes)
    prefix = f"bi{secrets.token_hex(3)}"
    names: tuple[str, ...] = ()
    runs: list[Run] = []
    print(f"# load average {os.getloadavg()}, fping {sh(['fping', '-v']).split()[-1]}, "
          f"python {sys.version.split()[0]}, knobs {k}", flush=True)  # fmt: skip
    try:
        names = build(prefix, max(args.targets))
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.targets:
                targets_file = Path(tmp) / f"targets-{n}"
                targets_file.write_text("\n".join(target_addresses(n)) + "\n")
                empty = Path(tmp) / "targets-0"
                empty.write_text("")
                for i in range(args.repeat):
                    profile = Path(tmp) / "engine.prof" if args.profile and i == 0 else None
                    batch = [run_fping(names[0], targets_file, n, k),
                             run_engine(names[0], targets_file, n, k, profile)]  # fmt: skip
                    if n == args.targets[0]:  # the one-off cost, between the same runs
                        batch.append(run_engine(names[0], empty, 0, k, None))
                    for run in batch:
                        runs.append(run)
                        print(run, flush=True)
                    if profile is not None:
                        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(15)
    finally:
        teardown(*names)
    print(f"# load average at the end {os.getloadavg()}")
    print("\n| targets | tool | process wall s | process CPU s (worst) | replies "
          "| probe_many wall s | probe_many CPU s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    medians: dict[tuple[int, str], tuple[float, float, float]] = {}
    for n in [0, *args.targets]:
        for tool in ("fping", "vcmon"):
            rs = [r for r in runs if r.targets == n and r.tool == tool]
            if not rs:
                continue
            fields = ("wall_s", "cpu_s", "probe_cpu_s", "probe_wall_s")
            wall, cpu, pcpu, pwall = (median([getattr(r, f) or 0.0 for r in rs]) for f in fields)
            medians[n, tool] = wall, cpu, pcpu
            worst = max(r.cpu_s for r in rs)
            extra = f"{pwall:.2f} | {pcpu:.2f}" if tool == "vcmon" and n else " | "
            print(f"| {n} | {tool} | {wall:.2f} | {cpu:.2f} ({worst:.2f}) | "
                  f"{min(r.replies for r in rs)}/{n * k.count} | {extra} |")  # fmt: skip
    for n in args.targets:
        (fw, fc, _), (vw, vc, vp) = medians[n, "fping"], medians[n, "vcmon"]
        print(f"# {n} targets, vcmon / fping (medians): wall {vw / fw:.2f}, process CPU "
              f"{vc / fc:.2f}x, probe_many CPU {vp / fc:.2f}x")  # fmt: skip
    return 0


def median(values: list[float]) -> float:
    """The middle value (upper middle for an even count, as before).

    >>> median([3.0, 1.0, 2.0]), median([4.0, 1.0])
    (2.0, 4.0)
    """
    return sorted(values)[len(values) // 2]


if __name__ == "__main__":
    sys.exit(main())
