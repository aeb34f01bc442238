"""Alembic environment: runs on the connection handed over by ``tinn.storage.migrate``."""

from __future__ import annotations

from alembic import context

from tinn.storage.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tinn db upgrade` (tinn.storage.migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
