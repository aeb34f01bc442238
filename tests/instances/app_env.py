"""Shared set-up of the App API instance tests: a server with the bundled, shared and data test
apps plus ``ttd/inst-copy`` (copy enabled), and helpers that count what exists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import SHARED_APPS, LiveServer, make_settings
from tests.data import factories as f
from tinn.settings import BUNDLED_APPS_DIR

COPY_APP = "inst-copy"
SOKNAD = "/ttd/soknad/instances"
SOKNAD_XML = b"<Soknad><navn>Kari</navn><belop>777</belop><kategori>Utstyr</kategori></Soknad>"
OWNER_TEMPLATE = b'{"instanceOwner": {"partyId": "501337"}}'


def start_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    apps = f.write_data_apps(tmp_path_factory.mktemp("instance-apps"))
    f.write_app(
        apps,
        COPY_APP,
        [
            {"id": "ref-data-as-pdf", "allowedContentTypes": ["application/pdf"], "maxCount": 0},
            f.form_type("model", app_logic={"autoCreate": True}),
            f.form_type("notes", max_count=2),
            f.file_type("attachment", maxCount=3),
        ],
        copyInstanceSettings={
            "enabled": True,
            "excludedDataTypes": ["notes"],
            "excludedDataFields": ["amount"],
        },
    )
    settings = make_settings(
        database_url, tmp_path_factory.mktemp("data"), apps=[BUNDLED_APPS_DIR, SHARED_APPS, apps]
    )
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Tokens:
    user: str  # 1337, roles for 501337 and several organisations
    other: str  # 1001, roles for 510001 and 501000 only
    org: str  # service owner ttd


def active_ids(client: httpx.Client, token: str, app: str, party: int = f.PARTY) -> list[str]:
    response = client.get(f"/ttd/{app}/instances/{party}/active", headers=f.bearer(token))
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


def stored_ids(client: httpx.Client, tokens: Tokens, app: str, party: int = f.PARTY) -> set[str]:
    """Every instance of ``app`` for ``party`` in Storage, deleted ones too (the service owner's query)."""
    response = client.get(
        "/storage/api/v1/instances",
        params={"appId": f"ttd/{app}", "instanceOwner.partyId": party, "size": 1000},
        headers=f.bearer(tokens.org),
    )
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["instances"]}


def multipart(*parts: tuple[str | None, bytes, str | None, str | None]) -> tuple[bytes, str]:
    """A multipart body from (name, content, content type, filename); None name: no name."""
    boundary = "tinn-test-boundary"
    out = b""
    for name, content, content_type, filename in parts:
        disposition = "form-data"
        if name is not None:
            disposition += f'; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def post_multipart(
    client: httpx.Client,
    token: str,
    path: str,
    *parts: tuple[str | None, bytes, str | None, str | None],
    **kw: Any,
) -> httpx.Response:
    body, content_type = multipart(*parts)
    headers = {**f.bearer(token), "Content-Type": content_type, **kw.pop("headers", {})}
    return client.post(path, content=body, headers=headers, **kw)
