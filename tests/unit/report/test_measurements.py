from __future__ import annotations

import json
from pathlib import Path

import pytest

from vcmon.errors import InventoryError
from vcmon.report import load_measurements


def test_measurements_file_gives_path_and_link_measurements(tmp_path: Path) -> None:
    doc = {
        "paths": [
            {
                "site": "21340",
                "measured_at": 1000.0,
                "rtt_p50_s": 0.02,
                "rtt_p95_s": 0.031,
                "jitter_s": 0.004,
                "loss_ratio": 0.01,
            },
            {
                "site": "530",
                "measured_at": 1000.0,
                "rtt_p50_s": None,
                "rtt_p95_s": None,
                "jitter_s": None,
                "loss_ratio": None,
                "failure": "timeout",
            },
        ],
        "links": [
            {
                "link": "dc-530",
                "measured_at": 1000.0,
                "used_up_bps": 2e6,
                "used_down_bps": 3e6,
                "capacity_up_bps": 10e6,
                "capacity_down_bps": 10e6,
                "oper_up": True,
            },
        ],
    }
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    m = load_measurements(path)
    assert m.paths["21340"].rtt_p95_s == 0.031
    assert m.paths["530"].failure == "timeout"
    assert m.links["dc-530"].used_down_bps == 3e6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"paths": [\n {"site": "a",\n  "measured_at": -1}]}',
            "m.json:3: paths[0].measured_at: must not be negative (got -1)",
        ),
        (
            '{"paths": [\n {"site": "a", "measured_at": 1}]}',
            "m.json:2: paths[0].rtt_p50_s: missing",
        ),
        (
            '{"links": [\n {"link": "l", "measured_at": 1, "used_up_bps": "lots"}]}',
            "m.json:2: links[0].used_up_bps: wrong type str",
        ),
        ('{"paths": [}', "m.json:1: not JSON: Expecting value"),
        ('{"sites": []}', 'm.json:1: expected an object with "paths" and "links"'),
    ],
)
def test_bad_measurements_file_names_file_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "m.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InventoryError) as err:
        load_measurements(path)
    assert str(err.value) == message.replace("m.json", str(path))
