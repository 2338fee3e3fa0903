"""The monitoring stack's configuration, checked with the real tools it will run under.

promtool and amtool come from the Debian packages prometheus and prometheus-alertmanager
(scripts/setup.sh). Docker cannot run here, so docker-compose.yml is checked statically:
mounts exist, the files in them parse, the vcmon agents are unprivileged with NET_RAW only.
A real Alertmanager on loopback shows the district-hub inhibition working.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASH = ROOT / "dashboards"
COMPOSE = ROOT / "docker-compose.yml"


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(f"prometheus-{name}")
    assert path, f"{name} not found: run scripts/setup.sh"
    return path


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def load_yaml(path: Path) -> Any:
    # libyaml's loader when present: the Quảng Ngãi inventory is 4,000 lines.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


@pytest.fixture
def prom_dir(tmp_path: Path) -> Path:
    """dashboards/prometheus copied alone, so relative rule paths resolve only within it."""
    dest = tmp_path / "prometheus"
    shutil.copytree(DASH / "prometheus", dest)
    return dest


# --- Prometheus -------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["prometheus.yml", "central.yml"])
def test_prometheus_configs_pass_promtool_check_config(prom_dir: Path, config: str) -> None:
    result = run(tool("promtool"), "check", "config", prom_dir / config)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_config_loads_both_rule_files(prom_dir: Path) -> None:
    result = run(tool("promtool"), "check", "config", prom_dir / "prometheus.yml")
    assert "SUCCESS: 2 rule files found" in result.stdout
    assert re.search(r"vcmon-alerts\.yml\s+SUCCESS: 9 rules found", result.stdout)
    assert re.search(r"vcmon-recording\.yml\s+SUCCESS: 7 rules found", result.stdout)


def test_every_rule_unit_test_passes_under_promtool(prom_dir: Path) -> None:
    tests = sorted((prom_dir / "tests").glob("*.test.yml"))
    result = run(tool("promtool"), "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests) == 2


@pytest.mark.parametrize(
    ("change", "should_fail_at"),
    [
        (("for: 15m", "for: 1m"), "VcmonSiteNotReady, time: 14m"),
        (("> 0.9", "> 0.96"), "VcmonLinkSaturated, time: 11m"),
        (('level="district"', 'level=~".+"'), "VcmonDistrictHubDown, time: 6m"),
        (("\n              > -3600\n", "\n"), "VcmonConferenceAtRisk, time: 3h10m"),
    ],
)
def test_rule_unit_tests_catch_a_changed_threshold(
    prom_dir: Path, change: tuple[str, str], should_fail_at: str
) -> None:
    rules = prom_dir / "rules" / "vcmon-alerts.yml"
    text = rules.read_text(encoding="utf-8")
    assert change[0] in text
    rules.write_text(text.replace(change[0], change[1]), encoding="utf-8")
    result = run(tool("promtool"), "test", "rules", prom_dir / "tests" / "vcmon-alerts.test.yml")
    assert result.returncode != 0
    assert should_fail_at in result.stdout + result.stderr


def dashboard_queries() -> Iterator[tuple[str, str, str]]:
    for path in sorted((DASH / "grafana" / "dashboards").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for panel in data["panels"]:
            for target in panel["targets"]:
                yield path.name, panel["title"], target["expr"]


def concrete(expr: str) -> str:
    """Grafana's variables replaced by plausible values, so promtool can parse the query."""
    return (
        expr.replace("$__rate_interval", "2m").replace("$profile", "hd").replace("$site", "21010")
    )


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    queries = list(dashboard_queries())
    assert len(queries) > 30
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [
                    {"record": f"dashboard:query{i}:check", "expr": concrete(expr)}
                    for i, (_, _, expr) in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    result = run(tool("promtool"), "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_geomap_query_colours_each_site_by_its_verdict_and_places_it(tmp_path: Path) -> None:
    """Evaluates the map's query on three sites: codes 0 ready, 1 degraded, 2 not ready."""
    (expr,) = (e for _, title, e in dashboard_queries() if title == "Sites by verdict")
    info = (
        'vcmon_site_info{{site="{0}",name="{1}",district="522",district_name="Quảng Ngãi",'
        'level="commune",terrain="coastal",latitude="{2}",longitude="108.84"}}'
    )
    sites = [
        ("21010", "Lê Hồng Phong", "15.16", "ready"),
        ("21013", "Trần Phú", "15.14", "degraded"),
    ]
    sites.append(("21016", "Quảng Phú", "15.15", "not_ready"))
    series = []
    for code, name, lat, verdict in sites:
        series.append({"series": info.format(code, name, lat), "values": "1x5"})
        for state in ("ready", "degraded", "not_ready", "unknown"):
            series.append(
                {
                    "series": f'vcmon_site_verdict{{site="{code}",profile="hd",'
                    f'vcmon_site_verdict="{state}"}}',
                    "values": f"{int(state == verdict)}x5",
                }
            )
    # the same site for another profile must not leak into the hd map
    series.append(
        {
            "series": 'vcmon_site_verdict{site="21010",profile="fhd",vcmon_site_verdict="unknown"}',
            "values": "1x5",
        }
    )
    rules = {
        "groups": [{"name": "g", "rules": [{"record": "dash:geomap:code", "expr": concrete(expr)}]}]
    }
    expected = [
        {
            "labels": f'dash:geomap:code{{site="{code}",name="{name}",district_name="Quảng Ngãi",'
            f'latitude="{lat}",longitude="108.84"}}',
            "value": ["ready", "degraded", "not_ready"].index(verdict),
        }
        for code, name, lat, verdict in sites
    ]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules, allow_unicode=True), "utf-8")
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {"expr": "dash:geomap:code", "eval_time": "2m", "exp_samples": expected}
                ],
            }
        ],
    }
    (tmp_path / "t.test.yml").write_text(yaml.safe_dump(test, allow_unicode=True), "utf-8")
    result = run(tool("promtool"), "test", "rules", tmp_path / "t.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


# --- Alertmanager -----------------------------------------------------------------------


def test_alertmanager_example_passes_amtool_check_config() -> None:
    result = run(tool("amtool"), "check-config", DASH / "alertmanager" / "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ("severity=critical alertname=VcmonAgentDown", "oncall-pager"),
        ("severity=warning alertname=VcmonSiteNotReady", "noc-ticket"),
        ("severity=info alertname=VcmonSiteDegraded", "blackhole"),
    ],
)
def test_alertmanager_routes_by_severity(labels: str, receiver: str) -> None:
    config = DASH / "alertmanager" / "alertmanager.yml"
    result = run(
        tool("amtool"), "config", "routes", "test", f"--config.file={config}", *labels.split()
    )
    assert result.stdout.strip() == receiver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """The example config in a real Alertmanager on loopback; receivers point at a closed
    loopback port so nothing leaves the machine."""
    config = load_yaml(DASH / "alertmanager" / "alertmanager.yml")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = "http://127.0.0.1:9/"
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [
            tool("alertmanager"),
            f"--config.file={path}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, "alertmanager exited"
                assert time.monotonic() < deadline, "alertmanager not ready in 15 s"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def post_alerts(url: str, alerts: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": a} for a in alerts]).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def alert_states(url: str) -> dict[tuple[str, str], list[str]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        alerts = json.load(response)
    return {
        (a["labels"]["alertname"], a["labels"]["site"]): a["status"]["inhibitedBy"] for a in alerts
    }


def test_district_hub_down_inhibits_only_its_own_communes(alertmanager: str) -> None:
    def site_alert(
        name: str, site: str, district: str, level: str, severity: str
    ) -> dict[str, str]:
        return {
            "alertname": name,
            "site": site,
            "district": district,
            "level": level,
            "severity": severity,
            "profile": "hd",
        }

    post_alerts(
        alertmanager,
        [
            site_alert("VcmonDistrictHubDown", "530", "530", "district", "critical"),
            site_alert("VcmonSiteNotReady", "530", "530", "district", "warning"),
            site_alert("VcmonSiteNotReady", "21340", "530", "commune", "warning"),
            site_alert("VcmonDataStale", "21334", "530", "commune", "warning"),
            site_alert("VcmonSiteNotReady", "21010", "522", "commune", "warning"),
        ],
    )
    deadline = time.monotonic() + 10
    while True:
        states = alert_states(alertmanager)
        inhibited = {key for key, by in states.items() if by}
        if (len(states) == 5 and inhibited) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert inhibited == {("VcmonSiteNotReady", "21340"), ("VcmonDataStale", "21334")}


# --- docker-compose.yml and Dockerfile --------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


def host_mounts() -> list[tuple[str, Path]]:
    out = []
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                out.append((name, (ROOT / source).resolve()))
    return out


def test_every_mounted_host_path_exists() -> None:
    mounts = host_mounts()
    assert {str(p.relative_to(ROOT)) for _, p in mounts} >= {
        "inventory",
        "probes",
        "dashboards/prometheus",
        "dashboards/alertmanager",
        "dashboards/grafana/provisioning",
        "dashboards/grafana/dashboards",
    }
    assert [(s, p) for s, p in mounts if not p.exists()] == []


def test_every_file_in_the_mounts_parses() -> None:
    checked = 0
    for _, mount in host_mounts():
        for path in sorted(mount.rglob("*")):
            if path.suffix in {".yml", ".yaml"}:
                assert load_yaml(path) is not None, path
                checked += 1
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
                checked += 1
    assert checked >= 12


def vcmon_services() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in compose()["services"].items() if k.startswith("vcmon")}


def test_vcmon_agents_are_unprivileged_with_net_raw_only() -> None:
    services = vcmon_services()
    assert sorted(services) == ["vcmon-shard-0", "vcmon-shard-1"]
    for name, service in services.items():
        assert not service.get("privileged", False), name
        assert service["cap_drop"] == ["ALL"], name
        assert service["cap_add"] == ["NET_RAW"], name
        assert "network_mode" not in service, name
        assert all(":ro" in v for v in service["volumes"]), name


def test_agents_cover_each_shard_once_and_prometheus_scrapes_exactly_them() -> None:
    shards = []
    for service in vcmon_services().values():
        command = service["command"]
        assert command[:2] == ["run", "inventory/quang-ngai.yaml"]
        shards.append(command[command.index("--shard") + 1])
        assert (ROOT / command[1]).is_file()
    assert sorted(shards) == ["0/2", "1/2"]
    prom = load_yaml(DASH / "prometheus" / "prometheus.yml")
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "vcmon")
    targets = {(t, c["labels"]["shard"]) for c in job["static_configs"] for t in c["targets"]}
    assert targets == {(f"vcmon-shard-{k}:9874", f"{k}/2") for k in range(2)}


def test_services_use_the_expected_images_and_wire_prometheus_to_alertmanager() -> None:
    services = compose()["services"]
    assert services["grafana"]["image"].startswith("grafana/grafana-oss:")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    prom = load_yaml(DASH / "prometheus" / "prometheus.yml")
    (am,) = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am.split(":")[0] in services
    datasource = load_yaml(DASH / "grafana/provisioning/datasources/vcmon.yml")
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_no_secret_is_written_in_the_compose_file() -> None:
    for service in compose()["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if any(w in key for w in ("COMMUNITY", "PASSWORD", "KEY", "TOKEN")):
                assert str(value).startswith("${"), key


def test_dockerfile_copies_existing_paths_and_exposes_the_scrape_port() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert "EXPOSE 9874" in text
    assert text.splitlines()[-1].startswith("CMD ")


# --- a real Prometheus, with these rules, scraping vcmon's real exporter ---------------------


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            assert proc.poll() is None, f"{what} exited"
            assert time.monotonic() < deadline, f"{what} not ready in 20 s"
            time.sleep(0.1)


def prom_query(base: str, query: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        data = json.load(response)
    assert data["status"] == "success", data
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def test_real_prometheus_records_and_alerts_on_the_exporters_output(
    tmp_path: Path, prom_dir: Path
) -> None:
    """The example inventory (8 sites) served by vcmon's exporter on loopback, no probing:
    one site has a fresh measurement, the other 7 have none, so they are unknown. The
    rules must count them and put the stale ones in pending alerts with their district."""
    from vcmon.exporter.server import make_server, serve_in_background
    from vcmon.exporter.view import Evaluator
    from vcmon.inventory import load_inventory
    from vcmon.model import LinkMeasurement, PathMeasurement
    from vcmon.store import Store

    inv = load_inventory(ROOT / "inventory" / "example.yaml")
    evaluator = Evaluator()
    evaluator.set_inventory(inv)
    store = Store()
    now = time.time()
    store.record_path(PathMeasurement("522", now, 0.004, 0.006, 0.001, 0.0))
    # 522's uplink is polled by dc-core: the monitor needs its usage too to judge 522
    store.record_link(LinkMeasurement("dc-522", now, 1e6, 1e6, 100e6, 100e6, oper_up=True))
    view = evaluator.evaluate(store.snapshot())
    assert view is not None
    server, _ = make_server("127.0.0.1:0", lambda: view)
    serve_in_background(server)
    agent_port = server.server_address[1]

    # Evaluate every second, not every 30 s, so the test takes seconds.
    recording = prom_dir / "rules" / "vcmon-recording.yml"
    recording.write_text(recording.read_text("utf-8").replace("interval: 30s", "interval: 1s"))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted((prom_dir / "rules").glob("*.yml"))],
        "scrape_configs": [
            {"job_name": "vcmon", "static_configs": [{"targets": [f"127.0.0.1:{agent_port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/-/ready", proc, "prometheus")
        deadline = time.monotonic() + 30
        while True:
            counts = prom_query(base, "profile_verdict:vcmon_sites:count")
            pending = prom_query(base, 'ALERTS{alertname="VcmonDataStale"}')
            if (counts and pending) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        totals: dict[str, float] = {}
        unknown: dict[str, float] = {}
        for sample in counts:
            profile = sample["metric"]["profile"]
            totals[profile] = totals.get(profile, 0) + float(sample["value"][1])
            if sample["metric"]["vcmon_site_verdict"] == "unknown":
                unknown[profile] = float(sample["value"][1])
        assert set(totals) == set(inv.profiles)
        assert set(totals.values()) == {len(inv.sites)}
        assert set(unknown.values()) == {len(inv.sites) - 1}
        stale = {s["metric"]["site"]: s["metric"] for s in pending}
        assert set(stale) == set(inv.sites) - {"522"}
        assert stale["21340"]["district"] == "530"
        assert stale["21340"]["level"] == "commune"
        assert {s["metric"]["alertstate"] for s in pending} == {"pending"}
        by_district = prom_query(
            base, 'sum by (district) (district_profile_verdict:vcmon_sites:count{profile="hd"})'
        )
        # Prometheus drops empty labels: the province's own site has no district.
        per_district = {s["metric"].get("district", ""): float(s["value"][1]) for s in by_district}
        expected: dict[str, float] = {}
        for site in inv.sites.values():
            expected[site.district or ""] = expected.get(site.district or "", 0) + 1
        assert per_district == expected
        (geomap,) = (e for _, t, e in dashboard_queries() if t == "Sites by verdict")
        points = prom_query(base, concrete(geomap))
        assert len(points) == len(inv.sites)
        for point in points:
            lat, lon = float(point["metric"]["latitude"]), float(point["metric"]["longitude"])
            assert 14 < lat < 16 and 108 < lon < 110, point
            # unknown (3) without data; the measured site gets a measured verdict (0..2)
            code = float(point["value"][1])
            assert code in ({0, 1, 2} if point["metric"]["site"] == "522" else {3}), point
        # Every dashboard query runs on the real series without a matching error
        # (e.g. many-to-many joins), which only real data can reveal.
        for board, title, expr in dashboard_queries():
            try:
                prom_query(base, concrete(expr))
            except urllib.error.HTTPError as exc:
                pytest.fail(f"{board}: {title}: {exc.read().decode()}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.shutdown()
        server.server_close()
