"""Market, Opportunities and Advisory panels over the demo company (workers run at once,
offscreen): what they show matches the services, actions go through them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cio_desktop.ui.panels.advisory import AdvisoryPanel
from cio_desktop.ui.panels.market import MarketPanel
from cio_desktop.ui.panels.opportunities import OpportunitiesPanel
from cio_desktop.ui.panels.registry import PANELS
from tests.conftest import login
from tests.ui.shell_helpers import open_panel, rows

SHOTS = os.environ.get("CIO_SHOTS")




def shot(panel, name: str, tmp_path: Path) -> None:  # noqa: ANN001
    target = Path(SHOTS) if SHOTS else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    from PySide6.QtWidgets import QApplication

    from cio_desktop.ui.theme import ThemeManager

    ThemeManager(QApplication.instance(), None).apply("light", remember=False)
    try:
        QApplication.processEvents()
        assert panel.grab().save(str(target / f"{name}.png"))
    finally:
        QApplication.instance().setStyleSheet("")


def test_market_panel_shortcuts() -> None:
    assert {"market", "opportunities", "advisory"} <= {p.NAME for p in PANELS}
    assert (MarketPanel.SHORTCUT, OpportunitiesPanel.SHORTCUT, AdvisoryPanel.SHORTCUT) == (
        "Ctrl+Shift+M", "Ctrl+Shift+O", "Ctrl+Shift+V")


def test_market_panel_chart_readings_and_watch_list(qtbot, demo_ws, tmp_path) -> None:  # noqa: ANN001
    login(demo_ws, "analyst")
    panel = open_panel(qtbot, demo_ws, MarketPanel)
    assert not panel.app.extra["errors"]
    assert panel.asset_combo.count() == 40
    ident = panel.asset_combo.currentData()
    a = demo_ws.market.analyze_investment(ident)
    shown = rows(panel.readings_proxy)
    assert [(r["section"], r["label"], r["text"]) for r in shown] == [
        (s, r.label, r.text()) for s, rs in a.sections.items() for r in rs]
    dates, closes = demo_ws.market.price_history(ident, days=400)
    (x, y), *others = panel.chart.data()
    assert list(y) == pytest.approx(closes) and len(others) == 4  # SMA 50, SMA 200, Bollinger ±
    fx = rows(panel.fx_proxy)
    assert {r["pair"] for r in fx} == {"EUR/USD", "EUR/GBP"}
    # add a symbol through the panel, then remove it after confirming
    panel.symbol_edit.setText("sap.de")
    panel.provider_combo.setCurrentIndex(panel.provider_combo.findData("Stooq"))
    panel.add_symbol()
    assert [w.symbol for w in demo_ws.market.watchlist()] == ["sap.de"]
    assert [r["symbol"] for r in rows(panel.watch_proxy)] == ["sap.de"]
    panel.watch_table.selectRow(0)
    asked: list[str] = []
    panel.confirm = lambda *a: asked.append(a[2]) or False
    panel.remove_symbol()
    assert asked and len(demo_ws.market.watchlist()) == 1  # refused: nothing removed
    panel.confirm = lambda *a: True
    panel.remove_symbol()
    assert demo_ws.market.watchlist() == [] and rows(panel.watch_proxy) == []
    shot(panel, "market", tmp_path)


def test_opportunities_panel_screens_with_context(qtbot, demo_ws, tmp_path) -> None:  # noqa: ANN001
    login(demo_ws, "analyst")
    panel = open_panel(qtbot, demo_ws, OpportunitiesPanel)
    assert not panel.app.extra["errors"]
    assert panel.criteria_combo.currentText() == "default"
    panel.max_vol.setValue(25.0)
    panel.min_mom.setValue(0.0)
    panel.screen()
    crit = panel.criteria()
    assert crit.max_volatility == 0.25 and crit.min_momentum == 0.0 and crit.asset_classes == frozenset({"equity"})
    expected = demo_ws.market.identify_opportunities(crit, portfolio_id=panel.portfolio_combo.currentData())
    shown = rows(panel.result_proxy)
    assert [r["identifier"] for r in shown] == [o.candidate.identifier for o in expected.opportunities]
    assert shown and all(r["volatility"] <= 0.25 and r["momentum"] >= 0 for r in shown)
    assert all(-1 <= r["correlation"] <= 1 and r["weight_after"] > r["weight"] for r in shown)
    assert len(panel.reject_model.rows) == expected.universe - len(shown)
    panel.criteria_combo.setCurrentText("low vol")
    panel.save()
    assert "low vol" in {c.name for c in demo_ws.market.criteria()}
    shot(panel, "opportunities", tmp_path)


def test_advisory_panel_generates_decides_and_compares(qtbot, demo_ws, tmp_path) -> None:  # noqa: ANN001
    login(demo_ws, "analyst")
    panel = open_panel(qtbot, demo_ws, AdvisoryPanel)
    assert not panel.app.extra["errors"]
    assert panel.rec_model.rows == [] and "generate a report" in panel.status_label.text()
    assert [r["strategy"] for r in panel.matrix_model.rows] == ["Current", "Equal weight", "De-risked", "Capped 10 %"]
    assert all(r[k] for r in panel.matrix_model.rows for k in ("expected_return", "volatility", "sharpe_ratio",
                                                               "max_drawdown", "value_at_risk", "cost", "liquidity"))
    panel.generate()
    stored = demo_ws.advisory.recommendations()
    assert [r["id"] for r in rows(panel.rec_proxy)] == [s.id for s in stored] and stored
    assert stored[0].rec.rationale[:40] in panel.detail.toPlainText()
    panel.note.setText("done in committee")
    panel.decide(True)
    after = demo_ws.advisory.recommendations()
    assert after[0].status == "accepted" and after[0].feedback == "done in committee"
    panel.rec_table.selectRow(0)
    assert not panel.accept_button.isEnabled()  # decided: no second decision
    shot(panel, "advisory", tmp_path)
