"""Property 9 at the service level: metrics computed by PortfolioService from stored holdings,
prices and FX rates (a real SQLCipher file) equal the kernel on the same series, computed here
independently from the generated data."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import given, settings, strategies as st
from sqlalchemy import delete

from cio_desktop.domain import metrics
from cio_desktop.services.portfolio import PortfolioService
from cio_desktop.storage.models import Asset, FxRate, Holding, Portfolio, Price
from tests.property.helpers import make_session

START = date(2024, 1, 1)


def _business_days(n: int) -> list[date]:
    out, d = [], START
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


@st.composite
def books(draw):  # noqa: ANN001, ANN201
    n_days = draw(st.integers(3, 40))
    n_assets = draw(st.integers(1, 4))
    assets = []
    for i in range(n_assets):
        cur = draw(st.sampled_from(["EUR", "USD"]))
        qty = Decimal(draw(st.integers(1, 10**9))) / Decimal(1000)
        cents = draw(st.lists(st.integers(100, 10**7), min_size=n_days, max_size=n_days))
        assets.append((f"AS{i:010d}", cur, qty, [Decimal(c) / 100 for c in cents]))
    fx = [Decimal(draw(st.integers(80_000, 140_000))) / Decimal(100_000) for _ in range(n_days)]
    return _business_days(n_days), assets, fx


def _store(ws, days, assets, fx) -> int:  # noqa: ANN001
    with ws.db.unit_of_work() as uow:
        for model in (Holding, Price, Portfolio, Asset, FxRate):
            uow.execute(delete(model))
        uow.add_all([FxRate(rate_date=d, base="EUR", quote="USD", rate=r) for d, r in zip(days, fx)])
        p = Portfolio(name="P", base_currency="EUR", description="")
        uow.add(p)
        uow.flush()
        for ident, cur, qty, closes in assets:
            a = Asset(identifier=ident, name=ident, asset_class="equity", currency=cur)
            uow.add(a)
            uow.flush()
            uow.add(Holding(portfolio_id=p.id, asset_id=a.id, quantity=qty, cost_minor=0))
            uow.add_all([Price(asset_id=a.id, price_date=d, close=c) for d, c in zip(days, closes)])
        return p.id


@settings(max_examples=100, deadline=None)
@given(book=books())
def test_property_9_portfolio_metrics_calculation(ws, book) -> None:  # noqa: ANN001
    days, assets, fx = book
    pid = _store(ws, days, assets, fx)
    make_session(ws, "analyst")
    svc = PortfolioService(ws.ctx)
    # the same series, computed here: Σ quantity × close × (EUR per unit of the currency)
    eur_per_usd = [float(Decimal(1) / r) for r in fx]
    values = np.array([[float(q) * float(c) * (eur_per_usd[t] if cur == "USD" else 1.0)
                        for t, c in enumerate(closes)] for _, cur, q, closes in assets])
    total = np.array([math.fsum(col) for col in values.T])
    r = total[1:] / total[:-1] - 1.0
    got = svc.metrics(pid, start=days[0], end=days[-1])
    assert got.observations == len(days) - 1
    ref = metrics.metric_set(r)
    assert set(got.values) == set(ref)
    for key, expected in ref.items():
        e, g = float(expected), got.values[key]
        if math.isnan(e):
            assert math.isnan(g), key
        else:
            assert math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12), (key, g, e)
    assert math.isclose(svc.calculate_roi(pid, days[0], days[-1]), float(metrics.cumulative_return(r)),
                        rel_tol=1e-9, abs_tol=1e-12)
