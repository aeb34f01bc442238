"""Building a :class:`FormType` tree from an XSD, for apps that ship no usable ``schema.json``.

The mapping is the one Studio applies when it imports an XSD: attributes first, then the text
content of a simple-content type (as ``value``), then the elements of the content model in order;
``xs:integer`` and its restrictions are ``decimal``, ``xs:date``/``xs:time``/``xs:gYear``... are
strings, ``xs:dateTime`` is ``DateTime``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import xmlschema
from xmlschema.validators import XsdElement, XsdGroup

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
from tinn.xmlsafe import UnsafeXml, XmlSyntaxError, parse_xml

_XSD_NS = "{http://www.w3.org/2001/XMLSchema}"

_BUILTIN_KINDS = {
    "boolean": ValueKind.BOOLEAN,
    "dateTime": ValueKind.DATETIME,
    "short": ValueKind.SHORT,
    "byte": ValueKind.SHORT,
    "unsignedByte": ValueKind.SHORT,
    "int": ValueKind.INT,
    "unsignedShort": ValueKind.INT,
    "long": ValueKind.LONG,
    "unsignedInt": ValueKind.LONG,
    "decimal": ValueKind.DECIMAL,
    "integer": ValueKind.DECIMAL,
    "positiveInteger": ValueKind.DECIMAL,
    "negativeInteger": ValueKind.DECIMAL,
    "nonPositiveInteger": ValueKind.DECIMAL,
    "nonNegativeInteger": ValueKind.DECIMAL,
    "unsignedLong": ValueKind.DECIMAL,
    "double": ValueKind.DOUBLE,
    "float": ValueKind.DOUBLE,
}


def compile_xsd(path: Path) -> xmlschema.XMLSchema:
    """Compile an app XSD without DTDs or network access; includes only from the models folder."""
    path = path.resolve()
    try:
        parse_xml(path.read_bytes())  # refuses DTDs and entities before xmlschema reads the file
        return xmlschema.XMLSchema(str(path), allow="sandbox", defuse="always")
    except (OSError, UnsafeXml, XmlSyntaxError, xmlschema.XMLSchemaException) as exc:
        raise FormModelError(f"{path.name}: cannot compile the XSD: {exc}") from None


def global_element_names(path: Path) -> list[str]:
    """Names of the top-level elements of an XSD, root candidates first (cheap: no compilation)."""
    try:
        root = parse_xml(path.read_bytes())
    except (OSError, UnsafeXml, XmlSyntaxError):
        return []
    names = [el.get("name", "") for el in root.iterchildren(f"{_XSD_NS}element")]
    referenced = {
        (el.get("ref") or "").rpartition(":")[2] for el in root.iter(f"{_XSD_NS}element") if el.get("ref")
    }
    names = [n for n in names if n]
    return [n for n in names if n not in referenced] + [n for n in names if n in referenced]


class XsdModelBuilder:
    def __init__(self, schema: xmlschema.XMLSchema) -> None:
        self._schema = schema
        self._types: dict[int, FormType] = {}

    def root_element(self, hints: list[str]) -> XsdElement:
        elements = list(self._schema.elements.values())
        if not elements:
            raise FormModelError("The XSD declares no global element")
        referenced = {
            component.name
            for component in self._schema.iter_components()
            if isinstance(component, XsdElement) and component.ref is not None
        }
        candidates = [el for el in elements if el.name not in referenced] or elements
        for hint in hints:
            for el in candidates:
                if el.local_name == hint:
                    return el
        return candidates[0]

    def complex_type(self, xsd_type: Any, default_name: str, *, root: bool = False) -> FormType:
        existing = self._types.get(id(xsd_type))
        if existing is not None and not root:
            return existing
        # The root class is named after the root element (Studio's rule), others after their type.
        ftype = FormType(clr_name(default_name if root or not xsd_type.local_name else xsd_type.local_name))
        self._types[id(xsd_type)] = ftype
        properties: list[FormProperty] = []
        for key, attribute in xsd_type.attributes.items():
            if key is None:  # xs:anyAttribute has no C# property
                continue
            if attribute.local_name == ROW_ID:  # declared row id: handled as the row marker
                ftype.is_row = True
                continue
            kind = _simple_kind(attribute.type)
            properties.append(
                make_property(
                    attribute.local_name,
                    Node.ATTRIBUTE,
                    kind,
                    min_occurs=1 if attribute.use == "required" else 0,
                    fixed=_fixed(kind, attribute.fixed, attribute.local_name),
                    restrictions=_simple_restrictions(attribute.type),
                )
            )
        if xsd_type.has_simple_content():
            properties.append(
                make_property(
                    "value",
                    Node.TEXT,
                    _simple_kind(xsd_type.content),
                    min_occurs=1,
                    restrictions=_simple_restrictions(xsd_type.content),
                )
            )
        elif isinstance(xsd_type.content, XsdGroup):
            seen: set[str] = set()
            for element, optional, repeated in _particles(xsd_type.content, False, False):
                if element.local_name in seen:
                    continue
                seen.add(element.local_name)
                properties.append(self.element_property(element, optional, repeated))
        ftype.set_properties(properties)
        return ftype

    def element_property(self, element: XsdElement, optional: bool, repeated: bool) -> FormProperty:
        xsd_type = element.type
        is_list = repeated or element.max_occurs is None or element.max_occurs > 1
        common: dict[str, Any] = {
            "is_list": is_list,
            "min_occurs": 0 if optional else element.min_occurs,
            "max_occurs": None if repeated else element.max_occurs,
            "nillable": bool(element.nillable),
        }
        if xsd_type.is_simple() or xsd_type.name == f"{_XSD_NS}anyType":
            kind = _simple_kind(xsd_type) if xsd_type.is_simple() else ValueKind.STRING
            return make_property(
                element.local_name,
                Node.ELEMENT,
                kind,
                restrictions=_simple_restrictions(xsd_type) if xsd_type.is_simple() else {},
                **common,
            )
        ftype = self.complex_type(xsd_type, element.local_name)
        if is_list:
            ftype.is_row = True
        return make_property(element.local_name, Node.ELEMENT, ValueKind.OBJECT, type=ftype, **common)


def _particles(group: XsdGroup, optional: bool, repeated: bool) -> Iterator[tuple[XsdElement, bool, bool]]:
    optional = optional or group.model == "choice" or group.min_occurs == 0
    repeated = repeated or group.max_occurs is None or group.max_occurs > 1
    for particle in group:
        if isinstance(particle, XsdGroup):
            yield from _particles(particle, optional, repeated)
        elif isinstance(particle, XsdElement):
            yield particle, optional, repeated


def _simple_kind(simple_type: Any) -> ValueKind:
    current = simple_type
    while current is not None:
        name = current.name or ""
        if name.startswith(_XSD_NS):
            return _BUILTIN_KINDS.get(name[len(_XSD_NS) :], ValueKind.STRING)
        if getattr(current, "variety", "atomic") != "atomic":
            return ValueKind.STRING
        current = getattr(current, "base_type", None)
    return ValueKind.STRING


def _simple_restrictions(simple_type: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, attribute in (
        ("minLength", "min_length"),
        ("maxLength", "max_length"),
        ("minimum", "min_value"),
        ("maximum", "max_value"),
        ("enum", "enumeration"),
    ):
        value = getattr(simple_type, attribute, None)
        if value is not None:
            found[key] = value
    patterns = getattr(simple_type, "patterns", None)
    regexps = getattr(patterns, "regexps", None)
    if regexps:
        found["pattern"] = list(regexps)
    return found


def _fixed(kind: ValueKind, fixed: str | None, name: str) -> Scalar | None:
    if fixed is None:
        return None
    try:
        return parse_xml_value(kind, fixed)
    except ConversionError as exc:
        raise FormModelError(
            f"attribute {name}: fixed value {fixed!r} does not fit its type: {exc}"
        ) from None
