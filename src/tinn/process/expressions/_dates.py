"""Dates in expressions: parsing the accepted text forms, and formatting with Unicode (LDML) patterns.

Accepted: ``yyyy-MM-dd``, optionally followed by ``T``/``t``/space and ``HH:mm``, ``HH:mm:ss`` or
``HH:mm:ss.f`` (1-9 fraction digits), optionally followed by ``Z``/``z`` or ``+HH:mm``/``-HH:mm``.
Anything else is an "Unknown format"; a recognised form with an impossible value (February 30th,
second 60, offset 24:00) is "recognized, but invalid".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from tinn.process.expressions._values import ExpressionError

_DATE_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)


@lru_cache(maxsize=4096)
def parse_date(text: str) -> tuple[datetime, bool]:
    """Parse a date or timestamp; returns the value and whether the text carried a time zone.

    A value with a time zone is an aware ``datetime``; one without is naive (local time of
    whoever wrote it).
    """
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise ExpressionError(f'Unable to parse date "{text}": Unknown format')
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        tz: timezone | None = None
        if offset is not None:
            if offset in ("Z", "z"):
                tz = UTC
            else:
                offset_hours, offset_minutes = int(offset[1:3]), int(offset[4:6])
                if offset_hours > 23 or offset_minutes > 59:
                    raise ValueError("offset out of range")
                delta = timedelta(hours=offset_hours, minutes=offset_minutes)
                tz = timezone(-delta if offset[0] == "-" else delta)
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "").ljust(6, "0")[:6]),
            tzinfo=tz,
        )
    except ValueError:
        raise ExpressionError(
            f'Unable to parse date "{text}": Format was recognized, but the date/time is invalid'
        ) from None
    return value, tz is not None


class _Locale:
    def __init__(
        self,
        *,
        months: tuple[str, ...],
        months_short: tuple[str, ...],
        days: tuple[str, ...],
        days_short: tuple[str, ...],
        era: tuple[str, str, str],
        day_periods: tuple[str, str],
        default_pattern: str,
    ) -> None:
        self.months = months
        self.months_short = months_short
        self.days = days  # Sunday first
        self.days_short = days_short
        self.era = era  # abbreviated, wide, narrow
        self.day_periods = day_periods
        self.default_pattern = default_pattern


_NB_MONTHS = (
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
)
_NB_MONTHS_SHORT = ("jan", "feb", "mar", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "des")

_EN = _Locale(
    months=(
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    months_short=("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    days=("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"),
    days_short=("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"),
    era=("AD", "Anno Domini", "A"),
    day_periods=("AM", "PM"),
    default_pattern="M/d/yy",
)
_NB = _Locale(
    months=_NB_MONTHS,
    months_short=_NB_MONTHS_SHORT,
    days=("søndag", "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag"),
    days_short=("søn", "man", "tir", "ons", "tor", "fre", "lør"),
    era=("e.Kr.", "etter Kristus", "e.Kr."),
    day_periods=("a.m.", "p.m."),
    default_pattern="dd.MM.yyyy",
)
_NN = _Locale(
    months=_NB_MONTHS,
    months_short=_NB_MONTHS_SHORT,
    days=("sundag", "måndag", "tysdag", "onsdag", "torsdag", "fredag", "laurdag"),
    days_short=("sun", "mån", "tys", "ons", "tor", "fre", "lau"),
    era=("e.Kr.", "etter Kristus", "e.Kr."),
    day_periods=("a.m.", "p.m."),
    default_pattern="dd.MM.yyyy",
)
_LOCALES = {"nb": _NB, "no": _NB, "nn": _NN, "en": _EN}

_PATTERN_LETTERS = frozenset("GyuMLdEahHKkmsS")

Token = tuple[str, int] | str  # (pattern letter, run length) or literal text


@lru_cache(maxsize=512)
def _tokenize(pattern: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    literal: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            # 'text' is literal; '' is a single quote, inside or outside quoted text.
            if pattern.startswith("''", i):
                literal.append("'")
                i += 2
                continue
            i += 1
            while i < len(pattern):
                if pattern.startswith("''", i):
                    literal.append("'")
                    i += 2
                elif pattern[i] == "'":
                    i += 1
                    break
                else:
                    literal.append(pattern[i])
                    i += 1
            continue
        j = i
        while j < len(pattern) and pattern[j] == ch:
            j += 1
        if ch in _PATTERN_LETTERS:
            if literal:
                tokens.append("".join(literal))
                literal = []
            tokens.append((ch, j - i))
        else:
            literal.append(pattern[i:j])
        i = j
    if literal:
        tokens.append("".join(literal))
    return tuple(tokens)


def _field(value: datetime, letter: str, width: int, loc: _Locale) -> str:
    if letter == "G":
        return loc.era[0] if width <= 3 else loc.era[1] if width == 4 else loc.era[2]
    if letter == "y":
        if width == 2:
            return f"{value.year % 100:02d}"
        return str(value.year).zfill(width)
    if letter == "u":
        return str(value.year).zfill(width)
    if letter in ("M", "L"):
        if width <= 2:
            return str(value.month).zfill(width)
        if width == 3:
            return loc.months_short[value.month - 1]
        name = loc.months[value.month - 1]
        return name if width == 4 else name[0].upper()
    if letter == "d":
        return str(value.day).zfill(width)
    if letter == "E":
        weekday = (value.weekday() + 1) % 7
        if width == 4:
            return loc.days[weekday]
        if width == 5:
            return loc.days[weekday][0].upper()
        return loc.days_short[weekday]
    if letter == "a":
        return loc.day_periods[0 if value.hour < 12 else 1]
    if letter == "h":
        return str(value.hour % 12 or 12).zfill(width)
    if letter == "H":
        return str(value.hour).zfill(width)
    if letter == "K":
        return str(value.hour % 12).zfill(width)
    if letter == "k":
        return str(value.hour or 24).zfill(width)
    if letter == "m":
        return str(value.minute).zfill(width)
    if letter == "s":
        return str(value.second).zfill(width)
    # S: fractional seconds, truncated to the requested number of digits.
    return f"{value.microsecond:06d}".ljust(width, "0")[:width]


def format_date(value: datetime, pattern: str | None, language: str | None) -> str:
    """Format with an LDML pattern (``dd.MM.yyyy HH:mm``); ``'quoted'`` text is literal.

    Without a pattern, the language's short date is used (``dd.MM.yyyy`` for Norwegian,
    ``M/d/yy`` otherwise). Names of months, days, eras and AM/PM follow the language (nb, nn,
    and English for everything else).
    """
    loc = _LOCALES.get(language or "nb", _EN)
    parts: list[str] = []
    for token in _tokenize(pattern or loc.default_pattern):
        if isinstance(token, str):
            parts.append(token)
        else:
            parts.append(_field(value, token[0], token[1], loc))
    return "".join(parts)
