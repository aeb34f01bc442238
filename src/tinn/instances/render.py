"""Instances on the wire: App API `InstanceResponse`/`Instance` and the data elements a caller sees."""

from __future__ import annotations

from typing import Any

from tinn.instances.context import AppContext
from tinn.instances.models import Instance, app_json
from tinn.instances.store import InstanceRecord
from tinn.register.models import Party


def party_json(party: Party | None) -> dict[str, Any] | None:
    """`instanceOwner.party` of an InstanceResponse (empty strings normalised to null)."""
    if party is None:
        return None
    return {
        "partyId": party.party_id,
        "partyUuid": str(party.party_uuid) if party.party_uuid else None,
        "partyTypeName": int(party.party_type_name),
        "ssn": party.ssn or None,
        "orgNumber": party.org_number or None,
        "unitType": party.unit_type or None,
        "name": party.name or None,
        "isDeleted": party.is_deleted,
    }


def readable_instance(ctx: AppContext, record: InstanceRecord) -> Instance:
    """The instance with the data elements the caller may read (actionRequiredToRead, app notes 1.1)."""
    instance = record.full_instance(include_hard_deleted=False)
    kept = []
    for element in instance.data or []:
        data_type = ctx.definition.data_type(element.data_type)
        action = data_type.action_required_to_read if data_type else None
        if action and not ctx.authorize(action, record.instance):
            continue
        kept.append(element)
    instance.data = kept
    return instance


def instance_body(
    ctx: AppContext, instance: Instance, *, with_party: bool, apps_links: bool = True
) -> dict[str, Any]:
    """App API JSON of an instance; `with_party` adds `instanceOwner.party` (InstanceResponse)."""
    body = app_json(ctx.links.decorate(instance, apps=apps_links))
    if with_party:
        party = ctx.services.register.party(int(instance.instance_owner.party_id or 0))
        body["instanceOwner"]["party"] = party_json(party)
    return body
