"""Token exchange, refresh and OpenID discovery over HTTP, and each principal kind end to end:
mint at the test IdP → exchange → call a protected endpoint → PDP decision."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth.test_tokens import b64url, b64url_json, fresh_database_url, payload_of
from tests.conftest import SHARED_APPS, LiveServer
from tinn.auth.principal import Principal, PrincipalKind
from tinn.auth.testidp import DEFAULT_CLIENT_ID, TestIdentityProvider
from tinn.auth.trusted import JwksKeys, keys_from_jwks
from tinn.auth.xacml import Effect, XacmlRequest, evaluate, parse_policy
from tinn.services import Services

__all__ = ["fresh_database_url"]

PID = "01039012345"
SOPHIE_PARTY_UUID = "e9dd7d91-32d8-4933-a108-07562762d572"
SYSTEM_USER_ID = "d111dbab-d619-4f15-bf29-58fe570a9ae6"
EXCHANGE = "/authentication/api/v1/exchange"
REFRESH = "/authentication/api/v1/refresh"


# Helpers (used by test_testidp too) ----------------------------------------------------------


def services_of(server: LiveServer) -> Services:
    assert server.services is not None
    return server.services


def idp_of(server: LiveServer) -> TestIdentityProvider:
    idp = services_of(server).auth.test_idp
    assert idp is not None
    return idp


def default_client_key(server: LiveServer) -> rsa.RSAPrivateKey:
    path = server.settings.data_dir / "testidp" / "default-client-key.pem"
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def assertion(
    server: LiveServer,
    scope: str,
    *,
    key: Any = None,
    headers: dict[str, Any] | None = None,
    algorithm: str = "RS256",
    lifetime: int = 100,
    **claims: Any,
) -> str:
    now = int(services_of(server).clock.now().timestamp())
    payload: dict[str, Any] = {
        "iss": DEFAULT_CLIENT_ID,
        "aud": idp_of(server).maskinporten_issuer,
        "scope": scope,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key or default_client_key(server), algorithm=algorithm, headers=headers)


def grant(http: httpx.Client, signed_assertion: str) -> httpx.Response:
    return http.post(
        "/authentication/api/v1/testidp/maskinporten/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": signed_assertion},
    )


def maskinporten(http: httpx.Client, server: LiveServer, scope: str, **claims: Any) -> str:
    response = grant(http, assertion(server, scope, **claims))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def idporten(
    http: httpx.Client,
    pid: str = PID,
    acr: str = "idporten-loa-substantial",
    scope: str = "altinn:instances.read",
) -> str:
    response = http.post(
        "/authentication/api/v1/testidp/idporten/token", data={"pid": pid, "acr": acr, "scope": scope}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def exchange(http: httpx.Client, provider: str, token: str | None, **params: Any) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return http.get(f"{EXCHANGE}/{provider}", headers=headers, params=params)


def exchanged(http: httpx.Client, provider: str, token: str, **params: Any) -> str:
    response = exchange(http, provider, token, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def system_user_details(customer: str = "950474084") -> list[dict[str, Any]]:
    return [
        {
            "type": "urn:altinn:systemuser",
            "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": f"0192:{customer}"},
        }
    ]


# ID-porten ---------------------------------------------------------------------------------------


def test_id_porten_exchange_claims(live_server: LiveServer, client: httpx.Client) -> None:
    external = idporten(client, scope="altinn:instances.read altinn:instances.write")
    upstream = payload_of(external)
    claims = payload_of(exchanged(client, "id-porten", external))
    assert claims["nameid"] == claims["urn:altinn:userid"] == "1337"
    assert claims["urn:altinn:username"] == "SophieDDG"
    assert claims["urn:altinn:partyid"] == 501337
    assert claims["urn:altinn:party:uuid"] == SOPHIE_PARTY_UUID
    assert claims["urn:altinn:authenticatemethod"] == "TestID"  # the first amr
    assert claims["urn:altinn:authlevel"] == 3
    for copied in ("pid", "acr", "amr", "scope", "client_id", "client_amr", "jti"):
        assert claims[copied] == upstream[copied], copied
    for dropped in ("sub", "aud", "at_hash"):
        assert dropped not in claims
    assert claims["iss"] == live_server.settings.effective_jwt_issuer
    assert claims["sid"] and claims["sid"] != upstream.get("sid")
    # The platform token lives exactly as long as the ID-porten token.
    assert claims["exp"] == upstream["exp"]
    assert claims["iat"] == claims["nbf"]
    assert Principal.from_claims(claims).kind is PrincipalKind.USER


@pytest.mark.parametrize(
    ("acr", "level", "kind"),
    [
        ("idporten-loa-high", 4, PrincipalKind.USER),
        ("idporten-loa-substantial", 3, PrincipalKind.USER),
        # Level 0 is what the App API reads as a self-identified user (app-lib's rule).
        ("idporten-loa-low", 0, PrincipalKind.SELF_IDENTIFIED),
    ],
)
def test_id_porten_levels(client: httpx.Client, acr: str, level: int, kind: PrincipalKind) -> None:
    claims = payload_of(exchanged(client, "id-porten", idporten(client, acr=acr)))
    assert claims["urn:altinn:authlevel"] == level
    assert Principal.from_claims(claims).kind is kind


def test_id_porten_without_an_altinn_scope_is_403(client: httpx.Client) -> None:
    response = exchange(client, "id-porten", idporten(client, scope="openid profile"))
    assert response.status_code == 403
    assert response.content == b""


@pytest.mark.parametrize("provider", ["ID-PORTEN", "Id-Porten", "id-porten"])
def test_provider_is_case_insensitive(client: httpx.Client, provider: str) -> None:
    assert exchange(client, provider, idporten(client)).status_code == 200


def test_unknown_provider_is_400_with_a_message(client: httpx.Client) -> None:
    response = exchange(client, "oidc", idporten(client))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert "Invalid token provider: oidc" in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer x.y.z"},
    ],
)
def test_missing_or_unreadable_token_is_401_before_the_provider_is_checked(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    for provider in ("id-porten", "maskinporten", "oidc"):
        response = client.get(f"{EXCHANGE}/{provider}", headers=headers)
        assert response.status_code == 401, provider
        assert response.content == b""


def test_platform_token_cannot_be_exchanged(client: httpx.Client) -> None:
    platform = exchanged(client, "id-porten", idporten(client))
    assert exchange(client, "id-porten", platform).status_code == 401
    assert exchange(client, "maskinporten", platform).status_code == 401


def test_id_porten_token_is_not_a_maskinporten_token(client: httpx.Client) -> None:
    assert exchange(client, "maskinporten", idporten(client)).status_code == 401


# Maskinporten ------------------------------------------------------------------------------------


def test_maskinporten_org_exchange_claims(live_server: LiveServer, client: httpx.Client) -> None:
    external = maskinporten(client, live_server, "altinn:instances.read", consumer_org="950474084")
    upstream = payload_of(external)
    claims = payload_of(exchanged(client, "maskinporten", external))
    assert claims["urn:altinn:orgNumber"] == "950474084"
    assert claims["consumer"] == {"authority": "iso6523-actorid-upis", "ID": "0192:950474084"}
    assert "urn:altinn:org" not in claims
    assert claims["urn:altinn:authenticatemethod"] == "maskinporten"
    assert claims["urn:altinn:authlevel"] == 3
    for copied in ("scope", "client_id", "token_type", "jti", "supplier"):
        assert claims[copied] == upstream[copied], copied
    assert "client_amr" not in claims and "aud" not in claims
    assert claims["iss"] == live_server.settings.effective_jwt_issuer
    assert claims["exp"] - claims["iat"] == 30 * 60
    assert Principal.from_claims(claims).kind is PrincipalKind.ORG


@pytest.mark.parametrize(
    ("consumer", "scope", "params", "org"),
    [
        ("405003309", "altinn:serviceowner/instances.read", {}, "ttd"),
        ("991825827", "altinn:serviceowner/instances.read altinn:serviceowner/instances.write", {}, "digdir"),
        ("991825827", "altinn:serviceowner/instances.read", {"test": "true"}, "ttd"),
        ("974761076", "altinn:serviceowner", {"test": "true"}, "skd"),
        # Not a service owner: no urn:altinn:org whatever the scope.
        ("950474084", "altinn:serviceowner/instances.read", {}, None),
        # A service owner without a service-owner scope is an ordinary organisation.
        ("405003309", "altinn:instances.read", {}, None),
    ],
)
def test_service_owner_claim(
    live_server: LiveServer,
    client: httpx.Client,
    consumer: str,
    scope: str,
    params: dict[str, str],
    org: str | None,
) -> None:
    external = maskinporten(client, live_server, scope, consumer_org=consumer)
    claims = payload_of(exchanged(client, "maskinporten", external, **params))
    assert claims.get("urn:altinn:org") == org
    assert claims["urn:altinn:orgNumber"] == consumer
    expected = PrincipalKind.SERVICE_OWNER if org else PrincipalKind.ORG
    assert Principal.from_claims(claims).kind is expected


def test_system_user_exchange(live_server: LiveServer, client: httpx.Client) -> None:
    external = maskinporten(
        client,
        live_server,
        "altinn:instances.read altinn:instances.write",
        authorization_details=system_user_details(),
    )
    claims = payload_of(exchanged(client, "maskinporten", external))
    (details,) = claims["authorization_details"]
    assert details["type"] == "urn:altinn:systemuser"
    assert details["systemuser_id"] == [SYSTEM_USER_ID]
    assert details["systemuser_org"] == {"authority": "iso6523-actorid-upis", "ID": "0192:950474084"}
    assert details["system_id"] == "913312465_sbs"
    # consumer/orgNumber name the vendor, systemuser_org the customer.
    assert claims["urn:altinn:orgNumber"] == "913312465"
    principal = Principal.from_claims(claims)
    assert principal.kind is PrincipalKind.SYSTEM_USER
    assert principal.performed_by == "950474084"


def test_enterprise_user_header_is_410(live_server: LiveServer, client: httpx.Client) -> None:
    external = maskinporten(client, live_server, "altinn:instances.read")
    response = client.get(
        f"{EXCHANGE}/maskinporten",
        headers={
            "Authorization": f"Bearer {external}",
            "X-Altinn-EnterpriseUser-Authentication": "dXNlcjpwdw==",
        },
    )
    assert response.status_code == 410
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 410


# Refresh and discovery ---------------------------------------------------------------------------


def test_refresh_keeps_the_claims_with_new_times(live_server: LiveServer, client: httpx.Client) -> None:
    platform = exchanged(client, "id-porten", idporten(client))
    before = payload_of(platform)
    response = client.get(REFRESH, headers={"Authorization": f"Bearer {platform}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = payload_of(response.text)
    times = {"iat", "nbf", "exp"}
    assert {k: v for k, v in after.items() if k not in times} == {
        k: v for k, v in before.items() if k not in times
    }
    assert after["exp"] - after["iat"] == 30 * 60


def test_refresh_with_cookie_and_enrich_pid(live_server: LiveServer, client: httpx.Client) -> None:
    from tinn.auth import claims as c

    services = services_of(live_server)
    without_pid = services.auth.tokens.issue(
        c.person_claims(
            user_id=1337,
            username="SophieDDG",
            party_id=501337,
            party_uuid=None,
            auth_level=2,
            auth_method="x",
        )
    )
    cookie = {"Cookie": f"AltinnStudioRuntime={without_pid}"}
    plain = payload_of(client.get(REFRESH, headers=cookie).text)
    assert "pid" not in plain
    enriched = payload_of(client.get(REFRESH, headers=cookie, params={"enrichPid": "true"}).text)
    assert enriched["pid"] == PID


def test_refresh_requires_a_token(client: httpx.Client) -> None:
    response = client.get(REFRESH)
    assert response.status_code == 401
    assert response.content == b""


def test_openid_configuration_and_jwks_verify_platform_tokens(
    live_server: LiveServer, client: httpx.Client
) -> None:
    document = client.get("/authentication/api/v1/openid/.well-known/openid-configuration").json()
    assert document["issuer"] == live_server.settings.effective_jwt_issuer
    assert document["jwks_uri"].endswith(
        "/authentication/api/v1/openid/.well-known/openid-configuration/jwks"
    )
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    jwks = client.get("/authentication/api/v1/openid/.well-known/openid-configuration/jwks").json()
    platform = exchanged(client, "id-porten", idporten(client))
    kid = jwt.get_unverified_header(platform)["kid"]
    # An outside verifier with nothing but the published JWKS accepts the token.
    key = keys_from_jwks(jwks)[kid]
    claims = jwt.decode(platform, key, algorithms=["RS256"], options={"verify_aud": False})
    assert claims["urn:altinn:userid"] == "1337"


# Each principal kind, end to end ----------------------------------------------------------------

BASIC_POLICY = parse_policy(
    (SHARED_APPS / "ttd" / "basic" / "config" / "authorization" / "policy.xml").read_bytes(),
    org="ttd",
    app="basic",
)


def decide(services: Services, principal: Principal, action: str, party_id: int) -> Effect:
    roles: frozenset[str] = frozenset()
    if principal.user_id is not None:
        roles = services.register.roles(party_id, user_id=principal.user_id)
    request = XacmlRequest(
        subject=principal.xacml_subject(roles),
        action=action,
        resource={
            "urn:altinn:org": ["ttd"],
            "urn:altinn:app": ["basic"],
            "urn:altinn:partyid": [str(party_id)],
        },
    )
    return evaluate(BASIC_POLICY, request).effect


def _person(http: httpx.Client, server: LiveServer) -> str:
    return exchanged(http, "id-porten", idporten(http))


def _service_owner(http: httpx.Client, server: LiveServer) -> str:
    external = maskinporten(http, server, "altinn:serviceowner/instances.read", consumer_org="405003309")
    return exchanged(http, "maskinporten", external)


def _org(http: httpx.Client, server: LiveServer) -> str:
    external = maskinporten(http, server, "altinn:instances.read", consumer_org="950474084")
    return exchanged(http, "maskinporten", external)


def _system_user(http: httpx.Client, server: LiveServer) -> str:
    external = maskinporten(
        http, server, "altinn:instances.read", authorization_details=system_user_details()
    )
    return exchanged(http, "maskinporten", external)


def _self_identified(http: httpx.Client, server: LiveServer) -> str:
    return http.get("/api/GetSelfIdentifiedUserToken", params={"username": "SelvRegistrert"}).text


@pytest.mark.parametrize(
    ("mint", "kind", "party_id", "decisions"),
    [
        (
            _person,
            PrincipalKind.USER,
            501337,
            {"instantiate": Effect.PERMIT, "complete": Effect.NOT_APPLICABLE},
        ),
        # Sophie is DAGL of DDG Fitness, only REGNA/UTINN/MEDL for the housing cooperative.
        (_person, PrincipalKind.USER, 500000, {"instantiate": Effect.PERMIT}),
        (_person, PrincipalKind.USER, 500700, {"instantiate": Effect.NOT_APPLICABLE}),
        (
            _service_owner,
            PrincipalKind.SERVICE_OWNER,
            500700,
            {"read": Effect.PERMIT, "delete": Effect.NOT_APPLICABLE},
        ),
        (_org, PrincipalKind.ORG, 500700, {"read": Effect.NOT_APPLICABLE}),
        (_system_user, PrincipalKind.SYSTEM_USER, 500700, {"read": Effect.NOT_APPLICABLE}),
        (_self_identified, PrincipalKind.SELF_IDENTIFIED, 510004, {"instantiate": Effect.NOT_APPLICABLE}),
    ],
)
def test_each_principal_kind_end_to_end(
    live_server: LiveServer,
    client: httpx.Client,
    mint: Any,
    kind: PrincipalKind,
    party_id: int,
    decisions: dict[str, Effect],
) -> None:
    token = mint(client, live_server)
    # A protected endpoint accepts it and hands back the same caller.
    refreshed = client.get(REFRESH, headers={"Authorization": f"Bearer {token}"})
    assert refreshed.status_code == 200
    principal = Principal.from_claims(payload_of(refreshed.text))
    assert principal.kind is kind
    assert principal.performed_by == Principal.from_claims(payload_of(token)).performed_by
    services = services_of(live_server)
    for action, effect in decisions.items():
        assert decide(services, principal, action, party_id) is effect, action


# Trusted issuers configured in settings -----------------------------------------------------------

PARTNER_MASKINPORTEN = "https://maskinporten.partner.test/"
PARTNER_IDPORTEN = "https://idporten.partner.test"


@pytest.fixture(scope="module")
def partner_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def partner(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, partner_key: rsa.RSAPrivateKey
) -> Iterator[LiveServer]:
    """A server trusting a Maskinporten issuer by inline JWKS and an ID-porten issuer by key file."""
    from tests.conftest import make_settings

    folder = tmp_path_factory.mktemp("partner")
    public = partner_key.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (folder / "idporten.pem").write_bytes(pem)
    numbers = public.public_numbers()

    def b64(value: int) -> str:
        return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode()

    trusted = {
        "maskinporten": [
            {
                "issuer": PARTNER_MASKINPORTEN,
                "jwks": {
                    "keys": [{"kty": "RSA", "kid": "partner-1", "e": b64(numbers.e), "n": b64(numbers.n)}]
                },
            }
        ],
        "id-porten": [{"issuer": PARTNER_IDPORTEN, "key_file": str(folder / "idporten.pem")}],
    }
    (folder / "trusted.json").write_text(json.dumps(trusted))
    settings = make_settings(database_url, folder / "data", trusted_issuers=str(folder / "trusted.json"))
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def partner_http(partner: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=partner.url, timeout=30) as http:
        yield http


def _partner_token(
    partner: LiveServer,
    key: Any,
    issuer: str,
    overrides: dict[str, Any],
    headers: dict[str, Any] | None = None,
) -> str:
    now = int(services_of(partner).clock.now().timestamp())
    if issuer == PARTNER_MASKINPORTEN:
        claims: dict[str, Any] = {
            "scope": "altinn:instances.read",
            "consumer": {"authority": "iso6523-actorid-upis", "ID": "0192:950474084"},
            "client_id": "partner-client",
            "jti": "j",
        }
    else:
        claims = {
            "pid": PID,
            "acr": "idporten-loa-substantial",
            "scope": "altinn:instances.read",
            "amr": ["BankID"],
        }
    claims.update({"iss": issuer, "iat": now, "exp": now + 120, **overrides})
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers=headers or {"kid": "partner-1"})


def test_trusted_issuers_from_settings_are_accepted(
    partner: LiveServer, partner_http: httpx.Client, partner_key: rsa.RSAPrivateKey
) -> None:
    org = payload_of(
        exchanged(
            partner_http, "maskinporten", _partner_token(partner, partner_key, PARTNER_MASKINPORTEN, {})
        )
    )
    assert org["urn:altinn:orgNumber"] == "950474084"
    person = payload_of(
        exchanged(partner_http, "id-porten", _partner_token(partner, partner_key, PARTNER_IDPORTEN, {}))
    )
    assert person["urn:altinn:userid"] == "1337"
    assert person["urn:altinn:authenticatemethod"] == "BankID"


def _alg_none(partner: LiveServer, issuer: str) -> str:
    now = int(services_of(partner).clock.now().timestamp())
    body = {
        "iss": issuer,
        "pid": PID,
        "acr": "idporten-loa-substantial",
        "scope": "altinn:x",
        "exp": now + 60,
    }
    return f"{b64url_json({'alg': 'none'})}.{b64url_json(body)}."


def _hs256_public_key(partner: LiveServer, key: rsa.RSAPrivateKey) -> str:
    import hashlib
    import hmac

    secret = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(services_of(partner).clock.now().timestamp())
    body = {
        "iss": PARTNER_IDPORTEN,
        "pid": PID,
        "acr": "idporten-loa-substantial",
        "scope": "altinn:x",
        "exp": now + 60,
    }
    signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'JWT'})}.{b64url_json(body)}"
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


@pytest.mark.parametrize(
    ("provider", "issuer", "overrides", "status"),
    [
        ("maskinporten", PARTNER_MASKINPORTEN, {"consumer": None}, 401),
        ("maskinporten", PARTNER_MASKINPORTEN, {"consumer": {"authority": "x", "ID": "0192:950474084"}}, 401),
        ("maskinporten", PARTNER_MASKINPORTEN, {"exp": -100}, 401),
        (
            "maskinporten",
            PARTNER_MASKINPORTEN,
            {
                "authorization_details": [
                    {
                        "type": "urn:altinn:systemuser",
                        "systemuser_id": [str(uuid.uuid4())],
                        "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": "0192:950474084"},
                    }
                ]
            },
            401,
        ),
        (
            # A real system user, claimed for another customer.
            "maskinporten",
            PARTNER_MASKINPORTEN,
            {
                "authorization_details": [
                    {
                        "type": "urn:altinn:systemuser",
                        "systemuser_id": [SYSTEM_USER_ID],
                        "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": "0192:310000019"},
                    }
                ]
            },
            401,
        ),
        ("maskinporten", "https://unknown.example/", {}, 401),
        ("maskinporten", PARTNER_IDPORTEN, {}, 401),  # trusted, but for the other provider
        ("id-porten", PARTNER_IDPORTEN, {"pid": "05815531282"}, 401),  # a person without a user account
        ("id-porten", PARTNER_IDPORTEN, {"pid": None}, 401),
        ("id-porten", PARTNER_IDPORTEN, {"acr": None}, 401),
        ("id-porten", PARTNER_IDPORTEN, {"acr": "unknown-level"}, 401),
        ("id-porten", PARTNER_IDPORTEN, {"scope": "openid"}, 403),
        ("id-porten", PARTNER_IDPORTEN, {"nbf": None, "iat": 10**10}, 401),
        ("id-porten", PARTNER_MASKINPORTEN, {}, 401),
    ],
)
def test_partner_tokens_refused(
    partner: LiveServer,
    partner_http: httpx.Client,
    partner_key: rsa.RSAPrivateKey,
    provider: str,
    issuer: str,
    overrides: dict[str, Any],
    status: int,
) -> None:
    if overrides.get("exp") == -100:
        overrides = {"exp": int(services_of(partner).clock.now().timestamp()) - 100}
    token = _partner_token(partner, partner_key, issuer, overrides)
    assert exchange(partner_http, provider, token).status_code == status


@pytest.mark.parametrize("case", ["wrong key", "alg none", "HS256 with the public key", "RS512"])
def test_partner_signature_tricks_refused(
    partner: LiveServer, partner_http: httpx.Client, partner_key: rsa.RSAPrivateKey, case: str
) -> None:
    if case == "wrong key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = _partner_token(partner, other, PARTNER_IDPORTEN, {})
    elif case == "alg none":
        token = _alg_none(partner, PARTNER_IDPORTEN)
    elif case == "HS256 with the public key":
        token = _hs256_public_key(partner, partner_key)
    else:
        now = int(services_of(partner).clock.now().timestamp())
        body = {
            "iss": PARTNER_IDPORTEN,
            "pid": PID,
            "acr": "idporten-loa-substantial",
            "scope": "altinn:x",
            "exp": now + 60,
        }
        token = jwt.encode(body, partner_key, algorithm="RS512")
    assert exchange(partner_http, "id-porten", token).status_code == 401


def test_issuer_trusted_by_jwks_url(
    live_server: LiveServer, client: httpx.Client, database_url: str, tmp_path: Path
) -> None:
    """A second deployment (test IdP off) trusts the first one's test Maskinporten by its JWKS URL."""
    from tests.conftest import make_settings

    idp = idp_of(live_server)
    trusted = {
        "maskinporten": [
            {
                "issuer": idp.maskinporten_issuer,
                "jwks_uri": f"{live_server.url}/authentication/api/v1/testidp/jwks",
            }
        ]
    }
    settings = make_settings(database_url, tmp_path, test_idp=False, trusted_issuers=json.dumps(trusted))
    second = LiveServer(settings).start()
    try:
        with httpx.Client(base_url=second.url, timeout=30) as http:
            external = maskinporten(client, live_server, "altinn:instances.read", consumer_org="950474084")
            claims = payload_of(exchanged(http, "maskinporten", external))
            assert claims["urn:altinn:orgNumber"] == "950474084"
            # Its ID-porten issuer is not trusted there, and its test routes are off.
            assert exchange(http, "id-porten", idporten(client)).status_code == 401
            assert http.get("/api/GetPersonalToken", params={"pid": PID}).status_code == 404
    finally:
        second.stop()


async def test_jwks_refetched_on_unknown_kid_at_most_once_per_floor() -> None:
    first = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    second = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    published = [first]
    fetches = 0

    def jwks(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        keys = [
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())), "kid": f"k{i}"}
            for i, k in enumerate(published)
        ]
        return httpx.Response(200, json={"keys": keys})

    now = [1000.0]
    async with httpx.AsyncClient(transport=httpx.MockTransport(jwks)) as http:
        source = JwksKeys("https://issuer.test/jwks", http, monotonic=lambda: now[0], refetch_floor=60.0)
        assert len(await source.key("k0")) == 1
        assert fetches == 1
        published.append(second)  # the issuer rotates
        now[0] += 30
        assert await source.key("k1") == []  # within the floor: no refetch
        assert fetches == 1
        now[0] += 31
        assert len(await source.key("k1")) == 1
        assert fetches == 2
        assert len(await source.key("k0")) == 1  # known kid: no refetch
        assert fetches == 2
        now[0] += 3601
        await source.key("k0")  # stale cache: refetch
        assert fetches == 3


def test_key_rotation_over_http(fresh_database_url: str, tmp_path: Path) -> None:
    from tests.conftest import make_settings

    # Its own database: rotating must not touch the keys the other tests' servers share.
    server = LiveServer(make_settings(fresh_database_url, tmp_path)).start()
    try:
        _rotate_and_check(server)
    finally:
        server.stop()


def _rotate_and_check(server: LiveServer) -> None:
    services = services_of(server)
    jwks_path = "/authentication/api/v1/openid/.well-known/openid-configuration/jwks"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        old_token = http.get("/api/GetPersonalToken", params={"pid": PID}).text
        old_kid = jwt.get_unverified_header(old_token)["kid"]
        new = server.run(services.auth.keys.rotate(delay=timedelta(hours=48)))
        assert {k["kid"] for k in http.get(jwks_path).json()["keys"]} == {old_kid, new.kid}
        # Published, not yet signing.
        assert (
            jwt.get_unverified_header(http.get("/api/GetPersonalToken", params={"pid": PID}).text)["kid"]
            == old_kid
        )
        # Tokens of both keys are accepted.
        assert http.get(REFRESH, headers={"Authorization": f"Bearer {old_token}"}).status_code == 200
        new_token = services.auth.tokens.sign(
            {**payload_of(old_token), "exp": int(services.clock.now().timestamp()) + 60}, key=new
        )
        assert jwt.get_unverified_header(new_token)["kid"] == new.kid
        assert http.get(REFRESH, headers={"Authorization": f"Bearer {new_token}"}).status_code == 200


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[]", "must be a JSON object"),
        ("{not json", "not valid JSON"),
        ("/nonexistent/trusted.json", "cannot read"),
        ('{"oidc": []}', "unknown provider 'oidc'"),
        ('{"maskinporten": {}}', "must be a list"),
        ('{"maskinporten": ["x"]}', "must be an object"),
        ('{"maskinporten": [{"jwks_uri": "https://x.test/jwk"}]}', "'issuer'"),
        ('{"maskinporten": [{"issuer": "https://x.test/"}]}', "exactly one of"),
        ('{"maskinporten": [{"issuer": "i", "jwks_uri": "https://x", "key_file": "k"}]}', "exactly one of"),
        ('{"maskinporten": [{"issuer": "i", "jwks_uri": "ftp://x.test/jwk"}]}', r"http\(s\) URL"),
        (
            '{"maskinporten": [{"issuer": "i", "jwks_uri": "https://x", "algorithms": ["HS256"]}]}',
            "'algorithms'",
        ),
        ('{"maskinporten": [{"issuer": "i", "key_file": "/nonexistent/key.pem"}]}', r"\[0\]"),
        ('{"maskinporten": [{"issuer": "i", "jwks": {"keys": "none"}}]}', "JWKS"),
    ],
)
async def test_trusted_issuer_configuration_errors_name_the_entry(config: str, message: str) -> None:
    from tinn.auth.trusted import TrustedIssuerConfigError, parse_trusted_issuers

    async with httpx.AsyncClient() as http:
        with pytest.raises(TrustedIssuerConfigError, match=message):
            parse_trusted_issuers(config, http=http)


async def test_trusted_issuer_provider_spellings(tmp_path: Path) -> None:
    from tinn.auth.trusted import Provider, StaticKeys, parse_trusted_issuers

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate_free_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "keys.pem").write_bytes(certificate_free_pem * 2)
    config = {
        "IDporten": [{"issuer": "https://idporten.test", "jwks_uri": "https://idporten.test/jwks.json"}],
        "Maskinporten": [{"issuer": "https://maskinporten.test/", "key_file": str(tmp_path / "keys.pem")}],
    }
    async with httpx.AsyncClient() as http:
        issuers = parse_trusted_issuers(json.dumps(config), http=http)
    assert [(i.provider, i.issuer) for i in issuers] == [
        (Provider.ID_PORTEN, "https://idporten.test"),
        (Provider.MASKINPORTEN, "https://maskinporten.test/"),
    ]
    assert isinstance(issuers[1].keys, StaticKeys)
    assert len(issuers[1].keys.keys) == 2
