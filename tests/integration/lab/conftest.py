"""Fixtures for lab tests: SNMP secrets in the environment and a state dir whose lab is
always torn down, also when the test fails."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from vcmon import lab
from vcmon.lab.lab import read_state


@pytest.fixture
def lab_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCMON_SNMP_COMMUNITY", "labcommunity1")
    monkeypatch.setenv("VCMON_SNMP_AUTH_KEY", "labauthkey123")
    monkeypatch.setenv("VCMON_SNMP_PRIV_KEY", "labprivkey123")


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A lab state dir; whatever lab is recorded there is torn down after the test."""
    sdir = tmp_path / "lab"
    yield sdir
    if read_state(sdir) is not None:
        lab.down(sdir)
    shutil.rmtree(sdir, ignore_errors=True)
