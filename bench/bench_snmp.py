"""SNMP engine benchmark: IF-MIB poll of N agents, vcmon's engine vs prometheus snmp_exporter.

One net-snmp snmpd in its own namespace answers on every address of that namespace: the
benchmark puts N /32s (198.19.16.0/20) on the namespace's `lo`, each a distinct target, and
routes them from the root namespace over a veth. The namespace has 10 interfaces (lo, mgmt0,
8 veth ends), so each agent's IF-MIB table has 10 rows. Both pollers fetch the same columns
(vcmon.probers.snmp's list: HC octets, ifHighSpeed, ifOperStatus, ifInErrors, ifOutDiscards,
ifCounterDiscontinuityTime, ifName) plus sysUpTime and ifNumber.

CPU is measured per cycle: for vcmon, this process's `time.process_time()` around
`poll_many` (nothing else runs meanwhile); for snmp_exporter, its process's utime+stime from
/proc around one scrape of every target (the HTTP client's CPU is not counted: that is
Prometheus's). The snmpd CPU per cycle is shown too. Needs root, `ip`, `snmpd` and
`prometheus-snmp-exporter` (Debian 0.21: auth inside the module, no generator needed;
not in the base image: `apt-get install prometheus-snmp-exporter`).

    python bench/bench_snmp.py --agents 200 2000 --cycles 4
    python bench/bench_snmp.py --agents 2000 --cycles 2 --profile   # where vcmon's CPU goes
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vcmon.model import (
    Auth,
    Device,
    Interface,
    InterfaceMatch,
    Module,
    ProberKind,
    SecretKind,
    SecretRef,
    SnmpVersion,
)
from vcmon.probers import snmp

RUN = f"vb{os.getpid() % 100000}"
NS, MGMT = f"{RUN}n", f"{RUN}m"
MGMT_NET = "198.19.15"
TARGET_BLOCK = "198.19.16.0/20"
AGENT_PORT = 1161
EXPORTER_LISTEN = "127.0.0.1:19116"
EXTRA_VETH_PAIRS = 4
CLK_TCK = os.sysconf("SC_CLK_TCK")

COLUMNS = [
    snmp.IF_HC_IN_OCTETS, snmp.IF_HC_OUT_OCTETS, snmp.IF_HIGH_SPEED, snmp.IF_OPER_STATUS,
    snmp.IF_IN_ERRORS, snmp.IF_OUT_DISCARDS, snmp.IF_COUNTER_DISCONTINUITY_TIME, snmp.IF_NAME,
]  # fmt: skip


def sh(*args: str, stdin: str | None = None) -> None:
    subprocess.run(args, check=True, input=stdin, text=True, capture_output=True)


def addresses(n: int) -> list[str]:
    """n distinct /32s in 198.19.16.0/20, skipping .0 and .255 of each /24."""
    out = []
    for i in range(16 * 256):
        if i % 256 in (0, 255):
            continue
        out.append(f"198.19.{16 + i // 256}.{i % 256}")
        if len(out) == n:
            return out
    raise ValueError(f"at most {len(out)} agents")


@contextmanager
def lab(n: int, community: str, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The namespace with n target addresses and a running snmpd; removed on exit."""
    proc: subprocess.Popen[bytes] | None = None
    try:
        sh("ip", "netns", "add", NS)
        sh("ip", "netns", "exec", NS, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1")  # fmt: skip
        sh("ip", "link", "add", MGMT, "type", "veth", "peer", "name", "mgmt0", "netns", NS)
        sh("ip", "addr", "add", f"{MGMT_NET}.1/30", "dev", MGMT)
        sh("ip", "link", "set", MGMT, "up")
        batch = [f"addr add {MGMT_NET}.2/30 dev mgmt0", "link set mgmt0 up", "link set lo up"]
        batch += [f"addr add {a}/32 dev lo" for a in addresses(n)]
        for i in range(EXTRA_VETH_PAIRS):
            batch += [f"link add data{i} type veth peer name peer{i}",
                      f"link set data{i} up", f"link set peer{i} up"]  # fmt: skip
        sh("ip", "-n", NS, "-batch", "-", stdin="\n".join(batch) + "\n")
        sh("ip", "route", "add", TARGET_BLOCK, "via", f"{MGMT_NET}.2")
        conf = workdir / "snmpd.conf"
        conf.write_text(f"rocommunity {community} {MGMT_NET}.0/30\nrouser bench priv\n")
        users = workdir / "users.conf"  # createUser: the v3 keys are the community, twice
        users.write_text(f'createUser bench SHA "{community}" AES "{community}"\n')
        proc = subprocess.Popen(
            ["ip", "netns", "exec", NS, "snmpd", "-f", "-C", "-Ln", "-c", f"{conf},{users}",
             f"udp:{AGENT_PORT}"],
            env={**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(workdir)},
        )  # fmt: skip
        time.sleep(1.0)
        yield proc
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=5)
        subprocess.run(["ip", "route", "del", TARGET_BLOCK], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", MGMT], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", NS], check=False, capture_output=True)


def agent_udp_drops() -> int:
    """Requests the agent's namespace dropped for a full socket buffer (snmpd too slow)."""
    text = subprocess.run(["ip", "netns", "exec", NS, "cat", "/proc/net/snmp"], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    header, values = [line.split() for line in text.splitlines() if line.startswith("Udp:")][:2]
    return int(values[header.index("RcvbufErrors")])


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Cycle:
    wall_s: float
    cpu_s: float
    agent_cpu_s: float
    ok: int
    requests: int = 0
    agent_drops: int = 0
    """Requests lost to the agent's full socket buffer: each costs the poller a timeout."""


async def bench_vcmon(
    targets: list[str], cycles: int, concurrency: int, agent_pid: int, profile: bool, v3: bool
) -> tuple[float, list[Cycle]]:
    secret = SecretRef(SecretKind.ENV, "BENCH_COMMUNITY")
    auth = Auth("bench", SnmpVersion.V2C, community=secret)
    if v3:
        auth = Auth("bench3", SnmpVersion.V3, username="bench", auth_protocol="sha",
                    auth_key=secret, priv_protocol="aes", priv_key=secret)  # fmt: skip
    module = Module("bench", ProberKind.SNMP, interval_s=60, timeout_s=3.0, retries=1)
    ifaces = (Interface("data", InterfaceMatch.IFNAME, "data0"),
              Interface("mgmt", InterfaceMatch.IFNAME, "mgmt0"))  # fmt: skip
    devices = [Device(f"d{i}", "s", a, (), "bench", ifaces) for i, a in enumerate(targets)]
    jobs = [(d, auth, module) for d in devices]
    out: list[Cycle] = []
    t0 = time.process_time()
    async with snmp.SnmpEngine(concurrency=concurrency) as engine:
        startup = time.process_time() - t0
        for cycle in range(cycles):
            profiler = cProfile.Profile() if profile and cycle in (0, cycles - 1) else None
            agent0, cpu0, wall0 = proc_cpu(agent_pid), time.process_time(), time.perf_counter()
            requests0, drops0 = engine.stats()["requests"], agent_udp_drops()
            if profiler:
                profiler.enable()
            results = await engine.poll_many(jobs, AGENT_PORT)
            if profiler:
                profiler.disable()
            out.append(Cycle(time.perf_counter() - wall0, time.process_time() - cpu0,
                             proc_cpu(agent_pid) - agent0,
                             sum(r.failure is None for r in results),
                             engine.stats()["requests"] - requests0,
                             agent_udp_drops() - drops0))  # fmt: skip
            failures = Counter(r.failure.value for r in results if r.failure is not None)
            if failures:
                print(f"  vcmon cycle {cycle + 1} failures: {dict(failures)}")
            if profiler:
                text = io.StringIO()
                stats = pstats.Stats(profiler, stream=text)
                stats.sort_stats("cumulative").print_stats(18)
                stats.sort_stats("tottime").print_stats(14)
                print(f"--- vcmon cycle {cycle + 1} profile ---\n{text.getvalue()}")
        stats = engine.stats()
        print("  vcmon engine: " + ", ".join(f"{k} {v}" for k, v in stats.items()
                                             if v and not k.startswith("failures_")))  # fmt: skip
    return startup, out


def exporter_config(community: str, v3: bool) -> str:
    auth = [f"    community: {community}"]
    if v3:
        auth = ["    security_level: authPriv", "    username: bench", f"    password: {community}",
                "    auth_protocol: SHA", "    priv_protocol: AES",
                f"    priv_password: {community}"]  # fmt: skip
    lines = ["ifmib:", f"  version: {3 if v3 else 2}", "  auth:", *auth,
             "  max_repetitions: 25", "  retries: 1", "  timeout: 3s", "  get:",
             "  - 1.3.6.1.2.1.1.3.0", "  - 1.3.6.1.2.1.2.1.0", "  walk:"]  # fmt: skip
    lines += [f"  - {'.'.join(map(str, c))}" for c in COLUMNS]
    lines += ["  metrics:"]
    for name, oid in (("sysUpTime", "1.3.6.1.2.1.1.3"), ("ifNumber", "1.3.6.1.2.1.2.1")):
        lines += [f"  - name: {name}", f"    oid: {oid}", "    type: gauge"]
    names = ["ifHCInOctets", "ifHCOutOctets", "ifHighSpeed", "ifOperStatus", "ifInErrors",
             "ifOutDiscards", "ifCounterDiscontinuityTime", "ifName"]  # fmt: skip
    kinds = ["counter", "counter", "gauge", "gauge", "counter", "counter", "gauge",
             "DisplayString"]  # fmt: skip
    for name, column, kind in zip(names, COLUMNS, kinds, strict=True):
        lines += [f"  - name: {name}", f"    oid: {'.'.join(map(str, column))}",
                  f"    type: {kind}", "    indexes:", "    - labelname: ifIndex",
                  "      type: gauge"]  # fmt: skip
    return "\n".join(lines) + "\n"


def bench_exporter(targets: list[str], cycles: int, concurrency: int, config: Path,
                   agent_pid: int) -> list[Cycle]:  # fmt: skip
    proc = subprocess.Popen(
        ["prometheus-snmp-exporter", f"--config.file={config}",
         f"--web.listen-address={EXPORTER_LISTEN}", "--log.level=error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(50):
            try:
                urllib.request.urlopen(f"http://{EXPORTER_LISTEN}/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)

        def scrape(addr: str) -> bool:
            url = f"http://{EXPORTER_LISTEN}/snmp?module=ifmib&target={addr}:{AGENT_PORT}"
            try:
                with urllib.request.urlopen(url, timeout=30) as reply:
                    body = reply.read()
            except OSError:  # HTTP 500: the exporter's SNMP walk timed out
                return False
            return b"ifHCInOctets{" in body and b"snmp_scrape_pdus_returned" in body

        out = []
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for _ in range(cycles):
                agent0, cpu0, wall0 = proc_cpu(agent_pid), proc_cpu(proc.pid), time.perf_counter()
                drops0 = agent_udp_drops()
                ok = sum(pool.map(scrape, targets))
                out.append(Cycle(time.perf_counter() - wall0, proc_cpu(proc.pid) - cpu0,
                                 proc_cpu(agent_pid) - agent0, ok,
                                 agent_drops=agent_udp_drops() - drops0))  # fmt: skip
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def show(name: str, cycles: list[Cycle]) -> None:
    for i, c in enumerate(cycles, 1):
        print(f"  {name:14} cycle {i}: wall {c.wall_s:7.2f} s  CPU {c.cpu_s:6.2f} s  "
              f"snmpd CPU {c.agent_cpu_s:5.2f} s  ok {c.ok}  snmpd drops {c.agent_drops}"
              + (f"  SNMP requests {c.requests}" if c.requests else ""))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-exporter", action="store_true")
    parser.add_argument("--v3", action="store_true", help="SNMPv3 authPriv (SHA/AES)")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("snmpd"):
        sys.exit("needs root and snmpd")
    community = secrets.token_hex(8)
    os.environ["BENCH_COMMUNITY"] = community
    import pysnmp

    print(f"{'v3 authPriv SHA/AES' if args.v3 else 'v2c'}; pysnmp {pysnmp.__version__}, "
          f"python {sys.version.split()[0]}, "
          f"load {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")  # fmt: skip
    for n in args.agents:
        with tempfile.TemporaryDirectory() as tmp, lab(n, community, Path(tmp)) as agent:
            targets = addresses(n)
            startup, ours = asyncio.run(
                bench_vcmon(
                    targets, args.cycles, args.concurrency, agent.pid, args.profile, args.v3
                )
            )
            print(f"{n} agents (engine startup CPU {startup:.2f} s):")
            show("vcmon", ours)
            later = [c.cpu_s for c in ours[1:]] or [ours[0].cpu_s]
            later_cpu = sum(later) / len(later)
            print(f"  vcmon first/later CPU ratio: {ours[0].cpu_s / later_cpu:.2f}")
            if args.no_exporter or not shutil.which("prometheus-snmp-exporter"):
                continue
            config = Path(tmp) / "snmp.yml"
            config.write_text(exporter_config(community, args.v3))
            theirs = bench_exporter(targets, args.cycles, args.concurrency, config, agent.pid)
            show("snmp_exporter", theirs)
            their_cpu = sum(c.cpu_s for c in theirs[1:]) / max(1, len(theirs) - 1)
            print(f"  vcmon/snmp_exporter CPU per later cycle: {later_cpu / their_cpu:.2f}")


if __name__ == "__main__":
    main()
