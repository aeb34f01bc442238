"""The typed parts of appsettings.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinn.appdef.appsettings import AppSettings, parse_app_settings
from tinn.appdef.jsonfiles import AppFileError

PATH = Path("appsettings.json")


def test_switches_are_read_case_insensitively() -> None:
    settings = parse_app_settings(
        PATH,
        "",
        {
            "appsettings": {
                "EnforceDataTypeTaskId": True,
                "requiredValidation": "True",
                "EXPRESSIONVALIDATION": "false",
                "XsdValidation": True,
                "RemoveHiddenData": True,
                "RegisterEventsWithEventsComponent": True,
                "DisableCsrfCheck": True,
                "AppOidcProvider": "idporten",
                "SomethingElse": 3,
            }
        },
    )
    assert settings == AppSettings(
        enforce_data_type_task_id=True,
        required_validation=True,
        expression_validation=False,
        xsd_validation=True,
        remove_hidden_data=True,
        register_events_with_events_component=True,
        disable_csrf_check=True,
        app_oidc_provider="idporten",
        front_end_settings=settings.front_end_settings,
        feature_flags=settings.feature_flags,
    )


def test_defaults_are_off() -> None:
    settings = parse_app_settings(PATH, "", {})
    assert not any(
        getattr(settings, name)
        for name in (
            "enforce_data_type_task_id",
            "required_validation",
            "expression_validation",
            "xsd_validation",
            "remove_hidden_data",
            "register_events_with_events_component",
            "disable_csrf_check",
        )
    )
    assert settings.frontend_features == {
        "footer": True,
        "processActions": True,
        "jsonObjectInDataResponse": False,
        "addInstanceIdentifierToLayoutRequests": False,
    }


def test_front_end_settings_are_config_strings_in_config_order() -> None:
    settings = parse_app_settings(
        PATH,
        "",
        {"FrontEndSettings": {"b": True, "A": 1.5, "10": "x", "2": None, "c": {"nested": "skipped"}}},
    )
    assert list(settings.front_end_settings.items()) == [("2", ""), ("10", "x"), ("A", "1.5"), ("b", "True")]


@pytest.mark.parametrize(
    ("flags", "enabled"),
    [
        ({"JsonObjectInDataResponse": True}, True),
        ({"jsonobjectindataresponse": "true"}, True),
        ({"JsonObjectInDataResponse": {"EnabledFor": [{"Name": "AlwaysOn"}]}}, True),
        ({"JsonObjectInDataResponse": {"EnabledFor": [{"Name": "Percentage"}]}}, False),
        ({"JsonObjectInDataResponse": False}, False),
        ({}, False),
    ],
)
def test_feature_flags(flags: dict[str, object], enabled: bool) -> None:
    settings = parse_app_settings(PATH, "", {"FeatureManagement": flags})
    assert settings.feature("JSONOBJECTINDATARESPONSE") is enabled
    assert settings.frontend_features["jsonObjectInDataResponse"] is enabled


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ([], "must be a JSON object"),
        ({"AppSettings": []}, "AppSettings must be an object"),
        ({"AppSettings": {"DisableCsrfCheck": 1}}, "AppSettings:DisableCsrfCheck must be true or false"),
    ],
)
def test_unusable_settings_fail(root: object, message: str) -> None:
    with pytest.raises(AppFileError, match=message):
        parse_app_settings(PATH, "", root)
