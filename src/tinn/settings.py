"""One typed settings object, fed by ``TINN_*`` environment variables.

Every field carries a description: ``tinn config`` prints the effective values and
``docs/configuration.md`` is generated from this module (``tinn config --markdown``).
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BUNDLED_APPS_DIR = Path(__file__).parent / "demo_apps"
BUNDLED_REGISTER_DIR = Path(__file__).parent / "register" / "testdata"
# Altinn's webhook retry delays in seconds (10 s, 30 s, 1 min, ... 12 h): 12 retries, about 47 hours.
ALTINN_RETRY_SCHEDULE = (
    10.0,
    30.0,
    60.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    10800.0,
    21600.0,
    43200.0,
    43200.0,
    43200.0,
)


class Environment(StrEnum):
    local = "local"
    production = "production"


class LogFormat(StrEnum):
    console = "console"
    json = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TINN_",
        extra="ignore",
        frozen=True,
        use_attribute_docstrings=False,
    )

    environment: Environment = Field(
        Environment.local,
        description="`local` turns on the embedded defaults and the test identity provider; "
        "`production` turns off everything that is only for testing unless enabled explicitly.",
    )
    host: str = Field("127.0.0.1", description="Interface `tinn serve` listens on.")
    port: int = Field(5005, description="TCP port `tinn serve` listens on.")
    workers: int = Field(1, ge=1, description="Number of API processes `tinn serve` starts.")
    data_dir: Path = Field(
        Path(".tinn"),
        description="Folder for the embedded defaults: the SQLite database, local blobs and signing keys.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database, e.g. `postgresql+asyncpg://user@host/db`. "
        "Default: an SQLite file `tinn.db` in the data folder.",
    )
    database_pool_size: int = Field(10, ge=1, description="Connections kept per API process (PostgreSQL).")
    auto_migrate: bool | None = Field(
        None,
        description="Apply database migrations when the server starts. "
        "Default: on for SQLite, off for other databases (run `tinn db upgrade`).",
    )
    blob_url: str | None = Field(
        None,
        description="Where blobs live: `file:///abs/path`, `s3://bucket/prefix`, `az://container/prefix`, "
        "`gs://bucket/prefix` or `memory://`. Default: the folder `blobs` in the data folder.",
    )
    blob_options: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="JSON object of options for the object store (credentials, endpoint, region, ...), "
        'passed to obstore, e.g. `{"endpoint": "http://127.0.0.1:10000"}`.',
    )
    apps: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [BUNDLED_APPS_DIR],
        description="Folders searched for Altinn Studio app folders "
        "(`{org}/{app}/config/applicationmetadata.json`), separated by `:`. "
        "Default: Tinn's bundled demo apps.",
    )
    register_dir: Path = Field(
        BUNDLED_REGISTER_DIR,
        description="Folder in Altinn localtest's test-data format (`Register/`, `Profile/`, "
        "`authorization/`) loaded as the register. Default: Tinn's built-in test register.",
    )
    public_url: str | None = Field(
        None,
        description="Public base URL of this deployment, used in every self link and `Location`. "
        "Default: `http://{host}:{port}`.",
    )
    apps_public_url: str | None = Field(
        None, description="Public base URL of the App API (`/{org}/{app}/...`). Default: `public_url`."
    )
    platform_public_url: str | None = Field(
        None,
        description="Public base URL of the platform APIs (`/storage`, `/events`, `/authentication`, "
        "`/register`). Default: `public_url`.",
    )
    log_level: str = Field("info", description="Minimum log level: debug, info, warning, error.")
    log_format: LogFormat = Field(
        LogFormat.console, description="`console` for people, `json` for log collectors (one event per line)."
    )
    access_log: bool = Field(False, description="Log every HTTP request (uvicorn access log).")
    max_json_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest JSON/XML request body read into memory (bytes)."
    )
    jwt_issuer: str | None = Field(
        None,
        description="`iss` of the platform tokens Tinn issues and the OpenID issuer it publishes. "
        "Default: `{platform_public_url}/authentication/api/v1/openid/`.",
    )
    jwt_validity_minutes: int = Field(
        30,
        ge=1,
        description="Lifetime of the platform tokens Tinn issues (Maskinporten exchange, refresh, CLI), "
        "as Altinn's `JwtValidityMinutes`.",
    )
    jwt_max_validity_minutes: int = Field(
        720,
        ge=1,
        description="Longest lifetime any issued platform token may have (the ID-porten exchange keeps "
        "the ID-porten `exp`, test generators take a `ttl`); a superseded signing key is retired this "
        "long after it stops signing.",
    )
    jwt_key_rollover_hours: float = Field(
        48.0,
        ge=0,
        description="`tinn keys rotate` publishes a new signing key at once but signs with it only after "
        "this many hours, so every verifier has it first (Altinn's "
        "`JwtSigningCertificateRolloverDelayHours`).",
    )
    jwt_key_refresh_seconds: float = Field(
        60.0,
        gt=0,
        description="How often an API process re-reads the signing keys from the database (a rotation "
        "by another process shows within this time; an unknown `kid` triggers an early re-read).",
    )
    trusted_issuers: str | None = Field(
        None,
        description="External token issuers the exchange trusts: a JSON object, or the path of a JSON "
        'file, such as `{"id-porten": [{"issuer": ..., "jwks_uri": ...}], "maskinporten": '
        '[{"issuer": ..., "key_file": ...}]}` (see docs/identity.md). The test identity '
        "provider's issuers are added while it is on.",
    )
    test_idp: bool | None = Field(
        None,
        description="Serve the test identity provider (Maskinporten- and ID-porten-like test issuers, "
        "TestTools token generators) and trust its tokens. Default: on when `environment` is `local`, "
        "off otherwise.",
    )
    test_idp_clients_file: Path | None = Field(
        None,
        description="JSON file with the test Maskinporten clients and their public keys (see "
        "docs/identity.md). The built-in test client always exists; its private key is generated in "
        "the data folder.",
    )

    unsupported_service_tasks: Literal["skip", "fail"] = Field(
        "skip",
        description="What an `eFormidling` or `fiksArkiv` service task does (Tinn has no connection to "
        "those archives): `skip` passes it (logged and recorded as an instance event), `fail` fails it "
        "as an unreachable integration would.",
    )

    enforce_default_scopes: bool = Field(
        False,
        description="Refuse (403) App API instance requests whose token lacks the default scope "
        "(`altinn:instances.read|write` or `altinn:portal/enduser` for users, organisations and system "
        "users; `altinn:serviceowner/instances.read|write` for service owners). Off: such requests are "
        "only logged and counted in `tinn_invalid_scopes_total`, as Altinn does. An app's own "
        "`apiScopes` are always enforced.",
    )
    benchmark_routes: bool = Field(
        False,
        description="Serve `GET /_benchmark/authorize/{org}/{app}/{partyId}` (token verification plus "
        "one policy decision, for `benchmarks/auth_verify.py`). Leave off outside benchmarks.",
    )

    events_worker: bool = Field(
        True,
        description="Run the event worker (fan-out of new events to subscriptions, webhook delivery, "
        "subscription validation) inside each `tinn serve` process. Turn it off where separate "
        "`tinn worker` processes do the work.",
    )
    events_poll_interval_seconds: float = Field(
        1.0,
        gt=0,
        description="Longest time an event worker sleeps before looking for work again. Workers are "
        "woken at once by commits in their own process and, on PostgreSQL, by LISTEN/NOTIFY from "
        "every process; this bounds the delay for anything else.",
    )
    events_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(ALTINN_RETRY_SCHEDULE),
        description="Seconds to wait before each retry of a failed webhook delivery (or subscription "
        "validation), comma-separated; after the last retry fails the delivery is dead-lettered. "
        "Default: Altinn's schedule (10 s ... 12 h, 12 retries, about 47 hours).",
    )
    events_delivery_timeout_seconds: float = Field(
        45.0, gt=0, description="Time limit of one webhook POST (connect to last response byte)."
    )
    events_delivery_concurrency: int = Field(
        64, ge=1, description="Webhook POSTs one event worker keeps in flight at once."
    )
    events_batch_size: int = Field(
        200, ge=1, description="Outbox rows one fan-out transaction takes, and deliveries one claim takes."
    )
    events_visibility_lag_seconds: float = Field(
        30.0,
        ge=0,
        description="Events registered less than this long ago are not returned by the pull feeds "
        "(`GET /events/api/v1/app/...`, `GET /events/api/v1/events`), so a slow transaction that "
        "commits an earlier sequence number late is not skipped (Altinn: 30 s).",
    )
    events_retention_days: int = Field(
        90,
        ge=0,
        description="Events and finished deliveries older than this are deleted by the event worker "
        "(Altinn: 90 days). 0 keeps them forever.",
    )
    events_allow_http_endpoints: bool | None = Field(
        None,
        description="Accept `http://` webhook endpoints for subscriptions (otherwise only `https://`). "
        "Default: on when `environment` is `local`, off otherwise.",
    )

    file_scanner: Literal["eicar", "clamav", "none"] = Field(
        "eicar",
        description="Scanner for uploads of data types with `enableFileScan`, run after the upload "
        "is stored (`fileScanResult` Pending -> Clean/Infected): `eicar` flags only the EICAR test "
        "string (development), `clamav` asks clamd at `TINN_CLAMAV_ADDRESS`, `none` scans nothing "
        "(elements stay Pending).",
    )
    clamav_address: str | None = Field(
        None,
        description="clamd socket for `TINN_FILE_SCANNER=clamav`: `unix:///run/clamav/clamd.ctl`, "
        "`/path/to/clamd.sock`, `tcp://host:3310` or `host:3310`.",
    )
    file_scan_timeout_seconds: float = Field(
        300.0, gt=0, description="Longest time one file scan may take before it is retried later."
    )

    @field_validator("apps", mode="before")
    @classmethod
    def _split_apps(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [Path(p) for p in value.split(":") if p]
        return value

    @field_validator("blob_options", mode="before")
    @classmethod
    def _parse_blob_options(cls, value: Any) -> Any:
        if isinstance(value, str):
            parsed = json.loads(value) if value.strip() else {}
            if not isinstance(parsed, dict):
                raise ValueError("TINN_BLOB_OPTIONS must be a JSON object")
            return {str(k): str(v) for k, v in parsed.items()}
        return value

    @field_validator("events_retry_schedule", mode="before")
    @classmethod
    def _split_retry_schedule(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [float(part) for part in value.replace(" ", "").split(",") if part]
        return value

    @field_validator("events_retry_schedule")
    @classmethod
    def _check_retry_schedule(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays must not be negative")
        return value

    # Derived values -------------------------------------------------------------------

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tinn.db').resolve()}"

    @cached_property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @cached_property
    def effective_auto_migrate(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @cached_property
    def effective_blob_url(self) -> str:
        if self.blob_url:
            return self.blob_url
        return (self.data_dir / "blobs").resolve().as_uri()

    @cached_property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def effective_apps_url(self) -> str:
        return (self.apps_public_url or self.effective_public_url).rstrip("/")

    @cached_property
    def effective_platform_url(self) -> str:
        return (self.platform_public_url or self.effective_public_url).rstrip("/")

    @cached_property
    def effective_jwt_issuer(self) -> str:
        return self.jwt_issuer or f"{self.effective_platform_url}/authentication/api/v1/openid/"

    @cached_property
    def effective_test_idp(self) -> bool:
        return self.environment is Environment.local if self.test_idp is None else self.test_idp

    @cached_property
    def effective_events_allow_http(self) -> bool:
        if self.events_allow_http_endpoints is None:
            return self.environment is Environment.local
        return self.events_allow_http_endpoints


def normalise_database_url(url: str) -> str:
    """Accept the common spellings and pick the async driver Tinn uses."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        url = "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(environment variable, effective value, description) for every setting."""
    rows = []
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, list):
            shown = ":".join(str(v) for v in value)
        elif isinstance(value, dict):
            shown = json.dumps({k: "***" for k in value}) if value else "{}"
        elif value is None:
            shown = ""
        else:
            shown = str(value.value if isinstance(value, StrEnum) else value)
        rows.append((f"TINN_{name.upper()}", shown, field.description or ""))
    return rows
