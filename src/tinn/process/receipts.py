"""The PDF receipt of a task (app notes 1.8, 3.5): rendered from the app's texts, layouts and form
data and stored as a locked `ref-data-as-pdf` element `GeneratedFrom` the task.

Rendering runs in a worker thread (it is CPU-bound). A failure raises a 500 ProblemDetails at
once and the task does not end: nothing was committed, so its data stays unlocked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from tinn.data.accessor import FormDataAccessor
from tinn.data.elements import new_element, store_bytes
from tinn.http.errors import Problem
from tinn.instances.context import AppContext
from tinn.instances.models import Instance, app_json
from tinn.instances.store import DataRecord
from tinn.process.bpmn import Task
from tinn.process.pdf import (
    ReceiptAttachment,
    ReceiptError,
    ReceiptInput,
    ReceiptOwner,
    receipt_filename,
    render_receipt,
    text_lookup,
)

log = structlog.get_logger("tinn.receipts")

PDF_DATA_TYPE = "ref-data-as-pdf"


def wants_pdf(ctx: AppContext, task: Task, accessor: FormDataAccessor) -> bool:
    """Altinn's legacy end-of-task PDF: some form data of the task whose type keeps
    `enablePdfCreation` (true by default)."""
    for data_type in ctx.definition.data_types_for_task(task.id):
        if data_type.is_form_data and data_type.enable_pdf_creation and accessor.form_elements(data_type.id):
            return True
    return False


async def receipt_input(
    ctx: AppContext, instance: Instance, accessor: FormDataAccessor, task: Task
) -> ReceiptInput:
    definition = ctx.definition
    language = ctx.language or "nb"
    texts = text_lookup(
        texts_for(definition, language),
        texts_for(definition, "nb"),
    )
    layout_set = definition.layout_set_for_task(task.id)
    models: dict[str, Any] = {}
    for data_type in definition.metadata.data_types:
        if data_type.is_form_data:
            first = await accessor.first_of_type(data_type.id)
            if first is not None:
                models[data_type.id] = first
    owner = instance.instance_owner
    party = ctx.services.register.party(int(owner.party_id or 0))
    attachments = [
        ReceiptAttachment(
            filename=data.element.filename,
            data_type=data.element.data_type,
            size=data.element.size,
            sha256=data.element.content_hash,
            id=data.element.id,
            tags=tuple(data.element.tags),
        )
        for data in accessor.record.elements(include_hard_deleted=False)
        if _is_attachment(definition, data.element.data_type)
    ]
    options = {
        option_id: [{"value": o.value, "label": o.label} for o in option_list.options]
        for option_id, option_list in definition.options.items()
    }
    service_owner = ctx.services.register.service_owner(ctx.org)
    org_name = (service_owner.name.get(language) or service_owner.name.get("nb")) if service_owner else None
    return ReceiptInput(
        app_title=definition.title(language),
        org=org_name or ctx.org,
        app_id=definition.id,
        instance_id=instance.id or "",
        owner=ReceiptOwner(
            name=(party.name if party and party.name else owner.party_id or ""),
            national_identity_number=owner.person_number,
            organisation_number=owner.organisation_number,
            party_id=owner.party_id,
            username=owner.username,
        ),
        task_id=task.id,
        task_name=task.name,
        timestamp=ctx.now(),
        texts=texts,
        layouts=dict(layout_set.layouts) if layout_set else {},
        layout_settings=layout_set.settings if layout_set else None,
        data_models=models,
        default_data_type=layout_set.data_type if layout_set else None,
        language=language,
        options=options,
        attachments=attachments,
    )


async def render_task_pdf(
    ctx: AppContext, instance: Instance, accessor: FormDataAccessor, task: Task
) -> bytes:
    receipt = await receipt_input(ctx, instance, accessor, task)
    try:
        return await asyncio.to_thread(render_receipt, receipt)
    except ReceiptError as exc:
        log.warning("receipt_failed", instance_id=instance.id, task=task.id, reason=str(exc))
        raise Problem(
            500, "PDF generation failed", f"The receipt for task {task.id} could not be made: {exc}"
        ) from None


async def generate_task_pdfs(
    ctx: AppContext, instance: Instance, accessor: FormDataAccessor, task: Task
) -> list[DataRecord]:
    """The task-end PDFs as new (locked) elements: the receipt of a data task (`ref-data-as-pdf`),
    and for a signing task with `signingPdfDataType` its signing PDF (the task's pages and the
    signatures it collected) in that data type."""
    data_types = []
    if wants_pdf(ctx, task, accessor):
        data_types.append(PDF_DATA_TYPE)
    config = task.signature_config if task.task_type == "signing" else None
    if config is not None and config.signing_pdf_data_type:
        data_types.append(config.signing_pdf_data_type)
    if not data_types:
        return []
    content = await render_task_pdf(ctx, instance, accessor, task)
    language = ctx.language or "nb"
    texts = text_lookup(texts_for(ctx.definition, language), texts_for(ctx.definition, "nb"))
    records = []
    try:
        for data_type in data_types:
            element = new_element(
                instance,
                data_type,
                content_type="application/pdf",
                filename=receipt_filename(texts, app_title=ctx.definition.title(language)),
                performed_by=ctx.performed_by,
                now=ctx.now(),
                by_app_owner=ctx.is_app_owner,
                generated_from_task=task.id,
            )
            element.locked = True
            records.append(await store_bytes(ctx.services.blobs, instance, element, content))
    except BaseException:
        for record in records:
            if record.blob_key:
                await ctx.services.blobs.delete(record.blob_key)
        raise
    return records


def _is_attachment(definition: Any, data_type_id: str) -> bool:
    data_type = definition.data_type(data_type_id)
    return data_type_id != PDF_DATA_TYPE and not (data_type is not None and data_type.is_form_data)


def texts_for(definition: Any, language: str) -> dict[str, Any] | None:
    """An app's text resource for a language, as the wire JSON the PDF renderer reads."""
    resource = definition.texts.get(language)
    return app_json(resource) if resource is not None else None
