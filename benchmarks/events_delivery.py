"""Webhook delivery from the outbox by ``tinn worker`` processes, against a bare httpx POST loop.

Creates a fresh PostgreSQL database (``tinn db upgrade``), starts ``tinn serve`` without its
in-process worker (``TINN_EVENTS_WORKER=false``) and a receiver: a minimal ASGI app under uvicorn
(uvloop, httptools) in its own process that answers 200 and records when each event id arrived.
The service owner ``ttd`` subscribes to the app events of ``ttd/eventsbench`` (a copy of the bundled
``ttd/soknad`` whose policy lets the org read its app's events; the bundled apps' policies have no
``events`` rule). Then, for 1 and 2 ``tinn worker`` processes (default settings: 64 POSTs in flight,
batches of 200):

* **throughput**: ``--events`` app events (default 5,000) are committed to the outbox in
  transactions of 100 (``tinn.events.outbox.write_outbox``, as a state change writes them, with the
  same NOTIFY); events/s = events / (last arrival - first commit). This includes the fan-out from
  the outbox to deliveries, the claims and the recorded attempts.
* **delay**: one event per transaction at ``--rate`` per second for ``--delay-seconds``; delay =
  arrival at the receiver - end of the commit (one clock: same machine), p50/p99.

The baseline is a bare ``httpx.AsyncClient`` POST loop, with the same 64 requests in flight and the
same JSON bodies, to the same receiver (target: delivery rate >= 0.5 of it).

    .venv/bin/python benchmarks/events_delivery.py [--quick] [--events 5000] [--rate 50]
        [--delay-seconds 5] [--workers 1,2] [--postgres postgresql://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import free_port, percentile, tinn_server

from tinn.events.outbox import write_outbox
from tinn.settings import BUNDLED_APPS_DIR
from tinn.storage.db import Database
from tinn.timeutil import to_iso, utcnow

APP = "eventsbench"
PARTY = 501337
TARGET = 0.5
CONCURRENCY = 64  # TINN_EVENTS_DELIVERY_CONCURRENCY's default
SUBSCRIBER_SCOPES = "altinn:serviceowner/instances.read altinn:events.subscribe"

ORG_READS_EVENTS = """<xacml:Rule RuleId="urn:altinn:resource:app_ttd_eventsbench:ruleid:events" Effect="Permit">
    <xacml:Description>The app owner reads the app's events (benchmark).</xacml:Description>
    <xacml:Target>
      <xacml:AnyOf><xacml:AllOf>
        <xacml:Match MatchId="urn:oasis:names:tc:xacml:3.0:function:string-equal-ignore-case">
          <xacml:AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">ttd</xacml:AttributeValue>
          <xacml:AttributeDesignator AttributeId="urn:altinn:org"
              Category="urn:oasis:names:tc:xacml:1.0:subject-category:access-subject"
              DataType="http://www.w3.org/2001/XMLSchema#string" MustBePresent="false" />
        </xacml:Match>
      </xacml:AllOf></xacml:AnyOf>
      <xacml:AnyOf><xacml:AllOf>
        <xacml:Match MatchId="urn:oasis:names:tc:xacml:1.0:function:string-equal">
          <xacml:AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">eventsbench</xacml:AttributeValue>
          <xacml:AttributeDesignator AttributeId="urn:altinn:app"
              Category="urn:oasis:names:tc:xacml:3.0:attribute-category:resource"
              DataType="http://www.w3.org/2001/XMLSchema#string" MustBePresent="false" />
        </xacml:Match>
        <xacml:Match MatchId="urn:oasis:names:tc:xacml:1.0:function:string-equal">
          <xacml:AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">events</xacml:AttributeValue>
          <xacml:AttributeDesignator AttributeId="urn:altinn:appresource"
              Category="urn:oasis:names:tc:xacml:3.0:attribute-category:resource"
              DataType="http://www.w3.org/2001/XMLSchema#string" MustBePresent="false" />
        </xacml:Match>
      </xacml:AllOf></xacml:AnyOf>
      <xacml:AnyOf><xacml:AllOf>
        <xacml:Match MatchId="urn:oasis:names:tc:xacml:1.0:function:string-equal">
          <xacml:AttributeValue DataType="http://www.w3.org/2001/XMLSchema#string">read</xacml:AttributeValue>
          <xacml:AttributeDesignator AttributeId="urn:oasis:names:tc:xacml:1.0:action:action-id"
              Category="urn:oasis:names:tc:xacml:3.0:attribute-category:action"
              DataType="http://www.w3.org/2001/XMLSchema#string" MustBePresent="false" />
        </xacml:Match>
      </xacml:AllOf></xacml:AnyOf>
    </xacml:Target>
  </xacml:Rule>
"""

RECEIVER_APP = """
import time
import orjson

arrivals = {}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    now = time.time()
    if scope["method"] == "POST" and scope["path"].startswith("/hook"):
        arrivals.setdefault(orjson.loads(body)["id"], now)
        answer = b"ok"
    elif scope["path"] == "/arrivals":
        answer = orjson.dumps(arrivals)
    elif scope["path"] == "/count":
        answer = str(len(arrivals)).encode()
    elif scope["path"] == "/reset":
        arrivals.clear()
        answer = b"ok"
    else:
        answer = b"ok"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})
"""


# --- processes ----------------------------------------------------------------------------------


def event_apps(folder: Path) -> Path:
    target = folder / "ttd" / APP
    shutil.copytree(BUNDLED_APPS_DIR / "ttd" / "soknad", target)
    meta_path = target / "config" / "applicationmetadata.json"
    meta = orjson.loads(meta_path.read_bytes())
    meta["id"] = f"ttd/{APP}"
    meta_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    policy_path = target / "config" / "authorization" / "policy.xml"
    policy = policy_path.read_text().replace("[APP]", APP).replace("app_ttd_soknad", f"app_ttd_{APP}")
    end = policy.rindex("</xacml:Policy>")
    policy_path.write_text(policy[:end] + ORG_READS_EVENTS + policy[end:])
    return folder


@contextlib.contextmanager
def receiver(folder: Path) -> Iterator[str]:
    (folder / "receiver_app.py").write_text(RECEIVER_APP)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "receiver_app:app", "--app-dir", str(folder)]
    command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    command += ["--no-access-log", "--backlog", "4096"]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/count", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def workers(count: int, env: dict[str, str], folder: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = []
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for n in range(count):
            log = folder / f"worker-{n}.log"
            with log.open("wb") as stream:
                process = subprocess.Popen(
                    [sys.executable, "-m", "tinn", "worker"],
                    env={**os.environ, **env, "TINN_LOG_LEVEL": "info", "TINN_DATA_DIR": str(folder)},
                    stdout=stream,
                    stderr=subprocess.STDOUT,
                )
            started.append(process)
            deadline = time.monotonic() + 60
            while "event_worker_started" not in log.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"tinn worker did not start:\n{log.read_text(errors='replace')[-3000:]}"
                    )
                time.sleep(0.1)
        yield started
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def database(server_url: str) -> Iterator[str]:
    name = f"tinn_bench_events_{os.getpid()}_{uuid.uuid4().hex[:6]}"

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


# --- events -------------------------------------------------------------------------------------


def app_event(apps_url: str) -> dict[str, Any]:
    """An app event as the instance flow publishes it."""
    guid = uuid.uuid4()
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"{apps_url}/ttd/{APP}/instances/{PARTY}/{guid}",
        "type": "app.instance.process.completed",
        "subject": f"/party/{PARTY}",
        "time": to_iso(utcnow()),
        "resource": f"urn:altinn:resource:app_ttd_{APP}",
        "resourceinstance": f"{PARTY}/{guid}",
        "alternativesubject": "/person/01039012345",
    }


async def _arrivals(client: httpx.AsyncClient, receiver_url: str) -> dict[str, float]:
    response = await client.get(f"{receiver_url}/arrivals")
    arrivals: dict[str, float] = orjson.loads(response.content)
    return arrivals


async def _wait_for(client: httpx.AsyncClient, receiver_url: str, count: int, limit_seconds: float) -> bool:
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        if int((await client.get(f"{receiver_url}/count")).text) >= count:
            return True
        await asyncio.sleep(0.05)
    return False


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@dataclass
class Run:
    workers: int
    events: int
    delivered: int
    seconds: float
    delays: list[float]
    delay_sent: int
    delay_delivered: int
    cpu_ms_per_event: float

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


async def throughput_and_delay(
    db_url: str,
    apps_url: str,
    receiver_url: str,
    count: int,
    rate: float,
    seconds: float,
    pids: list[int],
) -> Run:
    db = Database(db_url, pool_size=2)
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await client.post(f"{receiver_url}/reset")
            events = [app_event(apps_url) for _ in range(count)]
            cpu_before = cpu_seconds(pids)
            started = time.time()
            for start in range(0, count, 100):
                async with db.write() as conn:
                    await write_outbox(conn, events[start : start + 100])
            complete = await _wait_for(client, receiver_url, count, limit_seconds=max(120.0, count / 20))
            arrivals = await _arrivals(client, receiver_url)
            wanted = {event["id"] for event in events}
            got = [arrivals[i] for i in wanted if i in arrivals]
            elapsed = (max(got) - started) if got and complete else time.time() - started
            cpu_ms = (cpu_seconds(pids) - cpu_before) * 1000 / max(1, len(got))

            await client.post(f"{receiver_url}/reset")
            committed: dict[str, float] = {}
            interval = 1 / rate
            next_at = time.perf_counter()
            stop = next_at + seconds
            while next_at < stop:
                event = app_event(apps_url)
                async with db.write() as conn:
                    await write_outbox(conn, [event])
                committed[event["id"]] = time.time()
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await _wait_for(client, receiver_url, len(committed), limit_seconds=30)
            arrivals = await _arrivals(client, receiver_url)
            delays = [arrivals[i] - t for i, t in committed.items() if i in arrivals]
    finally:
        await db.dispose()
    return Run(len(pids), count, len(got), elapsed, delays, len(committed), len(delays), cpu_ms)


async def bare_loop(receiver_url: str, apps_url: str, count: int) -> tuple[float, float]:
    """POSTs per second of ``CONCURRENCY`` concurrent httpx POSTs of the bodies the worker sends,
    and this process's CPU milliseconds per POST."""
    bodies = [orjson.dumps(app_event(apps_url)) for _ in range(count)]
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await client.post(f"{receiver_url}/reset")
        queue = iter(bodies)

        async def one() -> None:
            for body in queue:
                response = await client.post(
                    f"{receiver_url}/hook/bare", content=body, headers={"Content-Type": "application/json"}
                )
                response.raise_for_status()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
        return count / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / count


def subscribe(server_url: str, receiver_url: str, apps_url: str, env: dict[str, str], folder: Path) -> None:
    with httpx.Client(base_url=server_url, timeout=30) as client:
        token = client.get(
            "/api/GetEnterpriseToken",
            params={"org": "ttd", "orgNo": "405003309", "scopes": SUBSCRIBER_SCOPES},
        ).text
        auth = {"Authorization": f"Bearer {token}"}
        response = client.post(
            "/events/api/v1/subscriptions",
            json={"endPoint": f"{receiver_url}/hook", "sourceFilter": f"{apps_url}/ttd/{APP}"},
            headers=auth,
        )
        if response.status_code != 201:
            raise SystemExit(f"subscription: {response.status_code} {response.text[:500]}")
        subscription = response.json()
        with workers(1, env, folder / "validate"):
            deadline = time.monotonic() + 60
            while not client.get(f"/events/api/v1/subscriptions/{subscription['id']}", headers=auth).json()[
                "validated"
            ]:
                if time.monotonic() > deadline:
                    raise SystemExit("the subscription was not validated in 60 s")
                time.sleep(0.1)


def _ms(values: list[float], q: float) -> str:
    return "n/a" if not values else f"{percentile(values, q) * 1000:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events committed for the throughput run")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second for the delay run")
    parser.add_argument("--delay-seconds", type=float, default=5.0)
    parser.add_argument("--workers", default="1,2", help="worker processes, comma-separated")
    parser.add_argument("--quick", action="store_true", help="1,000 events, 2 s delay run")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.delay_seconds = 1000, 2.0

    folder = Path(tempfile.mkdtemp(prefix="tinn-bench-events-"))
    runs: list[Run] = []
    baselines: list[tuple[float, float]] = []
    try:
        apps = event_apps(folder / "apps")
        with database(args.postgres) as db_url, receiver(folder) as receiver_url:
            env = {
                "TINN_DATABASE_URL": db_url,
                "TINN_APPS": f"{BUNDLED_APPS_DIR}:{apps}",
                "TINN_AUTO_MIGRATE": "false",
            }
            with tinn_server({**env, "TINN_EVENTS_WORKER": "false"}) as server:
                apps_url = server.url
                env["TINN_PUBLIC_URL"] = server.url
                subscribe(server.url, receiver_url, apps_url, env, folder)
                for count in (int(n) for n in args.workers.split(",")):
                    print(f"== {count} worker(s) ...", flush=True)
                    baselines.append(asyncio.run(bare_loop(receiver_url, apps_url, args.events)))
                    with workers(count, env, folder / f"workers-{count}") as processes:
                        run = asyncio.run(
                            throughput_and_delay(
                                db_url,
                                apps_url,
                                receiver_url,
                                args.events,
                                args.rate,
                                args.delay_seconds,
                                [process.pid for process in processes],
                            )
                        )
                    runs.append(run)
                    print(
                        f"   delivered {run.delivered}/{run.events} in {run.seconds:.2f} s "
                        f"= {run.rate:.0f}/s; bare loop {baselines[-1][0]:.0f}/s",
                        flush=True,
                    )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\n=== summary: PostgreSQL, {args.events} events, {CONCURRENCY} in flight ===")
    print(
        f"  {'workers':>7} {'events/s':>9} {'bare httpx/s':>12} {'ratio':>6}  target     "
        f"{'delay p50':>9} {'delay p99':>9} {'CPU/event':>10} {'bare CPU/POST':>13}"
    )
    verdicts = []
    for run, (baseline, bare_cpu) in zip(runs, baselines, strict=True):
        ratio = run.rate / baseline if baseline else 0.0
        ok = ratio >= TARGET and run.delivered == run.events and run.delay_delivered == run.delay_sent
        verdicts.append(ok)
        print(
            f"  {run.workers:>7} {run.rate:>9.0f} {baseline:>12.0f} {ratio:>6.2f}  >= {TARGET} "
            f"{'PASS' if ok else 'MISS'}  {_ms(run.delays, 0.5):>9} {_ms(run.delays, 0.99):>9} "
            f"{run.cpu_ms_per_event:>7.2f} ms {bare_cpu:>10.2f} ms"
            + ("" if run.delivered == run.events else f"  (only {run.delivered} of {run.events} delivered)")
            + (
                ""
                if run.delay_delivered == run.delay_sent
                else f"  (delay run: {run.delay_delivered} of {run.delay_sent} delivered)"
            )
        )
    print(
        f"  delay: one event per transaction at {args.rate:.0f}/s for {args.delay_seconds:.0f} s; CPU/event: "
        "the workers' CPU over the throughput run per event; bare CPU/POST: the httpx loop's own CPU"
    )
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
