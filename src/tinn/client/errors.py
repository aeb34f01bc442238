"""Exceptions of the SDK: an HTTP error carries Altinn's problem details and validation issues."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tinn.client.models import ValidationIssue


class AltinnError(Exception):
    """Anything the SDK raises."""


class AltinnConnectionError(AltinnError):
    """The server could not be reached (after the retries the policy allows)."""


class AltinnHTTPError(AltinnError):
    """A response outside 2xx.

    ``problem`` is the RFC 7807 body when there is one (Altinn's ProblemDetails family), ``text``
    the raw body (Altinn's plain-string family), ``issues`` the validation issues found in it
    (``validationIssues`` of a 409 from ``process/next``, ``uploadValidationIssues``, or a list).
    """

    def __init__(
        self,
        status: int,
        method: str,
        url: str,
        *,
        text: str = "",
        problem: dict[str, Any] | None = None,
        issues: list[ValidationIssue] | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.text = text
        self.problem = problem
        self.issues = issues or []
        super().__init__(self._summary())

    @property
    def title(self) -> str | None:
        value = self.problem.get("title") if self.problem else None
        return value if isinstance(value, str) else None

    @property
    def detail(self) -> str | None:
        value = self.problem.get("detail") if self.problem else None
        return value if isinstance(value, str) else None

    def _summary(self) -> str:
        what = self.detail or self.title or self.text.strip().strip('"')[:300]
        return f"{self.method} {self.url} -> {self.status}" + (f": {what}" if what else "")


class NotFoundError(AltinnHTTPError):
    """404."""


class ForbiddenError(AltinnHTTPError):
    """401 or 403: the token is missing, invalid or lacks the right."""


class ConflictError(AltinnHTTPError):
    """409/412: a state conflict (process moved, validation failed for the task, version mismatch)."""


def _issues_from(body: Any) -> list[ValidationIssue]:
    if isinstance(body, list):
        return [ValidationIssue.from_json(item) for item in body if isinstance(item, dict)]
    if not isinstance(body, dict):
        return []
    found: list[ValidationIssue] = []
    for key in ("validationIssues", "uploadValidationIssues"):
        value = body.get(key)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and isinstance(item.get("issues"), list):
                    found.extend(ValidationIssue.from_json(i, item.get("source")) for i in item["issues"])
                elif isinstance(item, dict):
                    found.append(ValidationIssue.from_json(item))
        elif isinstance(value, dict):  # {source: [issues]}
            for source, items in value.items():
                if isinstance(items, list):
                    found.extend(ValidationIssue.from_json(i, source) for i in items if isinstance(i, dict))
    return found


def error_from_response(response: httpx.Response) -> AltinnHTTPError:
    """The exception for a non-2xx response whose body has been read."""
    text = response.text
    body: Any = None
    content_type = response.headers.get("content-type", "")
    if "json" in content_type and text.strip():
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError:
            body = None
    problem = body if isinstance(body, dict) else None
    issues = _issues_from(body)
    status = response.status_code
    cls: type[AltinnHTTPError] = AltinnHTTPError
    if status == 404:
        cls = NotFoundError
    elif status in (401, 403):
        cls = ForbiddenError
    elif status in (409, 412):
        cls = ConflictError
    return cls(
        status,
        response.request.method,
        str(response.request.url),
        text=text,
        problem=problem,
        issues=issues,
    )
