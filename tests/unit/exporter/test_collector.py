"""The collector turns the latest View into metrics, never probes, never raises."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from vcmon.exporter.collector import SnapshotCollector
from vcmon.exporter.names import exposed_names
from vcmon.exporter.view import Evaluator, Hysteresis
from vcmon.inventory import load_inventory
from vcmon.model import (
    FailureReason,
    Inventory,
    LinkMeasurement,
    Metric,
    PathMeasurement,
    RootCause,
    Verdict,
)
from vcmon.readiness import Basis, ProfileVerdict, Reason
from vcmon.store import Store

EXAMPLE = Path(__file__).resolve().parents[3] / "inventory" / "example.yaml"


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(EXAMPLE)


def registry_for(evaluator: Evaluator) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(evaluator.latest))
    return reg


def quiet_links(store: Store, inv: Inventory, now: float) -> None:
    """Fresh, idle SNMP rates on every link: monitored links need data to be judged."""
    for link in inv.links.values():
        store.record_link(LinkMeasurement(link.id, now, 0.0, 0.0, link.up_bps, link.down_bps))


def good_path(site: str, now: float, rtt: float = 0.02) -> PathMeasurement:
    return PathMeasurement(site, now, rtt, rtt * 1.2, 0.002, 0.0, rtt_min_s=rtt * 0.9)


def test_no_view_yet_serves_build_info_only() -> None:
    reg = registry_for(Evaluator())
    assert reg.get_sample_value("vcmon_site_verdict", {"site": "51"}) is None
    assert b"vcmon_build_info" in generate_latest(reg)


def test_measured_site_gets_ready_and_path_metrics(inventory: Inventory) -> None:
    now = time.time()
    ev, store = Evaluator(), Store()
    ev.set_inventory(inventory, now)
    store.record_path(good_path("21010", now))
    quiet_links(store, inventory, now)
    ev.evaluate(store.snapshot(), now)
    reg = registry_for(ev)

    def verdict(site: str, state: Verdict) -> float | None:
        labels = {"site": site, "profile": "hd", "vcmon_site_verdict": state.value}
        return reg.get_sample_value("vcmon_site_verdict", labels)

    assert verdict("21010", Verdict.READY) == 1.0
    # only the current state is exported
    assert verdict("21010", Verdict.UNKNOWN) is None
    # never measured: unknown, with the no_data reason, never ready
    assert verdict("21211", Verdict.UNKNOWN) == 1.0
    reason = {"site": "21211", "profile": "hd", "metric": "no_data", "verdict": "unknown"}
    assert reg.get_sample_value("vcmon_site_reason", reason) == 1.0
    assert reg.get_sample_value("vcmon_path_rtt_p50_seconds", {"site": "21010"}) == 0.02
    assert reg.get_sample_value("vcmon_path_rtt_min_seconds", {"site": "21010"}) == pytest.approx(
        0.018
    )
    mos = reg.get_sample_value("vcmon_path_mos_estimate", {"site": "21010"})
    assert mos is not None and 4.0 < mos <= 4.5
    # contracted 4 Mb/s up on dc-536 = 500,000 bytes/s
    cap = {"link": "dc-536", "direction": "up"}
    assert reg.get_sample_value("vcmon_link_capacity_bytes_per_second", cap) == 500_000
    info = {
        "site": "21340",
        "name": "Sơn Dung",
        "district": "530",
        "district_name": "Sơn Tây",
        "level": "commune",
        "terrain": "mountain",
        "latitude": "14.99010",
        "longitude": "108.35120",
    }
    assert reg.get_sample_value("vcmon_site_info", info) == 1.0


def test_stale_measurement_is_unknown_not_ready(inventory: Inventory) -> None:
    now = time.time()
    ev, store = Evaluator(), Store()
    ev.set_inventory(inventory, now)
    store.record_path(good_path("21010", now - 3600))
    quiet_links(store, inventory, now)
    view = ev.evaluate(store.snapshot(), now)
    assert view is not None
    pv = view.verdicts["21010"].verdicts["hd"]
    assert pv.verdict is Verdict.UNKNOWN
    assert [r.metric.value for r in pv.reasons] == ["stale"]


def test_link_usage_and_probe_failures_are_exported(inventory: Inventory) -> None:
    now = time.time()
    ev, store = Evaluator(), Store()
    ev.set_inventory(inventory, now)
    store.record_link(LinkMeasurement("dc-530", now, 2e6, 4e6, 10e6, 10e6, oper_up=True))
    store.record_probe("r-530", "snmp_v2c_ifmib", finished_at=now, duration_s=0.2,
                       failure=FailureReason.TIMEOUT)  # fmt: skip
    store.record_snmp_error("r-530", FailureReason.TIMEOUT)
    ev.evaluate(store.snapshot(), now)
    reg = registry_for(ev)
    down = {"link": "dc-530", "direction": "down"}
    assert reg.get_sample_value("vcmon_link_utilisation_ratio", down) == pytest.approx(0.4)
    assert reg.get_sample_value("vcmon_link_spare_bytes_per_second", down) == 6e6 / 8
    assert reg.get_sample_value("vcmon_link_oper_up", {"link": "dc-530"}) == 1.0
    failed = {"site": "530", "device": "r-530", "module": "snmp_v2c_ifmib", "reason": "timeout"}
    assert reg.get_sample_value("vcmon_probe_failures_total", failed) == 1.0
    assert (
        reg.get_sample_value(
            "vcmon_probe_success", {"site": "530", "device": "r-530", "module": "snmp_v2c_ifmib"}
        )
        == 0.0
    )
    assert (
        reg.get_sample_value("vcmon_snmp_errors_total", {"device": "r-530", "reason": "timeout"})
        == 1.0
    )


def test_every_exposed_family_is_declared_in_names(inventory: Inventory) -> None:
    now = time.time()
    ev, store = Evaluator(), Store()
    ev.set_inventory(inventory, now)
    store.record_path(good_path("21010", now))
    ev.evaluate(store.snapshot(), now)
    reg = registry_for(ev)
    declared = exposed_names()
    for family in reg.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        name += "_info" if family.type == "info" else ""
        assert name in declared, name


def test_a_broken_view_costs_detail_not_the_scrape(inventory: Inventory) -> None:
    ev = Evaluator()
    ev.set_inventory(inventory)
    ev.evaluate(Store().snapshot())
    view = ev.latest()
    assert view is not None
    object.__setattr__(view, "verdicts", {"21010": object()})  # a bug's worth of bad data
    out = generate_latest(registry_for(ev))
    assert b"vcmon_build_info" in out


def test_hysteresis_holds_a_verdict_whole_until_the_change_persists() -> None:
    def pv(verdict: Verdict, why: str = "") -> ProfileVerdict:
        reasons = (Reason(Metric.LOSS, verdict, 0.03, 0.01, "src", "s"),) if why else ()
        return ProfileVerdict("hd", verdict, reasons, RootCause.LOCAL, "s", Basis.MEASURED)

    h = Hysteresis(cycles=3)
    ready = pv(Verdict.READY)
    assert h.step("s", ready) is ready
    # two cycles of 'degraded' are not enough: 'ready' is shown, with its own (no) reasons
    for _ in range(2):
        shown = h.step("s", pv(Verdict.DEGRADED, "loss"))
        assert shown.verdict is Verdict.READY and shown.reasons == ()
    third = pv(Verdict.DEGRADED, "loss")
    assert h.step("s", third) is third
    # a flap back resets the count
    assert h.step("s", pv(Verdict.READY)).verdict is Verdict.DEGRADED
    # stale data shows at once: green never outlives its data
    assert h.step("s", pv(Verdict.UNKNOWN)).verdict is Verdict.UNKNOWN


def test_a_monitored_link_without_fresh_rates_leaves_its_sites_unknown(
    inventory: Inventory,
) -> None:
    now = time.time()
    ev, store = Evaluator(), Store()
    ev.set_inventory(inventory, now)
    quiet_links(store, inventory, now)
    # r-522's agent stopped answering: its last rate of 522-21010 is 20 minutes old
    store.record_link(LinkMeasurement("522-21010", now - 1200, 0.0, 0.0, 20e6, 20e6))
    store.record_path(good_path("21010", now))
    store.record_path(good_path("21211", now))
    view = ev.evaluate(store.snapshot(), now)
    assert view is not None
    hd = view.verdicts["21010"].verdicts["hd"]
    assert hd.verdict is Verdict.UNKNOWN
    assert [(r.metric.value, r.where) for r in hd.reasons] == [("stale", "522-21010")]
    assert (hd.root_cause.value, hd.root) == ("local", "522-21010")
    # its neighbour behind the same hub is measured and judged normally
    assert view.verdicts["21211"].verdicts["hd"].verdict is Verdict.READY


def test_scheduled_conference_exports_start_and_each_needed_sites_readiness(
    inventory: Inventory,
) -> None:
    (event,) = inventory.schedule
    now = event.start_s - 3 * 3600  # three hours before the meeting
    ev, store = Evaluator(), Store()
    ev.set_inventory(inventory, now)
    quiet_links(store, inventory, now)
    for code in event.sites:
        store.record_path(good_path(code, now))
    store.record_path(PathMeasurement("536", now, 0.05, 0.06, 0.002, 0.10))  # 10% loss
    ev.evaluate(store.snapshot(), now)
    reg = registry_for(ev)
    start = {"conference": "giao-ban-thang-12", "profile": "hd"}
    assert reg.get_sample_value("vcmon_conference_start_timestamp_seconds", start) == 1796605200
    ready = {
        site: reg.get_sample_value(
            "vcmon_conference_site_ready", {"conference": "giao-ban-thang-12", "site": site}
        )
        for site in sorted(event.sites)
    }
    assert ready == {"51": 1.0, "522": 1.0, "530": 1.0, "536": 0.0}
    # communes are not in this meeting: no series for them
    assert (
        reg.get_sample_value(
            "vcmon_conference_site_ready", {"conference": "giao-ban-thang-12", "site": "21010"}
        )
        is None
    )
    # once the meeting is over it is no longer exported
    ev.evaluate(store.snapshot(), event.start_s + event.duration_s + 1)
    assert reg.get_sample_value("vcmon_conference_start_timestamp_seconds", start) is None


def test_data_goes_stale_after_three_missed_probe_cycles(inventory: Inventory) -> None:
    # cpe-21010 runs icmp_video every 60 s (a probe takes up to 0.4 s + 5 s timeout)
    now = time.time()
    ev, store = Evaluator(), Store()
    ev.set_inventory(inventory, now)
    quiet_links(store, inventory, now)
    store.record_path(good_path("21010", now - 185))
    view = ev.evaluate(store.snapshot(), now)
    assert view is not None
    assert view.verdicts["21010"].verdicts["hd"].verdict is Verdict.READY
    store.record_path(good_path("21010", now - 186))
    view = ev.evaluate(store.snapshot(), now)
    assert view is not None
    (reason,) = view.verdicts["21010"].verdicts["hd"].reasons
    assert (reason.metric.value, reason.value, reason.threshold) == ("stale", 186, 185.4)
