"""What a validation run sees (:class:`ValidationContext`) and what it caches while it runs
(:class:`RunState`): the instance's elements, their form data (each read once) and the layout
evaluation shared by the ``Required`` and ``Expression`` validators."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from tinn.appdef.definition import DEFAULT_LANGUAGE, AppDefinition
from tinn.appdef.models import DataType
from tinn.applogic import HookContext
from tinn.data.accessor import FormDataAccessor
from tinn.data.formdata import FormDataError, FormModel
from tinn.instances.models import DataElement, Instance
from tinn.storage.blobs.base import BlobError, BlobStore, read_all
from tinn.validation.compiled import CompiledApp, compiled_for
from tinn.validation.layout import LayoutState, build_layout_state

log = structlog.get_logger("tinn.validation")


@dataclass
class ValidationContext:
    """Everything one validation run reads.

    ``instance`` is the instance with its data elements as the caller sees them now (after a
    PATCH: with the new element metadata); ``accessor`` reads (and caches) their form data,
    including changes not yet saved. Data types ``can_read`` refuses are skipped by the
    data-element validators. ``hook_context`` is handed to app-defined validators.
    """

    definition: AppDefinition
    instance: Instance
    accessor: FormDataAccessor
    task_id: str
    language: str | None
    can_read: Callable[[DataType], bool]
    hook_context: HookContext
    blobs: BlobStore | None = None


def _is_hard_deleted(element: DataElement) -> bool:
    return bool(element.delete_status and element.delete_status.is_hard_deleted)


def to_expression_value(value: Any) -> Any:
    """Form data as the expression evaluator takes it: decimals become ints or floats."""
    if isinstance(value, dict):
        return {key: to_expression_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_expression_value(item) for item in value]
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    return value


class RunState:
    """The caches of one validation run at one task."""

    def __init__(self, ctx: ValidationContext, task_id: str) -> None:
        self.ctx = ctx
        self.definition = ctx.definition
        self.task_id = task_id
        self.language = ctx.language
        self.app: CompiledApp = compiled_for(ctx.definition)
        self.elements: list[DataElement] = [e for e in ctx.instance.data or () if not _is_hard_deleted(e)]
        self._by_id = {element.id: element for element in self.elements}
        self._data: dict[str, dict[str, Any] | None] = {}
        self._expression_data: dict[str, Any] = {}
        self._layout_loaded = False
        self._layout: LayoutState | None = None
        self._instance_wire: dict[str, Any] | None = None
        self._readable: dict[str, bool] = {}

    @property
    def text_language(self) -> str:
        return self.language or DEFAULT_LANGUAGE

    def data_type(self, data_type_id: str) -> DataType | None:
        return self.definition.data_type(data_type_id)

    def element(self, element_id: str) -> DataElement | None:
        return self._by_id.get(element_id)

    def model(self, data_type_id: str) -> FormModel | None:
        return self.definition.form_model(data_type_id)

    def task_elements(self, *, form_data_only: bool = False) -> list[tuple[DataType, DataElement]]:
        """The readable elements whose data type is bound to this run's task, in instance order."""
        result = []
        for element in self.elements:
            data_type = self.data_type(element.data_type)
            if data_type is None or data_type.task_id != self.task_id:
                continue
            if form_data_only and self.model(data_type.id) is None:
                continue
            if not self.readable(data_type):
                continue
            result.append((data_type, element))
        return result

    def readable(self, data_type: DataType) -> bool:
        """Whether the caller may read elements of the type (asked once per run and type)."""
        readable = self._readable.get(data_type.id)
        if readable is None:
            readable = self._readable[data_type.id] = self.ctx.can_read(data_type)
        return readable

    def elements_of_type(self, data_type_id: str) -> list[DataElement]:
        return [element for element in self.elements if element.data_type == data_type_id]

    def count_elements(self, data_type_id: str) -> int:
        return sum(1 for element in self.elements if element.data_type == data_type_id)

    async def form_data(self, element: DataElement) -> dict[str, Any] | None:
        """The element's form data (None when it has none or it cannot be read). Do not mutate."""
        if element.id in self._data:
            return self._data[element.id]
        data: dict[str, Any] | None = None
        if self.model(element.data_type) is not None:
            try:
                data = await self.ctx.accessor.get(element)
            except (KeyError, FormDataError, BlobError) as exc:
                log.warning(
                    "validation_form_data_unreadable",
                    element_id=element.id,
                    data_type=element.data_type,
                    error=str(exc),
                )
        self._data[element.id] = data
        return data

    async def preload(self, elements: Iterable[DataElement]) -> None:
        for element in elements:
            await self.form_data(element)

    def expression_data(self, element_id: str) -> Any:
        """Preloaded form data of an element in expression form (None when not loaded)."""
        if element_id not in self._expression_data:
            self._expression_data[element_id] = to_expression_value(self._data.get(element_id))
        return self._expression_data[element_id]

    async def content(self, element: DataElement) -> bytes | None:
        """The stored bytes of an element (None when they cannot be read)."""
        blobs = self.ctx.blobs
        stored = self.ctx.accessor.record.element(element.id)
        if blobs is None or stored is None or stored.blob_key is None:
            return None
        try:
            return await read_all(blobs, stored.blob_key)
        except BlobError as exc:
            log.warning("validation_content_unreadable", element_id=element.id, error=str(exc))
            return None

    def loaded(self, element_id: str) -> bool:
        return self._data.get(element_id) is not None

    def first_form_element(self, data_type_id: str) -> DataElement | None:
        if self.model(data_type_id) is None:
            return None
        return next((e for e in self.elements if e.data_type == data_type_id), None)

    @property
    def instance_wire(self) -> dict[str, Any]:
        """The instance fields ``instanceContext`` reads, in wire form."""
        if self._instance_wire is None:
            instance = self.ctx.instance
            owner = instance.instance_owner
            self._instance_wire = {
                "id": instance.id,
                "appId": instance.app_id,
                "instanceOwner": {
                    "partyId": owner.party_id,
                    "personNumber": owner.person_number,
                    "organisationNumber": owner.organisation_number,
                    "username": owner.username,
                },
            }
        return self._instance_wire

    async def layout(self) -> LayoutState | None:
        """The layout of this task with its component contexts (None when the task has no
        layout set or no element of the set's data type)."""
        if not self._layout_loaded:
            self._layout = await build_layout_state(self)
            self._layout_loaded = True
        return self._layout


def matches_source(source: str, ignored: Collection[str]) -> bool:
    """Whether a source is in an ``ignoredValidators`` list (compared ignoring case)."""
    folded = source.casefold()
    return any(folded == item.strip().casefold() for item in ignored)
