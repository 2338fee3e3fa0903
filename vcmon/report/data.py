"""What a report shows, as plain rows in base units (seconds, bits/s, ratios, money).

The HTML, CSV and JSON writers all render this one object, so they cannot disagree.
`vcmon.report.collect` builds it from an inventory, readiness verdicts and a plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from vcmon.model import Level, Verdict


@dataclass(frozen=True, slots=True)
class ReasonRow:
    site: str
    profile: str
    metric: str
    verdict: Verdict
    value: float | None
    threshold: float | None
    source: str
    where: str | None = None
    """The link or site the reason is about, when not the site itself."""


@dataclass(frozen=True, slots=True)
class SiteRow:
    code: str
    name: str
    level: Level
    district: str | None
    lat: float | None
    lon: float | None
    rooms: int
    verdicts: Mapping[str, Verdict]
    """Profile name -> verdict."""
    best_profile: str | None = None
    rtt_p95_s: float | None = None
    jitter_s: float | None = None
    loss_ratio: float | None = None


@dataclass(frozen=True, slots=True)
class SummaryRow:
    profile: str
    ready: int
    degraded: int
    not_ready: int
    unknown: int
    communes: int
    communes_ready: int

    @property
    def communes_ready_ratio(self) -> float:
        return self.communes_ready / self.communes if self.communes else 0.0


@dataclass(frozen=True, slots=True)
class LinkRow:
    id: str
    site: str
    to: str
    medium: str
    capacity_up_bps: float
    capacity_down_bps: float
    load_up_bps: float
    load_down_bps: float
    role: str = "primary"

    @property
    def utilisation(self) -> float:
        """The busier direction's load over capacity (inf when a zero capacity has load)."""
        ratios = []
        for load, cap in (
            (self.load_up_bps, self.capacity_up_bps),
            (self.load_down_bps, self.capacity_down_bps),
        ):
            ratios.append(load / cap if cap > 0 else (float("inf") if load > 0 else 0.0))
        return max(ratios)


@dataclass(frozen=True, slots=True)
class SpofRow:
    kind: str
    id: str
    cut_off: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    wave: int
    kind: str
    target: str
    name: str
    monthly_cost: float
    lead_time_s: float


@dataclass(frozen=True, slots=True)
class WaveRow:
    number: int
    sites: tuple[str, ...]
    purchases: tuple[str, ...]
    monthly_cost: float
    lead_time_s: float


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    profile: str
    metric: str
    ready: float
    degraded: float
    source: str


@dataclass(frozen=True, slots=True)
class ReportData:
    title: str
    generated_at: datetime
    bridge: str
    topology: str
    plan_profile: str
    profiles: tuple[str, ...]
    summary: tuple[SummaryRow, ...]
    sites: tuple[SiteRow, ...]
    reasons: tuple[ReasonRow, ...] = ()
    thresholds: tuple[ThresholdRow, ...] = ()
    links: tuple[LinkRow, ...] = ()
    spofs: tuple[SpofRow, ...] = ()
    purchases: tuple[PurchaseRow, ...] = ()
    waves: tuple[WaveRow, ...] = ()
    plan_cost: float = 0.0
    plan_lead_time_s: float = 0.0
    budget: float | None = None
    currency: str = "VND"
    measurements: str = ""
    """Where the measurements came from (a file, a Prometheus URL and window), or empty."""
    names: Mapping[str, str] = field(default_factory=dict)
    """Site code -> name, for sites mentioned in SPOFs, waves and links."""

    def name(self, code: str) -> str:
        return self.names.get(code, code)
