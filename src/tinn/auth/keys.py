"""Token signing keys: RSA-2048 keys with self-signed X.509 certificates in the ``signing_keys`` table.

Every API process shares the table. The first process to start creates the first key (creation is
serialised, so several processes starting at once end up with one key); :meth:`KeyStore.rotate`
adds a key that is published in the JWKS at once but signs only from ``active_from``, so every
verifier has it before the first token signed with it arrives. The signing key is the key with the
latest ``active_from`` that has been reached. A key that has been superseded is retired once no
token it signed can still be valid: ``max_token_lifetime`` plus the clock skew after the next key
took over.

Keys are cached in memory and re-read every ``refresh_interval`` so that all processes converge; a
token with an unknown ``kid`` triggers an early re-read (at most every few seconds).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select, text, update

from tinn.clock import Clock
from tinn.storage.db import Database
from tinn.storage.tables import signing_keys

log = structlog.get_logger("tinn.auth.keys")

KEY_SIZE = 2048
CERTIFICATE_YEARS = 10
# Tokens may be up to this early or late; a key must outlive its last token by as much.
CLOCK_SKEW = timedelta(seconds=10)
# An unknown `kid` re-reads the keys, but not more often than this (a flood of forged kids
# must not turn into a flood of database reads).
UNKNOWN_KID_REFRESH_FLOOR = 5.0
# Serialises first-key creation across PostgreSQL sessions (SQLite's BEGIN IMMEDIATE already does).
_CREATE_LOCK_ID = 0x54494E4E4B455953  # "TINNKEYS"


def b64(data: bytes) -> str:
    """Standard base64 with padding (Altinn's JWKS writes `n`, `e` and `x5c` this way)."""
    return base64.b64encode(data).decode("ascii")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def thumbprint(certificate: x509.Certificate) -> bytes:
    """SHA-1 over the DER certificate: what .NET calls the certificate's thumbprint."""
    return hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER), usedforsecurity=False).digest()


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    x5t: str
    private_key: rsa.RSAPrivateKey
    public_key: rsa.RSAPublicKey
    certificate: x509.Certificate
    created: datetime
    active_from: datetime
    retired: datetime | None

    @classmethod
    def from_pem(
        cls,
        private_key_pem: bytes,
        certificate_pem: bytes,
        *,
        created: datetime,
        active_from: datetime,
        retired: datetime | None,
    ) -> SigningKey:
        private_key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("signing key is not an RSA key")
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        digest = thumbprint(certificate)
        return cls(
            kid=digest.hex().upper(),
            x5t=b64url(digest),
            private_key=private_key,
            public_key=private_key.public_key(),
            certificate=certificate,
            created=created,
            active_from=active_from,
            retired=retired,
        )

    def jwk(self) -> dict[str, Any]:
        """The key as Altinn publishes it: ``n``/``e`` in standard base64, ``kid`` the thumbprint."""
        numbers = self.public_key.public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "e": b64(_int_bytes(numbers.e)),
            "n": b64(_int_bytes(numbers.n)),
            "x5c": [b64(self.certificate.public_bytes(serialization.Encoding.DER))],
        }


def generate_key_material(now: datetime, *, common_name: str = "Tinn token signing") -> tuple[bytes, bytes]:
    """A new RSA key and a self-signed certificate for it, both PEM (CPU-bound: run off the loop)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * CERTIFICATE_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(private_key, hashes.SHA256())
    )
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private_pem, certificate.public_bytes(serialization.Encoding.PEM)


def retirement_times(keys: Sequence[SigningKey], max_token_lifetime: timedelta) -> dict[str, datetime]:
    """When each superseded key stops verifying: the last token it signed has expired by then.

    A key signs from its ``active_from`` until the next later ``active_from``; keys that have not
    been superseded (the newest, and any not yet active) are absent from the result.
    """
    ordered = sorted(keys, key=lambda k: (k.active_from, k.created, k.kid))
    times: dict[str, datetime] = {}
    for key, successor in itertools.pairwise(ordered):
        times[key.kid] = successor.active_from + max_token_lifetime + CLOCK_SKEW
    return times


class KeyStore:
    """The signing keys of this deployment, cached in memory."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        rollover_delay: timedelta,
        max_token_lifetime: timedelta,
        refresh_interval: float = 60.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self.rollover_delay = rollover_delay
        self.max_token_lifetime = max_token_lifetime
        self._refresh_interval = refresh_interval
        self._keys: tuple[SigningKey, ...] = ()
        self._by_kid: dict[str, SigningKey] = {}
        # Explicit retirement, or when a superseded key's last token has expired.
        self._retire_at: dict[str, datetime] = {}
        self._next_refresh = 0.0
        self._last_unknown_kid_refresh = float("-inf")
        self._lock = asyncio.Lock()

    # Loading -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the keys, creating the first one if the table is empty."""
        await self.refresh()
        if not self._usable():
            await self._create_first_key()
            await self.refresh()
        if not self._usable():
            raise RuntimeError("no usable signing key after creating one")

    def _usable(self) -> bool:
        return bool(self._live())

    async def _create_first_key(self) -> None:
        now = self._clock.now()
        private_pem, certificate_pem = await asyncio.to_thread(generate_key_material, now)
        async with self._db.write() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CREATE_LOCK_ID})
            existing = await conn.execute(
                select(signing_keys.c.kid).where(signing_keys.c.retired.is_(None)).limit(1)
            )
            if existing.first() is not None:
                # Another process won the race; its key is the one everybody uses.
                return
            key = SigningKey.from_pem(
                private_pem, certificate_pem, created=now, active_from=now, retired=None
            )
            await conn.execute(
                signing_keys.insert().values(
                    kid=key.kid,
                    private_key_pem=private_pem,
                    certificate_pem=certificate_pem,
                    created=now,
                    active_from=now,
                    retired=None,
                )
            )
        log.info("signing_key_created", kid=key.kid)

    async def refresh(self) -> None:
        """Re-read the keys from the database, retiring superseded keys whose time has come."""
        async with self._lock:
            await self._reload()

    async def _reload(self) -> None:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(signing_keys))).mappings().all()
        keys: list[SigningKey] = []
        for row in rows:
            # Parsing a private key is slow; a key's material never changes, only its times.
            known = self._by_kid.get(row["kid"])
            if known is None:
                keys.append(
                    SigningKey.from_pem(
                        bytes(row["private_key_pem"]),
                        bytes(row["certificate_pem"]),
                        created=row["created"],
                        active_from=row["active_from"],
                        retired=row["retired"],
                    )
                )
            else:
                keys.append(
                    replace(
                        known, created=row["created"], active_from=row["active_from"], retired=row["retired"]
                    )
                )
        now = self._clock.now()
        retired_now = {k.kid for k in keys if k.retired is not None}
        due = {
            kid: when
            for kid, when in retirement_times(keys, self.max_token_lifetime).items()
            if when <= now and kid not in retired_now
        }
        if due:
            # Every process computes the same time, so concurrent updates agree.
            async with self._db.write() as conn:
                for kid, when in due.items():
                    await conn.execute(
                        update(signing_keys)
                        .where(signing_keys.c.kid == kid, signing_keys.c.retired.is_(None))
                        .values(retired=when)
                    )
            for kid in due:
                log.info("signing_key_retired", kid=kid)
            keys = [replace(k, retired=due[k.kid]) if k.kid in due else k for k in keys]
        keys.sort(key=lambda k: (k.active_from, k.created, k.kid))
        retire_at = retirement_times(keys, self.max_token_lifetime)
        retire_at.update({k.kid: k.retired for k in keys if k.retired is not None})
        self._keys = tuple(keys)
        self._retire_at = retire_at
        self._by_kid = {k.kid: k for k in keys}
        self._next_refresh = time.monotonic() + self._refresh_interval

    async def maybe_refresh(self) -> None:
        """Re-read the keys when the refresh interval has passed (cheap when it has not)."""
        if time.monotonic() < self._next_refresh or self._lock.locked():
            return
        await self.refresh()

    async def refresh_for_unknown_kid(self) -> bool:
        """Re-read the keys because a token named a key we do not know; False when rate-limited."""
        now = time.monotonic()
        if now - self._last_unknown_kid_refresh < UNKNOWN_KID_REFRESH_FLOOR:
            return False
        self._last_unknown_kid_refresh = now
        await self.refresh()
        return True

    # Rotation ------------------------------------------------------------------------

    async def rotate(self, *, delay: timedelta | None = None) -> SigningKey:
        """Add a key: in the JWKS at once, signing from ``now + delay`` (default: the rollover delay)."""
        now = self._clock.now()
        active_from = now + (self.rollover_delay if delay is None else delay)
        private_pem, certificate_pem = await asyncio.to_thread(generate_key_material, now)
        key = SigningKey.from_pem(
            private_pem, certificate_pem, created=now, active_from=active_from, retired=None
        )
        async with self._db.write() as conn:
            await conn.execute(
                signing_keys.insert().values(
                    kid=key.kid,
                    private_key_pem=private_pem,
                    certificate_pem=certificate_pem,
                    created=now,
                    active_from=active_from,
                    retired=None,
                )
            )
        log.info("signing_key_rotated", kid=key.kid, active_from=active_from.isoformat())
        await self.refresh()
        return key

    # Lookups -------------------------------------------------------------------------

    def _is_live(self, key: SigningKey, now: datetime) -> bool:
        until = self._retire_at.get(key.kid)
        return until is None or until > now

    def _live(self) -> list[SigningKey]:
        now = self._clock.now()
        return [k for k in self._keys if self._is_live(k, now)]

    def signing_key(self) -> SigningKey:
        """The key new tokens are signed with: the latest ``active_from`` that has been reached."""
        live = self._live()
        if not live:
            raise RuntimeError("no signing key loaded: KeyStore.start() has not run")
        now = self._clock.now()
        active = [k for k in live if k.active_from <= now]
        # Only a clock set back past every key's start leaves none active; use the earliest.
        return active[-1] if active else live[0]

    def verification_key(self, kid: str) -> SigningKey | None:
        key = self._by_kid.get(kid)
        if key is None or not self._is_live(key, self._clock.now()):
            return None
        return key

    def retires_at(self, kid: str) -> datetime | None:
        """When the key stops verifying: set, or due once a newer key took over (None: not yet known)."""
        return self._retire_at.get(kid)

    def verification_keys(self) -> list[SigningKey]:
        return self._live()

    def published(self) -> list[SigningKey]:
        """Keys in the JWKS: every key that can still verify, including those not yet signing."""
        return self._live()

    def all_keys(self) -> tuple[SigningKey, ...]:
        """Every key in the table, retired ones included (for `tinn keys list`)."""
        return self._keys

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.published()]}
