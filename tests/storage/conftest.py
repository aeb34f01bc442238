"""Blob store fixtures: the local directory, obstore's memory store and Azure Blob on Azurite.

Azurite is installed from npm by ``scripts/install-azurite.sh`` into ``.tinn-cache/azurite`` (or
``$TINN_AZURITE_DIR``) and started once per test session on a free loopback port. When it cannot
be installed or started the Azurite tests are skipped, except with ``CI=true``, where they fail.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import fcntl
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

from tinn.storage.blobs import BlobStore, LocalBlobStore, create_blob_store

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-azurite.sh"
AZURITE_DIR = Path(os.environ.get("TINN_AZURITE_DIR") or REPO / ".tinn-cache" / "azurite")

# Azurite's well-known development account (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER = "tinn-tests"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Azurite:
    port: int
    container: str

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def options(self) -> dict[str, str]:
        """``TINN_BLOB_OPTIONS`` for a store on this Azurite."""
        return {
            "account_name": ACCOUNT,
            "account_key": ACCOUNT_KEY,
            "endpoint": self.endpoint,
            "allow_http": "true",
        }

    def url(self, prefix: str) -> str:
        return f"az://{self.container}/{prefix}"


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Azurite is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"Azurite unavailable: {reason}")


def install_azurite() -> Path:
    if shutil.which("node") is None:
        unavailable("Node.js (`node`) is not on PATH")
    try:
        AZURITE_DIR.mkdir(parents=True, exist_ok=True)
        # Parallel test workers share the cache folder: one installs, the others wait.
        with open(AZURITE_DIR.parent / f"{AZURITE_DIR.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            result = subprocess.run(
                ["bash", str(INSTALL_SCRIPT), str(AZURITE_DIR)],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"installing it into {AZURITE_DIR} failed: {exc}")
    binary = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if result.returncode != 0 or not binary.exists():
        unavailable(f"installing it failed: {(result.stderr or result.stdout).strip()[-2000:]}")
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def shared_key_headers(method: str, path: str, query: dict[str, str]) -> dict[str, str]:
    """Headers that sign a body-less Blob service request with the account key (Shared Key)."""
    headers = {"x-ms-date": email.utils.formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in sorted(headers.items()))
    canonical_resource = f"/{ACCOUNT}{path}" + "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
    string_to_sign = f"{method}\n" + "\n" * 11 + canonical_headers + canonical_resource
    digest = hmac.new(base64.b64decode(ACCOUNT_KEY), string_to_sign.encode(), hashlib.sha256).digest()
    headers["Authorization"] = f"SharedKey {ACCOUNT}:{base64.b64encode(digest).decode()}"
    return headers


def create_container(port: int, name: str) -> None:
    path = f"/{ACCOUNT}/{name}"
    query = {"restype": "container"}
    with httpx.Client(trust_env=False) as client:  # loopback only: never through a proxy
        response = client.put(
            f"http://127.0.0.1:{port}{path}", params=query, headers=shared_key_headers("PUT", path, query)
        )
    if response.status_code not in (201, 409):
        unavailable(f"creating the container failed: {response.status_code} {response.text}")


def wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(trust_env=False, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                unavailable(f"it exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                client.get(f"http://127.0.0.1:{port}/{ACCOUNT}", params={"comp": "list"})
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            return  # any HTTP answer (403 without a signature) means it is up
    unavailable(f"it did not answer within {START_TIMEOUT:g} s: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    binary = install_azurite()
    workspace = tmp_path_factory.mktemp("azurite")
    log = workspace / "azurite.log"
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                str(binary),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--location",
                str(workspace / "data"),
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
                "--disableTelemetry",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_until_listening(process, port, log)
        create_container(port, CONTAINER)
        yield Azurite(port=port, container=CONTAINER)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workspace / "data", ignore_errors=True)  # up to a few GiB after the large test


@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


def make_store(kind: str, request: pytest.FixtureRequest, local_root: Path) -> BlobStore:
    if kind == "local":
        return LocalBlobStore(local_root)
    if kind == "memory":
        return create_blob_store("memory://")
    server: Azurite = request.getfixturevalue("azurite")
    # Each test gets its own prefix in the shared container.
    return create_blob_store(server.url(f"t-{uuid.uuid4().hex}"), server.options)


@pytest.fixture(params=["local", "memory", "azurite"])
async def store(request: pytest.FixtureRequest, local_root: Path) -> AsyncIterator[BlobStore]:
    blobs = make_store(request.param, request, local_root)
    yield blobs
    with contextlib.suppress(Exception):
        await blobs.delete_prefix("")
    await blobs.close()


@pytest.fixture(params=["local", "azurite"])
async def large_store(request: pytest.FixtureRequest, local_root: Path) -> AsyncIterator[BlobStore]:
    """Stores that keep data outside this process, for the 1 GiB memory-bound test."""
    blobs = make_store(request.param, request, local_root)
    yield blobs
    with contextlib.suppress(Exception):
        await blobs.delete_prefix("")
    await blobs.close()
