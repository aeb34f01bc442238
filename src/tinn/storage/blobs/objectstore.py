"""Blob store on an object store through obstore: S3, Azure Blob, GCS, or obstore's MemoryStore.

Small objects (up to one part) are sent in one request. Larger ones are streamed as a multipart
upload (S3 multipart, Azure block list, GCS XML multipart) that obstore commits only after the
last part, so a reader never sees a partial object; when the source fails, exceeds
``max_size`` or the task is cancelled, the upload is aborted. Memory is bounded by about
``(max_concurrency + 2) * part_size``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import obstore
import structlog
from obstore.exceptions import NotFoundError

from tinn.storage.blobs.base import (
    BlobError,
    BlobInfo,
    BlobNotFound,
    BlobTooLarge,
    InvalidRange,
    validate_key,
    validate_prefix,
    validate_range,
)

if TYPE_CHECKING:
    from obstore import Attributes, BytesStream, GetOptions
    from obstore.store import ObjectStore

log = structlog.get_logger("tinn.storage.blobs")

PART_SIZE = 8 * 1024 * 1024  # S3 wants >= 5 MiB parts; 10,000 parts of 8 MiB = 78 GiB per object
MAX_CONCURRENCY = 4  # parts uploaded at once per put
FEED_SIZE = 1024 * 1024  # chunks handed to obstore are coalesced to at least this
READ_CHUNK_SIZE = 1024 * 1024
DELETE_BATCH = 1000  # S3's DeleteObjects limit; obstore splits further for Azure (256)
CHECK_TIMEOUT = 10.0

_NOT_FOUND = (FileNotFoundError, NotFoundError)


class ObjectStoreBlobStore:
    """A :class:`~tinn.storage.blobs.base.BlobStore` over an obstore store (with its prefix)."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        url: str,
        part_size: int = PART_SIZE,
        max_concurrency: int = MAX_CONCURRENCY,
        read_chunk_size: int = READ_CHUNK_SIZE,
        check_timeout: float = CHECK_TIMEOUT,
    ) -> None:
        if part_size <= 0 or max_concurrency <= 0 or read_chunk_size <= 0 or check_timeout <= 0:
            raise ValueError("part_size, max_concurrency, read_chunk_size and check_timeout must be positive")
        self.url = url
        self.store = store
        self.part_size = part_size
        self.max_concurrency = max_concurrency
        self._read_chunk_size = read_chunk_size
        self._check_timeout = check_timeout

    # Writing -------------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        max_size: int | None = None,
        content_type: str | None = None,
    ) -> BlobInfo:
        validate_key(key)
        attributes: Attributes | None = {"Content-Type": content_type} if content_type else None
        hasher = hashlib.sha256()
        size = 0
        held: list[bytes] = []  # bytes received but not yet handed to obstore
        held_size = 0
        upload: _MultipartUpload | None = None
        try:
            async for chunk in chunks:
                if type(chunk) is not bytes:
                    chunk = bytes(chunk)  # the caller may reuse its buffer
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise BlobTooLarge(max_size)
                if not chunk:
                    continue
                hasher.update(chunk)
                held.append(chunk)
                held_size += len(chunk)
                if upload is None:
                    if held_size < self.part_size:
                        continue
                    upload = _MultipartUpload(self, key, attributes)
                if held_size >= FEED_SIZE:
                    await upload.send(b"".join(held))
                    held.clear()
                    held_size = 0
            if upload is None:
                await self._put_whole(key, b"".join(held), attributes)
            else:
                if held:
                    await upload.send(b"".join(held))
                await upload.finish()
        except BaseException:
            if upload is not None:
                await upload.abort()
            raise
        return BlobInfo(key=key, size=size, sha256=hasher.hexdigest())

    async def _put_whole(self, key: str, data: bytes, attributes: Attributes | None) -> None:
        try:
            await obstore.put_async(self.store, key, data, attributes=attributes, use_multipart=False)
        except Exception as exc:
            raise _failure("storing", key, exc) from exc

    # Reading -------------------------------------------------------------------------------

    async def open(
        self, key: str, *, start: int | None = None, end: int | None = None
    ) -> ObjectStoreBlobStream:
        validate_key(key)
        validate_range(start, end)
        options: GetOptions = {}
        first = start or 0
        ranged = start is not None or end is not None
        if ranged:
            options["range"] = {"offset": first} if end is None else (first, end + 1)
        try:
            result = await obstore.get_async(self.store, key, options=options)
        except _NOT_FOUND:
            raise BlobNotFound(key) from None
        except Exception as exc:
            # obstore reports an unsatisfiable range as a generic error: ask for the size.
            if ranged:
                total = await self.size(key)
                if first >= total:
                    raise InvalidRange(total) from None
            raise _failure("reading", key, exc) from exc
        range_start, range_end = result.range
        return ObjectStoreBlobStream(
            key=key,
            stream=result.stream(min_chunk_size=self._read_chunk_size),
            start=range_start,
            size=range_end - range_start,
            total_size=result.meta["size"],
            chunk_size=self._read_chunk_size,
        )

    async def size(self, key: str) -> int:
        validate_key(key)
        try:
            meta = await obstore.head_async(self.store, key)
        except _NOT_FOUND:
            raise BlobNotFound(key) from None
        except Exception as exc:
            raise _failure("reading", key, exc) from exc
        return meta["size"]

    async def exists(self, key: str) -> bool:
        try:
            await self.size(key)
        except BlobNotFound:
            return False
        return True

    # Deleting ------------------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        validate_key(key)
        try:
            await obstore.delete_async(self.store, key)
        except _NOT_FOUND:
            pass
        except Exception as exc:
            raise _failure("deleting", key, exc) from exc

    async def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        # Listing is by whole path segments; the prefix may end inside a segment.
        directory = prefix.rpartition("/")[0]
        count = 0
        batch: list[str] = []
        try:
            async for metas in obstore.list(self.store, directory or None, chunk_size=DELETE_BATCH):
                batch.extend(meta["path"] for meta in metas if meta["path"].startswith(prefix))
                if len(batch) >= DELETE_BATCH:
                    count += await self._delete_many(batch)
                    batch = []
            count += await self._delete_many(batch)
        except BlobError:
            raise
        except Exception as exc:
            raise _failure("deleting under", prefix, exc) from exc
        if count:
            log.info("blobs_deleted", store=self.url, prefix=prefix, count=count)
        return count

    async def _delete_many(self, paths: Sequence[str]) -> int:
        if not paths:
            return 0
        try:
            await obstore.delete_async(self.store, paths)
        except _NOT_FOUND:
            # Some backends fail a whole batch when one object vanished meanwhile.
            for path in paths:
                await self.delete(path)
        return len(paths)

    # Lifecycle -----------------------------------------------------------------------------

    async def check(self) -> None:
        try:
            async with asyncio.timeout(self._check_timeout):
                async for _ in obstore.list(self.store, chunk_size=1):
                    break
        except TimeoutError as exc:
            raise BlobError(f"blob store {self.url} did not answer within {self._check_timeout:g} s") from exc
        except Exception as exc:
            raise BlobError(f"blob store {self.url} is unreachable: {_first_line(exc)}") from exc

    async def close(self) -> None:
        """Nothing to release: obstore closes its connections when the store is dropped."""


class ObjectStoreBlobStream:
    """An object (or a byte range of it) streamed from the store in chunks."""

    def __init__(
        self, *, key: str, stream: BytesStream, start: int, size: int, total_size: int, chunk_size: int
    ) -> None:
        self.key = key
        self.start = start
        self.size = size
        self.total_size = total_size
        self._stream: BytesStream | None = stream
        self._chunk_size = chunk_size
        self._rest = memoryview(b"")  # what is left of an oversized chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._rest:
            return self._take()
        data = b""
        while not data:  # the memory store yields an empty chunk for an empty object
            if self._stream is None:
                raise StopAsyncIteration
            try:
                data = await anext(self._stream)
            except StopAsyncIteration:
                self._stream = None
                raise
            except Exception as exc:
                self._stream = None
                raise _failure("reading", self.key, exc) from exc
        if len(data) <= 2 * self._chunk_size:
            return data
        # The memory store hands over whole objects: pass them on in bounded pieces.
        self._rest = memoryview(data)
        return self._take()

    def _take(self) -> bytes:
        piece, self._rest = self._rest[: self._chunk_size], self._rest[self._chunk_size :]
        return bytes(piece)

    async def aclose(self) -> None:
        self._stream = None  # dropping obstore's stream closes its connection
        self._rest = memoryview(b"")


class _MultipartUpload:
    """Feeds one streaming multipart ``put_async`` from the producer in :meth:`put`.

    obstore pulls parts from this object while the producer pushes them, one at a time. To
    abort, the producer pushes an error instead: obstore then aborts the upload (instead of
    abandoning it, which is what cancelling obstore's task would do).
    """

    def __init__(self, owner: ObjectStoreBlobStore, key: str, attributes: Attributes | None) -> None:
        self._key = key
        self._queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=1)
        self._task: asyncio.Future[Any] = asyncio.ensure_future(
            obstore.put_async(
                owner.store,
                key,
                self,
                attributes=attributes,
                use_multipart=True,
                chunk_size=owner.part_size,
                max_concurrency=owner.max_concurrency,
            )
        )
        self._task.add_done_callback(self._ended)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    async def send(self, data: bytes) -> None:
        self._raise_if_ended()
        await self._queue.put(data)

    async def finish(self) -> None:
        self._raise_if_ended()
        await self._queue.put(None)
        try:
            await asyncio.shield(self._task)
        except Exception as exc:
            raise _failure("storing", self._key, exc) from exc

    async def abort(self) -> None:
        if not self._task.done():
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(_UploadAborted())
            await asyncio.wait([self._task])

    def _raise_if_ended(self) -> None:
        if not self._task.done():
            return
        exc = None if self._task.cancelled() else self._task.exception()
        if exc is None:
            raise BlobError(f"storing blob {self._key!r} failed: the upload ended early")
        raise _failure("storing", self._key, exc) from exc

    def _ended(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved here; put() reports it
        # Unblock a producer waiting for room in the queue; it then sees that the upload ended.
        while not self._queue.empty():
            self._queue.get_nowait()


class _UploadAborted(Exception):
    """Raised into obstore's upload loop so that it aborts the multipart upload."""


def _failure(action: str, key: str, exc: BaseException) -> BlobError:
    return BlobError(f"{action} blob {key!r} failed: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    # obstore appends multi-line debug output to its messages.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
