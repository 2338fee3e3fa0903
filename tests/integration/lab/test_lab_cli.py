"""`vcmon lab up|status|exec|down` as a user runs them, on inventory/example.yaml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lab_inventory import run_prefix

pytestmark = pytest.mark.root

REPO = Path(__file__).parents[3]
SECRETS = {
    "VCMON_SNMP_COMMUNITY": "clicommunity1",
    "VCMON_SNMP_AUTH_KEY": "cliauthkey123",
    "VCMON_SNMP_PRIV_KEY": "cliprivkey123",
}


def vcmon(
    state_dir: Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vcmon", "lab", "--state-dir", str(state_dir), *argv],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_up_status_exec_down_from_the_command_line(tmp_path: Path) -> None:
    sdir = tmp_path / "lab"
    prefix = run_prefix()
    try:
        up = vcmon(sdir, "up", "inventory/example.yaml", "--scenario",
                   "inventory/scenarios/demo.yaml", "--prefix", prefix, env=SECRETS)  # fmt: skip
        assert up.returncode == 0, up.stderr
        assert f"NOC {prefix}noc (198.19.255.1)" in up.stdout
        status = vcmon(sdir, "status")
        assert status.returncode == 0 and f"lab {prefix}: up;" in status.stdout
        trace = vcmon(sdir, "exec", "--", "traceroute", "-n", "-q", "1", "-w", "1", "198.18.2.11")
        hops = [ln.split()[1] for ln in trace.stdout.splitlines()[1:]]
        assert hops == ["198.18.0.1", "198.18.2.1", "198.18.2.11"]  # example.yaml's path
        assert vcmon(sdir, "exec", "--", "sh", "-c", "exit 5").returncode == 5
    finally:
        down = vcmon(sdir, "down")
    assert down.returncode == 0
    assert vcmon(sdir, "status").returncode == 1


def test_missing_secrets_exit_4_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {k: "" for k in SECRETS}
    out = vcmon(tmp_path / "lab", "up", "inventory/example.yaml", "--prefix", run_prefix(),
                env=env)  # fmt: skip
    assert out.returncode == 4
    assert out.stderr.startswith("vcmon: the lab's SNMP agents need secrets from the environment")
    assert "Traceback" not in out.stderr


def test_a_bad_scenario_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsites:\n  '21010': {delay: soon}\n")
    out = vcmon(tmp_path / "lab", "up", "inventory/example.yaml", "--scenario", str(bad),
                env=SECRETS)  # fmt: skip
    assert out.returncode == 2
    assert f"{bad}:3: sites.21010.delay: 'soon' is not a duration" in out.stderr
