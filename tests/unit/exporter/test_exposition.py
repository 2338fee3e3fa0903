"""The fast /metrics body says exactly what the collector says, once per View, never raising."""

from __future__ import annotations

import gzip
import random
import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vcmon.exporter.collector import SnapshotCollector
from vcmon.exporter.exposition import CONTENT_TYPE, Exposition
from vcmon.exporter.server import MetricsServer, make_server, serve_in_background
from vcmon.exporter.view import Evaluator, View
from vcmon.inventory import load_inventory
from vcmon.model import FailureReason, Inventory, LinkMeasurement, PathMeasurement
from vcmon.store import Store

EXAMPLE = Path(__file__).resolve().parents[3] / "inventory" / "example.yaml"


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    inv = load_inventory(EXAMPLE)
    # a name needing every escape the text format has
    site = inv.sites["21340"]
    return replace(inv, sites={**inv.sites, "21340": replace(site, name='Sơn "Dung"\\\nx')})


def reference(latest: Evaluator) -> bytes:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(latest.latest))
    return generate_latest(reg)


def samples(text: bytes) -> list[tuple[str, str, str, list[tuple[str, dict[str, str], float]]]]:
    return [
        (f.name, f.type, f.documentation, [(s.name, s.labels, s.value) for s in f.samples])
        for f in text_string_to_metric_families(text.decode())
    ]


def busy_store(inv: Inventory, now: float, shift: float = 0.0) -> Store:
    """Every kind of observation: good, lossy, failed and unmeasured sites; idle, busy, failed
    and down links; failing probes, SNMP errors, scheduler lag."""
    store = Store()
    for i, code in enumerate(sorted(inv.sites)):
        if i % 7 == 6:
            continue  # never measured: unknown with no_data
        failure = FailureReason.TIMEOUT if i % 11 == 5 else None
        rtt = 0.01 + i / 400 + shift
        store.record_path(
            PathMeasurement(code, now, rtt, rtt * 1.5, rtt / 10, (i % 4) / 25, failure=failure,
                            rtt_min_s=rtt * 0.9, rtt_max_s=rtt * 2 if i % 3 else None,
                            jitter_rfc3550_s=rtt / 20 if i % 2 else None)
        )  # fmt: skip
    for i, link in enumerate(inv.links.values()):
        failure = FailureReason.TIMEOUT if i % 9 == 4 else None
        store.record_link(
            LinkMeasurement(link.id, now, link.up_bps * (i % 5) / 4, link.down_bps * 0.3,
                            link.up_bps, link.down_bps, oper_up=None if i % 4 == 3 else i % 6 != 1,
                            failure=failure)
        )  # fmt: skip
    for i, dev in enumerate(inv.devices.values()):
        for mod in dev.modules:
            failure = FailureReason.TIMEOUT if i % 3 == 0 else None
            store.record_probe(dev.name, mod, finished_at=now, duration_s=0.4, failure=failure)
            store.record_probe(dev.name, mod, finished_at=now + 1, duration_s=0.1, failure=None)
    store.record_snmp_error("r-530", FailureReason.TIMEOUT)
    store.record_snmp_error("r-530", FailureReason.AUTH_FAILED)
    for lag in (0.0, 0.01, 0.002, 0.3):
        store.record_lag(lag)
    return store


@pytest.fixture
def evaluator(inventory: Inventory) -> Iterator[Evaluator]:
    (event,) = inventory.schedule
    now = event.start_s - 3 * 3600  # the scheduled conference is exported
    ev = Evaluator(shard="1/2")
    ev.set_inventory(inventory, now)
    ev.evaluate(busy_store(inventory, now).snapshot(), now)
    yield ev


def test_every_family_and_sample_matches_the_collector(evaluator: Evaluator) -> None:
    fast, slow = Exposition(evaluator.latest).body(), reference(evaluator)
    parsed = samples(fast)
    assert parsed == samples(slow)
    names = {name for name, *_ in parsed}
    # the scenario reaches every kind of family, so the comparison above covers them
    for name in (
        "vcmon_site_reason",
        "vcmon_conference_site_ready",
        "vcmon_shard_info",
        "vcmon_scheduler_lag_seconds",
        "vcmon_snmp_errors",
        "vcmon_link_oper_up",
    ):
        assert name in names  # fmt: skip
    assert any(s[1].get("quantile") == "0.99" for _, _, _, ss in parsed for s in ss)
    # and it is byte for byte what prometheus_client writes, number spelling included
    assert fast == slow


def test_a_new_view_is_rendered_afresh_and_still_matches(
    evaluator: Evaluator, inventory: Inventory
) -> None:
    exposition = Exposition(evaluator.latest)
    first = exposition.body()
    (event,) = inventory.schedule
    now = event.start_s - 3600
    # worse paths everywhere: verdicts, reasons and values change
    evaluator.evaluate(busy_store(inventory, now, shift=0.2).snapshot(), now)
    second = exposition.body()
    assert second != first
    assert second == reference(evaluator)
    # a reloaded inventory (another object) replaces the per-inventory text
    site = replace(inventory.sites["21340"], name="Sơn Dung mới")
    reloaded = replace(inventory, sites={**inventory.sites, "21340": site})
    evaluator.set_inventory(reloaded, now)
    evaluator.evaluate(busy_store(reloaded, now).snapshot(), now)
    third = exposition.body()
    assert 'name="Sơn Dung mới"'.encode() in third
    assert third == reference(evaluator)


def test_scrapes_of_one_view_reuse_one_body(evaluator: Evaluator) -> None:
    exposition = Exposition(evaluator.latest)
    assert exposition.chunks() is exposition.chunks()
    assert exposition.chunks(gzipped=True) is exposition.chunks(gzipped=True)
    assert gzip.decompress(b"".join(exposition.chunks(gzipped=True))) == exposition.body()


def test_a_scrape_that_would_wait_too_long_gets_the_last_body_while_a_render_runs(
    evaluator: Evaluator, inventory: Inventory
) -> None:
    exposition = Exposition(evaluator.latest)
    before = exposition.chunks(gzipped=True)
    (event,) = inventory.schedule
    evaluator.evaluate(busy_store(inventory, event.start_s, shift=0.2).snapshot())
    with exposition._lock:  # another thread is rendering the new View
        assert exposition.chunks(gzipped=True, wait_s=0.05) is before
    assert exposition.chunks(gzipped=True, wait_s=10) is not before
    assert exposition.view is evaluator.latest()


def test_no_view_yet_serves_build_info_only() -> None:
    body = Exposition(Evaluator().latest).body().decode()
    assert [ln.split("{")[0] for ln in body.splitlines()] == [
        "# HELP vcmon_build_info vcmon version and Python version.",
        "# TYPE vcmon_build_info gauge",
        "vcmon_build_info",
    ]


def test_a_broken_view_costs_detail_not_the_scrape(evaluator: Evaluator) -> None:
    view = evaluator.latest()
    assert view is not None
    object.__setattr__(view, "verdicts", {"21010": object()})  # a bug's worth of bad data
    body = Exposition(evaluator.latest).body()
    assert body.startswith(b"# HELP vcmon_build_info")
    assert b"vcmon_site_info" not in body


def test_a_failing_latest_costs_detail_not_the_scrape() -> None:
    def latest() -> View | None:
        raise RuntimeError("bug")

    assert b"vcmon_build_info{" in Exposition(latest).body()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_rendered(server: MetricsServer, evaluator: Evaluator) -> None:
    view = evaluator.latest()
    deadline = time.monotonic() + 5
    while server.exposition.view is not view and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.exposition.view is view


def test_http_metrics_serves_text_0_0_4_plain_or_gzipped(evaluator: Evaluator) -> None:
    server, _ = make_server(f"127.0.0.1:{free_port()}", evaluator.latest)
    serve_in_background(server)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    try:
        wait_until_rendered(server, evaluator)  # before: the last body (here build info only)
        # what Prometheus sends: OpenMetrics preferred, gzip accepted
        accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3"
        request = urllib.request.Request(url, headers={"Accept": accept, "Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.headers["Content-Type"] == CONTENT_TYPE
            assert resp.headers["Content-Encoding"] == "gzip"
            zipped = resp.read()
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.headers["Content-Encoding"] is None
            plain = resp.read()
    finally:
        server.shutdown()
        server.server_close()
    assert gzip.decompress(zipped) == plain == reference(evaluator)


def test_the_server_renders_a_new_view_before_any_scrape(evaluator: Evaluator) -> None:
    server, _ = make_server(f"127.0.0.1:{free_port()}", evaluator.latest)
    serve_in_background(server)
    try:
        wait_until_rendered(server, evaluator)
    finally:
        server.shutdown()
        server.server_close()


def test_a_section_copies_unchanged_lines_and_formats_only_changed_ones() -> None:
    from vcmon.exporter.exposition import _Section
    from vcmon.exporter.names import PATH_LOSS, PATH_MOS

    formatted: list[str] = []

    def lines(key: str, token: int) -> tuple[str, ...]:
        formatted.append(key)
        return (f"loss{{{key}}} {token}\n", f"mos{{{key}}} {token * 2}\n" if token % 3 else "")

    def fresh(subjects: list[tuple[str, int, int]]) -> list[bytes]:
        return _Section(PATH_LOSS, PATH_MOS).render(subjects, lines)

    rng = random.Random(5)
    section = _Section(PATH_LOSS, PATH_MOS)
    state = {f"s{i}": rng.randrange(9) for i in range(40)}
    section.render([(k, v, v) for k, v in state.items()], lines)
    for _ in range(30):
        for key in rng.sample(sorted(state), 5):
            state[key] = rng.randrange(9)  # re-measured: maybe the same value, new token
        if rng.random() < 0.3:
            state.pop(rng.choice(sorted(state)))  # a site left
            state[f"n{rng.randrange(1000)}"] = rng.randrange(9)  # another came
        order = sorted(state, key=lambda k: (rng.random() < 0.1, k))  # some move to the end
        subjects = [(k, state[k], state[k]) for k in order]
        formatted.clear()
        got = section.render(subjects, lines)
        changed = len(formatted)
        assert got == fresh(subjects)
        assert changed < len(subjects)
    # nothing changed: the very same bytes objects, nothing formatted
    formatted.clear()
    assert section.render(subjects, lines) is got
    assert formatted == []
