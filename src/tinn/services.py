"""The long-lived services of one Tinn process, built from settings.

Each outside dependency sits behind a small interface chosen here from settings (database,
blob store, clock, ...). Routes reach them through ``request.app.state.services``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from fastapi import Request

from tinn.appdef.registry import AppRegistry, load_apps
from tinn.appdef.sync import sync_applications
from tinn.auth.dependencies import AuthServices, start_auth_services
from tinn.auth.pdp import Authorizer
from tinn.clock import Clock, SystemClock
from tinn.events.worker import EventWorker, start_event_worker
from tinn.register.loader import load_register
from tinn.register.service import Register
from tinn.settings import Settings
from tinn.storage import migrate
from tinn.storage.blobs import create_blob_store
from tinn.storage.blobs.base import BlobStore
from tinn.storage.db import Database

log = structlog.get_logger("tinn.services")


class SchemaOutOfDate(RuntimeError):
    pass


@dataclass
class Services:
    settings: Settings
    db: Database
    blobs: BlobStore
    apps: AppRegistry
    register: Register
    auth: AuthServices
    authorizer: Authorizer
    clock: Clock = field(default_factory=SystemClock)
    # Fan-out, webhook delivery and subscription validation (None when `events_worker` is off).
    event_worker: EventWorker | None = None

    async def close(self) -> None:
        if self.event_worker is not None:
            await self.event_worker.stop()
        await self.auth.close()
        await self.blobs.close()
        await self.db.dispose()


async def start_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    url = settings.effective_database_url
    if settings.effective_auto_migrate:
        await migrate.upgrade(url)
    else:
        current, head = await migrate.current_revision(url), migrate.head_revision()
        if current != head:
            raise SchemaOutOfDate(
                f"database schema is at revision {current or 'none'}, this Tinn needs {head}: "
                "run `tinn db upgrade`"
            )
    db = Database(url, pool_size=settings.database_pool_size)
    blobs = create_blob_store(settings.effective_blob_url, settings.blob_options)
    apps = load_apps(settings.apps)
    for error in apps.errors:
        log.error("app_load_failed", path=str(error.path), line=error.line, reason=error.message)
    clock = clock or SystemClock()
    register = load_register(settings.register_dir).register
    auth = await start_auth_services(settings, db, register, clock)
    services = Services(
        settings=settings,
        db=db,
        blobs=blobs,
        apps=apps,
        register=register,
        auth=auth,
        authorizer=Authorizer(apps, register),
        clock=clock,
    )
    await sync_applications(services.db, apps, services.clock)
    if settings.events_worker:
        services.event_worker = await start_event_worker(settings, db, services.authorizer, register, clock)
    return services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
