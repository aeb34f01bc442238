"""Expression validation from ``models/{dataType}.validation.json``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.validation.factory import InstanceBuilder, shared_app, with_settings, write_form_app
from tinn.appdef.definition import AppDefinition
from tinn.validation.expression import compile_expression_config, resolve_fields
from tinn.validation.models import Severity
from tinn.validation.service import validate_task

ONLY_EXPRESSION = [
    "Required",
    "DataAnnotations",
    "Altinn.App.Core.Features.Validation.Default.DefaultTaskValidator-*",
    "Altinn.App.Core.Features.Validation.Default.DefaultDataElementValidator-*",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> AppDefinition:
    return write_form_app(tmp_path_factory.mktemp("expression"))


def _summary(issues: list[Any]) -> list[tuple[str | None, str | None, int]]:
    return [(issue.field, issue.code, int(issue.severity)) for issue in issues]


@pytest.mark.parametrize(
    ("modell1", "modell2", "expected"),
    [
        ({"tekstfelt": "ok"}, {"tekstfelt": "ok"}, []),
        ({"tekstfelt": "feil"}, {}, [("modell1", "tekstfelt", "Feil er feil", 1)]),
        ({}, {"tekstfelt": "feil"}, [("modell2", "tekstfelt", "Feil er advarsel", 2)]),
        (
            {"bransje": "491, 445,100"},
            {},
            [("modell1", "bransje", "Du kan ikke velge både IKT og Verkstedindustri", 1)],
        ),
        ({"bransje": "491"}, {}, []),
        (
            {},
            {"personer": [{"etternavn": "Ok"}, {"etternavn": "Nei!"}, {"etternavn": "Hei!"}]},
            [
                ("modell2", "personer[1].etternavn", "Etternavn kan ikke inneholde utropstegn!!!", 1),
                ("modell2", "personer[2].etternavn", "Etternavn kan ikke inneholde utropstegn!!!", 1),
            ],
        ),
    ],
)
async def test_multiple_datamodels_rules(
    modell1: dict[str, Any], modell2: dict[str, Any], expected: list[tuple[str, str, str, int]]
) -> None:
    definition = shared_app("ttd", "multiple-datamodels-test")
    builder = InstanceBuilder(definition)
    ids = {"modell1": builder.form("modell1", modell1), "modell2": builder.form("modell2", modell2)}
    issues = await validate_task(await builder.context(), ignored_sources=ONLY_EXPRESSION)
    assert [(i.data_element_id, i.field, i.code, int(i.severity)) for i in issues] == [
        (ids[model], field_path, code, severity) for model, field_path, code, severity in expected
    ]
    for issue in issues:
        assert issue.source == "Expression" and not issue.no_incremental_updates
        assert issue.custom_text_key == issue.code
        assert issue.description is None  # the message is no text key of the app


@pytest.mark.parametrize(("name", "issues"), [("Model", 1), ("Other", 0), (None, 0)])
async def test_contributer_restriction_rule(name: str | None, issues: int) -> None:
    definition = shared_app("tdd", "contributer-restriction")
    builder = InstanceBuilder(definition)
    element_id = builder.form("default", {"melding": {"name": name}})
    found = await validate_task(await builder.context(), ignored_sources=ONLY_EXPRESSION)
    assert [i.to_json() for i in found] == [
        {
            "severity": 1,
            "dataElementId": element_id,
            "field": "melding.name",
            "code": "The file must be of type Model",
            "description": None,
            "source": "Expression",
            "customTextKey": "The file must be of type Model",
        }
    ] * issues


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, []),
        ({"navn": "Ola"}, [("navn", "ikke.ola", 1)]),  # a definition by name
        ({"navn": "Kristine"}, [("navn", "navn.langt", 2)]),  # inline, severity warning
        (
            {"ekstra": "Ola"},
            [("ekstra", "avledet", 3)],
        ),  # ref to a definition that refs another, severity info
        ({"ekstra": "x"}, [("ekstra", "ekstra.x", 5)]),  # computed message, severity success
        (
            {"personer": [{"navn": "x"}, {"navn": "y"}, {"navn": "x"}]},
            [("personer[0].navn", "person.x", 1), ("personer[2].navn", "person.x", 1)],
        ),
        ({"skjult": "feil"}, [("skjult", "skjult.feil", 1)]),
        ({"skjult": "feil", "flagg": True}, []),  # only on a hidden page
        ({"adresse": {"gate": "feil"}}, []),  # only in a group hidden by a literal
    ],
)
async def test_rules_of_the_form_app(
    app: AppDefinition, data: dict[str, Any], expected: list[tuple[str, str, int]]
) -> None:
    builder = InstanceBuilder(app)
    builder.form("skjema", data)
    assert _summary(await validate_task(await builder.context(), ignored_sources=ONLY_EXPRESSION)) == expected


@pytest.mark.parametrize(
    ("language", "description"),
    [(None, "Navnet kan ikke være Ola"), ("en", "Name cannot be Ola"), ("se", "Navnet kan ikke være Ola")],
)
async def test_messages_that_are_text_keys_are_translated(
    app: AppDefinition, language: str | None, description: str
) -> None:
    builder = InstanceBuilder(app)
    builder.form("skjema", {"navn": "Ola"})
    (issue,) = await validate_task(await builder.context(language=language), ignored_sources=ONLY_EXPRESSION)
    assert (issue.code, issue.custom_text_key, issue.description) == ("ikke.ola", "ikke.ola", description)


async def test_off_unless_expression_validation_is_set(app: AppDefinition) -> None:
    builder = InstanceBuilder(with_settings(app, expression_validation=False))
    builder.form("skjema", {"navn": "Ola"})
    assert await validate_task(await builder.context(), ignored_sources=ONLY_EXPRESSION) == []


async def test_elements_the_caller_cannot_read_are_skipped(app: AppDefinition) -> None:
    builder = InstanceBuilder(app)
    builder.form("skjema", {"navn": "Ola"})
    ctx = await builder.context(can_read=lambda data_type: data_type.id != "skjema")
    assert await validate_task(ctx, ignored_sources=ONLY_EXPRESSION) == []


def test_rules_that_cannot_be_resolved_are_left_out() -> None:
    config = compile_expression_config(
        "ttd/x",
        "t",
        {
            "definitions": {
                "ok": {"message": "m", "condition": True},
                "no-condition": {"message": "m"},
                "bad-ref": {"ref": "missing"},
                "later": {"ref": "ok", "severity": "warning"},
                "text": "not an object",
            },
            "validations": {
                "a": [
                    "ok",
                    "no-condition",
                    "bad-ref",
                    "text",
                    "later",
                    7,
                    {"ref": "ok", "message": "override"},
                ],
                "b": [
                    {"message": "m", "condition": ["nope"]},
                    {"message": "m", "condition": True, "severity": "fatal"},
                ],
                "c": "not a list",
            },
        },
    )
    assert [(field, [(r.message.source, r.severity) for r in rules]) for field, rules in config.rules] == [
        ("a", [("m", Severity.Error), ("m", Severity.Warning), ("override", Severity.Error)])
    ]
    assert compile_expression_config("ttd/x", "t", ["not", "an", "object"]).rules == ()


@pytest.mark.parametrize(
    ("field_path", "data", "expected"),
    [
        ("navn", {}, ["navn"]),  # null values resolve too
        ("adresse.gate", {"adresse": None}, ["adresse.gate"]),
        ("personer.navn", {"personer": [{}, None, {}]}, ["personer[0].navn", "personer[2].navn"]),
        ("personer.navn", {"personer": None}, []),
        ("personer[1].navn", {"personer": [{}, {}]}, ["personer[1].navn"]),
        ("personer[5].navn", {"personer": [{}, {}]}, []),
        ("personer", {"personer": [{}, {}]}, ["personer"]),
        ("personer[]", {"personer": [{}, {}]}, ["personer[0]", "personer[1]"]),
        ("ukjent", {}, []),
        ("navn.mer", {}, []),
        ("navn[0]", {}, []),
    ],
)
def test_fields_resolve_over_rows(
    app: AppDefinition, field_path: str, data: dict[str, Any], expected: list[str]
) -> None:
    model = app.form_model("skjema")
    assert model is not None
    assert resolve_fields(model, data, field_path) == expected


async def test_a_rule_failing_at_run_time_is_skipped(tmp_path: Any) -> None:
    validation = {
        "validations": {
            "dato": [
                {
                    "message": "dato.etter",
                    "condition": ["compare", ["dataModel", ["argv", 0]], "isAfter", "2020-01-01"],
                },
                {"message": "dato.tall", "condition": ["dataModel", "alder"]},
            ],
            "navn": [{"message": "navn.alltid", "condition": True}],
        }
    }
    definition = write_form_app(tmp_path, validation=validation)
    builder = InstanceBuilder(definition)
    builder.form("skjema", {"dato": "ikke en dato", "alder": 3})
    issues = await validate_task(await builder.context(), ignored_sources=ONLY_EXPRESSION)
    assert _summary(issues) == [("navn", "navn.alltid", 1)]
