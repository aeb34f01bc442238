"""PDF receipts: the form of a data task, rendered server-side when the task ends.

Altinn prints its frontend with headless Chrome (``?pdf=1``) and stores the result as a
``ref-data-as-pdf`` data element. Tinn draws the same content itself with fpdf2, no browser:

* a header: app title, "Kvittering"/"Receipt", receiver (the service owner), sender (the
  instance owner), instance id, task and time in Norwegian local time;
* every page of the task's layout set in order (``pages.order``; ``pages.excludeFromPdf`` and
  ``components.excludeFromPdf`` of ``Settings.json`` honoured, or only ``pages.pdfLayoutName``
  when the app has a custom PDF layout), one label and value per component: option labels
  instead of codes, groups as nested sections, repeating groups with one section per row,
  ``Header``/``Paragraph``/``Panel`` texts as headings and paragraphs, uploads listed by file name;
  buttons, navigation, images, summaries and hidden components left out;
* the attachments (file name, data type, size, SHA-256), and a footer on every page.

``hidden`` expressions are evaluated over the form data with a component tree built from the
layouts, so ``["component", id]`` works; an expression that still cannot be evaluated shows the
component. Unknown text keys and option lists show the key or the raw value. A layout whose
structure is broken (wrong JSON types) raises ``ReceiptError``: the engine fails the task end.

Output is deterministic for the same input: the PDF creation date and file id derive from the
receipt timestamp and content. Text is set in Liberation Sans (SIL OFL 1.1, bundled in
``fonts/``), which covers Latin (incl. Norwegian and Sami letters), Greek and Cyrillic;
characters outside the font print as ``?``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson
from fpdf import FPDF
from fpdf.fonts import TTFFont

from tinn.process.expressions import (
    ExpressionError,
    SimpleContext,
    evaluate,
    evaluate_boolean,
    resolve_data_model_path,
)

__all__ = [
    "FONT_DIR",
    "RECEIPT_DATA_TYPE",
    "ReceiptAttachment",
    "ReceiptError",
    "ReceiptInput",
    "ReceiptOwner",
    "receipt_filename",
    "render_receipt",
    "text_lookup",
]

RECEIPT_DATA_TYPE: Final = "ref-data-as-pdf"
FONT_DIR: Final = Path(__file__).with_name("fonts")
_FONT_REGULAR: Final = FONT_DIR / "LiberationSans-Regular.ttf"
_FONT_BOLD: Final = FONT_DIR / "LiberationSans-Bold.ttf"
_FONT: Final = "liberationsans"
_FILE_NAME_TEXT: Final = "backend.pdf_default_file_name"
_FALLBACK_FILE_NAME: Final = "Altinn PDF.pdf"
_FALLBACK_APP_NAME: Final = "Altinn PDF"


class ReceiptError(Exception):
    """The receipt cannot be rendered: the layout (or another input) has a broken structure."""


@dataclass(frozen=True, slots=True)
class ReceiptOwner:
    """The instance owner (the sender). A person has a national identity number, an
    organisation an organisation number; ``party_id`` defaults to the prefix of the instance id."""

    name: str
    national_identity_number: str | None = None
    organisation_number: str | None = None
    party_id: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class ReceiptAttachment:
    """A binary data element of the instance. ``id`` (the data element guid) lets upload
    components inside repeating groups list only the files their row refers to."""

    filename: str | None
    data_type: str
    size: int
    sha256: str | None = None
    id: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiptInput:
    """Everything a receipt shows.

    ``texts`` maps text ids to text resources in the receipt's language
    (``{"id", "value", "variables"?}``; ``text_lookup`` builds it from resource files, with
    fallbacks). ``layouts`` maps page names to layout documents (``{"data": {"layout": [...]}}``)
    in page order; ``layout_settings`` is the set's ``Settings.json`` (its ``pages.order`` wins
    over the mapping order). ``data_models`` maps data type ids to form data (JSON objects);
    layout bindings without a data type read ``default_data_type`` (or the only model).
    ``options`` maps option list ids to ``[{"value", "label"}, ...]``. ``summary`` adds label and
    value lines under the header.
    """

    app_title: str
    org: str
    app_id: str
    instance_id: str
    owner: ReceiptOwner
    task_id: str
    timestamp: datetime
    texts: Mapping[str, Mapping[str, Any]]
    layouts: Mapping[str, Any]
    data_models: Mapping[str, Any]
    task_name: str | None = None
    language: str = "nb"
    layout_settings: Mapping[str, Any] | None = None
    default_data_type: str | None = None
    options: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    attachments: Sequence[ReceiptAttachment] = ()
    summary: Sequence[tuple[str, str]] = ()

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError("ReceiptInput.timestamp must be an aware datetime")


# --- Texts of the receipt frame ------------------------------------------------------------------

_STRINGS: Final[Mapping[str, Mapping[str, str]]] = {
    "nb": {
        "receipt": "Kvittering",
        "receiver": "Mottaker",
        "sender": "Avsender",
        "instance": "Instans-ID",
        "task": "Oppgave",
        "time": "Tidspunkt",
        "at": "kl.",
        "attachments": "Vedlegg",
        "no_attachments": "Ingen vedlegg",
        "row": "Rad",
        "page": "Side {n} av {nb}",
        "generated": "Generert av Tinn",
        "yes": "Ja",
        "no": "Nei",
        "pid": "f.nr.",
        "orgnr": "org.nr.",
    },
    "nn": {
        "receipt": "Kvittering",
        "receiver": "Mottakar",
        "sender": "Avsendar",
        "instance": "Instans-ID",
        "task": "Oppgåve",
        "time": "Tidspunkt",
        "at": "kl.",
        "attachments": "Vedlegg",
        "no_attachments": "Ingen vedlegg",
        "row": "Rad",
        "page": "Side {n} av {nb}",
        "generated": "Generert av Tinn",
        "yes": "Ja",
        "no": "Nei",
        "pid": "f.nr.",
        "orgnr": "org.nr.",
    },
    "en": {
        "receipt": "Receipt",
        "receiver": "Receiver",
        "sender": "Sender",
        "instance": "Instance ID",
        "task": "Task",
        "time": "Time",
        "at": "at",
        "attachments": "Attachments",
        "no_attachments": "No attachments",
        "row": "Row",
        "page": "Page {n} of {nb}",
        "generated": "Generated by Tinn",
        "yes": "Yes",
        "no": "No",
        "pid": "national ID",
        "orgnr": "org. no.",
    },
}

_EMPTY: Final = "–"

# Components that never show in a PDF: actions, navigation, media, and other views of components.
_NEVER_IN_PDF: Final = frozenset(
    {
        "ActionButton",
        "AddToList",
        "AttachmentList",
        "Audio",
        "Button",
        "ButtonGroup",
        "CustomButton",
        "Custom",
        "Divider",
        "IFrame",
        "Image",
        "InstanceInformation",
        "InstantiationButton",
        "Link",
        "NavigationBar",
        "NavigationButtons",
        "Payment",
        "PaymentDetails",
        "PDFPreviewButton",
        "PrintButton",
        "SigneeList",
        "SigningActions",
        "SigningDocumentList",
        "Subform",
        "Summary",
        "Summary2",
        "Video",
    }
)
_OPTION_COMPONENTS: Final = frozenset({"Dropdown", "RadioButtons", "Checkboxes", "MultipleSelect", "Likert"})
_MULTI_VALUE_COMPONENTS: Final = frozenset({"Checkboxes", "MultipleSelect"})
_UPLOAD_COMPONENTS: Final = frozenset({"FileUpload", "FileUploadWithTag"})
# v4 display components showing a computed ``value``.
_DISPLAY_COMPONENTS: Final = frozenset({"Text", "Number", "Date", "Option"})
_HEADER_LEVELS: Final[Mapping[str, int]] = {"L": 1, "h2": 1, "M": 2, "h3": 2, "S": 3, "h4": 3}
_CHILD_PREFIX_RE: Final = re.compile(r"^[0-9]+:")


# --- Public helpers --------------------------------------------------------------------------------


def text_lookup(*resources: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Text ids -> text resources from ``TextResource`` documents (``{"language", "resources":
    [{"id", "value", "variables"}]}``); earlier documents win, so pass the receipt's language
    first and ``nb`` after it as the fallback."""
    lookup: dict[str, Mapping[str, Any]] = {}
    for resource in resources:
        if resource is None:
            continue
        elements = resource.get("resources") or ()
        if not isinstance(elements, list):
            raise ReceiptError("A text resource's 'resources' must be a list")
        for element in elements:
            if isinstance(element, Mapping) and isinstance(element.get("id"), str):
                lookup.setdefault(element["id"], element)
    return lookup


def receipt_filename(texts: Mapping[str, Mapping[str, Any]], *, app_title: str | None = None) -> str:
    """The file name Altinn gives the receipt data element.

    The text ``backend.pdf_default_file_name`` (default ``"{appName}.pdf"``), with ``appName``
    taken from the ``appName`` or ``ServiceName`` text, else ``app_title`` (the metadata title);
    ``"Altinn PDF.pdf"`` when that comes out empty. Like Altinn, ``/`` and NUL become ``_``, the
    name is URL-escaped (``Uri.EscapeDataString``) and ``.pdf`` is appended when missing.
    """
    app_name = _app_name(texts, app_title)
    resource = texts.get(_FILE_NAME_TEXT)
    value = resource.get("value") if resource is not None else None
    if isinstance(value, str) and value:
        assert resource is not None
        name = _substitute_file_name_text(value, resource.get("variables"), texts, app_name)
    else:
        name = f"{app_name}.pdf"
    if not name:
        name = _FALLBACK_FILE_NAME
    escaped = quote(name.replace("/", "_").replace("\0", "_"), safe="")
    return escaped if escaped.lower().endswith(".pdf") else f"{escaped}.pdf"


def render_receipt(receipt: ReceiptInput) -> bytes:
    """Render the receipt as PDF bytes; raises ``ReceiptError`` for a broken layout structure."""
    strings = _STRINGS.get(receipt.language, _STRINGS["nb"])
    local_time = _oslo_time(receipt.timestamp)
    blocks = _Builder(receipt, strings, local_time.tzinfo or UTC).build()
    return _draw(receipt, strings, local_time, blocks)


# --- File name --------------------------------------------------------------------------------------


def _text_value(texts: Mapping[str, Mapping[str, Any]], key: str) -> str | None:
    resource = texts.get(key)
    value = resource.get("value") if resource is not None else None
    return value if isinstance(value, str) and value else None


def _app_name(texts: Mapping[str, Mapping[str, Any]], app_title: str | None) -> str:
    return (
        _text_value(texts, "appName")
        or _text_value(texts, "ServiceName")
        or (app_title if app_title else None)
        or _FALLBACK_APP_NAME
    )


_PLACEHOLDER_RE: Final = re.compile(r"\{([0-9]+)\}")


def _substitute_file_name_text(
    value: str, variables: Any, texts: Mapping[str, Mapping[str, Any]], app_name: str
) -> str:
    # Altinn translates this key without form data: variables can read other texts only.
    replacements: list[str] = []
    for variable in variables if isinstance(variables, list) else ():
        if not isinstance(variable, Mapping):
            replacements.append("")
            continue
        key, source, default = variable.get("key"), variable.get("dataSource"), variable.get("defaultValue")
        found: str | None = None
        if source == "text" and isinstance(key, str):
            found = app_name if key == "appName" else _text_value(texts, key)
        if found is None:
            found = str(default) if default is not None else str(key or "")
        replacements.append(found)
    value = value.replace("{appName}", app_name)
    return _PLACEHOLDER_RE.sub(
        lambda m: replacements[int(m[1])] if int(m[1]) < len(replacements) else m[0],
        value,
    )


# --- Time ----------------------------------------------------------------------------------------------


# tzdata is a dependency, so the zone exists even on hosts without a time-zone database.
_OSLO = ZoneInfo("Europe/Oslo")


def _oslo_time(moment: datetime) -> datetime:
    """The moment in Norwegian local time."""
    return moment.astimezone(_OSLO)


def _format_time(local: datetime, strings: Mapping[str, str]) -> str:
    return f"{local:%d.%m.%Y} {strings['at']} {local:%H:%M}"


# --- Text clean-up ------------------------------------------------------------------------------------

_BR_RE: Final = re.compile(r"<br\s*/?>", re.IGNORECASE)
_BLOCK_END_RE: Final = re.compile(r"</(?:p|div|li|h[1-6])\s*>", re.IGNORECASE)
_TAG_RE: Final = re.compile(r"<[A-Za-z/!][^<>]*>")
_LINK_RE: Final = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_STRONG_RE: Final = re.compile(r"(\*\*|__)(.+?)\1", re.DOTALL)
_MD_HEADING_RE: Final = re.compile(r"^[ ]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_MD_ESCAPE_RE: Final = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])")
_BLANK_LINES_RE: Final = re.compile(r"\n{3,}")


def _plain(text: str) -> str:
    """A text resource (markdown and HTML allowed) as plain text."""
    if "<" in text:
        text = _BR_RE.sub("\n", text)
        text = _BLOCK_END_RE.sub("\n", text)
        text = _TAG_RE.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    text = _LINK_RE.sub(r"\1", text)
    text = _STRONG_RE.sub(r"\2", text)
    text = _MD_HEADING_RE.sub("", text)
    text = _MD_ESCAPE_RE.sub(r"\1", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES_RE.sub("\n\n", text).strip()


def _scalar_text(value: Any, strings: Mapping[str, str]) -> str:
    if isinstance(value, bool):
        return strings["yes"] if value else strings["no"]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, Decimal):
        # Form data decimals (xsd:decimal, xsd:int read from XML) print as written, never 1.25E+4.
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    return orjson.dumps(value).decode()


def _option_key(value: Any) -> str | None:
    """Option values and form data compare as text, the way the frontend does."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


# --- Value formatting ----------------------------------------------------------------------------------

_NUMBER_TEXT_RE: Final = re.compile(r"(-?)([0-9]+)(?:[.,]([0-9]+))?")
_ISO_DATE_RE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ].*)?")
_DATE_TOKEN_RE: Final = re.compile(r"YYYY|YY|MM|DD|M|D")


def _group_digits(digits: str, separator: str) -> str:
    if not separator:
        return digits
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return separator.join(parts)


def _format_input_number(text: str, formatting: Mapping[str, Any], language: str) -> str:
    match = _NUMBER_TEXT_RE.fullmatch(text.strip())
    if match is None:
        return text
    sign, whole, fraction = match.groups()
    number = formatting.get("number")
    if isinstance(number, Mapping):
        thousands = number.get("thousandSeparator")
        separator = "," if thousands is True else thousands if isinstance(thousands, str) else ""
        decimal = number.get("decimalSeparator")
        decimal = decimal if isinstance(decimal, str) else "."
        prefix, suffix = number.get("prefix"), number.get("suffix")
        body = sign + _group_digits(whole, separator) + (decimal + fraction if fraction else "")
        return f"{prefix if isinstance(prefix, str) else ''}{body}{suffix if isinstance(suffix, str) else ''}"
    unit = formatting.get("currency") or formatting.get("unit")
    if isinstance(unit, str):
        separator, decimal = ("\u00a0", ",") if language in ("nb", "nn") else (",", ".")
        body = sign + _group_digits(whole, separator) + (decimal + fraction if fraction else "")
        return f"{body} {unit}"
    return text


def _format_date(text: str, date_format: Any) -> str:
    match = _ISO_DATE_RE.fullmatch(text.strip())
    if match is None:
        return text
    year, month, day = match.groups()
    tokens = {"YYYY": year, "YY": year[2:], "MM": month, "M": str(int(month)), "DD": day, "D": str(int(day))}
    pattern = date_format if isinstance(date_format, str) and date_format else "DD.MM.YYYY"
    return _DATE_TOKEN_RE.sub(lambda m: tokens[m[0]], pattern)


def _format_size(size: int, language: str) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    unit = "kB"
    for bigger in ("MB", "GB", "TB"):
        if value < 1024:
            break
        value /= 1024
        unit = bigger
    text = f"{value:.1f}"
    return f"{text.replace('.', ',') if language in ('nb', 'nn') else text} {unit}"


# --- Document model ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Heading:
    text: str
    level: int
    indent: int


@dataclass(frozen=True, slots=True)
class _Paragraph:
    text: str
    indent: int


@dataclass(frozen=True, slots=True)
class _Field:
    label: str
    value: str
    indent: int


@dataclass(frozen=True, slots=True)
class _Rule:
    """A line between two pages of the form."""


_Block = _Heading | _Paragraph | _Field | _Rule


@dataclass(frozen=True, slots=True)
class _Located:
    """A component and where it sits: its page and the container showing it (if any)."""

    page: _Page
    component: Mapping[str, Any]
    parent: str | None


@dataclass(slots=True)
class _Page:
    name: str
    hidden: Any
    components: list[_Located] = field(default_factory=list)
    by_id: dict[str, _Located] = field(default_factory=dict)

    @property
    def top_level(self) -> list[_Located]:
        return [located for located in self.components if located.parent is None]


Rows = tuple[int, ...]


class _Tree:
    """The layout components, for ``component``/``displayValue``/``linkToComponent`` lookups made
    from within ``rows`` (the repeating-group rows of the component being evaluated)."""

    def __init__(self, builder: _Builder, rows: Rows) -> None:
        self._builder = builder
        self._rows = rows

    def _find(self, component_id: str) -> _Located:
        located = self._builder.components.get(component_id)
        if located is None:
            raise ExpressionError(f"Unable to find component with identifier {component_id}")
        return located

    def component_value(self, component_id: str) -> Any:
        located = self._find(component_id)
        if self._builder.hidden_anywhere(located, self._rows):
            return None
        binding = self._builder.binding(located, "simpleBinding")
        return None if binding is None else self._builder.read(binding, self._rows)

    def display_value(self, component_id: str) -> str | None:
        located = self._find(component_id)
        if self._builder.hidden_anywhere(located, self._rows):
            return None
        return self._builder.value_text(located, self._rows)

    def component_location(self, component_id: str) -> tuple[str, str]:
        located = self._find(component_id)
        return located.page.name, _row_id(component_id, self._rows)


def _row_id(component_id: str, rows: Rows) -> str:
    return component_id + "".join(f"-{row}" for row in rows)


class _Builder:
    """Turns the layouts and form data into blocks of text; all layout checking happens here."""

    def __init__(self, receipt: ReceiptInput, strings: Mapping[str, str], zone: tzinfo) -> None:
        self.receipt = receipt
        self.strings = strings
        self.blocks: list[_Block] = []
        self.components: dict[str, _Located] = {}
        self._pages: list[_Page] = []
        self._page_by_name: dict[str, _Page] = {}
        self._custom_pdf_layout = False
        self._page_hidden: dict[str, bool] = {}
        self._contexts: dict[Rows, SimpleContext] = {}
        self._hidden_in_progress: set[tuple[str, Rows]] = set()
        self._rendering: list[str] = []
        settings = receipt.layout_settings
        if settings is not None and not isinstance(settings, Mapping):
            raise ReceiptError("The layout settings must be a JSON object")
        self._settings_pages = self._settings_section(settings, "pages")
        self._settings_components = self._settings_section(settings, "components")
        self._excluded_pages = set(self._string_list(self._settings_pages, "excludeFromPdf", "pages"))
        self._excluded_components = set(
            self._string_list(self._settings_components, "excludeFromPdf", "components")
        )
        owner = receipt.owner
        party_id = owner.party_id or receipt.instance_id.partition("/")[0]
        self._instance: dict[str, Any] = {
            "id": receipt.instance_id,
            "appId": receipt.app_id,
            "instanceOwner": {
                "partyId": party_id,
                "personNumber": owner.national_identity_number,
                "organisationNumber": owner.organisation_number,
                "username": owner.username,
            },
            "data": [{"dataType": data_type} for data_type in receipt.data_models]
            + [{"dataType": attachment.data_type} for attachment in receipt.attachments],
        }
        self._zone = zone

    # -- settings and structure --

    @staticmethod
    def _settings_section(settings: Mapping[str, Any] | None, key: str) -> Mapping[str, Any]:
        section = (settings or {}).get(key)
        if section is None:
            return {}
        if not isinstance(section, Mapping):
            raise ReceiptError(f"Layout settings: '{key}' must be a JSON object")
        return section

    @staticmethod
    def _string_list(section: Mapping[str, Any], key: str, where: str) -> list[str]:
        values = section.get(key)
        if values is None:
            return []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ReceiptError(f"Layout settings: '{where}.{key}' must be a list of strings")
        return values

    def _load_pages(self) -> None:
        layouts = self.receipt.layouts
        if not isinstance(layouts, Mapping):
            raise ReceiptError("The layouts must map page names to layout documents")
        for name, document in layouts.items():
            self._page(name, document)
        if "order" in self._settings_pages:
            names = [n for n in self._string_list(self._settings_pages, "order", "pages") if n in layouts]
        else:
            names = list(layouts)
        pdf_layout = self._settings_pages.get("pdfLayoutName")
        if pdf_layout is not None and not isinstance(pdf_layout, str):
            raise ReceiptError("Layout settings: 'pages.pdfLayoutName' must be a string")
        if pdf_layout and pdf_layout in layouts:
            self._pages = [self._page_by_name[pdf_layout]]
            self._custom_pdf_layout = True
        else:
            self._pages = [self._page_by_name[n] for n in names if n not in self._excluded_pages]

    def _page(self, name: Any, document: Any) -> None:
        if not isinstance(name, str):
            raise ReceiptError("Layout page names must be strings")
        where = f"Layout page '{name}'"
        if not isinstance(document, Mapping):
            raise ReceiptError(f"{where}: the layout must be a JSON object")
        data = document.get("data")
        if not isinstance(data, Mapping):
            raise ReceiptError(f"{where}: 'data' must be a JSON object")
        components = data.get("layout")
        if not isinstance(components, list):
            raise ReceiptError(f"{where}: 'data.layout' must be a list of components")
        for index, component in enumerate(components):
            if not isinstance(component, Mapping):
                raise ReceiptError(f"{where}: component {index} must be a JSON object")
            if not isinstance(component.get("id"), str) or not component["id"]:
                raise ReceiptError(f"{where}: component {index} has no string 'id'")
            if not isinstance(component.get("type"), str):
                raise ReceiptError(f"{where}, component '{component['id']}': 'type' must be a string")
            for key in ("textResourceBindings", "dataModelBindings"):
                if component.get(key) is not None and not isinstance(component[key], Mapping):
                    raise ReceiptError(
                        f"{where}, component '{component['id']}': '{key}' must be a JSON object"
                    )
        page = _Page(name, data.get("hidden"))
        # A component named by a container on its page is shown inside it, not on its own.
        parents: dict[str, str] = {}
        for component in components:
            for child in self._child_ids(page, component):
                parents.setdefault(child, component["id"])
        for component in components:
            seen = {component["id"]}
            parent = parents.get(component["id"])
            while parent is not None:
                if parent in seen:
                    raise self._fail(
                        page, component, "the component contains itself (its containers form a loop)"
                    )
                seen.add(parent)
                parent = parents.get(parent)
        for component in components:
            located = _Located(page, component, parents.get(component["id"]))
            page.components.append(located)
            page.by_id.setdefault(component["id"], located)
            self.components.setdefault(component["id"], located)
        self._page_by_name[name] = page

    @staticmethod
    def _fail(page: _Page, component: Mapping[str, Any], message: str) -> ReceiptError:
        return ReceiptError(f"Layout page '{page.name}', component '{component['id']}': {message}")

    def _child_ids(self, page: _Page, component: Mapping[str, Any]) -> list[str]:
        """The ids of the components a container shows inside itself."""
        kind = component["type"]
        ids: list[str] = []
        if "children" in component:
            children = component["children"]
            if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
                raise self._fail(page, component, "'children' must be a list of component ids")
            ids.extend(_CHILD_PREFIX_RE.sub("", child) for child in children)
        for key in ("rows", "rowsBefore", "rowsAfter"):
            if key in component and (kind == "Grid" or key != "rows"):
                for _, cells in self._grid_rows(page, component, key):
                    ids.extend(
                        cell["component"]
                        for cell in cells
                        if cell is not None and isinstance(cell.get("component"), str)
                    )
        if kind == "Tabs":
            for tab in self._object_list(page, component, "tabs"):
                ids.extend(self._ids_of(page, component, tab, "tabs[].children"))
        if kind == "Cards":
            for card in self._object_list(page, component, "cards"):
                ids.extend(self._ids_of(page, component, card, "cards[].children"))
        return ids

    def _ids_of(
        self, page: _Page, component: Mapping[str, Any], item: Mapping[str, Any], where: str
    ) -> list[str]:
        children = item.get("children") or []
        if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
            raise self._fail(page, component, f"'{where}' must be a list of component ids")
        return list(children)

    def _object_list(self, page: _Page, component: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        items = component.get(key)
        if items is None:
            return []
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise self._fail(page, component, f"'{key}' must be a list of JSON objects")
        return items

    def _grid_rows(
        self, page: _Page, component: Mapping[str, Any], key: str
    ) -> list[tuple[bool, list[Mapping[str, Any] | None]]]:
        """The rows of a grid as (is a header row, cells)."""
        rows: list[tuple[bool, list[Mapping[str, Any] | None]]] = []
        for row in self._object_list(page, component, key):
            cells = row.get("cells")
            if not isinstance(cells, list) or not all(c is None or isinstance(c, Mapping) for c in cells):
                raise self._fail(page, component, f"'{key}[].cells' must be a list of JSON objects")
            rows.append((row.get("header") is True, cells))
        return rows

    # -- evaluation --

    def context(self, rows: Rows) -> SimpleContext:
        context = self._contexts.get(rows)
        if context is None:
            context = SimpleContext(
                data_models=self.receipt.data_models,
                default_data_type=self.receipt.default_data_type,
                row_indices=rows or None,
                instance=self._instance,
                language=self.receipt.language,
                timezone=self._zone,
                text_resources=self.receipt.texts,
                task_id=self.receipt.task_id,
                code_lists=self.receipt.options,
                components=_Tree(self, rows),
            )
            self._contexts[rows] = context
        return context

    def is_true(self, expression: Any, rows: Rows) -> bool:
        """A ``hidden``-style condition; one that cannot be evaluated counts as false (shown)."""
        if expression is None or expression is False:
            return False
        if expression is True:
            return True
        try:
            return evaluate_boolean(expression, self.context(rows), default=False)
        except ExpressionError:
            return False

    def text(self, binding: Any, rows: Rows) -> str | None:
        """A text binding: a text id, or an expression giving a text id (or the text itself)."""
        if binding is None:
            return None
        try:
            key = binding if isinstance(binding, str) else evaluate(binding, self.context(rows))
            if key is None or isinstance(key, Mapping | list):
                return None
            if not isinstance(key, str):
                key = _scalar_text(key, self.strings)
            resource = self.receipt.texts.get(key)
            if resource is None:
                return _plain(key)
            value = resource.get("value")
            if not resource.get("variables"):
                return _plain(value) if isinstance(value, str) else key
            text = evaluate(["text", key], self.context(rows))
        except ExpressionError:
            return None
        return _plain(text) if isinstance(text, str) else None

    def component_text(self, located: _Located, key: str, rows: Rows) -> str | None:
        bindings = located.component.get("textResourceBindings") or {}
        return self.text(bindings.get(key), rows)

    def binding(self, located: _Located, key: str) -> tuple[str | None, str] | None:
        bindings = located.component.get("dataModelBindings") or {}
        raw = bindings.get(key)
        if raw is None:
            return None
        if isinstance(raw, str):
            return None, raw
        if isinstance(raw, Mapping) and isinstance(raw.get("field"), str):
            data_type = raw.get("dataType")
            if data_type is not None and not isinstance(data_type, str):
                raise self._fail(
                    located.page, located.component, f"'dataModelBindings.{key}.dataType' must be a string"
                )
            return data_type, raw["field"]
        raise self._fail(
            located.page,
            located.component,
            f"'dataModelBindings.{key}' must be a path or an object with 'field' and 'dataType'",
        )

    def read(self, binding: tuple[str | None, str], rows: Rows) -> Any:
        data_type, path = binding
        try:
            data = self.context(rows).data_model(data_type)
            return resolve_data_model_path(data, path, rows)
        except ExpressionError:
            return None

    def _own_hidden(self, located: _Located, rows: Rows) -> bool:
        component = located.component
        key = (component["id"], rows)
        if key in self._hidden_in_progress:
            return False  # a condition that depends on itself: show the component
        self._hidden_in_progress.add(key)
        try:
            return self.is_true(component.get("hidden"), rows)
        finally:
            self._hidden_in_progress.discard(key)

    def page_hidden(self, page: _Page) -> bool:
        hidden = self._page_hidden.get(page.name)
        if hidden is None:
            self._page_hidden[page.name] = False  # guards against pages whose condition reads themselves
            hidden = self.is_true(page.hidden, ())
            self._page_hidden[page.name] = hidden
        return hidden

    def hidden_anywhere(self, located: _Located, rows: Rows) -> bool:
        """Hidden itself, through a container, or on a hidden page (what ``component`` sees)."""
        seen: set[str] = set()
        current: _Located | None = located
        while current is not None and current.component["id"] not in seen:
            seen.add(current.component["id"])
            if self._own_hidden(current, rows):
                return True
            current = current.page.by_id.get(current.parent) if current.parent else None
        return self.page_hidden(located.page)

    # -- values --

    def options(self, located: _Located, rows: Rows) -> list[tuple[str | None, str]] | None:
        """The component's options as (value, label); None when they are not static."""
        component = located.component
        inline = component.get("options")
        raw: Sequence[Any] | None = None
        if inline is not None:
            if not isinstance(inline, list) or not all(isinstance(o, Mapping) for o in inline):
                raise self._fail(located.page, component, "'options' must be a list of JSON objects")
            raw = inline
        elif isinstance(component.get("optionsId"), str):
            raw = self.receipt.options.get(component["optionsId"])
        elif component.get("optionsId") is not None:
            raise self._fail(located.page, component, "'optionsId' must be a string")
        elif isinstance(component.get("source"), Mapping):
            return self._source_options(located, rows)
        if raw is None:
            return None
        result: list[tuple[str | None, str]] = []
        for option in raw:
            if not isinstance(option, Mapping):
                continue
            label = option.get("label")
            text = self.text(label, rows) if label is not None else None
            result.append(
                (
                    _option_key(option.get("value")),
                    text if text is not None else _scalar_text(label or "", self.strings),
                )
            )
        return result

    def _source_options(self, located: _Located, rows: Rows) -> list[tuple[str | None, str]]:
        source = located.component["source"]
        group, value_path, label = source.get("group"), source.get("value"), source.get("label")
        if not isinstance(group, str) or not isinstance(value_path, str):
            raise self._fail(
                located.page, located.component, "'source.group' and 'source.value' must be paths"
            )
        items = self.read((None, group), rows)
        result: list[tuple[str | None, str]] = []
        for index in range(len(items) if isinstance(items, list) else 0):
            row_rows = (*rows, index)
            value = self.read((None, value_path.replace("{0}", str(index))), rows)
            text = self.text(label, row_rows)
            result.append(
                (_option_key(value), text if text is not None else _scalar_text(value, self.strings))
            )
        return result

    def option_label(self, located: _Located, value: Any, rows: Rows) -> str:
        options = self.options(located, rows)
        if located.component["type"] in _MULTI_VALUE_COMPONENTS:
            parts = value if isinstance(value, list) else [p.strip() for p in str(value).split(",")]
        else:
            parts = [value]
        labels: list[str] = []
        lookup = dict(options or ())
        for part in parts:
            key = _option_key(part)
            if key is None or key == "":
                continue
            labels.append(lookup.get(key) or key)
        return ", ".join(labels)

    def _format(self, located: _Located, value: Any, rows: Rows) -> str | None:
        if value is None or value == "" or value == []:
            return None
        component = located.component
        kind = component["type"]
        if kind in _OPTION_COMPONENTS or kind == "Option":
            return self.option_label(located, value, rows) or None
        if isinstance(value, list):
            return (
                ", ".join(_scalar_text(v, self.strings) for v in value if v is not None and v != "") or None
            )
        text = _scalar_text(value, self.strings)
        if kind in ("Datepicker", "Date"):
            return _format_date(text, component.get("format"))
        formatting = component.get("formatting")
        if isinstance(formatting, Mapping) and not isinstance(value, bool):
            return _format_input_number(text, formatting, self.receipt.language)
        return text

    def value_text(self, located: _Located, rows: Rows) -> str | None:
        """The component's value as shown; None when it has none."""
        component = located.component
        kind = component["type"]
        if kind in _UPLOAD_COMPONENTS:
            return "\n".join(self._uploads(located, rows)) or None
        if kind == "Address":
            return self._address(located, rows)
        if kind in _DISPLAY_COMPONENTS and "value" in component:
            try:
                value = evaluate(component["value"], self.context(rows))
            except ExpressionError:
                return None
            return self._format(located, value, rows)
        simple = self.binding(located, "simpleBinding")
        if simple is not None:
            return self._format(located, self.read(simple, rows), rows)
        bindings = component.get("dataModelBindings") or {}
        values: list[str] = []
        for key in bindings:
            binding = self.binding(located, key)
            if binding is None or key in ("group", "questions", "answer"):
                continue
            text = self._format(located, self.read(binding, rows), rows)
            if text:
                values.append(text)
        return "\n".join(values) or None

    def _address(self, located: _Located, rows: Rows) -> str | None:
        parts: dict[str, str] = {}
        for part in ("address", "careOf", "zipCode", "postPlace", "houseNumber"):
            binding = self.binding(located, part)
            value = self.read(binding, rows) if binding is not None else None
            parts[part] = "" if value is None or value == "" else _scalar_text(value, self.strings)
        street = " ".join(p for p in (parts["address"], parts["houseNumber"]) if p)
        locality = " ".join(p for p in (parts["zipCode"], parts["postPlace"]) if p)
        return "\n".join(line for line in (parts["careOf"], street, locality) if line) or None

    def _uploads(self, located: _Located, rows: Rows) -> list[str]:
        component = located.component
        files = [a for a in self.receipt.attachments if a.data_type == component["id"]]
        referenced: set[str] | None = None
        for key in ("simpleBinding", "list"):
            binding = self.binding(located, key)
            if binding is not None and rows:
                value = self.read(binding, rows)
                values = value if isinstance(value, list) else [value]
                referenced = (referenced or set()) | {str(v) for v in values if v is not None}
        if referenced is not None:
            files = [a for a in files if a.id in referenced]
        tag_labels = dict(self.options(located, rows) or ())
        lines: list[str] = []
        for attachment in files:
            name = attachment.filename or attachment.id or attachment.data_type
            if attachment.tags and component["type"] == "FileUploadWithTag":
                tags = ", ".join(tag_labels.get(tag) or tag for tag in attachment.tags)
                name = f"{name} ({tags})"
            lines.append(name)
        return lines

    # -- rendering --

    def build(self) -> list[_Block]:
        self._load_pages()
        for page in self._pages:
            if not self._custom_pdf_layout and self.page_hidden(page):
                continue
            start = len(self.blocks)
            for located in page.top_level:
                self._render(located, (), 0)
            if start and len(self.blocks) > start and not self._custom_pdf_layout:
                self.blocks.insert(start, _Rule())
        return self.blocks

    @staticmethod
    def _child(parent: _Located, child_id: str) -> _Located | None:
        # Altinn shows only children on the container's own page.
        return parent.page.by_id.get(child_id)

    def _excluded(self, component_id: str, rows: Rows) -> bool:
        return (
            component_id in self._excluded_components
            or _row_id(component_id, rows) in self._excluded_components
        )

    def _render(self, located: _Located, rows: Rows, indent: int, label: str | None = None) -> None:
        component = located.component
        component_id = component["id"]
        kind = component["type"]
        if kind in _NEVER_IN_PDF and not (self._custom_pdf_layout and kind in ("Summary", "Summary2")):
            return
        if self._excluded(component_id, rows) or component.get("renderAsSummary") is False:
            return
        if self._own_hidden(located, rows):
            return
        if component_id in self._rendering:
            raise self._fail(located.page, component, "the component contains itself")
        self._rendering.append(component_id)
        try:
            self._render_kind(located, rows, indent, label)
        finally:
            self._rendering.pop()

    def _render_kind(self, located: _Located, rows: Rows, indent: int, label: str | None) -> None:
        component = located.component
        kind = component["type"]
        if kind == "Summary":
            target = component.get("componentRef")
            if isinstance(target, str) and target in self.components:
                self._render(self.components[target], rows, indent)
        elif kind == "Summary2":
            self._render_summary2(located, indent)
        elif kind == "RepeatingGroup" or (kind == "Group" and self._is_legacy_repeating(located)):
            self._render_repeating(located, rows, indent)
        elif kind in ("Group", "Accordion", "AccordionGroup"):
            self._render_container(located, rows, indent)
        elif kind == "Tabs":
            self._render_tabs(located, rows, indent)
        elif kind == "Cards":
            self._render_cards(located, rows, indent)
        elif kind == "Grid":
            self._render_grid(located, rows, indent)
        elif kind == "Likert":
            self._render_likert(located, rows, indent)
        elif kind in ("Header", "Heading"):
            title = self.component_text(located, "title", rows)
            size = component.get("size")
            if title:
                self.blocks.append(
                    _Heading(title, _HEADER_LEVELS.get(size, 2) if isinstance(size, str) else 2, indent)
                )
        elif kind == "Paragraph":
            title = self.component_text(located, "title", rows)
            if title:
                self.blocks.append(_Paragraph(title, indent))
        elif kind in ("Panel", "Alert"):
            title = self.component_text(located, "title", rows)
            body = self.component_text(located, "body", rows)
            if title:
                self.blocks.append(_Heading(title, 4, indent))
            if body:
                self.blocks.append(_Paragraph(body, indent))
        elif self._shows_value(component):
            self.blocks.append(
                _Field(
                    label or self._label(located, rows),
                    self.value_text(located, rows) or _EMPTY,
                    indent,
                )
            )

    def _shows_value(self, component: Mapping[str, Any]) -> bool:
        kind = component["type"]
        return (
            kind in _UPLOAD_COMPONENTS
            or (kind in _DISPLAY_COMPONENTS and "value" in component)
            or bool(component.get("dataModelBindings"))
        )

    def _label(self, located: _Located, rows: Rows) -> str:
        return self._label_or_none(located, rows) or str(located.component["id"])

    def _children(self, located: _Located, ids: Sequence[str]) -> Iterator[_Located]:
        for child_id in ids:
            child = self._child(located, _CHILD_PREFIX_RE.sub("", child_id))
            if child is not None:
                yield child

    def _title_if_content(self, start: int, title: _Block | None) -> None:
        """Put ``title`` before the blocks added since ``start``; a section showing nothing
        (every child hidden) gets no title either."""
        if title is not None and len(self.blocks) > start:
            self.blocks.insert(start, title)

    def _section(self, located: _Located, rows: Rows, indent: int) -> tuple[int, _Heading | None]:
        """The indent of a container's content and its title heading (None without a title)."""
        title = self._label_or_none(located, rows)
        return (indent + 1, _Heading(title, 3, indent)) if title else (indent, None)

    def _label_or_none(self, located: _Located, rows: Rows) -> str | None:
        """The title a summary shows: ``summaryTitle``, else ``title``."""
        for key in ("summaryTitle", "title"):
            text = self.component_text(located, key, rows)
            if text:
                return text
        return None

    def _render_container(self, located: _Located, rows: Rows, indent: int) -> None:
        inner, title = self._section(located, rows, indent)
        start = len(self.blocks)
        for child in self._children(
            located, self._ids_of(located.page, located.component, located.component, "children")
        ):
            self._render(child, rows, inner)
        self._title_if_content(start, title)

    def _is_legacy_repeating(self, located: _Located) -> bool:
        max_count = located.component.get("maxCount")
        return self.binding(located, "group") is not None and isinstance(max_count, int) and max_count > 1

    def _render_repeating(self, located: _Located, rows: Rows, indent: int) -> None:
        component = located.component
        binding = self.binding(located, "group")
        if binding is None:
            raise self._fail(located.page, component, "a repeating group needs 'dataModelBindings.group'")
        items = self.read(binding, rows)
        count = len(items) if isinstance(items, list) else 0
        inner, title = self._section(located, rows, indent)
        if title is not None:
            self.blocks.append(title)
        child_ids = self._ids_of(located.page, component, component, "children")
        start = len(self.blocks)
        for index in range(count):
            row_rows = (*rows, index)
            if self.is_true(component.get("hiddenRow"), row_rows):
                continue
            row_start = len(self.blocks)
            for child in self._children(located, child_ids):
                self._render(child, row_rows, inner + 1)
            self._title_if_content(row_start, _Heading(f"{self.strings['row']} {index + 1}", 5, inner))
        if len(self.blocks) == start:
            self.blocks.append(_Paragraph(_EMPTY, inner))

    def _render_tabs(self, located: _Located, rows: Rows, indent: int) -> None:
        inner, title = self._section(located, rows, indent)
        start = len(self.blocks)
        for tab in self._object_list(located.page, located.component, "tabs"):
            tab_title = self.text(tab.get("title"), rows)
            tab_start = len(self.blocks)
            for child in self._children(
                located, self._ids_of(located.page, located.component, tab, "tabs[].children")
            ):
                self._render(child, rows, inner + 1 if tab_title else inner)
            self._title_if_content(tab_start, _Heading(tab_title, 4, inner) if tab_title else None)
        self._title_if_content(start, title)

    def _render_cards(self, located: _Located, rows: Rows, indent: int) -> None:
        inner, title = self._section(located, rows, indent)
        start = len(self.blocks)
        for card in self._object_list(located.page, located.component, "cards"):
            card_title = self.text(card.get("title"), rows)
            description = self.text(card.get("description"), rows)
            card_indent = inner + 1 if card_title else inner
            card_start = len(self.blocks)
            if description:
                self.blocks.append(_Paragraph(description, card_indent))
            for child in self._children(
                located, self._ids_of(located.page, located.component, card, "cards[].children")
            ):
                self._render(child, rows, card_indent)
            self._title_if_content(card_start, _Heading(card_title, 4, inner) if card_title else None)
        self._title_if_content(start, title)

    def _render_grid(self, located: _Located, rows: Rows, indent: int) -> None:
        inner, title = self._section(located, rows, indent)
        grid_start = len(self.blocks)
        headers: list[str] = []
        for header, cells in self._grid_rows(located.page, located.component, "rows"):
            texts = [self.text(cell.get("text"), rows) if cell is not None else None for cell in cells]
            if header:
                headers = [t or "" for t in texts]
                continue
            row_title = " ".join(t for t in texts if t)
            components = [
                (column, self._child(located, cell["component"]))
                for column, cell in enumerate(cells)
                if cell is not None and isinstance(cell.get("component"), str)
            ]
            if not components:
                if row_title:
                    self.blocks.append(_Paragraph(row_title, inner))
                continue
            start = len(self.blocks)
            for column, child in components:
                if child is not None:
                    label = headers[column] if column < len(headers) and headers[column] else None
                    self._render(child, rows, inner + 1 if row_title else inner, label)
            self._title_if_content(start, _Heading(row_title, 5, inner) if row_title else None)
        self._title_if_content(grid_start, title)

    def _render_likert(self, located: _Located, rows: Rows, indent: int) -> None:
        component = located.component
        questions = self.binding(located, "questions")
        answer = self.binding(located, "answer")
        if questions is None or answer is None:
            raise self._fail(
                located.page, component, "a Likert needs 'dataModelBindings.questions' and 'answer'"
            )
        items = self.read(questions, rows)
        count = len(items) if isinstance(items, list) else 0
        start, stop = 0, count
        for entry in self._object_list(located.page, component, "filter"):
            value = entry.get("value")
            try:
                number = (
                    int(str(value))
                    if not isinstance(value, list)
                    else int(evaluate(value, self.context(rows)))
                )
            except (ValueError, TypeError, ExpressionError):
                continue
            if entry.get("key") == "start":
                start = max(0, number)
            elif entry.get("key") == "stop":
                stop = min(count, number)
        inner, title = self._section(located, rows, indent)
        if title is not None:
            self.blocks.append(title)
        question_binding = (component.get("textResourceBindings") or {}).get("questions")
        for index in range(start, stop):
            row_rows = (*rows, index)
            question = self.text(question_binding, row_rows) or f"{self.strings['row']} {index + 1}"
            value = self.read(answer, row_rows)
            text = self.option_label(located, value, row_rows) if value not in (None, "") else ""
            self.blocks.append(_Field(question, text or _EMPTY, inner))
        if start >= stop:
            self.blocks.append(_Paragraph(_EMPTY, inner))

    def _render_summary2(self, located: _Located, indent: int) -> None:
        target = located.component.get("target")
        if not isinstance(target, Mapping):
            return
        kind, target_id = target.get("type", "component"), target.get("id")
        if kind == "layoutSet":
            pages = [
                p
                for name, p in self._page_by_name.items()
                if p is not located.page and name not in self._excluded_pages
            ]
        elif kind == "page" and isinstance(target_id, str) and target_id in self._page_by_name:
            pages = [self._page_by_name[target_id]]
        else:
            if isinstance(target_id, str) and target_id in self.components:
                self._render(self.components[target_id], (), indent)
            return
        for page in pages:
            if not self.page_hidden(page):
                for child in page.top_level:
                    self._render(child, (), indent)


# --- Drawing ----------------------------------------------------------------------------------------------

_MARGIN: Final = 18.0
_BOTTOM: Final = 20.0
_INDENT_STEP: Final = 5.0
_MAX_INDENT: Final = 6
_KEY_WIDTH: Final = 38.0
_GREY: Final = (90, 90, 90)
_LIGHT: Final = (180, 180, 180)
_BLACK: Final = (20, 20, 20)
_HEADING_SIZES: Final[Mapping[int, float]] = {1: 14.0, 2: 12.5, 3: 11.5, 4: 10.5, 5: 10.0}
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028\u2029]")


class _ReceiptPdf(FPDF):
    def __init__(self, footer_left: str, page_template: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_left = footer_left
        self._page_template = page_template
        self.supported: frozenset[int] = frozenset()

    def footer(self) -> None:
        self.set_y(-13)
        self.set_draw_color(*_LIGHT)
        self.line(self.l_margin, self.get_y() - 1.5, self.w - self.r_margin, self.get_y() - 1.5)
        self.set_font(_FONT, "", 7.5)
        self.set_text_color(*_GREY)
        width = self.w - self.l_margin - self.r_margin
        page = self._page_template.format(n=self.page_no(), nb=self.str_alias_nb_pages)
        self.cell(width * 0.75, 5, self.clean(self._footer_left), align="L")
        self.cell(width * 0.25, 5, page, align="R")

    def clean(self, text: str) -> str:
        """Text the font can print: normalised, control characters out, missing glyphs as '?'."""
        text = unicodedata.normalize(
            "NFC", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
        )
        text = _CONTROL_RE.sub("", text)
        supported = self.supported
        if all(ord(c) in supported or c == "\n" for c in text):
            return text
        return "".join(c if c == "\n" or ord(c) in supported else "?" for c in text)


def _draw(
    receipt: ReceiptInput, strings: Mapping[str, str], local_time: datetime, blocks: list[_Block]
) -> bytes:
    footer = f"{strings['generated']} · {strings['instance']} {receipt.instance_id}"
    pdf = _ReceiptPdf(footer, strings["page"])
    pdf.add_font(_FONT, "", str(_FONT_REGULAR))
    pdf.add_font(_FONT, "B", str(_FONT_BOLD))
    regular, bold = pdf.fonts[_FONT], pdf.fonts[_FONT + "B"]
    assert isinstance(regular, TTFFont) and isinstance(bold, TTFFont)
    pdf.supported = frozenset(regular.cmap) & frozenset(bold.cmap)
    pdf.set_creation_date(local_time)
    pdf.set_title(receipt.app_title)
    pdf.set_author(receipt.org)
    pdf.set_subject(receipt.instance_id)
    pdf.set_creator("Tinn")
    pdf.set_lang(receipt.language)
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(True, _BOTTOM)
    pdf.alias_nb_pages()
    pdf.add_page()

    _draw_header(pdf, receipt, strings, local_time)
    for index, block in enumerate(blocks):
        _draw_block(pdf, block, _keep_with_next(blocks, index))
    _draw_attachments(pdf, receipt, strings)
    return bytes(pdf.output())


def _content_width(pdf: _ReceiptPdf, indent: int) -> tuple[float, float]:
    offset = min(indent, _MAX_INDENT) * _INDENT_STEP
    return pdf.l_margin + offset, pdf.w - pdf.l_margin - pdf.r_margin - offset


def _ensure_room(pdf: _ReceiptPdf, height: float) -> None:
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()


def _draw_header(
    pdf: _ReceiptPdf, receipt: ReceiptInput, strings: Mapping[str, str], local_time: datetime
) -> None:
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_text_color(*_BLACK)
    pdf.set_font(_FONT, "B", 18)
    pdf.multi_cell(width, 8, pdf.clean(receipt.app_title), new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_font(_FONT, "", 12)
    pdf.set_text_color(*_GREY)
    pdf.cell(width, 7, strings["receipt"], new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(2)
    owner = receipt.owner
    sender = owner.name
    if owner.national_identity_number:
        sender += f" ({strings['pid']} {owner.national_identity_number})"
    elif owner.organisation_number:
        sender += f" ({strings['orgnr']} {owner.organisation_number})"
    task = receipt.task_name or receipt.task_id
    if receipt.task_name and receipt.task_name != receipt.task_id:
        task = f"{receipt.task_name} ({receipt.task_id})"
    rows = [
        (strings["receiver"], receipt.org),
        (strings["sender"], sender),
        (strings["instance"], receipt.instance_id),
        (strings["task"], task),
        (strings["time"], _format_time(local_time, strings)),
        *receipt.summary,
    ]
    for label, value in rows:
        _draw_key_value(pdf, label, value or _EMPTY)
    pdf.ln(2)
    _rule(pdf)
    pdf.ln(3)


def _draw_key_value(pdf: _ReceiptPdf, label: str, value: str) -> None:
    """A header line: the label in a narrow column, the value wrapping beside it."""
    width = pdf.w - pdf.l_margin - pdf.r_margin
    _ensure_room(pdf, 10)
    page, top = pdf.page, pdf.get_y()
    pdf.set_font(_FONT, "B", 9.5)
    pdf.set_text_color(*_GREY)
    pdf.multi_cell(_KEY_WIDTH - 2, 5, pdf.clean(label), new_x="LMARGIN", new_y="NEXT", align="L")
    label_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + _KEY_WIDTH, top)
    pdf.set_font(_FONT, "", 10)
    pdf.set_text_color(*_BLACK)
    pdf.multi_cell(width - _KEY_WIDTH, 5, pdf.clean(value), new_x="LMARGIN", new_y="NEXT", align="L")
    if pdf.page == page and label_bottom > pdf.get_y():
        pdf.set_y(label_bottom)
    pdf.ln(0.6)


def _rule(pdf: _ReceiptPdf) -> None:
    pdf.set_draw_color(*_LIGHT)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())


def _first_lines_height(block: _Block) -> float:
    """Roughly the height of a block's first lines: what must fit below a heading above it."""
    if isinstance(block, _Heading):
        return _HEADING_SIZES.get(block.level, 10.0) * 0.5 + 4.0
    if isinstance(block, _Field):
        return 12.0
    if isinstance(block, _Paragraph):
        return 7.0
    return 4.0


def _keep_with_next(blocks: Sequence[_Block], index: int) -> float:
    """Room a heading needs to stay on the page with the headings and the first block under it."""
    needed = 0.0
    for block in blocks[index:]:
        needed += _first_lines_height(block)
        if not isinstance(block, _Heading):
            break
    return needed


def _draw_block(pdf: _ReceiptPdf, block: _Block, keep: float = 0.0) -> None:
    if isinstance(block, _Rule):
        pdf.ln(1)
        _rule(pdf)
        pdf.ln(3)
    elif isinstance(block, _Heading):
        size = _HEADING_SIZES.get(block.level, 10.0)
        x, width = _content_width(pdf, block.indent)
        line = size * 0.5
        _ensure_room(pdf, max(keep, line + 12))
        pdf.ln(1.5 if block.level >= 4 else 2.5)
        pdf.set_font(_FONT, "B", size)
        pdf.set_text_color(*(_GREY if block.level == 5 else _BLACK))
        pdf.set_x(x)
        pdf.multi_cell(width, line, pdf.clean(block.text), new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(0.8)
    elif isinstance(block, _Paragraph):
        x, width = _content_width(pdf, block.indent)
        pdf.set_font(_FONT, "", 10)
        pdf.set_text_color(*_BLACK)
        _ensure_room(pdf, 5)
        pdf.set_x(x)
        pdf.multi_cell(width, 5, pdf.clean(block.text), new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(1.5)
    else:
        x, width = _content_width(pdf, block.indent)
        _ensure_room(pdf, 10)
        pdf.set_font(_FONT, "B", 9)
        pdf.set_text_color(*_GREY)
        pdf.set_x(x)
        pdf.multi_cell(width, 4.5, pdf.clean(block.label), new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_font(_FONT, "", 10)
        pdf.set_text_color(*_BLACK)
        pdf.set_x(x)
        pdf.multi_cell(width, 5, pdf.clean(block.value), new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(2)


def _draw_attachments(pdf: _ReceiptPdf, receipt: ReceiptInput, strings: Mapping[str, str]) -> None:
    pdf.ln(2)
    _ensure_room(pdf, 20)
    _rule(pdf)
    pdf.ln(3)
    _draw_block(pdf, _Heading(strings["attachments"], 2, 0))
    if not receipt.attachments:
        _draw_block(pdf, _Paragraph(strings["no_attachments"], 0))
        return
    for attachment in receipt.attachments:
        details = [attachment.data_type, _format_size(attachment.size, receipt.language)]
        if attachment.sha256:
            details.append(f"SHA-256 {attachment.sha256[:16]}…")
        _draw_block(
            pdf,
            _Field(attachment.filename or attachment.id or attachment.data_type, " · ".join(details), 0),
        )
