"""Altinn's BPMN dialects, parsed into a typed and validated process graph.

An Altinn app describes its process in ``config/process/process.bpmn``: a small BPMN subset (start
and end events, tasks, service tasks, exclusive gateways, sequence flows) plus Altinn extension
elements (namespace ``http://altinn.no/process``) carrying each task's type, its user actions and
per-task-type configuration. Apps older than v8 put the task type in an ``altinn:tasktype``
attribute (namespace ``http://altinn.no``) instead. Elements are matched by namespace URI, never by
prefix: ``bpmn:``, ``bpmn2:`` and default namespaces all occur in the wild.

What would make the engine fail later is refused here, with file, line and element id
(:class:`BpmnError`). What Altinn tolerates but is probably a mistake (an unreachable task, a
task without a task type, a condition Altinn never evaluates) is collected in
:attr:`ProcessDefinition.warnings`.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal, NoReturn, TypeAlias, TypeVar

from lxml import etree

from tinn.xmlsafe import UnsafeXml, XmlSyntaxError, parse_xml

__all__ = [
    "ALTINN_NS",
    "BPMN_NS",
    "LEGACY_ALTINN_NS",
    "SERVICE_TASK_TYPES",
    "USER_TASK_TYPES",
    "ActionType",
    "BpmnError",
    "BpmnWarning",
    "EFormidlingConfig",
    "EndEvent",
    "EnvironmentDataTypes",
    "EnvironmentValue",
    "ExclusiveGateway",
    "JsonValue",
    "PaymentConfig",
    "PdfConfig",
    "ProcessDefinition",
    "ProcessElement",
    "SequenceFlow",
    "SignatureConfig",
    "StartEvent",
    "SubformPdfConfig",
    "Task",
    "TaskAction",
    "XmlNode",
    "authorising_actions",
    "default_action",
    "is_service_task_type",
    "load_bpmn",
    "parse_bpmn",
    "value_for_environment",
]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ALTINN_NS = "http://altinn.no/process"
LEGACY_ALTINN_NS = "http://altinn.no"

# --- task-type facts (app notes 3.2; Altinn's ConvertTaskTypeToAction and ProcessAuthorizer) ---

DATA = "data"
CONFIRMATION = "confirmation"
SIGNING = "signing"
PAYMENT = "payment"
FEEDBACK = "feedback"
PDF = "pdf"
EFORMIDLING = "eFormidling"
FIKS_ARKIV = "fiksArkiv"
SUBFORM_PDF = "subformPdf"

USER_TASK_TYPES: frozenset[str] = frozenset({DATA, CONFIRMATION, SIGNING, PAYMENT, FEEDBACK})
"""Built-in task types a user (or system) completes through ``process/next``."""

SERVICE_TASK_TYPES: frozenset[str] = frozenset({PDF, EFORMIDLING, FIKS_ARKIV, SUBFORM_PDF})
"""Built-in task types the engine runs by itself as soon as the process enters them."""

# payment and subformPdf pass through as their own names, like any custom type.
_DEFAULT_ACTIONS: Mapping[str, str] = MappingProxyType(
    {
        DATA: "write",
        FEEDBACK: "write",
        PDF: "write",
        EFORMIDLING: "write",
        FIKS_ARKIV: "write",
        CONFIRMATION: "confirm",
        SIGNING: "sign",
        PAYMENT: PAYMENT,
        SUBFORM_PDF: SUBFORM_PDF,
    }
)

_AUTHORISING_ACTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        DATA: ("write",),
        FEEDBACK: ("write",),
        PDF: ("write",),
        EFORMIDLING: ("write",),
        FIKS_ARKIV: ("write",),
        SUBFORM_PDF: ("write",),
        PAYMENT: ("pay", "write"),
        CONFIRMATION: ("confirm",),
        SIGNING: ("sign", "write"),
    }
)


def default_action(task_type: str | None) -> str | None:
    """The action ``process/next`` performs when the request names none.

    ``data``/``feedback`` and the built-in service tasks write, ``confirmation`` confirms,
    ``signing`` signs; ``payment``, ``subformPdf`` and custom types use the type name itself.
    A task without a type has no default action (the engine answers 409 for it).
    """
    if task_type is None:
        return None
    return _DEFAULT_ACTIONS.get(task_type, task_type)


def authorising_actions(task_type: str | None) -> tuple[str, ...]:
    """Actions of which any one authorises ``process/next`` when the request names no action.

    A custom task type is authorised by an action with the type's own name; a task without a
    type by none.
    """
    if task_type is None:
        return ()
    return _AUTHORISING_ACTIONS.get(task_type, (task_type,))


def is_service_task_type(task_type: str | None, element_type: str = "Task") -> bool:
    """Whether a task of this type runs automatically instead of waiting for a user.

    Altinn decides by task type: the built-in service types run wherever they are declared. A
    custom type counts as a (custom) service task when it is declared on a ``bpmn:serviceTask``.
    """
    if task_type is None:
        return False
    if task_type in SERVICE_TASK_TYPES:
        return True
    return element_type == "ServiceTask" and task_type not in USER_TASK_TYPES


# --- errors and warnings ---


def _where(source: str, line: int | None, column: int | None, element_id: str | None) -> str:
    where = source
    if line is not None:
        where += f", line {line}"
        if column is not None:
            where += f", column {column}"
    if element_id is not None:
        where += f", element '{element_id}'"
    return where


class BpmnError(ValueError):
    """The process definition cannot be used; says where (file, line, element) and why."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        element_id: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(f"{_where(source, line, column, element_id)}: {message}")
        self.message = message
        self.source = source
        self.element_id = element_id
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class BpmnWarning:
    """Something Altinn accepts but that is probably a mistake in the process definition."""

    message: str
    source: str
    element_id: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        return f"{_where(self.source, self.line, None, self.element_id)}: {self.message}"


# --- the model ---

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

ActionType = Literal["ProcessAction", "ServerAction"]

_ACTION_TYPES: Mapping[str, ActionType] = MappingProxyType(
    {"processAction": "ProcessAction", "serverAction": "ServerAction"}
)


@dataclass(frozen=True, slots=True)
class XmlNode:
    """An extension element Tinn does not interpret, kept as written.

    Attribute names of namespaced attributes are in Clark notation (``{uri}local``).
    """

    namespace: str | None
    name: str
    attributes: tuple[tuple[str, str], ...]
    text: str | None
    children: tuple[XmlNode, ...]
    line: int | None

    def attribute(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class EnvironmentValue:
    """A configuration value, optionally only for one environment (``env="tt02"``)."""

    value: str
    env: str | None = None


@dataclass(frozen=True, slots=True)
class EnvironmentDataTypes:
    """eFormidling's data types to ship, optionally only for one environment."""

    data_types: tuple[str, ...]
    env: str | None = None


def value_for_environment(values: Sequence[EnvironmentValue], environment: str | None) -> str | None:
    """The value configured for ``environment``, else the global one (no ``env``), else None.

    As in Altinn, a later entry for the same environment replaces an earlier one. Environment
    names compare case-insensitively.
    """
    specific: str | None = None
    fallback: str | None = None
    wanted = environment.casefold() if environment else None
    for item in values:
        if item.env is None or not item.env.strip():
            fallback = item.value
        elif wanted is not None and item.env.strip().casefold() == wanted:
            specific = item.value
    return specific if specific is not None else fallback


@dataclass(frozen=True, slots=True)
class TaskAction:
    """A user action declared on a task (``<altinn:action>``)."""

    id: str
    type: ActionType = "ProcessAction"


@dataclass(frozen=True, slots=True)
class SignatureConfig:
    """``<altinn:signatureConfig>`` of a signing task."""

    data_types_to_sign: tuple[str, ...] = ()
    signature_data_type: str | None = None
    unique_from_signatures_in_data_types: tuple[str, ...] = ()
    signee_provider_id: str | None = None
    signee_states_data_type_id: str | None = None
    signing_pdf_data_type: str | None = None
    correspondence_resources: tuple[EnvironmentValue, ...] = ()
    run_default_validator: bool = False
    extra: tuple[XmlNode, ...] = ()


@dataclass(frozen=True, slots=True)
class PaymentConfig:
    """``<altinn:paymentConfig>`` of a payment task."""

    payment_data_type: str | None = None
    payment_receipt_pdf_data_type: str | None = None
    payment_processor_id: str | None = None
    extra: tuple[XmlNode, ...] = ()


@dataclass(frozen=True, slots=True)
class PdfConfig:
    """``<altinn:pdfConfig>`` of a ``pdf`` service task (or a signing task's PDF).

    ``filename_text_resource_key`` also reads the older ``<altinn:filename>``;
    ``auto_pdf_task_ids`` reads ``<altinn:autoPdfTaskIds><altinn:taskId>`` and the older
    ``<altinn:tasksToIncludeInPdf><altinn:task>``.
    """

    filename_text_resource_key: str | None = None
    data_type_id: str | None = None
    auto_pdf_task_ids: tuple[str, ...] = ()
    extra: tuple[XmlNode, ...] = ()


@dataclass(frozen=True, slots=True)
class SubformPdfConfig:
    """``<altinn:subformPdfConfig>`` of a ``subformPdf`` service task."""

    filename_text_resource_key: str | None = None
    subform_component_id: str | None = None
    subform_data_type_id: str | None = None
    parallel_execution: bool = False
    extra: tuple[XmlNode, ...] = ()


@dataclass(frozen=True, slots=True)
class EFormidlingConfig:
    """``<altinn:eFormidlingConfig>`` of an ``eFormidling`` service task.

    Every setting may be given per environment; resolve with :func:`value_for_environment`.
    """

    enabled: tuple[EnvironmentValue, ...] = ()
    receiver: tuple[EnvironmentValue, ...] = ()
    process: tuple[EnvironmentValue, ...] = ()
    standard: tuple[EnvironmentValue, ...] = ()
    type_version: tuple[EnvironmentValue, ...] = ()
    type: tuple[EnvironmentValue, ...] = ()
    security_level: tuple[EnvironmentValue, ...] = ()
    dpf_shipment_type: tuple[EnvironmentValue, ...] = ()
    data_types: tuple[EnvironmentDataTypes, ...] = ()
    extra: tuple[XmlNode, ...] = ()

    def data_types_for(self, environment: str | None) -> tuple[str, ...]:
        """Data types to ship in ``environment``: its own lists if any, else the global ones."""
        wanted = environment.casefold() if environment else None
        specific: list[str] = []
        fallback: list[str] = []
        for entry in self.data_types:
            if entry.env is None or not entry.env.strip():
                fallback.extend(entry.data_types)
            elif wanted is not None and entry.env.strip().casefold() == wanted:
                specific.extend(entry.data_types)
        return tuple(specific or fallback)


@dataclass(frozen=True, slots=True)
class StartEvent:
    id: str
    name: str | None
    incoming: tuple[str, ...]
    outgoing: tuple[str, ...]
    line: int | None

    @property
    def element_type(self) -> str:
        return "StartEvent"


@dataclass(frozen=True, slots=True)
class EndEvent:
    id: str
    name: str | None
    incoming: tuple[str, ...]
    outgoing: tuple[str, ...]
    line: int | None

    @property
    def element_type(self) -> str:
        return "EndEvent"


@dataclass(frozen=True, slots=True)
class Task:
    """A ``bpmn:task`` (or ``bpmn:userTask``) or ``bpmn:serviceTask``.

    ``task_type`` is None when the task declares none; Altinn loads such a process but answers
    409 "Instance does not have current altinn task type information!" when it reaches the task.
    ``extensions`` keeps ``<altinn:taskExtension>`` children Tinn does not interpret.
    """

    id: str
    name: str | None
    task_type: str | None
    element_type: Literal["Task", "ServiceTask"]
    actions: tuple[TaskAction, ...]
    incoming: tuple[str, ...]
    outgoing: tuple[str, ...]
    line: int | None
    signature_config: SignatureConfig | None = None
    payment_config: PaymentConfig | None = None
    pdf_config: PdfConfig | None = None
    eformidling_config: EFormidlingConfig | None = None
    subform_pdf_config: SubformPdfConfig | None = None
    extensions: tuple[XmlNode, ...] = ()

    @property
    def is_service_task(self) -> bool:
        return is_service_task_type(self.task_type, self.element_type)

    def has_action(self, action: str) -> bool:
        """Whether the task declares ``action`` (e.g. ``reject``, which skips validation)."""
        return any(a.id == action for a in self.actions)


@dataclass(frozen=True, slots=True)
class ExclusiveGateway:
    """An exclusive gateway. ``outgoing`` lists its ``<bpmn:outgoing>`` children, which are the
    flows Altinn follows from a gateway (not the flows whose ``sourceRef`` is the gateway)."""

    id: str
    name: str | None
    default_flow: str | None
    connected_data_type_id: str | None
    incoming: tuple[str, ...]
    outgoing: tuple[str, ...]
    line: int | None

    @property
    def element_type(self) -> str:
        return "ExclusiveGateway"


@dataclass(frozen=True, slots=True)
class SequenceFlow:
    """A sequence flow. ``condition_text`` is the ``conditionExpression`` as written and
    ``condition`` its parsed JSON (an Altinn expression such as
    ``["equals", ["gatewayAction"], "reject"]``); both None when the flow has no condition."""

    id: str
    name: str | None
    source: str
    target: str
    condition_text: str | None
    condition: JsonValue
    line: int | None

    @property
    def has_condition(self) -> bool:
        return self.condition_text is not None


ProcessElement: TypeAlias = StartEvent | Task | ExclusiveGateway | EndEvent


@dataclass(frozen=True, slots=True)
class ProcessDefinition:
    """One app's process: its elements and flows, indexed for navigation.

    ``tasks`` are in document order; ``outgoing`` maps every element id to the flow ids
    navigation follows from it, in document order of the flows.
    """

    source: str
    id: str | None
    start_events: tuple[StartEvent, ...]
    end_events: tuple[EndEvent, ...]
    tasks: tuple[Task, ...]
    elements: Mapping[str, ProcessElement]
    flows: Mapping[str, SequenceFlow]
    outgoing: Mapping[str, tuple[str, ...]]
    warnings: tuple[BpmnWarning, ...]

    @property
    def start_event_ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in self.start_events)

    def element(self, element_id: str) -> ProcessElement | None:
        return self.elements.get(element_id)

    def task(self, element_id: str) -> Task | None:
        element = self.elements.get(element_id)
        return element if isinstance(element, Task) else None

    def is_start_event(self, element_id: str | None) -> bool:
        return element_id is not None and isinstance(self.elements.get(element_id), StartEvent)

    def is_end_event(self, element_id: str | None) -> bool:
        return element_id is not None and isinstance(self.elements.get(element_id), EndEvent)

    def is_service_task(self, element_id: str) -> bool:
        task = self.task(element_id)
        return task is not None and task.is_service_task

    def outgoing_flows(self, element_id: str) -> tuple[SequenceFlow, ...]:
        """Flows navigation follows from ``element_id``: a gateway's ``<outgoing>`` children,
        any other element's flows by ``sourceRef``. Raises KeyError for an unknown element."""
        if element_id not in self.elements:
            raise KeyError(f"{self.source} has no process element '{element_id}'")
        return tuple(self.flows[flow_id] for flow_id in self.outgoing[element_id])

    def process_tasks(self) -> list[dict[str, str | None]]:
        """The ``processTasks`` entries of an AppProcessState, in Altinn's order: every task in
        document order, then every service task in document order."""
        ordered = [t for t in self.tasks if t.element_type == "Task"]
        ordered += [t for t in self.tasks if t.element_type == "ServiceTask"]
        return [
            {"altinnTaskType": t.task_type, "elementId": t.id, "elementType": t.element_type} for t in ordered
        ]

    def user_action_types(self, task_id: str) -> dict[str, ActionType]:
        """The actions the app authorises for ``userActions`` on a task, in order: ``read`` and
        ``write``, then the task's declared actions (each once). Raises KeyError for a non-task."""
        task = self.task(task_id)
        if task is None:
            raise KeyError(f"{self.source} has no task '{task_id}'")
        types: dict[str, ActionType] = {"read": "ProcessAction", "write": "ProcessAction"}
        for action in task.actions:
            types.setdefault(action.id, action.type)
        return types


# --- parsing ---


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


_PROCESS = _q(BPMN_NS, "process")
_START_EVENT = _q(BPMN_NS, "startEvent")
_END_EVENT = _q(BPMN_NS, "endEvent")
_TASK_TAGS = {
    _q(BPMN_NS, "task"): "Task",
    _q(BPMN_NS, "userTask"): "Task",
    _q(BPMN_NS, "serviceTask"): "ServiceTask",
}
_GATEWAY = _q(BPMN_NS, "exclusiveGateway")
_SEQUENCE_FLOW = _q(BPMN_NS, "sequenceFlow")
_INCOMING = _q(BPMN_NS, "incoming")
_OUTGOING = _q(BPMN_NS, "outgoing")
_EXTENSION_ELEMENTS = _q(BPMN_NS, "extensionElements")
_CONDITION = _q(BPMN_NS, "conditionExpression")
_TASK_EXTENSION = _q(ALTINN_NS, "taskExtension")
_GATEWAY_EXTENSION = _q(ALTINN_NS, "gatewayExtension")
_LEGACY_TASK_TYPE_ATTRS = (_q(LEGACY_ALTINN_NS, "tasktype"), _q(ALTINN_NS, "tasktype"))

# Non-flow BPMN content a modeller may leave in a process; Altinn ignores it and so do we.
_ARTIFACTS = frozenset(
    _q(BPMN_NS, local)
    for local in (
        "documentation",
        "extensionElements",
        "laneSet",
        "textAnnotation",
        "association",
        "group",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "property",
        "ioSpecification",
    )
)

_C = TypeVar("_C")

_BOOLEANS: Mapping[str, bool] = MappingProxyType({"true": True, "1": True, "false": False, "0": False})


def _children(element: etree._Element) -> Iterator[etree._Element]:
    """Child elements, skipping comments and processing instructions."""
    for child in element:
        if isinstance(child.tag, str):
            yield child


def _line(element: etree._Element) -> int | None:
    line = element.sourceline
    return line if isinstance(line, int) else None


def _local(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


def _display(element: etree._Element) -> str:
    qname = etree.QName(element)
    namespace = qname.namespace
    if namespace == BPMN_NS:
        return f"bpmn:{qname.localname}"
    if namespace == ALTINN_NS:
        return f"altinn:{qname.localname}"
    return f"{{{namespace}}}{qname.localname}" if namespace else str(qname.localname)


def _raw_text(element: etree._Element) -> str:
    """The element's own text, ignoring interleaved comments."""
    parts = [element.text or ""]
    parts.extend(child.tail or "" for child in element)
    return "".join(parts)


def load_bpmn(path: Path) -> ProcessDefinition:
    """Read and parse a ``process.bpmn`` file; errors name the file."""
    return parse_bpmn(path.read_bytes(), source=str(path))


def parse_bpmn(data: bytes | str, *, source: str = "process.bpmn") -> ProcessDefinition:
    """Parse and validate a BPMN process definition in any of Altinn's dialects.

    Raises :class:`BpmnError` (with ``source``, line and element id) when the definition is not
    well-formed XML, not BPMN, or not usable by the process engine.
    """
    try:
        root = parse_xml(data)
    except XmlSyntaxError as exc:
        raise BpmnError(
            f"not well-formed XML: {exc}", source=source, line=exc.line, column=exc.column
        ) from exc
    except UnsafeXml as exc:
        raise BpmnError(str(exc), source=source) from exc
    return _Parser(source).definitions(root)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.warnings: list[BpmnWarning] = []

    def fail(
        self, message: str, element: etree._Element | None = None, element_id: str | None = None
    ) -> NoReturn:
        line = _line(element) if element is not None else None
        raise BpmnError(message, source=self.source, element_id=element_id, line=line)

    def warn(self, message: str, element_id: str | None = None, line: int | None = None) -> None:
        self.warnings.append(BpmnWarning(message, self.source, element_id, line))

    # -- document structure --

    def definitions(self, root: etree._Element) -> ProcessDefinition:
        if root.tag != _q(BPMN_NS, "definitions"):
            self.fail(
                f"not a BPMN process definition: the root element is <{_display(root)}>, "
                f"expected <definitions> in namespace {BPMN_NS}",
                root,
            )
        processes = [child for child in _children(root) if child.tag == _PROCESS]
        if not processes:
            self.fail("the definitions contain no <bpmn:process>", root)
        if len(processes) > 1:
            self.fail(
                f"the definitions contain {len(processes)} <bpmn:process> elements; "
                "an Altinn app has exactly one",
                processes[1],
                processes[1].get("id"),
            )
        return self.process(processes[0])

    def process(self, process: etree._Element) -> ProcessDefinition:
        process_id = process.get("id")
        elements: dict[str, ProcessElement] = {}
        flows: dict[str, SequenceFlow] = {}
        unsupported: dict[str, etree._Element] = {}
        id_lines: dict[str, int | None] = {}

        def claim(child: etree._Element) -> str:
            element_id = (child.get("id") or "").strip()
            if not element_id:
                self.fail(f"<{_display(child)}> has no id", child)
            if element_id in id_lines:
                first = id_lines[element_id]
                also = f" (first used on line {first})" if first is not None else ""
                self.fail(f"duplicate id '{element_id}'{also}", child, element_id)
            id_lines[element_id] = _line(child)
            return element_id

        for child in _children(process):
            tag = child.tag
            if tag == _START_EVENT:
                element_id = claim(child)
                elements[element_id] = StartEvent(
                    element_id, child.get("name"), *self.flow_refs(child, element_id), _line(child)
                )
            elif tag == _END_EVENT:
                element_id = claim(child)
                elements[element_id] = EndEvent(
                    element_id, child.get("name"), *self.flow_refs(child, element_id), _line(child)
                )
            elif tag in _TASK_TAGS:
                element_id = claim(child)
                elements[element_id] = self.task(child, element_id, _TASK_TAGS[tag])
            elif tag == _GATEWAY:
                element_id = claim(child)
                elements[element_id] = self.gateway(child, element_id)
            elif tag == _SEQUENCE_FLOW:
                flow_id = claim(child)
                flows[flow_id] = self.sequence_flow(child, flow_id)
            elif tag in _ARTIFACTS:
                continue
            elif etree.QName(child).namespace == BPMN_NS:
                unsupported[claim(child)] = child

        start_events = tuple(e for e in elements.values() if isinstance(e, StartEvent))
        end_events = tuple(e for e in elements.values() if isinstance(e, EndEvent))
        if not start_events:
            self.fail("the process has no <bpmn:startEvent>", process, process_id)
        if not end_events:
            self.fail("the process has no <bpmn:endEvent>", process, process_id)

        self.check_flow_ends(flows, elements, unsupported)
        outgoing = self.navigation(elements, flows)
        self.check_references(elements, flows)
        self.check_reachability(start_events, elements, flows, outgoing)
        for element_id, node in unsupported.items():
            self.warn(
                f"<{_display(node)}> is not supported by Altinn's process engine and is ignored",
                element_id,
                _line(node),
            )

        return ProcessDefinition(
            source=self.source,
            id=process_id,
            start_events=start_events,
            end_events=end_events,
            tasks=tuple(e for e in elements.values() if isinstance(e, Task)),
            elements=MappingProxyType(elements),
            flows=MappingProxyType(flows),
            outgoing=MappingProxyType(outgoing),
            warnings=tuple(self.warnings),
        )

    def flow_refs(self, element: etree._Element, element_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        incoming: list[str] = []
        outgoing: list[str] = []
        for child in _children(element):
            if child.tag in (_INCOMING, _OUTGOING):
                ref = self.text(child, element_id)
                if ref is None:
                    self.fail(f"<{_display(child)}> names no sequence flow", child, element_id)
                (incoming if child.tag == _INCOMING else outgoing).append(ref)
        return tuple(incoming), tuple(outgoing)

    # -- flow nodes --

    def task(self, element: etree._Element, element_id: str, element_type: str) -> Task:
        incoming, outgoing = self.flow_refs(element, element_id)
        legacy_type: str | None = None
        for attribute in _LEGACY_TASK_TYPE_ATTRS:
            value = (element.get(attribute) or "").strip()
            if value:
                legacy_type = value
        task_extension: etree._Element | None = None
        for extension in self.extension_children(element, element_id):
            if extension.tag == _TASK_EXTENSION:
                if task_extension is not None:
                    self.warn(
                        "more than one <altinn:taskExtension>; the last one is used",
                        element_id,
                        _line(extension),
                    )
                task_extension = extension
            elif extension.tag == _GATEWAY_EXTENSION:
                self.warn(
                    "<altinn:gatewayExtension> on a task is ignored; Altinn reads "
                    "connectedDataTypeId only from the gateway itself",
                    element_id,
                    _line(extension),
                )
        task_type: str | None = legacy_type
        actions: tuple[TaskAction, ...] = ()
        configs: dict[str, etree._Element] = {}
        extensions: tuple[XmlNode, ...] = ()
        if task_extension is not None:
            single, _, extra = self.fields(
                task_extension,
                element_id,
                single=(
                    "taskType",
                    "actions",
                    "signatureConfig",
                    "paymentConfig",
                    "pdfConfig",
                    "eFormidlingConfig",
                    "subformPdfConfig",
                ),
            )
            extensions = extra
            if "taskType" in single:
                declared = self.text(single["taskType"], element_id)
                if declared is not None:
                    if legacy_type is not None and legacy_type != declared:
                        self.warn(
                            f"altinn:tasktype attribute '{legacy_type}' differs from "
                            f"<altinn:taskType> '{declared}'; the element wins",
                            element_id,
                            _line(element),
                        )
                    task_type = declared
            if "actions" in single:
                actions = self.actions(single["actions"], element_id)
            configs = single
        if task_type is None:
            self.warn(
                'the task has no altinn task type; Altinn answers 409 "Instance does not have '
                'current altinn task type information!" when the process reaches it',
                element_id,
                _line(element),
            )
        return Task(
            id=element_id,
            name=element.get("name"),
            task_type=task_type,
            element_type="ServiceTask" if element_type == "ServiceTask" else "Task",
            actions=actions,
            incoming=incoming,
            outgoing=outgoing,
            line=_line(element),
            signature_config=self.optional(configs, "signatureConfig", element_id, self.signature_config),
            payment_config=self.optional(configs, "paymentConfig", element_id, self.payment_config),
            pdf_config=self.optional(configs, "pdfConfig", element_id, self.pdf_config),
            eformidling_config=self.optional(
                configs, "eFormidlingConfig", element_id, self.eformidling_config
            ),
            subform_pdf_config=self.optional(
                configs, "subformPdfConfig", element_id, self.subform_pdf_config
            ),
            extensions=extensions,
        )

    def gateway(self, element: etree._Element, element_id: str) -> ExclusiveGateway:
        incoming, outgoing = self.flow_refs(element, element_id)
        connected: str | None = None
        for extension in self.extension_children(element, element_id):
            if extension.tag == _GATEWAY_EXTENSION:
                single, _, _ = self.fields(extension, element_id, single=("connectedDataTypeId",))
                if "connectedDataTypeId" in single:
                    connected = self.text(single["connectedDataTypeId"], element_id)
            elif extension.tag == _TASK_EXTENSION:
                self.warn("<altinn:taskExtension> on a gateway is ignored", element_id, _line(extension))
        default = (element.get("default") or "").strip() or None
        return ExclusiveGateway(
            id=element_id,
            name=element.get("name"),
            default_flow=default,
            connected_data_type_id=connected,
            incoming=incoming,
            outgoing=outgoing,
            line=_line(element),
        )

    def sequence_flow(self, element: etree._Element, flow_id: str) -> SequenceFlow:
        refs: list[str] = []
        for attribute in ("sourceRef", "targetRef"):
            value = (element.get(attribute) or "").strip()
            if not value:
                self.fail(f"the sequence flow has no {attribute}", element, flow_id)
            refs.append(value)
        conditions = [child for child in _children(element) if child.tag == _CONDITION]
        if len(conditions) > 1:
            self.fail(
                "the sequence flow has more than one <bpmn:conditionExpression>", conditions[1], flow_id
            )
        condition_text: str | None = None
        condition: JsonValue = None
        if conditions:
            node = conditions[0]
            if any(True for _ in _children(node)):
                self.fail(
                    "<bpmn:conditionExpression> must contain only text (a JSON expression)", node, flow_id
                )
            condition_text = _raw_text(node)
            condition = self.condition(condition_text, node, flow_id)
        return SequenceFlow(
            id=flow_id,
            name=element.get("name"),
            source=refs[0],
            target=refs[1],
            condition_text=condition_text,
            condition=condition,
            line=_line(element),
        )

    def condition(self, text: str, node: etree._Element, flow_id: str) -> JsonValue:
        if not text.strip():
            self.fail("<bpmn:conditionExpression> is empty; expected a JSON expression", node, flow_id)

        def refuse_constant(name: str) -> NoReturn:
            raise ValueError(f"{name} is not a JSON value")

        try:
            value: JsonValue = json.loads(text, parse_constant=refuse_constant)
        except json.JSONDecodeError as exc:
            start = _line(node)
            line = start + exc.lineno - 1 if start is not None else None
            raise BpmnError(
                f"<bpmn:conditionExpression> is not valid JSON: {exc.msg} "
                f"(expression line {exc.lineno}, column {exc.colno})",
                source=self.source,
                element_id=flow_id,
                line=line,
            ) from exc
        except (ValueError, RecursionError) as exc:
            self.fail(f"<bpmn:conditionExpression> is not valid JSON: {exc}", node, flow_id)
        return value

    # -- altinn extensions --

    def extension_children(self, element: etree._Element, element_id: str) -> Iterator[etree._Element]:
        """Children of the element's ``<bpmn:extensionElements>``, warning about Altinn
        extensions in the wrong namespace (which Altinn silently ignores)."""
        for container in _children(element):
            if container.tag != _EXTENSION_ELEMENTS:
                continue
            for extension in _children(container):
                namespace = etree.QName(extension).namespace
                if namespace != ALTINN_NS and _local(extension) in ("taskExtension", "gatewayExtension"):
                    self.warn(
                        f"<{_local(extension)}> in namespace {namespace} is ignored; "
                        f"Altinn extensions must be in namespace {ALTINN_NS}",
                        element_id,
                        _line(extension),
                    )
                    continue
                yield extension

    def fields(
        self,
        element: etree._Element,
        element_id: str,
        *,
        single: Sequence[str] = (),
        multi: Sequence[str] = (),
    ) -> tuple[dict[str, etree._Element], dict[str, list[etree._Element]], tuple[XmlNode, ...]]:
        """Sort an Altinn config element's children into single-valued settings (the last one
        wins), repeatable settings, and children kept as :class:`XmlNode`."""
        ones: dict[str, etree._Element] = {}
        many: dict[str, list[etree._Element]] = {}
        extra: list[XmlNode] = []
        for child in _children(element):
            local = _local(child)
            if etree.QName(child).namespace == ALTINN_NS and local in single:
                if local in ones:
                    self.warn(
                        f"<altinn:{local}> appears more than once in <{_display(element)}>; "
                        "the last one is used",
                        element_id,
                        _line(child),
                    )
                ones[local] = child
            elif etree.QName(child).namespace == ALTINN_NS and local in multi:
                many.setdefault(local, []).append(child)
            else:
                extra.append(self.node(child))
        return ones, many, tuple(extra)

    def node(self, element: etree._Element) -> XmlNode:
        text = _raw_text(element).strip()
        return XmlNode(
            namespace=etree.QName(element).namespace,
            name=_local(element),
            attributes=tuple((str(k), str(v)) for k, v in element.attrib.items()),
            text=text or None,
            children=tuple(self.node(child) for child in _children(element)),
            line=_line(element),
        )

    def text(self, element: etree._Element | None, element_id: str) -> str | None:
        """A setting's text value, stripped; None when absent or empty."""
        if element is None:
            return None
        if any(True for _ in _children(element)):
            self.fail(f"<{_display(element)}> must contain only text", element, element_id)
        return _raw_text(element).strip() or None

    def boolean(self, element: etree._Element | None, element_id: str) -> bool:
        if element is None:
            return False
        value = self.text(element, element_id)
        if value is None:
            return False
        if value not in _BOOLEANS:
            self.fail(f"<{_display(element)}> must be true or false, not '{value}'", element, element_id)
        return _BOOLEANS[value]

    def items(self, element: etree._Element | None, item: str, element_id: str) -> tuple[str, ...]:
        """The values of a list setting such as ``<altinn:dataTypesToSign><altinn:dataType>``."""
        if element is None:
            return ()
        values: list[str] = []
        for child in _children(element):
            if child.tag != _q(ALTINN_NS, item):
                self.warn(
                    f"<{_display(child)}> in <{_display(element)}> is ignored; expected <altinn:{item}>",
                    element_id,
                    _line(child),
                )
                continue
            value = self.text(child, element_id)
            if value is not None:
                values.append(value)
        return tuple(values)

    def environment_values(
        self, elements: Sequence[etree._Element], element_id: str
    ) -> tuple[EnvironmentValue, ...]:
        values: list[EnvironmentValue] = []
        for element in elements:
            value = self.text(element, element_id)
            if value is not None:
                env = (element.get("env") or "").strip() or None
                values.append(EnvironmentValue(value, env))
        return tuple(values)

    def actions(self, element: etree._Element, element_id: str) -> tuple[TaskAction, ...]:
        actions: list[TaskAction] = []
        seen: set[str] = set()
        for child in _children(element):
            if child.tag != _q(ALTINN_NS, "action"):
                self.warn(
                    f"<{_display(child)}> in <altinn:actions> is ignored; expected <altinn:action>",
                    element_id,
                    _line(child),
                )
                continue
            action_id = self.text(child, element_id)
            if action_id is None:
                self.warn(
                    "an <altinn:action> without text is ignored (the action name is the element's text)",
                    element_id,
                    _line(child),
                )
                continue
            raw_type = child.get("type") or child.get(_q(ALTINN_NS, "type"))
            action_type: ActionType = "ProcessAction"
            if raw_type is not None:
                if raw_type not in _ACTION_TYPES:
                    self.fail(
                        f"action '{action_id}' has type '{raw_type}'; expected processAction or serverAction",
                        child,
                        element_id,
                    )
                action_type = _ACTION_TYPES[raw_type]
            if action_id in seen:
                self.warn(f"action '{action_id}' is declared more than once", element_id, _line(child))
                continue
            if action_id in ("read", "write"):
                self.warn(
                    f"action '{action_id}' need not be declared; every task has read and write",
                    element_id,
                    _line(child),
                )
            seen.add(action_id)
            actions.append(TaskAction(action_id, action_type))
        return tuple(actions)

    def optional(
        self,
        configs: Mapping[str, etree._Element],
        key: str,
        element_id: str,
        build: Callable[[etree._Element, str], _C],
    ) -> _C | None:
        element = configs.get(key)
        return None if element is None else build(element, element_id)

    def signature_config(self, element: etree._Element, element_id: str) -> SignatureConfig:
        one, many, extra = self.fields(
            element,
            element_id,
            single=(
                "dataTypesToSign",
                "signatureDataType",
                "uniqueFromSignaturesInDataTypes",
                "signeeProviderId",
                "signeeStatesDataTypeId",
                "signingPdfDataType",
                "runDefaultValidator",
            ),
            multi=("correspondenceResource",),
        )
        return SignatureConfig(
            data_types_to_sign=self.items(one.get("dataTypesToSign"), "dataType", element_id),
            signature_data_type=self.text(one.get("signatureDataType"), element_id),
            unique_from_signatures_in_data_types=self.items(
                one.get("uniqueFromSignaturesInDataTypes"), "dataType", element_id
            ),
            signee_provider_id=self.text(one.get("signeeProviderId"), element_id),
            signee_states_data_type_id=self.text(one.get("signeeStatesDataTypeId"), element_id),
            signing_pdf_data_type=self.text(one.get("signingPdfDataType"), element_id),
            correspondence_resources=self.environment_values(
                many.get("correspondenceResource", []), element_id
            ),
            run_default_validator=self.boolean(one.get("runDefaultValidator"), element_id),
            extra=extra,
        )

    def payment_config(self, element: etree._Element, element_id: str) -> PaymentConfig:
        one, _, extra = self.fields(
            element,
            element_id,
            single=("paymentDataType", "paymentReceiptPdfDataType", "paymentProcessorId"),
        )
        return PaymentConfig(
            payment_data_type=self.text(one.get("paymentDataType"), element_id),
            payment_receipt_pdf_data_type=self.text(one.get("paymentReceiptPdfDataType"), element_id),
            payment_processor_id=self.text(one.get("paymentProcessorId"), element_id),
            extra=extra,
        )

    def pdf_config(self, element: etree._Element, element_id: str) -> PdfConfig:
        one, _, extra = self.fields(
            element,
            element_id,
            single=(
                "filenameTextResourceKey",
                "filename",
                "dataTypeId",
                "autoPdfTaskIds",
                "tasksToIncludeInPdf",
            ),
        )
        filename = self.text(one.get("filenameTextResourceKey"), element_id) or self.text(
            one.get("filename"), element_id
        )
        task_ids = self.items(one.get("autoPdfTaskIds"), "taskId", element_id)
        task_ids += self.items(one.get("tasksToIncludeInPdf"), "task", element_id)
        return PdfConfig(
            filename_text_resource_key=filename,
            data_type_id=self.text(one.get("dataTypeId"), element_id),
            auto_pdf_task_ids=task_ids,
            extra=extra,
        )

    def subform_pdf_config(self, element: etree._Element, element_id: str) -> SubformPdfConfig:
        one, _, extra = self.fields(
            element,
            element_id,
            single=(
                "filenameTextResourceKey",
                "filename",
                "subformComponentId",
                "subformDataTypeId",
                "subformDatatTypeId",
                "parallelExecution",
            ),
        )
        filename = self.text(one.get("filenameTextResourceKey"), element_id) or self.text(
            one.get("filename"), element_id
        )
        # Altinn has shipped the element name misspelt as subformDatatTypeId; accept both.
        data_type = self.text(one.get("subformDataTypeId"), element_id) or self.text(
            one.get("subformDatatTypeId"), element_id
        )
        return SubformPdfConfig(
            filename_text_resource_key=filename,
            subform_component_id=self.text(one.get("subformComponentId"), element_id),
            subform_data_type_id=data_type,
            parallel_execution=self.boolean(one.get("parallelExecution"), element_id),
            extra=extra,
        )

    def eformidling_config(self, element: etree._Element, element_id: str) -> EFormidlingConfig:
        _, many, extra = self.fields(
            element,
            element_id,
            multi=(
                "enabled",
                "receiver",
                "process",
                "standard",
                "typeVersion",
                "type",
                "securityLevel",
                "dpfShipmentType",
                "dataTypes",
            ),
        )

        def values(local: str) -> tuple[EnvironmentValue, ...]:
            return self.environment_values(many.get(local, []), element_id)

        data_types = tuple(
            EnvironmentDataTypes(
                self.items(entry, "dataType", element_id), (entry.get("env") or "").strip() or None
            )
            for entry in many.get("dataTypes", [])
        )
        enabled = values("enabled")
        for item in enabled:
            if item.value not in _BOOLEANS:
                self.fail(f"<altinn:enabled> must be true or false, not '{item.value}'", element, element_id)
        return EFormidlingConfig(
            enabled=enabled,
            receiver=values("receiver"),
            process=values("process"),
            standard=values("standard"),
            type_version=values("typeVersion"),
            type=values("type"),
            security_level=values("securityLevel"),
            dpf_shipment_type=values("dpfShipmentType"),
            data_types=data_types,
            extra=extra,
        )

    # -- graph checks --

    def check_flow_ends(
        self,
        flows: Mapping[str, SequenceFlow],
        elements: Mapping[str, ProcessElement],
        unsupported: Mapping[str, etree._Element],
    ) -> None:
        for flow in flows.values():
            for attribute, ref in (("sourceRef", flow.source), ("targetRef", flow.target)):
                if ref in elements:
                    continue
                if ref in unsupported:
                    reason = (
                        f"names <{_display(unsupported[ref])}> '{ref}', which Altinn's process engine "
                        "does not support (supported: startEvent, task, serviceTask, exclusiveGateway, "
                        "endEvent)"
                    )
                elif ref in flows:
                    reason = f"names '{ref}', which is a sequence flow, not a process element"
                else:
                    reason = f"names '{ref}', which is not an element of this process"
                raise BpmnError(
                    f"{attribute} {reason}", source=self.source, element_id=flow.id, line=flow.line
                )

    def navigation(
        self, elements: Mapping[str, ProcessElement], flows: Mapping[str, SequenceFlow]
    ) -> dict[str, tuple[str, ...]]:
        """Flow ids followed from each element, validating gateways on the way."""
        by_source: dict[str, list[str]] = {element_id: [] for element_id in elements}
        for flow in flows.values():
            by_source[flow.source].append(flow.id)
        gateway_flows: set[str] = set()
        outgoing: dict[str, tuple[str, ...]] = {}
        for element in elements.values():
            if not isinstance(element, ExclusiveGateway):
                outgoing[element.id] = tuple(by_source[element.id])
                continue
            declared = set(element.outgoing)
            for flow_id in element.outgoing:
                if flow_id not in flows:
                    self.warn(
                        f"<bpmn:outgoing> names '{flow_id}', which is not a sequence flow of this process",
                        element.id,
                        element.line,
                    )
                elif flows[flow_id].source != element.id:
                    self.warn(
                        f"<bpmn:outgoing> names '{flow_id}', whose sourceRef is "
                        f"'{flows[flow_id].source}'; Altinn follows it from this gateway anyway",
                        element.id,
                        element.line,
                    )
            for flow_id in by_source[element.id]:
                if flow_id not in declared:
                    self.warn(
                        f"sequence flow '{flow_id}' leaves the gateway but is not listed in its "
                        "<bpmn:outgoing>; Altinn never follows it",
                        element.id,
                        element.line,
                    )
            followed = tuple(flow_id for flow_id in flows if flow_id in declared)
            gateway_flows.update(followed)
            outgoing[element.id] = followed
            if element.default_flow is not None and element.default_flow not in followed:
                what = (
                    "is not one of its outgoing flows"
                    if element.default_flow in flows
                    else "is not a sequence flow of this process"
                )
                listed = ", ".join(followed) or "none"
                raise BpmnError(
                    f"default flow '{element.default_flow}' {what} (outgoing: {listed})",
                    source=self.source,
                    element_id=element.id,
                    line=element.line,
                )
        for flow in flows.values():
            if flow.has_condition and flow.id not in gateway_flows:
                self.warn(
                    "the condition is ignored: Altinn evaluates conditions only on flows leaving a gateway",
                    flow.id,
                    flow.line,
                )
        return outgoing

    def check_references(
        self, elements: Mapping[str, ProcessElement], flows: Mapping[str, SequenceFlow]
    ) -> None:
        for element in elements.values():
            if isinstance(element, ExclusiveGateway):
                refs = element.incoming  # outgoing was checked with the gateway's navigation
            else:
                refs = element.incoming + element.outgoing
            for flow_id in refs:
                if flow_id not in flows:
                    self.warn(
                        f"<bpmn:incoming>/<bpmn:outgoing> names '{flow_id}', which is not a sequence "
                        "flow of this process (navigation does not use it)",
                        element.id,
                        element.line,
                    )

    def check_reachability(
        self,
        start_events: Sequence[StartEvent],
        elements: Mapping[str, ProcessElement],
        flows: Mapping[str, SequenceFlow],
        outgoing: Mapping[str, tuple[str, ...]],
    ) -> None:
        reached = {event.id for event in start_events}
        queue = deque(reached)
        while queue:
            for flow_id in outgoing[queue.popleft()]:
                target = flows[flow_id].target
                if target not in reached:
                    reached.add(target)
                    queue.append(target)
        for element in elements.values():
            if element.id not in reached:
                self.warn("unreachable from every start event", element.id, element.line)
            if isinstance(element, EndEvent):
                if outgoing[element.id]:
                    self.warn("flows leaving an end event are never followed", element.id, element.line)
            elif not outgoing[element.id]:
                self.warn(
                    "no outgoing sequence flow: the process cannot move on from here",
                    element.id,
                    element.line,
                )
