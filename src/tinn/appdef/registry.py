"""Finding every app folder under the configured roots and loading them at start-up.

An app folder is ``{root}/{org}/{app}/`` holding ``config/applicationmetadata.json``, or a Studio
repository checkout ``{root}/{org}/{app}/App/config/applicationmetadata.json``. A broken app is
reported as an :class:`AppLoadError` (file, message, line) and the others still load.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from tinn.appdef.definition import AppDefinition
from tinn.appdef.jsonfiles import AppFileError
from tinn.appdef.loader import METADATA_FILE, load_app

__all__ = ["AppDefinition", "AppLoadError", "AppRegistry", "discover_apps", "load_apps"]

log = structlog.get_logger("tinn.appdef")

# Storage's rules for the two halves of an app id.
_ORG = re.compile(r"^[a-zæøå][a-zæøå0-9]*$")
_APP = re.compile(r"^[a-zæøå][a-zæøå0-9\-]*$")


@dataclass(frozen=True, slots=True)
class AppLoadError:
    """Why an app folder did not load: the file at fault, what is wrong, and the line if known."""

    path: Path
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


class AppRegistry:
    """The loaded apps by ``org/app`` (immutable), plus the folders that failed."""

    def __init__(self, apps: dict[str, AppDefinition], errors: Sequence[AppLoadError]) -> None:
        self._apps = dict(apps)
        self._ordered = tuple(sorted(self._apps.values(), key=lambda d: d.id))
        self.errors: tuple[AppLoadError, ...] = tuple(errors)

    def get(self, org: str, app: str) -> AppDefinition | None:
        return self._apps.get(f"{org}/{app}")

    def by_id(self, app_id: str) -> AppDefinition | None:
        return self._apps.get(app_id)

    def for_org(self, org: str) -> tuple[AppDefinition, ...]:
        return tuple(definition for definition in self._ordered if definition.org == org)

    def __iter__(self) -> Iterator[AppDefinition]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

    def __contains__(self, app_id: object) -> bool:
        return app_id in self._apps


def discover_apps(root: Path) -> list[tuple[str, str, Path]]:
    """``(org, app, folder)`` for every app folder under ``root``, in name order."""
    found: list[tuple[str, str, Path]] = []
    for org_dir in sorted(root.iterdir(), key=lambda p: p.name):
        if not org_dir.is_dir() or org_dir.name.startswith("."):
            continue
        for app_dir in sorted(org_dir.iterdir(), key=lambda p: p.name):
            if not app_dir.is_dir() or app_dir.name.startswith("."):
                continue
            for folder in (app_dir, app_dir / "App"):
                if (folder / METADATA_FILE).is_file():
                    found.append((org_dir.name, app_dir.name, folder))
                    break
    return found


def load_apps(roots: Sequence[Path]) -> AppRegistry:
    """Load every app folder under ``roots``; the first of two folders for one app id wins."""
    apps: dict[str, AppDefinition] = {}
    errors: list[AppLoadError] = []
    for root in roots:
        if not root.is_dir():
            errors.append(AppLoadError(root, "apps folder does not exist"))
            continue
        for org, app, folder in discover_apps(root):
            metadata_path = folder / METADATA_FILE
            app_id = f"{org}/{app}"
            if not _ORG.match(org) or not _APP.match(app):
                errors.append(
                    AppLoadError(
                        metadata_path,
                        f"'{app_id}' is not a valid app id: "
                        f"org must match {_ORG.pattern}, app {_APP.pattern}",
                    )
                )
                continue
            if app_id in apps:
                errors.append(
                    AppLoadError(metadata_path, f"{app_id} is already loaded from {apps[app_id].path}")
                )
                continue
            try:
                definition = load_app(folder, org, app)
            except AppFileError as exc:
                errors.append(AppLoadError(exc.path, exc.message, exc.line))
                continue
            for warning in definition.warnings:
                log.warning("app_definition_warning", app=app_id, warning=warning)
            apps[app_id] = definition
    return AppRegistry(apps, errors)
