"""Generate vcmon's Grafana dashboards as JSON: `python3 dashboards/grafana/generate.py`.

Plain dicts from the standard library rather than grafanalib (its Python API lags Grafana's
panel types: no geomap, no state timeline options) or grafana-foundation-sdk (not packaged
here): four dashboards do not need a framework, and the committed JSON is what Grafana
loads. tests/unit/test_dashboards.py checks the JSON is this script's output, so edit here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Json = dict[str, Any]

DATASOURCE_UID = "vcmon-prometheus"
DS: Json = {"type": "prometheus", "uid": DATASOURCE_UID}
OUT = Path(__file__).parent / "dashboards"

# Verdicts as numbers, so one colour scale paints maps, grids and timelines alike.
VERDICT_CODES = {"ready": 0, "degraded": 1, "not_ready": 2, "unknown": 3}
VERDICT_COLOURS = {"ready": "green", "degraded": "yellow", "not_ready": "red", "unknown": "gray"}
VERDICT_MAPPINGS: list[Json] = [
    {
        "type": "value",
        "options": {
            str(code): {"text": verdict, "color": VERDICT_COLOURS[verdict], "index": code}
            for verdict, code in VERDICT_CODES.items()
        },
    }
]
VERDICT_THRESHOLDS: Json = {
    "mode": "absolute",
    "steps": [
        {"color": VERDICT_COLOURS[v], "value": None if c == 0 else c}
        for v, c in VERDICT_CODES.items()
    ],
}

# Profile thresholds (DOMAIN.md default policy): ready / degraded limits.
RTT_S = (0.100, 0.300)
JITTER_S = (0.030, 0.050)
LOSS = (0.01, 0.05)


def verdict_code(selector: str, by: str) -> str:
    """PromQL giving each (by) group its current verdict as 0..3 (VERDICT_CODES).

    >>> verdict_code('site="1"', "site").count(" or ")
    3
    """
    return "\n or ".join(
        f'{code} * max by ({by}) (vcmon_site_verdict{{{selector},vcmon_site_verdict="{v}"}} == 1)'
        for v, code in VERDICT_CODES.items()
    )


def join_info(expr: str, labels: str) -> str:
    """Add vcmon_site_info labels (e.g. name, district_name) to a per-site expression."""
    return (
        f"({expr})\n* on (site) group_left ({labels})\n"
        f"  group by (site, {labels}) (vcmon_site_info)"
    )


def target(expr: str, ref: str = "A", legend: str = "", *, table: bool = False) -> Json:
    t: Json = {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend}
    if table:
        t |= {"format": "table", "instant": True, "range": False}
    return t


class Board:
    """Panels laid out left to right on Grafana's 24-column grid, ids numbered in order."""

    def __init__(self, uid: str, title: str, description: str) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.panels: list[Json] = []
        self.variables: list[Json] = []
        self._x = self._y = self._row_h = 0

    def add(self, kind: str, title: str, w: int, h: int, targets: list[Json], **extra: Any) -> None:
        if self._x + w > 24:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        panel: Json = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "datasource": DS,
            "gridPos": {"x": self._x, "y": self._y, "w": w, "h": h},
            "targets": targets,
        }
        panel.update(extra)
        self.panels.append(panel)
        self._x += w
        self._row_h = max(self._row_h, h)

    def variable(
        self,
        name: str,
        label: str,
        query: str,
        *,
        regex: str = "",
        multi: bool = False,
        default: str | None = None,
    ) -> None:
        entry: Json = {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DS,
            "query": {"query": query, "refId": f"var-{name}"},
            "definition": query,
            "regex": regex,
            "refresh": 2,
            "sort": 1,
            "multi": multi,
            "includeAll": multi,
        }
        if default is not None:
            entry["current"] = {"text": default, "value": default}
        self.variables.append(entry)

    def json(self) -> Json:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["vcmon"],
            "editable": False,
            "schemaVersion": 39,
            "version": 1,
            "timezone": "browser",
            "refresh": "1m",
            "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": self.variables},
            "annotations": {"list": []},
            "links": [
                {
                    "type": "dashboards",
                    "tags": ["vcmon"],
                    "asDropdown": True,
                    "title": "vcmon",
                    "includeVars": True,
                    "keepTime": True,
                }
            ],
            "panels": self.panels,
        }


def field(unit: str = "", *, thresholds: Json | None = None, **defaults: Any) -> Json:
    d: Json = {"unit": unit} if unit else {}
    if thresholds:
        d["thresholds"] = thresholds
    d.update(defaults)
    return {"defaults": d, "overrides": []}


def limits(ready: float, degraded: float) -> Json:
    """Green up to the ready limit, yellow up to the degraded one, red beyond."""
    return {
        "mode": "absolute",
        "steps": [
            {"color": "green", "value": None},
            {"color": "yellow", "value": ready},
            {"color": "red", "value": degraded},
        ],
    }


def timeseries_field(unit: str, ready: float, degraded: float) -> Json:
    """A time series with the ready and degraded limits drawn as dashed lines."""
    return field(
        unit,
        thresholds=limits(ready, degraded),
        custom={"thresholdsStyle": {"mode": "dashed"}, "lineWidth": 2},
    )


def hide_columns(*names: str) -> Json:
    return {"id": "organize", "options": {"excludeByName": dict.fromkeys(names, True)}}


def merged(hidden: tuple[str, ...], renames: dict[str, str]) -> list[Json]:
    """One table from several queries: merge, hide columns, name each query's value."""
    return [
        {"id": "merge", "options": {}},
        hide_columns(*hidden),
        {"id": "organize", "options": {"renameByName": renames}},
    ]


def seconds(*columns: str) -> Json:
    """fieldConfig showing the named columns in seconds."""
    return {
        "defaults": {},
        "overrides": [
            {
                "matcher": {"id": "byName", "options": c},
                "properties": [{"id": "unit", "value": "s"}],
            }
            for c in columns
        ],
    }


def profile_variable(board: Board) -> None:
    # hd (720p) is the profile provinces plan their rollout for (inventory/quang-ngai.yaml).
    board.variable("profile", "Profile", "label_values(vcmon_site_verdict, profile)", default="hd")


def province_overview() -> Json:
    b = Board(
        "vcmon-province",
        "vcmon / Province overview",
        "Which sites can join a conference now, where they are, and why the others cannot.",
    )
    profile_variable(b)
    for i, (verdict, colour) in enumerate(VERDICT_COLOURS.items()):
        b.add(
            "stat",
            f"Sites {verdict.replace('_', ' ')}",
            4 if i < 3 else 3,
            4,
            [
                target(
                    f'sum(profile_verdict:vcmon_sites:count{{profile="$profile",'
                    f'vcmon_site_verdict="{verdict}"}}) or vector(0)'
                )
            ],
            fieldConfig=field(
                "none",
                thresholds={"mode": "absolute", "steps": [{"color": colour, "value": None}]},
            ),
            options={"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
        )
    b.add(
        "stat",
        "Share ready",
        9,
        4,
        [target('profile:vcmon_sites_ready:ratio{profile="$profile"}')],
        fieldConfig=field(
            "percentunit",
            thresholds={
                "mode": "absolute",
                "steps": [
                    {"color": "red", "value": None},
                    {"color": "yellow", "value": 0.8},
                    {"color": "green", "value": 0.95},
                ],
            },
        ),
        options={"reduceOptions": {"calcs": ["lastNotNull"]}},
    )
    b.add(
        "geomap",
        "Sites by verdict",
        14,
        16,
        [
            target(
                join_info(
                    verdict_code('profile="$profile"', "site"),
                    "name, district_name, latitude, longitude",
                ),
                table=True,
            )
        ],
        description="Each site at its coordinates (commune ones approximate), coloured by its "
        "verdict for the selected profile.",
        fieldConfig=field("none", thresholds=VERDICT_THRESHOLDS, mappings=VERDICT_MAPPINGS),
        transformations=[
            {
                "id": "convertFieldType",
                "options": {
                    "conversions": [
                        {"targetField": "latitude", "destinationType": "number"},
                        {"targetField": "longitude", "destinationType": "number"},
                    ]
                },
            }
        ],
        options={
            "view": {"id": "coords", "lat": 15.0, "lon": 108.6, "zoom": 9},
            "controls": {"showZoom": True, "mouseWheelZoom": True},
            "basemap": {"type": "default", "name": "Basemap"},
            "layers": [
                {
                    "type": "markers",
                    "name": "Sites",
                    "location": {
                        "mode": "coords",
                        "latitude": "latitude",
                        "longitude": "longitude",
                    },
                    "config": {
                        "size": {"fixed": 6},
                        "color": {"field": "Value", "fixed": "gray"},
                        "showLegend": True,
                    },
                    "tooltip": True,
                }
            ],
        },
    )
    b.add(
        "barchart",
        "Sites by district and verdict",
        10,
        16,
        [
            target(
                'district_profile_verdict:vcmon_sites:count{profile="$profile"}\n'
                "* on (district) group_left (district_name)\n"
                "  group by (district, district_name) (vcmon_site_info)",
                table=True,
            )
        ],
        transformations=[
            {
                "id": "groupingToMatrix",
                "options": {
                    "rowField": "district_name",
                    "columnField": "vcmon_site_verdict",
                    "valueField": "Value",
                },
            }
        ],
        fieldConfig={
            "defaults": {"unit": "none"},
            "overrides": [
                {
                    "matcher": {"id": "byName", "options": v},
                    "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": c}}],
                }
                for v, c in VERDICT_COLOURS.items()
            ],
        },
        options={"stacking": "normal", "orientation": "horizontal", "legend": {"showLegend": True}},
    )
    b.add(
        "table",
        "Sites not ready or degraded, and why",
        12,
        12,
        [
            target(
                join_info(
                    'vcmon_site_reason{profile="$profile",verdict=~"not_ready|degraded"} == 1',
                    "name, district_name",
                ),
                table=True,
            )
        ],
        description="One row per reason: metric is what failed (rtt_p95, jitter, loss, "
        "spare_up, spare_down, no_data, stale, probe_failed, unreachable).",
        transformations=[hide_columns("Time", "Value", "instance", "job", "shard", "__name__")],
        options={"sortBy": [{"displayName": "verdict", "desc": True}]},
    )
    b.add(
        "table",
        "Readiness grid: site x profile",
        12,
        12,
        [
            target(
                join_info(verdict_code('profile=~".+"', "site, profile"), "name"),
                table=True,
            )
        ],
        description="Like perfSONAR's MaDDash grid: a row per site, a column per profile.",
        transformations=[
            {
                "id": "groupingToMatrix",
                "options": {"rowField": "name", "columnField": "profile", "valueField": "Value"},
            }
        ],
        fieldConfig=field(
            "none",
            thresholds=VERDICT_THRESHOLDS,
            mappings=VERDICT_MAPPINGS,
            custom={"cellOptions": {"type": "color-background"}},
        ),
    )
    return b.json()


def site_detail() -> Json:
    b = Board(
        "vcmon-site",
        "vcmon / Site detail",
        "One site's path to the bridge: RTT, jitter and loss against the profile limits, its "
        "links, and how its verdict changed.",
    )
    # The series text lists labels alphabetically: name comes before site.
    b.variable(
        "site",
        "Site",
        "query_result(vcmon_site_info)",
        regex='/name="(?<text>[^"]*)".*site="(?<value>[^"]*)"/',
    )
    s = 'site="$site"'
    b.add(
        "state-timeline",
        "Verdict per profile",
        24,
        6,
        [target(verdict_code(s, "profile"), legend="{{profile}}")],
        fieldConfig=field("none", thresholds=VERDICT_THRESHOLDS, mappings=VERDICT_MAPPINGS),
        options={"showValue": "never", "mergeValues": True},
    )
    b.add(
        "timeseries",
        "RTT to the bridge (ready <= 100 ms p95, degraded <= 300 ms)",
        12,
        8,
        [
            target(f"vcmon_path_rtt_min_seconds{{{s}}}", "A", "min"),
            target(f"vcmon_path_rtt_p50_seconds{{{s}}}", "B", "p50"),
            target(f"vcmon_path_rtt_p95_seconds{{{s}}}", "C", "p95"),
            target(f"vcmon_path_rtt_max_seconds{{{s}}}", "D", "max"),
        ],
        fieldConfig=timeseries_field("s", *RTT_S),
    )
    b.add(
        "timeseries",
        "Jitter (ready <= 30 ms, degraded <= 50 ms)",
        12,
        8,
        [target(f"vcmon_path_jitter_seconds{{{s}}}", legend="{{method}}")],
        fieldConfig=timeseries_field("s", *JITTER_S),
        description="ipdv: mean |RTT(i)-RTT(i-1)| (RFC 5481); rfc3550: the smoothed estimator "
        "of RFC 3550 6.4.1. Readiness uses ipdv.",
    )
    b.add(
        "timeseries",
        "Loss (ready <= 1%, degraded <= 5%)",
        12,
        8,
        [target(f"vcmon_path_loss_ratio{{{s}}}", legend="loss")],
        fieldConfig=timeseries_field("percentunit", *LOSS),
    )
    b.add(
        "timeseries",
        "MOS estimate (simplified E-model)",
        12,
        8,
        [target(f"vcmon_path_mos_estimate{{{s}}}", legend="MOS")],
        fieldConfig=field(
            "none",
            thresholds={
                "mode": "absolute",
                "steps": [
                    {"color": "red", "value": None},
                    {"color": "yellow", "value": 3.6},
                    {"color": "green", "value": 4.0},
                ],
            },
            min=1,
            max=4.5,
            custom={"thresholdsStyle": {"mode": "dashed"}},
        ),
    )
    site_links = 'group by (link, site) (vcmon_link_info{site="$site"})'
    b.add(
        "timeseries",
        "Utilisation of the site's links",
        12,
        8,
        [
            target(
                f"vcmon_link_utilisation_ratio\n* on (link) group_left (site)\n  {site_links}",
                legend="{{link}} {{direction}}",
            )
        ],
        fieldConfig=timeseries_field("percentunit", 0.7, 0.9),
    )
    b.add(
        "timeseries",
        "Traffic and capacity of the site's links",
        12,
        8,
        [
            target(
                f"8 * vcmon_link_used_bytes_per_second\n* on (link) group_left (site)\n"
                f"  {site_links}",
                "A",
                "{{link}} {{direction}} used",
            ),
            target(
                f"8 * vcmon_link_capacity_bytes_per_second\n* on (link) group_left (site)\n"
                f"  {site_links}",
                "B",
                "{{link}} {{direction}} capacity",
            ),
        ],
        fieldConfig=field("bps"),
    )
    b.add(
        "table",
        "Why it is not ready now",
        12,
        6,
        [target(f"vcmon_site_reason{{{s}}} == 1", table=True)],
        transformations=[hide_columns("Time", "Value", "instance", "job", "shard", "__name__")],
    )
    b.add(
        "table",
        "Probes of this site",
        12,
        6,
        [
            target(f"vcmon_probe_success{{{s}}}", "A", table=True),
            target(f"time() - vcmon_probe_last_success_timestamp_seconds{{{s}}}", "B", table=True),
            target(f"vcmon_probe_duration_seconds{{{s}}}", "C", table=True),
        ],
        transformations=merged(
            ("Time", "instance", "job", "shard", "site"),
            {"Value #A": "success", "Value #B": "last success age", "Value #C": "duration"},
        ),
        fieldConfig=seconds("last success age", "duration"),
    )
    return b.json()


def links_capacity() -> Json:
    b = Board(
        "vcmon-links",
        "vcmon / Links and capacity",
        "Which links are full now, which a whole-province conference would overfill, and "
        "which sites and links are single points of failure.",
    )
    profile_variable(b)
    b.add(
        "bargauge",
        "Top 15 utilised links (5-minute mean, busier direction)",
        12,
        10,
        [target("topk(15, link:vcmon_link_utilisation_ratio:max_avg5m)", legend="{{link}}")],
        fieldConfig=field("percentunit", thresholds=limits(0.7, 0.9), min=0, max=1),
        options={"orientation": "horizontal", "displayMode": "gradient"},
    )
    b.add(
        "bargauge",
        "Least headroom during a $profile conference",
        12,
        10,
        [
            target(
                "bottomk(15, 8 * link_direction_profile:vcmon_conference_headroom_bytes_per_second"
                ':max{profile="$profile"})',
                legend="{{link}} {{direction}}",
            )
        ],
        description="Spare capacity now minus what the configured conference adds: "
        "below zero the conference does not fit on the link.",
        fieldConfig=field(
            "bps",
            thresholds={
                "mode": "absolute",
                "steps": [
                    {"color": "red", "value": None},
                    {"color": "yellow", "value": 0},
                    {"color": "green", "value": 2_000_000},
                ],
            },
        ),
        options={"orientation": "horizontal", "displayMode": "gradient"},
    )
    per_link = "max by (link, direction)"
    b.add(
        "table",
        "Conference load vs capacity",
        24,
        10,
        [
            target(f"8 * {per_link} (vcmon_link_capacity_bytes_per_second)", "A", table=True),
            target(f"8 * {per_link} (vcmon_link_used_bytes_per_second)", "B", table=True),
            target(
                f"8 * {per_link} (vcmon_link_conference_load_bytes_per_second"
                '{profile="$profile"})',
                "C",
                table=True,
            ),
            target(
                f"{per_link} (vcmon_link_conference_load_bytes_per_second"
                '{profile="$profile"})\n'
                f"/ on (link, direction) {per_link} (vcmon_link_capacity_bytes_per_second)",
                "D",
                table=True,
            ),
        ],
        transformations=[
            *merged(
                ("Time",),
                {
                    "Value #A": "capacity",
                    "Value #B": "used now",
                    "Value #C": "conference load",
                    "Value #D": "load / capacity",
                },
            ),
            {"id": "sortBy", "options": {"sort": [{"field": "load / capacity", "desc": True}]}},
        ],
        fieldConfig={
            "defaults": {"unit": "bps"},
            "overrides": [
                {
                    "matcher": {"id": "byName", "options": "load / capacity"},
                    "properties": [
                        {"id": "unit", "value": "percentunit"},
                        {"id": "thresholds", "value": limits(0.7, 1.0)},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    ],
                }
            ],
        },
    )
    b.add(
        "table",
        "Single points of failure",
        12,
        10,
        [target("max by (kind, id) (vcmon_spof_sites_cut_off) > 0", table=True)],
        description="Sites or links whose failure cuts these many sites off the bridge.",
        transformations=[
            hide_columns("Time"),
            {"id": "organize", "options": {"renameByName": {"Value": "sites cut off"}}},
            {"id": "sortBy", "options": {"sort": [{"field": "sites cut off", "desc": True}]}},
        ],
    )
    b.add(
        "table",
        "Links down (ifOperStatus)",
        12,
        10,
        [
            target(
                "(max by (link) (vcmon_link_oper_up) == 0)\n"
                "* on (link) group_left (site, to, medium, role)\n"
                "  group by (link, site, to, medium, role) (vcmon_link_info)",
                table=True,
            )
        ],
        transformations=[hide_columns("Time", "Value")],
    )
    b.add(
        "table",
        "Backup links in use: $profile conference load",
        24,
        8,
        [
            target(
                "(8 * max by (link, direction) (vcmon_link_conference_load_bytes_per_second"
                '{profile="$profile"}) > 0)\n'
                "* on (link) group_left (site, to, medium)\n"
                '  group by (link, site, to, medium) (vcmon_link_info{role="backup"})',
                table=True,
            )
        ],
        description="A primary link on these sites' path is down (see Links down), so vcmon "
        "judges them over their backup link: the load a whole-province conference would put "
        "on it.",
        transformations=[
            hide_columns("Time"),
            {"id": "organize", "options": {"renameByName": {"Value": "conference load"}}},
        ],
        fieldConfig={"defaults": {"unit": "bps"}},
    )
    return b.json()


def probe_health() -> Json:
    b = Board(
        "vcmon-probes",
        "vcmon / Probe health",
        "Is vcmon itself measuring? Agents, probe success, durations, freshness, SNMP errors.",
    )
    b.add(
        "table",
        "Agents",
        12,
        6,
        [
            target('up{job="vcmon"}', "A", table=True),
            target("vcmon_inventory_load_success", "B", table=True),
            target("time() - vcmon_inventory_last_load_timestamp_seconds", "C", table=True),
        ],
        transformations=merged(
            ("Time", "__name__"),
            {"Value #A": "up", "Value #B": "inventory loaded", "Value #C": "inventory age"},
        ),
        fieldConfig=seconds("inventory age"),
    )
    b.add(
        "stat",
        "Probe success by module",
        12,
        6,
        [target("avg by (module) (vcmon_probe_success)", legend="{{module}}")],
        fieldConfig=field(
            "percentunit",
            thresholds={
                "mode": "absolute",
                "steps": [
                    {"color": "red", "value": None},
                    {"color": "yellow", "value": 0.9},
                    {"color": "green", "value": 0.99},
                ],
            },
        ),
        options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"},
    )
    b.add(
        "timeseries",
        "Probe duration p95 and max by module",
        12,
        8,
        [
            target(
                "quantile by (module) (0.95, vcmon_probe_duration_seconds)", "A", "{{module}} p95"
            ),
            target("max by (module) (vcmon_probe_duration_seconds)", "B", "{{module}} max"),
        ],
        fieldConfig=field("s"),
    )
    b.add(
        "timeseries",
        "Probe failures by reason",
        12,
        8,
        [
            target(
                "sum by (module, reason) (rate(vcmon_probe_failures_total[$__rate_interval]))",
                legend="{{module}} {{reason}}",
            )
        ],
        fieldConfig=field("ops"),
    )
    b.add(
        "bargauge",
        "Oldest last success (stale after 180 s: 3 missed 60 s cycles)",
        12,
        10,
        [
            target(
                "topk(20, site_module:vcmon_probe_last_success:age_seconds)",
                legend="{{site}} {{module}}",
            )
        ],
        fieldConfig=field("s", thresholds=limits(120, 180)),
        options={"orientation": "horizontal", "displayMode": "gradient"},
    )
    b.add(
        "timeseries",
        "SNMP errors by reason",
        12,
        10,
        [
            target(
                "sum by (reason) (rate(vcmon_snmp_errors_total[$__rate_interval]))",
                "A",
                "{{reason}}",
            ),
        ],
        fieldConfig=field("ops"),
    )
    b.add(
        "table",
        "Devices with the most SNMP errors (last hour)",
        12,
        8,
        [
            target(
                "topk(20, sum by (device, reason) (increase(vcmon_snmp_errors_total[1h]))) > 0",
                table=True,
            )
        ],
        transformations=[
            hide_columns("Time"),
            {"id": "organize", "options": {"renameByName": {"Value": "errors"}}},
        ],
    )
    b.add(
        "table",
        "Failing probes now",
        12,
        8,
        [target(join_info("vcmon_probe_success == 0", "name, district_name"), table=True)],
        transformations=[hide_columns("Time", "Value", "instance", "job", "shard")],
    )
    return b.json()


DASHBOARDS = {
    "province-overview.json": province_overview,
    "site-detail.json": site_detail,
    "links-capacity.json": links_capacity,
    "probe-health.json": probe_health,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for filename, build in DASHBOARDS.items():
        (OUT / filename).write_text(render(build), encoding="utf-8")
        print(OUT / filename)
    return 0


if __name__ == "__main__":
    sys.exit(main())
