"""User actions (app notes 1.10, 3.3): built-in `sign`, and server actions an app registers in its
Python logic (`@logic.user_action("id")`), run from `POST .../actions` or from `process/next`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from tinn.applogic import ActionResult
from tinn.auth.principal import PrincipalKind
from tinn.data.accessor import FormDataAccessor
from tinn.http.errors import EmptyError, PlainError, Problem, unauthorized
from tinn.http.responses import JsonResponse
from tinn.instances.app_routes import Ctx, load_for_app
from tinn.instances.context import AppContext
from tinn.instances.render import instance_body
from tinn.instances.store import InstanceRecord, read_instance

router = APIRouter(prefix="/{org}/{app}/instances/{instanceOwnerPartyId}/{instanceGuid}", tags=["Actions"])

BUILT_IN = frozenset({"sign"})

# How a failed handler's error maps to a status (app notes 1.10).
_STATUS_BY_ERROR = {400: 400, 401: 401, 403: 403, 409: 409}


def has_handler(ctx: AppContext, action: str) -> bool:
    return action in BUILT_IN or action in ctx.logic.user_actions


async def _run(
    ctx: AppContext, record: InstanceRecord, action: str, metadata: dict[str, str], on_behalf_of: str | None
) -> tuple[InstanceRecord, ActionResult]:
    if action == "sign":
        from tinn.process.signing import sign

        record = await sign(ctx, record, on_behalf_of=on_behalf_of)
        return record, ActionResult()
    handler = ctx.logic.user_actions[action]
    accessor = FormDataAccessor(ctx.services.blobs, ctx.definition, record)

    async def reader(data_type: str) -> list[tuple[str, dict[str, Any]]]:
        return await accessor.all_of_type(data_type)

    result = await handler(ctx.hook_context(record.instance), reader, metadata)
    if result.error is None and result.updated_data:
        from tinn.data.service import save_form_data

        for element_id, data in result.updated_data.items():
            record = await save_form_data(ctx, record, element_id, data)
    return record, result


async def run_action_for_next(
    ctx: AppContext, record: InstanceRecord, action: str, on_behalf_of: str | None = None
) -> InstanceRecord:
    """`process/next` with an action: run its handler first, if there is one (app notes 3.3 step 3)."""
    if not has_handler(ctx, action):
        return record
    try:
        record, result = await _run(ctx, record, action, {}, on_behalf_of)
    except Problem as problem:
        status = problem.status if problem.status in (403, 409) else 500
        raise Problem(
            status, problem.title or "Action failed", f"Action handler for action {action} failed!"
        ) from None
    if result.error is not None:
        status = {401: 403, 409: 409}.get(result.status, 500)
        raise Problem(status, "Action failed", f"Action handler for action {action} failed!")
    fresh = await read_instance(ctx.services.db, record.guid)
    return fresh or record


@router.post("/actions", summary="Perform a user action on the current task")
async def perform_action(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: str
) -> Response:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise Problem(400, "Bad request", "The request body must be a UserActionRequest JSON object.")
    action = body.get("action")
    if not isinstance(action, str) or not action:
        raise Problem(400, "Action is missing", "Action is missing")
    metadata_raw = body.get("metadata") or {}
    metadata = {str(k): str(v) for k, v in metadata_raw.items()} if isinstance(metadata_raw, dict) else {}
    on_behalf_of = body.get("onBehalfOf")
    record = await load_for_app(ctx, instanceOwnerPartyId, instanceGuid)
    process = record.instance.process
    if process is None or (process.current_task is None and process.ended is None):
        raise PlainError(409, "Process is not started.")
    if process.ended is not None:
        raise PlainError(409, "Process is ended.")
    if ctx.principal.kind not in (
        PrincipalKind.USER,
        PrincipalKind.SELF_IDENTIFIED,
        PrincipalKind.SYSTEM_USER,
    ):
        raise unauthorized()
    if not ctx.authorize(action, record.instance):
        raise EmptyError(403)
    if not has_handler(ctx, action):
        return JsonResponse(
            {
                "instance": None,
                "updatedDataModels": None,
                "updatedValidationIssues": None,
                "clientActions": None,
                "error": {"code": "ActionNotFound", "message": f"Action handler with id {action} not found"},
                "redirectUrl": None,
            },
            status_code=404,
        )
    try:
        record, result = await _run(
            ctx, record, action, metadata, on_behalf_of if isinstance(on_behalf_of, str) else None
        )
    except Problem as problem:
        return _failure(ctx, record, problem.status, "ActionFailed", problem.detail or problem.title or "")
    if result.error is not None:
        status = _STATUS_BY_ERROR.get(result.status, 500)
        return _failure(ctx, record, status, "ActionFailed", result.error)
    fresh = await read_instance(ctx.services.db, record.guid) or record
    from tinn.validation.gate import incremental_issues_by_element

    updated_issues = await incremental_issues_by_element(
        ctx, fresh, list(result.updated_data), body.get("ignoredValidators")
    )
    return JsonResponse(
        {
            "instance": instance_body(ctx, fresh.full_instance(include_hard_deleted=False), with_party=False),
            "updatedDataModels": result.updated_data or {},
            "updatedValidationIssues": updated_issues,
            "clientActions": result.client_actions,
            "error": None,
            "redirectUrl": result.redirect_url,
        }
    )


def _failure(ctx: AppContext, record: InstanceRecord, status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        {
            "instance": instance_body(
                ctx, record.full_instance(include_hard_deleted=False), with_party=False
            ),
            "updatedDataModels": None,
            "updatedValidationIssues": None,
            "clientActions": None,
            "error": {"code": code, "message": message},
            "redirectUrl": None,
        },
        status_code=status,
    )
