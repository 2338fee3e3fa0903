"""Sharding: every district in exactly one shard, province sites probed once."""

from __future__ import annotations

from pathlib import Path

from vcmon.inventory import load_inventory
from vcmon.model import Level
from vcmon.monitor import select_shard, shard_of

SAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "quang-ngai.yaml"


def test_shards_partition_the_province_by_district() -> None:
    inv = load_inventory(SAMPLE)
    shards = [select_shard(inv, k, 3) for k in range(3)]
    non_province = {c for c, s in inv.sites.items() if s.level is not Level.PROVINCE}
    seen: list[str] = []
    for part in shards:
        seen += [c for c, s in part.sites.items() if s.level is not Level.PROVINCE]
        # a shard keeps whole districts: a commune never travels without its hub
        for s in part.sites.values():
            if s.level is Level.COMMUNE:
                assert s.district in part.sites
        assert all(lk.site in part.sites and lk.to in part.sites for lk in part.links.values())
    assert sorted(seen) == sorted(non_province)
    province_devices = [
        [d for d in part.devices.values() if inv.sites[d.site].level is Level.PROVINCE]
        for part in shards
    ]
    assert [len(p) > 0 for p in province_devices] == [True, False, False]
    assert sum(len(p.devices) for p in shards) == len(inv.devices)


def test_shard_assignment_never_changes() -> None:
    # Pinned values: a change would silently move districts between running agents.
    assert [shard_of(d, 2) for d in ("522", "524", "525", "536")] == [0, 1, 1, 0]
    assert [shard_of(d, 3) for d in ("522", "524", "525", "536")] == [1, 0, 2, 1]
