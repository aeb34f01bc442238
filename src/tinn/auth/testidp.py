"""The test identity provider: stand-ins for Maskinporten, ID-porten and Altinn's TestTools token generator.

On by default in ``environment=local`` (``TINN_TEST_IDP`` turns it on or off anywhere). Everything
here is for testing only, and says so: every response carries ``X-Tinn-Test-Identity: true`` and
the HTML pages a banner. Its two issuers sign with their own key (``{data_dir}/testidp/issuer-key.pem``),
never with the platform signing keys, and the exchange trusts them only while the test IdP is on.

* **Maskinporten** (``.../testidp/maskinporten/token``): the JWT-bearer grant. The client signs an
  assertion (``iss`` = its client id, ``aud`` = this issuer, ``scope``, ``iat``/``exp`` at most 120 s
  apart, ``jti``); the token it gets is Maskinporten-shaped (``consumer``, ``scope``, ``client_id``,
  ``token_type``). An assertion may ask for a system user with ``authorization_details`` of type
  ``urn:altinn:systemuser`` naming the customer in ``systemuser_org``. Clients and their public
  keys come from ``TINN_TEST_IDP_CLIENTS_FILE``; the built-in client ``tinn-test-client``
  (private key in ``{data_dir}/testidp/default-client-key.pem``) may act for any organisation
  (``consumer_org`` in the assertion) and any system user.
* **ID-porten** (``.../testidp/idporten/token`` and the login page): tokens for the persons in the
  register with ``pid``, ``acr``, ``amr`` and ``scope``.
* **TestTools** (``/api/GetPersonalToken`` ...): platform tokens directly, with the parameters and
  claims of Altinn's TestTools token generator (``actual_iss: altinn-test-tools``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tinn.auth import claims as c
from tinn.auth.keys import CLOCK_SKEW, b64url
from tinn.auth.tokens import TokenError, TokenService, check_lifetime, unverified_claims, unverified_header
from tinn.auth.trusted import (
    ASYMMETRIC_ALGORITHMS,
    Provider,
    PublicKey,
    StaticKeys,
    TrustedIssuer,
    keys_from_jwks,
    keys_from_pem,
    load_key_file,
    public_key_from_jwk,
)
from tinn.clock import Clock
from tinn.register.models import SystemUser
from tinn.register.service import Register
from tinn.settings import Settings

TEST_MARKER_HEADER = "X-Tinn-Test-Identity"
PREFIX = "/authentication/api/v1/testidp"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_CLIENT_ID = "tinn-test-client"
DEFAULT_CLIENT_ORG_NUMBER = "991825827"
IDPORTEN_CLIENT_ID = "tinn-test-idporten-client"
MASKINPORTEN_TOKEN_SECONDS = 120
IDPORTEN_TOKEN_SECONDS = 600
# Maskinporten refuses assertions that live longer than this.
MAX_ASSERTION_SECONDS = 120
DEFAULT_AMR = "TestID"
ACTUAL_ISSUER = "altinn-test-tools"
# TestTools' defaults.
TESTTOOLS_DEFAULT_CONSUMER = "991825827"
TESTTOOLS_PERSONAL_SCOPE = "altinn:enduser"
TESTTOOLS_TTL_SECONDS = 1800
_SCOPES = re.compile(r"^[a-z0-9:/_\-,. ]+$")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.@-]{1,50}$")
_MISSING = "Parameter must be supplied"
_INVALID = "Parameter was supplied with a invalid value"
_REPLAY_WINDOW_ENTRIES = 10_000


class OAuthError(Exception):
    """An OAuth 2 error response (RFC 6749 section 5.2): ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class ParameterErrors(Exception):
    """TestTools' 400 body: parameter name → what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class TestClient:
    """A Maskinporten client of the test IdP."""

    __test__ = False  # a "Test..." name, but not a pytest test class

    client_id: str
    org_number: str
    keys: Mapping[str | None, PublicKey]
    # None: any scope.
    scopes: frozenset[str] | None = None
    # May name another organisation with `consumer_org` (and act as any system's vendor).
    any_consumer: bool = False
    # The system whose system users this client may ask for (None: any, if any_consumer).
    system_id: str | None = None


# Key files ------------------------------------------------------------------------------------


def load_or_create_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA key in ``path``, created first if absent (safe when several processes race)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
            # link() fails if the file exists: the first process's key wins.
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return loaded


def jwk_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 thumbprint, used as the test issuer's ``kid``."""
    numbers = public_key.public_numbers()
    members = {
        "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        "kty": "RSA",
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
    }
    digest = hashes.Hash(hashes.SHA256())
    digest.update(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return b64url(digest.finalize())


def public_jwk(public_key: rsa.RSAPublicKey, kid: str) -> dict[str, Any]:
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
    }


def load_clients(path: Path | None, default: TestClient) -> dict[str, TestClient]:
    """The built-in client plus those in ``path``: ``{"clients": [...]}`` or a bare list of

    ``{"client_id", "org_number", "scopes"?, "any_consumer"?, "system_id"?}`` with one of ``jwk``,
    ``jwks``, ``public_key_pem`` or ``public_key_file`` (PEM key/certificate or JWKS file).
    """
    clients = {default.client_id: default}
    if path is None:
        return clients
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"test IdP clients file {path}: {exc}") from exc
    entries = document.get("clients") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ValueError(f"test IdP clients file {path}: expected a list of clients")
    for index, entry in enumerate(entries):
        where = f"test IdP clients file {path}, client {index}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: not an object")
        client_id = entry.get("client_id")
        org_number = entry.get("org_number")
        if not isinstance(client_id, str) or not client_id:
            raise ValueError(f"{where}: 'client_id' is required")
        if not c.is_org_number(org_number):
            raise ValueError(f"{where}: 'org_number' must be 9 digits")
        assert isinstance(org_number, str)
        try:
            keys: Mapping[str | None, PublicKey]
            if "jwk" in entry:
                keys = {entry["jwk"].get("kid"): public_key_from_jwk(entry["jwk"])}
            elif "jwks" in entry:
                keys = keys_from_jwks(entry["jwks"])
            elif "public_key_pem" in entry:
                keys = keys_from_pem(str(entry["public_key_pem"]).encode())
            elif "public_key_file" in entry:
                key_path = Path(str(entry["public_key_file"])).expanduser()
                keys = load_key_file(key_path if key_path.is_absolute() else path.parent / key_path)
            else:
                raise ValueError("give one of 'jwk', 'jwks', 'public_key_pem' or 'public_key_file'")
        except (OSError, ValueError, AttributeError) as exc:
            raise ValueError(f"{where}: {exc}") from exc
        scopes = entry.get("scopes")
        if scopes is not None and not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
            raise ValueError(f"{where}: 'scopes' must be a list of strings")
        system_id = entry.get("system_id")
        clients[client_id] = TestClient(
            client_id=client_id,
            org_number=org_number,
            keys=keys,
            scopes=None if scopes is None else frozenset(scopes),
            any_consumer=entry.get("any_consumer") is True,
            system_id=system_id if isinstance(system_id, str) else None,
        )
    return clients


def _param(params: Mapping[str, str], name: str) -> str | None:
    """A query parameter by name in any letter case (ASP.NET's query lookup), blank as absent."""
    wanted = name.lower()
    for key, value in params.items():
        if key.lower() == wanted:
            return value.strip() or None
    return None


class _Params:
    """TestTools-style validation: collect every error, then fail with all of them."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._params = params
        self.errors: dict[str, str] = {}

    def text(
        self, name: str, *, required: bool = False, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        value = _param(self._params, name)
        if value is None:
            if required:
                self.errors[name] = _MISSING
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.errors[name] = _INVALID
            return None
        return value

    def integer(self, name: str, *, low: int = 0, high: int = 2**31 - 1) -> int | None:
        value = _param(self._params, name)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
            self.errors[name] = _INVALID
            return None
        return int(value)

    def scopes(self, default: str | None) -> str | None:
        value = _param(self._params, "scopes")
        if value is None:
            if default is None:
                self.errors["scopes"] = _MISSING
            return default
        if len(value) > 500 or not _SCOPES.fullmatch(value):
            self.errors["scopes"] = _INVALID
            return None
        return c.scope_string(value)

    def uuid(self, name: str, *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            self.errors[name] = _INVALID
            return None

    def check(self) -> None:
        if self.errors:
            raise ParameterErrors(self.errors)


_ORG_NUMBER = re.compile(r"^[0-9]{9}$")
_PID = re.compile(r"^[0-9]{11}$")
_ORG_CODE = re.compile(r"^[a-z0-9_-]{1,50}$")


class TestIdentityProvider:
    """The test issuers and generators of one process (see the module docstring)."""

    __test__ = False  # a "Test..." name, but not a pytest test class

    def __init__(
        self,
        *,
        platform_url: str,
        key: rsa.RSAPrivateKey,
        clients: Mapping[str, TestClient],
        register: Register,
        clock: Clock,
        default_client_key_path: Path,
    ) -> None:
        base = f"{platform_url.rstrip('/')}{PREFIX}"
        self.maskinporten_issuer = f"{base}/maskinporten/"
        self.maskinporten_token_endpoint = f"{base}/maskinporten/token"
        self.idporten_issuer = f"{base}/idporten/"
        self.jwks_uri = f"{base}/jwks"
        self._key = key
        self.kid = jwk_thumbprint(key.public_key())
        self.clients = dict(clients)
        self.register = register
        self.clock = clock
        self.default_client_key_path = default_client_key_path
        # Assertion ids seen, until their assertion expires (Maskinporten refuses replays).
        self._seen_assertions: OrderedDict[tuple[str, str], float] = OrderedDict()

    @classmethod
    async def start(cls, settings: Settings, register: Register, clock: Clock) -> TestIdentityProvider:
        folder = (settings.data_dir / "testidp").resolve()
        issuer_key = await asyncio.to_thread(load_or_create_private_key, folder / "issuer-key.pem")
        client_key_path = folder / "default-client-key.pem"
        client_key = await asyncio.to_thread(load_or_create_private_key, client_key_path)
        default = TestClient(
            client_id=DEFAULT_CLIENT_ID,
            org_number=DEFAULT_CLIENT_ORG_NUMBER,
            keys={None: client_key.public_key()},
            any_consumer=True,
        )
        clients = load_clients(settings.test_idp_clients_file, default)
        return cls(
            platform_url=settings.effective_platform_url,
            key=issuer_key,
            clients=clients,
            register=register,
            clock=clock,
            default_client_key_path=client_key_path,
        )

    # Publishing ----------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self._key.public_key(), self.kid)]}

    def trusted_issuers(self) -> list[TrustedIssuer]:
        keys = StaticKeys({self.kid: self._key.public_key()})
        return [
            TrustedIssuer(provider=Provider.MASKINPORTEN, issuer=self.maskinporten_issuer, keys=keys),
            TrustedIssuer(provider=Provider.ID_PORTEN, issuer=self.idporten_issuer, keys=keys),
        ]

    def maskinporten_metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.maskinporten_issuer,
            "token_endpoint": self.maskinporten_token_endpoint,
            "jwks_uri": self.jwks_uri,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "grant_types_supported": [JWT_BEARER_GRANT],
            "token_endpoint_auth_signing_alg_values_supported": sorted(ASYMMETRIC_ALGORITHMS),
            "authorization_details_types_supported": [c.SYSTEM_USER_TYPE],
        }

    def idporten_metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.idporten_issuer,
            "authorization_endpoint": f"{self.idporten_issuer}login",
            "token_endpoint": f"{self.idporten_issuer}token",
            "jwks_uri": self.jwks_uri,
            "acr_values_supported": [c.ACR_SUBSTANTIAL, c.ACR_HIGH, c.ACR_LOW],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def _sign(self, payload: Mapping[str, Any]) -> str:
        header = orjson.dumps({"kid": self.kid, "alg": "RS256", "typ": "JWT"})
        signing_input = f"{b64url(header)}.{b64url(orjson.dumps(payload))}"
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    # Maskinporten --------------------------------------------------------------------

    def maskinporten_token(self, grant_type: str | None, assertion: str | None) -> dict[str, Any]:
        """The token response for a JWT-bearer grant, or :class:`OAuthError`."""
        if grant_type != JWT_BEARER_GRANT:
            raise OAuthError("unsupported_grant_type", f"grant_type must be {JWT_BEARER_GRANT}")
        if not assertion:
            raise OAuthError("invalid_request", "assertion is required")
        request = self._verify_assertion(assertion)
        client = self.clients[request["iss"]]
        scope = request["scope"]
        consumer_org = self._consumer_org(client, request)
        details = request.get("authorization_details")
        claims: dict[str, Any] = {}
        if details is not None:
            system_user = self._system_user(client, details)
            vendor = system_user.supplier_org_number
            if vendor is not None and "consumer_org" not in request:
                if not (client.any_consumer or vendor == client.org_number):
                    raise OAuthError(
                        "invalid_authorization_details",
                        f"client {client.client_id} is not the vendor of system {system_user.system_id}",
                    )
                consumer_org = vendor
            entry = c.system_user_entry(details)
            assert entry is not None
            external_ref = entry.get("externalRef")
            claims[c.AUTHORIZATION_DETAILS] = c.system_user_details(
                system_user_id=system_user.id,
                system_user_org_number=system_user.org_number,
                system_id=system_user.system_id,
                external_ref=external_ref if isinstance(external_ref, str) else None,
            )
        now = int(self.clock.now().timestamp())
        claims.update(
            {
                c.SCOPE: scope,
                "iss": self.maskinporten_issuer,
                "client_amr": "private_key_jwt",
                "token_type": c.BEARER,
                "exp": now + MASKINPORTEN_TOKEN_SECONDS,
                "iat": now,
                "client_id": client.client_id,
                "jti": secrets.token_urlsafe(32),
                c.CONSUMER: c.consumer(consumer_org),
            }
        )
        if consumer_org != client.org_number:
            claims["supplier"] = c.consumer(client.org_number)
        return {
            "access_token": self._sign(claims),
            "token_type": c.BEARER,
            "expires_in": MASKINPORTEN_TOKEN_SECONDS,
            "scope": scope,
        }

    def _verify_assertion(self, assertion: str) -> dict[str, Any]:
        try:
            header = unverified_header(assertion)
            unverified = unverified_claims(assertion)
        except TokenError as exc:
            raise OAuthError("invalid_grant", f"assertion is not a signed JWT ({exc.reason})") from exc
        client_id = unverified.get("iss")
        client = self.clients.get(client_id) if isinstance(client_id, str) else None
        if client is None:
            raise OAuthError("invalid_client", f"unknown client {client_id!r} (the assertion's iss)")
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise OAuthError("invalid_grant", f"assertion algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        candidates = (
            [client.keys[kid]] if isinstance(kid, str) and kid in client.keys else list(client.keys.values())
        )
        claims: dict[str, Any] | None = None
        for key in candidates:
            try:
                decoded = jwt.decode(
                    assertion,
                    key,
                    algorithms=[algorithm],
                    options={
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                        "verify_aud": False,
                    },
                )
            except jwt.PyJWTError:
                continue
            claims = decoded if isinstance(decoded, dict) else None
            break
        if claims is None:
            raise OAuthError(
                "invalid_grant", f"assertion signature does not verify with the keys of {client_id}"
            )
        audiences = claims.get("aud")
        audience_list = audiences if isinstance(audiences, list) else [audiences]
        accepted = {self.maskinporten_issuer.rstrip("/"), self.maskinporten_token_endpoint}
        if not any(isinstance(a, str) and a.rstrip("/") in accepted for a in audience_list):
            raise OAuthError("invalid_grant", f"assertion aud must be {self.maskinporten_issuer}")
        now = self.clock.now()
        try:
            check_lifetime(claims, now)
        except TokenError as exc:
            raise OAuthError("invalid_grant", f"assertion {exc.reason}") from exc
        issued_at = claims.get("iat")
        if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
            raise OAuthError("invalid_grant", "assertion iat is required")
        if claims["exp"] - issued_at > MAX_ASSERTION_SECONDS + CLOCK_SKEW.total_seconds():
            raise OAuthError("invalid_grant", f"assertion may live at most {MAX_ASSERTION_SECONDS} seconds")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise OAuthError("invalid_grant", "assertion jti is required")
        self._remember_assertion(client.client_id, jti, float(claims["exp"]))
        scope = claims.get(c.SCOPE)
        if not isinstance(scope, str) or not scope.strip():
            raise OAuthError("invalid_scope", "assertion scope is required")
        scope = c.scope_string(scope)
        if client.scopes is not None:
            refused = [s for s in scope.split() if s not in client.scopes]
            if refused:
                raise OAuthError(
                    "invalid_scope", f"client {client.client_id} may not use {' '.join(refused)}"
                )
        claims[c.SCOPE] = scope
        return claims

    def _remember_assertion(self, client_id: str, jti: str, expires: float) -> None:
        # An assertion past its exp (and skew) is refused anyway, so its id can be forgotten.
        horizon = self.clock.now().timestamp() - CLOCK_SKEW.total_seconds()
        while self._seen_assertions and next(iter(self._seen_assertions.values())) < horizon:
            self._seen_assertions.popitem(last=False)
        key = (client_id, jti)
        if key in self._seen_assertions:
            raise OAuthError("invalid_grant", "assertion jti has been used before")
        self._seen_assertions[key] = expires
        if len(self._seen_assertions) > _REPLAY_WINDOW_ENTRIES:
            self._seen_assertions.popitem(last=False)

    def _consumer_org(self, client: TestClient, request: Mapping[str, Any]) -> str:
        requested = request.get("consumer_org")
        if requested is None:
            return client.org_number
        if not c.is_org_number(requested):
            raise OAuthError("invalid_request", "consumer_org must be a 9-digit organisation number")
        assert isinstance(requested, str)
        if requested != client.org_number and not client.any_consumer:
            raise OAuthError("invalid_request", f"client {client.client_id} may not act for {requested}")
        return requested

    def _system_user(self, client: TestClient, details: Any) -> SystemUser:
        entry = c.system_user_entry(details)
        if entry is None:
            raise OAuthError(
                "invalid_authorization_details",
                f"authorization_details has no entry of type {c.SYSTEM_USER_TYPE}",
            )
        customer = c.org_number_from(entry.get("systemuser_org"))
        if customer is None:
            raise OAuthError(
                "invalid_authorization_details",
                'systemuser_org must be {"authority": "iso6523-actorid-upis", "ID": "0192:<orgno>"}',
            )
        wanted_system = client.system_id or entry.get("system_id")
        if client.system_id is None and not client.any_consumer:
            raise OAuthError(
                "invalid_authorization_details", f"client {client.client_id} is not tied to a system"
            )
        candidates = [
            su
            for su in self.register.system_users_for(customer)
            if wanted_system is None or su.system_id.lower() == str(wanted_system).lower()
        ]
        if not candidates:
            raise OAuthError(
                "invalid_authorization_details",
                f"no system user for {customer}" + (f" in system {wanted_system}" if wanted_system else ""),
            )
        if len(candidates) > 1:
            raise OAuthError(
                "invalid_authorization_details",
                f"several system users act for {customer}; name the system with system_id",
            )
        return candidates[0]

    # ID-porten -----------------------------------------------------------------------

    def idporten_token(
        self,
        *,
        pid: str,
        acr: str,
        scope: str,
        amr: str = DEFAULT_AMR,
        lifetime: timedelta = timedelta(seconds=IDPORTEN_TOKEN_SECONDS),
    ) -> dict[str, Any]:
        """An ID-porten-like access token for a person in the register, or :class:`OAuthError`."""
        if not c.is_pid(pid):
            raise OAuthError("invalid_request", "pid must be an 11-digit national identity number")
        if self.register.user_by_ssn(pid) is None:
            raise OAuthError("invalid_request", f"no test user with pid {pid} in the register")
        try:
            c.auth_level_from_acr(acr)
        except ValueError as exc:
            raise OAuthError("invalid_request", str(exc)) from exc
        scope = c.scope_string(scope)
        if not scope:
            raise OAuthError("invalid_scope", "scope is required")
        now = int(self.clock.now().timestamp())
        seconds = int(lifetime.total_seconds())
        claims = {
            "sub": pid,
            "acr": acr,
            c.SCOPE: scope,
            "iss": self.idporten_issuer,
            "client_amr": "client_secret_basic",
            "pid": pid,
            "amr": [amr],
            "exp": now + seconds,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "client_id": IDPORTEN_CLIENT_ID,
        }
        return {
            "access_token": self._sign(claims),
            "token_type": c.BEARER,
            "expires_in": seconds,
            "scope": scope,
        }

    def test_persons(self) -> list[tuple[str, str, int]]:
        """(pid, name, user id) of every person with a user account, for the login page."""
        persons = []
        for user in self.register.all_users:
            party = self.register.party(user.party_id) or user.party
            if party is not None and party.ssn:
                persons.append((party.ssn, party.name or user.user_name or party.ssn, user.user_id))
        return sorted(persons, key=lambda p: (p[1], p[0]))

    # TestTools -----------------------------------------------------------------------

    def personal_token(self, params: Mapping[str, str], tokens: TokenService) -> str:
        """``GET /api/GetPersonalToken``: a person's platform token, TestTools-shaped."""
        p = _Params(params)
        p.text("env", pattern=_IDENTIFIER)
        pid = p.text("pid", required=True, pattern=_PID)
        user_id = p.integer("userId", low=1)
        party_id = p.integer("partyId", low=1)
        auth_level = p.integer("authLvl", low=1, high=4)
        consumer_org = p.text("consumerOrgNo", pattern=_ORG_NUMBER) or TESTTOOLS_DEFAULT_CONSUMER
        username = p.text("userName", pattern=_IDENTIFIER)
        client_amr = p.text("clientAmr", pattern=_IDENTIFIER) or "virksomhetssertifikat"
        party_uuid = p.uuid("partyuuid")
        ttl = p.integer("ttl", low=1)
        scope = p.scopes(TESTTOOLS_PERSONAL_SCOPE)
        delegation_source = p.text("delegationSource")
        if pid is not None and (user_id is None or party_id is None):
            user = self.register.user_by_ssn(pid)
            if user is None:
                for name in ("userId", "partyId"):
                    p.errors.setdefault(name, f"{_MISSING} (pid {pid} is not in the test register)")
            else:
                user_id = user_id or user.user_id
                party_id = party_id or user.party_id
                username = username or user.user_name
                party = self.register.party(user.party_id)
                if party_uuid is None and party is not None and party.party_uuid is not None:
                    party_uuid = str(party.party_uuid)
        p.check()
        assert pid is not None and user_id is not None and party_id is not None and scope is not None
        level = str(auth_level or 3)
        claims: dict[str, Any] = {
            c.AUTHENTICATE_METHOD: "NotDefined",
            c.AUTH_LEVEL: level,
            "client_amr": client_amr,
            "pid": pid,
            "token_type": c.BEARER,
            "client_id": str(uuid.uuid4()),
            "acr": c.ACR_HIGH if level == "4" else c.ACR_SUBSTANTIAL if level == "3" else c.ACR_LOW,
            c.SCOPE: scope,
            "client_orgno": consumer_org,
            c.CONSUMER: c.consumer(consumer_org),
            "actual_iss": ACTUAL_ISSUER,
        }
        if delegation_source:
            claims["delegation_source"] = delegation_source
        claims[c.NAME_ID] = user_id
        claims[c.USER_ID] = user_id
        claims[c.PARTY_ID] = party_id
        if username:
            claims[c.USERNAME] = username
        if party_uuid:
            claims[c.PARTY_UUID] = party_uuid
        claims["jti"] = str(uuid.uuid4())
        return tokens.issue(claims, lifetime=timedelta(seconds=ttl or TESTTOOLS_TTL_SECONDS))

    def enterprise_token(self, params: Mapping[str, str], tokens: TokenService) -> str:
        """``GET /api/GetEnterpriseToken``: an organisation's (or service owner's) platform token."""
        p = _Params(params)
        p.text("env", pattern=_IDENTIFIER)
        scope = p.scopes(None)
        org = p.text("org", pattern=_ORG_CODE)
        org_number = p.text("orgNo", pattern=_ORG_NUMBER)
        supplier = p.text("supplierOrgNo", pattern=_ORG_NUMBER)
        ttl = p.integer("ttl", low=1)
        delegation_source = p.text("delegation_source")
        if org_number is None and "orgNo" not in p.errors:
            owner = self.register.service_owner(org) if org else None
            if owner is not None and owner.org_number:
                org_number = owner.org_number
            else:
                p.errors["orgNo"] = _MISSING
        p.check()
        assert scope is not None and org_number is not None
        claims: dict[str, Any] = {
            c.SCOPE: scope,
            "token_type": c.BEARER,
            "client_id": str(uuid.uuid4()),
            "jti": secrets.token_urlsafe(32),
            c.CONSUMER: c.consumer(org_number),
            c.ORG_NUMBER: org_number,
            c.AUTHENTICATE_METHOD: "maskinporten",
            c.AUTH_LEVEL: 3,
            "actual_iss": ACTUAL_ISSUER,
        }
        if org:
            claims[c.ORG] = org
        if supplier:
            claims["supplier"] = c.consumer(supplier)
        if delegation_source:
            claims["delegation_source"] = delegation_source
        return tokens.issue(claims, lifetime=timedelta(seconds=ttl or TESTTOOLS_TTL_SECONDS))

    def system_user_token(self, params: Mapping[str, str], tokens: TokenService) -> str:
        """``GET /api/GetSystemUserToken``: a system user's platform token."""
        p = _Params(params)
        p.text("env", pattern=_IDENTIFIER)
        system_user_id = p.uuid("systemUserId", required=True)
        vendor = p.text("orgNo", pattern=_ORG_NUMBER)
        supplier = p.text("supplierOrgNo", pattern=_ORG_NUMBER)
        customer = p.text("systemUserOrg", pattern=_ORG_NUMBER)
        system_id = p.text("systemId", pattern=_IDENTIFIER)
        client_id = p.text("clientId", pattern=_IDENTIFIER)
        ttl = p.integer("ttl", low=1)
        scope = p.scopes(TESTTOOLS_PERSONAL_SCOPE)
        p.check()
        assert system_user_id is not None and scope is not None
        known = self.register.system_user(system_user_id)
        if known is not None:
            customer = customer or known.org_number
            system_id = system_id or known.system_id
            vendor = vendor or known.supplier_org_number
        claims: dict[str, Any] = {
            c.SCOPE: scope,
            "client_id": client_id or str(uuid.uuid4()),
            c.CONSUMER: c.consumer(vendor or TESTTOOLS_DEFAULT_CONSUMER),
            "jti": secrets.token_urlsafe(32),
            c.AUTHORIZATION_DETAILS: c.system_user_details(
                system_user_id=system_user_id,
                system_user_org_number=customer or TESTTOOLS_DEFAULT_CONSUMER,
                system_id=system_id or str(uuid.uuid4()),
            ),
            c.AUTHENTICATE_METHOD: "systemuser",
            c.AUTH_LEVEL: 3,
            "token_type": c.BEARER,
            "actual_iss": ACTUAL_ISSUER,
        }
        if supplier:
            claims["supplier"] = c.consumer(supplier)
        return tokens.issue(claims, lifetime=timedelta(seconds=ttl or TESTTOOLS_TTL_SECONDS))

    def self_identified_user_token(self, params: Mapping[str, str], tokens: TokenService) -> str:
        """``GET /api/GetSelfIdentifiedUserToken``: a self-identified user's platform token."""
        p = _Params(params)
        p.text("env", pattern=_IDENTIFIER)
        user_id = p.integer("userId", low=1)
        party_id = p.integer("partyId", low=1)
        party_uuid = p.uuid("partyuuid")
        username = p.text("username", pattern=_IDENTIFIER)
        ttl = p.integer("ttl", low=1)
        scope = p.scopes(c.PORTAL_SCOPE)
        if not p.errors:
            user = (
                self.register.user(user_id)
                if user_id is not None
                else self.register.user_by_username(username)
                if username
                else None
            )
            if user is not None:
                user_id = user.user_id
                party_id = party_id or user.party_id
                username = username or user.user_name
                party = self.register.party(user.party_id)
                if party_uuid is None and party is not None and party.party_uuid is not None:
                    party_uuid = str(party.party_uuid)
            for name, value in (("userId", user_id), ("partyId", party_id), ("username", username)):
                if value is None:
                    p.errors[name] = f"{_MISSING} (or name a self-identified user of the test register)"
        p.check()
        assert user_id is not None and party_id is not None and username is not None and scope is not None
        claims = c.self_identified_claims(
            user_id=user_id, username=username, party_id=party_id, party_uuid=party_uuid, scope=scope
        )
        claims["actual_iss"] = ACTUAL_ISSUER
        return tokens.issue(claims, lifetime=timedelta(seconds=ttl or TESTTOOLS_TTL_SECONDS))
