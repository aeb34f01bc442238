"""`tinn worker` processes: killed with SIGKILL mid-batch, nothing committed is lost; two workers
on one database never make the same attempt twice.

The API server here runs no worker of its own: only the `tinn worker` subprocesses deliver.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import LiveServer, make_settings
from tests.events.helpers import (
    Receiver,
    app_event,
    apps_url,
    bearer,
    commit_events,
    delayed,
    service_owner_token,
    subscribe,
    wait_until,
    wait_validated,
)
from tinn.storage import tables

TIMEOUT = 1.0


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, apps_root: Path, events_database: str
) -> Iterator[LiveServer]:
    settings = make_settings(
        events_database,
        tmp_path_factory.mktemp("api"),
        apps=[apps_root],
        events_worker=False,
        events_visibility_lag_seconds=0,
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def http(api: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        yield client


class Workers:
    """Starts `tinn worker` processes against the test database and stops them at the end."""

    def __init__(self, database_url: str, apps_root: Path, folder: Path) -> None:
        self.database_url = database_url
        self.apps_root = apps_root
        self.folder = folder
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, **settings: str) -> subprocess.Popen[bytes]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("TINN_")}
        env.update(
            {
                "TINN_DATABASE_URL": self.database_url,
                "TINN_APPS": str(self.apps_root),
                "TINN_DATA_DIR": str(self.folder),
                "TINN_AUTO_MIGRATE": "false",
                "TINN_LOG_LEVEL": "info",
                "TINN_LOG_FORMAT": "json",
                "TINN_EVENTS_DELIVERY_TIMEOUT_SECONDS": str(TIMEOUT),
                "TINN_EVENTS_RETRY_SCHEDULE": "0.2,0.2,0.2",
                # SQLite has no NOTIFY: a worker in another process polls.
                "TINN_EVENTS_POLL_INTERVAL_SECONDS": "0.1",
                **settings,
            }
        )
        log = self.folder / f"worker-{len(self.started)}.log"
        with log.open("wb") as stream:
            process = subprocess.Popen(
                [sys.executable, "-m", "tinn", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=stream
            )
        self.started.append((process, log))
        wait_until(
            lambda: process.poll() is not None or "event_worker_started" in log.read_text("utf-8", "replace"),
            "the worker to start",
        )
        assert process.poll() is None, log.read_text("utf-8", "replace")
        return process

    def stop_all(self) -> None:
        for process, _log in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, log in self.started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
                raise AssertionError(
                    f"worker did not stop on SIGTERM: {log.read_text('utf-8', 'replace')}"
                ) from None


@pytest.fixture
def workers(events_database: str, apps_root: Path, tmp_path: Path) -> Iterator[Workers]:
    manager = Workers(events_database, apps_root, tmp_path)
    try:
        yield manager
    finally:
        manager.stop_all()


def _rows(api: LiveServer, query: Any) -> list[Any]:
    services = api.services
    assert services is not None

    async def fetch() -> list[Any]:
        async with services.db.read() as conn:
            return list(await conn.execute(query))

    return api.run(fetch())


def _commit_many(api: LiveServer, events: list[dict[str, Any]], per_transaction: int = 25) -> None:
    for start in range(0, len(events), per_transaction):
        commit_events(api, events[start : start + per_transaction])


def _validated_subscription(
    api: LiveServer, http: httpx.Client, receiver: Receiver, behaviour: Callable[..., Any]
) -> tuple[dict[str, Any], str]:
    owner = bearer(service_owner_token(http))
    endpoint = receiver.endpoint(behaviour)
    subscription = subscribe(http, owner, endpoint, sourceFilter=f"{apps_url(api)}/ttd/x")
    wait_validated(http, owner, subscription)
    return subscription, endpoint


def test_sigkill_mid_batch_loses_no_committed_event(
    api: LiveServer, http: httpx.Client, receiver: Receiver, workers: Workers
) -> None:
    first = workers.start(TINN_EVENTS_DELIVERY_CONCURRENCY="8")
    subscription, endpoint = _validated_subscription(api, http, receiver, delayed(0.3))
    events = [app_event(api, "x") for _ in range(120)]
    _commit_many(api, events)
    receiver.wait_for(lambda: len(receiver.events(endpoint)) >= 16, "deliveries to be under way")
    first.send_signal(signal.SIGKILL)
    assert first.wait(30) == -signal.SIGKILL

    workers.start(TINN_EVENTS_DELIVERY_CONCURRENCY="32")
    expected = {event["id"] for event in events}
    receiver.wait_for(lambda: {hit.event_id for hit in receiver.events(endpoint)} >= expected, "every event")

    deliveries = tables.deliveries
    wait_until(
        lambda: all(
            row.status == "delivered"
            for row in _rows(
                api, select(deliveries.c.status).where(deliveries.c.subscription_id == subscription["id"])
            )
        ),
        "every delivery to be recorded",
    )
    rows = _rows(
        api,
        select(deliveries.c.id, deliveries.c.attempts, deliveries.c.event_id).where(
            deliveries.c.subscription_id == subscription["id"], deliveries.c.kind == "event"
        ),
    )
    assert {row.event_id for row in rows} == expected
    # The attempts the killed worker had in flight were made again, under the next attempt number.
    assert any(row.attempts >= 2 for row in rows)
    attempts = _rows(
        api,
        select(tables.delivery_attempts.c.delivery_id, tables.delivery_attempts.c.attempt).where(
            tables.delivery_attempts.c.delivery_id.in_([row.id for row in rows])
        ),
    )
    assert len(attempts) == len({(a.delivery_id, a.attempt) for a in attempts})


def test_two_workers_never_make_the_same_attempt(
    api: LiveServer, http: httpx.Client, receiver: Receiver, workers: Workers
) -> None:
    workers.start(TINN_EVENTS_DELIVERY_CONCURRENCY="4", TINN_EVENTS_BATCH_SIZE="20")
    workers.start(TINN_EVENTS_DELIVERY_CONCURRENCY="4", TINN_EVENTS_BATCH_SIZE="20")
    subscription, endpoint = _validated_subscription(api, http, receiver, delayed(0.01))
    events = [app_event(api, "x") for _ in range(300)]
    _commit_many(api, events, per_transaction=10)
    expected = {event["id"] for event in events}
    receiver.wait_for(lambda: {hit.event_id for hit in receiver.events(endpoint)} >= expected, "every event")

    received = Counter(hit.event_id for hit in receiver.events(endpoint))
    assert set(received.values()) == {1}, [k for k, n in received.items() if n > 1]

    deliveries, log = tables.deliveries, tables.delivery_attempts
    wait_until(
        lambda: (
            len(
                _rows(
                    api,
                    select(log.c.id)
                    .join(deliveries, deliveries.c.id == log.c.delivery_id)
                    .where(deliveries.c.subscription_id == subscription["id"], deliveries.c.kind == "event"),
                )
            )
            == len(events)
        ),
        "every attempt to be logged",
    )
    attempts = _rows(
        api,
        select(log.c.delivery_id, log.c.attempt, log.c.worker, deliveries.c.event_id)
        .join(deliveries, deliveries.c.id == log.c.delivery_id)
        .where(deliveries.c.subscription_id == subscription["id"], deliveries.c.kind == "event"),
    )
    assert sorted(a.event_id for a in attempts) == sorted(expected)
    assert {a.attempt for a in attempts} == {1}
    # Both workers did part of the work.
    assert len({a.worker for a in attempts}) == 2
