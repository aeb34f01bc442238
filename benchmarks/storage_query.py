"""Service-owner queries of ``GET /storage/api/v1/instances`` on a million instances (PostgreSQL).

Creates a fresh PostgreSQL database, migrates it (``tinn db upgrade``), creates one ``ttd/soknad``
instance through the App API and uses its stored rows as templates, then bulk-loads ``--rows``
instances (default 1,000,000) with two data elements each (the XML model and a PDF attachment)
with ``COPY`` (asyncpg, binary). The plain secondary indexes are dropped for the load and created
again from their own definitions afterwards, then the tables are analysed. The data: 60 %
``ttd/soknad``, 40 % ``ttd/bekreftelse``; 20 % owned by party 501337, the rest spread over 100,000
parties; half of them in ``Task_1``, half completed, a third of those confirmed by ``ttd``;
``lastChanged`` spread over a year. Seeding time is printed.

Then, as the service owner ``ttd`` (``altinn:serviceowner/instances.read``), ``size=100``:

* ``appId=ttd/soknad&process.isComplete=true&excludeConfirmedBy=ttd``
* ``appId=ttd/soknad&process.currentTask=Task_1&lastChanged=gt:...&lastChanged=lt:...``
* ``org=ttd&instanceOwner.partyId=501337``

For each it walks ``--walk-pages`` pages (default 1,000) with ``continuationToken``, then measures
``--repeats`` sequential requests of page 1 and of the last page of the walk (p50/p99; target:
last page p50 within 1.5x of page 1), and the same two pages as bare SQL (asyncpg, the statements
the endpoint runs: ``page_select`` and ``elements_select`` of ``tinn.instances.query`` compiled for
PostgreSQL, results not decoded) in this benchmark process (target: endpoint p50 <= 3x bare SQL). A
check confirms both return the same instance ids.

    .venv/bin/python benchmarks/storage_query.py [--rows 1000000] [--walk-pages 1000] [--repeats 30]
        [--quick] [--keep-database] [--postgres postgresql://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import orjson
from sqlalchemy.dialects import postgresql

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile, tinn_server

from tinn.instances.query import InstanceQuery, decode_cursor, elements_select, page_select, parse_query

PARTY = 501337
TOKEN_QUERY = {"userId": "1337", "partyId": str(PARTY), "pid": "01039012345", "authLvl": "2"}
OWNER_TOKEN_QUERY = {"org": "ttd", "orgNo": "405003309", "scopes": "altinn:serviceowner/instances.read"}
TARGET_DEEP = 1.5
TARGET_BARE = 3.0
NOW = datetime(2026, 6, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
BATCH = 50_000

INSTANCE_COLUMNS = (
    "internal_id",
    "id",
    "party_id",
    "org",
    "app_id",
    "current_task",
    "process_ended",
    "created",
    "last_changed",
    "visible_after",
    "due_before",
    "is_archived",
    "is_soft_deleted",
    "is_hard_deleted",
    "hard_deleted",
    "confirmed",
    "confirmed_at",
    "search_text",
    "version",
    "document",
)
ELEMENT_COLUMNS = (
    "internal_id",
    "id",
    "instance_internal_id",
    "instance_guid",
    "data_type",
    "created",
    "last_changed",
    "blob_key",
    "content_hash",
    "size",
    "locked",
    "is_hard_deleted",
    "hard_deleted",
    "file_scan_result",
    "version",
    "document",
)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- database -----------------------------------------------------------------------------------


def create_database(server_url: str, name: str) -> str:
    async def run() -> None:
        connection = await asyncpg.connect(server_url.rstrip("/") + "/postgres")
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(run())
    url = server_url.rstrip("/") + "/" + name
    subprocess.run(
        [sys.executable, "-m", "tinn", "db", "upgrade"],
        env={**os.environ, "TINN_DATABASE_URL": sa_url(url), "TINN_LOG_LEVEL": "warning"},
        check=True,
        capture_output=True,
    )
    return url


def drop_database(server_url: str, name: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(server_url.rstrip("/") + "/postgres")
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(run())


def sa_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


# --- seeding ------------------------------------------------------------------------------------


def make_template(db_url: str) -> None:
    """One real ttd/soknad instance (with its XML model and a PDF attachment) through the App API."""
    xml = (
        b'<?xml version="1.0" encoding="utf-8"?><Soknad><navn>Sophie Salt</navn>'
        b"<organisasjonsnummer>405003309</organisasjonsnummer><belop>125000</belop></Soknad>"
    )
    with (
        tinn_server({"TINN_DATABASE_URL": sa_url(db_url)}) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        token = client.get("/api/GetPersonalToken", params=TOKEN_QUERY).text
        files = [
            ("soknad", ("soknad.xml", xml, "application/xml")),
            ("attachment", ("vedlegg.pdf", b"%PDF-1.4\n" + b"0" * 4096 + b"\n%%EOF\n", "application/pdf")),
        ]
        response = client.post(
            "/ttd/soknad/instances",
            params={"instanceOwnerPartyId": PARTY},
            files=files,
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code != 201:
            raise SystemExit(f"template instance: {response.status_code} {response.text[:500]}")


@dataclass
class Templates:
    instance: dict[str, Any]
    elements: list[dict[str, Any]]
    element_rows: list[dict[str, Any]]
    search_text: str | None


async def read_templates(connection: asyncpg.Connection) -> Templates:
    instance = await connection.fetchrow("SELECT * FROM instances ORDER BY internal_id LIMIT 1")
    elements = await connection.fetch(
        "SELECT * FROM data_elements WHERE instance_internal_id = $1 ORDER BY internal_id",
        instance["internal_id"],
    )
    return Templates(
        instance=orjson.loads(instance["document"]),
        elements=[orjson.loads(row["document"]) for row in elements],
        element_rows=[dict(row) for row in elements],
        search_text=instance["search_text"],
    )


def generate(templates: Templates, rows: int, seed: int) -> Iterator[tuple[list[tuple[Any, ...]], ...]]:
    """Batches of (instance rows, element rows, confirmation rows)."""
    rng = random.Random(seed)
    base = templates.instance
    instances: list[tuple[Any, ...]] = []
    elements: list[tuple[Any, ...]] = []
    confirmations: list[tuple[Any, ...]] = []
    element_id = 0
    for internal_id in range(1, rows + 1):
        guid = uuid.UUID(int=rng.getrandbits(128), version=4)
        app_id = "ttd/soknad" if rng.random() < 0.6 else "ttd/bekreftelse"
        party = PARTY if rng.random() < 0.2 else 60_000_000 + rng.randrange(100_000)
        created = NOW - YEAR + timedelta(microseconds=rng.randrange(int(YEAR.total_seconds() * 1e6)))
        changed = created + timedelta(microseconds=rng.randrange(2 * 86_400_000_000))
        completed = rng.random() < 0.5
        confirmed = completed and rng.random() < 1 / 3
        created_iso, changed_iso = _iso(created), _iso(changed)
        process = dict(base["process"])
        process["started"] = created_iso
        if completed:
            process["currentTask"] = None
            process["ended"] = changed_iso
            process["endEvent"] = "EndEvent_1"
        else:
            process["currentTask"] = {**process["currentTask"], "started": created_iso}
        status = {**base["status"], "isArchived": completed, "archived": changed_iso if completed else None}
        owner = {**base["instanceOwner"], "partyId": str(party)}
        if party != PARTY:
            owner["personNumber"] = None
            owner["party"] = None
        document = {
            **base,
            "id": f"{party}/{guid}",
            "instanceOwner": owner,
            "appId": app_id,
            "visibleAfter": created_iso,
            "process": process,
            "status": status,
            "created": created_iso,
            "lastChanged": changed_iso,
            "completeConfirmations": [{"stakeholderId": "ttd", "confirmedOn": changed_iso}]
            if confirmed
            else None,
        }
        instances.append(
            (
                internal_id,
                guid,
                party,
                "ttd",
                app_id,
                None if completed else "Task_1",
                changed if completed else None,
                created,
                changed,
                created,
                None,
                completed,
                False,
                False,
                None,
                confirmed,
                changed if confirmed else None,
                templates.search_text,
                3 if completed else 2,
                orjson.dumps(document).decode(),
            )
        )
        if confirmed:
            confirmations.append((internal_id, "ttd", changed))
        for template, row in zip(templates.elements, templates.element_rows, strict=True):
            element_id += 1
            data_guid = uuid.UUID(int=rng.getrandbits(128), version=4)
            path = f"{app_id}/{guid}/data/{data_guid}"
            element = {
                **template,
                "id": str(data_guid),
                "instanceGuid": str(guid),
                "blobStoragePath": path,
                "created": created_iso,
                "lastChanged": created_iso,
                "locked": completed,
            }
            elements.append(
                (
                    element_id,
                    data_guid,
                    internal_id,
                    guid,
                    row["data_type"],
                    created,
                    created,
                    f"{path}/{data_guid.hex[:8]}",
                    row["content_hash"],
                    row["size"],
                    completed,
                    False,
                    None,
                    row["file_scan_result"],
                    1,
                    orjson.dumps(element).decode(),
                )
            )
        if len(instances) >= BATCH:
            yield instances, elements, confirmations
            instances, elements, confirmations = [], [], []
    if instances:
        yield instances, elements, confirmations


async def seed(url: str, rows: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    connection = await asyncpg.connect(url)
    try:
        templates = await read_templates(connection)
        await connection.execute("TRUNCATE instances, data_elements, instance_confirmations CASCADE")
        indexes = await connection.fetch(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.schemaname = 'public'
                 AND i.tablename IN ('instances', 'data_elements', 'instance_confirmations')
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"""
        )
        started = time.perf_counter()
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        # The rows are consistent by construction: skip the per-row foreign key triggers.
        await connection.execute("SET session_replication_role = replica")
        generating = 0.0
        mark = time.perf_counter()
        done = 0
        for instance_rows, element_rows, confirmation_rows in generate(templates, rows, seed=7):
            generating += time.perf_counter() - mark
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "instances", records=instance_rows, columns=INSTANCE_COLUMNS
                )
                await connection.copy_records_to_table(
                    "data_elements", records=element_rows, columns=ELEMENT_COLUMNS
                )
                await connection.copy_records_to_table(
                    "instance_confirmations",
                    records=confirmation_rows,
                    columns=("instance_internal_id", "stakeholder_id", "confirmed_on"),
                )
            done += len(instance_rows)
            if done % (BATCH * 4) == 0 or done == rows:
                print(f"  {done:>9,} instances  {time.perf_counter() - started:6.1f} s", flush=True)
            mark = time.perf_counter()
        timings["copy (incl. generating rows)"] = time.perf_counter() - started
        await connection.execute("SET session_replication_role = DEFAULT")
        timings["of which generating rows in Python"] = generating
        mark = time.perf_counter()
        await connection.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await connection.execute(index["indexdef"])
        timings[f"create {len(indexes)} secondary indexes"] = time.perf_counter() - mark
        mark = time.perf_counter()
        for table in ("instances", "data_elements", "instance_confirmations"):
            await connection.execute(f"ANALYZE {table}")
        for statement in (
            "SELECT setval(pg_get_serial_sequence('instances', 'internal_id'), (SELECT max(internal_id) FROM instances))",
            "SELECT setval(pg_get_serial_sequence('data_elements', 'internal_id'), "
            "(SELECT max(internal_id) FROM data_elements))",
        ):
            await connection.execute(statement)
        timings["analyze"] = time.perf_counter() - mark
        timings["total"] = time.perf_counter() - started
    finally:
        await connection.close()
    return timings


# --- measuring ----------------------------------------------------------------------------------


@dataclass
class Measured:
    name: str
    params: list[tuple[str, str]]
    walked: int = 0
    walk_seconds: float = 0.0
    first_http: list[float] | None = None
    deep_http: list[float] | None = None
    first_sql: list[float] | None = None
    deep_sql: list[float] | None = None
    matches: bool = True


def _token_of(body: dict[str, Any]) -> str | None:
    link = (body.get("next") or "").strip()
    if not link:
        return None
    values = parse_qs(urlsplit(link).query).get("continuationToken")
    return values[0] if values else None


def compiled(params: list[tuple[str, str]], token: str | None) -> tuple[str, list[Any]]:
    """The endpoint's page statement for these parameters, as PostgreSQL SQL with $n parameters."""
    items = [*params, ("size", "100")] + ([("continuationToken", token)] if token else [])
    query: InstanceQuery = parse_query(items)
    if not query.org and query.app_id:  # the caller rules fill it in for a service owner
        query.org = query.app_id.partition("/")[0]
    return _compile(page_select(query, dialect="postgresql"))


def _compile(statement: Any) -> tuple[str, list[Any]]:
    dialect = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
    result = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = result.construct_params()
    processors = result._bind_processors  # the values the driver would receive
    ordered = []
    for name in result.positiontup:
        value = values[name]
        processor = processors.get(name)
        ordered.append(processor(value) if processor else value)
    return str(result), ordered


async def bare_page(pool: asyncpg.Pool, sql: str, args: list[Any]) -> tuple[float, list[str]]:
    begin = time.perf_counter()
    async with pool.acquire() as connection:
        rows = await connection.fetch(sql, *args)
        ids = [row["internal_id"] for row in rows]
        if ids:
            element_sql, element_args = _compile(elements_select(ids))
            await connection.fetch(element_sql, *element_args)
    elapsed = time.perf_counter() - begin
    return elapsed, [orjson.loads(row["document"])["id"] for row in rows]


async def measure(base_url: str, db_url: str, cases: list[Measured], args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        token = (await client.get("/api/GetEnterpriseToken", params=OWNER_TOKEN_QUERY)).text
        client.headers["Authorization"] = f"Bearer {token}"
        pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
        try:
            for case in cases:
                print(f"  {case.name}: walking up to {args.walk_pages} pages ...", flush=True)

                async def fetch(
                    continuation: str | None, case: Measured = case
                ) -> tuple[float, dict[str, Any]]:
                    query = [*case.params, ("size", "100")]
                    if continuation:
                        query.append(("continuationToken", continuation))
                    begin = time.perf_counter()
                    response = await client.get("/storage/api/v1/instances", params=query)
                    elapsed = time.perf_counter() - begin
                    if response.status_code != 200:
                        raise SystemExit(f"{case.name}: {response.status_code} {response.text[:500]}")
                    return elapsed, response.json()

                started = time.perf_counter()
                continuation: str | None = None
                deep_token: str | None = None
                page = 1
                _, body = await fetch(None)
                while page < args.walk_pages:
                    next_token = _token_of(body)
                    if next_token is None:
                        break
                    deep_token = next_token
                    _, body = await fetch(next_token)
                    page += 1
                case.walked = page
                case.walk_seconds = time.perf_counter() - started
                continuation = deep_token
                first_sql, first_args = compiled(case.params, None)
                deep_sql, deep_args = compiled(case.params, continuation)
                # Interleave the four measurements so that load from others hits them alike.
                case.first_http, case.deep_http, case.first_sql, case.deep_sql = [], [], [], []
                for _ in range(args.repeats):
                    seconds, first_body = await fetch(None)
                    case.first_http.append(seconds)
                    seconds, deep_body = await fetch(continuation)
                    case.deep_http.append(seconds)
                    seconds, first_ids = await bare_page(pool, first_sql, first_args)
                    case.first_sql.append(seconds)
                    seconds, deep_ids = await bare_page(pool, deep_sql, deep_args)
                    case.deep_sql.append(seconds)
                case.matches = [i["id"] for i in first_body["instances"]] == first_ids and [
                    i["id"] for i in deep_body["instances"]
                ] == deep_ids
                if continuation:
                    cursor = decode_cursor(continuation)
                    print(f"    last page starts after lastChanged {_iso(cursor.last_changed)}")
        finally:
            await pool.close()


# --- reporting ----------------------------------------------------------------------------------


def _ms(values: list[float] | None, q: float) -> float:
    return percentile(values or [], q) * 1000


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="instances to seed")
    parser.add_argument("--walk-pages", type=int, default=1000, help="pages of the keyset walk")
    parser.add_argument("--repeats", type=int, default=30, help="measurements of each page")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 100-page walk, 10 repeats")
    parser.add_argument("--keep-database", action="store_true", help="leave the database for inspection")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.walk_pages, args.repeats = 100_000, 100, 10

    name = f"tinn_bench_query_{os.getpid()}"
    print(f"database {name}: migrating ...", flush=True)
    db_url = create_database(args.postgres, name)
    try:
        make_template(db_url)
        print(f"seeding {args.rows:,} instances ({2 * args.rows:,} data elements) with COPY ...", flush=True)
        timings = asyncio.run(seed(db_url, args.rows))
        low, high = _iso(NOW - YEAR + timedelta(days=30)), _iso(NOW - timedelta(days=30))
        cases = [
            Measured(
                "appId + isComplete + excludeConfirmedBy",
                [("appId", "ttd/soknad"), ("process.isComplete", "true"), ("excludeConfirmedBy", "ttd")],
            ),
            Measured(
                "appId + currentTask + lastChanged range",
                [
                    ("appId", "ttd/soknad"),
                    ("process.currentTask", "Task_1"),
                    ("lastChanged", f"gt:{low}"),
                    ("lastChanged", f"lt:{high}"),
                ],
            ),
            Measured("org + instanceOwner.partyId", [("org", "ttd"), ("instanceOwner.partyId", str(PARTY))]),
        ]
        print("measuring ...", flush=True)
        with tinn_server({"TINN_DATABASE_URL": sa_url(db_url), "TINN_EVENTS_WORKER": "false"}) as server:
            asyncio.run(measure(server.url, db_url, cases, args))
    finally:
        if args.keep_database:
            print(f"kept database {name}")
        else:
            drop_database(args.postgres, name)

    print(
        f"\n=== summary: {args.rows:,} instances, size=100, {args.repeats} sequential requests per page ==="
    )
    print("\nseeding")
    for label, seconds in timings.items():
        print(f"  {label:<40} {seconds:8.1f} s")
    verdicts: list[bool] = []
    print(
        f"\n  {'query':<42} {'page':>6} {'HTTP p50':>9} {'HTTP p99':>9} {'SQL p50':>8} {'SQL p99':>8} "
        f"{'HTTP/SQL':>8}"
    )
    for case in cases:
        for label, http, sql in (
            ("1", case.first_http, case.first_sql),
            (str(case.walked), case.deep_http, case.deep_sql),
        ):
            ratio = _ms(http, 0.5) / _ms(sql, 0.5)
            print(
                f"  {case.name:<42} {label:>6} {_ms(http, 0.5):>7.1f}ms {_ms(http, 0.99):>7.1f}ms "
                f"{_ms(sql, 0.5):>6.1f}ms {_ms(sql, 0.99):>6.1f}ms {ratio:>8.2f}"
            )
    print()
    for case in cases:
        deep = _ms(case.deep_http, 0.5) / _ms(case.first_http, 0.5)
        bare = max(
            _ms(case.first_http, 0.5) / _ms(case.first_sql, 0.5),
            _ms(case.deep_http, 0.5) / _ms(case.deep_sql, 0.5),
        )
        complete = case.walked >= args.walk_pages
        verdicts += [deep <= TARGET_DEEP and complete, bare <= TARGET_BARE, case.matches]
        print(f"  {case.name}")
        print(
            f"    page {case.walked} / page 1 (HTTP p50): {deep:.2f}  (<= {TARGET_DEEP}) "
            f"{_verdict(deep <= TARGET_DEEP and complete)}"
            + ("" if complete else f"  (only {case.walked} pages exist)")
        )
        print(
            f"    endpoint / bare SQL (p50, worse page): {bare:.2f}  (<= {TARGET_BARE}) {_verdict(bare <= TARGET_BARE)}"
        )
        print(
            f"    walk: {case.walked} pages in {case.walk_seconds:.1f} s "
            f"({case.walk_seconds / case.walked * 1000:.1f} ms/page); same ids as bare SQL: {case.matches}"
        )
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
