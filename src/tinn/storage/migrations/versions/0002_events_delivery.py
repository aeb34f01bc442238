"""events: webhook subscriptions, deliveries and the delivery attempt log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tinn.storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> tinn.storage.types.UTCDateTime:
    return tinn.storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("identity_hash", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("source_filter", sa.Text(), nullable=True),
        sa.Column("resource_filter", sa.Text(), nullable=False),
        sa.Column("subject_filter", sa.Text(), nullable=True),
        sa.Column("alternative_subject_filter", sa.Text(), nullable=True),
        sa.Column("type_filter", sa.Text(), nullable=True),
        sa.Column("include_subunits", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consumer", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("consumer_claims", _json(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("created", _time(), nullable=False),
        sa.Column("validated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("validated_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("identity_hash", name=op.f("uq_subscriptions_identity_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_subscriptions_consumer", "subscriptions", ["consumer", "id"], unique=False)
    op.create_index("ix_subscriptions_resource_filter", "subscriptions", ["resource_filter"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", _id(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=300), nullable=False),
        sa.Column("event_sequence_no", sa.BigInteger(), nullable=True),
        sa.Column("document", _json(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", _time(), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("created", _time(), nullable=False),
        sa.Column("last_attempt_at", _time(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_deliveries_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "subscription_id",
            "event_sequence_no",
            name=op.f("uq_deliveries_subscription_id_event_sequence_no"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_deliveries_finished", "deliveries", ["finished_at"], unique=False)
    op.create_index("ix_deliveries_subscription", "deliveries", ["subscription_id", "id"], unique=False)
    op.create_table(
        "delivery_attempts",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", _id(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started", _time(), nullable=False),
        sa.Column("latency_us", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_attempts_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
        sa.UniqueConstraint("delivery_id", "attempt", name=op.f("uq_delivery_attempts_delivery_id_attempt")),
    )


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    op.drop_index("ix_deliveries_subscription", table_name="deliveries")
    op.drop_index("ix_deliveries_finished", table_name="deliveries")
    op.drop_index(
        "ix_deliveries_due",
        table_name="deliveries",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.drop_table("deliveries")
    op.drop_index("ix_subscriptions_resource_filter", table_name="subscriptions")
    op.drop_index("ix_subscriptions_consumer", table_name="subscriptions")
    op.drop_table("subscriptions")
