"""Application endpoints over HTTP: App API metadata/resources and Storage ``applications``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.appdef.factory import metadata, texts, write_app
from tests.conftest import SHARED, SHARED_APPS, LiveServer, make_settings
from tinn.settings import BUNDLED_APPS_DIR

SNAPSHOTS = SHARED / "conformance" / "basic-app-snapshots"
SECURITY_HEADERS = {
    "x-frame-options": "deny",
    "x-content-type-options": "nosniff",
    "x-xss-protection": "0",
    "referrer-policy": "no-referrer",
}
TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"
PROBLEM = "application/problem+json; charset=utf-8"
SOKNAD = BUNDLED_APPS_DIR / "ttd" / "soknad"


def _file(path: Path) -> str:
    return path.read_text("utf-8-sig")


def _assert_not_found_problem(response: httpx.Response) -> None:
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "https://tools.ietf.org/html/rfc9110#section-15.5.5"
    assert (body["title"], body["status"]) == ("Not Found", 404)
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", body["traceId"])


@pytest.fixture(scope="module")
def special(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server with apps built for edge cases (org ``tinnhttp``)."""
    root = tmp_path_factory.mktemp("apps")
    write_app(
        root,
        "tinnhttp",
        "renamed",
        {"config/applicationmetadata.json": json.dumps(metadata("tinnhttp", "original"))},
    )
    write_app(
        root,
        "tinnhttp",
        "bare",
        {
            "config/process/process.bpmn": None,
            "config/authorization/policy.xml": None,
            "config/texts/resource.nb.json": None,
        },
    )
    write_app(
        root,
        "tinnhttp",
        "rules",
        {
            "config/texts/resource.nb.json": None,
            "config/texts/resource.en.json": texts("en", hello="Hello"),
            "config/texts/resource.en-GB.json": texts("en-GB"),
            "ui/layout-sets.json": '{"sets": [{"id": "form", "dataType": "vedlegg", "tasks": ["Task_1"]}]}',
            "ui/form/layouts/Side1.json": '{"data": {"layout": [{"id": "a", "type": "Paragraph"}]}}',
            "ui/form/RuleHandler.js": "var ruleHandlerObject = {};\n",
            "ui/Settings.json": '{"pages": {"order": ["Side1"]}}',
            "ui/form/RuleConfiguration.json": '\ufeff{"data": {"ruleConnection": {}}}',
            "appsettings.json": json.dumps(
                {
                    "AppSettings": {"AppOidcProvider": "idporten"},
                    "FrontEndSettings": {"Zeta": "æ<'\"&>", "alpha": "1", "Nested": {"x": "y"}},
                }
            ),
        },
    )
    server = LiveServer(make_settings(database_url, tmp_path_factory.mktemp("data"), apps=[root])).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield http
    finally:
        server.stop()


# --- applicationmetadata ---


def test_application_metadata_is_served_as_altinn_reserialises_it(client: httpx.Client) -> None:
    response = client.get("/ttd/basic/api/v1/applicationmetadata")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.headers["cache-control"] == "public, max-age=60"
    body = response.json()
    source = json.loads(_file(SHARED_APPS / "ttd" / "basic" / "config" / "applicationmetadata.json"))
    assert list(body)[:6] == ["id", "features", "onEntry", "logo", "altinnNugetVersion", "externalApiIds"]
    assert body["features"] == {
        "footer": True,
        "processActions": True,
        "jsonObjectInDataResponse": False,
        "addInstanceIdentifierToLayoutRequests": False,
    }
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", body["altinnNugetVersion"])
    # Everything in the file is there, unchanged...
    for key in (
        "id",
        "org",
        "title",
        "partyTypesAllowed",
        "autoDeleteOnProcessEnd",
        "createdBy",
        "lastChangedBy",
    ):
        assert body[key] == source[key]
    assert body["created"] == "2024-05-15T12:17:03.656228Z"
    # ...and the model's other properties are written, nulls and defaults included.
    assert (
        body["versionId"] is None
        and body["eFormidling"] is None
        and body["disallowUserInstantiation"] is False
    )
    pdf = body["dataTypes"][0]
    assert pdf["id"] == "ref-data-as-pdf" and pdf["appLogic"] is None and pdf["taskId"] is None
    assert pdf["enablePdfCreation"] is True and pdf["maxSize"] is None
    model = body["dataTypes"][2]["appLogic"]
    assert model == {
        "autoCreate": True,
        "classRef": "Altinn.App.Models.model.model",
        "schemaRef": None,
        "allowAnonymousOnStateless": False,
        "autoDeleteOnProcessEnd": False,
        "disallowUserCreate": False,
        "disallowUserDelete": False,
        "shadowFields": None,
    }


def test_unknown_top_level_properties_are_kept_last(client: httpx.Client) -> None:
    body = client.get("/ttd/frontend-test/api/v1/applicationmetadata").json()
    assert list(body)[-1] == "$schema"
    assert body["onEntry"] == {"show": "select-instance", "instanceSelection": None}
    assert body["features"]["jsonObjectInDataResponse"] is True  # FeatureManagement in appsettings.json


def test_application_metadata_is_anonymous_as_in_the_recordings(client: httpx.Client) -> None:
    recorded = []
    for log in sorted(SNAPSHOTS.glob("*_Logs.verified.txt")):
        lines = log.read_text("utf-8-sig").splitlines()
        for index, line in enumerate(lines):
            if "### Request: ApplicationMetadata.GetAction" in line:
                recorded.append((line.split(" - ", 1)[1], lines[index + 1].rsplit("StatusCode: ", 1)[1]))
    assert recorded and set(recorded) == {("User: None/none, AuthLevel: 0, AuthMethod: none", "200")}
    assert client.get("/ttd/basic/api/v1/applicationmetadata").status_code == 200


@pytest.mark.parametrize("value", ["false", "False", " FALSE "])
def test_check_org_app_false_serves_a_mismatching_app(special: httpx.Client, value: str) -> None:
    response = special.get("/tinnhttp/renamed/api/v1/applicationmetadata", params={"CheckOrgApp": value})
    assert response.status_code == 200 and response.json()["id"] == "tinnhttp/original"


def test_mismatching_app_is_a_409_text(special: httpx.Client) -> None:
    for params in ({}, {"checkOrgApp": "true"}):
        response = special.get("/tinnhttp/renamed/api/v1/applicationmetadata", params=params)
        assert response.status_code == 409
        assert response.headers["content-type"] == TEXT
        assert response.headers["cache-control"] == "public, max-age=60"
        assert response.text == (
            "This is tinnhttp/original, and not the app you are looking for: tinnhttp/renamed!"
        )
    for path in ("api/v1/meta/process", "api/v1/meta/authorizationpolicy"):
        response = special.get(f"/tinnhttp/renamed/{path}")
        assert response.status_code == 409 and response.text.startswith("This is tinnhttp/original")


@pytest.mark.parametrize(
    ("value", "message"), [("yes", "The value 'yes' is not valid."), ("", "The value '' is invalid.")]
)
def test_check_org_app_must_be_a_boolean(client: httpx.Client, value: str, message: str) -> None:
    response = client.get("/ttd/basic/api/v1/applicationmetadata", params={"checkOrgApp": value})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["cache-control"] == "no-store, no-cache"
    body = response.json()
    assert body["title"] == "One or more validation errors occurred."
    assert body["errors"] == {"checkOrgApp": [message]}


def test_unknown_app_is_a_404_problem(client: httpx.Client) -> None:
    _assert_not_found_problem(client.get("/ttd/nope/api/v1/applicationmetadata"))
    _assert_not_found_problem(client.get("/ttd/nope/api/layoutsets"))


# --- process and policy ---


def test_process_and_policy_are_served_as_written(client: httpx.Client) -> None:
    config = SHARED_APPS / "ttd" / "basic" / "config"
    process = client.get("/ttd/basic/api/v1/meta/process")
    assert process.status_code == 200
    assert process.headers["content-type"] == "text/xml; charset=utf-8"
    assert process.content == _file(config / "process" / "process.bpmn").encode()
    policy = client.get("/ttd/basic/api/v1/meta/authorizationpolicy")
    assert policy.headers["content-type"] == "text/xml; charset=utf-8"
    assert policy.text == _file(config / "authorization" / "policy.xml")
    assert "[ORG]" in policy.text  # the app serves its file; only the PDP copy is rewritten


def test_missing_process_and_policy_are_404_problems(special: httpx.Client) -> None:
    _assert_not_found_problem(special.get("/tinnhttp/bare/api/v1/meta/process"))
    _assert_not_found_problem(special.get("/tinnhttp/bare/api/v1/meta/authorizationpolicy"))


# --- texts and languages ---


def test_texts(client: httpx.Client) -> None:
    response = client.get("/ttd/soknad/api/v1/texts/en")
    assert response.status_code == 200 and response.headers["content-type"] == JSON
    body = response.json()
    assert (body["id"], body["org"], body["language"]) == ("ttd-soknad-en", "ttd", "en")
    source = json.loads(_file(SOKNAD / "config" / "texts" / "resource.en.json"))["resources"]
    assert [r["id"] for r in body["resources"]] == [r["id"] for r in source]
    first = body["resources"][0]
    assert first == {"id": "appName", "value": "Application for a grant", "variables": None}
    summary = next(r for r in body["resources"] if r["id"] == "soknad.oppsummering")
    assert summary["variables"][0] == {"key": "belop", "dataSource": "dataModel.soknad", "defaultValue": None}


@pytest.mark.parametrize("language", ["de", "NB", "x.", "en"])
def test_texts_fall_back_to_nb(client: httpx.Client, language: str) -> None:
    body = client.get(f"/ttd/basic/api/v1/texts/{language}").json()
    assert (body["id"], body["language"]) == ("ttd-basic-nb", "nb")
    assert body["resources"] == [{"id": "appName", "value": "basic", "variables": None}]


@pytest.mark.parametrize("language", ["nob", "n", "en-GB"])
def test_texts_language_must_have_two_characters(client: httpx.Client, language: str) -> None:
    response = client.get(f"/ttd/soknad/api/v1/texts/{language}")
    assert response.status_code == 400
    assert response.headers["content-type"] == TEXT
    assert response.text == (
        f"Provided language {language} is invalid. Language code should consists of two characters."
    )


def test_texts_without_the_language_or_nb_are_an_empty_404(special: httpx.Client) -> None:
    assert special.get("/tinnhttp/rules/api/v1/texts/en").json()["resources"][1]["value"] == "Hello"
    for path in (
        "/tinnhttp/rules/api/v1/texts/de",
        "/tinnhttp/bare/api/v1/texts/nb",
        "/tinnhttp/nope/api/v1/texts/nb",
    ):
        response = special.get(path)
        assert (response.status_code, response.content) == (404, b"")


def test_application_languages(client: httpx.Client, special: httpx.Client) -> None:
    response = client.get("/ttd/frontend-test/api/v1/applicationlanguages")
    assert response.status_code == 200 and response.headers["content-type"] == JSON
    assert response.json() == [{"language": "en"}, {"language": "nb"}]
    # Only resource.{two lower-case letters}.json counts.
    assert special.get("/tinnhttp/rules/api/v1/applicationlanguages").json() == [{"language": "en"}]
    response = special.get("/tinnhttp/bare/api/v1/applicationlanguages")
    assert (response.status_code, response.content) == (404, b"")


# --- application settings ---


def test_application_settings(client: httpx.Client, special: httpx.Client) -> None:
    assert client.get("/ttd/soknad/api/v1/applicationsettings").json() == {
        "kontaktEpost": "tilskudd@example.no"
    }
    empty = client.get("/ttd/basic/api/v1/applicationsettings")
    assert (empty.status_code, empty.headers["content-type"], empty.content) == (200, JSON, b"{}")
    response = special.get("/tinnhttp/rules/api/v1/applicationsettings")
    # Keys camelCased in configuration order, AppOidcProvider appended; HTML-sensitive characters escaped.
    assert response.content == (
        b'{"alpha":"1","zeta":"\\u00E6\\u003C\\u0027\\u0022\\u0026\\u003E","appOidcProvider":"idporten"}'
    )
    assert response.json()["zeta"] == "æ<'\"&>"


# --- models ---


def test_json_schema_and_xsd(client: httpx.Client) -> None:
    schema = client.get("/ttd/soknad/api/jsonschema/soknad")
    assert schema.status_code == 200 and schema.headers["content-type"] == TEXT
    assert schema.text == _file(SOKNAD / "models" / "soknad.schema.json")
    xsd = client.get("/ttd/soknad/api/xsdschema/soknad")
    assert xsd.status_code == 200 and xsd.headers["content-type"] == "application/xml; charset=utf-8"
    assert xsd.text == _file(SOKNAD / "models" / "soknad.xsd")
    _assert_not_found_problem(client.get("/ttd/soknad/api/xsdschema/nope"))
    _assert_not_found_problem(client.get("/ttd/soknad/api/jsonschema/nope"))
    # frontend-test has a schema but no XSD for this model.
    _assert_not_found_problem(client.get("/ttd/frontend-test/api/xsdschema/datalist"))
    assert client.get("/ttd/frontend-test/api/jsonschema/datalist").status_code == 200


def test_validation_config(client: httpx.Client) -> None:
    response = client.get("/ttd/soknad/api/validationconfig/soknad")
    assert response.status_code == 200 and response.headers["content-type"] == TEXT
    assert response.text == _file(SOKNAD / "models" / "soknad.validation.json")
    assert client.get("/ttd/basic/api/validationconfig/model").status_code == 204


# --- ui ---


def test_layout_sets(client: httpx.Client, special: httpx.Client) -> None:
    response = client.get("/ttd/soknad/api/layoutsets")
    assert response.status_code == 200 and response.headers["content-type"] == TEXT
    assert response.text == _file(SOKNAD / "ui" / "layout-sets.json")
    inferred = client.get("/ttd/basic/api/layoutsets").json()
    assert inferred == {"sets": [{"id": "Task_1", "dataType": "model", "tasks": ["Task_1"]}]}
    none = special.get("/tinnhttp/bare/api/layoutsets")
    assert (none.status_code, none.content) == (204, b"")
    assert "content-type" not in none.headers


def test_layouts(client: httpx.Client) -> None:
    response = client.get("/ttd/soknad/api/layouts/skjema")
    assert response.status_code == 200 and response.headers["content-type"] == TEXT
    layouts = response.json()
    folder = SOKNAD / "ui" / "skjema" / "layouts"
    assert layouts == {
        "Soknad": json.loads(_file(folder / "Soknad.json")),
        "Vedlegg": json.loads(_file(folder / "Vedlegg.json")),
    }
    assert client.get("/ttd/soknad/api/layouts/nope").content == b"{}"
    obsolete = client.get("/ttd/soknad/api/layouts")
    assert obsolete.status_code == 404 and obsolete.headers["content-type"] == TEXT
    assert obsolete.text.startswith("This endpoint is no longer available.")


def test_layout_settings(client: httpx.Client) -> None:
    response = client.get("/ttd/soknad/api/layoutsettings/skjema")
    assert response.status_code == 200 and response.headers["content-type"] == TEXT
    assert response.text == _file(SOKNAD / "ui" / "skjema" / "Settings.json")
    assert client.get("/ttd/soknad/api/layoutsettings/nope").status_code == 204
    # The obsolete endpoint without a set serves a pre-v8 app's ui/Settings.json.
    assert client.get("/ttd/soknad/api/layoutsettings").status_code == 204


def test_obsolete_layout_settings_of_a_pre_v8_app(special: httpx.Client) -> None:
    response = special.get("/tinnhttp/rules/api/layoutsettings")
    assert response.status_code == 200 and response.headers["content-type"] == TEXT
    assert response.text == '{"pages": {"order": ["Side1"]}}'


def test_rule_files(client: httpx.Client, special: httpx.Client) -> None:
    handler = special.get("/tinnhttp/rules/api/rulehandler/form")
    assert handler.status_code == 200 and handler.headers["content-type"] == "text/javascript"
    assert handler.content == b"var ruleHandlerObject = {};\n"
    config = special.get("/tinnhttp/rules/api/ruleconfiguration/form")
    assert config.status_code == 200 and config.headers["content-type"] == "application/json"
    assert config.content.startswith(b"\xef\xbb\xbf{")  # served byte for byte, BOM included
    shared = client.get("/ttd/stateless-app/api/ruleconfiguration/stateless")
    assert (
        shared.content
        == (
            SHARED_APPS / "ttd" / "stateless-app" / "ui" / "stateless" / "RuleConfiguration.json"
        ).read_bytes()
    )
    for path in (
        "/ttd/soknad/api/rulehandler/skjema",
        "/ttd/soknad/api/ruleconfiguration/skjema",
        "/ttd/soknad/api/rulehandler/x",
    ):
        response = client.get(path)
        assert (response.status_code, response.content) == (204, b"")


def test_footer(client: httpx.Client) -> None:
    response = client.get("/ttd/basic/api/v1/footer")
    assert response.status_code == 200 and response.headers["content-type"] == TEXT
    assert response.text == _file(SHARED_APPS / "ttd" / "basic" / "ui" / "footer.json")
    assert client.get("/ttd/bekreftelse/api/v1/footer").status_code == 204


# --- options ---


def test_options(client: httpx.Client) -> None:
    for params in ({}, {"language": "en", "anything": "x"}):
        response = client.get("/ttd/soknad/api/options/kategori", params=params)
        assert response.status_code == 200 and response.headers["content-type"] == JSON
        assert response.headers["altinn-downstreamparameters"] == ""
        assert response.json()[2] == {
            "value": "naering",
            "label": "kategori.naering",
            "description": "kategori.naering.beskrivelse",
        }
    _assert_not_found_problem(client.get("/ttd/soknad/api/options/nope"))
    _assert_not_found_problem(client.get("/ttd/soknad/api/options/lib**ttd**kategori**latest"))


# --- headers ---


@pytest.mark.parametrize(
    "path",
    [
        "/ttd/basic/api/v1/applicationmetadata",
        "/ttd/basic/api/v1/texts/xyz",
        "/ttd/basic/api/layoutsets",
        "/ttd/basic/api/rulehandler/Task_1",
        "/storage/api/v1/applications/ttd/basic",
        "/storage/api/v1/applications/t-d",
    ],
)
def test_security_headers_on_every_answer(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


# --- Storage ---


def test_storage_application(client: httpx.Client) -> None:
    response = client.get("/storage/api/v1/applications/ttd/soknad")
    assert response.status_code == 200 and response.headers["content-type"] == JSON
    body = response.json()
    app_api = client.get("/ttd/soknad/api/v1/applicationmetadata").json()
    assert body["id"] == "ttd/soknad" and body["org"] == "ttd" and body["title"] == app_api["title"]
    # Newtonsoft with nulls dropped, Storage's model only (no app-only properties).
    for key in ("features", "altinnNugetVersion", "logo", "$schema", "versionId", "eFormidling"):
        assert key not in body
    assert body["onEntry"] == {"show": "new-instance"}
    attachment = body["dataTypes"][2]
    assert "appLogic" not in attachment and attachment["maxSize"] == 10 and attachment["maxCount"] == 5
    assert body["presentationFields"] == [{"id": "belop", "path": "belop", "dataTypeId": "soknad"}]
    # Publishing stamps it, as Storage does on deploy.
    assert body["created"].endswith("Z") and body["lastChanged"].endswith("Z")
    assert body["validFrom"] == body["created"]


def test_storage_application_list_and_org(client: httpx.Client) -> None:
    everything = client.get("/storage/api/v1/applications")
    assert everything.status_code == 200 and everything.headers["content-type"] == JSON
    ids = [app["id"] for app in everything.json()["applications"]]
    assert {"ttd/soknad", "ttd/bekreftelse", "ttd/basic", "tdd/task-action"} <= set(ids)
    assert ids == sorted(ids)
    tdd = client.get("/storage/api/v1/applications/tdd").json()["applications"]
    assert [app["id"] for app in tdd] == [
        "tdd/contributer-restriction",
        "tdd/permissive-app",
        "tdd/task-action",
    ]
    assert client.get("/storage/api/v1/applications/nobody").json() == {"applications": []}


@pytest.mark.parametrize("org", ["t-d", "t d"])
def test_storage_org_with_dash_or_space_is_400(client: httpx.Client, org: str) -> None:
    response = client.get(f"/storage/api/v1/applications/{org}")
    assert response.status_code == 400 and response.headers["content-type"] == JSON
    assert response.json() == f"Application owner id '{org}' is not valid"


def test_storage_unknown_application_is_404_message(client: httpx.Client) -> None:
    response = client.get("/storage/api/v1/applications/ttd/nope")
    assert response.status_code == 404 and response.headers["content-type"] == JSON
    assert response.json() == "Could not find an application with appId=ttd/nope"


def test_storage_texts(client: httpx.Client) -> None:
    response = client.get("/storage/api/v1/applications/ttd/soknad/texts/nb")
    assert response.status_code == 200 and response.headers["content-type"] == JSON
    body = response.json()
    assert (body["id"], body["org"], body["language"]) == ("ttd-soknad-nb", "ttd", "nb")
    assert body["resources"][0] == {"id": "appName", "value": "Søknad om tilskudd", "variables": None}
    assert client.get("/storage/api/v1/applications/ttd/basic/texts/nb").json()["resources"] == [
        {"id": "appName", "value": "basic", "variables": None}
    ]
    # No fallback in Storage.
    _assert_not_found_problem(client.get("/storage/api/v1/applications/ttd/basic/texts/en"))
    _assert_not_found_problem(client.get("/storage/api/v1/applications/ttd/nope/texts/nb"))


@pytest.mark.parametrize("language", ["nob", "n1", "e"])
def test_storage_texts_language_must_be_two_letters(client: httpx.Client, language: str) -> None:
    response = client.get(f"/storage/api/v1/applications/ttd/soknad/texts/{language}")
    assert response.status_code == 400 and response.headers["content-type"] == JSON
    assert response.json() == "The language must be a two letter ISO language name."
