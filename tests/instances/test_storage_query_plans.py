"""The service-owner and party queries are index scans, not scans of the instances table.

Rows are bulk-inserted with the store's own column mapping, statistics are refreshed, and the plan
of each query as :mod:`tinn.instances.query` builds it is checked: ``EXPLAIN`` on PostgreSQL,
``EXPLAIN QUERY PLAN`` on SQLite.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from tests.instances.storage_factory import T0, build_instance, isolated_database_url  # noqa: F401
from tinn.instances import query
from tinn.instances.query import Cursor, InstanceQuery, page_select
from tinn.instances.store import instance_columns
from tinn.storage import migrate, tables
from tinn.storage.db import Database

APPS = [f"ttd/plan{i}" for i in range(10)]
PARTIES = 2000
ROWS = 25_000


class Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, statement: Any, prefix: str) -> None:
        self.statement = statement
        self.prefix = prefix


@compiles(Explain)
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return f"{element.prefix} {compiler.process(element.statement, **kw)}"


def _rows(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for index in range(ROWS):
        app_id = APPS[index % len(APPS)]
        kind = rng.random()
        changed = T0 + timedelta(seconds=index)
        if kind < 0.4:
            spec: dict[str, Any] = {"task": "Task_1"}
        elif kind < 0.6:
            spec = {"task": "Task_2", "task_type": "signing"}
        else:
            confirmed = {"ttd": changed} if rng.random() < 0.7 else None
            spec = {"task": None, "ended": changed, "confirmed_by": confirmed}
        instance = build_instance(app_id, 600_000 + rng.randrange(PARTIES), last_changed=changed, **spec)
        rows.append(
            {"id": uuid.UUID((instance.id or "").split("/")[1]), "version": 1, **instance_columns(instance)}
        )
    return rows


async def _seed(url: str) -> None:
    await migrate.upgrade(url)
    db = Database(url)
    try:
        rows = _rows(random.Random(7))
        async with db.write() as conn:
            for start in range(0, len(rows), 2000):
                await conn.execute(insert(tables.instances), rows[start : start + 2000])
            # One data element for every fourth instance, so the elements query has rows to plan for.
            elements = [
                {
                    "id": uuid.uuid4(),
                    "instance_internal_id": internal_id,
                    "instance_guid": uuid.uuid4(),
                    "data_type": "vedlegg",
                    "created": T0,
                    "last_changed": T0,
                    "blob_key": None,
                    "document": {},
                }
                for internal_id in range(1, ROWS + 1, 4)
            ]
            for start in range(0, len(elements), 2000):
                await conn.execute(insert(tables.data_elements), elements[start : start + 2000])
        async with db.write() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def plan_db(isolated_database_url: str) -> Iterator[str]:  # noqa: F811
    asyncio.run(_seed(isolated_database_url))
    yield isolated_database_url


async def _plan(url: str, statement: Any) -> str:
    db = Database(url)
    try:
        async with db.read() as conn:
            if conn.dialect.name == "postgresql":
                result = await conn.execute(Explain(statement, "EXPLAIN (FORMAT TEXT)"))
                return "\n".join(row[0] for row in result)
            result = await conn.execute(Explain(statement, "EXPLAIN QUERY PLAN"))
            return "\n".join(str(row[-1]) for row in result)
    finally:
        await db.dispose()


CURSOR = Cursor(T0 + timedelta(seconds=ROWS // 2), ROWS // 2)

QUERIES: dict[str, InstanceQuery] = {
    "appId + isComplete + excludeConfirmedBy": InstanceQuery(
        app_id=APPS[3], is_complete=True, exclude_confirmed_by=["ttd"]
    ),
    "org + isComplete + excludeConfirmedBy": InstanceQuery(
        org="ttd", is_complete=True, exclude_confirmed_by=["ttd"]
    ),
    "appId + excludeConfirmedBy": InstanceQuery(app_id=APPS[3], exclude_confirmed_by=["ttd"]),
    "appId + currentTask + lastChanged range": InstanceQuery(
        app_id=APPS[5],
        current_task="Task_2",
        dates=[
            query.DateFilter("lastChanged", "gte", T0 + timedelta(hours=2)),
            query.DateFilter("lastChanged", "lt", T0 + timedelta(hours=6)),
        ],
    ),
    "appId only": InstanceQuery(app_id=APPS[1]),
    "party (end user)": InstanceQuery(party_id=600_123, is_hard_deleted=False),
    "party + appId (end user)": InstanceQuery(party_id=600_123, app_id=APPS[2], is_hard_deleted=False),
    "party, service owner": InstanceQuery(org="ttd", party_id=600_321),
}


def _assert_indexed(plan: str, dialect: str) -> None:
    if dialect == "postgresql":
        assert "Seq Scan on instances" not in plan, plan
        assert "Index" in plan, plan
    else:
        lines = [line for line in plan.splitlines() if "instances" in line and "data_elements" not in line]
        assert lines, plan
        assert all("USING" in line and "INDEX" in line for line in lines), plan


@pytest.mark.parametrize("name", list(QUERIES))
@pytest.mark.parametrize("continued", [False, True], ids=["first page", "continued"])
@pytest.mark.parametrize("ascending", [False, True], ids=["desc", "asc"])
def test_query_uses_an_index(plan_db: str, name: str, continued: bool, ascending: bool) -> None:
    spec = QUERIES[name]
    shaped = InstanceQuery(
        **{**spec.__dict__, "cursor": CURSOR if continued else None, "ascending": ascending}
    )
    dialect = "postgresql" if plan_db.startswith("postgresql") else "sqlite"
    plan = asyncio.run(_plan(plan_db, page_select(shaped, dialect=dialect)))
    _assert_indexed(plan, dialect)


def test_completed_unconfirmed_uses_the_partial_index(plan_db: str) -> None:
    dialect = "postgresql" if plan_db.startswith("postgresql") else "sqlite"
    plan = asyncio.run(
        _plan(plan_db, page_select(QUERIES["appId + isComplete + excludeConfirmedBy"], dialect=dialect))
    )
    assert "ix_instances_app_completed_unconfirmed" in plan, plan


def test_data_elements_of_a_page_use_an_index(plan_db: str) -> None:
    dialect = "postgresql" if plan_db.startswith("postgresql") else "sqlite"
    plan = asyncio.run(_plan(plan_db, query.elements_select(list(range(1, 101)))))
    if dialect == "postgresql":
        assert "Seq Scan on data_elements" not in plan, plan
    else:
        assert "USING INDEX" in plan, plan
