"""App API instance endpoints (`/{org}/{app}/instances...`, app notes 1.1, 4)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from starlette.responses import Response

from tinn.appdef.routes import get_app
from tinn.auth.dependencies import require_principal
from tinn.auth.principal import Principal
from tinn.http.errors import EmptyError, Problem, framework_problem
from tinn.http.responses import JsonResponse
from tinn.instances import idempotency, service
from tinn.instances.context import AppContext
from tinn.instances.instantiation import (
    Instantiation,
    OwnerSpec,
    Template,
    json_error,
    parse_template,
)
from tinn.instances.links import parse_guid
from tinn.instances.models import InstanceResponse, ReadStatus, SimpleInstance, Substatus, app_json
from tinn.instances.render import instance_body, readable_instance
from tinn.instances.store import InstanceRecord, VersionConflict, change_instance, read_instance
from tinn.services import get_services
from tinn.storage import tables

router = APIRouter(prefix="/{org}/{app}", tags=["Instances"])
# Party ids are 32-bit ints in Altinn (routes and the instanceOwnerPartyId query).
_INT32 = (-(2**31), 2**31 - 1)

_INSTANCE_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": InstanceResponse, "description": "The new instance, already in its first task"},
    400: {"description": "Invalid request (JSON string)"},
    403: {"description": "Not authorized to instantiate"},
    404: {"description": "Unknown instance owner"},
}


async def app_context(
    request: Request,
    org: str,
    app: str,
    principal: Annotated[Principal, Depends(require_principal)],
    language: Annotated[str | None, Query()] = None,
) -> AppContext:
    definition = get_app(request, org, app)
    return AppContext(get_services(request), definition, principal, language)


Ctx = Annotated[AppContext, Depends(app_context)]


def _idempotency_scope(ctx: AppContext, route: str) -> str:
    p = ctx.principal
    who = (
        f"u{p.user_id}"
        if p.user_id is not None
        else f"s{p.system_user_id}"
        if p.system_user_id
        else f"o{p.org_number}"
    )
    return f"{who}:{ctx.definition.id}:{route}"


async def _created_response(ctx: AppContext, record: InstanceRecord) -> tuple[JsonResponse, dict[str, Any]]:
    instance = readable_instance(ctx, record)
    body = instance_body(ctx, instance, with_party=True)
    headers = {"Location": body["selfLinks"]["apps"], "ETag": record.etag}
    return JsonResponse(body, status_code=201, headers=headers), headers


async def _create(
    request: Request,
    ctx: AppContext,
    *,
    route: str,
    build: Any,
) -> Response:
    """Shared by both create endpoints: idempotency around the actual work in ``build``."""
    key = request.headers.get(idempotency.HEADER)
    scope = _idempotency_scope(ctx, route)
    # The query is part of the request: the owner may be given there (instanceOwnerPartyId).
    target = f"{request.url.path}?{request.url.query}"
    hasher = idempotency.RequestHasher(request.method, target, request.headers.get("content-type"))
    body_stream: AsyncIterator[bytes] = request.stream()
    if key is not None:
        idempotency.validate_key(key)
        body_stream = hasher.wrap(body_stream)
        stored = await idempotency.lookup(ctx.services.db, scope, key)
        if stored is not None:
            async for _ in body_stream:
                pass
            return idempotency.replay(stored, hasher.hexdigest())

    instantiation = Instantiation(ctx)
    response_holder: dict[str, Any] = {}

    async def before_flush(tx: Any) -> None:
        response, headers = await _created_response(ctx, tx.record)
        response_holder["response"] = response
        if key is not None:
            await idempotency.remember(
                tx.conn,
                scope,
                key,
                hasher.hexdigest(),
                201,
                {**headers, "content-type": response.media_type},
                bytes(response.body),
                ctx.now(),
            )

    try:
        await build(instantiation, body_stream, before_flush)
    except BaseException as exc:
        await instantiation.discard()
        if key is not None and _is_duplicate_key(exc):
            stored = await idempotency.lookup(ctx.services.db, scope, key)
            if stored is not None:
                return idempotency.replay(stored, hasher.hexdigest())
        raise
    response: JsonResponse = response_holder["response"]
    return response


def _is_duplicate_key(exc: BaseException) -> bool:
    from sqlalchemy.exc import IntegrityError

    return isinstance(exc, IntegrityError)


@router.post(
    "/instances",
    status_code=201,
    responses=_INSTANCE_RESPONSES,
    summary="Create an instance (JSON template, multipart with data, or owner in the query)",
)
async def create_instance(
    request: Request,
    ctx: Ctx,
    instance_owner_party_id: Annotated[
        int | None, Query(alias="instanceOwnerPartyId", ge=_INT32[0], le=_INT32[1])
    ] = None,
) -> Response:
    async def build(instantiation: Instantiation, body: AsyncIterator[bytes], before_flush: Any) -> None:
        content_type = request.headers.get("content-type") or ""
        template: Template | None = None
        if "multipart/" in content_type.lower():
            template = await _read_multipart(instantiation, content_type, body, ctx)
        else:
            raw = await _read_body(body, ctx.services.settings.max_json_body_bytes)
            if raw.strip() and "json" in content_type.lower():
                template = parse_template(raw)
        if instance_owner_party_id is None and template is None:
            raise json_error(
                "Cannot create an instance without an instanceOwner.partyId. Either provide instanceOwner party "
                "Id as a query parameter or an instanceTemplate object in the body."
            )
        if (
            instance_owner_party_id is not None
            and template is not None
            and template.owner
            and template.owner.party_id
        ):
            raise json_error(
                "You cannot provide an instanceOwnerPartyId as a query param as well as an instance template in "
                "the body. Choose one or the other."
            )
        spec = (
            OwnerSpec(party_id=str(instance_owner_party_id)) if instance_owner_party_id is not None else None
        )
        if spec is None:
            assert template is not None
            spec = template.owner or OwnerSpec()
        party = instantiation.resolve_owner(spec)
        await instantiation.authorize(party)
        await instantiation.commit(party, template, before_flush=before_flush)

    return await _create(request, ctx, route="instances", build=build)


router.add_api_route(
    "/instances/",
    create_instance,
    methods=["POST"],
    status_code=201,
    include_in_schema=False,
)


@router.post(
    "/instances/create",
    status_code=201,
    responses=_INSTANCE_RESPONSES,
    summary="Create an instance with prefill (simplified instantiation)",
)
async def create_instance_simplified(request: Request, ctx: Ctx) -> Response:
    async def build(instantiation: Instantiation, body: AsyncIterator[bytes], before_flush: Any) -> None:
        raw = await _read_body(body, ctx.services.settings.max_json_body_bytes)
        try:
            parsed = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError as exc:
            raise _binding_error("$", f"The request body is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise _binding_error("$", "A JSON object with instanceOwner is required.")
        owner_raw = parsed.get("instanceOwner") or parsed.get("InstanceOwner")
        template = parse_template(orjson.dumps({k: v for k, v in parsed.items() if k.lower() != "prefill"}))
        prefill_raw = parsed.get("prefill")
        prefill: dict[str, str] = {}
        if isinstance(prefill_raw, dict):
            prefill = {str(k): "" if v is None else str(v) for k, v in prefill_raw.items()}
        elif prefill_raw is not None:
            raise _binding_error("prefill", "prefill must be an object of dot paths to string values.")
        spec = template.owner if isinstance(owner_raw, dict) and template.owner else OwnerSpec()
        if not (spec.party_id or spec.person_number or spec.organisation_number):
            raise json_error(
                "Error: instanceOwnerPartyId query parameter is empty and InstanceOwner is missing from instance "
                "template. You must populate instanceOwnerPartyId or InstanceOwner"
            )
        source_id = parsed.get("sourceInstanceId")
        if source_id is not None and not isinstance(source_id, str):
            raise _binding_error("sourceInstanceId", "sourceInstanceId must be a string.")
        if source_id and not _copy_enabled(ctx):
            raise json_error(
                "Creating instance based on a copy from an archived instance is not enabled for this app."
            )
        party = instantiation.resolve_owner(spec)
        source = None
        if source_id:
            if source_id.split("/")[0] != str(party.party_id):
                raise json_error("It is not possible to copy instances between instance owners.")
            source = await _copy_source(ctx, source_id)
        await instantiation.authorize(party)
        await instantiation.commit(
            party, template, prefill=prefill, copy_source=source, before_flush=before_flush
        )

    return await _create(request, ctx, route="instances/create", build=build)


async def _copy_source(ctx: AppContext, source_id: str) -> InstanceRecord:
    from tinn.instances.links import split_instance_id

    parsed = split_instance_id(source_id)
    if parsed is None:
        raise json_error(f"Invalid sourceInstanceId: {source_id}")
    record = await read_instance(ctx.services.db, parsed[1])
    if record is None or record.instance.app_id != ctx.definition.id:
        raise json_error(f"Cannot lookup source instance {source_id}", 404)
    if not ctx.authorize("read", record.instance):
        raise EmptyError(403)
    if not record.instance.status.is_archived:
        raise json_error("It is not possible to copy an instance that isn't archived.")
    return record


def _copy_enabled(ctx: AppContext) -> bool:
    settings = ctx.definition.metadata.copy_instance_settings
    return bool(settings and settings.enabled)


def _binding_error(field: str, message: str) -> Problem:
    return Problem(
        400,
        "One or more validation errors occurred.",
        type="https://tools.ietf.org/html/rfc9110#section-15.5.1",
        extensions={"errors": {field: [message]}},
    )


async def _read_body(body: AsyncIterator[bytes], limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    async for chunk in body:
        total += len(chunk)
        if total > limit:
            raise Problem(413, "Request too large", f"The request body exceeds {limit} bytes.")
        parts.append(chunk)
    return b"".join(parts)


async def _read_multipart(
    instantiation: Instantiation, content_type: str, body: AsyncIterator[bytes], ctx: AppContext
) -> Template | None:
    from tinn.data.multipart import MultipartError, iter_parts

    template: Template | None = None
    unnamed: list[bytes] = []
    count = 0
    try:
        async for part in iter_parts(content_type, body):
            count += 1
            name = part.name
            if name == "instance":
                raw = await _read_body(part.content(), ctx.services.settings.max_json_body_bytes)
                if raw.strip() and part.content_type and "application/json" in part.content_type.lower():
                    template = parse_template(raw)
                continue
            if name == "notification":
                await _read_body(part.content(), ctx.services.settings.max_json_body_bytes)
                continue
            if not name:
                unnamed.append(await _read_body(part.content(), ctx.services.settings.max_json_body_bytes))
                continue
            await instantiation.add_part(part)
    except MultipartError as exc:
        raise Problem(400, "Error reading request", str(exc)) from None
    if count == 1 and len(unnamed) == 1:
        return parse_template(unnamed[0]) if unnamed[0].strip() else None
    if unnamed:
        # Only a lone unnamed part is the template; among others it names no data type.
        raise json_error(
            "Error when comparing content to application metadata: Multipart section named, '' does not "
            "correspond to an element type in application metadata"
        )
    return template


# -- reading --------------------------------------------------------------------------------------------


def route_party(party_id: int) -> int:
    """ASP.NET's `:int` is 32 bits: a larger party id matches no route (empty 404), never a query."""
    if not _INT32[0] <= party_id <= _INT32[1]:
        raise EmptyError(404)
    return party_id


async def load_for_app(ctx: AppContext, party_id: int, instance_guid: str) -> InstanceRecord:
    route_party(party_id)
    guid = parse_guid(instance_guid)
    record = await read_instance(ctx.services.db, guid)
    if (
        record is None
        or record.instance.app_id != ctx.definition.id
        or record.instance.instance_owner.party_id != str(party_id)
    ):
        raise framework_problem(404)
    return record


# `:int`/`:guid` route constraints: a malformed party or GUID matches no route (empty 404), and
# `/instances/{partyId}/active` is not taken for an instance GUID.
_INSTANCE = "/instances/{instanceOwnerPartyId:int}/{instanceGuid:uuid}"


@router.get(_INSTANCE, responses={200: {"model": InstanceResponse}}, summary="Get an instance")
async def get_instance(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID
) -> Response:
    record = await load_for_app(ctx, instanceOwnerPartyId, str(instanceGuid))
    if not ctx.authorize("read", record.instance):
        raise EmptyError(403)
    if request.headers.get("if-none-match") == record.etag:
        return Response(status_code=304, headers={"ETag": record.etag})
    if not ctx.is_app_owner and record.instance.status.read_status != ReadStatus.Read:
        record = await _mark_read(ctx, record)
    instance = readable_instance(ctx, record)
    return JsonResponse(instance_body(ctx, instance, with_party=True), headers={"ETag": record.etag})


async def _mark_read(ctx: AppContext, record: InstanceRecord) -> InstanceRecord:
    """Opening an instance (as anyone but its service owner) marks it read; lastChanged is kept."""
    async with change_instance(ctx.services.db, record.guid) as tx:
        tx.instance.status.read_status = ReadStatus.Read
    return tx.record


@router.get(
    "/instances/{instanceOwnerPartyId:int}/active",
    responses={200: {"model": list[SimpleInstance]}},
    summary="Active instances of a party for this app",
)
async def active_instances(ctx: Ctx, instanceOwnerPartyId: int) -> Response:
    route_party(instanceOwnerPartyId)
    instances = tables.instances
    async with ctx.services.db.read() as conn:
        rows = await conn.execute(
            select(instances.c.document)
            .where(
                instances.c.app_id == ctx.definition.id,
                instances.c.party_id == instanceOwnerPartyId,
                instances.c.is_archived.is_(False),
                instances.c.is_soft_deleted.is_(False),
                instances.c.is_hard_deleted.is_(False),
            )
            .order_by(instances.c.last_changed.desc(), instances.c.internal_id.desc())
        )
        documents = [row.document for row in rows]
    result = []
    for document in documents:
        item = SimpleInstance.model_validate(document)
        if not ctx.authorize("read", _instance_of(document)):
            continue
        body = app_json(item)
        body["lastChangedBy"] = _display_name(ctx, document.get("lastChangedBy"))
        result.append(body)
    return JsonResponse(result)


def _instance_of(document: dict[str, Any]) -> Any:
    from tinn.instances.models import Instance

    return Instance.model_validate(document)


def _display_name(ctx: AppContext, changed_by: str | None) -> str:
    """`lastChangedBy` as a name: 9 digits -> organisation name, a user id -> the user's party name."""
    register = ctx.services.register
    if not changed_by:
        return ""
    if len(changed_by) == 9 and changed_by.isdigit():
        party = register.party_by_org_number(changed_by)
        return party.name or "" if party else ""
    if changed_by.isdigit():
        user = register.user(int(changed_by))
        party = register.party(user.party_id) if user and user.party_id else None
        return party.name or "" if party else ""
    return ""


# -- writing (app notes 1.1; If-Match is a Tinn addition) ------------------------------------------------


def _expected_version(request: Request, record: InstanceRecord) -> int | None:
    """The version ``If-Match`` pins the write to (None: no precondition); 412 when it names another."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]
    if "*" in tags:
        return None
    if record.etag in tags:
        return record.version
    raise _precondition_failed()


def _precondition_failed() -> Problem:
    return Problem(412, "Precondition Failed", "The instance has changed since the given ETag.")


async def _storage_write(work: Coroutine[Any, Any, InstanceRecord]) -> InstanceRecord:
    """Storage's refusals in the App API's shapes: empty 403, framework 404, JSON string otherwise."""
    try:
        return await work
    except VersionConflict:
        raise _precondition_failed() from None
    except service.StorageError as exc:
        if exc.status in (401, 403):
            raise EmptyError(exc.status) from None
        if exc.message is None or exc.status == 404:
            raise framework_problem(exc.status) from None
        raise json_error(exc.message, exc.status) from None


def _instance_response(ctx: AppContext, record: InstanceRecord) -> JsonResponse:
    """The plain `Instance` (no `instanceOwner.party`) these endpoints return."""
    body = instance_body(ctx, service.instance_view(ctx.principal, record), with_party=False)
    return JsonResponse(body, headers={"ETag": record.etag})


@router.delete(_INSTANCE, summary="Soft delete an instance (hard=true: hard delete)")
async def delete_instance(
    request: Request,
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: uuid.UUID,
    hard: Annotated[bool, Query()] = False,
) -> Response:
    record = await load_for_app(ctx, instanceOwnerPartyId, str(instanceGuid))
    expected = _expected_version(request, record)
    record = await _storage_write(
        service.delete_instance(
            ctx.services, ctx.principal, record.guid, hard=hard, expected_version=expected
        )
    )
    return _instance_response(ctx, record)


@router.post(f"{_INSTANCE}/complete", summary="Confirm the instance complete for the caller's org")
async def complete_instance(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID
) -> Response:
    record = await load_for_app(ctx, instanceOwnerPartyId, str(instanceGuid))
    if not ctx.authorize("complete", record.instance):
        raise EmptyError(403)
    expected = _expected_version(request, record)
    record = await _storage_write(
        service.complete_instance(ctx.services, ctx.principal, record.guid, expected_version=expected)
    )
    return _instance_response(ctx, record)


@router.put(f"{_INSTANCE}/substatus", summary="Set the substatus (the app owner only)")
async def update_substatus(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID
) -> Response:
    substatus = await _substatus_body(request, ctx)
    if substatus is None or not substatus.label:
        shown = orjson.dumps(substatus.model_dump(by_alias=True) if substatus else None).decode()
        raise json_error(f"Invalid sub status: {shown}. Substatus must be defined and include a label.")
    record = await load_for_app(ctx, instanceOwnerPartyId, str(instanceGuid))
    if not ctx.is_app_owner:
        raise EmptyError(403)
    expected = _expected_version(request, record)
    record = await _storage_write(
        service.set_substatus(ctx.services, ctx.principal, record.guid, substatus, expected_version=expected)
    )
    return _instance_response(ctx, record)


async def _substatus_body(request: Request, ctx: AppContext) -> Substatus | None:
    """`Substatus` from JSON or XML; an empty or unreadable body is a model-binding problem."""
    raw = await _read_body(request.stream(), ctx.services.settings.max_json_body_bytes)
    if not raw.strip():
        raise _binding_error("", "A non-empty request body is required.")
    content_type = (request.headers.get("content-type") or "").lower()
    if "xml" in content_type:
        return _substatus_from_xml(raw)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _binding_error("$", f"The JSON value could not be read: {exc}".splitlines()[0]) from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise _binding_error("$", "The JSON value could not be converted to Substatus.")
    values = {str(k).lower(): v for k, v in data.items()}
    label, description = values.get("label"), values.get("description")
    for name, value in (("label", label), ("description", description)):
        if value is not None and not isinstance(value, str):
            raise _binding_error(f"$.{name}", f"The JSON value could not be converted to {name}.")
    return Substatus(label=label, description=description)


def _substatus_from_xml(raw: bytes) -> Substatus:
    from lxml import etree

    from tinn.xmlsafe import UnsafeXml, XmlSyntaxError, parse_xml

    try:
        root = parse_xml(raw)
    except (UnsafeXml, XmlSyntaxError) as exc:
        raise _binding_error("", f"The XML body could not be read: {exc}") from None
    values: dict[str, str | None] = {}
    for child in root:
        if isinstance(child.tag, str):
            values[etree.QName(child).localname.lower()] = child.text
    return Substatus(label=values.get("label"), description=values.get("description"))
