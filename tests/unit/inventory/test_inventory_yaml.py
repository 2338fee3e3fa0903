"""The reusable pieces: line-aware YAML reading and schema errors as Problems."""

from __future__ import annotations

from pathlib import Path

import fastjsonschema
import pytest
from jsonschema import Draft202012Validator

from vcmon.errors import InventoryError
from vcmon.inventory import check_schema, inventory_schema, read_yaml
from vcmon.inventory._schema import _checker

BAD = Path(__file__).parent / "bad"
ROOT = Path(__file__).resolve().parents[3]

SCENARIO_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["at"],
                "properties": {"at": {"type": "number", "minimum": 0}, "loss": {"type": "number"}},
            },
        },
    },
}


def test_read_yaml_gives_the_line_of_every_key_and_item(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nsteps:\n  - at: 0\n  -\n    at: 5\n    loss: 0.1\n", encoding="utf-8")
    doc = read_yaml(path)
    assert doc.data == {"name": "x", "steps": [{"at": 0}, {"at": 5, "loss": 0.1}]}
    assert doc.line(["steps", 0, "at"]) == 3
    assert doc.line(["steps", 1]) == 5  # where the item's content starts
    assert doc.line(["steps", 1, "loss"]) == 6
    assert doc.line(["steps", 7]) == 2  # deepest existing step


def test_keys_keep_their_text_so_codes_keep_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("sites:\n  00123: {parent: 0010}\n", encoding="utf-8")
    doc = read_yaml(path)
    assert list(doc.data["sites"]) == ["00123"]
    assert doc.data["sites"]["00123"]["parent"] == 8  # YAML 1.1 octal: the schema rejects it


def test_check_schema_works_for_other_files(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("name: x\nsteps:\n  - at: -1\n  - at: 2\n    los: 0.1\n", encoding="utf-8")
    problems = [str(p) for p in check_schema(read_yaml(path), SCENARIO_SCHEMA)]
    assert problems == [
        f"{path}:3: steps[0].at: must be at least 0 (got -1)",
        f"{path}:5: steps[1].los: unknown key 'los' (did you mean 'loss'?)",
    ]


def test_empty_file_is_an_empty_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert read_yaml(path).data == {}


def test_deep_nesting_is_refused_with_a_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 100 + "]" * 100 + "\n", encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        read_yaml(path)
    assert "nested more than 64 levels deep" in str(caught.value)


def test_small_aliases_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("x: &v [1, 2]\ny: *v\nz: *v\n", encoding="utf-8")
    assert read_yaml(path).data == {"x": [1, 2], "y": [1, 2], "z": [1, 2]}


def _fast_rejects(data: object) -> bool:
    fast = _checker(inventory_schema()).fast
    assert fast is not None
    try:
        fast(data)
    except fastjsonschema.JsonSchemaValueException:
        return True
    return False


@pytest.mark.parametrize(
    "path",
    sorted(p for p in BAD.glob("*.yaml") if p.name not in {"bomb.yaml", "not-utf8.yaml"}),
    ids=lambda p: p.name,
)
def test_fast_validator_agrees_with_jsonschema(path: Path) -> None:
    """The fast path may only say 'valid' when jsonschema finds nothing."""
    try:
        doc = read_yaml(path)
    except InventoryError:
        return  # not YAML: neither validator sees it
    validator = _checker(inventory_schema()).full
    has_errors = any(True for _ in validator.iter_errors(doc.data))
    assert _fast_rejects(doc.data) == has_errors


@pytest.mark.parametrize(
    "path", ["inventory/example.yaml", "inventory/quang-ngai.yaml", "probes/modules.yaml"]
)
def test_shipped_files_pass_both_validators(path: str) -> None:
    doc = read_yaml(ROOT / path)
    assert not _fast_rejects(doc.data)
    assert check_schema(doc, inventory_schema()) == []
    validator = _checker(inventory_schema()).full
    assert list(validator.iter_errors(doc.data)) == []


def test_unknown_alias_and_second_document_are_problems(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("x: 1\ny: *nope\n---\nz: 2\n", encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        read_yaml(path)
    assert [(p.line, p.path, p.message) for p in caught.value.problems] == [
        (2, "", "unknown alias '*nope'"),
        (3, "", "a second YAML document: use one per file"),
    ]


def test_scalars_follow_yaml_1_1_like_pyyaml(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "a: yes\nb: ~\nc: 0x10\nd: 1.5\ne: '1.5'\nf: 2022-10-01\ng: 1e6\nh: !!str 5\n",
        encoding="utf-8",
    )
    assert read_yaml(path).data == {
        "a": True,
        "b": None,
        "c": 16,
        "d": 1.5,
        "e": "1.5",
        "f": "2022-10-01",
        "g": "1e6",
        "h": "5",
    }


def test_inventory_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(inventory_schema())
    assert inventory_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
