"""Parse and format the human units operators write in YAML: `10M`, `1.5 Mbps`, `512k`, `30ms`.

Bit rates are decimal (1k = 1,000 b/s) as carriers and IF-MIB's ifHighSpeed use them.
"""

from __future__ import annotations

import functools
import re

_RATE = re.compile(
    r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<prefix>[kKmMgG]?)\s*(?P<unit>bps|b/s|bit/s|bits/s)?\s*$"
)
_PREFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}

_DURATION = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>us|ms|s|m|h|d|w)\s*$")
_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_rate(text: str | int | float) -> float:
    """Bits per second from `10M`, `1.5 Mbps`, `512k`, `2 Gb/s` or a plain number.

    >>> parse_rate("10M"), parse_rate("1.5 Mbps"), parse_rate("512k"), parse_rate(64000)
    (10000000.0, 1500000.0, 512000.0, 64000.0)
    >>> parse_rate("10 MB")
    Traceback (most recent call last):
    ...
    ValueError: '10 MB' is not a bit rate (examples: 10M, 1.5 Mbps, 512k)
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a bit rate (examples: 10M, 1.5 Mbps, 512k)")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"{text!r} is negative")
        return float(text)
    return _rate_text(text)


# An inventory repeats a few spellings ('10M', '4M') thousands of times: parse each once.
@functools.lru_cache(maxsize=4096)
def _rate_text(text: str) -> float:
    m = _RATE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a bit rate (examples: 10M, 1.5 Mbps, 512k)")
    return float(m["num"]) * _PREFIX[m["prefix"].lower()]


def parse_duration(text: str | int | float) -> float:
    """Seconds from `30ms`, `5m`, `2h`, `45d` or a plain number of seconds.

    >>> parse_duration("30ms"), parse_duration("5m"), parse_duration("45d"), parse_duration(2)
    (0.03, 300.0, 3888000.0, 2.0)
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration (examples: 30ms, 5m, 45d)")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"{text!r} is negative")
        return float(text)
    return _duration_text(text)


@functools.lru_cache(maxsize=4096)
def _duration_text(text: str) -> float:
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration (examples: 30ms, 5m, 45d)")
    return float(m["num"]) * _SECONDS[m["unit"]]


def format_rate(bps: float) -> str:
    """Short human form of a bit rate.

    >>> format_rate(1_500_000), format_rate(512_000), format_rate(100e6), format_rate(80)
    ('1.5 Mb/s', '512 kb/s', '100 Mb/s', '80 b/s')
    """
    for factor, unit in ((1e9, "Gb/s"), (1e6, "Mb/s"), (1e3, "kb/s")):
        if abs(bps) >= factor:
            return f"{bps / factor:.3g} {unit}"
    return f"{bps:.3g} b/s"


def format_duration(seconds: float) -> str:
    """
    >>> format_duration(0.0123), format_duration(0.00045)
    ('12.3 ms', '0.45 ms')
    >>> format_duration(90), format_duration(86400 * 30)
    ('90 s', '30 d')
    """
    if seconds >= 86400:
        return f"{seconds / 86400:.3g} d"
    if seconds >= 1:
        return f"{seconds:.3g} s"
    return f"{seconds * 1000:.3g} ms"
