"""The ``ui/`` folder: layout sets, their pages and settings, and the footer.

With ``ui/layout-sets.json`` the sets are the ones it lists. Without it (a folder per task, such
as ``ui/Task_1/layouts/Side1.json``) the sets are inferred: every folder of ``ui/`` that holds a
``layouts/`` folder or a ``Settings.json`` is a set named after the folder; it belongs to the
process task of the same name, if there is one, and its data type is ``Settings.json``'s
``defaultDataType``, else the first form data type bound to that task.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
from pydantic import ValidationError

from tinn.appdef.definition import LayoutSet
from tinn.appdef.jsonfiles import AppFileError, line_of, load_json, read_bytes
from tinn.appdef.models import ApplicationMetadata, LayoutSetEntry, LayoutSetsFile, LayoutSettings
from tinn.appdef.validation import validation_failure

# The pseudo task of a layout set that replaces the default receipt page.
CUSTOM_RECEIPT = "CustomReceipt"


def load_layout_sets(
    ui: Path, metadata: ApplicationMetadata, task_ids: Sequence[str]
) -> tuple[tuple[LayoutSet, ...], bool, str | None, list[str]]:
    """(sets, inferred, layout-sets.json text or None, warnings)."""
    warnings: list[str] = []
    if not ui.is_dir():
        return (), False, None, warnings
    sets_file = ui / "layout-sets.json"
    if sets_file.is_file():
        text, raw = load_json(sets_file)
        try:
            parsed = LayoutSetsFile.model_validate(raw)
        except ValidationError as exc:
            raise validation_failure(sets_file, text, exc) from None
        seen: set[str] = set()
        entries = []
        for index, entry in enumerate(parsed.sets):
            if entry.id in seen:
                raise AppFileError(
                    sets_file, f"layout set '{entry.id}' is listed twice", line_of(text, ["sets", index])
                )
            if "/" in entry.id or "\\" in entry.id or entry.id in (".", ".."):
                raise AppFileError(
                    sets_file,
                    f"layout set id '{entry.id}' is not a folder name",
                    line_of(text, ["sets", index]),
                )
            seen.add(entry.id)
            entries.append(entry)
            if not (ui / entry.id).is_dir():
                warnings.append(f"{sets_file}: layout set '{entry.id}' has no folder ui/{entry.id}")
        inferred = False
        sets_text: str | None = text
    else:
        entries = _infer_entries(ui, metadata, task_ids)
        inferred = True
        sets_text = None
    known_types = {data_type.id for data_type in metadata.data_types}
    sets = []
    for entry in entries:
        if entry.data_type is not None and entry.data_type not in known_types:
            warnings.append(
                f"{ui}: layout set '{entry.id}' names data type '{entry.data_type}', not in the metadata"
            )
        warnings.extend(
            f"{ui}: layout set '{entry.id}' names task '{task}', not in the process"
            for task in entry.tasks or ()
            if task not in task_ids and task != CUSTOM_RECEIPT
        )
        sets.append(_load_set(ui / entry.id, entry))
    return tuple(sets), inferred, sets_text, warnings


def _infer_entries(ui: Path, metadata: ApplicationMetadata, task_ids: Sequence[str]) -> list[LayoutSetEntry]:
    entries = []
    for folder in sorted(ui.iterdir(), key=lambda p: p.name):
        if not folder.is_dir() or not ((folder / "layouts").is_dir() or (folder / "Settings.json").is_file()):
            continue
        tasks = [folder.name] if folder.name in task_ids else []
        data_type = None
        settings_file = folder / "Settings.json"
        if settings_file.is_file():
            data_type = _settings(settings_file)[1].default_data_type
        if data_type is None and tasks:
            data_type = next(
                (dt.id for dt in metadata.data_types if dt.task_id == folder.name and dt.is_form_data), None
            )
        entries.append(LayoutSetEntry(id=folder.name, data_type=data_type, tasks=tasks))
    return entries


def inferred_layout_sets_body(sets: Sequence[LayoutSet]) -> bytes:
    """``layout-sets.json`` for sets inferred from the folders."""
    return orjson.dumps(
        {"sets": [{"id": item.id, "dataType": item.data_type, "tasks": list(item.tasks)} for item in sets]}
    )


def _settings(path: Path) -> tuple[str, LayoutSettings, Any]:
    text, raw = load_json(path)
    try:
        return text, LayoutSettings.model_validate(raw), raw
    except ValidationError as exc:
        raise validation_failure(path, text, exc) from None


def _load_set(folder: Path, entry: LayoutSetEntry) -> LayoutSet:
    settings_text: str | None = None
    settings_raw: Any = None
    order: list[str] | None = None
    settings_file = folder / "Settings.json"
    if settings_file.is_file():
        settings_text, parsed, settings_raw = _settings(settings_file)
        order = parsed.pages.order if parsed.pages else None
    layouts: dict[str, Any] = {}
    layouts_dir = folder / "layouts"
    if layouts_dir.is_dir():
        for page in sorted(layouts_dir.glob("*.json"), key=lambda p: p.name):
            if page.is_file():
                layouts[page.name[: -len(".json")]] = load_json(page)[1]
    if order is not None:
        missing = [name for name in order if name not in layouts]
        if missing:
            raise AppFileError(
                settings_file,
                f"pages.order names {', '.join(repr(m) for m in missing)}, "
                f"which has no file in {layouts_dir}",
                line_of(settings_text or "", ["pages", "order"]),
            )
    rule_configuration = folder / "RuleConfiguration.json"
    rule_config_bytes: bytes | None = None
    if rule_configuration.is_file():
        rule_config_bytes = read_bytes(rule_configuration)
        load_json(rule_configuration)  # served as written, but must be JSON
    rule_handler = folder / "RuleHandler.js"
    return LayoutSet(
        id=entry.id,
        data_type=entry.data_type,
        tasks=tuple(entry.tasks or ()),
        type=entry.type,
        layouts=MappingProxyType(layouts),
        page_order=tuple(order if order is not None else layouts),
        settings=MappingProxyType(settings_raw) if isinstance(settings_raw, dict) else None,
        settings_text=settings_text,
        rule_configuration=rule_config_bytes,
        rule_handler=read_bytes(rule_handler) if rule_handler.is_file() else None,
        layouts_body=orjson.dumps(layouts),
    )


def load_footer(ui: Path) -> tuple[str, Any] | None:
    footer = ui / "footer.json"
    return load_json(footer) if footer.is_file() else None
