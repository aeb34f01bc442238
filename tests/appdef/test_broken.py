"""Broken app folders: each is reported with file and line, and the other apps still load."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.appdef.factory import BPMN, POLICY, metadata, write_app
from tinn.appdef.registry import load_apps

META = "config/applicationmetadata.json"


def _meta(**overrides: object) -> str:
    return json.dumps(metadata("ttd", "broken", **overrides), indent=2)


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str | bytes | None]
    path: str
    line: int | None
    message: str


CASES = [
    Case("metadata not JSON", {META: '{\n  "id": "ttd/broken",\n  "org": ttd\n}'}, META, 3, "invalid JSON"),
    Case(
        "metadata with a comment",
        {META: '{\n  // comment\n  "id": "ttd/broken"\n}'},
        META,
        2,
        "invalid JSON",
    ),
    Case("metadata without id", {META: '{\n  "org": "ttd",\n  "dataTypes": []\n}'}, META, 1, "id: required"),
    Case(
        "metadata id not org/app",
        {META: '{\n  "org": "ttd",\n  "id": "broken"\n}'},
        META,
        3,
        "not of the form 'org/app'",
    ),
    Case(
        "maxCount as text",
        {META: _meta(dataTypes=[{"id": "a"}, {"id": "b", "maxCount": "2"}])},
        META,
        13,
        "dataTypes[1].maxCount: Input should be a valid integer",
    ),
    Case(
        "maxSize beyond int32",
        {META: _meta(dataTypes=[{"id": "a", "maxSize": 2**40}])},
        META,
        10,
        "dataTypes[0].maxSize",
    ),
    Case(
        "bad date",
        {META: _meta(created="yesterday")},
        META,
        20,
        "'yesterday' is not an ISO 8601 date-time",
    ),
    Case(
        "duplicate data type",
        {META: _meta(dataTypes=[{"id": "a"}, {"id": "a"}])},
        META,
        11,
        "data type 'a' is declared twice",
    ),
    Case(
        "process not XML",
        {"config/process/process.bpmn": BPMN.replace("</bpmn:task>", "</bpmn:tusk>")},
        "config/process/process.bpmn",
        18,
        "not well-formed XML",
    ),
    Case(
        "process flow to nowhere",
        {"config/process/process.bpmn": BPMN.replace('targetRef="EndEvent_1"', 'targetRef="Nowhere"')},
        "config/process/process.bpmn",
        23,
        "targetRef names 'Nowhere', which is not an element of this process (element 'f2')",
    ),
    Case(
        "policy not XML",
        {"config/authorization/policy.xml": POLICY.replace("</xacml:Rule>", "")},
        "config/authorization/policy.xml",
        51,
        "malformed XML",
    ),
    Case(
        "policy with unknown function",
        {
            "config/authorization/policy.xml": POLICY.replace(
                "1.0:function:string-equal", "1.0:function:regex"
            )
        },
        "config/authorization/policy.xml",
        25,
        "regex",
    ),
    Case(
        "text value not a string",
        {"config/texts/resource.en.json": '{\n  "resources": [\n    {"id": "a", "value": 5}\n  ]\n}'},
        "config/texts/resource.en.json",
        3,
        "resources[0].value: Input should be a valid string",
    ),
    Case(
        "layout not JSON",
        {
            "ui/layout-sets.json": '{"sets": [{"id": "form", "tasks": ["Task_1"]}]}',
            "ui/form/layouts/Side1.json": '{\n  "data": {\n    "layout": [,]\n  }\n}',
        },
        "ui/form/layouts/Side1.json",
        3,
        "invalid JSON",
    ),
    Case(
        "page order names a missing page",
        {
            "ui/layout-sets.json": '{"sets": [{"id": "form", "tasks": ["Task_1"]}]}',
            "ui/form/Settings.json": '{\n  "pages": {\n    "order": ["Side1", "Side2"]\n  }\n}',
            "ui/form/layouts/Side1.json": '{"data": {"layout": []}}',
        },
        "ui/form/Settings.json",
        3,
        "pages.order names 'Side2'",
    ),
    Case(
        "layout set listed twice",
        {"ui/layout-sets.json": '{"sets": [\n  {"id": "form"},\n  {"id": "form"}\n]}'},
        "ui/layout-sets.json",
        3,
        "layout set 'form' is listed twice",
    ),
    Case(
        "option without label",
        {"options/farger.json": '[\n  {"value": "r", "label": "Rød"},\n  {"value": "g"}\n]'},
        "options/farger.json",
        3,
        "[1]: label is required",
    ),
    Case(
        "option with unknown property",
        {"options/farger.json": '[\n  {"value": "r",\n   "label": "Rød",\n   "colour": "red"}\n]'},
        "options/farger.json",
        4,
        "unknown property 'colour'",
    ),
    Case(
        "appsettings switch not a boolean",
        {"appsettings.json": '{\n  "AppSettings": {\n    "RequiredValidation": "yes"\n  }\n}'},
        "appsettings.json",
        3,
        "AppSettings:RequiredValidation must be true or false",
    ),
    Case(
        "xsd not XML",
        {
            "models/skjema.xsd": '<?xml version="1.0"?>\n<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">\n<oops>\n'
        },
        "models/skjema.xsd",
        4,
        "not well-formed XML",
    ),
    Case(
        "json schema not JSON",
        {"models/skjema.schema.json": '{\n  "type": "object",\n  "properties": {\n}'},
        "models/skjema.schema.json",
        4,
        "invalid JSON",
    ),
    Case(
        "logic does not compile",
        {"logic/__init__.py": "def register(logic):\n    pass\n\nx = (\n"},
        "logic/__init__.py",
        4,
        "SyntaxError",
    ),
    Case(
        "logic without register",
        {"logic/__init__.py": "VALUE = 1\n"},
        "logic/__init__.py",
        None,
        "defines no register(logic) function",
    ),
    Case(
        "not UTF-8",
        {
            "config/texts/resource.nb.json": b'{\n  "language": "nb",\n'
            b'  "resources": [{"id": "a", "value": "\xe6"}]\n}'
        },
        "config/texts/resource.nb.json",
        3,
        "not UTF-8",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_broken_app_is_reported_with_file_and_line_and_others_load(tmp_path: Path, case: Case) -> None:
    write_app(tmp_path, "ttd", "broken", case.files)
    write_app(tmp_path, "ttd", "healthy")
    registry = load_apps([tmp_path])
    assert [d.id for d in registry] == ["ttd/healthy"]
    (error,) = registry.errors
    assert error.path == tmp_path / "ttd" / "broken" / case.path
    assert case.message in error.message
    assert error.line == case.line
    if case.line is not None:
        assert str(error).startswith(f"{error.path}:{case.line}: ")


@pytest.mark.parametrize(
    ("files", "check"),
    [
        ({META: '{\n  "id": "ttd/broken",\n  "dataTypes": [],\n}'}, "trailing comma in metadata"),
        (
            {
                "config/texts/resource.nb.json": "{\n  // kommentar\n"
                '  "resources": [{"id": "a", "value": "b"},],\n}'
            },
            "texts",
        ),
        (
            {
                "options/a.json": '[{"value": 1.0, "label": "x"}, /* tolerated */'
                ' {"value": true, "label": "y"},]'
            },
            "options",
        ),
        ({META: '{"ID": "ttd/broken", "DataTypes": [{"ID": "x", "MAXCOUNT": 4}]}'}, "case-insensitive names"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_what_altinn_tolerates_loads(
    tmp_path: Path, files: dict[str, str | bytes | None], check: str
) -> None:
    write_app(tmp_path, "ttd", "broken", files)
    registry = load_apps([tmp_path])
    assert registry.errors == (), check
    definition = registry.get("ttd", "broken")
    assert definition is not None
    if check == "case-insensitive names":
        assert definition.metadata.data_types[0].max_count == 4
    if check == "options":
        assert definition.options["a"].body == b'[{"value":1,"label":"x"},{"value":true,"label":"y"}]'
