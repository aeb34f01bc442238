"""App API instance endpoints after creation (app notes 1.1): GET, DELETE, complete, substatus,
active; ETag/If-Match and Idempotency-Key (Tinn additions); bad input never changes anything."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.data import factories as f
from tests.instances.app_env import (
    OWNER_TEMPLATE,
    SOKNAD,
    SOKNAD_XML,
    Tokens,
    active_ids,
    multipart,
    start_server,
    stored_ids,
)

RULES = "/ttd/data-rules/instances"
PRECONDITION = {
    "title": "Precondition Failed",
    "status": 412,
    "detail": "The instance has changed since the given ETag.",
}
REUSED = {
    "title": "Idempotency key reused",
    "status": 409,
    "detail": "This Idempotency-Key was used for a different request. Use a new key for a new request.",
}


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(database_url, tmp_path_factory)


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


@pytest.fixture
def tokens(client: httpx.Client) -> Tokens:
    return Tokens(
        user=f.user_token(client),
        other=f.user_token(client, user=1001, party=510001, pid="14898596282"),
        org=f.org_token(client),
    )


@pytest.fixture
def api(client: httpx.Client, tokens: Tokens) -> f.Api:
    return f.create_instance(client, tokens.user)


def empty(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.content == b""


def problem(response: httpx.Response, expected: dict[str, Any]) -> None:
    assert response.status_code == expected["status"], response.text
    body = response.json()
    assert {key: body.get(key) for key in expected} == expected


def as_org(api: f.Api, tokens: Tokens) -> dict[str, Any]:
    """The instance as the service owner sees it (does not mark it read)."""
    return f.snapshot(api)


# -- Idempotency-Key -------------------------------------------------------------------------------------


def test_a_retried_create_returns_the_first_response(client: httpx.Client, tokens: Tokens) -> None:
    before = stored_ids(client, tokens, "soknad")
    headers = {**f.bearer(tokens.user), "Idempotency-Key": "retry-json-1"}
    first = client.post(SOKNAD, params={"instanceOwnerPartyId": f.PARTY}, headers=headers)
    second = client.post(SOKNAD, params={"instanceOwnerPartyId": f.PARTY}, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert stored_ids(client, tokens, "soknad") == before | {first.json()["id"]}


def test_a_retried_multipart_create_returns_the_first_response(client: httpx.Client, tokens: Tokens) -> None:
    before = stored_ids(client, tokens, "soknad")
    body, content_type = multipart(
        ("instance", OWNER_TEMPLATE, "application/json", None),
        ("soknad", SOKNAD_XML, "application/xml", None),
    )
    headers = {**f.bearer(tokens.user), "Content-Type": content_type, "Idempotency-Key": "retry-multipart-1"}
    first = client.post(SOKNAD, content=body, headers=headers)
    second = client.post(SOKNAD, content=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert stored_ids(client, tokens, "soknad") == before | {first.json()["id"]}


@pytest.mark.parametrize("change", ["body", "query", "route"])
def test_the_same_key_for_another_request_is_409(client: httpx.Client, tokens: Tokens, change: str) -> None:
    key = f"reuse-{change}"
    headers = {**f.bearer(tokens.user), "Idempotency-Key": key}
    first = client.post(SOKNAD, json={"instanceOwner": {"partyId": "501337"}}, headers=headers)
    assert first.status_code == 201, first.text
    before = stored_ids(client, tokens, "soknad") | stored_ids(client, tokens, "soknad", 500000)
    if change == "body":
        again = client.post(SOKNAD, json={"instanceOwner": {"partyId": "500000"}}, headers=headers)
    elif change == "query":
        again = client.post(SOKNAD, params={"instanceOwnerPartyId": 500000}, headers=headers)
    else:
        again = client.post(
            f"{SOKNAD}/create", json={"instanceOwner": {"partyId": "501337"}}, headers=headers
        )
        # instances/create is its own scope: the key is free there.
        assert again.status_code == 201, again.text
        return
    problem(again, REUSED)
    assert stored_ids(client, tokens, "soknad") | stored_ids(client, tokens, "soknad", 500000) == before


def test_concurrent_creates_with_one_key_make_one_instance(client: httpx.Client, tokens: Tokens) -> None:
    before = stored_ids(client, tokens, "soknad")
    headers = {**f.bearer(tokens.user), "Idempotency-Key": "concurrent-1"}

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=str(client.base_url), timeout=60) as own:
            return own.post(SOKNAD, params={"instanceOwnerPartyId": f.PARTY}, headers=headers)

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(post, range(4)))
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert stored_ids(client, tokens, "soknad") == before | {responses[0].json()["id"]}


def test_keys_belong_to_their_caller(client: httpx.Client, tokens: Tokens) -> None:
    mine = client.post(
        SOKNAD,
        params={"instanceOwnerPartyId": f.PARTY},
        headers={**f.bearer(tokens.user), "Idempotency-Key": "k"},
    )
    theirs = client.post(
        SOKNAD,
        params={"instanceOwnerPartyId": 510001},
        headers={**f.bearer(tokens.other), "Idempotency-Key": "k"},
    )
    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert theirs.json()["id"].startswith("510001/")


def test_a_failed_create_is_not_remembered(client: httpx.Client, tokens: Tokens) -> None:
    headers = {**f.bearer(tokens.user), "Idempotency-Key": "fails-first"}
    failed = client.post(SOKNAD, params={"instanceOwnerPartyId": 510001}, headers=headers)
    empty(failed, 403)
    again = client.post(SOKNAD, params={"instanceOwnerPartyId": 510001}, headers=headers)
    empty(again, 403)
    assert "idempotent-replayed" not in again.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "nøkkel"])
def test_invalid_keys_are_400(client: httpx.Client, tokens: Tokens, key: str) -> None:
    before = stored_ids(client, tokens, "soknad")
    response = client.post(
        SOKNAD,
        params={"instanceOwnerPartyId": f.PARTY},
        headers=[("Authorization", f"Bearer {tokens.user}"), ("Idempotency-Key", key.encode())],
    )
    problem(
        response,
        {
            "title": "Invalid Idempotency-Key",
            "status": 400,
            "detail": "The Idempotency-Key header must be 1-255 printable ASCII characters.",
        },
    )
    assert stored_ids(client, tokens, "soknad") == before


# -- GET -------------------------------------------------------------------------------------------------


def test_get_returns_the_instance_response_with_etag(api: f.Api) -> None:
    response = api.request("GET", "")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == api.instance["id"]
    assert body["instanceOwner"]["party"]["partyId"] == f.PARTY
    assert body["instanceOwner"]["party"]["name"] == "Sophie Salt"
    guid = body["id"].split("/")[1].replace("-", "")
    assert response.headers["etag"].startswith(f'"{guid}-')
    assert api.request("GET", "", headers={"If-None-Match": response.headers["etag"]}).status_code == 304


def test_opening_marks_the_instance_read_except_for_the_service_owner(
    client: httpx.Client, tokens: Tokens, api: f.Api
) -> None:
    assert api.instance["status"]["readStatus"] == 2
    assert as_org(api, tokens)["status"]["readStatus"] == 2
    assert api.get_instance()["status"]["readStatus"] == 1
    assert as_org(api, tokens)["status"]["readStatus"] == 1


def test_elements_the_caller_may_not_read_are_left_out(
    client: httpx.Client, tokens: Tokens, api: f.Api
) -> None:
    response = api.upload("readaction", b"secret", filename="s.txt", content_type="text/plain")
    assert response.status_code == 200, response.text
    element_id = response.json()["newDataElementId"]
    assert element_id not in [e["id"] for e in api.get_instance()["data"]]
    assert element_id in [e["id"] for e in as_org(api, tokens)["data"]]


def test_get_refusals(client: httpx.Client, tokens: Tokens, api: f.Api) -> None:
    guid = api.instance["id"].split("/")[1]
    headers = f.bearer(tokens.user)
    empty(api.as_caller(tokens.other).request("GET", ""), 403)
    for path in (
        f"/ttd/soknad/instances/{api.instance['id']}",
        f"{RULES}/500000/{guid}",
        f"{RULES}/501337/{f.new_guid()}",
    ):
        response = client.get(path, headers=headers)
        problem(
            response,
            {
                "title": "Not Found",
                "status": 404,
                "type": "https://tools.ietf.org/html/rfc9110#section-15.5.5",
            },
        )
    empty(client.get(f"{RULES}/{api.instance['id']}"), 401)


# -- If-Match --------------------------------------------------------------------------------------------


def _write(api: f.Api, tokens: Tokens, kind: str, etag: str | None) -> httpx.Response:
    headers = {"If-Match": etag} if etag is not None else {}
    if kind == "delete":
        return api.request("DELETE", "", headers=headers)
    if kind == "complete":
        return api.as_caller(tokens.org).request("POST", "/complete", headers=headers)
    if kind == "substatus":
        return api.as_caller(tokens.org).request("PUT", "/substatus", json={"label": "l"}, headers=headers)
    return api.request("PUT", "/process/next", headers=headers)


@pytest.mark.parametrize("kind", ["delete", "complete", "substatus", "process-next"])
def test_if_match_on_writes(client: httpx.Client, tokens: Tokens, api: f.Api, kind: str) -> None:
    current = api.request("GET", "").headers["etag"]
    before = as_org(api, tokens)
    stale = current[:-2] + "0" + current[-1]
    problem(_write(api, tokens, kind, stale), PRECONDITION)
    after = as_org(api, tokens)
    assert after == before
    # The instance endpoints take an ETag list and weak tags; process/next only the exact tag.
    response = _write(api, tokens, kind, current if kind == "process-next" else f'"other", W/{current}')
    assert response.status_code == 200, response.text
    assert response.headers["etag"] != current


def test_the_create_etag_is_good_for_the_first_write(client: httpx.Client, tokens: Tokens) -> None:
    response = client.post(
        "/ttd/data-tasks/instances", params={"instanceOwnerPartyId": f.PARTY}, headers=f.bearer(tokens.org)
    )
    assert response.status_code == 201, response.text
    api = f.Api(client, tokens.org, response.json(), "data-tasks")
    written = api.request(
        "PUT", "/substatus", json={"label": "l"}, headers={"If-Match": response.headers["etag"]}
    )
    assert written.status_code == 200, written.text


# -- DELETE ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hard", [False, True])
def test_delete(client: httpx.Client, tokens: Tokens, api: f.Api, hard: bool) -> None:
    response = api.request("DELETE", "", params={"hard": "true"} if hard else None)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "party" not in body["instanceOwner"]  # a plain Instance, not an InstanceResponse
    status = body["status"]
    assert status["isSoftDeleted"] is True and status["softDeleted"] is not None
    assert status["isHardDeleted"] is hard and (status["hardDeleted"] is not None) is hard
    assert body["lastChangedBy"] == "1337"
    # Deletes are flags: the instance is still there, but no longer active.
    after = api.get_instance()["status"]
    assert (after["isSoftDeleted"], after["isHardDeleted"]) == (True, hard)
    assert api.instance["id"] not in active_ids(client, tokens.user, "data-rules")


def test_delete_refusals(client: httpx.Client, tokens: Tokens, api: f.Api) -> None:
    before = as_org(api, tokens)
    empty(api.as_caller(tokens.org).request("DELETE", ""), 403)  # the org rule has no delete
    empty(api.as_caller(tokens.other).request("DELETE", ""), 403)
    problem(
        api.request("DELETE", "", params={"hard": "maybe"}),
        {"title": "One or more validation errors occurred.", "status": 400},
    )
    assert as_org(api, tokens) == before


# -- complete and substatus ------------------------------------------------------------------------------


def test_complete_confirms_once_per_org(client: httpx.Client, tokens: Tokens, api: f.Api) -> None:
    org = api.as_caller(tokens.org)
    first = org.request("POST", "/complete")
    assert first.status_code == 200, first.text
    [confirmation] = first.json()["completeConfirmations"]
    assert confirmation["stakeholderId"] == "ttd"
    again = org.request("POST", "/complete")
    assert again.status_code == 200
    assert again.json()["completeConfirmations"] == [confirmation]


def test_complete_needs_the_complete_action(api: f.Api, tokens: Tokens) -> None:
    before = as_org(api, tokens)
    empty(api.request("POST", "/complete"), 403)
    assert as_org(api, tokens) == before


@pytest.mark.parametrize(
    ("content", "content_type", "label", "description"),
    [
        (
            b'{"label": "Sendt", "description": "Til behandling"}',
            "application/json",
            "Sendt",
            "Til behandling",
        ),
        (b'{"Label": "Sendt"}', "application/json", "Sendt", None),
        (
            b"<Substatus><Label>Mottatt</Label><Description>Ok</Description></Substatus>",
            "application/xml",
            "Mottatt",
            "Ok",
        ),
    ],
    ids=["json", "json-any-case", "xml"],
)
def test_substatus_is_set_by_the_service_owner(
    api: f.Api, tokens: Tokens, content: bytes, content_type: str, label: str, description: str | None
) -> None:
    response = api.as_caller(tokens.org).request(
        "PUT", "/substatus", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"]["substatus"] == {"label": label, "description": description}
    assert body["lastChangedBy"] == "405003309"
    assert as_org(api, tokens)["status"]["substatus"] == {"label": label, "description": description}


INVALID_SUBSTATUS = "Invalid sub status: {shown}. Substatus must be defined and include a label."


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{}", INVALID_SUBSTATUS.format(shown='{"label":null,"description":null}')),
        (b'{"description": "d"}', INVALID_SUBSTATUS.format(shown='{"label":null,"description":"d"}')),
        (b'{"label": ""}', INVALID_SUBSTATUS.format(shown='{"label":"","description":null}')),
        (b"null", INVALID_SUBSTATUS.format(shown="null")),
        (b"", {"title": "One or more validation errors occurred.", "status": 400}),
        (b"{not json", {"title": "One or more validation errors occurred.", "status": 400}),
        (b"[1]", {"title": "One or more validation errors occurred.", "status": 400}),
        (b'{"label": 5}', {"title": "One or more validation errors occurred.", "status": 400}),
    ],
    ids=["empty-object", "no-label", "empty-label", "null", "no-body", "malformed", "array", "label-number"],
)
def test_invalid_substatus(
    api: f.Api, tokens: Tokens, content: bytes, expected: str | dict[str, Any]
) -> None:
    before = as_org(api, tokens)
    response = api.as_caller(tokens.org).request(
        "PUT", "/substatus", content=content, headers={"Content-Type": "application/json"}
    )
    if isinstance(expected, str):
        assert response.status_code == 400, response.text
        assert response.json() == expected
    else:
        problem(response, expected)
    assert as_org(api, tokens) == before


def test_substatus_is_refused_to_anyone_but_the_instances_org(
    client: httpx.Client, api: f.Api, tokens: Tokens
) -> None:
    before = as_org(api, tokens)
    empty(api.request("PUT", "/substatus", json={"label": "x"}), 403)
    other_org = f.org_token(client, org="digdir", org_no="991825827")
    empty(api.as_caller(other_org).request("PUT", "/substatus", json={"label": "x"}), 403)
    assert as_org(api, tokens) == before


# -- active ----------------------------------------------------------------------------------------------


def test_active_lists_only_active_instances_of_the_app(
    server: LiveServer, client: httpx.Client, tokens: Tokens
) -> None:
    by_user = f.create_instance(client, tokens.user, app="data-tasks")
    by_org = f.create_instance(client, tokens.org, app="data-tasks")
    archived = f.create_instance(client, tokens.user, app="data-tasks")
    f.change(server, archived, f.end_process)
    deleted = f.create_instance(client, tokens.user, app="data-tasks")
    assert deleted.request("DELETE", "").status_code == 200
    other_app = f.create_instance(client, tokens.user, app="data-rules")
    response = client.get(f"/ttd/data-tasks/instances/{f.PARTY}/active", headers=f.bearer(tokens.user))
    assert response.status_code == 200, response.text
    items = {item["id"]: item for item in response.json()}
    assert by_user.instance["id"] in items and by_org.instance["id"] in items
    for gone in (archived, deleted, other_app):
        assert gone.instance["id"] not in items
    item = items[by_user.instance["id"]]
    assert set(item) == {"id", "presentationTexts", "dueBefore", "lastChanged", "lastChangedBy"}
    assert item["lastChangedBy"] == "Sophie Salt"
    assert items[by_org.instance["id"]]["lastChangedBy"] == "Testdepartementet"
    # Newest change first.
    changed = [entry["lastChanged"] for entry in response.json()]
    assert changed == sorted(changed, reverse=True)


def test_active_hides_instances_the_caller_may_not_read(client: httpx.Client, tokens: Tokens) -> None:
    theirs = f.create_instance(client, tokens.other, app="data-tasks", party=510001)
    assert theirs.instance["id"] in active_ids(client, tokens.other, "data-tasks", 510001)
    assert active_ids(client, tokens.user, "data-tasks", 510001) == []


# -- bad input on every endpoint -------------------------------------------------------------------------


def _bad_requests(guid: str) -> list[tuple[str, str, dict[str, Any], int, Any]]:
    """(method, path, request kwargs, status, expected body: bytes exact, str JSON string, dict subset)."""
    json_type = {"Content-Type": "application/json"}
    validation = {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": None,
    }
    return [
        ("POST", SOKNAD, {"content": b"{oops", "headers": json_type}, 400, validation),
        ("POST", SOKNAD, {"content": b"[1, 2]", "headers": json_type}, 400, validation),
        ("POST", SOKNAD, {"content": b"\xff\xfe", "headers": json_type}, 400, validation),
        ("POST", SOKNAD, {"params": {"instanceOwnerPartyId": "abc"}}, 400, validation),
        (
            "POST",
            SOKNAD,
            {"content": b"--b\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=b"}},
            400,
            {"title": "Error reading request", "status": 400},
        ),
        (
            "POST",
            SOKNAD,
            {"content": b"x", "headers": {"Content-Type": "multipart/form-data"}},
            400,
            {"title": "Error reading request", "status": 400},
        ),
        (
            "POST",
            SOKNAD,
            {"content": b"<Instance/>", "headers": {"Content-Type": "application/xml"}},
            400,
            "Cannot create an instance without an instanceOwner.partyId. Either provide instanceOwner party Id as "
            "a query parameter or an instanceTemplate object in the body.",
        ),
        ("POST", f"{SOKNAD}/create", {"content": b"{oops", "headers": json_type}, 400, validation),
        (
            "POST",
            f"{SOKNAD}/create",
            {"content": b"hello", "headers": {"Content-Type": "text/plain"}},
            400,
            validation,
        ),
        ("POST", f"{SOKNAD}/create", {"content": b"[]", "headers": json_type}, 400, validation),
        (
            "POST",
            f"{SOKNAD}/create",
            {"json": {"instanceOwner": {"partyId": "501337"}, "prefill": ["a"]}},
            400,
            validation,
        ),
        (
            "POST",
            f"{SOKNAD}/create",
            {"json": {"instanceOwner": {"partyId": "501337"}, "sourceInstanceId": 5}},
            400,
            validation,
        ),
        ("GET", f"{RULES}/501337/not-a-guid", {}, 404, b""),
        ("GET", f"{RULES}/abc/{guid}", {}, 404, b""),
        ("DELETE", f"{RULES}/501337/not-a-guid", {}, 404, b""),
        ("DELETE", f"{RULES}/abc/{guid}", {}, 404, b""),
        ("POST", f"{RULES}/501337/not-a-guid/complete", {}, 404, b""),
        ("PUT", f"{RULES}/501337/not-a-guid/substatus", {"json": {"label": "x"}}, 404, b""),
        ("PUT", f"{RULES}/-1/{guid}/substatus", {"json": {"label": "x"}}, 404, b""),
        ("GET", f"{RULES}/abc/active", {}, 404, b""),
        # Party ids are 32-bit: a larger one matches no route (it used to reach the database: 500).
        ("GET", f"{RULES}/99999999999999999999999/active", {}, 404, b""),
        ("GET", f"{RULES}/2147483648/{guid}", {}, 404, b""),
        ("DELETE", f"{RULES}/99999999999999999999999/{guid}", {}, 404, b""),
        (
            "POST",
            SOKNAD,
            {"params": {"instanceOwnerPartyId": "99999999999999999999999"}},
            400,
            validation,
        ),
        (
            "DELETE",
            f"{RULES}/501337/{f.new_guid()}",
            {},
            404,
            {"title": "Not Found", "status": 404},
        ),
    ]


def test_bad_input_gets_the_endpoints_error_shape_and_changes_nothing(
    client: httpx.Client, tokens: Tokens, api: f.Api
) -> None:
    guid = api.instance["id"].split("/")[1]
    soknad_before = stored_ids(client, tokens, "soknad")
    instance_before = as_org(api, tokens)
    failures = []
    for method, path, kwargs, status, expected in _bad_requests(guid):
        headers = {**f.bearer(tokens.user), **kwargs.pop("headers", {})}
        response = client.request(method, path, headers=headers, **kwargs)
        ok = response.status_code == status
        if isinstance(expected, bytes):
            ok = ok and response.content == expected
        elif isinstance(expected, str):
            ok = ok and response.json() == expected
        else:
            body = response.json() if response.content else {}
            ok = ok and all(
                key in body if value is None else body.get(key) == value for key, value in expected.items()
            )
        if not ok:
            failures.append((method, path, response.status_code, response.text[:200]))
    assert failures == []
    assert stored_ids(client, tokens, "soknad") == soknad_before
    assert as_org(api, tokens) == instance_before
