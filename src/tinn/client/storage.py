"""The Storage API for service owners (``{platform}/storage/api/v1``): query, download, complete."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from tinn.client.http import AsyncClientBase, Call, Progress, SyncClientBase
from tinn.client.models import Instance
from tinn.client.tokens import TokenProvider

PREFIX = "/storage/api/v1/instances"
QueryValue = str | int | bool | list[str]


def _value(value: QueryValue) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _params(filters: Mapping[str, QueryValue], token: str | None, size: int | None) -> list[tuple[str, str]]:
    params = [(name, item) for name, value in filters.items() for item in _value(value)]
    if size is not None:
        params.append(("size", str(size)))
    if token:
        params.append(("continuationToken", token))
    return params


def continuation_token(page: Mapping[str, Any]) -> str | None:
    """The ``continuationToken`` of a query page's ``next`` link (None on the last page)."""
    link = page.get("next")
    if not isinstance(link, str) or not link:
        return None
    token = httpx.URL(link).params.get("continuationToken")
    return str(token) if token else None


def _instance_id(instance: Instance | str) -> str:
    return instance.id if isinstance(instance, Instance) else instance.strip("/")


class _StorageCalls:
    def __init__(self, base_url: str) -> None:
        self.root = base_url.rstrip("/") + PREFIX

    def query(self, filters: Mapping[str, QueryValue], token: str | None, size: int | None) -> Call:
        return Call("GET", self.root, params=_params(filters, token, size))

    def get(self, instance: Instance | str) -> Call:
        return Call("GET", f"{self.root}/{_instance_id(instance)}")

    def download(self, instance: Instance | str) -> Call:
        return Call("GET", f"{self.root}/{_instance_id(instance)}/download")

    def data(self, instance: Instance | str, element_id: str) -> Call:
        return Call("GET", f"{self.root}/{_instance_id(instance)}/data/{element_id}")

    def complete(self, instance: Instance | str) -> Call:
        # Confirming twice is harmless, so a lost response may be retried.
        return Call("POST", f"{self.root}/{_instance_id(instance)}/complete")


class StorageClient(SyncClientBase):
    """Storage at the platform base URL (for Altinn: ``https://platform.{env}.altinn.no``)."""

    def __init__(self, base_url: str, token: TokenProvider | None = None, **options: Any) -> None:
        super().__init__(base_url, token, **options)
        self._calls = _StorageCalls(base_url)

    def query_page(
        self, filters: Mapping[str, QueryValue], *, continuation: str | None = None, size: int | None = None
    ) -> dict[str, Any]:
        page: dict[str, Any] = self._send(self._calls.query(filters, continuation, size)).json()
        return page

    def query(self, size: int | None = None, **filters: QueryValue) -> Iterator[Instance]:
        """Every instance matching ``filters`` (Storage's query parameters), page after page.

        Dotted parameters go in as a dict: ``query(**{"appId": "ttd/soknad", "process.isComplete": True})``.
        """
        token: str | None = None
        while True:
            page = self.query_page(filters, continuation=token, size=size)
            for item in page.get("instances") or []:
                yield Instance(item)
            token = continuation_token(page)
            if token is None:
                return

    def get_instance(self, instance: Instance | str) -> Instance:
        return Instance(self._send(self._calls.get(instance)).json())

    def download_instance(
        self, instance: Instance | str, path: Path, *, progress: Progress | None = None
    ) -> str:
        """Stream the instance ZIP (instance.json, every data element, manifest.json) to ``path``.

        Returns the SHA-256 of the bytes written. The file is flushed but not renamed: where it
        ends up, and when, is the caller's choice.
        """
        digest = hashlib.sha256()
        with self._stream(self._calls.download(instance)) as response, path.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
                digest.update(chunk)
                if progress is not None:
                    progress(len(chunk))
        return digest.hexdigest()

    def get_data(self, instance: Instance | str, element_id: str) -> bytes:
        return self._send(self._calls.data(instance, element_id)).content

    def complete(self, instance: Instance | str) -> Instance:
        """Confirm the instance complete for the caller's organisation (``completeConfirmations``)."""
        return Instance(self._send(self._calls.complete(instance)).json())


class AsyncStorageClient(AsyncClientBase):
    """The async :class:`StorageClient`."""

    def __init__(self, base_url: str, token: TokenProvider | None = None, **options: Any) -> None:
        super().__init__(base_url, token, **options)
        self._calls = _StorageCalls(base_url)

    async def query_page(
        self, filters: Mapping[str, QueryValue], *, continuation: str | None = None, size: int | None = None
    ) -> dict[str, Any]:
        page: dict[str, Any] = (await self._send(self._calls.query(filters, continuation, size))).json()
        return page

    async def query(self, size: int | None = None, **filters: QueryValue) -> AsyncIterator[Instance]:
        token: str | None = None
        while True:
            page = await self.query_page(filters, continuation=token, size=size)
            for item in page.get("instances") or []:
                yield Instance(item)
            token = continuation_token(page)
            if token is None:
                return

    async def get_instance(self, instance: Instance | str) -> Instance:
        return Instance((await self._send(self._calls.get(instance))).json())

    async def download_instance(
        self, instance: Instance | str, path: Path, *, progress: Progress | None = None
    ) -> str:
        digest = hashlib.sha256()
        async with self._stream(self._calls.download(instance)) as response:
            with path.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
                    digest.update(chunk)
                    if progress is not None:
                        progress(len(chunk))
        return digest.hexdigest()

    async def get_data(self, instance: Instance | str, element_id: str) -> bytes:
        return (await self._send(self._calls.data(instance, element_id))).content

    async def complete(self, instance: Instance | str) -> Instance:
        return Instance((await self._send(self._calls.complete(instance))).json())
