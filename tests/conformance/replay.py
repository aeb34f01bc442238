"""Sending the recorded requests of ``BasicAppTests`` to a live Tinn.

The recordings keep each request's method, URL and headers but not its body, so the bodies are
rebuilt here from what the recorded test sends (Altinn's ``BasicAppTests``, described in words):

* ``Full`` (one flow per ``testCase`` x ``auth``), in the recorded order:
  0. ``Instantiation``: ``Simplified*`` posts ``{"instanceOwner": {"partyId": "501337"}}`` (with
     ``prefill`` ``property1``/``property2`` = ``"1"`` for ``WithPrefill``) as JSON to
     ``/ttd/basic/instances/create``; ``Multipart*`` posts ``multipart/form-data`` to
     ``/ttd/basic/instances`` with an ``instance`` part holding the same template and, for
     ``XmlPrefill``/``JsonPrefill``, a ``model`` part with ``property1`` and ``property2`` set to
     1 as XML or JSON (string parts, so ``; charset=utf-8``). A failed instantiation ends the flow.
  1. ``Download-Data[0]``: the fixture's download, as the recorded app logs show it: ``GET`` the
     instance (not recorded: the instantiation is), ``GET api/v1/applicationmetadata`` without a
     token, then the model element with ``Accept: application/json``.
  2. ``PatchFormData``: ``PATCH .../data`` with one patch for the model: ``test`` that
     ``property1`` is ``"1"`` (``null`` without prefill), then ``replace`` ``property1`` and
     ``property2`` with ``"2"``; ``ignoredValidators`` null.
  3. ``ProcessNext``: ``PUT .../process/next`` without a body.
  4. ``Download-Instance``: ``GET`` the instance (then, like every download, the app metadata
     anonymously); 5. ``Download-Data[0]`` again; 6.
     ``Download-PDF``: ``GET`` the generated ``ref-data-as-pdf`` element with ``Accept:
     application/octet-stream``.
* ``DataUpload`` (``filenameQuoted`` x ``useNewEndpoint``): a user instance (as
  ``MultipartNoPrefill``), then the 25 bytes ``%PDF-1.4 fake pdf content`` as ``application/pdf``
  with ``Content-Disposition: attachment; filename="Test Doc 2025.pdf"`` (unquoted when
  ``filenameQuoted=False``) to ``POST .../data/type/attachment`` or the legacy
  ``POST .../data?dataType=attachment``.

Callers (the ``auth`` parameter), as Tinn's TestTools-compatible generators mint them:

* ``User``: a person's token for user 1337 / party 501337 at authentication level 2.
* ``OldUser``: the same person as localtest's old token endpoint described it (user name and
  the portal scope ``altinn:portal/enduser``).
* ``ServiceOwner``: service owner ``ttd`` (405003309) with ``altinn:serviceowner/instances.read``
  and ``.write``.
* ``OldServiceOwner``: localtest's old org token for ``ttd`` carried no scopes; Tinn only treats a
  token as its service owner's with an ``altinn:serviceowner`` scope, so this one asks for the
  same scopes as ``ServiceOwner`` (the recordings of both are identical apart from the token).
* ``SystemUser``: system user ``d111dbab-...`` of system ``913312465_sbs`` acting for
  Oslos Vakreste Borettslag, with ``altinn:instances.read``/``.write``.
* ``SelfIdentifiedUser``: the self-identified user ``SelvRegistrert``.

``Authentication`` recordings (all six callers) show what the recorded app knew about its caller:
the selected and own party, the profile and the party lists. Tinn serves the same facts on App API
routes, so each is fetched from its route with the caller's token (see :data:`AUTH_DETAILS`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

ORG_APP = "ttd/basic"
PARTY = "501337"
UPLOAD_BODY = b"%PDF-1.4 fake pdf content"

AUTH_KINDS = ("User", "OldUser", "ServiceOwner", "OldServiceOwner")
SERVICE_OWNER_SCOPES = "altinn:serviceowner/instances.read altinn:serviceowner/instances.write"


def token(client: httpx.Client, auth: str) -> str:
    if auth in ("User", "OldUser"):
        params: dict[str, str | int] = {"userId": 1337, "partyId": 501337, "pid": "01039012345", "authLvl": 2}
        if auth == "OldUser":
            params |= {"userName": "SophieDDG", "scopes": "altinn:portal/enduser"}
        response = client.get("/api/GetPersonalToken", params=params)
    elif auth in ("ServiceOwner", "OldServiceOwner"):
        response = client.get(
            "/api/GetEnterpriseToken",
            params={"org": "ttd", "orgNo": "405003309", "scopes": SERVICE_OWNER_SCOPES},
        )
    elif auth == "SystemUser":
        response = client.get(
            "/api/GetSystemUserToken",
            params={
                "systemUserId": "d111dbab-d619-4f15-bf29-58fe570a9ae6",
                "systemId": "913312465_sbs",
                "scopes": "altinn:instances.read altinn:instances.write",
            },
        )
    elif auth == "SelfIdentifiedUser":
        response = client.get("/api/GetSelfIdentifiedUserToken", params={"username": "SelvRegistrert"})
    else:
        raise ValueError(f"unknown caller {auth}")
    response.raise_for_status()
    return response.text


def _multipart(parts: list[tuple[str, str, str]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of (name, content type, text) parts, as .NET's client writes it."""
    boundary = uuid.uuid4().hex
    chunks = []
    for name, content_type, text in parts:
        chunks.append(
            f"--{boundary}\r\nContent-Type: {content_type}\r\n"
            f'Content-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'.encode()
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f'multipart/form-data; boundary="{boundary}"'


TEMPLATE = {"instanceOwner": {"partyId": PARTY}}
PREFILL_CASES = ("SimplifiedWithPrefill", "MultipartJsonPrefill", "MultipartXmlPrefill")


def instantiate(client: httpx.Client, headers: dict[str, str], case: str) -> httpx.Response:
    if case.startswith("Simplified"):
        body: dict[str, Any] = dict(TEMPLATE)
        if case == "SimplifiedWithPrefill":
            body["prefill"] = {"property1": "1", "property2": "1"}
        return client.post(f"/{ORG_APP}/instances/create", json=body, headers=headers)
    parts = [("instance", "application/json; charset=utf-8", json.dumps(TEMPLATE))]
    if case == "MultipartJsonPrefill":
        parts.append(("model", "application/json; charset=utf-8", '{"property1":"1","property2":"1"}'))
    elif case == "MultipartXmlPrefill":
        parts.append(
            (
                "model",
                "application/xml; charset=utf-8",
                "<model><property1>1</property1><property2>1</property2></model>",
            )
        )
    elif case != "MultipartNoPrefill":
        raise ValueError(f"unknown test case {case}")
    content, content_type = _multipart(parts)
    return client.post(
        f"/{ORG_APP}/instances", content=content, headers={**headers, "Content-Type": content_type}
    )


@dataclass
class Flow:
    """The responses of one replayed flow, by recorded step name (``3_ProcessNext``)."""

    responses: dict[str, httpx.Response] = field(default_factory=dict)
    # The instance as the fixture knew it when each step was recorded (for its id placeholders).
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Every App API exchange of the flow in order, recorded or not (compared with the app's logs).
    log: list[httpx.Response] = field(default_factory=list)


def _data_url(instance: dict[str, Any], element_id: str) -> str:
    return f"/{ORG_APP}/instances/{instance['id']}/data/{element_id}"


def run_full(client: httpx.Client, auth: str, case: str) -> Flow:
    headers = {"Authorization": f"Bearer {token(client, auth)}"}
    flow = Flow()
    hooks = client.event_hooks
    client.event_hooks = {**hooks, "response": [*hooks.get("response", []), flow.log.append]}
    try:
        _full(client, headers, flow, case)
    finally:
        client.event_hooks = hooks
    return flow


def _full(client: httpx.Client, headers: dict[str, str], flow: Flow, case: str) -> None:
    created = instantiate(client, headers, case)
    flow.responses["0_Instantiation"] = created
    if created.status_code != 201:
        return
    instance: dict[str, Any] = created.json()
    flow.instances["0_Instantiation"] = instance
    base = f"/{ORG_APP}/instances/{instance['id']}"
    model = next(e for e in instance["data"] if e["dataType"] == "model")
    as_json = {**headers, "Accept": "application/json"}

    client.get(base, headers=headers).raise_for_status()
    client.get(f"/{ORG_APP}/api/v1/applicationmetadata").raise_for_status()
    flow.responses["1_Download-Data[0]"] = client.get(_data_url(instance, model["id"]), headers=as_json)
    flow.instances["1_Download-Data[0]"] = instance
    patch = [
        {"op": "test", "path": "/property1", "value": "1" if case in PREFILL_CASES else None},
        {"op": "replace", "path": "/property1", "value": "2"},
        {"op": "replace", "path": "/property2", "value": "2"},
    ]
    flow.responses["2_PatchFormData"] = client.patch(
        f"{base}/data",
        json={"patches": [{"dataElementId": model["id"], "patch": patch}], "ignoredValidators": None},
        headers=headers,
    )
    flow.instances["2_PatchFormData"] = instance
    flow.responses["3_ProcessNext"] = client.put(f"{base}/process/next", headers=headers)
    flow.instances["3_ProcessNext"] = instance

    downloaded = client.get(base, headers=headers)
    flow.responses["4_Download-Instance"] = downloaded
    if downloaded.status_code != 200:
        return
    after: dict[str, Any] = downloaded.json()
    client.get(f"/{ORG_APP}/api/v1/applicationmetadata").raise_for_status()
    for key in ("4_Download-Instance", "5_Download-Data[0]", "6_Download-PDF"):
        flow.instances[key] = after
    flow.responses["5_Download-Data[0]"] = client.get(_data_url(after, model["id"]), headers=as_json)
    pdfs = [e for e in after["data"] if e["dataType"] == "ref-data-as-pdf"]
    if pdfs:
        flow.responses["6_Download-PDF"] = client.get(
            _data_url(after, pdfs[0]["id"]), headers={**headers, "Accept": "application/octet-stream"}
        )


def run_upload(client: httpx.Client, quoted: bool, new_endpoint: bool) -> Flow:
    headers = {"Authorization": f"Bearer {token(client, 'User')}"}
    flow = Flow()
    created = instantiate(client, headers, "MultipartNoPrefill")
    created.raise_for_status()
    instance: dict[str, Any] = created.json()
    base = f"/{ORG_APP}/instances/{instance['id']}"
    filename = '"Test Doc 2025.pdf"' if quoted else "Test Doc 2025.pdf"
    upload_headers = {
        **headers,
        "Content-Type": "application/pdf",
        "Content-Disposition": f"attachment; filename={filename}",
    }
    if new_endpoint:
        response = client.post(f"{base}/data/type/attachment", content=UPLOAD_BODY, headers=upload_headers)
    else:
        response = client.post(
            f"{base}/data", params={"dataType": "attachment"}, content=UPLOAD_BODY, headers=upload_headers
        )
    flow.responses["0_UploadResponse"] = response
    after = client.get(base, headers=headers)
    after.raise_for_status()
    flow.instances["0_UploadResponse"] = after.json()
    return flow


_CURRENT_PARTY = f"/{ORG_APP}/api/authorization/parties/current?returnPartyObject=true"
_PARTIES = f"/{ORG_APP}/api/v1/parties?allowedToInstantiateFilter="
# Where Tinn's App API serves each part of a recorded ``Authentication`` introspection.
AUTH_DETAILS: dict[str, str] = {
    "details.userParty": _CURRENT_PARTY,
    "details.selectedParty": _CURRENT_PARTY,
    "details.profile": f"/{ORG_APP}/api/v1/profile/user",
    "details.parties": f"{_PARTIES}false",
    "details.partiesAllowedToInstantiate": f"{_PARTIES}true",
    "details.party": _CURRENT_PARTY,
}


def run_authentication(
    client: httpx.Client, auth: str, recorded: dict[str, Any]
) -> dict[str, httpx.Response]:
    """The App API's answers for each part of the recorded introspection, by its path."""
    headers = {"Authorization": f"Bearer {token(client, auth)}"}
    responses: dict[str, httpx.Response] = {}
    for where, url in AUTH_DETAILS.items():
        if where.split(".")[1] in recorded.get("details", {}):
            responses[where] = client.get(url, headers=headers)
    return responses
