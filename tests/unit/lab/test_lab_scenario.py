"""Scenario files: units parsed, events checked, mistakes reported with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcmon.errors import InventoryError
from vcmon.lab.scenario import Action, load_scenario, parse_scenario

REPO = Path(__file__).parents[3]


def test_demo_scenario_in_the_repo_is_valid() -> None:
    sc = load_scenario(REPO / "inventory" / "scenarios" / "demo.yaml")
    assert sc.events and sc.sites


def test_events_are_sorted_and_parsed_with_units() -> None:
    sc = parse_scenario(
        "version: 1\nevents:\n"
        "  - {at: 2m, action: link_up, link: a}\n"
        "  - {at: 30s, action: loss_burst, site: '1', loss: 50%, duration: 10s}\n"
        "  - {at: 1m, action: rate, link: a, rate: {down: 2M}}\n"
    )
    assert [(e.at_s, e.action) for e in sc.events] == [
        (30.0, Action.LOSS_BURST),
        (60.0, Action.RATE),
        (120.0, Action.LINK_UP),
    ]
    assert sc.events[0].loss is not None and sc.events[0].loss.ratio == 0.5
    assert (sc.events[1].up_bps, sc.events[1].down_bps) == (None, 2e6)


def test_unknown_key_is_reported_with_file_and_line() -> None:
    with pytest.raises(InventoryError) as err:
        parse_scenario("version: 1\nsites:\n  '1': {delay: 1ms, lag: 2ms}\n", "x.yaml")
    assert str(err.value) == (
        "x.yaml:3: sites.1: Additional properties are not allowed ('lag' was unexpected)"
    )


def test_event_missing_its_target_is_reported() -> None:
    with pytest.raises(
        InventoryError, match=r"x\.yaml:3: events\[0\]: action reboot needs `device`"
    ):
        parse_scenario("version: 1\nevents:\n  - {at: 1s, action: reboot}\n", "x.yaml")


@pytest.mark.parametrize("loss", ["3/2", "120%", "1.5", "often"])
def test_impossible_losses_are_rejected(loss: str) -> None:
    with pytest.raises(InventoryError, match=r"sites\.1\.loss"):
        parse_scenario(f"version: 1\nsites: {{'1': {{loss: '{loss}'}}}}\n")


def test_bad_yaml_names_the_line() -> None:
    with pytest.raises(InventoryError, match=r"^x\.yaml:3: invalid YAML: mapping values"):
        parse_scenario("version: 1\nsites:\n  a: b: c\n", "x.yaml")


def test_duplicate_keys_are_an_error_not_a_silent_override() -> None:
    with pytest.raises(
        InventoryError, match=r"^x\.yaml:4: sites.21010: duplicate key '21010' \(first at line 3\)$"
    ):
        parse_scenario("version: 1\nsites:\n  '21010': {delay: 1ms}\n  '21010': {}\n", "x.yaml")


def test_every_action_is_in_the_schema_and_names_its_target() -> None:
    from vcmon.lab.scenario import _ACTION_TARGET, _schema

    enum = _schema()["$defs"]["event"]["properties"]["action"]["enum"]
    assert sorted(enum) == sorted(a.value for a in Action) == sorted(_ACTION_TARGET)
