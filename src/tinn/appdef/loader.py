"""Reading one Altinn Studio app folder into an :class:`AppDefinition`.

Every file Tinn uses is read and checked here, once; a file that cannot be used fails the whole
app with an :class:`AppFileError` naming the file and, where it can be known, the line. See
``docs/apps.md`` for what is read, what is ignored and why a broken optional file also fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
from pydantic import ValidationError

from tinn.appdef.appsettings import AppSettings, parse_app_settings
from tinn.appdef.definition import AppDefinition, LayoutSet, ModelFiles, Served
from tinn.appdef.jsonfiles import AppFileError, decode, line_of, load_json, parse_json, read_bytes, read_text
from tinn.appdef.layouts import inferred_layout_sets_body, load_footer, load_layout_sets
from tinn.appdef.models import ApplicationMetadata, TextResource
from tinn.appdef.options import load_options
from tinn.appdef.validation import validation_failure
from tinn.appdef.wire import (
    app_metadata_document,
    dotnet_camel_case,
    dumps,
    dumps_string_map_default_encoder,
    storage_application_document,
    text_resource_document,
)
from tinn.applogic import AppLogic, AppLogicError, load_app_logic
from tinn.auth.xacml import Policy, PolicyError, parse_policy
from tinn.data.formdata import FormModel, FormModelError, find_model_name, load_form_model
from tinn.process.bpmn import BpmnError, ProcessDefinition, parse_bpmn
from tinn.xmlsafe import UnsafeXml, XmlSyntaxError, parse_xml

METADATA_FILE = Path("config") / "applicationmetadata.json"
PROCESS_FILE = Path("config") / "process" / "process.bpmn"
POLICY_FILE = Path("config") / "authorization" / "policy.xml"
TEXTS_DIR = Path("config") / "texts"

# The file names the app's languages endpoint recognises.
LANGUAGE_FILE = re.compile(r"^resource\.([a-z]{2})\.json$")
_MODEL_SUFFIXES = (".schema.json", ".prefill.json", ".validation.json", ".xsd")


def load_app(folder: Path, org: str, app: str) -> AppDefinition:
    """Load the app folder ``folder`` (holding ``config/``, ``models/``, ``ui/``...) as ``org/app``."""
    warnings: list[str] = []
    metadata_path = folder / METADATA_FILE
    metadata_raw, metadata = _metadata(metadata_path)
    if metadata.id != f"{org}/{app}":
        warnings.append(
            f"{metadata_path}: id is '{metadata.id}' but the folder is {org}/{app}; "
            "the app is served as the folder says and checkOrgApp requests get 409"
        )

    process, process_xml = _process(folder / PROCESS_FILE)
    task_ids = [task.id for task in process.tasks] if process is not None else []
    if process is not None:
        warnings.extend(str(warning) for warning in process.warnings)
        warnings.extend(
            f"{metadata_path}: data type '{data_type.id}' is bound to task '{data_type.task_id}', "
            "which the process does not have"
            for data_type in metadata.data_types
            if data_type.task_id is not None and data_type.task_id not in task_ids
        )

    policy, policy_xml = _policy(folder / POLICY_FILE, org, app)
    texts = _texts(folder / TEXTS_DIR)
    models = _models(folder / "models")
    form_models = _form_models(folder / "models", metadata)
    ui = folder / "ui"
    layout_sets, inferred, sets_text, layout_warnings = load_layout_sets(ui, metadata, task_ids)
    warnings.extend(layout_warnings)
    footer = load_footer(ui)
    options = load_options(folder / "options")
    settings = _app_settings(folder / "appsettings.json")
    logic = _logic(folder, org, app)

    served = Served(
        metadata=dumps(app_metadata_document(metadata, settings.frontend_features)),
        process=decode(process_xml, folder / PROCESS_FILE).encode() if process_xml is not None else None,
        policy=policy_xml.encode() if policy_xml is not None else None,
        texts=MappingProxyType(
            {
                language: dumps(text_resource_document(resource, org, app, language, storage=False))
                for language, resource in texts.items()
            }
        ),
        languages=_languages_body(folder / TEXTS_DIR),
        settings=_settings_body(settings),
        layout_sets=_layout_sets_body(layout_sets, inferred, sets_text),
        footer=footer[0].encode() if footer is not None else None,
        legacy_layout_settings=_legacy_layout_settings(ui / "Settings.json"),
    )
    return AppDefinition(
        org=org,
        app=app,
        path=folder,
        metadata=metadata,
        metadata_json=MappingProxyType(metadata_raw),
        process=process,
        process_xml=process_xml,
        policy=policy,
        policy_xml=policy_xml,
        texts=MappingProxyType(texts),
        models=MappingProxyType(models),
        form_models=MappingProxyType(form_models),
        layout_sets=layout_sets,
        layout_sets_inferred=inferred,
        footer=footer[1] if footer is not None else None,
        options=MappingProxyType(options),
        settings=settings,
        storage_document=MappingProxyType(storage_application_document(metadata, f"{org}/{app}", org)),
        served=served,
        logic=logic,
        warnings=tuple(warnings),
    )


def _metadata(path: Path) -> tuple[dict[str, Any], ApplicationMetadata]:
    text = read_text(path)
    # The app reads this file with trailing commas allowed but no comments.
    raw = parse_json(text, path, comments=False, trailing_commas=True)
    if not isinstance(raw, dict):
        raise AppFileError(path, "applicationmetadata.json must be a JSON object", line_of(text, []))
    try:
        metadata = ApplicationMetadata.model_validate(raw)
    except ValidationError as exc:
        raise validation_failure(path, text, exc) from None
    seen: dict[str, int] = {}
    for index, data_type in enumerate(metadata.data_types):
        if data_type.id in seen:
            raise AppFileError(
                path, f"data type '{data_type.id}' is declared twice", line_of(text, ["dataTypes", index])
            )
        seen[data_type.id] = index
    return raw, metadata


def _process(path: Path) -> tuple[ProcessDefinition | None, bytes | None]:
    if not path.is_file():
        return None, None
    data = read_bytes(path)
    try:
        return parse_bpmn(data, source=str(path)), data
    except BpmnError as exc:
        message = f"{exc.message} (element '{exc.element_id}')" if exc.element_id else exc.message
        raise AppFileError(path, message, exc.line) from None


def _policy(path: Path, org: str, app: str) -> tuple[Policy | None, str | None]:
    if not path.is_file():
        return None, None
    text = read_text(path)
    try:
        # The PDP gets the policy with [ORG]/[APP] replaced, as Altinn's deploy uploads it; the
        # app itself serves the file as written.
        return parse_policy(text, source=str(path), org=org, app=app), text
    except PolicyError as exc:
        raise AppFileError(path, exc.reason, exc.line) from None


def _texts(folder: Path) -> dict[str, TextResource]:
    texts: dict[str, TextResource] = {}
    if not folder.is_dir():
        return texts
    for path in sorted(folder.glob("resource.*.json"), key=lambda p: p.name):
        language = path.name[len("resource.") : -len(".json")]
        if not path.is_file() or not language:
            continue
        text, raw = load_json(path)
        if not isinstance(raw, dict):
            raise AppFileError(path, "a text resource file must be a JSON object", line_of(text, []))
        try:
            texts[language] = TextResource.model_validate(raw)
        except ValidationError as exc:
            raise validation_failure(path, text, exc) from None
    return texts


def _languages_body(folder: Path) -> bytes | None:
    if not folder.is_dir():
        return None
    languages = sorted(
        match.group(1)
        for path in folder.iterdir()
        if path.is_file() and (match := LANGUAGE_FILE.match(path.name))
    )
    return orjson.dumps([{"language": language} for language in languages])


def _models(folder: Path) -> dict[str, ModelFiles]:
    found: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        return {}
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        suffix = next((s for s in _MODEL_SUFFIXES if path.name.endswith(s)), None)
        if suffix is None or not path.is_file() or len(path.name) == len(suffix):
            continue
        fields = found.setdefault(path.name[: -len(suffix)], {})
        if suffix == ".xsd":
            fields["xsd"] = _xml_text(path)
        else:
            text, value = load_json(path)
            if suffix == ".schema.json":
                fields["json_schema"], fields["json_schema_text"] = value, text
            elif suffix == ".prefill.json":
                fields["prefill"] = value
            else:
                fields["validation"], fields["validation_text"] = value, text
    return {name: ModelFiles(name=name, **fields) for name, fields in found.items()}


def _form_models(folder: Path, metadata: ApplicationMetadata) -> dict[str, FormModel]:
    """The model of every form data type that has model files (apps may ship none)."""
    found: dict[str, FormModel] = {}
    if not folder.is_dir():
        return found
    for data_type in metadata.data_types:
        if not data_type.is_form_data or data_type.app_logic is None:
            continue
        class_ref = data_type.app_logic.class_ref
        name = find_model_name(folder, data_type.id, class_ref)
        if name is None:
            continue
        try:
            found[data_type.id] = load_form_model(folder, name, class_ref)
        except FormModelError as exc:
            schema = folder / f"{name}.schema.json"
            raise AppFileError(
                schema if schema.is_file() else folder / f"{name}.xsd",
                f"the model of data type '{data_type.id}' cannot be built: {exc}",
            ) from None
    return found


def _xml_text(path: Path) -> str:
    text = read_text(path)
    try:
        parse_xml(text)
    except XmlSyntaxError as exc:
        raise AppFileError(path, f"not well-formed XML: {exc}", exc.line) from None
    except (UnsafeXml, ValueError) as exc:
        raise AppFileError(path, str(exc)) from None
    return text


def _logic(folder: Path, org: str, app: str) -> AppLogic:
    """The hooks of the app's Python ``logic/`` package (none without one)."""
    try:
        return load_app_logic(folder, org, app)
    except AppLogicError as exc:
        init = folder / "logic" / "__init__.py"
        cause = exc.__cause__
        line = cause.lineno if isinstance(cause, SyntaxError) else None
        if isinstance(cause, SyntaxError) and cause.filename:
            init = Path(cause.filename)
        message = str(exc).removeprefix(f"{folder / 'logic' / '__init__.py'}: ")
        raise AppFileError(init, message, line) from None


def _app_settings(path: Path) -> AppSettings:
    if not path.is_file():
        return AppSettings()
    text, raw = load_json(path)
    return parse_app_settings(path, text, raw)


def _settings_body(settings: AppSettings) -> bytes:
    values = dict(settings.front_end_settings)
    # Added for backwards compatibility, unless FrontEndSettings has the (case-sensitive) key.
    if settings.app_oidc_provider and "AppOidcProvider" not in values:
        values["AppOidcProvider"] = settings.app_oidc_provider
    return dumps_string_map_default_encoder({dotnet_camel_case(key): value for key, value in values.items()})


def _legacy_layout_settings(path: Path) -> bytes | None:
    """``ui/Settings.json`` of pre-v8 apps, served as written by the obsolete endpoint."""
    if not path.is_file():
        return None
    text, _ = load_json(path)
    return text.encode()


def _layout_sets_body(sets: tuple[LayoutSet, ...], inferred: bool, sets_text: str | None) -> bytes | None:
    if sets_text is not None:
        return sets_text.encode()
    if inferred and sets:
        return inferred_layout_sets_body(sets)
    return None
