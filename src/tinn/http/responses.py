"""JSON responses serialised the way Altinn does: camelCase keys, nulls written, no ASCII escaping."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


def to_jsonable(content: Any) -> Any:
    if isinstance(content, BaseModel):
        return content.model_dump(mode="json", by_alias=True)
    if isinstance(content, list):
        return [to_jsonable(item) for item in content]
    return content


class JsonResponse(Response):
    media_type = JSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(to_jsonable(content))


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> JsonResponse:
    return JsonResponse(content, status_code=status_code, headers=headers)
