"""The platform Register and Profile APIs: parties, organisations and user profiles.

Paths, bodies and error families are Altinn's (``Altinn/altinn-register`` ``PartiesController`` and
``OrganizationsController``, ``Altinn/altinn-profile`` ``UsersController``). Altinn guards these with
platform access tokens that only apps and platform components hold; Tinn's callers hold platform
tokens instead, so each endpoint says who may read what (docs/identity.md):

* a party: a service owner any; a user its own and those it may represent (else 401, as Register);
* a lookup by national identity or organisation number: the same rule, and a party the caller may
  not read is reported as not found;
* an organisation (public data from Enhetsregisteret): any authenticated caller;
* a user profile: the user itself or a service owner (else 403).
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tinn.auth.dependencies import require_principal
from tinn.auth.principal import Principal
from tinn.http.errors import (
    PROBLEM_JSON,
    RFC9110_TYPES,
    EmptyError,
    PlainError,
    Problem,
    forbidden,
    framework_problem,
    trace_id,
)
from tinn.http.responses import json_response
from tinn.register.models import Party
from tinn.register.representation import may_read_party
from tinn.services import get_services

router = APIRouter(prefix="/register/api/v1", tags=["Register"])
profile_router = APIRouter(prefix="/profile/api/v1", tags=["Profile"])

Caller = Annotated[Principal, Depends(require_principal)]

_INT32_MAX = 2**31 - 1
_SSN = re.compile(r"[0-9]{11}")
_ORG_NO = re.compile(r"[0-9]{9}")
_LOOKUP_REQUIRED = "Either Ssn or OrgNo is required."
_LOOKUP_EXCLUSIVE = "Only one of Ssn and OrgNo is allowed."
_NO_USER_CLAIM = "Invalid request context. UserId must be provided in claims."


def _validation_problem(request: Request, errors: dict[str, list[str]]) -> Problem:
    return Problem(
        400,
        "One or more validation errors occurred.",
        type=RFC9110_TYPES[400],
        extensions={"errors": errors, "traceId": trace_id(request)},
        media_type=PROBLEM_JSON,
    )


def _int32_route_value(value: int) -> int:
    """ASP.NET's ``:int`` route constraint: a value outside 32 bits matches no route."""
    if value > _INT32_MAX:
        raise EmptyError(404)
    return value


def _party_response(party: Party) -> Response:
    return json_response(party.to_wire())


# --- Parties ----------------------------------------------------------------------------------


@router.get("/parties/{partyId:int}", summary="One party, with its person or organisation")
async def get_party(request: Request, partyId: int, principal: Caller) -> Response:
    party_id = _int32_route_value(partyId)
    register = get_services(request).register
    if not may_read_party(register, principal, party_id):
        raise framework_problem(401, request)
    party = register.party(party_id)
    if party is None:
        raise framework_problem(404, request)
    return _party_response(party)


@router.get("/parties/byuuid/{partyUuid}", summary="One party by its party UUID")
async def get_party_by_uuid(request: Request, partyUuid: str, principal: Caller) -> Response:
    try:
        party_uuid = UUID(partyUuid)
    except ValueError:
        raise EmptyError(404) from None  # ASP.NET's :guid route constraint
    register = get_services(request).register
    party = register.party_by_uuid(party_uuid)
    if party is None:
        # Register checks access before it says "not found", so unknown ids are no oracle.
        if principal.org is None:
            raise framework_problem(401, request)
        raise framework_problem(404, request)
    if not may_read_party(register, principal, party.party_id):
        raise framework_problem(401, request)
    return _party_response(party)


async def _json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise framework_problem(415, request)
    limit = get_services(request).settings.max_json_body_bytes
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise framework_problem(413, request)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise _validation_problem(request, {"": ["A non-empty request body is required."]})
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _validation_problem(
            request,
            {
                "$": ["The request body is not valid JSON."],
                "partyLookup": ["The partyLookup field is required."],
            },
        ) from None


def _lookup_field(request: Request, body: dict[str, Any], name: str) -> str | None:
    """One property of a PartyLookup, matched in any letter case (the last one wins, as STJ)."""
    value: Any = None
    for key, item in body.items():
        if key.lower() == name.lower():
            value = item
    if value is None or isinstance(value, str):
        return value
    raise _validation_problem(
        request,
        {
            f"$.{name}": [f"The JSON value could not be converted to System.String. Path: $.{name}"],
            "partyLookup": ["The partyLookup field is required."],
        },
    )


@router.post("/parties/lookup", summary="The party with a national identity or organisation number")
async def lookup_party(request: Request, principal: Caller) -> Response:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise _validation_problem(
            request,
            {
                "$": ["The JSON value could not be converted to PartyLookup."],
                "partyLookup": ["The partyLookup field is required."],
            },
        )
    ssn = _lookup_field(request, body, "ssn")
    org_no = _lookup_field(request, body, "orgNo")
    errors: dict[str, list[str]] = {}
    if ssn and not _SSN.fullmatch(ssn):
        errors["Ssn"] = ["Value needs to be exactly 11 digits."]
    if org_no and not _ORG_NO.fullmatch(org_no):
        errors["OrgNo"] = ["Value needs to be exactly 9 digits."]
    if not errors:
        if ssn is None and org_no is None:
            errors = {"Ssn": [_LOOKUP_REQUIRED], "OrgNo": [_LOOKUP_REQUIRED]}
        elif ssn is not None and org_no is not None:
            errors = {"OrgNo": [_LOOKUP_EXCLUSIVE]}
    if errors:
        raise _validation_problem(request, errors)
    register = get_services(request).register
    party = register.party_by_org_number(org_no) if org_no is not None else register.party_by_ssn(ssn or "")
    if party is None or not may_read_party(register, principal, party.party_id):
        raise framework_problem(404, request)
    return _party_response(party)


# --- Organisations ----------------------------------------------------------------------------


@router.get("/organizations/{orgNr}", summary="An organisation from Enhetsregisteret")
async def get_organization(request: Request, orgNr: str, principal: Caller) -> Response:
    organization = get_services(request).register.organization(orgNr)
    if organization is None:
        raise framework_problem(404, request)
    return json_response(organization.to_wire())


# --- Profile ----------------------------------------------------------------------------------


def _profile_response(request: Request, user_id: int) -> Response:
    # Profile's controller is not an [ApiController]: a bare NotFound() has no body.
    if user_id == 0:
        raise EmptyError(404)
    profile = get_services(request).register.user(user_id)
    if profile is None:
        raise EmptyError(404)
    return json_response(profile.to_wire())


@profile_router.get("/users/current", summary="The calling user's profile")
async def current_user_profile(request: Request, principal: Caller) -> Response:
    if principal.user_id is None:
        raise PlainError(400, _NO_USER_CLAIM, json=True)
    return _profile_response(request, principal.user_id)


@profile_router.get("/users/{userID:int}", summary="A user's profile (the user itself or a service owner)")
async def user_profile(request: Request, userID: int, principal: Caller) -> Response:
    user_id = _int32_route_value(userID)
    if principal.org is None and principal.user_id != user_id:
        raise forbidden()
    return _profile_response(request, user_id)
