"""Cash-flow forecasts with bands and scenario modelling (issue 8).

``forecast_cashflow`` is what the Cash Forecast panel, the dashboard and the alert engine read:
known items first (approved/scheduled payments, open payables/receivables, recurring series),
the calendar model for the rest, P10/P50/P90 bands, per account and consolidated in the base
currency (``Settings.base_currency``). See ``domain.cashflow`` for the pipeline and
``domain.forecasting`` for the model, bands and baseline. Reads need ``forecast.read``;
saving a snapshot (kept to compare forecasts with outcomes) needs ``budget.manage``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Mapping, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cio_desktop.domain import cashflow
from cio_desktop.domain import forecasting as fc
from cio_desktop.domain.cash_scenarios import PRESETS, Assumptions, ScenarioResult, apply, assumptions_from
from cio_desktop.errors import ValidationError
from cio_desktop.security.permissions import Permission
from cio_desktop.services import planning_data as pdata
from cio_desktop.services.audit import audit_log
from cio_desktop.services.base import Service, action
from cio_desktop.storage.models_planning import AnalyticsModel, ForecastSnapshot

log = logging.getLogger(__name__)

TOPIC = "forecast.changed"


@dataclass(frozen=True)
class ScenarioView:
    name: str
    assumptions: Assumptions
    periods: tuple[str, ...]
    closing: tuple[float, ...]        # consolidated closing balance per period (P50), base currency
    net: tuple[float, ...]            # consolidated net flow per period
    ending: float
    ends: tuple[date, ...] = ()       # the last day of each period


@dataclass(frozen=True)
class ScenarioComparison:
    start: date
    end: date
    base_currency: str
    scenarios: tuple[ScenarioView, ...]

    def by_name(self, name: str) -> ScenarioView:
        return next(s for s in self.scenarios if s.name == name)


@dataclass(frozen=True)
class BufferBreach:
    """A period whose forecast closing balance falls below the buffer (alerts: issue 9)."""

    period: str
    first: date
    account_id: int | None
    currency: str
    closing_p50: float
    closing_p10: float
    buffer: float
    probability_note: str


def _check_horizon(horizon: object, granularity: object) -> tuple[int, fc.Granularity]:
    try:
        g = fc.parse_granularity(str(granularity))
    except ValueError as exc:
        raise ValidationError(str(exc), field="granularity") from None
    if isinstance(horizon, bool) or not isinstance(horizon, int):
        raise ValidationError(f"the horizon must be a whole number of {g.value}s (got {horizon!r})", field="horizon")
    if horizon <= 0:
        raise ValidationError(f"the horizon must be at least one {g.value} (got {horizon})", field="horizon")
    return horizon, g


def forecast_params(s: Session) -> tuple[float, float, int | None]:
    """(ridge penalty, band scale, version) of the active forecast model version (trained by
    the analytics engine), or the defaults with no version."""
    row = s.execute(select(AnalyticsModel).where(AnalyticsModel.kind == "forecast", AnalyticsModel.is_active.is_(True))
                    .order_by(AnalyticsModel.version.desc()).limit(1)).scalar_one_or_none()
    if row is None:
        return fc.DEFAULT_ALPHA, 1.0, None
    try:
        params = json.loads(row.params_json)
        return float(params.get("alpha", fc.DEFAULT_ALPHA)), float(params.get("band_scale", 1.0)), row.version
    except (ValueError, TypeError):
        return fc.DEFAULT_ALPHA, 1.0, row.version


def compute(s: Session, base: str, start: date, horizon: int, g: fc.Granularity,
            accounts: Sequence[int] | None = None) -> tuple[cashflow.ForecastResult, int | None]:
    try:
        periods = fc.build_periods(start, horizon, g)
    except ValueError as exc:
        raise ValidationError(str(exc), field="horizon") from None
    accts = pdata.load_accounts(s, start, accounts)
    if accounts:
        unknown = set(accounts) - {a.id for a in accts}
        if unknown:
            raise ValidationError(f"no active account with id {', '.join(map(str, sorted(unknown)))}", field="accounts")
    lines = pdata.load_lines(s, accts, before=start)
    known = pdata.load_known_items(s, accts, periods[-1].last)
    fx = pdata.fx_to_base(s, base, start)
    alpha, scale, version = forecast_params(s)
    return cashflow.compute_forecast(accts, lines, known, fx, base, start, horizon, g, alpha=alpha,
                                     band_scale=scale), version


class ForecastService(Service):
    # -- reads ---------------------------------------------------------------------------------
    @action(Permission.FORECAST_READ, description="view the cash-flow forecast")
    def forecast_cashflow(self, horizon: int = 13, granularity: str = "week",
                          accounts: Sequence[int] | None = None, *, start: date | None = None
                          ) -> cashflow.ForecastResult:
        """One row per period (``result.rows``: consolidated, base currency; ``result.by_account``:
        per account, account currency), each with known inflows/outflows, the model's part,
        net P10/P50/P90 and closing-balance P10/P50/P90. ``result.items_on(day)`` drills down;
        ``result.notes`` says when the model was skipped (too little history) and why."""
        horizon, g = _check_horizon(horizon, granularity)
        start = start or self.ctx.now().date()
        with self.ctx.db.unit_of_work(write=False) as s:
            result, _ = compute(s, self.ctx.settings.base_currency, start, horizon, g, accounts)
        return result

    @action(Permission.FORECAST_READ, description="backtest the cash-flow forecast")
    def backtest(self, horizon: int = 13, granularity: str = "week", origins: int = 6,
                 step_days: int = 28) -> fc.Accuracy:
        """Rolling-origin backtest of the consolidated forecast against seasonal-naive."""
        horizon, g = _check_horizon(horizon, granularity)
        start = self.ctx.now().date()
        with self.ctx.db.unit_of_work(write=False) as s:
            accts = pdata.load_accounts(s, start)
            lines = pdata.load_lines(s, accts, before=start)
            fx = pdata.fx_to_base(s, self.ctx.settings.base_currency, start)
            alpha, scale, _ = forecast_params(s)
        try:
            return cashflow.backtest(accts, lines, fx, self.ctx.settings.base_currency, horizon=horizon,
                                     granularity=g, origins=origins, step_days=step_days, alpha=alpha,
                                     band_scale=scale)
        except fc.InsufficientHistory as exc:
            raise ValidationError(f"cannot backtest: {exc}", field="history") from None

    @action(Permission.FORECAST_READ, description="compare cash-flow scenarios")
    def model_scenarios(self, assumptions: Sequence[Assumptions | Mapping] | None = None, horizon: int = 13,
                        granularity: str = "week", accounts: Sequence[int] | None = None, *,
                        include_presets: bool = True, start: date | None = None) -> ScenarioComparison:
        """Base, optimistic and pessimistic (``cash_scenarios.PRESETS``) plus each user-defined
        set of assumptions, applied to the same base forecast (property 21)."""
        horizon, g = _check_horizon(horizon, granularity)
        try:
            custom = [a if isinstance(a, Assumptions) else assumptions_from(a) for a in (assumptions or ())]
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise ValidationError(f"bad scenario assumptions: {exc}", field="assumptions") from None
        start = start or self.ctx.now().date()
        with self.ctx.db.unit_of_work(write=False) as s:
            result, _ = compute(s, self.ctx.settings.base_currency, start, horizon, g, accounts)
        return scenarios_of(result, (list(PRESETS) if include_presets else []) + custom)

    @action(Permission.FORECAST_READ, description="check the forecast against the cash buffer")
    def buffer_breaches(self, buffer: Decimal | str | None = None, horizon: int = 13,
                        granularity: str = "week") -> list[BufferBreach]:
        """Periods whose consolidated P50 closing balance is below ``buffer`` (base currency;
        default: the sum of the accounts' minimum balances), and per account below its minimum."""
        horizon, g = _check_horizon(horizon, granularity)
        with self.ctx.db.unit_of_work(write=False) as s:
            result, _ = compute(s, self.ctx.settings.base_currency, self.ctx.now().date(), horizon, g)
        fx = {a.currency: 1.0 for a in result.accounts}
        if buffer is None:
            with self.ctx.db.unit_of_work(write=False) as s:
                fx = pdata.fx_to_base(s, result.base_currency, result.start)
            level = sum(a.min_balance * fx.get(a.currency, 0.0) for a in result.accounts)
        else:
            try:
                level = float(Decimal(str(buffer)))
            except Exception:
                raise ValidationError(f"'{buffer}' is not an amount", field="buffer") from None
        out = [BufferBreach(r.period, r.first, None, r.currency, r.closing_p50, r.closing_p10, level,
                            f"P50 {r.closing_p50:,.0f} below buffer {level:,.0f}")
               for r in result.rows if r.closing_p50 < level]
        for a in result.accounts:
            for r in result.by_account.get(a.id, []):
                if r.closing_p50 < a.min_balance:
                    out.append(BufferBreach(r.period, r.first, a.id, a.currency, r.closing_p50, r.closing_p10,
                                            a.min_balance, f"{a.name}: P50 {r.closing_p50:,.0f} below minimum "
                                            f"{a.min_balance:,.0f}"))
        return out

    # -- writes --------------------------------------------------------------------------------
    @action(Permission.BUDGET_MANAGE, description="save a forecast snapshot")
    def save_snapshot(self, horizon: int = 13, granularity: str = "week") -> int:
        """Keep today's consolidated forecast so ``analytics.analyze_outcomes`` can later
        compare it with what happened. Returns the snapshot id."""
        horizon, g = _check_horizon(horizon, granularity)
        start = self.ctx.now().date()
        with self.ctx.db.unit_of_work(write=True) as s:
            result, version = compute(s, self.ctx.settings.base_currency, start, horizon, g)
            snap = ForecastSnapshot(created_at=self.ctx.now(), created_by=self.ctx.actor, start_date=result.start,
                                    end_date=result.end, granularity=g.value, currency=result.base_currency,
                                    model_version=version,
                                    rows_json=json.dumps([r.as_dict() for r in result.rows]))
            s.add(snap)
            s.flush()
            audit_log(s, actor=self.ctx.actor, action="forecast.snapshot", entity="forecast_snapshot",
                      entity_id=snap.id, after={"start": result.start.isoformat(), "end": result.end.isoformat(),
                                                "granularity": g.value, "periods": len(result.rows)},
                      at=self.ctx.now())
            snap_id = snap.id
        self.ctx.bus.publish(TOPIC, snapshot_id=snap_id)
        return snap_id


def scenarios_of(result: cashflow.ForecastResult, assumptions: Sequence[Assumptions]) -> ScenarioComparison:
    sl = fc.period_slices(result.periods, result.start)
    views = []
    for a in assumptions:
        res: ScenarioResult = apply(result.start, result.currency_flows, a, result.base_currency)
        net = fc.aggregate(res.net, sl) if len(res.net) else np.zeros(len(sl))
        closing = res.opening + np.cumsum(net)
        views.append(ScenarioView(a.name, a, tuple(p.label for p in result.periods),
                                  tuple(float(x) for x in closing), tuple(float(x) for x in net), res.ending,
                                  tuple(p.last for p in result.periods)))
    return ScenarioComparison(result.start, result.end, result.base_currency, tuple(views))
