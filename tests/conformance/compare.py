"""Comparing one of our HTTP responses with a recording, after normalisation.

How a recording and our response are made comparable (each rule undoes something Verify or the
recording fixture did, or something that differs from run to run by nature):

* **Status** by number (Verify writes .NET's ``HttpStatusCode`` name: ``Created``, ``BadRequest``).
* **Headers that matter**: ``Location``, ``Content-Type``, ``Content-Disposition``,
  ``Cache-Control`` and the security headers (``X-Frame-Options``, ``X-Content-Type-Options``,
  ``X-XSS-Protection``, ``Referrer-Policy``). Each must be present with the recorded value when
  recorded and absent when not. ``Date``, ``Server``, ``Transfer-Encoding``, ``Content-Length``,
  ``Request-Context`` (Application Insights) and Tinn's own ``ETag`` are transport or host details.
* **Body keys**: Verify writes the members of typed .NET models in PascalCase; our ``camelCase``
  key matches a recorded key when equal or equal after upper-casing its first letter. Keys of
  dictionaries (form data) are written as they are and match exactly.
* **Enums**: the App API writes ``readStatus``, ``partyTypeName`` and ``userType`` as numbers;
  Verify (and the recorded app's own JSON) write the .NET member name.
* **Omitted members**: Verify leaves out ``null`` members of typed models, empty collections and
  enum members at their default (``ReadStatus: Unread``, ``FileScanResult: NotApplicable``). A
  member we send that the recording lacks is a difference unless it is one of those.
* **Scalars** are compared as the text Verify writes (``true``, ``null``, numbers as written).
* **Placeholders**: ``<instanceGuid>``, ``<dataElementId[N]>`` (the fixture's scrubber: the
  instance's GUID and its data elements' ids, in the order of ``instance.data``), ``Guid_N`` and
  ``DateTime_N`` (Verify's numbering of distinct GUIDs and timestamps in order of appearance within
  one file), ``<localtestPort>``, ``<date>`` and ``{Scrubbed}``. A placeholder matches any value
  of its kind, but consistently: within one recording the same name must stand for the same value
  everywhere and two names of one kind for two different values. Timestamps are compared as instants
  (``...Z`` and ``+00:00`` are the same), so "``Created`` equals ``VisibleAfter``" is checked too.
* ``{ValueKind: Object}`` is how Verify prints a ``System.Text.Json`` element: it matches any JSON
  object (the patched form data, checked by the later ``Download-Data`` step).
* A response body Verify printed as one line of text is compared as JSON when it parses as JSON
  (``"..."`` strings and raw problem documents), else as the exact text.
* **The request** we sent is checked against the recorded one too: method, path and query (the
  recorded origin ``http://local.altinn.cloud:<localtestPort>`` is localtest's), and the recorded
  ``Accept``, ``Content-Type`` and ``Content-Disposition`` request headers. ``Content-Length`` is
  not compared: the recordings keep no request bodies, so ours are rebuilt (see ``replay.py``).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import httpx

HEADERS_THAT_MATTER = (
    "Location",
    "Content-Type",
    "Content-Disposition",
    "Cache-Control",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Referrer-Policy",
)

# Numeric enums of the App API by .NET member name, and the defaults Verify leaves out.
ENUM_NAMES = {
    "readStatus": {0: "Unread", 1: "Read", 2: "UpdatedSinceLastReview"},
    "partyTypeName": {
        1: "Person",
        2: "Organisation",
        3: "SelfIdentified",
        4: "SubUnit",
        5: "BankruptcyEstate",
    },
    "userType": {0: "None", 1: "SSNIdentified", 2: "SelfIdentified", 3: "EnterpriseIdentified"},
}
ENUM_DEFAULTS = {"readStatus": "Unread", "fileScanResult": "NotApplicable"}

ANY = ("{Scrubbed}", "<date>")
JSON_ELEMENT = {"ValueKind": "Object"}

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"
_PLACEHOLDER = re.compile(
    r"<instanceGuid>|<dataElementId\[\d+\]>|<localtestPort>|<token>|\bGuid_\d+\b|\bDateTime_\d+\b"
)


def _kind(name: str) -> str:
    if name.startswith("DateTime_"):
        return "datetime"
    if name == "<localtestPort>":
        return "port"
    if name == "<token>":
        return "token"
    if name.startswith("Guid_"):
        return "guid"
    return "id"  # <instanceGuid> and <dataElementId[N]>: the fixture's names for our ids


_PATTERNS = {"datetime": _TIMESTAMP, "port": r"\d+", "token": r"[A-Za-z0-9_.-]+", "guid": _GUID, "id": _GUID}


@dataclass(frozen=True)
class Difference:
    """One way our response differs from the recording. ``where`` is a path into the recording."""

    where: str
    recorded: str
    ours: str

    def __str__(self) -> str:
        return f"{self.where}: recorded {self.recorded!r}, ours {self.ours!r}"


@dataclass
class Bindings:
    """What each placeholder stands for in one recording (see the module docstring)."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, name: str, raw: str) -> bool:
        kind = _kind(name)
        value = _canonical(kind, raw)
        if name in self.values:
            return bool(self.values[name] == value)
        if kind != "token" and any(
            _kind(other) == kind and bound == value for other, bound in self.values.items()
        ):
            return False
        self.values[name] = value
        return True


def _canonical(kind: str, raw: str) -> Any:
    if kind == "datetime":
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if kind in ("guid", "id"):
        return uuid.UUID(raw)
    return raw


def verify_text(value: Any) -> str:
    """A JSON scalar as Verify writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _enum_name(key: str, value: Any) -> Any:
    names = ENUM_NAMES.get(key)
    if names is not None and isinstance(value, int) and not isinstance(value, bool):
        return names.get(value, value)
    return value


def _omittable(key: str, value: Any) -> bool:
    return value is None or value == [] or value == {} or ENUM_DEFAULTS.get(key) == _enum_name(key, value)


def _template(recorded: str) -> tuple[str, list[str]]:
    pieces: list[str] = []
    names: list[str] = []
    position = 0
    for found in _PLACEHOLDER.finditer(recorded):
        pieces.append(re.escape(recorded[position : found.start()]))
        pieces.append(f"({_PATTERNS[_kind(found.group())]})")
        names.append(found.group())
        position = found.end()
    pieces.append(re.escape(recorded[position:]))
    return "".join(pieces), names


def match_scalar(recorded: str, ours: str, bindings: Bindings) -> bool:
    """Whether our text matches a recorded text with placeholders (binding them)."""
    if recorded in ANY:
        return True
    pattern, names = _template(recorded)
    if not names:
        return recorded == ours
    match = re.fullmatch(pattern, ours)
    if match is None:
        return False
    return all(bindings.bind(name, raw) for name, raw in zip(names, match.groups(), strict=True))


def _our_key(recorded_key: str, ours: dict[str, Any]) -> str | None:
    if recorded_key in ours:
        return recorded_key
    for key in ours:
        if key[:1].upper() + key[1:] == recorded_key:
            return key
    return None


def compare_value(
    recorded: Any, ours: Any, where: str, bindings: Bindings, *, projection: bool = False
) -> list[Difference]:
    """Differences between a parsed recording value and our JSON value (see the module docstring).

    With ``projection`` the recording shows only some members of our objects (the recorded app's
    own models of register data), so members it lacks are not compared.
    """
    if isinstance(recorded, dict):
        if recorded == JSON_ELEMENT and isinstance(ours, dict):
            return []
        if not isinstance(ours, dict):
            return [Difference(where, "{...}", _short(ours))]
        differences: list[Difference] = []
        used: set[str] = set()
        for key, value in recorded.items():
            mine = _our_key(key, ours)
            if mine is None:
                differences.append(Difference(f"{where}.{key}", _short_recorded(value), "<missing>"))
                continue
            used.add(mine)
            differences += compare_value(
                value, _enum_name(mine, ours[mine]), f"{where}.{key}", bindings, projection=projection
            )
        for key, value in ours.items():
            if key not in used and not projection and not _omittable(key, value):
                differences.append(
                    Difference(f"{where}.{key[:1].upper() + key[1:]}", "<absent>", _short(value))
                )
        return differences
    if isinstance(recorded, list):
        if not isinstance(ours, list):
            return [Difference(where, "[...]", _short(ours))]
        differences = []
        if len(recorded) != len(ours):
            differences.append(Difference(f"{where}.length", str(len(recorded)), str(len(ours))))
        for index, (theirs, mine) in enumerate(zip(recorded, ours, strict=False)):
            differences += compare_value(theirs, mine, f"{where}[{index}]", bindings, projection=projection)
        return differences
    if isinstance(ours, dict | list):
        return [Difference(where, str(recorded), _short(ours))]
    text = verify_text(ours)
    if match_scalar(str(recorded), text, bindings):
        return []
    return [Difference(where, str(recorded), text)]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else verify_text(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _short_recorded(value: Any) -> str:
    return _short(value) if isinstance(value, dict | list) else str(value)


def status_code(name: str) -> int:
    """.NET's ``HttpStatusCode`` name (``BadRequest``) as a number."""
    wanted = name.replace("_", "").lower()
    for status in HTTPStatus:
        if status.name.replace("_", "").lower() == wanted:
            return int(status)
    raise ValueError(f"unknown status {name}")


def recorded_headers(http_response: dict[str, Any]) -> dict[str, str]:
    """The headers that matter, from the response and content header blocks of a recording."""
    found: dict[str, str] = {}
    blocks = [http_response.get("Headers", {}), http_response.get("Content", {}).get("Headers", {})]
    for block in blocks:
        for name, values in block.items():
            if name.lower() in {h.lower() for h in HEADERS_THAT_MATTER}:
                found[name.lower()] = ", ".join(values) if isinstance(values, list) else str(values)
    return found


REQUEST_HEADERS = ("Accept", "Content-Type", "Content-Disposition")
LOCALTEST_ORIGIN = "http://local.altinn.cloud:<localtestPort>"


def compare_request(recorded: dict[str, Any], request: httpx.Request, bindings: Bindings) -> list[Difference]:
    """The request we sent against the recorded ``RequestMessage``."""
    differences: list[Difference] = []
    method = recorded["Method"]["Method"]
    if request.method != method:
        differences.append(Difference("request method", method, request.method))
    target = recorded["RequestUri"].removeprefix(LOCALTEST_ORIGIN)
    ours = request.url.raw_path.decode()
    if not match_scalar(target, ours, bindings):
        differences.append(Difference("request uri", target, ours))
    sent: dict[str, str] = {}
    for block in (recorded.get("Headers", {}), _content_headers(recorded.get("Content"))):
        for name, values in block.items():
            if name in REQUEST_HEADERS:
                sent[name] = ", ".join(values)
    for name, value in sent.items():
        mine = request.headers.get(name)
        if mine != value:
            differences.append(Difference(f"request header {name}", value, str(mine)))
    return differences


def _content_headers(content: Any) -> dict[str, Any]:
    return content.get("Headers", {}) if isinstance(content, dict) else {}


def compare_response(
    recording: dict[str, Any], response: httpx.Response, bindings: Bindings
) -> list[Difference]:
    """The request, status, headers that matter and the body of ``response`` against a recording."""
    http = recording["HttpResponse"]
    differences = compare_request(http["RequestMessage"], response.request, bindings)
    expected_status = status_code(http["StatusCode"])
    if response.status_code != expected_status:
        differences.append(Difference("status", str(expected_status), str(response.status_code)))
    headers = recorded_headers(http)
    for name in HEADERS_THAT_MATTER:
        key = name.lower()
        recorded = headers.get(key)
        mine = response.headers.get(key)
        if recorded is None and mine is None:
            continue
        if recorded is None or mine is None or not match_scalar(recorded, mine, bindings):
            differences.append(Difference(f"header {name}", str(recorded), str(mine)))
    if "Response" in recording:
        differences += compare_body(recording["Response"], response, bindings)
    return differences


def compare_body(recorded: Any, response: httpx.Response, bindings: Bindings) -> list[Difference]:
    if isinstance(recorded, dict | list):
        try:
            ours = response.json()
        except ValueError:
            return [Difference("Response", "<json>", response.text[:200])]
        return compare_value(recorded, ours, "Response", bindings)
    try:
        as_json = json.loads(recorded)
    except ValueError:
        return (
            []
            if match_scalar(recorded, response.text, bindings)
            else [Difference("Response", recorded, response.text[:500])]
        )
    try:
        ours = response.json()
    except ValueError:
        return [Difference("Response", recorded, response.text[:500])]
    if isinstance(as_json, dict | list):
        return compare_value(_as_recorded(as_json), ours, "Response", bindings)
    return [] if as_json == ours else [Difference("Response", recorded, _short(ours))]


def _as_recorded(value: Any) -> Any:
    """Raw JSON from a recording as the parser gives Verify values (scalars as Verify's text)."""
    if isinstance(value, dict):
        return {key: _as_recorded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_recorded(item) for item in value]
    return verify_text(value)
