"""Every metric vcmon exposes, named once. Dashboards, rules and tests refer to these.

Units follow Prometheus conventions: seconds, bytes (rates in bytes per second: multiply by 8
for the bit rates carriers quote), ratios 0..1. Label values are bounded: site codes, link ids,
profile names and enum values from the inventory or vcmon.model, never raw error strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["gauge", "counter", "info", "stateset", "summary"]


@dataclass(frozen=True, slots=True)
class MetricName:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


def _m(name: str, kind: Kind, help_: str, *labels: str) -> MetricName:
    return MetricName(f"vcmon_{name}", kind, help_, labels)


# --- the agent itself ------------------------------------------------------------------
BUILD_INFO = _m("build", "info", "vcmon version and Python version.", "version", "python")
INVENTORY_LOAD_SUCCESS = _m(
    "inventory_load_success",
    "gauge",
    "1 if the last inventory (re)load succeeded; 0 if vcmon kept the previous good one.",
)
INVENTORY_LAST_LOAD_TIMESTAMP = _m(
    "inventory_last_load_timestamp_seconds",
    "gauge",
    "Unix time of the last successful inventory load.",
)
INVENTORY_SITES = _m("inventory_sites", "gauge", "Sites in the inventory by level.", "level")
SHARD_INFO = _m("shard", "info", "Which shard of the inventory this agent covers.", "shard")

# --- sites -----------------------------------------------------------------------------
SITE_INFO = _m(
    "site",
    "info",
    "Static facts about a site, for dashboards (join on site).",
    "site",
    "name",
    "district",
    "district_name",
    "level",
    "terrain",
    "latitude",
    "longitude",
)
SITE_VERDICT = _m(
    "site_verdict",
    "stateset",
    "Readiness verdict per site and profile: one series, for the current state, valued 1.",
    "site",
    "profile",
    "vcmon_site_verdict",
)
SITE_BEST_PROFILE = _m(
    "site_best_profile",
    "info",
    "The highest-demand profile the site is ready for ('none' if none).",
    "site",
    "profile",
)
SITE_REASON = _m(
    "site_reason",
    "gauge",
    "1 for each reason keeping a site from 'ready' for a profile (metric from a fixed set).",
    "site",
    "profile",
    "metric",
    "verdict",
)
SITE_ROOT_CAUSE = _m(
    "site_root_cause",
    "info",
    "Where a site's problem lies: local, or upstream at the named site or link.",
    "site",
    "profile",
    "cause",
    "root",
)
SITE_LAST_MEASUREMENT = _m(
    "site_last_measurement_timestamp_seconds",
    "gauge",
    "Unix time of the newest path measurement used for the site's verdict.",
    "site",
)

# --- path quality (ICMP, NOC to site) ---------------------------------------------------
PATH_RTT_MIN = _m("path_rtt_min_seconds", "gauge", "Minimum RTT of the last probe.", "site")
PATH_RTT_P50 = _m("path_rtt_p50_seconds", "gauge", "Median RTT of the last probe.", "site")
PATH_RTT_P95 = _m("path_rtt_p95_seconds", "gauge", "95th percentile RTT of the last probe.", "site")
PATH_RTT_MAX = _m("path_rtt_max_seconds", "gauge", "Maximum RTT of the last probe.", "site")
PATH_JITTER = _m(
    "path_jitter_seconds",
    "gauge",
    "Jitter of the last probe: method=ipdv is mean |RTT(i)-RTT(i-1)| (RFC 5481), "
    "method=rfc3550 the smoothed estimator of RFC 3550 6.4.1.",
    "site",
    "method",
)
PATH_LOSS = _m("path_loss_ratio", "gauge", "Share of echoes lost in the last probe.", "site")
PATH_MOS = _m(
    "path_mos_estimate",
    "gauge",
    "Simplified E-model MOS (G.107) from one-way latency = RTT/2, IPDV jitter and loss.",
    "site",
)

# --- links (SNMP, contracted capacity) --------------------------------------------------
LINK_INFO = _m(
    "link",
    "info",
    "Static facts about a link, for dashboards (join on link): its customer-end site, the "
    "upstream site it goes to, medium and role.",
    "link",
    "site",
    "to",
    "medium",
    "role",
)
LINK_CAPACITY = _m(
    "link_capacity_bytes_per_second",
    "gauge",
    "Contracted capacity per direction (up = from the link's site toward the bridge).",
    "link",
    "direction",
)
LINK_USED = _m(
    "link_used_bytes_per_second",
    "gauge",
    "Measured traffic per direction from IF-MIB 64-bit counters.",
    "link",
    "direction",
)
LINK_UTILISATION = _m(
    "link_utilisation_ratio", "gauge", "Measured traffic over capacity.", "link", "direction"
)
LINK_SPARE = _m(
    "link_spare_bytes_per_second",
    "gauge",
    "Capacity minus measured traffic, per direction.",
    "link",
    "direction",
)
LINK_OPER_UP = _m("link_oper_up", "gauge", "1 if ifOperStatus is up.", "link")
LINK_CONFERENCE_LOAD = _m(
    "link_conference_load_bytes_per_second",
    "gauge",
    "What the configured whole-province conference would add to the link, per direction.",
    "link",
    "direction",
    "profile",
)
SPOF_SITES_CUT_OFF = _m(
    "spof_sites_cut_off",
    "gauge",
    "Sites that lose every path to the bridge if this site or link fails.",
    "kind",
    "id",
)

# --- probes -----------------------------------------------------------------------------
PROBE_SUCCESS = _m(
    "probe_success", "gauge", "1 if the last probe succeeded.", "site", "device", "module"
)
PROBE_DURATION = _m(
    "probe_duration_seconds", "gauge", "How long the last probe took.", "site", "device", "module"
)
PROBE_LAST_SUCCESS = _m(
    "probe_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful probe.",
    "site",
    "device",
    "module",
)
PROBE_FAILURES = _m(
    "probe_failures_total",
    "counter",
    "Failed probes by reason.",
    "site",
    "device",
    "module",
    "reason",
)
SCHEDULER_LAG = _m(
    "scheduler_lag_seconds",
    "summary",
    "How late probe jobs started against their schedule (drift); quantiles over the last "
    "2,000 jobs.",
)
SNMP_ERRORS = _m(
    "snmp_errors_total",
    "counter",
    "SNMP polls that failed, by reason (timeout, auth_failed, bad_response, ...).",
    "device",
    "reason",
)

# --- conference schedule ------------------------------------------------------------------
CONFERENCE_START = _m(
    "conference_start_timestamp_seconds",
    "gauge",
    "Unix time a scheduled conference starts.",
    "conference",
    "profile",
)
CONFERENCE_LEAD_TIME = _m(
    "conference_lead_time_seconds",
    "gauge",
    "How long before a scheduled conference every site it needs must be ready.",
    "conference",
)
CONFERENCE_SITE_READY = _m(
    "conference_site_ready",
    "gauge",
    "1 if a site needed by a scheduled conference is ready for its profile, else 0.",
    "conference",
    "site",
)

ALL: tuple[MetricName, ...] = tuple(v for v in globals().values() if isinstance(v, MetricName))


def exposed_names() -> frozenset[str]:
    """Every series name as it appears on /metrics (counters gain _total, info gains _info).

    >>> "vcmon_site_info" in exposed_names(), "vcmon_probe_failures_total" in exposed_names()
    (True, True)
    """
    out: set[str] = set()
    for m in ALL:
        if m.kind == "info":
            out.add(f"{m.name}_info")
        elif m.kind == "summary":
            out.update((m.name, f"{m.name}_count", f"{m.name}_sum"))
        else:
            out.add(m.name)
    return frozenset(out)
