"""What happens when a task starts (app notes 3.5): unlock its data, run app hooks, auto-create
form data (empty model -> prefill -> DataCreation hooks).

Blob writes happen here, before the transaction that records the move; the returned records are
added to it by the caller, who must delete their blobs if that transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tinn.data import formdata, forms, prefill
from tinn.data.elements import new_element, store_bytes
from tinn.instances.context import AppContext
from tinn.instances.models import Instance, ReadStatus
from tinn.instances.store import DataRecord, InstanceTx
from tinn.process.bpmn import Task


def prefill_sources(ctx: AppContext, instance: Instance) -> dict[str, Mapping[str, Any] | None]:
    register = ctx.services.register
    party = register.party(int(instance.instance_owner.party_id or 0))
    if party is None:
        return {}
    user = register.user(ctx.principal.user_id) if ctx.principal.is_user and ctx.principal.user_id else None
    return dict(register.prefill_sources(party, user))


async def new_form_data(
    ctx: AppContext,
    instance: Instance,
    data_type_id: str,
    *,
    data: dict[str, Any] | None = None,
    external_prefill: Mapping[str, str] | None = None,
    write_processors: bool = False,
    by_app: bool = False,
) -> DataRecord:
    """A form-data element of ``data_type_id`` (given data, or an empty prefilled model), stored.

    Order as Altinn: external prefill, register prefill, DataCreation hooks, then (for data a
    client supplied) the data processors. ``by_app``: created by the app itself (auto-create),
    which Storage sees as the app owner, so the element is unread.
    """
    definition = ctx.definition
    data_type = definition.data_type(data_type_id)
    model = definition.form_model(data_type_id)
    assert data_type is not None and model is not None
    if data is None:
        data = formdata.empty_data(model)
        if external_prefill:
            prefill.apply_external(model, data, external_prefill)
    files = definition.model_files(data_type_id)
    prefill.apply_register(model, data, files.prefill if files else None, prefill_sources(ctx, instance))
    hook_ctx = ctx.hook_context(instance)
    for hook in ctx.logic.data_creation:
        await hook(hook_ctx, data_type_id, data, external_prefill or {})
    if write_processors:
        for processor in ctx.logic.data_processors:
            await processor(hook_ctx, data_type_id, data, None)
    content, content_type = forms.serialize(model, data, forms.storage_format(data_type))
    element = new_element(
        instance,
        data_type_id,
        content_type=content_type,
        filename=None,
        performed_by=ctx.performed_by,
        now=ctx.now(),
        by_app_owner=by_app or ctx.is_app_owner,
    )
    return await store_bytes(ctx.services.blobs, instance, element, content)


async def prepare_task_start(
    ctx: AppContext,
    instance: Instance,
    task: Task,
    existing: Sequence[DataRecord],
    *,
    external_prefill: Mapping[str, str] | None = None,
) -> list[DataRecord]:
    """Run the task-start hooks and create the task's auto-created form data; returns new records."""
    hook_ctx = ctx.hook_context(instance)
    for hook in ctx.logic.task_start:
        await hook(hook_ctx, task.id)
    present = {record.element.data_type for record in existing if not record.removed}
    created: list[DataRecord] = []
    for data_type in ctx.definition.data_types_for_task(task.id):
        app_logic = data_type.app_logic
        if not (app_logic and app_logic.auto_create and data_type.is_form_data) or data_type.id in present:
            continue
        if ctx.definition.form_model(data_type.id) is None:
            continue
        created.append(
            await new_form_data(ctx, instance, data_type.id, external_prefill=external_prefill, by_app=True)
        )
    return created


def unlock_task_data(tx: InstanceTx, ctx: AppContext, task_id: str) -> None:
    """Data of the task being entered becomes writable again (a reject loop back, for instance)."""
    bound = {data_type.id for data_type in ctx.definition.data_types_for_task(task_id)}
    for record in tx.record.elements():
        if record.element.data_type in bound and record.element.locked:
            record.element.locked = False
            record.element.last_changed = ctx.now()
            tx.mark_dirty(record)


def lock_task_data(tx: InstanceTx, ctx: AppContext, task_id: str) -> None:
    bound = {data_type.id for data_type in ctx.definition.data_types_for_task(task_id)}
    for record in tx.record.elements():
        if record.element.data_type in bound and not record.element.locked:
            record.element.locked = True
            record.element.last_changed = ctx.now()
            tx.mark_dirty(record)


def generated_from(data: DataRecord, task_id: str) -> bool:
    """Whether an element was generated by a task (`references: GeneratedFrom` the task)."""
    return any(
        ref.relation == "GeneratedFrom" and ref.value_type == "Task" and ref.value == task_id
        for ref in data.element.references or ()
    )


def note_unread(instance: Instance, record: DataRecord) -> None:
    """Storage's read status: an unread element added to a read instance makes it updated."""
    if not record.element.is_read and instance.status.read_status == ReadStatus.Read:
        instance.status.read_status = ReadStatus.UpdatedSinceLastReview
