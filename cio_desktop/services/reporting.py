"""Board packs and other report documents, exported to PDF, Excel, CSV (issue 11).

``build_board_pack(period, sections, audience, masked)`` assembles a ``ReportDocument`` from
the services (each section on its own: a section whose source has no data — it returns
nothing or raises a ``CioError`` — or is not visible to the user's role says "No data:
<reason>" instead of failing the pack); ``export_board_pack`` builds and writes it;
``export_report(document, fmt, path)`` writes any document (other areas: compliance report,
daily summary). Exports are audited (``report.exported``) and published as
``reports.exported``. An unmasked export (full account numbers) needs ``EXPORT_UNMASKED`` with
a fresh MFA code.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Sequence

from sqlalchemy import case, func, select

from cio_desktop.errors import CioError, NotAuthenticated, PermissionDenied, ValidationError
from cio_desktop.reports import (Chart, Column, Period, ReportDocument, Section, Series, Table, Text,
                                 export_report as _export, normalise_format)
from cio_desktop.security.permissions import Permission
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.services.dashboard import DashboardService, last_complete_month, month_label

log = logging.getLogger(__name__)

#: board-pack sections: key → (title, permission needed to include it)
SECTIONS: dict[str, tuple[str, Permission]] = {
    "summary": ("Summary", Permission.ACCOUNTS_READ),
    "cash": ("Cash and liquidity", Permission.ACCOUNTS_READ),
    "payments": ("Payments", Permission.PAYMENTS_READ),
    "portfolio": ("Portfolio", Permission.PORTFOLIO_READ),
    "risk": ("Risk limits", Permission.RISK_READ),
    "budget": ("Budget variance", Permission.FORECAST_READ),
    "forecast": ("13-week cash outlook", Permission.FORECAST_READ),
    "alerts": ("Open alerts", Permission.ALERTS_READ),
    "compliance": ("Compliance", Permission.COMPLIANCE_READ),
}
SECTION_KEYS: tuple[str, ...] = tuple(SECTIONS)

Progress = Callable[[float, str], None]


class MissingData(CioError):
    """A section's source has no data for the period (shown as "No data: …" in the pack)."""


# -- periods ----------------------------------------------------------------------------------------
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.I)
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/|–| to )\s*(\d{4}-\d{2}-\d{2})$")


def _month_end(y: int, m: int) -> date:
    return (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1))


def parse_period(text: str | None, today: date) -> Period:
    """``2026-10`` (month), ``2026-Q3``, ``2026`` (year), ``2026-10-01..2026-10-31``, ``mtd``,
    ``ytd``; empty: the last full month. A period starting after today is refused (nothing to
    report), as is one that ends before it starts."""
    t = (text or "").strip()
    try:
        if not t:
            first = today.replace(day=1)
            end = first - timedelta(days=1)
            p = Period(end.replace(day=1), end, end.strftime("%B %Y"))
        elif t.lower() == "mtd":
            p = Period(today.replace(day=1), today, f"{today:%B %Y} to date")
        elif t.lower() == "ytd":
            p = Period(date(today.year, 1, 1), today, f"{today.year} to date")
        elif m := _MONTH.match(t):
            y, mo = int(m.group(1)), int(m.group(2))
            p = Period(date(y, mo, 1), _month_end(y, mo), date(y, mo, 1).strftime("%B %Y"))
        elif m := _QUARTER.match(t):
            y, q = int(m.group(1)), int(m.group(2))
            p = Period(date(y, 3 * q - 2, 1), _month_end(y, 3 * q), f"Q{q} {y}")
        elif m := _YEAR.match(t):
            y = int(m.group(1))
            p = Period(date(y, 1, 1), date(y, 12, 31), str(y))
        elif m := _RANGE.match(t):
            p = Period(date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2)))
        else:
            raise ValidationError(f"'{t}' is not a period: use 2026-10, 2026-Q3, 2026, "
                                  "2026-10-01..2026-10-31, mtd or ytd", field="period")
    except ValueError as exc:
        raise ValidationError(f"'{t}' is not a valid period: {exc}", field="period") from None
    if p.start > today:
        raise ValidationError(f"the period {p.label} starts after today ({today.isoformat()}): "
                              "there is nothing to report yet", field="period")
    return p


@dataclass(frozen=True)
class ExportSummary:
    path: str
    format: str
    title: str
    period: str
    sections: tuple[str, ...]
    missing: tuple[tuple[str, str], ...]    # (section title, reason) printed as "No data"
    masked: bool

    def summary(self) -> str:
        text = f"{self.title} ({self.period}) written to {self.path}"
        if self.missing:
            text += "; no data for " + ", ".join(f"{t} ({r})" for t, r in self.missing)
        return text


class ReportingService(Service):
    # ---- building -------------------------------------------------------------------------------
    @action(Permission.REPORTS_EXPORT, description="build a board pack")
    def build_board_pack(self, period: Period | str | None = None, sections: Sequence[str] | None = None, *,
                         audience: str = "Board of directors", masked: bool = True,
                         progress: Progress | None = None) -> ReportDocument:
        today = self.ctx.now().date()
        per = period if isinstance(period, Period) else parse_period(period, today)
        keys = list(SECTION_KEYS if not sections else sections)
        unknown = [k for k in keys if k not in SECTIONS]
        if unknown:
            raise ValidationError(f"unknown section(s) {', '.join(unknown)}; choose from "
                                  f"{', '.join(SECTION_KEYS)}", field="sections")
        if not keys:
            raise ValidationError("choose at least one section", field="sections")
        if not masked:
            self.ctx.authorize(Permission.EXPORT_UNMASKED, "export a board pack with full account numbers")
        company = self._company()
        doc = ReportDocument(f"{company} — Board pack", per, subtitle="Treasury report",
                             generated_at=self.ctx.now(), generated_by=self.ctx.actor, audience=audience,
                             masked=masked)
        builder = _Builder(self, per, masked)
        for i, key in enumerate(keys):
            title, perm = SECTIONS[key]
            if progress:
                progress(i / (len(keys) + 1), f"collecting {title.lower()}")
            doc.add(builder.section(key, title, perm))
        return doc

    def _company(self) -> str:
        from cio_desktop.services.payments import COMPANY_KEY, DEFAULT_COMPANY
        from cio_desktop.storage.models import AppMeta

        try:
            with self.ctx.db.unit_of_work(write=False) as uow:
                row = uow.get(AppMeta, COMPANY_KEY)
                return row.value if row is not None and row.value else DEFAULT_COMPANY
        except Exception:  # a missing settings row never blocks a report
            return DEFAULT_COMPANY

    # ---- exporting ------------------------------------------------------------------------------
    @action(Permission.REPORTS_EXPORT, description="export a report")
    def export_report(self, document: ReportDocument, fmt: str, path: str | Path, *,
                      kind: str = "report") -> ExportSummary:
        """Write ``document`` (any ReportDocument) as pdf | xlsx | csv; audited and published."""
        fmt = normalise_format(fmt)
        if not document.masked:
            self.ctx.authorize(Permission.EXPORT_UNMASKED, "export a report with full account numbers")
        final = _export(document, fmt, path)
        missing = tuple((s.title, s.no_data) for s in document.sections if s.no_data)
        result = ExportSummary(str(final), fmt, document.title, document.period.label,
                               tuple(s.title for s in document.sections), missing, document.masked)
        with self.ctx.db.unit_of_work(write=True) as uow:
            audit_log(uow, actor=self.ctx.actor, action="report.exported", entity="report", entity_id=kind,
                      after={"format": fmt, "path": str(final), "title": document.title,
                             "period": document.period.label, "sections": list(result.sections),
                             "masked": document.masked}, at=self.ctx.now())
        self.ctx.bus.publish("reports.exported", kind=kind, path=str(final), format=fmt)
        return result

    @action(Permission.REPORTS_EXPORT, description="export a board pack")
    def export_board_pack(self, fmt: str, path: str | Path, *, period: Period | str | None = None,
                          sections: Sequence[str] | None = None, audience: str = "Board of directors",
                          masked: bool = True, progress: Progress | None = None) -> ExportSummary:
        fmt = normalise_format(fmt)
        from cio_desktop.reports.output import check_target

        check_target(path)  # fail before collecting data when the file cannot be written
        doc = self.build_board_pack(period, sections, audience=audience, masked=masked, progress=progress)
        if progress:
            progress(len(doc.sections) / (len(doc.sections) + 1), f"writing {fmt.upper()}")
        result = self.export_report(doc, fmt, path, kind="board_pack")
        if progress:
            progress(1.0, "done")
        return result


class _Builder:
    """One method per section; each returns the filled Section or raises (→ "No data")."""

    def __init__(self, svc: ReportingService, period: Period, masked: bool) -> None:
        self.svc, self.ctx, self.period, self.masked = svc, svc.ctx, period, masked
        self.base = svc.ctx.settings.base_currency
        self.today = svc.ctx.now().date()
        self._dash: Any = None

    def _service(self, name: str) -> Any:
        from cio_desktop.services import (accounts, alerts, budget, compliance, forecasting, payments,
                                          portfolio, risk)
        return {"accounts": accounts.AccountsService, "payments": payments.PaymentsService,
                "portfolio": portfolio.PortfolioService, "risk": risk.RiskService,
                "budget": budget.BudgetService, "forecasts": forecasting.ForecastService,
                "alerts": alerts.AlertsService, "compliance": compliance.ComplianceService}[name](self.ctx)

    def dashboard(self) -> Any:
        if self._dash is None:
            self._dash = DashboardService(self.ctx).get_dashboard_data()
        return self._dash

    def section(self, key: str, title: str, perm: Permission) -> Section:
        session = self.ctx.require_session()
        if not session.can(perm):
            return Section(title, no_data="not visible to your role")
        section = Section(title)
        try:
            getattr(self, f"s_{key}")(section)
        except NotAuthenticated:
            raise
        except PermissionDenied:
            return Section(title, no_data="not visible to your role")
        except CioError as exc:
            return Section(title, no_data=str(exc))
        except Exception as exc:  # noqa: BLE001 - one broken source must not sink the pack
            log.exception("board pack section %s failed", key)
            return Section(title, no_data=f"could not be built ({type(exc).__name__})")
        if not section.blocks:
            return Section(title, no_data="nothing to report for this period")
        return section

    # -- sections -------------------------------------------------------------------------------
    def s_summary(self, s: Section) -> None:
        d = self.dashboard()
        s.add(Text(f"Position as of {d.as_of:%Y-%m-%d %H:%M} UTC; figures in {d.base_currency} unless stated. "
                   f"Reporting period {self.period.label}."))
        s.add(Table("Key figures", [Column("Metric"), Column("Value"), Column("Detail")],
                    [(m.title, m.value, m.detail) for m in d.metrics.values()]))

    def s_cash(self, s: Section) -> None:
        acc = self._service("accounts")
        accounts = acc.list_accounts()
        if not accounts:
            raise MissingData("no bank accounts yet")
        totals, grand = acc.consolidated(accounts)
        s.add(Text(f"Consolidated cash {grand.format() if grand else 'not available (an FX rate is missing)'}."))
        s.add(Table("Cash by currency", [Column("Currency"), Column("Balance", "decimal"),
                                         Column("In base", "decimal", currency=self.base),
                                         Column("FX rate", "decimal", places=6)],
                    [(t.currency, t.balance.amount, t.in_base.amount if t.in_base else None, t.rate)
                     for t in totals]))
        s.add(Chart("Cash by currency", "bar", [t.currency for t in totals],
                    [Series(f"In {self.base}", [float(t.in_base.amount) if t.in_base else None for t in totals])],
                    y_title=self.base))
        numbers = self._numbers(accounts) if not self.masked else {}
        s.add(Table("Accounts", [Column("Institution"), Column("Account"), Column("Number"), Column("Currency"),
                                 Column("Balance", "decimal"), Column("Minimum", "decimal"),
                                 Column("Headroom", "decimal"), Column("Last booking", "date")],
                    [(a.institution, a.name, numbers.get(a.id, a.number_masked), a.currency, a.balance.amount,
                      a.min_balance.amount, a.headroom.amount, a.last_booking) for a in accounts]))
        flows = self._flows()
        s.add(Table(f"Cash flows {self.period.label}",
                    [Column("Currency"), Column("Inflows", "decimal"), Column("Outflows", "decimal"),
                     Column("Net", "decimal"), Column("Bookings", "int")], flows,
                    note="" if flows else "No bookings in this period."))

    def _numbers(self, accounts: list[Any]) -> dict[int, str]:
        from cio_desktop.services.accounts import NUMBER_CONTEXT
        from cio_desktop.storage.models import Account

        with self.ctx.db.unit_of_work(write=True) as uow:
            out = {a.id: self.ctx.cipher.decrypt(a.number_enc, NUMBER_CONTEXT)
                   for a in uow.execute(select(Account)).scalars()}
            audit_log(uow, actor=self.ctx.actor, action="account.number_revealed", entity="report",
                      entity_id="board_pack", after={"accounts": len(out)}, at=self.ctx.now())
        return out

    def _flows(self) -> list[tuple[Any, ...]]:
        from cio_desktop.domain.money import Money
        from cio_desktop.storage.models import Transaction

        if not self.ctx.require_session().can(Permission.LEDGER_READ):
            return []
        t = Transaction
        q = (select(t.currency, func.sum(case((t.amount_minor > 0, t.amount_minor), else_=0)),
                    func.sum(case((t.amount_minor < 0, t.amount_minor), else_=0)), func.count())
             .where(t.booking_date >= self.period.start, t.booking_date <= self.period.end)
             .group_by(t.currency).order_by(t.currency))
        with self.ctx.db.unit_of_work(write=False) as uow:
            rows = uow.execute(q).all()
        out = []
        for cur, inflow, outflow, n in rows:
            i, o = Money.from_minor(int(inflow or 0), cur).amount, Money.from_minor(int(outflow or 0), cur).amount
            out.append((cur, i, o, i + o, int(n)))
        return out

    def s_payments(self, s: Section) -> None:
        pay = self._service("payments")
        pending = pay.list_payments(status="pending_approval")
        live = pay.list_payments(status=("pending_approval", "approved", "scheduled"))
        end = self.today + timedelta(days=7)
        due = [p for p in live if p.execution_date <= end]
        executed = [p for p in pay.list_payments(status="executed", limit=100000)
                    if p.executed_at and self.period.start <= p.executed_at.date() <= self.period.end]
        cols = [Column("ID", "int"), Column("Beneficiary"), Column("Amount", "decimal"), Column("Currency"),
                Column("Execution date", "date"), Column("Requested by"), Column("Approvals missing", "int")]

        def rows(ps: list[Any]) -> list[tuple[Any, ...]]:
            return [(p.id, p.beneficiary_name, p.amount.amount, p.amount.currency, p.execution_date,
                     p.requested_by, p.approvals_missing) for p in ps]

        s.add(Text(f"{len(pending)} payment(s) await approval; {len(due)} are due within 7 days; "
                   f"{len(executed)} were executed in {self.period.label}."))
        s.add(Table("Awaiting approval", cols, rows(pending)))
        s.add(Table("Due within 7 days", cols, rows(due)))
        per_cur: dict[str, tuple[Decimal, int]] = {}
        for p in executed:
            amt, n = per_cur.get(p.amount.currency, (Decimal(0), 0))
            per_cur[p.amount.currency] = (amt + p.amount.amount, n + 1)
        s.add(Table(f"Executed in {self.period.label}", [Column("Currency"), Column("Amount", "decimal"),
                                                           Column("Payments", "int")],
                    [(c, a, n) for c, (a, n) in sorted(per_cur.items())]))

    def s_portfolio(self, s: Section) -> None:
        port = self._service("portfolio")
        ports = port.list_portfolios()
        if not ports:
            raise MissingData("no portfolios yet")
        summary = []
        for p in ports:
            val = port.valuation(p.id)
            series = port.value_series(p.id, start=self.period.start, end=self.period.end)
            ret = None
            if len(series.dates) >= 2 and series.total[0]:
                ret = float(series.total[-1] / series.total[0] - 1.0)
            summary.append((p.name, val.total.currency, val.total.amount, len(val.holdings), ret))
            s.add(Table(f"{p.name} — holdings as of {val.as_of.isoformat()}",
                        [Column("Identifier"), Column("Name"), Column("Class"),
                         Column("Quantity", "decimal", places=4),
                         Column("Value", "decimal", currency=val.total.currency), Column("Weight", "percent"),
                         Column("Unrealised P&L", "decimal"), Column("P&L currency")],
                        [(h.identifier, h.asset.name, h.asset.asset_class, h.quantity, h.value_base.amount,
                          h.weight, h.unrealised_pnl.amount, h.unrealised_pnl.currency) for h in val.holdings]))
            if len(series.dates) >= 2:
                step = max(1, len(series.dates) // 60)
                idx = list(range(0, len(series.dates), step))
                if idx[-1] != len(series.dates) - 1:
                    idx.append(len(series.dates) - 1)
                s.add(Chart(f"{p.name} — value in {self.period.label}", "line",
                            [series.dates[i].isoformat() for i in idx],
                            [Series(p.name, [float(series.total[i]) for i in idx])], y_title=p.base_currency))
        s.blocks.insert(0, Table("Portfolios", [Column("Portfolio"), Column("Currency"), Column("Value", "decimal"),
                                                Column("Holdings", "int"), Column("Return in period", "percent")],
                                 summary))

    def s_risk(self, s: Section) -> None:
        port, risk = self._service("portfolio"), self._service("risk")
        ports = port.list_portfolios()
        if not ports:
            raise MissingData("no portfolios yet")
        rows, breaches = [], 0
        for p in ports:
            rep = risk.evaluate_portfolio_risk(p.id)
            breaches += len(rep.evaluation.breaches)
            for c in rep.evaluation.checks:
                rows.append((p.name, c.dimension, c.key or "", c.kind, c.limit,
                             c.actual if c.determined else None, c.headroom if c.determined else None, c.breached))
        s.add(Text(f"Profile '{rep.profile.name}': {breaches} limit breach(es) across {len(ports)} portfolio(s)."))
        s.add(Table("Limits against actual figures",
                    [Column("Portfolio"), Column("Limit"), Column("Key"), Column("Kind"), Column("Limit value", "percent"),
                     Column("Actual", "percent"), Column("Headroom", "percent"), Column("Breached", "bool")], rows))

    def s_budget(self, s: Section) -> None:
        # the month the reporting period ends in when it is complete; otherwise the last complete
        # month (period=None): a running month would set part of its actuals against a whole
        # month's budget
        end_month = f"{self.period.end:%Y-%m}"
        complete = _month_end(self.period.end.year, self.period.end.month) < self.today
        items = self._service("budget").detect_budget_variance(end_month if complete else None)
        if not items:
            month = end_month if complete else last_complete_month(self.today)
            raise MissingData(f"no budget for {month_label(month)}")
        month = month_label(items[0].period)
        flagged = [v for v in items if v.flagged]
        note = "" if complete else f" — the last complete month; {self.period.label} is not complete yet"
        s.add(Text(f"{len(flagged)} of {len(items)} budget line(s) deviate beyond the thresholds in {month}"
                   f"{note} ({self.base})."))
        s.add(Table(f"Budget variance {month}",
                    [Column("Category"), Column("Kind"), Column("Budget", "decimal"), Column("Actual", "decimal"),
                     Column("Deviation", "decimal"), Column("Flagged", "bool"), Column("Explanation")],
                    [(v.category, v.kind, v.budget, v.actual, v.deviation, v.flagged, v.explanation)
                     for v in items]))
        chart_rows = flagged[:12] or items[:12]
        s.add(Chart("Budget against actual", "bar", [v.category for v in chart_rows],
                    [Series("Budget", [float(v.budget) for v in chart_rows]),
                     Series("Actual", [float(v.actual) for v in chart_rows])], y_title=self.base))

    def s_forecast(self, s: Section) -> None:
        d = self.dashboard()
        m = d.metrics["cash_outlook"]
        if not m.available:
            raise MissingData(m.detail)
        pts = d.outlook
        s.add(Text(f"Consolidated closing cash balance for the next 13 weeks ({self.base}): the median (P50) "
                   f"with 10th and 90th percentiles; the liquidity buffer is "
                   f"{d.buffer if d.buffer is not None else 'unknown'}."))
        s.add(Table("13-week outlook", [Column("Week"), Column("P10", "decimal"), Column("P50", "decimal"),
                                        Column("P90", "decimal")], [(p.label, p.p10, p.p50, p.p90) for p in pts]))
        s.add(Chart("13-week outlook", "line", [p.label for p in pts],
                    [Series("P10", [p.p10 for p in pts]), Series("P50", [p.p50 for p in pts]),
                     Series("P90", [p.p90 for p in pts])], y_title=self.base))

    def s_alerts(self, s: Section) -> None:
        alerts = self._service("alerts").list_alerts("open")
        s.add(Text(f"{len(alerts)} alert(s) open." if alerts else "No open alerts."))
        s.add(Table("Open alerts", [Column("Severity"), Column("Title"), Column("Source"), Column("Subject"),
                                    Column("Measured"), Column("Threshold"), Column("Raised (UTC)", "datetime"),
                                    Column("Acknowledged by")],
                    [(a.severity, a.title, a.source, a.subject, a.measured, a.threshold, a.created_at,
                      a.acknowledged_by or "") for a in alerts]))

    def s_compliance(self, s: Section) -> None:
        standing = self._service("compliance").standing()
        if not standing:
            raise MissingData("no compliance rules defined")
        breaches = sum(1 for r in standing if r.status == "breach")
        s.add(Text(f"{len(standing)} compliance check(s); {breaches} breach(es)."))
        s.add(Table("Current standing", [Column("Rule"), Column("Subject"), Column("Severity"), Column("Limit"),
                                         Column("Actual"), Column("Headroom"), Column("Status"), Column("Note")],
                    [(r.name, r.subject, r.severity, r.limit, r.actual, r.headroom, r.status, r.note)
                     for r in standing]))
