"""Caches of parsed YAML documents and of resolved inventories, keyed by content like .pyc files.

The line-aware builder spends 1.3-2.4 s on a 5 MB national inventory on this class of
machine, and even the fast path (_fastyaml) 0.6-0.9 s; unmarshalling the data takes 0.1 s.
(The fast path's documents are stored without lines, which they find again if needed.)
Entries are keyed by a hash of the file's bytes and of the parser's code, so an edited
file or a new vcmon never reads a stale entry. The same key, with a hash of a
schema, marks a document known to pass that schema (valid/), so an unchanged national file
is not validated again either. Files under 16 KiB are not
cached (they parse in milliseconds); beyond MAX_ENTRIES the oldest entries are removed.
Any cache failure just means parsing again.

Where: $VCMON_CACHE_DIR, else $XDG_CACHE_HOME/vcmon, else ~/.cache/vcmon; set
VCMON_CACHE_DIR to an empty string to disable it. A file with an `auths:` section is never
cached, so a literal secret written there by mistake is not copied anywhere.

Resolved inventories (resolved/): building the frozen model from valid documents costs
about a second on the national inventory, more than unpickling it. An entry is keyed by the
inventory path, the working directory (file names in the model are shown relative to it)
and the code; it lists every file read with its content hash (and a directory's listing),
all checked before use. Only inventories that passed validation are stored: they hold
secret references, never secrets. The cache directory must be writable by its user only,
like ~/.cache; entries are unpickled with only vcmon.model's classes allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import io
import marshal
import operator
import os
import pickle
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PosixPath
from types import MappingProxyType
from typing import Any

from vcmon import model
from vcmon.memory import gc_paused

MIN_BYTES = 16 * 1024
MAX_ENTRIES = 1000

_ENTRY_FORMAT = 4


@functools.cache
def _code_key() -> bytes:
    """Changes whenever the code that builds documents (or its runtime) changes.

    PyYAML is identified by its package file (which holds its version), rapidyaml by its
    version file, neither imported: a cache hit on a resolved inventory needs no YAML at all.
    """
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("_yaml.py", "_fastyaml.py", "_cache.py"):
        digest.update((here / name).read_bytes())
    spec = importlib.util.find_spec("yaml")
    if spec is not None and spec.origin:
        digest.update(Path(spec.origin).read_bytes())
    spec = importlib.util.find_spec("ryml")  # its version.py names the release and commit
    if spec is not None and spec.origin:
        version = Path(spec.origin).with_name("version.py")
        digest.update(version.read_bytes() if version.exists() else spec.origin.encode())
    digest.update(f"{_ENTRY_FORMAT}|{sys.version}".encode())
    return digest.digest()


@functools.cache
def _model_key() -> bytes:
    """Changes whenever the code that resolves an inventory (or the model) changes."""
    here = Path(__file__).parent
    digest = hashlib.sha256(_code_key())
    for path in sorted([*here.glob("*.py"), *here.glob("*.json"), Path(model.__file__)]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


def cache_dir() -> Path | None:
    env = os.environ.get("VCMON_CACHE_DIR")
    if env is not None:
        return Path(env) / "yaml" if env else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vcmon" / "yaml"


def digest(raw: bytes) -> str:
    """The cache key of a file's bytes ('' when the cache is off)."""
    if cache_dir() is None:
        return ""
    return hashlib.sha256(_code_key() + raw).hexdigest()


def _entry(raw: bytes) -> Path | None:
    if len(raw) < MIN_BYTES:
        return None
    where, key = cache_dir(), digest(raw)
    return where / (key + ".marshal") if where is not None and key else None


def _mark(doc_digest: str, schema_digest: str) -> Path | None:
    where = cache_dir()
    if where is None or not doc_digest:
        return None
    name = hashlib.sha256(f"{doc_digest}|{schema_digest}".encode()).hexdigest()
    return where.parent / "valid" / name


def known_valid(doc_digest: str, schema_digest: str) -> bool:
    """Whether this exact document already passed this exact schema."""
    mark = _mark(doc_digest, schema_digest)
    return mark is not None and mark.exists()


def remember_valid(doc_digest: str, schema_digest: str) -> None:
    mark = _mark(doc_digest, schema_digest)
    if mark is None:
        return
    try:
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
        _prune(mark.parent, "*")
    except OSError:
        return


def containers(data: Any) -> list[Any]:
    """Every dict and list in `data`, each once, `data` first."""
    out: list[Any] = []
    seen: set[int] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        out.append(item)
        for child in item.values() if type(item) is dict else item:
            if type(child) is dict or type(child) is list:
                stack.append(child)
    return out


def load(raw: bytes) -> tuple[Any, dict[int, dict[Any, int]] | None] | None:
    """(data, lines by container id) for these bytes, if cached; lines None if not stored."""
    entry = _entry(raw)
    if entry is None:
        return None
    try:
        data, found, lines = marshal.loads(entry.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if found is None and lines is None:
        return data, None
    # marshal keeps shared objects shared, so `found` holds the very containers of `data`.
    if not (isinstance(found, list) and isinstance(lines, list) and len(found) == len(lines)):
        return None
    if not found or found[0] is not data:
        return None
    return data, {id(c): line_map for c, line_map in zip(found, lines, strict=True)}


def store(raw: bytes, data: Any, lines: dict[int, dict[Any, int]] | None) -> None:
    """Keep `data` for these bytes, and its `lines` unless None (the fast path has none:
    a Document finds them by parsing again, rarely; marshalling them would cost more)."""
    entry = _entry(raw)
    if entry is None or (isinstance(data, dict) and "auths" in data):
        # a file with credentials is never copied: should it hold a literal secret by
        # mistake (which validation then rejects), the cache must not keep it
        return
    if lines is None:
        payload = marshal.dumps((data, None, None))
    else:
        found = containers(data)
        payload = marshal.dumps((data, found, [lines.get(id(c), {}) for c in found]))
    _write(entry, payload, "*.marshal")


def _write(entry: Path, payload: bytes, pattern: str) -> None:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a concurrent reader sees the whole entry or none.
        fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
        os.replace(tmp, entry)
        _prune(entry.parent, pattern)
    except OSError:
        return


def _manifest_entry(path: str | os.PathLike[str]) -> Path | None:
    where = cache_dir()
    if where is None:
        return None
    key = hashlib.sha256(_model_key())
    key.update(f"{os.path.realpath(path)}\0{os.getcwd()}".encode())
    return where.parent / "resolved" / (key.hexdigest() + ".pickle")


def yaml_files(root: Path) -> list[Path]:
    """The files an inventory directory holds, sorted. Here rather than in `_sources`
    because a cache hit must list them without importing the YAML stack, and both must
    agree: a file the cache did not list would not invalidate its entry."""
    return sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _listing(path: str | os.PathLike[str]) -> list[str]:
    """What read_sources would pick up in a directory (a file: nothing to list)."""
    root = Path(path)
    return [p.name for p in yaml_files(root)] if root.is_dir() else []


def _file_digest(path: Path) -> str:
    """`digest` of a file's bytes, as read_yaml computes it ('' when unreadable)."""
    try:
        return digest(path.read_bytes())
    except OSError:
        return ""


def load_inventory(path: str | os.PathLike[str]) -> model.Inventory | None:
    """The resolved inventory at `path` if cached and every file it was read from is unchanged."""
    found = _load(path, summary_only=False)
    return found if isinstance(found, model.Inventory) else None


def load_summary(path: str | os.PathLike[str]) -> model.InventorySummary | None:
    """The summary of the cached inventory at `path`, if its files are unchanged.

    Reads only the entry's head: `vcmon validate` on an unchanged inventory loads no model.
    """
    found = _load(path, summary_only=True)
    return found if isinstance(found, model.InventorySummary) else None


def _load(path: str | os.PathLike[str], summary_only: bool) -> object:
    """The entry's summary or inventory if every file it lists is unchanged, else None."""
    entry = _manifest_entry(path)
    if entry is None:
        return None
    try:
        with entry.open("rb") as stream:
            # The head comes first: after an edit, the inventory is never unpickled.
            listing, files, summary = _Unpickler(stream).load()
            if listing != _listing(path):
                return None
            for name, expected in files:
                if _file_digest(Path(name)) != expected:
                    return None
            return summary if summary_only else _Unpickler(stream).load()  # its own memo
    except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError, AttributeError):
        return None


def store_inventory(
    path: str | os.PathLike[str], inventory: model.Inventory, digests: list[str]
) -> None:
    """Keep a validated inventory; `digests` are its source files' (read_yaml's `digest`)."""
    entry = _manifest_entry(path)
    if entry is None or len(digests) != len(inventory.sources) or not all(digests):
        return
    files = [(str(p), d) for p, d in zip(inventory.sources, digests, strict=True)]
    try:
        devices = _Deferred(_dumps(dict(inventory.devices)), len(inventory.devices))
        stored = dataclasses.replace(inventory, devices=devices)
        head = (_listing(path), files, model.InventorySummary.of(inventory))
        payload = _dumps(head) + _dumps(stored)
    except (pickle.PicklingError, TypeError):
        return
    _write(entry, payload, "*.pickle")


def _dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _dispatch_table()
    pickler.dump(value)
    return buffer.getvalue()


class _Deferred(Mapping[str, Any]):
    """A read-only mapping unpickled on first use.

    Devices and their interfaces are a third of a national inventory's objects, and neither
    `validate` (which counts them) nor `analyze` looks at them.
    """

    __slots__ = ("_blob", "_data", "_length")

    def __init__(self, blob: bytes, length: int) -> None:
        self._blob, self._length = blob, length
        self._data: Mapping[str, Any] | None = None

    def _loaded(self) -> Mapping[str, Any]:
        data = self._data
        if data is None:
            with gc_paused():
                data = self._data = MappingProxyType(_Unpickler(io.BytesIO(self._blob)).load())
        return data

    def __getitem__(self, key: str) -> Any:
        return self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        return repr(dict(self._loaded()))


def _read_only(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


@functools.cache  # built once per process, shared by every pickler (which only reads it)
def _dispatch_table() -> dict[type, Any]:
    """Model objects as calls of their class: several times faster to load than their state.

    Keyed by exact type and looked up by pickle's C code: only model objects cost a Python
    call, not the strings, floats and tuples inside them.
    """
    table: dict[type, Any] = {
        MappingProxyType: lambda m: (_read_only, (dict(m),)),
        _Deferred: lambda d: (_Deferred, (d._blob, d._length)),
    }
    for kind in vars(model).values():
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            names = [f.name for f in dataclasses.fields(kind) if f.init]
            table[kind] = _as_call(kind, names)
    return table


def _as_call(kind: type, names: list[str]) -> Any:
    """obj -> (kind, its init fields): attrgetter gathers them in C, 75,000 times nationally."""
    if len(names) == 1:  # attrgetter of one name returns the value itself, not a tuple
        name = names[0]
        return lambda obj: (kind, (getattr(obj, name),))
    fields = operator.attrgetter(*names)
    return lambda obj: (kind, fields(obj))


class _Unpickler(pickle.Unpickler):
    """Only the model's classes: a cache entry must not be able to run anything else."""

    def find_class(self, module: str, name: str) -> Any:
        if module == model.__name__ and isinstance(getattr(model, name, None), type):
            return getattr(model, name)
        if module == __name__ and name in ("_read_only", "_Deferred"):
            return globals()[name]
        if (module, name) in (("pathlib", "PosixPath"), ("pathlib", "Path")):
            return PosixPath
        raise pickle.UnpicklingError(f"not allowed in a cache entry: {module}.{name}")


def _prune(where: Path, pattern: str) -> None:
    entries = list(where.glob(pattern))
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime)
    for old in entries[: len(entries) - MAX_ENTRIES * 4 // 5]:
        old.unlink(missing_ok=True)
