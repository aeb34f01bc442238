from __future__ import annotations

from uuid import UUID

import pytest
from pydantic import ValidationError

from tinn.register.models import (
    Organization,
    Party,
    PartyType,
    Person,
    Role,
    ServiceOwner,
    SystemUser,
    UserProfile,
    UserType,
)


def test_party_reads_localtest_spelling_and_writes_altinn_wire_shape() -> None:
    party = Party.model_validate(
        {
            "partyId": "500700",  # localtest writes ids as strings
            "partyUuid": "117e86a4-117f-41b0-8f2d-c383e2a69f9e",
            "partyTypeName": 2,
            "orgNumber": "950474084",
            "ssn": "",
            "unitType": "BRL",
            "name": "Oslos Vakreste Borettslag",
            "isDeleted": False,
            "onlyHierarchyElementWithNoAccess": False,
            "person": None,
            "organisation": {"OrgNumber": "950474084", "Name": "Oslos Vakreste Borettslag"},
            "childParties": None,
        }
    )
    assert party.party_id == 500700
    assert party.party_type_name is PartyType.ORGANISATION
    assert party.organization is not None
    assert party.organization.org_number == "950474084"
    assert party.to_wire() == {
        "partyId": 500700,
        "partyUuid": "117e86a4-117f-41b0-8f2d-c383e2a69f9e",
        "partyTypeName": 2,
        "orgNumber": "950474084",
        "ssn": "",
        "unitType": "BRL",
        "name": "Oslos Vakreste Borettslag",
        "isDeleted": False,
        "onlyHierarchyElementWithNoAccess": False,
        "person": None,
        "organization": {
            "orgNumber": "950474084",
            "name": "Oslos Vakreste Borettslag",
            "unitType": None,
            "telephoneNumber": None,
            "mobileNumber": None,
            "faxNumber": None,
            "eMailAddress": None,
            "internetAddress": None,
            "mailingAddress": None,
            "mailingPostalCode": None,
            "mailingPostalCity": None,
            "businessAddress": None,
            "businessPostalCode": None,
            "businessPostalCity": None,
            "unitStatus": None,
        },
        "childParties": None,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, PartyType.PERSON),
        ("2", PartyType.ORGANISATION),
        ("Organisation", PartyType.ORGANISATION),
        ("organization", PartyType.ORGANISATION),
        ("SelfIdentified", PartyType.SELF_IDENTIFIED),
        ("SubUnit", PartyType.SUB_UNIT),
        ("bankruptcyEstate", PartyType.BANKRUPTCY_ESTATE),
    ],
)
def test_party_type_by_number_or_name(value: object, expected: PartyType) -> None:
    party = Party.model_validate({"PartyId": 1, "PartyTypeName": value})
    assert party.party_type_name is expected


@pytest.mark.parametrize("value", [0, 6, "Company", None])
def test_unknown_party_type_is_rejected(value: object) -> None:
    with pytest.raises(ValidationError):
        Party.model_validate({"partyId": 1, "partyTypeName": value})


def test_keys_match_in_any_case_and_first_non_null_spelling_wins() -> None:
    person = Person.model_validate(
        {
            "SSN": "08829698278",
            "FIRSTNAME": "Rik",
            "firstName": "Other",
            "lastname": None,
            "LastName": "Forelder",
        }
    )
    assert (person.ssn, person.first_name, person.last_name) == ("08829698278", "Rik", "Forelder")


def test_organization_email_property_keeps_altinn_casing() -> None:
    org = Organization.model_validate({"EMailAddress": "post@example.com"})
    assert org.e_mail_address == "post@example.com"
    assert org.to_wire()["eMailAddress"] == "post@example.com"


def test_user_profile_reads_pascal_case_and_user_type_names() -> None:
    profile = UserProfile.model_validate(
        {
            "UserId": 1337,
            "UserName": "SophieDDG",
            "PhoneNumber": "90001337",
            "Email": "1337@altinnstudiotestusers.com",
            "PartyId": 501337,
            "UserType": "SSNIdentified",
            "ProfileSettingPreference": {"Language": "nn", "doNotPromptForParty": True},
        }
    )
    assert profile.user_type is UserType.SSN_IDENTIFIED
    assert profile.profile_setting_preference is not None
    assert profile.profile_setting_preference.do_not_prompt_for_party is True
    wire = profile.to_wire()
    assert list(wire) == [
        "userId",
        "userUuid",
        "userName",
        "externalIdentity",
        "isReserved",
        "phoneNumber",
        "email",
        "partyId",
        "party",
        "userType",
        "profileSettingPreference",
    ]
    assert wire["userType"] == 1
    assert wire["profileSettingPreference"] == {
        "language": "nn",
        "preSelectedPartyId": 0,
        "doNotPromptForParty": True,
    }


def test_models_are_immutable() -> None:
    party = Party(party_id=1, party_type_name=PartyType.PERSON)
    with pytest.raises(ValidationError):
        party.name = "changed"  # type: ignore[misc]


def test_role_reads_localtest_entry() -> None:
    assert Role.model_validate({"Type": "altinn", "value": "dagl"}) == Role(type="altinn", value="dagl")


def test_system_user_normalises_id_and_reads_older_spellings() -> None:
    user = SystemUser.model_validate(
        {
            "Id": "D111DBAB-D619-4F15-BF29-58FE570A9AE6",
            "SystemId": "913312465_sbs",
            "PartyOrgNo": "950474084",
            "AppRights": ["read", "write"],
        }
    )
    assert user.id == "d111dbab-d619-4f15-bf29-58fe570a9ae6"
    assert user.org_number == "950474084"
    assert user.actions == ("read", "write")
    assert user.supplier_org_number == "913312465"


@pytest.mark.parametrize("system_id", ["sbs", "91331246_sbs", "abcdefghi_sbs", "913312465"])
def test_system_user_without_vendor_prefix(system_id: str) -> None:
    user = SystemUser(id=str(UUID(int=1)), system_id=system_id, org_number="950474084")
    assert user.supplier_org_number is None


def test_system_user_id_must_be_a_uuid() -> None:
    with pytest.raises(ValidationError, match="badly formed"):
        SystemUser.model_validate({"Id": "not-a-uuid", "SystemId": "x", "OrgNumber": "950474084"})


def test_service_owner_from_altinn_orgs_entry() -> None:
    owner = ServiceOwner.model_validate(
        {
            "org": "ttd",
            "name": {"nb": "Testdepartementet", "en": "Test Ministry"},
            "logo": "",
            "orgnr": "405003309",
            "homepage": "https://example.com",
            "environments": ["tt02", "production"],
        }
    )
    assert owner.org_number == "405003309"
    assert owner.logo is None
    assert owner.environments == ("tt02", "production")
    assert owner.display_name("en") == "Test Ministry"
    assert owner.display_name("nn") == "Testdepartementet"
    assert owner.to_wire()["orgnr"] == "405003309"


@pytest.mark.parametrize(
    ("names", "expected"),
    [({"se": "Sámi"}, "Sámi"), ({}, "xyz"), ({"nb": ""}, "xyz")],
)
def test_service_owner_display_name_fallbacks(names: dict[str, str], expected: str) -> None:
    assert ServiceOwner(org="xyz", name=names).display_name("en") == expected


def test_blank_org_number_of_service_owner_is_none() -> None:
    assert ServiceOwner.model_validate({"org": "ttd", "orgnr": "  "}).org_number is None
