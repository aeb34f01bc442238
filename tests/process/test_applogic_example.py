"""The worked app-logic example of docs/apps.md, run as it stands there: the `logic/__init__.py`
block is written into an app folder next to the metadata, process, model and policy the page
describes, and every hook is exercised over HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, LiveServer, make_settings
from tests.data import factories as f

APP = "reiseregning"


def example_logic() -> str:
    text = (REPO / "docs" / "apps.md").read_text("utf-8")
    [block] = re.findall(
        r"<!-- tinn:applogic -->\n```python\n(.*?)```\n<!-- /tinn:applogic -->", text, re.DOTALL
    )
    return str(block)


def _task(task_id: str, task_type: str, incoming: list[str], outgoing: list[str], actions: str = "") -> str:
    flows = "".join(f"<bpmn:incoming>{i}</bpmn:incoming>" for i in incoming)
    flows += "".join(f"<bpmn:outgoing>{o}</bpmn:outgoing>" for o in outgoing)
    return (
        f'<bpmn:task id="{task_id}">{flows}<bpmn:extensionElements><altinn:taskExtension>'
        f"<altinn:taskType>{task_type}</altinn:taskType>{actions}"
        "</altinn:taskExtension></bpmn:extensionElements></bpmn:task>"
    )


PROCESS = (
    '<?xml version="1.0" encoding="utf-8"?>\n<bpmn:definitions id="d" '
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:altinn="http://altinn.no/process">'
    '<bpmn:process id="p" isExecutable="false">'
    '<bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
    + _task(
        "Task_1",
        "data",
        ["f0"],
        ["f1"],
        '<altinn:actions><altinn:action type="serverAction">eksempel</altinn:action></altinn:actions>',
    )
    + '<bpmn:exclusiveGateway id="Gateway_Godkjenning"><bpmn:incoming>f1</bpmn:incoming>'
    "<bpmn:outgoing>Til_Godkjenning</bpmn:outgoing><bpmn:outgoing>Rett_Til_Slutt</bpmn:outgoing>"
    "</bpmn:exclusiveGateway>"
    + _task(
        "Task_2",
        "confirmation",
        ["Til_Godkjenning"],
        ["f2"],
        "<altinn:actions><altinn:action>confirm</altinn:action></altinn:actions>",
    )
    + '<bpmn:endEvent id="EndEvent_1"><bpmn:incoming>f2</bpmn:incoming>'
    "<bpmn:incoming>Rett_Til_Slutt</bpmn:incoming></bpmn:endEvent>"
    '<bpmn:sequenceFlow id="f0" sourceRef="StartEvent_1" targetRef="Task_1" />'
    '<bpmn:sequenceFlow id="f1" sourceRef="Task_1" targetRef="Gateway_Godkjenning" />'
    '<bpmn:sequenceFlow id="Til_Godkjenning" sourceRef="Gateway_Godkjenning" targetRef="Task_2" />'
    '<bpmn:sequenceFlow id="Rett_Til_Slutt" sourceRef="Gateway_Godkjenning" targetRef="EndEvent_1" />'
    '<bpmn:sequenceFlow id="f2" sourceRef="Task_2" targetRef="EndEvent_1" />'
    "</bpmn:process></bpmn:definitions>\n"
)

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "reise.schema.json",
    "type": "object",
    "@xsdRootElement": "reise",
    "properties": {
        "navn": {"type": "string"},
        "formal": {"type": "string"},
        "belop": {"type": "number"},
        "mva": {"type": "number"},
        "valuta": {"type": "string"},
    },
}


def write_example_app(root: Path) -> Path:
    people = [("urn:altinn:rolecode", "priv"), ("urn:altinn:rolecode", "dagl")]
    metadata = {
        "id": f"ttd/{APP}",
        "org": "ttd",
        "title": {"nb": "Reiseregning"},
        "dataTypes": [
            {"id": "ref-data-as-pdf", "allowedContentTypes": ["application/pdf"], "maxCount": 0},
            {
                "id": "reise",
                "allowedContentTypes": ["application/xml"],
                "appLogic": {"classRef": "Altinn.App.Models.Reise", "autoCreate": True},
                "taskId": "Task_1",
                "minCount": 1,
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
                f._rule(1, people, ["read", "write", "instantiate"]),
                f._rule(2, people, ["eksempel"], task="Task_1"),
                f._rule(3, people, ["confirm"], task="Task_2"),
            ),
            "config/texts/resource.nb.json": json.dumps(
                {"language": "nb", "resources": [{"id": "appName", "value": "Reiseregning"}]}
            ),
            "models/reise.schema.json": json.dumps(SCHEMA),
            "logic/__init__.py": example_logic(),
        },
    )
    return root


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    apps = write_example_app(tmp_path_factory.mktemp("example-apps"))
    live = LiveServer(make_settings(database_url, tmp_path_factory.mktemp("data"), apps=[apps])).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
def api(http: httpx.Client) -> f.Api:
    return f.create_instance(http, f.user_token(http), app=APP)


def claim(api: f.Api, **values: object) -> dict[str, object]:
    [element] = api.elements("reise")
    response = api.put_form(element["id"], {"navn": "Kari", **values})
    assert response.status_code in (200, 201), response.text
    return api.form(element["id"])


def test_instantiation_validator_refuses_organisations(http: httpx.Client) -> None:
    response = http.post(
        f"/ttd/{APP}/instances", params={"instanceOwnerPartyId": 500000}, headers=f.bearer(f.user_token(http))
    )
    assert response.status_code == 403, response.text
    assert response.json()["message"] == "Reiseregninger sendes inn av personer, ikke av virksomheter."


def test_data_creation_and_data_processor(api: f.Api) -> None:
    [element] = api.elements("reise")
    assert api.form(element["id"])["valuta"] == "NOK"
    stored = claim(api, belop=20000, valuta="NOK")
    assert Decimal(str(stored["mva"])) == Decimal(5000)


def test_validator_blocks_next(api: f.Api) -> None:
    claim(api, belop=0)
    response = api.request("PUT", "/process/next")
    assert response.status_code == 409, response.text
    [issue] = response.json()["validationIssues"]
    assert issue["source"] == "Reise.BelopValidator-reise"
    assert (issue["code"], issue["field"]) == ("belop-positivt", "belop")
    assert api.request("GET", "/process").json()["currentTask"]["elementId"] == "Task_1"


@pytest.mark.parametrize(("amount", "approval"), [(20000, True), (500, False)])
def test_gateway_decider_sends_large_amounts_to_approval(api: f.Api, amount: int, approval: bool) -> None:
    claim(api, belop=amount)
    moved = api.request("PUT", "/process/next")
    assert moved.status_code == 200, moved.text
    if approval:
        assert moved.json()["currentTask"]["elementId"] == "Task_2"
        moved = api.request("PUT", "/process/next", json={"action": "confirm"})
        assert moved.status_code == 200, moved.text
    assert moved.json()["ended"] is not None


def test_server_action_fills_in_the_example(api: f.Api) -> None:
    response = api.request("POST", "/actions", json={"action": "eksempel"})
    assert response.status_code == 200, response.text
    [element] = api.elements("reise")
    updated = response.json()["updatedDataModels"][element["id"]]
    assert updated["formal"] == "Kurs i Bergen"
    stored = api.form(element["id"])
    assert (stored["formal"], Decimal(str(stored["belop"]))) == ("Kurs i Bergen", Decimal(4200))
    # As in Altinn, data an action returns is stored as it is: the data processors do not run.
    assert stored["mva"] is None
