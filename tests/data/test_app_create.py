"""POST data: the new endpoint (200 DataPostResponse) and the legacy one (201, text errors)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer
from tests.data import factories as f
from tinn.instances.store import load_events


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from f.start_data_server(database_url, tmp_path_factory)


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


@pytest.fixture
def api(client: httpx.Client) -> f.Api:
    return f.create_instance(client, f.user_token(client))


def events(server: LiveServer, api: f.Api) -> list[tuple[str | None, str | None]]:
    guid = uuid.UUID(api.instance["id"].split("/")[1])

    async def load() -> list[tuple[str | None, str | None]]:
        assert server.services is not None
        async with server.services.db.read() as conn:
            return [(e.event_type, e.data_id) for e in await load_events(conn, guid)]

    return server.run(load())


# -- form data -------------------------------------------------------------------------------------------


def test_form_data_from_json_body_is_stored_in_the_data_types_format(api: f.Api) -> None:
    response = api.post_form("jsonmodel", {"name": "Kari", "amount": "12.50", "rows": [{"value": "a"}]})
    assert response.status_code == 200, response.text
    body = response.json()
    element = next(e for e in body["instance"]["data"] if e["id"] == body["newDataElementId"])
    assert element["contentType"] == "application/json"
    assert element["contentHash"] and element["size"] > 0
    [model] = body["newDataModels"]
    assert model["dataElementId"] == body["newDataElementId"]
    data = model["data"]
    assert data["name"] == "Kari" and data["amount"] == 12.5 and data["createdBy"] == "hook"
    assert uuid.UUID(data["rows"][0]["altinnRowId"])
    assert body["validationIssues"] == []
    stored = api.form(body["newDataElementId"])
    assert stored["name"] == "Kari" and "altinnRowId" not in stored["rows"][0]


def test_form_data_from_xml_body(api: f.Api) -> None:
    xml = b"<?xml version='1.0'?><model><name>Per</name><amount>3</amount></model>"
    response = api.request(
        "POST", "/data/type/extra", content=xml, headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 200, response.text
    element_id = response.json()["newDataElementId"]
    assert next(e for e in api.elements() if e["id"] == element_id)["contentType"] == "application/xml"
    assert api.form(element_id)["name"] == "Per"


def test_empty_body_without_content_type_creates_an_empty_model_with_hooks(api: f.Api) -> None:
    response = api.request("POST", "/data/type/extra", content=b"ignored body")
    assert response.status_code == 200, response.text
    data = response.json()["newDataModels"][0]["data"]
    assert data["name"] is None and data["createdBy"] == "hook"


def test_data_processors_run_on_created_form_data(api: f.Api) -> None:
    response = api.post_form("extra", {"name": "calculate"})
    assert response.status_code == 200
    assert response.json()["newDataModels"][0]["data"]["calculated"] == "done"


@pytest.mark.parametrize(
    ("content_type", "body", "status", "title"),
    [
        ("text/xml", b"<model/>", 415, "Unsupported content type"),
        ("application/xml", b"<model><name>", 400, "Failed to deserialize XML"),
        ("application/json", b"{not json", 400, "Failed to deserialize JSON"),
        ("application/json", b'{"amount": "abc"}', 400, "Failed to deserialize JSON"),
    ],
)
def test_bad_form_bodies(api: f.Api, content_type: str, body: bytes, status: int, title: str) -> None:
    before = api.elements()
    response = api.request("POST", "/data/type/extra", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"] == title
    assert api.elements() == before


def test_validation_runs_only_when_ignored_validators_is_given(api: f.Api) -> None:
    silent = api.post_form("extra", {"name": "x"})
    assert silent.json()["validationIssues"] == []
    validated = api.post_form("extra", {"name": "x"}, params={"ignoredValidators": "Required"})
    sources = [pair["source"] for pair in validated.json()["validationIssues"]]
    assert "DataAnnotations" in sources


def test_presentation_texts_and_data_values_follow_the_form_data(api: f.Api) -> None:
    model_id = api.model_id()
    response = api.put_form(model_id, {"name": "Ola", "amount": "1.5", "details": {"note": "hei"}})
    assert response.status_code == 201, response.text
    instance = api.get_instance()
    assert instance["presentationTexts"] == {"Name": "Ola"}
    assert instance["dataValues"] == {"Amount": "1.5", "Note": "hei"}
    api.put_form(model_id, {"name": "Ola", "details": {"note": None}})
    instance = api.get_instance()
    assert instance["dataValues"] == {}, "null removes the keys"
    assert instance["presentationTexts"] == {"Name": "Ola"}


# -- binary data: the upload checks in order ---------------------------------------------------------------

_PREFIX = "Invalid data provided. Error: "


@pytest.mark.parametrize(
    ("headers", "content", "code", "description"),
    [
        (
            {"Content-Type": "application/pdf"},
            f.PDF,
            "ContentTypeNotAllowed",
            "The request must include a Content-Disposition header",
        ),
        (
            {"Content-Disposition": "attachment; filename=file.pdf", "Content-Type": "application/pdf"},
            b"%PDF-" + b"x" * (2 * 1024 * 1024),
            "DataElementTooLarge",
            f"Binary attachment exceeds limit of {1024 * 1024}",
        ),
        (
            {
                "Content-Disposition": "attachment; filename=Test Doc 2025.pdf",
                "Content-Type": "application/pdf",
            },
            f.PDF,
            "MissingFileName",
            "The Content-Disposition header must contain a valid filename",
        ),
        (
            {"Content-Disposition": 'attachment; filename="noextension"', "Content-Type": "application/pdf"},
            f.PDF,
            "InvalidFileNameFormat",
            "Invalid format for filename: noextension. Filename is expected to end with '.{filetype}'.",
        ),
        (
            {"Content-Disposition": 'attachment; filename="file.pdf"'},
            f.PDF,
            "InvalidFileNameFormat",
            "Content-Type header must be included in request.",
        ),
        (
            {"Content-Disposition": 'attachment; filename="file.pdf"', "Content-Type": "image/png"},
            f.PDF,
            "InvalidFileNameFormat",
            "Content type header image/png does not match mime type application/pdf for uploaded file. "
            "Please fix header or upload another file.",
        ),
        (
            {"Content-Disposition": 'attachment; filename="file.jpg"', "Content-Type": "image/jpeg"},
            b"\xff\xd8\xff" + b"\x00" * 32,
            "ContentTypeNotAllowed",
            "Invalid content type: image/jpeg. Please try another file. Permitted content types include: "
            "application/pdf, image/png, text/plain",
        ),
    ],
    ids=[
        "no-disposition",
        "too-large",
        "unquoted-spaces",
        "no-extension",
        "no-content-type",
        "mime-mismatch",
        "not-allowed",
    ],
)
def test_upload_checks_in_order(
    api: f.Api, headers: dict[str, str], content: bytes, code: str, description: str
) -> None:
    before = api.elements()
    new = api.request("POST", "/data/type/attachment", content=content, headers=headers)
    assert new.status_code == 400, new.text
    assert new.headers["content-type"] == "application/problem+json; charset=utf-8"
    assert new.json() == {
        "title": "File validation failed",
        "status": 400,
        "detail": "Common checks failed",
        "uploadValidationIssues": [
            {
                "severity": 1,
                "dataElementId": None,
                "field": None,
                "code": code,
                "description": _PREFIX + description,
                "source": "DataRestrictionValidation",
            }
        ],
    }
    legacy = api.request("POST", "/data", params={"dataType": "attachment"}, content=content, headers=headers)
    assert legacy.status_code == 400
    assert legacy.headers["content-type"] == "text/plain; charset=utf-8"
    assert legacy.text == _PREFIX + description
    assert api.elements() == before


def test_first_failing_check_wins(api: f.Api) -> None:
    """No filename and a wrong Content-Type: the filename check comes first."""
    response = api.upload(
        "attachment",
        f.PDF,
        filename=None,
        content_type="image/png",
        headers={"Content-Disposition": "attachment"},
    )
    assert response.json()["uploadValidationIssues"][0]["code"] == "MissingFileName"


def test_a_file_larger_than_max_size_is_refused_while_streaming(api: f.Api, server: LiveServer) -> None:
    blobs_before = f.blob_files(server)

    def body() -> Iterator[bytes]:
        for _ in range(40):
            yield b"%PDF-" + b"x" * (64 * 1024 - 5)

    response = api.upload("attachment", body())
    assert response.status_code == 413, response.text
    problem = response.json()
    assert problem["title"] == "Request too large"
    assert problem["detail"].startswith("The request body is too large. The content length is ")
    assert problem["detail"].endswith("exceeds the limit of 1 MB")
    assert api.elements("attachment") == []
    assert f.blob_files(server) == blobs_before, "no partial blob is kept"


@pytest.mark.parametrize("legacy", [False, True])
def test_zero_bytes_are_refused(api: f.Api, legacy: bool) -> None:
    response = api.upload("attachment", b"", legacy=legacy)
    assert response.status_code == 400
    if legacy:
        assert response.text == "Invalid data provided. Error: The file is zero bytes."
    else:
        assert response.json() == {
            "title": "Invalid data",
            "status": 400,
            "detail": "Invalid data provided. Error: The file is zero bytes.",
        }
    assert api.elements("attachment") == []


def test_missing_content_type_after_the_checks(api: f.Api) -> None:
    """Types without allowedContentTypes skip checks 5-7; the body still needs a Content-Type."""
    response = api.upload("anyfile", b"data", filename="a.bin", content_type=None)
    assert response.status_code == 400
    assert response.json()["title"] == "Missing content type"


def test_content_that_does_not_look_like_its_type_is_refused(api: f.Api) -> None:
    response = api.upload("attachment", b"\xff\xd8\xff\xe0 a jpeg", filename="fake.pdf")
    assert response.status_code == 400
    problem = response.json()
    assert problem["title"] == "File validation failed"
    assert problem["uploadValidationIssues"][0]["code"] == "ContentTypeNotAllowed"
    assert "looks like image/jpeg" in problem["uploadValidationIssues"][0]["description"]
    assert api.elements("attachment") == []


def test_binary_upload_is_stored_with_hash_and_metadata(api: f.Api) -> None:
    disposition = "attachment; filename*=UTF-8''S%C3%B8knad%202025.pdf"
    response = api.upload("attachment", f.PDF, headers={"Content-Disposition": disposition})
    assert response.status_code == 200, response.text
    body = response.json()
    element = next(e for e in body["instance"]["data"] if e["id"] == body["newDataElementId"])
    assert element["filename"] == "Søknad 2025.pdf"
    assert element["contentType"] == "application/pdf"
    assert element["size"] == len(f.PDF)
    assert element["contentHash"] == f.sha256(f.PDF)
    assert element["fileScanResult"] == "NotApplicable"
    assert element["isRead"] is True
    assert element["createdBy"] == str(f.USER)
    assert body["newDataModels"] == []
    assert body["instance"]["lastChangedBy"] == str(f.USER)
    assert body["instance"]["selfLinks"]["apps"].endswith(api.instance["id"])
    download = api.get_data(element["id"])
    assert download.content == f.PDF


def test_legacy_endpoint_answers_201_with_the_element_and_location(api: f.Api) -> None:
    response = api.upload("attachment", f.PDF, legacy=True)
    assert response.status_code == 201
    element = response.json()
    assert response.headers["location"] == element["selfLinks"]["apps"]
    assert element["dataType"] == "attachment" and element["size"] == len(f.PDF)


@pytest.mark.parametrize("key", ["datatype", "DATATYPE"])
def test_legacy_endpoint_takes_the_data_type_key_in_any_case(api: f.Api, key: str) -> None:
    response = api.request(
        "POST",
        "/data",
        params={key: "attachment"},
        content=f.PDF,
        headers={"Content-Type": "application/pdf", "Content-Disposition": "attachment; filename=a.pdf"},
    )
    assert response.status_code == 201, response.text


def test_legacy_endpoint_without_data_type_is_a_model_binding_error(api: f.Api) -> None:
    response = api.request("POST", "/data", content=f.PDF)
    assert response.status_code == 400
    problem = response.json()
    assert problem["title"] == "One or more validation errors occurred."
    assert problem["errors"] == {"dataType": ["The dataType field is required."]}


def test_hidden_alias_route(api: f.Api) -> None:
    response = api.request(
        "POST",
        "/data/attachment",
        content=f.PDF,
        headers={"Content-Type": "application/pdf", "Content-Disposition": "attachment; filename=a.pdf"},
    )
    assert response.status_code == 200
    assert "newDataElementId" in response.json()


def test_unknown_data_type(api: f.Api) -> None:
    new = api.upload("nosuchtype")
    assert new.status_code == 400
    assert new.json()["title"] == "Data Type Not Found"
    legacy = api.upload("nosuchtype", legacy=True)
    assert legacy.status_code == 400
    assert legacy.text == 'Could not find the specified data type: "nosuchtype" in applicationmetadata.json'


def test_unknown_instance(client: httpx.Client) -> None:
    token = f.user_token(client)
    response = client.post(
        f"/{f.ORG}/{f.APP}/instances/{f.PARTY}/{uuid.uuid4()}/data/type/attachment",
        content=f.PDF,
        headers={
            **f.bearer(token),
            "Content-Type": "application/pdf",
            "Content-Disposition": "attachment; filename=a.pdf",
        },
    )
    assert response.status_code == 404
    assert response.json()["title"] == "Instance Not Found"


# -- access checks (app notes 5.4) -------------------------------------------------------------------------


def _upload_as(api: f.Api, token: str, data_type: str) -> httpx.Response:
    return api.as_caller(token).upload(data_type, b"some text", filename="a.txt", content_type="text/plain")


@pytest.mark.parametrize(
    ("data_type", "as_org", "status", "title"),
    [
        ("ref-data-as-pdf", False, 403, "Forbidden"),
        ("ref-data-as-pdf", True, 403, "Forbidden"),
        ("writeaction", False, 403, "Unauthorized"),
        ("writeaction", True, 200, None),
        ("owned", False, 403, "Forbidden"),
        ("owned", True, 403, "Forbidden"),
        ("contrib", False, 403, "Forbidden"),
        ("contrib", True, 200, None),
        ("nocreate", False, 400, "User Create Disallowed"),
        ("nocreate", True, 200, None),
    ],
)
def test_data_type_access_checks(
    api: f.Api, client: httpx.Client, data_type: str, as_org: bool, status: int, title: str | None
) -> None:
    token = f.org_token(client) if as_org else api.token
    if data_type == "nocreate":
        response = api.as_caller(token).post_form(data_type, {"name": "x"})
    else:
        response = _upload_as(api, token, data_type)
    assert response.status_code == status, response.text
    if title is not None:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["title"] == title


def test_max_count(api: f.Api) -> None:
    for _ in range(3):
        assert api.upload("attachment").status_code == 200
    response = api.upload("attachment")
    assert response.status_code == 409
    assert response.json() == {
        "title": "Max Count Exceeded",
        "status": 409,
        "detail": "Cannot create more than 3 data elements of type attachment",
    }
    model = api.post_form("model", {"name": "second"})
    assert model.status_code == 409


def test_a_user_without_write_access_gets_an_empty_403(api: f.Api, client: httpx.Client) -> None:
    other = f.user_token(client, user=1006, party=510006, pid="21528841233")
    response = _upload_as(api, other, "anyfile")
    assert response.status_code == 403 and response.content == b""


def test_uploads_by_the_app_owner_are_unread(api: f.Api, client: httpx.Client) -> None:
    assert api.get_instance()["status"]["readStatus"] == 1
    response = _upload_as(api, f.org_token(client), "anyfile")
    body = response.json()
    element = next(e for e in body["instance"]["data"] if e["id"] == body["newDataElementId"])
    assert element["isRead"] is False
    assert body["instance"]["status"]["readStatus"] == 2
    assert body["instance"]["lastChangedBy"] == "405003309"


def test_instance_events_are_written(api: f.Api, server: LiveServer) -> None:
    element_id = api.upload("anyfile", b"data", filename="a.txt", content_type="text/plain").json()[
        "newDataElementId"
    ]
    assert ("Created", element_id) in events(server, api)


def test_no_current_task(api: f.Api, server: LiveServer) -> None:
    f.change(server, api, f.leave_task)
    response = _upload_as(api, api.token, "anyfile")
    assert response.status_code == 409
    assert response.json() == {
        "title": "No current task",
        "status": 409,
        "detail": "Cannot create data element without a current task",
    }


def test_inactive_instance(api: f.Api, server: LiveServer) -> None:
    f.change(server, api, f.end_process)
    response = _upload_as(api, api.token, "anyfile")
    assert response.status_code == 409
    assert response.json()["title"] == "Instance Not Active"
    assert api.elements("anyfile") == []


# -- idempotency ---------------------------------------------------------------------------------------------


def test_idempotency_key_replays_the_first_response(api: f.Api) -> None:
    headers = {"Idempotency-Key": f"upload-{uuid.uuid4()}"}
    first = api.upload("anyfile", b"payload", filename="a.txt", content_type="text/plain", headers=headers)
    again = api.upload("anyfile", b"payload", filename="a.txt", content_type="text/plain", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert len(api.elements("anyfile")) == 1
    other = api.upload("anyfile", b"different", filename="a.txt", content_type="text/plain", headers=headers)
    assert other.status_code == 409
    assert len(api.elements("anyfile")) == 1


def test_idempotency_key_on_the_legacy_endpoint_keeps_location(api: f.Api) -> None:
    headers = {"Idempotency-Key": f"legacy-{uuid.uuid4()}"}
    first = api.upload(
        "anyfile", b"x", filename="a.txt", content_type="text/plain", legacy=True, headers=headers
    )
    again = api.upload(
        "anyfile", b"x", filename="a.txt", content_type="text/plain", legacy=True, headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert again.headers["location"] == first.headers["location"]
    assert len(api.elements("anyfile")) == 1
