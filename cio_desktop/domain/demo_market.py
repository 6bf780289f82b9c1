"""The demo company's investments: ~40 fictitious instruments with check-digit-valid ISINs, five
years of correlated daily closes, EURUSD/EURGBP rates, and two portfolios' holdings.

Conventions: a bond's price is per 100 of nominal and its quantity is nominal / 100, so for every
instrument market value = quantity × price in the instrument's currency. FX rates are units of the
quote currency per one EUR. Pure: the caller supplies the seeded generator and the dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from cio_desktop.domain.demo_data import correlated_gbm, float_to_decimal, fx_path, isin

PORTFOLIOS = (
    ("Strategic Liquidity", "EUR", "Operating cash beyond the buffer: money-market funds, short "
                                   "government and investment-grade corporate bonds.", 25_000_000),
    ("Long-Term Reserve", "EUR", "Strategic reserve for acquisitions and pensions: global equities "
                                 "and longer-dated bonds.", 40_000_000),
)
LIQUIDITY, RESERVE = PORTFOLIOS[0][0], PORTFOLIOS[1][0]

FX_PAIRS = (("USD", 1.08, 0.075), ("GBP", 0.86, 0.05))  # quote, long-run level, annual vol
FX_PLACES = 5


@dataclass(frozen=True)
class AssetSpec:
    identifier: str
    name: str
    asset_class: str  # equity, government_bond, corporate_bond, money_market
    sector: str
    country: str
    currency: str
    issuer: str
    rating: str
    start: float
    drift: float
    vol: float
    beta: float  # correlation with the common market factor
    places: int  # decimals of the quoted price
    portfolio: str
    weight: float  # share of the portfolio's target value


_EQUITIES = (  # name, sector, country, currency
    ("Aurelia Pharma AG", "Health Care", "DE", "EUR"),
    ("Brenner Automotive SE", "Consumer Discretionary", "DE", "EUR"),
    ("Calder Chemie AG", "Materials", "DE", "EUR"),
    ("Dornbach Energie AG", "Utilities", "DE", "EUR"),
    ("Elbtal Software SE", "Information Technology", "DE", "EUR"),
    ("Rheinau Industrietechnik AG", "Industrials", "DE", "EUR"),
    ("Hollandia Retail N.V.", "Consumer Staples", "NL", "EUR"),
    ("Zeeland Semiconductor N.V.", "Information Technology", "NL", "EUR"),
    ("Moselle Banque S.A.", "Financials", "FR", "EUR"),
    ("Valdor Luxe S.A.", "Consumer Discretionary", "FR", "EUR"),
    ("Castellan Assicurazioni S.p.A.", "Financials", "IT", "EUR"),
    ("Norrland Telekom Oyj", "Communication Services", "FI", "EUR"),
    ("Pinnacle Cloud Systems Inc.", "Information Technology", "US", "USD"),
    ("Lakeshore Health Corp.", "Health Care", "US", "USD"),
    ("Granite Peak Energy Inc.", "Energy", "US", "USD"),
    ("Westbrook Consumer Brands Inc.", "Consumer Staples", "US", "USD"),
    ("Redcliffe Financial Corp.", "Financials", "US", "USD"),
    ("Thornbury Mining plc", "Materials", "GB", "GBP"),
    ("Kingsmere Utilities plc", "Utilities", "GB", "GBP"),
    ("Pennine Retail Group plc", "Consumer Staples", "GB", "GBP"),
)
_GOVERNMENTS = (  # issuer, country, currency, rating, coupon, years to maturity, portfolio
    ("Bundesrepublik Deutschland", "DE", "EUR", "AAA", 2.10, 2, LIQUIDITY),
    ("Kingdom of the Netherlands", "NL", "EUR", "AAA", 2.00, 3, LIQUIDITY),
    ("Republic of Austria", "AT", "EUR", "AA+", 2.90, 3, LIQUIDITY),
    ("French Republic", "FR", "EUR", "AA-", 2.75, 4, LIQUIDITY),
    ("Kingdom of Spain", "ES", "EUR", "A", 3.10, 2, LIQUIDITY),
    ("United States Treasury", "US", "USD", "AA+", 4.00, 3, LIQUIDITY),
    ("Bundesrepublik Deutschland", "DE", "EUR", "AAA", 2.50, 9, RESERVE),
    ("United Kingdom Gilt", "GB", "GBP", "AA", 4.25, 7, RESERVE),
)
_CORPORATES = (  # issuer, country, currency, rating, coupon, years, portfolio
    ("Aurelia Pharma AG", "DE", "EUR", "BBB+", 3.375, 3, LIQUIDITY),
    ("Moselle Banque S.A.", "FR", "EUR", "A-", 3.75, 2, LIQUIDITY),
    ("Hollandia Retail N.V.", "NL", "EUR", "BBB+", 3.50, 4, LIQUIDITY),
    ("Dornbach Energie AG (green)", "DE", "EUR", "A-", 4.00, 3, LIQUIDITY),
    ("Rheinau Industrietechnik AG", "DE", "EUR", "BBB", 4.125, 6, RESERVE),
    ("Pinnacle Cloud Systems Inc.", "US", "USD", "A", 4.80, 7, RESERVE),
    ("Redcliffe Financial Corp.", "US", "USD", "BBB+", 5.10, 5, RESERVE),
    ("Kingsmere Utilities plc", "GB", "GBP", "BBB", 5.00, 8, RESERVE),
)
_MONEY_MARKET = (  # name, domicile, currency, issuer
    ("Amstel Euro Liquidity Fund LVNAV Acc", "IE", "EUR", "Amstel Asset Management"),
    ("Rheinische Euro Short-Term Government MMF Acc", "LU", "EUR", "Rheinische Investment S.A."),
    ("Lakeshore US Dollar Treasury MMF Acc", "IE", "USD", "Lakeshore Fund Managers"),
    ("Thames Sterling Liquidity Fund Acc", "IE", "GBP", "Thames & Mercer Investments"),
)


def _coupon(rate: float) -> str:
    text = f"{rate:.3f}"
    return text[:-1] if text.endswith("0") else text


def _nsin(rng: np.random.Generator, prefix: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    tail = "".join(alphabet[i] for i in rng.integers(0, len(alphabet), 9 - len(prefix)))
    return prefix + tail


def asset_universe(rng: np.random.Generator, anchor: date) -> list[AssetSpec]:
    """The 40 instruments, their price dynamics and which portfolio holds them."""
    specs: list[AssetSpec] = []
    seen: set[str] = set()

    def ident(country: str, prefix: str) -> str:
        while True:
            code = isin(country, _nsin(rng, prefix))
            if code not in seen:
                seen.add(code)
                return code

    eq_weights = rng.dirichlet(np.full(len(_EQUITIES), 4.0)) * 0.55
    for (name, sector, country, cur), w in zip(_EQUITIES, eq_weights):
        specs.append(AssetSpec(ident(country, "000"), name, "equity", sector, country, cur, name, "",
                               float(rng.uniform(18, 240)), float(rng.uniform(0.04, 0.11)),
                               float(rng.uniform(0.15, 0.30)), float(rng.uniform(0.5, 0.8)), 2,
                               RESERVE, float(w)))
    liquidity_weights = {"government_bond": 0.35, "corporate_bond": 0.25, "money_market": 0.40}
    reserve_weights = {"government_bond": 0.20, "corporate_bond": 0.25}

    def bond_weight(portfolio: str, klass: str, count: int) -> float:
        table = liquidity_weights if portfolio == LIQUIDITY else reserve_weights
        return table[klass] / count

    for klass, rows in (("government_bond", _GOVERNMENTS), ("corporate_bond", _CORPORATES)):
        for issuer, country, cur, rating, coupon, years, portfolio in rows:
            n_same = sum(1 for r in rows if r[6] == portfolio)
            maturity = date(anchor.year + years, int(rng.integers(1, 13)), 15)
            name = f"{issuer} {_coupon(coupon)}% {maturity:%d/%m/%Y}"
            vol = 0.02 + 0.006 * years + (0.01 if klass == "corporate_bond" else 0.0)
            specs.append(AssetSpec(ident(country, "A" if klass == "corporate_bond" else "00"), name, klass,
                                   "Corporate" if klass == "corporate_bond" else "Government", country, cur,
                                   issuer, rating, float(rng.uniform(95, 104)),
                                   float(rng.uniform(0.0, 0.015)), min(vol, 0.07),
                                   float(rng.uniform(-0.25, 0.15)), 3, portfolio,
                                   bond_weight(portfolio, klass, n_same)))
    for name, domicile, cur, issuer in _MONEY_MARKET:
        specs.append(AssetSpec(ident(domicile, "00B"), name, "money_market", "Money Market", domicile, cur,
                               issuer, "AAAm", float(rng.uniform(98, 105)),
                               float(rng.uniform(0.02, 0.035)), 0.005, 0.0, 4, LIQUIDITY,
                               liquidity_weights["money_market"] / len(_MONEY_MARKET)))
    return specs


def price_paths(rng: np.random.Generator, specs: list[AssetSpec], n_days: int) -> np.ndarray:
    """Daily closes, shape (n_days, len(specs)), one column per spec, in the spec's currency."""
    return correlated_gbm(rng, n_days, np.array([s.start for s in specs]), np.array([s.drift for s in specs]),
                          np.array([s.vol for s in specs]), np.array([s.beta for s in specs]))


def fx_paths(rng: np.random.Generator, n_days: int) -> dict[str, np.ndarray]:
    """EUR-based daily rates for each quote currency, already rounded to ``FX_PLACES``."""
    out = {}
    for quote, level, vol in FX_PAIRS:
        start = level * float(rng.uniform(0.96, 1.04))
        out[quote] = np.round(fx_path(rng, n_days, level, vol, start=start), FX_PLACES)
    return out


@dataclass(frozen=True)
class HoldingPlan:
    asset: int  # index into the specs
    portfolio: str
    quantity: Decimal
    cost_minor: int  # total cost in the asset's currency, minor units
    bought_on: date


def holdings_plan(rng: np.random.Generator, specs: list[AssetSpec], closes: list[list[Decimal]],
                  days: list[date], fx: dict[str, np.ndarray]) -> list[HoldingPlan]:
    """Each spec bought once, on a day in the first 60 % of the price history, for its weight of
    the portfolio's target value; cost is quantity × that day's close (exact Decimal)."""
    targets = {name: value for name, _, _, value in PORTFOLIOS}
    plans = []
    for i, spec in enumerate(specs):
        day_i = int(rng.integers(0, max(int(len(days) * 0.6), 1)))
        price = closes[day_i][i]
        rate = 1.0 if spec.currency == "EUR" else float(fx[spec.currency][day_i])
        budget = targets[spec.portfolio] * spec.weight * rate  # in the asset's currency
        units = budget / float(price)
        if spec.asset_class == "equity":
            quantity = Decimal(max(int(units), 1))
        elif spec.asset_class == "money_market":
            quantity = float_to_decimal(units, 3)
        else:  # nominal in whole 1,000s → quantity in units of 100 nominal
            quantity = Decimal(max(int(round(units / 10)) * 10, 10))
        cost = (quantity * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        plans.append(HoldingPlan(i, spec.portfolio, quantity, int(cost.scaleb(2)), days[day_i]))
    return plans
