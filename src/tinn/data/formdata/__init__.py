"""Form data models without C# classes.

Altinn generates a C# class per form data type from the app's ``models/`` files and lets
XmlSerializer and System.Text.Json do the rest. Tinn builds a :class:`FormModel` from the same
files and does what the class and the serialisers do:

* :func:`find_model_name` / :func:`load_form_model` — data type → ``models/{name}.*`` → model
  (:func:`model_from_json_schema` for a schema already in memory).
* :func:`xml_to_data` / :func:`data_to_xml` — the stored XML and the JSON shape of the class.
* :func:`json_to_data` / :func:`coerce_data` — request bodies and PATCH results (``strict``).
* :func:`empty_data`, :func:`get_path`, :func:`set_path` — new instances, prefill, presentation fields.
* :func:`validate_xsd`, :func:`validate_json_schema` — issues with JSON field paths.
* :func:`strip_row_ids`, :func:`add_row_ids` — ``altinnRowId`` on repeating-group rows.

Data is plain JSON-shaped Python: ``dict``/``list``/``str``/``bool``/``None``, ``int`` for
``int``/``long``/``short`` properties, ``Decimal`` for ``decimal`` ones (serialise with
:func:`dump_json`), ``float`` for ``double``.
"""

from __future__ import annotations

from tinn.data.formdata._json import MAX_JSON_DEPTH, coerce_data, dump_json, json_to_data, parse_json
from tinn.data.formdata._load import find_model_name, load_form_model, model_from_json_schema
from tinn.data.formdata._model import (
    ROW_ID,
    FormDataError,
    FormModel,
    FormModelError,
    FormProperty,
    FormType,
    Node,
)
from tinn.data.formdata._paths import add_row_ids, empty_data, get_path, set_path, strip_row_ids
from tinn.data.formdata._validation import FieldIssue, validate_json_schema, validate_xsd
from tinn.data.formdata._values import ValueKind, to_display_string
from tinn.data.formdata._xml import data_to_xml, prepare_for_storage, xml_to_data

__all__ = [
    "MAX_JSON_DEPTH",
    "ROW_ID",
    "FieldIssue",
    "FormDataError",
    "FormModel",
    "FormModelError",
    "FormProperty",
    "FormType",
    "Node",
    "ValueKind",
    "add_row_ids",
    "coerce_data",
    "data_to_xml",
    "dump_json",
    "empty_data",
    "find_model_name",
    "get_path",
    "json_to_data",
    "load_form_model",
    "model_from_json_schema",
    "parse_json",
    "prepare_for_storage",
    "set_path",
    "strip_row_ids",
    "to_display_string",
    "validate_json_schema",
    "validate_xsd",
    "xml_to_data",
]
