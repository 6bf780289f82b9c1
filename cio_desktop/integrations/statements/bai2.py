"""BAI2 (Cash Management Balance Reporting Specifications, version 2) files.

Written by hand, not a wrapper around the ``bai2`` PyPI package (0.15.0), because that library,
tried on our samples, (1) never returns on a truncated file (no 49/98/99 trailer: an endless
loop), (2) raises ``IntegrityException``/``ParsingException``/bare ``ValueError`` with no line
number or account (``expected 1450001, found 1450000``), (3) refuses every bank-specific type
code it does not list (``NotSupportedYetException``), although the spec reserves 900–999 for them,
(4) accepts ``5_00000`` as an amount (Python ``int()``), (5) reads the whole file into memory, and
(6) mutates the header's row list while counting records. Its field grammar is small; its checks
would all have to be repeated with line numbers anyway.

File structure: ``01`` file header, ``02`` group header (as-of date, currency), ``03`` account
identifier with summary/status items, ``16`` transaction details, ``88`` continuation of any
record, ``49`` account trailer, ``98`` group trailer, ``99`` file trailer. One :class:`Statement`
per account (``03``…``49``):

* account number and currency from ``03`` (default: the group's currency, else ``default_currency``
  = ``USD``, the spec's default); amounts are integers in the currency's minor units;
* balances: ``010`` opening ledger → ``opening_balance``, ``015`` closing ledger →
  ``closing_balance`` (both dated with the group's as-of date); every summary item is kept in
  ``extra["summaries"]`` as ``(type code, amount, item count, funds type)``;
* each ``16`` is a line: booking date = as-of date, value date from funds type ``V``, amount signed
  by its type code (credits 100–399 and custom 920–959 positive, debits 400–699 and custom
  960–999 negative; ``890`` non-monetary information is counted in ``extra["non_monetary"]``
  and gives no line; other codes are refused unless given in ``type_codes={"721": 1, ...}``),
  bank reference → ``reference``, customer reference → ``end_to_end_id``, text (with its ``88``
  continuations joined by a space) → ``description``, type code → ``bank_code``;
* funds types ``Z``, ``0``, ``1``, ``2``, ``S`` (three availability amounts), ``V`` (value date and
  optional time) and ``D`` (count, then that many day/amount pairs) are checked field by field.

Control totals are verified exactly as the spec defines them and a mismatch refuses the file,
naming both figures, the line and the field: ``49`` account control total (sum of every amount in
the account's ``03`` and ``16`` records) and record count (``03`` to ``49`` including ``88``); ``98``
group control total (sum of account totals), number of accounts and record count; ``99`` file
control total, number of groups and record count.

Streaming: the file is read line by line. ``Statement.lines`` is a one-shot lazy iterator over the
shared stream that ends with the account's ``49`` checks; consume each statement's lines before
asking for the next (the import service does), which is when group and file trailers are checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO, Iterator

from cio_desktop.domain.money import currency_exponent, is_currency
from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError

__all__ = ["FORMAT", "sniff", "parse", "type_code_sign"]

FORMAT = "bai2"

_SNIFF = re.compile(rb"^01,[^,\r\n]*,[^,\r\n]*,\d{6},")
_SIGNED = re.compile(r"^[+-]?\d{1,18}$")
_UNSIGNED = re.compile(r"^\d{1,18}$")
_TYPE_CODE = re.compile(r"^\d{3}$")
_DIGITS = re.compile(r"^\d+$")
_NEWLINE = re.compile(rb"\r\n|\n|\r")
_MAX_LINE = 1 << 20                      # a physical record is at most a few hundred characters
_RECORD_CODES = {"01", "02", "03", "16", "49", "88", "98", "99"}
_RECORD_NAMES = {"01": "file header", "02": "group header", "03": "account identifier",
                 "16": "transaction detail", "49": "account trailer", "88": "continuation",
                 "98": "group trailer", "99": "file trailer"}
_FUNDS_TYPES = {"", "Z", "0", "1", "2", "S", "V", "D"}
_OPENING_LEDGER, _CLOSING_LEDGER = "010", "015"
NON_MONETARY = "890"


def sniff(head: bytes, filename: str = "") -> bool:
    """The first record is a BAI2 ``01`` file header (sender, receiver, YYMMDD creation date)."""
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    return bool(_SNIFF.match(text.lstrip(b" \t\r\n")))


def type_code_sign(code: str, overrides: dict | None = None) -> int | None:
    """+1 for a credit, -1 for a debit, 0 for non-monetary, None when the code's direction is not
    defined for a transaction detail (status codes 001–099, loan and reserved ranges)."""
    if overrides and code in overrides:
        return int(overrides[code])
    n = int(code)
    if 100 <= n <= 399 or 920 <= n <= 959:
        return 1
    if 400 <= n <= 699 or 960 <= n <= 999:
        return -1
    if code == NON_MONETARY:
        return 0
    return None


@dataclass
class _Record:
    code: str
    pieces: list[str]          # the text after "NN," of the record and of each 88 continuation
    lines: list[int]           # the physical line of each piece
    text: bool = False         # 16: the last field is free text

    @property
    def line(self) -> int:
        return self.lines[0]

    @property
    def count(self) -> int:
        return len(self.pieces)


@dataclass
class _Tokens:
    """Fields of a record across its pieces; '/' ends a piece's fields."""

    record: _Record
    piece: int = 0
    pos: int = 0
    done: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.done = [False] * len(self.record.pieces)

    def at_piece_start(self) -> bool:
        return self.pos == 0

    def _advance_piece(self) -> bool:
        pieces = self.record.pieces
        while self.piece < len(pieces) and (self.done[self.piece] or self.pos >= len(pieces[self.piece])):
            self.piece += 1
            self.pos = 0
        return self.piece < len(pieces)

    def remaining(self) -> bool:
        return self._advance_piece()

    def peek_piece_start(self) -> str | None:
        """The next field if it starts a new piece, else None (used at group boundaries)."""
        if self.piece < len(self.record.pieces) and not self.done[self.piece] \
                and self.pos < len(self.record.pieces[self.piece]):
            return None
        save = (self.piece, self.pos)
        if not self._advance_piece():
            self.piece, self.pos = save
            return None
        text = self.record.pieces[self.piece]
        end = min([i for i in (text.find(","), text.find("/")) if i >= 0] or [len(text)])
        value = text[:end]
        self.piece, self.pos = save
        return value

    def next(self) -> tuple[str, int] | None:
        """(field, line) or None at the end of the record."""
        if not self._advance_piece():
            return None
        text = self.record.pieces[self.piece]
        line = self.record.lines[self.piece]
        comma = text.find(",", self.pos)
        slash = text.find("/", self.pos)
        if slash >= 0 and (comma < 0 or slash < comma):
            value = text[self.pos:slash]
            self.done[self.piece] = True
        elif comma >= 0:
            value = text[self.pos:comma]
            self.pos = comma + 1
        else:
            value = text[self.pos:]
            self.pos = len(text)
            self.done[self.piece] = True
        return value.strip(), line

    def rest_text(self) -> str:
        """Everything after the fields read so far, pieces joined by a space (16 text)."""
        parts = []
        pieces = self.record.pieces
        for i in range(self.piece, len(pieces)):
            if self.done[i]:
                continue
            chunk = pieces[i][self.pos:] if i == self.piece else pieces[i]
            chunk = chunk.rstrip()
            if chunk.endswith("/"):
                chunk = chunk[:-1]
            if chunk.strip():
                parts.append(chunk.strip())
        self.piece = len(pieces)
        return " ".join(parts)


@dataclass
class _Options:
    default_currency: str = "USD"
    type_codes: dict = field(default_factory=dict)
    encoding: str | None = None


def parse(stream: BinaryIO, source: str = "", **options) -> Iterator[Statement]:
    """Statements (one per account) in file order; see the module docstring. Options:
    ``default_currency`` (when neither ``02`` nor ``03`` gives one; default ``USD``),
    ``type_codes`` (``{"721": 1, "760": -1}``: directions for codes outside the standard credit and
    debit ranges), ``encoding`` (default: UTF-8 per line, else Latin-1)."""
    opts = dict(options)
    parsed = _Options(default_currency=str(opts.pop("default_currency", "USD") or "USD").upper(),
                      type_codes=dict(opts.pop("type_codes", {}) or {}),
                      encoding=opts.pop("encoding", None))
    if opts:
        raise ValidationError(f"unknown BAI2 option(s): {', '.join(sorted(opts))}", field="options")
    if not is_currency(parsed.default_currency):
        raise ValidationError(f"'{parsed.default_currency}' is not an ISO 4217 currency",
                              field="default_currency")
    for code, sign in parsed.type_codes.items():
        if not _TYPE_CODE.match(str(code)) or sign not in (-1, 0, 1):
            raise ValidationError(f"type_codes: {code!r} → {sign!r} must map a 3-digit code to 1, -1 or 0",
                                  field="type_codes")
    return _Reader(stream, source, parsed).statements()


class _Reader:
    def __init__(self, stream: BinaryIO, source: str, opts: _Options) -> None:
        self.stream = stream
        self.source = source
        self.opts = opts
        self.last_line = 0
        self._records = self._read_records()

    # -- helpers ------------------------------------------------------------------------
    def err(self, message: str, line: int | None, field: str | None) -> ValidationError:
        return ValidationError(message, source=self.source or None, line=line, field=field)

    def _decode(self, raw: bytes) -> str:
        if self.opts.encoding:
            try:
                return raw.decode(self.opts.encoding)
            except (UnicodeDecodeError, LookupError) as exc:
                raise self.err(f"cannot decode as {self.opts.encoding}: {exc}", self.last_line, None) from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")

    def _raw_lines(self) -> Iterator[bytes]:
        """Physical lines ending in CRLF, LF or a lone CR, read in 64 KiB chunks."""
        rest = b""
        count = 0
        while True:
            chunk = self.stream.read(65536)
            if not chunk:
                break
            if not isinstance(chunk, bytes):
                raise self.err("the BAI2 parser needs a binary stream", None, None)
            data = rest + chunk
            hold = data.endswith(b"\r")          # maybe the first half of a CRLF split by the chunk
            parts = _NEWLINE.split(data[:-1] if hold else data)
            rest = parts.pop() + (b"\r" if hold else b"")
            if len(rest) > _MAX_LINE:
                raise self.err(f"a line of more than {_MAX_LINE:,} characters is not a BAI2 record "
                               "(records end with a line break)", count + 1, "record code")
            count += len(parts)
            yield from parts
        if rest.endswith(b"\r"):
            rest = rest[:-1]
        if rest:
            yield rest

    def _physical(self) -> Iterator[tuple[int, str]]:
        line_no = 0
        for raw in self._raw_lines():
            line_no += 1
            self.last_line = line_no
            text = self._decode(raw)
            if line_no == 1 and text.startswith("\ufeff"):
                text = text[1:]
            text = text.rstrip()
            if text.strip():
                yield line_no, text

    def _read_records(self) -> Iterator[_Record]:
        current: _Record | None = None
        for line_no, text in self._physical():
            code, comma, rest = text.partition(",")
            code = code.strip()
            if code not in _RECORD_CODES or not comma:
                raise self.err(f"'{text[:20]}' does not start with a BAI2 record code "
                               "(01, 02, 03, 16, 49, 88, 98, 99) and a comma", line_no, "record code")
            if code == "88":
                if current is None:
                    raise self.err("an 88 continuation record with no record before it", line_no, "88")
                current.pieces.append(rest)
                current.lines.append(line_no)
                continue
            if current is not None:
                yield current
            current = _Record(code, [rest], [line_no], text=(code == "16"))
        if current is not None:
            yield current

    def _next(self) -> _Record | None:
        return next(self._records, None)

    def _field(self, tokens: _Tokens, rec: _Record, name: str, required: bool = False) -> tuple[str, int]:
        got = tokens.next()
        if got is None:
            if required:
                raise self.err(f"the {name} is missing", rec.lines[-1], f"{rec.code}/{name}")
            return "", rec.lines[-1]
        value, line = got
        if required and not value:
            raise self.err(f"the {name} is empty", line, f"{rec.code}/{name}")
        return value, line

    def _int(self, value: str, line: int, rec: _Record, name: str, signed: bool) -> int:
        if not (_SIGNED if signed else _UNSIGNED).match(value):
            raise self.err(f"'{value[:30]}' is not {'an integer' if signed else 'an unsigned integer'} "
                           "amount (implied decimals, no separators)", line, f"{rec.code}/{name}")
        return int(value)

    def _count(self, value: str, line: int, rec: _Record, name: str) -> int:
        if not _DIGITS.match(value) or len(value) > 12:
            raise self.err(f"'{value[:30]}' is not a count", line, f"{rec.code}/{name}")
        return int(value)

    def _date(self, value: str, line: int, rec: _Record, name: str) -> date:
        if not re.match(r"^\d{6}$", value):
            raise self.err(f"'{value[:20]}' is not a YYMMDD date", line, f"{rec.code}/{name}")
        try:
            return datetime.strptime(value, "%y%m%d").date()
        except ValueError:
            raise self.err(f"'{value}' is not a real date (YYMMDD)", line, f"{rec.code}/{name}") from None

    def _time(self, value: str, line: int, rec: _Record, name: str) -> str:
        if value in ("", "2400", "9999"):
            return value
        if not re.match(r"^\d{4}$", value) or int(value[:2]) > 23 or int(value[2:]) > 59:
            raise self.err(f"'{value[:20]}' is not a time (hhmm, 2400 or 9999)", line, f"{rec.code}/{name}")
        return value

    def _currency(self, value: str, line: int, rec: _Record, name: str) -> str:
        code = value.upper()
        if not re.match(r"^[A-Z]{3}$", code) or not is_currency(code):
            raise self.err(f"'{value[:10]}' is not an ISO 4217 currency", line, f"{rec.code}/{name}")
        return code

    def _funds(self, tokens: _Tokens, rec: _Record, line: int, value: str) -> tuple[str, date | None]:
        """Check the funds type and its extra fields; returns (funds type, value date or None)."""
        funds = value.upper()
        if funds not in _FUNDS_TYPES:
            raise self.err(f"'{value[:10]}' is not a funds type (Z, 0, 1, 2, S, V or D)", line,
                           f"{rec.code}/funds type")
        value_date = None
        if funds == "S":
            for what in ("immediate availability", "one-day availability", "more than one day availability"):
                v, vl = self._field(tokens, rec, what)
                if v:
                    self._int(v, vl, rec, what, signed=True)
        elif funds == "V":
            v, vl = self._field(tokens, rec, "value date", required=True)
            value_date = self._date(v, vl, rec, "value date")
            t, tl = self._field(tokens, rec, "value time")
            self._time(t, tl, rec, "value time")
        elif funds == "D":
            v, vl = self._field(tokens, rec, "number of distributions", required=True)
            n = self._count(v, vl, rec, "number of distributions")
            if n > 100:
                raise self.err(f"{n} availability distributions is implausible", vl,
                               f"{rec.code}/number of distributions")
            for _ in range(n):
                d, dl = self._field(tokens, rec, "availability days", required=True)
                self._count(d, dl, rec, "availability days")
                a, al = self._field(tokens, rec, "availability amount", required=True)
                self._int(a, al, rec, "availability amount", signed=True)
        return funds, value_date

    def _minor(self, amount: int, currency: str) -> Decimal:
        return Decimal(amount).scaleb(-currency_exponent(currency))

    # -- structure ----------------------------------------------------------------------
    def statements(self) -> Iterator[Statement]:
        first = self._next()
        if first is None:
            raise self.err("the file is empty", 1, "01")
        if first.code != "01":
            raise self.err(f"a BAI2 file starts with an 01 file header, not {first.code}", first.line, "01")
        file_info = self._file_header(first)
        file_records = first.count
        file_total = 0
        groups = 0
        while True:
            rec = self._next()
            if rec is None:
                raise self.err("the file ends without a 99 file trailer (truncated file?)",
                               self.last_line or None, "99")
            if rec.code == "99":
                trailer = rec
                break
            if rec.code != "02":
                raise self.err(f"expected a 02 group header or the 99 file trailer, found {rec.code} "
                               f"({_RECORD_NAMES[rec.code]})", rec.line, rec.code)
            groups += 1
            group = _GroupState(self._group_header(rec, file_info))
            group.records += rec.count
            while True:
                rec = self._next()
                if rec is None:
                    raise self.err("the file ends inside a group: the 98 group trailer is missing "
                                   "(truncated file?)", self.last_line or None, "98")
                if rec.code == "98":
                    break
                if rec.code != "03":
                    raise self.err(f"expected a 03 account identifier or the 98 group trailer, found "
                                   f"{rec.code} ({_RECORD_NAMES[rec.code]})", rec.line, rec.code)
                statement, account = self._account_header(rec, group, file_info)
                lines = self._account_lines(statement, account, group)
                statement.lines = lines
                yield statement
                for _ in lines:                       # read through what the caller left
                    pass
            self._group_trailer(rec, group)
            file_records += group.records
            file_total += group.control_total
        self._file_trailer(trailer, file_total, groups, file_records + trailer.count)
        extra = self._next()
        if extra is not None:
            raise self.err(f"a {extra.code} record after the 99 file trailer", extra.line, extra.code)

    def _file_header(self, rec: _Record) -> dict:
        t = _Tokens(rec)
        sender, _ = self._field(t, rec, "sender identification")
        receiver, _ = self._field(t, rec, "receiver identification")
        d, dl = self._field(t, rec, "file creation date", required=True)
        created = self._date(d, dl, rec, "file creation date")
        tm, tl = self._field(t, rec, "file creation time")
        self._time(tm, tl, rec, "file creation time")
        file_id, _ = self._field(t, rec, "file identification number")
        self._field(t, rec, "physical record length")
        self._field(t, rec, "block size")
        version, vl = self._field(t, rec, "version number", required=True)
        if version != "2":
            raise self.err(f"version '{version[:10]}' is not BAI version 2", vl, "01/version number")
        return {"sender": sender, "receiver": receiver, "created": created, "created_time": tm,
                "file_id": file_id}

    def _group_header(self, rec: _Record, file_info: dict) -> dict:
        t = _Tokens(rec)
        ultimate, _ = self._field(t, rec, "ultimate receiver identification")
        originator, _ = self._field(t, rec, "originator identification")
        status, sl = self._field(t, rec, "group status", required=True)
        if status not in ("1", "2", "3", "4"):
            raise self.err(f"'{status[:10]}' is not a group status (1 update, 2 deletion, 3 correction, "
                           "4 test only)", sl, "02/group status")
        d, dl = self._field(t, rec, "as-of date", required=True)
        as_of = self._date(d, dl, rec, "as-of date")
        tm, tl = self._field(t, rec, "as-of time")
        self._time(tm, tl, rec, "as-of time")
        ccy, cl = self._field(t, rec, "currency code")
        currency = self._currency(ccy, cl, rec, "currency code") if ccy else self.opts.default_currency
        modifier, ml = self._field(t, rec, "as-of-date modifier")
        if modifier not in ("", "1", "2", "3", "4"):
            raise self.err(f"'{modifier[:10]}' is not an as-of-date modifier (1–4)", ml,
                           "02/as-of-date modifier")
        return {"ultimate_receiver": ultimate, "originator": originator, "group_status": status,
                "as_of": as_of, "as_of_time": tm, "currency": currency, "as_of_modifier": modifier,
                "line": rec.line}

    def _account_header(self, rec: _Record, group: "_GroupState", file_info: dict) -> tuple[Statement, "_AccountState"]:
        t = _Tokens(rec)
        number, _ = self._field(t, rec, "customer account number", required=True)
        ccy, cl = self._field(t, rec, "currency code")
        currency = self._currency(ccy, cl, rec, "currency code") if ccy else group.info["currency"]
        account = _AccountState(records=rec.count, line=rec.line)
        summaries = []
        opening = closing = None
        while t.remaining():
            code, codeline = self._field(t, rec, "type code")
            if not code:
                # an empty group: trailing commas some banks emit before '/'
                rest = [self._field(t, rec, "summary field")[0] for _ in range(3)]
                if any(rest):
                    raise self.err("a summary item without a type code", codeline, "03/type code")
                continue
            if not _TYPE_CODE.match(code):
                raise self.err(f"'{code[:10]}' is not a 3-digit type code", codeline, "03/type code")
            amount_text, al = self._field(t, rec, "amount")
            amount = self._int(amount_text, al, rec, "amount", signed=True) if amount_text else None
            # a piece that ends after the amount (no item count/funds type) starts the next item
            nxt = t.peek_piece_start()
            if nxt is not None and _TYPE_CODE.match(nxt):
                count_text, funds_text, fl = "", "", al
            else:
                count_text, cnl = self._field(t, rec, "item count")
                if count_text:
                    self._count(count_text, cnl, rec, "item count")
                nxt = t.peek_piece_start()
                if nxt is not None and _TYPE_CODE.match(nxt):
                    funds_text, fl = "", cnl
                else:
                    funds_text, fl = self._field(t, rec, "funds type")
            funds, _vd = self._funds(t, rec, fl, funds_text)
            if amount is not None:
                account.total += amount
                if code == _OPENING_LEDGER:
                    opening = self._minor(amount, currency)
                elif code == _CLOSING_LEDGER:
                    closing = self._minor(amount, currency)
            summaries.append((code, amount, int(count_text) if count_text else None, funds))
        as_of = group.info["as_of"]
        statement = Statement(
            account=number, currency=currency, lines=[],
            statement_id="/".join(x for x in (file_info["file_id"], as_of.strftime("%Y%m%d"), number) if x),
            opening_balance=opening, opening_date=as_of if opening is not None else None,
            closing_balance=closing, closing_date=as_of if closing is not None else None,
            source=self.source, format=FORMAT, line=rec.line,
            extra={"summaries": summaries, "non_monetary": 0, "sender": file_info["sender"],
                   "receiver": file_info["receiver"], "file_id": file_info["file_id"],
                   "originator": group.info["originator"],
                   "ultimate_receiver": group.info["ultimate_receiver"],
                   "group_status": group.info["group_status"], "as_of_date": as_of,
                   "as_of_time": group.info["as_of_time"],
                   "as_of_modifier": group.info["as_of_modifier"]})
        return statement, account

    def _account_lines(self, statement: Statement, account: "_AccountState",
                       group: "_GroupState") -> Iterator[StatementLine]:
        currency = statement.currency
        as_of = group.info["as_of"]
        while True:
            rec = self._next()
            if rec is None:
                raise self.err(f"the file ends inside account {statement.account}: the 49 account trailer "
                               "is missing (truncated file?)", self.last_line or None, "49")
            account.records += rec.count
            if rec.code == "49":
                self._account_trailer(rec, account, statement)
                group.accounts += 1
                group.records += account.records
                group.control_total += account.control_total
                return
            if rec.code != "16":
                raise self.err(f"expected a 16 transaction detail or the 49 account trailer, found "
                               f"{rec.code} ({_RECORD_NAMES[rec.code]})", rec.line, rec.code)
            line = self._detail(rec, account, currency, as_of, statement)
            if line is not None:
                yield line

    def _detail(self, rec: _Record, account: "_AccountState", currency: str, as_of: date,
                statement: Statement) -> StatementLine | None:
        t = _Tokens(rec)
        code, cl = self._field(t, rec, "type code", required=True)
        if not _TYPE_CODE.match(code):
            raise self.err(f"'{code[:10]}' is not a 3-digit type code", cl, "16/type code")
        sign = type_code_sign(code, self.opts.type_codes)
        if sign is None:
            raise self.err(f"type code {code} is not a transaction type (credits 100–399 and 920–959, "
                           "debits 400–699 and 960–999, 890 non-monetary); pass type_codes= for a "
                           "bank-specific code", cl, "16/type code")
        amount_text, al = self._field(t, rec, "amount", required=(sign != 0))
        amount = self._int(amount_text, al, rec, "amount", signed=False) if amount_text else 0
        account.total += amount
        funds_text, fl = self._field(t, rec, "funds type")
        _funds, value_date = self._funds(t, rec, fl, funds_text)
        bank_ref, _ = self._field(t, rec, "bank reference number")
        customer_ref, _ = self._field(t, rec, "customer reference number")
        text = t.rest_text()
        if sign == 0:
            statement.extra["non_monetary"] += 1
            return None
        return StatementLine(booking_date=as_of, amount=self._minor(amount, currency) * sign,
                             currency=currency, value_date=value_date, reference=bank_ref,
                             end_to_end_id=customer_ref, description=text, bank_code=code,
                             line=rec.line)

    def _account_trailer(self, rec: _Record, account: "_AccountState", statement: Statement) -> None:
        t = _Tokens(rec)
        total_text, tl = self._field(t, rec, "account control total", required=True)
        total = self._int(total_text, tl, rec, "account control total", signed=True)
        count_text, cl = self._field(t, rec, "number of records", required=True)
        count = self._count(count_text, cl, rec, "number of records")
        if total != account.total:
            raise self.err(f"account control total {total} does not match the sum of the amounts in "
                           f"account {statement.account}'s 03 and 16 records, {account.total}",
                           tl, "49/account control total")
        if count != account.records:
            raise self.err(f"number of records {count} does not match the {account.records} records of "
                           f"account {statement.account} (03 to 49, including 88 continuations)",
                           cl, "49/number of records")
        account.control_total = total
        statement.extra["control_total"] = total
        statement.extra["record_count"] = count

    def _group_trailer(self, rec: _Record, group: "_GroupState") -> None:
        group.records += rec.count
        t = _Tokens(rec)
        total_text, tl = self._field(t, rec, "group control total", required=True)
        total = self._int(total_text, tl, rec, "group control total", signed=True)
        acc_text, al = self._field(t, rec, "number of accounts", required=True)
        accounts = self._count(acc_text, al, rec, "number of accounts")
        count_text, cl = self._field(t, rec, "number of records", required=True)
        count = self._count(count_text, cl, rec, "number of records")
        if total != group.control_total:
            raise self.err(f"group control total {total} does not match the sum of the group's account "
                           f"control totals, {group.control_total}", tl, "98/group control total")
        if accounts != group.accounts:
            raise self.err(f"number of accounts {accounts} does not match the {group.accounts} accounts "
                           "in the group", al, "98/number of accounts")
        if count != group.records:
            raise self.err(f"number of records {count} does not match the {group.records} records of "
                           "the group (02 to 98, including 88 continuations)", cl, "98/number of records")

    def _file_trailer(self, rec: _Record, total_sum: int, groups: int, records: int) -> None:
        t = _Tokens(rec)
        total_text, tl = self._field(t, rec, "file control total", required=True)
        total = self._int(total_text, tl, rec, "file control total", signed=True)
        grp_text, gl = self._field(t, rec, "number of groups", required=True)
        n_groups = self._count(grp_text, gl, rec, "number of groups")
        count_text, cl = self._field(t, rec, "number of records", required=True)
        count = self._count(count_text, cl, rec, "number of records")
        if total != total_sum:
            raise self.err(f"file control total {total} does not match the sum of the group control "
                           f"totals, {total_sum}", tl, "99/file control total")
        if n_groups != groups:
            raise self.err(f"number of groups {n_groups} does not match the {groups} groups in the file",
                           gl, "99/number of groups")
        if count != records:
            raise self.err(f"number of records {count} does not match the {records} records of the file "
                           "(01 to 99, including 88 continuations)", cl, "99/number of records")


@dataclass
class _AccountState:
    records: int
    line: int
    total: int = 0
    control_total: int = 0


@dataclass
class _GroupState:
    info: dict
    records: int = 0
    accounts: int = 0
    control_total: int = 0
