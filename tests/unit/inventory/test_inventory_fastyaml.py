"""The fast path (rapidyaml) gives exactly the builder's data, types included, or nothing."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from vcmon.errors import InventoryError
from vcmon.inventory import _fastyaml, check_schema, inventory_schema, read_yaml
from vcmon.inventory._yaml import FAST_MIN_BYTES, MAX_DEPTH, parse_yaml

ROOT = Path(__file__).resolve().parents[3]


def _typed(value: Any) -> Any:
    """`value` with every scalar's type spelled out: 1 == 1.0 == True in Python."""
    if type(value) is dict:
        return ("dict", [(_typed(k), _typed(v)) for k, v in value.items()])
    if type(value) is list:
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


def _agrees(text: str) -> bool:
    """Whether the fast path took `text`; fails if it did and the builder disagrees."""
    fast = _fastyaml.parse(text.encode(), MAX_DEPTH)
    if fast is None:
        return False
    try:
        built = parse_yaml(text, "t.yaml").data
    except InventoryError as exc:
        pytest.fail(f"fast path took {text!r}, which the builder refuses: {exc}")
    assert _typed(fast) == _typed(built), text
    return True


def _yaml_files() -> list[Path]:
    return sorted(
        p for top in ("inventory", "probes", "tests") for p in (ROOT / top).rglob("*.y*ml")
    )


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_of_the_repository(path: Path) -> None:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        assert _fastyaml.parse(raw, MAX_DEPTH) is None
        return
    _agrees(text)


_FORM_LINES = """
yes Yes YES no No NO y n on On ON off Off OFF true True TRUE false False FALSE
null Null NULL ~ = << inf nan .inf .Inf -.inf +.inf .nan .NaN .NAN NaN Infinity
0 -0 +0 00 007 08 09 0x1F 0X1F 0b101 0o17 1_000 +5 -5 1:30 190:20:30 1:60
1.5 -1.5 +1.5 1. .5 -.5 1.e+3 1e3 1E3 1.5e3 1.5e+3 1.5E-3 -0.0 00.5 1_0.5 1e309
12345678901234567890 2001-12-14 2001-12-14t21:59:43.10-05:00 10:30:00
04 041 00607 198.18.2.139 20M 2ms 1G Xã a#b it's a:b -a ?a x]
"""
FORMS = [*_FORM_LINES.split(), "Xã 00607", "a b", "é", ""]
"""YAML 1.1 words and numbers, and look-alikes that are text."""
CONTEXTS = [
    "a: {}\n",
    "- {}\n",
    "[{}]",
    "{{a: {}}}",
    "{}: 1\n",
    "x: [a, {}, b]\n",
    '{{"a":{}}}',
    "a: {}  # note 04 yes\n",
    "a:\n  {}\n",
]


@pytest.mark.parametrize("form", FORMS)
def test_every_scalar_form_plain_and_quoted_as_key_and_value(form: str) -> None:
    quoted = ["'" + form.replace("'", "''") + "'", '"' + form + '"']
    for scalar, context in itertools.product([form, *quoted], CONTEXTS):
        _agrees(context.replace("{}", scalar).replace("{{", "{").replace("}}", "}"))


SNIPPETS = [
    "",
    "# only a comment\n",
    "\ufeffa: 1\n",
    "a: 1\r\nb: [2, 3]\r\n",
    "a: 'x\r\n  y'\r\n",
    "just a scalar\n",
    "a: 1\na: 2\n",
    "a: 1\n'a': 2\n",
    "a: &x 1\nb: *x\n",
    "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",
    "a: !!str 1\n",
    "%YAML 1.1\n---\na: 1\n",
    "a: 1\n---\nb: 2\n",
    "a: 1\n...\n",
    "? a\n: b\n",
    ": a\n",
    "a: |\n  x\n  y\n",
    "a: |-\n  x\n",
    "a: >\n  x\n  y\n\n  z\n",
    "a: |\n  x",
    "a: x\n  y\n\n  z\n",
    'a: "x\n  y"\n',
    "a: 'it''s'\n",
    'a: "tab\\there \\u00e9 \\x41 \\/"\n',
    'a: "\\q"\n',
    "a:\tb\n",
    "a: b\tc\n",
    "a: [a, , b]\n",
    "a: [a, b, ]\n",
    "a: {a, b: c}\n",
    "a: [a: b]\n",
    "[a:]",
    "{a:,b}",
    "a: }x\n",
    "- 'a' - b\n",
    "{a\n b: 1}",
    '{"a\n b": 1}',
    "{a: 1 # note\n}",
    "{a # b}",
    "[a # b\n, c]",
    "a:\n  b: 1\n c: 2\n",
    "a:\n- 1\n- 2\n",
    "- - a\n  - b\n- c: d\n",
    "a: [1, [2, [3]]]\n",
    "a: x\u2028y\n",
    "a: x\u0085y\n",
    "a: \x01\n",
    "x" * 1100 + ": 1\n",
    "a: " + "[" * 64 + "]" * 64 + "\n",
    "a: " + "[" * 65 + "]" * 65 + "\n",
    "a: " + "[" * 5000,
]


@pytest.mark.parametrize("text", SNIPPETS)
def test_tricky_snippets(text: str) -> None:
    _agrees(text)


def test_every_short_number_like_token() -> None:
    """YAML 1.1 numbers hide in many spellings: try them all (up to 3 characters)."""
    tokens = ("".join(t) for n in (1, 2, 3) for t in itertools.product("019.-+eE_:xbo", repeat=n))
    taken = 0
    for token, context in itertools.product(tokens, ["a: {}\n", "[{}]", "{}: 1\n"]):
        taken += _agrees(context.replace("{}", token))
    assert taken > 1000  # the plain decimal ones, at least


def _random_document(rng: random.Random) -> str:
    words = [*FORMS, "a: b", "[a]", "{a}", "a,b", " a", "a ", "#", "'", '"', "-", "?", "&a"]

    def scalar() -> str:
        text = rng.choice(words)
        style = rng.random()
        if style < 0.5:
            return text
        return "'" + text.replace("'", "''") + "'" if style < 0.75 else f'"{text}"'

    def flow(depth: int) -> str:
        kind = rng.random()
        if depth > 2 or kind < 0.5:
            return scalar()
        items = [flow(depth + 1) for _ in range(rng.randint(0, 3))]
        if kind < 0.75:
            return "[" + rng.choice([", ", ",", ",\n  "]).join(items) + "]"
        pairs = [f"{scalar()}{rng.choice([': ', ':'])}{item}" for item in items]
        return "{" + ", ".join(pairs) + "}"

    def block(indent: int, depth: int) -> list[str]:
        pad, lines = " " * indent, []
        for _ in range(rng.randint(1, 3)):
            lead = f"{pad}{scalar()}:" if rng.random() < 0.6 else f"{pad}-"
            if depth < 3 and rng.random() < 0.3:
                lines += [lead, *block(indent + rng.choice([1, 2, 4]), depth + 1)]
            else:
                lines.append(f"{lead} {flow(depth)}{rng.choice(['', '', ' # 04 yes'])}")
        return lines

    text = "\n".join(block(0, 0)) + rng.choice(["\n", ""])
    for _ in range(rng.choice([0, 0, 1, 2])):  # a typo or two
        at = rng.randrange(len(text) + 1)
        typo = rng.choice(["", " ", "\n", ":", "-", "#", "'", '"', "[", "}", ","])
        text = text[:at] + typo + text[at + 1 :]
    return text


def test_random_documents() -> None:
    rng = random.Random(2026)
    taken = sum(_agrees(_random_document(rng)) for _ in range(1500))
    assert taken > 100


_HEAD = """\
# Province 04 of the synthetic national benchmark inventory (all invented).
sites:
  "04":
    name: "Trung tâm Dữ liệu tỉnh 04"
    level: province
    coordinates: {lat: 9.3161, lon: 105.7892, approximate: true}
    terrain: urban
  "041":
    name: "Huyện 041"
    level: district
    parent: "04"
    coordinates: {lat: 9.7665, lon: 105.5567, approximate: true}
    terrain: coastal
    rooms: 2
"""
_COMMUNE = """\
  "{code}":
    name: "Xã {code}"
    level: commune
    parent: "041"
    coordinates: {{lat: 9.{lat}, lon: 105.5{lon}, approximate: true}}
    terrain: coastal{extra}
"""
_LINK = """\
  041-{code}:
    site: "{code}"
    to: "041"
    capacity: 8M
    latency: 2ms
"""
_BACKUP = """\
  dc-{code}-backup:
    site: "{code}"
    to: "04"
    medium: 4g
    role: backup
    capacity: {{up: 2M, down: 8M}}
    latency: 40ms
    upgrades:
      - {{name: fibre-10M, medium: fibre, capacity: 10M, monthly_cost: 1500000, lead_time: 45d}}
"""
_DEVICE = """\
devices:
  r-041:
    site: "041"
    address: 198.18.2.140
    interfaces:
"""


def _national_style(sites: int, extra: str = "") -> str:
    """A province file as bench/national.py writes them (see bench/out/national/p04.yaml)."""
    codes = [f"{n:05d}" for n in range(600, 600 + sites)]
    middle = codes[len(codes) // 2]
    out = [_HEAD]
    out += [
        _COMMUNE.format(code=c, lat=c[1:], lon=c[2:], extra=extra if c == middle else "")
        for c in codes
    ]
    out.append("links:\n")
    for n, code in enumerate(codes):
        out.append(_LINK.format(code=code) + (_BACKUP.format(code=code) if n % 7 == 0 else ""))
    out.append(_DEVICE)
    out += [f"      - {{link: 041-{c}, ifName: c-{c}}}\n" for c in codes]
    return "".join(out)


def test_a_national_style_file_takes_the_fast_path(tmp_path: Path) -> None:
    text = _national_style(200)
    assert len(text.encode()) >= FAST_MIN_BYTES
    assert _agrees(text)
    path = tmp_path / "p04.yaml"
    path.write_text(text, encoding="utf-8")
    doc = read_yaml(path)
    assert doc._lines is None  # no lines until one is needed
    assert doc.data == parse_yaml(text, "p04.yaml").data


def test_a_fast_document_finds_its_lines_in_the_builders_data(tmp_path: Path) -> None:
    path = tmp_path / "p04.yaml"
    text = _national_style(200)
    path.write_text(text, encoding="utf-8")
    fast, built = read_yaml(path), parse_yaml(text, str(path))
    paths: list[tuple[Any, ...]] = [
        (),
        ("sites", "00700", "coordinates", "lat"),
        ("sites", "00700", "nope"),
        ("links", "dc-00700-backup", "upgrades", 0, "lead_time"),
        ("devices", "r-041", "interfaces", 150, "ifName"),
        ("devices", "r-041", "interfaces", 999),
    ]
    for where in paths:
        assert fast.line(where) == built.line(where) > 0
    lat = "    coordinates: {lat: 9.0700, lon: 105.5700, approximate: true}"
    assert fast.line(("sites", "00700", "coordinates", "lat")) == text.splitlines().index(lat) + 1


def test_a_schema_error_in_a_fast_parsed_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p04.yaml"
    text = _national_style(200, extra="\n    terain: hills")
    path.write_text(text, encoding="utf-8")
    doc = read_yaml(path)
    assert doc._lines is None
    problems = [str(p) for p in check_schema(doc, inventory_schema())]
    line = text.splitlines().index("    terain: hills") + 1
    assert problems == [
        f"{path}:{line}: sites.00700.terain: unknown key 'terain' (did you mean 'terrain'?)"
    ]


def test_a_fast_document_is_cached_without_lines(tmp_path: Path) -> None:
    path = tmp_path / "p04.yaml"
    path.write_text(_national_style(200), encoding="utf-8")
    first = read_yaml(path)
    second = read_yaml(path)  # from the cache (see conftest)
    assert second.data == first.data and second.data is not first.data
    assert second._lines is None
    where = ("links", "041-00650", "latency")
    assert second.line(where) == first.line(where) > 1


def test_broken_yaml_gets_the_builders_error_and_nothing_on_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p04.yaml"
    text = _national_style(200) + "oops: [1, 2\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        read_yaml(path)
    assert caught.value.problems[0].line == len(text.splitlines()) + 1
    assert capfd.readouterr().err == ""
