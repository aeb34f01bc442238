"""The expression value model: the error type, type coercion and JavaScript-compatible text forms.

Expression values are plain JSON values (``None``, ``bool``, ``int``, ``float``, ``str``, ``list``,
``dict``). Functions declare what they want (string, number, boolean) and the arguments are
coerced the way Altinn's two implementations agree on:

* string: numbers are written the way JavaScript writes them (``1.0`` -> ``"1"``), booleans as
  ``"true"``/``"false"``, and the strings ``"true"``, ``"false"`` and ``"null"`` are folded to
  lower case, with ``"null"`` meaning null. That makes ``equals`` case-insensitive for exactly
  those three words.
* number: numbers, and strings in decimal or scientific notation (``"-5.5"``, ``".5e2"``); a
  boolean is an error.
* boolean: booleans, ``"true"``/``"false"``, and ``0``/``1`` as numbers or numeric strings;
  null is false, anything else is an error.

The string ``"null"`` counts as null for every coercion.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

Number = int | float


class ExpressionError(ValueError):
    """An expression is malformed, or evaluating it failed.

    ``path`` points at the failing sub-expression, as JSON-array indexes from the root
    (``"[2][1]"``); it is empty when the root itself failed.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        if self.path:
            return f"{self.message} (at expression{self.path})"
        return self.message


_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")


def type_name(value: Any) -> str:
    """The expression type name of a value, as used in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def describe(value: Any) -> str:
    """A value as it appears in error messages: strings quoted, everything else as JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(value)


def format_number(value: Number) -> str:
    """Write a number the way JavaScript's ``String(number)`` does (``1.0`` -> ``"1"``, ``1e-7``)."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) <= 2**53:
        return str(int(value))
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k  # value = 0.digits * 10**n
    prefix = "-" if sign else ""
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        body = "0." + "0" * -n + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        body = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return prefix + body


def parse_number_text(text: str) -> Number | None:
    """Parse a number written as text, or None when the text is not a number."""
    if not _NUMBER_RE.fullmatch(text):
        return None
    if _INTEGER_RE.fullmatch(text) and len(text) <= 40:
        return int(text)
    number = float(text)
    if math.isinf(number):
        raise ExpressionError(f"Number out of range: {describe(text)}")
    return number


def to_string(value: Any) -> str | None:
    """Coerce a value for a string parameter (null stays null)."""
    if value is None:
        return None
    if isinstance(value, str):
        lowered = value.lower()
        if lowered == "null":
            return None
        if lowered in ("true", "false"):
            return lowered
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    raise ExpressionError(f"Expected string, got value {describe(value)}")


def to_number(value: Any) -> Number | None:
    """Coerce a value for a number parameter (null stays null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ExpressionError(f"Expected number, got value {describe(value)}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        if value == "null":
            return None
        number = parse_number_text(value)
        if number is not None:
            return number
    raise ExpressionError(f"Expected number, got value {describe(value)}")


def to_boolean(value: Any) -> bool:
    """Coerce a value for a boolean parameter; null is false."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value == "true":
            return True
        if value in ("false", "null"):
            return False
        number = parse_number_text(value)
    elif isinstance(value, int | float):
        number = value
    else:
        number = None
    if number == 1:
        return True
    if number == 0:
        return False
    raise ExpressionError(f"Expected boolean, got value {describe(value)}")


def to_display_string(value: Any) -> str:
    """A value as text for people (text resource variables): no case folding, JSON for structures."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def to_decimal(value: Number) -> Decimal:
    """An exact decimal for a number, from its shortest text form (``0.1`` -> ``Decimal("0.1")``)."""
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(value))


def from_decimal(value: Decimal) -> Number:
    """A JSON number for a decimal result: an ``int`` when it is whole and exactly representable."""
    if value == value.to_integral_value() and abs(value) <= 2**53:
        return int(value)
    number = float(value)
    if math.isinf(number):
        raise ExpressionError("Result is out of range")
    return number


# JavaScript (and .NET) index strings by UTF-16 code units; Python by code points. The two agree
# unless a string holds characters outside the Basic Multilingual Plane (most emoji).


def _is_bmp(text: str) -> bool:
    return text.isascii() or max(text) <= "\uffff"


def utf16_length(text: str) -> int:
    if _is_bmp(text):
        return len(text)
    return len(text) + sum(1 for ch in text if ch > "\uffff")


def utf16_index_of(text: str, search: str) -> int:
    if _is_bmp(text) and _is_bmp(search):
        return text.find(search)
    haystack = text.encode("utf-16-le")
    needle = search.encode("utf-16-le")
    start = 0
    while True:
        found = haystack.find(needle, start)
        if found < 0 or found % 2 == 0:
            return found if found < 0 else found // 2
        start = found + 1


def utf16_slice(text: str, start: int, end: int | None) -> str:
    """``text.slice(start, end)`` with JavaScript semantics (negative indexes count from the end)."""
    if _is_bmp(text):
        return text[start:end]
    units = text.encode("utf-16-le")
    first, last, _ = slice(start, end).indices(len(units) // 2)
    if last <= first:
        return ""
    # A cut through a surrogate pair leaves half a character; it becomes U+FFFD.
    return units[2 * first : 2 * last].decode("utf-16-le", errors="replace")
