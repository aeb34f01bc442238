"""JSON Patch (RFC 6902) on form data, with the failures Altinn's PATCH endpoint reports (app notes 5.5).

The operations are applied by python-json-patch, one at a time, so a failure names the index
of the operation that failed. Altinn applies patches with JsonPatch.Net; its messages are
reproduced for the failures clients act on:

* a ``test`` whose value differs: ``Path `/a/b` is not equal to the indicated value.``
  (:attr:`PatchFailure.test_failed`, answered with 409);
* a location that does not exist: ``Path `/a/b` could not be reached.`` (422);
* any other malformed or inapplicable operation: the library's reason (422).

The document is the model serialised to JSON and parsed back (numbers exact, as
:func:`tinn.data.formdata.parse_json` reads them), so values compare as JSON values: ``1`` equals
``1.0``, ``true`` does not equal ``1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jsonpatch
import jsonpointer

from tinn.data import formdata

TEST_FAILED_SUFFIX = "is not equal to the indicated value."
_MISSING = object()


class PatchFailure(Exception):
    """Operation ``index`` of the patch could not be applied; ``message`` says why."""

    def __init__(self, index: int, message: str, *, test_failed: bool = False) -> None:
        super().__init__(f"operation {index}: {message}")
        self.index = index
        self.message = message
        self.test_failed = test_failed


def as_json_document(data: Mapping[str, Any]) -> Any:
    """Form data as the JSON document a patch works on (a fresh copy)."""
    return formdata.parse_json(formdata.dump_json(data))


def _pointer_text(operation: Mapping[str, Any], member: str) -> str:
    value = operation.get(member)
    return value if isinstance(value, str) else ""


def _reachable(document: Any, pointer: str) -> bool:
    try:
        return jsonpointer.resolve_pointer(document, pointer, _MISSING) is not _MISSING
    except jsonpointer.JsonPointerException:
        return False


def _parent_reachable(document: Any, pointer: str) -> bool:
    parent, _, _ = pointer.rpartition("/")
    return _reachable(document, parent)


def _unreachable(operation: Mapping[str, Any], document: Any) -> str | None:
    """JsonPatch.Net's message when the operation's location does not exist, else None."""
    op = operation.get("op")
    path = _pointer_text(operation, "path")
    if op in ("move", "copy"):
        source = _pointer_text(operation, "from")
        if not _reachable(document, source):
            return f"Path `{source}` could not be reached."
    if op in ("remove", "replace", "test") and not _reachable(document, path):
        return f"Path `{path}` could not be reached."
    if op in ("add", "move", "copy") and path and not _parent_reachable(document, path):
        return f"Path `{path}` could not be reached."
    return None


def _check_shape(index: int, operation: Any) -> Mapping[str, Any]:
    if not isinstance(operation, Mapping):
        raise PatchFailure(index, "A patch operation must be a JSON object.")
    if operation.get("op") not in ("add", "remove", "replace", "move", "copy", "test"):
        raise PatchFailure(index, f"Unknown patch operation {operation.get('op')!r}.")
    for member in ("path", *(("from",) if operation.get("op") in ("move", "copy") else ())):
        if not isinstance(operation.get(member), str):
            raise PatchFailure(index, f"The operation does not contain a '{member}' member.")
    if operation.get("op") in ("add", "replace", "test") and "value" not in operation:
        raise PatchFailure(index, "The operation does not contain a 'value' member.")
    return operation


def apply_patch(document: Any, operations: Sequence[Any]) -> Any:
    """Apply ``operations`` to ``document`` (changed in place) and return the result.

    Raises :class:`PatchFailure` for the first operation that cannot be applied; ``document`` may
    then be partly patched, so pass a copy (:func:`as_json_document`).
    """
    for index, raw in enumerate(operations):
        operation = _check_shape(index, raw)
        unreachable = _unreachable(operation, document)
        if unreachable is not None:
            raise PatchFailure(index, unreachable)
        try:
            document = jsonpatch.JsonPatch([dict(operation)]).apply(document, in_place=True)
        except jsonpatch.JsonPatchTestFailed:
            raise PatchFailure(
                index, f"Path `{operation['path']}` {TEST_FAILED_SUFFIX}", test_failed=True
            ) from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise PatchFailure(index, str(exc) or type(exc).__name__) from None
    return document
