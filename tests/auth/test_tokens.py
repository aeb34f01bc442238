"""Platform tokens: issuing (header, times, caps) and verification (every way a token must be refused)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import structlog
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from tests.conftest import _postgres_admin_url
from tinn.auth.keys import KeyStore
from tinn.auth.tokens import TokenError, TokenService
from tinn.clock import Clock, FixedClock
from tinn.storage import migrate
from tinn.storage.db import Database

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


# Helpers shared by the other auth tests ------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def decode_segment(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def header_of(token: str) -> dict[str, Any]:
    value: dict[str, Any] = decode_segment(token.split(".")[0])
    return value


def payload_of(token: str) -> dict[str, Any]:
    value: dict[str, Any] = decode_segment(token.split(".")[1])
    return value


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """A database of its own (signing keys are per database): SQLite file, or a new PostgreSQL database."""
    admin_url = _postgres_admin_url()
    if admin_url is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    import asyncpg

    parsed = make_url(admin_url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"tinn_auth_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def new_keystore(db: Database, clock: FixedClock, **overrides: Any) -> KeyStore:
    options: dict[str, Any] = {
        "rollover_delay": timedelta(hours=48),
        "max_token_lifetime": timedelta(hours=12),
        "refresh_interval": 60.0,
    }
    options.update(overrides)
    return KeyStore(db, clock, **options)


@dataclass
class Signer:
    """Signs test tokens with a deployment's keys, at its clock's time."""

    tokens: TokenService
    clock: Clock

    @property
    def key(self) -> Any:
        return self.tokens.keys.signing_key()

    def claims(self, **extra: Any) -> dict[str, Any]:
        now = int(self.clock.now().timestamp())
        claims: dict[str, Any] = {
            "urn:altinn:userid": "1337",
            "urn:altinn:partyid": 501337,
            "urn:altinn:authlevel": 3,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        }
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
async def signer(fresh_database_url: str) -> AsyncIterator[Signer]:
    await migrate.upgrade(fresh_database_url)
    db = Database(fresh_database_url)
    clock = FixedClock(NOW)
    keys = new_keystore(db, clock)
    await keys.start()
    tokens = TokenService(
        keys,
        clock,
        issuer="https://tinn.test/authentication/api/v1/openid/",
        validity=timedelta(minutes=30),
        max_validity=timedelta(hours=12),
    )
    try:
        yield Signer(tokens, clock)
    finally:
        await db.dispose()


def foreign_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign_with(key: Any, payload: dict[str, Any], header: dict[str, Any], algorithm: str = "RS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers=header)


def raw_rs256(key: rsa.RSAPrivateKey, header: Any, payload: bytes) -> str:
    """RS256 over any header and payload bytes, valid or not (libraries refuse to write odd ones)."""
    signing_input = f"{b64url_json(header)}.{b64url(payload)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


# Issuing ---------------------------------------------------------------------------------------


async def test_header_is_altinns_alg_kid_x5t_typ(signer: Signer) -> None:
    token = signer.tokens.issue({"urn:altinn:userid": "1337"})
    raw_header = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    key = signer.key
    assert (
        raw_header
        == json.dumps(
            {"alg": "RS256", "kid": key.kid, "x5t": key.x5t, "typ": "JWT"}, separators=(",", ":")
        ).encode()
    )
    # kid is the certificate's SHA-1 thumbprint in upper-case hex, x5t the same digest in base64url.
    der = key.certificate.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha1(der, usedforsecurity=False).digest()
    assert key.kid == digest.hex().upper()
    assert key.x5t == b64url(digest)


async def test_issue_sets_iss_iat_nbf_and_exp_from_validity(signer: Signer) -> None:
    token = signer.tokens.issue({"urn:altinn:userid": "1337", "iss": "evil", "exp": 1, "iat": 1})
    payload = payload_of(token)
    now = int(NOW.timestamp())
    assert payload["iss"] == "https://tinn.test/authentication/api/v1/openid/"
    assert (payload["iat"], payload["nbf"], payload["exp"]) == (now, now, now + 30 * 60)
    assert payload["urn:altinn:userid"] == "1337"


@pytest.mark.parametrize(
    ("kwargs", "expected_seconds"),
    [
        ({"lifetime": timedelta(minutes=5)}, 5 * 60),
        ({"expires": NOW + timedelta(seconds=90)}, 90),
        # Never longer than the maximum validity, so a retired key's tokens are all expired.
        ({"lifetime": timedelta(days=30)}, 12 * 3600),
        ({"expires": NOW + timedelta(days=400)}, 12 * 3600),
    ],
)
async def test_issue_lifetime_and_cap(signer: Signer, kwargs: dict[str, Any], expected_seconds: int) -> None:
    payload = payload_of(signer.tokens.issue({"a": 1}, **kwargs))
    assert payload["exp"] - payload["iat"] == expected_seconds


async def test_issued_token_verifies(signer: Signer) -> None:
    token = signer.tokens.issue({"urn:altinn:userid": "1337"})
    claims = await signer.tokens.verify(token)
    assert claims["urn:altinn:userid"] == "1337"


# Verification ----------------------------------------------------------------------------------


def _tampered_payload(s: Signer) -> str:
    token = s.tokens.sign(s.claims())
    head, _, signature = token.split(".")
    return f"{head}.{b64url_json(s.claims(**{'urn:altinn:userid': '1'}))}.{signature}"


def _tampered_signature(s: Signer) -> str:
    token = s.tokens.sign(s.claims())
    head, body, signature = token.split(".")
    flipped = ("A" if signature[10] != "A" else "B").join((signature[:10], signature[11:]))
    return f"{head}.{body}.{flipped}"


def _header(s: Signer, **extra: Any) -> dict[str, Any]:
    return {"kid": s.key.kid, "x5t": s.key.x5t, **extra}


def _alg_none(s: Signer) -> str:
    head = b64url_json({"alg": "none", "kid": s.key.kid, "typ": "JWT"})
    return f"{head}.{b64url_json(s.claims())}."


def _hs256_with_public_key(s: Signer) -> str:
    # The classic attack: HMAC "signed" with the public key a verifier might feed to HS256.
    secret = s.key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{b64url_json({'alg': 'HS256', 'kid': s.key.kid, 'typ': 'JWT'})}.{b64url_json(s.claims())}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _at(s: Signer, seconds: int) -> int:
    return int(s.clock.now().timestamp()) + seconds


REFUSED: dict[str, Callable[[Signer], str]] = {
    "tampered payload": _tampered_payload,
    "tampered signature": _tampered_signature,
    "expired beyond the skew": lambda s: s.tokens.sign(s.claims(exp=_at(s, -11))),
    "not yet valid beyond the skew": lambda s: s.tokens.sign(s.claims(nbf=_at(s, 11))),
    "issued in the future": lambda s: s.tokens.sign(s.claims(iat=_at(s, 60))),
    "no exp": lambda s: s.tokens.sign(s.claims(exp=None)),
    "exp not a number": lambda s: s.tokens.sign(s.claims(exp=str(_at(s, 60)))),
    "exp a boolean": lambda s: s.tokens.sign(s.claims(exp=True)),
    "wrong key, our kid": lambda s: sign_with(foreign_key(), s.claims(), _header(s)),
    "wrong key, unknown kid": lambda s: sign_with(foreign_key(), s.claims(), {"kid": "0" * 40}),
    "wrong key, no kid": lambda s: sign_with(foreign_key(), s.claims(), {}),
    "alg none": _alg_none,
    "HS256 with the public key as secret": _hs256_with_public_key,
    "RS512 with our key": lambda s: sign_with(s.key.private_key, s.claims(), _header(s), "RS512"),
    "PS256 with our key": lambda s: sign_with(s.key.private_key, s.claims(), _header(s), "PS256"),
    "critical header extension": lambda s: sign_with(s.key.private_key, s.claims(), _header(s, crit=["exp"])),
    "kid not a string": lambda s: raw_rs256(
        s.key.private_key, {"alg": "RS256", "kid": 5}, json.dumps(s.claims()).encode()
    ),
    "header not an object": lambda s: raw_rs256(
        s.key.private_key, ["RS256"], json.dumps(s.claims()).encode()
    ),
    "payload not an object": lambda s: raw_rs256(s.key.private_key, _header(s, alg="RS256"), b"[1, 2, 3]"),
    "payload not JSON": lambda s: raw_rs256(s.key.private_key, _header(s, alg="RS256"), b"\xff{"),
    "not a JWT": lambda s: "not-a-token",
    "two segments": lambda s: ".".join(s.tokens.sign(s.claims()).split(".")[:2]),
    "four segments": lambda s: s.tokens.sign(s.claims()) + ".x",
    "too long": lambda s: s.tokens.sign(s.claims(padding="x" * 20_000)),
    "empty": lambda s: "",
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_refused(signer: Signer, case: str) -> None:
    token = REFUSED[case](signer)
    with pytest.raises(TokenError):
        await signer.tokens.verify(token)


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(NOW.timestamp()) - 9},  # expired, but within the 10 s skew
        {"nbf": int(NOW.timestamp()) + 9},
        {"iat": int(NOW.timestamp()) + 9},
    ],
)
async def test_skew_of_ten_seconds_is_accepted(signer: Signer, claims: dict[str, Any]) -> None:
    await signer.tokens.verify(signer.tokens.sign(signer.claims(**claims)))


async def test_token_without_kid_verifies_with_a_published_key(signer: Signer) -> None:
    token = sign_with(signer.key.private_key, signer.claims(), {})
    assert (await signer.tokens.verify(token))["urn:altinn:userid"] == "1337"


async def test_no_audience_and_no_issuer_check(signer: Signer) -> None:
    token = signer.tokens.sign(signer.claims(aud="someone-else", iss="https://elsewhere.example/"))
    assert (await signer.tokens.verify(token))["aud"] == "someone-else"


async def test_expiry_follows_the_injected_clock(signer: Signer) -> None:
    token = signer.tokens.issue({"a": 1}, lifetime=timedelta(minutes=1))
    await signer.tokens.verify(token)
    assert isinstance(signer.clock, FixedClock)
    signer.clock.advance(timedelta(seconds=71))
    with pytest.raises(TokenError):
        await signer.tokens.verify(token)


_jwt_shaped = st.builds(
    lambda a, b, c: f"{a}.{b}.{c}",
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/", max_size=80),
    st.text(max_size=80),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=80),
)
_headers = st.dictionaries(
    st.sampled_from(["alg", "kid", "typ", "crit", "x5t", "jku"]),
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.text(max_size=10), st.sampled_from(["RS256", "none"])
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.one_of(st.text(max_size=200), _jwt_shaped))
async def test_random_strings_are_token_errors(signer: Signer, garbage: str) -> None:
    with pytest.raises(TokenError):
        await signer.tokens.verify(garbage)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=_headers,
    payload=st.one_of(st.text(max_size=40), st.dictionaries(st.text(max_size=5), st.integers())),
)
async def test_random_headers_and_payloads_are_token_errors(
    signer: Signer, header: dict[str, Any], payload: Any
) -> None:
    token = f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(b'sig')}"
    with pytest.raises(TokenError):
        await signer.tokens.verify(token)


# The command line ------------------------------------------------------------------------------


@pytest.fixture
def cli_env(fresh_database_url: str, tmp_path: Path) -> dict[str, str]:
    """Settings for `tinn token`/`tinn keys` as environment variables, on a database of their own."""
    return {
        "TINN_DATABASE_URL": fresh_database_url,
        "TINN_DATA_DIR": str(tmp_path / "data"),
        "TINN_AUTO_MIGRATE": "true",
        "TINN_LOG_LEVEL": "warning",
    }


def run_cli(env: dict[str, str], *args: str) -> Any:
    """Invoke `tinn token`/`tinn keys` in-process. The CLI points structlog at the stderr CliRunner
    swaps in and closes afterwards; logs are dropped here and the test run's logging put back
    (test_cli_stdout_holds_only_the_token runs the real thing in a subprocess)."""
    from typer.testing import CliRunner

    from tinn.auth.cli import app

    saved = structlog.get_config()

    def drop_logs(settings: Any) -> None:
        structlog.configure(logger_factory=structlog.ReturnLoggerFactory(), cache_logger_on_first_use=False)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tinn.auth.cli.configure_logging", drop_logs)
        try:
            return CliRunner().invoke(app, list(args), env=env)
        finally:
            structlog.configure(**saved)


def minted(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = run_cli(env, "token", *args)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token  # stdout holds the token alone
    return payload_of(token)


def test_cli_person(cli_env: dict[str, str]) -> None:
    from tinn.auth.principal import Principal, PrincipalKind

    claims = minted(
        cli_env, "person", "01039012345", "--auth-level", "2", "--scopes", "altinn:instances.read"
    )
    assert (claims["urn:altinn:userid"], claims["urn:altinn:partyid"], claims["pid"]) == (
        "1337",
        501337,
        "01039012345",
    )
    assert (claims["urn:altinn:authlevel"], claims["acr"]) == (2, "Level2")
    assert claims["scope"] == "altinn:instances.read"
    assert claims["exp"] - claims["iat"] == 30 * 60
    assert Principal.from_claims(claims).kind is PrincipalKind.USER


def test_cli_org_and_service_owner(cli_env: dict[str, str]) -> None:
    owner = minted(cli_env, "org", "405003309", "--serviceowner", "ttd", "--minutes", "5")
    assert (owner["urn:altinn:org"], owner["urn:altinn:orgNumber"]) == ("ttd", "405003309")
    assert owner["scope"] == "altinn:serviceowner/instances.read altinn:serviceowner/instances.write"
    assert owner["exp"] - owner["iat"] == 5 * 60
    # Digdir's number as the test owner ttd, as Altinn's test environments do.
    assert minted(cli_env, "org", "991825827", "--serviceowner", "ttd")["urn:altinn:org"] == "ttd"
    org = minted(cli_env, "org", "950474084")
    assert "urn:altinn:org" not in org and org["scope"] == "altinn:instances.read altinn:instances.write"


def test_cli_system_user_and_self_identified(cli_env: dict[str, str]) -> None:
    by_id = minted(cli_env, "systemuser", "d111dbab-d619-4f15-bf29-58fe570a9ae6")
    by_org = minted(cli_env, "systemuser", "--org", "950474084", "--system", "913312465_sbs")
    for claims in (by_id, by_org):
        (details,) = claims["authorization_details"]
        assert details["systemuser_id"] == ["d111dbab-d619-4f15-bf29-58fe570a9ae6"]
        assert claims["urn:altinn:orgNumber"] == "913312465"
    si = minted(cli_env, "self-identified", "SelvRegistrert")
    assert (si["urn:altinn:userid"], si["urn:altinn:authlevel"]) == ("1004", 0)


@pytest.mark.parametrize(
    "args",
    [
        ("person", "00000000000"),
        ("org", "12"),
        ("org", "950474084", "--serviceowner", "nope"),
        ("systemuser",),
        ("systemuser", "00000000-0000-0000-0000-000000000000"),
        ("systemuser", "--org", "310000086"),
        ("self-identified", "nobody"),
    ],
)
def test_cli_refuses_unknown_identities(cli_env: dict[str, str], args: tuple[str, ...]) -> None:
    result = run_cli(cli_env, "token", *args)
    assert result.exit_code == 1
    assert result.stdout == ""


def test_cli_maskinporten_key_and_assertion(cli_env: dict[str, str]) -> None:
    result = run_cli(cli_env, "token", "maskinporten-key")
    assert result.exit_code == 0
    lines = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert lines["client_id"] == "tinn-test-client"
    key_path = Path(lines["private_key"])
    assert key_path.is_file() and key_path.parent.name == "testidp"
    assert lines["audience"].endswith("/authentication/api/v1/testidp/maskinporten/")
    result = run_cli(
        cli_env, "token", "maskinporten-assertion", "--scopes", "a:b", "--system-user-org", "950474084"
    )
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    claims = jwt.decode(
        result.stdout.strip(), key.public_key(), algorithms=["RS256"], audience=lines["audience"]
    )
    assert claims["iss"] == "tinn-test-client"
    assert claims["authorization_details"][0]["systemuser_org"]["ID"] == "0192:950474084"


def test_cli_keys_rotate_and_list(cli_env: dict[str, str]) -> None:
    minted(cli_env, "person", "01039012345")
    result = run_cli(cli_env, "keys", "rotate", "--delay-hours", "2")
    assert result.exit_code == 0
    new_kid = result.stdout.split()[0]
    listing = run_cli(cli_env, "keys", "list")
    assert listing.exit_code == 0
    assert new_kid in listing.stdout and "published" in listing.stdout and "signing" in listing.stdout


def test_cli_stdout_holds_only_the_token(cli_env: dict[str, str]) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, **cli_env, "TINN_LOG_LEVEL": "info"}
    command = [sys.executable, "-c", "from tinn.auth.cli import app; app()", "token", "person", "01039012345"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert payload_of(result.stdout.strip())["urn:altinn:userid"] == "1337"
    assert result.stdout.strip().count("\n") == 0
