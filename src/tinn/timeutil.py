"""UTC time, and the ISO-8601 text form Altinn writes (``2019-12-05T13:24:34.9196661Z``)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(value: datetime) -> str:
    """UTC ISO text with trailing fractional zeros trimmed, as .NET writes it."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_iso(text: str) -> datetime:
    """Parse ISO-8601; a value without an offset is taken as UTC (as Altinn does)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # .NET writes up to 7 fractional digits; Python takes at most 6.
    if "." in value:
        head, _, tail = value.partition(".")
        digits = ""
        rest = ""
        for i, ch in enumerate(tail):
            if not ch.isdigit():
                rest = tail[i:]
                break
            digits += ch
        value = f"{head}.{digits[:6]}{rest}" if digits else head + rest
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
