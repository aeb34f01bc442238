"""Altinn's shared expression test cases, plus direct tests of coercion, errors and the context."""

from __future__ import annotations

import copy
import re
from datetime import timedelta, timezone
from typing import Any

import pytest

from tests.process.expr_conformance import (
    CASES_DIR,
    case_files,
    cases,
    context_for,
    load,
    same_json,
    skip_reason,
)
from tinn.process.expressions import (
    ExpressionError,
    SimpleContext,
    compile_expression,
    evaluate,
    evaluate_boolean,
    is_expression,
    resolve_data_model_path,
    validate,
)
from tinn.process.expressions._values import format_number, to_boolean, to_number, to_string

ALL_FILES = case_files()


def _not_applicable(path: Any) -> str | None:
    return skip_reason(str(path.relative_to(CASES_DIR)), load(path))


# Cases that need a layout component tree (component lookups, context lists, layout validation)
# are out of scope for the process engine: they are counted, not collected as skipped tests.
NOT_APPLICABLE = {path: reason for path in ALL_FILES if (reason := _not_applicable(path)) is not None}
FILES = [path for path in ALL_FILES if path not in NOT_APPLICABLE]


def test_shared_cases_are_present() -> None:
    assert len(ALL_FILES) > 600, f"expected Altinn's shared expression cases under {CASES_DIR}"


def test_only_layout_cases_are_left_out() -> None:
    assert len(FILES) == 618 and len(NOT_APPLICABLE) == 54, (len(FILES), len(NOT_APPLICABLE))
    assert all("component" in reason or "layout" in reason for reason in NOT_APPLICABLE.values())


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CASES_DIR)) for p in FILES])
def test_shared_case(path: Any) -> None:
    document = load(path)
    failures: list[str] = []
    for case in cases(document):
        context = context_for(case)
        args = case.settings.get("positionalArguments")
        if case.expects_failure is not None:
            try:
                result = evaluate(case.expression, context, positional_args=args)
            except ExpressionError as error:
                if case.expects_failure not in str(error):
                    failures.append(f"{case.name}: error {str(error)!r} lacks {case.expects_failure!r}")
            else:
                failures.append(f"{case.name}: expected failure {case.expects_failure!r}, got {result!r}")
            continue
        try:
            validate(case.expression)
            result = evaluate(case.expression, context, positional_args=args)
        except ExpressionError as error:
            failures.append(f"{case.name}: unexpected error {error}")
            continue
        if not same_json(result, case.expects):
            failures.append(f"{case.name}: expected {case.expects!r}, got {result!r}")
    assert not failures, "\n".join(failures)


# --- Coercion ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (123.456, "123.456"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (1e21, "1e+21"),
        (123456789012345680000.0, "123456789012345680000"),
        (2.5e25, "2.5e+25"),
        (-1234.5678, "-1234.5678"),
        (10**30, "1000000000000000000000000000000"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("null", None),
        ("NuLL", None),
        ("TRUE", "true"),
        ("False", "false"),
        ("Yes", "Yes"),
        (True, "true"),
        (2.50, "2.5"),
    ],
)
def test_string_coercion(value: Any, expected: str | None) -> None:
    assert to_string(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1), ("-5.5", -5.5), (".5e2", 50.0), ("+5E+2", 500.0), ("null", None), (None, None), (7, 7)],
)
def test_number_coercion(value: Any, expected: float | None) -> None:
    assert to_number(value) == expected


@pytest.mark.parametrize("value", [True, "55.", "5e", "1,5", " 1", "NaN", "Infinity", [1], {"a": 1}, "１"])
def test_number_coercion_rejects(value: Any) -> None:
    with pytest.raises(ExpressionError, match="Expected number, got value"):
        to_number(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("null", False), ("true", True), ("0.0", False), ("1e0", True), (1.0, True), (0, False)],
)
def test_boolean_coercion(value: Any, expected: bool) -> None:
    assert to_boolean(value) is expected


@pytest.mark.parametrize("value", ["TRUE", "yes", "", 2, -1, 0.5, [True], {}])
def test_boolean_coercion_rejects(value: Any) -> None:
    with pytest.raises(ExpressionError, match="Expected boolean, got value"):
        to_boolean(value)


def test_equality_compares_text_forms() -> None:
    ctx = SimpleContext()
    assert evaluate(["equals", 1.0, "1"], ctx) is True
    assert evaluate(["equals", "NULL", None], ctx) is True
    assert evaluate(["equals", True, 1], ctx) is False
    with pytest.raises(ExpressionError, match=r"Expected string, got value \[1,2\]"):
        evaluate(["equals", ["list", 1, 2], "x"], ctx)


def test_arithmetic_is_decimal_and_returns_ints_when_whole() -> None:
    ctx = SimpleContext()
    assert evaluate(["plus", 0.1, 0.2], ctx) == 0.3
    result = evaluate(["multiply", "2.5", 4], ctx)
    assert result == 10 and isinstance(result, int)
    assert evaluate(["divide", 1, 3], ctx) == pytest.approx(1 / 3, rel=0, abs=1e-16)


def test_round_rounds_half_away_from_zero_and_never_writes_minus_zero() -> None:
    ctx = SimpleContext()
    assert evaluate(["round", 1.005, 2], ctx) == "1.01"
    assert evaluate(["round", -2.5], ctx) == "-3"
    assert evaluate(["round", -0.001, 0], ctx) == "0"
    assert evaluate(["round", 1e30, 1], ctx) == "1000000000000000000000000000000.0"
    with pytest.raises(ExpressionError, match="number of decimals"):
        evaluate(["round", 1, -1], ctx)


def test_strings_are_indexed_in_utf16_code_units() -> None:
    ctx = SimpleContext()
    assert evaluate(["stringLength", "🌍"], ctx) == 2
    assert evaluate(["stringIndexOf", "a🌍b🌍", "🌍"], ctx) == 1
    assert evaluate(["stringSlice", "a🌍b", 3], ctx) == "b"
    assert evaluate(["stringSlice", "a🌍b", -3, -1], ctx) == "🌍"


# --- Structure and error reporting --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["equals", 1, 1], True),
        (["gatewayAction"], True),
        ([], False),
        ([1, 2], False),
        ("equals", False),
        (True, False),
        (None, False),
        ({"expr": ["equals", 1, 1]}, False),
    ],
)
def test_is_expression(value: Any, expected: bool) -> None:
    assert is_expression(value) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (["nope"], 'Function "nope" not implemented'),
        (["equals", 1], 'Invalid number of arguments to "equals". Expected 2 argument(s), got 1'),
        (["and"], "Expected 1+ argument(s), got 0"),
        (["stringSlice", "x"], "Expected 2-3 argument(s), got 1"),
        (["if", True, 1, "otherwise", 2], 'Expected third argument to be "else"'),
        (["compare", 1, "sameAs", 2], 'Invalid operator "sameAs"'),
        (["dataModel", "a", ["concat", "b"]], "The data type must be a string"),
        (["object", "a"], "even number of arguments"),
        (["equals", {"a": 1}, 1], 'Invalid type "object"'),
        ([5], "Function name in expression should be string"),
    ],
)
def test_validate_rejects_malformed_expressions(expression: Any, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        validate(expression)
    assert message in str(caught.value)


def test_validation_covers_branches_that_would_not_run() -> None:
    with pytest.raises(ExpressionError, match='Function "nope" not implemented'):
        evaluate(["if", False, ["nope"]], SimpleContext())


def test_errors_point_at_the_failing_sub_expression() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(["concat", "a", ["and", True, ["not", 3]]], SimpleContext())
    error = caught.value
    assert error.message == "Expected boolean, got value 3"
    assert error.path == "[2][2]"
    assert str(error) == "Expected boolean, got value 3 (at expression[2][2])"

    with pytest.raises(ExpressionError) as caught:
        validate(["and", True, ["equals", 1]])
    assert caught.value.path == "[2]"


def test_constants_evaluate_to_themselves() -> None:
    assert evaluate(True, SimpleContext()) is True
    assert evaluate("text", SimpleContext()) == "text"
    assert evaluate(None, SimpleContext()) is None


def test_compiled_expressions_are_cached_and_reusable() -> None:
    expression = ["greaterThan", ["dataModel", "age"], 17]
    compiled = compile_expression(expression)
    assert compile_expression(copy.deepcopy(expression)) is compiled
    assert compiled.evaluate(SimpleContext(data_models={"m": {"age": 18}})) is True
    assert compiled.evaluate(SimpleContext(data_models={"m": {"age": 17}})) is False
    # A list and a tuple, or 1 and true, are different expressions.
    assert compile_expression(["equals", 1, 1]) is not compile_expression(["equals", True, 1])


def test_evaluate_boolean() -> None:
    ctx = SimpleContext(data_models={"m": {"flag": None, "text": "yes"}})
    assert evaluate_boolean(["dataModel", "flag"], ctx, default=True) is True
    assert evaluate_boolean(False, ctx, default=True) is False
    assert evaluate_boolean(["equals", ["dataModel", "text"], "yes"], ctx, default=False) is True
    with pytest.raises(ExpressionError, match='Expected the expression to give a boolean, got value "yes"'):
        evaluate_boolean(["dataModel", "text"], ctx, default=False)


# --- Context-backed functions -------------------------------------------------------------------


def test_data_model_paths_follow_the_current_rows() -> None:
    data = {"Firma": [{"Ansatte": [{"Navn": "a"}, {"Navn": "b"}]}, {"Ansatte": [{"Navn": "c"}]}]}
    assert resolve_data_model_path(data, "Firma.Ansatte.Navn", [1, 0]) == "c"
    assert resolve_data_model_path(data, "Firma[0].Ansatte[1].Navn") == "b"
    assert resolve_data_model_path(data, "Firma.Ansatte[0].Navn", [1]) == "c"
    # An explicit index stops the row indexes from applying further down.
    assert resolve_data_model_path(data, "Firma[0].Ansatte.Navn", [0, 1]) is None
    # A list in the middle of a path without a known row cannot be read.
    assert resolve_data_model_path(data, "Firma.Ansatte") is None
    assert resolve_data_model_path(data, "Firma[5].Ansatte") is None
    assert resolve_data_model_path(data, "") is None
    with pytest.raises(ExpressionError, match=re.escape('Invalid data model path "Firma..Navn"')):
        resolve_data_model_path(data, "Firma..Navn")


def test_data_model_with_data_types() -> None:
    ctx = SimpleContext(data_models={"main": {"a": 1}, "extra": {"a": 2}}, default_data_type="main")
    assert evaluate(["dataModel", "a"], ctx) == 1
    assert evaluate(["dataModel", "a", "extra"], ctx) == 2
    with pytest.raises(ExpressionError, match="Data model with type other not found"):
        evaluate(["dataModel", "a", "other"], ctx)
    ambiguous = SimpleContext(data_models={"main": {}, "extra": {}})
    with pytest.raises(ExpressionError, match="No default data model"):
        evaluate(["dataModel", "a"], ambiguous)


def test_backend_context_functions() -> None:
    instance = {
        "id": "501337/6f1f4e2c-8b9b-4e37-9d1b-1d3c2f0b7c11",
        "appId": "ttd/basic",
        "instanceOwner": {"partyId": "501337", "personNumber": "01039012345"},
        "data": [{"dataType": "model"}, {"dataType": "attachment"}, {"dataType": "attachment"}],
    }
    ctx = SimpleContext(
        instance=instance,
        gateway_action="reject",
        auth_actions={"sign": True},
        task_id="Task_1",
        frontend_settings={"flag": True},
    )
    assert evaluate(["gatewayAction"], ctx) == "reject"
    assert evaluate(["gatewayAction"], SimpleContext()) is None
    assert evaluate(["authContext", "sign"], ctx) is True
    assert evaluate(["authContext", "write"], ctx) is False
    with pytest.raises(ExpressionError, match='Unknown auth context property "delete"'):
        evaluate(["authContext", "delete"], ctx)
    assert evaluate(["countDataElements", "attachment"], ctx) == 2
    assert evaluate(["instanceContext", "instanceOwnerPartyType"], ctx) == "person"
    assert evaluate(["language"], ctx) == "nb"
    assert evaluate(["frontendSettings", "flag"], ctx) is True
    assert (
        evaluate(["linkToPage", "Go", "Page2"], ctx)
        == f'<a href="/instance/{instance["id"]}/Task_1/Page2" data-link-type="LinkToPotentialPage">Go</a>'
    )
    assert evaluate(["linkToPage", "Go", "Page2"], SimpleContext()) == (
        '<a href="/Page2" data-link-type="LinkToPotentialPage">Go</a>'
    )


def test_text_resolves_variables_in_rows() -> None:
    ctx = SimpleContext(
        data_models={"model": {"people": [{"name": "Kari"}, {"name": "Ola"}]}},
        row_indices=[1],
        text_resources={
            "greeting": {
                "id": "greeting",
                "value": "Hei {0} ({1})",
                "variables": [
                    {"key": "people.name", "dataSource": "dataModel.default"},
                    {"key": "missing", "dataSource": "dataModel.nope", "defaultValue": "?"},
                ],
            }
        },
    )
    assert evaluate(["text", "greeting"], ctx) == "Hei Ola (?)"


def test_option_label_and_value() -> None:
    ctx = SimpleContext(
        code_lists={"colours": [{"value": "r", "label": "colour.red"}, {"value": 2, "label": "Two"}]},
        text_resources={"colour.red": {"id": "colour.red", "value": "Rød"}},
        value_arguments={"value": "r", "label": "colour.red"},
    )
    assert evaluate(["optionLabel", "colours", "r"], ctx) == "Rød"
    assert evaluate(["optionLabel", "colours", "2"], ctx) == "Two"
    assert evaluate(["optionLabel", "colours", "x"], ctx) is None
    with pytest.raises(ExpressionError, match='Unknown options "sizes"'):
        evaluate(["optionLabel", "sizes", "x"], ctx)
    assert evaluate(["value"], ctx) == "r"
    assert evaluate(["value", "label"], ctx) == "colour.red"
    with pytest.raises(ExpressionError, match="No value arguments available"):
        evaluate(["value"], SimpleContext())


@pytest.mark.parametrize(
    "expression",
    [["component", "name"], ["displayValue", "name"], ["linkToComponent", "Go", "name"]],
)
def test_component_functions_need_a_component_tree(expression: list[Any]) -> None:
    with pytest.raises(ExpressionError, match="requires a layout component tree"):
        evaluate(expression, SimpleContext())


class _Tree:
    def component_value(self, component_id: str) -> Any:
        return {"name": "Kari", "hidden": None}[component_id]

    def display_value(self, component_id: str) -> str | None:
        return f"<{component_id}>"

    def component_location(self, component_id: str) -> tuple[str, str]:
        return "Page1", f"{component_id}-0"


def test_component_functions_use_the_component_tree() -> None:
    ctx = SimpleContext(components=_Tree())
    assert evaluate(["component", "name"], ctx) == "Kari"
    assert evaluate(["component", "hidden"], ctx) is None
    assert evaluate(["displayValue", "name"], ctx) == "<name>"
    assert evaluate(["linkToComponent", "Go", "name"], ctx) == (
        '<a href="/Page1?focusComponentId=name-0" data-link-type="LinkToPotentialNode">Go</a>'
    )
    with pytest.raises(ExpressionError, match="Cannot lookup component null"):
        evaluate(["component", None], ctx)


def test_format_date_time_zones() -> None:
    oslo_winter = timezone(timedelta(hours=1))
    expression = ["formatDate", "2024-01-31T23:30:00Z", "yyyy-MM-dd HH:mm"]
    assert evaluate(expression, SimpleContext()) == "2024-01-31 23:30"
    assert evaluate(expression, SimpleContext(timezone=oslo_winter)) == "2024-02-01 00:30"
    assert evaluate(expression, SimpleContext(timezone=None)) == "2024-01-31 23:30"
    # Timestamps without a zone are shown as written.
    naive = ["formatDate", "2024-01-31T23:30", "HH:mm"]
    assert evaluate(naive, SimpleContext(timezone=oslo_winter)) == "23:30"


def test_format_date_patterns() -> None:
    ctx = SimpleContext(language="nn")
    assert evaluate(["formatDate", "2024-02-05", "EEEE d. MMMM 'kl.' HH 'o''clock'"], ctx) == (
        "måndag 5. februar kl. 00 o'clock"
    )
    assert evaluate(["formatDate", "2024-02-05T12:15", "h:mm a"], SimpleContext(language="en")) == "12:15 PM"
    assert evaluate(["formatDate", "2024-02-05T00:15", "h:mm a"], SimpleContext(language="en")) == "12:15 AM"


def test_compare_dates_across_zones() -> None:
    ctx = SimpleContext()
    assert evaluate(["compare", "2024-01-01T10:00+02:00", "isBefore", "2024-01-01T09:00Z"], ctx) is True
    assert evaluate(["compare", "2024-01-01", "not", "isAfter", "2024-01-01T00:00:01"], ctx) is True
    with pytest.raises(ExpressionError, match="without timezone info"):
        evaluate(["compare", "2024-01-01", "isBefore", "2024-01-01T00:00Z"], ctx)


# --- JMESPath -----------------------------------------------------------------------------------

_PEOPLE = {
    "people": [
        {"name": "Ola", "age": 30, "tags": ["a", "b"]},
        {"name": "Kari", "age": 18, "tags": ["c"]},
        {"name": "Knut", "age": 16, "tags": []},
    ],
    "meta": {"count": 3, "source": "register"},
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("people[0].name", "Ola"),
        ("people[-1].name", "Knut"),
        ("people[*].name", ["Ola", "Kari", "Knut"]),
        ("people[1:].age", [18, 16]),
        ("people[::-1].name | [0]", "Knut"),
        ("people[?age > `17`].name", ["Ola", "Kari"]),
        ("people[?contains(tags, 'c')].name", ["Kari"]),
        ("people[].tags[]", ["a", "b", "c"]),
        ("meta.*", [3, "register"]),
        ("{n: meta.count, s: meta.source}", {"n": 3, "s": "register"}),
        ("[meta.count, missing]", [3, None]),
        ("sort_by(people, &age)[0].name", "Knut"),
        ("max_by(people, &age).name", "Ola"),
        ("sum(people[*].age)", 64),
        ("avg(people[*].age)", pytest.approx(64 / 3)),
        ("length(people)", 3),
        ("join(', ', people[*].name)", "Ola, Kari, Knut"),
        ("to_string(meta.count)", "3"),
        ("to_number('4.5')", 4.5),
        ("type(people)", "array"),
        ("missing || meta.source", "register"),
        ("!missing && `true`", True),
        ('"meta"."count"', 3),
        ("map(&name, people)", ["Ola", "Kari", "Knut"]),
        ('merge(meta, `{"count": 4}`).count', 4),
        ("not_null(missing, meta.count)", 3),
        ("people[?name == 'Kari'] | [0].age", 18),
        ("`[1, 2]` == `[1, 2]`", True),
        ("`1` == `true`", False),
    ],
)
def test_jmespath(query: str, expected: Any) -> None:
    assert evaluate(["jmespath", ["argv", 0], query], SimpleContext(), positional_args=[_PEOPLE]) == expected


@pytest.mark.parametrize("query", ["people[", "people.", "a = b", "unknown_fn(@)", "abs('x')", "length()"])
def test_jmespath_query_errors_become_expression_errors(query: str) -> None:
    with pytest.raises(ExpressionError, match="Jmespath error"):
        evaluate(["jmespath", ["argv", 0], query], SimpleContext(), positional_args=[_PEOPLE])


def test_jmespath_function_reports_query_errors() -> None:
    with pytest.raises(ExpressionError, match="Jmespath error"):
        evaluate(["jmespath", ["object"], "a.["], SimpleContext())
