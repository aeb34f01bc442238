"""Typed views of the wire JSON the SDK returns (the full document stays in ``raw``)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any

SEVERITY_NAMES = {0: "unspecified", 1: "error", 2: "warning", 3: "informational", 4: "fixed", 5: "success"}
RECEIPT_DATA_TYPE = "ref-data-as-pdf"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class ValidationIssue:
    """One issue of ``GET .../validate`` or of a refused ``process/next`` (app notes 2.7)."""

    severity: int
    code: str | None
    description: str | None
    field: str | None = None
    data_element_id: str | None = None
    source: str | None = None
    raw: dict[str, Any] = dataclass_field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, item: dict[str, Any], source: object = None) -> ValidationIssue:
        severity = item.get("severity")
        return cls(
            severity=severity if isinstance(severity, int) else 0,
            code=item.get("code"),
            description=item.get("description"),
            field=item.get("field"),
            data_element_id=item.get("dataElementId"),
            source=item.get("source") or (source if isinstance(source, str) else None),
            raw=item,
        )

    @property
    def severity_name(self) -> str:
        return SEVERITY_NAMES.get(self.severity, str(self.severity))

    @property
    def is_error(self) -> bool:
        """Only errors (severity 1) block ``process/next``."""
        return self.severity == 1

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.severity_name}{where}: {self.description or self.code}"


@dataclass(frozen=True)
class DataElement:
    raw: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.raw["id"])

    @property
    def data_type(self) -> str:
        return str(self.raw.get("dataType"))

    @property
    def filename(self) -> str | None:
        value = self.raw.get("filename")
        return value if isinstance(value, str) else None

    @property
    def content_type(self) -> str | None:
        value = self.raw.get("contentType")
        return value if isinstance(value, str) else None

    @property
    def size(self) -> int:
        value = self.raw.get("size")
        return value if isinstance(value, int) else 0


@dataclass(frozen=True)
class Instance:
    """An instance as the App API or Storage returns it."""

    raw: dict[str, Any]

    @property
    def id(self) -> str:
        """``{instanceOwnerPartyId}/{instanceGuid}``."""
        return str(self.raw["id"])

    @property
    def party_id(self) -> int:
        return int(self.id.split("/")[0])

    @property
    def guid(self) -> str:
        return self.id.split("/")[1]

    @property
    def app_id(self) -> str:
        return str(self.raw.get("appId"))

    @property
    def org(self) -> str:
        return str(self.raw.get("org"))

    @property
    def data(self) -> list[DataElement]:
        return [DataElement(item) for item in self.raw.get("data") or [] if isinstance(item, dict)]

    def elements(self, data_type: str) -> list[DataElement]:
        return [element for element in self.data if element.data_type == data_type]

    @property
    def current_task(self) -> str | None:
        process = self.raw.get("process") or {}
        task = process.get("currentTask") if isinstance(process, dict) else None
        value = task.get("elementId") if isinstance(task, dict) else None
        return value if isinstance(value, str) else None

    @property
    def process_ended(self) -> datetime | None:
        process = self.raw.get("process") or {}
        return _parse_time(process.get("ended")) if isinstance(process, dict) else None

    @property
    def last_changed(self) -> datetime | None:
        return _parse_time(self.raw.get("lastChanged"))

    def confirmed_by(self, org: str) -> bool:
        """Whether ``org`` has confirmed the instance complete (``completeConfirmations``)."""
        return any(
            isinstance(item, dict) and item.get("stakeholderId") == org
            for item in self.raw.get("completeConfirmations") or []
        )


@dataclass(frozen=True)
class ProcessState:
    """``AppProcessState`` (``GET``/``PUT .../process[/next]``)."""

    raw: dict[str, Any]

    @property
    def current_task(self) -> str | None:
        task = self.raw.get("currentTask")
        value = task.get("elementId") if isinstance(task, dict) else None
        return value if isinstance(value, str) else None

    @property
    def ended(self) -> bool:
        return bool(self.raw.get("ended"))
