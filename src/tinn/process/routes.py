"""App API process endpoints (`.../instances/{p}/{g}/process`, app notes 1.3, 3)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from tinn.http.errors import EmptyError, PlainError, Problem
from tinn.http.responses import JsonResponse
from tinn.instances.app_routes import Ctx, load_for_app
from tinn.instances.context import AppContext
from tinn.instances.store import InstanceRecord
from tinn.process.bpmn import Task
from tinn.process.engine import ProcessEngine
from tinn.xmlsafe import UnsafeXml, XmlSyntaxError, parse_xml

router = APIRouter(
    prefix="/{org}/{app}/instances/{instanceOwnerPartyId}/{instanceGuid}/process", tags=["Process"]
)

_APP_PROCESS_STATE = {"description": "AppProcessState: the process state with the caller's actions"}


async def _validate(ctx: AppContext, record: InstanceRecord, task: Task) -> None:
    """The validation gate of `next`: any severity-1 issue stops the move with 409."""
    from tinn.validation.gate import blocking_issues

    issues = await blocking_issues(ctx, record, task.id)
    if issues:
        errors = sum(1 for issue in issues if issue.get("severity") == 1)
        raise Problem(
            409,
            "Validation failed for task",
            f"{errors} validation errors found for task {task.id}",
            extensions={"validationIssues": issues},
        )


async def _run_action(
    ctx: AppContext, record: InstanceRecord, action: str, on_behalf_of: str | None
) -> InstanceRecord:
    from tinn.process.actions import run_action_for_next

    return await run_action_for_next(ctx, record, action, on_behalf_of)


@router.get("", responses={200: _APP_PROCESS_STATE}, summary="The process state of an instance")
async def get_process(ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: str) -> Response:
    record = await load_for_app(ctx, instanceOwnerPartyId, instanceGuid)
    if not ctx.authorize("read", record.instance):
        raise EmptyError(403)
    return JsonResponse(ProcessEngine(ctx).app_state(record.instance))


@router.post("/start", responses={200: _APP_PROCESS_STATE}, summary="Start the process (if not started)")
async def start_process(
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: str,
    start_event: Annotated[str | None, Query(alias="startEvent")] = None,
) -> Response:
    record = await load_for_app(ctx, instanceOwnerPartyId, instanceGuid)
    if not ctx.authorize("instantiate", record.instance):
        raise EmptyError(403)
    engine = ProcessEngine(ctx)
    try:
        record = await engine.start(record, start_event)
    except Problem as problem:
        if problem.status == 409 and problem.title is None:
            raise PlainError(409, problem.detail or "Conflict") from None
        raise
    record = await engine.run_service_tasks(record)
    return JsonResponse(engine.app_state(record.instance))


async def _process_next_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    content_type = (request.headers.get("content-type") or "").lower()
    try:
        if "xml" in content_type:
            root = parse_xml(body)
            return {child.tag.split("}")[-1]: (child.text or None) for child in root}
        parsed = orjson.loads(body)
    except (orjson.JSONDecodeError, UnsafeXml, XmlSyntaxError) as exc:
        raise Problem(
            400,
            "One or more validation errors occurred.",
            type="https://tools.ietf.org/html/rfc9110#section-15.5.1",
            extensions={"errors": {"$": [f"The ProcessNext body could not be read: {exc}"]}},
        ) from None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise Problem(
            400,
            "One or more validation errors occurred.",
            type="https://tools.ietf.org/html/rfc9110#section-15.5.1",
            extensions={"errors": {"$": ["The ProcessNext body must be a JSON object."]}},
        )
    return {str(k).lower(): v for k, v in parsed.items()}


@router.put("/next", responses={200: _APP_PROCESS_STATE}, summary="Move the process to the next element")
async def process_next(
    request: Request,
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: str,
    element_id: Annotated[str | None, Query(alias="elementId")] = None,
) -> Response:
    body = await _process_next_body(request)
    action = body.get("action")
    if action is not None and not isinstance(action, str):
        raise Problem(400, "Invalid action", "action must be a string")
    action = action or None
    on_behalf_of = body.get("actiononbehalfof")
    if on_behalf_of is not None and not isinstance(on_behalf_of, str):
        raise Problem(400, "Invalid actionOnBehalfOf", "actionOnBehalfOf must be a string")
    record = await load_for_app(ctx, instanceOwnerPartyId, instanceGuid)
    engine = ProcessEngine(ctx)
    if_match = request.headers.get("if-match")
    if if_match is not None and if_match != record.etag:
        raise Problem(412, "Precondition Failed", "The instance has changed since the given ETag.")

    async def validate(current: InstanceRecord, task: Task) -> None:
        await _validate(ctx, current, task)

    async def run_action(current: InstanceRecord, name: str) -> InstanceRecord:
        return await _run_action(ctx, current, name, on_behalf_of or None)

    record = await engine.next(record, action, validate=validate, run_action=run_action)
    state = engine.app_state(record.instance)
    if state["ended"] is not None:
        # The recordings: a next that ends the process answers without processTasks.
        state["processTasks"] = None
    return JsonResponse(state, headers={"ETag": record.etag})


@router.get("/next", summary="Obsolete: the start events when the process has not started", deprecated=True)
async def get_next(ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: str) -> Response:
    record = await load_for_app(ctx, instanceOwnerPartyId, instanceGuid)
    if not ctx.authorize("read", record.instance):
        raise EmptyError(403)
    process = record.instance.process
    engine = ProcessEngine(ctx)
    if process is None:
        return JsonResponse(list(engine.process.start_event_ids))
    if process.current_task is None:
        raise PlainError(409, "Instance does not have valid info about currentTask")
    return JsonResponse([])


@router.put(
    "/completeProcess",
    responses={200: _APP_PROCESS_STATE},
    summary="Move on with default actions until the end",
)
async def complete_process(ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: str) -> Response:
    record = await load_for_app(ctx, instanceOwnerPartyId, instanceGuid)
    engine = ProcessEngine(ctx)

    async def validate(current: InstanceRecord, task: Task) -> None:
        await _validate(ctx, current, task)

    try:
        record = await engine.complete_process(record, validate=validate)
    except Problem as problem:
        if problem.status == 409 and problem.title is None and problem.detail:
            raise PlainError(409, problem.detail) from None
        raise
    return JsonResponse(engine.app_state(record.instance))


@router.get("/history", summary="The process history of an instance")
async def process_history(ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: str) -> Response:
    from tinn.instances.service import process_history as history

    record = await load_for_app(ctx, instanceOwnerPartyId, instanceGuid)
    if not ctx.authorize("read", record.instance):
        raise EmptyError(403)
    return JsonResponse(await history(ctx.services, record))
