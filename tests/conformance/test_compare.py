"""The harness's own parts: the Verify parser, the comparison rules and the PDF check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fpdf import FPDF

from tests.conformance.compare import Bindings, compare_response, compare_value, match_scalar, status_code
from tests.conformance.expected import EXPECTED, expected_for
from tests.conformance.harness import _compare_by_party, check_pdf, compare_logs, logged_exchanges
from tests.conformance.replay import Flow
from tests.conformance.verify import VerifyFormatError, parse_verify, recording_name

SAMPLE = """\ufeff{
  HttpResponse: {
    Content: {
      Headers: {
        Content-Type: [
          application/json; charset=utf-8
        ]
      }
    },
    StatusCode: Created,
    StatusCode: Created,
    Headers: {
      Date: <date>,
      Location: [
        https://local.altinn.cloud:<localtestPort>/ttd/basic/instances/501337/<instanceGuid>
      ],
      X-Frame-Options: [
        deny
      ]
    },
    TrailingHeaders: {},
    RequestMessage: {
      Content: [],
      Method: {
        Method: POST
      },
      RequestUri: http://local.altinn.cloud:<localtestPort>/ttd/basic/instances?x=1,
      Headers: {
        Accept: [
          application/json
        ]
      }
    }
  },
  Response: {
    Id: 501337/<instanceGuid>,
    Created: DateTime_1,
    LastChanged: DateTime_2,
    Status: {
      IsArchived: false
    },
    Data: [
      {
        Id: <dataElementId[0]>,
        Size: {Scrubbed}
      }
    ]
  }
}"""

GUID = "8e1b2a4c-0a3b-4d7e-9f1a-2b3c4d5e6f70"
DATA = "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a10"


def parsed() -> dict[str, Any]:
    value = parse_verify(SAMPLE)
    assert isinstance(value, dict)
    return value


def body(**changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": f"501337/{GUID}",
        "created": "2025-01-02T03:04:05.123456Z",
        "lastChanged": "2025-01-02T03:04:06Z",
        "status": {"isArchived": False, "readStatus": 0},
        "data": [{"id": DATA, "size": 146, "tags": [], "filename": None}],
        "dueBefore": None,
    }
    result.update(changes)
    return result


def response(
    json: dict[str, Any] | None = None,
    *,
    status: int = 201,
    headers: dict[str, str] | None = None,
    url: str = "http://127.0.0.1:1/ttd/basic/instances?x=1",
    accept: str = "application/json",
) -> httpx.Response:
    sent = {
        "Location": f"https://local.altinn.cloud:8000/ttd/basic/instances/501337/{GUID}",
        "X-Frame-Options": "deny",
        "Content-Type": "application/json; charset=utf-8",
    }
    sent.update(headers or {})
    request = httpx.Request("POST", url, headers={"Accept": accept})
    return httpx.Response(status, json=json if json is not None else body(), headers=sent, request=request)


def differences(ours: httpx.Response) -> list[str]:
    return [d.where for d in compare_response(parsed(), ours, Bindings())]


def test_the_parser_reads_verify_text() -> None:
    recording = parsed()
    http = recording["HttpResponse"]
    assert http["StatusCode"] == "Created"
    assert http["TrailingHeaders"] == {} and http["RequestMessage"]["Content"] == []
    assert http["Headers"]["Location"] == [
        "https://local.altinn.cloud:<localtestPort>/ttd/basic/instances/501337/<instanceGuid>"
    ]
    assert recording["Response"]["Data"] == [{"Id": "<dataElementId[0]>", "Size": "{Scrubbed}"}]


@pytest.mark.parametrize("text", ["", "{\n  A: 1,\n", "{\n  no colon\n}", "[basic/default] [INFO] log"])
def test_the_parser_refuses_what_is_not_verify_json(text: str) -> None:
    with pytest.raises(VerifyFormatError):
        parse_verify(text)


def test_recording_names() -> None:
    name = recording_name(
        Path("BasicAppTests.Full_auth=OldUser_testCase=MultipartXmlPrefill_5_Download-Data[0].verified.txt")
    )
    assert (name.test, name.auth, name.case, name.step, name.kind) == (
        "Full",
        "OldUser",
        "MultipartXmlPrefill",
        5,
        "Download-Data[0]",
    )
    single = recording_name(Path("BasicAppTests.AppConnectivity_Localtest.verified.txt"))
    assert (single.test, single.params, single.step) == ("AppConnectivity_Localtest", {}, None)


def test_a_faithful_response_matches() -> None:
    assert differences(response()) == []


@pytest.mark.parametrize(
    ("ours", "where"),
    [
        (response(status=200), "status"),
        (response(headers={"X-Frame-Options": "sameorigin"}), "header X-Frame-Options"),
        (response(headers={"Cache-Control": "no-store"}), "header Cache-Control"),
        (
            response(headers={"Location": f"https://elsewhere:8000/ttd/basic/instances/501337/{GUID}"}),
            "header Location",
        ),
        (response(body(status={"isArchived": True})), "Response.Status.IsArchived"),
        (response(body(status={"isArchived": False, "readStatus": 1})), "Response.Status.ReadStatus"),
        (response(body(extra="x")), "Response.Extra"),
        (response(body(data=[])), "Response.Data.length"),
        # Location names one instance, the body another: a placeholder stands for one value.
        (response(body(id=f"501337/{DATA}")), "Response.Id"),
        # Two DateTime names must be two instants.
        (response(body(lastChanged="2025-01-02T03:04:05.123456+00:00")), "Response.LastChanged"),
        (response(url="http://127.0.0.1:1/ttd/basic/instances"), "request uri"),
        (response(accept="application/xml"), "request header Accept"),
    ],
)
def test_each_kind_of_difference_is_found(ours: httpx.Response, where: str) -> None:
    assert where in differences(ours)


def test_omitted_members_are_only_nulls_empties_and_enum_defaults() -> None:
    recorded = {"A": "1"}
    for omittable in ({"a": 1, "b": None}, {"a": 1, "b": []}, {"a": 1, "readStatus": 0}):
        assert compare_value(recorded, omittable, "R", Bindings()) == []
    for extra, where in (
        ({"a": 1, "b": 0}, "R.B"),
        ({"a": 1, "b": False}, "R.B"),
        ({"a": 1, "readStatus": 1}, "R.ReadStatus"),
    ):
        assert [d.where for d in compare_value(recorded, extra, "R", Bindings())] == [where]


def test_placeholders_bind_consistently() -> None:
    bindings = Bindings()
    assert match_scalar("Guid_1", GUID, bindings)
    assert match_scalar("Guid_1", GUID.upper(), bindings)
    assert not match_scalar("Guid_1", DATA, bindings)
    assert not match_scalar("Guid_2", GUID, bindings)
    assert match_scalar("DateTime_1", "2025-01-02T03:04:05Z", bindings)
    assert match_scalar("DateTime_1", "2025-01-02T03:04:05+00:00", bindings)
    assert not match_scalar("DateTime_2", "2025-01-02T03:04:05.000Z", bindings)
    assert not match_scalar("DateTime_1", "yesterday", bindings)
    assert match_scalar("{Scrubbed}", "anything", bindings)


def test_json_elements_and_raw_json_bodies() -> None:
    assert compare_value({"Data": {"ValueKind": "Object"}}, {"data": {"a": 1}}, "R", Bindings()) == []
    assert compare_value({"Data": {"ValueKind": "Object"}}, {"data": [1]}, "R", Bindings()) != []
    recording = parsed()
    recording["Response"] = '{"title":"t","status":400,"errors":null}'
    ours = response({"title": "t", "status": 400, "errors": None})
    assert [
        d.where for d in compare_response(recording, ours, Bindings()) if d.where.startswith("Response")
    ] == []
    ours = response({"title": "other", "status": 400, "errors": None})
    assert "Response.title" in [d.where for d in compare_response(recording, ours, Bindings())]


def test_status_names() -> None:
    assert (status_code("Created"), status_code("BadRequest"), status_code("OK")) == (201, 400, 200)


def _pdf(text: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def test_the_pdf_check_reads_the_text() -> None:
    good = httpx.Response(200, content=_pdf(f"basic\nAvsender Sophie Salt\nInstans-ID 501337/{GUID}"))
    assert check_pdf(good, f"501337/{GUID}") == []
    assert [d.recorded for d in check_pdf(good, f"501337/{DATA}")] == [f"501337/{DATA}"]
    missing = httpx.Response(200, content=_pdf(f"basic\n501337/{GUID}"))
    assert [d.recorded for d in check_pdf(missing, f"501337/{GUID}")] == ["Sophie Salt"]
    broken = httpx.Response(200, content=b"%PDF-1.4 not really")
    assert [d.where for d in check_pdf(broken, f"501337/{GUID}")] == ["pdf"]


def test_expected_entries_only_cover_their_values() -> None:
    name = recording_name(
        Path("BasicAppTests.Full_auth=User_testCase=SimplifiedNoPrefill_0_Instantiation.verified.txt")
    )
    identity = next(e for e in EXPECTED if e.key == "app-identity")
    found = compare_value({"CreatedBy": "991825827"}, {"createdBy": "1337"}, "Response", Bindings())
    assert [expected_for(name, d) for d in found] == [identity]
    # Another caller in our answer is not the app-identity difference.
    found = compare_value({"CreatedBy": "991825827"}, {"createdBy": "42"}, "Response", Bindings())
    assert [expected_for(name, d) for d in found] == [None]
    assert all(entry.reason for entry in EXPECTED)


def test_party_lists_are_compared_party_by_party() -> None:
    recorded = [{"partyId": "1", "name": "A"}, {"partyId": "2", "name": "B"}]
    found = _compare_by_party(recorded, [{"partyId": 2, "name": "B", "extra": 1}], "L", Bindings())
    assert [(d.where, d.recorded, d.ours) for d in found] == [("L[partyId=1]", "listed", "<absent>")]
    found = _compare_by_party(recorded, [{"partyId": 1, "name": "X"}, {"partyId": 3}], "L", Bindings())
    assert [d.where for d in found] == ["L[partyId=1].name", "L[partyId=2]", "L[partyId=3]"]


LOG = """\ufeff[basic/default] [INFO] ### Request: Instances.Get - User: User/1337/501337, AuthLevel: 2, AuthMethod: BankID
[basic/default] [INFO] IDataProcessor.ProcessDataRead
[basic/default] [INFO] ### Response: Instances.Get - OkObjectResult, StatusCode: 200
[basic/default] [INFO] ### Request: ApplicationMetadata.GetAction - User: None/none, AuthLevel: 0, AuthMethod: none
[basic/default] [INFO] ### Response: ApplicationMetadata.GetAction - OkObjectResult, StatusCode: 200
[basic/default] [INFO] ### Request: Data.Get - User: User/1337/501337, AuthLevel: 2, AuthMethod: BankID
[basic/default] [INFO] ### Response: Data.Get - FileStreamResult, StatusCode: """


def _exchange(method: str, path: str, status: int, *, token: bool = True) -> httpx.Response:
    headers = {"Authorization": "Bearer x"} if token else {}
    return httpx.Response(status, request=httpx.Request(method, f"http://h{path}", headers=headers))


def test_app_logs_are_compared_request_by_request(tmp_path: Path) -> None:
    assert logged_exchanges(LOG) == [
        ("Instances.Get", False, "200"),
        ("ApplicationMetadata.GetAction", True, "200"),
        ("Data.Get", False, ""),
    ]
    path = tmp_path / "BasicAppTests.Full_auth=User_testCase=SimplifiedNoPrefill_7_Logs.verified.txt"
    path.write_text(LOG, encoding="utf-8")
    instance = f"/ttd/basic/instances/501337/{GUID}"
    flow = Flow(
        log=[
            _exchange("GET", instance, 200),
            _exchange("GET", "/ttd/basic/api/v1/applicationmetadata", 200, token=False),
            _exchange("GET", f"{instance}/data/{DATA}", 206),
        ]
    )
    assert compare_logs(path, flow).differences == []
    flow.log[1] = _exchange("GET", "/ttd/basic/api/v1/applicationmetadata", 200)
    assert [d.where for d in compare_logs(path, flow).differences] == ["request 1"]
    flow.log = flow.log[:2]
    assert [d.where for d in compare_logs(path, flow).differences] == ["requests", "request 1"]
    flow.log = [_exchange("GET", instance, 403)]
    assert "request 0" in [d.where for d in compare_logs(path, flow).differences]
