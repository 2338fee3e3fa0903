"""Thin, checked wrappers over iproute2 and setns(2): the only place the lab runs `ip`/`tc`.

Batches (`ip -batch`, `tc -batch`) keep a 190-namespace province within seconds; setns in a
short-lived thread lets Python open sockets and write sysctls inside a namespace without a
process per namespace (a thread's namespace never leaks to the others).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from vcmon.errors import LabError

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")

PACKAGES = {
    "ip": "iproute2",
    "tc": "iproute2",
    "snmpd": "snmpd",
    "snmpget": "snmp",
    "ping": "iputils-ping",
    "fping": "fping",
    "iperf3": "iperf3",
    "traceroute": "traceroute",
    "nsenter": "util-linux",
    "chrt": "util-linux",
}


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces): run it with sudo")


def require_programs(names: Iterable[str]) -> None:
    """Fail early, naming the Debian package to install.

    >>> require_programs(["no-such-program-vcmon"])
    Traceback (most recent call last):
    ...
    vcmon.errors.LabError: program 'no-such-program-vcmon' not found
    """
    for name in names:
        if shutil.which(name) is None:
            pkg = PACKAGES.get(name)
            hint = f" (install the Debian package {pkg}: apt-get install {pkg})" if pkg else ""
            raise LabError(f"program {name!r} not found{hint}")


def run(argv: list[str], stdin: str | None = None) -> str:
    """Run a command; a failure becomes a LabError carrying its stderr."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"{' '.join(argv[:4])} failed: {'; '.join(detail[:3])}")
    return proc.stdout


def ip_batch(lines: list[str], ns: str | None = None, *, force: bool = False) -> None:
    """`force`: run every line even after one fails (the LabError still follows)."""
    if lines:
        opts = [*(["-n", ns] if ns else []), *(["-force"] if force else [])]
        run(["ip", *opts, "-batch", "-"], "\n".join(lines) + "\n")


def tc_batch(lines: list[str], ns: str) -> None:
    if lines:
        run(["tc", "-n", ns, "-batch", "-"], "\n".join(lines) + "\n")


def list_netns() -> set[str]:
    try:
        return {p.name for p in NETNS_DIR.iterdir()}
    except FileNotFoundError:
        return set()


def pids_in(namespaces: Iterable[str]) -> list[int]:
    """Processes whose network namespace is one of ours: one pass over /proc, not one
    `ip netns pids` per namespace."""
    inodes = set()
    for ns in namespaces:
        with contextlib.suppress(OSError):
            st = os.stat(NETNS_DIR / ns)
            inodes.add((st.st_dev, st.st_ino))
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                st = os.stat(f"/proc/{entry.name}/ns/net")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in inodes:
                pids.append(int(entry.name))
    return pids


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(ns: str) -> None:
    fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise LabError(f"setns into {ns} failed: {os.strerror(err)}")
    finally:
        os.close(fd)


def in_netns(ns: str, fn: Callable[[], T]) -> T:
    """Call fn in a fresh thread switched into namespace `ns`; sockets it opens stay there."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            _setns(ns)
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if "error" in box:
        err = box["error"]
        assert isinstance(err, BaseException)
        raise err
    return box["value"]  # type: ignore[return-value]


def write_sysctls(ns: str, values: dict[str, str]) -> None:
    """Write net.* sysctls of one namespace (/proc/sys/net follows the writer's namespace)."""

    def write() -> None:
        for key, value in values.items():
            Path("/proc/sys", *key.split(".")).write_text(value)

    in_netns(ns, write)


def tbf(dev: str, rate_bps: float, verb: str = "add") -> str:
    """A `tc -batch` line shaping egress of dev to rate_bps (bits/s, L2 bytes counted).

    The bucket holds 10 ms at rate (>= 3 kB, above one MTU frame and the 4 ms timer tick)
    and the queue 50 ms, so throughput matches the rate and queues stay short.

    >>> tbf("veth-21010", 10e6)
    'qdisc add dev veth-21010 root tbf rate 10000000bit burst 12500 latency 50ms'
    """
    burst = max(int(rate_bps / 8 * 0.01), 3200)
    return f"qdisc {verb} dev {dev} root tbf rate {int(rate_bps)}bit burst {burst} latency 50ms"
