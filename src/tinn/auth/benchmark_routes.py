"""A protected no-op for ``benchmarks/auth_verify.py``: verify the token, make one policy decision.

Served only with ``TINN_BENCHMARK_ROUTES=true`` (otherwise the path does not exist: 404, empty).

``GET /_benchmark/authorize/{org}/{app}/{partyId}[?action=read]`` answers 200 ``{"authorized": true}``
when the app's policy permits ``action`` on the party for the caller, else 403 as the App API's
policy checks answer: the failed obligations as the body (e.g. ``{"RequiredAuthenticationLevel":
"2"}``), or empty. No token is 401.

The route reads its parameters from the request itself and is mounted right after ``/health`` so
that the benchmark compares the cost of authentication and authorization, not of FastAPI's parameter
binding or of the position in the route table (both measured separately in the benchmark).
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from tinn.auth.dependencies import require_principal
from tinn.auth.pdp import ResourceRef
from tinn.http.errors import JSON, EmptyError, forbidden, framework_problem
from tinn.http.responses import json_response
from tinn.services import get_services

router = APIRouter(include_in_schema=False)


@router.get("/_benchmark/authorize/{org}/{app}/{partyId:int}")
async def authorize(request: Request) -> Response:
    services = get_services(request)
    if not services.settings.benchmark_routes:
        raise EmptyError(404)
    principal = await require_principal(request)
    org: str = request.path_params["org"]
    app: str = request.path_params["app"]
    party_id: int = request.path_params["partyId"]
    if services.apps.get(org, app) is None:
        raise framework_problem(404, request)
    action = request.query_params.get("action", "read")
    enforcement = services.authorizer.decide(principal, action, ResourceRef(org, app, party_id))
    if enforcement.authorized:
        return json_response({"authorized": True})
    if enforcement.failed_obligations:
        return Response(orjson.dumps(dict(enforcement.failed_obligations)), 403, media_type=JSON)
    raise forbidden()
