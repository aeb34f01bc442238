"""Platform tokens: issue (RS256 with our signing key) and verify (against our published keys).

Verification is what Altinn's platform services do (platform notes 0): the signature against the
issuer's JWKS keys, ``exp`` required, ``nbf``/``iat`` honoured, 10 seconds of clock skew, no issuer
and no audience check. The algorithm is pinned to RS256 before any key is touched, so ``none``,
HS256 signed with the public key as the secret, and every other algorithm are refused.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tinn.auth.keys import CLOCK_SKEW, KeyStore, SigningKey, b64url
from tinn.clock import Clock

ALGORITHM = "RS256"
# Longer than any token Tinn issues; bounds the work an oversized header can cause.
MAX_TOKEN_LENGTH = 16 * 1024
# Claims set when a token is issued; never taken from the caller's claim set.
RESERVED_CLAIMS = frozenset({"iss", "iat", "nbf", "exp"})


class TokenError(Exception):
    """A token that must not be accepted; ``reason`` is for logs, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_id() -> str:
    return str(uuid.uuid4())


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_lifetime(claims: Mapping[str, Any], now: datetime, skew: timedelta = CLOCK_SKEW) -> None:
    """``exp`` required; ``nbf`` and ``iat`` must not be in the future; all with ``skew`` leeway."""
    current = now.timestamp()
    leeway = skew.total_seconds()
    exp = claims.get("exp")
    if not is_number(exp):
        raise TokenError("missing or non-numeric exp")
    assert isinstance(exp, int | float)
    if current > exp + leeway:
        raise TokenError("expired")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is None:
            continue
        if not is_number(value):
            raise TokenError(f"non-numeric {name}")
        assert isinstance(value, int | float)
        if value > current + leeway:
            raise TokenError(f"{name} in the future")


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, or :class:`TokenError` if it is not one."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("token too long")
    if token.count(".") != 2:
        raise TokenError("not a compact JWS")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError(f"unreadable header: {exc}") from exc
    if not isinstance(header, dict):
        raise TokenError("header is not an object")
    return header


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS without checking anything (to pick an issuer's keys)."""
    unverified_header(token)
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError(f"unreadable payload: {exc}") from exc
    if not isinstance(claims, dict):
        raise TokenError("payload is not an object")
    return claims


_DECODE_OPTIONS: Any = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "require": [],
}


def decode_rs256(token: str, public_key: Any) -> dict[str, Any]:
    """Check the RS256 signature with ``public_key`` and return the claims (no time checks)."""
    try:
        claims = jwt.decode(token, public_key, algorithms=[ALGORITHM], options=_DECODE_OPTIONS)
    except jwt.PyJWTError as exc:
        raise TokenError(f"signature: {exc}") from exc
    if not isinstance(claims, dict):
        raise TokenError("payload is not an object")
    return claims


class TokenService:
    """Issues and verifies the platform tokens of this deployment."""

    def __init__(
        self,
        keys: KeyStore,
        clock: Clock,
        *,
        issuer: str,
        validity: timedelta,
        max_validity: timedelta,
    ) -> None:
        self.keys = keys
        self.clock = clock
        self.issuer = issuer
        self.validity = validity
        self.max_validity = max_validity

    # Issuing -------------------------------------------------------------------------

    def issue(
        self,
        claims: Mapping[str, Any],
        *,
        lifetime: timedelta | None = None,
        expires: datetime | None = None,
    ) -> str:
        """Sign ``claims`` with ``iss``, ``iat``, ``nbf`` = now and ``exp`` added.

        ``exp`` is ``expires`` when given (the ID-porten exchange keeps the ID-porten token's),
        else now + ``lifetime`` (default: the configured validity); never more than the maximum
        validity from now, so a superseded key's retirement time bounds every token it signed.
        """
        now = self.clock.now()
        latest = now + self.max_validity
        if expires is None:
            expires = now + (self.validity if lifetime is None else lifetime)
        expires = min(expires, latest)
        payload = {k: v for k, v in claims.items() if k not in RESERVED_CLAIMS}
        payload["iss"] = self.issuer
        issued_at = int(now.timestamp())
        payload["iat"] = issued_at
        payload["nbf"] = issued_at
        payload["exp"] = int(expires.timestamp())
        return self.sign(payload)

    def sign(self, payload: Mapping[str, Any], key: SigningKey | None = None) -> str:
        """Sign ``payload`` as it is, with the header Altinn writes: ``alg``, ``kid``, ``x5t``, ``typ``."""
        key = key or self.keys.signing_key()
        header = orjson.dumps({"alg": ALGORITHM, "kid": key.kid, "x5t": key.x5t, "typ": "JWT"})
        signing_input = f"{b64url(header)}.{b64url(orjson.dumps(payload))}"
        signature = key.private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    # Verifying -----------------------------------------------------------------------

    async def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid platform token, or :class:`TokenError`."""
        header = unverified_header(token)
        if header.get("alg") != ALGORITHM:
            raise TokenError(f"algorithm {header.get('alg')!r} is not {ALGORITHM}")
        if "crit" in header:
            raise TokenError("critical header extensions are not supported")
        await self.keys.maybe_refresh()
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError("kid is not a string")
        if kid is None:
            claims = self._verify_with_any_key(token)
        else:
            key = self.keys.verification_key(kid)
            if key is None and await self.keys.refresh_for_unknown_kid():
                key = self.keys.verification_key(kid)
            if key is None:
                raise TokenError("unknown kid")
            claims = decode_rs256(token, key.public_key)
        check_lifetime(claims, self.clock.now())
        return claims

    def _verify_with_any_key(self, token: str) -> dict[str, Any]:
        # Without a kid, try every key that can still verify (as .NET's handler does).
        for key in self.keys.verification_keys():
            try:
                return decode_rs256(token, key.public_key)
            except TokenError:
                continue
        raise TokenError("no key verifies the signature")

    def kid_of(self, token: str) -> str | None:
        """The ``kid`` in a token's header (already verified by the caller)."""
        kid = unverified_header(token).get("kid")
        return kid if isinstance(kid, str) else None
