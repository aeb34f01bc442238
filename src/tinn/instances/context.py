"""What one App API call works with: the services, the app, the caller and the language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from tinn.appdef.definition import AppDefinition
from tinn.applogic import AppLogic, HookContext
from tinn.auth.pdp import ResourceRef
from tinn.auth.principal import Principal, PrincipalKind
from tinn.instances.links import Links
from tinn.instances.models import Instance, PlatformUser
from tinn.services import Services


@dataclass
class AppContext:
    services: Services
    definition: AppDefinition
    principal: Principal
    language: str | None = None

    @property
    def org(self) -> str:
        return self.definition.org

    @property
    def app(self) -> str:
        return self.definition.app

    @property
    def logic(self) -> AppLogic:
        return self.definition.logic

    def now(self) -> datetime:
        return self.services.clock.now()

    @cached_property
    def links(self) -> Links:
        settings = self.services.settings
        return Links(settings.effective_apps_url, settings.effective_platform_url)

    @property
    def performed_by(self) -> str:
        return self.principal.performed_by

    @property
    def is_app_owner(self) -> bool:
        """The caller is the service owner of this app (Storage's "app owner")."""
        return self.principal.is_service_owner_of(self.org)

    @property
    def is_service_owner(self) -> bool:
        return self.principal.kind is PrincipalKind.SERVICE_OWNER

    def platform_user(self) -> PlatformUser:
        return PlatformUser.model_validate(self.principal.platform_user())

    def resource(self, instance: Instance | None = None, *, party_id: int | None = None) -> ResourceRef:
        """The PDP resource for the app, a party, or an instance in its current state."""
        if instance is None:
            return ResourceRef(self.org, self.app, party_id)
        process = instance.process
        task = process.current_task.element_id if process and process.current_task else None
        end_event = process.end_event if process and not task else None
        return ResourceRef(
            self.org,
            self.app,
            int(instance.instance_owner.party_id or 0),
            instance.id,
            task,
            end_event,
        )

    def authorize(
        self, action: str, instance: Instance | None = None, *, party_id: int | None = None
    ) -> bool:
        return self.services.authorizer.authorize(
            self.principal, action, self.resource(instance, party_id=party_id)
        )

    def hook_context(self, instance: Instance) -> HookContext:
        return HookContext(
            instance=instance.model_copy(deep=True),
            org=self.org,
            app=self.app,
            language=self.language,
            user_id=self.principal.user_id,
            party_id=self.principal.party_id,
            org_number=self.principal.org_number,
            service_owner=self.principal.org,
        )
