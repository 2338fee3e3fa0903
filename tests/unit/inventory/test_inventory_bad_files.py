"""Every validation rule has a bad file under bad/ and its exact message, FILE:LINE: path: msg.

Each file is a small valid inventory plus one mistake; where one mistake truly causes more
(an unknown parent also leaves the site without a path to the bridge) all are listed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vcmon.errors import InventoryError, VcmonError
from vcmon.inventory import load_inventory

BAD = Path(__file__).parent / "bad"

EXPECTED: dict[str, list[str]] = {
    # --- the YAML text itself
    "tab.yaml": ["tab.yaml:10: tab character: YAML indents with spaces only"],
    "indentation.yaml": [
        "indentation.yaml:4: invalid YAML: did not find expected key"
        " (while parsing a block mapping) at column 4"
    ],
    "duplicate-key.yaml": [
        "duplicate-key.yaml:10: links.dc-530: duplicate key 'dc-530' (first at line 8)"
    ],
    "bomb.yaml": [
        "bomb.yaml:3: YAML aliases expand to 490,329,066 nodes from 30:"
        " refusing a possible 'billion laughs' bomb"
    ],
    "not-utf8.yaml": ["not-utf8.yaml:4: not UTF-8 text (byte 0xe2): save the file as UTF-8"],
    # --- structure (JSON Schema)
    "version.yaml": ["version.yaml:1: version: unsupported version 2: this vcmon reads version 1"],
    "unknown-section.yaml": [
        "unknown-section.yaml:10: device: unknown key 'device' (did you mean 'devices'?)"
    ],
    "unknown-key.yaml": [
        "unknown-key.yaml:12: links.530-21334.too: unknown key 'too' (did you mean 'to'?)"
    ],
    "missing-required.yaml": ["missing-required.yaml:10: sites.21334: missing required key 'name'"],
    "wrong-type.yaml": [
        "wrong-type.yaml:10: sites.21334.rooms: expected integer, got a string 'two'"
    ],
    "site-code-unquoted.yaml": [
        "site-code-unquoted.yaml:13: sites.21334.parent: 530 is not a site code:"
        ' write it as a quoted string, e.g. "522"'
    ],
    "lat-out-of-range.yaml": [
        "lat-out-of-range.yaml:14: sites.21334.coordinates.lat: must be at most 90 (got 108.33)"
    ],
    "rooms-negative.yaml": [
        "rooms-negative.yaml:10: sites.21334.rooms: must be at least 0 (got -1)"
    ],
    "dscp-out-of-range.yaml": [
        "dscp-out-of-range.yaml:11: modules.icmp_video.dscp: must be at most 63 (got 64)"
    ],
    "overhead-out-of-range.yaml": [
        "overhead-out-of-range.yaml:11: profiles.hd.overhead: must be at most 1 (got 1.2)"
    ],
    "bad-rate.yaml": [
        "bad-rate.yaml:10: links.530-21334.capacity: '10 MB' is not a positive bit rate"
        " (examples: 10M, 1.5 Mbps, 512k) or {up: RATE, down: RATE}"
    ],
    "bad-duration.yaml": [
        "bad-duration.yaml:10: links.530-21334.latency: '12 msec' is not a duration"
        " (examples: 30ms, 5s, 1m, 45d)"
    ],
    "zero-capacity.yaml": [
        "zero-capacity.yaml:10: links.530-21334.capacity.up: must be more than 0 (got 0)"
    ],
    "bad-enum.yaml": [
        "bad-enum.yaml:10: links.530-21334.medium: '4G' is not one of:"
        " fibre, vpn, 4g, microwave, satellite (did you mean '4g'?)"
    ],
    "literal-secret.yaml": [
        "literal-secret.yaml:11: auths.lab_v2c.community: a secret must be a reference,"
        " ${ENV_VAR} or {file: PATH}, never the secret itself"
    ],
    "interface-two-matches.yaml": [
        "interface-two-matches.yaml:15: devices.dc-core.interfaces[0]:"
        " give the link and exactly one of ifName, ifAlias, ifDescr"
    ],
    # --- files
    "include-missing.yaml": [
        "include-missing.yaml: conference: missing section (at least the bridge site)",
        "include-missing.yaml:2: include[0]: no such file: ../missing/modules.yaml",
    ],
    "include-cycle-a.yaml": [
        "include-cycle-b.yaml:1: include[0]: include cycle:"
        " include-cycle-a.yaml -> include-cycle-b.yaml -> include-cycle-a.yaml"
    ],
    "duplicate-across-files": [
        "duplicate-across-files/b.yaml:2: links.dc-531: parallel to link 'dc-530'"
        " (same sites 530 and 51): describe them as one link",
        "duplicate-across-files/b.yaml:4: sites.530: site '530' is already defined at"
        " duplicate-across-files/a.yaml:5",
        "duplicate-across-files/b.yaml:5: conference: already defined at"
        " duplicate-across-files/a.yaml:2",
    ],
    "missing-conference.yaml": [
        "missing-conference.yaml: conference: missing section (at least the bridge site)"
    ],
    # --- meaning: references, levels, graph
    "unknown-site.yaml": [
        "unknown-site.yaml:5: sites.530: no path to the bridge '51' over links",
        "unknown-site.yaml:8: links.dc-530.site: unknown site '5300' (did you mean '530'?)",
    ],
    # the unknown far end is the one message: 530 is not also said to have no path
    "unknown-far-end.yaml": [
        "unknown-far-end.yaml:7: links.dc-530.to: unknown site '510' (did you mean '51'?)",
    ],
    "unknown-parent.yaml": [
        "unknown-parent.yaml:10: sites.21334: no path to the bridge '51' over links",
        "unknown-parent.yaml:10: sites.21334.parent: unknown site '5300' (did you mean '530'?)",
    ],
    "parent-level.yaml": [
        "parent-level.yaml:10: sites.21334: no path to the bridge '51' over links",
        "parent-level.yaml:10: sites.21334.parent: the parent of a commune must be a district,"
        " not '51' (province)",
    ],
    "province-parent.yaml": [
        "province-parent.yaml:10: sites.50: no path to the bridge '51' over links",
        "province-parent.yaml:10: sites.50.parent: a province has no parent",
    ],
    "parent-cycle.yaml": [
        # the cycle is the one message about these parents (no level rule around a loop)
        "parent-cycle.yaml:11: sites.531.parent: parent cycle: 531 -> 532 -> 531",
        "parent-cycle.yaml:12: sites.532: no path to the bridge '51' over links",
        "parent-cycle.yaml:13: sites.533: no path to the bridge '51' over links",
        "parent-cycle.yaml:13: sites.533.parent: parent cycle: 533 -> 533",
    ],
    "no-path.yaml": ["no-path.yaml:10: sites.21334: no path to the bridge '51' over links"],
    "parallel-links.yaml": [
        "parallel-links.yaml:10: links.dc-530-b: parallel to link 'dc-530'"
        " (same sites 51 and 530): describe them as one link"
    ],
    "self-link.yaml": [
        "self-link.yaml:10: links.dc-51.to: a link needs two different sites (both are '51')"
    ],
    "unknown-bridge.yaml": ["unknown-bridge.yaml:2: conference.bridge: unknown site '52'"],
    "cascade-not-district.yaml": [
        "cascade-not-district.yaml:2: conference.cascade_at[1]: '51' is a province, not a district"
    ],
    "cascade-empty.yaml": [
        "cascade-empty.yaml:2: conference.cascade_at:"
        " topology cascade needs the districts with an MCU in cascade_at"
    ],
    "unknown-profile.yaml": ["unknown-profile.yaml:2: conference.profile: unknown profile 'hd720'"],
    "bad-address.yaml": [
        "bad-address.yaml:11: devices.r-530.address: '198.18.2.256' is not an IP address"
    ],
    "duplicate-address.yaml": [
        "duplicate-address.yaml:12: devices.r-536.address:"
        " address 198.18.2.1 is already used by device 'r-530'"
    ],
    "device-references.yaml": [
        "device-references.yaml:13: devices.r-530.auth: unknown auth 'lab_v2'",
        "device-references.yaml:13: devices.r-530.modules[0]: unknown module 'icmp_vidoe'"
        " (did you mean 'icmp_video'?)",
    ],
    "snmp-without-auth.yaml": [
        "snmp-without-auth.yaml:13: devices.r-530.modules: uses an SNMP module but has no 'auth'"
    ],
    "interface-link.yaml": [
        "interface-link.yaml:15: devices.r-530.interfaces[0].link: unknown link 'dc-5300'"
        " (did you mean 'dc-530'?)",
        "interface-link.yaml:16: devices.r-530.interfaces[1].link:"
        " link 'dc-536' does not reach site '530'",
    ],
    "v2c-without-community.yaml": [
        "v2c-without-community.yaml:11: auths.lab_v2c:"
        " missing required key 'community' (for version v2c)"
    ],
    "v3-rules.yaml": [
        "v3-rules.yaml:11: auths.lab_v3.auth_protocol: 'auth_protocol' needs 'auth_key'",
        "v3-rules.yaml:11: auths.lab_v3.priv_key: 'priv_key' needs 'priv_protocol'",
    ],
    "module-timing.yaml": [
        "module-timing.yaml:11: modules.slow.timeout: timeout 5 s is longer than the interval 2 s",
        "module-timing.yaml:12: modules.burst.count: 100 echoes 100 ms apart take 9.9 s,"
        " not less than the timeout 5 s",
        "module-timing.yaml:13: modules.mixed.dscp: 'dscp' does not apply to prober snmp",
    ],
    "threshold-order.yaml": [
        "threshold-order.yaml:11: policy.rtt_p95: ready (0.3) must not be above degraded (0.1)"
    ],
    "ratio-above-100.yaml": [
        "ratio-above-100.yaml:11: profiles.hd.overhead: '120%' is more than 100%"
    ],
    "new-profile-without-stream.yaml": [
        "new-profile-without-stream.yaml:11: profiles.uhd:"
        " missing required key 'stream' (a new profile needs one)"
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_inventory_reports_exact_problems(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)
    with pytest.raises(InventoryError) as caught:
        load_inventory(name)
    assert [str(p) for p in caught.value.problems] == EXPECTED[name]
    assert str(caught.value).splitlines() == EXPECTED[name]


def test_every_bad_file_has_an_expected_message() -> None:
    on_disk = {p.name for p in BAD.iterdir()} - {"include-cycle-b.yaml"}
    assert on_disk == set(EXPECTED)


def test_inventory_error_is_a_value_error_with_exit_code_2() -> None:
    with pytest.raises(ValueError) as caught:
        load_inventory(BAD / "no-path.yaml")
    assert isinstance(caught.value, VcmonError)
    assert isinstance(caught.value, InventoryError)
    assert caught.value.exit_code == 2


def test_literal_secret_is_not_echoed_in_the_error() -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(BAD / "literal-secret.yaml")
    assert "public" not in str(caught.value)
    assert "public" not in repr(caught.value.problems)


def test_missing_path_is_a_problem_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)
    with pytest.raises(InventoryError) as caught:
        load_inventory("nowhere.yaml")
    assert str(caught.value) == "nowhere.yaml: no such file or directory"
