"""Webhook delivery end to end: a real subscriber on loopback, the handshake, signatures, retries,
timeouts, dead letters, redelivery, exact matching and the outbox's transactional guarantee."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from tests.conftest import LiveServer
from tests.events.helpers import (
    RETRIES,
    TIMEOUT,
    VALIDATION,
    Receiver,
    Switch,
    always,
    app_event,
    app_subscription,
    apps_url,
    bearer,
    commit_events,
    deliveries,
    event_deliveries,
    fail_first,
    person_token,
    service_owner_token,
    stall_first,
    subscribe,
    wait_until,
    wait_validated,
)
from tinn.events.signing import WebhookVerificationError, verify_signature
from tinn.storage import tables
from tinn.timeutil import utcnow


def test_handshake_first_then_signed_events_deduped_by_id(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    endpoint = receiver.endpoint()
    subscription = subscribe(http, owner, endpoint, sourceFilter=f"{apps_url(server)}/ttd/x")
    secret = subscription["secret"]
    assert secret.startswith("whsec_")
    wait_validated(http, owner, subscription)
    handshake = receiver.hits(endpoint)[0]
    assert handshake.event_type == VALIDATION
    assert handshake.event["source"].endswith(f"/events/api/v1/subscriptions/{subscription['id']}")
    assert set(handshake.event) == {"specversion", "id", "source", "type"}
    assert verify_signature(secret, handshake.headers, handshake.body) == handshake.event_id

    committed = [app_event(server, "x") for _ in range(3)]
    commit_events(server, committed)
    posted = http.post(
        "/events/api/v1/app",
        json={
            "specversion": "1.0",
            "type": "app.instance.process.completed",
            "source": f"{apps_url(server)}/ttd/x/instances/501337/{uuid.uuid4()}",
            "subject": "/party/501337",
            "data": {"dropped": True},
        },
        headers=owner,
    )
    assert posted.status_code == 201, posted.text
    expected = {event["id"] for event in committed} | {posted.json()}

    receiver.wait_for(lambda: {hit.event_id for hit in receiver.events(endpoint)} >= expected, "all events")
    seen: dict[str, dict[str, Any]] = {}
    for hit in receiver.events(endpoint):
        assert hit.headers["content-type"] == "application/json; charset=utf-8"
        assert verify_signature(secret, hit.headers, hit.body) == hit.event_id
        seen.setdefault(hit.event_id, hit.event)  # a receiver dedupes on the id
    assert set(seen) == expected
    assert seen[committed[0]["id"]] == committed[0]
    assert "data" not in seen[posted.json()]
    # Another secret, or a body changed in transit, does not verify.
    hit = receiver.events(endpoint)[0]
    with pytest.raises(WebhookVerificationError):
        verify_signature("whsec_" + "A" * 44, hit.headers, hit.body)
    with pytest.raises(WebhookVerificationError):
        verify_signature(secret, hit.headers, hit.body + b" ")


def test_rolled_back_transaction_publishes_nothing(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    endpoint = receiver.endpoint()
    app_subscription(server, http, owner, endpoint)
    lost, kept = app_event(server, "x"), app_event(server, "x")
    commit_events(server, [lost], rollback=True)
    commit_events(server, [kept])
    receiver.wait_for(
        lambda: any(hit.event_id == kept["id"] for hit in receiver.events(endpoint)), "kept event"
    )
    assert [hit.event_id for hit in receiver.events(endpoint)] == [kept["id"]]
    services = server.services
    assert services is not None

    async def stored(event_id: str) -> int:
        async with services.db.read() as conn:
            query = (
                select(func.count())
                .select_from(tables.cloud_events)
                .where(tables.cloud_events.c.id == event_id)
            )
            return int((await conn.execute(query)).scalar_one())

    assert server.run(stored(lost["id"])) == 0
    assert server.run(stored(kept["id"])) == 1


def test_app_x_never_receives_events_of_app_x2(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    for_x, for_x2 = receiver.endpoint(), receiver.endpoint()
    app_subscription(server, http, owner, for_x, "x")
    app_subscription(server, http, owner, for_x2, "x2")
    event_x2, event_x = app_event(server, "x2"), app_event(server, "x")
    commit_events(server, [event_x2])
    commit_events(server, [event_x])
    receiver.wait_for(lambda: len(receiver.events(for_x)) >= 1 and len(receiver.events(for_x2)) >= 1, "both")
    assert [hit.event_id for hit in receiver.events(for_x)] == [event_x["id"]]
    assert [hit.event_id for hit in receiver.events(for_x2)] == [event_x2["id"]]


def test_filters_match_exactly(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    by_type, by_subject, everything = receiver.endpoint(), receiver.endpoint(), receiver.endpoint()
    app_subscription(server, http, owner, by_type, typeFilter="app.instance.process.completed")
    app_subscription(server, http, owner, by_subject, subjectFilter="/party/500700")
    app_subscription(server, http, owner, everything)
    events = [
        app_event(server, "x", event_type="app.instance.process.completed"),
        app_event(server, "x", event_type="app.instance.process.completed.extra"),
        app_event(server, "x", party=500700),
        app_event(server, "x", party=5007001),
    ]
    commit_events(server, events)
    # Deliveries to different subscriptions are independent: wait for each one's.
    receiver.wait_for(
        lambda: (
            len(receiver.events(everything)) == len(events)
            and len(receiver.events(by_type)) >= 1
            and len(receiver.events(by_subject)) >= 1
        ),
        "every event",
    )
    assert [hit.event_id for hit in receiver.events(by_type)] == [events[0]["id"]]
    assert [hit.event_id for hit in receiver.events(by_subject)] == [events[2]["id"]]


def test_subunit_events_reach_main_unit_subscriptions_that_include_them(
    server: LiveServer, http: httpx.Client, receiver: Receiver
) -> None:
    # User 1337 is DAGL of DDG Fitness AS (party 500000), whose sub-unit is party 500001.
    person = bearer(person_token(http))
    with_units, without_units = receiver.endpoint(), receiver.endpoint()
    app_subscription(server, http, person, with_units, subjectFilter="/party/500000", includeSubunits=True)
    app_subscription(server, http, person, without_units, subjectFilter="/party/500000")
    sub_unit, main_unit = app_event(server, "x", party=500001), app_event(server, "x", party=500000)
    commit_events(server, [sub_unit])
    commit_events(server, [main_unit])
    receiver.wait_for(lambda: len(receiver.events(with_units)) == 2, "both events")
    receiver.wait_for(lambda: len(receiver.events(without_units)) == 1, "the main unit's event")
    assert {hit.event_id for hit in receiver.events(with_units)} == {sub_unit["id"], main_unit["id"]}
    assert [hit.event_id for hit in receiver.events(without_units)] == [main_unit["id"]]


def test_unvalidated_subscription_receives_nothing(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    refusing = receiver.endpoint(always(404))
    unvalidated = subscribe(http, owner, refusing, sourceFilter=f"{apps_url(server)}/ttd/x")
    receiver.wait_for(lambda: len(receiver.hits(refusing)) >= 2, "handshake retries")
    witness = receiver.endpoint()
    app_subscription(server, http, owner, witness)
    event = app_event(server, "x")
    commit_events(server, [event])
    receiver.wait_for(lambda: len(receiver.events(witness)) == 1, "the witness to get the event")
    assert {hit.event_type for hit in receiver.hits(refusing)} == {VALIDATION}
    assert (
        http.get(f"/events/api/v1/subscriptions/{unvalidated['id']}", headers=owner).json()["validated"]
        is False
    )
    log = deliveries(http, owner, unvalidated)
    assert [d["kind"] for d in log] == ["validation"]
    assert all(a["statusCode"] == 404 for a in log[0]["attemptLog"])


def test_recreating_an_identical_subscription_repeats_the_handshake(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    switch = Switch(500)
    endpoint = receiver.endpoint(switch)
    first = subscribe(http, owner, endpoint, sourceFilter=f"{apps_url(server)}/ttd/x")
    receiver.wait_for(lambda: len(receiver.hits(endpoint)) >= 1, "the first handshake")
    wait_until(lambda: bool(deliveries(http, owner, first, status="dead")), "the handshake to give up")
    switch.status = 200
    again = subscribe(http, owner, endpoint, sourceFilter=f"{apps_url(server)}/ttd/x")
    assert again["id"] == first["id"] and "secret" not in again
    wait_validated(http, owner, first)
    assert [hit.status for hit in receiver.hits(endpoint)][-1] == 200


def test_failing_subscriber_gets_the_event_later_with_the_same_id(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    endpoint = receiver.endpoint(fail_first(2, status=500))
    subscription = app_subscription(server, http, owner, endpoint)
    event = app_event(server, "x")
    commit_events(server, [event])
    receiver.wait_for(
        lambda: any(hit.status == 200 for hit in receiver.events(endpoint)), "a successful attempt"
    )
    hits = receiver.events(endpoint)
    assert [hit.status for hit in hits] == [500, 500, 200]
    assert {hit.headers["webhook-id"] for hit in hits} == {event["id"]}
    assert len({hit.body for hit in hits}) == 1
    wait_until(lambda: event_deliveries(http, owner, subscription, "delivered") != [], "the log to record it")
    [delivered] = event_deliveries(http, owner, subscription, "delivered")
    assert delivered["eventId"] == event["id"]
    assert delivered["attempts"] == 3
    assert [(a["attempt"], a.get("statusCode")) for a in delivered["attemptLog"]] == [
        (1, 500),
        (2, 500),
        (3, 200),
    ]
    assert delivered["attemptLog"][0]["error"].startswith("HTTP 500")
    assert all(a["latencyMs"] >= 0 for a in delivered["attemptLog"])


def test_subscriber_that_times_out_gets_the_event_again(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    endpoint = receiver.endpoint(stall_first(1, TIMEOUT * 3))
    subscription = app_subscription(server, http, owner, endpoint)
    event = app_event(server, "x")
    commit_events(server, [event])
    wait_until(
        lambda: event_deliveries(http, owner, subscription, "delivered") != [], "delivery after a timeout"
    )
    [delivered] = event_deliveries(http, owner, subscription, "delivered")
    first, second = delivered["attemptLog"]
    assert "statusCode" not in first
    assert first["error"].startswith("timed out")
    assert second["statusCode"] == 200
    receiver.wait_for(lambda: len(receiver.events(endpoint)) == 2, "the stalled request to finish")
    assert {hit.event_id for hit in receiver.events(endpoint)} == {event["id"]}


def test_dead_letter_after_the_schedule_then_redelivery(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    switch = Switch(200)
    endpoint = receiver.endpoint(switch)
    subscription = app_subscription(server, http, owner, endpoint)
    switch.status = 502
    event = app_event(server, "x")
    commit_events(server, [event])
    wait_until(lambda: event_deliveries(http, owner, subscription, "dead") != [], "the dead letter")
    [dead] = event_deliveries(http, owner, subscription, "dead")
    assert dead["attempts"] == RETRIES + 1
    assert [a.get("statusCode") for a in dead["attemptLog"]] == [502] * (RETRIES + 1)
    assert dead["cloudEvent"] == event
    assert len(receiver.events(endpoint)) == RETRIES + 1

    url = f"/events/api/v1/subscriptions/{subscription['id']}/deliveries/{dead['id']}/redeliver"
    other = bearer(service_owner_token(http, org="digdir", org_number="991825827"))
    assert http.post(url, headers=other).status_code == 403
    assert (
        http.post(
            f"/events/api/v1/subscriptions/{subscription['id']}/deliveries/0/redeliver", headers=owner
        ).status_code
        == 404
    )
    switch.status = 200
    response = http.post(url, headers=owner)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    wait_until(lambda: event_deliveries(http, owner, subscription, "delivered") != [], "the redelivery")
    [delivered] = event_deliveries(http, owner, subscription, "delivered")
    assert delivered["id"] == dead["id"]
    assert delivered["attemptLog"][-1]["attempt"] == RETRIES + 2
    assert delivered["attemptLog"][-1]["statusCode"] == 200
    assert receiver.events(endpoint)[-1].event_id == event["id"]


def test_redelivering_a_queued_delivery_is_a_conflict(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    subscription = app_subscription(server, http, owner, receiver.endpoint())
    services = server.services
    assert services is not None
    event = app_event(server, "x")

    async def queue_for_tomorrow() -> int:
        now = utcnow()
        async with services.db.write() as conn:
            result = await conn.execute(
                insert(tables.deliveries).values(
                    subscription_id=subscription["id"],
                    kind="event",
                    event_id=event["id"],
                    event_type=event["type"],
                    document=event,
                    status="pending",
                    next_attempt_at=now + timedelta(days=1),
                    created=now,
                )
            )
            return int(result.inserted_primary_key[0])

    delivery_id = server.run(queue_for_tomorrow())
    url = f"/events/api/v1/subscriptions/{subscription['id']}/deliveries/{delivery_id}/redeliver"
    response = http.post(url, headers=owner)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "The delivery is already queued."


def test_delivery_log_belongs_to_the_creator_and_pages(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    endpoint = receiver.endpoint()
    subscription = app_subscription(server, http, owner, endpoint)
    events = [app_event(server, "x") for _ in range(5)]
    commit_events(server, events)
    receiver.wait_for(lambda: len(receiver.events(endpoint)) == 5, "five events")
    wait_until(
        lambda: len(deliveries(http, owner, subscription, status="delivered")) == 6, "six delivered rows"
    )

    url = f"/events/api/v1/subscriptions/{subscription['id']}/deliveries"
    first = http.get(url, params={"size": 4}, headers=owner)
    assert first.status_code == 200
    assert first.json()["count"] == 4
    assert "next" in first.headers
    rest = http.get(first.headers["next"].replace(server.settings.effective_platform_url, ""), headers=owner)
    ids = [d["id"] for d in first.json()["deliveries"] + rest.json()["deliveries"]]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 6
    assert "next" not in rest.headers
    assert [d["kind"] for d in rest.json()["deliveries"]][-1] == "validation"

    person = bearer(person_token(http))
    assert http.get(url, headers=person).status_code == 403
    assert http.get("/events/api/v1/subscriptions/999999/deliveries", headers=owner).status_code == 404
    assert http.get(url, params={"status": "lost"}, headers=owner).status_code == 400


def test_generic_events_are_authorised_per_event_for_the_subscriber(
    server: LiveServer, http: httpx.Client, owner: dict[str, str], receiver: Receiver
) -> None:
    # An organisation subscribes to a whole resource; it may only see events about itself (or
    # without a party subject), whatever its subscription's filters say.
    organisation = bearer(
        http.get(
            "/api/GetEnterpriseToken", params={"orgNo": "950474084", "scopes": "altinn:events.subscribe"}
        ).text
    )
    endpoint = receiver.endpoint()
    subscription = subscribe(
        http, organisation, endpoint, resourceFilter="urn:altinn:resource:tinn-events-test"
    )
    assert subscription["consumer"] == "/organisation/950474084"
    wait_validated(http, organisation, subscription)

    def generic(subject: str | None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "https://tinn.example/registry/1",
            "type": "test.changed",
            "resource": "urn:altinn:resource:tinn-events-test",
            "data": {"n": 1},
        }
        if subject:
            event["subject"] = subject
        return event

    own = generic("urn:altinn:organization:identifier-no:950474084")
    foreign = generic("urn:altinn:organization:identifier-no:897069650")
    unknown = generic("urn:altinn:person:identifier-no:99999999999")
    free = generic(None)
    for event in (foreign, unknown, own, free):
        response = http.post(
            "/events/api/v1/events",
            content=httpx.Request("POST", "/", json=event).content,
            headers={**owner, "Content-Type": "application/cloudevents+json"},
        )
        assert response.status_code == 200, response.text
    receiver.wait_for(lambda: len(receiver.events(endpoint)) == 2, "the two visible events")
    received = {hit.event_id: hit.event for hit in receiver.events(endpoint)}
    assert set(received) == {own["id"], free["id"]}
    assert received[own["id"]]["data"] == {"n": 1}
