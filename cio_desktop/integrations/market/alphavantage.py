"""Alpha Vantage (``/query?function=…&symbol=…&apikey=…``): daily prices and company overview.

Formats (as published): ``TIME_SERIES_DAILY`` → ``{"Meta Data": {...}, "Time Series (Daily)":
{"YYYY-MM-DD": {"1. open": "…", "2. high": "…", "3. low": "…", "4. close": "…", "5. volume": "…"}}}``;
``OVERVIEW`` → a flat object of strings (``"PERatio"``, ``"DividendYield"``, ``"ProfitMargin"``,
``"OperatingMarginTTM"``, ``"LatestQuarter"``, …; ``"None"`` for a missing figure; ``{}`` for an
unknown symbol). Errors arrive with HTTP 200: ``{"Error Message": …}`` (unknown symbol, or a bad
key when it mentions the apikey), ``{"Note": …}`` (old rate-limit wording) and ``{"Information":
…}`` (current rate-limit / premium / key wording). The key travels in the query string and is
masked in every message.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from cio_desktop.integrations.market.base import (FUNDAMENTALS, PRICES, Bar, Fundamentals, MarketDataError,
                                                  MarketProvider, PriceHistory, decimal_or_none)

SERIES_KEY = "Time Series (Daily)"
#: OVERVIEW field → our figure name (ratios as fractions, as Alpha Vantage sends them)
OVERVIEW_FIGURES = {
    "PERatio": "pe_ratio", "ForwardPE": "forward_pe", "PEGRatio": "peg_ratio", "DividendYield": "dividend_yield",
    "ProfitMargin": "profit_margin", "OperatingMarginTTM": "operating_margin", "ReturnOnEquityTTM": "return_on_equity",
    "PriceToBookRatio": "price_to_book", "MarketCapitalization": "market_cap", "Beta": "beta", "EPS": "eps",
    "DebtToEquity": "debt_to_equity",
}


class AlphaVantageProvider(MarketProvider):
    kind = "alphavantage"
    capabilities = frozenset({PRICES, FUNDAMENTALS})
    default_url = "https://www.alphavantage.co"

    def request(self, what: str, symbol: str) -> tuple[str, dict[str, str]]:
        if not self.config.api_key:
            raise MarketDataError(self.name, symbol, "key_rejected", "no API key is configured for this provider")
        if not symbol.strip():
            raise MarketDataError(self.name, symbol, "config", "a symbol is needed (e.g. IBM)")
        function = "TIME_SERIES_DAILY" if what == PRICES else "OVERVIEW"
        params = {"function": function, "symbol": symbol.strip().upper(), "apikey": self.config.api_key}
        if what == PRICES:
            params["outputsize"] = "compact"
        return "/query", params

    def _json(self, symbol: str, body: str) -> Any:
        try:
            return json.loads(body, parse_float=Decimal)
        except ValueError as exc:
            raise MarketDataError(self.name, symbol, "bad_shape", f"the answer is not JSON ({exc})") from None

    def check_body(self, what: str, symbol: str, body: str) -> None:
        data = self._json(symbol, body)
        if not isinstance(data, dict):
            raise MarketDataError(self.name, symbol, "bad_shape", "the answer is not a JSON object")
        for key in ("Error Message", "Note", "Information"):
            msg = data.get(key)
            if not isinstance(msg, str):
                continue
            text = " ".join(msg.split())[:200]
            low = text.lower()
            if "apikey" in low or "api key" in low and ("invalid" in low or "missing" in low):
                raise MarketDataError(self.name, symbol, "key_rejected", f"the API key was rejected: {text}")
            if key == "Error Message":
                raise MarketDataError(self.name, symbol, "unknown_symbol", f"unknown symbol or bad request: {text}")
            if "rate limit" in low or "call frequency" in low or "requests per day" in low or "sparingly" in low:
                raise MarketDataError(self.name, symbol, "rate_limited", f"rate limit reached: {text}",
                                      retryable=True)
            raise MarketDataError(self.name, symbol, "key_rejected" if "premium" in low else "bad_shape",
                                  f"the provider answered: {text}")
        if what == FUNDAMENTALS and not data:
            raise MarketDataError(self.name, symbol, "unknown_symbol", "no company overview for this symbol")

    def parse_prices(self, symbol: str, body: str) -> PriceHistory:
        data = self._json(symbol, body)
        series = data.get(SERIES_KEY) if isinstance(data, dict) else None
        if not isinstance(series, dict):
            raise MarketDataError(self.name, symbol, "bad_shape", f"no '{SERIES_KEY}' object in the answer")
        bars = []
        for key, row in series.items():
            try:
                day = date.fromisoformat(str(key))
            except ValueError:
                raise MarketDataError(self.name, symbol, "bad_shape", f"'{key}' is not a date") from None
            if not isinstance(row, dict):
                raise MarketDataError(self.name, symbol, "bad_shape", f"{day}: the entry is not an object")
            close = decimal_or_none(row.get("4. close"))
            if close is None or close <= 0:
                raise MarketDataError(self.name, symbol, "bad_shape",
                                      f"{day}, field '4. close': '{row.get('4. close')}' is not a positive price")
            vol = decimal_or_none(row.get("5. volume"))
            bars.append(Bar(day, close, decimal_or_none(row.get("1. open")), decimal_or_none(row.get("2. high")),
                            decimal_or_none(row.get("3. low")), int(vol) if vol is not None and vol >= 0 else None))
        if not bars:
            raise MarketDataError(self.name, symbol, "unknown_symbol", "the answer holds no prices")
        bars.sort(key=lambda b: b.day)
        return PriceHistory(self.name, symbol, tuple(bars))

    def parse_fundamentals(self, symbol: str, body: str) -> Fundamentals:
        data = self._json(symbol, body)
        if not isinstance(data, dict) or "Symbol" not in data:
            raise MarketDataError(self.name, symbol, "bad_shape", "the overview has no 'Symbol' field")
        figures = {ours: decimal_or_none(data.get(theirs)) for theirs, ours in OVERVIEW_FIGURES.items()}
        as_of = None
        text = str(data.get("LatestQuarter") or "")
        if text and text != "None":
            try:
                as_of = date.fromisoformat(text)
            except ValueError:
                raise MarketDataError(self.name, symbol, "bad_shape",
                                      f"field LatestQuarter: '{text}' is not a date") from None
        return Fundamentals(self.name, str(data.get("Symbol")), as_of, name=str(data.get("Name") or ""),
                            currency=str(data.get("Currency") or "").upper()[:3],
                            sector=str(data.get("Sector") or "").title(), country=str(data.get("Country") or ""),
                            asset_type=str(data.get("AssetType") or ""), figures=figures)
