"""Principals: classification (app notes 0.2), performed_by, scopes, PlatformUser and the PDP subject."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinn.auth import claims as c
from tinn.auth.principal import Principal, PrincipalError, PrincipalKind

SYSTEM_USER_ID = "d111dbab-d619-4f15-bf29-58fe570a9ae6"

# Claim sets shaped as Altinn writes them (platform notes 5.3, app-lib's recorded tokens).
PERSON = {
    "nameid": "1337",
    "urn:altinn:userid": "1337",
    "urn:altinn:username": "",
    "urn:altinn:partyid": 501337,
    "urn:altinn:party:uuid": "e9dd7d91-32d8-4933-a108-07562762d572",
    "urn:altinn:authenticatemethod": "BankID",
    "urn:altinn:authlevel": 3,
    "acr": "idporten-loa-substantial",
    "scope": "altinn:instances.read openid",
    "pid": "01039012345",
    # ID-porten copies the client's consumer through; it must not make the person an organisation.
    "consumer": {"authority": "iso6523-actorid-upis", "ID": "0192:991825827"},
    "jti": "b1c6f0e2-3c8d-4a0e-9a53-2f0f7e5b6d11",
    "exp": 1_900_000_000,
}
SELF_IDENTIFIED = {
    "nameid": "1004",
    "urn:altinn:userid": "1004",
    "urn:altinn:username": "SelvRegistrert",
    "urn:altinn:partyid": 510004,
    "urn:altinn:authenticatemethod": "SelfIdentified",
    "urn:altinn:authlevel": 0,
    "scope": "altinn:portal/enduser",
}
SERVICE_OWNER = {
    "scope": "altinn:serviceowner/instances.read altinn:serviceowner/instances.write",
    "client_id": "044f5040-54e3-4a27-a221-a8514fd30ca9",
    "consumer": {"authority": "iso6523-actorid-upis", "ID": "0192:405003309"},
    "urn:altinn:org": "ttd",
    "urn:altinn:orgNumber": "405003309",
    "urn:altinn:authenticatemethod": "maskinporten",
    "urn:altinn:authlevel": 3,
    "jti": "1f7de01a-82b3-477b-82d3-0bcb94938ec7",
}
ORG = {
    "scope": "altinn:instances.read altinn:instances.write",
    "consumer": {"authority": "iso6523-actorid-upis", "ID": "0192:950474084"},
    "urn:altinn:orgNumber": "950474084",
    "urn:altinn:authenticatemethod": "maskinporten",
    "urn:altinn:authlevel": 3,
}
SYSTEM_USER = {
    "scope": "altinn:instances.read altinn:instances.write",
    "consumer": {"authority": "iso6523-actorid-upis", "ID": "0192:913312465"},
    "authorization_details": [
        {
            "type": "urn:altinn:systemuser",
            "systemuser_id": [SYSTEM_USER_ID],
            "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": "0192:950474084"},
            "system_id": "913312465_sbs",
        }
    ],
    "urn:altinn:orgNumber": "913312465",
    "urn:altinn:authenticatemethod": "maskinporten",
    "urn:altinn:authlevel": 3,
    "jti": "23b08193-595e-41aa-b852-9f700e0428c2",
}
# Old localtest org tokens: `urn:altinn:scope` instead of `scope`, no authentication method.
LOCALTEST_ORG = {
    "urn:altinn:org": "skd",
    "urn:altinn:authlevel": 3,
    "urn:altinn:scope": "altinn:serviceowner/instances.write altinn:serviceowner/instances.read",
    "urn:altinn:orgNumber": "974761076",
}


@pytest.mark.parametrize(
    ("claims", "kind"),
    [
        (PERSON, PrincipalKind.USER),
        (SELF_IDENTIFIED, PrincipalKind.SELF_IDENTIFIED),
        (SERVICE_OWNER, PrincipalKind.SERVICE_OWNER),
        (LOCALTEST_ORG, PrincipalKind.SERVICE_OWNER),
        (ORG, PrincipalKind.ORG),
        (SYSTEM_USER, PrincipalKind.SYSTEM_USER),
        # Altinn's exchange writes the single-object form too.
        (
            {**SYSTEM_USER, "authorization_details": SYSTEM_USER["authorization_details"][0]},
            PrincipalKind.SYSTEM_USER,
        ),
        # A raw Maskinporten system-user token: no Altinn claims, level defaults to 3.
        (
            {k: v for k, v in SYSTEM_USER.items() if not k.startswith("urn:")},
            PrincipalKind.SYSTEM_USER,
        ),
        # TestTools writes ids as numbers and the level as a string.
        ({**PERSON, "urn:altinn:userid": 1337, "urn:altinn:authlevel": "4"}, PrincipalKind.USER),
    ],
)
def test_classification(claims: dict[str, Any], kind: PrincipalKind) -> None:
    assert Principal.from_claims(claims).kind is kind


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"pid": "01039012345", "acr": "idporten-loa-substantial"},  # a raw ID-porten token
        {"urn:altinn:userid": "1337", "urn:altinn:authlevel": 3},  # no party
        {"urn:altinn:userid": "1337", "urn:altinn:partyid": 501337},  # no level
        {**PERSON, "urn:altinn:authlevel": 7},
        {**PERSON, "urn:altinn:userid": "13x7"},
        {**PERSON, "urn:altinn:partyid": True},
        {**ORG, "urn:altinn:authlevel": None},
        {"urn:altinn:org": "ttd", "urn:altinn:authlevel": 3},  # service owner without number
        {
            **SYSTEM_USER,
            "authorization_details": [{**SYSTEM_USER["authorization_details"][0], "systemuser_org": {}}],
        },
    ],
)
def test_unclassifiable_claims_are_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(PrincipalError):
        Principal.from_claims(claims)


def test_fields_of_each_kind() -> None:
    person = Principal.from_claims(PERSON, "tok")
    assert (person.user_id, person.party_id, person.pid, person.auth_level) == (
        1337,
        501337,
        "01039012345",
        3,
    )
    assert person.party_uuid == "e9dd7d91-32d8-4933-a108-07562762d572"
    assert person.username is None  # Altinn writes "" for users without one
    assert (person.auth_method, person.token_id, person.token) == ("BankID", PERSON["jti"], "tok")
    assert person.org_number is None and person.is_user
    assert person.expires is not None and int(person.expires.timestamp()) == 1_900_000_000

    owner = Principal.from_claims(SERVICE_OWNER)
    assert (owner.org, owner.org_number, owner.client_id) == ("ttd", "405003309", SERVICE_OWNER["client_id"])

    system_user = Principal.from_claims(SYSTEM_USER)
    assert system_user.system_user_id == SYSTEM_USER_ID
    assert system_user.system_user_org_number == "950474084"
    assert system_user.org_number == "913312465"  # the vendor
    assert system_user.system_id == "913312465_sbs"
    assert system_user.is_system_user and not system_user.is_user


@pytest.mark.parametrize(
    ("claims", "performed_by"),
    [
        (PERSON, "1337"),
        (SELF_IDENTIFIED, "1004"),
        (SYSTEM_USER, "950474084"),  # the customer the system user acts for, not the vendor
        (SERVICE_OWNER, "405003309"),
        (ORG, "950474084"),
    ],
)
def test_performed_by(claims: dict[str, Any], performed_by: str) -> None:
    assert Principal.from_claims(claims).performed_by == performed_by


def test_scopes() -> None:
    owner = Principal.from_claims(SERVICE_OWNER)
    assert owner.has_scope("altinn:serviceowner/instances.read")
    assert owner.has_scope("ALTINN:ServiceOwner/Instances.Read")
    assert not owner.has_scope("altinn:serviceowner")
    assert owner.has_scope("altinn:serviceowner", prefix=True)
    assert not Principal.from_claims(ORG).has_scope("altinn:serviceowner", prefix=True)
    assert Principal.from_claims(LOCALTEST_ORG).has_scope("altinn:serviceowner/instances.read")
    assert owner.scope == SERVICE_OWNER["scope"]


def test_is_service_owner_of() -> None:
    owner = Principal.from_claims(SERVICE_OWNER)
    assert owner.is_service_owner_of("ttd")
    assert not owner.is_service_owner_of("skd")
    assert not owner.is_service_owner_of("TTD")
    assert not Principal.from_claims(ORG).is_service_owner_of("ttd")


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (PERSON, {"userId": 1337, "authenticationLevel": 3, "nationalIdentityNumber": "01039012345"}),
        (SERVICE_OWNER, {"orgId": "ttd", "authenticationLevel": 3}),
        (ORG, {"authenticationLevel": 3}),
        (
            SYSTEM_USER,
            {"authenticationLevel": 3, "systemUserId": SYSTEM_USER_ID, "systemUserOwnerOrgNo": "950474084"},
        ),
    ],
)
def test_platform_user(claims: dict[str, Any], expected: dict[str, Any]) -> None:
    user = Principal.from_claims(claims).platform_user()
    assert list(user) == [
        "userId",
        "orgId",
        "authenticationLevel",
        "endUserSystemId",
        "nationalIdentityNumber",
        "systemUserId",
        "systemUserOwnerOrgNo",
        "systemUserName",
    ]
    assert {k: v for k, v in user.items() if v is not None} == expected


def test_xacml_subject_of_a_person_keeps_the_user_id_only() -> None:
    subject = Principal.from_claims(PERSON).xacml_subject(["PRIV", "DAGL", "PRIV"])
    assert subject == {
        "urn:altinn:username": ("",),
        "urn:altinn:party:uuid": ("e9dd7d91-32d8-4933-a108-07562762d572",),
        "urn:altinn:authenticatemethod": ("BankID",),
        "urn:altinn:authlevel": ("3",),
        "urn:scope": ("altinn:instances.read openid",),
        "urn:altinn:sessionid": (PERSON["jti"],),
        "urn:altinn:userid": ("1337",),
        "urn:altinn:rolecode": ("PRIV", "DAGL"),
    }


def test_xacml_subject_person_uuid_wins_over_user_id() -> None:
    subject = Principal.from_claims({**PERSON, "urn:altinn:person:uuid": "p-uuid"}).xacml_subject()
    assert subject["urn:altinn:person:uuid"] == ("p-uuid",)
    assert "urn:altinn:userid" not in subject and "urn:altinn:partyid" not in subject


def test_xacml_subject_of_a_system_user_is_the_system_user_alone() -> None:
    subject = Principal.from_claims(SYSTEM_USER).xacml_subject()
    assert subject == {"urn:altinn:systemuser:uuid": (SYSTEM_USER_ID,)}
    with_roles = Principal.from_claims(SYSTEM_USER).xacml_subject(["read"])
    assert with_roles["urn:altinn:rolecode"] == ("read",)


def test_xacml_subject_of_an_organisation_has_both_number_forms() -> None:
    subject = Principal.from_claims(SERVICE_OWNER).xacml_subject()
    assert subject["urn:altinn:organizationnumber"] == ("405003309",)
    assert subject["urn:altinn:organization:identifier-no"] == ("405003309",)
    assert subject["urn:altinn:org"] == ("ttd",)
    assert "urn:altinn:orgNumber" not in subject
    newer = Principal.from_claims(
        {**ORG, "urn:altinn:organization:identifier-no": "950474084"}
    ).xacml_subject()
    assert newer["urn:altinn:organization:identifier-no"] == ("950474084",)
    assert "urn:altinn:organizationnumber" not in newer


# Claim builders --------------------------------------------------------------------------------


def test_builders_classify_as_their_kind() -> None:
    person = c.person_claims(
        user_id=1337,
        username="SophieDDG",
        party_id=501337,
        party_uuid=None,
        auth_level=3,
        auth_method="BankID",
        pid="01039012345",
        acr=c.ACR_SUBSTANTIAL,
        amr=["BankID"],
    )
    assert Principal.from_claims(person).kind is PrincipalKind.USER
    assert person["nameid"] == person["urn:altinn:userid"] == "1337"
    assert person["jti"] != person["sid"]
    si = c.self_identified_claims(user_id=1004, username="SelvRegistrert", party_id=510004, party_uuid=None)
    assert Principal.from_claims(si).kind is PrincipalKind.SELF_IDENTIFIED
    owner = c.organisation_claims(org_number="405003309", org="ttd")
    assert Principal.from_claims(owner).kind is PrincipalKind.SERVICE_OWNER
    assert owner["scope"] == c.DEFAULT_SERVICE_OWNER_SCOPE
    assert Principal.from_claims(c.organisation_claims(org_number="950474084")).kind is PrincipalKind.ORG
    system_user = c.system_user_claims(
        system_user_id=SYSTEM_USER_ID,
        system_user_org_number="950474084",
        system_id="913312465_sbs",
        vendor_org_number="913312465",
    )
    principal = Principal.from_claims(system_user)
    assert principal.kind is PrincipalKind.SYSTEM_USER
    assert system_user["urn:altinn:orgNumber"] == "913312465"


def test_upstream_claims_cannot_name_altinn_identities() -> None:
    upstream = {
        "scope": "altinn:instances.read",
        "urn:altinn:org": "skd",
        "urn:altinn:userid": "1",
        "nameid": "1",
        "iss": "https://maskinporten.no/",
        "aud": "x",
        "jti": "upstream-jti",
        "sid": "upstream-sid",
    }
    claims = c.organisation_claims(org_number="950474084", extra=upstream)
    assert "urn:altinn:org" not in claims and "urn:altinn:userid" not in claims and "nameid" not in claims
    assert "iss" not in claims and "aud" not in claims
    assert claims["jti"] == "upstream-jti" and claims["sid"] != "upstream-sid"
    assert Principal.from_claims(claims).kind is PrincipalKind.ORG


@pytest.mark.parametrize(
    ("acr", "level"),
    [
        ("idporten-loa-low", 0),
        ("idporten-loa-substantial", 3),
        ("idporten-loa-high", 4),
        ("Level3", 3),
        ("Level2", 2),
    ],
)
def test_auth_level_from_acr(acr: str, level: int) -> None:
    assert c.auth_level_from_acr(acr) == level
    assert c.auth_level_from_acr(c.acr_for_level(level)) == level


@pytest.mark.parametrize("acr", ["", "idporten-loa-unknown", "Level٣"])
def test_acr_without_a_level(acr: str) -> None:
    with pytest.raises(ValueError):
        c.auth_level_from_acr(acr)


@pytest.mark.parametrize(
    ("value", "org_number"),
    [
        ({"authority": "iso6523-actorid-upis", "ID": "0192:991825827"}, "991825827"),
        ({"authority": "iso6523-actorid-upis", "ID": "0192:99182582"}, None),
        ({"authority": "other", "ID": "0192:991825827"}, None),
        ({"authority": "iso6523-actorid-upis", "ID": "9908:991825827"}, None),
        ("0192:991825827", None),
        (None, None),
    ],
)
def test_org_number_from_consumer(value: Any, org_number: str | None) -> None:
    assert c.org_number_from(value) == org_number


_claim_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_claim_names = st.one_of(
    st.sampled_from(
        [
            "urn:altinn:userid",
            "urn:altinn:partyid",
            "urn:altinn:authlevel",
            "urn:altinn:org",
            "urn:altinn:orgNumber",
            "urn:altinn:authenticatemethod",
            "authorization_details",
            "consumer",
            "scope",
            "jti",
            "exp",
            "pid",
        ]
    ),
    st.text(max_size=10),
)


@given(st.dictionaries(_claim_names, _claim_values, max_size=10))
def test_random_claims_classify_or_are_refused(claims: dict[str, Any]) -> None:
    try:
        principal = Principal.from_claims(claims)
    except PrincipalError:
        return
    assert isinstance(principal.performed_by, str)
    principal.xacml_subject(["X"])
    principal.platform_user()
