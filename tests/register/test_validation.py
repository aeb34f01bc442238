from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinn.register.validation import (
    InvalidIdentifierError,
    NationalIdentityNumberKind,
    SyntheticKind,
    check_organisation_number,
    is_valid_national_identity_number,
    is_valid_organisation_number,
    national_identity_number_error,
    organisation_number_error,
    parse_national_identity_number,
)

BIRTH = NationalIdentityNumberKind.BIRTH_NUMBER
D_NUMBER = NationalIdentityNumberKind.D_NUMBER


@pytest.mark.parametrize(
    ("value", "kind", "born", "synthetic"),
    [
        # Tenor test persons from Altinn localtest's test data (month + 80).
        ("08829698278", BIRTH, date(1996, 2, 8), SyntheticKind.TENOR),
        ("17858296439", BIRTH, date(1982, 5, 17), SyntheticKind.TENOR),
        ("01899699552", BIRTH, date(1996, 9, 1), SyntheticKind.TENOR),
        # Tinn's own test persons.
        ("14898596282", BIRTH, date(1985, 9, 14), SyntheticKind.TENOR),
        ("03877293407", BIRTH, date(1972, 7, 3), SyntheticKind.TENOR),
        ("62889191185", D_NUMBER, date(1991, 8, 22), SyntheticKind.TENOR),
        ("21528841233", BIRTH, date(1988, 12, 21), SyntheticKind.NAV),
        ("30920351553", BIRTH, date(2003, 12, 30), SyntheticKind.TENOR),
        ("05815531282", BIRTH, date(1955, 1, 5), SyntheticKind.TENOR),
        # Textbook examples of ordinary numbers (birth numbers and a D-number).
        ("01010000110", BIRTH, date(1900, 1, 1), None),
        ("29029600013", BIRTH, date(1996, 2, 29), None),
        ("15058012359", BIRTH, date(1980, 5, 15), None),
        ("41010000104", D_NUMBER, date(1900, 1, 1), None),
    ],
)
def test_valid_national_identity_numbers(
    value: str, kind: NationalIdentityNumberKind, born: date, synthetic: SyntheticKind | None
) -> None:
    parsed = parse_national_identity_number(value)
    assert (parsed.value, parsed.kind, parsed.birth_date, parsed.synthetic) == (value, kind, born, synthetic)
    assert is_valid_national_identity_number(value)
    assert national_identity_number_error(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # Altinn localtest's Sophie Salt, Ola Nordmann and Kari Nordvik: made-up check digits.
        ("01039012345", "wrong first check digit (digit 10 is 4, the mod-11 check gives 8)"),
        ("01017512345", "wrong first check digit (digit 10 is 4, the mod-11 check gives 3)"),
        ("12889898001", "wrong first check digit"),
        ("08829698279", "wrong second check digit (digit 11 is 9, the mod-11 check gives 8)"),
        ("0882969827", "has 11 digits; '0882969827' has 10 characters"),
        ("088296982781", "has 12 characters"),
        ("", "has 0 characters"),
        ("0882969827a", "contains only the digits 0-9"),
        ("0882969827٨", "contains only the digits 0-9"),  # an Arabic-Indic eight
        ("32019000000", "does not start with a valid birth date (day 32, month 01"),
        ("30020000000", "day 30, month 02, year 1900"),
        ("29020000000", "day 29, month 02, year 1900"),
        ("01134500000", "month 13"),
        ("01015080000", "individual number 800, which is not used for people born in a year ending in 50"),
    ],
)
def test_invalid_national_identity_numbers(value: str, message: str) -> None:
    error = national_identity_number_error(value)
    assert error is not None
    assert message in error
    assert not is_valid_national_identity_number(value)
    with pytest.raises(InvalidIdentifierError) as raised:
        parse_national_identity_number(value)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("value", "which"),
    [
        ("01010000200", "first"),  # the first nine digits leave remainder 1: check digit would be 10
        ("01010000030", "second"),  # likewise for the first ten digits
    ],
)
def test_check_digit_of_ten_is_never_valid(value: str, which: str) -> None:
    assert national_identity_number_error(value) == (
        f"{value} cannot be a national identity number: no {which} check digit fits."
    )


@pytest.mark.parametrize("value", ["08829698278", "21528841233", "62889191185"])
def test_synthetic_numbers_can_be_refused(value: str) -> None:
    error = national_identity_number_error(value, allow_synthetic=False)
    assert error is not None
    assert "synthetic test number" in error
    assert is_valid_national_identity_number(value, allow_synthetic=True)


def test_ordinary_numbers_pass_when_synthetic_ones_are_refused() -> None:
    assert is_valid_national_identity_number("01010000110", allow_synthetic=False)


@pytest.mark.parametrize(
    "value",
    [
        "950474084",  # Oslos Vakreste Borettslag
        "405003309",  # Testdepartementet (ttd)
        "991825827",  # Digitaliseringsdirektoratet
        "974761076",  # Skatteetaten
        "913312465",  # the system vendor of the recordings
        "043871668",  # leading zero
        "897069652",
        "310000019",
        "310000108",  # check digit 8 from remainder 3
        "123456785",
    ],
)
def test_valid_organisation_numbers(value: str) -> None:
    assert check_organisation_number(value) == value
    assert is_valid_organisation_number(value)
    assert organisation_number_error(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("897069650", "wrong check digit (digit 9 is 0, the mod-11 check gives 2)"),
        ("950474085", "wrong check digit (digit 9 is 5, the mod-11 check gives 4)"),
        ("310000060", "cannot be an organisation number: no check digit fits"),
        ("95047408", "has 9 digits; '95047408' has 8 characters"),
        ("9504740841", "has 10 characters"),
        ("95047408X", "contains only the digits 0-9"),
        (" 95047408", "contains only the digits 0-9"),
        ("", "has 0 characters"),
    ],
)
def test_invalid_organisation_numbers(value: str, message: str) -> None:
    error = organisation_number_error(value)
    assert error is not None
    assert message in error
    assert not is_valid_organisation_number(value)
    with pytest.raises(InvalidIdentifierError):
        check_organisation_number(value)


def test_long_input_is_shortened_in_messages() -> None:
    error = organisation_number_error("9" * 500)
    assert error == "An organisation number has 9 digits; '99999999999999999999…' has 500 characters."


@given(st.text())
def test_validators_never_crash_on_arbitrary_text(text: str) -> None:
    assert isinstance(is_valid_national_identity_number(text), bool)
    assert isinstance(is_valid_national_identity_number(text, allow_synthetic=False), bool)
    assert isinstance(is_valid_organisation_number(text), bool)


@given(st.text(alphabet="0123456789", min_size=9, max_size=11))
def test_validators_never_crash_on_digit_strings(text: str) -> None:
    pid_error = national_identity_number_error(text)
    org_error = organisation_number_error(text)
    assert pid_error is None or pid_error
    assert org_error is None or org_error
    if pid_error is None:
        assert len(text) == 11
    if org_error is None:
        assert len(text) == 9
