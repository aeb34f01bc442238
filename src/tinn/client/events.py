"""The Events API (``{platform}/events/api/v1``): subscriptions, the app event feed, signatures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from tinn.client.http import AsyncClientBase, Call, SyncClientBase
from tinn.client.tokens import TokenProvider
from tinn.events.signing import WebhookVerificationError, verify_signature

PREFIX = "/events/api/v1"
VALIDATION_TYPE = "platform.events.validatesubscription"
COMPLETED_TYPE = "app.instance.process.completed"

__all__ = [
    "COMPLETED_TYPE",
    "VALIDATION_TYPE",
    "AsyncEventsClient",
    "EventsClient",
    "WebhookVerificationError",
    "verify_signature",
]


def app_resource(org: str, app: str) -> str:
    return f"urn:altinn:resource:app_{org}_{app}"


def _next_after(response: httpx.Response) -> str | None:
    link = response.headers.get("next")
    after = httpx.URL(link).params.get("after") if link else None
    return str(after) if after else None


class _EventsCalls:
    def __init__(self, base_url: str) -> None:
        self.root = base_url.rstrip("/") + PREFIX

    def subscribe(
        self,
        endpoint: str,
        *,
        resource_filter: str | None,
        source_filter: str | None,
        type_filter: str | None,
        subject_filter: str | None,
    ) -> Call:
        body = {
            "endPoint": endpoint,
            "resourceFilter": resource_filter,
            "sourceFilter": source_filter,
            "typeFilter": type_filter,
            "subjectFilter": subject_filter,
        }
        # Creation is idempotent server-side (an identical subscription is returned), so retry it.
        return Call(
            "POST", f"{self.root}/subscriptions", json={k: v for k, v in body.items() if v is not None}
        )

    def subscriptions(self) -> Call:
        return Call("GET", f"{self.root}/subscriptions")

    def subscription(self, subscription_id: int, method: str = "GET") -> Call:
        return Call(method, f"{self.root}/subscriptions/{subscription_id}")

    def feed(self, org: str, app: str, after: str, types: list[str], size: int) -> Call:
        params = [("after", after), ("size", str(size)), *(("type", t) for t in types)]
        return Call("GET", f"{self.root}/app/{org}/{app}", params=params)


class EventsClient(SyncClientBase):
    """Events at the platform base URL."""

    def __init__(self, base_url: str, token: TokenProvider | None = None, **options: Any) -> None:
        super().__init__(base_url, token, **options)
        self._calls = _EventsCalls(base_url)

    def subscribe(
        self,
        endpoint: str,
        *,
        resource_filter: str | None = None,
        source_filter: str | None = None,
        type_filter: str | None = None,
        subject_filter: str | None = None,
    ) -> dict[str, Any]:
        """Create a webhook subscription (Tinn returns its signing ``secret`` once, when new)."""
        call = self._calls.subscribe(
            endpoint,
            resource_filter=resource_filter,
            source_filter=source_filter,
            type_filter=type_filter,
            subject_filter=subject_filter,
        )
        body: dict[str, Any] = self._send(call).json()
        return body

    def subscriptions(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._send(self._calls.subscriptions()).json()["subscriptions"]
        return items

    def get_subscription(self, subscription_id: int) -> dict[str, Any]:
        body: dict[str, Any] = self._send(self._calls.subscription(subscription_id)).json()
        return body

    def unsubscribe(self, subscription_id: int) -> None:
        self._send(self._calls.subscription(subscription_id, "DELETE"))

    def feed(
        self, org: str, app: str, *, after: str = "0", types: list[str] | None = None, size: int = 50
    ) -> Iterator[dict[str, Any]]:
        """An app's CloudEvents in order, following the ``next`` header until no more are visible."""
        while True:
            response = self._send(self._calls.feed(org, app, after, types or [], size))
            events: list[dict[str, Any]] = response.json()
            yield from events
            following = _next_after(response)
            if not events or following is None:
                return
            after = following

    @staticmethod
    def verify_signature(secret: str, headers: Any, body: bytes) -> str:
        """Check a webhook's Standard Webhooks signature; returns its id or raises."""
        return verify_signature(secret, headers, body)


class AsyncEventsClient(AsyncClientBase):
    """The async :class:`EventsClient`."""

    def __init__(self, base_url: str, token: TokenProvider | None = None, **options: Any) -> None:
        super().__init__(base_url, token, **options)
        self._calls = _EventsCalls(base_url)

    async def subscribe(
        self,
        endpoint: str,
        *,
        resource_filter: str | None = None,
        source_filter: str | None = None,
        type_filter: str | None = None,
        subject_filter: str | None = None,
    ) -> dict[str, Any]:
        call = self._calls.subscribe(
            endpoint,
            resource_filter=resource_filter,
            source_filter=source_filter,
            type_filter=type_filter,
            subject_filter=subject_filter,
        )
        body: dict[str, Any] = (await self._send(call)).json()
        return body

    async def subscriptions(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self._send(self._calls.subscriptions())).json()["subscriptions"]
        return items

    async def get_subscription(self, subscription_id: int) -> dict[str, Any]:
        body: dict[str, Any] = (await self._send(self._calls.subscription(subscription_id))).json()
        return body

    async def unsubscribe(self, subscription_id: int) -> None:
        await self._send(self._calls.subscription(subscription_id, "DELETE"))

    async def feed(
        self, org: str, app: str, *, after: str = "0", types: list[str] | None = None, size: int = 50
    ) -> AsyncIterator[dict[str, Any]]:
        while True:
            response = await self._send(self._calls.feed(org, app, after, types or [], size))
            events: list[dict[str, Any]] = response.json()
            for event in events:
                yield event
            following = _next_after(response)
            if not events or following is None:
                return
            after = following

    @staticmethod
    def verify_signature(secret: str, headers: Any, body: bytes) -> str:
        return verify_signature(secret, headers, body)
