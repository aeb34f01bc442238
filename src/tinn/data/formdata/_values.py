"""Scalar values of form data: parsing and formatting the way the generated C# model classes do.

Altinn's generated classes map the model's value types to a handful of .NET types; XmlSerializer
(XmlConvert) reads and writes them in XML and System.Text.Json (web defaults) in JSON. The rules
below reproduce those conversions for the types Studio generates.
"""

from __future__ import annotations

import datetime as _dt
import enum
import re
import uuid
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext
from typing import Any

Scalar = str | int | Decimal | float | bool


class ValueKind(enum.Enum):
    """The .NET type a model property has in the generated C# class."""

    STRING = "string"  # also xs:date, xs:time, xs:gYear, ... (Studio maps them to string)
    DATETIME = "dateTime"
    BOOLEAN = "boolean"
    SHORT = "short"
    INT = "int"
    LONG = "long"
    DECIMAL = "decimal"  # xs:decimal, xs:integer and its restrictions, JSON "number"/"integer"
    DOUBLE = "double"
    OBJECT = "object"

    @property
    def is_value_type(self) -> bool:
        """True for .NET value types (which XmlSerializer writes as xsi:nil when null)."""
        return self not in (ValueKind.STRING, ValueKind.OBJECT)

    @property
    def clr_name(self) -> str:
        return _CLR_NAMES[self]


_CLR_NAMES = {
    ValueKind.STRING: "System.String",
    ValueKind.DATETIME: "System.DateTime",
    ValueKind.BOOLEAN: "System.Boolean",
    ValueKind.SHORT: "System.Int16",
    ValueKind.INT: "System.Int32",
    ValueKind.LONG: "System.Int64",
    ValueKind.DECIMAL: "System.Decimal",
    ValueKind.DOUBLE: "System.Double",
    ValueKind.OBJECT: "System.Object",
}

_INT_RANGES = {
    ValueKind.SHORT: (-(2**15), 2**15 - 1, "an Int16"),
    ValueKind.INT: (-(2**31), 2**31 - 1, "an Int32"),
    ValueKind.LONG: (-(2**63), 2**63 - 1, "an Int64"),
}

# System.Decimal: a 96-bit integer scaled by 10^-0..10^-28.
_DECIMAL_MANTISSA_LIMIT = 2**96
_DECIMAL_MAX_SCALE = 28
_WIDE = Context(prec=120)

# Number literals longer than this are refused before any arithmetic (a 96-bit decimal has 29 digits).
MAX_NUMBER_LITERAL = 400

_XML_WS = " \t\n\r"
_XML_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_XML_INTEGER = re.compile(r"[+-]?[0-9]+")
_XML_DOUBLE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DATETIME = re.compile(
    r"(?P<year>-?[0-9]{4,})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?)?)?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?"
)
_EMPTY_GUID = "00000000-0000-0000-0000-000000000000"

# Characters that cannot appear in XML 1.0; Altinn replaces them with U+FFFD before storage.
_XML_INVALID = re.compile(
    "[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]"
    "|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]"
)


class ConversionError(ValueError):
    """A value that the .NET type cannot hold; the message is in .NET's words."""


def clean_xml_string(value: str) -> str:
    """Replace characters XML cannot carry (controls, lone surrogates, U+FFFE/FFFF) with U+FFFD."""
    return _XML_INVALID.sub("\ufffd", value)


def _format_error(text: str) -> ConversionError:
    return ConversionError(f"The input string '{text}' was not in a correct format.")


def to_clr_decimal(value: Decimal) -> Decimal:
    """Fit ``value`` into System.Decimal: refuse overflow, round beyond 28 places, plain notation."""
    if not value.is_finite():
        raise ConversionError("Value was either too large or too small for a Decimal.")
    with localcontext(_WIDE):
        if value.adjusted() >= 29 or abs(value) >= _DECIMAL_MANTISSA_LIMIT:
            raise ConversionError("Value was either too large or too small for a Decimal.")
        exponent = int(value.as_tuple().exponent)
        if exponent > 0:
            value = value.quantize(Decimal(1))
        elif exponent < -_DECIMAL_MAX_SCALE:
            value = value.quantize(Decimal(1).scaleb(-_DECIMAL_MAX_SCALE), rounding=ROUND_HALF_EVEN)
        while _coefficient(value) >= _DECIMAL_MANTISSA_LIMIT:
            value = value.quantize(Decimal(1).scaleb(int(value.as_tuple().exponent) + 1), ROUND_HALF_EVEN)
        if value.is_zero():
            value = value.copy_abs()
    return value


def _coefficient(value: Decimal) -> int:
    digits = value.as_tuple().digits
    return int("".join(map(str, digits))) if digits else 0


def _check_int(kind: ValueKind, value: int) -> int:
    low, high, article = _INT_RANGES[kind]
    if not low <= value <= high:
        raise ConversionError(f"Value was either too large or too small for {article}.")
    return value


def _finite_double(value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise ConversionError("Only finite numbers can be represented in form data.")
    return value


def normalise_datetime(text: str, *, json: bool) -> str:
    """Validate an ISO 8601 date-time and write it as .NET does (round-trip kind, trimmed fraction)."""
    match = _DATETIME.fullmatch(text)
    if match is None or (json and len(match["year"]) != 4):
        raise ConversionError(f"The string '{text}' is not a valid AllXsd value.")
    parts = match.groupdict()
    year, month, day = int(parts["year"]), int(parts["month"]), int(parts["day"])
    hour = int(parts["hour"] or 0)
    minute = int(parts["minute"] or 0)
    second = int(parts["second"] or 0)
    try:
        _dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise ConversionError(f"The string '{text}' is not a valid AllXsd value.") from None
    tz = parts["tz"] or ""
    if tz not in ("", "Z") and (int(tz[1:3]) > 14 or int(tz[4:6]) > 59):
        raise ConversionError(f"The string '{text}' is not a valid AllXsd value.")
    fraction = (parts["fraction"] or "")[:7].rstrip("0")
    result = f"{parts['year']}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if fraction:
        result += "." + fraction
    return result + tz


def normalise_guid(value: str) -> str | None:
    """Parse a GUID in any .NET-accepted layout; the empty GUID means 'no value'."""
    try:
        parsed = str(uuid.UUID(value.strip()))
    except ValueError:
        raise ConversionError("Unrecognized Guid format.") from None
    return None if parsed == _EMPTY_GUID else parsed


def parse_xml_value(kind: ValueKind, text: str) -> Scalar:
    """Convert element/attribute text to ``kind`` as XmlConvert does."""
    if kind is ValueKind.STRING:
        return text
    trimmed = text.strip(_XML_WS)
    if len(trimmed) > MAX_NUMBER_LITERAL and kind is not ValueKind.DATETIME:
        raise _format_error(trimmed[:40] + "...")
    if kind is ValueKind.BOOLEAN:
        if trimmed in ("true", "1"):
            return True
        if trimmed in ("false", "0"):
            return False
        raise ConversionError(f"The string '{text}' is not a valid Boolean value.")
    if kind in _INT_RANGES:
        if not _XML_INTEGER.fullmatch(trimmed):
            raise _format_error(text)
        return _check_int(kind, int(trimmed))
    if kind is ValueKind.DECIMAL:
        if not _XML_DECIMAL.fullmatch(trimmed):
            raise _format_error(text)
        return to_clr_decimal(Decimal(trimmed))
    if kind is ValueKind.DOUBLE:
        if trimmed in ("INF", "-INF", "NaN") or not _XML_DOUBLE.fullmatch(trimmed):
            raise _format_error(text)
        return _finite_double(float(trimmed))
    if kind is ValueKind.DATETIME:
        return normalise_datetime(trimmed, json=False)
    raise AssertionError(f"not a scalar kind: {kind}")


def format_xml_value(kind: ValueKind, value: Scalar) -> str:
    """Write a (coerced) value as XmlConvert.ToString does."""
    if kind is ValueKind.BOOLEAN:
        return "true" if value else "false"
    if kind is ValueKind.DECIMAL:
        assert isinstance(value, Decimal)
        return format(value, "f")
    if kind is ValueKind.DOUBLE:
        assert isinstance(value, float)
        return format_double(value)
    if kind is ValueKind.STRING:
        assert isinstance(value, str)
        return clean_xml_string(value)
    return str(value)


def format_double(value: float) -> str:
    """Shortest round-trip text, with .NET's exponent style (``1E+20``, ``1E-05``)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    digits = Decimal(repr(value))
    exponent = digits.adjusted()
    if -5 <= exponent < 15:
        return format(digits, "f")
    mantissa = digits.scaleb(-exponent).normalize()
    sign = "+" if exponent >= 0 else "-"
    return f"{format(mantissa, 'f')}E{sign}{abs(exponent):02d}"


def coerce_json_value(kind: ValueKind, value: Any) -> Scalar:
    """Convert a decoded JSON value to ``kind`` as System.Text.Json with web defaults does.

    Web defaults read numbers from JSON strings too; nothing else is converted (a number is not
    a string, a string ``"true"`` is not a boolean). Raises :class:`ConversionError` on mismatch.
    """
    if kind is ValueKind.STRING:
        if isinstance(value, str):
            return value
    elif kind is ValueKind.BOOLEAN:
        if isinstance(value, bool):
            return value
    elif kind is ValueKind.DATETIME:
        if isinstance(value, str):
            return normalise_datetime(value, json=True)
    elif isinstance(value, bool):
        pass
    elif kind in _INT_RANGES:
        if isinstance(value, str) and len(value) <= MAX_NUMBER_LITERAL and _JSON_INTEGER.fullmatch(value):
            value = int(value)
        if isinstance(value, int):
            return _check_int(kind, value)
    elif kind is ValueKind.DECIMAL:
        number = _json_number(value)
        if number is not None:
            return to_clr_decimal(number)
    elif kind is ValueKind.DOUBLE:
        number = _json_number(value)
        if number is not None:
            return _finite_double(float(number))
    raise ConversionError(f"The JSON value could not be converted to {kind.clr_name}.")


def _json_number(value: Any) -> Decimal | None:
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str) and len(value) <= MAX_NUMBER_LITERAL and _JSON_NUMBER.fullmatch(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern only admits valid literals
            return None
    return None


def convert_for_assignment(kind: ValueKind, value: Any) -> Scalar:
    """Convert a prefill value (usually a string) to ``kind`` as Newtonsoft's ``ToObject`` does."""
    if kind is ValueKind.STRING:
        if isinstance(value, bool):
            return "True" if value else "False"
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, str | int | float):
            return str(value)
    elif isinstance(value, str):
        if kind is ValueKind.BOOLEAN:
            lowered = value.strip().lower()
            if lowered in ("true", "false"):
                return lowered == "true"
        elif kind is ValueKind.DATETIME:
            return normalise_datetime(value.strip(), json=False)
        else:
            return parse_xml_value(kind, value)
    else:
        return coerce_json_value(kind, value)
    raise ConversionError(f"Could not convert '{value}' to {kind.clr_name}.")


def to_display_string(value: Any) -> str | None:
    """``object.ToString()`` of a model value, as used for presentation texts and data values.

    Lists and objects have no useful text and give ``None``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, list | dict):
        return None
    return str(value)
