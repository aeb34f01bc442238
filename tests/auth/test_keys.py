"""Signing keys: creation (race-safe), JWKS format, rotation, retirement, convergence between processes."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from tests.auth.test_tokens import NOW, fresh_database_url, new_keystore
from tinn.auth.keys import CLOCK_SKEW, KeyStore, retirement_times
from tinn.auth.tokens import TokenError, TokenService
from tinn.clock import FixedClock
from tinn.storage import migrate
from tinn.storage.db import Database
from tinn.storage.tables import signing_keys

__all__ = ["fresh_database_url"]  # the fixture, re-exported for this module


@pytest.fixture
async def databases(fresh_database_url: str) -> AsyncIterator[list[Database]]:
    """Several engines on one database: stand-ins for several API processes."""
    await migrate.upgrade(fresh_database_url)
    dbs = [Database(fresh_database_url) for _ in range(4)]
    try:
        yield dbs
    finally:
        for db in dbs:
            await db.dispose()


async def count_keys(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(signing_keys))).scalar_one())


def std_b64_int(text: str) -> int:
    # Altinn writes n and e in standard base64 with padding; b64decode(validate=True) rejects base64url.
    return int.from_bytes(base64.b64decode(text, validate=True), "big")


async def test_first_start_creates_one_key(databases: list[Database]) -> None:
    keys = new_keystore(databases[0], FixedClock(NOW))
    await keys.start()
    assert await count_keys(databases[0]) == 1
    key = keys.signing_key()
    assert key.active_from == NOW
    assert key.private_key.key_size == 2048
    # A second start (a restart) reuses it.
    again = new_keystore(databases[1], FixedClock(NOW + timedelta(days=1)))
    await again.start()
    assert again.signing_key().kid == key.kid
    assert await count_keys(databases[0]) == 1


async def test_processes_starting_at_once_agree_on_one_key(databases: list[Database]) -> None:
    stores = [new_keystore(db, FixedClock(NOW)) for db in databases]
    await asyncio.gather(*(store.start() for store in stores))
    assert await count_keys(databases[0]) == 1
    assert len({store.signing_key().kid for store in stores}) == 1


async def test_jwks_has_altinns_shape(databases: list[Database]) -> None:
    keys = new_keystore(databases[0], FixedClock(NOW))
    await keys.start()
    (jwk,) = keys.jwks()["keys"]
    key = keys.signing_key()
    assert set(jwk) == {"kty", "use", "kid", "e", "n", "x5c"}
    assert (jwk["kty"], jwk["use"], jwk["kid"]) == ("RSA", "sig", key.kid)
    numbers = key.public_key.public_numbers()
    assert std_b64_int(jwk["e"]) == numbers.e == 65537
    assert jwk["e"] == "AQAB"
    assert std_b64_int(jwk["n"]) == numbers.n
    assert jwk["n"].endswith("=") or len(jwk["n"]) % 4 == 0
    certificate = x509.load_der_x509_certificate(base64.b64decode(jwk["x5c"][0], validate=True))
    assert certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def test_rotated_key_is_published_before_it_signs(databases: list[Database]) -> None:
    clock = FixedClock(NOW)
    keys = new_keystore(databases[0], clock, rollover_delay=timedelta(hours=48))
    await keys.start()
    tokens = TokenService(
        keys,
        clock,
        issuer="https://tinn.test/",
        validity=timedelta(minutes=30),
        max_validity=timedelta(hours=12),
    )
    old = keys.signing_key()
    old_token = tokens.issue({"urn:altinn:userid": "1"})

    new = await keys.rotate()
    assert new.active_from == NOW + timedelta(hours=48)
    assert {k["kid"] for k in keys.jwks()["keys"]} == {old.kid, new.kid}
    assert keys.signing_key().kid == old.kid

    clock.advance(timedelta(hours=47, minutes=59))
    assert keys.signing_key().kid == old.kid
    clock.advance(timedelta(minutes=1))
    assert keys.signing_key().kid == new.kid
    new_token = tokens.issue({"urn:altinn:userid": "2"})
    assert new_token.split(".")[0] != old_token.split(".")[0]

    # Tokens the old key signed still verify after the rotation (while they live).
    fresh_old = tokens.sign({"exp": int(clock.now().timestamp()) + 60}, key=old)
    await tokens.verify(fresh_old)
    await tokens.verify(new_token)


async def test_superseded_key_retires_after_its_last_token_expired(databases: list[Database]) -> None:
    clock = FixedClock(NOW)
    lifetime = timedelta(hours=12)
    keys = new_keystore(databases[0], clock, rollover_delay=timedelta(hours=1), max_token_lifetime=lifetime)
    await keys.start()
    tokens = TokenService(keys, clock, issuer="https://tinn.test/", validity=lifetime, max_validity=lifetime)
    old = keys.signing_key()
    new = await keys.rotate()
    retire_at = new.active_from + lifetime + CLOCK_SKEW
    assert keys.retires_at(old.kid) == retire_at
    assert keys.retires_at(new.kid) is None

    # The last token the old key signed: issued just before the new key took over, maximal lifetime.
    clock.advance(timedelta(hours=1) - timedelta(seconds=1))
    last = tokens.issue({"urn:altinn:userid": "1"})
    assert last.split(".")[0] == tokens.sign({}, key=old).split(".")[0]
    clock.advance(lifetime)
    await tokens.verify(last)  # within the skew, still valid
    assert old.kid in {k["kid"] for k in keys.jwks()["keys"]}

    clock.advance(timedelta(seconds=20))
    assert keys.verification_key(old.kid) is None
    assert {k["kid"] for k in keys.jwks()["keys"]} == {new.kid}
    await keys.refresh()
    async with databases[0].read() as conn:
        retired = (
            await conn.execute(select(signing_keys.c.retired).where(signing_keys.c.kid == old.kid))
        ).scalar_one()
    assert retired == retire_at
    with pytest.raises(TokenError):
        await tokens.verify(tokens.sign({"exp": int(clock.now().timestamp()) + 60}, key=old))


def test_retirement_times_follow_activation_order() -> None:
    class K:
        def __init__(self, kid: str, hours: int) -> None:
            self.kid, self.active_from, self.created = kid, NOW + timedelta(hours=hours), NOW

    a, b, c = K("a", 0), K("b", 48), K("c", 96)
    times = retirement_times([c, a, b], timedelta(hours=12))  # type: ignore[list-item]
    assert times == {
        "a": b.active_from + timedelta(hours=12) + CLOCK_SKEW,
        "b": c.active_from + timedelta(hours=12) + CLOCK_SKEW,
    }


async def test_other_processes_converge_on_refresh(databases: list[Database]) -> None:
    clock = FixedClock(NOW)
    first = new_keystore(databases[0], clock)
    second: KeyStore = new_keystore(databases[1], clock, refresh_interval=0.0)
    await first.start()
    await second.start()
    clock.advance(timedelta(seconds=1))
    rotated = await first.rotate(delay=timedelta(0))
    assert second.verification_key(rotated.kid) is None
    await second.maybe_refresh()  # interval 0: every call re-reads
    assert second.verification_key(rotated.kid) is not None
    assert second.signing_key().kid == rotated.kid == first.signing_key().kid


async def test_maybe_refresh_waits_for_the_interval(databases: list[Database]) -> None:
    clock = FixedClock(NOW)
    first = new_keystore(databases[0], clock)
    second = new_keystore(databases[1], clock, refresh_interval=3600.0)
    await first.start()
    await second.start()
    rotated = await first.rotate()
    await second.maybe_refresh()
    assert second.verification_key(rotated.kid) is None


async def test_unknown_kid_refreshes_once_then_verifies(databases: list[Database]) -> None:
    clock = FixedClock(NOW)
    first = new_keystore(databases[0], clock)
    second = new_keystore(databases[1], clock, refresh_interval=3600.0)
    await first.start()
    await second.start()
    clock.advance(timedelta(seconds=1))
    rotated = await first.rotate(delay=timedelta(0))
    signing = TokenService(
        first, clock, issuer="x", validity=timedelta(minutes=5), max_validity=timedelta(hours=1)
    )
    verifying = TokenService(
        second, clock, issuer="x", validity=timedelta(minutes=5), max_validity=timedelta(hours=1)
    )
    token = signing.issue({"urn:altinn:userid": "1"})
    assert token.split(".")[0] == signing.sign({}, key=rotated).split(".")[0]
    assert (await verifying.verify(token))["urn:altinn:userid"] == "1"
    # A second unknown kid right away does not hit the database again.
    assert await second.refresh_for_unknown_kid() is False


async def test_explicitly_retired_key_stops_verifying_and_is_replaced(databases: list[Database]) -> None:
    clock = FixedClock(NOW)
    keys = new_keystore(databases[0], clock)
    await keys.start()
    tokens = TokenService(
        keys, clock, issuer="x", validity=timedelta(minutes=5), max_validity=timedelta(hours=1)
    )
    compromised = keys.signing_key()
    token = tokens.issue({"urn:altinn:userid": "1"})
    async with databases[0].write() as conn:
        await conn.execute(
            signing_keys.update().where(signing_keys.c.kid == compromised.kid).values(retired=NOW)
        )
    await keys.refresh()
    assert keys.verification_key(compromised.kid) is None
    assert keys.jwks()["keys"] == []
    with pytest.raises(TokenError):
        await tokens.verify(token)
    # The next start finds no usable key and makes a new one.
    restarted = new_keystore(databases[1], clock)
    await restarted.start()
    assert restarted.signing_key().kid != compromised.kid
    assert await count_keys(databases[0]) == 2
