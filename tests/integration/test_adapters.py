"""Banking, accounting and investment adapters against the real local HTTPS server."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import httpx
import pytest

from cio_desktop.domain.retry import BackoffPolicy
from cio_desktop.domain.statements import InvestmentPosition, Statement, StatementLine
from cio_desktop.errors import ConnectionFailed, ValidationError
from cio_desktop.integrations.adapters import (
    AccountingSystemAdapter,
    BankingAPIAdapter,
    InvestmentPlatformAdapter,
    OpenItem,
    SinceCursor,
    adapter_for,
)
from cio_desktop.integrations.http import ApiClient, ConnectionConfig
from tests.integration.http_server import (  # noqa: F401 — fixtures
    TRICKY_AMOUNTS,
    api_server,
    default_state,
    kits,
    make_transaction,
    pki,
    start_server,
)

START = dt.date(2026, 1, 1)


def bank(server, pki, kits, **kw) -> BankingAPIAdapter:  # noqa: ANN001
    return BankingAPIAdapter(kits(server, pki, **kw).client)


def sync(adapter: BankingAPIAdapter, cursor: str | None, resource: str = "acc-eur-1"):  # noqa: ANN201
    """Run a full sync the way services.sync would: lines of every page, and the last cursor."""
    lines: list[StatementLine] = []
    pages = list(adapter.transactions(resource, cursor, date_from=START))
    for page in pages:
        lines.extend(page.statement.lines)
    return lines, pages[-1].next_cursor, pages


def refs(lines: list[StatementLine]) -> list[str]:
    return [ln.reference for ln in lines]


# -- banking ---------------------------------------------------------------------------------------

def test_accounts_and_balances(api_server, pki, kits):
    adapter = bank(api_server, pki, kits)
    accounts = adapter.accounts()
    assert [(a.resource_id, a.iban, a.currency, a.name) for a in accounts] == [
        ("acc-eur-1", "DE89370400440532013000", "EUR", "Operating EUR"),
        ("acc-gbp-1", "GB29NWBK60161331926819", "GBP", "Payroll GBP"),
        ("acc-chf-1", "CH9300762011623852957", "CHF", "Reserve CHF")]
    balances = adapter.balances("acc-eur-1")
    expected = sum((Decimal(t["transactionAmount"]["amount"])
                    for t in api_server.state.transactions["acc-eur-1"]), Decimal(0))
    assert balances.closing_booked == expected and isinstance(balances.closing_booked, Decimal)
    assert balances.expected == expected + Decimal("0.01")
    assert balances.closing_booked_date == dt.date(2026, 11, 1) and balances.currency == "EUR"


def test_transactions_paginate_through_every_page(api_server, pki, kits):
    adapter = bank(api_server, pki, kits)
    lines, cursor, pages = sync(adapter, None)
    served = api_server.state.transactions["acc-eur-1"]
    assert len(pages) == 5                                # 23 transactions, 5 per page
    assert refs(lines) == [t["transactionId"] for t in served]
    assert [p.is_last for p in pages] == [False] * 4 + [True]
    first = pages[0].statement
    assert isinstance(first, Statement) and first.account == "DE89370400440532013000" and first.currency == "EUR"
    assert first.format == "psd2" and first.source.startswith("Test Bank /v1/accounts/acc-eur-1/transactions?")
    assert "page=2" in pages[1].statement.source
    assert [ln.line for ln in pages[1].statement.lines] == [1, 2, 3, 4, 5]
    assert cursor is not None


def test_transaction_fields_map_to_statement_lines(api_server, pki, kits):
    adapter = bank(api_server, pki, kits)
    lines, _, _ = sync(adapter, None)
    served = {t["transactionId"]: t for t in api_server.state.transactions["acc-eur-1"]}
    for ln in lines:
        t = served[ln.reference]
        assert ln.booking_date == dt.date.fromisoformat(t["bookingDate"])
        assert ln.value_date == dt.date.fromisoformat(t["valueDate"])
        assert ln.currency == "EUR" and ln.end_to_end_id == t["endToEndId"]
        assert ln.description == t["remittanceInformationUnstructured"]
        assert ln.bank_code == t["bankTransactionCode"]
        payee = t.get("creditorName") if ln.amount < 0 else t.get("debtorName")
        assert ln.counterparty == payee and ln.counterparty_account == "FR1420041010050500013M02606"


def test_amounts_are_exact_decimals(api_server, pki, kits):
    adapter = bank(api_server, pki, kits)
    lines, _, _ = sync(adapter, None)
    assert all(type(ln.amount) is Decimal for ln in lines)
    assert [str(ln.amount) for ln in lines[:len(TRICKY_AMOUNTS)]] == TRICKY_AMOUNTS
    assert lines[0].amount + lines[1].amount + lines[2].amount == Decimal("0.00")   # 0.10 + 0.20 - 0.30
    assert sum(ln.amount for ln in lines) == sum(
        Decimal(t["transactionAmount"]["amount"]) for t in api_server.state.transactions["acc-eur-1"])


def test_json_number_amounts_are_read_exactly_too():
    tx = make_transaction(1, dt.date(2026, 10, 1), "0", "EUR")
    tx["transactionAmount"]["amount"] = "__NUM__"
    # a bank that sends a JSON number instead of a string: served raw through a mock transport
    body = json.dumps({"account": {"iban": "CH9300762011623852957", "currency": "CHF"},
                       "transactions": {"booked": [tx]}}).replace('"__NUM__"', "0.1")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body.encode(), headers={"Content-Type": "application/json"})

    client = ApiClient(ConnectionConfig(name="Mock", kind="banking", base_url="https://bank.example"),
                       transport=httpx.MockTransport(handler), sleep=lambda s: None)
    page = next(BankingAPIAdapter(client).transactions("acc-chf-1", date_from=START))
    assert page.statement.lines[0].amount == Decimal("0.1")


def test_since_cursor_resumes_without_duplicates_or_gaps(api_server, pki, kits):
    adapter = bank(api_server, pki, kits)
    first, cursor, _ = sync(adapter, None)
    txs = api_server.state.transactions["acc-eur-1"]
    last_day = dt.date.fromisoformat(txs[-1]["bookingDate"])
    new = [make_transaction(900001, last_day, "5.55", "EUR"),                      # same day as the last seen
           make_transaction(900002, last_day + dt.timedelta(days=1), "-6.66", "EUR"),
           make_transaction(900003, last_day + dt.timedelta(days=1), "7.77", "EUR")]
    txs.extend(new)
    second, cursor2, pages = sync(adapter, cursor)
    assert refs(second) == ["TX-900001", "TX-900002", "TX-900003"]
    assert pages[0].statement.source.split("dateFrom=")[1].startswith(last_day.isoformat())
    third, cursor3, _ = sync(adapter, cursor2)
    assert third == [] and cursor3 == cursor2                 # nothing new: nothing delivered, cursor kept
    assert len(set(refs(first + second))) == len(txs)


@pytest.mark.parametrize("stop_after", [1, 2, 3, 4])
def test_interrupted_sync_resumes_after_the_last_committed_page(api_server, pki, kits, stop_after):
    adapter = bank(api_server, pki, kits)
    committed: list[StatementLine] = []
    cursor = None
    for i, page in enumerate(adapter.transactions("acc-eur-1", None, date_from=START), 1):
        committed.extend(page.statement.lines)
        cursor = page.next_cursor
        if i == stop_after:
            break                                     # the app closed mid-sync
    rest, _, _ = sync(adapter, cursor)
    all_refs = refs(committed + rest)
    assert sorted(all_refs) == sorted(t["transactionId"] for t in api_server.state.transactions["acc-eur-1"])
    assert len(all_refs) == len(set(all_refs))


def test_newest_first_bank_keeps_the_old_cursor_until_the_last_page(start_server, pki, kits):
    state = default_state()
    state.newest_first = True
    server = start_server(state=state)
    adapter = bank(server, pki, kits)
    lines, cursor, pages = sync(adapter, None)
    assert [p.next_cursor for p in pages[:-1]] == [None] * (len(pages) - 1)
    assert len(lines) == 23 and cursor is not None
    again, cursor2, _ = sync(adapter, cursor)
    assert again == [] and cursor2 == cursor
    day = max(dt.date.fromisoformat(t["bookingDate"]) for t in state.transactions["acc-eur-1"])
    state.transactions["acc-eur-1"].append(make_transaction(777, day, "1.00", "EUR"))
    new, _, _ = sync(adapter, cursor2)
    assert refs(new) == ["TX-000777"]


def test_cursor_without_transaction_ids_uses_content_keys(api_server, pki, kits):
    day = dt.date(2026, 10, 5)
    same = make_transaction(5, day, "9.99", "EUR", with_id=False)
    api_server.state.transactions["acc-gbp-1"] = [make_transaction(i, day, f"{i}.00", "EUR", with_id=False)
                                                  for i in range(1, 4)] + [dict(same), dict(same)]
    adapter = bank(api_server, pki, kits)
    first, cursor, _ = sync(adapter, None, "acc-gbp-1")
    assert len(first) == 5 and all(ln.reference == "" for ln in first)
    assert len(SinceCursor.decode(cursor).keys) == 5          # two identical lines stay two
    api_server.state.transactions["acc-gbp-1"].append(dict(same))   # a third identical one
    second, _, _ = sync(adapter, cursor, "acc-gbp-1")
    assert len(second) == 1 and second[0].amount == Decimal("9.99")


def test_invalid_record_names_page_record_and_field(api_server, pki, kits):
    txs = api_server.state.transactions["acc-eur-1"]
    txs[6]["transactionAmount"]["amount"] = "12,50"            # page 2, record 2
    adapter = bank(api_server, pki, kits)
    with pytest.raises(ValidationError) as info:
        sync(adapter, None)
    err = info.value
    assert err.source.startswith("Test Bank /v1/accounts/acc-eur-1/transactions?") and "page=2" in err.source
    assert err.line == 2 and err.field == "transactionAmount.amount"
    assert "'12,50' is not a decimal number" in str(err)


@pytest.mark.parametrize("change, field", [
    (lambda t: t["transactionAmount"].update(currency="EURO"), "transactionAmount.currency"),
    (lambda t: t.update(bookingDate="2026-10-00"), "bookingDate"),
    (lambda t: t.pop("transactionAmount"), "transactionAmount.amount"),
    (lambda t: t["transactionAmount"].update(amount=True), "transactionAmount.amount"),
])
def test_other_invalid_fields(api_server, pki, kits, change, field):
    change(api_server.state.transactions["acc-eur-1"][0])
    with pytest.raises(ValidationError) as info:
        sync(bank(api_server, pki, kits), None)
    assert info.value.field == field and info.value.line == 1


def test_unreadable_cursor_is_refused(api_server, pki, kits):
    with pytest.raises(ValidationError) as info:
        next(bank(api_server, pki, kits).transactions("acc-eur-1", "not-a-cursor"))
    assert info.value.field == "since_cursor"


def test_retry_in_the_middle_of_pagination(api_server, pki, kits):
    kit = kits(api_server, pki)
    pages = BankingAPIAdapter(kit.client).transactions("acc-eur-1", None, date_from=START)
    first = next(pages)
    api_server.fail_next(1, 503, retry_after="2")          # page 2 fails once
    rest = list(pages)
    lines = list(first.statement.lines) + [ln for p in rest for ln in p.statement.lines]
    assert len(lines) == 23 and len(set(refs(lines))) == 23
    assert kit.sleeps == [2.0]


def test_absolute_next_links_and_path_prefix(start_server, pki, kits):
    state = default_state()
    state.prefix, state.absolute_links = "/psd2", True
    server = start_server(state=state)
    lines, _, pages = sync(bank(server, pki, kits), None)
    assert len(lines) == 23 and len(pages) == 5


def test_next_link_to_another_site_is_refused():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"transactions": {"booked": [], "_links": {"next": {
            "href": "https://elsewhere.example/v1/accounts/a/transactions?page=2"}}}})

    client = ApiClient(ConnectionConfig(name="Mock", kind="banking", base_url="https://bank.example"),
                       transport=httpx.MockTransport(handler))
    with pytest.raises(ConnectionFailed, match="another site"):
        list(BankingAPIAdapter(client).transactions("a", date_from=START))


def test_looping_pagination_is_stopped():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"accounts": [], "_links": {"next": {"href": "/v1/accounts?page=1"}}})

    client = ApiClient(ConnectionConfig(name="Mock", kind="banking", base_url="https://bank.example"),
                       transport=httpx.MockTransport(handler))
    with pytest.raises(ConnectionFailed, match="pagination loops"):
        BankingAPIAdapter(client).accounts()


def test_resource_ids_cannot_escape_the_path(api_server, pki, kits):
    adapter = bank(api_server, pki, kits)
    with pytest.raises(ConnectionFailed) as info:
        adapter.balances("../accounts")
    assert info.value.status == 404
    assert api_server.api_requests()[-1].path == "/v1/accounts/..%2Faccounts/balances"


# -- accounting ----------------------------------------------------------------------------------

def test_chart_of_accounts_and_open_items(api_server, pki, kits):
    adapter = kits(api_server, pki, kind="accounting").client
    acc = AccountingSystemAdapter(adapter)
    chart = acc.chart_of_accounts()
    assert len(chart) == 12 and chart[0].code == "1000" and chart[0].type == "asset"
    chart_pages = [s for s in api_server.api_requests("/v1/chart-of-accounts")]
    assert len(chart_pages) == 3 and chart_pages[0].query["pageSize"] == ["5"]
    payables = acc.payables()
    receivables = acc.receivables()
    assert [p.id for p in payables] == [f"AP-{i}" for i in range(7)]
    assert all(isinstance(p, OpenItem) and p.kind == "payable" for p in payables)
    assert payables[1].amount + payables[2].amount == Decimal("0.30")
    assert payables[3].amount == Decimal("99999999.99")
    assert payables[0].due_date == dt.date(2026, 11, 10) and payables[0].issue_date == dt.date(2026, 10, 15)
    assert payables[0].document_no == "INV-2000" and payables[0].currency == "EUR"
    assert [r.kind for r in receivables] == ["receivable"] * 4 and receivables[0].currency == "USD"
    assert [i.id for i in acc.open_items()] == [p.id for p in payables] + [r.id for r in receivables]
    assert acc.test_connection() == "OK: 12 ledger accounts"


def test_open_item_validation(api_server, pki, kits):
    api_server.state.payables[5]["dueDate"] = "someday"
    acc = AccountingSystemAdapter(kits(api_server, pki, kind="accounting").client)
    with pytest.raises(ValidationError) as info:
        acc.payables()
    assert info.value.line == 1 and info.value.field == "dueDate" and "page=2" in info.value.source


# -- investment ----------------------------------------------------------------------------------

def test_positions_trades_prices(api_server, pki, kits):
    client = kits(api_server, pki, kind="investment").client
    inv = adapter_for(client)
    assert isinstance(inv, InvestmentPlatformAdapter)
    positions = inv.positions()
    assert len(positions) == 7 and all(isinstance(p, InvestmentPosition) for p in positions)
    p = positions[2]
    assert p.quantity == Decimal("1234.5678") and p.unit_price == Decimal("0.0001")
    assert p.market_value == Decimal("0.12345678") and p.as_of == dt.date(2026, 11, 2)
    assert p.id_type == "ISIN" and p.currency == "USD" and p.name == "Security 2"
    trades = list(inv.trades(dt.date(2026, 10, 3)))
    assert [t.trade_id for t in trades] == [f"TR-{i}" for i in range(2, 9)]
    assert trades[0].side == "buy" and trades[0].gross_amount == -(Decimal(12) * Decimal("102.25"))
    assert trades[1].side == "sell" and trades[1].fees == Decimal("2.50")
    prices = list(inv.prices(["US0000000001", "US0000000002"]))
    assert len(prices) == 8 and {pr.asset_id for pr in prices} == {"US0000000001", "US0000000002"}
    assert prices[0].close == Decimal("101.01") and prices[0].date == dt.date(2026, 10, 1)
    assert inv.test_connection() == "OK: 7 positions"


def test_trade_side_is_checked(api_server, pki, kits):
    api_server.state.trades[0]["side"] = "hold"
    inv = InvestmentPlatformAdapter(kits(api_server, pki, kind="investment").client)
    with pytest.raises(ValidationError) as info:
        list(inv.trades())
    assert info.value.field == "side" and info.value.line == 1


def test_connection_test_for_each_kind(api_server, pki, kits):
    assert kits(api_server, pki).client.test_connection() == "OK: 3 accounts"
    assert kits(api_server, pki, kind="accounting").client.test_connection() == "OK: 12 ledger accounts"
    assert kits(api_server, pki, kind="investment").client.test_connection() == "OK: 7 positions"
    api_server.fail_next(100, 500)
    kit = kits(api_server, pki, policy=BackoffPolicy(max_attempts=2))
    with pytest.raises(ConnectionFailed, match="gave up after 2 attempts"):
        kit.client.test_connection()
