"""Altinn's JSON expression language: BPMN gateway conditions, expression validation, layout logic.

An expression is a JSON array naming a function and its arguments, which are constants or
expressions: ``["equals", ["dataModel", "melding.name"], "x"]``,
``["if", ["gatewayAction"], "a", "else", "b"]``. ``evaluate`` checks the expression (unknown
functions and wrong argument counts raise ``ExpressionError`` before anything runs), coerces
arguments the way Altinn does (see ``_values``) and reads everything outside the expression
through an ``ExpressionContext``.

A context without a layout component tree (the backend case: gateways, validation) evaluates
every function except ``component``, ``displayValue`` and ``linkToComponent``, which raise
``ExpressionError`` saying they need one.
"""

from __future__ import annotations

from tinn.process.expressions._compiler import (
    CompiledExpression,
    compile_expression,
    evaluate,
    evaluate_boolean,
    is_expression,
    validate,
)
from tinn.process.expressions._context import (
    AUTH_CONTEXT_KEYS,
    INSTANCE_CONTEXT_KEYS,
    ComponentTree,
    ExpressionContext,
    SimpleContext,
    instance_context_value,
    parse_data_model_path,
    resolve_data_model_path,
)
from tinn.process.expressions._functions import COMPONENT_FUNCTIONS, FUNCTIONS
from tinn.process.expressions._values import ExpressionError

FUNCTION_NAMES = frozenset(FUNCTIONS)

__all__ = [
    "AUTH_CONTEXT_KEYS",
    "COMPONENT_FUNCTIONS",
    "FUNCTION_NAMES",
    "INSTANCE_CONTEXT_KEYS",
    "CompiledExpression",
    "ComponentTree",
    "ExpressionContext",
    "ExpressionError",
    "SimpleContext",
    "compile_expression",
    "evaluate",
    "evaluate_boolean",
    "instance_context_value",
    "is_expression",
    "parse_data_model_path",
    "resolve_data_model_path",
    "validate",
]
