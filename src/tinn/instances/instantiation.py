"""Creating an instance (app notes 4): owner, authorization, process start, data, auto-create.

Everything is prepared first (blobs are streamed to new keys as parts arrive) and then written
in one transaction: the instance row, its data elements, its instance events, the outgoing
CloudEvents and the idempotency record. A failure anywhere leaves nothing behind: no
half-created instance, no orphan blob.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
import structlog

from tinn.appdef.models import DataType
from tinn.data import formdata, forms
from tinn.data.accessor import FormDataAccessor
from tinn.data.elements import new_element, store_stream
from tinn.data.formdata import FormDataError
from tinn.data.service import create_problem, update_instance_fields
from tinn.data.upload import parse_content_disposition
from tinn.events import app_events
from tinn.http.errors import RFC9110_TYPES, EmptyError, PlainError, Problem
from tinn.instances.context import AppContext
from tinn.instances.models import Instance, InstanceEvent, InstanceOwner, InstanceStatus, ReadStatus
from tinn.instances.store import DataRecord, InstanceRecord, create_instance_tx
from tinn.process import state as process_state
from tinn.process.navigation import NavigationError, next_element
from tinn.process.tasks import new_form_data, note_unread, prepare_task_start
from tinn.register.models import Party
from tinn.storage.blobs.base import BlobTooLarge

log = structlog.get_logger("tinn.instances")

MB = 1024 * 1024
_METADATA_ERROR = "Error when comparing content to application metadata: "


class IncomingPart(Protocol):
    name: str | None
    filename: str | None
    content_type: str | None
    content_disposition: str | None

    def content(self) -> AsyncIterator[bytes]: ...


@dataclass
class OwnerSpec:
    party_id: str | None = None
    person_number: str | None = None
    organisation_number: str | None = None
    external_identifier: str | None = None
    username: str | None = None

    @classmethod
    def from_owner(cls, owner: InstanceOwner) -> OwnerSpec:
        return cls(
            owner.party_id,
            owner.person_number,
            owner.organisation_number,
            owner.external_identifier,
            owner.username,
        )

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.party_id,
                self.person_number,
                self.organisation_number,
                self.external_identifier,
                self.username,
            )
        )


@dataclass
class Template:
    """The client's instance template: owner and the few fields Altinn keeps from it."""

    owner: OwnerSpec | None = None
    due_before: datetime | None = None
    visible_after: datetime | None = None
    data_values: dict[str, str] | None = None

    @classmethod
    def from_instance(cls, instance: Instance) -> Template:
        owner = instance.instance_owner
        return cls(
            owner=OwnerSpec.from_owner(owner),
            due_before=instance.due_before,
            visible_after=instance.visible_after,
            data_values=instance.data_values,
        )


def json_error(message: str, status: int = 400) -> PlainError:
    """InstancesController produces JSON: its messages are JSON string literals."""
    return PlainError(status, message, json=True)


@dataclass
class Instantiation:
    """Builds one new instance. Call :meth:`add_part` per data part, then :meth:`commit`;
    :meth:`discard` undoes the blob writes when anything fails before the commit."""

    ctx: AppContext
    guid: uuid.UUID = field(default_factory=uuid.uuid4)
    records: list[DataRecord] = field(default_factory=list)
    # Data parts in arrival order: stored binary records, or form data waiting for the owner
    # (its registry prefill needs the owner party).
    _parts: list[DataRecord | tuple[str, dict[str, Any]]] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)
    _draft: Instance | None = None

    def _draft_instance(self) -> Instance:
        """A provisional instance (owner not known yet) so parts can be stored as they arrive."""
        if self._draft is None:
            self._draft = Instance(id=f"0/{self.guid}", app_id=self.ctx.definition.id, org=self.ctx.org)
        return self._draft

    # -- parts ------------------------------------------------------------------------------------

    def check_part_header(self, name: str | None, content_type: str | None) -> DataType:
        definition = self.ctx.definition
        data_type = definition.data_type(name) if name else None
        if data_type is None:
            raise json_error(
                f"{_METADATA_ERROR}Multipart section named, '{name}' does not correspond to an element type "
                "in application metadata"
            )
        if content_type is None:
            raise json_error(f"{_METADATA_ERROR}The multipart section named {name} is missing Content-Type.")
        allowed = data_type.allowed_content_types
        bare = content_type.split(";")[0].strip()
        if allowed and bare not in allowed:
            raise json_error(
                f"{_METADATA_ERROR}The multipart section named {name} has a Content-Type '{content_type}' "
                f"which is invalid for element type '{data_type.id}'"
            )
        count = self._counts.get(data_type.id, 0) + 1
        self._counts[data_type.id] = count
        if data_type.max_count > 0 and count > data_type.max_count:
            raise json_error(
                f"{_METADATA_ERROR}The list of parts contains more elements of type '{data_type.id}' than the "
                "element type allows."
            )
        return data_type

    async def add_part(self, part: IncomingPart) -> None:
        """Validate a data part against its data type and store it (streamed for binary data)."""
        data_type = self.check_part_header(part.name, part.content_type)
        assert part.name is not None
        limit = data_type.max_size * MB if data_type.max_size and data_type.max_size > 0 else None
        if data_type.is_form_data:
            body = await _read_bounded(
                part.content(), limit or self.ctx.services.settings.max_json_body_bytes
            )
            if body is None:
                raise json_error(
                    f"{_METADATA_ERROR}The multipart section named {part.name} exceeds the size limit of element "
                    f"type '{data_type.id}'"
                )
            if not body:
                raise self._empty(part.name)
            model = self.ctx.definition.form_model(data_type.id)
            if model is None:
                raise Problem(500, "Data model missing", f"No model is loaded for data type {data_type.id}")
            self._parts.append((data_type.id, forms.parse_body(model, part.content_type, body)))
            return
        disposition = parse_content_disposition(part.content_disposition)
        filename = disposition.filename if disposition else None
        element = new_element(
            self._draft_instance(),
            data_type.id,
            content_type=part.content_type,
            filename=filename,
            performed_by=self.ctx.performed_by,
            now=self.ctx.now(),
            by_app_owner=self.ctx.is_app_owner,
            file_scan=data_type.enable_file_scan,
        )
        try:
            record = await store_stream(
                self.ctx.services.blobs, self._draft_instance(), element, part.content(), max_size=limit
            )
        except BlobTooLarge:
            raise json_error(
                f"{_METADATA_ERROR}The multipart section named {part.name} exceeds the size limit of element "
                f"type '{data_type.id}'"
            ) from None
        self.records.append(record)
        self._parts.append(record)
        if record.element.size == 0:
            raise self._empty(part.name)

    @staticmethod
    def _empty(name: str) -> PlainError:
        return json_error(
            f"{_METADATA_ERROR}The multipart section named {name} has no data. Cannot process empty part."
        )

    # -- owner and authorization -------------------------------------------------------------------

    def resolve_owner(self, spec: OwnerSpec) -> Party:
        """App notes 4.4: partyId, externalIdentifier, personNumber, organisationNumber, username."""
        if spec.empty:
            raise json_error(
                "Error: instanceOwnerPartyId query parameter is empty and InstanceOwner is missing from instance "
                "template. You must populate instanceOwnerPartyId or InstanceOwner"
            )
        register = self.ctx.services.register
        party: Party | None = None
        if spec.party_id:
            # ASCII digits only: str.isdigit() and int() also take other scripts' digits.
            text = spec.party_id.strip()
            party = register.party(int(text)) if text.isascii() and text.isdigit() else None
        elif spec.external_identifier:
            party = register.party_by_urn(spec.external_identifier)
        elif spec.person_number:
            party = register.party_by_ssn(spec.person_number)
        elif spec.organisation_number:
            party = register.party_by_org_number(spec.organisation_number)
        elif spec.username:
            party = register.party_by_username(spec.username)
        if party is None:
            raise json_error("Cannot lookup party: Unknown party", 404)
        return party

    async def authorize(self, party: Party) -> None:
        ctx = self.ctx
        enforcement = ctx.services.authorizer.decide(
            ctx.principal, "instantiate", ctx.resource(party_id=party.party_id)
        )
        if not enforcement.authorized:
            if enforcement.failed_obligations:
                raise _ObligationsError(dict(enforcement.failed_obligations))
            raise EmptyError(403)
        if not ctx.services.register.party_type_allowed(party, ctx.definition.metadata.party_types_allowed):
            raise json_error(
                f"Party {party.party_id} is not allowed to instantiate this application {ctx.org}/{ctx.app}",
                403,
            )
        draft = self._draft_instance()
        draft.instance_owner = InstanceOwner.model_validate(
            dict(ctx.services.register.instance_owner_for(party))
        )
        hook_ctx = ctx.hook_context(draft)
        for validator in ctx.logic.instantiation_validators:
            refusal = await validator(hook_ctx)
            if refusal is not None:
                message = refusal.message
                if not message and refusal.custom_text_key:
                    message = ctx.definition.text(refusal.custom_text_key, ctx.language or "nb") or ""
                raise _RefusedError(
                    {
                        "valid": False,
                        "message": message,
                        "customTextKey": refusal.custom_text_key,
                        "customTextParameters": dict(refusal.custom_text_parameters or {}) or None,
                        "validParties": None,
                    }
                )

    # -- commit -------------------------------------------------------------------------------------

    async def commit(
        self,
        party: Party,
        template: Template | None,
        *,
        prefill: Mapping[str, str] | None = None,
        copy_source: InstanceRecord | None = None,
        before_flush: Any = None,
    ) -> InstanceRecord:
        """Start the process, auto-create form data, and write everything in one transaction."""
        ctx = self.ctx
        definition = ctx.definition
        process = definition.process
        if process is None:
            raise Problem(409, "Conflict", "The app has no process definition")
        now = ctx.now()
        register = ctx.services.register
        iid = f"{party.party_id}/{self.guid}"
        instance = Instance(
            id=iid,
            instance_owner=InstanceOwner.model_validate(dict(register.instance_owner_for(party))),
            app_id=definition.id,
            org=ctx.org,
            due_before=template.due_before if template else None,
            visible_after=(template.visible_after if template and template.visible_after else now),
            status=InstanceStatus(read_status=ReadStatus.Unread if ctx.is_service_owner else ReadStatus.Read),
            data_values=template.data_values if template else None,
            created=now,
            created_by=ctx.performed_by,
            last_changed=now,
            last_changed_by=ctx.performed_by,
        )
        ordered: list[DataRecord] = []
        for item in self._parts:
            if isinstance(item, DataRecord):
                ordered.append(item)
                continue
            record = await new_form_data(ctx, instance, item[0], data=item[1], write_processors=True)
            # The data as the hooks left it feeds presentationTexts/dataValues (app notes 5.6).
            update_instance_fields(definition, instance, item[0], item[1])
            self.records.append(record)
            ordered.append(record)

        user = ctx.platform_user()
        try:
            start_event = process_state.start_event_for(process, None)
            started = process_state.start(process, instance, start_event, user, now)
            target = await next_element(process, start_event, None, evaluate=_no_conditions(process))
        except (process_state.ProcessStartError, NavigationError) as exc:
            raise PlainError(409, str(exc), json=True) from None
        entered = process_state.move(process, instance, target, None, user, now)
        self._check_parts(instance)
        if copy_source is not None and entered.entered_task is not None:
            copied = await self._copy_data(instance, copy_source, entered.entered_task.id)
            self.records.extend(copied)
            ordered.extend(copied)
        if entered.entered_task is not None:
            created = await prepare_task_start(
                ctx, instance, entered.entered_task, ordered, external_prefill=prefill
            )
            self.records.extend(created)
            ordered.extend(created)

        events: list[InstanceEvent] = [_created_event(instance, user, now)]
        events += started.events + entered.events
        events += [
            _created_event(instance, user, record.element.created or now, record.element.id)
            for record in ordered
        ]

        source = ctx.links.app_instance(ctx.org, ctx.app, iid)
        cloud_events = [app_events.app_event(app_events.INSTANCE_CREATED, instance, source=source, time=now)]
        if entered.entered_task is not None:
            cloud_events.append(
                app_events.app_event(
                    app_events.moved_to(entered.entered_task.id), instance, source=source, time=now
                )
            )
        elif entered.end_event is not None:
            cloud_events.append(
                app_events.app_event(app_events.PROCESS_COMPLETED, instance, source=source, time=now)
            )

        async with create_instance_tx(ctx.services.db, instance) as tx:
            tx.on_rollback(self.discard)
            for record in ordered:
                tx.add_data(record)
                note_unread(tx.instance, record)
            for event in events:
                tx.add_event(event)
            for cloud_event in cloud_events:
                tx.publish(cloud_event)
            if before_flush is not None:
                await before_flush(tx)
        log.info("instance_created", instance_id=iid, app=definition.id, data_elements=len(self.records))
        return tx.record

    def _check_parts(self, instance: Instance) -> None:
        """The data-type access checks of app notes 5.4 for every supplied part, on the instance in
        its first task (task binding, contributors, required action, user create)."""
        record = InstanceRecord(None, self.guid, 1, instance)
        for item in self._parts:
            type_id = item.element.data_type if isinstance(item, DataRecord) else item[0]
            data_type = self.ctx.definition.data_type(type_id)
            assert data_type is not None  # check_part_header accepted the part
            found = create_problem(self.ctx, record, data_type)
            if found is not None:
                raise found

    async def _copy_data(self, instance: Instance, source: InstanceRecord, task_id: str) -> list[DataRecord]:
        """Copy an archived instance's data into the new one (app notes 4.5)."""
        ctx = self.ctx
        settings = ctx.definition.metadata.copy_instance_settings
        excluded_types = set(settings.excluded_data_types or []) if settings else set()
        excluded_fields = list(settings.excluded_data_fields or []) if settings else []
        include_attachments = bool(settings and settings.include_attachments)
        accessor = FormDataAccessor(ctx.services.blobs, ctx.definition, source)
        copied: list[DataRecord] = []
        for data in source.elements(include_hard_deleted=False):
            data_type = ctx.definition.data_type(data.element.data_type)
            if data_type is None or data_type.id in excluded_types or data_type.id == "ref-data-as-pdf":
                continue
            model = ctx.definition.form_model(data_type.id)
            if data_type.is_form_data and model is not None:
                if data_type.task_id != task_id:
                    continue
                content = await accessor.get_copy(data)
                for path in excluded_fields:
                    with contextlib.suppress(FormDataError):
                        formdata.set_path(model, content, path, None)
                copied.append(await new_form_data(ctx, instance, data_type.id, data=content))
            elif include_attachments and data.blob_key:
                element = new_element(
                    instance,
                    data_type.id,
                    content_type=data.element.content_type,
                    filename=data.element.filename,
                    performed_by=ctx.performed_by,
                    now=ctx.now(),
                    by_app_owner=ctx.is_app_owner,
                )
                stream = await ctx.services.blobs.open(data.blob_key)
                try:
                    copied.append(await store_stream(ctx.services.blobs, instance, element, stream))
                finally:
                    await stream.aclose()
        return copied

    async def discard(self) -> None:
        for record in self.records:
            if record.blob_key:
                await self.ctx.services.blobs.delete(record.blob_key)


class _ObligationsError(Problem):
    """403 whose body is the failed obligations (e.g. a too low authentication level)."""

    def __init__(self, obligations: dict[str, str]) -> None:
        super().__init__(403)
        self.obligations = obligations

    def body(self) -> dict[str, Any]:
        return dict(self.obligations)


class _RefusedError(Problem):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(403)
        self.result = result

    def body(self) -> dict[str, Any]:
        return self.result


def _created_event(instance: Instance, user: Any, now: datetime, data_id: str | None = None) -> InstanceEvent:
    return InstanceEvent(
        id=str(uuid.uuid4()),
        instance_id=instance.id,
        data_id=data_id,
        event_type="Created",
        instance_owner_party_id=instance.instance_owner.party_id,
        created=now,
        user=user,
        process_info=instance.process.model_copy(deep=True) if instance.process else None,
    )


def _no_conditions(process: Any) -> Any:
    async def evaluate(flow: Any, gateway: Any) -> bool:
        # A start event leading to a conditional gateway has no data yet: conditions see nothing.
        return False

    return evaluate


async def _read_bounded(chunks: AsyncIterator[bytes], limit: int) -> bytes | None:
    """The whole (small) body, or None once it grows past ``limit`` bytes."""
    parts: list[bytes] = []
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def parse_template(body: bytes) -> Template:
    """An instance template from JSON (`instance` part or a plain JSON body)."""
    try:
        raw = orjson.loads(body)
        instance = Instance.model_validate(raw)
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise Problem(
            400,
            "One or more validation errors occurred.",
            type=RFC9110_TYPES[400],
            extensions={"errors": {"$": [f"The instance template is not valid JSON: {exc}".splitlines()[0]]}},
        ) from None
    return Template.from_instance(instance)
