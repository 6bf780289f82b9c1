"""CSV bank statements, read with a column-mapping profile (see ``csv_profiles``).

``parse(stream, source, profile=None, account=None, currency=None)`` yields one
:class:`~cio_desktop.domain.statements.Statement` per account. Without a profile the layout is
detected from the first 256 KB (:func:`~.csv_profiles.detect_profile`); a profile may also be
given as a :class:`~.csv_profiles.CsvProfile`, the name of a built-in profile, or a saved dict.

Streaming and memory
    ``Statement.lines`` is a lazy iterator: the file is read in 64 KB blocks through the
    ``csv`` module, one row at a time, so a 1,000,000-line file is parsed in bounded memory.
    Consume each statement's lines before or after asking for the next statement, as you like:

    * no account column (or a fixed account): one statement, streamed straight from the file;
    * an account column: one statement per distinct account, in order of first appearance.
      Rows are demultiplexed in a single pass: while you iterate account A's lines, rows of
      other accounts met on the way are queued for their statements (A's lines can only end at
      the end of the file, because an account's rows may be interleaved with others). A file
      with one account — the common case — queues nothing. The queues keep up to
      ``SPILL_LINES`` lines per account in memory and spill the rest to a temporary file, so
      memory stays bounded for multi-account files too (at the price of one pickling round trip
      for the spilled lines).

Balances
    With a balance column, ``opening_balance``/``closing_balance`` (and their dates: the
    earliest and latest booking dates) are derived while streaming and **filled in on the
    Statement once its lines have been consumed to the end** (they are None before; so is
    ``extra['line_count']``). The row order is inferred: ascending when every balance equals
    the previous one plus the amount (opening = first balance − first amount, closing = last
    balance), descending (newest first, as many banks export) when the chain holds the other
    way; rows without a balance are allowed. ``extra['order']`` says which, and
    ``extra['balances_consistent']`` is False when neither chain holds (then the dates decide
    the order and the import service's reconciliation will flag the difference).

Values
    Amounts become exact ``Decimal`` (never float), signed from the account holder's view
    (credit > 0) per the profile's sign convention; an amount with more decimals than its
    currency allows, or that is not a number under the profile's decimal mark, is an error.
    Dates must be real dates. Text is kept as it is (stripped of surrounding blanks; nothing is
    evaluated, so CSV formula injection does not apply). Every error is a
    :class:`~cio_desktop.errors.ValidationError` naming the file, the 1-based physical line
    where the record starts and the field.

Speed
    The row loop avoids per-line regexes and dicts: dates are parsed once per distinct string
    (cached; zero-padded formats by slicing), amounts with string methods, and StatementLine
    records are filled through their slot descriptors (the dataclass's frozen ``__init__``
    costs twice as much; the field list is checked at import so a change to StatementLine
    cannot silently mis-assign).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import importlib
import io
import linecache
import logging
import pickle
import tempfile
from collections import deque
from datetime import date
from decimal import Decimal
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from typing import Any, BinaryIO, Callable, Iterator, Mapping

from cio_desktop.domain.money import CURRENCY_EXPONENTS
from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.statements import csv_profiles as cp
from cio_desktop.integrations.statements.csv_profiles import (
    COLUMN_FIELDS, ENCODING_AUTO, SIGN_INDICATOR, SIGN_INVERTED, CsvProfile,
)

FORMAT = "csv"
HEAD_BYTES = 256 * 1024       # sample used for detection
SPILL_LINES = 20_000          # per account queue: lines kept in memory before spilling to disk
_SPILL_BATCH = 2_000
_DATE_CACHE_MAX = 100_000

__all__ = ["FORMAT", "HEAD_BYTES", "parse", "sniff"]

log = logging.getLogger(__name__)

# StatementLine is a frozen slots dataclass; its frozen __init__ sets each field through
# object.__setattr__. The hot loop sets the slots directly, in this order.
_FIELDS = ("booking_date", "amount", "currency", "value_date", "counterparty",
           "counterparty_account", "reference", "end_to_end_id", "description", "bank_code",
           "line")
if tuple(f.name for f in dataclasses.fields(StatementLine)) != _FIELDS:  # pragma: no cover
    raise ImportError("StatementLine fields changed; update csv_parser._FIELDS")
_SETTERS = tuple(StatementLine.__dict__[name].__set__ for name in _FIELDS)
_FIELD_VALUES = attrgetter(*_FIELDS)      # StatementLine → tuple (spilled to disk as tuples)


def _rebuild(values: tuple) -> StatementLine:
    line = object.__new__(StatementLine)
    for setter, value in zip(_SETTERS, values):
        setter(line, value)
    return line


# ------------------------------------------------------------------------------------------
# sniff
# ------------------------------------------------------------------------------------------
_NOT_CSV_PREFIXES = (b"OFXHEADER", b"<?xml", b"<OFX", b"<ofx", b"{1:", b"{2:", b"{4:", b":20:",
                     b"01,", b"<Document", b"<")


def sniff(head: bytes, filename: str) -> bool:
    """True for delimited text whose header names at least two known fields.

    Never claims OFX, MT940/942, camt XML or BAI2 (their first bytes are recognised and
    refused), and never raises.
    """
    try:
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not start or start.startswith(_NOT_CSV_PREFIXES) or b"<OFX>" in head[:8192]:
            return False
        encoding = cp.detect_encoding(head, complete=False)
        codec, _ = cp.codec_for(encoding)
        text = codecs.getincrementaldecoder(codec)("replace").decode(head, final=False)
        lines = cp.split_lines(text, "\n" not in text and "\r" in text)
        header = cp.find_header(lines[:cp.MAX_HEADER_SEARCH + 1], need_money=False)
        return header is not None and header.match.score >= 2
    except (ValidationError, LookupError, UnicodeError, ValueError):
        return False


# ------------------------------------------------------------------------------------------
# parse
# ------------------------------------------------------------------------------------------
def parse(stream: BinaryIO, source: str, profile: CsvProfile | str | Mapping | None = None,
          account: str | None = None, currency: str | None = None, *,
          date_format: str | None = None, decimal: str | None = None,
          **_ignored: Any) -> Iterator[Statement]:
    """Statements in the file, in order of first appearance of their account.

    ``profile``: a CsvProfile, a built-in profile name, a saved profile dict, or None to
    detect. ``account``/``currency``: used when the file has no such column (or the cell is
    empty), overriding the profile's fixed values. ``date_format``/``decimal`` settle what
    detection finds ambiguous (or override the profile's).

    The header and the first data row are read before this returns, so an unreadable file
    fails here; later rows fail while ``lines`` is iterated. See the module docstring.
    """
    if _ignored:
        log.warning("CSV parser ignores options it does not know: %s",
                    ", ".join(sorted(_ignored)))
    return _CsvParse(stream, source, profile, account, currency, date_format, decimal).run()


class _Chain(io.RawIOBase):
    """The already-read head, then the rest of the caller's stream (never closed by us)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._pos = 0
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        if self._pos < len(self._head):
            chunk = self._head[self._pos:self._pos + size]
            buffer[:len(chunk)] = chunk
            self._pos += len(chunk)
            return len(chunk)
        data = self._stream.read(size)
        if not data:
            return 0
        buffer[:len(data)] = data
        return len(data)


def _read_head(stream: BinaryIO) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    size = 0
    while size < HEAD_BYTES:
        chunk = stream.read(HEAD_BYTES - size)
        if not chunk:
            return b"".join(parts), True
        if not isinstance(chunk, (bytes, bytearray)):
            raise TypeError("parse() needs a binary stream (open the file with 'rb')")
        parts.append(bytes(chunk))
        size += len(chunk)
    return b"".join(parts), False


def _decoded_lines(raw: io.BufferedReader, codec: str, errors: str) -> Iterator[str]:
    """Decode line by line (so a decoding error names its exact line), at C speed: UTF-8 and
    Latin-1 have fast paths in ``bytes.decode``; single-byte code pages such as cp1252 would
    go through a Python wrapper per line, so their charmap table is applied directly."""
    table = None
    if errors == "strict":
        name = codecs.lookup(codec).name
        if name not in ("utf-8", "utf-8-sig", "iso8859-1", "ascii"):
            try:
                module = importlib.import_module("encodings." + name.replace("-", "_"))
                table = getattr(module, "decoding_table", None)
            except ImportError:
                table = None
    if isinstance(table, str):
        return map(itemgetter(0), map(codecs.charmap_decode, raw, repeat(errors),
                                      repeat(table)))
    return map(bytes.decode, raw, repeat(codec), repeat(errors))


class _Stats:
    """Per-account running figures; the balance fields are used only with a balance column."""

    __slots__ = ("n", "first_date", "last_date", "total", "k_asc", "k_desc", "asc_ok",
                 "desc_ok", "last_bal", "total_at_last", "total_before_last")

    def __init__(self) -> None:
        self.n = 0
        self.first_date: date | None = None
        self.last_date: date | None = None
        self.total = Decimal(0)
        self.k_asc: Decimal | None = None
        self.k_desc: Decimal | None = None
        self.asc_ok = True
        self.desc_ok = True
        self.last_bal: Decimal | None = None
        self.total_at_last = Decimal(0)
        self.total_before_last = Decimal(0)

    def balance(self, amount: Decimal, bal: Decimal | None, booking: date) -> None:
        if self.first_date is None:
            self.first_date = booking
        self.last_date = booking
        before = self.total
        after = self.total = before + amount
        if bal is None:
            return
        ka, kd = bal - after, bal + before
        if self.k_asc is None:
            self.k_asc, self.k_desc = ka, kd
        else:
            if ka != self.k_asc:
                self.asc_ok = False
            if kd != self.k_desc:
                self.desc_ok = False
        self.last_bal, self.total_at_last, self.total_before_last = bal, after, before

    def finish(self, st: Statement, with_balance: bool) -> None:
        st.extra["line_count"] = self.n
        if not with_balance or self.k_asc is None or self.last_bal is None:
            return
        dated_desc = self.first_date is not None and self.last_date is not None \
            and self.first_date > self.last_date
        if self.asc_ok and self.desc_ok:
            descending = dated_desc
        elif self.asc_ok or self.desc_ok:
            descending = self.desc_ok
        else:
            descending = dated_desc
        if descending:
            st.closing_balance = self.k_desc
            st.opening_balance = self.last_bal - (self.total - self.total_before_last)
        else:
            st.opening_balance = self.k_asc
            st.closing_balance = self.last_bal + (self.total - self.total_at_last)
        dates = [d for d in (self.first_date, self.last_date) if d is not None]
        st.opening_date, st.closing_date = min(dates), max(dates)
        st.extra["order"] = "descending" if descending else "ascending"
        st.extra["balances_consistent"] = self.asc_ok or self.desc_ok


class _Spool:
    """FIFO queue of lines: in memory up to SPILL_LINES, then pickled batches on disk."""

    __slots__ = ("n", "_head", "_tail", "_file", "_on_disk", "_rpos", "_wpos")

    def __init__(self) -> None:
        self.n = 0
        self._head: deque = deque()
        self._tail: list = []
        self._file: Any = None
        self._on_disk = 0
        self._rpos = self._wpos = 0

    def append(self, item: Any) -> None:
        self._tail.append(item)
        self.n += 1
        if len(self._tail) >= _SPILL_BATCH and self.n > SPILL_LINES:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="cio-csv-")
            self._file.seek(self._wpos)
            pickle.dump(list(map(_FIELD_VALUES, self._tail)), self._file,
                        pickle.HIGHEST_PROTOCOL)
            self._wpos = self._file.tell()
            self._on_disk += 1
            self._tail = []

    def popleft(self) -> Any:
        if not self._head:
            if self._on_disk:
                self._file.seek(self._rpos)
                self._head = deque(map(_rebuild, pickle.load(self._file)))
                self._rpos = self._file.tell()
                self._on_disk -= 1
            else:
                self._head, self._tail = deque(self._tail), []
        self.n -= 1
        item = self._head.popleft()
        if self.n == 0 and self._file is not None and not self._on_disk:
            self._file.close()
            self._file, self._rpos, self._wpos = None, 0, 0
        return item


class _CsvParse:
    def __init__(self, stream: BinaryIO, source: str, profile: Any, account: str | None,
                 currency: str | None, date_format: str | None, decimal: str | None) -> None:
        self.source = source
        self.single_statement: Statement | None = None
        head, complete = _read_head(stream)
        if cp.is_blank(head):
            raise self._err("the file is empty", 1)
        prof = self._profile(profile, head, complete, date_format, decimal)
        self.profile = prof
        log.debug("%s: CSV profile %s (delimiter %r, decimal %r, dates %s, encoding %s)",
                  source, prof.name, prof.delimiter, prof.decimal, "/".join(prof.date_formats),
                  prof.encoding)
        encoding = self._encoding(prof, head, complete)
        if b"\n" not in head and b"\r" not in head and not complete:
            raise self._err("no line break in the first part of the file; it is not a CSV file",
                            1)
        self.text_mode = not cp.is_ascii_compatible(encoding) or (
            b"\n" not in head and b"\r" in head)
        self.encoding = encoding
        codec, errors = cp.codec_for(encoding)
        raw = io.BufferedReader(_Chain(head, stream), 1 << 16)
        if self.text_mode:
            self._text = io.TextIOWrapper(raw, encoding=codec, errors=errors, newline="")
            lines: Iterator[str] = iter(self._text)
        else:
            lines = _decoded_lines(raw, codec, errors)
        self.account = account if account is not None else prof.account
        cur = currency if currency is not None else prof.currency
        if cur is not None:
            cur = self._currency_code(cur, None, field="currency")[0]
        self.currency = cur
        self._open(lines)

    # -- set-up ----------------------------------------------------------------------------
    def _err(self, message: str, line: int | None, field: str | None = None) -> ValidationError:
        return ValidationError(message, source=self.source, line=line, field=field)

    def _profile(self, profile: Any, head: bytes, complete: bool, date_format: str | None,
                 decimal: str | None) -> CsvProfile:
        if profile is None:
            return cp.detect_profile(head, self.source, complete=complete,
                                     date_format=date_format, decimal=decimal)
        if isinstance(profile, str):
            prof = cp.get_profile(profile)
        elif isinstance(profile, CsvProfile):
            prof = profile
        elif isinstance(profile, Mapping):
            prof = CsvProfile.from_dict(profile)
        else:
            raise ValidationError(f"a CSV profile must be a CsvProfile, a name or a dict, not "
                                  f"{type(profile).__name__}", field="profile")
        changes: dict[str, Any] = {}
        if date_format:
            changes["date_formats"] = (date_format,)
        if decimal and decimal != prof.decimal:
            changes["decimal"] = decimal
            if prof.thousands == decimal:
                changes["thousands"] = "." if decimal == "," else ","
        return dataclasses.replace(prof, **changes) if changes else prof

    def _encoding(self, prof: CsvProfile, head: bytes, complete: bool) -> str:
        if prof.encoding == ENCODING_AUTO:
            found = cp.detect_encoding(head, complete=complete, source=self.source)
            return found if found not in ("utf-8",) else ENCODING_AUTO
        enc = prof.encoding
        name = codecs.lookup(enc).name
        if name == "utf-8" and head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if b"\x00" in head and cp.is_ascii_compatible(enc):
            nul = head.find(b"\x00")
            raise self._err("the file contains binary data (NUL bytes); it is not a CSV text "
                            "file", head.count(b"\n", 0, nul) + 1)
        return enc

    def _currency_code(self, text: str, line: int | None, field: str = "currency"
                       ) -> tuple[str, int]:
        code = text.strip().upper()
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            raise self._err(f"{cp._show(text)} is not an ISO 4217 currency code", line, field)
        return code, CURRENCY_EXPONENTS.get(code, 2)

    def _convert(self, exc: Exception, line: int) -> ValidationError:
        """A csv/decoding failure as a ValidationError at ``line``."""
        if isinstance(exc, UnicodeDecodeError):
            label = "UTF-8 or Windows-1252 (cp1252)" if self.encoding == ENCODING_AUTO \
                else self.encoding
            bad = exc.object[exc.start:exc.start + 1] if isinstance(exc.object, bytes) else b""
            where = "at or near this line" if self.text_mode else "on this line"
            return self._err(f"the bytes {where} are not {label} text"
                             + (f" (byte 0x{bad[0]:02x})" if bad else "")
                             + "; choose the file's encoding in the profile", line)
        text = str(exc)
        if "unexpected end of data" in text:
            return self._err("the file ends inside a quoted field: a closing quote is missing "
                             "in the record starting on this line", line)
        if "NUL" in text:
            return self._err("the line contains a NUL byte: binary data, not CSV text", line)
        if "field larger than field limit" in text:
            return self._err("a field is longer than 128 KB: a closing quote is missing or "
                             "this is not a CSV file", line)
        if "expected after" in text:
            return self._err(f"text after a closing quote (malformed CSV: {text})", line)
        if "new-line character" in text:
            return self._err("a line break inside an unquoted field (mixed line endings?)",
                             line)
        return self._err(f"malformed CSV: {text}", line)

    def _dialect(self) -> dict[str, Any]:
        p = self.profile
        return {"delimiter": p.delimiter, "quotechar": p.quotechar or None,
                "quoting": csv.QUOTE_MINIMAL if p.quotechar else csv.QUOTE_NONE,
                "doublequote": True, "strict": True}

    def _open(self, lines: Iterator[str]) -> None:
        """Skip the preamble, read and resolve the header, create the csv reader."""
        p = self.profile
        dialect = self._dialect()
        cells: list[str] | None = None
        consumed = 0
        try:
            if p.skip_lines is None:
                for consumed in range(1, cp.MAX_HEADER_SEARCH + 1):
                    line = next(lines, None)
                    if line is None:
                        break
                    row = cp._cells(line, p.delimiter, p.quotechar)
                    if row and self._resolve(row, consumed, quiet=True) is not None:
                        cells = row
                        break
                if cells is None:
                    wanted = ", ".join(f"'{r}'" for r in p._refs() if isinstance(r, str))
                    raise self._err(f"no header row with the columns {wanted} in the first "
                                    f"{cp.MAX_HEADER_SEARCH} lines (profile '{p.name}')", 1)
                self.header_line = consumed
                self.reader = csv.reader(lines, **dialect)
                self.offset = consumed
            else:
                for consumed in range(1, p.skip_lines + 1):
                    if next(lines, None) is None:
                        raise self._err(f"the file ends before the header: the profile "
                                        f"'{p.name}' expects {p.skip_lines} line(s) before it",
                                        consumed)
                self.reader = csv.reader(lines, **dialect)
                self.offset = p.skip_lines
                if p.has_header:
                    cells = next(self.reader, None)
                    self.header_line = p.skip_lines + 1
                    if cells is None:
                        raise self._err("the file has no header line", self.header_line)
                else:
                    self.header_line = p.skip_lines
        except (csv.Error, UnicodeDecodeError) as exc:
            reader = getattr(self, "reader", None)
            if reader is None:                       # while skipping the preamble
                line = consumed
            elif isinstance(exc, UnicodeDecodeError) or "unexpected end" in str(exc):
                line = consumed + reader.line_num + 1 if isinstance(
                    exc, UnicodeDecodeError) else consumed + 1
            else:
                line = consumed + reader.line_num
            raise self._convert(exc, max(line, 1)) from None
        self.columns = self._resolve(cells, self.header_line, quiet=False)

    def _resolve(self, cells: list[str] | None, header_line: int, *, quiet: bool
                 ) -> dict[str, Any] | None:
        p = self.profile
        out: dict[str, Any] = {}
        for name, ref in p.columns().items():
            refs = ref if name == "description" else (ref,)
            found = []
            for r in refs:
                i = r if cells is None else cp._resolve_name(r, cells)
                if i is None:
                    if quiet:
                        return None
                    label = COLUMN_FIELDS[name]
                    shown = f"'{r}'" if isinstance(r, str) else f"number {r}"
                    raise self._err(f"the header has no column {shown} ({label}) that the "
                                    f"profile '{p.name}' expects", header_line, label)
                found.append(i)
            out[name] = found if name == "description" else found[0]
        return out

    # -- the row loop ---------------------------------------------------------------------
    def _lines(self, with_account: bool, stats: dict[str, _Stats]) -> Iterator[Any]:
        """The row loop, generated for this profile (see ``_row_loop_source``)."""
        p = self.profile
        c = self.columns
        desc = c.get("description", [])
        required = [c.get(k, -1) for k in ("booking_date", "amount", "debit", "credit",
                                            "indicator")]
        need_req = max(required) + 1
        need = max([need_req, *(i for k, i in c.items() if k != "description"), *desc]) + 1
        footers = tuple(p.footer_markers)
        amount = cp.make_amount_parser(p.decimal, p.thousands)
        parse_date = cp.make_date_parser(p.date_formats)
        dcache: dict[str, date] = {}
        ccache: dict[str, tuple[str, int]] = {}
        err = self._err
        fixed_cur = self.currency
        fixed_exp = CURRENCY_EXPONENTS.get(fixed_cur, 2) if fixed_cur else 2

        def short(row: list[str], line: int) -> list[str] | None:
            """A row with fewer cells than mapped columns: blank/footer → None, else padded."""
            n = len(row)
            if not any(x.strip() for x in row):
                return None
            if footers and row[0].lstrip().startswith(footers):
                return None
            if n < need_req:
                key = next(k for k in ("booking_date", "amount", "debit", "credit",
                                       "indicator") if c.get(k, -1) >= n)
                label = COLUMN_FIELDS[key]
                raise err(f"the line has {n} field(s) but the {label} is in column "
                          f"{c[key] + 1}", line, label)
            return row + [""] * (need - n)

        def date_slow(text: str, line: int, field: str, row: list[str] | None) -> date | None:
            """First sight of a date string (or an empty booking date: blank row → None)."""
            if not text:
                if row is not None and not any(x.strip() for x in row):
                    return None
                raise err(f"the {field} is empty", line, field)
            if len(dcache) >= _DATE_CACHE_MAX:
                dcache.clear()
            try:
                d = dcache[text] = parse_date(text)
            except ValueError as exc:
                raise err(str(exc), line, field) from None
            return d

        def currency_slow(text: str, line: int) -> tuple[str, int]:
            if not text:
                if fixed_cur:
                    return fixed_cur, fixed_exp
                raise err("the currency is empty", line, "currency")
            found = ccache[text] = self._currency_code(text, line)
            return found

        debit_set = frozenset(m.strip().upper() for m in p.debit_markers)
        credit_set = frozenset(m.strip().upper() for m in p.credit_markers)

        def indicator(text: str, amt: Decimal, line: int) -> Decimal:
            flag = text.upper()
            if amt < 0:
                amt = -amt
            if flag in debit_set:
                return -amt
            if flag in credit_set:
                return amt
            raise err(f"{cp._show(text)} is not a debit or credit indicator (debit: "
                      f"{', '.join(p.debit_markers)}; credit: {', '.join(p.credit_markers)})",
                      line, "debit/credit indicator")

        def account_of(text: str, line: int) -> str:
            if self.account:
                return self.account
            raise err("the account is empty", line, "account")

        def stats_of(account: str) -> _Stats:
            st = stats[account] = _Stats()
            return st

        def finish_single(count: int) -> None:
            single = stats[self.account or ""]
            single.n = count
            if self.single_statement is not None:
                single.finish(self.single_statement, "balance" in c)

        def convert(exc: Exception, start: int, end: int) -> ValidationError:
            if isinstance(exc, UnicodeDecodeError):
                return self._convert(exc, end + 1)
            return self._convert(exc, start if "unexpected end" in str(exc) else end)

        if not with_account:
            stats.setdefault(self.account or "", _Stats())
        env = {
            "reader": self.reader, "offset": self.offset, "dcache": dcache, "ccache": ccache,
            "short": short, "date_slow": date_slow, "currency_slow": currency_slow,
            "amount": amount, "err": err, "debit_credit": self._debit_credit,
            "balance_of": self._balance, "indicator": indicator, "account_of": account_of,
            "stats": stats, "stats_of": stats_of, "single": stats.get(self.account or ""),
            "finish_single": finish_single, "convert": convert, "new": object.__new__,
            "Line": StatementLine, "SETTERS": _SETTERS, "fixed_cur": fixed_cur,
            "fixed_exp": fixed_exp, "footers": footers, "dsep": p.description_separator,
            "csv_Error": csv.Error,
        }
        return _compiled_loop(_row_loop_source(p, c, need=need, with_account=with_account))(
            **env)

    def _debit_credit(self, amount: Callable[[str, int], Decimal], debit: str, credit: str,
                      exp: int, line: int) -> Decimal:
        d = c = None
        if debit:
            try:
                d = amount(debit, exp)
            except ValueError as exc:
                raise self._err(str(exc), line, "debit") from None
        if credit:
            try:
                c = amount(credit, exp)
            except ValueError as exc:
                raise self._err(str(exc), line, "credit") from None
        if d is None and c is None:
            raise self._err("neither the debit nor the credit column has an amount", line,
                            "amount")
        if d and c:
            raise self._err(f"both the debit ({debit}) and the credit ({credit}) column have an "
                            f"amount", line, "amount")
        if d:
            return -abs(d)
        return abs(c) if c is not None else -abs(d)  # type: ignore[arg-type]

    def _balance(self, amount: Callable[[str, int], Decimal], text: str, exp: int, line: int
                 ) -> Decimal | None:
        if not text:
            return None
        try:
            return amount(text, exp)
        except ValueError as exc:
            raise self._err(str(exc), line, "balance") from None

    # -- statements ------------------------------------------------------------------------
    def _statement(self, account: str, currency: str, line: int) -> Statement:
        return Statement(account=account, currency=currency, source=self.source, format=FORMAT,
                         line=line, extra={"profile": self.profile.name})

    def run(self) -> Iterator[Statement]:
        stats: dict[str, _Stats] = {}
        with_account = "account_column" in self.columns
        if self.currency is None and "currency_column" not in self.columns:
            raise self._err("the file has no currency column: give the account's currency "
                            "(or set a fixed currency in the profile)", self.header_line,
                            "currency")
        core = self._lines(with_account, stats)
        first = next(core, None)
        if first is None:
            raise self._err("the file has a header but no transactions", self.header_line)
        with_balance = "balance" in self.columns
        if not with_account:
            st = self._statement(self.account or "", self.currency or first.currency,
                                 first.line)
            self.single_statement = st       # the row loop fills its balances at the end
            st.lines = chain((first,), core)
            return iter((st,))
        return _Demux(self, core, first, stats, with_balance).statements()


_LOOPS: dict[str, Callable[..., Iterator[Any]]] = {}


def _compiled_loop(source: str) -> Callable[..., Iterator[Any]]:
    """Compile (once per distinct source) the generated row loop; its source is registered in
    linecache so tracebacks show the generated lines."""
    fn = _LOOPS.get(source)
    if fn is None:
        filename = f"<csv row loop {len(_LOOPS)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        namespace: dict[str, Any] = {}
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own template
        fn = namespace["rows"]
        if len(_LOOPS) < 256:
            _LOOPS[source] = fn
    return fn


def _row_loop_source(p: CsvProfile, c: dict[str, Any], *, need: int, with_account: bool) -> str:
    """Python source of the row loop for one profile: only the steps it needs, constant
    column indices, no per-row branching on the profile. Compiled once per parse."""
    L: list[str] = []
    add = L.append
    add("def rows(reader, offset, dcache, ccache, short, date_slow, currency_slow, amount, err,")
    add("         debit_credit, balance_of, indicator, account_of, stats, stats_of, single,")
    add("         finish_single, convert, new, Line, SETTERS, fixed_cur, fixed_exp, footers,")
    add("         dsep, csv_Error):")
    add("    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10 = SETTERS")
    add("    count = 0")
    add("    prev = reader.line_num")
    add("    try:")
    add("        for row in reader:")
    add("            ln = offset + prev + 1")
    add("            prev = reader.line_num")
    add(f"            if len(row) < {need}:")
    add("                row = short(row, ln)")
    add("                if row is None:")
    add("                    continue")
    if p.footer_markers:
        add("            elif row[0].lstrip().startswith(footers):")
        add("                continue")
    ib = c["booking_date"]
    add(f"            s = row[{ib}].strip()")
    add("            bd = dcache.get(s)")
    add("            if bd is None:")
    add("                bd = date_slow(s, ln, 'booking date', row)")
    add("                if bd is None:")
    add("                    continue")
    if "value_date" in c:
        add(f"            s = row[{c['value_date']}].strip()")
        add("            if s:")
        add("                vd = dcache.get(s)")
        add("                if vd is None:")
        add("                    vd = date_slow(s, ln, 'value date', None)")
        add("            else:")
        add("                vd = None")
    else:
        add("            vd = None")
    if "currency_column" in c:
        add(f"            s = row[{c['currency_column']}].strip()")
        add("            ce = ccache.get(s)")
        add("            if ce is None:")
        add("                ce = currency_slow(s, ln)")
        add("            cur, exp = ce")
    else:
        add("            cur, exp = fixed_cur, fixed_exp")
    if "amount" in c:
        add("            try:")
        add(f"                amt = amount(row[{c['amount']}].strip(), exp)")
        add("            except ValueError as exc:")
        add("                raise err(str(exc), ln, 'amount') from None")
        if p.sign == SIGN_INVERTED:
            add("            amt = -amt")
        elif p.sign == SIGN_INDICATOR:
            add(f"            amt = indicator(row[{c['indicator']}].strip(), amt, ln)")
    else:
        add(f"            amt = debit_credit(amount, row[{c['debit']}].strip(), "
            f"row[{c['credit']}].strip(), exp, ln)")

    def text(key: str) -> str:
        return f"row[{c[key]}].strip()" if key in c else "''"

    desc = c.get("description", [])
    if len(desc) == 1:
        description = f"row[{desc[0]}].strip()"
    elif desc:
        cells = ", ".join(f"row[{i}].strip()" for i in desc)
        description = f"dsep.join([x for x in ({cells}) if x])"
    else:
        description = "''"
    add("            o = new(Line)")
    add("            s0(o, bd)")
    add("            s1(o, amt)")
    add("            s2(o, cur)")
    add("            s3(o, vd)")
    add(f"            s4(o, {text('counterparty')})")
    add(f"            s5(o, {text('counterparty_account')})")
    add(f"            s6(o, {text('reference')})")
    add(f"            s7(o, {text('end_to_end_id')})")
    add(f"            s8(o, {description})")
    add(f"            s9(o, {text('bank_code')})")
    add("            s10(o, ln)")
    balance = f"balance_of(amount, row[{c['balance']}].strip(), exp, ln)" if "balance" in c \
        else None
    if with_account:
        add(f"            acct = row[{c['account_column']}].strip()")
        add("            if not acct:")
        add("                acct = account_of(acct, ln)")
        add("            st = stats.get(acct)")
        add("            if st is None:")
        add("                st = stats_of(acct)")
        add("            st.n += 1")
        if balance:
            add(f"            st.balance(amt, {balance}, bd)")
        add("            yield acct, o")
    else:
        add("            count += 1")
        if balance:
            add(f"            single.balance(amt, {balance}, bd)")
        add("            yield o")
    add("    except (csv_Error, UnicodeDecodeError) as exc:")
    add("        raise convert(exc, offset + prev + 1, offset + reader.line_num) from None")
    if not with_account:
        add("    finish_single(count)")
    return "\n".join(L) + "\n"


class _Demux:
    """Routes rows of an account-column file to one lazy statement per account."""

    def __init__(self, parse: _CsvParse, core: Iterator[tuple[str, StatementLine]],
                 first: tuple[str, StatementLine], stats: dict[str, _Stats],
                 with_balance: bool) -> None:
        self.parse = parse
        self.core = core
        self.stats = stats
        self.with_balance = with_balance
        self.queues: dict[str, _Spool] = {}
        self.by_account: dict[str, Statement] = {}
        self.new: deque[Statement] = deque()
        self.done = False
        self.error: BaseException | None = None
        self._route(*first)

    def _route(self, account: str, line: StatementLine) -> None:
        q = self.queues.get(account)
        if q is None:
            q = self.queues[account] = _Spool()
            st = self.parse._statement(account, line.currency, line.line or 0)
            st.lines = self._lines(account, q)
            self.by_account[account] = st
            self.new.append(st)
        q.append(line)

    def _finish(self) -> None:
        if not self.done:
            self.done = True
            for account, st in self.by_account.items():
                self.stats[account].finish(st, self.with_balance)

    def _pull(self) -> bool:
        if self.error is not None:
            raise self.error
        if self.done:
            return False
        try:
            item = next(self.core, None)
        except ValidationError as exc:
            self.error = exc
            raise
        if item is None:
            self._finish()
            return False
        self._route(*item)
        return True

    def statements(self) -> Iterator[Statement]:
        while True:
            if self.new:
                yield self.new.popleft()
            elif not self._pull():
                return

    def _lines(self, account: str, q: _Spool) -> Iterator[StatementLine]:
        core = self.core
        while True:
            if q.n:
                yield q.popleft()
                continue
            if self.error is not None:
                raise self.error
            if self.done:
                return
            try:
                for acct, line in core:
                    if acct == account:
                        yield line
                        if q.n:          # others queued rows for us while we were suspended
                            break
                    else:
                        self._route(acct, line)
                else:
                    self._finish()
            except ValidationError as exc:
                self.error = exc
                raise
