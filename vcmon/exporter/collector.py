"""The Prometheus collector: metric families built fresh from the latest View at each scrape.

It never probes and never raises: a bug here must cost one scrape's detail, not the scrape.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from vcmon import __version__
from vcmon.exporter import names as n
from vcmon.exporter.view import View
from vcmon.model import Direction, Inventory, Level, Link, Site, Verdict

log = logging.getLogger(__name__)

BYTES_PER_BIT = 1 / 8


def _gauge(m: n.MetricName) -> GaugeMetricFamily:
    return GaugeMetricFamily(m.name, m.help, labels=m.labels)


def _counter(m: n.MetricName) -> CounterMetricFamily:
    return CounterMetricFamily(m.name.removesuffix("_total"), m.help, labels=m.labels)


class SnapshotCollector(Collector):
    def __init__(self, latest: Callable[[], View | None]) -> None:
        self._latest = latest

    def describe(self) -> Iterator[Metric]:
        # An empty describe keeps registration from calling collect() before any View exists.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        build = InfoMetricFamily(n.BUILD_INFO.name, n.BUILD_INFO.help)
        build.add_metric([], {"version": __version__, "python": platform.python_version()})
        yield build
        view = self._latest()
        if view is None:
            return
        try:
            families = list(_families(view))
        except Exception:  # never let a bug fail the scrape
            log.exception("collector failed; serving build info only")
            return
        yield from families


def _families(view: View) -> Iterator[Metric]:
    inv = view.inventory
    status = view.inventory_status
    g = _gauge(n.INVENTORY_LOAD_SUCCESS)
    g.add_metric([], 1.0 if status.ok else 0.0)
    yield g
    g = _gauge(n.INVENTORY_LAST_LOAD_TIMESTAMP)
    g.add_metric([], status.loaded_at)
    yield g
    g = _gauge(n.INVENTORY_SITES)
    for level in Level:
        g.add_metric([level.value], sum(1 for s in inv.sites.values() if s.level is level))
    yield g
    if view.shard:
        info = InfoMetricFamily(n.SHARD_INFO.name, n.SHARD_INFO.help)
        info.add_metric([], {"shard": view.shard})
        yield info

    site_info = InfoMetricFamily(n.SITE_INFO.name, n.SITE_INFO.help)
    for s in inv.sites.values():
        site_info.add_metric([], site_labels(inv, s))
    yield site_info

    yield from _verdict_families(view)
    yield from _path_families(view)
    yield from _link_families(view)
    yield from _probe_families(view)
    yield from _conference_families(view)


def _verdict_families(view: View) -> Iterator[Metric]:
    states = StateSetMetricFamily(
        n.SITE_VERDICT.name, n.SITE_VERDICT.help, labels=("site", "profile")
    )
    best = InfoMetricFamily(n.SITE_BEST_PROFILE.name, n.SITE_BEST_PROFILE.help, labels=("site",))
    reasons = _gauge(n.SITE_REASON)
    roots = InfoMetricFamily(
        n.SITE_ROOT_CAUSE.name, n.SITE_ROOT_CAUSE.help, labels=("site", "profile")
    )
    for code, sr in view.verdicts.items():
        best.add_metric([code], {"profile": sr.best_profile or "none"})
        for profile, pv in sr.verdicts.items():
            # the current state only: the three zero-valued states would be 3/4 of the
            # largest family at national scale, and every rule selects `== 1` anyway
            states.add_metric([code, profile], {pv.verdict.value: True})
            for r in pv.reasons:
                if r.verdict is not Verdict.READY:
                    reasons.add_metric([code, profile, r.metric.value, r.verdict.value], 1.0)
            if pv.verdict is not Verdict.READY:
                roots.add_metric(
                    [code, profile], {"cause": pv.root_cause.value, "root": pv.root or code}
                )
    yield states
    yield best
    yield reasons
    yield roots


PATH_GAUGES = (
    n.PATH_RTT_MIN,
    n.PATH_RTT_P50,
    n.PATH_RTT_P95,
    n.PATH_RTT_MAX,
    n.PATH_LOSS,
    n.PATH_MOS,
    n.SITE_LAST_MEASUREMENT,
)
"""The per-site path gauges with one series per site (jitter has two: ipdv and RFC 3550)."""


def _path_families(view: View) -> Iterator[Metric]:
    fams = {m: _gauge(m) for m in PATH_GAUGES}
    jitter = _gauge(n.PATH_JITTER)
    for code, pm in view.observations.paths.items():
        fams[n.SITE_LAST_MEASUREMENT].add_metric([code], pm.measured_at)
        if pm.failure is not None:
            continue
        for m, value in (
            (n.PATH_RTT_MIN, pm.rtt_min_s),
            (n.PATH_RTT_P50, pm.rtt_p50_s),
            (n.PATH_RTT_P95, pm.rtt_p95_s),
            (n.PATH_RTT_MAX, pm.rtt_max_s),
            (n.PATH_LOSS, pm.loss_ratio),
            (n.PATH_MOS, pm.mos_estimate()),
        ):
            if value is not None:
                fams[m].add_metric([code], value)
        if pm.jitter_s is not None:
            jitter.add_metric([code, "ipdv"], pm.jitter_s)
        smoothed = pm.jitter_rfc3550_s
        if smoothed is not None:
            jitter.add_metric([code, "rfc3550"], smoothed)
    yield from fams.values()
    yield jitter


def _link_families(view: View) -> Iterator[Metric]:
    inv = view.inventory
    cap, used, util, spare = (
        _gauge(n.LINK_CAPACITY),
        _gauge(n.LINK_USED),
        _gauge(n.LINK_UTILISATION),
        _gauge(n.LINK_SPARE),
    )
    oper = _gauge(n.LINK_OPER_UP)
    info = InfoMetricFamily(n.LINK_INFO.name, n.LINK_INFO.help)
    for link in inv.links.values():
        info.add_metric([], link_labels(link))
    yield info
    conf = _gauge(n.LINK_CONFERENCE_LOAD)
    for link_id, link in inv.links.items():
        lm = view.observations.links.get(link_id)
        for d in Direction:
            cap.add_metric([link_id, d.value], link.capacity(d) * BYTES_PER_BIT)
            if lm is None or lm.failure is not None:
                continue
            bits = lm.used_up_bps if d is Direction.UP else lm.used_down_bps
            if bits is not None:
                used.add_metric([link_id, d.value], bits * BYTES_PER_BIT)
            u, s = lm.utilisation(d), lm.spare_bps(d)
            if u is not None:
                util.add_metric([link_id, d.value], u)
            if s is not None:
                spare.add_metric([link_id, d.value], s * BYTES_PER_BIT)
        if lm is not None and lm.oper_up is not None:
            oper.add_metric([link_id], 1.0 if lm.oper_up else 0.0)
    # the configured conference's profile only: the other profiles' loads are derivable
    # (they scale with the stream rate) and would triple the largest family
    profile = inv.conference.profile
    for link_id, ld in view.loads.get(profile, {}).items():
        for d in Direction:
            conf.add_metric([link_id, d.value, profile], ld.load_bps(d) * BYTES_PER_BIT)
    spofs = _gauge(n.SPOF_SITES_CUT_OFF)
    for spof in view.spofs:
        spofs.add_metric([spof.kind, spof.id], float(len(spof.cut_off)))
    yield from (cap, used, util, spare, oper, conf, spofs)


def _probe_families(view: View) -> Iterator[Metric]:
    success, duration, last = (
        _gauge(n.PROBE_SUCCESS),
        _gauge(n.PROBE_DURATION),
        _gauge(n.PROBE_LAST_SUCCESS),
    )
    failures = _counter(n.PROBE_FAILURES)
    devices = view.inventory.devices
    for (device, module), st in view.observations.probes.items():
        dev = devices.get(device)
        if dev is None:  # left the inventory since the probe ran
            continue
        labels = [dev.site, device, module]
        success.add_metric(labels, 1.0 if st.success else 0.0)
        duration.add_metric(labels, st.duration_s)
        if st.last_success_at is not None:
            last.add_metric(labels, st.last_success_at)
        for reason, count in st.failures_total.items():
            failures.add_metric([*labels, reason.value], float(count))
    lag = view.observations.lag
    drift = SummaryMetricFamily(
        n.SCHEDULER_LAG.name, n.SCHEDULER_LAG.help, count_value=lag.count, sum_value=lag.sum_s
    )
    for q in (0.5, 0.99, 1.0):
        value = lag.quantile(q)
        if value is not None:
            drift.add_sample(n.SCHEDULER_LAG.name, {"quantile": str(q)}, value)
    yield drift
    snmp = _counter(n.SNMP_ERRORS)
    for (device, reason), count in view.observations.snmp_errors.items():
        snmp.add_metric([device, reason.value], float(count))
    yield from (success, duration, last, failures, snmp)


def _conference_families(view: View) -> Iterator[Metric]:
    start, ready = _gauge(n.CONFERENCE_START), _gauge(n.CONFERENCE_SITE_READY)
    lead = _gauge(n.CONFERENCE_LEAD_TIME)
    for event in view.inventory.schedule:
        verdicts = view.conferences.get(event.name)
        if verdicts is None:  # over, or not judged yet
            continue
        start.add_metric([event.name, event.profile], event.start_s)
        lead.add_metric([event.name], event.lead_time_s)
        for site, verdict in verdicts.items():
            ready.add_metric([event.name, site], 1.0 if verdict is Verdict.READY else 0.0)
    yield start
    yield lead
    yield ready


def site_labels(inventory: Inventory, s: Site) -> dict[str, str]:
    """The labels of a site's info metric (also written by the fast exposition)."""
    district = inventory.sites.get(s.district) if s.district else None
    return {
        "site": s.code,
        "name": s.name,
        "district": s.district or "",
        "district_name": district.name if district else "",
        "level": s.level.value,
        "terrain": s.terrain.value,
        "latitude": f"{s.coordinates.lat:.5f}" if s.coordinates else "",
        "longitude": f"{s.coordinates.lon:.5f}" if s.coordinates else "",
    }


def link_labels(link: Link) -> dict[str, str]:
    """The labels of a link's info metric (also written by the fast exposition)."""
    return {
        "link": link.id,
        "site": link.site,
        "to": link.to,
        "medium": link.medium.value,
        "role": link.role.value,
    }
