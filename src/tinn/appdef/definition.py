"""One loaded app: its typed definition and the response bodies served for it.

Everything here is built once when the app folder is loaded and never changes afterwards.
Parsed JSON documents (layouts, schemas, prefill and validation configuration) are plain
dicts and lists: treat them as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinn.appdef.appsettings import AppSettings
from tinn.appdef.models import ApplicationMetadata, DataType, TextResource
from tinn.applogic import AppLogic
from tinn.auth.xacml import Policy
from tinn.data.formdata import FormModel
from tinn.process.bpmn import ProcessDefinition, Task

DEFAULT_LANGUAGE = "nb"


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """The files of one data model in ``models/``, by file stem (which Altinn equates with the
    data type id: ``{id}.xsd``, ``{id}.schema.json``, ``{id}.prefill.json``,
    ``{id}.validation.json``). Each is None when the app has no such file."""

    name: str
    xsd: str | None = None
    json_schema: Any = None
    json_schema_text: str | None = None
    prefill: Any = None
    validation: Any = None
    validation_text: str | None = None


@dataclass(frozen=True, slots=True)
class LayoutSet:
    """One layout set: ``ui/{id}/Settings.json``, ``ui/{id}/layouts/*.json`` and the legacy rule
    files. ``tasks`` are the process tasks that show it (none for a stateless set)."""

    id: str
    data_type: str | None
    tasks: tuple[str, ...]
    type: str | None
    layouts: Mapping[str, Any]
    page_order: tuple[str, ...]
    settings: Mapping[str, Any] | None
    settings_text: str | None
    rule_configuration: bytes | None
    rule_handler: bytes | None
    layouts_body: bytes


@dataclass(frozen=True, slots=True)
class AppOption:
    """One entry of an ``options/{id}.json`` code list. ``value`` keeps its JSON type."""

    value: str | int | float | bool | None
    label: str | None
    description: str | None = None
    help_text: str | None = None
    tags: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class OptionList:
    id: str
    options: tuple[AppOption, ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Served:
    """Response bodies, serialised at load time so requests only copy bytes."""

    metadata: bytes
    process: bytes | None
    policy: bytes | None
    texts: Mapping[str, bytes]
    languages: bytes | None
    settings: bytes
    layout_sets: bytes | None
    footer: bytes | None
    legacy_layout_settings: bytes | None = None


@dataclass(frozen=True, slots=True)
class AppDefinition:
    """An Altinn Studio app folder, parsed.

    ``org``/``app`` come from the folder names and are the app's identity everywhere (URLs,
    Storage ``appId``); ``metadata.id`` is what the file says (normally the same).
    """

    org: str
    app: str
    path: Path
    metadata: ApplicationMetadata
    metadata_json: Mapping[str, Any]
    process: ProcessDefinition | None
    process_xml: bytes | None
    policy: Policy | None
    policy_xml: str | None
    texts: Mapping[str, TextResource]
    models: Mapping[str, ModelFiles]
    form_models: Mapping[str, FormModel]
    layout_sets: tuple[LayoutSet, ...]
    layout_sets_inferred: bool
    footer: Any
    options: Mapping[str, OptionList]
    settings: AppSettings
    storage_document: Mapping[str, Any]
    served: Served
    logic: AppLogic
    warnings: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.org}/{self.app}"

    def title(self, language: str = DEFAULT_LANGUAGE) -> str:
        titles = self.metadata.title or {}
        return titles.get(language) or next((t for t in titles.values() if t), None) or self.app

    def data_type(self, data_type_id: str) -> DataType | None:
        return self.metadata.data_type(data_type_id)

    def data_types_for_task(self, task_id: str) -> list[DataType]:
        return [data_type for data_type in self.metadata.data_types if data_type.task_id == task_id]

    def task(self, task_id: str) -> Task | None:
        if self.process is None:
            return None
        return next((task for task in self.process.tasks if task.id == task_id), None)

    def text_resource(self, language: str) -> TextResource | None:
        """The texts for ``language``, falling back to ``nb`` as the app does."""
        return self.texts.get(language) or self.texts.get(DEFAULT_LANGUAGE)

    def text(self, text_id: str, language: str = DEFAULT_LANGUAGE) -> str | None:
        """One text by key in ``language`` (then ``nb``); None when no such key."""
        for lang in (language, DEFAULT_LANGUAGE):
            resource = self.texts.get(lang)
            value = resource.value(text_id) if resource is not None else None
            if value is not None:
                return value
        return None

    def layout_set(self, set_id: str) -> LayoutSet | None:
        return next((item for item in self.layout_sets if item.id == set_id), None)

    def layout_set_for_task(self, task_id: str) -> LayoutSet | None:
        return next((item for item in self.layout_sets if task_id in item.tasks), None)

    def form_model(self, data_type_id: str) -> FormModel | None:
        """The model of a form data type; None for binary types and apps without model files."""
        return self.form_models.get(data_type_id)

    def model_files(self, data_type_id: str) -> ModelFiles | None:
        return self.models.get(data_type_id)
