"""``GET /storage/api/v1/instances``: filters, caller rules, keyset pagination (platform notes 1.3).

:func:`parse_query` turns the query string (names in any letter case) and the
``X-Ai-InstanceOwnerIdentifier`` header into an :class:`InstanceQuery`; :func:`query_instances`
applies Storage's caller rules in order and runs one indexed SQL query for the page, one for its
data elements, and (for end users) one policy decision per distinct (app, party, task or end
event) in the page rather than one per instance.

Pagination is a keyset on ``(last_changed, internal_id)``: descending pages are ordered
``(last_changed DESC, internal_id DESC)`` and continue with ``(last_changed, internal_id) <
cursor``; ascending pages mirror it. An instance that does not change while a client walks the
pages is returned exactly once. The continuation token is opaque (URL-safe base64 of
``{microseconds};{internal id}``).

Dates Altinn compares as text (``visibleAfter``, ``dueBefore``, ``process.ended``) are compared as
timestamps here, on real columns. ``size`` defaults to 100 and is capped at :data:`MAX_PAGE_SIZE`.
"""

from __future__ import annotations

import base64
import binascii
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, get_args, get_origin
from urllib.parse import urlencode

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    cast,
    exists,
    false,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy import String as SqlString

from tinn.appdef.definition import AppDefinition
from tinn.auth.pdp import RESOURCE_INSTANCE, ResourceRef
from tinn.auth.principal import Principal
from tinn.auth.xacml import RESOURCE_CATEGORY
from tinn.instances.models import DataElement, Instance, ReadStatus, storage_json
from tinn.instances.service import INSTANCE_READ_SCOPE, is_service_owner_mode, is_sync_adapter
from tinn.services import Services
from tinn.storage import tables
from tinn.timeutil import parse_iso

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
IDENTIFIER_HEADER = "X-Ai-InstanceOwnerIdentifier"
CONTINUATION_TOKEN = "continuationToken"  # noqa: S105 - a parameter name

INSTANCES = tables.instances
DATA = tables.data_elements
CONFIRMATIONS = tables.instance_confirmations

# Query key -> instances column, for the `op:value` date expressions.
DATE_COLUMNS = {
    "lastChanged": INSTANCES.c.last_changed,
    "created": INSTANCES.c.created,
    "visibleAfter": INSTANCES.c.visible_after,
    "dueBefore": INSTANCES.c.due_before,
    "process.ended": INSTANCES.c.process_ended,
}
DATE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class QueryError(Exception):
    """A refused query: ``message`` None is an empty body; ``errors`` a ValidationProblemDetails."""

    def __init__(
        self, status: int, message: str | None = None, *, errors: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message
        self.errors = errors


# -- continuation tokens ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    last_changed: datetime
    internal_id: int


def encode_cursor(cursor: Cursor) -> str:
    delta = cursor.last_changed - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raw = f"{micros};{cursor.internal_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    text = token.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        micros_text, internal_text = raw.split(";")
        micros, internal_id = int(micros_text), int(internal_text)
        return Cursor(_EPOCH + timedelta(microseconds=micros), internal_id)
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError):
        raise QueryError(
            400, f"Invalid continuationToken: {token}. Use the `next` link of the previous page."
        ) from None


# -- parsing ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DateFilter:
    key: str  # query key, e.g. "lastChanged"
    op: str
    value: datetime


@dataclass
class InstanceQuery:
    org: str | None = None
    app_id: str | None = None
    party_id: int | None = None
    owner_identifier: str | None = None
    current_task: str | None = None
    is_complete: bool | None = None
    dates: list[DateFilter] = field(default_factory=list)
    exclude_confirmed_by: list[str] = field(default_factory=list)
    confirmed: bool | None = None
    is_soft_deleted: bool | None = None
    is_hard_deleted: bool | None = None
    is_archived: bool | None = None
    search: str | None = None
    ascending: bool = False
    size: int = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None
    main_version_include: int | None = None
    main_version_exclude: int | None = None
    a3_ref: str | None = None
    a2_arch_ref: str | None = None


class _Params:
    """Query values by name, matched case-insensitively as ASP.NET binds them; empty is absent."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in items:
            self._values.setdefault(key.lower(), []).append(value)
        self.errors: dict[str, list[str]] = {}

    def all(self, name: str) -> list[str]:
        return [v for v in self._values.get(name.lower(), []) if v != ""]

    def text(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def boolean(self, name: str) -> bool | None:
        raw = self.text(name)
        if raw is None:
            return None
        value = raw.strip().lower()
        if value in ("true", "false"):
            return value == "true"
        self.errors.setdefault(name, []).append(f"The value '{raw}' is not valid.")
        return None

    def integer(self, name: str) -> int | None:
        raw = self.text(name)
        if raw is None:
            return None
        text = raw.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit() and -(2**31) <= int(text) < 2**31:
            return int(text)
        self.errors.setdefault(name, []).append(f"The value '{raw}' is not valid.")
        return None


def _date_filters(params: _Params) -> list[DateFilter]:
    filters: list[DateFilter] = []
    for key in DATE_COLUMNS:
        seen: set[str] = set()
        for expression in params.all(key):
            op, colon, raw = expression.partition(":")
            if not colon or op in seen:
                raise QueryError(400, f"Invalid date expression: {expression} for query key: {key}")
            seen.add(op)
            try:
                value = parse_iso(raw)
            except (ValueError, OverflowError):
                raise QueryError(400, f"Invalid date expression: {expression} for query key: {key}") from None
            if op in DATE_OPERATORS:  # an unknown operator is ignored, as in Altinn
                filters.append(DateFilter(key, op, value))
    return filters


def parse_query(items: Iterable[tuple[str, str]], owner_identifier: str | None = None) -> InstanceQuery:
    """The query string (and the identifier header) as an :class:`InstanceQuery`.

    Raises :class:`QueryError`: a ValidationProblemDetails for values that do not bind (booleans,
    numbers), a message for bad date expressions, sizes and tokens.
    """
    params = _Params(items)
    query = InstanceQuery(
        org=params.text("org"),
        app_id=params.text("appId"),
        party_id=params.integer("instanceOwner.partyId"),
        owner_identifier=(owner_identifier or "").strip() or None,
        current_task=params.text("process.currentTask"),
        is_complete=params.boolean("process.isComplete"),
        exclude_confirmed_by=params.all("excludeConfirmedBy"),
        confirmed=params.boolean("confirmed"),
        is_soft_deleted=params.boolean("status.isSoftDeleted"),
        is_hard_deleted=params.boolean("status.isHardDeleted"),
        is_archived=params.boolean("status.isArchived"),
        main_version_include=params.integer("mainVersionInclude"),
        main_version_exclude=params.integer("mainVersionExclude"),
        a2_arch_ref=params.text("dataValues.A2ArchRef"),
    )
    size = params.integer("size")
    if params.errors:
        raise QueryError(400, errors=params.errors)
    query.dates = _date_filters(params)
    order = params.text("order")
    query.ascending = order is not None and not order.lower().startswith("desc:")
    if size is not None:
        if size < 1:
            raise QueryError(400, f"Invalid size: {size}. The page size must be at least 1.")
        query.size = min(size, MAX_PAGE_SIZE)
    search = params.text("searchString")
    query.search = search.lower() if search else None
    a3_ref = params.text("A3Ref")
    if a3_ref is not None:
        if len(a3_ref) != 12:
            raise QueryError(400, "The A3 reference needs to be exactly 12 characters long.")
        query.a3_ref = a3_ref.lower()
    token = params.text(CONTINUATION_TOKEN)
    if token is not None:
        query.cursor = decode_cursor(token)
    return query


# -- SQL -------------------------------------------------------------------------------------------


def _known_org(query: InstanceQuery) -> str | None:
    if query.org:
        return query.org
    if query.app_id and "/" in query.app_id:
        return query.app_id.partition("/")[0]
    return None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def flag(column: Any, value: bool) -> ColumnElement[bool]:
    """``col`` / ``NOT col`` written literally: SQLAlchemy writes ``col = 0`` for SQLite, which
    SQLite does not match against a partial index's ``WHERE NOT col``."""
    name = f"{column.table.name}.{column.name}"
    # Untyped on purpose: a Boolean-typed expression would again be written `... = 1` on SQLite.
    term: ColumnElement[bool] = literal_column(name if value else f"NOT {name}")
    return term


def conditions(query: InstanceQuery, *, dialect: str) -> list[ColumnElement[bool]]:
    """The WHERE terms of a query, each one an index can serve (see ``storage/tables.py``)."""
    c = INSTANCES.c
    where: list[ColumnElement[bool]] = []
    if query.org:
        where.append(c.org == query.org)
    if query.app_id:
        where.append(c.app_id == query.app_id)
    if query.party_id is not None:
        where.append(c.party_id == query.party_id)
    if query.current_task:
        where.append(c.current_task == query.current_task)
    if query.is_complete is True:
        where.append(c.process_ended.is_not(None))
    elif query.is_complete is False:
        where.append(c.current_task.is_not(None))
    where.extend(DATE_OPERATORS[date.op](DATE_COLUMNS[date.key], date.value) for date in query.dates)
    # `confirmed` is "confirmed by the instance's own org": an explicit value wins over an
    # `excludeConfirmedBy` naming that org; other stakeholders need their confirmation rows.
    org = _known_org(query)
    if query.confirmed is not None:
        where.append(flag(c.confirmed, query.confirmed))
    for stakeholder in dict.fromkeys(query.exclude_confirmed_by):
        if stakeholder == org:
            if query.confirmed is None:
                where.append(flag(c.confirmed, False))
            continue
        where.append(
            ~exists().where(
                CONFIRMATIONS.c.instance_internal_id == c.internal_id,
                CONFIRMATIONS.c.stakeholder_id == stakeholder,
            )
        )
    for column, value in (
        (c.is_soft_deleted, query.is_soft_deleted),
        (c.is_hard_deleted, query.is_hard_deleted),
        (c.is_archived, query.is_archived),
    ):
        if value is not None:
            where.append(flag(column, value))
    if query.search:
        where.append(c.search_text.like(_like_pattern(query.search), escape="\\"))
    # Every Tinn instance is an Altinn 3 instance; migrated A1/A2 instances do not exist here.
    if (
        (query.main_version_include is not None and query.main_version_include != 3)
        or query.main_version_exclude == 3
        or query.a2_arch_ref is not None
    ):
        where.append(false())
    if query.a3_ref:
        guid_text = cast(c.id, SqlString)
        tail = func.right(guid_text, 12) if dialect == "postgresql" else func.substr(guid_text, -12)
        where.append(func.lower(tail) == query.a3_ref)
    if query.cursor is not None:
        key = tuple_(c.last_changed, c.internal_id)
        after = tuple_(query.cursor.last_changed, query.cursor.internal_id)
        where.append(key > after if query.ascending else key < after)
    return where


def page_select(query: InstanceQuery, *, dialect: str) -> Select[Any]:
    """One page of instances in keyset order."""
    c = INSTANCES.c
    if query.ascending:
        order = (c.last_changed.asc(), c.internal_id.asc())
    else:
        order = (c.last_changed.desc(), c.internal_id.desc())
    return (
        select(c.internal_id, c.last_changed, c.app_id, c.party_id, c.current_task, c.document)
        .where(and_(*conditions(query, dialect=dialect)))
        .order_by(*order)
        .limit(query.size)
    )


def elements_select(instance_ids: Sequence[int]) -> Select[Any]:
    return (
        select(DATA.c.instance_internal_id, DATA.c.is_hard_deleted, DATA.c.document)
        .where(DATA.c.instance_internal_id.in_(instance_ids))
        .order_by(DATA.c.instance_internal_id, DATA.c.created, DATA.c.internal_id)
    )


# -- rendering -------------------------------------------------------------------------------------

# A model's wire members in declaration order, with the shape of nested models (None: a value).
Shape = tuple[tuple[str, "Shape | None"], ...]
_READ_STATUS_NAMES = {int(s): s.name for s in ReadStatus}


def _shape(model: type[BaseModel]) -> Shape:
    members: list[tuple[str, Shape | None]] = []
    for name, info in model.model_fields.items():
        nested = [t for t in _types(info.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
        members.append(
            (
                info.alias or name,
                _shape(nested[0]) if nested and get_origin(info.annotation) is not dict else None,
            )
        )
    return tuple(members)


def _types(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is None:
        return [annotation]
    return [t for arg in get_args(annotation) for t in _types(arg)]


INSTANCE_SHAPE = _shape(Instance)
ELEMENT_SHAPE = _shape(DataElement)


def _render(value: dict[str, Any], shape: Shape) -> dict[str, Any]:
    """Storage's JSON of a stored document: members in model order (JSONB does not keep it),
    nulls dropped, ``readStatus`` by name."""
    out: dict[str, Any] = {}
    for key, nested in shape:
        item = value.get(key)
        if item is None:
            continue
        if nested is not None:
            if isinstance(item, list):
                item = [_render(x, nested) if isinstance(x, dict) else x for x in item]
            elif isinstance(item, dict):
                item = _render(item, nested)
        elif key == "readStatus" and isinstance(item, int):
            item = _READ_STATUS_NAMES.get(item, item)
        elif isinstance(item, dict | list):
            item = storage_json(item)
        out[key] = item
    return out


def _linked_element(document: dict[str, Any], instance_url: str) -> dict[str, Any]:
    return {**document, "selfLinks": {"platform": f"{instance_url}/data/{document['id']}"}}


def render_element(document: dict[str, Any], instance_url: str) -> dict[str, Any]:
    """A stored data element as Storage writes it, with ``selfLinks.platform``."""
    return _render(_linked_element(document, instance_url), ELEMENT_SHAPE)


def render_instance(
    document: dict[str, Any], elements: Iterable[dict[str, Any]], instances_url: str
) -> dict[str, Any]:
    """A stored instance with its elements, exactly as the single-instance GET writes it."""
    url = f"{instances_url}/{document['id']}"
    linked = {
        **document,
        "selfLinks": {"platform": url},
        "data": [_linked_element(element, url) for element in elements],
    }
    return _render(linked, INSTANCE_SHAPE)


# -- running a query -------------------------------------------------------------------------------


@dataclass
class QueryPage:
    """One page: the instances the caller may see, and the token of the next page (None: last)."""

    instances: list[dict[str, Any]]
    next_token: str | None
    with_self: bool = True


def resolve_identifier(services: Services, identifier: str) -> int | None:
    """``person:{11 digits}`` / ``organisation:{9 digits}`` (any case, spaces ignored) -> party id."""
    text = "".join(identifier.split())
    kind, colon, number = text.partition(":")
    kind = kind.lower()
    valid = colon and number.isascii() and number.isdigit()
    if valid and kind == "person" and len(number) == 11:
        party = services.register.party_by_ssn(number)
    elif valid and kind == "organisation" and len(number) == 9:
        party = services.register.party_by_org_number(number)
    else:
        raise QueryError(
            400,
            f"Invalid {IDENTIFIER_HEADER}: {identifier}. Use person:{{11 digits}} or organisation:{{9 digits}}.",
        )
    return None if party is None else party.party_id


def _check_caller(services: Services, principal: Principal, query: InstanceQuery) -> None:
    """Platform notes 1.3 caller rules 1-4."""
    if query.party_id is not None and query.owner_identifier:
        raise QueryError(
            400, "Both InstanceOwner.PartyId and InstanceOwnerIdentifier cannot be present at the same time."
        )
    sync = is_sync_adapter(principal)
    if principal.org is not None:
        if not sync and INSTANCE_READ_SCOPE not in principal.scope.lower():
            raise QueryError(403)
        if not query.org and not query.app_id:
            raise QueryError(400, "Org or AppId must be defined.")
        if not query.org:
            assert query.app_id is not None
            query.org = query.app_id.partition("/")[0]
        if not sync and principal.org.lower() != query.org.lower():
            if not query.app_id or "/" not in query.app_id:
                raise QueryError(400, "AppId must be defined.")
            app = query.app_id.partition("/")[2]
            if not services.authorizer.authorize(principal, "read", ResourceRef(query.org, app)):
                raise QueryError(403)
        return
    if principal.user_id is not None or principal.system_user_id is not None:
        if query.party_id is None and not query.owner_identifier:
            raise QueryError(
                400, "Either InstanceOwnerPartyId or InstanceOwnerIdentifier need to be defined."
            )
        return
    raise QueryError(400)


def _policy_uses_instance_id(definition: AppDefinition | None) -> bool:
    """Whether the app's policy reads ``urn:altinn:instance-id`` (then decisions are per instance)."""
    policy = definition.policy if definition else None
    if policy is None:
        return False
    targets = [policy.target, *(rule.target for rule in policy.rules)]
    return any(
        match.designator.category == RESOURCE_CATEGORY and match.designator.attribute_id == RESOURCE_INSTANCE
        for target in targets
        for match in target.matches()
    )


class _ReadFilter:
    """PDP ``read`` for a page of instances, one decision per distinct resource.

    A decision depends on the app, the owner party, the current task (or end event) and, only
    when the app's policy reads it, the instance id: instances that share those share a decision.
    """

    def __init__(self, services: Services, principal: Principal) -> None:
        self._services = services
        self._principal = principal
        self._per_instance: dict[str, bool] = {}
        self._decisions: dict[tuple[str, int, str | None, str | None, str | None], bool] = {}

    def _needs_instance(self, app_id: str) -> bool:
        cached = self._per_instance.get(app_id)
        if cached is None:
            cached = _policy_uses_instance_id(self._services.apps.by_id(app_id))
            self._per_instance[app_id] = cached
        return cached

    def allows(self, app_id: str, party_id: int, task: str | None, document: dict[str, Any]) -> bool:
        process = document.get("process") or {}
        end_event = process.get("endEvent") if task is None else None
        iid: str = document["id"]
        key = (app_id, party_id, task, end_event, iid if self._needs_instance(app_id) else None)
        decision = self._decisions.get(key)
        if decision is None:
            org, _, app = app_id.partition("/")
            resource = ResourceRef(org, app, party_id, iid, task, end_event)
            decision = self._services.authorizer.authorize(self._principal, "read", resource)
            self._decisions[key] = decision
        return decision


async def query_instances(services: Services, principal: Principal, query: InstanceQuery) -> QueryPage:
    """Run a query as ``principal`` (platform notes 1.3 caller rules, in order)."""
    _check_caller(services, principal, query)
    if query.owner_identifier:
        party_id = resolve_identifier(services, query.owner_identifier)
        if party_id is None:
            return QueryPage([], None, with_self=False)
        query.party_id = party_id
    owner_mode = is_service_owner_mode(principal)
    if not owner_mode:
        if query.is_hard_deleted:
            return QueryPage([], None)
        query.is_hard_deleted = False

    db = services.db
    async with db.read() as conn:
        rows = (await conn.execute(page_select(query, dialect=db.dialect))).all()
        elements: dict[int, list[dict[str, Any]]] = {row.internal_id: [] for row in rows}
        if rows:
            for element in await conn.execute(elements_select(list(elements))):
                if owner_mode or not element.is_hard_deleted:
                    elements[element.instance_internal_id].append(element.document)

    next_token = None
    if rows and len(rows) == query.size:
        last = rows[-1]
        next_token = encode_cursor(Cursor(last.last_changed, last.internal_id))
    kept = rows
    if not owner_mode:
        read = _ReadFilter(services, principal)
        kept = [row for row in rows if read.allows(row.app_id, row.party_id, row.current_task, row.document)]
    base = f"{services.settings.effective_platform_url}/storage/api/v1/instances"
    instances = [render_instance(row.document, elements[row.internal_id], base) for row in kept]
    return QueryPage(instances, next_token)


def page_links(
    platform_url: str, path: str, items: Sequence[tuple[str, str]], raw_query: str, next_token: str | None
) -> tuple[str, str | None]:
    """``self`` (the request as received) and ``next`` (the same query, continuation replaced)."""
    base = f"{platform_url}{path}"
    self_link = f"{base}?{raw_query}" if raw_query else base
    if next_token is None:
        return self_link, None
    kept = [(k, v) for k, v in items if k.lower() != CONTINUATION_TOKEN.lower()]
    kept.append((CONTINUATION_TOKEN, next_token))
    return self_link, f"{base}?{urlencode(kept)}"
