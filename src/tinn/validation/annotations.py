"""The ``DataAnnotations`` validator: the rules Altinn Studio writes as attributes on the generated
C# model class, checked the way ASP.NET Core's model validation checks them.

Studio turns the model's restrictions into attributes, and Tinn derives the same rules from the
:class:`FormModel`:

==========================  ===================================================================
restriction                 attribute and message (``{name}`` is the C# property name)
==========================  ===================================================================
required value type         ``[Required]``: "The {name} field is required." (strings, objects,
                            lists and attributes, generated non-nullable, never fail it)
``minLength``/``maxLength`` ``[MinLength]``/``[MaxLength]``: "The field {name} must be a string or
                            array type with a minimum/maximum length of '{n}'." (on a list: the
                            number of items)
``minimum``/``maximum``     ``[Range]``: "The field {name} must be between {min} and {max}."
``pattern``, ``totalDigits``, ``[RegularExpression]``: "The field {name} must match the regular
``format`` date/time        expression '{pattern}'." (the first match must span the whole text)
==========================  ===================================================================

``null`` passes every rule but ``[Required]``; the empty string passes ``[RegularExpression]``.
Objects and list rows are validated recursively; the attributes of a list or object are checked
only when its content is valid (ASP.NET Core's order). Issues have the field's JSON path
(attributes keep their C# name, simple content is ``value``), ``code`` = ``description`` = the
message, severity error. At most 200 issues per element, as ``MaxModelValidationErrors``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from elementpath.regex import translate_pattern

from tinn.data.formdata import FormModel, FormProperty, FormType, Node, ValueKind
from tinn.validation.models import Severity, ValidationIssue

log = structlog.get_logger("tinn.validation")

MAX_ERRORS = 200

_DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])$"
_TIME_PATTERN = r"^([0,1][0-9]|[2][0-3]):[0-5][0-9]:[0-5][0-9](Z|(\+|-)([0,1][0-9]|[2][0-3]):[0-5][0-9])?$"
_FORMAT_PATTERNS = {"date": _DATE_PATTERN, "time": _TIME_PATTERN}
# Constructs of XSD/.NET regexes that Python's re does not read the same way.
_XSD_ONLY = re.compile(r"\\[pPic]|-\[")
_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")

_INT_LIMITS = {
    ValueKind.SHORT: ("-2147483648", "2147483647"),  # Studio writes Int32 limits for short
    ValueKind.INT: ("-2147483648", "2147483647"),
    ValueKind.LONG: ("-9223372036854775808", "9223372036854775807"),
}
_DOUBLE_MIN, _DOUBLE_MAX = "-1.7976931348623157E+308", "1.7976931348623157E+308"

Check = Callable[[Any], bool]  # True when the value passes


@dataclass(frozen=True, slots=True)
class _Rule:
    message: str
    passes: Check


@dataclass(frozen=True, slots=True)
class _PropertyPlan:
    prop: FormProperty
    segment: str  # the field path segment (the JSON name, or the C# name for attributes)
    rules: tuple[_Rule, ...]


@dataclass(frozen=True, slots=True)
class _TypePlan:
    properties: tuple[_PropertyPlan, ...]


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def dotnet_double(value: float) -> str:
    """A double the way .NET writes it: shortest round trip, ``E+XX`` from 1e15, ``E-XX`` below 1e-4."""
    if value == 0:
        return "0"
    text = repr(value)
    mantissa, _, exponent_text = text.partition("e")
    digits = mantissa.lstrip("-").replace(".", "")
    point = mantissa.lstrip("-").find(".")
    exponent = (point if point >= 0 else len(mantissa.lstrip("-"))) - 1 + int(exponent_text or 0)
    significant = digits.lstrip("0")
    exponent -= len(digits) - len(digits.lstrip("0"))
    significant = significant.rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    if exponent >= 15 or exponent < -4:
        body = significant[0] + ("." + significant[1:] if len(significant) > 1 else "")
        return f"{sign}{body}E{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{significant}"
    whole = significant[: exponent + 1].ljust(exponent + 1, "0")
    fraction = significant[exponent + 1 :]
    return f"{sign}{whole}{'.' + fraction if fraction else ''}"


def _dotnet_text(value: Any) -> str | None:
    """A value as ``Convert.ToString`` writes it for a regular expression check."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return dotnet_double(value)
    return None


def _try_compile(build: Callable[[], str]) -> re.Pattern[str] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return re.compile(build())
    except Exception:  # re.error, FutureWarning, the translator's own errors: not this way
        return None


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """A .NET/XSD regular expression as a Python one; None when it cannot be translated.

    Patterns Python reads the same way are compiled as they are (named groups renamed); those
    with XSD-only constructs (``\\p{..}``, class subtraction) go through the XSD translator.
    """
    if not _XSD_ONLY.search(pattern):
        compiled = _try_compile(lambda: _NAMED_GROUP.sub("(?P<", pattern))
        if compiled is not None:
            return compiled
    return _try_compile(lambda: translate_pattern(pattern, back_references=False, anchors=True))


def _regex_rule(name: str, pattern: str, where: str) -> _Rule | None:
    compiled = compile_pattern(pattern)
    if compiled is None:
        log.warning("data_annotation_pattern_unsupported", where=where, pattern=pattern)
        return None

    def passes(value: Any) -> bool:
        text = _dotnet_text(value)
        if not text:
            return True
        match = compiled.search(text)
        return match is not None and match.start() == 0 and match.end() == len(text)

    return _Rule(f"The field {name} must match the regular expression '{pattern}'.", passes)


def _range_bound(raw: Any, kind: ValueKind) -> tuple[Decimal, str] | None:
    number = _number(raw)
    if number is None:
        return None
    if kind in _INT_LIMITS and number == number.to_integral_value() and "." not in str(raw):
        return number, str(int(number))
    return number, dotnet_double(float(number))


def _range_rule(name: str, prop: FormProperty) -> _Rule | None:
    low = (
        _range_bound(prop.restrictions.get("minimum"), prop.kind) if "minimum" in prop.restrictions else None
    )
    high = (
        _range_bound(prop.restrictions.get("maximum"), prop.kind) if "maximum" in prop.restrictions else None
    )
    if low is None and high is None:
        return None
    limits = _INT_LIMITS.get(prop.kind, (_DOUBLE_MIN, _DOUBLE_MAX))
    low_text = low[1] if low else limits[0]
    high_text = high[1] if high else limits[1]
    low_value = float(low[0]) if low else None
    high_value = float(high[0]) if high else None

    def passes(value: Any) -> bool:
        number = _number(value)
        if number is None:
            return True
        as_double = float(number)
        return (low_value is None or as_double >= low_value) and (
            high_value is None or as_double <= high_value
        )

    return _Rule(f"The field {name} must be between {low_text} and {high_text}.", passes)


def _length_rule(name: str, limit: Any, *, minimum: bool) -> _Rule | None:
    bound = _number(limit)
    if bound is None:
        return None
    count = int(bound)
    word = "minimum" if minimum else "maximum"

    def passes(value: Any) -> bool:
        if isinstance(value, str):
            length = _utf16_length(value)
        elif isinstance(value, list):
            length = len(value)
        else:
            return True
        return length >= count if minimum else length <= count

    return _Rule(
        f"The field {name} must be a string or array type with a {word} length of '{count}'.", passes
    )


def _rules(prop: FormProperty, where: str) -> tuple[str, tuple[_Rule, ...]]:
    """The display name and the attribute rules Studio generates for a property."""
    if prop.node is Node.TEXT:
        name = "valueNullable" if prop.kind.is_value_type else "value"
    else:
        name = prop.clr_name
    rules: list[_Rule] = []
    scalar = not prop.is_list and prop.type is None
    # Value-type attributes are generated non-nullable (``decimal orid``): their [Required] never fails.
    if scalar and prop.kind.is_value_type and prop.min_occurs > 0 and prop.node is not Node.ATTRIBUTE:
        rules.append(_Rule(f"The {name} field is required.", lambda value: value is not None))
    restrictions = prop.restrictions
    for key, minimum in (("minLength", True), ("maxLength", False)):
        if key in restrictions:
            rule = _length_rule(name, restrictions[key], minimum=minimum)
            if rule is not None:
                rules.append(rule)
    if scalar:
        range_rule = _range_rule(name, prop)
        if range_rule is not None:
            rules.append(range_rule)
        pattern = _pattern(prop)
        if pattern is not None:
            regex_rule = _regex_rule(name, pattern, where)
            if regex_rule is not None:
                rules.append(regex_rule)
    return name, tuple(rules)


def _pattern(prop: FormProperty) -> str | None:
    restrictions = prop.restrictions
    pattern = restrictions.get("pattern")
    if isinstance(pattern, list):
        pattern = next((item for item in pattern if isinstance(item, str)), None)
    if isinstance(pattern, str):
        return pattern
    digits = _number(restrictions.get("totalDigits", restrictions.get("@xsdTotalDigits")))
    if digits is not None:
        if prop.kind is ValueKind.DECIMAL:
            return rf"^(([0-9]){{1}}(\.)?){{0,{int(digits)}}}$"
        return rf"^[0-9]{{0,{int(digits)}}}$"
    if prop.kind is ValueKind.STRING:
        return _FORMAT_PATTERNS.get(str(restrictions.get("format")))
    return None


def _segment(prop: FormProperty) -> str:
    if prop.node is Node.ATTRIBUTE:
        return prop.clr_name  # Studio gives attributes no JSON name: the model key stays the C# name
    if prop.node is Node.TEXT:
        return "value"
    return prop.name


def _plans(model: FormModel) -> dict[int, _TypePlan]:
    plans: dict[int, _TypePlan] = {}
    for ftype in model.types():
        properties = []
        for prop in ftype.properties:
            _, rules = _rules(prop, f"{model.name}.{ftype.name}.{prop.name}")
            properties.append(_PropertyPlan(prop, _segment(prop), rules))
        plans[id(ftype)] = _TypePlan(tuple(properties))
    return plans


@dataclass
class _Walk:
    plans: dict[int, _TypePlan]
    element_id: str
    issues: list[ValidationIssue]

    @property
    def full(self) -> bool:
        return len(self.issues) >= MAX_ERRORS

    def add(self, path: str, message: str) -> None:
        if not self.full:
            self.issues.append(
                ValidationIssue(
                    severity=Severity.Error,
                    code=message,
                    description=message,
                    field=path,
                    data_element_id=self.element_id,
                )
            )

    def object(self, ftype: FormType, data: dict[str, Any], prefix: str) -> None:
        for plan in self.plans[id(ftype)].properties:
            if self.full:
                return
            prop = plan.prop
            path = f"{prefix}.{plan.segment}" if prefix else plan.segment
            value = data.get(prop.name)
            before = len(self.issues)
            if prop.type is not None and isinstance(value, dict) and not prop.is_list:
                self.object(prop.type, value, path)
            elif prop.type is not None and isinstance(value, list):
                for index, row in enumerate(value):
                    if isinstance(row, dict):
                        self.object(prop.type, row, f"{path}[{index}]")
            if len(self.issues) != before:
                continue  # the property's own attributes are checked only when its content is valid
            for rule in plan.rules:
                if not rule.passes(value):
                    self.add(path, rule.message)


def data_annotation_issues(model: FormModel, data: dict[str, Any], element_id: str) -> list[ValidationIssue]:
    """The model's attribute rules checked on one element's form data."""
    plans: dict[int, _TypePlan] = model.cached("validation-data-annotations", lambda: _plans(model))
    walk = _Walk(plans, element_id, [])
    walk.object(model.root, data, "")
    return walk.issues
