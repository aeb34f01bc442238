"""Every router of every context, in matching order.

Platform prefixes (`/storage`, `/events`, `/authentication`, `/register`) come before the App
API's `/{org}/{app}` routes, which would otherwise swallow them.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import APIRouter

from tinn import health
from tinn.appdef import routes as appdef_routes
from tinn.auth import benchmark_routes
from tinn.auth import routes as auth_routes
from tinn.data import app_routes as data_app_routes
from tinn.events import routes as events_routes
from tinn.instances import app_routes as instance_app_routes
from tinn.instances import storage_routes as instance_storage_routes
from tinn.process import actions as process_actions
from tinn.process import routes as process_routes
from tinn.process import signing_routes
from tinn.register import app_routes as register_app_routes
from tinn.register import routes as register_routes
from tinn.validation import routes as validation_routes


class RouterHost(Protocol):
    def include_router(self, router: APIRouter) -> None: ...


def include_routers(app: RouterHost) -> None:
    app.include_router(health.router)
    app.include_router(benchmark_routes.router)  # first: routing depth would skew the benchmark
    app.include_router(auth_routes.router)
    app.include_router(auth_routes.testidp_router)
    app.include_router(auth_routes.testtools_router)
    app.include_router(register_routes.router)
    app.include_router(register_routes.profile_router)
    app.include_router(events_routes.router)
    app.include_router(appdef_routes.storage_router)
    app.include_router(instance_storage_routes.router)
    app.include_router(appdef_routes.app_router)
    app.include_router(register_app_routes.router)
    app.include_router(instance_app_routes.router)
    app.include_router(data_app_routes.router)
    app.include_router(process_routes.router)
    app.include_router(process_actions.router)
    app.include_router(signing_routes.router)
    app.include_router(validation_routes.router)
