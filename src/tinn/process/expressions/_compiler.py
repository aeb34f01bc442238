"""Checking and compiling expressions into trees of closures, with a cache of compiled expressions."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

from tinn.process.expressions._context import ExpressionContext
from tinn.process.expressions._functions import FUNCTIONS, Evaluation, arity_error
from tinn.process.expressions._values import ExpressionError, describe

Node = Callable[[Evaluation], Any]

_CACHE_SIZE = 2048
_cache: dict[str, CompiledExpression] = {}
_cache_lock = threading.Lock()


def is_expression(value: Any) -> bool:
    """Whether a value is written as an expression (a list starting with a function name).

    Other values (``true``, ``"text"``, ``null``) are constants where an expression is allowed.
    """
    return isinstance(value, list) and len(value) > 0 and isinstance(value[0], str)


class CompiledExpression:
    """A checked expression, ready to evaluate any number of times."""

    __slots__ = ("_root", "source")

    def __init__(self, source: Any, root: Node) -> None:
        self.source = source
        self._root = root

    def evaluate(self, context: ExpressionContext, *, positional_args: Sequence[Any] | None = None) -> Any:
        return self._root(Evaluation(context, positional_args))

    def __repr__(self) -> str:
        return f"CompiledExpression({describe(self.source)})"


def compile_expression(expression: Any) -> CompiledExpression:
    """Check an expression and compile it; raises ``ExpressionError`` when it is malformed.

    Compiled expressions are cached by their text, so evaluating the same expression again does
    not check it again.
    """
    if not isinstance(expression, list):
        return CompiledExpression(expression, _compile(expression, ""))
    key = repr(expression)
    compiled = _cache.get(key)
    if compiled is None:
        compiled = CompiledExpression(copy.deepcopy(expression), _compile(expression, ""))
        with _cache_lock:
            if len(_cache) >= _CACHE_SIZE:
                del _cache[next(iter(_cache))]
            _cache[key] = compiled
    return compiled


def validate(expression: Any) -> None:
    """Raise ``ExpressionError`` when an expression is malformed: an unknown function, a wrong
    number of arguments, an argument of a kind that can never work (an object, a computed
    operator for ``compare``, a computed data type for ``dataModel``, a missing ``"else"``)."""
    compile_expression(expression)


def evaluate(
    expression: Any,
    context: ExpressionContext,
    *,
    positional_args: Sequence[Any] | None = None,
) -> Any:
    """Evaluate an expression (or a constant) in a context; ``positional_args`` feed ``["argv", i]``."""
    return compile_expression(expression).evaluate(context, positional_args=positional_args)


def evaluate_boolean(
    expression: Any,
    context: ExpressionContext,
    *,
    default: bool,
    positional_args: Sequence[Any] | None = None,
) -> bool:
    """Evaluate a condition (gateway, ``hidden``, ``required``, validation ``condition``).

    The result must be a boolean; null (or a missing expression) gives ``default``.
    """
    result = evaluate(expression, context, positional_args=positional_args)
    if result is None:
        return default
    if isinstance(result, bool):
        return result
    raise ExpressionError(f"Expected the expression to give a boolean, got value {describe(result)}")


def _constant(value: Any) -> Node:
    return lambda _: value


def _compile(raw: Any, path: str) -> Node:
    if isinstance(raw, list):
        return _compile_call(raw, path)
    if raw is None or isinstance(raw, str | int | float):
        return _constant(raw)
    kind = "object" if isinstance(raw, dict) else type(raw).__name__
    raise ExpressionError(f'Invalid type "{kind}"', path=path)


def _compile_call(raw: list[Any], path: str) -> Node:
    if not raw:
        raise ExpressionError("Missing function name in expression", path=path)
    name = raw[0]
    if not isinstance(name, str):
        raise ExpressionError("Function name in expression should be string", path=path)
    function = FUNCTIONS.get(name)
    if function is None:
        raise ExpressionError(f'Function "{name}" not implemented', path=path)
    raw_args = raw[1:]
    args = tuple(_compile(arg, f"{path}[{i}]") for i, arg in enumerate(raw_args, start=1))
    try:
        if function.check is not None:
            function.check(raw_args)
        count = len(raw_args)
        if count < function.min_args or (function.max_args is not None and count > function.max_args):
            raise arity_error(name, function.arity_text(), count)
    except ExpressionError as error:
        error.path = path
        raise
    impl = function.impl

    def call(ev: Evaluation) -> Any:
        values = [arg(ev) for arg in args]
        try:
            return impl(ev, values)
        except ExpressionError as error:
            if not error.path:
                error.path = path
            raise

    return call
