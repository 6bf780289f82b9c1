"""MarketService over a real SQLCipher file and a real local HTTPS provider server: fetch, cache
with TTL, offline review from the cache, nothing overwritten with bad data, analysis and
opportunities on the demo company."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from cio_desktop.errors import PermissionDenied
from cio_desktop.storage.models import Asset, AuditEntry, FxRate, Price
from cio_desktop.storage.models_market import MarketCache
from tests.conftest import login
from tests.market_fixtures import (AV_RATE_INFO, business_days, market_pki, market_server,  # noqa: F401
                                   point_providers, series)


@pytest.fixture
def mws(ws, market_server):  # noqa: ANN001, ANN201
    login(ws, "treasurer", mfa=True)
    point_providers(ws, market_server)
    return ws


def _today(ws) -> date:  # noqa: ANN001
    return ws.ctx.now().date()


def _publish(server, ws) -> tuple[list[date], list[float]]:  # noqa: ANN001
    end = _today(ws) - timedelta(days=1)
    days, closes = series("rising", end, 300)
    server.stooq("sap.de", days, closes)
    server.av_prices("IBM", days[-100:], closes[-100:])
    server.av_overview("IBM")
    fx_days = business_days(end, 2)
    server.ecb("eurofxref-daily.xml", fx_days[-1:], {"USD": [1.0921], "GBP": [0.8612]})
    return days, closes


def _count(ws, model) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as uow:
        return uow.execute(select(func.count()).select_from(model)).scalar_one()


def test_fetch_stores_prices_fx_cache_and_one_audit_entry(mws, market_server) -> None:  # noqa: ANN001
    days, closes = _publish(market_server, mws)
    mws.market.watch("sap.de", "Stooq", name="SAP SE")
    mws.market.watch("IBM", "Alpha Vantage")
    audits = _count(mws, AuditEntry)
    report = mws.market.fetch_market_data()
    assert report.ok, [o.describe() for o in report.outcomes]
    assert {(o.provider, o.what, o.symbol) for o in report.outcomes} == {
        ("ECB", "fx", "daily"), ("Stooq", "prices", "sap.de"), ("Alpha Vantage", "prices", "IBM"),
        ("Alpha Vantage", "fundamentals", "IBM")}
    assert report.prices_written == 400 and report.fx_written == 2
    assert _count(mws, AuditEntry) == audits + 1
    with mws.db.unit_of_work(write=False) as uow:
        sap = uow.execute(select(Asset).where(Asset.identifier == "SAP.DE")).scalar_one()
        assert sap.currency == "EUR" and sap.name == "SAP SE"
        stored = uow.execute(select(Price.close).where(Price.asset_id == sap.id).order_by(Price.price_date)).scalars().all()
        assert stored == [Decimal(f"{c:.4f}") for c in closes]
        ibm = uow.execute(select(Asset).where(Asset.identifier == "IBM")).scalar_one()
        assert ibm.currency == "USD" and ibm.name == "IBM Corporation" and ibm.sector == "Technology"
        assert uow.execute(select(FxRate.rate).where(FxRate.quote == "USD")).scalar_one() == Decimal("1.0921")
    watch = {w.symbol: w for w in mws.market.watchlist()}
    assert watch["sap.de"].last_date == days[-1] and watch["sap.de"].change_1d == pytest.approx(
        closes[-1] / closes[-2] - 1, abs=1e-4)


def test_within_ttl_is_served_from_cache_without_network(mws, market_server, clock) -> None:  # noqa: ANN001
    _publish(market_server, mws)
    mws.market.watch("sap.de", "Stooq")
    mws.market.fetch_market_data()
    n = len(market_server.requests())
    clock.advance(hours=1)
    report = mws.market.fetch_market_data()
    assert len(market_server.requests()) == n
    assert {o.status for o in report.outcomes} == {"cached"}
    assert all(o.age == timedelta(hours=1) for o in report.outcomes)
    clock.advance(hours=6)
    report = mws.market.fetch_market_data()
    assert {o.status for o in report.outcomes} == {"fetched"} and len(market_server.requests()) > n


def test_provider_down_serves_cache_with_age_and_overwrites_nothing(mws, market_server, clock) -> None:  # noqa: ANN001
    days, closes = _publish(market_server, mws)
    mws.market.watch("sap.de", "Stooq")
    mws.market.watch("IBM", "Alpha Vantage")
    mws.market.fetch_market_data()
    before_prices = _count(mws, Price)
    with mws.db.unit_of_work(write=False) as uow:
        cache_before = {(r.provider, r.what, r.symbol): (r.body, r.fetched_at) for r in uow.execute(select(MarketCache)).scalars()}
    clock.advance(days=2)
    login(mws, "analyst")  # a new day, a new session
    # the next answers are all bad: Stooq answers garbage, Alpha Vantage is rate-limited, the ECB is down
    market_server.route("/stooq/q/d/l/?sap.de", "<html>oops</html>")
    market_server.route("/av/query?TIME_SERIES_DAILY:IBM", AV_RATE_INFO, ctype="application/json")
    market_server.route("/av/query?OVERVIEW:IBM", AV_RATE_INFO, ctype="application/json")
    market_server.route("/ecb/eurofxref-daily.xml", "maintenance", status=503)
    report = mws.market.fetch_market_data()
    assert not report.ok
    by = {(o.provider, o.symbol): o for o in report.outcomes}
    assert {o.status for o in report.outcomes} == {"stale"}
    assert by[("Stooq", "sap.de")].reason == "bad_shape"
    assert by[("Alpha Vantage", "IBM")].reason == "rate_limited"
    assert by[("ECB", "daily")].reason == "down"
    text = by[("Stooq", "sap.de")].describe()
    assert "Stooq [sap.de]" in text and "cached data 2 days old" in text
    assert _count(mws, Price) == before_prices
    with mws.db.unit_of_work(write=False) as uow:
        cache_after = {(r.provider, r.what, r.symbol): (r.body, r.fetched_at) for r in uow.execute(select(MarketCache)).scalars()}
    assert cache_after == cache_before
    status = {p.name: p for p in mws.market.providers()}
    assert "Stooq [sap.de]" in status["Stooq"].last_error
    # offline: analysis still works from what is stored and cached
    a = mws.market.analyze_investment("IBM")
    assert a.value("fundamental", "pe_ratio") == pytest.approx(22.4)
    assert a.value("data", "age_days") == (_today(mws) - days[-1]).days >= 2


def test_unknown_symbol_without_cache_fails_clearly(mws, market_server) -> None:  # noqa: ANN001
    mws.market.watch("nosuch.us", "Stooq")
    report = mws.market.fetch_market_data(provider="Stooq")
    (o,) = report.outcomes
    assert o.status == "failed" and o.reason == "unknown_symbol"
    assert o.describe().startswith("Stooq [nosuch.us]") and "no cached data" in o.describe()


@pytest.mark.sqlcipher_only  # reads the database file's bytes
def test_api_key_is_stored_encrypted_and_config_needs_mfa(ws, market_server) -> None:  # noqa: ANN001
    from cio_desktop.errors import MfaRequired

    login(ws, "treasurer", mfa=False)
    with pytest.raises(MfaRequired):
        ws.market.configure_provider("Alpha Vantage", api_key="x")
    login(ws, "treasurer", mfa=True)
    ws.market.configure_provider("Alpha Vantage", api_key="SUPER-SECRET-KEY-42")
    raw = (ws.db.target and open(ws.db.target, "rb").read())
    assert b"SUPER-SECRET-KEY-42" not in raw
    assert {p.name: p for p in ws.market.providers()}["Alpha Vantage"].has_api_key
    login(ws, "viewer")
    with pytest.raises(PermissionDenied):
        ws.market.fetch_market_data()


def test_criteria_saved_over_another_desks_change_are_refused(ws, clock) -> None:  # noqa: ANN001
    """Team mode: two analysts load the same named criteria; the first save wins, the second
    (from the screen that still shows the old version) is refused naming the first."""
    from cio_desktop.errors import ConcurrentUpdate

    login(ws, "treasurer")
    first = ws.market.save_criteria({"name": "value", "max_pe": 15}, seen=None)
    loaded = next(c for c in ws.market.criteria() if c.name == "value")
    assert loaded == first
    clock.advance(minutes=3)
    ws.market.save_criteria({"name": "value", "max_pe": 12}, seen=loaded)
    def audits() -> int:
        with ws.db.unit_of_work(write=False) as uow:
            return uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()

    before = audits()
    with pytest.raises(ConcurrentUpdate, match=r"criteria 'value' were changed by treasurer at \d{4}-\d\d-\d\d"):
        ws.market.save_criteria({"name": "value", "max_pe": 20}, seen=loaded)
    with pytest.raises(ConcurrentUpdate, match="were saved by treasurer"):
        ws.market.save_criteria({"name": "value", "max_pe": 20}, seen=None)   # a screen that showed none
    assert next(c for c in ws.market.criteria() if c.name == "value").max_pe == 12
    assert audits() == before
    ws.market.save_criteria({"name": "value", "max_pe": 20})   # the CLI: last write wins
