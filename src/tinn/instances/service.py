"""Instance operations shared by the Storage API and the App API (platform notes 1.2-1.7, 6.4).

Every function takes the long-lived :class:`~tinn.services.Services`, the calling
:class:`~tinn.auth.principal.Principal` and explicit arguments; none knows about HTTP. Each one
authorizes the caller as Altinn Storage does (PDP actions through the Authorizer, the
``altinn:serviceowner`` and sync-adapter scopes, org equality for substatus) and changes state
only through :func:`tinn.instances.store.change_instance`, so an instance event, the outgoing
CloudEvents and the change itself commit together.

Failures a client can cause raise :class:`StorageError` with the HTTP status Altinn answers and
its message (``None`` for an empty ``Forbid()``); each HTTP face renders it in its own error family.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from pydantic import Field
from sqlalchemy import insert, select, update

from tinn.appdef.definition import AppDefinition
from tinn.appdef.models import DataType
from tinn.auth.pdp import ResourceRef
from tinn.auth.principal import Principal
from tinn.data.elements import new_element, store_stream
from tinn.events import app_events
from tinn.instances.links import Links, instance_id
from tinn.instances.models import (
    CompleteConfirmation,
    DataElement,
    DeleteStatus,
    FileScanResult,
    Instance,
    InstanceEvent,
    InstanceStatus,
    PlatformUser,
    ProcessState,
    ReadStatus,
    Reference,
    Substatus,
    Wire,
)
from tinn.instances.store import (
    DataRecord,
    InstanceNotFound,
    InstanceRecord,
    InstanceTx,
    change_instance,
    create_instance_tx,
    insert_events,
    load_events,
    load_instance,
)
from tinn.process.bpmn import authorising_actions
from tinn.services import Services
from tinn.storage import tables
from tinn.storage.blobs.base import BlobNotFound, iterate_bytes
from tinn.timeutil import to_iso

log = structlog.get_logger("tinn.instances")

SYNC_ADAPTER_SCOPE = "altinn:storage/instances.syncadapter"
SERVICE_OWNER_SCOPE_PREFIX = "altinn:serviceowner"
INSTANCE_READ_SCOPE = "altinn:serviceowner/instances.read"
SIGNING_TASK_TYPE = "signing"
GENERATED_FROM = "GeneratedFrom"
LOCK_TOKEN_HEADER = "Altinn-Storage-Lock-Token"  # noqa: S105 - a header name
_LOCK_SECRET_BYTES = 20

# Storage's InstanceEventType names; `process/instanceandevents` accepts nothing else.
INSTANCE_EVENT_TYPES = frozenset(
    {
        "None",
        "Created",
        "Saved",
        "Submited",
        "Deleted",
        "Undeleted",
        "ConfirmedComplete",
        "SubstatusUpdated",
        "process_StartEvent",
        "process_EndEvent",
        "process_StartTask",
        "process_EndTask",
        "process_AbandonTask",
        "Signed",
        "SentToSign",
        "SentToPayment",
        "SentToSendIn",
        "SentToFormFill",
        "InstanceForwarded",
        "InstanceRightRevoked",
        "NotificationSentSms",
        "MessageArchived",
        "MessageRead",
    }
)


class StorageError(Exception):
    """A refusal the client caused: the HTTP status and Altinn's message (None: empty body)."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message


def _forbidden() -> StorageError:
    return StorageError(403)


# -- callers ---------------------------------------------------------------------------------------


def is_sync_adapter(principal: Principal) -> bool:
    return principal.has_scope(SYNC_ADAPTER_SCOPE)


def is_service_owner_mode(principal: Principal) -> bool:
    """Any ``altinn:serviceowner*`` scope (or the sync adapter): list endpoints show everything."""
    return principal.has_scope(SERVICE_OWNER_SCOPE_PREFIX, prefix=True) or is_sync_adapter(principal)


def is_app_owner(principal: Principal, instance: Instance) -> bool:
    """The token's ``urn:altinn:org`` is the instance's org (Storage's "app owner")."""
    return principal.org is not None and principal.org == instance.org


def sees_deleted_elements(principal: Principal, instance: Instance) -> bool:
    """Hard-deleted (delay-deleted) data elements stay visible to the app owner and the sync adapter."""
    return is_app_owner(principal, instance) or is_sync_adapter(principal)


def performed_by(principal: Principal) -> str:
    return principal.performed_by


def storage_user(principal: Principal) -> PlatformUser:
    """The ``user`` of an instance event Storage writes itself (platform notes 1.6)."""
    return PlatformUser(
        user_id=principal.user_id,
        org_id=principal.org,
        authentication_level=principal.auth_level,
        system_user_id=principal.system_user_id,
        system_user_owner_org_no=principal.system_user_org_number,
    )


def storage_event(
    event_type: str,
    instance: Instance,
    principal: Principal,
    now: datetime,
    *,
    data_id: str | None = None,
) -> InstanceEvent:
    return InstanceEvent(
        id=str(uuid.uuid4()),
        instance_id=instance.id,
        data_id=data_id,
        created=now,
        event_type=event_type,
        instance_owner_party_id=instance.instance_owner.party_id,
        user=storage_user(principal),
        process_info=instance.process.model_copy(deep=True) if instance.process else None,
    )


def links(services: Services) -> Links:
    settings = services.settings
    return Links(settings.effective_apps_url, settings.effective_platform_url)


# -- authorization -------------------------------------------------------------------------------

_CURRENT = object()


def resource_for(instance: Instance, task: object = _CURRENT) -> ResourceRef:
    """The PDP resource of an instance in its stored state (platform notes 6.2).

    ``task`` replaces the current task (the process authorizer evaluates a target task).
    """
    assert instance.app_id is not None
    org, _, app = instance.app_id.partition("/")
    process = instance.process
    current = process.current_task.element_id if process and process.current_task else None
    chosen = current if task is _CURRENT else task
    assert chosen is None or isinstance(chosen, str)
    end_event = process.end_event if process and chosen is None else None
    return ResourceRef(org, app, int(instance.instance_owner.party_id or 0), instance.id, chosen, end_event)


def authorize(
    services: Services, principal: Principal, action: str, instance: Instance, task: object = _CURRENT
) -> bool:
    return services.authorizer.authorize(principal, action, resource_for(instance, task))


def authorize_any(
    services: Services,
    principal: Principal,
    actions: Iterable[str],
    instance: Instance,
    task: object = _CURRENT,
) -> bool:
    resource = resource_for(instance, task)
    return any(services.authorizer.authorize(principal, action, resource) for action in actions)


def require(
    services: Services, principal: Principal, action: str, instance: Instance, *, sync_bypass: bool = True
) -> None:
    """PDP ``action`` on the stored instance (Storage's InstanceRead/Write/Delete policies)."""
    if sync_bypass and is_sync_adapter(principal):
        return
    if not authorize(services, principal, action, instance):
        raise _forbidden()


def task_actions(instance: Instance) -> tuple[str, ...]:
    """Storage's "process-task authorizer" (notes 6.4): the actions of the current task type and
    ``reject``; ``write`` or ``reject`` when there is no current task."""
    process = instance.process
    task = process.current_task if process else None
    if task is None or task.element_id is None:
        return ("write", "reject")
    return (*authorising_actions(task.altinn_task_type), "reject")


def may_update_in_task(services: Services, principal: Principal, instance: Instance) -> bool:
    """Locks, presentation texts and data values: any of :func:`task_actions` for the current task."""
    return authorize_any(services, principal, task_actions(instance), instance)


def may_move_process(
    services: Services, principal: Principal, instance: Instance, state: ProcessState
) -> bool:
    """``PUT process``: the stored current task must exist; ``AbandonCurrentMoveToNext`` needs
    ``reject``; a flow type other than ``CompleteCurrentMoveToNext`` is judged on the target task."""
    process = instance.process
    current = process.current_task if process else None
    if current is None or current.element_id is None:
        return False
    task_id: str | None = current.element_id
    task_type = current.altinn_task_type
    target = state.current_task
    if target is not None and target.flow_type == "AbandonCurrentMoveToNext":
        return authorize(services, principal, "reject", instance, task_id)
    if (
        target is not None
        and target.flow_type is not None
        and target.flow_type != "CompleteCurrentMoveToNext"
    ):
        task_id, task_type = target.element_id, target.altinn_task_type
    return authorize_any(services, principal, authorising_actions(task_type), instance, task_id)


def app_of(services: Services, instance: Instance) -> AppDefinition:
    assert instance.app_id is not None
    definition = services.apps.by_id(instance.app_id)
    if definition is None:
        raise StorageError(404, f"Cannot find application {instance.app_id} in storage")
    return definition


def data_type_of(services: Services, instance: Instance, data_type_id: str | None) -> DataType:
    definition = app_of(services, instance)
    data_type = definition.data_type(data_type_id) if data_type_id else None
    if data_type is None:
        raise StorageError(400, "Requested element type is not declared in application metadata")
    return data_type


def may_read_element(
    services: Services, principal: Principal, instance: Instance, data_type: DataType | None
) -> bool:
    """``actionRequiredToRead`` of the data type, if any (after PDP ``read`` on the instance)."""
    action = data_type.action_required_to_read if data_type else None
    return not action or authorize(services, principal, action, instance)


def require_write(services: Services, principal: Principal, instance: Instance, data_type: DataType) -> None:
    """PDP ``write`` (sync adapter bypass) and the data type's ``actionRequiredToWrite``."""
    require(services, principal, "write", instance)
    action = data_type.action_required_to_write
    if action and not authorize(services, principal, action, instance):
        raise _forbidden()


# -- loading -------------------------------------------------------------------------------------


async def load(services: Services, guid: uuid.UUID, *, with_data: bool = True) -> InstanceRecord:
    async with services.db.read() as conn:
        record = await load_instance(conn, guid, with_data=with_data)
    if record is None:
        raise StorageError(404, f"Unable to find instance {guid}.")
    return record


def visible_elements(principal: Principal, record: InstanceRecord) -> list[DataRecord]:
    return record.elements(include_hard_deleted=sees_deleted_elements(principal, record.instance))


def instance_view(principal: Principal, record: InstanceRecord) -> Instance:
    """The instance with the data elements this caller sees (ordered by ``created``)."""
    return record.full_instance(include_hard_deleted=sees_deleted_elements(principal, record.instance))


@asynccontextmanager
async def changing(
    services: Services, guid: uuid.UUID, *, expected_version: int | None = None
) -> AsyncIterator[InstanceTx]:
    """:func:`change_instance` with a missing instance as a 404 :class:`StorageError`."""
    try:
        async with change_instance(services.db, guid, expected_version=expected_version) as tx:
            yield tx
    except InstanceNotFound:
        raise StorageError(404, f"Unable to find instance {guid}.") from None


def _touch(instance: Instance, principal: Principal, now: datetime, by: str | None = None) -> None:
    instance.last_changed = now
    instance.last_changed_by = principal.performed_by if by is None else by


def _delete_blob_after_commit(tx: InstanceTx, services: Services, key: str | None) -> None:
    if not key:
        return

    async def delete() -> None:
        await services.blobs.delete(key)

    tx.after_commit(delete)


def _is_hard_deleted(element: DataElement) -> bool:
    return bool(element.delete_status and element.delete_status.is_hard_deleted)


# -- read status (platform notes 3.6) ---------------------------------------------------------------


def _unread_element_added(instance: Instance, element: DataElement) -> None:
    if not element.is_read and instance.status.read_status == ReadStatus.Read:
        instance.status.read_status = ReadStatus.UpdatedSinceLastReview


def _unread_unless_other_read(record: InstanceRecord, except_id: str | None) -> None:
    """Read -> Unread when no (other) element of the instance is read any more."""
    if record.instance.status.read_status != ReadStatus.Read:
        return
    if any(r.element.is_read for r in record.elements() if r.element.id != except_id):
        return
    record.instance.status.read_status = ReadStatus.Unread


# -- instances -------------------------------------------------------------------------------------


async def get_instance(services: Services, principal: Principal, guid: uuid.UUID) -> InstanceRecord:
    """GET an instance: PDP ``read`` (sync-adapter bypass). Render with :func:`instance_view`."""
    record = await load(services, guid)
    require(services, principal, "read", record.instance)
    return record


async def create_instance(
    services: Services, principal: Principal, app_id: str | None, template: Instance
) -> InstanceRecord:
    """Storage's ``POST /instances?appId=``: the stored instance is built from the template (notes 1.4).

    Storage starts no process: ``process`` is kept as the template has it. ``status`` is the
    template's (``readStatus`` ``Unread`` unless given) or a new one.
    """
    party = (template.instance_owner.party_id or "").strip()
    if not party:
        raise StorageError(400, "Cannot create an instance without an instanceOwner.PartyId.")
    if not party.isascii() or not party.isdigit():
        raise StorageError(400, f"instanceOwner.partyId must be a number, got {party!r}.")
    if not app_id or "/" not in app_id:
        raise StorageError(400, "App id can not be null or empty and must contain a slash")
    definition = services.apps.by_id(app_id)
    if definition is None:
        raise StorageError(404, f"Cannot find application {app_id} in storage")
    party_id = int(party)
    resource = ResourceRef(definition.org, definition.app, party_id)
    if not services.authorizer.authorize(principal, "instantiate", resource):
        raise _forbidden()

    now = services.clock.now()
    by = principal.performed_by
    if "status" in template.model_fields_set:
        status = template.status.model_copy(deep=True)
        if "read_status" not in status.model_fields_set:
            status.read_status = ReadStatus.Unread
    else:
        status = InstanceStatus(read_status=ReadStatus.Unread)
    owner = template.instance_owner.model_copy(update={"party_id": str(party_id)})
    texts = {key: value for key, value in (template.presentation_texts or {}).items() if value}
    instance = Instance(
        id=instance_id(party_id, uuid.uuid4()),
        instance_owner=owner,
        app_id=definition.id,
        org=definition.org,
        due_before=template.due_before,
        visible_after=template.visible_after or now,
        process=template.process.model_copy(deep=True) if template.process else None,
        status=status,
        data_values=dict(template.data_values) if template.data_values is not None else None,
        presentation_texts=texts or None,
        data=[],
        created=now,
        created_by=by,
        last_changed=now,
        last_changed_by=by,
    )
    async with create_instance_tx(services.db, instance) as tx:
        tx.add_event(storage_event("Created", instance, principal, now))
    log.info("instance_created", instance_id=instance.id, app=definition.id, via="storage")
    return tx.record


async def delete_instance(
    services: Services,
    principal: Principal,
    guid: uuid.UUID,
    *,
    hard: bool,
    expected_version: int | None = None,
) -> InstanceRecord:
    """Soft (``isSoftDeleted``) or hard (``isHardDeleted``) delete: flags only, purged by cleanup.

    PDP ``delete``; 403 while ``status.archived + preventInstanceDeletionForDays`` is in the future.
    """
    async with changing(services, guid, expected_version=expected_version) as tx:
        instance = tx.instance
        require(services, principal, "delete", instance, sync_bypass=False)
        definition = app_of(services, instance)
        now = services.clock.now()
        days = definition.metadata.prevent_instance_deletion_for_days
        archived = instance.status.archived
        if days and archived is not None and archived + timedelta(days=days) > now:
            raise StorageError(403, "Instance cannot be deleted yet due to application restrictions.")
        status = instance.status
        if hard:
            status.is_hard_deleted = True
            status.hard_deleted = now
            status.is_soft_deleted = True
            status.soft_deleted = status.soft_deleted or now
        else:
            status.is_soft_deleted = True
            status.soft_deleted = now
        _touch(instance, principal, now)
        tx.add_event(storage_event("Deleted", instance, principal, now))
    log.info("instance_deleted", instance_id=tx.instance.id, hard=hard)
    return tx.record


async def complete_instance(
    services: Services, principal: Principal, guid: uuid.UUID, *, expected_version: int | None = None
) -> InstanceRecord:
    """Confirm complete for the caller's org (``urn:altinn:org``); idempotent per stakeholder.

    PDP ``complete``. A repeat returns the instance unchanged (no event); the first confirmation
    by the instance's own org sets the ``confirmed`` column that ``excludeConfirmedBy`` uses.
    """
    stakeholder = principal.org
    record = await load(services, guid)
    require(services, principal, "complete", record.instance, sync_bypass=False)
    if _confirmed_by(record.instance, stakeholder):
        return record
    async with changing(services, guid, expected_version=expected_version) as tx:
        instance = tx.instance
        require(services, principal, "complete", instance, sync_bypass=False)
        if _confirmed_by(instance, stakeholder):
            return tx.record
        now = services.clock.now()
        confirmations = list(instance.complete_confirmations or [])
        confirmations.append(CompleteConfirmation(stakeholder_id=stakeholder, confirmed_on=now))
        instance.complete_confirmations = confirmations
        _touch(instance, principal, now)
        tx.add_event(storage_event("ConfirmedComplete", instance, principal, now))
    log.info("instance_confirmed", instance_id=tx.instance.id, stakeholder=stakeholder)
    return tx.record


def _confirmed_by(instance: Instance, stakeholder: str | None) -> bool:
    return any(c.stakeholder_id == stakeholder for c in instance.complete_confirmations or ())


def parse_read_status(value: str | None) -> ReadStatus:
    """``Unread``/``Read``/``UpdatedSinceLastReview`` in any case (or their numbers)."""
    text = (value or "").strip()
    for status in ReadStatus:
        if text.lower() == status.name.lower() or text == str(status.value):
            return status
    names = ", ".join(s.name for s in ReadStatus)
    raise StorageError(400, f"Invalid read status: {value}. Accepted types include: {names}")


async def set_read_status(
    services: Services, principal: Principal, guid: uuid.UUID, status: ReadStatus
) -> InstanceRecord:
    """PDP ``read``. Writes only a change; ``lastChanged`` is kept."""
    record = await load(services, guid)
    require(services, principal, "read", record.instance, sync_bypass=False)
    if record.instance.status.read_status == status:
        return record
    async with changing(services, guid) as tx:
        tx.instance.status.read_status = status
    return tx.record


async def set_substatus(
    services: Services,
    principal: Principal,
    guid: uuid.UUID,
    substatus: Substatus | None,
    *,
    expected_version: int | None = None,
) -> InstanceRecord:
    """Replace ``status.substatus``: only the instance's own org (no PDP); label required.

    Sets ``lastChanged`` and ``lastChangedBy`` (the org number), writes ``SubstatusUpdated`` and
    publishes ``app.instance.substatus.changed``, in one transaction.
    """
    if substatus is None or not substatus.label:
        shown = orjson.dumps(substatus.model_dump(by_alias=True) if substatus else None).decode()
        raise StorageError(
            400, f"Invalid sub status: {shown}. Substatus must be defined and include a label."
        )
    async with changing(services, guid, expected_version=expected_version) as tx:
        instance = tx.instance
        if not is_app_owner(principal, instance):
            raise _forbidden()
        now = services.clock.now()
        instance.status.substatus = Substatus(label=substatus.label, description=substatus.description)
        _touch(instance, principal, now, by=principal.org_number or "")
        tx.add_event(storage_event("SubstatusUpdated", instance, principal, now))
        assert instance.id is not None and instance.app_id is not None
        org, _, app = instance.app_id.partition("/")
        source = links(services).app_instance(org, app, instance.id)
        tx.publish(app_events.app_event(app_events.SUBSTATUS_CHANGED, instance, source=source, time=now))
    return tx.record


def _merge(current: Mapping[str, str] | None, changes: Mapping[str, str | None]) -> dict[str, str]:
    merged = dict(current or {})
    for key, value in changes.items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return merged


async def update_presentation_texts(
    services: Services,
    principal: Principal,
    guid: uuid.UUID,
    texts: Mapping[str, str | None] | None,
    *,
    expected_version: int | None = None,
) -> InstanceRecord:
    """Merge ``presentationTexts``: a value sets its key, an empty or null value removes it.

    Authorized by the current task's actions (or ``reject``). ``lastChanged`` is kept.
    """
    if texts is None:
        raise StorageError(400, "Missing parameter value: presentationTexts is misformed or empty")
    async with changing(services, guid, expected_version=expected_version) as tx:
        if not may_update_in_task(services, principal, tx.instance):
            raise _forbidden()
        tx.instance.presentation_texts = _merge(tx.instance.presentation_texts, texts)
    return tx.record


async def update_data_values(
    services: Services,
    principal: Principal,
    guid: uuid.UUID,
    values: Mapping[str, str | None] | None,
    *,
    expected_version: int | None = None,
) -> InstanceRecord:
    """Merge ``dataValues`` like :func:`update_presentation_texts` (sync-adapter bypass)."""
    if values is None:
        raise StorageError(400, "Missing parameter value: dataValues is misformed or empty")
    async with changing(services, guid, expected_version=expected_version) as tx:
        if not is_sync_adapter(principal) and not may_update_in_task(services, principal, tx.instance):
            raise _forbidden()
        tx.instance.data_values = _merge(tx.instance.data_values, values)
    return tx.record


# -- process ---------------------------------------------------------------------------------------


def apply_process_state(
    tx: InstanceTx, principal: Principal, state: ProcessState, now: datetime
) -> list[InstanceEvent]:
    """Replace the process; archive when ``ended`` first appears; ``SentToSign`` on entering signing.

    Returns the instance events Storage adds (already queued on ``tx``).
    """
    instance = tx.instance
    before = instance.process
    if (before is None or before.ended is None) and state.ended is not None:
        instance.status.is_archived = True
        instance.status.archived = state.ended
    previous_task = before.current_task.element_id if before and before.current_task else None
    instance.process = state
    _touch(instance, principal, now)
    added: list[InstanceEvent] = []
    task = state.current_task
    if task is not None and task.altinn_task_type == SIGNING_TASK_TYPE and task.element_id != previous_task:
        added.append(storage_event("SentToSign", instance, principal, now))
    for event in added:
        tx.add_event(event)
    return added


def validate_process_events(instance_id_value: str, events: Sequence[InstanceEvent], now: datetime) -> None:
    """``process/instanceandevents``: each event belongs to the instance and names who did it."""
    for event in events:
        if not event.instance_id or not event.instance_id.strip():
            raise StorageError(400, "Missing instance ID in InstanceEvent")
        if event.instance_id != instance_id_value:
            raise StorageError(400, "Instance ID in InstanceEvent does not match the Instance ID")
        if event.event_type not in INSTANCE_EVENT_TYPES:
            raise StorageError(400, f"Unknown instance event type: {event.event_type}")
        user = event.user
        if user is None or not (
            user.user_id is not None
            or user.org_id
            or (user.system_user_id and user.system_user_owner_org_no)
            or user.end_user_system_id is not None
        ):
            raise StorageError(
                400,
                "InstanceEvent user must have a userId, an orgId, a systemUserId with "
                "systemUserOwnerOrgNo, or an endUserSystemId",
            )
        _normalise_event(event, now)


def _normalise_event(event: InstanceEvent, now: datetime) -> None:
    if not event.id:
        event.id = str(uuid.uuid4())
    else:
        try:
            event.id = str(uuid.UUID(event.id))
        except ValueError:
            raise StorageError(400, f"Instance event id {event.id!r} is not a GUID") from None
    event.created = event.created or now


def _generated_from(element: DataElement, task_id: str) -> bool:
    return any(
        ref.relation == GENERATED_FROM and ref.value_type == "Task" and ref.value == task_id
        for ref in element.references or ()
    )


async def update_process(
    services: Services,
    principal: Principal,
    guid: uuid.UUID,
    state: ProcessState,
    events: Sequence[InstanceEvent] | None = None,
    *,
    delete_generated: bool = True,
    expected_version: int | None = None,
) -> InstanceRecord:
    """``PUT process`` (``events`` None) and ``PUT process/instanceandevents``, in one transaction.

    With ``events``, each is validated; when the new state names a current task and
    ``delete_generated`` holds, data elements generated from that task are deleted first (stale
    PDFs and signatures from an earlier visit).
    """
    async with changing(services, guid, expected_version=expected_version) as tx:
        instance = tx.instance
        assert instance.id is not None
        now = services.clock.now()
        posted = list(events or [])
        if events is not None:
            validate_process_events(instance.id, posted, now)
        if not may_move_process(services, principal, instance, state):
            raise _forbidden()
        target = state.current_task.element_id if state.current_task else None
        if events is not None and target and delete_generated:
            for data in tx.record.elements():
                if _generated_from(data.element, target):
                    tx.remove_data(data)
                    _delete_blob_after_commit(tx, services, data.blob_key)
        for event in posted:
            tx.add_event(event)
        apply_process_state(tx, principal, state, now)
    return tx.record


# -- instance events and process history ----------------------------------------------------------


async def _readable(services: Services, principal: Principal, guid: uuid.UUID) -> InstanceRecord:
    record = await load(services, guid, with_data=False)
    require(services, principal, "read", record.instance)
    return record


async def list_instance_events(
    services: Services,
    principal: Principal,
    guid: uuid.UUID,
    *,
    event_types: Sequence[str] = (),
    from_time: datetime | None = None,
    to_time: datetime | None = None,
) -> list[InstanceEvent]:
    """Events ordered by ``created``; ``from``/``to`` apply only together (PDP ``read``)."""
    await _readable(services, principal, guid)
    if from_time is None or to_time is None:
        from_time = to_time = None
    async with services.db.read() as conn:
        return await load_events(
            conn, guid, event_types=list(event_types) or None, from_time=from_time, to_time=to_time
        )


async def get_instance_event(
    services: Services, principal: Principal, guid: uuid.UUID, event_id: uuid.UUID
) -> InstanceEvent | None:
    await _readable(services, principal, guid)
    events = tables.instance_events
    async with services.db.read() as conn:
        row = (
            await conn.execute(
                select(events.c.document).where(events.c.instance_guid == guid, events.c.id == event_id)
            )
        ).first()
    return None if row is None else InstanceEvent.model_validate(row.document)


async def add_instance_event(
    services: Services, principal: Principal, guid: uuid.UUID, event: InstanceEvent | None
) -> InstanceEvent:
    """``POST events``: authorized by PDP ``read`` (as Altinn); ``id``/``created`` default to new/now.

    The event must name this instance (Tinn refuses events for another instance: 400).
    """
    if event is None or event.instance_id is None:
        raise StorageError(
            400, "Missing parameter values: instance event must exist and instanceId must be set"
        )
    try:
        record = await load(services, guid, with_data=False)
    except StorageError:
        raise StorageError(
            400, f"Didn't find the object that the instanceEvent is related to, instanceId={guid}"
        ) from None
    require(services, principal, "read", record.instance)
    assert record.instance.id is not None
    if event.instance_id.rpartition("/")[2].lower() != str(guid):
        raise StorageError(400, "Instance ID in InstanceEvent does not match the Instance ID")
    event.instance_id = record.instance.id
    _normalise_event(event, services.clock.now())
    assert event.id is not None
    events = tables.instance_events
    async with services.db.write() as conn:
        exists = await conn.execute(select(events.c.internal_id).where(events.c.id == uuid.UUID(event.id)))
        if exists.first() is not None:
            raise StorageError(409, f"An instance event with id {event.id} already exists")
        await insert_events(conn, [event])
    return event


def _history_performed_by(user: PlatformUser | None) -> str:
    if user is None:
        return ""
    return user.national_identity_number or user.org_id or user.system_user_owner_org_no or ""


def process_history_items(events: Iterable[InstanceEvent]) -> list[dict[str, Any]]:
    """``process/history`` items from the process events (platform notes 1.6).

    A task's start and end are matched to the latest item for the same element, so a task
    visited twice gets two items.
    """
    items: list[dict[str, Any]] = []

    def latest(element_id: str | None) -> dict[str, Any] | None:
        return next((item for item in reversed(items) if item["elementId"] == element_id), None)

    for event in events:
        info = event.process_info
        task = info.current_task if info else None
        by = _history_performed_by(event.user)
        kind = event.event_type
        if kind == "process_StartEvent":
            occured = (info.started if info else None) or event.created
            items.append(_history(kind, info.start_event if info else None, by, occured=occured))
        elif kind == "process_EndEvent":
            items.append(
                _history(kind, info.end_event if info else None, by, occured=info.ended if info else None)
            )
        elif kind == "process_StartTask":
            element_id = task.element_id if task else None
            existing = latest(element_id)
            if existing is not None:
                existing["started"] = event.created
            else:
                started = (info.started if info else None) or event.created
                items.append(_history(kind, element_id, by, occured=started, started=started))
        elif kind == "process_EndTask":
            element_id = task.element_id if task else None
            existing = latest(element_id)
            if existing is not None:
                existing["ended"] = event.created
            else:
                ended = (info.ended if info else None) or event.created
                items.append(_history(kind, element_id, by, occured=ended, ended=ended))
    return items


def _history(
    event_type: str | None,
    element_id: str | None,
    performed: str,
    *,
    occured: datetime | None,
    started: datetime | None = None,
    ended: datetime | None = None,
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "elementId": element_id,
        "occured": occured,
        "started": started,
        "ended": ended,
        "performedBy": performed,
    }


async def readable_record(services: Services, principal: Principal, guid: uuid.UUID) -> InstanceRecord:
    """The instance (without data) after PDP ``read`` (sync-adapter bypass): events, history."""
    return await _readable(services, principal, guid)


async def process_history(services: Services, record: InstanceRecord) -> dict[str, Any]:
    """``{"processHistory": [...]}`` of an instance the caller may read, times as ISO text.

    Every member is present (null where unknown), as the App API writes it; the Storage face
    drops the nulls.
    """
    async with services.db.read() as conn:
        events = await load_events(conn, record.guid)
    items = process_history_items(e for e in events if (e.event_type or "").startswith("process"))
    rendered = [
        {key: to_iso(value) if isinstance(value, datetime) else value for key, value in item.items()}
        for item in items
    ]
    return {"processHistory": rendered}


# -- instance locks (platform notes 1.7) ------------------------------------------------------------


def make_lock_token(lock_id: int, secret: bytes) -> str:
    payload = orjson.dumps({"id": lock_id, "secret": base64.b64encode(secret).decode()})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def parse_lock_token(token: str) -> tuple[int, bytes]:
    """(lock row id, secret); :class:`StorageError` 400 when the token is not one of ours."""
    try:
        text = token.strip()
        payload = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        lock_id = payload["id"]
        secret = base64.b64decode(payload["secret"], validate=True)
        if isinstance(lock_id, bool) or not isinstance(lock_id, int) or not secret:
            raise ValueError("bad token")
    except (ValueError, TypeError, KeyError, binascii.Error, orjson.JSONDecodeError):
        raise StorageError(400, "Could not parse lock token.") from None
    return lock_id, secret


def _hash_secret(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


async def _locked_instance_row(conn: Any, guid: uuid.UUID, party_id: int) -> tuple[int, Instance]:
    instances = tables.instances
    query = select(instances.c.internal_id, instances.c.document).where(instances.c.id == guid)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise StorageError(404, "Instance not found.")
    instance = Instance.model_validate(row.document)
    if instance.instance_owner.party_id != str(party_id):
        raise StorageError(404, "Instance not found.")
    return int(row.internal_id), instance


async def acquire_instance_lock(
    services: Services, principal: Principal, party_id: int, guid: uuid.UUID, ttl_seconds: int
) -> str:
    """``POST lock``: a lock token when no unexpired lock is held (409 otherwise).

    The secret (20 random bytes) is returned once inside the token; only its SHA-256 is stored.
    Locks are advisory: no other endpoint checks them.
    """
    if ttl_seconds < 0:
        raise StorageError(400, "TtlSeconds cannot be negative.")
    locks = tables.instance_locks
    async with services.db.write() as conn:
        internal_id, instance = await _locked_instance_row(conn, guid, party_id)
        if not may_update_in_task(services, principal, instance):
            raise StorageError(403, "Not authorized to acquire instance lock.")
        now = services.clock.now()
        held = await conn.execute(
            select(locks.c.internal_id)
            .where(locks.c.instance_internal_id == internal_id, locks.c.locked_until > now)
            .limit(1)
        )
        if held.first() is not None:
            raise StorageError(409, "Lock is already held for this instance.")
        secret = secrets.token_bytes(_LOCK_SECRET_BYTES)
        result = await conn.execute(
            insert(locks).values(
                instance_internal_id=internal_id,
                locked_at=now,
                locked_until=now + timedelta(seconds=ttl_seconds),
                locked_by=principal.performed_by,
                secret_hash=_hash_secret(secret),
            )
        )
        lock_id = int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    return make_lock_token(lock_id, secret)


async def update_instance_lock(
    services: Services, party_id: int, guid: uuid.UUID, token: str | None, ttl_seconds: int
) -> None:
    """``PATCH lock``: extend (or with 0 release) a lock held by whoever has the token."""
    if not token or not token.strip():
        raise StorageError(400, f"{LOCK_TOKEN_HEADER} header is missing.")
    lock_id, secret = parse_lock_token(token)
    if ttl_seconds < 0:
        raise StorageError(400, "TtlSeconds cannot be negative.")
    locks = tables.instance_locks
    async with services.db.write() as conn:
        internal_id, _ = await _locked_instance_row(conn, guid, party_id)
        row = (
            await conn.execute(
                select(locks.c.secret_hash, locks.c.locked_until).where(
                    locks.c.internal_id == lock_id, locks.c.instance_internal_id == internal_id
                )
            )
        ).first()
        if row is None:
            raise StorageError(404, "Lock not found.")
        if not secrets.compare_digest(bytes(row.secret_hash), _hash_secret(secret)):
            raise StorageError(403, "Lock token is invalid.")
        now = services.clock.now()
        if row.locked_until <= now:
            raise StorageError(422, "Lock has expired.")
        await conn.execute(
            update(locks)
            .where(locks.c.internal_id == lock_id)
            .values(locked_until=now + timedelta(seconds=ttl_seconds))
        )


# -- data elements (platform notes 1.5) ------------------------------------------------------------


def _element_of(record: InstanceRecord, data_guid: uuid.UUID) -> DataRecord:
    data = record.element(str(data_guid))
    if data is None:
        raise StorageError(404, f"Unable to find any data element with id: {data_guid}.")
    return data


async def list_data_elements(services: Services, principal: Principal, guid: uuid.UUID) -> list[DataElement]:
    """``GET dataelements``: PDP ``read``; hard-deleted elements only for the app owner."""
    record = await load(services, guid)
    require(services, principal, "read", record.instance, sync_bypass=False)
    return [r.element for r in visible_elements(principal, record)]


@dataclass
class DataDownload:
    """What ``GET data/{d}`` streams: the element's metadata and its current blob."""

    instance: Instance
    element: DataElement
    blob_key: str | None


async def open_data_element(
    services: Services, principal: Principal, guid: uuid.UUID, data_guid: uuid.UUID
) -> DataDownload:
    """Authorize a download: PDP ``read`` and ``actionRequiredToRead``; a hard-deleted element is
    404 for everyone but the app owner. A non-owner download marks the element read."""
    record = await load(services, guid)
    instance = record.instance
    require(services, principal, "read", instance, sync_bypass=False)
    data = _element_of(record, data_guid)
    data_type = data_type_of(services, instance, data.element.data_type)
    if not may_read_element(services, principal, instance, data_type):
        raise _forbidden()
    owner = is_app_owner(principal, instance)
    if _is_hard_deleted(data.element) and not owner:
        raise StorageError(404)
    if not data.element.is_read and not owner:
        async with changing(services, guid) as tx:
            current = tx.record.element(str(data_guid))
            if current is not None and not current.element.is_read:
                current.element.is_read = True
                tx.mark_dirty(current)
        data = _element_of(tx.record, data_guid)
    return DataDownload(instance, data.element, data.blob_key)


async def _discard(services: Services, stored: DataRecord) -> None:
    if stored.blob_key:
        await services.blobs.delete(stored.blob_key)


async def _store_upload(
    services: Services, instance: Instance, element: DataElement, content: AsyncIterable[bytes]
) -> DataRecord:
    return await store_stream(services.blobs, instance, element, content)


async def create_data_element(
    services: Services,
    principal: Principal,
    guid: uuid.UUID,
    *,
    data_type: str | None,
    content_type: str | None,
    filename: str | None,
    content: AsyncIterable[bytes],
    refs: Sequence[str] | None = None,
    generated_from_task: str | None = None,
) -> DataRecord:
    """``POST data?dataType=``: stream the content to a new blob, then add the element.

    Storage does not enforce the data type's content types, sizes or counts (the app does);
    an empty body is refused (400). Uploads by the app owner are unread (``isRead=false``).
    """
    if not data_type:
        raise StorageError(
            400, "Missing parameter values: instanceId, elementType or attached file content cannot be null"
        )
    record = await load(services, guid)
    instance = record.instance
    definition_type = data_type_of(services, instance, data_type)
    require_write(services, principal, instance, definition_type)
    now = services.clock.now()
    element = new_element(
        instance,
        definition_type.id,
        content_type=content_type,
        filename=filename,
        performed_by=principal.performed_by,
        now=now,
        by_app_owner=is_app_owner(principal, instance),
        file_scan=definition_type.enable_file_scan,
        generated_from_task=generated_from_task,
    )
    element.refs = list(refs) if refs else None
    stored = await _store_upload(services, instance, element, content)
    try:
        if stored.element.size == 0:
            raise StorageError(400, "Empty stream provided. Cannot persist data.")
        async with changing(services, guid) as tx:
            tx.add_data(stored)
            _unread_element_added(tx.instance, stored.element)
            _touch(tx.instance, principal, now)
            tx.add_event(storage_event("Created", tx.instance, principal, now, data_id=stored.element.id))
    except BaseException:
        await _discard(services, stored)
        raise
    log.info("data_element_created", instance_id=instance.id, data_id=element.id, size=element.size)
    return stored


async def overwrite_data_element(
    services: Services,
    principal: Principal,
    guid: uuid.UUID,
    data_guid: uuid.UUID,
    *,
    content_type: str | None,
    filename: str | None,
    content: AsyncIterable[bytes],
    refs: Sequence[str] | None = None,
    generated_from_task: str | None = None,
) -> DataRecord:
    """``PUT data/{d}``: a new blob for the element (409 when locked or deleted, 422 when empty).

    The old blob is deleted after the commit; ``blobStoragePath`` on the wire stays the same.
    """
    record = await load(services, guid)
    instance = record.instance
    data = _element_of(record, data_guid)
    definition_type = data_type_of(services, instance, data.element.data_type)
    require_write(services, principal, instance, definition_type)
    _check_writable(data.element, data_guid)
    owner = is_app_owner(principal, instance)
    draft = data.element.model_copy(deep=True)
    draft.content_type = content_type
    stored = await _store_upload(services, instance, draft, content)
    try:
        if stored.element.size == 0:
            raise StorageError(422, "Could not process attached file")
        now = services.clock.now()
        async with changing(services, guid) as tx:
            current = _element_of(tx.record, data_guid)
            _check_writable(current.element, data_guid)
            element = current.element
            old_key = current.blob_key
            element.content_type = content_type
            element.filename = filename
            element.last_changed = now
            element.last_changed_by = principal.performed_by
            element.refs = list(refs) if refs else None
            element.references = (
                [Reference(value=generated_from_task, relation=GENERATED_FROM, value_type="Task")]
                if generated_from_task
                else None
            )
            element.size = stored.element.size
            element.content_hash = stored.element.content_hash
            element.file_scan_result = (
                FileScanResult.Pending if definition_type.enable_file_scan else FileScanResult.NotApplicable
            )
            if owner:
                element.is_read = False
                _unread_unless_other_read(tx.record, element.id)
            current.blob_key = stored.blob_key
            tx.mark_dirty(current)
            _touch(tx.instance, principal, now)
            tx.add_event(storage_event("Saved", tx.instance, principal, now, data_id=element.id))
            _delete_blob_after_commit(tx, services, old_key)
    except BaseException:
        await _discard(services, stored)
        raise
    return current


def _check_writable(element: DataElement, data_guid: uuid.UUID) -> None:
    if element.locked:
        raise StorageError(409, f"Data element {data_guid} is locked and cannot be updated")
    if _is_hard_deleted(element):
        raise StorageError(409, f"Data element {data_guid} is deleted and cannot be updated")


async def update_data_element_metadata(
    services: Services, principal: Principal, guid: uuid.UUID, data_guid: uuid.UUID, body: DataElement
) -> DataRecord:
    """``PUT dataelements/{d}``: writes exactly locked, refs, references, tags,
    userDefinedMetadata, metadata, deleteStatus, lastChanged and lastChangedBy from the body.

    The client's ``lastChanged``/``lastChangedBy`` are trusted as in Altinn (and move the
    instance's ``lastChanged``); without ``lastChanged`` both are kept.
    """
    if body.instance_guid != str(guid) or body.id != str(data_guid):
        raise StorageError(400, "Mismatch between path and dataElement content")
    record = await load(services, guid, with_data=False)
    definition_type = data_type_of(services, record.instance, body.data_type)
    require_write(services, principal, record.instance, definition_type)
    async with changing(services, guid) as tx:
        current = _element_of(tx.record, data_guid)
        element = current.element
        element.locked = body.locked
        element.refs = body.refs
        element.references = body.references
        element.tags = list(body.tags)
        element.user_defined_metadata = body.user_defined_metadata
        element.metadata = body.metadata
        element.delete_status = body.delete_status
        if body.last_changed is not None:
            element.last_changed = body.last_changed
            element.last_changed_by = body.last_changed_by
            _touch(tx.instance, principal, body.last_changed, by=body.last_changed_by or "")
        tx.mark_dirty(current)
    return current


async def delete_data_element(
    services: Services, principal: Principal, guid: uuid.UUID, data_guid: uuid.UUID, *, delay: bool
) -> DataElement:
    """``DELETE data/{d}``: at once (row and blob), or with ``delay`` (data types with
    ``appLogic.autoDeleteOnProcessEnd`` only) marked ``deleteStatus.isHardDeleted`` for cleanup."""
    record = await load(services, guid)
    instance = record.instance
    data = _element_of(record, data_guid)
    owner = is_app_owner(principal, instance)
    if _is_hard_deleted(data.element):
        if not owner:
            raise StorageError(404)
        if delay:
            return data.element
    definition_type = data_type_of(services, instance, data.element.data_type)
    require_write(services, principal, instance, definition_type)
    if delay and not (definition_type.app_logic and definition_type.app_logic.auto_delete_on_process_end):
        raise StorageError(400, f"DataType {data.element.data_type} does not support delayed deletion")
    now = services.clock.now()
    async with changing(services, guid) as tx:
        current = _element_of(tx.record, data_guid)
        element = current.element
        element.last_changed = now
        element.last_changed_by = principal.performed_by
        if delay:
            element.delete_status = DeleteStatus(is_hard_deleted=True, hard_deleted=now)
            tx.mark_dirty(current)
        else:
            tx.remove_data(current)
            _delete_blob_after_commit(tx, services, current.blob_key)
            _unread_unless_other_read(tx.record, element.id)
        _touch(tx.instance, principal, now)
        tx.add_event(storage_event("Deleted", tx.instance, principal, now, data_id=element.id))
    log.info("data_element_deleted", instance_id=instance.id, data_id=str(data_guid), delayed=delay)
    return element


async def lock_data_element(
    services: Services, principal: Principal, guid: uuid.UUID, data_guid: uuid.UUID
) -> tuple[DataElement, bool]:
    """``PUT data/{d}/lock``: (element, True) when newly locked, (element, False) when it was."""
    async with changing(services, guid) as tx:
        if not may_update_in_task(services, principal, tx.instance):
            raise _forbidden()
        current = _element_of(tx.record, data_guid)
        if current.element.locked:
            return current.element, False
        current.element.locked = True
        tx.mark_dirty(current)
    return current.element, True


async def unlock_data_element(
    services: Services, principal: Principal, guid: uuid.UUID, data_guid: uuid.UUID
) -> DataElement:
    """``DELETE data/{d}/lock``: any of ``write``, ``unlock``, ``reject`` (403 also when the
    instance is missing, as in Altinn)."""
    try:
        async with change_instance(services.db, guid) as tx:
            if not authorize_any(services, principal, ("write", "unlock", "reject"), tx.instance):
                raise _forbidden()
            current = _element_of(tx.record, data_guid)
            current.element.locked = False
            tx.mark_dirty(current)
    except InstanceNotFound:
        raise _forbidden() from None
    return current.element


# -- signing (platform notes 1.2 "Sign") ----------------------------------------------------------


class Signee(Wire):
    user_id: str | None = None
    system_user_id: str | None = None
    person_number: str | None = None
    organisation_number: str | None = None


class DataElementSignature(Wire):
    data_element_id: str | None = None
    signed: bool = True


class SignRequest(Wire):
    signature_document_data_type: str | None = None
    generated_from_task: str | None = None
    data_element_signatures: list[DataElementSignature] = Field(default_factory=list)
    signee: Signee | None = None


def _signee_info(signee: Signee) -> dict[str, str | None]:
    return {
        "userId": signee.user_id,
        "personNumber": signee.person_number,
        "organisationNumber": signee.organisation_number,
        "systemUserId": signee.system_user_id,
    }


async def _blob_sha256(services: Services, key: str | None) -> str | None:
    if not key:
        return None
    digest = hashlib.sha256()
    try:
        stream = await services.blobs.open(key)
    except BlobNotFound:
        return None
    try:
        async for chunk in stream:
            digest.update(chunk)
    finally:
        await stream.aclose()
    return digest.hexdigest()


async def _same_signee(services: Services, data: DataRecord, signee: dict[str, str | None]) -> bool:
    if not data.blob_key:
        return False
    try:
        stream = await services.blobs.open(data.blob_key)
        try:
            content = b"".join([chunk async for chunk in stream])
        finally:
            await stream.aclose()
        existing = orjson.loads(content).get("signeeInfo") or {}
    except (BlobNotFound, orjson.JSONDecodeError, AttributeError):
        return False
    return isinstance(existing, dict) and all(existing.get(k) == v for k, v in signee.items())


async def sign_instance(
    services: Services, principal: Principal, guid: uuid.UUID, request: SignRequest
) -> DataRecord:
    """``POST sign``: a locked JSON SignDocument with the SHA-256 of each referenced blob.

    PDP ``sign``. The data type must exist and belong to the current task (or to none), else
    405. An earlier sign document by the same signee is replaced; ``Signed`` is written.
    """
    record = await load(services, guid)
    instance = record.instance
    require(services, principal, "sign", instance, sync_bypass=False)
    signee = request.signee
    if signee is None or (not signee.user_id and not signee.system_user_id):
        raise StorageError(400, "The 'UserId' or 'SystemUserId' parameter must be defined for signee.")
    definition = app_of(services, instance)
    current_task = (
        instance.process.current_task.element_id
        if instance.process and instance.process.current_task
        else None
    )
    data_type = definition.data_type(request.signature_document_data_type or "")
    if data_type is None or (data_type.task_id and data_type.task_id != current_task):
        raise StorageError(
            405,
            f"DataType {request.signature_document_data_type} is not declared in application metadata "
            f"for app {instance.app_id}",
        )
    now = services.clock.now()
    element = new_element(
        instance,
        data_type.id,
        content_type="application/json",
        filename=f"{data_type.id}.json",
        performed_by=principal.performed_by,
        now=now,
        by_app_owner=False,
        generated_from_task=request.generated_from_task,
    )
    element.locked = True
    signatures = []
    for signature in request.data_element_signatures:
        target = None
        try:
            target = record.element(str(uuid.UUID(signature.data_element_id or "")))
        except ValueError:
            target = None
        digest = await _blob_sha256(services, target.blob_key) if target is not None else None
        if digest is None:
            raise StorageError(404, f"Unable to find any data element with id: {signature.data_element_id}.")
        signatures.append(
            {"dataElementId": signature.data_element_id, "sha256Hash": digest, "signed": signature.signed}
        )
    info = _signee_info(signee)
    document = {
        "id": element.id,
        "instanceGuid": str(guid),
        "signedTime": now,
        "signeeInfo": info,
        "dataElementSignatures": signatures,
    }
    replaced = [
        data.element.id
        for data in record.elements()
        if data.element.data_type == data_type.id and await _same_signee(services, data, info)
    ]
    content = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z)
    stored = await _store_upload(services, instance, element, iterate_bytes(content))
    try:
        async with changing(services, guid) as tx:
            for data_id in replaced:
                old = tx.record.element(data_id)
                if old is not None:
                    tx.remove_data(old)
                    _delete_blob_after_commit(tx, services, old.blob_key)
            tx.add_data(stored)
            _touch(tx.instance, principal, now)
            tx.add_event(storage_event("Signed", tx.instance, principal, now))
    except BaseException:
        await _discard(services, stored)
        raise
    log.info("instance_signed", instance_id=instance.id, data_id=element.id, replaced=len(replaced))
    return stored


__all__ = [
    "INSTANCE_EVENT_TYPES",
    "LOCK_TOKEN_HEADER",
    "DataDownload",
    "DataElementSignature",
    "SignRequest",
    "Signee",
    "StorageError",
    "acquire_instance_lock",
    "add_instance_event",
    "apply_process_state",
    "complete_instance",
    "create_data_element",
    "create_instance",
    "delete_data_element",
    "delete_instance",
    "get_instance",
    "get_instance_event",
    "instance_view",
    "list_data_elements",
    "list_instance_events",
    "lock_data_element",
    "open_data_element",
    "overwrite_data_element",
    "process_history",
    "readable_record",
    "set_read_status",
    "set_substatus",
    "sign_instance",
    "unlock_data_element",
    "update_data_element_metadata",
    "update_data_values",
    "update_instance_lock",
    "update_presentation_texts",
    "update_process",
]
