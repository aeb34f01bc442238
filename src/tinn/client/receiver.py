"""Receiving an app's submissions as its service owner: download, verify, store, then confirm.

The rules that make a receiver restart-safe:

* The Storage query (ended, not yet confirmed by us) is the source of truth; webhooks only wake
  the receiver sooner. An instance whose webhook was lost, or whose receiver died, is still
  unconfirmed and is found by the next sweep.
* An instance is downloaded into ``{out}/.partial/``, every file is checked against the
  archive's manifest (size and SHA-256) and against the instance's data elements, fsynced, and
  the folder is renamed to ``{out}/{instanceGuid}/`` in one step (then the parent is fsynced).
* ``complete`` is called only after that rename. A crash before it leaves the instance
  unconfirmed, so it is delivered again; the next run finds the folder, re-verifies the
  checksums and confirms it (or downloads it again if the files no longer match).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

import httpx
import orjson
import structlog

from tinn.client.errors import AltinnError
from tinn.client.events import COMPLETED_TYPE, VALIDATION_TYPE, AsyncEventsClient, app_resource
from tinn.client.models import Instance
from tinn.client.storage import AsyncStorageClient
from tinn.events.signing import WebhookVerificationError, verify_signature

log = structlog.get_logger(__name__)

MANIFEST = "manifest.json"
ARCHIVE_MANIFEST = "manifest.json"
INSTANCE_FILE = "instance.json"
PARTIAL = ".partial"
STATE = ".tinn-receive"
CHUNK = 1024 * 1024


class ReceiverBusy(Exception):
    """Another receiver holds the output folder."""


class DownloadError(Exception):
    """A download that does not match its manifest or its instance (it is not confirmed)."""


@dataclass
class Received:
    instance_id: str
    folder: Path
    files: int
    bytes: int
    redelivered: bool = False
    """True when the files were already on disk from an earlier, unconfirmed run."""
    via: str = "sweep"
    """``sweep`` (the Storage query) or ``webhook``."""

    def as_json(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "folder": str(self.folder),
            "files": self.files,
            "bytes": self.bytes,
            "redelivered": self.redelivered,
            "via": self.via,
        }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_member(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts):
        raise DownloadError(f"unsafe path in archive: {name!r}")
    return path


def _extract(archive: Path, target: Path) -> dict[str, Any]:
    """Unpack and verify; returns the receiver's manifest. Runs in a thread (blocking I/O)."""
    with zipfile.ZipFile(archive) as zf:
        try:
            listed = orjson.loads(zf.read(ARCHIVE_MANIFEST))
        except KeyError:
            raise DownloadError("the archive has no manifest.json") from None
        expected = {item["path"]: item for item in listed.get("files", [])}
        names = [info.filename for info in zf.infolist() if not info.is_dir()]
        extra = set(names) - set(expected) - {ARCHIVE_MANIFEST}
        if extra:
            raise DownloadError(f"files not in the manifest: {sorted(extra)}")
        files = []
        for name, item in expected.items():
            relative = _safe_member(name)
            destination = target.joinpath(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            size = 0
            try:
                source = zf.open(name)
            except KeyError:
                raise DownloadError(f"{name} is in the manifest but not in the archive") from None
            with source, destination.open("wb") as out:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size != item.get("size") or digest.hexdigest() != item.get("sha256"):
                raise DownloadError(f"{name}: size or SHA-256 differs from the manifest")
            files.append({**item, "path": name})
    instance = orjson.loads((target / INSTANCE_FILE).read_bytes())
    present = {item.get("dataElementId") for item in files}
    for element in instance.get("data") or []:
        deleted = (element.get("deleteStatus") or {}).get("isHardDeleted")
        if element.get("id") not in present and not deleted:
            raise DownloadError(f"data element {element.get('id')} ({element.get('dataType')}) is missing")
    return {
        "instanceId": listed.get("instanceId"),
        "appId": instance.get("appId"),
        "archiveCreated": listed.get("created"),
        "received": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": files,
    }


def _write_json(path: Path, document: dict[str, Any]) -> None:
    with path.open("wb") as out:
        out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        out.flush()
        os.fsync(out.fileno())


def _verify_folder(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest if every file it lists is intact, else None."""
    try:
        manifest: dict[str, Any] = orjson.loads((folder / MANIFEST).read_bytes())
        for item in manifest["files"]:
            path = folder.joinpath(*_safe_member(item["path"]).parts)
            if path.stat().st_size != item["size"] or _sha256_file(path) != item["sha256"]:
                return None
    except (OSError, KeyError, TypeError, orjson.JSONDecodeError, DownloadError):
        return None
    return manifest


def _summary(instance_id: str, folder: Path, manifest: dict[str, Any], redelivered: bool) -> Received:
    files = manifest["files"]
    return Received(instance_id, folder, len(files), sum(int(f["size"]) for f in files), redelivered)


class Receiver:
    """Downloads and confirms the ended instances of one app into ``out``."""

    def __init__(
        self,
        storage: AsyncStorageClient,
        org: str,
        app: str,
        out: Path,
        *,
        concurrency: int = 4,
        on_received: Callable[[Received], Awaitable[None] | None] | None = None,
    ) -> None:
        self.storage = storage
        self.org = org
        self.app = app
        self.out = out
        self.partial = out / PARTIAL
        self.concurrency = concurrency
        self.on_received = on_received
        self.received: list[Received] = []
        self.failures: list[tuple[str, str]] = []
        self._in_flight: set[str] = set()
        self._limit = asyncio.Semaphore(concurrency)
        self._lock: TextIO | None = None

    def prepare(self) -> None:
        """Take the folder (one receiver at a time) and remove what an interrupted run left half-written.

        Raises :class:`ReceiverBusy` when another receiver holds it: two receivers on one folder
        would clear each other's staging area.
        """
        state = self.out / STATE
        state.mkdir(parents=True, exist_ok=True)
        lock = (state / "lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ReceiverBusy(f"another receiver is using {self.out}") from None
        self._lock = lock
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir()

    def release(self) -> None:
        """Let another receiver take the folder."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def folder_for(self, instance_id: str) -> Path:
        return self.out / instance_id.split("/")[1]

    async def pending(self) -> list[Instance]:
        """Ended instances of the app not yet confirmed by this service owner."""
        filters: dict[str, Any] = {
            "appId": f"{self.org}/{self.app}",
            "process.isComplete": True,
            "excludeConfirmedBy": self.org,
        }
        return [instance async for instance in self.storage.query(size=100, **filters)]

    async def sweep(self) -> list[Received]:
        """Receive everything pending now (``concurrency`` at a time).

        An instance that fails (a broken download, a checksum mismatch) is logged, counted in
        ``failures`` and left unconfirmed for the next sweep; the others go on.
        """
        instances = await self.pending()
        results = await asyncio.gather(*(self.attempt(instance) for instance in instances))
        return [result for result in results if result is not None]

    async def attempt(self, instance: Instance, via: str = "sweep") -> Received | None:
        """:meth:`receive`, with a failure recorded in ``failures`` instead of raised."""
        try:
            return await self.receive(instance, via=via)
        except (DownloadError, OSError, zipfile.BadZipFile, AltinnError, httpx.HTTPError) as exc:
            self.failures.append((instance.id, repr(exc)))
            log.warning("instance_receive_failed", instance_id=instance.id, error=repr(exc))
            return None

    async def receive(self, instance: Instance | str, *, via: str = "sweep") -> Received | None:
        """Download (unless already safely on disk), verify, store, then confirm one instance.

        None when another task is already receiving it.
        """
        instance_id = instance.id if isinstance(instance, Instance) else instance
        if instance_id in self._in_flight:
            return None
        self._in_flight.add(instance_id)
        try:
            async with self._limit:
                result = await self._receive(instance_id)
        finally:
            self._in_flight.discard(instance_id)
        result.via = via
        self.received.append(result)
        if self.on_received is not None:
            outcome = self.on_received(result)
            if outcome is not None:
                await outcome
        return result

    async def _receive(self, instance_id: str) -> Received:
        folder = self.folder_for(instance_id)
        if folder.exists():
            manifest = await asyncio.to_thread(_verify_folder, folder)
            if manifest is not None:
                # Stored by an earlier run that did not get to confirm it.
                await self.storage.complete(instance_id)
                log.info("instance_redelivered", instance_id=instance_id, folder=str(folder))
                return _summary(instance_id, folder, manifest, True)
            log.warning("instance_folder_damaged", instance_id=instance_id, folder=str(folder))
            await asyncio.to_thread(self._discard, folder)
        staging = self.partial / f"{folder.name}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        archive = self.partial / f"{staging.name}.zip"
        try:
            await self.storage.download_instance(instance_id, archive)
            manifest = await asyncio.to_thread(self._store, archive, staging, folder)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, staging, True)
            raise
        finally:
            archive.unlink(missing_ok=True)
        # Only now, with the files durable under their final name, tell Storage we have them.
        await self.storage.complete(instance_id)
        log.info("instance_received", instance_id=instance_id, folder=str(folder))
        return _summary(instance_id, folder, manifest, False)

    def _store(self, archive: Path, staging: Path, folder: Path) -> dict[str, Any]:
        manifest = _extract(archive, staging)
        _write_json(staging / MANIFEST, manifest)
        for directory in sorted({p.parent for p in staging.rglob("*")}, key=lambda p: -len(p.parts)):
            _fsync_dir(directory)
        os.rename(staging, folder)
        _fsync_dir(self.out)
        return manifest

    def _discard(self, folder: Path) -> None:
        trash = self.partial / f"damaged-{folder.name}-{uuid.uuid4().hex[:8]}"
        os.rename(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)


# -- webhooks ---------------------------------------------------------------------------------------


@dataclass
class Subscription:
    id: int
    endpoint: str
    secret: str | None


@dataclass
class WebhookInbox:
    """What the webhook endpoint hands to the receiver: instance ids to look at."""

    secret: str | None = None
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    rejected: int = 0


def _read_state(path: Path) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        stored = orjson.loads(path.read_bytes())
        if isinstance(stored, dict):
            return stored
    return {}


async def subscribe(
    events: AsyncEventsClient, org: str, app: str, endpoint: str, state: Path
) -> Subscription:
    """Subscribe ``endpoint`` to the app's ``process.completed`` events, keeping the secret in ``state``.

    Tinn shows a subscription's signing secret only when it is created; when an identical
    subscription exists and its secret is not on file, it is replaced by a new one.
    """
    path = state / "subscription.json"
    stored = await asyncio.to_thread(_read_state, path)
    created = await events.subscribe(
        endpoint, resource_filter=app_resource(org, app), type_filter=COMPLETED_TYPE
    )
    secret = created.get("secret")
    if secret is None and stored.get("id") == created["id"]:
        secret = stored.get("secret")
    if secret is None and stored.get("id") != created["id"]:
        await events.unsubscribe(int(created["id"]))
        created = await events.subscribe(
            endpoint, resource_filter=app_resource(org, app), type_filter=COMPLETED_TYPE
        )
        secret = created.get("secret")
    await asyncio.to_thread(_write_json, path, {"id": created["id"], "endpoint": endpoint, "secret": secret})
    return Subscription(int(created["id"]), endpoint, secret)


def webhook_app(inbox: WebhookInbox) -> Any:
    """An ASGI app for the subscription's endpoint: the handshake, signature checks, a queue."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def receive(request: Request) -> Response:
        body = await request.body()
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Response("not JSON", 400)
        if not isinstance(event, dict):
            return Response("not a CloudEvent", 400)
        if event.get("type") == VALIDATION_TYPE:
            # The handshake may arrive before the secret is on file; answering it reveals nothing.
            return Response(status_code=200)
        if inbox.secret is not None:
            try:
                verify_signature(inbox.secret, request.headers, body)
            except WebhookVerificationError:
                inbox.rejected += 1
                log.warning("webhook_signature_rejected", event_id=event.get("id"))
                return Response("bad signature", 401)
        target = event.get("resourceinstance")
        if event.get("type") == COMPLETED_TYPE and isinstance(target, str) and "/" in target:
            inbox.queue.put_nowait(target)
        return Response(status_code=200)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


async def drain_webhooks(receiver: Receiver, inbox: WebhookInbox) -> None:
    """Receive the instances the webhook names (skipping ones already confirmed or not ended)."""
    while True:
        instance_id = await inbox.queue.get()
        try:
            instance = await receiver.storage.get_instance(instance_id)
            if instance.process_ended is None or instance.confirmed_by(receiver.org):
                continue
            await receiver.attempt(instance, via="webhook")
        except (AltinnError, httpx.HTTPError) as exc:  # the next sweep picks it up again
            log.warning("webhook_receive_failed", instance_id=instance_id, error=repr(exc))
