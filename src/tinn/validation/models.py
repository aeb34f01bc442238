"""Wire models of validation results (app notes 2.7): issues with their source, and source pairs.

Altinn writes ``ValidationIssueWithSource`` with System.Text.Json: ``severity`` as a number,
``dataElementId``/``field``/``code``/``description`` always (null when unset), ``source`` always,
``noIncrementalUpdates`` only when true and the ``customText*`` members only when not null.
:meth:`ValidationIssueWithSource.to_json` produces exactly that shape; ``model_validate`` reads it
back (client side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Severity(IntEnum):
    """``ValidationIssueSeverity``. Only :attr:`Error` blocks ``process/next``."""

    Unspecified = 0
    Error = 1
    Warning = 2
    Informational = 3
    Fixed = 4  # obsolete, only used by version 3 of the frontend
    Success = 5


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


class ValidationIssueWithSource(_Wire):
    """One validation finding, with the source (validator) that reported it."""

    severity: Severity
    data_element_id: str | None = None
    field: str | None = None
    code: str | None = None
    description: str | None = None
    source: str
    no_incremental_updates: bool = False
    custom_text_key: str | None = None
    # Altinn marks the positional form obsolete but still writes it when set.
    custom_text_params: tuple[str, ...] | None = None
    custom_text_parameters: Mapping[str, str] | None = Field(default=None)

    def to_json(self) -> dict[str, Any]:
        """The App API JSON object, member for member as Altinn writes it."""
        out: dict[str, Any] = {
            "severity": int(self.severity),
            "dataElementId": self.data_element_id,
            "field": self.field,
            "code": self.code,
            "description": self.description,
            "source": self.source,
        }
        if self.no_incremental_updates:
            out["noIncrementalUpdates"] = True
        if self.custom_text_key is not None:
            out["customTextKey"] = self.custom_text_key
        if self.custom_text_params is not None:
            out["customTextParams"] = list(self.custom_text_params)
        if self.custom_text_parameters is not None:
            out["customTextParameters"] = dict(self.custom_text_parameters)
        return out


@dataclass(slots=True)
class ValidationIssue:
    """An issue as a validator reports it; the service adds the source (Altinn's ``ValidationIssue``).

    An empty ``description`` with a ``custom_text_key`` is filled in from the app's texts.
    """

    severity: Severity
    code: str | None
    description: str | None = None
    field: str | None = None
    data_element_id: str | None = None
    custom_text_key: str | None = None
    custom_text_params: tuple[str, ...] | None = None
    custom_text_parameters: dict[str, str] | None = None

    def with_source(self, source: str, *, no_incremental_updates: bool) -> ValidationIssueWithSource:
        return ValidationIssueWithSource(
            severity=self.severity,
            data_element_id=self.data_element_id,
            field=self.field,
            code=self.code,
            description=self.description,
            source=source,
            no_incremental_updates=no_incremental_updates,
            custom_text_key=self.custom_text_key,
            custom_text_params=self.custom_text_params,
            custom_text_parameters=self.custom_text_parameters,
        )


class ValidationSourcePair(_Wire):
    """The issues of one validator in an incremental run; present even when ``issues`` is empty,
    which tells the client that the source's earlier issues are gone."""

    source: str
    issues: tuple[ValidationIssueWithSource, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "issues": [issue.to_json() for issue in self.issues]}


def issues_json(issues: Sequence[ValidationIssueWithSource]) -> list[dict[str, Any]]:
    """A flat issue list (``GET .../validate``, the ``validationIssues`` of a 409) as JSON."""
    return [issue.to_json() for issue in issues]


def pairs_json(pairs: Sequence[ValidationSourcePair]) -> list[dict[str, Any]]:
    """Source pairs (``validationIssues`` of PATCH/POST data responses) as JSON."""
    return [pair.to_json() for pair in pairs]
