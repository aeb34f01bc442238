"""Test plumbing for the Events tests: a webhook receiver on loopback, fresh databases, tokens."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from sqlalchemy.engine import make_url

from tests.appdef.factory import write_app
from tests.conftest import LiveServer
from tinn.events.outbox import write_outbox
from tinn.settings import normalise_database_url
from tinn.timeutil import to_iso, utcnow

POLICY_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<xacml:Policy xmlns:xacml="urn:oasis:names:tc:xacml:3.0:core:schema:wd-17"
    PolicyId="urn:altinn:resource:app_[ORG]_[APP]:policyid:1" Version="1.0"
    RuleCombiningAlgId="urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:deny-overrides">
  <xacml:Target />
  {rules}
</xacml:Policy>
"""

RULE = """<xacml:Rule RuleId="{rule_id}" Effect="Permit">
    <xacml:Target>
      <xacml:AnyOf><xacml:AllOf>
        <xacml:Match MatchId="urn:oasis:names:tc:xacml:3.0:function:string-equal-ignore-case">
          <xacml:AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">{value}</xacml:AttributeValue>
          <xacml:AttributeDesignator AttributeId="{attribute}"
              Category="urn:oasis:names:tc:xacml:1.0:subject-category:access-subject"
              DataType="http://www.w3.org/2001/XMLSchema#string" MustBePresent="false" />
        </xacml:Match>
      </xacml:AllOf></xacml:AnyOf>
      <xacml:AnyOf><xacml:AllOf>
        <xacml:Match MatchId="urn:oasis:names:tc:xacml:1.0:function:string-equal">
          <xacml:AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">[APP]</xacml:AttributeValue>
          <xacml:AttributeDesignator AttributeId="urn:altinn:app"
              Category="urn:oasis:names:tc:xacml:3.0:attribute-category:resource"
              DataType="http://www.w3.org/2001/XMLSchema#string" MustBePresent="false" />
        </xacml:Match>
        <xacml:Match MatchId="urn:oasis:names:tc:xacml:1.0:function:string-equal">
          <xacml:AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">events</xacml:AttributeValue>
          <xacml:AttributeDesignator AttributeId="urn:altinn:appresource"
              Category="urn:oasis:names:tc:xacml:3.0:attribute-category:resource"
              DataType="http://www.w3.org/2001/XMLSchema#string" MustBePresent="false" />
        </xacml:Match>
      </xacml:AllOf></xacml:AnyOf>
      <xacml:AnyOf><xacml:AllOf>
        <xacml:Match MatchId="urn:oasis:names:tc:xacml:1.0:function:string-equal">
          <xacml:AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">read</xacml:AttributeValue>
          <xacml:AttributeDesignator AttributeId="urn:oasis:names:tc:xacml:1.0:action:action-id"
              Category="urn:oasis:names:tc:xacml:3.0:attribute-category:action"
              DataType="http://www.w3.org/2001/XMLSchema#string" MustBePresent="false" />
        </xacml:Match>
      </xacml:AllOf></xacml:AnyOf>
    </xacml:Target>
  </xacml:Rule>"""

RETRIES = 3
TIMEOUT = 1.0
VALIDATION = "platform.events.validatesubscription"
SERVICE_OWNER_SCOPES = "altinn:serviceowner/instances.read altinn:events.publish altinn:events.subscribe"


def events_policy(*, org_reads: bool = True, roles: tuple[str, ...] = ("PRIV", "DAGL")) -> str:
    """A policy letting the owning org and holders of ``roles`` read the app's events."""
    rules = []
    if org_reads:
        rules.append(RULE.format(rule_id="org", value="[ORG]", attribute="urn:altinn:org"))
    rules += [
        RULE.format(rule_id=f"role-{role}", value=role, attribute="urn:altinn:rolecode") for role in roles
    ]
    return POLICY_TEMPLATE.format(rules="\n  ".join(rules))


def write_event_apps(root: Path, org: str, apps: tuple[str, ...]) -> Path:
    for app in apps:
        write_app(root, org, app, {"config/authorization/policy.xml": events_policy()})
    return root


# -- databases --------------------------------------------------------------------------------------


def _admin_url() -> str | None:
    target = os.environ.get("TINN_TEST_DATABASE", "sqlite").strip()
    return None if target in ("", "sqlite") else normalise_database_url(target)


@contextmanager
def fresh_database(folder: Path) -> Iterator[str]:
    """A database of its own (a new SQLite file, or a new PostgreSQL database dropped afterwards)."""
    admin = _admin_url()
    if admin is None:
        yield f"sqlite+aiosqlite:///{folder / f'events-{uuid.uuid4().hex[:8]}.db'}"
        return
    import asyncpg

    parsed = make_url(admin)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"tinn_events_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- the webhook receiver ---------------------------------------------------------------------------


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int = 0

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value

    @property
    def event_id(self) -> str:
        return str(self.event["id"])

    @property
    def event_type(self) -> str:
        return str(self.event["type"])


# A behaviour answers one request: (the request, how many times this path got this webhook-id) -> status.
Behaviour = Callable[[Hit, int], Awaitable[int]]


async def answer_ok(_hit: Hit, _nth: int) -> int:
    return 200


def fail_first(failures: int, status: int = 503, *, only_events: bool = True) -> Behaviour:
    """Fail the first ``failures`` attempts of each event (the handshake too unless ``only_events``)."""

    async def behaviour(hit: Hit, nth: int) -> int:
        if only_events and hit.event_type == "platform.events.validatesubscription":
            return 200
        return status if nth <= failures else 200

    return behaviour


def stall_first(stalls: int, seconds: float) -> Behaviour:
    """Answer the first ``stalls`` attempts of each event only after ``seconds`` (a timeout)."""

    async def behaviour(hit: Hit, nth: int) -> int:
        if hit.event_type != "platform.events.validatesubscription" and nth <= stalls:
            await asyncio.sleep(seconds)
        return 200

    return behaviour


def always(status: int) -> Behaviour:
    async def behaviour(_hit: Hit, _nth: int) -> int:
        return status

    return behaviour


def delayed(seconds: float) -> Behaviour:
    async def behaviour(_hit: Hit, _nth: int) -> int:
        await asyncio.sleep(seconds)
        return 200

    return behaviour


@dataclass
class Switch:
    """A behaviour whose answer a test changes while it runs."""

    status: int
    calls: int = field(default=0)

    async def __call__(self, _hit: Hit, _nth: int) -> int:
        self.calls += 1
        return self.status


class Receiver:
    """Webhook endpoints on loopback: a uvicorn server in its own thread recording every POST."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._lock = threading.Lock()
        self._hits: list[Hit] = []
        self._seen: Counter[tuple[str, str]] = Counter()
        self._behaviours: dict[str, Behaviour] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def endpoint(self, behaviour: Behaviour = answer_ok) -> str:
        path = f"/hook/{uuid.uuid4().hex}"
        self._behaviours[path] = behaviour
        return self.url + path

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        hit = Hit(scope["path"], headers, body, time.time())
        with self._lock:
            key = (hit.path, headers.get("webhook-id", ""))
            self._seen[key] += 1
            nth = self._seen[key]
        behaviour = self._behaviours.get(hit.path, answer_ok)
        hit.status = await behaviour(hit, nth)
        with self._lock:
            self._hits.append(hit)
        await send(
            {"type": "http.response.start", "status": hit.status, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    def start(self) -> Receiver:
        config = uvicorn.Config(
            self._app, log_level="error", access_log=False, lifespan="off", interface="asgi3"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="webhook-receiver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        assert self._server is not None
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
        self._sock.close()

    def hits(self, endpoint: str | None = None) -> list[Hit]:
        path = None if endpoint is None else httpx.URL(endpoint).path
        with self._lock:
            return [hit for hit in self._hits if path is None or hit.path == path]

    def events(self, endpoint: str) -> list[Hit]:
        return [
            hit for hit in self.hits(endpoint) if hit.event_type != "platform.events.validatesubscription"
        ]

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- tokens ----------------------------------------------------------------------------------------


def service_owner_token(
    http: httpx.Client, org: str = "ttd", org_number: str = "405003309", scopes: str = SERVICE_OWNER_SCOPES
) -> str:
    response = http.get("/api/GetEnterpriseToken", params={"org": org, "orgNo": org_number, "scopes": scopes})
    response.raise_for_status()
    return response.text


def org_token(http: httpx.Client, org_number: str, scopes: str = "altinn:events.subscribe") -> str:
    response = http.get("/api/GetEnterpriseToken", params={"orgNo": org_number, "scopes": scopes})
    response.raise_for_status()
    return response.text


def person_token(
    http: httpx.Client,
    *,
    user_id: int = 1337,
    party_id: int = 501337,
    pid: str = "01039012345",
    scopes: str = "altinn:events.subscribe",
) -> str:
    response = http.get(
        "/api/GetPersonalToken",
        params={"userId": user_id, "partyId": party_id, "pid": pid, "authLvl": 2, "scopes": scopes},
    )
    response.raise_for_status()
    return response.text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- events and subscriptions ------------------------------------------------------------------------


def apps_url(server: LiveServer) -> str:
    return server.settings.effective_apps_url


def app_event(
    server: LiveServer,
    app: str,
    *,
    party: int = 501337,
    event_type: str = "app.instance.created",
    org: str = "ttd",
) -> dict[str, Any]:
    """An app event as the instance flow publishes it."""
    guid = uuid.uuid4()
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"{apps_url(server)}/{org}/{app}/instances/{party}/{guid}",
        "type": event_type,
        "subject": f"/party/{party}",
        "time": to_iso(utcnow()),
        "resource": f"urn:altinn:resource:app_{org}_{app}",
        "resourceinstance": f"{party}/{guid}",
        "alternativesubject": "/person/01039012345",
    }


class _Rollback(Exception):
    pass


def commit_events(server: LiveServer, events: list[dict[str, Any]], *, rollback: bool = False) -> None:
    """Write outbox rows in one transaction on the server's loop, as a state change does."""
    assert server.services is not None
    db = server.services.db

    async def write() -> None:
        async with db.write() as conn:
            await write_outbox(conn, events)
            if rollback:
                raise _Rollback

    with suppress(_Rollback):
        server.run(write())


def subscribe(http: httpx.Client, headers: dict[str, str], endpoint: str, **filters: Any) -> dict[str, Any]:
    response = http.post(
        "/events/api/v1/subscriptions", json={"endPoint": endpoint, **filters}, headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_validated(http: httpx.Client, headers: dict[str, str], subscription: dict[str, Any]) -> None:
    def validated() -> bool:
        response = http.get(f"/events/api/v1/subscriptions/{subscription['id']}", headers=headers)
        return bool(response.json()["validated"])

    wait_until(validated, f"subscription {subscription['id']} to be validated")


def app_subscription(
    server: LiveServer,
    http: httpx.Client,
    headers: dict[str, str],
    endpoint: str,
    app: str = "x",
    **filters: Any,
) -> dict[str, Any]:
    """A validated subscription to an app's events."""
    subscription = subscribe(http, headers, endpoint, sourceFilter=f"{apps_url(server)}/ttd/{app}", **filters)
    wait_validated(http, headers, subscription)
    return subscription


def deliveries(
    http: httpx.Client, headers: dict[str, str], subscription: dict[str, Any], **params: Any
) -> list[dict[str, Any]]:
    response = http.get(
        f"/events/api/v1/subscriptions/{subscription['id']}/deliveries", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


def event_deliveries(
    http: httpx.Client, headers: dict[str, str], subscription: dict[str, Any], status: str
) -> list[dict[str, Any]]:
    return [d for d in deliveries(http, headers, subscription, status=status) if d["kind"] == "event"]
