"""Who a caller may represent, and party lists as the App API serves them.

A user may represent their own party and every party in their party list (sub-units nested under a
main unit count too), which is Altinn Authorization's ``ValidateSelectedParty``. Organisations,
service owners and system users only ever act as one party: their own organisation's, or for a
system user, its customer's.

Party lists are served with other persons' national identity numbers masked the way Altinn 2 masks
them in reportee lists (the last five digits replaced by ``*``); the caller's own number is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tinn.auth.principal import Principal, PrincipalKind
from tinn.register.models import Party, UserProfile
from tinn.register.service import Register

# The cookie that holds the party a user has chosen to act for (app notes 0.2).
PARTY_COOKIE = "AltinnPartyId"
_MASKED_DIGITS = 5
_INT32_MAX = 2**31 - 1


def mask_ssn(ssn: str | None) -> str | None:
    """``01039012345`` → ``010390*****``; empty and missing values are returned unchanged."""
    if not ssn:
        return ssn
    visible = max(len(ssn) - _MASKED_DIGITS, 0)
    return ssn[:visible] + "*" * (len(ssn) - visible)


def mask_others(parties: Iterable[Party], own_party_id: int | None) -> list[Party]:
    """The parties with every person's number masked except the caller's own party."""
    masked: list[Party] = []
    for party in parties:
        update: dict[str, object] = {}
        if party.party_id != own_party_id:
            if party.ssn:
                update["ssn"] = mask_ssn(party.ssn)
            if party.person is not None and party.person.ssn:
                update["person"] = party.person.model_copy(update={"ssn": mask_ssn(party.person.ssn)})
        if party.child_parties:
            update["child_parties"] = tuple(mask_others(party.child_parties, own_party_id))
        masked.append(party.model_copy(update=update) if update else party)
    return masked


def contains_party(parties: Iterable[Party], party_id: int) -> bool:
    """Whether ``party_id`` is in the list or among the sub-units of an entry."""
    queue = list(parties)
    while queue:
        party = queue.pop()
        if party.party_id == party_id:
            return True
        queue.extend(party.child_parties or ())
    return False


def parse_party_id(value: str | None) -> int | None:
    """A party id as ASP.NET binds an ``int``: optional sign, digits, within 32 bits."""
    if value is None:
        return None
    text = value.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not (digits.isascii() and digits.isdigit()):
        return None
    number = int(text)
    return number if -_INT32_MAX - 1 <= number <= _INT32_MAX else None


@dataclass(frozen=True, slots=True)
class UserDetails:
    """What the register knows about a user caller (app-lib's ``Authenticated.User.Details``)."""

    profile: UserProfile | None
    own_party: Party | None
    own_party_id: int
    parties: tuple[Party, ...]

    def can_represent(self, party_id: int) -> bool:
        return party_id == self.own_party_id or contains_party(self.parties, party_id)


def user_details(register: Register, principal: Principal) -> UserDetails:
    """The caller's profile, own party and party list (their own party alone when the list is empty).

    The own party is the profile's; a token naming a user the register does not know falls back to
    the token's party id.
    """
    assert principal.user_id is not None
    profile = register.user(principal.user_id)
    own_party_id = profile.party_id if profile is not None else principal.party_id or 0
    own_party = register.party(own_party_id) or (profile.party if profile is not None else None)
    parties = register.party_list(principal.user_id)
    if not parties and own_party is not None:
        parties = (own_party,)
    return UserDetails(profile, own_party, own_party_id, parties)


def organisation_party(register: Register, principal: Principal) -> Party | None:
    """The one party a non-user caller acts as: its organisation, or a system user's customer."""
    if principal.kind is PrincipalKind.SYSTEM_USER:
        number = principal.system_user_org_number
    else:
        number = principal.org_number
    return register.party_by_org_number(number) if number else None


def may_read_party(register: Register, principal: Principal, party_id: int) -> bool:
    """Register's rule for reading a party: a service owner reads any; a user its own or one it
    may represent; anyone else nothing (Altinn's Register answers them 401)."""
    if principal.org is not None:
        return True
    if principal.user_id is None:
        return False
    return user_details(register, principal).can_represent(party_id)


def filter_parties(parties: Iterable[Party], allowed: Callable[[Party], bool]) -> list[Party]:
    """app-lib's ``FilterPartiesByAllowedPartyTypes`` with any predicate.

    A party passes with the sub-units that pass; a main unit that fails but has passing sub-units
    stays as ``onlyHierarchyElementWithNoAccess``; a passing party without passing sub-units gets
    an empty ``childParties``.
    """
    result: list[Party] = []
    for party in parties:
        can = allowed(party)
        children = tuple(child for child in party.child_parties or () if allowed(child))
        if children:
            update: dict[str, object] = {"child_parties": children}
            if not can:
                update["only_hierarchy_element_with_no_access"] = True
            result.append(party.model_copy(update=update))
        elif can:
            result.append(party.model_copy(update={"child_parties": ()}))
    return result


def can_instantiate_as(allowed_parties: Iterable[Party], party_id: int) -> bool:
    """app-lib's ``CanInstantiateAsParty``: in the filtered list, and not only a hierarchy element."""
    queue = list(allowed_parties)
    while queue:
        party = queue.pop(0)
        if party.party_id == party_id and not party.only_hierarchy_element_with_no_access:
            return True
        queue.extend(party.child_parties or ())
    return False
