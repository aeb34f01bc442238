"""The CloudEvents an app publishes about its instances (platform notes 4.1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tinn.instances.models import Instance
from tinn.timeutil import to_iso

INSTANCE_CREATED = "app.instance.created"
PROCESS_COMPLETED = "app.instance.process.completed"
SUBSTATUS_CHANGED = "app.instance.substatus.changed"


def moved_to(task_id: str) -> str:
    return f"app.instance.process.movedTo.{task_id}"


def app_resource(org: str, app: str) -> str:
    return f"urn:altinn:resource:app_{org}_{app}"


def alternative_subject(instance: Instance) -> str | None:
    owner = instance.instance_owner
    if owner.organisation_number:
        return f"/org/{owner.organisation_number}"
    if owner.person_number:
        return f"/person/{owner.person_number}"
    return owner.external_identifier


def app_event(event_type: str, instance: Instance, *, source: str, time: datetime) -> dict[str, Any]:
    """An app CloudEvent: source is the instance's App API URL, subject its owner party."""
    assert instance.id is not None and instance.app_id is not None
    org, _, app = instance.app_id.partition("/")
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "subject": f"/party/{instance.instance_owner.party_id}",
        "time": to_iso(time),
        "resource": app_resource(org, app),
        "resourceinstance": instance.id,
    }
    alternative = alternative_subject(instance)
    if alternative:
        event["alternativesubject"] = alternative
    return event
