"""Streaming multipart/form-data for instantiation (app notes 4.2): parts, Altinn's per-part rules,
bounds for hostile bodies, and streaming without holding a part in memory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tinn.data.multipart import (
    ERROR_TITLE,
    MAX_BOUNDARY_LENGTH,
    MultipartError,
    is_multipart,
    iter_parts,
    multipart_boundary,
)
from tinn.data.upload import TooLarge

CT = "multipart/form-data; boundary=XyZ"


@dataclass(frozen=True)
class Spec:
    """A part to put into a body and to expect out of it."""

    name: str | None
    filename: str | None
    content_type: str
    content: bytes


def header_line(spec: Spec) -> bytes:
    disposition = "form-data"
    if spec.name is not None:
        disposition += f'; name="{spec.name}"'
    if spec.filename is not None:
        escaped = spec.filename.replace("\\", "\\\\").replace('"', '\\"')
        disposition += f'; filename="{escaped}"'
    return f"Content-Disposition: {disposition}\r\nContent-Type: {spec.content_type}\r\n".encode()


def build(
    specs: Sequence[Spec], boundary: str = "XyZ", *, preamble: bytes = b"", epilogue: bytes = b""
) -> bytes:
    out = [preamble]
    for spec in specs:
        out += [b"--", boundary.encode(), b"\r\n", header_line(spec), b"\r\n", spec.content, b"\r\n"]
    out += [b"--", boundary.encode(), b"--", epilogue]
    return b"".join(out)


async def chunked(
    data: bytes, sizes: Sequence[int] = (7,), pulled: list[int] | None = None
) -> AsyncIterator[bytes]:
    """``data`` in chunks of the given sizes (cycled); ``pulled`` records where each chunk starts."""
    index = offset = 0
    while offset < len(data):
        size = sizes[index % len(sizes)]
        if pulled is not None:
            pulled.append(offset)
        yield data[offset : offset + size]
        offset += size
        index += 1


async def collect(content_type: str | None, body: AsyncIterator[bytes], **limits: int) -> list[Spec]:
    parts: list[Spec] = []
    async for part in iter_parts(content_type, body, **limits):
        assert part.content_type is not None
        parts.append(Spec(part.name, part.filename, part.content_type, await part.read()))
    return parts


INSTANCE = Spec("instance", None, "application/json", b'{"instanceOwner":{"partyId":"501337"}}')
MODEL = Spec("model", None, "application/xml", b"<model><property1>1</property1></model>")
PDF = Spec("attachment", "Test Doc 2025.pdf", "application/pdf", b"%PDF-1.4 fake pdf content")


# -- well-formed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(1,), (2, 3), (7,), (64,), (10_000,), (1, 50, 2)])
async def test_parts_come_out_as_they_went_in(sizes: tuple[int, ...]) -> None:
    specs = [INSTANCE, MODEL, PDF]
    assert await collect(CT, chunked(build(specs), sizes)) == specs


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (build([PDF], preamble=b"This is the preamble.\r\n"), [PDF]),
        (build([PDF], preamble=b"\r\n"), [PDF]),
        (build([PDF], epilogue=b"\r\nThis is the epilogue, ignored. --XyZ\r\ngarbage"), [PDF]),
        (b"--XyZ--", []),
        (b"--XyZ--\r\n", []),
        (build([Spec("empty", None, "text/plain", b"")]), [Spec("empty", None, "text/plain", b"")]),
        (build([Spec(None, None, "application/json", b"{}")]), [Spec(None, None, "application/json", b"{}")]),
        # Content that looks almost like a delimiter is content.
        (
            build([Spec("a", None, "text/plain", b"x\r\n--XyQ\r\n--Xy\r\n-")]),
            [Spec("a", None, "text/plain", b"x\r\n--XyQ\r\n--Xy\r\n-")],
        ),
        (
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"; filename*=UTF-8''s%C3%B8knad.pdf\r\n"
            b"Content-Type: application/pdf\r\n\r\n%PDF\r\n--XyZ--",
            [Spec("a", "søknad.pdf", "application/pdf", b"%PDF")],
        ),
        (
            b'--XyZ\r\ncontent-disposition: form-data; name="a"; filename="\xc3\xa6\xc3\xb8\xc3\xa5.txt"\r\n'
            b"CONTENT-TYPE: text/plain; charset=utf-8\r\n\r\nhei\r\n--XyZ--",
            [Spec("a", "æøå.txt", "text/plain; charset=utf-8", b"hei")],
        ),
        (
            b"--XyZ\r\nContent-Disposition: form-data; name=first\r\nContent-Disposition: form-data; name=second\r\n"
            b"Content-Type: text/plain\r\nContent-Type: image/png\r\n\r\nx\r\n--XyZ--",
            [Spec("first", None, "text/plain", b"x")],
        ),
        # Transport padding after a delimiter is allowed.
        (
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ  \r\n"
            b"Content-Disposition: form-data; name=b\r\nContent-Type: text/plain\r\n\r\ny\r\n--XyZ--",
            [Spec("a", None, "text/plain", b"x"), Spec("b", None, "text/plain", b"y")],
        ),
    ],
)
async def test_well_formed_bodies(body: bytes, expected: list[Spec]) -> None:
    for sizes in ((1,), (5,), (len(body) or 1,)):
        assert await collect(CT, chunked(body, sizes)) == expected


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=XyZ", "XyZ"),
        ('multipart/form-data; boundary="quoted boundary"', "quoted boundary"),
        ('Multipart/Mixed; charset=utf-8; BOUNDARY="abc\'()+_,-./:=?"', "abc'()+_,-./:=?"),
        (
            "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
            "----WebKitFormBoundary7MA4YWxkTrZu0gW",
        ),
        ("multipart/related; boundary=" + "b" * MAX_BOUNDARY_LENGTH, "b" * MAX_BOUNDARY_LENGTH),
    ],
)
def test_boundary(content_type: str, boundary: str) -> None:
    assert multipart_boundary(content_type) == boundary


@pytest.mark.parametrize(
    ("content_type", "multipart"),
    [
        ("multipart/form-data; boundary=x", True),
        ("Multipart/Mixed", True),
        ("application/json", False),
        (None, False),
        ("", False),
    ],
)
def test_is_multipart(content_type: str | None, multipart: bool) -> None:
    assert is_multipart(content_type) is multipart


async def test_quoted_boundary_with_space_parses() -> None:
    body = build([PDF], boundary="quoted boundary")
    assert await collect('multipart/form-data; boundary="quoted boundary"', chunked(body, (3,))) == [PDF]


# -- streaming -------------------------------------------------------------------------------------


async def test_a_part_streams_without_being_held() -> None:
    big = Spec("attachment", "big.bin", "application/octet-stream", bytes(range(256)) * 4096)  # 1 MiB
    body = build([INSTANCE, big, MODEL])
    pulled: list[int] = []
    parts = iter_parts(CT, chunked(body, (1024,), pulled))
    first = await anext(parts)
    assert await first.read() == INSTANCE.content
    second = await anext(parts)
    received = 0
    async for chunk in second.content():
        received += len(chunk)
        # The body is read only as far as the content handed out so far (plus a chunk or two).
        assert pulled[-1] <= received + 3 * 1024
        assert len(chunk) <= 1024 + 100
    assert received == len(big.content)
    third = await anext(parts)
    assert (third.name, await third.read()) == ("model", MODEL.content)
    with pytest.raises(StopAsyncIteration):
        await anext(parts)


async def test_unread_content_is_skipped() -> None:
    parts = iter_parts(CT, chunked(build([PDF, MODEL, INSTANCE]), (3,)))
    assert (await anext(parts)).name == "attachment"
    second = await anext(parts)
    async for _ in second.content():
        break  # read a little, then move on
    third = await anext(parts)
    assert (third.name, await third.read()) == ("instance", INSTANCE.content)


async def test_content_can_be_read_once_and_not_after_moving_on() -> None:
    parts = iter_parts(CT, chunked(build([PDF, MODEL])))
    first = await anext(parts)
    assert await first.read() == PDF.content
    with pytest.raises(RuntimeError):
        first.content()
    second = await anext(parts)
    assert await second.read() == MODEL.content
    skipped = iter_parts(CT, chunked(build([PDF, MODEL])))
    unread = await anext(skipped)
    await anext(skipped)
    with pytest.raises(RuntimeError):
        unread.content()


async def test_part_headers() -> None:
    parts = iter_parts(CT, chunked(build([PDF])))
    part = await anext(parts)
    assert part.number == 1
    assert part.header("CONTENT-TYPE") == "application/pdf"
    assert part.content_disposition == 'form-data; name="attachment"; filename="Test Doc 2025.pdf"'
    assert part.header("x-missing") is None
    assert "attachment" in repr(part)


async def test_read_with_limit() -> None:
    part = await anext(iter_parts(CT, chunked(build([PDF]), (4,))))
    with pytest.raises(TooLarge) as caught:
        await part.read(limit=10)
    assert caught.value.limit == 10
    part = await anext(iter_parts(CT, chunked(build([PDF]), (4,))))
    assert await part.read(limit=len(PDF.content)) == PDF.content


async def test_errors_of_the_body_pass_through() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield build([PDF])[:40]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await collect(CT, broken())


# -- broken bodies ---------------------------------------------------------------------------------

PART_HEAD = b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\nContent-Type: text/plain\r\n\r\n'


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (None, b"", "The Content-Type None is not a valid multipart media type"),
        (
            "application/json",
            b"{}",
            "The Content-Type 'application/json' is not a valid multipart media type",
        ),
        ("multipart/form-data", b"", "The multipart Content-Type has no boundary parameter"),
        (
            "multipart/form-data; boundary=",
            b"",
            "The Content-Type 'multipart/form-data; boundary=' is not a valid",
        ),
        ('multipart/form-data; boundary=""', b"", "The multipart Content-Type has no boundary parameter"),
        ("multipart/form-data; boundary=" + "b" * 71, b"", "The multipart boundary must be 1 to 70"),
        ('multipart/form-data; boundary="a\\"b"', b"", "The multipart boundary must be 1 to 70"),
        ('multipart/form-data; boundary="ab "', b"", "The multipart boundary must be 1 to 70"),
        (
            "multipart/form-data; boundary=a b",
            b"",
            "The Content-Type 'multipart/form-data; boundary=a b' is not",
        ),
        (CT, b"", "The multipart body does not contain its boundary"),
        (CT, b"no boundary here at all", "The multipart body does not contain its boundary"),
        (CT, b"x" * 20_000, "The multipart body does not start with its boundary"),
        (CT, b"--XyZ", "The multipart body ended before its closing boundary"),
        (CT, PART_HEAD + b"unterminated", "The multipart body ended before its closing boundary"),
        (CT, PART_HEAD + b"x\r\n--XyZ", "The multipart body ended before its closing boundary"),
        (CT, b"--XyZjunk\r\n", "The multipart body is malformed"),
        (CT, b"--XyZ\r\nNo colon here\r\n\r\nx\r\n--XyZ--", "The multipart body is malformed"),
        (CT, b"--XyZ\r\n: empty name\r\n\r\nx\r\n--XyZ--", "The multipart body is malformed"),
        (CT, b"--XyZ\r\nBad\x00Name: x\r\n\r\nx\r\n--XyZ--", "The multipart body is malformed"),
        (
            CT,
            b"--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--",
            "Part number 1 doesn't have a content disposition",
        ),
        (
            CT,
            b"--XyZ\r\nContent-Disposition: attachment; filename=Test Doc.pdf\r\nContent-Type: a/b\r\n\r\nx\r\n--XyZ--",
            "Part number 1 doesn't have a content disposition",
        ),
        (
            CT,
            build([PDF]).removesuffix(b"--XyZ--")
            + b"--XyZ\r\nContent-Disposition: form-data; name=b\r\n\r\nx\r\n--XyZ--",
            "Part number 2 doesn't have a content type",
        ),
        (
            CT,
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n"
            b"--in\r\n\r\nx\r\n--in--\r\n--XyZ--",
            "Part number 1 is itself multipart, which is not supported",
        ),
        (
            CT,
            build([Spec("a", "../../etc/passwd", "text/plain", b"x")]),
            "The filename of part number 1 is not allowed: it contains a path separator ('/' or '\\')",
        ),
        (
            CT,
            b'--XyZ\r\nContent-Disposition: form-data; name=a; filename="a\x01.txt"\r\nContent-Type: a/b\r\n\r\n'
            b"x\r\n--XyZ--",
            "The filename of part number 1 is not allowed: it contains control characters",
        ),
    ],
)
async def test_broken_bodies(content_type: str | None, body: bytes, message: str) -> None:
    for sizes in ((1,), (len(body) or 1,)):
        with pytest.raises(MultipartError) as caught:
            await collect(content_type, chunked(body, sizes))
        assert caught.value.message.startswith(message), caught.value.message
        assert caught.value.title == ERROR_TITLE == "Error reading request"


@pytest.mark.parametrize(
    ("body", "limits", "message"),
    [
        (build([PDF] * 4), {"max_parts": 3}, "The multipart body has more than 3 parts"),
        (
            b"--XyZ\r\n" + b"".join(f"X-{n}: v\r\n".encode() for n in range(17)) + b"\r\nx\r\n--XyZ--",
            {},
            "The multipart body is malformed: Maximum header count exceeded",
        ),
        (
            b"--XyZ\r\nX-Big: " + b"v" * 20_000 + b"\r\n\r\nx\r\n--XyZ--",
            {},
            "The multipart body is malformed: Maximum header size exceeded",
        ),
        (
            b"--XyZ\r\n"
            + b"".join(f"X-{n}: {'v' * 1500}\r\n".encode() for n in range(12))
            + b"\r\nx\r\n--XyZ--",
            {},
            "The headers of a part are larger than 16384 bytes",
        ),
        (
            b"--XyZ\r\nX-A: " + b"v" * 60 + b"\r\nX-B: " + b"v" * 60 + b"\r\n\r\nx\r\n--XyZ--",
            {"max_header_bytes": 100},
            "The headers of a part are larger than 100 bytes",
        ),
    ],
)
async def test_bounds(body: bytes, limits: dict[str, int], message: str) -> None:
    with pytest.raises(MultipartError) as caught:
        await collect(CT, chunked(body, (1000,)), **limits)
    assert caught.value.message == message


async def test_an_error_stays_an_error() -> None:
    body = PART_HEAD + b"unterminated"
    parts = iter_parts(CT, chunked(body))
    part = await anext(parts)
    with pytest.raises(MultipartError):
        await part.read()
    with pytest.raises(MultipartError):
        await anext(parts)


# -- fuzzing ---------------------------------------------------------------------------------------

_BCHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? "
_TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

_boundaries = st.text(_BCHARS, min_size=1, max_size=MAX_BOUNDARY_LENGTH).filter(lambda b: not b.endswith(" "))
_safe_names = st.text(
    st.characters(
        exclude_categories=("Cc", "Cs"), exclude_characters='/\\"\u061c\u200e\u200f\u202a\u202b'
    ).filter(lambda c: c not in "\u202c\u202d\u202e\u2066\u2067\u2068\u2069"),
    min_size=1,
    max_size=40,
).filter(lambda name: name not in (".", ".."))
_specs = st.builds(
    Spec,
    name=st.one_of(st.none(), st.text(_TCHARS, min_size=1, max_size=12)),
    filename=st.one_of(st.none(), _safe_names),
    content_type=st.sampled_from(["application/json", "application/xml", "application/pdf", "text/plain"]),
    content=st.binary(max_size=300),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    boundary=_boundaries,
    specs=st.lists(_specs, max_size=5),
    sizes=st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=8),
    preamble=st.sampled_from([b"", b"\r\n", b"preamble text\r\n"]),
    epilogue=st.binary(max_size=30),
)
async def test_random_well_formed_bodies_round_trip(
    boundary: str, specs: list[Spec], sizes: list[int], preamble: bytes, epilogue: bytes
) -> None:
    delimiter = b"\r\n--" + boundary.encode()
    # A content must not itself end the part early (its headers end with CRLF CRLF).
    assume(
        all((b"\r\n" + spec.content + delimiter).find(delimiter) == len(spec.content) + 2 for spec in specs)
    )
    assume(delimiter[2:] not in preamble)
    body = build(specs, boundary, preamble=preamble, epilogue=epilogue)
    content_type = f'multipart/form-data; boundary="{boundary}"'
    assert await collect(content_type, chunked(body, sizes)) == specs


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=400),
    sizes=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=5),
)
async def test_random_bytes_parse_or_raise_multipart_error(body: bytes, sizes: list[int]) -> None:
    with contextlib.suppress(MultipartError):
        await collect(CT, chunked(body, sizes))


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(_specs, min_size=1, max_size=3),
    cut=st.integers(min_value=0),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=3),
    sizes=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=5),
)
async def test_damaged_bodies_parse_or_raise_multipart_error(
    specs: list[Spec], cut: int, flips: list[tuple[int, int]], sizes: list[int]
) -> None:
    body = bytearray(build(specs))
    for position, value in flips:
        body[position % len(body)] = value
    damaged = bytes(body[: cut % (len(body) + 1)])
    with contextlib.suppress(MultipartError):
        await collect(CT, chunked(damaged, sizes))


@settings(max_examples=300, deadline=None)
@given(content_type=st.one_of(st.text(max_size=80), st.from_regex(r"multipart/[a-z]+;\s*boundary=.{0,80}")))
def test_any_content_type_gives_a_boundary_or_multipart_error(content_type: str) -> None:
    try:
        boundary = multipart_boundary(content_type)
    except MultipartError:
        return
    assert 1 <= len(boundary) <= MAX_BOUNDARY_LENGTH
