"""Statement lines → ledger rows: the per-line work of an import (validation, de-duplication
key, search text, the row tuple).

Why a module of its own: the same code runs inside the import's own process for ordinary files
and, for large files, in a parse worker process that feeds the writer (``parse_worker``). Both
paths therefore accept and refuse exactly the same lines with the same messages (property 2).

The currency check is split in two, because the worker does not know the account: the builder
checks that each line's currency is ISO 4217, converts the amount with that currency's
precision and records the first line of every currency it meets; the writer, which has
resolved the account, refuses the first line whose currency is not the account's
(:func:`check_currencies`). A chunk ends after :data:`CHUNK` rows or at the first bad line
(carried as ``RowChunk.error``); the writer checks the chunk's currencies before raising that
error, so the earliest fault in the file is always the one reported.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Iterator

from cio_desktop.domain.money import currency_exponent, is_currency
from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError

CHUNK = 10_000
NO_REFERENCE = frozenset({"", "NONREF", "NOTPROVIDED", "NONE", "N/A", "NA", "-"})
MAX_MINOR = 10**17
#: the ledger columns a line fills, in the order of a row tuple; the per-statement columns
#: (account, currency, source, batch, created_at) are constants the writer adds
LINE_COLUMNS = ("booking_date", "value_date", "amount_minor", "counterparty", "bank_reference",
                "description", "bank_code", "search_text", "end_to_end_id")
#: errors a chunk may end with: a bad line, or the parser failing to read on (decode, I/O)
ChunkError = ValidationError | UnicodeDecodeError | OSError


@dataclass(slots=True)
class RowChunk:
    rows: list[tuple]
    #: every line currency (as written) met so far in the statement → its first line
    currencies: dict[str, int | None]
    error: ChunkError | None = None


@dataclass(slots=True)
class StatementFeed:
    """One statement's header and its rows in chunks. ``total_minor`` (the lines' sum) and, for
    formats that learn them at the end (CSV running balances), the statement's balances are
    final once ``chunks`` is exhausted."""

    statement: Statement
    chunks: Iterator[RowChunk] = field(default_factory=lambda: iter(()))
    total_minor: int = 0


def dedup_reference(line: StatementLine, amount_minor: int, occurrences: Counter) -> str:
    """The bank's reference, or — where it gives none — a hash of the line plus the occurrence
    number of that same line within the statement (two identical coffees stay two lines)."""
    ref = (line.reference or "").strip()
    if ref.upper() not in NO_REFERENCE:
        return ref[:64]
    basis = "\x1f".join((line.booking_date.isoformat(), str(amount_minor), line.counterparty.strip(),
                         line.description.strip(), line.end_to_end_id.strip()))
    digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:40]
    occurrences[digest] += 1
    return f"h:{digest}#{occurrences[digest]}"


def search_text(counterparty: str, reference: str, description: str) -> str:
    """Must equal ``services.ledger.search_text_for(counterparty, reference, description, "")``
    (a test holds them together); kept here so the parse worker does not import the ledger
    service and its database models."""
    if counterparty and reference and description:
        return f"{counterparty} {reference} {description}".lower()
    return " ".join(p for p in (counterparty, reference, description) if p).lower()


class RowBuilder:
    """Builds one statement's row tuples (:data:`LINE_COLUMNS`). ``iso_dates``: dates as ISO
    strings (SQLite's storage; the conversion is per-line work worth doing in the worker) or
    as ``date`` objects (PostgreSQL)."""

    def __init__(self, source: str, *, iso_dates: bool) -> None:
        self.source, self.iso_dates = source, iso_dates
        self.total_minor = 0
        self.currencies: dict[str, int | None] = {}
        self._exponents: dict[str, int] = {}
        self._occurrences: Counter = Counter()
        self._iso: dict[date, str] = {}

    def chunks(self, lines: Iterable[StatementLine], size: int = CHUNK) -> Iterator[RowChunk]:
        it = iter(lines)
        while True:
            rows: list[tuple] = []
            error: ChunkError | None = None
            try:
                self._fill(it, rows, size)
            except (ValidationError, UnicodeDecodeError, OSError) as exc:
                error = exc
            if rows or error is not None:
                yield RowChunk(rows, dict(self.currencies), error)
            if error is not None or len(rows) < size:
                return

    def _fill(self, it: Iterator[StatementLine], rows: list[tuple], size: int) -> None:
        """The hot loop: one pass per line, every lookup bound locally."""
        append, exponents, occurrences = rows.append, self._exponents, self._occurrences
        iso_dates, iso = self.iso_dates, self._iso
        no_reference, limit = NO_REFERENCE, MAX_MINOR
        total = self.total_minor
        try:
            for line in it:
                booking, value = line.booking_date, line.value_date
                if not isinstance(booking, date):
                    self._refuse(line, "booking date is missing or not a date", "booking date")
                if value is not None and not isinstance(value, date):
                    self._refuse(line, "value date is not a date", "value date")
                exponent = exponents.get(line.currency)
                if exponent is None:
                    exponent = self._new_currency(line)
                amount = line.amount
                try:
                    scaled = amount.scaleb(exponent)
                    minor = int(scaled)
                except (ArithmeticError, ValueError, TypeError, AttributeError):
                    self._refuse(line, f"'{amount}' is not an amount", "amount")
                if minor != scaled:
                    self._refuse(line, f"{amount} has more than {exponent} decimals for "
                                       f"{line.currency.strip().upper()}", "amount")
                if not -limit < minor < limit:
                    self._refuse(line, f"{amount} is beyond any plausible amount", "amount")
                reference = line.reference
                key = reference.strip() if reference else ""
                key = key[:64] if key.upper() not in no_reference else dedup_reference(line, minor, occurrences)
                counterparty, description = line.counterparty, line.description
                search = search_text(counterparty, reference, description)
                e2e = line.end_to_end_id
                e2e = (e2e.strip()[:35] or None) if e2e else None  # matches executed payments (0008)
                if iso_dates:
                    booking = iso.get(booking) or iso.setdefault(booking, booking.isoformat())
                    if value is not None:
                        value = iso.get(value) or iso.setdefault(value, value.isoformat())
                append((booking, value, minor, counterparty[:140], key, description[:500],
                        line.bank_code[:32], search, e2e))
                total += minor
                if len(rows) >= size:
                    return
        finally:
            self.total_minor = total

    def _new_currency(self, line: StatementLine) -> int:
        code = line.currency
        if not is_currency(code):
            self._refuse(line, f"'{code}' is not an ISO 4217 currency", "currency")
        self.currencies[code] = line.line
        self._exponents[code] = exponent = currency_exponent(code.strip().upper())
        return exponent

    def _refuse(self, line: StatementLine, message: str, field_name: str) -> None:
        raise ValidationError(message, source=self.source, line=line.line, field=field_name)


def check_currencies(currencies: dict[str, int | None], account_currency: str, source: str) -> None:
    """Refuses the first line (in file order) whose currency is not the account's."""
    for code, line in currencies.items():
        if code.upper() != account_currency:
            raise ValidationError(f"line currency {code} differs from the account currency {account_currency}",
                                  source=source, line=line, field="currency")


def local_feeds(statements: Iterable[Statement], source: str, *, iso_dates: bool) -> Iterator[StatementFeed]:
    """Feeds built in this process (API sync, small files, PostgreSQL)."""
    for statement in statements:
        feed = StatementFeed(statement)
        feed.chunks = _local_chunks(feed, RowBuilder(statement.source or source, iso_dates=iso_dates))
        yield feed


def _local_chunks(feed: StatementFeed, builder: RowBuilder) -> Iterator[RowChunk]:
    yield from builder.chunks(feed.statement.lines)
    feed.total_minor = builder.total_minor
