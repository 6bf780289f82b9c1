"""Budget lines and variance detection with explanations (issue 8).

Budget amounts are magnitudes in the base currency per category and month (see
``domain.budget``). The actual of a category is the magnitude of its net ledger flow in the
month, converted at the latest rate on or before the month's end, with each line categorised
as in ``services.analytics.Categorising``. Each flagged variance is explained by the
counterparties that moved most against their typical month (the mean of the three months
before) and the recurring items of that category that were expected but did not occur.

Thresholds (``budget.variance_abs_minor`` in base-currency minor units and
``budget.variance_pct_bp`` in basis points, in ``app_meta``) default to 1,000.00 and 10 %.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cio_desktop.domain import budget as db_
from cio_desktop.domain.recurring import detect_recurring
from cio_desktop.errors import ConcurrentUpdate, NotFound, ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services import planning_data as pdata
from cio_desktop.services.analytics import Categorising
from cio_desktop.services.approvals import read_setting, write_setting
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import UNCHECKED, Service, action
from cio_desktop.storage.models_planning import BudgetLine, PlanningCategory

log = logging.getLogger(__name__)

TOPIC = "budget.changed"
ABS_KEY = "budget.variance_abs_minor"
PCT_KEY = "budget.variance_pct_bp"
DEFAULT_ABS_MINOR = 100_000
DEFAULT_PCT_BP = 1000
MAX_FILE_BYTES = 20 * 1024 * 1024




@dataclass(frozen=True)
class BudgetLineView:
    id: int
    category: str
    period: str
    amount: Decimal
    currency: str
    note: str
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class BudgetImportResult:
    source: str
    lines: int
    created: int
    updated: int


def month_bounds(period: str) -> tuple[date, date]:
    y, m = int(period[:4]), int(period[5:7])
    first = date(y, m, 1)
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, nxt - timedelta(days=1)


def _view(b: BudgetLine) -> BudgetLineView:
    f = Decimal(10) ** pdata.currency_exponent(b.currency)
    return BudgetLineView(b.id, b.category, b.period, Decimal(b.amount_minor) / f, b.currency, b.note,
                          b.updated_by, b.updated_at)


def read_budget_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV (comma or semicolon) or Excel (.xlsx, first sheet) budget file with the
    columns category, period, amount (header names case-insensitive; ``month`` is accepted for
    period). Each row carries ``_line``: its line (CSV) or row (Excel) number."""
    src = path.name
    if not path.exists():
        raise ValidationError("no such file", source=src)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValidationError("the file is larger than 20 MB", source=src)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises several unrelated types for a bad file
            raise ValidationError(f"not a readable Excel file ({type(exc).__name__})", source=src) from None
        try:
            raw = [(i, list(r)) for i, r in enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1)]
        finally:
            wb.close()
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError("the file is not UTF-8 text", source=src) from None
        sample = text[:2000]
        delim = ";" if sample.count(";") > sample.count(",") else ","
        raw = [(i, r) for i, r in enumerate(csv.reader(text.splitlines(), delimiter=delim), start=1)]
    raw = [(i, r) for i, r in raw if any(str(c).strip() for c in r if c is not None)]
    if not raw:
        raise ValidationError("the file is empty", source=src)
    head_line, header = raw[0]
    names = [str(h or "").strip().lower() for h in header]
    names = ["period" if n == "month" else n for n in names]
    for need in ("category", "period", "amount"):
        if need not in names:
            raise ValidationError(f"the header has no '{need}' column (found: {', '.join(n for n in names if n)})",
                                  source=src, line=head_line, field=need)
    out = []
    for i, r in raw[1:]:
        row = {names[j]: r[j] for j in range(min(len(names), len(r))) if names[j]}
        row["_line"] = i
        out.append(row)
    return out


def thresholds(s: Session, currency: str) -> tuple[Decimal, Decimal]:
    f = Decimal(10) ** pdata.currency_exponent(currency)
    return (Decimal(read_setting(s, ABS_KEY, DEFAULT_ABS_MINOR)) / f,
            Decimal(read_setting(s, PCT_KEY, DEFAULT_PCT_BP)) / Decimal(10000))


class BudgetService(Service):
    @action(Permission.FORECAST_READ, description="view budget lines")
    def list_budget(self, period_from: str | None = None, period_to: str | None = None) -> list[BudgetLineView]:
        with self.ctx.db.unit_of_work(write=False) as s:
            q = select(BudgetLine).order_by(BudgetLine.period, BudgetLine.category)
            if period_from:
                q = q.where(BudgetLine.period >= self._period(period_from))
            if period_to:
                q = q.where(BudgetLine.period <= self._period(period_to))
            return [_view(b) for b in s.execute(q).scalars()]

    @action(Permission.FORECAST_READ, description="view budget categories")
    def categories(self) -> list[tuple[str, str]]:
        """(name, kind) of every category a budget line may use."""
        with self.ctx.db.unit_of_work(write=False) as s:
            return [(c.name, c.kind) for c in s.execute(select(PlanningCategory).order_by(PlanningCategory.name)).scalars()]

    @staticmethod
    def _period(value: str) -> str:
        try:
            return db_.normalise_period(value)
        except ValueError as exc:
            raise ValidationError(str(exc), field="period") from None

    @action(Permission.BUDGET_MANAGE, description="edit a budget line")
    def set_budget_line(self, category: str, period: str, amount: Decimal | str | int, note: str = "", *,
                        seen: Any = UNCHECKED) -> BudgetLineView:
        """Create or replace the budget of one category for one month.

        ``seen`` is what the editing screen showed: the line's ``updated_at``, or None when it
        showed no line. When the line changed (or appeared) since, the save is refused with who
        changed it and when — two people at different desks never silently overwrite each
        other. Left out (imports, the CLI's ``budget set``), the last write wins."""
        base = self.ctx.settings.base_currency
        with self.ctx.db.unit_of_work(write=True) as s:
            known = [c for (c,) in s.execute(select(PlanningCategory.name))]
            item = db_.validate_rows([{"category": category, "period": period, "amount": amount, "_line": None}],
                                     known, "budget line")[0]
            self._check_seen(s, item.category, item.period, seen)
            view, created = self._upsert(s, item, base, note)
            audit_log(s, actor=self.ctx.actor, action="budget.line.set", entity="budget_line", entity_id=view.id,
                      after={"category": view.category, "period": view.period, "amount": str(view.amount),
                             "created": created}, at=self.ctx.now())
        self.ctx.bus.publish(TOPIC, periods=[view.period])
        return view

    def _upsert(self, s: Session, item: db_.BudgetInput, base: str, note: str = "") -> tuple[BudgetLineView, bool]:
        row = s.execute(select(BudgetLine).where(BudgetLine.category == item.category,
                                                 BudgetLine.period == item.period)).scalar_one_or_none()
        created = row is None
        if row is None:
            row = BudgetLine(category=item.category, period=item.period)
            s.add(row)
        row.amount_minor = pdata.to_minor(item.amount, base)
        row.currency = base
        row.note = note or row.note or ""
        row.updated_by = self.ctx.actor
        row.updated_at = self.ctx.now()
        s.flush()
        return _view(row), created

    def _check_seen(self, s: Session, category: str, period: str, seen: Any) -> None:
        if seen is UNCHECKED:
            return
        # FOR UPDATE (PostgreSQL): a save racing this one waits, then sees the new version
        row = s.execute(select(BudgetLine).where(BudgetLine.category == category, BudgetLine.period == period)
                        .with_for_update()).scalar_one_or_none()
        current = row.updated_at if row is not None else None
        if current == seen:
            return
        what = f"the {period} budget for {category}"
        if row is None:
            raise ConcurrentUpdate(f"{what} was deleted by someone else meanwhile: reload it (your change "
                                   "was not saved)")
        raise ConcurrentUpdate(f"{what} was {'created' if seen is None else 'changed'} by {row.updated_by} at "
                               f"{row.updated_at:%Y-%m-%d %H:%M:%S} UTC: reload it and try again (your change "
                               "was not saved)")

    @action(Permission.BUDGET_MANAGE, description="delete a budget line")
    def delete_budget_line(self, category: str, period: str, *, seen: Any = UNCHECKED) -> None:
        """``seen``: as for :meth:`set_budget_line` (a changed line is not deleted unseen)."""
        period = self._period(period)
        with self.ctx.db.unit_of_work(write=True) as s:
            self._check_seen(s, category, period, seen)
            row = s.execute(select(BudgetLine).where(BudgetLine.category == category,
                                                     BudgetLine.period == period)).scalar_one_or_none()
            if row is None:
                raise NotFound(f"no budget for {category} in {period}")
            before = {"category": row.category, "period": row.period, "amount_minor": row.amount_minor}
            s.execute(delete(BudgetLine).where(BudgetLine.id == row.id))
            audit_log(s, actor=self.ctx.actor, action="budget.line.deleted", entity="budget_line", entity_id=row.id,
                      before=before, at=self.ctx.now())
        self.ctx.bus.publish(TOPIC, periods=[period])

    @action(Permission.BUDGET_MANAGE, description="import a budget file")
    def import_budget(self, path: str | Path) -> BudgetImportResult:
        """All lines of a CSV/Excel file or none: the first bad cell is reported with its
        line and column and nothing is stored."""
        p = Path(path)
        rows = read_budget_file(p)
        base = self.ctx.settings.base_currency
        with self.ctx.db.unit_of_work(write=True) as s:
            known = [c for (c,) in s.execute(select(PlanningCategory.name))]
            items = db_.validate_rows(rows, known, p.name)
            created = 0
            for it in items:
                _, new = self._upsert(s, it, base)
                created += int(new)
            audit_log(s, actor=self.ctx.actor, action="budget.imported", entity="budget_file", entity_id=p.name,
                      after={"lines": len(items), "created": created, "updated": len(items) - created},
                      at=self.ctx.now())
            periods = sorted({it.period for it in items})
        self.ctx.bus.publish(TOPIC, periods=periods)
        return BudgetImportResult(p.name, len(items), created, len(items) - created)

    @action(Permission.BUDGET_MANAGE, description="set the budget variance thresholds")
    def set_thresholds(self, abs_threshold: Decimal | str, pct_threshold: Decimal | str | float) -> None:
        base = self.ctx.settings.base_currency
        try:
            a = Decimal(str(abs_threshold))
            pct = Decimal(str(pct_threshold))
        except Exception:
            raise ValidationError("thresholds must be numbers", field="threshold") from None
        if a < 0 or pct < 0:
            raise ValidationError("thresholds cannot be negative", field="threshold")
        with self.ctx.db.unit_of_work(write=True) as s:
            before = thresholds(s, base)
            write_setting(s, ABS_KEY, pdata.to_minor(a, base))
            write_setting(s, PCT_KEY, int((pct * 10000).to_integral_value()))
            audit_log(s, actor=self.ctx.actor, action="budget.thresholds.set", entity="setting", entity_id="budget",
                      before={"abs": str(before[0]), "pct": str(before[1])}, after={"abs": str(a), "pct": str(pct)},
                      at=self.ctx.now())
        self.ctx.bus.publish(TOPIC, thresholds=True)

    @action(Permission.FORECAST_READ, description="view budget variances")
    def detect_budget_variance(self, period: str | None = None, abs_threshold: Decimal | str | None = None,
                               pct_threshold: Decimal | str | float | None = None,
                               only_flagged: bool = False) -> list[db_.Variance]:
        """Every budgeted category of ``period`` (YYYY-MM; default: the last complete month —
        a running month compares part of its actuals with a whole month's budget) with actual,
        deviation, whether it is flagged and a one-sentence explanation (property 20)."""
        if period:
            period = self._period(period)
        else:
            period = f"{(self.ctx.now().date().replace(day=1) - timedelta(days=1)):%Y-%m}"
        first, last = month_bounds(period)
        base = self.ctx.settings.base_currency
        with self.ctx.db.unit_of_work(write=False) as s:
            a_thr, p_thr = thresholds(s, base)
            if abs_threshold is not None:
                a_thr = Decimal(str(abs_threshold))
            if pct_threshold is not None:
                p_thr = Decimal(str(pct_threshold))
            budgets = s.execute(select(BudgetLine).where(BudgetLine.period == period)
                                .order_by(BudgetLine.category)).scalars().all()
            kinds = dict(s.execute(select(PlanningCategory.name, PlanningCategory.kind)).all())
            if not budgets:
                return []
            accts = pdata.load_accounts(s, first)
            hist_from = (first - timedelta(days=400))
            lines = pdata.load_lines(s, accts, before=last + timedelta(days=1), since=hist_from)
            fx = pdata.fx_to_base(s, base, last)
            engine = Categorising(s)
            cats = [p.category for p in engine.predict_many(
                [(ln.counterparty, ln.description, ln.amount, ln.category) for ln in lines])]
        rate = {a.id: fx.get(a.currency, 0.0) for a in accts}
        prev_first = (first - timedelta(days=1)).replace(day=1)
        typical_from = (prev_first - timedelta(days=62)).replace(day=1)   # three months before
        actual: dict[str, Decimal] = defaultdict(Decimal)
        per_cp: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])  # actual, typical, lines
        history_by_cat: dict[str, list] = defaultdict(list)
        for ln, cat in zip(lines, cats):
            v = ln.amount * rate[ln.account_id]
            if first <= ln.booking_date <= last:
                actual[cat] += Decimal(str(round(v, 2)))
                acc = per_cp[(cat, ln.counterparty or "(none)")]
                acc[0] += v
                acc[2] += 1
            elif typical_from <= ln.booking_date < first:
                per_cp[(cat, ln.counterparty or "(none)")][1] += v / 3.0
            if ln.booking_date < first:
                history_by_cat[cat].append(ln)
        rows = []
        for b in budgets:
            budget = _view(b).amount
            act = abs(actual.get(b.category, Decimal(0))).quantize(Decimal("0.01"))
            drivers = sorted((db_.Driver(cp, Decimal(str(round(abs(v[0]), 2))), Decimal(str(round(abs(v[1]), 2))),
                                         int(v[2]))
                              for (cat, cp), v in per_cp.items() if cat == b.category),
                             key=lambda d: -abs(d.delta))[:5]
            missing = []
            seen = {ln.counterparty for ln, c in zip(lines, cats) if c == b.category and first <= ln.booking_date <= last}
            for r in detect_recurring(history_by_cat.get(b.category, []), first):
                if r.next_dates(first, last) and r.counterparty not in seen:
                    missing.append(f"{r.period} {'receipt from' if r.direction == 'in' else 'payment to'} "
                                   f"{r.counterparty} (about {abs(r.amount):,.2f}) did not occur")
            rows.append((b.category, period, kinds.get(b.category, "expense"), budget, act, drivers, missing))
        result = db_.detect(rows, abs_threshold=a_thr, pct_threshold=p_thr, currency=base)
        return [v for v in result if v.flagged] if only_flagged else result


def seed_demo_budget(s: Session, ctx: Any, *, actor: str) -> int:
    """Demo budgets (inside the demo builder's transaction): for the three complete months
    before today, this month and the next two, each income and expense category gets the
    average magnitude of its last six complete months, rounded to thousands — a naive budget,
    so seasonal months (the strong fourth quarter, the weak August) show real variances."""
    base = ctx.settings.base_currency
    today = ctx.now().date()
    this_month = today.replace(day=1)
    months: list[str] = []
    m = this_month
    for _ in range(3):
        m = (m - timedelta(days=1)).replace(day=1)
        months.append(f"{m:%Y-%m}")
    m = this_month
    for _ in range(3):
        months.append(f"{m:%Y-%m}")
        m = (m.replace(day=28) + timedelta(days=4)).replace(day=1)
    since = this_month
    for _ in range(9):
        since = (since - timedelta(days=1)).replace(day=1)
    kinds = dict(s.execute(select(PlanningCategory.name, PlanningCategory.kind)).all())
    accts = pdata.load_accounts(s, this_month)
    fx = pdata.fx_to_base(s, base, this_month)
    rate = {a.id: fx.get(a.currency, 0.0) for a in accts}
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for ln in pdata.load_lines(s, accts, before=this_month, since=since):
        if kinds.get(ln.category) in ("income", "expense"):
            totals[(ln.category, f"{ln.booking_date:%Y-%m}")] += ln.amount * rate[ln.account_id]
    count = 0
    for cat in sorted({c for c, _ in totals}):
        for period in months:
            first, _last = month_bounds(period)
            window = []
            p = first
            for _ in range(6):
                p = (p - timedelta(days=1)).replace(day=1)
                window.append(abs(totals.get((cat, f"{p:%Y-%m}"), 0.0)))
            avg = sum(window) / len(window)
            if avg < 1000:
                continue
            amount = Decimal(int(round(avg, -3)))
            s.add(BudgetLine(category=cat, period=period, amount_minor=pdata.to_minor(amount, base), currency=base,
                             note="demo: average of the six months before", updated_by=actor,
                             updated_at=ctx.now()))
            count += 1
    s.flush()
    audit_log(s, actor=actor, action="budget.seeded", entity="budget", entity_id="demo",
              after={"lines": count, "months": months}, at=ctx.now())
    return count
