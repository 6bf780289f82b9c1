"""Positions, trades and prices from an investment platform's (custodian/broker) REST API.

The JSON shape CIO Desktop expects (paths relative to the base URL, lists paged with
``pageSize`` and ``_links.next.href``; all quantities, prices and amounts are decimal strings):

``GET /v1/positions?asOf=YYYY-MM-DD&pageSize=N`` (``asOf`` optional: latest) →
``{"asOf": "2026-11-02", "positions": [{"assetId": "US0378331005", "idType": "ISIN",
"name": "Apple Inc.", "quantity": "100", "price": "190.12", "marketValue": "19012.00",
"currency": "USD", "asOf": "2026-11-02"}], "_links": {…}}`` → ``InvestmentPosition`` (the
position's own ``asOf`` wins over the page's).

``GET /v1/trades?dateFrom=YYYY-MM-DD&dateTo=YYYY-MM-DD&pageSize=N`` →
``{"trades": [{"tradeId": "TR-1", "assetId": "…", "idType": "ISIN", "side": "buy" | "sell",
"quantity": "10", "price": "101.25", "currency": "EUR", "tradeDate": "2026-11-02",
"settlementDate": "2026-11-04", "fees": "2.50"}], "_links": {…}}`` → ``Trade``.

``GET /v1/prices?assetIds=A,B&dateFrom=…&dateTo=…&pageSize=N`` →
``{"prices": [{"assetId": "…", "date": "2026-11-02", "close": "190.12", "currency": "USD"}],
"_links": {…}}`` → ``Price``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Iterable, Iterator

from cio_desktop.domain.statements import InvestmentPosition
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.adapters.base import Record, pages
from cio_desktop.integrations.http.client import ApiClient

SIDES = ("buy", "sell")


@dataclass(frozen=True)
class Trade:
    trade_id: str
    security_id: str
    id_type: str
    side: str                 # buy | sell
    quantity: Decimal         # positive
    price: Decimal
    currency: str
    trade_date: date
    settlement_date: date | None = None
    fees: Decimal = Decimal(0)

    @property
    def gross_amount(self) -> Decimal:
        """quantity × price, signed from the portfolio's cash view (buy < 0, sell > 0)."""
        value = self.quantity * self.price
        return -value if self.side == "buy" else value


@dataclass(frozen=True)
class Price:
    asset_id: str
    date: date
    close: Decimal
    currency: str


class InvestmentPlatformAdapter:
    kind = "investment"

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    @property
    def name(self) -> str:
        return self.client.name

    def _size(self) -> int:
        return self.client.config.page_size

    def positions(self, as_of: date | None = None) -> list[InvestmentPosition]:
        result = []
        for page in pages(self.client, "/v1/positions", {"asOf": as_of, "pageSize": self._size()}, "positions"):
            page_as_of = Record(page.body, page.source, None).date("asOf", required=False)
            for i, item in enumerate(page.items, 1):
                rec = Record(item, page.source, i)
                quantity = rec.decimal("quantity")
                assert quantity is not None
                result.append(InvestmentPosition(
                    security_id=rec.text("assetId", required=True), id_type=rec.text("idType") or "ISIN",
                    quantity=quantity, unit_price=rec.decimal("price", required=False),
                    market_value=rec.decimal("marketValue", required=False), currency=rec.currency("currency"),
                    as_of=rec.date("asOf", required=False) or page_as_of or as_of, name=rec.text("name")))
        return result

    def trades(self, date_from: date | None = None, date_to: date | None = None) -> Iterator[Trade]:
        params = {"dateFrom": date_from, "dateTo": date_to, "pageSize": self._size()}
        for page in pages(self.client, "/v1/trades", params, "trades"):
            for i, item in enumerate(page.items, 1):
                rec = Record(item, page.source, i)
                side = rec.text("side", required=True).lower()
                if side not in SIDES:
                    raise rec.fail(f"'{side}' is not buy or sell", "side")
                quantity, price = rec.decimal("quantity"), rec.decimal("price")
                trade_date = rec.date("tradeDate")
                assert quantity is not None and price is not None and trade_date is not None
                if quantity <= 0:
                    raise rec.fail("the quantity must be positive (the side says buy or sell)", "quantity")
                yield Trade(trade_id=rec.text("tradeId", required=True), security_id=rec.text("assetId", required=True),
                            id_type=rec.text("idType") or "ISIN", side=side, quantity=quantity, price=price,
                            currency=rec.currency("currency"), trade_date=trade_date,
                            settlement_date=rec.date("settlementDate", required=False),
                            fees=rec.decimal("fees", required=False) or Decimal(0))

    def prices(self, asset_ids: Iterable[str], date_from: date | None = None,
               date_to: date | None = None) -> Iterator[Price]:
        ids = [a for a in asset_ids if a]
        if not ids:
            raise ValidationError("name at least one asset", field="asset_ids")
        params = {"assetIds": ",".join(ids), "dateFrom": date_from, "dateTo": date_to, "pageSize": self._size()}
        for page in pages(self.client, "/v1/prices", params, "prices"):
            for i, item in enumerate(page.items, 1):
                rec = Record(item, page.source, i)
                day, close = rec.date("date"), rec.decimal("close")
                assert day is not None and close is not None
                yield Price(asset_id=rec.text("assetId", required=True), date=day, close=close,
                            currency=rec.currency("currency"))

    def test_connection(self) -> str:
        n = len(self.positions())
        return f"OK: {n} position{'s' if n != 1 else ''}"
