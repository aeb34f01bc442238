"""The Events API under ``/events/api/v1`` (platform notes 4.2-4.5), plus Tinn's delivery log.

Error families follow Altinn's controllers: query validation on the feeds and ``POST /app`` are
ProblemDetails, model-binding failures ValidationProblemDetails, subscription refusals a JSON
string message, authentication/authorisation failures empty 401/403.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from tinn.auth.dependencies import require_principal
from tinn.auth.principal import Principal
from tinn.events import feed, subscriptions
from tinn.events.authorization import PARTY_PREFIX, SCOPE_PUBLISH, SCOPE_SUBSCRIBE
from tinn.events.context import EventsContext
from tinn.events.models import (
    RESOURCE_PREFIX,
    EventValidationError,
    app_resource,
    delivery_json,
    parse_cloud_event,
    parse_time_with_offset,
    subscription_json,
)
from tinn.http.errors import (
    JSON,
    PROBLEM_JSON,
    RFC9110_TYPES,
    ApiError,
    EmptyError,
    PlainError,
    Problem,
    forbidden,
    framework_problem,
    trace_id,
)
from tinn.http.responses import JsonResponse
from tinn.services import get_services

PREFIX = "/events/api/v1"
CLOUDEVENTS_JSON = "application/cloudevents+json"

router = APIRouter(prefix=PREFIX, tags=["Events"])

CallerDep = Annotated[Principal, Depends(require_principal)]


def _ctx(request: Request) -> EventsContext:
    return EventsContext.of(get_services(request))


def _bad_request(request: Request, detail: str) -> Problem:
    """ASP.NET's ``Problem(detail, statusCode: 400)``."""
    return Problem(
        400,
        "Bad Request",
        detail,
        type=RFC9110_TYPES[400],
        extensions={"traceId": trace_id(request)},
        media_type=PROBLEM_JSON,
    )


def _validation_problem(request: Request, errors: Mapping[str, list[str]]) -> Problem:
    return Problem(
        400,
        "One or more validation errors occurred.",
        type=RFC9110_TYPES[400],
        extensions={"errors": dict(errors), "traceId": trace_id(request)},
        media_type=PROBLEM_JSON,
    )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _json_body(request: Request) -> Any:
    limit = get_services(request).settings.max_json_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise framework_problem(413, request)
    body = await request.body()
    if len(body) > limit:
        raise framework_problem(413, request)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _validation_problem(request, {"$": ["The request body is not valid JSON."]}) from None


def _next_link(request: Request, after: str, extra: list[tuple[str, str]] | None = None) -> str:
    settings = get_services(request).settings
    params = [(k, v) for k, v in request.query_params.multi_items() if k.lower() != "after"]
    query = urlencode([("after", after), *params, *(extra or [])])
    return f"{settings.effective_platform_url}{request.url.path}?{query}"


def _subscription_error(exc: subscriptions.SubscriptionError) -> ApiError:
    if exc.message is None:
        return EmptyError(exc.status)
    return PlainError(exc.status, exc.message, json=True)


# -- app events ------------------------------------------------------------------------------------


@router.post(
    "/app",
    summary="Register an app event (the app's service owner only)",
    status_code=201,
    responses={201: {"description": "The new event's id (JSON string); Location is the subject"}},
)
async def post_app_event(request: Request, principal: CallerDep) -> Response:
    # Tinn has no PlatformAccessToken: the caller must be the service owner the source names.
    if principal.org is None:
        raise forbidden()
    media = _media_type(request)
    if media != "application/json" and not media.endswith("+json"):
        raise framework_problem(415, request)
    body = await _json_body(request)
    try:
        event = await feed.publish_app_event(_ctx(request), principal, body)
    except feed.AppEventRejected as exc:
        if exc.status == 400:
            raise _bad_request(request, exc.message) from None
        raise PlainError(exc.status, exc.message, json=True) from None
    return Response(orjson.dumps(event["id"]), 201, {"Location": event["subject"]}, media_type=JSON)


def _parse_times(request: Request, time_from: str | None, time_to: str | None) -> tuple[Any, Any]:
    parsed: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in (("from", time_from), ("to", time_to)):
        if value is None or not value.strip():
            parsed[name] = None
            continue
        try:
            parsed[name] = parse_time_with_offset(value)
        except ValueError:
            errors[name] = [f"The value '{value}' is not valid."]
            continue
        if parsed[name] is None:
            raise _bad_request(
                request,
                f"The '{name.capitalize()}' parameter must specify timezone. "
                "E.g. 2022-07-07T11:00:53.3917Z for UTC",
            )
    if errors:
        raise _validation_problem(request, errors)
    return parsed["from"], parsed["to"]


def _check_app_query(
    request: Request,
    after: str | None,
    time_from: str | None,
    time_to: str | None,
    size: int,
    person: str | None,
    unit: str | None,
    party: int,
) -> tuple[Any, Any]:
    if not after and not time_from:
        raise _bad_request(request, "The 'From' or 'After' parameter must be defined.")
    parsed = _parse_times(request, time_from, time_to)
    if size < 1:
        raise _bad_request(request, "The 'Size' parameter must be a number larger that 0.")
    if person and party > 0:
        raise _bad_request(request, "Only one of 'Party' or 'Person' can be defined.")
    if person and not (len(person) == 11 and person.isascii() and person.isdigit()):
        raise _bad_request(request, "Value of 'Person' needs to be exactly 11 digits.")
    if unit and party > 0:
        raise _bad_request(request, "Only one of 'Party' or 'Unit' can be defined.")
    if unit and not (len(unit) == 9 and unit.isascii() and unit.isdigit()):
        raise _bad_request(request, "Value of 'Unit' needs to be exactly 9 digits.")
    return parsed


def _app_subject(request: Request, party: int, unit: str | None, person: str | None) -> str | None:
    """The ``/party/{id}`` subject a party, unit or person filter names; 404 when unknown."""
    if party > 0:
        return f"{PARTY_PREFIX}{party}"
    register = get_services(request).register
    if person:
        found = register.party_by_ssn(person)
    elif unit:
        found = register.party_by_org_number(unit)
    else:
        return None
    if found is None:
        raise framework_problem(404, request)
    return f"{PARTY_PREFIX}{found.party_id}"


async def _app_feed(request: Request, principal: Principal, query: feed.FeedQuery) -> JsonResponse:
    ctx = _ctx(request)
    page = await feed.read_feed(ctx, query, lambda event: ctx.authz.may_receive(principal, event))
    headers = {"next": _next_link(request, page.next_after)} if page.next_after else None
    return JsonResponse(page.events, headers=headers)


@router.get("/app/party", summary="App events about a party (each authorised for the caller)")
async def get_party_events(
    request: Request,
    principal: CallerDep,
    after: str | None = None,
    time_from: Annotated[str | None, Query(alias="from")] = None,
    time_to: Annotated[str | None, Query(alias="to")] = None,
    party: int = 0,
    unit: str | None = None,
    person: Annotated[str | None, Header()] = None,
    source: Annotated[list[str] | None, Query()] = None,
    event_type: Annotated[list[str] | None, Query(alias="type")] = None,
    size: int = feed.DEFAULT_PAGE_SIZE,
) -> JsonResponse:
    parsed_from, parsed_to = _check_app_query(request, after, time_from, time_to, size, person, unit, party)
    if not person and not unit and party <= 0:
        raise _bad_request(
            request,
            "Subject must be specified using either query params party or unit or header value person.",
        )
    query = feed.FeedQuery(
        after=after,
        subject=_app_subject(request, party, unit, person),
        time_from=parsed_from,
        time_to=parsed_to,
        sources=[s for s in source or () if s],
        types=[t for t in event_type or () if t],
        size=size,
    )
    return await _app_feed(request, principal, query)


@router.get("/app/{org}/{app}", summary="An app's events, for service owners")
async def get_app_events(
    request: Request,
    org: str,
    app: str,
    principal: CallerDep,
    after: str | None = None,
    time_from: Annotated[str | None, Query(alias="from")] = None,
    time_to: Annotated[str | None, Query(alias="to")] = None,
    party: int = 0,
    unit: str | None = None,
    person: Annotated[str | None, Header()] = None,
    event_type: Annotated[list[str] | None, Query(alias="type")] = None,
    size: int = feed.DEFAULT_PAGE_SIZE,
) -> JsonResponse:
    if not principal.org:
        raise PlainError(401, "Only orgs can call this api", json=True)
    parsed_from, parsed_to = _check_app_query(request, after, time_from, time_to, size, person, unit, party)
    query = feed.FeedQuery(
        after=after,
        resource=app_resource(org, app),
        subject=_app_subject(request, party, unit, person),
        time_from=parsed_from,
        time_to=parsed_to,
        types=[t for t in event_type or () if t],
        size=size,
    )
    return await _app_feed(request, principal, query)


# -- generic events --------------------------------------------------------------------------------


@router.post("/events", summary="Publish a CloudEvent (scope altinn:events.publish)")
async def post_event(request: Request, principal: CallerDep) -> Response:
    if not principal.has_scope(SCOPE_PUBLISH):
        raise forbidden()
    if _media_type(request) != CLOUDEVENTS_JSON:
        raise framework_problem(415, request)
    ctx = _ctx(request)
    body = await _json_body(request)
    try:
        event = parse_cloud_event(body, now=ctx.clock.now())
    except EventValidationError as exc:
        raise _validation_problem(request, exc.errors) from None
    if not ctx.authz.may_publish(principal, event["resource"]):
        raise forbidden()
    await feed.publish_event(ctx, event)
    return Response(b"", 200)


@router.get("/events", summary="Read CloudEvents of a resource (scope altinn:events.subscribe)")
async def get_events(
    request: Request,
    principal: CallerDep,
    resource: str | None = None,
    after: str | None = None,
    subject: str | None = None,
    alternative_subject: Annotated[str | None, Header(alias="Altinn-AlternativeSubject")] = None,
    event_type: Annotated[list[str] | None, Query(alias="type")] = None,
    size: int = feed.DEFAULT_PAGE_SIZE,
) -> Response:
    if not principal.has_scope(SCOPE_SUBSCRIBE):
        raise forbidden()
    if not resource:
        raise _bad_request(request, "The 'resource' parameter must be defined.")
    if not resource.startswith(RESOURCE_PREFIX):
        raise _bad_request(request, f"The 'resource' parameter must begin with {RESOURCE_PREFIX}.")
    if not after:
        raise _bad_request(request, "The 'after' parameter must be defined.")
    ctx = _ctx(request)
    query = feed.FeedQuery(
        after=after,
        resource=resource,
        subject=subject or None,
        alternative_subject=alternative_subject or None,
        types=[t for t in event_type or () if t],
        case_sensitive_types=True,
        size=feed.DEFAULT_PAGE_SIZE if size < 1 else min(size, feed.MAX_PAGE_SIZE),
    )
    page = await feed.read_feed(ctx, query, lambda event: ctx.authz.may_receive(principal, event))
    headers: dict[str, str] = {}
    if page.next_after:
        extra = []
        if alternative_subject and not subject and page.events and page.events[0].get("subject"):
            extra.append(("subject", str(page.events[0]["subject"])))
        headers["next"] = _next_link(request, page.next_after, extra)
    return Response(orjson.dumps(page.events), 200, headers, media_type=CLOUDEVENTS_JSON)


# -- subscriptions ---------------------------------------------------------------------------------


@router.post(
    "/subscriptions",
    summary="Create a webhook subscription (idempotent; the signing secret is returned only here)",
    status_code=201,
)
async def post_subscription(request: Request, principal: CallerDep) -> JsonResponse:
    body = await _json_body(request)
    try:
        parsed = subscriptions.parse_subscription_request(body)
        row, secret = await subscriptions.create_subscription(_ctx(request), principal, parsed)
    except subscriptions.RequestShapeError as exc:
        raise _validation_problem(request, exc.errors) from None
    except subscriptions.SubscriptionError as exc:
        raise _subscription_error(exc) from None
    return JsonResponse(
        subscription_json(row, secret=secret),
        status_code=201,
        headers={"Location": f"{PREFIX}/subscription/{row.id}"},
    )


@router.get("/subscriptions", summary="The caller's subscriptions (validated or not)")
async def list_subscriptions(request: Request, principal: CallerDep) -> JsonResponse:
    rows = await subscriptions.list_subscriptions(_ctx(request), principal)
    return JsonResponse({"count": len(rows), "subscriptions": [subscription_json(row) for row in rows]})


@router.get("/subscriptions/{subscription_id}", summary="One of the caller's subscriptions")
async def get_subscription(request: Request, subscription_id: int, principal: CallerDep) -> JsonResponse:
    try:
        row = await subscriptions.get_subscription(_ctx(request), principal, subscription_id)
    except subscriptions.SubscriptionError as exc:
        raise _subscription_error(exc) from None
    return JsonResponse(subscription_json(row))


@router.delete("/subscriptions/{subscription_id}", summary="Delete a subscription (its creator only)")
async def delete_subscription(request: Request, subscription_id: int, principal: CallerDep) -> Response:
    try:
        await subscriptions.delete_subscription(_ctx(request), principal, subscription_id)
    except subscriptions.SubscriptionError as exc:
        raise _subscription_error(exc) from None
    return Response(b"", 200)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    summary="Delivery log of a subscription, dead letters included (Tinn), newest first",
)
async def list_deliveries(
    request: Request,
    subscription_id: int,
    principal: CallerDep,
    status: str | None = None,
    before: int | None = None,
    size: int = feed.DEFAULT_PAGE_SIZE,
) -> JsonResponse:
    if status is not None and status not in subscriptions.STATUSES:
        raise _bad_request(
            request, f"The 'status' parameter must be one of {', '.join(subscriptions.STATUSES)}."
        )
    if not 1 <= size <= feed.MAX_PAGE_SIZE:
        raise _bad_request(request, f"The 'size' parameter must be between 1 and {feed.MAX_PAGE_SIZE}.")
    try:
        page = await subscriptions.list_deliveries(
            _ctx(request), principal, subscription_id, status=status, before=before, size=size
        )
    except subscriptions.SubscriptionError as exc:
        raise _subscription_error(exc) from None
    headers = None
    if page.next_before is not None:
        settings = get_services(request).settings
        params = [(k, v) for k, v in request.query_params.multi_items() if k.lower() != "before"]
        query = urlencode([("before", str(page.next_before)), *params])
        headers = {"next": f"{settings.effective_platform_url}{request.url.path}?{query}"}
    body = {
        "count": len(page.deliveries),
        "deliveries": [delivery_json(row, attempts) for row, attempts in page.deliveries],
    }
    return JsonResponse(body, headers=headers)


@router.post(
    "/subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver",
    summary="Queue a delivered or dead-lettered delivery again (Tinn)",
    status_code=202,
)
async def redeliver(
    request: Request, subscription_id: int, delivery_id: int, principal: CallerDep
) -> JsonResponse:
    try:
        row, attempts = await subscriptions.redeliver(_ctx(request), principal, subscription_id, delivery_id)
    except subscriptions.SubscriptionError as exc:
        if exc.status == 409 and exc.message:
            raise Problem(
                409,
                "Conflict",
                exc.message,
                type=RFC9110_TYPES[409],
                extensions={"traceId": trace_id(request)},
                media_type=PROBLEM_JSON,
            ) from None
        raise _subscription_error(exc) from None
    return JsonResponse(delivery_json(row, attempts), status_code=202)
