"""ASGI app factory: builds the services, mounts every context's routers and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tinn import __version__
from tinn.http.errors import ApiError, handle_api_error, handle_http_exception, handle_validation_error
from tinn.http.middleware import AltinnHeadersMiddleware
from tinn.observability import configure_logging
from tinn.services import Services, start_services
from tinn.settings import Settings

log = structlog.get_logger("tinn.server")


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """The Tinn ASGI application. ``services`` may be injected (tests); else built at startup."""
    settings = settings or (services.settings if services else Settings())
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        svc = services or await start_services(settings)
        app.state.services = svc
        log.info(
            "tinn_started",
            version=__version__,
            database=svc.db.dialect,
            blobs=svc.blobs.url,
            apps=len(svc.apps),
        )
        try:
            yield
        finally:
            if own:
                await svc.close()

    app = FastAPI(
        title="Tinn",
        version=__version__,
        summary="Altinn 3 App, Storage, Events, Register and Authentication APIs",
        lifespan=lifespan,
        docs_url="/swagger",
        openapi_url="/swagger/v1/swagger.json",
        redoc_url=None,
    )
    app.add_middleware(AltinnHeadersMiddleware)
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)

    from tinn.routes import include_routers

    include_routers(app)
    return app


def create_app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory` in worker processes: settings from TINN_* only."""
    return create_app(Settings())
