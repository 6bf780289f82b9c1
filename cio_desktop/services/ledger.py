"""The ledger: every booked transaction, queried page by page with SQL-side filtering and
sorting so the table stays fast at millions of rows (the UI never loads the whole ledger)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, func, or_, select

from cio_desktop.domain.money import Money
from cio_desktop.errors import ValidationError
from cio_desktop.security.permissions import Permission
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


def _apply(stmt: Select, q: LedgerQuery) -> Select:
    if q.text.strip():
        for word in q.text.lower().split():
            stmt = stmt.where(Transaction.search_text.contains(word, autoescape=True))
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
    @action(Permission.LEDGER_READ, description="search the ledger")
    def count(self, q: LedgerQuery) -> int:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return uow.execute(_apply(select(func.count()).select_from(Transaction), q)).scalar_one()

    @action(Permission.LEDGER_READ, description="read the ledger")
    def page(self, q: LedgerQuery, offset: int, limit: int) -> list[LedgerRow]:
        if q.sort not in SORTABLE:
            raise ValidationError(f"cannot sort by '{q.sort}'", field="sort")
        column = SORTABLE[q.sort]
        order = [column.desc(), Transaction.id.desc()] if q.descending else [column.asc(), Transaction.id.asc()]
        stmt = _apply(select(Transaction.id, Transaction.booking_date, Transaction.value_date,
                             Transaction.account_id, Transaction.amount_minor, Transaction.currency,
                             Transaction.counterparty, Transaction.bank_reference,
                             Transaction.description, Transaction.category, Transaction.source), q)
        stmt = stmt.order_by(*order).offset(offset).limit(limit)
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [LedgerRow(r[0], r[1], r[2], r[3], Money.from_minor(r[4], r[5]), r[6], r[7], r[8],
                              r[9], r[10]) for r in uow.execute(stmt)]

    @action(Permission.LEDGER_READ, description="list ledger accounts")
    def account_names(self) -> dict[int, str]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return {i: f"{n} ({c})" for i, n, c in uow.execute(select(Account.id, Account.name, Account.currency))}
