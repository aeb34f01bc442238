"""Scope checks for the App API's instance routes (app notes 0.3 item 5, platform notes 6.5).

Two policies, chosen per request by the caller's class and the route's access:

* **Custom scopes** (``apiScopes`` in the app's metadata), as app-lib's ``ScopeAuthorizationMiddleware``:
  when the app names a read or write scope for the caller's class, the caller must hold one of the
  accepted scopes or gets a 403 ProblemDetails ``{"title": "Forbidden", "status": 403, "detail":
  <the app's text for errorMessageTextResourceKey, else "Insufficient scope">, "instance": <path>}``.
  Users, self-identified users, organisations and system users are checked against
  ``apiScopes.users`` (the configured scope, ``altinn:portal/enduser`` or the matching
  ``altinn:serviceowner/instances.*`` scope is accepted); service owners against
  ``apiScopes.serviceOwners`` (only the configured scope). ``[app]`` in a scope is the app's name.
* **Default scopes** everywhere else: ``altinn:instances.read|write`` (or the portal's
  ``altinn:portal/enduser``) for users, organisations and system users,
  ``altinn:serviceowner/instances.read|write`` for service owners. Altinn only measures these, and
  so does Tinn by default: a request without one is logged (``invalid_scopes``) and counted
  (``tinn_invalid_scopes_total``) but served. ``TINN_ENFORCE_DEFAULT_SCOPES=true`` refuses it with
  the same 403.

Read access is GET, HEAD and OPTIONS; any other method needs the write scope. Scopes match exactly.

Instance routes call :func:`check_scopes` (or depend on :func:`require_instance_scopes`). Altinn
applies it to every route with an ``instanceOwnerPartyId``/``instanceGuid``/``instanceId`` path
parameter, plus ``POST instances/create`` (write) and the stateless data routes (read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import structlog
from fastapi import Depends, Request
from prometheus_client import Counter

from tinn.appdef.definition import DEFAULT_LANGUAGE, AppDefinition
from tinn.appdef.models import ApiScopes
from tinn.auth.dependencies import require_principal
from tinn.auth.principal import Principal, PrincipalKind
from tinn.http.errors import JSON, Problem, framework_problem
from tinn.services import Services, get_services

log = structlog.get_logger("tinn.auth.scopes")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PORTAL_SCOPE = "altinn:portal/enduser"
DEFAULT_MESSAGE_KEY = "authorization.scopes.insufficient"
DEFAULT_MESSAGE = "Insufficient scope"
APP_PLACEHOLDER = "[app]"

INVALID_SCOPES = Counter(
    "tinn_invalid_scopes",
    "Instance requests whose token lacks an accepted scope, by policy (default or custom), caller "
    "class, access and whether the request was refused.",
    ["policy", "caller", "access", "refused"],
)


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


class CallerClass(StrEnum):
    USERS = "users"
    SERVICE_OWNERS = "serviceOwners"


class ScopePolicy(StrEnum):
    CUSTOM = "custom"
    DEFAULT = "default"


_DEFAULT_SCOPES: Mapping[tuple[CallerClass, Access], frozenset[str]] = {
    (CallerClass.USERS, Access.READ): frozenset({"altinn:instances.read", PORTAL_SCOPE}),
    (CallerClass.USERS, Access.WRITE): frozenset({"altinn:instances.write", PORTAL_SCOPE}),
    (CallerClass.SERVICE_OWNERS, Access.READ): frozenset({"altinn:serviceowner/instances.read"}),
    (CallerClass.SERVICE_OWNERS, Access.WRITE): frozenset({"altinn:serviceowner/instances.write"}),
}


@dataclass(frozen=True, slots=True)
class ScopeRequirement:
    """The scopes one request needs (any one of ``accepted``) and what a refusal says."""

    policy: ScopePolicy
    caller: CallerClass
    access: Access
    accepted: frozenset[str]
    message_key: str | None


def access_of(method: str) -> Access:
    return Access.READ if method.upper() in READ_METHODS else Access.WRITE


def caller_class(principal: Principal) -> CallerClass:
    """app-lib checks users, self-identified users, organisations and system users alike."""
    return CallerClass.SERVICE_OWNERS if principal.kind is PrincipalKind.SERVICE_OWNER else CallerClass.USERS


def has_custom_scopes(definition: AppDefinition) -> bool:
    """Whether the app defines any custom scope (only then does app-lib check them at all)."""
    scopes = definition.metadata.api_scopes
    if scopes is None:
        return False
    return any(
        _configured(group, access) is not None
        for group in (scopes.users, scopes.service_owners)
        for access in Access
    )


def _configured(group: ApiScopes | None, access: Access) -> str | None:
    if group is None:
        return None
    value = group.read if access is Access.READ else group.write
    return value if value is not None and value.strip() else None


def requirement(definition: AppDefinition, principal: Principal, access: Access) -> ScopeRequirement:
    """Which scopes ``principal`` needs for ``access`` to an instance of ``definition``."""
    caller = caller_class(principal)
    scopes = definition.metadata.api_scopes
    group = None
    if scopes is not None:
        group = scopes.users if caller is CallerClass.USERS else scopes.service_owners
    fallback_key = (scopes.error_message_text_resource_key if scopes else None) or DEFAULT_MESSAGE_KEY
    message_key = (group.error_message_text_resource_key if group else None) or fallback_key
    configured = _configured(group, access)
    if configured is None:
        return ScopeRequirement(
            ScopePolicy.DEFAULT, caller, access, _DEFAULT_SCOPES[(caller, access)], message_key
        )
    configured = configured.replace(APP_PLACEHOLDER, definition.app)
    if caller is CallerClass.USERS:
        accepted = frozenset({configured, PORTAL_SCOPE, f"altinn:serviceowner/instances.{access.value}"})
    else:
        accepted = frozenset({configured})
    return ScopeRequirement(ScopePolicy.CUSTOM, caller, access, accepted, message_key)


def _language(services: Services, principal: Principal) -> str:
    """The caller's language: a user's profile setting, else Bokmål (app-lib's ``GetLanguage``)."""
    if principal.is_user and principal.user_id is not None:
        profile = services.register.user(principal.user_id)
        preference = profile.profile_setting_preference if profile is not None else None
        if preference is not None and preference.language:
            return preference.language
    return DEFAULT_LANGUAGE


def insufficient_scope(
    request: Request, principal: Principal, definition: AppDefinition, message_key: str | None
) -> Problem:
    """The 403 app-lib writes when a scope is missing."""
    message = None
    if message_key:
        message = definition.text(message_key, _language(get_services(request), principal))
    return Problem(
        403,
        "Forbidden",
        message or DEFAULT_MESSAGE,
        instance=request.url.path,
        media_type=JSON,
    )


def check_scopes(
    request: Request,
    principal: Principal | None,
    definition: AppDefinition,
    *,
    access: Access | None = None,
) -> None:
    """Refuse (403 :class:`Problem`) an instance request whose token lacks the scope it needs.

    ``access`` defaults to the request method's (read for GET/HEAD/OPTIONS). Anonymous requests are
    not checked. A missing default scope is refused only with ``TINN_ENFORCE_DEFAULT_SCOPES``.
    """
    if principal is None:
        return
    needed = requirement(definition, principal, access or access_of(request.method))
    if not needed.accepted.isdisjoint(principal.scopes):
        return
    enforce = needed.policy is ScopePolicy.CUSTOM or get_services(request).settings.enforce_default_scopes
    INVALID_SCOPES.labels(
        needed.policy.value, needed.caller.value, needed.access.value, "true" if enforce else "false"
    ).inc()
    log.warning(
        "invalid_scopes",
        policy=needed.policy.value,
        caller=principal.kind.value,
        access=needed.access.value,
        app=definition.id,
        path=request.url.path,
        refused=enforce,
    )
    if enforce:
        raise insufficient_scope(request, principal, definition, needed.message_key)


async def require_instance_scopes(
    request: Request, principal: Annotated[Principal, Depends(require_principal)]
) -> Principal:
    """FastAPI dependency for ``/{org}/{app}/...`` instance routes: the caller, scope-checked.

    An unknown app is a 404 (as the app routes answer it); anonymous callers get 401.
    """
    org = request.path_params.get("org", "")
    app = request.path_params.get("app", "")
    definition = get_services(request).apps.get(org, app)
    if definition is None:
        raise framework_problem(404, request)
    check_scopes(request, principal, definition)
    return principal
