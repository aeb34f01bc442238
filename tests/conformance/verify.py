"""Reading Altinn's golden recordings (``BasicAppTests.*.verified.txt``, Verify's snapshot format).

Verify writes a relaxed JSON: one ``Key: value`` per line, strings unquoted, a trailing comma after
every item but the last, ``{}``/``[]`` for empty containers. :func:`parse_verify` turns that into
dicts, lists and *strings* (every scalar stays the text Verify wrote; the comparison decides what it
means). A value that is itself JSON on one line (a response body Verify printed as a string) stays a
string too.

The file name says what was recorded: ``BasicAppTests.{Test}_{parameters}_{step}_{name}``, e.g.
``Full_auth=User_testCase=MultipartXmlPrefill_3_ProcessNext``. :func:`recording_name` splits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import SHARED

SNAPSHOTS = SHARED / "conformance" / "basic-app-snapshots"


@dataclass(frozen=True)
class RecordingName:
    """What a recording file records: test, its parameters, and the step (``None`` for one-shot tests)."""

    file: str
    test: str
    params: dict[str, str]
    step: int | None
    kind: str | None

    @property
    def auth(self) -> str | None:
        return self.params.get("auth")

    @property
    def case(self) -> str | None:
        return self.params.get("testCase")


def recording_name(path: Path) -> RecordingName:
    if not (path.name.startswith("BasicAppTests.") and path.name.endswith(".verified.txt")):
        raise ValueError(f"not a BasicAppTests recording name: {path.name}")
    tokens = path.name.removeprefix("BasicAppTests.").removesuffix(".verified.txt").split("_")
    test = [tokens.pop(0)]
    params: dict[str, str] = {}
    step: int | None = None
    kind: str | None = None
    while tokens:
        token = tokens.pop(0)
        if "=" in token:
            key, _, value = token.partition("=")
            params[key] = value
        elif token.isdigit() and len(tokens) == 1:
            step, kind = int(token), tokens.pop(0)
        else:
            test.append(token)
    return RecordingName(path.name, "_".join(test), params, step, kind)


def all_recordings() -> list[Path]:
    return sorted(SNAPSHOTS.glob("BasicAppTests.*.verified.txt"))


class VerifyFormatError(ValueError):
    pass


def parse_verify(text: str) -> Any:
    """Verify's relaxed JSON as dicts, lists and strings (see the module docstring)."""
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if not lines:
        raise VerifyFormatError("empty recording")
    position = 0

    def scalar_or_container(raw: str) -> Any:
        raw = raw.removesuffix(",")
        if raw == "{":
            return parse_object()
        if raw == "[":
            return parse_list()
        if raw == "{}":
            return {}
        if raw == "[]":
            return []
        return raw

    def next_line() -> str:
        nonlocal position
        if position >= len(lines):
            raise VerifyFormatError("recording ends inside a container")
        line = lines[position]
        position += 1
        return line

    def parse_object() -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            line = next_line()
            if line.removesuffix(",") == "}":
                return result
            key, colon, raw = line.partition(":")
            if not colon:
                raise VerifyFormatError(f"expected 'Key: value', got {line!r}")
            # Verify repeats some members of failed responses (StatusCode twice): the values agree.
            result[key.strip()] = scalar_or_container(raw.strip())

    def parse_list() -> list[Any]:
        result: list[Any] = []
        while True:
            line = next_line()
            if line.removesuffix(",") == "]":
                return result
            result.append(scalar_or_container(line))

    first = next_line()
    if first.startswith("["):
        # A plain text snapshot (the app logs) is not Verify JSON.
        raise VerifyFormatError("not a Verify object")
    value = scalar_or_container(first)
    if position != len(lines):
        raise VerifyFormatError(f"trailing content after line {position}")
    return value


def load_recording(path: Path) -> Any:
    return parse_verify(path.read_text(encoding="utf-8-sig"))
