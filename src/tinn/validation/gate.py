"""Running validation from the App API and the process engine: builds the ValidationContext for
a caller and an instance, and turns the results into wire JSON."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from tinn.appdef.models import DataType
from tinn.data.accessor import FormDataAccessor
from tinn.instances.context import AppContext
from tinn.instances.store import InstanceRecord
from tinn.validation.context import ValidationContext
from tinn.validation.service import validate_incremental, validate_task


def validation_context(
    ctx: AppContext, record: InstanceRecord, task_id: str, accessor: FormDataAccessor | None = None
) -> ValidationContext:
    instance = record.full_instance(include_hard_deleted=False)

    def can_read(data_type: DataType) -> bool:
        action = data_type.action_required_to_read
        return not action or ctx.authorize(action, record.instance)

    return ValidationContext(
        definition=ctx.definition,
        instance=instance,
        accessor=accessor or FormDataAccessor(ctx.services.blobs, ctx.definition, record),
        task_id=task_id,
        language=ctx.language,
        can_read=can_read,
        hook_context=ctx.hook_context(record.instance),
        blobs=ctx.services.blobs,
    )


def current_task_id(record: InstanceRecord) -> str | None:
    process = record.instance.process
    return process.current_task.element_id if process and process.current_task else None


async def full_issues(
    ctx: AppContext,
    record: InstanceRecord,
    task_id: str,
    *,
    ignored_sources: Collection[str] = (),
    only_incremental: bool | None = None,
) -> list[dict[str, Any]]:
    issues = await validate_task(
        validation_context(ctx, record, task_id),
        ignored_sources=ignored_sources,
        only_incremental=only_incremental,
    )
    return [issue.to_json() for issue in issues]


async def blocking_issues(ctx: AppContext, record: InstanceRecord, task_id: str) -> list[dict[str, Any]]:
    """The full validation of the process/next gate; empty when no severity-1 issue was found."""
    issues = await full_issues(ctx, record, task_id)
    return issues if any(issue.get("severity") == 1 for issue in issues) else []


async def incremental_pairs(
    ctx: AppContext,
    record: InstanceRecord,
    changed_element_ids: Sequence[str],
    ignored_sources: Collection[str] = (),
    accessor: FormDataAccessor | None = None,
) -> list[dict[str, Any]]:
    """`[{source, issues}]` of the incremental validators after a change (PATCH, POST/DELETE data)."""
    task_id = current_task_id(record)
    if task_id is None:
        return []
    pairs = await validate_incremental(
        validation_context(ctx, record, task_id, accessor),
        changed_element_ids,
        ignored_sources=ignored_sources,
    )
    return [pair.to_json() for pair in pairs]


async def incremental_issues_by_element(
    ctx: AppContext, record: InstanceRecord, changed_element_ids: Sequence[str], ignored: Any
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """`updatedValidationIssues` of a user action: element id (or "") -> source -> issues."""
    ignored_sources = [str(s) for s in ignored] if isinstance(ignored, list) else []
    pairs = await incremental_pairs(ctx, record, changed_element_ids, ignored_sources)
    result: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for pair in pairs:
        for issue in pair["issues"]:
            key = issue.get("dataElementId") or ""
            result.setdefault(key, {}).setdefault(pair["source"], []).append(issue)
    return result
