"""Fixtures of the Events tests: each module gets its own database, server and webhook receiver.

A database of its own keeps other modules' servers (whose workers would fan events out with other
apps and settings) away from these subscriptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, make_settings
from tests.events.helpers import (
    RETRIES,
    TIMEOUT,
    Receiver,
    bearer,
    fresh_database,
    service_owner_token,
    write_event_apps,
)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def apps_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_event_apps(tmp_path_factory.mktemp("event-apps"), "ttd", ("x", "x2"))


@pytest.fixture(scope="module")
def events_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(tmp_path_factory.mktemp("events-db")) as url:
        yield url


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, apps_root: Path, events_database: str
) -> Iterator[LiveServer]:
    settings = make_settings(
        events_database,
        tmp_path_factory.mktemp("events-data"),
        apps=[apps_root],
        events_retry_schedule=[0.2] * RETRIES,
        events_delivery_timeout_seconds=TIMEOUT,
        events_visibility_lag_seconds=0,
        events_poll_interval_seconds=0.5,
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def owner(http: httpx.Client) -> dict[str, str]:
    """Service owner ttd, with the publish and subscribe scopes."""
    return bearer(service_owner_token(http))
