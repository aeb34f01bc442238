"""The App API's party and profile helpers (app notes 1.12) over HTTP, for every kind of caller."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.auth import minting as m
from tests.conftest import LiveServer, make_settings
from tinn.register.loader import DEFAULT_TESTDATA_DIR

BASIC = "/ttd/basic"
SOKNAD = "/ttd/soknad"  # person + organisation allowed, no sub-units; PRIV/DAGL may instantiate
RESTRICTED = "/tdd/contributer-restriction"  # REGNA/DAGL may instantiate
TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"

Mint = Callable[[LiveServer], str]

SOPHIE_PARTIES = [501337, 500000, 500600, 500700, 500800, 500801, 500802, 500004]


def call(
    client: httpx.Client,
    token: str,
    method: str,
    path: str,
    *,
    cookie: str | None = None,
    **params: Any,
) -> httpx.Response:
    headers = m.bearer(token)
    if cookie is not None:
        headers["Cookie"] = f"AltinnPartyId={cookie}"
    return client.request(method, path, headers=headers, params=params)


def ids(parties: list[dict[str, Any]]) -> list[int]:
    return [party["partyId"] for party in parties]


def party_cookie(response: httpx.Response) -> str | None:
    header = response.headers.get("set-cookie")
    if header is None:
        return None
    name, _, rest = header.partition("=")
    assert name == "AltinnPartyId"
    assert "Path=/" in rest
    return rest.split(";", 1)[0]


# --- GET api/v1/parties ------------------------------------------------------------------------


def test_user_party_list(live_server: LiveServer, client: httpx.Client) -> None:
    response = call(client, m.person(live_server), "GET", f"{BASIC}/api/v1/parties")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    parties = response.json()
    assert ids(parties) == SOPHIE_PARTIES  # as Altinn's recording lists them
    own, ddg = parties[0], parties[1]
    assert own["ssn"] == "01039012345"  # her own number is not masked
    assert own["person"] is None and own["childParties"] is None
    assert ids(ddg["childParties"]) == [500001, 500002, 500003]
    assert ddg["partyTypeName"] == 2


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        # Only PRIV and DAGL may instantiate ttd/basic: not 500600 (LEDE) or 500700 (MEDL, REGNA, UTINN).
        (BASIC, {501337: [], 500000: [500001, 500002, 500003], 500004: []}),
        # ttd/soknad admits persons and organisations, but no sub-units (500004 is a BEDR).
        (SOKNAD, {501337: [], 500000: []}),
        # ttd/bekreftelse only persons.
        ("/ttd/bekreftelse", {501337: []}),
        # REGNA is enough for tdd/contributer-restriction, which she holds everywhere.
        (
            RESTRICTED,
            {party: ([500001, 500002, 500003] if party == 500000 else []) for party in SOPHIE_PARTIES},
        ),
    ],
)
def test_parties_allowed_to_instantiate(
    live_server: LiveServer, client: httpx.Client, app: str, expected: dict[int, list[int]]
) -> None:
    token = m.person(live_server)
    for value in ("true", "True", "TRUE"):
        response = call(client, token, "GET", f"{app}/api/v1/parties", allowedToInstantiateFilter=value)
        parties = response.json()
        assert {party["partyId"]: ids(party["childParties"]) for party in parties} == expected
        assert all(not party["onlyHierarchyElementWithNoAccess"] for party in parties)
    unfiltered = call(client, token, "GET", f"{app}/api/v1/parties", allowedToInstantiateFilter="false")
    assert ids(unfiltered.json()) == SOPHIE_PARTIES


def test_a_level_below_the_policys_minimum_leaves_nothing_to_instantiate(
    live_server: LiveServer, client: httpx.Client
) -> None:
    token = m.person(live_server, level=1)
    response = call(client, token, "GET", f"{BASIC}/api/v1/parties", allowedToInstantiateFilter="true")
    assert response.json() == []


def test_bad_filter_value_is_a_validation_problem(live_server: LiveServer, client: httpx.Client) -> None:
    response = call(
        client, m.person(live_server), "GET", f"{BASIC}/api/v1/parties", allowedToInstantiateFilter="yes"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"allowedToInstantiateFilter": ["The value 'yes' is not valid."]}


@pytest.mark.parametrize(
    ("mint", "party_id"),
    [(m.service_owner, 500005), (m.organisation, 500700), (m.system_user, 500700)],
)
def test_other_callers_have_one_party(
    live_server: LiveServer, client: httpx.Client, mint: Mint, party_id: int
) -> None:
    token = mint(live_server)
    for params in ({}, {"allowedToInstantiateFilter": "true"}):
        parties = call(client, token, "GET", f"{BASIC}/api/v1/parties", **params).json()
        assert ids(parties) == [party_id]


def test_self_identified_user_lists_their_party_list(live_server: LiveServer, client: httpx.Client) -> None:
    token = m.self_identified(live_server)
    assert ids(call(client, token, "GET", f"{BASIC}/api/v1/parties").json()) == [510004]
    # Not PRIV, nor level 2: ttd/basic's policy lets a self-identified user instantiate for nobody.
    filtered = call(client, token, "GET", f"{BASIC}/api/v1/parties", allowedToInstantiateFilter="true")
    assert filtered.json() == []


def test_unknown_app_and_anonymous(live_server: LiveServer, client: httpx.Client) -> None:
    response = call(client, m.person(live_server), "GET", "/ttd/nope/api/v1/parties")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"
    for method, path in [
        ("GET", f"{BASIC}/api/v1/parties"),
        ("POST", f"{BASIC}/api/v1/parties/validateInstantiation"),
        ("PUT", f"{BASIC}/api/v1/parties/501337"),
        ("GET", f"{BASIC}/api/authorization/parties/current"),
        ("GET", f"{BASIC}/api/v1/profile/user"),
    ]:
        anonymous = client.request(method, path)
        assert anonymous.status_code == 401, path
        assert anonymous.content == b""


# --- POST api/v1/parties/validateInstantiation -------------------------------------------------


def validate(client: httpx.Client, token: str, app: str, party_id: str | None) -> dict[str, Any]:
    params = {} if party_id is None else {"partyId": party_id}
    response = call(client, token, "POST", f"{app}/api/v1/parties/validateInstantiation", **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert list(body) == ["valid", "customTextKey", "customTextParameters", "message", "validParties"]
    return body


def test_validate_instantiation_for_a_user(live_server: LiveServer, client: httpx.Client) -> None:
    token = m.person(live_server)
    assert validate(client, token, SOKNAD, "500000") == {
        "valid": True,
        "customTextKey": None,
        "customTextParameters": None,
        "message": None,
        "validParties": None,
    }
    sub_unit = validate(client, token, SOKNAD, "500004")
    assert sub_unit["valid"] is False
    assert sub_unit["message"] == "The supplied party is not allowed to instantiate the application"
    assert ids(sub_unit["validParties"]) == [501337, 500000]
    stranger = validate(client, token, SOKNAD, "501000")
    assert stranger["message"] == "The user does not represent the supplied party"
    assert (
        validate(client, token, SOKNAD, None)["message"] == "The user does not represent the supplied party"
    )


def test_validate_instantiation_for_other_callers(live_server: LiveServer, client: httpx.Client) -> None:
    assert validate(client, m.service_owner(live_server), BASIC, "12345")["valid"] is True
    system_user = m.system_user(live_server)
    assert validate(client, system_user, BASIC, "500700")["valid"] is True  # "instantiate" is delegated
    other = validate(client, system_user, BASIC, "501337")
    assert other["message"] == "The user does not represent the supplied party"
    assert ids(other["validParties"]) == [500700]
    # An organisation represents itself, but ttd/basic's policy gives organisations no rights.
    organisation = validate(client, m.organisation(live_server), BASIC, "500700")
    assert organisation["message"] == "The supplied party is not allowed to instantiate the application"


def test_validate_instantiation_bad_party_id(live_server: LiveServer, client: httpx.Client) -> None:
    response = call(
        client, m.person(live_server), "POST", f"{BASIC}/api/v1/parties/validateInstantiation", partyId="x1"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"partyId": ["The value 'x1' is not valid."]}


# --- PUT api/v1/parties/{partyId} --------------------------------------------------------------


@pytest.mark.parametrize(
    ("mint", "party_id", "message"),
    [
        (m.person, 500000, None),
        (m.person, 500003, None),  # a sub-unit in her list
        (m.person, 510001, "User 1337 cannot represent party 510001."),
        (m.service_owner, 500005, None),
        (m.service_owner, 500700, "Service owner ttd cannot represent party 500700."),
        (m.system_user, 500700, None),
        (m.system_user, 501337, f"System user {m.SYSTEM_USER} cannot represent party 501337."),
        (m.organisation, 500700, None),
        (m.organisation, 500600, "Org 950474084 cannot represent party 500600."),
        (m.self_identified, 510004, None),
        (m.self_identified, 501337, "User 1004 cannot represent party 501337."),
    ],
)
def test_select_party(
    live_server: LiveServer, client: httpx.Client, mint: Mint, party_id: int, message: str | None
) -> None:
    response = call(client, mint(live_server), "PUT", f"{BASIC}/api/v1/parties/{party_id}")
    assert response.headers["content-type"] == TEXT
    if message is None:
        assert response.status_code == 200
        assert response.text == "Party successfully updated"
        assert party_cookie(response) == str(party_id)
    else:
        assert response.status_code == 400
        assert response.text == message
        assert party_cookie(response) is None


def test_select_party_id_must_be_a_number(live_server: LiveServer, client: httpx.Client) -> None:
    response = call(client, m.person(live_server), "PUT", f"{BASIC}/api/v1/parties/abc")
    assert response.status_code == 400
    assert response.json()["errors"] == {"partyId": ["The value 'abc' is not valid."]}


# --- GET api/authorization/parties/current ----------------------------------------------------


def current(client: httpx.Client, token: str, *, cookie: str | None = None, **params: Any) -> httpx.Response:
    response = call(
        client, token, "GET", f"{BASIC}/api/authorization/parties/current", cookie=cookie, **params
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    return response


def test_current_party_follows_the_cookie_set_by_put(live_server: LiveServer, client: httpx.Client) -> None:
    token = m.person(live_server)
    assert current(client, token).json() == 501337
    selected = party_cookie(call(client, token, "PUT", f"{BASIC}/api/v1/parties/500000"))
    response = current(client, token, cookie=selected)
    assert response.json() == 500000
    assert party_cookie(response) is None
    party = current(client, token, cookie=selected, returnPartyObject="true").json()
    assert party["partyId"] == 500000
    assert party["organization"]["orgNumber"] == "897069650"


def test_current_party_returns_the_users_own_party_object(
    live_server: LiveServer, client: httpx.Client
) -> None:
    party = current(client, m.person(live_server), cookie="501337", returnPartyObject="true").json()
    assert party["partyId"] == 501337
    assert party["person"]["ssn"] == "01039012345"


@pytest.mark.parametrize("cookie", ["501000", "510001", "999999", "abc", ""])
def test_current_party_falls_back_to_own_and_resets_the_cookie(
    live_server: LiveServer, client: httpx.Client, cookie: str
) -> None:
    response = current(client, m.person(live_server), cookie=cookie)
    assert response.json() == 501337
    assert party_cookie(response) == "501337"


def test_current_party_ignores_a_bad_flag(live_server: LiveServer, client: httpx.Client) -> None:
    # AuthorizationController is no [ApiController]: a bad bool binds as false.
    assert current(client, m.person(live_server), returnPartyObject="maybe").json() == 501337


@pytest.mark.parametrize(
    ("mint", "party_id"),
    [
        (m.service_owner, 500005),
        (m.organisation, 500700),
        (m.system_user, 500700),
        (m.self_identified, 510004),
    ],
)
def test_current_party_of_other_callers(
    live_server: LiveServer, client: httpx.Client, mint: Mint, party_id: int
) -> None:
    token = mint(live_server)
    # The cookie does not move anyone but users.
    assert current(client, token, cookie="501337").json() == party_id
    assert current(client, token, returnPartyObject="true").json()["partyId"] == party_id


def test_current_party_of_an_organisation_not_in_the_register(
    live_server: LiveServer, client: httpx.Client
) -> None:
    token = m.organisation(live_server, "123456785")
    response = call(client, token, "GET", f"{BASIC}/api/authorization/parties/current")
    assert response.status_code == 404
    assert call(client, token, "GET", f"{BASIC}/api/v1/parties").json() == []


# --- GET api/v1/profile/user -------------------------------------------------------------------


def test_profile_of_a_user(live_server: LiveServer, client: httpx.Client) -> None:
    response = call(client, m.person(live_server), "GET", f"{BASIC}/api/v1/profile/user")
    assert response.status_code == 200
    profile = response.json()
    assert profile["userId"] == 1337
    assert profile["party"]["partyId"] == 501337
    assert profile["profileSettingPreference"] == {
        "language": "nn",
        "preSelectedPartyId": 0,
        "doNotPromptForParty": True,
    }
    self_identified = call(client, m.self_identified(live_server), "GET", f"{BASIC}/api/v1/profile/user")
    assert self_identified.json()["userName"] == "SelvRegistrert"


@pytest.mark.parametrize(
    ("mint", "kind"),
    [(m.service_owner, "ServiceOwner"), (m.organisation, "Org"), (m.system_user, "SystemUser")],
)
def test_profile_of_a_non_user_is_400(
    live_server: LiveServer, client: httpx.Client, mint: Mint, kind: str
) -> None:
    response = call(client, mint(live_server), "GET", f"{BASIC}/api/v1/profile/user")
    assert response.status_code == 400
    assert response.headers["content-type"] == TEXT
    assert response.text == f"Unknown authentication context: {kind}"


# --- masking, with a register where a user represents another person ---------------------------


@pytest.fixture(scope="module")
def kari_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The built-in register plus REGNA for Kari Nordmann (1001) on Liv Eriksen's party (510007)."""
    folder = tmp_path_factory.mktemp("register") / "testdata"
    shutil.copytree(DEFAULT_TESTDATA_DIR, folder)
    roles = folder / "authorization" / "roles" / "User_1001" / "party_510007" / "roles.json"
    roles.parent.mkdir(parents=True)
    roles.write_text(json.dumps([{"Type": "altinn", "value": "REGNA"}]))
    settings = make_settings(database_url, tmp_path_factory.mktemp("kari"), register_dir=folder)
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


def test_other_persons_numbers_are_masked_in_party_lists(kari_server: LiveServer) -> None:
    token = m.person(kari_server, 1001)
    with httpx.Client(base_url=kari_server.url) as client:
        parties = call(client, token, "GET", f"{BASIC}/api/v1/parties").json()
        by_id = {party["partyId"]: party for party in parties}
        assert list(by_id) == [510001, 501000, 510007]
        assert by_id[510001]["ssn"] == "14898596282"
        assert by_id[510007]["ssn"] == "058155*****"
        # ttd/basic wants PRIV or DAGL: REGNA for Liv is not enough to instantiate for her.
        basic = call(
            client, token, "GET", f"{BASIC}/api/v1/parties", allowedToInstantiateFilter="true"
        ).json()
        assert ids(basic) == [510001, 501000]
        restricted = call(
            client, token, "GET", f"{RESTRICTED}/api/v1/parties", allowedToInstantiateFilter="true"
        ).json()
        assert [(p["partyId"], p["ssn"]) for p in restricted] == [(501000, ""), (510007, "058155*****")]
        # She may still act for Liv, and then sees Liv's party as the register has it.
        selected = party_cookie(call(client, token, "PUT", f"{BASIC}/api/v1/parties/510007"))
        party = current(client, token, cookie=selected, returnPartyObject="true").json()
        assert party["ssn"] == "05815531282"
