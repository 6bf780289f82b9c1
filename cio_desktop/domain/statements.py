"""What every statement importer returns, whatever the file format.

Parsers (``integrations.statements``) produce ``Statement`` objects whose ``lines`` may be a
lazy iterator (so a 1,000,000-line CSV streams); the import service validates, de-duplicates,
reconciles and stores them. Amounts are exact ``Decimal`` in major units, signed from the
account holder's view (credit > 0, debit < 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Iterable


@dataclass(frozen=True, slots=True)
class StatementLine:
    booking_date: date
    amount: Decimal
    currency: str
    value_date: date | None = None
    counterparty: str = ""
    counterparty_account: str = ""
    reference: str = ""          # the bank's own reference for the entry, if it gives one
    end_to_end_id: str = ""
    description: str = ""        # remittance information / narrative
    bank_code: str = ""          # e.g. MT940 'NTRF', camt domain/family/sub-family, BAI2 type code
    line: int | None = None      # 1-based line (or record) number in the source, for error messages


@dataclass(slots=True)
class Statement:
    """One account's statement (a file may hold several)."""

    account: str                 # IBAN or account number as it appears in the file ('' if absent)
    currency: str                # account currency ('' if the file does not say)
    lines: Iterable[StatementLine] = field(default_factory=list)
    statement_id: str = ""
    opening_balance: Decimal | None = None
    opening_date: date | None = None
    closing_balance: Decimal | None = None
    closing_date: date | None = None
    bic: str = ""
    source: str = ""             # file name, for messages
    format: str = ""             # csv, ofx, mt940, mt942, camt053, camt052, bai2
    line: int | None = None      # where the statement starts in the source
    #: control totals some formats carry (BAI2 account trailer): checked by the parser itself
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InvestmentPosition:
    """A holding reported by an investment statement (OFX INVSTMTRS) or platform."""

    security_id: str             # ISIN/CUSIP/ticker
    id_type: str
    quantity: Decimal
    unit_price: Decimal | None
    market_value: Decimal | None
    currency: str
    as_of: date | None
    name: str = ""
