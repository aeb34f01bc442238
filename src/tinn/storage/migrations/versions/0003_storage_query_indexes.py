"""storage query: partial indexes for completed, unconfirmed instances per app and per org

The service-owner query `appId=...&process.isComplete=true&excludeConfirmedBy={org}` (and its
`org=` form) asks for exactly these rows, newest first; the partial indexes keep that a short
backward index scan however many active or confirmed instances an app has.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COMPLETED_UNCONFIRMED = "NOT confirmed AND process_ended IS NOT NULL"


def upgrade() -> None:
    for name, column in (
        ("ix_instances_app_completed_unconfirmed", "app_id"),
        ("ix_instances_org_completed_unconfirmed", "org"),
    ):
        op.create_index(
            name,
            "instances",
            [column, "last_changed", "internal_id"],
            unique=False,
            postgresql_where=sa.text(_COMPLETED_UNCONFIRMED),
            sqlite_where=sa.text(_COMPLETED_UNCONFIRMED),
        )


def downgrade() -> None:
    op.drop_index("ix_instances_org_completed_unconfirmed", table_name="instances")
    op.drop_index("ix_instances_app_completed_unconfirmed", table_name="instances")
