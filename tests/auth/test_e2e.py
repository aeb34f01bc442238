"""Each kind of caller end to end: mint at the test identity provider → exchange for a platform token →
call protected endpoints (Register, the App API's party helpers, a policy decision) → the decision the
app's policy gives, both over HTTP and from ``Authorizer.decide`` on the server's own services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest

from tests.auth.test_exchange import (
    exchange,
    exchanged,
    idporten,
    maskinporten,
    system_user_details,
)
from tests.auth.test_tokens import REFUSED, Signer, foreign_key
from tests.conftest import LiveServer, make_settings
from tinn.auth.pdp import ResourceRef
from tinn.auth.principal import Principal, PrincipalKind
from tinn.auth.xacml import Enforcement
from tinn.services import Services

BASIC = ("ttd", "basic")
RESTRICTED = ("tdd", "contributer-restriction")
LEVEL_2 = {"RequiredAuthenticationLevel": "2"}


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = make_settings(database_url, tmp_path_factory.mktemp("e2e"), benchmark_routes=True)
    live = LiveServer(settings).start()
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


def principal_of(server: LiveServer, token: str) -> Principal:
    """The caller as the server's own authenticator sees the token."""
    return server.run(services(server).auth.authenticator.authenticate(token))


def decide(server: LiveServer, principal: Principal, action: str, resource: ResourceRef) -> Enforcement:
    async def on_server() -> Enforcement:
        return services(server).authorizer.decide(principal, action, resource)

    return server.run(on_server())


# Minting: the test identity provider, then the real exchange ------------------------------------


def _person(http: httpx.Client, server: LiveServer) -> str:
    return exchanged(http, "id-porten", idporten(http, scope="altinn:instances.read altinn:instances.write"))


def _person_level_1(http: httpx.Client, server: LiveServer) -> str:
    return exchanged(http, "id-porten", idporten(http, acr="Level1"))


def _service_owner(http: httpx.Client, server: LiveServer) -> str:
    scope = "altinn:serviceowner/instances.read"
    return exchanged(http, "maskinporten", maskinporten(http, server, scope, consumer_org="405003309"))


def _other_service_owner(http: httpx.Client, server: LiveServer) -> str:
    scope = "altinn:serviceowner/instances.read"
    return exchanged(http, "maskinporten", maskinporten(http, server, scope, consumer_org="974761076"))


def _organisation(http: httpx.Client, server: LiveServer) -> str:
    scope = "altinn:instances.read"
    return exchanged(http, "maskinporten", maskinporten(http, server, scope, consumer_org="950474084"))


def _system_user(http: httpx.Client, server: LiveServer) -> str:
    external = maskinporten(
        http, server, "altinn:instances.read", authorization_details=system_user_details()
    )
    return exchanged(http, "maskinporten", external)


def _self_identified(http: httpx.Client, server: LiveServer) -> str:
    # There is no exchange for self-identified users: Altinn's portal issues their tokens directly.
    response = http.get("/api/GetSelfIdentifiedUserToken", params={"username": "SelvRegistrert"})
    assert response.status_code == 200
    return response.text


@dataclass
class Case:
    mint: Callable[[httpx.Client, LiveServer], str]
    kind: PrincipalKind
    level: int
    current_party: int
    # (action, app, party, task) -> (authorized, failed obligations)
    decisions: dict[tuple[str, tuple[str, str], int, str | None], tuple[bool, dict[str, str]]]
    # (method, path) -> status
    calls: dict[tuple[str, str], int] = field(default_factory=dict)


CASES = {
    "person": Case(
        _person,
        PrincipalKind.USER,
        3,
        501337,
        {
            ("instantiate", BASIC, 501337, None): (True, {}),
            ("write", BASIC, 501337, "Task_1"): (True, {}),
            ("instantiate", BASIC, 500000, None): (True, {}),  # DAGL
            ("instantiate", BASIC, 500700, None): (False, {}),  # MEDL, REGNA, UTINN: not enough
            ("complete", BASIC, 501337, None): (False, {}),
            ("instantiate", RESTRICTED, 500700, None): (True, {}),  # REGNA suffices there
        },
        {
            ("GET", "/register/api/v1/parties/500700"): 200,
            ("GET", "/register/api/v1/parties/501000"): 401,
            ("GET", "/profile/api/v1/users/current"): 200,
            ("PUT", "/ttd/basic/api/v1/parties/500000"): 200,
            ("PUT", "/ttd/basic/api/v1/parties/501000"): 400,
            ("GET", "/ttd/basic/api/v1/profile/user"): 200,
        },
    ),
    "person at level 1": Case(
        _person_level_1,
        PrincipalKind.USER,
        1,
        501337,
        {
            ("instantiate", BASIC, 501337, None): (False, LEVEL_2),
            ("read", BASIC, 500000, None): (False, LEVEL_2),
            ("instantiate", BASIC, 500700, None): (False, {}),
        },
    ),
    "service owner": Case(
        _service_owner,
        PrincipalKind.SERVICE_OWNER,
        3,
        500005,
        {
            ("read", BASIC, 500700, None): (True, {}),
            ("complete", BASIC, 510001, None): (True, {}),
            ("instantiate", BASIC, 500700, None): (True, {}),
            ("delete", BASIC, 500700, None): (False, {}),
            ("read", RESTRICTED, 500700, None): (False, {}),  # another owner's app
        },
        {
            ("GET", "/register/api/v1/parties/510001"): 200,
            ("POST", "/ttd/basic/api/v1/parties/validateInstantiation?partyId=1"): 200,
            ("GET", "/ttd/basic/api/v1/profile/user"): 400,
            ("GET", "/profile/api/v1/users/1001"): 200,
        },
    ),
    "unrelated service owner": Case(
        _other_service_owner,
        PrincipalKind.SERVICE_OWNER,
        3,
        500007,
        {("read", BASIC, 500700, None): (False, {}), ("complete", BASIC, 500700, None): (False, {})},
    ),
    "organisation": Case(
        _organisation,
        PrincipalKind.ORG,
        3,
        500700,
        {
            ("read", BASIC, 500700, None): (False, {}),
            ("write", RESTRICTED, 500700, "Task_1"): (False, {}),
        },
        {
            ("GET", "/register/api/v1/parties/500700"): 401,
            ("GET", "/register/api/v1/organizations/950474084"): 200,
            ("PUT", "/ttd/basic/api/v1/parties/500700"): 200,
            ("GET", "/profile/api/v1/users/1337"): 403,
        },
    ),
    "system user": Case(
        _system_user,
        PrincipalKind.SYSTEM_USER,
        3,
        500700,
        {
            ("read", BASIC, 500700, None): (True, {}),
            ("instantiate", BASIC, 500700, None): (True, {}),
            ("sign", BASIC, 500700, None): (True, {}),
            ("complete", BASIC, 500700, None): (False, {}),  # not delegated
            ("read", BASIC, 501000, None): (False, {}),  # not its customer
            ("read", BASIC, 501337, None): (False, {}),
        },
        {
            ("PUT", "/ttd/basic/api/v1/parties/500700"): 200,
            ("PUT", "/ttd/basic/api/v1/parties/501337"): 400,
            ("GET", "/ttd/basic/api/v1/profile/user"): 400,
        },
    ),
    "self-identified user": Case(
        _self_identified,
        PrincipalKind.SELF_IDENTIFIED,
        0,
        510004,
        {("instantiate", BASIC, 510004, None): (False, {}), ("read", BASIC, 510004, None): (False, {})},
        {
            ("GET", "/register/api/v1/parties/510004"): 200,
            ("GET", "/ttd/basic/api/v1/profile/user"): 200,
        },
    ),
}


def _benchmark_path(app: tuple[str, str], party_id: int, action: str, task: str | None) -> str | None:
    # The decision route takes no task: only task-free decisions go over HTTP.
    return None if task else f"/_benchmark/authorize/{app[0]}/{app[1]}/{party_id}?action={action}"


@pytest.mark.parametrize("name", list(CASES))
def test_each_caller_end_to_end(server: LiveServer, http: httpx.Client, name: str) -> None:
    case = CASES[name]
    token = case.mint(http, server)
    headers = {"Authorization": f"Bearer {token}"}

    principal = principal_of(server, token)
    assert principal.kind is case.kind
    assert principal.auth_level == case.level

    current = http.get("/ttd/basic/api/authorization/parties/current", headers=headers)
    assert current.status_code == 200
    assert current.json() == case.current_party
    parties = http.get("/ttd/basic/api/v1/parties", headers=headers)
    assert parties.status_code == 200
    assert case.current_party in [party["partyId"] for party in parties.json()]

    for (method, path), status in case.calls.items():
        assert http.request(method, path, headers=headers).status_code == status, (method, path)

    for (action, app, party_id, task), (authorized, obligations) in case.decisions.items():
        resource = ResourceRef(*app, party_id=party_id, task=task)
        enforcement = decide(server, principal, action, resource)
        assert (enforcement.authorized, dict(enforcement.failed_obligations)) == (authorized, obligations), (
            action,
            app,
            party_id,
        )
        path = _benchmark_path(app, party_id, action, task)
        if path is None:
            continue
        response = http.get(path, headers=headers)
        if authorized:
            assert response.status_code == 200
            assert response.json() == {"authorized": True}
        else:
            # A valid token without the right role: 403, with the failed obligations when there are any.
            assert response.status_code == 403, path
            assert (response.json() if response.content else {}) == obligations


def test_selecting_a_party_moves_the_decision_subject(server: LiveServer, http: httpx.Client) -> None:
    """PUT selects a party; the decision for that party is what the policy says for her roles there."""
    token = _person(http, server)
    headers = {"Authorization": f"Bearer {token}"}
    selected = http.put("/ttd/basic/api/v1/parties/500000", headers=headers)
    assert selected.status_code == 200
    cookie = selected.headers["set-cookie"].split(";", 1)[0]
    current = http.get("/ttd/basic/api/authorization/parties/current", headers={**headers, "Cookie": cookie})
    assert current.json() == 500000
    assert (
        http.get("/_benchmark/authorize/ttd/basic/500000?action=instantiate", headers=headers).status_code
        == 200
    )


# Refused tokens ---------------------------------------------------------------------------------

PROTECTED = [
    "/register/api/v1/parties/501337",
    "/profile/api/v1/users/current",
    "/ttd/basic/api/authorization/parties/current",
    "/_benchmark/authorize/ttd/basic/501337",
]


def _well_beyond_the_skew(signer: Signer, case: str) -> str:
    """This server runs on the real clock and a loaded machine can take seconds over the routes, so
    the two time cases sit a minute past the 10 s skew (the boundary is tested in test_tokens)."""
    now = int(signer.clock.now().timestamp())
    if case == "expired beyond the skew":
        return signer.tokens.sign(signer.claims(exp=now - 70))
    if case == "not yet valid beyond the skew":
        return signer.tokens.sign(signer.claims(nbf=now + 70))
    return REFUSED[case](signer)


@pytest.mark.parametrize("case", [case for case in REFUSED if case != "empty"])
def test_refused_tokens_are_401_on_every_new_route(server: LiveServer, http: httpx.Client, case: str) -> None:
    """Verification itself is tested in test_tokens/test_dependencies; this checks the routes use it."""
    token = _well_beyond_the_skew(Signer(services(server).auth.tokens, services(server).clock), case)
    for path in PROTECTED:
        response = http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (case, path)
        assert response.content == b""


def test_unknown_issuer_is_refused_at_the_exchange_and_at_the_routes(
    server: LiveServer, http: httpx.Client
) -> None:
    now = int(services(server).clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": "https://idporten.unknown.example/",
        "pid": "01039012345",
        "acr": "idporten-loa-high",
        "scope": "altinn:instances.read",
        "iat": now,
        "exp": now + 300,
    }
    forged = jwt.encode(claims, foreign_key(), algorithm="RS256", headers={"kid": "unknown"})
    response = exchange(http, "id-porten", forged)
    assert response.status_code == 401
    for path in PROTECTED:
        assert http.get(path, headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_no_token_is_401(http: httpx.Client) -> None:
    for path in PROTECTED:
        response = http.get(path)
        assert response.status_code == 401
        assert response.content == b""


def test_benchmark_route_is_absent_unless_enabled(live_server: LiveServer, client: httpx.Client) -> None:
    assert not live_server.settings.benchmark_routes
    response = client.get("/_benchmark/authorize/ttd/basic/501337")
    assert response.status_code == 404
    assert response.content == b""


def test_benchmark_route_on_an_unknown_app(server: LiveServer, http: httpx.Client) -> None:
    token = _service_owner(http, server)
    response = http.get("/_benchmark/authorize/ttd/nope/500700", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"
