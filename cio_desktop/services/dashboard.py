"""The dashboard's figures for any data state (issue 11).

``get_dashboard_data()`` returns a :class:`DashboardData` whose ``metrics`` always hold every key
of ``METRIC_KEYS`` (property 28): each metric is computed on its own, and a metric whose source
has no data (the source says so by returning nothing or raising a ``CioError``) or is not
visible to the user's role comes back as "no data: <reason>" instead of failing the whole
screen. Visibility is checked against ``NEEDS`` before any call, so a role without the
permission gets "not visible to your role" and no refusal is audited on each refresh. Each
metric names the panel it opens (``Metric.panel``).

Sources: accounts (cash by currency and in the base currency, liquidity against the minimum
balances), payments (awaiting approval, due within 7 days), portfolio (value in the base currency,
return over the trailing 12 months), risk (limit headroom), budget (``detect_budget_variance()``:
the last complete month, named in the detail), forecasts (``forecast_cashflow(horizon=13,
granularity="week")``: consolidated closing P10/P50/P90), alerts (``open_counts``), compliance
(``standing``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable

from cio_desktop.domain.money import Money
from cio_desktop.errors import CioError, NotAuthenticated, PermissionDenied
from cio_desktop.security.permissions import Permission
from cio_desktop.services.base import Service, action

if TYPE_CHECKING:
    from cio_desktop.domain.cashflow import ForecastRow

log = logging.getLogger(__name__)

#: every metric the dashboard shows, in display order: key → (title, panel to open)
METRICS: dict[str, tuple[str, str]] = {
    "cash_total": ("Cash (base currency)", "accounts"),
    "cash_by_currency": ("Cash by currency", "accounts"),
    "liquidity": ("Liquidity vs buffer", "accounts"),
    "payments_awaiting_approval": ("Awaiting approval", "payments"),
    "payments_due_week": ("Payments due this week", "payments"),
    "portfolio_value": ("Portfolio value", "portfolio"),
    "portfolio_performance": ("Portfolio return (12 m)", "portfolio"),
    "risk_headroom": ("Risk headroom", "risk"),
    "budget_variance": ("Budget variance", "budget"),
    "open_alerts": ("Open alerts", "alerts"),
    "cash_outlook": ("13-week cash outlook", "forecast"),
    "compliance": ("Compliance standing", "compliance"),
}
METRIC_KEYS: tuple[str, ...] = tuple(METRICS)
#: what the user needs to see each metric (checked first, so no refusal is audited per refresh)
NEEDS: dict[str, Permission] = {
    "cash_total": Permission.ACCOUNTS_READ, "cash_by_currency": Permission.ACCOUNTS_READ,
    "liquidity": Permission.ACCOUNTS_READ, "payments_awaiting_approval": Permission.PAYMENTS_READ,
    "payments_due_week": Permission.PAYMENTS_READ, "portfolio_value": Permission.PORTFOLIO_READ,
    "portfolio_performance": Permission.PORTFOLIO_READ, "risk_headroom": Permission.RISK_READ,
    "budget_variance": Permission.FORECAST_READ, "open_alerts": Permission.ALERTS_READ,
    "cash_outlook": Permission.FORECAST_READ, "compliance": Permission.COMPLIANCE_READ,
}
NO_DATA = "no data"


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    panel: str                      # the panel a click opens
    value: str                      # the big figure as shown ("no data" when unavailable)
    detail: str = ""                # one line under it (or the reason there is no data)
    state: str = "normal"           # normal | ok | warning | danger | muted (no data)
    available: bool = True
    figure: Decimal | float | int | None = None   # the figure as a number, for tests and reports

    @classmethod
    def missing(cls, key: str, reason: str) -> "Metric":
        title, panel = METRICS[key]
        return cls(key, title, panel, NO_DATA, reason, "muted", False, None)


@dataclass(frozen=True)
class OutlookPoint:
    label: str
    p10: float | None
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class DashboardData:
    as_of: datetime
    base_currency: str
    metrics: dict[str, Metric]
    #: (currency, balance in that currency, in base currency or None without an FX rate)
    cash_by_currency: list[tuple[str, Decimal, Decimal | None]] = field(default_factory=list)
    outlook: list[OutlookPoint] = field(default_factory=list)
    buffer: Decimal | None = None   # sum of the accounts' minimum balances, base currency
    portfolio_series: list[tuple[date, float]] = field(default_factory=list)

    def metric(self, key: str) -> Metric:
        return self.metrics[key]


def _fmt(amount: Decimal | float | None, currency: str = "") -> str:
    if amount is None:
        return NO_DATA
    text = f"{Decimal(str(amount)):,.0f}" if abs(Decimal(str(amount))) >= 1000 else f"{Decimal(str(amount)):,.2f}"
    return f"{currency} {text}".strip()


def month_label(period: str) -> str:
    """``2026-10`` → ``October 2026`` (a budget period as the detail text names it)."""
    return date(int(period[:4]), int(period[5:7]), 1).strftime("%B %Y")


def last_complete_month(today: date) -> str:
    """The month ``detect_budget_variance(period=None)`` compares (YYYY-MM)."""
    return f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"


def outlook_points(rows: Iterable[ForecastRow]) -> list[OutlookPoint]:
    """Forecast rows (closing-balance P10/P50/P90 per period) as chart points."""
    return [OutlookPoint(r.period, r.closing_p10, r.closing_p50, r.closing_p90) for r in rows]


class DashboardService(Service):
    @action(Permission.ACCOUNTS_READ, description="view the dashboard")
    def get_dashboard_data(self) -> DashboardData:
        ws = _Sources(self)
        metrics: dict[str, Metric] = {}
        for key in METRIC_KEYS:
            metrics[key] = ws.safe(key)
        return DashboardData(self.ctx.now(), self.ctx.settings.base_currency, metrics,
                             ws.cash_rows, ws.outlook, ws.buffer, ws.portfolio_series)

    @action(Permission.ACCOUNTS_READ, description="view the dashboard")
    def metric(self, key: str) -> Metric:
        """One metric alone (a card refreshing after an event that concerns only it)."""
        if key not in METRICS:
            raise CioError(f"unknown dashboard metric '{key}'")
        return _Sources(self).safe(key)


class _Sources:
    """Computes each metric from the services, sharing what several metrics need."""

    def __init__(self, svc: DashboardService) -> None:
        self.svc = svc
        self.ctx = svc.ctx
        self.base = svc.ctx.settings.base_currency
        self.today = svc.ctx.now().date()
        self.cash_rows: list[tuple[str, Decimal, Decimal | None]] = []
        self.outlook: list[OutlookPoint] = []
        self.buffer: Decimal | None = None
        self.portfolio_series: list[tuple[date, float]] = []
        self._cache: dict[str, Any] = {}

    # -- the services of the workspace, by their Workspace attribute (no import cycle) ------------
    def service(self, cls_name: str) -> Any:
        from cio_desktop.services import (accounts, alerts, budget, compliance, forecasting, payments,
                                          portfolio, risk)
        classes = {"accounts": accounts.AccountsService, "payments": payments.PaymentsService,
                   "portfolio": portfolio.PortfolioService, "risk": risk.RiskService,
                   "budget": budget.BudgetService, "forecasts": forecasting.ForecastService,
                   "alerts": alerts.AlertsService, "compliance": compliance.ComplianceService}
        if cls_name not in self._cache:
            self._cache[cls_name] = classes[cls_name](self.ctx)
        return self._cache[cls_name]

    def once(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def safe(self, key: str) -> Metric:
        title, panel = METRICS[key]
        session = self.ctx.require_session()
        if not session.can(NEEDS[key]):
            return Metric.missing(key, "not visible to your role")
        try:
            m = getattr(self, f"m_{key}")()
        except NotAuthenticated:
            raise
        except PermissionDenied:
            return Metric.missing(key, "not visible to your role")
        except CioError as exc:
            return Metric.missing(key, str(exc))
        except Exception as exc:  # one broken source must not take the dashboard down
            log.exception("dashboard metric %s failed", key)
            return Metric.missing(key, f"could not be computed ({type(exc).__name__})")
        return replace(m, key=key, title=title, panel=panel)

    # -- accounts ---------------------------------------------------------------------------------
    def _accounts(self) -> Any:
        return self.once("accounts_list", lambda: self.service("accounts").list_accounts())

    def _consolidated(self) -> tuple[list[Any], Money | None]:
        acc = self.service("accounts")
        return self.once("consolidated", lambda: acc.consolidated(self._accounts()))

    def _to_base(self, money: Money) -> Decimal | None:
        if money.currency == self.base:
            return money.amount
        rate = self.once(f"rate_{money.currency}",
                         lambda: self.service("accounts").latest_rate(money.currency, self.base))
        return None if rate is None else (money.amount * rate).quantize(Decimal("0.01"))

    def m_cash_total(self) -> Metric:
        totals, grand = self._consolidated()
        self.cash_rows = [(t.currency, t.balance.amount, t.in_base.amount if t.in_base else None) for t in totals]
        if not totals:
            return Metric.missing("cash_total", "no bank accounts yet")
        if grand is None:
            missing = ", ".join(t.currency for t in totals if t.in_base is None)
            return Metric("", "", "", NO_DATA, f"no FX rate for {missing}", "warning", False, None)
        return Metric("", "", "", _fmt(grand.amount, self.base),
                      f"{len(self._accounts())} account(s) in {len(totals)} currenc{'y' if len(totals) == 1 else 'ies'}",
                      "normal", True, grand.amount)

    def m_cash_by_currency(self) -> Metric:
        totals, _grand = self._consolidated()
        if not totals:
            return Metric.missing("cash_by_currency", "no bank accounts yet")
        detail = " · ".join(t.balance.format() for t in totals)
        return Metric("", "", "", f"{len(totals)} currenc{'y' if len(totals) == 1 else 'ies'}", detail,
                      "normal", True, len(totals))

    def m_liquidity(self) -> Metric:
        accounts = self._accounts()
        if not accounts:
            return Metric.missing("liquidity", "no bank accounts yet")
        balance, buffer, below, unknown = Decimal(0), Decimal(0), 0, set()
        for a in accounts:
            b, m = self._to_base(a.balance), self._to_base(a.min_balance)
            if b is None or m is None:
                unknown.add(a.currency)
                continue
            balance, buffer = balance + b, buffer + m
            if a.balance.amount < a.min_balance.amount:
                below += 1
        self.buffer = buffer
        headroom = balance - buffer
        state = "danger" if headroom < 0 else ("warning" if below else "ok")
        detail = f"buffer {_fmt(buffer, self.base)}"
        if below:
            detail += f"; {below} account(s) below their minimum"
        if unknown:
            detail += f"; no FX rate for {', '.join(sorted(unknown))}"
        return Metric("", "", "", _fmt(headroom, self.base), f"headroom over {detail}", state, True, headroom)

    # -- payments ---------------------------------------------------------------------------------
    def _sum_base(self, payments: list[Any]) -> tuple[Decimal | None, str]:
        total, missing = Decimal(0), set()
        for p in payments:
            b = self._to_base(p.amount)
            if b is None:
                missing.add(p.amount.currency)
            else:
                total += b
        return (None if missing else total), ", ".join(sorted(missing))

    def m_payments_awaiting_approval(self) -> Metric:
        pending = self.service("payments").list_payments(status="pending_approval")
        total, missing = self._sum_base(pending)
        detail = (f"total {_fmt(total, self.base)}" if total is not None else f"no FX rate for {missing}") \
            if pending else "nothing waiting"
        return Metric("", "", "", str(len(pending)), detail, "warning" if pending else "ok", True, len(pending))

    def m_payments_due_week(self) -> Metric:
        end = self.today + timedelta(days=7)
        live = ("pending_approval", "approved", "scheduled")
        due = [p for p in self.service("payments").list_payments(status=live) if p.execution_date <= end]
        overdue = sum(1 for p in due if p.execution_date < self.today)
        total, missing = self._sum_base(due)
        detail = (f"total {_fmt(total, self.base)}" if total is not None else f"no FX rate for {missing}") \
            if due else "nothing due in the next 7 days"
        if overdue:
            detail += f"; {overdue} overdue"
        return Metric("", "", "", str(len(due)), detail, "danger" if overdue else "normal", True, len(due))

    # -- portfolio and risk -----------------------------------------------------------------------
    def _portfolios(self) -> list[Any]:
        return self.once("portfolios", lambda: self.service("portfolio").list_portfolios())

    def m_portfolio_value(self) -> Metric:
        ports = self._portfolios()
        if not ports:
            return Metric.missing("portfolio_value", "no portfolios yet")
        svc, total, missing = self.service("portfolio"), Decimal(0), set()
        for p in ports:
            val = svc.valuation(p.id)
            b = self._to_base(val.total)
            if b is None:
                missing.add(val.total.currency)
            else:
                total += b
        if missing:
            return Metric("", "", "", NO_DATA, f"no FX rate for {', '.join(sorted(missing))}", "warning", False)
        return Metric("", "", "", _fmt(total, self.base), f"{len(ports)} portfolio(s)", "normal", True, total)

    def m_portfolio_performance(self) -> Metric:
        ports = self._portfolios()
        if not ports:
            return Metric.missing("portfolio_performance", "no portfolios yet")
        svc = self.service("portfolio")
        start = self.today - timedelta(days=365)
        weighted, weight, series = 0.0, 0.0, {}
        for p in ports:
            s = svc.value_series(p.id, start=start)
            if len(s.dates) < 2:
                continue
            total = s.total
            r = float(total[-1] / total[0] - 1.0) if total[0] else math.nan
            if math.isfinite(r):
                weighted, weight = weighted + r * float(total[-1]), weight + float(total[-1])
            if len(ports) == 1 or s.base_currency == self.base:
                for d, v in zip(s.dates, total):
                    series[d] = series.get(d, 0.0) + float(v)
        if weight <= 0:
            return Metric.missing("portfolio_performance", "not enough price history")
        self.portfolio_series = sorted(series.items())
        r = weighted / weight
        return Metric("", "", "", f"{r * 100:+.2f} %", f"since {start.isoformat()}, value-weighted",
                      "ok" if r >= 0 else "warning", True, r)

    def m_risk_headroom(self) -> Metric:
        ports = self._portfolios()
        if not ports:
            return Metric.missing("risk_headroom", "no portfolios yet")
        risk = self.service("risk")
        breaches, tightest, score = 0, None, 0.0
        for p in ports:
            rep = risk.evaluate_portfolio_risk(p.id)
            ev = rep.evaluation
            breaches += len(ev.breaches)
            score = max(score, float(ev.score))
            for c in ev.checks:
                if c.determined and (tightest is None or c.headroom < tightest[0]):
                    tightest = (c.headroom, c.dimension, c.key, p.name)
        if tightest is None:
            return Metric.missing("risk_headroom", "no limits could be checked")
        h, dim, key, pname = tightest
        where = f"{dim}{' ' + key if key else ''} ({pname})"
        state = "danger" if breaches else ("warning" if score > 90 else "ok")
        value = f"{breaches} breach{'es' if breaches != 1 else ''}" if breaches else f"{100 - score:.0f} % free"
        return Metric("", "", "", value, f"tightest: {where}, headroom {h * 100:+.1f} pts", state, True,
                      round(100 - score, 4))

    # -- planning, alerts, compliance ------------------------------------------------------------
    def m_budget_variance(self) -> Metric:
        # period=None: the last complete month (a running month would set part of its actuals
        # against a whole month's budget)
        items = self.service("budget").detect_budget_variance()
        month = month_label(items[0].period if items else last_complete_month(self.today))
        if not items:
            return Metric.missing("budget_variance", f"no budget for {month}")
        flagged = [v for v in items if v.flagged]
        net = sum((v.deviation for v in flagged), Decimal(0))
        detail = (f"of {len(items)} line(s) beyond the thresholds in {month}; net {_fmt(net, self.base)}"
                  if flagged else f"all {len(items)} budget line(s) within the thresholds in {month}")
        return Metric("", "", "", str(len(flagged)), detail, "warning" if flagged else "ok", True, len(flagged))

    def m_open_alerts(self) -> Metric:
        counts = self.service("alerts").open_counts()
        n = sum(counts.values())
        crit, warn = counts.get("critical", 0), counts.get("warning", 0)
        state = "danger" if crit else ("warning" if warn else ("normal" if n else "ok"))
        detail = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()) if v) or "none open"
        return Metric("", "", "", str(n), detail, state, True, n)

    def m_cash_outlook(self) -> Metric:
        result = self.service("forecasts").forecast_cashflow(horizon=13, granularity="week")
        self.outlook = points = outlook_points(result.rows)
        if not points:
            return Metric.missing("cash_outlook", result.notes[0] if result.notes else "no forecast yet")
        low = min(p.p10 for p in points)
        state = "danger" if self.buffer is not None and low < float(self.buffer) else "ok"
        detail = f"in 13 weeks (p50); lowest p10 {_fmt(low, self.base)}"
        if state == "danger":
            detail += " — below the buffer"
        return Metric("", "", "", _fmt(points[-1].p50, self.base), detail, state, True, points[-1].p50)

    def m_compliance(self) -> Metric:
        rows = self.service("compliance").standing()
        if not rows:
            return Metric("", "", "", "no rules", "no compliance rules defined", "muted", True, 0)
        broken = sum(1 for r in rows if r.status == "breach")
        warned = sum(1 for r in rows if r.status == "warning")
        state = "danger" if broken else ("warning" if warned else "ok")
        value = f"{broken} breach{'es' if broken != 1 else ''}" if broken else "all within"
        detail = f"{len(rows)} check(s)" + (f"; {warned} warning(s)" if warned else "")
        return Metric("", "", "", value, detail, state, True, broken)
