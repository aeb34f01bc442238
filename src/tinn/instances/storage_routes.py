"""The Storage API's instance endpoints under ``/storage/api/v1/instances`` (platform notes 1.2-1.7).

A thin HTTP layer over :mod:`tinn.instances.service` and :mod:`tinn.instances.query`: it binds
path, query and body the way ASP.NET does (names in any letter case, a malformed route id is no
route match), renders Storage's JSON (nulls dropped, ``readStatus`` by name, only
``selfLinks.platform``) and picks each endpoint's error family (platform notes 0): message strings
as JSON, an empty 403 for ``Forbid()``, ProblemDetails for locks and signing,
ValidationProblemDetails for bodies and values that do not bind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, TypeVar, get_args, get_origin
from urllib.parse import unquote_plus

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response, StreamingResponse

from tinn.auth.dependencies import require_principal
from tinn.auth.principal import Principal
from tinn.data.multipart import MultipartError, is_multipart, iter_parts
from tinn.data.upload import parse_content_disposition
from tinn.http.errors import (
    PROBLEM_JSON,
    REASONS,
    RFC9110_TYPES,
    ApiError,
    EmptyError,
    PlainError,
    Problem,
    framework_problem,
    trace_id,
)
from tinn.http.responses import JsonResponse
from tinn.instances import download, query, service
from tinn.instances.models import (
    DataElement,
    Instance,
    InstanceEvent,
    ProcessState,
    Substatus,
    Wire,
    app_json,
    storage_json,
)
from tinn.instances.service import StorageError
from tinn.instances.store import DataRecord, InstanceRecord
from tinn.services import Services, get_services
from tinn.storage.blobs.base import BlobNotFound, InvalidRange
from tinn.timeutil import parse_iso

router = APIRouter(prefix="/storage/api/v1/instances", tags=["Storage: instances"])

Caller = Annotated[Principal, Depends(require_principal)]
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

_INSTANCE_PATH = "/{instanceOwnerPartyId}/{instanceGuid}"
_STREAM_CHUNK = 1024 * 1024


# -- binding ---------------------------------------------------------------------------------------


def _no_route() -> EmptyError:
    """A malformed route value: no route matches (ASP.NET's ``:int``/``:guid`` constraints)."""
    return EmptyError(404)


def _guid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _no_route() from None


def _party(value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise _no_route()
    number = int(text)
    if not -(2**31) <= number < 2**31:
        raise _no_route()
    return number


def _query_values(request: Request, name: str) -> list[str]:
    wanted = name.lower()
    return [v for k, v in request.query_params.multi_items() if k.lower() == wanted and v != ""]


def _query_value(request: Request, name: str) -> str | None:
    values = _query_values(request, name)
    return values[0] if values else None


def _validation_problem(request: Request, errors: dict[str, list[str]]) -> Problem:
    return Problem(
        400,
        "One or more validation errors occurred.",
        type=RFC9110_TYPES[400],
        extensions={"errors": errors, "traceId": trace_id(request)},
        media_type=PROBLEM_JSON,
    )


def _query_bool(request: Request, name: str, default: bool | None = None) -> bool | None:
    raw = _query_value(request, name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("true", "false"):
        return value == "true"
    raise _validation_problem(request, {name: [f"The value '{raw}' is not valid."]})


def _query_guids(request: Request, name: str) -> list[str] | None:
    values = _query_values(request, name)
    if not values:
        return None
    try:
        return [str(uuid.UUID(v)) for v in values]
    except ValueError:
        raise _validation_problem(request, {name: ["The value is not a valid GUID."]}) from None


def _model_types(annotation: Any) -> list[Any]:
    """The classes inside ``X | None``, ``list[X]``, ``dict[str, X]`` annotations."""
    origin = get_origin(annotation)
    if origin is None:
        return [annotation]
    return [t for arg in get_args(annotation) for t in _model_types(arg)]


def _normalise(model: type[BaseModel], data: Any) -> Any:
    """Match JSON member names to the model case-insensitively (Newtonsoft reads any case) and
    enum names in any case, leaving free-form dictionaries (dataValues, texts) untouched."""
    if not isinstance(data, dict):
        return data
    fields: dict[str, tuple[str, Any]] = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        fields.setdefault(alias.lower(), (alias, info.annotation))
        fields.setdefault(name.lower(), (alias, info.annotation))
    out: dict[str, Any] = {}
    for key, value in data.items():
        found = fields.get(key.lower()) if isinstance(key, str) else None
        if found is None:
            continue
        alias, annotation = found
        out[alias] = _normalise_value(annotation, value)
    return out


def _normalise_value(annotation: Any, value: Any) -> Any:
    if get_origin(annotation) is dict:
        return value
    for kind in _model_types(annotation):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            if isinstance(value, list):
                return [_normalise(kind, item) for item in value]
            return _normalise(kind, value)
        if isinstance(kind, type) and isinstance(value, str) and hasattr(kind, "__members__"):
            members: dict[str, Any] = kind.__members__
            for member_name, member in members.items():
                if member_name.lower() == value.strip().lower():
                    return member.value
    return value


async def _body(request: Request) -> bytes:
    limit = get_services(request).settings.max_json_body_bytes
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PlainError(413, f"The request body exceeds {limit} bytes.", json=True)
        parts.append(chunk)
    return b"".join(parts)


async def _json_body(request: Request, model: type[M]) -> M | None:
    """A JSON body bound to ``model``; ``null`` is None; empty or invalid JSON is a 400."""
    raw = await _body(request)
    if not raw.strip():
        raise _validation_problem(request, {"": ["A non-empty request body is required."]})
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _validation_problem(request, {"$": [f"The JSON value could not be read: {exc}"]}) from None
    if data is None:
        return None
    try:
        return model.model_validate(_normalise(model, data))
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            key = "$." + ".".join(str(p) for p in error["loc"]) if error["loc"] else "$"
            errors.setdefault(key, []).append(str(error["msg"]))
        raise _validation_problem(request, errors) from None


# -- errors and rendering ---------------------------------------------------------------------------


def _error(request: Request, exc: StorageError, *, problem: bool = False) -> ApiError:
    if exc.message is None:
        if exc.status in (401, 403):
            return EmptyError(exc.status)
        return framework_problem(exc.status, request)
    if problem:
        return Problem(
            exc.status,
            REASONS.get(exc.status, "Error"),
            exc.message,
            type=RFC9110_TYPES.get(exc.status),
            extensions={"traceId": trace_id(request)},
            media_type=PROBLEM_JSON,
        )
    return PlainError(exc.status, exc.message, json=True)


async def _call(request: Request, work: Coroutine[Any, Any, T], *, problem: bool = False) -> T:
    try:
        return await work
    except StorageError as exc:
        raise _error(request, exc, problem=problem) from None


def _instance_json(services: Services, principal: Principal, record: InstanceRecord) -> dict[str, Any]:
    instance = service.instance_view(principal, record)
    body: dict[str, Any] = storage_json(app_json(service.links(services).decorate(instance, apps=False)))
    return body


def _instance_response(
    request: Request, principal: Principal, record: InstanceRecord, status: int = 200
) -> JsonResponse:
    body = _instance_json(get_services(request), principal, record)
    headers = {"Location": body["selfLinks"]["platform"]} if status == 201 else None
    return JsonResponse(body, status_code=status, headers=headers)


def _element_json(services: Services, party: int, guid: uuid.UUID, element: DataElement) -> dict[str, Any]:
    """A data element with ``selfLinks.platform`` under the route's instance id, as Storage does."""
    decorated = service.links(services).decorate_data("", "", f"{party}/{guid}", element, apps=False)
    body: dict[str, Any] = storage_json(app_json(decorated))
    return body


def _element_response(
    request: Request, party: int, guid: uuid.UUID, element: DataElement, status: int = 200
) -> JsonResponse:
    body = _element_json(get_services(request), party, guid, element)
    headers = {"Location": body["selfLinks"]["platform"]} if status == 201 else None
    return JsonResponse(body, status_code=status, headers=headers)


def _event_json(event: InstanceEvent) -> dict[str, Any]:
    body: dict[str, Any] = storage_json(event.model_dump(mode="json", by_alias=True))
    return body


# -- query and create -------------------------------------------------------------------------------

_QUERY_PARAMETERS = [
    ("org", "string", "Service owner code, e.g. `ttd`."),
    ("appId", "string", "`{org}/{app}`."),
    ("instanceOwner.partyId", "integer", "Party id of the instance owner."),
    ("process.currentTask", "string", "Element id of the current task."),
    ("process.isComplete", "boolean", "`true`: the process has ended; `false`: it is in a task."),
    ("process.ended", "string", "Date expression(s) `gt|gte|lt|lte|eq:{ISO time}`, repeatable."),
    ("lastChanged", "string", "Date expression(s), repeatable."),
    ("created", "string", "Date expression(s), repeatable."),
    ("visibleAfter", "string", "Date expression(s), repeatable."),
    ("dueBefore", "string", "Date expression(s), repeatable."),
    ("excludeConfirmedBy", "string", "Leave out instances this stakeholder confirmed complete; repeatable."),
    ("confirmed", "boolean", "Confirmed complete by the instance's own org."),
    ("status.isSoftDeleted", "boolean", ""),
    ("status.isHardDeleted", "boolean", "End users always get an empty page for `true`."),
    ("status.isArchived", "boolean", ""),
    ("searchString", "string", "Substring of a presentation text (case-insensitive)."),
    ("order", "string", "`desc:lastChanged` (default) or `asc:lastChanged`."),
    ("size", "integer", f"Page size, default {query.DEFAULT_PAGE_SIZE}, at most {query.MAX_PAGE_SIZE}."),
    ("continuationToken", "string", "The token of the `next` link."),
]


@router.get(
    "",
    summary="Query instances (service owners: their org's; users: a party's)",
    openapi_extra={
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": text}
            for name, kind, text in _QUERY_PARAMETERS
        ]
        + [
            {
                "name": query.IDENTIFIER_HEADER,
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "`person:{11 digits}` or `organisation:{9 digits}` instead of a party id.",
            }
        ]
    },
)
async def get_instances(request: Request, principal: Caller) -> Response:
    services = get_services(request)
    items = request.query_params.multi_items()
    try:
        parsed = query.parse_query(items, request.headers.get(query.IDENTIFIER_HEADER))
        page = await query.query_instances(services, principal, parsed)
    except query.QueryError as exc:
        if exc.errors is not None:
            raise _validation_problem(request, exc.errors) from None
        if exc.message is None:
            raise EmptyError(exc.status) from None  # Forbid() and the bare BadRequest() (notes 1.3)
        raise PlainError(exc.status, exc.message, json=True) from None
    self_link, next_link = query.page_links(
        services.settings.effective_platform_url,
        request.url.path,
        items,
        request.scope["query_string"].decode("latin-1"),
        page.next_token,
    )
    body = {
        "count": len(page.instances),
        "self": self_link if page.with_self else None,
        "next": next_link,
        "instances": page.instances,
    }
    return JsonResponse(body)


@router.post("", status_code=201, summary="Create an instance from a template (no process is started)")
async def post_instance(request: Request, principal: Caller) -> Response:
    template = await _json_body(request, Instance)
    if template is None:
        raise _validation_problem(request, {"": ["A non-empty request body is required."]})
    record = await _call(
        request,
        service.create_instance(get_services(request), principal, _query_value(request, "appId"), template),
    )
    return _instance_response(request, principal, record, 201)


# -- one instance ------------------------------------------------------------------------------------


@router.get(_INSTANCE_PATH, summary="Get an instance")
async def get_instance(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    record = await _call(request, service.get_instance(get_services(request), principal, _guid(instanceGuid)))
    return _instance_response(request, principal, record)


@router.get("/{instanceGuid}", summary="Get an instance by its GUID")
async def get_instance_by_guid(request: Request, principal: Caller, instanceGuid: str) -> Response:
    record = await _call(request, service.get_instance(get_services(request), principal, _guid(instanceGuid)))
    return _instance_response(request, principal, record)


@router.delete(_INSTANCE_PATH, summary="Soft delete (or with hard=true hard delete) an instance")
async def delete_instance(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    hard = bool(_query_bool(request, "hard", False))
    record = await _call(
        request, service.delete_instance(get_services(request), principal, _guid(instanceGuid), hard=hard)
    )
    return _instance_response(request, principal, record)


@router.post(f"{_INSTANCE_PATH}/complete", summary="Confirm the instance complete for the caller's org")
async def complete(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    record = await _call(
        request, service.complete_instance(get_services(request), principal, _guid(instanceGuid))
    )
    return _instance_response(request, principal, record)


@router.put(f"{_INSTANCE_PATH}/readstatus", summary="Set the read status")
async def read_status(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    guid = _guid(instanceGuid)

    async def work() -> InstanceRecord:
        status = service.parse_read_status(_query_value(request, "status"))
        return await service.set_read_status(get_services(request), principal, guid, status)

    record = await _call(request, work())
    return _instance_response(request, principal, record)


@router.put(f"{_INSTANCE_PATH}/substatus", summary="Set the substatus (the instance's own org only)")
async def substatus(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    body = await _json_body(request, Substatus)
    record = await _call(
        request, service.set_substatus(get_services(request), principal, _guid(instanceGuid), body)
    )
    return _instance_response(request, principal, record)


class PresentationTexts(Wire):
    texts: dict[str, str | None] | None = None


class DataValues(Wire):
    values: dict[str, str | None] | None = None


@router.put(f"{_INSTANCE_PATH}/presentationtexts", summary="Merge presentation texts (empty value removes)")
async def presentation_texts(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    body = await _json_body(request, PresentationTexts)
    texts = body.texts if body else None
    record = await _call(
        request,
        service.update_presentation_texts(get_services(request), principal, _guid(instanceGuid), texts),
    )
    return _instance_response(request, principal, record)


@router.put(f"{_INSTANCE_PATH}/datavalues", summary="Merge data values (empty value removes)")
async def data_values(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    body = await _json_body(request, DataValues)
    values = body.values if body else None
    record = await _call(
        request, service.update_data_values(get_services(request), principal, _guid(instanceGuid), values)
    )
    return _instance_response(request, principal, record)


# -- instance lock ------------------------------------------------------------------------------------


class LockRequest(Wire):
    ttl_seconds: int = 0


@router.post(f"{_INSTANCE_PATH}/lock", summary="Acquire the instance lock (advisory)")
async def acquire_lock(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    party, guid = _party(instanceOwnerPartyId), _guid(instanceGuid)
    body = await _json_body(request, LockRequest) or LockRequest()
    token = await _call(
        request,
        service.acquire_instance_lock(get_services(request), principal, party, guid, body.ttl_seconds),
        problem=True,
    )
    return JsonResponse({"lockToken": token})


@router.patch(f"{_INSTANCE_PATH}/lock", status_code=204, summary="Extend or (ttlSeconds 0) release a lock")
async def update_lock(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    party, guid = _party(instanceOwnerPartyId), _guid(instanceGuid)
    body = await _json_body(request, LockRequest) or LockRequest()
    token = request.headers.get(service.LOCK_TOKEN_HEADER)
    await _call(
        request,
        service.update_instance_lock(get_services(request), party, guid, token, body.ttl_seconds),
        problem=True,
    )
    return Response(status_code=204)


# -- process -------------------------------------------------------------------------------------------


class ProcessStateUpdate(Wire):
    state: ProcessState | None = None
    events: list[InstanceEvent] | None = None


@router.put(f"{_INSTANCE_PATH}/process", summary="Replace the process state (archives on first end)")
async def put_process(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    state = await _json_body(request, ProcessState) or ProcessState()
    record = await _call(
        request, service.update_process(get_services(request), principal, _guid(instanceGuid), state)
    )
    return _instance_response(request, principal, record)


@router.put(f"{_INSTANCE_PATH}/process/instanceandevents", summary="Replace the process state and add events")
async def put_process_and_events(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    delete_generated = _query_bool(request, "deleteGeneratedElements", True) is not False
    body = await _json_body(request, ProcessStateUpdate) or ProcessStateUpdate()
    record = await _call(
        request,
        service.update_process(
            get_services(request),
            principal,
            _guid(instanceGuid),
            body.state or ProcessState(),
            body.events or [],
            delete_generated=delete_generated,
        ),
    )
    return _instance_response(request, principal, record)


@router.get(f"{_INSTANCE_PATH}/process/history", summary="Process history (from the process events)")
async def get_process_history(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    services = get_services(request)
    record = await _call(request, service.readable_record(services, principal, _guid(instanceGuid)))
    return JsonResponse(storage_json(await service.process_history(services, record)))


# -- instance events ----------------------------------------------------------------------------------


@router.get(f"{_INSTANCE_PATH}/events", summary="Instance events (filters eventTypes, from and to)")
async def get_events(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    start, end = _query_value(request, "from"), _query_value(request, "to")
    from_time = to_time = None
    if start and end:
        try:
            from_time, to_time = parse_iso(start), parse_iso(end)
        except (ValueError, OverflowError):
            raise PlainError(
                400,
                "Unable to perform query. Invalid format for time span. Use string format of UTC.",
                json=True,
            ) from None
    events = await _call(
        request,
        service.list_instance_events(
            get_services(request),
            principal,
            _guid(instanceGuid),
            event_types=_query_values(request, "eventTypes"),
            from_time=from_time,
            to_time=to_time,
        ),
    )
    return JsonResponse({"instanceEvents": [_event_json(e) for e in events]})


@router.get(f"{_INSTANCE_PATH}/events/{{eventGuid}}", summary="One instance event")
async def get_event(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str, eventGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    event = await _call(
        request,
        service.get_instance_event(get_services(request), principal, _guid(instanceGuid), _guid(eventGuid)),
    )
    if event is None:
        raise framework_problem(404, request)
    return JsonResponse(_event_json(event))


@router.post(f"{_INSTANCE_PATH}/events", status_code=201, summary="Add an instance event")
async def post_event(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    guid = _guid(instanceGuid)
    event = await _json_body(request, InstanceEvent)
    stored = await _call(request, service.add_instance_event(get_services(request), principal, guid, event))
    location = f"{get_services(request).settings.effective_platform_url}{request.url.path}/{stored.id}"
    return JsonResponse(_event_json(stored), status_code=201, headers={"Location": location})


# -- data elements ------------------------------------------------------------------------------------


@router.get(f"{_INSTANCE_PATH}/dataelements", summary="The data elements of an instance")
async def get_data_elements(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    party = _party(instanceOwnerPartyId)
    guid = _guid(instanceGuid)
    if party == 0:
        raise PlainError(400, "Missing parameter value: instanceOwnerPartyId can not be empty", json=True)
    services = get_services(request)
    elements = await _call(request, service.list_data_elements(services, principal, guid))
    return JsonResponse({"dataElements": [_element_json(services, party, guid, e) for e in elements]})


@router.put(f"{_INSTANCE_PATH}/dataelements/{{dataGuid}}", summary="Replace a data element's metadata")
async def put_data_element(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str, dataGuid: str
) -> Response:
    party = _party(instanceOwnerPartyId)
    guid, data_guid = _guid(instanceGuid), _guid(dataGuid)
    body = await _json_body(request, DataElement)
    if body is None:
        raise _validation_problem(request, {"": ["A non-empty request body is required."]})
    services = get_services(request)
    data = await _call(
        request, service.update_data_element_metadata(services, principal, guid, data_guid, body)
    )
    return _element_response(request, party, guid, data.element)


def _content_disposition(filename: str) -> str:
    """``attachment; filename=...; filename*=UTF-8''...`` as ASP.NET writes it for File()."""
    from urllib.parse import quote

    ascii_name = "".join(ch if 0x20 <= ord(ch) < 0x7F else "_" for ch in filename)
    if any(ch in ascii_name for ch in ' ";\\,()<>@:/[]?={}\t'):
        ascii_name = '"' + ascii_name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"attachment; filename={ascii_name}; filename*=UTF-8''{quote(filename, safe='')}"


def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """A single ``bytes=`` range as an inclusive (start, end); None to serve everything (no,
    several or malformed ranges); False when it cannot be satisfied (416)."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or (first and not first.isdigit()) or (last and not last.isdigit()) or not (first or last):
        return None
    if not first:
        length = int(last)
        if length == 0 or size == 0:
            return False
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return False
    return start, min(end, size - 1)


@router.get(f"{_INSTANCE_PATH}/data/{{dataGuid}}", summary="Download a data element (Range supported)")
async def get_data(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str, dataGuid: str
) -> Response:
    party = _party(instanceOwnerPartyId)
    guid, data_guid = _guid(instanceGuid), _guid(dataGuid)
    if party == 0:
        raise PlainError(400, "Missing parameter value: instanceOwnerPartyId can not be empty", json=True)
    services = get_services(request)
    found = await _call(request, service.open_data_element(services, principal, guid, data_guid))
    element = found.element
    if not found.blob_key:
        raise PlainError(404, "Unable to find requested data item", json=True)
    headers: dict[str, str] = {"Accept-Ranges": "bytes"}
    etag = f'"{element.content_hash}"' if element.content_hash else None
    if etag:
        headers["ETag"] = etag
    if element.filename:
        headers["Content-Disposition"] = _content_disposition(element.filename)
    media_type = element.content_type or "application/octet-stream"
    if etag and request.headers.get("if-none-match") in (etag, "*"):
        return Response(status_code=304, headers=headers)
    size = element.size
    if_range = request.headers.get("if-range")
    wanted = parse_range(request.headers.get("range"), size) if not if_range or if_range == etag else None
    if wanted is False:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = wanted if isinstance(wanted, tuple) else (None, None)
    try:
        stream = await services.blobs.open(found.blob_key, start=start, end=end)
    except BlobNotFound:
        raise PlainError(
            404, f"Unable to read data element from blob storage for {data_guid}", json=True
        ) from None
    except InvalidRange:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Length"] = str(stream.size)
    status = 200
    if isinstance(wanted, tuple):
        status = 206
        headers["Content-Range"] = (
            f"bytes {stream.start}-{stream.start + stream.size - 1}/{stream.total_size}"
        )

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()

    return StreamingResponse(body(), status_code=status, media_type=media_type, headers=headers)


async def _with_upload(
    request: Request, work: Callable[[str | None, str | None, AsyncIterator[bytes]], Coroutine[Any, Any, T]]
) -> T:
    """Run ``work(content_type, filename, chunks)`` on the raw body, or on the first part of a
    multipart body (Storage reads only the first part)."""
    content_type = request.headers.get("content-type")
    if not is_multipart(content_type):
        disposition = parse_content_disposition(request.headers.get("content-disposition"))
        filename = unquote_plus(disposition.filename) if disposition and disposition.filename else None
        return await _call(request, work(content_type, filename, request.stream()))
    parts = iter_parts(content_type, request.stream())
    try:
        part = await anext(parts, None)
        if part is None:
            raise PlainError(400, "No data attachments found", json=True)
        disposition = parse_content_disposition(part.content_disposition)
        filename = unquote_plus(disposition.filename) if disposition and disposition.filename else None
        return await _call(request, work(part.content_type, filename, part.content()))
    except MultipartError as exc:
        raise PlainError(400, str(exc), json=True) from None
    finally:
        if isinstance(parts, AsyncGenerator):
            await parts.aclose()


@router.post(f"{_INSTANCE_PATH}/data", status_code=201, summary="Upload a new data element (?dataType=)")
async def post_data(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    party = _party(instanceOwnerPartyId)
    guid = _guid(instanceGuid)
    data_type = _query_value(request, "dataType")
    if party == 0 or not data_type:
        raise PlainError(
            400,
            "Missing parameter values: instanceId, elementType or attached file content cannot be null",
            json=True,
        )
    refs = _query_guids(request, "refs")
    task = _query_value(request, "generatedFromTask")
    services = get_services(request)

    async def work(
        content_type: str | None, filename: str | None, chunks: AsyncIterator[bytes]
    ) -> DataRecord:
        return await service.create_data_element(
            services,
            principal,
            guid,
            data_type=data_type,
            content_type=content_type,
            filename=filename,
            content=chunks,
            refs=refs,
            generated_from_task=task,
        )

    data = await _with_upload(request, work)
    return _element_response(request, party, guid, data.element, 201)


@router.put(f"{_INSTANCE_PATH}/data/{{dataGuid}}", summary="Replace a data element's content")
async def put_data(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str, dataGuid: str
) -> Response:
    party = _party(instanceOwnerPartyId)
    guid, data_guid = _guid(instanceGuid), _guid(dataGuid)
    if party == 0:
        raise PlainError(
            400,
            "Missing parameter values: instanceId, datafile or attached file content cannot be empty",
            json=True,
        )
    refs = _query_guids(request, "refs")
    task = _query_value(request, "generatedFromTask")
    services = get_services(request)

    async def work(
        content_type: str | None, filename: str | None, chunks: AsyncIterator[bytes]
    ) -> DataRecord:
        return await service.overwrite_data_element(
            services,
            principal,
            guid,
            data_guid,
            content_type=content_type,
            filename=filename,
            content=chunks,
            refs=refs,
            generated_from_task=task,
        )

    data = await _with_upload(request, work)
    return _element_response(request, party, guid, data.element)


@router.delete(f"{_INSTANCE_PATH}/data/{{dataGuid}}", summary="Delete a data element (delay=true: delayed)")
async def delete_data(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str, dataGuid: str
) -> Response:
    party = _party(instanceOwnerPartyId)
    guid, data_guid = _guid(instanceGuid), _guid(dataGuid)
    delay = bool(_query_bool(request, "delay", False))
    services = get_services(request)
    element = await _call(
        request, service.delete_data_element(services, principal, guid, data_guid, delay=delay)
    )
    return _element_response(request, party, guid, element)


@router.put(f"{_INSTANCE_PATH}/data/{{dataGuid}}/lock", summary="Lock a data element")
async def lock_data(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str, dataGuid: str
) -> Response:
    party = _party(instanceOwnerPartyId)
    guid, data_guid = _guid(instanceGuid), _guid(dataGuid)
    services = get_services(request)
    element, created = await _call(request, service.lock_data_element(services, principal, guid, data_guid))
    return JsonResponse(_element_json(services, party, guid, element), status_code=201 if created else 200)


@router.delete(f"{_INSTANCE_PATH}/data/{{dataGuid}}/lock", summary="Unlock a data element")
async def unlock_data(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str, dataGuid: str
) -> Response:
    party = _party(instanceOwnerPartyId)
    guid, data_guid = _guid(instanceGuid), _guid(dataGuid)
    services = get_services(request)
    element = await _call(request, service.unlock_data_element(services, principal, guid, data_guid))
    return _element_response(request, party, guid, element)


# -- signing and download ------------------------------------------------------------------------------


@router.post(f"{_INSTANCE_PATH}/sign", status_code=201, summary="Create a signature document")
async def sign(request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str) -> Response:
    _party(instanceOwnerPartyId)
    body = await _json_body(request, service.SignRequest) or service.SignRequest()
    await _call(
        request,
        service.sign_instance(get_services(request), principal, _guid(instanceGuid), body),
        problem=True,
    )
    return JsonResponse("SignDocument is created", status_code=201)


@router.get(
    f"{_INSTANCE_PATH}/download",
    summary="Tinn: the instance, its data elements and a manifest as one streamed ZIP",
    response_class=StreamingResponse,
)
async def download_instance(
    request: Request, principal: Caller, instanceOwnerPartyId: str, instanceGuid: str
) -> Response:
    _party(instanceOwnerPartyId)
    guid = _guid(instanceGuid)
    archive = await _call(request, download.prepare(get_services(request), principal, guid))
    headers = {"Content-Disposition": f'attachment; filename="{guid}.zip"'}
    return StreamingResponse(archive.stream(), media_type="application/zip", headers=headers)
