"""Behaviour of every blob store adapter (local directory, memory, Azure Blob on Azurite)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import hashlib
import os
import random
import shutil
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import obstore
import pytest

from tests.storage.conftest import Azurite
from tinn.storage.blobs import (
    BlobError,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    InvalidRange,
    LocalBlobStore,
    ObjectStoreBlobStore,
    create_blob_store,
    iterate_bytes,
    read_all,
)
from tinn.storage.blobs import local as local_module
from tinn.storage.blobs.objectstore import PART_SIZE

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
KEY = "ttd/basic/5d9e906b-83ed-44df-85a7-2f104c640bff/data/7c4e4c5e-0c5d-4a2b-9e0a-8f1f7b3f1c11/1"
# Past one multipart part, so the object stores stream a multipart upload, not one request.
MULTIPART = PART_SIZE + 1 * MiB


def pattern(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SourceFailed(Exception):
    """What a client upload stream raises, e.g. when the connection drops."""


class Source:
    """An upload stream that counts what was pulled from it, optionally failing part way."""

    def __init__(self, data: bytes, chunk: int = MiB, *, fail_after: int | None = None) -> None:
        self.data = data
        self.chunk = chunk
        self.fail_after = fail_after
        self.yielded = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for offset in range(0, len(self.data), self.chunk):
            if self.fail_after is not None and self.yielded == self.fail_after:
                raise SourceFailed("connection reset")
            self.yielded += 1
            yield self.data[offset : offset + self.chunk]


class StalledSource:
    """Sends ``data`` and then waits (like a client that stops sending) until released."""

    def __init__(self, data: bytes, chunk: int = MiB) -> None:
        self.data = data
        self.chunk = chunk
        self.stalled = asyncio.Event()
        self.release = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for offset in range(0, len(self.data) - 1, self.chunk):
            yield self.data[offset : min(offset + self.chunk, len(self.data) - 1)]
        self.stalled.set()
        await self.release.wait()
        yield self.data[-1:]


async def stored_keys(store: BlobStore) -> list[str]:
    """Every object in the store, looked at directly (not through the adapter)."""
    if isinstance(store, LocalBlobStore):
        found = []
        for directory, dirnames, filenames in os.walk(store.root):
            if Path(directory) == store.root:
                dirnames.remove(local_module.TEMP_DIR)
            found += [(Path(directory) / name).relative_to(store.root).as_posix() for name in filenames]
        return sorted(found)
    assert isinstance(store, ObjectStoreBlobStore)
    return sorted([meta["path"] async for metas in obstore.list(store.store) for meta in metas])


def temp_files(store: BlobStore) -> list[str]:
    if isinstance(store, LocalBlobStore):
        return sorted(os.listdir(store.root / local_module.TEMP_DIR))
    return []


async def assert_holds(store: BlobStore, key: str, expected: bytes | None) -> None:
    """``key`` holds exactly ``expected`` (None: absent) and no upload left anything behind."""
    if expected is None:
        assert not await store.exists(key)
        assert key not in await stored_keys(store)
    else:
        assert await read_all(store, key) == expected
    assert temp_files(store) == []


def open_files_under(root: Path) -> list[str]:
    """Files under ``root`` this process holds open (counting all descriptors would race with
    other tests' servers opening and closing sockets in the same process)."""
    found: list[str] = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(root.resolve())):
                found.append(target)
    return found


def names(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# Writing and reading --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "chunk"),
    [(1, 1), (100_000, 7_000), (MULTIPART, 64 * KiB), (MULTIPART, MULTIPART)],
    ids=["one-byte", "small", "multipart-small-chunks", "multipart-one-chunk"],
)
async def test_put_then_read_back(store: BlobStore, size: int, chunk: int) -> None:
    data = pattern(size)

    info = await store.put(KEY, iterate_bytes(data, chunk), content_type="application/pdf")

    assert info == BlobInfo(key=KEY, size=size, sha256=sha256(data))
    assert await store.exists(KEY)
    assert await store.size(KEY) == size
    stream = await store.open(KEY)
    assert (stream.key, stream.start, stream.size, stream.total_size) == (KEY, 0, size, size)
    chunks = [chunk async for chunk in stream]
    await stream.aclose()
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 2 * MiB, "reads are streamed in bounded chunks"
    assert await stored_keys(store) == [KEY]
    assert temp_files(store) == []


async def test_chunks_may_be_any_bytes_like_object(store: BlobStore) -> None:
    buffer = bytearray(b"first")

    async def reusing_one_buffer() -> AsyncIterator[Any]:
        yield buffer
        buffer[:] = b"SECOND"  # reused after the store had it
        yield memoryview(buffer)

    info = await store.put(KEY, reusing_one_buffer())

    assert await read_all(store, KEY) == b"firstSECOND"
    assert info == BlobInfo(KEY, 11, sha256(b"firstSECOND"))


async def test_empty_object(store: BlobStore) -> None:
    async def empty_chunks() -> AsyncIterator[bytes]:
        yield b""
        yield b""

    for source in (iterate_bytes(b""), empty_chunks()):
        info = await store.put(KEY, source)

        assert info == BlobInfo(key=KEY, size=0, sha256=EMPTY_SHA256)
        assert await store.exists(KEY)
        assert await store.size(KEY) == 0
        stream = await store.open(KEY)
        assert (stream.size, stream.total_size) == (0, 0)
        assert [chunk async for chunk in stream] == []
        with pytest.raises(InvalidRange) as raised:
            await store.open(KEY, start=0)
        assert raised.value.size == 0


RANGED = 3 * MiB + 17  # spans several read chunks


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, slice(0, 1)),
        (RANGED - 1, RANGED - 1, slice(RANGED - 1, RANGED)),
        (1000, 1999, slice(1000, 2000)),
        (MiB - 3, 2 * MiB + 3, slice(MiB - 3, 2 * MiB + 4)),
        (RANGED - 10, None, slice(RANGED - 10, RANGED)),
        (None, 9, slice(0, 10)),
        (RANGED - 5, RANGED + 100, slice(RANGED - 5, RANGED)),
        (0, None, slice(0, RANGED)),
    ],
    ids=[
        "first-byte",
        "last-byte",
        "middle",
        "across-chunks",
        "open-ended",
        "prefix",
        "end-past-size",
        "all",
    ],
)
async def test_ranged_read(store: BlobStore, start: int | None, end: int | None, expected: slice) -> None:
    data = pattern(RANGED)
    await store.put(KEY, iterate_bytes(data, MiB))

    stream = await store.open(KEY, start=start, end=end)
    body = b"".join([chunk async for chunk in stream])

    assert body == data[expected]
    assert (stream.start, stream.size, stream.total_size) == (expected.start, len(body), RANGED)


@pytest.mark.parametrize("start", [RANGED, RANGED + 1000])
async def test_range_starting_past_the_end_is_invalid(store: BlobStore, start: int) -> None:
    await store.put(KEY, iterate_bytes(pattern(RANGED), MiB))

    for end in (None, start + 10):
        with pytest.raises(InvalidRange) as raised:
            await store.open(KEY, start=start, end=end)
        assert raised.value.size == RANGED


@pytest.mark.parametrize(("start", "end"), [(-1, None), (None, -1), (10, 9)])
async def test_malformed_range_is_a_value_error(store: BlobStore, start: int | None, end: int | None) -> None:
    await store.put(KEY, iterate_bytes(b"0123456789abcdef"))

    with pytest.raises(ValueError, match="range"):
        await store.open(KEY, start=start, end=end)


async def test_missing_blob(store: BlobStore) -> None:
    for opening in (store.open(KEY), store.open(KEY, start=0, end=10), store.size(KEY)):
        with pytest.raises(BlobNotFound) as raised:
            await opening
        assert raised.value.key == KEY
    assert not await store.exists(KEY)


async def test_a_folder_of_blobs_is_not_a_blob(store: BlobStore) -> None:
    await store.put("a/b/c", iterate_bytes(b"x"))

    assert not await store.exists("a/b")
    with pytest.raises(BlobNotFound):
        await store.open("a/b")
    await store.delete("a/b")
    assert await store.exists("a/b/c")


async def test_overwrite_replaces(store: BlobStore) -> None:
    await store.put(KEY, iterate_bytes(pattern(MULTIPART, seed=1)))
    new = pattern(1000, seed=2)

    info = await store.put(KEY, iterate_bytes(new))

    assert info == BlobInfo(KEY, 1000, sha256(new))
    await assert_holds(store, KEY, new)
    assert await store.size(KEY) == 1000


async def test_concurrent_puts_to_one_key_leave_one_whole_version(store: BlobStore) -> None:
    versions = [pattern(2 * MiB + n, seed=n) for n in range(4)]

    await asyncio.gather(*(store.put(KEY, iterate_bytes(v, 256 * KiB)) for v in versions))

    assert await read_all(store, KEY) in versions
    assert await stored_keys(store) == [KEY]
    assert temp_files(store) == []


@pytest.mark.parametrize("store", ["memory", "azurite"], indirect=True)  # a folder keeps no metadata
async def test_content_type_is_kept_by_object_stores(store: BlobStore) -> None:
    assert isinstance(store, ObjectStoreBlobStore)
    for size in (10, MULTIPART):
        await store.put(KEY, iterate_bytes(pattern(size)), content_type="application/pdf")

        result = await obstore.get_async(store.store, KEY)
        assert result.attributes.get("Content-Type") == "application/pdf"


# Failures leave nothing behind ---------------------------------------------------------------


@pytest.mark.parametrize("limit", [3 * MiB + 5, MULTIPART + 5], ids=["single-part", "multipart"])
@pytest.mark.parametrize("previous", [None, b"the previous version"], ids=["new", "overwrite"])
async def test_exceeding_max_size_keeps_nothing(store: BlobStore, limit: int, previous: bytes | None) -> None:
    if previous is not None:
        await store.put(KEY, iterate_bytes(previous))
    source = Source(pattern(limit + 5 * MiB), chunk=MiB)

    with pytest.raises(BlobTooLarge) as raised:
        await store.put(KEY, source, max_size=limit)

    assert raised.value.limit == limit
    assert source.yielded == limit // MiB + 1, "stops reading at the first chunk past the limit"
    await assert_holds(store, KEY, previous)


async def test_max_size_is_inclusive(store: BlobStore) -> None:
    data = pattern(MiB + 1)

    info = await store.put(KEY, iterate_bytes(data), max_size=len(data))

    assert info.size == len(data)
    await assert_holds(store, KEY, data)


@pytest.mark.parametrize("fail_after", [0, 2, MULTIPART // MiB + 2], ids=["at-once", "early", "multipart"])
@pytest.mark.parametrize("previous", [None, b"the previous version"], ids=["new", "overwrite"])
async def test_failing_source_keeps_nothing(
    store: BlobStore, fail_after: int, previous: bytes | None
) -> None:
    if previous is not None:
        await store.put(KEY, iterate_bytes(previous))

    with pytest.raises(SourceFailed):  # the source's own error, not a wrapped one
        await store.put(KEY, Source(pattern(MULTIPART + 4 * MiB), fail_after=fail_after))

    await assert_holds(store, KEY, previous)


@pytest.mark.parametrize("size", [3 * MiB, MULTIPART + 2 * MiB], ids=["single-part", "multipart"])
@pytest.mark.parametrize("previous", [None, b"the previous version"], ids=["new", "overwrite"])
async def test_cancelled_put_keeps_nothing(store: BlobStore, size: int, previous: bytes | None) -> None:
    if previous is not None:
        await store.put(KEY, iterate_bytes(previous))
    source = StalledSource(pattern(size))
    upload = asyncio.create_task(store.put(KEY, source))
    await source.stalled.wait()

    upload.cancel()  # what the server does when the client disconnects
    with pytest.raises(asyncio.CancelledError):
        await upload

    await assert_holds(store, KEY, previous)


@pytest.mark.parametrize("previous", [None, b"the previous version"], ids=["new", "overwrite"])
async def test_readers_never_see_a_partial_object(store: BlobStore, previous: bytes | None) -> None:
    if previous is not None:
        await store.put(KEY, iterate_bytes(previous))
    data = pattern(MULTIPART + MiB)
    source = StalledSource(data)
    upload = asyncio.create_task(store.put(KEY, source))
    await source.stalled.wait()

    if previous is None:
        assert not await store.exists(KEY)
        with pytest.raises(BlobNotFound):
            await store.open(KEY)
    else:
        assert await read_all(store, KEY) == previous
        assert await store.size(KEY) == len(previous)

    source.release.set()
    assert (await upload).size == len(data)
    await assert_holds(store, KEY, data)


# Streams --------------------------------------------------------------------------------------


async def test_stream_closed_early(store: BlobStore) -> None:
    await store.put(KEY, iterate_bytes(pattern(5 * MiB), MiB))

    stream = await store.open(KEY)
    first = await anext(aiter(stream))
    await stream.aclose()
    await stream.aclose()  # closing twice is harmless

    assert len(first) > 0
    assert [chunk async for chunk in stream] == []
    if isinstance(store, LocalBlobStore):
        assert open_files_under(store.root) == []


async def test_stream_read_to_the_end_releases_the_file(store: BlobStore) -> None:
    await store.put(KEY, iterate_bytes(pattern(3 * MiB), MiB))

    stream = await store.open(KEY)
    assert len(b"".join([chunk async for chunk in stream])) == 3 * MiB

    if isinstance(store, LocalBlobStore):
        assert open_files_under(store.root) == []


async def test_abandoned_local_stream_closes_its_file_quietly(local_root: Path) -> None:
    store = LocalBlobStore(local_root)
    await store.put(KEY, iterate_bytes(pattern(5 * MiB), MiB))

    stream = await store.open(KEY)
    await anext(aiter(stream))  # a read-ahead is now in flight
    assert open_files_under(local_root) != []
    del stream
    gc.collect()  # a ResourceWarning here would fail the test (warnings are errors)
    await store.close()  # waits for the in-flight read, which then closes the file

    assert open_files_under(local_root) == []


# Deleting -------------------------------------------------------------------------------------


async def test_delete_is_idempotent(store: BlobStore) -> None:
    await store.put(KEY, iterate_bytes(b"data"))
    await store.put("ttd/other", iterate_bytes(b"other"))

    await store.delete(KEY)
    await store.delete(KEY)

    assert not await store.exists(KEY)
    assert await stored_keys(store) == ["ttd/other"]


async def test_delete_prefix_removes_keys_starting_with_it(store: BlobStore) -> None:
    for key in ["p/a/1", "p/a/deep/2", "p/ab/3", "p/b/4", "q/5", "pa/6"]:
        await store.put(key, iterate_bytes(key.encode()))

    assert await store.delete_prefix("p/a") == 3
    assert await stored_keys(store) == ["p/b/4", "pa/6", "q/5"]
    assert await store.delete_prefix("p/a") == 0
    assert await store.delete_prefix("p/") == 1
    assert await store.delete_prefix("nothing/here/") == 0
    assert await stored_keys(store) == ["pa/6", "q/5"]
    assert await store.delete_prefix("") == 2
    assert await stored_keys(store) == []


async def test_delete_prefix_in_batches(store: BlobStore) -> None:
    if isinstance(store, ObjectStoreBlobStore):
        # Past one listing page and one delete batch.
        from tinn.storage.blobs import objectstore

        count = objectstore.DELETE_BATCH + 7
    else:
        count = 300
    await asyncio.gather(*(store.put(f"many/{n:05}", iterate_bytes(b"x")) for n in range(count)))
    await store.put("keep", iterate_bytes(b"x"))

    assert await store.delete_prefix("many/") == count
    assert await stored_keys(store) == ["keep"]


# Keys -----------------------------------------------------------------------------------------

BAD_KEYS = [
    "",
    "/absolute",
    "../escape",
    "a/../../escape",
    "..",
    "a/..",
    ".",
    "a/./b",
    "a//b",
    "trailing/",
    "back\\slash",
    "nul\x00",
    "new\nline",
    "del\x7f",
    "c1\x85",
    "x" * 1025,
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_invalid_keys_are_rejected(store: BlobStore, key: str) -> None:
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: store.put(key, iterate_bytes(b"x")),
        lambda: store.open(key),
        lambda: store.size(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="blob key"):
            await call()
    assert await stored_keys(store) == []


@pytest.mark.parametrize("prefix", ["/a", "../", "a/../", "a//", "a/..", "..", "a\\", "x\x01"])
async def test_invalid_prefixes_are_rejected(store: BlobStore, prefix: str) -> None:
    await store.put("a/b", iterate_bytes(b"x"))

    with pytest.raises(ValueError, match="blob prefix"):
        await store.delete_prefix(prefix)
    assert await stored_keys(store) == ["a/b"]


@pytest.mark.parametrize("key", ["a b/x", "ü/é", "p%41/x", "plus+/q?#/x", "..dots/.hidden", "a/b.c"])
async def test_unusual_but_valid_keys(store: BlobStore, key: str) -> None:
    await store.put(key, iterate_bytes(key.encode()))

    assert await read_all(store, key) == key.encode()
    assert await stored_keys(store) == [key]
    assert await store.delete_prefix(key[:3]) == 1


# Health ---------------------------------------------------------------------------------------


async def test_check_passes_on_a_working_store(store: BlobStore) -> None:
    await store.check()


async def test_check_fails_on_a_missing_container(azurite: Azurite) -> None:
    store = create_blob_store("az://no-such-container/x", azurite.options)

    with pytest.raises(BlobError, match="unreachable"):
        await store.check()
    with pytest.raises(BlobError):
        await store.put(KEY, iterate_bytes(b"x"))
    await store.close()


# Object store internals that matter ------------------------------------------------------------


@pytest.mark.parametrize("store", ["memory", "azurite"], indirect=True)
@pytest.mark.parametrize("failure", ["source", "limit", "cancel"])
async def test_failed_multipart_upload_is_aborted_not_abandoned(
    store: BlobStore, failure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(store, ObjectStoreBlobStore)
    outcomes: list[BaseException | None] = []
    real_put_async = obstore.put_async

    async def recording_put_async(*args: Any, **kwargs: Any) -> Any:
        try:
            result = await real_put_async(*args, **kwargs)
        except BaseException as exc:
            outcomes.append(exc)
            raise
        outcomes.append(None)
        return result

    monkeypatch.setattr(obstore, "put_async", recording_put_async)
    data = pattern(MULTIPART + 3 * MiB)

    if failure == "source":
        with pytest.raises(SourceFailed):
            await store.put(KEY, Source(data, fail_after=MULTIPART // MiB + 1))
    elif failure == "limit":
        with pytest.raises(BlobTooLarge):
            await store.put(KEY, Source(data), max_size=MULTIPART + MiB)
    else:
        source = StalledSource(data)
        upload = asyncio.create_task(store.put(KEY, source))
        await source.stalled.wait()
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload

    # obstore ran its abort path (it fails the upload with our error after aborting); a
    # cancelled obstore task would instead have dropped the upload without aborting it.
    assert len(outcomes) == 1
    assert type(outcomes[0]).__name__ == "_UploadAborted"
    await assert_holds(store, KEY, None)


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_backend_failure_mid_upload_is_a_blob_error(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_put_async(_store: Any, _path: str, parts: Any, **_: Any) -> Any:
        iterator = aiter(parts)
        await anext(iterator)
        raise obstore.exceptions.GenericError("connection reset by peer")

    monkeypatch.setattr(obstore, "put_async", failing_put_async)
    source = Source(pattern(4 * PART_SIZE))

    # The producer must notice that nobody consumes its parts any more, not wait forever.
    async with asyncio.timeout(60):
        with pytest.raises(BlobError, match="connection reset by peer"):
            await store.put(KEY, source)
    assert source.yielded < 4 * PART_SIZE // MiB


# Local directory specifics ---------------------------------------------------------------------


async def test_local_store_never_leaves_its_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = LocalBlobStore(root)
    await store.put("a/b", iterate_bytes(b"inside"))

    for key in ("../outside", "a/../../outside", "/tmp/outside"):
        with pytest.raises(ValueError):
            await store.put(key, iterate_bytes(b"x"))
    with pytest.raises(ValueError):
        await store.delete_prefix("../")

    assert names(tmp_path) == ["root"]
    assert store.path_for("a/b") == root / "a" / "b"
    await store.close()


async def test_local_temp_folder_is_reserved(local_root: Path) -> None:
    store = LocalBlobStore(local_root)
    (local_root / ".tmp" / "upload.part").write_bytes(b"someone else's upload in progress")

    with pytest.raises(ValueError, match="reserved"):
        await store.put(".tmp/x", iterate_bytes(b"x"))
    assert await store.delete_prefix(".tmp") == 0
    assert await store.delete_prefix(".t") == 0
    assert await store.delete_prefix("") == 0

    assert os.listdir(local_root / ".tmp") == ["upload.part"]
    await store.close()


async def test_local_store_removes_stale_temp_files_when_opened(local_root: Path) -> None:
    temp = local_root / ".tmp"
    temp.mkdir(parents=True)
    (temp / "crashed.part").write_bytes(b"left by a crash")
    (temp / "active.part").write_bytes(b"another process is writing this")
    old = time.time() - local_module.STALE_TEMP_SECONDS - 60
    os.utime(temp / "crashed.part", (old, old))

    store = LocalBlobStore(local_root)

    assert os.listdir(temp) == ["active.part"]
    await store.close()


async def test_local_delete_prunes_empty_folders(local_root: Path) -> None:
    store = LocalBlobStore(local_root)
    await store.put("a/b/c/1", iterate_bytes(b"1"))
    await store.put("a/b/d/2", iterate_bytes(b"2"))

    await store.delete("a/b/c/1")
    assert names(local_root / "a" / "b") == ["d"]
    assert await store.delete_prefix("a/b/d/") == 1

    assert names(local_root) == [".tmp"]
    await store.put("a/b/c/1", iterate_bytes(b"again"))  # folders come back on demand
    assert await read_all(store, "a/b/c/1") == b"again"
    await store.close()


async def test_local_blob_cannot_be_both_file_and_folder(local_root: Path) -> None:
    store = LocalBlobStore(local_root)
    await store.put("a", iterate_bytes(b"file"))
    await store.put("b/c", iterate_bytes(b"file"))

    with pytest.raises(BlobError):
        await store.put("a/b", iterate_bytes(b"x"))
    with pytest.raises(BlobError):
        await store.put("b", iterate_bytes(b"x"))

    assert await read_all(store, "a") == b"file"
    assert await read_all(store, "b/c") == b"file"
    assert temp_files(store) == []
    await store.close()


async def test_local_check_fails_when_the_folder_is_gone(local_root: Path) -> None:
    store = LocalBlobStore(local_root)
    await store.check()
    shutil.rmtree(local_root)

    with pytest.raises(BlobError, match="missing"):
        await store.check()
    await store.close()


async def test_local_store_refuses_work_after_close(local_root: Path) -> None:
    store = LocalBlobStore(local_root)
    await store.put(KEY, iterate_bytes(b"x"))
    await store.close()

    with pytest.raises(BlobError, match="closed"):
        await store.put(KEY, iterate_bytes(b"y"))
    with pytest.raises(BlobError, match="closed"):
        await store.open(KEY)
    assert temp_files(store) == []


# Choosing a store from settings -----------------------------------------------------------------


async def test_file_url(tmp_path: Path) -> None:
    root = tmp_path / "with space"
    store = create_blob_store(root.as_uri())

    assert isinstance(store, LocalBlobStore)
    assert store.root == root
    assert store.url == root.as_uri()
    assert (root / ".tmp").is_dir()
    await store.close()


def test_memory_url() -> None:
    for url in ("memory://", "memory:///"):
        store = create_blob_store(url, {})
        assert isinstance(store, ObjectStoreBlobStore)
        assert store.url == "memory://"


def test_object_store_options_are_split_for_obstore() -> None:
    store = create_blob_store(
        "s3://bucket/some/prefix",
        {
            "access_key_id": "minio",
            "AWS_SECRET_ACCESS_KEY": "minio-secret",
            "endpoint": "http://127.0.0.1:9000",
            "region": "us-east-1",
            "aws_allow_http": "true",  # the env-style name of a client option
            "timeout": "30s",
            "part_size": str(16 * MiB),
            "upload_concurrency": "2",
        },
    )

    assert isinstance(store, ObjectStoreBlobStore)
    assert store.url == "s3://bucket/some/prefix"
    assert (store.part_size, store.max_concurrency) == (16 * MiB, 2)
    inner: Any = store.store
    assert inner.prefix == "some/prefix"
    assert inner.client_options == {"allow_http": "true", "timeout": "30s"}
    assert inner.config["endpoint"] == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("az://container/prefix", {"account_name": "acct", "account_key": "a2V5"}),
        ("azure://container/prefix", {"account_name": "acct", "use_emulator": "true"}),
        ("abfs://container/prefix", {"account_name": "acct", "use_emulator": "true"}),
        ("gs://bucket/prefix", {"skip_signature": "true"}),
    ],
)
def test_object_store_schemes(url: str, options: dict[str, str]) -> None:
    store = create_blob_store(url, options)

    assert isinstance(store, ObjectStoreBlobStore)
    inner: Any = store.store
    assert inner.prefix == "prefix"


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("", None, "unsupported blob store URL scheme none"),
        ("ftp://host/path", None, "unsupported blob store URL scheme 'ftp'.*s3://bucket/prefix"),
        ("/just/a/path", None, "unsupported blob store URL scheme none"),
        ("file://relative/path", None, "file:///absolute/path"),
        ("file:relative", None, "absolute path"),
        ("file:///abs?x=1", None, "file:///absolute/path"),
        ("file:///abs", {"endpoint": "x"}, "take no options.*endpoint"),
        ("memory://bucket", None, "no bucket or path"),
        ("memory://", {"region": "x"}, "take no options"),
        ("s3://bucket", {"no_such_option": "1"}, "invalid s3:// blob store configuration"),
        ("az://container", {"use_emulator": "perhaps"}, "invalid az:// blob store configuration"),
        ("s3://bucket", {"part_size": "big"}, "'part_size' must be a positive whole number"),
        ("s3://bucket", {"upload_concurrency": "0"}, "'upload_concurrency' must be a positive"),
    ],
)
def test_bad_blob_urls_and_options(url: str, options: dict[str, str] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_blob_store(url, options)


async def test_azurite_through_settings_style_options(azurite: Azurite) -> None:
    store = create_blob_store(azurite.url("settings"), azurite.options)

    await store.put("x", iterate_bytes(b"via create_blob_store"))

    assert await read_all(store, "x") == b"via create_blob_store"
    assert await store.delete_prefix("") == 1
    await store.close()


# One gibibyte, streamed -------------------------------------------------------------------------

LARGE = 1 * GiB
LARGE_CHUNK = 64 * KiB  # what an HTTP server hands over per receive
RSS_LIMIT = 100 * MiB


def large_chunks(seed: int = 7) -> Iterator[bytes]:
    """Deterministic pseudo-random chunks, cut from a small pool so nothing big is allocated."""
    pool = random.Random(seed).randbytes(4 * MiB + LARGE_CHUNK)
    step = 1_000_003  # odd: successive chunks start at different offsets
    for index in range(LARGE // LARGE_CHUNK):
        offset = (index * step) % (4 * MiB)
        yield pool[offset : offset + LARGE_CHUNK]


async def large_source() -> AsyncIterator[bytes]:
    for chunk in large_chunks():
        yield chunk


class PeakRss:
    """Peak resident memory of this process while active (kernel high-water mark and sampling)."""

    def __init__(self) -> None:
        self.baseline = self.peak = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._hwm_reset = False

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * KiB
        raise AssertionError(f"{field} missing from /proc/self/status")

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._status("VmRSS"))

    def __enter__(self) -> PeakRss:
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")  # resets VmHWM to the current RSS
            self._hwm_reset = True
        except OSError:
            pass
        self.baseline = self.peak = self._status("VmRSS")
        self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._sampler.join()
        if self._hwm_reset:
            self.peak = max(self.peak, self._status("VmHWM"))

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_one_gibibyte_is_streamed_with_bounded_memory(large_store: BlobStore) -> None:
    expected = await asyncio.to_thread(lambda: _hash_all(large_chunks()))
    hashing = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # verifies off the event loop

    with PeakRss() as rss:
        started = time.perf_counter()
        info = await large_store.put("large/object", large_source())
        put_seconds = time.perf_counter() - started

        started = time.perf_counter()
        read_back = hashlib.sha256()
        in_flight: list[concurrent.futures.Future[None]] = []
        stream = await large_store.open("large/object")
        async for chunk in stream:
            in_flight.append(hashing.submit(read_back.update, chunk))
            if len(in_flight) > 8:
                await asyncio.wrap_future(in_flight.pop(0))
        for future in in_flight:
            await asyncio.wrap_future(future)
        get_seconds = time.perf_counter() - started
    hashing.shutdown()

    name = type(large_store).__name__
    print(
        f"\n{name} {large_store.url}: 1 GiB put {LARGE / MiB / put_seconds:.0f} MiB/s, "
        f"get {LARGE / MiB / get_seconds:.0f} MiB/s, peak RSS growth {rss.growth / MiB:.1f} MiB"
    )
    assert info == BlobInfo("large/object", LARGE, expected)
    assert stream.size == LARGE
    assert read_back.hexdigest() == expected
    assert rss.growth < RSS_LIMIT, f"peak RSS grew by {rss.growth / MiB:.1f} MiB"


def _hash_all(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()
