"""The description of a form data model: what Altinn's generated C# class knows about its data."""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tinn.data.formdata._values import Scalar, ValueKind

ROW_ID = "altinnRowId"


class FormModelError(Exception):
    """The app's model files cannot be turned into a form data model (an app definition error)."""


class FormDataError(ValueError):
    """Form data a client sent (or a patch produced) does not fit the model.

    ``message`` is written the way Altinn words the same failure, so it can go straight into the
    ``detail`` of the 400/422 problem the data API answers with.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Node(enum.Enum):
    """Where a property lives in the XML form of the model."""

    ELEMENT = "element"
    ATTRIBUTE = "attribute"
    TEXT = "text"  # the text content of a simple-content element ([XmlText] ``value``)


@dataclass(frozen=True, slots=True)
class FormProperty:
    """One property of a model class.

    ``name`` is the JSON name (what the C# class serialises to), ``xml_name`` the element or
    attribute name, ``clr_name`` the C# property name (XML name without ``-``) that dot paths in
    prefill and presentation fields use.
    """

    name: str
    xml_name: str
    clr_name: str
    node: Node
    kind: ValueKind
    is_list: bool = False
    min_occurs: int = 0
    max_occurs: int | None = 1
    nillable: bool = False
    fixed: Scalar | None = None
    restrictions: Mapping[str, Any] = field(default_factory=dict)
    type: FormType | None = None
    schema_pointer: str | None = None

    @property
    def nullable(self) -> bool:
        """False only for fixed-value attributes of .NET value types (``decimal x = 1472``)."""
        return not (self.fixed is not None and self.kind.is_value_type and not self.is_list)

    @property
    def writes_nil(self) -> bool:
        """A null value is written as ``xsi:nil="true"`` (XmlSerializer's way for ``decimal?``).

        Studio only generates ``ShouldSerializeX() => X.HasValue`` for optional, non-nillable
        value-type elements; every other null value type is written as nil.
        """
        return (
            self.node is Node.ELEMENT
            and not self.is_list
            and self.kind.is_value_type
            and (self.nillable or self.min_occurs > 0)
        )


class FormType:
    """A model class: ordered properties plus lookups by JSON, XML and C# name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.properties: tuple[FormProperty, ...] = ()
        self.is_row = False
        self.by_name: dict[str, FormProperty] = {}
        self.by_name_folded: dict[str, FormProperty] = {}
        self.by_clr_folded: dict[str, FormProperty] = {}
        self.elements: dict[str, FormProperty] = {}
        self.attributes: dict[str, FormProperty] = {}
        self.text: FormProperty | None = None
        self.omit_without_text = False

    def __repr__(self) -> str:
        return f"FormType({self.name!r}, {len(self.properties)} properties)"

    def set_properties(self, properties: list[FormProperty]) -> None:
        for prop in properties:
            if prop.name == ROW_ID:
                raise FormModelError(f"{self.name}: '{ROW_ID}' is reserved for repeating-group rows")
            if prop.name in self.by_name:
                raise FormModelError(f"{self.name}: two properties serialise to JSON name '{prop.name}'")
            self.by_name[prop.name] = prop
            self.by_name_folded.setdefault(prop.name.casefold(), prop)
            self.by_clr_folded.setdefault(prop.clr_name.casefold(), prop)
            if prop.node is Node.ELEMENT:
                if prop.xml_name in self.elements:
                    raise FormModelError(f"{self.name}: element '{prop.xml_name}' is declared twice")
                self.elements[prop.xml_name] = prop
            elif prop.node is Node.ATTRIBUTE:
                if prop.xml_name in self.attributes:
                    raise FormModelError(f"{self.name}: attribute '{prop.xml_name}' is declared twice")
                self.attributes[prop.xml_name] = prop
            else:
                if self.text is not None:
                    raise FormModelError(f"{self.name}: more than one text-content property")
                self.text = prop
        self.properties = tuple(properties)
        # Studio generates ShouldSerialize{Group}() => Group?.value is not null for the Seres
        # pattern "one fixed attribute (orid) + text content": such a group without text is dropped.
        self.omit_without_text = self.text is not None and sum(p.fixed is not None for p in properties) == 1

    def lookup(self, key: str) -> FormProperty | None:
        """Find a property by JSON name, exact match first, then case-insensitively (web defaults)."""
        return self.by_name.get(key) or self.by_name_folded.get(key.casefold())


@dataclass(eq=False)
class FormModel:
    """What Tinn knows about one form data type's model, built from the app's ``models/`` files."""

    name: str
    root_element: str
    namespace: str | None
    root: FormType
    source: Literal["json-schema", "xsd"]
    schema_path: Path | None = None
    xsd_path: Path | None = None
    json_schema: dict[str, Any] | None = field(default=None, repr=False)
    json_schema_root: str = "#"
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def class_name(self) -> str:
        """The name of the root model class (the last part of a matching ``classRef``)."""
        return self.root.name

    def types(self) -> Iterator[FormType]:
        """Every class reachable from the root, each once."""
        seen: set[int] = set()
        stack = [self.root]
        while stack:
            ftype = stack.pop()
            if id(ftype) in seen:
                continue
            seen.add(id(ftype))
            yield ftype
            stack.extend(p.type for p in reversed(ftype.properties) if p.type is not None)

    def cached(self, key: str, build: Any) -> Any:
        """Build a derived artefact (a compiled validator) once per model, thread-safely."""
        value = self._cache.get(key)
        if value is None:
            with self._lock:
                value = self._cache.get(key)
                if value is None:
                    value = build()
                    self._cache[key] = value
        return value


def camel_case(name: str) -> str:
    """System.Text.Json's camelCase naming policy (applies to properties without a JSON name)."""
    if not name or not name[0].isupper():
        return name
    chars = list(name)
    for i in range(len(chars)):
        if i == 1 and not chars[i].isupper():
            break
        has_next = i + 1 < len(chars)
        if i > 0 and has_next and not chars[i + 1].isupper():
            if chars[i + 1] == " ":
                chars[i] = chars[i].lower()
            break
        chars[i] = chars[i].lower()
    return "".join(chars)


def clr_name(xml_name: str) -> str:
    """The C# property name Studio generates for an XML name (``-`` is dropped)."""
    return xml_name.replace("-", "")


def make_property(
    xml_name: str,
    node: Node,
    kind: ValueKind,
    **kwargs: Any,
) -> FormProperty:
    """A property with its three names derived the way Studio's C# generator derives them.

    Elements carry ``[JsonPropertyName(xmlName)]``; attributes and text content do not, so they get
    the camelCase of their C# name under the web defaults.
    """
    clr = clr_name(xml_name)
    name = xml_name if node is Node.ELEMENT else camel_case(clr)
    return FormProperty(name=name, xml_name=xml_name, clr_name=clr, node=node, kind=kind, **kwargs)
