"""Finding and loading an app's model files (``models/{name}.schema.json``, ``.xsd``, ``.metadata.json``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tinn.data.formdata._model import FormModel, FormModelError
from tinn.data.formdata._schema_loader import SchemaModelBuilder, find_root, is_usable_schema
from tinn.data.formdata._xsd_loader import XsdModelBuilder, compile_xsd, global_element_names

SCHEMA_SUFFIX = ".schema.json"
XSD_SUFFIX = ".xsd"
METADATA_SUFFIX = ".metadata.json"

# An XML NCName (no colon), close enough for names that come from app model files.
_NCNAME = re.compile(r"[^\W\d][\w.\-\u00b7\u0300-\u036f\u203f-\u2040]*")


def _model_stems(models_dir: Path) -> list[str]:
    if not models_dir.is_dir():
        return []
    stems = set()
    for path in models_dir.iterdir():
        for suffix in (SCHEMA_SUFFIX, XSD_SUFFIX):
            if path.name.endswith(suffix) and path.is_file():
                stems.add(path.name[: -len(suffix)])
    return sorted(stems)


def find_model_name(models_dir: Path, data_type_id: str, class_ref: str | None) -> str | None:
    """The model file stem for a form data type, or ``None`` when the app ships no model files.

    Studio names the model files after the data type id (``models/model.*`` for data type
    ``model``); the ``classRef`` is ``Altinn.App.Models.{Class}`` or, in newer apps,
    ``Altinn.App.Models.{modelName}.{Class}``. Tried in order: the id, the class name, the
    model-name segment (exactly, then ignoring case), then the one model whose root class or root
    element carries the class name. The last step loads every model in the folder: resolve data
    types once when the app is loaded, not per request.
    """
    stems = _model_stems(models_dir)
    if not stems:
        return None
    segments = (class_ref or "").split(".")
    candidates = [data_type_id, *reversed(segments[-2:])] if class_ref else [data_type_id]
    candidates = [c for c in candidates if c]
    for candidate in candidates:
        if candidate in stems:
            return candidate
    folded = {stem.casefold(): stem for stem in reversed(stems)}
    for candidate in candidates:
        if candidate.casefold() in folded:
            return folded[candidate.casefold()]
    if not class_ref:
        return None
    class_name = segments[-1]
    matches = []
    for stem in stems:
        try:
            model = load_form_model(models_dir, stem, class_ref)
        except FormModelError:
            continue
        if class_name in (model.class_name, model.root_element):
            matches.append(stem)
    return matches[0] if len(matches) == 1 else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormModelError(f"{path.name}: not readable JSON: {exc}") from None


def _metadata_root_names(path: Path) -> list[str]:
    """Root element names from a Studio ``.metadata.json`` element list (older files are schemas)."""
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    elements = doc.get("elements") if isinstance(doc, dict) else None
    if not isinstance(elements, dict):
        return []
    return [
        str(el.get("xName") or el.get("name"))
        for el in elements.values()
        if isinstance(el, dict) and el.get("parentElement") is None and (el.get("xName") or el.get("name"))
    ]


def _target_namespace(doc: dict[str, Any]) -> str | None:
    attributes = doc.get("@xsdSchemaAttributes")
    pairs: list[tuple[Any, Any]] = []
    if isinstance(attributes, dict):
        pairs = list(attributes.items())
    elif isinstance(attributes, list):
        pairs = [tuple(p) for p in attributes if isinstance(p, list | tuple) and len(p) == 2]
    for key, value in pairs:
        if key == "TargetNamespace" and isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _check_xml_names(model: FormModel) -> None:
    if not _NCNAME.fullmatch(model.root_element):
        raise FormModelError(f"{model.name}: '{model.root_element}' is not a valid XML element name")
    for ftype in model.types():
        for prop in ftype.properties:
            if not _NCNAME.fullmatch(prop.xml_name):
                raise FormModelError(f"{model.name}: '{prop.xml_name}' is not a valid XML name")


def _from_schema(doc: dict[str, Any], name: str, hints: list[str]) -> FormModel:
    root_element, root_schema, pointer = find_root(doc, hints, name)
    builder = SchemaModelBuilder(doc)
    flat = builder.flatten(root_schema, pointer)
    if not flat.is_object:
        raise FormModelError(f"{name}: the root '{root_element}' is not an object")
    return FormModel(
        name=name,
        root_element=root_element,
        namespace=_target_namespace(doc),
        root=builder.object_type(flat, root_element),
        source="json-schema",
        json_schema=doc,
        json_schema_root=pointer,
    )


def model_from_json_schema(schema: dict[str, Any], name: str, class_ref: str | None = None) -> FormModel:
    """Build a model from an in-memory JSON schema (no XSD; ``name`` names the model)."""
    if not is_usable_schema(schema):
        raise FormModelError(f"{name}: the schema describes no data")
    model = _from_schema(schema, name, [class_ref.rpartition(".")[2]] if class_ref else [])
    _check_xml_names(model)
    return model


def load_form_model(models_dir: Path, name: str, class_ref: str | None = None) -> FormModel:
    """Build the model of ``models/{name}.*``: from the JSON schema when it describes data, else the XSD.

    ``class_ref`` (the data type's ``appLogic.classRef``) helps pick the root class of older
    schemas that list several candidate roots.
    """
    if not name or any(c in name for c in "/\\\0") or name in (".", ".."):
        raise FormModelError(f"'{name}' is not a model file name")
    schema_path = models_dir / f"{name}{SCHEMA_SUFFIX}"
    xsd_path = models_dir / f"{name}{XSD_SUFFIX}"
    has_schema, has_xsd = schema_path.is_file(), xsd_path.is_file()
    if not has_schema and not has_xsd:
        raise FormModelError(f"No {name}{SCHEMA_SUFFIX} or {name}{XSD_SUFFIX} in {models_dir}")
    hints = [class_ref.rpartition(".")[2]] if class_ref else []
    hints += _metadata_root_names(models_dir / f"{name}{METADATA_SUFFIX}")
    if has_xsd:
        hints += global_element_names(xsd_path)
    doc = _read_json(schema_path) if has_schema else None
    model: FormModel
    if isinstance(doc, dict) and is_usable_schema(doc):
        model = _from_schema(doc, name, hints)
        model.schema_path = schema_path
        model.xsd_path = xsd_path if has_xsd else None
    elif has_xsd:
        schema = compile_xsd(xsd_path)
        xsd_builder = XsdModelBuilder(schema)
        element = xsd_builder.root_element(hints)
        if not element.type.is_complex():
            raise FormModelError(
                f"{xsd_path.name}: the root element '{element.local_name}' has a simple type"
            )
        model = FormModel(
            name=name,
            root_element=element.local_name,
            namespace=schema.target_namespace or None,
            root=xsd_builder.complex_type(element.type, element.local_name, root=True),
            source="xsd",
            xsd_path=xsd_path,
        )
        model.cached("xsd", lambda: schema)
    else:
        raise FormModelError(f"{schema_path.name} describes no data and there is no {xsd_path.name}")
    _check_xml_names(model)
    return model
