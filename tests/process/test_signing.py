"""The built-in `sign` action on a signing task: a locked SignDocument with the hashes of what was signed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, make_settings
from tests.data import factories as f

APP = "signing"

SIGNING_BPMN = """<?xml version="1.0" encoding="utf-8"?>
<bpmn:definitions id="d" xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:altinn="http://altinn.no/process">
  <bpmn:process id="p" isExecutable="false">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:task id="Task_1"><bpmn:incoming>f0</bpmn:incoming><bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:extensionElements><altinn:taskExtension><altinn:taskType>data</altinn:taskType></altinn:taskExtension></bpmn:extensionElements>
    </bpmn:task>
    <bpmn:task id="Task_2"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:extensionElements><altinn:taskExtension>
        <altinn:taskType>signing</altinn:taskType>
        <altinn:actions><altinn:action>sign</altinn:action></altinn:actions>
        <altinn:signatureConfig>
          <altinn:dataTypesToSign><altinn:dataType>attachment</altinn:dataType></altinn:dataTypesToSign>
          <altinn:signatureDataType>signature</altinn:signatureDataType>
        </altinn:signatureConfig>
      </altinn:taskExtension></bpmn:extensionElements>
    </bpmn:task>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="StartEvent_1" targetRef="Task_1" />
    <bpmn:sequenceFlow id="f1" sourceRef="Task_1" targetRef="Task_2" />
    <bpmn:sequenceFlow id="f2" sourceRef="Task_2" targetRef="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>
"""


def write_signing_app(root: Path) -> Path:
    user_rule = f._rule(1, [("urn:altinn:rolecode", "priv")], ["read", "write", "instantiate"])
    sign_rule = f._rule(2, [("urn:altinn:rolecode", "priv")], ["sign"], task="Task_2")
    metadata = {
        "id": f"ttd/{APP}",
        "org": "ttd",
        "title": {"nb": "Signering"},
        "dataTypes": [
            {"id": "ref-data-as-pdf", "allowedContentTypes": ["application/pdf"], "maxCount": 0},
            {"id": "attachment", "taskId": "Task_1", "maxCount": 2, "minCount": 1},
            {
                "id": "signature",
                "taskId": "Task_2",
                "allowedContentTypes": ["application/json"],
                "maxCount": 0,
            },
        ],
    }
    f._write(
        root / "ttd" / APP,
        {
            "config/applicationmetadata.json": json.dumps(metadata),
            "config/process/process.bpmn": SIGNING_BPMN,
            "config/authorization/policy.xml": f.policy(user_rule, sign_rule),
            "config/texts/resource.nb.json": f._texts(),
        },
    )
    return root


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    apps = write_signing_app(tmp_path_factory.mktemp("signing-apps"))
    settings = make_settings(database_url, tmp_path_factory.mktemp("data"), apps=[apps])
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def api(server: LiveServer) -> Iterator[f.Api]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield f.create_instance(client, f.user_token(client), app=APP)


def to_signing(api: f.Api) -> str:
    uploaded = api.upload("attachment", f.PDF)
    assert uploaded.status_code == 200, uploaded.text
    moved = api.request("PUT", "/process/next")
    assert moved.status_code == 200, moved.text
    assert moved.json()["currentTask"]["altinnTaskType"] == "signing"
    return str(uploaded.json()["newDataElementId"])


def test_sign_via_next_stores_a_locked_sign_document_and_ends(api: f.Api) -> None:
    attachment_id = to_signing(api)
    response = api.request("PUT", "/process/next", json={"action": "sign"})
    assert response.status_code == 200, response.text
    assert response.json()["ended"] is not None
    [signature] = api.elements("signature")
    assert signature["locked"] is True
    document = api.get_data(signature["id"]).json()
    assert document["signeeInfo"]["userId"] == "1337"
    assert document["signeeInfo"]["personNumber"] == "01039012345"
    assert document["dataElementSignatures"] == [
        {"dataElementId": attachment_id, "sha256Hash": hashlib.sha256(f.PDF).hexdigest(), "signed": True}
    ]


def test_sign_action_twice_replaces_the_signature_of_the_same_signee(api: f.Api) -> None:
    to_signing(api)
    for _ in range(2):
        response = api.request("POST", "/actions", json={"action": "sign"})
        assert response.status_code == 200, response.text
        assert response.json()["error"] is None
    assert len(api.elements("signature")) == 1
    assert api.request("GET", "/process").json()["currentTask"]["elementId"] == "Task_2"


def test_sign_outside_a_signing_task_is_refused(api: f.Api) -> None:
    api.upload("attachment", f.PDF)
    response = api.request("POST", "/actions", json={"action": "sign"})
    assert response.status_code == 403
    assert api.elements("signature") == []
