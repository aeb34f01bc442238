"""Norwegian national identity numbers and organisation numbers.

National identity number (fødselsnummer, 11 digits ``DDMMYYIIIKK``): a birth date, a three-digit
individual number that also fixes the century, and two mod-11 check digits. Variants accepted:

* D-number (foreign nationals): 40 added to the day.
* Synthetic test numbers: 40 added to the month (NAV's Dolly test data; the same range as the old
  H-numbers) or 80 added to the month (Skatteetaten's Tenor test data). Real people never have them,
  which is why test registers use them; ``allow_synthetic=False`` rejects both.

Organisation number (9 digits): one mod-11 check digit with weights 3, 2, 7, 6, 5, 4, 3, 2.

The validators take any string and never raise on bad input except through the documented
:class:`InvalidIdentifierError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

_PID_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_PID_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ORG_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)

_ASCII_DIGITS = frozenset("0123456789")


class InvalidIdentifierError(ValueError):
    """A national identity number or organisation number that is not valid; the message says why."""


class NationalIdentityNumberKind(StrEnum):
    BIRTH_NUMBER = "birth-number"
    D_NUMBER = "d-number"


class SyntheticKind(StrEnum):
    """Which test-data convention a synthetic number follows."""

    NAV = "nav"  # month + 40
    TENOR = "tenor"  # month + 80


@dataclass(frozen=True, slots=True)
class NationalIdentityNumber:
    value: str
    kind: NationalIdentityNumberKind
    birth_date: date
    synthetic: SyntheticKind | None


def _is_digits(value: str) -> bool:
    # str.isdigit() accepts other scripts' digits and superscripts; identifiers are ASCII only.
    return bool(value) and all(ch in _ASCII_DIGITS for ch in value)


def _mod11(digits: list[int], weights: tuple[int, ...]) -> int | None:
    """The check digit for ``digits``, or None when the remainder makes the number unusable."""
    remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    check = 11 - remainder
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def _century(year2: int, individual: int) -> int | None:
    if individual <= 499:
        return 1900
    if individual <= 749 and year2 >= 54:
        return 1800
    if year2 <= 39:
        return 2000
    if individual >= 900:
        return 1900
    return None


def _describe(value: str) -> str:
    shown = value if len(value) <= 20 else value[:20] + "…"
    return repr(shown)


def parse_national_identity_number(value: str, *, allow_synthetic: bool = True) -> NationalIdentityNumber:
    """Validate ``value`` and say what kind of number it is.

    Raises :class:`InvalidIdentifierError` with a message naming the first problem found.
    """
    if not isinstance(value, str):
        raise InvalidIdentifierError("A national identity number must be given as a string of 11 digits.")
    if len(value) != 11:
        raise InvalidIdentifierError(
            f"A national identity number has 11 digits; {_describe(value)} has {len(value)} characters."
        )
    if not _is_digits(value):
        raise InvalidIdentifierError(
            f"A national identity number contains only the digits 0-9; {_describe(value)} does not."
        )
    digits = [int(ch) for ch in value]
    day = digits[0] * 10 + digits[1]
    month = digits[2] * 10 + digits[3]
    year2 = digits[4] * 10 + digits[5]
    individual = digits[6] * 100 + digits[7] * 10 + digits[8]

    kind = NationalIdentityNumberKind.BIRTH_NUMBER
    if day > 40:
        kind = NationalIdentityNumberKind.D_NUMBER
        day -= 40

    synthetic: SyntheticKind | None = None
    if month > 80:
        synthetic = SyntheticKind.TENOR
        month -= 80
    elif month > 40:
        synthetic = SyntheticKind.NAV
        month -= 40
    if synthetic is not None and not allow_synthetic:
        raise InvalidIdentifierError(
            f"{value} is a synthetic test number (month + {40 if synthetic is SyntheticKind.NAV else 80}); "
            "only real national identity numbers are accepted here."
        )

    century = _century(year2, individual)
    if century is None:
        raise InvalidIdentifierError(
            f"{value} has individual number {individual:03d}, which is not used for people born in "
            f"a year ending in {year2:02d}."
        )
    try:
        birth_date = date(century + year2, month, day)
    except ValueError:
        raise InvalidIdentifierError(
            f"{value} does not start with a valid birth date (day {day:02d}, month {month:02d}, "
            f"year {century + year2})."
        ) from None

    k1 = _mod11(digits[:9], _PID_WEIGHTS_1)
    if k1 is None:
        raise InvalidIdentifierError(
            f"{value} cannot be a national identity number: no first check digit fits."
        )
    if k1 != digits[9]:
        raise InvalidIdentifierError(
            f"{value} has a wrong first check digit (digit 10 is {digits[9]}, the mod-11 check gives {k1})."
        )
    k2 = _mod11(digits[:10], _PID_WEIGHTS_2)
    if k2 is None:
        raise InvalidIdentifierError(
            f"{value} cannot be a national identity number: no second check digit fits."
        )
    if k2 != digits[10]:
        raise InvalidIdentifierError(
            f"{value} has a wrong second check digit (digit 11 is {digits[10]}, the mod-11 check gives {k2})."
        )
    return NationalIdentityNumber(value=value, kind=kind, birth_date=birth_date, synthetic=synthetic)


def national_identity_number_error(value: str, *, allow_synthetic: bool = True) -> str | None:
    """Why ``value`` is not a valid national identity number, or None when it is."""
    try:
        parse_national_identity_number(value, allow_synthetic=allow_synthetic)
    except InvalidIdentifierError as exc:
        return str(exc)
    return None


def is_valid_national_identity_number(value: str, *, allow_synthetic: bool = True) -> bool:
    return national_identity_number_error(value, allow_synthetic=allow_synthetic) is None


def check_organisation_number(value: str) -> str:
    """Return ``value`` when it is a valid organisation number; raise :class:`InvalidIdentifierError`."""
    if not isinstance(value, str):
        raise InvalidIdentifierError("An organisation number must be given as a string of 9 digits.")
    if len(value) != 9:
        raise InvalidIdentifierError(
            f"An organisation number has 9 digits; {_describe(value)} has {len(value)} characters."
        )
    if not _is_digits(value):
        raise InvalidIdentifierError(
            f"An organisation number contains only the digits 0-9; {_describe(value)} does not."
        )
    digits = [int(ch) for ch in value]
    check = _mod11(digits[:8], _ORG_WEIGHTS)
    if check is None:
        raise InvalidIdentifierError(f"{value} cannot be an organisation number: no check digit fits.")
    if check != digits[8]:
        raise InvalidIdentifierError(
            f"{value} has a wrong check digit (digit 9 is {digits[8]}, the mod-11 check gives {check})."
        )
    return value


def organisation_number_error(value: str) -> str | None:
    """Why ``value`` is not a valid organisation number, or None when it is."""
    try:
        check_organisation_number(value)
    except InvalidIdentifierError as exc:
        return str(exc)
    return None


def is_valid_organisation_number(value: str) -> bool:
    return organisation_number_error(value) is None
