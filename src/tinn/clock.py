"""The clock behind every timestamp Tinn writes; tests swap in a fixed one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from tinn.timeutil import utcnow


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta
