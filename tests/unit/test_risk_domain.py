"""Risk limits and their evaluation, concentration, scenarios, and performance contribution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cio_desktop.domain import metrics, performance as pf
from cio_desktop.domain.risk import (
    NOT_SET,
    PortfolioSnapshot,
    Position,
    RiskProfile,
    concentration,
    concentration_report,
    evaluate,
    group_weights,
    risk_adjusted_return,
)
from cio_desktop.domain.scenarios import (
    COVID_2020,
    GFC_2008,
    HISTORICAL_SCENARIOS,
    RATES_2022,
    ZERO_SHOCK,
    Shock,
    apply_scenario,
    run_scenarios,
)
from cio_desktop.errors import ValidationError

BOOK = (
    Position("EQ-DE", 300.0, "equity", "Aurelia Pharma AG", "EUR", "DE", True),
    Position("EQ-US", 200.0, "equity", "Pinnacle Cloud Systems Inc.", "USD", "US", True),
    Position("GOV-DE", 250.0, "government_bond", "Bundesrepublik Deutschland", "EUR", "DE", True,
             duration=4.0, convexity=20.0),
    Position("CORP-DE", 150.0, "corporate_bond", "Aurelia Pharma AG", "EUR", "DE", False,
             duration=3.0),
    Position("CASH", 100.0, "cash", "Bank", "EUR", "DE", True),
)


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------

def test_every_breach_is_reported_with_limit_actual_dimension_key():
    profile = RiskProfile(
        max_volatility=0.10, max_drawdown=0.15, max_var=0.02,
        max_weight_per_asset=0.25, max_weight_per_issuer=0.40, max_weight_per_currency=0.15,
        key_limits={"currency": {"EUR": 1.0}, "asset_class": {"equity": 0.45}},
        min_liquid_share=0.90)
    snap = PortfolioSnapshot(BOOK, volatility=0.12, max_drawdown=-0.10, value_at_risk=-0.025)
    ev = evaluate(profile, snap)
    got = {(b.dimension, b.key): (b.limit, b.actual) for b in ev.breaches}
    assert got == {
        ("volatility", None): (0.10, 0.12),
        ("value_at_risk", None): (0.02, 0.025),
        ("asset", "EQ-DE"): (0.25, 0.30),
        ("issuer", "Aurelia Pharma AG"): (0.40, 0.45),
        ("currency", "USD"): (0.15, 0.20),
        ("asset_class", "equity"): (0.45, 0.50),
        ("liquidity", None): (0.90, 0.85),
    }
    assert not ev.compliant
    assert ev.score == pytest.approx(100 * 0.20 / 0.15)  # the most used limit: USD at 133 %
    dd = next(c for c in ev.checks if c.dimension == "max_drawdown")
    assert not dd.breached and dd.headroom == pytest.approx(0.05)
    liquidity = next(b for b in ev.breaches if b.dimension == "liquidity")
    assert liquidity.kind == "min" and liquidity.excess == pytest.approx(0.05)
    assert "liquidity: 85.00% against a minimum of 90.00%" == liquidity.describe()


def test_compliant_portfolio_and_exact_limit():
    profile = RiskProfile(max_weight_per_asset=0.30, max_volatility=0.12)
    ev = evaluate(profile, PortfolioSnapshot(BOOK, volatility=0.12))
    assert ev.compliant and ev.breaches == () and ev.undetermined == ()
    assert ev.score == pytest.approx(100.0)  # at two limits, over none


def test_weight_comparison_is_exact_not_rounded():
    # a limit of 0.3333333333333333 (1/3 as a float) is below a true third
    book = (Position("A", 1.0), Position("B", 1.0), Position("C", 1.0))
    limit = 1 / 3
    ev = evaluate(RiskProfile(max_weight_per_asset=limit), PortfolioSnapshot(book))
    assert [b.key for b in ev.breaches] == ["A", "B", "C"]
    assert ev.breaches[0].actual == limit  # shown value equals the limit on screen...
    assert not ev.compliant  # ...but the weight is above it
    # while 300 of 1,000 is exactly at a 30 % limit, although 0.3 is inexact in binary
    ev = evaluate(RiskProfile(max_weight_per_asset=0.3), PortfolioSnapshot(BOOK))
    assert ev.compliant


def test_missing_metric_is_undetermined_not_compliant():
    ev = evaluate(RiskProfile(max_volatility=0.1), PortfolioSnapshot(BOOK, volatility=None))
    assert not ev.compliant and ev.breaches == ()
    assert [c.dimension for c in ev.undetermined] == ["volatility"]
    ev = evaluate(RiskProfile(max_var=0.1), PortfolioSnapshot(BOOK, value_at_risk=float("nan")))
    assert not ev.compliant


def test_empty_portfolio():
    ev = evaluate(RiskProfile(max_weight_per_asset=0.1), PortfolioSnapshot(()))
    assert ev.compliant and ev.checks == () and ev.score == 0.0
    ev = evaluate(RiskProfile(min_liquid_share=0.5), PortfolioSnapshot(()))
    assert not ev.compliant and ev.undetermined
    assert evaluate(RiskProfile(), PortfolioSnapshot(BOOK)).compliant  # no limits, nothing to breach


def test_non_positive_net_value_is_refused():
    book = (Position("A", 100.0), Position("LOAN", -150.0, "cash"))
    with pytest.raises(ValidationError, match="net value is -50.00"):
        evaluate(RiskProfile(max_weight_per_asset=0.5), PortfolioSnapshot(book))


def test_unset_keys_are_grouped_conservatively():
    book = (Position("A", 50.0), Position("B", 50.0, issuer="X"))
    w = group_weights(book, "issuer")
    assert w == {NOT_SET: 0.5, "X": 0.5}


@pytest.mark.parametrize("kwargs", [dict(max_volatility=-0.1), dict(max_weight_per_asset=float("nan")),
                                    dict(var_confidence=1.0), dict(key_limits={"sector": {"IT": 0.2}}),
                                    dict(key_limits={"currency": {"USD": -1}})])
def test_bad_profile(kwargs):
    with pytest.raises(ValidationError):
        RiskProfile(**kwargs)


def test_bad_position():
    with pytest.raises(ValidationError, match="X: value must be a known number"):
        Position("X", float("nan"))


def test_snapshot_from_returns_uses_the_kernel():
    rng = np.random.default_rng(4)
    r = rng.normal(0.0003, 0.01, 500)
    snap = PortfolioSnapshot.from_returns(BOOK, r, confidence=0.99)
    assert snap.volatility == metrics.annual_volatility(r)
    assert snap.max_drawdown == metrics.max_drawdown(r)
    assert snap.value_at_risk == metrics.value_at_risk(r, 0.99)
    assert PortfolioSnapshot.from_returns(BOOK, [0.01]).volatility is None  # too short: unknown


def test_risk_adjusted_return_is_sharpe():
    rng = np.random.default_rng(8)
    r = rng.normal(0.0004, 0.01, 300)
    rf = 0.0001
    assert risk_adjusted_return(r, rf) == metrics.sharpe_ratio(r, rf)
    assert risk_adjusted_return(r, rf) == pytest.approx((r - rf).mean() / (r - rf).std(ddof=1) * math.sqrt(252))


# ---------------------------------------------------------------------------------------------
# concentration
# ---------------------------------------------------------------------------------------------

def test_concentration_by_dimension():
    c = concentration(BOOK, "asset", top_n=2)
    shares = dict(c.shares)
    assert shares["EQ-DE"] == pytest.approx(0.30)
    assert c.top_n_share == pytest.approx(0.55)
    assert c.hhi == pytest.approx(0.3**2 + 0.2**2 + 0.25**2 + 0.15**2 + 0.1**2)
    assert c.effective_number == pytest.approx(1 / c.hhi)
    report = concentration_report(BOOK, top_n=1)
    assert set(report) == {"asset", "asset_class", "issuer", "currency", "country"}
    assert report["currency"].shares[0] == ("EUR", pytest.approx(0.8))
    assert report["country"].hhi == pytest.approx(0.8**2 + 0.2**2)
    assert report["issuer"].top_n_share == pytest.approx(0.45)


def test_concentration_edge_cases():
    single = concentration((Position("A", 10.0),))
    assert single.hhi == 1.0 and single.effective_number == 1.0 and single.top_n_share == 1.0
    empty = concentration(())
    assert math.isnan(empty.hhi) and empty.shares == ()
    gross = concentration((Position("A", 100.0), Position("S", -100.0)))  # a short does not diversify
    assert gross.hhi == pytest.approx(0.5)
    with pytest.raises(ValidationError):
        concentration(BOOK, "sector")
    with pytest.raises(ValidationError):
        concentration(BOOK, top_n=0)


# ---------------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------------

def pnl(position: Position, shock: Shock, base: str = "EUR") -> float:
    return apply_scenario([position], shock, base_currency=base).total_pnl


def test_equity_and_beta():
    assert pnl(Position("E", 1000.0, "equity", currency="EUR"), Shock(equity_pct=-0.3)) == pytest.approx(-300.0)
    assert pnl(Position("E", 1000.0, "equity", currency="EUR", equity_beta=1.5),
               Shock(equity_pct=-0.2)) == pytest.approx(-300.0)
    assert pnl(Position("B", 1000.0, "government_bond", currency="EUR"), Shock(equity_pct=-0.3)) == 0.0


def test_rates_duration_and_convexity():
    bond = Position("B", 1000.0, "government_bond", currency="EUR", duration=5.0)
    assert pnl(bond, Shock(rates_bp=100)) == pytest.approx(-50.0)  # −D·Δy
    assert pnl(bond, Shock(rates_bp=-100)) == pytest.approx(50.0)
    convex = Position("B", 1000.0, "government_bond", currency="EUR", duration=5.0, convexity=30.0)
    assert pnl(convex, Shock(rates_bp=100)) == pytest.approx(1000 * (-0.05 + 0.5 * 30 * 0.0001))
    assert pnl(convex, Shock(rates_bp=-100)) == pytest.approx(1000 * (0.05 + 0.5 * 30 * 0.0001))
    # beyond the vertex D/C = 1,000 bp the approximation is held at its minimum −D²/(2C)
    steep = Position("B", 1000.0, "government_bond", currency="EUR", duration=5.0, convexity=50.0)
    assert pnl(steep, Shock(rates_bp=2000)) == pytest.approx(-250.0)
    assert pnl(steep, Shock(rates_bp=3000)) == pytest.approx(-250.0)
    # a linear loss beyond −100 % is floored: a long position cannot lose more than its value
    assert pnl(Position("L", 1000.0, "government_bond", currency="EUR", duration=20.0),
               Shock(rates_bp=1000)) == pytest.approx(-1000.0)
    assert pnl(bond, Shock(rates_bp=100, rates_bp_by_currency={"EUR": 50})) == pytest.approx(-25.0)


def test_spreads_apply_to_credit_by_default():
    corp = Position("C", 1000.0, "corporate_bond", currency="EUR", duration=4.0)
    gov = Position("G", 1000.0, "government_bond", currency="EUR", duration=4.0)
    assert pnl(corp, Shock(spread_bp=100)) == pytest.approx(-40.0)  # spread duration = duration
    assert pnl(gov, Shock(spread_bp=100)) == 0.0  # no spread duration unless given
    assert pnl(corp, Shock(spread_bp=100, spread_bp_by_asset_class={"corporate_bond": 50})) == pytest.approx(-20.0)


def test_fx_and_cross_term():
    usd = Position("U", 1000.0, "equity", currency="USD")
    assert pnl(usd, Shock(fx_pct=-0.10)) == pytest.approx(-100.0)
    res = apply_scenario([usd], Shock(fx_pct=-0.10, equity_pct=-0.20), base_currency="EUR")
    row = res.positions[0]
    assert row.pnl == pytest.approx(1000 * (0.8 * 0.9 - 1))
    assert row.local_pnl == pytest.approx(-200.0) and row.fx_pnl == pytest.approx(-80.0)
    assert row.local_pnl + row.fx_pnl == pytest.approx(row.pnl)
    assert pnl(Position("E", 1000.0, "equity", currency="EUR"), Shock(fx_pct=-0.5)) == 0.0  # base
    # moves against USD convert to the base: EUR −20 % vs USD → a USD asset +25 % in EUR
    assert pnl(Position("U", 1000.0, "cash", currency="USD"),
               Shock(fx_vs_usd={"EUR": -0.20})) == pytest.approx(250.0)
    assert pnl(Position("U", 1000.0, "cash", currency="USD"), Shock(fx_vs_usd={"EUR": -0.20}),
               base="USD") == 0.0


def test_zero_shock_and_historical_scenarios():
    res = apply_scenario(BOOK, ZERO_SHOCK, base_currency="EUR")
    assert res.total_pnl == 0.0 and all(r.pnl == 0.0 for r in res.positions)
    results = run_scenarios(BOOK, HISTORICAL_SCENARIOS.values(), base_currency="EUR")
    assert [r.name for r in results] == [GFC_2008.name, COVID_2020.name, RATES_2022.name]
    gfc = {r.asset: r.pnl for r in results[0].positions}
    assert gfc["EQ-DE"] == pytest.approx(-300 * 0.568)
    assert gfc["GOV-DE"] > 0  # flight to quality: Bund yields fell 130 bp
    assert gfc["CORP-DE"] < 0  # spreads +400 bp outweigh rates −130 bp at equal durations
    assert gfc["CASH"] == 0.0
    assert gfc["EQ-US"] == pytest.approx(200 * ((1 - 0.568) * 1 / 0.8 - 1))  # USD +25 % vs EUR
    rates = {r.asset: r.pnl for r in results[2].positions}
    assert rates["GOV-DE"] == pytest.approx(250 * (-4 * 0.0275 + 0.5 * 20 * 0.0275**2))
    for r in results:
        assert r.total_pnl == pytest.approx(math.fsum(p.pnl for p in r.positions))
        assert r.total_pct == pytest.approx(r.total_pnl / 1000.0)
        assert r.total_pnl < 0  # each episode hurts this book
    for shock in HISTORICAL_SCENARIOS.values():
        assert shock.description and shock.equity_pct < 0 or shock is RATES_2022


@pytest.mark.parametrize("kwargs", [dict(equity_pct=-1.5), dict(fx_pct_by_currency={"USD": -2.0}),
                                    dict(rates_bp=float("inf")), dict(asset_class_pct={"x": "a"})])
def test_bad_shock(kwargs):
    with pytest.raises(ValidationError):
        Shock(**kwargs)


def test_scenario_needs_base_currency():
    with pytest.raises(ValidationError, match="base currency"):
        apply_scenario(BOOK, ZERO_SHOCK, base_currency="")


# ---------------------------------------------------------------------------------------------
# performance arithmetic
# ---------------------------------------------------------------------------------------------

def test_market_values_with_fx_and_named_gaps():
    q = [10.0, 5.0, 0.0]
    p = [[100.0, 101.0], [20.0, 21.0], [np.nan, np.nan]]  # the third asset is not held: no price needed
    fx = [1.0, 0.9, 1.0]
    v = pf.market_values(q, p, fx)
    assert np.allclose(v, [[1000.0, 1010.0], [90.0, 94.5], [0.0, 0.0]])
    with pytest.raises(ValidationError, match="BETA on 2026-01-02: no valid price"):
        pf.market_values([1.0, 1.0], [[1.0, 1.0], [1.0, np.nan]], assets=["ALPHA", "BETA"],
                         dates=["2026-01-01", "2026-01-02"])
    with pytest.raises(ValidationError, match="ALPHA: no valid FX rate"):
        pf.market_values([1.0], [2.0], [np.nan], assets=["ALPHA"])


def test_simple_returns_leading_nan_and_gaps():
    r = pf.simple_returns([[np.nan, 10.0, 11.0, 12.1], [5.0, 5.0, 4.0, 5.0]])
    assert np.isnan(r[0, 0]) and r[0, 1:].tolist() == pytest.approx([0.1, 0.1])
    assert r[1].tolist() == pytest.approx([0.0, -0.2, 0.25])
    with pytest.raises(ValidationError, match="B on d3: missing price"):
        pf.simple_returns([[1.0, 1.0, 1.0], [1.0, 1.0, np.nan]], assets=["A", "B"], dates=["d1", "d2", "d3"])
    with pytest.raises(ValidationError, match="invalid price"):
        pf.simple_returns([1.0, 0.0, 1.0])


def test_contributions_sum_to_portfolio_return():
    start = np.array([600.0, 300.0, 100.0])
    end = np.array([660.0, 270.0, 105.0])
    w = pf.weights_from_values(start)
    r = end / start - 1
    c = pf.contributions(w, r)
    assert c.tolist() == pytest.approx([0.06, -0.03, 0.005])
    assert pf.portfolio_returns(w, r) == pytest.approx(0.035)
    c2, rp = pf.contributions_from_values(start, end)
    assert rp == pytest.approx(0.035) and c2 == pytest.approx(c)
    assert math.fsum(c2) == pytest.approx(rp, abs=1e-15)


def test_drifted_weights_and_linked_contributions():
    w0 = np.array([0.5, 0.5])
    r = np.array([[0.10, -0.05, 0.02], [0.00, 0.03, -0.04]])
    w = pf.drifted_weights(w0, r)
    assert w[:, 0].tolist() == [0.5, 0.5]
    assert w[:, 1].tolist() == pytest.approx([0.55 / 1.05, 0.5 / 1.05])
    c = pf.contributions(w, r)
    rp = pf.portfolio_returns(w, r)
    linked = pf.linked_contributions(c, rp)
    total = math.prod(1 + x for x in rp) - 1
    assert math.fsum(linked) == pytest.approx(total, abs=1e-14)  # Cariño: adds up exactly
    values = np.cumprod(np.concatenate([w0[:, None], 1 + r], axis=1), axis=1).sum(axis=0)
    assert total == pytest.approx(values[-1] / values[0] - 1)
    with pytest.raises(ValidationError):
        pf.linked_contributions(c, np.array([0.1, -1.0, 0.0]))
