"""Prefill of new form data (app notes 4.6): values from the request, then from the register."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from tinn.data import formdata
from tinn.data.formdata import FormDataError, FormModel

log = structlog.get_logger("tinn.prefill")

_SOURCES = ("UserProfile", "ER", "DSF")


def apply_external(model: FormModel, data: dict[str, Any], prefill: Mapping[str, str]) -> None:
    """`{"dot.path": "value"}` from `instances/create` or a stateless query; unknown paths are ignored."""
    for path, value in prefill.items():
        try:
            formdata.set_path(model, data, path, value)
        except FormDataError as exc:
            log.info("prefill_skipped", path=path, reason=exc.message)


def _lookup(source: Any, path: str) -> Any:
    current = source
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        key = next((k for k in current if k.lower() == part.lower()), None)
        if key is None:
            return None
        current = current[key]
    return current


def apply_register(
    model: FormModel,
    data: dict[str, Any],
    config: Mapping[str, Any] | None,
    sources: Mapping[str, Mapping[str, Any] | None],
) -> None:
    """`{dataType}.prefill.json`: `{"ER": {"Name": "melding.orgName"}, ...}`, source path -> model path.

    Register values do not overwrite non-null fields unless `allowOverwrite` is true.
    """
    if not config:
        return
    overwrite = bool(config.get("allowOverwrite", False))
    for source_name in _SOURCES:
        mapping = config.get(source_name)
        source = sources.get(source_name)
        if not isinstance(mapping, Mapping) or not mapping or source is None:
            continue
        for source_path, target_path in mapping.items():
            if not isinstance(target_path, str):
                continue
            value = _lookup(source, str(source_path))
            if value is None:
                continue
            try:
                formdata.set_path(model, data, target_path, value, overwrite=overwrite)
            except FormDataError as exc:
                log.warning("prefill_failed", source=source_name, path=target_path, reason=exc.message)
