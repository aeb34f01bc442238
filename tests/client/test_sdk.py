"""The SDK against a live Tinn: App API journey, errors, Storage paging and download, tokens."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import APP, ORG, PARTY, PDF, org_tokens, soknad_xml, unique_amount, user_tokens
from tests.client.proxy import DroppingProxy
from tests.conftest import LiveServer
from tinn.client import (
    AltinnConnectionError,
    AltinnHTTPError,
    AppClient,
    AsyncAppClient,
    AsyncStorageClient,
    Attachment,
    ConflictError,
    ForbiddenError,
    MaskinportenToken,
    NotFoundError,
    RetryPolicy,
    StaticToken,
    StorageClient,
    TokenProvider,
)
from tinn.client.tokens import token_expiry


def test_journey_instantiate_validate_next_receipt(server: LiveServer, tmp_path: Path) -> None:
    amount = unique_amount()
    with AppClient(ORG, APP, server.url, user_tokens(server)) as app:
        instance = app.instantiate(
            PARTY,
            data={"soknad": soknad_xml(amount)},
            attachments=[Attachment("attachment", PDF, filename="report.pdf")],
        )
        assert instance.current_task == "Task_1"
        assert {e.data_type for e in instance.data} == {"soknad", "attachment"}
        assert app.validate(instance) == []
        uploaded = app.upload(instance, Attachment("attachment", PDF, filename="second.pdf"))
        assert uploaded.filename == "second.pdf" and uploaded.size == len(PDF)
        state = app.next(instance)
        assert state.ended
        receipt = app.download_receipt(instance, tmp_path / "receipt.pdf")
        assert receipt.read_bytes().startswith(b"%PDF")


def test_invalid_data_raises_conflict_with_issues(server: LiveServer) -> None:
    with AppClient(ORG, APP, server.url, user_tokens(server)) as app:
        instance = app.instantiate(PARTY, data={"soknad": soknad_xml(2_000_000)})
        issues = app.validate(instance)
        assert any(issue.is_error and issue.field == "belop" for issue in issues)
        with pytest.raises(ConflictError) as caught:
            app.next(instance)
        assert caught.value.status == 409
        assert caught.value.title == "Validation failed for task"
        assert any(issue.field == "belop" for issue in caught.value.issues)
        fixed = app.put_data(instance, instance.elements("soknad")[0].id, soknad_xml(500))
        assert fixed["dataType"] == "soknad"
        assert app.next(instance).ended


def test_put_data_round_trips_xml(server: LiveServer) -> None:
    with AppClient(ORG, APP, server.url, user_tokens(server)) as app:
        instance = app.instantiate(PARTY, data={"soknad": soknad_xml(100)})
        element = instance.elements("soknad")[0].id
        app.put_data(instance, element, soknad_xml(4242, navn="Kari"))
        assert b"<navn>Kari</navn>" in app.get_data(instance, element, accept="application/xml")
        assert b'"navn":"Kari"' in app.get_data(instance, element)


def test_errors_carry_status_and_problem(server: LiveServer) -> None:
    with AppClient(ORG, APP, server.url, user_tokens(server)) as app:
        with pytest.raises(NotFoundError) as missing:
            app.get_instance(f"{PARTY}/00000000-0000-0000-0000-000000000000")
        assert missing.value.status == 404 and missing.value.problem is not None
    with AppClient(ORG, APP, server.url, StaticToken("not-a-token")) as app, pytest.raises(ForbiddenError):
        app.get_instance(f"{PARTY}/00000000-0000-0000-0000-000000000000")


def test_storage_query_follows_continuation_tokens(server: LiveServer) -> None:
    with AppClient(ORG, APP, server.url, user_tokens(server)) as app:
        created = {app.instantiate(PARTY, data={"soknad": soknad_xml(7)}).id for _ in range(5)}
    with StorageClient(server.url, org_tokens(server)) as storage:
        pages = storage.query_page({"appId": f"{ORG}/{APP}"}, size=2)
        assert pages["count"] == 2 and pages["next"]
        seen = [instance.id for instance in storage.query(size=2, appId=f"{ORG}/{APP}")]
    assert created <= set(seen)
    assert len(seen) == len(set(seen))


def test_async_clients_download_and_complete(server: LiveServer, tmp_path: Path) -> None:
    async def run() -> None:
        async with AsyncAppClient(ORG, APP, server.url, user_tokens(server)) as app:
            instance = await app.instantiate(
                PARTY,
                data={"soknad": soknad_xml(unique_amount())},
                attachments=[Attachment("attachment", PDF, filename="a.pdf")],
            )
            assert (await app.next(instance)).ended
        async with AsyncStorageClient(server.url, org_tokens(server)) as storage:
            digest = await storage.download_instance(instance, tmp_path / "i.zip")
            assert len(digest) == 64
            with zipfile.ZipFile(tmp_path / "i.zip") as archive:
                names = set(archive.namelist())
            assert {"instance.json", "manifest.json", "attachment/a.pdf"} <= names
            assert any(name.startswith("ref-data-as-pdf/") for name in names)
            confirmed = await storage.complete(instance)
            assert confirmed.confirmed_by(ORG)

    asyncio.run(run())


def test_token_providers_cache_and_refresh(server: LiveServer) -> None:
    tokens = user_tokens(server)
    tokens.refresh_margin = 0
    with AppClient(ORG, APP, server.url, tokens) as app:
        app.instantiate(PARTY)
        app.instantiate(PARTY)
        assert tokens.fetches == 1
        # A token within the margin of its expiry is fetched again.
        tokens.refresh_margin = 10**9
        app.instantiate(PARTY)
        assert tokens.fetches == 2


def test_maskinporten_grant_then_exchange(server: LiveServer) -> None:
    key = server.settings.data_dir / "testidp" / "default-client-key.pem"
    tokens = MaskinportenToken.tinn_test_client(
        server.url,
        key.resolve(),
        scopes="altinn:serviceowner/instances.read altinn:serviceowner/instances.write",
        consumer_org="405003309",
    )
    with StorageClient(server.url, tokens) as storage:
        page = storage.query_page({"appId": f"{ORG}/{APP}"}, size=1)
    assert page["count"] == 1
    assert tokens._token is not None and token_expiry(tokens._token) is not None


def test_next_after_a_lost_response_reads_the_state_back(server: LiveServer) -> None:
    with DroppingProxy(server.port, marker=b"/process/next") as proxy:
        with AppClient(ORG, APP, proxy.url, user_tokens(server)) as app:
            instance = app.instantiate(PARTY, data={"soknad": soknad_xml(unique_amount())})
            state = app.next(instance)  # the move happened; its answer was lost
        assert proxy.dropped == 1
    assert state.ended
    with AppClient(ORG, APP, server.url, user_tokens(server)) as app:
        assert app.get_instance(instance).process_ended is not None


class FlakyTransport(httpx.HTTPTransport):
    """Answers the first ``failures`` requests to a path containing ``marker`` with 503 itself."""

    def __init__(self, marker: str, failures: int) -> None:
        super().__init__()
        self.marker = marker
        self.failures = failures
        self.seen = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.marker in request.url.path:
            self.seen += 1
            if self.seen <= self.failures:
                request.read()
                return httpx.Response(503, text="try again")
        return super().handle_request(request)


def test_5xx_is_retried_with_the_same_idempotency_key(server: LiveServer) -> None:
    flaky = FlakyTransport("/instances", failures=2)
    policy = RetryPolicy(attempts=3, backoff=0.01)
    with httpx.Client(transport=flaky) as http:
        app = AppClient(ORG, APP, server.url, user_tokens(server), retry=policy, http=http)
        instance = app.instantiate(PARTY, data={"soknad": soknad_xml(1)})
    assert flaky.seen == 3 and instance.current_task == "Task_1"


def test_retries_end_with_the_last_error(server: LiveServer) -> None:
    flaky = FlakyTransport("/instances", failures=10)
    with httpx.Client(transport=flaky) as http:
        app = AppClient(ORG, APP, server.url, user_tokens(server), retry=RetryPolicy(2, 0.01), http=http)
        with pytest.raises(AltinnHTTPError) as caught:
            app.instantiate(PARTY)
    assert caught.value.status == 503 and caught.value.text == "try again" and flaky.seen == 2


def test_connection_errors_are_retried_then_raised(server: LiveServer) -> None:
    tokens = user_tokens(server)
    app = AppClient(ORG, APP, "http://127.0.0.1:9", tokens, retry=RetryPolicy(3, 0.01))
    with app, pytest.raises(AltinnConnectionError):
        app.get_instance(f"{PARTY}/00000000-0000-0000-0000-000000000000")


class OnceRejectedToken(TokenProvider):
    """Hands out a token the server rejects first, then a valid one (a revoked or rotated token)."""

    def __init__(self, real: TokenProvider) -> None:
        super().__init__()
        self.real = real

    def _fetch(self, http: httpx.Client) -> str:
        return "rejected" if self.fetches == 0 else self.real.token(http)

    async def _afetch(self, http: httpx.AsyncClient) -> str:
        return "rejected" if self.fetches == 0 else await self.real.atoken(http)


def test_a_401_fetches_a_fresh_token_once(server: LiveServer) -> None:
    tokens = OnceRejectedToken(user_tokens(server))
    with AppClient(ORG, APP, server.url, tokens) as app:
        instance = app.instantiate(PARTY)
    assert instance.party_id == PARTY and tokens.fetches == 2


def test_async_events_feed_and_subscription_lookup(server: LiveServer) -> None:
    from tinn.client import AsyncEventsClient

    async def run() -> None:
        async with AsyncAppClient(ORG, APP, server.url, user_tokens(server)) as app:
            instance = await app.instantiate(PARTY, data={"soknad": soknad_xml(unique_amount())})
            await app.next(instance)
        async with AsyncEventsClient(server.url, org_tokens(server)) as events:
            mine = [
                event["type"]
                async for event in events.feed(ORG, APP, size=5)
                if event.get("resourceinstance") == instance.id
            ]
            assert mine == [
                "app.instance.created",
                "app.instance.process.movedTo.Task_1",
                "app.instance.process.completed",
            ]
            created = await events.subscribe(
                "https://receiver.example/lookup", resource_filter="urn:altinn:resource:app_ttd_soknad"
            )
            found = await events.get_subscription(created["id"])
            assert found["endPoint"] == "https://receiver.example/lookup" and "secret" not in found
            await events.unsubscribe(created["id"])
            with pytest.raises(NotFoundError):
                await events.get_subscription(created["id"])

    asyncio.run(run())
