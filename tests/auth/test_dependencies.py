"""`require_principal` / `optional_principal` over HTTP: token carriers, refusals, the cache, random input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tests.conftest as conftest
from tests.auth.test_tokens import REFUSED, Signer
from tests.conftest import LiveServer, make_settings
from tinn.auth import claims as c
from tinn.auth.dependencies import optional_principal, require_principal
from tinn.auth.principal import Principal
from tinn.clock import FixedClock
from tinn.http.responses import JsonResponse
from tinn.services import Services
from tinn.timeutil import utcnow

probe = APIRouter(prefix="/_test")


def _describe(principal: Principal | None) -> dict[str, Any]:
    if principal is None:
        return {"kind": None}
    return {"kind": principal.kind.value, "userId": principal.user_id, "orgNumber": principal.org_number}


@probe.get("/required")
async def required(principal: Annotated[Principal, Depends(require_principal)]) -> JsonResponse:
    return JsonResponse(_describe(principal))


@probe.get("/optional")
async def optional(principal: Annotated[Principal | None, Depends(optional_principal)]) -> JsonResponse:
    return JsonResponse(_describe(principal))


@probe.get("/both")
async def both(
    first: Annotated[Principal | None, Depends(optional_principal)],
    second: Annotated[Principal, Depends(require_principal)],
) -> JsonResponse:
    return JsonResponse({"same": first is second})


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A Tinn server with probe routes mounted, on a clock the tests move."""

    def create_app_with_probe(*args: Any, **kwargs: Any) -> FastAPI:
        app = original(*args, **kwargs)
        app.include_router(probe)
        return app

    original = conftest.create_app
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conftest, "create_app", create_app_with_probe)
        live = LiveServer(
            make_settings(database_url, tmp_path_factory.mktemp("probe")), FixedClock(utcnow())
        ).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def services(server: LiveServer) -> Services:
    assert server.services is not None
    return server.services


def clock(server: LiveServer) -> FixedClock:
    assert isinstance(server.clock, FixedClock)
    return server.clock


def cookies(values: dict[str, str]) -> dict[str, str]:
    """A Cookie header (httpx deprecates per-request cookies)."""
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in values.items())}


def person_token(server: LiveServer, user_id: int = 1337, **issue: Any) -> str:
    claims = c.person_claims(
        user_id=user_id,
        username=None,
        party_id=500000 + user_id,
        party_uuid=None,
        auth_level=3,
        auth_method="x",
    )
    return services(server).auth.tokens.issue(claims, **issue)


def org_token(server: LiveServer, org_number: str = "950474084") -> str:
    return services(server).auth.tokens.issue(c.organisation_claims(org_number=org_number))


def test_bearer_header(server: LiveServer, http: httpx.Client) -> None:
    response = http.get("/_test/required", headers={"Authorization": f"Bearer {person_token(server)}"})
    assert response.status_code == 200
    assert response.json() == {"kind": "User", "userId": 1337, "orgNumber": None}


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_bearer_scheme_in_any_case(server: LiveServer, http: httpx.Client, scheme: str) -> None:
    response = http.get("/_test/required", headers={"Authorization": f"{scheme} {person_token(server)}"})
    assert response.status_code == 200


@pytest.mark.parametrize("cookie", [".ALTINNTOKEN", "AltinnStudioRuntime"])
def test_cookies(server: LiveServer, http: httpx.Client, cookie: str) -> None:
    response = http.get("/_test/required", headers=cookies({cookie: person_token(server)}))
    assert response.json()["kind"] == "User"


def test_header_wins_over_cookies_and_altinntoken_over_studio_runtime(
    server: LiveServer, http: httpx.Client
) -> None:
    header, altinn, studio = person_token(server, 1), person_token(server, 2), person_token(server, 3)
    both_cookies = {".ALTINNTOKEN": altinn, "AltinnStudioRuntime": studio}
    with_header = {"Authorization": f"Bearer {header}", **cookies(both_cookies)}
    assert http.get("/_test/required", headers=with_header).json()["userId"] == 1
    assert http.get("/_test/required", headers=cookies(both_cookies)).json()["userId"] == 2


def test_no_token_is_401_with_empty_body(http: httpx.Client) -> None:
    response = http.get("/_test/required")
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["www-authenticate"] == "Bearer"


def test_optional_without_token_is_anonymous(http: httpx.Client) -> None:
    assert http.get("/_test/optional").json() == {"kind": None}
    # Another scheme is not a platform token (and, as in Altinn, hides the cookies).
    response = http.get("/_test/optional", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert response.json() == {"kind": None}


def test_optional_with_an_invalid_token_is_401_not_anonymous(server: LiveServer, http: httpx.Client) -> None:
    token = person_token(server)
    response = http.get("/_test/optional", headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert response.status_code == 401
    response = http.get("/_test/optional", headers=cookies({"AltinnStudioRuntime": "garbage"}))
    assert response.status_code == 401


def test_optional_with_a_token(server: LiveServer, http: httpx.Client) -> None:
    response = http.get("/_test/optional", headers={"Authorization": f"Bearer {org_token(server)}"})
    assert response.json() == {"kind": "Org", "userId": None, "orgNumber": "950474084"}


def test_both_dependencies_resolve_once(server: LiveServer, http: httpx.Client) -> None:
    response = http.get("/_test/both", headers={"Authorization": f"Bearer {person_token(server)}"})
    assert response.json() == {"same": True}


def test_signed_token_naming_no_caller_is_401(server: LiveServer, http: httpx.Client) -> None:
    token = services(server).auth.tokens.issue({"pid": "01039012345", "acr": "idporten-loa-substantial"})
    assert http.get("/_test/required", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize("case", [case for case in REFUSED if case != "empty"])
def test_refused_tokens_are_401(server: LiveServer, http: httpx.Client, case: str) -> None:
    token = REFUSED[case](Signer(services(server).auth.tokens, clock(server)))
    for path in ("/_test/required", "/_test/optional"):
        response = http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (case, path)
        assert response.content == b""


def test_cached_token_still_expires(server: LiveServer, http: httpx.Client) -> None:
    authenticator = services(server).auth.authenticator
    token = person_token(server, 42, lifetime=timedelta(seconds=60))
    headers = {"Authorization": f"Bearer {token}"}
    assert http.get("/_test/required", headers=headers).status_code == 200
    cached = len(authenticator)
    assert http.get("/_test/required", headers=headers).status_code == 200
    assert len(authenticator) == cached  # the second request was served from the cache
    clock(server).advance(timedelta(seconds=65))  # past exp, within the skew
    assert http.get("/_test/required", headers=headers).status_code == 200
    clock(server).advance(timedelta(seconds=10))
    assert http.get("/_test/required", headers=headers).status_code == 401


_printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_b64ish = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=60)
_authorization = st.one_of(
    st.text(_printable, max_size=120),
    st.builds(lambda s: f"Bearer {s}", st.text(_printable, max_size=120)),
    st.builds(lambda a, b, c_: f"Bearer {a}.{b}.{c_}", _b64ish, _b64ish, _b64ish),
    st.builds(lambda a, b: f"Bearer eyJhbGciOiJSUzI1NiJ9.{a}.{b}", _b64ish, _b64ish),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_authorization)
def test_random_authorization_headers_are_always_401(http: httpx.Client, value: str) -> None:
    # HTTP drops surrounding whitespace from header values; a client may not send it at all.
    value = value.strip()
    header = {"Authorization": value} if value else {}
    assert http.get("/authentication/api/v1/refresh", headers=header).status_code == 401
    cookie = value.replace(";", "").strip()
    response = http.get("/_test/required", headers=cookies({"AltinnStudioRuntime": cookie}))
    assert response.status_code == 401
