"""Chart of accounts and open items (payables, receivables) from an accounting system's REST API.

There is no common standard; this is the JSON shape CIO Desktop expects (a thin server-side
mapping, or a small translation proxy, adapts a given ERP). Paths are relative to the base URL;
every list is paged with ``pageSize`` (the connection's page size) and ``_links.next.href``.

``GET /v1/chart-of-accounts?pageSize=N`` →
``{"accounts": [{"code": "1200", "name": "Bank EUR", "type": "asset", "currency": "EUR"}],
"_links": {"next": {"href": "…"}}}`` (``type``: asset | liability | equity | income | expense;
``currency`` optional).

``GET /v1/payables?status=open&pageSize=N`` and ``GET /v1/receivables?status=open&pageSize=N``
(optionally ``&dueBefore=YYYY-MM-DD``) →
``{"items": [{"id": "AP-1001", "documentNo": "INV-2026-0042", "counterparty": "Supplier GmbH",
"amount": "1250.00", "currency": "EUR", "dueDate": "2026-11-30", "issueDate": "2026-10-31"}],
"_links": {"next": {"href": "…"}}}`` — ``amount`` is the open amount still to be paid (payables)
or collected (receivables), a positive decimal string; a credit note may be negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Iterator

from cio_desktop.errors import ValidationError
from cio_desktop.integrations.adapters.base import Record, pages
from cio_desktop.integrations.http.client import ApiClient

OPEN_ITEM_KINDS = ("payable", "receivable")


@dataclass(frozen=True)
class LedgerAccount:
    code: str
    name: str
    type: str = ""
    currency: str = ""


@dataclass(frozen=True)
class OpenItem:
    id: str
    kind: str                 # payable | receivable
    counterparty: str
    amount: Decimal           # open amount, in major units
    currency: str
    due_date: date
    document_no: str = ""
    issue_date: date | None = None
    source: str = ""          # "<connection> <page path>" for messages
    line: int | None = None   # record index in that page


class AccountingSystemAdapter:
    kind = "accounting"

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    @property
    def name(self) -> str:
        return self.client.name

    def chart_of_accounts(self) -> list[LedgerAccount]:
        result = []
        for page in pages(self.client, "/v1/chart-of-accounts", {"pageSize": self.client.config.page_size},
                          "accounts"):
            for i, item in enumerate(page.items, 1):
                rec = Record(item, page.source, i)
                result.append(LedgerAccount(code=rec.text("code", required=True), name=rec.text("name"),
                                            type=rec.text("type").lower(),
                                            currency=rec.currency("currency", required=False)))
        return result

    def open_items(self, kind: str | None = None, *, due_before: date | None = None) -> Iterator[OpenItem]:
        """Open payables and/or receivables (``kind`` None: both, payables first)."""
        if kind is not None and kind not in OPEN_ITEM_KINDS:
            raise ValidationError(f"kind must be one of {', '.join(OPEN_ITEM_KINDS)}", field="kind")
        for k in ([kind] if kind else list(OPEN_ITEM_KINDS)):
            params = {"status": "open", "pageSize": self.client.config.page_size, "dueBefore": due_before}
            for page in pages(self.client, f"/v1/{k}s", params, "items"):
                for i, item in enumerate(page.items, 1):
                    rec = Record(item, page.source, i)
                    amount = rec.decimal("amount")
                    due = rec.date("dueDate")
                    assert amount is not None and due is not None
                    yield OpenItem(id=rec.text("id", required=True), kind=k,
                                   counterparty=rec.text("counterparty"), amount=amount,
                                   currency=rec.currency("currency"), due_date=due,
                                   document_no=rec.text("documentNo"),
                                   issue_date=rec.date("issueDate", required=False),
                                   source=page.source, line=i)

    def payables(self, *, due_before: date | None = None) -> list[OpenItem]:
        return list(self.open_items("payable", due_before=due_before))

    def receivables(self, *, due_before: date | None = None) -> list[OpenItem]:
        return list(self.open_items("receivable", due_before=due_before))

    def test_connection(self) -> str:
        n = len(self.chart_of_accounts())
        return f"OK: {n} ledger account{'s' if n != 1 else ''}"
