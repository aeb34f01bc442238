"""Reading an instance's form data (and changing it in memory) for validators, gateways, PDFs
and patches: each element's document is read from the blob store at most once."""

from __future__ import annotations

import copy
from typing import Any

from tinn.appdef.definition import AppDefinition
from tinn.data import forms
from tinn.data.formdata import FormModel
from tinn.instances.models import DataElement
from tinn.instances.store import DataRecord, InstanceRecord
from tinn.storage.blobs.base import BlobStore, read_all


class FormDataAccessor:
    def __init__(self, blobs: BlobStore, definition: AppDefinition, record: InstanceRecord) -> None:
        self._blobs = blobs
        self.definition = definition
        self.record = record
        self._cache: dict[str, dict[str, Any]] = {}
        self._changed: dict[str, dict[str, Any]] = {}

    def model(self, data_type_id: str) -> FormModel | None:
        return self.definition.form_model(data_type_id)

    def form_elements(self, data_type_id: str | None = None) -> list[DataRecord]:
        """Form-data elements (of one type, or all), in `created` order."""
        result = []
        for data in self.record.elements(include_hard_deleted=False):
            if data_type_id is not None and data.element.data_type != data_type_id:
                continue
            if self.model(data.element.data_type) is not None and data.blob_key:
                result.append(data)
        return result

    async def get(self, element: DataElement | DataRecord) -> dict[str, Any]:
        """The element's form data (changes made with :meth:`set` included). Do not mutate it."""
        if isinstance(element, DataRecord):
            element = element.element
        if element.id in self._changed:
            return self._changed[element.id]
        cached = self._cache.get(element.id)
        if cached is not None:
            return cached
        data_record = self.record.element(element.id)
        model = self.model(element.data_type)
        if data_record is None or data_record.blob_key is None or model is None:
            raise KeyError(f"no form data for element {element.id}")
        content = await read_all(self._blobs, data_record.blob_key)
        data = forms.deserialize_stored(model, content, element.content_type)
        self._cache[element.id] = data
        return data

    async def get_copy(self, element: DataElement | DataRecord) -> dict[str, Any]:
        return copy.deepcopy(await self.get(element))

    async def first_of_type(self, data_type_id: str) -> dict[str, Any] | None:
        elements = self.form_elements(data_type_id)
        return await self.get(elements[0]) if elements else None

    async def all_of_type(self, data_type_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(data.element.id, await self.get(data)) for data in self.form_elements(data_type_id)]

    def set(self, element_id: str, data: dict[str, Any]) -> None:
        """Replace an element's data in memory (saved by whoever owns this accessor)."""
        self._changed[element_id] = data

    @property
    def changed(self) -> dict[str, dict[str, Any]]:
        return self._changed
