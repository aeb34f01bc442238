"""The platform Register and Profile APIs over HTTP: who may read which party, lookups, profiles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.auth import minting as m
from tests.conftest import LiveServer

PARTIES = "/register/api/v1/parties"
LOOKUP = "/register/api/v1/parties/lookup"
ORGANIZATIONS = "/register/api/v1/organizations"
USERS = "/profile/api/v1/users"

Mint = Callable[[LiveServer], str]

_person: Mint = m.person
_service_owner: Mint = m.service_owner
_organisation: Mint = m.organisation
_system_user: Mint = m.system_user
_self_identified: Mint = m.self_identified


def _kari(server: LiveServer) -> str:
    return m.person(server, 1001)


def get(client: httpx.Client, server: LiveServer, mint: Mint, path: str) -> httpx.Response:
    return client.get(path, headers=m.bearer(mint(server)))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json; charset=utf-8"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["traceId"].startswith("00-")
    return body


# --- GET parties/{partyId} ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mint", "party_id", "status"),
    [
        (_person, 501337, 200),  # herself
        (_person, 500000, 200),  # DAGL
        (_person, 500002, 200),  # a sub-unit of 500000, through the hierarchy
        (_person, 500700, 200),  # in her party list
        (_person, 501000, 401),  # no relation
        (_person, 510001, 401),  # another person
        (_kari, 501001, 200),  # sub-unit of her main unit
        (_kari, 500000, 401),
        (_service_owner, 510001, 200),  # service owners read any party
        (_service_owner, 500700, 200),
        (_organisation, 500700, 401),  # Register serves organisations only as service owners
        (_system_user, 500700, 401),
        (_self_identified, 510004, 200),
        (_self_identified, 501337, 401),
    ],
)
def test_get_party_access(
    live_server: LiveServer, client: httpx.Client, mint: Mint, party_id: int, status: int
) -> None:
    response = get(client, live_server, mint, f"{PARTIES}/{party_id}")
    if status == 200:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.json()["partyId"] == party_id
    else:
        assert_problem(response, status)
        assert response.json()["title"] == "Unauthorized"


def test_party_is_served_as_register_writes_it(live_server: LiveServer, client: httpx.Client) -> None:
    person = get(client, live_server, _person, f"{PARTIES}/501337").json()
    assert person["partyTypeName"] == 1  # numeric enum
    assert person["ssn"] == "01039012345"  # the caller's own party is not masked
    assert person["person"]["firstName"] == "Sophie"
    assert person["organization"] is None
    assert person["childParties"] is None
    organisation = get(client, live_server, _service_owner, f"{PARTIES}/500000").json()
    assert organisation["partyTypeName"] == 2
    assert organisation["orgNumber"] == "897069650"
    assert organisation["organization"]["name"]
    assert organisation["person"] is None


def test_unknown_party_is_404_for_a_service_owner_401_for_a_user(
    live_server: LiveServer, client: httpx.Client
) -> None:
    assert_problem(get(client, live_server, _service_owner, f"{PARTIES}/123"), 404)
    assert_problem(get(client, live_server, _person, f"{PARTIES}/123"), 401)


@pytest.mark.parametrize("segment", ["abc", "1.5", "99999999999", "2147483648"])
def test_party_id_must_be_an_int_route_value(
    live_server: LiveServer, client: httpx.Client, segment: str
) -> None:
    response = get(client, live_server, _service_owner, f"{PARTIES}/{segment}")
    assert response.status_code == 404
    assert response.content == b""


def test_party_by_uuid(live_server: LiveServer, client: httpx.Client) -> None:
    sophie_uuid = "e9dd7d91-32d8-4933-a108-07562762d572"
    response = get(client, live_server, _person, f"{PARTIES}/byuuid/{sophie_uuid}")
    assert response.status_code == 200
    assert response.json()["partyId"] == 501337
    assert_problem(get(client, live_server, _kari, f"{PARTIES}/byuuid/{sophie_uuid}"), 401)
    unknown = "00000000-0000-0000-0000-000000000001"
    assert_problem(get(client, live_server, _person, f"{PARTIES}/byuuid/{unknown}"), 401)
    assert_problem(get(client, live_server, _service_owner, f"{PARTIES}/byuuid/{unknown}"), 404)
    not_a_guid = get(client, live_server, _service_owner, f"{PARTIES}/byuuid/not-a-guid")
    assert not_a_guid.status_code == 404
    assert not_a_guid.content == b""


@pytest.mark.parametrize(
    "path", [f"{PARTIES}/501337", f"{ORGANIZATIONS}/950474084", f"{USERS}/1337", f"{USERS}/current"]
)
def test_anonymous_is_401_empty(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.content == b""


# --- POST parties/lookup ------------------------------------------------------------------------


def lookup(client: httpx.Client, token: str, body: Any, **kwargs: Any) -> httpx.Response:
    return client.post(LOOKUP, headers=m.bearer(token), json=body, **kwargs)


@pytest.mark.parametrize(
    ("body", "party_id"),
    [
        ({"ssn": "01039012345"}, 501337),
        ({"orgNo": "950474084"}, 500700),
        ({"ORGNO": "897069650"}, 500000),  # property names match in any case
        ({"ssn": None, "orgNo": "950474084"}, 500700),
    ],
)
def test_lookup_finds_the_party(
    live_server: LiveServer, client: httpx.Client, body: dict[str, Any], party_id: int
) -> None:
    response = lookup(client, m.service_owner(live_server), body)
    assert response.status_code == 200, response.text
    assert response.json()["partyId"] == party_id


def test_lookup_unknown_is_404(live_server: LiveServer, client: httpx.Client) -> None:
    assert_problem(lookup(client, m.service_owner(live_server), {"ssn": "12345678901"}), 404)
    assert_problem(lookup(client, m.service_owner(live_server), {"orgNo": "123456789"}), 404)


def test_lookup_of_a_party_the_caller_may_not_read_is_404(
    live_server: LiveServer, client: httpx.Client
) -> None:
    token = m.person(live_server)
    assert lookup(client, token, {"orgNo": "950474084"}).status_code == 200  # in her party list
    assert_problem(lookup(client, token, {"orgNo": "310000019"}), 404)  # exists, not hers
    assert_problem(lookup(client, token, {"ssn": "14898596282"}), 404)  # another person


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"Ssn": ["Either Ssn or OrgNo is required."], "OrgNo": ["Either Ssn or OrgNo is required."]}),
        (
            {"ssn": None},
            {"Ssn": ["Either Ssn or OrgNo is required."], "OrgNo": ["Either Ssn or OrgNo is required."]},
        ),
        ({"ssn": "01039012345", "orgNo": "950474084"}, {"OrgNo": ["Only one of Ssn and OrgNo is allowed."]}),
        ({"ssn": "0103901234"}, {"Ssn": ["Value needs to be exactly 11 digits."]}),
        ({"ssn": "0103901234x"}, {"Ssn": ["Value needs to be exactly 11 digits."]}),
        ({"orgNo": "95047408"}, {"OrgNo": ["Value needs to be exactly 9 digits."]}),
    ],
)
def test_lookup_validation(
    live_server: LiveServer, client: httpx.Client, body: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    problem = assert_problem(lookup(client, m.service_owner(live_server), body), 400)
    assert problem["title"] == "One or more validation errors occurred."
    assert problem["errors"] == errors


@pytest.mark.parametrize("body", [[1, 2], "01039012345", {"ssn": 1039012345}])
def test_lookup_body_of_the_wrong_shape_is_400(
    live_server: LiveServer, client: httpx.Client, body: Any
) -> None:
    problem = assert_problem(lookup(client, m.service_owner(live_server), body), 400)
    assert "partyLookup" in problem["errors"]


def test_lookup_needs_a_json_body(live_server: LiveServer, client: httpx.Client) -> None:
    headers = m.bearer(m.service_owner(live_server))
    assert_problem(client.post(LOOKUP, headers=headers, content=b'{"ssn": "01039012345"}'), 415)
    text = {**headers, "Content-Type": "text/plain"}
    assert_problem(client.post(LOOKUP, headers=text, content=b'{"ssn": "01039012345"}'), 415)
    as_json = {**headers, "Content-Type": "application/json"}
    assert_problem(client.post(LOOKUP, headers=as_json, content=b"{not json"), 400)
    assert assert_problem(client.post(LOOKUP, headers=as_json, content=b""), 400)["errors"] == {
        "": ["A non-empty request body is required."]
    }


def test_lookup_anonymous_is_401(client: httpx.Client) -> None:
    response = client.post(LOOKUP, json={"ssn": "01039012345"})
    assert response.status_code == 401
    assert response.content == b""


# --- organisations -----------------------------------------------------------------------------


@pytest.mark.parametrize("mint", [_person, _organisation, _system_user, _self_identified])
def test_organisation_for_any_caller(live_server: LiveServer, client: httpx.Client, mint: Mint) -> None:
    response = get(client, live_server, mint, f"{ORGANIZATIONS}/950474084")
    assert response.status_code == 200
    body = response.json()
    assert body["orgNumber"] == "950474084"
    assert body["name"] == "Oslos Vakreste Borettslag"
    assert "eMailAddress" in body


def test_unknown_organisation_is_404(live_server: LiveServer, client: httpx.Client) -> None:
    assert_problem(get(client, live_server, _person, f"{ORGANIZATIONS}/123456789"), 404)


# --- profile -----------------------------------------------------------------------------------


def test_own_profile(live_server: LiveServer, client: httpx.Client) -> None:
    for path in (f"{USERS}/1337", f"{USERS}/current"):
        response = get(client, live_server, _person, path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        body = response.json()
        assert body["userId"] == 1337
        assert body["userName"] == "SophieDDG"
        assert body["partyId"] == 501337
        assert body["party"]["ssn"] == "01039012345"
        assert body["userType"] == 1
        assert body["profileSettingPreference"]["language"] == "nn"


def test_self_identified_profile(live_server: LiveServer, client: httpx.Client) -> None:
    body = get(client, live_server, _self_identified, f"{USERS}/current").json()
    assert body["userId"] == 1004
    assert body["userType"] == 2
    assert body["party"]["partyTypeName"] == 3


@pytest.mark.parametrize(
    ("mint", "user_id", "status"),
    [
        (_person, 1001, 403),  # another user
        (_organisation, 1337, 403),
        (_system_user, 1337, 403),
        (_service_owner, 1001, 200),
        (_service_owner, 424242, 404),
        (_service_owner, 0, 404),
        (_person, 424242, 403),  # no oracle: access is checked first
    ],
)
def test_profile_access(
    live_server: LiveServer, client: httpx.Client, mint: Mint, user_id: int, status: int
) -> None:
    response = get(client, live_server, mint, f"{USERS}/{user_id}")
    assert response.status_code == status
    if status != 200:
        assert response.content == b""


def test_current_profile_needs_a_user_token(live_server: LiveServer, client: httpx.Client) -> None:
    response = get(client, live_server, _service_owner, f"{USERS}/current")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == "Invalid request context. UserId must be provided in claims."


def test_lookup_body_over_the_limit_is_413(live_server: LiveServer, client: httpx.Client) -> None:
    limit = live_server.settings.max_json_body_bytes
    body = b'{"ssn": "01039012345", "padding": "' + b"x" * limit + b'"}'
    headers = {**m.bearer(m.service_owner(live_server)), "Content-Type": "application/json"}
    assert_problem(client.post(LOOKUP, headers=headers, content=body), 413)
