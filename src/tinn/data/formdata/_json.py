"""Form data JSON: reading bodies as System.Text.Json with web defaults does, and writing it back."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

from tinn.data.formdata._model import ROW_ID, FormDataError, FormModel, FormProperty, FormType
from tinn.data.formdata._values import (
    MAX_NUMBER_LITERAL,
    ConversionError,
    coerce_json_value,
    normalise_guid,
)

MAX_JSON_DEPTH = 64  # JsonSerializerOptions.MaxDepth default
MAX_JSON_BYTES = 64 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_ROW_ID_FOLDED = ROW_ID.casefold()


class _NumberTooLong(ValueError):
    pass


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_LITERAL:
        raise _NumberTooLong(text)
    return int(text)


def _parse_float(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_LITERAL:
        raise _NumberTooLong(text)
    return Decimal(text)


def _reject_constant(name: str) -> Any:
    raise FormDataError(f"'{name[0]}' is an invalid start of a value.")


def _depth_error() -> FormDataError:
    return FormDataError(
        f"The maximum configured depth of {MAX_JSON_DEPTH} has been exceeded. Cannot read next JSON object."
    )


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse containers nested deeper than ``limit`` (System.Text.Json's MaxDepth, default 64)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise _depth_error()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def parse_json(body: bytes) -> Any:
    """Decode a JSON body: numbers exact (``Decimal``), NaN/Infinity refused, bounded depth and size."""
    if len(body) > MAX_JSON_BYTES:
        raise FormDataError(f"The JSON body exceeds {MAX_JSON_BYTES} bytes.")
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormDataError(f"The JSON body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        value = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant
        )
    except RecursionError:
        raise _depth_error() from None
    except _NumberTooLong as exc:
        raise FormDataError(f"The JSON number '{str(exc)[:40]}...' is too long.") from None
    except json.JSONDecodeError as exc:
        raise FormDataError(
            f"{exc.msg}. LineNumber: {exc.lineno - 1} | BytePositionInLine: {exc.colno - 1}."
        ) from None
    check_depth(value)
    return value


class _Coercer:
    def __init__(self, strict: bool) -> None:
        self._strict = strict

    def object(self, ftype: FormType, value: dict[str, Any], path: str) -> dict[str, Any]:
        result: dict[str, Any] = {p.name: p.fixed for p in ftype.properties}
        row_id: str | None = None
        for key, raw in value.items():
            prop = ftype.lookup(key) if isinstance(key, str) else None
            if prop is None:
                if ftype.is_row and isinstance(key, str) and key.casefold() == _ROW_ID_FOLDED:
                    row_id = self._row_id(raw, f"{path}.{key}")
                elif self._strict:
                    raise FormDataError(
                        f"The JSON property '{key}' could not be mapped to any .NET member contained in type "
                        f"'{ftype.name}'."
                    )
                continue
            result[prop.name] = self.value(prop, raw, f"{path}.{key}")
        return {ROW_ID: row_id, **result} if row_id else result

    @staticmethod
    def _row_id(raw: Any, path: str) -> str | None:
        if isinstance(raw, str):
            try:
                return normalise_guid(raw)
            except ConversionError:
                pass
        raise FormDataError(f"The JSON value could not be converted to System.Guid. Path: {path}")

    def value(self, prop: FormProperty, raw: Any, path: str) -> Any:
        if raw is None:
            if not prop.nullable:
                raise _mismatch(prop.kind.clr_name, path)
            return None
        if prop.is_list:
            if not isinstance(raw, list):
                raise _mismatch(f"System.Collections.Generic.List`1[{_type_name(prop)}]", path)
            return [self._single(prop, item, f"{path}[{i}]") for i, item in enumerate(raw)]
        return self._single(prop, raw, path)

    def _single(self, prop: FormProperty, raw: Any, path: str) -> Any:
        if raw is None:
            if prop.kind.is_value_type:
                raise _mismatch(prop.kind.clr_name, path)
            return None
        if prop.type is not None:
            if not isinstance(raw, dict):
                raise _mismatch(prop.type.name, path)
            return self.object(prop.type, raw, path)
        try:
            converted = coerce_json_value(prop.kind, raw)
        except ConversionError as exc:
            raise FormDataError(f"{exc} Path: {path}") from None
        if isinstance(converted, str):
            try:
                converted.encode("utf-8")
            except UnicodeEncodeError:
                raise FormDataError(
                    f"Cannot read invalid UTF-16 JSON text as valid UTF-8. Path: {path}"
                ) from None
        return converted


def _type_name(prop: FormProperty) -> str:
    return prop.type.name if prop.type is not None else prop.kind.clr_name


def _mismatch(type_name: str, path: str) -> FormDataError:
    return FormDataError(f"The JSON value could not be converted to {type_name}. Path: {path}")


def coerce_data(model: FormModel, value: Any, *, strict: bool = False) -> dict[str, Any]:
    """Check decoded JSON against the model and return it in the model's shape.

    Members match case-insensitively; numbers are also read from strings (web defaults); every
    declared property is present in the result. Unknown members are ignored, or with ``strict``
    (the check a PATCH result must pass) refused. Raises :class:`FormDataError`.
    """
    if value is None:
        raise FormDataError("Json deserialization returned null")
    if not isinstance(value, dict):
        raise _mismatch(model.class_name, "$")
    check_depth(value)
    return _Coercer(strict).object(model.root, value, "$")


def coerce_value(prop: FormProperty, value: Any, path: str) -> Any:
    """Check one property value (``path`` names it in errors); see :func:`coerce_data`."""
    return _Coercer(strict=False).value(prop, value, path)


def json_to_data(model: FormModel, body: bytes, *, strict: bool = False) -> dict[str, Any]:
    """Read a JSON request body into the model's shape (see :func:`coerce_data`)."""
    return coerce_data(model, parse_json(body), strict=strict)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"{type(value).__name__} is not form data")


def dump_json(data: Any) -> bytes:
    """Serialise form data (with exact ``Decimal`` numbers) to UTF-8 JSON, non-ASCII unescaped."""
    return orjson.dumps(data, default=_default)


def empty_object(ftype: FormType) -> dict[str, Any]:
    """A new instance of the class: every property null (lists too), fixed attributes set."""
    return {p.name: p.fixed for p in ftype.properties}
