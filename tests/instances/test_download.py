"""`GET /storage/api/v1/instances/{p}/{g}/download`: one submitted instance as a ZIP."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import httpx

from tests.data import factories as f
from tests.instances.test_instantiation_fields import SOKNAD_XML


def submitted(client: httpx.Client) -> f.Api:
    token = f.user_token(client)
    files = {
        "instance": (None, b'{"instanceOwner": {"partyId": "501337"}}', "application/json"),
        "soknad": (None, SOKNAD_XML, "application/xml"),
    }
    created = client.post("/ttd/soknad/instances", files=files, headers=f.bearer(token))
    assert created.status_code == 201, created.text
    api = f.Api(client, token, created.json(), "soknad")
    disposition = {"Content-Disposition": "attachment; filename*=UTF-8''rapport%20%C3%A6%C3%B8%C3%A5.pdf"}
    assert api.upload("attachment", f.PDF, headers=disposition).status_code == 200
    moved = api.request("PUT", "/process/next")
    assert moved.status_code == 200, moved.text
    assert moved.json()["ended"] is not None
    return api


def download(client: httpx.Client, api: f.Api, token: str) -> httpx.Response:
    return client.get(f"/storage/api/v1/instances/{api.instance['id']}/download", headers=f.bearer(token))


def test_zip_holds_instance_data_attachments_receipt_and_a_verifiable_manifest(client: httpx.Client) -> None:
    api = submitted(client)
    response = download(client, api, f.org_token(client))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert names[0] == "instance.json" and names[-1] == "manifest.json"
    assert "attachment/rapport æøå.pdf" in names
    assert "ref-data-as-pdf/Søknad om tilskudd.pdf" in names
    [form] = [n for n in names if n.startswith("soknad/")]
    assert form.endswith(".xml")
    assert b"<belop>777</belop>" in archive.read(form)
    assert archive.read("attachment/rapport æøå.pdf") == f.PDF
    assert archive.read("ref-data-as-pdf/Søknad om tilskudd.pdf").startswith(b"%PDF")
    instance = json.loads(archive.read("instance.json"))
    assert instance["id"] == api.instance["id"]
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["instanceId"] == api.instance["id"]
    for item in manifest["files"]:
        content = archive.read(item["path"])
        assert item["size"] == len(content)
        assert item["sha256"] == hashlib.sha256(content).hexdigest()
    assert {item["path"] for item in manifest["files"]} == set(names) - {"manifest.json"}


def test_download_refusals(client: httpx.Client) -> None:
    api = submitted(client)
    stranger = f.user_token(client, user=1002, party=501200, pid="14898596282")
    assert download(client, api, stranger).status_code == 403
    missing = f"/storage/api/v1/instances/501337/{f.new_guid()}/download"
    assert client.get(missing, headers=f.bearer(f.org_token(client))).status_code == 404
    assert client.get(f"/storage/api/v1/instances/{api.instance['id']}/download").status_code == 401
