"""presentationTexts/dataValues follow form data supplied at instantiation (app notes 5.6)."""

from __future__ import annotations

import httpx

from tests.data import factories as f

SOKNAD_XML = (
    b"<?xml version='1.0' encoding='utf-8'?>"
    b"<Soknad><navn>Kari</navn><organisasjonsnummer>950474084</organisasjonsnummer>"
    b"<belop>777</belop><kategori>Utstyr</kategori></Soknad>"
)


def test_multipart_form_data_fills_presentation_texts(client: httpx.Client) -> None:
    token = f.user_token(client)
    files = {
        "instance": (None, b'{"instanceOwner": {"partyId": "501337"}}', "application/json"),
        "soknad": (None, SOKNAD_XML, "application/xml"),
    }
    response = client.post("/ttd/soknad/instances", files=files, headers=f.bearer(token))
    assert response.status_code == 201, response.text
    assert response.json()["presentationTexts"] == {"belop": "777"}
