"""The parsed-YAML cache: a hit gives the same data and lines; any doubt means parsing again."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcmon.inventory import _cache, read_yaml


def _big_yaml(path: Path) -> Path:
    lines = ["sites:"]
    for i in range(1000):
        lines += [f'  "{i:05d}":', f"    name: Xã {i}", "    level: commune", '    parent: "001"']
    lines += ["shared: &s {a: 1}", "again: *s"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size >= _cache.MIN_BYTES
    return path


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("VCMON_CACHE_DIR", str(where))
    return where / "yaml"


def test_second_read_comes_from_the_cache_with_the_same_lines(
    tmp_path: Path, cache_dir: Path
) -> None:
    path = _big_yaml(tmp_path / "big.yaml")
    first = read_yaml(path)
    assert len(list(cache_dir.glob("*.marshal"))) == 1
    second = read_yaml(path)
    assert second.data == first.data
    assert second.data is not first.data
    for key in ("00000", "00500", "00999"):
        assert second.line(("sites", key, "parent")) == first.line(("sites", key, "parent"))
    assert second.line(("sites", "00999", "parent")) == 1 + 999 * 4 + 4
    assert second.data["again"] is second.data["shared"]  # aliases stay shared


def test_an_edited_file_is_parsed_again(tmp_path: Path, cache_dir: Path) -> None:
    path = _big_yaml(tmp_path / "big.yaml")
    read_yaml(path)
    path.write_text(path.read_text(encoding="utf-8").replace("Xã 7\n", "Xã bảy\n"), "utf-8")
    assert read_yaml(path).data["sites"]["00007"]["name"] == "Xã bảy"
    assert len(list(cache_dir.glob("*.marshal"))) == 2


def test_a_corrupt_entry_is_ignored(tmp_path: Path, cache_dir: Path) -> None:
    path = _big_yaml(tmp_path / "big.yaml")
    expected = read_yaml(path).data
    (entry,) = cache_dir.glob("*.marshal")
    entry.write_bytes(b"\x00garbage")
    assert read_yaml(path).data == expected


def test_empty_cache_dir_setting_disables_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VCMON_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    read_yaml(_big_yaml(tmp_path / "big.yaml"))
    assert _cache.cache_dir() is None
    assert not (tmp_path / "xdg").exists()


def test_small_files_are_not_cached(tmp_path: Path, cache_dir: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text("version: 1\n", encoding="utf-8")
    read_yaml(path)
    assert not cache_dir.exists()


def test_a_document_known_valid_skips_the_schema_but_a_new_schema_does_not(
    tmp_path: Path, cache_dir: Path
) -> None:
    from vcmon.inventory import check_schema

    path = _big_yaml(tmp_path / "big.yaml")
    loose = {"type": "object"}
    strict = {"type": "object", "properties": {"sites": {"maxProperties": 10}}}
    assert check_schema(read_yaml(path), loose) == []
    assert len(list((cache_dir.parent / "valid").iterdir())) == 1
    assert check_schema(read_yaml(path), loose) == []
    problems = check_schema(read_yaml(path), strict)
    assert [(p.line, p.path) for p in problems] == [(1, "sites")]
    assert len(list((cache_dir.parent / "valid").iterdir())) == 1


def test_a_file_with_credentials_is_never_cached(tmp_path: Path) -> None:
    big_comment = "# " + "x" * (_cache.MIN_BYTES + 10) + "\n"
    raw = (big_comment + "auths:\n  a: {version: v2c, community: hunter2}\n").encode()
    _cache.store(raw, {"auths": {"a": {"community": "hunter2"}}}, {})
    assert _cache.load(raw) is None
    stored = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert not any(b"hunter2" in content for content in stored)


# --- resolved inventories ---------------------------------------------------------------


def _split_example(where: Path) -> Path:
    """inventory/example.yaml as a directory, its includes pointing back at probes/."""
    where.mkdir()
    probes = Path("probes").resolve()
    text = Path("inventory/example.yaml").read_text("utf-8").replace("../probes", str(probes))
    (where / "a.yaml").write_text(text, "utf-8")
    return where


def test_a_second_load_is_the_cached_resolved_inventory(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vcmon.inventory import load_inventory

    root = _split_example(tmp_path / "inv")
    first = load_inventory(root)
    assert len(list((cache_dir.parent / "resolved").glob("*.pickle"))) == 1

    def not_again(*_: object) -> None:
        raise AssertionError("resolved again: the cached inventory was not used")

    monkeypatch.setattr("vcmon.inventory._resolve.Resolver.resolve", not_again)
    second = load_inventory(root)
    assert second == first and second is not first
    assert type(second.sites) is type(first.sites)  # still read-only mappings
    with pytest.raises(TypeError):
        second.sites["x"] = second.sites["21340"]  # type: ignore[index]
    # devices are read from the entry only when first used, and are then the same
    assert len(second.devices) == len(first.devices)
    assert dict(second.devices) == dict(first.devices)
    with pytest.raises(TypeError):
        second.devices["x"] = next(iter(second.devices.values()))  # type: ignore[index]


def test_an_edited_or_added_file_gives_a_new_resolved_inventory(
    tmp_path: Path, cache_dir: Path
) -> None:
    from vcmon.inventory import load_inventory

    root = _split_example(tmp_path / "inv")
    code = next(iter(load_inventory(root).sites))
    text = (root / "a.yaml").read_text("utf-8")
    name = load_inventory(root).sites[code].name
    (root / "a.yaml").write_text(text.replace(f"name: {name}", "name: Đổi tên", 1), "utf-8")
    assert load_inventory(root).sites[code].name == "Đổi tên"
    (root / "b.yaml").write_text("profiles:\n  tiny: {stream: 256k, source: test}\n", "utf-8")
    assert "tiny" in load_inventory(root).profiles
    (root / "b.yaml").unlink()
    assert "tiny" not in load_inventory(root).profiles


def test_a_resolved_entry_naming_other_code_is_refused_not_run(
    tmp_path: Path, cache_dir: Path
) -> None:
    import pickle

    from vcmon.inventory import load_inventory
    from vcmon.inventory._cache import _file_digest, _listing

    root = _split_example(tmp_path / "inv")
    expected = load_inventory(root)
    (entry,) = (cache_dir.parent / "resolved").glob("*.pickle")
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (open, (str(marker), "w"))  # would create `marker` if unpickled

    header = pickle.dumps((_listing(root), [(str(p), _file_digest(p)) for p in expected.sources]))
    for payload in (pickle.dumps(([], Evil())), header + pickle.dumps(Evil())):
        entry.write_bytes(payload)  # the file list, then the inventory
        assert load_inventory(root) == expected
        assert not marker.exists()


def test_an_invalid_inventory_is_never_stored(tmp_path: Path, cache_dir: Path) -> None:
    from vcmon.errors import InventoryError
    from vcmon.inventory import load_inventory

    root = _split_example(tmp_path / "inv")
    (root / "b.yaml").write_text("sites:\n  '99999': {name: X, level: commune}\n", "utf-8")
    for _ in range(2):
        with pytest.raises(InventoryError):
            load_inventory(root)
    assert not list((cache_dir.parent / "resolved").glob("*.pickle"))


def test_validate_confirms_an_unchanged_inventory_without_loading_it(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vcmon.inventory
    from vcmon.inventory import validate_inventory
    from vcmon.model import InventorySummary

    root = _split_example(tmp_path / "inv")
    first = validate_inventory(root)
    assert first == InventorySummary.of(vcmon.inventory.load_inventory(root))
    assert (first.sites, first.communes, first.links) == (8, 4, 8)

    def no_load(*_: object) -> None:
        raise AssertionError("loaded: the cached summary was not used")

    monkeypatch.setattr(vcmon.inventory, "load_inventory", no_load)
    assert validate_inventory(root) == first
    # an added profile changes the files: the summary is not taken from the cache
    (root / "b.yaml").write_text("profiles:\n  tiny: {stream: 256k, source: test}\n", "utf-8")
    with pytest.raises(AssertionError, match="cached summary was not used"):
        validate_inventory(root)
    monkeypatch.undo()
    assert validate_inventory(root).profiles == first.profiles + 1
