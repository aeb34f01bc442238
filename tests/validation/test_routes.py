"""`GET .../validate` and the obsolete `GET .../data/{id}/validate` over HTTP, on the shared
`ttd/multiple-datamodels-test` (layout-required fields and expression rules in two models)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer
from tests.data import factories as f

APP = "multiple-datamodels-test"


@pytest.fixture
def api(client: httpx.Client) -> f.Api:
    return f.create_instance(client, f.user_token(client), app=APP)


def issues(api: f.Api, **params: str) -> list[dict[str, object]]:
    response = api.request("GET", "/validate", params=params)
    assert response.status_code == 200, response.text
    body: list[dict[str, object]] = response.json()
    return body


def test_validate_lists_the_required_fields_of_both_models(api: f.Api) -> None:
    found = issues(api)
    by_type = {api.elements(t)[0]["id"]: t for t in ("modell1", "modell2")}
    fields = sorted((by_type[str(i["dataElementId"])], i["field"]) for i in found)
    assert fields == [
        ("modell1", "tekstfelt"),
        ("modell2", "selectedperson.age"),
        ("modell2", "selectedperson.name"),
        ("modell2", "selectedperson.profession"),
        ("modell2", "tekstfelt"),
    ]
    assert all(i["source"] == "Required" and i["severity"] == 1 for i in found)


def test_ignored_validators_and_only_incremental(api: f.Api) -> None:
    element_id = api.elements("modell1")[0]["id"]
    assert api.put_form(element_id, {"tekstfelt": "feil"}).status_code in (200, 201)
    sources = {i["source"] for i in issues(api)}
    assert sources == {"Required", "Expression"}
    assert {i["source"] for i in issues(api, ignoredValidators=" Required ,x")} == {"Expression"}
    # Required and Expression are incremental; the task's count/content validators are not and
    # find nothing here.
    assert {i["source"] for i in issues(api, onlyIncrementalValidators="true")} == sources
    assert issues(api, onlyIncrementalValidators="false") == []


def test_validate_data_element_filters_to_the_element(api: f.Api) -> None:
    element_id = api.elements("modell1")[0]["id"]
    response = api.request("GET", f"/data/{element_id}/validate")
    assert response.status_code == 200, response.text
    assert [(i["dataElementId"], i["field"]) for i in response.json()] == [(element_id, "tekstfelt")]
    unknown = api.request("GET", f"/data/{f.new_guid()}/validate")
    assert unknown.status_code == 404


def test_validate_data_element_of_another_task_warns(api: f.Api) -> None:
    required = {"tekstfelt": "ok"}
    assert api.put_form(api.elements("modell1")[0]["id"], required).status_code in (200, 201)
    person = {"tekstfelt": "ok", "selectedperson": {"name": "Kari", "age": "41", "profession": "Snekker"}}
    assert api.put_form(api.elements("modell2")[0]["id"], person).status_code in (200, 201)
    assert api.request("PUT", "/process/next").status_code == 200
    modell1 = api.elements("modell1")[0]["id"]
    response = api.request("GET", f"/data/{modell1}/validate")
    assert response.status_code == 200, response.text
    [warning] = response.json()
    assert warning["code"] == "DataElementValidatedAtWrongTask"
    assert warning["severity"] == 2
    assert warning["customTextParams"] == ["Task_1", "Task_2"]


def test_validate_without_a_current_task_is_409(live_server: LiveServer, api: f.Api) -> None:
    f.change(live_server, api, f.leave_task)
    response = api.request("GET", "/validate")
    assert response.status_code == 409
    assert response.json()["detail"] == "Unable to validate instance without a started process."


def test_validate_needs_read(client: httpx.Client, api: f.Api) -> None:
    stranger = api.as_caller(f.user_token(client, user=1002, party=510002, pid="03877293407"))
    assert stranger.request("GET", "/validate").status_code == 403
    assert api.request("GET", "/validate", headers={"Authorization": ""}).status_code == 401
