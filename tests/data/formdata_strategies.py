"""Hypothesis strategies for form data that conforms to a FormModel and is already in stored form.

"Stored form" is what reading XML produces: lists are lists (never null), list items are not
null, text content is never blank, a Seres value group is only present with its value, and
strings hold only characters XML can carry.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from tinn.data.formdata import ROW_ID, FormModel, FormProperty, FormType, Node, ValueKind

MAX_NESTING = 3

_XML_CHARACTERS = st.characters(
    codec="utf-8",
    exclude_categories=["Cs"],
    exclude_characters="".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r")
    + "\ufeff\ufffe\uffff",
)

_TEXT = st.text(_XML_CHARACTERS, max_size=12)
_NON_BLANK_TEXT = _TEXT.filter(lambda s: s.strip() != "")

_DECIMALS = st.builds(
    lambda mantissa, scale: Decimal(mantissa).scaleb(-scale),
    st.integers(-(10**18), 10**18),
    st.integers(0, 10),
)


def _datetime_text(moment: datetime, zone: str) -> str:
    fraction = f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + fraction + zone


_DATETIMES = st.builds(_datetime_text, st.datetimes(), st.sampled_from(["", "Z", "+02:00", "-05:30"]))

_SCALARS: dict[ValueKind, st.SearchStrategy[Any]] = {
    ValueKind.STRING: _TEXT,
    ValueKind.BOOLEAN: st.booleans(),
    ValueKind.SHORT: st.integers(-(2**15), 2**15 - 1),
    ValueKind.INT: st.integers(-(2**31), 2**31 - 1),
    ValueKind.LONG: st.integers(-(2**63), 2**63 - 1),
    ValueKind.DECIMAL: _DECIMALS,
    ValueKind.DOUBLE: st.floats(allow_nan=False, allow_infinity=False),
    ValueKind.DATETIME: _DATETIMES,
}


def model_data(model: FormModel) -> st.SearchStrategy[dict[str, Any]]:
    return _object(model.root, 0)


def _object(ftype: FormType, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    fields = {prop.name: _property(ftype, prop, depth) for prop in ftype.properties}
    base = st.fixed_dictionaries(fields)
    if not ftype.is_row:
        return base
    return st.builds(
        lambda row_id, values: {ROW_ID: row_id, **values} if row_id else values,
        st.one_of(st.none(), st.uuids().map(str)),
        base,
    )


def _property(owner: FormType, prop: FormProperty, depth: int) -> st.SearchStrategy[Any]:
    if prop.is_list:
        if prop.type is not None and depth >= MAX_NESTING:
            return st.just([])
        return st.lists(_single(prop, depth), max_size=3)
    if prop.type is not None and depth >= MAX_NESTING:
        return st.none()
    value = _single(prop, depth)
    if prop.fixed is not None or (prop.node is Node.TEXT and owner.omit_without_text):
        return value
    return st.one_of(st.none(), value)


def _single(prop: FormProperty, depth: int) -> st.SearchStrategy[Any]:
    if prop.type is not None:
        return _object(prop.type, depth + 1)
    if prop.node is Node.TEXT and prop.kind is ValueKind.STRING:
        return _NON_BLANK_TEXT
    return _SCALARS[prop.kind]
