"""Loading Altinn's shared expression test cases (``conformance/expression-tests``) for pytest."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinn.process.expressions import COMPONENT_FUNCTIONS, SimpleContext

CASES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "expression-tests"


@dataclass(frozen=True)
class Case:
    """One expression with its expected result (``expects``) or error text (``expects_failure``)."""

    name: str
    expression: Any
    expects: Any
    expects_failure: str | None
    settings: dict[str, Any]  # the file's context: data models, instance, texts, ...


def case_files() -> list[Path]:
    return sorted(CASES_DIR.rglob("*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"))
    return data


def cases(document: dict[str, Any]) -> Iterator[Case]:
    """The top-level case (when it has an expression) and every entry of ``testCases``."""
    settings = {k: v for k, v in document.items() if k not in ("testCases", "expression", "expects")}
    entries = [document] if "expression" in document else []
    entries += document.get("testCases", [])
    for index, entry in enumerate(entries):
        yield Case(
            name=entry.get("name") or f"{document.get('name', '')} #{index}",
            expression=entry["expression"],
            expects=entry.get("expects"),
            expects_failure=entry.get("expectsFailure"),
            settings=settings,
        )


def _functions_used(expression: Any) -> Iterator[str]:
    if isinstance(expression, list) and expression:
        if isinstance(expression[0], str):
            yield expression[0]
        for item in expression[1:]:
            yield from _functions_used(item)


def skip_reason(relative: str, document: dict[str, Any]) -> str | None:
    """Why a case file cannot run without a layout component tree, or None when it can."""
    if relative.startswith("context-lists/"):
        return "context-lists: builds component contexts from layouts (needs a layout component tree)"
    if relative.startswith("invalid/") and "layouts" in document:
        return "invalid layouts (duplicate ids, group children): layout validation needs a component tree"
    for case in cases(document):
        used = COMPONENT_FUNCTIONS.intersection(_functions_used(case.expression))
        if used:
            return f"uses {', '.join(sorted(used))}: needs a layout component tree"
    return None


def context_for(case: Case) -> SimpleContext:
    """A ``SimpleContext`` holding what a case file provides (timestamps shown in UTC)."""
    settings = case.settings
    data_models: dict[str, Any] = {}
    counts: Counter[str] = Counter()
    default_data_type: str | None = None
    if "dataModels" in settings:
        for model in settings["dataModels"]:
            data_type = model["dataElement"]["dataType"]
            default_data_type = default_data_type or data_type
            data_models.setdefault(data_type, model["data"])
            counts[data_type] += 1
    if "dataModel" in settings:
        default_data_type = "default"
        data_models["default"] = settings["dataModel"]
        counts["default"] += 1
    return SimpleContext(
        data_models=data_models,
        default_data_type=default_data_type,
        data_element_counts=counts,
        row_indices=(settings.get("context") or {}).get("rowIndices"),
        instance=settings.get("instance"),
        frontend_settings=settings.get("frontendSettings") or {},
        language=(settings.get("profileSettings") or {}).get("language"),
        text_resources={resource["id"]: resource for resource in settings.get("textResources", [])},
    )


def same_json(actual: Any, expected: Any) -> bool:
    """JSON equality: ``1 == 1.0``, but ``true`` is not ``1`` and lists/objects compare deeply."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return actual == expected
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same_json(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same_json(actual[k], expected[k]) for k in expected)
        )
    return type(actual) is type(expected) and actual == expected
