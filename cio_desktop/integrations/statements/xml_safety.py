"""Reading untrusted XML safely (bank statement files: camt.05x, OFX 2.x, anything else in XML).

Every XML statement parser should read through this module rather than call ``lxml`` directly,
so that the same protections apply everywhere:

* **no DTD at all**: a ``<!DOCTYPE`` is refused before parsing (a prolog scan of the first bytes,
  in UTF-8/Latin-1 and UTF-16) and again after it (``docinfo.internalDTD``). Statement formats
  never need one; refusing it outright stops billion-laughs (entity expansion) and XXE
  (external entities: local files, URLs) whatever the parser would otherwise do;
* the parser itself is configured not to expand entities, load a DTD, validate against a DTD or
  touch the network (``resolve_entities=False, load_dtd=False, dtd_validation=False,
  no_network=True``), and keeps libxml2's hard limits (``huge_tree=False``: a text node over
  10 MB or nesting deeper than :data:`MAX_DEPTH` levels is an error);
* every ``lxml`` parse error becomes :class:`cio_desktop.errors.ValidationError` with the file
  name and the line libxml2 reports, in plain words.

``lxml`` (libxml2) is used rather than ``defusedxml`` because the statement parsers need lxml's
streaming ``iterparse`` with element clearing and ``sourceline``; ``defusedxml.lxml`` is
deprecated by its authors and only wraps the same parser options used here.
"""

from __future__ import annotations

import re
from typing import IO, Iterable, Iterator

from lxml import etree

from cio_desktop.errors import ValidationError

__all__ = [
    "MAX_DEPTH", "PARSER_OPTIONS", "safe_parser", "safe_iterparse", "parse_document",
    "refuse_doctype", "sniff_root", "local_name", "namespace", "xml_error", "sourceline",
]

#: libxml2's nesting limit without XML_PARSE_HUGE (documents deeper than this are refused).
MAX_DEPTH = 256

#: the options every parser built here uses.
PARSER_OPTIONS: dict = {
    "resolve_entities": False,
    "load_dtd": False,
    "dtd_validation": False,
    "no_network": True,
    "huge_tree": False,
    "remove_pis": True,
}

# A DOCTYPE (or a bare ENTITY declaration) in the prolog, i.e. before the first element.
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(r"<[A-Za-z_:]")
_PROLOG_SCAN = 64 * 1024


def safe_parser(**overrides) -> etree.XMLParser:
    """An ``lxml`` parser with :data:`PARSER_OPTIONS` (overrides may only add options such as
    ``schema=``; the security options cannot be switched off through this function)."""
    for key in PARSER_OPTIONS:
        if key in overrides and overrides[key] != PARSER_OPTIONS[key]:
            raise ValueError(f"xml_safety does not allow {key}={overrides[key]!r}")
    return etree.XMLParser(**{**PARSER_OPTIONS, **overrides})


def local_name(element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def namespace(element) -> str:
    tag = element.tag
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:tag.index("}")]
    return ""


def _head_text(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"<\x00")):
        return head.decode("utf-16-le", errors="ignore")
    if head.startswith((b"\xfe\xff", b"\x00<")):
        return head.decode("utf-16-be", errors="ignore")
    return head.decode("latin-1")


_BIG_LINE = 65535


def sourceline(element) -> int | None:
    """``element.sourceline``, corrected past line 65,535.

    libxml2 stores a node's line in 16 bits; beyond 65,535 it reports, for an element, the line
    of its first child node instead — for a text child, the line on which that text *ends* — so a
    pretty-printed ``<Ntry>`` on line 70,000 comes back as 70,001. This walks to that first text
    node and subtracts the newlines in it. Call it on an element whose start has been parsed
    (iterparse ``end`` events, or ``start`` events of the following element)."""
    line = element.sourceline
    if line is None or line <= _BIG_LINE:
        return line
    node = element
    for _ in range(5):                       # libxml2 follows first children at most 5 deep
        if node.text is not None:
            return line - node.text.count("\n")
        if len(node) == 0 or not isinstance(node[0].tag, str):
            break
        node = node[0]
    tail = node.tail if len(node) == 0 else None
    return line - tail.count("\n") if tail else line


def refuse_doctype(head: bytes, source: str | None = None) -> None:
    """Raise if the prolog in ``head`` (the text before the first element) declares a DTD or an
    entity. Text after the first element is not looked at (CDATA may mention ``<!DOCTYPE``)."""
    text = _head_text(head)
    first = _FIRST_ELEMENT.search(text)
    prolog = text[:first.start()] if first else text
    m = _DECLARATION.search(prolog)
    if m:
        raise ValidationError(
            "the XML declares a DTD or entities (<!DOCTYPE/<!ENTITY); statement files never "
            "need one and it is refused to block entity expansion and external-entity attacks",
            source=source, line=prolog[:m.start()].count("\n") + 1, field="DOCTYPE")


def xml_error(exc: etree.LxmlError, source: str | None, fallback_line: int | None = None) -> ValidationError:
    """Plain-words ``ValidationError`` for an lxml error."""
    msg = str(getattr(exc, "msg", "") or exc)
    msg = re.sub(r"\s*\((<string>|[^()]*), line \d+\)$", "", msg)
    line = getattr(exc, "lineno", None) or fallback_line
    if line is not None and line <= 0:
        line = fallback_line
    low = msg.lower()
    if "excessive depth" in low or "depth" in low and "huge" in low:
        text = f"the XML is nested more than {MAX_DEPTH} levels deep; refused"
    elif "entity" in low and ("loop" in low or "amplification" in low or "exceeded" in low):
        text = f"the XML uses entity expansion, which is refused ({msg})"
    elif "huge" in low or "too large" in low or "limit" in low:
        text = f"the XML exceeds a safety limit and is refused ({msg})"
    elif isinstance(exc, etree.XMLSyntaxError) and "SCHEMAS" in str(getattr(exc, "error_log", "")):
        text = f"the XML does not conform to its schema: {msg}"
    else:
        text = f"the file is not well-formed XML: {msg}"
    return ValidationError(text, source=source, line=line)


def _check_docinfo(element, source: str | None) -> None:
    tree = element.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.externalDTD is not None:
        raise ValidationError("the XML declares a DTD (<!DOCTYPE); refused to block entity expansion "
                              "and external-entity attacks", source=source, line=1, field="DOCTYPE")


class _PeekStream:
    """A read-only wrapper that hands the already-read head back to the parser first."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._stream.read(size) if size is not None and size >= 0 else self._stream.read()


def safe_iterparse(stream: IO[bytes], source: str | None = None, *,
                   events: Iterable[str] = ("end",), tag=None, schema=None) -> Iterator[tuple[str, object]]:
    """``lxml.etree.iterparse`` with the protections above; yields ``(event, element)``.

    The caller clears the elements it has finished with (``element.clear()`` and removing it from
    its parent) to keep memory bounded. ``tag`` filters like lxml's (``"{*}Ntry"`` matches any
    namespace). Raises ``ValidationError`` for DTDs, malformed XML and libxml2 limits.
    """
    head = stream.read(_PROLOG_SCAN)
    if not isinstance(head, bytes):
        raise TypeError("safe_iterparse needs a binary stream")
    refuse_doctype(head, source)
    etree.clear_error_log()  # the thread's log may hold an earlier file's schema errors (xml_error reads it)
    kwargs = dict(PARSER_OPTIONS)
    kwargs.pop("dtd_validation")
    if schema is not None:
        kwargs["schema"] = schema
    it = etree.iterparse(_PeekStream(head, stream), events=tuple(events), tag=tag, **kwargs)
    first = True
    last_line: int | None = None
    try:
        for event, element in it:
            if first:
                _check_docinfo(element, source)
                first = False
            last_line = element.sourceline or last_line
            yield event, element
        root = it.root
    except etree.LxmlError as exc:
        raise xml_error(exc, source, last_line) from None
    if root is not None:
        _check_docinfo(root, source)


def parse_document(data: bytes | IO[bytes], source: str | None = None, *, schema=None):
    """Parse a whole (small) document safely and return its root element."""
    if not isinstance(data, (bytes, bytearray)):
        data = data.read()
    refuse_doctype(bytes(data[:_PROLOG_SCAN]), source)
    etree.clear_error_log()
    try:
        root = etree.fromstring(bytes(data), safe_parser())
    except etree.LxmlError as exc:
        raise xml_error(exc, source) from None
    _check_docinfo(root, source)
    if schema is not None and not schema.validate(root):
        err = schema.error_log.last_error
        raise ValidationError(f"the XML does not conform to its schema: {err.message}",
                              source=source, line=err.line or None)
    return root


def sniff_root(head: bytes, max_elements: int = 64) -> list[tuple[str, str]]:
    """``(namespace, local name)`` of the first elements in ``head`` (which may be cut off
    anywhere), parsed with the safe options (a DTD is read but never expanded or fetched, so a
    hostile file is still recognised and then refused by the parser with a clear message);
    ``[]`` for anything that is not XML. Never raises."""
    kwargs = dict(PARSER_OPTIONS)
    kwargs.pop("dtd_validation")
    found: list[tuple[str, str]] = []
    try:
        parser = etree.XMLPullParser(events=("start",), **kwargs)
    except (etree.LxmlError, TypeError):  # pragma: no cover - option set is fixed
        return found
    try:
        parser.feed(head)
    except (etree.LxmlError, ValueError, TypeError):
        pass  # a cut-off head is expected; the events read so far still count
    try:
        for _event, element in parser.read_events():
            found.append((namespace(element), local_name(element)))
            if len(found) >= max_elements:
                break
    except (etree.LxmlError, ValueError, TypeError):
        pass
    return found
