"""Parsing untrusted (and trusted) XML without entity expansion, DTDs or network access.

Every XML document Tinn reads, from a client or from an app folder, goes through ``parse_xml``.
A document that declares a DTD is refused outright: no billion laughs, no external entities.
"""

from __future__ import annotations

from lxml import etree

MAX_DEPTH = 256


class UnsafeXml(ValueError):
    """The document uses a feature Tinn refuses (DTD, entities, excessive nesting)."""


class XmlSyntaxError(ValueError):
    """The document is not well-formed; ``line`` and ``column`` point at the problem."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
    )


def parse_xml(data: bytes | str) -> etree._Element:
    """Parse ``data`` into an element tree root, refusing DTDs and absurd nesting."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        raise XmlSyntaxError(exc.msg or str(exc), line, column) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None or tree.docinfo.externalDTD is not None:
        raise UnsafeXml("XML documents with a DOCTYPE/DTD are not accepted")
    _check_depth(root)
    return root


def _check_depth(root: etree._Element) -> None:
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UnsafeXml(f"XML nesting deeper than {MAX_DEPTH} levels is not accepted")
        for child in node:
            if isinstance(child, etree._Entity):
                raise UnsafeXml("XML entity references are not accepted")
            stack.append((child, depth + 1))
