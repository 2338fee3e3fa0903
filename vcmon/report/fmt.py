"""Numbers, money, durations and dates for people, per language (Babel's CLDR data).

Only the report's HTML goes through here: CSV and JSON keep base units.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime

from babel import Locale
from babel.dates import format_datetime, get_timezone
from babel.numbers import format_currency

LOCALES = {"vi": "vi_VN", "en": "en_GB"}
# Province time: reports are read in Vietnam whatever the server's zone.
TIMEZONE = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True, slots=True)
class Formatter:
    """Formats for one language.

    >>> vi, en = Formatter("vi"), Formatter("en")
    >>> vi.rate(1_440_000), en.rate(1_440_000), vi.ratio(0.8532), en.number(12345)
    ('1,44 Mb/s', '1.44 Mb/s', '85,3%', '12,345')
    >>> vi.money(8_000_000, "VND"), vi.seconds(0.0123), en.days(30 * 86400)
    ('8.000.000\\xa0₫', '12,3 ms', '30')
    """

    lang: str

    @property
    def locale(self) -> str:
        return LOCALES[self.lang]

    def number(self, value: float, digits: int = 0) -> str:
        """Grouped, at most `digits` decimals (trailing zeros dropped), CLDR symbols.

        Python formats, Babel gives the symbols: Babel's own pattern engine is ~20x slower,
        which matters for 11,000-site reports; both languages group by thousands.
        """
        text = f"{value:,.{digits}f}"
        if digits:
            text = text.rstrip("0").rstrip(".")
        group, decimal = _symbols(self.locale)
        return text.translate({ord(","): group, ord("."): decimal})

    def ratio(self, value: float | None) -> str:
        if value is None or math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞"
        group, decimal = _symbols(self.locale)
        return f"{value * 100:,.1f}%".translate({ord(","): group, ord("."): decimal})

    def rate(self, bps: float | None) -> str:
        if bps is None:
            return "–"
        for factor, unit in ((1e9, "Gb/s"), (1e6, "Mb/s"), (1e3, "kb/s")):
            if abs(bps) >= factor:
                return f"{self.number(bps / factor, 2)} {unit}"
        return f"{self.number(bps)} b/s"

    def seconds(self, value: float | None) -> str:
        """Path delays in milliseconds, the unit people quote them in."""
        if value is None:
            return "–"
        return f"{self.number(value * 1000, 1)} ms"

    def days(self, seconds: float) -> str:
        return self.number(seconds / 86400, 1)

    def money(self, amount: float, currency: str) -> str:
        return format_currency(amount, currency, locale=self.locale, format_type="standard")

    def datetime(self, when: datetime) -> str:
        return format_datetime(when, "medium", tzinfo=get_timezone(TIMEZONE), locale=self.locale)


@functools.cache
def _symbols(locale: str) -> tuple[str, str]:
    """(group, decimal) separators of a locale, from CLDR.

    >>> _symbols("vi_VN"), _symbols("en_GB")
    (('.', ','), (',', '.'))
    """
    symbols = Locale.parse(locale).number_symbols["latn"]
    return symbols["group"], symbols["decimal"]
