"""The Required validator: layout components with ``required`` whose bindings are empty."""

from __future__ import annotations

from typing import Any

import pytest

from tests.validation.factory import InstanceBuilder, shared_app, with_settings, write_form_app
from tinn.appdef.definition import AppDefinition
from tinn.validation.layout import add_row_indices
from tinn.validation.service import validate_task

OTHERS = [
    "Expression",
    "DataAnnotations",
    "Altinn.App.Core.Features.Validation.Default.DefaultTaskValidator-*",
    "Altinn.App.Core.Features.Validation.Default.DefaultDataElementValidator-*",
]
COMPLETE: dict[str, Any] = {
    "navn": "Kari",
    "alder": 40,
    "skjult": "x",
    "personer": [{"navn": "a", "harBil": True, "bilmerke": "Volvo"}],
    "sporsmal": [{"id": "1", "svar": "ja"}, {"id": "2", "svar": "nei"}],
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> AppDefinition:
    return write_form_app(tmp_path_factory.mktemp("required"))


async def _required(definition: AppDefinition, data: dict[str, Any], **context: Any) -> list[Any]:
    builder = InstanceBuilder(definition)
    builder.form("skjema", data)
    return await validate_task(await builder.context(**context), ignored_sources=OTHERS)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({}, []),
        ({"navn": None}, ["navn"]),
        ({"navn": "   "}, ["navn"]),  # whitespace only is empty
        ({"alder": None}, ["alder"]),
        ({"alder": 0}, []),  # zero is a value
        ({"alder": None, "flagg": True}, []),  # component hidden by expression
        ({"skjult": None}, ["skjult"]),
        ({"skjult": None, "flagg": True}, []),  # page hidden by expression
        ({"adresse": {"gate": None}}, []),  # inside a group hidden by a literal
        ({"navn": "Ola"}, ["ekstra"]),  # required expression reading another component
        ({"navn": "Ola", "ekstra": "x"}, []),
        # repeating group: one context per row, rows in reverse order; hiddenRow and per-row hidden
        (
            {"personer": [{"navn": None, "harBil": True}, {"navn": None}, {"navn": "skjul"}]},
            ["personer[1].navn", "personer[0].navn", "personer[0].bilmerke"],
        ),
        ({"personer": []}, []),
        ({"personer": None}, []),
        # likert: one question row per item, filtered to rows 0..1
        ({"sporsmal": [{"id": "1"}, {"id": "2", "svar": "ja"}, {"id": "3"}]}, ["sporsmal[0].svar"]),
    ],
)
async def test_required_fields(app: AppDefinition, changes: dict[str, Any], fields: list[str]) -> None:
    issues = await _required(app, COMPLETE | changes)
    assert [issue.field for issue in issues] == fields
    for issue in issues:
        assert (issue.severity, issue.code, issue.source) == (1, "required", "Required")
        assert issue.custom_text_key == "backend.validation_errors.required"
        assert not issue.no_incremental_updates


async def test_subform_elements_are_required_through_their_own_layout(app: AppDefinition) -> None:
    builder = InstanceBuilder(app)
    builder.form("skjema", COMPLETE)
    first = builder.form("under", {"tittel": "ok"})
    second = builder.form("under", {})
    issues = await validate_task(await builder.context(), ignored_sources=OTHERS)
    assert [(issue.data_element_id, issue.field) for issue in issues] == [(second, "tittel")]
    assert first != second
    assert issues[0].custom_text_parameters is not None
    assert issues[0].custom_text_parameters["layoutId"] == "under"


@pytest.mark.parametrize(
    ("language", "description", "page_name"),
    [
        (None, "Feltet er påkrevd", "Første side"),
        ("nb", "Feltet er påkrevd", "Første side"),
        ("nn", "Feltet er påkravd", "Første side"),  # no nn texts: the app falls back to nb
        ("en", "Field is required", "side1"),  # the en file has no such key: no fallback to nb
    ],
)
async def test_text_parameters_and_description(
    app: AppDefinition, language: str | None, description: str, page_name: str
) -> None:
    (issue,) = await _required(app, COMPLETE | {"navn": None}, language=language)
    assert issue.description == description
    assert issue.custom_text_parameters == {
        "field": "navn",
        "layoutId": "form",
        "pageId": "side1",
        "componentId": "navn",
        "bindingName": "simpleBinding",
        "pageName": page_name,
        "componentTitle": "Navn" if language != "en" else "navn.title",
    }


async def test_app_text_with_custom_text_parameters() -> None:
    """contributer-restriction overrides the required text with indexed customTextParameters."""
    definition = shared_app("tdd", "contributer-restriction")
    builder = InstanceBuilder(definition)
    element_id = builder.form("default", {"melding": {"hidden": None}})
    issues = await validate_task(await builder.context(), ignored_sources=OTHERS)
    # "hidden" (hidden component) and "hiddenPage" (hidden page) are not required anyway
    assert [issue.to_json() for issue in issues] == [
        {
            "severity": 1,
            "dataElementId": element_id,
            "field": "melding.name",
            "code": "required",
            "description": "melding.name is required in component with id Task_1.page.name for binding simpleBinding",
            "source": "Required",
            "customTextKey": "backend.validation_errors.required",
            "customTextParameters": {
                "field": "melding.name",
                "layoutId": "Task_1",
                "pageId": "page",
                "componentId": "name",
                "bindingName": "simpleBinding",
                "pageName": "page",
            },
        }
    ]


async def test_bindings_to_several_data_models() -> None:
    definition = shared_app("ttd", "multiple-datamodels-test")
    builder = InstanceBuilder(definition)
    first = builder.form("modell1", {"tekstfelt": "a"})
    second = builder.form("modell2", {"selectedperson": {"name": "n", "age": "1"}})
    issues = await validate_task(await builder.context(), ignored_sources=OTHERS)
    assert [(issue.data_element_id, issue.field) for issue in issues] == [
        (second, "tekstfelt"),
        (second, "selectedperson.profession"),
    ]
    assert first != second


async def test_off_unless_required_validation_is_set(app: AppDefinition) -> None:
    assert await _required(with_settings(app, required_validation=False), {}) == []
    assert len(await _required(app, {})) > 0


async def test_a_task_without_form_data_or_layout_has_no_required_issues(app: AppDefinition) -> None:
    builder = InstanceBuilder(app)
    builder.binary("vedlegg")
    assert await validate_task(await builder.context(), ignored_sources=OTHERS) == []
    builder = InstanceBuilder(app, "Task_2")
    builder.binary("senere")
    assert await validate_task(await builder.context(), ignored_sources=OTHERS) == []


async def test_broken_expressions_count_as_not_hidden_and_not_required(tmp_path: Any) -> None:
    pages = {
        "side1": [
            {
                "id": "a",
                "type": "Input",
                "dataModelBindings": {"simpleBinding": "navn"},
                "required": True,
                "hidden": [
                    "equals",
                    ["dataModel", "dato"],
                    ["compare", ["dataModel", "dato"], "isAfter", "2020-01-01"],
                ],
            },
            {
                "id": "b",
                "type": "Input",
                "dataModelBindings": {"simpleBinding": "ekstra"},
                "required": ["nope"],
            },
            {
                "id": "c",
                "type": "Input",
                "dataModelBindings": {"simpleBinding": "kode"},
                "required": ["dataModel", "alder"],  # a number, not a boolean
            },
        ]
    }
    definition = write_form_app(tmp_path, pages=pages)
    issues = await _required(definition, {"dato": "not a date", "navn": None, "alder": 5})
    assert [issue.field for issue in issues] == ["navn"]


async def test_hidden_cycles_read_as_visible(tmp_path: Any) -> None:
    pages = {
        "side1": [
            {
                "id": "a",
                "type": "Input",
                "dataModelBindings": {"simpleBinding": "navn"},
                "required": True,
                "hidden": ["equals", ["component", "b"], "skjul"],
            },
            {
                "id": "b",
                "type": "Input",
                "dataModelBindings": {"simpleBinding": "ekstra"},
                "required": True,
                "hidden": ["equals", ["component", "a"], "skjul"],
            },
        ]
    }
    definition = write_form_app(tmp_path, pages=pages)
    assert [i.field for i in await _required(definition, {"navn": "skjul", "ekstra": None})] == []
    assert [i.field for i in await _required(definition, {"navn": None, "ekstra": None})] == [
        "navn",
        "ekstra",
    ]


@pytest.mark.parametrize(
    ("path", "rows", "expected"),
    [
        ("navn", None, "navn"),
        ("navn", [3], "navn"),
        ("personer.navn", [2], "personer[2].navn"),
        ("personer[1].navn", [2], "personer[1].navn"),
        ("personer", [0], "personer[0]"),
        ("ukjent.felt", [1], "ukjent.felt"),
    ],
)
def test_row_indexes_go_where_the_model_has_lists(
    app: AppDefinition, path: str, rows: list[int] | None, expected: str
) -> None:
    assert add_row_indices(app.form_model("skjema"), path, rows) == expected


ROW_LOOKUP_PAGES = {
    "side1": [
        {
            "id": "gruppe",
            "type": "RepeatingGroup",
            "dataModelBindings": {"group": "personer"},
            "children": ["har-bil", "bilmerke"],
        },
        {"id": "har-bil", "type": "Checkboxes", "dataModelBindings": {"simpleBinding": "personer.harBil"}},
        {
            "id": "bilmerke",
            "type": "Input",
            "dataModelBindings": {"simpleBinding": "personer.bilmerke"},
            "required": ["equals", ["component", "har-bil"], True],
        },
        {
            "id": "utenfor",
            "type": "Input",
            "dataModelBindings": {"simpleBinding": "ekstra"},
            # a component in a repeating group cannot be reached from outside it: null
            "required": ["equals", ["component", "har-bil"], None],
        },
        {
            "id": "skjult-felt",
            "type": "Input",
            "dataModelBindings": {"simpleBinding": "skjult"},
            "hidden": True,
        },
        {
            "id": "leser-skjult",
            "type": "Input",
            "dataModelBindings": {"simpleBinding": "kode"},
            # a hidden component reads as null
            "required": ["equals", ["component", "skjult-felt"], None],
        },
        {"id": "selv", "type": "Subform", "layoutSet": "form"},  # a set inside itself: skipped
    ]
}


async def test_component_lookups(tmp_path: Any) -> None:
    definition = write_form_app(tmp_path, pages=ROW_LOOKUP_PAGES)
    data = {
        "skjult": "x",
        "personer": [{"harBil": True}, {"harBil": False}, {"harBil": True, "bilmerke": "Saab"}],
    }
    issues = await _required(definition, data)
    assert [issue.field for issue in issues] == ["personer[0].bilmerke", "ekstra", "kode"]
