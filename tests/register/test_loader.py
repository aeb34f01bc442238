from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tinn.register.loader import (
    DEFAULT_TESTDATA_DIR,
    ProblemSeverity,
    RegisterFolderError,
    load_default_register,
    load_register,
)
from tinn.register.models import PartyType, UserType

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
LOCALTEST_DATA = SHARED / "conformance" / "localtest-testdata"


def _write(root: Path, rel: str, data: Any) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    elif isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _party(party_id: int, ptype: int = 1, **extra: Any) -> dict[str, Any]:
    return {"partyId": str(party_id), "partyTypeName": ptype, "name": f"Party {party_id}", **extra}


# ---- the two real folders -------------------------------------------------------------------


def test_bundled_test_register_loads_without_problems() -> None:
    result = load_default_register()
    assert result.problems == ()
    register = result.register
    assert len(register.all_parties) == 29
    assert len(register.all_persons) == 7
    assert len(register.all_organizations) == 20
    assert len(register.all_users) == 8
    assert len(register.all_role_assignments) == 14
    assert len(register.all_systems) == 1
    assert len(register.all_system_users) == 2
    assert {owner.org for owner in register.all_service_owners} == {"ttd", "digdir", "skd"}


def test_bundled_folder_is_the_settings_default() -> None:
    from tinn.settings import BUNDLED_REGISTER_DIR

    assert BUNDLED_REGISTER_DIR.resolve() == DEFAULT_TESTDATA_DIR.resolve()


def test_every_bundled_party_of_a_known_kind_has_its_details() -> None:
    register = load_default_register().register
    for party in register.all_parties:
        if party.party_type_name is PartyType.PERSON:
            assert party.person is not None, party.party_id
        elif party.party_type_name is PartyType.ORGANISATION:
            assert party.organization is not None, party.party_id
    for user in register.all_users:
        assert user.party is not None and user.party.party_id == user.party_id


def test_localtest_folder_is_read_as_altinn_writes_it() -> None:
    result = load_register(LOCALTEST_DATA)
    assert result.errors == ()
    register = result.register
    assert len(register.all_parties) == 20
    assert len(register.all_persons) == 6
    assert len(register.all_organizations) == 14
    assert len(register.all_users) == 8
    assert len(register.all_role_assignments) == 22
    assert sum(len(a.roles) for a in register.all_role_assignments) == 163
    assert [s.id for s in register.all_systems] == ["913312465_sbs"]
    assert len(register.all_system_users) == 1
    assert register.all_service_owners == ()

    # Strings for ids, PascalCase persons and profiles, "organisation" spelling, tabs in roles.json.
    sophie = register.party(501337)
    assert sophie is not None and sophie.person is not None
    assert sophie.person.first_name == "Sophie"
    assert sophie.party_uuid is not None and str(sophie.party_uuid) == "e9dd7d91-32d8-4933-a108-07562762d572"
    assert "DAGL" in register.roles(500000, user_id=1337)
    assert register.roles(510001, user_id=1001) == {"REGNA", "DAGL", "PRIV"}  # lower-case in the file

    user = register.user(1004)
    assert user is not None
    assert user.user_type is UserType.SELF_IDENTIFIED
    assert user.party is not None and user.party.name == "Selvregistrert Bruker"  # "Party": {} in the file

    profile = register.user(1337)
    assert profile is not None and profile.party is not None and profile.party.person is not None

    parties = register.party_list(1337)
    assert len(parties) == 8
    assert [c.party_id for c in parties[1].child_parties or ()] == [500001, 500002, 500003]
    assert {len(register.party_list(uid)) for uid in (1001, 1002, 2001, 2002)} == {2, 3}

    system_user = register.system_user("d111dbab-d619-4f15-bf29-58fe570a9ae6")
    assert system_user is not None
    assert system_user.system_id == "913312465_sbs"
    assert system_user.org_number == "950474084"
    assert len(register.custom_claims(1337)) == 1

    # Keyed by file name like localtest: 500802 points at Org/910423495.json, which holds another number.
    svolvaer = register.party(500802)
    assert svolvaer is not None and svolvaer.organization is not None
    assert svolvaer.organization.org_number == "923609016"


def test_localtest_folder_inconsistencies_are_warnings() -> None:
    result = load_register(LOCALTEST_DATA)
    assert sorted(str(p) for p in result.warnings) == [
        "Register/Org/910423495.json: file name says 910423495 but the file holds OrgNumber 923609016",
        "Register/Party/512002.json: no Register/Person/12889898001.json for this person",
    ]


# ---- tolerance --------------------------------------------------------------------------------


def test_byte_order_marks_tabs_and_key_case_are_tolerated(tmp_path: Path) -> None:
    _write(tmp_path, "Register/Party/1.json", b"\xef\xbb\xbf" + json.dumps(_party(1, ssn="x")).encode())
    _write(
        tmp_path,
        "Register/Person/x.json",
        '{\n\t"ssn":\t"x",\n\t"NAME": "Tab\tInside",\n\t"firstname": "Tab"\n}',
    )
    utf16 = json.dumps(_party(2, 2, orgNumber="950474084")).encode("utf-16-le")
    _write(tmp_path, "Register/Party/2.json", b"\xff\xfe" + utf16)
    _write(tmp_path, "Register/Org/950474084.json", {"orgnumber": "950474084"})
    _write(tmp_path, "Register/Party/notes.txt", "not json, not read")
    result = load_register(tmp_path)
    assert result.problems == ()
    person = result.register.person("x")
    assert person is not None and person.name == "Tab\tInside" and person.first_name == "Tab"
    assert result.register.party_by_org_number("950474084") is not None


def test_folder_names_match_in_any_case(tmp_path: Path) -> None:
    _write(tmp_path, "register/PARTY/1.json", _party(1))
    _write(tmp_path, "profile/user/7.json", {"userId": 7, "partyId": 1})
    _write(tmp_path, "Authorization/Roles/user_7/PARTY_1/Roles.json", [{"type": "altinn", "value": "dagl"}])
    result = load_register(tmp_path)
    assert result.problems == ()
    assert result.register.roles(1, user_id=7) == {"DAGL", "PRIV"}


def test_missing_folders_give_an_empty_register(tmp_path: Path) -> None:
    result = load_register(tmp_path)
    assert result.problems == ()
    assert result.register.all_parties == ()


def test_missing_register_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RegisterFolderError, match="does not exist"):
        load_register(tmp_path / "nope")


# ---- broken files ---------------------------------------------------------------------------------


def _broken_folder(root: Path) -> None:
    _write(root, "Register/Party/1.json", _party(1, ssn="01010000110"))
    _write(root, "Register/Party/2.json", '{"partyId": 2, "partyTypeName": 1,')
    _write(root, "Register/Party/3.json", _party(3, 9))
    _write(root, "Register/Party/abc.json", _party(4))
    _write(root, "Register/Party/5.json", "")
    _write(root, "Register/Party/6.json", [_party(6)])
    _write(root, "Register/Party/7.json", b"\xff\xfe\xff")
    _write(root, "Register/Party/8.json", b'{"partyId": 8, "name": "\xe6\xf8"}')
    _write(root, "Register/Party/9.json", _party(10))
    _write(root, "Register/Person/01010000110.json", {"SSN": "01010000110", "Name": "Good Person"})
    _write(root, "Profile/User/11.json", {"UserId": 11, "PartyId": 1, "Party": {}})
    _write(root, "Profile/User/12.json", {"UserId": "twelve", "PartyId": 1})
    _write(root, "Profile/User/13.json", {"UserId": 13, "PartyId": 99, "Party": {"partyId": 99}})
    _write(root, "authorization/roles/User_11/party_1/roles.json", [{"Type": "altinn", "value": "PRIV"}])
    _write(root, "authorization/roles/User_11/party_2/roles.json", {"value": "DAGL"})
    _write(root, "authorization/roles/User_11/party_3/other.json", [])
    _write(root, "authorization/roles/User_11/party_x/roles.json", [])
    _write(root, "authorization/roles/Someone/party_1/roles.json", [])
    _write(root, "authorization/roles/User_11/party_4/roles.json", [{"Type": "altinn"}])
    _write(root, "authorization/partylist/11.json", [_party(1), {"partyId": 2}])
    _write(root, "authorization/claims/11.json", [{"type": "a", "value": "b"}])
    _write(root, "authorization/systems/sys/system.json", {"Name": "No id here"})
    _write(
        root,
        "authorization/systems/sys/systemusers/950474084.json",
        {"Id": "00000000-0000-0000-0000-000000000001"},
    )
    _write(
        root,
        "authorization/systems/sys/systemusers/123.json",
        {"Id": "00000000-0000-0000-0000-000000000001", "OrgNumber": "123"},
    )
    _write(root, "authorization/systems/sys/systemusers/bad.json", {"Id": "zzz", "OrgNumber": "1"})
    _write(
        root, "authorization/systems/other/systemusers/1.json", {"Id": "00000000-0000-0000-0000-000000000002"}
    )
    _write(
        root,
        "orgs.json",
        {
            "orgs": {
                "ttd": {"name": {"nb": "T"}, "orgnr": "405003309"},
                "bad": "x",
                "worse": {"name": "no dict"},
            }
        },
    )


def test_broken_files_are_reported_and_skipped(tmp_path: Path) -> None:
    _broken_folder(tmp_path)
    result = load_register(tmp_path)
    errors = {p.path: p.reason for p in result.errors}
    assert errors == {
        "Register/Party/2.json": (
            "invalid JSON at line 1 column 35: Expecting property name enclosed in double quotes"
        ),
        "Register/Party/3.json": "not a valid party: partyTypeName: Input should be 1, 2, 3, 4 or 5",
        "Register/Party/abc.json": "the file name must be the party id (a number), not 'abc'",
        "Register/Party/5.json": "the file is empty",
        "Register/Party/6.json": "expected a JSON object for a party, found list",
        "Register/Party/7.json": "not UTF-16-LE text (byte 0 cannot be decoded)",
        "Register/Party/8.json": "not UTF-8 text (byte 24 cannot be decoded)",
        "Profile/User/12.json": (
            "not a valid user profile: userId: "
            "Input should be a valid integer, unable to parse string as an integer"
        ),
        "authorization/roles/User_11/party_2/roles.json": "expected a JSON array of role objects, found dict",
        "authorization/roles/User_11/party_3/roles.json": "cannot be read (No such file or directory)",
        "authorization/roles/User_11/party_x": "folder name must be party_{partyId}",
        "authorization/roles/Someone": "folder name must be User_{userId}",
        "authorization/roles/User_11/party_4/roles.json": "item 0: not a valid role: value: Field required",
        "authorization/partylist/11.json": "item 1: not a valid party: partyTypeName: Field required",
        "authorization/systems/other/system.json": "cannot be read (No such file or directory)",
        "authorization/systems/sys/systemusers/950474084.json": (
            "system user 00000000-0000-0000-0000-000000000001 is already defined in "
            "authorization/systems/sys/systemusers/123.json"
        ),
        "authorization/systems/sys/systemusers/bad.json": (
            "not a valid system user: id: Value error, badly formed hexadecimal UUID string"
        ),
        "orgs.json": "entry 'worse': not a valid service owner: name: Input should be a valid dictionary",
    }
    assert [str(p) for p in result.errors if p.path == "orgs.json"] == [
        "orgs.json: entry 'bad': expected a JSON object, found str",
        "orgs.json: entry 'worse': not a valid service owner: name: Input should be a valid dictionary",
    ]
    assert all(p.severity is ProblemSeverity.ERROR for p in result.errors)

    assert sorted(str(p) for p in result.warnings) == [
        "Profile/User/13.json: PartyId 99 has no Register/Party/99.json",
        "Profile/User/13.json: embedded party ignored, not a valid party: partyTypeName: Field required",
        "Register/Party/9.json: file name says party 9 but the file holds partyId 10",
    ]

    # Everything that was fine still loaded.
    register = result.register
    assert sorted(p.party_id for p in register.all_parties) == [1, 10]
    assert register.party(9) is not None  # keyed by file name, as localtest does
    assert sorted(u.user_id for u in register.all_users) == [11, 13]
    assert register.roles(1, user_id=11) == {"PRIV"}
    assert register.party_list(11) != ()
    assert [s.id for s in register.all_systems] == ["sys"]
    # The customer defaults to the file name; the system is the folder.
    assert [(su.system_id, su.org_number) for su in register.all_system_users] == [
        ("other", "1"),
        ("sys", "123"),
    ]
    assert register.service_owner("ttd") is not None
    assert register.custom_claims(11)[0].type == "a"
