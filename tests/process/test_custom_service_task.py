"""A service task type of the app's own (`@logic.service_task`): it runs when the process enters
it, the action it returns drives the gateway after it (Altinn's FailedContinueProcessNext with
`reject`), and an exception leaves the process in the task as a failed built-in task does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, make_settings
from tests.data import factories as f

APP = "kontroll"

PROCESS = """<?xml version="1.0" encoding="utf-8"?>
<bpmn:definitions id="d" xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:altinn="http://altinn.no/process">
  <bpmn:process id="p" isExecutable="false">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:task id="Task_1"><bpmn:incoming>f0</bpmn:incoming><bpmn:incoming>Til_Retting</bpmn:incoming>
      <bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:extensionElements><altinn:taskExtension><altinn:taskType>data</altinn:taskType></altinn:taskExtension></bpmn:extensionElements>
    </bpmn:task>
    <bpmn:serviceTask id="Task_Kontroll"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:extensionElements><altinn:taskExtension><altinn:taskType>kontroll</altinn:taskType></altinn:taskExtension></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:exclusiveGateway id="Gateway_1"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>Til_Retting</bpmn:outgoing><bpmn:outgoing>Godkjent</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>Godkjent</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="StartEvent_1" targetRef="Task_1" />
    <bpmn:sequenceFlow id="f1" sourceRef="Task_1" targetRef="Task_Kontroll" />
    <bpmn:sequenceFlow id="f2" sourceRef="Task_Kontroll" targetRef="Gateway_1" />
    <bpmn:sequenceFlow id="Til_Retting" sourceRef="Gateway_1" targetRef="Task_1">
      <bpmn:conditionExpression>["equals", ["gatewayAction"], "reject"]</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Godkjent" sourceRef="Gateway_1" targetRef="EndEvent_1">
      <bpmn:conditionExpression>["notEquals", ["gatewayAction"], "reject"]</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>
"""

LOGIC = """
def register(logic):
    @logic.service_task("kontroll")
    async def check(ctx, task_id, read):
        [(_, data)] = await read("skjema")
        if data.get("belop") is None:
            raise RuntimeError("the amount is missing")
        return "reject" if data["belop"] > 1000 else None
"""

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "skjema.schema.json",
    "type": "object",
    "@xsdRootElement": "skjema",
    "properties": {"belop": {"type": "integer"}},
}


def write_app(root: Path) -> Path:
    priv = [("urn:altinn:rolecode", "priv")]
    metadata = {
        "id": f"ttd/{APP}",
        "org": "ttd",
        "title": {"nb": "Kontroll"},
        "dataTypes": [
            {"id": "ref-data-as-pdf", "allowedContentTypes": ["application/pdf"], "maxCount": 0},
            {
                "id": "skjema",
                "allowedContentTypes": ["application/xml"],
                "appLogic": {"classRef": "Altinn.App.Models.Skjema", "autoCreate": True},
                "taskId": "Task_1",
                "enablePdfCreation": False,
                "maxCount": 1,
            },
        ],
    }
    f._write(
        root / "ttd" / APP,
        {
            "config/applicationmetadata.json": json.dumps(metadata),
            "config/process/process.bpmn": PROCESS,
            "config/authorization/policy.xml": f.policy(
                f._rule(1, priv, ["read", "write", "instantiate"]),
                f._rule(2, priv, ["reject"], task="Task_Kontroll"),
            ),
            "config/texts/resource.nb.json": f._texts(),
            "models/skjema.schema.json": json.dumps(SCHEMA),
            "logic/__init__.py": LOGIC,
        },
    )
    return root


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    apps = write_app(tmp_path_factory.mktemp("kontroll-apps"))
    live = LiveServer(make_settings(database_url, tmp_path_factory.mktemp("data"), apps=[apps])).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def api(server: LiveServer) -> Iterator[f.Api]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield f.create_instance(client, f.user_token(client), app=APP)


def fill(api: f.Api, amount: int | None) -> None:
    [element] = api.elements("skjema")
    assert api.put_form(element["id"], {"belop": amount}).status_code in (200, 201)


def next_state(api: f.Api, **kwargs: Any) -> dict[str, Any]:
    response = api.request("PUT", "/process/next", **kwargs)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def test_a_passing_check_ends_the_process(api: f.Api) -> None:
    fill(api, 500)
    assert next_state(api)["ended"] is not None


def test_a_check_returning_reject_sends_the_process_back(api: f.Api) -> None:
    fill(api, 5000)
    state = next_state(api)
    assert state["currentTask"]["elementId"] == "Task_1"
    assert state["currentTask"]["flowType"] == "AbandonCurrentMoveToNext"
    [element] = api.elements("skjema")
    assert element["locked"] is False
    fill(api, 900)
    assert next_state(api)["ended"] is not None


def test_a_failing_check_leaves_the_process_in_the_task(api: f.Api) -> None:
    fill(api, None)
    failed = api.request("PUT", "/process/next")
    assert failed.status_code == 500, failed.text
    assert failed.json()["title"] == "Service task failed!"
    assert "the amount is missing" in failed.json()["detail"]
    assert api.request("GET", "/process").json()["currentTask"]["elementId"] == "Task_Kontroll"
    # Running it again fails again; reject (permitted in the task) leaves it.
    assert api.request("PUT", "/process/next").status_code == 500
    state = next_state(api, json={"action": "reject"})
    assert state["currentTask"]["elementId"] == "Task_1"
    fill(api, 10)
    assert next_state(api)["ended"] is not None
