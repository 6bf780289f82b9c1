"""Risk: limits vs actual, concentration, scenarios, VaR/CVaR and the risk-adjusted return of a
portfolio, from the same valuations and value series as :mod:`cio_desktop.services.portfolio`.

Decisions (stated, because the data model has no column for them):

* **Risk profiles are data in code** (``PROFILES``): a conservative treasury profile (the
  default) and a moderate one. No table or migration yet; the Risk panel offers these two.
* **Bond durations are derived from the instrument**: the demo (and most treasury) bond names end
  with ``<coupon>% <dd/mm/yyyy>`` — the maturity and coupon are read from the name and the
  modified duration of a par bond with annual coupons is used, ``D = (1 − (1 + c)^−T) / c``
  (``T`` years to maturity from the valuation date, yield ≈ coupon), with convexity
  ``≈ Dmac·(Dmac + 1)/(1 + c)²``. When the name has no maturity, class defaults apply
  (``DEFAULT_DURATION``); money-market funds get 0.1 years (≈ their weighted average maturity).
  Spread duration = duration for corporate bonds (the domain's default), equities beta 1.
* **Liquidity**: money-market funds, government bonds, cash and listed equities count as liquid
  (sellable within the policy's horizon); corporate bonds do not.
* **Issuer** for an equity or fund is its issuer field (the company / the fund manager).
* **Sector** is reported as an extra concentration dimension (the domain's profile has no
  sector limit).
* VaR/CVaR are one-day figures on the portfolio's buy-and-hold return series (default: last
  365 days), as signed returns; their amounts are return × current value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Sequence

from cio_desktop.domain import metrics
from cio_desktop.domain.risk import (Concentration, PortfolioSnapshot, Position, RiskEvaluation, RiskProfile,
                                     concentration, concentration_report, evaluate, risk_adjusted_return)
from cio_desktop.domain.scenarios import HISTORICAL_SCENARIOS, ScenarioResult, Shock, run_scenarios
from cio_desktop.errors import ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services.base import Service, action
from cio_desktop.services.portfolio import AssetInfo, Valuation, load_value_series, value_holdings

CONSERVATIVE = RiskProfile(
    name="Conservative treasury",
    max_volatility=0.05, max_drawdown=0.05, max_var=0.005, var_confidence=0.95,
    max_weight_per_asset=0.10, max_weight_per_asset_class=0.50, max_weight_per_issuer=0.15,
    max_weight_per_currency=0.20, max_weight_per_country=0.35,
    key_limits={"currency": {"EUR": 1.0}, "asset_class": {"equity": 0.0, "money_market": 0.60}},
    min_liquid_share=0.60,
)
MODERATE = RiskProfile(
    name="Moderate",
    max_volatility=0.12, max_drawdown=0.20, max_var=0.015, var_confidence=0.95,
    max_weight_per_asset=0.10, max_weight_per_asset_class=0.70, max_weight_per_issuer=0.12,
    max_weight_per_currency=0.40, max_weight_per_country=0.40,
    key_limits={"currency": {"EUR": 1.0}},
    min_liquid_share=0.40,
)
PROFILES: dict[str, RiskProfile] = {p.name: p for p in (CONSERVATIVE, MODERATE)}
DEFAULT_PROFILE = CONSERVATIVE.name

DEFAULT_DURATION = {"government_bond": 4.0, "corporate_bond": 4.0, "money_market": 0.1}
LIQUID_CLASSES = frozenset({"money_market", "government_bond", "equity", "cash"})
_BOND = re.compile(r"(\d+(?:\.\d+)?)%\s+(\d{2})/(\d{2})/(\d{4})")


def bond_duration(info: AssetInfo, as_of: date) -> tuple[float, float]:
    """(modified duration, convexity) in years — see the module docstring."""
    if info.asset_class == "money_market":
        return DEFAULT_DURATION["money_market"], 0.0
    if info.asset_class not in ("government_bond", "corporate_bond"):
        return 0.0, 0.0
    m = _BOND.search(info.name)
    if not m:
        d = DEFAULT_DURATION.get(info.asset_class, 0.0)
        return d, d * (d + 1)
    c = float(m.group(1)) / 100.0
    maturity = date(int(m.group(4)), int(m.group(3)), int(m.group(2)))
    t = max((maturity - as_of).days / 365.25, 0.0)
    if t == 0:
        return 0.0, 0.0
    dmod = (1.0 - (1.0 + c) ** -t) / c if c > 0 else t
    dmac = dmod * (1.0 + c)
    return dmod, dmac * (dmac + 1.0) / (1.0 + c) ** 2


def positions_from(val: Valuation) -> list[Position]:
    out = []
    for h in val.holdings:
        a = h.asset
        dur, conv = bond_duration(a, val.as_of)
        out.append(Position(asset=a.identifier, value=float(h.value_base.amount), asset_class=a.asset_class,
                            issuer=a.issuer, currency=a.currency, country=a.country,
                            liquid=a.asset_class in LIQUID_CLASSES, duration=dur, convexity=conv))
    return out


@dataclass(frozen=True)
class RiskReport:
    profile: RiskProfile
    evaluation: RiskEvaluation
    value: float
    as_of: date


@dataclass(frozen=True)
class VarReport:
    confidence: float
    historical: float  # signed one-day return
    parametric: float
    monte_carlo: float
    cvar: float
    value: float  # portfolio value, base currency
    base_currency: str
    observations: int

    def amount(self, r: float) -> float:
        return r * self.value


def resolve_profile(profile: str | RiskProfile | None) -> RiskProfile:
    if profile is None:
        return PROFILES[DEFAULT_PROFILE]
    if isinstance(profile, RiskProfile):
        return profile
    if profile not in PROFILES:
        raise ValidationError(f"unknown risk profile '{profile}'; use one of {', '.join(PROFILES)}",
                              field="profile")
    return PROFILES[profile]


class RiskService(Service):
    @action(Permission.RISK_READ, description="list risk profiles")
    def profiles(self) -> list[RiskProfile]:
        return list(PROFILES.values())

    def _load(self, portfolio_id: int, start: date | None = None, end: date | None = None):  # noqa: ANN202
        with self.ctx.db.unit_of_work(write=False) as uow:
            val = value_holdings(uow, portfolio_id)
            series = load_value_series(uow, portfolio_id, start, end)
        return val, series

    @action(Permission.RISK_READ, description="view portfolio positions for risk")
    def positions(self, portfolio_id: int) -> list[Position]:
        with self.ctx.db.unit_of_work(write=False) as uow:
            return positions_from(value_holdings(uow, portfolio_id))

    @action(Permission.RISK_READ, description="evaluate portfolio risk")
    def evaluate_portfolio_risk(self, portfolio_id: int, profile: str | RiskProfile | None = None,
                                start: date | None = None, end: date | None = None) -> RiskReport:
        """Every limit of ``profile`` against the actual figure (weights from today's valuation;
        volatility, drawdown and historical VaR from the value series), with breaches and score."""
        prof = resolve_profile(profile)
        val, series = self._load(portfolio_id, start, end)
        snap = PortfolioSnapshot.from_returns(positions_from(val), series.returns, confidence=prof.var_confidence)
        return RiskReport(prof, evaluate(prof, snap), float(val.total.amount), val.as_of)

    @action(Permission.RISK_READ, description="identify concentration risk")
    def identify_concentration_risk(self, portfolio_id: int, top_n: int = 5) -> dict[str, Concentration]:
        """HHI, effective number and top-N share by asset, asset class, issuer, currency, country
        and sector (gross exposure)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            val = value_holdings(uow, portfolio_id)
        positions = positions_from(val)
        report = dict(concentration_report(positions, top_n=top_n))
        sector_of = {h.identifier: h.asset.sector for h in val.holdings}
        by_sector = [replace(p, issuer=sector_of.get(p.asset, "")) for p in positions]
        report["sector"] = replace(concentration(by_sector, "issuer", top_n=top_n), dimension="sector")
        return report

    @action(Permission.RISK_READ, description="run scenario analysis")
    def run_scenario_analysis(self, portfolio_id: int,
                              scenarios: Sequence[Shock] | None = None) -> list[ScenarioResult]:
        """P&L of today's positions under each shock (default: the historical scenarios)."""
        with self.ctx.db.unit_of_work(write=False) as uow:
            val = value_holdings(uow, portfolio_id)
        shocks = list(HISTORICAL_SCENARIOS.values()) if scenarios is None else list(scenarios)
        return run_scenarios(positions_from(val), shocks, base_currency=val.portfolio.base_currency)

    @action(Permission.RISK_READ, description="calculate risk-adjusted return")
    def calculate_risk_adjusted_return(self, portfolio_id: int, start: date | None = None,
                                       end: date | None = None, risk_free: float = 0.0) -> float:
        """Annualised Sharpe ratio of the daily return series (``risk_free`` per day)."""
        _, series = self._load(portfolio_id, start, end)
        return float(risk_adjusted_return(series.returns, risk_free=risk_free))

    @action(Permission.RISK_READ, description="calculate value at risk")
    def value_at_risk(self, portfolio_id: int, confidence: float = 0.95, start: date | None = None,
                      end: date | None = None) -> VarReport:
        """One-day VaR (historical, parametric, Monte Carlo) and historical CVaR, signed returns."""
        if not 0 < confidence < 1:
            raise ValidationError("confidence must be between 0 and 1", field="confidence")
        val, series = self._load(portfolio_id, start, end)
        r = series.returns
        return VarReport(confidence, float(metrics.value_at_risk(r, confidence, "historical")),
                         float(metrics.value_at_risk(r, confidence, "parametric")),
                         float(metrics.value_at_risk(r, confidence, "monte_carlo")),
                         float(metrics.conditional_value_at_risk(r, confidence)),
                         float(val.total.amount), val.portfolio.base_currency, int(r.size))


__all__ = ["CONSERVATIVE", "MODERATE", "PROFILES", "DEFAULT_PROFILE", "RiskService", "RiskReport", "VarReport",
           "bond_duration", "positions_from", "resolve_profile"]
