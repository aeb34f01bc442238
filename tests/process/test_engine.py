"""The process engine over HTTP, on the bundled `ttd/bekreftelse` app (data -> confirmation -> end)."""

from __future__ import annotations

import io
import threading
import uuid

import httpx
import pytest
from pypdf import PdfReader

from tests.conftest import LiveServer
from tests.data import factories as f
from tinn.instances.store import load_events
from tinn.storage.tables import cloud_events

APP = "bekreftelse"

VALID = {
    "navn": "Ola Nordmann",
    "fodselsnummer": "01039012345",
    "nyAdresse": {"gateadresse": "Storgata 1", "postnummer": "0155", "poststed": "Oslo"},
    "flyttedato": "2026-12-01",
}


@pytest.fixture
def api(client: httpx.Client) -> f.Api:
    return f.create_instance(client, f.user_token(client), app=APP)


def form_id(api: f.Api) -> str:
    return str(api.elements("flyttemelding")[0]["id"])


def fill(api: f.Api) -> None:
    response = api.put_form(form_id(api), VALID)
    assert response.status_code in (200, 201), response.text


def event_types(server: LiveServer, api: f.Api) -> list[str | None]:
    guid = uuid.UUID(api.instance["id"].split("/")[1])

    async def load() -> list[str | None]:
        assert server.services is not None
        async with server.services.db.read() as conn:
            return [e.event_type for e in await load_events(conn, guid)]

    return server.run(load())


def outbox_types(server: LiveServer, api: f.Api) -> list[str]:
    instance_id = api.instance["id"]

    async def load() -> list[str]:
        assert server.services is not None
        async with server.services.db.read() as conn:
            rows = (await conn.execute(cloud_events.select())).mappings().all()
        return [str(row["type"]) for row in rows if str(row["source"]).endswith(instance_id)]

    return server.run(load())


def test_instantiation_leaves_the_instance_in_the_first_task(api: f.Api) -> None:
    process = api.request("GET", "/process").json()
    assert process["currentTask"]["elementId"] == "Task_1"
    assert process["currentTask"]["altinnTaskType"] == "data"
    assert process["currentTask"]["actions"]["write"] is True
    assert {"id": "write", "authorized": True, "type": "ProcessAction"} in process["currentTask"][
        "userActions"
    ]
    assert [t["elementId"] for t in process["processTasks"]] == ["Task_1", "Task_2"]


def test_validation_gate_blocks_next_with_issues_and_changes_nothing(api: f.Api) -> None:
    before = api.get_instance()
    response = api.request("PUT", "/process/next")
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["title"] == "Validation failed for task"
    assert body["validationIssues"], body
    assert all(issue["severity"] in (1, 2, 3, 4, 5) for issue in body["validationIssues"])
    after = api.get_instance()
    assert after["process"] == before["process"]
    assert after["data"] == before["data"]


def test_next_locks_data_writes_the_receipt_and_events_then_ends(live_server: LiveServer, api: f.Api) -> None:
    fill(api)
    moved = api.request("PUT", "/process/next")
    assert moved.status_code == 200, moved.text
    state = moved.json()
    assert state["currentTask"]["elementId"] == "Task_2"
    assert state["currentTask"]["altinnTaskType"] == "confirmation"
    assert moved.headers["ETag"]

    instance = api.get_instance()
    form = next(e for e in instance["data"] if e["dataType"] == "flyttemelding")
    assert form["locked"] is True
    [pdf] = [e for e in instance["data"] if e["dataType"] == "ref-data-as-pdf"]
    receipt = api.get_data(pdf["id"])
    assert receipt.status_code == 200
    assert receipt.content.startswith(b"%PDF")

    # The locked form cannot be changed any more.
    assert api.put_form(form["id"], VALID).status_code in (403, 409)

    ended = api.request("PUT", "/process/next")
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended"] is not None
    assert ended.json()["currentTask"] is None
    final = api.get_instance()
    assert final["status"]["isArchived"] is True
    assert final["status"]["archived"] is not None

    types = event_types(live_server, api)
    for expected in (
        "Created",
        "process_StartEvent",
        "process_StartTask",
        "process_EndTask",
        "process_EndEvent",
        "Submited",
    ):
        assert expected in types, (expected, types)
    published = outbox_types(live_server, api)
    assert "app.instance.process.movedTo.Task_2" in published
    assert "app.instance.process.completed" in published

    history = api.request("GET", "/process/history")
    assert history.status_code == 200
    steps = history.json()["processHistory"]
    assert [s.get("elementId") for s in steps if s.get("eventType") == "process_StartTask"] == [
        "Task_1",
        "Task_2",
    ]

    # An ended process cannot move.
    again = api.request("PUT", "/process/next")
    assert again.status_code == 409


def test_numbers_in_the_form_data_reach_the_receipt(api: f.Api) -> None:
    response = api.put_form(form_id(api), {**VALID, "antallPersoner": 12})
    assert response.status_code in (200, 201), response.text
    moved = api.request("PUT", "/process/next")
    assert moved.status_code == 200, moved.text
    [pdf] = api.elements("ref-data-as-pdf")
    text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(api.get_data(pdf["id"]).content)).pages
    )
    assert "12" in text and "Ola Nordmann" in text


def test_if_match_mismatch_is_412(api: f.Api) -> None:
    fill(api)
    response = api.request("PUT", "/process/next", headers={"If-Match": '"stale-1"'})
    assert response.status_code == 412
    assert api.request("GET", "/process").json()["currentTask"]["elementId"] == "Task_1"


def test_concurrent_next_moves_exactly_once(live_server: LiveServer, api: f.Api) -> None:
    fill(api)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def call() -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as http:
            barrier.wait()
            response = http.put(
                f"/ttd/{APP}/instances/{api.instance['id']}/process/next", headers=api.headers
            )
            results.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 409], results
    assert api.request("GET", "/process").json()["currentTask"]["elementId"] == "Task_2"
    assert event_types(live_server, api).count("process_EndTask") == 1


def test_complete_process_runs_to_the_end(api: f.Api) -> None:
    fill(api)
    response = api.request("PUT", "/process/completeProcess")
    assert response.status_code == 200, response.text
    assert response.json()["ended"] is not None
    assert api.get_instance()["status"]["isArchived"] is True


def test_wrong_action_for_the_task_is_forbidden(api: f.Api) -> None:
    fill(api)
    response = api.request("PUT", "/process/next", json={"action": "confirm"})
    assert response.status_code == 403
    assert api.request("GET", "/process").json()["currentTask"]["elementId"] == "Task_1"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1]", "application/json"),
        (b"<a><!ENTITY x>", "application/xml"),
    ],
)
def test_bad_next_bodies_are_400(api: f.Api, body: bytes, content_type: str) -> None:
    response = api.request("PUT", "/process/next", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 400, response.text


def test_other_user_may_not_move_the_process(client: httpx.Client, api: f.Api) -> None:
    fill(api)
    stranger = api.as_caller(f.user_token(client, user=1002, party=501200, pid="14898596282"))
    assert stranger.request("PUT", "/process/next").status_code == 403


def test_actions_endpoint_reports_unknown_actions(api: f.Api) -> None:
    response = api.request("POST", "/actions", json={"action": "write"})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "ActionNotFound"
    missing = api.request("POST", "/actions", json={})
    assert missing.status_code == 400
