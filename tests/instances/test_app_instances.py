"""App API instantiation (app notes 1.1, 4) over real HTTP: bodies, owners, refusals, process
start, auto-create, prefill, copy, and that a failed create leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.data import factories as f
from tests.instances.app_env import (
    COPY_APP,
    OWNER_TEMPLATE,
    SOKNAD,
    SOKNAD_XML,
    Tokens,
    active_ids,
    post_multipart,
    start_server,
    stored_ids,
)

SOPHIE_OWNER = {
    "partyId": "501337",
    "personNumber": "01039012345",
    "organisationNumber": None,
    "username": None,
    "externalIdentifier": None,
}
SOPHIE_PARTY = {
    "partyId": 501337,
    "partyUuid": "e9dd7d91-32d8-4933-a108-07562762d572",
    "partyTypeName": 1,
    "ssn": "01039012345",
    "orgNumber": None,
    "unitType": None,
    "name": "Sophie Salt",
    "isDeleted": False,
}
NO_OWNER = (
    "Cannot create an instance without an instanceOwner.partyId. Either provide instanceOwner party Id as a "
    "query parameter or an instanceTemplate object in the body."
)
BOTH_OWNERS = (
    "You cannot provide an instanceOwnerPartyId as a query param as well as an instance template in the body. "
    "Choose one or the other."
)
EMPTY_OWNER = (
    "Error: instanceOwnerPartyId query parameter is empty and InstanceOwner is missing from instance template. "
    "You must populate instanceOwnerPartyId or InstanceOwner"
)
METADATA = "Error when comparing content to application metadata: "


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


def created(response: httpx.Response) -> dict[str, Any]:
    """A 201 create answer: Location is the apps self link, an ETag names the stored version."""
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == body["selfLinks"]["apps"]
    guid = body["id"].split("/")[1]
    assert response.headers["etag"] == f'"{guid.replace("-", "")}-1"'
    return body


def json_string(response: httpx.Response, status: int, message: str) -> None:
    """InstancesController's plain errors are JSON string literals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == message


def empty(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.content == b""


# -- request shapes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    ["json-template", "query-empty-body", "query-trailing-slash", "multipart-instance", "multipart-unnamed"],
)
def test_every_request_shape_creates_an_instance_in_its_first_task(
    client: httpx.Client, tokens: Tokens, shape: str
) -> None:
    before = set(active_ids(client, tokens.user, "soknad"))
    headers = f.bearer(tokens.user)
    query = {"instanceOwnerPartyId": f.PARTY}
    if shape == "json-template":
        response = client.post(
            SOKNAD, content=OWNER_TEMPLATE, headers={**headers, "Content-Type": "application/json"}
        )
    elif shape == "query-empty-body":
        response = client.post(SOKNAD, params=query, headers=headers)
    elif shape == "query-trailing-slash":
        response = client.post(f"{SOKNAD}/", params=query, headers=headers)
    elif shape == "multipart-instance":
        response = post_multipart(
            client, tokens.user, SOKNAD, ("instance", OWNER_TEMPLATE, "application/json", None)
        )
    else:
        response = post_multipart(
            client, tokens.user, SOKNAD, (None, OWNER_TEMPLATE, "application/json", None)
        )
    body = created(response)
    assert body["instanceOwner"] == {**SOPHIE_OWNER, "party": SOPHIE_PARTY}
    assert body["appId"] == "ttd/soknad" and body["org"] == "ttd"
    process = body["process"]
    assert process["startEvent"] == "StartEvent_1" and process["ended"] is None
    task = process["currentTask"]
    assert (task["flow"], task["elementId"], task["altinnTaskType"], task["flowType"]) == (
        2,
        "Task_1",
        "data",
        "CompleteCurrentMoveToNext",
    )
    assert task["started"] == process["started"] == body["created"]
    # autoCreate: the form data of the first task exists; the user's new element is unread by the
    # owner's side, so the instance is UpdatedSinceLastReview (as in the recordings).
    assert [e["dataType"] for e in body["data"]] == ["soknad"]
    assert body["status"]["readStatus"] == 2
    assert body["createdBy"] == body["lastChangedBy"] == "1337"
    assert set(active_ids(client, tokens.user, "soknad")) == before | {body["id"]}


def test_a_new_instance_without_form_data_is_read_by_its_creator_and_unread_for_the_service_owner(
    client: httpx.Client, tokens: Tokens
) -> None:
    query = {"instanceOwnerPartyId": f.PARTY}
    by_user = created(client.post("/ttd/data-tasks/instances", params=query, headers=f.bearer(tokens.user)))
    by_org = created(client.post("/ttd/data-tasks/instances", params=query, headers=f.bearer(tokens.org)))
    assert (by_user["data"], by_user["status"]["readStatus"]) == ([], 1)
    assert (by_org["data"], by_org["status"]["readStatus"]) == ([], 0)
    assert by_org["createdBy"] == "405003309"


def test_due_before_and_visible_after_are_kept(client: httpx.Client, tokens: Tokens) -> None:
    template = {
        "instanceOwner": {"partyId": "501337"},
        "dueBefore": "2031-05-01T12:00:00Z",
        "visibleAfter": "2030-01-02T03:04:05Z",
    }
    body = created(client.post(SOKNAD, json=template, headers=f.bearer(tokens.user)))
    assert (body["dueBefore"], body["visibleAfter"]) == ("2031-05-01T12:00:00Z", "2030-01-02T03:04:05Z")
    plain = created(
        client.post(SOKNAD, params={"instanceOwnerPartyId": f.PARTY}, headers=f.bearer(tokens.user))
    )
    assert plain["dueBefore"] is None
    assert plain["visibleAfter"] == plain["created"]


# -- owner ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        ({"partyId": "501337"}, SOPHIE_OWNER),
        ({"personNumber": "01039012345"}, SOPHIE_OWNER),
        (
            {"organisationNumber": "897069650"},
            {
                "partyId": "500000",
                "personNumber": None,
                "organisationNumber": "897069650",
                "username": None,
                "externalIdentifier": None,
            },
        ),
    ],
    ids=["partyId", "personNumber", "organisationNumber"],
)
def test_owner_is_looked_up(
    client: httpx.Client, tokens: Tokens, owner: dict[str, str], expected: dict[str, Any]
) -> None:
    body = created(client.post(SOKNAD, json={"instanceOwner": owner}, headers=f.bearer(tokens.user)))
    assert body["id"].startswith(f"{expected['partyId']}/")
    party = body["instanceOwner"].pop("party")
    assert body["instanceOwner"] == expected
    assert party["partyId"] == int(expected["partyId"])


@pytest.mark.parametrize(
    ("username", "party_id"),
    [("SelvRegistrert", 510004), ("epost:ida.epost@example.com", 510005)],
)
def test_owner_by_username_is_a_self_identified_party(
    client: httpx.Client, tokens: Tokens, username: str, party_id: int
) -> None:
    template = {"instanceOwner": {"username": username}}
    body = created(client.post("/ttd/data-rules/instances", json=template, headers=f.bearer(tokens.org)))
    owner = body["instanceOwner"]
    assert owner["partyId"] == str(party_id)
    assert owner["party"]["partyTypeName"] == 3
    assert (owner["personNumber"], owner["organisationNumber"]) == (None, None)
    assert owner["username"] == owner["party"]["name"]
    assert owner["externalIdentifier"].startswith("urn:altinn:person:")


@pytest.mark.parametrize(
    "owner",
    [
        {"partyId": "999"},
        {"partyId": "not-a-number"},
        {"partyId": "\u0665\u0660\u0661\u0663\u0663\u0667"},  # 501337 in Arabic-Indic digits
        {"partyId": "99999999999999999999999"},
        {"personNumber": "11111111111"},
        {"organisationNumber": "123456789"},
        {"username": "SophieDDG"},  # a user with a national identity number has no username lookup
        {"username": "nobody-at-all"},
    ],
)
def test_unknown_owner_is_404(client: httpx.Client, tokens: Tokens, owner: dict[str, str]) -> None:
    before = stored_ids(client, tokens, "soknad")
    response = client.post(SOKNAD, json={"instanceOwner": owner}, headers=f.bearer(tokens.user))
    json_string(response, 404, "Cannot lookup party: Unknown party")
    assert stored_ids(client, tokens, "soknad") == before


def test_unknown_owner_in_the_query_is_404(client: httpx.Client, tokens: Tokens) -> None:
    response = client.post(SOKNAD, params={"instanceOwnerPartyId": 999}, headers=f.bearer(tokens.user))
    json_string(response, 404, "Cannot lookup party: Unknown party")


@pytest.mark.parametrize(
    ("query", "body", "message"),
    [
        ({}, None, NO_OWNER),
        ({"instanceOwnerPartyId": f.PARTY}, OWNER_TEMPLATE, BOTH_OWNERS),
        ({}, b'{"instanceOwner": {}}', EMPTY_OWNER),
        ({}, b"{}", EMPTY_OWNER),
    ],
    ids=["neither", "both", "empty-owner", "no-owner-member"],
)
def test_owner_must_come_from_exactly_one_place(
    client: httpx.Client, tokens: Tokens, query: dict[str, int], body: bytes | None, message: str
) -> None:
    before = stored_ids(client, tokens, "soknad")
    headers = {**f.bearer(tokens.user), "Content-Type": "application/json"}
    response = client.post(SOKNAD, params=query, content=body, headers=headers)
    json_string(response, 400, message)
    assert stored_ids(client, tokens, "soknad") == before


@pytest.mark.parametrize(
    ("app", "party"),
    [("bekreftelse", 500000), ("soknad", 500001)],
    ids=["organisation-on-person-app", "sub-unit"],
)
def test_party_types_allowed(client: httpx.Client, tokens: Tokens, app: str, party: int) -> None:
    before = stored_ids(client, tokens, app, party)
    response = client.post(
        f"/ttd/{app}/instances", params={"instanceOwnerPartyId": party}, headers=f.bearer(tokens.user)
    )
    json_string(response, 403, f"Party {party} is not allowed to instantiate this application ttd/{app}")
    assert stored_ids(client, tokens, app, party) == before


def test_the_policy_refuses_a_party_the_user_has_no_role_for(client: httpx.Client, tokens: Tokens) -> None:
    before = stored_ids(client, tokens, "soknad", 510001)
    response = client.post(SOKNAD, params={"instanceOwnerPartyId": 510001}, headers=f.bearer(tokens.user))
    empty(response, 403)
    assert stored_ids(client, tokens, "soknad", 510001) == before
    # ...while the party's own user may.
    created(client.post(SOKNAD, params={"instanceOwnerPartyId": 510001}, headers=f.bearer(tokens.other)))


def test_no_token_is_401(client: httpx.Client) -> None:
    empty(client.post(SOKNAD, params={"instanceOwnerPartyId": f.PARTY}), 401)


# -- data at instantiation -------------------------------------------------------------------------------


def test_multipart_form_data_replaces_the_auto_created_element(client: httpx.Client, tokens: Tokens) -> None:
    response = post_multipart(
        client,
        tokens.user,
        SOKNAD,
        ("instance", OWNER_TEMPLATE, "application/json", None),
        ("attachment", f.PDF, "application/pdf", "bilag.pdf"),
        ("soknad", SOKNAD_XML, "application/xml", None),
    )
    body = created(response)
    assert [(e["dataType"], e["filename"]) for e in body["data"]] == [
        ("attachment", "bilag.pdf"),
        ("soknad", None),
    ]
    assert body["data"][0]["size"] == len(f.PDF)
    api = f.Api(client, tokens.user, body, "soknad")
    form = api.form(body["data"][1]["id"])
    assert (form["belop"], form["kategori"]) == (777, "Utstyr")
    assert body["presentationTexts"] == {"belop": "777"}


def test_auto_created_element_follows_multipart_parts(client: httpx.Client, tokens: Tokens) -> None:
    response = post_multipart(
        client,
        tokens.user,
        SOKNAD,
        ("instance", OWNER_TEMPLATE, "application/json", None),
        ("attachment", f.PDF, "application/pdf; name=x", "a.pdf"),
        ("attachment", f.PNG, "image/png", "b.png"),
    )
    body = created(response)
    assert [e["dataType"] for e in body["data"]] == ["attachment", "attachment", "soknad"]


def test_registry_prefill_fills_the_auto_created_form(client: httpx.Client, tokens: Tokens) -> None:
    body = created(
        client.post(
            "/ttd/bekreftelse/instances",
            params={"instanceOwnerPartyId": f.PARTY},
            headers=f.bearer(tokens.user),
        )
    )
    [element] = body["data"]
    form = f.Api(client, tokens.user, body, "bekreftelse").form(element["id"])
    assert (form["navn"], form["fodselsnummer"]) == ("Sophie Salt", "01039012345")


def test_create_applies_prefill_dot_paths_before_registry_prefill(
    client: httpx.Client, tokens: Tokens
) -> None:
    request = {
        "instanceOwner": {"partyId": "501337"},
        "prefill": {"belop": "12.5", "kategori": "Reise", "navn": "Overwritten", "no.such.path": "x"},
        "dueBefore": "2031-01-01T00:00:00Z",
    }
    body = created(client.post(f"{SOKNAD}/create", json=request, headers=f.bearer(tokens.user)))
    assert body["dueBefore"] == "2031-01-01T00:00:00Z"
    assert body["process"]["currentTask"]["elementId"] == "Task_1"
    [element] = body["data"]
    form = f.Api(client, tokens.user, body, "soknad").form(element["id"])
    # soknad.prefill.json has allowOverwrite: DSF's name wins over the request's.
    assert (form["belop"], form["kategori"], form["navn"]) == (12.5, "Reise", "Sophie Salt")


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        ({}, EMPTY_OWNER),
        (None, EMPTY_OWNER),
    ],
    ids=["empty-owner", "no-owner"],
)
def test_create_needs_an_owner(
    client: httpx.Client, tokens: Tokens, owner: dict[str, str] | None, message: str
) -> None:
    request: dict[str, Any] = {"prefill": {"belop": "1"}}
    if owner is not None:
        request["instanceOwner"] = owner
    json_string(client.post(f"{SOKNAD}/create", json=request, headers=f.bearer(tokens.user)), 400, message)


# -- copy ------------------------------------------------------------------------------------------------


def _archived_source(server: LiveServer, client: httpx.Client, tokens: Tokens) -> f.Api:
    api = f.create_instance(client, tokens.user, app=COPY_APP)
    model_id = next(e["id"] for e in api.instance["data"] if e["dataType"] == "model")
    assert api.put_form(model_id, {"name": "Kari", "amount": 5, "details": {"note": "n"}}).status_code in (
        200,
        201,
    )
    assert api.post_form("notes", {"name": "excluded"}).status_code == 200
    assert api.upload("attachment").status_code == 200
    f.change(server, api, f.end_process)
    return api


def test_copy_of_an_archived_instance(server: LiveServer, client: httpx.Client, tokens: Tokens) -> None:
    source = _archived_source(server, client, tokens)
    request = {"instanceOwner": {"partyId": "501337"}, "sourceInstanceId": source.instance["id"]}
    body = created(
        client.post(f"/ttd/{COPY_APP}/instances/create", json=request, headers=f.bearer(tokens.user))
    )
    assert body["id"] != source.instance["id"]
    # excludedDataTypes (notes) and attachments (includeAttachments false) stay behind.
    assert [e["dataType"] for e in body["data"]] == ["model"]
    form = f.Api(client, tokens.user, body, COPY_APP).form(body["data"][0]["id"])
    assert form["name"] == "Kari" and form["details"] == {"note": "n"}
    assert form.get("amount") is None  # excludedDataFields


@pytest.mark.parametrize("case", ["not-archived", "other-owner", "disabled"])
def test_copy_refusals(server: LiveServer, client: httpx.Client, tokens: Tokens, case: str) -> None:
    app, owner = COPY_APP, "501337"
    if case == "not-archived":
        source_id = f.create_instance(client, tokens.user, app=COPY_APP).instance["id"]
        message = "It is not possible to copy an instance that isn't archived."
    elif case == "other-owner":
        source_id = _archived_source(server, client, tokens).instance["id"]
        owner = "500000"
        message = "It is not possible to copy instances between instance owners."
    else:
        app = "soknad"
        source_id = f.create_instance(client, tokens.user, app="soknad").instance["id"]
        message = "Creating instance based on a copy from an archived instance is not enabled for this app."
    before = stored_ids(client, tokens, app, int(owner))
    request = {"instanceOwner": {"partyId": owner}, "sourceInstanceId": source_id}
    response = client.post(f"/ttd/{app}/instances/create", json=request, headers=f.bearer(tokens.user))
    json_string(response, 400, message)
    assert stored_ids(client, tokens, app, int(owner)) == before


# -- failures leave nothing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "status", "expected"),
    [
        (
            [
                ("attachment", f.PDF, "application/pdf", "a.pdf"),
                ("soknad", b"<Soknad><navn>", "application/xml", None),
            ],
            400,
            {"title": "Failed to deserialize XML", "status": 400},
        ),
        (
            [("attachment", f.PDF, "application/pdf", "a.pdf"), ("bogus", b"<a/>", "application/xml", None)],
            400,
            METADATA
            + "Multipart section named, 'bogus' does not correspond to an element type in application "
            "metadata",
        ),
        (
            [("attachment", b"", "application/pdf", "a.pdf")],
            400,
            METADATA + "The multipart section named attachment has no data. Cannot process empty part.",
        ),
        (
            [("attachment", b"text", "text/plain; charset=utf-8", "a.txt")],
            400,
            METADATA
            + "The multipart section named attachment has a Content-Type 'text/plain; charset=utf-8' "
            "which is invalid for element type 'attachment'",
        ),
        (
            [
                ("soknad", SOKNAD_XML, "application/xml", None),
                ("soknad", SOKNAD_XML, "application/xml", None),
            ],
            400,
            METADATA
            + "The list of parts contains more elements of type 'soknad' than the element type allows.",
        ),
        (
            [("attachment", f.PDF, None, "a.pdf")],
            400,
            {
                "title": "Error reading request",
                "status": 400,
                "detail": "Part number 2 doesn't have a content type",
            },
        ),
        (
            # Only a lone unnamed part is a template; this one used to be dropped silently.
            [(None, SOKNAD_XML, "application/xml", None)],
            400,
            METADATA
            + "Multipart section named, '' does not correspond to an element type in application metadata",
        ),
    ],
    ids=[
        "invalid-xml",
        "unknown-part",
        "empty-part",
        "content-type",
        "too-many",
        "no-content-type",
        "unnamed",
    ],
)
def test_a_failed_multipart_create_leaves_no_instance_and_no_blob(
    server: LiveServer,
    client: httpx.Client,
    tokens: Tokens,
    parts: list[tuple[str, bytes, str | None, str | None]],
    status: int,
    expected: Any,
) -> None:
    before = stored_ids(client, tokens, "soknad")
    blobs = f.blob_files(server)
    response = post_multipart(
        client, tokens.user, SOKNAD, ("instance", OWNER_TEMPLATE, "application/json", None), *parts
    )
    assert response.status_code == status, response.text
    if isinstance(expected, str):
        json_string(response, status, expected)
    else:
        body = response.json()
        assert {k: body[k] for k in expected} == expected
    assert stored_ids(client, tokens, "soknad") == before
    assert f.blob_files(server) == blobs


def test_an_instance_part_that_is_not_json_is_ignored(client: httpx.Client, tokens: Tokens) -> None:
    other_owner = b'{"instanceOwner": {"partyId": "500000"}}'
    response = post_multipart(
        client,
        tokens.user,
        SOKNAD,
        ("instance", other_owner, "text/plain", None),
        ("attachment", f.PDF, "application/pdf", None),  # a binary part needs no filename
        params={"instanceOwnerPartyId": f.PARTY},
    )
    body = created(response)
    assert body["id"].startswith("501337/")
    assert [(e["dataType"], e["filename"]) for e in body["data"]] == [("attachment", None), ("soknad", None)]


def test_a_part_over_max_size_is_refused_and_leaves_nothing(
    server: LiveServer, client: httpx.Client, tokens: Tokens
) -> None:
    before = stored_ids(client, tokens, "data-rules")
    blobs = f.blob_files(server)
    too_big = f.PDF + b"\0" * (1024 * 1024)
    response = post_multipart(
        client,
        tokens.user,
        "/ttd/data-rules/instances",
        ("instance", OWNER_TEMPLATE, "application/json", None),
        ("attachment", too_big, "application/pdf", "big.pdf"),
    )
    json_string(
        response,
        400,
        METADATA
        + "The multipart section named attachment exceeds the size limit of element type 'attachment'",
    )
    assert stored_ids(client, tokens, "data-rules") == before
    assert f.blob_files(server) == blobs


@pytest.mark.parametrize(
    ("app", "part", "content", "content_type", "status", "title", "detail"),
    [
        (
            "data-tasks",
            "second",
            f.PDF,
            "application/pdf",
            409,
            "Conflict with Current Task",
            "Data element of type second can only be modified in Task_2 (current task Task_1)",
        ),
        (
            "data-rules",
            "nocreate",
            b"<model><name>x</name></model>",
            "application/xml",
            400,
            "User Create Disallowed",
            "Cannot create data element of type nocreate as it is disallowed by app logic",
        ),
        (
            "data-rules",
            "owned",
            f.PDF,
            "application/pdf",
            403,
            "Forbidden",
            "User is not a valid contributor to the data type",
        ),
        (
            "data-rules",
            "writeaction",
            f.PDF,
            "application/pdf",
            403,
            "Unauthorized",
            "Access denied for data element of type writeaction",
        ),
        (
            "data-rules",
            "ref-data-as-pdf",
            f.PDF,
            "application/pdf",
            403,
            "Forbidden",
            "Data element of type ref-data-as-pdf cannot be modified",
        ),
    ],
    ids=["task-binding", "user-create", "contributors", "write-action", "pdf"],
)
def test_parts_pass_the_data_type_access_checks(
    server: LiveServer,
    client: httpx.Client,
    tokens: Tokens,
    app: str,
    part: str,
    content: bytes,
    content_type: str,
    status: int,
    title: str,
    detail: str,
) -> None:
    """App notes 4.2/5.4: the checks run on the new instance in its first task (they used not to run)."""
    before = stored_ids(client, tokens, app)
    blobs = f.blob_files(server)
    response = post_multipart(
        client,
        tokens.user,
        f"/ttd/{app}/instances",
        ("instance", OWNER_TEMPLATE, "application/json", None),
        (part, content, content_type, "a.pdf" if content_type == "application/pdf" else None),
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json; charset=utf-8"
    assert response.json() == {"title": title, "status": status, "detail": detail}
    assert stored_ids(client, tokens, app) == before
    assert f.blob_files(server) == blobs


def test_the_service_owner_may_supply_a_type_users_may_not_create(
    client: httpx.Client, tokens: Tokens
) -> None:
    response = post_multipart(
        client,
        tokens.org,
        "/ttd/data-rules/instances",
        ("instance", OWNER_TEMPLATE, "application/json", None),
        ("nocreate", b"<model><name>x</name></model>", "application/xml", None),
    )
    body = created(response)
    assert [e["dataType"] for e in body["data"]] == ["nocreate", "model"]
