"""Storage instance endpoints: get, create, delete, complete, read status, substatus, texts and
values, locks, process updates, process history and instance events."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from tests.conftest import LiveServer, make_settings
from tests.instances.storage_factory import (
    COMPANY_PARTY,
    ORG,
    ORG_NUMBER,
    USER_PARTY,
    ElementSpec,
    StorageEnv,
    build_instance,
    metadata,
    seed,
    start_env,
    write_test_app,
)
from tinn.clock import FixedClock
from tinn.instances import service
from tinn.instances.models import InstanceEvent
from tinn.instances.store import InstanceRecord, load_events, read_instance
from tinn.settings import BUNDLED_APPS_DIR
from tinn.storage import tables
from tinn.timeutil import to_iso


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEnv]:
    environment = start_env(database_url, tmp_path_factory.mktemp("instances"), {"main": {}})
    try:
        yield environment
    finally:
        environment.server.stop()


def _new(
    env: StorageEnv, app: str = "main", elements: list[ElementSpec] | None = None, **kwargs: Any
) -> InstanceRecord:
    return seed(env, build_instance(env.apps[app], last_changed=env.clock.now(), **kwargs), elements)


def _reload(env: StorageEnv, instance_id: str) -> InstanceRecord:
    record = env.server.run(read_instance(env.services.db, uuid.UUID(instance_id.split("/")[1])))
    assert record is not None
    return record


def _events(env: StorageEnv, instance_id: str) -> list[InstanceEvent]:
    async def run() -> list[InstanceEvent]:
        async with env.services.db.read() as conn:
            return await load_events(conn, uuid.UUID(instance_id.split("/")[1]))

    return env.server.run(run())


def _types(env: StorageEnv, instance_id: str) -> list[str]:
    return [e.event_type or "" for e in _events(env, instance_id)]


# -- GET ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("user", 200), ("stranger", 403), ("other-owner", 403)]
)
def test_get_instance_authorization(env: StorageEnv, who: str, status: int) -> None:
    record = _new(env)
    response = env.request(who, "GET", f"/{record.instance.id}")
    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert body["id"] == record.instance.id
        assert body["selfLinks"] == {
            "platform": f"http://127.0.0.1:5005/storage/api/v1/instances/{record.instance.id}"
        }
        assert body["status"]["readStatus"] == "Read"
        assert "dueBefore" not in body  # nulls are dropped
    else:
        assert response.content == b""


def test_get_by_guid_and_malformed_ids(env: StorageEnv) -> None:
    record = _new(env)
    guid = record.instance.id.split("/")[1] if record.instance.id else ""
    assert env.request("owner", "GET", f"/{guid}").json()["id"] == record.instance.id
    missing = env.request("owner", "GET", f"/{USER_PARTY}/{uuid.uuid4()}")
    assert missing.status_code == 404 and "Unable to find instance" in missing.json()
    assert env.request("owner", "GET", f"/{USER_PARTY}/not-a-guid").status_code == 404
    assert env.request("owner", "GET", f"/abc/{guid}").content == b""
    assert env.request(None, "GET", f"/{record.instance.id}").status_code == 401


def test_hard_deleted_elements_only_for_the_owner(env: StorageEnv) -> None:
    record = _new(
        env, elements=[ElementSpec(), ElementSpec(data_type="utkast", hard_deleted=env.clock.now())]
    )
    owner = env.request("owner", "GET", f"/{record.instance.id}").json()
    user = env.request("user", "GET", f"/{record.instance.id}").json()
    assert len(owner["data"]) == 2
    assert [d["dataType"] for d in user["data"]] == ["vedlegg"]


# -- POST /instances ------------------------------------------------------------------------------------


def test_create_from_template(env: StorageEnv) -> None:
    now = env.clock.now()
    template = {
        "InstanceOwner": {"PartyId": str(USER_PARTY), "personNumber": "01039012345"},
        "appId": "ignored/app",
        "org": "ignored",
        "dueBefore": "2030-01-01T12:00:00+02:00",
        "process": {"started": to_iso(now), "currentTask": {"elementId": "Task_1", "altinnTaskType": "data"}},
        "dataValues": {"kilde": "storage"},
        "presentationTexts": {"tittel": "Hei", "tom": ""},
        "completeConfirmations": [{"stakeholderId": "ttd", "confirmedOn": to_iso(now)}],
    }
    response = env.request("owner", "POST", "", params={"appId": env.apps["main"]}, json=template)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == body["selfLinks"]["platform"]
    assert body["appId"] == env.apps["main"] and body["org"] == ORG
    assert body["instanceOwner"] == {"partyId": str(USER_PARTY), "personNumber": "01039012345"}
    assert body["dueBefore"] == "2030-01-01T10:00:00Z"
    assert body["visibleAfter"] == to_iso(now)
    assert body["status"]["readStatus"] == "Unread"
    assert body["process"]["currentTask"]["elementId"] == "Task_1"
    assert body["dataValues"] == {"kilde": "storage"}
    assert body["presentationTexts"] == {"tittel": "Hei"}
    assert "completeConfirmations" not in body
    assert body["createdBy"] == body["lastChangedBy"] == ORG_NUMBER
    assert body["data"] == []
    assert _types(env, body["id"]) == ["Created"]
    listed = env.request(
        "owner", "GET", "", params={"appId": env.apps["main"], "process.currentTask": "Task_1"}
    )
    assert body["id"] in [i["id"] for i in listed.json()["instances"]]


@pytest.mark.parametrize(
    ("who", "params", "body", "status", "message"),
    [
        (
            "owner",
            {"appId": "{main}"},
            {"instanceOwner": {}},
            400,
            "Cannot create an instance without an instanceOwner.PartyId.",
        ),
        ("owner", {"appId": "{main}"}, {"instanceOwner": {"partyId": "x1"}}, 400, None),
        ("owner", {}, {"instanceOwner": {"partyId": str(USER_PARTY)}}, 400, None),
        ("owner", {"appId": "ttd/nosuchapp"}, {"instanceOwner": {"partyId": str(USER_PARTY)}}, 404, None),
        ("stranger", {"appId": "{main}"}, {"instanceOwner": {"partyId": str(USER_PARTY)}}, 403, ""),
        ("user", {"appId": "{main}"}, {"instanceOwner": {"partyId": str(COMPANY_PARTY)}}, 201, None),
    ],
)
def test_create_refusals(
    env: StorageEnv, who: str, params: dict[str, str], body: Any, status: int, message: str | None
) -> None:
    resolved = {k: v.format(main=env.apps["main"]) for k, v in params.items()}
    response = env.request(who, "POST", "", params=resolved, json=body)
    assert response.status_code == status, response.text
    if message == "":
        assert response.content == b""
    elif message is not None:
        assert response.json() == message


def test_create_keeps_a_given_read_status_and_rejects_bad_json(env: StorageEnv) -> None:
    body = {"instanceOwner": {"partyId": str(USER_PARTY)}, "status": {"readStatus": "read"}}
    created = env.request("owner", "POST", "", params={"appId": env.apps["main"]}, json=body)
    assert created.json()["status"]["readStatus"] == "Read"
    bad = env.request("owner", "POST", "", params={"appId": env.apps["main"]}, content=b"{not json")
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    empty = env.request("owner", "POST", "", params={"appId": env.apps["main"]}, content=b"")
    assert empty.status_code == 400


# -- DELETE ---------------------------------------------------------------------------------------------


def test_soft_then_hard_delete(env: StorageEnv) -> None:
    record = _new(env)
    iid = record.instance.id
    env.clock.advance(timedelta(minutes=1))
    soft = env.request("user", "DELETE", f"/{iid}").json()
    assert soft["status"]["isSoftDeleted"] is True and soft["status"]["isHardDeleted"] is False
    soft_time = soft["status"]["softDeleted"]
    assert soft["lastChanged"] == soft_time == to_iso(env.clock.now())
    env.clock.advance(timedelta(minutes=1))
    hard = env.request("user", "DELETE", f"/{iid}", params={"hard": "true"}).json()
    assert hard["status"]["isHardDeleted"] is True
    assert hard["status"]["hardDeleted"] == to_iso(env.clock.now())
    assert hard["status"]["softDeleted"] == soft_time
    assert _types(env, iid or "") == ["Deleted", "Deleted"]
    assert env.request("user", "DELETE", f"/{iid}", params={"hard": "maybe"}).status_code == 400
    assert env.request("stranger", "DELETE", f"/{_new(env).instance.id}").status_code == 403


def test_prevent_instance_deletion_for_days(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("prevent")
    meta = metadata(ORG, "prevented", preventInstanceDeletionForDays=30)
    app_id = write_test_app(tmp / "apps", ORG, "prevented", meta=meta)
    now = datetime.now(UTC)
    clock = FixedClock(now)
    settings = make_settings(database_url, tmp / "data", apps=[BUNDLED_APPS_DIR, tmp / "apps"])
    server = LiveServer(settings, clock).start()
    try:
        local = StorageEnv(server, clock, {"main": app_id})
        recent = seed(local, build_instance(app_id, ended=now - timedelta(days=1), last_changed=now))
        old = seed(local, build_instance(app_id, ended=now - timedelta(days=31), last_changed=now))
        active = seed(local, build_instance(app_id, last_changed=now))
        refused = local.request("user", "DELETE", f"/{recent.instance.id}")
        assert refused.status_code == 403
        assert refused.json() == "Instance cannot be deleted yet due to application restrictions."
        assert local.request("user", "DELETE", f"/{old.instance.id}").status_code == 200
        assert local.request("user", "DELETE", f"/{active.instance.id}").status_code == 200
    finally:
        server.stop()


# -- complete, read status, substatus -------------------------------------------------------------------


def test_complete_is_idempotent_per_stakeholder(env: StorageEnv) -> None:
    record = _new(env, task=None, ended=env.clock.now())
    iid = record.instance.id or ""
    env.clock.advance(timedelta(minutes=1))
    first = env.request("owner", "POST", f"/{iid}/complete")
    assert first.status_code == 200
    body = first.json()
    assert body["completeConfirmations"] == [{"stakeholderId": ORG, "confirmedOn": to_iso(env.clock.now())}]
    assert body["lastChanged"] == to_iso(env.clock.now())
    env.clock.advance(timedelta(minutes=1))
    again = env.request("owner", "POST", f"/{iid}/complete").json()
    assert again["lastChanged"] == body["lastChanged"]
    assert again["completeConfirmations"] == body["completeConfirmations"]
    assert _types(env, iid) == ["ConfirmedComplete"]
    listed = env.request(
        "owner",
        "GET",
        "",
        params={"appId": env.apps["main"], "excludeConfirmedBy": ORG, "process.isComplete": "true"},
    ).json()
    assert iid not in [i["id"] for i in listed["instances"]]
    assert env.request("user", "POST", f"/{iid}/complete").status_code == 403


def test_read_status(env: StorageEnv) -> None:
    record = _new(env)
    iid = record.instance.id
    before = env.request("user", "GET", f"/{iid}").json()["lastChanged"]
    env.clock.advance(timedelta(minutes=1))
    body = env.request(
        "user", "PUT", f"/{iid}/readstatus", params={"status": "updatedsincelastreview"}
    ).json()
    assert body["status"]["readStatus"] == "UpdatedSinceLastReview"
    assert body["lastChanged"] == before
    bad = env.request("user", "PUT", f"/{iid}/readstatus", params={"status": "Seen"})
    assert bad.status_code == 400
    assert (
        bad.json()
        == "Invalid read status: Seen. Accepted types include: Unread, Read, UpdatedSinceLastReview"
    )
    assert env.request("stranger", "PUT", f"/{iid}/readstatus", params={"status": "Read"}).status_code == 403


def test_substatus_is_for_the_owner_and_publishes_an_event(env: StorageEnv) -> None:
    record = _new(env)
    iid = record.instance.id or ""
    env.clock.advance(timedelta(minutes=1))
    response = env.request(
        "owner", "PUT", f"/{iid}/substatus", json={"label": "Mottatt", "description": "Takk"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"]["substatus"] == {"label": "Mottatt", "description": "Takk"}
    assert body["lastChangedBy"] == ORG_NUMBER and body["lastChanged"] == to_iso(env.clock.now())
    assert _types(env, iid) == ["SubstatusUpdated"]

    async def outbox() -> list[dict[str, Any]]:
        events = tables.cloud_events
        async with env.services.db.read() as conn:
            rows = await conn.execute(
                select(events.c.document).where(events.c.type == "app.instance.substatus.changed")
            )
            return [row.document for row in rows]

    published = [e for e in env.server.run(outbox()) if e["resourceinstance"] == iid]
    org, _, app = env.apps["main"].partition("/")
    assert [e["source"] for e in published] == [f"http://127.0.0.1:5005/{org}/{app}/instances/{iid}"]
    assert published[0]["subject"] == f"/party/{USER_PARTY}"
    assert env.request("user", "PUT", f"/{iid}/substatus", json={"label": "x"}).status_code == 403
    assert env.request("other-owner", "PUT", f"/{iid}/substatus", json={"label": "x"}).status_code == 403
    missing = env.request("owner", "PUT", f"/{iid}/substatus", json={"description": "no label"})
    assert missing.status_code == 400
    assert "Substatus must be defined and include a label." in missing.json()


# -- presentation texts and data values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "member", "field"),
    [("presentationtexts", "texts", "presentationTexts"), ("datavalues", "values", "dataValues")],
)
def test_merge_removes_keys_for_real(env: StorageEnv, path: str, member: str, field: str) -> None:
    record = _new(env)
    iid = record.instance.id
    before = env.request("user", "GET", f"/{iid}").json()["lastChanged"]
    env.clock.advance(timedelta(minutes=1))
    first = env.request("user", "PUT", f"/{iid}/{path}", json={member: {"a": "Første", "b": "2"}}).json()
    assert first[field] == {"a": "Første", "b": "2"}
    second = env.request(
        "user", "PUT", f"/{iid}/{path}", json={member: {"a": "", "b": None, "c": "3"}}
    ).json()
    assert second[field] == {"c": "3"}
    assert second["lastChanged"] == before
    stored = _reload(env, iid or "")
    assert getattr(stored.instance, "presentation_texts" if member == "texts" else "data_values") == {
        "c": "3"
    }
    assert env.request("user", "PUT", f"/{iid}/{path}", json={}).status_code == 400
    assert env.request("stranger", "PUT", f"/{iid}/{path}", json={member: {"x": "1"}}).status_code == 403


def test_search_follows_presentation_texts(env: StorageEnv) -> None:
    record = _new(env)
    iid = record.instance.id
    marker = f"merke{uuid.uuid4().hex[:6]}"
    env.request("user", "PUT", f"/{iid}/presentationtexts", json={"texts": {"t": marker.upper()}})
    found = env.request("owner", "GET", "", params={"appId": env.apps["main"], "searchString": marker}).json()
    assert [i["id"] for i in found["instances"]] == [iid]
    env.request("user", "PUT", f"/{iid}/presentationtexts", json={"texts": {"t": ""}})
    gone = env.request("owner", "GET", "", params={"appId": env.apps["main"], "searchString": marker}).json()
    assert gone["instances"] == []


# -- instance locks ---------------------------------------------------------------------------------------


def _patch(env: StorageEnv, iid: str, token: str | None, ttl: int = 0) -> Any:
    headers = {service.LOCK_TOKEN_HEADER: token} if token is not None else {}
    return env.request("user", "PATCH", f"/{iid}/lock", json={"ttlSeconds": ttl}, headers=headers)


def test_instance_lock_lifecycle(env: StorageEnv) -> None:
    iid = _new(env).instance.id or ""
    acquired = env.request("user", "POST", f"/{iid}/lock", json={"ttlSeconds": 60})
    assert acquired.status_code == 200
    token = acquired.json()["lockToken"]
    payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    secret = base64.b64decode(payload["secret"])
    assert len(secret) == 20

    async def stored_hash() -> bytes:
        locks = tables.instance_locks
        async with env.services.db.read() as conn:
            row = (
                await conn.execute(select(locks.c.secret_hash).where(locks.c.internal_id == payload["id"]))
            ).one()
            return bytes(row.secret_hash)

    assert env.server.run(stored_hash()) not in (secret, base64.b64encode(secret))

    held = env.request("owner", "POST", f"/{iid}/lock", json={"ttlSeconds": 60})
    assert held.status_code == 409
    assert held.headers["content-type"].startswith("application/problem+json")
    assert held.json()["detail"] == "Lock is already held for this instance."

    forged = dict(payload, secret=base64.b64encode(b"x" * 20).decode())
    forged_token = base64.urlsafe_b64encode(orjson.dumps(forged)).decode()
    assert _patch(env, iid, forged_token, 60).status_code == 403
    unknown = base64.urlsafe_b64encode(orjson.dumps(dict(payload, id=payload["id"] + 10_000))).decode()
    assert _patch(env, iid, unknown).status_code == 404
    assert _patch(env, iid, "garbage").status_code == 400
    assert _patch(env, iid, None).status_code == 400
    assert _patch(env, iid, token, -1).status_code == 400
    other_party = env.request(
        "user",
        "PATCH",
        f"/{COMPANY_PARTY}/{iid.split('/')[1]}/lock",
        json={"ttlSeconds": 1},
        headers={service.LOCK_TOKEN_HEADER: token},
    )
    assert other_party.status_code == 404

    assert _patch(env, iid, token, 120).status_code == 204
    env.clock.advance(timedelta(seconds=121))
    expired = _patch(env, iid, token, 10)
    assert expired.status_code == 422 and expired.json()["detail"] == "Lock has expired."
    again = env.request("owner", "POST", f"/{iid}/lock", json={"ttlSeconds": 30})
    assert again.status_code == 200
    assert _patch(env, iid, again.json()["lockToken"], 0).status_code == 204  # released
    assert env.request("user", "POST", f"/{iid}/lock", json={"ttlSeconds": 5}).status_code == 200


def test_instance_lock_refusals(env: StorageEnv) -> None:
    iid = _new(env).instance.id or ""
    assert env.request("user", "POST", f"/{iid}/lock", json={"ttlSeconds": -5}).status_code == 400
    denied = env.request("stranger", "POST", f"/{iid}/lock", json={"ttlSeconds": 5})
    assert denied.status_code == 403 and denied.json()["detail"] == "Not authorized to acquire instance lock."
    guid = iid.split("/")[1]
    assert (
        env.request("user", "POST", f"/{COMPANY_PARTY}/{guid}/lock", json={"ttlSeconds": 5}).status_code
        == 404
    )


# -- process ----------------------------------------------------------------------------------------------


def _state(
    task: str | None, task_type: str = "data", *, ended: str | None = None, flow_type: str | None = None
) -> dict[str, Any]:
    state: dict[str, Any] = {"started": "2024-03-01T12:00:00Z", "startEvent": "StartEvent_1"}
    if task is not None:
        state["currentTask"] = {"elementId": task, "altinnTaskType": task_type, "flow": 3}
        if flow_type:
            state["currentTask"]["flowType"] = flow_type
    if ended is not None:
        state["ended"] = ended
        state["endEvent"] = "EndEvent_1"
    return state


def test_put_process_moves_archives_once_and_signals_signing(env: StorageEnv) -> None:
    iid = _new(env).instance.id or ""
    env.clock.advance(timedelta(minutes=1))
    moved = env.request("user", "PUT", f"/{iid}/process", json=_state("Task_2", "signing"))
    assert moved.status_code == 200, moved.text
    assert moved.json()["process"]["currentTask"]["elementId"] == "Task_2"
    assert moved.json()["lastChanged"] == to_iso(env.clock.now())
    assert _types(env, iid) == ["SentToSign"]
    listed = env.request(
        "owner", "GET", "", params={"appId": env.apps["main"], "process.currentTask": "Task_2"}
    )
    assert iid in [i["id"] for i in listed.json()["instances"]]

    ended = env.request("user", "PUT", f"/{iid}/process", json=_state(None, ended="2024-05-01T10:00:00Z"))
    assert ended.status_code == 200
    assert ended.json()["status"]["isArchived"] is True
    assert ended.json()["status"]["archived"] == "2024-05-01T10:00:00Z"
    # No current task any more: a further PUT is refused.
    assert (
        env.request(
            "user", "PUT", f"/{iid}/process", json=_state(None, ended="2024-06-01T10:00:00Z")
        ).status_code
        == 403
    )
    owner_again = env.request(
        "owner", "PUT", f"/{iid}/process", json=_state(None, ended="2024-06-01T10:00:00Z")
    )
    assert owner_again.status_code == 403


def test_put_process_authorization(env: StorageEnv) -> None:
    iid = _new(env).instance.id or ""
    assert (
        env.request("stranger", "PUT", f"/{iid}/process", json=_state("Task_2", "signing")).status_code == 403
    )
    abandon = _state("Task_1", flow_type="AbandonCurrentMoveToNext")
    assert env.request("user", "PUT", f"/{iid}/process", json=abandon).status_code == 200
    assert (
        env.request("owner", "PUT", f"/{iid}/process", json=abandon).status_code == 403
    )  # org has no reject


def _event(iid: str, event_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "instanceId": iid,
        "eventType": event_type,
        "user": {"userId": 1337, "authenticationLevel": 2},
        **extra,
    }


def test_instance_and_events_with_generated_elements(env: StorageEnv) -> None:
    record = _new(
        env,
        elements=[
            ElementSpec(data_type="ref-data-as-pdf", generated_from_task="Task_2"),
            ElementSpec(data_type="ref-data-as-pdf", generated_from_task="Task_1"),
            ElementSpec(),
        ],
    )
    iid = record.instance.id or ""
    stale = next(d for d in record.data if d.element.references and d.element.references[0].value == "Task_2")
    body = {
        "state": _state("Task_2", "signing"),
        "events": [
            _event(iid, "process_EndTask"),
            _event(iid, "process_StartTask", processInfo=_state("Task_2", "signing")),
        ],
    }
    response = env.request("user", "PUT", f"/{iid}/process/instanceandevents", json=body)
    assert response.status_code == 200, response.text
    remaining = [d["id"] for d in response.json()["data"]]
    assert stale.element.id not in remaining and len(remaining) == 2
    assert not env.server.run(env.services.blobs.exists(stale.blob_key or ""))
    assert _types(env, iid) == ["process_EndTask", "process_StartTask", "SentToSign"]

    kept = _new(env, elements=[ElementSpec(data_type="ref-data-as-pdf", generated_from_task="Task_2")])
    kept_id = kept.instance.id or ""
    response = env.request(
        "user",
        "PUT",
        f"/{kept_id}/process/instanceandevents",
        params={"deleteGeneratedElements": "false"},
        json={"state": _state("Task_2", "signing"), "events": []},
    )
    assert len(response.json()["data"]) == 1


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"eventType": "process_EndTask", "user": {"userId": 1}}, "Missing instance ID in InstanceEvent"),
        (
            {"instanceId": "1/x", "eventType": "process_EndTask", "user": {"userId": 1}},
            "Instance ID in InstanceEvent does not match the Instance ID",
        ),
        (
            {"instanceId": "{iid}", "eventType": "process_Teleport", "user": {"userId": 1}},
            "Unknown instance event type: process_Teleport",
        ),
        ({"instanceId": "{iid}", "eventType": "process_EndTask", "user": {"authenticationLevel": 2}}, None),
        ({"instanceId": "{iid}", "eventType": "process_EndTask", "user": {"systemUserId": "x"}}, None),
    ],
)
def test_instance_and_events_validates_every_event(
    env: StorageEnv, event: dict[str, Any], message: str | None
) -> None:
    record = _new(env)
    iid = record.instance.id or ""
    resolved = {k: (v.format(iid=iid) if isinstance(v, str) else v) for k, v in event.items()}
    response = env.request(
        "user",
        "PUT",
        f"/{iid}/process/instanceandevents",
        json={"state": _state("Task_2", "signing"), "events": [resolved]},
    )
    assert response.status_code == 400
    if message is not None:
        assert response.json() == message
    assert _reload(env, iid).instance.process == record.instance.process
    assert _types(env, iid) == []


def test_process_history(env: StorageEnv) -> None:
    iid = _new(env).instance.id or ""
    user = {"nationalIdentityNumber": "01039012345", "userId": 1337}
    events = [
        {
            "instanceId": iid,
            "eventType": "process_StartEvent",
            "created": "2024-03-01T10:00:00Z",
            "user": user,
            "processInfo": {"started": "2024-03-01T10:00:00Z", "startEvent": "StartEvent_1"},
        },
        {
            "instanceId": iid,
            "eventType": "process_StartTask",
            "created": "2024-03-01T10:00:01Z",
            "user": user,
            "processInfo": {"started": "2024-03-01T10:00:00Z", "currentTask": {"elementId": "Task_1"}},
        },
        {
            "instanceId": iid,
            "eventType": "process_EndTask",
            "created": "2024-03-01T11:00:00Z",
            "user": {"orgId": "ttd"},
            "processInfo": {"currentTask": {"elementId": "Task_1"}},
        },
        {"instanceId": iid, "eventType": "Saved", "created": "2024-03-01T11:30:00Z", "user": user},
        {
            "instanceId": iid,
            "eventType": "process_EndEvent",
            "created": "2024-03-01T12:00:00Z",
            "user": user,
            "processInfo": {"ended": "2024-03-01T12:00:00Z", "endEvent": "EndEvent_1"},
        },
    ]
    for event in events:
        assert env.request("user", "POST", f"/{iid}/events", json=event).status_code == 201
    history = env.request("user", "GET", f"/{iid}/process/history").json()["processHistory"]
    assert history == [
        {
            "eventType": "process_StartEvent",
            "elementId": "StartEvent_1",
            "occured": "2024-03-01T10:00:00Z",
            "performedBy": "01039012345",
        },
        {
            "eventType": "process_StartTask",
            "elementId": "Task_1",
            "occured": "2024-03-01T10:00:00Z",
            "started": "2024-03-01T10:00:00Z",
            "ended": "2024-03-01T11:00:00Z",
            "performedBy": "01039012345",
        },
        {
            "eventType": "process_EndEvent",
            "elementId": "EndEvent_1",
            "occured": "2024-03-01T12:00:00Z",
            "performedBy": "01039012345",
        },
    ]
    assert env.request("stranger", "GET", f"/{iid}/process/history").status_code == 403


# -- instance events --------------------------------------------------------------------------------------


def test_instance_events(env: StorageEnv) -> None:
    iid = _new(env).instance.id or ""
    posted = env.request(
        "user",
        "POST",
        f"/{iid}/events",
        json={"instanceId": iid, "eventType": "Submited", "user": {"userId": 1337}},
    )
    assert posted.status_code == 201
    event = posted.json()
    assert uuid.UUID(event["id"]) and event["created"] == to_iso(env.clock.now())
    assert posted.headers["location"].endswith(f"/{iid}/events/{event['id']}")
    own_id = str(uuid.uuid4())
    env.request(
        "user",
        "POST",
        f"/{iid}/events",
        json={
            "id": own_id,
            "instanceId": iid,
            "eventType": "Saved",
            "created": "2020-01-01T00:00:00Z",
            "user": {"userId": 1337},
        },
    )
    listed = env.request("user", "GET", f"/{iid}/events").json()["instanceEvents"]
    assert [e["eventType"] for e in listed] == ["Saved", "Submited"]
    only = env.request("user", "GET", f"/{iid}/events", params=[("eventTypes", "Submited")]).json()[
        "instanceEvents"
    ]
    assert [e["id"] for e in only] == [event["id"]]
    window = {"from": "2019-12-31T00:00:00Z", "to": "2020-01-02T00:00:00Z"}
    assert [
        e["id"] for e in env.request("user", "GET", f"/{iid}/events", params=window).json()["instanceEvents"]
    ] == [own_id]
    half = env.request("user", "GET", f"/{iid}/events", params={"from": "2019-12-31T00:00:00Z"}).json()
    assert len(half["instanceEvents"]) == 2  # from/to apply only together
    bad = env.request("user", "GET", f"/{iid}/events", params={"from": "yesterday", "to": "today"})
    assert bad.status_code == 400
    assert env.request("user", "GET", f"/{iid}/events/{own_id}").json()["eventType"] == "Saved"
    assert env.request("user", "GET", f"/{iid}/events/{uuid.uuid4()}").status_code == 404
    assert env.request("stranger", "GET", f"/{iid}/events").status_code == 403
    assert env.request("user", "POST", f"/{iid}/events", json={"eventType": "Saved"}).status_code == 400
    other = _new(env).instance.id
    wrong = env.request("user", "POST", f"/{iid}/events", json={"instanceId": other, "eventType": "Saved"})
    assert wrong.status_code == 400
    duplicate = env.request(
        "user", "POST", f"/{iid}/events", json={"id": own_id, "instanceId": iid, "eventType": "Saved"}
    )
    assert duplicate.status_code == 409
