"""Layouts evaluated on the server: which components are hidden and which are required.

This is what Altinn's ``LayoutEvaluator`` does for the ``Required`` and ``Expression``
validators. A layout set is compiled once per app into component specs (children claimed the
way Altinn claims them, expressions compiled); each validation run turns the specs into a tree of
contexts over the instance's form data: one per component, one per repeating-group row (with the
row indexes its children's bindings and expressions use), the pages of a subform once per subform
element.

* A component is hidden when its page, a parent or itself is hidden (``hidden`` / ``hiddenRow``
  literal or expression); hidden components are never required.
* ``["component", id]`` finds the closest context with that id (same row first) and reads its
  ``simpleBinding``; a hidden component reads as null.
* An expression that fails at run time (a value of the wrong type in the form data) is logged and
  counts as not hidden / not required rather than failing the whole validation.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

import structlog

from tinn.appdef.definition import AppDefinition, LayoutSet
from tinn.appdef.models import TextResourceVariable
from tinn.data.formdata import FormModel, FormType
from tinn.process.expressions import (
    CompiledExpression,
    ComponentTree,
    ExpressionError,
    compile_expression,
    instance_context_value,
    resolve_data_model_path,
)
from tinn.validation.models import Severity, ValidationIssue
from tinn.validation.texts import translate

if TYPE_CHECKING:
    from tinn.validation.context import RunState

log = structlog.get_logger("tinn.validation")

REQUIRED_TEXT_KEY = "backend.validation_errors.required"

_MULTIPAGE_CHILD = re.compile(r"^[0-9]+:(.+)$")
_INDEXED_PART = re.compile(r"^([^\s\[\].]+)\[([0-9]+)\]$")
_TEXT_PATH_INDEX = re.compile(r"\[\{[0-9]+\}\]")
_ROW_INDEX = re.compile(r"\[([0-9]+)\]")


# --- specs: compiled once per app -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Binding:
    """A data model binding: a dot path, in the layout set's data type unless ``data_type`` says."""

    field: str
    data_type: str | None = None


class Condition:
    """A ``hidden``/``required``/``hiddenRow`` value: a constant or an expression, compiled."""

    __slots__ = ("compiled", "source")

    def __init__(self, source: Any, where: str) -> None:
        self.source = source
        self.compiled: CompiledExpression | None
        try:
            self.compiled = compile_expression(source)
        except ExpressionError as exc:
            self.compiled = None
            log.warning("layout_expression_invalid", where=where, error=str(exc))


class Kind(enum.Enum):
    LEAF = "leaf"
    CONTAINER = "container"  # children shown once (Group, Grid, Tabs, Cards, Accordion, ...)
    REPEATING = "repeating"  # children repeated per row of the group binding
    LIKERT = "likert"  # one question row per item of the questions binding
    SUBFORM = "subform"  # the pages of another layout set, once per data element of its type


@dataclass(eq=False)
class ComponentSpec:
    id: str
    type: str
    page_id: str
    layout_set_id: str
    kind: Kind
    hidden: Condition | None
    required: Condition | None
    bindings: dict[str, Binding]
    title: str | None
    child_refs: list[str] = field(default_factory=list)
    fixed_refs: list[str] = field(default_factory=list)
    children: list[ComponentSpec] = field(default_factory=list)
    fixed_children: list[ComponentSpec] = field(default_factory=list)
    group: Binding | None = None
    hidden_row: Condition | None = None
    answer: tuple[str, Binding] | None = None
    row_filter: tuple[int, int] | None = None
    subform_set: str | None = None


@dataclass(eq=False)
class PageSpec:
    id: str
    layout_set_id: str
    hidden: Condition | None
    components: list[ComponentSpec]


@dataclass(eq=False)
class LayoutSpec:
    id: str
    data_type: str | None
    pages: list[PageSpec]
    data_types: frozenset[str]  # data types named by bindings and dataModel expressions
    subform_sets: frozenset[str]


def _condition(raw: Mapping[str, Any], key: str, where: str) -> Condition | None:
    if key not in raw:
        return None
    return Condition(raw[key], f"{where}.{key}")


def _bindings(raw: Any, where: str) -> dict[str, Binding]:
    if not isinstance(raw, dict):
        return {}
    bindings: dict[str, Binding] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            bindings[name] = Binding(value)
        elif isinstance(value, dict) and isinstance(value.get("field"), str):
            data_type = value.get("dataType")
            bindings[name] = Binding(value["field"], data_type if isinstance(data_type, str) else None)
        else:
            log.warning("layout_binding_invalid", where=where, binding=name)
    return bindings


def _clean_child(ref: Any) -> str | None:
    if not isinstance(ref, str):
        return None
    match = _MULTIPAGE_CHILD.match(ref)
    return match[1] if match else ref


def _id_list(raw: Any) -> list[str]:
    return [child for child in (_clean_child(ref) for ref in raw) if child] if isinstance(raw, list) else []


def _grid_refs(rows: Any) -> list[str]:
    refs: list[str] = []
    for row in rows if isinstance(rows, list) else ():
        cells = row.get("cells") if isinstance(row, dict) else None
        refs.extend(
            cell["component"]
            for cell in (cells if isinstance(cells, list) else ())
            if isinstance(cell, dict) and isinstance(cell.get("component"), str)
        )
    return refs


def _likert_filter(raw: Any) -> tuple[int, int] | None:
    start = stop = None
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, dict):
            continue
        value = item.get("value")
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value)
        if item.get("key") == "start":
            start = number
        elif item.get("key") == "stop":
            stop = number
    if start is not None and stop is not None and start <= stop:
        return start, stop
    return None


def _component(raw: Mapping[str, Any], page_id: str, set_id: str) -> ComponentSpec:
    component_id, component_type = raw["id"], raw["type"]
    where = f"{set_id}/{page_id}/{component_id}"
    bindings = _bindings(raw.get("dataModelBindings"), where)
    titles = raw.get("textResourceBindings")
    title = titles.get("title") if isinstance(titles, dict) else None
    spec = ComponentSpec(
        id=component_id,
        type=component_type,
        page_id=page_id,
        layout_set_id=set_id,
        kind=Kind.LEAF,
        hidden=_condition(raw, "hidden", where),
        required=_condition(raw, "required", where),
        bindings=bindings,
        title=title if isinstance(title, str) else None,
    )
    lowered = component_type.lower()
    max_count = raw.get("maxCount")
    repeating = lowered == "repeatinggroup" or (
        lowered == "group"
        and isinstance(max_count, int)
        and not isinstance(max_count, bool)
        and max_count > 1
    )
    if repeating and "group" in bindings:
        spec.kind = Kind.REPEATING
        spec.group = bindings["group"]
        spec.hidden_row = _condition(raw, "hiddenRow", where)
        spec.child_refs = _id_list(raw.get("children"))
        spec.fixed_refs = _grid_refs(raw.get("rowsBefore")) + _grid_refs(raw.get("rowsAfter"))
    elif lowered == "likert" and "questions" in bindings:
        spec.kind = Kind.LIKERT
        spec.group = bindings["questions"]
        answer = next((name for name in ("simpleBinding", "answer") if name in bindings), None)
        spec.answer = (answer, bindings[answer]) if answer else None
        spec.row_filter = _likert_filter(raw.get("filter"))
        spec.bindings = {}  # checked per question row
    elif lowered == "subform" and isinstance(raw.get("layoutSet"), str):
        spec.kind = Kind.SUBFORM
        spec.subform_set = raw["layoutSet"]
    elif lowered == "grid":
        spec.kind = Kind.CONTAINER
        spec.child_refs = _grid_refs(raw.get("rows"))
    elif lowered in ("tabs", "cards"):
        spec.kind = Kind.CONTAINER
        entries = raw.get(lowered)
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict):
                spec.child_refs.extend(_id_list(entry.get("children")))
                media = _clean_child(entry.get("media"))
                if media:
                    spec.child_refs.append(media)
    elif isinstance(raw.get("children"), list):
        spec.kind = Kind.CONTAINER
        spec.child_refs = _id_list(raw.get("children"))
    return spec


def _page(page_id: str, document: Any, set_id: str) -> PageSpec | None:
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        log.warning("layout_page_invalid", layout_set=set_id, page=page_id)
        return None
    specs: dict[str, ComponentSpec] = {}
    order: list[ComponentSpec] = []
    components = data.get("layout")
    for raw in components if isinstance(components, list) else ():
        if not (
            isinstance(raw, dict) and isinstance(raw.get("id"), str) and isinstance(raw.get("type"), str)
        ):
            log.warning("layout_component_invalid", layout_set=set_id, page=page_id)
            continue
        if raw["id"] in specs:
            log.warning("layout_component_duplicate", layout_set=set_id, page=page_id, component=raw["id"])
            continue
        spec = _component(raw, page_id, set_id)
        specs[spec.id] = spec
        order.append(spec)
    # Every component claims its children from the components of its page, in page order; what
    # nobody claimed is the top level.
    unclaimed = dict(specs)
    claimed: set[str] = set()
    for spec in order:
        for refs, target in ((spec.child_refs, spec.children), (spec.fixed_refs, spec.fixed_children)):
            for ref in refs:
                child = unclaimed.pop(ref, None)
                if child is None:
                    log.warning(
                        "layout_child_unavailable",
                        layout_set=set_id,
                        page=page_id,
                        component=spec.id,
                        child=ref,
                    )
                    continue
                claimed.add(ref)
                target.append(child)
    hidden = Condition(data["hidden"], f"{set_id}/{page_id}.hidden") if "hidden" in data else None
    return PageSpec(page_id, set_id, hidden, [spec for spec in order if spec.id not in claimed])


def _data_model_types(expression: Any, found: set[str]) -> None:
    if isinstance(expression, list):
        if len(expression) == 3 and expression[0] == "dataModel" and isinstance(expression[2], str):
            found.add(expression[2])
        for item in expression:
            _data_model_types(item, found)


def _walk_specs(specs: Sequence[ComponentSpec]) -> Iterator[ComponentSpec]:
    for spec in specs:
        yield spec
        yield from _walk_specs(spec.children)
        yield from _walk_specs(spec.fixed_children)


def compile_layout_set(definition: AppDefinition, layout_set: LayoutSet) -> LayoutSpec:
    """The pages of a layout set (``pages.order``) as component specs; problems are logged."""
    pages = []
    with structlog.contextvars.bound_contextvars(app=definition.id):
        for page_id in layout_set.page_order:
            page = _page(page_id, layout_set.layouts.get(page_id), layout_set.id)
            if page is not None:
                pages.append(page)
    data_types: set[str] = set()
    subform_sets: set[str] = set()
    for page in pages:
        if page.hidden is not None:
            _data_model_types(page.hidden.source, data_types)
        for spec in _walk_specs(page.components):
            for binding in (*spec.bindings.values(), spec.group, spec.answer[1] if spec.answer else None):
                if binding is not None and binding.data_type is not None:
                    data_types.add(binding.data_type)
            for condition in (spec.hidden, spec.required, spec.hidden_row):
                if condition is not None:
                    _data_model_types(condition.source, data_types)
            if spec.subform_set is not None:
                subform_sets.add(spec.subform_set)
    return LayoutSpec(
        layout_set.id, layout_set.data_type, pages, frozenset(data_types), frozenset(subform_sets)
    )


# --- run time: contexts over the instance's data ---------------------------------------------

_EVALUATING = object()  # marks a hidden state being computed (a cycle reads as not hidden)


class Node:
    """One component context (or a page, or a repeating-group row) in one run."""

    __slots__ = (
        "_hidden",
        "bindings",
        "children",
        "component",
        "element_id",
        "hidden",
        "id",
        "layout_set_id",
        "page_id",
        "parent",
        "required",
        "rows",
        "title",
        "type",
    )

    def __init__(
        self,
        *,
        id: str,
        type: str,
        page_id: str,
        layout_set_id: str,
        element_id: str,
        rows: tuple[int, ...] | None,
        parent: Node | None,
        hidden: Condition | None = None,
        required: Condition | None = None,
        bindings: Mapping[str, Binding] | None = None,
        title: str | None = None,
        component: ComponentSpec | None = None,
    ) -> None:
        self.id = id
        self.type = type
        self.page_id = page_id
        self.layout_set_id = layout_set_id
        self.element_id = element_id
        self.rows = rows
        self.parent = parent
        self.hidden = hidden
        self.required = required
        self.bindings: Mapping[str, Binding] = bindings or {}
        self.title = title
        self.component = component  # the spec, for real components (not pages or rows)
        self.children: list[Node] = []
        self._hidden: object = None


def _row_match(search: tuple[int, ...] | None, target: tuple[int, ...] | None) -> bool:
    if target is None:
        return True
    if search is None or len(search) < len(target):
        return False
    return search[: len(target)] == target


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    return isinstance(value, list) and not value


def add_row_indices(model: FormModel | None, path: str, rows: Sequence[int] | None) -> str:
    """``a.b.c`` in rows ``[1, 2]`` -> ``a[1].b[2].c``, where ``a`` and ``b`` are lists in the model."""
    if not rows or model is None:
        return path
    remaining = list(rows)
    ftype: FormType | None = model.root
    parts: list[str] = []
    for part in path.split("."):
        match = _INDEXED_PART.match(part)
        name, index = (match[1], int(match[2])) if match else (part, None)
        prop = ftype.by_name.get(name) if ftype is not None else None
        if prop is None:
            return path  # not in the model: leave the path as written
        current = index if index is not None else (remaining[0] if remaining else None)
        if prop.is_list and current is not None:
            parts.append(f"{name}[{current}]")
            if remaining:
                remaining.pop(0)
        else:
            parts.append(part)
        ftype = prop.type
    return ".".join(parts)


def row_indices_of(path: str) -> tuple[int, ...] | None:
    """The row indexes written in a resolved path (``a[1].b[0].c`` -> ``(1, 0)``)."""
    found = tuple(int(index) for index in _ROW_INDEX.findall(path))
    return found or None


class LayoutState:
    """The component contexts of the current task's layout set for one run, with memoised
    ``hidden`` results."""

    def __init__(self, run: RunState, spec: LayoutSpec, default_element_id: str) -> None:
        self.run = run
        self.spec = spec
        self.default_element_id = default_element_id
        self.index: dict[str, list[Node]] = {}
        self._subforms: list[str] = [spec.id]  # layout sets being built (a set inside itself is skipped)
        self.pages: list[Node] = [self._page(page, default_element_id, None) for page in spec.pages]
        self._hidden_fields: set[tuple[str, str]] | None = None

    # building

    def _page(self, page: PageSpec, element_id: str, parent: Node | None) -> Node:
        node = Node(
            id=page.id,
            type="page",
            page_id=page.id,
            layout_set_id=page.layout_set_id,
            element_id=element_id,
            rows=None,
            parent=parent,
            hidden=page.hidden,
        )
        node.children = [self._component(spec, None, element_id, node) for spec in page.components]
        return node

    def _component(
        self, spec: ComponentSpec, rows: tuple[int, ...] | None, element_id: str, parent: Node
    ) -> Node:
        node = Node(
            id=spec.id,
            type=spec.type,
            page_id=spec.page_id,
            layout_set_id=spec.layout_set_id,
            element_id=element_id,
            rows=rows,
            parent=parent,
            hidden=spec.hidden,
            required=spec.required,
            bindings=spec.bindings,
            title=spec.title,
            component=spec,
        )
        self.index.setdefault(spec.id, []).append(node)
        if spec.kind is Kind.CONTAINER:
            node.children = [self._component(child, rows, element_id, node) for child in spec.children]
        elif spec.kind is Kind.REPEATING and spec.group is not None:
            node.children = [
                self._row(spec, node, rows, index, spec.hidden_row, None, spec.bindings, spec.children)
                for index in reversed(range(self._row_count(spec.group, node)))
            ]
            node.children.extend(
                self._component(child, rows, element_id, node) for child in spec.fixed_children
            )
        elif spec.kind is Kind.LIKERT and spec.group is not None:
            count = self._row_count(spec.group, node)
            start, stop = spec.row_filter or (0, count)
            answer = {spec.answer[0]: spec.answer[1]} if spec.answer else {}
            node.children = [
                self._row(spec, node, rows, index, None, spec.required, answer, ())
                for index in reversed(range(max(start, 0), min(stop, count)))
            ]
        elif spec.kind is Kind.SUBFORM and spec.subform_set is not None:
            sub = self.run.app.layout(spec.subform_set)
            if sub is not None and sub.data_type is not None and sub.id not in self._subforms:
                self._subforms.append(sub.id)
                for element in self.run.elements_of_type(sub.data_type):
                    if self.run.loaded(element.id):
                        node.children.extend(self._page(page, element.id, node) for page in sub.pages)
                self._subforms.pop()
        return node

    def _row(
        self,
        spec: ComponentSpec,
        parent: Node,
        rows: tuple[int, ...] | None,
        index: int,
        hidden: Condition | None,
        required: Condition | None,
        bindings: Mapping[str, Binding],
        children: Sequence[ComponentSpec],
    ) -> Node:
        row_rows = (*(rows or ()), index)
        row = Node(
            id=spec.id,
            type=f"{spec.type}Row",
            page_id=spec.page_id,
            layout_set_id=spec.layout_set_id,
            element_id=parent.element_id,
            rows=row_rows,
            parent=parent,
            hidden=hidden,
            required=required,
            bindings=bindings,
            title=spec.title,
        )
        row.children = [self._component(child, row_rows, parent.element_id, row) for child in children]
        return row

    def _row_count(self, binding: Binding, node: Node) -> int:
        rows = self.read(binding, node)
        return len(rows) if isinstance(rows, list) else 0

    # reading

    def element_for(self, binding: Binding, node: Node) -> str | None:
        """The data element a binding reads in a context."""
        return self.element_for_type(binding.data_type, node.element_id)

    def element_for_type(self, data_type: str | None, default_element_id: str) -> str | None:
        default = self.run.element(default_element_id)
        if data_type is None or (default is not None and default.data_type == data_type):
            return default_element_id
        element = self.run.first_form_element(data_type)
        return element.id if element is not None else None

    def read(self, binding: Binding, node: Node) -> Any:
        element_id = self.element_for(binding, node)
        if element_id is None:
            return None
        return resolve_data_model_path(self.run.expression_data(element_id), binding.field, node.rows)

    def indexed_field(self, binding: Binding, node: Node, element_id: str) -> str:
        element = self.run.element(element_id)
        model = self.run.model(element.data_type) if element is not None else None
        return add_row_indices(model, binding.field, node.rows)

    # evaluating

    def context(self, node: Node | None, element_id: str, rows: tuple[int, ...] | None) -> EvalContext:
        return EvalContext(self, node, element_id, rows)

    def condition(self, condition: Condition | None, node: Node, *, default: bool, what: str) -> bool:
        if condition is None or condition.compiled is None:
            return default
        try:
            result = condition.compiled.evaluate(self.context(node, node.element_id, node.rows))
        except ExpressionError as exc:
            self._failed(node, what, str(exc))
            return default
        if result is None:
            return default
        if isinstance(result, bool):
            return result
        self._failed(node, what, f"expected a boolean, got {result!r}")
        return default

    def _failed(self, node: Node, what: str, error: str) -> None:
        log.warning(
            "layout_expression_failed",
            app=self.run.definition.id,
            layout_set=node.layout_set_id,
            page=node.page_id,
            component=node.id,
            rows=list(node.rows or ()),
            property=what,
            error=error,
        )

    def is_hidden(self, node: Node) -> bool:
        if node.parent is not None and self.is_hidden(node.parent):
            return True
        state = node._hidden
        if state is _EVALUATING:
            return False  # hidden depends on itself: treat as visible
        if state is None:
            node._hidden = _EVALUATING
            node._hidden = self.condition(node.hidden, node, default=False, what="hidden")
        return node._hidden is True

    def is_required(self, node: Node) -> bool:
        return self.condition(node.required, node, default=False, what="required")

    def find(self, component_id: str, current: Node) -> Node | None:
        """The context ``["component", id]`` refers to from ``current`` (Altinn's lookup rules)."""
        candidates = [
            node for node in self.index.get(component_id, ()) if _row_match(current.rows, node.rows)
        ]
        if len(candidates) > 1:
            same_page = [node for node in candidates if node.page_id == current.page_id]
            if len(same_page) != 1:
                raise ExpressionError(f"Multiple contexts found for component {component_id}")
            return same_page[0]
        return candidates[0] if candidates else None

    def walk(self) -> Iterator[Node]:
        stack = list(reversed(self.pages))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def hidden_fields(self) -> set[tuple[str, str]]:
        """``(element id, field)`` of the bindings of hidden components that no visible component
        also binds (what Altinn would remove as hidden data)."""
        if self._hidden_fields is None:
            hidden: set[tuple[str, str]] = set()
            visible: set[tuple[str, str]] = set()
            for node in self.walk():
                is_hidden = self.is_hidden(node)
                for binding in node.bindings.values():
                    element_id = self.element_for(binding, node)
                    if element_id is None:
                        continue
                    reference = (element_id, self.indexed_field(binding, node, element_id))
                    (hidden if is_hidden else visible).add(reference)
            self._hidden_fields = hidden - visible
        return self._hidden_fields

    def translate(self, key: str, node: Node) -> str:
        """A text key as the layout shows it (variables read in the node's context), or the key."""
        context = self.context(node, node.element_id, node.rows)
        return (
            translate(self.run.definition, key, self.run.language, read_variable=context.text_variable) or key
        )


class _Components:
    """``ComponentTree`` for evaluations in one component context."""

    def __init__(self, state: LayoutState, node: Node) -> None:
        self._state = state
        self._node = node

    def component_value(self, component_id: str) -> Any:
        target = self._state.find(component_id, self._node)
        if target is None:
            return None
        spec = target.component
        if spec is not None and spec.kind is not Kind.LEAF:
            raise ExpressionError("Component lookup for components in groups not implemented")
        binding = target.bindings.get("simpleBinding")
        if binding is None:
            raise ExpressionError("component lookup requires the target component to have a simpleBinding")
        if self._state.is_hidden(target):
            return None
        value = self._state.read(binding, self._node)
        return None if isinstance(value, dict | list) else value

    def display_value(self, component_id: str) -> str | None:
        raise ExpressionError('The "displayValue" function is not available in server-side validation')

    def component_location(self, component_id: str) -> tuple[str, str]:
        target = self._state.find(component_id, self._node)
        if target is None:
            raise ExpressionError(f"Unable to find component with identifier {component_id}")
        suffix = "".join(f"-{index}" for index in target.rows or ())
        return target.page_id, f"{target.id}{suffix}"


class EvalContext:
    """The ``ExpressionContext`` of one evaluation: a component context (or just a data element
    and row indexes, for expression validation) in this run."""

    def __init__(
        self,
        state: LayoutState | None,
        node: Node | None,
        element_id: str,
        rows: tuple[int, ...] | None,
        *,
        run: RunState | None = None,
    ) -> None:
        self._state = state
        self._run: RunState = run if run is not None else _run_of(state)
        self._element_id = element_id
        self.row_indices: Sequence[int] | None = rows
        self.language: str | None = self._run.language
        self.timezone: tzinfo | None = None
        self.gateway_action: str | None = None
        self.task_id: str | None = self._run.task_id
        self.value_arguments: Mapping[str, Any] | None = None
        self.components: ComponentTree | None = (
            _Components(state, node) if state is not None and node is not None else None
        )

    def _element_for_type(self, data_type: str | None) -> str | None:
        if self._state is not None:
            return self._state.element_for_type(data_type, self._element_id)
        default = self._run.element(self._element_id)
        if data_type is None or (default is not None and default.data_type == data_type):
            return self._element_id
        element = self._run.first_form_element(data_type)
        return element.id if element is not None else None

    def data_model(self, data_type: str | None) -> Any:
        element_id = self._element_for_type(data_type)
        if element_id is None or not self._run.loaded(element_id):
            raise ExpressionError(f"Data model with type {data_type} not found")
        return self._run.expression_data(element_id)

    def count_data_elements(self, data_type: str) -> int:
        return self._run.count_elements(data_type)

    def instance_context(self, key: str) -> str | None:
        return instance_context_value(self._run.instance_wire, key)

    def frontend_setting(self, key: str) -> Any:
        return self._run.definition.settings.front_end_settings.get(key)

    def text_resource(self, key: str) -> Mapping[str, Any] | None:
        texts: Mapping[str, Mapping[str, Any]] = self._run.app.texts(self._run.text_language)
        return texts.get(key)

    def auth_context(self, action: str) -> bool:
        return False  # validation runs without the caller's permissions

    def options(self, options_id: str) -> Sequence[Mapping[str, Any]] | None:
        options = self._run.definition.options.get(options_id)
        if options is None:
            return None
        return [{"value": option.value, "label": option.label} for option in options.options]

    def text_variable(self, variable: TextResourceVariable) -> str | None:
        """The value of a ``dataModel.*``/``instanceContext``/``applicationSettings`` text variable."""
        source, key = variable.data_source or "", variable.key or ""
        if source.startswith("dataModel."):
            data_type = source.removeprefix("dataModel.")
            try:
                data = self.data_model(None if data_type == "default" else data_type)
                value = resolve_data_model_path(data, _TEXT_PATH_INDEX.sub("", key), self.row_indices)
            except ExpressionError:
                return None
            return None if value is None else _text_of(value)
        if source == "instanceContext":
            try:
                return self.instance_context(key)
            except ExpressionError:
                return None
        if source == "applicationSettings":
            setting = self.frontend_setting(key)
            return None if setting is None else str(setting)
        return None


def _text_of(value: Any) -> str:
    """A form value in a text: booleans in lower case, whole numbers without decimals."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dict | list):
        return ""
    return str(value)


def _run_of(state: LayoutState | None) -> RunState:
    if state is None:
        raise ValueError("an evaluation context needs a layout state or a run")
    return state.run


async def build_layout_state(run: RunState) -> LayoutState | None:
    """The contexts of the task's layout set, after loading the form data they read."""
    layout_set = run.definition.layout_set_for_task(run.task_id)
    if layout_set is None:
        return None
    spec = run.app.layout(layout_set.id)
    if spec is None or spec.data_type is None:
        return None
    default = run.first_form_element(spec.data_type)
    if default is None:
        return None
    wanted = {spec.data_type, *spec.data_types}
    for set_id in spec.subform_sets:
        sub = run.app.layout(set_id)
        if sub is not None:
            wanted.update(t for t in (sub.data_type, *sub.data_types) if t is not None)
    wanted.update(data_type.id for data_type, _ in run.task_elements(form_data_only=True))
    await run.preload(element for element in run.elements if element.data_type in wanted)
    if not run.loaded(default.id):
        return None
    return LayoutState(run, spec, default.id)


def required_issues(state: LayoutState) -> list[ValidationIssue]:
    """``required`` components (not hidden) whose bindings are empty, children before parents."""
    issues: list[ValidationIssue] = []
    for page in state.pages:
        _required(state, page, issues)
    return issues


def _required(state: LayoutState, node: Node, issues: list[ValidationIssue]) -> None:
    if state.is_hidden(node):
        return
    for child in node.children:
        _required(state, child, issues)
    if node.required is None or not node.bindings or not state.is_required(node):
        return
    for name, binding in node.bindings.items():
        element_id = state.element_for(binding, node)
        if element_id is None or not _is_empty(state.read(binding, node)):
            continue
        field_path = state.indexed_field(binding, node, element_id)
        parameters = {
            "field": field_path,
            "layoutId": node.layout_set_id,
            "pageId": node.page_id,
            "componentId": node.id,
            "bindingName": name,
            "pageName": state.translate(node.page_id, node),
        }
        if node.title is not None:
            parameters["componentTitle"] = state.translate(node.title, node)
        issues.append(
            ValidationIssue(
                severity=Severity.Error,
                code="required",
                field=field_path,
                data_element_id=element_id,
                custom_text_key=REQUIRED_TEXT_KEY,
                custom_text_parameters=parameters,
            )
        )
