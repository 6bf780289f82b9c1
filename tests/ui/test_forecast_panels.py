"""Cash Forecast, Budget and Analytics panels over the demo company (workers run at once,
offscreen): what they show matches the services; editing is refused without budget.manage."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from cio_desktop.ui.panels.analytics import AnalyticsPanel
from cio_desktop.ui.panels.budget import BudgetPanel
from cio_desktop.ui.panels.forecast import ForecastPanel
from cio_desktop.ui.panels.registry import PANELS
from tests.conftest import login
from tests.ui.shell_helpers import open_panel, rows




def test_planning_panels_are_registered_with_their_shortcuts() -> None:
    assert {"forecast", "budget", "analytics"} <= {p.NAME for p in PANELS}
    assert (ForecastPanel.SHORTCUT, BudgetPanel.SHORTCUT, AnalyticsPanel.SHORTCUT) == (
        "Ctrl+Shift+F", "Ctrl+Shift+B", "Ctrl+Shift+A")


def test_forecast_panel_matches_service_and_drills_down(qtbot, demo_ws, tmp_path: Path) -> None:
    login(demo_ws, "analyst")
    panel = open_panel(qtbot, demo_ws, ForecastPanel)
    assert not panel.app.extra["errors"]
    res = demo_ws.forecasts.forecast_cashflow(13, "week")
    shown = rows(panel.period_proxy)
    assert [r["period"] for r in shown] == [r.period for r in res.rows]
    assert [round(r["closing_p50"], 2) for r in shown] == [round(r.closing_p50, 2) for r in res.rows]
    band = panel.chart.band
    assert band is not None and band.p10 == [r.closing_p10 for r in res.rows]
    # drill-down: the first period's known items
    items = rows(panel.item_proxy)
    assert len(items) == len(res.items_on(res.rows[0].first, res.rows[0].last))
    # one account, by day
    panel.granularity.setCurrentIndex(panel.granularity.findData("day"))
    panel.view.setCurrentIndex(panel.view.findData(1))
    assert len(rows(panel.period_proxy)) == 30 and panel.selected_account() == 1
    # one currency: all USD accounts in USD
    panel.view.setCurrentIndex(panel.view.findData("cur:USD"))
    assert panel.selected_currency() == "USD" and panel.selected_account() is None
    days = demo_ws.forecasts.forecast_cashflow(30, "day")
    assert [round(r["closing_p50"], 2) for r in rows(panel.period_proxy)] == [
        round(r.closing_p50, 2) for r in days.by_currency["USD"]]
    panel.grab().save(str(tmp_path / "forecast.png"))


def test_budget_panel_edits_and_explains(qtbot, demo_ws) -> None:
    login(demo_ws, "treasurer")
    panel = open_panel(qtbot, demo_ws, BudgetPanel)
    assert panel.current_period() == "2026-10"          # the last complete month
    assert panel.can_edit and panel.save_button.isEnabled()
    seeded = len(rows(panel.line_proxy))
    assert seeded >= 5                                   # the demo's budgets
    panel.category.setCurrentIndex(panel.category.findData("suppliers"))
    panel.amount.setText("100000")
    panel.save_line()
    assert len(rows(panel.line_proxy)) == seeded
    assert next(r for r in rows(panel.line_proxy) if r["category"] == "suppliers")["amount"] == 100000.0
    var = next(r for r in rows(panel.var_proxy) if r["category"] == "suppliers")
    assert var["flagged"]
    panel.var_table.selectRow(next(i for i, r in enumerate(rows(panel.var_proxy)) if r["category"] == "suppliers"))
    assert panel.explanation.text().startswith("suppliers 2026-10") and "above budget" in panel.explanation.text()
    # scenarios: presets plus one of the user's
    panel.add_scenario()
    names = [r["name"] for r in rows(panel.scen_model and panel.scen_table.model())]
    assert names[:3] == ["base", "optimistic", "pessimistic"] and names[3].startswith("custom 1")
    assert len(panel.scen_chart.lines) == 4
    # deletion asks first; a "no" keeps the line
    panel.category.setCurrentIndex(panel.category.findData("suppliers"))
    panel.confirm = lambda *a: False
    panel.delete_line()
    assert len(rows(panel.line_proxy)) == seeded
    panel.confirm = lambda *a: True
    panel.delete_line()
    assert len(rows(panel.line_proxy)) == seeded - 1
    assert "suppliers" not in {r["category"] for r in rows(panel.line_proxy)}
    # a bad amount is shown inline, nothing stored
    panel.amount.setText("abc")
    panel.save_line()
    assert "not a number" in panel.form_status.text() and len(rows(panel.line_proxy)) == seeded - 1


def test_budget_panel_refuses_to_overwrite_a_change_made_elsewhere(qtbot, demo_ws, clock) -> None:
    login(demo_ws, "treasurer")
    panel = open_panel(qtbot, demo_ws, BudgetPanel)
    clock.advance(minutes=5)
    demo_ws.budget.set_budget_line("rent", "2026-10", "123456")  # another desk, unseen by the panel
    panel.category.setCurrentIndex(panel.category.findData("rent"))
    panel.amount.setText("99999")
    panel.save_line()
    assert "was changed by treasurer at" in panel.form_status.text()
    assert next(b for b in demo_ws.budget.list_budget("2026-10") if b.category == "rent").amount == 123456
    panel.refresh()  # reload, then the same edit goes through
    panel.category.setCurrentIndex(panel.category.findData("rent"))
    panel.amount.setText("99999")
    panel.save_line()
    assert next(r for r in rows(panel.line_proxy) if r["category"] == "rent")["amount"] == 99999.0


def test_budget_panel_is_read_only_for_an_auditor(qtbot, demo_ws) -> None:
    login(demo_ws, "auditor")
    panel = open_panel(qtbot, demo_ws, BudgetPanel)
    assert not panel.can_edit and not panel.save_button.isEnabled() and not panel.import_button.isEnabled()
    assert not panel.app.extra["errors"]


def test_analytics_panel_suggestions_accept_and_reject(qtbot, demo_ws) -> None:
    login(demo_ws, "treasurer")
    with demo_ws.db.engine.begin() as conn:
        conn.execute(text("UPDATE transactions SET category='' WHERE id IN (5, 6, 7)"))
    demo_ws.analytics.train_model("categoriser")
    panel = open_panel(qtbot, demo_ws, AnalyticsPanel)
    assert not panel.app.extra["errors"]
    assert any(r["kind"] == "weekly" and r["found"] == "yes" for r in rows(panel.pattern_proxy))
    assert [r["kind"] for r in rows(panel.model_proxy)] == ["categoriser"]
    sug = rows(panel.suggestion_proxy)
    assert {r["_id"] for r in sug} == {5, 6, 7}
    panel.suggestion_table.selectRow(0)
    first = rows(panel.suggestion_proxy)[0]
    panel.decide(True)
    assert "recategorised" in panel.suggestion_status.text()
    assert first["_id"] not in {r["_id"] for r in rows(panel.suggestion_proxy)}
    panel.suggestion_table.selectRow(0)
    panel.decide(False)
    assert len(rows(panel.suggestion_proxy)) == 1
