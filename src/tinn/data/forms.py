"""Form data in and out: request bodies -> model data -> the stored document, and back (app notes 5.1)."""

from __future__ import annotations

from typing import Any, Literal

from tinn.appdef.models import DataType
from tinn.data import formdata
from tinn.data.formdata import FormDataError, FormModel
from tinn.data.upload import form_data_format
from tinn.http.errors import Problem

XML = "application/xml"
JSON = "application/json"

StoredFormat = Literal["xml", "json"]


def body_format(content_type: str | None) -> StoredFormat | None:
    """How a form-data request body is read (app notes 5.1); None means 415."""
    return form_data_format(content_type)


def storage_format(data_type: DataType) -> StoredFormat:
    """The first of application/xml and application/json in allowedContentTypes; XML by default."""
    for content_type in data_type.allowed_content_types or ():
        lowered = content_type.lower()
        if lowered == XML:
            return "xml"
        if lowered == JSON:
            return "json"
    return "xml"


def parse_body(model: FormModel, content_type: str | None, body: bytes) -> dict[str, Any]:
    """Deserialise a form-data request body, with Altinn's error responses."""
    fmt = body_format(content_type)
    if fmt is None:
        raise Problem(
            415,
            "Unsupported content type",
            f"Content type {content_type} is not supported for deserialization",
        )
    try:
        if fmt == "xml":
            return formdata.xml_to_data(model, body)
        return formdata.json_to_data(model, body)
    except FormDataError as exc:
        title = "Failed to deserialize XML" if fmt == "xml" else "Failed to deserialize JSON"
        raise Problem(400, title, exc.message) from None


def serialize(model: FormModel, data: dict[str, Any], fmt: StoredFormat) -> tuple[bytes, str]:
    """The stored document and its content type."""
    if fmt == "xml":
        return formdata.data_to_xml(model, data), XML
    return formdata.dump_json(formdata.strip_row_ids(data)), JSON


def deserialize_stored(model: FormModel, content: bytes, content_type: str | None) -> dict[str, Any]:
    """Read a stored document back into model data."""
    if content_type and JSON in content_type.lower():
        return formdata.json_to_data(model, content)
    return formdata.xml_to_data(model, content)


def response_body(
    model: FormModel, data: dict[str, Any], accept: str | None, *, include_row_id: bool
) -> tuple[bytes, str]:
    """Form data for a GET: JSON by default, XML when the client asks for it (Accept)."""
    if not include_row_id:
        data = formdata.strip_row_ids(data)
    if accept and XML in accept.lower() and JSON not in accept.lower():
        return formdata.data_to_xml(model, data), "application/xml; charset=utf-8"
    return formdata.dump_json(data), "application/json; charset=utf-8"
