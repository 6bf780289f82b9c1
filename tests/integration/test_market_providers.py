"""Providers against a real HTTPS server on 127.0.0.1 serving each provider's published format."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cio_desktop.integrations.market import (FUNDAMENTALS, FX, PRICES, AlphaVantageProvider, EcbProvider,
                                             MarketDataError, ProviderConfig, StooqProvider)
from tests.market_fixtures import (AV_KEY, AV_RATE_INFO, AV_RATE_NOTE, AV_UNKNOWN, business_days, market_pki,  # noqa: F401
                                   market_server, series)

END = date(2026, 10, 30)


def _cfg(server, kind: str, path: str, **kw) -> ProviderConfig:  # noqa: ANN001, ANN003
    return ProviderConfig(f"{kind}-test", kind, server.origin + path, ca_bundle_path=str(server.pki.ca_cert),
                          timeout=5, **kw)


def _sleepless(cls, cfg):  # noqa: ANN001, ANN202
    waits: list[float] = []
    return cls(cfg, sleep=waits.append), waits


def test_ecb_daily_and_history_parse(market_server) -> None:  # noqa: ANN001
    days = business_days(END, 3)
    market_server.ecb("eurofxref-daily.xml", days[-1:], {"USD": [1.0921], "GBP": [0.8612], "JPY": [161.23]})
    market_server.ecb("eurofxref-hist.xml", days, {"USD": [1.08, 1.09, 1.10], "GBP": [0.86, 0.87, 0.88]})
    p, _ = _sleepless(EcbProvider, _cfg(market_server, "ecb", "/ecb"))
    daily = p.parse(FX, "daily", p.fetch_raw(FX, "daily"))
    assert [(f.day, f.quote, f.rate) for f in daily] == [(END, "GBP", Decimal("0.8612")), (END, "JPY", Decimal("161.2300")),
                                                          (END, "USD", Decimal("1.0921"))]
    hist = p.parse(FX, "hist", p.fetch_raw(FX, "hist"))
    assert len(hist) == 6 and {f.base for f in hist} == {"EUR"}
    assert [f.rate for f in hist if f.quote == "USD"] == [Decimal("1.0800"), Decimal("1.0900"), Decimal("1.1000")]


def test_ecb_unexpected_shape_names_the_provider(market_server) -> None:  # noqa: ANN001
    market_server.route("/ecb/eurofxref-daily.xml", "<html><body>Maintenance</body></html>", ctype="text/html")
    p, _ = _sleepless(EcbProvider, _cfg(market_server, "ecb", "/ecb"))
    with pytest.raises(MarketDataError) as e:
        p.parse(FX, "daily", p.fetch_raw(FX, "daily"))
    assert e.value.reason == "bad_shape" and "ecb-test" in str(e.value) and "Envelope" in str(e.value)
    market_server.route("/ecb/eurofxref-daily.xml", "<gesmes:Envelope xmlns:gesmes='x' "
                        "xmlns='http://www.ecb.int/vocabulary/2002-08-01/eurofxref'><Cube><Cube time='2026-10-30'>"
                        "<Cube currency='USD' rate='abc'/></Cube></Cube></gesmes:Envelope>")
    with pytest.raises(MarketDataError, match=r"USD.*not a positive number"):
        p.parse(FX, "daily", p.fetch_raw(FX, "daily"))


def test_stooq_prices_and_unknown_symbol(market_server) -> None:  # noqa: ANN001
    days, closes = series("rising", END, 30)
    market_server.stooq("sap.de", days, closes)
    p, _ = _sleepless(StooqProvider, _cfg(market_server, "stooq", "/stooq"))
    hist = p.parse(PRICES, "sap.de", p.fetch_raw(PRICES, "sap.de"))
    assert [b.day for b in hist.bars] == days
    assert hist.bars[-1].close == Decimal(f"{closes[-1]:.4f}") and hist.bars[-1].volume == 1_000_000
    assert "s=sap.de" in market_server.requests()[-1] and "i=d" in market_server.requests()[-1]
    with pytest.raises(MarketDataError) as e:
        p.fetch_raw(PRICES, "nosuch.xx")
    assert e.value.reason == "unknown_symbol" and "[nosuch.xx]" in str(e.value)


def test_stooq_bad_line_is_named(market_server) -> None:  # noqa: ANN001
    market_server.route("/stooq/q/d/l/?bad.us", "Date,Open,High,Low,Close,Volume\n2026-10-29,1,1,1,1,5\n"
                        "2026-10-30,1,1,1,-3,5\n")
    p, _ = _sleepless(StooqProvider, _cfg(market_server, "stooq", "/stooq"))
    with pytest.raises(MarketDataError, match=r"line 3, field Close"):
        p.parse(PRICES, "bad.us", p.fetch_raw(PRICES, "bad.us"))


def test_provider_down_retries_then_fails_naming_provider_and_symbol(market_server) -> None:  # noqa: ANN001
    days, closes = series("rising", END, 30)
    market_server.stooq("sap.de", days, closes)
    market_server.fault(503, "down for maintenance", n=3, retry_after="2")
    p, waits = _sleepless(StooqProvider, _cfg(market_server, "stooq", "/stooq"))
    with pytest.raises(MarketDataError) as e:
        p.fetch_raw(PRICES, "sap.de")
    assert e.value.reason == "down" and e.value.status == 503 and "[sap.de]" in str(e.value)
    assert "gave up after 3 attempts" in str(e.value.detail)
    assert len(waits) == 2 and all(w >= 2 for w in waits)  # Retry-After honoured
    market_server.fault(500, n=1)
    assert p.parse(PRICES, "sap.de", p.fetch_raw(PRICES, "sap.de")).bars  # one failure, then recovered


def test_http_429_is_rate_limited(market_server) -> None:  # noqa: ANN001
    market_server.fault(429, "slow down", n=5)
    p, _ = _sleepless(StooqProvider, _cfg(market_server, "stooq", "/stooq"))
    with pytest.raises(MarketDataError) as e:
        p.fetch_raw(PRICES, "sap.de")
    assert e.value.reason == "rate_limited"


def test_alpha_vantage_prices_and_overview(market_server) -> None:  # noqa: ANN001
    days, closes = series("falling", END, 100)
    market_server.av_prices("IBM", days, closes)
    market_server.av_overview("IBM")
    p, _ = _sleepless(AlphaVantageProvider, _cfg(market_server, "alphavantage", "/av", api_key=AV_KEY))
    hist = p.parse(PRICES, "IBM", p.fetch_raw(PRICES, "IBM"))
    assert [b.day for b in hist.bars] == days and hist.bars[0].volume == 3437203
    f = p.parse(FUNDAMENTALS, "IBM", p.fetch_raw(FUNDAMENTALS, "IBM"))
    assert f.figures["pe_ratio"] == Decimal("22.4") and f.figures["dividend_yield"] == Decimal("0.0391")
    assert f.as_of == date(2026, 9, 30) and f.currency == "USD" and f.figures["debt_to_equity"] is None
    assert any("apikey=" in r for r in market_server.requests())


@pytest.mark.parametrize("body, reason", [(AV_RATE_NOTE, "rate_limited"), (AV_RATE_INFO, "rate_limited"),
                                          (AV_UNKNOWN, "unknown_symbol")])
def test_alpha_vantage_http_200_errors(market_server, body: str, reason: str) -> None:  # noqa: ANN001
    market_server.route("/av/query?TIME_SERIES_DAILY:IBM", body, ctype="application/json")
    p, _ = _sleepless(AlphaVantageProvider, _cfg(market_server, "alphavantage", "/av", api_key=AV_KEY))
    with pytest.raises(MarketDataError) as e:
        p.fetch_raw(PRICES, "IBM")
    assert e.value.reason == reason and "alphavantage-test [IBM]" in str(e.value)


def test_alpha_vantage_rejected_key_never_shows_the_key(market_server) -> None:  # noqa: ANN001
    p, _ = _sleepless(AlphaVantageProvider, _cfg(market_server, "alphavantage", "/av", api_key="WRONG-KEY-777"))
    with pytest.raises(MarketDataError) as e:
        p.fetch_raw(PRICES, "IBM")
    assert e.value.reason == "key_rejected" and "WRONG-KEY-777" not in str(e.value)
    market_server.fault(500, n=3)
    with pytest.raises(MarketDataError) as e:
        p.fetch_raw(PRICES, "IBM")
    assert "WRONG-KEY-777" not in str(e.value) and "apikey=***" in str(e.value)


def test_alpha_vantage_unexpected_json_shape(market_server) -> None:  # noqa: ANN001
    market_server.route("/av/query?TIME_SERIES_DAILY:IBM", '{"Time Series (Daily)": {"2026-10-30": {"4. close": "x"}}}',
                        ctype="application/json")
    p, _ = _sleepless(AlphaVantageProvider, _cfg(market_server, "alphavantage", "/av", api_key=AV_KEY))
    with pytest.raises(MarketDataError, match=r"2026-10-30, field '4. close'"):
        p.parse(PRICES, "IBM", p.fetch_raw(PRICES, "IBM"))
    market_server.route("/av/query?OVERVIEW:IBM", "{}", ctype="application/json")
    with pytest.raises(MarketDataError) as e:
        p.fetch_raw(FUNDAMENTALS, "IBM")
    assert e.value.reason == "unknown_symbol"
