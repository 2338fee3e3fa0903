"""Gather everything a report shows into one `ReportData`: verdicts, loads, SPOFs, the plan.

The only place the report touches the analyses; the writers only see plain rows.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import networkx as nx

from vcmon.model import ConferenceTopology, Inventory, Level, Measurements, Metric, Verdict
from vcmon.plan import NO_MCU_COST, Costs, blocked_by_quality, plan, waves
from vcmon.readiness import assess
from vcmon.report.data import (
    LinkRow,
    PurchaseRow,
    ReasonRow,
    ReportData,
    SiteRow,
    SpofRow,
    SummaryRow,
    ThresholdRow,
    WaveRow,
)
from vcmon.topology import Routes, spofs


def collect(
    inventory: Inventory,
    graph: nx.Graph,
    routes: Routes,
    *,
    profile: str | None = None,
    topology: ConferenceTopology | None = None,
    measurements: Measurements | None = None,
    now: float | None = None,
    budget: float | None = None,
    costs: Costs = NO_MCU_COST,
    source: str = "",
) -> ReportData:
    """A whole-province conference: every site joins; the plan is for `profile`.

    `now` (Unix seconds) dates the report and judges the measurements' freshness; `source`
    says where the measurements came from.
    """
    when = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    stamp = when.timestamp()
    main = profile or inventory.conference.profile
    topo = topology or inventory.conference.topology
    cascade = frozenset(inventory.conference.cascade_at)
    everyone = frozenset(inventory.sites)
    verdicts = assess(
        inventory,
        graph,
        routes,
        everyone,
        topo,
        cascade,
        measurements=measurements,
        now=stamp if measurements is not None else None,
    )
    the_plan = plan(
        inventory,
        graph,
        routes,
        profile=main,
        topology=topo,
        budget=budget,
        measurements=measurements,
        now=stamp if measurements is not None else None,
        costs=costs,
        blocked=blocked_by_quality(verdicts, main),
    )
    the_waves = waves(the_plan)
    paths = measurements.paths if measurements else {}
    sites: list[SiteRow] = []
    reasons: list[ReasonRow] = []
    for code, site in inventory.sites.items():
        r = verdicts[code]
        pm = paths.get(code)
        coords = site.coordinates
        sites.append(
            SiteRow(
                code=code,
                name=site.name,
                level=site.level,
                district=site.district,
                lat=coords.lat if coords else None,
                lon=coords.lon if coords else None,
                rooms=site.rooms,
                verdicts={p: v.verdict for p, v in r.verdicts.items()},
                best_profile=r.best_profile,
                rtt_p95_s=pm.rtt_p95_s if pm else None,
                jitter_s=pm.jitter_s if pm else None,
                loss_ratio=pm.loss_ratio if pm else None,
            )
        )
        for name, v in r.verdicts.items():
            reasons.extend(
                ReasonRow(
                    code,
                    name,
                    x.metric.value,
                    x.verdict,
                    x.value,
                    x.threshold,
                    x.source,
                    x.where if x.where != code else None,
                )
                for x in v.reasons
            )
    # The plan's problem already holds the conference load of every link for the main profile.
    loads = the_plan.problem.links
    links = tuple(
        LinkRow(
            lid,
            link.site,
            link.to,
            link.medium.value,
            link.up_bps,
            link.down_bps,
            loads[lid].load_up_bps if lid in loads else 0.0,
            loads[lid].load_down_bps if lid in loads else 0.0,
            link.role.value,
        )
        for lid, link in inventory.links.items()
    )
    wave_of = {p: w.number for w in the_waves for p in w.purchases}
    return ReportData(
        title=_title(inventory),
        generated_at=when,
        bridge=routes.bridge,
        topology=topo.value,
        plan_profile=main,
        profiles=tuple(inventory.profiles),
        summary=_summary(inventory, sites, routes.bridge),
        sites=tuple(sites),
        reasons=tuple(reasons),
        thresholds=_thresholds(inventory),
        links=links,
        spofs=tuple(SpofRow(s.kind, s.id, s.cut_off) for s in spofs(graph, routes.bridge)),
        purchases=tuple(
            PurchaseRow(
                wave_of.get(p, 0), p.kind.value, p.target, p.name, p.monthly_cost, p.lead_time_s
            )
            for p in sorted(the_plan.purchases, key=lambda p: (wave_of.get(p, 0), p))
        ),
        waves=tuple(
            WaveRow(
                w.number, w.sites, tuple(p.key for p in w.purchases), w.monthly_cost, w.lead_time_s
            )
            for w in the_waves
        ),
        plan_cost=the_plan.monthly_cost,
        plan_lead_time_s=the_plan.lead_time_s,
        budget=budget,
        measurements=source,
        names={code: s.name for code, s in inventory.sites.items()},
    )


def _title(inventory: Inventory) -> str:
    provinces = [s for s in inventory.sites.values() if s.level is Level.PROVINCE]
    if len(provinces) == 1:
        return provinces[0].name
    return inventory.sites[inventory.conference.bridge].name


def _summary(inventory: Inventory, sites: list[SiteRow], bridge: str) -> tuple[SummaryRow, ...]:
    """Verdict counts per profile over every site but the bridge (it hosts the call)."""
    rows = []
    counted = [s for s in sites if s.code != bridge]
    communes = [s for s in counted if s.level is Level.COMMUNE]
    for name in inventory.profiles:
        n = Counter(s.verdicts[name] for s in counted)
        rows.append(
            SummaryRow(
                profile=name,
                ready=n[Verdict.READY],
                degraded=n[Verdict.DEGRADED],
                not_ready=n[Verdict.NOT_READY],
                unknown=n[Verdict.UNKNOWN],
                communes=len(communes),
                communes_ready=sum(s.verdicts[name] is Verdict.READY for s in communes),
            )
        )
    return tuple(rows)


def _thresholds(inventory: Inventory) -> tuple[ThresholdRow, ...]:
    rows = []
    for name, p in inventory.profiles.items():
        for metric, t in (
            (Metric.RTT_P95, p.policy.rtt_p95_s),
            (Metric.JITTER, p.policy.jitter_s),
            (Metric.LOSS, p.policy.loss_ratio),
        ):
            rows.append(ThresholdRow(name, metric.value, t.ready, t.degraded, t.source))
    return tuple(rows)
