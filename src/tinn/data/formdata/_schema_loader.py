"""Building a :class:`FormType` tree from an Altinn Studio JSON schema (``models/{name}.schema.json``).

Two generations of schemas exist in apps:

* Studio's current format: draft 2020-12, the root is the schema itself, ``@xsdRootElement`` names
  the XML root, ``@xsdSchemaAttributes.TargetNamespace`` its namespace.
* The older Seres/"definitions" format: every global XSD element is a top-level property that
  ``$ref``-s a definition; the first one (or ``info.meldingsnavn``) is the real root.

Types follow Studio's JSON schema → metadata → C# rules: ``number`` and ``integer`` are
``decimal`` unless ``@xsdType`` says ``int``/``long``/``short``; ``format: date-time`` is
``DateTime``, every other string format stays a string.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from tinn.data.formdata._model import (
    ROW_ID,
    FormModelError,
    FormProperty,
    FormType,
    Node,
    clr_name,
    make_property,
)
from tinn.data.formdata._values import ConversionError, Scalar, ValueKind, parse_xml_value

_COMPOSITION = ("$ref", "allOf", "oneOf", "anyOf")
_STRUCTURAL = (*_COMPOSITION, "properties", "required", "items", "type")
_MAX_REF_HOPS = 256

RESTRICTION_KEYWORDS = (
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "format",
    "formatMinimum",
    "formatMaximum",
    "formatExclusiveMinimum",
    "formatExclusiveMaximum",
    "@xsdTotalDigits",
    "totalDigits",
)

# Studio's BaseValueType names that an ``@xsdType`` on an integer may carry.
_XSD_TYPE_HINTS = {
    "int": ValueKind.INT,
    "long": ValueKind.LONG,
    "short": ValueKind.SHORT,
    "double": ValueKind.DOUBLE,
    "decimal": ValueKind.DECIMAL,
    "integer": ValueKind.DECIMAL,
    "positiveinteger": ValueKind.DECIMAL,
    "negativeinteger": ValueKind.DECIMAL,
    "nonnegativeinteger": ValueKind.DECIMAL,
    "nonpositiveinteger": ValueKind.DECIMAL,
}


@dataclass
class _Flat:
    """A subschema with ``$ref``/``allOf``/nullable ``oneOf`` folded into one set of keywords."""

    pointer: str
    keywords: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, tuple[Any, str]] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    xsd_types: list[str] = field(default_factory=list)
    nillable: bool = False
    identity: str | None = None
    type_name: str | None = None
    items: tuple[Any, str] | None = None

    @property
    def is_object(self) -> bool:
        return bool(self.properties) or self.keywords.get("type") == "object"

    @property
    def is_array(self) -> bool:
        kind = self.keywords.get("type")
        return kind == "array" or (kind is None and self.items is not None)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def find_root(doc: dict[str, Any], hints: list[str], stem: str) -> tuple[str, Any, str]:
    """Return (root element name, root schema, JSON pointer of the root schema).

    ``hints`` are names the root may carry (the ``classRef`` class, the metadata or XSD root).
    """
    root_element = doc.get("@xsdRootElement")
    if isinstance(root_element, str) and root_element:
        return root_element, doc, "#"
    properties = doc.get("properties")
    info: dict[str, Any] = doc["info"] if isinstance(doc.get("info"), dict) else {}
    if isinstance(properties, dict):
        message_name = info.get("meldingsnavn")
        if isinstance(message_name, str) and isinstance(properties.get(message_name), dict):
            return message_name, properties[message_name], f"#/properties/{_escape(message_name)}"
        refs = {
            key: sub["$ref"].rpartition("/")[2]
            for key, sub in properties.items()
            if isinstance(sub, dict) and isinstance(sub.get("$ref"), str)
        }
        chosen = next((key for hint in hints for key, target in refs.items() if hint in (key, target)), None)
        if chosen is None and refs and (len(properties) == 1 or _is_global_element_union(doc, properties)):
            chosen = next(iter(refs))
        if chosen is not None:
            return chosen, properties[chosen], f"#/properties/{_escape(chosen)}"
    return (hints[0] if hints else stem), doc, "#"


def _is_global_element_union(doc: dict[str, Any], properties: dict[str, Any]) -> bool:
    """Seres-era schemas list every global element as a top-level property; the first one is the
    root, and its definition refers to other top-level names."""
    first = next(iter(properties.values()))
    ref = first.get("$ref") if isinstance(first, dict) else None
    segments = ref.split("/") if isinstance(ref, str) else []
    if len(segments) != 3 or segments[0] != "#":
        return False
    definition = doc.get(segments[1], {}).get(unquote(segments[2]))
    children = definition.get("properties") if isinstance(definition, dict) else None
    return isinstance(children, dict) and any(key in properties for key in children)


def is_usable_schema(doc: Any) -> bool:
    """A schema that describes some data (Altinn's test apps ship placeholder ``{"$comment"}`` files)."""
    return isinstance(doc, dict) and any(key in doc for key in ("properties", *_COMPOSITION))


class SchemaModelBuilder:
    def __init__(self, doc: dict[str, Any]) -> None:
        self._doc = doc
        self._types: dict[str, FormType] = {}

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise FormModelError(f"Only local $ref values are supported, got '{ref}'")
        node: Any = self._doc
        for raw in ref[1:].split("/")[1:] if ref != "#" else []:
            token = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise FormModelError(f"$ref '{ref}' does not resolve")
        return node

    def flatten(self, schema: Any, pointer: str) -> _Flat:
        flat = _Flat(pointer)
        queue: deque[tuple[Any, str]] = deque([(schema, pointer)])
        hops = 0
        while queue:
            current, ptr = queue.popleft()
            hops += 1
            if hops > _MAX_REF_HOPS:
                raise FormModelError(f"{pointer}: $ref/allOf chain does not end (cycle?)")
            if current is True or current == {}:
                continue
            if not isinstance(current, dict):
                raise FormModelError(f"{ptr}: a schema must be an object")
            children: list[tuple[Any, str]] = []
            for key, value in current.items():
                if key not in _STRUCTURAL:
                    flat.keywords.setdefault(key, value)
            hint = current.get("@xsdType")
            if isinstance(hint, str):
                flat.xsd_types.append(hint)
            self._fold_type(flat, current.get("type"))
            if "items" in current and flat.items is None:
                flat.items = (current["items"], f"{ptr}/items")
            props = current.get("properties")
            if isinstance(props, dict):
                if flat.identity is None:
                    flat.identity = ptr
                for key, sub in props.items():
                    flat.properties.setdefault(key, (sub, f"{ptr}/properties/{_escape(key)}"))
            elif "allOf" in current and flat.identity is None:
                flat.identity = ptr
            required = current.get("required")
            if isinstance(required, list):
                flat.required.update(r for r in required if isinstance(r, str))
            ref = current.get("$ref")
            if isinstance(ref, str):
                segments = ref.split("/")
                # Studio names a class after the definition that holds its properties.
                if flat.identity is None and len(segments) == 3 and segments[1] in ("definitions", "$defs"):
                    flat.type_name = unquote(segments[2])
                children.append((self.resolve(ref), ref))
            for i, sub in enumerate(current.get("allOf") or []):
                children.append((sub, f"{ptr}/allOf/{i}"))
            for key in ("oneOf", "anyOf"):
                subs = current.get(key) or []
                non_null = [s for s in subs if not (isinstance(s, dict) and s.get("type") == "null")]
                if len(non_null) < len(subs):
                    flat.nillable = True
                children.extend((sub, f"{ptr}/{key}/{i}") for i, sub in enumerate(non_null))
            # Depth first, in order: an allOf base type's properties come before the extension's.
            queue.extendleft(reversed(children))
        if flat.keywords.get("@xsdNillable") is True:
            flat.nillable = True
        return flat

    @staticmethod
    def _fold_type(flat: _Flat, declared: Any) -> None:
        if isinstance(declared, list):
            if "null" in declared:
                flat.nillable = True
            declared = next((t for t in declared if t != "null"), None)
        elif declared == "null":
            flat.nillable = True
            declared = None
        if isinstance(declared, str):
            flat.keywords.setdefault("type", declared)

    def object_type(self, flat: _Flat, default_name: str) -> FormType:
        identity = flat.identity or flat.pointer
        existing = self._types.get(identity)
        if existing is not None:
            return existing
        ftype = FormType(clr_name(flat.type_name or default_name))
        self._types[identity] = ftype
        properties: list[FormProperty] = []
        for key, (sub, ptr) in flat.properties.items():
            if key == ROW_ID:
                ftype.is_row = True
                continue
            properties.append(self.property(key, sub, ptr, required=key in flat.required))
        ftype.set_properties(properties)
        return ftype

    def property(self, key: str, schema: Any, pointer: str, *, required: bool) -> FormProperty:
        flat = self.flatten(schema, pointer)
        node = _node(flat)
        if flat.is_array:
            return self._list_property(key, flat, node, required=required)
        if flat.is_object:
            if node is not Node.ELEMENT:
                raise FormModelError(f"{pointer}: an attribute or text content must have a simple type")
            return make_property(
                key,
                Node.ELEMENT,
                ValueKind.OBJECT,
                min_occurs=1 if required else 0,
                nillable=flat.nillable,
                type=self.object_type(flat, key),
                schema_pointer=pointer,
            )
        kind = _scalar_kind(flat)
        fixed: Scalar | None = None
        if node is Node.ATTRIBUTE and "const" in flat.keywords:
            fixed = _fixed_value(kind, flat.keywords["const"], pointer)
        return make_property(
            key,
            node,
            kind,
            min_occurs=1 if required else 0,
            nillable=flat.nillable,
            fixed=fixed,
            restrictions=_restrictions(flat),
            schema_pointer=pointer,
        )

    def _list_property(self, key: str, flat: _Flat, node: Node, *, required: bool) -> FormProperty:
        if node is not Node.ELEMENT:
            raise FormModelError(f"{flat.pointer}: only elements can repeat")
        if flat.items is None or not isinstance(flat.items[0], dict | bool):
            raise FormModelError(f"{flat.pointer}: an array needs a single 'items' schema")
        item = self.flatten(*flat.items)
        min_items = flat.keywords.get("minItems", 0)
        max_items = flat.keywords.get("maxItems")
        common: dict[str, Any] = {
            "is_list": True,
            "min_occurs": max(1 if required else 0, int(min_items) if isinstance(min_items, int) else 0),
            "max_occurs": int(max_items) if isinstance(max_items, int) else None,
            "schema_pointer": flat.pointer,
        }
        if item.is_object:
            ftype = self.object_type(item, key)
            ftype.is_row = True
            return make_property(key, Node.ELEMENT, ValueKind.OBJECT, type=ftype, **common)
        if item.is_array:
            raise FormModelError(f"{flat.pointer}: arrays of arrays cannot be represented in XML")
        return make_property(
            key, Node.ELEMENT, _scalar_kind(item), restrictions=_restrictions(item), **common
        )


def _node(flat: _Flat) -> Node:
    if flat.keywords.get("@xsdAttribute") is True or "XmlAttribute" in flat.xsd_types:
        return Node.ATTRIBUTE
    if flat.keywords.get("@xsdText") is True or "XmlSimpleContentExtension" in flat.xsd_types:
        return Node.TEXT
    return Node.ELEMENT


def _scalar_kind(flat: _Flat) -> ValueKind:
    declared = flat.keywords.get("type")
    if declared is None:
        sample = flat.keywords.get("const", (flat.keywords.get("enum") or [None])[0])
        if isinstance(sample, bool):
            declared = "boolean"
        elif isinstance(sample, int):
            declared = "integer"
        elif isinstance(sample, float | Decimal):
            declared = "number"
        else:
            declared = "string"
    if declared == "boolean":
        return ValueKind.BOOLEAN
    if declared == "number":
        return ValueKind.DECIMAL
    if declared == "integer":
        if "minimum" in flat.keywords:
            return ValueKind.DECIMAL
        for hint in reversed(flat.xsd_types):
            kind = _XSD_TYPE_HINTS.get(hint.casefold())
            if kind is not None:
                return kind
        return ValueKind.DECIMAL
    if declared == "string":
        return ValueKind.DATETIME if flat.keywords.get("format") == "date-time" else ValueKind.STRING
    raise FormModelError(f"{flat.pointer}: unsupported type '{declared}'")


def _fixed_value(kind: ValueKind, const: Any, pointer: str) -> Scalar:
    text = ("true" if const else "false") if isinstance(const, bool) else str(const)
    try:
        return parse_xml_value(kind, text)
    except ConversionError as exc:
        raise FormModelError(f"{pointer}: fixed value {const!r} does not fit the type: {exc}") from None


def _restrictions(flat: _Flat) -> dict[str, Any]:
    return {key: flat.keywords[key] for key in RESTRICTION_KEYWORDS if key in flat.keywords}
