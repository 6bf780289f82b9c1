"""RiskService over the demo company (real SQLCipher file)."""

from __future__ import annotations

import math
from datetime import date

import pytest

from cio_desktop.domain import metrics
from cio_desktop.domain.risk import RiskProfile
from cio_desktop.domain.scenarios import HISTORICAL_SCENARIOS, ZERO_SHOCK, Shock
from cio_desktop.errors import ValidationError
from cio_desktop.services.portfolio import AssetInfo, PortfolioService
from cio_desktop.services.risk import PROFILES, RiskService, bond_duration
from tests.conftest import login


@pytest.fixture
def services(demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "analyst")
    return PortfolioService(demo_ws.ctx), RiskService(demo_ws.ctx)


def _pid(p, name: str) -> int:  # noqa: ANN001
    return next(x.id for x in p.list_portfolios() if x.name == name)


def test_breaches_match_hand_computed_case(services) -> None:  # noqa: ANN001
    p, r = services
    pid = _pid(p, "Long-Term Reserve")
    holdings = p.holdings(pid)
    top = max(holdings, key=lambda h: h.weight)
    by_cur: dict[str, float] = {}
    for h in holdings:
        by_cur[h.asset.currency] = by_cur.get(h.asset.currency, 0.0) + h.weight
    vol = p.calculate_volatility(pid)
    limit_asset = top.weight - 0.001  # only the largest holding can exceed it … and any at ≥ that
    profile = RiskProfile(name="hand", max_weight_per_asset=limit_asset, max_weight_per_currency=0.999,
                          key_limits={"currency": {"EUR": 1.0}}, max_volatility=vol * 2)
    rep = r.evaluate_portfolio_risk(pid, profile)
    expected_assets = {h.identifier for h in holdings if h.weight > limit_asset}
    expected_cur = {c for c, w in by_cur.items() if c != "EUR" and w > 0.999}
    got = {(b.dimension, b.key) for b in rep.evaluation.breaches}
    assert got == {("asset", a) for a in expected_assets} | {("currency", c) for c in expected_cur}
    b = next(b for b in rep.evaluation.breaches if b.key == top.identifier)
    assert b.actual == pytest.approx(top.weight, abs=1e-9) and b.limit == limit_asset
    vol_check = next(c for c in rep.evaluation.checks if c.dimension == "volatility")
    assert vol_check.actual == pytest.approx(vol, rel=1e-12)
    assert vol_check.headroom == pytest.approx(vol, rel=1e-9) and not vol_check.breached
    assert not rep.evaluation.compliant
    ok = r.evaluate_portfolio_risk(pid, RiskProfile(name="loose", max_weight_per_asset=1.0, max_volatility=1.0))
    assert ok.evaluation.compliant and not ok.evaluation.breaches


def test_default_profiles(services) -> None:  # noqa: ANN001
    p, r = services
    assert set(PROFILES) == {"Conservative treasury", "Moderate"}
    res = r.evaluate_portfolio_risk(_pid(p, "Long-Term Reserve"), "Conservative treasury")
    assert any(b.dimension == "asset_class" and b.key == "equity" for b in res.evaluation.breaches)
    with pytest.raises(ValidationError, match="unknown risk profile"):
        r.evaluate_portfolio_risk(_pid(p, "Long-Term Reserve"), "Aggressive")


def test_zero_shock_gives_zero_pnl_and_historical_scenarios_lose(services) -> None:  # noqa: ANN001
    p, r = services
    pid = _pid(p, "Long-Term Reserve")
    res = r.run_scenario_analysis(pid, [ZERO_SHOCK])
    assert res[0].total_pnl == 0.0 and all(x.pnl == 0.0 for x in res[0].positions)
    hist = r.run_scenario_analysis(pid)
    assert [h.name for h in hist] == [s.name for s in HISTORICAL_SCENARIOS.values()]
    gfc = hist[0]
    assert gfc.total_pnl < 0
    assert gfc.total_value == pytest.approx(sum(float(h.value_base.amount) for h in p.holdings(pid)), rel=1e-9)
    custom = r.run_scenario_analysis(pid, [Shock(name="eq -10", equity_pct=-0.10),
                                           Shock(name="eq -20", equity_pct=-0.20)])
    assert custom[1].total_pnl < custom[0].total_pnl < 0
    eq_value = sum(float(h.value_base.amount) for h in p.holdings(pid) if h.asset.asset_class == "equity")
    assert custom[0].total_pnl == pytest.approx(-0.10 * eq_value, rel=1e-9)


def test_rates_up_hurts_bonds_by_duration(services) -> None:  # noqa: ANN001
    p, r = services
    pid = _pid(p, "Strategic Liquidity")
    res = r.run_scenario_analysis(pid, [Shock(name="+100bp", rates_bp=100)])[0]
    assert res.total_pnl < 0
    positions = {x.asset: x for x in r.positions(pid)}
    for x in res.positions:
        if positions[x.asset].asset_class == "government_bond":
            d = positions[x.asset].duration
            assert 0 < d < 6
            assert x.local_pnl / x.value == pytest.approx(-d * 0.01 + 0.5 * positions[x.asset].convexity * 1e-4,
                                                          rel=1e-9)


def test_bond_duration_from_name() -> None:
    info = AssetInfo(1, "X", "Bund 2% 15/06/2030", "government_bond", "", "DE", "EUR", "", "AAA")
    d, c = bond_duration(info, date(2025, 6, 15))
    assert d == pytest.approx((1 - 1.02 ** -5.0) / 0.02, rel=1e-3)
    assert c > d
    mm = AssetInfo(2, "Y", "Fund", "money_market", "", "IE", "EUR", "", "")
    assert bond_duration(mm, date(2025, 1, 1))[0] == 0.1


def test_concentration_all_dimensions(services) -> None:  # noqa: ANN001
    p, r = services
    pid = _pid(p, "Long-Term Reserve")
    rep = r.identify_concentration_risk(pid)
    assert set(rep) == {"asset", "asset_class", "issuer", "currency", "country", "sector"}
    weights = [h.weight for h in p.holdings(pid)]
    assert rep["asset"].hhi == pytest.approx(sum(w * w for w in weights), rel=1e-9)
    assert rep["asset"].top_n_share == pytest.approx(sum(sorted(weights)[-5:]), rel=1e-9)
    assert math.isclose(sum(s for _, s in rep["sector"].shares), 1.0, rel_tol=1e-9)


def test_var_and_risk_adjusted_return_equal_kernel(services) -> None:  # noqa: ANN001
    p, r = services
    pid = _pid(p, "Strategic Liquidity")
    s = p.value_series(pid)
    ret = s.returns
    v = r.value_at_risk(pid)
    assert v.historical == pytest.approx(float(metrics.value_at_risk(ret, 0.95)), rel=1e-12)
    assert v.parametric == pytest.approx(float(metrics.value_at_risk(ret, 0.95, "parametric")), rel=1e-12)
    assert v.cvar <= v.historical < 0
    assert v.monte_carlo < 0
    assert r.calculate_risk_adjusted_return(pid) == pytest.approx(float(metrics.sharpe_ratio(ret)), rel=1e-12)
