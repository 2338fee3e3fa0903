"""The bundled Quảng Ngãi sample: generated from the official data, loads, and tells its story."""

from __future__ import annotations

import doctest
import importlib.util
import ipaddress
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "inventory" / "quang-ngai.yaml"
GENERATOR = REPO / "scripts" / "make_quang_ngai.py"
DATA = REPO.parent / "shared" / "data" / "quang-ngai-2022.yaml"
LAB = ipaddress.ip_network("198.18.0.0/15")

needs_data = pytest.mark.skipif(
    not DATA.exists(), reason=f"official data {DATA} is not beside the repo (../shared absent)"
)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_quang_ngai", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def official() -> dict[str, Any]:
    if not DATA.exists():
        pytest.skip(f"official data {DATA} is not beside the repo (../shared absent)")
    data: dict[str, Any] = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return data


@needs_data
def test_committed_sample_is_exactly_the_generator_output() -> None:
    gen = _generator()
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    assert SAMPLE.read_text(encoding="utf-8") == gen.render(data), (
        "inventory/quang-ngai.yaml is stale: run python scripts/make_quang_ngai.py"
    )


def test_generator_doctests_pass() -> None:
    result = doctest.testmod(_generator())
    assert result.attempted > 0
    assert result.failed == 0


def test_sample_sites_are_the_official_codes_and_names(
    raw: dict[str, Any], official: dict[str, Any]
) -> None:
    expected = {}
    for district in official["province"]["districts"]:
        expected[district["code"]] = (district["name"], "district", "51")
        for commune in district["communes"]:
            expected[commune["code"]] = (commune["name"], "commune", district["code"])
    got = {
        code: (site["name"], site["level"], site.get("parent"))
        for code, site in raw["sites"].items()
        if code != "51"
    }
    assert got == expected


def test_sample_has_one_province_13_districts_173_communes(raw: dict[str, Any]) -> None:
    levels = [site["level"] for site in raw["sites"].values()]
    assert (levels.count("province"), levels.count("district"), levels.count("commune")) == (
        1,
        13,
        173,
    )
    assert raw["conference"]["bridge"] == "51"
    assert raw["sites"]["51"]["level"] == "province"


def test_every_commune_hangs_off_a_district(raw: dict[str, Any]) -> None:
    sites = raw["sites"]
    for code, site in sites.items():
        if site["level"] == "commune":
            assert sites[site["parent"]]["level"] == "district", code


def test_every_site_has_one_device_with_a_unique_lab_address(raw: dict[str, Any]) -> None:
    devices = raw["devices"].values()
    addresses = [ipaddress.ip_address(d["address"]) for d in devices]
    assert all(a in LAB for a in addresses)
    assert len(set(addresses)) == len(addresses)
    assert sorted(d["site"] for d in devices) == sorted(raw["sites"])


def test_interface_names_fit_linux_ifnames_and_name_real_links(raw: dict[str, Any]) -> None:
    for name, device in raw["devices"].items():
        for iface in device.get("interfaces", []):
            assert len(iface["ifName"]) <= 15, (name, iface)
            link = raw["links"][iface["link"]]
            assert device["site"] in (link["site"], link["to"]), (name, iface)


def test_commune_coordinates_are_approximate_and_within_a_few_km_of_the_district(
    raw: dict[str, Any],
) -> None:
    sites = raw["sites"]
    for code, site in sites.items():
        if site["level"] != "commune":
            continue
        here, hub = site["coordinates"], sites[site["parent"]]["coordinates"]
        assert here["approximate"] is True
        # 0.07 degrees is about 7.7 km at this latitude: "a few km" from the centroid.
        assert abs(here["lat"] - hub["lat"]) < 0.07, code
        assert abs(here["lon"] - hub["lon"]) < 0.07, code
