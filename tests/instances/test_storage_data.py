"""Storage data element endpoints: download (Range, ETag, isRead), list, upload, replace, metadata,
delete (now or delayed), data locks and signing."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest

from tests.instances.storage_factory import (
    ORG_NUMBER,
    USER_PARTY,
    ElementSpec,
    StorageEnv,
    build_instance,
    seed,
    start_env,
)
from tinn.instances.models import ReadStatus
from tinn.instances.store import InstanceRecord, load_events, read_instance
from tinn.storage.blobs import read_all
from tinn.timeutil import to_iso

CONTENT = b"%PDF-1.4\n0123456789abcdefghij\n%%EOF\n"


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEnv]:
    environment = start_env(database_url, tmp_path_factory.mktemp("data"), {"main": {}})
    try:
        yield environment
    finally:
        environment.server.stop()


def _new(env: StorageEnv, elements: list[ElementSpec] | None = None, **kwargs: Any) -> InstanceRecord:
    return seed(env, build_instance(env.apps["main"], last_changed=env.clock.now(), **kwargs), elements)


def _reload(env: StorageEnv, iid: str) -> InstanceRecord:
    record = env.server.run(read_instance(env.services.db, uuid.UUID(iid.split("/")[1])))
    assert record is not None
    return record


def _event_types(env: StorageEnv, iid: str) -> list[tuple[str, str | None]]:
    async def run() -> list[tuple[str, str | None]]:
        async with env.services.db.read() as conn:
            events = await load_events(conn, uuid.UUID(iid.split("/")[1]))
        return [(e.event_type or "", e.data_id) for e in events]

    return env.server.run(run())


@pytest.fixture(scope="module")
def doc(env: StorageEnv) -> tuple[str, str]:
    record = _new(env, [ElementSpec(content=CONTENT, filename="Søknad om støtte.pdf")])
    return record.instance.id or "", record.data[0].element.id


# -- download --------------------------------------------------------------------------------------------


def test_download_headers(env: StorageEnv, doc: tuple[str, str]) -> None:
    iid, data_id = doc
    response = env.request("user", "GET", f"/{iid}/data/{data_id}")
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.headers["etag"] == f'"{hashlib.sha256(CONTENT).hexdigest()}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"S_knad om st_tte.pdf\"; filename*=UTF-8''S%C3%B8knad%20om%20st%C3%B8tte.pdf"
    )


@pytest.mark.parametrize(
    ("range_header", "status", "expected", "content_range"),
    [
        ("bytes=0-4", 206, CONTENT[0:5], f"bytes 0-4/{len(CONTENT)}"),
        ("bytes=10-", 206, CONTENT[10:], f"bytes 10-{len(CONTENT) - 1}/{len(CONTENT)}"),
        ("bytes=-6", 206, CONTENT[-6:], f"bytes {len(CONTENT) - 6}-{len(CONTENT) - 1}/{len(CONTENT)}"),
        ("bytes=-1000", 206, CONTENT, f"bytes 0-{len(CONTENT) - 1}/{len(CONTENT)}"),
        ("bytes=5-100000", 206, CONTENT[5:], f"bytes 5-{len(CONTENT) - 1}/{len(CONTENT)}"),
        (f"bytes={len(CONTENT)}-", 416, b"", f"bytes */{len(CONTENT)}"),
        ("bytes=-0", 416, b"", f"bytes */{len(CONTENT)}"),
        ("bytes=0-1,4-5", 200, CONTENT, None),
        ("bytes=5-2", 200, CONTENT, None),
        ("items=0-1", 200, CONTENT, None),
        ("bytes=x-y", 200, CONTENT, None),
    ],
)
def test_download_ranges(
    env: StorageEnv,
    doc: tuple[str, str],
    range_header: str,
    status: int,
    expected: bytes,
    content_range: str | None,
) -> None:
    iid, data_id = doc
    response = env.request("user", "GET", f"/{iid}/data/{data_id}", headers={"Range": range_header})
    assert response.status_code == status
    assert response.content == expected
    assert response.headers.get("content-range") == content_range


def test_conditional_download(env: StorageEnv, doc: tuple[str, str]) -> None:
    iid, data_id = doc
    etag = f'"{hashlib.sha256(CONTENT).hexdigest()}"'
    assert (
        env.request("user", "GET", f"/{iid}/data/{data_id}", headers={"If-None-Match": etag}).status_code
        == 304
    )
    stale = env.request(
        "user", "GET", f"/{iid}/data/{data_id}", headers={"Range": "bytes=0-1", "If-Range": '"old"'}
    )
    assert stale.status_code == 200 and stale.content == CONTENT
    fresh = env.request(
        "user", "GET", f"/{iid}/data/{data_id}", headers={"Range": "bytes=0-1", "If-Range": etag}
    )
    assert fresh.status_code == 206 and fresh.content == CONTENT[:2]


def test_download_refusals(env: StorageEnv, doc: tuple[str, str]) -> None:
    iid, data_id = doc
    assert env.request("stranger", "GET", f"/{iid}/data/{data_id}").status_code == 403
    missing = env.request("user", "GET", f"/{iid}/data/{uuid.uuid4()}")
    assert missing.status_code == 404 and "Unable to find any data element" in missing.json()
    assert env.request("user", "GET", f"/{iid}/data/nope").content == b""
    guid = iid.split("/")[1]
    assert env.request("user", "GET", f"/0/{guid}/data/{data_id}").status_code == 400


def test_download_marks_read_for_everyone_but_the_owner(env: StorageEnv) -> None:
    record = _new(env, [ElementSpec(is_read=False)])
    iid, data_id = record.instance.id or "", record.data[0].element.id
    assert env.request("owner", "GET", f"/{iid}/data/{data_id}").status_code == 200
    assert _reload(env, iid).data[0].element.is_read is False
    assert env.request("user", "GET", f"/{iid}/data/{data_id}").status_code == 200
    assert _reload(env, iid).data[0].element.is_read is True


def test_hard_deleted_and_secret_elements(env: StorageEnv) -> None:
    record = _new(
        env,
        [ElementSpec(data_type="utkast", hard_deleted=env.clock.now()), ElementSpec(data_type="hemmelig")],
    )
    iid = record.instance.id or ""
    deleted, secret = (d.element.id for d in record.data)
    assert env.request("user", "GET", f"/{iid}/data/{deleted}").status_code == 404
    assert env.request("owner", "GET", f"/{iid}/data/{deleted}").status_code == 200
    assert env.request("user", "GET", f"/{iid}/data/{secret}").status_code == 403
    assert env.request("owner", "GET", f"/{iid}/data/{secret}").status_code == 200
    user_list = env.request("user", "GET", f"/{iid}/dataelements").json()["dataElements"]
    owner_list = env.request("owner", "GET", f"/{iid}/dataelements").json()["dataElements"]
    assert [e["id"] for e in user_list] == [secret]
    assert [e["id"] for e in owner_list] == [deleted, secret]
    assert owner_list[0]["selfLinks"]["platform"].endswith(f"/{iid}/data/{deleted}")
    assert env.request("stranger", "GET", f"/{iid}/dataelements").status_code == 403


# -- upload, replace, metadata -----------------------------------------------------------------------------


def test_upload_raw_body(env: StorageEnv) -> None:
    record = _new(env)
    iid = record.instance.id or ""
    env.clock.advance(timedelta(minutes=1))
    ref = str(uuid.uuid4())
    response = env.request(
        "user",
        "POST",
        f"/{iid}/data",
        params=[("dataType", "vedlegg"), ("refs", ref), ("generatedFromTask", "Task_1")],
        content=b"plain text, not a PDF",
        headers={
            "Content-Type": "text/plain",
            "Content-Disposition": "attachment; filename=notat%20nr+1.txt",
        },
    )
    assert response.status_code == 201, response.text
    element = response.json()
    assert response.headers["location"] == element["selfLinks"]["platform"]
    assert element["filename"] == "notat nr 1.txt"
    assert element["contentType"] == "text/plain"  # Storage does not enforce allowedContentTypes
    assert element["size"] == len(b"plain text, not a PDF")
    assert element["isRead"] is True
    assert element["refs"] == [ref]
    assert element["references"] == [{"value": "Task_1", "relation": "GeneratedFrom", "valueType": "Task"}]
    assert element["blobStoragePath"] == f"{env.apps['main']}/{iid.split('/')[1]}/data/{element['id']}"
    stored = _reload(env, iid)
    assert stored.instance.last_changed == env.clock.now()
    assert ("Created", element["id"]) in _event_types(env, iid)


def test_owner_upload_is_unread_and_flags_the_instance(env: StorageEnv) -> None:
    record = _new(env)
    iid = record.instance.id or ""
    response = env.request(
        "owner",
        "POST",
        f"/{iid}/data",
        params={"dataType": "vedlegg"},
        content=CONTENT,
        headers={"Content-Type": "application/pdf"},
    )
    assert response.json()["isRead"] is False
    assert _reload(env, iid).instance.status.read_status == ReadStatus.UpdatedSinceLastReview


def test_upload_first_multipart_part(env: StorageEnv) -> None:
    iid = _new(env).instance.id or ""
    files = [
        ("file", ("første.pdf", CONTENT, "application/pdf")),
        ("other", ("x.txt", b"ignored", "text/plain")),
    ]
    response = env.request("user", "POST", f"/{iid}/data", params={"dataType": "vedlegg"}, files=files)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "første.pdf"
    assert response.json()["size"] == len(CONTENT)


@pytest.mark.parametrize(
    ("params", "body", "status", "message"),
    [
        ({"dataType": "vedlegg"}, b"", 400, None),
        (
            {"dataType": "nosuchtype"},
            CONTENT,
            400,
            "Requested element type is not declared in application metadata",
        ),
        (
            {},
            CONTENT,
            400,
            "Missing parameter values: instanceId, elementType or attached file content cannot be null",
        ),
    ],
)
def test_upload_refusals_leave_no_blob(
    env: StorageEnv, params: dict[str, str], body: bytes, status: int, message: str | None
) -> None:
    record = _new(env)
    iid = record.instance.id or ""
    before = _blob_keys(env, record)
    response = env.request("user", "POST", f"/{iid}/data", params=params, content=body)
    assert response.status_code == status
    if message:
        assert response.json() == message
    assert _blob_keys(env, record) == before
    assert _reload(env, iid).data == []


def _blob_keys(env: StorageEnv, record: InstanceRecord) -> list[str]:
    from tinn.instances.cleanup import list_blobs

    prefix = f"{record.instance.app_id}/{(record.instance.id or '').split('/')[1]}/"

    async def run() -> list[str]:
        return [b.key async for b in list_blobs(env.services.blobs) if b.key.startswith(prefix)]

    return env.server.run(run())


def test_replace_content(env: StorageEnv) -> None:
    record = _new(env, [ElementSpec(content=CONTENT)])
    iid, data = record.instance.id or "", record.data[0]
    env.clock.advance(timedelta(minutes=1))
    replaced = env.request(
        "owner",
        "PUT",
        f"/{iid}/data/{data.element.id}",
        content=b"%PDF-1.7 new",
        headers={"Content-Type": "application/pdf", "Content-Disposition": 'attachment; filename="ny.pdf"'},
    )
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["size"] == len(b"%PDF-1.7 new") and body["filename"] == "ny.pdf"
    assert body["blobStoragePath"] == data.element.blob_storage_path
    assert body["isRead"] is False and body["lastChangedBy"] == ORG_NUMBER
    stored = _reload(env, iid).data[0]
    assert stored.blob_key != data.blob_key
    assert not env.server.run(env.services.blobs.exists(data.blob_key or ""))
    assert env.server.run(read_all(env.services.blobs, stored.blob_key or "")) == b"%PDF-1.7 new"
    assert ("Saved", data.element.id) in _event_types(env, iid)
    empty = env.request("owner", "PUT", f"/{iid}/data/{data.element.id}", content=b"")
    assert empty.status_code == 422 and empty.json() == "Could not process attached file"
    assert _blob_keys(env, record) == [stored.blob_key]


def test_metadata_update(env: StorageEnv) -> None:
    record = _new(env, [ElementSpec()])
    iid = record.instance.id or ""
    element = env.request("user", "GET", f"/{iid}/dataelements").json()["dataElements"][0]
    changed = {
        **element,
        "tags": ["a", "b"],
        "userDefinedMetadata": [{"key": "k", "value": "v"}],
        "lastChanged": "2030-01-01T00:00:00Z",
        "lastChangedBy": "someone",
        "size": 999999,
        "filename": "ignored.pdf",
    }
    response = env.request("user", "PUT", f"/{iid}/dataelements/{element['id']}", json=changed)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tags"] == ["a", "b"] and body["userDefinedMetadata"] == [{"key": "k", "value": "v"}]
    assert body["lastChanged"] == "2030-01-01T00:00:00Z" and body["lastChangedBy"] == "someone"
    assert body["size"] == element["size"] and body["filename"] == element["filename"]
    assert to_iso(_reload(env, iid).instance.last_changed) == "2030-01-01T00:00:00Z"  # type: ignore[arg-type]
    mismatch = env.request("user", "PUT", f"/{iid}/dataelements/{uuid.uuid4()}", json=changed)
    assert mismatch.status_code == 400 and mismatch.json() == "Mismatch between path and dataElement content"
    assert (
        env.request("stranger", "PUT", f"/{iid}/dataelements/{element['id']}", json=changed).status_code
        == 403
    )


# -- delete --------------------------------------------------------------------------------------------------


def test_delete_now(env: StorageEnv) -> None:
    record = _new(env, [ElementSpec()])
    iid, data = record.instance.id or "", record.data[0]
    response = env.request("user", "DELETE", f"/{iid}/data/{data.element.id}")
    assert response.status_code == 200
    assert response.json()["id"] == data.element.id
    assert _reload(env, iid).data == []
    assert not env.server.run(env.services.blobs.exists(data.blob_key or ""))
    assert ("Deleted", data.element.id) in _event_types(env, iid)


def test_delayed_delete(env: StorageEnv) -> None:
    record = _new(env, [ElementSpec(data_type="utkast"), ElementSpec()])
    iid = record.instance.id or ""
    draft, attachment = (d.element.id for d in record.data)
    refused = env.request("user", "DELETE", f"/{iid}/data/{attachment}", params={"delay": "true"})
    assert refused.status_code == 400
    assert refused.json() == "DataType vedlegg does not support delayed deletion"
    marked = env.request("user", "DELETE", f"/{iid}/data/{draft}", params={"delay": "true"}).json()
    assert marked["deleteStatus"] == {"isHardDeleted": True, "hardDeleted": to_iso(env.clock.now())}
    assert len(_reload(env, iid).data) == 2  # still there until cleanup
    assert env.request("user", "DELETE", f"/{iid}/data/{draft}", params={"delay": "true"}).status_code == 404
    again = env.request("owner", "DELETE", f"/{iid}/data/{draft}", params={"delay": "true"})
    assert again.status_code == 200 and again.json()["deleteStatus"]["isHardDeleted"] is True


# -- data locks ------------------------------------------------------------------------------------------------


def test_data_lock_and_unlock(env: StorageEnv) -> None:
    record = _new(env, [ElementSpec()])
    iid, data_id = record.instance.id or "", record.data[0].element.id
    assert env.request("user", "PUT", f"/{iid}/data/{data_id}/lock").status_code == 201
    again = env.request("user", "PUT", f"/{iid}/data/{data_id}/lock")
    assert again.status_code == 200 and again.json()["locked"] is True
    locked = env.request("user", "PUT", f"/{iid}/data/{data_id}", content=CONTENT)
    assert locked.status_code == 409
    assert locked.json() == f"Data element {data_id} is locked and cannot be updated"
    assert env.request("stranger", "DELETE", f"/{iid}/data/{data_id}/lock").status_code == 403
    guid = str(uuid.uuid4())
    assert env.request("user", "DELETE", f"/{USER_PARTY}/{guid}/data/{data_id}/lock").status_code == 403
    unlocked = env.request("user", "DELETE", f"/{iid}/data/{data_id}/lock")
    assert unlocked.status_code == 200 and unlocked.json()["locked"] is False
    assert env.request("user", "PUT", f"/{iid}/data/{data_id}", content=CONTENT).status_code == 200
    assert env.request("stranger", "PUT", f"/{iid}/data/{data_id}/lock").status_code == 403


# -- signing ----------------------------------------------------------------------------------------------------


def test_sign(env: StorageEnv) -> None:
    record = _new(
        env,
        [ElementSpec(content=CONTENT), ElementSpec(content=b"second")],
        task="Task_2",
        task_type="signing",
    )
    iid = record.instance.id or ""
    first, second = (d.element.id for d in record.data)
    request = {
        "signatureDocumentDataType": "signatur",
        "generatedFromTask": "Task_2",
        "dataElementSignatures": [
            {"dataElementId": first, "signed": True},
            {"dataElementId": second, "signed": False},
        ],
        "signee": {"userId": "1337", "personNumber": "01039012345"},
    }
    response = env.request("user", "POST", f"/{iid}/sign", json=request)
    assert response.status_code == 201, response.text
    assert response.json() == "SignDocument is created"
    stored = _reload(env, iid)
    documents = [d for d in stored.data if d.element.data_type == "signatur"]
    assert len(documents) == 1
    element = documents[0].element
    assert element.locked is True and element.content_type == "application/json"
    assert element.filename == "signatur.json"
    assert element.references and element.references[0].value == "Task_2"
    content = orjson.loads(env.server.run(read_all(env.services.blobs, documents[0].blob_key or "")))
    assert content["id"] == element.id and content["instanceGuid"] == iid.split("/")[1]
    assert content["signeeInfo"] == {
        "userId": "1337",
        "personNumber": "01039012345",
        "organisationNumber": None,
        "systemUserId": None,
    }
    assert content["dataElementSignatures"] == [
        {"dataElementId": first, "sha256Hash": hashlib.sha256(CONTENT).hexdigest(), "signed": True},
        {"dataElementId": second, "sha256Hash": hashlib.sha256(b"second").hexdigest(), "signed": False},
    ]
    assert ("Signed", None) in _event_types(env, iid)
    # The same signee again replaces the document; another signee adds one.
    assert env.request("user", "POST", f"/{iid}/sign", json=request).status_code == 201
    other = {**request, "signee": {"userId": "1001"}}
    assert env.request("user", "POST", f"/{iid}/sign", json=other).status_code == 201
    assert len([d for d in _reload(env, iid).data if d.element.data_type == "signatur"]) == 2


def test_sign_refusals(env: StorageEnv) -> None:
    record = _new(env, [ElementSpec()])
    iid, data_id = record.instance.id or "", record.data[0].element.id
    base = {"signatureDocumentDataType": "signatur", "dataElementSignatures": [{"dataElementId": data_id}]}
    no_signee = env.request("user", "POST", f"/{iid}/sign", json=base)
    assert no_signee.status_code == 400
    assert (
        no_signee.json()["detail"] == "The 'UserId' or 'SystemUserId' parameter must be defined for signee."
    )
    wrong_task = env.request("user", "POST", f"/{iid}/sign", json={**base, "signee": {"userId": "1337"}})
    assert wrong_task.status_code == 405  # `signatur` belongs to Task_2, the instance is in Task_1
    assert (
        env.request("stranger", "POST", f"/{iid}/sign", json={**base, "signee": {"userId": "1"}}).status_code
        == 403
    )
