from __future__ import annotations

from pathlib import Path

import pytest

from vcmon.inventory import load_inventory
from vcmon.model import ConferenceTopology, Level, Verdict
from vcmon.plan import plan
from vcmon.readiness import assess
from vcmon.report import collect
from vcmon.topology import build_graph, routes

ROOT = Path(__file__).resolve().parents[3]


def test_summary_counts_what_readiness_says_and_the_plan_is_the_planner_s() -> None:
    inv = load_inventory(ROOT / "inventory" / "quang-ngai.yaml")
    g = build_graph(inv)
    r = routes(g, inv.conference.bridge)
    data = collect(inv, g, r, now=1_764_460_800.0)
    verdicts = assess(inv, g, r, frozenset(inv.sites), inv.conference.topology)
    for row in data.summary:
        counted = [v.verdicts[row.profile].verdict for c, v in verdicts.items() if c != r.bridge]
        assert row.ready == counted.count(Verdict.READY)
        assert row.not_ready == counted.count(Verdict.NOT_READY)
        assert row.communes == sum(s.level is Level.COMMUNE for s in inv.sites.values()) == 173
    p = plan(inv, g, r)
    assert data.plan_cost == pytest.approx(p.monthly_cost)
    assert sum(len(w.sites) for w in data.waves) == len(p.ready)
    assert {x.target for x in data.purchases} == {x.target for x in p.purchases}
    assert data.topology == ConferenceTopology.MCU.value
    assert data.title == "Trung tâm Dữ liệu tỉnh Quảng Ngãi"
