"""The outermost middleware: a client that goes away mid-upload is not a server error."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.conftest import LiveServer
from tests.data import factories as f


def _disconnects_counted(client: httpx.Client) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("tinn_http_request_duration_seconds_count") and 'status="499"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_client_disconnect_mid_upload_is_counted_as_499_not_500(
    live_server: LiveServer, client: httpx.Client
) -> None:
    api = f.create_instance(client, f.user_token(client), app="soknad")
    before = _disconnects_counted(client)
    head = (
        f"POST /ttd/soknad/instances/{api.instance['id']}/data/type/attachment HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{live_server.port}\r\n"
        f"Authorization: Bearer {api.token}\r\n"
        "Content-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="a.pdf"\r\n'
        "Content-Length: 1000000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", live_server.port)) as sock:
        sock.sendall(head + b"%PDF-1.4\n" + b"x" * 10_000)
        time.sleep(0.2)
    deadline = time.monotonic() + 30
    while _disconnects_counted(client) <= before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _disconnects_counted(client) == before + 1
    assert api.elements("attachment") == []


def boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("a bug, not the client's fault")


def test_unhandled_error_on_an_app_api_route_is_altinns_500(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tinn.appdef.routes.get_app", boom)
    response = client.get("/ttd/soknad/api/v1/applicationmetadata")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"] == "An error occurred while processing your request."
    assert response.headers["x-content-type-options"] == "nosniff"


def test_unhandled_error_on_a_platform_route_is_altinns_500(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tinn.health.metrics_payload", boom)
    response = client.get("/metrics")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 500
