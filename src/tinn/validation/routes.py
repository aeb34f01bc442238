"""App API validation endpoints (app notes 1.4, 6): `GET .../validate` and the obsolete
`GET .../data/{dataGuid}/validate`.

Altinn only requires an authenticated caller here and lets Storage's read check decide; Tinn
checks `read` on the instance, which is the same decision. Where Altinn answers a bad data id or
a process that has not started with a 500 (an exception), Tinn answers 404 and 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from tinn.http.errors import EmptyError, Problem, framework_problem
from tinn.http.responses import JsonResponse
from tinn.instances.app_routes import Ctx, load_for_app
from tinn.instances.links import parse_guid
from tinn.validation.gate import current_task_id, full_issues, validation_context
from tinn.validation.service import DataElementNotFound, UnknownDataType, validate_data_element

router = APIRouter(prefix="/{org}/{app}/instances/{instanceOwnerPartyId}/{instanceGuid}", tags=["Validate"])

_ISSUES: dict[int | str, dict[str, Any]] = {
    200: {"description": "ValidationIssueWithSource[]: the issues found"}
}


def _not_started() -> Problem:
    return Problem(409, "Validation error", "Unable to validate instance without a started process.")


@router.get("/validate", responses=_ISSUES, summary="Validate an instance at its current task")
async def validate_instance(
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: str,
    ignored_validators: Annotated[str | None, Query(alias="ignoredValidators")] = None,
    only_incremental: Annotated[bool | None, Query(alias="onlyIncrementalValidators")] = None,
) -> Response:
    record = await load_for_app(ctx, instanceOwnerPartyId, instanceGuid)
    if not ctx.authorize("read", record.instance):
        raise EmptyError(403)
    task_id = current_task_id(record)
    if task_id is None:
        raise _not_started()
    ignored = [s.strip() for s in ignored_validators.split(",")] if ignored_validators else []
    issues = await full_issues(
        ctx, record, task_id, ignored_sources=ignored, only_incremental=only_incremental
    )
    return JsonResponse(issues)


@router.get(
    "/data/{dataGuid}/validate",
    responses=_ISSUES,
    summary="Validate one data element (obsolete: use /validate)",
    deprecated=True,
)
async def validate_data(ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: str, dataGuid: str) -> Response:
    record = await load_for_app(ctx, instanceOwnerPartyId, instanceGuid)
    element_id = str(parse_guid(dataGuid))
    if not ctx.authorize("read", record.instance):
        raise EmptyError(403)
    task_id = current_task_id(record)
    if task_id is None:
        raise _not_started()
    try:
        issues = await validate_data_element(validation_context(ctx, record, task_id), element_id)
    except DataElementNotFound:
        raise framework_problem(404) from None
    except UnknownDataType as exc:
        raise Problem(409, "Validation error", str(exc)) from None
    return JsonResponse([issue.to_json() for issue in issues])
