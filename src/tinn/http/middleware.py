"""Pure-ASGI middleware: Altinn's response headers, request metrics, and a catch-all for 500s."""

from __future__ import annotations

import time
from collections.abc import Set
from typing import Any

import orjson
import structlog
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tinn.http.errors import PROBLEM_JSON, RFC9110_TYPES
from tinn.observability import REQUEST_DURATION

log = structlog.get_logger("tinn.http")

# Every Altinn response carries these (app notes 0.5); a route may set its own Cache-Control.
_DEFAULT_HEADERS = (
    ("cache-control", "no-store, no-cache"),
    ("x-frame-options", "deny"),
    ("x-content-type-options", "nosniff"),
    ("x-xss-protection", "0"),
    ("referrer-policy", "no-referrer"),
)


class AltinnHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500, "sent": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["sent"] = True
                headers = MutableHeaders(scope=message)
                for name, value in _DEFAULT_HEADERS:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # The client went away mid-request: nobody to answer, nothing went wrong here.
            log.info("client_disconnected", method=scope.get("method"), path=scope.get("path"))
            if not status_holder["sent"]:
                status_holder["status"] = 499
        except Exception:
            log.exception("unhandled_error", method=scope.get("method"), path=scope.get("path"))
            if status_holder["sent"]:
                raise
            body = orjson.dumps(
                {
                    "type": RFC9110_TYPES[500],
                    "title": "An error occurred while processing your request.",
                    "status": 500,
                }
            )
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", PROBLEM_JSON.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_DURATION.labels(scope.get("method", ""), template, str(status_holder["status"])).observe(
                time.perf_counter() - started
            )


class AppApiShortcut:
    """Sends a request whose first path segment starts no platform route to the App API's own
    route table (see `tinn.server`); everything else goes down the full table."""

    def __init__(self, app: ASGIApp, app_api: ASGIApp, platform_segments: Set[str]) -> None:
        self.app = app
        self.app_api = app_api
        self.platform_segments = platform_segments

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            first = scope["path"].lstrip("/").split("/", 1)[0]
            if first and first not in self.platform_segments:
                await self.app_api(scope, receive, send)
                return
        await self.app(scope, receive, send)
