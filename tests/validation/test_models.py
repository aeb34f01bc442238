from __future__ import annotations

from typing import Any

import pytest

from tinn.validation.models import (
    Severity,
    ValidationIssue,
    ValidationIssueWithSource,
    ValidationSourcePair,
    issues_json,
    pairs_json,
)
from tinn.validation.service import has_blocking_errors

BASE = {"severity": 1, "dataElementId": None, "field": None, "code": None, "description": None, "source": "S"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, BASE),
        (
            {"data_element_id": "d1", "field": "a.b", "code": "c", "description": "text"},
            BASE | {"dataElementId": "d1", "field": "a.b", "code": "c", "description": "text"},
        ),
        ({"no_incremental_updates": False}, BASE),
        ({"no_incremental_updates": True}, BASE | {"noIncrementalUpdates": True}),
        ({"custom_text_key": "k"}, BASE | {"customTextKey": "k"}),
        ({"custom_text_params": ("a", "b")}, BASE | {"customTextParams": ["a", "b"]}),
        ({"custom_text_parameters": {"x": "y"}}, BASE | {"customTextParameters": {"x": "y"}}),
        ({"severity": Severity.Success}, BASE | {"severity": 5}),
        ({"severity": Severity.Unspecified}, BASE | {"severity": 0}),
    ],
)
def test_issue_json_writes_what_altinn_writes(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    values: dict[str, Any] = {"severity": Severity.Error, "source": "S"} | fields
    issue = ValidationIssueWithSource(**values)
    written = issue.to_json()
    assert written == expected
    assert list(written) == list(expected)  # member order as System.Text.Json writes it
    assert type(written["severity"]) is int
    assert ValidationIssueWithSource.model_validate(written) == issue


def test_member_order_with_every_optional_member() -> None:
    issue = ValidationIssueWithSource(
        severity=Severity.Warning,
        source="S",
        no_incremental_updates=True,
        custom_text_key="k",
        custom_text_params=("p",),
        custom_text_parameters={"n": "v"},
    )
    assert list(issue.to_json()) == [
        "severity",
        "dataElementId",
        "field",
        "code",
        "description",
        "source",
        "noIncrementalUpdates",
        "customTextKey",
        "customTextParams",
        "customTextParameters",
    ]


def test_source_pairs_and_lists() -> None:
    issue = ValidationIssueWithSource(severity=Severity.Error, source="A", code="c")
    pairs = [ValidationSourcePair(source="A", issues=(issue,)), ValidationSourcePair(source="B")]
    assert pairs_json(pairs) == [
        {"source": "A", "issues": [issue.to_json()]},
        {"source": "B", "issues": []},
    ]
    assert issues_json([issue, issue]) == [issue.to_json(), issue.to_json()]


def test_issue_takes_the_source_and_incremental_flag_of_its_validator() -> None:
    raw = ValidationIssue(
        severity=Severity.Informational,
        code="c",
        description="d",
        field="f",
        data_element_id="e",
        custom_text_key="k",
        custom_text_params=("1",),
        custom_text_parameters={"a": "b"},
    )
    with_source = raw.with_source("Src", no_incremental_updates=True)
    assert with_source.to_json() == {
        "severity": 3,
        "dataElementId": "e",
        "field": "f",
        "code": "c",
        "description": "d",
        "source": "Src",
        "noIncrementalUpdates": True,
        "customTextKey": "k",
        "customTextParams": ["1"],
        "customTextParameters": {"a": "b"},
    }


@pytest.mark.parametrize(
    ("severities", "blocking"),
    [
        ([], 0),
        (
            [
                Severity.Warning,
                Severity.Informational,
                Severity.Success,
                Severity.Fixed,
                Severity.Unspecified,
            ],
            0,
        ),
        ([Severity.Error], 1),
        ([Severity.Error, Severity.Warning, Severity.Error], 2),
    ],
)
def test_only_errors_block(severities: list[Severity], blocking: int) -> None:
    issues = [ValidationIssueWithSource(severity=severity, source="S") for severity in severities]
    assert has_blocking_errors(issues) == blocking
