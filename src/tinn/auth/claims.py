"""Claim sets of the platform tokens Tinn issues, shaped as Altinn's (platform notes 5.3).

Person tokens carry the Altinn user (``urn:altinn:userid``, ``urn:altinn:partyid``, ...) next to
the ID-porten claims; organisation tokens carry ``urn:altinn:orgNumber`` (capital N) and, for a
service owner only, ``urn:altinn:org``; system-user tokens carry Maskinporten's
``authorization_details`` of type ``urn:altinn:systemuser``. The builders return plain dicts in
the claim order Altinn writes; :class:`tinn.auth.tokens.TokenService` adds ``iss``/``iat``/``nbf``/``exp``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from tinn.auth.tokens import new_id

# Claim types (AltinnCoreClaimTypes).
NAME_ID = "nameid"
USER_ID = "urn:altinn:userid"
USERNAME = "urn:altinn:username"
PARTY_ID = "urn:altinn:partyid"
PARTY_UUID = "urn:altinn:party:uuid"
AUTHENTICATE_METHOD = "urn:altinn:authenticatemethod"
AUTH_LEVEL = "urn:altinn:authlevel"
ORG = "urn:altinn:org"
ORG_NUMBER = "urn:altinn:orgNumber"
SCOPE = "scope"
ALTINN_SCOPE = "urn:altinn:scope"
AUTHORIZATION_DETAILS = "authorization_details"
CONSUMER = "consumer"

BEARER = "Bearer"
SYSTEM_USER_TYPE = "urn:altinn:systemuser"
ORG_AUTHORITY = "iso6523-actorid-upis"
NORWEGIAN_ORG_PREFIX = "0192:"

# ID-porten's acr values and the Altinn authentication level each maps to.
ACR_LOW = "idporten-loa-low"
ACR_SUBSTANTIAL = "idporten-loa-substantial"
ACR_HIGH = "idporten-loa-high"
_ACR_LEVELS = {ACR_LOW: 0, ACR_SUBSTANTIAL: 3, ACR_HIGH: 4}

# Scopes a token gets when the caller names none.
DEFAULT_PERSON_SCOPE = "altinn:instances.read altinn:instances.write"
DEFAULT_ORG_SCOPE = "altinn:instances.read altinn:instances.write"
DEFAULT_SERVICE_OWNER_SCOPE = "altinn:serviceowner/instances.read altinn:serviceowner/instances.write"
PORTAL_SCOPE = "altinn:portal/enduser"

_ORG_NUMBER = re.compile(r"^[0-9]{9}$")
_PID = re.compile(r"^[0-9]{11}$")


def is_org_number(value: object) -> bool:
    return isinstance(value, str) and _ORG_NUMBER.fullmatch(value) is not None


def is_pid(value: object) -> bool:
    return isinstance(value, str) and _PID.fullmatch(value) is not None


def consumer(org_number: str) -> dict[str, str]:
    """Maskinporten's ``consumer``/``supplier``/``systemuser_org`` shape for a Norwegian org number."""
    return {"authority": ORG_AUTHORITY, "ID": NORWEGIAN_ORG_PREFIX + org_number}


def org_number_from(value: object) -> str | None:
    """The 9-digit org number of a ``{"authority": "iso6523-actorid-upis", "ID": "0192:<orgno>"}``."""
    if not isinstance(value, Mapping):
        return None
    if value.get("authority") != ORG_AUTHORITY:
        return None
    identifier = value.get("ID")
    if not isinstance(identifier, str) or not identifier.startswith(NORWEGIAN_ORG_PREFIX):
        return None
    number = identifier[len(NORWEGIAN_ORG_PREFIX) :]
    return number if is_org_number(number) else None


def scope_string(scopes: str | Iterable[str]) -> str:
    """Scopes as the space-separated claim value (commas accepted as separators too)."""
    items = scopes.replace(",", " ").split() if isinstance(scopes, str) else list(scopes)
    return " ".join(dict.fromkeys(item for item in items if item))


def auth_level_from_acr(acr: str) -> int:
    """Altinn's mapping: low → 0, substantial → 3, high → 4, anything else → its last character."""
    if acr in _ACR_LEVELS:
        return _ACR_LEVELS[acr]
    last = acr[-1:]
    if not (last.isascii() and last.isdigit()):
        raise ValueError(f"acr {acr!r} does not name an authentication level")
    return int(last)


def acr_for_level(level: int) -> str:
    """The acr an ID-porten-like issuer writes for ``level`` (legacy ``LevelN`` for 1 and 2)."""
    for acr, mapped in _ACR_LEVELS.items():
        if mapped == level:
            return acr
    if 0 <= level <= 4:
        return f"Level{level}"
    raise ValueError(f"authentication level {level} is not 0-4")


def first_amr(amr: object) -> str | None:
    """The first authentication method of an ``amr`` claim (a list, or a lone string)."""
    if isinstance(amr, str):
        return amr or None
    if isinstance(amr, list) and amr and isinstance(amr[0], str) and amr[0]:
        return amr[0]
    return None


# Upstream claims that never pass into a platform token: the issuer's own envelope, and every
# claim Altinn owns (an upstream token must not be able to name an Altinn user or org).
_NOT_COPIED = frozenset({"iss", "aud", "iat", "nbf", "exp", "sid", NAME_ID})


def _copy_upstream(claims: dict[str, Any], extra: Mapping[str, Any] | None) -> None:
    for name, value in (extra or {}).items():
        if name in _NOT_COPIED or name.startswith("urn:altinn:"):
            continue
        claims.setdefault(name, value)


def person_claims(
    *,
    user_id: int,
    username: str | None,
    party_id: int,
    party_uuid: UUID | str | None,
    auth_level: int,
    auth_method: str,
    pid: str | None = None,
    acr: str | None = None,
    amr: list[str] | None = None,
    scope: str | None = DEFAULT_PERSON_SCOPE,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A person's token, as the ID-porten exchange writes it.

    ``extra`` holds the upstream claims copied through (the exchange passes the ID-porten token's
    claims here, minus its envelope and any ``urn:altinn:`` claim); then ``pid``,
    ``acr``, ``amr`` and ``scope`` unless upstream had them, a ``jti`` unless upstream had one,
    and a new ``sid``.
    """
    claims: dict[str, Any] = {
        NAME_ID: str(user_id),
        USER_ID: str(user_id),
        USERNAME: username or "",
        PARTY_ID: party_id,
    }
    if party_uuid is not None:
        claims[PARTY_UUID] = str(party_uuid)
    claims[AUTHENTICATE_METHOD] = auth_method
    claims[AUTH_LEVEL] = auth_level
    _copy_upstream(claims, extra)
    for name, value in (("pid", pid), ("acr", acr), ("amr", amr), (SCOPE, scope)):
        if value is not None:
            claims.setdefault(name, value)
    claims.setdefault("jti", new_id())
    claims["sid"] = new_id()
    return claims


def self_identified_claims(
    *,
    user_id: int,
    username: str,
    party_id: int,
    party_uuid: UUID | str | None,
    scope: str = PORTAL_SCOPE,
    auth_method: str = "SelfIdentified",
) -> dict[str, Any]:
    """A self-identified user (username/password, authentication level 0), as the Altinn portal writes it."""
    claims: dict[str, Any] = {
        NAME_ID: str(user_id),
        USER_ID: str(user_id),
        USERNAME: username,
        PARTY_ID: party_id,
    }
    if party_uuid is not None:
        claims[PARTY_UUID] = str(party_uuid)
    claims[AUTHENTICATE_METHOD] = auth_method
    claims[AUTH_LEVEL] = 0
    claims["jti"] = new_id()
    claims[SCOPE] = scope
    claims["sid"] = new_id()
    return claims


def organisation_claims(
    *,
    org_number: str,
    org: str | None = None,
    scope: str | None = None,
    client_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
    auth_method: str = "maskinporten",
) -> dict[str, Any]:
    """An organisation's token, as the Maskinporten exchange writes it.

    ``org`` (the service-owner code) makes it a service-owner token; the exchange passes it only
    when a scope contains ``altinn:serviceowner`` and the org number is a known service owner.
    ``extra`` holds the Maskinporten claims copied through.
    """
    claims: dict[str, Any] = {}
    if scope is None and not (extra and SCOPE in extra):
        scope = DEFAULT_SERVICE_OWNER_SCOPE if org else DEFAULT_ORG_SCOPE
    if scope is not None:
        claims[SCOPE] = scope
        claims["token_type"] = BEARER
    if client_id is not None:
        claims["client_id"] = client_id
    claims[CONSUMER] = consumer(org_number)
    _copy_upstream(claims, extra)
    if org:
        claims[ORG] = org
    claims[ORG_NUMBER] = org_number
    claims[AUTHENTICATE_METHOD] = auth_method
    claims[AUTH_LEVEL] = 3
    claims.setdefault("jti", new_id())
    claims["sid"] = new_id()
    return claims


def system_user_details(
    *,
    system_user_id: str,
    system_user_org_number: str,
    system_id: str,
    external_ref: str | None = None,
) -> list[dict[str, Any]]:
    """Maskinporten's ``authorization_details`` for a system user (the array form)."""
    details: dict[str, Any] = {
        "type": SYSTEM_USER_TYPE,
        "systemuser_id": [system_user_id],
        "systemuser_org": consumer(system_user_org_number),
        "system_id": system_id,
    }
    if external_ref:
        details["externalRef"] = external_ref
    return [details]


def system_user_claims(
    *,
    system_user_id: str,
    system_user_org_number: str,
    system_id: str,
    vendor_org_number: str,
    scope: str = DEFAULT_ORG_SCOPE,
    client_id: str | None = None,
    external_ref: str | None = None,
) -> dict[str, Any]:
    """A system user's token: the vendor in ``consumer``/``urn:altinn:orgNumber``, the customer in
    ``authorization_details[0].systemuser_org``."""
    extra = {
        AUTHORIZATION_DETAILS: system_user_details(
            system_user_id=system_user_id,
            system_user_org_number=system_user_org_number,
            system_id=system_id,
            external_ref=external_ref,
        )
    }
    return organisation_claims(org_number=vendor_org_number, scope=scope, client_id=client_id, extra=extra)


def system_user_entry(value: object) -> Mapping[str, Any] | None:
    """The ``urn:altinn:systemuser`` entry of an ``authorization_details`` claim (array or object form)."""
    entries = value if isinstance(value, list) else [value]
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("type") == SYSTEM_USER_TYPE:
            return entry
    return None


def system_user_id_of(entry: Mapping[str, Any]) -> str | None:
    """``systemuser_id[0]`` as a canonical UUID (a lone string is accepted too)."""
    ids = entry.get("systemuser_id")
    first = ids[0] if isinstance(ids, list) and ids else ids
    if not isinstance(first, str):
        return None
    try:
        return str(UUID(first))
    except ValueError:
        return None
