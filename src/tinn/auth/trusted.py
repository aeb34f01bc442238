"""External issuers the token exchange trusts (ID-porten, Maskinporten), from settings.

``TINN_TRUSTED_ISSUERS`` is a JSON object (or the path of a JSON file) mapping a provider to its
issuers::

    {
      "id-porten":    [{"issuer": "https://idporten.no", "jwks_uri": "https://idporten.no/jwks.json"}],
      "maskinporten": [{"issuer": "https://maskinporten.no/", "jwks_uri": "https://maskinporten.no/jwk"},
                       {"issuer": "https://partner.example/", "key_file": "/etc/tinn/partner.pem"}]
    }

Each issuer names its keys by ``jwks_uri`` (fetched with httpx, cached, refetched when a token
names an unknown ``kid`` but at most once per ``refetch_floor``), ``key_file`` (PEM public keys or
certificates, or a JWKS file) or an inline ``jwks`` object; ``algorithms`` defaults to ``["RS256"]``.
A token is checked against the issuer its (unverified) ``iss`` names, exactly; an issuer that is
not configured for the provider is refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tinn.auth.tokens import TokenError, check_lifetime, unverified_claims, unverified_header
from tinn.clock import Clock

log = structlog.get_logger("tinn.auth.trusted")

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
JWKS_MAX_AGE = 3600.0
JWKS_REFETCH_FLOOR = 60.0
JWKS_TIMEOUT = 10.0

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class Provider(StrEnum):
    ID_PORTEN = "id-porten"
    MASKINPORTEN = "maskinporten"

    @classmethod
    def parse(cls, text: str) -> Provider | None:
        """A provider name as the exchange route takes it (case-insensitive)."""
        lowered = text.lower()
        return next((p for p in cls if p.value == lowered), None)


class TrustedIssuerConfigError(ValueError):
    pass


def _normalise_issuer(issuer: str) -> str:
    return issuer.rstrip("/")


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """An RSA or EC public key from a JWK (``n``/``e`` in base64url or, as Altinn writes, base64;
    a key given only by ``x5c`` is read from its certificate)."""
    if jwk.get("kty") == "RSA" and "n" not in jwk and jwk.get("x5c"):
        return _public_key_from_certificate_b64(jwk["x5c"][0])
    try:
        key = jwt.PyJWK(dict(jwk)).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"unusable JWK: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("JWK is not an RSA or EC public key")
    return key


def _public_key_from_certificate_b64(value: Any) -> PublicKey:
    if not isinstance(value, str):
        raise ValueError("x5c entry is not a string")
    certificate = x509.load_der_x509_certificate(base64.b64decode(value))
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("certificate key is not RSA or EC")
    return key


def keys_from_jwks(document: Any) -> dict[str | None, PublicKey]:
    """``kid`` → key for the signing keys of a JWKS document (keys without a ``kid`` under ``None``)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' array)")
    keys: dict[str | None, PublicKey] = {}
    for index, jwk in enumerate(document["keys"]):
        if not isinstance(jwk, Mapping) or jwk.get("use", "sig") != "sig":
            continue
        kid = jwk.get("kid")
        try:
            key = public_key_from_jwk(jwk)
        except ValueError as exc:
            log.warning("jwk_skipped", index=index, kid=kid, reason=str(exc))
            continue
        keys[kid if isinstance(kid, str) else f"#{index}"] = key
    return keys


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


def keys_from_pem(data: bytes) -> dict[str | None, PublicKey]:
    """Keys from PEM public keys and/or certificates (named by position; they carry no ``kid``)."""
    keys: dict[str | None, PublicKey] = {}
    for index, match in enumerate(_PEM_BLOCK.finditer(data)):
        key: Any
        if match.group(1) == b"CERTIFICATE":
            key = x509.load_pem_x509_certificate(match.group(0)).public_key()
        elif match.group(1) == b"PUBLIC KEY" or match.group(1) == b"RSA PUBLIC KEY":
            key = serialization.load_pem_public_key(match.group(0))
        else:
            raise ValueError(f"PEM block {match.group(1).decode()!r} is not a public key or certificate")
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ValueError("PEM key is not RSA or EC")
        keys[f"#{index}"] = key
    if not keys:
        raise ValueError("no PEM public key or certificate found")
    return keys


def load_key_file(path: Path) -> dict[str | None, PublicKey]:
    data = path.read_bytes()
    if data.lstrip().startswith(b"{"):
        return keys_from_jwks(json.loads(data))
    return keys_from_pem(data)


class KeySource(Protocol):
    async def key(self, kid: str | None) -> list[PublicKey]:
        """Keys that may have signed a token with this ``kid`` (all keys when it has none)."""
        ...


@dataclass
class StaticKeys:
    keys: Mapping[str | None, PublicKey]

    async def key(self, kid: str | None) -> list[PublicKey]:
        if kid is not None and kid in self.keys:
            return [self.keys[kid]]
        # A kid we do not know may still be a key we hold without one (PEM files name none).
        return list(self.keys.values())


@dataclass
class JwksKeys:
    """Keys fetched from a JWKS URL, cached; an unknown ``kid`` refetches at most once per floor."""

    url: str
    http: httpx.AsyncClient
    monotonic: Callable[[], float] = time.monotonic
    max_age: float = JWKS_MAX_AGE
    refetch_floor: float = JWKS_REFETCH_FLOOR
    _keys: dict[str | None, PublicKey] = field(default_factory=dict)
    _fetched: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key(self, kid: str | None) -> list[PublicKey]:
        now = self.monotonic()
        stale = self._fetched is None or now - self._fetched > self.max_age
        unknown = kid is not None and kid not in self._keys
        if stale or (unknown and self._fetched is not None and now - self._fetched >= self.refetch_floor):
            await self._fetch()
        if kid is None:
            return list(self._keys.values())
        return [self._keys[kid]] if kid in self._keys else []

    async def _fetch(self) -> None:
        async with self._lock:
            if self._fetched is not None and self.monotonic() - self._fetched < 1.0:
                return  # fetched by a concurrent request while this one waited
            try:
                response = await self.http.get(self.url, timeout=JWKS_TIMEOUT)
                response.raise_for_status()
                keys = keys_from_jwks(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                # Keep serving the keys we have; without any, every token of this issuer fails.
                log.warning("jwks_fetch_failed", url=self.url, reason=str(exc))
                self._fetched = self.monotonic() if self._keys else None
                if not self._keys:
                    raise TokenError(f"JWKS of {self.url} unavailable") from exc
                return
            self._keys = keys
            self._fetched = self.monotonic()
            log.info("jwks_fetched", url=self.url, keys=len(keys))


@dataclass
class TrustedIssuer:
    provider: Provider
    issuer: str
    keys: KeySource
    algorithms: tuple[str, ...] = ("RS256",)

    async def verify(self, token: str, now: datetime) -> dict[str, Any]:
        header = unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise TokenError(f"algorithm {algorithm!r} not accepted for {self.issuer}")
        kid = header.get("kid")
        candidates = await self.keys.key(kid if isinstance(kid, str) else None)
        if not candidates:
            raise TokenError(f"no key of {self.issuer} has kid {kid!r}")
        for key in candidates:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=list(self.algorithms),
                    options={
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                        "verify_aud": False,
                        "verify_iss": False,
                    },
                )
            except jwt.PyJWTError:
                continue
            if not isinstance(claims, dict):
                raise TokenError("payload is not an object")
            check_lifetime(claims, now)
            return claims
        raise TokenError(f"signature does not verify with the keys of {self.issuer}")


class TrustedIssuers:
    """The issuers the exchange accepts, by provider."""

    def __init__(
        self, issuers: Iterable[TrustedIssuer], clock: Clock, http: httpx.AsyncClient | None
    ) -> None:
        self._clock = clock
        self._http = http
        self._by_provider: dict[Provider, dict[str, TrustedIssuer]] = {p: {} for p in Provider}
        for issuer in issuers:
            self.add(issuer)

    def add(self, issuer: TrustedIssuer) -> None:
        self._by_provider[issuer.provider][_normalise_issuer(issuer.issuer)] = issuer

    def issuers(self, provider: Provider) -> list[TrustedIssuer]:
        return list(self._by_provider[provider].values())

    def find(self, provider: Provider, issuer: str) -> TrustedIssuer | None:
        return self._by_provider[provider].get(_normalise_issuer(issuer))

    async def verify(self, provider: Provider, token: str) -> dict[str, Any]:
        """The claims of ``token`` if a trusted issuer of ``provider`` signed it, else :class:`TokenError`."""
        issuer_name = unverified_claims(token).get("iss")
        if not isinstance(issuer_name, str):
            raise TokenError("token has no issuer")
        issuer = self.find(provider, issuer_name)
        if issuer is None:
            raise TokenError(f"issuer {issuer_name!r} is not trusted for {provider.value}")
        return await issuer.verify(token, self._clock.now())

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def _config_document(value: str) -> Any:
    text = value.strip()
    if text.startswith(("{", "[")):
        source = "TINN_TRUSTED_ISSUERS"
    else:
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TrustedIssuerConfigError(f"cannot read trusted issuers file {path}: {exc}") from exc
        source = str(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrustedIssuerConfigError(f"{source} is not valid JSON: {exc}") from exc


def parse_trusted_issuers(
    value: str | None,
    *,
    http: httpx.AsyncClient,
    base_dir: Path | None = None,
) -> list[TrustedIssuer]:
    """The issuers configured in ``TINN_TRUSTED_ISSUERS`` (JSON or a file path); errors name the entry."""
    if value is None or not value.strip():
        return []
    document = _config_document(value)
    if not isinstance(document, Mapping):
        raise TrustedIssuerConfigError("trusted issuers must be a JSON object of provider -> list of issuers")
    issuers: list[TrustedIssuer] = []
    for provider_name, entries in document.items():
        provider = Provider.parse(str(provider_name).lower().replace("idporten", "id-porten"))
        if provider is None:
            raise TrustedIssuerConfigError(
                f"unknown provider {provider_name!r} in trusted issuers (use 'id-porten' or 'maskinporten')"
            )
        if not isinstance(entries, Sequence) or isinstance(entries, str):
            raise TrustedIssuerConfigError(f"trusted issuers[{provider_name!r}] must be a list")
        for index, entry in enumerate(entries):
            where = f"trusted issuers[{provider_name!r}][{index}]"
            issuers.append(_parse_entry(provider, entry, where, http, base_dir))
    return issuers


def _parse_entry(
    provider: Provider, entry: Any, where: str, http: httpx.AsyncClient, base_dir: Path | None
) -> TrustedIssuer:
    if not isinstance(entry, Mapping):
        raise TrustedIssuerConfigError(f"{where} must be an object")
    issuer = entry.get("issuer")
    if not isinstance(issuer, str) or not issuer.strip():
        raise TrustedIssuerConfigError(f"{where}: 'issuer' (the tokens' iss) is required")
    algorithms = entry.get("algorithms", ["RS256"])
    if (
        not isinstance(algorithms, list)
        or not algorithms
        or not all(isinstance(a, str) and a in ASYMMETRIC_ALGORITHMS for a in algorithms)
    ):
        raise TrustedIssuerConfigError(
            f"{where}: 'algorithms' must be a list of {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}"
        )
    sources = [name for name in ("jwks_uri", "key_file", "jwks") if entry.get(name) is not None]
    if len(sources) != 1:
        raise TrustedIssuerConfigError(f"{where}: give exactly one of 'jwks_uri', 'key_file' or 'jwks'")
    keys: KeySource
    try:
        if sources[0] == "jwks_uri":
            url = entry["jwks_uri"]
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise TrustedIssuerConfigError(f"{where}: 'jwks_uri' must be an http(s) URL")
            keys = JwksKeys(url, http)
        elif sources[0] == "key_file":
            path = Path(str(entry["key_file"])).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            keys = StaticKeys(load_key_file(path))
        else:
            keys = StaticKeys(keys_from_jwks(entry["jwks"]))
    except (OSError, ValueError) as exc:
        if isinstance(exc, TrustedIssuerConfigError):
            raise
        raise TrustedIssuerConfigError(f"{where}: {exc}") from exc
    return TrustedIssuer(provider=provider, issuer=issuer.strip(), keys=keys, algorithms=tuple(algorithms))
