"""Two parallel PUTs of one data element: never a 500, and with If-Match never two winners."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer
from tests.data import factories as f


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from f.start_data_server(database_url, tmp_path_factory)


@pytest.fixture
def api(server: LiveServer) -> Iterator[f.Api]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield f.create_instance(client, f.user_token(client))


def race(
    server: LiveServer, api: f.Api, bodies: list[dict[str, str]], etag: str | None
) -> list[httpx.Response]:
    element_id = api.model_id()
    barrier = threading.Barrier(len(bodies))
    responses: list[httpx.Response] = []

    def put(body: dict[str, str]) -> None:
        headers = {**api.headers, **({"If-Match": etag} if etag else {})}
        with httpx.Client(base_url=server.url, timeout=60) as http:
            barrier.wait()
            responses.append(http.put(f"{api.base}/data/{element_id}", json=body, headers=headers))

    threads = [threading.Thread(target=put, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


@pytest.mark.parametrize("round_", range(5))
def test_parallel_puts_with_the_same_if_match_have_one_winner(
    server: LiveServer, api: f.Api, round_: int
) -> None:
    etag = api.get_data(api.model_id()).headers["ETag"]
    bodies = [{"name": f"first-{round_}"}, {"name": f"second-{round_}"}]
    responses = race(server, api, bodies, etag)
    statuses = sorted(r.status_code for r in responses)
    assert all(s < 500 for s in statuses), [r.text for r in responses]
    winners = [r for r in responses if r.status_code < 300]
    assert len(winners) == 1, statuses
    # 412 when the winner committed before the loser's If-Match check, 409 when they overlapped.
    [loser] = [s for s in statuses if s >= 300]
    assert loser in (409, 412)
    stored = api.form(api.model_id())["name"]
    assert stored in {b["name"] for b in bodies}


@pytest.mark.parametrize("round_", range(5))
def test_parallel_puts_without_if_match_are_serialised(server: LiveServer, api: f.Api, round_: int) -> None:
    bodies = [{"name": f"a-{round_}"}, {"name": f"b-{round_}"}]
    responses = race(server, api, bodies, None)
    assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
    assert any(r.status_code < 300 for r in responses)
    # Whatever won last is stored whole: one body, never a mix.
    assert api.form(api.model_id())["name"] in {b["name"] for b in bodies}
