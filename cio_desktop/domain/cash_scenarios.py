"""What-if scenarios on a daily cash forecast (property 21).

A scenario changes the base forecast's daily components, per currency:

* ``revenue_growth`` g: every inflow × (1 + g) (g ≥ −1);
* ``payment_delay_days`` d ≥ 0: every inflow arrives d days later; what is pushed beyond the
  horizon is not received within it;
* ``fx_move`` m: every non-base currency is worth (1 + m) times its base rate (m > −1), applied
  to the opening balance and to every flow in that currency;
* ``one_offs``: (day, amount in base currency, label) added on that day.

Ordering ("strictly worse"): lower growth, a longer delay, lower one-offs and — for a positive
ending balance in a foreign currency — a lower FX move never give a higher ending balance,
because inflows are ≥ 0 and every change is monotone in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class Assumptions:
    name: str = "base"
    revenue_growth: float = 0.0
    payment_delay_days: int = 0
    fx_move: float = 0.0
    one_offs: tuple[tuple[date, float, str], ...] = ()

    def __post_init__(self) -> None:
        if not -1.0 <= self.revenue_growth <= 10.0:
            raise ValueError(f"revenue growth {self.revenue_growth:+.0%} is out of range (−100% to +1000%)")
        if not isinstance(self.payment_delay_days, int) or not 0 <= self.payment_delay_days <= 365:
            raise ValueError("the payment delay must be a whole number of days from 0 to 365")
        if not -0.99 <= self.fx_move <= 10.0:
            raise ValueError(f"an FX move of {self.fx_move:+.0%} is out of range")


BASE = Assumptions("base")
OPTIMISTIC = Assumptions("optimistic", revenue_growth=0.05, payment_delay_days=0, fx_move=0.03)
PESSIMISTIC = Assumptions("pessimistic", revenue_growth=-0.10, payment_delay_days=15, fx_move=-0.05)
PRESETS = (BASE, OPTIMISTIC, PESSIMISTIC)


@dataclass(frozen=True)
class CurrencyFlows:
    """One currency's daily forecast: ``inflow`` ≥ 0, ``outflow`` ≤ 0, in that currency."""

    currency: str
    opening: float
    inflow: np.ndarray
    outflow: np.ndarray
    rate: float               # base-currency units per unit of this currency


@dataclass(frozen=True)
class ScenarioResult:
    assumptions: Assumptions
    net: np.ndarray           # daily net flow, base currency
    balance: np.ndarray       # daily closing balance, base currency
    opening: float

    @property
    def ending(self) -> float:
        return float(self.balance[-1]) if len(self.balance) else self.opening


def shift(values: np.ndarray, days: int) -> np.ndarray:
    if days <= 0:
        return values.copy()
    out = np.zeros_like(values)
    if days < len(values):
        out[days:] = values[:-days]
    return out


def apply(first: date, flows: Sequence[CurrencyFlows], a: Assumptions, base_currency: str) -> ScenarioResult:
    n = len(flows[0].inflow) if flows else 0
    net = np.zeros(n)
    opening = 0.0
    for f in flows:
        rate = f.rate * (1.0 if f.currency == base_currency else 1.0 + a.fx_move)
        inflow = shift(np.asarray(f.inflow, dtype=np.float64) * (1.0 + a.revenue_growth), a.payment_delay_days)
        net += (inflow + np.asarray(f.outflow, dtype=np.float64)) * rate
        opening += f.opening * rate
    for day, amount, _label in a.one_offs:
        i = (day - first).days
        if 0 <= i < n:
            net[i] += amount
    return ScenarioResult(a, net, opening + np.cumsum(net), opening)


def assumptions_from(data: Mapping[str, object]) -> Assumptions:
    """Build from plain values (CLI/JSON): revenue_growth and fx_move as fractions or '5%'."""
    def frac(v: object) -> float:
        text = str(v).strip()
        return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)

    one_offs = []
    for item in data.get("one_offs", ()) or ():  # type: ignore[union-attr]
        d, amt = item[0], item[1]
        one_offs.append((d if isinstance(d, date) else date.fromisoformat(str(d)), float(amt),
                         str(item[2]) if len(item) > 2 else "one-off"))
    return Assumptions(str(data.get("name", "custom")), frac(data.get("revenue_growth", 0) or 0),
                       int(data.get("payment_delay_days", 0) or 0), frac(data.get("fx_move", 0) or 0),
                       tuple(one_offs))
