"""GET /storage/api/v1/instances: every filter and operator, the caller rules, and keyset pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.instances.storage_factory import (
    COMPANY_PARTY,
    ORG,
    T0,
    USER_PARTY,
    ElementSpec,
    StorageEnv,
    build_instance,
    minutes,
    seed,
    start_env,
)
from tinn.instances import query
from tinn.instances.models import app_json, storage_json
from tinn.instances.store import change_instance
from tinn.timeutil import to_iso

DAY = timedelta(days=1)


@dataclass
class Seeded:
    """What the expectations are computed from (the same facts the factory wrote)."""

    id: str
    party: int
    last_changed: datetime
    created: datetime
    task: str | None = None
    ended: datetime | None = None
    confirmed_by: set[str] = field(default_factory=set)
    soft: bool = False
    hard: bool = False
    archived: bool = False
    visible_after: datetime | None = None
    due_before: datetime | None = None
    texts: dict[str, str] = field(default_factory=dict)


def _seed_app(env: StorageEnv, app_id: str) -> list[Seeded]:
    specs: list[dict[str, Any]] = [
        {"task": "Task_1", "created": T0 - 10 * DAY},
        {"task": "Task_2", "task_type": "signing", "created": T0 - 9 * DAY},
        {"task": None, "ended": T0 - 60 * minutes(1), "created": T0 - 8 * DAY},
        {"task": None, "ended": T0 - 2 * DAY, "confirmed_by": {ORG: T0 - 2 * DAY}, "created": T0 - 7 * DAY},
        {"task": None, "ended": T0 - 3 * DAY, "confirmed_by": {"skd": T0 - DAY}, "created": T0 - 6 * DAY},
        {"task": "Task_1", "soft_deleted": True, "created": T0 - 5 * DAY},
        {"task": "Task_1", "hard_deleted": T0, "created": T0 - 4 * DAY},
        {
            "task": "Task_1",
            "party": COMPANY_PARTY,
            "texts": {"tittel": "Søknad om Støtte"},
            "created": T0 - 3 * DAY,
        },
        {
            "task": "Task_1",
            "visible_after": T0 + 2 * DAY,
            "due_before": T0 + 5 * DAY,
            "created": T0 - 2 * DAY,
        },
        {"task": None, "created": T0 - DAY},
        {"task": None, "ended": T0 - 4 * DAY, "hard_deleted": T0 - DAY, "created": T0 - DAY},
        {"task": "Task_1", "texts": {"navn": "100% sikker_test"}, "created": T0},
    ]
    seeded = []
    for index, spec in enumerate(specs):
        party = spec.pop("party", USER_PARTY)
        created = spec.pop("created")
        lc = T0 + minutes(index + 1)
        elements = [ElementSpec(), ElementSpec(data_type="utkast", hard_deleted=T0)] if index == 0 else []
        record = seed(env, build_instance(app_id, party, last_changed=lc, created=created, **spec), elements)
        instance = record.instance
        seeded.append(
            Seeded(
                id=instance.id or "",
                party=party,
                last_changed=lc,
                created=created,
                task=spec.get("task"),
                ended=spec.get("ended"),
                confirmed_by=set(spec.get("confirmed_by", {})),
                soft=instance.status.is_soft_deleted,
                hard=instance.status.is_hard_deleted,
                archived=instance.status.is_archived,
                visible_after=instance.visible_after,
                due_before=instance.due_before,
                texts=spec.get("texts", {}),
            )
        )
    return seeded


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEnv]:
    environment = start_env(
        database_url,
        tmp_path_factory.mktemp("query"),
        {"main": {}, "tasks": {"task_restricted": True}, "pages": {}},
    )
    try:
        yield environment
    finally:
        environment.server.stop()


@pytest.fixture(scope="module")
def data(env: StorageEnv) -> list[Seeded]:
    return _seed_app(env, env.apps["main"])


def _ids(body: dict[str, Any]) -> list[str]:
    return [instance["id"] for instance in body["instances"]]


def _desc(rows: list[Seeded]) -> list[str]:
    return [r.id for r in sorted(rows, key=lambda r: r.last_changed, reverse=True)]


def _iso(value: datetime) -> str:
    return to_iso(value)


Case = tuple[str, list[tuple[str, str]], Callable[[Seeded], bool]]

FILTER_CASES: list[Case] = [
    ("no filter", [], lambda r: True),
    ("currentTask", [("process.currentTask", "Task_2")], lambda r: r.task == "Task_2"),
    ("isComplete true", [("process.isComplete", "true")], lambda r: r.ended is not None),
    ("isComplete false", [("process.isComplete", "FALSE")], lambda r: r.task is not None),
    ("excludeConfirmedBy own org", [("excludeConfirmedBy", ORG)], lambda r: ORG not in r.confirmed_by),
    ("excludeConfirmedBy other", [("excludeConfirmedBy", "skd")], lambda r: "skd" not in r.confirmed_by),
    (
        "excludeConfirmedBy repeated",
        [("excludeConfirmedBy", ORG), ("excludeConfirmedBy", "skd")],
        lambda r: not r.confirmed_by,
    ),
    (
        "complete and unconfirmed (service-owner inbox)",
        [("process.isComplete", "true"), ("excludeConfirmedBy", ORG)],
        lambda r: r.ended is not None and ORG not in r.confirmed_by,
    ),
    ("confirmed true", [("confirmed", "true")], lambda r: ORG in r.confirmed_by),
    ("confirmed false", [("confirmed", "false")], lambda r: ORG not in r.confirmed_by),
    (
        "confirmed wins over excludeConfirmedBy",
        [("confirmed", "true"), ("excludeConfirmedBy", ORG)],
        lambda r: ORG in r.confirmed_by,
    ),
    ("soft deleted", [("status.isSoftDeleted", "true")], lambda r: r.soft),
    ("not soft deleted", [("status.isSoftDeleted", "false")], lambda r: not r.soft),
    ("hard deleted", [("status.isHardDeleted", "true")], lambda r: r.hard),
    ("not hard deleted", [("status.isHardDeleted", "false")], lambda r: not r.hard),
    ("archived", [("status.isArchived", "true")], lambda r: r.archived),
    ("not archived", [("status.isArchived", "false")], lambda r: not r.archived),
    ("party", [("instanceOwner.partyId", str(COMPANY_PARTY))], lambda r: r.party == COMPANY_PARTY),
    (
        "lastChanged gt",
        [("lastChanged", f"gt:{_iso(T0 + minutes(6))}")],
        lambda r: r.last_changed > T0 + minutes(6),
    ),
    (
        "lastChanged gte",
        [("lastChanged", f"gte:{_iso(T0 + minutes(6))}")],
        lambda r: r.last_changed >= T0 + minutes(6),
    ),
    (
        "lastChanged lt",
        [("lastChanged", f"lt:{_iso(T0 + minutes(6))}")],
        lambda r: r.last_changed < T0 + minutes(6),
    ),
    (
        "lastChanged lte",
        [("lastChanged", f"lte:{_iso(T0 + minutes(6))}")],
        lambda r: r.last_changed <= T0 + minutes(6),
    ),
    (
        "lastChanged eq",
        [("lastChanged", f"eq:{_iso(T0 + minutes(6))}")],
        lambda r: r.last_changed == T0 + minutes(6),
    ),
    (
        "lastChanged range, offset and no zone",
        [("lastChanged", "gt:2024-03-01T13:03:00+01:00"), ("lastChanged", "lte:2024-03-01T12:08:00")],
        lambda r: T0 + minutes(3) < r.last_changed <= T0 + minutes(8),
    ),
    ("unknown operator ignored", [("lastChanged", "foo:2030-01-01T00:00:00Z")], lambda r: True),
    ("created", [("created", f"lt:{_iso(T0 - 5 * DAY)}")], lambda r: r.created < T0 - 5 * DAY),
    (
        "visibleAfter (timestamps, not text)",
        [("visibleAfter", f"gt:{_iso(T0 + DAY)}")],
        lambda r: r.visible_after is not None and r.visible_after > T0 + DAY,
    ),
    (
        "dueBefore",
        [("dueBefore", "lte:2024-03-06T12:00:00.0000000Z")],
        lambda r: r.due_before is not None and r.due_before <= T0 + 5 * DAY,
    ),
    (
        "process.ended",
        [("process.ended", f"gte:{_iso(T0 - 3 * DAY)}")],
        lambda r: r.ended is not None and r.ended >= T0 - 3 * DAY,
    ),
    ("searchString any case", [("searchString", "STØTTE")], lambda r: "tittel" in r.texts),
    ("searchString % is literal", [("searchString", "0% s")], lambda r: "navn" in r.texts),
    ("searchString _ is literal", [("searchString", "r_t")], lambda r: "navn" in r.texts),
    ("searchString no match", [("searchString", "x%y")], lambda r: False),
    ("names in any case", [("PROCESS.CURRENTTASK", "Task_2")], lambda r: r.task == "Task_2"),
    ("empty value is no filter", [("process.currentTask", "")], lambda r: True),
    ("mainVersionInclude 3", [("mainVersionInclude", "3")], lambda r: True),
    ("mainVersionInclude 2", [("mainVersionInclude", "2")], lambda r: False),
    ("mainVersionExclude 3", [("mainVersionExclude", "3")], lambda r: False),
]


@pytest.mark.parametrize(("name", "params", "expected"), FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_service_owner_filters(
    env: StorageEnv,
    data: list[Seeded],
    name: str,
    params: list[tuple[str, str]],
    expected: Callable[[Seeded], bool],
) -> None:
    response = env.request("owner", "GET", "", params=[("appId", env.apps["main"]), *params])
    assert response.status_code == 200, response.text
    body = response.json()
    wanted = _desc([r for r in data if expected(r)])
    assert _ids(body) == wanted
    assert body["count"] == len(wanted)
    assert body["next"] is None


def test_ascending_order_and_org_filter(env: StorageEnv, data: list[Seeded]) -> None:
    params = {"org": ORG, "appId": env.apps["main"], "order": "asc:lastChanged"}
    body = env.request("owner", "GET", "", params=params).json()
    assert _ids(body) == list(reversed(_desc(data)))


def test_a3_reference(env: StorageEnv, data: list[Seeded]) -> None:
    target = data[3].id
    body = env.request(
        "owner", "GET", "", params={"appId": env.apps["main"], "A3Ref": target[-12:].upper()}
    ).json()
    assert _ids(body) == [target]


def test_service_owner_sees_hard_deleted_elements_users_do_not(env: StorageEnv, data: list[Seeded]) -> None:
    first = data[0].id
    owner = env.request("owner", "GET", "", params={"appId": env.apps["main"], "searchString": ""}).json()
    owner_instance = next(i for i in owner["instances"] if i["id"] == first)
    assert sorted(e["dataType"] for e in owner_instance["data"]) == ["utkast", "vedlegg"]
    user = env.request(
        "user", "GET", "", params={"appId": env.apps["main"], "instanceOwner.partyId": str(USER_PARTY)}
    ).json()
    user_instance = next(i for i in user["instances"] if i["id"] == first)
    assert [e["dataType"] for e in user_instance["data"]] == ["vedlegg"]


# -- the 400s ----------------------------------------------------------------------------------------

BAD_QUERIES = [
    (
        [("lastChanged", "gt:2024-01-01T00:00:00Z"), ("lastChanged", "gt:2024-02-01T00:00:00Z")],
        "Invalid date expression: gt:2024-02-01T00:00:00Z for query key: lastChanged",
    ),
    ([("lastChanged", "2024-01-01")], "Invalid date expression: 2024-01-01 for query key: lastChanged"),
    ([("created", "gt:yesterday")], "Invalid date expression: gt:yesterday for query key: created"),
    (
        [("visibleAfter", "lt:2024-13-01")],
        "Invalid date expression: lt:2024-13-01 for query key: visibleAfter",
    ),
    ([("dueBefore", "eq:")], "Invalid date expression: eq: for query key: dueBefore"),
    (
        [("process.ended", "foo:x"), ("process.ended", "foo:y")],
        "Invalid date expression: foo:x for query key: process.ended",
    ),
    ([("size", "0")], "Invalid size: 0. The page size must be at least 1."),
    ([("A3Ref", "abc")], "The A3 reference needs to be exactly 12 characters long."),
    ([("continuationToken", "not a token")], None),
]


@pytest.mark.parametrize(("params", "message"), BAD_QUERIES)
def test_bad_query_values_are_400(
    env: StorageEnv, params: list[tuple[str, str]], message: str | None
) -> None:
    response = env.request("owner", "GET", "", params=[("appId", env.apps["main"]), *params])
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    if message is not None:
        assert response.json() == message
    else:
        assert "continuationToken" in response.json()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("process.isComplete", "maybe"),
        ("instanceOwner.partyId", "abc"),
        ("size", "ten"),
        ("status.isArchived", "1"),
    ],
)
def test_values_that_do_not_bind_are_validation_problems(env: StorageEnv, name: str, value: str) -> None:
    response = env.request("owner", "GET", "", params={"appId": env.apps["main"], name: value})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert name in response.json()["errors"]


# -- caller rules ------------------------------------------------------------------------------------

CALLER_CASES: list[tuple[str, str, dict[str, str], dict[str, str], int, Any]] = [
    ("owner without instances.read", "owner-noscope", {"appId": "{main}"}, {}, 403, b""),
    (
        "owner without org or appId",
        "owner",
        {"process.isComplete": "true"},
        {},
        400,
        "Org or AppId must be defined.",
    ),
    ("owner, other org, no appId", "owner", {"org": "skd"}, {}, 400, "AppId must be defined."),
    ("other org denied by the policy", "other-owner", {"appId": "{main}"}, {}, 403, b""),
    (
        "user without a party",
        "user",
        {"appId": "{main}"},
        {},
        400,
        "Either InstanceOwnerPartyId or InstanceOwnerIdentifier need to be defined.",
    ),
    ("organisation without serviceowner scope", "organisation", {"appId": "{main}"}, {}, 400, b""),
    (
        "party and identifier",
        "user",
        {"instanceOwner.partyId": str(USER_PARTY)},
        {query.IDENTIFIER_HEADER: "person:01039012345"},
        400,
        "Both InstanceOwner.PartyId and InstanceOwnerIdentifier cannot be present at the same time.",
    ),
    ("malformed identifier", "user", {}, {query.IDENTIFIER_HEADER: "person:123"}, 400, None),
    ("unknown identifier kind", "user", {}, {query.IDENTIFIER_HEADER: "company:950474084"}, 400, None),
]


@pytest.mark.parametrize(
    ("name", "who", "params", "headers", "status", "body"), CALLER_CASES, ids=[c[0] for c in CALLER_CASES]
)
def test_caller_rules(
    env: StorageEnv,
    name: str,
    who: str,
    params: dict[str, str],
    headers: dict[str, str],
    status: int,
    body: Any,
) -> None:
    resolved = {k: v.format(main=env.apps["main"]) for k, v in params.items()}
    response = env.request(who, "GET", "", params=resolved, headers=headers)
    assert response.status_code == status, response.text
    if body == b"":
        assert response.content == b""
    elif body is not None:
        assert response.json() == body
    else:
        assert query.IDENTIFIER_HEADER in response.json()


def test_unauthenticated_query_is_401(env: StorageEnv) -> None:
    assert env.request(None, "GET", "", params={"appId": env.apps["main"]}).status_code == 401


@pytest.mark.parametrize(
    ("identifier", "party"),
    [
        ("person:01039012345", USER_PARTY),
        ("ORGANISATION: 950 474 084", COMPANY_PARTY),
        ("Person:01039012345", USER_PARTY),
    ],
)
def test_instance_owner_identifier(env: StorageEnv, data: list[Seeded], identifier: str, party: int) -> None:
    response = env.request(
        "user", "GET", "", params={"appId": env.apps["main"]}, headers={query.IDENTIFIER_HEADER: identifier}
    )
    assert response.status_code == 200
    assert _ids(response.json()) == _desc([r for r in data if r.party == party and not r.hard])


def test_unknown_identifier_is_an_empty_page_without_self(env: StorageEnv, data: list[Seeded]) -> None:
    response = env.request("user", "GET", "", headers={query.IDENTIFIER_HEADER: "person:12345678901"})
    assert response.status_code == 200
    assert response.json() == {"count": 0, "self": None, "next": None, "instances": []}


def test_users_never_see_hard_deleted_instances(env: StorageEnv, data: list[Seeded]) -> None:
    params = {"appId": env.apps["main"], "instanceOwner.partyId": str(USER_PARTY)}
    listed = env.request("user", "GET", "", params=params).json()
    assert _ids(listed) == _desc([r for r in data if r.party == USER_PARTY and not r.hard])
    asked = env.request("user", "GET", "", params={**params, "status.isHardDeleted": "true"}).json()
    assert asked["count"] == 0 and asked["instances"] == [] and asked["next"] is None
    assert asked["self"].endswith("status.isHardDeleted=true")


def test_user_without_rights_for_the_party_gets_nothing(env: StorageEnv, data: list[Seeded]) -> None:
    params = {"appId": env.apps["main"], "instanceOwner.partyId": str(USER_PARTY), "size": "2"}
    body = env.request("stranger", "GET", "", params=params).json()
    assert body["count"] == 0
    assert body["next"] is not None  # the raw page was full: the cursor is taken before filtering


def test_user_filter_decides_once_per_task_not_per_instance(
    env: StorageEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_id = env.apps["tasks"]
    readable: list[str] = []
    for index in range(24):
        kind = index % 3
        spec: dict[str, Any] = (
            {"task": "Task_1"}
            if kind == 0
            else {"task": "Task_2", "task_type": "signing"}
            if kind == 1
            else {"task": None, "ended": T0}
        )
        record = seed(env, build_instance(app_id, last_changed=T0 + minutes(index), **spec))
        if kind != 1:
            readable.append(record.instance.id or "")
    authorizer = env.services.authorizer
    calls: list[Any] = []
    original = authorizer.authorize

    def counting(principal: Any, action: str, resource: Any) -> bool:
        calls.append((action, resource.task, resource.end_event))
        return original(principal, action, resource)

    monkeypatch.setattr(authorizer, "authorize", counting)
    params = {"appId": app_id, "instanceOwner.partyId": str(USER_PARTY), "size": "100"}
    body = env.request("user", "GET", "", params=params).json()
    assert _ids(body) == list(reversed(readable))
    assert sorted(calls, key=str) == sorted(
        [("read", "Task_1", None), ("read", "Task_2", None), ("read", None, "EndEvent_1")], key=str
    )


def test_service_owner_of_the_app_is_not_filtered_by_the_policy(env: StorageEnv) -> None:
    app_id = env.apps["tasks"]
    body = env.request("owner", "GET", "", params={"appId": app_id, "process.currentTask": "Task_2"}).json()
    assert body["count"] == 8


# -- pagination ---------------------------------------------------------------------------------------


def _walk(
    env: StorageEnv, who: str, params: dict[str, str], between: Callable[[int], None] | None = None
) -> list[str]:
    seen: list[str] = []
    response = env.request(who, "GET", "", params=params)
    page = 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        seen += _ids(body)
        if body["next"] is None:
            return seen
        if between is not None:
            between(page)
        page += 1
        next_url = urlsplit(body["next"])
        assert next_url.path == "/storage/api/v1/instances"
        response = env.request(who, "GET", "", params=parse_qsl(next_url.query))
        assert page < 200


def _seed_ties(env: StorageEnv, app_id: str, groups: int = 5, per_group: int = 7) -> list[str]:
    """Instances sharing timestamps: a page boundary falls inside a group of equal lastChanged."""
    return [
        seed(env, build_instance(app_id, last_changed=T0 + minutes(group))).instance.id or ""
        for group in range(groups)
        for _ in range(per_group)
    ]


@pytest.fixture(scope="module")
def tied(env: StorageEnv) -> list[str]:
    return _seed_ties(env, env.apps["pages"])


@pytest.mark.parametrize("order", ["desc:lastChanged", "asc:lastChanged"])
@pytest.mark.parametrize("size", [1, 3, 4, 35, 50])
def test_keyset_walk_returns_each_instance_once(
    env: StorageEnv, tied: list[str], order: str, size: int
) -> None:
    seen = _walk(env, "owner", {"appId": env.apps["pages"], "order": order, "size": str(size)})
    assert len(seen) == len(set(seen)) == len(tied)
    assert set(seen) == set(tied)


def test_next_link_keeps_the_query_and_replaces_the_token(env: StorageEnv, tied: list[str]) -> None:
    params = [("appId", env.apps["pages"]), ("size", "4"), ("process.isComplete", "false")]
    first = env.request("owner", "GET", "", params=params).json()
    assert first["self"].startswith("http://127.0.0.1:5005/storage/api/v1/instances?")
    nxt = parse_qsl(urlsplit(first["next"]).query)
    assert [k for k, _ in nxt] == ["appId", "size", "process.isComplete", "continuationToken"]
    second = env.request("owner", "GET", "", params=nxt).json()
    assert dict(parse_qsl(urlsplit(second["self"]).query))["continuationToken"] == nxt[-1][1]
    third = parse_qsl(urlsplit(second["next"]).query)
    assert [k for k, _ in third].count("continuationToken") == 1
    assert third[-1][1] != nxt[-1][1]


def test_full_last_page_has_next_then_an_empty_page(env: StorageEnv, tied: list[str]) -> None:
    body = env.request("owner", "GET", "", params={"appId": env.apps["pages"], "size": str(len(tied))}).json()
    assert body["count"] == len(tied) and body["next"] is not None
    after = env.request("owner", "GET", "", params=parse_qsl(urlsplit(body["next"]).query)).json()
    assert after == {"count": 0, "self": after["self"], "next": None, "instances": []}


@pytest.mark.parametrize(("order", "offset"), [("desc:lastChanged", 10), ("asc:lastChanged", 30)])
def test_walk_while_instances_change(env: StorageEnv, order: str, offset: int) -> None:
    """Instances that do not change during a walk are returned exactly once, whatever moves."""
    app_id = env.apps["pages"]
    base = T0 + offset * DAY
    ids = [
        seed(env, build_instance(app_id, last_changed=base + minutes(i // 3))).instance.id or ""
        for i in range(30)
    ]
    changed: set[str] = set()
    added: list[str] = []

    def mutate(page: int) -> None:
        # Move two not-yet-seen-or-seen instances to "now", and add a new one, between pages.
        for victim in (ids[(page * 7) % len(ids)], ids[(page * 11 + 5) % len(ids)]):
            changed.add(victim)
            env.server.run(_touch(env, victim, base + DAY + minutes(page)))
        added.append(
            seed(env, build_instance(app_id, last_changed=base + DAY + minutes(page))).instance.id or ""
        )

    seen = _walk(
        env,
        "owner",
        [
            ("appId", app_id),
            ("order", order),
            ("size", "4"),
            ("lastChanged", f"gte:{_iso(base)}"),
            ("lastChanged", f"lt:{_iso(base + 10 * DAY)}"),
        ],
        mutate,
    )
    unchanged = [i for i in ids if i not in changed]
    for instance_id in unchanged:
        assert seen.count(instance_id) == 1, instance_id
    assert set(seen) <= set(ids) | set(added)
    if order.startswith("desc"):
        assert len(seen) == len(set(seen))  # what moves goes behind a descending cursor: never twice


async def _touch(env: StorageEnv, instance_id: str, when: datetime) -> None:
    import uuid

    async with change_instance(env.services.db, uuid.UUID(instance_id.split("/")[1])) as tx:
        tx.instance.last_changed = when


# -- pure functions ------------------------------------------------------------------------------------


def test_size_defaults_and_is_capped() -> None:
    assert query.parse_query([]).size == query.DEFAULT_PAGE_SIZE == 100
    assert query.parse_query([("size", "5000")]).size == query.MAX_PAGE_SIZE == 1000
    assert query.parse_query([("SIZE", "7")]).size == 7


@pytest.mark.parametrize(
    "moment", [T0, T0 + timedelta(microseconds=1), datetime.fromisoformat("1999-12-31T23:59:59.999999+00:00")]
)
def test_cursor_round_trip(moment: datetime) -> None:
    cursor = query.Cursor(moment, 123456789)
    token = query.encode_cursor(cursor)
    assert "=" not in token and "/" not in token and "+" not in token
    assert query.decode_cursor(token) == cursor


def test_render_matches_the_model_path(env: StorageEnv, data: list[Seeded]) -> None:
    """The fast query renderer writes exactly what the single-instance GET writes."""
    from tinn.instances import service

    response = env.request("owner", "GET", "", params={"appId": env.apps["main"]})
    for instance in response.json()["instances"]:
        single = env.request("owner", "GET", f"/{instance['id']}").json()
        assert instance == single
        assert list(instance) == list(single)
    assert service.SYNC_ADAPTER_SCOPE == "altinn:storage/instances.syncadapter"
    assert storage_json(app_json(build_instance(env.apps["main"]).status)) == {
        "isArchived": False,
        "isSoftDeleted": False,
        "isHardDeleted": False,
        "readStatus": "Read",
    }


def test_policy_reading_instance_id_is_decided_per_instance(tmp_path: Any) -> None:
    from tests.instances.storage_factory import write_test_app
    from tinn.appdef.registry import load_apps

    write_test_app(tmp_path, ORG, "plain")
    write_test_app(tmp_path, ORG, "perinstance", per_instance="501337/x")
    registry = load_apps([tmp_path])
    assert query._policy_uses_instance_id(registry.by_id(f"{ORG}/plain")) is False
    assert query._policy_uses_instance_id(registry.by_id(f"{ORG}/perinstance")) is True
    assert query._policy_uses_instance_id(None) is False
