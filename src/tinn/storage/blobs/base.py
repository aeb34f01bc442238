"""The blob store interface every adapter implements.

Blobs are streamed both ways: ``put`` consumes an async iterator of chunks while hashing and
counting, ``open`` returns a stream that yields chunks. Nothing holds a whole object in memory.
Keys are relative paths such as ``ttd/basic/{instanceGuid}/data/{dataGuid}/{version}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    sha256: str  # lower-case hex


class BlobError(Exception):
    """A blob store operation failed for a reason the client did not cause."""


class BlobNotFound(BlobError):
    def __init__(self, key: str) -> None:
        super().__init__(f"blob {key!r} not found")
        self.key = key


class BlobTooLarge(BlobError):
    """The stream grew past ``max_size``; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds the limit of {limit} bytes")
        self.limit = limit


class InvalidRange(BlobError):
    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for a blob of {size} bytes")
        self.size = size


class BlobStream(Protocol):
    """An opened blob (or a byte range of it), read as chunks."""

    key: str
    size: int  # bytes this stream yields
    total_size: int  # size of the whole blob
    start: int  # offset of the first byte yielded

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class BlobStore(Protocol):
    """Streaming object storage. Implementations: local directory, obstore (S3/Azure/GCS/memory)."""

    url: str

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        max_size: int | None = None,
        content_type: str | None = None,
    ) -> BlobInfo:
        """Store the stream under ``key`` (replacing any object there), returning size and sha256.

        The object becomes visible only when complete. If the stream exceeds ``max_size`` bytes,
        or the iterator raises, nothing is left behind under ``key`` and the error propagates
        (:class:`BlobTooLarge` for the limit).
        """
        ...

    async def open(self, key: str, *, start: int | None = None, end: int | None = None) -> BlobStream:
        """Open ``key`` for reading, optionally the inclusive byte range ``start..end``.

        Raises :class:`BlobNotFound` before any byte is produced, :class:`InvalidRange` when
        ``start`` is past the end.
        """
        ...

    async def size(self, key: str) -> int:
        """Size in bytes; :class:`BlobNotFound` if absent."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix``; returns how many."""
        ...

    async def check(self) -> None:
        """Raise :class:`BlobError` if the store is unreachable (health checks)."""
        ...

    async def close(self) -> None: ...


MAX_KEY_LENGTH = 1024  # S3 and Azure both cap object names near this


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative blob key, else raise :class:`ValueError`.

    A key is ``/``-separated segments, none empty, ``.`` or ``..``, with no leading or trailing
    ``/``, no backslash and no control characters, so it maps to the same object on every
    backend and can never leave a local store's root.
    """
    if not key:
        raise ValueError("blob key is empty")
    _check_path_text(key, "key")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"blob key {key!r} has an empty, '.' or '..' segment")
    return key


def validate_prefix(prefix: str) -> str:
    """Like :func:`validate_key`, but the empty prefix and a trailing ``/`` are allowed."""
    if not prefix:
        return prefix
    _check_path_text(prefix, "prefix")
    for segment in prefix.split("/")[:-1]:
        if segment in ("", ".", ".."):
            raise ValueError(f"blob prefix {prefix!r} has an empty, '.' or '..' segment")
    if prefix.rsplit("/", 1)[-1] in (".", ".."):
        raise ValueError(f"blob prefix {prefix!r} ends in a '.' or '..' segment")
    return prefix


def validate_range(start: int | None, end: int | None) -> None:
    """Reject ranges no blob could satisfy (:class:`ValueError`); ``end`` is inclusive."""
    if start is not None and start < 0:
        raise ValueError(f"range start must not be negative, got {start}")
    if end is not None and end < (start or 0):
        raise ValueError(f"range end {end} is before its start {start or 0}")


def _check_path_text(text: str, what: str) -> None:
    if len(text) > MAX_KEY_LENGTH:
        raise ValueError(f"blob {what} is longer than {MAX_KEY_LENGTH} characters")
    if text.startswith("/"):
        raise ValueError(f"blob {what} {text!r} must be relative (no leading '/')")
    if "\\" in text:
        raise ValueError(f"blob {what} {text!r} contains a backslash")
    if any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in text):
        raise ValueError(f"blob {what} {text!r} contains a control character")


async def read_all(store: BlobStore, key: str) -> bytes:
    """Whole blob in memory: only for small objects such as form data."""
    stream = await store.open(key)
    try:
        parts = [chunk async for chunk in stream]
    finally:
        await stream.aclose()
    return b"".join(parts)


async def iterate_bytes(data: bytes, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), chunk_size):
        yield data[offset : offset + chunk_size]
