"""A Tinn of their own for the SDK and CLI tests, on a database of their own."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import LiveServer, _postgres_admin_url, make_settings
from tinn.client import StorageClient, TestIdentityToken

ORG = "ttd"
APP = "soknad"
PARTY = 501337
USER = 1337
PID = "01039012345"
ORG_NO = "405003309"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def soknad_xml(belop: int, navn: str = "Ola Nordmann") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f"<Soknad><navn>{navn}</navn><organisasjonsnummer>912345678</organisasjonsnummer>"
        f"<belop>{belop}</belop></Soknad>\n"
    ).encode()


def unique_amount() -> int:
    """A belop that tells this test's model apart."""
    return random.randint(10_000, 99_999)


@pytest.fixture(scope="session")
def client_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database for these tests alone, on the run's database server.

    `tinn receive` takes *every* pending instance of ttd/soknad; instances other tests' servers
    ended (their blobs in other folders) must not be among them.
    """
    admin_url = _postgres_admin_url()
    if admin_url is None:
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('client-db') / 'tinn.db'}"
        return
    import asyncpg

    parsed = make_url(admin_url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"tinn_client_{uuid.uuid4().hex[:12]}"

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


@pytest.fixture(scope="session")
def server(client_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server (one blob folder) for all client tests: immediate feeds, fast webhook retries."""
    settings = make_settings(
        client_database_url,
        tmp_path_factory.mktemp("client"),
        events_visibility_lag_seconds=0,
        events_retry_schedule=[0.2, 0.5, 1.0, 2.0],
        events_poll_interval_seconds=0.2,
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


def user_tokens(server: LiveServer) -> TestIdentityToken:
    return TestIdentityToken.personal(server.url, user_id=USER, party_id=PARTY, pid=PID)


def org_tokens(server: LiveServer) -> TestIdentityToken:
    return TestIdentityToken.enterprise(server.url, org=ORG, org_no=ORG_NO)


def instances_created_since(server: LiveServer, since: datetime) -> list[str]:
    """Ids of the soknad instances created at or after ``since`` (tests in one process run one at a time)."""
    with StorageClient(server.url, org_tokens(server)) as storage:
        filters = {"appId": f"{ORG}/{APP}", "created": f"gte:{since.isoformat()}"}
        return [instance.id for instance in storage.query(**filters)]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """A valid model (unique amount) and a PDF attachment on disk."""
    model = tmp_path / "model.xml"
    model.write_bytes(soknad_xml(unique_amount()))
    report = tmp_path / "report.pdf"
    report.write_bytes(PDF + b"%" + random.randbytes(100_000).hex().encode() + b"\n")
    return model, report
