"""The test identity provider: Maskinporten JWT-bearer grant, ID-porten token and login page, TestTools."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.auth.test_exchange import (
    PID,
    SYSTEM_USER_ID,
    assertion,
    exchanged,
    grant,
    idp_of,
    idporten,
    maskinporten,
    services_of,
    system_user_details,
)
from tests.auth.test_tokens import payload_of
from tests.conftest import LiveServer, make_settings
from tinn.auth.principal import Principal, PrincipalKind
from tinn.settings import BUNDLED_REGISTER_DIR

MARKER = "x-tinn-test-identity"
HOSTILE_NAME = '<script>alert("x")</script> & Sophie'


@pytest.fixture(scope="module")
def client_keys() -> dict[str, Any]:
    return {
        "restricted": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "jwk": ec.generate_private_key(ec.SECP256R1()),
        "system": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture(scope="module")
def idp_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, client_keys: dict[str, Any]
) -> Iterator[LiveServer]:
    """A server with configured test clients and a register whose names need escaping."""
    folder = tmp_path_factory.mktemp("testidp")
    register = folder / "register"
    shutil.copytree(BUNDLED_REGISTER_DIR, register)
    party_file = register / "Register" / "Party" / "501337.json"
    party = json.loads(party_file.read_text(encoding="utf-8"))
    party["name"] = HOSTILE_NAME
    party_file.write_text(json.dumps(party), encoding="utf-8")

    def pem(key: Any) -> str:
        return (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    (folder / "system.pem").write_text(pem(client_keys["system"]))
    jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(client_keys["jwk"].public_key())), "kid": "jwk-1"}
    clients = {
        "clients": [
            {
                "client_id": "restricted",
                "org_number": "310000086",
                "scopes": ["altinn:instances.read"],
                "public_key_pem": pem(client_keys["restricted"]),
            },
            {"client_id": "jwk", "org_number": "310000019", "jwk": jwk},
            {
                "client_id": "system",
                "org_number": "913312465",
                "system_id": "913312465_sbs",
                "public_key_file": "system.pem",
            },
        ]
    }
    (folder / "clients.json").write_text(json.dumps(clients))
    settings = make_settings(
        database_url, folder / "data", register_dir=register, test_idp_clients_file=folder / "clients.json"
    )
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(idp_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=idp_server.url, timeout=30) as client:
        yield client


# Maskinporten ------------------------------------------------------------------------------------


def test_maskinporten_token(idp_server: LiveServer, http: httpx.Client) -> None:
    response = grant(http, assertion(idp_server, "altinn:instances.read altinn:instances.write"))
    assert response.status_code == 200
    assert response.headers[MARKER] == "true"
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 120)
    assert body["scope"] == "altinn:instances.read altinn:instances.write"
    claims = payload_of(body["access_token"])
    assert claims["iss"] == idp_of(idp_server).maskinporten_issuer
    assert claims["consumer"] == {"authority": "iso6523-actorid-upis", "ID": "0192:991825827"}
    assert claims["client_id"] == "tinn-test-client"
    assert (claims["token_type"], claims["client_amr"]) == ("Bearer", "private_key_jwt")
    assert claims["exp"] - claims["iat"] == 120
    assert "supplier" not in claims
    # The exchange verifies it against the test issuer's published key.
    jwks = http.get("/authentication/api/v1/testidp/jwks").json()
    (key,) = jwks["keys"]
    assert jwt.get_unverified_header(body["access_token"])["kid"] == key["kid"]


def test_maskinporten_for_another_organisation_names_the_supplier(
    idp_server: LiveServer, http: httpx.Client
) -> None:
    claims = payload_of(maskinporten(http, idp_server, "altinn:instances.read", consumer_org="950474084"))
    assert claims["consumer"]["ID"] == "0192:950474084"
    assert claims["supplier"]["ID"] == "0192:991825827"


def test_json_body_is_accepted(idp_server: LiveServer, http: httpx.Client) -> None:
    response = http.post(
        "/authentication/api/v1/testidp/maskinporten/token",
        json={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion(idp_server, "altinn:instances.read"),
        },
    )
    assert response.status_code == 200


def test_configured_clients(idp_server: LiveServer, http: httpx.Client, client_keys: dict[str, Any]) -> None:
    restricted = assertion(
        idp_server, "altinn:instances.read", iss="restricted", key=client_keys["restricted"]
    )
    claims = payload_of(grant(http, restricted).json()["access_token"])
    assert claims["consumer"]["ID"] == "0192:310000086"
    jwk_client = assertion(
        idp_server,
        "altinn:instances.read",
        iss="jwk",
        key=client_keys["jwk"],
        algorithm="ES256",
        headers={"kid": "jwk-1"},
    )
    assert payload_of(grant(http, jwk_client).json()["access_token"])["consumer"]["ID"] == "0192:310000019"
    system = assertion(
        idp_server,
        "altinn:instances.read",
        iss="system",
        key=client_keys["system"],
        authorization_details=system_user_details("310000019"),
    )
    claims = payload_of(grant(http, system).json()["access_token"])
    assert claims["authorization_details"][0]["systemuser_id"] == ["5b0f2f7e-2b5f-4a34-9a4e-6f7c1d0e8a21"]
    assert claims["consumer"]["ID"] == "0192:913312465"
    again = assertion(
        idp_server,
        "altinn:instances.read",
        iss="system",
        key=client_keys["system"],
        authorization_details=system_user_details("310000019"),
    )
    platform = exchanged(http, "maskinporten", grant(http, again).json()["access_token"])
    principal = Principal.from_claims(payload_of(platform))
    assert principal.kind is PrincipalKind.SYSTEM_USER
    assert principal.system_user_org_number == "310000019"


def test_system_user_for_the_default_client(idp_server: LiveServer, http: httpx.Client) -> None:
    claims = payload_of(
        maskinporten(http, idp_server, "altinn:instances.read", authorization_details=system_user_details())
    )
    (details,) = claims["authorization_details"]
    assert details["systemuser_id"] == [SYSTEM_USER_ID]
    assert details["system_id"] == "913312465_sbs"
    assert claims["consumer"]["ID"] == "0192:913312465"  # the system's vendor


def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("case", "make", "error"),
    [
        ("unknown client", lambda s, k: assertion(s, "a:b", iss="nobody"), "invalid_client"),
        ("wrong key", lambda s, k: assertion(s, "a:b", key=_other_key()), "invalid_grant"),
        (
            "HS256",
            lambda s, k: jwt.encode({"iss": "tinn-test-client"}, "s" * 32, algorithm="HS256"),
            "invalid_grant",
        ),
        ("wrong audience", lambda s, k: assertion(s, "a:b", aud="https://maskinporten.no/"), "invalid_grant"),
        ("no audience", lambda s, k: assertion(s, "a:b", aud=None), "invalid_grant"),
        ("lives too long", lambda s, k: assertion(s, "a:b", lifetime=600), "invalid_grant"),
        ("expired", lambda s, k: assertion(s, "a:b", lifetime=-20, iat=None), "invalid_grant"),
        ("no iat", lambda s, k: assertion(s, "a:b", iat=None), "invalid_grant"),
        ("no jti", lambda s, k: assertion(s, "a:b", jti=None), "invalid_grant"),
        ("no scope", lambda s, k: assertion(s, ""), "invalid_scope"),
        ("not a JWT", lambda s, k: "abc", "invalid_grant"),
        (
            "scope the client may not use",
            lambda s, k: assertion(s, "altinn:instances.write", iss="restricted", key=k["restricted"]),
            "invalid_scope",
        ),
        (
            "other organisation for a bound client",
            lambda s, k: assertion(
                s, "altinn:instances.read", iss="restricted", key=k["restricted"], consumer_org="950474084"
            ),
            "invalid_request",
        ),
        ("malformed consumer_org", lambda s, k: assertion(s, "a:b", consumer_org="12"), "invalid_request"),
        (
            "system user of an unknown customer",
            lambda s, k: assertion(s, "a:b", authorization_details=system_user_details("310000086")),
            "invalid_authorization_details",
        ),
        (
            "authorization_details of another type",
            lambda s, k: assertion(s, "a:b", authorization_details=[{"type": "urn:other"}]),
            "invalid_authorization_details",
        ),
        (
            "client without a system asks for a system user",
            lambda s, k: assertion(
                s,
                "altinn:instances.read",
                iss="restricted",
                key=k["restricted"],
                authorization_details=system_user_details(),
            ),
            "invalid_authorization_details",
        ),
    ],
)
def test_maskinporten_errors(
    idp_server: LiveServer, http: httpx.Client, client_keys: dict[str, Any], case: str, make: Any, error: str
) -> None:
    response = grant(http, make(idp_server, client_keys))
    assert response.status_code == 400, case
    assert response.json()["error"] == error, case
    assert response.headers[MARKER] == "true"


def test_replayed_assertion_is_refused(idp_server: LiveServer, http: httpx.Client) -> None:
    signed = assertion(idp_server, "altinn:instances.read")
    assert grant(http, signed).status_code == 200
    response = grant(http, signed)
    assert response.status_code == 400
    assert "used before" in response.json()["error_description"]


def test_wrong_grant_type_and_body(idp_server: LiveServer, http: httpx.Client) -> None:
    url = "/authentication/api/v1/testidp/maskinporten/token"
    signed = assertion(idp_server, "altinn:instances.read")
    response = http.post(url, data={"grant_type": "client_credentials", "assertion": signed})
    assert response.json()["error"] == "unsupported_grant_type"
    response = http.post(url, content=b"grant_type=x", headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    response = http.post(url, content=b"[1]", headers={"Content-Type": "application/json"})
    assert response.json()["error"] == "invalid_request"


def test_metadata(idp_server: LiveServer, http: httpx.Client) -> None:
    idp = idp_of(idp_server)
    maskinporten_meta = http.get(
        "/authentication/api/v1/testidp/maskinporten/.well-known/oauth-authorization-server"
    )
    assert maskinporten_meta.headers[MARKER] == "true"
    assert maskinporten_meta.json()["issuer"] == idp.maskinporten_issuer
    assert maskinporten_meta.json()["token_endpoint"].endswith("/testidp/maskinporten/token")
    idporten_meta = http.get(
        "/authentication/api/v1/testidp/idporten/.well-known/openid-configuration"
    ).json()
    assert idporten_meta["issuer"] == idp.idporten_issuer


# ID-porten ---------------------------------------------------------------------------------------


def test_idporten_token(idp_server: LiveServer, http: httpx.Client) -> None:
    response = http.post(
        "/authentication/api/v1/testidp/idporten/token",
        json={"pid": PID, "acr": "4", "scope": "altinn:instances.read", "amr": "BankID"},
    )
    assert response.status_code == 200
    assert response.headers[MARKER] == "true"
    claims = payload_of(response.json()["access_token"])
    assert (claims["pid"], claims["acr"], claims["amr"]) == (PID, "idporten-loa-high", ["BankID"])
    assert claims["iss"] == idp_of(idp_server).idporten_issuer
    assert claims["scope"] == "altinn:instances.read"
    assert claims["exp"] - claims["iat"] == 600


@pytest.mark.parametrize(
    "fields",
    [
        {"pid": "05815531282"},  # a person without a user account
        {"pid": "123"},
        {"pid": PID, "acr": "9"},
        {"pid": PID, "acr": "unknown-level"},
        {"pid": PID, "scope": " "},
    ],
)
def test_idporten_token_errors(http: httpx.Client, fields: dict[str, str]) -> None:
    response = http.post("/authentication/api/v1/testidp/idporten/token", data=fields)
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_request", "invalid_scope"}


def test_login_page_lists_test_persons_escaped(http: httpx.Client) -> None:
    response = http.get("/authentication/api/v1/testidp/idporten/login", params={"goto": '/ttd/app?x="><b>'})
    assert response.status_code == 200
    assert response.headers[MARKER] == "true"
    page = response.text
    assert "TEST IDENTITY PROVIDER" in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sophie" in page
    assert 'value="/ttd/app?x=&quot;&gt;&lt;b&gt;"' in page
    assert "Kari Nordmann (14898596282, user 1001)" in page


@pytest.mark.parametrize(
    "goto", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_login_page_ignores_unsafe_goto(http: httpx.Client, goto: str) -> None:
    page = http.get("/authentication/api/v1/testidp/idporten/login", params={"goto": goto}).text
    assert 'name="goto"' not in page


def test_login_sets_the_runtime_cookie(idp_server: LiveServer, http: httpx.Client) -> None:
    response = http.post(
        "/authentication/api/v1/testidp/idporten/login",
        data={"pid": "14898596282", "acr": "idporten-loa-high", "scope": "altinn:instances.read"},
    )
    assert response.status_code == 200
    assert response.headers[MARKER] == "true"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("AltinnStudioRuntime=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    claims = payload_of(token)
    assert (claims["urn:altinn:userid"], claims["urn:altinn:authlevel"]) == ("1001", 4)
    assert token in response.text
    # The cookie is a platform token the protected endpoints accept.
    refreshed = http.get("/authentication/api/v1/refresh", headers={"Cookie": f"AltinnStudioRuntime={token}"})
    assert refreshed.status_code == 200


def test_login_redirects_to_a_safe_goto(http: httpx.Client) -> None:
    response = http.post(
        "/authentication/api/v1/testidp/idporten/login",
        data={"pid": PID, "goto": "/ttd/basic/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ttd/basic/"
    assert response.headers["set-cookie"].startswith("AltinnStudioRuntime=")
    external = http.post(
        "/authentication/api/v1/testidp/idporten/login",
        data={"pid": PID, "goto": "https://evil.example/"},
        follow_redirects=False,
    )
    assert external.status_code == 200


@pytest.mark.parametrize(
    "fields",
    [{"pid": "00000000000"}, {"pid": PID, "scope": "openid profile"}],
)
def test_login_errors_show_the_form_again(http: httpx.Client, fields: dict[str, str]) -> None:
    response = http.post("/authentication/api/v1/testidp/idporten/login", data=fields)
    assert response.status_code == 400
    assert 'class="error"' in response.text
    assert "set-cookie" not in response.headers


# TestTools ----------------------------------------------------------------------------------------


def test_get_personal_token_with_every_parameter(idp_server: LiveServer, http: httpx.Client) -> None:
    party_uuid = str(uuid.uuid4())
    response = http.get(
        "/api/GetPersonalToken",
        params={
            "env": "tt02",
            "userId": "1001",
            "partyId": "510001",
            "pid": "14898596282",
            "authLvl": "4",
            "scopes": "altinn:instances.read,altinn:instances.write",
            "userName": "kari",
            "partyuuid": party_uuid,
            "consumerOrgNo": "310000086",
            "ttl": "120",
        },
    )
    assert response.status_code == 200
    assert response.headers[MARKER] == "true"
    assert response.headers["content-type"].startswith("text/plain")
    claims = payload_of(response.text)
    assert claims["urn:altinn:authenticatemethod"] == "NotDefined"
    assert claims["urn:altinn:authlevel"] == "4"  # TestTools writes the level as a string
    assert claims["acr"] == "idporten-loa-high"
    assert (claims["nameid"], claims["urn:altinn:userid"], claims["urn:altinn:partyid"]) == (
        1001,
        1001,
        510001,
    )
    assert claims["urn:altinn:username"] == "kari"
    assert claims["urn:altinn:party:uuid"] == party_uuid
    assert claims["scope"] == "altinn:instances.read altinn:instances.write"
    assert claims["client_orgno"] == "310000086"
    assert claims["actual_iss"] == "altinn-test-tools"
    assert claims["iss"] == idp_server.settings.effective_jwt_issuer
    assert claims["exp"] - claims["iat"] == 120
    assert Principal.from_claims(claims).kind is PrincipalKind.USER


def test_get_personal_token_fills_in_from_the_register(http: httpx.Client) -> None:
    claims = payload_of(http.get("/api/GetPersonalToken", params={"PID": PID}).text)  # names in any case
    assert (claims["urn:altinn:userid"], claims["urn:altinn:partyid"]) == (1337, 501337)
    assert claims["urn:altinn:username"] == "SophieDDG"
    assert claims["urn:altinn:party:uuid"] == "e9dd7d91-32d8-4933-a108-07562762d572"
    assert claims["scope"] == "altinn:enduser"
    assert claims["urn:altinn:authlevel"] == "3"
    assert claims["consumer"]["ID"] == "0192:991825827"


@pytest.mark.parametrize(
    ("path", "params", "errors"),
    [
        ("/api/GetPersonalToken", {}, {"pid": "Parameter must be supplied"}),
        ("/api/GetPersonalToken", {"pid": "1234"}, {"pid": "Parameter was supplied with a invalid value"}),
        (
            "/api/GetPersonalToken",
            {"pid": PID, "authLvl": "5", "ttl": "-1", "scopes": "ALTINN:X"},
            {
                "authLvl": "Parameter was supplied with a invalid value",
                "ttl": "Parameter was supplied with a invalid value",
                "scopes": "Parameter was supplied with a invalid value",
            },
        ),
        ("/api/GetEnterpriseToken", {"orgNo": "950474084"}, {"scopes": "Parameter must be supplied"}),
        ("/api/GetEnterpriseToken", {"scopes": "a:b"}, {"orgNo": "Parameter must be supplied"}),
        (
            "/api/GetEnterpriseToken",
            {"scopes": "a:b", "org": "Not Valid"},
            {"org": "Parameter was supplied with a invalid value"},
        ),
        ("/api/GetSystemUserToken", {}, {"systemUserId": "Parameter must be supplied"}),
        (
            "/api/GetSystemUserToken",
            {"systemUserId": "nope"},
            {"systemUserId": "Parameter was supplied with a invalid value"},
        ),
    ],
)
def test_testtools_parameter_errors(
    http: httpx.Client, path: str, params: dict[str, str], errors: dict[str, str]
) -> None:
    response = http.get(path, params=params)
    assert response.status_code == 400
    assert response.headers[MARKER] == "true"
    body = response.json()
    for name, message in errors.items():
        assert body[name] == message


def test_personal_token_for_an_unknown_pid_needs_ids(http: httpx.Client) -> None:
    response = http.get("/api/GetPersonalToken", params={"pid": "05815531282"})
    assert response.status_code == 400
    assert set(response.json()) == {"userId", "partyId"}


@pytest.mark.parametrize(
    ("params", "org", "org_number", "kind"),
    [
        ({"org": "ttd", "orgNo": "405003309"}, "ttd", "405003309", PrincipalKind.SERVICE_OWNER),
        ({"org": "ttd"}, "ttd", "405003309", PrincipalKind.SERVICE_OWNER),  # number from the register
        ({"orgNo": "950474084"}, None, "950474084", PrincipalKind.ORG),
    ],
)
def test_get_enterprise_token(
    http: httpx.Client, params: dict[str, str], org: str | None, org_number: str, kind: PrincipalKind
) -> None:
    response = http.get(
        "/api/GetEnterpriseToken",
        params={"scopes": "altinn:serviceowner/instances.read", "env": "tt02", **params},
    )
    assert response.status_code == 200
    claims = payload_of(response.text)
    assert claims.get("urn:altinn:org") == org
    assert claims["urn:altinn:orgNumber"] == org_number
    assert claims["urn:altinn:authenticatemethod"] == "maskinporten"
    assert claims["urn:altinn:authlevel"] == 3
    assert claims["actual_iss"] == "altinn-test-tools"
    assert Principal.from_claims(claims).kind is kind


def test_get_system_user_token(http: httpx.Client) -> None:
    claims = payload_of(http.get("/api/GetSystemUserToken", params={"systemUserId": SYSTEM_USER_ID}).text)
    (details,) = claims["authorization_details"]
    assert details["systemuser_id"] == [SYSTEM_USER_ID]
    assert details["systemuser_org"]["ID"] == "0192:950474084"
    assert details["system_id"] == "913312465_sbs"
    assert claims["consumer"]["ID"] == "0192:913312465"
    assert claims["urn:altinn:authenticatemethod"] == "systemuser"
    assert Principal.from_claims(claims).kind is PrincipalKind.SYSTEM_USER


def test_get_self_identified_user_token(http: httpx.Client) -> None:
    claims = payload_of(
        http.get("/api/GetSelfIdentifiedUserToken", params={"username": "SelvRegistrert"}).text
    )
    assert (claims["urn:altinn:userid"], claims["urn:altinn:partyid"]) == ("1004", 510004)
    assert claims["urn:altinn:authlevel"] == 0
    assert claims["scope"] == "altinn:portal/enduser"
    assert Principal.from_claims(claims).kind is PrincipalKind.SELF_IDENTIFIED
    response = http.get("/api/GetSelfIdentifiedUserToken", params={"username": "nobody"})
    assert response.status_code == 400


def test_dump(http: httpx.Client) -> None:
    text = http.get(
        "/api/GetEnterpriseToken", params={"orgNo": "950474084", "scopes": "a:b", "dump": "1"}
    ).text
    header, _, payload = text.partition("\n.\n")
    assert json.loads(header)["alg"] == "RS256"
    assert json.loads(payload)["urn:altinn:orgNumber"] == "950474084"


# Off in production ------------------------------------------------------------------------------


def test_test_idp_is_off_in_production(
    database_url: str, tmp_path: Path, live_server: LiveServer, client: httpx.Client
) -> None:
    production = LiveServer(make_settings(database_url, tmp_path, environment="production")).start()
    try:
        assert services_of(production).auth.test_idp is None
        with httpx.Client(base_url=production.url, timeout=30) as http:
            for method, path in [
                ("GET", "/api/GetPersonalToken?pid=01039012345"),
                ("GET", "/api/GetEnterpriseToken?orgNo=950474084&scopes=a:b"),
                ("POST", "/authentication/api/v1/testidp/maskinporten/token"),
                ("GET", "/authentication/api/v1/testidp/idporten/login"),
                ("GET", "/authentication/api/v1/testidp/jwks"),
            ]:
                assert http.request(method, path).status_code == 404, path
            # Tokens from another deployment's test IdP are not trusted here.
            external = idporten(client)
            response = http.get(
                "/authentication/api/v1/exchange/id-porten", headers={"Authorization": f"Bearer {external}"}
            )
            assert response.status_code == 401
    finally:
        production.stop()
