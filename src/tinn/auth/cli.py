"""`tinn token ...` and `tinn keys ...`: test tokens and signing-key rotation from the command line.

Tokens are minted directly with this deployment's signing keys (the database from the same
settings as `tinn serve`), so no server needs to run. Every token is printed alone on stdout::

    TOKEN=$(tinn token person 01039012345)
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:5005/authentication/api/v1/refresh
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import jwt
import typer
from rich.console import Console

from tinn.auth import claims as c
from tinn.auth.keys import KeyStore
from tinn.auth.testidp import (
    DEFAULT_AMR,
    DEFAULT_CLIENT_ID,
    JWT_BEARER_GRANT,
    PREFIX,
    load_or_create_private_key,
)
from tinn.auth.tokens import TokenService
from tinn.clock import SystemClock
from tinn.observability import configure_logging
from tinn.register.loader import load_register
from tinn.register.service import Register
from tinn.settings import Settings
from tinn.storage.db import Database

app = typer.Typer(add_completion=False)
token_app = typer.Typer(help="Mint test tokens with this deployment's signing keys.", no_args_is_help=True)
keys_app = typer.Typer(help="Token signing keys.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(keys_app, name="keys")

err_console = Console(stderr=True)
T = TypeVar("T")


@dataclass
class _Context:
    settings: Settings
    keys: KeyStore
    tokens: TokenService
    register: Register


@asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[_Context]:
    # Database() creates the SQLite file's folder, which the migration needs.
    db = Database(settings.effective_database_url, pool_size=1)
    clock = SystemClock()
    try:
        if settings.effective_auto_migrate:
            from tinn.storage import migrate

            await migrate.upgrade(settings.effective_database_url)
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
        register = load_register(settings.register_dir).register
        yield _Context(settings, keys, tokens, register)
    finally:
        await db.dispose()


def _settings() -> Settings:
    """Settings as `tinn serve` reads them; start-up logs go to stderr and only from warnings up,
    so stdout holds nothing but the result."""
    settings = Settings()
    configure_logging(
        settings
        if settings.log_level.lower() == "debug"
        else settings.model_copy(update={"log_level": "warning"})
    )
    return settings


def _run(work: Callable[[_Context], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _open(_settings()) as context:
            return await work(context)

    return asyncio.run(main())


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error[/] {message}")
    return typer.Exit(1)


def _lifetime(minutes: int | None) -> timedelta | None:
    return None if minutes is None else timedelta(minutes=minutes)


ScopesOption = Annotated[
    str | None,
    typer.Option("--scopes", help="Space- or comma-separated scopes (default depends on the kind)."),
]
MinutesOption = Annotated[
    int | None,
    typer.Option("--minutes", min=1, help="Lifetime in minutes (default: TINN_JWT_VALIDITY_MINUTES)."),
]


@token_app.command("person")
def token_person(
    pid: Annotated[str, typer.Argument(help="National identity number of a person in the register.")],
    scopes: ScopesOption = None,
    auth_level: Annotated[int, typer.Option("--auth-level", min=0, max=4, help="Authentication level.")] = 3,
    amr: Annotated[str, typer.Option(help="Authentication method (`amr`).")] = DEFAULT_AMR,
    minutes: MinutesOption = None,
) -> None:
    """A person's token, as the ID-porten exchange issues it."""

    async def work(context: _Context) -> str:
        user = context.register.user_by_ssn(pid)
        if user is None:
            raise _fail(
                f"no user with national identity number {pid} "
                f"in the register ({context.settings.register_dir})"
            )
        party = context.register.party(user.party_id) or user.party
        claims = c.person_claims(
            user_id=user.user_id,
            username=user.user_name,
            party_id=user.party_id,
            party_uuid=None if party is None else party.party_uuid,
            auth_level=auth_level,
            auth_method=amr,
            pid=pid,
            acr=c.acr_for_level(auth_level),
            amr=[amr],
            scope=c.scope_string(scopes) if scopes else c.DEFAULT_PERSON_SCOPE,
        )
        return context.tokens.issue(claims, lifetime=_lifetime(minutes))

    typer.echo(_run(work))


@token_app.command("org")
def token_org(
    org_number: Annotated[str, typer.Argument(help="The organisation's 9-digit number.")],
    serviceowner: Annotated[
        str | None,
        typer.Option("--serviceowner", help="Service-owner code (adds `urn:altinn:org`), e.g. ttd."),
    ] = None,
    scopes: ScopesOption = None,
    minutes: MinutesOption = None,
) -> None:
    """An organisation's token as the Maskinporten exchange issues it (--serviceowner: a service owner's)."""
    if not c.is_org_number(org_number):
        raise _fail(f"{org_number!r} is not a 9-digit organisation number")

    async def work(context: _Context) -> str:
        org_code: str | None = None
        if serviceowner is not None:
            owner = context.register.service_owner(serviceowner)
            if owner is None:
                raise _fail(f"{serviceowner!r} is not a service owner in the register")
            if owner.org_number and owner.org_number != org_number:
                # Allowed: Altinn's test environments give Digdir's number the test owner `ttd`.
                err_console.print(
                    f"[yellow]note[/] service owner {owner.org} has org number {owner.org_number} "
                    f"in the register; the token says {org_number}"
                )
            org_code = owner.org
        claims = c.organisation_claims(
            org_number=org_number,
            org=org_code,
            scope=c.scope_string(scopes) if scopes else None,
            client_id=str(uuid.uuid4()),
        )
        return context.tokens.issue(claims, lifetime=_lifetime(minutes))

    typer.echo(_run(work))


@token_app.command("systemuser")
def token_system_user(
    system_user_id: Annotated[str | None, typer.Argument(help="The system user's id (a UUID).")] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="The customer organisation the system user acts for.")
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="The system id, e.g. 913312465_sbs.")] = None,
    scopes: ScopesOption = None,
    minutes: MinutesOption = None,
) -> None:
    """A system user's token, as the Maskinporten exchange issues it: by id, or by --org (and --system)."""

    async def work(context: _Context) -> str:
        register = context.register
        if system_user_id is not None:
            system_user = register.system_user(system_user_id)
            if system_user is None:
                raise _fail(f"no system user {system_user_id} in the register")
        elif org is not None:
            candidates = [
                su
                for su in register.system_users_for(org)
                if system is None or su.system_id.lower() == system.lower()
            ]
            if len(candidates) != 1:
                found = ", ".join(f"{su.id} ({su.system_id})" for su in candidates) or "none"
                raise _fail(
                    f"need exactly one system user for {org}"
                    + (f" in {system}" if system else "")
                    + f"; found {found}"
                )
            system_user = candidates[0]
        else:
            raise _fail("give a system user id, or --org (and --system)")
        vendor = system_user.supplier_org_number
        if vendor is None:
            raise _fail(f"cannot tell the vendor of system {system_user.system_id} (expected <orgno>_<name>)")
        claims = c.system_user_claims(
            system_user_id=system_user.id,
            system_user_org_number=system_user.org_number,
            system_id=system_user.system_id,
            vendor_org_number=vendor,
            scope=c.scope_string(scopes) if scopes else c.DEFAULT_ORG_SCOPE,
            client_id=str(uuid.uuid4()),
        )
        return context.tokens.issue(claims, lifetime=_lifetime(minutes))

    typer.echo(_run(work))


@token_app.command("self-identified")
def token_self_identified(
    username: Annotated[str, typer.Argument(help="Username of a self-identified user in the register.")],
    scopes: ScopesOption = None,
    minutes: MinutesOption = None,
) -> None:
    """A self-identified user's token (authentication level 0), as the Altinn portal issues it."""

    async def work(context: _Context) -> str:
        user = context.register.user_by_username(username)
        if user is None:
            raise _fail(f"no user {username!r} in the register")
        party = context.register.party(user.party_id) or user.party
        claims = c.self_identified_claims(
            user_id=user.user_id,
            username=user.user_name or username,
            party_id=user.party_id,
            party_uuid=None if party is None else party.party_uuid,
            scope=c.scope_string(scopes) if scopes else c.PORTAL_SCOPE,
        )
        return context.tokens.issue(claims, lifetime=_lifetime(minutes))

    typer.echo(_run(work))


def _default_client_key(settings: Settings) -> Path:
    return (settings.data_dir / "testidp" / "default-client-key.pem").resolve()


@token_app.command("maskinporten-key")
def token_maskinporten_key() -> None:
    """The test Maskinporten client: its id, private key file, audience and token endpoint."""
    settings = Settings()
    path = _default_client_key(settings)
    load_or_create_private_key(path)
    base = f"{settings.effective_platform_url}{PREFIX}/maskinporten"
    typer.echo(f"client_id: {DEFAULT_CLIENT_ID}")
    typer.echo(f"private_key: {path}")
    typer.echo(f"audience: {base}/")
    typer.echo(f"token_endpoint: {base}/token")
    typer.echo(f"grant_type: {JWT_BEARER_GRANT}")


@token_app.command("maskinporten-assertion")
def token_maskinporten_assertion(
    scopes: Annotated[str, typer.Option("--scopes", help="Scopes to ask for.")],
    consumer_org: Annotated[
        str | None, typer.Option("--consumer-org", help="Act for this organisation (default: 991825827).")
    ] = None,
    system_user_org: Annotated[
        str | None,
        typer.Option("--system-user-org", help="Ask for the system user acting for this customer."),
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="The system id, when several fit.")] = None,
) -> None:
    """A client assertion (JWT-bearer grant) signed with the test client's key, for the test Maskinporten."""
    settings = Settings()
    key = load_or_create_private_key(_default_client_key(settings))
    now = int(SystemClock().now().timestamp())
    payload: dict[str, Any] = {
        "iss": DEFAULT_CLIENT_ID,
        "aud": f"{settings.effective_platform_url}{PREFIX}/maskinporten/",
        "scope": c.scope_string(scopes),
        "iat": now,
        "exp": now + 100,
        "jti": str(uuid.uuid4()),
    }
    if consumer_org is not None:
        payload["consumer_org"] = consumer_org
    if system_user_org is not None:
        details: dict[str, Any] = {"type": c.SYSTEM_USER_TYPE, "systemuser_org": c.consumer(system_user_org)}
        if system is not None:
            details["system_id"] = system
        payload["authorization_details"] = [details]
    typer.echo(jwt.encode(payload, key, algorithm="RS256"))


@keys_app.command("rotate")
def keys_rotate(
    delay_hours: Annotated[
        float | None,
        typer.Option(
            "--delay-hours",
            min=0,
            help="Hours until the new key signs (default: TINN_JWT_KEY_ROLLOVER_HOURS).",
        ),
    ] = None,
) -> None:
    """Add a signing key: published in the JWKS now, signing after the rollover delay."""

    async def work(context: _Context) -> str:
        key = await context.keys.rotate(delay=None if delay_hours is None else timedelta(hours=delay_hours))
        return f"{key.kid} signs from {key.active_from.isoformat()}"

    typer.echo(_run(work))


@keys_app.command("list")
def keys_list() -> None:
    """Every signing key: when it was made, when it signs from, when it retires."""

    async def work(context: _Context) -> list[tuple[str, str, str, str, str]]:
        signing = context.keys.signing_key().kid
        published = {k.kid for k in context.keys.published()}
        return [
            (
                key.kid,
                key.created.isoformat(timespec="seconds"),
                key.active_from.isoformat(timespec="seconds"),
                retires.isoformat(timespec="seconds")
                if (retires := context.keys.retires_at(key.kid))
                else "",
                "signing" if key.kid == signing else "published" if key.kid in published else "retired",
            )
            for key in context.keys.all_keys()
        ]

    rows = [("kid", "created", "signs from", "retires", "state"), *_run(work)]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
