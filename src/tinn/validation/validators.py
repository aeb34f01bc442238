"""The validators a task runs, in Altinn's order, each with its source string and incremental flag.

1. ``Required`` (incremental) — with ``AppSettings.RequiredValidation``, when the task has a
   layout set: required components that are not hidden and have empty bindings.
2. ``Expression`` (incremental) — with ``AppSettings.ExpressionValidation``, when a form data type
   of the task has a ``{dataType}.validation.json``.
3. ``Xsd`` (not incremental) — with ``AppSettings.XsdValidation``, when the task has form data.
   ``...SigningTaskValidator-*`` (not incremental) — signing tasks whose ``signatureConfig`` has
   ``runDefaultValidator``: ``MissingSignatures`` while fewer SignDocuments than the signature
   data type's ``minCount`` exist; ``...SignatureHashValidator-*`` (not incremental) — the same
   tasks: ``InvalidSignatureHash`` when a signed element's bytes changed since signing.
4. App validators bound to a task: ``{source}-{taskId}`` (incremental as registered).
5. ``Altinn.App.Core.Features.Validation.Default.DefaultTaskValidator-*`` (not incremental):
   ``minCount``/``maxCount`` of the task's data types.
6. ``Altinn.App.Core.Features.Validation.Default.DefaultDataElementValidator-*`` (not
   incremental): content type, size and file scan of each element.
7. ``DataAnnotations`` (incremental): the model's attribute rules.
8. App validators for a data type (``{source}-{dataType}``, when the type is bound to the task) or
   for every task (``{source}-*``), in registration order.

That is the order Altinn's validator factory produces (built-in ``IValidator`` s, app ones, then
task, data element and form data validators, built-in before app), and what the recorded
``ttd/basic`` PATCH responses show. Data-element validators see only the elements whose data type
is bound to the task and that the caller may read. In an incremental run the form-data
validators (``DataAnnotations``, app validators for a data type) run only when form data (of
their type) changed; the others whenever they apply.
"""

from __future__ import annotations

import copy
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from tinn.appdef.definition import AppDefinition
from tinn.applogic import Issue, RegisteredValidator
from tinn.data.formdata import FormDataError, FormModelError, data_to_xml, strip_row_ids, validate_xsd
from tinn.instances.models import FileScanResult
from tinn.process.bpmn import SignatureConfig
from tinn.validation.annotations import data_annotation_issues
from tinn.validation.compiled import compiled_for
from tinn.validation.expression import expression_issues
from tinn.validation.layout import required_issues
from tinn.validation.models import Severity, ValidationIssue

if TYPE_CHECKING:
    from tinn.validation.context import RunState

log = structlog.get_logger("tinn.validation")

TASK_VALIDATOR_SOURCE = "Altinn.App.Core.Features.Validation.Default.DefaultTaskValidator-*"
DATA_ELEMENT_VALIDATOR_SOURCE = "Altinn.App.Core.Features.Validation.Default.DefaultDataElementValidator-*"
XSD_TEXT_KEY = "backend.xsd_validation"
SIGNING_TASK_VALIDATOR_SOURCE = "Altinn.App.Core.Features.Validation.Default.SigningTaskValidator-*"
SIGNATURE_HASH_VALIDATOR_SOURCE = "Altinn.App.Core.Features.Validation.Default.SignatureHashValidator-*"
MISSING_SIGNATURES_TEXT = "Det mangler påkrevde signaturer."


@dataclass(frozen=True, slots=True)
class Changes:
    """What an incremental run was told changed: the data types of the changed elements, and
    whether some changed element is no longer in the instance (deleted: any type)."""

    data_types: frozenset[str]
    unknown: bool

    @classmethod
    def of(cls, run: RunState, element_ids: Collection[str]) -> Changes:
        data_types: set[str] = set()
        unknown = False
        for element_id in element_ids:
            element = run.element(element_id)
            if element is None:
                unknown = True
            else:
                data_types.add(element.data_type)
        return cls(frozenset(data_types), unknown)

    def touch_form_data(self, run: RunState, data_type: str | None = None) -> bool:
        """Whether a form data element (of ``data_type``, or of any type) changed."""
        if self.unknown:
            return data_type is None or run.model(data_type) is not None
        if data_type is not None:
            return data_type in self.data_types and run.model(data_type) is not None
        return any(run.model(changed) is not None for changed in self.data_types)


class Validator(ABC):
    source: str
    no_incremental: bool

    def applies(self, run: RunState) -> bool:
        """Whether the validator runs for the run's task at all."""
        return True

    def relevant(self, run: RunState, changes: Changes) -> bool:
        """Whether an incremental run with these changes runs the validator."""
        return True

    @abstractmethod
    async def validate(self, run: RunState) -> list[ValidationIssue]: ...


class RequiredValidator(Validator):
    source = "Required"
    no_incremental = False

    def applies(self, run: RunState) -> bool:
        return run.definition.layout_set_for_task(run.task_id) is not None

    async def validate(self, run: RunState) -> list[ValidationIssue]:
        state = await run.layout()
        return required_issues(state) if state is not None else []


class ExpressionValidator(Validator):
    source = "Expression"
    no_incremental = False

    def applies(self, run: RunState) -> bool:
        return any(
            run.model(data_type.id) is not None and run.app.expression_config(data_type.id) is not None
            for data_type in run.definition.data_types_for_task(run.task_id)
        )

    async def validate(self, run: RunState) -> list[ValidationIssue]:
        elements = [
            (element, config)
            for data_type, element in run.task_elements(form_data_only=True)
            if (config := run.app.expression_config(data_type.id)) is not None and config.rules
        ]
        if not elements:
            return []
        state = await run.layout()
        issues: list[ValidationIssue] = []
        for element, config in elements:
            issues.extend(await expression_issues(run, state, element, config))
        return issues


class XsdValidator(Validator):
    source = "Xsd"
    no_incremental = True

    def applies(self, run: RunState) -> bool:
        return any(run.model(dt.id) is not None for dt in run.definition.data_types_for_task(run.task_id))

    async def validate(self, run: RunState) -> list[ValidationIssue]:
        issues: list[ValidationIssue] = []
        for data_type, element in run.task_elements(form_data_only=True):
            model = run.model(data_type.id)
            data = await run.form_data(element)
            if model is None or model.xsd_path is None or data is None:
                continue
            try:
                found = validate_xsd(model, data_to_xml(model, strip_row_ids(data)))
            except (FormDataError, FormModelError) as exc:
                log.warning(
                    "xsd_validation_failed", element_id=element.id, data_type=data_type.id, error=str(exc)
                )
                continue
            issues.extend(
                ValidationIssue(
                    severity=Severity.Error,
                    code="Xsd",
                    data_element_id=element.id,
                    custom_text_key=XSD_TEXT_KEY,
                    custom_text_parameters={"schema": data_type.id, "message": issue.description},
                )
                for issue in found
            )
        return issues


def _signature_config(run: RunState) -> SignatureConfig | None:
    """The run's task's signature configuration, when the task is a signing task."""
    process = run.definition.process
    task = process.task(run.task_id) if process is not None else None
    if task is None or task.task_type != "signing":
        return None
    return task.signature_config or SignatureConfig()


class SigningTaskValidator(Validator):
    source = SIGNING_TASK_VALIDATOR_SOURCE
    no_incremental = True

    def applies(self, run: RunState) -> bool:
        config = _signature_config(run)
        return config is not None and config.run_default_validator

    async def validate(self, run: RunState) -> list[ValidationIssue]:
        config = _signature_config(run)
        data_type = run.data_type(config.signature_data_type or "") if config else None
        required = data_type.min_count if data_type is not None else 0
        signed = run.count_elements(data_type.id) if data_type is not None else 0
        if data_type is not None and signed >= required:
            return []
        return [
            ValidationIssue(
                severity=Severity.Error, code="MissingSignatures", description=MISSING_SIGNATURES_TEXT
            )
        ]


class SignatureHashValidator(Validator):
    source = SIGNATURE_HASH_VALIDATOR_SOURCE
    no_incremental = True

    def applies(self, run: RunState) -> bool:
        config = _signature_config(run)
        return config is not None and config.run_default_validator and run.ctx.blobs is not None

    async def validate(self, run: RunState) -> list[ValidationIssue]:
        config = _signature_config(run)
        if config is None or not config.signature_data_type:
            return []
        for document in run.elements_of_type(config.signature_data_type):
            for signed_id, expected in _signed_hashes(await run.content(document)):
                signed = run.element(signed_id)
                content = await run.content(signed) if signed is not None else None
                actual = hashlib.sha256(content).hexdigest() if content is not None else None
                if actual != expected:
                    log.error(
                        "signature_hash_invalid",
                        instance_id=run.ctx.instance.id,
                        data_element_id=signed_id,
                        expected=expected,
                        actual=actual,
                    )
                    return [_coded("InvalidSignatureHash")]
        return []


def _signed_hashes(document: bytes | None) -> list[tuple[str, str | None]]:
    """(data element id, sha256) of each signature in a SignDocument; nothing when unreadable."""
    if document is None:
        return []
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError:
        return []
    signatures = parsed.get("dataElementSignatures") if isinstance(parsed, dict) else None
    result: list[tuple[str, str | None]] = []
    for signature in signatures if isinstance(signatures, list) else ():
        if isinstance(signature, dict) and isinstance(signature.get("dataElementId"), str):
            expected = signature.get("sha256Hash")
            result.append((signature["dataElementId"], expected if isinstance(expected, str) else None))
    return result


class DefaultTaskValidator(Validator):
    """``minCount``/``maxCount`` of the task's data types (0 or less: no limit)."""

    source = TASK_VALIDATOR_SOURCE
    no_incremental = True

    async def validate(self, run: RunState) -> list[ValidationIssue]:
        issues: list[ValidationIssue] = []
        for data_type in run.definition.data_types_for_task(run.task_id):
            count = run.count_elements(data_type.id)
            if 0 < data_type.max_count < count:
                issues.append(_coded("TooManyDataElementsOfType", field=data_type.id))
            if data_type.min_count > 0 and data_type.min_count > count:
                issues.append(_coded("TooFewDataElementsOfType", field=data_type.id))
        return issues


class DefaultDataElementValidator(Validator):
    """Content type, size and file scan state of each element of the task."""

    source = DATA_ELEMENT_VALIDATOR_SOURCE
    no_incremental = True

    async def validate(self, run: RunState) -> list[ValidationIssue]:
        issues: list[ValidationIssue] = []
        for data_type, element in run.task_elements():
            if element.content_type is None:
                issues.append(_coded("MissingContentType", element_id=element.id))
            else:
                content_type = element.content_type.split(";")[0]
                allowed = data_type.allowed_content_types or []
                if allowed and all(item.lower() != content_type.lower() for item in allowed):
                    issues.append(_coded("ContentTypeNotAllowed", element_id=element.id, field=data_type.id))
            if (
                data_type.max_size
                and data_type.max_size > 0
                and data_type.max_size * 1024 * 1024 < element.size
            ):
                issues.append(_coded("DataElementTooLarge", element_id=element.id, field=data_type.id))
            if data_type.enable_file_scan and element.file_scan_result is FileScanResult.Infected:
                issues.append(_coded("DataElementFileInfected", element_id=element.id, field=data_type.id))
            if (
                data_type.enable_file_scan
                and data_type.validation_error_on_pending_file_scan
                and element.file_scan_result is FileScanResult.Pending
            ):
                issues.append(_coded("DataElementFileScanPending", element_id=element.id, field=data_type.id))
        return issues


class DataAnnotationsValidator(Validator):
    source = "DataAnnotations"
    no_incremental = False

    def relevant(self, run: RunState, changes: Changes) -> bool:
        return changes.touch_form_data(run)

    async def validate(self, run: RunState) -> list[ValidationIssue]:
        issues: list[ValidationIssue] = []
        for data_type, element in run.task_elements(form_data_only=True):
            model = run.model(data_type.id)
            data = await run.form_data(element)
            if model is not None and data is not None:
                issues.extend(data_annotation_issues(model, data, element.id))
        return issues


class AppValidator(Validator):
    """A validator the app's Python logic registered (``logic.validator(...)``)."""

    def __init__(self, registered: RegisteredValidator) -> None:
        self.registered = registered
        scope = registered.task_id or registered.data_type or "*"
        self.source = f"{registered.source}-{scope}"
        self.no_incremental = not registered.incremental

    def applies(self, run: RunState) -> bool:
        if self.registered.task_id is not None:
            return self.registered.task_id == run.task_id
        if self.registered.data_type is not None:
            data_type = run.data_type(self.registered.data_type)
            return data_type is not None and data_type.task_id == run.task_id
        return True

    def relevant(self, run: RunState, changes: Changes) -> bool:
        if self.registered.data_type is not None:
            return changes.touch_form_data(run, self.registered.data_type)
        return True

    async def validate(self, run: RunState) -> list[ValidationIssue]:
        async def read(data_type: str) -> list[tuple[str, dict[str, Any]]]:
            found = []
            for element in run.elements_of_type(data_type):
                data = await run.form_data(element)
                if data is not None:
                    found.append((element.id, copy.deepcopy(data)))
            return found

        try:
            reported = await self.registered.fn(run.ctx.hook_context, read)
        except Exception:
            log.exception("app_validator_failed", app=run.definition.id, source=self.source, task=run.task_id)
            raise
        return [_from_app(issue) for issue in reported]


def _from_app(issue: Issue) -> ValidationIssue:
    try:
        severity = Severity(issue.severity)
    except ValueError:
        severity = Severity.Unspecified
    return ValidationIssue(
        severity=severity,
        code=issue.code,
        description=issue.description,
        field=issue.field,
        data_element_id=issue.data_element_id,
        custom_text_key=issue.custom_text_key,
        custom_text_params=tuple(issue.custom_text_params) if issue.custom_text_params is not None else None,
    )


def _coded(code: str, *, element_id: str | None = None, field: str | None = None) -> ValidationIssue:
    return ValidationIssue(
        severity=Severity.Error, code=code, description=code, field=field, data_element_id=element_id
    )


def _build(definition: AppDefinition) -> tuple[Validator, ...]:
    settings = definition.settings
    app = [AppValidator(registered) for registered in definition.logic.validators]
    ordered: list[Validator] = []
    if settings.required_validation:
        ordered.append(RequiredValidator())
    if settings.expression_validation:
        ordered.append(ExpressionValidator())
    if settings.xsd_validation:
        ordered.append(XsdValidator())
    ordered.extend([SigningTaskValidator(), SignatureHashValidator()])
    ordered.extend(v for v in app if v.registered.task_id is not None)
    ordered.extend([DefaultTaskValidator(), DefaultDataElementValidator(), DataAnnotationsValidator()])
    ordered.extend(v for v in app if v.registered.task_id is None)
    unique: list[Validator] = []
    seen: set[str] = set()
    for validator in ordered:
        folded = validator.source.casefold()
        if folded in seen:
            log.warning("validator_source_duplicate", app=definition.id, source=validator.source)
            continue
        seen.add(folded)
        unique.append(validator)
    return tuple(unique)


def validators_for(definition: AppDefinition) -> Sequence[Validator]:
    """The app's validators in run order, built once per loaded app."""
    return compiled_for(definition).cached("validators", lambda: _build(definition))
