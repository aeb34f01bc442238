"""Form data XML <-> JSON-shaped data, the way XmlSerializer reads and writes the generated classes."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from tinn.data.formdata._json import coerce_data
from tinn.data.formdata._model import ROW_ID, FormDataError, FormModel, FormProperty, FormType, Node
from tinn.data.formdata._values import (
    ConversionError,
    Scalar,
    ValueKind,
    format_xml_value,
    normalise_guid,
    parse_xml_value,
)
from tinn.xmlsafe import UnsafeXml, XmlSyntaxError, parse_xml

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
_XSI_NIL = f"{{{XSI_NS}}}nil"
_BOM = b"\xef\xbb\xbf"
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
_ROOT_NAMESPACES = f' xmlns:xsi="{XSI_NS}" xmlns:xsd="{XSD_NS}"'

# Whitespace, the XML declaration, comments and processing instructions before the root element.
_PROLOG = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)

_LIBXML_POSITION = re.compile(r",? line \d+, column \d+\s*$")

MAX_XML_BYTES = 64 * 1024 * 1024

_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;"})
_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"}
)


def _position(body: bytes, offset: int) -> tuple[int, int]:
    line_start = body.rfind(b"\n", 0, offset) + 1
    return body.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _document_error(line: int, column: int, detail: str) -> FormDataError:
    return FormDataError(f"There is an error in XML document ({line}, {column}). {detail}")


def parse_document(body: bytes) -> etree._Element:
    """Parse form data XML (BOM stripped, DTDs refused) with Altinn's error messages."""
    if len(body) > MAX_XML_BYTES:
        raise FormDataError(
            f"There is an error in XML document (0, 0). The document exceeds {MAX_XML_BYTES} bytes."
        )
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    if not body.strip():
        raise _document_error(0, 0, "Root element is missing.")
    prolog = _PROLOG.match(body)
    start = prolog.end() if prolog else 0
    line, column = _position(body, start)
    if body.startswith(b"<!DOCTYPE", start):
        raise _document_error(
            line, column + 2, f"DTD is prohibited in this XML document. Line {line}, position {column + 2}."
        )
    if not body.startswith(b"<", start):
        raise _document_error(
            line, column, f"Data at the root level is invalid. Line {line}, position {column}."
        )
    try:
        return parse_xml(body)
    except XmlSyntaxError as exc:
        line, column = exc.line or 1, exc.column or 1
        detail = _LIBXML_POSITION.sub("", str(exc)).rstrip(".")
        raise _document_error(line, column, f"{detail}. Line {line}, position {column}.") from None
    except UnsafeXml as exc:
        raise _document_error(line, column, str(exc)) from None


class _Reader:
    def __init__(self, body: bytes, namespace: str) -> None:
        self._body = body
        self._namespace = namespace

    def _fail(self, element: etree._Element, detail: str, *, xml_exception: bool = False) -> FormDataError:
        """An error at ``element``'s start tag, positioned on its name as .NET does."""
        line = element.sourceline or 1
        lines = self._body.split(b"\n", line)
        source_line = lines[line - 1] if len(lines) >= line else b""
        prefix = f"{element.prefix}:" if element.prefix else ""
        found = source_line.find(f"<{prefix}{etree.QName(element).localname}".encode())
        column = len(source_line[:found].decode("utf-8", "replace")) + 2 if found >= 0 else 1
        if xml_exception:  # XmlException messages end with the position; conversion errors do not
            detail = f"{detail} Line {line}, position {column}."
        return _document_error(line, column, detail)

    def object(self, ftype: FormType, element: etree._Element) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for prop in ftype.properties:
            if prop.node is Node.ATTRIBUTE:
                raw = element.get(prop.xml_name)
                values[prop.name] = prop.fixed if raw is None else self._scalar(prop, raw, element)
            elif prop.node is Node.TEXT:
                text = _own_text(element)
                values[prop.name] = None if not text.strip() else self._scalar(prop, text, element)
            else:
                values[prop.name] = [] if prop.is_list else None
        for child in element:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions
            qname = etree.QName(child)
            if (qname.namespace or "") != self._namespace:
                continue
            child_prop = ftype.elements.get(qname.localname)
            if child_prop is None:
                continue  # XmlSerializer ignores unknown elements
            value = self._element_value(child_prop, child)
            if child_prop.is_list:
                if value is None and child_prop.kind.is_value_type:
                    raise self._fail(
                        child,
                        f"The element '{child_prop.xml_name}' cannot be nil in a list of "
                        f"{child_prop.kind.clr_name}.",
                    )
                values[child_prop.name].append(value)
            else:
                values[child_prop.name] = value
        if ftype.is_row:
            raw_id = element.get(ROW_ID)
            if raw_id is not None:
                try:
                    row_id = normalise_guid(raw_id)
                except ConversionError as exc:
                    raise self._fail(element, str(exc)) from None
                if row_id is not None:
                    return {ROW_ID: row_id, **values}
        return values

    def _element_value(self, prop: FormProperty, element: etree._Element) -> Any:
        if element.get(_XSI_NIL, "").strip() in ("true", "1"):
            return None
        if prop.type is not None:
            return self.object(prop.type, element)
        if any(isinstance(child.tag, str) for child in element):
            raise self._fail(element, "'Element' is an invalid XmlNodeType.", xml_exception=True)
        return self._scalar(prop, _own_text(element), element)

    def _scalar(self, prop: FormProperty, text: str, element: etree._Element) -> Scalar:
        try:
            return parse_xml_value(prop.kind, text)
        except ConversionError as exc:
            raise self._fail(element, str(exc)) from None


def _own_text(element: etree._Element) -> str:
    parts = [element.text or ""]
    parts.extend(child.tail or "" for child in element)
    return "".join(parts)


def xml_to_data(model: FormModel, body: bytes) -> dict[str, Any]:
    """Read form data XML into the JSON shape the model class serialises to.

    The root must be the model's root element in the model's namespace, or (Altinn's retry) the
    same name in no namespace. Every declared property is present in the result (absent ones
    null, repeating ones as lists, fixed attributes with their fixed value); unknown elements and
    attributes are ignored. DTDs and entities are refused. Raises :class:`FormDataError`.
    """
    root = parse_document(body)
    qname = etree.QName(root)
    namespace = qname.namespace or ""
    if qname.localname != model.root_element or namespace not in ("", model.namespace or ""):
        stripped = body.removeprefix(_BOM)
        prolog = _PROLOG.match(stripped)
        line, column = _position(stripped, prolog.end() if prolog else 0)
        raise _document_error(line, column + 1, f"<{qname.localname} xmlns='{namespace}'> was not expected.")
    return _Reader(body.removeprefix(_BOM), namespace).object(model.root, root)


class _Writer:
    def __init__(self) -> None:
        self.parts: list[str] = [_DECLARATION]

    def object(
        self, name: str, ftype: FormType, value: dict[str, Any], root_namespace: str | None = None
    ) -> None:
        parts = self.parts
        parts.append(f"<{name}")
        if root_namespace is not None:
            parts.append(_ROOT_NAMESPACES)
        row_id = value.get(ROW_ID) if ftype.is_row else None
        if row_id:
            parts.append(f' {ROW_ID}="{row_id}"')
        for prop in ftype.properties:
            if prop.node is Node.ATTRIBUTE and value.get(prop.name) is not None:
                escaped = format_xml_value(prop.kind, value[prop.name]).translate(_ATTR_ESCAPES)
                parts.append(f' {prop.xml_name}="{escaped}"')
        if root_namespace:
            parts.append(f' xmlns="{root_namespace.translate(_ATTR_ESCAPES)}"')
        mark = len(parts)
        parts.append(">")
        for prop in ftype.properties:
            item = value.get(prop.name)
            if prop.node is Node.TEXT:
                text = _text_value(prop, item)
                if text is not None:
                    parts.append(text.translate(_TEXT_ESCAPES))
            elif prop.node is Node.ELEMENT:
                self._element(prop, item)
        if len(parts) == mark + 1:
            parts[mark] = " />"
        else:
            parts.append(f"</{name}>")

    def _element(self, prop: FormProperty, value: Any) -> None:
        if prop.is_list:
            for item in value or ():
                if item is not None:
                    self._single(prop, item)
        elif value is None:
            if prop.writes_nil:
                self.parts.append(f'<{prop.xml_name} xsi:nil="true" />')
        elif prop.type is not None and prop.type.omit_without_text and _missing_text(prop.type, value):
            return  # ShouldSerialize{Group}() is false: a Seres value group without a value
        else:
            self._single(prop, value)

    def _single(self, prop: FormProperty, value: Any) -> None:
        if prop.type is not None:
            self.object(prop.xml_name, prop.type, value)
            return
        text = format_xml_value(prop.kind, value)
        if text:
            self.parts.append(f"<{prop.xml_name}>{text.translate(_TEXT_ESCAPES)}</{prop.xml_name}>")
        else:
            self.parts.append(f"<{prop.xml_name} />")


def _text_value(prop: FormProperty, value: Any) -> str | None:
    if value is None:
        return None
    text = format_xml_value(prop.kind, value)
    # Empty or whitespace-only [XmlText] strings are stored as null (ObjectUtils.PrepareModelForXmlStorage).
    return None if prop.kind is ValueKind.STRING and not text.strip() else text


def _missing_text(ftype: FormType, value: dict[str, Any]) -> bool:
    assert ftype.text is not None
    return _text_value(ftype.text, value.get(ftype.text.name)) is None


def data_to_xml(model: FormModel, data: Any) -> bytes:
    """Write form data as Altinn stores it: XmlSerializer's output for the model class.

    ``<?xml version="1.0" encoding="utf-8"?>``, the root with ``xmlns:xsi``/``xmlns:xsd`` (and the
    model's namespace as default namespace), elements in model order, no indentation, empty
    elements as ``<x />``. Nulls are left out (value types that are required or nillable are
    written ``xsi:nil="true"``); empty strings stay (``<x />``) except text content, which becomes
    null. Characters XML cannot carry are replaced by U+FFFD. The data is first checked against
    the model (:func:`coerce_data`), so a wrong type raises :class:`FormDataError`.
    """
    coerced = coerce_data(model, data)
    writer = _Writer()
    writer.object(model.root_element, model.root, coerced, root_namespace=model.namespace or "")
    return "".join(writer.parts).encode("utf-8")


def prepare_for_storage(model: FormModel, data: Any) -> dict[str, Any]:
    """The data as it reads back after being stored as XML (lists initialised, text nulls, ...)."""
    return xml_to_data(model, data_to_xml(model, data))
