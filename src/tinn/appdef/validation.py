"""Turning a pydantic validation failure of an app file into an error with file and line."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from tinn.appdef.jsonfiles import AppFileError, line_of


def validation_failure(path: Path, text: str, exc: ValidationError) -> AppFileError:
    """The first problem pydantic found, named by its JSON path and located in ``text``."""
    error = exc.errors(include_url=False)[0]
    # Drop pydantic's own steps (union members, validator names) that are not JSON keys.
    loc = [p for p in error["loc"] if isinstance(p, int) or ("[" not in p and "(" not in p)]
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else part)
    message = "required property is missing" if error["type"] == "missing" else error["msg"]
    return AppFileError(path, f"{where}: {message}" if where else message, line_of(text, loc))
