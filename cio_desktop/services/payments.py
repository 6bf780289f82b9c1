"""Payments: schedule, approve (four-eyes), execute when due, roll back, export pain.001.

Every state change goes through this service: permission check (``@action``) → one transaction
→ one audit entry per state change inside it → ``payments.changed`` published after commit.
Every refusal (bad input, a control, missing approval, insufficient funds) raises one clear
sentence and is audited as ``payment.refused`` naming the control, in its own transaction,
after the refused one rolled back (so nothing is half-done).

Life cycle (status machine in ``domain.payments``):

* ``schedule_transaction`` validates the input and creates the payment as ``draft`` (audit
  ``payment.created``) and — unless ``submit=False`` — submits it in the same transaction:
  controls (blocked country, duplicate warning) → approval requirement (policy table + one for a
  first payment to a new beneficiary + one above the requester's daily limit) → an approval
  request and ``pending_approval``. **No-approval path**: when the requirement is 0 (only if an
  administrator set a policy rule to 0, e.g. for small internal transfers) the payment goes
  straight to ``approved`` — and on to ``scheduled`` when its date is in the future — with no
  approval request.
* The last approval (``approve`` here, or ``ApprovalsService.approve``) moves it to ``approved``
  in the same transaction (approvals hook), then to ``scheduled`` when the date is still ahead.
  A rejection, or expiry of the request, makes it ``rejected``.
* ``execute_due`` — what the scheduler calls every minute — first expires stale approval
  requests and records bank bookings, then executes every ``approved``/``scheduled`` payment
  dated today or earlier, each in its own transaction (a batch all together). A payment the
  tick cannot execute (insufficient funds, approvals no longer sufficient, blocked country)
  becomes ``failed`` with the reason: every due approved payment is executed or failed after
  one tick. ``execute_transaction`` / ``execute_batch`` do the same on request but refuse
  instead (status unchanged) so the user can fix the cause and retry.
* Execution is a compare-and-set: ``UPDATE payments SET status='executed', version=version+1
  WHERE id=? AND status=<read status ∈ {approved, scheduled}> AND version=<read version>``;
  a rowcount other than 1 means someone else got there first and nothing is recorded. SQLite
  write transactions also start with ``BEGIN IMMEDIATE`` (serialised), PostgreSQL locks the row
  (``FOR UPDATE``): two threads or processes executing one payment execute it exactly once.
* Execution does not write the ledger: the bank statement does. An executed payment is
  *unbooked* until a ledger line matches it — by end-to-end id, else the same amount debited on
  the same account within ±3 days and not matched to anything else.

Funds (``verify_funds``; property 6), in the debit account's currency::

    available = booked − executed_unbooked − committed − min_balance

``booked`` = opening balance + all ledger lines (statements and reversal lines);
``executed_unbooked`` = executed outgoing payments no ledger line has matched yet;
``committed`` = approved/scheduled outgoing payments due on or before the date, the checked one
excluded; ``min_balance`` = the account's limit: a positive minimum is a floor to keep, a
negative one is an overdraft line (−min_balance may be drawn). A payment executes only if
``available ≥ amount``, so no executed payment takes ``booked − executed_unbooked`` below the
account's minimum. Incoming unbooked transfers are not counted (conservative). On execution the
date is today, so every other approved payment due by today is committed: when same-day
payments together exceed the funds, one can fail because of another that then executes alone.

Rollback (``rollback_transaction``): before execution the payment is cancelled (a pending
approval request is withdrawn). After execution it is reversed: a ``PaymentReversal`` record;
if the bank had already booked the payment, a reversing ledger line (source ``reversal``) that
offsets it in the booked balance; if not, the payment simply stops counting as unbooked.
History is never deleted.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cio_desktop.domain import payments as dp
from cio_desktop.domain.credit_transfer import CreditTransfer
from cio_desktop.domain.masking import compact, is_iban_shaped, mask_account_number
from cio_desktop.domain.money import Money, normalise_currency
from cio_desktop.domain.payments import (CANCELLABLE, COMMITTED, EXECUTABLE, LIVE, ControlRefused,
                                         DuplicatePaymentSuspected, FundsFigures, PaymentKind,
                                         PaymentStatus, RollbackKind)
from cio_desktop.errors import (ApprovalRequired, CioError, ConcurrentUpdate, InsufficientFunds,
                                MfaRequired, NotAuthenticated, NotFound, PermissionDenied,
                                ValidationError)
from cio_desktop.security.permissions import Permission
from cio_desktop.services.accounts import NUMBER_CONTEXT
from cio_desktop.services.approvals import (ApprovalExpired, Events, approvers_of, expire_stale,
                                            expiry_days, open_request, publish_all, read_setting,
                                            register_hook, required_by_policy, withdraw_request,
                                            write_setting)
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.services.compliance import record_refusal, validate_transaction
from cio_desktop.services.context import ServiceContext
from cio_desktop.services.ledger import search_text_for
from cio_desktop.storage.models import (Account, AppMeta, ApprovalDecision, ApprovalRequest, Beneficiary,
                                        BlockedCountry, Payment, PaymentDailyLimit, PaymentEvent,
                                        PaymentReversal, Transaction, User)

log = logging.getLogger(__name__)

S = PaymentStatus
PAYMENT_CONTEXT = "payment.account"        # Payment.account_enc
BENEFICIARY_CONTEXT = "beneficiary.account"  # Beneficiary.account_enc
PAYEE_INDEX_CONTEXT = "payee.account"      # blind index shared by payments and beneficiaries
DUPLICATE_KEY = "payments.duplicate_window_days"
DEFAULT_DUPLICATE_DAYS = 7
COMPANY_KEY = "company.name"
DEFAULT_COMPANY = "CIO Desktop"
ENTITY = "payment"
NAME_MAX = 70          # SEPA creditor name limit
PURPOSE_MAX = 140      # one unstructured remittance line


# -- views (what the UI and the CLI get) ---------------------------------------------------------
@dataclass(frozen=True)
class PaymentView:
    """One payment as the Payments panel shows it. Account numbers are masked only."""

    id: int
    kind: str                          # "external" | "internal"
    status: str                        # a PaymentStatus value
    debit_account_id: int
    debit_account_name: str
    debit_account_masked: str
    credit_account_id: int | None      # internal transfers
    beneficiary_id: int | None         # external payments
    beneficiary_name: str
    beneficiary_account_masked: str
    bic: str
    country: str
    amount: Money
    execution_date: date
    purpose: str
    end_to_end_id: str
    batch: str
    requested_by: str
    created_at: datetime
    updated_at: datetime
    required_approvals: int
    approvals: tuple[str, ...]         # distinct approvers so far
    approval_reasons: tuple[str, ...]  # why that many approvals (policy, new beneficiary, limit)
    approval_request_id: int | None
    approval_status: str | None        # pending / approved / rejected / expired / withdrawn
    executed_at: datetime | None
    booked_transaction_id: int | None  # the ledger line that booked it (None: unbooked)
    exported_at: datetime | None
    file_path: str
    failure_reason: str
    version: int

    @property
    def label(self) -> str:
        return dp.LABELS[PaymentStatus(self.status)]

    @property
    def booked(self) -> bool:
        return self.booked_transaction_id is not None

    @property
    def approvals_missing(self) -> int:
        return max(0, self.required_approvals - len(self.approvals))

    def summary(self) -> str:
        return (f"payment {self.id} {self.status}: {self.amount.format()} to {self.beneficiary_name} "
                f"({self.beneficiary_account_masked}) on {self.execution_date.isoformat()}")


@dataclass(frozen=True)
class PaymentEventView:
    id: int
    payment_id: int
    from_status: str     # '' for the creation
    to_status: str       # equal to from_status for notes (export, booking, partial approval)
    actor: str
    at: datetime
    note: str


@dataclass(frozen=True)
class ScheduleResult:
    payment: PaymentView
    warnings: tuple[str, ...] = ()   # non-blocking (e.g. funds look short today for that date)


@dataclass(frozen=True)
class FundsCheck:
    """The figures of ``verify_funds`` (see the module doc for the formula)."""

    account_id: int
    account_name: str
    on_date: date
    booked: Money
    executed_unbooked: Money
    committed: Money
    min_balance: Money
    overdraft: Money
    available: Money
    required: Money
    sufficient: bool
    shortfall: Money

    def sentence(self) -> str:
        return (f"available {self.available.format()}, required {self.required.format()} (booked "
                f"{self.booked.format()} − executed not yet booked {self.executed_unbooked.format()} − "
                f"approved payments due by {self.on_date.isoformat()} {self.committed.format()} − "
                f"minimum balance {self.min_balance.format()})")


@dataclass
class DueRunReport:
    """What one ``execute_due`` tick did."""

    executed: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)   # (payment id, reason)
    expired_requests: list[int] = field(default_factory=list)
    booked: list[int] = field(default_factory=list)               # payments matched to a booking
    skipped: list[int] = field(default_factory=list)              # someone else executed them

    def summary(self) -> str:
        return (f"{len(self.executed)} executed, {len(self.failed)} failed, {len(self.expired_requests)} "
                f"approval request(s) expired, {len(self.booked)} booking(s) matched")


@dataclass(frozen=True)
class ExportResult:
    path: str
    version: str
    message_id: str
    payment_ids: tuple[int, ...]
    totals: dict[str, str]            # currency → total, formatted

    def summary(self) -> str:
        sums = ", ".join(f"{v}" for v in self.totals.values())
        return f"{len(self.payment_ids)} payment(s) written to {self.path} (pain.001.001.{self.version}; {sums})"


@dataclass(frozen=True)
class BeneficiaryView:
    id: int
    name: str
    account_masked: str
    bic: str
    country: str
    first_used_on: date | None
    created_at: datetime

    @property
    def is_new(self) -> bool:
        return self.first_used_on is None


@dataclass(frozen=True)
class DailyLimitView:
    username: str
    limit: Money
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class BlockedCountryView:
    country: str
    reason: str
    added_by: str
    added_at: datetime


class BatchFailed(CioError):
    """One payment of a batch could not execute, so none of the batch did."""

    def __init__(self, batch: str, payment_id: int, cause: CioError) -> None:
        self.batch, self.payment_id, self.cause = batch, payment_id, cause
        self.control = getattr(cause, "control", None) or type(cause).__name__
        super().__init__(f"batch {batch} rolled back, nothing executed: payment {payment_id}: {cause}")


# -- small helpers -----------------------------------------------------------------------------------
def _today(ctx: ServiceContext) -> date:
    return ctx.now().astimezone(timezone.utc).date()


def _publish(ctx: ServiceContext, ids: Iterable[int], what: str) -> None:
    ids = sorted(set(ids))
    if ids:
        ctx.bus.publish("payments.changed", ids=ids, action=what)


def _events_changed(ids: Iterable[int], what: str) -> Events:
    return [("payments.changed", {"ids": sorted(set(ids)), "action": what})]


def _add_event(uow: Session, ctx: ServiceContext, p: Payment, from_status: str, to_status: str,
               note: str) -> None:
    uow.add(PaymentEvent(payment_id=p.id, from_status=from_status, to_status=to_status, actor=ctx.actor,
                         at=ctx.now(), note=note[:2000]))
    uow.flush()


def _cas_update(uow: Session, p: Payment, expected_status: str | None = None, **values: Any) -> None:
    """Compare-and-set on id + version (+ status): the only way a payment row changes."""
    cond = [Payment.id == p.id, Payment.version == p.version]
    if expected_status is not None:
        cond.append(Payment.status == expected_status)
    result = uow.execute(update(Payment).where(*cond).values(version=Payment.version + 1, **values)
                         .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise ConcurrentUpdate(f"payment {p.id} was changed by someone else meanwhile "
                               f"(it is no longer {expected_status or 'as read'}): reload it and try again")
    uow.refresh(p)


def transition(uow: Session, ctx: ServiceContext, p: Payment, target: PaymentStatus, note: str, *,
               audit_action: str | None = None, audit_extra: dict[str, Any] | None = None,
               **values: Any) -> None:
    """One status change: legal per the machine, compare-and-set, a history event and exactly
    one audit entry — all in the caller's transaction."""
    current = p.status
    dp.check_transition(current, target.value, p.id)
    now = ctx.now()
    _cas_update(uow, p, current, status=target.value, updated_at=now, **values)
    _add_event(uow, ctx, p, current, target.value, note)
    audit_log(uow, actor=ctx.actor, action=f"payment.{audit_action or target.value}", entity=ENTITY,
              entity_id=p.id, before={"status": current},
              after={"status": target.value, "note": note, "amount": Money.from_minor(p.amount_minor,
                                                                                      p.currency).format(),
                     **(audit_extra or {})}, at=now)


def _approval_note(approvers: Sequence[str]) -> str:
    return f"approved by {', '.join(approvers)}" if approvers else "no approval required by the policy"


def _after_approval(uow: Session, ctx: ServiceContext, p: Payment, note: str) -> None:
    """approved, then scheduled when the execution date is still ahead."""
    for target in dp.status_after_approval(p.execution_date, _today(ctx)):
        if target is S.APPROVED:
            transition(uow, ctx, p, S.APPROVED, note, audit_extra={"required": p.required_approvals})
        else:
            transition(uow, ctx, p, S.SCHEDULED,
                       f"waits for its execution date {p.execution_date.isoformat()}")


# -- the approvals → payments link (runs inside the approval's transaction) ----------------------
def _on_approval_decided(uow: Session, ctx: ServiceContext, req: ApprovalRequest, decision: str) -> Events:
    try:
        p = uow.get(Payment, int(req.entity_id))
    except ValueError:
        return []
    if p is None or p.approval_request_id != req.id or p.status != S.PENDING_APPROVAL:
        return []
    if decision == "approve":  # compliance rules (issue 6): a blocked payment gets no approval
        validate_transaction(uow, ctx, p, "approve")
    if req.status == "approved":
        approvers = approvers_of(uow, req.id)
        distinct = set(approvers) - {p.requested_by}
        if len(distinct) < p.required_approvals:  # defence in depth: approvals.py already ensures it
            raise ApprovalRequired(f"payment {p.id} has {len(distinct)} valid approval(s) of "
                                   f"{p.required_approvals}: it stays pending")
        _after_approval(uow, ctx, p, _approval_note(approvers))
    elif req.status == "rejected":
        reason = uow.execute(select(ApprovalDecision.comment).where(
            ApprovalDecision.request_id == req.id, ApprovalDecision.decision == "reject")
            .order_by(ApprovalDecision.id.desc()).limit(1)).scalar_one_or_none() or ""
        transition(uow, ctx, p, S.REJECTED, f"rejected by {ctx.actor}: {reason}", failure_reason=reason)
    elif req.status == "expired":
        days = expiry_days(uow)
        why = (f"its approval request expired after {days} days without the required approvals; "
               "submit the payment again")
        transition(uow, ctx, p, S.REJECTED, why, audit_action="expired", failure_reason=why)
    elif decision == "approve":  # a partial approval: a note in the history (audited as approval.approved)
        approvers = approvers_of(uow, req.id)
        _add_event(uow, ctx, p, p.status, p.status,
                   f"approved by {ctx.actor} ({len(approvers)} of {req.required_approvals})")
        return []
    else:
        return []
    return _events_changed([p.id], p.status)


register_hook(ENTITY, _on_approval_decided)


# -- funds and bookings -------------------------------------------------------------------------------
def _unbooked_payments(uow: Session, account_id: int) -> list[dp.UnbookedPayment]:
    rows = uow.execute(select(Payment.id, Payment.end_to_end_id, Payment.amount_minor, Payment.execution_date)
                       .where(Payment.debit_account_id == account_id, Payment.status == S.EXECUTED,
                              Payment.booked_transaction_id.is_(None))).all()
    return [dp.UnbookedPayment(r[0], r[1], r[2], r[3]) for r in rows]


def _booking_matches(uow: Session, account_id: int, unbooked: Sequence[dp.UnbookedPayment]) -> dict[int, int]:
    if not unbooked:
        return {}
    since = min(p.execution_date for p in unbooked) - timedelta(days=dp.MATCH_WINDOW_DAYS)
    taken = set(uow.execute(select(Payment.booked_transaction_id).where(
        Payment.debit_account_id == account_id, Payment.booked_transaction_id.is_not(None))).scalars())
    lines = [dp.LedgerLine(r[0], r[1] or "", r[2], r[3]) for r in uow.execute(
        select(Transaction.id, Transaction.end_to_end_id, Transaction.amount_minor, Transaction.booking_date)
        .where(Transaction.account_id == account_id, Transaction.booking_date >= since,
               Transaction.amount_minor < 0, Transaction.source != "reversal")) if r[0] not in taken]
    return dp.match_bookings(unbooked, lines)


def record_bookings(uow: Session, ctx: ServiceContext, account_ids: Iterable[int] | None = None) -> list[int]:
    """Link executed payments to the ledger lines that booked them (one audit entry each)."""
    q = select(Payment.debit_account_id).where(Payment.status == S.EXECUTED,
                                               Payment.booked_transaction_id.is_(None)).distinct()
    accounts = set(uow.execute(q).scalars())
    if account_ids is not None:
        accounts &= set(account_ids)
    matched: list[int] = []
    for account_id in sorted(accounts):
        for payment_id, line_id in sorted(_booking_matches(uow, account_id,
                                                           _unbooked_payments(uow, account_id)).items()):
            p = uow.get(Payment, payment_id)
            line = uow.get(Transaction, line_id)
            _cas_update(uow, p, S.EXECUTED, booked_transaction_id=line_id, updated_at=ctx.now())
            how = "end-to-end id" if line.end_to_end_id == p.end_to_end_id else "amount and date"
            _add_event(uow, ctx, p, p.status, p.status,
                       f"booked by the bank on {line.booking_date.isoformat()} (ledger line {line_id}, "
                       f"matched by {how})")
            audit_log(uow, actor=ctx.actor, action="payment.booked", entity=ENTITY, entity_id=p.id,
                      after={"transaction": line_id, "booking_date": line.booking_date, "matched_by": how},
                      at=ctx.now())
            matched.append(payment_id)
    return matched


def funds_figures(uow: Session, account: Account, required_minor: int, on_date: date,
                  exclude_payment_id: int | None = None) -> FundsFigures:
    cur = account.currency
    ledger = uow.execute(select(func.coalesce(func.sum(Transaction.amount_minor), 0))
                         .where(Transaction.account_id == account.id)).scalar_one()
    booked = account.opening_balance_minor + int(ledger)
    unbooked = _unbooked_payments(uow, account.id)
    matched = _booking_matches(uow, account.id, unbooked)   # lines that arrived since the last tick
    executed_unbooked = sum(p.amount_minor for p in unbooked if p.id not in matched)
    q = select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
        Payment.debit_account_id == account.id, Payment.status.in_([s.value for s in COMMITTED]),
        Payment.execution_date <= on_date)
    if exclude_payment_id is not None:
        q = q.where(Payment.id != exclude_payment_id)
    committed = int(uow.execute(q).scalar_one())
    m = lambda minor: Money.from_minor(minor, cur)  # noqa: E731
    return FundsFigures(m(booked), m(executed_unbooked), m(committed), m(account.min_balance_minor),
                        m(required_minor))


def _funds_view(account: Account, on_date: date, f: FundsFigures) -> FundsCheck:
    return FundsCheck(account.id, account.name, on_date, f.booked, f.executed_unbooked, f.committed,
                      f.min_balance, f.overdraft, f.available, f.required, f.sufficient, f.shortfall)


# -- beneficiaries ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Payee:
    name: str
    account: str          # compact
    is_iban: bool
    bic: str
    country: str
    index: str            # blind index (PAYEE_INDEX_CONTEXT)
    masked: str


def validate_payee(ctx: ServiceContext, name: str, account: str, bic: str = "", country: str = "") -> _Payee:
    """Name, account (IBAN, or another account number with BIC and country), BIC and country,
    normalised; ValidationError naming the field otherwise."""
    from cio_desktop.domain.bank_ids import validate_bic, validate_iban
    from cio_desktop.integrations.payment_files import transliterate

    clean_name = dp.clean_text(name, field="beneficiary name", max_len=140, required=True)
    try:
        latin = transliterate(clean_name)
    except ValueError as exc:
        raise ValidationError(f"{exc}: use the name in Latin letters as the bank knows it",
                              field="beneficiary name") from None
    if len(latin) > NAME_MAX:
        raise ValidationError(f"the name has {len(latin)} characters in the bank's character set; at most "
                              f"{NAME_MAX}", field="beneficiary name")
    number = compact(account)
    if not number:
        raise ValidationError("the beneficiary's IBAN or account number is missing", field="beneficiary account")
    bic_c = validate_bic(bic, field="BIC") if (bic or "").strip() else ""
    stated = (country or "").strip().upper()
    if stated and (len(stated) != 2 or not stated.isalpha()):
        raise ValidationError(f"'{country}' is not a two-letter ISO 3166 country code", field="country")
    looks_iban = len(number) >= 4 and number[:2].isalpha() and number[2:4].isdigit()
    if looks_iban:
        number = validate_iban(number, field="IBAN")
        is_iban = True
        country_c = stated or number[:2]
    else:
        if not number.isascii() or not number.isalnum() or not 5 <= len(number) <= 34:
            raise ValidationError(f"account {mask_account_number(number)} is neither an IBAN nor an account "
                                  "number of 5 to 34 letters and digits", field="beneficiary account")
        if not bic_c:
            raise ValidationError("an account number that is not an IBAN needs the bank's BIC", field="BIC")
        if not stated:
            raise ValidationError("an account number that is not an IBAN needs the beneficiary's country",
                                  field="country")
        is_iban, country_c = False, stated
    return _Payee(clean_name, number, is_iban, bic_c, country_c,
                  ctx.cipher.blind_index(number, PAYEE_INDEX_CONTEXT), mask_account_number(number))


def add_beneficiary(uow: Session, ctx: ServiceContext, *, name: str, account: str, bic: str = "",
                    country: str = "", first_used_on: date | None = None, actor: str | None = None) -> Beneficiary:
    """Create (or return the existing) beneficiary for the account, in the caller's transaction.
    ``first_used_on`` is for importing history (the demo): normally the first execution sets it."""
    payee = validate_payee(ctx, name, account, bic, country)
    return _beneficiary_for(uow, ctx, payee, first_used_on=first_used_on, actor=actor)


def _beneficiary_for(uow: Session, ctx: ServiceContext, payee: _Payee, *, first_used_on: date | None = None,
                     actor: str | None = None) -> Beneficiary:
    row = uow.execute(select(Beneficiary).where(Beneficiary.account_index == payee.index)).scalar_one_or_none()
    if row is not None:
        return row
    row = Beneficiary(name=payee.name, account_enc=ctx.cipher.encrypt(payee.account, BENEFICIARY_CONTEXT),
                      account_index=payee.index, account_masked=payee.masked, bic=payee.bic,
                      country=payee.country, first_used_on=first_used_on, created_by=actor or ctx.actor,
                      created_at=ctx.now())
    uow.add(row)
    uow.flush()
    audit_log(uow, actor=actor or ctx.actor, action="beneficiary.created", entity="beneficiary",
              entity_id=row.id, after={"name": row.name, "account": row.account_masked, "bic": row.bic,
                                       "country": row.country, "first_used_on": first_used_on},
              at=ctx.now())
    return row


def _beneficiary_view(b: Beneficiary) -> BeneficiaryView:
    return BeneficiaryView(b.id, b.name, b.account_masked, b.bic, b.country, b.first_used_on, b.created_at)


# -- the service --------------------------------------------------------------------------------------
class PaymentsService(Service):
    """The payments API for the Payments panel, the CLI and the scheduler (see the module doc)."""

    # ---- reads ------------------------------------------------------------------------------
    @action(Permission.PAYMENTS_READ, description="view payments")
    def list_payments(self, *, status: str | Sequence[str] | None = None, account_id: int | None = None,
                      batch: str | None = None, limit: int = 1000, offset: int = 0) -> list[PaymentView]:
        """Newest first; ``status`` one status or several."""
        q = select(Payment).order_by(Payment.id.desc()).limit(limit).offset(offset)
        if status:
            wanted = [status] if isinstance(status, str) else list(status)
            q = q.where(Payment.status.in_([dp.parse_status(s).value for s in wanted]))
        if account_id is not None:
            q = q.where((Payment.debit_account_id == account_id) | (Payment.credit_account_id == account_id))
        if batch:
            q = q.where(Payment.batch == batch)
        with self.ctx.db.unit_of_work(write=False) as uow:
            return _views(uow, list(uow.execute(q).scalars()))

    @action(Permission.PAYMENTS_READ, description="view a payment")
    def get_payment(self, payment_id: int) -> PaymentView:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return _views(uow, [_get(uow, payment_id)])[0]

    @action(Permission.PAYMENTS_READ, description="view a payment's history")
    def history(self, payment_id: int) -> list[PaymentEventView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            _get(uow, payment_id)
            rows = uow.execute(select(PaymentEvent).where(PaymentEvent.payment_id == payment_id)
                               .order_by(PaymentEvent.id)).scalars()
            return [PaymentEventView(e.id, e.payment_id, e.from_status, e.to_status, e.actor, e.at, e.note)
                    for e in rows]

    @action(Permission.PAYMENTS_READ, description="view payments")
    def status_counts(self) -> dict[str, int]:
        """Payments per status (every status present, zero included): for badges."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            found = dict(uow.execute(select(Payment.status, func.count()).group_by(Payment.status)).all())
        return {s.value: int(found.get(s.value, 0)) for s in PaymentStatus}

    @action(Permission.PAYMENTS_READ, description="view payments")
    def due_payments(self, on_date: date | None = None) -> list[PaymentView]:
        """Approved/scheduled payments dated on or before ``on_date`` (default today): what the
        next tick executes."""
        day = on_date or _today(self.ctx)
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(select(Payment).where(Payment.status.in_([s.value for s in EXECUTABLE]),
                                                     Payment.execution_date <= day)
                               .order_by(Payment.execution_date, Payment.id)).scalars()
            return _views(uow, list(rows))

    @action(Permission.PAYMENTS_READ, description="check available funds")
    def verify_funds(self, account_id: int, amount: Decimal | str | int = 0, on_date: date | str | None = None,
                     *, exclude_payment_id: int | None = None) -> FundsCheck:
        """Funds available on ``account_id`` for a payment of ``amount`` on ``on_date`` (default
        today); see the module doc for the formula. Reads only."""
        day = _parse_day(on_date, "on date") or _today(self.ctx)
        with self.ctx.db.unit_of_work(write=False) as uow:
            account = _account(uow, account_id, field_name="account")
            minor = 0 if _is_zero(amount) else dp.validate_amount(amount, account.currency)[0]
            return _funds_view(account, day, funds_figures(uow, account, minor, day, exclude_payment_id))

    @action(Permission.PAYMENTS_READ, description="view beneficiaries")
    def list_beneficiaries(self) -> list[BeneficiaryView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [_beneficiary_view(b) for b in
                    uow.execute(select(Beneficiary).order_by(Beneficiary.name, Beneficiary.id)).scalars()]

    # ---- creating and submitting ------------------------------------------------------------
    @action(Permission.PAYMENTS_CREATE, description="add a beneficiary")
    def add_beneficiary(self, *, name: str, account: str, bic: str = "", country: str = "") -> BeneficiaryView:
        with self._refusals("add a beneficiary"):
            with self.ctx.db.unit_of_work() as uow:
                payee = validate_payee(self.ctx, name, account, bic, country)
                if uow.execute(select(Beneficiary.id).where(Beneficiary.account_index == payee.index)).first():
                    raise ValidationError(f"a beneficiary with account {payee.masked} already exists",
                                          field="beneficiary account")
                view = _beneficiary_view(_beneficiary_for(uow, self.ctx, payee))
        self.ctx.bus.publish("beneficiaries.changed", ids=[view.id])
        return view

    @action(Permission.PAYMENTS_CREATE, description="schedule a payment")
    def schedule_transaction(self, *, account_id: int, beneficiary_name: str, beneficiary_account: str,
                             amount: Decimal | str | int, execution_date: date | str,
                             currency: str | None = None, beneficiary_bic: str = "", country: str = "",
                             purpose: str = "", batch: str = "", end_to_end_id: str | None = None,
                             confirm_duplicate: bool = False, submit: bool = True) -> ScheduleResult:
        """Create a payment from ``account_id`` and (unless ``submit=False``: a draft) submit it.

        ``beneficiary_account`` is an IBAN, or another account number (then ``beneficiary_bic``
        and ``country`` are required). ``currency`` defaults to, and must equal, the debit
        account's. A suspected duplicate (same beneficiary, amount and currency within the
        duplicate window) raises ``DuplicatePaymentSuspected`` unless ``confirm_duplicate``.
        Returns the payment (``pending_approval``, or ``approved``/``scheduled`` when no approval
        is required) and non-blocking warnings.
        """
        with self._refusals("schedule a payment"):
            payee = validate_payee(self.ctx, beneficiary_name, beneficiary_account, beneficiary_bic, country)
            return self._create(kind=PaymentKind.EXTERNAL, account_id=account_id, payee=payee, amount=amount,
                                currency=currency, execution_date=execution_date, purpose=purpose,
                                batch=batch, end_to_end_id=end_to_end_id, credit_account_id=None,
                                confirm_duplicate=confirm_duplicate, submit=submit)

    @action(Permission.PAYMENTS_CREATE, description="schedule a transfer between own accounts")
    def schedule_transfer(self, *, account_id: int, to_account_id: int, amount: Decimal | str | int,
                          execution_date: date | str, purpose: str = "", batch: str = "",
                          confirm_duplicate: bool = False, submit: bool = True) -> ScheduleResult:
        """An internal transfer: same rules as ``schedule_transaction``, the beneficiary being our
        own account ``to_account_id`` (same currency, active, not the debit account)."""
        with self._refusals("schedule a transfer"):
            with self.ctx.db.unit_of_work(write=False) as uow:
                target = _account(uow, to_account_id, field_name="to account")
                if to_account_id == account_id:
                    raise ValidationError("a transfer needs two different accounts", field="to account")
                number = self.ctx.cipher.decrypt(target.number_enc, NUMBER_CONTEXT)
                name, bic = target.name, target.bic
            country = number[:2] if is_iban_shaped(number) else ""
            payee = _Payee(dp.clean_text(name, field="to account", max_len=140, required=True), number,
                           is_iban_shaped(number), bic, country,
                           self.ctx.cipher.blind_index(number, PAYEE_INDEX_CONTEXT), mask_account_number(number))
            return self._create(kind=PaymentKind.INTERNAL, account_id=account_id, payee=payee, amount=amount,
                                currency=None, execution_date=execution_date, purpose=purpose, batch=batch,
                                end_to_end_id=None, credit_account_id=to_account_id,
                                confirm_duplicate=confirm_duplicate, submit=submit)

    @action(Permission.PAYMENTS_CREATE, description="submit a payment for approval")
    def submit(self, payment_id: int, *, confirm_duplicate: bool = False) -> PaymentView:
        """Submit a draft (its creator only: they are the requester four-eyes excludes)."""
        events: Events = []
        with self._refusals("submit a payment", payment_id):
            with self.ctx.db.unit_of_work() as uow:
                p = _get(uow, payment_id, lock=True)
                if p.requested_by != self.ctx.actor:
                    raise ValidationError(f"payment {p.id} is {p.requested_by}'s draft: only they can submit it",
                                          field="requester")
                dp.check_transition(p.status, S.PENDING_APPROVAL.value, p.id)
                events += self._submit(uow, p, confirm_duplicate=confirm_duplicate)
                view = _views(uow, [p])[0]
        publish_all(self.ctx, events)
        return view

    # ---- approving (delegates to the four-eyes service) ----------------------------------------
    @action(Permission.PAYMENTS_APPROVE, description="approve a payment")
    def approve(self, payment_id: int, comment: str = "") -> PaymentView:
        """Approve the payment's open request (never one's own; each approver counts once)."""
        return self._decide(payment_id, "approve", comment)

    @action(Permission.PAYMENTS_APPROVE, description="reject a payment")
    def reject(self, payment_id: int, reason: str) -> PaymentView:
        return self._decide(payment_id, "reject", reason)

    def _decide(self, payment_id: int, decision: str, comment: str) -> PaymentView:
        from cio_desktop.services.approvals import ApprovalsService

        with self._refusals(f"{decision} a payment", payment_id):
            with self.ctx.db.unit_of_work(write=False) as uow:
                p = _get(uow, payment_id)
                if p.status != S.PENDING_APPROVAL or p.approval_request_id is None:
                    raise ValidationError(f"payment {p.id} is {p.status}: only a payment pending approval can "
                                          f"be {'approved' if decision == 'approve' else 'rejected'}",
                                          field="status")
                request_id = p.approval_request_id
            approvals = ApprovalsService(self.ctx)
            if decision == "approve":
                approvals._decide(request_id, "approve", comment)  # noqa: SLF001 — authorised above
            else:
                if not (comment or "").strip():
                    raise ValidationError("say why you reject it", field="reason")
                approvals._decide(request_id, "reject", comment)  # noqa: SLF001
        return self.get_payment(payment_id)

    # ---- executing ---------------------------------------------------------------------------
    @action(Permission.PAYMENTS_EXECUTE, description="execute a payment")
    def execute_transaction(self, payment_id: int) -> PaymentView:
        """Execute one approved payment whose date has come. Idempotent: an already executed
        payment is returned unchanged. Refusals (not approved, not due, insufficient funds…)
        leave the payment as it was."""
        with self._refusals("execute a payment", payment_id):
            with self.ctx.db.unit_of_work(write=True) as uow:
                p = _get(uow, payment_id, lock=True)
                if p.status in (S.EXECUTED, S.REVERSED) and p.executed_at is not None:
                    return _views(uow, [p])[0]
                record_bookings(uow, self.ctx, [p.debit_account_id])
                self._execute_locked(uow, p, _today(self.ctx))
                view = _views(uow, [p])[0]
        _publish(self.ctx, [payment_id], "executed")
        return view

    @action(Permission.PAYMENTS_EXECUTE, description="execute a payment batch")
    def execute_batch(self, batch_id: str) -> list[PaymentView]:
        """Execute every approved payment of the batch in one transaction: if one cannot execute
        (or a member still waits for approval or its date), none does (``BatchFailed``)."""
        batch = dp.validate_batch(batch_id)
        if not batch:
            raise ValidationError("name the batch to execute", field="batch")
        today = _today(self.ctx)
        with self._refusals("execute a payment batch", f"batch:{batch}"):
            with self.ctx.db.unit_of_work() as uow:
                members = list(uow.execute(select(Payment).where(Payment.batch == batch).order_by(
                    Payment.execution_date, Payment.id).with_for_update()).scalars())
                todo = [p for p in members if p.status not in dp.FINAL and p.status != S.EXECUTED]
                if not todo:
                    raise ValidationError(f"batch {batch} has no payment waiting for execution", field="batch")
                record_bookings(uow, self.ctx, {p.debit_account_id for p in todo})
                for p in todo:
                    try:
                        if p.status not in EXECUTABLE:
                            raise ApprovalRequired(f"it is {p.status.replace('_', ' ')}, not approved")
                        self._execute_locked(uow, p, today)
                    except CioError as exc:
                        raise BatchFailed(batch, p.id, exc) from None
                views = _views(uow, todo)
        _publish(self.ctx, [v.id for v in views], "executed")
        return views

    @action(Permission.PAYMENTS_EXECUTE, description="execute due payments")
    def execute_due(self) -> DueRunReport:
        """The scheduler's tick: expire stale approval requests, record bank bookings, then
        execute every approved/scheduled payment dated today or earlier — each on its own, a
        batch together. What cannot execute becomes ``failed`` with the reason."""
        report = DueRunReport()
        today = _today(self.ctx)
        with self.ctx.db.unit_of_work() as uow:
            report.expired_requests, events = expire_stale(uow, self.ctx)
            report.booked = record_bookings(uow, self.ctx)
        publish_all(self.ctx, events)
        _publish(self.ctx, report.booked, "booked")
        with self.ctx.db.unit_of_work(write=False) as uow:
            due = uow.execute(select(Payment.id, Payment.batch).where(
                Payment.status.in_([s.value for s in EXECUTABLE]), Payment.execution_date <= today)
                .order_by(Payment.execution_date, Payment.id)).all()
        groups: dict[str, list[int]] = {}
        order: list[tuple[str, list[int]]] = []
        for pid, batch in due:
            if batch:
                if batch not in groups:
                    groups[batch] = []
                    order.append((batch, groups[batch]))
                groups[batch].append(pid)
            else:
                order.append(("", [pid]))
        for batch, ids in order:
            try:
                with self.ctx.db.unit_of_work() as uow:
                    done = []
                    for pid in ids:
                        p = _get(uow, pid, lock=True)
                        if p.status not in EXECUTABLE or p.execution_date > today:
                            report.skipped.append(pid)
                            continue
                        try:
                            self._execute_locked(uow, p, today)
                        except ConcurrentUpdate:
                            raise
                        except CioError as exc:
                            if batch:
                                raise BatchFailed(batch, pid, exc) from None
                            raise
                        done.append(pid)
                report.executed += done
            except ConcurrentUpdate:
                report.skipped += ids
            except (NotAuthenticated, PermissionDenied, MfaRequired):
                raise
            except CioError as exc:
                record_refusal(self.ctx, exc)  # a blocked compliance check, after the rollback
                reason = str(exc)
                failed = self._fail(ids, reason)
                report.failed += [(pid, reason) for pid in failed]
        _publish(self.ctx, report.executed, "executed")
        _publish(self.ctx, [pid for pid, _ in report.failed], "failed")
        if report.executed or report.failed or report.expired_requests:
            log.info("due payments: %s", report.summary())
        return report

    def _fail(self, ids: Sequence[int], reason: str) -> list[int]:
        """Mark still-executable payments failed (one transaction, one audit entry each)."""
        failed = []
        try:
            with self.ctx.db.unit_of_work() as uow:
                for pid in ids:
                    p = _get(uow, pid, lock=True)
                    if p.status in EXECUTABLE:
                        transition(uow, self.ctx, p, S.FAILED, reason, failure_reason=reason[:2000])
                        failed.append(pid)
        except ConcurrentUpdate:
            return []
        return failed

    def _execute_locked(self, uow: Session, p: Payment, today: date) -> None:
        """Checks, then the compare-and-set to executed, inside the caller's transaction."""
        if p.status not in EXECUTABLE:
            if p.status in (S.DRAFT, S.PENDING_APPROVAL):
                raise ApprovalRequired(f"payment {p.id} is {p.status.replace('_', ' ')}: it cannot execute "
                                       f"before {p.required_approvals or 'its'} required approval(s) are given")
            dp.check_transition(p.status, S.EXECUTED.value, p.id)
        if p.execution_date > today:
            raise dp.ControlRefused(dp.CONTROL_DATE, f"payment {p.id} is due on {p.execution_date.isoformat()}: "
                                    f"nothing executes before its execution date (today is {today.isoformat()})")
        self._check_approvals(uow, p)
        account = _account(uow, p.debit_account_id, field_name="account")
        if p.credit_account_id is not None:
            _account(uow, p.credit_account_id, field_name="to account")
        self._check_blocked(uow, [p.country, dp.bic_country(p.bic), p.account_masked[:2]
                                  if p.account_is_iban else ""], p.id)
        validate_transaction(uow, self.ctx, p, "execute")  # compliance rules (issue 6)
        figures = funds_figures(uow, account, p.amount_minor, today, exclude_payment_id=p.id)
        if not figures.sufficient:
            check = _funds_view(account, today, figures)
            raise InsufficientFunds(f"payment {p.id}: insufficient funds on {account.name} "
                                    f"({account.number_masked}): {check.sentence()}")
        now = self.ctx.now()
        transition(uow, self.ctx, p, S.EXECUTED,
                   f"executed from {account.name}; available before {figures.available.format()}",
                   audit_extra={"available_before": figures.available.format(),
                                "e2e": p.end_to_end_id}, executed_at=now)
        if p.beneficiary_id is not None:
            b = uow.get(Beneficiary, p.beneficiary_id)
            if b is not None and b.first_used_on is None:
                b.first_used_on = today
                uow.flush()

    def _check_approvals(self, uow: Session, p: Payment) -> None:
        """Property 7 at the door: distinct approvers, none the requester, at least what the
        payment required at submission and what the policy asks for today."""
        policy_now = required_by_policy(uow, p.currency, p.kind, p.amount_minor)
        needed = max(p.required_approvals, policy_now)
        if needed == 0:
            return
        req = uow.get(ApprovalRequest, p.approval_request_id) if p.approval_request_id else None
        approvers = set(approvers_of(uow, req.id)) - {p.requested_by} if req is not None else set()
        if req is None or req.status != "approved" or len(approvers) < needed:
            raise ApprovalRequired(f"payment {p.id} has {len(approvers)} valid approval(s) but needs {needed} "
                                   f"distinct approver(s) other than {p.requested_by}: it cannot execute")

    # ---- cancelling and rolling back -----------------------------------------------------------
    @action(Permission.PAYMENTS_CANCEL, description="cancel a payment")
    def cancel_transaction(self, payment_id: int, reason: str) -> PaymentView:
        """Cancel a payment that has not executed (its pending approval request is withdrawn)."""
        with self._refusals("cancel a payment", payment_id):
            why = self._reason(reason)
            with self.ctx.db.unit_of_work() as uow:
                p = _get(uow, payment_id, lock=True)
                if p.status == S.EXECUTED:
                    raise ValidationError(f"payment {p.id} was executed: roll it back to post a reversal",
                                          field="status")
                self._cancel(uow, p, why)
                view = _views(uow, [p])[0]
        _publish(self.ctx, [payment_id], "cancelled")
        return view

    @action(Permission.PAYMENTS_CANCEL, description="roll back a payment")
    def rollback_transaction(self, payment_id: int, reason: str) -> PaymentView:
        """Before execution: cancel. After execution: reverse (needs the execute permission and
        a fresh MFA too) — a reversal record offsets it in the funds check, plus a reversing
        ledger line (source "reversal") when the bank had already booked it. Never deletes."""
        with self._refusals("roll back a payment", payment_id):
            why = self._reason(reason)
            with self.ctx.db.unit_of_work(write=False) as uow:
                status = _get(uow, payment_id).status
            if status == S.EXECUTED:  # outside any write transaction: a refusal is audited at once
                self.ctx.authorize(Permission.PAYMENTS_EXECUTE, "reverse an executed payment")
            ledger_line = None
            with self.ctx.db.unit_of_work() as uow:
                p = _get(uow, payment_id, lock=True)
                if p.status == S.EXECUTED:
                    record_bookings(uow, self.ctx, [p.debit_account_id])
                if (p.status == S.EXECUTED) != (status == S.EXECUTED):
                    raise ConcurrentUpdate(f"payment {p.id} changed meanwhile (it is now {p.status}): "
                                           "reload it and try again")
                kind = dp.rollback_kind(p.status, p.booked_transaction_id is not None, p.id)
                if kind is RollbackKind.CANCEL:
                    self._cancel(uow, p, why)
                else:
                    ledger_line = self._reverse(uow, p, why, booked=kind is RollbackKind.REVERSE_BOOKED)
                view = _views(uow, [p])[0]
        _publish(self.ctx, [payment_id], view.status)
        if ledger_line is not None:
            self.ctx.bus.publish("ledger.changed", batch_id=None, new=1)
        return view

    def _cancel(self, uow: Session, p: Payment, why: str) -> None:
        if p.status not in CANCELLABLE:
            dp.check_transition(p.status, S.CANCELLED.value, p.id)
        if p.approval_request_id is not None:
            req = uow.get(ApprovalRequest, p.approval_request_id)
            if req is not None:
                withdraw_request(uow, self.ctx, req, f"payment cancelled: {why}")
        transition(uow, self.ctx, p, S.CANCELLED, f"cancelled by {self.ctx.actor}: {why}")

    def _reverse(self, uow: Session, p: Payment, why: str, *, booked: bool) -> int | None:
        now, today = self.ctx.now(), _today(self.ctx)
        line_id = None
        if booked:
            lines = [(p.debit_account_id, p.amount_minor, "REVERSAL")]
            if p.credit_account_id is not None:  # an internal transfer: take it back from the other side
                lines.append((p.credit_account_id, -p.amount_minor, "REVERSAL (credit leg)"))
            for account_id, minor, label in lines:
                description = f"{label} of payment {p.id} ({p.end_to_end_id}): {why}"[:500]
                reference = f"REV-{p.end_to_end_id}"[:64]
                t = Transaction(account_id=account_id, booking_date=today, value_date=today, amount_minor=minor,
                                currency=p.currency, counterparty=p.beneficiary_name[:140], bank_reference=reference,
                                description=description, category="", bank_code="", source="reversal",
                                search_text=search_text_for(p.beneficiary_name, reference, description, ""),
                                created_at=now)
                uow.add(t)
                uow.flush()
                line_id = line_id or t.id
        uow.add(PaymentReversal(payment_id=p.id, amount_minor=p.amount_minor, currency=p.currency, reason=why,
                                was_booked=booked, transaction_id=line_id, reversed_by=self.ctx.actor,
                                reversed_at=now))
        uow.flush()
        note = (f"reversed by {self.ctx.actor}: {why}; " +
                (f"reversing ledger line {line_id} posted" if booked else "it was not yet booked by the bank"))
        transition(uow, self.ctx, p, S.REVERSED, note, audit_extra={"booked": booked, "ledger_line": line_id})
        return line_id

    # ---- payment files -------------------------------------------------------------------------
    @action(Permission.PAYMENTS_EXECUTE, description="export a payment file")
    def export_pain001(self, path: str | Path, *, version: str = "09", account_id: int | None = None,
                       date: date | str | None = None) -> ExportResult:  # noqa: A002 — the brief's name
        """Write every approved/scheduled payment not yet exported (optionally only from
        ``account_id`` and/or for execution ``date``) to one pain.001 file, grouped by debit
        account and date, validated against the XSD before anything is recorded. Each payment
        then carries the file path (history event + audit entry). A payment whose date has
        passed is requested for today."""
        from cio_desktop.integrations.payment_files import write_pain001

        target = Path(path).expanduser()
        when = _parse_day(date, "date")
        if version not in ("09", "03"):
            raise ValidationError(f"pain.001 version is 09 or 03, not '{version}'", field="version")
        with self._refusals("export a payment file"):
            if not target.parent.is_dir():
                raise ValidationError(f"the folder {target.parent} does not exist", field="path")
            now, today = self.ctx.now(), _today(self.ctx)
            written = False
            try:
                with self.ctx.db.unit_of_work() as uow:
                    q = select(Payment).where(Payment.status.in_([s.value for s in EXECUTABLE]),
                                              Payment.exported_at.is_(None)).order_by(
                        Payment.debit_account_id, Payment.execution_date, Payment.id)
                    if account_id is not None:
                        q = q.where(Payment.debit_account_id == account_id)
                    if when is not None:
                        q = q.where(Payment.execution_date == when)
                    payments = list(uow.execute(q).scalars())
                    if not payments:
                        raise ValidationError("no approved payment is waiting for a payment file"
                                              + (f" from account {account_id}" if account_id is not None else "")
                                              + (f" for {when.isoformat()}" if when is not None else ""),
                                              field="payments")
                    company = self._company(uow)
                    transfers = [self._credit_transfer(uow, p, company, today) for p in payments]
                    message_id = f"CIO-{now:%Y%m%d%H%M%S}-{payments[0].id}-{len(payments)}"[:35]
                    write_pain001(target, transfers, version=version, message_id=message_id, created_at=now,
                                  initiating_party=company)
                    written = True
                    resolved = str(target.resolve())
                    for p in payments:
                        _cas_update(uow, p, p.status, exported_at=now, file_path=resolved[:500], updated_at=now)
                        note = f"exported to {target.name} (pain.001.001.{version}, message {message_id})"
                        _add_event(uow, self.ctx, p, p.status, p.status, note)
                        audit_log(uow, actor=self.ctx.actor, action="payment.exported", entity=ENTITY,
                                  entity_id=p.id, after={"file": resolved, "version": version,
                                                         "message_id": message_id}, at=now)
                    totals: dict[str, int] = {}
                    for p in payments:
                        totals[p.currency] = totals.get(p.currency, 0) + p.amount_minor
                    result = ExportResult(resolved, version, message_id, tuple(p.id for p in payments),
                                          {c: Money.from_minor(v, c).format() for c, v in sorted(totals.items())})
            except BaseException:
                if written:
                    target.unlink(missing_ok=True)  # recorded nothing, so leave no file either
                raise
        _publish(self.ctx, result.payment_ids, "exported")
        return result

    def _company(self, uow: Session) -> str:
        row = uow.get(AppMeta, COMPANY_KEY)
        return (row.value if row is not None and row.value.strip() else DEFAULT_COMPANY)[:70]

    def _credit_transfer(self, uow: Session, p: Payment, company: str, today: date) -> CreditTransfer:
        account = uow.get(Account, p.debit_account_id)
        debtor = self.ctx.cipher.decrypt(account.number_enc, NUMBER_CONTEXT)
        if not is_iban_shaped(debtor):
            raise ValidationError(f"account {account.name} ({account.number_masked}) has no IBAN: it cannot be "
                                  "used in a pain.001 file", field="account")
        creditor = self.ctx.cipher.decrypt(p.account_enc, PAYMENT_CONTEXT)
        return CreditTransfer(end_to_end_id=p.end_to_end_id, instruction_id=f"P{p.id}",
                              amount=Money.from_minor(p.amount_minor, p.currency).amount, currency=p.currency,
                              execution_date=max(p.execution_date, today), debtor_name=company,
                              debtor_iban=debtor, debtor_bic=account.bic,
                              creditor_name=company if p.kind == PaymentKind.INTERNAL else p.beneficiary_name,
                              creditor_iban=creditor, creditor_bic=p.bic, creditor_country=p.country,
                              remittance=p.purpose, creditor_account_is_iban=p.account_is_iban)

    # ---- controls (administration) -----------------------------------------------------------
    @action(Permission.PAYMENTS_READ, description="view payment limits")
    def daily_limits(self) -> list[DailyLimitView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(select(PaymentDailyLimit).order_by(PaymentDailyLimit.username,
                                                                   PaymentDailyLimit.currency)).scalars()
            return [DailyLimitView(r.username, Money.from_minor(r.limit_minor, r.currency), r.updated_by,
                                   r.updated_at) for r in rows]

    @action(Permission.COMPLIANCE_MANAGE, description="set a payment limit")
    def set_daily_limit(self, username: str, currency: str, amount: Decimal | str | int | None) -> DailyLimitView | None:
        """The user's daily limit in ``currency`` (``None`` removes it). Payments the user requests
        in one (UTC) day above it need one extra approval."""
        try:
            cur = normalise_currency(currency)
        except ValueError as exc:
            raise ValidationError(str(exc), field="currency") from None
        minor = None if amount is None else dp.validate_amount(amount, cur, field="limit")[0]
        with self.ctx.db.unit_of_work() as uow:
            if uow.execute(select(User.id).where(User.username == username)).first() is None:
                raise NotFound(f"no user named '{username}'")
            row = uow.get(PaymentDailyLimit, (username, cur))
            if row is None and minor is None:
                return None  # nothing to remove: no change, no audit entry
            before = {"limit": Money.from_minor(row.limit_minor, cur).format()} if row is not None else {}
            if minor is None:
                if row is not None:
                    uow.delete(row)
                view = None
            else:
                if row is None:
                    row = PaymentDailyLimit(username=username, currency=cur, limit_minor=minor)
                    uow.add(row)
                row.limit_minor, row.updated_by, row.updated_at = minor, self.ctx.actor, self.ctx.now()
                uow.flush()
                view = DailyLimitView(username, Money.from_minor(minor, cur), self.ctx.actor, self.ctx.now())
            audit_log(uow, actor=self.ctx.actor, action="payment_limit.set", entity="user", entity_id=username,
                      before=before, after={"currency": cur, "limit": view.limit.format() if view else None},
                      at=self.ctx.now())
        self.ctx.bus.publish("payments.controls_changed", control="daily limit")
        return view

    @action(Permission.PAYMENTS_READ, description="view blocked countries")
    def blocked_countries(self) -> list[BlockedCountryView]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [BlockedCountryView(r.country, r.reason, r.added_by, r.added_at) for r in
                    uow.execute(select(BlockedCountry).order_by(BlockedCountry.country)).scalars()]

    @action(Permission.COMPLIANCE_MANAGE, description="block payments to a country")
    def block_country(self, country: str, reason: str) -> BlockedCountryView:
        code = (country or "").strip().upper()
        if len(code) != 2 or not code.isalpha():
            raise ValidationError(f"'{country}' is not a two-letter ISO 3166 country code", field="country")
        why = self._reason(reason)
        with self.ctx.db.unit_of_work() as uow:
            if uow.get(BlockedCountry, code) is not None:
                raise ValidationError(f"{code} is already blocked", field="country")
            row = BlockedCountry(country=code, reason=why, added_by=self.ctx.actor, added_at=self.ctx.now())
            uow.add(row)
            uow.flush()
            audit_log(uow, actor=self.ctx.actor, action="blocked_country.added", entity="blocked_country",
                      entity_id=code, after={"reason": why}, at=self.ctx.now())
            view = BlockedCountryView(code, why, self.ctx.actor, self.ctx.now())
        self.ctx.bus.publish("payments.controls_changed", control="blocked country")
        return view

    @action(Permission.COMPLIANCE_MANAGE, description="unblock payments to a country")
    def unblock_country(self, country: str) -> None:
        code = (country or "").strip().upper()
        with self.ctx.db.unit_of_work() as uow:
            row = uow.get(BlockedCountry, code)
            if row is None:
                raise NotFound(f"{code or country} is not blocked")
            audit_log(uow, actor=self.ctx.actor, action="blocked_country.removed", entity="blocked_country",
                      entity_id=code, before={"reason": row.reason}, at=self.ctx.now())
            uow.delete(row)
        self.ctx.bus.publish("payments.controls_changed", control="blocked country")

    @action(Permission.PAYMENTS_READ, description="view payment controls")
    def duplicate_window_days(self) -> int:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return _duplicate_days(uow)

    @action(Permission.COMPLIANCE_MANAGE, description="change payment controls")
    def set_duplicate_window_days(self, days: int) -> int:
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 90:
            raise ValidationError("the duplicate window is 0 to 90 days", field="duplicate window")
        with self.ctx.db.unit_of_work() as uow:
            before = _duplicate_days(uow)
            write_setting(uow, DUPLICATE_KEY, days)
            audit_log(uow, actor=self.ctx.actor, action="payment_control.set", entity="payment_control",
                      entity_id="duplicate_window_days", before={"days": before}, after={"days": days},
                      at=self.ctx.now())
        self.ctx.bus.publish("payments.controls_changed", control="duplicate payment")
        return days

    # ---- internals -----------------------------------------------------------------------------
    @contextmanager
    def _refusals(self, operation: str, entity_id: Any = "new") -> Iterator[None]:
        """Audit a refused operation (once), in its own transaction after the refused one rolled
        back, as ServiceContext._audit_refusal does for permissions."""
        try:
            yield
        except (PermissionDenied, MfaRequired, NotAuthenticated, ApprovalExpired):
            raise  # audited where they were raised
        except CioError as exc:
            record_refusal(self.ctx, exc)  # a blocked compliance check, after the rollback
            if not getattr(exc, "_cio_refusal_audited", False):
                control = (getattr(exc, "control", None) or getattr(exc, "rule", None)
                           or getattr(exc, "field", None) or type(exc).__name__)
                try:
                    with self.ctx.db.unit_of_work() as uow:
                        audit_log(uow, actor=self.ctx.actor, action="payment.refused", entity=ENTITY,
                                  entity_id=entity_id, after={"operation": operation, "control": control,
                                                              "error": type(exc).__name__, "reason": str(exc)},
                                  at=self.ctx.now())
                except Exception:  # the refusal itself must still reach the user
                    log.exception("could not audit a refused payment operation")
                exc._cio_refusal_audited = True  # type: ignore[attr-defined]
            raise

    @staticmethod
    def _reason(reason: str) -> str:
        why = " ".join((reason or "").split())
        if not why:
            raise ValidationError("say why", field="reason")
        return why[:500]

    def _create(self, *, kind: PaymentKind, account_id: int, payee: _Payee, amount: Decimal | str | int,
                currency: str | None, execution_date: date | str, purpose: str, batch: str,
                end_to_end_id: str | None, credit_account_id: int | None, confirm_duplicate: bool,
                submit: bool) -> ScheduleResult:
        from cio_desktop.integrations.payment_files import transliterate

        today = _today(self.ctx)
        events: Events = []
        with self.ctx.db.unit_of_work() as uow:
            account = _account(uow, account_id, field_name="account")
            if credit_account_id is not None:
                other = _account(uow, credit_account_id, field_name="to account")
                if other.currency != account.currency:
                    raise ValidationError(f"{other.name} is in {other.currency} and {account.name} in "
                                          f"{account.currency}: a transfer stays in one currency",
                                          field="to account")
            cur = account.currency
            if currency is not None and str(currency).strip():
                try:
                    asked = normalise_currency(currency)
                except ValueError as exc:
                    raise ValidationError(str(exc), field="currency") from None
                if asked != cur:
                    raise ValidationError(f"{account.name} holds {cur}: a payment from it must be in {cur}, "
                                          f"not {asked}", field="currency")
            minor, _ = dp.validate_amount(amount, cur)
            when = dp.validate_execution_date(execution_date, today)
            text = dp.clean_text(purpose, field="purpose", max_len=PURPOSE_MAX)
            try:
                if len(transliterate(text)) > PURPOSE_MAX:
                    raise ValidationError(f"the purpose is longer than {PURPOSE_MAX} characters in the bank's "
                                          "character set", field="purpose")
            except ValueError as exc:
                raise ValidationError(str(exc), field="purpose") from None
            label = dp.validate_batch(batch)
            e2e = dp.validate_end_to_end_id(end_to_end_id) if end_to_end_id else None
            if e2e and uow.execute(select(Payment.id).where(Payment.end_to_end_id == e2e)).first():
                raise ValidationError(f"end-to-end id {e2e} is already used by another payment",
                                      field="end-to-end id")
            beneficiary = _beneficiary_for(uow, self.ctx, payee) if kind is PaymentKind.EXTERNAL else None
            p = Payment(kind=kind.value, status=S.DRAFT.value, debit_account_id=account.id,
                        credit_account_id=credit_account_id, beneficiary_id=beneficiary.id if beneficiary else None,
                        beneficiary_name=payee.name,
                        account_enc=self.ctx.cipher.encrypt(payee.account, PAYMENT_CONTEXT),
                        account_index=payee.index, account_masked=payee.masked, account_is_iban=payee.is_iban,
                        bic=payee.bic, country=payee.country, amount_minor=minor, currency=cur,
                        execution_date=when, purpose=text, end_to_end_id=e2e or _placeholder_e2e(),
                        batch=label, requested_by=self.ctx.actor, required_approvals=0, approval_reasons="[]",
                        created_at=self.ctx.now(), updated_at=self.ctx.now(), file_path="", failure_reason="")
            uow.add(p)
            uow.flush()
            if e2e is None:
                p.end_to_end_id = f"CIO-{when:%Y%m%d}-{p.id:08d}"
                uow.flush()
            _add_event(uow, self.ctx, p, "", S.DRAFT.value, f"created by {self.ctx.actor}")
            audit_log(uow, actor=self.ctx.actor, action="payment.created", entity=ENTITY, entity_id=p.id,
                      after={"status": S.DRAFT.value, "kind": kind.value, "account": account.number_masked,
                             "to": payee.name, "to_account": payee.masked, "amount": Money.from_minor(minor, cur).format(),
                             "execution_date": when, "e2e": p.end_to_end_id, "batch": label},
                      at=self.ctx.now())
            events += _events_changed([p.id], "created")
            if submit:
                events += self._submit(uow, p, confirm_duplicate=confirm_duplicate, created=True)
            warnings = []
            figures = funds_figures(uow, account, minor, when, exclude_payment_id=p.id)
            if not figures.sufficient:
                warnings.append(f"at today's figures {account.name} would be short by {figures.shortfall.format()} "
                                f"on {when.isoformat()} ({_funds_view(account, when, figures).sentence()})")
            view = _views(uow, [p])[0]
        publish_all(self.ctx, events)
        return ScheduleResult(view, tuple(warnings))

    def _submit(self, uow: Session, p: Payment, *, confirm_duplicate: bool, created: bool = False) -> Events:
        """Controls, then the approval requirement and request (or straight to approved)."""
        today = _today(self.ctx)
        self._check_blocked(uow, [p.country, dp.bic_country(p.bic)], p.id)
        window = _duplicate_days(uow)
        prior = [dp.PriorPayment(r[0], r[1], r[2], r[3], r[4], r[5]) for r in uow.execute(
            select(Payment.id, Payment.account_index, Payment.amount_minor, Payment.currency,
                   Payment.execution_date, Payment.status).where(
                Payment.account_index == p.account_index, Payment.id != p.id)).all()]
        dups = dp.find_duplicates(prior, account_index=p.account_index, amount_minor=p.amount_minor,
                                  currency=p.currency, execution_date=p.execution_date, window_days=window,
                                  exclude_id=p.id)
        amount = Money.from_minor(p.amount_minor, p.currency)
        if dups and not confirm_duplicate:
            raise DuplicatePaymentSuspected(
                f"payment{'s' if len(dups) > 1 else ''} {', '.join(map(str, dups))} already pay{'' if len(dups) > 1 else 's'} "
                f"{amount.format()} to {p.beneficiary_name} ({p.account_masked}) within {window} days of "
                f"{p.execution_date.isoformat()}: confirm it is not a duplicate to go ahead", dups)
        validate_transaction(uow, self.ctx, p, "schedule", created=created)  # compliance rules (issue 6)
        # the approval requirement
        policy = required_by_policy(uow, p.currency, p.kind, p.amount_minor)
        new_beneficiary = False
        if p.beneficiary_id is not None:
            b = uow.get(Beneficiary, p.beneficiary_id)
            new_beneficiary = b is not None and b.first_used_on is None
        limit = uow.get(PaymentDailyLimit, (p.requested_by, p.currency))
        used = None
        over = False
        if limit is not None:
            start = datetime.combine(today, time.min, tzinfo=timezone.utc)
            used_minor = int(uow.execute(select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
                Payment.requested_by == p.requested_by, Payment.currency == p.currency,
                Payment.created_at >= start, Payment.created_at < start + timedelta(days=1),
                Payment.status.in_([s.value for s in LIVE]), Payment.id != p.id)).scalar_one()) + p.amount_minor
            used = Money.from_minor(used_minor, p.currency)
            over = used_minor > limit.limit_minor
        req = dp.approval_requirement(policy, new_beneficiary=new_beneficiary, over_daily_limit=over, amount=amount,
                                      daily_used=used, daily_limit=Money.from_minor(limit.limit_minor, p.currency)
                                      if limit is not None else None)
        _cas_update(uow, p, p.status, required_approvals=req.required, approval_reasons=json.dumps(list(req.reasons)))
        extra = {"required": req.required, "reasons": list(req.reasons)}
        if dups:
            extra["duplicate_confirmed"] = dups
        if req.required == 0:
            transition(uow, self.ctx, p, S.APPROVED, _approval_note(()), audit_action="submitted", audit_extra=extra)
            if p.execution_date > today:
                transition(uow, self.ctx, p, S.SCHEDULED, f"waits for its execution date {p.execution_date.isoformat()}")
            return _events_changed([p.id], p.status)
        request = open_request(uow, self.ctx, entity=ENTITY, entity_id=str(p.id), required_approvals=req.required,
                               summary=f"{amount.format()} to {p.beneficiary_name} ({p.account_masked}) on "
                                       f"{p.execution_date.isoformat()}" + (f" — {p.purpose}" if p.purpose else ""))
        transition(uow, self.ctx, p, S.PENDING_APPROVAL,
                   f"submitted for {req.required} approval(s): " + "; ".join(req.reasons),
                   audit_action="submitted", audit_extra=extra, approval_request_id=request.id)
        return _events_changed([p.id], p.status) + [("approvals.changed", {
            "request": request.id, "status": "pending", "entity": ENTITY, "entity_id": str(p.id)})]

    def _check_blocked(self, uow: Session, countries: Sequence[str], payment_id: int | None) -> None:
        blocked = {r.country: r.reason for r in uow.execute(select(BlockedCountry)).scalars()}
        hit = dp.blocked_country_hit([c for c in countries if c], blocked)
        if hit:
            who = f"payment {payment_id}" if payment_id else "the payment"
            raise ControlRefused(dp.CONTROL_BLOCKED_COUNTRY,
                                 f"{who} goes to {hit}, and payments to {hit} are blocked ({blocked[hit]})")


def _parse_day(value: date | str | None, field_name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(f"'{value}' is not a date: use YYYY-MM-DD", field=field_name) from None


def _is_zero(amount: Any) -> bool:
    if amount is None:
        return True
    try:
        return Decimal(str(amount).strip()) == 0 and not isinstance(amount, (bool, float))
    except Exception:  # noqa: BLE001 — not a number: validate_amount says so
        return False


def _placeholder_e2e() -> str:
    import uuid

    return f"tmp{uuid.uuid4().hex}"[:35]


def _duplicate_days(uow: Session) -> int:
    return max(0, read_setting(uow, DUPLICATE_KEY, DEFAULT_DUPLICATE_DAYS))


def _get(uow: Session, payment_id: int, *, lock: bool = False) -> Payment:
    q = select(Payment).where(Payment.id == payment_id)
    if lock:
        q = q.with_for_update()
    p = uow.execute(q).scalar_one_or_none()
    if p is None:
        raise NotFound(f"no payment {payment_id}")
    return p


def _account(uow: Session, account_id: int, *, field_name: str) -> Account:
    account = uow.get(Account, account_id) if isinstance(account_id, int) and not isinstance(account_id, bool) \
        else None
    if account is None:
        raise ValidationError(f"there is no account {account_id}", field=field_name)
    if not account.is_active:
        raise ValidationError(f"account {account.name} ({account.number_masked}) is closed", field=field_name)
    return account


def _views(uow: Session, payments: Sequence[Payment]) -> list[PaymentView]:
    if not payments:
        return []
    account_ids = {p.debit_account_id for p in payments}
    accounts = {a.id: a for a in uow.execute(select(Account).where(Account.id.in_(account_ids))).scalars()}
    request_ids = [p.approval_request_id for p in payments if p.approval_request_id is not None]
    approvers: dict[int, list[str]] = {}
    statuses: dict[int, str] = {}
    if request_ids:
        for rid, who in uow.execute(select(ApprovalDecision.request_id, ApprovalDecision.approver).where(
                ApprovalDecision.request_id.in_(request_ids), ApprovalDecision.decision == "approve")
                .order_by(ApprovalDecision.id)):
            approvers.setdefault(rid, []).append(who)
        statuses = dict(uow.execute(select(ApprovalRequest.id, ApprovalRequest.status)
                                    .where(ApprovalRequest.id.in_(request_ids))).all())
    out = []
    for p in payments:
        a = accounts.get(p.debit_account_id)
        rid = p.approval_request_id
        out.append(PaymentView(
            p.id, p.kind, p.status, p.debit_account_id, a.name if a else "", a.number_masked if a else "",
            p.credit_account_id, p.beneficiary_id, p.beneficiary_name, p.account_masked, p.bic, p.country,
            Money.from_minor(p.amount_minor, p.currency), p.execution_date, p.purpose, p.end_to_end_id, p.batch,
            p.requested_by, p.created_at, p.updated_at, p.required_approvals,
            tuple(approvers.get(rid, ())) if rid else (), tuple(json.loads(p.approval_reasons or "[]")), rid,
            statuses.get(rid) if rid else None, p.executed_at, p.booked_transaction_id, p.exported_at,
            p.file_path, p.failure_reason, p.version))
    return out
