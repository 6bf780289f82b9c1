"""OFX / QFX statements: 1.x (SGML, ``OFXHEADER:100`` header, unclosed element tags) and 2.x
(XML, ``<?OFX …?>``): bank (``STMTRS``), credit card (``CCSTMTRS``) and investment
(``INVSTMTRS``) statements.

Built on ``ofxtools`` (1.1.1) where it fits, with a tolerant layer of our own where it does not:

- **ofxtools is used for** the header: ``OFXHeaderV1``/``OFXHeaderV2`` recognise and validate it
  and give the declared character set; the tag tokenizer (``ofxtools.Parser.TreeBuilder.regex``,
  which reads SGML and XML alike); and its OFX schema knowledge — the names of all OFX aggregates
  (``ofxtools.models``), which is what tells an empty SGML element (``<MEMO>`` with nothing after
  it) from the start of an aggregate.
- **Hand-written here**, because ofxtools refuses or mis-reads real files: a tolerant header
  fallback (ofxtools rejects a v1 header missing ``OLDFILEUID``/``NEWFILEUID`` or with an
  unlisted charset); the tree builder (ofxtools nests everything after an empty ``<MEMO>`` inside
  it, then fails with an unrelated "LEDGERBAL required" error, and never reports a line); text
  decoding (valid UTF-8 wins, else the declared charset, else cp1252); dates (ofxtools converts
  ``20260301000000[+1:CET]`` to UTC, i.e. 28 February — a posting date is a calendar date, so we
  keep the date as written); and the mapping to our records (ofxtools' strict model conversion
  rejects unknown ``TRNTYPE`` values and stops at the first spec deviation with no position).

Security: ofxtools' tokenizer is a regular expression, not an XML parser, so no entity is ever
expanded and nothing is fetched; on top of that any ``<!DOCTYPE``/``<!ENTITY`` declaration (the
vehicle of billion-laughs and external-entity attacks; OFX never needs one) is refused outright.

Every ``ValidationError`` names the source, the 1-based line where the offending element starts
and the OFX element (``field="TRNAMT"``).

Mapping. Statement: ``ACCTID`` → account, ``CURDEF`` → currency, ``TRNUID`` → statement_id,
``LEDGERBAL`` (``INVBAL/AVAILCASH`` for investment accounts) → closing_balance with ``DTASOF``
→ closing_date; OFX gives no opening balance, so opening_balance is ``None``; ``AVAILBAL``,
``DTSTART``/``DTEND``, ``BANKID``/``BROKERID``, ``ACCTTYPE`` go to ``extra``; investment
positions (``INVPOSLIST``, names from ``SECLIST``) → ``extra["positions"]``
(``InvestmentPosition``; a ``SHORT`` position has a negative quantity).
Line (``STMTTRN``): ``DTPOSTED`` → booking_date, ``DTAVAIL`` or else ``DTUSER`` → value_date,
``TRNAMT`` → amount (converted at ``CURRATE`` when a ``<CURRENCY>`` aggregate says it is in
another currency), ``FITID`` → reference, ``NAME`` / ``PAYEE/NAME`` / ``EXTDNAME`` →
counterparty, ``BANKACCTTO``/``CCACCTTO`` ``ACCTID`` → counterparty_account, ``MEMO`` (+ "check
no. …", "ref. …" for ``CHECKNUM``/``REFNUM``) → description, ``TRNTYPE`` → bank_code.
Investment transactions become cash lines: ``INVBANKTRAN`` as above; ``BUY*``/``SELL*`` →
``-|TOTAL|``/``+|TOTAL|`` on ``DTTRADE`` (value ``DTSETTLE``) described "Buy 100 APPLE INC @
227.50"; ``INCOME``/``RETOFCAP`` → ``TOTAL``; ``INVEXPENSE``/``MARGININTEREST`` → ``-|TOTAL|``;
``REINVEST``, ``TRANSFER``, ``SPLIT``, ``JRNL*`` move no cash and are only counted in
``extra["skipped_transactions"]``.
"""

from __future__ import annotations

import bisect
import codecs
import functools
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from types import SimpleNamespace
from typing import BinaryIO, Iterator
from xml.sax import saxutils

from cio_desktop.domain.money import currency_exponent, is_currency
from cio_desktop.domain.statements import InvestmentPosition, Statement, StatementLine
from cio_desktop.errors import ValidationError

__all__ = ["FORMAT", "sniff", "parse"]

FORMAT = "ofx"

_MAX_BYTES = 256 << 20


@functools.lru_cache(maxsize=1)
def _ofxtools() -> SimpleNamespace:
    """ofxtools, imported on first parse (it takes ~0.3 s; ``sniff`` does not need it):
    its header classes, its tag tokenizer (``<TAG>`` + text or CDATA + optional ``</TAG>`` + tail)
    and, from its models, the names of every OFX aggregate and of every data element."""
    import ofxtools.models  # noqa: F401  (defines every Aggregate subclass)
    from ofxtools import Types
    from ofxtools.header import OFXHeaderError, OFXHeaderV1, OFXHeaderV2
    from ofxtools.models.base import Aggregate
    from ofxtools.Parser import TreeBuilder

    aggregates: set[str] = set()
    elements: set[str] = set()
    todo = [Aggregate]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            aggregates.add(sub.__name__)
            todo.append(sub)
            for name, attr in vars(sub).items():
                if isinstance(attr, Types.Element) and not isinstance(
                        attr, (Types.SubAggregate, Types.Unsupported)):
                    elements.add(name.upper())
    aggregates = {n for n in aggregates if n.isupper()}
    return SimpleNamespace(token=TreeBuilder.regex, header_error=OFXHeaderError,
                           v1=OFXHeaderV1, v2=OFXHeaderV2,
                           aggregates=frozenset(aggregates),
                           elements=frozenset(elements - aggregates))

_BUY = {"BUYDEBT", "BUYMF", "BUYOPT", "BUYOTHER", "BUYSTOCK"}
_SELL = {"SELLDEBT", "SELLMF", "SELLOPT", "SELLOTHER", "SELLSTOCK"}
_OUTFLOW = {"INVEXPENSE", "MARGININTEREST"}
_INFLOW = {"INCOME", "RETOFCAP"}
_NO_CASH = {"REINVEST", "TRANSFER", "SPLIT", "JRNLFUND", "JRNLSEC", "CLOSUREOPT"}
_POSITIONS = {"POSSTOCK", "POSMF", "POSDEBT", "POSOPT", "POSOTHER"}
_STATEMENTS = {"STMTRS": "bank", "CCSTMTRS": "creditcard", "INVSTMTRS": "investment"}
_WRAPPERS = {"STMTTRNRS", "CCSTMTTRNRS", "INVSTMTTRNRS"}


def sniff(head: bytes, filename: str = "") -> bool:
    """OFX: an ``OFXHEADER:`` header, an ``<?OFX`` processing instruction or an ``<OFX>`` root."""
    h = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if h[:9].upper() == b"OFXHEADER":
        return True
    start = h[:4096].upper()
    return b"<?OFX" in start or start.startswith(b"<OFX>") or \
        (start.startswith(b"<?XML") and b"<OFX>" in start)


# --------------------------------------------------------------------------------------------
# document: header, decoding, line numbers
# --------------------------------------------------------------------------------------------
#: An entity declaration anywhere, or a DOCTYPE with an internal subset (where entities live).
#: A bare ``<!DOCTYPE OFX …>`` is harmless here (nothing reads or fetches it) and is ignored.
_DTD = re.compile(r"<!\s*(ENTITY)\b|<!\s*(DOCTYPE)[^>\[]*\[", re.IGNORECASE)
_HEADER_SCAN = 16 * 1024

class _Document:
    def __init__(self, data: bytes, source: str) -> None:
        self.source = source
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        stripped = data.lstrip()
        self.version = ""
        if re.match(rb"OFXHEADER\s*:", stripped, re.IGNORECASE):
            declared = self._v1_header(data)
        elif stripped[:5].lower() == b"<?xml" or b"<?OFX" in data[:4096] \
                or stripped[:5].upper() == b"<OFX>":
            declared = self._v2_header(data)
        else:
            raise ValidationError("not an OFX file: it starts with neither an OFXHEADER: header "
                                  "nor <?OFX …?> nor <OFX>", source=source, line=1,
                                  field="OFXHEADER")
        self.text = _decode(data, declared)
        self._newlines = [m.start() for m in re.finditer(r"\r\n|\r|\n", self.text)]
        m = _DTD.search(self.text)
        if m:
            kind = (m.group(1) or m.group(2)).upper()
            what = "a DTD" if kind == "DOCTYPE" else "entities"
            raise ValidationError(f"the file declares {what} (<!{kind} …>), which OFX never "
                                  "needs; refused for safety "
                                  "(entity expansion, external entities)", source=source,
                                  line=self.line_of(m.start()), field=kind)
        self.body = self.text.find("<OFX>")
        if self.body < 0:
            raise ValidationError("no <OFX> element: the file is not OFX or is truncated",
                                  source=source, line=self.line_of(len(self.text)), field="OFX")

    def _v1_header(self, data: bytes) -> str:
        end = data.find(b"<")
        raw = (data if end < 0 else data[:end]).decode("latin-1")
        lib = _ofxtools()
        try:
            header, _ = lib.v1.parse(raw)
            self.version = str(header.version)
            return header.codec
        except (lib.header_error, ValueError, KeyError, TypeError):
            pass  # quirky header: read what it says ourselves
        # a header is a dozen short lines: scanning more would let a huge first "line" cost
        # minutes of regex backtracking (a 100 MB header took 5 min before this limit)
        fields = {k.upper(): v.strip().upper()
                  for k, v in re.findall(r"([A-Za-z]+)\s*:\s*([^\r\n]*)", raw[:_HEADER_SCAN])}
        self.version = fields.get("VERSION", "")
        charset, encoding = fields.get("CHARSET", ""), fields.get("ENCODING", "")
        if encoding in ("UTF-8", "UTF8", "UNICODE"):
            return "utf-8"
        if charset in ("1252", "WINDOWS-1252", "CP1252"):
            return "cp1252"
        if charset in ("ISO-8859-1", "8859-1", "LATIN-1", "LATIN1"):
            return "latin-1"
        return "utf-8"

    def _v2_header(self, data: bytes) -> str:
        head = data[:4096].decode("latin-1")
        m = re.search(r"""<\?OFX[^>]*\bVERSION\s*=\s*["']([0-9]+)""", head, re.IGNORECASE)
        self.version = m.group(1) if m else ""
        lib = _ofxtools()
        try:
            lib.v2.parse(head)
        except (lib.header_error, ValueError, KeyError, TypeError):
            pass  # ofxtools wants the attributes in spec order; we do not
        m = re.search(r"""<\?xml[^>]*\bencoding\s*=\s*["']([\w.:-]+)""", head, re.IGNORECASE)
        if m:
            try:
                return codecs.lookup(m.group(1)).name
            except LookupError:
                pass
        return "utf-8"

    def line_of(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1


def _decode(data: bytes, declared: str) -> str:
    """Valid UTF-8 is UTF-8 (whatever the header says: banks mislabel it), else the declared
    charset, else Windows-1252, else Latin-1 (which never fails)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for codec in (declared, "cp1252"):
        if codec and codecs.lookup(codec).name != "utf-8":
            try:
                return data.decode(codec)
            except (UnicodeDecodeError, LookupError):
                continue
    return data.decode("latin-1")


# --------------------------------------------------------------------------------------------
# tree
# --------------------------------------------------------------------------------------------
@dataclass(slots=True, eq=False)
class _Node:
    tag: str
    line: int
    text: str | None = None           # None for aggregates
    children: list["_Node"] = field(default_factory=list)

    def child(self, tag: str) -> "_Node | None":
        for c in self.children:
            if c.tag == tag:
                return c
        return None

    def all(self, tag: str) -> list["_Node"]:
        return [c for c in self.children if c.tag == tag]

    def value(self, tag: str) -> str:
        c = self.child(tag)
        return (c.text or "") if c is not None else ""

    def walk(self) -> Iterator[tuple["_Node", "_Node | None"]]:
        stack: list[tuple[_Node, _Node | None]] = [(self, None)]
        while stack:
            node, parent = stack.pop()
            yield node, parent
            stack.extend((c, node) for c in reversed(node.children))


_ENTITY_NUM = re.compile(r"&#(x[0-9A-Fa-f]{1,6}|[0-9]{1,7});")


def _unescape(text: str) -> str:
    text = saxutils.unescape(text, {"&nbsp;": " ", "&apos;": "'", "&quot;": '"'})

    def num(m: re.Match[str]) -> str:
        v = m.group(1)
        try:
            return chr(int(v[1:], 16) if v[0] in "xX" else int(v))
        except (ValueError, OverflowError):
            return m.group(0)

    return _ENTITY_NUM.sub(num, text).strip()


def _build(doc: _Document) -> list[_Node]:
    """Tokens → tree, tolerating SGML: unclosed elements, empty elements, unclosed aggregates
    (closed by their parent's end tag or by a sibling of the same name)."""
    src, text = doc.source, doc.text
    lib = _ofxtools()
    aggregates, elements = lib.aggregates, lib.elements
    closed_somewhere = set(re.findall(r"</([A-Z0-9._]+)>", text))
    roots: list[_Node] = []
    stack: list[_Node] = []
    pos = doc.body

    def fail(msg: str, at: int, tag: str | None) -> ValidationError:
        return ValidationError(msg, source=src, line=doc.line_of(at), field=tag)

    def add(node: _Node, at: int) -> None:
        if stack:
            stack[-1].children.append(node)
        elif node.tag == "OFX" and node.text is None:
            roots.append(node)
        else:
            raise fail(f"<{node.tag}> outside the <OFX> element", at, node.tag)

    for m in lib.token.finditer(text, doc.body):
        gap = text[pos:m.start()]
        if gap.strip():
            _check_gap(gap, pos, doc)
        pos = m.end()
        tag = m.group("tag").strip()
        tail = m.group("tail")
        if tail and tail.strip():
            raise fail(f"unexpected text '{tail.strip()[:40]}' after <{tag}>", m.start("tail"),
                       tag.lstrip("/"))
        value = m.group("cdata")
        if value is None and m.group("text") is not None and m.group("text").strip():
            value = _unescape(m.group("text"))
        if tag.startswith("/"):
            name = tag[1:].strip()
            if value:
                raise fail(f"unexpected text '{value[:40]}' after </{name}>", m.start(), name)
            names = [n.tag for n in stack]
            if name in names:
                while stack.pop().tag != name:
                    pass
            elif name in aggregates or not stack:
                raise fail(f"closing tag </{name}> without a matching <{name}>", m.start(), name)
            continue                   # end tag of an SGML element already closed implicitly
        line = doc.line_of(m.start())
        if tag.endswith("/"):          # XML empty element <MEMO/>
            add(_Node(tag[:-1].strip(), line, ""), m.start())
            continue
        if value is not None:
            add(_Node(tag, line, value), m.start())
            continue
        if m.group("closetag") is not None:   # <MEMO></MEMO>
            add(_Node(tag, line, ""), m.start())
            continue
        if tag in aggregates or (tag not in elements and tag in closed_somewhere):
            if any(n.tag == tag for n in stack):   # OFX aggregates never nest in themselves:
                while stack.pop().tag != tag:      # an unclosed sibling ends here
                    pass
            node = _Node(tag, line)
            add(node, m.start())
            stack.append(node)
        else:                                   # empty SGML element, e.g. <MEMO> then <NAME>
            add(_Node(tag, line, ""), m.start())
    rest = text[pos:]
    if rest.strip():
        _check_gap(rest, pos, doc)
    if stack:
        inner = stack[-1]
        raise ValidationError(f"the file ends inside <{inner.tag}> (opened on line {inner.line}) "
                              "before </OFX>: it looks truncated", source=src, line=inner.line,
                              field=inner.tag)
    if not roots:
        raise ValidationError("no <OFX> element", source=src, line=doc.line_of(doc.body),
                              field="OFX")
    return roots


def _check_gap(gap: str, at: int, doc: _Document) -> None:
    """Text the tokenizer skipped: allow comments and processing instructions only."""
    rest = re.sub(r"<!--.*?-->|<\?.*?\?>", "", gap, flags=re.DOTALL)
    if rest.strip():
        offset = at + (len(gap) - len(gap.lstrip()))
        bad = rest.strip()
        raise ValidationError(f"unexpected markup or text '{bad[:40]}'", source=doc.source,
                              line=doc.line_of(offset), field=None)


# --------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------
_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"
                   r"(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:\.[0-9]{1,6})?)?)?)?\s*(?:\[[^\]]*\])?")
_AMOUNT = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, msg: str, node: _Node, tag: str | None = None) -> ValidationError:
        return ValidationError(msg, source=self.source, line=node.line, field=tag or node.tag)

    def need(self, parent: _Node, tag: str) -> _Node:
        node = parent.child(tag)
        if node is None or not (node.text or node.children):
            raise self.err(f"<{parent.tag}> has no <{tag}>, which is required", parent, tag)
        return node

    def date(self, parent: _Node, tag: str, required: bool = False) -> date | None:
        node = self.need(parent, tag) if required else parent.child(tag)
        if node is None or not node.text:
            return None
        m = _DATE.fullmatch(node.text)
        if not m:
            raise self.err(f"'{node.text}' is not an OFX date (YYYYMMDD[HHMMSS[.XXX]][[gmt "
                           "offset:tz]])", node)
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            raise self.err(f"'{node.text}' is not a calendar date", node) from None

    def amount(self, parent: _Node, tag: str, required: bool = False) -> Decimal | None:
        node = self.need(parent, tag) if required else parent.child(tag)
        if node is None or not node.text:
            return None
        text = node.text.replace(" ", "")
        if not _AMOUNT.fullmatch(text):
            raise self.err(f"'{node.text}' is not an amount (digits with one '.' or ',' "
                           "decimal mark, no thousands separators)", node)
        try:
            value = Decimal(text.replace(",", "."))
        except InvalidOperation:  # pragma: no cover - the pattern already guards this
            raise self.err(f"'{node.text}' is not an amount", node) from None
        return value

    def currency(self, parent: _Node, tag: str = "CURDEF", required: bool = True) -> str:
        node = self.need(parent, tag) if required else parent.child(tag)
        if node is None:
            return ""
        code = (node.text or "").strip()
        if not is_currency(code) or code != code.upper():
            raise self.err(f"'{code}' is not an ISO 4217 currency code", node)
        return code

    def in_account_currency(self, node: _Node, amount: Decimal,
                            currency: str) -> tuple[Decimal, str]:
        """``<CURRENCY>`` says the amounts are in CURSYM, with CURRATE converting to CURDEF:
        convert (rounded half-even to the account currency's minor unit) and say so.
        ``<ORIGCURRENCY>`` only informs — the amount is already in CURDEF."""
        cur = node.child("CURRENCY")
        if cur is None or not cur.children:
            return amount, ""
        symbol = self.currency(cur, "CURSYM")
        if symbol == currency:
            return amount, ""
        rate = self.amount(cur, "CURRATE", required=True)
        step = Decimal(1).scaleb(-currency_exponent(currency))
        converted = (amount * rate).quantize(step, rounding=ROUND_HALF_EVEN)
        return converted, f"{symbol} {amount} at {rate}"


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------
def parse(stream: BinaryIO, source: str, **_options: object) -> Iterator[Statement]:
    """Statements in file order: one per ``STMTRS``/``CCSTMTRS``/``INVSTMTRS``."""
    data = stream.read(_MAX_BYTES + 1)
    if len(data) > _MAX_BYTES:
        raise ValidationError("the file is larger than 256 MB, too large for an OFX statement",
                              source=source, line=1)
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise ValidationError("the file is empty", source=source, line=1)
    doc = _Document(data, source)
    roots = _build(doc)
    rd = _Reader(source)
    securities = _securities(roots)
    found = 0
    problems: list[ValidationError] = []
    for root in roots:
        for node, parent in root.walk():
            if node.tag in _WRAPPERS:
                rs = [c for c in node.children if c.tag in _STATEMENTS]
                status = node.child("STATUS")
                code = status.value("CODE") if status is not None else "0"
                if not rs and status is not None and code not in ("", "0"):
                    message = status.value("MESSAGE")
                    problems.append(rd.err(f"the bank reported error {code} for this statement"
                                           + (f": {message}" if message else ""), status, "STATUS"))
            if node.tag in _STATEMENTS:
                found += 1
                yield _statement(rd, node, parent, securities, doc)
    if not found:
        if problems:
            raise problems[0]
        sonrs = next((n for r in roots for n, _ in r.walk() if n.tag == "SONRS"), None)
        status = sonrs.child("STATUS") if sonrs is not None else None
        if status is not None and status.value("CODE") not in ("", "0"):
            raise rd.err(f"the bank refused the sign-on (code {status.value('CODE')}"
                         + (f": {status.value('MESSAGE')}" if status.value("MESSAGE") else "")
                         + ")", status, "STATUS")
        raise ValidationError("the OFX file holds no bank, credit card or investment statement "
                              "(STMTRS, CCSTMTRS, INVSTMTRS)", source=source,
                              line=roots[0].line, field="OFX")


def _securities(roots: list[_Node]) -> dict[tuple[str, str], dict]:
    out: dict[tuple[str, str], dict] = {}
    for root in roots:
        for node, _ in root.walk():
            if node.tag != "SECINFO":
                continue
            secid = node.child("SECID")
            if secid is None:
                continue
            key = (secid.value("UNIQUEIDTYPE").upper(), secid.value("UNIQUEID"))
            out[key] = {"name": node.value("SECNAME"), "ticker": node.value("TICKER")}
    return out


def _statement(rd: _Reader, rs: _Node, wrapper: _Node | None, securities: dict,
               doc: _Document) -> Statement:
    kind = _STATEMENTS[rs.tag]
    currency = rd.currency(rs)
    extra: dict = {"ofx_version": doc.version, "kind": kind}
    if kind == "bank":
        acct = rd.need(rs, "BANKACCTFROM")
        extra.update(bank_id=acct.value("BANKID"), branch_id=acct.value("BRANCHID"),
                     account_type=acct.value("ACCTTYPE"))
    elif kind == "creditcard":
        acct = rd.need(rs, "CCACCTFROM")
        extra["account_type"] = "CREDITCARD"
    else:
        acct = rd.need(rs, "INVACCTFROM")
        extra["broker_id"] = acct.value("BROKERID")
    account = rd.need(acct, "ACCTID").text or ""
    st = Statement(account=account.strip(), currency=currency, source=rd.source, format=FORMAT,
                   line=rs.line, statement_id=wrapper.value("TRNUID") if wrapper else "",
                   extra=extra)
    if kind == "investment":
        st.lines = _investment_lines(rd, rs, currency, securities, st)
        st.closing_date = rd.date(rs, "DTASOF")
        invbal = rs.child("INVBAL")
        if invbal is not None:
            st.closing_balance = rd.amount(invbal, "AVAILCASH")
        st.extra["positions"] = _positions(rd, rs, currency, securities)
    else:
        tranlist = rs.child("BANKTRANLIST")
        lines: list[StatementLine] = []
        if tranlist is not None:
            extra["period_start"] = rd.date(tranlist, "DTSTART")
            extra["period_end"] = rd.date(tranlist, "DTEND")
            lines = [_bank_line(rd, t, currency) for t in tranlist.all("STMTTRN")]
        st.lines = lines
        ledger = rs.child("LEDGERBAL")
        if ledger is not None:
            st.closing_balance = rd.amount(ledger, "BALAMT", required=True)
            st.closing_date = rd.date(ledger, "DTASOF")
        avail = rs.child("AVAILBAL")
        if avail is not None:
            extra["available_balance"] = rd.amount(avail, "BALAMT", required=True)
            extra["available_date"] = rd.date(avail, "DTASOF")
    return st


def _bank_line(rd: _Reader, t: _Node, currency: str) -> StatementLine:
    payee = t.child("PAYEE")
    counterparty = t.value("NAME") or (payee.value("NAME") if payee is not None else "") \
        or t.value("EXTDNAME")
    to = t.child("BANKACCTTO") or t.child("CCACCTTO")
    booking = rd.date(t, "DTPOSTED", required=True)
    amount, converted = rd.in_account_currency(t, rd.amount(t, "TRNAMT", required=True), currency)
    parts = [t.value("MEMO")]
    if t.value("CHECKNUM"):
        parts.append(f"check no. {t.value('CHECKNUM')}")
    if t.value("REFNUM"):
        parts.append(f"ref. {t.value('REFNUM')}")
    parts.append(converted)
    return StatementLine(
        booking_date=booking, amount=amount, currency=currency,
        value_date=rd.date(t, "DTAVAIL") or rd.date(t, "DTUSER"),
        counterparty=counterparty, counterparty_account=to.value("ACCTID") if to else "",
        reference=t.value("FITID"), description="; ".join(p for p in parts if p),
        bank_code=t.value("TRNTYPE"), line=t.line)


def _security(securities: dict, secid: _Node | None) -> tuple[str, str, str]:
    if secid is None:
        return "", "", ""
    uid, utype = secid.value("UNIQUEID"), secid.value("UNIQUEIDTYPE")
    info = securities.get((utype.upper(), uid), {})
    return uid, utype, info.get("name", "")


def _investment_lines(rd: _Reader, rs: _Node, currency: str, securities: dict,
                      st: Statement) -> list[StatementLine]:
    tranlist = rs.child("INVTRANLIST")
    if tranlist is None:
        return []
    st.extra["period_start"] = rd.date(tranlist, "DTSTART")
    st.extra["period_end"] = rd.date(tranlist, "DTEND")
    lines: list[StatementLine] = []
    skipped = 0
    for tx in tranlist.children:
        if tx.tag == "INVBANKTRAN":
            lines.append(_bank_line(rd, rd.need(tx, "STMTTRN"), currency))
            continue
        if tx.tag in _BUY | _SELL:
            body = rd.need(tx, "INVBUY" if tx.tag in _BUY else "INVSELL")
        elif tx.tag in _INFLOW | _OUTFLOW:
            body = tx
        else:
            if tx.text is None:            # an aggregate we do not turn into cash (REINVEST, …)
                skipped += 1
            continue
        inv = rd.need(body, "INVTRAN")
        uid, _utype, name = _security(securities, body.child("SECID"))
        total = rd.amount(body, "TOTAL", required=True)
        label = name or uid
        if tx.tag in _BUY | _SELL:
            verb = "Buy" if tx.tag in _BUY else "Sell"
            units = rd.amount(body, "UNITS", required=True)
            price = rd.amount(body, "UNITPRICE")
            text = f"{verb} {abs(units)} {label}" + (f" @ {price}" if price is not None else "")
            amount = -abs(total) if tx.tag in _BUY else abs(total)
            code = tx.tag
        else:
            income = body.value("INCOMETYPE")
            text = " ".join(p for p in (income or tx.tag.title(), label) if p)
            amount = -abs(total) if tx.tag in _OUTFLOW else total
            code = f"{tx.tag}/{income}" if income else tx.tag
        booking = rd.date(inv, "DTTRADE", required=True)
        amount, converted = rd.in_account_currency(body, amount, currency)
        memo = "; ".join(p for p in (inv.value("MEMO"), converted) if p)
        lines.append(StatementLine(
            booking_date=booking, amount=amount, currency=currency,
            value_date=rd.date(inv, "DTSETTLE"), counterparty=name, reference=inv.value("FITID"),
            description=text + (f" — {memo}" if memo else ""), bank_code=code, line=tx.line))
    if skipped:
        st.extra["skipped_transactions"] = skipped
    return lines


def _positions(rd: _Reader, rs: _Node, currency: str, securities: dict) -> list[InvestmentPosition]:
    poslist = rs.child("INVPOSLIST")
    out: list[InvestmentPosition] = []
    if poslist is None:
        return out
    for pos in poslist.children:
        if pos.tag not in _POSITIONS:
            continue
        inv = rd.need(pos, "INVPOS")
        secid = rd.need(inv, "SECID")
        uid, utype, name = _security(securities, secid)
        if not uid:
            raise rd.err("<SECID> has no <UNIQUEID>", secid, "UNIQUEID")
        units = rd.amount(inv, "UNITS", required=True)
        if inv.value("POSTYPE").upper() == "SHORT" and units > 0:
            units = -units
        out.append(InvestmentPosition(
            security_id=uid, id_type=utype, quantity=units,
            unit_price=rd.amount(inv, "UNITPRICE"), market_value=rd.amount(inv, "MKTVAL"),
            currency=_position_currency(rd, inv, currency), as_of=rd.date(inv, "DTPRICEASOF"),
            name=name))
    return out


def _position_currency(rd: _Reader, inv: _Node, default: str) -> str:
    """A position's ``<CURRENCY>`` gives the currency of its price and value."""
    cur = inv.child("CURRENCY")
    if cur is not None and cur.children:
        return rd.currency(cur, "CURSYM")
    return default
