"""Persistence of instances, data elements and instance events, and the unit of work around them.

Every state change goes through :func:`change_instance`: one transaction that locks the instance
row, lets the caller mutate the instance and its data elements, appends instance events and
outgoing CloudEvents (the outbox), and writes it all at once. Work that must only happen after
the commit (deleting replaced blobs, waking the event dispatcher) is registered with
``tx.after_commit``; cleanup for a rollback (blobs written for a change that did not happen) with
``tx.on_rollback``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tinn.instances.models import DataElement, Instance, InstanceEvent
from tinn.storage import tables
from tinn.storage.db import Database

log = structlog.get_logger("tinn.instances")

INSTANCES = tables.instances
DATA = tables.data_elements
EVENTS = tables.instance_events
CONFIRMATIONS = tables.instance_confirmations

AfterCommit = Callable[[], Awaitable[None]]


class InstanceNotFound(Exception):
    pass


class VersionConflict(Exception):
    """The instance or element changed since the caller read it."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"changed concurrently (now at version {current_version})")
        self.current_version = current_version


@dataclass
class DataRecord:
    internal_id: int | None
    element: DataElement
    blob_key: str | None
    version: int = 1
    hard_deleted: datetime | None = None
    dirty: bool = False
    removed: bool = False


@dataclass
class InstanceRecord:
    internal_id: int | None  # None until a new instance is inserted
    guid: uuid.UUID
    version: int
    instance: Instance
    data: list[DataRecord] = field(default_factory=list)
    confirmations: frozenset[str] = frozenset()

    @property
    def etag(self) -> str:
        return f'"{self.guid.hex}-{self.version}"'

    def element(self, data_guid: str) -> DataRecord | None:
        for record in self.data:
            if record.element.id == data_guid and not record.removed:
                return record
        return None

    def elements(self, *, include_hard_deleted: bool = True) -> list[DataRecord]:
        return [
            r
            for r in self.data
            if not r.removed
            and (
                include_hard_deleted
                or not (r.element.delete_status and r.element.delete_status.is_hard_deleted)
            )
        ]

    def full_instance(self, *, include_hard_deleted: bool = True) -> Instance:
        """The instance with its data elements (ordered by `created`), as Storage returns it."""
        instance = self.instance.model_copy()
        instance.data = [r.element for r in self.elements(include_hard_deleted=include_hard_deleted)]
        return instance


# -- documents and columns ------------------------------------------------------------------------

_INSTANCE_DOC_EXCLUDE = {"data", "self_links"}
_DATA_DOC_EXCLUDE = {"self_links"}


def instance_document(instance: Instance) -> dict[str, Any]:
    return instance.model_dump(mode="json", by_alias=True, exclude=_INSTANCE_DOC_EXCLUDE)


def data_document(element: DataElement) -> dict[str, Any]:
    return element.model_dump(mode="json", by_alias=True, exclude=_DATA_DOC_EXCLUDE)


def instance_columns(instance: Instance) -> dict[str, Any]:
    process = instance.process
    status = instance.status
    own_confirmation = next(
        (c for c in instance.complete_confirmations or () if c.stakeholder_id == instance.org), None
    )
    texts = instance.presentation_texts or {}
    return {
        "party_id": int(instance.instance_owner.party_id or 0),
        "org": instance.org,
        "app_id": instance.app_id,
        "current_task": process.current_task.element_id if process and process.current_task else None,
        "process_ended": process.ended if process else None,
        "created": instance.created,
        "last_changed": instance.last_changed,
        "visible_after": instance.visible_after,
        "due_before": instance.due_before,
        "is_archived": status.is_archived,
        "is_soft_deleted": status.is_soft_deleted,
        "is_hard_deleted": status.is_hard_deleted,
        "hard_deleted": status.hard_deleted,
        "confirmed": own_confirmation is not None,
        "confirmed_at": own_confirmation.confirmed_on if own_confirmation else None,
        "search_text": "\x1f".join(v.lower() for v in texts.values() if v) or None,
        "document": instance_document(instance),
    }


def data_columns(element: DataElement) -> dict[str, Any]:
    delete_status = element.delete_status
    return {
        "data_type": element.data_type,
        "created": element.created,
        "last_changed": element.last_changed,
        "content_hash": element.content_hash,
        "size": element.size,
        "locked": element.locked,
        "is_hard_deleted": bool(delete_status and delete_status.is_hard_deleted),
        "hard_deleted": delete_status.hard_deleted if delete_status else None,
        "file_scan_result": element.file_scan_result.value,
        "document": data_document(element),
    }


def _instance_from_row(row: Any) -> Instance:
    return Instance.model_validate(row.document)


def _data_from_row(row: Any) -> DataRecord:
    return DataRecord(
        internal_id=row.internal_id,
        element=DataElement.model_validate(row.document),
        blob_key=row.blob_key,
        version=row.version,
        hard_deleted=row.hard_deleted,
    )


# -- reads --------------------------------------------------------------------------------------------


async def load_instance(
    conn: AsyncConnection, guid: uuid.UUID, *, lock: bool = False, with_data: bool = True
) -> InstanceRecord | None:
    query = select(INSTANCES.c.internal_id, INSTANCES.c.id, INSTANCES.c.version, INSTANCES.c.document).where(
        INSTANCES.c.id == guid
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    record = InstanceRecord(row.internal_id, row.id, row.version, _instance_from_row(row))
    if with_data:
        record.data = await load_data(conn, row.internal_id)
    record.confirmations = frozenset(
        c.stakeholder_id for c in record.instance.complete_confirmations or () if c.stakeholder_id is not None
    )
    return record


async def load_data(conn: AsyncConnection, instance_internal_id: int) -> list[DataRecord]:
    rows = await conn.execute(
        select(DATA.c.internal_id, DATA.c.blob_key, DATA.c.version, DATA.c.hard_deleted, DATA.c.document)
        .where(DATA.c.instance_internal_id == instance_internal_id)
        .order_by(DATA.c.created, DATA.c.internal_id)
    )
    return [_data_from_row(row) for row in rows]


async def load_data_for_instances(
    conn: AsyncConnection, instance_internal_ids: list[int]
) -> dict[int, list[DataRecord]]:
    """Data elements of many instances in one query (query pages)."""
    result: dict[int, list[DataRecord]] = {i: [] for i in instance_internal_ids}
    if not instance_internal_ids:
        return result
    rows = await conn.execute(
        select(
            DATA.c.instance_internal_id,
            DATA.c.internal_id,
            DATA.c.blob_key,
            DATA.c.version,
            DATA.c.hard_deleted,
            DATA.c.document,
        )
        .where(DATA.c.instance_internal_id.in_(instance_internal_ids))
        .order_by(DATA.c.instance_internal_id, DATA.c.created, DATA.c.internal_id)
    )
    for row in rows:
        result[row.instance_internal_id].append(_data_from_row(row))
    return result


async def load_events(
    conn: AsyncConnection,
    guid: uuid.UUID,
    *,
    event_types: list[str] | None = None,
    from_time: datetime | None = None,
    to_time: datetime | None = None,
) -> list[InstanceEvent]:
    query = select(EVENTS.c.document).where(EVENTS.c.instance_guid == guid)
    if event_types:
        query = query.where(EVENTS.c.event_type.in_(event_types))
    if from_time is not None:
        query = query.where(EVENTS.c.created >= from_time)
    if to_time is not None:
        query = query.where(EVENTS.c.created <= to_time)
    rows = await conn.execute(query.order_by(EVENTS.c.created, EVENTS.c.internal_id))
    return [InstanceEvent.model_validate(row.document) for row in rows]


async def read_instance(db: Database, guid: uuid.UUID) -> InstanceRecord | None:
    async with db.read() as conn:
        return await load_instance(conn, guid)


# -- writes -------------------------------------------------------------------------------------------


def instance_guid(instance: Instance) -> uuid.UUID:
    assert instance.id is not None
    return uuid.UUID(instance.id.split("/", 1)[1])


async def _insert_instance(conn: AsyncConnection, record: InstanceRecord) -> None:
    result = await conn.execute(
        insert(INSTANCES).values(id=record.guid, version=1, **instance_columns(record.instance))
    )
    record.internal_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    record.version = 1


async def _sync_confirmations(conn: AsyncConnection, record: InstanceRecord) -> None:
    current = {c.stakeholder_id: c.confirmed_on for c in record.instance.complete_confirmations or ()}
    added = [s for s in current if s is not None and s not in record.confirmations]
    for stakeholder in added:
        await conn.execute(
            insert(CONFIRMATIONS).values(
                instance_internal_id=record.internal_id,
                stakeholder_id=stakeholder,
                confirmed_on=current[stakeholder],
            )
        )


async def insert_data_record(conn: AsyncConnection, record: InstanceRecord, data: DataRecord) -> None:
    assert record.internal_id is not None
    result = await conn.execute(
        insert(DATA).values(
            id=uuid.UUID(data.element.id),
            instance_internal_id=record.internal_id,
            instance_guid=record.guid,
            blob_key=data.blob_key,
            version=1,
            **data_columns(data.element),
        )
    )
    data.internal_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    data.version = 1
    data.dirty = False


async def insert_events(conn: AsyncConnection, events: list[InstanceEvent]) -> None:
    if not events:
        return
    await conn.execute(
        insert(EVENTS),
        [
            {
                "id": uuid.UUID(event.id) if event.id else uuid.uuid4(),
                "instance_guid": uuid.UUID((event.instance_id or "").split("/")[-1]),
                "event_type": event.event_type or "None",
                "created": event.created,
                "document": event.model_dump(mode="json", by_alias=True),
            }
            for event in events
        ],
    )


class InstanceTx:
    """A unit of work on one (locked) instance. Use through :func:`change_instance`."""

    def __init__(self, conn: AsyncConnection, record: InstanceRecord) -> None:
        self.conn = conn
        self.record = record
        self.events: list[InstanceEvent] = []
        self.cloud_events: list[dict[str, Any]] = []
        self._after_commit: list[AfterCommit] = []
        self._on_rollback: list[AfterCommit] = []
        self.deleted = False

    @property
    def instance(self) -> Instance:
        return self.record.instance

    def add_event(self, event: InstanceEvent) -> None:
        self.events.append(event)

    def publish(self, cloud_event: dict[str, Any]) -> None:
        """Queue a CloudEvent for the outbox; written in this transaction."""
        self.cloud_events.append(cloud_event)

    def add_data(self, data: DataRecord) -> None:
        data.dirty = True
        self.record.data.append(data)

    def mark_dirty(self, data: DataRecord) -> None:
        data.dirty = True

    def remove_data(self, data: DataRecord) -> None:
        data.removed = True

    def delete_instance(self) -> None:
        """Remove the instance row itself (hard purge, e.g. autoDeleteOnProcessEnd)."""
        self.deleted = True

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)

    def on_rollback(self, callback: AfterCommit) -> None:
        self._on_rollback.append(callback)

    async def flush(self) -> None:
        record = self.record
        conn = self.conn
        if self.deleted:
            if record.internal_id is not None:
                await conn.execute(delete(INSTANCES).where(INSTANCES.c.internal_id == record.internal_id))
        else:
            if record.internal_id is None:
                await _insert_instance(conn, record)
            else:
                result = await conn.execute(
                    update(INSTANCES)
                    .where(
                        INSTANCES.c.internal_id == record.internal_id, INSTANCES.c.version == record.version
                    )
                    .values(version=record.version + 1, **instance_columns(record.instance))
                )
                if result.rowcount != 1:
                    raise VersionConflict(record.version)
                record.version += 1
            await _sync_confirmations(conn, record)
            for data in list(record.data):
                if data.removed:
                    if data.internal_id is not None:
                        await conn.execute(delete(DATA).where(DATA.c.internal_id == data.internal_id))
                    record.data.remove(data)
                elif data.internal_id is None:
                    await insert_data_record(conn, record, data)
                elif data.dirty:
                    await conn.execute(
                        update(DATA)
                        .where(DATA.c.internal_id == data.internal_id)
                        .values(
                            version=data.version + 1, blob_key=data.blob_key, **data_columns(data.element)
                        )
                    )
                    data.version += 1
                    data.dirty = False
        await insert_events(conn, self.events)
        if self.cloud_events:
            from tinn.events.outbox import write_outbox

            await write_outbox(conn, self.cloud_events)


@asynccontextmanager
async def change_instance(
    db: Database,
    guid: uuid.UUID,
    *,
    expected_version: int | None = None,
) -> AsyncIterator[InstanceTx]:
    """Lock the instance, let the caller change it, write everything in one transaction.

    ``expected_version`` turns the change into an optimistic one: :class:`VersionConflict` when
    the instance moved on since the caller read it (If-Match, concurrent process/next).
    """
    tx: InstanceTx | None = None
    try:
        async with db.write() as conn:
            record = await load_instance(conn, guid, lock=True)
            if record is None:
                raise InstanceNotFound(str(guid))
            if expected_version is not None and record.version != expected_version:
                raise VersionConflict(record.version)
            tx = InstanceTx(conn, record)
            yield tx
            await tx.flush()
    except BaseException:
        if tx is not None:
            await _run_callbacks(tx._on_rollback, "rollback_cleanup_failed")
        raise
    await _run_callbacks(tx._after_commit, "after_commit_failed")


@asynccontextmanager
async def create_instance_tx(db: Database, instance: Instance) -> AsyncIterator[InstanceTx]:
    """Insert a new instance and whatever the caller adds to it, in one transaction."""
    tx: InstanceTx | None = None
    try:
        async with db.write() as conn:
            # Version 1 is what the insert writes: an ETag taken before the flush (the create
            # response) must name the stored version.
            tx = InstanceTx(conn, InstanceRecord(None, instance_guid(instance), 1, instance))
            yield tx
            await tx.flush()
    except BaseException:
        if tx is not None:
            await _run_callbacks(tx._on_rollback, "rollback_cleanup_failed")
        raise
    await _run_callbacks(tx._after_commit, "after_commit_failed")


async def _run_callbacks(callbacks: list[AfterCommit], failure_event: str) -> None:
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            # The state change itself stands (or was rolled back); leftovers are swept by cleanup.
            log.exception(failure_event)
