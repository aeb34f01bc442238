"""Who may see which event: the decisions behind subscriptions, fan-out and the pull feeds.

* **App events** (resource ``urn:altinn:resource:app_{org}_{app}``): the app's XACML policy decides
  action ``read`` on the app's ``events`` app-resource for the event's party and instance
  (platform notes 4.4), through the same :class:`~tinn.auth.pdp.Authorizer` every other context uses.
* **Generic events** (any other resource): Altinn asks the Resource Registry's policy for
  ``subscribe``. Tinn has no resource registry, so ``subscribe`` is decided from the register: a
  service owner may; otherwise an event about a party is visible to whoever the party is or holds a
  role (or, for a system user, a right) for it; an event without a party subject is visible to any
  caller with the ``altinn:events.subscribe`` scope (checked by the endpoints).

Decisions are made when an event is fanned out or read, against the subscriber's stored identity
(never a cached "may subscribe" from subscription time); the register and policies are immutable
for the life of a process, so nothing cached here can outlive a role change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tinn.auth.pdp import Authorizer, ResourceRef
from tinn.auth.principal import Principal, PrincipalError, PrincipalKind
from tinn.events.models import APP_RESOURCE_PREFIX
from tinn.register.models import Party
from tinn.register.service import Register

ACTION_READ = "read"
APP_RESOURCE_EVENTS = "events"
SCOPE_PUBLISH = "altinn:events.publish"
SCOPE_PUBLISH_ADMIN = "altinn:events.publish.admin"
SCOPE_SUBSCRIBE = "altinn:events.subscribe"

ORG_PREFIX = "/org/"
USER_PREFIX = "/user/"
SYSTEM_USER_PREFIX = "/systemuser/"
ORGANISATION_PREFIX = "/organisation/"
PARTY_PREFIX = "/party/"
PERSON_PREFIX = "/person/"
URN_ORGANIZATION = "urn:altinn:organization:identifier-no:"
_PARTY_URN_PREFIXES = (
    "urn:altinn:person:identifier-no:",
    URN_ORGANIZATION,
    "urn:altinn:party:id:",
    "urn:altinn:party:uuid:",
)
# Claims that change with every token and say nothing about who the caller is.
_VOLATILE_CLAIMS = frozenset({"exp", "iat", "nbf", "jti", "auth_time"})


def entity_of(principal: Principal) -> str | None:
    """Altinn's consumer / createdBy for a caller: org code › user › system user › organisation."""
    if principal.org:
        return f"{ORG_PREFIX}{principal.org}"
    if principal.user_id is not None:
        return f"{USER_PREFIX}{principal.user_id}"
    if principal.system_user_id:
        return f"{SYSTEM_USER_PREFIX}{principal.system_user_id}"
    if principal.org_number:
        return f"{ORGANISATION_PREFIX}{principal.org_number}"
    return None


def stored_identity(principal: Principal) -> dict[str, Any]:
    """The claims a subscription keeps to authorise each event for its consumer later."""
    return {name: value for name, value in principal.claims.items() if name not in _VOLATILE_CLAIMS}


def principal_from_identity(claims: Mapping[str, Any]) -> Principal | None:
    try:
        return Principal.from_claims(claims)
    except PrincipalError:
        return None


def split_app_resource(resource: str | None) -> tuple[str, str] | None:
    """``urn:altinn:resource:app_{org}_{app}`` -> (org, app); org codes have no underscore."""
    if not resource or not resource.startswith(APP_RESOURCE_PREFIX):
        return None
    org, sep, app = resource[len(APP_RESOURCE_PREFIX) :].partition("_")
    if not sep or not org or not app:
        return None
    return org, app


def party_id_of_subject(subject: object) -> int | None:
    """``/party/{id}`` -> id."""
    if not isinstance(subject, str) or not subject.startswith(PARTY_PREFIX):
        return None
    text = subject[len(PARTY_PREFIX) :]
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None


class EventAuthorizer:
    def __init__(self, authorizer: Authorizer, register: Register) -> None:
        self.authorizer = authorizer
        self.register = register
        self._main_units: dict[int, int] | None = None

    # -- parties ---------------------------------------------------------------------------------

    def party_of_subject(self, subject: object) -> Party | None:
        """The party an event subject or subject filter names, in any of Altinn's spellings."""
        if not isinstance(subject, str) or not subject:
            return None
        party_id = party_id_of_subject(subject)
        if party_id is not None:
            return self.register.party(party_id)
        if subject.startswith(PERSON_PREFIX):
            return self.register.party_by_ssn(subject[len(PERSON_PREFIX) :])
        for prefix in (ORG_PREFIX, ORGANISATION_PREFIX):
            if subject.startswith(prefix):
                return self.register.party_by_org_number(subject[len(prefix) :])
        return self.register.party_by_urn(subject)

    def party_subject(self, subject: str) -> str | None:
        """An alternative subject (``/person/{ssn}``, ``/org/{orgno}``, ``/organisation/{orgno}``)
        as the ``/party/{id}`` subject app events carry; None when the register has no such party."""
        if not subject.startswith((PERSON_PREFIX, ORG_PREFIX, ORGANISATION_PREFIX)):
            return None
        party = self.party_of_subject(subject)
        return None if party is None else f"{PARTY_PREFIX}{party.party_id}"

    def main_unit(self, party_id: int) -> Party | None:
        """The main unit a sub-unit belongs to (for ``includeSubunits``)."""
        if self._main_units is None:
            self._main_units = {
                child.party_id: party.party_id
                for party in self.register.all_parties
                for child in party.child_parties or ()
                if child.party_id != party.party_id
            }
        parent = self._main_units.get(party_id)
        return None if parent is None else self.register.party(parent)

    # -- decisions -------------------------------------------------------------------------------

    def may_receive(self, principal: Principal, event: Mapping[str, Any]) -> bool:
        """Whether ``principal`` may see ``event``: ``read`` for app events, ``subscribe`` otherwise."""
        app = split_app_resource(event.get("resource"))
        if app is not None:
            return self._may_read_app_events(
                principal,
                app[0],
                app[1],
                party_id=party_id_of_subject(event.get("subject")),
                instance_id=_string(event.get("resourceinstance")),
            )
        return self._may_subscribe(principal, event.get("subject"))

    def may_subscribe_to(self, principal: Principal, resource: str, subject_filter: str | None) -> bool:
        """Whether ``principal`` may create a subscription on ``resource`` (and subject filter)."""
        app = split_app_resource(resource)
        if app is not None:
            return self._may_read_app_events(
                principal, app[0], app[1], party_id=party_id_of_subject(subject_filter), instance_id=None
            )
        return self._may_subscribe(principal, subject_filter)

    def may_publish(self, principal: Principal, resource: str) -> bool:
        """``POST /events``: an app's resource only by its owner (or with the admin scope); other
        resources by any caller with ``altinn:events.publish`` (Tinn has no resource policies)."""
        if principal.has_scope(SCOPE_PUBLISH_ADMIN):
            return True
        app = split_app_resource(resource)
        return app is None or principal.is_service_owner_of(app[0])

    def _may_read_app_events(
        self, principal: Principal, org: str, app: str, *, party_id: int | None, instance_id: str | None
    ) -> bool:
        resource = ResourceRef(
            org=org,
            app=app,
            party_id=party_id,
            instance_id=instance_id,
            app_resource=APP_RESOURCE_EVENTS,
        )
        return self.authorizer.authorize(principal, ACTION_READ, resource)

    def _may_subscribe(self, principal: Principal, subject: object) -> bool:
        if principal.kind is PrincipalKind.SERVICE_OWNER:
            return True
        if not isinstance(subject, str) or not subject:
            return True
        party = self.party_of_subject(subject)
        if party is None:
            # A subject that names a party Tinn does not know is nobody's to read.
            return not _names_a_party(subject)
        return self._represents(principal, party)

    def _represents(self, principal: Principal, party: Party) -> bool:
        if principal.is_user and principal.party_id == party.party_id:
            return True
        if (
            principal.kind is PrincipalKind.ORG
            and party.org_number is not None
            and principal.org_number == party.org_number
        ):
            return True
        return bool(self.authorizer.roles(principal, party.party_id))


def _names_a_party(subject: str) -> bool:
    return subject.startswith((PARTY_PREFIX, PERSON_PREFIX, ORG_PREFIX, ORGANISATION_PREFIX)) or any(
        subject.lower().startswith(prefix) for prefix in _PARTY_URN_PREFIXES
    )


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
