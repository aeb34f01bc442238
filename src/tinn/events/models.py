"""Wire shapes of the Events API: CloudEvents, subscriptions and deliveries (platform notes 4.1-4.3).

CloudEvents travel as plain dicts in CloudEvents' structured JSON form (lower-case attribute
names, extension attributes flat); they are validated here and always written in the canonical
attribute order. Subscriptions and deliveries are rendered the way Altinn's System.Text.Json
writes them: camelCase, nulls omitted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from tinn.timeutil import parse_iso, to_iso

SPEC_VERSION = "1.0"
RESOURCE_PREFIX = "urn:altinn:resource:"
APP_RESOURCE_PREFIX = "urn:altinn:resource:app_"
VALIDATION_TYPE = "platform.events.validatesubscription"

# Lower-case URNs only, as Altinn's validator: `urn:{nid}:{part}[:{part}...]`.
_URN = re.compile(r"urn:[a-z0-9][a-z0-9-]{0,31}(?::[a-z0-9()+,.;=@$_!*'%/~-]{1,200}){1,20}")
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_CONTEXT_ATTRIBUTES = ("specversion", "id", "source", "type")
# Attribute order of every CloudEvent Tinn writes; extensions follow in their own order.
_ORDER = (
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "resource",
    "resourceinstance",
    "alternativesubject",
    "datacontenttype",
    "dataschema",
)
MAX_EVENT_ID = 200
MAX_EVENT_TYPE = 300


class EventValidationError(ValueError):
    """A CloudEvent that cannot be accepted; ``errors`` maps attribute names to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def is_valid_urn(value: object) -> bool:
    return isinstance(value, str) and _URN.fullmatch(value) is not None


def is_absolute_uri(value: object) -> bool:
    if not isinstance(value, str) or not value or value != value.strip():
        return False
    parts = urlsplit(value)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme.lower() == "urn")


def app_resource(org: str, app: str) -> str:
    return f"{APP_RESOURCE_PREFIX}{org}_{app}"


def ordered(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event with its attributes in canonical order (JSONB does not keep key order)."""
    result = {name: event[name] for name in _ORDER if name in event}
    for name, value in event.items():
        if name not in result and name != "data":
            result[name] = value
    if "data" in event:
        result["data"] = event["data"]
    return result


def parse_cloud_event(body: object, *, now: datetime) -> dict[str, Any]:
    """Validate a generic CloudEvent (``POST /events``); ``time`` defaults to ``now``.

    Required: ``specversion`` 1.0, ``id``, ``source`` (URI), ``type`` and Altinn's ``resource``
    extension (a lower-case URN). Extension attributes must be CloudEvents names with scalar values.
    """
    if not isinstance(body, dict):
        raise EventValidationError({"$": ["The request body must be a CloudEvent JSON object."]})
    errors: dict[str, list[str]] = {}
    event: dict[str, Any] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for raw_name, value in body.items():
        name = raw_name
        if name in ("data", "data_base64"):
            event[name] = value
            continue
        if not isinstance(name, str) or _EXTENSION_NAME.fullmatch(name) is None:
            fail(str(name), "Attribute names are 1-20 lower-case letters or digits.")
            continue
        if value is None:
            continue
        if not isinstance(value, str | int | bool) or isinstance(value, float):
            fail(name, "Attribute values must be strings, integers or booleans.")
            continue
        event[name] = value
    for name in _CONTEXT_ATTRIBUTES:
        value = event.get(name)
        if not isinstance(value, str) or not value.strip():
            fail(name, f"The '{name}' attribute is required.")
    if isinstance(event.get("specversion"), str) and event["specversion"] != SPEC_VERSION:
        fail("specversion", "Only CloudEvents 1.0 is supported.")
    if isinstance(event.get("id"), str) and len(event["id"]) > MAX_EVENT_ID:
        fail("id", f"At most {MAX_EVENT_ID} characters.")
    if isinstance(event.get("type"), str) and len(event["type"]) > MAX_EVENT_TYPE:
        fail("type", f"At most {MAX_EVENT_TYPE} characters.")
    source = event.get("source")
    if isinstance(source, str) and source.strip() and not is_absolute_uri(source):
        fail("source", "The source must be an absolute URI or a URN.")
    resource = event.get("resource")
    if resource is None:
        fail("resource", "The 'resource' attribute is required.")
    elif not is_valid_urn(resource):
        fail("resource", "The resource must be a valid lower-case URN, e.g. urn:altinn:resource:my-resource.")
    for name in ("subject", "alternativesubject", "resourceinstance", "datacontenttype", "dataschema"):
        if name in event and not isinstance(event[name], str):
            fail(name, "Must be a string.")
    if "data" in event and "data_base64" in event:
        fail("data", "Give either data or data_base64, not both.")
    time = event.get("time")
    if time is None:
        event["time"] = to_iso(now)
    elif not isinstance(time, str):
        fail("time", "Must be an RFC 3339 timestamp.")
    else:
        try:
            parse_iso(time)
        except ValueError:
            fail("time", "Must be an RFC 3339 timestamp.")
        else:
            if not _has_offset(time):
                fail("time", "The time must specify its offset, e.g. 2024-05-02T10:11:12Z.")
    if errors:
        raise EventValidationError(errors)
    return ordered(event)


def _has_offset(text: str) -> bool:
    value = text.strip()
    if value.endswith(("Z", "z")):
        return True
    tail = value[10:]
    return "+" in tail or "-" in tail


def parse_time_with_offset(text: str) -> datetime | None:
    """A query date-time that must carry an offset; None when it has none. ValueError when unreadable."""
    parsed = parse_iso(text)
    return parsed if _has_offset(text) else None


# -- subscriptions ---------------------------------------------------------------------------------


def subscription_json(row: Any, *, secret: str | None = None) -> dict[str, Any]:
    """Altinn's ``Subscription`` (nulls omitted), plus ``secret`` when just created."""
    body: dict[str, Any] = {"id": row.id, "endPoint": row.endpoint}
    optional = {
        "sourceFilter": row.source_filter,
        "resourceFilter": row.resource_filter,
        "subjectFilter": row.subject_filter,
        "alternativeSubjectFilter": row.alternative_subject_filter,
        "typeFilter": row.type_filter,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    body["includeSubunits"] = row.include_subunits
    body["consumer"] = row.consumer
    body["createdBy"] = row.created_by
    body["created"] = to_iso(row.created)
    body["validated"] = row.validated
    if secret is not None:
        body["secret"] = secret
    return body


def delivery_json(row: Any, attempts: list[Any]) -> dict[str, Any]:
    """One delivery with its attempt log (Tinn's delivery log)."""
    body: dict[str, Any] = {
        "id": row.id,
        "subscriptionId": row.subscription_id,
        "kind": row.kind,
        "eventId": row.event_id,
        "eventType": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "created": to_iso(row.created),
    }
    if row.status == "pending":
        body["nextAttempt"] = to_iso(row.next_attempt_at)
    optional = {
        "lastAttempt": to_iso(row.last_attempt_at) if row.last_attempt_at else None,
        "lastStatusCode": row.last_status_code,
        "lastError": row.last_error,
        "finished": to_iso(row.finished_at) if row.finished_at else None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    body["attemptLog"] = [attempt_json(attempt) for attempt in attempts]
    body["cloudEvent"] = ordered(row.document)
    return body


def attempt_json(row: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "attempt": row.attempt,
        "started": to_iso(row.started),
        "latencyMs": round(row.latency_us / 1000, 3),
    }
    if row.status_code is not None:
        body["statusCode"] = row.status_code
    if row.error is not None:
        body["error"] = row.error
    body["worker"] = row.worker
    return body
