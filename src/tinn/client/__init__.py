"""Tinn's Python SDK for Altinn 3: the App API, Storage, Events and token providers.

Nothing here assumes it talks to Tinn: base URLs and token sources are configuration, so the same
code runs against Altinn's test and production environments. See docs/sdk.md.
"""

from __future__ import annotations

from tinn.client.app import AppClient, AsyncAppClient, Attachment
from tinn.client.errors import (
    AltinnConnectionError,
    AltinnError,
    AltinnHTTPError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)
from tinn.client.events import AsyncEventsClient, EventsClient, WebhookVerificationError, verify_signature
from tinn.client.http import RetryPolicy
from tinn.client.models import DataElement, Instance, ProcessState, ValidationIssue
from tinn.client.storage import AsyncStorageClient, StorageClient
from tinn.client.tokens import MaskinportenToken, StaticToken, TestIdentityToken, TokenProvider

__all__ = [
    "AltinnConnectionError",
    "AltinnError",
    "AltinnHTTPError",
    "AppClient",
    "AsyncAppClient",
    "AsyncEventsClient",
    "AsyncStorageClient",
    "Attachment",
    "ConflictError",
    "DataElement",
    "EventsClient",
    "ForbiddenError",
    "Instance",
    "MaskinportenToken",
    "NotFoundError",
    "ProcessState",
    "RetryPolicy",
    "StaticToken",
    "StorageClient",
    "TestIdentityToken",
    "TokenProvider",
    "ValidationIssue",
    "WebhookVerificationError",
    "verify_signature",
]
