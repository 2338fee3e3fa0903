"""One small lab (the shape of inventory/example.yaml), measured with the system's own
tools from the NOC namespace: traceroute, ping, fping, iperf3, snmpget. Every expected
number comes from the lab's ground-truth JSON, not from the test."""

from __future__ import annotations

import itertools
import json
import os
import re
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_inventory import run_prefix, small_inventory

from vcmon import lab
from vcmon.lab.scenario import parse_scenario

pytestmark = pytest.mark.root

SCENARIO = """
version: 1
seed: 1
sites:
  "21010": {delay: 20ms}
  "21211": {delay: 0ms, loss: 2/10}
  "21340": {delay: 5ms}
  "21334": {delay: 30ms, jitter: 3ms}
links:
  522-21010: {background: {up: 4M}}
flat: {targets: 200, delay: 5ms}
"""
SECRETS = {
    "VCMON_SNMP_COMMUNITY": "labcommunity1",
    "VCMON_SNMP_AUTH_KEY": "labauthkey123",
    "VCMON_SNMP_PRIV_KEY": "labprivkey123",
}
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


@pytest.fixture(scope="module")
def up_lab(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[lab.LabState, dict[str, Any]]]:
    saved = {k: os.environ.get(k) for k in SECRETS}
    os.environ.update(SECRETS)
    sdir = tmp_path_factory.mktemp("lab") / "state"
    try:
        state = lab.up(small_inventory(), parse_scenario(SCENARIO), state_dir=sdir,
                       prefix=run_prefix())  # fmt: skip
        truth = json.loads(state.truth.read_text())
        yield state, truth
    finally:
        lab.down(sdir)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def noc(state: lab.LabState, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", state.noc, *argv], capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip


def test_traceroute_from_the_noc_follows_the_inventory_path(up_lab: Any) -> None:
    state, truth = up_lab
    out = noc(state, "traceroute", "-n", "-q", "1", "-w", "1", "198.18.1.10").stdout
    hops = re.findall(r"^\s*\d+\s+(\S+)", out, re.M)
    path = ["51", "522", "21010"]  # province -> district hub -> commune
    assert hops == [truth["sites"][code]["addresses"][0] for code in path]


def test_injected_delay_is_what_ping_measures_within_1ms(up_lab: Any) -> None:
    state, truth = up_lab
    for code in ("21010", "21340", "536"):
        site = truth["sites"][code]
        out = noc(state, "ping", "-n", "-q", "-c", "10", "-i", "0.05", site["addresses"][0]).stdout
        avg_ms = float(re.search(r"= [\d.]+/([\d.]+)/", out)[1])  # type: ignore[index]
        assert abs(avg_ms / 1000 - site["delay_s"]) <= 0.001, (code, avg_ms)


def test_pattern_loss_drops_exactly_2_of_every_10_echoes(up_lab: Any) -> None:
    state, truth = up_lab
    site = truth["sites"]["21211"]
    assert site["loss_pattern"] == "2/10"
    out = noc(state, "ping", "-n", "-q", "-c", "30", "-i", "0.01", "-W", "1",
              site["addresses"][0]).stdout  # fmt: skip
    assert "30 packets transmitted, 24 received" in out


def test_responder_error_p95_is_within_1ms_at_2000_echoes_per_second(up_lab: Any) -> None:
    state, truth = up_lab
    flat = truth["flat"]
    # -i 0.5 ms between any two sends = 2,000 echo/s; 20 rounds over 200 targets.
    proc = noc(state, "fping", "-C", "20", "-q", "-i", "0.5", "-p", "100", "-t", "500",
               *flat["targets"])  # fmt: skip
    rtts = [float(x) / 1000 for line in proc.stderr.splitlines()
            for x in line.split(":")[1].split() if x != "-"]  # fmt: skip
    assert len(rtts) >= 0.99 * 20 * len(flat["targets"])
    errors = sorted(abs(r - flat["delay_s"]) for r in rtts)
    p95 = errors[int(0.95 * len(errors))]
    assert p95 <= 0.001, f"p95 error {p95 * 1e3:.3f} ms"


def test_shaped_link_throughput_is_within_5_percent_of_its_rate(up_lab: Any) -> None:
    _, truth = up_lab
    link = truth["links"]["522-21211"]
    child, parent = link["child"], link["parent"]
    server = subprocess.Popen(["ip", "netns", "exec", parent["ns"], "iperf3", "-s", "-1",
                               "-B", parent["address"]],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(0.3)
        payload = 1400
        out = subprocess.run(
            ["ip", "netns", "exec", child["ns"], "iperf3", "-c", parent["address"], "-u",
             "-b", str(int(link["up_bps"] * 1.5)), "-l", str(payload), "-t", "3", "-J"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
    finally:
        server.terminate()
        server.wait(5)
    received = json.loads(out)["end"]["sum_received"]["bits_per_second"]
    wire = received * (payload + 8 + 20 + 14) / payload  # tbf counts L2 bytes
    assert wire == pytest.approx(link["up_bps"], rel=0.05)


def _snmpget(state: lab.LabState, host: str, oid: str) -> int:
    out = noc(state, "snmpget", "-v2c", "-c", SECRETS["VCMON_SNMP_COMMUNITY"], "-On", "-Oqv",
              "-t", "1", host, oid).stdout  # fmt: skip
    return int(re.sub(r"^\((\d+)\).*", r"\1", out.strip()))


def _if_index(state: lab.LabState, host: str, name: str) -> int:
    out = noc(state, "snmpbulkwalk", "-v2c", "-c", SECRETS["VCMON_SNMP_COMMUNITY"], "-On",
              host, IF_NAME).stdout  # fmt: skip
    for line in out.splitlines():
        if line.endswith(f'"{name}"'):
            return int(line.split(" ")[0].rsplit(".", 1)[1])
    raise AssertionError(f"{name} not in ifName of {host}: {out}")


def _fresh_counter(state: lab.LabState, host: str, oid: str) -> tuple[float, int]:
    """Poll until the agent's cached counter changes: that reply is fresh at its time."""
    first = _snmpget(state, host, oid)
    while True:
        t = time.monotonic()
        value = _snmpget(state, host, oid)
        if value != first:
            return t, value


def test_snmp_counters_on_a_router_grow_by_the_background_traffic_within_2_percent(
    up_lab: Any,
) -> None:
    state, truth = up_lab
    link = truth["links"]["522-21010"]
    host = truth["sites"]["522"]["addresses"][0]
    oid = f"{IF_HC_IN_OCTETS}.{_if_index(state, host, link['parent']['ifname'])}"
    t1, c1 = _fresh_counter(state, host, oid)
    time.sleep(6)
    t2, c2 = _fresh_counter(state, host, oid)
    rate = (c2 - c1) * 8 / (t2 - t1)
    assert rate == pytest.approx(link["background_up_bps"], rel=0.02)


def test_snmp_v3_authpriv_user_answers_with_secrets_from_the_environment(up_lab: Any) -> None:
    state, truth = up_lab
    out = noc(state, "snmpget", "-v3", "-l", "authPriv", "-u", "vcmon", "-a", "SHA",
              "-A", SECRETS["VCMON_SNMP_AUTH_KEY"], "-x", "AES", "-X",
              SECRETS["VCMON_SNMP_PRIV_KEY"], "-Oqv", truth["bridge"]["address"],
              "1.3.6.1.2.1.1.5.0").stdout  # fmt: skip
    assert out.strip().strip('"') == "bridge"


def test_secrets_appear_only_in_the_0600_agent_configs(up_lab: Any) -> None:
    state, _ = up_lab
    for path in Path(state.state_dir).rglob("*"):
        if not path.is_file():
            continue
        text = path.read_bytes()
        leaks = [v for v in SECRETS.values() if v.encode() in text]
        if leaks:
            assert path.suffix == ".conf" and path.stat().st_mode & 0o077 == 0, path


def test_status_reports_every_namespace_agent_and_the_daemon_up(up_lab: Any) -> None:
    state, truth = up_lab
    st = lab.status(state.state_dir)
    assert st is not None and st.up and st.daemon_alive
    assert st.namespaces_present == len(state.namespaces) and not st.namespaces_missing
    expected = sum(1 for s in truth["sites"].values() if s["agent"]) + 1  # + the bridge
    assert st.agents_expected == expected
    deadline = time.monotonic() + 5
    while st.agents_alive < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        st = lab.status(state.state_dir) or st
    assert st.agents_alive == expected


def test_no_namespace_has_a_default_route_or_a_non_lab_address(up_lab: Any) -> None:
    state, _ = up_lab
    for ns in state.namespaces:
        routes = subprocess.run(["ip", "-n", ns, "-4", "route"], capture_output=True,
                                text=True, check=True).stdout  # fmt: skip
        assert "default" not in routes
        addrs = subprocess.run(["ip", "-n", ns, "-4", "-o", "addr"], capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
        for a in re.findall(r"inet (\S+)/", addrs):
            assert a.startswith(("198.18.", "198.19.", "127.")), (ns, a)


def test_exec_in_noc_returns_the_command_exit_code(up_lab: Any) -> None:
    state, truth = up_lab
    target = truth["sites"]["522"]["addresses"][0]
    assert lab.exec_in_noc(state.state_dir, ["ping", "-c", "1", "-W", "1", "-q", target]) == 0
    assert lab.exec_in_noc(state.state_dir, ["sh", "-c", "exit 3"]) == 3


def test_jitter_free_sites_have_tight_rtts(up_lab: Any) -> None:
    state, truth = up_lab
    site = truth["sites"]["21340"]
    out = noc(state, "fping", "-C", "20", "-q", "-p", "20", site["addresses"][0]).stderr
    rtts = [float(x) for x in out.split(":")[1].split() if x != "-"]
    assert statistics.pstdev(rtts) < 0.5  # ms


def test_injected_jitter_is_the_mean_rtt_difference_fping_measures(up_lab: Any) -> None:
    state, truth = up_lab
    site = truth["sites"]["21334"]
    # -t: fping otherwise times each echo out after one period (10 ms), before the reply.
    out = noc(
        state, "fping", "-C", "200", "-q", "-p", "10", "-t", "200", site["addresses"][0]
    ).stderr
    rtts = [float(x) / 1000 for x in out.split(":")[1].split() if x != "-"]
    assert len(rtts) >= 190, out
    ipdv = statistics.fmean(abs(a - b) for a, b in itertools.pairwise(rtts))
    assert statistics.fmean(rtts) == pytest.approx(site["delay_s"], abs=0.001)
    # 200 draws: the mean |difference| has a standard error of ~5% of the jitter.
    assert ipdv == pytest.approx(site["jitter_s"], rel=0.2)
