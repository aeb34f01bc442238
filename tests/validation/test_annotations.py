"""DataAnnotations: the attribute rules of the generated C# model, from the app's model files."""

from __future__ import annotations

from typing import Any

import pytest

from tests.validation.factory import InstanceBuilder, shared_app, write_form_app
from tinn.appdef.definition import AppDefinition
from tinn.data.formdata import model_from_json_schema
from tinn.validation.annotations import (
    MAX_ERRORS,
    _regex_rule,
    compile_pattern,
    data_annotation_issues,
    dotnet_double,
)
from tinn.validation.models import Severity


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> AppDefinition:
    return write_form_app(tmp_path_factory.mktemp("annotations"))


VALID = {"navn": "Kari", "alder": 40, "antall": 2}
REGEX = "The field {0} must match the regular expression '{1}'."


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (VALID, []),
        # [Required] only on value types: the required string "navn" may be missing
        ({"alder": 1, "antall": 1}, []),
        (
            {"navn": "Kari"},
            [("alder", "The alder field is required."), ("antall", "The antall field is required.")],
        ),
        (
            VALID | {"navn": "K"},
            [("navn", "The field navn must be a string or array type with a minimum length of '2'.")],
        ),
        (
            VALID | {"navn": "Kristine"},
            [("navn", "The field navn must be a string or array type with a maximum length of '5'.")],
        ),
        (
            VALID | {"navn": "😀😀😀"},
            [("navn", "The field navn must be a string or array type with a maximum length of '5'.")],
        ),
        (VALID | {"alder": 121}, [("alder", "The field alder must be between 0 and 120.")]),
        (VALID | {"alder": -1}, [("alder", "The field alder must be between 0 and 120.")]),
        (VALID | {"alder": 120}, []),
        (
            VALID | {"prosent": 0.75},
            [("prosent", "The field prosent must be between -1.7976931348623157E+308 and 0.5.")],
        ),
        (VALID | {"prosent": 0.5}, []),
        (VALID | {"kode": "AB1"}, []),
        (VALID | {"kode": ""}, []),
        (VALID | {"kode": "ab1"}, [("kode", REGEX.format("kode", "^[A-Z]{2}[0-9]$"))]),
        (VALID | {"bokstaver": "Æøå"}, []),
        (VALID | {"bokstaver": "Æø1"}, [("bokstaver", REGEX.format("bokstaver", "^\\p{L}+$"))]),
        (VALID | {"siffer": 12.5}, []),
        (VALID | {"siffer": 1234}, [("siffer", REGEX.format("siffer", "^(([0-9]){1}(\\.)?){0,3}$"))]),
        (VALID | {"dato": "2024-02-29"}, []),
        (
            VALID | {"dato": "2024-13-01"},
            [("dato", REGEX.format("dato", "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])$"))],
        ),
        (
            VALID | {"adresse": {"gate": "Vei 1", "postnr": "12345"}},
            [("adresse.postnr", REGEX.format("postnr", "^[0-9]{4}$"))],
        ),
        (
            VALID | {"personer": [{"alder": 18}, {"navn": "x"}, {"alder": 3}]},
            [
                ("personer[1].alder", "The alder field is required."),
                ("personer[2].alder", "The field alder must be between 18 and 1.7976931348623157E+308."),
            ],
        ),
    ],
)
async def test_rules(app: AppDefinition, data: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    builder = InstanceBuilder(app)
    element_id = builder.form("skjema", data)
    ctx = await builder.context()
    stored = await ctx.accessor.get(ctx.instance.data[0])
    model = app.form_model("skjema")
    assert model is not None
    issues = data_annotation_issues(model, stored, element_id)
    assert [(issue.field, issue.code) for issue in issues] == expected
    for issue in issues:
        assert issue.description == issue.code
        assert issue.severity is Severity.Error
        assert issue.data_element_id == element_id


async def test_simple_content_and_xsd_models() -> None:
    """A Seres-style model from an XSD: the text content is ``value``, attributes never required."""
    definition = shared_app("tdd", "contributer-restriction")
    model = definition.form_model("default")
    assert model is not None
    data: dict[str, Any] = {"melding": {"name": "x", "tag-with-attribute": {"orid": None, "value": "y" * 61}}}
    issues = data_annotation_issues(model, data, "e1")
    assert [(i.field, i.code) for i in issues] == [
        (
            "melding.tag-with-attribute.value",
            "The field value must be a string or array type with a maximum length of '60'.",
        )
    ]


def test_issue_count_is_capped(app: AppDefinition) -> None:
    model = app.form_model("skjema")
    assert model is not None
    data: dict[str, Any] = {
        "navn": "Kari",
        "alder": 1,
        "antall": 1,
        "personer": [{"alder": 1}] * (MAX_ERRORS + 50),
    }
    assert len(data_annotation_issues(model, data, "e")) == MAX_ERRORS


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["a", "b"], []),
        (["a", "b", "c"], ["The field koder must be a string or array type with a maximum length of '2'."]),
        (["abc"], []),  # the attribute sits on the list: it counts items, not characters
    ],
)
def test_length_on_a_list_of_values_counts_items(items: list[str], expected: list[str]) -> None:
    schema = {
        "@xsdRootElement": "Liste",
        "type": "object",
        "properties": {"koder": {"type": "array", "items": {"type": "string", "maxLength": 2}}},
    }
    model = model_from_json_schema(schema, "liste")
    assert [i.code for i in data_annotation_issues(model, {"koder": items}, "e")] == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (1.0, "1"),
        (-3.0, "-3"),
        (0.5, "0.5"),
        (12.25, "12.25"),
        (0.0001, "0.0001"),
        (0.00001, "1E-05"),
        (1.5e-7, "1.5E-07"),
        (123456789012345.0, "123456789012345"),
        (1e15, "1E+15"),
        (1.7976931348623157e308, "1.7976931348623157E+308"),
        (-1.7976931348623157e308, "-1.7976931348623157E+308"),
    ],
)
def test_doubles_are_written_as_dotnet_writes_them(value: float, text: str) -> None:
    assert dotnet_double(value) == text


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^[0-9]{4}$", "1234", True),
        ("^[0-9]{4}$", "12345", False),
        ("^((?!client).)*$", "my@mail.no", True),
        ("^((?!client).)*$", "client@mail.no", False),
        ("\\p{L}+", "Åse", True),
        ("\\p{L}+", "Åse2", False),
        ("[a-z-[aeiou]]+", "bcd", True),
        ("[a-z-[aeiou]]+", "bad", False),
        ("(?<year>[0-9]{4})", "2024", True),
    ],
)
def test_patterns_read_the_dotnet_way(pattern: str, text: str, matches: bool) -> None:
    compiled = compile_pattern(pattern)
    assert compiled is not None
    found = compiled.search(text)
    assert (found is not None and found.start() == 0 and found.end() == len(text)) is matches


def test_patterns_that_cannot_be_read() -> None:
    assert compile_pattern("[") is None
    assert compile_pattern("\\p{NoSuchBlock}") is None


def test_first_match_must_span_the_text() -> None:
    """``a|ab`` does not accept "ab": .NET takes the first match ("a") and checks its length."""
    rule = _regex_rule("x", "a|ab", "test")
    assert rule is not None
    assert rule.passes("a") and not rule.passes("ab") and rule.passes("") and rule.passes(None)
