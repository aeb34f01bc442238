"""Building validation contexts in memory: an app definition, an instance with its data elements,
and form data stored in a ``memory://`` blob store behind a real :class:`FormDataAccessor`."""

from __future__ import annotations

import dataclasses
import functools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson

from tests.appdef.factory import write_app
from tests.conftest import SHARED_APPS
from tinn.appdef.appsettings import AppSettings
from tinn.appdef.definition import AppDefinition
from tinn.appdef.loader import load_app
from tinn.appdef.models import DataType
from tinn.applogic import AppLogic, HookContext
from tinn.data import forms
from tinn.data.accessor import FormDataAccessor
from tinn.data.formdata import coerce_data
from tinn.instances.models import (
    DataElement,
    DeleteStatus,
    FileScanResult,
    Instance,
    InstanceOwner,
    ProcessElementInfo,
    ProcessState,
)
from tinn.instances.store import DataRecord, InstanceRecord
from tinn.storage.blobs import create_blob_store
from tinn.validation.service import ValidationContext

PARTY_ID = "501337"


@functools.cache
def shared_app(org: str, app: str) -> AppDefinition:
    return load_app(SHARED_APPS / org / app, org, app)


def with_settings(definition: AppDefinition, **settings: Any) -> AppDefinition:
    """The definition with some ``AppSettings`` switched (a new object: compiled afresh)."""
    return dataclasses.replace(definition, settings=dataclasses.replace(definition.settings, **settings))


def with_data_type(definition: AppDefinition, data_type_id: str, **changes: Any) -> AppDefinition:
    """The definition with one data type's metadata changed (``max_count=2``...)."""
    types = [
        dt.model_copy(update=changes) if dt.id == data_type_id else dt
        for dt in definition.metadata.data_types
    ]
    return dataclasses.replace(
        definition, metadata=definition.metadata.model_copy(update={"data_types": types})
    )


def with_logic(definition: AppDefinition, register: Callable[[AppLogic], None]) -> AppDefinition:
    logic = AppLogic()
    register(logic)
    return dataclasses.replace(definition, logic=logic)


async def _chunks(content: bytes) -> AsyncIterator[bytes]:
    yield content


class InstanceBuilder:
    """An instance of ``definition`` at ``task_id``; add elements, then :meth:`context`."""

    def __init__(self, definition: AppDefinition, task_id: str = "Task_1") -> None:
        self.definition = definition
        self.task_id = task_id
        self.guid = uuid.uuid4()
        self.blobs = create_blob_store("memory://")
        self.records: list[DataRecord] = []
        self._stored: list[tuple[str, bytes]] = []

    def _element(self, data_type: str, **fields: Any) -> DataElement:
        element_id = fields.pop("id", None) or str(uuid.uuid4())
        return DataElement(id=element_id, instance_guid=str(self.guid), data_type=data_type, **fields)

    def form(self, data_type: str, data: dict[str, Any] | None = None, **fields: Any) -> str:
        """A form data element of ``data_type`` holding ``data`` (JSON shape; missing members null)."""
        model = self.definition.form_model(data_type)
        described = self.definition.data_type(data_type)
        assert model is not None and described is not None, data_type
        values = coerce_data(model, orjson.loads(orjson.dumps(data or {})))
        content, content_type = forms.serialize(model, values, forms.storage_format(described))
        fields.setdefault("content_type", content_type)
        fields.setdefault("size", len(content))
        element = self._element(data_type, **fields)
        key = f"ttd/app/{self.guid}/data/{element.id}/1"
        self._stored.append((key, content))
        self.records.append(DataRecord(internal_id=None, element=element, blob_key=key))
        return element.id

    def binary(
        self,
        data_type: str,
        *,
        content_type: str | None = "application/pdf",
        size: int = 10,
        file_scan_result: FileScanResult = FileScanResult.NotApplicable,
        hard_deleted: bool = False,
        **fields: Any,
    ) -> str:
        element = self._element(
            data_type,
            content_type=content_type,
            size=size,
            file_scan_result=file_scan_result,
            filename=fields.pop("filename", "file.pdf"),
            delete_status=DeleteStatus(is_hard_deleted=True) if hard_deleted else None,
            **fields,
        )
        self.records.append(DataRecord(internal_id=None, element=element, blob_key=None))
        return element.id

    def instance(self) -> Instance:
        return Instance(
            id=f"{PARTY_ID}/{self.guid}",
            instance_owner=InstanceOwner(party_id=PARTY_ID, person_number="01039012345"),
            app_id=self.definition.id,
            org=self.definition.org,
            process=ProcessState(
                current_task=ProcessElementInfo(element_id=self.task_id, altinn_task_type="data")
            ),
            data=[record.element for record in self.records],
        )

    async def context(
        self,
        *,
        language: str | None = None,
        can_read: Callable[[DataType], bool] = lambda _: True,
        task_id: str | None = None,
    ) -> ValidationContext:
        for key, content in self._stored:
            await self.blobs.put(key, _chunks(content))
        self._stored.clear()
        instance = self.instance()
        record = InstanceRecord(
            internal_id=None, guid=self.guid, version=1, instance=instance, data=self.records
        )
        accessor = FormDataAccessor(self.blobs, self.definition, record)
        return ValidationContext(
            definition=self.definition,
            instance=instance,
            accessor=accessor,
            task_id=task_id or self.task_id,
            language=language,
            can_read=can_read,
            hook_context=HookContext(instance=instance, org=self.definition.org, app=self.definition.app),
        )


def settings(**values: bool) -> AppSettings:
    return AppSettings(**values)


# --- a purpose-built app: one form with layouts, expression rules and attachments -------------

BPMN_TWO_TASKS = """<?xml version="1.0" encoding="utf-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:altinn="http://altinn.no/process" id="d">
  <bpmn:process id="p" isExecutable="false">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:task id="Task_1">
      <bpmn:extensionElements><altinn:taskExtension><altinn:taskType>data</altinn:taskType>
      </altinn:taskExtension></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:task>
    <bpmn:task id="Task_2">
      <bpmn:extensionElements><altinn:taskExtension><altinn:taskType>data</altinn:taskType>
      </altinn:taskExtension></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:task>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Task_1" />
    <bpmn:sequenceFlow id="f2" sourceRef="Task_1" targetRef="Task_2" />
    <bpmn:sequenceFlow id="f3" sourceRef="Task_2" targetRef="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>
"""

SKJEMA_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "@xsdRootElement": "Skjema",
    "type": "object",
    "required": ["navn", "alder", "antall"],
    "properties": {
        "navn": {"type": "string", "minLength": 2, "maxLength": 5},
        "alder": {"type": "integer", "minimum": 0, "maximum": 120},
        "antall": {"type": "integer", "@xsdType": "int"},
        "kode": {"type": "string", "pattern": "^[A-Z]{2}[0-9]$"},
        "bokstaver": {"type": "string", "pattern": "^\\p{L}+$"},
        "siffer": {"type": "number", "@xsdTotalDigits": 3},
        "dato": {"type": "string", "format": "date"},
        "prosent": {"type": "number", "maximum": 0.5},
        "flagg": {"type": "boolean"},
        "ekstra": {"type": "string"},
        "skjult": {"type": "string"},
        "personer": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["alder"],
                "properties": {
                    "navn": {"type": "string"},
                    "alder": {"type": "integer", "minimum": 18},
                    "harBil": {"type": "boolean"},
                    "bilmerke": {"type": "string"},
                },
            },
        },
        "adresse": {
            "type": "object",
            "properties": {
                "gate": {"type": "string"},
                "postnr": {"type": "string", "pattern": "^[0-9]{4}$"},
            },
        },
        "sporsmal": {
            "type": "array",
            "items": {"type": "object", "properties": {"id": {"type": "string"}, "svar": {"type": "string"}}},
        },
    },
}

UNDER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "@xsdRootElement": "Under",
    "type": "object",
    "properties": {"tittel": {"type": "string"}},
}


def _component(component_id: str, component_type: str, **fields: Any) -> dict[str, Any]:
    return {"id": component_id, "type": component_type, **fields}


def _input(component_id: str, binding: str, **fields: Any) -> dict[str, Any]:
    return _component(component_id, "Input", dataModelBindings={"simpleBinding": binding}, **fields)


SIDE1: list[dict[str, Any]] = [
    _input("navn", "navn", required=True, textResourceBindings={"title": "navn.title"}),
    _input("alder", "alder", required=True, hidden=["equals", ["dataModel", "flagg"], True]),
    _input("ekstra", "ekstra", required=["equals", ["component", "navn"], "Ola"]),
    _component(
        "gruppe",
        "RepeatingGroup",
        dataModelBindings={"group": "personer"},
        children=["p-navn", "p-bilmerke"],
        hiddenRow=["equals", ["dataModel", "personer.navn"], "skjul"],
    ),
    _input("p-navn", "personer.navn", required=True),
    _input(
        "p-bilmerke", "personer.bilmerke", required=True, hidden=["not", ["dataModel", "personer.harBil"]]
    ),
    _component("adr", "Group", children=["gate"], hidden=True),
    _input("gate", "adresse.gate", required=True),
    _component(
        "likert",
        "Likert",
        required=True,
        dataModelBindings={"questions": "sporsmal", "simpleBinding": "sporsmal.svar"},
        filter=[{"key": "start", "value": 0}, {"key": "stop", "value": 2}],
    ),
    _component("under", "Subform", layoutSet="under"),
]

SIDE2: list[dict[str, Any]] = [_input("skjult", "skjult", required=True)]

VALIDATION: dict[str, Any] = {
    "validations": {
        "navn": [
            "ikke-ola",
            {
                "message": "navn.langt",
                "condition": ["greaterThan", ["stringLength", ["dataModel", ["argv", 0]]], 3],
                "severity": "warning",
            },
        ],
        "personer.navn": [{"message": "person.x", "condition": ["equals", ["dataModel", ["argv", 0]], "x"]}],
        "skjult": [{"message": "skjult.feil", "condition": ["equals", ["dataModel", ["argv", 0]], "feil"]}],
        "adresse.gate": [
            {"message": "gate.feil", "condition": ["equals", ["dataModel", ["argv", 0]], "feil"]}
        ],
        "ekstra": [
            {"ref": "avledet", "severity": "info"},
            "ukjent",
            {"message": "mangler-betingelse"},
            {"message": "ugyldig", "condition": ["nope"]},
            {"message": "s", "condition": True, "severity": "critical"},
            {
                "message": ["concat", "ekstra.", ["dataModel", ["argv", 0]]],
                "condition": ["equals", ["dataModel", ["argv", 0]], "x"],
                "severity": "success",
            },
        ],
    },
    "definitions": {
        "ikke-ola": {"message": "ikke.ola", "condition": ["equals", ["dataModel", ["argv", 0]], "Ola"]},
        "avledet": {"ref": "ikke-ola", "message": "avledet"},
    },
}

TEXTS_NB = {
    "navn.title": "Navn",
    "side1": "Første side",
    "ikke.ola": "Navnet kan ikke være Ola",
}
TEXTS_EN = {"ikke.ola": "Name cannot be Ola"}


def _texts(language: str, values: dict[str, Any]) -> str:
    resources = [
        value if isinstance(value, dict) else {"id": key, "value": value} for key, value in values.items()
    ]
    return json.dumps({"language": language, "resources": resources}, ensure_ascii=False)


def write_form_app(
    root: Path,
    *,
    app_settings: dict[str, Any] | None = None,
    pages: dict[str, list[dict[str, Any]]] | None = None,
    page_hidden: Any = ("equals", ("dataModel", "flagg"), True),
    validation: dict[str, Any] | None = VALIDATION,
    texts_nb: dict[str, Any] | None = None,
    data_types: list[dict[str, Any]] | None = None,
) -> AppDefinition:
    """The form app ``ttd/vtest`` in ``root``; every argument replaces one part of it."""
    layouts = pages if pages is not None else {"side1": SIDE1, "side2": SIDE2}
    documents: dict[str, Any] = {}
    for name, components in layouts.items():
        data: dict[str, Any] = {"layout": components}
        if name == "side2" and page_hidden is not None:
            data["hidden"] = json.loads(json.dumps(page_hidden))
        documents[name] = {"data": data}
    types = data_types or [
        {"id": "ref-data-as-pdf", "allowedContentTypes": ["application/pdf"]},
        {
            "id": "skjema",
            "taskId": "Task_1",
            "maxCount": 1,
            "minCount": 1,
            "allowedContentTypes": ["application/xml"],
            "appLogic": {"classRef": "Altinn.App.Models.skjema.Skjema"},
        },
        {
            "id": "under",
            "taskId": "Task_1",
            "maxCount": 0,
            "allowedContentTypes": ["application/xml"],
            "appLogic": {"classRef": "Altinn.App.Models.under.Under"},
        },
        {
            "id": "vedlegg",
            "taskId": "Task_1",
            "maxCount": 2,
            "minCount": 1,
            "maxSize": 1,
            "allowedContentTypes": ["application/pdf", "image/png"],
            "enableFileScan": True,
            "validationErrorOnPendingFileScan": True,
        },
        {"id": "senere", "taskId": "Task_2", "allowedContentTypes": ["application/pdf"]},
    ]
    files: dict[str, str | bytes | None] = {
        "config/applicationmetadata.json": json.dumps(
            {"id": "ttd/vtest", "org": "ttd", "title": {"nb": "Valideringstest"}, "dataTypes": types}
        ),
        "config/process/process.bpmn": BPMN_TWO_TASKS,
        "config/texts/resource.nb.json": _texts("nb", texts_nb if texts_nb is not None else TEXTS_NB),
        "config/texts/resource.en.json": _texts("en", TEXTS_EN),
        "models/skjema.schema.json": json.dumps(SKJEMA_SCHEMA),
        "models/under.schema.json": json.dumps(UNDER_SCHEMA),
        "ui/layout-sets.json": json.dumps(
            {
                "sets": [
                    {"id": "form", "dataType": "skjema", "tasks": ["Task_1"]},
                    {"id": "under", "dataType": "under"},
                ]
            }
        ),
        "ui/form/Settings.json": json.dumps({"pages": {"order": list(documents)}}),
        "ui/under/Settings.json": json.dumps({"pages": {"order": ["u1"]}}),
        "ui/under/layouts/u1.json": json.dumps(
            {"data": {"layout": [_input("tittel", "tittel", required=True)]}}
        ),
        "appsettings.json": json.dumps(
            {"AppSettings": app_settings or {"RequiredValidation": True, "ExpressionValidation": True}}
        ),
    }
    for name, document in documents.items():
        files[f"ui/form/layouts/{name}.json"] = json.dumps(document)
    if validation is not None:
        files["models/skjema.validation.json"] = json.dumps(validation)
    folder = write_app(root, "ttd", "vtest", files)
    return load_app(folder, "ttd", "vtest")
