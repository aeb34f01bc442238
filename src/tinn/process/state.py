"""Process state transitions and the instance events they produce (app notes 2.4, 3.5, 3.6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tinn.instances.models import Instance, InstanceEvent, PlatformUser, ProcessElementInfo, ProcessState
from tinn.process.bpmn import EndEvent, ProcessDefinition, ProcessElement, Task

COMPLETE = "CompleteCurrentMoveToNext"
ABANDON = "AbandonCurrentMoveToNext"


class ProcessStartError(Exception):
    """No start event matches (409 "No matching startevent")."""


@dataclass
class Transition:
    """One move of the process, computed but not yet stored."""

    before: ProcessState | None
    after: ProcessState
    events: list[InstanceEvent] = field(default_factory=list)
    left_task: Task | None = None
    entered_task: Task | None = None
    end_event: EndEvent | None = None
    abandoned: bool = False


def start_event_for(definition: ProcessDefinition, requested: str | None) -> str:
    ids = definition.start_event_ids
    if requested:
        if requested not in ids:
            raise ProcessStartError("No matching startevent")
        return requested
    if len(ids) != 1:
        raise ProcessStartError("No matching startevent")
    return ids[0]


def _event(
    event_type: str, instance: Instance, state: ProcessState, user: PlatformUser, now: datetime
) -> InstanceEvent:
    import uuid

    return InstanceEvent(
        id=str(uuid.uuid4()),
        instance_id=instance.id,
        event_type=event_type,
        instance_owner_party_id=instance.instance_owner.party_id,
        created=now,
        user=user,
        process_info=state.model_copy(deep=True),
    )


def start(
    definition: ProcessDefinition, instance: Instance, start_event: str, user: PlatformUser, now: datetime
) -> Transition:
    """Put the process at its start event (flow 1)."""
    state = ProcessState(
        started=now,
        start_event=start_event,
        current_task=ProcessElementInfo(flow=1, element_id=start_event),
    )
    transition = Transition(before=None, after=state)
    instance.process = state
    transition.events.append(_event("process_StartEvent", instance, state, user, now))
    return transition


def move(
    definition: ProcessDefinition,
    instance: Instance,
    target: ProcessElement,
    action: str | None,
    user: PlatformUser,
    now: datetime,
) -> Transition:
    """Move from the current element to ``target`` (a task or an end event), mutating ``instance``."""
    before = instance.process
    assert before is not None and before.current_task is not None
    previous = definition.task(before.current_task.element_id or "")
    abandoned = action == "reject"
    transition = Transition(before=before.model_copy(deep=True), after=before, abandoned=abandoned)
    if previous is not None:
        transition.left_task = previous
        event_type = "process_AbandonTask" if abandoned else "process_EndTask"
        transition.events.append(_event(event_type, instance, before, user, now))

    state = before.model_copy(deep=True)
    if isinstance(target, EndEvent):
        state.current_task = None
        state.ended = now
        state.end_event = target.id
        instance.process = state
        transition.end_event = target
        transition.events.append(_event("process_EndEvent", instance, state, user, now))
        # Altinn 2's message box reads this one (sic, one t).
        transition.events.append(_event("Submited", instance, state, user, now))
    elif isinstance(target, Task):
        flow = (before.current_task.flow or 0) + 1
        state.current_task = ProcessElementInfo(
            flow=flow,
            started=now,
            element_id=target.id,
            name=target.name,
            altinn_task_type=target.task_type,
            flow_type=ABANDON if abandoned else COMPLETE,
        )
        instance.process = state
        transition.entered_task = target
        transition.events.append(_event("process_StartTask", instance, state, user, now))
    else:
        raise ValueError(f"cannot move to {type(target).__name__} {getattr(target, 'id', '?')}")
    transition.after = state
    return transition


def app_process_state(
    definition: ProcessDefinition,
    state: ProcessState | None,
    actions: dict[str, bool] | None,
) -> dict[str, Any]:
    """The App API's AppProcessState: storage ProcessState + per-task actions + every task.

    ``actions`` maps each user action of the current task to whether the caller may perform it.
    """
    from tinn.instances.models import app_json

    body: dict[str, Any] = {
        "started": None,
        "startEvent": None,
        "currentTask": None,
        "ended": None,
        "endEvent": None,
        "processTasks": definition.process_tasks(),
    }
    if state is None:
        return body
    raw = app_json(state)
    body.update({k: raw[k] for k in ("started", "startEvent", "ended", "endEvent")})
    current = state.current_task
    if current is not None:
        info = app_json(current)
        task = definition.task(current.element_id or "")
        element_type = task.element_type if task is not None else None
        user_actions: list[dict[str, Any]] = []
        process_actions: dict[str, bool] = {}
        if task is not None and actions is not None:
            for action_id, action_type in definition.user_action_types(task.id).items():
                authorized = actions.get(action_id, False)
                user_actions.append({"id": action_id, "authorized": authorized, "type": action_type})
                if action_type == "ProcessAction":
                    process_actions[action_id] = authorized
        info.update(
            {
                "actions": process_actions if task is not None else None,
                "userActions": user_actions if task is not None else None,
                "read": bool(actions and actions.get("read")),
                "write": bool(actions and actions.get("write")),
                "elementType": element_type,
            }
        )
        body["currentTask"] = info
    # Keep Altinn's field order: processTasks last.
    body["processTasks"] = body.pop("processTasks")
    return body
