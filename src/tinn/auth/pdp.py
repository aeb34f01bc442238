"""The policy decision point other contexts call: ``authorizer.decide(principal, action, resource)``.

Builds the XACML request as Altinn's PEP does (subject from the token's claims plus the caller's
role codes for the resource party, from the register; resource org/app/party/instance and the
current task or end event), evaluates the app's policy and enforces the authentication-level
obligations. System users are authorised by the rights delegated to them in the register (the
actions their system-user file lists for the customer party), as Altinn localtest does.

Decisions are cached. The register and the policies are immutable for the life of the process,
so a cached decision can never outlive the facts it was made from.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from tinn.appdef.registry import AppRegistry
from tinn.auth.principal import Principal, PrincipalKind
from tinn.auth.xacml import Decision, Effect, Enforcement, XacmlRequest, enforce_detailed, evaluate
from tinn.register.service import Register

RESOURCE_ORG = "urn:altinn:org"
RESOURCE_APP = "urn:altinn:app"
RESOURCE_PARTY = "urn:altinn:partyid"
RESOURCE_INSTANCE = "urn:altinn:instance-id"
RESOURCE_TASK = "urn:altinn:task"
RESOURCE_END_EVENT = "urn:altinn:end-event"
RESOURCE_APP_RESOURCE = "urn:altinn:appresource"

_DENY = Enforcement(authorized=False)
_PERMIT = Enforcement(authorized=True)
_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """What an action is performed on: an app, optionally for a party, an instance, a task."""

    org: str
    app: str
    party_id: int | None = None
    instance_id: str | None = None  # "{partyId}/{guid}"
    task: str | None = None
    end_event: str | None = None
    app_resource: str | None = None  # e.g. "events"

    def attributes(self) -> dict[str, tuple[str, ...]]:
        attributes: dict[str, tuple[str, ...]] = {RESOURCE_ORG: (self.org,), RESOURCE_APP: (self.app,)}
        if self.party_id is not None:
            attributes[RESOURCE_PARTY] = (str(self.party_id),)
        if self.instance_id is not None:
            attributes[RESOURCE_INSTANCE] = (self.instance_id,)
        if self.task is not None:
            attributes[RESOURCE_TASK] = (self.task,)
        elif self.end_event is not None:
            attributes[RESOURCE_END_EVENT] = (self.end_event,)
        if self.app_resource is not None:
            attributes[RESOURCE_APP_RESOURCE] = (self.app_resource,)
        return attributes


class Authorizer:
    def __init__(self, apps: AppRegistry, register: Register, *, cache_size: int = _CACHE_SIZE) -> None:
        self._apps = apps
        self._register = register
        self._cache: OrderedDict[tuple[object, ...], Enforcement] = OrderedDict()
        self._cache_size = cache_size

    def roles(self, principal: Principal, party_id: int | None) -> frozenset[str]:
        """Role codes (or, for a system user, delegated actions) the caller holds for the party."""
        if party_id is None:
            return frozenset()
        if principal.kind is PrincipalKind.SYSTEM_USER and principal.system_user_id:
            return self._register.roles(party_id, system_user_id=principal.system_user_id)
        if principal.user_id is not None:
            return self._register.roles(party_id, user_id=principal.user_id)
        return frozenset()

    def decide(self, principal: Principal, action: str, resource: ResourceRef) -> Enforcement:
        key = (_identity(principal), action, resource)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        result = self._decide(principal, action, resource)
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    def authorize(self, principal: Principal, action: str, resource: ResourceRef) -> bool:
        return self.decide(principal, action, resource).authorized

    def authorize_any(self, principal: Principal, actions: Iterable[str], resource: ResourceRef) -> bool:
        return any(self.authorize(principal, action, resource) for action in actions)

    def raw_decision(self, principal: Principal, action: str, resource: ResourceRef) -> Decision:
        """The policy's decision before enforcement (for tests and diagnostics)."""
        definition = self._apps.get(resource.org, resource.app)
        if definition is None or definition.policy is None:
            return Decision(Effect.NOT_APPLICABLE)
        request = XacmlRequest(
            subject=principal.xacml_subject(self.roles(principal, resource.party_id)),
            action=action,
            resource=resource.attributes(),
        )
        return evaluate(definition.policy, request)

    def _decide(self, principal: Principal, action: str, resource: ResourceRef) -> Enforcement:
        if principal.kind is PrincipalKind.SYSTEM_USER:
            rights = self.roles(principal, resource.party_id)
            return _PERMIT if action.casefold() in {r.casefold() for r in rights} else _DENY
        decision = self.raw_decision(principal, action, resource)
        return enforce_detailed(decision, principal.auth_level, principal.org is not None)


def _identity(principal: Principal) -> tuple[object, ...]:
    """What a decision depends on from the caller: identity, level, org and the token's claims."""
    return (
        principal.kind,
        principal.user_id,
        principal.party_id,
        principal.org,
        principal.org_number,
        principal.system_user_id,
        principal.auth_level,
        principal.scope,
        principal.token_id,
    )
