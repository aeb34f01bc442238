"""The Events API's contract: subscriptions (rules, statuses, idempotency, ownership), publishing
and the pull feeds (filters, paging, per-event authorisation, visibility lag)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.events.helpers import (
    app_event,
    apps_url,
    bearer,
    commit_events,
    org_token,
    person_token,
    service_owner_token,
    subscribe,
)

SUBSCRIPTIONS = "/events/api/v1/subscriptions"
ENDPOINT = "https://subscriber.example/hook"


@pytest.fixture(scope="module")
def digdir(http: httpx.Client) -> dict[str, str]:
    return bearer(service_owner_token(http, org="digdir", org_number="991825827"))


@pytest.fixture(scope="module")
def person(http: httpx.Client) -> dict[str, str]:
    return bearer(person_token(http))


# -- subscriptions -----------------------------------------------------------------------------------


def test_create_app_subscription_as_service_owner(
    server: LiveServer, http: httpx.Client, owner: dict[str, str]
) -> None:
    endpoint = f"{ENDPOINT}/{uuid.uuid4()}"
    response = http.post(
        SUBSCRIPTIONS, json={"endPoint": endpoint, "sourceFilter": f"{apps_url(server)}/ttd/x"}, headers=owner
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/events/api/v1/subscription/{body['id']}"
    assert {
        k: body[k] for k in ("endPoint", "resourceFilter", "consumer", "createdBy", "includeSubunits")
    } == {
        "endPoint": endpoint,
        "resourceFilter": "urn:altinn:resource:app_ttd_x",
        "consumer": "/org/ttd",
        "createdBy": "/org/ttd",
        "includeSubunits": False,
    }
    assert "subjectFilter" not in body and "typeFilter" not in body  # nulls omitted
    assert body["secret"].startswith("whsec_")

    # Identical create: the same subscription, still 201, but the secret is never shown again.
    again = http.post(
        SUBSCRIPTIONS, json={"EndPoint": endpoint, "SOURCEFILTER": f"{apps_url(server)}/ttd/x"}, headers=owner
    )
    assert again.status_code == 201
    assert again.json()["id"] == body["id"]
    assert "secret" not in again.json()

    fetched = http.get(f"{SUBSCRIPTIONS}/{body['id']}", headers=owner).json()
    assert "secret" not in fetched
    listed = http.get(SUBSCRIPTIONS, headers=owner).json()
    assert listed["count"] == len(listed["subscriptions"])
    assert body["id"] in [s["id"] for s in listed["subscriptions"]]


def test_only_the_creator_reads_or_deletes(
    http: httpx.Client, owner: dict[str, str], digdir: dict[str, str]
) -> None:
    created = subscribe(
        http, owner, f"{ENDPOINT}/{uuid.uuid4()}", resourceFilter="urn:altinn:resource:app_ttd_x"
    )
    url = f"{SUBSCRIPTIONS}/{created['id']}"
    assert http.get(url, headers=digdir).status_code == 403
    assert http.delete(url, headers=digdir).status_code == 403
    assert created["id"] not in [
        s["id"] for s in http.get(SUBSCRIPTIONS, headers=digdir).json()["subscriptions"]
    ]
    assert http.get(url).status_code == 401
    deleted = http.delete(url, headers=owner)
    assert deleted.status_code == 200
    assert deleted.content == b""
    assert http.get(url, headers=owner).status_code == 404
    assert http.delete(url, headers=owner).status_code == 404
    invalid = http.get(f"{SUBSCRIPTIONS}/abc", headers=owner)
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith("application/problem+json")


def test_person_subscribes_through_an_alternative_subject(http: httpx.Client, person: dict[str, str]) -> None:
    body = subscribe(
        http,
        person,
        f"{ENDPOINT}/{uuid.uuid4()}",
        resourceFilter="urn:altinn:resource:app_ttd_x",
        alternativeSubjectFilter="/person/01039012345",
    )
    assert body["subjectFilter"] == "/party/501337"
    assert body["alternativeSubjectFilter"] == "/person/01039012345"
    assert body["consumer"] == body["createdBy"] == "/user/1337"


def test_organisation_creates_generic_subscription(http: httpx.Client) -> None:
    headers = bearer(org_token(http, "950474084"))
    body = subscribe(
        http, headers, f"{ENDPOINT}/{uuid.uuid4()}", resourceFilter="urn:altinn:resource:Some-Resource"
    )
    assert body["resourceFilter"] == "urn:altinn:resource:some-resource"
    assert body["consumer"] == "/organisation/950474084"


@pytest.mark.parametrize(
    ("who", "request_body", "status", "message"),
    [
        ("owner", {"sourceFilter": "not a uri"}, 400, "SourceFilter must be an absolute URI"),
        (
            "owner",
            {"sourceFilter": "{apps}/ttd/x", "endPoint": None},
            400,
            "Missing or invalid endpoint to push events towards",
        ),
        (
            "owner",
            {"sourceFilter": "{apps}/ttd/x", "endPoint": "/relative"},
            400,
            "Missing or invalid endpoint to push events towards",
        ),
        (
            "owner",
            {"sourceFilter": "{apps}/ttd/x", "endPoint": "ftp://h/x"},
            400,
            "Missing or invalid endpoint to push events towards",
        ),
        (
            "owner",
            {"resourceFilter": "urn:altinn:resource:app_ttd_x x"},
            400,
            "Resource filter must be a valid urn",
        ),
        (
            "owner",
            {"sourceFilter": "{apps}/ttd/x/instances"},
            400,
            "A valid app id is required in source filter {environment}/{org}/{app}",
        ),
        (
            "owner",
            {"sourceFilter": "{apps}/ttd/x2", "resourceFilter": "urn:altinn:resource:app_ttd_x"},
            400,
            "Provided resource filter and source filter are not compatible",
        ),
        (
            "owner",
            {"resourceFilter": "urn:altinn:resource:app_ttd_x", "includeSubunits": True},
            400,
            "A subject filter is required to include subunits.",
        ),
        (
            "person",
            {"resourceFilter": "urn:altinn:resource:app_ttd_x"},
            400,
            "A valid subject to the authenticated identity is required",
        ),
        (
            "person",
            {
                "resourceFilter": "urn:altinn:resource:app_ttd_x",
                "alternativeSubjectFilter": "/person/99999999999",
            },
            400,
            "A valid subject to the authenticated identity is required",
        ),
        (
            "person",
            {"resourceFilter": "urn:altinn:resource:app_ttd_x", "subjectFilter": "/party/510001"},
            403,
            "Not authorized to create a subscription for resource urn:altinn:resource:app_ttd_x.",
        ),
        (
            "digdir",
            {"sourceFilter": "{apps}/ttd/x"},
            403,
            "Not authorized to create a subscription for resource urn:altinn:resource:app_ttd_x.",
        ),
        (
            "owner",
            {"resourceFilter": "urn:altinn:resource:app_ttd_unknown"},
            403,
            "Not authorized to create a subscription for resource urn:altinn:resource:app_ttd_unknown.",
        ),
        ("owner", {}, 400, "Resource filter is required."),
        (
            "owner",
            {"resourceFilter": "urn:altinn:resource:r1", "sourceFilter": "https://elsewhere.example/a/b"},
            400,
            "Source filter is not supported for subscriptions on this resource.",
        ),
        (
            "owner",
            {"resourceFilter": "urn:altinn:resource:r1", "alternativeSubjectFilter": "/person/01039012345"},
            400,
            "AlternativeSubject is not supported for subscriptions on this resource.",
        ),
        (
            "person",
            {
                "resourceFilter": "urn:altinn:resource:r1",
                "subjectFilter": "urn:altinn:organization:identifier-no:310000043",
            },
            403,
            "Not authorized to create a subscription for resource urn:altinn:resource:r1.",
        ),
        ("person_without_scope", {"resourceFilter": "urn:altinn:resource:r1"}, 403, None),
    ],
)
def test_subscription_rules(
    server: LiveServer,
    http: httpx.Client,
    owner: dict[str, str],
    digdir: dict[str, str],
    person: dict[str, str],
    who: str,
    request_body: dict[str, Any],
    status: int,
    message: str | None,
) -> None:
    callers: dict[str, Callable[[], dict[str, str]]] = {
        "owner": lambda: owner,
        "digdir": lambda: digdir,
        "person": lambda: person,
        "person_without_scope": lambda: bearer(person_token(http, scopes="altinn:instances.read")),
    }
    body = {"endPoint": f"{ENDPOINT}/{uuid.uuid4()}"}
    for key, value in request_body.items():
        body[key] = value.replace("{apps}", apps_url(server)) if isinstance(value, str) else value
    response = http.post(
        SUBSCRIPTIONS, json={k: v for k, v in body.items() if v is not None}, headers=callers[who]()
    )
    assert response.status_code == status, response.text
    if message is None:
        assert response.content == b""
    else:
        assert response.json() == message


def test_subscription_body_must_bind(http: httpx.Client, owner: dict[str, str]) -> None:
    response = http.post(SUBSCRIPTIONS, json={"endPoint": 5, "includeSubunits": "yes"}, headers=owner)
    assert response.status_code == 400
    problem = response.json()
    assert problem["title"] == "One or more validation errors occurred."
    assert set(problem["errors"]) == {"endPoint", "includeSubunits"}
    assert (
        http.post(
            SUBSCRIPTIONS, content=b"{", headers={**owner, "Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert http.post(SUBSCRIPTIONS, json={"endPoint": ENDPOINT}).status_code == 401


def test_http_endpoints_are_refused_outside_local(
    server_factory: Callable[..., LiveServer], events_database: str, apps_root: Any
) -> None:
    production = server_factory(
        database_url=events_database,
        apps=[apps_root],
        events_worker=False,
        events_allow_http_endpoints=False,
    )
    with httpx.Client(base_url=production.url, timeout=30) as client:
        headers = bearer(service_owner_token(client))
        response = client.post(
            SUBSCRIPTIONS,
            json={"endPoint": "http://plain.example/hook", "resourceFilter": "urn:altinn:resource:app_ttd_x"},
            headers=headers,
        )
        assert response.status_code == 400
        assert response.json() == "The endpoint must use https"


# -- POST /app -----------------------------------------------------------------------------------------


def test_post_app_event(
    server: LiveServer,
    http: httpx.Client,
    owner: dict[str, str],
    digdir: dict[str, str],
    person: dict[str, str],
) -> None:
    guid = uuid.uuid4()
    source = f"{apps_url(server)}/ttd/x/instances/500700/{guid}"
    request = {
        "specversion": "1.0",
        "type": "app.instance.created",
        "source": source,
        "subject": "/party/500700",
        "alternativesubject": "/org/950474084",
    }
    response = http.post("/events/api/v1/app", json=request, headers=owner)
    assert response.status_code == 201
    assert response.headers["location"] == "/party/500700"
    event_id = response.json()
    assert uuid.UUID(event_id)

    page = http.get("/events/api/v1/app/ttd/x", params={"after": "0", "party": 500700}, headers=owner)
    [event] = [e for e in page.json() if e["id"] == event_id]
    assert list(event) == [
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "resource",
        "resourceinstance",
        "alternativesubject",
    ]
    assert event["resource"] == "urn:altinn:resource:app_ttd_x"
    assert event["resourceinstance"] == f"500700/{guid}"

    missing = http.post("/events/api/v1/app", json={**request, "subject": None}, headers=owner)
    assert missing.status_code == 400
    assert missing.json()["detail"] == "Missing parameter values: source, subject and type cannot be null"
    stolen = http.post("/events/api/v1/app", json=request, headers=digdir)
    assert stolen.status_code == 401
    assert stolen.json() == f"digdir is not authorized to create events for {source}"
    assert http.post("/events/api/v1/app", json=request, headers=person).status_code == 403
    assert (
        http.post(
            "/events/api/v1/app", content=b"x", headers={**owner, "Content-Type": "text/plain"}
        ).status_code
        == 415
    )


# -- GET /app/{org}/{app} and /app/party -----------------------------------------------------------------


@pytest.fixture(scope="module")
def feed_events(server: LiveServer) -> list[dict[str, Any]]:
    """Six events of app x2 (this module's feed tests read x2 only)."""
    events = [
        app_event(server, "x2", party=501337, event_type="app.instance.created"),
        app_event(server, "x2", party=500700, event_type="app.instance.created"),
        app_event(server, "x2", party=501337, event_type="app.instance.process.movedTo.Task_1"),
        app_event(server, "x2", party=500700, event_type="app.instance.process.completed"),
        app_event(server, "x2", party=510001, event_type="app.instance.created"),
        app_event(server, "x2", party=501337, event_type="app.instance.process.completed"),
    ]
    for event in events:
        commit_events(server, [event])
    return events


def _ids(response: httpx.Response) -> list[str]:
    return [event["id"] for event in response.json()]


def test_app_feed_pages_in_registration_order(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], feed_events: list[dict[str, Any]]
) -> None:
    first = http.get("/events/api/v1/app/ttd/x2", params={"after": "0", "size": 4}, headers=owner)
    assert first.status_code == 200
    assert _ids(first) == [e["id"] for e in feed_events[:4]]
    next_link = first.headers["next"]
    assert next_link.startswith(
        f"{server.settings.effective_platform_url}/events/api/v1/app/ttd/x2?after={feed_events[3]['id']}"
    )
    assert "size=4" in next_link
    second = http.get(next_link.replace(server.settings.effective_platform_url, ""), headers=owner)
    assert _ids(second) == [e["id"] for e in feed_events[4:]]
    third = http.get(
        second.headers["next"].replace(server.settings.effective_platform_url, ""), headers=owner
    )
    assert third.json() == []
    assert "next" not in third.headers


@pytest.mark.parametrize(
    ("params", "headers", "expected"),
    [
        ({"party": 500700}, {}, [1, 3]),
        ({"unit": "950474084"}, {}, [1, 3]),
        ({}, {"person": "01039012345"}, [0, 2, 5]),
        ({"type": "app.instance.created"}, {}, [0, 1, 4]),
        ({"type": ["APP.instance.process.%", "app.instance.created"], "party": 501337}, {}, [0, 2, 5]),
        ({"type": "app_instance_created"}, {}, []),
    ],
)
def test_app_feed_filters(
    http: httpx.Client,
    owner: dict[str, str],
    feed_events: list[dict[str, Any]],
    params: dict[str, Any],
    headers: dict[str, str],
    expected: list[int],
) -> None:
    response = http.get(
        "/events/api/v1/app/ttd/x2", params={"after": "0", **params}, headers={**owner, **headers}
    )
    assert response.status_code == 200, response.text
    assert _ids(response) == [feed_events[i]["id"] for i in expected]


def test_app_feed_time_window(
    http: httpx.Client, owner: dict[str, str], feed_events: list[dict[str, Any]]
) -> None:
    start, end = feed_events[1]["time"], feed_events[3]["time"]
    response = http.get("/events/api/v1/app/ttd/x2", params={"from": start, "to": end}, headers=owner)
    assert _ids(response) == [e["id"] for e in feed_events[1:4]]


@pytest.mark.parametrize(
    ("params", "headers", "detail"),
    [
        ({}, {}, "The 'From' or 'After' parameter must be defined."),
        (
            {"from": "2024-01-01T10:00:00"},
            {},
            "The 'From' parameter must specify timezone. E.g. 2022-07-07T11:00:53.3917Z for UTC",
        ),
        (
            {"after": "0", "to": "2024-01-01 10:00:00"},
            {},
            "The 'To' parameter must specify timezone. E.g. 2022-07-07T11:00:53.3917Z for UTC",
        ),
        ({"after": "0", "size": 0}, {}, "The 'Size' parameter must be a number larger that 0."),
        (
            {"after": "0", "party": 1},
            {"person": "01039012345"},
            "Only one of 'Party' or 'Person' can be defined.",
        ),
        ({"after": "0"}, {"person": "0103"}, "Value of 'Person' needs to be exactly 11 digits."),
        (
            {"after": "0", "party": 1, "unit": "950474084"},
            {},
            "Only one of 'Party' or 'Unit' can be defined.",
        ),
        ({"after": "0", "unit": "95047408x"}, {}, "Value of 'Unit' needs to be exactly 9 digits."),
    ],
)
def test_app_feed_query_validation(
    http: httpx.Client, owner: dict[str, str], params: dict[str, Any], headers: dict[str, str], detail: str
) -> None:
    response = http.get("/events/api/v1/app/ttd/x2", params=params, headers={**owner, **headers})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == detail


def test_app_feed_callers(
    http: httpx.Client, person: dict[str, str], digdir: dict[str, str], feed_events: list[dict[str, Any]]
) -> None:
    refused = http.get("/events/api/v1/app/ttd/x2", params={"after": "0"}, headers=person)
    assert refused.status_code == 401
    assert refused.json() == "Only orgs can call this api"
    # Another service owner passes the door but may read none of ttd's events.
    other = http.get("/events/api/v1/app/ttd/x2", params={"after": "0"}, headers=digdir)
    assert other.status_code == 200
    assert other.json() == []
    assert "next" not in other.headers
    unknown = http.get(
        "/events/api/v1/app/ttd/x2", params={"after": "0", "unit": "123456789"}, headers=digdir
    )
    assert unknown.status_code == 404
    bad_date = http.get("/events/api/v1/app/ttd/x2", params={"from": "yesterday"}, headers=digdir)
    assert bad_date.status_code == 400
    assert "from" in bad_date.json()["errors"]


def test_party_feed_shows_a_person_only_what_they_may_read(
    http: httpx.Client, person: dict[str, str], feed_events: list[dict[str, Any]]
) -> None:
    own = http.get(
        "/events/api/v1/app/party",
        params={"after": "0", "party": 501337, "source": "%/ttd/x2/%"},
        headers=person,
    )
    assert own.status_code == 200
    assert _ids(own) == [feed_events[i]["id"] for i in (0, 2, 5)]
    # 1337 is DAGL for 500700 (via roles.json), but holds nothing for 510001.
    other = http.get("/events/api/v1/app/party", params={"after": "0", "party": 510001}, headers=person)
    assert other.json() == []
    missing = http.get("/events/api/v1/app/party", params={"after": "0"}, headers=person)
    assert missing.status_code == 400
    assert (
        missing.json()["detail"]
        == "Subject must be specified using either query params party or unit or header value person."
    )


def test_feeds_hide_events_younger_than_the_visibility_lag(
    server_factory: Callable[..., LiveServer],
    events_database: str,
    apps_root: Any,
    feed_events: list[dict[str, Any]],
) -> None:
    lagging = server_factory(
        database_url=events_database,
        apps=[apps_root],
        events_worker=False,
        events_visibility_lag_seconds=3600,
    )
    with httpx.Client(base_url=lagging.url, timeout=30) as client:
        headers = bearer(service_owner_token(client))
        response = client.get("/events/api/v1/app/ttd/x2", params={"after": "0"}, headers=headers)
        assert response.status_code == 200
        assert response.json() == []


# -- POST /events and GET /events ------------------------------------------------------------------------


RESOURCE = "urn:altinn:resource:tinn-api-test"


def _publish(
    http: httpx.Client,
    headers: dict[str, str],
    event: dict[str, Any],
    content_type: str = "application/cloudevents+json",
) -> httpx.Response:
    return http.post(
        "/events/api/v1/events",
        content=httpx.Request("POST", "/", json=event).content,
        headers={**headers, "Content-Type": content_type},
    )


def _generic(event_type: str, subject: str | None = None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:tinn:test:source",
        "type": event_type,
        "resource": RESOURCE,
        **extra,
    }
    if subject is not None:
        event["subject"] = subject
    return event


@pytest.fixture(scope="module")
def generic_events(http: httpx.Client, owner: dict[str, str]) -> list[dict[str, Any]]:
    events = [
        _generic(
            "a.created",
            "urn:altinn:person:identifier-no:01039012345",
            alternativesubject="/person/01039012345",
        ),
        _generic("A.created"),
        _generic(
            "a.deleted",
            "urn:altinn:person:identifier-no:14898596282",
            time="2024-05-02T10:11:12.1234567+02:00",
        ),
        _generic("a_created", "urn:altinn:person:identifier-no:01039012345", data={"x": [1, 2]}),
    ]
    for event in events:
        assert _publish(http, owner, event).status_code == 200
    return events


def _read(http: httpx.Client, headers: dict[str, str], **params: Any) -> httpx.Response:
    return http.get(
        "/events/api/v1/events", params={"resource": RESOURCE, "after": "0", **params}, headers=headers
    )


def test_publish_is_idempotent_and_keeps_the_event(
    http: httpx.Client, owner: dict[str, str], generic_events: list[dict[str, Any]]
) -> None:
    response = _publish(http, owner, generic_events[0])
    assert response.status_code == 200
    assert response.content == b""
    read = _read(http, owner)
    assert read.headers["content-type"].startswith("application/cloudevents+json")
    events = read.json()
    assert [e["id"] for e in events] == [e["id"] for e in generic_events]
    assert events[2]["time"] == "2024-05-02T10:11:12.1234567+02:00"
    assert events[3]["data"] == {"x": [1, 2]}
    assert "time" in events[1]


@pytest.mark.parametrize(
    ("params", "headers", "expected"),
    [
        ({"type": "a.%"}, {}, [0, 2]),
        ({"type": "A.created"}, {}, [1]),
        ({"type": "a_created"}, {}, [3]),
        ({"subject": "urn:altinn:person:identifier-no:01039012345"}, {}, [0, 3]),
        ({}, {"Altinn-AlternativeSubject": "/person/01039012345"}, [0]),
        ({"size": 2}, {}, [0, 1]),
        ({"size": 0}, {}, [0, 1, 2, 3]),
    ],
)
def test_generic_feed_filters(
    http: httpx.Client,
    owner: dict[str, str],
    generic_events: list[dict[str, Any]],
    params: dict[str, Any],
    headers: dict[str, str],
    expected: list[int],
) -> None:
    response = _read(http, {**owner, **headers}, **params)
    assert response.status_code == 200, response.text
    assert [e["id"] for e in response.json()] == [generic_events[i]["id"] for i in expected]


def test_generic_feed_next_link_adds_the_subject_for_alternative_subject_reads(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], generic_events: list[dict[str, Any]]
) -> None:
    response = _read(http, {**owner, "Altinn-AlternativeSubject": "/person/01039012345"})
    assert response.headers["next"].endswith("&subject=urn%3Aaltinn%3Aperson%3Aidentifier-no%3A01039012345")


def test_generic_feed_shows_a_person_their_own_events(
    http: httpx.Client, person: dict[str, str], generic_events: list[dict[str, Any]]
) -> None:
    response = _read(http, person)
    assert [e["id"] for e in response.json()] == [generic_events[i]["id"] for i in (0, 1, 3)]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"resource": ""}, "The 'resource' parameter must be defined."),
        ({"resource": "urn:other:x"}, "The 'resource' parameter must begin with urn:altinn:resource:."),
        ({"after": ""}, "The 'after' parameter must be defined."),
    ],
)
def test_generic_feed_query_validation(
    http: httpx.Client, owner: dict[str, str], params: dict[str, Any], detail: str
) -> None:
    response = _read(http, owner, **params)
    assert response.status_code == 400
    assert response.json()["detail"] == detail


def test_generic_feed_and_publish_need_their_scopes(http: httpx.Client) -> None:
    no_scopes = bearer(service_owner_token(http, scopes="altinn:serviceowner/instances.read"))
    assert _read(http, no_scopes).status_code == 403
    assert _publish(http, no_scopes, _generic("a.created")).status_code == 403


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"specversion": "1.0", "id": "1", "source": "urn:x:y", "type": "t"}, "resource"),
        (
            {
                "specversion": "1.0",
                "id": "1",
                "source": "urn:x:y",
                "type": "t",
                "resource": "urn:Altinn:Resource:X",
            },
            "resource",
        ),
        (
            {"specversion": "0.3", "id": "1", "source": "urn:x:y", "type": "t", "resource": RESOURCE},
            "specversion",
        ),
        ({"specversion": "1.0", "source": "urn:x:y", "type": "t", "resource": RESOURCE}, "id"),
        (
            {"specversion": "1.0", "id": "1", "source": "not a uri", "type": "t", "resource": RESOURCE},
            "source",
        ),
        (
            {
                "specversion": "1.0",
                "id": "1",
                "source": "urn:x:y",
                "type": "t",
                "resource": RESOURCE,
                "time": "yesterday",
            },
            "time",
        ),
        (
            {
                "specversion": "1.0",
                "id": "1",
                "source": "urn:x:y",
                "type": "t",
                "resource": RESOURCE,
                "Bad-Name": "v",
            },
            "Bad-Name",
        ),
        (
            {
                "specversion": "1.0",
                "id": "1",
                "source": "urn:x:y",
                "type": "t",
                "resource": RESOURCE,
                "ext": {"a": 1},
            },
            "ext",
        ),
    ],
)
def test_publish_validation(
    http: httpx.Client, owner: dict[str, str], event: dict[str, Any], field: str
) -> None:
    response = _publish(http, owner, event)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_publish_rules(http: httpx.Client, owner: dict[str, str], digdir: dict[str, str]) -> None:
    assert _publish(http, owner, _generic("a.created"), content_type="application/json").status_code == 415
    foreign_app = {**_generic("a.created"), "resource": "urn:altinn:resource:app_ttd_x"}
    assert _publish(http, digdir, foreign_app).status_code == 403
    assert _publish(http, owner, foreign_app).status_code == 200
