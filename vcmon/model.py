"""The vocabulary of vcmon: frozen dataclasses and enums shared by every subsystem.

Everything here is plain data, resolved once at load time (defaults applied, references
checked), so the rest of the code never looks anything up in raw YAML. Units are base
units end to end: seconds, bits per second, bytes, ratios in 0..1.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Level(StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"


class Terrain(StrEnum):
    URBAN = "urban"
    PLAIN = "plain"
    COASTAL = "coastal"
    MOUNTAIN = "mountain"
    ISLAND = "island"


class Medium(StrEnum):
    FIBRE = "fibre"
    VPN = "vpn"
    LTE = "4g"
    MICROWAVE = "microwave"
    SATELLITE = "satellite"


class LinkRole(StrEnum):
    """Routing preference: traffic takes primary links; backups carry it only on failure."""

    PRIMARY = "primary"
    BACKUP = "backup"


class ConferenceTopology(StrEnum):
    MCU = "mcu"
    CASCADE = "cascade"
    SFU = "sfu"


class Direction(StrEnum):
    """`up` is from a link's `site` end toward its `to` end (the customer's upload)."""

    UP = "up"
    DOWN = "down"


class Verdict(StrEnum):
    READY = "ready"
    DEGRADED = "degraded"
    NOT_READY = "not_ready"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """Order for 'worst of': ready < degraded < not_ready < unknown."""
        return _VERDICT_RANK[self]


_VERDICT_RANK = {
    Verdict.READY: 0,
    Verdict.DEGRADED: 1,
    Verdict.NOT_READY: 2,
    Verdict.UNKNOWN: 3,
}


class Metric(StrEnum):
    """What a readiness reason is about; a bounded set, safe as a Prometheus label value."""

    RTT_P95 = "rtt_p95"
    JITTER = "jitter"
    LOSS = "loss"
    SPARE_UP = "spare_up"
    SPARE_DOWN = "spare_down"
    NO_DATA = "no_data"
    STALE = "stale"
    PROBE_FAILED = "probe_failed"
    UNREACHABLE = "unreachable"


class FailureReason(StrEnum):
    """Why a probe of one target produced no (or partial) numbers. Bounded: safe as a label."""

    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    TTL_EXCEEDED = "ttl_exceeded"
    AUTH_FAILED = "auth_failed"
    BAD_RESPONSE = "bad_response"
    NO_SUCH_INTERFACE = "no_such_interface"
    COUNTER_DISCONTINUITY = "counter_discontinuity"
    AGENT_RESTARTED = "agent_restarted"
    SECRET_MISSING = "secret_missing"
    ERROR = "error"


class RootCause(StrEnum):
    NONE = "none"
    LOCAL = "local"
    UPSTREAM = "upstream"


@dataclass(frozen=True, slots=True)
class Coordinates:
    lat: float
    lon: float
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class Site:
    code: str
    name: str
    level: Level
    parent: str | None
    coordinates: Coordinates | None
    terrain: Terrain
    rooms: int
    district: str | None
    """The district-level ancestor (itself for a district); None for the province."""


@dataclass(frozen=True, slots=True)
class UpgradeTier:
    name: str
    up_bps: float
    down_bps: float
    monthly_cost: float
    lead_time_s: float
    medium: Medium | None = None


@dataclass(frozen=True, slots=True)
class Link:
    id: str
    site: str
    """The customer end, farther from the bridge."""
    to: str
    """The upstream end, toward the bridge."""
    medium: Medium
    up_bps: float
    down_bps: float
    latency_s: float | None
    """Expected one-way latency, if the contract or design states one."""
    role: LinkRole
    upgrades: tuple[UpgradeTier, ...] = ()

    def capacity(self, direction: Direction) -> float:
        return self.up_bps if direction is Direction.UP else self.down_bps


class SecretKind(StrEnum):
    ENV = "env"
    FILE = "file"


class SecretError(Exception):
    """A secret reference could not be resolved; the message names the reference only."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives; never the secret itself, so it is safe to log and repr."""

    kind: SecretKind
    name: str

    def __str__(self) -> str:
        return f"${{{self.name}}}" if self.kind is SecretKind.ENV else f"file:{self.name}"

    def resolve(self) -> str:
        """Read the secret at the moment of use.

        >>> import os
        >>> os.environ["VCMON_DOCTEST_SECRET"] = "s3cret"
        >>> SecretRef(SecretKind.ENV, "VCMON_DOCTEST_SECRET").resolve()
        's3cret'
        """
        if self.kind is SecretKind.ENV:
            value = os.environ.get(self.name)
            if value is None:
                raise SecretError(f"environment variable {self.name} is not set")
            return value
        try:
            return Path(self.name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"cannot read secret file {self.name}: {exc.strerror}") from None


class SnmpVersion(StrEnum):
    V2C = "v2c"
    V3 = "v3"


@dataclass(frozen=True, slots=True)
class Auth:
    """SNMP credentials by reference (snmp_exporter's `auths:`)."""

    name: str
    version: SnmpVersion
    community: SecretRef | None = None
    username: str | None = None
    auth_protocol: str | None = None
    auth_key: SecretRef | None = None
    priv_protocol: str | None = None
    priv_key: SecretRef | None = None


class ProberKind(StrEnum):
    ICMP = "icmp"
    SNMP = "snmp"


@dataclass(frozen=True, slots=True)
class Module:
    """How to probe (blackbox_exporter's module). Fields not used by a prober are ignored."""

    name: str
    prober: ProberKind
    interval_s: float
    timeout_s: float
    # icmp
    count: int = 20
    spacing_s: float = 0.02
    size_bytes: int = 1200
    dscp: int = 34
    # snmp
    retries: int = 1
    max_repetitions: int = 0
    """0 means: sized to the device's interface table."""


class InterfaceMatch(StrEnum):
    IFNAME = "ifName"
    IFALIAS = "ifAlias"
    IFDESCR = "ifDescr"


@dataclass(frozen=True, slots=True)
class Interface:
    link: str
    match: InterfaceMatch
    value: str


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    site: str
    address: str
    modules: tuple[str, ...]
    auth: str | None
    interfaces: tuple[Interface, ...] = ()


@dataclass(frozen=True, slots=True)
class Threshold:
    """A limit with where it comes from, so every verdict can cite its source."""

    ready: float
    degraded: float
    source: str


@dataclass(frozen=True, slots=True)
class Policy:
    rtt_p95_s: Threshold
    jitter_s: Threshold
    loss_ratio: Threshold
    max_age_s: float
    """Measurements older than this are stale (unknown, never ready)."""
    hysteresis_cycles: int = 3


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    stream_bps: float
    overhead_ratio: float
    source: str
    policy: Policy
    sfu_max_tiles: int = 9
    sfu_tile_bps: float = 500_000.0

    @property
    def demand_bps(self) -> float:
        """One stream as provisioned on the wire: video+audio plus IP/UDP/RTP overhead."""
        return self.stream_bps * (1.0 + self.overhead_ratio)

    @property
    def tile_demand_bps(self) -> float:
        return self.sfu_tile_bps * (1.0 + self.overhead_ratio)


@dataclass(frozen=True, slots=True)
class Conference:
    bridge: str
    topology: ConferenceTopology
    cascade_at: tuple[str, ...] = ()
    profile: str = "hd"


@dataclass(frozen=True, slots=True)
class ScheduledConference:
    """A conference on the calendar: who must be ready, for which profile, by when."""

    name: str
    start_s: float
    """Unix time."""
    duration_s: float
    profile: str
    sites: frozenset[str]
    lead_time_s: float
    """How long before the start every needed site must already be ready."""

    def active(self, now: float) -> bool:
        """Upcoming or under way: worth exporting and alerting on."""
        return now < self.start_s + self.duration_s


def select_sites(sites: Mapping[str, Site], selectors: Iterable[str]) -> frozenset[str]:
    """Site codes from selectors: `all`, `district:CODE` (a district with its communes),
    `level:LEVEL`, or site codes. Raises ValueError naming the selector it cannot use.

    >>> s = {c: Site(c, c, lv, p, None, Terrain.PLAIN, 1, d) for c, lv, p, d in (
    ...     ("51", Level.PROVINCE, None, None), ("522", Level.DISTRICT, "51", "522"),
    ...     ("21010", Level.COMMUNE, "522", "522"))}
    >>> sorted(select_sites(s, ["district:522"])), sorted(select_sites(s, ["level:province"]))
    (['21010', '522'], ['51'])
    >>> select_sites(s, ["district:21010"])
    Traceback (most recent call last):
    ...
    ValueError: '21010' is not a district code
    """
    chosen: set[str] = set()
    for raw in selectors:
        item = raw.strip()
        kind, _, value = item.partition(":")
        if item == "all":
            chosen.update(sites)
        elif kind == "district" and value:
            if value not in sites or sites[value].level is not Level.DISTRICT:
                raise ValueError(f"{value!r} is not a district code")
            chosen.update(c for c, site in sites.items() if site.district == value)
        elif kind == "level" and value:
            try:
                level = Level(value)
            except ValueError:
                raise ValueError(f"unknown level {value!r}") from None
            chosen.update(c for c, site in sites.items() if site.level is level)
        elif item in sites:
            chosen.add(item)
        else:
            raise ValueError(f"unknown site or selector {item!r}")
    return frozenset(chosen)


@dataclass(frozen=True, slots=True)
class Inventory:
    """A whole, validated, resolved inventory. Mappings keep the file's order."""

    sites: Mapping[str, Site]
    links: Mapping[str, Link]
    devices: Mapping[str, Device]
    profiles: Mapping[str, Profile]
    modules: Mapping[str, Module]
    auths: Mapping[str, Auth]
    conference: Conference
    sources: tuple[Path, ...] = field(default=())
    schedule: tuple[ScheduledConference, ...] = ()
    currency: str = "VND"
    """ISO 4217 code of every cost in the inventory (upgrade tiers' monthly_cost)."""

    def children(self, code: str) -> list[Site]:
        return [s for s in self.sites.values() if s.parent == code]


@dataclass(frozen=True, slots=True)
class InventorySummary:
    """What `vcmon validate` reports of a valid inventory.

    Kept beside a cached inventory, so an unchanged one is confirmed without loading it.
    """

    provinces: int
    districts: int
    communes: int
    links: int
    devices: int
    profiles: int

    @classmethod
    def of(cls, inventory: Inventory) -> InventorySummary:
        levels = Counter(site.level for site in inventory.sites.values())
        return cls(
            levels[Level.PROVINCE],
            levels[Level.DISTRICT],
            levels[Level.COMMUNE],
            len(inventory.links),
            len(inventory.devices),
            len(inventory.profiles),
        )

    @property
    def sites(self) -> int:
        return self.provinces + self.districts + self.communes


# --- measurements: what probes produce and readiness consumes -------------------------


@dataclass(frozen=True, slots=True)
class PathMeasurement:
    """Site-to-bridge path quality, as measured from the NOC (ICMP)."""

    site: str
    measured_at: float
    """Unix time, seconds."""
    rtt_p50_s: float | None
    rtt_p95_s: float | None
    jitter_s: float | None
    """Mean |RTT(i) - RTT(i-1)| over consecutive replies (RFC 5481 IPDV style)."""
    loss_ratio: float | None
    failure: str | None = None
    """Why the probe gave no numbers (a FailureReason value), if it failed."""
    rtt_min_s: float | None = None
    rtt_max_s: float | None = None
    jitter_rfc3550_s: float | None = None
    """RFC 3550 6.4.1 smoothed estimator, J += (|D| - J) / 16, over the same RTT differences."""

    def mos_estimate(self) -> float | None:
        """Simplified E-model (G.107) MOS, with one-way latency taken as RTT p50 / 2.

        DOMAIN.md: eff = latency + 2 * jitter + 10 ms; R = 93.2 - eff/40 below 160 ms, else
        93.2 - (eff - 120)/10; R -= 2.5 * loss%; MOS = 1 + 0.035 R + R (R-60)(100-R) 7e-6.

        >>> PathMeasurement("x", 0, 0.040, 0.05, 0.005, 0.0).mos_estimate()
        4.39
        >>> PathMeasurement("x", 0, 0.600, 0.7, 0.030, 0.05).mos_estimate()
        2.88
        """
        if self.rtt_p50_s is None or self.jitter_s is None or self.loss_ratio is None:
            return None
        eff_ms = self.rtt_p50_s / 2 * 1000 + 2 * self.jitter_s * 1000 + 10
        r = 93.2 - eff_ms / 40 if eff_ms < 160 else 93.2 - (eff_ms - 120) / 10
        r -= 2.5 * self.loss_ratio * 100
        r = max(0.0, min(100.0, r))
        mos = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6
        return round(max(1.0, min(4.5, mos)), 2)


@dataclass(frozen=True, slots=True)
class LinkMeasurement:
    """Link usage from SNMP interface counters, per direction."""

    link: str
    measured_at: float
    used_up_bps: float | None
    used_down_bps: float | None
    capacity_up_bps: float
    capacity_down_bps: float
    oper_up: bool | None = None
    failure: str | None = None

    def utilisation(self, direction: Direction) -> float | None:
        used = self.used_up_bps if direction is Direction.UP else self.used_down_bps
        cap = self.capacity_up_bps if direction is Direction.UP else self.capacity_down_bps
        if used is None or cap <= 0:
            return None
        return used / cap

    def spare_bps(self, direction: Direction) -> float | None:
        used = self.used_up_bps if direction is Direction.UP else self.used_down_bps
        cap = self.capacity_up_bps if direction is Direction.UP else self.capacity_down_bps
        return None if used is None else max(0.0, cap - used)


@dataclass(frozen=True, slots=True)
class Measurements:
    paths: Mapping[str, PathMeasurement] = field(default_factory=dict)
    links: Mapping[str, LinkMeasurement] = field(default_factory=dict)
