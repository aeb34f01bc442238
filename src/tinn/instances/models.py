"""Wire models of instances and data elements, shared by the App API and the Storage API.

Field order is the order Altinn writes (derived-class fields first, then the ChangableElement
fields created/createdBy/lastChanged/lastChangedBy). The App API writes nulls and numeric enums
(System.Text.Json); the Storage API drops nulls and writes `readStatus` as a string (Newtonsoft):
see :func:`storage_json`.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from tinn.timeutil import parse_iso, to_iso


def _parse_datetime(value: Any) -> Any:
    if isinstance(value, str):
        return parse_iso(value)
    return value


IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_parse_datetime),
    PlainSerializer(to_iso, return_type=str, when_used="json"),
]


class Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        validate_assignment=False,
        extra="ignore",
    )


class ReadStatus(IntEnum):
    Unread = 0
    Read = 1
    UpdatedSinceLastReview = 2


class FileScanResult(StrEnum):
    NotApplicable = "NotApplicable"
    Pending = "Pending"
    Clean = "Clean"
    Infected = "Infected"


class ResourceLinks(Wire):
    apps: str | None = None
    platform: str | None = None


class InstanceOwner(Wire):
    party_id: str | None = None
    person_number: str | None = None
    organisation_number: str | None = None
    username: str | None = None
    external_identifier: str | None = None


class Substatus(Wire):
    label: str | None = None
    description: str | None = None


class InstanceStatus(Wire):
    is_archived: bool = False
    archived: IsoDateTime | None = None
    is_soft_deleted: bool = False
    soft_deleted: IsoDateTime | None = None
    is_hard_deleted: bool = False
    hard_deleted: IsoDateTime | None = None
    read_status: ReadStatus = ReadStatus.Read
    substatus: Substatus | None = None


class ValidationStatus(Wire):
    timestamp: IsoDateTime | None = None
    can_complete_task: bool = False


class ProcessElementInfo(Wire):
    flow: int | None = None
    started: IsoDateTime | None = None
    element_id: str | None = None
    name: str | None = None
    altinn_task_type: str | None = None
    ended: IsoDateTime | None = None
    validated: ValidationStatus | None = None
    flow_type: str | None = None


class ProcessState(Wire):
    started: IsoDateTime | None = None
    start_event: str | None = None
    current_task: ProcessElementInfo | None = None
    ended: IsoDateTime | None = None
    end_event: str | None = None


class CompleteConfirmation(Wire):
    stakeholder_id: str | None = None
    confirmed_on: IsoDateTime


class DeleteStatus(Wire):
    is_hard_deleted: bool = False
    hard_deleted: IsoDateTime | None = None


class Reference(Wire):
    value: str | None = None
    relation: str | None = None  # "GeneratedFrom"
    value_type: str | None = None  # "DataElement" | "Task"


class KeyValueEntry(Wire):
    key: str | None = None
    value: str | None = None


class DataElement(Wire):
    id: str
    instance_guid: str
    data_type: str
    filename: str | None = None
    content_type: str | None = None
    blob_storage_path: str | None = None
    self_links: ResourceLinks | None = None
    size: int = 0
    content_hash: str | None = None
    locked: bool = False
    refs: list[str] | None = None
    is_read: bool = True
    tags: list[str] = Field(default_factory=list)
    user_defined_metadata: list[KeyValueEntry] | None = None
    metadata: list[KeyValueEntry] | None = None
    delete_status: DeleteStatus | None = None
    file_scan_result: FileScanResult = FileScanResult.NotApplicable
    references: list[Reference] | None = None
    created: IsoDateTime | None = None
    created_by: str | None = None
    last_changed: IsoDateTime | None = None
    last_changed_by: str | None = None


class Instance(Wire):
    id: str | None = None
    instance_owner: InstanceOwner = Field(default_factory=InstanceOwner)
    app_id: str | None = None
    org: str | None = None
    self_links: ResourceLinks | None = None
    due_before: IsoDateTime | None = None
    visible_after: IsoDateTime | None = None
    process: ProcessState | None = None
    status: InstanceStatus = Field(default_factory=InstanceStatus)
    complete_confirmations: list[CompleteConfirmation] | None = None
    data: list[DataElement] | None = None
    presentation_texts: dict[str, str] | None = None
    data_values: dict[str, str] | None = None
    created: IsoDateTime | None = None
    created_by: str | None = None
    last_changed: IsoDateTime | None = None
    last_changed_by: str | None = None


class PartyResponse(Wire):
    party_id: int
    party_uuid: str | None = None
    party_type_name: int
    ssn: str | None = None
    org_number: str | None = None
    unit_type: str | None = None
    name: str | None = None
    is_deleted: bool = False


class InstanceOwnerResponse(InstanceOwner):
    party: PartyResponse | None = None


class InstanceResponse(Instance):
    """GET/POST instance responses of the App API: the owner carries the party object."""

    instance_owner: InstanceOwnerResponse = Field(default_factory=InstanceOwnerResponse)


class SimpleInstance(Wire):
    id: str
    presentation_texts: dict[str, str] | None = None
    due_before: IsoDateTime | None = None
    last_changed: IsoDateTime | None = None
    last_changed_by: str | None = None


def app_json(model: BaseModel) -> dict[str, Any]:
    """App API form: camelCase, nulls written, numeric enums."""
    return model.model_dump(mode="json", by_alias=True)


_STORAGE_READ_STATUS = {0: "Unread", 1: "Read", 2: "UpdatedSinceLastReview"}


def storage_json(value: Any) -> Any:
    """Storage API form of an app-form JSON value: nulls dropped, readStatus as its name."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            if key == "readStatus" and isinstance(item, int):
                out[key] = _STORAGE_READ_STATUS.get(item, item)
            else:
                out[key] = storage_json(item)
        return out
    if isinstance(value, list):
        return [storage_json(item) for item in value]
    return value


class PlatformUser(Wire):
    user_id: int | None = None
    org_id: str | None = None
    authentication_level: int = 0
    end_user_system_id: int | None = None
    national_identity_number: str | None = None
    system_user_id: str | None = None
    system_user_owner_org_no: str | None = None
    system_user_name: str | None = None


class InstanceEvent(Wire):
    id: str | None = None
    instance_id: str | None = None
    data_id: str | None = None
    created: IsoDateTime | None = None
    event_type: str | None = None
    instance_owner_party_id: str | None = None
    user: PlatformUser | None = None
    related_user: PlatformUser | None = None
    process_info: ProcessState | None = None
    additional_info: str | None = None
