"""The process engine: start, next and completeProcess (app notes 3.2-3.7).

A move is computed from a snapshot of the instance (navigation through gateways, task end and
task start work such as PDFs and auto-created data, with their blobs written first) and then
committed in one transaction that requires the instance to still be at the version the move was
computed from. Two concurrent `next` calls: exactly one moves, the other gets 409.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from tinn.appdef.definition import AppDefinition
from tinn.applogic import HookContext
from tinn.data.accessor import FormDataAccessor
from tinn.events import app_events
from tinn.http.errors import Problem
from tinn.instances.context import AppContext
from tinn.instances.models import Instance, InstanceEvent
from tinn.instances.store import DataRecord, InstanceRecord, VersionConflict, change_instance
from tinn.process import bpmn
from tinn.process import state as process_state
from tinn.process.bpmn import ExclusiveGateway, ProcessDefinition, SequenceFlow, Task
from tinn.process.expressions import ExpressionError, SimpleContext, evaluate_boolean
from tinn.process.navigation import GatewayFilter, NavigationError, next_element
from tinn.process.tasks import (
    generated_from,
    lock_task_data,
    note_unread,
    prepare_task_start,
    unlock_task_data,
)

log = structlog.get_logger("tinn.process")

MAX_AUTOMATIC_MOVES = 100
PDF_DATA_TYPE = "ref-data-as-pdf"
SERVICE_TASK_FAILED = "Service task failed!"


class ProcessConflict(Problem):
    def __init__(self, detail: str, title: str | None = None) -> None:
        super().__init__(409, title, detail)


def _conflict_on_version() -> ProcessConflict:
    return ProcessConflict(
        "The instance was changed by another request while this one was processed; fetch it and try again.",
        "Conflict",
    )


@dataclass
class MovePlan:
    """Work prepared before the transaction of one move."""

    transition: process_state.Transition
    new_records: list[DataRecord] = field(default_factory=list)
    rewritten: dict[str, DataRecord] = field(default_factory=dict)

    def written_blob_keys(self) -> list[str]:
        keys = [r.blob_key for r in self.new_records if r.blob_key]
        keys += [r.blob_key for r in self.rewritten.values() if r.blob_key]
        return keys


class ProcessEngine:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        definition = ctx.definition
        if definition.process is None:
            raise Problem(409, "Conflict", "The app has no process definition")
        self.definition: AppDefinition = definition
        self.process: ProcessDefinition = definition.process

    # -- state for responses ------------------------------------------------------------------------

    def action_decisions(self, instance: Instance) -> dict[str, bool]:
        """Whether the caller may perform each user action of the current task (read, write, ...)."""
        process = instance.process
        task_id = process.current_task.element_id if process and process.current_task else None
        task = self.process.task(task_id) if task_id else None
        if task is None:
            return {}
        return {
            action: self.ctx.authorize(action, instance) for action in self.process.user_action_types(task.id)
        }

    def app_state(self, instance: Instance) -> dict[str, Any]:
        return process_state.app_process_state(
            self.process, instance.process, self.action_decisions(instance)
        )

    # -- start --------------------------------------------------------------------------------------

    async def start(self, record: InstanceRecord, start_event: str | None) -> InstanceRecord:
        if record.instance.process is not None:
            raise Problem(409, detail="Process is already started. Use next.")
        try:
            start_id = process_state.start_event_for(self.process, start_event)
        except process_state.ProcessStartError as exc:
            raise Problem(409, detail=str(exc)) from None
        instance = record.instance.model_copy(deep=True)
        user = self.ctx.platform_user()
        now = self.ctx.now()
        started = process_state.start(self.process, instance, start_id, user, now)
        plan = await self._plan(record, instance, "", None, start_transition=started)
        return await self._commit(record, plan, instance)

    # -- next ---------------------------------------------------------------------------------------

    def _current_task(self, instance: Instance) -> Task:
        process = instance.process
        if process is None:
            raise ProcessConflict("The instance is missing process information.")
        if process.ended is not None:
            raise ProcessConflict("Process is ended.")
        current = process.current_task
        if current is None or not current.element_id:
            raise ProcessConflict("Process is not started. Use start!")
        if not current.altinn_task_type:
            raise ProcessConflict("Instance does not have current altinn task type information!")
        task = self.process.task(current.element_id)
        if task is None:
            raise ProcessConflict(f"The current task {current.element_id} is not in the process definition.")
        return task

    def authorize_next(self, instance: Instance, task: Task, action: str | None) -> bool:
        if action is not None:
            return self.ctx.authorize(action, instance)
        return any(self.ctx.authorize(a, instance) for a in _next_actions(task.task_type))

    async def next(
        self,
        record: InstanceRecord,
        action: str | None,
        *,
        validate: Any = None,
        run_action: Any = None,
    ) -> InstanceRecord:
        """`PUT process/next`. ``validate(record, task)`` returns blocking issues (or raises);
        ``run_action(record, action)`` runs a user action handler (sign, app server actions)."""
        task = self._current_task(record.instance)
        if not self.authorize_next(record.instance, task, action):
            raise Problem(
                403,
                "Unauthorized",
                f"User is not authorized to perform process next. Task ID: {task.id}. "
                f"Task type: {task.task_type}. Action: {action or 'none'}.",
            )
        move_action = action
        if action != "reject":
            if task.is_service_task:
                # A service task the process is still in (it failed before): run it again.
                if action not in (None, "write", task.task_type):
                    raise ProcessConflict(
                        f"Service tasks do not support running user actions! Received action param {action}.",
                        "User action not supported!",
                    )
                move_action = await self._execute_service_task(record, task) or action
            elif action is not None and run_action is not None:
                record = await run_action(record, action)
        reject_allowed = action == "reject" and task.has_action("reject")
        if not reject_allowed and not task.is_service_task and validate is not None:
            await validate(record, task)
        record = await self._move(record, move_action)
        return await self.run_service_tasks(record)

    async def _execute_service_task(self, record: InstanceRecord, task: Task) -> str | None:
        """Run a service task; the action to move on with (None: an ordinary move). A failure is
        Altinn's 500 "Service task failed!" and leaves the process in the task."""
        from tinn.process.service_tasks import run_service_task

        try:
            return await run_service_task(self, record, task)
        except Problem as problem:
            if problem.status != 500 or problem.title == SERVICE_TASK_FAILED:
                raise
            raise _service_task_failed(task, problem.detail or problem.title or "") from None
        except Exception as exc:
            log.exception("service_task_failed", instance_id=record.instance.id, task=task.id)
            raise _service_task_failed(task, f"{type(exc).__name__}: {exc}") from None

    async def run_service_tasks(self, record: InstanceRecord) -> InstanceRecord:
        """Service tasks run on their own as soon as the process enters them (app notes 3.3 step 7)."""
        for _ in range(MAX_AUTOMATIC_MOVES):
            process = record.instance.process
            current = process.current_task if process else None
            task = self.process.task(current.element_id or "") if current else None
            if task is None or not task.is_service_task:
                return record
            next_action = await self._execute_service_task(record, task)
            record = await self._move(record, next_action)
        raise Problem(500, "Process loop detected", "More than 100 automatic process moves in a row.")

    async def complete_process(self, record: InstanceRecord, *, validate: Any = None) -> InstanceRecord:
        """`PUT process/completeProcess`: move on with each task's default action until the end."""
        process = record.instance.process
        if process is None or (process.current_task is None and process.ended is None):
            raise Problem(409, "Process is not started. Use start!")
        if process.ended is not None:
            raise Problem(409, detail="Process is ended. It cannot be restarted.")
        for _ in range(MAX_AUTOMATIC_MOVES):
            process = record.instance.process
            if process is None or process.ended is not None or process.current_task is None:
                return record
            task = self._current_task(record.instance)
            if not self.authorize_next(record.instance, task, None):
                raise Problem(403)
            if task.is_service_task:
                record = await self.run_service_tasks(record)
                continue
            if validate is not None:
                await validate(record, task)
            record = await self._move(record, bpmn.default_action(task.task_type))
            record = await self.run_service_tasks(record)
        raise Problem(500, "Process loop detected", "More than 100 process moves in a row.")

    # -- a move -------------------------------------------------------------------------------------

    async def _move(self, record: InstanceRecord, action: str | None) -> InstanceRecord:
        instance = record.instance.model_copy(deep=True)
        current = instance.process.current_task if instance.process else None
        assert current is not None and current.element_id
        accessor = FormDataAccessor(self.ctx.services.blobs, self.definition, record)
        try:
            target = await next_element(
                self.process,
                current.element_id,
                action,
                evaluate=self._condition_evaluator(instance, accessor, action, current.element_id),
                gateway_filters=self._gateway_filters(instance, accessor),
            )
        except (NavigationError, ExpressionError) as exc:
            raise Problem(500, "Process navigation failed", str(exc)) from None
        transition = process_state.move(
            self.process, instance, target, action, self.ctx.platform_user(), self.ctx.now()
        )
        plan = await self._plan(record, instance, current.element_id, accessor, move=transition)
        return await self._commit(record, plan, instance)

    async def _plan(
        self,
        record: InstanceRecord,
        instance: Instance,
        left_task_id: str,
        accessor: FormDataAccessor | None,
        *,
        move: process_state.Transition | None = None,
        start_transition: process_state.Transition | None = None,
    ) -> MovePlan:
        """Everything a move needs that touches the blob store, done before the transaction."""
        from tinn.process.receipts import generate_task_pdfs

        ctx = self.ctx
        if start_transition is not None:
            # Starting: move straight on into the first task (app notes 3.6).
            start_id = start_transition.after.start_event or ""
            accessor = FormDataAccessor(ctx.services.blobs, self.definition, record)
            target = await next_element(
                self.process,
                start_id,
                None,
                evaluate=self._condition_evaluator(instance, accessor, None, start_id),
                gateway_filters=self._gateway_filters(instance, accessor),
            )
            move = process_state.move(self.process, instance, target, None, ctx.platform_user(), ctx.now())
            move.events = start_transition.events + move.events
        assert move is not None and accessor is not None
        plan = MovePlan(move)
        hook_ctx = ctx.hook_context(instance)
        try:
            if move.left_task is not None:
                if move.abandoned:
                    for hook in ctx.logic.task_abandon:
                        await hook(hook_ctx, move.left_task.id)
                else:
                    await self._finish_task(record, instance, accessor, move.left_task, plan, hook_ctx)
                    plan.new_records += await generate_task_pdfs(ctx, instance, accessor, move.left_task)
            if move.entered_task is not None:
                existing = [r for r in record.elements() if not generated_from(r, move.entered_task.id)]
                plan.new_records += await prepare_task_start(ctx, instance, move.entered_task, existing)
        except BaseException:
            for key in plan.written_blob_keys():
                await ctx.services.blobs.delete(key)
            raise
        return plan

    async def _finish_task(
        self,
        record: InstanceRecord,
        instance: Instance,
        accessor: FormDataAccessor,
        task: Task,
        plan: MovePlan,
        hook_ctx: HookContext,
    ) -> None:
        """Task end: app hooks, then finalise the task's form data (row ids removed for good)."""
        from tinn.data import formdata, forms
        from tinn.data.elements import new_blob_key

        for hook in self.ctx.logic.task_end:
            await hook(hook_ctx, task.id)
        for data_type in self.definition.data_types_for_task(task.id):
            model = self.definition.form_model(data_type.id)
            if model is None:
                continue
            for data in accessor.form_elements(data_type.id):
                content = await accessor.get(data)
                stripped = formdata.strip_row_ids(content)
                if stripped == content:
                    continue
                body, _ = forms.serialize(model, stripped, forms.storage_format(data_type))
                assert instance.app_id is not None
                key = new_blob_key(instance.app_id, data.element.instance_guid, data.element.id)
                from tinn.storage.blobs.base import iterate_bytes

                info = await self.ctx.services.blobs.put(key, iterate_bytes(body))
                rewritten = DataRecord(None, data.element.model_copy(), key)
                rewritten.element.size = info.size
                rewritten.element.content_hash = info.sha256
                plan.rewritten[data.element.id] = rewritten

    async def _commit(self, record: InstanceRecord, plan: MovePlan, instance: Instance) -> InstanceRecord:
        ctx = self.ctx
        move = plan.transition
        now = ctx.now()
        replaced_keys: list[str] = []
        try:
            async with change_instance(ctx.services.db, record.guid, expected_version=record.version) as tx:
                tx.on_rollback(lambda: _delete_keys(ctx, plan.written_blob_keys()))
                tx.instance.process = instance.process
                if move.left_task is not None and not move.abandoned:
                    for element_id, rewritten in plan.rewritten.items():
                        data = tx.record.element(element_id)
                        if data is not None and data.blob_key:
                            replaced_keys.append(data.blob_key)
                            data.blob_key = rewritten.blob_key
                            data.element.size = rewritten.element.size
                            data.element.content_hash = rewritten.element.content_hash
                            tx.mark_dirty(data)
                    lock_task_data(tx, ctx, move.left_task.id)
                if move.entered_task is not None:
                    for data in list(tx.record.elements()):
                        if generated_from(data, move.entered_task.id):
                            if data.blob_key:
                                replaced_keys.append(data.blob_key)
                            tx.remove_data(data)
                    unlock_task_data(tx, ctx, move.entered_task.id)
                for new in plan.new_records:
                    tx.add_data(new)
                    note_unread(tx.instance, new)
                events: list[InstanceEvent] = list(move.events)
                if move.entered_task is not None and move.entered_task.task_type == "signing":
                    events.append(_sent_to_sign(tx.instance, ctx, now))
                if move.end_event is not None:
                    replaced_keys += self._end_process(tx, now)
                tx.instance.last_changed = now
                tx.instance.last_changed_by = ctx.performed_by
                for event in events:
                    tx.add_event(event)
                for cloud_event in self._cloud_events(tx.instance, move, now):
                    tx.publish(cloud_event)
                tx.after_commit(lambda: _delete_keys(ctx, replaced_keys))
        except VersionConflict:
            raise _conflict_on_version() from None
        if move.end_event is not None:
            hook_ctx = ctx.hook_context(tx.instance)
            for hook in ctx.logic.process_end:
                try:
                    await hook(hook_ctx)
                except Exception:
                    log.exception("process_end_hook_failed", instance_id=tx.instance.id)
        log.info(
            "process_moved",
            instance_id=tx.instance.id,
            to=move.entered_task.id if move.entered_task else (move.end_event.id if move.end_event else None),
        )
        return tx.record

    def _end_process(self, tx: Any, now: Any) -> list[str]:
        """End event: archive; delete auto-delete data; hard-delete auto-delete instances."""
        instance: Instance = tx.instance
        status = instance.status
        status.is_archived = True
        status.archived = instance.process.ended if instance.process else now
        removed: list[str] = []
        auto_delete_types = {
            data_type.id
            for data_type in self.definition.metadata.data_types
            if data_type.app_logic and data_type.app_logic.auto_delete_on_process_end
        }
        for data in list(tx.record.elements()):
            if data.element.data_type in auto_delete_types:
                if data.blob_key:
                    removed.append(data.blob_key)
                tx.remove_data(data)
        if self.definition.metadata.auto_delete_on_process_end:
            status.is_hard_deleted = True
            status.hard_deleted = now
            status.is_soft_deleted = True
            status.soft_deleted = status.soft_deleted or now
        return removed

    def _cloud_events(
        self, instance: Instance, move: process_state.Transition, now: Any
    ) -> list[dict[str, Any]]:
        source = self.ctx.links.app_instance(self.ctx.org, self.ctx.app, instance.id or "")
        if move.entered_task is not None:
            event_type = app_events.moved_to(move.entered_task.id)
        elif move.end_event is not None:
            event_type = app_events.PROCESS_COMPLETED
        else:
            return []
        return [app_events.app_event(event_type, instance, source=source, time=now)]

    # -- gateways -----------------------------------------------------------------------------------

    def _condition_evaluator(
        self, instance: Instance, accessor: FormDataAccessor, action: str | None, current_id: str
    ) -> Any:
        layout_set = self.definition.layout_set_for_task(current_id)
        layout_data_type = layout_set.data_type if layout_set else None
        cache: dict[str, Any] = {}

        async def context_for(gateway: ExclusiveGateway) -> SimpleContext:
            default_type = gateway.connected_data_type_id or layout_data_type
            key = default_type or ""
            if key not in cache:
                models: dict[str, Any] = {}
                for data_type in self.definition.metadata.data_types:
                    if data_type.is_form_data:
                        first = await accessor.first_of_type(data_type.id)
                        if first is not None:
                            models[data_type.id] = first
                from tinn.instances.models import app_json

                cache[key] = SimpleContext(
                    data_models=models,
                    default_data_type=default_type,
                    instance=app_json(
                        instance.model_copy(update={"data": [r.element for r in accessor.record.elements()]})
                    ),
                    gateway_action=action,
                    task_id=current_id,
                    language=self.ctx.language,
                    frontend_settings=self.definition.settings.front_end_settings or {},
                )
            context: SimpleContext = cache[key]
            return context

        async def evaluate(flow: SequenceFlow, gateway: ExclusiveGateway) -> bool:
            context = await context_for(gateway)
            return evaluate_boolean(flow.condition, context, default=False)

        return evaluate

    def _gateway_filters(self, instance: Instance, accessor: FormDataAccessor) -> dict[str, GatewayFilter]:
        deciders = self.ctx.logic.gateways
        if not deciders:
            return {}
        hook_ctx = self.ctx.hook_context(instance)

        async def read(data_type: str) -> list[tuple[str, dict[str, Any]]]:
            return [
                (element_id, copy.deepcopy(data))
                for element_id, data in await accessor.all_of_type(data_type)
            ]

        filters: dict[str, GatewayFilter] = {}
        for gateway_id, decider in deciders.items():

            async def run(
                gateway: ExclusiveGateway,
                flows: list[SequenceFlow],
                action: str | None,
                decider: Any = decider,
            ) -> list[SequenceFlow]:
                chosen = set(await decider(hook_ctx, [f.id for f in flows], action, read))
                kept = [flow for flow in flows if flow.id in chosen]
                if len(kept) != 1:
                    raise NavigationError(
                        f"Gateway {gateway.id}: the app's gateway logic must choose exactly one flow, chose {len(kept)}"
                    )
                return kept

            filters[gateway_id] = run
        return filters


def _next_actions(task_type: str | None) -> tuple[str, ...]:
    """Actions of which any one lets `process/next` without an action move the task on. Altinn's
    app engine accepts `write` for a custom task type besides the type's own name (Storage does not)."""
    actions = bpmn.authorising_actions(task_type)
    custom = task_type is not None and task_type not in bpmn.USER_TASK_TYPES | bpmn.SERVICE_TASK_TYPES
    return (*actions, "write") if custom else actions


def _service_task_failed(task: Task, reason: str) -> Problem:
    """Altinn's answer when a service task fails: 500, and the process stays in the task, where
    `next` runs it again and `reject` (if the caller may) leaves it."""
    return Problem(500, SERVICE_TASK_FAILED, f"Service task {task.id} ({task.task_type}) failed: {reason}")


def _sent_to_sign(instance: Instance, ctx: AppContext, now: Any) -> InstanceEvent:
    import uuid

    return InstanceEvent(
        id=str(uuid.uuid4()),
        instance_id=instance.id,
        event_type="SentToSign",
        instance_owner_party_id=instance.instance_owner.party_id,
        created=now,
        user=ctx.platform_user(),
        process_info=instance.process.model_copy(deep=True) if instance.process else None,
    )


async def _delete_keys(ctx: AppContext, keys: Sequence[str]) -> None:
    for key in keys:
        with contextlib.suppress(Exception):
            await ctx.services.blobs.delete(key)
