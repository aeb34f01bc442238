"""Application endpoints: the App API's metadata and static resources, Storage's ``applications``.

Bodies were serialised when the app was loaded; a request picks bytes and sets headers. Content
types and error families are the ones Altinn's controllers produce (app notes 1.5/1.6, 0.6):

* a controller returning ``Ok(string)`` answers ``text/plain; charset=utf-8`` (ASP.NET's string
  formatter wins over JSON for string results) and a null string is ``204 No Content``;
* ``[ApiController]`` controllers turn a bare ``NotFound()`` into a ProblemDetails, the texts and
  languages controllers (no ``[ApiController]``) answer an empty 404;
* Storage's controllers ``[Produces("application/json")]``, so their messages are JSON strings.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from tinn.appdef.definition import AppDefinition
from tinn.appdef.options import LIBRARY_REF, downstream_parameters
from tinn.http.errors import (
    JSON,
    PROBLEM_JSON,
    RFC9110_TYPES,
    ApiError,
    EmptyError,
    PlainError,
    Problem,
    framework_problem,
    trace_id,
)
from tinn.services import get_services
from tinn.storage import tables

app_router = APIRouter(prefix="/{org}/{app}", tags=["Application metadata"])
storage_router = APIRouter(prefix="/storage/api/v1", tags=["Storage: applications"])

TEXT = "text/plain; charset=utf-8"
XML = "text/xml; charset=utf-8"
XSD = "application/xml; charset=utf-8"
_METADATA_CACHE = "public, max-age=60"


def _body(body: bytes, content_type: str, headers: dict[str, str] | None = None) -> Response:
    response = Response(body, headers=headers)
    response.headers["content-type"] = content_type
    return response


def _no_content() -> Response:
    return Response(status_code=204)


def get_app(request: Request, org: str, app: str, not_found: ApiError | None = None) -> AppDefinition:
    definition = get_services(request).apps.get(org, app)
    if definition is None:
        raise not_found if not_found is not None else framework_problem(404, request)
    return definition


def _query(request: Request, name: str) -> str | None:
    """A query parameter by name, matched case-insensitively as ASP.NET does (first value wins)."""
    if not request.scope["query_string"]:
        return None
    wanted = name.lower()
    for key, value in request.query_params.multi_items():
        if key.lower() == wanted:
            return value
    return None


def _bool_query(request: Request, name: str, default: bool) -> bool:
    """ASP.NET's binding of a ``bool`` query parameter; a bad value is a 400 validation problem."""
    raw = _query(request, name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("true", "false"):
        return value == "true"
    message = f"The value '{raw}' is invalid." if raw == "" else f"The value '{raw}' is not valid."
    raise Problem(
        400,
        "One or more validation errors occurred.",
        type=RFC9110_TYPES[400],
        extensions={"errors": {name: [message]}, "traceId": trace_id(request)},
        media_type=PROBLEM_JSON,
    )


def _wrong_app(definition: AppDefinition, org: str, app: str) -> PlainError:
    return PlainError(
        409, f"This is {definition.metadata.id}, and not the app you are looking for: {org}/{app}!"
    )


@app_router.get("/api/v1/applicationmetadata", summary="The app's metadata (anonymous)")
async def application_metadata(request: Request, org: str, app: str) -> Response:
    """``checkOrgApp`` (default true): 409 when the metadata's id is not ``{org}/{app}``."""
    definition = get_app(request, org, app)
    check = _bool_query(request, "checkOrgApp", True)
    if check and definition.metadata.id != definition.id:
        error = _wrong_app(definition, org, app)
        error.headers = {"Cache-Control": _METADATA_CACHE}
        raise error
    return _body(definition.served.metadata, JSON, {"Cache-Control": _METADATA_CACHE})


@app_router.get("/api/v1/meta/authorizationpolicy", summary="The app's XACML policy as written (text/xml)")
async def authorization_policy(request: Request, org: str, app: str) -> Response:
    definition = get_app(request, org, app)
    if definition.served.policy is None:
        raise framework_problem(404, request)
    if definition.metadata.id != definition.id:
        raise _wrong_app(definition, org, app)
    return _body(definition.served.policy, XML)


@app_router.get("/api/v1/meta/process", summary="The app's BPMN process (text/xml)")
async def process_definition(request: Request, org: str, app: str) -> Response:
    definition = get_app(request, org, app)
    if definition.metadata.id != definition.id:
        raise _wrong_app(definition, org, app)
    if definition.served.process is None:
        raise framework_problem(404, request)
    return _body(definition.served.process, XML)


@app_router.get("/api/v1/texts/{language}", summary="Text resources of one language (falls back to nb)")
async def texts(request: Request, org: str, app: str, language: str) -> Response:
    definition = get_app(request, org, app, EmptyError(404))
    if len(language) != 2:
        raise PlainError(
            400, f"Provided language {language} is invalid. Language code should consists of two characters."
        )
    body = definition.served.texts.get(language) or definition.served.texts.get("nb")
    if body is None:
        raise EmptyError(404)
    return _body(body, JSON)


@app_router.get("/api/v1/applicationlanguages", summary="Languages the app has texts for")
async def application_languages(request: Request, org: str, app: str) -> Response:
    definition = get_app(request, org, app, EmptyError(404))
    if definition.served.languages is None:
        raise EmptyError(404)
    return _body(definition.served.languages, JSON)


@app_router.get("/api/v1/applicationsettings", summary="The app's FrontEndSettings")
async def application_settings(request: Request, org: str, app: str) -> Response:
    definition = get_app(request, org, app)
    return _body(definition.served.settings, JSON)


@app_router.get("/api/jsonschema/{id}", summary="JSON schema of a data model (models/{id}.schema.json)")
async def json_schema(request: Request, org: str, app: str, id: str) -> Response:
    definition = get_app(request, org, app)
    model = definition.models.get(id)
    if model is None or model.json_schema_text is None:
        raise framework_problem(404, request)
    return _body(model.json_schema_text.encode(), TEXT)


@app_router.get("/api/xsdschema/{id}", summary="XSD of a data model (models/{id}.xsd)")
async def xsd_schema(request: Request, org: str, app: str, id: str) -> Response:
    definition = get_app(request, org, app)
    model = definition.models.get(id)
    if model is None or model.xsd is None:
        raise framework_problem(404, request)
    return _body(model.xsd.encode(), XSD)


@app_router.get("/api/layoutsets", summary="ui/layout-sets.json")
async def layout_sets(request: Request, org: str, app: str) -> Response:
    definition = get_app(request, org, app)
    if definition.served.layout_sets is None:
        return _no_content()
    return _body(definition.served.layout_sets, TEXT)


_LAYOUTS_GONE = (
    "This endpoint is no longer available. Use /{org}/{app}/api/layoutsets to get available layout sets "
    "and /{org}/{app}/api/layouts/{id} to get layouts for a specific layout set."
)


@app_router.get("/api/layouts", summary="Obsolete: layouts without a layout set", deprecated=True)
async def layouts_without_set(request: Request, org: str, app: str) -> Response:
    get_app(request, org, app)
    raise PlainError(404, _LAYOUTS_GONE)


@app_router.get("/api/layouts/{id}", summary="The pages of a layout set, by page name")
async def layouts(request: Request, org: str, app: str, id: str) -> Response:
    definition = get_app(request, org, app)
    layout_set = definition.layout_set(id)
    return _body(layout_set.layouts_body if layout_set is not None else b"{}", TEXT)


@app_router.get("/api/layoutsettings", summary="Obsolete: ui/Settings.json of pre-v8 apps", deprecated=True)
async def layout_settings_without_set(request: Request, org: str, app: str) -> Response:
    definition = get_app(request, org, app)
    if definition.served.legacy_layout_settings is None:
        return _no_content()
    return _body(definition.served.legacy_layout_settings, TEXT)


@app_router.get("/api/layoutsettings/{id}", summary="ui/{id}/Settings.json")
async def layout_settings(request: Request, org: str, app: str, id: str) -> Response:
    definition = get_app(request, org, app)
    layout_set = definition.layout_set(id)
    if layout_set is None or layout_set.settings_text is None:
        return _no_content()
    return _body(layout_set.settings_text.encode(), TEXT)


@app_router.get("/api/ruleconfiguration/{id}", summary="ui/{id}/RuleConfiguration.json (legacy)")
async def rule_configuration(request: Request, org: str, app: str, id: str) -> Response:
    definition = get_app(request, org, app)
    layout_set = definition.layout_set(id)
    if layout_set is None or layout_set.rule_configuration is None:
        return _no_content()
    return _body(layout_set.rule_configuration, "application/json")


@app_router.get("/api/rulehandler/{id}", summary="ui/{id}/RuleHandler.js (legacy)")
async def rule_handler(request: Request, org: str, app: str, id: str) -> Response:
    definition = get_app(request, org, app)
    layout_set = definition.layout_set(id)
    if layout_set is None or layout_set.rule_handler is None:
        return _no_content()
    return _body(layout_set.rule_handler, "text/javascript")


@app_router.get("/api/v1/footer", summary="ui/footer.json")
async def footer(request: Request, org: str, app: str) -> Response:
    definition = get_app(request, org, app)
    if definition.served.footer is None:
        return _no_content()
    return _body(definition.served.footer, TEXT)


@app_router.get("/api/validationconfig/{dataTypeId}", summary="models/{dataTypeId}.validation.json")
async def validation_config(request: Request, org: str, app: str, dataTypeId: str) -> Response:
    definition = get_app(request, org, app)
    model = definition.models.get(dataTypeId)
    if model is None or model.validation_text is None:
        return _no_content()
    return _body(model.validation_text.encode(), TEXT)


@app_router.get("/api/options/{id}", summary="A code list (options/{id}.json)")
async def options(request: Request, org: str, app: str, id: str) -> Response:
    """``language`` and any other query parameters go to the list's provider; static lists ignore
    them and report no downstream parameters."""
    definition = get_app(request, org, app)
    option_list = None if LIBRARY_REF.match(id) else definition.options.get(id)
    if option_list is None:
        raise framework_problem(404, request)
    headers = {"Altinn-DownstreamParameters": downstream_parameters({})}
    return _body(option_list.body, JSON, headers)


# --- Storage ---


def _json_message(status: int, message: str) -> PlainError:
    return PlainError(status, message, json=True)


def _applications_body(documents: list[Any]) -> Response:
    return _body(orjson.dumps({"applications": documents}), JSON)


@storage_router.get("/applications", summary="Every application (anonymous)")
async def storage_applications(request: Request) -> Response:
    async with get_services(request).db.read() as conn:
        rows = await conn.execute(
            select(tables.applications.c.document).order_by(tables.applications.c.app_id)
        )
        return _applications_body([row.document for row in rows])


@storage_router.get("/applications/{org}", summary="The applications of one owner (anonymous)")
async def storage_org_applications(request: Request, org: str) -> Response:
    if "-" in org or " " in org:
        raise _json_message(400, f"Application owner id '{org}' is not valid")
    async with get_services(request).db.read() as conn:
        rows = await conn.execute(
            select(tables.applications.c.document)
            .where(tables.applications.c.org == org)
            .order_by(tables.applications.c.app_id)
        )
        return _applications_body([row.document for row in rows])


@storage_router.get("/applications/{org}/{app}", summary="One application (anonymous)")
async def storage_application(request: Request, org: str, app: str) -> Response:
    app_id = f"{org}/{app}"
    async with get_services(request).db.read() as conn:
        document = await conn.scalar(
            select(tables.applications.c.document).where(tables.applications.c.app_id == app_id)
        )
    if document is None:
        raise _json_message(404, f"Could not find an application with appId={app_id}")
    return _body(orjson.dumps(document), JSON)


@storage_router.get("/applications/{org}/{app}/texts/{language}", summary="Text resources of an application")
async def storage_texts(request: Request, org: str, app: str, language: str) -> Response:
    if not (len(language) == 2 and language.isascii() and language.isalpha()):
        raise _json_message(400, "The language must be a two letter ISO language name.")
    async with get_services(request).db.read() as conn:
        document = await conn.scalar(
            select(tables.texts.c.document).where(
                tables.texts.c.app_id == f"{org}/{app}", tables.texts.c.language == language
            )
        )
    if document is None:
        raise framework_problem(404, request)
    return _body(orjson.dumps(document), JSON)
