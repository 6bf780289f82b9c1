"""Rebalancing: from holdings, prices and target weights to a list of trades.

Inputs are plain floats in the portfolio's base currency (the service converts Decimal money and
FX at the edge and turns the trades back into orders). Quantities are units (shares, or nominal ÷
100 for bonds quoted per 100, so that value = quantity × price as everywhere in the app).

Algorithm (:func:`recommend_rebalancing`):

1. **Validate.** Every price positive; no short holding or negative target when ``no_short``;
   targets sum to 1 within ``target_sum_tolerance`` (then normalised to exactly 1); a held asset
   that is not in the targets gets target 0 (it is sold). Each problem raises
   :class:`~cio_desktop.errors.ValidationError` naming the asset.
2. **Measure.** NAV = cash + Σ quantity × price. Each asset's *target share of NAV* is
   ``target × (1 − cash_buffer)``; the cash target is ``cash_buffer``.
3. **Band.** If every asset's share and the cash share are within ``tolerance`` (absolute, as a
   share of NAV) of their targets, nothing is recommended. This is what makes the plan
   idempotent: a portfolio the plan has brought inside the band gets no trades when re-run.
4. **Full rebalance** otherwise. Target values after costs: ``target × (1 − buffer) × (NAV −
   cost)``; the cost is estimated, trades are computed, the cost of those trades becomes the next
   estimate — repeated until the cost no longer changes (a fixed point; at most 8 rounds, usually
   2–3). Each trade is rounded **to the nearest lot**; an asset less than ¾ of a lot from its
   target is not traded (hysteresis: a position already at its nearest lot is never churned);
   closing a position (target 0) sells the whole holding even if it is an odd lot. Trades below
   ``min_trade_value`` are skipped and listed in ``notes``.
5. **Cash check.** If rounding made the buys cost more than the cash available (cash + sales −
   costs < 0), buys are cut lot by lot, largest first, until the plan is funded; cuts are noted.
   Cash never goes below zero (to within 1e-9 × NAV of float rounding).

Transaction costs are ``transaction_cost_bps`` of each trade's value, paid from cash. Market
impact is estimated separately (:mod:`cio_desktop.domain.market_impact`) because it depends on
volumes the rebalancer does not need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cio_desktop.errors import ValidationError

__all__ = ["RebalanceConstraints", "Trade", "RebalancePlan", "recommend_rebalancing", "apply_trades"]

_MAX_COST_ROUNDS = 8
_HYSTERESIS_LOTS = 0.75
_NOISE = 1e-9  # share of NAV below which a trade or an overdraft is float rounding, not money


@dataclass(frozen=True)
class RebalanceConstraints:
    """What the trades must respect. Shares are fractions (0.02 = 2 %), values in base currency."""

    no_short: bool = True
    min_trade_value: float = 0.0
    lot_size: Mapping[str, float] = field(default_factory=dict)  # units per lot (≥ 1e-9); absent/0 = any
    cash_buffer: float = 0.0  # share of NAV kept in cash, 0 ≤ buffer < 1
    transaction_cost_bps: float = 0.0  # of each trade's value, paid from cash
    tolerance: float = 0.005  # band around each target share of NAV (absolute)
    target_sum_tolerance: float = 1e-4  # targets must sum to 1 within this

    def __post_init__(self) -> None:
        checks = (
            (self.min_trade_value >= 0, "min_trade_value", "must not be negative"),
            (0 <= self.cash_buffer < 1, "cash_buffer", "must be at least 0 and below 1"),
            (0 <= self.transaction_cost_bps < 10_000, "transaction_cost_bps",
             "must be between 0 and 10,000 bps"),
            (0 <= self.tolerance < 1, "tolerance", "must be at least 0 and below 1"),
            (0 <= self.target_sum_tolerance < 1, "target_sum_tolerance", "must be at least 0 and below 1"),
        )
        for ok, name, message in checks:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
                raise ValidationError(f"{name} {message} (got {value})", field=name)
        for asset, lot in self.lot_size.items():
            if not (isinstance(lot, (int, float)) and math.isfinite(lot) and (lot == 0 or lot >= 1e-9)):
                raise ValidationError(f"{asset}: lot size must be 0 (any quantity) or at least "
                                      f"1e-9 units (got {lot})", field="lot_size")


@dataclass(frozen=True)
class Trade:
    asset: str
    quantity: float  # signed: + buy, − sell
    price: float
    value: float  # signed quantity × price
    cost: float  # transaction cost, ≥ 0

    @property
    def side(self) -> str:
        return "buy" if self.quantity > 0 else "sell"


@dataclass(frozen=True)
class RebalancePlan:
    trades: tuple[Trade, ...]
    nav: float
    cash_before: float
    cash_after: float
    total_cost: float
    weights_before: Mapping[str, float]  # share of NAV before trading
    weights_after: Mapping[str, float]  # share of NAV after the trades and their costs
    target_weights: Mapping[str, float]  # target share of NAV: target × (1 − cash_buffer)
    cash_share_after: float
    within_tolerance: bool  # every asset and the cash share within tolerance after the trades
    notes: tuple[str, ...]  # skipped or cut trades, in plain words

    @property
    def turnover(self) -> float:
        """Traded value (buys + sells) as a share of NAV."""
        return math.fsum(abs(t.value) for t in self.trades) / self.nav if self.nav else 0.0


def _number(value: object, what: str, asset: str, fieldname: str) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(f"{asset}: {what} is not a number ({value!r})", 
                              field=fieldname) from None
    if not math.isfinite(v):
        raise ValidationError(f"{asset}: {what} is missing", field=fieldname)
    return v


def _validate(holdings: Mapping[str, float], prices: Mapping[str, float],
              targets: Mapping[str, float], c: RebalanceConstraints,
              cash: float) -> tuple[list[str], dict[str, float], dict[str, float], dict[str, float]]:
    if not targets:
        raise ValidationError("no target weights given", field="targets")
    q = {a: _number(v, "quantity", a, "quantity") for a, v in holdings.items()}
    w = {a: _number(v, "target weight", a, "target") for a, v in targets.items()}
    _number(cash, "cash", "cash", "cash")
    for a, v in q.items():
        if c.no_short and v < 0:
            raise ValidationError(f"{a}: holding of {v:g} is short, and short positions are not "
                                  "allowed", field="quantity")
    for a, v in w.items():
        if c.no_short and v < 0:
            raise ValidationError(f"{a}: target weight {v:.4%} is negative, and short positions "
                                  "are not allowed", field="target")
    total = math.fsum(w.values())
    if abs(total - 1.0) > c.target_sum_tolerance:
        raise ValidationError(f"target weights sum to {total:.4%}, not 100% (allowed difference "
                              f"{c.target_sum_tolerance:.4%})", field="targets")
    w = {a: v / total for a, v in w.items()}
    assets = list(dict.fromkeys([*targets, *holdings]))
    p: dict[str, float] = {}
    for a in assets:
        if a not in prices or prices[a] is None:
            if q.get(a, 0.0) == 0.0 and w.get(a, 0.0) == 0.0:
                continue
            raise ValidationError(f"{a}: no price", field="price")
        price = _number(prices[a], "price", a, "price")
        if price <= 0:
            raise ValidationError(f"{a}: price must be positive (got {price:g})", field="price")
        p[a] = price
    assets = [a for a in assets if a in p]
    return assets, q, w, p


def _round_to_lot(delta: float, lot: float, held: float, target_qty: float, no_short: bool) -> float:
    if target_qty == 0.0 and delta < 0:
        return -held  # closing a position sells everything, odd lot included
    if lot <= 0:
        return delta
    x = delta / lot
    if not math.isfinite(x) or abs(x) >= 2.0**52:
        return delta  # a lot this small against the trade is no constraint at all
    if abs(x) <= _HYSTERESIS_LOTS:
        return 0.0
    k = math.copysign(math.floor(abs(x) + 0.5), x)
    qty = k * lot
    if no_short and held + qty < 0:
        qty = -math.floor(held / lot) * lot
    return qty


def recommend_rebalancing(holdings: Mapping[str, float], prices: Mapping[str, float],
                          targets: Mapping[str, float],
                          constraints: RebalanceConstraints | None = None, *,
                          cash: float = 0.0) -> RebalancePlan:
    """Trades that bring the portfolio back to ``targets`` (see the module docstring).

    ``holdings``: asset → quantity; ``prices``: asset → price in base currency; ``targets``:
    asset → weight of the *invested* part (summing to 1; the cash buffer comes on top);
    ``cash``: cash in base currency. Returns a :class:`RebalancePlan`; its ``trades`` are empty
    when the portfolio is already within tolerance.
    """
    c = constraints or RebalanceConstraints()
    assets, q, w, p = _validate(holdings, prices, targets, c, cash)
    cash = float(cash)
    value = {a: q.get(a, 0.0) * p[a] for a in assets}
    nav = math.fsum([cash, *value.values()])
    if not nav > 0:
        raise ValidationError(f"the portfolio's net value is {nav:,.2f}; it must be positive to "
                              "rebalance", field="holdings")
    invest_share = 1.0 - c.cash_buffer
    target_share = {a: w.get(a, 0.0) * invest_share for a in assets}
    before = {a: value[a] / nav for a in assets}
    notes: list[str] = []

    def in_band(shares: Mapping[str, float], cash_share: float) -> bool:
        return (all(abs(shares[a] - target_share[a]) <= c.tolerance for a in assets)
                and abs(cash_share - c.cash_buffer) <= c.tolerance)

    def plan(trade_qty: Mapping[str, float]) -> RebalancePlan:
        trades = tuple(
            Trade(a, qty, p[a], qty * p[a], abs(qty * p[a]) * c.transaction_cost_bps / 1e4)
            for a, qty in trade_qty.items() if qty != 0.0)
        cash_after = math.fsum([cash, *(-t.value for t in trades), *(-t.cost for t in trades)])
        nav_after = math.fsum([cash_after, *((q.get(a, 0.0) + trade_qty.get(a, 0.0)) * p[a]
                                             for a in assets)])
        after = {a: (q.get(a, 0.0) + trade_qty.get(a, 0.0)) * p[a] / nav_after for a in assets}
        cash_share = cash_after / nav_after
        return RebalancePlan(
            trades=trades, nav=nav, cash_before=cash, cash_after=cash_after,
            total_cost=math.fsum(t.cost for t in trades),
            weights_before=MappingProxyType(before), weights_after=MappingProxyType(after),
            target_weights=MappingProxyType(target_share), cash_share_after=cash_share,
            within_tolerance=in_band(after, cash_share), notes=tuple(notes))

    if in_band(before, cash / nav):
        return plan({})

    bps = c.transaction_cost_bps / 1e4
    min_value = max(c.min_trade_value, _NOISE * nav)
    cost_estimate = 0.0
    trade_qty: dict[str, float] = {}
    skipped: dict[str, float] = {}
    for _ in range(_MAX_COST_ROUNDS):
        investable = (nav - cost_estimate) * invest_share
        trade_qty, skipped = {}, {}
        for a in assets:
            held = q.get(a, 0.0)
            target_qty = w.get(a, 0.0) * investable / p[a]
            qty = _round_to_lot(target_qty - held, c.lot_size.get(a, 0.0) or 0.0, held,
                                target_qty, c.no_short)
            if qty == 0.0:
                continue
            if abs(qty * p[a]) < min_value:
                skipped[a] = qty
                continue
            trade_qty[a] = qty
        cost = bps * math.fsum(abs(v * p[a]) for a, v in trade_qty.items())
        if cost == cost_estimate:
            break
        cost_estimate = cost
    for a, qty in skipped.items():
        if abs(qty * p[a]) >= _NOISE * nav:
            notes.append(f"{a}: {'buy' if qty > 0 else 'sell'} of {abs(qty):g} units "
                         f"({abs(qty * p[a]):,.2f}) skipped, below the minimum trade value "
                         f"{c.min_trade_value:,.2f}")

    # cash check: never spend cash the plan does not have
    def cash_left() -> float:
        return math.fsum([cash, *(-(v * p[a]) for a, v in trade_qty.items()),
                          *(-abs(v * p[a]) * bps for a, v in trade_qty.items())])

    deficit = -cash_left()
    if deficit > _NOISE * nav:
        for a in sorted((a for a, v in trade_qty.items() if v > 0),
                        key=lambda a: trade_qty[a] * p[a], reverse=True):
            if deficit <= _NOISE * nav:
                break
            lot = c.lot_size.get(a, 0.0) or 0.0
            per_unit = p[a] * (1.0 + bps)
            units = deficit / per_unit
            if lot > 0:
                units = math.ceil(units / lot - 1e-12) * lot
            old = trade_qty[a]
            new = max(old - units, 0.0)
            if new > 0 and abs(new * p[a]) < min_value:
                new = 0.0
            if new > 0:
                trade_qty[a] = new
            else:
                del trade_qty[a]
            deficit -= (old - new) * per_unit
            notes.append(f"{a}: buy cut from {old:g} to {new:g} units so the plan is funded by the "
                         "cash available")
    return plan(trade_qty)


def apply_trades(holdings: Mapping[str, float], cash: float,
                 trades: tuple[Trade, ...] | list[Trade]) -> tuple[dict[str, float], float]:
    """Holdings and cash after executing ``trades`` at their prices and paying their costs."""
    new = {a: float(v) for a, v in holdings.items()}
    for t in trades:
        new[t.asset] = new.get(t.asset, 0.0) + t.quantity
    cash_after = math.fsum([float(cash), *(-t.value for t in trades), *(-t.cost for t in trades)])
    return new, cash_after
