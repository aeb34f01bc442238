"""The built-in register holds the identities of Altinn's recorded runs, exactly as recorded.

The ``BasicAppTests.Authentication_auth=*`` recordings print the party, person, organisation and
profile objects Altinn returned for each kind of caller. Every value they show must come out of
Tinn's default register unchanged (ids scrubbed to ``Guid_N`` only need to exist).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tinn.register.loader import load_default_register
from tinn.register.models import PartyType, UserType

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SNAPSHOTS = SHARED / "conformance" / "basic-app-snapshots"

REGISTER = load_default_register().register

_ENUMS: dict[str, dict[str, int]] = {
    "partyTypeName": {
        "Person": PartyType.PERSON,
        "Organisation": PartyType.ORGANISATION,
        "SelfIdentified": PartyType.SELF_IDENTIFIED,
    },
    "userType": {"SSNIdentified": UserType.SSN_IDENTIFIED, "SelfIdentified": UserType.SELF_IDENTIFIED},
}


def _parse_verify(text: str) -> Any:
    """Verify's relaxed JSON (``key: value,`` lines, unquoted strings) as dicts, lists and strings."""
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    position = 0

    def value_of(raw: str) -> Any:
        nonlocal position
        raw = raw.removesuffix(",")
        if raw == "{":
            return parse_object()
        if raw == "[":
            return parse_list()
        return raw

    def parse_object() -> dict[str, Any]:
        nonlocal position
        result: dict[str, Any] = {}
        while True:
            line = lines[position]
            position += 1
            if line.rstrip(",") == "}":
                return result
            key, _, raw = line.partition(":")
            result[key] = value_of(raw.strip())

    def parse_list() -> list[Any]:
        nonlocal position
        result: list[Any] = []
        while True:
            line = lines[position]
            position += 1
            if line.rstrip(",") == "]":
                return result
            result.append(value_of(line))

    assert lines[0] == "{"
    position = 1
    return parse_object()


def _snapshot(name: str) -> dict[str, Any]:
    path = SNAPSHOTS / f"BasicAppTests.Authentication_auth={name}.verified.txt"
    parsed = _parse_verify(path.read_text(encoding="utf-8"))
    assert isinstance(parsed, dict)
    return parsed


class _Guids:
    """Verify numbers GUIDs in order of appearance: one Guid_N per distinct value."""

    def __init__(self) -> None:
        self.by_name: dict[str, str] = {}

    def check(self, name: str, value: Any, where: str) -> None:
        assert value, where
        assert self.by_name.setdefault(name, value) == value, f"{where}: {name} stands for two values"
        assert list(self.by_name.values()).count(value) == 1, f"{where}: {value} has two Guid names"


def _assert_matches(recorded: Any, ours: Any, where: str = "", guids: _Guids | None = None) -> None:
    guids = guids or _Guids()
    if isinstance(recorded, dict):
        assert isinstance(ours, dict), where
        for key, value in recorded.items():
            assert key in ours, f"{where}.{key} missing"
            if key in _ENUMS:
                assert ours[key] == _ENUMS[key][value], f"{where}.{key}"
            else:
                _assert_matches(value, ours[key], f"{where}.{key}", guids)
    elif isinstance(recorded, list):
        assert isinstance(ours, list), where
        assert len(ours) == len(recorded), where
        for index, (mine, theirs) in enumerate(zip(ours, recorded, strict=True)):
            _assert_matches(theirs, mine, f"{where}[{index}]", guids)
    elif recorded == "null":
        assert ours is None, where
    elif recorded.startswith("Guid_"):
        guids.check(recorded, ours, where)
    elif recorded in ("true", "false"):
        assert ours is (recorded == "true"), where
    else:
        assert ours is not None and str(ours) == recorded, where


@pytest.mark.parametrize("name", ["User", "OldUser"])
def test_user_1337_is_as_recorded(name: str) -> None:
    recorded = _snapshot(name)
    assert (recorded["userId"], recorded["userPartyId"]) == ("1337", "501337")
    details = recorded["details"]
    sophie = REGISTER.party(501337)
    user = REGISTER.user(1337)
    assert sophie is not None and user is not None
    guids = _Guids()
    _assert_matches(details["userParty"], sophie.to_wire(), "userParty", guids)
    _assert_matches(details["selectedParty"], sophie.to_wire(), "selectedParty", guids)
    _assert_matches(details["profile"], user.to_wire(), "profile", guids)
    _assert_matches(details["parties"], [p.to_wire() for p in REGISTER.party_list(1337)], "parties", guids)
    assert len(guids.by_name) == 11
    if recorded["username"] != "null":
        assert recorded["username"] == user.user_name


def test_self_identified_user_is_as_recorded() -> None:
    recorded = _snapshot("SelfIdentifiedUser")
    assert recorded["isSelfIdentified"] == "true"
    user = REGISTER.user(int(recorded["userId"]))
    assert user is not None and user.user_name == recorded["username"]
    party = REGISTER.party(int(recorded["userPartyId"]))
    assert party is not None
    details = recorded["details"]
    _assert_matches(details["userParty"], party.to_wire(), "userParty")
    _assert_matches(details["profile"], user.to_wire(), "profile")
    _assert_matches(details["parties"], [p.to_wire() for p in REGISTER.party_list(user.user_id)], "parties")
    assert REGISTER.roles(party.party_id, user_id=user.user_id) == {"SELN"}


@pytest.mark.parametrize("name", ["ServiceOwner", "OldServiceOwner"])
def test_service_owner_ttd_is_as_recorded(name: str) -> None:
    recorded = _snapshot(name)
    owner = REGISTER.service_owner(recorded["name"])
    assert owner is not None and owner.org_number == recorded["orgNo"]
    party = REGISTER.party_by_org_number(recorded["orgNo"])
    assert party is not None
    _assert_matches(recorded["details"]["party"], party.to_wire(), "party")


def test_system_user_is_as_recorded() -> None:
    recorded = _snapshot("SystemUser")
    (system_user,) = REGISTER.system_users_for(recorded["systemUserOrgNr"])
    assert system_user.system_id == recorded["systemId"]
    assert system_user.supplier_org_number == recorded["supplierOrgNr"]
    assert REGISTER.system(recorded["systemId"]) is not None
    party = REGISTER.party_by_org_number(recorded["systemUserOrgNr"])
    assert party is not None
    _assert_matches(recorded["details"]["party"], party.to_wire(), "party")
    assert "instantiate" in REGISTER.roles(party.party_id, system_user_id=system_user.id)


def test_recording_comparison_notices_differences() -> None:
    recorded = _snapshot("User")["details"]["userParty"]
    sophie = REGISTER.party(501337)
    assert sophie is not None
    with pytest.raises(AssertionError, match=r"userParty\.name"):
        _assert_matches(recorded, {**sophie.to_wire(), "name": "X"}, "userParty")
    guids = _Guids()
    guids.check("Guid_1", "a", "first")
    with pytest.raises(AssertionError, match="Guid_1 stands for two values"):
        guids.check("Guid_1", "b", "second")
    with pytest.raises(AssertionError, match="a has two Guid names"):
        guids.check("Guid_2", "a", "third")
