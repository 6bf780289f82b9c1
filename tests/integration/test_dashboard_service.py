"""The dashboard on the demo company and on an empty database (real SQLCipher files)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cio_desktop.errors import NotAuthenticated
from cio_desktop.services.dashboard import METRIC_KEYS
from tests.conftest import login


def test_demo_dashboard_figures_match_the_services(demo_ws) -> None:  # noqa: ANN001
    login(demo_ws, "treasurer")
    data = demo_ws.dashboard.get_dashboard_data()
    assert list(data.metrics) == list(METRIC_KEYS)
    totals, grand = demo_ws.accounts.consolidated()
    assert data.metrics["cash_total"].figure == grand.amount
    assert {c for c, _b, _i in data.cash_by_currency} == {t.currency for t in totals}
    pending = demo_ws.payments.list_payments(status="pending_approval")
    assert data.metrics["payments_awaiting_approval"].figure == len(pending)
    value = sum((demo_ws.portfolio.valuation(p.id).total.amount for p in demo_ws.portfolio.list_portfolios()),
                Decimal(0))
    assert data.metrics["portfolio_value"].figure == value       # demo portfolios are in EUR
    assert data.metrics["risk_headroom"].available
    # headroom = cash in base − the minimum balances (the buffer), to the cent per account
    n = len(demo_ws.accounts.list_accounts())
    assert abs(data.metrics["liquidity"].figure - (grand.amount - data.buffer)) <= Decimal("0.01") * n
    assert data.buffer > 0
    assert data.portfolio_series, "the value series feeds the chart"
    for m in data.metrics.values():
        assert m.panel and m.title


def test_metrics_the_role_cannot_see_say_so_without_auditing_refusals(demo_ws) -> None:  # noqa: ANN001
    from sqlalchemy import func, select

    from cio_desktop.storage.models import AuditEntry

    login(demo_ws, "viewer")
    with demo_ws.db.unit_of_work(write=False) as uow:
        before = uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    data = demo_ws.dashboard.get_dashboard_data()
    with demo_ws.db.unit_of_work(write=False) as uow:
        after = uow.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    assert after == before
    assert data.metrics["payments_due_week"].detail == "not visible to your role"
    assert data.metrics["cash_total"].available


def test_dashboard_needs_a_session(ws) -> None:  # noqa: ANN001
    with pytest.raises(NotAuthenticated):
        ws.dashboard.get_dashboard_data()


def test_single_metric(demo_ws) -> None:  # noqa: ANN001
    login(demo_ws, "treasurer")
    assert demo_ws.dashboard.metric("open_alerts").key == "open_alerts"


def test_budget_variance_compares_the_last_complete_month(demo_ws) -> None:  # noqa: ANN001
    # the clock stands at 2 November 2026 and the demo budgets November too: two days of actuals
    # against a whole month's budget would flag nearly everything, so October is compared
    login(demo_ws, "treasurer")
    m = demo_ws.dashboard.get_dashboard_data().metrics["budget_variance"]
    october = demo_ws.budget.detect_budget_variance("2026-10")
    assert m.available and m.figure == sum(1 for v in october if v.flagged)
    assert "October 2026" in m.detail and "November" not in m.detail and "2026-11" not in m.detail


def test_empty_database_names_the_month_without_a_budget(ws) -> None:  # noqa: ANN001
    login(ws, "treasurer")
    m = ws.dashboard.get_dashboard_data().metrics["budget_variance"]
    assert not m.available and m.detail == "no budget for October 2026"


def test_a_source_raising_a_cio_error_gives_no_data_with_its_reason(demo_ws, monkeypatch) -> None:  # noqa: ANN001
    from cio_desktop.errors import ValidationError
    from cio_desktop.services.forecasting import ForecastService

    def refuse(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise ValidationError("too little history to forecast")

    monkeypatch.setattr(ForecastService, "forecast_cashflow", refuse)
    login(demo_ws, "treasurer")
    data = demo_ws.dashboard.get_dashboard_data()
    m = data.metrics["cash_outlook"]
    assert (m.available, m.value, m.detail, m.state) == (False, "no data", "too little history to forecast", "muted")
    assert data.outlook == [] and data.metrics["cash_total"].available
