"""Scenario analysis: shocks to rates, credit spreads, equities, FX and asset classes → P&L.

A :class:`Shock` moves market factors; :func:`apply_scenario` revalues each
:class:`~cio_desktop.domain.risk.Position` (market value in base currency) under it:

* **price move in the instrument's currency**::

      g = rate_term(D, C, Δy) − SD·Δs + β·equity + asset_class_shock
      price multiplier m = max(0, 1 + g)

  with Δy the rate move for the position's currency (bp / 10,000), ``D`` its modified duration,
  ``C`` its convexity, ``SD`` its spread duration and Δs the spread move for its asset class,
  ``β`` its equity beta. ``rate_term`` is the duration–convexity approximation
  ``−D·Δy + ½·C·Δy²``, held at its minimum beyond the vertex Δy = D/C so that a larger rate rise
  never *raises* a bond's price (a quadratic approximation turns up there; real prices do not).
  The multiplier is floored at 0: a long position cannot lose more than its value.
* **FX**: for a position whose currency is not the base currency, ``f`` is the change in the
  value of its currency measured in the base currency (+0.10 = the foreign currency is worth 10 %
  more). P&L = ``value × (m·(1 + f) − 1)``, split into local ``value·(m − 1)`` and FX
  ``value·m·f``. A position with no currency set is taken to be in the base currency.

**Property 14.** A zero shock gives exactly zero P&L. For a long-only portfolio (values,
durations, spread durations, convexities and betas ≥ 0), a *uniformly worse* shock — every rate
and spread at least as high, every equity, FX and asset-class move at least as low — never gives
a better result: every step above is monotone in each factor, in floating point as well as in
real arithmetic, and the total is a correctly rounded sum (math.fsum) of monotone terms.

Historical scenarios (:data:`HISTORICAL_SCENARIOS`) are factor and asset-class shocks taken from
public index data for three episodes; each figure's source is in its definition below. They are
**rounded, approximate end-to-end moves** over the stated window (the worst point of each factor
did not always fall on the same day); treat them as stress tests in the spirit of the episode,
and check them against your own data provider before presenting them as exact history. FX moves
are stated against USD and converted to the portfolio's base currency when applied:
``f = (1 + move_ccy)/(1 + move_base) − 1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from cio_desktop.domain.risk import Position
from cio_desktop.errors import ValidationError

__all__ = ["Shock", "PositionPnL", "ScenarioResult", "position_pnl", "apply_scenario", "run_scenarios",
           "GFC_2008", "COVID_2020", "RATES_2022", "HISTORICAL_SCENARIOS", "ZERO_SHOCK"]


def _frozen(m: Mapping[str, float] | None) -> Mapping[str, float] | None:
    return None if m is None else MappingProxyType(dict(m))


@dataclass(frozen=True)
class Shock:
    """Factor moves. Rates and spreads in basis points (+ = up/wider); equity, FX and asset-class
    moves as fractions (−0.30 = −30 %, none below −1)."""

    name: str = "custom"
    description: str = ""
    rates_bp: float = 0.0  # parallel shift of every currency's curve
    rates_bp_by_currency: Mapping[str, float] = field(default_factory=dict)  # overrides rates_bp
    spread_bp: float = 0.0  # credit spread change for every position with spread duration
    spread_bp_by_asset_class: Mapping[str, float] = field(default_factory=dict)  # overrides spread_bp
    equity_pct: float = 0.0  # equity market move, applied through each position's beta
    fx_pct: float = 0.0  # every foreign currency against the base currency
    fx_pct_by_currency: Mapping[str, float] = field(default_factory=dict)  # vs base; overrides the rest
    fx_vs_usd: Mapping[str, float] | None = None  # moves against USD (historical scenarios)
    asset_class_pct: Mapping[str, float] = field(default_factory=dict)  # direct price moves by class

    def __post_init__(self) -> None:
        def number(name: str, v: object, floor: float | None = None) -> None:
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValidationError(f"scenario '{self.name}': {name} must be a number (got {v!r})",
                                      field=name)
            if floor is not None and v < floor:
                raise ValidationError(f"scenario '{self.name}': {name} of {v:.2%} is below −100 %",
                                      field=name)

        number("rates_bp", self.rates_bp)
        number("spread_bp", self.spread_bp)
        number("equity_pct", self.equity_pct, -1.0)
        number("fx_pct", self.fx_pct, -1.0)
        for name, mapping, floor in (("rates_bp_by_currency", self.rates_bp_by_currency, None),
                                     ("spread_bp_by_asset_class", self.spread_bp_by_asset_class, None),
                                     ("fx_pct_by_currency", self.fx_pct_by_currency, -1.0),
                                     ("fx_vs_usd", self.fx_vs_usd or {}, -1.0),
                                     ("asset_class_pct", self.asset_class_pct, -1.0)):
            for key, v in mapping.items():
                number(f"{name}[{key}]", v, floor)
        for name in ("rates_bp_by_currency", "spread_bp_by_asset_class", "fx_pct_by_currency",
                     "asset_class_pct", "fx_vs_usd"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def rate_move(self, currency: str) -> float:
        """Rate change for ``currency`` as a decimal (bp / 10,000)."""
        return self.rates_bp_by_currency.get(currency, self.rates_bp) / 1e4

    def spread_move(self, asset_class: str) -> float:
        return self.spread_bp_by_asset_class.get(asset_class, self.spread_bp) / 1e4

    def fx_move(self, currency: str, base_currency: str) -> float:
        """Change in the value of ``currency`` measured in ``base_currency``."""
        if not currency or currency == base_currency:
            return 0.0
        if currency in self.fx_pct_by_currency:
            return float(self.fx_pct_by_currency[currency])
        if self.fx_vs_usd is not None:
            move = (1.0 + self.fx_vs_usd.get(currency, 0.0)) / (1.0 + self.fx_vs_usd.get(base_currency, 0.0))
            return move - 1.0
        return float(self.fx_pct)


ZERO_SHOCK = Shock(name="zero shock", description="No factor moves; every P&L is zero.")


@dataclass(frozen=True)
class PositionPnL:
    asset: str
    value: float  # market value before the shock, base currency
    pnl: float  # total, base currency
    local_pnl: float  # from the price move in the instrument's currency
    fx_pnl: float  # from the currency move (includes the cross term)

    @property
    def pnl_pct(self) -> float:
        return self.pnl / self.value if self.value else 0.0


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    positions: tuple[PositionPnL, ...]
    total_pnl: float
    total_value: float

    @property
    def total_pct(self) -> float:
        """P&L as a share of the portfolio value (0 when the portfolio is empty)."""
        return self.total_pnl / self.total_value if self.total_value else 0.0


def _rate_term(duration: float, convexity: float, dy: float) -> float:
    """−D·Δy + ½·C·Δy², written so that it is monotone in Δy in floating point too (for D ≥ 0,
    C ≥ 0): for a rise it is ½·C·(Δy − D/C)² − D²/(2C), clamped at the vertex and at 0."""
    if dy <= 0.0 or convexity <= 0.0 or duration < 0.0:
        return -duration * dy + 0.5 * convexity * (dy * dy)
    vertex = duration / convexity
    u = min(dy - vertex, 0.0)  # beyond the vertex the price is held at its minimum
    return min(0.0, 0.5 * convexity * (u * u) - 0.5 * duration * vertex)


def position_pnl(position: Position, shock: Shock, base_currency: str) -> PositionPnL:
    """P&L of one position under ``shock`` (formulas in the module docstring)."""
    g = (_rate_term(position.duration, position.convexity, shock.rate_move(position.currency))
         - position.effective_spread_duration * shock.spread_move(position.asset_class)
         + position.effective_equity_beta * shock.equity_pct
         + shock.asset_class_pct.get(position.asset_class, 0.0))
    m = max(0.0, 1.0 + g)
    f = shock.fx_move(position.currency, base_currency)
    v = position.value
    return PositionPnL(position.asset, v, v * (m * (1.0 + f) - 1.0), v * (m - 1.0), v * m * f)


def apply_scenario(positions: Iterable[Position], shock: Shock, *,
                   base_currency: str) -> ScenarioResult:
    """P&L per position and in total (math.fsum) of ``positions`` under ``shock``."""
    if not base_currency:
        raise ValidationError("a base currency is needed to apply FX shocks", field="base_currency")
    rows = tuple(position_pnl(p, shock, base_currency) for p in positions)
    return ScenarioResult(shock.name, rows, math.fsum(r.pnl for r in rows),
                          math.fsum(r.value for r in rows))


def run_scenarios(positions: Sequence[Position], shocks: Iterable[Shock], *,
                  base_currency: str) -> list[ScenarioResult]:
    """:func:`apply_scenario` for each shock, in the order given."""
    return [apply_scenario(positions, s, base_currency=base_currency) for s in shocks]


# ---------------------------------------------------------------------------------------------
# Historical scenarios. Sources (public index and market data; figures rounded):
#   equities   S&P 500 closes (S&P Dow Jones Indices), cross-checked with MSCI World (USD, price)
#   rates      10-year government yields: US Treasury (FRED DGS10), Bund (Deutsche Bundesbank),
#              gilt (Bank of England), JGB (Ministry of Finance Japan)
#   spreads    ICE BofA US Corporate (IG) and US High Yield option-adjusted spreads
#              (FRED BAMLC0A0CM, BAMLH0A0HYM2)
#   FX         ECB / Federal Reserve H.10 reference rates (EURUSD, GBPUSD, USDJPY)
#   commodity  S&P GSCI / Bloomberg Commodity Index; real estate: FTSE Nareit All Equity REITs
#
# Checked on 2026-11-27 against published market reports (Dow Jones Market Data, Tradeweb ICE
# closing prices, ICE BofA index levels as reported): S&P 500 closes 1,565.15 (9 Oct 2007) →
# 676.53 (9 Mar 2009) = −56.78 %; 3,386.15 (19 Feb 2020) → 2,237.40 (23 Mar 2020) = −33.92 %;
# 4,766.18 (31 Dec 2021) → 3,839.50 (30 Dec 2022) = −19.44 %; US 10-year 1.50 % → 3.83–3.88 %
# over 2022 (+233 to +237 bp); Bund 10-year −0.18 % at the end of 2021, ≈ +2.75 pp over 2022;
# US HY OAS 3.60 % (31 Dec 2019) → 10.87 % (23 Mar 2020), 21.82 % at its Dec 2008 peak; US IG
# OAS 1.01 % (start of 2020) → 3.03 % on 18 Mar 2020. NOT re-checked (approximate, from the
# sources named above): gilt, JGB and CHF yields, the FX moves, commodities and real estate.
# ---------------------------------------------------------------------------------------------

GFC_2008 = Shock(
    name="2008 global financial crisis",
    description=(
        "Equity peak to trough, 9 Oct 2007 → 9 Mar 2009: S&P 500 1,565.15 → 676.53 (−56.8 %). "
        "Flight to quality: 10-year yields US ≈ 4.7 % → 2.9 % (−180 bp), Bund ≈ 4.3 % → 3.0 % "
        "(−130 bp), gilt ≈ 5.0 % → 3.0 % (−200 bp). Credit: US IG OAS ≈ 1.5 % → ≈ 5.5–6.5 % at "
        "the Dec 2008 peak (+400 bp), US HY OAS ≈ 4–5 % → a 21.82 % peak in "
        "Dec 2008 (+1,500 bp applied, less than the peak move). USD and JPY as "
        "havens: EUR −20 % and GBP −32 % vs USD (Jul 2008 → Oct 2008/Jan 2009 lows), JPY +25 %. "
        "Commodities ≈ −60 % (S&P GSCI, Jul 2008 → Feb 2009), listed real estate ≈ −65 % (FTSE "
        "Nareit All Equity REITs, 2007 peak → Mar 2009)."),
    rates_bp_by_currency={"USD": -180.0, "EUR": -130.0, "GBP": -200.0, "JPY": -50.0, "CHF": -100.0},
    spread_bp=400.0,
    spread_bp_by_asset_class={"corporate_bond": 400.0, "high_yield_bond": 1500.0,
                              "government_bond": 0.0, "money_market": 0.0},
    equity_pct=-0.568,
    fx_vs_usd={"EUR": -0.20, "GBP": -0.32, "JPY": 0.25, "CHF": 0.0},
    asset_class_pct={"commodity": -0.60, "real_estate": -0.65},
)

COVID_2020 = Shock(
    name="2020 pandemic crash",
    description=(
        "19 Feb 2020 → 23 Mar 2020: S&P 500 3,386.15 → 2,237.40 (−33.9 %). 10-year US Treasury "
        "≈ 1.56 % → 0.76 % (−80 bp); Bund roughly unchanged end to end (−0.41 % → −0.31 %, "
        "+10 bp, after a low of −0.86 % on 9 Mar); gilt −20 bp. Credit: US IG OAS ≈ 1.0 % → "
        "≈ 4.0 % (+300 bp), US HY OAS ≈ 3.6 % → 10.9 % (+730 bp). FX vs USD: EUR −1 %, GBP "
        "−10 %, JPY ≈ 0. Commodities ≈ −40 % (Brent −54 %), listed real estate ≈ −42 %."),
    rates_bp_by_currency={"USD": -80.0, "EUR": 10.0, "GBP": -20.0, "JPY": 0.0, "CHF": 0.0},
    spread_bp=300.0,
    spread_bp_by_asset_class={"corporate_bond": 300.0, "high_yield_bond": 730.0,
                              "government_bond": 0.0, "money_market": 0.0},
    equity_pct=-0.339,
    fx_vs_usd={"EUR": -0.01, "GBP": -0.10, "JPY": 0.0, "CHF": 0.0},
    asset_class_pct={"commodity": -0.40, "real_estate": -0.42},
)

RATES_2022 = Shock(
    name="2022 rate rise",
    description=(
        "Calendar 2022 (31 Dec 2021 → 30 Dec 2022): 10-year yields US 1.51 % → 3.88 % (+237 bp), "
        "Bund −0.18 % → 2.57 % (+275 bp), gilt 0.97 % → 3.67 % (+270 bp), JGB 0.07 % → 0.42 % "
        "(+35 bp). S&P 500 4,766.18 → 3,839.50 (−19.4 %). Credit: US IG OAS ≈ +40 bp (≈ 1.0 % → "
        "1.4 %; euro IG wider, ≈ +80 bp), US HY OAS ≈ +170 bp. FX vs USD: EUR −5.9 % (1.137 → "
        "1.070), GBP −10.7 % (1.353 → 1.208), JPY −12.2 % (115.1 → 131.1 per USD), CHF −1.3 %. "
        "Commodities +16 % (Bloomberg Commodity Index, total return), listed real estate −25 %."),
    rates_bp_by_currency={"USD": 237.0, "EUR": 275.0, "GBP": 270.0, "JPY": 35.0, "CHF": 140.0},
    spread_bp=60.0,
    spread_bp_by_asset_class={"corporate_bond": 60.0, "high_yield_bond": 170.0,
                              "government_bond": 0.0, "money_market": 0.0},
    equity_pct=-0.194,
    fx_vs_usd={"EUR": -0.059, "GBP": -0.107, "JPY": -0.122, "CHF": -0.013},
    asset_class_pct={"commodity": 0.16, "real_estate": -0.25},
)

HISTORICAL_SCENARIOS: Mapping[str, Shock] = MappingProxyType({
    "gfc_2008": GFC_2008,
    "covid_2020": COVID_2020,
    "rates_2022": RATES_2022,
})
