"""What an evaluation can look up: the context protocols, a dict-backed context, data model paths."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from functools import lru_cache
from typing import Any, Protocol

from tinn.process.expressions._values import ExpressionError

INSTANCE_CONTEXT_KEYS = frozenset({"instanceId", "appId", "instanceOwnerPartyId", "instanceOwnerPartyType"})
AUTH_CONTEXT_KEYS = frozenset({"read", "write", "instantiate", "confirm", "sign", "reject"})


class ComponentTree(Protocol):
    """The layout components around the expression being evaluated (frontend-style evaluation).

    Only evaluations tied to a rendered layout have one; ``component``, ``displayValue`` and
    ``linkToComponent`` need it. Lookups find the component closest to the current one (same
    repeating-group row first) and raise ``ExpressionError`` when there is none.
    """

    def component_value(self, component_id: str) -> Any:
        """The value bound to the component's ``simpleBinding``; None when the component is hidden."""
        ...

    def display_value(self, component_id: str) -> str | None:
        """The component's value as shown to the user; None when the component is hidden."""
        ...

    def component_location(self, component_id: str) -> tuple[str, str]:
        """The page id and the resolved (row-qualified) id of the component."""
        ...


class ExpressionContext(Protocol):
    """Everything an expression can read. ``SimpleContext`` implements it over plain dicts."""

    @property
    def row_indices(self) -> Sequence[int] | None:
        """Row indexes of the repeating-group rows the expression is evaluated in (outermost first)."""
        ...

    @property
    def language(self) -> str | None:
        """The user's language (``nb``, ``nn``, ``en``); None means the default, ``nb``."""
        ...

    @property
    def timezone(self) -> tzinfo | None:
        """Time zone that time-zoned timestamps are shown in by ``formatDate``; None: as written."""
        ...

    @property
    def gateway_action(self) -> str | None:
        """The action (``submit``, ``reject``, ...) that moved the process into the gateway."""
        ...

    @property
    def task_id(self) -> str | None:
        """The current process task, for links to pages."""
        ...

    @property
    def value_arguments(self) -> Mapping[str, Any] | None:
        """Values read by ``["value"]`` / ``["value", key]`` (option filters); None when not offered."""
        ...

    @property
    def components(self) -> ComponentTree | None:
        """The layout component tree, when the evaluation has one."""
        ...

    def data_model(self, data_type: str | None) -> Any:
        """The form data (a JSON object) of a data type; None means the default data type.

        Raises ``ExpressionError`` when the data type has no data model in this context.
        """
        ...

    def count_data_elements(self, data_type: str) -> int:
        """How many data elements of a data type the instance has."""
        ...

    def instance_context(self, key: str) -> str | None:
        """One of ``INSTANCE_CONTEXT_KEYS`` for the current instance (None when there is none)."""
        ...

    def frontend_setting(self, key: str) -> Any:
        """An entry of the app's ``FrontEndSettings`` (case-sensitive); None when missing."""
        ...

    def text_resource(self, key: str) -> Mapping[str, Any] | None:
        """A text resource in the user's language: ``{"id", "value", "variables"?}``; None when missing."""
        ...

    def auth_context(self, action: str) -> bool:
        """Whether the user may perform ``action`` (one of ``AUTH_CONTEXT_KEYS``) on the current task."""
        ...

    def options(self, options_id: str) -> Sequence[Mapping[str, Any]] | None:
        """A static code list (``[{"value", "label"}, ...]``); None when unknown."""
        ...


@dataclass
class SimpleContext:
    """An ``ExpressionContext`` backed by plain values; what the process engine and validators use.

    ``data_models`` maps data type ids to form data. The default data type is
    ``default_data_type``, or the only data type when there is exactly one. ``instance`` is the
    instance in its wire form (``id``, ``appId``, ``instanceOwner``, ``data``); data elements are
    counted from its ``data`` list unless ``data_element_counts`` is given. ``text_resources`` maps
    text ids to resources in the user's language.
    """

    data_models: Mapping[str, Any] = field(default_factory=dict)
    default_data_type: str | None = None
    row_indices: Sequence[int] | None = None
    instance: Mapping[str, Any] | None = None
    frontend_settings: Mapping[str, Any] = field(default_factory=dict)
    language: str | None = None
    timezone: tzinfo | None = UTC
    text_resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    gateway_action: str | None = None
    task_id: str | None = None
    auth_actions: Mapping[str, bool] = field(default_factory=dict)
    data_element_counts: Mapping[str, int] | None = None
    code_lists: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    value_arguments: Mapping[str, Any] | None = None
    components: ComponentTree | None = None

    def data_model(self, data_type: str | None) -> Any:
        if data_type is None:
            data_type = self.default_data_type
            if data_type is None:
                if len(self.data_models) != 1:
                    raise ExpressionError("No default data model is available in this context")
                data_type = next(iter(self.data_models))
        try:
            return self.data_models[data_type]
        except KeyError:
            raise ExpressionError(f"Data model with type {data_type} not found") from None

    def count_data_elements(self, data_type: str) -> int:
        if self.data_element_counts is not None:
            return self.data_element_counts.get(data_type, 0)
        elements = (self.instance or {}).get("data") or []
        return sum(1 for element in elements if element.get("dataType") == data_type)

    def instance_context(self, key: str) -> str | None:
        return instance_context_value(self.instance, key)

    def frontend_setting(self, key: str) -> Any:
        return self.frontend_settings.get(key)

    def text_resource(self, key: str) -> Mapping[str, Any] | None:
        return self.text_resources.get(key)

    def auth_context(self, action: str) -> bool:
        return bool(self.auth_actions.get(action, False))

    def options(self, options_id: str) -> Sequence[Mapping[str, Any]] | None:
        return self.code_lists.get(options_id)


def instance_context_value(instance: Mapping[str, Any] | None, key: str) -> str | None:
    """Read an ``instanceContext`` key from an instance in its wire form."""
    if instance is None:
        return None
    owner = instance.get("instanceOwner") or {}
    if key == "instanceId":
        return _text_or_none(instance.get("id"))
    if key == "appId":
        return _text_or_none(instance.get("appId"))
    if key == "instanceOwnerPartyId":
        return _text_or_none(owner.get("partyId"))
    if key == "instanceOwnerPartyType":
        if owner.get("organisationNumber"):
            return "org"
        if owner.get("personNumber"):
            return "person"
        if owner.get("username"):
            return "selfIdentified"
        return "unknown"
    raise ExpressionError(f"Unknown Instance context property {key}")


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


_SEGMENT_RE = re.compile(r"([^.\[\]]+)((?:\[[0-9]+\])*)")
_INDEX_RE = re.compile(r"\[([0-9]+)\]")


@lru_cache(maxsize=4096)
def parse_data_model_path(path: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Split ``a.b[1].c`` into ``(("a", ()), ("b", (1,)), ("c", ()))``."""
    segments: list[tuple[str, tuple[int, ...]]] = []
    for part in path.split("."):
        match = _SEGMENT_RE.fullmatch(part)
        if match is None:
            raise ExpressionError(f'Invalid data model path "{path}"')
        indexes = tuple(int(i) for i in _INDEX_RE.findall(match.group(2)))
        segments.append((match.group(1), indexes))
    return tuple(segments)


def resolve_data_model_path(data: Any, path: str, row_indices: Sequence[int] | None = None) -> Any:
    """Look up a dotted path (``Bedrifter[1].Ansatte.Alder``) in form data.

    A list reached without an index in the path takes the next of ``row_indices`` (the rows the
    expression is evaluated in): ``Mennesker.Alder`` in row 1 reads ``Mennesker[1].Alder``. An
    explicit index in the path stops that for the rest of the path, so ``Bedrifter[0].Ansatte.Alder``
    is null even inside a row. Missing fields, and lists without a known index, give None.
    """
    if path == "":
        return None
    remaining = tuple(row_indices or ())
    current = data
    segments = parse_data_model_path(path)
    last = len(segments) - 1
    for position, (name, indexes) in enumerate(segments):
        if not isinstance(current, dict):
            return None
        current = current.get(name)
        if indexes:
            remaining = ()
            for index in indexes:
                if not isinstance(current, list) or index >= len(current):
                    return None
                current = current[index]
        elif isinstance(current, list):
            if remaining:
                index, remaining = remaining[0], remaining[1:]
                if index >= len(current):
                    return None
                current = current[index]
            elif position != last:
                return None
    return current
