"""Lab scenario files: what to inject (per-site delay/jitter/loss, per-link rate and
background load, timed events), validated with file:line errors like the inventory.

A scenario only names sites, links and devices of the inventory it is used with; those
cross-references are checked by `vcmon.lab.plan.build_plan`, which knows the inventory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from vcmon.errors import InventoryError, Problem
from vcmon.inventory._yaml import Document, Key, format_path, parse_yaml, read_yaml
from vcmon.units import parse_duration, parse_rate

_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


@dataclass(frozen=True, slots=True)
class Loss:
    """Echo loss: a deterministic pattern (drop `drop` of every `every`) or a random ratio.

    >>> parse_loss("2/10")
    Loss(ratio=0.2, drop=2, every=10)
    >>> parse_loss("1.5%"), parse_loss(0)
    (Loss(ratio=0.015, drop=0, every=0), Loss(ratio=0.0, drop=0, every=0))
    """

    ratio: float
    drop: int = 0
    every: int = 0
    """0: random with probability `ratio`; else exactly `drop` of every `every` echoes."""

    @property
    def deterministic(self) -> bool:
        return self.every > 0


NO_LOSS = Loss(0.0)


def parse_loss(text: str | int | float) -> Loss:
    """`2/10` (exactly 2 of every 10), `1%`, or a ratio 0..1."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a loss (examples: 2/10, 1%, 0.01)")
    if isinstance(text, int | float):
        if not 0 <= text <= 1:
            raise ValueError(f"{text!r} is not a ratio in 0..1 (write 1% or 0.01)")
        return Loss(float(text))
    if m := _PATTERN.match(text):
        drop, every = int(m[1]), int(m[2])
        if every == 0 or drop > every:
            raise ValueError(f"{text!r}: need 0 <= drop <= every and every > 0")
        return Loss(drop / every, drop, every)
    if m := _PERCENT.match(text):
        ratio = float(m[1]) / 100
        if ratio > 1:
            raise ValueError(f"{text!r} is above 100%")
        return Loss(ratio)
    raise ValueError(f"{text!r} is not a loss (examples: 2/10, 1%, 0.01)")


@dataclass(frozen=True, slots=True)
class SiteImpairment:
    """Added round-trip delay, jitter (expected mean |RTT(i) - RTT(i-1)|) and loss."""

    delay_s: float | None = None
    """None: the inventory's path latency, twice (a round trip)."""
    jitter_s: float = 0.0
    loss: Loss = NO_LOSS


@dataclass(frozen=True, slots=True)
class LinkSetting:
    up_bps: float | None = None
    down_bps: float | None = None
    background_up_bps: float = 0.0
    background_down_bps: float = 0.0
    delay_s: float = 0.0
    """Round-trip time the link adds for every site whose path crosses it."""


class Action(StrEnum):
    LINK_DOWN = "link_down"
    LINK_UP = "link_up"
    AGENT_DOWN = "agent_down"
    AGENT_UP = "agent_up"
    REBOOT = "reboot"
    RATE = "rate"
    LOSS_BURST = "loss_burst"


@dataclass(frozen=True, slots=True)
class Event:
    at_s: float
    """Seconds after the lab came up."""
    action: Action
    target: str
    """A link id, device name or site code, as the action needs."""
    line: int = 0
    up_bps: float | None = None
    down_bps: float | None = None
    loss: Loss | None = None
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Flat:
    """Flat mode: many /32 ping targets on one namespace's lo, for benchmarks."""

    targets: int
    delay_s: float = 0.0
    jitter_s: float = 0.0
    loss: Loss = NO_LOSS


@dataclass(frozen=True, slots=True)
class Scenario:
    source: str = "<defaults>"
    seed: int = 0
    site_default: SiteImpairment = SiteImpairment()
    sites: dict[str, SiteImpairment] = field(default_factory=dict)
    links: dict[str, LinkSetting] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    commune_agents: bool = True
    flat: Flat | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    """Line of each key path (`sites.21010`), for cross-reference errors."""

    def line(self, path: str) -> int:
        return self.lines.get(path, 0)


_ACTION_TARGET = {
    Action.LINK_DOWN: "link",
    Action.LINK_UP: "link",
    Action.RATE: "link",
    Action.AGENT_DOWN: "device",
    Action.AGENT_UP: "device",
    Action.REBOOT: "device",
    Action.LOSS_BURST: "site",
}


def _lines(doc: Document, data: Any, path: list[Key], out: dict[str, int]) -> None:
    """Line of every dotted path (`sites.21010.delay`), for errors found after validation."""
    out[format_path(path)] = doc.line(path)
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        _lines(doc, value, [*path, key], out)


def _schema() -> dict[str, Any]:
    text = resources.files("vcmon.lab").joinpath("scenario.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; every mistake is reported with file:line."""
    return _scenario(read_yaml(path))


def parse_scenario(text: str, file: str = "<scenario>") -> Scenario:
    """Parse scenario YAML text.

    >>> s = parse_scenario("version: 1\\nsites: {'21010': {delay: 20ms, loss: 2/10}}\\n")
    >>> s.sites["21010"].delay_s, s.sites["21010"].loss.drop
    (0.02, 2)
    >>> bad = "version: 1\\nsites: {'21010': {delay: soon}}\\n"
    >>> parse_scenario(bad, "s.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vcmon.errors.InventoryError: s.yaml:2: sites.21010.delay: 'soon' is not a duration ...
    """
    return _scenario(parse_yaml(text, file))


def _scenario(doc: Document) -> Scenario:
    # The inventory's line-aware YAML reader: same error style, duplicate keys caught.
    file, data = doc.file, doc.data
    lines: dict[str, int] = {}
    _lines(doc, data, [], lines)
    problems: list[Problem] = []

    def problem(where: str, message: str) -> None:
        problems.append(Problem(file, lines.get(where, 0), where, message))

    if not isinstance(data, dict):
        raise InventoryError.single(file, 1, "", "a scenario is a mapping with `version: 1`")
    validator = jsonschema.Draft202012Validator(_schema())
    for err in validator.iter_errors(data):
        problem(format_path(list(err.absolute_path)), err.message)
    if problems:
        raise InventoryError(problems)

    def conv(where: str, value: Any, fn: Any) -> Any:
        try:
            return fn(value)
        except ValueError as exc:
            problem(where, str(exc))
            return None

    def site(where: str, raw: dict[str, Any], base: SiteImpairment) -> SiteImpairment:
        delay = conv(f"{where}.delay", raw["delay"], parse_duration) if "delay" in raw else None
        jitter = conv(f"{where}.jitter", raw.get("jitter", 0), parse_duration)
        loss = conv(f"{where}.loss", raw["loss"], parse_loss) if "loss" in raw else None
        return SiteImpairment(
            delay if delay is not None else base.delay_s,
            jitter if "jitter" in raw and jitter is not None else base.jitter_s,
            loss if loss is not None else base.loss,
        )

    def updown(where: str, raw: Any) -> tuple[float | None, float | None]:
        if isinstance(raw, dict):
            up = conv(f"{where}.up", raw["up"], parse_rate) if "up" in raw else None
            down = conv(f"{where}.down", raw["down"], parse_rate) if "down" in raw else None
            return up, down
        both = conv(where, raw, parse_rate)
        return both, both

    default = site("defaults.site", data.get("defaults", {}).get("site", {}), SiteImpairment())
    sites = {
        str(code): site(f"sites.{code}", raw, default)
        for code, raw in (data.get("sites") or {}).items()
    }
    links: dict[str, LinkSetting] = {}
    for lid, raw in (data.get("links") or {}).items():
        up, down = updown(f"links.{lid}.rate", raw["rate"]) if "rate" in raw else (None, None)
        bg_up, bg_down = (
            updown(f"links.{lid}.background", raw["background"])
            if "background" in raw
            else (0.0, 0.0)
        )
        delay = conv(f"links.{lid}.delay", raw["delay"], parse_duration) if "delay" in raw else 0
        links[str(lid)] = LinkSetting(up, down, bg_up or 0.0, bg_down or 0.0, delay or 0.0)
    events: list[Event] = []
    for i, raw in enumerate(data.get("events") or []):
        where = f"events[{i}]"
        action = Action(raw["action"])
        key = _ACTION_TARGET[action]
        if key not in raw:
            problem(where, f"action {action.value} needs `{key}`")
            continue
        at = conv(f"{where}.at", raw["at"], parse_duration)
        up = down = None
        if action is Action.RATE:
            if "rate" not in raw:
                problem(where, "action rate needs `rate`")
                continue
            up, down = updown(f"{where}.rate", raw["rate"])
        loss = None
        if action is Action.LOSS_BURST:
            if "loss" not in raw or "duration" not in raw:
                problem(where, "action loss_burst needs `loss` and `duration`")
                continue
            loss = conv(f"{where}.loss", raw["loss"], parse_loss)
        duration = conv(f"{where}.duration", raw.get("duration", 0), parse_duration)
        events.append(
            Event(
                at or 0.0,
                action,
                str(raw[key]),
                lines.get(where, 0),
                up,
                down,
                loss,
                duration or 0.0,
            )
        )
    flat = None
    if "flat" in data:
        raw = data["flat"]
        imp = site("flat", raw, SiteImpairment(0.0))
        flat = Flat(raw["targets"], imp.delay_s or 0.0, imp.jitter_s, imp.loss)
    if problems:
        raise InventoryError(problems)
    return Scenario(
        source=file,
        seed=int(data.get("seed", 0)),
        site_default=default,
        sites=sites,
        links=links,
        events=tuple(sorted(events, key=lambda e: e.at_s)),
        commune_agents=bool(data.get("agents", {}).get("communes", True)),
        flat=flat,
        lines=lines,
    )
