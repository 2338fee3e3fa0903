"""A link whose interface reports ifOperStatus down is out of the topology the monitor judges
on: its sites move to their backup path (with the conference load), or are cut off."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from vcmon.exporter.view import Evaluator, View
from vcmon.inventory import load_inventory
from vcmon.model import Inventory, LinkMeasurement, Metric, PathMeasurement, RootCause, Verdict
from vcmon.store import Store

EXAMPLE = Path(__file__).resolve().parents[3] / "inventory" / "example.yaml"
HD = 1.44e6  # the example's hd demand per stream, with overhead


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(EXAMPLE)


def evaluate(inv: Inventory, down: set[str], now: float, age: float = 0.0) -> View:
    """Every site measured good, every polled link idle; the `down` ones report oper down
    (measured `age` seconds ago)."""
    ev, store = Evaluator(), Store()
    ev.set_inventory(inv, now)
    for code in inv.sites:
        store.record_path(PathMeasurement(code, now, 0.02, 0.024, 0.002, 0.0))
    for link in inv.links.values():
        m = LinkMeasurement(link.id, now, 0.0, 0.0, link.up_bps, link.down_bps, oper_up=True)
        if link.id in down:
            m = replace(m, measured_at=now - age, oper_up=False)
        store.record_link(m)
    view = ev.evaluate(store.snapshot(), now)
    assert view is not None
    return view


def test_sites_behind_a_failed_uplink_are_judged_on_the_backup_path(inventory: Inventory) -> None:
    view = evaluate(inventory, {"dc-530"}, time.time())
    # 530 and 21340 now reach the bridge through 21334 and its 2 Mb/s 4G backup: three hd
    # streams (4.32 Mb/s) do not fit its uplink direction; and their two downloads cross
    # 21334's own 4G link in its 1.5 Mb/s upload sense.
    backup = view.loads["hd"]["dc-21334-backup"]
    assert backup.up_bps == pytest.approx(3 * HD)
    assert view.loads["hd"]["dc-530"].up_bps == 0
    on_backup = (Metric.SPARE_UP, "dc-21334-backup")
    expected = {
        "21334": ({on_backup}, RootCause.LOCAL),
        "530": ({on_backup, (Metric.SPARE_DOWN, "530-21334")}, RootCause.UPSTREAM),
        "21340": ({on_backup, (Metric.SPARE_DOWN, "530-21334")}, RootCause.UPSTREAM),
    }
    for site, (reasons, cause) in expected.items():
        pv = view.verdicts[site].verdicts["hd"]
        assert pv.verdict is Verdict.NOT_READY, site
        assert {(r.metric, r.where) for r in pv.reasons} == reasons
        assert (pv.root_cause, pv.root) == (cause, "dc-21334-backup")
    assert view.verdicts["522"].verdicts["hd"].verdict is Verdict.READY


def test_sites_with_no_path_left_are_unreachable_with_the_failed_link_as_root(
    inventory: Inventory,
) -> None:
    view = evaluate(inventory, {"dc-536", "530-21340"}, time.time())
    for site, link in (("536", "dc-536"), ("21340", "530-21340")):
        pv = view.verdicts[site].verdicts["hd"]
        assert pv.verdict is Verdict.NOT_READY
        assert [r.metric for r in pv.reasons] == [Metric.UNREACHABLE]
        assert link in pv.reasons[0].source
        assert (pv.root_cause, pv.root) == (RootCause.LOCAL, link)
    assert view.verdicts["530"].verdicts["hd"].verdict is Verdict.READY


def test_a_commune_behind_a_failed_district_uplink_blames_it_upstream(
    inventory: Inventory,
) -> None:
    pv = evaluate(inventory, {"dc-522"}, time.time()).verdicts["21010"].verdicts["hd"]
    assert [r.metric for r in pv.reasons] == [Metric.UNREACHABLE]
    assert (pv.root_cause, pv.root) == (RootCause.UPSTREAM, "dc-522")


def test_a_stale_down_report_does_not_move_anything(inventory: Inventory) -> None:
    view = evaluate(inventory, {"dc-536"}, time.time(), age=3600)
    assert view.loads["hd"]["dc-536"].up_bps == pytest.approx(HD)
    pv = view.verdicts["536"].verdicts["hd"]
    assert pv.verdict is Verdict.UNKNOWN  # its link's rate is stale: never ready, not cut off


def test_the_usual_paths_come_back_when_the_link_is_up_again(inventory: Inventory) -> None:
    now = time.time()
    ev, store = Evaluator(), Store()
    ev.set_inventory(inventory, now)
    for code in inventory.sites:
        store.record_path(PathMeasurement(code, now, 0.02, 0.024, 0.002, 0.0))
    for oper in (False, True):
        for link in inventory.links.values():
            up = oper or link.id != "dc-530"
            store.record_link(LinkMeasurement(link.id, now, 0.0, 0.0, link.up_bps,
                                              link.down_bps, oper_up=up))  # fmt: skip
        view = ev.evaluate(store.snapshot(), now)
        assert view is not None
        loads = view.loads["hd"]
        on_primary = (loads["dc-530"].up_bps, loads["dc-21334-backup"].up_bps)
        assert on_primary == ((3 * HD, 0.0) if oper else (0.0, 3 * HD))
