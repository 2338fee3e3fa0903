"""net-snmp `snmpd` agents for lab namespaces: configs (0600, secrets from the environment
only) and the command that runs one agent inside its namespace.

`ip netns exec` remounts /sys for the namespace, so the agent's IF-MIB rows are the
namespace's real veths and their kernel counters. snmpd caches those counters ~3 s
(LAB-NOTES.md): poll at least 10 s apart, or time polls on the counter's change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vcmon.errors import LabError

ENV_COMMUNITY = "VCMON_SNMP_COMMUNITY"
ENV_AUTH_KEY = "VCMON_SNMP_AUTH_KEY"
ENV_PRIV_KEY = "VCMON_SNMP_PRIV_KEY"
V3_USER = "vcmon"


@dataclass(frozen=True, slots=True)
class Secrets:
    community: str
    auth_key: str
    priv_key: str

    def __repr__(self) -> str:
        return "Secrets(<hidden>)"


def secrets_from_env() -> Secrets:
    """Read the three lab secrets; the error names the variables, never a value."""
    missing = [v for v in (ENV_COMMUNITY, ENV_AUTH_KEY, ENV_PRIV_KEY) if not os.environ.get(v)]
    if missing:
        raise LabError(
            f"the lab's SNMP agents need secrets from the environment: set {', '.join(missing)}"
        )
    s = Secrets(os.environ[ENV_COMMUNITY], os.environ[ENV_AUTH_KEY], os.environ[ENV_PRIV_KEY])
    for var, value in ((ENV_AUTH_KEY, s.auth_key), (ENV_PRIV_KEY, s.priv_key)):
        if len(value) < 8:
            raise LabError(f"{var} must be at least 8 characters (SNMPv3 minimum)")
    named = ((ENV_COMMUNITY, s.community), (ENV_AUTH_KEY, s.auth_key), (ENV_PRIV_KEY, s.priv_key))
    for var, value in named:
        if any(c in value for c in '"\n\r\\ #'):
            raise LabError(f"{var} must not contain quotes, spaces, '#' or backslashes")
    return s


def write_config(path: Path, secrets: Secrets, sys_name: str, location: str) -> None:
    """snmpd.conf for one agent, created 0600 before any secret is written to it."""
    text = "\n".join(
        [
            "agentaddress udp:161",
            f"rocommunity {secrets.community} default",
            f'createUser {V3_USER} SHA "{secrets.auth_key}" AES "{secrets.priv_key}"',
            f"rouser {V3_USER} priv",
            f"sysName {sys_name}",
            f"sysLocation {location}",
            "sysContact vcmon lab",
            "sysServices 72",
            "dontLogTCPWrappersConnects yes",
            "",
        ]
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def agent_argv(ns: str, conf: Path, pidfile: Path, log: Path) -> list[str]:
    """Foreground snmpd in namespace ns (the daemon that starts it can restart it).

    `nsenter --net`, not `ip netns exec`: snmpd's IF-MIB reads /proc/net/dev and ioctls,
    which follow the network namespace, so it needs no private mount namespace, and making
    190 of them (each a copy of a mount table holding every /run/netns bind) took ~14 s.
    """
    return [
        "nsenter", f"--net=/run/netns/{ns}",
        "snmpd", "-f", "-C", "-c", str(conf), "-p", str(pidfile), "-Lf", str(log),
    ]  # fmt: skip
