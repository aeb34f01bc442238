"""``GET /storage/api/v1/instances/{p}/{g}/download``: one instance as a streamed ZIP (a Tinn addition).

The archive holds ``instance.json`` (the instance as Storage's GET returns it), every data
element the caller may read under ``{dataType}/{filename}`` (URL-decoded; form data, which has no
filename, as ``{id}.xml`` or ``{id}.json``; the receipt PDF is the
``ref-data-as-pdf`` element, so it sits under ``ref-data-as-pdf/``) and, last, ``manifest.json``
with each file's path, size and SHA-256 as it was written into the archive.

Nothing is held in memory beyond one chunk per file: blobs are streamed from the blob store
through ``stream-zip`` (deflate, ZIP64 only where a member needs it) to the client.

Authorization is that of reading the instance (PDP ``read``) plus each element's
``actionRequiredToRead``; elements the caller may not read are left out, as are delay-deleted
(hard-deleted) elements. A download by anyone but the app owner marks the elements read, as
``GET data`` does.
"""

from __future__ import annotations

import hashlib
import mimetypes
import stat
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import orjson
from stream_zip import ZIP_AUTO, AsyncMemberFile, async_stream_zip

from tinn.auth.principal import Principal
from tinn.instances import service
from tinn.instances.models import DataElement, Instance, app_json, storage_json
from tinn.instances.service import StorageError
from tinn.instances.store import DataRecord
from tinn.services import Services
from tinn.timeutil import to_iso

FILE_MODE = stat.S_IFREG | 0o644
COMPRESSION_LEVEL = 6
INSTANCE_FILE = "instance.json"
MANIFEST_FILE = "manifest.json"
_RESERVED = {INSTANCE_FILE.casefold(), MANIFEST_FILE.casefold()}
_UNSAFE = set('/\\:*?"<>|')


def safe_segment(text: str | None, fallback: str) -> str:
    """One path segment: no separators, control characters or dot-only names."""
    cleaned = "".join("_" if ch in _UNSAFE or ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in text or "")
    cleaned = cleaned.strip().rstrip(".")
    return cleaned if cleaned.strip("._ ") else fallback


_EXTENSIONS = {"application/xml": ".xml", "text/xml": ".xml", "application/json": ".json"}


def _unnamed(element: DataElement) -> str:
    """Form data has no filename: its id with the extension of its format."""
    content_type = (element.content_type or "").split(";")[0].strip().lower()
    extension = _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ""
    return f"{element.id}{extension}"


def unique_name(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``name (2).ext``, ``name (3).ext``... if that path is taken (any case)."""
    if wanted.casefold() not in taken:
        taken.add(wanted.casefold())
        return wanted
    folder, _, name = wanted.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if not stem:  # no extension, or a name like ".profile"
        stem, dot, extension = name, "", ""
    number = 2
    while True:
        candidate = (
            f"{folder}/{stem} ({number}){dot}{extension}" if folder else f"{stem} ({number}){dot}{extension}"
        )
        if candidate.casefold() not in taken:
            taken.add(candidate.casefold())
            return candidate
        number += 1


@dataclass
class _Entry:
    path: str
    size: int
    modified: datetime
    data: DataRecord | None = None
    content: bytes | None = None


@dataclass
class Archive:
    """A prepared download; :meth:`stream` produces the ZIP bytes."""

    services: Services
    instance: Instance
    entries: list[_Entry]
    created: datetime
    manifest: list[dict[str, Any]] = field(default_factory=list)

    async def _member(self, entry: _Entry) -> AsyncIterator[bytes]:
        digest = hashlib.sha256()
        size = 0
        if entry.content is not None:
            digest.update(entry.content)
            size = len(entry.content)
            yield entry.content
        else:
            assert entry.data is not None and entry.data.blob_key is not None
            stream = await self.services.blobs.open(entry.data.blob_key)
            try:
                async for chunk in stream:
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk
            finally:
                await stream.aclose()
        item: dict[str, Any] = {"path": entry.path, "size": size, "sha256": digest.hexdigest()}
        if entry.data is not None:
            element = entry.data.element
            item.update(
                dataElementId=element.id, dataType=element.data_type, contentType=element.content_type
            )
        self.manifest.append(item)

    async def _manifest(self) -> AsyncIterator[bytes]:
        yield orjson.dumps(
            {"instanceId": self.instance.id, "created": to_iso(self.created), "files": self.manifest},
            option=orjson.OPT_INDENT_2,
        )

    async def _files(self) -> AsyncIterator[AsyncMemberFile]:
        for entry in self.entries:
            yield (
                entry.path,
                entry.modified,
                FILE_MODE,
                ZIP_AUTO(entry.size, COMPRESSION_LEVEL),
                self._member(entry),
            )
        # The manifest's size is unknown until the other members have streamed: ZIP64 is safe.
        yield (MANIFEST_FILE, self.created, FILE_MODE, ZIP_AUTO(2**33, COMPRESSION_LEVEL), self._manifest())

    def stream(self) -> AsyncIterable[bytes]:
        return async_stream_zip(self._files())


async def prepare(services: Services, principal: Principal, guid: uuid.UUID) -> Archive:
    """Authorize and plan a download; :class:`StorageError` before any byte is sent."""
    record = await service.get_instance(services, principal, guid)
    instance = record.instance
    definition = service.app_of(services, instance)
    readable: list[DataRecord] = []
    for data in record.elements(include_hard_deleted=False):
        data_type = definition.data_type(data.element.data_type)
        if not service.may_read_element(services, principal, instance, data_type):
            continue
        if not data.blob_key or not await services.blobs.exists(data.blob_key):
            raise StorageError(404, f"Unable to read data element from blob storage for {data.element.id}")
        readable.append(data)
    if (
        readable
        and not service.is_app_owner(principal, instance)
        and any(not d.element.is_read for d in readable)
    ):
        ids = {d.element.id for d in readable}
        async with service.changing(services, guid) as tx:
            for current in tx.record.elements():
                if current.element.id in ids and not current.element.is_read:
                    current.element.is_read = True
                    tx.mark_dirty(current)
        readable = [d for d in tx.record.elements() if d.element.id in ids]

    now = services.clock.now()
    view = instance.model_copy()
    view.data = [d.element for d in readable]
    body = storage_json(app_json(service.links(services).decorate(view, apps=False)))
    instance_bytes = orjson.dumps(body, option=orjson.OPT_INDENT_2)
    taken = set(_RESERVED)
    entries = [
        _Entry(INSTANCE_FILE, len(instance_bytes), instance.last_changed or now, content=instance_bytes)
    ]
    for data in readable:
        element = data.element
        folder = safe_segment(element.data_type, "data")
        name = safe_segment(unquote(element.filename) if element.filename else None, _unnamed(element))
        entries.append(
            _Entry(
                unique_name(f"{folder}/{name}", taken),
                element.size,
                element.last_changed or element.created or now,
                data=data,
            )
        )
    return Archive(services, instance, entries, now)
