"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, Dialect, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes with microsecond precision.

    PostgreSQL stores ``timestamptz``; SQLite stores fixed-width ISO text of the naive UTC
    value, so ordering and comparisons in SQL agree on both (keyset pagination relies on it).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_type() -> Any:
    """JSON documents: JSONB on PostgreSQL, JSON text on SQLite."""
    return JSON().with_variant(JSONB(), "postgresql")


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(value: str | bytes) -> Any:
    return orjson.loads(value)
