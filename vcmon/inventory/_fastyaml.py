"""The fast path of read_yaml: rapidyaml (C++) builds the data, or nothing does.

libyaml hands every token to Python as an event object: on the 5 MB national inventory,
building data from those events (_yaml._Builder) costs 1.3-2.4 s of CPU. Here
rapidyaml parses the file in C++ and writes it out as JSON, which the json module reads
in C. `parse` gives that data only where it is certain to equal the builder's, types
included; otherwise it declines (None) and the builder runs, with its exact errors and
lines. Every check below errs on the side of declining, which costs only time.

Two parsers never quite agree, so:
- libyaml itself judges the syntax: its parser runs in C without making events
  (`raw_parse`, 0.2 s on the national inventory), and anything it refuses declines, as
  does a count of its events that differs from the data's nodes. rapidyaml accepts much
  that libyaml refuses (`{a\\n b: 1}`, `[a:]`, `a: }x`...), so this is not optional.
- rapidyaml reads YAML 1.2 and its JSON keeps a plain scalar as text unless it looks like a
  JSON number; the builder types plain scalars by YAML 1.1 (PyYAML's resolvers): `yes` is
  True, `04` is 4, `1_000` is 1000, `1:30` is 90, `1e3` is text. Any such plain scalar
  declines: words are found in the data and then looked up in the text, numbers in the
  text (where a plain scalar may start: after whitespace or `[{,:`; and end: before
  whitespace or `,]}`; never in a comment, so quoted codes like `"04"` are fine), floats
  as json reads them (`_json_float`). rapidyaml also rewrites `inf`, `.NaN`, `-.5`.
- The builder handles some YAML itself: anchors, aliases, tags, merge keys, explicit keys,
  several documents, block scalars; a tab, a backslash (escapes), a control character,
  NEL, LS, PS or a BOM inside the text; a `#` in a flow mapping (rapidyaml keeps it as
  text); duplicate keys; nesting deeper than the builder allows. All decline.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

import yaml

from vcmon.memory import gc_paused

_BOM = b"\xef\xbb\xbf"


def _start(matched: bytes = b"") -> bytes:
    """Lookbehinds: a plain scalar (or a node property) may start before `matched`, a fixed
    width pattern just matched: at the start, after whitespace or `[{,`, or after a `:`
    that follows a quoted or flow key (`{"a":1}`).
    """
    return rb"(?<![^\s\[{,:]" + matched + rb")(?<![^\"'\]}]:" + matched + rb")"


_END = rb"(?=[\s,\]}]|\Z)"
"""Where a plain scalar may end: at the end, or before whitespace or `,]}`."""

_ALWAYS = b"\t\\" + bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
"""Bytes that decline wherever they are."""
_INDICATORS = b"&*!|>%@`?~=+"
"""Bytes that decline where a plain scalar may start: node properties, block scalars,
directives, explicit keys, `~` (null), `=` (value), `+1`."""
_OTHER = bytes(b for b in range(256) if b not in _ALWAYS + _INDICATORS)
_AT_START = re.compile(rb"[" + re.escape(_INDICATORS) + rb"]" + _start(b"."))
_RARE = (
    (b"<", re.compile(rb"<<")),  # merge key
    (b"\r", re.compile(rb"\r(?!\n)")),  # a line break to libyaml only
    (b"\xc2", re.compile(rb"\xc2[\x80-\x9f]")),  # C1 controls; NEL, a line break to YAML 1.1
    (b"\xe2", re.compile(rb"\xe2\x80[\xa8\xa9]")),  # LS, PS: the same
    (b"\xef", re.compile(rb"\xef\xbb\xbf|\xef\xbf[\xbe\xbf]")),  # BOM, U+FFFE, U+FFFF
)
"""(a byte, then a pattern that declines) for what needs the rare byte."""

# Plain numbers YAML 1.1 types otherwise than JSON: a quick pattern finds candidates, the
# exact one (which looks behind, so is slow over a whole file) checks the candidate's line.
_SEXAGESIMAL = rb"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"  # 1:30 is 90
_UNDERSCORED = rb"(?=[-+]?\.?[0-9])[-+0-9a-fA-FxXoO._:]*_[-+0-9a-fA-FxXoO._:]*"  # 1_000
_NUMBERS = (
    # octal, hex or binary integers
    (
        re.compile(
            rb"0(?:" + _start(b"0") + rb"|(?<=[-+]0)" + _start(b".0") + rb")"
            rb"(?:[0-7_]+|[xX][0-9a-fA-F_]+|[bB][01_]+)" + _END
        ),
        re.compile(_start() + rb"[-+]?0(?:[0-7_]+|[xX][0-9a-fA-F_]+|[bB][01_]+)" + _END),
    ),
    (re.compile(rb"-\.[0-9]"), re.compile(_start() + rb"-\.[0-9]")),  # rapidyaml: -.5 is -0.5
    (re.compile(rb"_(?:(?<=[0-9.]_)|(?=[0-9.]))"), re.compile(_start() + _UNDERSCORED + _END)),
    (re.compile(rb":(?<=[0-9]:)[0-9]"), re.compile(_start() + _SEXAGESIMAL + _END)),
)

_WORDS = frozenset(
    [
        *(
            case(word)
            for word in ("yes", "no", "on", "off")
            for case in (str, str.title, str.upper)
        ),
        *("True", "TRUE", "False", "FALSE", "~", "Null", "NULL", "=", "<<"),
        *(sign + inf for sign in ("", "-", "+") for inf in (".inf", ".Inf", ".INF")),
        *(".nan", ".NaN", ".NAN"),
    ]
)
"""Values YAML 1.1 types (bool, null, float, value, merge) where JSON keeps the text."""

_SAFE_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+][0-9]+)?")
"""JSON floats that YAML 1.1 reads as the same float (it wants a dot and a signed exponent)."""

_CLoader: type[Any] | None = getattr(yaml, "CSafeLoader", None)


class _DeclinedError(Exception):
    pass


def parse(raw: bytes, max_depth: int) -> dict[str, Any] | list[Any] | None:
    """What the builder would make of `raw` (UTF-8), or None when that is not certain."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if _suspicious(raw):
        return None
    with gc_paused():
        events = _libyaml_events(raw)  # first: most broken files stop here
        emitted = _ryml_json(raw) if events is not None else None
        if emitted is None:
            return None
        try:
            data = json.loads(emitted, parse_float=_json_float, parse_constant=_json_constant)
        except (ValueError, RecursionError, _DeclinedError):
            return None
        if type(data) is not dict and type(data) is not list:
            return None
        shape = _shape(data, max_depth)
    if shape is None or shape[0] != events:
        return None
    if any(_plain(raw, _word(word)) for word in shape[1]):
        return None
    return data


def _suspicious(raw: bytes) -> bool:
    """Whether the text has something only the builder reads right (see the module doc)."""
    flagged = raw.translate(None, _OTHER)
    if flagged and (flagged.translate(None, _INDICATORS) or _plain(raw, _AT_START)):
        return True
    if any(byte in raw and pattern.search(raw) for byte, pattern in _RARE):
        return True
    return any(_near(raw, quick, exact) for quick, exact in _NUMBERS)


def _near(raw: bytes, quick: re.Pattern[bytes], exact: re.Pattern[bytes]) -> bool:
    """Whether `exact` matches, outside comments, on a line where `quick` does."""
    for found in quick.finditer(raw):
        start = raw.rfind(b"\n", 0, found.start()) + 1
        end = raw.find(b"\n", found.end())
        for match in exact.finditer(raw, start, len(raw) if end < 0 else end):
            if not _in_comment(raw, match.start()):
                return True
    return False


def _plain(raw: bytes, pattern: re.Pattern[bytes]) -> bool:
    """Whether `pattern` matches anywhere but in a comment."""
    return any(not _in_comment(raw, match.start()) for match in pattern.finditer(raw))


def _word(word: str) -> re.Pattern[bytes]:
    """`word` as a plain scalar; the word first, so the search skips quickly."""
    text = re.escape(word.encode())
    return re.compile(text + _start(text) + _END)


def _in_comment(raw: bytes, at: int) -> bool:
    """Whether `at` follows a `#` that starts a comment on its line.

    A `#` after whitespace starts a comment unless it is inside a quoted scalar; and if
    no quote follows it on the line, such a scalar goes on past the line anyway. Either
    way nothing after it on the line is a plain scalar. (Block scalars declined earlier.)
    """
    start = raw.rfind(b"\n", 0, at) + 1
    end = raw.find(b"\n", at)
    line = raw[start : len(raw) if end < 0 else end]
    sharp = -1
    while True:
        sharp = line.find(b"#", sharp + 1, at - start)
        if sharp < 0:
            return False
        if sharp == 0 or line[sharp - 1 : sharp].isspace():
            rest = line[sharp:]
            return b'"' not in rest and b"'" not in rest


def _ryml_json(raw: bytes) -> str | None:
    """rapidyaml's JSON for `raw`, or None where it refuses.

    On a parse error rapidyaml writes a message to stderr (C stdio) before raising; the
    builder will report the error properly, so meanwhile fd 2 points at a scratch file,
    and what other threads wrote there is copied back (dropped only if rapidyaml failed).
    """
    try:
        import ryml
    except ImportError:
        return None
    text = None
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        return _emit(ryml, raw)
    try:
        with tempfile.TemporaryFile() as scratch:
            os.dup2(scratch.fileno(), 2)
            try:
                text = _emit(ryml, raw)
            finally:
                os.dup2(saved, 2)
            if text is not None and scratch.tell():
                scratch.seek(0)
                os.write(2, scratch.read())
    except OSError:  # no temporary file, or stderr gone meanwhile: never mind the copy
        pass
    finally:
        os.close(saved)
    return text


def _emit(ryml: Any, raw: bytes) -> str | None:
    try:
        tree = ryml.parse_in_arena(raw)
        if tree.empty():
            return None
        root = tree.root_id()
        if tree.is_stream(root) or not tree.is_container(root):
            return None  # `---`, several documents, a scalar or an empty document
        text = ryml.emit_json(tree)
    except Exception:  # rapidyaml raises its own types (ExceptionParse...): any means no
        return None
    if not isinstance(text, str) or "#" in text or '.inf"' in text or '.nan"' in text:
        # `#`: mostly quoted in the YAML; but rapidyaml also takes a comment inside a flow
        # mapping (`{a: 1 # note`) for text, where libyaml drops it. `.inf"`, `.nan"`: what
        # rapidyaml writes for `inf`, `-Infinity`, `.NaN`..., even for a quoted key.
        return None
    return text


def _libyaml_events(raw: bytes) -> int | None:
    """How many events libyaml's parser makes of `raw` (in C), or None if it refuses it."""
    if _CLoader is None:
        return None
    loader = _CLoader(raw)
    try:
        return int(loader.raw_parse())
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()


def _json_float(text: str) -> float:
    if ("e" in text or "E" in text) and not _SAFE_FLOAT.fullmatch(text):
        raise _DeclinedError(text)  # `1e3` is text to YAML 1.1
    return float(text)


def _json_constant(text: str) -> Any:
    raise _DeclinedError(text)  # NaN, Infinity: JSON-only spellings


def _shape(data: dict[str, Any] | list[Any], max_depth: int) -> tuple[int, set[str]] | None:
    """The number of events libyaml makes of `data`, and the _WORDS among its values; None
    if it is deeper than `max_depth`.

    Events: stream and document start and end, and per collection 2, per key 1, per scalar
    value 1. A duplicate key, which json drops, makes the count short.
    """
    containers, children, keys, words = 0, 0, 0, set()
    level: list[Any] = [data]
    for _ in range(max_depth):
        containers += len(level)
        deeper: list[Any] = []
        for container in level:
            values = container
            if type(container) is dict:
                keys += len(container)
                values = container.values()
            children += len(container)
            for value in values:
                kind = type(value)
                if kind is str:
                    if value in _WORDS:
                        words.add(value)
                elif kind is dict or kind is list:
                    deeper.append(value)
        level = deeper
        if not level:
            # every non-root node is a child: scalars = children - (containers - 1)
            return 4 + 2 * containers + (children - containers + 1) + keys, words
    return None
