"""Pure parts of the Events context: source matching, URNs, CloudEvent validation, retry schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tinn.events.authorization import split_app_resource
from tinn.events.delivery import render_body, retry_delay
from tinn.events.dispatcher import source_matches
from tinn.events.models import EventValidationError, is_valid_urn, ordered, parse_cloud_event

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source_filter", "source", "expected"),
    [
        (None, "https://h/ttd/x/instances/1/g", True),
        ("https://h/ttd/x", "https://h/ttd/x/instances/1/g", True),
        ("https://h/ttd/x", "https://h/ttd/x", True),
        ("https://h/ttd/x/", "https://h/ttd/x/instances/1/g", True),
        ("https://h/ttd/x", "https://h/ttd/x2/instances/1/g", False),
        ("https://h/ttd/x", "https://h/ttd/xy", False),
        ("https://h/ttd/x", "https://h/ttd/X/instances/1/g", False),
        ("https://H/ttd/x", "https://h/ttd/x/instances/1/g", True),
        ("HTTPS://h/ttd/x", "https://h/ttd/x/instances/1/g", True),
        ("https://h:443/ttd/x", "https://h/ttd/x/instances/1/g", True),
        ("https://h:8443/ttd/x", "https://h/ttd/x/instances/1/g", False),
        ("https://h/ttd/x", "http://h/ttd/x/instances/1/g", False),
        ("https://h/ttd/x", "https://other/ttd/x/instances/1/g", False),
        ("https://h/ttd/x", "https://h.evil/ttd/x/instances/1/g", False),
        ("https://h", "https://h/anything", True),
        ("https://h/ttd/x?a=1", "https://h/ttd/x?a=1", True),
        ("https://h/ttd/x?a=1", "https://h/ttd/x/instances?a=1", False),
        ("urn:altinn:systems", "urn:altinn:systems:one", True),
        ("urn:altinn:systems", "urn:altinn:systems2:one", False),
    ],
)
def test_source_filter_is_a_segment_prefix(source_filter: str | None, source: str, expected: bool) -> None:
    assert source_matches(source_filter, source) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("urn:altinn:resource:app_ttd_x", True),
        ("urn:altinn:resource:some-resource", True),
        ("urn:altinn:person:identifier-no:01039012345", True),
        ("urn:Altinn:resource:x", False),
        ("urn:altinn", False),
        ("urn:altinn:resource:with space", False),
        ("https://h/x", False),
        ("", False),
        (None, False),
    ],
)
def test_urns(value: Any, expected: bool) -> None:
    assert is_valid_urn(value) is expected


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("urn:altinn:resource:app_ttd_x", ("ttd", "x")),
        ("urn:altinn:resource:app_ttd_my_app-2", ("ttd", "my_app-2")),
        ("urn:altinn:resource:app_ttd", None),
        ("urn:altinn:resource:other", None),
        (None, None),
    ],
)
def test_app_resources(resource: str | None, expected: tuple[str, str] | None) -> None:
    assert split_app_resource(resource) == expected


def test_cloud_event_gets_a_time_and_canonical_order() -> None:
    event = parse_cloud_event(
        {
            "data": {"a": 1},
            "resource": "urn:altinn:resource:r",
            "type": "t",
            "ext1": 5,
            "id": "1",
            "source": "urn:x:y",
            "specversion": "1.0",
            "subject": None,
        },
        now=NOW,
    )
    assert list(event) == ["specversion", "id", "source", "type", "time", "resource", "ext1", "data"]
    assert event["time"] == "2026-01-02T03:04:05Z"


def test_cloud_event_errors_name_every_attribute() -> None:
    with pytest.raises(EventValidationError) as raised:
        parse_cloud_event({"specversion": 1, "time": "2024-05-02T10:11:12", "x-y": "z"}, now=NOW)
    assert set(raised.value.errors) == {"specversion", "id", "source", "type", "resource", "time", "x-y"}
    with pytest.raises(EventValidationError):
        parse_cloud_event([], now=NOW)


def test_ordered_keeps_data_last() -> None:
    assert list(ordered({"data": 1, "zeta": 2, "type": "t", "id": "i"})) == ["id", "type", "zeta", "data"]


def test_retry_schedule_then_dead_letter() -> None:
    schedule = [10.0, 30.0, 60.0]
    assert [retry_delay(n, schedule) for n in (1, 2, 3, 4)] == [10.0, 30.0, 60.0, None]
    assert retry_delay(1, []) is None


def test_slack_endpoints_get_a_text_message() -> None:
    event = {"specversion": "1.0", "id": "1", "type": "t", "source": "urn:x:y"}
    assert (
        render_body(event, "https://example.com/hook")
        == b'{"specversion":"1.0","id":"1","source":"urn:x:y","type":"t"}'
    )
    assert render_body(event, "https://hooks.slack.com/services/T/B/X") == (
        b'{"text":"{\\"specversion\\":\\"1.0\\",\\"id\\":\\"1\\",\\"source\\":\\"urn:x:y\\",\\"type\\":\\"t\\"}"}'
    )
