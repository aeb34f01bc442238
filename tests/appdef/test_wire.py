"""The documents served for an app: App API (System.Text.Json) and Storage (Newtonsoft) shapes."""

from __future__ import annotations

import json

import pytest

from tinn.appdef.models import ApplicationMetadata, TextResource
from tinn.appdef.options import downstream_parameters
from tinn.appdef.wire import (
    ALTINN_NUGET_VERSION,
    app_metadata_document,
    dotnet_camel_case,
    dotnet_datetime,
    dumps_string_map_default_encoder,
    storage_application_document,
    text_resource_document,
)

FEATURES = {"footer": True}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AppOidcProvider", "appOidcProvider"),
        ("URLBase", "urlBase"),
        ("ID", "id"),
        ("IOStream", "ioStream"),
        ("already", "already"),
        ("X", "x"),
        ("AB C", "ab C"),
        ("", ""),
    ],
)
def test_camel_case_like_system_text_json(name: str, expected: str) -> None:
    assert dotnet_camel_case(name) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-15T12:17:03.656228Z", "2024-05-15T12:17:03.656228Z"),
        ("2024-05-15T12:17:03.6562300Z", "2024-05-15T12:17:03.65623Z"),
        ("2024-05-15T12:17:03.0000000Z", "2024-05-15T12:17:03Z"),
        ("2024-05-15T12:17:03.123456789Z", "2024-05-15T12:17:03.1234567Z"),
        ("2024-05-15T12:17:03", "2024-05-15T12:17:03"),
        ("2024-05-15T12:17", "2024-05-15T12:17:00"),
        ("2024-05-15", "2024-05-15T00:00:00"),
        ("2024-05-15T12:17:03.5+02:00", "2024-05-15T10:17:03.5+00:00"),
        (None, None),
    ],
)
def test_datetimes_written_back_as_dotnet_does(text: str | None, expected: str | None) -> None:
    assert dotnet_datetime(text) == expected


def test_app_document_writes_every_property_and_keeps_unknown_top_level_ones_last() -> None:
    metadata = ApplicationMetadata.model_validate(
        {
            "$schema": "x",
            "id": "ttd/a",
            "custom": {"kept": [1, None]},
            "dataTypes": [{"id": "d", "appLogic": {"classRef": "C", "unknownNested": 1}, "extra": True}],
            "onEntry": {"show": "select-instance", "instanceSelection": {"sortDirection": "desc"}},
            "features": {"fromFile": True},
        }
    )
    document = app_metadata_document(metadata, FEATURES)
    assert list(document)[-2:] == ["$schema", "custom"]
    assert document["custom"] == {"kept": [1, None]}
    assert document["features"] == FEATURES
    assert document["altinnNugetVersion"] == ALTINN_NUGET_VERSION
    assert document["org"] is None and document["title"] is None and document["partyTypesAllowed"] is None
    data_type = document["dataTypes"][0]
    assert "extra" not in data_type and "unknownNested" not in data_type["appLogic"]
    assert (data_type["maxCount"], data_type["minCount"], data_type["enablePdfCreation"]) == (0, 0, True)
    assert data_type["enabledFileAnalysers"] == [] and data_type["allowedKeysForUserDefinedMetadata"] is None
    assert document["onEntry"]["instanceSelection"] == {
        "rowsPerPageOptions": None,
        "defaultRowsPerPage": None,
        "defaultSelectedOption": None,
        "sortDirection": "desc",
    }


def test_nuget_version_in_the_file_wins_as_in_altinn() -> None:
    metadata = ApplicationMetadata.model_validate({"id": "ttd/a", "altinnNugetVersion": "1.2.3.4"})
    assert app_metadata_document(metadata, FEATURES)["altinnNugetVersion"] == "1.2.3.4"


def test_storage_document_drops_nulls_and_what_storage_does_not_know() -> None:
    metadata = ApplicationMetadata.model_validate(
        {
            "$schema": "x",
            "id": "xyz/other",
            "org": "xyz",
            "logo": {"source": "org"},
            "onEntry": {"show": "select-instance", "instanceSelection": {"sortDirection": "desc"}},
            "dataTypes": [{"id": "d", "maxCount": 2}],
            "messageBoxConfig": {"hideSettings": {"hideAlways": True}},
        }
    )
    document = storage_application_document(metadata, "ttd/a", "ttd")
    assert document == {
        "id": "ttd/a",
        "org": "ttd",
        "dataTypes": [
            {
                "id": "d",
                "maxCount": 2,
                "minCount": 0,
                "enablePdfCreation": True,
                "enableFileScan": False,
                "validationErrorOnPendingFileScan": False,
                "enabledFileAnalysers": [],
                "enabledFileValidators": [],
            }
        ],
        "autoDeleteOnProcessEnd": False,
        "onEntry": {"show": "select-instance"},
        "messageBoxConfig": {"hideSettings": {"hideAlways": True}},
        "disallowUserInstantiation": False,
    }


def test_text_documents() -> None:
    resource = TextResource.model_validate(
        {
            "language": "xx",
            "resources": [{"id": "a", "value": "æ", "variables": [{"key": "k", "dataSource": "d"}]}],
        }
    )
    app = text_resource_document(resource, "ttd", "a", "nb", storage=False)
    assert app == {
        "id": "ttd-a-nb",
        "org": "ttd",
        "language": "nb",
        "resources": [
            {"id": "a", "value": "æ", "variables": [{"key": "k", "dataSource": "d", "defaultValue": None}]}
        ],
    }
    empty = TextResource.model_validate({})
    assert text_resource_document(empty, "ttd", "a", "en", storage=False)["resources"] is None
    assert "resources" not in text_resource_document(empty, "ttd", "a", "en", storage=True)


def test_default_encoder_escapes_like_system_text_json() -> None:
    body = dumps_string_map_default_encoder({"k": "a\"b\\c\n<&'+>`é😀\x01", "n": None})
    assert body == (
        b'{"k":"a\\u0022b\\\\c\\n\\u003C\\u0026\\u0027\\u002B\\u003E\\u0060\\u00E9\\uD83D\\uDE00\\u0001","n":null}'
    )
    assert json.loads(body) == {"k": "a\"b\\c\n<&'+>`é😀\x01", "n": None}


def test_downstream_parameters_header() -> None:
    assert downstream_parameters({}) == ""
    assert (
        downstream_parameters({"version": "1 2", "source": "a,b", "empty": None})
        == "version=1+2,source=a%2Cb,empty="
    )
