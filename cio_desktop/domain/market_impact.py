"""Estimated execution cost of trades: half the bid-ask spread plus square-root market impact.

Model (per trade, as a fraction of the traded value)::

    cost = spread / 2  +  k · σ_daily · √(Q / ADV)

* ``spread`` — the quoted bid-ask spread as a fraction of the mid price (0.001 = 10 bp); crossing
  it costs half of it.
* ``σ_daily`` — the instrument's daily return volatility (standard deviation of daily returns).
* ``Q / ADV`` — the order size over the average daily volume (the participation), in the same
  units (shares, or nominal for bonds).
* ``k`` — the impact coefficient, **1.0 by default**. The "square-root law" of market impact
  (impact ≈ Y·σ·√(Q/V) with Y of order one) is one of the most robust empirical regularities of
  market microstructure: Tóth, Lempérière, Deremble, de Lataillade, Kockelkoren & Bouchaud (2011),
  "Anomalous price impact and the critical nature of liquidity in financial markets", Physical
  Review X 1, 021006; Bouchaud, Bonart, Donier & Gould (2018), *Trades, Quotes and Prices*,
  Cambridge University Press, ch. 12 (Y between about 0.5 and 1 across markets); Almgren, Thum,
  Hauptmann & Li (2005), "Direct estimation of equity market impact", Risk 18(7) (a fitted
  exponent of 0.6, close to ½). k = 1 is the conservative end of that range; pass a calibrated
  value when one is available.

The model is meant for orders up to a few percent of ADV executed over about a day; each
estimate reports its participation and flags anything above 10 % of ADV (``large``) as outside
the range where the law was measured. Prices, values and costs are floats in base currency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cio_desktop.errors import ValidationError

__all__ = ["DEFAULT_IMPACT_COEFFICIENT", "LARGE_PARTICIPATION", "ImpactInput", "ImpactEstimate",
           "ImpactSummary", "square_root_impact", "estimate_impact"]

DEFAULT_IMPACT_COEFFICIENT = 1.0
LARGE_PARTICIPATION = 0.10


def square_root_impact(quantity: Any, adv: Any, daily_volatility: Any, spread: Any = 0.0,
                       k: float = DEFAULT_IMPACT_COEFFICIENT) -> np.ndarray:
    """Cost as a fraction of traded value, vectorised: ``spread/2 + k·σ·√(|Q|/ADV)``.

    The sign of ``quantity`` (buy or sell) does not matter. ADV must be positive and volatility
    and spread non-negative (ValidationError otherwise); a zero quantity costs nothing.
    """
    q = np.abs(np.asarray(quantity, dtype=np.float64))
    v = np.asarray(adv, dtype=np.float64)
    s = np.asarray(daily_volatility, dtype=np.float64)
    sp = np.asarray(spread, dtype=np.float64)
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(v)) and np.all(np.isfinite(s))
            and np.all(np.isfinite(sp))):
        raise ValidationError("quantity, ADV, volatility and spread must all be known numbers",
                              field="adv")
    if np.any(v <= 0):
        raise ValidationError("average daily volume must be positive", field="adv")
    if np.any(s < 0) or np.any(sp < 0):
        raise ValidationError("volatility and spread must not be negative", field="daily_volatility")
    if not (math.isfinite(k) and k >= 0):
        raise ValidationError("the impact coefficient k must be a non-negative number", field="k")
    return np.where(q > 0, sp / 2.0 + k * s * np.sqrt(q / v), 0.0)


@dataclass(frozen=True)
class ImpactInput:
    asset: str
    quantity: float  # signed (+ buy, − sell); units of ADV
    price: float  # base currency per unit
    adv: float  # average daily volume, units
    daily_volatility: float  # std of daily returns, e.g. 0.02
    spread: float = 0.0  # bid-ask spread as a fraction of mid


@dataclass(frozen=True)
class ImpactEstimate:
    asset: str
    quantity: float
    value: float  # |quantity| × price
    participation: float  # |quantity| / ADV
    spread_cost: float  # value × spread / 2
    impact_cost: float  # value × k·σ·√participation
    total_cost: float
    cost_bps: float  # total cost in basis points of value
    large: bool  # participation above LARGE_PARTICIPATION: outside the model's measured range


@dataclass(frozen=True)
class ImpactSummary:
    estimates: tuple[ImpactEstimate, ...]
    total_value: float
    total_cost: float
    cost_bps: float  # total cost over total traded value, in bp (0 when nothing is traded)
    k: float


def estimate_impact(trades: Sequence[ImpactInput], *,
                    k: float = DEFAULT_IMPACT_COEFFICIENT) -> ImpactSummary:
    """Per-trade and total estimated cost of ``trades`` under the square-root model.

    Each missing or invalid input raises ValidationError naming the asset (e.g. no ADV for it),
    so an estimate is never shown with a hole in it.
    """
    if not (math.isfinite(k) and k >= 0):
        raise ValidationError("the impact coefficient k must be a non-negative number", field="k")
    out = []
    for t in trades:
        for name in ("quantity", "price", "adv", "daily_volatility", "spread"):
            v = getattr(t, name)
            if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValidationError(f"{t.asset}: {name.replace('_', ' ')} is missing",
                                      field=name)
        if t.price <= 0:
            raise ValidationError(f"{t.asset}: price must be positive", field="price")
        if t.adv <= 0:
            raise ValidationError(f"{t.asset}: no average daily volume (ADV must be positive)",
                                  field="adv")
        if t.daily_volatility < 0 or t.spread < 0:
            raise ValidationError(f"{t.asset}: volatility and spread must not be negative",
                                  field="daily_volatility")
        value = abs(t.quantity) * t.price
        participation = abs(t.quantity) / t.adv
        spread_cost = value * t.spread / 2.0
        impact_cost = value * k * t.daily_volatility * math.sqrt(participation)
        total = spread_cost + impact_cost
        out.append(ImpactEstimate(t.asset, t.quantity, value, participation, spread_cost,
                                  impact_cost, total, total / value * 1e4 if value else 0.0,
                                  participation > LARGE_PARTICIPATION))
    total_value = math.fsum(e.value for e in out)
    total_cost = math.fsum(e.total_cost for e in out)
    return ImpactSummary(tuple(out), total_value, total_cost,
                         total_cost / total_value * 1e4 if total_value else 0.0, k)
