"""Portfolio (with its Rebalancing tab) and Risk panels over the demo company (workers run at once,
offscreen): what they show matches the services."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from cio_desktop.services.portfolio import EQUAL_WEIGHT, PortfolioService
from cio_desktop.services.risk import RiskService
from cio_desktop.ui.panels.portfolio import PortfolioPanel
from cio_desktop.ui.panels.registry import PANELS
from cio_desktop.ui.panels.risk import RiskPanel
from cio_desktop.ui.theme import ThemeManager
from tests.conftest import login
from tests.ui.shell_helpers import open_panel, rows

SHOTS_ENV = os.environ.get("CIO_SHOTS")  # set it to keep the screenshots; else they go to a temp dir




def test_registry_order_and_contract() -> None:
    names = [p.NAME for p in PANELS]
    assert names.index("risk") == names.index("portfolio") + 1
    assert PortfolioPanel.SHORTCUT == "Ctrl+4" and RiskPanel.SHORTCUT == "Ctrl+5"
    assert set(PortfolioPanel.TOPICS) == set(RiskPanel.TOPICS) == {"portfolio.changed", "prices.changed"}


@pytest.fixture
def portfolio_panel(qtbot, demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "treasurer")
    return open_panel(qtbot, demo_ws, PortfolioPanel)


def test_portfolio_panel_matches_service(portfolio_panel, demo_ws) -> None:  # noqa: ANN001
    panel = portfolio_panel
    assert not panel.app.extra["errors"]
    svc = PortfolioService(demo_ws.ctx)
    assert panel.selector.count() == 2
    pid = panel.current_id()
    val = svc.valuation(pid)
    shown = rows(panel.holdings_proxy)
    assert {r["identifier"] for r in shown} == {h.identifier for h in val.holdings}
    for h in val.holdings:
        r = next(r for r in shown if r["identifier"] == h.identifier)
        assert r["value_base"] == float(h.value_base.amount) and r["weight"] == h.weight
    m = svc.metrics(pid, benchmark=EQUAL_WEIGHT).values
    assert panel.return_card.value == f"{m['cumulative_return'] * 100:,.2f} %"
    assert panel.vol_card.value == f"{m['annual_volatility'] * 100:,.2f} %"
    assert panel.sharpe_card.value == f"{m['sharpe_ratio']:,.2f}"
    assert panel.dd_card.value == f"{m['max_drawdown'] * 100:,.2f} %"
    assert panel.value_card.value == f"EUR {float(val.total.amount):,.0f}"
    # contributions table sums to the portfolio return
    contrib = rows(panel.contrib_proxy)
    assert math.fsum(r["contribution"] for r in contrib) == pytest.approx(m["cumulative_return"], abs=1e-12)
    # allocation charts
    assert sum(panel.class_chart.values) == pytest.approx(1.0)
    assert set(panel.currency_chart.labels) == {h.asset.currency for h in val.holdings}
    # performance chart: two lines, both start at 100, portfolio ends at 100 × (1 + return)
    data = panel.perf_chart.data()
    assert len(data) == 2 and data[0][1][0] == pytest.approx(100.0) and data[1][1][0] == pytest.approx(100.0)
    assert data[0][1][-1] == pytest.approx(100 * (1 + m["cumulative_return"]), rel=1e-9)


def test_holdings_filter_and_sort(portfolio_panel) -> None:  # noqa: ANN001
    panel = portfolio_panel
    panel.filter_edit.setText("USD")
    shown = rows(panel.holdings_proxy)
    assert shown and all("USD" in " ".join(str(v) for v in r.values()) for r in shown)
    panel.filter_edit.clear()
    col = panel.holdings_model.column_of("value_base")
    panel.holdings_table.sortByColumn(col, Qt.SortOrder.DescendingOrder)
    values = [r["value_base"] for r in rows(panel.holdings_proxy)]
    assert values == sorted(values, reverse=True)


def test_switching_portfolio_and_refresh_on_event(portfolio_panel, demo_ws) -> None:  # noqa: ANN001
    panel = portfolio_panel
    first = panel.current_id()
    panel.selector.setCurrentIndex(1)
    assert panel.current_id() != first
    assert panel.overview.valuation.portfolio.id == panel.current_id()
    panel.overview = None
    demo_ws.ctx.bus.publish("prices.changed")
    panel._timer.timeout.emit()  # the coalescing timer fires (no waiting on wall-clock time)
    assert panel.overview is not None and panel.overview.valuation.portfolio.id == panel.current_id()


def test_rebalancing_view_trades_and_export(portfolio_panel, demo_ws, tmp_path) -> None:  # noqa: ANN001
    panel = portfolio_panel
    idx = next(i for i in range(panel.selector.count()) if "Liquidity" in panel.selector.itemText(i))
    panel.selector.setCurrentIndex(idx)
    view = panel.rebalancing
    panel.tabs.setCurrentWidget(view)
    assert view.mode.currentData() == "asset_class"
    assert sum(view.targets().values()) == pytest.approx(1.0, abs=1e-4)
    view.set_target("money_market", 30)
    view.set_target("government_bond", 45)
    view.set_target("corporate_bond", 25)
    assert "100.00 %" in view.sum_label.text()
    view.propose()
    assert view.proposal is not None, panel.app.extra["errors"]
    svc = PortfolioService(demo_ws.ctx)
    expected = svc.recommend_rebalancing(panel.current_id(), view.targets(), view.proposal.constraints,
                                         by="asset_class")
    shown = rows(view.trades_proxy)
    assert {r["identifier"]: r["quantity"] for r in shown} == {t.asset: t.quantity for t in expected.plan.trades}
    assert all(r["impact"] > 0 for r in shown)
    assert view.export_button.isEnabled()
    out = tmp_path / "plan.csv"
    view.export_to(out)
    lines = list(csv.reader(out.open(encoding="utf-8")))
    assert len(lines) == len(shown) + 2
    # targets that do not sum to 100 %: a plain message, no plan shown
    view.set_target("money_market", 50)
    assert "must sum to 100" in view.sum_label.text()
    view.propose()
    assert view.proposal is None and view.trades_model.rowCount() == 0
    assert "not 100" in view.summary_label.text()


@pytest.fixture
def risk_panel(qtbot, demo_ws):  # noqa: ANN001, ANN201
    login(demo_ws, "analyst")
    return open_panel(qtbot, demo_ws, RiskPanel)


def test_risk_panel_matches_service(risk_panel, demo_ws) -> None:  # noqa: ANN001
    panel = risk_panel
    assert not panel.app.extra["errors"]
    svc = RiskService(demo_ws.ctx)
    pid = panel.current_id()
    rep = svc.evaluate_portfolio_risk(pid, panel.profile.currentData())
    shown = rows(panel.limits_proxy)
    assert len(shown) == len(rep.evaluation.checks)
    assert sum(r["breached"] for r in shown) == len(rep.evaluation.breaches)
    red = panel.limits_model.data(panel.limits_model.index(0, 0), Qt.ItemDataRole.BackgroundRole)
    assert (red is not None) == bool(rep.evaluation.breaches)
    v = svc.value_at_risk(pid)
    assert panel.var_card.value == f"{v.historical * 100:,.2f} %"
    assert panel.cvar_card.value == f"{v.cvar * 100:,.2f} %"
    assert panel.conc_model.rowCount() == 6
    scen = svc.run_scenario_analysis(pid)
    assert [r["pnl"] for r in panel.scen_model.rows] == [s.total_pnl for s in scen]
    assert panel.pnl_chart.values == [s.total_pnl for s in scen]
    # a user-defined shock is added to the table and the chart
    panel.add_custom_shock()
    assert panel.scen_model.rowCount() == len(scen) + 1
    assert panel.scen_model.rows[-1]["name"].startswith("custom")
    # switching the profile re-evaluates
    panel.profile.setCurrentIndex(1)
    rep2 = svc.evaluate_portfolio_risk(pid, panel.profile.currentData())
    assert sum(r["breached"] for r in panel.limits_model.rows) == len(rep2.evaluation.breaches)


def _grab(widget, name: str, tmp: Path) -> Path:  # noqa: ANN001
    shots = Path(SHOTS_ENV) if SHOTS_ENV else tmp
    shots.mkdir(parents=True, exist_ok=True)
    QApplication.processEvents()
    path = shots / name
    assert widget.grab().save(str(path))
    return path


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots(qtbot, demo_ws, theme, tmp_path) -> None:  # noqa: ANN001
    manager = ThemeManager(QApplication.instance(), None)
    manager.apply(theme, remember=False)
    try:
        login(demo_ws, "treasurer")
        panel = open_panel(qtbot, demo_ws, PortfolioPanel)
        _grab(panel, f"portfolio-{theme}.png", tmp_path)
        panel.tabs.setCurrentWidget(panel.rebalancing)
        idx = next(i for i in range(panel.selector.count()) if "Liquidity" in panel.selector.itemText(i))
        panel.selector.setCurrentIndex(idx)
        panel.rebalancing.set_target("money_market", 30)
        panel.rebalancing.set_target("government_bond", 45)
        panel.rebalancing.set_target("corporate_bond", 25)
        panel.rebalancing.propose()
        _grab(panel, f"rebalancing-{theme}.png", tmp_path)
        risk = open_panel(qtbot, demo_ws, RiskPanel)
        risk.add_custom_shock()
        _grab(risk, f"risk-{theme}.png", tmp_path)
    finally:
        manager.apply("light", remember=False)
        QApplication.instance().setStyleSheet("")


def test_percent_cells_never_show_inf() -> None:
    """A holding against a 0 % limit has unbounded utilisation: shown as ∞, not "inf %"."""
    from cio_desktop.domain.risk import LimitCheck
    from cio_desktop.ui.models.portfolio_models import pct

    check = LimitCheck("asset_class", "equity", limit=0.0, actual=0.12, kind="max", breached=True)
    assert pct(check.utilisation) == "∞"
    assert pct(-math.inf) == "−∞"
    assert pct(0.1234) == "12.34 %" and pct(float("nan")) == "n/a"
