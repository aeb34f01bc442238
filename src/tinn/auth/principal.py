"""Who is calling: a verified token's claims, classified as the App API classifies them (app notes 0.2).

Classification, first match wins:

* ``SystemUser``: ``authorization_details`` holds a ``urn:altinn:systemuser`` entry with a system-user id;
* ``ServiceOwner``: ``urn:altinn:org`` (only service owners get it: Maskinporten with an
  ``altinn:serviceowner`` scope);
* ``Org``: ``urn:altinn:orgNumber`` without ``urn:altinn:org``;
* ``SelfIdentifiedUser``: ``urn:altinn:userid`` + ``urn:altinn:partyid`` at authentication level 0;
* ``User``: ``urn:altinn:userid`` + ``urn:altinn:partyid``.

Anything else is not a caller Tinn serves (:class:`PrincipalError`, a 401 at the edge).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tinn.auth import claims as c
from tinn.auth.tokens import is_number

# Subject attribute ids Altinn's PEP (DecisionHelper) writes.
XACML_USER_ID = "urn:altinn:userid"
XACML_PERSON_UUID = "urn:altinn:person:uuid"
XACML_PARTY_ID = "urn:altinn:partyid"
XACML_RESOURCE = "urn:altinn:resource"
XACML_SYSTEM_USER = "urn:altinn:systemuser:uuid"
XACML_ORG_NUMBER_LEGACY = "urn:altinn:organizationnumber"
XACML_ORG_NUMBER = "urn:altinn:organization:identifier-no"
XACML_SCOPE = "urn:scope"
XACML_SESSION_ID = "urn:altinn:sessionid"
XACML_ROLE = "urn:altinn:rolecode"


class PrincipalKind(StrEnum):
    USER = "User"
    SELF_IDENTIFIED = "SelfIdentifiedUser"
    SERVICE_OWNER = "ServiceOwner"
    ORG = "Org"
    SYSTEM_USER = "SystemUser"


class PrincipalError(ValueError):
    """A correctly signed token that names no caller Tinn can serve."""


def _int_claim(claims: Mapping[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        raise PrincipalError(f"{name} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise PrincipalError(f"{name} is not a number")


def _str_claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if is_number(value):
        return str(value)
    raise PrincipalError(f"{name} is not a string")


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _scopes(claims: Mapping[str, Any]) -> tuple[str, frozenset[str]]:
    raw = [value for name in (c.SCOPE, c.ALTINN_SCOPE) if isinstance(value := claims.get(name), str)]
    text = " ".join(raw)
    return text, frozenset(text.split())


def _xacml_values(value: Any) -> list[str]:
    """Claim value(s) as XACML strings, as .NET's claim values read."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, str):
        return [value]
    if is_number(value):
        return [str(value)]
    if isinstance(value, list):
        return [v for item in value for v in _xacml_values(item) if not isinstance(item, list | dict)]
    return []


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    kind: PrincipalKind
    auth_level: int
    auth_method: str | None = None
    scopes: frozenset[str] = frozenset()
    # The scope claim as written, for Storage's case-insensitive substring checks.
    scope: str = ""
    user_id: int | None = None
    party_id: int | None = None
    party_uuid: str | None = None
    pid: str | None = None
    username: str | None = None
    # Service-owner code (`urn:altinn:org`), e.g. "ttd".
    org: str | None = None
    # `urn:altinn:orgNumber`; for a system user the vendor (from `consumer` if need be).
    org_number: str | None = None
    system_user_id: str | None = None
    # The customer the system user acts for (`systemuser_org`).
    system_user_org_number: str | None = None
    system_id: str | None = None
    token_id: str | None = None
    client_id: str | None = None
    issuer: str | None = None
    expires: datetime | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    token: str = field(default="", repr=False, compare=False)

    # Construction ------------------------------------------------------------------------

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], token: str = "") -> Principal:
        scope, scopes = _scopes(claims)
        common: dict[str, Any] = {
            "scope": scope,
            "scopes": scopes,
            "auth_method": _str_claim(claims, c.AUTHENTICATE_METHOD),
            "token_id": _str_claim(claims, "jti"),
            "client_id": _str_claim(claims, "client_id"),
            "issuer": _str_claim(claims, "iss"),
            "expires": _timestamp(claims.get("exp")),
            "claims": MappingProxyType(dict(claims)),
            "token": token,
        }
        auth_level = _int_claim(claims, c.AUTH_LEVEL)
        if auth_level is not None and not 0 <= auth_level <= 4:
            raise PrincipalError(f"authentication level {auth_level} is not 0-4")
        # Only `urn:altinn:orgNumber` makes an organisation: person tokens carry the client's `consumer` too.
        org_number = _str_claim(claims, c.ORG_NUMBER) or None
        org = _str_claim(claims, c.ORG) or None

        entry = c.system_user_entry(claims.get(c.AUTHORIZATION_DETAILS))
        system_user_id = c.system_user_id_of(entry) if entry is not None else None
        if entry is not None and system_user_id is not None:
            customer = c.org_number_from(entry.get("systemuser_org"))
            if customer is None:
                raise PrincipalError("system user without a valid systemuser_org")
            system_id = entry.get("system_id")
            return cls(
                kind=PrincipalKind.SYSTEM_USER,
                # Raw Maskinporten system-user tokens carry no level; Altinn's exchange writes 3.
                auth_level=3 if auth_level is None else auth_level,
                org=org,
                org_number=org_number or c.org_number_from(claims.get(c.CONSUMER)),
                system_user_id=system_user_id,
                system_user_org_number=customer,
                system_id=system_id if isinstance(system_id, str) else None,
                **common,
            )
        if org is not None or org_number is not None:
            if org_number is None:
                raise PrincipalError("service owner without an org number")
            if auth_level is None:
                raise PrincipalError("organisation without an authentication level")
            return cls(
                kind=PrincipalKind.SERVICE_OWNER if org is not None else PrincipalKind.ORG,
                auth_level=auth_level,
                org=org,
                org_number=org_number,
                **common,
            )
        user_id = _int_claim(claims, c.USER_ID)
        party_id = _int_claim(claims, c.PARTY_ID)
        if user_id is None or party_id is None:
            raise PrincipalError("token names no user, organisation or system user")
        if auth_level is None:
            raise PrincipalError("user without an authentication level")
        return cls(
            kind=PrincipalKind.SELF_IDENTIFIED if auth_level == 0 else PrincipalKind.USER,
            auth_level=auth_level,
            user_id=user_id,
            party_id=party_id,
            party_uuid=_str_claim(claims, c.PARTY_UUID),
            pid=_str_claim(claims, "pid"),
            username=_str_claim(claims, c.USERNAME) or None,
            **common,
        )

    # Questions -----------------------------------------------------------------------

    @property
    def is_user(self) -> bool:
        """A person (ID-porten or self-identified): Storage's "end user" class."""
        return self.kind in (PrincipalKind.USER, PrincipalKind.SELF_IDENTIFIED)

    @property
    def is_system_user(self) -> bool:
        return self.kind is PrincipalKind.SYSTEM_USER

    @property
    def performed_by(self) -> str:
        """Who Storage records as ``createdBy``/``lastChangedBy`` (platform notes 1.1).

        The user id, else the system user's owner (customer) org number, else ``urn:altinn:orgNumber``.
        """
        if self.user_id is not None:
            return str(self.user_id)
        if self.system_user_org_number is not None:
            return self.system_user_org_number
        return self.org_number or ""

    def has_scope(self, scope: str, *, prefix: bool = False) -> bool:
        """Whether a scope equals ``scope`` (or, with ``prefix``, starts with it); case-insensitive.

        ``has_scope("altinn:serviceowner", prefix=True)`` is Storage's service-owner mode test.
        """
        wanted = scope.casefold()
        if prefix:
            return any(s.casefold().startswith(wanted) for s in self.scopes)
        return any(s.casefold() == wanted for s in self.scopes)

    def is_service_owner_of(self, org: str) -> bool:
        """Whether the token's ``urn:altinn:org`` is ``org`` (Storage's "app owner" test)."""
        return self.org is not None and self.org == org

    def platform_user(self) -> dict[str, Any]:
        """Storage's ``PlatformUser`` for instance events (``None`` where the caller has no such id).

        As Altinn fills it: ``orgId`` is the service-owner code, ``nationalIdentityNumber`` the
        person's pid, ``systemUserOwnerOrgNo`` the customer a system user acts for.
        """
        return {
            "userId": self.user_id,
            "orgId": self.org,
            "authenticationLevel": self.auth_level,
            "endUserSystemId": None,
            "nationalIdentityNumber": self.pid if self.is_user else None,
            "systemUserId": self.system_user_id,
            "systemUserOwnerOrgNo": self.system_user_org_number,
            "systemUserName": None,
        }

    def xacml_subject(self, roles: Iterable[str] = ()) -> dict[str, tuple[str, ...]]:
        """Subject attributes for the PDP, as Altinn's PEP builds them (platform notes 6.2).

        Every ``urn:`` claim, ``scope`` as ``urn:scope`` and ``jti`` as ``urn:altinn:sessionid``;
        of the identities only one is kept: person uuid › user id › party id › resource › system
        user (which then replaces every other attribute) › org number (``urn:altinn:orgNumber``
        becomes ``urn:altinn:organization:identifier-no`` plus the legacy
        ``urn:altinn:organizationnumber``). ``roles`` (the caller's role codes for the resource
        party) are added as ``urn:altinn:rolecode``.
        """
        attributes: dict[str, list[str]] = {}

        def add(attribute_id: str, values: Iterable[str]) -> None:
            for value in values:
                attributes.setdefault(attribute_id, []).append(value)

        person_uuid: list[str] | None = None
        user_id: list[str] | None = None
        party_id: list[str] | None = None
        resource: list[str] | None = None
        system_user: list[str] | None = None
        legacy_org_number: list[str] | None = None
        org_number: list[str] | None = None
        for name, value in self.claims.items():
            if name == c.ORG_NUMBER:
                legacy_org_number = org_number = _xacml_values(value)
            elif name == c.SCOPE:
                add(XACML_SCOPE, _xacml_values(value))
            elif name == "jti":
                add(XACML_SESSION_ID, _xacml_values(value))
            elif name == c.AUTHORIZATION_DETAILS:
                entry = c.system_user_entry(value)
                identifier = c.system_user_id_of(entry) if entry is not None else None
                if identifier is not None:
                    system_user = [identifier]
            elif name == c.USER_ID:
                user_id = _xacml_values(value)
            elif name == XACML_PERSON_UUID:
                person_uuid = _xacml_values(value)
            elif name == c.PARTY_ID:
                party_id = _xacml_values(value)
            elif name == XACML_RESOURCE:
                resource = _xacml_values(value)
            elif name == XACML_ORG_NUMBER:
                # The new spelling wins over the legacy claim, so the two cannot disagree.
                org_number = _xacml_values(value)
                legacy_org_number = None
            elif name.startswith("urn:"):
                add(name, _xacml_values(value))

        if person_uuid:
            add(XACML_PERSON_UUID, person_uuid)
        elif user_id:
            add(XACML_USER_ID, user_id)
        elif party_id:
            add(XACML_PARTY_ID, party_id)
        elif resource:
            add(XACML_RESOURCE, resource)
        elif system_user:
            attributes.clear()
            add(XACML_SYSTEM_USER, system_user)
        elif legacy_org_number:
            add(XACML_ORG_NUMBER_LEGACY, legacy_org_number)
            add(XACML_ORG_NUMBER, org_number or legacy_org_number)
        elif org_number:
            add(XACML_ORG_NUMBER, org_number)
        add(XACML_ROLE, dict.fromkeys(roles))
        return {attribute_id: tuple(values) for attribute_id, values in attributes.items()}
