"""A good inventory loads into resolved frozen objects: units, defaults, inheritance, merging."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vcmon.errors import InventoryError
from vcmon.inventory import defaults, load_inventory
from vcmon.model import (
    Inventory,
    Level,
    LinkRole,
    Medium,
    ProberKind,
    SecretKind,
    SecretRef,
    Terrain,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "inventory" / "example.yaml"

MINIMAL = """\
version: 1
conference: {bridge: "51"}
sites:
  "51": {name: DC, level: province}
  "530": {name: Sơn Tây, level: district, parent: "51"}
links:
  dc-530: {site: "530", to: "51", capacity: 10M}
"""


@pytest.fixture(scope="module")
def example() -> Inventory:
    return load_inventory(EXAMPLE)


def test_example_link_capacities_are_bits_per_second(example: Inventory) -> None:
    link = example.links["dc-536"]
    assert (link.up_bps, link.down_bps, link.latency_s) == (4e6, 8e6, 0.012)
    assert link.medium is Medium.MICROWAVE
    assert example.links["dc-530"].up_bps == example.links["dc-530"].down_bps == 10e6
    assert example.links["530-21334"].up_bps == 1.5e6
    assert example.links["522-21010"].latency_s is None


def test_example_link_defaults_and_roles(example: Inventory) -> None:
    assert example.links["dc-522"].medium is Medium.FIBRE  # defaults.link
    assert example.links["dc-522"].role is LinkRole.PRIMARY
    assert example.links["dc-21334-backup"].role is LinkRole.BACKUP


def test_example_upgrade_tiers_in_base_units(example: Inventory) -> None:
    tier = example.links["dc-530"].upgrades[1]
    assert (tier.name, tier.up_bps, tier.monthly_cost) == ("fibre-100M", 100e6, 8_000_000.0)
    assert tier.lead_time_s == 60 * 86400
    assert example.links["530-21334"].upgrades[0].medium is Medium.FIBRE
    assert example.currency == "VND"


def test_example_profiles_builtin_and_overridden(example: Inventory) -> None:
    hd = example.profiles["hd"]
    assert hd.demand_bps == pytest.approx(1.44e6)
    assert hd.source.startswith("Microsoft Teams network requirements (720p30 1.2 Mb/s)")
    assert example.profiles["sd"].demand_bps == pytest.approx(0.6e6)
    assert example.profiles["fhd"].demand_bps == pytest.approx(1.8e6)
    assert hd.policy == defaults.POLICY
    assert hd.policy.rtt_p95_s.ready == 0.1
    assert "ITU-T G.114" in hd.policy.rtt_p95_s.source


def test_example_sites_resolve_district_and_defaults(example: Inventory) -> None:
    assert len(example.sites) == 8
    commune = example.sites["21340"]
    assert (commune.level, commune.district, commune.terrain) == (
        Level.COMMUNE,
        "530",
        Terrain.MOUNTAIN,
    )
    assert example.sites["530"].district == "530"
    assert example.sites["51"].district is None
    assert example.sites["21010"].terrain is Terrain.PLAIN  # defaults.site
    assert example.sites["522"].rooms == 2
    assert example.sites["21010"].coordinates is not None
    assert example.sites["21010"].coordinates.approximate is True
    assert example.sites["51"].coordinates is not None
    assert example.sites["51"].coordinates.approximate is False


def test_example_devices_modules_and_auths(example: Inventory) -> None:
    assert example.devices["cpe-21010"].modules == ("icmp_video", "snmp_v2c_ifmib")
    assert example.devices["cpe-21334"].modules == ("icmp_light",)
    assert example.devices["cpe-21334"].auth == "lab_v2c"
    assert [i.value for i in example.devices["dc-core"].interfaces] == [
        "veth-522",
        "veth-530",
        "veth-536",
    ]
    assert example.modules["icmp_light"].spacing_s == 0.2
    assert example.modules["snmp_v2c_ifmib"].prober is ProberKind.SNMP
    assert example.modules["snmp_v2c_ifmib"].timeout_s == 3.0
    assert example.auths["lab_v2c"].community == SecretRef(SecretKind.ENV, "VCMON_SNMP_COMMUNITY")
    assert example.auths["lab_v3"].priv_protocol == "aes"


def test_example_sources_list_included_files(example: Inventory) -> None:
    names = [p.name for p in example.sources]
    assert names == ["example.yaml", "modules.yaml", "auths.yaml"]


def test_inventory_objects_and_mappings_are_read_only(example: Inventory) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        example.links["dc-536"].up_bps = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        example.sites["99"] = example.sites["51"]  # type: ignore[index]


def test_directory_merges_sorted_files_and_reads_shared_includes_once(tmp_path: Path) -> None:
    (tmp_path / "b-links.yaml").write_text(
        'links:\n  530-21334: {site: "21334", to: "530", capacity: 2M}\n', encoding="utf-8"
    )
    (tmp_path / "a.yaml").write_text(MINIMAL + "include: [common/sites.yml]\n", encoding="utf-8")
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "sites.yml").write_text(
        'sites:\n  "21334": {name: Sơn Mùa, level: commune, parent: "530"}\n', encoding="utf-8"
    )
    (tmp_path / "c.yml").write_text("include: [common/sites.yml]\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not yaml: [", encoding="utf-8")
    inv = load_inventory(tmp_path)
    assert list(inv.sites) == ["51", "530", "21334"]
    assert list(inv.links) == ["dc-530", "530-21334"]
    assert [p.name for p in inv.sources] == ["a.yaml", "sites.yml", "b-links.yaml", "c.yml"]


def test_inventory_policy_applies_to_every_profile_and_cites_its_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(
        MINIMAL
        + "policy:\n  loss: {ready: 0.5%}\n  max_age: 10m\n"
        + "profiles:\n  uhd: {stream: 4M, overhead: 25%,\n"
        + "        policy: {jitter: {ready: 20ms, source: X}}}\n",
        encoding="utf-8",
    )
    inv = load_inventory(path)
    for profile in inv.profiles.values():
        assert profile.policy.loss_ratio.ready == pytest.approx(0.005)
        assert profile.policy.loss_ratio.degraded == 0.05
        assert profile.policy.loss_ratio.source == f"set at {path}:9"
        assert profile.policy.max_age_s == 600.0
    uhd = inv.profiles["uhd"]
    assert uhd.demand_bps == pytest.approx(5e6)
    assert (uhd.policy.jitter_s.ready, uhd.policy.jitter_s.source) == (0.02, "X")
    assert inv.profiles["hd"].policy.jitter_s == defaults.POLICY.jitter_s


def test_file_secret_is_relative_to_the_file_naming_it(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "auths.yaml").write_text(
        "auths:\n  a: {version: v2c, community: {file: secrets/community}}\n", encoding="utf-8"
    )
    (tmp_path / "inv.yaml").write_text(MINIMAL + "include: [sub/auths.yaml]\n", encoding="utf-8")
    community = load_inventory(tmp_path / "inv.yaml").auths["a"].community
    assert community is not None
    assert community.kind is SecretKind.FILE
    assert Path(community.name) == tmp_path / "sub" / "secrets" / "community"


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(
        MINIMAL.replace(
            '  "530": {name: Sơn Tây, level: district, parent: "51"}\n',
            '  "530": {name: Sơn Tây, level: district, parent: "51"}\n'
            '  "21334": {name: A, level: commune, parent: "530"}\n'
            '  "21335": {name: B, level: commune, parent: "530"}\n',
        )
        + '  530-21334: &thin {site: "21334", to: "530", capacity: 2M, medium: 4g}\n'
        + '  530-21335: {<<: *thin, site: "21335"}\n',
        encoding="utf-8",
    )
    inv = load_inventory(path)
    assert inv.links["530-21335"].site == "21335"
    assert inv.links["530-21335"].medium is Medium.LTE
    assert inv.links["530-21335"].up_bps == 2e6


def test_problems_from_several_files_come_in_one_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL.replace("10M", "10X"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text("sites:\n  '9': {name: x, level: town}\n", encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path)
    assert [(Path(p.file).name, p.line, p.path) for p in caught.value.problems] == [
        ("a.yaml", 7, "links.dc-530.capacity"),
        ("b.yaml", 2, "sites.9.level"),
    ]


def test_a_broken_entry_with_a_dotted_name_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(
        MINIMAL + '  a.b: {site: "530", to: "51", capacity: fast}\n'
        '  a: {site: "530", to: "5", capacity: 1M}\n',
        encoding="utf-8",
    )
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    # 'a.b' is broken (schema), 'a' is still checked (its unknown end), nothing is fatal.
    assert [(p.line, p.path) for p in caught.value.problems] == [
        (8, "links.a.b.capacity"),
        (9, "links.a.to"),
    ]
