"""The JSON documents Altinn serves for an app's definition, built once at load time.

Two serialisers meet here, and the documents differ accordingly:

* The app (App API) deserialises ``applicationmetadata.json`` into its ``ApplicationMetadata``
  model and serialises that model again with System.Text.Json: every property of the model is
  written, nulls included, defaults filled in (``maxCount: 0``, ``enablePdfCreation: true``...),
  properties the model does not know are dropped except at the top level, where
  ``[JsonExtensionData]`` keeps them (written last). ``features`` and ``altinnNugetVersion`` are
  added. Property order follows System.Text.Json: the app's own properties first, then those
  inherited from Storage's ``Application``.
* Storage keeps what the deploy posted into its ``Application`` model and answers with
  Newtonsoft: nulls dropped, unknown properties gone, no app-only properties.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC
from typing import Any

import orjson

from tinn.appdef.models import (
    ApiScopes,
    ApiScopesConfiguration,
    ApplicationMetadata,
    AppLogic,
    AppMetadataAccess,
    ContactPoint,
    CopyInstanceSettings,
    DataField,
    DataType,
    EFormidlingContract,
    HideSettings,
    Keyword,
    Logo,
    MessageBoxConfig,
    OnEntry,
    PartyTypesAllowed,
    SyncAdapterSettings,
    TextResource,
)
from tinn.timeutil import parse_iso

ALTINN_NUGET_VERSION = "8.9.0.0"
"""``altinnNugetVersion``: the Altinn.App library version whose API Tinn implements
(``major.minor.patch.build``); app-frontend switches features on by it."""


def dotnet_camel_case(name: str) -> str:
    """System.Text.Json's ``JsonNamingPolicy.CamelCase`` (``AppOidcProvider`` -> ``appOidcProvider``,
    ``URLBase`` -> ``urlBase``)."""
    if not name or not name[0].isupper():
        return name
    chars = list(name)
    for i, char in enumerate(chars):
        if i == 1 and not char.isupper():
            break
        has_next = i + 1 < len(chars)
        if i > 0 and has_next and not chars[i + 1].isupper():
            if chars[i + 1] == " ":
                chars[i] = char.lower()
            break
        chars[i] = char.lower()
    return "".join(chars)


_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[Tt ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<fraction>\d+))?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})?$"
)


def dotnet_datetime(text: str | None) -> str | None:
    """A date-time from an app file as .NET writes it back after reading it into a ``DateTime``.

    UTC (``Z``) and zone-less values keep their form with the fraction trimmed of trailing zeros
    (at most 7 digits); a value with an offset is converted to UTC and written ``+00:00``, as on
    Altinn's UTC hosts.
    """
    if text is None:
        return None
    match = _DATETIME.match(text.strip())
    if match is None:
        return text
    zone = match["zone"]
    if zone and zone not in ("Z", "z"):
        moment = parse_iso(text).astimezone(UTC)
        fraction = f"{moment.microsecond:06d}".rstrip("0")
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "+00:00"
    clock = match["time"] or "00:00:00"
    if len(clock) == 5:
        clock += ":00"
    fraction = (match["fraction"] or "")[:7].rstrip("0")
    return f"{match['date']}T{clock}" + (f".{fraction}" if fraction else "") + ("Z" if zone else "")


def _object(drop_nulls: bool, pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    if drop_nulls:
        return {key: value for key, value in pairs if value is not None}
    return dict(pairs)


def _list(items: Sequence[Any] | None) -> list[Any] | None:
    return None if items is None else list(items)


def _dict(items: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if items is None else dict(items)


def _shadow(logic: AppLogic, drop: bool) -> dict[str, Any] | None:
    fields = logic.shadow_fields
    if fields is None:
        return None
    return _object(drop, (("prefix", fields.prefix), ("saveToDataType", fields.save_to_data_type)))


def _app_logic(logic: AppLogic | None, drop: bool) -> dict[str, Any] | None:
    if logic is None:
        return None
    return _object(
        drop,
        (
            ("autoCreate", logic.auto_create),
            ("classRef", logic.class_ref),
            ("schemaRef", logic.schema_ref),
            ("allowAnonymousOnStateless", logic.allow_anonymous_on_stateless),
            ("autoDeleteOnProcessEnd", logic.auto_delete_on_process_end),
            ("disallowUserCreate", logic.disallow_user_create),
            ("disallowUserDelete", logic.disallow_user_delete),
            ("shadowFields", _shadow(logic, drop)),
        ),
    )


def data_type_document(data_type: DataType, *, drop_nulls: bool) -> dict[str, Any]:
    return _object(
        drop_nulls,
        (
            ("id", data_type.id),
            ("description", _dict(data_type.description)),
            ("allowedContentTypes", _list(data_type.allowed_content_types)),
            ("allowedContributers", _list(data_type.allowed_contributers)),
            ("allowedContributors", _list(data_type.allowed_contributors)),
            ("actionRequiredToRead", data_type.action_required_to_read),
            ("actionRequiredToWrite", data_type.action_required_to_write),
            ("appLogic", _app_logic(data_type.app_logic, drop_nulls)),
            ("taskId", data_type.task_id),
            ("maxSize", data_type.max_size),
            ("maxCount", data_type.max_count),
            ("minCount", data_type.min_count),
            ("grouping", data_type.grouping),
            ("enablePdfCreation", data_type.enable_pdf_creation),
            ("enableFileScan", data_type.enable_file_scan),
            ("validationErrorOnPendingFileScan", data_type.validation_error_on_pending_file_scan),
            ("enabledFileAnalysers", _list(data_type.enabled_file_analysers)),
            ("enabledFileValidators", _list(data_type.enabled_file_validators)),
            ("allowedKeysForUserDefinedMetadata", _list(data_type.allowed_keys_for_user_defined_metadata)),
        ),
    )


def _party_types(value: PartyTypesAllowed | None, drop: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    return _object(
        drop,
        (
            ("bankruptcyEstate", value.bankruptcy_estate),
            ("organisation", value.organisation),
            ("person", value.person),
            ("subUnit", value.sub_unit),
        ),
    )


def _data_fields(fields: Sequence[DataField] | None, drop: bool) -> list[dict[str, Any]] | None:
    if fields is None:
        return None
    return [
        _object(drop, (("id", field.id), ("path", field.path), ("dataTypeId", field.data_type_id)))
        for field in fields
    ]


def _eformidling(value: EFormidlingContract | None, drop: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    return _object(
        drop,
        (
            ("serviceId", value.service_id),
            ("dpfShipmentType", value.dpf_shipment_type),
            ("receiver", value.receiver),
            ("sendAfterTaskId", value.send_after_task_id),
            ("process", value.process),
            ("standard", value.standard),
            ("typeVersion", value.type_version),
            ("type", value.type),
            ("securityLevel", value.security_level),
            ("dataTypes", _list(value.data_types)),
        ),
    )


def _on_entry_app(value: OnEntry | None) -> dict[str, Any] | None:
    if value is None:
        return None
    selection = value.instance_selection
    return {
        "show": value.show,
        "instanceSelection": None
        if selection is None
        else {
            "rowsPerPageOptions": _list(selection.rows_per_page_options),
            "defaultRowsPerPage": selection.default_rows_per_page,
            "defaultSelectedOption": selection.default_selected_option,
            "sortDirection": selection.sort_direction,
        },
    }


def _hide_settings(value: HideSettings | None, drop: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    return _object(drop, (("hideAlways", value.hide_always), ("hideOnTask", _list(value.hide_on_task))))


def _sync_adapter(value: SyncAdapterSettings | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        info.alias or name: getattr(value, name) for name, info in SyncAdapterSettings.model_fields.items()
    }


def _message_box(value: MessageBoxConfig | None, drop: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    return _object(
        drop,
        (
            ("hideSettings", _hide_settings(value.hide_settings, drop)),
            ("syncAdapterSettings", _sync_adapter(value.sync_adapter_settings)),
        ),
    )


def _copy_settings(value: CopyInstanceSettings | None, drop: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    return _object(
        drop,
        (
            ("enabled", value.enabled),
            ("excludedDataTypes", _list(value.excluded_data_types)),
            ("excludedDataFields", _list(value.excluded_data_fields)),
            ("includeAttachments", value.include_attachments),
        ),
    )


def _scopes(value: ApiScopes | None, drop: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    return _object(
        drop,
        (
            ("read", value.read),
            ("write", value.write),
            ("errorMessageTextResourceKey", value.error_message_text_resource_key),
        ),
    )


def _api_scopes(value: ApiScopesConfiguration | None, drop: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    return _object(
        drop,
        (
            ("users", _scopes(value.users, drop)),
            ("serviceOwners", _scopes(value.service_owners, drop)),
            ("errorMessageTextResourceKey", value.error_message_text_resource_key),
        ),
    )


def _keywords(value: Sequence[Keyword] | None, drop: bool) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    return [_object(drop, (("word", item.word), ("language", item.language))) for item in value]


def _access(value: AppMetadataAccess | None, drop: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    return _object(
        drop,
        (
            ("rightDescription", _dict(value.right_description)),
            ("delegable", value.delegable),
            ("visible", value.visible),
        ),
    )


def _contacts(value: Sequence[ContactPoint] | None, drop: bool) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    return [
        _object(
            drop,
            (
                ("category", item.category),
                ("email", item.email),
                ("telephone", item.telephone),
                ("contactPage", item.contact_page),
            ),
        )
        for item in value
    ]


def _logo(value: Logo | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "displayAppOwnerNameInHeader": value.display_app_owner_name_in_header,
        "source": value.source,
        "size": value.size,
    }


def _application_fields(metadata: ApplicationMetadata, drop: bool, org: str | None) -> list[tuple[str, Any]]:
    """Storage's ``Application`` properties after ``id`` (without ``onEntry``, which differs)."""
    return [
        ("versionId", metadata.version_id),
        ("org", org),
        ("title", _dict(metadata.title)),
        ("validFrom", dotnet_datetime(metadata.valid_from)),
        ("validTo", dotnet_datetime(metadata.valid_to)),
        ("processId", metadata.process_id),
        ("dataTypes", [data_type_document(item, drop_nulls=drop) for item in metadata.data_types]),
        ("partyTypesAllowed", _party_types(metadata.party_types_allowed, drop)),
        ("autoDeleteOnProcessEnd", metadata.auto_delete_on_process_end),
        ("preventInstanceDeletionForDays", metadata.prevent_instance_deletion_for_days),
        ("presentationFields", _data_fields(metadata.presentation_fields, drop)),
        ("dataFields", _data_fields(metadata.data_fields, drop)),
        ("eFormidling", _eformidling(metadata.e_formidling, drop)),
    ]


def _application_tail(metadata: ApplicationMetadata, drop: bool) -> list[tuple[str, Any]]:
    return [
        ("messageBoxConfig", _message_box(metadata.message_box_config, drop)),
        ("copyInstanceSettings", _copy_settings(metadata.copy_instance_settings, drop)),
        ("apiScopes", _api_scopes(metadata.api_scopes, drop)),
        ("storageAccountNumber", metadata.storage_account_number),
        ("disallowUserInstantiation", metadata.disallow_user_instantiation),
        ("homepage", metadata.homepage),
        ("keywords", _keywords(metadata.keywords, drop)),
        ("description", _dict(metadata.description)),
        ("access", _access(metadata.access, drop)),
        ("contactPoints", _contacts(metadata.contact_points, drop)),
    ]


def app_metadata_document(metadata: ApplicationMetadata, features: Mapping[str, bool]) -> dict[str, Any]:
    """What ``GET /{org}/{app}/api/v1/applicationmetadata`` answers."""
    nuget = (
        metadata.altinn_nuget_version
        if "altinn_nuget_version" in metadata.model_fields_set
        else ALTINN_NUGET_VERSION
    )
    pairs: list[tuple[str, Any]] = [
        ("id", metadata.id),
        ("features", dict(features)),
        ("onEntry", _on_entry_app(metadata.on_entry)),
        ("logo", _logo(metadata.logo)),
        ("altinnNugetVersion", nuget),
        ("externalApiIds", _list(metadata.external_api_ids)),
        *_application_fields(metadata, False, metadata.org),
        *_application_tail(metadata, drop=False),
        ("created", dotnet_datetime(metadata.created)),
        ("createdBy", metadata.created_by),
        ("lastChanged", dotnet_datetime(metadata.last_changed)),
        ("lastChangedBy", metadata.last_changed_by),
    ]
    document = dict(pairs)
    for key, value in metadata.extra_properties.items():
        document.setdefault(key, value)
    return document


def storage_application_document(metadata: ApplicationMetadata, app_id: str, org: str) -> dict[str, Any]:
    """Storage's ``Application`` for the app, as its deploy leaves it (without timestamps:
    ``created``/``lastChanged`` and a missing ``validFrom`` are set when it is published)."""
    on_entry = None if metadata.on_entry is None else _object(True, (("show", metadata.on_entry.show),))
    pairs: list[tuple[str, Any]] = [
        ("id", app_id),
        *_application_fields(metadata, True, org),
        ("onEntry", on_entry),
        *_application_tail(metadata, drop=True),
    ]
    return _object(True, pairs)


def text_resource_document(
    resource: TextResource, org: str, app: str, language: str, *, storage: bool
) -> dict[str, Any]:
    """A text resource as the app (``storage=False``) or Storage serves it."""
    resources = None
    if resource.resources is not None:
        resources = [
            {
                "id": element.id,
                "value": element.value,
                "variables": None
                if element.variables is None
                else [
                    {"key": var.key, "dataSource": var.data_source, "defaultValue": var.default_value}
                    for var in element.variables
                ],
            }
            for element in resource.resources
        ]
    return _object(
        storage,
        (("id", f"{org}-{app}-{language}"), ("org", org), ("language", language), ("resources", resources)),
    )


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON without escaping non-ASCII (the app's relaxed encoder)."""
    return orjson.dumps(value)


_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", "\\": "\\\\"}
_HTML_SENSITIVE = frozenset("\"&'+<>`")


def _escape_default(text: str) -> str:
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif code < 0x20 or code > 0x7E or char in _HTML_SENSITIVE:
            if code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
            else:
                out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    return "".join(out)


def dumps_string_map_default_encoder(values: Mapping[str, str | None]) -> bytes:
    """A string map as System.Text.Json writes it with its default (HTML-safe) encoder, which
    escapes non-ASCII and ``"&'+<>``` as ``\\uXXXX`` (``JsonResult`` without a custom encoder)."""
    parts = []
    for key, value in values.items():
        encoded = "null" if value is None else f'"{_escape_default(value)}"'
        parts.append(f'"{_escape_default(key)}":{encoded}')
    return ("{" + ",".join(parts) + "}").encode()
