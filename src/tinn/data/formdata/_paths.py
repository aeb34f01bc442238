"""Dot-path access (prefill, presentation fields, data values) and repeating-group row ids."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from tinn.data.formdata._json import coerce_value, empty_object
from tinn.data.formdata._model import ROW_ID, FormDataError, FormModel, FormProperty, FormType
from tinn.data.formdata._values import ConversionError, ValueKind, convert_for_assignment

_INDEXED = re.compile(r"([^\s\[\].]+)\[(\d+)\]")


def empty_data(model: FormModel) -> dict[str, Any]:
    """A new instance of the model class: all properties null (lists too), fixed attributes set."""
    return empty_object(model.root)


def _split(path: str) -> list[str]:
    # Altinn removes '-' from the whole path, then matches C# property names ignoring case.
    parts = path.replace("-", "").split(".")
    if not path or any(not part for part in parts):
        raise FormDataError(f"'{path}' is not a valid data model path")
    return parts


def _find_key(data: dict[str, Any], key: str) -> str | None:
    if key in data:
        return key
    folded = key.casefold()
    return next((k for k in data if k.replace("-", "").casefold() == folded), None)


def get_path(data: dict[str, Any], path: str) -> Any:
    """The value at a dot path (``a.b.c``, ``a.rows[1].c``), or ``None`` when a step is empty.

    Names match the C# property names: ``-`` removed, case ignored. A name that is not in the
    data raises :class:`FormDataError` (Altinn fails the same way on a misconfigured path).
    """
    current: Any = data
    parts = _split(path)
    for position, part in enumerate(parts):
        indexed = _INDEXED.fullmatch(part)
        key, index = (indexed[1], int(indexed[2])) if indexed else (part, None)
        if not isinstance(current, dict):
            return None
        found = _find_key(current, key)
        if found is None:
            raise FormDataError(
                f"Could not find the field {path}, property {key} is not defined in the data model."
            )
        current = current[found]
        if index is not None:
            if not isinstance(current, list) or index >= len(current):
                return None
            current = current[index]
        if current is None:
            return None
        if isinstance(current, list) and position < len(parts) - 1:
            return None  # a list needs a row index to go further
    return current


def _lookup_clr(ftype: FormType, key: str) -> FormProperty | None:
    folded = key.casefold()
    return (
        ftype.by_clr_folded.get(folded)
        or ftype.by_name_folded.get(folded)
        or next((p for p in ftype.properties if p.name.replace("-", "").casefold() == folded), None)
    )


def set_path(
    model: FormModel, data: dict[str, Any], path: str, value: Any, *, overwrite: bool = True
) -> bool:
    """Assign ``value`` at a dot path in ``data`` (in place), as Altinn's prefill does.

    Intermediate objects are created; the value is converted to the property's type (strings to
    numbers, booleans, dates...). With ``overwrite=False`` a non-null value is kept and ``False``
    returned. Unknown names, paths through lists and unconvertible values raise
    :class:`FormDataError`.
    """
    ftype = model.root
    current = data
    parts = _split(path)
    for position, part in enumerate(parts):
        prop = _lookup_clr(ftype, part)
        if prop is None:
            raise FormDataError(
                f"Could not prefill the field {path}, property {part} is not defined in the data model"
            )
        if position == len(parts) - 1:
            if current.get(prop.name) is not None and not overwrite:
                return False
            current[prop.name] = _convert(prop, value, path)
            return True
        if prop.type is None or prop.is_list:
            raise FormDataError(f"Could not prefill the field {path}, property {part} is not an object")
        child = current.get(prop.name)
        if not isinstance(child, dict):
            child = empty_object(prop.type)
            current[prop.name] = child
        current, ftype = child, prop.type
    raise AssertionError("unreachable")  # pragma: no cover - the loop always returns


def _convert(prop: FormProperty, value: Any, path: str) -> Any:
    if value is None or prop.is_list or prop.kind is ValueKind.OBJECT:
        return coerce_value(prop, value, f"$.{path}")
    try:
        return convert_for_assignment(prop.kind, value)
    except ConversionError as exc:
        raise FormDataError(f"Could not prefill the field {path}: {exc}") from None


def strip_row_ids(data: Any) -> Any:
    """A copy of ``data`` without ``altinnRowId`` anywhere (GET without ``includeRowId``, task end)."""
    if isinstance(data, dict):
        return {k: strip_row_ids(v) for k, v in data.items() if k != ROW_ID}
    if isinstance(data, list):
        return [strip_row_ids(item) for item in data]
    return data


def add_row_ids(
    data: dict[str, Any], model: FormModel, *, new_id: Callable[[], str] = lambda: str(uuid.uuid4())
) -> dict[str, Any]:
    """A copy of ``data`` where every repeating-group row (object of a row class) has an ``altinnRowId``.

    Rows that already have one keep it; the id comes first, as the C# property is declared first.
    """
    return _with_row_ids(model.root, data, new_id)


def _with_row_ids(ftype: FormType, value: dict[str, Any], new_id: Callable[[], str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if ftype.is_row:
        result[ROW_ID] = value.get(ROW_ID) or new_id()
    for key, item in value.items():
        if key == ROW_ID:
            continue
        prop = ftype.by_name.get(key)
        if prop is None or prop.type is None or item is None:
            result[key] = item
        elif prop.is_list and isinstance(item, list):
            result[key] = [
                _with_row_ids(prop.type, row, new_id) if isinstance(row, dict) else row for row in item
            ]
        elif isinstance(item, dict):
            result[key] = _with_row_ids(prop.type, item, new_id)
        else:
            result[key] = item
    return result
