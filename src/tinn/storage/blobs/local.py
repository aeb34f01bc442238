"""Blob store on a local directory (the embedded default).

A key ``a/b/c`` is the file ``{root}/a/b/c``. Writes go to ``{root}/.tmp/{random}.part``, are
hashed and written in a worker thread, fsynced and then renamed into place, so a reader sees the
old object or the new one, never a partial one. File I/O runs in a small thread pool owned by the
store, one operation per blob at a time, with the next read or write overlapping the event loop's
work on the current chunk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import hashlib
import os
import stat
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import structlog

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

log = structlog.get_logger("tinn.storage.blobs")

CHUNK_SIZE = 1024 * 1024
TEMP_DIR = ".tmp"
# Temp files untouched this long belong to a crashed process; removed when a store opens the root.
STALE_TEMP_SECONDS = 3600
_REPLACE_ATTEMPTS = 5

T = TypeVar("T")


class LocalBlobStore:
    """Blobs as files under ``root`` (an absolute directory, created if missing)."""

    def __init__(
        self, root: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE, threads: int = 8
    ) -> None:
        path = Path(root)
        if not path.is_absolute():
            raise ValueError(f"local blob root must be an absolute path, got {str(root)!r}")
        if chunk_size <= 0 or threads <= 0:
            raise ValueError("chunk_size and threads must be positive")
        self.root = path
        self.url = path.as_uri()
        self._temp = path / TEMP_DIR
        self._chunk_size = chunk_size
        try:
            self._temp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BlobError(f"cannot create the blob folder {str(self._temp)!r}: {exc}") from exc
        _remove_stale_temp_files(self._temp, time.time() - STALE_TEMP_SECONDS)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="tinn-blobs"
        )

    # Keys ----------------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """The file that holds ``key`` (validated; never outside the root)."""
        validate_key(key)
        segments = key.split("/")
        if segments[0] == TEMP_DIR:
            raise ValueError(f"blob key {key!r} is inside the reserved folder {TEMP_DIR!r}")
        return self.root.joinpath(*segments)

    # Writing -------------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        max_size: int | None = None,
        content_type: str | None = None,  # a folder keeps no metadata; callers keep the type
    ) -> BlobInfo:
        target = self.path_for(key)
        temp = _TempFile(self._temp / f"{uuid.uuid4().hex}.part")
        # Work in flight on the previous batch: hashing and writing run in parallel threads.
        pending: list[concurrent.futures.Future[Any]] = []
        batch: list[bytes] = []
        batched = 0
        size = 0
        try:
            async for chunk in chunks:
                if type(chunk) is not bytes:
                    chunk = bytes(chunk)  # the caller may reuse its buffer
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise BlobTooLarge(max_size)
                if not chunk:
                    continue
                batch.append(chunk)
                batched += len(chunk)
                if batched >= self._chunk_size:
                    for future in pending:
                        await _wait(future)
                    pending = [self._submit(temp.hash, batch), self._submit(temp.write, batch)]
                    batch = []
                    batched = 0
            for future in pending:
                await _wait(future)
            pending = [self._submit(temp.commit, batch, target)]
            digest: str = await _wait(pending[0])
        except BaseException:
            await asyncio.shield(self._discard(temp, pending))
            raise
        return BlobInfo(key=key, size=size, sha256=digest)

    async def _discard(self, temp: _TempFile, pending: list[concurrent.futures.Future[Any]]) -> None:
        # The temp file may only be closed once no thread is writing to it any more.
        for future in pending:
            if not future.cancel():
                await _settle(future)
        try:
            await self._call(temp.discard)
        except BlobError:
            temp.discard()  # the pool is shut down; removing one file inline is fine

    # Reading -------------------------------------------------------------------------------

    async def open(self, key: str, *, start: int | None = None, end: int | None = None) -> LocalBlobStream:
        path = self.path_for(key)
        validate_range(start, end)
        opening = self._submit(_open_for_read, path, key)
        try:
            file, total = await _wait(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_opened_file)
            raise
        first = start or 0
        if start is not None or end is not None:
            if first >= total:
                file.close()
                raise InvalidRange(total)
            last = total - 1 if end is None else min(end, total - 1)
        else:
            last = total - 1
        return LocalBlobStream(
            key=key,
            file=file,
            start=first,
            size=last - first + 1,
            total_size=total,
            executor=self._executor,
            chunk_size=self._chunk_size,
        )

    async def size(self, key: str) -> int:
        path = self.path_for(key)
        result = await self._call(_file_size, path)
        if result is None:
            raise BlobNotFound(key)
        return result

    async def exists(self, key: str) -> bool:
        path = self.path_for(key)
        return await self._call(_file_size, path) is not None

    # Deleting ------------------------------------------------------------------------------

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        await self._call(_delete_file, path, self.root)

    async def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        directory, _, name_prefix = prefix.rpartition("/")
        if directory.split("/")[0] == TEMP_DIR:
            return 0
        count = await self._call(_delete_prefix, self.root, directory, name_prefix)
        if count:
            log.info("blobs_deleted", store=self.url, prefix=prefix, count=count)
        return count

    # Lifecycle -----------------------------------------------------------------------------

    async def check(self) -> None:
        await self._call(_check_writable, self.root, self._temp)

    async def close(self) -> None:
        # Waits for operations in flight; afterwards every call raises BlobError.
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)

    # Threads -------------------------------------------------------------------------------

    def _submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        try:
            return self._executor.submit(fn, *args)
        except RuntimeError as exc:  # shut down
            raise BlobError(f"blob store {self.url} is closed") from exc

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await _wait(self._submit(fn, *args))


class LocalBlobStream:
    """A file (or a byte range of it) read in chunks, one read ahead of the consumer."""

    def __init__(
        self,
        *,
        key: str,
        file: BinaryIO,
        start: int,
        size: int,
        total_size: int,
        executor: concurrent.futures.Executor,
        chunk_size: int,
    ) -> None:
        self.key = key
        self.size = size
        self.total_size = total_size
        self.start = start
        self._file: BinaryIO | None = file
        self._fd = file.fileno()
        self._offset = start
        self._remaining = size
        self._executor = executor
        self._chunk_size = chunk_size
        self._pending: concurrent.futures.Future[bytes] | None = None
        if size == 0:
            self._close_now()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._file is None:
            raise StopAsyncIteration
        if self._pending is None or self._pending.cancelled():
            self._pending = self._read_ahead()
        data = await _wait(self._pending)
        self._pending = None
        if not data:
            await self.aclose()
            raise BlobError(f"blob {self.key!r} was truncated while being read")
        self._offset += len(data)
        self._remaining -= len(data)
        if self._remaining > 0:
            self._pending = self._read_ahead()
        else:
            self._close_now()
        return data

    def _read_ahead(self) -> concurrent.futures.Future[bytes]:
        try:
            return self._executor.submit(
                os.pread, self._fd, min(self._chunk_size, self._remaining), self._offset
            )
        except RuntimeError as exc:
            raise BlobError("blob store is closed") from exc

    async def aclose(self) -> None:
        pending = self._pending
        self._close_now()
        if pending is not None and not pending.done():
            await _settle(pending)

    def _close_now(self) -> None:
        file, self._file = self._file, None
        pending, self._pending = self._pending, None
        if file is None:
            return
        if pending is not None and not pending.cancel():
            # A thread is reading from the descriptor: close it when that read returns.
            pending.add_done_callback(lambda _: file.close())
        else:
            file.close()

    def __del__(self) -> None:
        # Safety net for a consumer that neither finished nor closed the stream.
        if getattr(self, "_file", None) is not None:
            self._close_now()


async def _wait(future: concurrent.futures.Future[T]) -> T:
    try:
        return await asyncio.wrap_future(future)
    except OSError as exc:
        raise BlobError(f"blob file operation failed: {exc}") from exc


async def _settle(future: concurrent.futures.Future[Any]) -> None:
    """Wait for a thread's work to end, whatever its outcome."""
    wrapped = asyncio.wrap_future(future)
    await asyncio.wait([wrapped])
    if not wrapped.cancelled():
        wrapped.exception()  # retrieved: its error, if any, is not this caller's concern


def _close_opened_file(future: concurrent.futures.Future[tuple[BinaryIO, int]]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result()[0].close()


# Everything below runs in the store's worker threads. ---------------------------------------


class _TempFile:
    """The file a put writes before it is renamed into place; opened by the first write."""

    __slots__ = ("file", "hasher", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO | None = None
        self.hasher = hashlib.sha256()

    def _open(self) -> BinaryIO:
        try:
            file = open(self.path, "xb")  # noqa: SIM115 - closed by commit/discard
        except FileNotFoundError:  # someone removed the temp folder
            self.path.parent.mkdir(parents=True, exist_ok=True)
            file = open(self.path, "xb")  # noqa: SIM115
        self.file = file
        return file

    def hash(self, chunks: list[bytes]) -> None:
        update = self.hasher.update
        for chunk in chunks:
            update(chunk)

    def write(self, chunks: list[bytes]) -> None:
        write = (self.file or self._open()).write
        for chunk in chunks:
            write(chunk)

    def commit(self, chunks: list[bytes], target: Path) -> str:
        self.hash(chunks)
        self.write(chunks)
        file = self.file or self._open()
        file.flush()
        os.fsync(file.fileno())
        file.close()
        _move_into_place(self.path, target)
        return self.hasher.hexdigest()

    def discard(self) -> None:
        if self.file is None:
            return
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _move_into_place(temp: Path, target: Path) -> None:
    for _ in range(_REPLACE_ATTEMPTS):
        _make_directories(target.parent)
        try:
            os.replace(temp, target)
        except FileNotFoundError:
            if not temp.exists():
                raise
            continue  # a concurrent delete pruned the (empty) parent folder: make it again
        except IsADirectoryError as exc:
            raise BlobError(f"cannot store {str(target)!r}: it is a folder of other blobs") from exc
        _fsync_directory(target.parent)
        return
    raise BlobError(f"cannot store {str(target)!r}: its folder keeps disappearing")


def _make_directories(directory: Path) -> None:
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError as exc:
            if not path.is_dir():
                raise BlobError(f"cannot store a blob under {str(path)!r}: it is a blob itself") from exc
        _fsync_directory(path.parent)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_for_read(path: Path, key: str) -> tuple[BinaryIO, int]:
    try:
        file = open(path, "rb", buffering=0)  # noqa: SIM115 - owned by the stream
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise BlobNotFound(key) from None
    try:
        info = os.fstat(file.fileno())
    except BaseException:
        file.close()
        raise
    if not stat.S_ISREG(info.st_mode):
        file.close()
        raise BlobNotFound(key)
    return file, info.st_size


def _file_size(path: Path) -> int | None:
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _delete_file(path: Path, root: Path) -> None:
    try:
        os.unlink(path)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return
    except PermissionError:
        if path.is_dir():  # some systems answer EPERM for unlink on a folder: not a blob
            return
        raise
    _prune_empty_directories(path.parent, root)


def _delete_prefix(root: Path, directory: str, name_prefix: str) -> int:
    base = root.joinpath(*directory.split("/")) if directory else root
    try:
        entries = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    count = 0
    for entry in entries:
        if not entry.name.startswith(name_prefix) or (base == root and entry.name == TEMP_DIR):
            continue
        if entry.is_dir(follow_symlinks=False):
            count += _remove_tree(Path(entry.path))
        elif _unlink(entry.path):
            count += 1
    if base != root:
        _prune_empty_directories(base, root)
    return count


def _remove_tree(top: Path) -> int:
    count = 0
    for directory, dirnames, filenames in os.walk(top, topdown=False):
        for name in filenames:
            count += _unlink(os.path.join(directory, name))
        for name in dirnames:
            _remove_directory(os.path.join(directory, name))
    _remove_directory(str(top))
    return count


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _remove_directory(path: str) -> None:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):  # a concurrent put added a blob
            raise


def _prune_empty_directories(directory: Path, root: Path) -> None:
    current = directory
    while current != root and root in current.parents:
        try:
            os.rmdir(current)
        except OSError:
            return
        current = current.parent


def _check_writable(root: Path, temp: Path) -> None:
    for path in (root, temp):
        if not path.is_dir():
            raise BlobError(f"blob folder {str(path)!r} is missing")
        if not os.access(path, os.W_OK | os.X_OK):
            raise BlobError(f"blob folder {str(path)!r} is not writable")


def _remove_stale_temp_files(temp: Path, cutoff: float) -> None:
    try:
        entries = list(os.scandir(temp))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                log.info("blob_temp_file_removed", path=entry.path)
        except OSError:
            continue
