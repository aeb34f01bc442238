"""The App API of one app (``{base_url}/{org}/{app}/...``): instantiate, data, validate, process, receipt."""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinn.client.errors import AltinnConnectionError, AltinnHTTPError
from tinn.client.http import (
    AsyncClientBase,
    Body,
    Call,
    FilePart,
    Progress,
    SyncClientBase,
    multipart,
)
from tinn.client.models import RECEIPT_DATA_TYPE, DataElement, Instance, ProcessState, ValidationIssue
from tinn.client.tokens import TokenProvider

InstanceRef = Instance | str
"""An :class:`Instance` or its id ``{partyId}/{instanceGuid}``."""
Content = bytes | str | Path


@dataclass(frozen=True)
class Attachment:
    """A file for a binary data type."""

    data_type: str
    content: bytes | Path
    filename: str | None = None
    content_type: str | None = None

    def resolved(self) -> tuple[str, str]:
        filename = self.filename or (self.content.name if isinstance(self.content, Path) else "file")
        content_type = self.content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return filename, content_type


def _instance_id(instance: InstanceRef) -> str:
    return instance.id if isinstance(instance, Instance) else instance.strip("/")


def _form_content(content: Content) -> tuple[bytes | Path, str]:
    """Form data and its content type: XML if it starts with ``<``, else JSON."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    if isinstance(content, bytes):
        head = content[:64]
    else:
        with content.open("rb") as handle:
            head = handle.read(64)
    kind = "application/xml" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") else "application/json"
    return content, kind


class _AppCalls:
    def __init__(self, base_url: str, org: str, app: str) -> None:
        self.org = org
        self.app = app
        self.root = f"{base_url.rstrip('/')}/{org}/{app}"

    def instance_url(self, instance: InstanceRef) -> str:
        return f"{self.root}/instances/{_instance_id(instance)}"

    def instantiate(
        self,
        party_id: int,
        data: Mapping[str, Content],
        attachments: Sequence[Attachment],
        idempotency_key: str | None,
        progress: Progress | None,
    ) -> Call:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        call = Call(
            "POST", f"{self.root}/instances", params={"instanceOwnerPartyId": party_id}, headers=headers
        )
        parts = [FilePart(data_type, *_form_content(content)) for data_type, content in data.items()]
        for attachment in attachments:
            filename, content_type = attachment.resolved()
            parts.append(FilePart(attachment.data_type, attachment.content, content_type, filename))
        if parts:
            content_type, body = multipart(parts, progress)
            call.headers["Content-Type"] = content_type
            call.content = body
        return call

    def metadata(self) -> Call:
        return Call("GET", f"{self.root}/api/v1/applicationmetadata", auth=False)

    def get(self, instance: InstanceRef) -> Call:
        return Call("GET", self.instance_url(instance))

    def put_data(self, instance: InstanceRef, element_id: str, content: Content) -> Call:
        payload, content_type = _form_content(content)
        body = Body([payload]) if isinstance(payload, Path) else payload
        return Call(
            "PUT",
            f"{self.instance_url(instance)}/data/{element_id}",
            content=body,
            headers={"Content-Type": content_type},
        )

    def upload(
        self,
        instance: InstanceRef,
        attachment: Attachment,
        progress: Progress | None,
    ) -> Call:
        filename, content_type = attachment.resolved()
        disposition = f"attachment; filename*=UTF-8''{_percent(filename)}"
        return Call(
            "POST",
            f"{self.instance_url(instance)}/data/type/{attachment.data_type}",
            content=Body([attachment.content], progress),
            headers={"Content-Type": content_type, "Content-Disposition": disposition},
            safe=False,  # creates a data element: a blind retry could add it twice
        )

    def data(self, instance: InstanceRef, element_id: str, accept: str | None = None) -> Call:
        headers = {"Accept": accept} if accept else {}
        return Call("GET", f"{self.instance_url(instance)}/data/{element_id}", headers=headers)

    def validate(self, instance: InstanceRef) -> Call:
        return Call("GET", f"{self.instance_url(instance)}/validate")

    def process(self, instance: InstanceRef) -> Call:
        return Call("GET", f"{self.instance_url(instance)}/process")

    def next(self, instance: InstanceRef, action: str | None) -> Call:
        return Call(
            "PUT",
            f"{self.instance_url(instance)}/process/next",
            json={"action": action} if action else None,
            safe=False,  # a repeated next moves twice; see AppClient.next
        )


def _percent(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _element(instance: Instance, element_id: str) -> DataElement:
    for element in instance.data:
        if element.id == element_id:
            return element
    raise KeyError(element_id)


def _receipt_id(instance: Instance) -> str:
    receipts = instance.elements(RECEIPT_DATA_TYPE)
    if not receipts:
        raise LookupError(
            f"instance {instance.id} has no {RECEIPT_DATA_TYPE} element (is the process ended?)"
        )
    return receipts[-1].id


def _issues(body: Any) -> list[ValidationIssue]:
    return [ValidationIssue.from_json(item) for item in body or [] if isinstance(item, dict)]


def _moved(before: str | None, state: ProcessState) -> bool:
    return state.ended or state.current_task != before


class AppClient(SyncClientBase):
    """The App API of ``{org}/{app}`` at ``base_url`` (for Altinn: ``https://{org}.apps.{env}.altinn.no``)."""

    def __init__(
        self, org: str, app: str, base_url: str, token: TokenProvider | None = None, **options: Any
    ) -> None:
        super().__init__(base_url, token, **options)
        self._calls = _AppCalls(base_url, org, app)

    def instantiate(
        self,
        party_id: int,
        *,
        data: Mapping[str, Content] | None = None,
        attachments: Sequence[Attachment] = (),
        idempotency_key: str | None = None,
        progress: Progress | None = None,
    ) -> Instance:
        """Create an instance (multipart with form data and files when given).

        Retried creates carry the same ``Idempotency-Key``, so they cannot create two instances.
        """
        call = self._calls.instantiate(party_id, data or {}, attachments, idempotency_key, progress)
        return Instance(self._send(call).json())

    def metadata(self) -> dict[str, Any]:
        """The app's ``applicationmetadata`` (its data types, tasks and rules)."""
        body: dict[str, Any] = self._send(self._calls.metadata()).json()
        return body

    def get_instance(self, instance: InstanceRef) -> Instance:
        return Instance(self._send(self._calls.get(instance)).json())

    def put_data(self, instance: InstanceRef, element_id: str, content: Content) -> dict[str, Any]:
        """Replace a form data element with XML or JSON (the data element, or a calculation result)."""
        body: dict[str, Any] = self._send(self._calls.put_data(instance, element_id, content)).json()
        return body

    def upload(
        self, instance: InstanceRef, attachment: Attachment, *, progress: Progress | None = None
    ) -> DataElement:
        """Add a binary data element (streamed from a file)."""
        body = self._send(self._calls.upload(instance, attachment, progress)).json()
        return _element(Instance(body["instance"]), body["newDataElementId"])

    def get_data(self, instance: InstanceRef, element_id: str, *, accept: str | None = None) -> bytes:
        """A data element's content (form data as JSON, or XML with ``accept="application/xml"``)."""
        return self._send(self._calls.data(instance, element_id, accept)).content

    def download_data(self, instance: InstanceRef, element_id: str, path: Path) -> Path:
        with self._stream(self._calls.data(instance, element_id)) as response, path.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
        return path

    def validate(self, instance: InstanceRef) -> list[ValidationIssue]:
        return _issues(self._send(self._calls.validate(instance)).json())

    def process(self, instance: InstanceRef) -> ProcessState:
        return ProcessState(self._send(self._calls.process(instance)).json())

    def next(self, instance: InstanceRef, *, action: str | None = None) -> ProcessState:
        """Move the process on; raises :class:`ConflictError` with the issues when validation fails.

        ``process/next`` is not idempotent, so after a connection lost mid-request the state is
        read back: a process that has moved on counts as moved, else the request is sent again.
        """
        before = (
            instance.current_task if isinstance(instance, Instance) else self.process(instance).current_task
        )
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return ProcessState(self._send(self._calls.next(instance, action)).json())
            except (AltinnConnectionError, AltinnHTTPError) as exc:
                if (isinstance(exc, AltinnHTTPError) and exc.status < 500) or attempt == self.retry.attempts:
                    raise
                state = self.process(instance)
                if _moved(before, state):
                    return state
        raise AssertionError("unreachable")

    def download_receipt(self, instance: InstanceRef, path: Path) -> Path:
        """Save the receipt PDF (the ``ref-data-as-pdf`` element made at the end of a data task)."""
        current = self.get_instance(instance)
        return self.download_data(current, _receipt_id(current), path)


class AsyncAppClient(AsyncClientBase):
    """The async :class:`AppClient`."""

    def __init__(
        self, org: str, app: str, base_url: str, token: TokenProvider | None = None, **options: Any
    ) -> None:
        super().__init__(base_url, token, **options)
        self._calls = _AppCalls(base_url, org, app)

    async def instantiate(
        self,
        party_id: int,
        *,
        data: Mapping[str, Content] | None = None,
        attachments: Sequence[Attachment] = (),
        idempotency_key: str | None = None,
        progress: Progress | None = None,
    ) -> Instance:
        call = self._calls.instantiate(party_id, data or {}, attachments, idempotency_key, progress)
        return Instance((await self._send(call)).json())

    async def metadata(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self._send(self._calls.metadata())).json()
        return body

    async def get_instance(self, instance: InstanceRef) -> Instance:
        return Instance((await self._send(self._calls.get(instance))).json())

    async def put_data(self, instance: InstanceRef, element_id: str, content: Content) -> dict[str, Any]:
        body: dict[str, Any] = (await self._send(self._calls.put_data(instance, element_id, content))).json()
        return body

    async def upload(
        self, instance: InstanceRef, attachment: Attachment, *, progress: Progress | None = None
    ) -> DataElement:
        body = (await self._send(self._calls.upload(instance, attachment, progress))).json()
        return _element(Instance(body["instance"]), body["newDataElementId"])

    async def get_data(self, instance: InstanceRef, element_id: str, *, accept: str | None = None) -> bytes:
        return (await self._send(self._calls.data(instance, element_id, accept))).content

    async def download_data(self, instance: InstanceRef, element_id: str, path: Path) -> Path:
        async with self._stream(self._calls.data(instance, element_id)) as response:
            with path.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
        return path

    async def validate(self, instance: InstanceRef) -> list[ValidationIssue]:
        return _issues((await self._send(self._calls.validate(instance))).json())

    async def process(self, instance: InstanceRef) -> ProcessState:
        return ProcessState((await self._send(self._calls.process(instance))).json())

    async def next(self, instance: InstanceRef, *, action: str | None = None) -> ProcessState:
        before = (
            instance.current_task
            if isinstance(instance, Instance)
            else (await self.process(instance)).current_task
        )
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return ProcessState((await self._send(self._calls.next(instance, action))).json())
            except (AltinnConnectionError, AltinnHTTPError) as exc:
                if (isinstance(exc, AltinnHTTPError) and exc.status < 500) or attempt == self.retry.attempts:
                    raise
                state = await self.process(instance)
                if _moved(before, state):
                    return state
        raise AssertionError("unreachable")

    async def download_receipt(self, instance: InstanceRef, path: Path) -> Path:
        current = await self.get_instance(instance)
        return await self.download_data(current, _receipt_id(current), path)
