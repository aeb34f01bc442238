"""Register wire models, shaped as Altinn serialises them (camelCase, numeric enums, nulls written).

Reading is as forgiving as Altinn's own readers (System.Text.Json web defaults): property names match
in any letter case, numbers may arrive as strings and unknown properties are ignored. Every model is
immutable.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum
from functools import cache
from typing import Any, ClassVar, Required, TypedDict
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel


@cache
def _key_map(model: type[AltinnModel]) -> dict[str, str]:
    """Lower-cased spelling -> the alias the model validates by."""
    mapping: dict[str, str] = {}
    for name, field in model.model_fields.items():
        alias = field.alias or name
        for spelling in (name, alias, to_camel(name), name.replace("_", "")):
            mapping.setdefault(spelling.lower(), alias)
    for spelling, field_name in model.extra_spellings.items():
        field = model.model_fields[field_name]
        mapping[spelling.lower()] = field.alias or field_name
    return mapping


class AltinnModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
    )

    # Other spellings seen in the wild -> field name (e.g. localtest writes "organisation").
    extra_spellings: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _match_keys_case_insensitively(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        mapping = _key_map(cls)
        matched: dict[str, Any] = {}
        for key, value in data.items():
            canonical = mapping.get(key.lower(), key) if isinstance(key, str) else key
            # Two spellings of one key ("organisation" and "organization"): the first non-null wins.
            if canonical in matched and matched[canonical] is not None:
                continue
            matched[canonical] = value
        return matched

    def to_wire(self) -> dict[str, Any]:
        """The JSON object Altinn would send."""
        return self.model_dump(mode="json", by_alias=True)


class PartyType(IntEnum):
    PERSON = 1
    ORGANISATION = 2
    SELF_IDENTIFIED = 3
    SUB_UNIT = 4
    BANKRUPTCY_ESTATE = 5


class UserType(IntEnum):
    NONE = 0
    SSN_IDENTIFIED = 1
    SELF_IDENTIFIED = 2
    ENTERPRISE_IDENTIFIED = 3
    AGENCY_USER = 4
    PSAN = 5
    PSA = 6


def _enum_from_name(enum: type[IntEnum], value: Any, aliases: dict[str, str]) -> Any:
    """Accept the member name in any case (System.Text.Json's string-enum reader), or a number."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        wanted = text.replace("_", "").lower()
        wanted = aliases.get(wanted, wanted)
        for member in enum:
            if member.name.replace("_", "").lower() == wanted:
                return member
    return value


# Altinn's newer contracts spell it the American way.
_PARTY_TYPE_ALIASES = {"organization": "organisation"}


class Person(AltinnModel):
    ssn: str | None = None
    name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    telephone_number: str | None = None
    mobile_number: str | None = None
    mailing_address: str | None = None
    mailing_postal_code: str | None = None
    mailing_postal_city: str | None = None
    address_municipal_number: str | None = None
    address_municipal_name: str | None = None
    address_street_name: str | None = None
    address_house_number: str | None = None
    address_house_letter: str | None = None
    address_postal_code: str | None = None
    address_city: str | None = None
    date_of_death: datetime | None = None


class Organization(AltinnModel):
    org_number: str | None = None
    name: str | None = None
    unit_type: str | None = None
    telephone_number: str | None = None
    mobile_number: str | None = None
    fax_number: str | None = None
    e_mail_address: str | None = None
    internet_address: str | None = None
    mailing_address: str | None = None
    mailing_postal_code: str | None = None
    mailing_postal_city: str | None = None
    business_address: str | None = None
    business_postal_code: str | None = None
    business_postal_city: str | None = None
    unit_status: str | None = None


class Party(AltinnModel):
    extra_spellings: ClassVar[dict[str, str]] = {"organisation": "organization"}

    party_id: int
    party_uuid: UUID | None = None
    party_type_name: PartyType
    org_number: str | None = None
    ssn: str | None = None
    unit_type: str | None = None
    name: str | None = None
    is_deleted: bool = False
    only_hierarchy_element_with_no_access: bool = False
    person: Person | None = None
    organization: Organization | None = None
    child_parties: tuple[Party, ...] | None = None

    @field_validator("party_type_name", mode="before")
    @classmethod
    def _party_type_by_name(cls, value: Any) -> Any:
        return _enum_from_name(PartyType, value, _PARTY_TYPE_ALIASES)

    @field_validator("party_uuid", mode="before")
    @classmethod
    def _empty_uuid_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class ProfileSettingPreference(AltinnModel):
    language: str | None = None
    pre_selected_party_id: int = 0
    do_not_prompt_for_party: bool = False


class UserProfile(AltinnModel):
    user_id: int
    user_uuid: UUID | None = None
    user_name: str | None = None
    external_identity: str | None = None
    is_reserved: bool = False
    phone_number: str | None = None
    email: str | None = None
    party_id: int
    party: Party | None = None
    user_type: UserType = UserType.NONE
    profile_setting_preference: ProfileSettingPreference | None = None

    @field_validator("user_type", mode="before")
    @classmethod
    def _user_type_by_name(cls, value: Any) -> Any:
        return _enum_from_name(UserType, value, {})

    @field_validator("user_uuid", mode="before")
    @classmethod
    def _empty_uuid_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class Role(AltinnModel):
    """One entry of localtest's ``roles.json``: ``{"Type": "altinn", "value": "DAGL"}``."""

    type: str = "altinn"
    value: str


class RoleAssignment(AltinnModel):
    """The roles one user holds for one party (``authorization/roles/User_{userId}/party_{partyId}``)."""

    user_id: int
    party_id: int
    roles: tuple[Role, ...]


class CustomClaim(AltinnModel):
    """An extra token claim for a test user (``authorization/claims/{userId}.json``)."""

    type: str
    value: str
    value_type: str = "http://www.w3.org/2001/XMLSchema#string"


class RegisteredSystem(AltinnModel):
    """A vendor system in the system register (``authorization/systems/{systemId}/system.json``)."""

    id: str
    name: str | None = None
    client_id: str | None = None


class SystemUser(AltinnModel):
    """A system user: a vendor system acting for a customer organisation with the given rights."""

    # Older localtest versions wrote the customer and the rights under these names.
    extra_spellings: ClassVar[dict[str, str]] = {"partyorgno": "org_number", "apprights": "actions"}

    id: str
    system_id: str
    org_number: str
    actions: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _canonical_uuid(cls, value: str) -> str:
        return str(UUID(value))

    @property
    def supplier_org_number(self) -> str | None:
        """The vendor's organisation number, the prefix of a system id such as ``913312465_sbs``."""
        prefix, sep, _ = self.system_id.partition("_")
        return prefix if sep and len(prefix) == 9 and prefix.isascii() and prefix.isdigit() else None


class ServiceOwner(AltinnModel):
    """One entry of Altinn's service-owner list (``altinn-orgs.json``), keyed by its org code."""

    org: str
    name: Mapping[str, str] = Field(default_factory=dict)
    logo: str | None = None
    org_number: str | None = Field(default=None, alias="orgnr")
    homepage: str | None = None
    environments: tuple[str, ...] = ()

    @field_validator("org_number", "logo", "homepage", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    def display_name(self, language: str = "nb") -> str:
        """The name in ``language``, falling back to Bokmål, English, any name, then the org code."""
        for lang in (language, "nb", "en"):
            if self.name.get(lang):
                return self.name[lang]
        return next((text for text in self.name.values() if text), self.org)


class InstanceOwnerRef(TypedDict, total=False):
    """The ``instanceOwner`` object the App API writes for a looked-up party (notes 4.4)."""

    partyId: Required[str]
    personNumber: str
    organisationNumber: str
    username: str
    externalIdentifier: str
