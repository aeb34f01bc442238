"""Orchestration: which validators run, in which order, with which filters, and what they return."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED
from tests.validation.factory import InstanceBuilder, shared_app, with_logic, with_settings, write_form_app
from tinn.appdef.definition import AppDefinition
from tinn.applogic import AppLogic, FormDataReader, HookContext, Issue
from tinn.instances.models import FileScanResult
from tinn.validation.models import Severity, ValidationIssueWithSource
from tinn.validation.service import (
    DataElementNotFound,
    UnknownDataType,
    validate_data_element,
    validate_incremental,
    validate_task,
)
from tinn.validation.validators import DATA_ELEMENT_VALIDATOR_SOURCE, TASK_VALIDATOR_SOURCE, validators_for

SNAPSHOTS = SHARED / "conformance" / "basic-app-snapshots"
PATCH_RECORDINGS = sorted(SNAPSHOTS.glob("*_2_PatchFormData.verified.txt"))


def _recorded_sources(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    block = text[text.index("ValidationIssues: [") : text.index("NewDataModels:")]
    return re.findall(r"Source: (\S+)", block)


def _test_app_validators(logic: AppLogic) -> None:
    """The validators of the app the recordings were made with (no issues for this data)."""

    async def nothing(ctx: HookContext, read: FormDataReader) -> list[Issue]:
        return []

    logic.validator("TestApp.Shared.Validator", task_id="Task_1", incremental=True)(nothing)
    logic.validator("TestApp.Shared.FormDataValidator", incremental=True)(nothing)


@pytest.mark.parametrize("recording", PATCH_RECORDINGS, ids=lambda p: p.name.split("_testCase=")[-1][:-29])
async def test_incremental_pairs_match_the_recorded_patch(recording: Path) -> None:
    recorded = _recorded_sources(recording)
    assert recorded  # the recording has pairs, all without issues
    definition = with_logic(shared_app("ttd", "basic"), _test_app_validators)
    builder = InstanceBuilder(definition)
    element_id = builder.form("model", {"property1": "a", "property2": "b"})
    pairs = await validate_incremental(await builder.context(), [element_id])
    assert [pair.source for pair in pairs] == recorded
    assert all(pair.issues == () for pair in pairs)


def test_recordings_are_there() -> None:
    assert len(PATCH_RECORDINGS) == 16


# --- a form app where every validator finds something ------------------------------------------


def _app_validators(logic: AppLogic) -> None:
    async def task_check(ctx: HookContext, read: FormDataReader) -> list[Issue]:
        (_, data), *_ = await read("skjema")
        data["navn"] = "mutated"  # a copy: must not leak into other validators
        return [Issue(code="task", description="", severity=2, custom_text_key="ikke.ola", field="navn")]

    async def skjema_check(ctx: HookContext, read: FormDataReader) -> list[Issue]:
        return [
            Issue(
                code="type",
                description="Own text",
                severity=9,
                data_element_id="x",
                custom_text_key="ikke.ola",
                custom_text_params=["a", "b"],
            )
        ]

    async def slow_check(ctx: HookContext, read: FormDataReader) -> list[Issue]:
        assert ctx.instance.app_id == "ttd/vtest"
        return [Issue(code="slow", description="Slow", severity=1)]

    logic.validator("App.TaskCheck", task_id="Task_1", incremental=True)(task_check)
    logic.validator("App.SkjemaCheck", data_type="skjema", incremental=True)(skjema_check)
    logic.validator("App.SlowCheck")(slow_check)
    logic.validator("App.OtherTask", task_id="Task_2", incremental=True)(slow_check)
    logic.validator("App.OtherType", data_type="senere", incremental=True)(slow_check)


ORDER = [
    "Required",
    "Expression",
    "App.TaskCheck-Task_1",
    TASK_VALIDATOR_SOURCE,
    DATA_ELEMENT_VALIDATOR_SOURCE,
    "DataAnnotations",
    "App.SkjemaCheck-skjema",
    "App.SlowCheck-*",
]
NON_INCREMENTAL = {TASK_VALIDATOR_SOURCE, DATA_ELEMENT_VALIDATOR_SOURCE, "App.SlowCheck-*"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> AppDefinition:
    return with_logic(write_form_app(tmp_path_factory.mktemp("service")), _app_validators)


class Counting:
    """A blob store that counts reads."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.url = inner.url
        self.opened: list[str] = []

    async def put(self, key: str, chunks: Any, **kwargs: Any) -> Any:
        return await self.inner.put(key, chunks, **kwargs)

    async def open(self, key: str, **kwargs: Any) -> Any:
        self.opened.append(key)
        return await self.inner.open(key, **kwargs)


async def _everything(definition: AppDefinition, **context: Any) -> tuple[InstanceBuilder, Any]:
    builder = InstanceBuilder(definition)
    builder.form("skjema", {"navn": None, "ekstra": "x", "antall": None, "alder": 1})
    builder.form("skjema", {"navn": "Kari", "antall": 1, "alder": 1, "skjult": "x"})  # one too many
    builder.binary("vedlegg", content_type="text/plain")
    return builder, await builder.context(**context)


def _sources(issues: Sequence[ValidationIssueWithSource]) -> list[str]:
    found: list[str] = []
    for issue in issues:
        if not found or found[-1] != issue.source:
            found.append(issue.source)
    return found


async def test_full_validation_runs_every_validator_in_order(app: AppDefinition) -> None:
    _, ctx = await _everything(app)
    issues = await validate_task(ctx)
    assert _sources(issues) == ORDER
    for issue in issues:
        assert issue.no_incremental_updates is (issue.source in NON_INCREMENTAL)


async def test_app_validator_issues(app: AppDefinition) -> None:
    _, ctx = await _everything(app, language="en")
    issues = await validate_task(ctx)
    by_source = {issue.source: issue for issue in issues}
    task = by_source["App.TaskCheck-Task_1"]
    # empty description + customTextKey: translated; app issues keep their own element id
    assert (task.severity, task.code, task.description, task.field) == (
        2,
        "task",
        "Name cannot be Ola",
        "navn",
    )
    typed = by_source["App.SkjemaCheck-skjema"]
    assert typed.to_json() == {
        "severity": 0,
        "dataElementId": "x",
        "field": None,
        "code": "type",
        "description": "Own text",
        "source": "App.SkjemaCheck-skjema",
        "customTextKey": "ikke.ola",
        "customTextParams": ["a", "b"],
    }
    # the task validator changed its copy of the data, DataAnnotations still saw the stored one
    assert [issue.field for issue in issues if issue.source == "DataAnnotations"] == ["antall"]


@pytest.mark.parametrize(
    ("only_incremental", "expected"),
    [
        (None, ORDER),
        (True, [source for source in ORDER if source not in NON_INCREMENTAL]),
        (False, [source for source in ORDER if source in NON_INCREMENTAL]),
    ],
)
async def test_only_incremental(
    app: AppDefinition, only_incremental: bool | None, expected: list[str]
) -> None:
    _, ctx = await _everything(app)
    assert _sources(await validate_task(ctx, only_incremental=only_incremental)) == expected


@pytest.mark.parametrize(
    "ignored",
    [
        ["Required", "DataAnnotations"],
        ["required", " DATAANNOTATIONS "],
        ["altinn.app.core.features.validation.default.defaulttaskvalidator-*"],
        ["App.SlowCheck-*", "App.TaskCheck-Task_1", "unknown"],
        [],
    ],
)
async def test_ignored_validators(app: AppDefinition, ignored: list[str]) -> None:
    _, ctx = await _everything(app)
    skipped = {item.strip().casefold() for item in ignored}
    expected = [source for source in ORDER if source.casefold() not in skipped]
    assert _sources(await validate_task(ctx, ignored_sources=ignored)) == expected


async def test_incremental_run_of_a_form_change(app: AppDefinition) -> None:
    builder = InstanceBuilder(app)
    form_id = builder.form("skjema", {"navn": "Kai", "antall": 1, "alder": 1, "skjult": "x"})
    builder.binary("vedlegg", content_type="text/plain")
    pairs = await validate_incremental(await builder.context(), [form_id])
    assert [(pair.source, [issue.code for issue in pair.issues]) for pair in pairs] == [
        ("Required", []),
        ("Expression", []),
        ("App.TaskCheck-Task_1", ["task"]),
        ("DataAnnotations", []),
        ("App.SkjemaCheck-skjema", ["type"]),
    ]
    assert all(not issue.no_incremental_updates for pair in pairs for issue in pair.issues)


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        # an attachment: form-data validators are not concerned
        ("attachment", ["Required", "Expression", "App.TaskCheck-Task_1"]),
        # an element that is gone (deleted): it may have been form data of any type
        (
            "deleted",
            ["Required", "Expression", "App.TaskCheck-Task_1", "DataAnnotations", "App.SkjemaCheck-skjema"],
        ),
        ("nothing", ["Required", "Expression", "App.TaskCheck-Task_1"]),
    ],
)
async def test_incremental_runs_only_validators_concerned(
    app: AppDefinition, changed: str, expected: list[str]
) -> None:
    builder = InstanceBuilder(app)
    builder.form("skjema", {"navn": "Kari", "antall": 1, "alder": 1})
    attachment = builder.binary("vedlegg")
    ids = {"attachment": [attachment], "deleted": ["6f9619ff-8b86-d011-b42d-00c04fc964ff"], "nothing": []}[
        changed
    ]
    pairs = await validate_incremental(await builder.context(), ids)
    assert [pair.source for pair in pairs] == expected


async def test_incremental_ignored_validators(app: AppDefinition) -> None:
    builder = InstanceBuilder(app)
    form_id = builder.form("skjema", {})
    pairs = await validate_incremental(
        await builder.context(), [form_id], ignored_sources=["expression", "App.SkjemaCheck-skjema"]
    )
    assert [pair.source for pair in pairs] == ["Required", "App.TaskCheck-Task_1", "DataAnnotations"]


async def test_validators_of_other_tasks_and_types_run_there(app: AppDefinition) -> None:
    builder = InstanceBuilder(app, "Task_2")
    builder.binary("senere")
    issues = await validate_task(await builder.context())
    # registration order among the app's validators without a task
    assert _sources(issues) == ["App.OtherTask-Task_2", "App.SlowCheck-*", "App.OtherType-senere"]


async def test_data_element_of_the_current_task(app: AppDefinition) -> None:
    builder = InstanceBuilder(app)
    form_id = builder.form("skjema", {"navn": None, "antall": None, "alder": 1})
    other_id = builder.form("skjema", {"navn": None, "antall": 1, "alder": 1})
    issues = await validate_data_element(await builder.context(), form_id)
    assert issues  # incremental validators only, and only what concerns this element
    assert {issue.data_element_id for issue in issues} == {form_id}
    assert {issue.source for issue in issues} == {"Required", "DataAnnotations"}
    assert other_id != form_id


async def test_data_element_of_another_task(app: AppDefinition) -> None:
    builder = InstanceBuilder(app)
    builder.form("skjema", {})
    later = builder.binary("senere")
    issues = await validate_data_element(await builder.context(), later)
    assert [issue.to_json() for issue in issues] == [
        {
            "severity": 2,
            "dataElementId": later,
            "field": None,
            "code": "DataElementValidatedAtWrongTask",
            "description": "Data element for task Task_2 validated while currentTask is Task_1",
            "source": "Altinn.App.Api.Controllers.ValidateController",
            "noIncrementalUpdates": True,
            "customTextKey": "DataElementValidatedAtWrongTask",
            "customTextParams": ["Task_2", "Task_1"],
        }
    ]


async def test_data_element_that_cannot_be_validated(app: AppDefinition) -> None:
    builder = InstanceBuilder(app)
    builder.binary("ukjent-type")
    ctx = await builder.context()
    with pytest.raises(DataElementNotFound):
        await validate_data_element(ctx, "0d2c61a5-8d07-4ee1-a6f4-1d0c2bb0ed32")
    with pytest.raises(UnknownDataType):
        await validate_data_element(ctx, ctx.instance.data[0].id)


async def test_a_failing_app_validator_fails_the_validation(app: AppDefinition) -> None:
    async def broken(ctx: HookContext, read: FormDataReader) -> list[Issue]:
        raise RuntimeError("bug in app")

    definition = with_logic(app, lambda logic: logic.validator("App.Broken")(broken))
    builder = InstanceBuilder(definition)
    builder.form("skjema", {})
    with pytest.raises(RuntimeError, match="bug in app"):
        await validate_task(await builder.context())


async def test_duplicate_sources_run_once(app: AppDefinition) -> None:
    async def one(ctx: HookContext, read: FormDataReader) -> list[Issue]:
        return [Issue(code="one", description="1")]

    def register(logic: AppLogic) -> None:
        logic.validator("App.Same")(one)
        logic.validator("app.same")(one)

    builder = InstanceBuilder(with_logic(app, register))
    builder.form("skjema", {"navn": "Kai", "antall": 1, "alder": 1, "skjult": "x"})
    builder.binary("vedlegg")
    issues = await validate_task(await builder.context())
    assert [issue.source for issue in issues] == ["App.Same-*"]


@pytest.mark.parametrize(
    ("language", "prefix"),
    [
        (None, "Et felt bryter reglene satt av XSD. Melding: "),
        ("en", "A field is in violation of the rules set by the XSD schema. Message: "),
    ],
)
async def test_xsd_validation(language: str | None, prefix: str) -> None:
    definition = with_settings(shared_app("ttd", "multiple-datamodels-test"), xsd_validation=True)
    builder = InstanceBuilder(definition)
    first = builder.form("modell1", {"tekstfelt": "a", "gateadresse": "b"})
    complete = builder.form("modell1", {"tekstfelt": "a", "gateadresse": "b", "poststed": "c"})
    issues = await validate_task(
        await builder.context(language=language), ignored_sources=["Required", "DataAnnotations"]
    )
    xsd = [issue for issue in issues if issue.source == "Xsd"]
    assert [issue.data_element_id for issue in xsd] == [first]
    assert complete != first
    (issue,) = xsd
    assert (issue.code, issue.field, issue.custom_text_key, issue.no_incremental_updates) == (
        "Xsd",
        None,
        "backend.xsd_validation",
        True,
    )
    assert issue.custom_text_parameters is not None
    assert issue.custom_text_parameters["schema"] == "modell1"
    assert "poststed" in issue.custom_text_parameters["message"]
    assert issue.description == prefix + issue.custom_text_parameters["message"]
    no_xsd = with_settings(definition, xsd_validation=False)
    builder.definition = no_xsd
    ctx = await builder.context()
    ctx.accessor.definition = no_xsd
    assert "Xsd" not in {issue.source for issue in await validate_task(ctx)}


async def test_each_element_is_read_once(app: AppDefinition) -> None:
    builder = InstanceBuilder(app)
    counting = Counting(builder.blobs)
    builder.blobs = counting
    builder.form("skjema", {"navn": "Ola", "personer": [{"navn": "x"}]})
    builder.form("under", {})
    builder.form("under", {})
    ctx = await builder.context()
    await validate_task(ctx)
    await validate_incremental(ctx, [ctx.instance.data[0].id])
    assert len(counting.opened) == 3
    assert len(set(counting.opened)) == 3


def test_validators_are_built_once_per_loaded_app(app: AppDefinition) -> None:
    assert validators_for(app) is validators_for(app)
    changed = with_settings(app, required_validation=False)
    assert validators_for(changed)[0].source == "Expression"
    assert validators_for(changed) is not validators_for(app)


APPS = [
    ("ttd", "basic"),
    ("ttd", "frontend-test"),
    ("ttd", "multiple-datamodels-test"),
    ("ttd", "service-tasks"),
    ("ttd", "stateless-app"),
    ("tdd", "contributer-restriction"),
    ("tdd", "permissive-app"),
    ("tdd", "task-action"),
]


@pytest.mark.parametrize(("org", "name"), APPS)
async def test_every_shared_app_validates_every_task(org: str, name: str) -> None:
    definition = with_settings(
        shared_app(org, name), required_validation=True, expression_validation=True, xsd_validation=True
    )
    assert definition.process is not None
    for task in definition.process.tasks:
        builder = InstanceBuilder(definition, task.id)
        for data_type in definition.data_types_for_task(task.id):
            if definition.form_model(data_type.id) is not None:
                builder.form(data_type.id, {})
            else:
                builder.binary(data_type.id, file_scan_result=FileScanResult.Clean)
        ctx = await builder.context()
        issues = await validate_task(ctx)
        for issue in issues:
            assert issue.to_json()["source"] == issue.source
            assert issue.severity in Severity
        pairs = await validate_incremental(ctx, [element.id for element in ctx.instance.data or ()])
        assert all(not issue.no_incremental_updates for pair in pairs for issue in pair.issues)


async def test_read_permission_is_asked_once_per_data_type(app: AppDefinition) -> None:
    asked: list[str] = []

    def can_read(data_type: Any) -> bool:
        asked.append(data_type.id)
        return True

    builder = InstanceBuilder(app)
    builder.form("skjema", {})
    builder.form("under", {})
    builder.form("under", {})
    builder.binary("vedlegg")
    await validate_task(await builder.context(can_read=can_read))
    assert sorted(asked) == ["skjema", "under", "vedlegg"]
