"""What the Events service functions need from a process's services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tinn.clock import Clock
from tinn.events.authorization import EventAuthorizer
from tinn.settings import Settings
from tinn.storage.db import Database

if TYPE_CHECKING:
    from tinn.services import Services


@dataclass(frozen=True)
class EventsContext:
    db: Database
    clock: Clock
    settings: Settings
    authz: EventAuthorizer

    @classmethod
    def of(cls, services: Services) -> EventsContext:
        return cls(
            db=services.db,
            clock=services.clock,
            settings=services.settings,
            authz=EventAuthorizer(services.authorizer, services.register),
        )

    @property
    def events_base_url(self) -> str:
        return f"{self.settings.effective_platform_url}/events/api/v1"
