"""Risk limits, their evaluation, and concentration.

A :class:`RiskProfile` holds the limits a treasury committee sets; :func:`evaluate` checks a
:class:`PortfolioSnapshot` (positions valued in base currency plus the portfolio's measured
volatility, drawdown and VaR) against every limit and reports each breach with the limit, the
actual figure, the dimension and the key (property 13: *compliant iff no limit is exceeded*).

Conventions:

* Weights are shares of the portfolio's **net value** (Σ position values, cash included as a
  position); a group's weight is the sum of its positions' weights.
* Loss limits are **positive shares**: ``max_drawdown=0.15`` allows a 15 % drawdown,
  ``max_var=0.02`` a 2 % one-period VaR loss at ``var_confidence``. The snapshot carries the
  kernel's signed figures (:func:`~cio_desktop.domain.metrics.max_drawdown` and
  :func:`~cio_desktop.domain.metrics.value_at_risk` are negative for a loss); the loss is their
  negation.
* A maximum is exceeded when ``actual > limit``, a minimum when ``actual < limit``. Weight limits
  are compared **exactly**, in rational arithmetic on the decimal numbers as written (each float
  read as its shortest round-tripping decimal, ``repr``: what the user typed, or what a Decimal
  amount converted to). So a position of 300 in a book of 1,000 is exactly at a 30 % limit (not
  a breach, although ``0.3`` is not exact in binary), while a weight that only *rounds* to the
  limit on screen but lies above it is a breach.
* A limit that cannot be checked (its metric is missing or NaN, e.g. too little history; or a
  liquidity minimum on an empty portfolio) is listed in ``undetermined`` and the portfolio is
  **not** reported compliant: the app never says "compliant" about a limit it could not check.
* Empty issuer/currency/country values are grouped under ``"(not set)"`` — conservative, since
  it can only make a group larger.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from cio_desktop.domain import metrics
from cio_desktop.errors import ValidationError

__all__ = [
    "DIMENSIONS", "NOT_SET", "Position", "PortfolioSnapshot", "RiskProfile", "LimitCheck", "Breach",
    "RiskEvaluation", "evaluate", "Concentration", "concentration", "concentration_report",
    "group_weights", "risk_adjusted_return",
]

DIMENSIONS = ("asset", "asset_class", "issuer", "currency", "country")
NOT_SET = "(not set)"
CREDIT_CLASSES = frozenset({"corporate_bond", "high_yield_bond", "covered_bond", "credit"})


@dataclass(frozen=True)
class Position:
    """One holding valued in base currency, with what risk and scenarios need to know about it."""

    asset: str
    value: float  # market value in base currency (negative for a short or an overdraft)
    asset_class: str = "other"  # equity, government_bond, corporate_bond, money_market, cash, ...
    issuer: str = ""
    currency: str = ""  # ISO 4217 code of the instrument's currency
    country: str = ""  # ISO 3166 alpha-2 of the issuer/listing
    liquid: bool = True  # can be sold within the liquidity horizon the policy uses
    duration: float = 0.0  # modified duration in years (price sensitivity to rates)
    spread_duration: float | None = None  # None → duration for credit classes, else 0
    convexity: float = 0.0  # rate convexity (years²), ≥ 0 for plain bonds
    equity_beta: float | None = None  # None → 1 for "equity", else 0

    def __post_init__(self) -> None:
        for name in ("value", "duration", "convexity"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValidationError(f"{self.asset}: {name} must be a known number (got {v!r})",
                                      field=name)
        for name in ("spread_duration", "equity_beta"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise ValidationError(f"{self.asset}: {name} must be a number or unset (got {v!r})",
                                      field=name)

    def key(self, dimension: str) -> str:
        if dimension not in DIMENSIONS:
            raise ValidationError(f"unknown dimension '{dimension}'; use one of {', '.join(DIMENSIONS)}",
                                  field="dimension")
        value = getattr(self, dimension)
        return str(value) if value else NOT_SET

    @property
    def effective_spread_duration(self) -> float:
        if self.spread_duration is not None:
            return float(self.spread_duration)
        return float(self.duration) if self.asset_class in CREDIT_CLASSES else 0.0

    @property
    def effective_equity_beta(self) -> float:
        if self.equity_beta is not None:
            return float(self.equity_beta)
        return 1.0 if self.asset_class == "equity" else 0.0


@dataclass(frozen=True)
class PortfolioSnapshot:
    """Positions plus the portfolio's measured risk figures (None when not measured)."""

    positions: tuple[Position, ...]
    volatility: float | None = None  # annualised, metrics.annual_volatility
    max_drawdown: float | None = None  # ≤ 0, metrics.max_drawdown
    value_at_risk: float | None = None  # signed return, metrics.value_at_risk at the profile's confidence

    @classmethod
    def from_returns(cls, positions: Iterable[Position], returns: Any, *, confidence: float = 0.95,
                     periods_per_year: float = metrics.PERIODS_PER_YEAR,
                     var_method: str = "historical") -> PortfolioSnapshot:
        """Measure volatility, max drawdown and VaR of the portfolio's return series with the
        kernel (1-D series of periodic returns)."""
        r = np.asarray(returns, dtype=np.float64)
        if r.ndim != 1:
            raise ValidationError("portfolio returns must be one series", field="returns")

        def known(x: float) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        return cls(tuple(positions),
                   volatility=known(metrics.annual_volatility(r, periods_per_year)),
                   max_drawdown=known(metrics.max_drawdown(r)),
                   value_at_risk=known(metrics.value_at_risk(r, confidence, var_method)))

    @property
    def total_value(self) -> float:
        return math.fsum(p.value for p in self.positions)


@dataclass(frozen=True)
class RiskProfile:
    """Limits. ``None`` means "no limit". Shares are fractions (0.1 = 10 %)."""

    name: str = "default"
    max_volatility: float | None = None  # annualised volatility
    max_drawdown: float | None = None  # largest allowed drawdown, as a positive share
    max_var: float | None = None  # largest allowed one-period VaR loss, positive share
    var_confidence: float = 0.95
    max_weight_per_asset: float | None = None
    max_weight_per_asset_class: float | None = None
    max_weight_per_issuer: float | None = None
    max_weight_per_currency: float | None = None
    max_weight_per_country: float | None = None
    # dimension → key → maximum weight; overrides the per-dimension default for that key
    # (e.g. {"currency": {"EUR": 1.0}, "asset_class": {"equity": 0.3}})
    key_limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    min_liquid_share: float | None = None

    def __post_init__(self) -> None:
        def check(name: str, v: Any) -> None:
            if v is not None and (not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0):
                raise ValidationError(f"risk profile '{self.name}': {name} must be a non-negative "
                                      f"number or unset (got {v!r})", field=name)

        for name in ("max_volatility", "max_drawdown", "max_var", "min_liquid_share",
                     *(f"max_weight_per_{d}" for d in DIMENSIONS)):
            check(name, getattr(self, name))
        if not 0 < self.var_confidence < 1:
            raise ValidationError(f"risk profile '{self.name}': VaR confidence must be between 0 "
                                  "and 1", field="var_confidence")
        for dim, limits in self.key_limits.items():
            if dim not in DIMENSIONS:
                raise ValidationError(f"risk profile '{self.name}': unknown dimension '{dim}' in "
                                      f"key limits; use one of {', '.join(DIMENSIONS)}",
                                      field="key_limits")
            for key, v in limits.items():
                check(f"{dim} limit for {key}", v)

    def weight_limit(self, dimension: str, key: str) -> float | None:
        override = self.key_limits.get(dimension, {})
        if key in override:
            return float(override[key])
        default = getattr(self, f"max_weight_per_{dimension}")
        return None if default is None else float(default)


@dataclass(frozen=True)
class LimitCheck:
    """One limit next to its actual figure (the Risk panel's "limits vs actual" row)."""

    dimension: str  # volatility, max_drawdown, value_at_risk, liquidity, or one of DIMENSIONS
    key: str | None  # the asset / class / issuer / currency / country; None for portfolio-wide
    limit: float
    actual: float  # NaN when the figure is not available
    kind: str  # "max" or "min"
    breached: bool

    @property
    def determined(self) -> bool:
        return not math.isnan(self.actual)

    @property
    def headroom(self) -> float:
        """How far from the limit, positive inside it, negative when breached."""
        return self.limit - self.actual if self.kind == "max" else self.actual - self.limit

    @property
    def utilisation(self) -> float:
        """actual ÷ limit for a maximum, limit ÷ actual for a minimum (1 = at the limit)."""
        num, den = (self.actual, self.limit) if self.kind == "max" else (self.limit, self.actual)
        if den == 0:
            return 0.0 if num <= 0 else math.inf
        return num / den


@dataclass(frozen=True)
class Breach:
    limit: float
    actual: float
    dimension: str
    key: str | None = None
    kind: str = "max"

    @property
    def excess(self) -> float:
        return self.actual - self.limit if self.kind == "max" else self.limit - self.actual

    def describe(self) -> str:
        what = self.dimension.replace("_", " ") + (f" {self.key}" if self.key else "")
        bound = "maximum" if self.kind == "max" else "minimum"
        return f"{what}: {self.actual:.2%} against a {bound} of {self.limit:.2%}"


@dataclass(frozen=True)
class RiskEvaluation:
    score: float  # 100 × the highest utilisation of any checked limit (≤ 100: within every limit)
    breaches: tuple[Breach, ...]
    compliant: bool  # no breach and nothing undetermined
    checks: tuple[LimitCheck, ...]  # every limit with its actual figure and headroom
    undetermined: tuple[LimitCheck, ...] = ()  # limits that could not be checked


def _exact(value: float) -> Fraction:
    """The decimal a float was written as (its shortest round-tripping repr), exactly."""
    return Fraction(repr(float(value)))


def _exact_sum(values: Iterable[float]) -> Fraction:
    return sum((_exact(v) for v in values), Fraction(0))


def group_weights(positions: Sequence[Position], dimension: str, *,
                  gross: bool = False) -> dict[str, float]:
    """Share of the net value (or of the gross exposure, Σ|value|) per key of ``dimension``.

    Exact rational sums, rounded once to float. Total not positive → ValidationError.
    """
    groups: dict[str, list[float]] = {}
    for p in positions:
        groups.setdefault(p.key(dimension), []).append(abs(p.value) if gross else p.value)
    total = _exact_sum(abs(p.value) if gross else p.value for p in positions)
    if total <= 0:
        raise ValidationError("the portfolio's total value must be positive to compute weights",
                              field="positions")
    return {k: float(_exact_sum(v) / total) for k, v in groups.items()}


def evaluate(profile: RiskProfile, snapshot: PortfolioSnapshot) -> RiskEvaluation:
    """Check ``snapshot`` against every limit of ``profile``.

    Returns a :class:`RiskEvaluation`: every limit as a :class:`LimitCheck` (actual, headroom),
    every exceeded one as a :class:`Breach`, the score and ``compliant`` (no breach and nothing
    undetermined). A portfolio whose net value is not positive cannot be weighted →
    ValidationError when it has weight or liquidity limits to check.
    """
    checks: list[LimitCheck] = []
    nan = float("nan")

    def metric(dimension: str, limit: float | None, actual: float | None) -> None:
        if limit is None:
            return
        if actual is None or not math.isfinite(actual):
            checks.append(LimitCheck(dimension, None, float(limit), nan, "max", False))
            return
        checks.append(LimitCheck(dimension, None, float(limit), float(actual), "max",
                                 float(actual) > float(limit)))

    metric("volatility", profile.max_volatility, snapshot.volatility)
    metric("max_drawdown", profile.max_drawdown,
           None if snapshot.max_drawdown is None else -snapshot.max_drawdown)
    metric("value_at_risk", profile.max_var,
           None if snapshot.value_at_risk is None else -snapshot.value_at_risk)

    positions = snapshot.positions
    has_weight_limits = any(getattr(profile, f"max_weight_per_{d}") is not None for d in DIMENSIONS) \
        or any(profile.key_limits.values())
    if positions and (has_weight_limits or profile.min_liquid_share is not None):
        total = _exact_sum(p.value for p in positions)
        if total <= 0:
            raise ValidationError(f"the portfolio's net value is {float(total):,.2f}; limits on "
                                  "weights need a positive value", field="positions")
        for dim in DIMENSIONS:
            groups: dict[str, Fraction] = {}
            for p in positions:
                key = p.key(dim)
                groups[key] = groups.get(key, Fraction(0)) + _exact(p.value)
            for key, value in groups.items():
                limit = profile.weight_limit(dim, key)
                if limit is None:
                    continue
                checks.append(LimitCheck(dim, key, limit, float(value / total), "max",
                                         value > _exact(limit) * total))
        if profile.min_liquid_share is not None:
            liquid = _exact_sum(p.value for p in positions if p.liquid)
            limit = float(profile.min_liquid_share)
            checks.append(LimitCheck("liquidity", None, limit, float(liquid / total), "min",
                                     liquid < _exact(limit) * total))
    elif profile.min_liquid_share is not None:
        checks.append(LimitCheck("liquidity", None, float(profile.min_liquid_share), nan, "min", False))

    undetermined = tuple(c for c in checks if not c.determined)
    breaches = tuple(Breach(c.limit, c.actual, c.dimension, c.key, c.kind) for c in checks if c.breached)
    uses = [c.utilisation for c in checks if c.determined]
    score = 100.0 * max(uses) if uses else 0.0
    return RiskEvaluation(score=score, breaches=breaches,
                          compliant=not breaches and not undetermined,
                          checks=tuple(checks), undetermined=undetermined)


@dataclass(frozen=True)
class Concentration:
    dimension: str
    hhi: float  # Herfindahl–Hirschman index on the 0–1 scale (metrics.herfindahl_index)
    effective_number: float  # 1 / HHI: the number of equal holdings with the same concentration
    top_n: int
    top_n_share: float  # share of the largest top_n keys together
    shares: tuple[tuple[str, float], ...]  # (key, share), largest first, ties by key


def concentration(positions: Sequence[Position], dimension: str = "asset", *,
                  top_n: int = 5) -> Concentration:
    """Concentration of gross exposure (Σ|value|) by ``dimension``: HHI, 1/HHI, top-N share.

    Gross, because shorts and overdrafts do not diversify a book. No positions (or all zero) →
    NaN figures and no shares.
    """
    if top_n < 1:
        raise ValidationError("top_n must be at least 1", field="top_n")
    if dimension not in DIMENSIONS:
        raise ValidationError(f"unknown dimension '{dimension}'; use one of {', '.join(DIMENSIONS)}",
                              field="dimension")
    gross = math.fsum(abs(p.value) for p in positions)
    if not positions or gross == 0:
        return Concentration(dimension, math.nan, math.nan, top_n, math.nan, ())
    shares = group_weights(positions, dimension, gross=True)
    ordered = tuple(sorted(shares.items(), key=lambda kv: (-kv[1], kv[0])))
    values = np.array([v for _k, v in ordered])
    hhi = metrics.herfindahl_index(values)
    return Concentration(dimension, hhi, 1.0 / hhi if hhi > 0 else math.nan, top_n,
                         min(1.0, math.fsum(values[:top_n].tolist())), ordered)


def concentration_report(positions: Sequence[Position], *, top_n: int = 5) -> dict[str, Concentration]:
    """:func:`concentration` for each dimension (asset, asset class, issuer, currency, country)."""
    return {d: concentration(positions, d, top_n=top_n) for d in DIMENSIONS}


def risk_adjusted_return(returns: Any, risk_free: float = 0.0,
                         periods_per_year: float = metrics.PERIODS_PER_YEAR) -> float | np.ndarray:
    """The risk-adjusted return shown in the app: the annualised Sharpe ratio
    ``mean(r − rf) / std(r − rf, ddof=1) × √periods_per_year`` (``risk_free`` per period), i.e.
    exactly :func:`cio_desktop.domain.metrics.sharpe_ratio` (property 15)."""
    return metrics.sharpe_ratio(returns, risk_free, periods_per_year)
