"""The App API shortcut: requests whose first segment starts no platform route skip the platform
routes, and answer exactly as the full route table would."""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import APIRoute

from tinn.routes import include_routers
from tinn.server import create_app
from tinn.settings import Settings

SECURITY_HEADERS = ("x-frame-options", "x-content-type-options", "referrer-policy", "cache-control")


class Collect:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def include_router(self, router: object) -> None:
        self.paths.extend(r.path for r in getattr(router, "routes", []) if isinstance(r, APIRoute))


def test_every_route_starts_with_a_literal_segment_or_with_org() -> None:
    collected = Collect()
    include_routers(collected)
    parameterised = [p for p in collected.paths if p.startswith("/{")]
    assert parameterised, "the App API has routes"
    assert all(p.startswith("/{org}/{app}") for p in parameterised), parameterised


def test_the_shortcut_knows_every_platform_segment() -> None:
    app = create_app(Settings(log_level="warning"))
    shortcut = app.user_middleware[-1]
    segments = shortcut.kwargs["platform_segments"]
    for expected in ("storage", "events", "authentication", "register", "health", "api", "swagger"):
        assert expected in segments


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ttd/soknad/api/v1/applicationmetadata", 200),
        ("/health/live", 200),
        ("/storage/api/v1/applications/ttd/soknad", 200),
        ("/nope/nothing/here", 404),
        ("/ttd/soknad/instances/501337/00000000-0000-0000-0000-000000000000", 401),
    ],
)
def test_both_tables_answer_with_altinn_headers(client: httpx.Client, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    for header in SECURITY_HEADERS:
        assert header in response.headers, (path, header)


def test_unknown_paths_answer_alike_in_both_tables(client: httpx.Client) -> None:
    app_api_side = client.get("/nope/nothing/here")
    platform_side = client.get("/storage/nothing/here")
    assert app_api_side.status_code == platform_side.status_code == 404
    assert app_api_side.content == platform_side.content
    assert app_api_side.headers.get("content-type") == platform_side.headers.get("content-type")
