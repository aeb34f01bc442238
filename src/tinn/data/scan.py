"""File scanning of uploaded data (data types with ``enableFileScan``).

An upload of such a type is stored with ``fileScanResult: Pending`` and, once its transaction has
committed, queued here. A worker in the server process streams the blob through the configured
:class:`FileScanner` and records ``Clean`` or ``Infected`` on the element, unless the element was
overwritten or deleted in the meantime (the new content has its own scan queued).

The state lives in the database, not in the queue: when a server starts it queues every element
that is still ``Pending`` (a crash, a restart or a scanner outage loses nothing). A scanner error
leaves the element ``Pending`` and retries it later with a growing delay.

Scanners (``TINN_FILE_SCANNER``):

* ``eicar`` (default): flags content containing the EICAR anti-virus test string, and nothing
  else. For development and tests: it shows the whole flow without a virus scanner.
* ``clamav``: ClamAV's ``clamd`` over its ``INSTREAM`` command, on the socket named by
  ``TINN_CLAMAV_ADDRESS`` (``unix:///run/clamav/clamd.ctl``, ``/path/to/clamd.sock``,
  ``tcp://host:3310`` or ``host:3310``).
* ``none``: nothing is scanned; elements stay ``Pending`` until something else sets the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from collections.abc import AsyncIterable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy import select

from tinn.instances.models import FileScanResult
from tinn.instances.store import change_instance, read_instance
from tinn.services import Services
from tinn.settings import Settings
from tinn.storage import tables
from tinn.storage.blobs.base import BlobError

log = structlog.get_logger("tinn.data.scan")

# The EICAR test file (https://www.eicar.org): harmless, and flagged by every scanner.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLAMD_PORT = 3310
CLAMD_CHUNK = 64 * 1024
_SWEEP_BATCH = 500
_RETRY_DELAYS = (5.0, 30.0, 120.0, 600.0)


class ScanError(Exception):
    """The scanner could not give a verdict (unreachable, timed out, refused the content)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    infected: bool
    signature: str | None = None

    @property
    def result(self) -> FileScanResult:
        return FileScanResult.Infected if self.infected else FileScanResult.Clean


class FileScanner(Protocol):
    """Scans a stream of bytes; raises :class:`ScanError` when it cannot decide."""

    name: str

    async def scan(self, chunks: AsyncIterable[bytes]) -> Verdict: ...


class EicarScanner:
    """Flags content that contains the EICAR test string anywhere; reads the stream once."""

    name = "eicar"

    async def scan(self, chunks: AsyncIterable[bytes]) -> Verdict:
        tail = b""
        async for chunk in chunks:
            window = tail + chunk
            if EICAR in window:
                return Verdict(True, "Eicar-Test-Signature")
            tail = window[-(len(EICAR) - 1) :]
        return Verdict(False)


@dataclass(frozen=True, slots=True)
class ClamdAddress:
    """Where clamd listens: a unix socket path, or a TCP host and port."""

    path: str | None = None
    host: str | None = None
    port: int = CLAMD_PORT

    @classmethod
    def parse(cls, text: str) -> ClamdAddress:
        value = text.strip()
        if value.startswith("unix://"):
            value = value[len("unix://") :]
            if not value.startswith("/"):
                raise ValueError(f"TINN_CLAMAV_ADDRESS {text!r}: a unix socket needs an absolute path")
            return cls(path=value)
        if value.startswith("/"):
            return cls(path=value)
        if value.startswith("tcp://"):
            value = value[len("tcp://") :]
        host, sep, port = value.rpartition(":")
        if not sep:
            host, port = value, str(CLAMD_PORT)
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"TINN_CLAMAV_ADDRESS {text!r} is neither unix:///path, /path, tcp://host:port nor host:port"
            )
        return cls(host=host, port=int(port))

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.path else f"tcp://{self.host}:{self.port}"


class ClamAvScanner:
    """ClamAV ``clamd`` over ``zINSTREAM``: the content in length-prefixed chunks, then the verdict.

    clamd refuses content beyond its ``StreamMaxLength`` (25 MB by default) with an error, which
    is a :class:`ScanError` here: raise the limit in clamd.conf for larger attachments.
    """

    name = "clamav"

    def __init__(self, address: ClamdAddress, *, timeout: float) -> None:
        self.address = address
        self.timeout = timeout

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.address.path is not None:
            return await asyncio.open_unix_connection(self.address.path)
        assert self.address.host is not None
        return await asyncio.open_connection(self.address.host, self.address.port)

    async def scan(self, chunks: AsyncIterable[bytes]) -> Verdict:
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await self._connect()
                try:
                    return await self._exchange(reader, writer, chunks)
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except TimeoutError:
            raise ScanError(f"clamd at {self.address} did not answer within {self.timeout} s") from None
        except OSError as exc:
            raise ScanError(f"clamd at {self.address}: {exc}") from None

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunks: AsyncIterable[bytes]
    ) -> Verdict:
        writer.write(b"zINSTREAM\0")
        try:
            async for chunk in chunks:
                for offset in range(0, len(chunk), CLAMD_CHUNK):
                    piece = chunk[offset : offset + CLAMD_CHUNK]
                    writer.write(struct.pack(">I", len(piece)) + piece)
                    await writer.drain()
            writer.write(struct.pack(">I", 0))
            await writer.drain()
        except ConnectionError:
            # clamd hangs up early when the stream passes its size limit; its reason follows.
            pass
        reply = (await reader.read(4096)).split(b"\0", 1)[0].decode("utf-8", "replace").strip()
        return parse_clamd_reply(reply)


def parse_clamd_reply(reply: str) -> Verdict:
    """``stream: OK`` / ``stream: Win.Test.EICAR_HDB-1 FOUND`` / ``... ERROR``."""
    if reply.endswith("FOUND"):
        body = reply.removeprefix("stream:").strip()
        return Verdict(True, body[: -len("FOUND")].strip() or None)
    if reply.endswith("OK"):
        return Verdict(False)
    raise ScanError(f"clamd: {reply or 'no answer'}")


def scanner_from_settings(settings: Settings) -> FileScanner | None:
    """The scanner ``TINN_FILE_SCANNER`` names (None for ``none``); ValueError when misconfigured."""
    if settings.file_scanner == "none":
        return None
    if settings.file_scanner == "clamav":
        if not settings.clamav_address:
            raise ValueError("TINN_FILE_SCANNER=clamav needs TINN_CLAMAV_ADDRESS")
        return ClamAvScanner(
            ClamdAddress.parse(settings.clamav_address), timeout=settings.file_scan_timeout_seconds
        )
    return EicarScanner()


class _Unchanged(Exception):
    """Leave the transaction without writing (the element moved on while it was scanned)."""


class FileScans:
    """The scan queue and its workers for one server process."""

    def __init__(self, services: Services, scanner: FileScanner, *, workers: int = 2) -> None:
        self.services = services
        self.scanner = scanner
        self._workers = workers
        self._queue: asyncio.Queue[tuple[uuid.UUID, str]] = asyncio.Queue()
        self._queued: set[tuple[uuid.UUID, str]] = set()
        self._attempts: dict[tuple[uuid.UUID, str], int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0

    def enqueue(self, instance_guid: uuid.UUID, data_guid: str) -> None:
        """Scan this element soon (after the transaction that stored it has committed)."""
        item = (instance_guid, data_guid)
        if item in self._queued:
            return
        self._queued.add(item)
        self._idle.clear()
        self._queue.put_nowait(item)

    async def start(self) -> None:
        for number in range(self._workers):
            self._spawn(self._work(), f"file-scan-{number}")
        self._spawn(self._sweep(), "file-scan-sweep")
        log.info("file_scans_started", scanner=self.scanner.name)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Until nothing is queued or being scanned (tests, graceful shutdown)."""
        await self._idle.wait()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep(self) -> None:
        """Queue every element a previous run left Pending."""
        data = tables.data_elements
        after = 0
        while True:
            async with self.services.db.read() as conn:
                rows = (
                    await conn.execute(
                        select(data.c.internal_id, data.c.instance_guid, data.c.id)
                        .where(
                            data.c.file_scan_result == FileScanResult.Pending.value,
                            data.c.internal_id > after,
                        )
                        .order_by(data.c.internal_id)
                        .limit(_SWEEP_BATCH)
                    )
                ).all()
            for row in rows:
                self.enqueue(row.instance_guid, str(row.id))
            if len(rows) < _SWEEP_BATCH:
                return
            after = rows[-1].internal_id

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            self._busy += 1
            try:
                self._queued.discard(item)
                await self._scan(*item)
                self._attempts.pop(item, None)
            except ScanError as exc:
                self._retry(item, str(exc))
            except Exception:
                log.exception("file_scan_failed", instance_guid=str(item[0]), data_id=item[1])
                self._retry(item, "unexpected error")
            finally:
                self._busy -= 1
                if self._busy == 0 and self._queue.empty():
                    self._idle.set()

    def _retry(self, item: tuple[uuid.UUID, str], reason: str) -> None:
        attempt = self._attempts.get(item, 0)
        self._attempts[item] = attempt + 1
        delay = _RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)]
        log.warning(
            "file_scan_retry", instance_guid=str(item[0]), data_id=item[1], reason=reason, delay=delay
        )

        async def later() -> None:
            await asyncio.sleep(delay)
            self.enqueue(*item)

        self._spawn(later(), "file-scan-retry")

    async def _scan(self, instance_guid: uuid.UUID, data_guid: str) -> None:
        services = self.services
        record = await read_instance(services.db, instance_guid)
        data = record.element(data_guid) if record is not None else None
        if data is None or data.blob_key is None or data.element.file_scan_result != FileScanResult.Pending:
            return
        key = data.blob_key
        try:
            stream = await services.blobs.open(key)
        except BlobError as exc:
            raise ScanError(f"cannot read blob {key}: {exc}") from None
        try:
            verdict = await self.scanner.scan(stream)
        finally:
            await stream.aclose()
        try:
            async with change_instance(services.db, instance_guid) as tx:
                current = tx.record.element(data_guid)
                if (
                    current is None
                    or current.blob_key != key
                    or current.element.file_scan_result != FileScanResult.Pending
                ):
                    raise _Unchanged
                current.element.file_scan_result = verdict.result
                tx.mark_dirty(current)
        except _Unchanged:
            return
        report = log.warning if verdict.infected else log.info
        report(
            "file_scanned",
            instance_guid=str(instance_guid),
            data_id=data_guid,
            result=verdict.result.value,
            signature=verdict.signature,
            scanner=self.scanner.name,
        )


async def start_file_scans(services: Services) -> FileScans | None:
    """Start the scan workers this process runs (None when scanning is off)."""
    scanner = scanner_from_settings(services.settings)
    if scanner is None:
        return None
    scans = FileScans(services, scanner)
    await scans.start()
    return scans
