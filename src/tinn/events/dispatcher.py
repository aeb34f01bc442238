"""Fan-out: turn committed outbox rows into one delivery per (event, matching subscription).

One transaction takes a batch of undispatched ``cloud_events`` rows (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several workers split the work), finds the validated subscriptions whose filters
match each event exactly, authorises the subscriber for the event, writes the deliveries and
marks the rows dispatched. A worker that dies half-way leaves nothing behind: the transaction
rolls back and the rows are taken again.

Matching is exact where Altinn's is loose: ``resourceFilter``, ``subjectFilter`` and
``typeFilter`` are compared for equality, and ``sourceFilter`` must be the event's source or a
prefix of it that ends on a path-segment boundary, so a subscription to app ``x`` never receives
the events of app ``x2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy import insert, or_, select, update

from tinn.auth.principal import Principal
from tinn.events.authorization import (
    PARTY_PREFIX,
    URN_ORGANIZATION,
    EventAuthorizer,
    principal_from_identity,
)
from tinn.events.outbox import mark_work
from tinn.events.subscriptions import KIND_EVENT, STATUS_PENDING
from tinn.storage import tables
from tinn.storage.db import Database

log = structlog.get_logger("tinn.events")

EVENTS = tables.cloud_events
SUBSCRIPTIONS = tables.subscriptions
DELIVERIES = tables.deliveries
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class DispatchResult:
    events: int
    deliveries: int


def source_matches(source_filter: str | None, source: str) -> bool:
    """Whether ``source`` is ``source_filter`` or lies under it, on a path-segment boundary.

    Scheme and host compare case-insensitively (default ports are implied); the path compares
    exactly, segment by segment: ``https://h/ttd/x`` matches ``https://h/ttd/x/instances/1/g``
    but not ``https://h/ttd/x2/instances/1/g``.
    """
    if source_filter is None:
        return True
    wanted = urlsplit(source_filter)
    actual = urlsplit(source)
    if wanted.scheme.lower() != actual.scheme.lower():
        return False
    if wanted.scheme.lower() == "urn":
        return _segment_prefix(wanted.path, actual.path, ":")
    if (wanted.hostname or "") != (actual.hostname or "") or _port(wanted) != _port(actual):
        return False
    if wanted.query or wanted.fragment:
        return wanted.path == actual.path and wanted.query == actual.query
    return _segment_prefix(wanted.path, actual.path, "/")


def _port(parts: Any) -> int | None:
    try:
        port: int | None = parts.port
    except ValueError:
        return None
    return port if port is not None else _DEFAULT_PORTS.get(parts.scheme.lower())


def _segment_prefix(prefix: str, value: str, separator: str) -> bool:
    prefix = prefix.rstrip(separator)
    if not prefix:
        return True
    return value == prefix or value.rstrip(separator) == prefix or value.startswith(prefix + separator)


class Dispatcher:
    """Fans out outbox rows; holds the worker's authorisation helper across batches."""

    def __init__(self, db: Database, authz: EventAuthorizer) -> None:
        self.db = db
        self.authz = authz

    def _unit_subjects(self, subject: str | None) -> list[str]:
        """Subject filters of main-unit subscriptions with ``includeSubunits`` that see ``subject``."""
        if not subject:
            return []
        party = self.authz.party_of_subject(subject)
        if party is None:
            return []
        main = self.authz.main_unit(party.party_id)
        if main is None:
            return []
        subjects = [f"{PARTY_PREFIX}{main.party_id}"]
        if main.org_number:
            subjects.append(f"{URN_ORGANIZATION}{main.org_number}")
        return subjects

    async def dispatch_batch(self, now: datetime, *, limit: int) -> DispatchResult:
        async with self.db.write() as conn:
            query = (
                select(EVENTS.c.sequence_no, EVENTS.c.document)
                .where(EVENTS.c.dispatched.is_(False))
                .order_by(EVENTS.c.sequence_no)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(await conn.execute(query))
            if not rows:
                return DispatchResult(0, 0)

            units = {row.sequence_no: self._unit_subjects(row.document.get("subject")) for row in rows}
            resources = {r for row in rows if isinstance(r := row.document.get("resource"), str)}
            subjects = {s for row in rows if isinstance(s := row.document.get("subject"), str)}
            subjects.update(s for found in units.values() for s in found)
            candidates: dict[str, list[Any]] = {}
            if resources:
                subscription_rows = await conn.execute(
                    select(SUBSCRIPTIONS).where(
                        SUBSCRIPTIONS.c.resource_filter.in_(sorted(resources)),
                        SUBSCRIPTIONS.c.validated.is_(True),
                        or_(
                            SUBSCRIPTIONS.c.subject_filter.is_(None),
                            SUBSCRIPTIONS.c.subject_filter.in_(sorted(subjects)),
                        ),
                    )
                )
                for subscription in subscription_rows:
                    candidates.setdefault(subscription.resource_filter, []).append(subscription)

            principals: dict[int, Principal | None] = {}
            deliveries: list[dict[str, Any]] = []
            for row in rows:
                event: Mapping[str, Any] = row.document
                for subscription in self._matching(event, candidates, units[row.sequence_no]):
                    if subscription.id not in principals:
                        principals[subscription.id] = principal_from_identity(subscription.consumer_claims)
                    principal = principals[subscription.id]
                    if principal is None or not self.authz.may_receive(principal, event):
                        log.info(
                            "event_not_authorized",
                            event_id=event.get("id"),
                            subscription_id=subscription.id,
                            consumer=subscription.consumer,
                        )
                        continue
                    deliveries.append(
                        {
                            "subscription_id": subscription.id,
                            "kind": KIND_EVENT,
                            "event_id": str(event.get("id")),
                            "event_type": str(event.get("type")),
                            "event_sequence_no": row.sequence_no,
                            "document": event,
                            "status": STATUS_PENDING,
                            "attempts": 0,
                            "failures": 0,
                            "next_attempt_at": now,
                            "created": now,
                        }
                    )
            if deliveries:
                await conn.execute(insert(DELIVERIES), deliveries)
                await mark_work(conn)
            await conn.execute(
                update(EVENTS)
                .where(EVENTS.c.sequence_no.in_([row.sequence_no for row in rows]))
                .values(dispatched=True)
            )
        return DispatchResult(len(rows), len(deliveries))

    @staticmethod
    def _matching(
        event: Mapping[str, Any], candidates: Mapping[str, list[Any]], unit_subjects: list[str]
    ) -> list[Any]:
        resource = event.get("resource")
        if not isinstance(resource, str):
            return []
        subject = event.get("subject")
        event_type = event.get("type")
        source = str(event.get("source", ""))
        matched: dict[int, Any] = {}
        for subscription in candidates.get(resource, ()):
            if subscription.type_filter is not None and subscription.type_filter != event_type:
                continue
            if not source_matches(subscription.source_filter, source):
                continue
            direct = subscription.subject_filter is None or subscription.subject_filter == subject
            via_unit = subscription.include_subunits and subscription.subject_filter in unit_subjects
            if direct or via_unit:
                matched[subscription.id] = subscription
        return list(matched.values())
