"""Masking, the instantiation filter over party hierarchies, and who represents whom."""

from __future__ import annotations

import pytest

from tinn.auth import claims as c
from tinn.auth.principal import Principal
from tinn.register.loader import DEFAULT_TESTDATA_DIR, load_register
from tinn.register.models import Party, PartyType, Person
from tinn.register.representation import (
    can_instantiate_as,
    contains_party,
    filter_parties,
    mask_others,
    mask_ssn,
    may_read_party,
    organisation_party,
    parse_party_id,
    user_details,
)

REGISTER = load_register(DEFAULT_TESTDATA_DIR).register


def party(party_id: int, *children: Party, ssn: str | None = None, flag: bool = False) -> Party:
    return Party(
        party_id=party_id,
        party_type_name=PartyType.PERSON if ssn else PartyType.ORGANISATION,
        ssn=ssn,
        only_hierarchy_element_with_no_access=flag,
        child_parties=children or None,
    )


@pytest.mark.parametrize(
    ("ssn", "masked"),
    [("01039012345", "010390*****"), ("", ""), (None, None), ("1234", "****"), ("123456", "1*****")],
)
def test_mask_ssn(ssn: str | None, masked: str | None) -> None:
    assert mask_ssn(ssn) == masked


def test_mask_others_keeps_the_callers_own_number_and_masks_nested_people() -> None:
    liv = Party(
        party_id=510007,
        party_type_name=PartyType.PERSON,
        ssn="05815531282",
        person=Person(ssn="05815531282", name="Liv"),
    )
    own = party(510001, ssn="14898596282")
    tree = party(501000, liv)
    masked = mask_others([own, liv, tree], own_party_id=510001)
    assert masked[0].ssn == "14898596282"
    assert masked[1].ssn == "058155*****"
    assert masked[1].person is not None and masked[1].person.ssn == "058155*****"
    assert masked[2].child_parties is not None and masked[2].child_parties[0].ssn == "058155*****"
    assert liv.ssn == "05815531282"  # the register's objects are untouched


def test_filter_keeps_passing_children_under_a_failing_main_unit() -> None:
    tree = [party(1, party(11), party(12)), party(2, party(21)), party(3), party(4, party(41))]
    allowed = {1, 11, 21, 3}
    result = filter_parties(tree, lambda p: p.party_id in allowed)
    assert [p.party_id for p in result] == [1, 2, 3]
    main, hierarchy, alone = result
    assert [c.party_id for c in main.child_parties or ()] == [11]
    assert not main.only_hierarchy_element_with_no_access
    assert [c.party_id for c in hierarchy.child_parties or ()] == [21]
    assert hierarchy.only_hierarchy_element_with_no_access
    assert alone.child_parties == ()  # app-lib writes an empty list, not null
    assert alone.to_wire()["childParties"] == []


def test_can_instantiate_as_skips_hierarchy_elements() -> None:
    allowed = filter_parties([party(2, party(21))], lambda p: p.party_id == 21)
    assert can_instantiate_as(allowed, 21)
    assert not can_instantiate_as(allowed, 2)
    assert not can_instantiate_as(allowed, 3)


def test_contains_party_searches_sub_units() -> None:
    tree = [party(1, party(11, party(111)))]
    assert contains_party(tree, 111)
    assert not contains_party(tree, 2)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("501337", 501337), (" 42 ", 42), ("-1", -1), ("+7", 7), ("2147483647", 2147483647)]
    + [(bad, None) for bad in ("", "abc", "1.5", "2147483648", "-2147483649", "١٢", None)],
)
def test_parse_party_id(raw: str | None, parsed: int | None) -> None:
    assert parse_party_id(raw) == parsed


def _person(user_id: int, party_id: int) -> Principal:
    return Principal.from_claims(
        c.person_claims(
            user_id=user_id, username=None, party_id=party_id, party_uuid=None, auth_level=3, auth_method="x"
        )
    )


def test_user_details_from_the_party_list_file() -> None:
    details = user_details(REGISTER, _person(1337, 501337))
    assert details.own_party_id == 501337
    assert details.own_party is not None and details.own_party.person is not None
    assert [p.party_id for p in details.parties][:2] == [501337, 500000]
    assert details.can_represent(500003)  # nested under 500000 in the list
    assert not details.can_represent(501000)


def test_user_without_a_list_gets_their_own_party() -> None:
    details = user_details(REGISTER, _person(1006, 510006))
    assert [p.party_id for p in details.parties] == [510006]


def test_unknown_user_falls_back_to_the_tokens_party() -> None:
    details = user_details(REGISTER, _person(99999, 599999))
    assert details.own_party_id == 599999
    assert details.own_party is None
    assert details.parties == ()
    assert details.can_represent(599999)
    assert not details.can_represent(501337)


def test_organisation_party_of_each_non_user_caller() -> None:
    service_owner = Principal.from_claims(c.organisation_claims(org_number="405003309", org="ttd"))
    assert (found := organisation_party(REGISTER, service_owner)) is not None and found.party_id == 500005
    system_user = Principal.from_claims(
        c.system_user_claims(
            system_user_id="d111dbab-d619-4f15-bf29-58fe570a9ae6",
            system_user_org_number="950474084",
            system_id="913312465_sbs",
            vendor_org_number="913312465",
        )
    )
    # The customer's party, not the vendor's.
    assert (found := organisation_party(REGISTER, system_user)) is not None and found.party_id == 500700
    stranger = Principal.from_claims(c.organisation_claims(org_number="123456785"))
    assert organisation_party(REGISTER, stranger) is None


def test_may_read_party() -> None:
    service_owner = Principal.from_claims(c.organisation_claims(org_number="405003309", org="ttd"))
    organisation = Principal.from_claims(c.organisation_claims(org_number="950474084"))
    assert may_read_party(REGISTER, service_owner, 510001)
    assert not may_read_party(REGISTER, organisation, 500700)
    assert may_read_party(REGISTER, _person(1337, 501337), 500700)
    assert not may_read_party(REGISTER, _person(1337, 501337), 510001)
