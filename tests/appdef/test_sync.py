"""Publishing app definitions to Storage's tables, as a deploy does."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.appdef.factory import metadata, texts, write_app
from tinn.appdef.registry import load_apps
from tinn.appdef.sync import sync_applications
from tinn.clock import FixedClock
from tinn.storage import migrate, tables
from tinn.storage.db import Database

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await migrate.upgrade(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def _application(db: Database, app_id: str) -> tuple[dict[str, Any], datetime, datetime]:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(
                    tables.applications.c.document,
                    tables.applications.c.created,
                    tables.applications.c.last_changed,
                ).where(tables.applications.c.app_id == app_id)
            )
        ).one()
    return row.document, row.created, row.last_changed


async def _texts(db: Database, app_id: str) -> dict[str, dict[str, Any]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(tables.texts.c.language, tables.texts.c.document).where(tables.texts.c.app_id == app_id)
        )
        return {row.language: row.document for row in rows}


async def test_publish_once_then_only_on_change(db: Database, tmp_path: Path) -> None:
    org = f"sync{uuid.uuid4().hex[:10]}"
    app_id = f"{org}/app"
    clock = FixedClock(START)
    files = {
        "config/texts/resource.nb.json": texts("nb", hei="Hei på deg"),
        "config/texts/resource.en.json": texts("en", hei="Hello"),
        "config/texts/resource.en-GB.json": texts("en-GB"),
    }
    root = tmp_path / "v1"
    write_app(root, org, "app", files)
    first = load_apps([root])
    await sync_applications(db, first, clock)
    document, created, changed = await _application(db, app_id)
    assert created == changed == START
    assert document["created"] == document["lastChanged"] == document["validFrom"] == "2026-03-01T08:00:00Z"
    assert document["id"] == app_id and document["title"] == {"nb": "Testapp app"}
    stored = await _texts(db, app_id)
    assert sorted(stored) == ["en", "nb"]  # Storage takes two-letter languages only
    assert stored["nb"]["resources"][1] == {"id": "hei", "value": "Hei på deg", "variables": None}

    # A restart with the same files changes nothing.
    clock.advance(timedelta(hours=1))
    await sync_applications(db, first, clock)
    assert await _application(db, app_id) == (document, created, changed)

    # A changed definition is republished: lastChanged moves, created and validFrom stay.
    root2 = tmp_path / "v2"
    changed_meta = metadata(org, "app", title={"nb": "Ny tittel"})
    write_app(
        root2,
        org,
        "app",
        {
            "config/applicationmetadata.json": json.dumps(changed_meta),
            "config/texts/resource.nb.json": texts("nb", hei="Hei igjen"),
        },
    )
    await sync_applications(db, load_apps([root2]), clock)
    document2, created2, changed2 = await _application(db, app_id)
    assert document2["title"] == {"nb": "Ny tittel"}
    assert created2 == START and changed2 == START + timedelta(hours=1)
    assert document2["created"] == "2026-03-01T08:00:00Z" and document2["validFrom"] == "2026-03-01T08:00:00Z"
    assert document2["lastChanged"] == "2026-03-01T09:00:00Z"
    stored2 = await _texts(db, app_id)
    assert sorted(stored2) == ["nb"]  # the English file is gone
    assert stored2["nb"]["resources"][1]["value"] == "Hei igjen"


async def test_valid_from_from_the_file_is_kept(db: Database, tmp_path: Path) -> None:
    org = f"sync{uuid.uuid4().hex[:10]}"
    write_app(
        tmp_path,
        org,
        "app",
        {
            "config/applicationmetadata.json": json.dumps(
                metadata(org, "app", validFrom="2020-01-01T00:00:00Z")
            )
        },
    )
    clock = FixedClock(START)
    registry = load_apps([tmp_path])
    await sync_applications(db, registry, clock)
    await sync_applications(db, registry, clock)
    document, _, _ = await _application(db, f"{org}/app")
    assert document["validFrom"] == "2020-01-01T00:00:00Z"
    assert document["created"] == "2026-03-01T08:00:00Z"
