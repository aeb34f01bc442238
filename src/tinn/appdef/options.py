"""Static code lists (``options/{id}.json``) and how ``GET api/options/{id}`` answers.

Each file is a JSON array of ``{value, label, description?, helpText?, tags?}``, read the way
Altinn's ``AppOption`` converter reads it: names case-insensitive, ``value`` a string, number,
boolean or null (kept as such on the wire), ``label`` required, anything else refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote_plus

import orjson

from tinn.appdef.definition import AppOption, OptionList
from tinn.appdef.jsonfiles import AppFileError, line_of, load_json

# ``lib**{org}**{codeListId}**{version}``: Altinn's shared code-list library (not available here).
LIBRARY_REF = re.compile(r"^lib\*\*[a-zA-Z0-9]+\*\*[a-zA-Z0-9_-]+\*\*[a-zA-Z0-9._-]+$")

_STRING_FIELDS = {"label": "label", "description": "description", "helptext": "help_text"}


def load_options(folder: Path) -> dict[str, OptionList]:
    lists: dict[str, OptionList] = {}
    if not folder.is_dir():
        return lists
    for path in sorted(folder.glob("*.json"), key=lambda p: p.name):
        if path.is_file():
            option_id = path.name[: -len(".json")]
            options = _parse(path)
            lists[option_id] = OptionList(option_id, options, options_body(options))
    return lists


def _parse(path: Path) -> tuple[AppOption, ...]:
    text, raw = load_json(path)
    if not isinstance(raw, list):
        raise AppFileError(path, "an option list must be a JSON array", line_of(text, []))
    return tuple(_option(path, text, index, item) for index, item in enumerate(raw))


def _option(path: Path, text: str, index: int, item: Any) -> AppOption:
    def fail(message: str, key: str | None = None) -> AppFileError:
        loc: list[str | int] = [index] if key is None else [index, key]
        return AppFileError(path, f"[{index}]: {message}", line_of(text, loc))

    if not isinstance(item, dict):
        raise fail("an option must be a JSON object")
    fields: dict[str, Any] = {}
    has_value = False
    for key, value in item.items():
        lowered = key.lower()
        if lowered == "value":
            if isinstance(value, dict | list):
                raise fail("value must be a string, number, boolean or null", key)
            # System.Text.Json writes a whole double without a fraction (1.0 -> 1).
            fields["value"] = int(value) if isinstance(value, float) and value.is_integer() else value
            has_value = True
        elif lowered in _STRING_FIELDS:
            if value is not None and not isinstance(value, str):
                raise fail(f"{key} must be a string", key)
            fields[_STRING_FIELDS[lowered]] = value
        elif lowered == "tags":
            if value is not None and (
                not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
            ):
                raise fail("tags must be an object of strings", key)
            fields["tags"] = None if value is None else MappingProxyType(dict(value))
        else:
            raise fail(f"unknown property '{key}' (allowed: value, label, description, helpText, tags)", key)
    if fields.get("label") is None:
        raise fail("label is required")
    if not has_value:
        fields["value"] = None
    return AppOption(**fields)


def options_body(options: tuple[AppOption, ...]) -> bytes:
    items = []
    for option in options:
        item: dict[str, Any] = {"value": option.value, "label": option.label}
        if option.description:
            item["description"] = option.description
        if option.help_text:
            item["helpText"] = option.help_text
        if option.tags is not None:
            item["tags"] = dict(option.tags)
        items.append(item)
    return orjson.dumps(items)


def downstream_parameters(parameters: Mapping[str, str | None]) -> str:
    """The ``Altinn-DownstreamParameters`` header: ``k=v`` pairs, URL-encoded, comma separated."""
    return ",".join(f"{quote_plus(key)}={quote_plus(value or '')}" for key, value in parameters.items())
