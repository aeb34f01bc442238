"""Test apps and API helpers for the App API data element tests.

:func:`write_data_apps` writes two apps into a folder: ``ttd/data-rules`` has a data type for
every data-type rule of app notes 5.4 (content types, sizes, counts, contributors, required
actions, create/delete restrictions, file scan), a small model with a nested object and a
repeating group, presentation/data fields and Python hooks; ``ttd/data-tasks`` has two data tasks
and ``EnforceDataTypeTaskId``. Instances are created, and tokens fetched, through the API.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, make_settings
from tinn.instances.store import InstanceTx, change_instance

ORG = "ttd"
APP = "data-rules"
TASKS_APP = "data-tasks"
PARTY = 501337
USER = 1337
PID = "01039012345"
CLASS_REF = "Altinn.App.Models.model.model"

XML = "application/xml"
JSON_TYPE = "application/json"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _form(data_type: str, *, allowed: list[str], max_count: int, **extra: Any) -> dict[str, Any]:
    app_logic = {"classRef": CLASS_REF, **extra.pop("app_logic", {})}
    return {
        "id": data_type,
        "allowedContentTypes": allowed,
        "appLogic": app_logic,
        "taskId": "Task_1",
        "maxCount": max_count,
        "minCount": 0,
        **extra,
    }


def _file(data_type: str, **extra: Any) -> dict[str, Any]:
    return {"id": data_type, "taskId": "Task_1", "maxCount": 0, "minCount": 0, **extra}


RULES_DATA_TYPES: list[dict[str, Any]] = [
    {"id": "ref-data-as-pdf", "allowedContentTypes": ["application/pdf"], "maxCount": 0},
    {
        **_form("model", allowed=[XML], max_count=1, app_logic={"autoCreate": True}),
        "minCount": 1,
    },
    _form("jsonmodel", allowed=[JSON_TYPE, XML], max_count=3),
    _form("extra", allowed=[XML], max_count=5, allowedKeysForUserDefinedMetadata=["TheKey", "Other"]),
    _form("nocreate", allowed=[XML], max_count=5, app_logic={"disallowUserCreate": True}),
    _file("nodelete", appLogic={"disallowUserDelete": True}),
    _file(
        "attachment",
        allowedContentTypes=["application/pdf", "image/png", "text/plain"],
        maxSize=1,
        maxCount=3,
    ),
    _file("scanned", enableFileScan=True),
    _file("anyfile"),
    _file("owned", allowedContributors=["app:owned"]),
    _file("contrib", allowedContributers=["org:ttd", "invalidKey"]),
    _file("readaction", actionRequiredToRead="customread"),
    _file("writeaction", actionRequiredToWrite="customwrite"),
    _file("task2type", taskId="Task_2"),
]

MODEL_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "model.schema.json",
    "type": "object",
    "@xsdRootElement": "model",
    "properties": {
        "name": {"type": "string"},
        "amount": {"type": "number"},
        "calculated": {"type": "string"},
        "readMarker": {"type": "string"},
        "createdBy": {"type": "string"},
        "details": {"$ref": "#/$defs/Details"},
        "rows": {"type": "array", "items": {"$ref": "#/$defs/Row"}},
    },
    "$defs": {
        "Details": {"type": "object", "properties": {"note": {"type": "string"}}},
        "Row": {"type": "object", "properties": {"value": {"type": "string"}}},
    },
}

# Hooks of the test app: each reacts only to marker values the tests send.
LOGIC = '''
import asyncio

from tinn.applogic import Issue

_barriers = {}


async def _rendezvous(name):
    """Hold two requests in their data processor until both have arrived (race tests)."""
    barrier = _barriers.setdefault(name, asyncio.Barrier(2))
    await asyncio.wait_for(barrier.wait(), 30)


def register(logic):
    @logic.data_processor
    async def race(ctx, data_type, data, previous):
        name = data.get("name") or ""
        if name.startswith("race-"):
            await _rendezvous(name.split(":")[0])
    @logic.data_processor
    async def calculate(ctx, data_type, data, previous):
        if data.get("name") == "calculate":
            data["calculated"] = "done"
            data["amount"] = 42

    @logic.data_read_processor
    async def mark_read(ctx, data_type, data):
        if data.get("name") == "mark-on-read" and data.get("readMarker") is None:
            data["readMarker"] = "seen"

    @logic.on_data_creation
    async def created(ctx, data_type, data, prefill):
        data["createdBy"] = "hook"

    @logic.validator("Tinn.Tests.NameValidator", data_type="model", incremental=True)
    async def name_validator(ctx, read):
        issues = []
        for element_id, data in await read("model"):
            if data.get("name") == "invalid":
                issues.append(Issue("name-invalid", "The name is invalid", field="name", data_element_id=element_id))
        return issues
'''


def _match(function: str, value: str, attribute: str, category: str) -> str:
    return (
        f'<xacml:Match MatchId="{function}">'
        f'<xacml:AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">{value}</xacml:AttributeValue>'
        f'<xacml:AttributeDesignator AttributeId="{attribute}" Category="{category}" '
        'DataType="http://www.w3.org/2001/XMLSchema#string" MustBePresent="false" /></xacml:Match>'
    )


def _rule(number: int, subjects: list[tuple[str, str]], actions: list[str], task: str | None = None) -> str:
    ignore_case = "urn:oasis:names:tc:xacml:3.0:function:string-equal-ignore-case"
    equal = "urn:oasis:names:tc:xacml:1.0:function:string-equal"
    subject = "urn:oasis:names:tc:xacml:1.0:subject-category:access-subject"
    resource = "urn:oasis:names:tc:xacml:3.0:attribute-category:resource"
    action = "urn:oasis:names:tc:xacml:3.0:attribute-category:action"
    subject_any = "".join(
        f"<xacml:AllOf>{_match(ignore_case, value, attribute, subject)}</xacml:AllOf>"
        for attribute, value in subjects
    )
    resource_matches = _match(equal, "[ORG]", "urn:altinn:org", resource) + _match(
        equal, "[APP]", "urn:altinn:app", resource
    )
    if task:
        resource_matches += _match(equal, task, "urn:altinn:task", resource)
    action_any = "".join(
        f"<xacml:AllOf>{_match(ignore_case, name, 'urn:oasis:names:tc:xacml:1.0:action:action-id', action)}"
        "</xacml:AllOf>"
        for name in actions
    )
    return (
        f'<xacml:Rule RuleId="urn:altinn:resource:app_[ORG]_[APP]:policyid:1:ruleid:{number}" Effect="Permit">'
        f"<xacml:Target><xacml:AnyOf>{subject_any}</xacml:AnyOf>"
        f"<xacml:AnyOf><xacml:AllOf>{resource_matches}</xacml:AllOf></xacml:AnyOf>"
        f"<xacml:AnyOf>{action_any}</xacml:AnyOf></xacml:Target></xacml:Rule>"
    )


def policy(*rules: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<xacml:Policy PolicyId="urn:altinn:resource:app_[ORG]_[APP]:policyid:1" Version="1.0" '
        'RuleCombiningAlgId="urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:deny-overrides" '
        'xmlns:xacml="urn:oasis:names:tc:xacml:3.0:core:schema:wd-17"><xacml:Target />'
        + "".join(rules)
        + "</xacml:Policy>\n"
    )


def _bpmn(tasks: list[str]) -> str:
    nodes = ['<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>']
    for index, task in enumerate(tasks):
        nodes.append(
            f'<bpmn:task id="{task}" name="{task}"><bpmn:incoming>f{index}</bpmn:incoming>'
            f"<bpmn:outgoing>f{index + 1}</bpmn:outgoing><bpmn:extensionElements><altinn:taskExtension>"
            "<altinn:taskType>data</altinn:taskType></altinn:taskExtension></bpmn:extensionElements></bpmn:task>"
        )
    nodes.append(
        f'<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>f{len(tasks)}</bpmn:incoming></bpmn:endEvent>'
    )
    targets = [*tasks, "EndEvent_1"]
    sources = ["StartEvent_1", *tasks]
    flows = [
        f'<bpmn:sequenceFlow id="f{index}" sourceRef="{source}" targetRef="{target}" />'
        for index, (source, target) in enumerate(zip(sources, targets, strict=True))
    ]
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<bpmn:definitions id="d" '
        'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:altinn="http://altinn.no/process">'
        f'<bpmn:process id="p" isExecutable="false">{"".join(nodes)}{"".join(flows)}</bpmn:process>'
        "</bpmn:definitions>\n"
    )


def _write(folder: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _texts() -> str:
    return json.dumps({"language": "nb", "resources": [{"id": "appName", "value": "Data tests"}]})


def write_data_apps(root: Path) -> Path:
    """Write ``ttd/data-rules`` and ``ttd/data-tasks`` under ``root``; returns ``root``."""
    user_rule = _rule(
        1,
        [("urn:altinn:rolecode", "priv"), ("urn:altinn:rolecode", "dagl")],
        ["read", "write", "delete", "instantiate"],
    )
    org_rule = _rule(
        2,
        [("urn:altinn:org", "[org]")],
        ["read", "write", "instantiate", "complete", "customread", "customwrite"],
    )
    rules_metadata = {
        "id": f"{ORG}/{APP}",
        "org": ORG,
        "title": {"nb": "Data rules"},
        "dataTypes": RULES_DATA_TYPES,
        "presentationFields": [{"id": "Name", "path": "name", "dataTypeId": "model"}],
        "dataFields": [
            {"id": "Amount", "path": "amount", "dataTypeId": "model"},
            {"id": "Note", "path": "details.note", "dataTypeId": "model"},
        ],
    }
    _write(
        root / ORG / APP,
        {
            "config/applicationmetadata.json": json.dumps(rules_metadata, indent=2),
            "config/process/process.bpmn": _bpmn(["Task_1", "Task_2"]),
            "config/authorization/policy.xml": policy(user_rule, org_rule),
            "config/texts/resource.nb.json": _texts(),
            "models/model.schema.json": json.dumps(MODEL_SCHEMA, indent=2),
            "logic/__init__.py": LOGIC,
        },
    )
    tasks_metadata = {
        "id": f"{ORG}/{TASKS_APP}",
        "org": ORG,
        "title": {"nb": "Data tasks"},
        "dataTypes": [
            {"id": "ref-data-as-pdf", "allowedContentTypes": ["application/pdf"], "maxCount": 0},
            _file("first", maxCount=5),
            _file("second", taskId="Task_2", maxCount=5),
            _file("unbound", taskId=None, maxCount=5),
        ],
    }
    _write(
        root / ORG / TASKS_APP,
        {
            "config/applicationmetadata.json": json.dumps(tasks_metadata, indent=2),
            "config/process/process.bpmn": _bpmn(["Task_1", "Task_2"]),
            "config/authorization/policy.xml": policy(user_rule, org_rule),
            "config/texts/resource.nb.json": _texts(),
            "appsettings.json": json.dumps({"AppSettings": {"EnforceDataTypeTaskId": True}}),
        },
    )
    return root


def write_app(
    root: Path,
    app: str,
    data_types: list[dict[str, Any]],
    *,
    tasks: list[str] | None = None,
    files: dict[str, str] | None = None,
    **metadata: Any,
) -> Path:
    """Write one more ``ttd/{app}`` under ``root`` with the data-rules policy and model schema;
    ``metadata`` adds application metadata members (``copyInstanceSettings``, ...)."""
    user_rule = _rule(
        1,
        [("urn:altinn:rolecode", "priv"), ("urn:altinn:rolecode", "dagl")],
        ["read", "write", "delete", "instantiate"],
    )
    org_rule = _rule(2, [("urn:altinn:org", "[org]")], ["read", "write", "instantiate", "complete"])
    document = {"id": f"{ORG}/{app}", "org": ORG, "title": {"nb": app}, "dataTypes": data_types, **metadata}
    _write(
        root / ORG / app,
        {
            "config/applicationmetadata.json": json.dumps(document, indent=2),
            "config/process/process.bpmn": _bpmn(tasks or ["Task_1"]),
            "config/authorization/policy.xml": policy(user_rule, org_rule),
            "config/texts/resource.nb.json": _texts(),
            "models/model.schema.json": json.dumps(MODEL_SCHEMA, indent=2),
            **(files or {}),
        },
    )
    return root


def form_type(data_type: str, **extra: Any) -> dict[str, Any]:
    """A form data type on Task_1 with the test model (``max_count`` 1 unless given)."""
    return _form(data_type, allowed=[XML, JSON_TYPE], max_count=extra.pop("max_count", 1), **extra)


def file_type(data_type: str, **extra: Any) -> dict[str, Any]:
    """A binary data type on Task_1."""
    return _file(data_type, **extra)


def start_data_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, **overrides: Any
) -> Iterator[LiveServer]:
    """A live server with the bundled, shared and data test apps (for module-scoped fixtures)."""
    from tests.conftest import SHARED_APPS
    from tinn.settings import BUNDLED_APPS_DIR

    apps = write_data_apps(tmp_path_factory.mktemp("data-apps"))
    settings = make_settings(
        database_url, tmp_path_factory.mktemp("data"), apps=[BUNDLED_APPS_DIR, SHARED_APPS, apps], **overrides
    )
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


# -- API helpers --------------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_token(client: httpx.Client, *, user: int = USER, party: int = PARTY, pid: str = PID) -> str:
    response = client.get(
        "/api/GetPersonalToken", params={"userId": user, "partyId": party, "pid": pid, "authLvl": 2}
    )
    assert response.status_code == 200, response.text
    return response.text


def org_token(client: httpx.Client, org: str = "ttd", org_no: str = "405003309") -> str:
    scopes = "altinn:serviceowner/instances.read altinn:serviceowner/instances.write"
    response = client.get("/api/GetEnterpriseToken", params={"org": org, "orgNo": org_no, "scopes": scopes})
    assert response.status_code == 200, response.text
    return response.text


@dataclass
class Api:
    """An instance and a caller, with the data endpoints as methods."""

    client: httpx.Client
    token: str
    instance: dict[str, Any]
    app: str = APP

    @property
    def base(self) -> str:
        return f"/{ORG}/{self.app}/instances/{self.instance['id']}"

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    def as_caller(self, token: str) -> Api:
        return Api(self.client, token, self.instance, self.app)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, f"{self.base}{path}", headers=headers, **kwargs)

    def get_instance(self) -> dict[str, Any]:
        response = self.request("GET", "")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def elements(self, data_type: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.get_instance()["data"] if data_type is None or e["dataType"] == data_type]

    def upload(
        self,
        data_type: str,
        content: bytes | Any = PDF,
        *,
        filename: str | None = "file.pdf",
        content_type: str | None = "application/pdf",
        legacy: bool = False,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent: dict[str, str] = dict(headers or {})
        if filename is not None:
            sent.setdefault("Content-Disposition", f'attachment; filename="{filename}"')
        if content_type is not None:
            sent.setdefault("Content-Type", content_type)
        if legacy:
            return self.request(
                "POST",
                "/data",
                params={"dataType": data_type, **(params or {})},
                content=content,
                headers=sent,
            )
        return self.request("POST", f"/data/type/{data_type}", params=params, content=content, headers=sent)

    def post_form(
        self, data_type: str, data: dict[str, Any] | None, *, params: dict[str, str] | None = None
    ) -> httpx.Response:
        if data is None:
            return self.request("POST", f"/data/type/{data_type}", params=params)
        return self.request("POST", f"/data/type/{data_type}", params=params, json=data)

    def put_form(self, element_id: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.request("PUT", f"/data/{element_id}", json=data, **kwargs)

    def get_data(self, element_id: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", f"/data/{element_id}", **kwargs)

    def form(self, element_id: str) -> dict[str, Any]:
        response = self.get_data(element_id, headers={"Accept": "application/json"})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def model_id(self) -> str:
        return str(self.elements("model")[0]["id"])

    def patch(
        self, patches: list[tuple[str, list[dict[str, Any]]]], ignored: list[str] | None = None
    ) -> httpx.Response:
        body = {
            "patches": [{"dataElementId": e, "patch": ops} for e, ops in patches],
            "ignoredValidators": ignored,
        }
        return self.request("PATCH", "/data", json=body)


def create_instance(client: httpx.Client, token: str, *, app: str = APP, party: int = PARTY) -> Api:
    response = client.post(
        f"/{ORG}/{app}/instances", params={"instanceOwnerPartyId": party}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    return Api(client, token, response.json(), app)


def change(server: LiveServer, api: Api, mutate: Callable[[InstanceTx], None]) -> None:
    """Change an instance directly in the store (states the API gets into by other routes)."""
    guid = uuid.UUID(api.instance["id"].split("/")[1])

    async def run() -> None:
        assert server.services is not None
        async with change_instance(server.services.db, guid) as tx:
            mutate(tx)

    server.run(run())


def end_process(tx: InstanceTx) -> None:
    """The process at its end event, the instance archived (as Storage does at process end)."""
    process = tx.instance.process
    assert process is not None
    now = datetime.now(UTC)
    process.current_task = None
    process.ended = now
    process.end_event = "EndEvent_1"
    tx.instance.status.is_archived = True
    tx.instance.status.archived = now


def leave_task(tx: InstanceTx) -> None:
    """No current task, but not ended either (a process between tasks)."""
    assert tx.instance.process is not None
    tx.instance.process.current_task = None


def lock_elements(tx: InstanceTx) -> None:
    for data in tx.record.elements():
        data.element.locked = True
        tx.mark_dirty(data)


def snapshot(api: Api) -> dict[str, Any]:
    """The instance as its owner's service owner sees it, minus what a read changes."""
    response = api.client.get(api.base, headers=bearer(org_token(api.client)))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def blob_files(server: LiveServer) -> set[str]:
    """Every object in the server's local blob store (orphan checks)."""
    root = Path(server.settings.effective_blob_url.removeprefix("file://"))
    found = set()
    for folder, _, names in os.walk(root):
        if os.path.basename(folder) == ".tmp":
            continue
        for name in names:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_guid() -> str:
    return str(uuid.uuid4())
