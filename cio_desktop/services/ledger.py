"""The ledger: every booked transaction, queried page by page with SQL-side filtering and
sorting so the table stays fast at millions of rows (the UI never loads the whole ledger).

Paging: ``page(q, offset, limit, after=last_row)`` continues *after* the last row the caller
has (keyset pagination: the index seeks straight to it) whenever the sort column is never
NULL; otherwise, or without ``after``, it uses ``OFFSET``. Both give the same rows because the
order is total (the row id breaks ties).

Text search: every word of ``LedgerQuery.text`` must occur in ``search_text`` (``LIKE
'%word%'``, portable to PostgreSQL). On SQLite the migration 0002 adds ``transactions_fts``, a
trigram FTS5 index of ``search_text``: when a search is selective (fewer than
``FTS_SELECTIVE_CAP`` candidates) the candidates come from that index, which turns a scan of the
whole ledger into a few index reads; a common word keeps the ordinary plan, which finds a page
of matches quickly by walking the sort index. The ``LIKE`` conditions always stay in the query,
so the index can only narrow, never change, the result.

The narrowing is one ``id IN (fts candidates UNION ALL lines not indexed yet)``: SQLite then
reads just those lines by rowid and sorts them. Written as ``id IN (fts) OR id > fts_upto``
the planner preferred to walk the sort index over the whole ledger, testing each line against
the candidates, to fill the page in order: 0.4-1.1 s for one 18-character reference (one
match) or a word that matches nothing at 1,000,000 lines, against tens of ms now.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import Integer, Select, cast, column, func, select, table, text, tuple_, union_all
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cio_desktop.domain.money import Money
from cio_desktop.errors import ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.storage.models import Account, Transaction

SORTABLE = {
    "booking_date": Transaction.booking_date,
    "value_date": Transaction.value_date,
    "account": Transaction.account_id,
    "amount": Transaction.amount_minor,
    "counterparty": Transaction.counterparty,
    "reference": Transaction.bank_reference,
    "category": Transaction.category,
    "currency": Transaction.currency,
}

#: Columns that break ties after the sort column and before the id: "account" lists each
#: account's lines by booking date (and can walk the (account_id, booking_date) index).
_THEN_BY = {"account": (Transaction.booking_date,)}

#: Sort columns that may hold NULL: no keyset paging (NULLs order differently per database).
_NULLABLE = {"value_date"}

#: A text search with fewer full-text candidates than this is answered from the FTS index.
FTS_SELECTIVE_CAP = 20_000

#: SQLite asks ``cancelled()`` every this many virtual-machine steps (a few ms of work).
_PROGRESS_STEPS = 50_000

_FTS = table("transactions_fts", column("rowid"), column("search_text"))
_META = table("app_meta", column("key"), column("value"))
#: the ledger under another name, so the "not indexed yet" subquery is not correlated to the outer query
_UNINDEXED = Transaction.__table__.alias("unindexed")


class QueryCancelled(Exception):
    """The caller no longer wanted the answer (``cancelled()`` turned true) and SQLite stopped."""


@dataclass(frozen=True)
class LedgerQuery:
    text: str = ""
    account_ids: tuple[int, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    amount_min: Decimal | None = None  # in major units of each row's currency
    amount_max: Decimal | None = None
    sort: str = "booking_date"
    descending: bool = True

    def with_(self, **changes) -> "LedgerQuery":  # noqa: ANN003
        return replace(self, **changes)

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.text.lower().split())


@dataclass(frozen=True)
class LedgerRow:
    id: int
    booking_date: date
    value_date: date | None
    account_id: int
    amount: Money
    counterparty: str
    reference: str
    description: str
    category: str
    source: str


def search_text_for(counterparty: str, reference: str, description: str, category: str) -> str:
    return " ".join(p for p in (counterparty, reference, description, category) if p).lower()


def _order_columns(q: LedgerQuery) -> list:
    return [SORTABLE[q.sort], *_THEN_BY.get(q.sort, ()), Transaction.id]


def _sort_values(row: LedgerRow, q: LedgerQuery) -> list:
    """The values of ``_order_columns`` for a row the service returned (keyset cursor)."""
    by_key = {
        "booking_date": row.booking_date, "value_date": row.value_date,
        "account": row.account_id, "amount": row.amount.to_minor(),
        "counterparty": row.counterparty, "reference": row.reference,
        "category": row.category, "currency": row.amount.currency,
    }
    then = {"account": [row.booking_date]}.get(q.sort, [])
    return [by_key[q.sort], *then, row.id]


def _fts_word(word: str) -> bool:
    """The trigram index helps with words of 3+ characters; LIKE wildcards stay on the plain path."""
    return len(word) >= 3 and not any(ch in word for ch in "%_\\")


def _apply(stmt: Select, q: LedgerQuery, *, fts_words: tuple[str, ...] = ()) -> Select:
    for word in q.words:
        stmt = stmt.where(Transaction.search_text.contains(word, autoescape=True))
    if fts_words:
        candidates = select(_FTS.c.rowid)
        for word in fts_words:
            candidates = candidates.where(_FTS.c.search_text.like(f"%{word}%"))
        # lines above fts_upto are not indexed yet: every one of them stays a candidate
        upto = select(cast(_META.c.value, Integer)).where(_META.c.key == "fts_upto").scalar_subquery()
        unindexed = _UNINDEXED.c.id > func.coalesce(upto, 0)
        stmt = stmt.where(Transaction.id.in_(union_all(candidates, select(_UNINDEXED.c.id).where(unindexed))))
    if q.account_ids:
        stmt = stmt.where(Transaction.account_id.in_(q.account_ids))
    if q.date_from:
        stmt = stmt.where(Transaction.booking_date >= q.date_from)
    if q.date_to:
        stmt = stmt.where(Transaction.booking_date <= q.date_to)
    # Amount bounds are compared in minor units; the ledger's currencies all have exponent 2
    # except zero-decimal ones, which the 100× bound then includes generously rather than miss.
    if q.amount_min is not None:
        stmt = stmt.where(Transaction.amount_minor >= int((q.amount_min * 100).to_integral_value()))
    if q.amount_max is not None:
        stmt = stmt.where(Transaction.amount_minor <= int((q.amount_max * 100).to_integral_value()))
    return stmt


class LedgerService(Service):
    def __init__(self, ctx) -> None:  # noqa: ANN001
        super().__init__(ctx)
        self._fts_present: bool | None = None
        self._selective: OrderedDict[tuple[str, ...], bool] = OrderedDict()
        self._lock = threading.Lock()

    # -- full-text narrowing (SQLite) -----------------------------------------------------
    def _has_fts(self, uow: Session) -> bool:
        if self._fts_present is None:
            present = False
            if self.ctx.db.kind == "sqlite":
                present = uow.execute(text("SELECT count(*) FROM sqlite_master "
                                           "WHERE name = 'transactions_fts'")).scalar_one() > 0
            self._fts_present = present
        return self._fts_present

    def _fts_words(self, uow: Session, q: LedgerQuery) -> tuple[str, ...]:
        """The words to narrow by through the FTS index, or () when the plain plan is better."""
        words = tuple(sorted({w for w in q.words if _fts_word(w)}))
        if not words or not self._has_fts(uow):
            return ()
        with self._lock:
            known = self._selective.get(words)
        if known is None:
            probe = select(_FTS.c.rowid)
            for word in words:
                probe = probe.where(_FTS.c.search_text.like(f"%{word}%"))
            found = uow.execute(select(func.count()).select_from(
                probe.limit(FTS_SELECTIVE_CAP).subquery())).scalar_one()
            # Only the plan depends on this, never the result, so a cached answer that has
            # aged a little (new imports) is still safe.
            known = found < FTS_SELECTIVE_CAP
            with self._lock:
                self._selective[words] = known
                while len(self._selective) > 64:
                    self._selective.popitem(last=False)
        return words if known else ()

    @contextmanager
    def _cancellable(self, uow: Session, cancelled: Callable[[], bool] | None) -> Iterator[None]:
        """Stop a long SQLite statement as soon as ``cancelled()`` is true (a newer query replaced
        it): a count over a million lines keeps no core busy for an answer nobody will read.
        PostgreSQL runs the statement to the end (the caller drops the answer)."""
        if cancelled is None or self.ctx.db.kind != "sqlite":
            yield
            return
        raw = uow.connection().connection.driver_connection
        raw.set_progress_handler(lambda: 1 if cancelled() else 0, _PROGRESS_STEPS)
        try:
            yield
        except OperationalError:
            if cancelled():
                raise QueryCancelled("the query was replaced by a newer one") from None
            raise
        finally:
            raw.set_progress_handler(None, 0)

    # -- queries ------------------------------------------------------------------------------
    @action(Permission.LEDGER_READ, description="search the ledger")
    def count(self, q: LedgerQuery, *, cancelled: Callable[[], bool] | None = None) -> int:
        """Lines matching ``q``. ``cancelled``: see ``_cancellable`` (raises QueryCancelled)."""
        with self.ctx.db.unit_of_work(write=False) as uow, self._cancellable(uow, cancelled):
            stmt = _apply(select(func.count()).select_from(Transaction), q,
                          fts_words=self._fts_words(uow, q))
            return uow.execute(stmt).scalar_one()

    @action(Permission.LEDGER_READ, description="read the ledger")
    def page(self, q: LedgerQuery, offset: int, limit: int, *, after: LedgerRow | None = None,
             cancelled: Callable[[], bool] | None = None) -> list[LedgerRow]:
        """Up to ``limit`` rows in ``q``'s order: those after ``after`` (the last row of the
        previous page) when given, else from ``offset``. Pass both: ``after`` is used whenever
        the sort column allows keyset paging, ``offset`` otherwise. ``cancelled``: see
        ``_cancellable``."""
        if q.sort not in SORTABLE:
            raise ValidationError(f"cannot sort by '{q.sort}'", field="sort")
        if offset < 0 or limit < 0:
            raise ValidationError("offset and limit cannot be negative", field="page")
        columns = _order_columns(q)
        order = [c.desc() for c in columns] if q.descending else [c.asc() for c in columns]
        with self.ctx.db.unit_of_work(write=False) as uow, self._cancellable(uow, cancelled):
            stmt = _apply(select(Transaction.id, Transaction.booking_date, Transaction.value_date,
                                 Transaction.account_id, Transaction.amount_minor, Transaction.currency,
                                 Transaction.counterparty, Transaction.bank_reference,
                                 Transaction.description, Transaction.category, Transaction.source), q,
                          fts_words=self._fts_words(uow, q))
            if after is not None and q.sort not in _NULLABLE:
                key, values = tuple_(*columns), tuple_(*_sort_values(after, q))
                stmt = stmt.where(key < values if q.descending else key > values)
            elif offset:
                stmt = stmt.offset(offset)
            stmt = stmt.order_by(*order).limit(limit)
            return [LedgerRow(r[0], r[1], r[2], r[3], Money.from_minor(r[4], r[5]), r[6], r[7], r[8],
                              r[9], r[10]) for r in uow.execute(stmt)]

    @action(Permission.LEDGER_READ, description="list ledger accounts")
    def account_names(self) -> dict[int, str]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return {i: f"{n} ({c})" for i, n, c in uow.execute(select(Account.id, Account.name, Account.currency))}

    @action(Permission.REPORTS_EXPORT, description="export the ledger")
    def export_csv(self, q: LedgerQuery, path: Path) -> int:
        """Write every row matching ``q`` to ``path`` as CSV (formula-safe cells, ISO dates, plain
        amounts); audited with the filter used and the row count. Account numbers never appear."""
        import csv

        from cio_desktop.reports.csv_cells import safe_cell

        names = self.account_names()
        n = 0
        with open(path, "w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            writer.writerow(EXPORT_COLUMNS)
            for r in iter_rows(self.page, q):
                writer.writerow([safe_cell(c) for c in (
                    r.booking_date.isoformat(), r.value_date.isoformat() if r.value_date else "",
                    names.get(r.account_id, str(r.account_id)), r.counterparty, r.description, r.reference,
                    r.category, str(r.amount.rounded().amount), r.amount.currency)])
                n += 1
        with self.ctx.db.unit_of_work() as uow:
            audit_log(uow, actor=self.ctx.actor, action="ledger.exported", entity="ledger", entity_id="csv",
                      after={"file": Path(path).name, "rows": n, "filter": {
                          "text": q.text, "accounts": list(q.account_ids), "from": q.date_from, "to": q.date_to}},
                      at=self.ctx.now())
        return n


EXPORT_BATCH = 5000
EXPORT_COLUMNS = ("Booking date", "Value date", "Account", "Counterparty", "Description", "Reference",
                  "Category", "Amount", "Currency")


def iter_rows(page: Callable[..., list[LedgerRow]], query: LedgerQuery,
              batch: int = EXPORT_BATCH) -> Iterator[LedgerRow]:
    """Every row of ``query`` in its order, page by page (keyset: each page continues after the last)."""
    offset, after = 0, None
    while True:
        rows = page(query, offset, batch, after=after)
        yield from rows
        if len(rows) < batch:
            return
        offset += len(rows)
        after = rows[-1]


