"""Payments end to end over a real SQLCipher file: scheduling, approvals (policy, extras, expiry),
execution and the due-payment tick, funds, bookings, rollback, batches, pain.001 export, the
scheduler job and the CLI."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cio_desktop.domain.payments import ControlRefused, DuplicatePaymentSuspected, IllegalTransition
from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import (ApprovalRequired, CioError, ComplianceViolation, InsufficientFunds,
                                MfaRequired, PermissionDenied, ValidationError)
from cio_desktop.security.permissions import Permission
from cio_desktop.services.approvals import ApprovalExpired
from cio_desktop.services.payments import BatchFailed, add_beneficiary
from cio_desktop.storage.models import (ApprovalRequest, AuditEntry, Beneficiary, ImportBatch, Payment,
                                        PaymentEvent, PaymentReversal, Transaction)
from tests.property.helpers import make_session

BENEFICIARY_IBAN = "DE89370400440532013000"
OTHER_IBAN = "FR7630006000011234567890189"
_numbers = iter(range(10**6))


def iban_for(n: int) -> str:
    """A valid German IBAN, unique per n."""
    bban = f"50010517{n:010d}"
    digits = "".join(str(int(ch, 36)) for ch in bban + "DE00")
    return f"DE{98 - int(digits) % 97:02d}{bban}"


def open_account(ws, *, opening: str = "100000", minimum: str = "1000", currency: str = "EUR",  # noqa: ANN001
                 name: str = "Operating"):  # noqa: ANN201
    make_session(ws, "treasurer")
    n = next(_numbers)
    return ws.accounts.create_account(name=f"{name} {n}", institution="Test Bank", number=iban_for(900000 + n),
                                      currency=currency, bic="COBADEFFXXX", min_balance=minimum,
                                      opening_balance=opening)


def known_beneficiary(ws, iban: str = BENEFICIARY_IBAN, name: str = "ACME GmbH") -> None:  # noqa: ANN001
    """A beneficiary paid before (so no 'new beneficiary' extra approval)."""
    with ws.db.unit_of_work() as uow:
        add_beneficiary(uow, ws.ctx, name=name, account=iban, first_used_on=date(2025, 1, 2), actor="test")


def schedule(ws, account_id: int, amount: str = "1000.00", when: date | None = None,  # noqa: ANN001
             iban: str = BENEFICIARY_IBAN, name: str = "ACME GmbH", **kw):  # noqa: ANN003, ANN201
    make_session(ws, "treasurer")
    return ws.payments.schedule_transaction(account_id=account_id, beneficiary_name=name,
                                            beneficiary_account=iban, amount=amount,
                                            execution_date=when or ws.ctx.now().date(), **kw)


def approve(ws, payment_id: int, *approvers: str):  # noqa: ANN001, ANN201
    view = None
    for who in approvers or ("approver",):
        make_session(ws, who)
        view = ws.payments.approve(payment_id, "ok")
    return view


def grant_approvers(ws, *roles: str) -> None:  # noqa: ANN001
    make_session(ws, "admin")
    for role in roles or ("auditor",):
        ws.users.set_role_permission(role, Permission.PAYMENTS_APPROVE.value, True)


def audit(ws, action: str | None = None, entity_id: object | None = None) -> list[AuditEntry]:  # noqa: ANN001
    q = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        q = q.where(AuditEntry.action == action)
    if entity_id is not None:
        q = q.where(AuditEntry.entity == "payment", AuditEntry.entity_id == str(entity_id))
    with ws.db.unit_of_work(write=False) as uow:
        return list(uow.execute(q).scalars())


def count(ws, model, *where) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def events(ws, payment_id: int) -> list[tuple[str, str]]:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return [(e.from_status, e.to_status) for e in uow.execute(
            select(PaymentEvent).where(PaymentEvent.payment_id == payment_id).order_by(PaymentEvent.id)).scalars()]


def book(ws, account_id: int, amount: str, on: date, e2e: str = "", ref: str | None = None) -> None:  # noqa: ANN001
    """The bank's statement arrives: one line, stored through the import pipeline (``ingest``)."""
    from cio_desktop.services.statement_import import FileImportResult, ingest

    make_session(ws, "treasurer")
    line = StatementLine(booking_date=on, amount=Decimal(amount), currency="EUR", value_date=on,
                         counterparty="ACME GmbH", reference=ref or f"BANKREF{next(_numbers)}",
                         end_to_end_id=e2e, description="SEPA CREDIT TRANSFER")
    with ws.db.unit_of_work() as uow:
        batch = ImportBatch(source="test", kind="file", format="camt053", actor="test", imported_at=ws.ctx.now())
        uow.add(batch)
        uow.flush()
        ingest(ws.ctx, uow, [Statement(account="", currency="EUR", lines=[line])], batch,
               FileImportResult(file="test", format="camt053"), account_id=account_id)


# -- the happy path and the status machine ---------------------------------------------------------
def test_schedule_approve_execute_with_history_audit_and_events(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    seen = []
    ws.ctx.bus.subscribe("payments.changed", lambda e: seen.append(e.data))
    result = schedule(ws, account.id, "1250.00", purpose="Invoice 4711")
    p = result.payment
    assert (p.status, p.required_approvals, p.approvals) == ("pending_approval", 1, ())
    assert p.approval_reasons == ("policy for 1,250.00 EUR: 1 approval",)
    assert p.beneficiary_account_masked == "DE89 **** **** **** 3000" and p.country == "DE"
    assert p.end_to_end_id == f"CIO-{clock.now:%Y%m%d}-{p.id:08d}" and len(p.end_to_end_id) <= 35
    assert result.warnings == ()
    v = approve(ws, p.id)
    assert (v.status, v.approvals, v.approval_status) == ("approved", ("approver",), "approved")
    make_session(ws, "treasurer")
    report = ws.payments.execute_due()
    assert report.executed == [p.id] and report.failed == []
    v = ws.payments.get_payment(p.id)
    assert v.status == "executed" and v.executed_at == clock.now and not v.booked
    assert events(ws, p.id) == [("", "draft"), ("draft", "pending_approval"), ("pending_approval", "approved"),
                                ("approved", "executed")]
    actions = [e.action for e in audit(ws, entity_id=p.id)]
    assert actions == ["payment.created", "approval.requested", "payment.submitted", "approval.approved",
                       "payment.approved", "payment.executed"]
    assert {d["action"] for d in seen} >= {"created", "pending_approval", "approved", "executed"}
    history = ws.payments.history(p.id)
    assert history[-1].actor == "treasurer" and "executed from" in history[-1].note
    assert ws.payments.status_counts()["executed"] == 1


def test_future_payment_is_scheduled_and_runs_on_its_date_only(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    p = schedule(ws, account.id, "500.00", clock.now.date() + timedelta(days=2)).payment
    assert approve(ws, p.id).status == "scheduled"
    make_session(ws, "treasurer")
    with pytest.raises(ControlRefused, match="nothing executes before its execution date"):
        ws.payments.execute_transaction(p.id)
    assert ws.payments.execute_due().executed == []
    clock.advance(days=1)
    make_session(ws, "treasurer")
    assert ws.payments.execute_due().executed == []
    clock.advance(days=1)
    make_session(ws, "treasurer")
    assert ws.payments.execute_due().executed == [p.id]
    assert [t for _, t in events(ws, p.id)][-3:] == ["approved", "scheduled", "executed"]


def test_no_approval_path_goes_straight_to_approved_or_scheduled(ws, clock):
    a, b = open_account(ws), open_account(ws)
    make_session(ws, "admin")
    ws.approvals.set_policy_rule("EUR", "0", 0, kind="internal")
    ws.approvals.set_policy_rule("EUR", "100000", 2, kind="internal")
    make_session(ws, "treasurer")
    now = ws.payments.schedule_transfer(account_id=a.id, to_account_id=b.id, amount="2500",
                                        execution_date=clock.now.date()).payment
    later = ws.payments.schedule_transfer(account_id=a.id, to_account_id=b.id, amount="300",
                                          execution_date=clock.now.date() + timedelta(days=1)).payment
    assert (now.status, now.required_approvals, now.approval_request_id) == ("approved", 0, None)
    assert later.status == "scheduled" and later.kind == "internal" and later.credit_account_id == b.id
    assert ws.payments.execute_transaction(now.id).status == "executed"
    big = ws.payments.schedule_transfer(account_id=a.id, to_account_id=b.id, amount="100000",
                                        execution_date=clock.now.date()).payment
    assert big.status == "pending_approval" and big.required_approvals == 2
    with pytest.raises(ValidationError, match="one currency"):
        ws.payments.schedule_transfer(account_id=a.id, to_account_id=open_account(ws, currency="USD").id,
                                      amount="1", execution_date=clock.now.date())


def test_drafts_are_submitted_by_their_creator_only(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    p = schedule(ws, account.id, submit=False).payment
    assert p.status == "draft" and p.approval_request_id is None
    make_session(ws, "treasurer")
    assert ws.payments.submit(p.id).status == "pending_approval"
    with pytest.raises(IllegalTransition, match="is pending_approval and cannot become pending_approval"):
        ws.payments.submit(p.id)


# -- bad input: one clear sentence, audited, nothing written -----------------------------------------------
BAD_INPUTS = [
    ({"iban": "DE89370400440532013001"}, "IBAN", "fails its check digits"),
    ({"iban": "XX12345"}, "IBAN", "not a country that issues IBANs"),
    ({"beneficiary_bic": "DEUT"}, "BIC", "a BIC has 8 or 11"),
    ({"amount": "0"}, "amount", "more than zero"),
    ({"amount": "-10.00"}, "amount", "more than zero"),
    ({"amount": "10.001"}, "amount", "more than 2 decimal places"),
    ({"amount": "ten"}, "amount", "is not an amount"),
    ({"when": date(2026, 11, 1)}, "execution date", "is in the past"),
    ({"account_id": 999}, "account", "there is no account 999"),
    ({"currency": "USD"}, "currency", "must be in EUR, not USD"),
    ({"name": " "}, "beneficiary name", "missing"),
    ({"name": "Ωmega Ltd"}, "beneficiary name", "Latin letters"),
    ({"iban": "123456789"}, "BIC", "needs the bank's BIC"),
    ({"purpose": "x" * 141}, "purpose", "at most 140"),
]


@pytest.mark.parametrize("bad, field, text", BAD_INPUTS, ids=[t for _, _, t in BAD_INPUTS])
def test_bad_input_is_refused_audited_and_writes_nothing(ws, clock, bad, field, text):
    account = open_account(ws)
    args = {"account_id": account.id, "amount": "100.00", "when": clock.now.date(), "iban": BENEFICIARY_IBAN,
            "name": "ACME GmbH"}
    args.update(bad)
    account_id = args.pop("account_id")
    before = (count(ws, Payment), count(ws, Beneficiary), count(ws, ApprovalRequest))
    with pytest.raises(ValidationError) as err:
        schedule(ws, account_id, args.pop("amount"), args.pop("when"), args.pop("iban"), args.pop("name"), **args)
    message = str(err.value)
    assert text in message and err.value.field == field and "\n" not in message
    assert BENEFICIARY_IBAN not in message and "DE89370400440532013001" not in message  # masked only
    assert (count(ws, Payment), count(ws, Beneficiary), count(ws, ApprovalRequest)) == before
    refusal = audit(ws, "payment.refused")[-1]
    summary = json.loads(refusal.summary)["after"]
    assert summary["operation"] == "schedule a payment" and summary["control"] == field
    assert summary["reason"] == message


def test_insufficient_funds_blocks_execution_naming_available_and_required(ws, clock):
    account = open_account(ws, opening="10000", minimum="1000")
    known_beneficiary(ws)
    p = schedule(ws, account.id, "9500.00").payment
    assert approve(ws, p.id).status == "approved"
    make_session(ws, "treasurer")
    with pytest.raises(InsufficientFunds) as err:
        ws.payments.execute_transaction(p.id)
    message = str(err.value)
    assert "available 9,000.00 EUR, required 9,500.00 EUR" in message and "\n" not in message
    assert ws.payments.get_payment(p.id).status == "approved"      # refused: unchanged
    assert count(ws, PaymentEvent, PaymentEvent.to_status == "executed") == 0
    assert json.loads(audit(ws, "payment.refused")[-1].summary)["after"]["error"] == "InsufficientFunds"
    # the tick fails it, with the same reason
    report = ws.payments.execute_due()
    assert report.executed == [] and [pid for pid, _ in report.failed] == [p.id]
    v = ws.payments.get_payment(p.id)
    assert v.status == "failed" and "insufficient funds" in v.failure_reason
    assert len(audit(ws, "payment.failed", p.id)) == 1


def test_missing_approval_blocks_execution(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    p = schedule(ws, account.id).payment
    make_session(ws, "treasurer")
    with pytest.raises(ApprovalRequired, match="cannot execute before 1 required approval"):
        ws.payments.execute_transaction(p.id)
    assert ws.payments.execute_due().executed == []
    assert ws.payments.get_payment(p.id).status == "pending_approval"
    assert json.loads(audit(ws, "payment.refused")[-1].summary)["after"]["error"] == "ApprovalRequired"


def test_self_approval_is_refused_and_audited(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    grant_approvers(ws, "treasurer")
    p = schedule(ws, account.id).payment
    make_session(ws, "treasurer")
    with pytest.raises(PermissionDenied, match="treasurer requested this and cannot approve it"):
        ws.payments.approve(p.id)
    assert ws.payments.get_payment(p.id).status == "pending_approval"
    assert len(audit(ws, "approval.self_refused")) == 1
    make_session(ws, "viewer")
    with pytest.raises(PermissionDenied, match="payments.approve"):
        ws.payments.approve(p.id)
    make_session(ws, "approver", mfa_age_seconds=None)
    with pytest.raises(MfaRequired):
        ws.payments.approve(p.id)


def test_two_approvals_need_two_distinct_approvers(ws, clock):
    account = open_account(ws, opening="500000")
    known_beneficiary(ws)
    grant_approvers(ws, "auditor")
    p = schedule(ws, account.id, "150000.00").payment
    assert p.required_approvals == 2
    assert approve(ws, p.id, "approver").status == "pending_approval"
    make_session(ws, "approver")
    with pytest.raises(ValidationError, match="already decided"):
        ws.payments.approve(p.id)
    assert approve(ws, p.id, "auditor").status == "approved"
    assert ws.payments.get_payment(p.id).approvals == ("approver", "auditor")


def test_rejection_needs_a_reason_and_ends_the_payment(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    p = schedule(ws, account.id).payment
    make_session(ws, "approver")
    with pytest.raises(ValidationError, match="say why you reject it"):
        ws.payments.reject(p.id, " ")
    v = ws.payments.reject(p.id, "wrong invoice")
    assert v.status == "rejected" and v.failure_reason == "wrong invoice"
    with pytest.raises(ValidationError, match="only a payment pending approval"):
        ws.payments.approve(p.id)


def test_approving_through_the_approvals_service_moves_the_payment_too(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    p = schedule(ws, account.id).payment
    make_session(ws, "approver")
    assert ws.approvals.pending()[0].expires_at == p.created_at + timedelta(days=5)
    ws.approvals.approve(p.approval_request_id)
    assert ws.payments.get_payment(p.id).status == "approved"


def test_expired_approval_cannot_be_used(ws, clock):
    account = open_account(ws, opening="500000")
    known_beneficiary(ws)
    grant_approvers(ws, "auditor")
    p = schedule(ws, account.id, "200000.00").payment
    approve(ws, p.id, "approver")
    clock.advance(days=5, seconds=1)
    make_session(ws, "auditor")
    with pytest.raises(ApprovalExpired, match="expired.*requests expire after 5 days.*submit the payment again"):
        ws.payments.approve(p.id)
    v = ws.payments.get_payment(p.id)
    assert (v.status, v.approval_status) == ("rejected", "expired") and "expired" in v.failure_reason
    assert len(audit(ws, "approval.expired")) == 1 and len(audit(ws, "payment.expired", p.id)) == 1
    make_session(ws, "treasurer")
    assert ws.payments.execute_due().executed == []


def test_the_tick_expires_stale_requests_and_expiry_is_configurable(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    make_session(ws, "admin")
    assert ws.approvals.expiry_days() == 5
    ws.approvals.set_expiry_days(2)
    p = schedule(ws, account.id).payment
    clock.advance(days=2, seconds=1)
    make_session(ws, "treasurer")
    report = ws.payments.execute_due()
    assert report.expired_requests == [p.approval_request_id]
    assert ws.payments.get_payment(p.id).status == "rejected"


def test_new_beneficiary_needs_one_more_approval_until_first_paid(ws, clock):
    account = open_account(ws)
    grant_approvers(ws, "auditor")
    p = schedule(ws, account.id, "100.00").payment
    assert p.required_approvals == 2 and "new beneficiary" in p.approval_reasons[1]
    assert approve(ws, p.id, "approver").status == "pending_approval"
    assert approve(ws, p.id, "auditor").status == "approved"
    make_session(ws, "treasurer")
    ws.payments.execute_transaction(p.id)
    b = ws.payments.list_beneficiaries()[0]
    assert b.first_used_on == clock.now.date() and not b.is_new
    assert schedule(ws, account.id, "200.00").payment.required_approvals == 1


def test_daily_limit_adds_an_approval(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    known_beneficiary(ws, OTHER_IBAN, "Lyon Acier SA")
    make_session(ws, "admin")
    ws.payments.set_daily_limit("treasurer", "EUR", "5000")
    assert [(d.username, d.limit.format()) for d in ws.payments.daily_limits()] == [("treasurer", "5,000.00 EUR")]
    assert schedule(ws, account.id, "3000.00").payment.required_approvals == 1
    second = schedule(ws, account.id, "3000.00", iban=OTHER_IBAN, name="Lyon Acier SA").payment
    assert second.required_approvals == 2
    assert "daily limit of 5,000.00 EUR (6,000.00 EUR today" in second.approval_reasons[-1]
    clock.advance(days=1)
    assert schedule(ws, account.id, "3000.00", iban=OTHER_IBAN, name="Lyon Acier SA",
                    confirm_duplicate=True).payment.required_approvals == 1


def test_duplicate_warning_must_be_confirmed(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    first = schedule(ws, account.id, "777.00").payment
    before = count(ws, Payment)
    with pytest.raises(DuplicatePaymentSuspected) as err:
        schedule(ws, account.id, "777.00", clock.now.date() + timedelta(days=3))
    assert isinstance(err.value, ComplianceViolation) and err.value.duplicates == (first.id,)
    assert str(err.value).startswith("blocked by compliance rule 'duplicate payment': payment ")
    assert "confirm it is not a duplicate" in str(err.value)
    assert count(ws, Payment) == before
    assert json.loads(audit(ws, "payment.refused")[-1].summary)["after"]["control"] == "duplicate payment"
    second = schedule(ws, account.id, "777.00", clock.now.date() + timedelta(days=3), confirm_duplicate=True).payment
    submitted = json.loads(audit(ws, "payment.submitted", second.id)[0].summary)["after"]
    assert submitted["duplicate_confirmed"] == [first.id]
    assert schedule(ws, account.id, "777.00", clock.now.date() + timedelta(days=30)).payment  # outside the window


def test_blocked_country_refuses_at_submission_and_at_execution(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws, OTHER_IBAN, "Lyon Acier SA")
    p = schedule(ws, account.id, "100.00", iban=OTHER_IBAN, name="Lyon Acier SA").payment
    approve(ws, p.id)
    make_session(ws, "admin")
    assert ws.payments.blocked_countries() == []
    ws.payments.block_country("fr", "test sanctions list")
    with pytest.raises(ControlRefused, match=r"'blocked country': payment \d+ goes to FR, and payments to FR are "
                                             r"blocked \(test sanctions list\)"):
        schedule(ws, account.id, "200.00", iban=OTHER_IBAN, name="Lyon Acier SA")
    assert json.loads(audit(ws, "payment.refused")[-1].summary)["after"]["control"] == "blocked country"
    make_session(ws, "treasurer")
    report = ws.payments.execute_due()
    assert report.failed and report.failed[0][0] == p.id and "blocked country" in report.failed[0][1]
    make_session(ws, "admin")
    ws.payments.unblock_country("FR")
    assert schedule(ws, account.id, "200.00", iban=OTHER_IBAN, name="Lyon Acier SA").payment.status == \
        "pending_approval"


# -- funds and bookings ------------------------------------------------------------------------------------
def test_verify_funds_figures_and_the_overdraft_convention(ws, clock):
    account = open_account(ws, opening="10000", minimum="-2000")   # a 2,000 overdraft line
    known_beneficiary(ws)
    known_beneficiary(ws, OTHER_IBAN, "Lyon Acier SA")
    today = clock.now.date()
    executed = schedule(ws, account.id, "3000.00").payment
    approve(ws, executed.id)
    make_session(ws, "treasurer")
    ws.payments.execute_transaction(executed.id)
    due_today = schedule(ws, account.id, "1000.00", iban=OTHER_IBAN, name="Lyon Acier SA").payment
    later = schedule(ws, account.id, "500.00", today + timedelta(days=3), iban=OTHER_IBAN,
                     name="Lyon Acier SA").payment
    approve(ws, due_today.id)
    approve(ws, later.id)
    make_session(ws, "analyst")
    f = ws.payments.verify_funds(account.id, "100", today)
    assert (f.booked.amount, f.executed_unbooked.amount, f.committed.amount, f.min_balance.amount) == \
        (Decimal("10000.00"), Decimal("3000.00"), Decimal("1000.00"), Decimal("-2000.00"))
    assert f.overdraft.amount == 2000 and f.available.amount == Decimal("8000.00") and f.sufficient
    f3 = ws.payments.verify_funds(account.id, "8000", today + timedelta(days=3))
    assert f3.committed.amount == 1500 and f3.available.amount == Decimal("7500.00") and not f3.sufficient
    assert f3.shortfall.amount == 500 and "available 7,500.00 EUR, required 8,000.00 EUR" in f3.sentence()
    excl = ws.payments.verify_funds(account.id, "1", today, exclude_payment_id=due_today.id)
    assert excl.committed.amount == 0


def test_bank_booking_is_matched_by_end_to_end_id_then_amount_and_date(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    known_beneficiary(ws, OTHER_IBAN, "Lyon Acier SA")
    a = schedule(ws, account.id, "1200.00").payment
    b = schedule(ws, account.id, "800.00", iban=OTHER_IBAN, name="Lyon Acier SA").payment
    for p in (a, b):
        approve(ws, p.id)
    make_session(ws, "treasurer")
    ws.payments.execute_due()
    before = ws.payments.verify_funds(account.id)
    assert before.executed_unbooked.amount == 2000
    book(ws, account.id, "-1200.00", clock.now.date() + timedelta(days=1), e2e=a.end_to_end_id)
    book(ws, account.id, "-800.00", clock.now.date() + timedelta(days=2))          # no id: amount and date
    after = ws.payments.verify_funds(account.id)
    assert after.executed_unbooked.amount == 0 and after.booked.amount == before.booked.amount - 2000
    assert after.available == before.available  # booking moves money between the terms, not out
    make_session(ws, "treasurer")
    assert sorted(ws.payments.execute_due().booked) == [a.id, b.id]
    with ws.db.unit_of_work(write=False) as uow:
        line = uow.get(Transaction, ws.payments.get_payment(a.id).booked_transaction_id)
        assert line.end_to_end_id == a.end_to_end_id
    assert "matched by end-to-end id" in ws.payments.history(a.id)[-1].note
    assert "matched by amount and date" in ws.payments.history(b.id)[-1].note
    assert len(audit(ws, "payment.booked")) == 2


# -- rollback ----------------------------------------------------------------------------------------------
def test_rollback_before_execution_cancels_and_withdraws_the_request(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    p = schedule(ws, account.id).payment
    make_session(ws, "treasurer")
    with pytest.raises(ValidationError, match="say why"):
        ws.payments.rollback_transaction(p.id, "")
    v = ws.payments.rollback_transaction(p.id, "wrong supplier")
    assert (v.status, v.approval_status) == ("cancelled", "withdrawn")
    assert [e.action for e in audit(ws, entity_id=p.id)][-2:] == ["approval.withdrawn", "payment.cancelled"]
    with pytest.raises(ValidationError, match="cancelled: there is nothing to roll back"):
        ws.payments.rollback_transaction(p.id, "again")
    make_session(ws, "approver")
    with pytest.raises(ValidationError, match="already withdrawn|only a payment pending approval"):
        ws.payments.approve(p.id)


def test_rollback_after_execution_reverses_unbooked_and_booked(ws, clock):
    account = open_account(ws, opening="10000", minimum="0")
    known_beneficiary(ws)
    known_beneficiary(ws, OTHER_IBAN, "Lyon Acier SA")
    unbooked = schedule(ws, account.id, "1000.00").payment
    booked = schedule(ws, account.id, "2000.00", iban=OTHER_IBAN, name="Lyon Acier SA").payment
    for p in (unbooked, booked):
        approve(ws, p.id)
    make_session(ws, "treasurer")
    ws.payments.execute_due()
    book(ws, account.id, "-2000.00", clock.now.date(), e2e=booked.end_to_end_id)
    make_session(ws, "treasurer")
    assert ws.payments.verify_funds(account.id).available.amount == 7000
    with pytest.raises(ValidationError, match="roll it back to post a reversal"):
        ws.payments.cancel_transaction(unbooked.id, "no")
    make_session(ws, "treasurer", mfa_age_seconds=None)
    with pytest.raises(MfaRequired, match="reverse an executed payment"):
        ws.payments.rollback_transaction(unbooked.id, "duplicate")
    make_session(ws, "treasurer")
    v1 = ws.payments.rollback_transaction(unbooked.id, "duplicate")
    v2 = ws.payments.rollback_transaction(booked.id, "wrong amount")
    assert v1.status == v2.status == "reversed"
    with ws.db.unit_of_work(write=False) as uow:
        rev = {r.payment_id: r for r in uow.execute(select(PaymentReversal)).scalars()}
        assert not rev[unbooked.id].was_booked and rev[unbooked.id].transaction_id is None
        line = uow.get(Transaction, rev[booked.id].transaction_id)
        assert (line.source, line.amount_minor, line.account_id) == ("reversal", 200000, account.id)
    f = ws.payments.verify_funds(account.id)
    assert f.available.amount == 10000 and f.executed_unbooked.amount == 0   # fully offset
    assert events(ws, booked.id)[-1] == ("executed", "reversed")
    assert count(ws, Payment) == 2 and count(ws, PaymentEvent, PaymentEvent.payment_id == booked.id) >= 5
    assert len(audit(ws, "payment.reversed")) == 2


def test_batch_is_all_or_nothing(ws, clock):
    account = open_account(ws, opening="10000", minimum="0")
    known_beneficiary(ws)
    known_beneficiary(ws, OTHER_IBAN, "Lyon Acier SA")
    ok = schedule(ws, account.id, "4000.00", batch="RUN-1").payment
    too_much = schedule(ws, account.id, "7000.00", iban=OTHER_IBAN, name="Lyon Acier SA", batch="RUN-1").payment
    for p in (ok, too_much):
        approve(ws, p.id)
    make_session(ws, "treasurer")
    with pytest.raises(BatchFailed, match="batch RUN-1 rolled back, nothing executed: payment .*insufficient"):
        ws.payments.execute_batch("RUN-1")
    assert {v.status for v in ws.payments.list_payments(batch="RUN-1")} == {"approved"}
    assert count(ws, PaymentEvent, PaymentEvent.to_status == "executed") == 0
    report = ws.payments.execute_due()
    assert report.executed == [] and sorted(pid for pid, _ in report.failed) == [ok.id, too_much.id]
    assert all("batch RUN-1 rolled back" in reason for _, reason in report.failed)
    a = schedule(ws, account.id, "4000.00", batch="RUN-2", confirm_duplicate=True).payment
    b = schedule(ws, account.id, "5000.00", batch="RUN-2").payment
    approve(ws, a.id)
    make_session(ws, "treasurer")
    with pytest.raises(BatchFailed, match="pending approval, not approved"):
        ws.payments.execute_batch("RUN-2")
    approve(ws, b.id)
    make_session(ws, "treasurer")
    assert [v.status for v in ws.payments.execute_batch("RUN-2")] == ["executed", "executed"]


def test_execution_is_idempotent(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    p = schedule(ws, account.id).payment
    approve(ws, p.id)
    make_session(ws, "treasurer")
    first = ws.payments.execute_transaction(p.id)
    again = ws.payments.execute_transaction(p.id)
    assert first.status == again.status == "executed" and first.version == again.version
    assert ws.payments.execute_due().executed == []
    assert len(audit(ws, "payment.executed", p.id)) == 1


def test_policy_raised_after_approval_blocks_execution(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    p = schedule(ws, account.id, "5000.00").payment
    approve(ws, p.id)
    make_session(ws, "admin")
    ws.approvals.set_policy_rule("EUR", "1000", 2)
    assert ws.approvals.required_approvals("EUR", "5000") == 2
    make_session(ws, "treasurer")
    with pytest.raises(ApprovalRequired, match="needs 2 distinct approver"):
        ws.payments.execute_transaction(p.id)


# -- payment files ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["09", "03"])
def test_export_pain001_validates_and_records_the_file(ws, clock, tmp_path, version):
    from cio_desktop.integrations.payment_files import validate_pain001

    account = open_account(ws)
    other = open_account(ws)
    known_beneficiary(ws)
    known_beneficiary(ws, OTHER_IBAN, "Lyon Acier SA")
    a = schedule(ws, account.id, "100.00", purpose="Invoice 1").payment
    b = schedule(ws, other.id, "250.50", clock.now.date() + timedelta(days=2), iban=OTHER_IBAN,
                 name="Lyon Acier SA").payment
    pending = schedule(ws, account.id, "99.00", iban=OTHER_IBAN, name="Lyon Acier SA").payment
    for p in (a, b):
        approve(ws, p.id)
    make_session(ws, "treasurer")
    out = tmp_path / f"run-{version}.xml"
    result = ws.payments.export_pain001(out, version=version)
    data = out.read_bytes()
    validate_pain001(data, version)
    assert set(result.payment_ids) == {a.id, b.id} and result.totals == {"EUR": "350.50 EUR"}
    assert data.count(b"<PmtInf>") == 2 and a.end_to_end_id.encode() in data
    assert BENEFICIARY_IBAN.encode() in data  # the file carries the full numbers; the database does not
    for pid in (a.id, b.id):
        v = ws.payments.get_payment(pid)
        assert v.file_path == str(out.resolve()) and v.exported_at == clock.now
        assert ws.payments.history(pid)[-1].note.startswith(f"exported to {out.name}")
        assert len(audit(ws, "payment.exported", pid)) == 1
    assert ws.payments.get_payment(pending.id).file_path == ""
    with pytest.raises(ValidationError, match="no approved payment is waiting for a payment file"):
        ws.payments.export_pain001(tmp_path / "again.xml")
    assert not (tmp_path / "again.xml").exists()


def test_export_refused_by_validation_records_nothing_and_writes_nothing(ws, clock, tmp_path):
    make_session(ws, "treasurer")
    plain = ws.accounts.create_account(name="Old style", institution="Bank", number="10050000/0123456789",
                                       currency="EUR", opening_balance="1000")
    known_beneficiary(ws)
    p = schedule(ws, plain.id, "10.00").payment
    approve(ws, p.id)
    make_session(ws, "treasurer")
    folder = tmp_path / "files"
    folder.mkdir()
    with pytest.raises(ValidationError, match="has no IBAN: it cannot be used in a pain.001 file"):
        ws.payments.export_pain001(folder / "x.xml")
    assert list(folder.iterdir()) == []
    assert ws.payments.get_payment(p.id).exported_at is None
    with pytest.raises(ValidationError, match="does not exist"):
        ws.payments.export_pain001(tmp_path / "missing" / "x.xml")


# -- the scheduler job -----------------------------------------------------------------------------------
def test_scheduler_payments_tick_waits_for_mfa_without_audit_noise(ws, clock):
    from cio_desktop.jobs.scheduler import BackgroundJobs

    account = open_account(ws)
    known_beneficiary(ws)
    p = schedule(ws, account.id).payment
    approve(ws, p.id)
    live = make_session(ws, "treasurer")
    jobs = BackgroundJobs(ws, live)
    clock.advance(minutes=10)                     # the MFA verification is no longer fresh
    waiting = []
    ws.ctx.bus.subscribe("payments.release_waiting", lambda e: waiting.append(e.data))
    before = count(ws, AuditEntry)
    assert jobs.payments_tick() is None and jobs.payments_tick() is None
    assert waiting == [{"due": 1, "reason": "mfa"}] and count(ws, AuditEntry) == before
    live.mfa_verified_at = clock.now              # the user enters a code in the window
    report = jobs.payments_tick()
    assert report.executed == [p.id]
    viewer = BackgroundJobs(ws, make_session(ws, "viewer"))
    assert viewer.payments_tick() is None
    live.ended = True
    assert jobs.payments_tick() is None           # logged out: the job stops, never raises


# -- the CLI --------------------------------------------------------------------------------------------
def test_cli_payments_new_approve_execute_export(tmp_path):
    from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET
    from tests.integration.test_cli import cli, otp

    db = str(tmp_path / "demo.db")
    r = cli(tmp_path, "demo", "--db", db, "--password-stdin", "--totp-secret", TEST_TOTP_SECRET,
            stdin=TEST_PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    as_user = lambda user, *args, code=None: cli(  # noqa: E731
        tmp_path, "--json", "payments", *args, "--db", db, "--user", user, "--password-stdin",
        *(["--otp", code] if code else []), stdin=TEST_PASSWORD + "\n")
    r = as_user("treasurer", "list", "--status", "approved")
    assert r.returncode == 0, r.stderr
    approved = json.loads(r.stdout)
    assert len(approved) == 3 and {p["status"] for p in approved} == {"approved"}
    account = next(p["debit_account_id"] for p in approved if p["currency"] == "EUR")
    today = datetime.now(timezone.utc).date().isoformat()  # the service's "today" is the UTC date
    r = as_user("treasurer", "new", "--account", str(account), "--to-name", "ACME GmbH", "--to-iban",
                "DE89 3704 0044 0532 0130 00", "--amount", "1234.56", "--date", today, "--purpose", "CLI test")
    assert r.returncode == 0, r.stderr
    new = json.loads(r.stdout)["payment"]
    assert new["status"] == "pending_approval" and new["amount"] == "1234.56" and new["required_approvals"] == 2
    # bad input: one line, exit 1
    r = cli(tmp_path, "payments", "new", "--account", str(account), "--to-name", "X", "--to-iban", "DE00123",
            "--amount", "1", "--date", today, "--db", db, "--user", "treasurer", "--password-stdin",
            stdin=TEST_PASSWORD + "\n")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "IBAN" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli(tmp_path, "payments", "new", "--account", str(account), "--to-name", "ACME GmbH", "--to-iban",
            "DE89370400440532013000", "--amount", "1234.56", "--date", today, "--db", db, "--user", "treasurer",
            "--password-stdin", stdin=TEST_PASSWORD + "\n")
    assert r.returncode == 1 and "'duplicate payment'" in r.stderr and "--confirm-duplicate" not in r.stderr
    # approving needs a fresh MFA: exit 5 without, 0 with; a rejection needs a reason
    r = as_user("approver", "approve", str(new["id"]))
    assert r.returncode == 5 and "two-factor" in r.stderr
    r = as_user("approver", "approve", str(new["id"]), code=otp())
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["approvals"] == ["approver"]
    r = as_user("treasurer", "approve", str(new["id"]))
    assert r.returncode == 4 and "payments.approve" in r.stderr
    r = as_user("approver", "approve", str(new["id"]), "--reject", code=otp(1))
    assert r.returncode == 1 and "say why" in r.stderr
    r = as_user("treasurer", "execute-due", code=otp())
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["executed"]) == 3
    out = tmp_path / "run.xml"
    r = as_user("treasurer", "export-pain001", "--out", str(out), "--version", "03", code=otp(1))
    assert r.returncode == 0, r.stderr   # the two scheduled (future) payments: the due ones executed above
    exported = json.loads(r.stdout)
    assert len(exported["payment_ids"]) == 2 and exported["path"] == str(out.resolve())
    from cio_desktop.integrations.payment_files import validate_pain001

    validate_pain001(out.read_bytes(), "03")
    r = as_user("auditor", "list")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 14
    r = cli(tmp_path, "payments", "list", "--db", db, "--user", "viewer", "--password-stdin",
            stdin=TEST_PASSWORD + "\n")
    assert r.returncode == 4 and "'payments.read' permission is missing" in r.stderr
    r = cli(tmp_path, "payments", "list", "--status", "paid", "--db", db, "--user", "treasurer",
            "--password-stdin", stdin=TEST_PASSWORD + "\n")
    assert r.returncode == 1 and "unknown payment status 'paid'" in r.stderr


@pytest.mark.sqlcipher_only  # the SQLCipher file/FTS itself; PostgreSQL has its own tests
def test_cli_export_writes_a_valid_file(tmp_path, golden_demo):
    """Against a copy of the golden demo: export the approved payments (then nothing is left)."""
    import shutil

    from cio_desktop.integrations.payment_files import validate_pain001

    from tests.conftest import TEST_PASSWORD
    from cio_desktop.services.workspace import open_workspace
    from tests.conftest import TEST_KEY, make_settings

    for suffix in ("", "-wal", "-shm"):
        if Path(str(golden_demo) + suffix).exists():
            shutil.copyfile(str(golden_demo) + suffix, str(tmp_path / "d.db") + suffix)
    ws = open_workspace(make_settings(tmp_path, "d.db"), key=TEST_KEY)
    try:
        make_session(ws, "treasurer")
        waiting = ws.payments.list_payments(status=["approved", "scheduled"])
        assert len(waiting) == 5
        result = ws.payments.export_pain001(tmp_path / "demo.xml")
        validate_pain001((tmp_path / "demo.xml").read_bytes(), "09")
        assert set(result.payment_ids) == {p.id for p in waiting}
        assert set(result.totals) == {"EUR", "GBP", "USD"}
    finally:
        ws.close()
    assert TEST_PASSWORD  # (the golden demo's users all share it)


def test_demo_has_payments_in_every_status_and_the_seeded_policy(demo_ws):
    make_session(demo_ws, "auditor")
    counts = demo_ws.payments.status_counts()
    assert all(n >= 1 for n in counts.values()), counts
    assert [(r.currency, r.min_amount.format(), r.required_approvals) for r in demo_ws.approvals.policy()] == [
        ("EUR", "0.00 EUR", 1), ("EUR", "100,000.00 EUR", 2), ("GBP", "0.00 GBP", 1), ("GBP", "100,000.00 GBP", 2),
        ("USD", "0.00 USD", 1), ("USD", "100,000.00 USD", 2)]
    payments = demo_ws.payments.list_payments()
    failed = next(p for p in payments if p.status == "failed")
    assert "blocked country" in failed.failure_reason
    assert any(p.kind == "internal" for p in payments)
    assert {b.is_new for b in demo_ws.payments.list_beneficiaries()} == {True, False}
    assert [c.country for c in demo_ws.payments.blocked_countries()] == ["BY"]
    for p in payments:  # property 7 holds in the demo too
        if p.status in ("executed", "reversed"):
            assert len(p.approvals) >= p.required_approvals and p.requested_by not in p.approvals


def test_cli_usage_without_action_prints_help(tmp_path):
    from tests.integration.test_cli import cli

    r = cli(tmp_path, "payments")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_refusals_never_leak_a_full_account_number(ws, clock):
    account = open_account(ws)
    known_beneficiary(ws)
    schedule(ws, account.id, "10.00")
    try:
        schedule(ws, account.id, "10.00")
    except CioError:
        pass
    with ws.db.unit_of_work(write=False) as uow:
        text = " ".join(uow.execute(select(AuditEntry.summary)).scalars())
        stored = " ".join(uow.execute(select(Payment.account_enc)).scalars())
    assert BENEFICIARY_IBAN not in text and BENEFICIARY_IBAN not in stored
