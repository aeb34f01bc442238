"""`tinn submit` and `tinn receive` against a live Tinn on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.client.conftest import (
    APP,
    ORG,
    PARTY,
    PDF,
    instances_created_since,
    org_tokens,
    soknad_xml,
    unique_amount,
    user_tokens,
)
from tests.client.proxy import DroppingProxy
from tests.conftest import LiveServer
from tinn.cli import app as tinn_cli
from tinn.client import AppClient, AsyncStorageClient, Attachment, EventsClient, Instance, StorageClient
from tinn.client.events import COMPLETED_TYPE
from tinn.events.signing import generate_secret, signature_headers

runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that write to the current folder (the receipt by default) write to tmp_path."""
    monkeypatch.chdir(tmp_path)


def invoke(*args: str) -> tuple[int, Any, str]:
    result = runner.invoke(tinn_cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    try:
        body = json.loads(result.stdout)
    except json.JSONDecodeError:
        body = None
    return result.exit_code, body, result.stdout + result.stderr


def submitted(server: LiveServer, amount: int | None = None, attachment: bytes = PDF) -> Instance:
    """An instance of ttd/soknad at its end, through the SDK."""
    with AppClient(ORG, APP, server.url, user_tokens(server)) as app:
        instance = app.instantiate(
            PARTY,
            data={"soknad": soknad_xml(amount or unique_amount())},
            attachments=[Attachment("attachment", attachment, filename="report.pdf")],
        )
        assert app.next(instance).ended
        return app.get_instance(instance)


def confirmed(server: LiveServer, instance_id: str) -> bool:
    with StorageClient(server.url, org_tokens(server)) as storage:
        return storage.get_instance(instance_id).confirmed_by(ORG)


# -- submit ------------------------------------------------------------------------------------------


def test_submit_to_end_saves_receipt(server: LiveServer, files: tuple[Path, Path], tmp_path: Path) -> None:
    model, report = files
    code, body, output = invoke(
        "submit", "ttd/soknad", "--party", str(PARTY), "--data", str(model), "--attach", str(report),
        "--to-end", "--json", "--url", server.url, "--receipt-dir", str(tmp_path / "receipts"),
    )  # fmt: skip
    assert code == 0, output
    assert body["status"] == "ok" and body["process"] == {"currentTask": None, "ended": True}
    attachment = next(e for e in body["dataElements"] if e["dataType"] == "attachment")
    assert attachment["filename"] == "report.pdf" and attachment["size"] == report.stat().st_size
    receipt = Path(body["receipt"])
    assert receipt.parent == tmp_path / "receipts" and receipt.read_bytes().startswith(b"%PDF")
    assert confirmed(server, body["instanceId"]) is False


def test_submit_invalid_data_prints_issues_and_stops(server: LiveServer, tmp_path: Path) -> None:
    model = tmp_path / "model.xml"
    model.write_bytes(soknad_xml(2_000_000))
    code, _, output = invoke(
        "submit", "ttd/soknad", "--party", str(PARTY), "--data", str(model), "--url", server.url
    )
    assert code == 1
    assert "Validation issues" in output and "belop" in output and "error" in output
    code, body, _ = invoke(
        "submit", "ttd/soknad", "--party", str(PARTY), "--data", str(model), "--url", server.url, "--json"
    )
    assert code == 1 and body["status"] == "invalid"
    assert body["process"]["currentTask"] == "Task_1"
    assert any(issue["field"] == "belop" and issue["severity"] == 1 for issue in body["issues"])


def test_submit_retried_after_dropped_connection_creates_one_instance(
    server: LiveServer, files: tuple[Path, Path]
) -> None:
    model, report = files
    started = datetime.now(UTC)
    with DroppingProxy(server.port, marker=b"POST /ttd/soknad/instances?") as proxy:
        code, body, output = invoke(
            "submit", "ttd/soknad", "--party", str(PARTY), "--data", str(model), "--attach", str(report),
            "--to-end", "--json", "--url", proxy.url,
        )  # fmt: skip
        assert proxy.dropped == 1
    assert code == 0, output
    assert instances_created_since(server, started) == [body["instanceId"]]


def test_submit_as_a_system_user_for_its_customer(server: LiveServer, files: tuple[Path, Path]) -> None:
    model, report = files
    code, body, output = invoke(
        "submit", "ttd/soknad", "--party", "500700", "--data", str(model), "--attach", str(report), "--to-end",
        "--system-user", "d111dbab-d619-4f15-bf29-58fe570a9ae6", "--system-user-org", "950474084",
        "--json", "--url", server.url,
    )  # fmt: skip
    assert code == 0, output
    assert body["instanceId"].startswith("500700/") and body["process"]["ended"] is True


def test_submit_reports_http_errors(server: LiveServer, files: tuple[Path, Path]) -> None:
    model, _ = files
    code, body, _ = invoke(
        "submit",
        "ttd/no-such-app",
        "--party",
        str(PARTY),
        "--data",
        str(model),
        "--url",
        server.url,
        "--json",
    )
    assert code == 2 and body["status"] == "error" and body["httpStatus"] == 404


# -- receive -----------------------------------------------------------------------------------------


def _manifest(folder: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return body


def test_receive_downloads_verifies_and_confirms(server: LiveServer, tmp_path: Path) -> None:
    attachment = PDF + b"%" + b"x" * 100_000
    mine = {submitted(server, attachment=attachment).id for _ in range(3)}
    out = tmp_path / "inbox"
    code, body, output = invoke(
        "receive", "ttd/soknad", "--once", "--json", "--out", str(out), "--url", server.url
    )
    assert code == 0, output
    received = {item["instanceId"]: item for item in body["received"]}
    assert mine <= set(received)
    for instance_id in mine:
        folder = out / instance_id.split("/")[1]
        assert received[instance_id]["folder"] == str(folder)
        assert (folder / "attachment" / "report.pdf").read_bytes() == attachment
        assert json.loads((folder / "instance.json").read_text())["id"] == instance_id
        for item in _manifest(folder)["files"]:
            assert hashlib.sha256((folder / item["path"]).read_bytes()).hexdigest() == item["sha256"]
        assert any(item.get("dataType") == "ref-data-as-pdf" for item in _manifest(folder)["files"])
        assert confirmed(server, instance_id)
    assert list((out / ".partial").iterdir()) == []
    # Confirmed instances are not pending any more.
    code, body, _ = invoke(
        "receive", "ttd/soknad", "--once", "--json", "--out", str(out), "--url", server.url
    )
    assert code == 0 and mine.isdisjoint(item["instanceId"] for item in body["received"])


class Crash(BaseException):
    """The process dying (not an error the receiver could handle)."""


def test_receiver_crash_between_download_and_confirm_delivers_again(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = submitted(server).id
    out = tmp_path / "inbox"
    original = AsyncStorageClient.complete

    async def crash_on_target(self: AsyncStorageClient, instance: Instance | str) -> Instance:
        if (instance.id if isinstance(instance, Instance) else instance) == target:
            raise Crash
        return await original(self, instance)

    monkeypatch.setattr(AsyncStorageClient, "complete", crash_on_target)
    with pytest.raises(Crash):  # the process dies: nothing after the download runs
        runner.invoke(tinn_cli, ["receive", "ttd/soknad", "--once", "--out", str(out), "--url", server.url])
    folder = out / target.split("/")[1]
    assert (folder / "manifest.json").exists()  # downloaded and stored ...
    assert not confirmed(server, target)  # ... but not confirmed: still pending
    monkeypatch.setattr(AsyncStorageClient, "complete", original)

    code, body, output = invoke(
        "receive", "ttd/soknad", "--once", "--json", "--out", str(out), "--url", server.url
    )
    assert code == 0, output
    again = [item for item in body["received"] if item["instanceId"] == target]
    assert len(again) == 1 and again[0]["redelivered"] is True
    assert confirmed(server, target)
    assert [p.name for p in out.iterdir() if p.name.startswith(target.split("/")[1])] == [folder.name]


def _halve(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_receiver_never_confirms_a_broken_download(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = submitted(server).id
    out = tmp_path / "inbox"
    original = AsyncStorageClient.download_instance

    async def truncated(self: AsyncStorageClient, instance: Instance | str, path: Path, **kw: Any) -> str:
        digest = await original(self, instance, path, **kw)
        if instance == target:
            await asyncio.to_thread(_halve, path)
        return digest

    monkeypatch.setattr(AsyncStorageClient, "download_instance", truncated)
    code, body, _ = invoke(
        "receive", "ttd/soknad", "--once", "--json", "--out", str(out), "--url", server.url
    )
    assert code == 1
    assert [item["instanceId"] for item in body["failed"]] == [target]
    assert not (out / target.split("/")[1]).exists()
    assert not confirmed(server, target)
    monkeypatch.setattr(AsyncStorageClient, "download_instance", original)
    code, body, _ = invoke(
        "receive", "ttd/soknad", "--once", "--json", "--out", str(out), "--url", server.url
    )
    assert code == 0 and target in {item["instanceId"] for item in body["received"]}
    assert confirmed(server, target)


def test_receive_webhook_handshake_signature_and_delivery(server: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "inbox"
    code, _, output = invoke("receive", "ttd/soknad", "--once", "--out", str(out), "--url", server.url)
    assert code == 0, output  # nothing pending from earlier tests any more
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}/"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "tinn", "receive", "ttd/soknad", "--webhook", "--listen", f"127.0.0.1:{port}",
            "--max", "1", "--poll-interval", "3600", "--json", "--out", str(out), "--url", server.url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        with EventsClient(server.url, org_tokens(server)) as events:
            for _ in range(300):
                found = [s for s in events.subscriptions() if s["endPoint"] == endpoint]
                if found and found[0]["validated"]:
                    break
                assert process.poll() is None, process.communicate()
                time.sleep(0.1)
            else:
                pytest.fail("the subscription was not validated")
            assert found[0]["typeFilter"] == COMPLETED_TYPE
        import httpx

        forged = json.dumps({"id": "x", "type": COMPLETED_TYPE, "resourceinstance": "1/2"}).encode()
        headers = signature_headers(generate_secret(), "x", forged)
        assert httpx.post(endpoint, content=forged, headers=headers).status_code == 401
        target = submitted(server).id
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    body = json.loads(stdout)
    assert [(item["instanceId"], item["via"]) for item in body["received"]] == [(target, "webhook")]
    assert confirmed(server, target)


def test_a_damaged_folder_is_downloaded_again_before_confirming(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = submitted(server).id
    out = tmp_path / "inbox"
    original = AsyncStorageClient.complete

    async def crash_on_target(self: AsyncStorageClient, instance: Instance | str) -> Instance:
        if (instance.id if isinstance(instance, Instance) else instance) == target:
            raise Crash
        return await original(self, instance)

    monkeypatch.setattr(AsyncStorageClient, "complete", crash_on_target)
    with pytest.raises(Crash):
        runner.invoke(tinn_cli, ["receive", "ttd/soknad", "--once", "--out", str(out), "--url", server.url])
    monkeypatch.setattr(AsyncStorageClient, "complete", original)
    stored = out / target.split("/")[1] / "attachment" / "report.pdf"
    stored.write_bytes(b"bit rot")
    code, body, _ = invoke(
        "receive", "ttd/soknad", "--once", "--json", "--out", str(out), "--url", server.url
    )
    assert code == 0
    again = next(item for item in body["received"] if item["instanceId"] == target)
    assert again["redelivered"] is False  # not trusted: fetched again
    assert stored.read_bytes() == PDF
    assert confirmed(server, target)


def test_webhook_subscription_keeps_its_secret_across_restarts(server: LiveServer, tmp_path: Path) -> None:
    from tinn.client import AsyncEventsClient
    from tinn.client.receiver import subscribe

    endpoint = "https://receiver.example/hook-restart"

    async def run(state: Path) -> tuple[int, str | None]:
        async with AsyncEventsClient(server.url, org_tokens(server)) as events:
            subscription = await subscribe(events, ORG, APP, endpoint, state)
            return subscription.id, subscription.secret

    first = asyncio.run(run(tmp_path / "state"))
    assert first[1] is not None and first[1].startswith("whsec_")
    assert asyncio.run(run(tmp_path / "state")) == first  # identical subscription, secret from disk
    # A receiver that lost its state gets a new subscription (and secret) instead of the old one.
    replaced = asyncio.run(run(tmp_path / "fresh"))
    assert replaced[0] != first[0] and replaced[1] not in (None, first[1])
    with EventsClient(server.url, org_tokens(server)) as events:
        ids = [s["id"] for s in events.subscriptions() if s["endPoint"] == endpoint]
    assert ids == [replaced[0]]


def test_two_receivers_cannot_share_a_folder(server: LiveServer, tmp_path: Path) -> None:
    from tinn.client.receiver import Receiver

    out = tmp_path / "inbox"
    storage = AsyncStorageClient(server.url, org_tokens(server))
    holder = Receiver(storage, ORG, APP, out)
    holder.prepare()
    staged = out / ".partial" / "in-progress"
    staged.mkdir()
    result = runner.invoke(
        tinn_cli, ["receive", "ttd/soknad", "--once", "--out", str(out), "--url", server.url]
    )
    assert result.exit_code == 2 and "another receiver" in result.stderr
    assert staged.exists()  # the other receiver's staging area was left alone
    holder.release()
    asyncio.run(storage.aclose())
    code, _, output = invoke("receive", "ttd/soknad", "--once", "--out", str(out), "--url", server.url)
    assert code == 0, output
    assert not staged.exists()  # a receiver that owns the folder clears what a crash left
