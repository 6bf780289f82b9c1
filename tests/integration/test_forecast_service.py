"""The forecast service on a real encrypted database: the demo company, sparse history, bad
input, permissions, scenarios and the backtest against seasonal-naive (issue 8)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cio_desktop.errors import PermissionDenied, ValidationError
from cio_desktop.storage.models import AuditEntry
from cio_desktop.storage.models_planning import ForecastSnapshot
from tests.conftest import login
from tests.planning_fixtures import add_accounts, daily_ledger, write_lines


def _audit_count(ws) -> int:  # noqa: ANN001
    with ws.db.unit_of_work(write=False) as s:
        return s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def test_demo_forecast_has_bands_accounts_and_drill_down(demo_ws) -> None:
    login(demo_ws, "treasurer")
    res = demo_ws.forecasts.forecast_cashflow(horizon=13, granularity="week")
    assert len(res.rows) == 13 and res.model_used and not res.notes
    assert res.base_currency == "EUR"
    assert len(res.by_account) == 8
    assert {r.currency for rows in res.by_account.values() for r in rows} == {"EUR", "USD", "GBP"}
    for r in res.rows:
        assert r.net_p10 < r.net_p50 < r.net_p90
        assert r.closing_p10 < r.closing_p50 < r.closing_p90
    # per currency: the accounts of that currency together, in that currency
    assert set(res.by_currency) == {"EUR", "USD", "GBP"}
    usd = [rows for rows in res.by_account.values() if rows[0].currency == "USD"]
    assert res.by_currency["USD"][-1].closing_p50 == pytest.approx(sum(r[-1].closing_p50 for r in usd))
    # bands widen with the horizon
    assert res.rows[-1].closing_p90 - res.rows[-1].closing_p10 > res.rows[0].closing_p90 - res.rows[0].closing_p10
    # recurring salaries are known items; the drill-down lists what is behind a day
    assert any(i.kind == "recurring" and i.ref == "salaries" for i in res.items)
    day = next(i.day for i in res.items if i.kind == "recurring")
    assert res.items_on(day) and all(i.day == day for i in res.items_on(day))
    # approved/scheduled demo payments are known items too
    assert any(i.kind == "payment" for i in res.items)
    # the consolidated opening is the sum of the accounts' openings in EUR
    assert res.rows[0].opening == pytest.approx(
        sum(rows[0].opening * (1.0 if rows[0].currency == "EUR" else 0) for rows in res.by_account.values())
        + sum(f.opening * f.rate for f in res.currency_flows if f.currency != "EUR"), rel=1e-9)


def test_demo_forecast_day_and_month_granularity(demo_ws) -> None:
    login(demo_ws, "analyst")
    days = demo_ws.forecasts.forecast_cashflow(horizon=30, granularity="day")
    months = demo_ws.forecasts.forecast_cashflow(horizon=3, granularity="month", accounts=[1])
    assert [r.period for r in days.rows][:2] == [days.start.isoformat(), (days.start + timedelta(days=1)).isoformat()]
    assert len(months.rows) == 3 and list(months.by_account) == [1]


def test_model_beats_seasonal_naive_on_demo_and_bands_are_calibrated(demo_ws) -> None:
    login(demo_ws, "analyst")
    acc = demo_ws.forecasts.backtest(horizon=13, granularity="week", origins=6)
    assert acc.beats_baseline and acc.skill > 0.1, acc
    assert 0.65 <= acc.coverage_80 <= 0.95, acc


@pytest.mark.parametrize("horizon", [0, -3, 2.5, "13"])
def test_bad_horizon_is_refused_with_nothing_stored(demo_ws, horizon) -> None:
    login(demo_ws, "treasurer")
    before = _audit_count(demo_ws)
    with pytest.raises(ValidationError, match="horizon"):
        demo_ws.forecasts.forecast_cashflow(horizon=horizon)
    with pytest.raises(ValidationError, match="horizon"):
        demo_ws.forecasts.save_snapshot(horizon=horizon)
    with pytest.raises(ValidationError, match="granularity"):
        demo_ws.forecasts.forecast_cashflow(horizon=3, granularity="fortnight")
    with pytest.raises(ValidationError, match="too long"):
        demo_ws.forecasts.forecast_cashflow(horizon=5000, granularity="day")
    assert _audit_count(demo_ws) == before


def test_viewer_cannot_read_forecasts(demo_ws) -> None:
    login(demo_ws, "viewer")
    with pytest.raises(PermissionDenied):
        demo_ws.forecasts.forecast_cashflow()


def test_sparse_history_falls_back_to_known_items(ws, clock) -> None:
    """A single month of history: the model is skipped with a message saying how much is
    needed; known items (recurring rent) still appear and bands collapse onto P50."""
    login(ws, "treasurer")
    (acct,) = add_accounts(ws, [("Main", "EUR")])
    today = clock().date()
    first = today - timedelta(days=30)
    write_lines(ws, daily_ledger(acct, first, 30, lambda d: 100.0 if d.weekday() < 5 else 0.0))
    res = ws.forecasts.forecast_cashflow(horizon=4, granularity="week")
    assert not res.model_used
    assert any("at least 90 days" in n for n in res.notes)
    assert len(res.rows) == 4
    for r in res.rows:
        assert r.net_p10 == r.net_p50 == r.net_p90 == r.known_in + r.known_out
    assert res.rows[0].opening == pytest.approx(100.0 * sum(1 for i in range(30)
                                                            if (first + timedelta(days=i)).weekday() < 5))


def test_empty_database_forecast_is_empty_not_an_error(ws) -> None:
    login(ws, "treasurer")
    res = ws.forecasts.forecast_cashflow(horizon=2, granularity="month")
    assert res.rows == [] and res.by_account == {}
    with pytest.raises(ValidationError, match="90 days|history"):
        ws.forecasts.backtest()


def test_scenarios_presets_custom_and_extremes(demo_ws) -> None:
    login(demo_ws, "treasurer")
    comp = demo_ws.forecasts.model_scenarios([
        {"name": "late payers", "payment_delay_days": 30},
        {"name": "collapse", "revenue_growth": "-100%", "payment_delay_days": 365, "fx_move": -0.5},
        {"name": "windfall", "one_offs": [[(demo_ws.ctx.now().date() + timedelta(days=3)).isoformat(), 1_000_000, "sale"]]},
    ])
    end = {s.name: s.ending for s in comp.scenarios}
    assert set(end) == {"base", "optimistic", "pessimistic", "late payers", "collapse", "windfall"}
    assert end["pessimistic"] < end["base"] < end["optimistic"]
    assert end["collapse"] < end["late payers"] < end["base"]
    assert end["windfall"] == pytest.approx(end["base"] + 1_000_000)
    assert all(len(s.closing) == 13 for s in comp.scenarios)
    with pytest.raises(ValidationError, match="assumptions"):
        demo_ws.forecasts.model_scenarios([{"revenue_growth": 50}])
    with pytest.raises(ValidationError, match="assumptions"):
        demo_ws.forecasts.model_scenarios([{"payment_delay_days": -2}])


def test_snapshot_is_audited_and_buffer_breaches(demo_ws) -> None:
    login(demo_ws, "treasurer")
    before = _audit_count(demo_ws)
    sid = demo_ws.forecasts.save_snapshot(horizon=4)
    assert _audit_count(demo_ws) == before + 1
    with demo_ws.db.unit_of_work(write=False) as s:
        assert s.get(ForecastSnapshot, sid).granularity == "week"
    assert demo_ws.forecasts.buffer_breaches(buffer="1000000000") and all(
        b.closing_p50 < b.buffer for b in demo_ws.forecasts.buffer_breaches(buffer="1000000000"))
    assert not [b for b in demo_ws.forecasts.buffer_breaches(buffer="0") if b.account_id is None]
