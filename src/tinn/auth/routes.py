"""HTTP routes of the authentication context.

* ``router``: the platform's ``/authentication/api/v1`` endpoints (exchange, refresh, OpenID
  discovery and JWKS).
* ``testidp_router``: the test identity provider under ``/authentication/api/v1/testidp``.
* ``testtools_router``: Altinn TestTools-compatible generators under ``/api``.

The test routers answer 404 while the test IdP is off, and mark every response they give with
``X-Tinn-Test-Identity: true``.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tinn.auth import claims as c
from tinn.auth.dependencies import COOKIE_STUDIO_RUNTIME, require_principal
from tinn.auth.exchange import (
    ENTERPRISE_USER_HEADER,
    exchange,
    exchange_id_porten,
    openid_configuration,
    refresh,
)
from tinn.auth.principal import Principal
from tinn.auth.testidp import (
    DEFAULT_AMR,
    TEST_MARKER_HEADER,
    OAuthError,
    ParameterErrors,
    TestIdentityProvider,
)
from tinn.auth.tokens import TokenError
from tinn.auth.trusted import Provider
from tinn.http.errors import TEXT, ApiError, EmptyError
from tinn.http.responses import JsonResponse
from tinn.services import Services, get_services

PLATFORM_PREFIX = "/authentication/api/v1"


def _text(body: str, status: int = 200) -> Response:
    return Response(body.encode(), status, media_type=TEXT)


# Platform endpoints ---------------------------------------------------------------------------

router = APIRouter(prefix=PLATFORM_PREFIX, tags=["Authentication"])


@router.get(
    "/exchange/{tokenProvider}",
    summary="Exchange an ID-porten or Maskinporten token for a platform token",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "The platform token (JWT)."}},
)
async def exchange_token(
    request: Request,
    tokenProvider: str,
    test: bool = False,
) -> Response:
    services = get_services(request)
    token = await exchange(
        tokenProvider,
        request.headers.get("authorization"),
        test=test,
        enterprise_user=request.headers.get(ENTERPRISE_USER_HEADER),
        trusted=services.auth.trusted,
        tokens=services.auth.tokens,
        register=services.register,
    )
    return _text(token)


@router.get(
    "/refresh",
    summary="A new platform token with the caller's claims",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "The platform token (JWT)."}},
)
async def refresh_token(
    request: Request,
    principal: Annotated[Principal, Depends(require_principal)],
    enrich_pid: Annotated[bool, Query(alias="enrichPid")] = False,
) -> Response:
    services = get_services(request)
    return _text(
        refresh(principal, enrich_pid=enrich_pid, tokens=services.auth.tokens, register=services.register)
    )


@router.get("/openid/.well-known/openid-configuration", summary="OpenID discovery for platform tokens")
async def openid_configuration_document(request: Request) -> JsonResponse:
    settings = get_services(request).settings
    return JsonResponse(openid_configuration(settings.effective_jwt_issuer, settings.effective_platform_url))


@router.get(
    "/openid/.well-known/openid-configuration/jwks", summary="The keys platform tokens are signed with"
)
async def jwks(request: Request) -> JsonResponse:
    return JsonResponse(get_services(request).auth.keys.jwks())


# Test routes --------------------------------------------------------------------------------


class TestOnlyRoute(APIRoute):
    """Marks every response, error responses included, as coming from a test-only endpoint."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def marked(request: Request) -> Response:
            try:
                response = await handler(request)
            except ApiError as exc:
                response = exc.render(request)
            response.headers[TEST_MARKER_HEADER] = "true"
            return response

        return marked


def _test_idp(request: Request) -> tuple[Services, TestIdentityProvider]:
    services = get_services(request)
    if services.auth.test_idp is None:
        raise EmptyError(404)
    return services, services.auth.test_idp


def _oauth_error(exc: OAuthError) -> JsonResponse:
    return JsonResponse(exc.body(), status_code=exc.status)


async def _form_or_json(request: Request) -> dict[str, str]:
    """A request body's fields, from a form or a JSON object (strings only)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            document = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_request", "the body is not valid JSON") from None
        if not isinstance(document, dict):
            raise OAuthError("invalid_request", "the body must be a JSON object")
        return {str(k): str(v) for k, v in document.items() if isinstance(v, str | int)}
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    raise OAuthError("invalid_request", "send the parameters as application/x-www-form-urlencoded")


testidp_router = APIRouter(
    prefix=f"{PLATFORM_PREFIX}/testidp",
    tags=["Test identity provider (test only)"],
    route_class=TestOnlyRoute,
)


@testidp_router.get("/jwks", summary="Keys of the test issuers")
async def testidp_jwks(request: Request) -> JsonResponse:
    _, idp = _test_idp(request)
    return JsonResponse(idp.jwks())


@testidp_router.get(
    "/maskinporten/.well-known/oauth-authorization-server", summary="Test Maskinporten metadata"
)
async def maskinporten_metadata(request: Request) -> JsonResponse:
    _, idp = _test_idp(request)
    return JsonResponse(idp.maskinporten_metadata())


@testidp_router.post("/maskinporten/token", summary="Test Maskinporten: JWT-bearer grant")
async def maskinporten_token(request: Request) -> JsonResponse:
    _, idp = _test_idp(request)
    try:
        fields = await _form_or_json(request)
        return JsonResponse(idp.maskinporten_token(fields.get("grant_type"), fields.get("assertion")))
    except OAuthError as exc:
        return _oauth_error(exc)


@testidp_router.get("/idporten/.well-known/openid-configuration", summary="Test ID-porten metadata")
async def idporten_metadata(request: Request) -> JsonResponse:
    _, idp = _test_idp(request)
    return JsonResponse(idp.idporten_metadata())


def _acr_from(value: str | None) -> str:
    """An ``acr`` value, or the authentication level it names (``3`` → ``idporten-loa-substantial``)."""
    if value is None:
        return c.ACR_SUBSTANTIAL
    if value.isascii() and value.isdigit() and len(value) == 1:
        try:
            return c.acr_for_level(int(value))
        except ValueError:
            raise OAuthError("invalid_request", f"acr level {value} is not 0-4") from None
    return value


@testidp_router.post("/idporten/token", summary="Test ID-porten: a token for a test person (scripts)")
async def idporten_token(request: Request) -> JsonResponse:
    _, idp = _test_idp(request)
    try:
        fields = await _form_or_json(request)
        return JsonResponse(
            idp.idporten_token(
                pid=fields.get("pid", ""),
                acr=_acr_from(fields.get("acr")),
                scope=fields.get("scope") or c.DEFAULT_PERSON_SCOPE,
                amr=fields.get("amr") or DEFAULT_AMR,
            )
        )
    except OAuthError as exc:
        return _oauth_error(exc)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>{title} (TEST ONLY)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}}
.test{{background:#b00020;color:#fff;padding:.75rem 1rem;font-weight:bold}}
label{{display:block;margin:.75rem 0 .25rem}}textarea{{width:100%;height:7rem;font-family:monospace}}
select,input{{font-size:1rem;padding:.25rem}}.error{{color:#b00020}}</style></head>
<body><p class="test">TEST IDENTITY PROVIDER - for testing only. These identities are fictitious;
never enable this in production.</p>
<h1>{title}</h1>
{body}
</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status)


def _safe_goto(value: str | None) -> str | None:
    """A same-site path to return to; anything else (other sites, schemes, odd characters) is ignored."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if any(ord(ch) < 0x20 or ch in "\\" for ch in value):
        return None
    return value


def _login_form(idp: TestIdentityProvider, *, goto: str | None, error: str | None = None) -> str:
    options = "".join(
        f'<option value="{html.escape(pid)}">'
        f"{html.escape(name)} ({html.escape(pid)}, user {user_id})</option>"
        for pid, name, user_id in idp.test_persons()
    )
    levels = "".join(
        f'<option value="{html.escape(acr)}"{" selected" if acr == c.ACR_SUBSTANTIAL else ""}>'
        f"{html.escape(label)}</option>"
        for acr, label in (
            (c.ACR_SUBSTANTIAL, "Substantial (level 3)"),
            (c.ACR_HIGH, "High (level 4)"),
            (c.ACR_LOW, "Low (level 0)"),
        )
    )
    message = f'<p class="error">{html.escape(error)}</p>' if error else ""
    hidden = f'<input type="hidden" name="goto" value="{html.escape(goto)}">' if goto else ""
    return (
        f'{message}<form method="post" action="{PLATFORM_PREFIX}/testidp/idporten/login">'
        f'<label for="pid">Test person</label><select id="pid" name="pid">{options}</select>'
        f'<label for="acr">Security level</label><select id="acr" name="acr">{levels}</select>'
        f'<label for="scope">Scopes</label><input id="scope" name="scope" size="60" '
        f'value="{html.escape(c.DEFAULT_PERSON_SCOPE)}">'
        f'{hidden}<p><button type="submit">Log in</button></p></form>'
        "<p>The ID-porten token is exchanged for a platform token, which is set as the "
        f"<code>{COOKIE_STUDIO_RUNTIME}</code> cookie and shown on the next page.</p>"
    )


@testidp_router.get("/idporten/login", summary="Test ID-porten: pick a test person (HTML)")
async def idporten_login_page(request: Request, goto: str | None = None) -> HTMLResponse:
    _, idp = _test_idp(request)
    return _page("Log in as a test person", _login_form(idp, goto=_safe_goto(goto)))


@testidp_router.post("/idporten/login", summary="Test ID-porten: log in as a test person (HTML)")
async def idporten_login(request: Request) -> Response:
    services, idp = _test_idp(request)
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    goto = _safe_goto(fields.get("goto"))
    try:
        issued = idp.idporten_token(
            pid=fields.get("pid", ""),
            acr=_acr_from(fields.get("acr")),
            scope=fields.get("scope") or c.DEFAULT_PERSON_SCOPE,
        )
    except OAuthError as exc:
        return _page("Log in as a test person", _login_form(idp, goto=goto, error=exc.description), 400)
    external = issued["access_token"]
    try:
        upstream = await services.auth.trusted.verify(Provider.ID_PORTEN, external)
        platform = exchange_id_porten(upstream, tokens=services.auth.tokens, register=services.register)
    except (TokenError, ApiError):
        error = "The test person cannot be exchanged (does the scope include an altinn: scope?)."
        return _page("Log in as a test person", _login_form(idp, goto=goto, error=error), 400)
    response: Response
    if goto is not None:
        response = RedirectResponse(goto, status_code=303)
    else:
        body = (
            f"<p>Logged in as {html.escape(fields.get('pid', ''))}. The platform token is set as the "
            f"<code>{COOKIE_STUDIO_RUNTIME}</code> cookie.</p>"
            f'<label for="platform">Platform token</label><textarea id="platform" readonly>'
            f"{html.escape(platform)}</textarea>"
            f'<label for="idporten">ID-porten token</label><textarea id="idporten" readonly>'
            f"{html.escape(external)}</textarea>"
            f'<p><a href="{PLATFORM_PREFIX}/testidp/idporten/login">Log in as someone else</a></p>'
        )
        response = _page("Logged in", body)
    response.set_cookie(
        COOKIE_STUDIO_RUNTIME,
        platform,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


# TestTools ------------------------------------------------------------------------------------

testtools_router = APIRouter(
    prefix="/api", tags=["TestTools token generator (test only)"], route_class=TestOnlyRoute
)

_Generator = Callable[[TestIdentityProvider, Request], str]


def _dump(token: str) -> str:
    """TestTools' ``dump``: the decoded header and payload."""
    parts = []
    for segment in token.split(".")[:2]:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        parts.append(json.dumps(json.loads(decoded), indent=2, ensure_ascii=False))
    return "\n.\n".join(parts)


def _generate(request: Request, make: _Generator) -> Response:
    _, idp = _test_idp(request)
    try:
        token = make(idp, request)
    except ParameterErrors as exc:
        return JsonResponse(exc.errors, status_code=400)
    if any(k.lower() == "dump" and v for k, v in request.query_params.items()):
        return _text(_dump(token))
    return _text(token)


@testtools_router.get(
    "/GetPersonalToken", summary="TestTools: a person's platform token", response_class=Response
)
async def get_personal_token(request: Request) -> Response:
    tokens = get_services(request).auth.tokens
    return _generate(request, lambda idp, r: idp.personal_token(r.query_params, tokens))


@testtools_router.get(
    "/GetEnterpriseToken", summary="TestTools: an organisation's platform token", response_class=Response
)
async def get_enterprise_token(request: Request) -> Response:
    tokens = get_services(request).auth.tokens
    return _generate(request, lambda idp, r: idp.enterprise_token(r.query_params, tokens))


@testtools_router.get(
    "/GetSystemUserToken", summary="TestTools: a system user's platform token", response_class=Response
)
async def get_system_user_token(request: Request) -> Response:
    tokens = get_services(request).auth.tokens
    return _generate(request, lambda idp, r: idp.system_user_token(r.query_params, tokens))


@testtools_router.get(
    "/GetSelfIdentifiedUserToken",
    summary="TestTools: a self-identified user's platform token",
    response_class=Response,
)
async def get_self_identified_user_token(request: Request) -> Response:
    tokens = get_services(request).auth.tokens
    return _generate(request, lambda idp, r: idp.self_identified_user_token(r.query_params, tokens))
