"""The register: parties, persons, organisations, users, roles, system users and service owners.

One :class:`Register` is built at start-up (usually by :func:`tinn.register.loader.load_register`)
and never changes afterwards, so every lookup is a dictionary hit and safe to share between tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import IntEnum
from typing import Any
from urllib.parse import unquote
from uuid import UUID

from pydantic import BaseModel

from tinn.register.models import (
    CustomClaim,
    InstanceOwnerRef,
    Organization,
    Party,
    PartyType,
    Person,
    RegisteredSystem,
    RoleAssignment,
    ServiceOwner,
    SystemUser,
    UserProfile,
    UserType,
)

# Role a person always holds for their own party (Altinn's "privatperson").
ROLE_PRIVATE_PERSON = "PRIV"
# Role a self-identified user always holds for their own party (Altinn's "selvregistrert bruker").
ROLE_SELF_IDENTIFIED = "SELN"

# Unit types Altinn treats as sub-units and as bankruptcy estates (app-lib InstantiationHelper).
SUB_UNIT_TYPES = frozenset({"BEDR", "AAFY"})
BANKRUPTCY_ESTATE_UNIT_TYPE = "KBO"

URN_PERSON_IDENTIFIER = "urn:altinn:person:identifier-no:"
URN_ORGANIZATION_IDENTIFIER = "urn:altinn:organization:identifier-no:"
URN_PARTY_ID = "urn:altinn:party:id:"
URN_PARTY_UUID = "urn:altinn:party:uuid:"
URN_IDPORTEN_EMAIL = "urn:altinn:person:idporten-email:"
URN_LEGACY_SELF_IDENTIFIED = "urn:altinn:person:legacy-selfidentified:"

# Altinn usernames of ID-porten e-mail users are "epost:{email}".
EMAIL_USERNAME_PREFIX = "epost:"

_ORGANISATION_TYPES = frozenset({PartyType.ORGANISATION, PartyType.SUB_UNIT, PartyType.BANKRUPTCY_ESTATE})
_MAX_PARTY_ID_DIGITS = 10


def _parse_uuid(value: object) -> UUID | None:
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return UUID(value.strip())
    except ValueError:
        return None


def _parse_party_id(value: str) -> int | None:
    text = value.strip()
    if not text or len(text) > _MAX_PARTY_ID_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def _role_code(value: str) -> str:
    # Role codes are matched case-insensitively by Altinn's policies; localtest files mix "dagl"/"DAGL".
    return value.strip().upper()


def _self_roles(party_type: PartyType | None, user_type: UserType) -> frozenset[str]:
    if party_type is PartyType.PERSON or (party_type is None and user_type is UserType.SSN_IDENTIFIED):
        return frozenset({ROLE_PRIVATE_PERSON})
    if party_type is PartyType.SELF_IDENTIFIED or (
        party_type is None and user_type is UserType.SELF_IDENTIFIED
    ):
        return frozenset({ROLE_SELF_IDENTIFIED})
    return frozenset()


def _email_key(email: str) -> str:
    return email.strip().lower()


def _list_entry(party: Party, children: tuple[Party, ...] | None = None, *, no_access: bool = False) -> Party:
    """A party as it appears in a party list: no person/organisation details, sub-units nested."""
    return party.model_copy(
        update={
            "person": None,
            "organization": None,
            "child_parties": children,
            "only_hierarchy_element_with_no_access": no_access,
        }
    )


_CSHARP_NAMES = {"ssn": "SSN"}


def _csharp_name(alias: str) -> str:
    return _CSHARP_NAMES.get(alias, alias[:1].upper() + alias[1:])


def _as_prefill_source(value: Any) -> Any:
    """A register object as app-lib's prefill reads it: .NET property names, enums as numbers."""
    if isinstance(value, BaseModel):
        return {
            _csharp_name(field.alias or name): _as_prefill_source(getattr(value, name))
            for name, field in type(value).model_fields.items()
        }
    if isinstance(value, tuple | list):
        return [_as_prefill_source(item) for item in value]
    if isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _flag(flags: Mapping[str, Any], *names: str) -> bool:
    normalised = {key.replace("_", "").lower(): value for key, value in flags.items() if isinstance(key, str)}
    return any(normalised.get(name.lower()) is True for name in names)


class Register:
    """In-memory, read-only register with constant-time lookups.

    The constructor takes the data keyed the way localtest keys its files (party id, SSN, org number,
    user id from the file name); :meth:`of` keys plain collections by their own ids.
    """

    def __init__(
        self,
        *,
        parties: Mapping[int, Party] | None = None,
        persons: Mapping[str, Person] | None = None,
        organizations: Mapping[str, Organization] | None = None,
        users: Mapping[int, UserProfile] | None = None,
        role_assignments: Iterable[RoleAssignment] = (),
        party_lists: Mapping[int, Sequence[Party]] | None = None,
        systems: Iterable[RegisteredSystem] = (),
        system_users: Iterable[SystemUser] = (),
        service_owners: Iterable[ServiceOwner] = (),
        claims: Mapping[int, Sequence[CustomClaim]] | None = None,
    ) -> None:
        self._persons: dict[str, Person] = dict(persons or {})
        self._organizations: dict[str, Organization] = dict(organizations or {})
        self._parties: dict[int, Party] = {pid: self._with_details(p) for pid, p in (parties or {}).items()}

        self._party_by_uuid: dict[UUID, Party] = {}
        self._party_by_ssn: dict[str, Party] = {}
        self._party_by_org_number: dict[str, Party] = {}
        for party in self._parties.values():
            if party.party_uuid is not None:
                self._party_by_uuid.setdefault(party.party_uuid, party)
            if party.ssn:
                self._party_by_ssn.setdefault(party.ssn, party)
            if party.org_number:
                self._party_by_org_number.setdefault(party.org_number, party)

        self._users: dict[int, UserProfile] = {}
        self._user_by_party_id: dict[int, UserProfile] = {}
        self._user_by_username: dict[str, UserProfile] = {}
        self._user_by_email: dict[str, UserProfile] = {}
        self._user_by_legacy_username: dict[str, UserProfile] = {}
        for user_id, raw_user in (users or {}).items():
            user = raw_user.model_copy(update={"party": self._parties.get(raw_user.party_id, raw_user.party)})
            self._users[user_id] = user
            self._user_by_party_id.setdefault(user.party_id, user)
            if user.user_name:
                self._user_by_username.setdefault(user.user_name.lower(), user)
                if user.user_name.lower().startswith(EMAIL_USERNAME_PREFIX):
                    self._user_by_email.setdefault(
                        _email_key(user.user_name[len(EMAIL_USERNAME_PREFIX) :]), user
                    )
            identity = user.external_identity or ""
            if identity.lower().startswith(URN_IDPORTEN_EMAIL):
                self._user_by_email.setdefault(_email_key(unquote(identity[len(URN_IDPORTEN_EMAIL) :])), user)
            elif identity.lower().startswith(URN_LEGACY_SELF_IDENTIFIED):
                legacy = unquote(identity[len(URN_LEGACY_SELF_IDENTIFIED) :]).lower()
                self._user_by_legacy_username.setdefault(legacy, user)

        self._role_assignments = tuple(role_assignments)
        self._explicit_roles: dict[tuple[int, int], frozenset[str]] = {}
        self._parties_with_roles: dict[int, set[int]] = {}
        for assignment in self._role_assignments:
            key = (assignment.user_id, assignment.party_id)
            codes = frozenset(_role_code(role.value) for role in assignment.roles if role.value.strip())
            self._explicit_roles[key] = self._explicit_roles.get(key, frozenset()) | codes
            if codes:
                self._parties_with_roles.setdefault(assignment.user_id, set()).add(assignment.party_id)

        # Sub-unit -> main unit, from the hierarchy in party files and in the users' party lists.
        self._parent_of: dict[int, int] = {}
        self._children_of: dict[int, list[int]] = {}
        hierarchies: list[Party] = list(self._parties.values())
        for entries in (party_lists or {}).values():
            hierarchies.extend(entries)
        for main_unit in hierarchies:
            for child in main_unit.child_parties or ():
                if child.party_id not in self._parent_of and child.party_id != main_unit.party_id:
                    self._parent_of[child.party_id] = main_unit.party_id
                    self._children_of.setdefault(main_unit.party_id, []).append(child.party_id)

        self._party_lists: dict[int, tuple[Party, ...]] = {
            user_id: tuple(entries) for user_id, entries in (party_lists or {}).items()
        }

        self._systems: dict[str, RegisteredSystem] = {}
        for system in systems:
            self._systems.setdefault(system.id.lower(), system)
        self._system_users: dict[str, SystemUser] = {}
        self._system_users_by_org: dict[str, list[SystemUser]] = {}
        for system_user in system_users:
            if system_user.id in self._system_users:
                continue
            self._system_users[system_user.id] = system_user
            self._system_users_by_org.setdefault(system_user.org_number, []).append(system_user)

        self._service_owners: dict[str, ServiceOwner] = {}
        self._service_owner_by_org_number: dict[str, ServiceOwner] = {}
        for owner in service_owners:
            self._service_owners.setdefault(owner.org.lower(), owner)
            if owner.org_number:
                self._service_owner_by_org_number.setdefault(owner.org_number, owner)

        self._claims: dict[int, tuple[CustomClaim, ...]] = {
            user_id: tuple(items) for user_id, items in (claims or {}).items()
        }

    @classmethod
    def of(
        cls,
        *,
        parties: Iterable[Party] = (),
        persons: Iterable[Person] = (),
        organizations: Iterable[Organization] = (),
        users: Iterable[UserProfile] = (),
        role_assignments: Iterable[RoleAssignment] = (),
        party_lists: Mapping[int, Sequence[Party]] | None = None,
        systems: Iterable[RegisteredSystem] = (),
        system_users: Iterable[SystemUser] = (),
        service_owners: Iterable[ServiceOwner] = (),
        claims: Mapping[int, Sequence[CustomClaim]] | None = None,
    ) -> Register:
        """Build a register from plain collections, each object keyed by its own id."""
        return cls(
            parties={party.party_id: party for party in parties},
            persons={person.ssn: person for person in persons if person.ssn},
            organizations={org.org_number: org for org in organizations if org.org_number},
            users={user.user_id: user for user in users},
            role_assignments=role_assignments,
            party_lists=party_lists,
            systems=systems,
            system_users=system_users,
            service_owners=service_owners,
            claims=claims,
        )

    def _with_details(self, party: Party) -> Party:
        """Attach the person or organisation record, as Altinn's register does on every party read."""
        if party.party_type_name is PartyType.PERSON and party.ssn:
            person = self._persons.get(party.ssn)
            if person is not None:
                return party.model_copy(update={"person": person})
        elif party.party_type_name in _ORGANISATION_TYPES and party.org_number:
            organization = self._organizations.get(party.org_number)
            if organization is not None:
                return party.model_copy(update={"organization": organization})
        return party

    # ---- contents ---------------------------------------------------------------------------

    @property
    def all_parties(self) -> tuple[Party, ...]:
        return tuple(self._parties.values())

    @property
    def all_persons(self) -> tuple[Person, ...]:
        return tuple(self._persons.values())

    @property
    def all_organizations(self) -> tuple[Organization, ...]:
        return tuple(self._organizations.values())

    @property
    def all_users(self) -> tuple[UserProfile, ...]:
        return tuple(self._users.values())

    @property
    def all_role_assignments(self) -> tuple[RoleAssignment, ...]:
        return self._role_assignments

    @property
    def all_systems(self) -> tuple[RegisteredSystem, ...]:
        return tuple(self._systems.values())

    @property
    def all_system_users(self) -> tuple[SystemUser, ...]:
        return tuple(self._system_users.values())

    @property
    def all_service_owners(self) -> tuple[ServiceOwner, ...]:
        return tuple(self._service_owners.values())

    # ---- parties ----------------------------------------------------------------------------

    def party(self, party_id: int) -> Party | None:
        return self._parties.get(party_id)

    def party_by_uuid(self, party_uuid: UUID | str) -> Party | None:
        parsed = _parse_uuid(party_uuid)
        return None if parsed is None else self._party_by_uuid.get(parsed)

    def party_by_ssn(self, ssn: str) -> Party | None:
        return self._party_by_ssn.get(ssn.strip()) if isinstance(ssn, str) else None

    def party_by_org_number(self, org_number: str) -> Party | None:
        return self._party_by_org_number.get(org_number.strip()) if isinstance(org_number, str) else None

    def party_by_username(self, username: str) -> Party | None:
        """The party of the self-identified user with this username.

        A username matches an Altinn username (case-insensitive); failing that it is read as an
        ID-porten e-mail, with or without the ``epost:`` prefix (notes 4.4). Users identified by a
        national identity number are not found this way, as in Altinn.
        """
        if not isinstance(username, str) or not username.strip():
            return None
        text = username.strip()
        user = self._user_by_username.get(text.lower())
        if user is None:
            email = (
                text[len(EMAIL_USERNAME_PREFIX) :] if text.lower().startswith(EMAIL_USERNAME_PREFIX) else text
            )
            user = self._user_by_email.get(_email_key(email))
        return self._self_identified_party_of(user)

    def party_by_urn(self, urn: str) -> Party | None:
        """Resolve an Altinn party URN; anything unrecognised or unknown gives None."""
        if not isinstance(urn, str):
            return None
        text = urn.strip()
        lowered = text.lower()
        if lowered.startswith(URN_PERSON_IDENTIFIER):
            return self.party_by_ssn(text[len(URN_PERSON_IDENTIFIER) :])
        if lowered.startswith(URN_ORGANIZATION_IDENTIFIER):
            return self.party_by_org_number(text[len(URN_ORGANIZATION_IDENTIFIER) :])
        if lowered.startswith(URN_PARTY_ID):
            party_id = _parse_party_id(text[len(URN_PARTY_ID) :])
            return None if party_id is None else self.party(party_id)
        if lowered.startswith(URN_PARTY_UUID):
            return self.party_by_uuid(text[len(URN_PARTY_UUID) :])
        if lowered.startswith(URN_IDPORTEN_EMAIL):
            email = unquote(text[len(URN_IDPORTEN_EMAIL) :])
            return self._self_identified_party_of(self._user_by_email.get(_email_key(email)))
        if lowered.startswith(URN_LEGACY_SELF_IDENTIFIED):
            username = unquote(text[len(URN_LEGACY_SELF_IDENTIFIED) :]).strip().lower()
            user = self._user_by_legacy_username.get(username) or self._user_by_username.get(username)
            return self._self_identified_party_of(user)
        return None

    def _self_identified_party_of(self, user: UserProfile | None) -> Party | None:
        if user is None:
            return None
        party = self._parties.get(user.party_id, user.party)
        if party is not None and party.party_type_name is PartyType.SELF_IDENTIFIED:
            return party
        return None

    # ---- persons, organisations, users -------------------------------------------------------

    def person(self, ssn: str) -> Person | None:
        return self._persons.get(ssn.strip()) if isinstance(ssn, str) else None

    def organization(self, org_number: str) -> Organization | None:
        return self._organizations.get(org_number.strip()) if isinstance(org_number, str) else None

    def user(self, user_id: int) -> UserProfile | None:
        return self._users.get(user_id)

    def user_by_ssn(self, ssn: str) -> UserProfile | None:
        party = self.party_by_ssn(ssn)
        return None if party is None else self._user_by_party_id.get(party.party_id)

    def user_by_username(self, username: str) -> UserProfile | None:
        if not isinstance(username, str):
            return None
        return self._user_by_username.get(username.strip().lower())

    def user_by_party_id(self, party_id: int) -> UserProfile | None:
        """The user whose own party this is (persons and self-identified users)."""
        return self._user_by_party_id.get(party_id)

    def custom_claims(self, user_id: int) -> tuple[CustomClaim, ...]:
        """Extra claims localtest puts in this user's tokens (``authorization/claims``)."""
        return self._claims.get(user_id, ())

    # ---- service owners ---------------------------------------------------------------------

    def service_owner(self, org_code: str) -> ServiceOwner | None:
        return self._service_owners.get(org_code.strip().lower()) if isinstance(org_code, str) else None

    def service_owner_by_org_number(self, org_number: str) -> ServiceOwner | None:
        if not isinstance(org_number, str):
            return None
        return self._service_owner_by_org_number.get(org_number.strip())

    # ---- systems and system users -----------------------------------------------------------

    def system(self, system_id: str) -> RegisteredSystem | None:
        return self._systems.get(system_id.strip().lower()) if isinstance(system_id, str) else None

    def system_user(self, system_user_id: UUID | str) -> SystemUser | None:
        parsed = _parse_uuid(system_user_id)
        return None if parsed is None else self._system_users.get(str(parsed))

    def system_users_for(self, org_number: str) -> tuple[SystemUser, ...]:
        """The system users acting for the customer organisation ``org_number``."""
        if not isinstance(org_number, str):
            return ()
        return tuple(self._system_users_by_org.get(org_number.strip(), ()))

    # ---- roles and representation -----------------------------------------------------------

    def roles(
        self,
        party_id: int,
        *,
        user_id: int | None = None,
        system_user_id: UUID | str | None = None,
    ) -> frozenset[str]:
        """What the subject holds for ``party_id``: role codes for a user, rights for a system user.

        A user holds (upper-cased) the role codes assigned in ``roles.json`` for the party; the codes
        assigned for its main unit when the party is a sub-unit (roles in Enhetsregisteret apply to
        the sub-units too); and for the user's own party ``PRIV`` (a person) or ``SELN`` (a
        self-identified user).

        A system user holds the actions listed in its ``systemusers/{orgno}.json`` for the party of
        its customer organisation, and nothing elsewhere.
        """
        if system_user_id is not None and user_id is None:
            return self._system_user_rights(system_user_id, party_id)
        if user_id is None or system_user_id is not None:
            raise ValueError("roles() needs exactly one subject: user_id or system_user_id")
        codes = set(self._explicit_roles.get((user_id, party_id), ()))
        main_unit = self._parent_of.get(party_id)
        if main_unit is not None:
            codes |= self._explicit_roles.get((user_id, main_unit), frozenset())
        user = self._users.get(user_id)
        if user is not None and user.party_id == party_id:
            own = self._parties.get(party_id)
            codes |= _self_roles(None if own is None else own.party_type_name, user.user_type)
        return frozenset(codes)

    def _system_user_rights(self, system_user_id: UUID | str, party_id: int) -> frozenset[str]:
        system_user = self.system_user(system_user_id)
        party = self._parties.get(party_id)
        if system_user is None or party is None or party.org_number != system_user.org_number:
            return frozenset()
        return frozenset(action.strip() for action in system_user.actions if action.strip())

    def party_list(self, user_id: int) -> tuple[Party, ...]:
        """The parties the user may represent, sub-units nested under their main unit.

        A user with an ``authorization/partylist/{userId}.json`` gets exactly that list (localtest);
        otherwise the list is derived: the user's own party, then every party the user holds roles
        for, with a main unit listed as ``onlyHierarchyElementWithNoAccess`` when the user only
        holds roles for some of its sub-units.
        """
        listed = self._party_lists.get(user_id)
        if listed is not None:
            return listed
        user = self._users.get(user_id)
        if user is None:
            return ()
        direct = [user.party_id, *sorted(self._parties_with_roles.get(user_id, ()))]
        with_access = {pid for pid in dict.fromkeys(direct) if pid in self._parties}

        entries: list[Party] = []
        placed: set[int] = set()
        for pid in dict.fromkeys(direct):
            if pid not in with_access or pid in placed:
                continue
            main_unit = self._parent_of.get(pid)
            if main_unit is not None and main_unit in self._parties:
                if main_unit in with_access or main_unit in placed:
                    continue  # listed under its main unit
                pid = main_unit
            children = tuple(
                _list_entry(self._parties[child])
                for child in self._children_of.get(pid, ())
                if child in self._parties and (pid in with_access or child in with_access)
            )
            entries.append(
                _list_entry(self._parties[pid], children or None, no_access=pid not in with_access)
            )
            placed.add(pid)
        return tuple(entries)

    # ---- instantiation helpers --------------------------------------------------------------

    def instance_owner_for(self, party: Party) -> InstanceOwnerRef:
        """The ``instanceOwner`` object for a new instance owned by ``party`` (notes 4.4).

        A self-identified user's ``externalIdentifier`` is the external identity in their profile.
        """
        party_id = str(party.party_id)
        if party.ssn:
            return {"partyId": party_id, "personNumber": party.ssn}
        if party.org_number:
            return {"partyId": party_id, "organisationNumber": party.org_number}
        owner: InstanceOwnerRef = {"partyId": party_id}
        if party.party_type_name is PartyType.SELF_IDENTIFIED:
            if party.name:
                owner["username"] = party.name
            user = self._user_by_party_id.get(party.party_id)
            if user is not None and user.external_identity:
                owner["externalIdentifier"] = user.external_identity
        return owner

    @staticmethod
    def party_type_allowed(party: Party, party_types_allowed: Mapping[str, Any] | BaseModel | None) -> bool:
        """Whether ``party`` may instantiate an app with this ``partyTypesAllowed`` (notes 4.4).

        No flag set means everyone. Persons and self-identified users need ``person``; an
        organisation whose unit type is ``BEDR``/``AAFY`` is a sub-unit and needs ``subUnit``, any
        other organisation needs ``organisation``, and a ``KBO`` unit also passes with
        ``bankruptcyEstate``. Other party types are never allowed.
        """
        if isinstance(party_types_allowed, BaseModel):
            flags: Mapping[str, Any] = party_types_allowed.model_dump()
        else:
            flags = party_types_allowed or {}
        person = _flag(flags, "person")
        organisation = _flag(flags, "organisation", "organization")
        sub_unit = _flag(flags, "subUnit")
        bankruptcy_estate = _flag(flags, "bankruptcyEstate")
        if not (person or organisation or sub_unit or bankruptcy_estate):
            return True
        if party.party_type_name in (PartyType.PERSON, PartyType.SELF_IDENTIFIED):
            return person
        if party.party_type_name is not PartyType.ORGANISATION:
            return False
        # Altinn compares the trimmed unit type case-sensitively.
        unit_type = (party.unit_type or "").strip()
        if unit_type in SUB_UNIT_TYPES:
            return sub_unit
        return organisation or (unit_type == BANKRUPTCY_ESTATE_UNIT_TYPE and bankruptcy_estate)

    def prefill_sources(self, party: Party, user: UserProfile | None) -> dict[str, dict[str, Any] | None]:
        """The objects an app's ``{dataType}.prefill.json`` reads from (notes 4.6).

        ``ER`` is the party's organisation, ``DSF`` its person and ``UserProfile`` the user's profile
        (pass ``user=None`` for callers that are not users), each keyed by the .NET property names
        the prefill paths use (``Name``, ``FirstName``, ``EMailAddress``, ``Party.SSN`` ...). A source
        the party or caller does not have is None.
        """
        party = self._parties.get(party.party_id, party)
        profile = None if user is None else self._users.get(user.user_id, user)
        return {
            "ER": None if party.organization is None else _as_prefill_source(party.organization),
            "DSF": None if party.person is None else _as_prefill_source(party.person),
            "UserProfile": None if profile is None else _as_prefill_source(profile),
        }
