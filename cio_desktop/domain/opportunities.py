"""Investment criteria as data, the screen over a universe, and portfolio context.

Property 25: :func:`screen` returns exactly the candidates for which :func:`failures` is empty.
A criterion on a figure the candidate does not have (volatility of an asset with too few
closes, the P/E of a bond) is **not met** — unknown is not a pass — and the failure says so.

Property 27: :func:`portfolio_context` gives every opportunity its current holding and weight,
its correlation with the portfolio, and the effect of buying ``proposed_value`` on volatility and
concentration (HHI and the largest weight). The portfolio's return series is the value-weighted
sum of its assets' daily returns at today's weights (daily rebalanced, an approximation stated
here); volatility is the metrics kernel's annualised volatility of that series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from cio_desktop.domain import metrics
from cio_desktop.errors import ValidationError


@dataclass(frozen=True)
class Criteria:
    """Empty sets mean "any"; ``None`` thresholds mean "no limit"."""

    name: str = "default"
    asset_classes: frozenset[str] = frozenset()
    currencies: frozenset[str] = frozenset()
    min_liquidity: float | None = None  # typical daily traded value, base currency
    max_volatility: float | None = None  # annualised
    min_momentum: float | None = None  # 3-month return
    max_pe: float | None = None  # value threshold
    min_dividend_yield: float | None = None
    exclude_assets: frozenset[str] = frozenset()
    exclude_sectors: frozenset[str] = frozenset()
    exclude_countries: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = sorted(v) if isinstance(v, frozenset) else v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "criteria") -> "Criteria":
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ValidationError(f"unknown criterion '{key}'", source=source, field=key)
            default = known[key].default
            if isinstance(default, frozenset):
                if isinstance(value, str):
                    value = [p for p in (s.strip() for s in value.split(",")) if p]
                if not isinstance(value, (list, tuple, set, frozenset)):
                    raise ValidationError(f"{key} must be a list", source=source, field=key)
                kwargs[key] = frozenset(str(v) for v in value)
            elif key == "name":
                kwargs[key] = str(value)
            elif value is None or value == "":
                kwargs[key] = None
            else:
                try:
                    num = float(value)
                except (TypeError, ValueError):
                    raise ValidationError(f"{key}: '{value}' is not a number", source=source, field=key) from None
                if not math.isfinite(num):
                    raise ValidationError(f"{key} must be a finite number", source=source, field=key)
                if key in ("min_liquidity", "max_volatility", "max_pe", "min_dividend_yield") and num < 0:
                    raise ValidationError(f"{key} must not be negative", source=source, field=key)
                kwargs[key] = num
        return cls(**kwargs)


@dataclass(frozen=True)
class Candidate:
    identifier: str
    name: str
    asset_class: str
    currency: str
    sector: str = ""
    country: str = ""
    liquidity: float = math.nan  # typical daily traded value, base currency
    volatility: float = math.nan
    momentum: float = math.nan  # 3-month return
    pe_ratio: float | None = None
    dividend_yield: float | None = None
    signal: float = 0.0  # the analysis' overall score in [−1, 1]
    extra: Mapping[str, Any] = field(default_factory=dict)


def _known(v: float | None) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def failures(c: Candidate, k: Criteria) -> list[str]:
    """Plain-words reasons ``c`` misses ``k`` (empty: it meets every criterion)."""
    out = []
    if k.asset_classes and c.asset_class not in k.asset_classes:
        out.append(f"asset class {c.asset_class} is not one of {', '.join(sorted(k.asset_classes))}")
    if k.currencies and c.currency not in k.currencies:
        out.append(f"currency {c.currency} is not one of {', '.join(sorted(k.currencies))}")
    if c.identifier in k.exclude_assets:
        out.append("excluded by name")
    if c.sector and c.sector in k.exclude_sectors:
        out.append(f"sector {c.sector} is excluded")
    if c.country and c.country in k.exclude_countries:
        out.append(f"country {c.country} is excluded")
    checks = (("min_liquidity", c.liquidity, "liquidity", lambda v, t: v >= t),
              ("max_volatility", c.volatility, "volatility", lambda v, t: v <= t),
              ("min_momentum", c.momentum, "momentum", lambda v, t: v >= t),
              ("max_pe", c.pe_ratio, "P/E", lambda v, t: 0 < v <= t),
              ("min_dividend_yield", c.dividend_yield, "dividend yield", lambda v, t: v >= t))
    for attr, value, label, ok in checks:
        limit = getattr(k, attr)
        if limit is None:
            continue
        if not _known(value):
            out.append(f"{label} is not known, so the {attr.replace('_', ' ')} criterion cannot be met")
        elif not ok(float(value), float(limit)):
            out.append(f"{label} {float(value):.4g} misses {attr.replace('_', ' ')} {float(limit):.4g}")
    return out


def screen(universe: Sequence[Candidate], criteria: Criteria) -> list[Candidate]:
    """Every candidate meeting all criteria, best signal first (then momentum, then identifier)."""
    hits = [c for c in universe if not failures(c, criteria)]
    return sorted(hits, key=lambda c: (-c.signal, -(c.momentum if _known(c.momentum) else -math.inf),
                                       c.identifier))


@dataclass(frozen=True)
class PortfolioContext:
    identifier: str
    holding_value: float  # base currency, 0 when not held
    holding_quantity: float
    weight: float  # current weight in the portfolio, 0 when not held
    correlation: float | None
    correlation_reason: str
    proposed_value: float
    volatility_before: float | None
    volatility_after: float | None
    risk_reason: str
    hhi_before: float | None
    hhi_after: float
    max_weight_after: float
    weight_after: float

    @property
    def volatility_change(self) -> float | None:
        if self.volatility_before is None or self.volatility_after is None:
            return None
        return self.volatility_after - self.volatility_before


def portfolio_context(identifier: str, holdings: Mapping[str, float], quantities: Mapping[str, float],
                      returns: Mapping[str, np.ndarray], proposed_value: float) -> PortfolioContext:
    """``holdings``: base-currency value per held asset; ``returns``: aligned daily returns per
    asset (the candidate's included), equal lengths. Pure."""
    if not (math.isfinite(proposed_value) and proposed_value >= 0):
        raise ValidationError("the proposed size must be a non-negative amount", field="proposed_value")
    total = math.fsum(v for v in holdings.values() if v > 0)
    held = holdings.get(identifier, 0.0)
    weight = held / total if total > 0 else 0.0
    after = dict(holdings)
    after[identifier] = after.get(identifier, 0.0) + proposed_value
    total_after = total + proposed_value
    w_after = {k: v / total_after for k, v in after.items()} if total_after > 0 else {}
    # HHI on weights (not raw amounts: tiny amounts would underflow when squared)
    hhi_before = float(metrics.herfindahl_index([v / total for v in holdings.values()])) if total > 0 else None
    hhi_after = float(metrics.herfindahl_index(list(w_after.values()))) if total_after > 0 else 0.0
    max_after = max(w_after.values(), default=0.0)
    cand = returns.get(identifier)
    names = [k for k in holdings if holdings[k] > 0]
    corr, corr_reason, vb, va, risk_reason = None, "", None, None, ""
    if total <= 0:
        corr_reason = "the portfolio has no holdings to correlate with"
        risk_reason = "the portfolio has no holdings"
    elif cand is None or any(returns.get(k) is None for k in names):
        missing = identifier if cand is None else next(k for k in names if returns.get(k) is None)
        corr_reason = risk_reason = f"no return history for {missing}"
    else:
        mat = np.vstack([returns[k] for k in names])
        w = np.array([holdings[k] / total for k in names])
        port = w @ mat
        if len(port) < 3:
            corr_reason = risk_reason = "fewer than three common return days"
        else:
            vb = float(metrics.annual_volatility(port))
            names_after = list(dict.fromkeys([*names, identifier]))
            mat_a = np.vstack([returns[k] for k in names_after])
            wa = np.array([w_after.get(k, 0.0) for k in names_after])
            va = float(metrics.annual_volatility(wa @ mat_a))
            if np.std(cand) == 0 or np.std(port) == 0:
                corr_reason = "a flat return series has no correlation"
            else:
                corr = float(np.corrcoef(cand, port)[0, 1])
    return PortfolioContext(identifier, held, float(quantities.get(identifier, 0.0)), weight, corr, corr_reason,
                            proposed_value, vb, va, risk_reason, hhi_before, hhi_after, max_after,
                            w_after.get(identifier, 0.0))
