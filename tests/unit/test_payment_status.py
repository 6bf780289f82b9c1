"""The payment status machine and the pure payment controls (domain.payments)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from cio_desktop.domain import payments as dp
from cio_desktop.domain.money import Money
from cio_desktop.domain.payments import (IllegalTransition, LedgerLine, PaymentStatus as S, PolicyRule,
                                         RollbackKind, UnbookedPayment)
from cio_desktop.errors import ComplianceViolation, ValidationError

ALL = list(S)
LEGAL = {
    (S.DRAFT, S.PENDING_APPROVAL), (S.DRAFT, S.APPROVED), (S.DRAFT, S.CANCELLED),
    (S.PENDING_APPROVAL, S.APPROVED), (S.PENDING_APPROVAL, S.REJECTED), (S.PENDING_APPROVAL, S.CANCELLED),
    (S.APPROVED, S.SCHEDULED), (S.APPROVED, S.EXECUTED), (S.APPROVED, S.FAILED), (S.APPROVED, S.CANCELLED),
    (S.SCHEDULED, S.EXECUTED), (S.SCHEDULED, S.FAILED), (S.SCHEDULED, S.CANCELLED),
    (S.EXECUTED, S.REVERSED),
}


@pytest.mark.parametrize("current", ALL)
@pytest.mark.parametrize("target", ALL)
def test_every_pair_is_legal_exactly_as_the_machine_says(current, target):
    legal = (current, target) in LEGAL
    assert dp.can_transition(current.value, target.value) is legal
    if legal:
        assert dp.check_transition(current.value, target.value, 7) is target
    else:
        with pytest.raises(IllegalTransition) as err:
            dp.check_transition(current.value, target.value, 7)
        msg = str(err.value)
        assert f"payment 7 is {current.value} and cannot become {target.value}" in msg
        assert "\n" not in msg
        assert err.value.field == "status" and isinstance(err.value, ValidationError)


def test_final_states_say_they_are_final_and_others_say_what_is_allowed():
    with pytest.raises(IllegalTransition, match="cancelled is final"):
        dp.check_transition("cancelled", "executed", 3)
    with pytest.raises(IllegalTransition, match="it can only become approved, cancelled, rejected"):
        dp.check_transition("pending_approval", "executed", 3)


def test_nothing_reaches_executed_except_from_approved_or_scheduled():
    sources = {c for c, t in LEGAL if t is S.EXECUTED}
    assert sources == {S.APPROVED, S.SCHEDULED} == set(dp.EXECUTABLE)
    # and every path from draft to executed passes through approved
    paths, frontier = [], [[S.DRAFT]]
    while frontier:
        path = frontier.pop()
        for nxt in dp.TRANSITIONS[path[-1]]:
            if nxt in path:
                continue
            (paths if nxt is S.EXECUTED else frontier).append(path + [nxt])
    assert paths and all(S.APPROVED in p for p in paths)


def test_unknown_status_is_refused_clearly():
    with pytest.raises(ValidationError, match="unknown payment status 'paid'"):
        dp.parse_status("paid")
    assert not dp.can_transition("paid", "executed")


def test_status_after_approval_schedules_future_dates_only():
    today = date(2026, 11, 2)
    assert dp.status_after_approval(today, today) == [S.APPROVED]
    assert dp.status_after_approval(today - timedelta(days=1), today) == [S.APPROVED]
    assert dp.status_after_approval(today + timedelta(days=1), today) == [S.APPROVED, S.SCHEDULED]


# -- rollback scenarios ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["draft", "pending_approval", "approved", "scheduled"])
def test_rollback_before_execution_cancels(status):
    assert dp.rollback_kind(status, booked=False) is RollbackKind.CANCEL


def test_rollback_after_execution_reverses_booked_or_not():
    assert dp.rollback_kind("executed", booked=False) is RollbackKind.REVERSE_UNBOOKED
    assert dp.rollback_kind("executed", booked=True) is RollbackKind.REVERSE_BOOKED


@pytest.mark.parametrize("status", ["rejected", "cancelled", "failed", "reversed"])
def test_rollback_of_a_final_payment_is_refused(status):
    with pytest.raises(ValidationError, match=f"payment 4 is {status}: there is nothing to roll back"):
        dp.rollback_kind(status, booked=False, payment_id=4)


# -- input validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("amount, currency, minor", [
    ("1250.00", "EUR", 125000), (Decimal("0.01"), "eur", 1), (1500, "JPY", 1500), ("1.250", "BHD", 1250),
])
def test_valid_amounts(amount, currency, minor):
    assert dp.validate_amount(amount, currency) == (minor, currency.upper())


@pytest.mark.parametrize("amount, currency, text", [
    ("0", "EUR", "more than zero"), ("-5", "EUR", "more than zero"), ("1.005", "EUR", "more than 2 decimal places"),
    ("12.5", "JPY", "more than 0 decimal places"), ("abc", "EUR", "is not an amount"),
    (1.5, "EUR", "is not an amount"), (True, "EUR", "is not an amount"), ("10", "XYZ", "ISO 4217"),
    ("1e20", "EUR", "beyond any plausible"),
])
def test_invalid_amounts_say_why(amount, currency, text):
    with pytest.raises(ValidationError, match=text):
        dp.validate_amount(amount, currency)


def test_execution_date_rules():
    today = date(2026, 11, 2)
    assert dp.validate_execution_date("2026-11-02", today) == today
    with pytest.raises(ValidationError, match="2026-11-01 is in the past: the earliest execution date is today"):
        dp.validate_execution_date(date(2026, 11, 1), today)
    with pytest.raises(ValidationError, match="use YYYY-MM-DD"):
        dp.validate_execution_date("02.11.2026", today)
    with pytest.raises(ValidationError, match="more than a year ahead"):
        dp.validate_execution_date(today + timedelta(days=400), today)


@pytest.mark.parametrize("e2e, ok", [("CIO-20261102-00000001", True), ("A" * 35, True), ("A" * 36, False),
                                     ("/abc", False), ("a//b", False), ("ä-1", False), ("", False)])
def test_end_to_end_ids(e2e, ok):
    if ok:
        assert dp.validate_end_to_end_id(e2e) == e2e
    else:
        with pytest.raises(ValidationError, match="end-to-end id"):
            dp.validate_end_to_end_id(e2e)


# -- approval policy ---------------------------------------------------------------------------------
RULES = [PolicyRule("EUR", "any", 0, 1), PolicyRule("EUR", "any", 100_000_00, 2),
         PolicyRule("EUR", "internal", 0, 0), PolicyRule("USD", "any", 0, 1)]


@pytest.mark.parametrize("currency, kind, minor, expected", [
    ("EUR", "external", 1, 1), ("EUR", "external", 99_999_99, 1), ("EUR", "external", 100_000_00, 2),
    ("EUR", "internal", 50_00, 0), ("EUR", "internal", 100_000_00, 2), ("USD", "external", 10**12, 1),
    ("CHF", "external", 1, dp.DEFAULT_REQUIRED_APPROVALS),
])
def test_policy_picks_the_highest_threshold_not_above_the_amount(currency, kind, minor, expected):
    assert dp.policy_approvals(RULES, currency, kind, minor) == expected


def test_extra_approvals_add_up_with_reasons():
    amount = Money.of("5000", "EUR")
    plain = dp.approval_requirement(1, new_beneficiary=False, over_daily_limit=False, amount=amount)
    assert plain.required == 1 and len(plain.reasons) == 1
    both = dp.approval_requirement(1, new_beneficiary=True, over_daily_limit=True, amount=amount,
                                   daily_used=Money.of("60000", "EUR"), daily_limit=Money.of("50000", "EUR"))
    assert both.required == 3
    assert any("new beneficiary" in r for r in both.reasons)
    assert any("daily limit of 50,000.00 EUR (60,000.00 EUR today" in r for r in both.reasons)


# -- funds -------------------------------------------------------------------------------------------
def _f(booked, unbooked, committed, minimum, required) -> dp.FundsFigures:  # noqa: ANN001
    m = lambda v: Money.of(v, "EUR")  # noqa: E731
    return dp.FundsFigures(m(booked), m(unbooked), m(committed), m(minimum), m(required))


def test_available_is_booked_minus_unbooked_minus_committed_minus_minimum():
    f = _f("10000", "1000", "2000", "500", "6500")
    assert f.available == Money.of("6500", "EUR") and f.sufficient and f.shortfall.is_zero()
    assert not _f("10000", "1000", "2000", "500", "6500.01").sufficient
    assert _f("10000", "1000", "2000", "500", "7000").shortfall == Money.of("500", "EUR")


def test_a_negative_minimum_is_an_overdraft_line():
    f = _f("100", "0", "0", "-5000", "5100")
    assert f.overdraft == Money.of("5000", "EUR") and f.available == Money.of("5100", "EUR") and f.sufficient
    assert _f("100", "0", "0", "200", "1").overdraft.is_zero()


# -- booking match -----------------------------------------------------------------------------------
def test_bookings_match_by_end_to_end_id_first_then_amount_and_date():
    d = date(2026, 11, 2)
    pays = [UnbookedPayment(1, "E1", 500, d), UnbookedPayment(2, "E2", 700, d), UnbookedPayment(3, "E3", 700, d),
            UnbookedPayment(4, "E4", 900, d)]
    lines = [LedgerLine(10, "E1", -500, d + timedelta(days=9)),     # by id, however late
             LedgerLine(11, "", -700, d + timedelta(days=1)),       # by amount and date
             LedgerLine(12, "", -700, d + timedelta(days=4)),       # too late for the fallback
             LedgerLine(13, "OTHER", -900, d),                      # carries someone else's id
             LedgerLine(14, "", 900, d)]                            # a credit, not our debit
    assert dp.match_bookings(pays, lines) == {1: 10, 2: 11}


def test_one_line_books_one_payment_only():
    d = date(2026, 11, 2)
    pays = [UnbookedPayment(1, "E1", 500, d), UnbookedPayment(2, "E2", 500, d)]
    lines = [LedgerLine(10, "", -500, d)]
    assert dp.match_bookings(pays, lines) == {1: 10}


# -- controls ----------------------------------------------------------------------------------------
def test_duplicates_same_account_amount_currency_within_the_window():
    d = date(2026, 11, 10)
    prior = [dp.PriorPayment(1, "idx", 100, "EUR", d - timedelta(days=7), "executed"),
             dp.PriorPayment(2, "idx", 100, "EUR", d - timedelta(days=8), "approved"),
             dp.PriorPayment(3, "idx", 100, "EUR", d, "cancelled"),
             dp.PriorPayment(4, "other", 100, "EUR", d, "approved"),
             dp.PriorPayment(5, "idx", 101, "EUR", d, "approved"),
             dp.PriorPayment(6, "idx", 100, "EUR", d + timedelta(days=3), "draft")]
    assert dp.find_duplicates(prior, account_index="idx", amount_minor=100, currency="EUR", execution_date=d,
                              window_days=7) == [1, 6]


def test_blocked_countries_and_control_errors_name_the_control():
    assert dp.blocked_country_hit(["DE", "by"], ["BY"]) == "BY"
    assert dp.blocked_country_hit(["DE", ""], ["BY"]) is None
    assert dp.bic_country("BPSBBY2X") == "BY" and dp.bic_country("x") == ""
    err = dp.ControlRefused(dp.CONTROL_BLOCKED_COUNTRY, "payments to BY are blocked")
    assert isinstance(err, ComplianceViolation) and err.control == "blocked country"
    assert str(err) == "blocked by compliance rule 'blocked country': payments to BY are blocked"
    dup = dp.DuplicatePaymentSuspected("payment 3 already pays 1.00 EUR", [3])
    assert dup.duplicates == (3,) and dup.control == "duplicate payment"
