"""App API signing endpoints (`.../instances/{p}/{g}/signing`, app notes 1.9).

Each takes `taskId` (default: the current task) and answers 400 "Not a signing task" unless that
task is a signing task; responses are not cached. Reading needs `read` on the instance.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from tinn.http.errors import EmptyError
from tinn.http.responses import JsonResponse
from tinn.instances.app_routes import Ctx, load_for_app
from tinn.instances.context import AppContext
from tinn.instances.models import app_json
from tinn.instances.store import InstanceRecord
from tinn.process.signing import (
    authorized_organisations,
    elements_to_sign,
    sign_documents,
    signature_config,
    signee_state,
)

router = APIRouter(
    prefix="/{org}/{app}/instances/{instanceOwnerPartyId}/{instanceGuid}/signing", tags=["Signing"]
)

TaskId = Annotated[str | None, Query(alias="taskId", description="A signing task other than the current one")]
_NO_STORE = {"Cache-Control": "no-store, no-cache"}


async def _readable(ctx: AppContext, party_id: int, instance_guid: str) -> InstanceRecord:
    record = await load_for_app(ctx, party_id, instance_guid)
    if not ctx.authorize("read", record.instance):
        raise EmptyError(403)
    return record


@router.get("", summary="The signees of a signing task and when they signed")
async def signing_state(
    ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: str, task_id: TaskId = None
) -> Response:
    record = await _readable(ctx, instanceOwnerPartyId, instanceGuid)
    _, config = signature_config(ctx, record, task_id)
    states = [signee_state(ctx, document) for document in await sign_documents(ctx, record, config)]
    return JsonResponse({"signeeStates": states}, headers=_NO_STORE)


@router.get("/organizations", summary="The organisations the user may sign on behalf of")
async def signing_organisations(
    ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: str, task_id: TaskId = None
) -> Response:
    record = await _readable(ctx, instanceOwnerPartyId, instanceGuid)
    signature_config(ctx, record, task_id)
    if not ctx.principal.is_user:
        raise EmptyError(401)
    organisations: list[dict[str, Any]] = [
        {"orgNumber": party.org_number, "orgName": party.name, "partyId": party.party_id}
        for party in authorized_organisations(ctx)
    ]
    return JsonResponse({"organizations": organisations}, headers=_NO_STORE)


@router.get("/data-elements", summary="The data elements a signing task signs")
async def signing_data_elements(
    ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: str, task_id: TaskId = None
) -> Response:
    record = await _readable(ctx, instanceOwnerPartyId, instanceGuid)
    _, config = signature_config(ctx, record, task_id)
    instance = record.instance
    assert instance.id is not None
    org, app = ctx.org, ctx.app
    elements = []
    for element_id in elements_to_sign(record, config):
        data = record.element(element_id)
        if data is not None:
            elements.append(app_json(ctx.links.decorate_data(org, app, instance.id, data.element)))
    return JsonResponse({"dataElements": elements}, headers=_NO_STORE)
