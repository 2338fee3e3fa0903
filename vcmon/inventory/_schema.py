"""JSON Schema validation whose errors read as `FILE:LINE: path: message` for people.

Two validators, one schema: fastjsonschema compiles the schema to Python and answers "is it
valid?" about 20x faster than jsonschema on a national inventory (jsonschema builds a
validator object per instance node and resolves every `$ref` anew: ~18 s for 5 MB here);
only when the answer is no does jsonschema run to list every error with its path.

jsonschema's own messages ("Additional properties are not allowed ('sitee' was
unexpected)") name neither the line nor the fix. Each keyword gets a sentence here; a schema
may also carry `x-message` (a `str.format` template with `{value!r}`) on any subschema to say
what a valid value looks like, e.g. "'10X' is not a positive bit rate (examples: 10M ...)".
Schemas that hold secrets must give an `x-message` without `{value}`, so no secret is echoed.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcmon.errors import Problem
from vcmon.inventory import _cache
from vcmon.inventory._yaml import Document, Key

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_JSON_TYPES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    type(None): "nothing (null)",
}

_OWN_WORDS = frozenset(
    {"required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength"}
)

_Fast = Callable[[Any], Any]


class _Checker:
    """Both validators of one schema, built only when needed.

    Building them costs more than validating a small file (jsonschema checks the schema
    against its metaschema, fastjsonschema generates and compiles code: ~0.4 s together),
    and a document already known to pass needs neither; nor does importing them.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self.digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()

    @cached_property
    def full(self) -> Draft202012Validator:
        from jsonschema import Draft202012Validator  # lazy: see the class doc

        Draft202012Validator.check_schema(self.schema)
        # No format_checker: formats are annotations in 2020-12, and checking them costs.
        return Draft202012Validator(self.schema)

    @cached_property
    def fast(self) -> _Fast | None:
        import fastjsonschema  # lazy: see the class doc

        try:
            # Formats off for the same reason; fastjsonschema knows drafts 4-7 only, so a
            # schema using newer keywords simply goes without the fast path.
            validate: _Fast = fastjsonschema.compile(dict(self.schema), use_formats=False)
        except Exception:  # any failure to compile only loses the fast path
            return None
        return validate

    @cached_property
    def verdict_key(self) -> str:
        """Digest of the schema and of both validators' code, for the validity cache.

        The validators are identified by their modules' files, not imported, and not by
        importlib.metadata (0.1 s to import): an unchanged document needs neither.
        """
        digest = hashlib.sha256(self.digest.encode())
        for package in ("jsonschema", "fastjsonschema"):
            spec = importlib.util.find_spec(package)
            for where in (spec.submodule_search_locations or []) if spec else []:
                for module in sorted(Path(where).glob("*.py")):
                    digest.update(module.name.encode() + b"\0" + module.read_bytes())
        return digest.hexdigest()

    def is_valid_fast(self, data: Any) -> bool | None:
        """True/False from the fast validator, None when there is none."""
        if self.fast is None:
            return None
        try:
            self.fast(data)
        except Exception:  # fastjsonschema's JsonSchemaValueException, imported lazily
            return False
        return True


# One checker per schema object per process.
_checkers: dict[int, tuple[Mapping[str, Any], _Checker]] = {}


def _checker(schema: Mapping[str, Any]) -> _Checker:
    cached = _checkers.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    checker = _Checker(schema)
    _checkers[id(schema)] = (schema, checker)
    return checker


def check_schema(doc: Document, schema: Mapping[str, Any]) -> list[Problem]:
    """Every way `doc` breaks `schema` (JSON Schema 2020-12), as Problems with lines.

    >>> from vcmon.inventory._yaml import parse_yaml
    >>> schema = {"type": "object", "additionalProperties": False,
    ...           "properties": {"count": {"type": "integer", "maximum": 10}}}
    >>> for p in check_schema(parse_yaml("cuont: 3\\n", "m.yaml"), schema): print(p)
    m.yaml:1: cuont: unknown key 'cuont' (did you mean 'count'?)
    >>> for p in check_schema(parse_yaml("count: 30\\n", "m.yaml"), schema): print(p)
    m.yaml:1: count: must be at most 10 (got 30)
    """
    checker = _checker(schema)
    if doc.digest and _cache.known_valid(doc.digest, checker.verdict_key):
        return []
    if checker.is_valid_fast(doc.data):
        if doc.digest:
            _cache.remember_valid(doc.digest, checker.verdict_key)
        return []
    problems: list[Problem] = []
    for error in checker.full.iter_errors(doc.data):
        problems.extend(_translate(doc, error))
    if not problems and doc.digest:
        _cache.remember_valid(doc.digest, checker.verdict_key)
    return _without_echoes(problems)


def _without_echoes(problems: list[Problem]) -> list[Problem]:
    """Drop "missing required key 'to'" where "unknown key 'too' (did you mean 'to'?)" says it."""
    hinted = {
        (p.file, p.path.rpartition(".")[0], p.message.rpartition("(did you mean ")[2])
        for p in problems
        if p.message.startswith("unknown key ")
    }
    return [
        p
        for p in problems
        if not p.message.startswith("missing required key ")
        or (p.file, p.path, p.message.removeprefix("missing required key ") + "?)") not in hinted
    ]


def _translate(doc: Document, error: ValidationError) -> Iterable[Problem]:
    path: list[Key] = list(error.absolute_path)
    keyword, expected, value = error.validator, error.validator_value, error.instance
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword == "additionalProperties" and isinstance(value, dict):
        known = list(schema.get("properties", {}))
        for key in _extra_keys(value, schema):
            yield doc.problem([*path, key], f"unknown key '{key}'{did_you_mean(key, known)}")
        return
    if keyword == "propertyNames":
        # jsonschema reports a bad key at its mapping; point at the key itself.
        path.append(str(value))
    elif keyword in ("oneOf", "anyOf") and "x-message" not in schema and error.context:
        from jsonschema.exceptions import best_match  # lazy, as jsonschema

        yield from _translate(doc, best_match(error.context))
        return
    yield doc.problem(path, _message(keyword, expected, value, schema, error))


def _message(
    keyword: Any, expected: Any, value: Any, schema: Mapping[str, Any], error: ValidationError
) -> str:
    template = schema.get("x-message")
    # x-message says what a valid value looks like; range and presence speak for themselves.
    if isinstance(template, str) and keyword not in _OWN_WORDS:
        return template.format(value=value)
    if keyword == "required":
        missing = [k for k in expected if isinstance(value, dict) and k not in value]
        return f"missing required key '{missing[0] if missing else expected[0]}'"
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        return f"expected {' or '.join(types)}, got {_json_type(value)} {value!r}"
    if keyword == "enum":
        choices = ", ".join(str(c) for c in expected)
        hint = did_you_mean(str(value), [str(c) for c in expected])
        return f"{value!r} is not one of: {choices}{hint}"
    if keyword == "const":
        return f"must be {expected!r} (got {value!r})"
    if keyword == "minimum":
        return f"must be at least {expected} (got {value})"
    if keyword == "maximum":
        return f"must be at most {expected} (got {value})"
    if keyword == "exclusiveMinimum":
        return f"must be more than {expected} (got {value})"
    if keyword == "exclusiveMaximum":
        return f"must be less than {expected} (got {value})"
    if keyword == "minLength" and expected == 1:
        return "must not be empty"
    if keyword == "pattern":
        return f"{value!r} does not match the pattern {expected}"
    return str(error.message)


def _extra_keys(value: dict[Any, Any], schema: Mapping[str, Any]) -> list[Any]:
    props = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [k for k in value if k not in props and not any(p.search(str(k)) for p in patterns)]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint for a misspelt key, value or reference (case-insensitive), or nothing.

    >>> did_you_mean("sitee", ["site", "to"]), did_you_mean("4G", ["fibre", "4g"])
    (" (did you mean 'site'?)", " (did you mean '4g'?)")
    >>> did_you_mean("5300", ["51", "530", "536"]), did_you_mean("zzz", ["site"])
    (" (did you mean '530'?)", '')
    """
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{by_lower[close[0]]}'?)" if close else ""


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)
