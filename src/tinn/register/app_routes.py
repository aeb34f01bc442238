"""App API helpers about the caller's parties and profile (app notes 1.12), under ``/{org}/{app}``.

What app-lib's ``PartiesController``, ``AuthorizationController.GetCurrentParty`` and
``ProfileController`` do, over Tinn's register and policy decision point:

* ``GET api/v1/parties[?allowedToInstantiateFilter=true]``: a user's party list (other persons'
  numbers masked); an organisation, service owner or system user gets its one party. The filter
  keeps the parties the app's ``partyTypesAllowed`` admits *and* the app's policy lets the caller
  instantiate for (Altinn applies only the first; the second spares the caller a 403 later).
* ``POST api/v1/parties/validateInstantiation?partyId=`` (obsolete in Altinn, kept for old frontends).
* ``PUT api/v1/parties/{partyId}``: selects the party (cookie ``AltinnPartyId``).
* ``GET api/authorization/parties/current[?returnPartyObject=true]``: the selected party, falling back
  to the user's own party (and resetting the cookie) when the selection is not one they may use.
* ``GET api/v1/profile/user``: the user's profile.

These live in the register context because they are views of the register (parties, profiles and
who represents whom); the only thing they take from ``auth`` is the caller and the PDP.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tinn.appdef.definition import AppDefinition
from tinn.appdef.routes import get_app
from tinn.auth.dependencies import require_principal
from tinn.auth.pdp import ResourceRef
from tinn.auth.principal import Principal, PrincipalKind
from tinn.http.errors import (
    PROBLEM_JSON,
    RFC9110_TYPES,
    TEXT,
    EmptyError,
    PlainError,
    Problem,
    framework_problem,
    trace_id,
)
from tinn.http.responses import json_response
from tinn.register.models import Party
from tinn.register.representation import (
    PARTY_COOKIE,
    can_instantiate_as,
    filter_parties,
    mask_others,
    organisation_party,
    parse_party_id,
    user_details,
)
from tinn.services import Services, get_services

router = APIRouter(prefix="/{org}/{app}", tags=["Parties and profile"])

Caller = Annotated[Principal, Depends(require_principal)]

NOT_REPRESENTED = "The user does not represent the supplied party"
NOT_ALLOWED = "The supplied party is not allowed to instantiate the application"
PARTY_UPDATED = "Party successfully updated"


def _query(request: Request, name: str) -> str | None:
    """A query parameter by name in any letter case, as ASP.NET binds it (first value wins)."""
    wanted = name.lower()
    for key, value in request.query_params.multi_items():
        if key.lower() == wanted:
            return value
    return None


def _binding_problem(request: Request, name: str, raw: str) -> Problem:
    message = f"The value '{raw}' is invalid." if raw == "" else f"The value '{raw}' is not valid."
    return Problem(
        400,
        "One or more validation errors occurred.",
        type=RFC9110_TYPES[400],
        extensions={"errors": {name: [message]}, "traceId": trace_id(request)},
        media_type=PROBLEM_JSON,
    )


def _bool_query(request: Request, name: str, *, strict: bool) -> bool:
    """A ``bool`` query parameter (default false). ``[ApiController]`` actions answer a bad value
    with 400; plain controllers run with the default."""
    raw = _query(request, name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in ("true", "false"):
        return value == "true"
    if strict:
        raise _binding_problem(request, name, raw)
    return False


def _int_query(request: Request, name: str) -> int:
    """An ``int`` query parameter of an ``[ApiController]`` action (missing: 0)."""
    raw = _query(request, name)
    if raw is None:
        return 0
    parsed = parse_party_id(raw)
    if parsed is None:
        raise _binding_problem(request, name, raw)
    return parsed


def _set_party_cookie(response: Response, party_id: int) -> None:
    response.set_cookie(PARTY_COOKIE, str(party_id), path="/", samesite="lax")


class _PartyContext:
    """The caller's parties for one app: what app-lib's ``Authenticated.*.LoadDetails`` computes."""

    def __init__(self, services: Services, definition: AppDefinition, principal: Principal) -> None:
        self.services = services
        self.definition = definition
        self.principal = principal

    @property
    def is_user(self) -> bool:
        return self.principal.is_user and self.principal.user_id is not None

    def may_instantiate(self, party: Party) -> bool:
        allowed_types = self.definition.metadata.party_types_allowed
        if not self.services.register.party_type_allowed(party, allowed_types):
            return False
        resource = ResourceRef(self.definition.org, self.definition.app, party.party_id)
        return self.services.authorizer.authorize(self.principal, "instantiate", resource)

    def parties(self) -> list[Party]:
        """A user's party list (masked), or the single party of any other caller."""
        if self.is_user:
            details = user_details(self.services.register, self.principal)
            return mask_others(details.parties, details.own_party_id)
        party = organisation_party(self.services.register, self.principal)
        return [] if party is None else [party]

    def parties_allowed_to_instantiate(self) -> list[Party]:
        if self.is_user:
            details = user_details(self.services.register, self.principal)
            allowed = filter_parties(details.parties, self.may_instantiate)
            return mask_others(allowed, details.own_party_id)
        return self.parties()


def _context(request: Request, org: str, app: str, principal: Principal) -> _PartyContext:
    return _PartyContext(get_services(request), get_app(request, org, app), principal)


@router.get("/api/v1/parties", summary="Parties the caller may represent")
async def parties(request: Request, org: str, app: str, principal: Caller) -> Response:
    ctx = _context(request, org, app, principal)
    allowed_filter = _bool_query(request, "allowedToInstantiateFilter", strict=True)
    listed = ctx.parties_allowed_to_instantiate() if allowed_filter and ctx.is_user else ctx.parties()
    return json_response([party.to_wire() for party in listed])


def _validation(valid: bool, message: str | None = None, parties: list[Party] | None = None) -> Response:
    body: dict[str, Any] = {
        "valid": valid,
        "customTextKey": None,
        "customTextParameters": None,
        "message": message,
        "validParties": None if parties is None else [party.to_wire() for party in parties],
    }
    return json_response(body)


@router.post(
    "/api/v1/parties/validateInstantiation",
    summary="Whether the caller may instantiate the app for a party (obsolete)",
    deprecated=True,
)
async def validate_instantiation(request: Request, org: str, app: str, principal: Caller) -> Response:
    ctx = _context(request, org, app, principal)
    party_id = _int_query(request, "partyId")
    if principal.kind is PrincipalKind.SERVICE_OWNER:
        return _validation(True)
    if ctx.is_user:
        details = user_details(ctx.services.register, principal)
        allowed = ctx.parties_allowed_to_instantiate()
        if not details.can_represent(party_id):
            return _validation(False, NOT_REPRESENTED, allowed)
        if not can_instantiate_as(allowed, party_id):
            return _validation(False, NOT_ALLOWED, allowed)
        return _validation(True)
    party = organisation_party(ctx.services.register, principal)
    own = [] if party is None else [party]
    if party is None or party.party_id != party_id:
        return _validation(False, NOT_REPRESENTED, own)
    if not ctx.may_instantiate(party):
        return _validation(False, NOT_ALLOWED, own)
    return _validation(True)


def _cannot_represent(ctx: _PartyContext, party_id: int) -> str:
    principal = ctx.principal
    if ctx.is_user:
        return f"User {principal.user_id} cannot represent party {party_id}."
    if principal.kind is PrincipalKind.SERVICE_OWNER:
        return f"Service owner {principal.org} cannot represent party {party_id}."
    if principal.kind is PrincipalKind.SYSTEM_USER:
        return f"System user {principal.system_user_id} cannot represent party {party_id}."
    return f"Org {principal.org_number} cannot represent party {party_id}."


@router.put("/api/v1/parties/{partyId}", summary="Select the party the caller acts for")
async def select_party(request: Request, org: str, app: str, partyId: str, principal: Caller) -> Response:
    ctx = _context(request, org, app, principal)
    party_id = parse_party_id(partyId)
    if party_id is None:
        raise _binding_problem(request, "partyId", partyId)
    if ctx.is_user:
        allowed = user_details(ctx.services.register, principal).can_represent(party_id)
    else:
        party = organisation_party(ctx.services.register, principal)
        allowed = party is not None and party.party_id == party_id
    if not allowed:
        raise PlainError(400, _cannot_represent(ctx, party_id))
    response = Response(PARTY_UPDATED.encode(), media_type=TEXT)
    _set_party_cookie(response, party_id)
    return response


@router.get("/api/authorization/parties/current", summary="The party the caller acts for")
async def current_party(request: Request, org: str, app: str, principal: Caller) -> Response:
    ctx = _context(request, org, app, principal)
    return_object = _bool_query(request, "returnPartyObject", strict=False)
    register = ctx.services.register
    if not ctx.is_user:
        party = organisation_party(register, principal)
        if party is None:
            raise EmptyError(404)
        return json_response(party.to_wire() if return_object else party.party_id)

    details = user_details(register, principal)
    raw_cookie = request.cookies.get(PARTY_COOKIE)
    selected_id = parse_party_id(raw_cookie) if raw_cookie is not None else details.own_party_id
    selected = None if selected_id is None else register.party(selected_id)
    if selected is not None and selected_id is not None and details.can_represent(selected_id):
        if selected_id == details.own_party_id and details.own_party is not None:
            selected = details.own_party
        return json_response(selected.to_wire() if return_object else selected.party_id)

    # Not a party the user may act for: fall back to their own and point the cookie there.
    if details.own_party is None:
        raise framework_problem(404, request)
    own = details.own_party
    response = json_response(own.to_wire() if return_object else own.party_id)
    if raw_cookie != str(own.party_id):
        _set_party_cookie(response, own.party_id)
    return response


@router.get("/api/v1/profile/user", summary="The calling user's profile")
async def profile_user(request: Request, org: str, app: str, principal: Caller) -> Response:
    ctx = _context(request, org, app, principal)
    if not ctx.is_user:
        raise PlainError(400, f"Unknown authentication context: {principal.kind.value}")
    assert principal.user_id is not None
    profile = ctx.services.register.user(principal.user_id)
    if profile is None:
        raise framework_problem(404, request)
    return json_response(profile.to_wire())
