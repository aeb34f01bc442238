"""The built-in `sign` user action (app notes 1.9, 1.10): the caller signs the data elements of the
signing task's `dataTypesToSign`; Storage's sign operation writes the locked SignDocument.
"""

from __future__ import annotations

from tinn.auth.principal import PrincipalKind
from tinn.http.errors import Problem
from tinn.instances.context import AppContext
from tinn.instances.service import DataElementSignature, Signee, SignRequest, StorageError, sign_instance
from tinn.instances.store import InstanceRecord, read_instance
from tinn.process.bpmn import SignatureConfig

SIGNING_TASK_TYPE = "signing"


def signature_config(ctx: AppContext, record: InstanceRecord) -> tuple[str, SignatureConfig]:
    """The current task and its signature configuration; 400 when it is not a signing task."""
    process = record.instance.process
    task_id = process.current_task.element_id if process and process.current_task else None
    task = ctx.definition.process.task(task_id) if task_id and ctx.definition.process else None
    if task is None or task.task_type != SIGNING_TASK_TYPE or task.signature_config is None:
        raise Problem(
            400, "Not a signing task", f"Task {task_id} is not a signing task with a signatureConfig."
        )
    config = task.signature_config
    if not config.signature_data_type:
        raise Problem(400, "Not a signing task", f"Task {task_id} has no signatureDataType.")
    return task.id, config


def elements_to_sign(record: InstanceRecord, config: SignatureConfig) -> list[str]:
    """Element ids of `dataTypesToSign`, in configuration order, then by creation."""
    ids: list[str] = []
    for data_type in config.data_types_to_sign:
        found = [d.element for d in record.elements() if d.element.data_type == data_type]
        found.sort(key=lambda e: (e.created.timestamp() if e.created else 0.0, e.id))
        ids.extend(e.id for e in found)
    return ids


def _signee(ctx: AppContext, on_behalf_of: str | None) -> Signee:
    principal = ctx.principal
    if principal.kind == PrincipalKind.SYSTEM_USER:
        return Signee(
            system_user_id=principal.system_user_id, organisation_number=principal.system_user_org_number
        )
    if (
        principal.kind in (PrincipalKind.USER, PrincipalKind.SELF_IDENTIFIED)
        and principal.user_id is not None
    ):
        return Signee(
            user_id=str(principal.user_id), person_number=principal.pid, organisation_number=on_behalf_of
        )
    raise Problem(401, "Unauthorized", "Only a user or a system user can sign.")


async def sign(ctx: AppContext, record: InstanceRecord, *, on_behalf_of: str | None = None) -> InstanceRecord:
    task_id, config = signature_config(ctx, record)
    request = SignRequest(
        signature_document_data_type=config.signature_data_type,
        generated_from_task=task_id,
        data_element_signatures=[
            DataElementSignature(data_element_id=element_id)
            for element_id in elements_to_sign(record, config)
        ],
        signee=_signee(ctx, on_behalf_of),
    )
    try:
        await sign_instance(ctx.services, ctx.principal, record.guid, request)
    except StorageError as error:
        status = 403 if error.status == 403 else 409 if error.status in (404, 405) else 400
        raise Problem(
            status, "Signing failed", error.message or "The signature could not be stored."
        ) from None
    return await read_instance(ctx.services.db, record.guid) or record
