"""One credit transfer as a payment file carries it (ISO 20022 pain.001).

``services.payments`` turns approved payments into these; ``integrations.payment_files``
writes them as pain.001 grouped by debtor account and execution date. Plain values only: the
file writer must never need the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    end_to_end_id: str          # ≤ 35 characters, unique per payment
    instruction_id: str         # ≤ 35 characters
    amount: Decimal             # positive, in major units, within the currency's decimals
    currency: str
    execution_date: date        # requested execution date
    debtor_name: str
    debtor_iban: str
    debtor_bic: str
    creditor_name: str
    creditor_iban: str          # IBAN (or other account id when ``creditor_account_is_iban`` is False)
    creditor_bic: str = ""
    creditor_country: str = ""  # ISO 3166 alpha-2
    remittance: str = ""        # unstructured, ≤ 140 characters
    creditor_account_is_iban: bool = True
