"""Publishing events (``POST /app``, ``POST /events``) and reading them back (the pull feeds).

Published events go into the outbox table in their own transaction, exactly as the events a state
change publishes; the dispatcher fans them out to subscriptions after commit.

The feeds page by ``after`` (the id of the last event seen; an unknown id starts from the
beginning), ordered by registration sequence, and hide events registered less than the visibility
lag ago. Every event is authorised for the caller. Unlike Altinn, a page is filled past
unauthorised events (up to a scan limit) rather than cut short, so a caller is never handed an
empty page while readable events follow.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tinn.auth.principal import Principal
from tinn.events.context import EventsContext
from tinn.events.models import SPEC_VERSION, app_resource, is_absolute_uri, ordered
from tinn.events.outbox import write_outbox
from tinn.storage import tables
from tinn.timeutil import to_iso

EVENTS = tables.cloud_events
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50


class AppEventRejected(Exception):
    """``POST /app`` refused: 400 (``problem``) or 401 (a message, as Altinn answers)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- publishing ------------------------------------------------------------------------------------


def _member(body: Mapping[str, Any], name: str) -> Any:
    for key, value in body.items():
        if isinstance(key, str) and key.lower() == name:
            return value
    return None


async def publish_app_event(ctx: EventsContext, principal: Principal, body: object) -> dict[str, Any]:
    """Register an app event (``AppCloudEventRequestModel``): Events assigns ``id`` and ``time``,
    derives ``resource`` and ``resourceinstance`` from the source, and drops ``data``."""
    if not isinstance(body, dict):
        raise AppEventRejected(400, "Missing parameter values: source, subject and type cannot be null")
    values = {name: _member(body, name) for name in ("specversion", "type", "source", "subject")}
    if any(not isinstance(value, str) or not value.strip() for value in values.values()):
        raise AppEventRejected(400, "Missing parameter values: source, subject and type cannot be null")
    source = values["source"]
    if not is_absolute_uri(source) or urlsplit(source).scheme.lower() not in ("http", "https"):
        raise AppEventRejected(400, "The source must be an absolute http(s) URI of an app instance")
    segments = urlsplit(source).path.split("/")
    org, app = (segments[1], segments[2]) if len(segments) > 2 else ("", "")
    if not org or not app or not principal.is_service_owner_of(org):
        raise AppEventRejected(
            401, f"{principal.org or 'the caller'} is not authorized to create events for {source}"
        )
    now = ctx.clock.now()
    event: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": str(uuid.uuid4()),
        "source": source,
        "type": values["type"],
        "subject": values["subject"],
        "time": to_iso(now),
        "resource": app_resource(org, app),
    }
    if len(segments) >= 6 and segments[3] == "instances" and segments[4] and segments[5]:
        event["resourceinstance"] = f"{segments[4]}/{segments[5]}"
    alternative = _member(body, "alternativesubject")
    if isinstance(alternative, str) and alternative:
        event["alternativesubject"] = alternative
    async with ctx.db.write() as conn:
        await write_outbox(conn, [event], registered=now)
    return event


async def publish_event(ctx: EventsContext, event: dict[str, Any]) -> bool:
    """Register a validated generic CloudEvent; False when (id, source) was already registered."""
    async with ctx.db.write() as conn:
        written = await write_outbox(conn, [event], registered=ctx.clock.now(), skip_duplicates=True)
    return written > 0


# -- reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedQuery:
    after: str | None = None
    resource: str | None = None
    subject: str | None = None
    alternative_subject: str | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    # App feeds: case-insensitive LIKE patterns; generic feed: case-sensitive ones. `%` is the
    # only wildcard (`_` is literal, unlike Altinn).
    sources: Sequence[str] = field(default_factory=tuple)
    types: Sequence[str] = field(default_factory=tuple)
    case_sensitive_types: bool = False
    size: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class FeedPage:
    events: list[dict[str, Any]]
    # The id to continue after (the `next` link), None when there is nothing more to read now.
    next_after: str | None


def _like_pattern(pattern: str) -> str:
    return pattern.replace("\\", "\\\\").replace("_", "\\_")


def _glob_pattern(pattern: str) -> str:
    escaped = "".join(f"[{ch}]" if ch in "*?[" else ch for ch in pattern)
    return escaped.replace("%", "*")


def _match_any(
    column: Any, patterns: Sequence[str], *, case_sensitive: bool, dialect: str
) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for pattern in patterns:
        if "%" not in pattern:
            clauses.append(column == pattern if case_sensitive else func.lower(column) == pattern.lower())
        elif not case_sensitive:
            clauses.append(column.ilike(_like_pattern(pattern), escape="\\"))
        elif dialect == "sqlite":
            # SQLite's LIKE ignores case; GLOB does not.
            clauses.append(column.op("GLOB")(_glob_pattern(pattern)))
        else:
            clauses.append(column.like(_like_pattern(pattern), escape="\\"))
    return or_(*clauses)


async def _sequence_of(conn: AsyncConnection, event_id: str | None) -> int:
    if not event_id:
        return 0
    value = (
        await conn.execute(select(func.min(EVENTS.c.sequence_no)).where(EVENTS.c.id == event_id))
    ).scalar()
    return int(value) if value is not None else 0


def _base_query(query: FeedQuery, *, visible_before: datetime, dialect: str) -> Select[Any]:
    statement = select(EVENTS.c.sequence_no, EVENTS.c.id, EVENTS.c.document).where(
        EVENTS.c.registered <= visible_before
    )
    if query.resource is not None:
        statement = statement.where(EVENTS.c.resource == query.resource)
    if query.subject is not None:
        statement = statement.where(EVENTS.c.subject == query.subject)
    if query.alternative_subject is not None:
        statement = statement.where(EVENTS.c.alternative_subject == query.alternative_subject)
    if query.time_from is not None:
        statement = statement.where(EVENTS.c.time >= query.time_from)
    if query.time_to is not None:
        statement = statement.where(EVENTS.c.time <= query.time_to)
    if query.sources:
        statement = statement.where(
            _match_any(EVENTS.c.source, query.sources, case_sensitive=False, dialect=dialect)
        )
    if query.types:
        statement = statement.where(
            _match_any(EVENTS.c.type, query.types, case_sensitive=query.case_sensitive_types, dialect=dialect)
        )
    return statement


async def read_feed(
    ctx: EventsContext, query: FeedQuery, allowed: Callable[[Mapping[str, Any]], bool]
) -> FeedPage:
    """Up to ``query.size`` events the caller may see, in registration order."""
    size = max(1, min(query.size, MAX_PAGE_SIZE))
    scan_limit = max(4 * size, 1000)
    visible_before = ctx.clock.now() - timedelta(seconds=ctx.settings.events_visibility_lag_seconds)
    async with ctx.db.read() as conn:
        base = _base_query(query, visible_before=visible_before, dialect=conn.dialect.name)
        cursor = await _sequence_of(conn, query.after)

        async def fetch(after_sequence: int) -> list[Any]:
            statement = base.where(EVENTS.c.sequence_no > after_sequence)
            return list(await conn.execute(statement.order_by(EVENTS.c.sequence_no).limit(size)))

        return await _authorized_page(fetch, cursor, allowed, size=size, scan_limit=scan_limit)


async def _authorized_page(
    fetch: Callable[[int], Awaitable[list[Any]]],
    cursor: int,
    allowed: Callable[[Mapping[str, Any]], bool],
    *,
    size: int,
    scan_limit: int,
) -> FeedPage:
    collected: list[dict[str, Any]] = []
    scanned = 0
    last_scanned: str | None = None
    exhausted = False
    while len(collected) < size and scanned < scan_limit:
        rows = await fetch(cursor)
        for row in rows:
            cursor = row.sequence_no
            scanned += 1
            last_scanned = row.id
            if allowed(row.document):
                collected.append(ordered(row.document))
                if len(collected) == size:
                    break
        if len(rows) < size and len(collected) < size:
            exhausted = True
            break
    if collected:
        return FeedPage(collected, collected[-1]["id"])
    # A long run of events the caller may not see: hand out a cursor past it.
    return FeedPage([], None if exhausted else last_scanned)
