"""Scope checks for instance routes: an app's custom ``apiScopes`` (enforced) and the default scopes
(measured, or enforced with ``TINN_ENFORCE_DEFAULT_SCOPES``)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import REGISTRY

import tests.conftest as conftest
from tests.auth import minting as m
from tests.conftest import SHARED_APPS, LiveServer, make_settings
from tinn.appdef.definition import AppDefinition
from tinn.appdef.models import ApiScopes, ApiScopesConfiguration
from tinn.appdef.registry import load_apps
from tinn.auth import claims as c
from tinn.auth.dependencies import require_principal
from tinn.auth.principal import Principal
from tinn.auth.scopes import (
    Access,
    CallerClass,
    ScopePolicy,
    access_of,
    check_scopes,
    has_custom_scopes,
    require_instance_scopes,
    requirement,
)
from tinn.http.responses import JsonResponse
from tinn.services import get_services
from tinn.settings import BUNDLED_APPS_DIR

# Under a prefix of its own: the App API's instance routes would match first.
probe = APIRouter()


@probe.api_route(
    "/_probe/{org}/{app}/instances/{instanceOwnerPartyId}/{instanceGuid}",
    methods=["GET", "HEAD", "OPTIONS", "PUT", "POST", "DELETE"],
)
async def instance(principal: Annotated[Principal, Depends(require_instance_scopes)]) -> JsonResponse:
    return JsonResponse({"kind": principal.kind.value})


@probe.post("/_probe/{org}/{app}/v1/data")
async def stateless(
    request: Request, org: str, app: str, principal: Annotated[Principal, Depends(require_principal)]
) -> JsonResponse:
    definition = get_services(request).apps.get(org, app)
    assert definition is not None
    check_scopes(request, principal, definition, access=Access.READ)  # Altinn: a read, though a POST
    return JsonResponse({"kind": principal.kind.value})


def _write_app(root: Path, name: str, api_scopes: dict[str, Any], texts: dict[str, dict[str, str]]) -> None:
    folder = root / "ttd" / name
    shutil.copytree(SHARED_APPS / "ttd" / "basic", folder)
    metadata_file = folder / "config" / "applicationmetadata.json"
    metadata = json.loads(metadata_file.read_text(encoding="utf-8-sig"))
    metadata["id"] = f"ttd/{name}"
    metadata["apiScopes"] = api_scopes
    metadata_file.write_text(json.dumps(metadata), encoding="utf-8")
    for language, resources in texts.items():
        body = {"language": language, "resources": [{"id": k, "value": v} for k, v in resources.items()]}
        (folder / "config" / "texts" / f"resource.{language}.json").write_text(
            json.dumps(body), encoding="utf-8"
        )


@pytest.fixture(scope="module")
def apps_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scoped-apps")
    _write_app(
        root,
        "scoped",
        {
            "users": {
                "read": "custom:[app].read",
                "write": "custom:[app].write",
                "errorMessageTextResourceKey": "scopes.users",
            },
            "serviceOwners": {"read": "custom:[app]/so.read", "write": "custom:[app]/so.write"},
        },
        {
            "nb": {"appName": "scoped", "scopes.users": "Mangler tilgang"},
            "en": {"appName": "scoped", "scopes.users": "Missing access"},
        },
    )
    # Only a read scope for users: everything else falls back to the default scopes.
    _write_app(
        root,
        "usersread",
        {
            "users": {"read": "custom:usersread.read", "write": "  "},
            "errorMessageTextResourceKey": "scopes.all",
        },
        {"nb": {"appName": "usersread", "scopes.all": "Ikke nok scope"}},
    )
    return root


def _probe_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, apps_dir: Path, **overrides: Any
) -> LiveServer:
    def create_app_with_probe(*args: Any, **kwargs: Any) -> FastAPI:
        app = original(*args, **kwargs)
        app.include_router(probe)
        return app

    original = conftest.create_app
    settings = make_settings(
        database_url,
        tmp_path_factory.mktemp("scopes"),
        apps=[apps_dir, BUNDLED_APPS_DIR, SHARED_APPS],
        **overrides,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conftest, "create_app", create_app_with_probe)
        return LiveServer(settings).start()


@pytest.fixture(scope="module")
def measuring(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, apps_dir: Path
) -> Iterator[LiveServer]:
    server = _probe_server(database_url, tmp_path_factory, apps_dir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def enforcing(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, apps_dir: Path
) -> Iterator[LiveServer]:
    server = _probe_server(database_url, tmp_path_factory, apps_dir, enforce_default_scopes=True)
    try:
        yield server
    finally:
        server.stop()


def instance_path(app: str) -> str:
    return f"/_probe/ttd/{app}/instances/501337/{uuid.uuid4()}"


def send(server: LiveServer, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else m.bearer(token)
    with httpx.Client(base_url=server.url) as client:
        return client.request(method, path, headers=headers)


def invalid_count(policy: str, caller: str, access: str, refused: str) -> float:
    labels = {"policy": policy, "caller": caller, "access": access, "refused": refused}
    return REGISTRY.get_sample_value("tinn_invalid_scopes_total", labels) or 0.0


# --- custom scopes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "method", "status"),
    [
        ("custom:scoped.read", "GET", 200),
        ("custom:scoped.read", "HEAD", 200),
        ("custom:scoped.read", "OPTIONS", 200),
        ("custom:scoped.read", "PUT", 403),
        ("custom:scoped.read", "DELETE", 403),
        ("custom:scoped.write", "POST", 200),
        ("custom:scoped.write", "GET", 403),
        ("openid custom:scoped.read profile", "GET", 200),
        ("custom:[app].read", "GET", 403),  # the placeholder is the app's name
        ("custom:SCOPED.read", "GET", 403),  # scopes match exactly
        ("altinn:portal/enduser", "GET", 200),  # the portal's scope always passes for users
        ("altinn:portal/enduser", "PUT", 200),
        ("altinn:serviceowner/instances.read", "GET", 200),  # as app-lib's user set has it
        ("altinn:serviceowner/instances.read", "PUT", 403),
        # The app's own scopes replace the default ones.
        ("altinn:instances.read altinn:instances.write", "GET", 403),
        ("", "GET", 403),
    ],
)
def test_custom_user_scopes(measuring: LiveServer, scope: str, method: str, status: int) -> None:
    response = send(measuring, method, instance_path("scoped"), m.person(measuring, scope=scope))
    assert response.status_code == status


def test_refusal_is_a_problem_in_the_callers_language(measuring: LiveServer) -> None:
    path = instance_path("scoped")
    sophie = send(measuring, "PUT", path, m.person(measuring, scope="custom:scoped.read"))
    assert sophie.status_code == 403
    assert sophie.headers["content-type"] == "application/json; charset=utf-8"
    # Her language is nn, which the app lacks: Bokmål.
    assert sophie.json() == {
        "title": "Forbidden",
        "status": 403,
        "detail": "Mangler tilgang",
        "instance": path,
    }
    anna = send(measuring, "PUT", path, m.person(measuring, 1003, scope="custom:scoped.read"))
    assert anna.json()["detail"] == "Missing access"


@pytest.mark.parametrize(
    ("mint", "scope", "status"),
    [
        (m.service_owner, "custom:scoped/so.read", 200),
        (m.service_owner, "altinn:serviceowner/instances.read", 403),
        (m.service_owner, "altinn:portal/enduser", 403),
        (m.service_owner, "custom:scoped.read", 403),  # the users' scope is not the service owners'
        (m.system_user, "custom:scoped.read", 200),  # system users and organisations count as users
        (m.system_user, "altinn:instances.read", 403),
        (m.organisation, "custom:scoped.read", 200),
        (m.organisation, "custom:scoped/so.read", 403),
        (m.self_identified, "altinn:portal/enduser", 200),
        (m.self_identified, "custom:scoped.write", 403),
    ],
)
def test_custom_scopes_by_caller_class(measuring: LiveServer, mint: Any, scope: str, status: int) -> None:
    response = send(measuring, "GET", instance_path("scoped"), mint(measuring, scope=scope))
    assert response.status_code == status
    if status == 403:
        expected = "Insufficient scope" if mint is m.service_owner else "Mangler tilgang"
        assert response.json()["detail"] == expected


def test_custom_refusals_are_counted(measuring: LiveServer) -> None:
    before = invalid_count("custom", "serviceOwners", "write", "true")
    send(measuring, "PUT", instance_path("scoped"), m.service_owner(measuring, scope="custom:scoped/so.read"))
    assert invalid_count("custom", "serviceOwners", "write", "true") == before + 1


def test_explicit_access_overrides_the_method(measuring: LiveServer) -> None:
    token = m.person(measuring, scope="custom:scoped.read")
    assert send(measuring, "POST", "/_probe/ttd/scoped/v1/data", token).status_code == 200
    assert send(measuring, "POST", instance_path("scoped"), token).status_code == 403


def test_anonymous_and_unknown_apps(measuring: LiveServer) -> None:
    anonymous = send(measuring, "GET", instance_path("scoped"), None)
    assert anonymous.status_code == 401
    unknown = send(measuring, "GET", "/_probe/ttd/nope/instances/1/2", m.person(measuring))
    assert unknown.status_code == 404
    assert unknown.json()["title"] == "Not Found"


# --- default scopes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mint", "scope", "method", "caller", "access"),
    [
        (m.person, "openid", "GET", "users", "read"),
        (m.person, "altinn:instances.read", "PUT", "users", "write"),
        (m.person, "altinn:instances.write", "GET", "users", "read"),
        (m.system_user, "altinn:serviceowner/instances.read", "GET", "users", "read"),
        (m.organisation, "", "DELETE", "users", "write"),
        (m.service_owner, "altinn:instances.read", "GET", "serviceOwners", "read"),
        (m.service_owner, "altinn:serviceowner/instances.read", "POST", "serviceOwners", "write"),
    ],
)
def test_missing_default_scope_is_measured_then_enforced(
    measuring: LiveServer,
    enforcing: LiveServer,
    mint: Any,
    scope: str,
    method: str,
    caller: str,
    access: str,
) -> None:
    before = invalid_count("default", caller, access, "false")
    served = send(measuring, method, instance_path("basic"), mint(measuring, scope=scope))
    assert served.status_code == 200
    assert invalid_count("default", caller, access, "false") == before + 1

    before = invalid_count("default", caller, access, "true")
    path = instance_path("basic")
    refused = send(enforcing, method, path, mint(enforcing, scope=scope))
    assert refused.status_code == 403
    assert refused.json() == {
        "title": "Forbidden",
        "status": 403,
        "detail": "Insufficient scope",
        "instance": path,
    }
    assert invalid_count("default", caller, access, "true") == before + 1


@pytest.mark.parametrize(
    ("mint", "scope", "method"),
    [
        (m.person, "altinn:instances.read", "GET"),
        (m.person, "altinn:instances.write", "PATCH"),
        (m.person, "altinn:portal/enduser", "DELETE"),
        (m.self_identified, "altinn:portal/enduser", "GET"),
        (m.system_user, "altinn:instances.read altinn:instances.write", "PUT"),
        (m.organisation, "altinn:instances.write", "POST"),
        (m.service_owner, "altinn:serviceowner/instances.read", "GET"),
        (m.service_owner, "altinn:serviceowner/instances.write", "PUT"),
    ],
)
def test_default_scopes_accepted(enforcing: LiveServer, mint: Any, scope: str, method: str) -> None:
    if method == "PATCH":
        method = "POST"  # the probe has no PATCH; any non-read method needs the write scope
    response = send(enforcing, method, instance_path("basic"), mint(enforcing, scope=scope))
    assert response.status_code == 200


def test_partial_custom_configuration_falls_back_to_the_defaults(
    measuring: LiveServer, enforcing: LiveServer
) -> None:
    path = instance_path("usersread")
    # Users' read: the custom scope.
    assert send(enforcing, "GET", path, m.person(enforcing, scope="custom:usersread.read")).status_code == 200
    refused = send(measuring, "GET", path, m.person(measuring, scope="altinn:instances.read"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Ikke nok scope"  # the top-level message key
    # Users' write is blank, service owners have nothing: the default scopes, measured or enforced.
    write_token = m.person(measuring, scope="custom:usersread.read")
    assert send(measuring, "PUT", path, write_token).status_code == 200
    assert send(enforcing, "PUT", path, m.person(enforcing, scope="custom:usersread.read")).status_code == 403
    assert (
        send(enforcing, "PUT", path, m.person(enforcing, scope="altinn:instances.write")).status_code == 200
    )
    service_owner = m.service_owner(enforcing, scope="altinn:serviceowner/instances.read")
    assert send(enforcing, "GET", path, service_owner).status_code == 200


# --- the requirement itself -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def definitions(apps_dir: Path) -> dict[str, AppDefinition]:
    registry = load_apps([apps_dir, SHARED_APPS])
    return {definition.app: definition for definition in registry}


def test_requirement_sets(definitions: dict[str, AppDefinition]) -> None:
    user = Principal.from_claims(
        c.person_claims(user_id=1, username=None, party_id=2, party_uuid=None, auth_level=3, auth_method="x")
    )
    owner = Principal.from_claims(c.organisation_claims(org_number="405003309", org="ttd"))
    scoped = definitions["scoped"]
    read = requirement(scoped, user, Access.READ)
    assert read.policy is ScopePolicy.CUSTOM
    assert read.caller is CallerClass.USERS
    assert read.accepted == {
        "custom:scoped.read",
        "altinn:portal/enduser",
        "altinn:serviceowner/instances.read",
    }
    assert read.message_key == "scopes.users"
    owner_write = requirement(scoped, owner, Access.WRITE)
    assert owner_write.accepted == {"custom:scoped/so.write"}
    assert owner_write.message_key == "authorization.scopes.insufficient"
    basic = requirement(definitions["basic"], owner, Access.WRITE)
    assert basic.policy is ScopePolicy.DEFAULT
    assert basic.accepted == {"altinn:serviceowner/instances.write"}
    assert has_custom_scopes(scoped) and has_custom_scopes(definitions["usersread"])
    assert not has_custom_scopes(definitions["basic"])


def test_blank_scopes_are_not_configured(definitions: dict[str, AppDefinition]) -> None:
    basic = definitions["basic"]
    blank = ApiScopesConfiguration(users=ApiScopes(read=" ", write=""), service_owners=ApiScopes())
    metadata = basic.metadata.model_copy(update={"api_scopes": blank})
    assert not has_custom_scopes(dataclasses.replace(basic, metadata=metadata))


@pytest.mark.parametrize(
    ("method", "access"),
    [("GET", Access.READ), ("head", Access.READ), ("OPTIONS", Access.READ)]
    + [(method, Access.WRITE) for method in ("POST", "PUT", "PATCH", "DELETE")],
)
def test_access_of(method: str, access: Access) -> None:
    assert access_of(method) is access
