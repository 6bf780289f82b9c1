"""Hypothesis properties 10, 11, 13, 14 and 15 at the domain level (no database, no Qt).

Each property is checked against an independent oracle: exact rational arithmetic (fractions)
where the claim is about equality or a limit, plain recomputation from the trades where it is
about convergence.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import assume, given, settings, strategies as st

from cio_desktop.domain import metrics, performance as pf
from cio_desktop.domain.rebalancing import RebalanceConstraints, apply_trades, recommend_rebalancing
from cio_desktop.domain.risk import (
    DIMENSIONS,
    PortfolioSnapshot,
    Position,
    RiskProfile,
    evaluate,
    risk_adjusted_return,
)
from cio_desktop.domain.scenarios import Shock, apply_scenario

PROPERTY = settings(max_examples=150, deadline=None)

# ---------------------------------------------------------------------------------------------
# Property 10 — asset contribution invariant
# ---------------------------------------------------------------------------------------------

values_st = st.floats(min_value=0.01, max_value=1e9, allow_nan=False, allow_infinity=False)
returns_st = st.floats(min_value=-0.99, max_value=5.0, allow_nan=False, allow_infinity=False)


@st.composite
def valued_periods(draw):  # noqa: ANN001, ANN201
    n = draw(st.integers(1, 30))
    periods = draw(st.integers(1, 5))
    start = np.array(draw(st.lists(values_st, min_size=n, max_size=n)))
    r = np.array([draw(st.lists(returns_st, min_size=periods, max_size=periods)) for _ in range(n)])
    return start, r


@PROPERTY
@given(valued_periods())
def test_property_10_asset_contribution_invariant(case):
    """Per period, Σ wᵢ·rᵢ (start-of-period weights) equals the portfolio return (V_end − V_start)
    / V_start to 1e-12. The oracle computes that return in exact rational arithmetic from the same
    float valuations; the kernel sums the contributions with math.fsum."""
    start, r = case
    weights = pf.drifted_weights(start / math.fsum(start), r)  # weights at the start of each period
    contrib = pf.contributions(weights, r)
    port = pf.portfolio_returns(weights, r)
    values = [Fraction(v) for v in start]
    for t in range(r.shape[1]):
        w_t = [Fraction(w) for w in weights[:, t]]
        exact = sum((w * Fraction(x) for w, x in zip(w_t, r[:, t])), Fraction(0))  # Σ w·r, exact
        begin = sum(values, Fraction(0))
        values = [v * (1 + Fraction(x)) for v, x in zip(values, r[:, t])]
        valuation_return = (sum(values, Fraction(0)) - begin) / begin
        assert abs(math.fsum(contrib[:, t]) - float(exact)) <= 1e-12
        assert abs(port[t] - float(valuation_return)) <= 1e-12
        assert port[t] == math.fsum(contrib[:, t])
    # the same identity straight from one period's valuations
    end = start * (1 + r[:, 0])
    c, rp = pf.contributions_from_values(start, end)
    exact_rp = (sum(map(Fraction, end), Fraction(0)) - sum(map(Fraction, start), Fraction(0))) \
        / sum(map(Fraction, start), Fraction(0))
    assert abs(math.fsum(c) - float(exact_rp)) <= 1e-12 and abs(rp - float(exact_rp)) <= 1e-12


# ---------------------------------------------------------------------------------------------
# Property 11 — rebalancing convergence
# ---------------------------------------------------------------------------------------------

@st.composite
def rebalancing_case(draw):  # noqa: ANN001, ANN201
    n = draw(st.integers(1, 8))
    assets = [f"A{i}" for i in range(n)]
    prices = {a: draw(st.floats(0.5, 1000.0)) for a in assets}
    holdings = {a: draw(st.one_of(st.just(0.0), st.floats(0.0, 50_000.0))) for a in assets}
    if draw(st.booleans()):  # something held that is no longer wanted
        prices["OLD"] = draw(st.floats(0.5, 1000.0))
        holdings["OLD"] = draw(st.floats(1.0, 10_000.0))
    cash = draw(st.floats(0.0, 2_000_000.0))
    nav = cash + math.fsum(holdings[a] * prices[a] for a in holdings)
    assume(nav >= 1_000.0)
    raw = [draw(st.one_of(st.just(0.0), st.floats(0.01, 1.0))) for _ in assets]
    assume(sum(raw) > 0)
    targets = {a: w / math.fsum(raw) for a, w in zip(assets, raw)}
    tol = draw(st.floats(0.002, 0.05))
    # "whenever the constraints allow it": every lot and the minimum trade are small against the
    # band, so rounding, skipped trades and funding cuts together stay inside the tolerance
    room = tol * nav / (4 * (len(prices) + 1))
    lots = {}
    for a in assets:
        if draw(st.booleans()):
            lot = draw(st.floats(0.0, 1.0)) * room / prices[a]
            if lot >= 1e-9:  # the smallest lot size the constraints accept
                lots[a] = lot
    c = RebalanceConstraints(
        no_short=True,
        min_trade_value=draw(st.floats(0.0, 1.0)) * room,
        lot_size=lots,
        cash_buffer=draw(st.one_of(st.just(0.0), st.floats(0.0, 0.2))),
        transaction_cost_bps=draw(st.one_of(st.just(0.0), st.floats(0.0, 50.0))),
        tolerance=tol,
    )
    return holdings, prices, targets, cash, c


@PROPERTY
@given(rebalancing_case())
def test_property_11_rebalancing_convergence(case):
    """Applying the trades brings every weight (and the cash share) within tolerance of its target,
    never overdraws cash or goes short, and re-running on the result recommends no trades."""
    holdings, prices, targets, cash, c = case
    plan = recommend_rebalancing(holdings, prices, targets, c, cash=cash)
    new, cash_after = apply_trades(holdings, cash, plan.trades)
    nav = cash_after + math.fsum(q * prices[a] for a, q in new.items())
    assert cash_after >= -1e-9 * plan.nav
    assert all(q >= -1e-9 * abs(holdings.get(a, 0.0) or 1.0) for a, q in new.items())
    for a in new:  # recomputed here from the trades, not read from the plan
        target = targets.get(a, 0.0) * (1 - c.cash_buffer)
        assert abs(new[a] * prices[a] / nav - target) <= c.tolerance + 1e-12, a
    assert abs(cash_after / nav - c.cash_buffer) <= c.tolerance + 1e-12
    assert plan.within_tolerance
    for t in plan.trades:
        lot = c.lot_size.get(t.asset, 0.0)
        closing = targets.get(t.asset, 0.0) == 0.0 and t.quantity == -holdings.get(t.asset, 0.0)
        if lot and not closing and abs(t.quantity / lot) < 2.0**52:  # else the lot is no constraint
            k = t.quantity / lot  # a whole number of lots, up to float rounding of k × lot
            assert abs(k - round(k)) <= 1e-6 + 1e-12 * abs(k)
        assert abs(t.value) >= c.min_trade_value
    again = recommend_rebalancing(new, prices, targets, c, cash=cash_after)
    assert again.trades == ()


# ---------------------------------------------------------------------------------------------
# Property 13 — risk profile compliance
# ---------------------------------------------------------------------------------------------

KEYS = {"asset_class": ["equity", "government_bond", "corporate_bond", "cash"],
        "issuer": ["", "Issuer A", "Issuer B", "Issuer C"],
        "currency": ["EUR", "USD", "GBP", ""],
        "country": ["DE", "FR", "US", ""]}
limit_st = st.one_of(st.none(), st.integers(0, 1000).map(lambda k: k / 1000))


@st.composite
def risk_case(draw):  # noqa: ANN001, ANN201
    n = draw(st.integers(0, 12))
    cents = draw(st.lists(st.integers(1, 10**9), min_size=n, max_size=n))
    positions = tuple(
        Position(f"P{i}", c / 100, draw(st.sampled_from(KEYS["asset_class"])),
                 draw(st.sampled_from(KEYS["issuer"])), draw(st.sampled_from(KEYS["currency"])),
                 draw(st.sampled_from(KEYS["country"])), draw(st.booleans()))
        for i, c in enumerate(cents))
    key_limits = {}
    for dim, keys in KEYS.items():
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=2))
        if chosen:
            key_limits[dim] = {k: draw(st.integers(0, 1000)) / 1000 for k in chosen}
    profile = RiskProfile(
        max_volatility=draw(limit_st), max_drawdown=draw(limit_st), max_var=draw(limit_st),
        max_weight_per_asset=draw(limit_st), max_weight_per_asset_class=draw(limit_st),
        max_weight_per_issuer=draw(limit_st), max_weight_per_currency=draw(limit_st),
        max_weight_per_country=draw(limit_st), key_limits=key_limits,
        min_liquid_share=draw(limit_st))
    metric = st.one_of(st.none(), st.floats(0.0, 1.0))
    vol, dd, var = draw(metric), draw(metric), draw(metric)
    snapshot = PortfolioSnapshot(positions, volatility=vol,
                                 max_drawdown=None if dd is None else -dd,
                                 value_at_risk=None if var is None else -var)
    return profile, snapshot, cents


def _decimal(x: float) -> Fraction:
    return Fraction(repr(x))


@PROPERTY
@given(risk_case())
def test_property_13_risk_profile_compliance(case):
    """compliant ⇔ no limit of the profile is exceeded (and every limit could be checked); the
    breaches are exactly the exceeded limits. Oracle: exact fractions of the cent amounts."""
    profile, snap, cents = case
    ev = evaluate(profile, snap)
    exceeded, unknown = set(), set()
    for dim, limit, actual in (("volatility", profile.max_volatility, snap.volatility),
                               ("max_drawdown", profile.max_drawdown,
                                None if snap.max_drawdown is None else -snap.max_drawdown),
                               ("value_at_risk", profile.max_var,
                                None if snap.value_at_risk is None else -snap.value_at_risk)):
        if limit is not None:
            if actual is None:
                unknown.add((dim, None))
            elif actual > limit:
                exceeded.add((dim, None))
    total = sum((Fraction(c, 100) for c in cents), Fraction(0))
    if cents:
        for dim in DIMENSIONS:
            groups: dict[str, Fraction] = {}
            for p, c in zip(snap.positions, cents):
                key = getattr(p, dim) or "(not set)"
                groups[key] = groups.get(key, Fraction(0)) + Fraction(c, 100)
            for key, value in groups.items():
                limit = profile.key_limits.get(dim, {}).get(key, getattr(profile, f"max_weight_per_{dim}"))
                if limit is not None and value / total > _decimal(limit):
                    exceeded.add((dim, key))
        if profile.min_liquid_share is not None:
            liquid = sum((Fraction(c, 100) for p, c in zip(snap.positions, cents) if p.liquid), Fraction(0))
            if liquid / total < _decimal(profile.min_liquid_share):
                exceeded.add(("liquidity", None))
    elif profile.min_liquid_share is not None:
        unknown.add(("liquidity", None))
    assert {(b.dimension, b.key) for b in ev.breaches} == exceeded
    assert {(c.dimension, c.key) for c in ev.undetermined} == unknown
    assert ev.compliant == (not exceeded and not unknown)
    if not unknown:
        assert ev.compliant == (not exceeded)  # the property as stated
    for b in ev.breaches:
        assert (b.actual > b.limit) if b.kind == "max" else (b.actual < b.limit) or b.actual == b.limit


# ---------------------------------------------------------------------------------------------
# Property 14 — scenario consistency
# ---------------------------------------------------------------------------------------------

CURRENCIES = ["EUR", "USD", "GBP", "JPY", ""]
CLASSES = ["equity", "government_bond", "corporate_bond", "high_yield_bond", "money_market", "cash",
           "commodity", "real_estate"]
nonneg = st.floats(0.0, 30.0)


@st.composite
def long_positions(draw):  # noqa: ANN001, ANN201
    n = draw(st.integers(0, 10))
    return [Position(f"P{i}", draw(st.floats(0.0, 1e7)), draw(st.sampled_from(CLASSES)), "",
                     draw(st.sampled_from(CURRENCIES)), "", True, duration=draw(nonneg),
                     spread_duration=draw(st.one_of(st.none(), nonneg)),
                     convexity=draw(st.floats(0.0, 500.0)),
                     equity_beta=draw(st.one_of(st.none(), st.floats(0.0, 3.0))))
            for i in range(n)]


@st.composite
def shock_pair(draw):  # noqa: ANN001, ANN201
    """A shock and a uniformly worse one: every rate and spread ≥, every equity, FX and
    asset-class move ≤ (for long positions with non-negative sensitivities)."""
    up = st.floats(0.0, 500.0)
    down = st.floats(0.0, 0.5)
    rate_keys = draw(st.lists(st.sampled_from(CURRENCIES[:4]), unique=True, max_size=3))
    fx_keys = draw(st.lists(st.sampled_from(CURRENCIES[1:4]), unique=True, max_size=2))
    spread_keys = draw(st.lists(st.sampled_from(CLASSES), unique=True, max_size=3))
    class_keys = draw(st.lists(st.sampled_from(CLASSES), unique=True, max_size=3))
    pct = st.floats(-0.9, 1.0)
    a = dict(rates_bp=draw(st.floats(-1000.0, 1000.0)),
             rates_bp_by_currency={k: draw(st.floats(-1000.0, 1000.0)) for k in rate_keys},
             spread_bp=draw(st.floats(-300.0, 2000.0)),
             spread_bp_by_asset_class={k: draw(st.floats(-300.0, 2000.0)) for k in spread_keys},
             equity_pct=draw(pct), fx_pct=draw(pct),
             fx_pct_by_currency={k: draw(pct) for k in fx_keys},
             asset_class_pct={k: draw(pct) for k in class_keys})

    def lower(x: float) -> float:
        return max(-1.0, x - draw(down))

    b = dict(rates_bp=a["rates_bp"] + draw(up),
             rates_bp_by_currency={k: v + draw(up) for k, v in a["rates_bp_by_currency"].items()},
             spread_bp=a["spread_bp"] + draw(up),
             spread_bp_by_asset_class={k: v + draw(up) for k, v in a["spread_bp_by_asset_class"].items()},
             equity_pct=lower(a["equity_pct"]), fx_pct=lower(a["fx_pct"]),
             fx_pct_by_currency={k: lower(v) for k, v in a["fx_pct_by_currency"].items()},
             asset_class_pct={k: lower(v) for k, v in a["asset_class_pct"].items()})
    return Shock(name="A", **a), Shock(name="worse", **b)


@PROPERTY
@given(long_positions(), shock_pair(), st.sampled_from(["EUR", "USD", "GBP"]))
def test_property_14_scenario_consistency(positions, shocks, base):
    """A uniformly worse shock never gives a better result (per position and in total), and a
    zero shock gives exactly zero P&L."""
    better, worse = shocks
    a = apply_scenario(positions, better, base_currency=base)
    b = apply_scenario(positions, worse, base_currency=base)
    assert b.total_pnl <= a.total_pnl
    for pa, pb in zip(a.positions, b.positions):
        assert pb.pnl <= pa.pnl, (pa, pb)
        assert pb.pnl >= -pb.value * (1 + 1e-12)  # a long position cannot lose more than its value
    zero = apply_scenario(positions, Shock(rates_bp_by_currency={"EUR": 0.0},
                                           spread_bp_by_asset_class={"equity": 0.0},
                                           fx_pct_by_currency={"USD": 0.0},
                                           asset_class_pct={"commodity": 0.0}), base_currency=base)
    assert zero.total_pnl == 0.0 and all(p.pnl == 0.0 for p in zero.positions)


@PROPERTY
@given(st.lists(st.builds(Position, st.text("ABC", min_size=1, max_size=3),
                          st.floats(-1e7, 1e7), st.sampled_from(CLASSES), st.just(""),
                          st.sampled_from(CURRENCIES), st.just(""), st.booleans(),
                          st.floats(-30.0, 30.0), st.one_of(st.none(), st.floats(-30.0, 30.0)),
                          st.floats(-500.0, 500.0), st.one_of(st.none(), st.floats(-3.0, 3.0))),
                max_size=10), st.sampled_from(["EUR", "USD"]))
def test_property_14_zero_shock_is_zero_for_any_book(positions, base):
    """Shorts and negative sensitivities included: no factor move, no P&L."""
    res = apply_scenario(positions, Shock(), base_currency=base)
    assert res.total_pnl == 0.0 and all(p.pnl == 0.0 for p in res.positions)


# ---------------------------------------------------------------------------------------------
# Property 15 — risk-adjusted return calculation
# ---------------------------------------------------------------------------------------------

# returns on a 1e-6 grid (a hundredth of a basis point): realistic, and never so close to
# constant that no float formula could resolve the dispersion
grid_returns = st.lists(st.integers(-500_000, 500_000).map(lambda k: k / 1e6), min_size=0, max_size=300)


@PROPERTY
@given(grid_returns, st.integers(-1000, 1000).map(lambda k: k / 1e6), st.sampled_from([12, 52, 252, 365]))
def test_property_15_risk_adjusted_return_is_sharpe(r, rf, ppy):
    """risk_adjusted_return = mean(r − rf) / std(r − rf, ddof=1) × √ppy, with the oracle's mean
    and variance computed exactly in fractions; NaN when undefined (n < 2 or zero dispersion)."""
    got = risk_adjusted_return(r, rf, ppy)
    assert got == metrics.sharpe_ratio(np.array(r), rf, ppy) or (math.isnan(got) and math.isnan(
        metrics.sharpe_ratio(np.array(r), rf, ppy)))
    n = len(r)
    xs = [Fraction(repr(x)) - Fraction(repr(rf)) for x in r]
    if n < 2 or len(set(r)) == 1:
        assert math.isnan(got)
        return
    mean = sum(xs, Fraction(0)) / n
    var = sum(((x - mean) ** 2 for x in xs), Fraction(0)) / (n - 1)
    expected = float(mean) / math.sqrt(float(var)) * math.sqrt(ppy)
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)
    # vectorised: the same formula row by row
    two = risk_adjusted_return(np.array([r, r[::-1]]), rf, ppy)
    assert math.isclose(two[0], expected, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(two[1], expected, rel_tol=1e-9, abs_tol=1e-12)
