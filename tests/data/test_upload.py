"""Binary upload rules (app notes 5.2/5.3): Content-Disposition, filenames, MIME types, the ordered
header checks, content sniffing, bounded streams and the form-data body format."""

from __future__ import annotations

import gzip
import io
import json
import re
import struct
import zipfile
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED
from tinn.appdef.models import DataType
from tinn.data.upload import (
    CONTENT_TYPE_NOT_ALLOWED,
    DATA_ELEMENT_TOO_LARGE,
    INVALID_FILE_NAME_FORMAT,
    MISSING_FILE_NAME,
    SNIFF_BYTES,
    UPLOAD_PROBLEM_DETAIL,
    UPLOAD_PROBLEM_TITLE,
    ContentDisposition,
    StreamLimiter,
    TooLarge,
    UnsafeFilename,
    UploadIssue,
    UploadProblem,
    check_content,
    check_upload,
    content_matches,
    display_filename,
    filename_problem,
    form_data_format,
    issues_text,
    max_size_bytes,
    mime_type_for_extension,
    mime_types_for_extension,
    missing_content_type,
    parse_content_disposition,
    peek,
    request_too_large,
    safe_filename,
    sniff_content_type,
    zero_bytes,
)

TESTDATA = SHARED / "apps" / "tdd" / "contributer-restriction" / "_testdata_"
SNAPSHOTS = SHARED / "conformance" / "basic-app-snapshots"
PREFIX = "Invalid data provided. Error: "

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"


def data_type(**fields: Any) -> DataType:
    return DataType.model_validate({"id": "attachment", **fields})


RESTRICTED = data_type(maxSize=1, allowedContentTypes=[PDF, "image/png", "application/json"])
UNRESTRICTED = data_type(maxSize=1)


# -- Content-Disposition ---------------------------------------------------------------------------

UNPARSEABLE = object()


@pytest.mark.parametrize(
    ("header", "filename"),
    [
        (None, UNPARSEABLE),
        ("", UNPARSEABLE),
        ('attachment; filename="Test Doc 2025.pdf"', "Test Doc 2025.pdf"),
        ("attachment; filename=test.pdf", "test.pdf"),
        # Altinn's rule: an unquoted filename with spaces makes the header unparseable.
        ("attachment; filename=Test Doc 2025.pdf", UNPARSEABLE),
        # ... as does any character outside the token alphabet.
        ("attachment; filename=report(1).pdf", UNPARSEABLE),
        ("attachment; filename=æøå.pdf", UNPARSEABLE),
        ("attachment; filename*=UTF-8''%C3%A6%C3%B8%C3%A5.pdf", "æøå.pdf"),
        ("attachment; filename*=utf-8''%C3%A6%C3%B8%C3%A5.pdf; filename=\"fallback.pdf\"", "æøå.pdf"),
        ("attachment; filename=\"fallback.pdf\"; filename*=UTF-8''%C3%A6.pdf", "æ.pdf"),
        ("attachment; filename*=ISO-8859-1''%E6%F8%E5.pdf", "æøå.pdf"),
        ("attachment; filename*=UTF-8'nb'%C3%A6%20x.pdf", "æ x.pdf"),
        # filename* that cannot be decoded falls back to filename.
        ("attachment; filename*=windows-1252''%E6.pdf; filename=x.pdf", "x.pdf"),
        ("attachment; filename*=\"UTF-8''a.pdf\"; filename=b.pdf", "b.pdf"),
        ("attachment; filename*=UTF-8''a'b.pdf; filename=c.pdf", "c.pdf"),
        ("attachment; filename*=nocharset.pdf; filename=c.pdf", "c.pdf"),
        # ... but one that decodes to nothing wins, and leaves no filename.
        ("attachment; filename*=UTF-8''; filename=x.pdf", None),
        # Quotes around the name are trimmed, quoted-pairs unescaped.
        ('attachment; filename="\\"quoted\\".pdf"', 'quoted".pdf'),
        ('attachment; filename="a\\\\b.pdf"', "a\\b.pdf"),
        ('attachment; filename=""', None),
        ('attachment; filename="\\"\\""', None),
        # A quoted base64 MIME word is decoded, as .NET does; Q-encoding is not.
        ('attachment; filename="=?utf-8?B?w6bDuMOlLnBkZg==?="', "æøå.pdf"),
        ('attachment; filename="=?utf-8?B?not base64?="', "=?utf-8?B?not base64?="),
        ('attachment; filename="=?utf-8?Q?abc.pdf?="', "=?utf-8?Q?abc.pdf?="),
        # Raw UTF-8 arrives decoded as ISO-8859-1 and is read as UTF-8; real ISO-8859-1 stays.
        ('attachment; filename="æøå.pdf"'.encode().decode("latin-1"), "æøå.pdf"),
        ('attachment; filename="æøå.pdf"', "æøå.pdf"),
        ("attachment; FILENAME=x.pdf", "x.pdf"),
        ('  attachment ;  filename = "x.pdf"  ', "x.pdf"),
        ("attachment;\tfilename=x.pdf", "x.pdf"),
        ("attachment; filename=a.pdf; filename=b.pdf", "a.pdf"),
        ("attachment; size; filename=a.pdf", "a.pdf"),
        ("attachment", None),
        ("inline; creation-date=x", None),
        ('attachment; filename="\x00evil.pdf"', "\x00evil.pdf"),
        ("attachment;", UNPARSEABLE),
        ("attachment; filename=", UNPARSEABLE),
        ('attachment; filename="unterminated.pdf', UNPARSEABLE),
        ('attachment; filename="a.pdf\\', UNPARSEABLE),
        ("attachment filename=x.pdf", UNPARSEABLE),
        ("attachment; filename=x.pdf, y", UNPARSEABLE),
        ("; filename=x.pdf", UNPARSEABLE),
        ("attachment; =x.pdf", UNPARSEABLE),
        ("attach/ment; filename=x.pdf", UNPARSEABLE),
    ],
)
def test_content_disposition_filename(header: str | None, filename: object) -> None:
    parsed = parse_content_disposition(header)
    if filename is UNPARSEABLE:
        assert parsed is None
    else:
        assert parsed is not None
        assert parsed.filename == filename


@pytest.mark.parametrize(
    ("header", "kind", "name"),
    [
        ('form-data; name="instance"', "form-data", "instance"),
        ('form-data; name=model; filename="a.xml"', "form-data", "model"),
        ("Form-Data", "form-data", None),
        ("ATTACHMENT; filename=x.pdf", "attachment", None),
    ],
)
def test_content_disposition_type_and_name(header: str, kind: str, name: str | None) -> None:
    parsed = parse_content_disposition(header)
    assert parsed is not None
    assert (parsed.type, parsed.name) == (kind, name)


def test_content_disposition_params_keep_order_and_first_wins() -> None:
    parsed = parse_content_disposition('attachment; Size=10; size=20; filename="a b.pdf"')
    assert parsed is not None
    assert parsed.param("SIZE") == "10"
    assert parsed.param("missing") is None
    assert [(p.name, p.value, p.quoted) for p in parsed.params] == [
        ("size", "10", False),
        ("size", "20", False),
        ("filename", "a b.pdf", True),
    ]


_TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Anything a header can carry as UTF-8: every character but lone surrogates.
_filename_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60)


@settings(max_examples=500, deadline=None)
@given(header=st.text(max_size=300))
def test_any_text_parses_or_is_none(header: str) -> None:
    parsed = parse_content_disposition(header)
    assert parsed is None or isinstance(parsed, ContentDisposition)
    check_upload(RESTRICTED, {"Content-Disposition": header, "Content-Type": header}, content_length=1)
    check_content(RESTRICTED, {"Content-Disposition": header, "Content-Type": header}, b"x")


@settings(max_examples=300, deadline=None)
@given(
    kind=st.text(_TCHARS, min_size=1, max_size=10),
    params=st.lists(
        st.tuples(
            st.sampled_from(["filename", "filename*", "name", "size", "x"]),
            st.one_of(st.text(_TCHARS, max_size=10), st.text(max_size=10)),
        ),
        max_size=5,
    ),
)
def test_parameter_soup_never_raises(kind: str, params: list[tuple[str, str]]) -> None:
    header = kind + "".join(f"; {name}={value}" for name, value in params)
    parsed = parse_content_disposition(header)
    assert parsed is None or parsed.type == kind.lower()


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=400, deadline=None)
@given(name=_filename_text)
def test_quoted_filename_round_trips_through_the_wire(name: str) -> None:
    # The client sends UTF-8; the server hands the header on decoded as ISO-8859-1 (ASGI).
    header = f"attachment; filename={_quoted(name)}".encode().decode("latin-1")
    parsed = parse_content_disposition(header)
    assert parsed is not None
    assert parsed.filename == (name.strip('"') or None)


@settings(max_examples=400, deadline=None)
@given(name=_filename_text, fallback=st.text(_TCHARS, min_size=1, max_size=10))
def test_rfc5987_filename_round_trips_and_wins(name: str, fallback: str) -> None:
    parsed = parse_content_disposition(
        f"attachment; filename={fallback}; filename*=UTF-8''{quote(name, safe='')}"
    )
    assert parsed is not None
    assert parsed.filename == (name.strip('"') or None)


@settings(max_examples=200, deadline=None)
@given(name=st.text(_TCHARS, min_size=1, max_size=40), other=st.text(_TCHARS, min_size=1, max_size=10))
def test_token_filename_round_trips_and_spaces_break_it(name: str, other: str) -> None:
    parsed = parse_content_disposition(f"attachment; filename={name}")
    assert parsed is not None
    assert parsed.filename == name
    assert parse_content_disposition(f"attachment; filename={name} {other}") is None


# -- filenames -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("report.pdf", None),
        ("Test Doc 2025.pdf", None),
        ("søknad æøå.pdf", None),
        ("family 👨\u200d👩\u200d👧.jpg", None),
        ("notes... final.txt", None),
        (".hidden.pdf", None),
        ("x" * 251 + ".pdf", None),
        ("æ" * 125 + ".pdf", None),
        ("../etc/passwd", "it contains a path separator ('/' or '\\')"),
        ("a/b.pdf", "it contains a path separator ('/' or '\\')"),
        ("C:\\Users\\x\\file.pdf", "it contains a path separator ('/' or '\\')"),
        ("..", "it is a relative path"),
        (".", "it is a relative path"),
        ("a\x00.pdf", "it contains a NUL character"),
        ("a\nb.pdf", "it contains control characters"),
        ("a\tb.pdf", "it contains control characters"),
        ("a\x7fb.pdf", "it contains control characters"),
        ("a\x85b.pdf", "it contains control characters"),
        ("invoice\u202efdp.exe", "it contains bidirectional text control characters"),
        ("a\u2066b.pdf", "it contains bidirectional text control characters"),
        ("a\ud800.pdf", "it contains an unpaired surrogate"),
        ("x" * 252 + ".pdf", "it is longer than 255 bytes"),
        ("æ" * 126 + ".pdf", "it is longer than 255 bytes"),
    ],
)
def test_filename_problem(name: str, problem: str | None) -> None:
    assert filename_problem(name) == problem
    if problem is None:
        assert safe_filename(name) == name
    else:
        with pytest.raises(UnsafeFilename) as caught:
            safe_filename(name)
        assert caught.value.reason == problem
        assert caught.value.filename == name


def test_display_filename_escapes_and_shortens() -> None:
    assert display_filename("a\x00b\u202e.pdf") == "'a\\u0000b\\u202e.pdf'"
    assert display_filename("x" * 120) == "'" + "x" * 100 + "…'"


# -- MIME types ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "mime"),
    [
        ("a.pdf", PDF),
        ("a.PDF", PDF),
        ("a.png", "image/png"),
        ("a.jpg", "image/jpeg"),
        ("a.jpeg", "image/jpeg"),
        ("a.JPG", "image/jpeg"),
        ("a.jfif", "image/pjpeg"),
        ("a.gif", "image/gif"),
        ("a.tif", "image/tiff"),
        ("a.tiff", "image/tiff"),
        ("a.bmp", "image/bmp"),
        ("a.svg", "image/svg+xml"),
        ("a.webp", "image/webp"),
        ("a.txt", "text/plain"),
        ("a.csv", "text/csv"),
        ("a.xml", "application/xml"),
        ("a.xsd", "text/xml"),
        ("a.json", "application/json"),
        ("a.html", "text/html"),
        ("a.htm", "text/html"),
        ("a.doc", "application/msword"),
        ("a.docx", DOCX),
        ("a.xls", "application/vnd.ms-excel"),
        ("a.xlsx", XLSX),
        ("a.ppt", "application/vnd.ms-powerpoint"),
        ("a.pptx", PPTX),
        ("a.odt", ODT),
        ("a.ods", ODS),
        ("a.rtf", "application/rtf"),
        ("a.zip", "application/zip"),
        ("a.7z", "application/x-7z-compressed"),
        ("a.tar.gz", "application/x-gzip"),
        ("a.eml", "message/rfc822"),
        ("a.mp4", "video/mp4"),
        ("a.mov", "video/quicktime"),
        ("a.mp3", "audio/mpeg"),
        ("a.wav", "audio/wav"),
        ("a.p7s", "application/pkcs7-signature"),
        ("a.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"),
        # Not in Altinn's MimeTypeMap, so octet-stream there as here.
        ("IMG_0001.heic", "application/octet-stream"),
        ("a.heif", "application/octet-stream"),
        ("mail.msg", "application/octet-stream"),
        ("README.md", "application/octet-stream"),
        ("a.unknown", "application/octet-stream"),
        ("no-extension", "application/octet-stream"),
        ("trailing.", "application/octet-stream"),
        (".pdf", PDF),
    ],
)
def test_mime_type_for_extension(filename: str, mime: str) -> None:
    assert mime_type_for_extension(filename) == mime


@pytest.mark.parametrize(
    ("filename", "types"),
    [
        ("a.xml", ("application/xml", "text/xml")),
        ("a.zip", ("application/zip", "application/x-zip-compressed", "application/zip-compressed")),
        ("a.3gp", ("video/3gpp", "audio/3gpp")),
        ("a.pdf", (PDF,)),
    ],
)
def test_mime_type_aliases(filename: str, types: tuple[str, ...]) -> None:
    assert mime_types_for_extension(filename) == types


# -- the ordered header checks ---------------------------------------------------------------------

LIMIT = 1024 * 1024


def cd(filename: str) -> str:
    return f'attachment; filename="{filename}"'


@pytest.mark.parametrize(
    ("dtype", "headers", "length", "code", "description"),
    [
        # 1: Content-Disposition missing wins over everything else.
        (
            RESTRICTED,
            {},
            LIMIT * 5,
            CONTENT_TYPE_NOT_ALLOWED,
            "The request must include a Content-Disposition header",
        ),
        # 2: size, from Content-Length, before the filename is looked at.
        (
            RESTRICTED,
            {"Content-Disposition": "attachment; filename=Test Doc.pdf"},
            LIMIT + 1,
            DATA_ELEMENT_TOO_LARGE,
            f"Binary attachment exceeds limit of {LIMIT}",
        ),
        (
            data_type(maxSize=0),
            {"Content-Disposition": cd("a.pdf")},
            1,
            DATA_ELEMENT_TOO_LARGE,
            "Binary attachment exceeds limit of 0",
        ),
        # 3: no usable filename.
        (
            RESTRICTED,
            {"Content-Disposition": "attachment; filename=Test Doc 2025.pdf", "Content-Type": PDF},
            25,
            MISSING_FILE_NAME,
            "The Content-Disposition header must contain a valid filename",
        ),
        (
            RESTRICTED,
            {"Content-Disposition": "attachment"},
            LIMIT,
            MISSING_FILE_NAME,
            "The Content-Disposition header must contain a valid filename",
        ),
        (
            RESTRICTED,
            {"Content-Disposition": ""},
            None,
            MISSING_FILE_NAME,
            "The Content-Disposition header must contain a valid filename",
        ),
        # 3b (Tinn): a filename that cannot be stored as given.
        (
            RESTRICTED,
            {"Content-Disposition": cd("../../etc/passwd.pdf"), "Content-Type": PDF},
            10,
            INVALID_FILE_NAME_FORMAT,
            "The filename '../../etc/passwd.pdf' is not allowed: it contains a path separator ('/' or '\\'). "
            "Please rename the file.",
        ),
        (
            UNRESTRICTED,
            {"Content-Disposition": "attachment; filename*=UTF-8''a%00b.pdf"},
            10,
            INVALID_FILE_NAME_FORMAT,
            "The filename 'a\\u0000b.pdf' is not allowed: it contains a NUL character. Please rename the file.",
        ),
        # 4: no extension, even when any content type is allowed.
        (
            UNRESTRICTED,
            {"Content-Disposition": "attachment; filename=test"},
            1000,
            INVALID_FILE_NAME_FORMAT,
            "Invalid format for filename: test. Filename is expected to end with '.{filetype}'.",
        ),
        # 5: Content-Type required once content types are restricted.
        (
            RESTRICTED,
            {"Content-Disposition": cd("test.pdf")},
            1000,
            INVALID_FILE_NAME_FORMAT,
            "Content-Type header must be included in request.",
        ),
        # 6: Content-Type must be octet-stream or the extension's type; the whole header is compared.
        (
            RESTRICTED,
            {"Content-Disposition": cd("test.json"), "Content-Type": PDF},
            1000,
            INVALID_FILE_NAME_FORMAT,
            "Content type header application/pdf does not match mime type application/json for uploaded file. "
            "Please fix header or upload another file.",
        ),
        (
            RESTRICTED,
            {"Content-Disposition": cd("test.pdf"), "Content-Type": "application/pdf; charset=binary"},
            1000,
            INVALID_FILE_NAME_FORMAT,
            "Content type header application/pdf; charset=binary does not match mime type application/pdf for "
            "uploaded file. Please fix header or upload another file.",
        ),
        (
            RESTRICTED,
            {"Content-Disposition": cd("test.pdf"), "Content-Type": "Application/Octet-Stream"},
            1000,
            INVALID_FILE_NAME_FORMAT,
            "Content type header Application/Octet-Stream does not match mime type application/pdf for "
            "uploaded file. Please fix header or upload another file.",
        ),
        (
            data_type(allowedContentTypes=["image/heic"]),
            {"Content-Disposition": cd("IMG_0001.heic"), "Content-Type": "image/heic"},
            1000,
            INVALID_FILE_NAME_FORMAT,
            "Content type header image/heic does not match mime type application/octet-stream for uploaded "
            "file. Please fix header or upload another file.",
        ),
        # 7: allowed types; the message names the extension's type.
        (
            data_type(maxSize=1, allowedContentTypes=[PDF]),
            {"Content-Disposition": cd("test.json"), "Content-Type": "application/json"},
            1000,
            CONTENT_TYPE_NOT_ALLOWED,
            "Invalid content type: application/json. Please try another file. "
            "Permitted content types include: application/pdf",
        ),
        (
            data_type(allowedContentTypes=[PDF, "image/png"]),
            {"Content-Disposition": cd("test.pdf"), "Content-Type": "application/octet-stream"},
            1000,
            CONTENT_TYPE_NOT_ALLOWED,
            "Invalid content type: application/pdf. Please try another file. "
            "Permitted content types include: application/pdf, image/png",
        ),
        (
            data_type(allowedContentTypes=["application/xml"]),
            {"Content-Disposition": cd("a.xml"), "Content-Type": "text/xml"},
            1000,
            CONTENT_TYPE_NOT_ALLOWED,
            "Invalid content type: application/xml. Please try another file. "
            "Permitted content types include: application/xml",
        ),
    ],
)
def test_check_upload_failures(
    dtype: DataType, headers: dict[str, str], length: int | None, code: str, description: str
) -> None:
    issues = check_upload(dtype, headers, content_length=length)
    assert issues == [UploadIssue(code, PREFIX + description)]


@pytest.mark.parametrize(
    ("dtype", "headers", "length"),
    [
        (RESTRICTED, {"Content-Disposition": cd("test.pdf"), "Content-Type": PDF}, LIMIT),
        (RESTRICTED, {"Content-Disposition": cd("test.pdf"), "Content-Type": PDF}, None),
        (data_type(), {"Content-Disposition": cd("test.pdf")}, 10**12),
        (UNRESTRICTED, {"Content-Disposition": cd("anything.weird")}, 10),
        (data_type(allowedContentTypes=[]), {"Content-Disposition": cd("a.b")}, 10),
        (RESTRICTED, {"content-disposition": cd("test.json"), "CONTENT-TYPE": "application/json"}, 10),
        (RESTRICTED, {"Content-Disposition": cd("test.PDF"), "Content-Type": "Application/PDF"}, 10),
        (
            data_type(allowedContentTypes=[PDF, "application/octet-stream"]),
            {"Content-Disposition": cd("test.json"), "Content-Type": "application/json"},
            10,
        ),
        (
            data_type(allowedContentTypes=[PDF, "application/octet-stream"]),
            {"Content-Disposition": cd("test.exe"), "Content-Type": "application/octet-stream"},
            10,
        ),
        (
            data_type(allowedContentTypes=["text/xml"]),
            {"Content-Disposition": cd("a.xml"), "Content-Type": "text/xml"},
            10,
        ),
        (
            data_type(allowedContentTypes=["application/x-zip-compressed"]),
            {"Content-Disposition": cd("a.zip"), "Content-Type": "application/x-zip-compressed"},
            10,
        ),
        (
            RESTRICTED,
            {"Content-Disposition": "attachment; filename*=UTF-8''s%C3%B8knad.pdf", "Content-Type": PDF},
            10,
        ),
        (UNRESTRICTED, {"Content-Disposition": cd("a.b") + "; size=10"}, 10),
    ],
)
def test_check_upload_passes(dtype: DataType, headers: dict[str, str], length: int | None) -> None:
    assert check_upload(dtype, headers, content_length=length) == []


def test_whitespace_filename_fails_on_the_extension_as_in_altinn() -> None:
    issues = check_upload(UNRESTRICTED, {"Content-Disposition": cd("   ")}, content_length=1)
    assert [issue.code for issue in issues] == [INVALID_FILE_NAME_FORMAT]
    assert issues[0].description == (
        PREFIX + "Invalid format for filename:    . Filename is expected to end with '.{filetype}'."
    )


def _recording(quoted: bool, new_endpoint: bool) -> str:
    name = f"BasicAppTests.DataUpload_filenameQuoted={quoted}_useNewEndpoint={new_endpoint}_0_UploadResponse"
    return (SNAPSHOTS / f"{name}.verified.txt").read_text(encoding="utf-8-sig")


def _recorded_request(text: str) -> tuple[dict[str, str], int]:
    """The upload's headers; its Content-Type is the recording's second (the first is the response's)."""

    def values(name: str) -> list[str]:
        return re.findall(rf"{name}: \[\s*\n\s*(.*?)\s*\n", text)

    headers = {
        "Content-Type": values("Content-Type")[1],
        "Content-Disposition": values("Content-Disposition")[0],
    }
    return headers, int(values("Content-Length")[0])


BASIC_ATTACHMENT = DataType.model_validate(
    json.loads((SHARED / "apps/ttd/basic/config/applicationmetadata.json").read_text())["dataTypes"][1]
)
# The body the recorded test sends (BasicAppTests.DataUpload).
BASIC_BODY = b"%PDF-1.4 fake pdf content"


@pytest.mark.parametrize("new_endpoint", [True, False])
def test_recorded_unquoted_filename_upload(new_endpoint: bool) -> None:
    text = _recording(quoted=False, new_endpoint=new_endpoint)
    headers, length = _recorded_request(text)
    assert headers["Content-Disposition"] == "attachment; filename=Test Doc 2025.pdf"
    issues = check_upload(BASIC_ATTACHMENT, headers, content_length=length)
    response = text.rsplit("Response: ", 1)[1].rstrip().removesuffix("}").rstrip()
    if new_endpoint:
        body = json.loads(response)
        assert (body["title"], body["detail"]) == (UPLOAD_PROBLEM_TITLE, UPLOAD_PROBLEM_DETAIL)
        assert [issue.to_wire() for issue in issues] == body["uploadValidationIssues"]
    else:
        assert issues_text(issues) == response


@pytest.mark.parametrize("new_endpoint", [True, False])
def test_recorded_quoted_filename_upload(new_endpoint: bool) -> None:
    text = _recording(quoted=True, new_endpoint=new_endpoint)
    headers, length = _recorded_request(text)
    assert "Created" in text or "StatusCode: OK" in text
    assert length == len(BASIC_BODY)
    assert check_upload(BASIC_ATTACHMENT, headers, content_length=length) == []
    assert check_content(BASIC_ATTACHMENT, headers, BASIC_BODY) == []
    disposition = parse_content_disposition(headers["Content-Disposition"])
    assert disposition is not None
    assert disposition.filename == "Test Doc 2025.pdf"


def test_issue_wire_shape_and_text() -> None:
    issues = [UploadIssue("A", "first"), UploadIssue("B", "second", source="Other")]
    assert issues[1].to_wire() == {
        "severity": 1,
        "dataElementId": None,
        "field": None,
        "code": "B",
        "description": "second",
        "source": "Other",
    }
    assert list(issues[0].to_wire()) == [
        "severity",
        "dataElementId",
        "field",
        "code",
        "description",
        "source",
    ]
    assert issues_text(issues) == "first;second"


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        (
            missing_content_type(),
            UploadProblem(400, "Missing content type", "The request is missing a content type header."),
        ),
        (
            zero_bytes(),
            UploadProblem(400, "Invalid data", "Invalid data provided. Error: The file is zero bytes."),
        ),
        (
            request_too_large(1048577, 1),
            UploadProblem(
                413,
                "Request too large",
                "The request body is too large. The content length is 1048577 bytes, which exceeds the limit of 1 MB",
            ),
        ),
    ],
)
def test_problems(problem: UploadProblem, expected: UploadProblem) -> None:
    assert problem == expected


@pytest.mark.parametrize(("size", "expected"), [(None, None), (0, 0), (1, LIMIT), (250, 250 * LIMIT)])
def test_max_size_bytes(size: int | None, expected: int | None) -> None:
    assert max_size_bytes(data_type(maxSize=size)) == expected


# -- content sniffing ------------------------------------------------------------------------------


def _zip(*entries: tuple[str, bytes], stored_first: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(entries):
            method = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


def _ooxml(folder: str) -> bytes:
    return _zip(
        ("[Content_Types].xml", b"<Types/>" * 20),
        ("_rels/.rels", b"<Relationships/>" * 10),
        (f"{folder}/document.xml", b"<document/>" * 100),
    )


def _bmp() -> bytes:
    return b"BM" + struct.pack("<IHHII", 70, 0, 0, 54, 40) + struct.pack("<iiHH", 1, 1, 1, 24) + bytes(32)


def _box(kind: bytes, brand: bytes = b"") -> bytes:
    payload = brand + b"\x00\x00\x00\x00" + brand if brand else bytes(8)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


SAMPLES: list[tuple[str, bytes, str | None]] = [
    ("example.pdf", (TESTDATA / "example.pdf").read_bytes(), PDF),
    ("example.jpg.pdf", (TESTDATA / "example.jpg.pdf").read_bytes(), "image/jpeg"),
    ("zero.pdf", (TESTDATA / "zero.pdf").read_bytes(), None),
    ("tiny pdf", BASIC_BODY, PDF),
    ("pdf after junk", b"\x00\x01\x02\xff%PDF-1.7\n", PDF),
    ("pdf after whitespace", b"\r\n  %PDF-1.7\n", PDF),
    ("text mentioning a pdf header", b"Notes on the format:\nfiles begin with %PDF-1.7 and\n", "text/plain"),
    ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
    ("gif", b"GIF89a\x01\x00\x01\x00", "image/gif"),
    ("tiff little endian", b"II*\x00\x08\x00\x00\x00", "image/tiff"),
    ("tiff big endian", b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
    ("bmp", _bmp(), "image/bmp"),
    ("text starting with BM", b"BMW annual report 2024\nRevenue: 1\n", "text/plain"),
    ("webp", b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
    ("wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
    ("avi", b"RIFF\x24\x00\x00\x00AVI LIST", "video/x-msvideo"),
    ("docx", _ooxml("word"), DOCX),
    ("xlsx", _ooxml("xl"), XLSX),
    ("pptx", _ooxml("ppt"), PPTX),
    ("odt", _zip(("mimetype", ODT.encode()), ("content.xml", b"<x/>"), stored_first=True), ODT),
    ("ods", _zip(("mimetype", ODS.encode()), ("content.xml", b"<x/>"), stored_first=True), ODS),
    (
        "zip claiming an unknown type",
        _zip(("mimetype", b"application/x-evil"), ("a", b"b"), stored_first=True),
        "application/zip",
    ),
    ("plain zip", _zip(("readme.txt", b"hello"), ("data.csv", b"a,b")), "application/zip"),
    ("empty zip", b"PK\x05\x06" + bytes(18), "application/zip"),
    ("ole2 (doc/xls/msg)", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(8), "application/x-ole-storage"),
    ("gzip", gzip.compress(b"hello"), "application/x-gzip"),
    ("7z", b"7z\xbc\xaf\x27\x1c\x00\x04", "application/x-7z-compressed"),
    ("rar", b"Rar!\x1a\x07\x01\x00", "application/x-rar-compressed"),
    ("mp3 with id3", b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
    ("mp3 frame", b"\xff\xfb\x90\x64\x00", "audio/mpeg"),
    ("ogg", b"OggS\x00\x02", "audio/ogg"),
    ("flac", b"fLaC\x00\x00\x00\x22", "audio/flac"),
    ("webm", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "video/webm"),
    ("mp4", _box(b"ftyp", b"isom"), "video/mp4"),
    ("heic", _box(b"ftyp", b"heic"), "image/heic"),
    ("heif", _box(b"ftyp", b"mif1"), "image/heic"),
    ("avif", _box(b"ftyp", b"avif"), "image/avif"),
    ("quicktime ftyp", _box(b"ftyp", b"qt  "), "video/quicktime"),
    ("quicktime atom", _box(b"moov"), "video/quicktime"),
    ("m4a", _box(b"ftyp", b"M4A "), "audio/mp4"),
    ("3gp", _box(b"ftyp", b"3gp5"), "video/3gpp"),
    ("xml", b'<?xml version="1.0"?>\n<melding/>', "application/xml"),
    ("xml with bom", b'\xef\xbb\xbf<?xml version="1.0"?><a/>', "application/xml"),
    ("svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
    ("html", b"<!DOCTYPE html>\n<html><body>x</body></html>", "text/html"),
    ("json object", b'  {"a": [1, 2]}', "application/json"),
    ("json array", b"[1,2,3]", "application/json"),
    ("plain text", b"Hello, world!\nSecond line\n", "text/plain"),
    ("csv", b"name;amount\nKari;100\n", "text/plain"),
    ("latin-1 text", "blåbær og rømme\n".encode("latin-1"), "text/plain"),
    ("utf-16 text", "hei på deg\n".encode("utf-16"), "text/plain"),
    ("utf-16 json", '{"a": 1}'.encode("utf-16"), "application/json"),
    ("utf-16 binary", b"\xff\xfe" + "a\x01b\x02".encode("utf-16-le"), None),
    ("rtf", b"{\\rtf1\\ansi hello}", "application/rtf"),
    ("postscript", b"%!PS-Adobe-3.0\n", "application/postscript"),
    ("binary with nul", b"MZ\x90\x00\x03\x00\x00\x00", None),
    ("control-heavy binary", bytes(range(1, 9)) * 10, None),
    ("empty", b"", None),
]


@pytest.mark.parametrize(("what", "data", "expected"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_sniff_content_type(what: str, data: bytes, expected: str | None) -> None:
    assert sniff_content_type(data[:SNIFF_BYTES]) == expected


@pytest.mark.parametrize(
    ("declared", "sniffed", "matches"),
    [
        (PDF, PDF, True),
        ("Application/PDF; x=y", PDF, True),
        (PDF, "image/jpeg", False),
        (PDF, None, False),
        ("image/jpeg", "image/jpeg", True),
        ("image/pjpeg", "image/jpeg", True),
        ("image/png", "image/jpeg", False),
        (DOCX, DOCX, True),
        (DOCX, "application/zip", True),
        (DOCX, XLSX, False),
        (DOCX, PDF, False),
        ("application/vnd.ms-word.document.macroEnabled.12", DOCX, True),
        ("application/vnd.ms-excel.sheet.macroEnabled.12", XLSX, True),
        ("application/msword", "application/x-ole-storage", True),
        ("application/msword", "application/rtf", True),
        ("application/msword", "image/png", False),
        ("application/vnd.ms-excel", "text/html", True),
        ("application/vnd.ms-excel", "text/plain", True),
        ("application/vnd.ms-powerpoint", "text/plain", False),
        (ODT, ODT, True),
        (ODT, ODS, False),
        ("application/zip", ODT, True),
        ("application/zip", DOCX, True),
        ("application/x-zip-compressed", "application/zip", True),
        ("application/zip", PDF, False),
        ("text/plain", "application/json", True),
        ("text/plain", "text/plain", True),
        ("text/csv", "text/plain", True),
        ("text/plain", PDF, False),
        ("text/plain", None, False),
        ("application/json", "application/json", True),
        ("application/json", "text/plain", True),
        ("application/json", "application/xml", False),
        ("application/xml", "image/svg+xml", True),
        ("text/xml", "application/xml", True),
        ("application/xml", "application/json", False),
        ("image/svg+xml", "application/xml", True),
        ("image/svg+xml", "image/png", False),
        ("message/rfc822", "text/plain", True),
        ("video/mp4", "video/quicktime", True),
        ("image/heic", "image/heic", True),
        ("video/mp4", "image/jpeg", False),
        ("application/x-gzip", "application/x-gzip", True),
        ("audio/mpeg", "audio/wav", False),
        # Types that cannot be recognised from their first bytes are not checked.
        ("application/x-tar", None, True),
        ("application/octet-stream", None, True),
        ("application/x-custom", "image/png", True),
    ],
)
def test_content_matches(declared: str, sniffed: str | None, matches: bool) -> None:
    assert content_matches(declared, sniffed) is matches


JPEG_AS_PDF = (
    PREFIX + "The file content does not look like application/pdf (it looks like image/jpeg). "
    "Please fix the Content-Type header or upload another file."
)


@pytest.mark.parametrize(
    ("dtype", "headers", "file", "description"),
    [
        (RESTRICTED, {"Content-Disposition": cd("example.pdf"), "Content-Type": PDF}, "example.pdf", None),
        (
            RESTRICTED,
            {"Content-Disposition": cd("example.pdf"), "Content-Type": PDF},
            "example.jpg.pdf",
            JPEG_AS_PDF,
        ),
        (
            RESTRICTED,
            {"Content-Disposition": cd("zero.pdf"), "Content-Type": PDF},
            "zero.pdf",
            PREFIX + "The file content does not look like application/pdf (its format was not recognised). "
            "Please fix the Content-Type header or upload another file.",
        ),
        # Declared through the extension when the Content-Type says nothing.
        (
            data_type(allowedContentTypes=[PDF]),
            {"Content-Disposition": cd("example.pdf"), "Content-Type": "application/octet-stream"},
            "example.jpg.pdf",
            JPEG_AS_PDF,
        ),
        (
            data_type(allowedContentTypes=[PDF]),
            {"Content-Disposition": cd("example.bin"), "Content-Type": "application/octet-stream"},
            "example.jpg.pdf",
            None,
        ),
        # Not restricted: not checked.
        (
            UNRESTRICTED,
            {"Content-Disposition": cd("example.pdf"), "Content-Type": PDF},
            "example.jpg.pdf",
            None,
        ),
        (
            data_type(allowedContentTypes=[PDF, "Application/Octet-Stream"]),
            {"Content-Disposition": cd("example.pdf"), "Content-Type": PDF},
            "example.jpg.pdf",
            None,
        ),
        (
            data_type(allowedContentTypes=["image/jpeg"]),
            {"Content-Disposition": cd("example.jpg"), "Content-Type": "image/jpeg"},
            "example.jpg.pdf",
            None,
        ),
    ],
)
def test_check_content_on_the_sample_files(
    dtype: DataType, headers: dict[str, str], file: str, description: str | None
) -> None:
    data = (TESTDATA / file).read_bytes()
    expected = [] if description is None else [UploadIssue(CONTENT_TYPE_NOT_ALLOWED, description)]
    assert check_content(dtype, headers, data) == expected


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "refused"),
    [
        ("report.docx", DOCX, _ooxml("word"), False),
        ("report.docx", DOCX, _ooxml("xl"), True),
        ("report.docx", DOCX, (TESTDATA / "example.pdf").read_bytes(), True),
        ("notes.txt", "text/plain", b"hello", False),
        ("notes.txt", "text/plain", (TESTDATA / "example.pdf").read_bytes(), True),
        ("data.json", "application/json", b'{"a":1}', False),
        ("data.json", "application/json", b"<a/>", True),
        ("image.png", "image/png", (TESTDATA / "example.jpg.pdf").read_bytes(), True),
    ],
)
def test_check_content_refuses_disguised_files(
    filename: str, content_type: str, data: bytes, refused: bool
) -> None:
    dtype = data_type(allowedContentTypes=[content_type])
    headers = {"Content-Disposition": cd(filename), "Content-Type": content_type}
    assert check_upload(dtype, headers, content_length=len(data)) == []
    issues = check_content(dtype, headers, data)
    assert [issue.code for issue in issues] == ([CONTENT_TYPE_NOT_ALLOWED] if refused else [])


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2048))
def test_sniffing_never_raises(data: bytes) -> None:
    sniffed = sniff_content_type(data)
    assert sniffed is None or "/" in sniffed
    for declared in (PDF, DOCX, "text/plain", "application/zip", "image/heic"):
        assert isinstance(content_matches(declared, sniffed), bool)


# -- bounded streams -------------------------------------------------------------------------------


async def chunks_of(parts: Sequence[bytes], pulled: list[int] | None = None) -> AsyncIterator[bytes]:
    for index, part in enumerate(parts):
        if pulled is not None:
            pulled.append(index)
        yield part


@pytest.mark.parametrize(
    ("parts", "limit", "passed", "too_large_at"),
    [
        ([b"abc", b"def"], None, [b"abc", b"def"], None),
        ([b"abc", b"def"], 6, [b"abc", b"def"], None),
        ([b"abc", b"def"], 5, [b"abc"], 6),
        ([b"abcdef"], 0, [], 6),
        ([b"", b"ab", b"", b"c"], 3, [b"ab", b"c"], None),
        ([], 0, [], None),
    ],
)
async def test_stream_limiter(
    parts: list[bytes], limit: int | None, passed: list[bytes], too_large_at: int | None
) -> None:
    limiter = StreamLimiter(chunks_of(parts), limit)
    seen: list[bytes] = []
    if too_large_at is None:
        seen.extend([chunk async for chunk in limiter])
        assert limiter.received == sum(map(len, parts))
    else:
        with pytest.raises(TooLarge) as caught:
            async for chunk in limiter:
                seen.append(chunk)  # noqa: PERF401 - the chunks before the error are the point
        assert (caught.value.limit, caught.value.received) == (limit, too_large_at)
        assert limiter.received == too_large_at
    assert seen == passed


async def test_stream_limiter_is_single_use() -> None:
    limiter = StreamLimiter(chunks_of([b"a"]), None)
    assert [chunk async for chunk in limiter] == [b"a"]
    with pytest.raises(RuntimeError):
        aiter(limiter)


@pytest.mark.parametrize(
    ("parts", "size", "head", "pulled_chunks"),
    [
        ([b"abc", b"def", b"ghi"], 4, b"abcd", 2),
        ([b"abc", b"def", b"ghi"], 3, b"abc", 1),
        ([b"abc", b"def"], 100, b"abcdef", 2),
        ([b"", b"a", b"", b"bc"], 2, b"ab", 4),
        ([], 10, b"", 0),
        ([b"", b""], 10, b"", 2),
    ],
)
async def test_peek(parts: list[bytes], size: int, head: bytes, pulled_chunks: int) -> None:
    pulled: list[int] = []
    peeked = await peek(chunks_of(parts, pulled), size)
    assert peeked.head == head
    assert peeked.empty is (head == b"")
    assert len(pulled) == pulled_chunks  # no more read than needed
    assert b"".join([chunk async for chunk in peeked.chunks]) == b"".join(parts)


async def test_peek_then_limit_streams_the_whole_body() -> None:
    body = [bytes([n]) * 1000 for n in range(20)]
    peeked = await peek(chunks_of(body))
    assert peeked.head == b"".join(body)[:SNIFF_BYTES]
    limiter = StreamLimiter(peeked.chunks, 20_000)
    assert b"".join([chunk async for chunk in limiter]) == b"".join(body)
    with pytest.raises(TooLarge):
        [chunk async for chunk in StreamLimiter((await peek(chunks_of(body))).chunks, 19_999)]


# -- form data bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "fmt"),
    [
        (None, "xml"),
        ("application/xml", "xml"),
        ("application/xml; charset=utf-8", "xml"),
        ("application/json", "json"),
        ("application/json; charset=utf-8", "json"),
        ("text/xml", None),
        ("text/plain", None),
        ("", None),
        ("Application/XML", None),
        ("application/problem+json", None),
    ],
)
def test_form_data_format(content_type: str | None, fmt: str | None) -> None:
    assert form_data_format(content_type) == fmt
