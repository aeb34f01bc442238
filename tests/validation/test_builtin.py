"""The default task validator (data element counts) and data element validator (metadata, file scan)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.validation.factory import InstanceBuilder, shared_app, with_data_type, write_form_app
from tinn.appdef.definition import AppDefinition
from tinn.instances.models import FileScanResult
from tinn.validation.service import validate_task
from tinn.validation.validators import DATA_ELEMENT_VALIDATOR_SOURCE, TASK_VALIDATOR_SOURCE

ONLY_TASK = [DATA_ELEMENT_VALIDATOR_SOURCE, "DataAnnotations", "Required", "Expression"]
ONLY_ELEMENTS = [TASK_VALIDATOR_SOURCE, "DataAnnotations", "Required", "Expression"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> AppDefinition:
    return write_form_app(tmp_path_factory.mktemp("builtin"))


def _codes(issues: list[Any]) -> list[tuple[str | None, str | None]]:
    return [(issue.code, issue.field) for issue in issues]


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # contributer-restriction: default/customElement/... maxCount 1, others 10, no minCount
        ({}, []),
        ({"default": 1, "customElement": 1}, []),
        ({"default": 2}, [("TooManyDataElementsOfType", "default")]),
        (
            {"customElement": 2, "9edd53de-f46f-40a1-bb4d-3efb93dc113d": 3},
            [
                ("TooManyDataElementsOfType", "customElement"),
                ("TooManyDataElementsOfType", "9edd53de-f46f-40a1-bb4d-3efb93dc113d"),
            ],
        ),
        ({"userInteractionUnspecified": 10}, []),
        ({"userInteractionUnspecified": 11}, [("TooManyDataElementsOfType", "userInteractionUnspecified")]),
        ({"task2DataType": 20}, []),  # bound to another task
    ],
)
async def test_counts_of_contributer_restriction(
    counts: dict[str, int], expected: list[tuple[str, str]]
) -> None:
    definition = shared_app("tdd", "contributer-restriction")
    builder = InstanceBuilder(definition)
    for data_type, count in counts.items():
        for _ in range(count):
            if definition.form_model(data_type) is not None:
                builder.form(data_type, {})
            else:
                builder.binary(data_type, content_type="application/pdf")
    issues = await validate_task(await builder.context(), ignored_sources=ONLY_TASK)
    assert _codes(issues) == expected
    for issue in issues:
        assert issue.description == issue.code
        assert issue.severity == 1 and issue.data_element_id is None
        assert issue.source == TASK_VALIDATOR_SOURCE and issue.no_incremental_updates


@pytest.mark.parametrize(
    ("forms", "attachments", "expected"),
    [
        (1, 1, []),
        (1, 2, []),
        (0, 1, [("TooFewDataElementsOfType", "skjema")]),
        (1, 0, [("TooFewDataElementsOfType", "vedlegg")]),
        (2, 3, [("TooManyDataElementsOfType", "skjema"), ("TooManyDataElementsOfType", "vedlegg")]),
    ],
)
async def test_min_and_max_count(
    app: AppDefinition, forms: int, attachments: int, expected: list[tuple[str, str]]
) -> None:
    builder = InstanceBuilder(app)
    for _ in range(forms):
        builder.form("skjema", {})
    for _ in range(attachments):
        builder.binary("vedlegg")
    builder.binary("vedlegg", hard_deleted=True)  # hard-deleted elements do not count
    issues = await validate_task(await builder.context(), ignored_sources=ONLY_TASK)
    assert _codes(issues) == expected


@pytest.mark.parametrize("limit", [0, -1])
async def test_zero_or_negative_limits_mean_unbounded(app: AppDefinition, limit: int) -> None:
    definition = with_data_type(
        with_data_type(app, "vedlegg", max_count=limit, min_count=limit), "skjema", min_count=limit
    )
    builder = InstanceBuilder(definition)
    for _ in range(5):
        builder.binary("vedlegg")
    assert await validate_task(await builder.context(), ignored_sources=ONLY_TASK) == []


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ({}, []),
        ({"content_type": "IMAGE/PNG"}, []),
        ({"content_type": "application/pdf; name=x.pdf"}, []),
        ({"content_type": None}, [("MissingContentType", None)]),
        ({"content_type": "text/plain"}, [("ContentTypeNotAllowed", "vedlegg")]),
        ({"size": 1024 * 1024}, []),
        ({"size": 1024 * 1024 + 1}, [("DataElementTooLarge", "vedlegg")]),
        ({"file_scan_result": FileScanResult.Clean}, []),
        ({"file_scan_result": FileScanResult.Infected}, [("DataElementFileInfected", "vedlegg")]),
        ({"file_scan_result": FileScanResult.Pending}, [("DataElementFileScanPending", "vedlegg")]),
        (
            {
                "content_type": "text/plain",
                "size": 5 * 1024 * 1024,
                "file_scan_result": FileScanResult.Infected,
            },
            [
                ("ContentTypeNotAllowed", "vedlegg"),
                ("DataElementTooLarge", "vedlegg"),
                ("DataElementFileInfected", "vedlegg"),
            ],
        ),
    ],
)
async def test_data_element_checks(
    app: AppDefinition, element: dict[str, Any], expected: list[tuple[str, str | None]]
) -> None:
    builder = InstanceBuilder(app)
    builder.form("skjema", {})
    element_id = builder.binary("vedlegg", **element)
    issues = await validate_task(await builder.context(), ignored_sources=ONLY_ELEMENTS)
    assert _codes(issues) == expected
    for issue in issues:
        assert issue.data_element_id == element_id
        assert issue.description == issue.code
        assert issue.source == DATA_ELEMENT_VALIDATOR_SOURCE and issue.no_incremental_updates


@pytest.mark.parametrize(
    ("changes", "scan", "expected"),
    [
        ({"enable_file_scan": False}, FileScanResult.Infected, []),
        ({"enable_file_scan": False}, FileScanResult.Pending, []),
        ({"validation_error_on_pending_file_scan": False}, FileScanResult.Pending, []),
        (
            {"validation_error_on_pending_file_scan": False},
            FileScanResult.Infected,
            ["DataElementFileInfected"],
        ),
        ({"max_size": None}, FileScanResult.Clean, []),
        ({"allowed_content_types": []}, FileScanResult.Clean, []),
    ],
)
async def test_data_type_settings_switch_checks_off(
    app: AppDefinition, changes: dict[str, Any], scan: FileScanResult, expected: list[str]
) -> None:
    builder = InstanceBuilder(with_data_type(app, "vedlegg", **changes))
    builder.form("skjema", {})
    builder.binary(
        "vedlegg",
        file_scan_result=scan,
        size=2 * 1024 * 1024 if "max_size" in changes else 10,
        content_type="text/plain" if "allowed_content_types" in changes else "application/pdf",
    )
    issues = await validate_task(await builder.context(), ignored_sources=ONLY_ELEMENTS)
    assert [issue.code for issue in issues] == expected


async def test_only_readable_elements_of_the_task_are_checked(app: AppDefinition) -> None:
    builder = InstanceBuilder(app)
    builder.form("skjema", {})
    builder.binary("vedlegg", content_type="text/plain")
    builder.binary("senere", content_type="text/plain")  # Task_2's data type
    ctx = await builder.context()
    assert [issue.code for issue in await validate_task(ctx, ignored_sources=ONLY_ELEMENTS)] == [
        "ContentTypeNotAllowed"
    ]
    ctx = await builder.context(can_read=lambda data_type: data_type.id != "vedlegg")
    assert await validate_task(ctx, ignored_sources=ONLY_ELEMENTS) == []
