"""Properties 5, 6 and 7 (see ../shared/PROPERTIES.md): random sequences of schedule / approve /
reject / execute / execute_due / cancel / rollback, bank bookings and incoming money, by random
users (approver, auditor and analyst may approve; so may the treasurer who requests, to try
self-approval), with the fake clock moving on — checked after every step.

The checks recompute from the stored rows with their own arithmetic, not the service's."""

from __future__ import annotations

import json
from datetime import date, timedelta
from itertools import count as counter

from hypothesis import given, settings, strategies as st
from sqlalchemy import func, select

from cio_desktop.errors import CioError, ConcurrentUpdate
from cio_desktop.security.permissions import Permission
from cio_desktop.services.auth import role_permissions
from cio_desktop.services.payments import add_beneficiary
from cio_desktop.storage.models import (Account, ApprovalDecision, ApprovalRequest, Payment, PaymentEvent,
                                        Transaction, User)
from tests.property.helpers import make_session

_serial = counter(1)
BENEFICIARIES = [("DE89370400440532013000", "ACME GmbH"), ("FR7630006000011234567890189", "Lyon Acier SA"),
                 ("NL16INGB0007356212", "Van der Berg B.V.")]
APPROVE_USERS = ["approver", "auditor", "analyst", "approver", "auditor", "treasurer", "viewer"]
EXECUTE_USERS = ["treasurer", "treasurer", "approver", "admin"]

amounts = st.one_of(st.integers(1, 2_000_000), st.integers(1, 2_000_000), st.integers(2_000_000, 15_000_000),
                    st.sampled_from([100_000_00, 99_999_99, 50_000_00]))   # minor units (EUR cents)
pick = st.floats(0, 1, exclude_max=True)
ARGS = {
    "schedule": st.tuples(st.just("schedule"), st.integers(0, 1), amounts, st.integers(0, 3), st.integers(0, 2),
                          st.sampled_from([True, True, True, False]),   # confirm a suspected duplicate
                          st.sampled_from(["external", "external", "internal", "draft"])),
    "approve": st.tuples(st.just("approve"), st.sampled_from(APPROVE_USERS), pick),
    "self_approve": st.tuples(st.just("approve"), st.just("treasurer"), pick),   # the requester tries
    "reject": st.tuples(st.just("reject"), st.sampled_from(APPROVE_USERS), pick),
    "execute": st.tuples(st.just("execute"), st.sampled_from(EXECUTE_USERS), pick),
    "execute_due": st.tuples(st.just("execute_due"), st.sampled_from(["treasurer", "treasurer", "treasurer",
                                                                      "analyst"])),
    "cancel": st.tuples(st.just("cancel"), pick),
    "rollback": st.tuples(st.just("rollback"), pick),
    "advance": st.tuples(st.just("advance"), st.integers(1, 60)),
    "book": st.tuples(st.just("book"), pick),
    "income": st.tuples(st.just("income"), st.integers(0, 1), st.integers(1, 5_000_000)),
    "submit": st.tuples(st.just("submit"), pick),
}
#: weighted: enough schedules and approvals for payments to get far, every other step now and then
KINDS = ["schedule"] * 4 + ["approve"] * 8 + ["self_approve"] * 2 + ["execute_due"] * 3 + ["execute"] * 2 + \
        ["book"] * 2 + ["reject", "cancel", "rollback", "rollback", "advance", "income", "submit"]
op = st.sampled_from(KINDS).flatmap(ARGS.__getitem__)
setup = st.tuples(st.sampled_from([0, 1_000_00, 10_000_00, 100_000_00, 400_000_00, 400_000_00]),  # opening A
                  st.sampled_from([-5_000_00, 0, 1_000_00]),                                        # minimum A
                  st.sampled_from([0, 50_000_00, 300_000_00]),                                      # opening B
                  st.sampled_from([0, -20_000_00]),                                                 # minimum B
                  st.sampled_from([None, None, "40000", "1000000"]))            # treasurer's daily limit
#: which payments a step is meant for (most of the time; otherwise any payment, to try the wrong ones)
TARGETS = {"approve": {"pending_approval"}, "reject": {"pending_approval"}, "execute": {"approved", "scheduled"},
           "cancel": {"draft", "pending_approval", "approved", "scheduled"}, "rollback": {"executed"},
           "book": {"executed"}, "submit": {"draft"}}


def _iban(n: int) -> str:
    bban = f"37040044{n:010d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + "DE00")
    return f"DE{98 - int(digits) % 97:02d}{bban}"


def _prepare(ws, start) -> list[int]:  # noqa: ANN001
    """Once per database: extra approvers, a daily limit; per example: two fresh accounts."""
    if not getattr(ws, "_payment_props_ready", False):
        make_session(ws, "admin")
        for role in ("auditor", "analyst", "treasurer"):
            ws.users.set_role_permission(role, Permission.PAYMENTS_APPROVE.value, True)
        with ws.db.unit_of_work() as uow:
            for i, (iban, name) in enumerate(BENEFICIARIES):
                add_beneficiary(uow, ws.ctx, name=name, account=iban,
                                first_used_on=date(2025, 1, 1) if i < 2 else None, actor="test")
        ws._payment_props_ready = True
    opening_a, min_a, opening_b, min_b, limit = start
    ws.ctx.clock.advance(days=1)   # a new day: the daily limit counts this example's payments only
    make_session(ws, "admin")
    ws.payments.set_daily_limit("treasurer", "EUR", limit)
    make_session(ws, "treasurer")
    ids = []
    for opening, minimum in ((opening_a, min_a), (opening_b, min_b)):
        n = next(_serial)
        view = ws.accounts.create_account(name=f"Prop {n}", institution="Bank", number=_iban(n), currency="EUR",
                                          min_balance=f"{minimum / 100:.2f}", opening_balance=f"{opening / 100:.2f}")
        ids.append(view.id)
    return ids


def _pick(ws, ids: list[int], f: float, kind: str) -> int | None:  # noqa: ANN001
    """Mostly a payment in a status the step is meant for (None if there is none); one time in
    five any payment, to try the wrong ones."""
    if not ids:
        return None
    if f < 0.2:
        return ids[int(f / 0.2 * len(ids))]
    with ws.db.unit_of_work(write=False) as uow:
        fitting = [pid for pid, st_ in uow.execute(select(Payment.id, Payment.status).where(
            Payment.id.in_(ids)).order_by(Payment.id)) if st_ in TARGETS[kind]]
    return fitting[int((f - 0.2) / 0.8 * len(fitting))] if fitting else None


def _run(ws, clock, op_, accounts: list[int], mine: list[int], booked: set[int]) -> str:  # noqa: ANN001
    """Apply one step; returns what it was for the checks ('tick' after a permitted tick)."""
    kind = op_[0]
    try:
        if kind == "schedule":
            _, a, minor, ahead, b, confirm, how = op_
            make_session(ws, "treasurer")
            when = clock.now.date() + timedelta(days=ahead)
            amount = f"{minor / 100:.2f}"
            if how == "internal":
                r = ws.payments.schedule_transfer(account_id=accounts[a], to_account_id=accounts[1 - a],
                                                  amount=amount, execution_date=when, confirm_duplicate=confirm)
            else:
                iban, name = BENEFICIARIES[b]
                r = ws.payments.schedule_transaction(account_id=accounts[a], beneficiary_name=name,
                                                     beneficiary_account=iban, amount=amount, execution_date=when,
                                                     confirm_duplicate=confirm, submit=how != "draft")
            mine.append(r.payment.id)
        elif kind == "execute_due":
            make_session(ws, op_[1])
            ws.payments.execute_due()
            return "tick"
        elif kind in TARGETS:
            pid = _pick(ws, mine, op_[-1], kind)
            if pid is None:
                return "noop"
            if kind == "book":   # the bank statement shows an executed payment (by end-to-end id)
                with ws.db.unit_of_work() as uow:
                    p = uow.get(Payment, pid)
                    if p.status != "executed" or p.id in booked:
                        return "noop"
                    uow.add(Transaction(account_id=p.debit_account_id, booking_date=clock.now.date(),
                                        amount_minor=-p.amount_minor, currency="EUR", bank_reference=f"B{p.id}",
                                        end_to_end_id=p.end_to_end_id, source="camt053", created_at=clock.now))
                    booked.add(p.id)
                return kind
            make_session(ws, op_[1] if len(op_) == 3 else "treasurer")
            if kind == "submit":
                ws.payments.submit(pid, confirm_duplicate=True)
            elif kind == "approve":
                ws.payments.approve(pid, "ok")
            elif kind == "reject":
                ws.payments.reject(pid, "not this one")
            elif kind == "execute":
                ws.payments.execute_transaction(pid)
            elif kind == "cancel":
                ws.payments.cancel_transaction(pid, "changed my mind")
            else:
                ws.payments.rollback_transaction(pid, "wrong payment")
        elif kind == "advance":
            clock.advance(hours=op_[1])
        elif kind == "income":
            with ws.db.unit_of_work() as uow:
                uow.add(Transaction(account_id=accounts[op_[1]], booking_date=clock.now.date(), amount_minor=op_[2],
                                    currency="EUR", bank_reference=f"IN{next(_serial)}", source="camt053",
                                    created_at=clock.now))
    except ConcurrentUpdate:
        raise  # one thread: a lost compare-and-set would be a bug
    except CioError:
        return "refused"
    return kind


# -- the checks (own arithmetic over every stored row: payments of earlier examples fall due later) ----
def _executions(uow) -> dict[int, PaymentEvent]:  # noqa: ANN001
    """payment id → its execution event (not the later booking notes, executed → executed)."""
    return {e.payment_id: e for e in uow.execute(select(PaymentEvent).where(
        PaymentEvent.to_status == "executed", PaymentEvent.from_status != "executed")).scalars()}


def check_property_5(ws, clock, step: str) -> None:  # noqa: ANN001
    """Nothing executes before its date or its approval; after a tick no due approved payment is
    left waiting: each executed, or failed because the funds were not there."""
    today = clock.now.date()
    with ws.db.unit_of_work(write=False) as uow:
        executed = _executions(uow)
        requests = {r.id: r for r in uow.execute(select(ApprovalRequest)).scalars()}
        for p in uow.execute(select(Payment)).scalars():
            e = executed.get(p.id)
            if e is None:
                assert p.status not in ("executed", "reversed") and p.executed_at is None, p.id
            else:
                assert e.from_status in ("approved", "scheduled"), (p.id, e.from_status)
                assert p.execution_date <= e.at.date() and p.executed_at == e.at
                req = requests.get(p.approval_request_id)
                assert req is not None and req.status == "approved" and req.decided_at <= e.at, p.id
            if step == "tick":
                if p.execution_date <= today:
                    assert p.status not in ("approved", "scheduled"), (p.id, p.status)
                if p.status == "failed":
                    assert "insufficient funds" in p.failure_reason, p.failure_reason


def check_property_6(ws) -> None:  # noqa: ANN001
    """booked − executed-not-yet-booked ≥ the account's minimum (a negative minimum = overdraft)
    on every account a payment was ever executed from. (An account may start below its minimum;
    then nothing executes until money arrives, and after any execution the bound holds: only
    executions lower it, and each must leave it met.)"""
    with ws.db.unit_of_work(write=False) as uow:
        ledger = dict(uow.execute(select(Transaction.account_id, func.sum(Transaction.amount_minor))
                                  .group_by(Transaction.account_id)).all())
        on_statement = set(uow.execute(select(Transaction.account_id, Transaction.end_to_end_id).where(
            Transaction.end_to_end_id.is_not(None))).all())
        unbooked: dict[int, int] = {}
        used = set()
        for p in uow.execute(select(Payment).where(Payment.executed_at.is_not(None))).scalars():
            used.add(p.debit_account_id)
            if p.status == "executed" and (p.debit_account_id, p.end_to_end_id) not in on_statement:
                unbooked[p.debit_account_id] = unbooked.get(p.debit_account_id, 0) + p.amount_minor
        for account in uow.execute(select(Account).where(Account.id.in_(used))).scalars():
            booked = account.opening_balance_minor + int(ledger.get(account.id) or 0)
            left = booked - unbooked.get(account.id, 0)
            assert left >= account.min_balance_minor, (account.name, booked, left, account.min_balance_minor)


def check_property_7(ws) -> None:  # noqa: ANN001
    """Every executed payment has at least the distinct approvals its policy requires (seeded
    policy: 1, from 100,000 EUR 2; plus one per extra reason), none by its requester, each by a
    holder of payments.approve, all before the execution."""
    with ws.db.unit_of_work(write=False) as uow:
        executed = _executions(uow)
        approve_roles = {r for r in ("admin", "treasurer", "approver", "analyst", "auditor", "viewer")
                         if Permission.PAYMENTS_APPROVE in role_permissions(uow, r)}
        roles = dict(uow.execute(select(User.username, User.role)).all())
        decisions: dict[int, list[ApprovalDecision]] = {}
        for d in uow.execute(select(ApprovalDecision).where(ApprovalDecision.decision == "approve")).scalars():
            decisions.setdefault(d.request_id, []).append(d)
        for p in uow.execute(select(Payment).where(Payment.id.in_(list(executed)))).scalars():
            policy = 2 if p.amount_minor >= 100_000_00 else 1
            reasons = json.loads(p.approval_reasons)
            assert p.required_approvals == policy + len(reasons) - 1 >= policy, (p.id, reasons)
            given_ = decisions.get(p.approval_request_id, [])
            approvers = {d.approver for d in given_}
            assert len(approvers) == len(given_) >= p.required_approvals, (p.id, approvers)
            assert p.requested_by not in approvers, (p.id, approvers)
            assert all(d.decided_at <= executed[p.id].at for d in given_)
            assert all(roles[who] in approve_roles for who in approvers)


def _sequence(ws, clock, start, data, check) -> None:  # noqa: ANN001
    """Draw the steps one at a time (a drawn list tends to repeat one step over and over)."""
    accounts = _prepare(ws, start)
    mine: list[int] = []
    booked: set[int] = set()
    for _ in range(data.draw(st.integers(4, 25), label="steps")):
        step = _run(ws, clock, data.draw(op), accounts, mine, booked)
        check(step)


@settings(max_examples=100, deadline=None)
@given(start=setup, data=st.data())
def test_property_5_transaction_execution_timing(ws, clock, start, data):
    _sequence(ws, clock, start, data, lambda step: check_property_5(ws, clock, step))


@settings(max_examples=100, deadline=None)
@given(start=setup, data=st.data())
def test_property_6_funds_verification(ws, clock, start, data):
    _sequence(ws, clock, start, data, lambda step: check_property_6(ws))


@settings(max_examples=100, deadline=None)
@given(start=setup, data=st.data())
def test_property_7_approval_enforcement(ws, clock, start, data):
    _sequence(ws, clock, start, data, lambda step: check_property_7(ws))


def test_the_generators_reach_every_outcome(ws, clock):
    """A fixed walk through the same driver: executions, failures, reversals and bookings all
    happen, so the properties above are not vacuous."""
    accounts = _prepare(ws, (10_000_00, 0, 0, 0, None))
    mine: list[int] = []
    booked: set[int] = set()
    steps = [("schedule", 0, 2_000_00, 0, 0, False, "external"),   # known beneficiary: 1 approval
             ("approve", "treasurer", 0.0),                           # self-approval: refused
             ("approve", "approver", 0.0),
             ("execute_due", "treasurer"),                           # executes
             ("schedule", 0, 9_000_00, 0, 2, False, "external"),   # new beneficiary: 2 approvals
             ("approve", "approver", 0.99), ("approve", "auditor", 0.99),
             ("execute_due", "treasurer"),                           # 8,000 left: fails
             ("book", 0.0), ("rollback", 0.0), ("execute_due", "treasurer")]
    outcomes = [_run(ws, clock, s, accounts, mine, booked) for s in steps]
    assert outcomes[1] == "refused" and outcomes[3] == outcomes[7] == "tick"
    statuses = [ws.payments.get_payment(pid).status for pid in mine]
    assert statuses == ["reversed", "failed"]
    check_property_5(ws, clock, "tick")
    check_property_6(ws)
    check_property_7(ws)
