"""Webhook delivery: claim due deliveries, POST them signed, record every attempt.

A claim is one statement: the due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the database
write lock on SQLite) get their attempt number taken (``attempts + 1``) and their due time moved
to the end of a lease (the attempt's time limit plus a margin). Two workers therefore never hold
the same row, and a worker that dies holding it only delays the attempt until the lease lapses;
the next worker makes it under the next attempt number. The result is written with the attempt
number as a guard, next to a ``delivery_attempts`` row whose (delivery, attempt) is unique.

Any 2xx is success. Anything else (another status, a timeout, a network error) schedules the
next retry on the configured schedule, and the failure after the last retry dead-letters the
delivery. A successful ``platform.events.validatesubscription`` delivery validates its
subscription.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tinn import __version__
from tinn.events.models import ordered
from tinn.events.signing import signature_headers
from tinn.events.subscriptions import (
    KIND_VALIDATION,
    STATUS_DEAD,
    STATUS_DELIVERED,
    STATUS_PENDING,
)
from tinn.storage import tables

DELIVERIES = tables.deliveries
SUBSCRIPTIONS = tables.subscriptions
ATTEMPTS = tables.delivery_attempts

CONTENT_TYPE = "application/json; charset=utf-8"
LEASE_MARGIN_SECONDS = 5.0
# How much of a response is read (the rest is dropped with the connection) and kept for the log.
_MAX_RESPONSE_BYTES = 64 * 1024
_MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int
    failures: int
    subscription_id: int
    kind: str
    event_id: str
    document: Mapping[str, Any]
    endpoint: str
    secret: str


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    started: datetime
    latency_us: int
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookTransport(Protocol):
    """Sends one webhook POST; returns the status code and the start of the response body."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


class HttpxTransport:
    def __init__(self, *, timeout: float, max_connections: int) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
            headers={"User-Agent": f"tinn-events/{__version__}"},
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        async with self._client.stream("POST", url, content=body, headers=dict(headers)) as response:
            received = bytearray()
            async for chunk in response.aiter_raw():
                received += chunk
                if len(received) > _MAX_RESPONSE_BYTES:
                    break
            return response.status_code, bytes(received[:_MAX_ERROR_CHARS])

    async def close(self) -> None:
        await self._client.aclose()


def render_body(document: Mapping[str, Any], endpoint: str) -> bytes:
    """The webhook body: the CloudEvent itself; Slack webhooks get it as a ``text`` message."""
    body = orjson.dumps(ordered(document))
    if (urlsplit(endpoint).hostname or "").endswith("hooks.slack.com"):
        return orjson.dumps({"text": body.decode()})
    return body


async def send(transport: WebhookTransport, claim: Claim, *, time_limit: float, now: datetime) -> Outcome:
    """Make one attempt; never raises for anything the endpoint or the network does."""
    body = render_body(claim.document, claim.endpoint)
    headers = {
        "Content-Type": CONTENT_TYPE,
        **signature_headers(claim.secret, claim.event_id, body, timestamp=int(now.timestamp())),
    }
    status: int | None = None
    error: str | None = None
    started = time.perf_counter()
    try:
        async with asyncio.timeout(time_limit):
            status, response = await transport.post(claim.endpoint, body, headers)
        if not 200 <= status < 300:
            text = response.decode("utf-8", "replace").strip()
            error = f"HTTP {status}" + (f": {text[:200]}" if text else "")
    except TimeoutError:
        error = f"timed out after {time_limit:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
    except (OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
    latency_us = int((time.perf_counter() - started) * 1_000_000)
    return Outcome(claim, now, latency_us, status, error)


async def claim_due(
    conn: AsyncConnection, *, now: datetime, lease_seconds: float, limit: int, worker_id: str
) -> list[Claim]:
    """Take up to ``limit`` due deliveries for one attempt each."""
    if limit <= 0:
        return []
    due = (
        select(DELIVERIES.c.id)
        .where(DELIVERIES.c.status == STATUS_PENDING, DELIVERIES.c.next_attempt_at <= now)
        .order_by(DELIVERIES.c.next_attempt_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = list(
        await conn.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id.in_(due.scalar_subquery()))
            .values(
                attempts=DELIVERIES.c.attempts + 1,
                next_attempt_at=now + timedelta(seconds=lease_seconds),
                claimed_by=worker_id,
            )
            .returning(
                DELIVERIES.c.id,
                DELIVERIES.c.attempts,
                DELIVERIES.c.failures,
                DELIVERIES.c.subscription_id,
                DELIVERIES.c.kind,
                DELIVERIES.c.event_id,
                DELIVERIES.c.document,
            )
        )
    )
    if not rows:
        return []
    subscription_ids = sorted({row.subscription_id for row in rows})
    targets = {
        row.id: (row.endpoint, row.secret)
        for row in await conn.execute(
            select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.endpoint, SUBSCRIPTIONS.c.secret).where(
                SUBSCRIPTIONS.c.id.in_(subscription_ids)
            )
        )
    }
    claims = [
        Claim(
            delivery_id=row.id,
            attempt=row.attempts,
            failures=row.failures,
            subscription_id=row.subscription_id,
            kind=row.kind,
            event_id=row.event_id,
            document=row.document,
            endpoint=targets[row.subscription_id][0],
            secret=targets[row.subscription_id][1],
        )
        for row in rows
        if row.subscription_id in targets
    ]
    claims.sort(key=lambda claim: claim.delivery_id)
    return claims


def retry_delay(failures: int, schedule: Sequence[float]) -> float | None:
    """Seconds before the next attempt after ``failures`` failed ones; None: dead-letter."""
    if failures > len(schedule):
        return None
    return schedule[failures - 1]


async def record_outcomes(
    conn: AsyncConnection,
    outcomes: Sequence[Outcome],
    *,
    now: datetime,
    schedule: Sequence[float],
    worker_id: str,
) -> None:
    """Write attempts and their consequences; results for deleted deliveries are dropped."""
    if not outcomes:
        return
    ids = sorted({outcome.claim.delivery_id for outcome in outcomes})
    present = select(DELIVERIES.c.id).where(DELIVERIES.c.id.in_(ids))
    if conn.dialect.name == "postgresql":
        # Holds off a concurrent delete of the subscription until this is written.
        present = present.with_for_update()
    existing = set((await conn.execute(present)).scalars())
    outcomes = [outcome for outcome in outcomes if outcome.claim.delivery_id in existing]
    if not outcomes:
        return
    await conn.execute(
        insert(ATTEMPTS),
        [
            {
                "delivery_id": outcome.claim.delivery_id,
                "attempt": outcome.claim.attempt,
                "started": outcome.started,
                "latency_us": outcome.latency_us,
                "status_code": outcome.status_code,
                "error": outcome.error,
                "worker": worker_id,
            }
            for outcome in outcomes
        ],
    )
    changes = []
    validated: list[int] = []
    for outcome in outcomes:
        claim = outcome.claim
        change: dict[str, Any] = {
            "b_id": claim.delivery_id,
            "b_attempt": claim.attempt,
            "last_attempt_at": outcome.started,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
            "claimed_by": None,
        }
        if outcome.delivered:
            change.update(
                status=STATUS_DELIVERED, failures=claim.failures, next_attempt_at=now, finished_at=now
            )
            if claim.kind == KIND_VALIDATION:
                validated.append(claim.subscription_id)
        else:
            failures = claim.failures + 1
            delay = retry_delay(failures, schedule)
            if delay is None:
                change.update(status=STATUS_DEAD, failures=failures, next_attempt_at=now, finished_at=now)
            else:
                change.update(
                    status=STATUS_PENDING,
                    failures=failures,
                    next_attempt_at=now + timedelta(seconds=delay),
                    finished_at=None,
                )
        changes.append(change)
    # The attempt number guards against a worker whose lease lapsed writing over a newer attempt.
    await conn.execute(
        update(DELIVERIES).where(
            DELIVERIES.c.id == bindparam("b_id"), DELIVERIES.c.attempts == bindparam("b_attempt")
        ),
        changes,
    )
    if validated:
        await conn.execute(
            update(SUBSCRIPTIONS)
            .where(SUBSCRIPTIONS.c.id.in_(sorted(set(validated))), SUBSCRIPTIONS.c.validated.is_(False))
            .values(validated=True, validated_at=now)
        )


async def next_due(conn: AsyncConnection) -> datetime | None:
    """When the earliest pending delivery is due (claimed ones: when their lease lapses)."""
    value: datetime | None = (
        await conn.execute(
            select(func.min(DELIVERIES.c.next_attempt_at)).where(DELIVERIES.c.status == STATUS_PENDING)
        )
    ).scalar()
    return value
