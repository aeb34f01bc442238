"""Test fixtures: a fresh database per run (SQLite or PostgreSQL) and real servers on loopback.

`TINN_TEST_DATABASE` chooses the database: unset or `sqlite` for a temporary SQLite file, or a
PostgreSQL URL (e.g. `postgresql://postgres@127.0.0.1:5432/test`) whose server gets a fresh
database for this run, dropped at the end. An unreachable PostgreSQL fails the run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from tinn.clock import Clock
from tinn.server import create_app
from tinn.services import Services, start_services
from tinn.settings import BUNDLED_APPS_DIR, Settings, normalise_database_url

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_APPS = SHARED / "apps"

T = TypeVar("T")


def _postgres_admin_url() -> str | None:
    target = os.environ.get("TINN_TEST_DATABASE", "sqlite").strip()
    if target in ("", "sqlite"):
        return None
    return normalise_database_url(target)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    admin_url = _postgres_admin_url()
    if admin_url is None:
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'tinn.db'}"
        return
    import asyncpg

    parsed = make_url(admin_url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"tinn_test_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.exit(f"PostgreSQL at {parsed.render_as_string()} is unreachable: {exc}", returncode=3)
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "apps": [BUNDLED_APPS_DIR, SHARED_APPS],
        "auto_migrate": True,
        "log_level": "warning",
    }
    values.update(overrides)
    return Settings(**values)


class LiveServer:
    """A Tinn server on a free loopback port, running in its own thread and event loop."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.services: Services | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> LiveServer:
        self._thread = threading.Thread(target=self._run, name=f"tinn-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("server did not start in time")
        if self._error is not None:
            raise RuntimeError("server failed to start") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self.services = await start_services(self.settings, clock=self.clock)
        app = create_app(self.settings, services=self.services)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        serving = asyncio.ensure_future(self._server.serve(sockets=[self._sock]))
        # uvicorn exposes no 'started' event to wait on.
        while not self._server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        self._ready.set()
        try:
            await serving
        finally:
            await self.services.close()

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine on the server's loop (to use its services) and wait for the result."""
        assert self.loop is not None

        async def wrapper() -> T:
            return await coro

        future: Future[T] = asyncio.run_coroutine_threadsafe(wrapper(), self.loop)
        return future.result(60)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
        self._sock.close()


@pytest.fixture(scope="session")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(make_settings(database_url, tmp_path_factory.mktemp("data"))).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server_factory(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., LiveServer]]:
    """Start extra servers with other settings (shares the run's database unless overridden)."""
    started: list[LiveServer] = []

    def factory(clock: Clock | None = None, **overrides: Any) -> LiveServer:
        url = overrides.pop("database_url", database_url)
        settings = make_settings(url, tmp_path_factory.mktemp("data"), **overrides)
        server = LiveServer(settings, clock).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield http
