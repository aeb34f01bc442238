"""End-user-system load on the bundled app ``ttd/soknad``, against the no-op route in the same run.

For every database (SQLite, PostgreSQL) and number of server processes (``TINN_WORKERS`` 1 and 2) it
starts ``tinn serve`` and loads, one request type at a time with ``--concurrency`` connections:

* ``GET /health/live``: the no-op baseline (no token, no work);
* ``POST /ttd/soknad/instances``: multipart instantiation with a ~2 KB XML model and a 100 KB PDF;
* ``PUT .../data/{soknad element}``: the XML model again, spread over a pool of instances;
* ``GET /ttd/soknad/instances/{party}/{guid}``: the instance, spread over the same pool;

then runs complete flows (instantiate -> PUT data -> ``process/next`` to the end, which renders
the receipt PDF) with ``--concurrency`` clients. It prints requests/s, p50/p99 per request type, the
ratio of each to the no-op (targets: GET instance >= 0.4, instantiate >= 0.15), the server's CPU
time per request (all its processes, from ``/proc``: robust against load from others on the
machine), completed flows/s and p50/p99 per step. ``--rounds`` alternating rounds of every request
type; the median round is reported. The request types use ``wrk`` (Lua script for bodies and rotating paths) when
installed, else httpx; the flows always use httpx, and their no-op ratio is against httpx's no-op.
The client shares the machine's cores with the server: on a 2-core machine the load generator
takes about one of them, so 2 server processes cannot double the rate.

Then, in process, the cost of one receipt (``tinn.process.pdf.render_receipt`` with the input
``tinn.process.receipts`` builds for a ``ttd/soknad`` instance), and a 1 GiB attachment upload and
download: throughput, and the server's peak RSS growth (``VmHWM`` in ``/proc/{pid}/status``, 1
process), against a discard-only streaming baseline. Tinn has no discard route, so the baseline is
a minimal ASGI app (read and drop the body; stream zeros) under the same uvicorn settings (uvloop,
httptools) started in the same run (targets: RSS growth < 100 MiB, throughput >= 0.5 of baseline).

The attachment type of ``ttd/soknad`` allows 10 MB, so the 1 GiB run uses a copy of the app
(``ttd/soknadbench``, ``maxSize`` removed) served next to the bundled apps. If ``process/next`` on
the bundled app answers 500 (a receipt of a form with an ``xsd:decimal`` field failed to render
when this was written), the flows run on that copy with ``belop`` declared integer, and the
summary says so.

    .venv/bin/python benchmarks/end_user_flow.py [--quick] [--duration 3] [--rounds 3] [--concurrency 16]
        [--databases sqlite,postgres] [--workers 1,2] [--big-mib 1024] [--skip-big]
        [--postgres postgresql://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    LoadResult,
    RequestSpec,
    free_port,
    median_result,
    percentile,
    print_results,
    run_load,
    run_wrk_script,
    tinn_server,
    wrk_available,
)

from tinn.appdef.loader import load_app
from tinn.data.formdata import xml_to_data
from tinn.process.pdf import ReceiptInput, ReceiptOwner, render_receipt, text_lookup
from tinn.process.receipts import texts_for
from tinn.settings import BUNDLED_APPS_DIR

PARTY = 501337
TOKEN_QUERY = {"userId": "1337", "partyId": str(PARTY), "pid": "01039012345", "authLvl": "2"}
BENCH_APP = "soknadbench"
TARGET_GET = 0.4
TARGET_INSTANTIATE = 0.15
TARGET_RSS_MIB = 100.0
TARGET_STREAM = 0.5
MIB = 1024 * 1024


# --- payloads -----------------------------------------------------------------------------------


def soknad_xml(size: int = 2048) -> bytes:
    head = (
        '<?xml version="1.0" encoding="utf-8"?>\n<Soknad xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<navn>Sophie Salt</navn><organisasjonsnummer>405003309</organisasjonsnummer><belop>125000</belop>"
        "<kategori>drift</kategori><dato>2026-01-15</dato><beskrivelse>"
    )
    tail = "</beskrivelse></Soknad>"
    filler = "Tilskudd til drift av lokalt kulturhus. " * 60
    return (head + filler[: min(2000, size - len(head) - len(tail))] + tail).encode()


def pdf_bytes(size: int = 100 * 1024) -> bytes:
    head, tail = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", b"\n%%EOF\n"
    return head + b"0" * (size - len(head) - len(tail)) + tail


BOUNDARY = "tinnbench7d1f0c2a"


def multipart_body(xml: bytes, pdf: bytes) -> bytes:
    def part(name: str, filename: str, content_type: str, content: bytes) -> bytes:
        return (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )

    template = json.dumps({"instanceOwner": {"partyId": str(PARTY)}}).encode()
    return (
        part("instance", "instance.json", "application/json", template)
        + part("soknad", "soknad.xml", "application/xml", xml)
        + part("attachment", "vedlegg.pdf", "application/pdf", pdf)
        + f"--{BOUNDARY}--\r\n".encode()
    )


MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


# --- apps ---------------------------------------------------------------------------------------


def bench_apps(folder: Path) -> Path:
    """A copy of ttd/soknad as ttd/soknadbench: no attachment size limit, ``belop`` an integer."""
    target = folder / "ttd" / BENCH_APP
    shutil.copytree(BUNDLED_APPS_DIR / "ttd" / "soknad", target)
    meta_path = target / "config" / "applicationmetadata.json"
    meta = json.loads(meta_path.read_text())
    meta["id"] = f"ttd/{BENCH_APP}"
    for data_type in meta["dataTypes"]:
        if data_type["id"] == "attachment":
            data_type.pop("maxSize", None)
    meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2))
    schema_path = target / "models" / "soknad.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["belop"] = {"type": "integer", "@xsdType": "long"}
    schema_path.write_text(json.dumps(schema, ensure_ascii=False, indent=2))
    xsd_path = target / "models" / "soknad.xsd"
    xsd = xsd_path.read_text()
    xsd_path.write_text(xsd.replace('base="xsd:decimal"', 'base="xsd:long"'))
    return folder


# --- PostgreSQL ---------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """A fresh database (dropped on exit), migrated with ``tinn db upgrade``; yields its asyncpg URL."""
    import asyncpg

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(server_url.rstrip("/") + "/postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = server_url.replace("postgresql://", "postgresql+asyncpg://", 1).rstrip("/") + "/" + name
    try:
        subprocess.run(
            [sys.executable, "-m", "tinn", "db", "upgrade"],
            env={**os.environ, "TINN_DATABASE_URL": url, "TINN_LOG_LEVEL": "warning"},
            check=True,
            capture_output=True,
        )
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- load ---------------------------------------------------------------------------------------


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its child processes (uvicorn's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def log_errors(log: Path) -> tuple[int, str]:
    """Error lines and tracebacks in the server log, and the first of them in one line."""
    count, first, in_traceback = 0, "", False
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("Traceback"):
            in_traceback = True
        elif in_traceback and line and not line.startswith(" "):
            in_traceback = False
            count += 1
            first = first or line
        elif "[error" in line:
            count += 1
            first = first or " ".join(line.split())
    return count, first[:240]


@dataclass
class FlowResult:
    flows: int = 0
    seconds: float = 0.0
    steps: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.flows / self.seconds if self.seconds else 0.0

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.steps.values())


async def _flows(
    url: str, app: str, token: str, body: bytes, xml: bytes, clients: int, duration: float, once: bool = False
) -> FlowResult:
    result = FlowResult(steps={"instantiate": [], "put data": [], "process/next": []})
    result.errors = dict.fromkeys(result.steps, 0)
    auth = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    stop = started + duration

    async def step(client: httpx.AsyncClient, name: str, method: str, path: str, **kwargs: Any) -> Any:
        begin = time.perf_counter()
        response = await client.request(method, path, **kwargs)
        result.steps[name].append(time.perf_counter() - begin)
        if response.status_code not in (200, 201):
            result.errors[name] += 1
            result.first_error = result.first_error or f"{name}: {response.status_code} {response.text[:300]}"
            return None
        return response.json()

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=auth) as client:
            while time.perf_counter() < stop or (once and not result.requests):
                instance = await step(
                    client,
                    "instantiate",
                    "POST",
                    f"/ttd/{app}/instances",
                    content=body,
                    headers={"Content-Type": MULTIPART_TYPE},
                )
                if instance is None:
                    continue
                element = next(d["id"] for d in instance["data"] if d["dataType"] == "soknad")
                base = f"/ttd/{app}/instances/{instance['id']}"
                put = await step(
                    client,
                    "put data",
                    "PUT",
                    f"{base}/data/{element}",
                    content=xml,
                    headers={"Content-Type": "application/xml"},
                )
                if put is None:
                    continue
                state = await step(client, "process/next", "PUT", f"{base}/process/next")
                if state is not None and state.get("ended"):
                    result.flows += 1

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


def _create_pool(url: str, app: str, token: str, body: bytes, count: int) -> list[tuple[str, str]]:
    """``count`` instances: (instance path, soknad element id)."""
    pool = []
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(count):
            response = client.post(
                f"/ttd/{app}/instances", content=body, headers={"Content-Type": MULTIPART_TYPE}
            )
            if response.status_code != 201:
                raise SystemExit(f"instantiation answered {response.status_code}: {response.text[:500]}")
            instance = response.json()
            element = next(d["id"] for d in instance["data"] if d["dataType"] == "soknad")
            pool.append((f"/ttd/{app}/instances/{instance['id']}", element))
    return pool


def _flow_works(url: str, app: str, token: str, body: bytes, xml: bytes) -> tuple[bool, str]:
    result = asyncio.run(_flows(url, app, token, body, xml, 1, 0.0, once=True))
    return result.flows == 1, result.first_error


@dataclass
class ConfigResult:
    label: str
    loads: list[LoadResult]
    noop_httpx: LoadResult
    flows: FlowResult
    cpu_ms: dict[str, float]  # server CPU per request (per flow for "flows")
    log_errors: tuple[int, str]


def run_config(
    label: str, env: dict[str, str], args: argparse.Namespace, flow_app: str, xml: bytes, body: bytes
) -> ConfigResult:
    print(f"\n== {label}: loading ...", flush=True)
    with tinn_server(env) as server:
        with httpx.Client(base_url=server.url) as client:
            token = client.get("/api/GetPersonalToken", params=TOKEN_QUERY).text
        auth = {"Authorization": f"Bearer {token}"}
        pool = _create_pool(server.url, "soknad", token, body, args.pool)
        use_wrk = args.tool == "wrk" or (args.tool == "auto" and wrk_available())

        def load(
            name: str,
            method: str,
            paths: list[str],
            headers: dict[str, str],
            payload: bytes | None,
            duration: float = args.duration,
        ) -> LoadResult:
            if use_wrk:
                return run_wrk_script(
                    server.url,
                    method,
                    paths,
                    name=name,
                    headers=headers,
                    body=payload,
                    concurrency=args.concurrency,
                    duration=duration,
                )
            turn = iter(range(10**12))

            def factory() -> RequestSpec:
                return RequestSpec(method, paths[next(turn) % len(paths)], headers, payload)

            return run_load(
                server.url,
                factory,
                name=name,
                concurrency=args.concurrency,
                duration=duration,
                ok=(200, 201),
                tool="httpx",
            )

        instance_paths = [path for path, _ in pool]
        data_paths = [f"{path}/data/{element}" for path, element in pool]
        specs: list[tuple[str, str, list[str], dict[str, str], bytes | None]] = [
            ("no-op GET /health/live", "GET", ["/health/live"], {}, None),
            (
                "POST instances (multipart)",
                "POST",
                ["/ttd/soknad/instances"],
                {**auth, "Content-Type": MULTIPART_TYPE},
                body,
            ),
            ("PUT data (XML model)", "PUT", data_paths, {**auth, "Content-Type": "application/xml"}, xml),
            ("GET instance", "GET", instance_paths, auth, None),
        ]
        if args.warmup:
            for spec in specs:
                load(*spec, duration=1.0)
        pid = server.process.pid
        rounds: dict[str, list[LoadResult]] = {spec[0]: [] for spec in specs}
        cpu: dict[str, float] = dict.fromkeys(rounds, 0.0)
        for _ in range(args.rounds):  # alternating, so that load from others hits every type alike
            for spec in specs:
                before = tree_cpu_seconds(pid)
                rounds[spec[0]].append(load(*spec))
                cpu[spec[0]] += tree_cpu_seconds(pid) - before
        loads = [median_result(results) for results in rounds.values()]
        cpu_ms = {name: cpu[name] * 1000 / max(1, sum(r.requests for r in rounds[name])) for name in rounds}
        noop_httpx = run_load(
            server.url,
            RequestSpec("GET", "/health/live"),
            name="no-op GET /health/live",
            concurrency=args.concurrency,
            duration=args.duration,
            tool="httpx",
        )
        before = tree_cpu_seconds(pid)
        flows = asyncio.run(
            _flows(server.url, flow_app, token, body, xml, args.concurrency, args.flow_duration)
        )
        cpu_ms["flows"] = (tree_cpu_seconds(pid) - before) * 1000 / max(1, flows.flows)
        time.sleep(0.5)
        errors = log_errors(server.log)
    return ConfigResult(label, loads, noop_httpx, flows, cpu_ms, errors)


# --- receipts in process ------------------------------------------------------------------------


def receipt_cost(xml: bytes, seconds: float) -> tuple[float, int, str]:
    """Seconds per receipt of a ttd/soknad instance, the PDF's size, and a note."""
    definition = load_app(BUNDLED_APPS_DIR / "ttd" / "soknad", "ttd", "soknad")
    model = definition.form_model("soknad")
    assert model is not None
    data = xml_to_data(model, xml)
    note = ""
    layout_set = definition.layout_set_for_task("Task_1")

    def receipt(form: dict[str, Any]) -> ReceiptInput:
        return ReceiptInput(
            app_title=definition.title("nb"),
            org="Testdepartementet",
            app_id=definition.id,
            instance_id=f"{PARTY}/{uuid.uuid4()}",
            owner=ReceiptOwner(
                name="Sophie Salt", national_identity_number="01039012345", party_id=str(PARTY)
            ),
            task_id="Task_1",
            task_name="Utfylling",
            timestamp=datetime.now(UTC),
            texts=text_lookup(texts_for(definition, "nb"), texts_for(definition, "nb")),
            layouts=dict(layout_set.layouts) if layout_set else {},
            layout_settings=layout_set.settings if layout_set else None,
            data_models={"soknad": form},
            default_data_type=layout_set.data_type if layout_set else None,
            options={
                key: [{"value": o.value, "label": o.label} for o in options.options]
                for key, options in definition.options.items()
            },
        )

    try:
        render_receipt(receipt(data))
    except TypeError as exc:
        note = f"the form as parsed fails to render ({exc}); timed with belop as int"
        data = {key: int(value) if isinstance(value, Decimal) else value for key, value in data.items()}
    size = len(render_receipt(receipt(data)))
    count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or count < 3:
        render_receipt(receipt(data))
        count += 1
    return elapsed / count, size, note


# --- 1 GiB streaming ----------------------------------------------------------------------------

DISCARD_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["method"] == "GET":
        size = int(dict(p.split("=") for p in scope["query_string"].decode().split("&") if p)["size"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"),
                                (b"content-length", str(size).encode())]})
        chunk = b"\\0" * (1 << 20)
        while size > 0:
            piece = chunk[: min(size, len(chunk))]
            size -= len(piece)
            await send({"type": "http.response.body", "body": piece, "more_body": size > 0})
        return
    total = 0
    more = True
    while more:
        message = await receive()
        total += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(total).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""


@contextlib.contextmanager
def discard_server(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    (folder / "discard_app.py").write_text(DISCARD_APP)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "discard_app:app", "--app-dir", str(folder)]
    command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/?size=1", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(10)


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _chunks(total: int) -> Iterator[bytes]:
    chunk = pdf_bytes(MIB)[: MIB - 16] + b"\0" * 16
    first = True
    sent = 0
    while sent < total:
        piece = chunk[: min(MIB, total - sent)]
        if first:
            piece = b"%PDF-1.4\n" + piece[9:]
            first = False
        sent += len(piece)
        yield piece


@dataclass
class Stream:
    name: str
    seconds: float
    size: int
    rss_growth_kib: int

    @property
    def mib_s(self) -> float:
        return self.size / MIB / self.seconds


def _upload(
    client: httpx.Client, url: str, size: int, headers: dict[str, str]
) -> tuple[float, httpx.Response]:
    begin = time.perf_counter()
    response = client.post(url, content=_chunks(size), headers={**headers, "Content-Length": str(size)})
    return time.perf_counter() - begin, response


def _download(client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[float, int]:
    begin = time.perf_counter()
    total = 0
    with client.stream("GET", url, headers=headers) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(MIB):
            total += len(chunk)
    return time.perf_counter() - begin, total


def big_file(env: dict[str, str], folder: Path, size: int) -> list[Stream]:
    results = []
    with discard_server(folder) as (discard_url, discard), httpx.Client(timeout=600) as client:
        pid = discard.pid
        before = status_kib(pid, "VmHWM")
        seconds, response = _upload(client, discard_url + "/", size, {"Content-Type": "application/pdf"})
        if response.text != str(size):
            raise SystemExit(f"discard app read {response.text} bytes of {size}")
        results.append(
            Stream("baseline upload (discard app)", seconds, size, status_kib(pid, "VmHWM") - before)
        )
        before = status_kib(pid, "VmHWM")
        seconds, total = _download(client, f"{discard_url}/?size={size}", {})
        results.append(
            Stream("baseline download (discard app)", seconds, total, status_kib(pid, "VmHWM") - before)
        )
    with tinn_server(env) as server, httpx.Client(base_url=server.url, timeout=600) as client:
        token = client.get("/api/GetPersonalToken", params=TOKEN_QUERY).text
        auth = {"Authorization": f"Bearer {token}"}
        response = client.post(
            f"/ttd/{BENCH_APP}/instances", params={"instanceOwnerPartyId": PARTY}, headers=auth
        )
        response.raise_for_status()
        base = f"/ttd/{BENCH_APP}/instances/{response.json()['id']}"
        # Warm the upload and download paths with 8 MiB before reading the baseline peak.
        small = {
            **auth,
            "Content-Type": "application/pdf",
            "Content-Disposition": "attachment; filename=warm.pdf",
        }
        _, warm = _upload(client, f"{base}/data?dataType=attachment", 8 * MIB, small)
        warm.raise_for_status()
        _download(client, f"{base}/data/{warm.json()['id']}", auth)
        pid = server.process.pid
        before = status_kib(pid, "VmHWM")
        headers = {
            **auth,
            "Content-Type": "application/pdf",
            "Content-Disposition": "attachment; filename=big.pdf",
        }
        seconds, response = _upload(client, f"{base}/data?dataType=attachment", size, headers)
        if response.status_code != 201:
            raise SystemExit(f"upload answered {response.status_code}: {response.text[:500]}")
        element = response.json()
        if element["size"] != size:
            raise SystemExit(f"stored {element['size']} bytes of {size}")
        results.append(
            Stream("Tinn upload (POST data, attachment)", seconds, size, status_kib(pid, "VmHWM") - before)
        )
        before = status_kib(pid, "VmHWM")
        seconds, total = _download(client, f"{base}/data/{element['id']}", auth)
        if total != size:
            raise SystemExit(f"downloaded {total} bytes of {size}")
        results.append(Stream("Tinn download (GET data)", seconds, total, status_kib(pid, "VmHWM") - before))
    return results


# --- reporting ----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.1f} ms"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="SQLite, 1 process, 2 s rounds, 64 MiB file")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per request type and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    parser.add_argument(
        "--flow-duration", type=float, default=None, help="seconds of flows (default: duration)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent connections / clients")
    parser.add_argument("--pool", type=int, default=192, help="instances the PUT and GET loads spread over")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--workers", default="1,2", help="server processes, comma-separated")
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false")
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the big attachment")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--receipt-seconds", type=float, default=3.0)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.databases, args.workers, args.big_mib, args.rounds = 2.0, "sqlite", "1", 64, 1
        args.receipt_seconds, args.warmup = 1.0, False
    args.flow_duration = args.flow_duration or 2 * args.duration
    xml = soknad_xml()
    body = multipart_body(xml, pdf_bytes())
    print(f"payloads: model {len(xml)} B XML, attachment {len(pdf_bytes())} B PDF, multipart {len(body)} B")

    folder = Path(tempfile.mkdtemp(prefix="tinn-bench-apps-"))
    try:
        apps = bench_apps(folder / "apps")
        base_env = {"TINN_APPS": f"{BUNDLED_APPS_DIR}:{apps}"}
        with tinn_server(base_env) as server:
            token = httpx.get(f"{server.url}/api/GetPersonalToken", params=TOKEN_QUERY).text
            works, error = _flow_works(server.url, "soknad", token, body, xml)
        flow_app = "soknad" if works else BENCH_APP
        flow_note = ""
        if not works:
            flow_note = f"ttd/soknad flow failed ({(error.splitlines() or ['no flow'])[0][:160]}); flows run on ttd/{BENCH_APP}"
            print(f"NOTE: {flow_note}")

        configs: list[ConfigResult] = []
        for database in args.databases.split(","):
            for workers in args.workers.split(","):
                env = {**base_env, "TINN_WORKERS": workers}
                label = f"{database}, {workers} process(es)"
                if database == "postgres":
                    with postgres_database(args.postgres, "tinn_bench_flow") as url:
                        env["TINN_DATABASE_URL"] = url
                        configs.append(run_config(label, env, args, flow_app, xml, body))
                else:
                    configs.append(run_config(label, env, args, flow_app, xml, body))
                print_results([*configs[-1].loads, configs[-1].noop_httpx])

        per_receipt, receipt_size, receipt_note = receipt_cost(xml, args.receipt_seconds)
        streams = [] if args.skip_big else big_file(base_env, folder, args.big_mib * MIB)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print("\n=== summary (concurrency", args.concurrency, "; tool", configs[0].loads[0].tool, ") ===")
    verdicts: list[bool] = []
    for config in configs:
        noop, instantiate, put, get = config.loads
        print(f"\n{config.label}")
        print(
            f"  {'request':<28} {'req/s':>8} {'p50':>9} {'p99':>9} {'errors':>6} {'CPU/req':>9} {'/no-op':>7}  target"
        )
        for result, target in (
            (noop, None),
            (instantiate, TARGET_INSTANTIATE),
            (put, None),
            (get, TARGET_GET),
        ):
            ratio = result.rps / noop.rps if noop.rps else 0.0
            mark = ""
            if target is not None:
                ok = ratio >= target and not result.errors
                verdicts.append(ok)
                mark = f">= {target}  {_verdict(ok)}"
            print(
                f"  {result.name:<28} {result.rps:>8.0f} {_ms(result.latency(0.5)):>9} "
                f"{_ms(result.latency(0.99)):>9} {result.errors:>6} {config.cpu_ms[result.name]:>6.2f} ms "
                f"{ratio:>7.3f}  {mark}"
            )
        flows = config.flows
        ratio = flows.requests / flows.seconds / config.noop_httpx.rps if config.noop_httpx.rps else 0.0
        print(
            f"  flows ({flow_app}): {flows.rate:.1f} completed/s ({flows.flows} in {flows.seconds:.1f} s), "
            f"{flows.requests / flows.seconds:.0f} req/s = {ratio:.3f} of httpx no-op "
            f"({config.noop_httpx.rps:.0f} req/s)"
        )
        for step, values in flows.steps.items():
            print(
                f"    {step:<14} p50 {_ms(percentile(values, 0.5)):>9}  p99 {_ms(percentile(values, 0.99)):>9}"
                f"  errors {flows.errors[step]}"
            )
        print(f"    server CPU per completed flow: {config.cpu_ms['flows']:.1f} ms")
        if flows.first_error:
            print(f"    first error: {flows.first_error[:200]}")
        if config.log_errors[0]:
            print(f"  server log: {config.log_errors[0]} errors; last: {config.log_errors[1]}")
        verdicts.append(flows.flows > 0 and not any(flows.errors.values()))
    if flow_note:
        print(f"\nNOTE: {flow_note}")
    print(f"\nreceipt PDF in process: {per_receipt * 1000:.1f} ms per receipt ({receipt_size} B, one core)")
    if receipt_note:
        print(f"  NOTE: {receipt_note}")
    if streams:
        print(f"\n{args.big_mib} MiB attachment (SQLite, 1 process, local blobs in the data folder)")
        print(f"  {'':<36} {'MiB/s':>8} {'seconds':>8} {'peak RSS growth':>16}")
        for stream in streams:
            print(
                f"  {stream.name:<36} {stream.mib_s:>8.0f} {stream.seconds:>8.2f} "
                f"{stream.rss_growth_kib / 1024:>12.1f} MiB"
            )
        base_up, base_down, up, down = streams
        for tinn_stream, baseline in ((up, base_up), (down, base_down)):
            ratio = tinn_stream.mib_s / baseline.mib_s
            rss_ok = tinn_stream.rss_growth_kib / 1024 < TARGET_RSS_MIB
            verdicts += [ratio >= TARGET_STREAM, rss_ok]
            print(
                f"  {tinn_stream.name}: {ratio:.2f} of baseline (>= {TARGET_STREAM} "
                f"{_verdict(ratio >= TARGET_STREAM)}), RSS growth "
                f"{tinn_stream.rss_growth_kib / 1024:.1f} MiB (< {TARGET_RSS_MIB:.0f} {_verdict(rss_ok)})"
            )
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
