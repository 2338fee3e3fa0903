"""Whatever a person does to a good file, the answer is an inventory or Problems: never a crash."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vcmon.errors import InventoryError
from vcmon.inventory import load_inventory

EXAMPLE = Path(__file__).resolve().parents[3] / "inventory" / "example.yaml"
LINES = EXAMPLE.read_text(encoding="utf-8").splitlines()
VALUE = re.compile(r"^(\s*-?\s*[\w\"]+\s*:\s*)(\S.*)$")


def _load_variant(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "example.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The includes are relative: keep them pointing at the real probe files.
    (tmp_path.parent / "probes").mkdir(exist_ok=True)
    for name in ("modules.yaml", "auths.yaml"):
        target = tmp_path.parent / "probes" / name
        if not target.exists():
            target.write_bytes((EXAMPLE.parent.parent / "probes" / name).read_bytes())
    try:
        load_inventory(path)
    except InventoryError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file.endswith(".yaml")
            assert problem.message


# Every third line and two kinds of junk: enough to reach every section, fast enough to run.
@pytest.mark.parametrize("index", range(0, len(LINES), 3))
def test_deleting_any_line_gives_an_inventory_or_problems(tmp_path: Path, index: int) -> None:
    _load_variant(tmp_path, LINES[:index] + LINES[index + 1 :])


@pytest.mark.parametrize("junk", ["[]", "-1"])
def test_junk_in_every_value_gives_an_inventory_or_problems(tmp_path: Path, junk: str) -> None:
    for index, line in enumerate(LINES):
        match = VALUE.match(line)
        if match and not line.lstrip().startswith("#"):
            _load_variant(tmp_path, [*LINES[:index], match[1] + junk, *LINES[index + 1 :]])
