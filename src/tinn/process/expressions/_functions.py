"""The expression functions: arity, static argument checks and implementations.

Every argument is evaluated before the function runs (there is no short-circuiting: ``and`` and
``or`` reject a bad value even after the result is known, as Altinn does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation
from typing import Any
from urllib.parse import quote

import jmespath
from jmespath.exceptions import JMESPathError

from tinn.process.expressions._context import (
    AUTH_CONTEXT_KEYS,
    INSTANCE_CONTEXT_KEYS,
    ExpressionContext,
    resolve_data_model_path,
)
from tinn.process.expressions._dates import format_date, parse_date
from tinn.process.expressions._values import (
    ExpressionError,
    Number,
    describe,
    from_decimal,
    to_boolean,
    to_decimal,
    to_display_string,
    to_number,
    to_string,
    type_name,
    utf16_index_of,
    utf16_length,
    utf16_slice,
)


@dataclass(slots=True)
class Evaluation:
    """The state of one ``evaluate`` call."""

    context: ExpressionContext
    positional_args: Sequence[Any] | None


Impl = Callable[[Evaluation, list[Any]], Any]
StaticCheck = Callable[[list[Any]], None]


@dataclass(frozen=True, slots=True)
class Function:
    impl: Impl
    min_args: int
    max_args: int | None  # None: no upper limit
    check: StaticCheck | None = None  # extra checks on the unevaluated arguments

    def arity_text(self) -> str:
        if self.max_args is None:
            return f"{self.min_args}+"
        if self.max_args == self.min_args:
            return str(self.min_args)
        return f"{self.min_args}-{self.max_args}"


def arity_error(name: str, expected: str, got: int) -> ExpressionError:
    return ExpressionError(
        f'Invalid number of arguments to "{name}". Expected {expected} argument(s), got {got}'
    )


# --- Static checks ----------------------------------------------------------------------------


def _check_if(raw: list[Any]) -> None:
    if len(raw) > 2 and raw[2] != "else":
        raise ExpressionError('Expected third argument to be "else"')
    if len(raw) not in (2, 4):
        raise ExpressionError(f"Expected either 2 arguments (if) or 4 (if + else), got {len(raw)}")


_COMPARE_OPERATORS = frozenset(
    {
        "equals",
        "greaterThan",
        "greaterThanEq",
        "lessThan",
        "lessThanEq",
        "isBefore",
        "isAfter",
        "isBeforeEq",
        "isAfterEq",
        "isSameDay",
    }
)


def _check_compare(raw: list[Any]) -> None:
    if len(raw) not in (3, 4):
        raise arity_error("compare", "3-4", len(raw))
    if len(raw) == 4 and raw[1] != "not":
        raise ExpressionError('Second argument must be "not" when providing 4 arguments in total')
    operator = raw[-2]
    if not isinstance(operator, str):
        raise ExpressionError("Invalid operator (it cannot be an expression or null)")
    if operator not in _COMPARE_OPERATORS:
        raise ExpressionError(f'Invalid operator "{operator}"')


def _check_data_model(raw: list[Any]) -> None:
    if len(raw) == 2 and not isinstance(raw[1], str):
        raise ExpressionError("The data type must be a string (expressions cannot be used here)")


def _check_object(raw: list[Any]) -> None:
    if len(raw) % 2:
        raise ExpressionError("The object function must have an even number of arguments")


# --- Logic and comparison ---------------------------------------------------------------------


def _equals(_: Evaluation, args: list[Any]) -> bool:
    return to_string(args[0]) == to_string(args[1])


def _not_equals(_: Evaluation, args: list[Any]) -> bool:
    return to_string(args[0]) != to_string(args[1])


def _not(_: Evaluation, args: list[Any]) -> bool:
    return not to_boolean(args[0])


def _and(_: Evaluation, args: list[Any]) -> bool:
    return all([to_boolean(a) for a in args])


def _or(_: Evaluation, args: list[Any]) -> bool:
    return any([to_boolean(a) for a in args])


def _if(_: Evaluation, args: list[Any]) -> Any:
    if to_boolean(args[0]):
        return args[1]
    return args[3] if len(args) == 4 else None


def _numbers(args: list[Any]) -> tuple[Number, Number] | None:
    a, b = to_number(args[0]), to_number(args[1])
    if a is None or b is None:
        return None
    return a, b


def _greater_than(_: Evaluation, args: list[Any]) -> bool:
    pair = _numbers(args)
    return pair is not None and pair[0] > pair[1]


def _greater_than_eq(_: Evaluation, args: list[Any]) -> bool:
    pair = _numbers(args)
    return pair is not None and pair[0] >= pair[1]


def _less_than(_: Evaluation, args: list[Any]) -> bool:
    pair = _numbers(args)
    return pair is not None and pair[0] < pair[1]


def _less_than_eq(_: Evaluation, args: list[Any]) -> bool:
    pair = _numbers(args)
    return pair is not None and pair[0] <= pair[1]


def _date_arg(value: Any) -> tuple[datetime, bool] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ExpressionError(f"Date expressions only accept strings or null, got value {describe(value)}")
    if value.strip() == "":
        return None
    return parse_date(value)


def _dates(a: Any, b: Any) -> tuple[datetime, datetime] | None:
    first, second = _date_arg(a), _date_arg(b)
    if first is None or second is None:
        return None
    if first[1] != second[1]:
        raise ExpressionError(
            "Can not compare timestamps with timezone info against timestamps without timezone info"
        )
    return first[0], second[0]


def _same_day(a: Any, b: Any) -> bool:
    first, second = _date_arg(a), _date_arg(b)
    if first is None or second is None:
        return False
    if first[1] != second[1]:
        raise ExpressionError("Can not compare timestamps where only one specify timezone")
    if first[0].utcoffset() != second[0].utcoffset():
        raise ExpressionError("Can not figure out if timestamps in different timezones are in the same day")
    return first[0].date() == second[0].date()


def _compare_values(a: Any, operator: str, b: Any) -> bool:
    if operator == "equals":
        return to_string(a) == to_string(b)
    if a is None or b is None:
        return False
    if operator == "isSameDay":
        return _same_day(a, b)
    if operator.startswith("is"):
        pair = _dates(a, b)
        if pair is None:
            return False
        first, second = pair
        if operator == "isBefore":
            return first < second
        if operator == "isAfter":
            return first > second
        if operator == "isBeforeEq":
            return first <= second
        return first >= second
    numbers = _numbers([a, b])
    if numbers is None:
        return False
    x, y = numbers
    if operator == "greaterThan":
        return x > y
    if operator == "greaterThanEq":
        return x >= y
    if operator == "lessThan":
        return x < y
    return x <= y


def _compare(_: Evaluation, args: list[Any]) -> bool:
    if len(args) == 4:
        return not _compare_values(args[0], args[2], args[3])
    return _compare_values(args[0], args[1], args[2])


# --- Lookups ----------------------------------------------------------------------------------


def _argv(ev: Evaluation, args: list[Any]) -> Any:
    if not ev.positional_args:
        raise ExpressionError("No positional arguments available")
    index = to_number(args[0])
    if index is None or index != int(index):
        raise ExpressionError(f"Expected an integer argument index, got value {describe(args[0])}")
    position = int(index)
    if position < 0 or position >= len(ev.positional_args):
        raise ExpressionError(f"Index {position} out of range")
    return ev.positional_args[position]


def _value(ev: Evaluation, args: list[Any]) -> Any:
    values = ev.context.value_arguments
    if values is None:
        raise ExpressionError(
            "No value arguments available (the value function only works in option filters)"
        )
    key = to_string(args[0]) if args else "value"
    if key is None or key not in values:
        raise ExpressionError(f"Unknown value argument {describe(key)}")
    return values[key]


def _instance_context(ev: Evaluation, args: list[Any]) -> str | None:
    key = args[0]
    if not isinstance(key, str) or key not in INSTANCE_CONTEXT_KEYS:
        raise ExpressionError(f"Unknown Instance context property {'' if key is None else key}")
    return ev.context.instance_context(key)


def _frontend_settings(ev: Evaluation, args: list[Any]) -> Any:
    key = args[0]
    if key is None:
        raise ExpressionError("Value cannot be null. (Parameter 'key')")
    if not isinstance(key, str):
        raise ExpressionError(f"Expected a setting name, got value {describe(key)}")
    return ev.context.frontend_setting(key)


def _auth_context(ev: Evaluation, args: list[Any]) -> bool:
    key = args[0]
    if not isinstance(key, str) or key not in AUTH_CONTEXT_KEYS:
        raise ExpressionError(f"Unknown auth context property {describe(key)}")
    return ev.context.auth_context(key)


def _gateway_action(ev: Evaluation, _: list[Any]) -> str | None:
    return ev.context.gateway_action


def _language(ev: Evaluation, _: list[Any]) -> str:
    return ev.context.language or "nb"


def _data_model(ev: Evaluation, args: list[Any]) -> Any:
    path = args[0]
    if path is None:
        raise ExpressionError("Cannot lookup dataModel null")
    if not isinstance(path, str):
        raise ExpressionError(f"Expected a data model path, got value {describe(path)}")
    data_type = args[1] if len(args) == 2 else None
    data = ev.context.data_model(data_type)
    return resolve_data_model_path(data, path, ev.context.row_indices)


def _count_data_elements(ev: Evaluation, args: list[Any]) -> int:
    data_type = args[0]
    if not isinstance(data_type, str):
        raise ExpressionError(f"Expected dataType argument to be a string, got value {describe(data_type)}")
    return ev.context.count_data_elements(data_type)


def _component_id(args: list[Any]) -> str:
    component_id = args[0]
    if component_id is None:
        raise ExpressionError("Cannot lookup component null")
    if not isinstance(component_id, str):
        raise ExpressionError(f"Expected a component id, got value {describe(component_id)}")
    return component_id


def _require_components(ev: Evaluation, name: str) -> Any:
    tree = ev.context.components
    if tree is None:
        raise ExpressionError(f'The "{name}" function requires a layout component tree')
    return tree


def _component(ev: Evaluation, args: list[Any]) -> Any:
    component_id = _component_id(args)
    return _require_components(ev, "component").component_value(component_id)


def _display_value(ev: Evaluation, args: list[Any]) -> Any:
    component_id = _component_id(args)
    return _require_components(ev, "displayValue").display_value(component_id)


def _page_url(ev: Evaluation, page_id: str) -> str:
    instance_id = ev.context.instance_context("instanceId")
    task_id = ev.context.task_id
    if instance_id and task_id:
        return f"/instance/{instance_id}/{task_id}/{page_id}"
    return f"/{page_id}"


def _link_to_page(ev: Evaluation, args: list[Any]) -> str | None:
    link_text, page_id = to_string(args[0]), to_string(args[1])
    if link_text is None or page_id is None:
        return None
    return f'<a href="{_page_url(ev, page_id)}" data-link-type="LinkToPotentialPage">{link_text}</a>'


def _link_to_component(ev: Evaluation, args: list[Any]) -> str | None:
    link_text, component_id = to_string(args[0]), to_string(args[1])
    if link_text is None or component_id is None:
        return None
    page_id, resolved_id = _require_components(ev, "linkToComponent").component_location(component_id)
    url = f"{_page_url(ev, page_id)}?focusComponentId={quote(resolved_id, safe='')}"
    return f'<a href="{url}" data-link-type="LinkToPotentialNode">{link_text}</a>'


_PLACEHOLDER_RE = re.compile(r"\{([0-9]+)\}")


def _text_variable(ev: Evaluation, variable: Mapping[str, Any]) -> str:
    key = variable.get("key")
    source = variable.get("dataSource")
    value: Any = None
    if isinstance(key, str) and isinstance(source, str):
        if source.startswith("dataModel."):
            data_type = source.removeprefix("dataModel.")
            rows = ev.context.row_indices or ()
            # Paths may name the current rows explicitly: "Bedrifter[{0}].Ansatte[{1}].Navn".
            path = _PLACEHOLDER_RE.sub(
                lambda m: str(rows[int(m[1])]) if int(m[1]) < len(rows) else m[0],
                key,
            )
            try:
                data = ev.context.data_model(None if data_type == "default" else data_type)
                value = resolve_data_model_path(data, path, rows)
            except ExpressionError:
                value = None
        elif source == "instanceContext":
            value = ev.context.instance_context(key) if key in INSTANCE_CONTEXT_KEYS else None
        elif source == "applicationSettings":
            value = ev.context.frontend_setting(key)
    if value is None:
        default = variable.get("defaultValue")
        return to_display_string(default) if default is not None else to_display_string(key)
    return to_display_string(value)


def _text(ev: Evaluation, args: list[Any]) -> str | None:
    key = to_string(args[0])
    if key is None:
        return None
    resource = ev.context.text_resource(key)
    if resource is None:
        return key
    value = resource.get("value")
    if not isinstance(value, str):
        return key
    variables = resource.get("variables") or []
    if not variables:
        return value
    replacements = [_text_variable(ev, v) for v in variables]
    return _PLACEHOLDER_RE.sub(
        lambda m: replacements[int(m[1])] if int(m[1]) < len(replacements) else m[0],
        value,
    )


def _option_label(ev: Evaluation, args: list[Any]) -> str | None:
    options_id = to_string(args[0])
    if options_id is None:
        raise ExpressionError("Cannot lookup options null")
    options = ev.context.options(options_id)
    if options is None:
        raise ExpressionError(f"Unknown options {describe(options_id)}")
    wanted = to_string(args[1])
    for option in options:
        if to_string(option.get("value")) == wanted:
            label = option.get("label")
            return None if label is None else _text(ev, [label])
    return None


# --- Strings ----------------------------------------------------------------------------------


def _concat(_: Evaluation, args: list[Any]) -> str:
    return "".join(to_string(a) or "" for a in args)


def _contains(_: Evaluation, args: list[Any]) -> bool:
    text, search = to_string(args[0]), to_string(args[1])
    return text is not None and search is not None and search in text


def _not_contains(_: Evaluation, args: list[Any]) -> bool:
    text, search = to_string(args[0]), to_string(args[1])
    return text is None or search is None or search not in text


def _starts_with(_: Evaluation, args: list[Any]) -> bool:
    text, search = to_string(args[0]), to_string(args[1])
    return text is not None and search is not None and text.startswith(search)


def _ends_with(_: Evaluation, args: list[Any]) -> bool:
    text, search = to_string(args[0]), to_string(args[1])
    return text is not None and search is not None and text.endswith(search)


def _comma_contains(_: Evaluation, args: list[Any]) -> bool:
    text, search = to_string(args[0]), to_string(args[1])
    if text is None or search is None:
        return False
    return search in (part.strip() for part in text.split(","))


def _string_length(_: Evaluation, args: list[Any]) -> int:
    text = to_string(args[0])
    return 0 if text is None else utf16_length(text)


def _string_index_of(_: Evaluation, args: list[Any]) -> int | None:
    text, search = to_string(args[0]), to_string(args[1])
    if text is None or search is None:
        return None
    index = utf16_index_of(text, search)
    return None if index < 0 else index


def _string_replace(_: Evaluation, args: list[Any]) -> str | None:
    text, search, replacement = to_string(args[0]), to_string(args[1]), to_string(args[2])
    if text is None:
        return None
    if not search:
        return text
    return text.replace(search, replacement or "")


def _slice_index(value: Any) -> int:
    number = to_number(value)
    if number is None:
        raise ExpressionError("Start/end index cannot be null (guard stringIndexOf results against null)")
    return int(number)


def _string_slice(_: Evaluation, args: list[Any]) -> str | None:
    start = _slice_index(args[1])
    end = _slice_index(args[2]) if len(args) == 3 else None
    text = to_string(args[0])
    if text is None:
        return None
    return utf16_slice(text, start, end)


def _lower_case(_: Evaluation, args: list[Any]) -> str | None:
    text = to_string(args[0])
    return None if text is None else text.lower()


def _upper_case(_: Evaluation, args: list[Any]) -> str | None:
    text = to_string(args[0])
    return None if text is None else text.upper()


def _lower_case_first(_: Evaluation, args: list[Any]) -> str | None:
    text = to_string(args[0])
    return None if text is None else text[:1].lower() + text[1:]


def _upper_case_first(_: Evaluation, args: list[Any]) -> str | None:
    text = to_string(args[0])
    return None if text is None else text[:1].upper() + text[1:]


def _format_date(ev: Evaluation, args: list[Any]) -> str | None:
    parsed = _date_arg(args[0])
    if parsed is None:
        return None
    value, has_timezone = parsed
    zone = ev.context.timezone
    if has_timezone and zone is not None:
        value = value.astimezone(zone)
    pattern = to_string(args[1]) if len(args) == 2 else None
    return format_date(value, pattern, ev.context.language)


# --- Numbers ----------------------------------------------------------------------------------

# decimal.js defaults (what Altinn's frontend computes with): 20 significant digits, half up.
_DECIMAL = Context(prec=20, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero])
# round() keeps every digit it is asked for, however large the number.
_ROUNDING = Context(prec=1000, rounding=ROUND_HALF_UP, traps=[InvalidOperation])


def _decimal_arg(value: Any) -> Decimal:
    number = to_number(value)
    return Decimal(0) if number is None else to_decimal(number)


def _plus(_: Evaluation, args: list[Any]) -> Number:
    total = Decimal(0)
    for value in args:
        total = _DECIMAL.add(total, _decimal_arg(value))
    return from_decimal(total)


def _minus(_: Evaluation, args: list[Any]) -> Number:
    return from_decimal(_DECIMAL.subtract(_decimal_arg(args[0]), _decimal_arg(args[1])))


def _multiply(_: Evaluation, args: list[Any]) -> Number:
    product = _decimal_arg(args[0])
    for value in args[1:]:
        product = _DECIMAL.multiply(product, _decimal_arg(value))
    return from_decimal(product)


def _divide(_: Evaluation, args: list[Any]) -> Number:
    dividend, divisor = _decimal_arg(args[0]), _decimal_arg(args[1])
    if divisor == 0:
        raise ExpressionError("The second argument is 0, cannot divide by 0")
    return from_decimal(_DECIMAL.divide(dividend, divisor))


def _round(_: Evaluation, args: list[Any]) -> str:
    number = to_number(args[0])
    places = to_number(args[1]) if len(args) == 2 else None
    digits = 0 if places is None else places
    if digits != int(digits) or not 0 <= digits <= 100:
        raise ExpressionError(
            f"Expected a number of decimals between 0 and 100, got value {describe(args[1])}"
        )
    value = Decimal(0) if number is None else to_decimal(number)
    rounded = value.quantize(Decimal(1).scaleb(-int(digits)), context=_ROUNDING)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0"
    return f"{rounded:f}"


def _list_arg(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ExpressionError(f"Expected argument to be list, got {type_name(value)}")
    return value


def _sum_of(values: list[Any]) -> Decimal:
    total = Decimal(0)
    for value in values:
        total = _DECIMAL.add(total, _decimal_arg(value))
    return total


def _sum(_: Evaluation, args: list[Any]) -> Number:
    return from_decimal(_sum_of(_list_arg(args[0])))


def _average(_: Evaluation, args: list[Any]) -> Number | None:
    values = _list_arg(args[0])
    empty = to_number(args[1])
    if not values:
        return empty
    return from_decimal(_DECIMAL.divide(_sum_of(values), Decimal(len(values))))


def _count(_: Evaluation, args: list[Any]) -> int:
    return len(_list_arg(args[0]))


# --- Structures -------------------------------------------------------------------------------


def _list(_: Evaluation, args: list[Any]) -> list[Any]:
    return list(args)


def _object(_: Evaluation, args: list[Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for i in range(0, len(args), 2):
        key = args[i]
        if not isinstance(key, str):
            raise ExpressionError(f"Object keys must be strings, got {describe(key)}")
        if key in result:
            raise ExpressionError(f"Object keys must be unique, {describe(key)} appears twice")
        result[key] = args[i + 1]
    return result


def _jmespath_search(_: Evaluation, args: list[Any]) -> Any:
    query = args[1]
    if not isinstance(query, str):
        raise ExpressionError(f"Expected argument to be string, got {type_name(query)}")
    try:
        return jmespath.search(query, args[0])
    except (JMESPathError, TypeError, ValueError) as error:
        raise ExpressionError(f"Jmespath error: {error}") from None


FUNCTIONS: dict[str, Function] = {
    "argv": Function(_argv, 1, 1),
    "value": Function(_value, 0, 1),
    "equals": Function(_equals, 2, 2),
    "notEquals": Function(_not_equals, 2, 2),
    "not": Function(_not, 1, 1),
    "and": Function(_and, 1, None),
    "or": Function(_or, 1, None),
    "if": Function(_if, 2, 4, _check_if),
    "compare": Function(_compare, 3, 4, _check_compare),
    "greaterThan": Function(_greater_than, 2, 2),
    "greaterThanEq": Function(_greater_than_eq, 2, 2),
    "lessThan": Function(_less_than, 2, 2),
    "lessThanEq": Function(_less_than_eq, 2, 2),
    "instanceContext": Function(_instance_context, 1, 1),
    "frontendSettings": Function(_frontend_settings, 1, 1),
    "authContext": Function(_auth_context, 1, 1),
    "gatewayAction": Function(_gateway_action, 0, 0),
    "language": Function(_language, 0, 0),
    "dataModel": Function(_data_model, 1, 2, _check_data_model),
    "countDataElements": Function(_count_data_elements, 1, 1),
    "component": Function(_component, 1, 1),
    "displayValue": Function(_display_value, 1, 1),
    "linkToPage": Function(_link_to_page, 2, 2),
    "linkToComponent": Function(_link_to_component, 2, 2),
    "text": Function(_text, 1, 1),
    "optionLabel": Function(_option_label, 2, 2),
    "concat": Function(_concat, 0, None),
    "contains": Function(_contains, 2, 2),
    "notContains": Function(_not_contains, 2, 2),
    "startsWith": Function(_starts_with, 2, 2),
    "endsWith": Function(_ends_with, 2, 2),
    "commaContains": Function(_comma_contains, 2, 2),
    "stringLength": Function(_string_length, 1, 1),
    "stringIndexOf": Function(_string_index_of, 2, 2),
    "stringReplace": Function(_string_replace, 3, 3),
    "stringSlice": Function(_string_slice, 2, 3),
    "lowerCase": Function(_lower_case, 1, 1),
    "upperCase": Function(_upper_case, 1, 1),
    "lowerCaseFirst": Function(_lower_case_first, 1, 1),
    "upperCaseFirst": Function(_upper_case_first, 1, 1),
    "formatDate": Function(_format_date, 1, 2),
    "round": Function(_round, 1, 2),
    "plus": Function(_plus, 1, None),
    "minus": Function(_minus, 2, 2),
    "multiply": Function(_multiply, 1, None),
    "divide": Function(_divide, 2, 2),
    "sum": Function(_sum, 1, 1),
    "average": Function(_average, 2, 2),
    "count": Function(_count, 1, 1),
    "list": Function(_list, 0, None),
    "object": Function(_object, 0, None, _check_object),
    "jmespath": Function(_jmespath_search, 2, 2),
}

# Functions that only make sense with a layout component tree around the expression.
COMPONENT_FUNCTIONS = frozenset({"component", "displayValue", "linkToComponent"})
