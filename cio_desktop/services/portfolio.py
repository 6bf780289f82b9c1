"""Portfolios: valuations in the base currency, value series, return metrics, per-asset
performance contribution, rebalancing proposals, market-impact estimates and their CSV export.

Conventions (stated once, relied on by the UI and the tests):

* **Valuation** of a holding = quantity × close × FX, where FX is the number of base-currency
  units per unit of the asset's currency (``FxRate.rate`` is quote per base, so a stored
  EUR→USD rate is inverted for a EUR portfolio holding USD). Holdings views use exact ``Decimal``
  arithmetic and round to the cent; analytics (series, returns, metrics) convert to float at the
  edge and never go back to storage.
* **Value series are buy-and-hold at today's quantities.** Holdings store current quantities
  only (no trade history), so the value on a past day is Σ current quantity × that day's close
  × that day's FX. The return series of a portfolio is therefore the return of its *current*
  composition held unchanged, not the historical book's time-weighted return.
* **Calendar**: the observation days are the days on which any of the portfolio's assets has a
  stored close. A missing close (or FX rate) is carried forward up to ``FILL_LIMIT`` observation
  days (holidays, a late print); a longer gap is a :class:`~cio_desktop.errors.ValidationError`
  naming the asset (or currency) and the day, and nothing is returned — never a partial series.
* **Metrics** are the kernel's (:mod:`cio_desktop.domain.metrics`) on the daily simple returns
  of that series (periods_per_year = 252, risk-free rate per period), so property 9 holds by
  construction: the service only loads and converts, the kernel computes.
* **Average daily volume**: no traded volumes are stored, so :meth:`PortfolioService.assess_impact`
  uses a documented proxy per asset class (``ADV_VALUE_PROXY``: typical daily traded value in
  EUR, divided by the price) unless the caller passes ADVs; spreads likewise
  (``SPREAD_PROXY``). Daily volatility is measured from the asset's last 60 stored closes.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cio_desktop.domain import metrics
from cio_desktop.domain import performance as perf
from cio_desktop.domain.market_impact import DEFAULT_IMPACT_COEFFICIENT, ImpactInput, ImpactSummary, estimate_impact
from cio_desktop.domain.money import Money
from cio_desktop.domain.rebalancing import RebalanceConstraints, RebalancePlan, Trade
from cio_desktop.domain.rebalancing import recommend_rebalancing as _recommend
from cio_desktop.errors import NotFound, ValidationError
from cio_desktop.reports.csv_cells import safe_cell
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.storage.models import Asset, FxRate, Holding, Portfolio, Price

FILL_LIMIT = 5  # observation days a close or FX rate may be carried forward
VOL_WINDOW = 60  # closes used for an asset's daily volatility in impact estimates
EQUAL_WEIGHT = "equal_weight"  # benchmark: the portfolio's assets, equally weighted, rebalanced daily

#: Typical daily traded value per asset class in EUR (proxy for ADV: no volumes are stored).
ADV_VALUE_PROXY: dict[str, float] = {"equity": 25_000_000.0, "government_bond": 500_000_000.0,
                                     "corporate_bond": 5_000_000.0, "money_market": 1_000_000_000.0}
ADV_VALUE_DEFAULT = 5_000_000.0
#: Quoted bid-ask spread as a fraction of mid, per asset class (proxy).
SPREAD_PROXY: dict[str, float] = {"equity": 0.0005, "government_bond": 0.0002,
                                  "corporate_bond": 0.0020, "money_market": 0.0}
SPREAD_DEFAULT = 0.0010
#: Default lot sizes (units): bonds trade in 1,000 nominal (10 units of 100), shares in 1.
DEFAULT_LOTS: dict[str, float] = {"equity": 1.0, "government_bond": 10.0, "corporate_bond": 10.0,
                                  "money_market": 0.001}


# ---------------------------------------------------------------------------------------------
# views
@dataclass(frozen=True)
class PortfolioSummary:
    id: int
    name: str
    base_currency: str
    description: str
    holdings: int


@dataclass(frozen=True)
class AssetInfo:
    id: int
    identifier: str
    name: str
    asset_class: str
    sector: str
    country: str
    currency: str
    issuer: str
    rating: str


@dataclass(frozen=True)
class HoldingView:
    asset: AssetInfo
    quantity: Decimal
    price: Decimal  # last close on or before the valuation date, asset currency
    price_date: date
    fx_rate: Decimal  # base-currency units per unit of the asset's currency
    value_local: Money
    value_base: Money
    weight: float  # share of the portfolio's value in base currency
    cost: Money  # total cost, asset currency
    unrealised_pnl: Money  # value_local − cost, asset currency

    @property
    def identifier(self) -> str:
        return self.asset.identifier

    @property
    def unrealised_pct(self) -> float:
        return float(self.unrealised_pnl.amount / self.cost.amount) if self.cost.amount else math.nan


@dataclass(frozen=True)
class Valuation:
    portfolio: PortfolioSummary
    as_of: date
    holdings: tuple[HoldingView, ...]
    total: Money


@dataclass(frozen=True)
class ValueSeries:
    """Buy-and-hold values at today's quantities, base currency (floats: analytics only)."""

    portfolio_id: int
    base_currency: str
    dates: tuple[date, ...]
    assets: tuple[AssetInfo, ...]
    quantities: np.ndarray  # per asset
    prices: np.ndarray  # assets × dates, asset currency (forward-filled)
    fx: np.ndarray  # assets × dates, base per asset currency
    values: np.ndarray  # assets × dates, base currency

    @property
    def total(self) -> np.ndarray:
        return perf.fsum_columns(self.values) if len(self.assets) else np.zeros(len(self.dates))

    @property
    def returns(self) -> np.ndarray:
        """Daily simple returns of the portfolio value (one fewer than ``dates``)."""
        v = self.total
        return v[1:] / v[:-1] - 1.0

    def asset_returns(self) -> np.ndarray:
        """Daily returns of each asset in base currency (price × FX), assets × (dates − 1)."""
        local = self.prices * self.fx
        return local[:, 1:] / local[:, :-1] - 1.0


@dataclass(frozen=True)
class AssetPerformance:
    asset: AssetInfo
    weight_start: float
    weight_end: float
    asset_return: float  # in base currency over the period
    contribution: float  # Cariño-linked; Σ contributions = portfolio return


@dataclass(frozen=True)
class PerformanceReport:
    portfolio_id: int
    start: date
    end: date
    portfolio_return: float
    rows: tuple[AssetPerformance, ...]


@dataclass(frozen=True)
class MetricsReport:
    portfolio_id: int
    start: date
    end: date
    observations: int
    benchmark: str | None
    values: dict[str, float]


@dataclass(frozen=True)
class RebalanceProposal:
    portfolio_id: int
    base_currency: str
    as_of: date
    by: str  # "asset" or "asset_class"
    requested: dict[str, float]  # the targets as given
    asset_targets: dict[str, float]  # identifier → target weight of the invested part
    plan: RebalancePlan
    assets: dict[str, AssetInfo]
    local_prices: dict[str, Decimal]
    fx: dict[str, Decimal]
    constraints: RebalanceConstraints = field(default_factory=RebalanceConstraints)


# ---------------------------------------------------------------------------------------------
# loading (module functions inside a caller's session: shared with the risk service)
def _info(a: Asset) -> AssetInfo:
    return AssetInfo(a.id, a.identifier, a.name, a.asset_class, a.sector or "", a.country or "",
                     a.currency, a.issuer or "", a.rating or "")


def get_portfolio(uow: Session, portfolio_id: int) -> Portfolio:
    p = uow.get(Portfolio, portfolio_id)
    if p is None:
        raise NotFound(f"no portfolio with id {portfolio_id}")
    return p


def _summary(uow: Session, p: Portfolio) -> PortfolioSummary:
    n = len(uow.execute(select(Holding.id).where(Holding.portfolio_id == p.id)).all())
    return PortfolioSummary(p.id, p.name, p.base_currency, p.description or "", n)


def load_holdings(uow: Session, portfolio_id: int) -> list[tuple[Holding, AssetInfo]]:
    rows = uow.execute(select(Holding, Asset).join(Asset, Asset.id == Holding.asset_id)
                       .where(Holding.portfolio_id == portfolio_id).order_by(Asset.identifier)).all()
    return [(h, _info(a)) for h, a in rows]


def _fx_rows(uow: Session, currency: str, base: str, start: date | None, end: date) -> dict[date, Decimal]:
    """Base-currency units per one ``currency`` by day (direct or inverted stored rates)."""
    out: dict[date, Decimal] = {}
    for stored_base, stored_quote, invert in ((currency, base, False), (base, currency, True)):
        q = select(FxRate.rate_date, FxRate.rate).where(FxRate.base == stored_base,
                                                        FxRate.quote == stored_quote,
                                                        FxRate.rate_date <= end)
        if start is not None:
            q = q.where(FxRate.rate_date >= start)
        for d, rate in uow.execute(q):
            if rate and rate > 0 and d not in out:
                out[d] = (Decimal(1) / rate) if invert else rate
    return out


def _ffill(a: np.ndarray, limit: int) -> np.ndarray:
    """Forward-fill NaNs along the last axis, at most ``limit`` positions past a known value."""
    a = np.array(a, dtype=np.float64, copy=True)
    n = a.shape[-1]
    idx = np.where(np.isnan(a), -1, np.arange(n))
    last = np.maximum.accumulate(idx, axis=-1)
    gap = np.arange(n) - last
    ok = (last >= 0) & (gap <= limit)
    filled = np.take_along_axis(a, np.maximum(last, 0), axis=-1)
    return np.where(ok, filled, np.nan)


def load_value_series(uow: Session, portfolio_id: int, start: date | None, end: date | None) -> ValueSeries:
    """The buy-and-hold value series over ``[start, end]`` (see the module docstring)."""
    p = get_portfolio(uow, portfolio_id)
    held = [(h, a) for h, a in load_holdings(uow, portfolio_id) if h.quantity != 0]
    if not held:
        raise ValidationError(f"portfolio '{p.name}' has no holdings to value", field="holdings")
    ids = [a.id for _, a in held]
    if end is None:
        end = uow.execute(select(Price.price_date).where(Price.asset_id.in_(ids))
                          .order_by(Price.price_date.desc()).limit(1)).scalar_one_or_none()
        if end is None:
            raise ValidationError(f"portfolio '{p.name}': no prices are stored for its assets", field="price")
    if start is None:
        start = end - timedelta(days=365)
    if start >= end:
        raise ValidationError(f"the period must start before it ends ({start} → {end})", field="start")
    lookback = start - timedelta(days=FILL_LIMIT * 3 + 10)  # room to carry a close into the period
    rows = uow.execute(select(Price.asset_id, Price.price_date, Price.close)
                       .where(Price.asset_id.in_(ids), Price.price_date >= lookback,
                              Price.price_date <= end)).all()
    all_days = sorted({d for _, d, _ in rows})
    in_period = [d for d in all_days if d >= start]
    if len(in_period) < 2:
        raise ValidationError(f"portfolio '{p.name}': fewer than two days with prices between {start} and "
                              f"{end}", field="price")
    col = {d: i for i, d in enumerate(all_days)}
    row_of = {aid: i for i, aid in enumerate(ids)}
    prices = np.full((len(ids), len(all_days)), np.nan)
    for aid, d, close in rows:
        prices[row_of[aid], col[d]] = float(close)
    first = col[in_period[0]]
    filled = _ffill(prices, FILL_LIMIT)[:, first:]
    dates = tuple(all_days[first:])
    for i, (h, a) in enumerate(held):
        bad = np.flatnonzero(~(filled[i] > 0))
        if bad.size:
            d = dates[int(bad[0])]
            known = [day for day in all_days if not np.isnan(prices[i, col[day]]) and day <= d]
            last = f"the last close is from {known[-1]}" if known else "no earlier close is stored"
            raise ValidationError(f"{a.identifier} ({a.name}): no price on {d} ({last}; closes are carried "
                                  f"forward at most {FILL_LIMIT} days)", field="price")
    fx = np.ones_like(filled)
    base = p.base_currency
    for cur in sorted({a.currency for _, a in held} - {base}):
        rates = _fx_rows(uow, cur, base, lookback, end)
        series = np.array([float(rates[d]) if d in rates else np.nan for d in all_days])
        series = _ffill(series, FILL_LIMIT)[first:]
        bad = np.flatnonzero(~(series > 0))
        if bad.size:
            d = dates[int(bad[0])]
            raise ValidationError(f"no {cur}/{base} FX rate on or up to {FILL_LIMIT} days before {d}: "
                                  f"cannot value the {cur} holdings in {base}", field="fx_rate")
        for i, (_, a) in enumerate(held):
            if a.currency == cur:
                fx[i] = series
    q = np.array([float(h.quantity) for h, _ in held])
    values = q[:, None] * filled * fx
    return ValueSeries(p.id, base, dates, tuple(a for _, a in held), q, filled, fx, values)


def latest_rate(uow: Session, currency: str, base: str, on: date) -> Decimal:
    """Base per ``currency`` on ``on`` (carried forward at most FILL_LIMIT × 1.5 calendar-ish days)."""
    if currency == base:
        return Decimal(1)
    window = on - timedelta(days=int(FILL_LIMIT * 1.4) + 2)
    rates = _fx_rows(uow, currency, base, window, on)
    if not rates:
        raise ValidationError(f"no {currency}/{base} FX rate on or shortly before {on}: cannot value the "
                              f"{currency} holdings in {base}", field="fx_rate")
    return rates[max(rates)]


def value_holdings(uow: Session, portfolio_id: int, as_of: date | None = None) -> Valuation:
    """Holdings valued at the last close on or before ``as_of`` (default: the newest close of any
    of the portfolio's assets). Exact Decimal arithmetic, rounded to the cent per holding."""
    p = get_portfolio(uow, portfolio_id)
    held = load_holdings(uow, portfolio_id)
    base = p.base_currency
    ids = [a.id for _, a in held]
    if as_of is None:
        as_of = uow.execute(select(Price.price_date).where(Price.asset_id.in_(ids))
                            .order_by(Price.price_date.desc()).limit(1)).scalar_one_or_none() or date.today()
    window = as_of - timedelta(days=int(FILL_LIMIT * 1.4) + 2)
    last: dict[int, tuple[date, Decimal]] = {}
    for aid, d, close in uow.execute(select(Price.asset_id, Price.price_date, Price.close)
                                     .where(Price.asset_id.in_(ids), Price.price_date >= window,
                                            Price.price_date <= as_of)
                                     .order_by(Price.price_date)):
        last[aid] = (d, close)
    staged = []
    for h, a in held:
        if a.id not in last:
            if h.quantity == 0:
                continue
            raise ValidationError(f"{a.identifier} ({a.name}): no price on {as_of} or in the "
                                  f"{FILL_LIMIT} business days before", field="price")
        d, close = last[a.id]
        rate = latest_rate(uow, a.currency, base, d)
        local = Money(h.quantity * close, a.currency).rounded()
        in_base = Money(h.quantity * close * rate, base).rounded()
        staged.append((h, a, d, close, rate, local, in_base))
    total = Money.zero(base)
    for *_, in_base in staged:
        total = total + in_base
    views = []
    for h, a, d, close, rate, local, in_base in staged:
        cost = Money.from_minor(h.cost_minor, a.currency)
        weight = float(in_base.amount / total.amount) if total.amount else math.nan
        views.append(HoldingView(a, h.quantity, close, d, rate, local, in_base, weight, cost, local - cost))
    return Valuation(_summary(uow, p), as_of, tuple(views), total)


def _daily_vol(uow: Session, asset_id: int) -> float:
    closes = [float(c) for (c,) in uow.execute(select(Price.close).where(Price.asset_id == asset_id)
                                                .order_by(Price.price_date.desc()).limit(VOL_WINDOW + 1))]
    if len(closes) < 3:
        return math.nan
    c = np.array(closes[::-1])
    return float(np.std(c[1:] / c[:-1] - 1.0, ddof=1))


# ---------------------------------------------------------------------------------------------
class PortfolioService(Service):
    @action(Permission.PORTFOLIO_READ, description="view portfolios")
    def list_portfolios(self) -> list[PortfolioSummary]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return [_summary(uow, p) for p in uow.execute(select(Portfolio).order_by(Portfolio.name)).scalars()]

    @action(Permission.PORTFOLIO_READ, description="view portfolio holdings")
    def valuation(self, portfolio_id: int, as_of: date | None = None) -> Valuation:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return value_holdings(uow, portfolio_id, as_of)

    @action(Permission.PORTFOLIO_READ, description="view portfolio holdings")
    def holdings(self, portfolio_id: int, as_of: date | None = None) -> list[HoldingView]:
        return list(self.valuation(portfolio_id, as_of).holdings)

    @action(Permission.PORTFOLIO_READ, description="view portfolio value history")
    def value_series(self, portfolio_id: int, start: date | None = None, end: date | None = None) -> ValueSeries:
        """Buy-and-hold daily values at today's quantities (default: the last 365 days)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            return load_value_series(uow, portfolio_id, start, end)

    def _returns(self, portfolio_id: int, start: date | None, end: date | None) -> np.ndarray:
        return self.value_series(portfolio_id, start, end).returns

    @action(Permission.PORTFOLIO_READ, description="calculate portfolio return")
    def calculate_roi(self, portfolio_id: int, start: date | None = None, end: date | None = None) -> float:
        """Cumulative return of the buy-and-hold value series over the period (kernel
        ``cumulative_return``). The return on cost is on each holding (``unrealised_pct``)."""
        return float(metrics.cumulative_return(self._returns(portfolio_id, start, end)))

    @action(Permission.PORTFOLIO_READ, description="calculate portfolio volatility")
    def calculate_volatility(self, portfolio_id: int, start: date | None = None, end: date | None = None) -> float:
        return float(metrics.annual_volatility(self._returns(portfolio_id, start, end)))

    @action(Permission.PORTFOLIO_READ, description="calculate portfolio Sharpe ratio")
    def calculate_sharpe_ratio(self, portfolio_id: int, start: date | None = None, end: date | None = None,
                               risk_free: float = 0.0) -> float:
        """Annualised Sharpe ratio; ``risk_free`` is per period (daily), as in the kernel."""
        return float(metrics.sharpe_ratio(self._returns(portfolio_id, start, end), risk_free=risk_free))

    @action(Permission.PORTFOLIO_READ, description="calculate portfolio metrics")
    def metrics(self, portfolio_id: int, start: date | None = None, end: date | None = None,
                benchmark: str | None = None, risk_free: float = 0.0) -> MetricsReport:
        """The kernel's ``metric_set`` on the stored series. ``benchmark``: None, ``"equal_weight"``
        (the portfolio's assets equally weighted, rebalanced daily) or an asset identifier (its
        return in the portfolio's base currency)."""
        series = self.value_series(portfolio_id, start, end)
        bench = self._benchmark_returns(series, benchmark) if benchmark else None
        values = metrics.metric_set(series.returns, bench, risk_free=risk_free)
        return MetricsReport(portfolio_id, series.dates[0], series.dates[-1], len(series.returns), benchmark,
                             {k: float(v) for k, v in values.items()})

    @action(Permission.PORTFOLIO_READ, description="calculate benchmark returns")
    def benchmark_returns(self, series: ValueSeries, benchmark: str) -> np.ndarray:
        return self._benchmark_returns(series, benchmark)

    def _benchmark_returns(self, series: ValueSeries, benchmark: str) -> np.ndarray:
        if benchmark == EQUAL_WEIGHT:
            return np.mean(series.asset_returns(), axis=0)
        with self.ctx.db.unit_of_work(write=False) as uow:
            a = uow.execute(select(Asset).where(Asset.identifier == benchmark)).scalar_one_or_none()
            if a is None:
                raise ValidationError(f"benchmark {benchmark}: no such asset", field="benchmark")
            info = _info(a)
            if any(x.id == a.id for x in series.assets):
                i = [x.id for x in series.assets].index(a.id)
                local = series.prices[i] * series.fx[i]
            else:
                rows = dict(uow.execute(select(Price.price_date, Price.close).where(
                    Price.asset_id == a.id, Price.price_date >= series.dates[0] - timedelta(days=30),
                    Price.price_date <= series.dates[-1])).all())
                days = sorted(set(rows) | set(series.dates))
                arr = _ffill(np.array([float(rows[d]) if d in rows else np.nan for d in days]), FILL_LIMIT)
                pos = {d: i for i, d in enumerate(days)}
                px = np.array([arr[pos[d]] for d in series.dates])
                fx = np.ones_like(px)
                if info.currency != series.base_currency:
                    rates = _fx_rows(uow, info.currency, series.base_currency,
                                     series.dates[0] - timedelta(days=30), series.dates[-1])
                    farr = _ffill(np.array([float(rates[d]) if d in rates else np.nan for d in days]), FILL_LIMIT)
                    fx = np.array([farr[pos[d]] for d in series.dates])
                for j, v in enumerate(px * fx):
                    if not v > 0:
                        raise ValidationError(f"benchmark {benchmark}: no price or FX rate on {series.dates[j]}",
                                              field="benchmark")
                local = px * fx
        return local[1:] / local[:-1] - 1.0

    @action(Permission.PORTFOLIO_READ, description="track asset performance")
    def track_asset_performance(self, portfolio_id: int, start: date | None = None,
                                end: date | None = None) -> PerformanceReport:
        """Each asset's return and its contribution to the portfolio return (daily ``wᵢ·rᵢ``
        with start-of-day weights, linked over the period with Cariño smoothing, so the
        contributions add up to the portfolio's cumulative return)."""
        s = self.value_series(portfolio_id, start, end)
        contribs, port = perf.contributions_from_values(s.values[:, :-1], s.values[:, 1:])
        linked = perf.linked_contributions(contribs, port)
        total = s.total
        local = s.prices * s.fx
        rows = tuple(AssetPerformance(a, float(s.values[i, 0] / total[0]), float(s.values[i, -1] / total[-1]),
                                      float(local[i, -1] / local[i, 0] - 1.0), float(linked[i]))
                     for i, a in enumerate(s.assets))
        return PerformanceReport(portfolio_id, s.dates[0], s.dates[-1],
                                 float(metrics.cumulative_return(port)), rows)

    @action(Permission.PORTFOLIO_READ, description="suggest default rebalancing constraints")
    def default_constraints(self, portfolio_id: int, *, transaction_cost_bps: float = 5.0,
                            min_trade_value: float = 1_000.0, tolerance: float = 0.005) -> RebalanceConstraints:
        """Lot sizes per asset class (``DEFAULT_LOTS``), no shorting, and the given costs."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            lots = {a.identifier: DEFAULT_LOTS.get(a.asset_class, 0.0) for _, a in load_holdings(uow, portfolio_id)}
        return RebalanceConstraints(no_short=True, min_trade_value=min_trade_value, lot_size=lots,
                                    transaction_cost_bps=transaction_cost_bps, tolerance=tolerance)

    @action(Permission.PORTFOLIO_READ, description="recommend rebalancing trades")
    def recommend_rebalancing(self, portfolio_id: int, targets: Mapping[str, float],
                              constraints: RebalanceConstraints | None = None, *, by: str = "asset",
                              cash: float = 0.0, as_of: date | None = None) -> RebalanceProposal:
        """Trades (in units of each asset) that bring the portfolio to ``targets``.

        ``by="asset"``: targets keyed by asset identifier (assets held but not named are sold);
        ``by="asset_class"``: targets per asset class, split among the class's holdings in
        proportion to their current value (equally when the class is worth nothing). Targets are
        weights of the invested part and must sum to 100 %. Prices are the last closes in base
        currency. ``cash`` is uninvested cash in base currency available to the plan.
        """
        if by not in ("asset", "asset_class"):
            raise ValidationError("rebalance by 'asset' or 'asset_class'", field="by")
        with self.ctx.db.unit_of_work(write=False) as uow:
            val = value_holdings(uow, portfolio_id, as_of)
            base = val.portfolio.base_currency
            infos = {h.identifier: h.asset for h in val.holdings}
            local = {h.identifier: h.price for h in val.holdings}
            fx = {h.identifier: h.fx_rate for h in val.holdings}
            requested = {str(k): float(v) for k, v in targets.items()}
            for key, v in requested.items():
                if not math.isfinite(v):
                    raise ValidationError(f"{key}: target weight is not a number", field="targets")
            if by == "asset":
                for ident in requested:
                    if ident not in infos:
                        a = uow.execute(select(Asset).where(Asset.identifier == ident)).scalar_one_or_none()
                        if a is None:
                            raise ValidationError(f"{ident}: no such asset", field="targets")
                        info = _info(a)
                        d_price = uow.execute(select(Price.price_date, Price.close).where(Price.asset_id == a.id,
                                              Price.price_date <= val.as_of).order_by(Price.price_date.desc())
                                              .limit(1)).first()
                        if d_price is None or (val.as_of - d_price[0]).days > FILL_LIMIT * 1.4 + 2:
                            raise ValidationError(f"{ident} ({info.name}): no price on {val.as_of} to trade at",
                                                  field="price")
                        infos[ident], local[ident] = info, d_price[1]
                        fx[ident] = latest_rate(uow, info.currency, base, d_price[0])
                asset_targets = dict(requested)
            else:
                classes: dict[str, list[HoldingView]] = {}
                for h in val.holdings:
                    classes.setdefault(h.asset.asset_class, []).append(h)
                asset_targets = {}
                for klass, w in requested.items():
                    members = classes.get(klass)
                    if not members:
                        if w == 0:
                            continue
                        raise ValidationError(f"asset class '{klass}': the portfolio holds nothing in it, so a "
                                              f"{w:.2%} target cannot be split among holdings; target individual "
                                              "assets instead", field="targets")
                    worth = sum(float(h.value_base.amount) for h in members)
                    for h in members:
                        share = float(h.value_base.amount) / worth if worth > 0 else 1.0 / len(members)
                        asset_targets[h.identifier] = w * share
        total = math.fsum(requested.values())
        tol = (constraints or RebalanceConstraints()).target_sum_tolerance
        if abs(total - 1.0) > tol:
            raise ValidationError(f"targets sum to {total:.4%}, not 100 %", field="targets")
        holdings = {h.identifier: float(h.quantity) for h in val.holdings}
        prices = {k: float(local[k] * fx[k]) for k in infos}
        plan = _recommend(holdings, prices, asset_targets, constraints, cash=cash)
        return RebalanceProposal(portfolio_id, base, val.as_of, by, requested, asset_targets, plan, infos,
                                 local, fx, constraints or RebalanceConstraints())

    @action(Permission.PORTFOLIO_MANAGE, description="accept a rebalancing plan")
    def accept_rebalancing(self, portfolio_id: int, trades: Sequence[Trade], *, note: str = "") -> Any:
        """Run the compliance rules on the plan (``ComplianceViolation`` when a blocking rule
        breaks; nothing recorded but the refused check) and record the accepted plan, audited.
        Returns ``services.compliance.AcceptedPlan`` (outcome and warnings)."""
        from cio_desktop.services.compliance import accept_plan

        return accept_plan(self.ctx, portfolio_id, trades, note=note)

    @action(Permission.PORTFOLIO_READ, description="estimate market impact")
    def assess_impact(self, trades: Sequence[Trade], *, adv: Mapping[str, float] | None = None,
                      spreads: Mapping[str, float] | None = None,
                      k: float = DEFAULT_IMPACT_COEFFICIENT) -> ImpactSummary:
        """Square-root impact (:mod:`cio_desktop.domain.market_impact`) of ``trades`` (each
        ``Trade.asset`` an identifier, price in base currency). ADV in units: ``adv`` if given,
        else the class proxy ``ADV_VALUE_PROXY`` ÷ price; spread: ``spreads`` or ``SPREAD_PROXY``;
        daily volatility from the last ``VOL_WINDOW`` stored closes."""
        inputs = []
        with self.ctx.db.unit_of_work(write=False) as uow:
            for t in trades:
                a = uow.execute(select(Asset).where(Asset.identifier == t.asset)).scalar_one_or_none()
                if a is None:
                    raise ValidationError(f"{t.asset}: no such asset", field="asset")
                vol = _daily_vol(uow, a.id)
                if math.isnan(vol):
                    raise ValidationError(f"{t.asset} ({a.name}): too few stored closes to measure its "
                                          "volatility", field="daily_volatility")
                units = (adv or {}).get(t.asset)
                if units is None:
                    units = ADV_VALUE_PROXY.get(a.asset_class, ADV_VALUE_DEFAULT) / t.price if t.price > 0 else math.nan
                spread = (spreads or {}).get(t.asset, SPREAD_PROXY.get(a.asset_class, SPREAD_DEFAULT))
                inputs.append(ImpactInput(t.asset, t.quantity, t.price, float(units), vol, float(spread)))
        return estimate_impact(inputs, k=k)

    @action(Permission.REPORTS_EXPORT, description="export a rebalancing plan")
    def export_rebalancing_csv(self, proposal: RebalanceProposal, path: str | Path,
                               impact: ImpactSummary | None = None) -> Path:
        """One row per trade (formula-safe cells), then a total row; audited."""
        path = Path(path)
        est = {e.asset: e for e in (impact.estimates if impact else ())}
        cur = proposal.base_currency
        header = ["identifier", "name", "asset_class", "side", "quantity", f"price_{cur}", f"value_{cur}",
                  f"transaction_cost_{cur}", f"impact_cost_{cur}", "participation", "target_weight",
                  "weight_before", "weight_after"]
        with self.ctx.db.unit_of_work() as uow:
            get_portfolio(uow, proposal.portfolio_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(header)
                for t in proposal.plan.trades:
                    info = proposal.assets.get(t.asset)
                    e = est.get(t.asset)
                    w.writerow([safe_cell(c) for c in (
                        t.asset, info.name if info else "", info.asset_class if info else "", t.side,
                        f"{t.quantity:.6f}", f"{t.price:.6f}", f"{t.value:.2f}", f"{t.cost:.2f}",
                        f"{e.total_cost:.2f}" if e else "", f"{e.participation:.6f}" if e else "",
                        f"{proposal.plan.target_weights.get(t.asset, 0.0):.6f}",
                        f"{proposal.plan.weights_before.get(t.asset, 0.0):.6f}",
                        f"{proposal.plan.weights_after.get(t.asset, 0.0):.6f}")])
                w.writerow([safe_cell(c) for c in (
                    "TOTAL", "", "", "", "", "", f"{math.fsum(t.value for t in proposal.plan.trades):.2f}",
                    f"{proposal.plan.total_cost:.2f}", f"{impact.total_cost:.2f}" if impact else "", "", "",
                    "", "")])
            audit_log(uow, actor=self.ctx.actor, action="rebalancing.exported", entity="portfolio",
                      entity_id=proposal.portfolio_id,
                      after={"file": path.name, "trades": len(proposal.plan.trades), "by": proposal.by,
                             "as_of": proposal.as_of}, at=self.ctx.now())
        self.ctx.bus.publish("reports.exported", kind="rebalancing", path=str(path))
        return path


def plan_table(proposal: RebalanceProposal, impact: ImpactSummary | None = None) -> list[dict[str, Any]]:
    """Rows for display: one per trade, with name, class, cost and impact."""
    est = {e.asset: e for e in (impact.estimates if impact else ())}
    out = []
    for t in proposal.plan.trades:
        info = proposal.assets.get(t.asset)
        e = est.get(t.asset)
        out.append({"identifier": t.asset, "name": info.name if info else "", "asset_class":
                    info.asset_class if info else "", "side": t.side, "quantity": t.quantity, "price": t.price,
                    "value": t.value, "cost": t.cost, "impact": e.total_cost if e else math.nan,
                    "participation": e.participation if e else math.nan, "large": bool(e and e.large),
                    "weight_before": proposal.plan.weights_before.get(t.asset, 0.0),
                    "weight_after": proposal.plan.weights_after.get(t.asset, 0.0),
                    "target": proposal.plan.target_weights.get(t.asset, 0.0)})
    return out
