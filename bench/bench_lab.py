"""Lab benchmark: `vcmon lab up` / `down` on the full Quảng Ngãi sample (189 namespaces,
221 veths, 188 snmpd agents), and flat mode with many ping targets measured by fping.

Targets (issue 3): full province up <= 60 s, down <= 15 s on a 2-core machine. Needs root,
iproute2, snmpd and fping. Records nothing by itself: paste the output into RESULTS.md.

    python bench/bench_lab.py --repeat 3
    python bench/bench_lab.py --repeat 1 --flat 2000 10000
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from vcmon import lab
from vcmon.inventory import load_inventory
from vcmon.lab.lab import read_state
from vcmon.lab.netns import pids_in
from vcmon.lab.scenario import parse_scenario

REPO = Path(__file__).parents[1]


def _rss_mb(namespaces: tuple[str, ...], daemon_pid: int) -> float:
    """Resident memory of the daemon and of everything in the lab's namespaces (agents)."""
    pids = {daemon_pid, *pids_in(namespaces)}
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def province(repeat: int) -> None:
    inv = load_inventory(REPO / "inventory" / "quang-ngai.yaml")
    ups, downs = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            sdir = Path(tmp) / "lab"
            t = time.monotonic()
            state = lab.up(inv, state_dir=sdir, prefix=f"b{secrets.token_hex(2)}-")
            ups.append(time.monotonic() - t)
            time.sleep(2)  # agents finish starting
            st = lab.status(sdir)
            rss = _rss_mb(state.namespaces, state.daemon_pid)
            phases = dict(read_state(sdir)["timings"])  # type: ignore[index]
            phases |= json.loads((sdir / "daemon.ready").read_text())["timings"]
            print("  phases: " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))
            print(f"  up {ups[-1]:.1f} s: {len(state.namespaces)} namespaces, "
                  f"{st.agents_alive if st else 0}/{st.agents_expected if st else 0} agents, "
                  f"RSS {rss:.0f} MB")  # fmt: skip
            t = time.monotonic()
            lab.down(sdir)
            downs.append(time.monotonic() - t)
            print(f"  down {downs[-1]:.1f} s")
    print(f"province: up median {statistics.median(ups):.1f} s (max {max(ups):.1f}), "
          f"down median {statistics.median(downs):.1f} s (max {max(downs):.1f})")  # fmt: skip


def flat(targets: int) -> None:
    inv = load_inventory(REPO / "inventory" / "example.yaml")
    text = f"version: 1\nagents: {{communes: false}}\nflat: {{targets: {targets}, delay: 5ms}}\n"
    sc = parse_scenario(text)
    with tempfile.TemporaryDirectory() as tmp:
        sdir = Path(tmp) / "lab"
        t = time.monotonic()
        state = lab.up(inv, sc, state_dir=sdir, prefix=f"f{secrets.token_hex(2)}-")
        up_s = time.monotonic() - t
        try:
            addrs = lab.flat_addresses(lab.build_plan(inv, sc, state.prefix))
            period_ms = max(10, int(targets * 0.5))  # each target's period at 2,000 echo/s
            t = time.monotonic()
            cpu0 = os.times()
            proc = subprocess.run(
                ["ip", "netns", "exec", state.noc, "fping", "-C", "10", "-q", "-i", "0.5",
                 "-p", str(period_ms), "-t", "1000", *addrs],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            wall = time.monotonic() - t
            cpu1 = os.times()
            fping_cpu = sum(cpu1[2:4]) - sum(cpu0[2:4])  # children's user + system
            rtts = sorted(float(x) / 1000 - 0.005 for line in proc.stderr.splitlines()
                          for x in line.split(":")[1].split() if x != "-")  # fmt: skip
            sent = 10 * targets
            p50 = rtts[len(rtts) // 2] * 1e3
            p95 = rtts[int(0.95 * len(rtts))] * 1e3
            p99 = rtts[int(0.99 * len(rtts))] * 1e3
            print(f"flat {targets}: up {up_s:.1f} s; fping 10 x {targets} at 2,000/s: "
                  f"{wall:.1f} s wall, fping CPU {fping_cpu:.2f} s; "
                  f"replies {len(rtts)}/{sent}; responder error p50 {p50:.3f} ms, "
                  f"p95 {p95:.3f} ms, p99 {p99:.3f} ms")  # fmt: skip
        finally:
            t = time.monotonic()
            lab.down(sdir)
            print(f"  down {time.monotonic() - t:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--flat", type=int, nargs="*", default=[])
    ap.add_argument("--no-province", action="store_true")
    args = ap.parse_args()
    for var, value in (("VCMON_SNMP_COMMUNITY", "benchcommunity"),
                       ("VCMON_SNMP_AUTH_KEY", "benchauthkey1"),
                       ("VCMON_SNMP_PRIV_KEY", "benchprivkey1")):  # fmt: skip
        os.environ.setdefault(var, value)
    if not args.no_province:
        province(args.repeat)
    for n in args.flat:
        flat(n)


if __name__ == "__main__":
    main()
