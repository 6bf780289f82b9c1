"""Accounts and balances: per account, consolidated per currency and in the base currency,
and daily balance history for charts. Account numbers leave this service masked unless
revealed (MFA, audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from cio_desktop.domain.masking import compact, iban_checksum_ok, is_iban_shaped, mask_account_number
from cio_desktop.domain.money import Money, normalise_currency, to_decimal
from cio_desktop.errors import NotFound, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.storage.models import Account, FxRate, Transaction

NUMBER_CONTEXT = "account.number"


@dataclass(frozen=True)
class AccountView:
    id: int
    name: str
    institution: str
    bic: str
    number_masked: str
    currency: str
    account_type: str
    balance: Money
    min_balance: Money
    last_booking: date | None

    @property
    def headroom(self) -> Money:
        return self.balance - self.min_balance


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    balance: Money
    in_base: Money | None  # None when no FX rate is known
    rate: Decimal | None


class AccountsService(Service):
    @action(Permission.ACCOUNTS_READ, description="view accounts and balances")
    def list_accounts(self) -> list[AccountView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            # One pass over the covering (account_id, booking_date, amount_minor) index.
            sums, last = {}, {}
            for account_id, total, latest in uow.execute(
                    select(Transaction.account_id, func.sum(Transaction.amount_minor),
                           func.max(Transaction.booking_date)).group_by(Transaction.account_id)):
                sums[account_id], last[account_id] = total, latest
            views = []
            for a in uow.execute(select(Account).where(Account.is_active.is_(True))
                                 .order_by(Account.institution, Account.name)).scalars():
                total = a.opening_balance_minor + int(sums.get(a.id) or 0)
                views.append(AccountView(a.id, a.name, a.institution, a.bic, a.number_masked,
                                         a.currency, a.account_type, Money.from_minor(total, a.currency),
                                         Money.from_minor(a.min_balance_minor, a.currency),
                                         last.get(a.id)))
            return views

    @action(Permission.ACCOUNTS_READ, description="view consolidated balances")
    def consolidated(self, accounts: list[AccountView] | None = None) -> tuple[list[CurrencyTotal], Money | None]:
        """Totals per currency and their sum in the base currency at the latest known FX rate;
        the grand total is None if any currency has no rate (never a silently wrong figure)."""
        views = self.list_accounts() if accounts is None else accounts
        base = self.ctx.settings.base_currency
        per: dict[str, Money] = {}
        for v in views:
            per[v.currency] = per.get(v.currency, Money.zero(v.currency)) + v.balance
        totals, grand, complete = [], Money.zero(base), True
        for currency in sorted(per):
            rate = self.latest_rate(currency, base)
            in_base = Money(per[currency].amount * rate, base).rounded() if rate is not None else None
            if in_base is None:
                complete = False
            else:
                grand = grand + in_base
            totals.append(CurrencyTotal(currency, per[currency], in_base, rate))
        return totals, (grand if complete else None)

    @action(Permission.ACCOUNTS_READ, description="read FX rates")
    def latest_rate(self, currency: str, base: str) -> Decimal | None:
        """Units of ``base`` per one ``currency``, from the newest stored rate (either direction)."""
        if currency == base:
            return Decimal(1)
        with self.ctx.db.unit_of_work(write=False) as uow:
            direct = uow.execute(select(FxRate.rate).where(FxRate.base == currency, FxRate.quote == base)
                                 .order_by(FxRate.rate_date.desc()).limit(1)).scalar_one_or_none()
            if direct is not None:
                return direct
            inverse = uow.execute(select(FxRate.rate).where(FxRate.base == base, FxRate.quote == currency)
                                  .order_by(FxRate.rate_date.desc()).limit(1)).scalar_one_or_none()
            return (Decimal(1) / inverse).quantize(Decimal("1e-10")) if inverse else None

    @action(Permission.ACCOUNTS_READ, description="view balance history")
    def balance_history(self, account_id: int) -> list[tuple[date, Money]]:
        """End-of-day balance on every day with bookings, from the account's first booking."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            account = uow.get(Account, account_id)
            if account is None:
                raise NotFound(f"no account with id {account_id}")
            rows = uow.execute(select(Transaction.booking_date, func.sum(Transaction.amount_minor))
                               .where(Transaction.account_id == account_id)
                               .group_by(Transaction.booking_date).order_by(Transaction.booking_date)).all()
            running, out = account.opening_balance_minor, []
            for day, amount in rows:
                running += int(amount)
                out.append((day, Money.from_minor(running, account.currency)))
            return out

    @action(Permission.ACCOUNTS_WRITE, description="add an account")
    def create_account(self, *, name: str, institution: str, number: str, currency: str,
                       bic: str = "", account_type: str = "current", min_balance: Decimal | str = "0",
                       opening_balance: Decimal | str = "0", opening_date: date | None = None) -> AccountView:
        with self.ctx.db.unit_of_work() as uow:
            account = add_account(uow, self.ctx, name=name, institution=institution, number=number,
                                  currency=currency, bic=bic, account_type=account_type,
                                  min_balance=min_balance, opening_balance=opening_balance,
                                  opening_date=opening_date, actor=self.ctx.actor)
            view = AccountView(account.id, account.name, account.institution, account.bic,
                               account.number_masked, account.currency, account.account_type,
                               Money.from_minor(account.opening_balance_minor, account.currency),
                               Money.from_minor(account.min_balance_minor, account.currency), None)
        self.ctx.bus.publish("accounts.changed", ids=[view.id])
        return view

    @action(Permission.ACCOUNT_NUMBER_REVEAL, description="reveal a full account number")
    def reveal_number(self, account_id: int) -> str:
        with self.ctx.db.unit_of_work() as uow:
            account = uow.get(Account, account_id)
            if account is None:
                raise NotFound(f"no account with id {account_id}")
            number = self.ctx.cipher.decrypt(account.number_enc, NUMBER_CONTEXT)
            audit_log(uow, actor=self.ctx.actor, action="account.number_revealed", entity="account",
                      entity_id=account.id, after={"masked": account.number_masked}, at=self.ctx.now())
        return number


def add_account(uow, ctx, *, name: str, institution: str, number: str, currency: str, bic: str,  # noqa: ANN001
                account_type: str, min_balance: Decimal | str, opening_balance: Decimal | str,
                opening_date: date | None, actor: str) -> Account:
    """Create an account inside the caller's transaction (service and demo builder share it)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("an account needs a name", field="name")
    number_c = compact(number)
    if not number_c or not all(ch.isalnum() or ch in "/-." for ch in number_c) or not number_c.isascii():
        raise ValidationError("use letters, digits, '/', '-' or '.' (e.g. an IBAN or 10050000/0123456789)",
                              field="account number")
    if is_iban_shaped(number_c) and not iban_checksum_ok(number_c):
        raise ValidationError(f"IBAN {mask_account_number(number_c)} fails its check digits",
                              field="account number")
    try:
        cur = normalise_currency(currency)
        minimum = Money(to_decimal(min_balance), cur).to_minor()
        opening = Money(to_decimal(opening_balance), cur).to_minor()
    except ValueError as exc:
        raise ValidationError(str(exc), field="amount") from None
    index = ctx.cipher.blind_index(number_c, NUMBER_CONTEXT)
    if uow.execute(select(Account.id).where(Account.number_index == index)).first():
        raise ValidationError(f"account {mask_account_number(number_c)} already exists", field="account number")
    account = Account(name=name, institution=institution.strip(), bic=(bic or "").strip().upper(),
                      number_enc=ctx.cipher.encrypt(number_c, NUMBER_CONTEXT), number_index=index,
                      number_masked=mask_account_number(number_c), currency=cur,
                      account_type=account_type, min_balance_minor=minimum,
                      opening_balance_minor=opening, opening_date=opening_date, created_at=ctx.now())
    uow.add(account)
    uow.flush()
    audit_log(uow, actor=actor, action="account.created", entity="account", entity_id=account.id,
              after={"name": name, "institution": account.institution, "number": account.number_masked,
                     "currency": cur}, at=ctx.now())
    return account
