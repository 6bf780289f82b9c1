"""PortfolioService over the demo company (real SQLCipher file)."""

from __future__ import annotations

import csv
import math
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from cio_desktop.domain import metrics
from cio_desktop.domain.rebalancing import RebalanceConstraints, apply_trades
from cio_desktop.errors import PermissionDenied, ValidationError
from cio_desktop.services.portfolio import EQUAL_WEIGHT, PortfolioService
from cio_desktop.storage.models import Asset, AuditEntry, FxRate, Holding, Portfolio, Price
from tests.conftest import login


@pytest.fixture
def svc(demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "treasurer")
    return PortfolioService(demo_ws.ctx)


def _ids(svc) -> dict[str, int]:  # noqa: ANN001
    return {p.name: p.id for p in svc.list_portfolios()}


def test_list_portfolios(svc) -> None:  # noqa: ANN001
    ps = svc.list_portfolios()
    assert [p.name for p in ps] == ["Long-Term Reserve", "Strategic Liquidity"]
    assert all(p.base_currency == "EUR" and p.holdings > 10 for p in ps)


def test_valuation_equals_quantity_price_fx_computed_independently(svc, demo_ws) -> None:  # noqa: ANN001
    pid = _ids(svc)["Long-Term Reserve"]
    val = svc.valuation(pid)
    expected_total = Decimal(0)
    with demo_ws.db.unit_of_work(write=False) as uow:
        for h, a in uow.execute(select(Holding, Asset).join(Asset).where(Holding.portfolio_id == pid)):
            d, close = uow.execute(select(Price.price_date, Price.close).where(Price.asset_id == a.id)
                                   .order_by(Price.price_date.desc()).limit(1)).one()
            if a.currency == "EUR":
                rate = Decimal(1)
            else:
                eur_quote = uow.execute(select(FxRate.rate).where(FxRate.base == "EUR", FxRate.quote == a.currency,
                                                                  FxRate.rate_date <= d)
                                        .order_by(FxRate.rate_date.desc()).limit(1)).scalar_one()
                rate = Decimal(1) / eur_quote
            expected = (h.quantity * close * rate).quantize(Decimal("0.01"))
            view = next(v for v in val.holdings if v.identifier == a.identifier)
            assert abs(view.value_base.amount - expected) <= Decimal("0.01"), a.identifier
            assert view.value_local.amount == (h.quantity * close).quantize(Decimal("0.01"))
            assert view.unrealised_pnl.amount == view.value_local.amount - Decimal(h.cost_minor) / 100
            expected_total += expected
    assert abs(val.total.amount - expected_total) <= Decimal("0.01") * len(val.holdings)
    assert math.isclose(sum(v.weight for v in val.holdings), 1.0, abs_tol=1e-9)
    assert {v.asset.currency for v in val.holdings} >= {"EUR", "USD", "GBP"}


def test_series_last_value_matches_valuation_and_metrics_equal_kernel(svc) -> None:  # noqa: ANN001
    pid = _ids(svc)["Long-Term Reserve"]
    s = svc.value_series(pid)
    val = svc.valuation(pid)
    assert math.isclose(s.total[-1], float(val.total.amount), rel_tol=1e-9)
    assert 240 <= len(s.dates) <= 270  # one year of business days
    r = s.total[1:] / s.total[:-1] - 1
    m = svc.metrics(pid)
    ref = metrics.metric_set(r)
    for k, v in ref.items():
        assert m.values[k] == pytest.approx(float(v), rel=1e-12, abs=1e-15), k
    assert svc.calculate_roi(pid) == pytest.approx(float(metrics.cumulative_return(r)), rel=1e-12)
    assert svc.calculate_volatility(pid) == pytest.approx(float(metrics.annual_volatility(r)), rel=1e-12)
    assert svc.calculate_sharpe_ratio(pid) == pytest.approx(float(metrics.sharpe_ratio(r)), rel=1e-12)
    eq = svc.metrics(pid, benchmark=EQUAL_WEIGHT)
    assert {"beta", "alpha", "tracking_error", "information_ratio"} <= set(eq.values)
    ident = s.assets[0].identifier
    single = svc.metrics(pid, benchmark=ident)
    local = s.prices[0] * s.fx[0]
    assert single.values["beta"] == pytest.approx(float(metrics.beta(r, local[1:] / local[:-1] - 1)), rel=1e-9)


def test_contributions_sum_to_portfolio_return(svc) -> None:  # noqa: ANN001
    for pid in _ids(svc).values():
        rep = svc.track_asset_performance(pid)
        assert math.fsum(r.contribution for r in rep.rows) == pytest.approx(rep.portfolio_return, abs=1e-12)
        s = svc.value_series(pid)
        assert rep.portfolio_return == pytest.approx(s.total[-1] / s.total[0] - 1, rel=1e-9)


def test_missing_price_names_asset_and_date(svc, demo_ws) -> None:  # noqa: ANN001
    pid = _ids(svc)["Strategic Liquidity"]
    s = svc.value_series(pid)
    victim = s.assets[3]
    gap = s.dates[100:110]  # ten observation days: more than the 5 carried forward
    with demo_ws.db.unit_of_work() as uow:
        uow.execute(delete(Price).where(Price.asset_id == victim.id, Price.price_date.in_(gap)))
    with pytest.raises(ValidationError) as err:
        svc.value_series(pid)
    msg = str(err.value)
    assert victim.identifier in msg and str(gap[5]) in msg
    with pytest.raises(ValidationError, match=victim.identifier):
        svc.metrics(pid)
    # a short gap (3 days) is carried forward
    with demo_ws.db.unit_of_work() as uow:
        uow.execute(delete(Price).where(Price.asset_id == s.assets[4].id, Price.price_date.in_(s.dates[200:203])))
    svc.value_series(pid, start=s.dates[150])


def test_unknown_fx_names_currency_and_date(svc, demo_ws) -> None:  # noqa: ANN001
    pid = _ids(svc)["Long-Term Reserve"]
    s = svc.value_series(pid)
    cut = s.dates[-30]
    with demo_ws.db.unit_of_work() as uow:
        uow.execute(delete(FxRate).where(FxRate.quote == "GBP", FxRate.rate_date >= cut))
    with pytest.raises(ValidationError) as err:
        svc.value_series(pid)
    msg = str(err.value)
    assert "GBP/EUR" in msg and str(s.dates[-30 + 5]) in msg
    with pytest.raises(ValidationError, match="GBP"):
        svc.valuation(pid)


def test_rebalancing_by_class_reaches_targets_and_is_idempotent(svc) -> None:  # noqa: ANN001
    pid = _ids(svc)["Strategic Liquidity"]
    targets = {"money_market": 0.30, "government_bond": 0.45, "corporate_bond": 0.25}
    c = RebalanceConstraints(tolerance=0.005, transaction_cost_bps=5)
    prop = svc.recommend_rebalancing(pid, targets, c, by="asset_class")
    assert prop.plan.trades and prop.plan.within_tolerance
    holdings = {h.identifier: float(h.quantity) for h in svc.holdings(pid)}
    after, cash = apply_trades(holdings, 0.0, prop.plan.trades)
    prices = {k: float(prop.local_prices[k] * prop.fx[k]) for k in prop.assets}
    nav = math.fsum([cash, *(q * prices[a] for a, q in after.items())])
    by_class: dict[str, float] = {}
    for a, q in after.items():
        k = prop.assets[a].asset_class
        by_class[k] = by_class.get(k, 0.0) + q * prices[a] / nav
    for k, w in targets.items():
        assert by_class[k] == pytest.approx(w, abs=0.01), k
    from cio_desktop.domain.rebalancing import recommend_rebalancing
    again = recommend_rebalancing(after, prices, prop.asset_targets, c, cash=cash)
    assert again.trades == ()
    impact = svc.assess_impact(prop.plan.trades)
    assert len(impact.estimates) == len(prop.plan.trades) and impact.total_cost > 0


def test_rebalancing_validation_names_asset(svc) -> None:  # noqa: ANN001
    pid = _ids(svc)["Strategic Liquidity"]
    h = svc.holdings(pid)
    with pytest.raises(ValidationError, match="not 100"):
        svc.recommend_rebalancing(pid, {h[0].identifier: 0.5, h[1].identifier: 0.3})
    with pytest.raises(ValidationError, match="XX0000000000"):
        svc.recommend_rebalancing(pid, {h[0].identifier: 0.5, "XX0000000000": 0.5})
    with pytest.raises(ValidationError, match="equity"):
        svc.recommend_rebalancing(pid, {"equity": 0.5, "money_market": 0.5}, by="asset_class")
    with pytest.raises(ValidationError, match=h[2].identifier):
        svc.recommend_rebalancing(pid, {h[0].identifier: 1.1, h[2].identifier: -0.1})


def test_export_csv_is_formula_safe_and_audited(svc, demo_ws, tmp_path) -> None:  # noqa: ANN001
    pid = _ids(svc)["Strategic Liquidity"]
    prop = svc.recommend_rebalancing(pid, {"money_market": 0.3, "government_bond": 0.45, "corporate_bond": 0.25},
                                     by="asset_class")
    prop.assets[prop.plan.trades[0].asset] = type(prop.assets[prop.plan.trades[0].asset])(
        *[getattr(prop.assets[prop.plan.trades[0].asset], f) if f != "name" else "=HYPERLINK(\"x\")"
          for f in prop.assets[prop.plan.trades[0].asset].__dataclass_fields__])
    impact = svc.assess_impact(prop.plan.trades)
    with demo_ws.db.unit_of_work(write=False) as uow:
        before = uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    path = svc.export_rebalancing_csv(prop, tmp_path / "plan.csv", impact)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0][0] == "identifier" and len(rows) == len(prop.plan.trades) + 2
    assert rows[1][1].startswith("'=")
    assert float(rows[1][6]) == pytest.approx(prop.plan.trades[0].value, abs=0.01)
    with demo_ws.db.unit_of_work(write=False) as uow:
        entries = uow.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().all()
        assert len(entries) == before + 1 and entries[0].action == "rebalancing.exported"


def test_export_needs_reports_permission(demo_ws, tmp_path) -> None:  # noqa: ANN001
    login(demo_ws, "viewer")
    svc = PortfolioService(demo_ws.ctx)
    pid = svc.list_portfolios()[0].id
    prop = svc.recommend_rebalancing(pid, {h.identifier: h.weight for h in svc.holdings(pid)})
    if "reports.export" not in demo_ws.ctx.session.permissions:
        with pytest.raises(PermissionDenied):
            svc.export_rebalancing_csv(prop, tmp_path / "x.csv")
