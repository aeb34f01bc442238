"""Service tasks: tasks the engine runs by itself as soon as the process enters them.

* `pdf` / `subformPdf`: render the receipt of the tasks named in the task's `pdfConfig`
  (`autoPdfTaskIds`; the previous data task when none are named) and store it as
  `ref-data-as-pdf`, `GeneratedFrom` this service task.
* `eFormidling` / `fiksArkiv`: shipments to external archives. Tinn has no connection to them;
  by default the task is passed (logged, and recorded as an instance event so the skip is
  visible), or, with `TINN_UNSUPPORTED_SERVICE_TASKS=fail`, it fails as an unreachable
  integration would.
* any other type: the app's own, registered in its Python logic (`@logic.service_task(type)`);
  without one the task fails.

A service task returns the action the process moves on with (None: an ordinary move).
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

import structlog

from tinn.data.accessor import FormDataAccessor
from tinn.data.elements import new_element, store_bytes
from tinn.http.errors import Problem
from tinn.instances.models import InstanceEvent
from tinn.instances.store import InstanceRecord, VersionConflict, change_instance
from tinn.process import bpmn
from tinn.process.bpmn import Task
from tinn.process.pdf import receipt_filename, text_lookup
from tinn.process.receipts import PDF_DATA_TYPE, render_task_pdf, texts_for
from tinn.process.tasks import generated_from

if TYPE_CHECKING:
    from tinn.process.engine import ProcessEngine

log = structlog.get_logger("tinn.process")

PDF_TASK_TYPES = frozenset({bpmn.PDF, bpmn.SUBFORM_PDF})
EXTERNAL_TASK_TYPES = frozenset({bpmn.EFORMIDLING, bpmn.FIKS_ARKIV})


def _service_task_failed(task: Task, reason: str) -> Problem:
    return Problem(500, "Service task failed!", f"Service task {task.id} ({task.task_type}) failed: {reason}")


async def run_service_task(engine: ProcessEngine, record: InstanceRecord, task: Task) -> str | None:
    task_type = task.task_type
    if task_type in PDF_TASK_TYPES:
        await _pdf_task(engine, record, task)
        return None
    if task_type in EXTERNAL_TASK_TYPES:
        if engine.ctx.services.settings.unsupported_service_tasks == "fail":
            raise _service_task_failed(task, f"Tinn has no {task_type} integration")
        await _record_skip(engine, record, task)
        return None
    custom = engine.ctx.logic.service_tasks.get(task_type or "")
    if custom is not None:
        accessor = FormDataAccessor(engine.ctx.services.blobs, engine.definition, record)

        async def read(data_type: str) -> list[tuple[str, dict[str, Any]]]:
            return [
                (element_id, copy.deepcopy(data))
                for element_id, data in await accessor.all_of_type(data_type)
            ]

        return await custom(engine.ctx.hook_context(record.instance), task.id, read)
    raise _service_task_failed(task, f"no implementation of the service task type {task_type!r}")


async def _pdf_task(engine: ProcessEngine, record: InstanceRecord, task: Task) -> None:
    ctx = engine.ctx
    definition = engine.definition
    config = task.pdf_config
    source_ids = list(config.auto_pdf_task_ids) if config and config.auto_pdf_task_ids else []
    if not source_ids:
        source_ids = [t.id for t in engine.process.tasks if not t.is_service_task][-1:]
    accessor = FormDataAccessor(ctx.services.blobs, definition, record)
    instance = record.instance
    language = ctx.language or "nb"
    texts = text_lookup(texts_for(definition, language), texts_for(definition, "nb"))
    filename = receipt_filename(texts, app_title=definition.title(language))
    if config and config.filename_text_resource_key:
        custom = definition.text(config.filename_text_resource_key, language)
        if custom:
            filename = custom if custom.lower().endswith(".pdf") else f"{custom}.pdf"
    data_type_id = config.data_type_id if config and config.data_type_id else PDF_DATA_TYPE
    records = []
    for source_id in source_ids:
        source = engine.process.task(source_id)
        if source is None:
            raise _service_task_failed(task, f"pdfConfig names unknown task {source_id}")
        content = await render_task_pdf(ctx, instance, accessor, source)
        element = new_element(
            instance,
            data_type_id,
            content_type="application/pdf",
            filename=filename,
            performed_by=ctx.performed_by,
            now=ctx.now(),
            by_app_owner=ctx.is_app_owner,
            generated_from_task=task.id,
        )
        element.locked = True
        records.append(await store_bytes(ctx.services.blobs, instance, element, content))
    try:
        async with change_instance(ctx.services.db, record.guid, expected_version=record.version) as tx:
            tx.on_rollback(lambda: _delete(engine, [r.blob_key for r in records if r.blob_key]))
            # A run again (the move after an earlier run failed) replaces that run's PDFs.
            stale = [data for data in tx.record.elements() if generated_from(data, task.id)]
            for data in stale:
                tx.remove_data(data)
            tx.after_commit(lambda: _delete(engine, [d.blob_key for d in stale if d.blob_key]))
            for new in records:
                tx.add_data(new)
            tx.instance.last_changed = ctx.now()
            tx.instance.last_changed_by = ctx.performed_by
    except VersionConflict:
        raise Problem(409, "Conflict", "The instance changed while its PDF was made; try again.") from None
    record.data = tx.record.data
    record.version = tx.record.version
    record.instance = tx.record.instance


async def _record_skip(engine: ProcessEngine, record: InstanceRecord, task: Task) -> None:
    ctx = engine.ctx
    log.warning(
        "service_task_skipped", instance_id=record.instance.id, task=task.id, task_type=task.task_type
    )
    async with change_instance(ctx.services.db, record.guid) as tx:
        tx.add_event(
            InstanceEvent(
                id=str(uuid.uuid4()),
                instance_id=tx.instance.id,
                event_type="None",
                instance_owner_party_id=tx.instance.instance_owner.party_id,
                created=ctx.now(),
                user=ctx.platform_user(),
                process_info=tx.instance.process,
                additional_info=f"Service task {task.id} ({task.task_type}) skipped: Tinn has no {task.task_type} integration",
            )
        )
    record.version = tx.record.version
    record.instance = tx.record.instance
    record.data = tx.record.data


async def _delete(engine: ProcessEngine, keys: list[str]) -> None:
    for key in keys:
        await engine.ctx.services.blobs.delete(key)
