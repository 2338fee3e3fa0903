"""`vcmon run` end to end on loopback: real ICMP echoes, real HTTP, real promtool.

Device addresses are 127.0.x.y (the kernel answers every 127/8 address), so no namespace is
needed and no packet leaves the machine.
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
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = """
modules:
  icmp_video:
    {prober: icmp, interval: 2s, timeout: 2s, count: 10, spacing: 20ms, size: 1200, dscp: 34}
  icmp_light:
    {prober: icmp, interval: 2s, timeout: 2s, count: 5, spacing: 20ms, size: 64, dscp: 0}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_inventory(dir_: Path, *, broken: bool = False) -> Path:
    text = (ROOT / "inventory" / "example.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "  - ../probes/modules.yaml\n  - ../probes/auths.yaml\n", "  - modules.yaml\n"
    )
    text = text.replace("198.18.", "127.0.")
    # ICMP only: SNMP has its own integration tests; here links use contracted capacity
    text = text.replace(
        "modules: [icmp_video, snmp_v2c_ifmib], auth: lab_v2c", "modules: [icmp_video]"
    )
    text = text.replace("modules: [icmp_light, snmp_v2c_ifmib]", "modules: [icmp_light]")
    # no interface mappings: unmonitored links are judged on their contracted capacity
    text = "\n".join(
        ln for ln in text.splitlines() if "ifName" not in ln and "interfaces:" not in ln
    )
    text += "\npolicy:\n  hysteresis_cycles: 1\n"
    if broken:
        text = text.replace("level: commune", "level: communee", 1)
    (dir_ / "modules.yaml").write_text(MODULES, encoding="utf-8")
    path = dir_ / "inv.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    inv = write_inventory(tmp_path)
    port = free_port()
    log = (tmp_path / "vcmon.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vcmon", "run", str(inv), "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, "VCMON_SNMP_COMMUNITY": "s3cr3t-community"},
    )
    try:
        yield proc, f"http://127.0.0.1:{port}", tmp_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def site(base: str, code: str) -> dict[str, Any]:
    status, body = get(f"{base}/api/v1/sites?site={code}")
    assert status == 200
    sites = json.loads(body)["sites"]
    return sites[0] if sites else {}


def test_run_measures_serves_reloads_and_stops(
    agent: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    proc, base, dir_ = agent
    wait_for(lambda: get(f"{base}/-/ready")[0] == 200, 30, "/-/ready")
    assert get(f"{base}/-/healthy")[0] == 200

    # loopback answers in well under a millisecond: measured ready for hd
    measured = wait_for(
        lambda: (
            (s := site(base, "21010"))
            and s["measured_at"]
            and s["profiles"]["hd"]["verdict"] == "ready"
            and s
        ),
        40,
        "21010 measured ready",
    )
    assert measured["best_profile"] == "fhd"
    # Sơn Mùa's 4G uplink cannot carry fhd's overhead: degraded, from the contracted capacity
    mua = wait_for(lambda: (s := site(base, "21334")) and s["measured_at"] and s, 40, "21334")
    assert mua["profiles"]["fhd"]["verdict"] == "degraded"
    assert mua["profiles"]["fhd"]["reasons"][0]["metric"] == "spare_up"

    _, metrics = get(f"{base}/metrics")
    text = metrics.decode()
    assert 'vcmon_probe_success{device="cpe-21010",module="icmp_video",site="21010"} 1.0' in text
    assert "s3cr3t" not in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool missing: scripts/setup.sh installs Debian's prometheus")
    check = subprocess.run(
        [promtool, "check", "metrics"], input=metrics, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()

    # an invalid edit is refused, the last good inventory kept, and the metric says so
    write_inventory(dir_, broken=True)
    proc.send_signal(signal.SIGHUP)
    wait_for(
        lambda: "vcmon_inventory_load_success 0.0" in get(f"{base}/metrics")[1].decode(),
        20,
        "load_success 0",
    )
    assert site(base, "21010")["profiles"]["hd"]["verdict"] == "ready"
    # fixed again: picked up from the file change, no signal needed
    write_inventory(dir_)
    wait_for(
        lambda: "vcmon_inventory_load_success 1.0" in get(f"{base}/metrics")[1].decode(),
        20,
        "load_success 1",
    )

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    log = (dir_ / "vcmon.log").read_text()
    assert "s3cr3t" not in log
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(e["msg"].startswith("inventory reload refused") for e in events)
    assert events[-1]["msg"] == "stopped"
