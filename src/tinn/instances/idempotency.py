"""`Idempotency-Key` for creates (beyond Altinn): a retried request gets the first response.

The record is written in the same transaction as the instance it created, so "created" and
"remembered" cannot diverge: a crash either loses both (the retry creates the instance) or keeps
both (the retry replays). Two concurrent requests with one key race on the primary key; the
loser's transaction rolls back and it replays the winner's response. The same key with a
different request is refused with 409.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from tinn.http.errors import Problem
from tinn.storage import tables
from tinn.storage.db import Database

HEADER = "Idempotency-Key"
K = tables.idempotency_keys
_MAX_KEY = 255


@dataclass
class Stored:
    request_hash: str
    status_code: int
    headers: dict[str, str]
    body: bytes

    def response(self) -> Response:
        headers = dict(self.headers)
        headers["Idempotent-Replayed"] = "true"
        media_type = headers.pop("content-type", None)
        return Response(self.body, self.status_code, headers, media_type=media_type)


def validate_key(key: str) -> str:
    if not key or len(key) > _MAX_KEY or not key.isascii() or not key.isprintable():
        raise Problem(
            400,
            "Invalid Idempotency-Key",
            f"The {HEADER} header must be 1-{_MAX_KEY} printable ASCII characters.",
        )
    return key


class RequestHasher:
    """Hashes the request (method, target, content type and body) while the body streams through."""

    def __init__(self, method: str, target: str, content_type: str | None) -> None:
        self._hash = hashlib.sha256()
        for part in (method, target, content_type or ""):
            self._hash.update(part.encode() + b"\0")

    async def wrap(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self._hash.update(chunk)
            yield chunk

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


async def lookup(db: Database, scope: str, key: str) -> Stored | None:
    async with db.read() as conn:
        row = (await conn.execute(select(K).where(K.c.scope == scope, K.c.key == key))).first()
    if row is None or row.status_code is None:
        return None
    return Stored(
        row.request_hash, row.status_code, dict(row.response_headers or {}), row.response_body or b""
    )


def replay(stored: Stored, request_hash: str) -> Response:
    if stored.request_hash != request_hash:
        raise Problem(
            409,
            "Idempotency key reused",
            f"This {HEADER} was used for a different request. Use a new key for a new request.",
        )
    return stored.response()


async def remember(
    conn: AsyncConnection,
    scope: str,
    key: str,
    request_hash: str,
    status_code: int,
    headers: dict[str, Any],
    body: bytes,
    now: datetime,
) -> None:
    await conn.execute(
        insert(K).values(
            scope=scope,
            key=key,
            request_hash=request_hash,
            status_code=status_code,
            response_headers=headers,
            response_body=body,
            created=now,
        )
    )
