"""Daily prices in the Stooq CSV format (``/q/d/l/?s=<symbol>&i=d``).

The body is ``Date,Open,High,Low,Close,Volume`` then one line per trading day, ascending
(``Volume`` is absent for indices and FX). An unknown symbol answers HTTP 200 with the text
``No data`` (or an empty body); a daily hits limit answers ``Exceeded the daily hits limit``.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from cio_desktop.integrations.market.base import (PRICES, Bar, MarketDataError, MarketProvider, PriceHistory,
                                                  decimal_or_none)

HEADER = ["Date", "Open", "High", "Low", "Close"]


class StooqProvider(MarketProvider):
    kind = "stooq"
    capabilities = frozenset({PRICES})
    default_url = "https://stooq.com"

    def request(self, what: str, symbol: str) -> tuple[str, dict[str, str]]:
        if not symbol.strip():
            raise MarketDataError(self.name, symbol, "config", "a symbol is needed (e.g. sap.de)")
        return "/q/d/l/", {"s": symbol.strip().lower(), "i": "d"}

    def check_body(self, what: str, symbol: str, body: str) -> None:
        text = body.strip()
        low = text.lower()
        if not text or low.startswith("no data"):
            raise MarketDataError(self.name, symbol, "unknown_symbol", "Stooq has no data for this symbol")
        if "exceeded the daily hits limit" in low:
            raise MarketDataError(self.name, symbol, "rate_limited", "Stooq: daily hits limit exceeded",
                                  retryable=True)

    def parse_prices(self, symbol: str, body: str) -> PriceHistory:
        reader = csv.reader(io.StringIO(body.lstrip("\ufeff")))
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise MarketDataError(self.name, symbol, "unknown_symbol", "empty answer") from None
        if header[:5] != HEADER:
            raise MarketDataError(self.name, symbol, "bad_shape",
                                  f"line 1: expected the header {','.join(HEADER)}[,Volume], got "
                                  f"'{','.join(header)[:80]}'")
        has_volume = len(header) > 5 and header[5] == "Volume"
        bars: dict[date, Bar] = {}
        for lineno, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 5:
                raise MarketDataError(self.name, symbol, "bad_shape", f"line {lineno}: {len(row)} fields, expected "
                                      f"{len(header)}")
            try:
                day = date.fromisoformat(row[0].strip())
            except ValueError:
                raise MarketDataError(self.name, symbol, "bad_shape",
                                      f"line {lineno}, field Date: '{row[0]}' is not a date") from None
            o, h, lo, c = (decimal_or_none(x) for x in row[1:5])
            if c is None or c <= 0:
                raise MarketDataError(self.name, symbol, "bad_shape",
                                      f"line {lineno}, field Close: '{row[4]}' is not a positive price")
            vol = None
            if has_volume and len(row) > 5 and row[5].strip():
                v = decimal_or_none(row[5])
                if v is None or v < 0:
                    raise MarketDataError(self.name, symbol, "bad_shape",
                                          f"line {lineno}, field Volume: '{row[5]}' is not a volume")
                vol = int(v)
            if day in bars:
                raise MarketDataError(self.name, symbol, "bad_shape", f"line {lineno}: {day} appears twice")
            bars[day] = Bar(day, c, o, h, lo, vol)
        if not bars:
            raise MarketDataError(self.name, symbol, "unknown_symbol", "the answer holds no prices")
        return PriceHistory(self.name, symbol, tuple(bars[d] for d in sorted(bars)))
