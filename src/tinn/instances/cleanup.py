"""Retention (``tinn cleanup``): purge what Altinn's cleanup job purges (platform notes 3.8).

* Hard-deleted instances that are not archived, or archived ones confirmed complete by their
  own org at least 7 days ago and hard-deleted at least 7 days ago: every blob under the
  instance's prefix, then in one transaction the instance row (its data elements, confirmations
  and locks go with it) and, for apps with ``autoDeleteOnProcessEnd``, its instance events. An
  archived, hard-deleted instance its org never confirmed is kept, as in Altinn.
* Delay-deleted data elements (``deleteStatus.hardDeleted`` at least 7 days ago) of instances
  their org confirmed complete more than 7 days ago: the element's blobs, then its row.
* Blobs under an instance prefix that no data element row references and that are older than
  an hour: what a process killed mid-upload leaves behind.

Blobs always go first, rows after, so a crash between the two leaves rows whose blobs are gone
(the next run finishes the job), never blobs that nothing points to for good.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import ColumnElement, and_, delete, or_, select

from tinn.appdef.registry import AppRegistry, load_apps
from tinn.clock import Clock, SystemClock
from tinn.instances.query import flag
from tinn.instances.store import change_instance
from tinn.settings import Settings
from tinn.storage import migrate, tables
from tinn.storage.blobs import LocalBlobStore, ObjectStoreBlobStore, create_blob_store
from tinn.storage.blobs.base import BlobError, BlobStore
from tinn.storage.blobs.local import TEMP_DIR
from tinn.storage.db import Database

log = structlog.get_logger("tinn.cleanup")

RETENTION = timedelta(days=7)
ORPHAN_AGE = timedelta(hours=1)
BATCH_SIZE = 100
LIST_BATCH = 1000

INSTANCES = tables.instances
DATA = tables.data_elements
EVENTS = tables.instance_events


@dataclass
class CleanupReport:
    instances_purged: int = 0
    instance_events_deleted: int = 0
    data_elements_purged: int = 0
    blobs_deleted: int = 0
    orphan_blobs_deleted: int = 0
    failures: int = 0

    def lines(self) -> list[tuple[str, int]]:
        return [
            ("instances purged", self.instances_purged),
            ("instance events deleted", self.instance_events_deleted),
            ("data elements purged", self.data_elements_purged),
            ("blobs deleted", self.blobs_deleted),
            ("orphan blobs deleted", self.orphan_blobs_deleted),
            ("failures", self.failures),
        ]


def _purgeable_instance(cutoff: datetime) -> ColumnElement[bool]:
    c = INSTANCES.c
    return and_(
        flag(c.is_hard_deleted, True),
        or_(
            flag(c.is_archived, False),
            and_(flag(c.confirmed, True), c.confirmed_at <= cutoff, c.hard_deleted <= cutoff),
        ),
    )


def _instance_prefix(app_id: str, guid: uuid.UUID) -> str:
    return f"{app_id}/{guid}/"


async def purge_instances(
    db: Database,
    blobs: BlobStore,
    apps: AppRegistry,
    now: datetime,
    report: CleanupReport,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> None:
    cutoff = now - RETENTION
    condition = _purgeable_instance(cutoff)
    c = INSTANCES.c
    after = 0
    while True:
        async with db.read() as conn:
            rows = (
                await conn.execute(
                    select(c.internal_id, c.id, c.app_id)
                    .where(condition, c.internal_id > after)
                    .order_by(c.internal_id)
                    .limit(batch_size)
                )
            ).all()
        if not rows:
            return
        after = rows[-1].internal_id
        if dry_run:
            report.instances_purged += len(rows)
            continue
        cleared: list[tuple[int, uuid.UUID, str]] = []
        for row in rows:
            try:
                report.blobs_deleted += await blobs.delete_prefix(_instance_prefix(row.app_id, row.id))
            except BlobError as exc:
                report.failures += 1
                log.warning("cleanup_blobs_failed", instance_guid=str(row.id), reason=str(exc))
                continue
            cleared.append((row.internal_id, row.id, row.app_id))
        if not cleared:
            continue
        auto_delete = [guid for _, guid, app_id in cleared if _auto_delete(apps, app_id)]
        async with db.write() as conn:
            # The condition again: an instance that changed meanwhile is left for the next run.
            result = await conn.execute(
                delete(INSTANCES).where(c.internal_id.in_([i for i, _, _ in cleared]), condition)
            )
            report.instances_purged += result.rowcount
            if auto_delete:
                events = await conn.execute(delete(EVENTS).where(EVENTS.c.instance_guid.in_(auto_delete)))
                report.instance_events_deleted += events.rowcount
        log.info("cleanup_instances_purged", count=len(cleared))


def _auto_delete(apps: AppRegistry, app_id: str) -> bool:
    definition = apps.by_id(app_id)
    return bool(definition and definition.metadata.auto_delete_on_process_end)


async def purge_data_elements(
    db: Database,
    blobs: BlobStore,
    now: datetime,
    report: CleanupReport,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> None:
    cutoff = now - RETENTION
    d, i = DATA.c, INSTANCES.c
    after = 0
    while True:
        async with db.read() as conn:
            rows = (
                await conn.execute(
                    select(d.internal_id, d.id, d.instance_guid, i.app_id)
                    .join(INSTANCES, INSTANCES.c.internal_id == d.instance_internal_id)
                    .where(
                        flag(d.is_hard_deleted, True),
                        d.hard_deleted <= cutoff,
                        flag(i.confirmed, True),
                        i.confirmed_at < cutoff,
                        d.internal_id > after,
                    )
                    .order_by(d.internal_id)
                    .limit(batch_size)
                )
            ).all()
        if not rows:
            return
        after = rows[-1].internal_id
        if dry_run:
            report.data_elements_purged += len(rows)
            continue
        by_instance: dict[uuid.UUID, set[str]] = {}
        for row in rows:
            try:
                prefix = f"{_instance_prefix(row.app_id, row.instance_guid)}data/{row.id}/"
                report.blobs_deleted += await blobs.delete_prefix(prefix)
            except BlobError as exc:
                report.failures += 1
                log.warning("cleanup_blobs_failed", data_id=str(row.id), reason=str(exc))
                continue
            by_instance.setdefault(row.instance_guid, set()).add(str(row.id))
        for guid, ids in by_instance.items():
            async with change_instance(db, guid) as tx:
                confirmed = tx.instance.complete_confirmations or ()
                own = next((x for x in confirmed if x.stakeholder_id == tx.instance.org), None)
                if own is None or own.confirmed_on >= cutoff:
                    continue
                for data in tx.record.elements():
                    status = data.element.delete_status
                    if (
                        data.element.id in ids
                        and status is not None
                        and status.is_hard_deleted
                        and status.hard_deleted is not None
                        and status.hard_deleted <= cutoff
                    ):
                        tx.remove_data(data)
                        report.data_elements_purged += 1


# -- orphan blobs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListedBlob:
    key: str
    modified: datetime


def _walk_local(root: Path) -> Iterator[ListedBlob]:
    for directory, dirnames, filenames in os.walk(root):
        if Path(directory) == root and TEMP_DIR in dirnames:
            dirnames.remove(TEMP_DIR)
        for name in filenames:
            path = Path(directory) / name
            try:
                modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue
            yield ListedBlob(path.relative_to(root).as_posix(), modified)


async def list_blobs(store: BlobStore) -> AsyncIterator[ListedBlob]:
    """Every blob in the store with its last-modified time, in batches (local and obstore)."""
    if isinstance(store, LocalBlobStore):
        walker = _walk_local(store.root)

        def next_batch() -> list[ListedBlob]:
            return [blob for _, blob in zip(range(LIST_BATCH), walker, strict=False)]

        while batch := await asyncio.to_thread(next_batch):
            for blob in batch:
                yield blob
        return
    if isinstance(store, ObjectStoreBlobStore):
        import obstore

        try:
            async for metas in obstore.list(store.store, chunk_size=LIST_BATCH):
                for meta in metas:
                    yield ListedBlob(meta["path"], meta["last_modified"])
        except Exception as exc:
            raise BlobError(f"listing {store.url} failed: {exc}") from exc
        return
    raise BlobError(f"listing is not supported for {type(store).__name__}")


def _instance_guid_of(key: str) -> uuid.UUID | None:
    """The instance of a data blob key ``{org}/{app}/{instanceGuid}/data/{dataGuid}/{writeId}``."""
    parts = key.split("/")
    if len(parts) != 6 or parts[3] != "data":
        return None
    try:
        uuid.UUID(parts[4])
        return uuid.UUID(parts[2])
    except ValueError:
        return None


async def remove_orphan_blobs(
    db: Database, blobs: BlobStore, now: datetime, report: CleanupReport, *, dry_run: bool = False
) -> None:
    """Delete data blobs older than :data:`ORPHAN_AGE` that no data element row references."""
    cutoff = now - ORPHAN_AGE
    pending: list[tuple[ListedBlob, uuid.UUID]] = []

    async def settle() -> None:
        guids = list({guid for _, guid in pending})
        async with db.read() as conn:
            referenced = {
                row.blob_key
                for row in await conn.execute(select(DATA.c.blob_key).where(DATA.c.instance_guid.in_(guids)))
            }
        for blob, _ in pending:
            if blob.key in referenced:
                continue
            report.orphan_blobs_deleted += 1
            if not dry_run:
                await blobs.delete(blob.key)
                log.info("cleanup_orphan_blob_deleted", key=blob.key)
        pending.clear()

    async for blob in list_blobs(blobs):
        guid = _instance_guid_of(blob.key)
        if guid is None or blob.modified > cutoff:
            continue
        pending.append((blob, guid))
        if len(pending) >= LIST_BATCH:
            await settle()
    if pending:
        await settle()


async def run_cleanup(
    db: Database,
    blobs: BlobStore,
    apps: AppRegistry,
    clock: Clock,
    *,
    dry_run: bool = False,
    orphans: bool = True,
    batch_size: int = BATCH_SIZE,
) -> CleanupReport:
    """One cleanup pass; safe to run from several processes (each deletion re-checks its rule)."""
    report = CleanupReport()
    now = clock.now()
    await purge_instances(db, blobs, apps, now, report, dry_run=dry_run, batch_size=batch_size)
    await purge_data_elements(db, blobs, now, report, dry_run=dry_run, batch_size=batch_size)
    if orphans:
        await remove_orphan_blobs(db, blobs, now, report, dry_run=dry_run)
    log.info("cleanup_done", dry_run=dry_run, **{k.replace(" ", "_"): v for k, v in report.lines()})
    return report


async def run_from_settings(
    settings: Settings, *, dry_run: bool = False, orphans: bool = True
) -> CleanupReport:
    """``tinn cleanup``: the database, blob store and apps of ``settings``, for one pass."""
    url = settings.effective_database_url
    if settings.effective_auto_migrate:
        await migrate.upgrade(url)
    db = Database(url, pool_size=1)
    blobs = create_blob_store(settings.effective_blob_url, settings.blob_options)
    try:
        return await run_cleanup(
            db, blobs, load_apps(settings.apps), SystemClock(), dry_run=dry_run, orphans=orphans
        )
    finally:
        await blobs.close()
        await db.dispose()
