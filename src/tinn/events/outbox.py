"""The transactional outbox: CloudEvents written in the same transaction as the state change.

Rows in `cloud_events` are both the Events API's store (pull feed) and the outbox; the dispatcher
picks up rows with `dispatched = false` after commit and fans them out to subscriptions.

Writing to the outbox also flags the transaction as carrying work for the event workers
(:func:`mark_work`): on PostgreSQL a ``NOTIFY`` that is delivered at commit (and dropped on
rollback) wakes every worker process; in-process workers are woken when the connection goes back
to the pool after the commit. Callers need not wake anything themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tinn.storage import tables
from tinn.timeutil import parse_iso

# PostgreSQL channel the event workers LISTEN on.
NOTIFY_CHANNEL = "tinn_events"
# Connection-info flags: work written in the open transaction / in a committed one.
WORK_PENDING = "tinn_events_work_pending"
WORK_COMMITTED = "tinn_events_work_committed"


async def mark_work(conn: AsyncConnection) -> None:
    """Flag ``conn``'s transaction as giving the event workers something to do once it commits."""
    conn.info[WORK_PENDING] = True
    if conn.dialect.name == "postgresql":
        # Identical notifications of one transaction are folded into one by PostgreSQL.
        await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})


async def write_outbox(
    conn: AsyncConnection,
    events: list[dict[str, Any]],
    *,
    registered: datetime | None = None,
    skip_duplicates: bool = False,
) -> int:
    """Insert CloudEvents (structured JSON form, lower-case attribute names) in `conn`'s transaction.

    ``registered`` is when the Events store took the event (default: the event's ``time``).
    With ``skip_duplicates`` an event whose (id, source) is already stored is left out, as
    Altinn's ``INSERT ... ON CONFLICT DO NOTHING``. Returns the number of rows written.
    """
    if not events:
        return 0
    rows = []
    for event in events:
        time = parse_iso(event["time"])
        rows.append(
            {
                "id": event["id"],
                "source": event["source"],
                "type": event["type"],
                "subject": event.get("subject"),
                "alternative_subject": event.get("alternativesubject"),
                "resource": event.get("resource"),
                "time": time,
                "registered": registered or time,
                "document": event,
            }
        )
    if skip_duplicates:
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        written = 0
        for row in rows:
            result = await conn.execute(
                dialect_insert(tables.cloud_events).values(row).on_conflict_do_nothing()
            )
            written += max(result.rowcount, 0)
    else:
        await conn.execute(insert(tables.cloud_events), rows)
        written = len(rows)
    if written:
        await mark_work(conn)
    return written
