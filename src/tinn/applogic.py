"""App logic in Python: the hooks an app folder may register (Altinn apps do this in C#).

An app folder may contain a Python package ``logic/`` whose ``__init__.py`` defines
``register(logic: AppLogic) -> None``. Tinn imports it when the app loads and calls the hooks
at the points Altinn calls the matching C# interfaces:

================================  =================================================================
hook                              Altinn interface, when it runs
================================  =================================================================
``data_processor``                IDataProcessor / IDataWriteProcessor: after form data is written
                                  (may change it), and when it is read
``instantiation_validator``       IInstantiationValidator: before an instance is created
``data_creation``                 IInstantiationProcessor.DataCreation: on new form data elements
``validator``                     IValidator / IFormDataValidator / ITaskValidator
``gateway``                       IProcessExclusiveGateway: chooses the flow out of a gateway
                                  that has no conditions (gets the form data reader)
``task_start`` / ``task_end`` /   IProcessTaskStart / IProcessTaskEnd / IProcessTaskAbandon
``task_abandon``
``process_end``                   IProcessEnd
``user_action``                   IUserAction: a server action (``POST .../actions``)
``service_task``                  IServiceTask: a service task type of the app's own, run when
                                  the process enters a ``bpmn:serviceTask`` of that type
================================  =================================================================

See docs/apps.md for a worked example.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tinn.instances.models import Instance


@dataclass(frozen=True)
class HookContext:
    """What a hook may look at: the instance (read-only copy), the caller and the language."""

    instance: Instance
    org: str
    app: str
    language: str | None = None
    user_id: int | None = None
    party_id: int | None = None
    org_number: str | None = None
    service_owner: str | None = None


@dataclass(frozen=True)
class Issue:
    """A validation issue from app code (severity 1 error, 2 warning, 3 information, 5 success)."""

    code: str
    description: str
    severity: int = 1
    field: str | None = None
    data_element_id: str | None = None
    custom_text_key: str | None = None
    custom_text_params: Sequence[str] | None = None


@dataclass(frozen=True)
class InstantiationRefusal:
    """Returned by an instantiation validator to refuse (403 with this message)."""

    message: str
    custom_text_key: str | None = None
    custom_text_parameters: Mapping[str, str] | None = None


@dataclass
class ActionResult:
    """What a server action returns. ``error`` makes it fail with ``status`` (400/401/409/500)."""

    client_actions: list[dict[str, Any]] = field(default_factory=list)
    redirect_url: str | None = None
    error: str | None = None
    status: int = 400
    updated_data: dict[str, dict[str, Any]] = field(default_factory=dict)


DataProcessor = Callable[[HookContext, str, dict[str, Any], dict[str, Any] | None], Awaitable[None]]
DataReadProcessor = Callable[[HookContext, str, dict[str, Any]], Awaitable[None]]
DataCreation = Callable[[HookContext, str, dict[str, Any], Mapping[str, str]], Awaitable[None]]
InstantiationValidator = Callable[[HookContext], Awaitable[InstantiationRefusal | None]]
TaskHook = Callable[[HookContext, str], Awaitable[None]]
ProcessEndHook = Callable[[HookContext], Awaitable[None]]


class FormDataReader(Protocol):
    async def __call__(self, data_type: str) -> list[tuple[str, dict[str, Any]]]: ...


ValidatorFn = Callable[[HookContext, FormDataReader], Awaitable[Sequence[Issue]]]
GatewayDecider = Callable[[HookContext, Sequence[str], str | None, FormDataReader], Awaitable[Sequence[str]]]
UserAction = Callable[[HookContext, FormDataReader, Mapping[str, str]], Awaitable[ActionResult]]
# Returns the action the process moves on with: None for an ordinary move, or e.g. "reject" for
# Altinn's ServiceTaskResult.FailedContinueProcessNext(). Raising fails the task (500, it stays).
ServiceTask = Callable[[HookContext, str, FormDataReader], Awaitable[str | None]]


@dataclass(frozen=True)
class RegisteredValidator:
    source: str
    fn: ValidatorFn
    task_id: str | None
    data_type: str | None
    incremental: bool


class AppLogic:
    """The hooks of one app. An app without a ``logic/`` package has an empty one."""

    def __init__(self) -> None:
        self.data_processors: list[DataProcessor] = []
        self.data_read_processors: list[DataReadProcessor] = []
        self.data_creation: list[DataCreation] = []
        self.instantiation_validators: list[InstantiationValidator] = []
        self.validators: list[RegisteredValidator] = []
        self.gateways: dict[str, GatewayDecider] = {}
        self.task_start: list[TaskHook] = []
        self.task_end: list[TaskHook] = []
        self.task_abandon: list[TaskHook] = []
        self.process_end: list[ProcessEndHook] = []
        self.user_actions: dict[str, UserAction] = {}
        self.service_tasks: dict[str, ServiceTask] = {}

    # Registration helpers, usable as decorators -------------------------------------------

    def data_processor(self, fn: DataProcessor) -> DataProcessor:
        self.data_processors.append(fn)
        return fn

    def data_read_processor(self, fn: DataReadProcessor) -> DataReadProcessor:
        self.data_read_processors.append(fn)
        return fn

    def on_data_creation(self, fn: DataCreation) -> DataCreation:
        self.data_creation.append(fn)
        return fn

    def instantiation_validator(self, fn: InstantiationValidator) -> InstantiationValidator:
        self.instantiation_validators.append(fn)
        return fn

    def validator(
        self,
        source: str,
        *,
        task_id: str | None = None,
        data_type: str | None = None,
        incremental: bool = False,
    ) -> Callable[[ValidatorFn], ValidatorFn]:
        def register(fn: ValidatorFn) -> ValidatorFn:
            self.validators.append(RegisteredValidator(source, fn, task_id, data_type, incremental))
            return fn

        return register

    def gateway(self, gateway_id: str) -> Callable[[GatewayDecider], GatewayDecider]:
        def register(fn: GatewayDecider) -> GatewayDecider:
            self.gateways[gateway_id] = fn
            return fn

        return register

    def on_task_start(self, fn: TaskHook) -> TaskHook:
        self.task_start.append(fn)
        return fn

    def on_task_end(self, fn: TaskHook) -> TaskHook:
        self.task_end.append(fn)
        return fn

    def on_task_abandon(self, fn: TaskHook) -> TaskHook:
        self.task_abandon.append(fn)
        return fn

    def on_process_end(self, fn: ProcessEndHook) -> ProcessEndHook:
        self.process_end.append(fn)
        return fn

    def user_action(self, action_id: str) -> Callable[[UserAction], UserAction]:
        def register(fn: UserAction) -> UserAction:
            self.user_actions[action_id] = fn
            return fn

        return register

    def service_task(self, task_type: str) -> Callable[[ServiceTask], ServiceTask]:
        """A service task type of the app's own (the built-in types cannot be replaced)."""

        def register(fn: ServiceTask) -> ServiceTask:
            self.service_tasks[task_type] = fn
            return fn

        return register


class AppLogicError(Exception):
    """The app's ``logic/`` package failed to import or to register."""


def load_app_logic(app_folder: Path, org: str, app: str) -> AppLogic:
    """Import ``{app_folder}/logic/__init__.py`` (if any) and let it register its hooks."""
    logic = AppLogic()
    init = app_folder / "logic" / "__init__.py"
    if not init.is_file():
        return logic
    module_name = f"tinn_app_logic.{org}.{app.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(
        module_name, init, submodule_search_locations=[str(init.parent)]
    )
    if spec is None or spec.loader is None:
        raise AppLogicError(f"{init}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
        register = getattr(module, "register", None)
        if not callable(register):
            raise AppLogicError(f"{init}: defines no register(logic) function")
        register(logic)
    except AppLogicError:
        sys.modules.pop(module_name, None)
        raise
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise AppLogicError(f"{init}: {type(exc).__name__}: {exc}") from exc
    return logic
