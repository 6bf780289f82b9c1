"""Payments as pure values: the status machine and the controls that need no database.

Status machine (every change goes through ``services.payments``, one audit entry each)::

    draft            → pending_approval | approved (no approval required) | cancelled
    pending_approval → approved | rejected (an approver said no, or the request expired) | cancelled
    approved         → scheduled (date still ahead) | executed | failed | cancelled
    scheduled        → executed | failed | cancelled
    executed         → reversed
    rejected, cancelled, failed, reversed: final

* ``draft``: saved, not submitted. ``pending_approval``: its four-eyes request is open.
* ``approved``: every approval its policy requires is given (or none was required) and the
  execution date is today or past: the next due-payment tick executes it.
* ``scheduled``: approved, waiting for a future execution date (set in the same transaction as
  the approval); it executes on the first tick on or after that date.
* ``executed``: released for payment. It stays *unbooked* until a ledger line (bank statement)
  matches it (``match_bookings``).
* ``reversed``: an executed payment rolled back with an offsetting reversal record.
* ``rejected`` (an approver said no, or the approval request expired), ``cancelled`` (withdrawn
  before execution) and ``failed`` (the due-payment tick could not execute it, e.g. insufficient
  funds) are final; ``reversed`` too. Nothing is ever deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Iterable, Sequence

from cio_desktop.domain.money import Money, currency_exponent, normalise_currency, to_decimal
from cio_desktop.errors import ComplianceViolation, ValidationError


class PaymentStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    EXECUTED = "executed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REVERSED = "reversed"


class PaymentKind(StrEnum):
    EXTERNAL = "external"   # to a beneficiary's account
    INTERNAL = "internal"   # a transfer between two of our own accounts


S = PaymentStatus

#: Every legal status change. Anything else raises ``IllegalTransition``.
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    S.DRAFT: frozenset({S.PENDING_APPROVAL, S.APPROVED, S.CANCELLED}),
    S.PENDING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.APPROVED: frozenset({S.SCHEDULED, S.EXECUTED, S.FAILED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.EXECUTED, S.FAILED, S.CANCELLED}),
    S.EXECUTED: frozenset({S.REVERSED}),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
    S.REVERSED: frozenset(),
}

#: The due-payment tick and ``execute_transaction`` execute payments in these states only.
EXECUTABLE: frozenset[PaymentStatus] = frozenset({S.APPROVED, S.SCHEDULED})
#: Approved money not yet sent: counts against the funds of earlier-or-same-day payments.
COMMITTED: frozenset[PaymentStatus] = EXECUTABLE
#: Can still be cancelled (nothing has left the account).
CANCELLABLE: frozenset[PaymentStatus] = frozenset({S.DRAFT, S.PENDING_APPROVAL, S.APPROVED, S.SCHEDULED})
FINAL: frozenset[PaymentStatus] = frozenset({S.REJECTED, S.CANCELLED, S.FAILED, S.REVERSED})
#: Statuses that still count for the duplicate control and the daily limit.
LIVE: frozenset[PaymentStatus] = frozenset({S.DRAFT, S.PENDING_APPROVAL, S.APPROVED, S.SCHEDULED, S.EXECUTED})

LABELS: dict[PaymentStatus, str] = {
    S.DRAFT: "draft", S.PENDING_APPROVAL: "pending approval", S.APPROVED: "approved",
    S.SCHEDULED: "scheduled", S.EXECUTED: "executed", S.REJECTED: "rejected",
    S.CANCELLED: "cancelled", S.FAILED: "failed", S.REVERSED: "reversed",
}


class IllegalTransition(ValidationError):
    """A status change the machine does not allow (e.g. executing a cancelled payment)."""

    def __init__(self, payment_id: int | None, current: str, target: str) -> None:
        self.payment_id, self.current, self.target = payment_id, current, target
        who = f"payment {payment_id}" if payment_id is not None else "the payment"
        allowed = sorted(TRANSITIONS.get(parse_status(current), ())) if current in _VALUES else []
        then = (f"from {current} it can only become {', '.join(allowed)}" if allowed
                else f"{current} is final")
        super().__init__(f"{who} is {current} and cannot become {target}: {then}", field="status")


_VALUES = {s.value for s in PaymentStatus}


def parse_status(value: str) -> PaymentStatus:
    try:
        return PaymentStatus(str(value).strip().lower())
    except ValueError:
        raise ValidationError(f"unknown payment status '{value}'; statuses are "
                              f"{', '.join(s.value for s in PaymentStatus)}", field="status") from None


def can_transition(current: str, target: str) -> bool:
    return current in _VALUES and target in _VALUES and \
        PaymentStatus(target) in TRANSITIONS[PaymentStatus(current)]


def check_transition(current: str, target: str, payment_id: int | None = None) -> PaymentStatus:
    """The target status, or ``IllegalTransition`` naming both ends and what is allowed."""
    if not can_transition(current, target):
        raise IllegalTransition(payment_id, current, target)
    return PaymentStatus(target)


def status_after_approval(execution_date: date, today: date) -> list[PaymentStatus]:
    """The transitions a fully approved payment goes through in its approval transaction:
    ``approved``, then ``scheduled`` when it waits for a future date."""
    return [S.APPROVED, S.SCHEDULED] if execution_date > today else [S.APPROVED]


class RollbackKind(StrEnum):
    CANCEL = "cancel"                    # nothing left the account: the payment is cancelled
    REVERSE_UNBOOKED = "reverse_unbooked"  # executed, not yet on a statement: the reversal offsets it
    REVERSE_BOOKED = "reverse_booked"    # executed and booked: plus a reversing ledger line


def rollback_kind(status: str, booked: bool, payment_id: int | None = None) -> RollbackKind:
    """What ``rollback_transaction`` does for a payment in ``status``; refuses final states."""
    st = parse_status(status)
    if st in CANCELLABLE:
        return RollbackKind.CANCEL
    if st is S.EXECUTED:
        return RollbackKind.REVERSE_BOOKED if booked else RollbackKind.REVERSE_UNBOOKED
    who = f"payment {payment_id}" if payment_id is not None else "the payment"
    raise ValidationError(f"{who} is {st.value}: there is nothing to roll back", field="status")


# -- input validation ---------------------------------------------------------------------------
def validate_amount(amount: Decimal | int | str, currency: str, *, field: str = "amount") -> tuple[int, str]:
    """(minor units, currency) for a positive amount within the currency's decimals."""
    try:
        cur = normalise_currency(currency)
    except ValueError as exc:
        raise ValidationError(str(exc), field="currency") from None
    if isinstance(amount, bool):
        raise ValidationError(f"'{amount}' is not an amount", field=field)
    try:
        value = to_decimal(amount)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"'{amount}' is not an amount ({exc})", field=field) from None
    if value <= 0:
        raise ValidationError(f"the amount must be more than zero, not {value} {cur}", field=field)
    exp = currency_exponent(cur)
    scaled = value.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise ValidationError(f"{value} {cur} has more than {exp} decimal place{'s' if exp != 1 else ''} "
                              f"(the smallest unit of {cur})", field=field)
    minor = int(scaled)
    if minor >= 10**15:
        raise ValidationError(f"{value} {cur} is beyond any plausible payment", field=field)
    return minor, cur


def validate_execution_date(value: date | str, today: date, *, field: str = "execution date") -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(f"'{value}' is not a date: use YYYY-MM-DD", field=field) from None
    if not isinstance(value, date):
        raise ValidationError("the execution date is missing", field=field)
    if value < today:
        raise ValidationError(f"{value.isoformat()} is in the past: the earliest execution date is today "
                              f"({today.isoformat()})", field=field)
    if value > today + timedelta(days=366):
        raise ValidationError(f"{value.isoformat()} is more than a year ahead", field=field)
    return value


# SEPA's restricted Latin character set (EPC guidelines), which both pain.001 versions accept.
_SEPA_TEXT = re.compile(r"^[A-Za-z0-9/\-?:().,'+ ]*$")
_E2E = re.compile(r"^[A-Za-z0-9/\-?:().,'+]{1,35}$")


def clean_text(value: str | None, *, field: str, max_len: int, required: bool = False) -> str:
    text = " ".join((value or "").split())
    if required and not text:
        raise ValidationError(f"the {field} is missing", field=field)
    if len(text) > max_len:
        raise ValidationError(f"{len(text)} characters is too long: at most {max_len}", field=field)
    if any(ord(ch) < 32 for ch in text):
        raise ValidationError("control characters are not allowed", field=field)
    return text


def sepa_safe(text: str) -> bool:
    return bool(_SEPA_TEXT.match(text))


def validate_end_to_end_id(value: str) -> str:
    """At most 35 characters of the SEPA set, not starting or ending with '/' nor holding '//'."""
    v = (value or "").strip()
    if not _E2E.match(v) or v.startswith("/") or v.endswith("/") or "//" in v:
        raise ValidationError(f"'{value}' is not a usable end-to-end id: 1 to 35 letters, digits or "
                              "/-?:().,'+ (not starting or ending with '/', no '//')", field="end-to-end id")
    return v


def validate_batch(value: str | None) -> str:
    v = (value or "").strip()
    if v and not _E2E.match(v):
        raise ValidationError(f"'{value}' is not a usable batch name: at most 35 letters, digits or "
                              "/-?:().,'+", field="batch")
    return v


# -- approval policy --------------------------------------------------------------------------
#: Required approvals when no policy row covers a currency: the strictest standard setting.
DEFAULT_REQUIRED_APPROVALS = 2


@dataclass(frozen=True)
class PolicyRule:
    currency: str
    payment_kind: str          # "any", "external" or "internal"
    min_amount_minor: int      # applies from this amount (inclusive)
    required_approvals: int    # 0, 1 or 2 distinct approvers


def policy_approvals(rules: Iterable[PolicyRule], currency: str, kind: str, amount_minor: int) -> int:
    """Approvals the policy table asks for: among the rules of the currency whose kind is the
    payment's or "any", the one with the highest threshold not above the amount (a rule for the
    exact kind wins a tie). No rule → ``DEFAULT_REQUIRED_APPROVALS``."""
    best: tuple[int, int, int] | None = None
    for r in rules:
        if r.currency != currency or r.payment_kind not in ("any", kind) or r.min_amount_minor > amount_minor:
            continue
        key = (r.min_amount_minor, 1 if r.payment_kind == kind else 0, r.required_approvals)
        if best is None or key > best:
            best = key
    return DEFAULT_REQUIRED_APPROVALS if best is None else best[2]


@dataclass(frozen=True)
class ApprovalRequirement:
    required: int
    reasons: tuple[str, ...]   # plain words, one per part of the requirement


def approval_requirement(policy_required: int, *, new_beneficiary: bool, over_daily_limit: bool,
                         amount: Money, daily_used: Money | None = None,
                         daily_limit: Money | None = None) -> ApprovalRequirement:
    """Policy approvals plus one extra for a first payment to a new beneficiary and one extra
    when the requester's payments of the day exceed their daily limit."""
    reasons = [f"policy for {amount.format()}: {policy_required} approval{'s' if policy_required != 1 else ''}"]
    required = policy_required
    if new_beneficiary:
        required += 1
        reasons.append("first payment to a new beneficiary: +1 approval")
    if over_daily_limit:
        required += 1
        used = f" ({daily_used.format()} today including this one)" if daily_used is not None else ""
        limit = f" of {daily_limit.format()}" if daily_limit is not None else ""
        reasons.append(f"above the requester's daily limit{limit}{used}: +1 approval")
    return ApprovalRequirement(required, tuple(reasons))


# -- funds ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FundsFigures:
    """The funds check, in the account's currency (all Money):

    ``available = booked − executed_unbooked − committed − min_balance``

    * ``booked``: opening balance + every ledger line (bank statements, reversal lines);
    * ``executed_unbooked``: executed outgoing payments no ledger line has matched yet;
    * ``committed``: approved/scheduled outgoing payments due on or before the date (the one
      being checked excluded);
    * ``min_balance``: the account's allowed limit. Positive = a floor to keep; negative = an
      overdraft line (−min_balance may be used). So ``available`` already includes the overdraft.
    """

    booked: Money
    executed_unbooked: Money
    committed: Money
    min_balance: Money
    required: Money

    @property
    def available(self) -> Money:
        return self.booked - self.executed_unbooked - self.committed - self.min_balance

    @property
    def overdraft(self) -> Money:
        return -self.min_balance if self.min_balance.amount < 0 else Money.from_minor(0, self.min_balance.currency)

    @property
    def sufficient(self) -> bool:
        return self.available >= self.required

    @property
    def shortfall(self) -> Money:
        gap = self.required - self.available
        return gap if gap.amount > 0 else Money.from_minor(0, gap.currency)


# -- booking match ----------------------------------------------------------------------------
@dataclass(frozen=True)
class UnbookedPayment:
    id: int
    end_to_end_id: str
    amount_minor: int           # positive: what left the account
    execution_date: date


@dataclass(frozen=True)
class LedgerLine:
    id: int
    end_to_end_id: str          # '' when the bank gave none
    amount_minor: int           # signed: a debit is negative
    booking_date: date


MATCH_WINDOW_DAYS = 3


def match_bookings(payments: Sequence[UnbookedPayment], lines: Sequence[LedgerLine],
                   window_days: int = MATCH_WINDOW_DAYS) -> dict[int, int]:
    """payment id → ledger line id, each line used once. First by end-to-end id; then, for a
    line without one, the same amount (a debit) booked within ±``window_days`` of the execution
    date — the earliest such line, payments taken by execution date then id."""
    matched: dict[int, int] = {}
    used: set[int] = set()
    by_e2e: dict[str, list[LedgerLine]] = {}
    for ln in sorted(lines, key=lambda x: (x.booking_date, x.id)):
        if ln.end_to_end_id:
            by_e2e.setdefault(ln.end_to_end_id, []).append(ln)
    ordered = sorted(payments, key=lambda p: (p.execution_date, p.id))
    for p in ordered:
        for ln in by_e2e.get(p.end_to_end_id, ()):
            if ln.id not in used:
                matched[p.id] = ln.id
                used.add(ln.id)
                break
    free = sorted((ln for ln in lines if not ln.end_to_end_id and ln.id not in used),
                  key=lambda x: (x.booking_date, x.id))
    window = timedelta(days=window_days)
    for p in ordered:
        if p.id in matched:
            continue
        for ln in free:
            if ln.id in used or ln.amount_minor != -p.amount_minor:
                continue
            if abs(ln.booking_date - p.execution_date) <= window:
                matched[p.id] = ln.id
                used.add(ln.id)
                break
    return matched


# -- controls ---------------------------------------------------------------------------------
class ControlRefused(ComplianceViolation):
    """A payment control refused the request; ``control`` names it (shown and audited)."""

    def __init__(self, control: str, message: str) -> None:
        self.control = control
        super().__init__(control, message)


class DuplicatePaymentSuspected(ControlRefused):
    """Same beneficiary, amount and currency within the window: confirm to go ahead."""

    def __init__(self, message: str, duplicates: Sequence[int]) -> None:
        self.duplicates = tuple(duplicates)
        super().__init__(CONTROL_DUPLICATE, message)


CONTROL_DUPLICATE = "duplicate payment"
CONTROL_BLOCKED_COUNTRY = "blocked country"
CONTROL_FUNDS = "funds check"
CONTROL_APPROVALS = "approvals"
CONTROL_DATE = "execution date"


@dataclass(frozen=True)
class PriorPayment:
    id: int
    account_index: str
    amount_minor: int
    currency: str
    execution_date: date
    status: str


def find_duplicates(prior: Iterable[PriorPayment], *, account_index: str, amount_minor: int, currency: str,
                    execution_date: date, window_days: int, exclude_id: int | None = None) -> list[int]:
    """Live payments to the same account, same amount and currency, with execution dates at
    most ``window_days`` apart."""
    out = []
    for p in prior:
        if p.id == exclude_id or p.status not in LIVE:
            continue
        if (p.account_index == account_index and p.amount_minor == amount_minor and p.currency == currency
                and abs((p.execution_date - execution_date).days) <= window_days):
            out.append(p.id)
    return sorted(out)


def blocked_country_hit(countries: Iterable[str], blocked: Iterable[str]) -> str | None:
    """The first of ``countries`` (IBAN country, BIC country, stated country) that is blocked."""
    banned = {c.upper() for c in blocked}
    for c in countries:
        if c and c.upper() in banned:
            return c.upper()
    return None


def bic_country(bic: str) -> str:
    b = (bic or "").strip().upper()
    return b[4:6] if len(b) in (8, 11) else ""
