"""Rebalancing trades and the square-root market-impact estimate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cio_desktop.domain.market_impact import (
    DEFAULT_IMPACT_COEFFICIENT,
    ImpactInput,
    estimate_impact,
    square_root_impact,
)
from cio_desktop.domain.rebalancing import RebalanceConstraints, apply_trades, recommend_rebalancing
from cio_desktop.errors import ValidationError

PRICES = {"EQ": 50.0, "GOV": 100.0, "CORP": 98.0, "MMF": 1.0}
TARGETS = {"EQ": 0.4, "GOV": 0.3, "CORP": 0.2, "MMF": 0.1}


def rerun(holdings, cash, plan, targets=TARGETS, prices=PRICES, c=None):  # noqa: ANN001, ANN201
    h, cash_after = apply_trades(holdings, cash, plan.trades)
    return h, cash_after, recommend_rebalancing(h, prices, targets, c, cash=cash_after)


def test_fractional_rebalance_reaches_targets_exactly():
    holdings = {"EQ": 1000.0, "GOV": 100.0}
    plan = recommend_rebalancing(holdings, PRICES, TARGETS, cash=20_000.0)
    assert plan.nav == pytest.approx(1000 * 50 + 100 * 100 + 20_000)
    for a, w in TARGETS.items():
        assert plan.weights_after[a] == pytest.approx(w, abs=1e-12)
    assert plan.cash_after == pytest.approx(0.0, abs=1e-6)
    assert plan.within_tolerance and plan.total_cost == 0.0
    _h, _c, again = rerun(holdings, 20_000.0, plan)
    assert again.trades == ()


def test_cash_buffer_and_costs():
    c = RebalanceConstraints(cash_buffer=0.05, transaction_cost_bps=10.0)
    holdings = {"EQ": 2000.0}
    plan = recommend_rebalancing(holdings, PRICES, TARGETS, c, cash=0.0)
    traded = math.fsum(abs(t.value) for t in plan.trades)
    assert plan.total_cost == pytest.approx(traded * 0.001)
    nav_after = plan.nav - plan.total_cost
    assert plan.cash_after == pytest.approx(0.05 * nav_after, rel=1e-9)  # buffer after costs
    for a, w in TARGETS.items():
        assert plan.weights_after[a] == pytest.approx(w * 0.95, abs=1e-9)
    assert plan.cash_share_after == pytest.approx(0.05, abs=1e-9)
    assert plan.turnover == pytest.approx(traded / plan.nav)
    _h, _c, again = rerun(holdings, 0.0, plan, c=c)
    assert again.trades == ()


def test_lots_round_to_nearest_and_never_overdraw():
    c = RebalanceConstraints(lot_size={"EQ": 10, "GOV": 5, "CORP": 5, "MMF": 1000},
                             transaction_cost_bps=5.0)
    holdings = {"EQ": 3000.0}
    plan = recommend_rebalancing(holdings, PRICES, TARGETS, c, cash=1234.0)
    for t in plan.trades:
        lot = c.lot_size[t.asset]
        assert abs(t.quantity / lot - round(t.quantity / lot)) < 1e-9, t
    assert plan.cash_after >= -1e-9 * plan.nav
    assert plan.within_tolerance
    _h, _c, again = rerun(holdings, 1234.0, plan, c=c)
    assert again.trades == ()


def test_cash_check_cuts_buys_that_rounding_made_unaffordable():
    c = RebalanceConstraints(lot_size={"A": 1, "B": 1}, tolerance=0.01)
    plan = recommend_rebalancing({"A": 10.0}, {"A": 100.0, "B": 300.0}, {"A": 0.5, "B": 0.5}, c)
    # A: sell 5 → 500 cash; B wants 1.67 lots → nearest is 2 (600), more than the cash: cut to 1
    qty = {t.asset: t.quantity for t in plan.trades}
    assert qty == {"A": -5.0, "B": 1.0}
    assert plan.cash_after == pytest.approx(200.0)
    assert any("B: buy cut from 2 to 1" in n for n in plan.notes)
    assert not plan.within_tolerance  # the lot is too coarse for the band: said, not hidden


def test_min_trade_value_skips_and_explains():
    c = RebalanceConstraints(min_trade_value=1_000.0, tolerance=0.001)
    holdings = {"EQ": 800.0, "GOV": 300.0, "CORP": 200.0, "MMF": 9_000.0}  # MMF a bit over
    plan = recommend_rebalancing(holdings, PRICES, TARGETS, c, cash=0.0)
    assert all(abs(t.value) >= 1_000.0 for t in plan.trades)
    assert any("below the minimum trade value" in n for n in plan.notes)
    _h, _c, again = rerun(holdings, 0.0, plan, c=c)
    assert again.trades == ()


def test_within_band_recommends_nothing():
    nav = 100_000.0
    holdings = {a: w * nav / PRICES[a] for a, w in TARGETS.items()}
    holdings["EQ"] *= 1.01  # 0.4 % of NAV off: inside the default 0.5 % band
    plan = recommend_rebalancing(holdings, PRICES, TARGETS, cash=0.0)
    assert plan.trades == () and plan.within_tolerance
    assert plan.cash_after == 0.0


def test_asset_not_in_targets_is_sold_entirely_even_an_odd_lot():
    c = RebalanceConstraints(lot_size={"OLD": 100})
    plan = recommend_rebalancing({"OLD": 130.0, "EQ": 10.0}, {"OLD": 10.0, "EQ": 50.0}, {"EQ": 1.0}, c)
    qty = {t.asset: t.quantity for t in plan.trades}
    assert qty["OLD"] == -130.0
    assert plan.weights_after["OLD"] == 0.0


def test_short_targets_allowed_only_without_no_short():
    prices = {"A": 10.0, "B": 10.0}
    with pytest.raises(ValidationError, match="B: target weight .* negative"):
        recommend_rebalancing({"A": 100.0}, prices, {"A": 1.2, "B": -0.2})
    plan = recommend_rebalancing({"A": 100.0}, prices, {"A": 1.2, "B": -0.2},
                                 RebalanceConstraints(no_short=False))
    assert plan.weights_after["B"] == pytest.approx(-0.2)
    assert plan.weights_after["A"] == pytest.approx(1.2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(targets={"EQ": 0.5, "GOV": 0.4}), "sum to 90.0000%, not 100%"),
    (dict(targets={}), "no target weights"),
    (dict(holdings={"EQ": -5.0}), "EQ: holding of -5 is short"),
    (dict(prices={"GOV": 100.0, "CORP": 98.0, "MMF": 1.0}), "EQ: no price"),
    (dict(prices={**PRICES, "GOV": 0.0}), "GOV: price must be positive"),
    (dict(prices={**PRICES, "GOV": float("nan")}), "GOV: price is missing"),
    (dict(holdings={}, cash=0.0), "net value is 0.00"),
])
def test_bad_input_is_named(kwargs, match):
    args = dict(holdings={"EQ": 10.0}, prices=PRICES, targets=TARGETS, cash=0.0)
    args.update(kwargs)
    cash = args.pop("cash")
    with pytest.raises(ValidationError, match=match):
        recommend_rebalancing(args["holdings"], args["prices"], args["targets"], cash=cash)


def test_targets_within_sum_tolerance_are_normalised():
    targets = {"EQ": 0.40005, "GOV": 0.3, "CORP": 0.2, "MMF": 0.1}  # 100.005 %
    plan = recommend_rebalancing({"EQ": 100.0}, PRICES, targets, cash=10_000.0)
    assert math.fsum(plan.target_weights.values()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("kwargs", [dict(cash_buffer=1.0), dict(min_trade_value=-1),
                                    dict(transaction_cost_bps=float("nan")), dict(tolerance=-0.1),
                                    dict(lot_size={"EQ": -1}), dict(lot_size={"EQ": 1e-300})])
def test_bad_constraints(kwargs):
    with pytest.raises(ValidationError):
        RebalanceConstraints(**kwargs)


def test_apply_trades():
    plan = recommend_rebalancing({"EQ": 100.0}, PRICES, {"EQ": 0.5, "MMF": 0.5},
                                 RebalanceConstraints(transaction_cost_bps=20), cash=0.0)
    h, cash = apply_trades({"EQ": 100.0}, 0.0, plan.trades)
    assert cash == pytest.approx(plan.cash_after)
    assert h["EQ"] * 50 + h["MMF"] * 1 + cash == pytest.approx(plan.nav - plan.total_cost)


# ---------------------------------------------------------------------------------------------
# market impact
# ---------------------------------------------------------------------------------------------

def test_square_root_impact_formula():
    # 10,000 shares of 1,000,000 ADV (1 %), σ 2 % a day, spread 10 bp, k = 1:
    # 0.0010/2 + 1 × 0.02 × √0.01 = 0.0005 + 0.002 = 0.0025 (25 bp)
    assert DEFAULT_IMPACT_COEFFICIENT == 1.0
    assert square_root_impact(10_000, 1_000_000, 0.02, 0.001) == pytest.approx(0.0025)
    assert square_root_impact(-10_000, 1_000_000, 0.02, 0.001) == pytest.approx(0.0025)  # sells too
    assert square_root_impact(0, 1_000_000, 0.02, 0.001) == 0.0
    # four times the size costs twice the impact (the square-root law)
    small = square_root_impact(10_000, 1e6, 0.02)
    assert square_root_impact(40_000, 1e6, 0.02) == pytest.approx(2 * small)
    vec = square_root_impact([10_000, 40_000], [1e6, 1e6], [0.02, 0.02], [0.001, 0.0], k=0.5)
    assert vec == pytest.approx([0.0005 + 0.001, 0.002])


def test_estimate_impact_per_trade_and_total():
    trades = [ImpactInput("EQ", 10_000, 50.0, 1_000_000, 0.02, 0.001),
              ImpactInput("BOND", -200_000, 99.0, 1_000_000, 0.004, 0.0005)]
    s = estimate_impact(trades)
    eq, bond = s.estimates
    assert eq.value == 500_000 and eq.total_cost == pytest.approx(1_250.0)
    assert eq.cost_bps == pytest.approx(25.0) and not eq.large
    assert bond.participation == pytest.approx(0.2) and bond.large  # > 10 % of ADV: flagged
    expected_bond = 200_000 * 99 * (0.0005 / 2 + 0.004 * math.sqrt(0.2))
    assert bond.total_cost == pytest.approx(expected_bond)
    assert s.total_cost == pytest.approx(1_250.0 + expected_bond)
    assert s.cost_bps == pytest.approx(s.total_cost / s.total_value * 1e4)
    assert estimate_impact([]).total_cost == 0.0


def test_impact_bad_input_names_the_asset():
    with pytest.raises(ValidationError, match="ACME: no average daily volume"):
        estimate_impact([ImpactInput("ACME", 100, 10.0, 0.0, 0.02)])
    with pytest.raises(ValidationError, match="ACME: daily volatility is missing"):
        estimate_impact([ImpactInput("ACME", 100, 10.0, 1e5, float("nan"))])
    with pytest.raises(ValidationError, match="positive"):
        square_root_impact(np.array([1.0]), np.array([0.0]), 0.02)
    with pytest.raises(ValidationError, match="coefficient"):
        estimate_impact([], k=-1)
