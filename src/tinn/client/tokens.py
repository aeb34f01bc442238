"""Token providers: where the ``Authorization: Bearer`` of every SDK call comes from.

* :class:`StaticToken`: a token you already have.
* :class:`TestIdentityToken`: Tinn's (and localtest's) test identity provider
  (``/api/GetPersonalToken``, ``/api/GetEnterpriseToken``, ``/api/GetSystemUserToken``).
* :class:`MaskinportenToken`: the JWT-bearer grant at a Maskinporten token endpoint with a
  private key file, then (by default) ``GET /authentication/api/v1/exchange/maskinporten`` for an
  Altinn platform token.

Fetched tokens are cached and fetched again ``refresh_margin`` seconds before they expire (read
from the token's ``exp``); a 401 makes the SDK drop the cached token and fetch once more.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import orjson

from tinn.client.http import Call, RetryPolicy, asend, send

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EXCHANGE_PATH = "/authentication/api/v1/exchange/maskinporten"
SERVICE_OWNER_SCOPES = "altinn:serviceowner/instances.read altinn:serviceowner/instances.write"


def token_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT (not verified: the server does that), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


class TokenProvider(ABC):
    """Gives a valid token for each request; fetched tokens are cached until shortly before expiry."""

    def __init__(
        self,
        *,
        refresh_margin: float = 60.0,
        default_lifetime: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.refresh_margin = refresh_margin
        self.default_lifetime = default_lifetime
        self.clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None
        self.fetches = 0

    def _cached(self) -> str | None:
        if self._token is not None and self.clock() < self._expires - self.refresh_margin:
            return self._token
        return None

    def _store(self, token: str) -> str:
        token = token.strip().strip('"')
        self._token = token
        self._expires = token_expiry(token) or (self.clock() + self.default_lifetime)
        self.fetches += 1
        return token

    def invalidate(self) -> None:
        self._token = None

    def token(self, http: httpx.Client) -> str:
        with self._lock:
            return self._cached() or self._store(self._fetch(http))

    async def atoken(self, http: httpx.AsyncClient) -> str:
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            return self._cached() or self._store(await self._afetch(http))

    @abstractmethod
    def _fetch(self, http: httpx.Client) -> str: ...

    @abstractmethod
    async def _afetch(self, http: httpx.AsyncClient) -> str: ...


class StaticToken(TokenProvider):
    """A token you already have (it is never refreshed)."""

    def __init__(self, token: str) -> None:
        super().__init__(refresh_margin=0.0)
        self._value = token.strip()

    def _cached(self) -> str | None:
        return self._value

    def invalidate(self) -> None:
        """Nothing to refresh: a rejected static token stays rejected."""

    def _fetch(self, http: httpx.Client) -> str:
        return self._value

    async def _afetch(self, http: httpx.AsyncClient) -> str:
        return self._value


class TestIdentityToken(TokenProvider):
    """A token from the test identity provider's TestTools endpoints (Tinn, localtest)."""

    __test__ = False  # not a pytest class

    def __init__(self, url: str, path: str, params: dict[str, str], **options: Any) -> None:
        super().__init__(**options)
        self.url = url.rstrip("/") + path
        self.params = params
        self.retry = RetryPolicy()

    @classmethod
    def personal(
        cls, url: str, *, user_id: int, party_id: int, pid: str, auth_level: int = 2, **options: Any
    ) -> TestIdentityToken:
        params = {"userId": str(user_id), "partyId": str(party_id), "pid": pid, "authLvl": str(auth_level)}
        return cls(url, "/api/GetPersonalToken", params, **options)

    @classmethod
    def enterprise(
        cls, url: str, *, org: str, org_no: str, scopes: str = SERVICE_OWNER_SCOPES, **options: Any
    ) -> TestIdentityToken:
        params = {"org": org, "orgNo": org_no, "scopes": scopes}
        return cls(url, "/api/GetEnterpriseToken", params, **options)

    @classmethod
    def system_user(
        cls,
        url: str,
        *,
        system_user_id: str,
        system_user_org: str,
        scopes: str = "altinn:instances.read altinn:instances.write",
        extra: dict[str, str] | None = None,
        **options: Any,
    ) -> TestIdentityToken:
        """A system user acting for the organisation ``system_user_org`` (its customer).

        ``extra`` adds other query parameters of the endpoint (``orgNo``, ``systemId``, ``ttl``...).
        """
        params = {"systemUserId": system_user_id, "systemUserOrg": system_user_org, "scopes": scopes}
        return cls(url, "/api/GetSystemUserToken", {**params, **(extra or {})}, **options)

    def _call(self) -> Call:
        return Call("GET", self.url, params=self.params, auth=False)

    def _fetch(self, http: httpx.Client) -> str:
        return send(http, self._call(), self.retry).text

    async def _afetch(self, http: httpx.AsyncClient) -> str:
        return (await asend(http, self._call(), self.retry)).text


class MaskinportenToken(TokenProvider):
    """The Maskinporten JWT-bearer grant with a private key, optionally exchanged for an Altinn token.

    ``audience`` is the Maskinporten issuer (``https://maskinporten.no/``, or Tinn's test issuer
    ``{url}/authentication/api/v1/testidp/maskinporten/``); None reads it (``issuer``) from
    ``metadata_url`` (``.well-known/oauth-authorization-server``) on first use. ``exchange_url`` is the platform base
    URL whose ``/authentication/api/v1/exchange/maskinporten`` turns the Maskinporten token into an
    Altinn token; None returns the Maskinporten token itself. ``claims`` adds assertion claims
    (``resource``, ``authorization_details``, Tinn's ``consumer_org``).
    """

    def __init__(
        self,
        *,
        client_id: str,
        key_file: Path,
        audience: str | None,
        token_endpoint: str,
        scopes: str,
        exchange_url: str | None,
        kid: str | None = None,
        claims: dict[str, Any] | None = None,
        metadata_url: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.metadata_url = metadata_url
        self.client_id = client_id
        self.key_file = key_file
        self.audience = audience
        self.token_endpoint = token_endpoint
        self.scopes = scopes
        self.exchange_url = exchange_url.rstrip("/") + EXCHANGE_PATH if exchange_url else None
        self.kid = kid
        self.claims = claims or {}
        self.retry = RetryPolicy()

    def _metadata(self) -> Call:
        if self.metadata_url is None:
            raise ValueError("MaskinportenToken needs an audience or a metadata_url")
        return Call("GET", self.metadata_url, auth=False)

    def assertion(self) -> str:
        assert self.audience is not None
        now = int(self.clock())
        payload = {
            "iss": self.client_id,
            "aud": self.audience,
            "scope": self.scopes,
            "iat": now,
            "exp": now + 100,
            "jti": str(uuid.uuid4()),
            **self.claims,
        }
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(payload, self.key_file.read_bytes(), algorithm="RS256", headers=headers)

    def _grant(self) -> Call:
        # Unsafe: Maskinporten refuses a replayed jti, so only a grant that cannot have arrived is retried.
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion()}
        return Call(
            "POST",
            self.token_endpoint,
            content=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=False,
            safe=False,
        )

    def _exchange(self, maskinporten_token: str) -> Call:
        assert self.exchange_url is not None
        return Call(
            "GET", self.exchange_url, headers={"Authorization": f"Bearer {maskinporten_token}"}, auth=False
        )

    def _fetch(self, http: httpx.Client) -> str:
        if self.audience is None:
            self.audience = str(send(http, self._metadata(), self.retry).json()["issuer"])
        access = str(send(http, self._grant(), self.retry).json()["access_token"])
        if self.exchange_url is None:
            return access
        return send(http, self._exchange(access), self.retry).text

    async def _afetch(self, http: httpx.AsyncClient) -> str:
        if self.audience is None:
            self.audience = str((await asend(http, self._metadata(), self.retry)).json()["issuer"])
        access = str((await asend(http, self._grant(), self.retry)).json()["access_token"])
        if self.exchange_url is None:
            return access
        return (await asend(http, self._exchange(access), self.retry)).text

    @classmethod
    def tinn_test_client(
        cls, url: str, key_file: Path, *, scopes: str, consumer_org: str | None = None, **options: Any
    ) -> MaskinportenToken:
        """Tinn's built-in test client (``tinn token maskinporten-key`` prints its key file)."""
        base = url.rstrip("/") + "/authentication/api/v1/testidp/maskinporten"
        return cls(
            client_id="tinn-test-client",
            key_file=key_file,
            audience=None,  # the issuer is Tinn's public URL, which may differ from ``url``
            metadata_url=base + "/.well-known/oauth-authorization-server",
            token_endpoint=base + "/token",
            scopes=scopes,
            exchange_url=url,
            claims={"consumer_org": consumer_org} if consumer_org else None,
            **options,
        )
