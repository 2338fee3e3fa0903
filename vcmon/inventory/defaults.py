"""Built-in values an inventory may override, each number with where it comes from.

The policy and profiles follow /work/shared/DOMAIN.md ("Quality thresholds", "Conference
load"); docs/inventory.md lists them. Units are base units: seconds, bits/s, ratios.

>>> PROFILES["hd"].demand_bps
1440000.0
>>> POLICY.rtt_p95_s.ready, POLICY.loss_ratio.degraded
(0.1, 0.05)
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from vcmon.model import Policy, Profile, Threshold

CURRENCY = "VND"

POLICY = Policy(
    rtt_p95_s=Threshold(
        ready=0.100,
        degraded=0.300,
        source="Microsoft Teams network requirements (RTT < 100 ms); "
        "ITU-T G.114 (150 ms one-way = 300 ms RTT)",
    ),
    jitter_s=Threshold(
        ready=0.030,
        degraded=0.050,
        source="Microsoft Teams and Cisco QoS baseline (jitter <= 30 ms); "
        "ITU-T Y.1541 class 0 (IPDV <= 50 ms)",
    ),
    loss_ratio=Threshold(
        ready=0.01,
        degraded=0.05,
        source="Microsoft Teams and Cisco QoS baseline (loss <= 1%); "
        "Polycom RMX (1-5% major, > 5% critical)",
    ),
    # Five one-minute probe cycles: a few lost cycles are tolerated, a dead prober is not.
    max_age_s=300.0,
    # SmokePing's ConsecutiveLoss idea: a verdict changes only after it held three cycles.
    hysteresis_cycles=3,
)

OVERHEAD = 0.20
"""IP/UDP/RTP headers and bursts: Cisco QoS design guide (a 384 kb/s call needs 460 kb/s)."""

_TEAMS = "Microsoft Teams network requirements"
_CISCO = "+20% Cisco QoS design guide"

PROFILES: MappingProxyType[str, Profile] = MappingProxyType(
    {
        "sd": Profile("sd", 500_000.0, OVERHEAD, f"{_TEAMS} (360p30 0.5 Mb/s); {_CISCO}", POLICY),
        "hd": Profile("hd", 1_200_000.0, OVERHEAD, f"{_TEAMS} (720p30 1.2 Mb/s); {_CISCO}", POLICY),
        "fhd": Profile(
            "fhd", 1_500_000.0, OVERHEAD, f"{_TEAMS} (1080p30 1.5 Mb/s); {_CISCO}", POLICY
        ),
    }
)

SITE: MappingProxyType[str, Any] = MappingProxyType({"terrain": "plain", "rooms": 1})
"""Applied under `defaults.site` and each site."""

LINK: MappingProxyType[str, Any] = MappingProxyType({"medium": "fibre", "role": "primary"})
"""Applied under `defaults.link` and each link."""

DEVICE: MappingProxyType[str, Any] = MappingProxyType({"modules": [], "auth": None})
"""Applied under `defaults.device` and each device."""

MODULE: MappingProxyType[str, Any] = MappingProxyType(
    {
        "interval": 60.0,
        "timeout": 5.0,
        # ICMP: like a video stream (DOMAIN.md): 1,200-byte packets 20 ms apart, AF41.
        "count": 20,
        "spacing": 0.020,
        "size": 1200,
        "dscp": 34,
        # SNMP: 0 = size GETBULK to the device's interface table.
        "retries": 1,
        "max_repetitions": 0,
    }
)
"""Applied under each module; `prober` has no default."""

ICMP_ONLY = frozenset({"count", "spacing", "size", "dscp"})
SNMP_ONLY = frozenset({"retries", "max_repetitions"})
