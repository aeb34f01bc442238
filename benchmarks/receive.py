"""`tinn receive` throughput against the raw Storage download rate, measured in the same run.

Starts ``tinn serve`` (SQLite), submits ``--instances`` instances of ``ttd/soknad`` as user 1337,
each with a form and a 100 KB PDF attachment, moves them to the end (a receipt PDF each), then
alternates rounds of

* **raw download**: ``GET /storage/api/v1/instances/{p}/{g}/download`` of every instance,
  ``--concurrency`` at a time, bytes read and thrown away (the baseline: what the server and the
  network can deliver);
* **receive**: ``tinn.client.receiver.Receiver.sweep`` (what ``tinn receive --once`` runs): the
  Storage query, the download to a file, unpacking, size and SHA-256 checks against the
  manifest, fsync, the atomic rename and ``POST .../complete``, ``--concurrency`` at a time.

A receive round confirms what it receives, so the rounds are over fresh instances: each round
gets its own batch. It prints instances per second for both and their ratio.

    .venv/bin/python benchmarks/receive.py [--instances 100] [--rounds 3] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import tinn_server

from tinn.client import AsyncAppClient, AsyncStorageClient, Attachment, Instance, TestIdentityToken
from tinn.client.receiver import Receiver

# Random bytes: the download is a deflated ZIP, and repetitive filler would shrink to nothing.
ATTACHMENT = b"%PDF-1.4\n%" + os.urandom(100 * 1024) + b"\n%%EOF\n"


def model(index: int) -> bytes:
    return (
        f"<Soknad><navn>Benchmark {index}</navn><organisasjonsnummer>912345678</organisasjonsnummer>"
        f"<belop>{1000 + index}</belop></Soknad>"
    ).encode()


async def submit(url: str, count: int, concurrency: int) -> list[Instance]:
    tokens = TestIdentityToken.personal(url, user_id=1337, party_id=501337, pid="01039012345")
    limit = asyncio.Semaphore(concurrency)
    async with AsyncAppClient("ttd", "soknad", url, tokens, timeout=120) as app:

        async def one(index: int) -> Instance:
            async with limit:
                instance = await app.instantiate(
                    501337,
                    data={"soknad": model(index)},
                    attachments=[Attachment("attachment", ATTACHMENT, filename="report.pdf")],
                )
                await app.next(instance)
                return instance

        return await asyncio.gather(*(one(i) for i in range(count)))


def owner(url: str) -> TestIdentityToken:
    return TestIdentityToken.enterprise(url, org="ttd", org_no="405003309")


async def raw_download(url: str, instances: list[Instance], concurrency: int) -> tuple[float, int]:
    limit = asyncio.Semaphore(concurrency)
    total = 0
    tokens = owner(url)
    async with AsyncStorageClient(url, tokens, timeout=120) as storage:
        token = await tokens.atoken(storage.http)
        headers = {"Authorization": f"Bearer {token}"}

        async def one(instance: Instance) -> None:
            nonlocal total
            async with limit:
                path = f"{url}/storage/api/v1/instances/{instance.id}/download"
                async with storage.http.stream("GET", path, headers=headers) as response:
                    response.raise_for_status()
                    async for chunk in response.aiter_raw():
                        total += len(chunk)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in instances))
        return len(instances) / (time.perf_counter() - started), total


async def receive(url: str, out: Path, concurrency: int) -> tuple[float, int]:
    tokens = owner(url)
    async with AsyncStorageClient(url, tokens, timeout=120) as storage:
        await tokens.atoken(storage.http)
        receiver = Receiver(storage, "ttd", "soknad", out, concurrency=concurrency)
        receiver.prepare()
        started = time.perf_counter()
        received = await receiver.sweep()
        elapsed = time.perf_counter() - started
        receiver.release()
        if receiver.failures:
            raise RuntimeError(f"receive failed: {receiver.failures[:3]}")
        return len(received) / elapsed, len(received)


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=100, help="instances per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tinn-receive-bench-"))
    try:
        with tinn_server() as server:
            raw_rates, receive_rates = [], []
            for round_number in range(1, args.rounds + 1):
                batch = asyncio.run(submit(server.url, args.instances, 8))
                raw, size = asyncio.run(raw_download(server.url, batch, args.concurrency))
                rate, count = asyncio.run(receive(server.url, work / f"out-{round_number}", args.concurrency))
                if count != len(batch):
                    raise RuntimeError(f"received {count} of {len(batch)}")
                raw_rates.append(raw)
                receive_rates.append(rate)
                print(
                    f"round {round_number}: raw download {raw:7.1f} inst/s "
                    f"({size / len(batch) / 1024:.0f} KB each)   receive {rate:7.1f} inst/s   "
                    f"ratio {rate / raw:.2f}"
                )
            raw_median = statistics.median(raw_rates)
            receive_median = statistics.median(receive_rates)
            print(
                f"\nmedian: raw Storage download {raw_median:.1f} instances/s, "
                f"tinn receive {receive_median:.1f} instances/s (downloaded, verified, fsynced, confirmed), "
                f"ratio {receive_median / raw_median:.2f}  [{args.instances} instances/round, "
                f"concurrency {args.concurrency}, {os.cpu_count()} CPUs shared with the server]"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
