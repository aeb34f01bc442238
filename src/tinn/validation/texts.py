"""Turning a ``customTextKey`` into an issue description, as Altinn's translation service does.

The text is looked up in the app's ``resource.{language}.json`` (``nb`` when the app has no file
for the language; a key missing from the file does *not* fall back to ``nb``), then in the
built-in backend texts. ``{0}``, ``{1}``... are replaced by the text's ``variables`` in order:
``customTextParameters`` (from the issue), ``text`` (another text key), and, when the caller can
evaluate against form data, ``dataModel.*``, ``instanceContext`` and ``applicationSettings``. A
variable without a value falls back to its ``defaultValue``, then to its key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tinn.appdef.definition import DEFAULT_LANGUAGE, AppDefinition
from tinn.appdef.models import TextResourceElement, TextResourceVariable

# Texts Altinn ships for its built-in issues; an app overrides one by defining the same key.
# ``{name}`` placeholders take the custom text parameter of that name.
_BACKEND_TEXTS: dict[str, dict[str, str]] = {
    "backend.validation_errors.required": {
        "nb": "Feltet er påkrevd",
        "nn": "Feltet er påkravd",
        "en": "Field is required",
    },
    "backend.xsd_validation": {
        "nb": "Et felt bryter reglene satt av XSD. Melding: {message}",
        "nn": "Eit felt bryt reglane sette av XSD. Melding: {message}",
        "en": "A field is in violation of the rules set by the XSD schema. Message: {message}",
    },
}

# Resolves a ``dataModel.*``/``instanceContext``/``applicationSettings`` variable; None when the
# caller has no form data to read (then the variable falls back like a missing value).
VariableReader = Callable[[TextResourceVariable], str | None]


def find_text(definition: AppDefinition, key: str, language: str | None) -> TextResourceElement | None:
    """The app's text resource element for ``key``, with Altinn's language fallback."""
    lang = language or DEFAULT_LANGUAGE
    resource = definition.texts.get(lang)
    if resource is None and lang != DEFAULT_LANGUAGE:
        resource = definition.texts.get(DEFAULT_LANGUAGE)
    if resource is None:
        return None
    for element in resource.resources or ():
        if element.id == key:
            return element
    return None


def _backend_text(key: str, language: str | None, parameters: Mapping[str, str] | None) -> str | None:
    texts = _BACKEND_TEXTS.get(key)
    if texts is None:
        return None
    lang = language or DEFAULT_LANGUAGE
    value = texts.get(lang, texts["en"])
    for name, replacement in (parameters or {}).items():
        value = value.replace("{" + name + "}", replacement)
    return value


def translate(
    definition: AppDefinition,
    key: str,
    language: str | None,
    parameters: Mapping[str, str] | None = None,
    *,
    read_variable: VariableReader | None = None,
    _seen: frozenset[str] = frozenset(),
) -> str | None:
    """The text for ``key`` in ``language`` with its variables filled in; None when the app has
    no such text and Altinn ships none either."""
    element = find_text(definition, key, language)
    if element is None:
        return _backend_text(key, language, parameters)
    value = element.value
    if value is None or not element.variables:
        return value
    for index, variable in enumerate(element.variables):
        replacement = _variable_value(
            definition, variable, language, parameters, read_variable, _seen | {key}
        )
        if replacement is None:
            replacement = variable.default_value if variable.default_value is not None else variable.key
        value = value.replace("{" + str(index) + "}", replacement or "")
    return value


def _variable_value(
    definition: AppDefinition,
    variable: TextResourceVariable,
    language: str | None,
    parameters: Mapping[str, str] | None,
    read_variable: VariableReader | None,
    seen: frozenset[str],
) -> str | None:
    source = variable.data_source or ""
    key = variable.key
    if key is None:
        return None
    if source == "customTextParameters":
        return (parameters or {}).get(key)
    if source == "text":
        if key in seen:  # a text that refers back to itself has no value
            return None
        return translate(definition, key, language, parameters, read_variable=read_variable, _seen=seen)
    if source.startswith("dataModel.") or source in ("instanceContext", "applicationSettings"):
        return read_variable(variable) if read_variable is not None else None
    return None


def text_resources(definition: AppDefinition, language: str | None) -> dict[str, Mapping[str, Any]]:
    """Text resources in expression form (``{"id", "value", "variables"}``) for ``["text", key]``."""
    lang = language or DEFAULT_LANGUAGE
    resource = definition.texts.get(lang)
    if resource is None and lang != DEFAULT_LANGUAGE:
        resource = definition.texts.get(DEFAULT_LANGUAGE)
    result: dict[str, Mapping[str, Any]] = {}
    elements = (resource.resources or []) if resource is not None else []
    for element in elements:
        if element.id is None:
            continue
        entry: dict[str, Any] = {"id": element.id, "value": element.value}
        if element.variables:
            entry["variables"] = [
                {"key": v.key, "dataSource": v.data_source, "defaultValue": v.default_value}
                for v in element.variables
            ]
        result.setdefault(element.id, entry)
    return result
