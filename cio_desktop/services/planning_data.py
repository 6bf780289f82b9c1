"""Loading for forecasting, budgets and analytics: ledger lines, balances, known items and FX
rates, converted from integer minor units to floats (major units) at this edge.

Module functions take the caller's session, so each service method stays one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cio_desktop.domain.cashflow import AccountInfo, KnownItem
from cio_desktop.domain.money import currency_exponent
from cio_desktop.domain.payments import EXECUTABLE, PaymentKind
from cio_desktop.domain.recurring import FlowLine
from cio_desktop.storage.models import Account, FxRate, OpenItem, Payment, Transaction


@dataclass(frozen=True)
class LedgerLine(FlowLine):
    description: str = ""
    currency: str = ""


def scale(currency: str) -> float:
    return float(10 ** currency_exponent(currency))


def load_accounts(s: Session, start: date, account_ids: Sequence[int] | None = None) -> list[AccountInfo]:
    """Active accounts with their balance at the start of ``start`` (opening + lines before it)."""
    q = select(Account).where(Account.is_active.is_(True)).order_by(Account.id)
    if account_ids:
        q = q.where(Account.id.in_(list(account_ids)))
    accounts = s.execute(q).scalars().all()
    sums = dict(s.execute(select(Transaction.account_id, func.coalesce(func.sum(Transaction.amount_minor), 0))
                          .where(Transaction.booking_date < start).group_by(Transaction.account_id)).all())
    out = []
    for a in accounts:
        f = scale(a.currency)
        out.append(AccountInfo(a.id, a.name, a.currency, (a.opening_balance_minor + int(sums.get(a.id, 0))) / f,
                               a.min_balance_minor / f, a.account_type or "current"))
    return out


def load_lines(s: Session, accounts: Sequence[AccountInfo], *, before: date | None = None,
               since: date | None = None) -> list[LedgerLine]:
    if not accounts:
        return []
    cur = {a.id: a.currency for a in accounts}
    q = (select(Transaction.id, Transaction.account_id, Transaction.booking_date, Transaction.amount_minor,
                Transaction.counterparty, Transaction.category, Transaction.description, Transaction.currency)
         .where(Transaction.account_id.in_(list(cur))))
    if before is not None:
        q = q.where(Transaction.booking_date < before)
    if since is not None:
        q = q.where(Transaction.booking_date >= since)
    scales = {c: scale(c) for c in set(cur.values())}
    return [LedgerLine(r[0], r[1], r[2], r[3] / scales[cur[r[1]]], r[4] or "", r[5] or "", r[6] or "", r[7])
            for r in s.execute(q.order_by(Transaction.booking_date, Transaction.id))]


def fx_to_base(s: Session, base: str, on: date | None = None) -> dict[str, float]:
    """Base-currency units per unit of each currency, latest rate on or before ``on``.
    ``FxRate.rate`` is quote per base, so a stored base→quote rate is inverted."""
    out: dict[str, float] = {base: 1.0}
    q = select(FxRate.base, FxRate.quote, FxRate.rate, FxRate.rate_date).order_by(FxRate.rate_date)
    if on is not None:
        q = q.where(FxRate.rate_date <= on)
    for b, qt, rate, _d in s.execute(q):
        if not rate:
            continue
        if b == base:
            out[qt] = 1.0 / float(rate)
        elif qt == base:
            out[b] = float(rate)
    return out


#: Which kind of account an open item settles on, in order of preference: customers pay into the
#: collection account where there is one, suppliers are paid from the operating (current) account.
SETTLES_ON = {"receivable": ("collection", "current"), "payable": ("current",)}


def settlement_account_for(accounts: Sequence[AccountInfo], currency: str, kind: str) -> int | None:
    """Where an open payable or receivable in ``currency`` is assumed to settle: the first account
    of that currency whose type :data:`SETTLES_ON` prefers for ``kind``, else the first account of
    that currency (accounts are ordered by id). Accounting systems name no bank account."""
    same = [a for a in accounts if a.currency == currency]
    for account_type in SETTLES_ON.get(kind, ()):
        for a in same:
            if a.account_type == account_type:
                return a.id
    return same[0].id if same else None


def load_known_items(s: Session, accounts: Sequence[AccountInfo], end: date) -> list[KnownItem]:
    """Approved and scheduled payments (internal transfers: both legs) and open payables and
    receivables due on or before ``end`` (overdue ones included: they are still expected)."""
    ids = {a.id for a in accounts}
    items: list[KnownItem] = []
    pays = s.execute(select(Payment).where(Payment.status.in_([st.value for st in EXECUTABLE]),
                                           Payment.execution_date <= end)).scalars()
    for p in pays:
        f = scale(p.currency)
        if p.debit_account_id in ids:
            items.append(KnownItem(p.execution_date, p.debit_account_id, -p.amount_minor / f, "payment",
                                   f"payment {p.id} to {p.beneficiary_name} ({p.status})", f"payment:{p.id}"))
        if p.kind == PaymentKind.INTERNAL.value and p.credit_account_id in ids:
            items.append(KnownItem(p.execution_date, p.credit_account_id, p.amount_minor / f, "payment",
                                   f"transfer {p.id} in ({p.status})", f"payment:{p.id}"))
    for o in s.execute(select(OpenItem).where(OpenItem.status == "open", OpenItem.due_date <= end)).scalars():
        acct = settlement_account_for(accounts, o.currency, o.kind)
        if acct is None:
            continue
        f = scale(o.currency)
        sign = 1.0 if o.kind == "receivable" else -1.0
        items.append(KnownItem(o.due_date, acct, sign * o.amount_minor / f, o.kind,
                               f"{o.kind} {o.document_no or o.external_id} {o.counterparty}".strip(),
                               f"open_item:{o.id}"))
    return items


def to_minor(amount: Decimal, currency: str) -> int:
    return int((amount * (10 ** currency_exponent(currency))).to_integral_value())
