"""Market data and advisory: parser throughput for each provider format, and the services on the
demo company (analysis, opportunity screen, recommendations, strategy matrix, cache read).

    python bench/market.py

No target figure is set by the issue; the panel calls run in the worker pool, so the figures to
watch are the interactive ones (analysis of one asset, the screen, the report) staying within a
few seconds on the demo company.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

os.environ["CIO_KEYRING"] = "memory"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test kit writes the provider formats


def timed(label: str, fn, repeat: int = 3):  # noqa: ANN001, ANN201
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    print(f"{label:52} {best * 1000:9.1f} ms")
    return result


def parsers() -> None:
    from cio_desktop.integrations.market import AlphaVantageProvider, EcbProvider, ProviderConfig, StooqProvider
    from tests.market_fixtures import av_daily, business_days, ecb_xml, series, stooq_csv

    days = business_days(date(2026, 10, 30), 6_700)  # the ECB history since 1999
    rates = {c: [1.0 + i * 1e-5 for i in range(len(days))] for c in
             ("USD", "JPY", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "AUD", "CAD", "CNY", "HKD",
              "SGD", "KRW", "INR", "BRL", "MXN", "ZAR", "TRY", "NZD", "ILS", "THB", "IDR", "MYR", "PHP", "RON",
              "ISK", "BGN")}
    xml = ecb_xml(days, rates)
    ecb = EcbProvider(ProviderConfig("ECB", "ecb", "https://x"))
    n = timed(f"ECB eurofxref-hist ({len(xml) / 1e6:.1f} MB, {len(days) * 30:,} rates)", lambda: len(ecb.parse_fx(xml)))
    d, c = series("rising", date(2026, 10, 30), 5_000)
    csv_text = stooq_csv(d, c)
    stooq = StooqProvider(ProviderConfig("Stooq", "stooq", "https://x"))
    timed("Stooq CSV, 5,000 daily bars", lambda: len(stooq.parse_prices("x", csv_text).bars))
    av = AlphaVantageProvider(ProviderConfig("AV", "alphavantage", "https://x", api_key="k"))
    body = av_daily("IBM", d, c)
    timed("Alpha Vantage TIME_SERIES_DAILY full, 5,000 bars", lambda: len(av.parse_prices("IBM", body).bars))
    assert n == len(days) * 30


def services() -> None:
    from sqlalchemy import select

    from cio_desktop.config import load_settings
    from cio_desktop.security.dbkey import DbKey
    from cio_desktop.services.demo import build_demo
    from cio_desktop.services.workspace import open_workspace
    from cio_desktop.storage.models import Asset

    root = Path(tempfile.mkdtemp(prefix="cio-market-bench-"))
    settings = load_settings({"db": str(root / "demo.db"), "data_dir": root / "data", "log_dir": root / "logs",
                              "cache_dir": root / "cache", "config_dir": root / "config"}, environ={})
    now = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    ws = open_workspace(settings, create=True, key=DbKey(raw=os.urandom(32), origin="bench"), clock=lambda: now)
    try:
        t = time.perf_counter()
        build_demo(ws.ctx, seed=7, scale=1, password="Bench-Password-2026!")
        print(f"{'(demo company built)':52} {(time.perf_counter() - t):9.1f} s")
        ws.auth.login("analyst", "Bench-Password-2026!")
        with ws.db.unit_of_work(write=False) as uow:
            ident = uow.execute(select(Asset.identifier).where(Asset.asset_class == "equity")).scalars().first()
        timed("analyze_investment (one equity, 400 days)", lambda: ws.market.analyze_investment(ident), 5)
        res = timed("identify_opportunities (40 assets, default criteria)", lambda: ws.market.identify_opportunities())
        print(f"{'  → qualifying':52} {len(res.opportunities):9d}")
        recs = timed("generate_recommendations (2 portfolios, all inputs)",
                     lambda: ws.advisory.generate_recommendations(), 2)
        print(f"{'  → recommendations':52} {len(recs.recommendations):9d}")
        timed("compare_strategies (4 strategies × 7 metrics)", lambda: ws.advisory.compare_strategies())
        timed("generate_report (store + audit)", lambda: ws.advisory.generate_report(), 1)
        timed("fetch_market_data, offline (host does not resolve)", lambda: ws.market.fetch_market_data(), 1)
    finally:
        ws.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parsers()
    services()

