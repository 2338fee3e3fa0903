"""Errors people see before anything is built."""

from __future__ import annotations

import os

import pytest

from vcmon.errors import LabError
from vcmon.lab import netns
from vcmon.lab.agents import Secrets


def test_not_root_is_refused_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one fake here: tests run as root, and the check must be seen failing.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match=r"^the lab needs root \(network namespaces\)"):
        netns.require_root()


def test_missing_program_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match=r"'snmpd' not found \(install the Debian package snmpd"):
        netns.require_programs(["snmpd"])


def test_secrets_never_show_in_their_repr() -> None:
    assert "hunter22" not in repr(Secrets("hunter22", "hunter22a", "hunter22b"))


def test_tbf_bucket_never_drops_below_one_frame() -> None:
    assert "burst 3200 " in netns.tbf("x", 64_000)
