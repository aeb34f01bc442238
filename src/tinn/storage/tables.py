"""The relational schema, shared by SQLite and PostgreSQL.

Documents are stored as camelCase wire JSON (the same shape the APIs return, minus computed
parts such as ``selfLinks`` and ``data``); every field the Storage query filters or sorts on is
also a real column so it can be indexed. Migrations in ``storage/migrations`` create exactly this.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from tinn.storage.types import UTCDateTime, json_type

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(Integer(), "sqlite")
FALSE = text("false")


applications = Table(
    "applications",
    metadata,
    Column("internal_id", BigId, primary_key=True, autoincrement=True),
    Column("app_id", String(200), nullable=False, unique=True),
    Column("org", String(100), nullable=False, index=True),
    Column("app", String(100), nullable=False),
    Column("document", json_type(), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("last_changed", UTCDateTime(), nullable=False),
)

texts = Table(
    "texts",
    metadata,
    Column("internal_id", BigId, primary_key=True, autoincrement=True),
    Column("app_id", String(200), nullable=False),
    Column("language", String(10), nullable=False),
    Column("document", json_type(), nullable=False),
    Column("last_changed", UTCDateTime(), nullable=False),
    UniqueConstraint("app_id", "language"),
)

instances = Table(
    "instances",
    metadata,
    Column("internal_id", BigId, primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False, unique=True),
    Column("party_id", BigInteger(), nullable=False),
    Column("org", String(100), nullable=False),
    Column("app_id", String(200), nullable=False),
    Column("current_task", String(200), nullable=True),
    Column("process_ended", UTCDateTime(), nullable=True),
    Column("created", UTCDateTime(), nullable=False),
    Column("last_changed", UTCDateTime(), nullable=False),
    Column("visible_after", UTCDateTime(), nullable=True),
    Column("due_before", UTCDateTime(), nullable=True),
    Column("is_archived", Boolean(), nullable=False, server_default=FALSE),
    Column("is_soft_deleted", Boolean(), nullable=False, server_default=FALSE),
    Column("is_hard_deleted", Boolean(), nullable=False, server_default=FALSE),
    Column("hard_deleted", UTCDateTime(), nullable=True),
    # Confirmed complete by the instance's own org (Altinn's `confirmed` column).
    Column("confirmed", Boolean(), nullable=False, server_default=FALSE),
    Column("confirmed_at", UTCDateTime(), nullable=True),
    # Lower-cased presentation text values, for `searchString`.
    Column("search_text", Text(), nullable=True),
    # Row version: ETag and optimistic concurrency for every write.
    Column("version", Integer(), nullable=False, server_default=text("1")),
    Column("document", json_type(), nullable=False),
    Index("ix_instances_party_last_changed", "party_id", "last_changed", "internal_id"),
    Index("ix_instances_app_last_changed", "app_id", "last_changed", "internal_id"),
    Index("ix_instances_app_task_last_changed", "app_id", "current_task", "last_changed", "internal_id"),
    Index("ix_instances_org_last_changed", "org", "last_changed", "internal_id"),
    Index(
        "ix_instances_app_unconfirmed_last_changed",
        "app_id",
        "last_changed",
        "internal_id",
        postgresql_where=text("NOT confirmed"),
        sqlite_where=text("NOT confirmed"),
    ),
    # Storage query `process.isComplete=true&excludeConfirmedBy={org}` (migration 0003).
    Index(
        "ix_instances_app_completed_unconfirmed",
        "app_id",
        "last_changed",
        "internal_id",
        postgresql_where=text("NOT confirmed AND process_ended IS NOT NULL"),
        sqlite_where=text("NOT confirmed AND process_ended IS NOT NULL"),
    ),
    Index(
        "ix_instances_org_completed_unconfirmed",
        "org",
        "last_changed",
        "internal_id",
        postgresql_where=text("NOT confirmed AND process_ended IS NOT NULL"),
        sqlite_where=text("NOT confirmed AND process_ended IS NOT NULL"),
    ),
    Index("ix_instances_created", "created"),
    Index(
        "ix_instances_hard_deleted",
        "hard_deleted",
        postgresql_where=text("is_hard_deleted"),
        sqlite_where=text("is_hard_deleted"),
    ),
)

# Complete confirmations by stakeholders (mirrors `completeConfirmations`, for `excludeConfirmedBy`).
instance_confirmations = Table(
    "instance_confirmations",
    metadata,
    Column(
        "instance_internal_id",
        BigId,
        ForeignKey("instances.internal_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("stakeholder_id", String(100), primary_key=True),
    Column("confirmed_on", UTCDateTime(), nullable=False),
)

data_elements = Table(
    "data_elements",
    metadata,
    Column("internal_id", BigId, primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False, unique=True),
    Column(
        "instance_internal_id",
        BigId,
        ForeignKey("instances.internal_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("instance_guid", Uuid(), nullable=False, index=True),
    Column("data_type", String(200), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("last_changed", UTCDateTime(), nullable=False),
    # Key of the current blob in the blob store; a new key per write so a crash mid-write
    # never leaves a row pointing at a half-written object.
    Column("blob_key", Text(), nullable=True),
    Column("content_hash", String(64), nullable=True),
    Column("size", BigInteger(), nullable=False, server_default=text("0")),
    Column("locked", Boolean(), nullable=False, server_default=FALSE),
    Column("is_hard_deleted", Boolean(), nullable=False, server_default=FALSE),
    Column("hard_deleted", UTCDateTime(), nullable=True),
    Column("file_scan_result", String(20), nullable=False, server_default=text("'NotApplicable'")),
    Column("version", Integer(), nullable=False, server_default=text("1")),
    Column("document", json_type(), nullable=False),
    Index(
        "ix_data_elements_hard_deleted",
        "hard_deleted",
        postgresql_where=text("is_hard_deleted"),
        sqlite_where=text("is_hard_deleted"),
    ),
)

instance_events = Table(
    "instance_events",
    metadata,
    Column("internal_id", BigId, primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False, unique=True),
    Column("instance_guid", Uuid(), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("document", json_type(), nullable=False),
    Index("ix_instance_events_instance_created", "instance_guid", "created"),
)

# CloudEvents: the Events API's store and pull feed, and the transactional outbox.
# A state change inserts its events here in its own transaction; the dispatcher fans
# undispatched rows out to subscriptions after commit.
cloud_events = Table(
    "cloud_events",
    metadata,
    Column("sequence_no", BigId, primary_key=True, autoincrement=True),
    Column("id", String(200), nullable=False),
    Column("source", Text(), nullable=False),
    Column("type", String(300), nullable=False),
    Column("subject", Text(), nullable=True),
    Column("alternative_subject", Text(), nullable=True),
    Column("resource", Text(), nullable=True),
    Column("time", UTCDateTime(), nullable=False),
    Column("registered", UTCDateTime(), nullable=False),
    Column("dispatched", Boolean(), nullable=False, server_default=FALSE),
    Column("document", json_type(), nullable=False),
    UniqueConstraint("id", "source"),
    Index("ix_cloud_events_resource_sequence", "resource", "sequence_no"),
    Index("ix_cloud_events_subject_sequence", "subject", "sequence_no"),
    Index(
        "ix_cloud_events_undispatched",
        "sequence_no",
        postgresql_where=text("NOT dispatched"),
        sqlite_where=text("NOT dispatched"),
    ),
)

# Token signing keys, shared by every API process (generated on first start).
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(100), primary_key=True),
    Column("private_key_pem", LargeBinary(), nullable=False),
    Column("certificate_pem", LargeBinary(), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    # Published in JWKS from `created`; used for signing from `active_from`.
    Column("active_from", UTCDateTime(), nullable=False),
    Column("retired", UTCDateTime(), nullable=True),
)

# Replay store for `Idempotency-Key` on creates.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(300), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer(), nullable=True),
    Column("response_headers", json_type(), nullable=True),
    Column("response_body", LargeBinary(), nullable=True),
    Column("created", UTCDateTime(), nullable=False),
)

# Storage instance locks (`POST/PATCH .../lock`); the secret is stored hashed.
instance_locks = Table(
    "instance_locks",
    metadata,
    Column("internal_id", BigId, primary_key=True, autoincrement=True),
    Column(
        "instance_internal_id",
        BigId,
        ForeignKey("instances.internal_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("locked_at", UTCDateTime(), nullable=False),
    Column("locked_until", UTCDateTime(), nullable=False),
    Column("locked_by", String(200), nullable=False),
    Column("secret_hash", LargeBinary(), nullable=False),
)

# -- Events: webhook subscriptions, deliveries and their attempt log (events context) ----------
# `cloud_events` above is the outbox; the dispatcher turns each undispatched row into one
# `deliveries` row per matching, authorised subscription, and delivery workers claim due rows.

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # sha256 of the filters, consumer and endpoint: makes an identical create idempotent.
    Column("identity_hash", String(64), nullable=False, unique=True),
    Column("endpoint", Text(), nullable=False),
    Column("source_filter", Text(), nullable=True),
    Column("resource_filter", Text(), nullable=False),
    Column("subject_filter", Text(), nullable=True),
    Column("alternative_subject_filter", Text(), nullable=True),
    Column("type_filter", Text(), nullable=True),
    Column("include_subunits", Boolean(), nullable=False, server_default=FALSE),
    Column("consumer", String(200), nullable=False),
    Column("created_by", String(200), nullable=False),
    # The creator's token claims (less exp/iat/nbf/jti): every event is authorised against them.
    Column("consumer_claims", json_type(), nullable=False),
    # Standard Webhooks signing secret (`whsec_...`); needed in clear to sign.
    Column("secret", String(200), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("validated", Boolean(), nullable=False, server_default=FALSE),
    Column("validated_at", UTCDateTime(), nullable=True),
    Index("ix_subscriptions_resource_filter", "resource_filter"),
    Index("ix_subscriptions_consumer", "consumer", "id"),
    sqlite_autoincrement=True,
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "subscription_id",
        BigId,
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # "event" (fan-out of a cloud_events row) or "validation" (the subscription handshake).
    Column("kind", String(20), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("event_type", String(300), nullable=False),
    Column("event_sequence_no", BigInteger(), nullable=True),
    Column("document", json_type(), nullable=False),
    # pending (due at next_attempt_at; also while claimed) | delivered | dead
    Column("status", String(20), nullable=False),
    # Attempts ever made (numbers each attempt); failures since last queued (indexes the schedule).
    Column("attempts", Integer(), nullable=False, server_default=text("0")),
    Column("failures", Integer(), nullable=False, server_default=text("0")),
    # Due time; a claim moves it to the end of the claim's lease, so a dead worker's claim lapses.
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("claimed_by", String(200), nullable=True),
    Column("created", UTCDateTime(), nullable=False),
    Column("last_attempt_at", UTCDateTime(), nullable=True),
    Column("last_status_code", Integer(), nullable=True),
    Column("last_error", Text(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    UniqueConstraint("subscription_id", "event_sequence_no"),
    Index(
        "ix_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
    Index("ix_deliveries_subscription", "subscription_id", "id"),
    Index("ix_deliveries_finished", "finished_at"),
    sqlite_autoincrement=True,
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        BigId,
        ForeignKey("deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt", Integer(), nullable=False),
    Column("started", UTCDateTime(), nullable=False),
    Column("latency_us", BigInteger(), nullable=False),
    Column("status_code", Integer(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("worker", String(200), nullable=False),
    # One row per attempt number: a second worker can never log (or make) the same attempt.
    UniqueConstraint("delivery_id", "attempt"),
)
