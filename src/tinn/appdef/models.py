"""Typed views of an app's JSON files, read the way the Altinn app reads them.

Altinn deserialises ``applicationmetadata.json`` and the text files with System.Text.Json:
property names match case-insensitively, unknown properties are skipped (top-level ones of the
metadata are kept and served again), and a value of the wrong JSON type fails the whole file.
These models do the same: strict types, case-insensitive names, ``extra`` kept only where Altinn
keeps it. Date-times are kept as the text written in the file (validated as ISO 8601).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from tinn.timeutil import parse_iso


class WireModel(BaseModel):
    """camelCase JSON names matched case-insensitively; strict JSON types; unknown names skipped."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        strict=True,
        frozen=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _match_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        aliases = _alias_map(cls)
        return {aliases.get(key.lower(), key) if isinstance(key, str) else key: v for key, v in data.items()}


# System.Text.Json reads ``int`` properties as 32-bit integers and refuses anything larger.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]

_ALIASES: dict[type[BaseModel], dict[str, str]] = {}


def _alias_map(model: type[BaseModel]) -> dict[str, str]:
    """Lower-cased JSON name (and field name) -> the alias validation expects."""
    aliases = _ALIASES.get(model)
    if aliases is None:
        aliases = {}
        for name, info in model.model_fields.items():
            alias = info.alias or name
            aliases[alias.lower()] = alias
            aliases.setdefault(name.lower(), alias)
        _ALIASES[model] = aliases
    return aliases


def _check_datetime(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_iso(value)
        except ValueError:
            raise ValueError(f"'{value}' is not an ISO 8601 date-time") from None
    return value


class ShadowFields(WireModel):
    prefix: str | None = None
    save_to_data_type: str | None = None


class AppLogic(WireModel):
    auto_create: bool | None = None
    class_ref: str | None = None
    schema_ref: str | None = None
    allow_anonymous_on_stateless: bool = False
    auto_delete_on_process_end: bool = False
    disallow_user_create: bool = False
    disallow_user_delete: bool = False
    allow_in_subform: bool = False
    shadow_fields: ShadowFields | None = None


class DataType(WireModel):
    id: str
    description: dict[str, str] | None = None
    allowed_content_types: list[str] | None = None
    allowed_contributers: list[str] | None = None
    allowed_contributors: list[str] | None = None
    action_required_to_read: str | None = None
    action_required_to_write: str | None = None
    app_logic: AppLogic | None = None
    task_id: str | None = None
    max_size: Int32 | None = None
    # C# default 0 (unbounded/optional) when the file omits them, whatever the docs say.
    max_count: Int32 = 0
    min_count: Int32 = 0
    grouping: str | None = None
    enable_pdf_creation: bool = True
    enable_file_scan: bool = False
    validation_error_on_pending_file_scan: bool = False
    enabled_file_analysers: list[str] | None = Field(default_factory=list)
    enabled_file_validators: list[str] | None = Field(default_factory=list)
    allowed_keys_for_user_defined_metadata: list[str] | None = None

    @property
    def is_form_data(self) -> bool:
        """A form data type (``appLogic.classRef`` set) rather than a binary attachment."""
        return self.app_logic is not None and self.app_logic.class_ref is not None

    @property
    def contributors(self) -> list[str]:
        """Legacy spelling ``allowedContributers`` wins when non-empty (app notes 2.5)."""
        chosen = self.allowed_contributers or self.allowed_contributors or []
        return [item for item in chosen if item is not None]


class PartyTypesAllowed(WireModel):
    bankruptcy_estate: bool = False
    organisation: bool = False
    person: bool = False
    sub_unit: bool = False


class DataField(WireModel):
    id: str | None = None
    path: str | None = None
    data_type_id: str | None = None


class EFormidlingContract(WireModel):
    service_id: str | None = None
    dpf_shipment_type: str | None = None
    receiver: str | None = None
    send_after_task_id: str | None = None
    process: str | None = None
    standard: str | None = None
    type_version: str | None = None
    type: str | None = None
    security_level: Int32 = 0
    data_types: list[str] | None = None


class InstanceSelection(WireModel):
    rows_per_page_options: list[Int32] | None = None
    default_rows_per_page: Int32 | None = None
    default_selected_option: Int32 | None = None
    sort_direction: str | None = None


class OnEntry(WireModel):
    show: str | None = None
    instance_selection: InstanceSelection | None = None


class HideSettings(WireModel):
    hide_always: bool = False
    hide_on_task: list[str] | None = None


class SyncAdapterSettings(WireModel):
    disable_sync: bool = False
    enable_user_supplied_dialog_id: bool = False
    disable_create: bool = False
    disable_delete: bool = False
    disable_add_activities: bool = False
    disable_add_transmissions: bool = False
    disable_sync_due_at: bool = False
    disable_sync_status: bool = False
    disable_mark_completed_when_confirmed: bool = False
    disable_sync_content_title: bool = False
    disable_sync_content_summary: bool = False
    disable_sync_content_additional_information: bool = False
    disable_sync_content_extended_status: bool = False
    disable_sync_attachments: bool = False
    disable_sync_api_actions: bool = False
    disable_sync_gui_actions: bool = False


class MessageBoxConfig(WireModel):
    hide_settings: HideSettings | None = None
    sync_adapter_settings: SyncAdapterSettings | None = None


class CopyInstanceSettings(WireModel):
    enabled: bool = False
    excluded_data_types: list[str] | None = None
    excluded_data_fields: list[str] | None = None
    include_attachments: bool = False


class ApiScopes(WireModel):
    read: str | None = None
    write: str | None = None
    error_message_text_resource_key: str | None = None


class ApiScopesConfiguration(WireModel):
    users: ApiScopes | None = None
    service_owners: ApiScopes | None = None
    error_message_text_resource_key: str | None = None


class Keyword(WireModel):
    word: str | None = None
    language: str | None = None


class AppMetadataAccess(WireModel):
    right_description: dict[str, str] | None = None
    delegable: bool = False
    visible: bool = False


class ContactPoint(WireModel):
    category: str | None = None
    email: str | None = None
    telephone: str | None = None
    contact_page: str | None = None


class Logo(WireModel):
    display_app_owner_name_in_header: bool = False
    source: str | None = None
    size: str | None = None


class ApplicationMetadata(WireModel):
    """``config/applicationmetadata.json``. Unknown top-level properties are kept (``model_extra``)
    and served again, as Altinn's ``[JsonExtensionData]`` does; unknown nested ones are dropped."""

    model_config = ConfigDict(extra="allow")

    id: str
    org: str | None = None
    title: dict[str, str] | None = None
    version_id: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    process_id: str | None = None
    data_types: list[DataType] = Field(default_factory=list)
    party_types_allowed: PartyTypesAllowed | None = None
    auto_delete_on_process_end: bool = False
    prevent_instance_deletion_for_days: Int32 | None = None
    presentation_fields: list[DataField] | None = None
    data_fields: list[DataField] | None = None
    e_formidling: EFormidlingContract | None = Field(default=None, alias="eFormidling")
    on_entry: OnEntry | None = None
    message_box_config: MessageBoxConfig | None = None
    copy_instance_settings: CopyInstanceSettings | None = None
    api_scopes: ApiScopesConfiguration | None = None
    storage_account_number: Int32 | None = None
    disallow_user_instantiation: bool = False
    homepage: str | None = None
    keywords: list[Keyword] | None = None
    description: dict[str, str] | None = None
    access: AppMetadataAccess | None = None
    contact_points: list[ContactPoint] | None = None
    logo: Logo | None = None
    # Read but replaced: the app serves its own feature flags (see wire.app_metadata_document).
    features: dict[str, bool] | None = None
    altinn_nuget_version: str | None = None
    external_api_ids: list[str] | None = None
    created: str | None = None
    created_by: str | None = None
    last_changed: str | None = None
    last_changed_by: str | None = None

    _check_dates = field_validator("valid_from", "valid_to", "created", "last_changed")(_check_datetime)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        org, slash, app = value.partition("/")
        if not slash or not org or not app or "/" in app:
            raise ValueError(f"id '{value}' is not of the form 'org/app'")
        return value

    def data_type(self, data_type_id: str) -> DataType | None:
        for data_type in self.data_types:
            if data_type.id == data_type_id:
                return data_type
        return None

    @property
    def extra_properties(self) -> Mapping[str, Any]:
        """Top-level properties Altinn's model does not know, in file order."""
        return self.model_extra or {}


class TextResourceVariable(WireModel):
    key: str | None = None
    data_source: str | None = None
    default_value: str | None = None


class TextResourceElement(WireModel):
    id: str | None = None
    value: str | None = None
    variables: list[TextResourceVariable] | None = None


class TextResource(WireModel):
    """``config/texts/resource.{language}.json``: the text keys of one language."""

    language: str | None = None
    resources: list[TextResourceElement] | None = None

    def value(self, text_id: str) -> str | None:
        for element in self.resources or ():
            if element.id == text_id:
                return element.value
        return None


class LayoutSetEntry(WireModel):
    id: str
    data_type: str | None = None
    tasks: list[str] | None = None
    type: str | None = None


class LayoutSetsFile(WireModel):
    """``ui/layout-sets.json``."""

    sets: list[LayoutSetEntry] = Field(default_factory=list)


class LayoutPages(WireModel):
    order: list[str] | None = None


class LayoutSettings(WireModel):
    """``ui/{set}/Settings.json`` (only what the backend uses; the file is served as written)."""

    pages: LayoutPages | None = None
    default_data_type: str | None = None
