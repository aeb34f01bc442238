"""The parts of an app's ``appsettings.json`` that change what Tinn does for the app.

.NET configuration matches section and key names case-insensitively and stores every JSON scalar
as text (``true`` becomes ``"True"``); the binder then parses booleans case-insensitively. The
rest of the file (Kestrel, PlatformSettings, ApplicationInsights, ...) configures the app's host
and is ignored: Tinn is the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tinn.appdef.jsonfiles import AppFileError, line_of

_BOOL_SETTINGS = {
    "enforcedatatypetaskid": "enforce_data_type_task_id",
    "requiredvalidation": "required_validation",
    "expressionvalidation": "expression_validation",
    "xsdvalidation": "xsd_validation",
    "removehiddendata": "remove_hidden_data",
    "registereventswitheventscomponent": "register_events_with_events_component",
    "disablecsrfcheck": "disable_csrf_check",
}

# Feature flags app-frontend is told about in ``applicationmetadata.features``.
_FRONTEND_FLAGS = {
    "jsonobjectindataresponse": "jsonObjectInDataResponse",
    "addinstanceidentifiertolayoutrequests": "addInstanceIdentifierToLayoutRequests",
}


@dataclass(frozen=True, slots=True)
class AppSettings:
    """Typed ``AppSettings`` (plus ``FrontEndSettings`` and ``FeatureManagement``) of one app.

    Every switch defaults to off, as the C# properties do.
    """

    enforce_data_type_task_id: bool = False
    required_validation: bool = False
    expression_validation: bool = False
    xsd_validation: bool = False
    remove_hidden_data: bool = False
    register_events_with_events_component: bool = False
    disable_csrf_check: bool = False
    app_oidc_provider: str | None = None
    front_end_settings: Mapping[str, str | None] = field(default_factory=lambda: MappingProxyType({}))
    feature_flags: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))

    def feature(self, name: str) -> bool:
        """A ``FeatureManagement`` flag by name (case-insensitive); off when not configured."""
        return self.feature_flags.get(name.lower(), False)

    @property
    def frontend_features(self) -> dict[str, bool]:
        """``applicationmetadata.features`` (Altinn's ``FrontendFeatures``)."""
        features = {"footer": True, "processActions": True}
        for key, name in _FRONTEND_FLAGS.items():
            features[name] = self.feature(key)
        return features


def _section(root: Mapping[str, Any], name: str) -> tuple[str, Any] | None:
    for key, value in root.items():
        if key.lower() == name.lower():
            return key, value
    return None


def _config_text(value: Any) -> str | None:
    """A JSON scalar as .NET configuration stores it."""
    if value is None:
        return ""
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


_NUMBER = re.compile(r"^\d+$")


def _config_key_order(key: str) -> tuple[int, int, str]:
    """.NET's ``ConfigurationKeyComparer``: numbers first by value, then text case-insensitively."""
    if _NUMBER.match(key):
        return (0, int(key), "")
    return (1, 0, key.lower())


def parse_app_settings(path: Path, text: str, root: Any) -> AppSettings:
    if not isinstance(root, dict):
        raise AppFileError(path, "appsettings.json must be a JSON object", line_of(text, []))
    values: dict[str, Any] = {}
    found = _section(root, "AppSettings")
    if found is not None:
        section_name, section = found
        if not isinstance(section, dict):
            raise AppFileError(path, "AppSettings must be an object", line_of(text, [section_name]))
        for key, value in section.items():
            lowered = key.lower()
            if lowered in _BOOL_SETTINGS:
                values[_BOOL_SETTINGS[lowered]] = _boolean(value, path, text, [section_name, key])
            elif lowered == "appoidcprovider":
                values["app_oidc_provider"] = _config_text(value) or None
    front_end: dict[str, str | None] = {}
    found = _section(root, "FrontEndSettings")
    if found is not None and isinstance(found[1], dict):
        for key in sorted(found[1], key=_config_key_order):
            scalar = found[1][key]
            if isinstance(scalar, dict | list):
                continue  # nested sections do not bind to the string map
            front_end[key] = _config_text(scalar)
    flags: dict[str, bool] = {}
    found = _section(root, "FeatureManagement")
    if found is not None and isinstance(found[1], dict):
        for key, flag in found[1].items():
            flags[key.lower()] = _flag_enabled(flag)
    return AppSettings(
        **values,
        front_end_settings=MappingProxyType(front_end),
        feature_flags=MappingProxyType(flags),
    )


def _boolean(value: Any, path: Path, text: str, loc: list[str | int]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise AppFileError(path, f"{':'.join(str(p) for p in loc)} must be true or false", line_of(text, loc))


def _flag_enabled(flag: Any) -> bool:
    """A Microsoft.FeatureManagement flag: a boolean, or filters of which only AlwaysOn is static."""
    if isinstance(flag, bool):
        return flag
    if isinstance(flag, str):
        return flag.strip().lower() == "true"
    if isinstance(flag, dict):
        for key, filters in flag.items():
            if key.lower() == "enabledfor" and isinstance(filters, list):
                return any(
                    isinstance(item, dict)
                    and any(k.lower() == "name" and str(v).lower() == "alwayson" for k, v in item.items())
                    for item in filters
                )
    return False
