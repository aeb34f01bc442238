"""Webhook subscriptions: create (validated, authorised, idempotent), read, delete; the delivery log.

Creation follows Altinn's rules (platform notes 4.3): an *app* subscription (resource filter
``urn:altinn:resource:app_...`` or a source filter on the apps host) needs only a valid token; a
*generic* one needs the ``altinn:events.subscribe`` scope. The consumer is always the caller.
Creating a subscription (or re-creating an identical one) queues the
``platform.events.validatesubscription`` handshake; only a subscription whose endpoint answered it
with a 2xx receives events.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tinn.auth.principal import Principal
from tinn.events.authorization import SCOPE_SUBSCRIBE, entity_of, stored_identity
from tinn.events.context import EventsContext
from tinn.events.models import (
    APP_RESOURCE_PREFIX,
    SPEC_VERSION,
    VALIDATION_TYPE,
    app_resource,
    is_absolute_uri,
    is_valid_urn,
)
from tinn.events.outbox import mark_work
from tinn.events.signing import generate_secret
from tinn.storage import tables

SUBSCRIPTIONS = tables.subscriptions
DELIVERIES = tables.deliveries
ATTEMPTS = tables.delivery_attempts

STATUS_PENDING = "pending"
STATUS_DELIVERED = "delivered"
STATUS_DEAD = "dead"
STATUSES = (STATUS_PENDING, STATUS_DELIVERED, STATUS_DEAD)
KIND_EVENT = "event"
KIND_VALIDATION = "validation"

_FIELDS = {
    "endpoint": "endPoint",
    "sourcefilter": "sourceFilter",
    "resourcefilter": "resourceFilter",
    "subjectfilter": "subjectFilter",
    "alternativesubjectfilter": "alternativeSubjectFilter",
    "typefilter": "typeFilter",
    "includesubunits": "includeSubunits",
}


class SubscriptionError(Exception):
    """A refusal with Altinn's status and message (None: an empty body)."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message


class RequestShapeError(ValueError):
    """A body that does not bind to the request model (ASP.NET's ValidationProblemDetails)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(str(errors))
        self.errors = errors


@dataclass(frozen=True)
class SubscriptionRequest:
    endpoint: str | None = None
    source_filter: str | None = None
    resource_filter: str | None = None
    subject_filter: str | None = None
    alternative_subject_filter: str | None = None
    type_filter: str | None = None
    include_subunits: bool = False


def parse_subscription_request(body: object) -> SubscriptionRequest:
    """Bind ``SubscriptionRequestModel`` from JSON: member names in any case, unknown ones ignored."""
    if not isinstance(body, dict):
        raise RequestShapeError({"$": ["The request body must be a JSON object."]})
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, value in body.items():
        name = _FIELDS.get(str(key).lower())
        if name is None or value is None:
            continue
        if name == "includeSubunits":
            if not isinstance(value, bool):
                errors.setdefault(name, []).append("The value must be true or false.")
            else:
                values[name] = value
        elif not isinstance(value, str):
            errors.setdefault(name, []).append("The value must be a string.")
        elif value.strip():
            values[name] = value.strip()
    if errors:
        raise RequestShapeError(errors)
    return SubscriptionRequest(
        endpoint=values.get("endPoint"),
        source_filter=values.get("sourceFilter"),
        resource_filter=values.get("resourceFilter"),
        subject_filter=values.get("subjectFilter"),
        alternative_subject_filter=values.get("alternativeSubjectFilter"),
        type_filter=values.get("typeFilter"),
        include_subunits=values.get("includeSubunits", False),
    )


@dataclass(frozen=True)
class _Resolved:
    endpoint: str
    source_filter: str | None
    resource_filter: str
    subject_filter: str | None
    alternative_subject_filter: str | None
    type_filter: str | None
    include_subunits: bool
    entity: str

    def identity_hash(self) -> str:
        key = [
            self.resource_filter,
            self.source_filter,
            self.subject_filter,
            self.type_filter,
            self.entity,
            self.endpoint,
            self.include_subunits,
        ]
        return hashlib.sha256(orjson.dumps(key)).hexdigest()


def is_app_source(ctx: EventsContext, source_filter: str) -> bool:
    """Whether a source filter points at this deployment's App API host (Altinn's ``AppsDomain``)."""
    apps_host = (urlsplit(ctx.settings.effective_apps_url).hostname or "").lower()
    host = (urlsplit(source_filter).hostname or "").lower()
    return bool(apps_host) and (host == apps_host or host.endswith("." + apps_host))


def _valid_endpoint(ctx: EventsContext, endpoint: str | None) -> str | None:
    if endpoint is None or not is_absolute_uri(endpoint):
        return "Missing or invalid endpoint to push events towards"
    parts = urlsplit(endpoint)
    schemes = ("https", "http") if ctx.settings.effective_events_allow_http else ("https",)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        if parts.scheme.lower() == "http":
            return "The endpoint must use https"
        return "Missing or invalid endpoint to push events towards"
    return None


def _resolve(ctx: EventsContext, principal: Principal, request: SubscriptionRequest) -> _Resolved:
    source = request.source_filter
    if source is not None and not is_absolute_uri(source):
        raise SubscriptionError(400, "SourceFilter must be an absolute URI")
    resource = request.resource_filter.lower() if request.resource_filter else None
    is_app = (resource is not None and resource.startswith(APP_RESOURCE_PREFIX)) or (
        source is not None and is_app_source(ctx, source)
    )
    if not is_app and not principal.has_scope(SCOPE_SUBSCRIBE):
        raise SubscriptionError(403)
    endpoint_error = _valid_endpoint(ctx, request.endpoint)
    if endpoint_error is not None:
        raise SubscriptionError(400, endpoint_error)
    assert request.endpoint is not None
    if resource is not None and not is_valid_urn(resource):
        raise SubscriptionError(400, "Resource filter must be a valid urn")
    entity = entity_of(principal)
    if entity is None:
        raise SubscriptionError(400, "Missing event consumer")

    subject = request.subject_filter
    alternative = request.alternative_subject_filter
    if is_app:
        if subject is None and alternative is not None:
            subject = ctx.authz.party_subject(alternative)
        if subject is None and not principal.org:
            raise SubscriptionError(400, "A valid subject to the authenticated identity is required")
        if alternative is not None and subject is None:
            raise SubscriptionError(400, "A valid subject to the authenticated identity is required")
        if source is not None:
            segments = urlsplit(source).path.split("/")
            if len(segments) != 3 or not segments[1] or not segments[2]:
                raise SubscriptionError(
                    400, "A valid app id is required in source filter {environment}/{org}/{app}"
                )
            derived = app_resource(segments[1], segments[2])
            if resource is not None and resource != derived:
                raise SubscriptionError(400, "Provided resource filter and source filter are not compatible")
            resource = derived
    else:
        if resource is None:
            raise SubscriptionError(400, "Resource filter is required.")
        if source is not None:
            raise SubscriptionError(400, "Source filter is not supported for subscriptions on this resource.")
        if alternative is not None:
            raise SubscriptionError(
                400, "AlternativeSubject is not supported for subscriptions on this resource."
            )
    assert resource is not None
    if request.include_subunits and subject is None:
        raise SubscriptionError(400, "A subject filter is required to include subunits.")
    if not ctx.authz.may_subscribe_to(principal, resource, subject):
        raise SubscriptionError(403, f"Not authorized to create a subscription for resource {resource}.")
    return _Resolved(
        endpoint=request.endpoint,
        source_filter=source,
        resource_filter=resource,
        subject_filter=subject,
        alternative_subject_filter=alternative,
        type_filter=request.type_filter,
        include_subunits=request.include_subunits,
        entity=entity,
    )


async def create_subscription(
    ctx: EventsContext, principal: Principal, request: SubscriptionRequest
) -> tuple[Any, str | None]:
    """The new (or identical existing) subscription row, and its secret when it is new."""
    resolved = _resolve(ctx, principal, request)
    now = ctx.clock.now()
    secret = generate_secret()
    row_values = {
        "identity_hash": resolved.identity_hash(),
        "endpoint": resolved.endpoint,
        "source_filter": resolved.source_filter,
        "resource_filter": resolved.resource_filter,
        "subject_filter": resolved.subject_filter,
        "alternative_subject_filter": resolved.alternative_subject_filter,
        "type_filter": resolved.type_filter,
        "include_subunits": resolved.include_subunits,
        "consumer": resolved.entity,
        "created_by": resolved.entity,
        "consumer_claims": stored_identity(principal),
        "secret": secret,
        "created": now,
        "validated": False,
    }
    async with ctx.db.write() as conn:
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        inserted = await conn.execute(
            dialect_insert(SUBSCRIPTIONS)
            .values(row_values)
            .on_conflict_do_nothing(index_elements=["identity_hash"])
            .returning(SUBSCRIPTIONS.c.id)
        )
        new_id = inserted.scalar_one_or_none()
        row = (
            await conn.execute(
                select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.identity_hash == row_values["identity_hash"])
            )
        ).one()
        await _queue_validation(conn, ctx, row.id, now)
    return row, (secret if new_id is not None else None)


async def _queue_validation(
    conn: AsyncConnection, ctx: EventsContext, subscription_id: int, now: Any
) -> None:
    """Queue the handshake, or make a queued one due now (re-create of an identical subscription)."""
    pending = await conn.execute(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.subscription_id == subscription_id,
            DELIVERIES.c.kind == KIND_VALIDATION,
            DELIVERIES.c.status == STATUS_PENDING,
            DELIVERIES.c.attempts == 0,
        )
        .values(next_attempt_at=now, failures=0)
    )
    if pending.rowcount == 0:
        event = {
            "specversion": SPEC_VERSION,
            "id": str(uuid.uuid4()),
            "source": f"{ctx.events_base_url}/subscriptions/{subscription_id}",
            "type": VALIDATION_TYPE,
        }
        await conn.execute(
            DELIVERIES.insert().values(
                subscription_id=subscription_id,
                kind=KIND_VALIDATION,
                event_id=event["id"],
                event_type=VALIDATION_TYPE,
                event_sequence_no=None,
                document=event,
                status=STATUS_PENDING,
                attempts=0,
                failures=0,
                next_attempt_at=now,
                created=now,
            )
        )
    await mark_work(conn)


async def list_subscriptions(ctx: EventsContext, principal: Principal) -> list[Any]:
    entity = entity_of(principal)
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.consumer == entity).order_by(SUBSCRIPTIONS.c.id)
        )
        return list(rows)


async def _owned(conn: AsyncConnection, principal: Principal, subscription_id: int) -> Any:
    row = (await conn.execute(select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id))).first()
    if row is None:
        raise SubscriptionError(404)
    if row.created_by != entity_of(principal):
        raise SubscriptionError(403)
    return row


async def get_subscription(ctx: EventsContext, principal: Principal, subscription_id: int) -> Any:
    async with ctx.db.read() as conn:
        return await _owned(conn, principal, subscription_id)


async def delete_subscription(ctx: EventsContext, principal: Principal, subscription_id: int) -> None:
    """Delete it with its deliveries and their log; a delivery in flight finishes, unrecorded."""
    async with ctx.db.write() as conn:
        await _owned(conn, principal, subscription_id)
        await conn.execute(delete(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription_id))


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[tuple[Any, list[Any]]]
    # Id to pass as `before` for the next (older) page; None on the last page.
    next_before: int | None


async def list_deliveries(
    ctx: EventsContext,
    principal: Principal,
    subscription_id: int,
    *,
    status: str | None,
    before: int | None,
    size: int,
) -> DeliveryPage:
    """The subscription's deliveries, newest first, each with its attempt log."""
    async with ctx.db.read() as conn:
        await _owned(conn, principal, subscription_id)
        query = select(DELIVERIES).where(DELIVERIES.c.subscription_id == subscription_id)
        if status is not None:
            query = query.where(DELIVERIES.c.status == status)
        if before is not None:
            query = query.where(DELIVERIES.c.id < before)
        rows = list(await conn.execute(query.order_by(DELIVERIES.c.id.desc()).limit(size + 1)))
        more = len(rows) > size
        rows = rows[:size]
        attempts: dict[int, list[Any]] = {row.id: [] for row in rows}
        if rows:
            for attempt in await conn.execute(
                select(ATTEMPTS)
                .where(ATTEMPTS.c.delivery_id.in_(list(attempts)))
                .order_by(ATTEMPTS.c.delivery_id, ATTEMPTS.c.attempt)
            ):
                attempts[attempt.delivery_id].append(attempt)
    return DeliveryPage(
        deliveries=[(row, attempts[row.id]) for row in rows],
        next_before=rows[-1].id if more else None,
    )


async def redeliver(
    ctx: EventsContext, principal: Principal, subscription_id: int, delivery_id: int
) -> tuple[Any, list[Any]]:
    """Queue a delivered or dead-lettered delivery again, due now, with a fresh retry schedule."""
    now = ctx.clock.now()
    async with ctx.db.write() as conn:
        await _owned(conn, principal, subscription_id)
        row = (
            await conn.execute(
                select(DELIVERIES).where(
                    DELIVERIES.c.id == delivery_id, DELIVERIES.c.subscription_id == subscription_id
                )
            )
        ).first()
        if row is None:
            raise SubscriptionError(404)
        if row.status == STATUS_PENDING:
            raise SubscriptionError(409, "The delivery is already queued.")
        await conn.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == delivery_id)
            .values(status=STATUS_PENDING, failures=0, next_attempt_at=now, finished_at=None)
        )
        await mark_work(conn)
        row = (await conn.execute(select(DELIVERIES).where(DELIVERIES.c.id == delivery_id))).one()
        attempts = list(
            await conn.execute(
                select(ATTEMPTS).where(ATTEMPTS.c.delivery_id == delivery_id).order_by(ATTEMPTS.c.attempt)
            )
        )
    return row, attempts
