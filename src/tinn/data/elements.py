"""Creating data elements and their blobs (shared by instantiation, the data API and the engine)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from datetime import datetime

from tinn.instances.models import DataElement, FileScanResult, Instance, Reference
from tinn.instances.store import DataRecord
from tinn.storage.blobs.base import BlobInfo, BlobStore, iterate_bytes


def blob_storage_path(app_id: str, instance_guid: uuid.UUID | str, data_guid: str) -> str:
    """Altinn's wire `blobStoragePath` (platform notes 1.5)."""
    return f"{app_id}/{instance_guid}/data/{data_guid}"


def new_blob_key(app_id: str, instance_guid: uuid.UUID | str, data_guid: str) -> str:
    """Where a write of an element goes: a fresh key per write, so a crash never leaves a row
    pointing at half a blob (the old blob is deleted after the new one is committed)."""
    return f"{blob_storage_path(app_id, instance_guid, data_guid)}/{uuid.uuid4().hex}"


def new_element(
    instance: Instance,
    data_type: str,
    *,
    content_type: str | None,
    filename: str | None,
    performed_by: str,
    now: datetime,
    by_app_owner: bool,
    file_scan: bool = False,
    generated_from_task: str | None = None,
    data_guid: str | None = None,
) -> DataElement:
    assert instance.id is not None and instance.app_id is not None
    guid = data_guid or str(uuid.uuid4())
    instance_guid = instance.id.split("/", 1)[1]
    return DataElement(
        id=guid,
        instance_guid=instance_guid,
        data_type=data_type,
        filename=filename,
        content_type=content_type,
        blob_storage_path=blob_storage_path(instance.app_id, instance_guid, guid),
        # Storage: uploads by the app owner are unread by the owner-facing side.
        is_read=not by_app_owner,
        file_scan_result=FileScanResult.Pending if file_scan else FileScanResult.NotApplicable,
        references=(
            [Reference(value=generated_from_task, relation="GeneratedFrom", value_type="Task")]
            if generated_from_task
            else None
        ),
        created=now,
        created_by=performed_by,
        last_changed=now,
        last_changed_by=performed_by,
    )


def apply_blob(element: DataElement, info: BlobInfo) -> None:
    element.size = info.size
    element.content_hash = info.sha256


async def store_stream(
    blobs: BlobStore,
    instance: Instance,
    element: DataElement,
    chunks: AsyncIterable[bytes],
    *,
    max_size: int | None = None,
) -> DataRecord:
    """Stream the content to a new blob and return the (not yet stored) record for it."""
    assert instance.app_id is not None
    key = new_blob_key(instance.app_id, element.instance_guid, element.id)
    info = await blobs.put(key, chunks, max_size=max_size, content_type=element.content_type)
    apply_blob(element, info)
    return DataRecord(internal_id=None, element=element, blob_key=key)


async def store_bytes(
    blobs: BlobStore, instance: Instance, element: DataElement, content: bytes
) -> DataRecord:
    return await store_stream(blobs, instance, element, iterate_bytes(content))
