"""Binary uploads: the request checks of app notes 5.2/5.3, content sniffing and bounded streams.

Everything here is a pure function of headers, a :class:`~tinn.appdef.models.DataType` and bytes,
so the App API routes, the multipart instantiation and the tests share one implementation.

Altinn's order of checks for ``POST``/``PUT`` of binary data (first failure wins):

1. no ``Content-Disposition`` header,
2. ``Content-Length`` above ``maxSize`` MB,
3. no usable filename (``filename*`` preferred; an *unquoted* filename with spaces is not parseable),
4. a filename without ``.``,
   (``allowedContentTypes`` empty: stop, everything is allowed)
5. no ``Content-Type`` header,
6. ``Content-Type`` neither ``application/octet-stream`` nor the MIME type of the file extension,
7. ``Content-Type`` not in ``allowedContentTypes`` (unless that lists ``application/octet-stream``).

Tinn is stricter in two places (documented in docs/compatibility.md): a filename with path
separators, control characters, ``.``/``..`` or more than 255 bytes is refused instead of being
rewritten (check 3b), and when the data type restricts content types the first bytes of the body
must look like the declared type (:func:`check_content`), so a JPEG named ``.pdf`` is refused.
"""

from __future__ import annotations

import base64
import binascii
import struct
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

from tinn.appdef.models import DataType

MB = 1024 * 1024
OCTET_STREAM = "application/octet-stream"
SOURCE = "DataRestrictionValidation"
ERROR_PREFIX = "Invalid data provided. Error: "
# ProblemDetails of a failed upload on POST .../data/type/{dataType} (app notes 5.3).
UPLOAD_PROBLEM_TITLE = "File validation failed"
UPLOAD_PROBLEM_DETAIL = "Common checks failed"
# How much of a body is read before streaming the rest, for sniffing and the zero-byte check.
SNIFF_BYTES = 8192
MAX_FILENAME_BYTES = 255

# Validation issue codes Altinn uses for upload checks (app notes 2.7).
CONTENT_TYPE_NOT_ALLOWED = "ContentTypeNotAllowed"
DATA_ELEMENT_TOO_LARGE = "DataElementTooLarge"
MISSING_FILE_NAME = "MissingFileName"
INVALID_FILE_NAME_FORMAT = "InvalidFileNameFormat"


# -- issues and problems --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadIssue:
    """One failed upload check, serialised as an item of ``uploadValidationIssues``."""

    code: str
    description: str
    source: str = SOURCE

    def to_wire(self) -> dict[str, Any]:
        return {
            "severity": 1,
            "dataElementId": None,
            "field": None,
            "code": self.code,
            "description": self.description,
            "source": self.source,
        }


def issues_text(issues: Iterable[UploadIssue]) -> str:
    """The ``text/plain`` error body of legacy ``POST .../data?dataType=``: descriptions joined by ``;``."""
    return ";".join(issue.description for issue in issues)


@dataclass(frozen=True, slots=True)
class UploadProblem:
    """A ProblemDetails Altinn answers after the header checks passed (status, title, detail)."""

    status: int
    title: str
    detail: str


def missing_content_type() -> UploadProblem:
    return UploadProblem(400, "Missing content type", "The request is missing a content type header.")


def request_too_large(received: int, max_size_mb: int) -> UploadProblem:
    """The body grew past ``maxSize`` while it was read; ``received`` is how far it got."""
    return UploadProblem(
        413,
        "Request too large",
        f"The request body is too large. The content length is {received} bytes, which exceeds the limit of "
        f"{max_size_mb} MB",
    )


def zero_bytes() -> UploadProblem:
    return UploadProblem(400, "Invalid data", f"{ERROR_PREFIX}The file is zero bytes.")


def max_size_bytes(data_type: DataType) -> int | None:
    """``maxSize`` (MB) in bytes; ``None`` when the data type sets no limit (0 lets nothing through,
    as in Altinn's data endpoint)."""
    return None if data_type.max_size is None else data_type.max_size * MB


# -- header grammar (RFC 9110 tokens, quoted strings and parameters) --------------------------------

_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WS = " \t"


@dataclass(frozen=True, slots=True)
class HeaderParam:
    """One ``name=value`` parameter: the value unquoted (``None`` for a bare name) and as written."""

    name: str
    value: str | None
    quoted: bool
    raw: str


def _token_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end] in _TCHARS:
        end += 1
    return end


def _skip_ws(text: str, start: int) -> int:
    while start < len(text) and text[start] in _WS:
        start += 1
    return start


def _quoted_end(text: str, start: int) -> tuple[int, str] | None:
    """Parse the quoted string at ``text[start] == '"'``: (index after it, unescaped content)."""
    out: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 >= len(text):
                return None
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return index + 1, "".join(out)
        out.append(char)
        index += 1
    return None


def parse_header_params(
    header: str, *, media_type: bool = False
) -> tuple[str, tuple[HeaderParam, ...]] | None:
    """``value; name=token; name="quoted"`` -> (value, params), or ``None`` when it does not parse.

    The value is a token (``type/subtype`` when ``media_type``). Parameter values are tokens or
    quoted strings; a bare parameter name is allowed, as .NET's header parser allows it. Any text
    left over - such as the rest of an unquoted value with spaces - makes the whole header invalid.
    """
    index = _skip_ws(header, 0)
    end = _token_end(header, index)
    if end == index:
        return None
    if media_type:
        if end >= len(header) or header[end] != "/":
            return None
        sub_end = _token_end(header, end + 1)
        if sub_end == end + 1:
            return None
        end = sub_end
    value = header[index:end]
    params: list[HeaderParam] = []
    index = _skip_ws(header, end)
    if index < len(header) and header[index] == ";":
        index += 1
        while True:
            index = _skip_ws(header, index)
            name_end = _token_end(header, index)
            if name_end == index:
                return None
            name = header[index:name_end].lower()
            index = _skip_ws(header, name_end)
            if index < len(header) and header[index] == "=":
                index = _skip_ws(header, index + 1)
                if index < len(header) and header[index] == '"':
                    quoted = _quoted_end(header, index)
                    if quoted is None:
                        return None
                    params.append(HeaderParam(name, quoted[1], True, header[index : quoted[0]]))
                    index = quoted[0]
                else:
                    value_end = _token_end(header, index)
                    if value_end == index:
                        return None
                    token = header[index:value_end]
                    params.append(HeaderParam(name, token, False, token))
                    index = value_end
                index = _skip_ws(header, index)
            else:
                params.append(HeaderParam(name, None, False, ""))
            if index < len(header) and header[index] == ";":
                index += 1
                continue
            break
    if index != len(header):
        return None
    return value, tuple(params)


# -- Content-Disposition ---------------------------------------------------------------------------

# Charsets .NET decodes in filename* and MIME words without extra encoding providers.
_CHARSETS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "iso-8859-1": "latin-1",
    "latin1": "latin-1",
    "us-ascii": "ascii",
    "ascii": "ascii",
}


@dataclass(frozen=True, slots=True)
class ContentDisposition:
    """A parsed ``Content-Disposition`` header."""

    type: str
    params: tuple[HeaderParam, ...]
    filename: str | None
    name: str | None

    def param(self, name: str) -> str | None:
        """The first parameter of that name (case-insensitive), unquoted."""
        found = _first_param(self.params, name.lower())
        return None if found is None else found.value


def _first_param(params: tuple[HeaderParam, ...], name: str) -> HeaderParam | None:
    return next((param for param in params if param.name == name), None)


def _repair_utf8(text: str) -> str:
    """Header bytes reach us decoded as ISO-8859-1 (ASGI); raw UTF-8 from clients is decoded again."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _decode_ext_value(value: str) -> str | None:
    """RFC 5987 ``charset'language'percent-encoded``; ``None`` when it is not one."""
    first = value.find("'")
    second = value.find("'", first + 1) if first >= 0 else -1
    if second < 0 or value.find("'", second + 1) >= 0:
        return None
    codec = _CHARSETS.get(value[:first].lower())
    if codec is None:
        return None
    return unquote_to_bytes(value[second + 1 :]).decode(codec, errors="replace")


def _decode_mime_word(raw: str) -> str | None:
    """A quoted ``"=?charset?B?base64?="`` (RFC 2047, base64 only, as .NET decodes it)."""
    parts = raw.split("?")
    if len(raw) < 10 or len(parts) != 5 or parts[0] != '"=' or parts[4] != '="' or parts[2].lower() != "b":
        return None
    codec = _CHARSETS.get(parts[1].lower())
    if codec is None:
        return None
    try:
        data = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return None
    return data.decode(codec, errors="replace")


def _param_text(param: HeaderParam | None) -> str | None:
    if param is None or param.value is None:
        return None
    return _repair_utf8(param.value) if param.quoted else param.value


def parse_content_disposition(header: str | None) -> ContentDisposition | None:
    """Parse a ``Content-Disposition`` header the way Altinn does; ``None`` if absent or unparseable.

    ``filename`` prefers a decodable ``filename*`` (RFC 5987) over ``filename`` (which may be a
    base64 MIME word), has surrounding ``"`` trimmed and is ``None`` when empty. An unquoted
    filename with spaces (``filename=Test Doc.pdf``) makes the header unparseable, as in Altinn.
    The filename is returned as sent: check it with :func:`filename_problem` before storing it.
    Never raises.
    """
    if not header:
        return None
    parsed = parse_header_params(header)
    if parsed is None:
        return None
    disposition, params = parsed
    filename: str | None = None
    star = _first_param(params, "filename*")
    if star is not None and star.value is not None and not star.quoted:
        filename = _decode_ext_value(star.value)
    if filename is None:
        plain = _first_param(params, "filename")
        if plain is not None and plain.value is not None:
            filename = _decode_mime_word(plain.raw) if plain.quoted else None
            if filename is None:
                filename = _param_text(plain)
    if filename is not None:
        # Quotes around the name are syntax, never part of it (Altinn trims them too).
        filename = filename.strip('"') or None
    return ContentDisposition(
        disposition.lower(), params, filename, _param_text(_first_param(params, "name"))
    )


# -- filenames -------------------------------------------------------------------------------------

# Bidirectional controls can make "invoice\u202efdp.exe" display as "invoiceexe.pdf".
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class UnsafeFilename(ValueError):
    """A filename Tinn will not store; ``reason`` says why (see :func:`filename_problem`)."""

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"The filename {display_filename(filename)} is not allowed: {reason}")
        self.filename = filename
        self.reason = reason


def display_filename(name: str, limit: int = 100) -> str:
    """The name in quotes, non-printable characters escaped, cut at ``limit`` characters."""
    shown = "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in name[:limit])
    return f"'{shown}…'" if len(name) > limit else f"'{shown}'"


def filename_problem(name: str) -> str | None:
    """Why this filename cannot be stored as given, or ``None`` when it can.

    Refused: path separators (``/``, ``\\``), ``.`` and ``..``, control characters (NUL included),
    bidirectional controls, lone surrogates, and names longer than 255 bytes in UTF-8.
    """
    if "/" in name or "\\" in name:
        return "it contains a path separator ('/' or '\\')"
    if name in (".", ".."):
        return "it is a relative path"
    for char in name:
        category = unicodedata.category(char)
        if char == "\x00":
            return "it contains a NUL character"
        if category == "Cc":
            return "it contains control characters"
        if char in _BIDI_CONTROLS:
            return "it contains bidirectional text control characters"
        if category == "Cs":
            return "it contains an unpaired surrogate"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILENAME_BYTES:
        return f"it is longer than {MAX_FILENAME_BYTES} bytes"
    return None


def safe_filename(name: str) -> str:
    """The filename unchanged, or :class:`UnsafeFilename` (Tinn refuses where Altinn rewrites)."""
    reason = filename_problem(name)
    if reason is not None:
        raise UnsafeFilename(name, reason)
    return name


# -- MIME types by extension -----------------------------------------------------------------------

# What Altinn's MimeTypeMap answers for the extensions people upload. Extensions it does not know
# (.heic, .heif, .avif, .msg, .md, .epub, .yaml, ...) are application/octet-stream there, so they
# are here: mapping them would let uploads through that Altinn refuses.
_MIME_BY_TYPE: dict[str, str] = {
    # documents
    "application/pdf": "pdf",
    "application/msword": "doc dot wbk wiz",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template": "dotx",
    "application/vnd.ms-word.document.macroEnabled.12": "docm",
    "application/vnd.ms-word.template.macroEnabled.12": "dotm",
    "application/vnd.ms-excel": "xls xla xlc xld xlk xll xlm xlt xlw slk",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template": "xltx",
    "application/vnd.ms-excel.sheet.macroEnabled.12": "xlsm",
    "application/vnd.ms-excel.sheet.binary.macroEnabled.12": "xlsb",
    "application/vnd.ms-excel.template.macroEnabled.12": "xltm",
    "application/vnd.ms-excel.addin.macroEnabled.12": "xlam",
    "application/vnd.ms-powerpoint": "ppt pps pot ppa pwz",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow": "ppsx",
    "application/vnd.openxmlformats-officedocument.presentationml.template": "potx",
    "application/vnd.openxmlformats-officedocument.presentationml.slide": "sldx",
    "application/vnd.ms-powerpoint.presentation.macroEnabled.12": "pptm",
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.12": "ppsm",
    "application/vnd.ms-powerpoint.template.macroEnabled.12": "potm",
    "application/vnd.ms-powerpoint.addin.macroEnabled.12": "ppam",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.text-template": "ott",
    "application/vnd.oasis.opendocument.text-master": "odm",
    "application/vnd.oasis.opendocument.text-web": "oth",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.spreadsheet-template": "ots",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/vnd.oasis.opendocument.presentation-template": "otp",
    "application/vnd.oasis.opendocument.graphics": "odg",
    "application/vnd.oasis.opendocument.graphics-template": "otg",
    "application/vnd.oasis.opendocument.formula": "odf",
    "application/vnd.oasis.opendocument.chart": "odc",
    "application/vnd.oasis.opendocument.database": "odb",
    "application/vnd.oasis.opendocument.image": "odi",
    "application/rtf": "rtf",
    "application/vnd.ms-xpsdocument": "xps",
    "application/vnd.visio": "vsd vss vst vsw vsx vtx",
    "application/vnd.ms-project": "mpp",
    "application/x-mspublisher": "pub",
    "application/onenote": "one onea onepkg onetmp onetoc onetoc2",
    "application/x-mswrite": "wri",
    "application/vnd.ms-works": "wks wcm wdb",
    "application/postscript": "ps eps ai",
    "application/x-tex": "tex",
    "application/x-latex": "latex",
    "application/x-dvi": "dvi",
    # images
    "image/png": "png pnz",
    "image/jpeg": "jpg jpeg jpe",
    "image/pjpeg": "jfif",
    "image/gif": "gif",
    "image/bmp": "bmp dib",
    "image/tiff": "tif tiff",
    "image/svg+xml": "svg",
    "image/webp": "webp",
    "image/x-icon": "ico",
    "image/vnd.ms-photo": "wdp",
    "image/pict": "pct pic pict",
    "image/x-portable-bitmap": "pbm",
    "image/x-portable-graymap": "pgm",
    "image/x-portable-pixmap": "ppm",
    "image/x-portable-anymap": "pnm",
    "image/x-xbitmap": "xbm",
    "image/x-xpixmap": "xpm",
    "image/x-rgb": "rgb",
    # text and data
    "text/plain": (
        "txt asm bas c cc cfg cmd cnf cpp cs cxx def h hpp hxx i idl inc inl ini lst mak map mk rc reg s"
        " sln vb xdr"
    ),
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/xml": "xml asa asax ascx ashx asmx aspx config resx xsc xss",
    "text/xml": "xsd xsl xslt dtd wsdl xsf vml disco",
    "application/json": "json",
    "text/html": "html htm shtml hxt",
    "application/xhtml+xml": "xhtml xht",
    "text/css": "css",
    "application/javascript": "js",
    "text/x-vcard": "vcf",
    "text/richtext": "rtx",
    "text/sgml": "sgml",
    "application/atom+xml": "atom",
    "application/gpx+xml": "gpx",
    "application/xaml+xml": "xaml",
    "application/x-sh": "sh",
    # e-mail
    "message/rfc822": "eml mht mhtml nws",
    # archives
    "application/zip": "zip",
    "application/x-7z-compressed": "7z",
    "application/x-rar-compressed": "rar",
    "application/x-gzip": "gz",
    "application/x-compressed": "tgz",
    "application/x-tar": "tar",
    "application/x-compress": "z",
    "application/java-archive": "jar",
    # audio
    "audio/mpeg": "mp3",
    "audio/wav": "wav wave",
    "audio/m4a": "m4a",
    "audio/m4b": "m4b",
    "audio/m4p": "m4p",
    "audio/x-m4r": "m4r",
    "audio/aac": "aac adts",
    "audio/flac": "flac",
    "audio/ogg": "ogg oga opus spx",
    "audio/x-ms-wma": "wma",
    "audio/mid": "mid midi rmi",
    "audio/aiff": "aif aifc aiff",
    "audio/basic": "au snd",
    "audio/x-mpegurl": "m3u m3u8",
    # video
    "video/mp4": "mp4 mp4v",
    "video/x-m4v": "m4v",
    "video/quicktime": "mov qt mqv",
    "video/x-msvideo": "avi",
    "video/x-ms-wmv": "wmv",
    "video/x-ms-asf": "asf asr asx nsc",
    "video/mpeg": "mpeg mpg mpe m1v m2v mp2 mpa mpv2 mod vbk",
    "video/webm": "webm",
    "video/ogg": "ogv",
    "video/x-flv": "flv",
    "video/3gpp": "3gp 3gpp",
    "video/3gpp2": "3g2 3gp2",
    "video/vnd.dlna.mpeg-tts": "ts tts m2t m2ts",
    "video/x-dv": "dv dif",
    "video/divx": "divx",
    # certificates and signatures
    "application/x-x509-ca-cert": "cer crt der",
    "application/pkcs7-signature": "p7s",
    "application/pkcs7-mime": "p7m p7c",
    "application/x-pkcs7-certificates": "p7b spc",
    "application/x-pkcs7-certreqresp": "p7r",
    "application/x-pkcs12": "p12 pfx",
    "application/pkix-crl": "crl",
    "application/pkcs10": "p10",
    # fonts
    "application/font-sfnt": "ttf otf",
    "application/font-woff": "woff",
    "application/vnd.ms-fontobject": "eot",
}
# Other Content-Types Altinn accepts for an extension besides the main one.
_MIME_ALIASES: dict[str, tuple[str, ...]] = {
    "xml": ("text/xml",),
    "zip": ("application/x-zip-compressed", "application/zip-compressed"),
    "3gp": ("audio/3gpp",),
}
_MIME_BY_EXTENSION: dict[str, tuple[str, ...]] = {
    extension: (mime, *_MIME_ALIASES.get(extension, ()))
    for mime, extensions in _MIME_BY_TYPE.items()
    for extension in extensions.split()
}


def file_extension(filename: str) -> str:
    """The text after the last ``.`` (lower-cased), ``""`` when there is none or it ends the name."""
    base = filename.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return "" if dot < 0 else base[dot + 1 :].lower()


def mime_types_for_extension(filename: str) -> tuple[str, ...]:
    """The Content-Types Altinn accepts for this file's extension, the main one first."""
    return _MIME_BY_EXTENSION.get(file_extension(filename), (OCTET_STREAM,))


def mime_type_for_extension(filename: str) -> str:
    """The MIME type of the file extension, ``application/octet-stream`` when it is not known."""
    return mime_types_for_extension(filename)[0]


# -- the upload checks -----------------------------------------------------------------------------


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name from any mapping (a plain dict or Starlette's ``Headers``)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _issue(code: str, message: str) -> list[UploadIssue]:
    return [UploadIssue(code, ERROR_PREFIX + message)]


def check_upload(
    data_type: DataType, headers: Mapping[str, str], *, content_length: int | None
) -> list[UploadIssue]:
    """Altinn's header checks for a binary upload, in order; the first failure is the only issue.

    Run before the body is read. An empty list means the request may proceed to the Content-Type
    presence check, the bounded read (:class:`StreamLimiter`), the zero-byte check and
    :func:`check_content`.
    """
    disposition_header = header_value(headers, "content-disposition")
    if disposition_header is None:
        return _issue(CONTENT_TYPE_NOT_ALLOWED, "The request must include a Content-Disposition header")
    limit = max_size_bytes(data_type)
    if limit is not None and content_length is not None and content_length > limit:
        return _issue(DATA_ELEMENT_TOO_LARGE, f"Binary attachment exceeds limit of {limit}")
    disposition = parse_content_disposition(disposition_header)
    filename = disposition.filename if disposition else None
    if filename is None:
        return _issue(MISSING_FILE_NAME, "The Content-Disposition header must contain a valid filename")
    unsafe = filename_problem(filename)
    if unsafe is not None:
        return _issue(
            INVALID_FILE_NAME_FORMAT,
            f"The filename {display_filename(filename)} is not allowed: {unsafe}. Please rename the file.",
        )
    if "." not in filename:
        return _issue(
            INVALID_FILE_NAME_FORMAT,
            f"Invalid format for filename: {filename}. Filename is expected to end with '.{{filetype}}'.",
        )
    allowed = data_type.allowed_content_types
    if not allowed:
        return []
    content_type = header_value(headers, "content-type")
    if content_type is None:
        return _issue(INVALID_FILE_NAME_FORMAT, "Content-Type header must be included in request.")
    mime_types = mime_types_for_extension(filename)
    mime = mime_types[0]
    # The octet-stream exemptions compare exactly; the other comparisons ignore case (as Altinn's).
    if content_type != OCTET_STREAM and content_type.lower() not in {m.lower() for m in mime_types}:
        return _issue(
            INVALID_FILE_NAME_FORMAT,
            f"Content type header {content_type} does not match mime type {mime} for uploaded file. "
            "Please fix header or upload another file.",
        )
    allowed_lower = {item.lower() for item in allowed}
    if content_type.lower() not in allowed_lower and OCTET_STREAM not in allowed:
        permitted = ", ".join(allowed)
        return _issue(
            CONTENT_TYPE_NOT_ALLOWED,
            f"Invalid content type: {mime}. Please try another file. "
            f"Permitted content types include: {permitted}",
        )
    return []


# -- content sniffing ------------------------------------------------------------------------------

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
TIFF = "image/tiff"
BMP = "image/bmp"
WEBP = "image/webp"
SVG = "image/svg+xml"
HEIC = "image/heic"
AVIF = "image/avif"
ZIP = "application/zip"
EPUB = "application/epub+zip"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OLE = "application/x-ole-storage"  # doc, xls, ppt, msg, msi, ...: one compound file format
GZIP = "application/x-gzip"
SEVEN_ZIP = "application/x-7z-compressed"
RAR = "application/x-rar-compressed"
RTF = "application/rtf"
POSTSCRIPT = "application/postscript"
XML = "application/xml"
JSON = "application/json"
HTML = "text/html"
TEXT = "text/plain"
MP3 = "audio/mpeg"
WAV = "audio/wav"
OGG = "audio/ogg"
FLAC = "audio/flac"
MP4 = "video/mp4"
QUICKTIME = "video/quicktime"
M4A = "audio/mp4"
THREE_GP = "video/3gpp"
THREE_G2 = "video/3gpp2"
WEBM = "video/webm"
AVI = "video/x-msvideo"

_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"II+\x00", TIFF),
    (b"MM\x00+", TIFF),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE),
    (b"\x1f\x8b\x08", GZIP),
    (b"7z\xbc\xaf\x27\x1c", SEVEN_ZIP),
    (b"Rar!\x1a\x07", RAR),
    (b"OggS", OGG),
    (b"fLaC", FLAC),
    (b"\x1a\x45\xdf\xa3", WEBM),
    (b"ID3", MP3),
)
_RIFF_FORMS = {b"WEBP": WEBP, b"WAVE": WAV, b"AVI ": AVI}
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_OOXML_FOLDERS = ((b"word/", DOCX), (b"xl/", XLSX), (b"ppt/", PPTX))
# Control bytes that do not occur in text (tab, line breaks, form feed and escape do).
_BINARY_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])


def _zip_type(head: bytes) -> str:
    """Office and OpenDocument files are zip archives; their first entries tell which."""
    offset = 0
    while offset + 30 <= len(head) and head[offset : offset + 4] == b"PK\x03\x04":
        flags, method = struct.unpack_from("<HH", head, offset + 6)
        size, _, name_length, extra_length = struct.unpack_from("<IIHH", head, offset + 18)
        name_start = offset + 30
        name = head[name_start : name_start + name_length]
        data_start = name_start + name_length + extra_length
        if offset == 0 and name == b"mimetype" and method == 0:
            # OpenDocument (and EPUB): the first entry, stored, holds the MIME type.
            declared = head[data_start : data_start + size].decode("latin-1").strip().lower()
            return declared if declared in _ODF_TYPES or declared == EPUB else ZIP
        for folder, mime in _OOXML_FOLDERS:
            if name.startswith(folder):
                return mime
        if flags & 0x08:
            break  # sizes follow the data: the next header cannot be found from here
        offset = data_start + size
    return ZIP


def _iso_media_type(head: bytes) -> str | None:
    """ISO base media files (MP4, MOV, HEIC, 3GP): a box size, then the first box type."""
    if len(head) < 12 or head[0] != 0:
        return None
    box = head[4:8]
    if box in _QUICKTIME_ATOMS:
        return QUICKTIME
    if box != b"ftyp":
        return None
    brand = head[8:12]
    if brand in _HEIF_BRANDS:
        return HEIC
    if brand in (b"avif", b"avis"):
        return AVIF
    if brand == b"qt  ":
        return QUICKTIME
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return M4A
    if brand.startswith(b"3gp"):
        return THREE_GP
    if brand.startswith(b"3g2"):
        return THREE_G2
    return MP4


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    odd = len(data) - len(data.translate(None, _BINARY_BYTES))
    return odd > len(data) // 100


def _text_type(head: bytes) -> str | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        codec = "utf-16-le" if head[0] == 0xFF else "utf-16-be"
        body = head[2 : len(head) - (len(head) % 2)]
        text = body.decode(codec, errors="replace")
        if any(unicodedata.category(char) == "Cc" and char not in "\t\n\r\f\v\x1b" for char in text):
            return None
    else:
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        if _looks_binary(head):
            return None
        text = head.decode("utf-8", errors="replace")
    start = text.lstrip()[:2048].lower()
    if start.startswith("{\\rtf"):
        return RTF
    if start.startswith("%!ps"):
        return POSTSCRIPT
    if start.startswith("<"):
        if "<svg" in start:
            return SVG
        if start.startswith("<!doctype html") or "<html" in start:
            return HTML
        return XML
    if start.startswith(("{", "[")):
        return JSON
    return TEXT


def sniff_content_type(first_bytes: bytes) -> str | None:
    """The file format the first bytes of a body show, or ``None`` when they show none we know.

    Binary formats by signature (PDF, PNG, JPEG, GIF, TIFF, BMP, WebP, zip with the Office/ODF
    type inside, OLE2 compound files, gzip/7z/rar, MP3/WAV/Ogg/FLAC, ISO media incl. MP4/MOV/HEIC,
    WebM, AVI), then text: RTF, PostScript, SVG, HTML, XML, JSON, plain text.
    """
    head = first_bytes
    if not head:
        return None
    pdf_at = head.find(b"%PDF-", 0, 1024)
    # Some producers put junk before the header, which readers skip; text mentioning it is text.
    if pdf_at == 0 or (pdf_at > 0 and (not head[:pdf_at].strip() or _looks_binary(head[:pdf_at]))):
        return PDF
    for prefix, mime in _PREFIXES:
        if head.startswith(prefix):
            return mime
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_type(head)
    if head.startswith(b"RIFF") and head[8:12] in _RIFF_FORMS:
        return _RIFF_FORMS[head[8:12]]
    if (
        head.startswith(b"BM")
        and len(head) >= 18
        and struct.unpack_from("<I", head, 14)[0] in _BMP_HEADER_SIZES
    ):
        return BMP
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xfa"):
        return MP3
    iso = _iso_media_type(head)
    if iso is not None:
        return iso
    return _text_type(head)


_ODF_TYPES = frozenset(
    mime for mime in _MIME_BY_TYPE if mime.startswith("application/vnd.oasis.opendocument.")
)
_TEXTUAL = frozenset({TEXT, JSON, XML, SVG, HTML, RTF, POSTSCRIPT})
_MARKUP = frozenset({XML, SVG, HTML})
_ISO_MEDIA = frozenset({MP4, QUICKTIME, M4A, THREE_GP, THREE_G2, HEIC, AVIF})
_ZIP_ANY = frozenset({ZIP, DOCX, XLSX, PPTX, EPUB}) | _ODF_TYPES
_WORD = frozenset({DOCX, ZIP, OLE})
_EXCEL = frozenset({XLSX, ZIP, OLE})
_POWERPOINT = frozenset({PPTX, ZIP, OLE})
_OOXML = "application/vnd.openxmlformats-officedocument."
_FAMILIES: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = (
    ((_OOXML + "wordprocessingml.", "application/vnd.ms-word."), _WORD),
    ((_OOXML + "spreadsheetml.", "application/vnd.ms-excel."), _EXCEL),
    ((_OOXML + "presentationml.", "application/vnd.ms-powerpoint."), _POWERPOINT),
    (("text/",), _TEXTUAL),
)


def _content_rules() -> dict[str, frozenset[str]]:
    """Declared type -> the sniffed types consistent with it; declared types not listed are not checked."""
    rules: dict[str, frozenset[str]] = {
        PDF: frozenset({PDF}),
        PNG: frozenset({PNG}),
        JPEG: frozenset({JPEG}),
        "image/pjpeg": frozenset({JPEG}),
        GIF: frozenset({GIF}),
        TIFF: frozenset({TIFF}),
        BMP: frozenset({BMP}),
        WEBP: frozenset({WEBP}),
        SVG: frozenset({SVG, XML}),
        XML: _MARKUP,
        "text/xml": _MARKUP,
        JSON: frozenset({JSON, TEXT}),
        RTF: frozenset({RTF}),
        "message/rfc822": _TEXTUAL,
        "application/javascript": _TEXTUAL,
        "application/x-sh": _TEXTUAL,
        GZIP: frozenset({GZIP}),
        "application/gzip": frozenset({GZIP}),
        "application/x-compressed": frozenset({GZIP}),
        SEVEN_ZIP: frozenset({SEVEN_ZIP}),
        RAR: frozenset({RAR}),
        MP3: frozenset({MP3}),
        WAV: frozenset({WAV}),
        OGG: frozenset({OGG}),
        "video/ogg": frozenset({OGG}),
        FLAC: frozenset({FLAC}),
        WEBM: frozenset({WEBM}),
        AVI: frozenset({AVI}),
        # Word and Excel open each other's older formats and exports (RTF, HTML, CSV) as well.
        "application/msword": _WORD | _TEXTUAL,
        "application/vnd.ms-excel": _EXCEL | _TEXTUAL,
        "application/vnd.ms-powerpoint": _POWERPOINT,
        "application/vnd.ms-project": frozenset({OLE}),
        "application/vnd.visio": frozenset({OLE}),
        "application/x-mspublisher": frozenset({OLE}),
    }
    for mime in (ZIP, "application/x-zip-compressed", "application/zip-compressed", EPUB):
        rules[mime] = _ZIP_ANY
    for mime in ("application/java-archive", "application/vnd.ms-xpsdocument"):
        rules[mime] = frozenset({ZIP})
    for mime in _ODF_TYPES:
        rules[mime] = frozenset({mime, ZIP})
    for mime in (MP4, QUICKTIME, "video/x-m4v", "audio/m4a", "audio/m4b", "audio/m4p", "audio/x-m4r", M4A):
        rules[mime] = _ISO_MEDIA
    for mime in (THREE_GP, "audio/3gpp", THREE_G2, HEIC, "image/heif", AVIF):
        rules[mime] = _ISO_MEDIA
    for mime in _MIME_BY_TYPE:
        if mime in rules:
            continue
        if mime.endswith("+xml"):
            rules[mime] = _MARKUP
            continue
        for prefixes, family in _FAMILIES:
            if mime.startswith(prefixes):
                rules[mime] = family
                break
    return {mime.lower(): family for mime, family in rules.items()}


_CONTENT_RULES = _content_rules()


def _bare_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def content_matches(declared: str, sniffed: str | None) -> bool:
    """Whether content sniffed as ``sniffed`` may be stored as ``declared``.

    Only formats that can be recognised from their first bytes are checked; for any other declared
    type the answer is ``True``. For those that are checked, unrecognisable content does not match.
    """
    rule = _CONTENT_RULES.get(_bare_type(declared))
    return rule is None or (sniffed is not None and sniffed in rule)


def check_content(data_type: DataType, headers: Mapping[str, str], first_bytes: bytes) -> list[UploadIssue]:
    """Tinn's content check: refuse a body that does not look like the type it is declared as.

    Applies only when the data type restricts content types (a non-empty ``allowedContentTypes``
    without ``application/octet-stream``). The declared type is the Content-Type, or the type of
    the file extension when that is ``application/octet-stream``. Run it after :func:`check_upload`
    and the zero-byte check, on the first :data:`SNIFF_BYTES` of the body.
    """
    allowed = [item.lower() for item in data_type.allowed_content_types or ()]
    if not allowed or OCTET_STREAM in allowed:
        return []
    declared = _bare_type(header_value(headers, "content-type") or "")
    if declared in ("", OCTET_STREAM):
        disposition = parse_content_disposition(header_value(headers, "content-disposition"))
        filename = disposition.filename if disposition else None
        declared = mime_type_for_extension(filename) if filename else OCTET_STREAM
    if declared == OCTET_STREAM:
        return []
    sniffed = sniff_content_type(first_bytes[:SNIFF_BYTES])
    if content_matches(declared, sniffed):
        return []
    seen = f"it looks like {sniffed}" if sniffed else "its format was not recognised"
    return _issue(
        CONTENT_TYPE_NOT_ALLOWED,
        f"The file content does not look like {declared} ({seen}). "
        "Please fix the Content-Type header or upload another file.",
    )


# -- bounded streams -------------------------------------------------------------------------------


class TooLarge(Exception):
    """The stream passed its size limit; ``received`` counts the bytes up to and including the chunk
    that crossed it."""

    def __init__(self, limit: int, received: int) -> None:
        super().__init__(f"the body is larger than the limit of {limit} bytes")
        self.limit = limit
        self.received = received


class StreamLimiter:
    """Passes chunks through, counting bytes, and raises :class:`TooLarge` as soon as more than
    ``limit`` bytes have arrived (before the chunk that crosses it is passed on). Empty chunks are
    dropped. Iterate it once."""

    def __init__(self, chunks: AsyncIterable[bytes], limit: int | None) -> None:
        self._chunks = chunks
        self._limit = limit
        self._received = 0
        self._started = False

    @property
    def received(self) -> int:
        return self._received

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("a StreamLimiter can be iterated only once")
        self._started = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            if not chunk:
                continue
            self._received += len(chunk)
            if self._limit is not None and self._received > self._limit:
                raise TooLarge(self._limit, self._received)
            yield chunk


@dataclass(frozen=True, slots=True)
class Peeked:
    """The first bytes of a stream, and the whole stream (those bytes included) to go on with."""

    head: bytes
    chunks: AsyncIterator[bytes]

    @property
    def empty(self) -> bool:
        """The stream has no bytes at all (a zero-byte upload)."""
        return not self.head


async def peek(chunks: AsyncIterable[bytes], size: int = SNIFF_BYTES) -> Peeked:
    """Read at least ``size`` bytes (fewer if the stream is shorter) without losing them.

    Holds at most ``size`` bytes plus one chunk; ``Peeked.chunks`` yields them again, then the rest.
    """
    iterator = aiter(chunks)
    held: list[bytes] = []
    total = 0
    exhausted = False
    while total < size:
        try:
            chunk = await anext(iterator)
        except StopAsyncIteration:
            exhausted = True
            break
        if chunk:
            held.append(chunk)
            total += len(chunk)
    return Peeked(b"".join(held)[:size], _replay(held, None if exhausted else iterator))


async def _replay(held: list[bytes], rest: AsyncIterator[bytes] | None) -> AsyncIterator[bytes]:
    while held:
        yield held.pop(0)
    if rest is not None:
        async for chunk in rest:
            yield chunk


# -- form data bodies ------------------------------------------------------------------------------


def form_data_format(content_type: str | None) -> Literal["xml", "json"] | None:
    """How a form-data body is read (app notes 5.1): XML when the Content-Type contains
    ``application/xml`` or is missing, JSON when it contains ``application/json``, otherwise not
    at all (415; ``text/xml`` included). The comparison is case-sensitive, as Altinn's."""
    if content_type is None or "application/xml" in content_type:
        return "xml"
    if "application/json" in content_type:
        return "json"
    return None
