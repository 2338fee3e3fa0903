"""The Grafana dashboards, Prometheus rules and Alertmanager example agree with the exporter.

Grafana is not installable here, so these checks stand in for loading the dashboards: every
`vcmon_*` name and label they query exists in vcmon.exporter.names, every recording rule
they use is defined, panels and datasources are wired as provisioned, and every alert has
its hysteresis, severity, route, runbook section and promtool test.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from vcmon.exporter import names

ROOT = Path(__file__).resolve().parents[2]
DASH = ROOT / "dashboards"
BOARDS = sorted((DASH / "grafana" / "dashboards").glob("*.json"))
RULE_FILES = sorted((DASH / "prometheus" / "rules").glob("*.yml"))
TEST_FILES = sorted((DASH / "prometheus" / "tests").glob("*.test.yml"))

# Labels Prometheus or the scrape config add to every vcmon series.
TARGET_LABELS = {"instance", "job", "shard"}
RECORDED = re.compile(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b")
VCMON_NAME = re.compile(r"\bvcmon_[a-z0-9_]+")
SELECTOR = re.compile(r"\b((?:[a-z_]+:)?vcmon_[a-z0-9_]+(?::[a-z0-9_]+)?)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> Iterator[dict[str, Any]]:
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            yield from group["rules"]


def alerts() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def recorded_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def exprs_in(node: Any) -> Iterator[str]:
    """Every PromQL string in a dashboard: panel targets and query variables."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"expr", "definition"} and isinstance(value, str):
                yield value
            else:
                yield from exprs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from exprs_in(item)


def board(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASH / "grafana" / "dashboards" / name).read_text("utf-8"))
    return data


def all_exprs() -> list[tuple[str, str]]:
    out = [(p.name, e) for p in BOARDS for e in exprs_in(json.loads(p.read_text("utf-8")))]
    out += [(r.get("alert") or r["record"], r["expr"]) for r in rules()]
    return out


def label_sets() -> dict[str, set[str]]:
    """Series name -> the labels it may carry (state sets also carry their own name)."""
    out: dict[str, set[str]] = {}
    for m in names.ALL:
        series = f"{m.name}_info" if m.kind == "info" else m.name
        out[series] = set(m.labels) | TARGET_LABELS
    return out


def test_there_are_four_dashboards_two_rule_files_and_their_tests() -> None:
    assert [p.name for p in BOARDS] == [
        "links-capacity.json",
        "probe-health.json",
        "province-overview.json",
        "site-detail.json",
    ]
    assert [p.name for p in RULE_FILES] == ["vcmon-alerts.yml", "vcmon-recording.yml"]
    assert len(TEST_FILES) == 2


def test_every_vcmon_name_in_dashboards_and_rules_is_exposed_or_recorded() -> None:
    exposed = names.exposed_names()
    recorded = recorded_names()
    unknown = set()
    for where, expr in all_exprs():
        for rec in RECORDED.findall(expr):
            if rec not in recorded:
                unknown.add((where, rec))
        for name in VCMON_NAME.findall(RECORDED.sub("", expr)):
            if name not in exposed:
                unknown.add((where, name))
    assert not unknown


def test_the_name_check_catches_a_misspelt_metric() -> None:
    expr = "vcmon_path_rtt_p99_seconds + profile_verdict:vcmon_sites:count"
    found = set(VCMON_NAME.findall(RECORDED.sub("", expr)))
    assert found == {"vcmon_path_rtt_p99_seconds"}
    assert not found <= names.exposed_names()


def test_every_label_matcher_uses_a_label_the_metric_has() -> None:
    labels = label_sets()
    wrong = []
    for where, expr in all_exprs():
        for series, body in SELECTOR.findall(expr):
            if series not in labels:  # recording rules: checked by the name test
                continue
            for label in MATCHER.findall(body):
                if label not in labels[series]:
                    wrong.append((where, series, label))
    assert not wrong


def test_the_label_check_catches_a_label_the_metric_lacks() -> None:
    labels = label_sets()
    expr = 'vcmon_link_utilisation_ratio{site="21010", direction="up"}'
    ((series, body),) = SELECTOR.findall(expr)
    assert [x for x in MATCHER.findall(body) if x not in labels[series]] == ["site"]


def test_the_verdict_state_set_label_is_named_after_the_metric() -> None:
    # A state set's label has the metric's own name; dashboards and rules rely on it.
    assert "vcmon_site_verdict" in names.SITE_VERDICT.labels


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.name)
def test_dashboard_panels_have_unique_ids_and_the_provisioned_datasource(path: Path) -> None:
    provisioned = load_yaml(DASH / "grafana/provisioning/datasources/vcmon.yml")
    uid = provisioned["datasources"][0]["uid"]
    data = json.loads(path.read_text("utf-8"))
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))
    refs = [p["datasource"] for p in data["panels"]]
    refs += [t["datasource"] for p in data["panels"] for t in p["targets"]]
    refs += [v["datasource"] for v in data["templating"]["list"]]
    assert refs and all(r == {"type": "prometheus", "uid": uid} for r in refs)
    for panel in data["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        assert panel["targets"], panel["title"]


def test_dashboard_uids_are_unique_and_provisioned_from_the_mounted_folder() -> None:
    uids = [json.loads(p.read_text("utf-8"))["uid"] for p in BOARDS]
    assert len(uids) == len(set(uids))
    provider = load_yaml(DASH / "grafana/provisioning/dashboards/vcmon.yml")["providers"][0]
    compose = load_yaml(ROOT / "docker-compose.yml")
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./dashboards/grafana/dashboards:{provider['options']['path']}:ro" in mounts


def panels(name: str) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in board(name)["panels"]}


def test_province_overview_has_the_map_district_counts_reasons_and_grid() -> None:
    p = panels("province-overview.json")
    geomap = p["Sites by verdict"]
    assert geomap["type"] == "geomap"
    layer = geomap["options"]["layers"][0]
    assert layer["location"] == {
        "mode": "coords",
        "latitude": "latitude",
        "longitude": "longitude",
    }
    assert "latitude, longitude" in geomap["targets"][0]["expr"]
    assert "vcmon_site_info" in geomap["targets"][0]["expr"]
    assert (
        "district_profile_verdict:vcmon_sites:count"
        in (p["Sites by district and verdict"]["targets"][0]["expr"])
    )
    assert "vcmon_site_reason" in p["Sites not ready or degraded, and why"]["targets"][0]["expr"]
    grid = p["Readiness grid: site x profile"]
    assert grid["transformations"][0]["options"]["columnField"] == "profile"


def test_verdict_colours_map_every_verdict_code() -> None:
    mapping = panels("province-overview.json")["Sites by verdict"]["fieldConfig"]["defaults"]
    options = mapping["mappings"][0]["options"]
    assert {o["text"]: int(code) for code, o in options.items()} == {
        "ready": 0,
        "degraded": 1,
        "not_ready": 2,
        "unknown": 3,
    }


def test_site_detail_has_a_site_variable_and_threshold_lines() -> None:
    data = board("site-detail.json")
    assert [v["name"] for v in data["templating"]["list"]] == ["site"]
    p = {t: panel for t, panel in panels("site-detail.json").items()}
    limits = {}
    for title, panel in p.items():
        if panel["type"] == "timeseries" and "thresholds" in panel["fieldConfig"]["defaults"]:
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            limits[title.split(" (")[0]] = [s["value"] for s in steps[1:]]
            assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
    # DOMAIN.md's default policy, in base units (seconds, ratios).
    assert limits["RTT to the bridge"] == [0.1, 0.3]
    assert limits["Jitter"] == [0.03, 0.05]
    assert limits["Loss"] == [0.01, 0.05]
    assert p["Verdict per profile"]["type"] == "state-timeline"
    assert all('site="$site"' in t["expr"] for t in p["Why it is not ready now"]["targets"])


def test_links_and_probe_dashboards_have_their_panels() -> None:
    links = panels("links-capacity.json")
    assert {
        "Top 15 utilised links (5-minute mean, busier direction)",
        "Conference load vs capacity",
        "Single points of failure",
    } <= set(links)
    probes = " ".join(t["expr"] for p in board("probe-health.json")["panels"] for t in p["targets"])
    for metric in (
        "vcmon_probe_success",
        "vcmon_probe_duration_seconds",
        "site_module:vcmon_probe_last_success:age_seconds",
        "vcmon_snmp_errors_total",
    ):
        assert metric in probes


def test_committed_dashboards_are_the_generator_output() -> None:
    spec = importlib.util.spec_from_file_location("gen", DASH / "grafana" / "generate.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for filename, build in gen.DASHBOARDS.items():
        committed = (DASH / "grafana" / "dashboards" / filename).read_text("utf-8")
        assert committed == gen.render(build), f"run dashboards/grafana/generate.py ({filename})"


def anchors(markdown: str) -> set[str]:
    """GitHub heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^a-z0-9 _-]", "", text).replace(" ", "-"))
    return out


def test_every_alert_has_for_severity_summary_and_a_runbook_section() -> None:
    documented = anchors((ROOT / "docs" / "alerts.md").read_text("utf-8"))
    for alert in alerts():
        name = alert["alert"]
        assert alert.get("for"), name
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert {"summary", "description", "runbook_url"} <= set(alert["annotations"]), name
        url = alert["annotations"]["runbook_url"]
        assert url == f"docs/alerts.md#{name.lower()}", name
        assert name.lower() in documented, name


def test_every_rule_has_a_promtool_test() -> None:
    tested_alerts, tested_exprs = set(), set()
    for path in TEST_FILES:
        for case in load_yaml(path)["tests"]:
            tested_alerts |= {t["alertname"] for t in case.get("alert_rule_test", [])}
            tested_exprs |= {t["expr"] for t in case.get("promql_expr_test", [])}
    assert {a["alert"] for a in alerts()} <= tested_alerts
    assert recorded_names() <= tested_exprs


def test_every_alert_severity_has_an_alertmanager_route() -> None:
    am = load_yaml(DASH / "alertmanager" / "alertmanager.yml")
    routed = {m for r in am["route"]["routes"] for m in r["matchers"]}
    assert {f'severity="{a["labels"]["severity"]}"' for a in alerts()} <= routed


def test_site_alerts_carry_the_district_the_inhibition_compares() -> None:
    am = load_yaml(DASH / "alertmanager" / "alertmanager.yml")
    hub = next(r for r in am["inhibit_rules"] if "VcmonDistrictHubDown" in r["source_matchers"][0])
    assert hub["equal"] == ["district"]
    for alert in alerts():
        if "vcmon_site_info" in alert["expr"]:
            assert "group_left (district, name, level)" in alert["expr"], alert["alert"]


def test_metrics_doc_describes_every_exposed_metric() -> None:
    doc = (ROOT / "docs" / "metrics.md").read_text("utf-8")
    missing = sorted(n for n in names.exposed_names() if f"`{n}`" not in doc)
    assert not missing
