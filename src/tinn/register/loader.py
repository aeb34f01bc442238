"""Read a register folder in Altinn localtest's test-data format.

```
Register/Party/{partyId}.json          Party
Register/Person/{ssn}.json             Person (PascalCase in localtest's files)
Register/Org/{orgNumber}.json          Organization
Profile/User/{userId}.json             UserProfile
authorization/partylist/{userId}.json  [Party] the user may represent
authorization/roles/User_{userId}/party_{partyId}/roles.json   [{"Type": "altinn", "value": "DAGL"}]
authorization/claims/{userId}.json     [{"type", "value", "valueType"}] extra token claims
authorization/systems/{systemId}/system.json                   {"Id", "Name"}
authorization/systems/{systemId}/systemusers/{orgNumber}.json  {"Id", "OrgNumber", "Actions"}
orgs.json                              service owners, shaped as Altinn's altinn-orgs.json
```

As localtest does, entities are keyed by their file name. Keys match in any letter case, files may
start with a byte-order mark and strings may contain raw tabs. A file that cannot be read is reported
with its path and the reason and skipped; everything else still loads. Inconsistencies that do not
stop a file from loading (a file name that differs from the id inside, a user whose party is
missing) are reported as warnings.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from tinn.register.models import (
    CustomClaim,
    Organization,
    Party,
    PartyType,
    Person,
    RegisteredSystem,
    Role,
    RoleAssignment,
    ServiceOwner,
    SystemUser,
    UserProfile,
)
from tinn.register.service import Register

log = structlog.get_logger("tinn.register")

DEFAULT_TESTDATA_DIR = Path(__file__).parent / "testdata"
SERVICE_OWNERS_FILE = "orgs.json"

_M = TypeVar("_M", bound=BaseModel)


class ProblemSeverity(StrEnum):
    ERROR = "error"  # the file (or orgs.json entry) was skipped
    WARNING = "warning"  # loaded, but something in it looks wrong


@dataclass(frozen=True, slots=True)
class LoadProblem:
    path: str  # relative to the register folder, with forward slashes
    reason: str
    severity: ProblemSeverity

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RegisterLoadResult:
    register: Register
    problems: tuple[LoadProblem, ...]

    @property
    def errors(self) -> tuple[LoadProblem, ...]:
        return tuple(p for p in self.problems if p.severity is ProblemSeverity.ERROR)

    @property
    def warnings(self) -> tuple[LoadProblem, ...]:
        return tuple(p for p in self.problems if p.severity is ProblemSeverity.WARNING)


class RegisterFolderError(Exception):
    """The register folder itself is missing or unusable."""


class _FileError(Exception):
    """One file cannot be used; the message is the reason shown to the operator."""


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _decode(raw: bytes) -> str:
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            body, name = raw[len(bom) :], encoding
            break
    else:
        body, name = raw, "utf-8"
    try:
        return body.decode(name)
    except UnicodeDecodeError as exc:
        raise _FileError(f"not {name.upper()} text (byte {exc.start} cannot be decoded)") from None


def _read_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _FileError(f"cannot be read ({exc.strerror or exc})") from None
    text = _decode(raw)
    if not text.strip():
        raise _FileError("the file is empty")
    try:
        # strict=False lets strings contain raw tabs, which hand-edited files often do.
        return json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise _FileError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise _FileError("invalid JSON: nested too deeply") from None


def _validation_reason(exc: ValidationError, what: str) -> str:
    details = []
    for error in exc.errors()[:3]:
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        details.append(f"{location}: {error['msg']}")
    more = len(exc.errors()) - len(details)
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"not a valid {what}: " + "; ".join(details) + suffix


def _model(model: type[_M], data: Any, what: str) -> _M:
    if not isinstance(data, dict):
        raise _FileError(f"expected a JSON object for a {what}, found {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _FileError(_validation_reason(exc, what)) from None


def _models(model: type[_M], data: Any, what: str) -> list[_M]:
    if not isinstance(data, list):
        raise _FileError(f"expected a JSON array of {what} objects, found {type(data).__name__}")
    items = []
    for index, item in enumerate(data):
        try:
            items.append(_model(model, item, what))
        except _FileError as exc:
            raise _FileError(f"item {index}: {exc}") from None
    return items


def _int_key(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise _FileError(f"the file name must be the {what} (a number), not {text!r}")
    return int(text)


def _json_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".json")


def _child_dir(parent: Path, name: str) -> Path:
    """``parent/name``, matching ``name`` in any letter case (localtest folders come from Windows too)."""
    exact = parent / name
    if exact.is_dir() or not parent.is_dir():
        return exact
    for candidate in parent.iterdir():
        if candidate.is_dir() and candidate.name.lower() == name.lower():
            return candidate
    return exact


def _pop_key(data: dict[str, Any], name: str) -> Any:
    for key in list(data):
        if isinstance(key, str) and key.lower() == name:
            return data.pop(key)
    return None


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[LoadProblem] = []

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def error(self, path: Path, reason: str) -> None:
        self.problems.append(LoadProblem(self.rel(path), reason, ProblemSeverity.ERROR))

    def warn(self, path: Path, reason: str) -> None:
        self.problems.append(LoadProblem(self.rel(path), reason, ProblemSeverity.WARNING))

    def each_file(self, folder: Path, read: Callable[[Path], None]) -> None:
        for path in _json_files(folder):
            try:
                read(path)
            except _FileError as exc:
                self.error(path, str(exc))

    def read(self) -> Register:
        register_dir = _child_dir(self.root, "Register")
        authorization_dir = _child_dir(self.root, "authorization")

        parties: dict[int, Party] = {}
        party_files: dict[int, Path] = {}

        def read_party(path: Path) -> None:
            key = _int_key(path.stem, "party id")
            party = _model(Party, _read_json(path), "party")
            if party.party_id != key:
                self.warn(path, f"file name says party {key} but the file holds partyId {party.party_id}")
            parties[key] = party
            party_files[key] = path

        self.each_file(_child_dir(register_dir, "Party"), read_party)

        persons: dict[str, Person] = {}

        def read_person(path: Path) -> None:
            person = _model(Person, _read_json(path), "person")
            if person.ssn and person.ssn != path.stem:
                self.warn(path, f"file name says {path.stem} but the file holds SSN {person.ssn}")
            persons[path.stem] = person

        self.each_file(_child_dir(register_dir, "Person"), read_person)

        organizations: dict[str, Organization] = {}

        def read_org(path: Path) -> None:
            org = _model(Organization, _read_json(path), "organisation")
            if org.org_number and org.org_number != path.stem:
                self.warn(path, f"file name says {path.stem} but the file holds OrgNumber {org.org_number}")
            organizations[path.stem] = org

        self.each_file(_child_dir(register_dir, "Org"), read_org)

        for key, party in parties.items():
            path = party_files[key]
            if party.party_type_name is PartyType.PERSON and party.ssn and party.ssn not in persons:
                self.warn(path, f"no Register/Person/{party.ssn}.json for this person")
            if (
                party.party_type_name is PartyType.ORGANISATION
                and party.org_number
                and party.org_number not in organizations
            ):
                self.warn(path, f"no Register/Org/{party.org_number}.json for this organisation")

        users = self._read_users(parties)
        role_assignments = self._read_roles(_child_dir(authorization_dir, "roles"), users, parties)

        party_lists: dict[int, list[Party]] = {}

        def read_party_list(path: Path) -> None:
            party_lists[_int_key(path.stem, "user id")] = _models(Party, _read_json(path), "party")

        self.each_file(_child_dir(authorization_dir, "partylist"), read_party_list)

        claims: dict[int, list[CustomClaim]] = {}

        def read_claims(path: Path) -> None:
            claims[_int_key(path.stem, "user id")] = _models(CustomClaim, _read_json(path), "claim")

        self.each_file(_child_dir(authorization_dir, "claims"), read_claims)

        systems, system_users = self._read_systems(_child_dir(authorization_dir, "systems"))
        service_owners = self._read_service_owners()

        return Register(
            parties=parties,
            persons=persons,
            organizations=organizations,
            users=users,
            role_assignments=role_assignments,
            party_lists=party_lists,
            systems=systems,
            system_users=system_users,
            service_owners=service_owners,
            claims=claims,
        )

    def _read_users(self, parties: dict[int, Party]) -> dict[int, UserProfile]:
        users: dict[int, UserProfile] = {}

        def read_user(path: Path) -> None:
            key = _int_key(path.stem, "user id")
            data = _read_json(path)
            if not isinstance(data, dict):
                raise _FileError(f"expected a JSON object for a user profile, found {type(data).__name__}")
            # localtest replaces the embedded party with the register's, so a partial one is fine.
            embedded = _pop_key(data, "party")
            user = _model(UserProfile, data, "user profile")
            if user.user_id != key:
                self.warn(path, f"file name says user {key} but the file holds UserId {user.user_id}")
            if user.party_id not in parties:
                if isinstance(embedded, dict) and embedded:
                    try:
                        user = user.model_copy(update={"party": Party.model_validate(embedded)})
                    except ValidationError as exc:
                        self.warn(path, "embedded party ignored, " + _validation_reason(exc, "party"))
                self.warn(path, f"PartyId {user.party_id} has no Register/Party/{user.party_id}.json")
            users[key] = user

        self.each_file(_child_dir(_child_dir(self.root, "Profile"), "User"), read_user)
        return users

    def _read_roles(
        self, roles_dir: Path, users: dict[int, UserProfile], parties: dict[int, Party]
    ) -> list[RoleAssignment]:
        assignments: list[RoleAssignment] = []
        if not roles_dir.is_dir():
            return assignments
        for user_dir in sorted(p for p in roles_dir.iterdir() if p.is_dir()):
            prefix, _, user_text = user_dir.name.partition("_")
            if prefix.lower() != "user" or not (user_text.isascii() and user_text.isdigit()):
                self.error(user_dir, "folder name must be User_{userId}")
                continue
            user_id = int(user_text)
            if user_id not in users:
                self.warn(user_dir, f"roles for user {user_id}, who has no Profile/User/{user_id}.json")
            for party_dir in sorted(p for p in user_dir.iterdir() if p.is_dir()):
                prefix, _, party_text = party_dir.name.partition("_")
                if prefix.lower() != "party" or not (party_text.isascii() and party_text.isdigit()):
                    self.error(party_dir, "folder name must be party_{partyId}")
                    continue
                roles_file = next(
                    (p for p in _json_files(party_dir) if p.name.lower() == "roles.json"),
                    party_dir / "roles.json",
                )
                try:
                    roles = _models(Role, _read_json(roles_file), "role")
                except _FileError as exc:
                    self.error(roles_file, str(exc))
                    continue
                party_id = int(party_text)
                if party_id not in parties:
                    self.warn(roles_file, f"roles for party {party_id}, which has no Register/Party file")
                assignments.append(RoleAssignment(user_id=user_id, party_id=party_id, roles=tuple(roles)))
        return assignments

    def _read_systems(self, systems_dir: Path) -> tuple[list[RegisteredSystem], list[SystemUser]]:
        systems: list[RegisteredSystem] = []
        system_users: list[SystemUser] = []
        if not systems_dir.is_dir():
            return systems, system_users
        seen_ids: dict[str, Path] = {}
        for system_dir in sorted(p for p in systems_dir.iterdir() if p.is_dir()):
            system_id = system_dir.name
            system_file = next(
                (p for p in _json_files(system_dir) if p.name.lower() == "system.json"),
                system_dir / "system.json",
            )
            try:
                data = _read_json(system_file)
                if isinstance(data, dict) and not any(isinstance(k, str) and k.lower() == "id" for k in data):
                    data = {**data, "id": system_id}
                system = _model(RegisteredSystem, data, "system")
            except _FileError as exc:
                self.error(system_file, str(exc))
            else:
                if system.id != system_id:
                    self.warn(
                        system_file, f"Id {system.id!r} differs from the folder name; the folder name is used"
                    )
                    system = system.model_copy(update={"id": system_id})
                systems.append(system)

            def read_system_user(path: Path, system_id: str = system_id) -> None:
                data = _read_json(path)
                if not isinstance(data, dict):
                    raise _FileError(f"expected a JSON object for a system user, found {type(data).__name__}")
                # The system is the folder (as in localtest); the customer defaults to the file name.
                data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.lower() == "systemid")}
                data["systemId"] = system_id
                if not any(isinstance(k, str) and k.lower() in ("orgnumber", "partyorgno") for k in data):
                    data["orgNumber"] = path.stem
                system_user = _model(SystemUser, data, "system user")
                if system_user.id in seen_ids:
                    first = self.rel(seen_ids[system_user.id])
                    raise _FileError(f"system user {system_user.id} is already defined in {first}")
                seen_ids[system_user.id] = path
                system_users.append(system_user)

            self.each_file(_child_dir(system_dir, "systemusers"), read_system_user)
        return systems, system_users

    def _read_service_owners(self) -> list[ServiceOwner]:
        path = next(
            (p for p in _json_files(self.root) if p.name.lower() == SERVICE_OWNERS_FILE),
            self.root / SERVICE_OWNERS_FILE,
        )
        if not path.is_file():
            return []
        try:
            data = _read_json(path)
        except _FileError as exc:
            self.error(path, str(exc))
            return []
        if isinstance(data, dict):
            data = next((v for k, v in data.items() if isinstance(k, str) and k.lower() == "orgs"), data)
        if not isinstance(data, dict):
            self.error(path, 'expected {"orgs": {"<org code>": {...}}}')
            return []
        owners: list[ServiceOwner] = []
        for code, entry in data.items():
            if not isinstance(entry, dict):
                self.error(path, f"entry {code!r}: expected a JSON object, found {type(entry).__name__}")
                continue
            try:
                owners.append(ServiceOwner.model_validate({**entry, "org": code}))
            except ValidationError as exc:
                self.error(path, f"entry {code!r}: " + _validation_reason(exc, "service owner"))
        return owners


def load_register(root: Path) -> RegisterLoadResult:
    """Load the register folder ``root``; broken files are skipped and listed in the result."""
    root = Path(root)
    if not root.is_dir():
        raise RegisterFolderError(f"The register folder {root} does not exist or is not a folder.")
    reader = _Reader(root)
    register = reader.read()
    result = RegisterLoadResult(register=register, problems=tuple(reader.problems))
    for problem in result.errors:
        log.warning("register_file_skipped", folder=str(root), file=problem.path, reason=problem.reason)
    for problem in result.warnings:
        log.info("register_data_warning", folder=str(root), file=problem.path, reason=problem.reason)
    log.info(
        "register_loaded",
        folder=str(root),
        parties=len(register.all_parties),
        persons=len(register.all_persons),
        organizations=len(register.all_organizations),
        users=len(register.all_users),
        role_assignments=len(register.all_role_assignments),
        system_users=len(register.all_system_users),
        service_owners=len(register.all_service_owners),
        errors=len(result.errors),
    )
    return result


def load_default_register() -> RegisterLoadResult:
    """Tinn's built-in test register (see ``testdata/README.md`` for the identities in it)."""
    return load_register(DEFAULT_TESTDATA_DIR)
