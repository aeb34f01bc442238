from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from tinn.register.loader import load_default_register
from tinn.register.models import (
    InstanceOwnerRef,
    Party,
    PartyType,
    Person,
    Role,
    RoleAssignment,
    SystemUser,
    UserProfile,
    UserType,
)
from tinn.register.service import Register

SOPHIE_UUID = "e9dd7d91-32d8-4933-a108-07562762d572"
SYSTEM_USER = "d111dbab-d619-4f15-bf29-58fe570a9ae6"
SYSTEM_ACTIONS = frozenset({"read", "write", "instantiate", "confirm", "sign", "reject", "delete"})

REGISTER = load_default_register().register


def _party(party_id: int, ptype: PartyType = PartyType.ORGANISATION, **fields: Any) -> Party:
    return Party(party_id=party_id, party_type_name=ptype, **fields)


def _ids(parties: tuple[Party, ...]) -> list[int]:
    return [p.party_id for p in parties]


# ---- party lookups ----------------------------------------------------------------------------


def test_party_by_id() -> None:
    sophie = REGISTER.party(501337)
    assert sophie is not None
    assert (sophie.name, sophie.ssn, sophie.party_type_name) == (
        "Sophie Salt",
        "01039012345",
        PartyType.PERSON,
    )
    assert sophie.person is not None and sophie.person.first_name == "Sophie"
    borettslag = REGISTER.party(500700)
    assert borettslag is not None and borettslag.organization is not None
    assert borettslag.organization.name == "Oslos Vakreste Borettslag"
    assert REGISTER.party(999999) is None


@pytest.mark.parametrize("value", [SOPHIE_UUID, SOPHIE_UUID.upper(), f"{{{SOPHIE_UUID}}}", UUID(SOPHIE_UUID)])
def test_party_by_uuid(value: str | UUID) -> None:
    party = REGISTER.party_by_uuid(value)
    assert party is not None and party.party_id == 501337


@pytest.mark.parametrize("value", ["", "not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_party_by_uuid_misses(value: str) -> None:
    assert REGISTER.party_by_uuid(value) is None


def test_party_by_ssn_and_org_number() -> None:
    assert REGISTER.party_by_ssn("01039012345") == REGISTER.party(501337)
    assert REGISTER.party_by_ssn("62889191185") == REGISTER.party(510003)
    assert REGISTER.party_by_ssn("00000000000") is None
    assert REGISTER.party_by_org_number("950474084") == REGISTER.party(500700)
    assert REGISTER.party_by_org_number("405003309") == REGISTER.party(500005)
    assert REGISTER.party_by_org_number("000000000") is None


@pytest.mark.parametrize(
    ("username", "party_id"),
    [
        ("SelvRegistrert", 510004),
        ("selvregistrert", 510004),
        ("epost:ida.epost@example.com", 510005),
        ("EPOST:Ida.Epost@Example.com", 510005),
        ("ida.epost@example.com", 510005),  # notes 4.4: the epost: prefix is optional
        ("SophieDDG", None),  # users with a national identity number are not found by username
        ("epost:nobody@example.com", None),
        ("", None),
    ],
)
def test_party_by_username(username: str, party_id: int | None) -> None:
    party = REGISTER.party_by_username(username)
    assert (party.party_id if party else None) == party_id


@pytest.mark.parametrize(
    ("urn", "party_id"),
    [
        ("urn:altinn:person:identifier-no:01039012345", 501337),
        ("URN:ALTINN:PERSON:IDENTIFIER-NO:14898596282", 510001),
        ("urn:altinn:organization:identifier-no:950474084", 500700),
        ("urn:altinn:party:id:500005", 500005),
        ("urn:altinn:party:id:", None),
        ("urn:altinn:party:id:-1", None),
        ("urn:altinn:party:id:99999999999999999999", None),
        (f"urn:altinn:party:uuid:{SOPHIE_UUID}", 501337),
        ("urn:altinn:party:uuid:zzz", None),
        ("urn:altinn:person:idporten-email:ida.epost@example.com", 510005),
        ("urn:altinn:person:idporten-email:ida.epost%40example.com", 510005),  # URL-encoded
        ("urn:altinn:person:legacy-selfidentified:SelvRegistrert", 510004),
        ("urn:altinn:person:legacy-selfidentified:SophieDDG", None),  # not self-identified
        ("urn:altinn:person:identifier-no:", None),
        ("urn:altinn:systemuser:uuid:" + SYSTEM_USER, None),
        ("01039012345", None),
        ("", None),
    ],
)
def test_party_by_urn(urn: str, party_id: int | None) -> None:
    party = REGISTER.party_by_urn(urn)
    assert (party.party_id if party else None) == party_id


# ---- persons, organisations, users, service owners, systems ---------------------------------------


def test_person_and_organization() -> None:
    person = REGISTER.person("01039012345")
    assert person is not None and person.address_postal_code == "0151"
    assert REGISTER.person("11111111111") is None
    org = REGISTER.organization("405003309")
    assert org is not None and (org.name, org.unit_type) == ("Testdepartementet", "AS")
    assert REGISTER.organization("111111111") is None


def test_users() -> None:
    sophie = REGISTER.user(1337)
    assert sophie is not None
    assert (sophie.user_name, sophie.party_id, sophie.user_type) == (
        "SophieDDG",
        501337,
        UserType.SSN_IDENTIFIED,
    )
    assert sophie.party is not None and sophie.party.person is not None  # the register's party, with details
    assert REGISTER.user(1) is None
    assert REGISTER.user_by_ssn("14898596282") == REGISTER.user(1001)
    assert REGISTER.user_by_ssn("05815531282") is None  # Liv Eriksen has no user account
    assert REGISTER.user_by_username("sophieddg") == sophie
    assert REGISTER.user_by_username("epost:ida.epost@example.com") == REGISTER.user(1005)
    assert REGISTER.user_by_username("nobody") is None
    assert REGISTER.user_by_party_id(510004) == REGISTER.user(1004)
    assert REGISTER.user_by_party_id(500700) is None
    assert REGISTER.custom_claims(1337) == ()


def test_service_owners() -> None:
    ttd = REGISTER.service_owner("TTD")
    assert ttd is not None and ttd.org_number == "405003309"
    assert ttd.display_name("en") == "Test Ministry"
    owner = REGISTER.service_owner_by_org_number("991825827")
    assert owner is not None and owner.org == "digdir"
    assert REGISTER.service_owner_by_org_number("974761076") == REGISTER.service_owner("skd")
    assert REGISTER.service_owner("nope") is None
    assert REGISTER.service_owner_by_org_number("950474084") is None
    for owner in REGISTER.all_service_owners:
        assert owner.org_number is not None
        party = REGISTER.party_by_org_number(owner.org_number)
        assert party is not None and party.organization is not None


def test_systems_and_system_users() -> None:
    system = REGISTER.system("913312465_SBS")
    assert system is not None and system.id == "913312465_sbs"
    system_user = REGISTER.system_user(SYSTEM_USER.upper())
    assert system_user is not None
    assert system_user.system_id == "913312465_sbs"
    assert system_user.org_number == "950474084"
    assert system_user.supplier_org_number == "913312465"
    assert REGISTER.system_user(UUID(SYSTEM_USER)) == system_user
    assert REGISTER.system_user("garbage") is None
    assert REGISTER.system_users_for("950474084") == (system_user,)
    assert [su.org_number for su in REGISTER.system_users_for("310000019")] == ["310000019"]
    assert REGISTER.system_users_for("405003309") == ()


# ---- roles --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_id", "party_id", "expected"),
    [
        (1337, 501337, {"PRIV", "UTINN", "REGNA", "ADMAI"}),  # assigned, PRIV also derived
        (1337, 500000, {"DAGL", "REGNA", "UTINN", "ADMAI", "SIGNE"}),
        (1337, 500002, {"DAGL", "REGNA", "UTINN", "ADMAI", "SIGNE"}),  # sub-unit: from the main unit
        (1337, 500004, {"DAGL"}),  # a sub-unit whose main unit is unknown
        (1337, 500700, {"MEDL", "REGNA", "UTINN"}),
        (1337, 510001, set()),  # somebody else's party
        (1001, 510001, {"PRIV"}),  # own party, nothing assigned
        (1001, 501001, {"DAGL", "REGNA", "UTINN", "SIGNE", "ADMAI"}),
        (1002, 501001, {"REGNA"}),
        (1003, 501301, {"LEDE", "DAGL"}),  # AAFY sub-unit
        (1003, 501100, {"BOBE"}),
        (1004, 510004, {"SELN"}),
        (1005, 510005, {"SELN"}),  # self-identified, nothing assigned
        (1006, 510006, {"PRIV"}),
        (1006, 500700, set()),
        (4242, 501337, set()),  # unknown user
    ],
)
def test_roles_of_users(user_id: int, party_id: int, expected: set[str]) -> None:
    assert REGISTER.roles(party_id, user_id=user_id) == expected


def test_assigned_role_codes_are_upper_cased_and_merged() -> None:
    register = Register.of(
        parties=[_party(1)],
        role_assignments=[
            RoleAssignment(user_id=7, party_id=1, roles=(Role(value=" dagl "), Role(value=""))),
            RoleAssignment(user_id=7, party_id=1, roles=(Role(value="Regna"),)),
        ],
    )
    assert register.roles(1, user_id=7) == {"DAGL", "REGNA"}


@pytest.mark.parametrize(
    ("user_type", "expected"),
    [(UserType.SSN_IDENTIFIED, {"PRIV"}), (UserType.SELF_IDENTIFIED, {"SELN"}), (UserType.NONE, set())],
)
def test_self_roles_follow_the_user_type_when_the_party_is_unknown(
    user_type: UserType, expected: set[str]
) -> None:
    register = Register.of(users=[UserProfile(user_id=7, party_id=70, user_type=user_type)])
    assert register.roles(70, user_id=7) == expected


def test_no_self_roles_for_an_organisation_party() -> None:
    register = Register.of(parties=[_party(70)], users=[UserProfile(user_id=7, party_id=70)])
    assert register.roles(70, user_id=7) == frozenset()


def test_sub_unit_roles_come_from_the_party_list_hierarchy_too() -> None:
    main, sub = _party(1, unit_type="AS"), _party(2, unit_type="BEDR")
    register = Register.of(
        parties=[main, sub],
        role_assignments=[RoleAssignment(user_id=7, party_id=1, roles=(Role(value="DAGL"),))],
        party_lists={9: [main.model_copy(update={"child_parties": (sub,)})]},
    )
    assert register.roles(2, user_id=7) == {"DAGL"}
    # Roles never flow upwards.
    register = Register.of(
        parties=[main.model_copy(update={"child_parties": (sub,)}), sub],
        role_assignments=[RoleAssignment(user_id=7, party_id=2, roles=(Role(value="DAGL"),))],
    )
    assert register.roles(1, user_id=7) == frozenset()


@pytest.mark.parametrize(
    ("system_user_id", "party_id", "expected"),
    [
        (SYSTEM_USER, 500700, SYSTEM_ACTIONS),
        (SYSTEM_USER.upper(), 500700, SYSTEM_ACTIONS),
        (UUID(SYSTEM_USER), 500700, SYSTEM_ACTIONS),
        (SYSTEM_USER, 501000, frozenset()),  # not its customer
        (SYSTEM_USER, 999999, frozenset()),
        ("5b0f2f7e-2b5f-4a34-9a4e-6f7c1d0e8a21", 501000, frozenset({"read", "write", "instantiate"})),
        ("00000000-0000-0000-0000-000000000000", 500700, frozenset()),
        ("not a uuid", 500700, frozenset()),
    ],
)
def test_rights_of_system_users(system_user_id: str | UUID, party_id: int, expected: frozenset[str]) -> None:
    assert REGISTER.roles(party_id, system_user_id=system_user_id) == expected


def test_roles_need_exactly_one_subject() -> None:
    with pytest.raises(ValueError, match="exactly one subject"):
        REGISTER.roles(500700)
    with pytest.raises(ValueError, match="exactly one subject"):
        REGISTER.roles(500700, user_id=1337, system_user_id=SYSTEM_USER)


# ---- party lists ----------------------------------------------------------------------------------


def test_party_list_from_file_is_returned_as_written() -> None:
    parties = REGISTER.party_list(1337)
    assert _ids(parties) == [501337, 500000, 500600, 500700, 500800, 500801, 500802, 500004]
    assert parties[1].name == "DDG Fitness AS"
    assert _ids(parties[1].child_parties or ()) == [500001, 500002, 500003]
    assert parties[0].org_number is None and parties[-1].ssn == ""  # as the recordings show
    assert _ids(REGISTER.party_list(1004)) == [510004]


def test_party_list_is_derived_from_roles_without_a_file() -> None:
    kari = REGISTER.party_list(1001)
    assert _ids(kari) == [510001, 501000]
    assert _ids(kari[1].child_parties or ()) == [501001]
    assert kari[0].child_parties is None
    assert all(p.person is None and p.organization is None for p in kari)
    assert not any(p.only_hierarchy_element_with_no_access for p in kari)
    assert _ids(REGISTER.party_list(1002)) == [510002, 501000, 501200]
    assert _ids(REGISTER.party_list(1005)) == [510005]
    assert REGISTER.party_list(4242) == ()


def test_party_list_shows_a_main_unit_without_access_above_its_sub_units() -> None:
    main = _party(1, unit_type="AS")
    subs = [_party(2, unit_type="BEDR"), _party(3, unit_type="BEDR"), _party(4, unit_type="BEDR")]
    register = Register.of(
        parties=[main.model_copy(update={"child_parties": tuple(subs)}), *subs, _party(70, PartyType.PERSON)],
        users=[UserProfile(user_id=7, party_id=70)],
        role_assignments=[
            RoleAssignment(user_id=7, party_id=2, roles=(Role(value="UTINN"),)),
            RoleAssignment(user_id=7, party_id=4, roles=(Role(value="UTINN"),)),
            RoleAssignment(user_id=7, party_id=99, roles=(Role(value="DAGL"),)),  # unknown party: left out
        ],
    )
    own, main_entry = register.party_list(7)
    assert own.party_id == 70
    assert main_entry.party_id == 1 and main_entry.only_hierarchy_element_with_no_access
    assert _ids(main_entry.child_parties or ()) == [2, 4]


# ---- instantiation helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("party_id", "expected"),
    [
        (501337, {"partyId": "501337", "personNumber": "01039012345"}),
        (500700, {"partyId": "500700", "organisationNumber": "950474084"}),
        (501001, {"partyId": "501001", "organisationNumber": "310000027"}),
        (
            510004,
            {
                "partyId": "510004",
                "username": "Selvregistrert Bruker",
                "externalIdentifier": "urn:altinn:person:legacy-selfidentified:SelvRegistrert",
            },
        ),
        (
            510005,
            {
                "partyId": "510005",
                "username": "ida.epost@example.com",
                "externalIdentifier": "urn:altinn:person:idporten-email:ida.epost@example.com",
            },
        ),
    ],
)
def test_instance_owner_for(party_id: int, expected: InstanceOwnerRef) -> None:
    party = REGISTER.party(party_id)
    assert party is not None
    assert REGISTER.instance_owner_for(party) == expected


@pytest.mark.parametrize(
    ("party", "expected"),
    [
        (_party(5, PartyType.SELF_IDENTIFIED, name="someone"), {"partyId": "5", "username": "someone"}),
        (_party(5, PartyType.SELF_IDENTIFIED), {"partyId": "5"}),
        (_party(5, PartyType.SUB_UNIT, ssn="", org_number=""), {"partyId": "5"}),
        (
            _party(5, PartyType.PERSON, ssn="01010000110", org_number="950474084"),
            {"partyId": "5", "personNumber": "01010000110"},
        ),
    ],
)
def test_instance_owner_for_parties_outside_the_register(party: Party, expected: InstanceOwnerRef) -> None:
    assert Register().instance_owner_for(party) == expected


ALL = {"person": True, "organisation": True, "subUnit": True, "bankruptcyEstate": True}
NONE = {"person": False, "organisation": False, "subUnit": False, "bankruptcyEstate": False}


def _only(flag: str) -> dict[str, bool]:
    return {**NONE, flag: True}


@pytest.mark.parametrize(
    ("party_type", "unit_type", "allowed", "expected"),
    [
        # No flag set: everyone, even party types that are otherwise never allowed.
        (PartyType.PERSON, None, None, True),
        (PartyType.SUB_UNIT, None, NONE, True),
        (PartyType.ORGANISATION, "AS", {}, True),
        # Persons and self-identified users need `person`.
        (PartyType.PERSON, None, _only("person"), True),
        (PartyType.PERSON, None, _only("organisation"), False),
        (PartyType.SELF_IDENTIFIED, None, _only("person"), True),
        (PartyType.SELF_IDENTIFIED, None, {**ALL, "person": False}, False),
        # Main units need `organisation`.
        (PartyType.ORGANISATION, "AS", _only("organisation"), True),
        (PartyType.ORGANISATION, None, _only("organisation"), True),
        (PartyType.ORGANISATION, "AS", _only("subUnit"), False),
        (PartyType.ORGANISATION, "AS", _only("bankruptcyEstate"), False),
        (PartyType.ORGANISATION, "AS", _only("person"), False),
        # BEDR and AAFY are sub-units and need `subUnit`.
        (PartyType.ORGANISATION, "BEDR", _only("subUnit"), True),
        (PartyType.ORGANISATION, "AAFY", _only("subUnit"), True),
        (PartyType.ORGANISATION, " BEDR ", _only("subUnit"), True),  # trimmed
        (PartyType.ORGANISATION, "BEDR", _only("organisation"), False),
        (PartyType.ORGANISATION, "bedr", _only("organisation"), True),  # compared case-sensitively
        (PartyType.ORGANISATION, "bedr", _only("subUnit"), False),
        # KBO passes as a main unit or through `bankruptcyEstate`.
        (PartyType.ORGANISATION, "KBO", _only("bankruptcyEstate"), True),
        (PartyType.ORGANISATION, "KBO", _only("organisation"), True),
        (PartyType.ORGANISATION, "KBO", _only("subUnit"), False),
        # Other party types are never allowed once a flag is set.
        (PartyType.SUB_UNIT, "BEDR", ALL, False),
        (PartyType.BANKRUPTCY_ESTATE, "KBO", ALL, False),
    ],
)
def test_party_type_allowed(
    party_type: PartyType, unit_type: str | None, allowed: dict[str, bool] | None, expected: bool
) -> None:
    party = _party(1, party_type, unit_type=unit_type)
    assert Register.party_type_allowed(party, allowed) is expected


def test_party_type_allowed_reads_models_and_other_spellings() -> None:
    class PartyTypesAllowed(BaseModel):
        bankruptcy_estate: bool = False
        organisation: bool = False
        person: bool = False
        sub_unit: bool = False

    sub_unit = _party(1, unit_type="BEDR")
    assert Register.party_type_allowed(sub_unit, PartyTypesAllowed(sub_unit=True))
    assert not Register.party_type_allowed(sub_unit, PartyTypesAllowed(person=True))
    assert Register.party_type_allowed(_party(1, unit_type="AS"), {"Organization": True})
    # Only real booleans count, as in the JSON schema of applicationmetadata.json.
    assert Register.party_type_allowed(_party(1, PartyType.PERSON), {"organisation": "yes"})


def test_prefill_sources_for_a_person_and_user() -> None:
    sophie = REGISTER.party(501337)
    user = REGISTER.user(1337)
    assert sophie is not None and user is not None
    sources = REGISTER.prefill_sources(sophie, user)
    assert sources["ER"] is None
    dsf = sources["DSF"]
    assert dsf is not None
    assert (dsf["SSN"], dsf["FirstName"], dsf["LastName"], dsf["AddressPostalCode"]) == (
        "01039012345",
        "Sophie",
        "Salt",
        "0151",
    )
    profile = sources["UserProfile"]
    assert profile is not None
    assert (profile["UserId"], profile["Email"], profile["UserType"]) == (
        1337,
        "1337@altinnstudiotestusers.com",
        1,
    )
    assert profile["Party"]["SSN"] == "01039012345"
    assert profile["Party"]["PartyTypeName"] == 1
    assert profile["Party"]["PartyUuid"] == SOPHIE_UUID
    assert profile["Party"]["Person"]["FirstName"] == "Sophie"
    assert profile["ProfileSettingPreference"]["Language"] == "nn"


def test_prefill_sources_for_an_organisation_without_user() -> None:
    bare = _party(500700)  # details are taken from the register by party id
    sources = REGISTER.prefill_sources(bare, None)
    assert sources["DSF"] is None and sources["UserProfile"] is None
    er = sources["ER"]
    assert er is not None
    assert (er["OrgNumber"], er["Name"], er["EMailAddress"], er["UnitStatus"]) == (
        "950474084",
        "Oslos Vakreste Borettslag",
        "epost@setra.no",
        None,
    )


def test_prefill_sources_outside_the_register() -> None:
    person = Person.model_validate({"ssn": "1", "firstName": "A", "dateOfDeath": "2020-01-02T03:04:05Z"})
    party = _party(5, PartyType.PERSON, person=person, child_parties=(_party(6),))
    user = UserProfile(user_id=9, party_id=5, party=party)
    sources = Register().prefill_sources(party, user)
    assert sources["DSF"] is not None and sources["DSF"]["DateOfDeath"] == "2020-01-02T03:04:05+00:00"
    assert sources["UserProfile"] is not None
    assert sources["UserProfile"]["Party"]["ChildParties"][0]["PartyId"] == 6


# ---- robustness ---------------------------------------------------------------------------------------

URN_PREFIXES = [
    "",
    "urn:altinn:person:identifier-no:",
    "urn:altinn:organization:identifier-no:",
    "urn:altinn:party:id:",
    "urn:altinn:party:uuid:",
    "urn:altinn:person:idporten-email:",
    "urn:altinn:person:legacy-selfidentified:",
]


@given(st.sampled_from(URN_PREFIXES), st.text())
def test_lookups_never_crash_on_arbitrary_text(prefix: str, text: str) -> None:
    value = prefix + text
    for lookup in (
        REGISTER.party_by_urn,
        REGISTER.party_by_username,
        REGISTER.party_by_uuid,
        REGISTER.party_by_ssn,
        REGISTER.party_by_org_number,
    ):
        result = lookup(value)
        assert result is None or isinstance(result, Party)
    assert REGISTER.system_user(value) is None or isinstance(REGISTER.system_user(value), SystemUser)
    assert REGISTER.roles(500700, system_user_id=value) <= SYSTEM_ACTIONS
    assert REGISTER.service_owner(value) is None or value.strip().lower() in {"ttd", "digdir", "skd"}


@given(st.integers())
def test_party_id_lookups_never_crash(party_id: int) -> None:
    assert REGISTER.party(party_id) is None or REGISTER.party(party_id) == REGISTER.party_by_urn(
        f"urn:altinn:party:id:{party_id}"
    )
