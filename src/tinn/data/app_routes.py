"""App API data element endpoints (``/{org}/{app}/instances/{p}/{g}/data...``, app notes 1.2, 1.11, 5).

The routes parse HTTP (headers, queries, bodies), call :mod:`tinn.data.service` and write the
responses in the error family each endpoint has in Altinn: ProblemDetails for the current
endpoints, ``text/plain`` for the legacy ``POST data?dataType=`` and for the common upload checks
of ``PUT``, JSON string literals for user-defined metadata.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response, StreamingResponse

from tinn.data import formdata, forms, scan
from tinn.data import service as data_service
from tinn.data.formdata import FormDataError
from tinn.data.scan import FileScans
from tinn.data.service import (
    Incoming,
    ReceivedTooLarge,
    Target,
    UploadRejected,
    WriteOutcome,
    element_etag,
    problem,
)
from tinn.data.upload import issues_text
from tinn.http.errors import (
    JSON,
    PROBLEM_JSON,
    RFC9110_TYPES,
    EmptyError,
    PlainError,
    Problem,
    framework_problem,
    trace_id,
)
from tinn.instances import idempotency
from tinn.instances.app_routes import Ctx
from tinn.instances.context import AppContext
from tinn.instances.models import DataElement, KeyValueEntry, app_json
from tinn.instances.render import instance_body, readable_instance
from tinn.instances.store import InstanceRecord
from tinn.storage.blobs.base import BlobNotFound, InvalidRange
from tinn.validation.models import pairs_json


@asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Run the file-scan workers of this process while the server runs."""
    scans = await scan.start_file_scans(app.state.services)
    app.state.file_scans = scans
    try:
        yield
    finally:
        if scans is not None:
            await scans.stop()


PREFIX = "/{org}/{app}/instances/{instanceOwnerPartyId:int}/{instanceGuid:uuid}"
router = APIRouter(prefix=PREFIX, tags=["Data"], lifespan=_lifespan)

IgnoredValidators = Annotated[
    str | None,
    Query(alias="ignoredValidators", description="Comma-separated validator sources; absent: no validation"),
]
_DATA_POST = {"description": "DataPostResponse: the new element's id, the instance, validation, new models"}


def file_scans(request: Request) -> FileScans | None:
    """The file-scan queue of this process (None when scanning is off)."""
    scans: FileScans | None = getattr(request.app.state, "file_scans", None)
    return scans


def _ignored(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [item for item in value.split(",") if item]


def _json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON that may carry form data (exact decimals), as the App API writes it."""
    return Response(formdata.dump_json(body), status, headers, media_type=JSON)


def _binding_error(request: Request, key: str, message: str) -> Problem:
    """ASP.NET's model-binding failure (ValidationProblemDetails)."""
    return Problem(
        400,
        "One or more validation errors occurred.",
        type=RFC9110_TYPES[400],
        extensions={"errors": {key: [message]}, "traceId": trace_id(request)},
        media_type=PROBLEM_JSON,
    )


def _element_json(ctx: AppContext, record: InstanceRecord, element: DataElement) -> dict[str, Any]:
    assert record.instance.id is not None
    return app_json(ctx.links.decorate_data(ctx.org, ctx.app, record.instance.id, element))


def _incoming(request: Request, chunks: AsyncIterator[bytes] | None = None) -> Incoming:
    return Incoming(request.headers, chunks if chunks is not None else request.stream())


async def _read_json(request: Request, *, media_types: tuple[str, ...] = ("json",)) -> Any:
    """A JSON request body (exact numbers, bounded depth and size) as ``[FromBody]`` reads it."""
    content_type = (request.headers.get("content-type") or "").lower()
    if not any(kind in content_type for kind in media_types):
        raise framework_problem(415, request)
    limit = request.app.state.services.settings.max_json_body_bytes
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise problem(
                413, "Request too large", f"The request body is larger than the limit of {limit} bytes."
            )
        parts.append(chunk)
    body = b"".join(parts)
    if not body.strip():
        raise _binding_error(request, "$", "A non-empty request body is required.")
    try:
        return formdata.parse_json(body)
    except FormDataError as exc:
        raise _binding_error(request, "$", exc.message) from None


# -- POST data ----------------------------------------------------------------------------------------


def _who(ctx: AppContext) -> str:
    principal = ctx.principal
    if principal.user_id is not None:
        return f"u{principal.user_id}"
    if principal.system_user_id:
        return f"s{principal.system_user_id}"
    return f"o{principal.org_number}"


async def _post(
    request: Request,
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    data_type: str,
    *,
    legacy: bool,
    ignored: list[str] | None,
) -> Response:
    """Both create endpoints: an ``Idempotency-Key`` around :func:`service.create_element`."""
    key = request.headers.get(idempotency.HEADER)
    scope = f"{_who(ctx)}:{ctx.definition.id}:data:{guid}"
    hasher = idempotency.RequestHasher(
        request.method, f"{request.url.path}?{request.url.query}", request.headers.get("content-type")
    )
    hasher.update((request.headers.get("content-disposition") or "").encode("utf-8", "replace") + b"\0")
    chunks: AsyncIterator[bytes] = request.stream()
    if key is not None:
        idempotency.validate_key(key)
        chunks = hasher.wrap(chunks)
        stored = await idempotency.lookup(ctx.services.db, scope, key)
        if stored is not None:
            async for _ in chunks:
                pass
            return idempotency.replay(stored, hasher.hexdigest())

    replies: list[Response] = []

    async def before_commit(tx: Any, outcome: WriteOutcome) -> None:
        reply = _created_reply(ctx, outcome, legacy=legacy)
        replies.append(reply)
        if key is not None:
            headers = {name: value for name, value in reply.headers.items() if name.lower() == "location"}
            headers["content-type"] = reply.media_type or JSON
            await idempotency.remember(
                tx.conn,
                scope,
                key,
                hasher.hexdigest(),
                reply.status_code,
                headers,
                bytes(reply.body),
                ctx.now(),
            )

    try:
        await data_service.create_element(
            ctx,
            party_id,
            guid,
            data_type,
            _incoming(request, chunks),
            ignored_validators=ignored,
            scans=file_scans(request),
            before_commit=before_commit,
        )
    except IntegrityError:
        if key is None:
            raise
        stored = await idempotency.lookup(ctx.services.db, scope, key)
        if stored is None:
            raise
        return idempotency.replay(stored, hasher.hexdigest())
    except UploadRejected as exc:
        if legacy:
            raise PlainError(400, issues_text(exc.issues)) from None
        raise
    except Problem as exc:
        if legacy and exc.status == 400:
            raise PlainError(400, exc.detail or exc.title or "Bad Request") from None
        raise
    return replies[-1]


def _created_reply(ctx: AppContext, outcome: WriteOutcome, *, legacy: bool) -> Response:
    element = _element_json(ctx, outcome.record, outcome.data.element)
    if legacy:
        return _json_response(
            element, 201, {"Location": element["selfLinks"]["apps"], "ETag": element_etag(outcome.data)}
        )
    instance = instance_body(ctx, readable_instance(ctx, outcome.record), with_party=False)
    models = (
        [{"dataElementId": outcome.data.element.id, "data": outcome.form_data}]
        if outcome.form_data is not None
        else []
    )
    body = {
        "newDataElementId": outcome.data.element.id,
        "instance": instance,
        "validationIssues": pairs_json(outcome.validation),
        "newDataModels": models,
    }
    return _json_response(body, 200)


@router.post(
    "/data/type/{dataType}",
    responses={200: _DATA_POST},
    summary="Create a data element of a data type (form data or a file)",
)
async def post_data(
    request: Request,
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: uuid.UUID,
    dataType: str,
    ignoredValidators: IgnoredValidators = None,
) -> Response:
    return await _post(
        request,
        ctx,
        instanceOwnerPartyId,
        instanceGuid,
        dataType,
        legacy=False,
        ignored=_ignored(ignoredValidators),
    )


router.add_api_route("/data/{dataType}", post_data, methods=["POST"], include_in_schema=False)


@router.post(
    "/data",
    status_code=201,
    summary="Obsolete: create a data element (?dataType=); errors as text",
    deprecated=True,
)
async def post_data_legacy(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID
) -> Response:
    data_type = next(
        (value for name, value in request.query_params.multi_items() if name.lower() == "datatype" and value),
        None,
    )
    if data_type is None:
        raise _binding_error(request, "dataType", "The dataType field is required.")
    return await _post(request, ctx, instanceOwnerPartyId, instanceGuid, data_type, legacy=True, ignored=None)


# -- GET data/{dataGuid} ----------------------------------------------------------------------------


def content_disposition(filename: str) -> str:
    """``attachment; filename=...; filename*=UTF-8''...`` as ASP.NET's ``File(..., name)`` writes it:
    an ASCII fallback (quoted when it is not a token) and the exact name percent-encoded."""
    fallback = "".join(char if 0x20 <= ord(char) < 0x7F else "_" for char in filename)
    if not fallback or any(char in ' "(),/:;<=>?@[\\]{}' for char in fallback):
        fallback = '"' + fallback.replace("\\", "\\\\").replace('"', '\\"') + '"'
    encoded = quote(filename, safe="!#$&+-.^_`|~")
    return f"attachment; filename={fallback}; filename*=UTF-8''{encoded}"


def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """One ``bytes=`` range as inclusive (start, end); None to send everything (no, several or
    malformed ranges); False when it cannot be satisfied (416)."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "" or int(last) == 0:
            return False if last != "" else None
        length = int(last)
        return (max(size - length, 0), size - 1) if size else False
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return False
    return start, min(end, size - 1)


async def _download(request: Request, ctx: AppContext, target: Target) -> Response:
    target = await data_service.mark_file_read(ctx, target)
    element = target.element
    etag = element_etag(target.data)
    headers = {"Accept-Ranges": "bytes", "ETag": etag}
    if element.filename:
        headers["Content-Disposition"] = content_disposition(element.filename)
    if data_service.matches_none(request.headers.get("if-none-match"), target.data):
        return Response(status_code=304, headers=headers)
    key = target.data.blob_key
    if key is None:
        raise problem(404, "Data Element Not Found", f"Data element {element.id} has no content")
    size = element.size
    if_range = request.headers.get("if-range")
    wanted = parse_range(request.headers.get("range"), size) if if_range in (None, etag) else None
    if wanted is False:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = wanted if isinstance(wanted, tuple) else (None, None)
    try:
        stream = await ctx.services.blobs.open(key, start=start, end=end)
    except BlobNotFound:
        raise problem(
            404, "Data Element Not Found", f"The content of data element {element.id} is missing"
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

    return StreamingResponse(
        body(),
        status_code=status,
        media_type=element.content_type or "application/octet-stream",
        headers=headers,
    )


async def _get(
    request: Request,
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    data_guid: uuid.UUID,
    data_type: str | None,
    include_row_id: bool,
) -> Response:
    target = await data_service.load_for_read(ctx, party_id, guid, data_guid, type_alias=data_type)
    model = ctx.definition.form_model(target.data_type.id) if target.data_type.is_form_data else None
    if model is None:
        return await _download(request, ctx, target)
    data, target = await data_service.read_form(ctx, target, include_row_id=include_row_id)
    body, media_type = forms.response_body(
        model, data, request.headers.get("accept"), include_row_id=include_row_id
    )
    return Response(body, 200, {"ETag": element_etag(target.data)}, media_type=media_type)


IncludeRowId = Annotated[bool, Query(alias="includeRowId")]


@router.get(
    "/data/{dataGuid:uuid}",
    summary="Get a data element: form data as JSON (or XML by Accept), files streamed (Range supported)",
)
async def get_data(
    request: Request,
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: uuid.UUID,
    dataGuid: uuid.UUID,
    includeRowId: IncludeRowId = False,
) -> Response:
    return await _get(request, ctx, instanceOwnerPartyId, instanceGuid, dataGuid, None, includeRowId)


@router.get("/data/{dataGuid:uuid}/type/{dataType}", include_in_schema=False)
async def get_data_typed(
    request: Request,
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: uuid.UUID,
    dataGuid: uuid.UUID,
    dataType: str,
    includeRowId: IncludeRowId = False,
) -> Response:
    return await _get(request, ctx, instanceOwnerPartyId, instanceGuid, dataGuid, dataType, includeRowId)


# -- PUT data/{dataGuid} ----------------------------------------------------------------------------


async def _put(
    request: Request,
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    data_guid: uuid.UUID,
    data_type: str | None,
) -> Response:
    try:
        outcome = await data_service.replace_element(
            ctx,
            party_id,
            guid,
            data_guid,
            _incoming(request),
            type_alias=data_type,
            if_match=request.headers.get("if-match"),
            scans=file_scans(request),
        )
    except UploadRejected as exc:
        if exc.common:
            raise PlainError(400, issues_text(exc.issues)) from None
        raise
    except ReceivedTooLarge as exc:
        raise PlainError(400, exc.detail or "The request body is too large.") from None
    element = _element_json(ctx, outcome.record, outcome.data.element)
    etag = element_etag(outcome.data)
    if outcome.changed_fields:
        return _json_response({**element, "changedFields": outcome.changed_fields}, 200, {"ETag": etag})
    return _json_response(element, 201, {"Location": element["selfLinks"]["apps"], "ETag": etag})


@router.put(
    "/data/{dataGuid:uuid}",
    status_code=201,
    summary="Replace a data element's content (If-Match honoured)",
)
async def put_data(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID, dataGuid: uuid.UUID
) -> Response:
    return await _put(request, ctx, instanceOwnerPartyId, instanceGuid, dataGuid, None)


@router.put("/data/{dataGuid:uuid}/type/{dataType}", include_in_schema=False)
async def put_data_typed(
    request: Request,
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: uuid.UUID,
    dataGuid: uuid.UUID,
    dataType: str,
) -> Response:
    return await _put(request, ctx, instanceOwnerPartyId, instanceGuid, dataGuid, dataType)


# -- DELETE data/{dataGuid} ---------------------------------------------------------------------------


async def _delete(
    request: Request,
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    data_guid: uuid.UUID,
    data_type: str | None,
    ignored: str | None,
) -> Response:
    outcome = await data_service.delete_element(
        ctx,
        party_id,
        guid,
        data_guid,
        type_alias=data_type,
        if_match=request.headers.get("if-match"),
        ignored_validators=_ignored(ignored),
    )
    instance = instance_body(ctx, readable_instance(ctx, outcome.record), with_party=False, apps_links=False)
    return _json_response(
        {"instance": instance, "validationIssues": pairs_json(outcome.validation), "newDataModels": []}
    )


@router.delete("/data/{dataGuid:uuid}", summary="Delete a data element")
async def delete_data(
    request: Request,
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: uuid.UUID,
    dataGuid: uuid.UUID,
    ignoredValidators: IgnoredValidators = None,
) -> Response:
    return await _delete(request, ctx, instanceOwnerPartyId, instanceGuid, dataGuid, None, ignoredValidators)


@router.delete("/data/{dataGuid:uuid}/type/{dataType}", include_in_schema=False)
async def delete_data_typed(
    request: Request,
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: uuid.UUID,
    dataGuid: uuid.UUID,
    dataType: str,
    ignoredValidators: IgnoredValidators = None,
) -> Response:
    return await _delete(
        request, ctx, instanceOwnerPartyId, instanceGuid, dataGuid, dataType, ignoredValidators
    )


# -- PATCH data ------------------------------------------------------------------------------------------


def _guid_of(request: Request, value: Any, key: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _binding_error(request, key, "The value is not a valid GUID.") from None


def _ignored_list(request: Request, body: dict[str, Any]) -> list[str] | None:
    value = body.get("ignoredValidators")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _binding_error(request, "ignoredValidators", "ignoredValidators must be a list of strings.")
    return value


def _operations(request: Request, value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise _binding_error(request, key, "A JSON Patch (an array of operations) is required.")
    return value


def _patch_instance(ctx: AppContext, record: InstanceRecord) -> dict[str, Any]:
    """PATCH responses show the instance as Storage returns it: no ``selfLinks.apps``."""
    return instance_body(ctx, readable_instance(ctx, record), with_party=False, apps_links=False)


@router.patch("/data", summary="Apply JSON Patches to one or more form data elements")
async def patch_data(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID
) -> Response:
    body = await _read_json(request)
    if not isinstance(body, dict):
        raise _binding_error(request, "$", "A JSON object with patches is required.")
    raw = next((value for name, value in body.items() if name.lower() == "patches"), None)
    if not isinstance(raw, list):
        raise _binding_error(request, "patches", "The Patches field is required.")
    patches: list[tuple[uuid.UUID, list[Any]]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _binding_error(
                request, f"patches[{index}]", "Each patch needs a dataElementId and a patch."
            )
        patches.append(
            (
                _guid_of(request, item.get("dataElementId"), f"patches[{index}].dataElementId"),
                _operations(request, item.get("patch"), f"patches[{index}].patch"),
            )
        )
    outcome = await data_service.patch_elements(
        ctx, instanceOwnerPartyId, instanceGuid, patches, ignored_validators=_ignored_list(request, body)
    )
    return _json_response(
        {
            "validationIssues": pairs_json(outcome.validation),
            "newDataModels": [
                {"dataElementId": element_id, "data": data} for element_id, data in outcome.models
            ],
            "instance": _patch_instance(ctx, outcome.record),
        }
    )


@router.patch(
    "/data/{dataGuid:uuid}", summary="Obsolete: apply a JSON Patch to one form data element", deprecated=True
)
async def patch_data_single(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID, dataGuid: uuid.UUID
) -> Response:
    body = await _read_json(request)
    if not isinstance(body, dict):
        raise _binding_error(request, "$", "A JSON object with a patch is required.")
    operations = _operations(request, body.get("patch"), "patch")
    outcome = await data_service.patch_elements(
        ctx,
        instanceOwnerPartyId,
        instanceGuid,
        [(dataGuid, operations)],
        ignored_validators=_ignored_list(request, body),
    )
    issues = {pair.source: [issue.to_json() for issue in pair.issues] for pair in outcome.validation}
    model = next(data for element_id, data in outcome.models if element_id == str(dataGuid))
    return _json_response(
        {"validationIssues": issues, "newDataModel": model, "instance": _patch_instance(ctx, outcome.record)}
    )


# -- tags ------------------------------------------------------------------------------------------------


@router.get("/data/{dataGuid:uuid}/tags", summary="The tags of a data element")
async def get_tags(
    ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID, dataGuid: uuid.UUID
) -> Response:
    tags = await data_service.get_tags(ctx, instanceOwnerPartyId, instanceGuid, dataGuid)
    return _json_response({"tags": tags})


@router.post(
    "/data/{dataGuid:uuid}/tags", status_code=201, summary="Add a tag (a JSON string) to a data element"
)
async def add_tag(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID, dataGuid: uuid.UUID
) -> Response:
    tag = await _read_json(request)
    if not isinstance(tag, str):
        raise _binding_error(request, "$", "The tag must be a JSON string.")
    tags = await data_service.add_tag(ctx, instanceOwnerPartyId, instanceGuid, dataGuid, tag)
    location = f"{ctx.links.app_instance(ctx.org, ctx.app, f'{instanceOwnerPartyId}/{instanceGuid}')}/data/{dataGuid}/tags"
    return _json_response({"tags": tags}, 201, {"Location": location})


@router.put("/data/{dataGuid:uuid}/tags", summary="Replace the tags of a data element")
async def set_tags(
    request: Request,
    ctx: Ctx,
    instanceOwnerPartyId: int,
    instanceGuid: uuid.UUID,
    dataGuid: uuid.UUID,
    ignoredValidators: IgnoredValidators = None,
) -> Response:
    body = await _read_json(request)
    tags = body.get("tags") if isinstance(body, dict) else None
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise _binding_error(request, "tags", "The Tags field is required and must be a list of strings.")
    result, validation = await data_service.set_tags(
        ctx,
        instanceOwnerPartyId,
        instanceGuid,
        dataGuid,
        tags,
        ignored_validators=_ignored(ignoredValidators),
    )
    response: dict[str, Any] = {"tags": result}
    if validation is not None:
        response["validationIssues"] = pairs_json(validation)
    return _json_response(response)


@router.delete(
    "/data/{dataGuid:uuid}/tags/{tag}", status_code=204, summary="Remove a tag from a data element"
)
async def remove_tag(
    ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID, dataGuid: uuid.UUID, tag: str
) -> Response:
    await data_service.remove_tag(ctx, instanceOwnerPartyId, instanceGuid, dataGuid, tag)
    return Response(status_code=204)


# -- user-defined metadata -------------------------------------------------------------------------------


def _metadata_json(entries: list[KeyValueEntry] | None) -> dict[str, Any]:
    return {"userDefinedMetadata": None if entries is None else [app_json(entry) for entry in entries]}


@router.get(
    "/data/{dataGuid:uuid}/user-defined-metadata", summary="The user-defined metadata of a data element"
)
async def get_user_defined_metadata(
    ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID, dataGuid: uuid.UUID
) -> Response:
    entries = await data_service.get_user_defined_metadata(ctx, instanceOwnerPartyId, instanceGuid, dataGuid)
    return _json_response(_metadata_json(entries))


@router.put("/data/{dataGuid:uuid}/user-defined-metadata", summary="Replace the user-defined metadata")
async def set_user_defined_metadata(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID, dataGuid: uuid.UUID
) -> Response:
    body = await _read_json(request)
    raw = body.get("userDefinedMetadata") if isinstance(body, dict) else None
    if not isinstance(raw, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("key"), str)
        and isinstance(item.get("value"), str | None)
        for item in raw
    ):
        raise _binding_error(
            request, "userDefinedMetadata", "userDefinedMetadata must be a list of {key, value} strings."
        )
    entries = [KeyValueEntry(key=item["key"], value=item.get("value")) for item in raw]
    result = await data_service.set_user_defined_metadata(
        ctx, instanceOwnerPartyId, instanceGuid, dataGuid, entries
    )
    return _json_response(_metadata_json(result))


# -- file scan -------------------------------------------------------------------------------------------


@router.get("/filescanresult", summary="The file-scan state of the instance's data elements")
async def file_scan_result(
    request: Request, ctx: Ctx, instanceOwnerPartyId: int, instanceGuid: uuid.UUID
) -> Response:
    record = await data_service.load_record(
        ctx, instanceOwnerPartyId, instanceGuid, not_found=lambda: framework_problem(404, request)
    )
    if not ctx.authorize("read", record.instance):
        raise EmptyError(403)
    return _json_response(data_service.file_scan_summary(readable_instance(ctx, record)))
