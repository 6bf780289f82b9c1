"""The Dashboard panel and the Board pack dialog on the demo company (offscreen)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cio_desktop.services.dashboard import METRIC_KEYS
from tests.conftest import login
from tests.ui.shell_helpers import make_ui

pytestmark = pytest.mark.skipif(not os.environ.get("QT_QPA_PLATFORM"), reason="needs QT_QPA_PLATFORM=offscreen")


@pytest.fixture
def panel(qtbot, demo_ws):  # noqa: ANN001, ANN201
    from cio_desktop.ui.panels.dashboard import DashboardPanel

    login(demo_ws, "treasurer")
    ui = make_ui(demo_ws)
    p = DashboardPanel(ui)
    qtbot.addWidget(p)
    p.resize(1400, 900)
    p.ensure_built()
    return p


def test_cards_show_every_metric_and_charts_have_data(panel) -> None:  # noqa: ANN001
    assert set(panel.cards) == set(METRIC_KEYS)
    assert panel.app.extra["errors"] == []
    data = panel.data
    assert panel.cards["cash_total"].value == data.metrics["cash_total"].value != "…"
    assert panel.cards["budget_variance"].value in ("no data", data.metrics["budget_variance"].value)
    assert panel.cash_chart.labels == [c for c, _b, _i in data.cash_by_currency]
    assert panel.portfolio_chart.series and len(panel.portfolio_chart.series[0].values) > 10


def test_events_refresh_once_after_a_burst(panel, qtbot, demo_ws) -> None:  # noqa: ANN001
    loads = panel.loads
    for _ in range(5):
        panel.on_changes("payments.changed", {})
    qtbot.waitUntil(lambda: panel.loads == loads + 1, timeout=3000)
    qtbot.wait(400)
    assert panel.loads == loads + 1


def test_clicking_a_card_opens_its_panel(qtbot, demo_ws, tmp_path) -> None:  # noqa: ANN001
    from PySide6.QtCore import QPoint, Qt

    from cio_desktop.ui.main_window import MainWindow
    from cio_desktop.ui.panels.registry import PANELS
    from tests.ui.shell_helpers import make_prefs

    login(demo_ws, "treasurer")
    ui = make_ui(demo_ws)
    window = MainWindow(ui, PANELS, prefs=make_prefs(tmp_path))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        assert window.current_panel.NAME == "dashboard"
        dash = window.current_panel
        qtbot.mouseClick(dash.cards["payments_awaiting_approval"], Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
        assert window.current_panel.NAME == "payments"
        assert window.board_pack_action.isVisible()
    finally:
        window.teardown()


def test_board_pack_dialog_exports_with_progress_and_opens(qtbot, demo_ws, tmp_path: Path) -> None:  # noqa: ANN001
    from cio_desktop.ui.dialogs.board_pack import BoardPackDialog

    login(demo_ws, "treasurer")
    ui = make_ui(demo_ws)
    dialog = BoardPackDialog(ui)
    qtbot.addWidget(dialog)
    opened: list[str] = []
    dialog.opener = opened.append
    for key, box in dialog.section_boxes.items():
        box.setChecked(key in ("summary", "cash"))
    dialog.format.setCurrentIndex(1)
    dialog.path.setText(str(tmp_path / "pack.xlsx"))
    dialog.period.setCurrentIndex(dialog.period.findData("2026-Q3"))
    dialog.start()
    assert ui.extra["errors"] == []
    assert dialog.result is not None and dialog.result.sections == ("Summary", "Cash and liquidity")
    assert dialog.result.period == "Q3 2026"
    assert opened == [str(tmp_path / "pack.xlsx")] and Path(opened[0]).exists()
    assert dialog.progress.value() == 100
    # bad input: the message shows in the dialog, nothing is written
    dialog.path.setText(str(tmp_path / "missing" / "pack.xlsx"))
    dialog.start()
    assert "does not exist" in dialog.status.text() and dialog.export_button.isEnabled()
