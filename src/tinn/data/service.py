"""Data element operations of the App API (app notes 1.2, 1.11, 5): create, replace, read, delete,
patch, tags, user-defined metadata and the file-scan summary.

Every operation authorizes the caller (PDP ``read``/``write`` on the instance, then the data
type's rules of app notes 5.4), does the slow work first (request body to a new blob, form data
through the app's hooks) and then changes the instance in one transaction
(:func:`tinn.instances.store.change_instance`), re-checking inside it what another request could
have changed meanwhile. A write that loses a race or is refused leaves nothing behind: its new
blob is deleted, the replaced blob only after the commit.

Element-level optimistic concurrency: a replace (PUT, PATCH, a read processor's save-back)
remembers the element ``version`` it read and commits only if it is still current, so of two
concurrent writes of one element exactly one wins and the other gets a 409.

Failures a client can cause raise :class:`~tinn.http.errors.Problem` (ProblemDetails, as the new
endpoints answer) or :class:`UploadRejected`; the legacy endpoints turn them into their text form.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from tinn.appdef.definition import AppDefinition
from tinn.appdef.models import DataField, DataType
from tinn.auth.principal import PrincipalKind
from tinn.data import formdata, forms, prefill
from tinn.data.accessor import FormDataAccessor
from tinn.data.elements import apply_blob, new_blob_key, new_element
from tinn.data.formdata import FormDataError, FormModel
from tinn.data.patch import PatchFailure, apply_patch, as_json_document
from tinn.data.scan import FileScans
from tinn.data.upload import (
    MB,
    UPLOAD_PROBLEM_DETAIL,
    UPLOAD_PROBLEM_TITLE,
    StreamLimiter,
    TooLarge,
    UploadIssue,
    UploadProblem,
    check_content,
    check_upload,
    header_value,
    missing_content_type,
    parse_content_disposition,
    peek,
    request_too_large,
    zero_bytes,
)
from tinn.http.errors import PROBLEM_JSON, EmptyError, PlainError, Problem
from tinn.instances.context import AppContext
from tinn.instances.models import (
    DataElement,
    FileScanResult,
    Instance,
    InstanceEvent,
    KeyValueEntry,
    PlatformUser,
    ReadStatus,
)
from tinn.instances.render import readable_instance
from tinn.instances.store import (
    DataRecord,
    InstanceNotFound,
    InstanceRecord,
    InstanceTx,
    change_instance,
    read_instance,
)
from tinn.process.tasks import prefill_sources
from tinn.storage.blobs.base import BlobInfo, BlobNotFound, iterate_bytes
from tinn.validation.context import ValidationContext
from tinn.validation.models import ValidationSourcePair
from tinn.validation.service import validate_incremental

log = structlog.get_logger("tinn.data")

PDF_DATA_TYPE = "ref-data-as-pdf"
# Altinn's RequestSizeLimit on the data endpoints: the cap for types without maxSize.
REQUEST_SIZE_LIMIT = 2000 * MB
REQUEST_SIZE_LIMIT_MB = 2000


# -- errors ------------------------------------------------------------------------------------------


def problem(status: int, title: str, detail: str | None = None, **extensions: Any) -> Problem:
    """A ProblemDetails as the data controller writes it (``application/problem+json``)."""
    return Problem(status, title, detail, extensions=extensions, media_type=PROBLEM_JSON)


class UploadRejected(Problem):
    """Upload checks failed: 400 ``File validation failed`` with ``uploadValidationIssues``.

    ``common`` marks Altinn's common checks (app notes 5.2, answered as text on the legacy
    endpoints); the others are file analysis (content sniffing), always a ProblemDetails on PUT.
    """

    def __init__(self, issues: Sequence[UploadIssue], detail: str, *, common: bool) -> None:
        super().__init__(
            400,
            UPLOAD_PROBLEM_TITLE,
            detail,
            extensions={"uploadValidationIssues": [issue.to_wire() for issue in issues]},
            media_type=PROBLEM_JSON,
        )
        self.issues = tuple(issues)
        self.common = common


class ElementConflict(Problem):
    """The element changed between reading it and committing the write (another request won)."""

    def __init__(self, data_guid: str) -> None:
        super().__init__(
            409,
            "Conflict",
            f"Data element {data_guid} was changed by another request while this one was processed. "
            "Read it again and retry.",
            media_type=PROBLEM_JSON,
        )


class ReceivedTooLarge(Problem):
    """A file grew past ``maxSize`` (or the request limit) while it streamed in: 413."""

    def __init__(self, value: UploadProblem) -> None:
        super().__init__(value.status, value.title, value.detail, media_type=PROBLEM_JSON)


def _from_upload_problem(value: UploadProblem) -> Problem:
    return problem(value.status, value.title, value.detail)


def _instance_not_found(party_id: int, guid: uuid.UUID) -> Problem:
    return problem(404, "Instance Not Found", f"Did not find instance {party_id}/{guid}")


def _element_not_found(party_id: int, guid: uuid.UUID, data_guid: uuid.UUID | str) -> Problem:
    return problem(
        404, "Data Element Not Found", f"Did not find data element {data_guid} on instance {party_id}/{guid}"
    )


def type_mismatch(requested: str, data_guid: uuid.UUID, actual: str) -> PlainError:
    return PlainError(
        400, f"Data type {requested} does not match data element {data_guid}, which is of type {actual}"
    )


# -- loading -----------------------------------------------------------------------------------------


@dataclass
class Target:
    """An instance and one of its data elements, loaded and authorized for an operation."""

    record: InstanceRecord
    data: DataRecord
    data_type: DataType
    party_id: int
    guid: uuid.UUID

    @property
    def instance(self) -> Instance:
        return self.record.instance

    @property
    def element(self) -> DataElement:
        return self.data.element

    @property
    def data_guid(self) -> str:
        return self.data.element.id


async def load_record(
    ctx: AppContext, party_id: int, guid: uuid.UUID, *, not_found: Callable[[], Exception] | None = None
) -> InstanceRecord:
    record = await read_instance(ctx.services.db, guid)
    if (
        record is None
        or record.instance.app_id != ctx.definition.id
        or record.instance.instance_owner.party_id != str(party_id)
    ):
        raise (not_found() if not_found else _instance_not_found(party_id, guid))
    return record


def _hard_deleted(element: DataElement) -> bool:
    return bool(element.delete_status and element.delete_status.is_hard_deleted)


def find_element(ctx: AppContext, record: InstanceRecord, data_guid: uuid.UUID | str) -> DataRecord | None:
    """The element, or None (also for a delay-deleted one, which only the app owner still sees)."""
    data = record.element(str(data_guid))
    if data is None or (_hard_deleted(data.element) and not ctx.is_app_owner):
        return None
    return data


def require(ctx: AppContext, action: str, instance: Instance) -> None:
    """The instance policy (``InstanceRead``/``InstanceWrite``): PDP denial is an empty 403."""
    if not ctx.authorize(action, instance):
        raise EmptyError(403)


async def load_target(
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    data_guid: uuid.UUID,
    *,
    action: str,
    type_alias: str | None = None,
) -> Target:
    """Instance, element and data type of a ``data/{dataGuid}`` route, after PDP ``action``."""
    record = await load_record(ctx, party_id, guid)
    require(ctx, action, record.instance)
    data = find_element(ctx, record, data_guid)
    if data is None:
        raise _element_not_found(party_id, guid, data_guid)
    data_type = ctx.definition.data_type(data.element.data_type)
    if data_type is None:
        raise problem(
            400,
            "Data Type Not Found",
            f'Could not find the specified data type: "{data.element.data_type}" in applicationmetadata.json',
        )
    if type_alias is not None and type_alias != data_type.id:
        raise type_mismatch(type_alias, data_guid, data_type.id)
    return Target(record, data, data_type, party_id, guid)


# -- access checks (app notes 5.4) ----------------------------------------------------------------


def is_valid_contributor(data_type: DataType, ctx: AppContext) -> bool:
    """``allowedContributors``: only a service owner named by ``org:`` or ``orgno:`` may write;
    ``app:owned`` (or any other entry) matches nobody."""
    allowed = data_type.contributors
    if not allowed:
        return True
    principal = ctx.principal
    if principal.kind is not PrincipalKind.SERVICE_OWNER:
        return False
    for item in allowed:
        key, sep, value = item.partition(":")
        if not sep:
            continue
        if key.lower() == "org" and principal.org and value.lower() == principal.org.lower():
            return True
        if key.lower() == "orgno" and principal.org_number and value.lower() == principal.org_number.lower():
            return True
    return False


def _instance_active(instance: Instance) -> bool:
    status = instance.status
    return not (status.archived or status.is_archived or status.soft_deleted or status.hard_deleted)


def _current_task(instance: Instance) -> str | None:
    process = instance.process
    return process.current_task.element_id if process and process.current_task else None


def read_problem(ctx: AppContext, instance: Instance, data_type: DataType) -> Problem | None:
    action = data_type.action_required_to_read
    if action and action.strip() and not ctx.authorize(action, instance):
        return problem(403, "Unauthorized", f"Access denied for data element of type {data_type.id}")
    return None


def mutation_problem(ctx: AppContext, instance: Instance, data_type: DataType) -> Problem | None:
    """The checks create, update and delete share, in Altinn's order."""
    if data_type.id.lower() == PDF_DATA_TYPE:
        return problem(403, "Forbidden", f"Data element of type {data_type.id} cannot be modified")
    if ctx.definition.settings.enforce_data_type_task_id and data_type.task_id is not None:
        current = _current_task(instance)
        if data_type.task_id != current:
            return problem(
                409,
                "Conflict with Current Task",
                f"Data element of type {data_type.id} can only be modified in {data_type.task_id} "
                f"(current task {current or ''})",
            )
    action = data_type.action_required_to_write
    if action and action.strip() and not ctx.authorize(action, instance):
        return problem(403, "Unauthorized", f"Access denied for data element of type {data_type.id}")
    if not _instance_active(instance):
        return problem(
            409,
            "Instance Not Active",
            f"Cannot update data element of archived or deleted instance {instance.id}",
        )
    if not is_valid_contributor(data_type, ctx):
        return problem(403, "Forbidden", "User is not a valid contributor to the data type")
    return None


def create_problem(ctx: AppContext, record: InstanceRecord, data_type: DataType) -> Problem | None:
    found = mutation_problem(ctx, record.instance, data_type)
    if found is not None:
        return found
    existing = sum(1 for data in record.elements() if data.element.data_type == data_type.id)
    if data_type.max_count > 0 and existing >= data_type.max_count:
        return problem(
            409,
            "Max Count Exceeded",
            f"Cannot create more than {data_type.max_count} data elements of type {data_type.id}",
        )
    app_logic = data_type.app_logic
    if app_logic and app_logic.disallow_user_create and not ctx.is_service_owner:
        return problem(
            400,
            "User Create Disallowed",
            f"Cannot create data element of type {data_type.id} as it is disallowed by app logic",
        )
    return None


def delete_problem(ctx: AppContext, instance: Instance, data_type: DataType) -> Problem | None:
    found = mutation_problem(ctx, instance, data_type)
    if found is not None:
        return found
    app_logic = data_type.app_logic
    if data_type.is_form_data and data_type.max_count == 1 and data_type.min_count == 1:
        return problem(
            400,
            "Cannot Delete main data element",
            "Cannot delete the only data element of a class with app logic",
        )
    if app_logic and app_logic.disallow_user_delete and not ctx.is_service_owner:
        return problem(
            400,
            "User Delete Disallowed",
            f"Cannot delete data element of type {data_type.id} as it is disallowed by app logic",
        )
    return None


def writable_problem(element: DataElement) -> Problem | None:
    """Storage refuses writes to locked (task ended) and delay-deleted elements."""
    if element.locked:
        return problem(409, "Conflict", f"Data element {element.id} is locked and cannot be updated")
    if _hard_deleted(element):
        return problem(409, "Conflict", f"Data element {element.id} is deleted and cannot be updated")
    return None


def _raise(found: Problem | None) -> None:
    if found is not None:
        raise found


def _require_task(instance: Instance, detail: str) -> str:
    task = _current_task(instance)
    if task is None:
        raise problem(409, "No current task", detail)
    return task


# -- ETags ------------------------------------------------------------------------------------------


def element_etag(data: DataRecord) -> str:
    """The element's entity tag: its id and row version (changes with every write)."""
    return f'"{uuid.UUID(data.element.id).hex}-{data.version}"'


def _etags(header: str) -> list[str]:
    return [item.strip().removeprefix("W/") for item in header.split(",") if item.strip()]


def check_if_match(header: str | None, data: DataRecord) -> None:
    """``If-Match`` (a Tinn addition): 412 unless it names the element's current ETag (or ``*``)."""
    if header is None:
        return
    tags = _etags(header)
    if "*" in tags or element_etag(data) in tags:
        return
    raise problem(
        412,
        "Precondition Failed",
        f"The data element has changed since it was read: its ETag is now {element_etag(data)}. "
        "Read it again and retry.",
    )


def matches_none(header: str | None, data: DataRecord) -> bool:
    """``If-None-Match`` names the element's current ETag (or ``*``): answer 304."""
    if header is None:
        return False
    tags = _etags(header)
    return "*" in tags or element_etag(data) in tags


# -- instance bookkeeping (platform notes 1.5, 3.6) ------------------------------------------------


def _platform_user(ctx: AppContext) -> PlatformUser:
    principal = ctx.principal
    return PlatformUser(
        user_id=principal.user_id,
        org_id=principal.org,
        authentication_level=principal.auth_level,
        system_user_id=principal.system_user_id,
        system_user_owner_org_no=principal.system_user_org_number,
    )


def _event(ctx: AppContext, tx: InstanceTx, event_type: str, data_id: str) -> None:
    instance = tx.instance
    tx.add_event(
        InstanceEvent(
            id=str(uuid.uuid4()),
            instance_id=instance.id,
            data_id=data_id,
            created=ctx.now(),
            event_type=event_type,
            instance_owner_party_id=instance.instance_owner.party_id,
            user=_platform_user(ctx),
            process_info=instance.process.model_copy(deep=True) if instance.process else None,
        )
    )


def _touch(ctx: AppContext, instance: Instance) -> None:
    instance.last_changed = ctx.now()
    instance.last_changed_by = ctx.performed_by


def _unread_added(instance: Instance, element: DataElement) -> None:
    if not element.is_read and instance.status.read_status == ReadStatus.Read:
        instance.status.read_status = ReadStatus.UpdatedSinceLastReview


def _unread_unless_other_read(record: InstanceRecord, except_id: str) -> None:
    if record.instance.status.read_status != ReadStatus.Read:
        return
    if any(r.element.is_read for r in record.elements() if r.element.id != except_id):
        return
    record.instance.status.read_status = ReadStatus.Unread


def _delete_after_commit(ctx: AppContext, tx: InstanceTx, key: str | None) -> None:
    if not key:
        return
    blobs = ctx.services.blobs

    async def delete() -> None:
        await blobs.delete(key)

    tx.after_commit(delete)


async def _discard(ctx: AppContext, key: str | None) -> None:
    if key:
        try:
            await ctx.services.blobs.delete(key)
        except Exception:
            log.exception("blob_discard_failed", key=key)


def _field_values(
    fields: Sequence[DataField] | None, data_type_id: str, data: Mapping[str, Any]
) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for item in fields or ():
        if item.data_type_id != data_type_id or not item.id or not item.path:
            continue
        try:
            value = formdata.get_path(dict(data), item.path)
        except FormDataError as exc:
            log.warning("instance_field_path_invalid", field=item.id, path=item.path, reason=exc.message)
            continue
        values[item.id] = formdata.to_display_string(value) or None
    return values


def _merged(current: dict[str, str] | None, changes: Mapping[str, str | None]) -> dict[str, str] | None:
    if not changes:
        return current
    result = dict(current or {})
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result if result or current is not None else None


def update_instance_fields(
    definition: AppDefinition, instance: Instance, data_type_id: str, data: Mapping[str, Any]
) -> None:
    """``presentationTexts``/``dataValues`` from the app's ``presentationFields``/``dataFields`` of
    this data type (app notes 5.6): the value at each path as text; null or empty removes the key."""
    metadata = definition.metadata
    instance.presentation_texts = _merged(
        instance.presentation_texts, _field_values(metadata.presentation_fields, data_type_id, data)
    )
    instance.data_values = _merged(
        instance.data_values, _field_values(metadata.data_fields, data_type_id, data)
    )


# -- request bodies ---------------------------------------------------------------------------------


@dataclass
class Incoming:
    """A request body with the headers the data rules look at (any case-insensitive mapping)."""

    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]

    @property
    def content_type(self) -> str | None:
        return header_value(self.headers, "content-type")

    @property
    def content_length(self) -> int | None:
        value = header_value(self.headers, "content-length")
        return int(value) if value is not None and value.strip().isdigit() else None


async def _read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    return b"".join([chunk async for chunk in StreamLimiter(chunks, limit)])


def _form_model(ctx: AppContext, data_type: DataType) -> FormModel:
    model = ctx.definition.form_model(data_type.id)
    if model is None:
        raise problem(
            500, "Data model missing", f"The app has no model files for the form data type {data_type.id}"
        )
    return model


async def read_form_body(ctx: AppContext, data_type: DataType, incoming: Incoming) -> dict[str, Any]:
    """Form data from an XML or JSON body (app notes 5.1), bounded by ``maxSize`` and the JSON limit."""
    model = _form_model(ctx, data_type)
    limit = ctx.services.settings.max_json_body_bytes
    if data_type.max_size is not None:
        limit = min(limit, data_type.max_size * MB)
    try:
        body = await _read_limited(incoming.chunks, limit)
    except TooLarge as exc:
        raise problem(
            413, "Request too large", f"The request body is larger than the limit of {exc.limit} bytes."
        ) from None
    try:
        return forms.parse_body(model, incoming.content_type, body)
    except Problem as exc:
        exc.media_type = PROBLEM_JSON
        raise


@dataclass
class ReceivedFile:
    key: str
    info: BlobInfo
    content_type: str
    filename: str | None


async def receive_file(
    ctx: AppContext, instance: Instance, data_type: DataType, data_guid: str, incoming: Incoming
) -> ReceivedFile:
    """A binary upload (app notes 5.2): the header checks in order, then the body streamed to a new
    blob with ``maxSize`` enforced as it arrives, refusing empty bodies and content that does not
    look like its declared type. Nothing is kept when a check fails."""
    headers = incoming.headers
    issues = check_upload(data_type, headers, content_length=incoming.content_length)
    if issues:
        raise UploadRejected(issues, UPLOAD_PROBLEM_DETAIL, common=True)
    content_type = incoming.content_type
    if content_type is None:
        raise _from_upload_problem(missing_content_type())
    disposition = parse_content_disposition(header_value(headers, "content-disposition"))
    filename = disposition.filename if disposition else None
    limit = REQUEST_SIZE_LIMIT if data_type.max_size is None else data_type.max_size * MB
    limit_mb = REQUEST_SIZE_LIMIT_MB if data_type.max_size is None else data_type.max_size
    assert instance.app_id is not None and instance.id is not None
    key = new_blob_key(instance.app_id, instance.id.split("/", 1)[1], data_guid)
    try:
        peeked = await peek(StreamLimiter(incoming.chunks, limit))
        if peeked.empty:
            raise _from_upload_problem(zero_bytes())
        analysis = check_content(data_type, headers, peeked.head)
        if analysis:
            raise UploadRejected(analysis, UPLOAD_PROBLEM_TITLE, common=False)
        info = await ctx.services.blobs.put(key, peeked.chunks, content_type=content_type)
    except TooLarge as exc:
        raise ReceivedTooLarge(request_too_large(exc.received, limit_mb)) from None
    return ReceivedFile(key, info, content_type, filename)


# -- form data ----------------------------------------------------------------------------------------


async def _run_processors(
    ctx: AppContext,
    instance: Instance,
    data_type_id: str,
    data: dict[str, Any],
    previous: dict[str, Any] | None,
) -> None:
    hook_ctx = ctx.hook_context(instance)
    for processor in ctx.logic.data_processors:
        await processor(hook_ctx, data_type_id, data, previous)


@dataclass
class StoredForm:
    data: dict[str, Any]  # with altinnRowId on every repeating-group row, as stored
    key: str
    info: BlobInfo
    content_type: str


async def store_form(
    ctx: AppContext, instance: Instance, data_type: DataType, data_guid: str, data: dict[str, Any]
) -> StoredForm:
    """Serialise form data in the data type's storage format to a new blob."""
    model = _form_model(ctx, data_type)
    data = formdata.add_row_ids(data, model)
    content, content_type = forms.serialize(model, data, forms.storage_format(data_type))
    assert instance.app_id is not None and instance.id is not None
    key = new_blob_key(instance.app_id, instance.id.split("/", 1)[1], data_guid)
    info = await ctx.services.blobs.put(key, iterate_bytes(content), content_type=content_type)
    return StoredForm(data, key, info, content_type)


def _changed_fields(before: Any, after: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(after, dict) or isinstance(before, dict):
        old = before if isinstance(before, dict) else {}
        new = after if isinstance(after, dict) else {}
        if not isinstance(after, dict | None) or not isinstance(before, dict | None):
            if before != after:
                out[path] = after
            return
        for key in [*new, *(k for k in old if k not in new)]:
            _changed_fields(old.get(key), new.get(key), f"{path}.{key}" if path else key, out)
        return
    if isinstance(after, list) or isinstance(before, list):
        old_list = before if isinstance(before, list) else []
        new_list = after if isinstance(after, list) else []
        if not isinstance(after, list | None) or not isinstance(before, list | None):
            if before != after:
                out[path] = after
            return
        for index in range(max(len(old_list), len(new_list))):
            _changed_fields(
                old_list[index] if index < len(old_list) else None,
                new_list[index] if index < len(new_list) else None,
                f"{path}[{index}]",
                out,
            )
        return
    if type(before) is not type(after) or before != after:
        out[path] = after


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Dot paths (``a.b``, ``rows[1].c``) of the values data processors changed, with the new values."""
    out: dict[str, Any] = {}
    _changed_fields(as_json_document(before), as_json_document(after), "", out)
    return out


# -- validation ------------------------------------------------------------------------------------


def _can_read(ctx: AppContext, instance: Instance) -> Callable[[DataType], bool]:
    def can_read(data_type: DataType) -> bool:
        return read_problem(ctx, instance, data_type) is None

    return can_read


async def incremental_validation(
    ctx: AppContext,
    record: InstanceRecord,
    changed: Collection[str],
    ignored: Collection[str],
    current_data: Mapping[str, dict[str, Any]] | None = None,
) -> list[ValidationSourcePair]:
    """The incremental validators concerned by a change to the ``changed`` elements."""
    task = _current_task(record.instance)
    if task is None:
        return []
    instance = readable_instance(ctx, record)
    accessor = FormDataAccessor(ctx.services.blobs, ctx.definition, record)
    for element_id, data in (current_data or {}).items():
        accessor.set(element_id, data)
    validation = ValidationContext(
        definition=ctx.definition,
        instance=instance,
        accessor=accessor,
        task_id=task,
        language=ctx.language,
        can_read=_can_read(ctx, record.instance),
        hook_context=ctx.hook_context(instance),
    )
    return await validate_incremental(validation, changed, ignored_sources=ignored)


# -- create (POST data) ---------------------------------------------------------------------------------


@dataclass
class WriteOutcome:
    """What a write produced, for the response: the instance after the change, the element, its
    form data (with row ids) and, when asked for, the incremental validation."""

    record: InstanceRecord
    data: DataRecord
    form_data: dict[str, Any] | None = None
    changed_fields: dict[str, Any] | None = None
    validation: list[ValidationSourcePair] = field(default_factory=list)


BeforeCommit = Callable[[InstanceTx, WriteOutcome], Awaitable[None]]


def _enqueue_scan(scans: FileScans | None, guid: uuid.UUID, element: DataElement) -> None:
    if scans is not None and element.file_scan_result == FileScanResult.Pending:
        scans.enqueue(guid, element.id)


async def create_element(
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    data_type_id: str,
    incoming: Incoming,
    *,
    ignored_validators: Collection[str] | None = None,
    scans: FileScans | None = None,
    before_commit: BeforeCommit | None = None,
) -> WriteOutcome:
    """``POST data/type/{dataType}`` (and the legacy ``POST data?dataType=``).

    Form data: the body (XML or JSON), or an empty model when there is no Content-Type; then
    register prefill, DataCreation hooks and data processors. Binary data: :func:`receive_file`.
    ``ignored_validators`` None runs no validation; ``before_commit`` runs inside the
    transaction (idempotency records).
    """
    record = await load_record(ctx, party_id, guid)
    require(ctx, "write", record.instance)
    data_type = ctx.definition.data_type(data_type_id)
    if data_type is None:
        raise problem(
            400,
            "Data Type Not Found",
            f'Could not find the specified data type: "{data_type_id}" in applicationmetadata.json',
        )
    _raise(create_problem(ctx, record, data_type))
    _require_task(record.instance, "Cannot create data element without a current task")
    instance = record.instance
    element = new_element(
        instance,
        data_type.id,
        content_type=None,
        filename=None,
        performed_by=ctx.performed_by,
        now=ctx.now(),
        by_app_owner=ctx.is_app_owner,
        file_scan=data_type.enable_file_scan,
    )
    form_data: dict[str, Any] | None = None
    if data_type.is_form_data:
        model = _form_model(ctx, data_type)
        if incoming.content_type is None:
            data = formdata.empty_data(model)
        else:
            data = await read_form_body(ctx, data_type, incoming)
        files = ctx.definition.model_files(data_type.id)
        prefill.apply_register(model, data, files.prefill if files else None, prefill_sources(ctx, instance))
        hook_ctx = ctx.hook_context(instance)
        for hook in ctx.logic.data_creation:
            await hook(hook_ctx, data_type.id, data, {})
        await _run_processors(ctx, instance, data_type.id, data, None)
        stored = await store_form(ctx, instance, data_type, element.id, data)
        element.content_type = stored.content_type
        form_data = stored.data
        key, info = stored.key, stored.info
    else:
        received = await receive_file(ctx, instance, data_type, element.id, incoming)
        element.content_type = received.content_type
        element.filename = received.filename
        key, info = received.key, received.info
    apply_blob(element, info)
    new = DataRecord(internal_id=None, element=element, blob_key=key)
    try:
        async with change_instance(ctx.services.db, guid) as tx:
            _raise(create_problem(ctx, tx.record, data_type))
            _require_task(tx.instance, "Cannot create data element without a current task")
            tx.add_data(new)
            _unread_added(tx.instance, element)
            _touch(ctx, tx.instance)
            if form_data is not None:
                update_instance_fields(ctx.definition, tx.instance, data_type.id, form_data)
            _event(ctx, tx, "Created", element.id)
            outcome = WriteOutcome(tx.record, new, form_data)
            if ignored_validators is not None:
                current = {element.id: form_data} if form_data is not None else None
                outcome.validation = await incremental_validation(
                    ctx, tx.record, [element.id], ignored_validators, current
                )
            if before_commit is not None:
                await before_commit(tx, outcome)
    except InstanceNotFound:
        await _discard(ctx, key)
        raise _instance_not_found(party_id, guid) from None
    except BaseException:
        await _discard(ctx, key)
        raise
    _enqueue_scan(scans, guid, element)
    log.info("data_element_created", instance_id=instance.id, data_id=element.id, data_type=data_type.id)
    return outcome


# -- replace (PUT data/{dataGuid}) ------------------------------------------------------------------


async def replace_element(
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    data_guid: uuid.UUID,
    incoming: Incoming,
    *,
    type_alias: str | None = None,
    if_match: str | None = None,
    scans: FileScans | None = None,
) -> WriteOutcome:
    """``PUT data/{dataGuid}``: new content for an element, committed only if the element is
    still the version that was read (else 409) and matches ``If-Match`` (else 412)."""
    target = await load_target(ctx, party_id, guid, data_guid, action="write", type_alias=type_alias)
    instance, data_type = target.instance, target.data_type
    _raise(mutation_problem(ctx, instance, data_type))
    check_if_match(if_match, target.data)
    _raise(writable_problem(target.element))
    version = target.data.version
    form_data: dict[str, Any] | None = None
    fields: dict[str, Any] | None = None
    content_type: str
    filename: str | None = target.element.filename
    if data_type.is_form_data:
        data = await read_form_body(ctx, data_type, incoming)
        _require_task(instance, "Cannot update data element without a current task")
        accessor = FormDataAccessor(ctx.services.blobs, ctx.definition, target.record)
        try:
            previous = await accessor.get_copy(target.data)
        except BlobNotFound:
            # A concurrent write won and replaced the blob this request read the element from.
            raise problem(
                409, "Conflict", "The data element was changed by another request; fetch it and try again."
            ) from None
        before = as_json_document(data)
        await _run_processors(ctx, instance, data_type.id, data, previous)
        fields = changed_fields(before, data) or None
        stored = await store_form(ctx, instance, data_type, target.data_guid, data)
        form_data, key, info, content_type = stored.data, stored.key, stored.info, stored.content_type
    else:
        received = await receive_file(ctx, instance, data_type, target.data_guid, incoming)
        key, info, content_type, filename = (
            received.key,
            received.info,
            received.content_type,
            received.filename,
        )
    try:
        async with change_instance(ctx.services.db, guid) as tx:
            current = tx.record.element(target.data_guid)
            if current is None:
                raise _element_not_found(party_id, guid, data_guid)
            if current.version != version:
                raise ElementConflict(target.data_guid)
            _raise(mutation_problem(ctx, tx.instance, data_type))
            _raise(writable_problem(current.element))
            element = current.element
            old_key = current.blob_key
            current.blob_key = key
            apply_blob(element, info)
            element.content_type = content_type
            element.filename = filename
            element.last_changed = ctx.now()
            element.last_changed_by = ctx.performed_by
            element.file_scan_result = (
                FileScanResult.Pending if data_type.enable_file_scan else FileScanResult.NotApplicable
            )
            if ctx.is_app_owner:
                element.is_read = False
                _unread_unless_other_read(tx.record, element.id)
            tx.mark_dirty(current)
            _touch(ctx, tx.instance)
            if form_data is not None:
                update_instance_fields(ctx.definition, tx.instance, data_type.id, form_data)
            _event(ctx, tx, "Saved", element.id)
            _delete_after_commit(ctx, tx, old_key)
    except InstanceNotFound:
        await _discard(ctx, key)
        raise _instance_not_found(party_id, guid) from None
    except BaseException:
        await _discard(ctx, key)
        raise
    _enqueue_scan(scans, guid, element)
    return WriteOutcome(tx.record, current, form_data, fields)


# -- delete ------------------------------------------------------------------------------------------


@dataclass
class DeleteOutcome:
    record: InstanceRecord
    validation: list[ValidationSourcePair] = field(default_factory=list)


async def delete_element(
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    data_guid: uuid.UUID,
    *,
    type_alias: str | None = None,
    if_match: str | None = None,
    ignored_validators: Collection[str] | None = None,
) -> DeleteOutcome:
    """``DELETE data/{dataGuid}``: the row goes in the transaction, the blob after the commit."""
    target = await load_target(ctx, party_id, guid, data_guid, action="write", type_alias=type_alias)
    _raise(delete_problem(ctx, target.instance, target.data_type))
    check_if_match(if_match, target.data)
    _raise(writable_problem(target.element))
    _require_task(target.instance, "Cannot delete data element without a current task")
    try:
        async with change_instance(ctx.services.db, guid) as tx:
            current = tx.record.element(target.data_guid)
            if current is None:
                raise _element_not_found(party_id, guid, data_guid)
            _raise(delete_problem(ctx, tx.instance, target.data_type))
            if if_match is not None:
                check_if_match(if_match, current)
            _raise(writable_problem(current.element))
            tx.remove_data(current)
            _delete_after_commit(ctx, tx, current.blob_key)
            _unread_unless_other_read(tx.record, current.element.id)
            _touch(ctx, tx.instance)
            _event(ctx, tx, "Deleted", current.element.id)
    except InstanceNotFound:
        raise _instance_not_found(party_id, guid) from None
    outcome = DeleteOutcome(tx.record)
    if ignored_validators is not None:
        outcome.validation = await incremental_validation(
            ctx, tx.record, [target.data_guid], ignored_validators
        )
    log.info("data_element_deleted", instance_id=target.instance.id, data_id=target.data_guid)
    return outcome


# -- patch ---------------------------------------------------------------------------------------------

PATCH_PROBLEM_TYPE = "https://datatracker.ietf.org/doc/html/rfc6902/"


@dataclass
class PatchOutcome:
    record: InstanceRecord
    models: list[tuple[str, dict[str, Any]]]
    validation: list[ValidationSourcePair]


@dataclass
class _Patched:
    data: DataRecord
    data_type: DataType
    version: int
    previous: dict[str, Any]
    current: dict[str, Any]
    stored: StoredForm | None = None


async def patch_elements(
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    patches: Sequence[tuple[uuid.UUID, Sequence[Any]]],
    *,
    ignored_validators: Collection[str] | None = None,
) -> PatchOutcome:
    """``PATCH data``: JSON Patch on the model JSON of each element (app notes 5.5), then data
    processors, one transaction for all changed elements, then incremental validation."""
    record = await load_record(ctx, party_id, guid)
    require(ctx, "write", record.instance)
    instance = record.instance
    targets: list[tuple[uuid.UUID, DataRecord, DataType, Sequence[Any]]] = []
    for data_guid, operations in patches:
        data = find_element(ctx, record, data_guid)
        if data is None:
            raise _element_not_found(party_id, guid, data_guid)
        data_type = ctx.definition.data_type(data.element.data_type)
        if data_type is None or not data_type.is_form_data:
            raise problem(
                400,
                "Not Form Data",
                f"Data element {data_guid} is not form data and cannot be patched",
            )
        _raise(mutation_problem(ctx, instance, data_type))
        targets.append((data_guid, data, data_type, operations))
    for _, data, _, _ in targets:
        _raise(writable_problem(data.element))
    _require_task(instance, "Cannot update data elements without a current task")

    accessor = FormDataAccessor(ctx.services.blobs, ctx.definition, record)
    patched: dict[str, _Patched] = {}
    for data_guid, data, data_type, operations in targets:
        element_id = data.element.id
        item = patched.get(element_id)
        previous = item.current if item else await accessor.get_copy(data)
        document = as_json_document(previous)
        try:
            result = apply_patch(document, operations)
        except PatchFailure as exc:
            raise Problem(
                409 if exc.test_failed else 422,
                "Precondition in patch failed" if exc.test_failed else "Patch Operation Failed",
                exc.message,
                type=PATCH_PROBLEM_TYPE,
                extensions={
                    "previousModel": as_json_document(previous),
                    "dataElementId": str(data_guid),
                    "patchOperationIndex": exc.index,
                },
                media_type=PROBLEM_JSON,
            ) from None
        try:
            current = formdata.coerce_data(_form_model(ctx, data_type), result, strict=True)
        except FormDataError as exc:
            raise Problem(
                422,
                "Patch operation did not deserialize",
                exc.message,
                type=PATCH_PROBLEM_TYPE,
                media_type=PROBLEM_JSON,
            ) from None
        if item is None:
            patched[element_id] = _Patched(data, data_type, data.version, previous, current)
        else:
            item.current = current

    written: list[str] = []
    try:
        for element_id, item in patched.items():
            await _run_processors(ctx, instance, item.data_type.id, item.current, item.previous)
            model = _form_model(ctx, item.data_type)
            with_ids = formdata.add_row_ids(item.current, model)
            item.current = with_ids
            if formdata.dump_json(with_ids) != formdata.dump_json(item.previous):
                item.stored = await store_form(ctx, instance, item.data_type, element_id, with_ids)
                written.append(item.stored.key)
        changed = [element_id for element_id, item in patched.items() if item.stored is not None]
        async with change_instance(ctx.services.db, guid) as tx:
            for element_id in changed:
                item = patched[element_id]
                assert item.stored is not None
                current_record = tx.record.element(element_id)
                if current_record is None:
                    raise _element_not_found(party_id, guid, element_id)
                if current_record.version != item.version:
                    raise ElementConflict(element_id)
                _raise(mutation_problem(ctx, tx.instance, item.data_type))
                _raise(writable_problem(current_record.element))
                element = current_record.element
                _delete_after_commit(ctx, tx, current_record.blob_key)
                current_record.blob_key = item.stored.key
                apply_blob(element, item.stored.info)
                element.content_type = item.stored.content_type
                element.last_changed = ctx.now()
                element.last_changed_by = ctx.performed_by
                if ctx.is_app_owner:
                    element.is_read = False
                    _unread_unless_other_read(tx.record, element.id)
                tx.mark_dirty(current_record)
                update_instance_fields(ctx.definition, tx.instance, item.data_type.id, item.current)
                _event(ctx, tx, "Saved", element_id)
            if changed:
                _touch(ctx, tx.instance)
    except InstanceNotFound:
        for key in written:
            await _discard(ctx, key)
        raise _instance_not_found(party_id, guid) from None
    except BaseException:
        for key in written:
            await _discard(ctx, key)
        raise
    validation: list[ValidationSourcePair] = []
    if changed or ignored_validators is not None:
        validation = await incremental_validation(
            ctx,
            tx.record,
            changed,
            ignored_validators or (),
            {element_id: item.current for element_id, item in patched.items()},
        )
    return PatchOutcome(
        tx.record, [(element_id, item.current) for element_id, item in patched.items()], validation
    )


async def save_form_data(
    ctx: AppContext, record: InstanceRecord, element_id: str, data: dict[str, Any]
) -> InstanceRecord:
    """Store new form data for an existing element on the app's behalf (a server action's
    ``updated_data``): no data-type access checks, but a locked element is refused (409) and an
    element changed since ``record`` was read is a conflict (409). Returns the instance after it."""
    data_record = record.element(element_id)
    if data_record is None:
        raise problem(
            404, "Data Element Not Found", f"Did not find data element {element_id} on {record.instance.id}"
        )
    data_type = ctx.definition.data_type(data_record.element.data_type)
    if data_type is None or not data_type.is_form_data:
        raise problem(400, "Not Form Data", f"Data element {element_id} is not form data")
    _raise(writable_problem(data_record.element))
    model = _form_model(ctx, data_type)
    try:
        data = formdata.coerce_data(model, as_json_document(data))
    except FormDataError as exc:
        raise problem(400, "Invalid form data", exc.message) from None
    stored = await store_form(ctx, record.instance, data_type, element_id, data)
    try:
        async with change_instance(ctx.services.db, record.guid) as tx:
            current = tx.record.element(element_id)
            if current is None:
                raise problem(404, "Data Element Not Found", f"Did not find data element {element_id}")
            if current.version != data_record.version:
                raise ElementConflict(element_id)
            _raise(writable_problem(current.element))
            _delete_after_commit(ctx, tx, current.blob_key)
            current.blob_key = stored.key
            apply_blob(current.element, stored.info)
            current.element.content_type = stored.content_type
            current.element.last_changed = ctx.now()
            current.element.last_changed_by = ctx.performed_by
            tx.mark_dirty(current)
            update_instance_fields(ctx.definition, tx.instance, data_type.id, stored.data)
            _touch(ctx, tx.instance)
            _event(ctx, tx, "Saved", element_id)
    except BaseException:
        await _discard(ctx, stored.key)
        raise
    return tx.record


# -- reading ------------------------------------------------------------------------------------------


async def load_for_read(
    ctx: AppContext, party_id: int, guid: uuid.UUID, data_guid: uuid.UUID, *, type_alias: str | None
) -> Target:
    """``GET data/{dataGuid}``: PDP ``read`` and ``actionRequiredToRead``."""
    target = await load_target(ctx, party_id, guid, data_guid, action="read", type_alias=type_alias)
    _raise(read_problem(ctx, target.instance, target.data_type))
    return target


def _needs_read_mark(ctx: AppContext, target: Target) -> bool:
    if ctx.is_app_owner:
        return False
    return not target.element.is_read or target.instance.status.read_status != ReadStatus.Read


async def _after_read(ctx: AppContext, target: Target, stored: StoredForm | None) -> Target:
    """Mark the element and instance read (unless the caller is the app owner) and save what the
    read processors changed; a save that lost a race to another write is skipped."""
    mark = _needs_read_mark(ctx, target)
    if not mark and stored is None:
        return target
    try:
        async with change_instance(ctx.services.db, target.guid) as tx:
            current = tx.record.element(target.data_guid)
            if current is None:
                raise _element_not_found(target.party_id, target.guid, target.data_guid)
            element = current.element
            if mark and not element.is_read:
                element.is_read = True
                tx.mark_dirty(current)
            if mark:
                tx.instance.status.read_status = ReadStatus.Read
            if stored is not None and (
                current.version != target.data.version or writable_problem(element) is not None
            ):
                await _discard(ctx, stored.key)
                stored = None
            if stored is not None:
                _delete_after_commit(ctx, tx, current.blob_key)
                current.blob_key = stored.key
                apply_blob(element, stored.info)
                element.last_changed = ctx.now()
                element.last_changed_by = ctx.performed_by
                update_instance_fields(ctx.definition, tx.instance, target.data_type.id, stored.data)
                _touch(ctx, tx.instance)
                _event(ctx, tx, "Saved", element.id)
                tx.mark_dirty(current)
    except InstanceNotFound:
        if stored is not None:
            await _discard(ctx, stored.key)
        raise _instance_not_found(target.party_id, target.guid) from None
    except BaseException:
        if stored is not None:
            await _discard(ctx, stored.key)
        raise
    return Target(tx.record, current, target.data_type, target.party_id, target.guid)


async def read_form(
    ctx: AppContext, target: Target, *, include_row_id: bool
) -> tuple[dict[str, Any], Target]:
    """The element's form data after the app's read processors (saved back when they changed it,
    the element is not locked and the caller may write it); rows keep ``altinnRowId`` only with
    ``include_row_id``."""
    model = _form_model(ctx, target.data_type)
    accessor = FormDataAccessor(ctx.services.blobs, ctx.definition, target.record)
    try:
        data = await accessor.get_copy(target.data)
    except BlobNotFound:
        raise _element_not_found(target.party_id, target.guid, target.data_guid) from None
    before = formdata.dump_json(data)
    if ctx.logic.data_read_processors:
        hook_ctx = ctx.hook_context(target.instance)
        for processor in ctx.logic.data_read_processors:
            await processor(hook_ctx, target.data_type.id, data)
    if include_row_id:
        data = formdata.add_row_ids(data, model)
    stored: StoredForm | None = None
    if (
        formdata.dump_json(data) != before
        and writable_problem(target.element) is None
        and ctx.authorize("write", target.instance)
        and mutation_problem(ctx, target.instance, target.data_type) is None
    ):
        stored = await store_form(ctx, target.instance, target.data_type, target.data_guid, data)
    target = await _after_read(ctx, target, stored)
    return (data if include_row_id else formdata.strip_row_ids(data)), target


async def mark_file_read(ctx: AppContext, target: Target) -> Target:
    """A download by anyone but the app owner marks the element and the instance read."""
    return await _after_read(ctx, target, None)


# -- tags, user-defined metadata ----------------------------------------------------------------------


def is_valid_tag(tag: Any) -> bool:
    """Altinn's ``^[\\p{L}\\-_]+$``: letters (any script), ``-`` and ``_``, at least one."""
    return isinstance(tag, str) and bool(tag) and all(char.isalpha() or char in "-_" for char in tag)


async def _element_for_metadata(
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    data_guid: uuid.UUID,
    *,
    action: str,
    instance_missing: Callable[[], Exception],
    element_missing: Callable[[], Exception],
) -> Target:
    record = await load_record(ctx, party_id, guid, not_found=instance_missing)
    require(ctx, action, record.instance)
    data = find_element(ctx, record, data_guid)
    if data is None:
        raise element_missing()
    data_type = ctx.definition.data_type(data.element.data_type)
    if data_type is None:
        raise element_missing()
    return Target(record, data, data_type, party_id, guid)


async def _change_element(
    ctx: AppContext,
    target: Target,
    change: Callable[[DataElement], bool],
    element_missing: Callable[[], Exception],
) -> DataElement:
    """Apply ``change`` to the element in a transaction (nothing written when it returns False)."""
    _raise(mutation_problem(ctx, target.instance, target.data_type))
    if not change(target.element.model_copy(deep=True)):
        return target.element
    async with change_instance(ctx.services.db, target.guid) as tx:
        current = tx.record.element(target.data_guid)
        if current is None:
            raise element_missing()
        _raise(mutation_problem(ctx, tx.instance, target.data_type))
        if change(current.element):
            tx.mark_dirty(current)
    return current.element


def _tags_instance_missing() -> Problem:
    return problem(404, "Instance not found", "Unable to find instance based on the given parameters.")


def _tags_element_missing() -> Problem:
    return problem(
        404, "Data element not found", "Unable to find data element based on the given parameters."
    )


def invalid_tag() -> Problem:
    return problem(400, "Invalid tag name", "Tags may only contain letters, '-' and '_'.")


async def get_tags(ctx: AppContext, party_id: int, guid: uuid.UUID, data_guid: uuid.UUID) -> list[str]:
    target = await _element_for_metadata(
        ctx,
        party_id,
        guid,
        data_guid,
        action="read",
        instance_missing=_tags_instance_missing,
        element_missing=_tags_element_missing,
    )
    return list(target.element.tags)


async def add_tag(
    ctx: AppContext, party_id: int, guid: uuid.UUID, data_guid: uuid.UUID, tag: str
) -> list[str]:
    if not is_valid_tag(tag):
        raise invalid_tag()
    target = await _element_for_metadata(
        ctx,
        party_id,
        guid,
        data_guid,
        action="write",
        instance_missing=_tags_instance_missing,
        element_missing=_tags_element_missing,
    )

    def add(element: DataElement) -> bool:
        if tag in element.tags:
            return False
        element.tags.append(tag)
        return True

    return list((await _change_element(ctx, target, add, _tags_element_missing)).tags)


async def remove_tag(ctx: AppContext, party_id: int, guid: uuid.UUID, data_guid: uuid.UUID, tag: str) -> None:
    target = await _element_for_metadata(
        ctx,
        party_id,
        guid,
        data_guid,
        action="write",
        instance_missing=_tags_instance_missing,
        element_missing=_tags_element_missing,
    )

    def remove(element: DataElement) -> bool:
        if tag not in element.tags:
            return False
        element.tags = [item for item in element.tags if item != tag]
        return True

    await _change_element(ctx, target, remove, _tags_element_missing)


async def set_tags(
    ctx: AppContext,
    party_id: int,
    guid: uuid.UUID,
    data_guid: uuid.UUID,
    tags: Sequence[str],
    *,
    ignored_validators: Collection[str] | None = None,
) -> tuple[list[str], list[ValidationSourcePair] | None]:
    if not all(is_valid_tag(tag) for tag in tags):
        raise invalid_tag()
    wanted = list(dict.fromkeys(tags))
    target = await _element_for_metadata(
        ctx,
        party_id,
        guid,
        data_guid,
        action="write",
        instance_missing=_tags_instance_missing,
        element_missing=_tags_element_missing,
    )

    def replace(element: DataElement) -> bool:
        if element.tags == wanted:
            return False
        element.tags = list(wanted)
        return True

    element = await _change_element(ctx, target, replace, _tags_element_missing)
    validation = None
    if ignored_validators is not None:
        record = await load_record(ctx, party_id, guid)
        validation = await incremental_validation(ctx, record, (), ignored_validators)
    return list(element.tags), validation


def _metadata_missing(what: str) -> Callable[[], Exception]:
    def missing() -> Exception:
        return PlainError(404, f"Unable to find {what} based on the given parameters.", json=True)

    return missing


async def get_user_defined_metadata(
    ctx: AppContext, party_id: int, guid: uuid.UUID, data_guid: uuid.UUID
) -> list[KeyValueEntry] | None:
    target = await _element_for_metadata(
        ctx,
        party_id,
        guid,
        data_guid,
        action="read",
        instance_missing=_metadata_missing("instance"),
        element_missing=_metadata_missing("data element"),
    )
    return target.element.user_defined_metadata


async def set_user_defined_metadata(
    ctx: AppContext, party_id: int, guid: uuid.UUID, data_guid: uuid.UUID, entries: Sequence[KeyValueEntry]
) -> list[KeyValueEntry] | None:
    """``PUT user-defined-metadata``: unique keys, each allowed by ``allowedKeysForUserDefinedMetadata``."""
    seen: set[str | None] = set()
    duplicated: list[str] = []
    for entry in entries:
        if entry.key in seen and (entry.key or "") not in duplicated:
            duplicated.append(entry.key or "")
        seen.add(entry.key)
    if duplicated:
        raise PlainError(400, f"The following keys are duplicated: {', '.join(duplicated)}", json=True)
    target = await _element_for_metadata(
        ctx,
        party_id,
        guid,
        data_guid,
        action="write",
        instance_missing=_metadata_missing("instance"),
        element_missing=_metadata_missing("data element"),
    )
    _raise(mutation_problem(ctx, target.instance, target.data_type))
    allowed = target.data_type.allowed_keys_for_user_defined_metadata
    if allowed:
        refused = [entry.key or "" for entry in entries if entry.key not in allowed]
        if refused:
            raise PlainError(400, f"The following keys are not allowed: {', '.join(refused)}", json=True)
    wanted = [entry.model_copy() for entry in entries]

    def replace(element: DataElement) -> bool:
        element.user_defined_metadata = [entry.model_copy() for entry in wanted]
        return True

    return (
        await _change_element(ctx, target, replace, _metadata_missing("data element"))
    ).user_defined_metadata


# -- file scan summary ---------------------------------------------------------------------------------


def file_scan_summary(instance: Instance) -> dict[str, Any]:
    """``GET filescanresult`` (app notes 1.11): scanned elements and the aggregate result."""
    scanned = [
        {"id": element.id, "fileScanResult": element.file_scan_result.value}
        for element in instance.data or ()
        if element.file_scan_result != FileScanResult.NotApplicable
    ]
    results = {item["fileScanResult"] for item in scanned}
    if FileScanResult.Infected.value in results:
        aggregate = FileScanResult.Infected
    elif FileScanResult.Pending.value in results:
        aggregate = FileScanResult.Pending
    elif scanned:
        aggregate = FileScanResult.Clean
    else:
        aggregate = FileScanResult.NotApplicable
    return {"id": instance.id, "fileScanResult": aggregate.value, "data": scanned}
