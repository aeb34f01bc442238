"""Validating form data against the app's XSD and JSON schema, with issues pointing at JSON fields."""

from __future__ import annotations

import copy
import datetime as _dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema_rs
import xmlschema
from lxml import etree

from tinn.data.formdata._model import FormModel, FormModelError, FormType
from tinn.data.formdata._xml import parse_document
from tinn.data.formdata._xsd_loader import compile_xsd


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One validation finding. ``field`` is a JSON path (``personer[0].alder``), ``None`` for the root."""

    field: str | None
    code: str
    description: str


# --- JSON schema ------------------------------------------------------------------------------

_NUMERIC_KEYWORDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
_COUNT_KEYWORDS = {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}
_XSD_TIME = re.compile(
    r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
)


def _number(text: str) -> int | float | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _normalise(node: Any) -> Any:
    """Repair what Studio writes but validators refuse: numbers as strings in numeric keywords,
    ``"const": "1472"`` on an integer (Seres fixed attributes)."""
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _normalise(value) for key, value in node.items()}
    for key in _NUMERIC_KEYWORDS | _COUNT_KEYWORDS:
        value = result.get(key)
        if isinstance(value, str) and (number := _number(value)) is not None:
            result[key] = int(number) if key in _COUNT_KEYWORDS else number
    declared = result.get("type")
    types = declared if isinstance(declared, list) else [declared]
    if "integer" in types or "number" in types:
        if isinstance(result.get("const"), str) and (number := _number(result["const"])) is not None:
            result["const"] = number
        if isinstance(result.get("enum"), list):
            result["enum"] = [
                (_number(item) if isinstance(item, str) and _number(item) is not None else item)
                for item in result["enum"]
            ]
    return result


def _draft(doc: dict[str, Any]) -> type[jsonschema_rs.Validator]:
    declared = str(doc.get("$schema", ""))
    if "draft-04" in declared:
        return jsonschema_rs.Draft4Validator
    if "draft-06" in declared:
        return jsonschema_rs.Draft6Validator
    if "2019-09" in declared:
        return jsonschema_rs.Draft201909Validator
    if "2020-12" in declared:
        return jsonschema_rs.Draft202012Validator
    return jsonschema_rs.Draft7Validator  # the legacy "http://json-schema.org/schema#" files


def _parse_format(fmt: Any, value: str) -> Any:
    try:
        if fmt == "date":
            return _dt.date.fromisoformat(value) if len(value) == 10 else None
        if fmt == "date-time":
            parsed = _dt.datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)
        if fmt == "time":
            return _dt.time.fromisoformat(value.rstrip("Z")) if _XSD_TIME.fullmatch(value) else None
    except ValueError:
        return None
    return None


class _FormatBound:
    """ajv-formats' ``formatMinimum``/``formatMaximum`` family, comparing dates as dates."""

    operator = ">="

    def __init__(self, parent_schema: dict[str, Any], value: Any, schema_path: list[str | int]) -> None:
        self._format = parent_schema.get("format")
        self._text = str(value)
        self._bound = _parse_format(self._format, value) if isinstance(value, str) else None

    def _holds(self, value: Any) -> bool:
        return bool(value >= self._bound)

    def validate(self, instance: Any) -> None:
        if self._bound is None or not isinstance(instance, str):
            return
        parsed = _parse_format(self._format, instance)
        if parsed is not None and not self._holds(parsed):
            raise ValueError(f"must be {self.operator} {self._text}")


class _FormatMaximum(_FormatBound):
    operator = "<="

    def _holds(self, value: Any) -> bool:
        return bool(value <= self._bound)


class _FormatExclusiveMinimum(_FormatBound):
    operator = ">"

    def _holds(self, value: Any) -> bool:
        return bool(value > self._bound)


class _FormatExclusiveMaximum(_FormatBound):
    operator = "<"

    def _holds(self, value: Any) -> bool:
        return bool(value < self._bound)


_KEYWORDS: dict[str, Any] = {
    "formatMinimum": _FormatBound,
    "formatMaximum": _FormatMaximum,
    "formatExclusiveMinimum": _FormatExclusiveMinimum,
    "formatExclusiveMaximum": _FormatExclusiveMaximum,
}


def _is_xsd_time(value: str) -> bool:
    return bool(_XSD_TIME.fullmatch(value))


def _compile_json_schema(model: FormModel) -> jsonschema_rs.Validator:
    assert model.json_schema is not None
    doc = _normalise(copy.deepcopy(model.json_schema))
    if model.json_schema_root == "#":
        root = dict(doc)
    else:
        root = dict(_resolve(doc, model.json_schema_root))
        for key in ("definitions", "$defs"):
            if key in doc:
                root.setdefault(key, doc[key])
    root.pop("$schema", None)
    root.pop("$id", None)
    try:
        return _draft(model.json_schema)(
            root,
            validate_formats=True,
            formats={"time": _is_xsd_time},
            keywords=_KEYWORDS,
            offline=True,
        )
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise FormModelError(f"{model.name}.schema.json cannot be compiled: {exc}") from None


def _resolve(doc: dict[str, Any], pointer: str) -> dict[str, Any]:
    node: Any = doc
    for token in pointer[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    if not isinstance(node, dict):
        raise FormModelError(f"{pointer} is not a schema")
    return node


def _without_nulls(value: Any) -> Any:
    """Null means 'not there' in the C# model (it is not stored), so it must not fail ``type``."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


def _join(path: list[str | int]) -> str | None:
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else segment
    return text or None


def validate_json_schema(model: FormModel, data: dict[str, Any]) -> list[FieldIssue]:
    """Validate data against the app's JSON schema, as the app frontend does (formats included).

    Null values count as absent. The compiled validator is cached on the model. Models without a
    usable ``schema.json`` have nothing to check and give no issues.
    """
    if model.json_schema is None:
        return []
    validator: jsonschema_rs.Validator = model.cached("json-schema", lambda: _compile_json_schema(model))
    issues = []
    for error in validator.iter_errors(_without_nulls(data)):
        kind = error.kind
        path = list(error.instance_path)
        code = kind.name
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
            path.append(kind.property)
        elif isinstance(kind, jsonschema_rs.ValidationErrorKind.Custom):
            code = kind.keyword
        issues.append(FieldIssue(_join(path), code, error.message))
    return issues


# --- XSD --------------------------------------------------------------------------------------

_FACET_CODES = {
    "XsdLengthFacet": "length",
    "XsdMinLengthFacet": "minLength",
    "XsdMaxLengthFacet": "maxLength",
    "XsdMinInclusiveFacet": "minimum",
    "XsdMaxInclusiveFacet": "maximum",
    "XsdMinExclusiveFacet": "exclusiveMinimum",
    "XsdMaxExclusiveFacet": "exclusiveMaximum",
    "XsdTotalDigitsFacet": "totalDigits",
    "XsdFractionDigitsFacet": "fractionDigits",
    "XsdPatternFacets": "pattern",
    "XsdEnumerationFacets": "enum",
}
_STEP = re.compile(r"(?:[^:/\[\]]+:)?([^/\[\]]+)(?:\[(\d+)\])?")


_ATTRIBUTE_REASON = re.compile(r"attribute ([^\s=]+)=")


def _xml_field(model: FormModel, xml_path: str | None, extra: str | None, *, content: bool) -> str | None:
    """Turn ``/root/personer[2]/alder`` (+ an attribute or missing child name) into ``personer[1].alder``.

    With ``content`` the issue is about the element's own value: for a simple-content element that
    is its ``value`` property.
    """
    if not xml_path:
        return None
    steps = [s for s in xml_path.split("/") if s][1:]
    if extra:
        steps.append(extra)
    ftype: FormType | None = model.root
    parts: list[str | int] = []
    for number, step in enumerate(steps, 1):
        match = _STEP.fullmatch(step.lstrip("@"))
        if match is None or ftype is None:
            break
        name, position = match[1], match[2]
        prop = ftype.elements.get(name) or ftype.attributes.get(name)
        if prop is None:
            parts.append(name)
            ftype = None
            break
        parts.append(prop.name)
        if prop.is_list and (position or number < len(steps)):
            parts.append(int(position) - 1 if position else 0)
        ftype = prop.type
    if content and ftype is not None and ftype.text is not None:
        parts.append(ftype.text.name)
    return _join(parts)


def _xsd_issue(model: FormModel, error: xmlschema.XMLSchemaValidationError) -> FieldIssue:
    validator_type = type(error.validator).__name__
    code = _FACET_CODES.get(validator_type, "xsd")
    reason = error.reason or error.message
    extra: str | None = None
    content = False
    attribute = _ATTRIBUTE_REASON.match(reason)
    if isinstance(error, xmlschema.XMLSchemaChildrenValidationError):
        expected = [p for p in (error.expected or ()) if getattr(p, "min_occurs", 0) > 0]
        if expected and getattr(expected[0], "local_name", None):
            code, extra = "required", expected[0].local_name
        elif error.invalid_tag:
            code, extra = "unexpected", etree.QName(error.invalid_tag).localname
    elif attribute is not None:
        extra = etree.QName(attribute[1]).localname
        code = "type" if code == "xsd" else code
    elif "missing required attribute" in reason:
        names = re.findall(r"'([^']+)'", reason)
        code, extra = "required", (etree.QName(names[0]).localname if names else None)
    else:
        content = True
        if code == "xsd" and validator_type in (
            "XsdAtomicBuiltin",
            "XsdAtomicRestriction",
            "XsdList",
            "XsdUnion",
        ):
            code = "type"
    return FieldIssue(_xml_field(model, error.path, extra, content=content), code, reason)


def validate_xsd(model: FormModel, xml: bytes) -> list[FieldIssue]:
    """Validate stored-form XML against the app's XSD (compiled once per model).

    Issues carry the JSON path of the offending field where it can be worked out (a missing
    required element points at that element). Models without an XSD give no issues; XML that
    cannot be parsed raises :class:`FormDataError`.
    """
    if model.xsd_path is None:
        return []
    xsd_path = model.xsd_path
    schema: xmlschema.XMLSchema = model.cached("xsd", lambda: compile_xsd(xsd_path))
    root = parse_document(xml)
    resource = xmlschema.XMLResource(root, allow="none")
    return [_xsd_issue(model, error) for error in schema.iter_errors(resource)]
