"""Per-app validation artefacts, built once per loaded app definition: the layouts as component
specs with compiled expressions, and the parsed ``{dataType}.validation.json`` configurations.

The cache is keyed by the app id and checks identity, so a reloaded app (a new
:class:`AppDefinition` object) is compiled afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tinn.appdef.definition import AppDefinition
from tinn.validation.expression import ExpressionConfig, compile_expression_config
from tinn.validation.layout import LayoutSpec, compile_layout_set
from tinn.validation.texts import text_resources

T = TypeVar("T")


class CompiledApp:
    def __init__(self, definition: AppDefinition) -> None:
        self.definition = definition
        self._layouts: dict[str, LayoutSpec] = {}
        self._expression_configs: dict[str, ExpressionConfig | None] = {}
        self._texts: dict[str, dict[str, Any]] = {}
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def cached(self, key: str, build: Callable[[], T]) -> T:
        """Anything else derived from the definition, built once."""
        if key not in self._built:
            value = build()
            with self._lock:
                self._built.setdefault(key, value)
        result: T = self._built[key]
        return result

    def layout(self, set_id: str) -> LayoutSpec | None:
        spec = self._layouts.get(set_id)
        if spec is None:
            layout_set = self.definition.layout_set(set_id)
            if layout_set is None:
                return None
            with self._lock:
                spec = self._layouts.get(set_id)
                if spec is None:
                    spec = compile_layout_set(self.definition, layout_set)
                    self._layouts[set_id] = spec
        return spec

    def expression_config(self, data_type_id: str) -> ExpressionConfig | None:
        if data_type_id not in self._expression_configs:
            files = self.definition.model_files(data_type_id)
            raw = files.validation if files is not None else None
            config = (
                compile_expression_config(self.definition.id, data_type_id, raw) if raw is not None else None
            )
            with self._lock:
                self._expression_configs.setdefault(data_type_id, config)
        return self._expression_configs[data_type_id]

    def texts(self, language: str) -> dict[str, Any]:
        texts = self._texts.get(language)
        if texts is None:
            texts = text_resources(self.definition, language)
            with self._lock:
                self._texts.setdefault(language, texts)
        return texts


_cache: dict[str, CompiledApp] = {}
_cache_lock = threading.Lock()


def compiled_for(definition: AppDefinition) -> CompiledApp:
    compiled = _cache.get(definition.id)
    if compiled is None or compiled.definition is not definition:
        with _cache_lock:
            compiled = _cache.get(definition.id)
            if compiled is None or compiled.definition is not definition:
                compiled = CompiledApp(definition)
                _cache[definition.id] = compiled
    return compiled
