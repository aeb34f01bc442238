"""Expression validation: the rules of ``models/{dataType}.validation.json``.

The file has ``validations`` (a data model field -> a list of rules) and ``definitions`` (named
rules). A rule is the name of a definition, or an object with ``message``, ``condition``,
optional ``severity`` (``error``, the default, ``warning``, ``info`` or ``success``) and an
optional ``ref`` to a definition whose parts it overrides. A definition may ``ref`` an earlier
one. Rules that cannot be resolved (unknown reference, missing message or condition, unknown
severity, an expression that does not compile) are logged when the app's validation is first
compiled and left out, as Altinn leaves them out.

A field runs its rules once per repeating-group row it resolves to (``people.age`` ->
``people[0].age``, ``people[1].age``...), with that path as ``["argv", 0]`` and the row
indexes applied to relative ``dataModel`` paths. A rule whose condition is true gives an issue
with the rule's severity; its ``code`` and ``customTextKey`` are the (evaluated) message.
Fields that only hidden components show are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from tinn.data.formdata import FormModel, FormType
from tinn.instances.models import DataElement
from tinn.process.expressions import CompiledExpression, ExpressionError, compile_expression
from tinn.validation.layout import EvalContext, LayoutState, row_indices_of
from tinn.validation.models import Severity, ValidationIssue

if TYPE_CHECKING:
    from tinn.validation.context import RunState

log = structlog.get_logger("tinn.validation")

SEVERITIES: Mapping[str, Severity] = {
    "error": Severity.Error,
    "warning": Severity.Warning,
    "info": Severity.Informational,
    "success": Severity.Success,
}

_PART = re.compile(r"^([^\s\[\].]+)(?:\[([0-9]*)\])?$")


@dataclass(frozen=True, slots=True)
class ExpressionRule:
    message: CompiledExpression
    condition: CompiledExpression
    severity: Severity


@dataclass(frozen=True, slots=True)
class ExpressionConfig:
    rules: tuple[tuple[str, tuple[ExpressionRule, ...]], ...]


class _RuleError(Exception):
    pass


@dataclass
class _Raw:
    message: Any = None
    condition: Any = None
    severity: Severity | None = None
    has_message: bool = False
    has_condition: bool = False


def _raw_rule(value: Any, definitions: Mapping[str, _Raw]) -> _Raw:
    if isinstance(value, str):
        referenced = definitions.get(value)
        if referenced is None:
            raise _RuleError(f"unknown definition '{value}'")
        return referenced
    if not isinstance(value, dict):
        raise _RuleError("a rule must be a definition name or an object")
    raw = _Raw()
    reference = value.get("ref")
    if reference is not None:
        referenced = definitions.get(reference) if isinstance(reference, str) else None
        if referenced is None:
            raise _RuleError(f"unknown definition '{reference}'")
        raw = _Raw(**vars(referenced))
    if value.get("message") is not None:
        raw.message, raw.has_message = value["message"], True
    if value.get("condition") is not None:
        raw.condition, raw.has_condition = value["condition"], True
    severity = value.get("severity")
    if severity is not None:
        if not isinstance(severity, str) or severity not in SEVERITIES:
            raise _RuleError(f"unknown severity {severity!r}")
        raw.severity = SEVERITIES[severity]
    return raw


def _compiled(raw: _Raw) -> ExpressionRule:
    if not raw.has_message:
        raise _RuleError("missing message")
    if not raw.has_condition:
        raise _RuleError("missing condition")
    try:
        message = compile_expression(raw.message)
        condition = compile_expression(raw.condition)
    except ExpressionError as exc:
        raise _RuleError(str(exc)) from None
    return ExpressionRule(message, condition, raw.severity or Severity.Error)


def compile_expression_config(app_id: str, data_type: str, document: Any) -> ExpressionConfig:
    """Resolve a ``validation.json`` document into compiled rules per field."""
    if not isinstance(document, dict):
        log.warning("expression_validation_invalid", app=app_id, data_type=data_type, error="not an object")
        return ExpressionConfig(())
    definitions: dict[str, _Raw] = {}
    raw_definitions = document.get("definitions")
    for name, value in raw_definitions.items() if isinstance(raw_definitions, dict) else ():
        try:
            raw = _raw_rule(value if isinstance(value, dict) else None, definitions)
            _compiled(raw)
        except _RuleError as exc:
            log.warning(
                "expression_validation_invalid",
                app=app_id,
                data_type=data_type,
                definition=name,
                error=str(exc),
            )
            continue
        definitions[name] = raw
    rules: list[tuple[str, tuple[ExpressionRule, ...]]] = []
    validations = document.get("validations")
    for field_path, entries in validations.items() if isinstance(validations, dict) else ():
        compiled: list[ExpressionRule] = []
        for entry in entries if isinstance(entries, list) else ():
            try:
                compiled.append(_compiled(_raw_rule(entry, definitions)))
            except _RuleError as exc:
                log.warning(
                    "expression_validation_invalid",
                    app=app_id,
                    data_type=data_type,
                    field=field_path,
                    error=str(exc),
                )
        if compiled:
            rules.append((field_path, tuple(compiled)))
    return ExpressionConfig(tuple(rules))


def resolve_fields(model: FormModel, data: Any, field_path: str) -> list[str]:
    """Every concrete path a field stands for in the data: a list in the middle of the path is
    expanded over its rows (``a.b`` -> ``a[0].b``, ``a[1].b``); a list at the end is the list
    itself unless written ``a[]`` (every row) or ``a[n]``. A field that is not in the model, or a
    path through a missing list, resolves to nothing."""
    parts = field_path.split(".")
    found: list[str] = []
    _resolve(parts, 0, model.root, data, "", found)
    return found


def _join(prefix: str, part: str) -> str:
    return f"{prefix}.{part}" if prefix else part


def _resolve(
    parts: list[str], position: int, ftype: FormType | None, value: Any, prefix: str, out: list[str]
) -> None:
    if position == len(parts):
        out.append(prefix)
        return
    match = _PART.match(parts[position])
    prop = ftype.by_name.get(match[1]) if match is not None and ftype is not None else None
    if match is None or prop is None:
        return
    name, index_text = match[1], match[2]
    last = position == len(parts) - 1
    child = value.get(name) if isinstance(value, dict) else None
    if not prop.is_list:
        if index_text is not None:
            return
        if last:
            out.append(_join(prefix, name))
        else:
            _resolve(parts, position + 1, prop.type, child, _join(prefix, name), out)
        return
    if last and index_text is None:
        out.append(_join(prefix, name))
        return
    if not isinstance(child, list):
        return
    indexes = range(len(child)) if not index_text else [int(index_text)]
    for index in indexes:
        if index < len(child) and child[index] is not None:
            _resolve(parts, position + 1, prop.type, child[index], _join(prefix, f"{name}[{index}]"), out)


def _under(field_path: str, hidden: str) -> bool:
    return field_path == hidden or field_path.startswith((hidden + ".", hidden + "["))


async def expression_issues(
    run: RunState, state: LayoutState | None, element: DataElement, config: ExpressionConfig
) -> list[ValidationIssue]:
    """The issues the configured rules give for one data element."""
    model = run.model(element.data_type)
    data = await run.form_data(element)
    if model is None or data is None:
        return []
    hidden = [
        path for element_id, path in (state.hidden_fields() if state else ()) if element_id == element.id
    ]
    issues: list[ValidationIssue] = []
    for field_path, rules in config.rules:
        for resolved in resolve_fields(model, data, field_path):
            if any(_under(resolved, path) for path in hidden):
                continue
            context = EvalContext(state, None, element.id, row_indices_of(resolved), run=run)
            for rule in rules:
                try:
                    result = rule.condition.evaluate(context, positional_args=[resolved])
                except ExpressionError as exc:
                    _failed(run, element, resolved, "condition", str(exc))
                    continue
                if result is not True:
                    if not isinstance(result, bool):
                        _failed(run, element, resolved, "condition", f"expected a boolean, got {result!r}")
                    continue
                try:
                    message = rule.message.evaluate(context, positional_args=[resolved])
                except ExpressionError as exc:
                    _failed(run, element, resolved, "message", str(exc))
                    message = None
                text = message if isinstance(message, str) else ""
                issues.append(
                    ValidationIssue(
                        severity=rule.severity,
                        code=text,
                        field=resolved,
                        data_element_id=element.id,
                        custom_text_key=text,
                    )
                )
    return issues


def _failed(run: RunState, element: DataElement, field_path: str, what: str, error: str) -> None:
    log.warning(
        "expression_validation_failed",
        app=run.definition.id,
        data_type=element.data_type,
        field=field_path,
        part=what,
        error=error,
    )
