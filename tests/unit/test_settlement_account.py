"""Open payables and receivables name no bank account: the forecast books a receivable on the
currency's collection account where there is one and a payable on its operating account."""

from __future__ import annotations

from cio_desktop.domain.cashflow import AccountInfo
from cio_desktop.services.planning_data import settlement_account_for

ACCOUNTS = [AccountInfo(1, "EUR Collections", "EUR", 0.0, account_type="collection"),
            AccountInfo(2, "EUR Payroll", "EUR", 0.0, account_type="payroll"),
            AccountInfo(3, "EUR Operating", "EUR", 0.0, account_type="current"),
            AccountInfo(4, "USD Deposit", "USD", 0.0, account_type="deposit")]


def test_receivables_settle_on_collection_and_payables_on_operating():
    assert settlement_account_for(ACCOUNTS, "EUR", "receivable") == 1
    assert settlement_account_for(ACCOUNTS, "EUR", "payable") == 3


def test_without_a_preferred_type_the_first_account_of_the_currency_is_used():
    assert settlement_account_for(ACCOUNTS, "USD", "payable") == 4
    assert settlement_account_for(ACCOUNTS, "USD", "receivable") == 4
    assert settlement_account_for(ACCOUNTS[1:], "EUR", "receivable") == 3   # no collection: operating
    assert settlement_account_for(ACCOUNTS, "GBP", "payable") is None
