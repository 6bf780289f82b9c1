"""Bank account information over an API shaped like Berlin Group NextGenPSD2 (AIS).

Paths are relative to the connection's base URL (e.g. ``https://api.bank.example/psd2``).

``GET /v1/accounts`` →
``{"accounts": [{"resourceId": "3dc3…", "iban": "DE89…", "bban": "…", "currency": "EUR",
"name": "Main account", "product": "Girokonto", "_links": {…}}], "_links": {"next": {"href": …}}}``
(``_links.next`` is optional; Berlin Group does not page this list, but it is honoured).

``GET /v1/accounts/{resourceId}/balances`` →
``{"account": {"iban": …}, "balances": [{"balanceType": "closingBooked", "balanceAmount":
{"amount": "500.00", "currency": "EUR"}, "referenceDate": "2026-11-01"}, {"balanceType":
"expected", …}]}`` (``balanceType`` compared case-insensitively).

``GET /v1/accounts/{resourceId}/transactions?bookingStatus=booked&dateFrom=YYYY-MM-DD`` →
``{"account": {"iban": …, "currency": …}, "transactions": {"booked": [TX, …], "_links":
{"next": {"href": "/v1/accounts/…/transactions?…&page=2"}}}}`` where a TX is::

    {"transactionId": "T-1", "entryReference": "…", "endToEndId": "E2E-1",
     "bookingDate": "2026-11-02", "valueDate": "2026-11-02",
     "transactionAmount": {"amount": "-256.67", "currency": "EUR"},   # signed; a string
     "creditorName": "…", "creditorAccount": {"iban": …},             # the payee (debits)
     "debtorName": "…", "debtorAccount": {"iban": …},                 # the payer (credits)
     "remittanceInformationUnstructured": "…",                        # or …UnstructuredArray
     "bankTransactionCode": "PMNT-ICDT-STDO"}

(``_links.next`` may also sit at the top level.) Each page becomes one ``Statement``
(``format="psd2"``, ``source="<connection> <page path>"``, no balances) whose lines carry
``reference = transactionId`` (else ``entryReference``, else empty: the import service then
hashes the line), ``line = `` the record's 1-based index in the page. Amounts are exact
``Decimal`` from the JSON strings; a JSON number is accepted too (parsed exactly, never float).

**Since-cursor.** ``TransactionPage.next_cursor`` is an opaque string to store once the page's
lines are committed, and to pass back as ``since_cursor`` next time. It records the latest
booking date delivered and the keys (transactionId, or a content hash plus occurrence number
when the bank gives none) of the transactions delivered on that date. Resuming asks for
``dateFrom = that date`` (inclusive, as Berlin Group defines it) and skips exactly those keys,
so nothing is delivered twice and a transaction booked later on that same date is not missed.
While the pages arrive in ascending booking-date order the cursor advances page by page, so
an interrupted sync resumes after its last committed page; if the bank lists newest first
(Berlin Group fixes no order) the cursor stays at its old value until the last page, which
then carries the complete one (an interrupted run is then re-read from the old cursor and the
import service's natural-key check drops the overlap).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterator

from cio_desktop.domain.statements import Statement, StatementLine
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.adapters.base import Record, pages, quote_id
from cio_desktop.integrations.http.client import ApiClient

FORMAT = "psd2"
DEFAULT_HISTORY_DAYS = 90   # PSD2 lets a bank refuse older history without fresh SCA


@dataclass(frozen=True)
class BankAccount:
    resource_id: str
    iban: str
    currency: str
    name: str = ""
    product: str = ""
    bban: str = ""

    @property
    def number(self) -> str:
        return self.iban or self.bban


@dataclass(frozen=True)
class AccountBalances:
    resource_id: str
    currency: str
    closing_booked: Decimal | None
    closing_booked_date: date | None
    expected: Decimal | None
    #: every balance reported, by balanceType as sent (closingBooked, expected, interimAvailable, …)
    by_type: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class TransactionPage:
    statement: Statement                 # lines is a list (one page's worth)
    next_cursor: str | None              # store once this page is committed (None: nothing seen yet)
    page_url: str = ""                   # path and query of the page
    is_last: bool = False


@dataclass(frozen=True)
class SinceCursor:
    booking_date: date
    keys: frozenset[str]

    def encode(self) -> str:
        return json.dumps({"v": 1, "bookingDate": self.booking_date.isoformat(), "keys": sorted(self.keys)},
                          separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> "SinceCursor":
        try:
            data = json.loads(text)
            if data.get("v") != 1:
                raise ValueError("version")
            keys = data["keys"]
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise ValueError("keys")
            return cls(date.fromisoformat(data["bookingDate"]), frozenset(keys))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValidationError("the stored synchronisation cursor is not readable; reset it to "
                                  "synchronise from a start date", field="since_cursor") from None


def _account_ref(rec: Record, path: str) -> str:
    return rec.first_text(f"{path}.iban", f"{path}.bban", f"{path}.maskedPan", f"{path}.pan")


def _remittance(rec: Record) -> str:
    parts: list[str] = []
    text = rec.text("remittanceInformationUnstructured")
    if text:
        parts.append(text)
    array = rec.get("remittanceInformationUnstructuredArray")
    if isinstance(array, list):
        parts.extend(str(x).strip() for x in array if isinstance(x, str) and x.strip())
    structured = rec.get("remittanceInformationStructured")
    if isinstance(structured, str) and structured.strip():
        parts.append(structured.strip())
    elif isinstance(structured, dict) and isinstance(structured.get("reference"), str):
        parts.append(structured["reference"].strip())
    if not parts:
        info = rec.text("additionalInformation")
        if info:
            parts.append(info)
    return " ".join(parts)


def parse_transaction(rec: Record) -> StatementLine:
    """A Berlin Group booked transaction → ``StatementLine`` (raises located ValidationError)."""
    amount = rec.decimal("transactionAmount.amount")
    currency = rec.currency("transactionAmount.currency")
    booking = rec.date("bookingDate")
    value = rec.date("valueDate", required=False)
    assert amount is not None and booking is not None
    if amount < 0:
        counterparty = rec.first_text("creditorName", "ultimateCreditor", "debtorName")
        account = _account_ref(rec, "creditorAccount") or _account_ref(rec, "debtorAccount")
    else:
        counterparty = rec.first_text("debtorName", "ultimateDebtor", "creditorName")
        account = _account_ref(rec, "debtorAccount") or _account_ref(rec, "creditorAccount")
    return StatementLine(
        booking_date=booking, amount=amount, currency=currency, value_date=value,
        counterparty=counterparty, counterparty_account=account,
        reference=rec.first_text("transactionId", "entryReference"),
        end_to_end_id=rec.text("endToEndId"), description=_remittance(rec),
        bank_code=rec.first_text("bankTransactionCode", "proprietaryBankTransactionCode"),
        line=rec.line)


def transaction_key(rec: Record, line: StatementLine, occurrences: Counter) -> str:
    tx_id = rec.text("transactionId")
    if tx_id:
        return tx_id
    content = "|".join([line.booking_date.isoformat(), str(line.amount), line.currency, line.counterparty,
                        line.counterparty_account, line.description, line.end_to_end_id,
                        rec.text("entryReference")])
    digest = hashlib.sha256(content.encode()).hexdigest()[:20]
    occurrences[digest] += 1
    return f"h:{digest}#{occurrences[digest]}"


class BankingAPIAdapter:
    kind = "banking"

    def __init__(self, client: ApiClient, *, history_days: int = DEFAULT_HISTORY_DAYS) -> None:
        self.client = client
        self.history_days = history_days
        self._accounts: dict[str, BankAccount] | None = None

    @property
    def name(self) -> str:
        return self.client.name

    def accounts(self) -> list[BankAccount]:
        result: list[BankAccount] = []
        for page in pages(self.client, "/v1/accounts", None, "accounts"):
            for i, item in enumerate(page.items, 1):
                rec = Record(item, page.source, i)
                result.append(BankAccount(
                    resource_id=rec.text("resourceId", required=True), iban=rec.text("iban"),
                    currency=rec.currency("currency"), name=rec.first_text("name", "ownerName", "product"),
                    product=rec.text("product"), bban=rec.text("bban")))
        self._accounts = {a.resource_id: a for a in result}
        return result

    def balances(self, resource_id: str) -> AccountBalances:
        path = f"/v1/accounts/{quote_id(resource_id)}/balances"
        body = self.client.get_json(path)
        source = f"{self.name} {path}"
        if not isinstance(body, dict) or not isinstance(body.get("balances"), list):
            raise ValidationError("the answer has no 'balances' list", source=source, field="balances")
        by_type: dict[str, Decimal] = {}
        dates: dict[str, date | None] = {}
        currency = ""
        for i, item in enumerate(body["balances"], 1):
            rec = Record(item, source, i)
            kind = rec.text("balanceType", required=True)
            by_type[kind] = rec.decimal("balanceAmount.amount")  # type: ignore[assignment]
            dates[kind.lower()] = rec.date("referenceDate", required=False)
            currency = currency or rec.currency("balanceAmount.currency")
        lower = {k.lower(): v for k, v in by_type.items()}
        return AccountBalances(resource_id=resource_id, currency=currency,
                               closing_booked=lower.get("closingbooked"),
                               closing_booked_date=dates.get("closingbooked"),
                               expected=lower.get("expected", lower.get("interimavailable")),
                               by_type=by_type)

    def _account_info(self, resource_id: str) -> BankAccount | None:
        if self._accounts is None:
            self.accounts()
        assert self._accounts is not None
        return self._accounts.get(resource_id)

    def transactions(self, resource_id: str, since_cursor: str | None = None, *,
                     date_from: date | None = None, date_to: date | None = None,
                     today: date | None = None) -> Iterator[TransactionPage]:
        """Booked transactions page by page. Without a cursor the history starts at ``date_from``
        (default: ``history_days`` before ``today``); with one, where the previous sync stopped."""
        cursor = SinceCursor.decode(since_cursor) if since_cursor else None
        if cursor is not None:
            start = cursor.booking_date
        else:
            start = date_from or ((today or date.today()) - timedelta(days=self.history_days))
        params = {"bookingStatus": "booked", "dateFrom": start, "dateTo": date_to}
        high_date = cursor.booking_date if cursor else None
        high_keys: set[str] = set(cursor.keys) if cursor else set()
        safe = since_cursor
        ascending, previous = True, None
        occurrences: Counter = Counter()
        account_iban = account_currency = None
        for page in pages(self.client, f"/v1/accounts/{quote_id(resource_id)}/transactions", params,
                          "transactions.booked"):
            if account_iban is None:
                acc = page.body.get("account") if isinstance(page.body.get("account"), dict) else {}
                account_iban = acc.get("iban") or acc.get("bban") or ""
                account_currency = acc.get("currency") or ""
                if not account_iban or not account_currency:
                    info = self._account_info(resource_id)
                    if info is not None:
                        account_iban = account_iban or info.number
                        account_currency = account_currency or info.currency
            lines: list[StatementLine] = []
            for i, item in enumerate(page.items, 1):
                rec = Record(item, page.source, i)
                line = parse_transaction(rec)
                key = transaction_key(rec, line, occurrences)
                day = line.booking_date
                if cursor is not None and (day < cursor.booking_date
                                           or (day == cursor.booking_date and key in cursor.keys)):
                    continue   # delivered by an earlier sync
                if previous is not None and day < previous:
                    ascending = False
                previous = day
                if high_date is None or day > high_date:
                    high_date, high_keys = day, {key}
                elif day == high_date:
                    high_keys.add(key)
                lines.append(line)
            if (ascending or page.is_last) and high_date is not None:
                safe = SinceCursor(high_date, frozenset(high_keys)).encode()
            statement = Statement(account=str(account_iban or ""), currency=str(account_currency or ""),
                                  lines=lines, source=page.source, format=FORMAT,
                                  statement_id=f"{resource_id}:{page.number}")
            yield TransactionPage(statement=statement, next_cursor=safe, page_url=page.shown,
                                  is_last=page.is_last)

    def test_connection(self) -> str:
        n = len(self.accounts())
        return f"OK: {n} account{'s' if n != 1 else ''}"
