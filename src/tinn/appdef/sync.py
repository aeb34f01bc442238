"""Publish the loaded app definitions to Storage's tables (``applications``, ``texts``).

This is what Altinn's deploy does: post the app's metadata and its text resources to Storage.
Storage stamps ``created``/``lastChanged`` (and ``validFrom`` when the app sets none) on the first
publish; an unchanged app is left as it is, so restarts do not bump ``lastChanged``. Several
processes may start at once: every write is an upsert. Apps no longer loaded keep their rows, as
Storage keeps every app ever deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tinn.appdef.registry import AppDefinition, AppRegistry
from tinn.appdef.wire import text_resource_document
from tinn.clock import Clock
from tinn.storage import tables
from tinn.storage.db import Database
from tinn.timeutil import to_iso

_STAMPS = ("created", "lastChanged")


def storage_languages(definition: AppDefinition) -> list[str]:
    """The text languages Storage accepts: two-letter codes only."""
    return [
        language
        for language in definition.texts
        if len(language) == 2 and language.isascii() and language.isalpha()
    ]


def _content(document: Mapping[str, Any], defaulted_valid_from: bool) -> dict[str, Any]:
    """A stored document without what publishing stamped on it."""
    content = {key: value for key, value in document.items() if key not in _STAMPS}
    if defaulted_valid_from:
        content.pop("validFrom", None)
    return content


def _published(content: Mapping[str, Any], created: datetime, changed: datetime) -> dict[str, Any]:
    document = dict(content)
    document.setdefault("validFrom", to_iso(created))
    document["created"] = to_iso(created)
    document["lastChanged"] = to_iso(changed)
    return document


async def sync_applications(db: Database, registry: AppRegistry, clock: Clock) -> None:
    now = clock.now()
    async with db.write() as conn:
        rows = await conn.execute(
            select(
                tables.applications.c.app_id, tables.applications.c.document, tables.applications.c.created
            )
        )
        existing = {row.app_id: (row.document, row.created) for row in rows}
        for definition in registry:
            content = dict(definition.storage_document)
            defaulted = "validFrom" not in content
            if definition.id not in existing:
                await _insert_application(conn, db, definition, _published(content, now, now), now)
                await _replace_texts(conn, db, definition, now)
                continue
            document, created = existing[definition.id]
            if _content(document, defaulted) != content:
                await conn.execute(
                    tables.applications.update()
                    .where(tables.applications.c.app_id == definition.id)
                    .values(document=_published(content, created, now), last_changed=now)
                )
            await _replace_texts(conn, db, definition, now)


def _insert(db: Database, table: Any) -> Any:
    return (postgresql.insert if db.dialect == "postgresql" else sqlite.insert)(table)


async def _insert_application(
    conn: AsyncConnection, db: Database, definition: AppDefinition, document: dict[str, Any], now: datetime
) -> None:
    statement = _insert(db, tables.applications).values(
        app_id=definition.id,
        org=definition.org,
        app=definition.app,
        document=document,
        created=now,
        last_changed=now,
    )
    await conn.execute(statement.on_conflict_do_nothing(index_elements=["app_id"]))


async def _replace_texts(
    conn: AsyncConnection, db: Database, definition: AppDefinition, now: datetime
) -> None:
    languages = storage_languages(definition)
    rows = await conn.execute(
        select(tables.texts.c.language, tables.texts.c.document).where(tables.texts.c.app_id == definition.id)
    )
    stored = {row.language: row.document for row in rows}
    stale = [language for language in stored if language not in languages]
    if stale:
        await conn.execute(
            delete(tables.texts).where(
                tables.texts.c.app_id == definition.id, tables.texts.c.language.in_(stale)
            )
        )
    for language in languages:
        document = text_resource_document(
            definition.texts[language], definition.org, definition.app, language, storage=True
        )
        if stored.get(language) == document:
            continue
        statement = _insert(db, tables.texts).values(
            app_id=definition.id, language=language, document=document, last_changed=now
        )
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["app_id", "language"],
                set_={"document": document, "last_changed": now},
            )
        )
