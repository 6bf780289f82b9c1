"""SWIFT MT940 (customer statement) and MT942 (interim transaction report) files.

Written by hand, not a wrapper around the ``mt-940`` package (5.1.1), because that library, tried
on our samples, (1) silently turns an impossible date such as ``:61:260230`` into 28 February,
(2) reads the amount ``100.00`` (wrong decimal mark) as 100 with ``.00NTRF…`` as the customer
reference, (3) accepts any three characters as a currency, (4) returns zero transactions instead
of an error for an empty or garbage file, (5) raises bare ``RuntimeError``/``ValueError`` with no
line number, and (6) loads the whole file into memory. Every one of those would have to be
re-checked after it anyway; the field grammar itself is small.

Reading is streamed in two passes over the (seekable) byte stream:

1. a scan reads every field except the statement lines and builds each ``Statement`` whole —
   account, currency, opening/closing/available balances, MT942 floor limits and totals — so a
   statement is complete when it is yielded and balance errors surface before any line;
2. ``Statement.lines`` is a re-iterable object that, when iterated, reads that statement's
   ``:61:``/``:86:`` fields from the stream and yields ``StatementLine`` objects one at a time.
   At the end it checks opening + lines = closing (MT940) or the ``:90D:``/``:90C:`` control totals
   (MT942) and raises ``ValidationError`` at the balance field if they disagree.

Memory is therefore bounded by the largest field, not by the file. Consume ``lines`` while the
stream is open (the import service does). A non-seekable stream is spooled to a temporary file.

Physical lines are counted from 1 (CRLF, LF and lone-CR files); every ``ValidationError`` names
the source, the line on which the offending field starts and the field tag (``":61:"``).
Text is decoded line by line: UTF-8 if it decodes, else Windows-1252, else Latin-1 (German banks
send umlauts in Latin-1/cp1252), unless ``encoding=`` is given.

Mapping. Statement: ``:25:`` → account (``BIC/IBAN`` split into bic + account; ``BLZ/Konto`` kept
as written, with ``extra["blz"]``/``extra["account_number"]``; a trailing currency goes to
``extra["account_currency"]``), ``:28C:`` → statement_id (``:20:`` if absent; ``:20:`` is also
``extra["reference"]``), ``:60F:``/``:60M:`` → opening_balance/opening_date and currency,
``:62F:``/``:62M:`` → closing_balance/closing_date, ``:64:``/``:65:`` → ``extra``; MT942:
``format="mt942"``, ``:34F:`` floor limits, ``:13D:`` report time and ``:90D:``/``:90C:`` totals
in ``extra``. Line (``:61:`` + ``:86:``): entry date (or value date) → booking_date, value date
→ value_date, C/RD → +, D/RC → −, bank reference (after ``//``) → reference, ``EREF`` or else
the customer reference (unless NONREF) → end_to_end_id, ``:61:`` type code (+ ``/GVC`` for
German ``:86:``) → bank_code, and from ``:86:`` (see ``parse_86``): counterparty name, account,
and the remittance text (``SVWZ+``/``REMI``; else the booking text; else the ``:61:``
supplementary details) → description.
"""

from __future__ import annotations

import io
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import BinaryIO, Iterator

from cio_desktop.domain.money import is_currency
from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError

__all__ = ["FORMAT", "sniff", "parse", "reconcile", "parse_86", "Details86"]

FORMAT = "mt940"

#: Field tags we know. A line starting ``:xx:`` with any other tag is a continuation line of the
#: field before it (remittance text may legitimately contain such a sequence).
KNOWN_TAGS = frozenset({"13", "13D", "20", "21", "25", "25P", "28", "28C", "34F", "60F", "60M",
                        "61", "62F", "62M", "64", "65", "86", "90D", "90C", "NS"})
_FIELD_START = re.compile(rb":(\d\d[A-Z]?|NS):")
_MSG_TYPE = re.compile(rb"\{2:[IO](\d{3})")
_OPENING = {"60F": "final", "60M": "intermediate"}
_CLOSING = {"62F": "final", "62M": "intermediate"}
_TRAILER = {"62F", "62M", "64", "65", "90D", "90C"}
_CONTINUABLE = {"61", "86", "NS"}
_NO_REFERENCE = {"", "NONREF", "NOTPROVIDED"}


# --------------------------------------------------------------------------------------------
# sniffing
# --------------------------------------------------------------------------------------------
def sniff(head: bytes, filename: str = "") -> bool:
    """An MT940/MT942 file: a SWIFT envelope ``{1:F01…}{2:O940``/``O942``, or ``:20:`` and
    ``:25:`` near the start plus a balance (``:60F:``/``:60M:``), a ``:61:`` line or an MT942
    floor limit (``:34F:``)."""
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{1:F01") and re.search(rb"\{2:[IO]94[02]", head[:512]):
        return True
    text = head.replace(b"\r", b"\n")
    first20 = re.search(rb"(?m)^:20:", text)
    if first20 is None or first20.start() > 4096:
        return False
    rest = text[first20.start():]
    return bool(re.search(rb"(?m)^:25P?:", rest)
                and re.search(rb"(?m)^:(60[FM]|61|34F):", rest))


# --------------------------------------------------------------------------------------------
# structured :86: information to account owner
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Details86:
    """A ``:86:`` field taken apart. ``style`` is ``german`` (``?00``…``?63`` sub-fields),
    ``keys`` (``/EREF/…/REMI/…/NAME/…`` as ABN AMRO, Rabobank and ING send) or ``free``."""

    raw: str
    style: str = "free"
    gvc: str = ""                   # German business transaction code (Geschäftsvorfallcode)
    booking_text: str = ""          # ?00
    prima_nota: str = ""            # ?10
    remittance: str = ""            # ?20–?29 and ?60–?63 joined / REMI / free text
    counterparty_bank: str = ""     # ?30 (BLZ or BIC) / BIC
    counterparty_account: str = ""  # ?31 (account or IBAN) / IBAN
    counterparty_name: str = ""     # ?32–?33 / NAME
    text_key_extension: str = ""    # ?34
    end_to_end_id: str = ""         # EREF+ / EREF
    mandate_reference: str = ""     # MREF+ / MARF
    creditor_id: str = ""           # CRED+ / CSID
    customer_reference: str = ""    # KREF+
    transaction_type: str = ""      # TRTP (Dutch)
    subfields: dict = field(default_factory=dict)

    @property
    def description(self) -> str:
        return self.remittance or self.booking_text


_GERMAN = re.compile(r"^([0-9]{3})?\?[0-9][0-9]")
_GERMAN_SPLIT = re.compile(r"\?([0-9][0-9])")
_SEPA_KEYWORD = re.compile(r"^(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|PURP|COAM|OAMT|"
                           r"SQTP|MDAT|ORCR|ORMR|DDAT)\s?\+")
_KEYS = ("TRTP", "IBAN", "BIC", "NAME", "REMI", "EREF", "MARF", "CSID", "ORDP", "BENM", "CNTP",
         "RTRN", "PREF", "ISDT", "PURP", "SVCL", "ULTC", "ULTD", "ADDR", "CITY", "USTD", "STRD",
         "CUR", "OCMT", "EXCH", "CHGS", "BUSP", "CDTRREFTP", "CDTRREF", "ID")
_KEY_AT = re.compile(r"(?=/(" + "|".join(_KEYS) + r")/)")


def _clean(text: str) -> str:
    return " ".join(text.split())


def _join_lines(parts: list[str]) -> str:
    """Join German sub-field lines (27 characters each): a full line runs on into the next, a
    shorter one ended a word."""
    out = prev = ""
    for part in parts:
        if out and len(prev) < 27 and not out.endswith(" ") and not part.startswith(" "):
            out += " "
        out += part
        prev = part
    return out


def parse_86(text: str) -> Details86:
    """Take a ``:86:`` value apart (lines as they were in the file, separated by ``\\n``)."""
    joined = "".join(text.split("\n"))
    if _GERMAN.match(joined):
        return _parse_german(text, joined)
    if _KEY_AT.match(joined):
        return _parse_keys(text, joined)
    return Details86(raw=text, remittance=_clean(text.replace("\n", " ")))


def _parse_german(raw: str, joined: str) -> Details86:
    m = _GERMAN.match(joined)
    gvc = m.group(1) or ""
    parts = _GERMAN_SPLIT.split(joined[len(gvc):])
    sub: dict[str, str] = {}
    remittance_parts: list[tuple[str, str]] = []
    for code, value in zip(parts[1::2], parts[2::2]):
        if code in sub:
            sub[code] += value
        else:
            sub[code] = value
        if "20" <= code <= "29" or "60" <= code <= "63":
            remittance_parts.append((code, value))
    # SEPA keywords (EREF+, SVWZ+, …) start a remittance line; a value may run over several lines.
    segments: list[list[str]] = [["", ""]]
    last = ""
    for _code, value in remittance_parts:
        km = _SEPA_KEYWORD.match(value)
        if km:
            segments.append([km.group(1), value[km.end():]])
        else:
            seg = segments[-1]
            if seg[1] and len(last) < 27 and not seg[1].endswith(" ") and not value.startswith(" "):
                seg[1] += " "
            seg[1] += value
        last = value
    keywords: dict[str, str] = {}
    for key, value in segments:
        if key:
            keywords.setdefault(key, value.strip())
    if keywords:
        remittance = keywords.get("SVWZ", "") or segments[0][1].strip()
    else:
        remittance = _join_lines([v for _c, v in remittance_parts]).strip()
    eref = keywords.get("EREF", "")
    return Details86(
        raw=raw, style="german", gvc=gvc, booking_text=sub.get("00", "").strip(),
        prima_nota=sub.get("10", "").strip(), remittance=_clean(remittance),
        counterparty_bank=sub.get("30", "").strip(),
        counterparty_account=(keywords.get("IBAN") or sub.get("31", "")).strip(),
        counterparty_name=_clean(_join_lines([v for v in (sub.get("32", ""), sub.get("33", ""))
                                              if v])),
        text_key_extension=sub.get("34", "").strip(),
        end_to_end_id="" if eref.upper() in _NO_REFERENCE else eref,
        mandate_reference=keywords.get("MREF", ""), creditor_id=keywords.get("CRED", ""),
        customer_reference=keywords.get("KREF", ""),
        subfields={**sub, **{k + "+": v for k, v in keywords.items()}})


def _parse_keys(raw: str, joined: str) -> Details86:
    found = [(m.start(), m.group(1)) for m in _KEY_AT.finditer(joined)]
    values: dict[str, str] = {}
    for i, (pos, key) in enumerate(found):
        end = found[i + 1][0] if i + 1 < len(found) else len(joined)
        value = joined[pos + len(key) + 2:end].strip("/").strip()
        if key not in values or not values[key]:
            values[key] = value
    cntp = values.get("CNTP", "").split("/") if values.get("CNTP") else []
    cntp += [""] * (4 - len(cntp))
    remittance = values.get("REMI") or values.get("USTD") or values.get("CUR") or ""
    eref = values.get("EREF", "")
    return Details86(
        raw=raw, style="keys", remittance=_clean(remittance),
        counterparty_bank=values.get("BIC") or cntp[1],
        counterparty_account=values.get("IBAN") or cntp[0],
        counterparty_name=_clean(values.get("NAME") or cntp[2]),
        end_to_end_id="" if eref.upper() in _NO_REFERENCE else eref,
        mandate_reference=values.get("MARF", ""), creditor_id=values.get("CSID", ""),
        transaction_type=values.get("TRTP", ""), subfields=values)


# --------------------------------------------------------------------------------------------
# physical lines → fields
# --------------------------------------------------------------------------------------------
class _Field:
    """One field (``tag`` "61", "60F", …) or a marker ("{" envelope, "-" end of message, ""
    stray text). Its text is decoded only when asked for (the scan pass never reads most
    ``:61:``/``:86:`` values)."""

    __slots__ = ("tag", "raw", "line", "offset", "end_line", "msg_type", "_decode", "_lines")

    def __init__(self, tag: str, raw: list[tuple[int, bytes]], line: int, offset: int,
                 decode: "_Decoder | None" = None, end_line: int = 0, msg_type: str = "") -> None:
        self.tag, self.raw, self.line, self.offset = tag, raw, line, offset
        self.end_line, self.msg_type, self._decode = end_line, msg_type, decode
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            decode = self._decode
            self._lines = [decode(b, n) for n, b in self.raw] if decode else []
        return self._lines

    @property
    def value(self) -> str:
        return "\n".join(self.lines)

    @property
    def label(self) -> str:
        return f":{self.tag}:"


class _Decoder:
    def __init__(self, encoding: str | None, source: str) -> None:
        self.encoding, self.source = encoding, source

    def __call__(self, raw: bytes, line: int) -> str:
        if self.encoding:
            try:
                return raw.decode(self.encoding)
            except (UnicodeDecodeError, LookupError) as exc:
                raise ValidationError(f"the text is not valid {self.encoding}: {exc}",
                                      source=self.source, line=line) from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                return raw.decode("cp1252")
            except UnicodeDecodeError:
                return raw.decode("latin-1")


def _fields(stream: BinaryIO, decode: _Decoder, start: int, line_no: int,
            end: int | None) -> Iterator[_Field]:
    """Fields (and envelope markers) from byte ``start`` (on physical line ``line_no``) up to
    byte ``end``. Non-field lines outside any field are yielded as tag ``""`` (stray text).

    The stream position is restored after every yield, so the scan pass and a statement's line
    pass can interleave on one stream."""
    stream.seek(start)
    offset = start
    current: _Field | None = None
    line_no -= 1
    readline = stream.readline
    while end is None or offset < end:
        raw = readline()
        if not raw:
            break
        line_no += 1
        here = offset
        offset += len(raw)
        out: list[_Field] = []
        current = _line(raw.rstrip(b"\r\n"), line_no, here, current, out, decode)
        if out:
            yield from out
            stream.seek(offset)
    if current is not None:
        current.end_line = line_no
        yield current


def _close(current: _Field | None, line_no: int, out: list[_Field]) -> None:
    if current is not None:
        current.end_line = line_no - 1
        out.append(current)


def _line(raw: bytes, line_no: int, here: int, current: _Field | None, out: list[_Field],
          decode: _Decoder) -> _Field | None:
    """Feed one physical line; completed fields go to ``out``; returns the open field."""
    if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if raw[:1] == b"{" and raw.startswith((b"{1:", b"{2:", b"{3:", b"{4:", b"{5:")):
        # SWIFT envelope: {1:F01…}{2:O940…}{3:…}{4: — whatever follows {4: is message text
        _close(current, line_no, out)
        current = None
        m = _MSG_TYPE.search(raw)
        if not raw.startswith(b"{5:"):
            # msg_type: the MT number; "" = a new message of unknown type; "=" = same message
            kind = m.group(1).decode("ascii") if m else ("" if raw.startswith(b"{1:") else "=")
            out.append(_Field("{", [], line_no, here, None, line_no, kind))
        pos = raw.find(b"{4:")
        if pos < 0:
            return None
        raw = raw[pos + 3:]
        here += pos + 3
        if not raw.strip():
            return None
    if raw.startswith(b"-}") or (raw[:1] == b"-" and not raw[1:].strip()):
        _close(current, line_no, out)
        out.append(_Field("-", [], line_no, here, None, line_no))
        return None
    m = _FIELD_START.match(raw) if raw[:1] == b":" else None
    if m is not None:
        tag = m.group(1).decode("ascii")
        if tag in KNOWN_TAGS:
            _close(current, line_no, out)
            return _Field(tag, [(line_no, raw[m.end():])], line_no, here, decode)
    if current is not None and current.tag in _CONTINUABLE:
        current.raw.append((line_no, raw))
        return current
    _close(current, line_no, out)
    if raw.strip():
        out.append(_Field("", [(line_no, raw)], line_no, here, decode, line_no))
    return None


# --------------------------------------------------------------------------------------------
# value grammar
# --------------------------------------------------------------------------------------------
def _err(msg: str, source: str, f: _Field) -> ValidationError:
    return ValidationError(msg, source=source, line=f.line, field=f.label)


_YYMMDD = re.compile(r"[0-9]{6}")
_AMOUNT = re.compile(r"[0-9]+(,[0-9]*)?")
_MMDD = re.compile(r"[0-9]{4}")
_LETTER = re.compile(r"[A-Z]")
_AMOUNT_CHARS = re.compile(r"[0-9.,]*")
_SIGNED_AMOUNT = re.compile(r"[-+][0-9.,]+")
_TYPE_CODE = re.compile(r"[NFS][A-Z0-9]{3}")
_DIGITS = re.compile(r"[0-9]+")
_IBAN_START = re.compile(r"[A-Z]{2}[0-9][0-9]")


def _yymmdd(text: str, what: str, source: str, f: _Field) -> date:
    if not _YYMMDD.fullmatch(text):
        raise _err(f"{what} '{text}' is not a date in YYMMDD form", source, f)
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    try:
        return date(2000 + yy if yy < 80 else 1900 + yy, mm, dd)
    except ValueError:
        raise _err(f"{what} '{text}' is not a calendar date", source, f) from None


def _amount(text: str, source: str, f: _Field) -> Decimal:
    if not text:
        raise _err("the amount is missing", source, f)
    if "." in text:
        raise _err(f"amount '{text}' uses '.' — MT940 amounts use a decimal comma", source, f)
    if not _AMOUNT.fullmatch(text):
        raise _err(f"amount '{text}' is not a number with a decimal comma (e.g. 1234,56)",
                   source, f)
    if len(text) > 15:
        raise _err(f"amount '{text}' is longer than the 15 characters MT940 allows", source, f)
    return Decimal(text.replace(",", "."))


def _currency(code: str, source: str, f: _Field) -> str:
    if not is_currency(code) or code != code.upper():
        raise _err(f"'{code}' is not an ISO 4217 currency code", source, f)
    return code


def _balance(f: _Field, source: str) -> tuple[Decimal, date, str]:
    """``1!a6!n3!a15d``: C/D mark, YYMMDD, currency, amount → (signed amount, date, currency)."""
    v = f.value.strip()
    if "\n" in v:
        raise _err("a balance field must be one line", source, f)
    if not v:
        raise _err("the balance is empty", source, f)
    mark = v[0]
    if mark not in "CD":
        raise _err(f"the debit/credit mark '{mark}' must be C or D", source, f)
    when = _yymmdd(v[1:7], "balance date", source, f)
    currency = _currency(v[7:10], source, f)
    amount = _amount(v[10:].strip(), source, f)
    return (-amount if mark == "D" else amount), when, currency


def _account(value: str) -> tuple[str, str, dict]:
    """``:25:`` → (account, bic, extra). Accepts IBAN, ``BIC/account``, ``BLZ/Konto`` and a
    trailing currency (``NL91ABNA0417164300 EUR``)."""
    extra: dict = {}
    v = value.strip()
    m = re.fullmatch(r"(.*?)[ /]?([A-Z]{3})", v)
    if m and is_currency(m.group(2)) and len(m.group(1)) >= 5 and not \
            re.fullmatch(r"[A-Z]{2}[0-9][0-9][A-Z0-9]{11,30}", v):
        extra["account_currency"] = m.group(2)
        v = m.group(1).strip()
    bic = ""
    if "/" in v:
        left, right = v.split("/", 1)
        if re.fullmatch(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?", left):
            bic, v = left, right
        elif re.fullmatch(r"[0-9]{8}", left):
            extra["blz"], extra["account_number"] = left, right
    return v.strip(), bic, extra


# --------------------------------------------------------------------------------------------
# pass 1: statements without their lines
# --------------------------------------------------------------------------------------------
@dataclass
class _Skeleton:
    statement: Statement
    msg_type: str
    start_field: _Field
    body_start: tuple[int, int] | None = None   # (byte offset, line) of the first :61:
    body_end: int | None = None                  # byte offset where the lines end
    last_line: int = 0
    phase: str = "header"
    opening_field: _Field | None = None
    closing_field: _Field | None = None
    floor_field: _Field | None = None
    totals: dict = field(default_factory=dict)   # "D"/"C" → (count, amount, field)
    seen: set = field(default_factory=set)
    last_field: _Field | None = None


class _Scanner:
    def __init__(self, stream: BinaryIO, source: str, decode: _Decoder) -> None:
        self.stream, self.source, self.decode = stream, source, decode

    def statements(self) -> Iterator[_Skeleton]:
        current: _Skeleton | None = None
        msg_type = ""
        found = False
        last_line = 0
        for f in _fields(self.stream, self.decode, 0, 1, None):
            last_line = max(last_line, f.end_line or f.line)
            if f.tag == "{":
                if current is not None:
                    yield self._finish(current, f.offset, f.line - 1)
                    current = None
                if f.msg_type not in ("", "=", "940", "942"):
                    raise ValidationError(f"SWIFT message type MT{f.msg_type} is not a statement "
                                          "(MT940 or MT942)", source=self.source, line=f.line,
                                          field="{2:")
                if f.msg_type != "=":
                    msg_type = f.msg_type
                continue
            if f.tag == "-":
                if current is not None:
                    yield self._finish(current, f.offset, f.line - 1)
                    current = None
                continue
            if f.tag == "":
                if current is not None and current.phase != "trailer":
                    prev = current.last_field
                    raise ValidationError(f"unexpected text '{f.value[:40]}' after field "
                                          f"{prev.label}", source=self.source, line=f.line,
                                          field=prev.label)
                continue  # bank header lines (ABNANL2A / 940) between messages
            if f.tag == "20":
                if current is not None:
                    yield self._finish(current, f.offset, f.line - 1)
                current = self._start(f, msg_type)
                found = True
                continue
            if current is None:
                raise ValidationError(f"field {f.label} comes before the statement's :20: "
                                      "reference", source=self.source, line=f.line, field=f.label)
            self._field(current, f)
            current.last_field = f
            current.last_line = f.end_line
        if current is not None:
            yield self._finish(current, None, last_line)
        if not found:
            raise ValidationError("no MT940/MT942 statement in this file (no :20: field)",
                                  source=self.source, line=1, field=":20:")

    def _start(self, f: _Field, msg_type: str) -> _Skeleton:
        ref = f.value.strip()
        if "\n" in ref or not ref:
            raise _err("the :20: reference must be one non-empty line", self.source, f)
        st = Statement(account="", currency="", statement_id=ref, source=self.source,
                       format="mt942" if msg_type == "942" else "mt940", line=f.line,
                       extra={"reference": ref})
        return _Skeleton(statement=st, msg_type=msg_type, start_field=f, last_line=f.line,
                         last_field=f)

    def _field(self, sk: _Skeleton, f: _Field) -> None:
        st, tag, src = sk.statement, f.tag, self.source
        if tag in ("61", "86") and sk.phase in ("header", "lines") and \
                (tag == "61" or sk.phase == "lines"):
            if sk.body_start is None:
                sk.body_start = (f.offset, f.line)
            sk.phase = "lines"
            return
        if tag == "NS":
            return
        if tag == "86":                       # statement-level information (header or trailer)
            info = _clean(f.value.replace("\n", " "))
            st.extra["information"] = (st.extra.get("information", "") + " " + info).strip()
            return
        if tag == "61":
            raise _err(":61: statement line after the closing balance", src, f)
        if tag in _TRAILER:
            if sk.phase != "trailer":
                if sk.body_start is not None:
                    sk.body_end = f.offset
                sk.phase = "trailer"
        elif sk.phase != "header":
            raise _err(f"field {f.label} after the statement lines", src, f)
        if tag in sk.seen and tag not in ("65", "34F"):
            raise _err(f"field {f.label} appears twice in one statement", src, f)
        sk.seen.add(tag)
        if tag == "21":
            st.extra["related_reference"] = f.value.strip()
        elif tag in ("25", "25P"):
            account, bic, extra = _account(f.lines[0])
            if not account:
                raise _err("the account identification is empty", src, f)
            st.account, st.bic = account, bic
            st.extra.update(extra)
        elif tag in ("28", "28C"):
            v = f.value.strip()
            if not re.fullmatch(r"[0-9]{1,5}(/[0-9]{1,5})?", v):
                raise _err(f"statement number '{v}' is not of the form 5n[/5n]", src, f)
            st.extra["statement_number"], _, seq = v.partition("/")
            if seq:
                st.extra["sequence_number"] = seq
            st.statement_id = v
        elif tag in _OPENING:
            if "60F" in sk.seen and "60M" in sk.seen:
                raise _err("a statement has one opening balance (:60F: or :60M:)", src, f)
            st.opening_balance, st.opening_date, st.currency = _balance(f, src)
            st.extra["opening_type"] = _OPENING[tag]
            sk.opening_field = f
        elif tag in _CLOSING:
            if "62F" in sk.seen and "62M" in sk.seen:
                raise _err("a statement has one closing balance (:62F: or :62M:)", src, f)
            st.closing_balance, st.closing_date, currency = _balance(f, src)
            self._same_currency(sk, currency, f)
            st.extra["closing_type"] = _CLOSING[tag]
            st.extra["closing_field"], st.extra["closing_line"] = f.label, f.line
            sk.closing_field = f
        elif tag == "64":
            amount, when, currency = _balance(f, src)
            self._same_currency(sk, currency, f)
            st.extra["available_balance"], st.extra["available_date"] = amount, when
        elif tag == "65":
            amount, when, currency = _balance(f, src)
            self._same_currency(sk, currency, f)
            st.extra.setdefault("forward_available", []).append((when, amount))
        elif tag == "34F":
            self._floor_limit(sk, f)
        elif tag in ("13", "13D"):
            st.extra["report_datetime"] = self._datetime(f)
        elif tag in ("90D", "90C"):
            v = f.value.strip()
            m = re.fullmatch(r"([0-9]{1,5})([A-Za-z]{3})(.*)", v)
            if not m:
                raise _err(f"'{v}' is not a number of entries, a currency and an amount", src, f)
            currency = _currency(m.group(2), src, f)
            self._same_currency(sk, currency, f)
            amount = _amount(m.group(3), src, f)
            kind = "debit" if tag == "90D" else "credit"
            st.extra[f"{kind}_count"], st.extra[f"{kind}_total"] = int(m.group(1)), amount
            sk.totals[tag[-1]] = (int(m.group(1)), amount, f)

    def _same_currency(self, sk: _Skeleton, currency: str, f: _Field) -> None:
        st = sk.statement
        if not st.currency:
            st.currency = currency
        elif currency != st.currency:
            raise _err(f"currency {currency} differs from the statement currency {st.currency}",
                       self.source, f)

    def _floor_limit(self, sk: _Skeleton, f: _Field) -> None:
        v = f.value.strip()
        m = re.fullmatch(r"([A-Za-z]{3})([CD]?)(.*)", v)
        if not m:
            raise _err(f"floor limit '{v}' is not currency, [D|C] and amount", self.source, f)
        currency = _currency(m.group(1), self.source, f)
        self._same_currency(sk, currency, f)
        amount = _amount(m.group(3), self.source, f)
        mark = m.group(2)
        extra = sk.statement.extra
        if mark in ("", "D"):
            extra["floor_limit_debit"] = amount
        if mark in ("", "C"):
            extra["floor_limit_credit"] = amount
        sk.floor_field = sk.floor_field or f

    def _datetime(self, f: _Field) -> datetime:
        v = f.value.strip()
        m = re.fullmatch(r"([0-9]{6})([0-9]{2})([0-9]{2})(?:([+-])([0-9]{2})([0-9]{2}))?", v)
        if not m:
            raise _err(f"'{v}' is not a date-time of the form YYMMDDhhmm[+hhmm]", self.source, f)
        day = _yymmdd(m.group(1), "date", self.source, f)
        hh, mi = int(m.group(2)), int(m.group(3))
        if hh > 23 or mi > 59:
            raise _err(f"'{v}' has an impossible time of day", self.source, f)
        tz = None
        if m.group(4):
            oh, om = int(m.group(5)), int(m.group(6))
            if oh > 14 or om > 59:
                raise _err(f"'{v}' has an impossible UTC offset", self.source, f)
            delta = timedelta(hours=oh, minutes=om)
            tz = timezone(-delta if m.group(4) == "-" else delta)
        return datetime(day.year, day.month, day.day, hh, mi, tzinfo=tz)

    def _finish(self, sk: _Skeleton, end_offset: int | None, end_line: int) -> _Skeleton:
        st, src, first = sk.statement, self.source, sk.start_field
        if sk.body_start is not None and sk.body_end is None:
            sk.body_end = end_offset
        if not st.account:
            raise ValidationError("the statement has no account identification (:25:)",
                                  source=src, line=first.line, field=":25:")
        is_942 = sk.msg_type == "942" or (
            not sk.msg_type and sk.opening_field is None and sk.closing_field is None
            and bool({"34F", "13D", "13", "90D", "90C"} & sk.seen))
        if is_942:
            st.format = "mt942"
            if sk.floor_field is None:
                raise ValidationError("the MT942 report has no floor limit (:34F:), so its "
                                      "currency is unknown", source=src, line=first.line,
                                      field=":34F:")
        else:
            st.format = "mt940"
            if sk.opening_field is None:
                raise ValidationError("the statement has no opening balance (:60F: or :60M:)",
                                      source=src, line=first.line, field=":60F:")
            if sk.closing_field is None:
                raise ValidationError(f"the statement that starts on line {first.line} ends "
                                      "without a closing balance (:62F: or :62M:) — is the file "
                                      "truncated?", source=src, line=max(end_line, first.line),
                                      field=":62F:")
        return sk


# --------------------------------------------------------------------------------------------
# pass 2: statement lines
# --------------------------------------------------------------------------------------------
class _Lines:
    """``Statement.lines`` for MT940: reads the statement's ``:61:``/``:86:`` fields from the
    stream on each iteration (re-iterable; one iteration at a time)."""

    def __init__(self, stream: BinaryIO, decode: _Decoder, sk: _Skeleton) -> None:
        self._stream, self._decode, self._sk = stream, decode, sk

    def __iter__(self) -> Iterator[StatementLine]:
        return self._read()

    def _read(self) -> Iterator[StatementLine]:
        sk, st = self._sk, self._sk.statement
        src = st.source
        total = Decimal(0)
        counts = {"D": [0, Decimal(0)], "C": [0, Decimal(0)]}
        if sk.body_start is not None:
            offset, line_no = sk.body_start
            pending: tuple[_Field, dict] | None = None
            details: list[_Field] = []
            for f in _fields(self._stream, self._decode, offset, line_no, sk.body_end):
                if f.tag == "61":
                    if pending is not None:
                        line = _make_line(pending, details, st)
                        total += line.amount
                        _count(counts, line.amount)
                        yield line
                    pending, details = (f, _parse_61(f, src)), []
                elif f.tag == "86":
                    if pending is None:
                        raise _err(":86: without a :61: statement line before it", src, f)
                    details.append(f)
                elif f.tag in ("NS", "-", "{", ""):
                    continue
                else:  # the scan pass already refused anything else
                    raise _err(f"field {f.label} among the statement lines", src, f)
            if pending is not None:
                line = _make_line(pending, details, st)
                total += line.amount
                _count(counts, line.amount)
                yield line
        if st.format == "mt940":
            reconcile(total, st)
        else:
            for mark, kind in (("D", "debit"), ("C", "credit")):
                if mark not in sk.totals:
                    continue
                n, amount, f = sk.totals[mark]
                if (n, amount) != (counts[mark][0], counts[mark][1]):
                    raise _err(f"the {kind} total says {n} entries for {amount}, but the lines "
                               f"hold {counts[mark][0]} for {counts[mark][1]}", src, f)


def _count(counts: dict, amount: Decimal) -> None:
    c = counts["D" if amount < 0 else "C"]
    c[0] += 1
    c[1] += abs(amount)


def _parse_61(f: _Field, src: str) -> dict:
    """``6!n[4!n]2a[1!a]15d1!a3!c16x[//16x]`` then ``[34x]`` on the next line."""
    s = f.lines[0].rstrip()
    value_date = _yymmdd(s[:6], "value date", src, f)
    i = 6
    entry = None
    if _MMDD.fullmatch(s[6:10]):
        entry = s[6:10]
        i = 10
    elif s[6:10] == "    ":
        i = 10
    if s[i:i + 2] in ("RC", "RD"):
        mark, i = s[i:i + 2], i + 2
    elif s[i:i + 1] in ("C", "D"):
        mark, i = s[i], i + 1
    else:
        raise _err(f"the debit/credit mark '{s[i:i + 2]}' must be C, D, RC or RD", src, f)
    if _LETTER.fullmatch(s[i:i + 1]):
        i += 1                                     # funds code (3rd letter of the currency)
    m = _AMOUNT_CHARS.match(s, i)
    signed = _SIGNED_AMOUNT.match(s, i)
    if signed:
        raise _err(f"amount '{signed.group(0)}' has a sign: MT940 amounts are unsigned and the "
                   "debit/credit mark (D or C) before them gives the direction", src, f)
    amount = _amount(m.group(0), src, f)
    i = m.end()
    code = s[i:i + 4]
    if not _TYPE_CODE.fullmatch(code):
        raise _err(f"transaction type '{code}' is not a type code such as NTRF, NMSC or NCHK "
                   "after the amount", src, f)
    rest = s[i + 4:]
    customer, _, bank = rest.partition("//")
    booking = value_date
    if entry is not None:
        mm, dd = int(entry[:2]), int(entry[2:])
        candidates = []
        for year in (value_date.year - 1, value_date.year, value_date.year + 1):
            try:
                candidates.append(date(year, mm, dd))
            except ValueError:
                continue
        if not candidates:
            raise _err(f"entry date '{entry}' is not a calendar date (MMDD)", src, f)
        booking = min(candidates, key=lambda d: abs((d - value_date).days))
    signed = amount if mark in ("C", "RD") else -amount
    return {"value_date": value_date, "booking_date": booking, "mark": mark, "amount": signed,
            "code": code, "customer_reference": customer.strip(), "bank_reference": bank.strip(),
            "supplementary": _clean(" ".join(f.lines[1:]))}


def _make_line(pending: tuple[_Field, dict], details: list[_Field], st: Statement) -> StatementLine:
    f, d = pending
    info = parse_86("\n".join(x.value for x in details)) if details else None
    customer = d["customer_reference"]
    e2e = ""
    if info is not None and info.end_to_end_id:
        e2e = info.end_to_end_id
    elif customer.upper() not in _NO_REFERENCE:
        e2e = customer
    bank_ref = d["bank_reference"]
    description = (info.description if info is not None else "") or d["supplementary"]
    account = ""
    if info is not None:
        account = info.counterparty_account
        if info.style == "german" and account and _DIGITS.fullmatch(info.counterparty_bank) \
                and not _IBAN_START.match(account):
            account = f"{info.counterparty_bank}/{account}"
    code = d["code"] + (f"/{info.gvc}" if info is not None and info.gvc else "")
    return StatementLine(
        booking_date=d["booking_date"], amount=d["amount"], currency=st.currency,
        value_date=d["value_date"], counterparty=info.counterparty_name if info else "",
        counterparty_account=account,
        reference="" if bank_ref.upper() in _NO_REFERENCE else bank_ref,
        end_to_end_id=e2e, description=description, bank_code=code, line=f.line)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def reconcile(statement_lines_total: Decimal, statement: Statement) -> bool:
    """Check opening balance + sum of the lines = closing balance, exactly.

    Returns ``True`` when it holds, ``False`` when the statement lacks a balance to check against
    (MT942, OFX), and raises ``ValidationError`` naming the closing-balance field and its line
    when it does not hold.
    """
    if statement.opening_balance is None or statement.closing_balance is None:
        return False
    expected = statement.opening_balance + statement_lines_total
    if expected != statement.closing_balance:
        raise ValidationError(
            f"the statement does not reconcile: opening {statement.opening_balance} + lines "
            f"{statement_lines_total} = {expected}, but the closing balance is "
            f"{statement.closing_balance} {statement.currency}",
            source=statement.source, line=statement.extra.get("closing_line", statement.line),
            field=statement.extra.get("closing_field", ":62F:"))
    return True


def parse(stream: BinaryIO, source: str, *, encoding: str | None = None,
          lazy_lines: bool = True, **_options: object) -> Iterator[Statement]:
    """Statements in file order. ``lines`` of each is streamed from ``stream`` when iterated
    (``lazy_lines=False`` reads them into a list before the statement is yielded)."""
    stream = _seekable(stream)
    decode = _Decoder(encoding, source)
    head = stream.read(4096)
    if not head.strip(b" \t\r\n\x00"):
        raise ValidationError("the file is empty", source=source, line=1)
    stream.seek(0)
    for sk in _Scanner(stream, source, decode).statements():
        st = sk.statement
        lines = _Lines(stream, decode, sk)
        st.lines = lines if lazy_lines else list(lines)
        yield st


def _seekable(stream: BinaryIO) -> BinaryIO:
    """A seekable stream with LF line ends (lone-CR files are converted)."""
    try:
        seekable = stream.seekable()
    except (AttributeError, ValueError):
        seekable = False
    if not seekable:
        spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)
        while block := stream.read(1 << 20):
            spool.write(block)
        spool.seek(0)
        stream = spool  # type: ignore[assignment]
    stream.seek(0)
    head = stream.read(65536)
    stream.seek(0)
    if b"\r" in head and b"\n" not in head:
        return io.BytesIO(stream.read().replace(b"\r", b"\n"))
    return stream
