"""Signing tasks: the built-in `sign` action (a locked SignDocument with the hashes of what was
signed), the signing validators of the process/next gate and the `GET .../signing` endpoints."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest

from tests.conftest import LiveServer, make_settings
from tests.data import factories as f
from tinn.instances.store import read_instance
from tinn.storage.blobs.base import iterate_bytes

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
          <altinn:signingPdfDataType>signing-pdf</altinn:signingPdfDataType>
          <altinn:runDefaultValidator>true</altinn:runDefaultValidator>
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
            {"id": "signing-pdf", "allowedContentTypes": ["application/pdf"], "maxCount": 1},
            {
                "id": "signature",
                "taskId": "Task_2",
                "allowedContentTypes": ["application/json"],
                "maxCount": 0,
                "minCount": 1,
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
    # The signing task's end made its signing PDF in signingPdfDataType.
    [signing_pdf] = api.elements("signing-pdf")
    assert signing_pdf["locked"] is True
    assert signing_pdf["references"] == [
        {"value": "Task_2", "relation": "GeneratedFrom", "valueType": "Task"}
    ]
    content = api.get_data(signing_pdf["id"]).content
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)
    assert "Oppgave Task_2" in text
    assert "signature.json" in text  # the SignDocument is listed with its hash
    assert hashlib.sha256(f.PDF).hexdigest()[:16] in text


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


MISSING = "Altinn.App.Core.Features.Validation.Default.SigningTaskValidator-*"
HASH = "Altinn.App.Core.Features.Validation.Default.SignatureHashValidator-*"


def errors(api: f.Api) -> list[dict[str, Any]]:
    response = api.request("GET", "/validate")
    assert response.status_code == 200, response.text
    return [issue for issue in response.json() if issue["severity"] == 1]


def test_next_without_a_signature_is_stopped_by_the_signing_validator(api: f.Api) -> None:
    to_signing(api)
    # write moves a signing task too, through the same gate.
    response = api.request("PUT", "/process/next", json={"action": "write"})
    assert response.status_code == 409, response.text
    blocked = api.request("PUT", "/process/next")
    assert blocked.status_code == 409, blocked.text
    issues = blocked.json()["validationIssues"]
    [missing] = [i for i in issues if i["source"] == MISSING]
    assert missing["code"] == "MissingSignatures"
    assert missing["description"] == "Det mangler påkrevde signaturer."
    assert missing["severity"] == 1
    assert api.request("GET", "/process").json()["currentTask"]["elementId"] == "Task_2"

    signed = api.request("POST", "/actions", json={"action": "sign"})
    assert signed.status_code == 200, signed.text
    assert errors(api) == []
    assert api.request("PUT", "/process/next").json()["ended"] is not None


def test_changed_signed_data_fails_the_hash_validator(server: LiveServer, api: f.Api) -> None:
    attachment_id = to_signing(api)
    assert api.request("POST", "/actions", json={"action": "sign"}).status_code == 200
    assert errors(api) == []

    async def tamper() -> None:
        assert server.services is not None
        record = await read_instance(server.services.db, uuid.UUID(api.instance["id"].split("/")[1]))
        assert record is not None
        stored = record.element(attachment_id)
        assert stored is not None and stored.blob_key is not None
        await server.services.blobs.put(stored.blob_key, iterate_bytes(b"%PDF-1.4 changed after signing"))

    server.run(tamper())
    [invalid] = errors(api)
    assert (invalid["source"], invalid["code"]) == (HASH, "InvalidSignatureHash")
    blocked = api.request("PUT", "/process/next")
    assert blocked.status_code == 409
    assert [i["code"] for i in blocked.json()["validationIssues"]] == ["InvalidSignatureHash"]


def test_signing_endpoints_outside_a_signing_task_are_400(api: f.Api) -> None:
    for path in ("/signing", "/signing/organizations", "/signing/data-elements"):
        response = api.request("GET", path)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["title"] == "Not a signing task"
    # Naming the signing task works before the process gets there.
    named = api.request("GET", "/signing", params={"taskId": "Task_2"})
    assert named.status_code == 200, named.text
    assert named.json() == {"signeeStates": []}
    assert api.request("GET", "/signing", params={"taskId": "Task_1"}).status_code == 400


def test_signing_state_lists_who_signed(api: f.Api) -> None:
    to_signing(api)
    assert api.request("GET", "/signing").json() == {"signeeStates": []}
    assert api.request("POST", "/actions", json={"action": "sign"}).status_code == 200
    response = api.request("GET", "/signing")
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers["Cache-Control"]
    [state] = response.json()["signeeStates"]
    signed_time = state.pop("signedTime")
    assert signed_time is not None
    assert state == {
        "name": "Sophie Salt",
        "organization": None,
        "delegationSuccessful": False,
        "notificationStatus": "NotSent",
        "partyId": f.PARTY,
    }


def test_signing_data_elements_are_the_data_types_to_sign(api: f.Api) -> None:
    first = to_signing(api)
    response = api.request("GET", "/signing/data-elements")
    assert response.status_code == 200, response.text
    [element] = response.json()["dataElements"]
    assert element["id"] == first
    assert element["dataType"] == "attachment"
    assert element["selfLinks"]["apps"].endswith(f"/ttd/{APP}/instances/{api.instance['id']}/data/{first}")


def test_signing_organisations_are_the_key_role_organisations_of_the_user(api: f.Api) -> None:
    to_signing(api)
    response = api.request("GET", "/signing/organizations")
    assert response.status_code == 200, response.text
    organisations = response.json()["organizations"]
    # Sophie is DAGL of DDG Fitness AS (and so of its sub-units), but only REGNA of the housing cooperative.
    assert {"orgNumber": "897069650", "orgName": "DDG Fitness AS", "partyId": 500000} in organisations
    assert all(o["partyId"] != 500700 for o in organisations)


def test_sign_on_behalf_of_an_organisation(api: f.Api) -> None:
    to_signing(api)
    refused = api.request("PUT", "/process/next", json={"action": "sign", "actionOnBehalfOf": "950474084"})
    assert refused.status_code == 403, refused.text
    assert api.elements("signature") == []
    response = api.request("PUT", "/process/next", json={"action": "sign", "actionOnBehalfOf": "897069650"})
    assert response.status_code == 200, response.text
    [signature] = api.elements("signature")
    document = api.get_data(signature["id"]).json()
    assert document["signeeInfo"]["organisationNumber"] == "897069650"
