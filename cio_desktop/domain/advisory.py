"""Recommendations, their priority order, and the strategy comparison matrix (pure).

Priority (property 16): by urgency (critical 4 > high 3 > medium 2 > low 1), then by expected
impact (base-currency amount, larger first), then by ``key`` — a unique, stable identity (the
category and subject), then by position in the input. That is a total order; the same set in
any input order gives the same ranking; an equally urgent item with higher impact never ranks
below one with lower impact.

Completeness (property 17): a recommendation always carries a rationale in plain words, at least
one supporting figure, and a confidence in [0, 1] with its source (``analytics`` when the
analytics engine scored it, else ``heuristic: …`` naming the rule). :func:`make` refuses
anything less.

Strategy comparison (property 18): :func:`compare` returns a cell for every strategy × metric
(``METRICS``) — a value, or ``not available: reason`` (e.g. too few observations). Metrics come
from the metrics kernel: expected return = CAGR, volatility and Sharpe annualised with 252,
max drawdown (negative), one-day historical VaR 95 % (a signed return), cost = one-off
transaction cost as a fraction of value, liquidity = the share sellable within the policy horizon.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cio_desktop.domain import metrics
from cio_desktop.errors import ValidationError

URGENCY = {"low": 1, "medium": 2, "high": 3, "critical": 4}
ACTIONS = ("buy", "sell", "reduce", "increase", "hold", "review", "hedge", "rebalance", "raise_cash",
           "invest_cash")


@dataclass(frozen=True)
class Recommendation:
    key: str  # "<category>:<subject>", unique within one generation
    category: str  # risk | market | opportunity | cash | budget | rebalancing
    subject: str
    action: str
    rationale: str
    data: Mapping[str, Any]
    expected_impact: float  # base currency (risk reduced, cash protected, expected gain), ≥ 0
    impact_text: str
    urgency: str
    confidence: float
    confidence_source: str
    portfolio_id: int | None = None

    @property
    def urgency_rank(self) -> int:
        return URGENCY[self.urgency]


def make(*, key: str, category: str, subject: str, action: str, rationale: str, data: Mapping[str, Any],
         expected_impact: float, impact_text: str, urgency: str, confidence: float, confidence_source: str,
         portfolio_id: int | None = None) -> Recommendation:
    """A validated recommendation (property 17 at the door)."""
    if not rationale.strip():
        raise ValidationError(f"{key}: a recommendation needs a rationale", field="rationale")
    if not data:
        raise ValidationError(f"{key}: a recommendation needs supporting figures", field="data")
    if urgency not in URGENCY:
        raise ValidationError(f"{key}: urgency must be one of {', '.join(URGENCY)}", field="urgency")
    if action not in ACTIONS:
        raise ValidationError(f"{key}: unknown action '{action}'", field="action")
    c = float(confidence)
    if not (0.0 <= c <= 1.0) or not confidence_source.strip():
        raise ValidationError(f"{key}: confidence must be in [0, 1] with its source", field="confidence")
    imp = float(expected_impact)
    if not math.isfinite(imp) or imp < 0:
        raise ValidationError(f"{key}: expected impact must be a non-negative amount", field="expected_impact")
    return Recommendation(key, category, subject, action, rationale.strip(), dict(data), imp, impact_text,
                          urgency, c, confidence_source, portfolio_id)


def priority_key(r: Recommendation) -> tuple[int, float, str]:
    return (-r.urgency_rank, -r.expected_impact, r.key)


def prioritize(recs: Iterable[Recommendation]) -> list[Recommendation]:
    """Stable sort by :func:`priority_key` (see the module docstring)."""
    return sorted(recs, key=priority_key)


def heuristic_confidence(*, observations: int, agreeing: int, total_signals: int, age_days: int) -> tuple[float, str]:
    """Confidence when the analytics engine gives none: data depth × signal agreement × freshness.

    depth = min(1, observations / 252); agreement = agreeing / total (0.5 if none); freshness =
    1 up to 5 days old, then falling linearly to 0.5 at 30 days. Clipped to [0.05, 0.95]: the
    heuristic never claims certainty.
    """
    depth = min(1.0, max(observations, 0) / 252.0)
    agreement = agreeing / total_signals if total_signals > 0 else 0.5
    fresh = 1.0 if age_days <= 5 else max(0.5, 1.0 - 0.5 * (age_days - 5) / 25.0)
    c = min(0.95, max(0.05, (0.4 + 0.6 * depth) * (0.5 + 0.5 * agreement) * fresh))
    return c, (f"heuristic: data depth {depth:.2f} × signal agreement {agreement:.2f} × freshness {fresh:.2f}")


# ---------------------------------------------------------------------------------------------
# strategy comparison
METRICS = ("expected_return", "volatility", "sharpe_ratio", "max_drawdown", "value_at_risk", "cost", "liquidity")
METRIC_LABELS = {"expected_return": "Expected return (CAGR)", "volatility": "Volatility", "sharpe_ratio": "Sharpe",
                 "max_drawdown": "Max drawdown", "value_at_risk": "VaR 95 % (1 day)", "cost": "Cost",
                 "liquidity": "Liquidity"}


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    returns: np.ndarray  # daily simple returns of the strategy's portfolio
    cost: float | None  # one-off cost as a fraction of value
    liquidity: float | None  # share of value that is liquid


@dataclass(frozen=True)
class Cell:
    value: float | None
    reason: str = ""

    def text(self, percent: bool = True) -> str:
        if self.value is None:
            return f"not available: {self.reason}"
        return f"{self.value:.2%}" if percent else f"{self.value:.2f}"


@dataclass(frozen=True)
class ComparisonMatrix:
    strategies: tuple[str, ...]
    descriptions: tuple[str, ...]
    metrics: tuple[str, ...]
    cells: Mapping[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, strategy: str, metric: str) -> Cell:
        return self.cells[(strategy, metric)]


def compare(strategies: Sequence[Strategy], risk_free: float = 0.0) -> ComparisonMatrix:
    names = [s.name for s in strategies]
    if len(set(names)) != len(names):
        raise ValidationError("two strategies have the same name", field="strategies")
    cells: dict[tuple[str, str], Cell] = {}
    for s in strategies:
        r = np.asarray(s.returns, dtype=np.float64)
        r = r[np.isfinite(r)]
        values: dict[str, float] = {}
        why = ""
        if len(r) >= 2:
            values = {k: float(v) for k, v in metrics.metric_set(r, risk_free=risk_free).items()}
        else:
            why = f"{len(r)} return observation(s); at least 2 are needed"
        for m, src in (("expected_return", "annual_return"), ("volatility", "annual_volatility"),
                       ("sharpe_ratio", "sharpe_ratio"), ("max_drawdown", "max_drawdown"),
                       ("value_at_risk", "value_at_risk")):
            v = values.get(src, math.nan)
            if math.isfinite(v):
                cells[(s.name, m)] = Cell(v)
            elif why:
                cells[(s.name, m)] = Cell(None, why)
            elif m == "sharpe_ratio":
                cells[(s.name, m)] = Cell(None, "the returns do not vary, so the ratio is undefined")
            else:
                cells[(s.name, m)] = Cell(None, "the figure is undefined for these returns")
        for m, v in (("cost", s.cost), ("liquidity", s.liquidity)):
            if v is not None and math.isfinite(v):
                cells[(s.name, m)] = Cell(float(v))
            else:
                cells[(s.name, m)] = Cell(None, f"no {m} estimate for this strategy")
    return ComparisonMatrix(tuple(names), tuple(s.description for s in strategies), METRICS, cells)
