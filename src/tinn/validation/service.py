"""Validation as the App API and the process engine call it (app notes 1.4, 2.7, 5.5, 6).

* :func:`validate_task` — full validation of the current task: ``GET .../validate`` (with
  ``ignoredValidators`` and ``onlyIncrementalValidators``) and the ``process/next`` gate
  (:func:`has_blocking_errors`).
* :func:`validate_incremental` — after PATCH/POST/DELETE of data: only incremental validators,
  only those the change concerns, one :class:`ValidationSourcePair` per validator run (also
  when it found nothing, which clears the client's earlier issues of that source).
* :func:`validate_data_element` — the obsolete per-element endpoint.

Descriptions left empty by a validator are filled in from ``customTextKey`` through the app's
texts (with its ``customTextParameters``), as Altinn's validation service does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from tinn.validation.context import RunState, ValidationContext, matches_source
from tinn.validation.models import Severity, ValidationIssue, ValidationIssueWithSource, ValidationSourcePair
from tinn.validation.texts import translate
from tinn.validation.validators import Changes, Validator, validators_for

__all__ = [
    "DataElementNotFound",
    "UnknownDataType",
    "ValidationContext",
    "has_blocking_errors",
    "validate_data_element",
    "validate_incremental",
    "validate_task",
]

WRONG_TASK_SOURCE = "Altinn.App.Api.Controllers.ValidateController"


class DataElementNotFound(LookupError):
    """The data element to validate is not in the instance."""


class UnknownDataType(LookupError):
    """The data element's data type is not in the app's metadata."""


def _finish(
    run: RunState, validator: Validator, issues: Sequence[ValidationIssue]
) -> list[ValidationIssueWithSource]:
    result = []
    for issue in issues:
        if not issue.description and issue.custom_text_key:
            translated = translate(
                run.definition, issue.custom_text_key, run.language, issue.custom_text_parameters
            )
            if translated is not None:
                issue.description = translated
        result.append(issue.with_source(validator.source, no_incremental_updates=validator.no_incremental))
    return result


def _selected(run: RunState, ignored_sources: Collection[str]) -> list[Validator]:
    return [
        validator
        for validator in validators_for(run.definition)
        if not matches_source(validator.source, ignored_sources) and validator.applies(run)
    ]


async def _full(
    run: RunState, ignored_sources: Collection[str], only_incremental: bool | None
) -> list[ValidationIssueWithSource]:
    issues: list[ValidationIssueWithSource] = []
    for validator in _selected(run, ignored_sources):
        if only_incremental is not None and validator.no_incremental == only_incremental:
            continue
        issues.extend(_finish(run, validator, await validator.validate(run)))
    return issues


async def validate_task(
    ctx: ValidationContext,
    *,
    ignored_sources: Collection[str] = (),
    only_incremental: bool | None = None,
) -> list[ValidationIssueWithSource]:
    """Every issue of the current task (``ctx.task_id``).

    ``ignored_sources`` are validator sources to skip (compared ignoring case and surrounding
    spaces); ``only_incremental`` True runs only incremental validators, False only the others,
    None all of them.
    """
    return await _full(RunState(ctx, ctx.task_id), ignored_sources, only_incremental)


async def validate_incremental(
    ctx: ValidationContext,
    changed_element_ids: Collection[str],
    *,
    ignored_sources: Collection[str] = (),
) -> list[ValidationSourcePair]:
    """The incremental validators concerned by a change to ``changed_element_ids`` (elements
    that were written, created or deleted), each as a source pair."""
    run = RunState(ctx, ctx.task_id)
    changes = Changes.of(run, changed_element_ids)
    pairs: list[ValidationSourcePair] = []
    for validator in _selected(run, ignored_sources):
        if validator.no_incremental or not validator.relevant(run, changes):
            continue
        issues = _finish(run, validator, await validator.validate(run))
        pairs.append(ValidationSourcePair(source=validator.source, issues=tuple(issues)))
    return pairs


async def validate_data_element(ctx: ValidationContext, element_id: str) -> list[ValidationIssueWithSource]:
    """The obsolete ``GET .../data/{id}/validate``: the incremental issues of the element's task
    that concern the element, after a warning when that task is not the current one.

    Raises :class:`DataElementNotFound` / :class:`UnknownDataType`.
    """
    element = next((e for e in ctx.instance.data or () if e.id == element_id), None)
    if element is None:
        raise DataElementNotFound(f"Unable to validate data element {element_id}: it is not in the instance")
    data_type = ctx.definition.data_type(element.data_type)
    if data_type is None:
        raise UnknownDataType(f"Unknown element type {element.data_type}")
    messages: list[ValidationIssueWithSource] = []
    if data_type.task_id is None or data_type.task_id.casefold() != ctx.task_id.casefold():
        messages.append(
            ValidationIssueWithSource(
                severity=Severity.Warning,
                data_element_id=element.id,
                code="DataElementValidatedAtWrongTask",
                description=f"Data element for task {data_type.task_id or ''} validated while currentTask is {ctx.task_id}",
                source=WRONG_TASK_SOURCE,
                no_incremental_updates=True,
                custom_text_key="DataElementValidatedAtWrongTask",
                custom_text_params=(data_type.task_id or "", ctx.task_id),
            )
        )
    task_id = data_type.task_id or ctx.task_id
    run = RunState(dataclasses.replace(ctx, task_id=task_id), task_id)
    issues = await _full(run, (), True)
    messages.extend(issue for issue in issues if issue.data_element_id == element.id)
    return messages


def has_blocking_errors(issues: Sequence[ValidationIssueWithSource]) -> int:
    """How many issues block ``process/next`` (severity 1, error)."""
    return sum(1 for issue in issues if issue.severity == Severity.Error)
