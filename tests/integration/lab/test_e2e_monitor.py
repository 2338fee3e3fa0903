"""End to end: lab with a scenario -> `vcmon run` in the NOC -> a real Prometheus -> verdicts
and alerts read back from Prometheus's HTTP API.

Five sites tell five stories: 21010 good, 21211 lossy (3 of every 10 echoes dropped), 21340
behind its access link filled by background traffic, 536 whose SNMP agent is down (its
uplink's usage cannot be measured, so it must be unknown, never ready), and 21334 whose
primary link is cut: the lab routes it over its 4G backup, and vcmon, told by r-530's agent
that the link is down, moves the site and its conference load onto the backup too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from vcmon import lab
from vcmon.inventory import load_inventory
from vcmon.lab.lab import read_state

ROOT = Path(__file__).resolve().parents[3]

MODULES = """
modules:
  icmp_video:
    {prober: icmp, interval: 5s, timeout: 2s, count: 20, spacing: 20ms, size: 1200, dscp: 34}
  icmp_light: {prober: icmp, interval: 5s, timeout: 2s, count: 20, spacing: 20ms, size: 64}
  snmp_v2c_ifmib: {prober: snmp, interval: 10s, timeout: 3s, retries: 1}
"""

SCENARIO = """
version: 1
seed: 7
defaults:
  site: {delay: 4ms, jitter: 0.2ms}
sites:
  "21010": {delay: 10ms, jitter: 1ms}
  "21211": {delay: 10ms, loss: 3/10}
links:
  530-21340: {background: {up: 3.8M}}
agents: {communes: false}
events:
  - {at: 0s, action: agent_down, device: r-536}
  - {at: 0s, action: link_down, link: 530-21334}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_inventory(dir_: Path) -> Path:
    """The example inventory with fast modules, no hysteresis, and dc-536 watched from the
    island's own router (so r-536's agent is the one that reports on it)."""
    text = (ROOT / "inventory" / "example.yaml").read_text(encoding="utf-8")
    text = text.replace("  - ../probes/modules.yaml\n", "  - modules.yaml\n")
    text = text.replace("../probes/auths.yaml", str(ROOT / "probes" / "auths.yaml"))
    text = text.replace("      - {link: dc-536, ifName: veth-536}\n", "")
    text = text.replace(
        "    modules: [icmp_light, snmp_v2c_ifmib]\n",
        "    modules: [icmp_light, snmp_v2c_ifmib]\n"
        "    interfaces:\n      - {link: dc-536, ifName: up-51}\n",
    )
    text += "\npolicy:\n  hysteresis_cycles: 1\n  max_age: 40s\n"
    (dir_ / "modules.yaml").write_text(MODULES, encoding="utf-8")
    path = dir_ / "inv.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def prom_query(base: str, expr: str) -> list[dict[str, Any]]:
    doc = get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    assert doc["status"] == "success", doc
    result: list[dict[str, Any]] = doc["data"]["result"]
    return result


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in reversed(procs):
            stop(proc)


@pytest.mark.root
def test_prometheus_sees_each_sites_verdict_reason_and_alert(
    lab_env: None,
    state_dir: Path,
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
    request: pytest.FixtureRequest,
) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus missing: scripts/setup.sh installs Debian's prometheus")
    inv_path = write_inventory(tmp_path)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    prefix = f"e2e{os.getpid() % 10000}-"
    lab.up(load_inventory(inv_path), scenario, state_dir=state_dir, prefix=prefix)
    noc = str(read_state(state_dir)["noc"])  # type: ignore[index]

    agent_port, relay_port, prom_port = free_port(), free_port(), free_port()
    log = (tmp_path / "vcmon.log").open("wb")
    request.addfinalizer(log.close)
    started.append(
        subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                noc,
                sys.executable,
                "-m",
                "vcmon",
                "run",
                str(inv_path),
                "--listen",
                f"127.0.0.1:{agent_port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    )
    started.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vcmon",
                "lab",
                "--state-dir",
                str(state_dir),
                "forward",
                "--listen",
                f"127.0.0.1:{relay_port}",
                "--to",
                f"127.0.0.1:{agent_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
    )
    rules = sorted(str(p) for p in (ROOT / "dashboards" / "prometheus" / "rules").glob("*.yml"))
    config = {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": rules,
        "scrape_configs": [
            {"job_name": "vcmon", "static_configs": [{"targets": [f"127.0.0.1:{relay_port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    started.append(
        subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    base = f"http://127.0.0.1:{prom_port}"

    def verdict(site: str) -> str | None:
        found = prom_query(base, f'vcmon_site_verdict{{site="{site}",profile="hd"}} == 1')
        return found[0]["metric"]["vcmon_site_verdict"] if found else None

    expected = {"21010": "ready", "21211": "not_ready", "21340": "not_ready", "536": "unknown"}
    deadline = time.monotonic() + 120
    seen: dict[str, str | None] = {}
    while time.monotonic() < deadline:
        try:
            seen = {site: verdict(site) for site in expected}
        except OSError:
            seen = {}
        if seen == expected:
            break
        time.sleep(2)
    assert seen == expected, (tmp_path / "vcmon.log").read_text()[-3000:]

    def reasons(site: str) -> set[str]:
        found = prom_query(base, f'vcmon_site_reason{{site="{site}",profile="hd"}} == 1')
        return {r["metric"]["metric"] for r in found}

    assert reasons("21211") == {"loss"}
    assert reasons("21340") == {"spare_up"}
    assert reasons("536") == {"no_data"} or reasons("536") == {"probe_failed"}
    assert reasons("21010") == set()
    loss = prom_query(base, 'vcmon_path_loss_ratio{site="21211"}')
    assert float(loss[0]["value"][1]) == pytest.approx(0.3)
    rtt = prom_query(base, 'vcmon_path_rtt_p50_seconds{site="21010"}')
    assert float(rtt[0]["value"][1]) == pytest.approx(0.010, abs=0.001)
    # 536 is unknown as soon as its data is missing; the SNMP timeout (3 s, one retry) is
    # counted later, and Prometheus sees it one scrape after that.
    failed: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        failed = prom_query(base, 'vcmon_snmp_errors_total{device="r-536",reason="timeout"} >= 1')
        if failed:
            break
        time.sleep(2)
    assert failed, prom_query(base, 'vcmon_snmp_errors_total{device="r-536"}')

    def hd_load(link: str) -> float | None:
        found = prom_query(
            base,
            f'vcmon_link_conference_load_bytes_per_second{{link="{link}",direction="up",'
            'profile="hd"}',
        )
        return float(found[0]["value"][1]) if found else None

    stream = 1.44e6 / 8  # one hd stream with overhead, in bytes/s
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and hd_load("dc-21334-backup") != pytest.approx(stream):
        time.sleep(2)
    assert hd_load("dc-21334-backup") == pytest.approx(stream)
    assert hd_load("530-21334") == 0
    loss = prom_query(base, 'vcmon_path_loss_ratio{site="21334"}')
    assert float(loss[0]["value"][1]) == 0  # its echoes come back over the backup

    alerts: dict[tuple[str, str], str] = {}
    deadline = time.monotonic() + 30
    wanted = {("VcmonSiteNotReady", "21211"), ("VcmonSiteNotReady", "21340"),
              ("VcmonDataStale", "536"), ("VcmonLinkDown", "21334")}  # fmt: skip
    while time.monotonic() < deadline:
        alerts = {
            (a["metric"]["alertname"], a["metric"].get("site", "")): a["metric"]["alertstate"]
            for a in prom_query(base, "ALERTS")
        }
        if wanted <= set(alerts):
            break
        time.sleep(2)
    assert wanted <= set(alerts), alerts
    assert {alerts[w] for w in wanted} <= {"pending", "firing"}
    assert ("VcmonSiteNotReady", "21010") not in alerts
