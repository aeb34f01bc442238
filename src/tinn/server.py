"""ASGI app factory: builds the services, mounts every context's routers and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp

from tinn import __version__
from tinn.http.errors import ApiError, handle_api_error, handle_http_exception, handle_validation_error
from tinn.http.middleware import AltinnHeadersMiddleware, AppApiShortcut
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

    app = TinnApp(
        title="Tinn",
        version=__version__,
        summary="Altinn 3 App, Storage, Events, Register and Authentication APIs",
        lifespan=lifespan,
        docs_url="/swagger",
        openapi_url="/swagger/v1/swagger.json",
        redoc_url=None,
    )
    _add_exception_handlers(app)
    app_api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app_api.state = app.state
    _add_exception_handlers(app_api)
    for route in app.routes:  # the app's own (OpenAPI, docs)
        app.note_path(str(getattr(route, "path", "")))

    from tinn.routes import include_routers

    include_routers(_RouteTables(app, app_api))
    # Innermost first: the shortcut runs inside the headers middleware, so both tables get it.
    app.add_middleware(
        AppApiShortcut, app_api=_without_error_page(app_api), platform_segments=app.literal_segments
    )
    app.add_middleware(AltinnHeadersMiddleware)
    return app


def _without_error_page(app: FastAPI) -> ASGIApp:
    """The app's stack below Starlette's ServerErrorMiddleware, which would answer an unhandled
    error with its own text page before `AltinnHeadersMiddleware` could answer in Altinn's shape."""
    stack = app.build_middleware_stack()
    if not isinstance(stack, ServerErrorMiddleware):
        raise TypeError(f"unexpected middleware stack {type(stack).__name__}")
    return stack.app


def _add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)


def _first_segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


class TinnApp(FastAPI):
    """FastAPI that keeps the first path segments of its literal routes, for `AppApiShortcut`.

    Starlette matches routes one by one, so an App API request would first be tried against every
    platform route. Every platform route starts with a literal segment, so a request whose first
    segment is none of those can only match an App API route. The set follows every route added,
    including ones added after start-up.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.literal_segments: set[str] = set()

    def note_path(self, path: str) -> bool:
        """Record a route's path; True when it starts with a parameter (`/{org}/...`)."""
        first = _first_segment(path)
        if first.startswith("{"):
            return True
        self.literal_segments.add(first)
        return False

    def include_router(self, router: APIRouter, *args: Any, **kwargs: Any) -> None:
        super().include_router(router, *args, **kwargs)
        prefix = str(kwargs.get("prefix", ""))
        for route in router.routes:
            self.note_path(prefix + str(getattr(route, "path", "")))

    def add_api_route(self, path: str, *args: Any, **kwargs: Any) -> None:
        super().add_api_route(path, *args, **kwargs)
        self.note_path(path)


class _RouteTables:
    """Stands in for the app in `include_routers`: every router goes into the full table; routers
    with a route under `/{org}/...` also go into the App API's own table (see `TinnApp`)."""

    def __init__(self, full: TinnApp, app_api: FastAPI) -> None:
        self.full = full
        self.app_api = app_api

    def include_router(self, router: APIRouter) -> None:
        self.full.include_router(router)
        if any(str(getattr(route, "path", "")).startswith("/{") for route in router.routes):
            self.app_api.include_router(router)


def create_app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory` in worker processes: settings from TINN_* only."""
    return create_app(Settings())
