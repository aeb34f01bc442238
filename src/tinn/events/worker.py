"""The event worker: fan-out, webhook delivery and subscription validation, in one asyncio task set.

It runs inside ``tinn serve`` (``TINN_EVENTS_WORKER``, on by default) and as ``tinn worker``
processes for scale-out; any number of them share one database safely (see ``dispatcher`` and
``delivery``). Two loops:

* **fan-out** takes batches of undispatched outbox rows and writes their deliveries;
* **delivery** keeps up to ``events_delivery_concurrency`` POSTs in flight; each cycle records the
  finished attempts and claims more due deliveries in one transaction.

Both sleep until woken: by a commit that wrote work in this process (outbox rows, new deliveries,
subscriptions to validate: the connection is flagged and the wake happens when it returns to the
pool after the commit), by PostgreSQL ``NOTIFY`` from any process, when the next retry falls due,
or at the latest after ``events_poll_interval_seconds``. ``stop()`` stops claiming, lets the
attempts in flight finish (each is time-limited) and records them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import and_, delete, event
from sqlalchemy.engine import make_url

from tinn.auth.pdp import Authorizer
from tinn.clock import Clock, SystemClock
from tinn.events.authorization import EventAuthorizer
from tinn.events.delivery import (
    LEASE_MARGIN_SECONDS,
    Claim,
    HttpxTransport,
    Outcome,
    WebhookTransport,
    claim_due,
    next_due,
    record_outcomes,
    send,
)
from tinn.events.dispatcher import Dispatcher
from tinn.events.outbox import NOTIFY_CHANNEL, WORK_COMMITTED, WORK_PENDING
from tinn.events.subscriptions import STATUS_PENDING
from tinn.register.service import Register
from tinn.settings import Settings
from tinn.storage import tables
from tinn.storage.db import Database

log = structlog.get_logger("tinn.events")

_PURGE_INTERVAL_SECONDS = 3600.0
_MAX_BACKOFF_SECONDS = 30.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class EventWorker:
    def __init__(
        self,
        db: Database,
        authz: EventAuthorizer,
        settings: Settings,
        *,
        clock: Clock | None = None,
        transport: WebhookTransport | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.worker_id = worker_id or new_worker_id()
        self._dispatcher = Dispatcher(db, authz)
        self._dsn = db.url
        self._schedule = tuple(settings.events_retry_schedule)
        self._timeout = settings.events_delivery_timeout_seconds
        self._lease = self._timeout + LEASE_MARGIN_SECONDS
        self._concurrency = settings.events_delivery_concurrency
        self._batch = settings.events_batch_size
        self._poll = settings.events_poll_interval_seconds
        self._retention = timedelta(days=settings.events_retention_days)
        self._transport = transport
        self._own_transport = transport is None
        self._dispatch_wake = asyncio.Event()
        self._delivery_wake = asyncio.Event()
        self._stop_event = asyncio.Event()
        self._stopping = False
        self._outcomes: list[Outcome] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._hooks: list[tuple[Any, str, Callable[..., None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_purge = float("-inf")
        # Counters for logs, health and benchmarks.
        self.events_dispatched = 0
        self.attempts_made = 0

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._transport is None:
            self._transport = HttpxTransport(timeout=self._timeout, max_connections=self._concurrency)
        self._install_hooks()
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="tinn-events-dispatch"),
            asyncio.create_task(self._delivery_loop(), name="tinn-events-delivery"),
        ]
        if self.db.dialect == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="tinn-events-listen"))
        log.info("event_worker_started", worker=self.worker_id, database=self.db.dialect)

    async def stop(self) -> None:
        """Stop claiming, finish and record the attempts in flight, then stop."""
        if not self._tasks:
            return
        self._stopping = True
        self._stop_event.set()
        self.wake()
        loops = self._tasks[:2]
        _done, pending = await asyncio.wait(loops, timeout=self._timeout + 10)
        for task in [*pending, *self._tasks[2:]]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._remove_hooks()
        if self._own_transport and self._transport is not None:
            await self._transport.close()
        log.info(
            "event_worker_stopped",
            worker=self.worker_id,
            events_dispatched=self.events_dispatched,
            attempts=self.attempts_made,
        )

    def wake(self) -> None:
        """Look for work now (safe to call from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._dispatch_wake.set()
            self._delivery_wake.set()
        else:
            loop.call_soon_threadsafe(self.wake)

    # -- waking on commits in this process -------------------------------------------------------

    def _install_hooks(self) -> None:
        engine = self.db.engine.sync_engine
        self._hooks = [
            (engine, "commit", self._on_commit),
            (engine, "rollback", self._on_rollback),
            (engine.pool, "checkin", self._on_checkin),
        ]
        for target, name, handler in self._hooks:
            event.listen(target, name, handler)

    def _remove_hooks(self) -> None:
        for target, name, handler in self._hooks:
            if event.contains(target, name, handler):
                event.remove(target, name, handler)
        self._hooks = []

    @staticmethod
    def _on_commit(conn: Any) -> None:
        info = conn.info
        if info.pop(WORK_PENDING, False):
            info[WORK_COMMITTED] = True

    @staticmethod
    def _on_rollback(conn: Any) -> None:
        info = conn.info
        info.pop(WORK_PENDING, None)
        info.pop(WORK_COMMITTED, None)

    def _on_checkin(self, _dbapi_connection: Any, record: Any) -> None:
        # The commit has completed by the time the connection is back in the pool.
        if record is not None and record.info.pop(WORK_COMMITTED, False):
            self.wake()

    async def _listen_loop(self) -> None:
        """PostgreSQL: LISTEN for work committed by any process; reconnect when the link drops."""
        import asyncpg

        dsn = make_url(self._dsn).set(drivername="postgresql").render_as_string(hide_password=False)
        attempt = 0
        while not self._stopping:
            try:
                await self._listen_once(asyncpg, dsn)
                attempt = 0
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                attempt += 1
                log.warning("event_listen_failed", worker=self.worker_id, error=str(exc))
                await self._sleep(min(_MAX_BACKOFF_SECONDS, 0.5 * 2**attempt))

    async def _listen_once(self, asyncpg: Any, dsn: str) -> None:
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _conn: lost.set())
            await connection.add_listener(NOTIFY_CHANNEL, lambda *_args: self.wake())
            self.wake()  # catch up with anything committed while not listening
            stop_wait = asyncio.create_task(self._stop_event.wait())
            lost_wait = asyncio.create_task(lost.wait())
            try:
                await asyncio.wait({stop_wait, lost_wait}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop_wait.cancel()
                lost_wait.cancel()
            if not self._stopping:
                log.warning("event_listen_connection_lost", worker=self.worker_id)
        finally:
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=5)

    # -- loops -----------------------------------------------------------------------------------

    async def _wait(self, wake: asyncio.Event, seconds: float) -> None:
        if wake.is_set() or self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await wake.wait()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop_event.wait()

    async def _dispatch_loop(self) -> None:
        failures = 0
        while not self._stopping:
            self._dispatch_wake.clear()
            try:
                result = await self._dispatcher.dispatch_batch(self.clock.now(), limit=self._batch)
                await self._purge_if_due()
            except Exception:
                failures += 1
                log.exception("event_dispatch_failed", worker=self.worker_id)
                await self._sleep(min(_MAX_BACKOFF_SECONDS, 0.25 * 2**failures))
                continue
            failures = 0
            self.events_dispatched += result.events
            if result.deliveries:
                self._delivery_wake.set()
            if result.events >= self._batch:
                continue
            await self._wait(self._dispatch_wake, self._poll)

    async def _delivery_loop(self) -> None:
        inflight: set[asyncio.Task[None]] = set()
        failures = 0
        while True:
            self._delivery_wake.clear()
            outcomes, self._outcomes = self._outcomes, []
            want = 0 if self._stopping else min(self._batch, self._concurrency - len(inflight))
            claims: list[Claim] = []
            if outcomes or want > 0:
                try:
                    claims = await self._record_and_claim(outcomes, want)
                except Exception:
                    failures += 1
                    log.exception("event_delivery_cycle_failed", worker=self.worker_id, results=len(outcomes))
                    self._outcomes[:0] = outcomes
                    if self._stopping and failures >= 3:
                        # Unrecorded attempts are made again once their claims lapse.
                        break
                    await asyncio.sleep(min(_MAX_BACKOFF_SECONDS, 0.25 * 2**failures))
                    continue
                failures = 0
                self.attempts_made += len(outcomes)
            for claim in claims:
                task = asyncio.create_task(self._deliver(claim))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            if self._stopping and not inflight and not self._outcomes:
                break
            if want > 0 and len(claims) == want and len(inflight) < self._concurrency:
                continue
            timeout = self._poll if inflight or self._stopping else await self._idle_timeout()
            await self._wait_delivery(timeout)

    async def _wait_delivery(self, seconds: float) -> None:
        # Unlike _wait, keeps waiting while stopping: results of attempts in flight wake it.
        if self._delivery_wake.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._delivery_wake.wait()

    async def _record_and_claim(self, outcomes: list[Outcome], want: int) -> list[Claim]:
        async with self.db.write() as conn:
            now = self.clock.now()
            await record_outcomes(conn, outcomes, now=now, schedule=self._schedule, worker_id=self.worker_id)
            return await claim_due(
                conn, now=now, lease_seconds=self._lease, limit=want, worker_id=self.worker_id
            )

    async def _idle_timeout(self) -> float:
        try:
            async with self.db.read() as conn:
                due = await next_due(conn)
        except Exception:
            log.exception("event_next_due_failed", worker=self.worker_id)
            return self._poll
        if due is None:
            return self._poll
        return min(self._poll, max(0.005, (due - self.clock.now()).total_seconds()))

    async def _deliver(self, claim: Claim) -> None:
        assert self._transport is not None
        try:
            outcome = await send(self._transport, claim, time_limit=self._timeout, now=self.clock.now())
        except Exception as exc:
            log.exception("event_delivery_crashed", delivery_id=claim.delivery_id)
            outcome = Outcome(claim, self.clock.now(), 0, None, f"{type(exc).__name__}: {exc}"[:300])
        if not outcome.delivered:
            log.info(
                "event_delivery_failed",
                delivery_id=claim.delivery_id,
                attempt=claim.attempt,
                endpoint=claim.endpoint,
                error=outcome.error,
            )
        self._outcomes.append(outcome)
        self._delivery_wake.set()

    async def _purge_if_due(self) -> None:
        """Delete events and finished deliveries past retention (about hourly)."""
        if not self._retention or time.monotonic() - self._last_purge < _PURGE_INTERVAL_SECONDS:
            return
        self._last_purge = time.monotonic()
        cutoff = self.clock.now() - self._retention
        events, deliveries = tables.cloud_events, tables.deliveries
        async with self.db.write() as conn:
            removed_deliveries = await conn.execute(
                delete(deliveries).where(
                    and_(deliveries.c.finished_at < cutoff, deliveries.c.status != STATUS_PENDING)
                )
            )
            removed_events = await conn.execute(
                delete(events).where(events.c.registered < cutoff, events.c.dispatched.is_(True))
            )
        if removed_events.rowcount or removed_deliveries.rowcount:
            log.info(
                "events_purged",
                events=removed_events.rowcount,
                deliveries=removed_deliveries.rowcount,
                before=cutoff.isoformat(),
            )


async def start_event_worker(
    settings: Settings, db: Database, authorizer: Authorizer, register: Register, clock: Clock
) -> EventWorker:
    worker = EventWorker(db, EventAuthorizer(authorizer, register), settings, clock=clock)
    await worker.start()
    return worker


async def run_worker(settings: Settings) -> None:
    """``tinn worker``: an event worker without the HTTP server, until SIGINT/SIGTERM."""
    from tinn.appdef.registry import load_apps
    from tinn.register.loader import load_register
    from tinn.storage import migrate

    url = settings.effective_database_url
    if settings.effective_auto_migrate:
        await migrate.upgrade(url)
    else:
        current, head = await migrate.current_revision(url), migrate.head_revision()
        if current != head:
            raise RuntimeError(
                f"database schema is at revision {current or 'none'}, this Tinn needs {head}: "
                "run `tinn db upgrade`"
            )
    apps = load_apps(settings.apps)
    for error in apps.errors:
        log.error("app_load_failed", path=str(error.path), line=error.line, reason=error.message)
    register = load_register(settings.register_dir).register
    db = Database(url, pool_size=settings.database_pool_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    worker = await start_event_worker(settings, db, Authorizer(apps, register), register, SystemClock())
    try:
        await stop.wait()
    finally:
        await worker.stop()
        await db.dispose()
