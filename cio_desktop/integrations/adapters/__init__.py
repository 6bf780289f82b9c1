"""API adapters: each turns one kind of remote system into domain records.

- ``BankingAPIAdapter`` (Berlin Group NextGenPSD2-shaped): accounts, balances, transaction pages
  as ``Statement`` objects with a since-cursor;
- ``AccountingSystemAdapter``: chart of accounts, open payables/receivables (``OpenItem``);
- ``InvestmentPlatformAdapter``: positions (``InvestmentPosition``), ``Trade``s and ``Price``s.

Adapters never touch the database; errors are ``ConnectionFailed`` (transport, HTTP) and
``ValidationError`` (a record that does not make sense, located by page, record and field).
"""

from __future__ import annotations

from cio_desktop.integrations.adapters.accounting import AccountingSystemAdapter, LedgerAccount, OpenItem
from cio_desktop.integrations.adapters.banking import (
    AccountBalances,
    BankAccount,
    BankingAPIAdapter,
    SinceCursor,
    TransactionPage,
)
from cio_desktop.integrations.adapters.investment import InvestmentPlatformAdapter, Price, Trade
from cio_desktop.integrations.http.client import ApiClient

ADAPTERS = {
    "banking": BankingAPIAdapter,
    "accounting": AccountingSystemAdapter,
    "investment": InvestmentPlatformAdapter,
}

Adapter = BankingAPIAdapter | AccountingSystemAdapter | InvestmentPlatformAdapter


def adapter_for(client: ApiClient) -> Adapter:
    """The adapter matching ``client.config.kind``."""
    return ADAPTERS[client.config.kind](client)


__all__ = ["ADAPTERS", "AccountBalances", "AccountingSystemAdapter", "Adapter", "BankAccount",
           "BankingAPIAdapter", "InvestmentPlatformAdapter", "LedgerAccount", "OpenItem", "Price",
           "SinceCursor", "Trade", "TransactionPage", "adapter_for"]
