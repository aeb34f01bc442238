"""Who is calling, for routes: FastAPI dependencies over a cached token verifier.

A route that needs a caller declares ``principal: Principal = Depends(require_principal)``; one that
serves anonymous callers too uses ``optional_principal``. The token is taken as Altinn's platform
services take it (platform notes 0): ``Authorization: Bearer``, else the cookie ``.ALTINNTOKEN``,
else ``AltinnStudioRuntime``. No token is anonymous; a token that is malformed, expired, not yet
valid, tampered with or signed by a key we do not publish is a 401 with an empty body, never
"anonymous".

Verified tokens are cached (bounded LRU keyed by the token string, each entry dropped at the
token's ``exp``), so a request with a token seen before costs a dictionary lookup.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import structlog
from fastapi import Request

from tinn import __version__
from tinn.auth.keys import CLOCK_SKEW, KeyStore
from tinn.auth.principal import Principal, PrincipalError
from tinn.auth.testidp import TestIdentityProvider
from tinn.auth.tokens import TokenError, TokenService
from tinn.auth.trusted import TrustedIssuers, parse_trusted_issuers
from tinn.clock import Clock
from tinn.http.errors import unauthorized
from tinn.register.service import Register
from tinn.settings import Settings
from tinn.storage.db import Database

if TYPE_CHECKING:
    from tinn.services import Services

log = structlog.get_logger("tinn.auth")

COOKIE_ALTINN_TOKEN = ".ALTINNTOKEN"  # noqa: S105 - a cookie name
COOKIE_STUDIO_RUNTIME = "AltinnStudioRuntime"
DEFAULT_CACHE_ENTRIES = 10_000
# Where a request's principal is kept once resolved (None: checked, anonymous).
_SCOPE_KEY = "tinn.principal"


class Authenticator:
    """Platform token → :class:`Principal`, with a bounded cache of verified tokens."""

    def __init__(
        self, tokens: TokenService, clock: Clock, *, max_entries: int = DEFAULT_CACHE_ENTRIES
    ) -> None:
        self._tokens = tokens
        self._keys: KeyStore = tokens.keys
        self._clock = clock
        self._max_entries = max_entries
        # token -> (principal, exp as a UNIX time, kid that signed it)
        self._cache: OrderedDict[str, tuple[Principal, float, str | None]] = OrderedDict()
        self._skew = CLOCK_SKEW.total_seconds()

    async def authenticate(self, token: str) -> Principal:
        """The caller a platform token names; :class:`TokenError` when it must be refused."""
        await self._keys.maybe_refresh()
        entry = self._cache.get(token)
        if entry is not None:
            principal, expires, kid = entry
            if self._clock.now().timestamp() <= expires + self._skew and (
                kid is None or self._keys.verification_key(kid) is not None
            ):
                self._cache.move_to_end(token)
                return principal
            del self._cache[token]
        claims = await self._tokens.verify(token)
        try:
            principal = Principal.from_claims(claims, token)
        except PrincipalError as exc:
            raise TokenError(str(exc)) from exc
        exp = claims["exp"]
        self._cache[token] = (principal, float(exp), self._tokens.kid_of(token))
        if len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return principal

    def clear(self) -> None:
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)


@dataclass
class AuthServices:
    """Everything identity-related one process holds (``services.auth``)."""

    keys: KeyStore
    tokens: TokenService
    authenticator: Authenticator
    trusted: TrustedIssuers
    test_idp: TestIdentityProvider | None

    async def close(self) -> None:
        await self.trusted.close()


async def start_auth_services(
    settings: Settings, db: Database, register: Register, clock: Clock
) -> AuthServices:
    """Load (or create) the signing keys, the trusted issuers and, when enabled, the test IdP."""
    keys = KeyStore(
        db,
        clock,
        rollover_delay=timedelta(hours=settings.jwt_key_rollover_hours),
        max_token_lifetime=timedelta(minutes=settings.jwt_max_validity_minutes),
        refresh_interval=settings.jwt_key_refresh_seconds,
    )
    await keys.start()
    tokens = TokenService(
        keys,
        clock,
        issuer=settings.effective_jwt_issuer,
        validity=timedelta(minutes=settings.jwt_validity_minutes),
        max_validity=timedelta(minutes=settings.jwt_max_validity_minutes),
    )
    http = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": f"tinn/{__version__}"})
    try:
        issuers = parse_trusted_issuers(settings.trusted_issuers, http=http)
        test_idp = None
        if settings.effective_test_idp:
            test_idp = await TestIdentityProvider.start(settings, register, clock)
            issuers.extend(test_idp.trusted_issuers())
            log.warning(
                "test_identity_provider_enabled",
                maskinporten_issuer=test_idp.maskinporten_issuer,
                idporten_issuer=test_idp.idporten_issuer,
            )
    except BaseException:
        await http.aclose()
        raise
    for issuer in issuers:
        log.info("trusted_issuer", provider=issuer.provider.value, issuer=issuer.issuer)
    return AuthServices(
        keys=keys,
        tokens=tokens,
        authenticator=Authenticator(tokens, clock),
        trusted=TrustedIssuers(issuers, clock, http),
        test_idp=test_idp,
    )


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def token_from_request(request: Request) -> str | None:
    """The token a request carries: Bearer header, else ``.ALTINNTOKEN``, else ``AltinnStudioRuntime``.

    An ``Authorization`` header with another scheme is not ours and hides the cookies, as in Altinn.
    """
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return value.strip() or None
    cookies = request.cookies
    return cookies.get(COOKIE_ALTINN_TOKEN) or cookies.get(COOKIE_STUDIO_RUNTIME) or None


async def optional_principal(request: Request) -> Principal | None:
    """The caller, or None for a request without a token; 401 for a token that is not valid."""
    scope = request.scope
    if _SCOPE_KEY in scope:
        cached: Principal | None = scope[_SCOPE_KEY]
        return cached
    token = token_from_request(request)
    principal: Principal | None = None
    if token is not None:
        try:
            principal = await _services(request).auth.authenticator.authenticate(token)
        except TokenError as exc:
            log.info("token_refused", reason=exc.reason, path=request.url.path)
            raise unauthorized() from None
    scope[_SCOPE_KEY] = principal
    return principal


async def require_principal(request: Request) -> Principal:
    """The caller; 401 (empty body) when the request has no valid token."""
    principal = await optional_principal(request)
    if principal is None:
        raise unauthorized()
    return principal
