"""Streaming ``multipart/form-data`` for the instantiation endpoint (app notes 4.2).

Parts come one at a time from :func:`iter_parts`, each with its content as an async iterator of
chunks, so a large attachment can go straight to the blob store: only the current chunk of the
body is held, never a whole part. The byte-level framing is python-multipart's; this module adds
the async pull interface, Altinn's per-part rules and bounds for hostile input.

Every way a body can be wrong raises :class:`MultipartError`, whose message is meant for the
``detail`` of a 400 ProblemDetails titled ``"Error reading request"``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError

from tinn.data.upload import TooLarge, filename_problem, parse_content_disposition, parse_header_params

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

ERROR_TITLE = "Error reading request"
MAX_PARTS = 1000
MAX_HEADERS = 16
MAX_HEADER_BYTES = 16 * 1024  # per part, all header lines together
MAX_PREAMBLE_BYTES = 16 * 1024
MAX_BOUNDARY_LENGTH = 70  # RFC 2046
_BOUNDARY_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")


class MultipartError(Exception):
    """The body (or its Content-Type) is not a multipart body Tinn accepts."""

    title = ERROR_TITLE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_multipart(content_type: str | None) -> bool:
    """Altinn reads a body as multipart when its Content-Type contains ``multipart/``."""
    return content_type is not None and "multipart/" in content_type.lower()


def multipart_boundary(content_type: str | None) -> str:
    """The ``boundary`` parameter of a ``multipart/*`` Content-Type."""
    parsed = parse_header_params(content_type, media_type=True) if content_type else None
    if parsed is None or not parsed[0].lower().startswith("multipart/"):
        raise MultipartError(f"The Content-Type {content_type!r} is not a valid multipart media type")
    boundary = next((param.value for param in parsed[1] if param.name == "boundary"), None)
    if not boundary:
        raise MultipartError("The multipart Content-Type has no boundary parameter")
    if (
        len(boundary) > MAX_BOUNDARY_LENGTH
        or boundary.endswith(" ")
        or not _BOUNDARY_CHARS.issuperset(boundary)
    ):
        raise MultipartError(
            f"The multipart boundary must be 1 to {MAX_BOUNDARY_LENGTH} letters, digits or '()+_,-./:=? "
            "(and spaces, but not at the end)"
        )
    return boundary


class _Kind(Enum):
    BEGIN = 1
    HEADER = 2
    HEADERS_DONE = 3
    DATA = 4
    PART_END = 5
    END = 6


@dataclass(frozen=True, slots=True)
class _Event:
    kind: _Kind
    data: bytes = b""
    value: bytes = b""


class _Reader:
    """Feeds body chunks to python-multipart on demand and hands out its callbacks as events."""

    def __init__(
        self, boundary: bytes, body: AsyncIterable[bytes], *, max_headers: int, max_header_bytes: int
    ):
        self._body = aiter(body)
        self._events: deque[_Event] = deque()
        self._dash_boundary = b"--" + boundary
        self._preamble: bytearray | None = bytearray()
        self._max_header_bytes = max_header_bytes
        self._header_bytes = 0
        self._field = bytearray()
        self._value = bytearray()
        self._finished = False
        self._error: MultipartError | None = None
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._on_part_begin,
            "on_header_begin": self._on_header_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": lambda: self._events.append(_Event(_Kind.HEADERS_DONE)),
            "on_part_data": lambda data, start, end: self._events.append(_Event(_Kind.DATA, data[start:end])),
            "on_part_end": lambda: self._events.append(_Event(_Kind.PART_END)),
            "on_end": self._on_end,
        }
        self._parser = MultipartParser(
            boundary, callbacks, max_header_count=max_headers, max_header_size=max_header_bytes
        )

    # -- python-multipart callbacks --

    def _on_part_begin(self) -> None:
        self._header_bytes = 0
        self._events.append(_Event(_Kind.BEGIN))

    def _on_header_begin(self) -> None:
        self._field.clear()
        self._value.clear()

    def _count_header(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._max_header_bytes:
            raise MultipartError(f"The headers of a part are larger than {self._max_header_bytes} bytes")

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._events.append(_Event(_Kind.HEADER, bytes(self._field), bytes(self._value)))

    def _on_end(self) -> None:
        self._finished = True
        self._events.append(_Event(_Kind.END))

    # -- pulling --

    def _write(self, data: bytes) -> None:
        try:
            self._parser.write(data)
        except FormParserError as exc:
            raise MultipartError(f"The multipart body is malformed: {exc}") from None

    def _start(self, chunk: bytes) -> None:
        """Skip the preamble: parsing starts at the first delimiter line."""
        assert self._preamble is not None
        self._preamble += chunk
        buffer = self._preamble
        if buffer.startswith(self._dash_boundary):
            start = 0
        else:
            found = buffer.find(b"\r\n" + self._dash_boundary)
            start = -1 if found < 0 else found + 2
        if start < 0:
            if len(buffer) > MAX_PREAMBLE_BYTES:
                raise MultipartError("The multipart body does not start with its boundary")
            return
        self._preamble = None
        self._write(bytes(buffer[start:]))

    async def next_event(self) -> _Event:
        if self._error is not None:
            raise self._error
        try:
            while not self._events:
                if self._finished:
                    raise RuntimeError("the multipart body has been read to its end")
                try:
                    chunk = await anext(self._body)
                except StopAsyncIteration:
                    if self._preamble is not None:
                        raise MultipartError("The multipart body does not contain its boundary") from None
                    raise MultipartError("The multipart body ended before its closing boundary") from None
                if not chunk:
                    continue
                if self._preamble is not None:
                    self._start(chunk)
                else:
                    self._write(chunk)
        except MultipartError as exc:
            self._error = exc
            raise
        return self._events.popleft()


class Part:
    """One part: its headers, and its content to be read (once) before the next part is asked for.

    Header values are decoded as ISO-8859-1, like HTTP request headers; a filename sent as raw
    UTF-8 is decoded as UTF-8 by the Content-Disposition parser.
    """

    def __init__(
        self,
        reader: _Reader,
        number: int,
        headers: tuple[tuple[str, str], ...],
        name: str | None,
        filename: str | None,
    ) -> None:
        self._reader = reader
        self.number = number
        self.headers = headers
        self.name = name
        self.filename = filename
        self.content_type = self.header("content-type")
        self.content_disposition = self.header("content-disposition")
        self._started = False
        self._done = False

    def __repr__(self) -> str:
        return f"Part(number={self.number}, name={self.name!r}, filename={self.filename!r})"

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive)."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def content(self) -> AsyncIterator[bytes]:
        """The part's content as chunks (none for an empty part). Read it once, before asking
        :func:`iter_parts` for the next part; whatever is left unread then is skipped."""
        if self._started or self._done:
            raise RuntimeError(f"the content of part {self.number} has already been read or skipped")
        self._started = True
        return self._iterate()

    async def read(self, limit: int | None = None) -> bytes:
        """The whole content, for small parts; :class:`~tinn.data.upload.TooLarge` beyond ``limit``."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.content():
            size += len(chunk)
            if limit is not None and size > limit:
                raise TooLarge(limit, size)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _iterate(self) -> AsyncIterator[bytes]:
        while not self._done:
            event = await self._reader.next_event()
            if event.kind is _Kind.DATA:
                yield event.data
            else:
                self._done = True

    async def _skip(self) -> None:
        self._started = True
        while not self._done:
            if (await self._reader.next_event()).kind is _Kind.PART_END:
                self._done = True


async def iter_parts(
    content_type: str | None,
    body: AsyncIterable[bytes],
    *,
    max_parts: int = MAX_PARTS,
    max_headers: int = MAX_HEADERS,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> AsyncIterator[Part]:
    """The parts of a multipart body, in order, read as they are asked for.

    Each part has a parseable Content-Disposition (its ``name`` and ``filename``, the latter safe
    to store) and a Content-Type, as Altinn requires; nested multipart parts, more than
    ``max_parts`` parts, more than ``max_headers`` header lines or ``max_header_bytes`` of headers
    in a part, and broken framing raise :class:`MultipartError`. Errors of the body iterator itself
    (a client disconnect) pass through unchanged.
    """
    boundary = multipart_boundary(content_type)
    reader = _Reader(
        boundary.encode("ascii"), body, max_headers=max_headers, max_header_bytes=max_header_bytes
    )
    number = 0
    while True:
        event = await reader.next_event()
        if event.kind is _Kind.END:
            return
        number += 1
        if number > max_parts:
            raise MultipartError(f"The multipart body has more than {max_parts} parts")
        headers: list[tuple[str, str]] = []
        while (event := await reader.next_event()).kind is _Kind.HEADER:
            headers.append((event.data.decode("latin-1").lower(), event.value.decode("latin-1").strip()))
        part = _new_part(reader, number, tuple(headers))
        yield part
        await part._skip()


def _new_part(reader: _Reader, number: int, headers: tuple[tuple[str, str], ...]) -> Part:
    values = dict(reversed(headers))  # the first of repeated headers wins
    disposition = parse_content_disposition(values.get("content-disposition"))
    if disposition is None:
        raise MultipartError(f"Part number {number} doesn't have a content disposition")
    content_type = values.get("content-type")
    if content_type is None:
        raise MultipartError(f"Part number {number} doesn't have a content type")
    if content_type.lower().lstrip().startswith("multipart/"):
        raise MultipartError(f"Part number {number} is itself multipart, which is not supported")
    filename = disposition.filename
    if filename is not None:
        problem = filename_problem(filename)
        if problem is not None:
            raise MultipartError(f"The filename of part number {number} is not allowed: {problem}")
    return Part(reader, number, headers, disposition.name, filename)
