"""Shared by the Storage API tests: test apps, a server per module, tokens and instance factories.

Instances are written with the store's own functions (``create_instance_tx``), so the columns the
query filters on are derived exactly as in production.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.appdef.factory import write_app
from tests.conftest import LiveServer, make_settings
from tinn.clock import FixedClock
from tinn.data.elements import new_element, store_bytes
from tinn.instances.models import (
    CompleteConfirmation,
    DeleteStatus,
    Instance,
    InstanceOwner,
    InstanceStatus,
    ProcessElementInfo,
    ProcessState,
    ReadStatus,
)
from tinn.instances.store import DataRecord, InstanceRecord, create_instance_tx
from tinn.services import Services
from tinn.settings import BUNDLED_APPS_DIR, normalise_database_url

ORG = "ttd"
ORG_NUMBER = "405003309"
OTHER_ORG = "digdir"
OTHER_ORG_NUMBER = "991825827"
USER_ID, USER_PARTY, USER_PID = 1337, 501337, "01039012345"
COMPANY_PARTY, COMPANY_ORG_NUMBER = 500700, "950474084"  # user 1337 holds REGNA there
STRANGER_ID, STRANGER_PARTY, STRANGER_PID = 1001, 501000, "01017512345"
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

BPMN = """<?xml version="1.0" encoding="utf-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:altinn="http://altinn.no/process" id="d">
  <bpmn:process id="p" isExecutable="false">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:task id="Task_1">
      <bpmn:extensionElements><altinn:taskExtension><altinn:taskType>data</altinn:taskType>
      </altinn:taskExtension></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:task>
    <bpmn:task id="Task_2">
      <bpmn:extensionElements><altinn:taskExtension><altinn:taskType>signing</altinn:taskType>
      </altinn:taskExtension></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:task>
    <bpmn:endEvent id="EndEvent_1"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Task_1" />
    <bpmn:sequenceFlow id="f2" sourceRef="Task_1" targetRef="Task_2" />
    <bpmn:sequenceFlow id="f3" sourceRef="Task_2" targetRef="EndEvent_1" />
  </bpmn:process>
</bpmn:definitions>
"""

_MATCH = """<xacml:Match MatchId="urn:oasis:names:tc:xacml:3.0:function:string-equal-ignore-case">
  <xacml:AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">{value}</xacml:AttributeValue>
  <xacml:AttributeDesignator AttributeId="{attribute}" Category="{category}"
      DataType="http://www.w3.org/2001/XMLSchema#string" MustBePresent="false" />
</xacml:Match>"""
_SUBJECT = "urn:oasis:names:tc:xacml:1.0:subject-category:access-subject"
_RESOURCE = "urn:oasis:names:tc:xacml:3.0:attribute-category:resource"
_ACTION = "urn:oasis:names:tc:xacml:3.0:attribute-category:action"


def _any_of(*all_ofs: str) -> str:
    return "<xacml:AnyOf>" + "".join(f"<xacml:AllOf>{a}</xacml:AllOf>" for a in all_ofs) + "</xacml:AnyOf>"


def _rule(rule_id: str, subjects: list[str], resources: list[str], actions: list[str]) -> str:
    return (
        f'<xacml:Rule RuleId="{rule_id}" Effect="Permit"><xacml:Target>'
        + _any_of(*subjects)
        + _any_of(*resources)
        + _any_of(
            *(
                _MATCH.format(
                    value=a, attribute="urn:oasis:names:tc:xacml:1.0:action:action-id", category=_ACTION
                )
                for a in actions
            )
        )
        + "</xacml:Target></xacml:Rule>"
    )


def policy(org: str, app: str, *, task_restricted: bool = False, per_instance: str | None = None) -> str:
    """Roles PRIV/REGNA (and the org itself) may act on the app.

    ``task_restricted``: users may read and write only in Task_1 and after EndEvent_1 (not in Task_2).
    ``per_instance``: the user rule also names this instance id (a policy that reads instance-id).
    """
    app_match = _MATCH.format(value=org, attribute="urn:altinn:org", category=_RESOURCE) + _MATCH.format(
        value=app, attribute="urn:altinn:app", category=_RESOURCE
    )
    roles = [
        _MATCH.format(value=role, attribute="urn:altinn:rolecode", category=_SUBJECT)
        for role in ("PRIV", "REGNA")
    ]
    org_subject = [_MATCH.format(value=org, attribute="urn:altinn:org", category=_SUBJECT)]
    user_actions = ["instantiate", "read", "write", "delete", "sign", "confirm", "reject"]
    rules = [
        _rule(
            "org",
            org_subject,
            [app_match],
            ["instantiate", "read", "write", "complete", "delete", "readsecret"],
        )
    ]
    if task_restricted:
        task = _MATCH.format(value="Task_1", attribute="urn:altinn:task", category=_RESOURCE)
        end = _MATCH.format(value="EndEvent_1", attribute="urn:altinn:end-event", category=_RESOURCE)
        rules.append(_rule("user-task", roles, [app_match + task, app_match + end], user_actions))
    elif per_instance is not None:
        instance = _MATCH.format(value=per_instance, attribute="urn:altinn:instance-id", category=_RESOURCE)
        rules.append(_rule("user-instance", roles, [app_match + instance], user_actions))
    else:
        rules.append(_rule("user", roles, [app_match], user_actions))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<xacml:Policy xmlns:xacml="urn:oasis:names:tc:xacml:3.0:core:schema:wd-17" '
        f'PolicyId="urn:altinn:resource:app_{org}_{app}:policyid:1" Version="1.0" '
        'RuleCombiningAlgId="urn:oasis:names:tc:xacml:3.0:rule-combining-algorithm:deny-overrides">'
        "<xacml:Target />" + "".join(rules) + "</xacml:Policy>"
    )


def metadata(org: str, app: str, **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": f"{org}/{app}",
        "org": org,
        "title": {"nb": f"Test {app}"},
        "dataTypes": [
            {"id": "ref-data-as-pdf", "allowedContentTypes": ["application/pdf"], "maxCount": 0},
            {"id": "vedlegg", "taskId": "Task_1", "maxCount": 10, "allowedContentTypes": ["application/pdf"]},
            {"id": "signatur", "taskId": "Task_2", "maxCount": 5},
            {"id": "utkast", "appLogic": {"autoDeleteOnProcessEnd": True}, "maxCount": 5},
            {"id": "hemmelig", "actionRequiredToRead": "readsecret", "maxCount": 5},
        ],
        "partyTypesAllowed": {"person": True, "organisation": True},
    }
    document.update(overrides)
    return document


def write_test_app(
    root: Path, org: str, app: str, *, meta: dict[str, Any] | None = None, **policy_args: Any
) -> str:
    write_app(
        root,
        org,
        app,
        {
            "config/applicationmetadata.json": json.dumps(meta or metadata(org, app)),
            "config/process/process.bpmn": BPMN,
            "config/authorization/policy.xml": policy(org, app, **policy_args),
        },
    )
    return f"{org}/{app}"


@dataclass
class StorageEnv:
    """A running server with this module's test apps, its clock and HTTP helpers."""

    server: LiveServer
    clock: FixedClock
    apps: dict[str, str]  # role -> app id
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        assert self.server.services is not None
        return self.server.services

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=30)

    def token(self, who: str) -> str:
        if who not in self.tokens:
            with self.client() as http:
                if who == "owner":
                    params = {"org": ORG, "orgNo": ORG_NUMBER, "scopes": "altinn:serviceowner/instances.read"}
                    response = http.get("/api/GetEnterpriseToken", params=params)
                elif who == "owner-noscope":
                    params = {
                        "org": ORG,
                        "orgNo": ORG_NUMBER,
                        "scopes": "altinn:serviceowner/instances.write",
                    }
                    response = http.get("/api/GetEnterpriseToken", params=params)
                elif who == "other-owner":
                    params = {
                        "org": OTHER_ORG,
                        "orgNo": OTHER_ORG_NUMBER,
                        "scopes": "altinn:serviceowner/instances.read",
                    }
                    response = http.get("/api/GetEnterpriseToken", params=params)
                elif who == "organisation":
                    params = {"orgNo": COMPANY_ORG_NUMBER, "scopes": "altinn:instances.read"}
                    response = http.get("/api/GetEnterpriseToken", params=params)
                elif who == "user":
                    params = {
                        "userId": str(USER_ID),
                        "partyId": str(USER_PARTY),
                        "pid": USER_PID,
                        "authLvl": "2",
                    }
                    response = http.get("/api/GetPersonalToken", params=params)
                elif who == "stranger":
                    params = {
                        "userId": str(STRANGER_ID),
                        "partyId": str(STRANGER_PARTY),
                        "pid": "05815531282",
                    }
                    response = http.get("/api/GetPersonalToken", params=params)
                else:
                    raise ValueError(who)
                assert response.status_code == 200, response.text
                self.tokens[who] = response.text
        return self.tokens[who]

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(who)}", **extra}

    def request(self, who: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if who is not None:
            headers.update(self.headers(who))
        with self.client() as http:
            return http.request(method, f"/storage/api/v1/instances{path}", headers=headers, **kwargs)


def start_env(
    database_url: str, tmp: Path, apps: dict[str, dict[str, Any]], *, start: datetime | None = None
) -> StorageEnv:
    """A server over ``database_url`` with the test apps ``apps`` (role -> write_test_app kwargs)."""
    root = tmp / "apps"
    prefix = f"st{uuid.uuid4().hex[:8]}"
    ids = {role: write_test_app(root, ORG, f"{prefix}-{role}", **kwargs) for role, kwargs in apps.items()}
    clock = FixedClock(start or datetime.now(UTC))
    settings = make_settings(database_url, tmp / "data", apps=[BUNDLED_APPS_DIR, root])
    server = LiveServer(settings, clock).start()
    return StorageEnv(server, clock, ids)


@pytest.fixture(scope="module")
def isolated_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own (cleanup and plan tests must not see other tests' rows)."""
    target = os.environ.get("TINN_TEST_DATABASE", "sqlite").strip()
    if target in ("", "sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('isolated') / 'tinn.db'}"
        return
    parsed = make_url(normalise_database_url(target))
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"tinn_test_{uuid.uuid4().hex[:12]}"

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


# -- instance factory -------------------------------------------------------------------------------


def build_instance(
    app_id: str,
    party_id: int = USER_PARTY,
    *,
    last_changed: datetime = T0,
    created: datetime | None = None,
    task: str | None = "Task_1",
    task_type: str = "data",
    ended: datetime | None = None,
    confirmed_by: dict[str, datetime] | None = None,
    soft_deleted: bool = False,
    hard_deleted: datetime | None = None,
    archived: bool | None = None,
    visible_after: datetime | None = None,
    due_before: datetime | None = None,
    texts: dict[str, str] | None = None,
    data_values: dict[str, str] | None = None,
    read_status: ReadStatus = ReadStatus.Read,
    org_number: str | None = None,
    person_number: str | None = None,
) -> Instance:
    org = app_id.partition("/")[0]
    created = created or last_changed
    if ended is not None:
        process = ProcessState(
            started=created, start_event="StartEvent_1", ended=ended, end_event="EndEvent_1"
        )
    elif task is not None:
        process = ProcessState(
            started=created,
            start_event="StartEvent_1",
            current_task=ProcessElementInfo(
                flow=2, started=created, element_id=task, altinn_task_type=task_type
            ),
        )
    else:
        process = None
    is_archived = archived if archived is not None else ended is not None
    return Instance(
        id=f"{party_id}/{uuid.uuid4()}",
        instance_owner=InstanceOwner(
            party_id=str(party_id),
            person_number=person_number or (USER_PID if party_id == USER_PARTY else None),
            organisation_number=org_number or (COMPANY_ORG_NUMBER if party_id == COMPANY_PARTY else None),
        ),
        app_id=app_id,
        org=org,
        visible_after=visible_after or created,
        due_before=due_before,
        process=process,
        status=InstanceStatus(
            is_archived=is_archived,
            archived=ended if is_archived else None,
            is_soft_deleted=soft_deleted or hard_deleted is not None,
            soft_deleted=hard_deleted if hard_deleted else (last_changed if soft_deleted else None),
            is_hard_deleted=hard_deleted is not None,
            hard_deleted=hard_deleted,
            read_status=read_status,
        ),
        complete_confirmations=[
            CompleteConfirmation(stakeholder_id=who, confirmed_on=when)
            for who, when in (confirmed_by or {}).items()
        ]
        or None,
        presentation_texts=texts,
        data_values=data_values,
        data=[],
        created=created,
        created_by="1337",
        last_changed=last_changed,
        last_changed_by="1337",
    )


@dataclass
class ElementSpec:
    data_type: str = "vedlegg"
    content: bytes = b"%PDF-1.4 test\n"
    filename: str | None = "vedlegg.pdf"
    content_type: str = "application/pdf"
    hard_deleted: datetime | None = None
    is_read: bool = True
    generated_from_task: str | None = None


async def insert_instance(
    services: Services, instance: Instance, elements: Sequence[ElementSpec] = ()
) -> InstanceRecord:
    """Write an instance (and its blobs and elements) with the store's own unit of work."""
    records: list[DataRecord] = []
    for spec in elements:
        element = new_element(
            instance,
            spec.data_type,
            content_type=spec.content_type,
            filename=spec.filename,
            performed_by="1337",
            now=instance.created or T0,
            by_app_owner=not spec.is_read,
            generated_from_task=spec.generated_from_task,
        )
        if spec.hard_deleted is not None:
            element.delete_status = DeleteStatus(is_hard_deleted=True, hard_deleted=spec.hard_deleted)
        records.append(await store_bytes(services.blobs, instance, element, spec.content))
    async with create_instance_tx(services.db, instance) as tx:
        for record in records:
            tx.add_data(record)
    return tx.record


def seed(env: StorageEnv, instance: Instance, elements: list[ElementSpec] | None = None) -> InstanceRecord:
    return env.server.run(insert_instance(env.services, instance, elements or []))


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
