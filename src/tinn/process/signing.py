"""Signing (app notes 1.9, 1.10): the built-in `sign` user action, where the caller signs the
data elements of the signing task's `dataTypesToSign` and Storage's sign operation writes the
locked SignDocument, and the signing state the `GET .../signing` endpoints report.

Tinn has no signee providers or delegation: the signees of a task are the ones who have signed
(one SignDocument each), and a user may sign on behalf of an organisation where they hold a key
role (`onBehalfOf`/`actionOnBehalfOf` is checked against those).
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog

from tinn.auth.principal import PrincipalKind
from tinn.http.errors import Problem
from tinn.instances.context import AppContext
from tinn.instances.service import DataElementSignature, Signee, SignRequest, StorageError, sign_instance
from tinn.instances.store import InstanceRecord, read_instance
from tinn.process.bpmn import SignatureConfig
from tinn.register.models import Party
from tinn.storage.blobs.base import BlobError, read_all

SIGNING_TASK_TYPE = "signing"

log = structlog.get_logger("tinn.signing")


# Roles in Enhetsregisteret that let a person act for (and sign on behalf of) an organisation.
KEY_ROLES = frozenset({"DAGL", "LEDE", "INNH", "DTPR", "DTSO", "BEST", "KOMP"})


def signature_config(
    ctx: AppContext, record: InstanceRecord, task_id: str | None = None
) -> tuple[str, SignatureConfig]:
    """The task (the current one unless named) and its signature configuration; 400 "Not a
    signing task" otherwise."""
    if task_id is None:
        process = record.instance.process
        task_id = process.current_task.element_id if process and process.current_task else None
    task = ctx.definition.process.task(task_id) if task_id and ctx.definition.process else None
    if task is None or task.task_type != SIGNING_TASK_TYPE or task.signature_config is None:
        raise Problem(
            400,
            "Not a signing task",
            "This endpoint is only callable while the current task is a signing task.",
        )
    config = task.signature_config
    if not config.signature_data_type:
        raise Problem(400, "Not a signing task", f"Task {task_id} has no signatureDataType.")
    return task.id, config


def elements_to_sign(record: InstanceRecord, config: SignatureConfig) -> list[str]:
    """Element ids of `dataTypesToSign`, in configuration order, then by creation."""
    ids: list[str] = []
    for data_type in config.data_types_to_sign:
        found = [
            d.element for d in record.elements(include_hard_deleted=False) if d.element.data_type == data_type
        ]
        found.sort(key=lambda e: (e.created.timestamp() if e.created else 0.0, e.id))
        ids.extend(e.id for e in found)
    return ids


def authorized_organisations(ctx: AppContext) -> list[Party]:
    """The organisations the calling user holds a key role for (empty for anyone but a user)."""
    register = ctx.services.register
    user_id = ctx.principal.user_id
    if not ctx.principal.is_user or user_id is None:
        return []
    found: dict[int, Party] = {}
    pending = list(register.party_list(user_id))
    while pending:
        listed = pending.pop(0)
        pending.extend(listed.child_parties or ())
        party = register.party(listed.party_id)
        if party is None or party.org_number is None or party.party_id in found:
            continue
        if register.roles(party.party_id, user_id=user_id) & KEY_ROLES:
            found[party.party_id] = party
    return list(found.values())


def _signee(ctx: AppContext, on_behalf_of: str | None) -> Signee:
    principal = ctx.principal
    if principal.kind == PrincipalKind.SYSTEM_USER:
        return Signee(
            system_user_id=principal.system_user_id, organisation_number=principal.system_user_org_number
        )
    if (
        principal.kind in (PrincipalKind.USER, PrincipalKind.SELF_IDENTIFIED)
        and principal.user_id is not None
    ):
        if on_behalf_of is not None and on_behalf_of not in {
            party.org_number for party in authorized_organisations(ctx)
        }:
            raise Problem(
                403,
                "Forbidden",
                f"The user holds no key role in {on_behalf_of} and cannot sign on its behalf.",
            )
        return Signee(
            user_id=str(principal.user_id), person_number=principal.pid, organisation_number=on_behalf_of
        )
    raise Problem(401, "Unauthorized", "Only a user or a system user can sign.")


async def sign(ctx: AppContext, record: InstanceRecord, *, on_behalf_of: str | None = None) -> InstanceRecord:
    task_id, config = signature_config(ctx, record)
    request = SignRequest(
        signature_document_data_type=config.signature_data_type,
        generated_from_task=task_id,
        data_element_signatures=[
            DataElementSignature(data_element_id=element_id)
            for element_id in elements_to_sign(record, config)
        ],
        signee=_signee(ctx, on_behalf_of),
    )
    try:
        await sign_instance(ctx.services, ctx.principal, record.guid, request)
    except StorageError as error:
        status = 403 if error.status == 403 else 409 if error.status in (404, 405) else 400
        raise Problem(
            status, "Signing failed", error.message or "The signature could not be stored."
        ) from None
    return await read_instance(ctx.services.db, record.guid) or record


async def sign_documents(
    ctx: AppContext, record: InstanceRecord, config: SignatureConfig
) -> list[dict[str, Any]]:
    """The SignDocuments of the task (JSON), oldest first; unreadable ones are skipped."""
    documents = []
    stored = [
        d
        for d in record.elements(include_hard_deleted=False)
        if d.element.data_type == config.signature_data_type
    ]
    stored.sort(key=lambda d: (d.element.created.timestamp() if d.element.created else 0.0, d.element.id))
    for data in stored:
        if data.blob_key is None:
            continue
        try:
            parsed = orjson.loads(await read_all(ctx.services.blobs, data.blob_key))
        except (BlobError, orjson.JSONDecodeError):
            log.warning("sign_document_unreadable", element_id=data.element.id)
            continue
        if isinstance(parsed, dict):
            documents.append(parsed)
    return documents


def signee_state(ctx: AppContext, document: dict[str, Any]) -> dict[str, Any]:
    """One `signeeStates` item for a SignDocument: who signed, for whom, and when."""
    register = ctx.services.register
    info = document.get("signeeInfo") if isinstance(document.get("signeeInfo"), dict) else {}
    assert isinstance(info, dict)
    org_number = info.get("organisationNumber") or info.get("organizationNumber")
    organisation = register.party_by_org_number(org_number) if isinstance(org_number, str) else None
    person = (
        register.party_by_ssn(info["personNumber"]) if isinstance(info.get("personNumber"), str) else None
    )
    if person is None and isinstance(info.get("userId"), str) and info["userId"].isdigit():
        user = register.user(int(info["userId"]))
        person = register.party(user.party_id) if user is not None else None
    if info.get("systemUserId"):
        name: str | None = "System"
    else:
        name = person.name if person is not None else None
    party = organisation or person
    return {
        "name": name,
        "organization": organisation.name if organisation is not None else None,
        "delegationSuccessful": False,
        "notificationStatus": "NotSent",
        "partyId": party.party_id if party is not None else 0,
        "signedTime": document.get("signedTime"),
    }
