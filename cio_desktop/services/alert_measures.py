"""Measure functions of the alert engine, keyed by (source, metric).

A measure takes the service context and a rule and returns one :class:`Measurement` per subject
(a portfolio, an asset in a portfolio, an account, a limit). It reads through the owning
services, so it passes the same permission checks as the user the engine runs for. A measure
whose source is not available (a service not built yet, a permission the user lacks, no data)
raises :class:`SourceUnavailable`; the engine then leaves that rule's alerts as they are.

Budget variance and forecast-below-buffer come from the budget and forecasting services (issue
8: ``detect_budget_variance``, ``buffer_breaches``); if those fail (no permission, no data) the
measures report "not available".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from cio_desktop.errors import CioError, PermissionDenied


class SourceUnavailable(Exception):
    """This rule cannot be measured now (the reason is shown in the rules list)."""


@dataclass(frozen=True)
class Measurement:
    subject: str                      # stable key: "portfolio:1", "account:3", "portfolio:1/asset:XYZ"
    value: Any                        # Decimal/float/int; None = could not be measured
    label: str = ""                   # human words for the subject
    threshold: Any = None             # overrides the rule's threshold (e.g. a risk-profile limit)
    breached: bool | None = None      # overrides the comparison (a limit check that knows)
    unit: str = ""                    # "%" (fractions shown as percent) or a currency code
    panel: str = "alerts"
    ref: str = ""


Measure = Callable[[Any, Any], list[Measurement]]
MEASURES: dict[tuple[str, str], Measure] = {}


def measure(source: str, metric: str) -> Callable[[Measure], Measure]:
    def register(fn: Measure) -> Measure:
        MEASURES[(source, metric)] = fn
        return fn

    return register


def params_of(rule: Any) -> dict[str, Any]:
    try:
        value = json.loads(rule.params or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _portfolios(ctx: Any, rule: Any) -> list[Any]:
    from cio_desktop.services.portfolio import PortfolioService

    ports = PortfolioService(ctx).list_portfolios()
    if rule.subject not in ("*", ""):
        ports = [p for p in ports if str(p.id) == str(rule.subject) or p.name == rule.subject]
    return ports


def _guard(fn: Measure) -> Measure:
    def run(ctx: Any, rule: Any) -> list[Measurement]:
        try:
            return fn(ctx, rule)
        except SourceUnavailable:
            raise
        except PermissionDenied as exc:
            raise SourceUnavailable(f"not permitted: {exc}") from None
        except (NotImplementedError, AttributeError, ImportError) as exc:
            raise SourceUnavailable(f"source not available ({exc.__class__.__name__})") from None
        except CioError as exc:
            raise SourceUnavailable(str(exc)) from None
    return run


@measure("portfolio", "drawdown")
@_guard
def portfolio_drawdown(ctx: Any, rule: Any) -> list[Measurement]:
    """Current drawdown: 1 − value today / highest value of the series (buy-and-hold)."""
    from cio_desktop.services.portfolio import PortfolioService

    out = []
    for p in _portfolios(ctx, rule):
        total = PortfolioService(ctx).value_series(p.id).total
        value = None
        if len(total) and float(total.max()) > 0:
            value = 1.0 - float(total[-1]) / float(total.max())
        out.append(Measurement(f"portfolio:{p.id}", value, p.name, unit="%", panel="portfolio",
                               ref=f"portfolio:{p.id}"))
    return out


@measure("portfolio", "loss_n_days")
@_guard
def portfolio_loss(ctx: Any, rule: Any) -> list[Measurement]:
    """Loss over the last N observations (params ``days``, default 5), as a positive fraction."""
    from cio_desktop.services.portfolio import PortfolioService

    days = int(params_of(rule).get("days", 5))
    out = []
    for p in _portfolios(ctx, rule):
        total = PortfolioService(ctx).value_series(p.id).total
        value = None
        if len(total) > days and float(total[-1 - days]) > 0:
            value = -(float(total[-1]) / float(total[-1 - days]) - 1.0)
        out.append(Measurement(f"portfolio:{p.id}", value, f"{p.name} ({days} days)", unit="%",
                               panel="portfolio", ref=f"portfolio:{p.id}"))
    return out


@measure("portfolio", "weight")
@_guard
def position_weight(ctx: Any, rule: Any) -> list[Measurement]:
    from cio_desktop.services.portfolio import PortfolioService

    out = []
    for p in _portfolios(ctx, rule):
        for h in PortfolioService(ctx).valuation(p.id).holdings:
            out.append(Measurement(f"portfolio:{p.id}/asset:{h.identifier}", h.weight,
                                   f"{h.asset.name} in {p.name}", unit="%", panel="portfolio",
                                   ref=f"portfolio:{p.id}"))
    return out


@measure("risk", "limit_breach")
@_guard
def risk_limits(ctx: Any, rule: Any) -> list[Measurement]:
    """Every limit of the risk profile (params ``profile``): breached exactly when the risk
    evaluation says so; the limit itself is the threshold."""
    from cio_desktop.services.risk import RiskService

    profile = params_of(rule).get("profile")
    out = []
    for p in _portfolios(ctx, rule):
        report = RiskService(ctx).evaluate_portfolio_risk(p.id, profile)
        for check in report.evaluation.checks:
            if not check.determined:
                continue
            what = check.dimension + (f":{check.key}" if check.key else "")
            out.append(Measurement(f"portfolio:{p.id}/{what}", check.actual,
                                   f"{p.name}: {what.replace('_', ' ')} ({check.kind} limit)",
                                   threshold=check.limit, breached=bool(check.breached), unit="%",
                                   panel="risk", ref=f"portfolio:{p.id}"))
    return out


@measure("risk", "var")
@_guard
def value_at_risk(ctx: Any, rule: Any) -> list[Measurement]:
    """One-day historical VaR as a positive loss fraction (params ``confidence``, default 0.95)."""
    from cio_desktop.services.risk import RiskService

    confidence = float(params_of(rule).get("confidence", 0.95))
    out = []
    for p in _portfolios(ctx, rule):
        var = RiskService(ctx).value_at_risk(p.id, confidence)
        value = -var.historical if var.observations and math.isfinite(var.historical) else None
        out.append(Measurement(f"portfolio:{p.id}", value, f"{p.name} VaR {confidence:.0%}", unit="%",
                               panel="risk", ref=f"portfolio:{p.id}"))
    return out


@measure("liquidity", "balance_below_min")
@_guard
def balance_headroom(ctx: Any, rule: Any) -> list[Measurement]:
    """Balance minus the account's own minimum balance (the rule's threshold adds a margin)."""
    from cio_desktop.services.accounts import AccountsService

    out = []
    for a in AccountsService(ctx).list_accounts():
        if rule.subject not in ("*", "") and str(a.id) != str(rule.subject):
            continue
        out.append(Measurement(f"account:{a.id}", a.headroom.amount, f"{a.name} ({a.institution})",
                               unit=a.currency, panel="accounts", ref=f"account:{a.id}"))
    return out


@measure("budget", "variance")
@_guard
def budget_variance(ctx: Any, rule: Any) -> list[Measurement]:
    """Per budget category of the last complete month (the budget service's default period; a
    month still running would compare part of its actuals with a whole month's budget): the
    relative deviation of actual from budget.
    Breached exactly when the budget service flags it (its thresholds, ``budget.set_thresholds``,
    property 20), so the Budget panel and the alert never disagree; the explanation becomes the
    alert's label."""
    from cio_desktop.services.budget import BudgetService

    out = []
    for v in BudgetService(ctx).detect_budget_variance():
        pct = v.pct
        out.append(Measurement(f"budget:{v.category}:{v.period}", abs(pct) if pct is not None else None,
                               f"{v.category} {v.period} — {v.explanation}"[:200], breached=bool(v.flagged),
                               unit="%", panel="budget", ref=f"budget:{v.category}"))
    return out


@measure("liquidity", "forecast_below_buffer")
@_guard
def forecast_buffer(ctx: Any, rule: Any) -> list[Measurement]:
    """The 13-week forecast (P50 closing balance) below the buffer: consolidated against the sum
    of minimum balances, and per account against its minimum (``ForecastService.buffer_breaches``).
    One alert per subject (the lowest breaching week); subjects no longer breaching resolve."""
    from cio_desktop.services.forecasting import ForecastService

    worst: dict[str, Any] = {}
    for b in ForecastService(ctx).buffer_breaches():
        subject = f"forecast:account:{b.account_id}" if b.account_id else "forecast:consolidated"
        if subject not in worst or b.closing_p50 < worst[subject].closing_p50:
            worst[subject] = b
    return [Measurement(subject, b.closing_p50,
                        (b.probability_note.split(":")[0] if b.account_id else "Consolidated")
                        + f" (week of {b.first:%d %b})",
                        threshold=b.buffer, breached=True, unit=b.currency, panel="forecast",
                        ref=f"account:{b.account_id}" if b.account_id else "forecast")
            for subject, b in worst.items()]


#: rules fed by events (sync failures, job failures, channel failures), not by a measure
EVENT_SOURCES: frozenset[tuple[str, str]] = frozenset({("sync", "failure"), ("job", "failure"),
                                                       ("notify", "channel_failure")})
