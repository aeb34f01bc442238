"""Requests with retries: one description of a call (:class:`Call`), sent by a sync or async loop.

Which failures are retried depends on whether repeating the request is safe. A *safe* call (a
read, a full replacement, a create carrying an ``Idempotency-Key``) is retried on any transport
error and on 500/502/503/504. An *unsafe* one (an upload that creates a data element) only when
the request cannot have reached the application: a refused connection, or a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import httpx

from tinn.client.errors import AltinnConnectionError, error_from_response

if TYPE_CHECKING:
    from tinn.client.tokens import TokenProvider

CHUNK = 256 * 1024
Progress = Callable[[int], None]
"""Called with the number of bytes just sent (or received)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``attempts`` counts the first try."""

    attempts: int = 5
    backoff: float = 0.2
    max_backoff: float = 8.0
    statuses: frozenset[int] = frozenset({500, 502, 503, 504})

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        if response is not None:
            after = response.headers.get("retry-after", "")
            if after.isdigit():
                return min(float(after), self.max_backoff)
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


NO_RETRY = RetryPolicy(attempts=1)


class Body:
    """A request body made of byte strings and files, re-readable for retries, with progress.

    ``length`` is known up front (files are measured), so the request carries a Content-Length
    and streams: a file is never read into memory whole.
    """

    def __init__(self, parts: Sequence[bytes | Path], progress: Progress | None = None) -> None:
        self.parts = list(parts)
        self.progress = progress

    @property
    def length(self) -> int:
        return sum(len(p) if isinstance(p, bytes) else p.stat().st_size for p in self.parts)

    def sync_stream(self) -> Iterator[bytes]:
        for part in self.parts:
            if isinstance(part, bytes):
                yield part
                self._sent(len(part))
                continue
            with part.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk
                    self._sent(len(chunk))

    async def async_stream(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            if isinstance(part, bytes):
                yield part
                self._sent(len(part))
                continue
            handle = await asyncio.to_thread(part.open, "rb")
            try:
                while chunk := await asyncio.to_thread(handle.read, CHUNK):
                    yield chunk
                    self._sent(len(chunk))
            finally:
                handle.close()

    def _sent(self, count: int) -> None:
        if self.progress is not None and count:
            self.progress(count)


@dataclass(frozen=True)
class FilePart:
    """One part of a ``multipart/form-data`` body."""

    name: str
    content: bytes | Path
    content_type: str
    filename: str | None = None


def multipart(parts: Sequence[FilePart], progress: Progress | None = None) -> tuple[str, Body]:
    """A multipart body with a fixed boundary, so a retry sends the very same bytes.

    (Tinn's idempotency check hashes the body and its content type; a new boundary per attempt
    would make a retried create look like a different request.)
    """
    boundary = uuid.uuid4().hex
    pieces: list[bytes | Path] = []
    for part in parts:
        disposition = f'form-data; name="{_quote(part.name)}"'
        if part.filename is not None:
            disposition += f'; filename="{_quote(part.filename)}"'
        head = (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {part.content_type}\r\n\r\n"
        )
        pieces += [head.encode("utf-8"), part.content, b"\r\n"]
    pieces.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", Body(pieces, progress)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


@dataclass
class Call:
    """One API request: what to send and how to treat failures."""

    method: str
    url: str
    params: Any = None  # anything httpx takes as query parameters
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | Body | None = None
    json: Any = None
    safe: bool = True
    auth: bool = True

    def _content(self, asynchronous: bool) -> Any:
        if isinstance(self.content, Body):
            self.headers["Content-Length"] = str(self.content.length)
            return self.content.async_stream() if asynchronous else self.content.sync_stream()
        return self.content

    def build(
        self, client: httpx.Client | httpx.AsyncClient, token: str | None, asynchronous: bool
    ) -> httpx.Request:
        content = self._content(asynchronous)
        headers = dict(self.headers)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return client.build_request(
            self.method, self.url, params=self.params, headers=headers, content=content, json=self.json
        )

    def retryable_error(self, exc: httpx.TransportError) -> bool:
        if self.safe:
            return True
        return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)

    def retryable_status(self, status: int, policy: RetryPolicy) -> bool:
        if self.safe:
            return status in policy.statuses
        return status == 503


class _Attempts:
    """The retry bookkeeping shared by the sync and async loops."""

    def __init__(self, call: Call, policy: RetryPolicy) -> None:
        self.call = call
        self.policy = policy
        self.attempt = 0
        self.refreshed_token = False

    def next(self) -> bool:
        self.attempt += 1
        return self.attempt <= self.policy.attempts

    def on_error(self, exc: httpx.TransportError) -> float:
        """Seconds to wait before trying again, or raise."""
        if self.attempt >= self.policy.attempts or not self.call.retryable_error(exc):
            raise AltinnConnectionError(f"{self.call.method} {self.call.url}: {exc!r}") from exc
        return self.policy.delay(self.attempt)

    def on_response(self, response: httpx.Response, token: TokenProvider | None) -> float | None:
        """None to accept the response; else seconds to wait before trying again."""
        status = response.status_code
        if status == 401 and token is not None and self.call.auth and not self.refreshed_token:
            # A token revoked or expired early: fetch a fresh one once.
            self.refreshed_token = True
            token.invalidate()
            self.attempt -= 1
            return 0.0
        if (
            status >= 500
            and self.attempt < self.policy.attempts
            and self.call.retryable_status(status, self.policy)
        ):
            return self.policy.delay(self.attempt, response)
        return None


def send(
    client: httpx.Client,
    call: Call,
    policy: RetryPolicy,
    token: TokenProvider | None = None,
    *,
    stream: bool = False,
) -> httpx.Response:
    """Send with retries; raise :class:`AltinnHTTPError` for a final non-2xx response.

    With ``stream=True`` the body of a 2xx response is left unread (close it).
    """
    attempts = _Attempts(call, policy)
    while attempts.next():
        try:
            bearer = token.token(client) if token is not None and call.auth else None
            response = client.send(call.build(client, bearer, False), stream=stream)
        except httpx.TransportError as exc:
            time.sleep(attempts.on_error(exc))
            continue
        wait = attempts.on_response(response, token)
        if wait is not None:
            response.close()
            time.sleep(wait)
            continue
        if response.is_error:
            response.read()
            response.close()
            raise error_from_response(response)
        return response
    raise AssertionError("unreachable: the last attempt returns or raises")


async def asend(
    client: httpx.AsyncClient,
    call: Call,
    policy: RetryPolicy,
    token: TokenProvider | None = None,
    *,
    stream: bool = False,
) -> httpx.Response:
    """The async :func:`send`."""
    attempts = _Attempts(call, policy)
    while attempts.next():
        try:
            bearer = await token.atoken(client) if token is not None and call.auth else None
            response = await client.send(call.build(client, bearer, True), stream=stream)
        except httpx.TransportError as exc:
            await asyncio.sleep(attempts.on_error(exc))
            continue
        wait = attempts.on_response(response, token)
        if wait is not None:
            await response.aclose()
            await asyncio.sleep(wait)
            continue
        if response.is_error:
            await response.aread()
            await response.aclose()
            raise error_from_response(response)
        return response
    raise AssertionError("unreachable: the last attempt returns or raises")


class _ClientBase:
    def __init__(
        self,
        base_url: str,
        token: TokenProvider | None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_provider = token
        self.retry = retry or RetryPolicy()
        self.timeout = timeout


class SyncClientBase(_ClientBase):
    """Holds an ``httpx.Client`` (yours, or one it opens and closes)."""

    def __init__(
        self,
        base_url: str,
        token: TokenProvider | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__(base_url, token, retry=retry, timeout=timeout)
        self._own = http is None
        self.http = http or httpx.Client(timeout=timeout)

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: Call) -> httpx.Response:
        return send(self.http, call, self.retry, self.token_provider)

    @contextlib.contextmanager
    def _stream(self, call: Call) -> Iterator[httpx.Response]:
        response = send(self.http, call, self.retry, self.token_provider, stream=True)
        try:
            yield response
        finally:
            response.close()


class AsyncClientBase(_ClientBase):
    """Holds an ``httpx.AsyncClient`` (yours, or one it opens and closes)."""

    def __init__(
        self,
        base_url: str,
        token: TokenProvider | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(base_url, token, retry=retry, timeout=timeout)
        self._own = http is None
        self.http = http or httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        if self._own:
            await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, call: Call) -> httpx.Response:
        return await asend(self.http, call, self.retry, self.token_provider)

    @contextlib.asynccontextmanager
    async def _stream(self, call: Call) -> AsyncIterator[httpx.Response]:
        response = await asend(self.http, call, self.retry, self.token_provider, stream=True)
        try:
            yield response
        finally:
            await response.aclose()
