"""Scheduled conferences: parsed into absolute times and resolved site sets, or refused with
the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcmon.errors import InventoryError
from vcmon.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "inventory" / "example.yaml"


def with_schedule(tmp_path: Path, schedule: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8").replace("../probes/", f"{ROOT}/probes/")
    start = text.index("schedule:\n")
    end = text.index("\ndefaults:")
    path = tmp_path / "inv.yaml"
    path.write_text(text[:start] + schedule + text[end:], encoding="utf-8")
    return path


def test_example_schedule_resolves_to_absolute_time_and_sites() -> None:
    (event,) = load_inventory(EXAMPLE).schedule
    # 08:00 in Vietnam (+07:00) is 01:00 UTC
    assert event.start_s == 1796605200.0
    assert (event.duration_s, event.lead_time_s, event.profile) == (10800.0, 7200.0, "hd")
    assert event.sites == {"51", "522", "530", "536"}
    assert event.active(event.start_s + 3 * 3600 - 1) and not event.active(event.start_s + 3 * 3600)


def test_schedule_defaults_to_the_conference_profile_and_two_hours(tmp_path: Path) -> None:
    path = with_schedule(
        tmp_path, "schedule:\n  x:\n    start: 2026-12-01T09:30+07:00\n    sites: [district:530]\n"
    )
    (event,) = load_inventory(path).schedule
    assert (event.profile, event.duration_s, event.lead_time_s) == ("hd", 7200.0, 7200.0)
    assert event.sites == {"530", "21340", "21334"}


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            "schedule:\n  x:\n    start: 2026-12-01 09:30\n    sites: [all]\n",
            "schedule.x.start: '2026-12-01 09:30' is not a date and time with its UTC offset "
            "(example: 2026-12-05T08:00+07:00)",
        ),
        (
            "schedule:\n  x:\n    start: 2026-12-01T09:30+07:00\n    sites: [district:21010]\n",
            "schedule.x.sites: '21010' is not a district code",
        ),
        (
            "schedule:\n  x:\n    start: 2026-12-01T09:30+07:00\n    profile: hdd\n"
            "    sites: [all]\n",
            "schedule.x.profile: unknown profile 'hdd' (did you mean 'hd'?)",
        ),
        (
            "schedule:\n  x:\n    start: 2026-12-01T09:30+07:00\n    site: [all]\n",
            "schedule.x.site: unknown key 'site' (did you mean 'sites'?)",
        ),
    ],
)
def test_bad_schedule_entries_name_file_line_and_field(
    tmp_path: Path, schedule: str, expected: str
) -> None:
    path = with_schedule(tmp_path, schedule)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    messages = [str(p) for p in err.value.problems]
    assert any(m.startswith(f"{path}:") and m.endswith(expected) for m in messages), messages
