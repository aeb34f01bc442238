"""The worked app-logic example of docs/apps.md, the bundled demo app `ttd/reiseregning`: its
`logic/__init__.py` is the block the page shows, and every hook of it is exercised over HTTP."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import httpx
import pytest
from pypdf import PdfReader

from tests.conftest import REPO
from tests.data import factories as f
from tinn.settings import BUNDLED_APPS_DIR

APP = "reiseregning"


def docs_block() -> str:
    text = (REPO / "docs" / "apps.md").read_text("utf-8")
    [block] = re.findall(
        r"<!-- tinn:applogic -->\n```python\n(.*?)```\n<!-- /tinn:applogic -->", text, re.DOTALL
    )
    return str(block)


def test_docs_block_is_the_shipped_logic() -> None:
    shipped = (BUNDLED_APPS_DIR / "ttd" / APP / "logic" / "__init__.py").read_text("utf-8")
    assert docs_block() == shipped


@pytest.fixture
def api(client: httpx.Client) -> f.Api:
    return f.create_instance(client, f.user_token(client), app=APP)


def claim(api: f.Api, **values: object) -> dict[str, object]:
    [element] = api.elements("reise")
    response = api.put_form(element["id"], {"navn": "Kari", **values})
    assert response.status_code in (200, 201), response.text
    return api.form(element["id"])


def test_instantiation_validator_refuses_organisations(client: httpx.Client) -> None:
    response = client.post(
        f"/ttd/{APP}/instances",
        params={"instanceOwnerPartyId": 500000},
        headers=f.bearer(f.user_token(client)),
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


def test_receipt_has_the_labels_of_the_layout(api: f.Api) -> None:
    claim(api, formal="Kurs i Bergen", belop=500, valuta="NOK")
    moved = api.request("PUT", "/process/next")
    assert moved.status_code == 200, moved.text
    [pdf] = api.elements("ref-data-as-pdf")
    reader = PdfReader(io.BytesIO(api.get_data(pdf["id"]).content))
    text = "".join(page.extract_text() for page in reader.pages)
    for label in ("Navn", "Formål med reisen", "Beløp", "Valuta", "Kurs i Bergen", "Kari"):
        assert label in text, label
    # The label comes from the layout, the value from the data processor.
    assert text.split("Merverdiavgift", 1)[1].split()[0] == "125"


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
