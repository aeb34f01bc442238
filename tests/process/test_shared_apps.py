"""The apps of `../shared/apps` run their processes end to end over HTTP.

Each test fills in what the app's validation asks for, moves the process with `PUT process/next`
and checks where every gateway sent it: `ttd/frontend-test` on its form data (`GwTargetTask`,
`UseCustomConfirm`) and on the action (`reject` back to `Task_5`), `ttd/stateless-app` on
`gatewayShouldFail`, `ttd/service-tasks` through its PDF and eFormidling service tasks and its
`reject` loop back to `Task_1`. The apps are used exactly as they are in `../shared`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.data import factories as f
from tinn.instances.store import load_events

SYSTEM_USER = "d111dbab-d619-4f15-bf29-58fe570a9ae6"  # 913312465_sbs for 950474084 (party 500700)
HOUSING_COOPERATIVE = 500700  # Sophie is REGNA there
DDG_FITNESS = 500000  # Sophie is DAGL there


@dataclass
class AppApi(f.Api):
    """An instance of any app (the data factories' helper is for `ttd` apps only)."""

    org: str = "ttd"

    @property
    def base(self) -> str:
        return f"/{self.org}/{self.app}/instances/{self.instance['id']}"

    def as_caller(self, token: str) -> AppApi:
        return AppApi(self.client, token, self.instance, self.app, self.org)

    def next(self, action: str | None = None) -> httpx.Response:
        return self.request("PUT", "/process/next", json={"action": action} if action else None)

    def moved(self, action: str | None = None) -> dict[str, Any]:
        """`process/next` that must succeed; the new process state."""
        response = self.next(action)
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()
        return state

    def task(self) -> str | None:
        current = self.request("GET", "/process").json()["currentTask"]
        return current["elementId"] if current else None

    def form_of(self, data_type: str) -> tuple[str, dict[str, Any]]:
        [element] = self.elements(data_type)
        return str(element["id"]), self.form(element["id"])

    def fill(self, data_type: str, **values: Any) -> None:
        element_id, data = self.form_of(data_type)
        data.update(values)
        response = self.put_form(element_id, data)
        assert response.status_code in (200, 201), response.text

    def errors(self) -> list[dict[str, Any]]:
        response = self.request("GET", "/validate")
        assert response.status_code == 200, response.text
        return [issue for issue in response.json() if issue["severity"] == 1]


def instantiate(client: httpx.Client, token: str, org: str, app: str, party: int) -> AppApi:
    response = client.post(
        f"/{org}/{app}/instances", params={"instanceOwnerPartyId": party}, headers=f.bearer(token)
    )
    assert response.status_code == 201, response.text
    return AppApi(client, token, response.json(), app, org)


async def broken_renderer(*args: Any, **kwargs: Any) -> bytes:
    """Stands in for the PDF renderer when it is down (the live server runs in this process)."""
    raise RuntimeError("the PDF renderer is down")


def system_user_token(client: httpx.Client) -> str:
    response = client.get("/api/GetSystemUserToken", params={"systemUserId": SYSTEM_USER})
    assert response.status_code == 200, response.text
    return response.text


def event_types(server: LiveServer, api: AppApi) -> list[str | None]:
    guid = uuid.UUID(api.instance["id"].split("/")[1])

    async def load() -> list[str | None]:
        assert server.services is not None
        async with server.services.db.read() as conn:
            return [e.event_type for e in await load_events(conn, guid)]

    return server.run(load())


def assert_ended(api: AppApi, state: dict[str, Any], reader: AppApi | None = None) -> None:
    """The process ended and the instance is archived with its data locked (read by ``reader``
    where the app's policy lets the user read only during the tasks)."""
    assert state["ended"] is not None, state
    assert state["currentTask"] is None
    assert state["endEvent"] == "EndEvent_1"
    instance = (reader or api).get_instance()
    assert instance["status"]["isArchived"] is True
    assert all(element["locked"] for element in instance["data"]), instance["data"]


def started_tasks(server: LiveServer, api: AppApi) -> list[str | None]:
    """The tasks the process entered, in order, from the instance events (the history endpoint
    merges a task visited twice into one item, as Storage does)."""
    guid = uuid.UUID(api.instance["id"].split("/")[1])

    async def load() -> list[str | None]:
        assert server.services is not None
        async with server.services.db.read() as conn:
            events = await load_events(conn, guid)
        return [
            e.process_info.current_task.element_id
            for e in events
            if e.event_type == "process_StartTask" and e.process_info and e.process_info.current_task
        ]

    return server.run(load())


@pytest.fixture
def user(client: httpx.Client) -> str:
    return f.user_token(client)


# -- ttd/basic ----------------------------------------------------------------------------------------


def test_basic_one_data_task_to_the_end_with_a_receipt(client: httpx.Client, user: str) -> None:
    api = instantiate(client, user, "ttd", "basic", f.PARTY)
    assert api.task() == "Task_1"
    assert api.upload("attachment", f.PDF).status_code == 200
    state = api.moved()
    assert_ended(api, state)
    [pdf] = api.elements("ref-data-as-pdf")
    assert pdf["references"] == [{"value": "Task_1", "relation": "GeneratedFrom", "valueType": "Task"}]
    assert api.get_data(pdf["id"]).content.startswith(b"%PDF")


# -- ttd/multiple-datamodels-test ---------------------------------------------------------------------

PERSON = {"name": "Kari", "age": "41", "profession": "Snekker"}


def test_multiple_datamodels_gate_holds_until_both_models_of_task_1_are_valid(
    live_server: LiveServer, client: httpx.Client, user: str
) -> None:
    api = instantiate(client, user, "ttd", "multiple-datamodels-test", f.PARTY)
    blocked = api.next()
    assert blocked.status_code == 409, blocked.text
    fields = {(i["source"], i["field"]) for i in blocked.json()["validationIssues"] if i["severity"] == 1}
    assert ("Required", "tekstfelt") in fields
    assert ("Required", "selectedperson.name") in fields

    # modell1's expression rule makes "feil" an error; the same value is only a warning in modell2.
    api.fill("modell1", tekstfelt="feil")
    api.fill("modell2", tekstfelt="feil", selectedperson=PERSON)
    errors = api.errors()
    assert [(e["source"], e["field"], e["code"]) for e in errors] == [
        ("Expression", "tekstfelt", "Feil er feil")
    ]
    assert api.next().status_code == 409
    assert api.task() == "Task_1"

    api.fill("modell1", tekstfelt="riktig")
    state = api.moved()
    assert state["currentTask"]["elementId"] == "Task_2"
    assert {e["dataType"]: e["locked"] for e in api.elements() if e["dataType"] != "ref-data-as-pdf"} == {
        "modell1": True,
        "modell2": True,
        "modell3": False,
    }
    for issue in api.errors():
        assert issue["dataElementId"] == api.elements("modell3")[0]["id"], issue
    fill_required(api, "modell3")
    assert_ended(api, api.moved())
    assert started_tasks(live_server, api) == ["Task_1", "Task_2"]


def fill_required(api: AppApi, data_type: str) -> None:
    """Give every field the Required validator names a value its schema accepts."""
    element_id, data = api.form_of(data_type)
    for issue in api.errors():
        assert issue["source"] == "Required", issue
        target = data
        *parents, leaf = str(issue["field"]).split(".")
        for name in parents:
            child = target.get(name)
            if not isinstance(child, dict):
                child = target[name] = {}
            target = child
        target[leaf] = "1"
    response = api.put_form(element_id, data)
    assert response.status_code in (200, 201), response.text
    assert api.errors() == []


# -- ttd/frontend-test ----------------------------------------------------------------------------------


@pytest.fixture
def frontend(client: httpx.Client, user: str) -> AppApi:
    return instantiate(client, user, "ttd", "frontend-test", f.PARTY)


def test_frontend_gateway_without_a_chosen_task_cannot_move(frontend: AppApi) -> None:
    # Every flow out of Gateway_0 has a condition on GwTargetTask; none holds for an empty form.
    response = frontend.next()
    assert response.status_code == 500, response.text
    assert "unexpectedly null" in response.json()["detail"]
    assert frontend.task() == "Task_1"
    assert not frontend.elements("message")[0]["locked"]


@pytest.mark.parametrize("target", ["Task_2", "Task_3", "Task_4", "Task_5"])
def test_frontend_gateway_0_follows_gw_target_task(frontend: AppApi, target: str) -> None:
    frontend.fill("message", GwTargetTask=target)
    state = frontend.moved()
    assert state["currentTask"]["elementId"] == target
    assert state["currentTask"]["flow"] == 3
    # The data types of the task the gateway chose are created; those of the skipped tasks are not.
    expected = {
        "Task_2": "ServiceModel-test",
        "Task_3": "nested-group",
        "Task_4": "likert",
        "Task_5": "datalist",
    }
    created = {e["dataType"] for e in frontend.elements()}
    assert expected[target] in created
    assert created.isdisjoint(set(expected.values()) - {expected[target]})


def test_frontend_default_confirm_branch_to_the_end(live_server: LiveServer, frontend: AppApi) -> None:
    frontend.fill("message", GwTargetTask="Task_4")
    assert frontend.moved()["currentTask"]["elementId"] == "Task_4"
    assert frontend.moved()["currentTask"]["elementId"] == "Task_5"
    frontend.fill("datalist", UseCustomConfirm=False)
    state = frontend.moved()
    assert state["currentTask"]["elementId"] == "Task_Default_Confirm"
    assert state["currentTask"]["altinnTaskType"] == "confirmation"
    assert state["currentTask"]["actions"] == {"read": True, "write": True, "confirm": True}
    assert_ended(frontend, frontend.moved("confirm"))
    assert started_tasks(live_server, frontend) == ["Task_1", "Task_4", "Task_5", "Task_Default_Confirm"]


def test_frontend_custom_confirm_rejects_back_to_task_5_then_confirms(
    live_server: LiveServer, frontend: AppApi
) -> None:
    frontend.fill("message", GwTargetTask="Task_5")
    assert frontend.moved()["currentTask"]["elementId"] == "Task_5"
    frontend.fill("datalist", UseCustomConfirm=True)
    state = frontend.moved()
    assert state["currentTask"]["elementId"] == "Task_Custom_Confirm"
    assert state["currentTask"]["actions"] == {"read": True, "write": True, "reject": True, "confirm": True}
    assert frontend.elements("datalist")[0]["locked"] is True

    # Gateway_2: ["equals", ["gatewayAction"], "reject"] leads back to Task_5, abandoning the task.
    rejected = frontend.moved("reject")
    assert rejected["currentTask"]["elementId"] == "Task_5"
    assert rejected["currentTask"]["flowType"] == "AbandonCurrentMoveToNext"
    assert frontend.elements("datalist")[0]["locked"] is False
    assert "process_AbandonTask" in event_types(live_server, frontend)

    # Now the default confirm: Gateway_1 reads the changed form data.
    frontend.fill("datalist", UseCustomConfirm=False)
    assert frontend.moved()["currentTask"]["elementId"] == "Task_Default_Confirm"
    assert_ended(frontend, frontend.moved())


def test_frontend_custom_confirm_with_confirm_ends(frontend: AppApi) -> None:
    frontend.fill("message", GwTargetTask="Task_5")
    frontend.moved()
    frontend.fill("datalist", UseCustomConfirm=True)
    assert frontend.moved()["currentTask"]["elementId"] == "Task_Custom_Confirm"
    # Gateway_2: ["equals", ["gatewayAction"], "confirm"] leads to the end.
    assert_ended(frontend, frontend.moved("confirm"))


def test_frontend_custom_confirm_without_an_action_matches_no_flow(frontend: AppApi) -> None:
    frontend.fill("message", GwTargetTask="Task_5")
    frontend.moved()
    frontend.fill("datalist", UseCustomConfirm=True)
    frontend.moved()
    # No action: gatewayAction is null, neither "reject" nor "confirm" holds.
    response = frontend.next()
    assert response.status_code == 500, response.text
    assert frontend.task() == "Task_Custom_Confirm"


def test_frontend_all_data_tasks_in_order(live_server: LiveServer, frontend: AppApi) -> None:
    frontend.fill("message", GwTargetTask="Task_2")
    frontend.moved()
    for task in ("Task_2", "Task_3", "Task_4", "Task_5"):
        assert frontend.task() == task
        state = frontend.next()
        if task == "Task_5":
            # UseCustomConfirm unset: neither condition of Gateway_1 holds.
            assert state.status_code == 500, state.text
            frontend.fill("datalist", UseCustomConfirm=False)
            state = frontend.next()
        assert state.status_code == 200, state.text
    assert frontend.task() == "Task_Default_Confirm"
    assert_ended(frontend, frontend.moved())
    pdfs = frontend.elements("ref-data-as-pdf")
    generated = sorted(ref["value"] for pdf in pdfs for ref in pdf["references"])
    assert generated == ["Task_1", "Task_2", "Task_3", "Task_4", "Task_5"]


# -- ttd/stateless-app ----------------------------------------------------------------------------------


@pytest.fixture
def stateless(client: httpx.Client, user: str) -> AppApi:
    return instantiate(client, user, "ttd", "stateless-app", DDG_FITNESS)


def to_feedback(api: AppApi, *, should_fail: bool) -> None:
    assert api.moved()["currentTask"]["elementId"] == "Task_2"
    api.fill("task2", gatewayShouldFail=should_fail)
    state = api.moved()
    assert state["currentTask"]["elementId"] == "Task_3"
    assert state["currentTask"]["altinnTaskType"] == "feedback"


def test_stateless_app_feedback_then_end(
    live_server: LiveServer, client: httpx.Client, stateless: AppApi
) -> None:
    to_feedback(stateless, should_fail=False)
    # The service owner gives the feedback and moves the process on.
    owner = stateless.as_caller(f.org_token(client))
    assert_ended(stateless, owner.moved())
    assert started_tasks(live_server, stateless) == ["Task_1", "Task_2", "Task_3"]


def test_stateless_app_gateway_sends_a_failed_feedback_to_the_error_task_and_back(
    live_server: LiveServer, client: httpx.Client, stateless: AppApi
) -> None:
    to_feedback(stateless, should_fail=True)
    owner = stateless.as_caller(f.org_token(client))
    assert owner.moved()["currentTask"]["elementId"] == "Task_4"
    # Task_4 (error) is a data task on task2's layout set; its data type is still task2's.
    assert stateless.moved()["currentTask"]["elementId"] == "Task_2"
    assert stateless.elements("task2")[0]["locked"] is False
    stateless.fill("task2", gatewayShouldFail=False)
    assert stateless.moved()["currentTask"]["elementId"] == "Task_3"
    assert_ended(stateless, owner.moved())
    assert started_tasks(live_server, stateless) == [
        "Task_1",
        "Task_2",
        "Task_3",
        "Task_4",
        "Task_2",
        "Task_3",
    ]


# -- ttd/service-tasks ------------------------------------------------------------------------------------


@pytest.fixture
def service_tasks(client: httpx.Client) -> AppApi:
    # An end-user system: the system user of the housing cooperative, which may also reject.
    return instantiate(client, system_user_token(client), "ttd", "service-tasks", HOUSING_COOPERATIVE)


def test_service_tasks_run_on_their_own_to_the_end(live_server: LiveServer, service_tasks: AppApi) -> None:
    state = service_tasks.moved()
    assert_ended(service_tasks, state)
    # Task_1's own receipt (its form data keeps enablePdfCreation) and the PDF service task's.
    pdfs = service_tasks.elements("ref-data-as-pdf")
    assert sorted(ref["value"] for pdf in pdfs for ref in pdf["references"]) == ["Task_1", "Task_2"]
    types = event_types(live_server, service_tasks)
    assert started_tasks(live_server, service_tasks) == ["Task_1", "Task_2", "Task_3"]
    assert types.count("process_EndTask") == 3
    assert types[-2:] == ["process_EndEvent", "Submited"]


def test_service_tasks_reject_loop_after_a_failed_pdf(
    live_server: LiveServer, service_tasks: AppApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinn.process import service_tasks as module

    monkeypatch.setattr(module, "render_task_pdf", broken_renderer)
    failed = service_tasks.next()
    assert failed.status_code == 500, failed.text
    assert failed.json()["title"] == "Service task failed!"
    # The move into the service task stands; the task did not run.
    assert service_tasks.task() == "Task_2"
    [receipt] = service_tasks.elements("ref-data-as-pdf")
    assert receipt["references"][0]["value"] == "Task_1"
    assert service_tasks.elements("Model")[0]["locked"] is True

    # Retrying runs the service task again (still failing); a user action is refused.
    assert service_tasks.next().status_code == 500
    unsupported = service_tasks.next("confirm")
    assert unsupported.status_code == 409, unsupported.text
    assert unsupported.json()["title"] == "User action not supported!"

    # reject skips the service task; Gateway_1 sends the process back to Task_1.
    rejected = service_tasks.moved("reject")
    assert rejected["currentTask"]["elementId"] == "Task_1"
    assert rejected["currentTask"]["flowType"] == "AbandonCurrentMoveToNext"
    assert service_tasks.elements("Model")[0]["locked"] is False
    assert "process_AbandonTask" in event_types(live_server, service_tasks)

    monkeypatch.undo()
    assert_ended(service_tasks, service_tasks.moved())
    assert started_tasks(live_server, service_tasks) == ["Task_1", "Task_2", "Task_1", "Task_2", "Task_3"]
    assert len(service_tasks.elements("ref-data-as-pdf")) == 2


def test_service_task_refuses_a_user_without_reject_rights(
    client: httpx.Client, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinn.process import service_tasks as module

    api = instantiate(client, user, "ttd", "service-tasks", DDG_FITNESS)
    monkeypatch.setattr(module, "render_task_pdf", broken_renderer)
    assert api.next().status_code == 500
    # The app's policy gives DAGL read and write in Task_2, not reject.
    assert api.next("reject").status_code == 403
    assert api.task() == "Task_2"


# -- tdd/* --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["contributer-restriction", "permissive-app"])
def test_tdd_single_task_apps_run_to_the_end(client: httpx.Client, user: str, app: str) -> None:
    api = instantiate(client, user, "tdd", app, DDG_FITNESS)
    assert api.task() == "Task_1"
    if app == "contributer-restriction":
        # Its layout marks the name required (and RequiredValidation is on).
        assert [e["field"] for e in api.errors()] == ["melding.name"]
        assert api.next().status_code == 409
        fill_required(api, "default")
    assert api.errors() == []
    state = api.moved()
    # The policy lets DAGL read only in Task_1; the service owner reads the archived instance.
    assert api.request("GET", "").status_code == 403
    assert_ended(api, state, reader=api.as_caller(f.org_token(client, org="tdd")))


def test_contributer_restriction_reject_in_task_1_needs_the_right(client: httpx.Client, user: str) -> None:
    # Task_1 declares reject, but the policy gives nobody that action.
    api = instantiate(client, user, "tdd", "contributer-restriction", DDG_FITNESS)
    assert api.next("reject").status_code == 403
    assert api.next("action_defined_in_bpmn_but_unauthorized").status_code == 403
    assert api.task() == "Task_1"


def test_task_action_policy_names_another_app_so_nobody_may_instantiate(
    client: httpx.Client, user: str
) -> None:
    # tdd/task-action's policy.xml is written for "task-actions": no rule ever matches this app.
    for token in (user, f.org_token(client, org="tdd")):
        response = client.post(
            "/tdd/task-action/instances",
            params={"instanceOwnerPartyId": DDG_FITNESS},
            headers=f.bearer(token),
        )
        assert response.status_code == 403, response.text


def test_service_tasks_complete_process_runs_a_failed_service_task_again(
    service_tasks: AppApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinn.process import service_tasks as module

    monkeypatch.setattr(module, "render_task_pdf", broken_renderer)
    assert service_tasks.next().status_code == 500
    assert service_tasks.task() == "Task_2"
    monkeypatch.undo()
    response = service_tasks.request("PUT", "/process/completeProcess")
    assert response.status_code == 200, response.text
    assert_ended(service_tasks, response.json())
    pdfs = service_tasks.elements("ref-data-as-pdf")
    assert sorted(ref["value"] for pdf in pdfs for ref in pdf["references"]) == ["Task_1", "Task_2"]


def test_service_task_run_again_replaces_its_pdf(
    service_tasks: AppApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinn.process import engine as module

    real = module.next_element

    async def stuck_after_task_2(definition: Any, current_id: str, action: str | None, **kwargs: Any) -> Any:
        if current_id == "Task_2":
            raise module.NavigationError("the gateway cannot be evaluated")
        return await real(definition, current_id, action, **kwargs)

    def task_2_pdfs() -> int:
        pdfs = service_tasks.elements("ref-data-as-pdf")
        return sum(1 for pdf in pdfs for ref in pdf["references"] if ref["value"] == "Task_2")

    monkeypatch.setattr(module, "next_element", stuck_after_task_2)
    # The PDF service task ran, but the move after it failed: the process stays in Task_2.
    assert service_tasks.next().status_code == 500
    assert service_tasks.task() == "Task_2"
    assert task_2_pdfs() == 1
    # Running it again replaces its PDF instead of adding a second one.
    assert service_tasks.next().status_code == 500
    assert task_2_pdfs() == 1
    monkeypatch.undo()
    assert_ended(service_tasks, service_tasks.moved())
    assert task_2_pdfs() == 1
