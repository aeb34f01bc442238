"""Claiming and recording deliveries against the database: leases, attempt numbers, races.

The server here runs no worker, so the rows are only touched by the test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from tests.conftest import LiveServer, make_settings
from tinn.events.delivery import Claim, Outcome, claim_due, record_outcomes
from tinn.events.signing import generate_secret
from tinn.storage import tables
from tinn.storage.db import Database
from tinn.timeutil import utcnow

SCHEDULE = (10.0, 20.0)
LEASE = 60.0


@pytest.fixture(scope="module")
def quiet(
    tmp_path_factory: pytest.TempPathFactory, apps_root: Path, events_database: str
) -> Iterator[LiveServer]:
    settings = make_settings(
        events_database, tmp_path_factory.mktemp("quiet"), apps=[apps_root], events_worker=False
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


def _db(server: LiveServer) -> Database:
    assert server.services is not None
    return server.services.db


async def _subscription(db: Database) -> int:
    now = utcnow()
    async with db.write() as conn:
        result = await conn.execute(
            insert(tables.subscriptions).values(
                identity_hash=uuid.uuid4().hex,
                endpoint="https://subscriber.example/hook",
                resource_filter="urn:altinn:resource:claims",
                consumer="/org/ttd",
                created_by="/org/ttd",
                consumer_claims={},
                secret=generate_secret(),
                created=now,
                validated=True,
            )
        )
        return int(result.inserted_primary_key[0])


async def _deliveries(db: Database, subscription_id: int, count: int, due: datetime) -> list[int]:
    """``count`` deliveries due at ``due``, and no other pending ones."""
    async with db.write() as conn:
        await conn.execute(delete(tables.deliveries).where(tables.deliveries.c.status == "pending"))
        ids = []
        for n in range(count):
            result = await conn.execute(
                insert(tables.deliveries).values(
                    subscription_id=subscription_id,
                    kind="event",
                    event_id=f"e{n}",
                    event_type="t",
                    document={"id": f"e{n}"},
                    status="pending",
                    next_attempt_at=due,
                    created=due,
                )
            )
            ids.append(int(result.inserted_primary_key[0]))
        return ids


async def _claim(db: Database, now: datetime, limit: int, worker: str) -> list[Claim]:
    async with db.write() as conn:
        return await claim_due(conn, now=now, lease_seconds=LEASE, limit=limit, worker_id=worker)


async def _record(db: Database, outcomes: list[Outcome], now: datetime, worker: str) -> None:
    async with db.write() as conn:
        await record_outcomes(conn, outcomes, now=now, schedule=SCHEDULE, worker_id=worker)


async def _rows(db: Database, table: Any, **where: Any) -> list[Any]:
    async with db.read() as conn:
        query = select(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return list(await conn.execute(query.order_by(table.c.id)))


def _outcome(claim: Claim, now: datetime, status: int | None) -> Outcome:
    return Outcome(claim, now, 1500, status, None if status == 200 else "failed")


def test_a_claim_takes_an_attempt_number_and_a_lease(quiet: LiveServer) -> None:
    db = _db(quiet)
    now = utcnow()
    subscription = quiet.run(_subscription(db))
    ids = quiet.run(_deliveries(db, subscription, 3, now))

    first = quiet.run(_claim(db, now, 2, "w1"))
    assert [(c.delivery_id, c.attempt) for c in first] == [(ids[0], 1), (ids[1], 1)]
    assert first[0].endpoint == "https://subscriber.example/hook"
    second = quiet.run(_claim(db, now, 10, "w2"))
    assert [(c.delivery_id, c.attempt) for c in second] == [(ids[2], 1)]
    assert quiet.run(_claim(db, now + timedelta(seconds=LEASE - 1), 10, "w3")) == []
    # The lease lapses (the claiming worker died): the next claim makes attempt 2.
    lapsed = quiet.run(_claim(db, now + timedelta(seconds=LEASE), 10, "w3"))
    assert sorted((c.delivery_id, c.attempt) for c in lapsed) == [(i, 2) for i in ids]


def test_a_lapsed_claims_late_result_does_not_overwrite_the_newer_attempt(quiet: LiveServer) -> None:
    db = _db(quiet)
    now = utcnow()
    subscription = quiet.run(_subscription(db))
    [delivery] = quiet.run(_deliveries(db, subscription, 1, now))
    [stale] = quiet.run(_claim(db, now, 1, "slow"))
    later = now + timedelta(seconds=LEASE)
    [fresh] = quiet.run(_claim(db, later, 1, "fast"))
    quiet.run(_record(db, [_outcome(fresh, later, 200)], later, "fast"))
    quiet.run(_record(db, [_outcome(stale, later, 500)], later, "slow"))
    [row] = quiet.run(_rows(db, tables.deliveries, id=delivery))
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
    attempts = quiet.run(_rows(db, tables.delivery_attempts, delivery_id=delivery))
    assert [(a.attempt, a.status_code, a.worker) for a in attempts] == [(2, 200, "fast"), (1, 500, "slow")]


def test_failures_follow_the_schedule_then_dead_letter(quiet: LiveServer) -> None:
    db = _db(quiet)
    now = utcnow()
    subscription = quiet.run(_subscription(db))
    [delivery] = quiet.run(_deliveries(db, subscription, 1, now))
    expected_delays = [*SCHEDULE, None]
    for attempt, delay in enumerate(expected_delays, start=1):
        [claim] = quiet.run(_claim(db, now, 1, "w"))
        assert claim.attempt == attempt
        quiet.run(_record(db, [_outcome(claim, now, 503)], now, "w"))
        [row] = quiet.run(_rows(db, tables.deliveries, id=delivery))
        if delay is None:
            assert (row.status, row.finished_at) == ("dead", now)
        else:
            assert (row.status, row.next_attempt_at) == ("pending", now + timedelta(seconds=delay))
            now = row.next_attempt_at
    assert quiet.run(_claim(db, now + timedelta(days=1), 1, "w")) == []


def test_results_for_a_deleted_subscription_are_dropped(quiet: LiveServer) -> None:
    db = _db(quiet)
    now = utcnow()
    subscription = quiet.run(_subscription(db))
    quiet.run(_deliveries(db, subscription, 1, now))
    [claim] = quiet.run(_claim(db, now, 1, "w"))

    async def drop() -> None:
        async with db.write() as conn:
            await conn.execute(delete(tables.subscriptions).where(tables.subscriptions.c.id == subscription))

    quiet.run(drop())
    quiet.run(_record(db, [_outcome(claim, now, 200)], now, "w"))
    assert quiet.run(_rows(db, tables.delivery_attempts, delivery_id=claim.delivery_id)) == []


def test_concurrent_claims_never_share_a_row(quiet: LiveServer) -> None:
    db = _db(quiet)
    now = utcnow()
    subscription = quiet.run(_subscription(db))
    ids = quiet.run(_deliveries(db, subscription, 60, now))

    async def race() -> list[list[Claim]]:
        return list(await asyncio.gather(*(_claim(db, now, 7, f"w{n}") for n in range(12))))

    claimed = [c.delivery_id for batch in quiet.run(race()) for c in batch]
    assert len(claimed) == len(set(claimed)) == 60
    assert sorted(claimed) == ids
