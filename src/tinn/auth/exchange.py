"""Token exchange, refresh and OpenID discovery (platform notes 5.1-5.3).

``GET /authentication/api/v1/exchange/{id-porten|maskinporten}`` takes an external token in
``Authorization: Bearer``, checks it against the trusted issuers of that provider and answers with
a platform token as plain text. Error statuses as Altinn's: no or unreadable token 401; unknown
provider 400 (plain message); invalid token, unknown issuer, missing claims or a register miss 401;
an ID-porten token without any ``altinn:`` scope 403; the retired enterprise-user header 410.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from tinn.auth import claims as c
from tinn.auth.principal import Principal
from tinn.auth.tokens import TokenError, TokenService, unverified_claims
from tinn.auth.trusted import Provider, TrustedIssuers
from tinn.http.errors import EmptyError, PlainError, Problem, forbidden, unauthorized
from tinn.register.service import Register

log = structlog.get_logger("tinn.auth.exchange")

ENTERPRISE_USER_HEADER = "X-Altinn-EnterpriseUser-Authentication"
# Upstream claims the exchange drops besides the envelope (claims.py drops iss/aud/sid/... itself).
_ID_PORTEN_DROPPED = frozenset({"at_hash", "sub"})
_MASKINPORTEN_DROPPED = frozenset({"client_amr"})
_SERVICE_OWNER_SCOPE = "altinn:serviceowner"
# Maskinporten's Digdir org maps to the test service owner with `?test=true`.
_DIGDIR = "digdir"
_TEST_SERVICE_OWNER = "ttd"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (any letter case of ``Bearer``)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _gone() -> Problem:
    return Problem(
        410,
        "Gone",
        "Enterprise user authentication (X-Altinn-EnterpriseUser-Authentication) is no longer supported. "
        "Use a system user instead.",
        type="https://tools.ietf.org/html/rfc9110#section-15.5.11",
        media_type="application/problem+json; charset=utf-8",
    )


def _refused(reason: str, **fields: Any) -> EmptyError:
    log.info("token_exchange_refused", reason=reason, **fields)
    return unauthorized()


async def exchange(
    provider_name: str,
    authorization: str | None,
    *,
    test: bool,
    enterprise_user: str | None,
    trusted: TrustedIssuers,
    tokens: TokenService,
    register: Register,
) -> str:
    """A platform token for an external one; raises the error Altinn answers with."""
    token = bearer_token(authorization)
    if token is None:
        raise _refused("no bearer token")
    try:
        unverified_claims(token)
    except TokenError as exc:
        raise _refused(exc.reason) from None
    provider = Provider.parse(provider_name)
    if provider is None:
        raise PlainError(
            400,
            f"Invalid token provider: {provider_name}. "
            "Trusted token providers are 'Maskinporten' and 'Id-porten'.",
        )
    if provider is Provider.MASKINPORTEN and enterprise_user:
        raise _gone()
    try:
        upstream = await trusted.verify(provider, token)
    except TokenError as exc:
        raise _refused(exc.reason, provider=provider.value) from None
    if provider is Provider.ID_PORTEN:
        return exchange_id_porten(upstream, tokens=tokens, register=register)
    return exchange_maskinporten(upstream, test=test, tokens=tokens, register=register)


def exchange_id_porten(upstream: Mapping[str, Any], *, tokens: TokenService, register: Register) -> str:
    """A person's platform token for a verified ID-porten token (``exp`` stays the ID-porten one)."""
    scope = upstream.get(c.SCOPE)
    scopes = scope.split() if isinstance(scope, str) else []
    if not any(s.startswith("altinn:") for s in scopes):
        log.info("token_exchange_refused", reason="no altinn: scope", provider="id-porten")
        raise forbidden()
    pid = upstream.get("pid")
    acr = upstream.get("acr")
    if not isinstance(pid, str) or not pid.strip() or not isinstance(acr, str) or not acr.strip():
        raise _refused("pid or acr missing", provider="id-porten")
    try:
        auth_level = c.auth_level_from_acr(acr)
    except ValueError:
        raise _refused(f"acr {acr!r} names no level", provider="id-porten") from None
    user = register.user_by_ssn(pid)
    if user is None:
        raise _refused("person not in the register", provider="id-porten")
    party = register.party(user.party_id) or user.party
    extra = {k: v for k, v in upstream.items() if k not in _ID_PORTEN_DROPPED}
    claims = c.person_claims(
        user_id=user.user_id,
        username=user.user_name,
        party_id=user.party_id,
        party_uuid=None if party is None else party.party_uuid,
        auth_level=auth_level,
        auth_method=c.first_amr(upstream.get("amr")) or "NotDefined",
        extra=extra,
    )
    exp = upstream["exp"]
    return tokens.issue(claims, expires=datetime.fromtimestamp(min(float(exp), 253402300799.0), UTC))


def exchange_maskinporten(
    upstream: Mapping[str, Any], *, test: bool, tokens: TokenService, register: Register
) -> str:
    """An organisation's, service owner's or system user's token for a verified Maskinporten token."""
    org_number = c.org_number_from(upstream.get(c.CONSUMER))
    if org_number is None:
        raise _refused("no valid consumer", provider="maskinporten")
    scope = upstream.get(c.SCOPE)
    scope_text = scope if isinstance(scope, str) else ""
    org: str | None = None
    if _SERVICE_OWNER_SCOPE in scope_text:
        owner = register.service_owner_by_org_number(org_number)
        org = None if owner is None else owner.org
        if org == _DIGDIR and test:
            org = _TEST_SERVICE_OWNER
    details = upstream.get(c.AUTHORIZATION_DETAILS)
    entry = c.system_user_entry(details) if details is not None else None
    if entry is not None:
        system_user_id = c.system_user_id_of(entry)
        customer = c.org_number_from(entry.get("systemuser_org"))
        system_user = None if system_user_id is None else register.system_user(system_user_id)
        if system_user is None or customer is None or system_user.org_number != customer:
            raise _refused("system user not in the register for that organisation", provider="maskinporten")
        system_id = entry.get("system_id")
        if isinstance(system_id, str) and system_id.lower() != system_user.system_id.lower():
            raise _refused("system user belongs to another system", provider="maskinporten")
    extra = {k: v for k, v in upstream.items() if k not in _MASKINPORTEN_DROPPED}
    claims = c.organisation_claims(org_number=org_number, org=org, extra=extra)
    return tokens.issue(claims)


def refresh(principal: Principal, *, enrich_pid: bool, tokens: TokenService, register: Register) -> str:
    """The caller's claims in a new token: new ``iat``/``nbf``, ``exp`` = now + the validity."""
    claims = dict(principal.claims)
    if enrich_pid and principal.is_user and not claims.get("pid") and principal.user_id is not None:
        user = register.user(principal.user_id)
        party = None if user is None else register.party(user.party_id) or user.party
        if party is not None and party.ssn:
            claims["pid"] = party.ssn
    return tokens.issue(claims)


def openid_configuration(issuer: str, platform_url: str) -> dict[str, Any]:
    """Discovery for the platform tokens: who issues them and where their keys are."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{platform_url}/authentication/api/v1/openid/.well-known/openid-configuration/jwks",
        "response_types_supported": ["token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
