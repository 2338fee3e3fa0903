"""Up, down, idempotence, refusal and rollback: the lab leaves nothing behind and never
touches what it did not make."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from lab_inventory import run_prefix, small_inventory

from vcmon import lab
from vcmon.errors import LabError
from vcmon.lab.netns import list_netns
from vcmon.lab.scenario import parse_scenario
from vcmon.model import Interface, InterfaceMatch

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("lab_env")]


def _root_links() -> str:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return re.sub(
        r"\s+", " ", "\n".join(sorted(ln.split(":")[1] for ln in out.stdout.splitlines()))
    )


def _our_processes(marker: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_down_removes_every_namespace_process_and_file_it_made(state_dir: Path) -> None:
    before = _root_links()
    prefix = run_prefix()
    state = lab.up(small_inventory(), state_dir=state_dir, prefix=prefix)
    assert {n for n in list_netns() if n.startswith(prefix)} == set(state.namespaces)
    assert _our_processes(str(state_dir))
    started = time.monotonic()
    lab.down(state_dir)
    took = time.monotonic() - started
    assert not [n for n in list_netns() if n.startswith(prefix)]
    assert not _our_processes(str(state_dir))
    assert not state_dir.exists()
    assert _root_links() == before  # no veth end was ever in the root namespace
    assert took < 15


def test_up_twice_is_a_no_op_and_a_different_lab_is_refused(state_dir: Path) -> None:
    prefix = run_prefix()
    first = lab.up(small_inventory(), state_dir=state_dir, prefix=prefix)
    again = lab.up(small_inventory(), state_dir=state_dir, prefix=prefix)
    assert again == first
    other = parse_scenario("version: 1\nsites: {'522': {delay: 3ms}}\n")
    with pytest.raises(LabError, match=r"already recorded .* run `vcmon lab down` first"):
        lab.up(small_inventory(), other, state_dir=state_dir, prefix=prefix)
    assert lab.status(state_dir) is not None


def test_a_namespace_it_did_not_create_is_refused_and_left_alone(state_dir: Path) -> None:
    prefix = run_prefix()
    foreign = f"{prefix}522"
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        with pytest.raises(LabError, match=f"namespace {foreign} exists but this lab did not"):
            lab.up(small_inventory(), state_dir=state_dir, prefix=prefix)
        assert foreign in list_netns()
        assert [n for n in list_netns() if n.startswith(prefix)] == [foreign]
    finally:
        subprocess.run(["ip", "netns", "del", foreign], check=True)


def test_a_failure_during_up_rolls_everything_back(state_dir: Path) -> None:
    inv = small_inventory()
    devices = dict(inv.devices)
    # A name Linux refuses ('/'), so `ip link add` fails after namespaces were made.
    devices["r-536"] = dataclasses.replace(
        devices["r-536"], interfaces=(Interface("dc-536", InterfaceMatch.IFNAME, "bad/name"),)
    )
    bad = dataclasses.replace(inv, devices=devices)
    prefix = run_prefix()
    with pytest.raises(LabError, match=r"rolled back"):
        lab.up(bad, state_dir=state_dir, prefix=prefix)
    assert not [n for n in list_netns() if n.startswith(prefix)]
    assert lab.status(state_dir) is None


def test_down_after_a_crashed_daemon_still_removes_its_orphaned_agents(
    state_dir: Path,
) -> None:
    prefix = run_prefix()
    state = lab.up(small_inventory(), state_dir=state_dir, prefix=prefix)
    os.kill(state.daemon_pid, 9)  # the agents it started are orphaned, still running
    time.sleep(0.5)
    assert lab.status(state_dir) is not None
    assert not lab.status(state_dir).daemon_alive  # type: ignore[union-attr]
    lab.down(state_dir)
    assert not [n for n in list_netns() if n.startswith(prefix)]
    assert not _our_processes(str(state_dir))


def test_missing_secrets_are_named_without_any_value(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VCMON_SNMP_PRIV_KEY")
    with pytest.raises(LabError, match=r"set VCMON_SNMP_PRIV_KEY$") as err:
        lab.up(small_inventory(), state_dir=state_dir, prefix=run_prefix())
    assert "labauthkey123" not in str(err.value)


def test_a_missing_program_names_its_debian_package(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match=r"'ip' not found \(install the Debian package iproute2"):
        lab.up(small_inventory(), state_dir=state_dir, prefix=run_prefix())


EVENTS = """
version: 1
sites:
  "21010": {delay: 1ms}
links:
  522-21010: {background: {up: 2M}}
events:
  - {at: 0s, action: loss_burst, site: "21010", loss: 10/10, duration: 2s}
  - {at: 1s, action: link_down, link: 522-21211}
  - {at: 1s, action: reboot, device: r-522}
  - {at: 1s, action: rate, link: 522-21010, rate: {down: 5M}}
"""


def test_timed_events_run_at_their_time_and_are_recorded(state_dir: Path) -> None:
    state = lab.up(small_inventory(), parse_scenario(EVENTS), state_dir=state_dir,
                   prefix=run_prefix())  # fmt: skip
    truth = json.loads(state.truth.read_text())
    assert [e["action"] for e in truth["events"]] == ["loss_burst", "link_down", "reboot", "rate"]

    def noc(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", state.noc, *argv], capture_output=True,
                              text=True, check=False)  # fmt: skip

    burst = noc("ping", "-c", "3", "-i", "0.1", "-W", "1", "-q", "198.18.1.10").stdout
    assert "0 received" in burst
    deadline = time.monotonic() + 10
    while (st := lab.status(state_dir)) and st.events_done < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    done = [json.loads(ln) for ln in (state_dir / "events.jsonl").read_text().splitlines()]
    assert [d["error"] for d in done] == [""] * len(done)
    assert all(abs(d["offset_s"] - d["at_s"]) < 0.5 for d in done)
    time.sleep(1.2)  # past the burst and the agent restart
    assert "0% packet loss" in noc("ping", "-c", "3", "-i", "0.1", "-q", "198.18.1.10").stdout
    assert noc("ping", "-c", "1", "-W", "1", "198.18.1.11").returncode != 0  # its link is down
    uptime = noc("snmpget", "-v2c", "-c", "labcommunity1", "-Oqvt", "-t", "2", "198.18.1.1",
                 "1.3.6.1.2.1.1.3.0").stdout  # fmt: skip
    ticks = int(uptime.strip())
    assert ticks < 300  # restarted ~1-2 s ago, not at `up`
    # Its veths were recreated: counters hold only what came since the reboot (1 s after up).
    walk = noc("snmpbulkwalk", "-v2c", "-c", "labcommunity1", "-On", "198.18.1.1",
               "1.3.6.1.2.1.31.1.1.1.1").stdout  # fmt: skip
    index = next(ln.split(" ")[0].rsplit(".", 1)[1] for ln in walk.splitlines()
                 if ln.endswith('"veth-21010"'))  # fmt: skip
    octets = int(noc("snmpget", "-v2c", "-c", "labcommunity1", "-Oqv", "198.18.1.1",
                     f"1.3.6.1.2.1.31.1.1.1.6.{index}").stdout.strip())  # fmt: skip
    since_up = time.time() - truth["started_at"]
    rate = truth["links"]["522-21010"]["background_up_bps"] / 8
    assert octets < rate * (since_up - 0.5)
    show = ["tc", "-n", f"{state.prefix}522", "qdisc", "show", "dev", "veth-21010"]
    qdisc = subprocess.run(show, capture_output=True, text=True, check=True).stdout
    assert "rate 5Mbit" in qdisc


FAILOVER = """
version: 1
links:
  530-21334: {delay: 50ms}
events:
  - {at: 1s, action: link_down, link: 530-21334}
  - {at: 1s, action: link_down, link: dc-536}
  - {at: 3s, action: link_up, link: 530-21334}
  - {at: 3s, action: link_up, link: dc-536}
"""


def test_traffic_moves_onto_the_backup_link_and_back_and_a_mended_link_carries_again(
    state_dir: Path,
) -> None:
    state = lab.up(small_inventory(), parse_scenario(FAILOVER), state_dir=state_dir,
                   prefix=run_prefix())  # fmt: skip

    def out_dev(ns: str, addr: str) -> str:
        got = subprocess.run(["ip", "-n", f"{state.prefix}{ns}", "route", "get", addr],
                             capture_output=True, text=True, check=False).stdout  # fmt: skip
        return m.group(1) if (m := re.search(r" dev (\S+)", got)) else ""

    def pings(addr: str) -> bool:
        argv = ["ip", "netns", "exec", state.noc, "ping", "-c", "2", "-i", "0.2", "-W", "1", addr]
        return subprocess.run(argv, capture_output=True, check=False).returncode == 0

    def min_rtt_ms(addr: str) -> float:
        argv = ["ip", "netns", "exec", state.noc, "ping", "-c", "5", "-i", "0.05", "-q", addr]
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        # min of "rtt min/avg/max/mdev = a/b/c/d ms": a busy machine only ever adds time
        return float(out.rsplit("=", 1)[1].split("/")[0])

    def wait_events(n: int) -> None:
        deadline = time.monotonic() + 15
        while (st := lab.status(state_dir)) and st.events_done < n:
            assert time.monotonic() < deadline, "scenario events did not run"
            time.sleep(0.05)

    # Before: 21334 (cpe 198.18.2.11) hangs off district 530; 536 off its own uplink.
    assert out_dev("51", "198.18.2.11") == "veth-530"
    assert pings("198.18.2.11") and pings("198.18.3.1")
    # 2 x (35 + 4) ms of inventory latency, plus the scenario's 50 ms on 530-21334
    assert min_rtt_ms("198.18.2.11") == pytest.approx(128, abs=3)
    wait_events(2)
    st = lab.status(state_dir)
    assert st is not None and st.links_down == ("530-21334", "dc-536")
    assert out_dev("51", "198.18.2.11") == "to-21334"  # the 4G backup, at the province end
    assert out_dev("21334", "198.19.255.1") == "to-51"
    assert min_rtt_ms("198.18.2.11") == pytest.approx(80, abs=3)  # the backup's 2 x 40 ms
    assert not pings("198.18.3.1")  # 536 has no backup
    wait_events(4)
    done = [json.loads(ln) for ln in (state_dir / "events.jsonl").read_text().splitlines()]
    assert [d["error"] for d in done] == [""] * 4
    st = lab.status(state_dir)
    assert st is not None and st.links_down == ()
    assert out_dev("51", "198.18.2.11") == "veth-530"
    assert out_dev("21334", "198.19.255.1") == "to-530"
    assert pings("198.18.2.11") and pings("198.18.3.1")  # the kernel's dropped routes are back
    assert min_rtt_ms("198.18.2.11") == pytest.approx(128, abs=3)
    truth = json.loads(state.truth.read_text())
    assert truth["events"][0]["site_delays_s"] == {"21334": pytest.approx(0.080)}
