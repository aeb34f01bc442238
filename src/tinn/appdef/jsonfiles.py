"""Reading the text and JSON files of an app folder, with errors that name file and line.

Altinn reads most app JSON with System.Text.Json or Newtonsoft set to tolerate ``//``/``/* */``
comments and trailing commas; ``applicationmetadata.json`` tolerates trailing commas only. Files
are parsed with orjson and, only when that fails, once more after blanking out what the file's
reader tolerates (which keeps every line where it was, so error lines stay true).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson


class AppFileError(Exception):
    """A file of an app folder that cannot be used; ``line`` is 1-based when known."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")
        self.path = path
        self.message = message
        self.line = line


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AppFileError(path, f"cannot read the file: {exc.strerror or exc}") from None


def decode(data: bytes, path: Path) -> str:
    """UTF-8 text without a byte order mark (what .NET's ``File.ReadAllText`` returns)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise AppFileError(path, f"not UTF-8 text (byte {exc.start})", line) from None


def read_text(path: Path) -> str:
    return decode(read_bytes(path), path)


def parse_json(text: str, path: Path, *, comments: bool = True, trailing_commas: bool = True) -> Any:
    """Parse ``text`` (the content of ``path``) as JSON, tolerating what Altinn's reader does."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        first = exc
    if comments or trailing_commas:
        relaxed = relax(text, comments=comments, trailing_commas=trailing_commas)
        if relaxed != text:
            try:
                return orjson.loads(relaxed)
            except orjson.JSONDecodeError as exc:
                first = exc
    raise AppFileError(path, f"invalid JSON: {first.msg} (column {first.colno})", first.lineno) from None


def load_json(path: Path, *, comments: bool = True, trailing_commas: bool = True) -> tuple[str, Any]:
    """The file's text and its parsed JSON value."""
    text = read_text(path)
    return text, parse_json(text, path, comments=comments, trailing_commas=trailing_commas)


def relax(text: str, *, comments: bool, trailing_commas: bool) -> str:
    """Blank out comments and trailing commas outside strings, keeping line breaks in place."""
    out = list(text)
    n = len(text)
    i = 0
    last_comma: int | None = None
    previous = ""  # the last significant character outside strings and comments
    while i < n:
        c = text[i]
        if c == '"':
            last_comma = None
            previous = c
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        if comments and c == "/" and i + 1 < n and text[i + 1] in "/*":
            end = text.find("\n", i) if text[i + 1] == "/" else text.find("*/", i + 2)
            end = n if end < 0 else (end if text[i + 1] == "/" else end + 2)
            for j in range(i, end):
                if out[j] not in "\r\n":
                    out[j] = " "
            i = end
            continue
        if c == ",":
            # Only a comma after a value can be a trailing one ("[,]" stays invalid).
            last_comma = i if previous not in "[{," else None
        elif c in "}]":
            if trailing_commas and last_comma is not None:
                out[last_comma] = " "
            last_comma = None
        elif not c.isspace():
            last_comma = None
        if not c.isspace():
            previous = c
        i += 1
    return "".join(out)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR = re.compile(r"[^\s,\]}]+")


def line_of(text: str, loc: Sequence[str | int]) -> int | None:
    """1-based line of the JSON value at ``loc`` (object keys compared case-insensitively).

    Walks as deep as the path goes; a step that does not exist (e.g. a missing property) gives
    the line of the deepest value found. None when the text is not JSON at all.
    """
    source = relax(text, comments=True, trailing_commas=True)
    walker = _Walker(source)
    try:
        position = walker.find(loc)
    except (IndexError, ValueError):
        return None
    return source.count("\n", 0, position) + 1


class _Walker:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def find(self, loc: Sequence[str | int]) -> int:
        self.skip_ws()
        for step in loc:
            here = self.pos
            char = self.text[here]
            if char == "{" and isinstance(step, str):
                found = self.member(step)
            elif char == "[" and isinstance(step, int):
                found = self.element(step)
            else:
                found = False
            if not found:
                return here
        return self.pos

    def member(self, key: str) -> bool:
        wanted = key.casefold()
        self.pos += 1
        while True:
            self.skip_ws()
            if self.text[self.pos] == "}":
                return False
            match = _STRING.match(self.text, self.pos)
            if match is None:
                raise ValueError("expected a property name")
            name = orjson.loads(match.group())
            self.pos = match.end()
            self.skip_ws()
            self.pos += 1  # ':'
            self.skip_ws()
            if isinstance(name, str) and name.casefold() == wanted:
                return True
            self.skip_value()
            self.skip_ws()
            if self.text[self.pos] == ",":
                self.pos += 1

    def element(self, index: int) -> bool:
        self.pos += 1
        current = 0
        while True:
            self.skip_ws()
            if self.text[self.pos] == "]":
                return False
            if current == index:
                return True
            self.skip_value()
            self.skip_ws()
            if self.text[self.pos] == ",":
                self.pos += 1
            current += 1

    def skip_value(self) -> None:
        char = self.text[self.pos]
        if char == '"':
            match = _STRING.match(self.text, self.pos)
            if match is None:
                raise ValueError("unterminated string")
            self.pos = match.end()
        elif char in "{[":
            closing = "}" if char == "{" else "]"
            self.pos += 1
            while True:
                self.skip_ws()
                if self.text[self.pos] == closing:
                    self.pos += 1
                    return
                if char == "{":
                    self.skip_value()  # the key
                    self.skip_ws()
                    self.pos += 1  # ':'
                    self.skip_ws()
                self.skip_value()
                self.skip_ws()
                if self.text[self.pos] == ",":
                    self.pos += 1
        else:
            match = _SCALAR.match(self.text, self.pos)
            if match is None:
                raise ValueError("expected a value")
            self.pos = match.end()
