"""Dashboard: the first screen of the morning — KPI cards and three charts, each card opening its panel.

All figures come from ``DashboardService.get_dashboard_data()`` in the worker pool; bus events
(sync, payments, portfolio, alerts, …) schedule one debounced reload, and a stale answer (an
older reload finishing last) is dropped. A card whose source has no data shows "no data" and why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import (QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from cio_desktop.security.permissions import Permission
from cio_desktop.services.dashboard import METRIC_KEYS, METRICS, DashboardData, DashboardService
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.widgets.balance_chart import AmountAxis, BalanceChart, Series
from cio_desktop.ui.widgets.bar_chart import BarChart
from cio_desktop.ui.widgets.format import is_dark
from cio_desktop.ui.widgets.kpi_card import KpiCard

TOPICS = ("accounts.changed", "ledger.changed", "sync.completed", "payments.changed", "approvals.changed",
          "portfolio.changed", "prices.changed", "alerts.changed", "alerts.raised", "alerts.resolved",
          "budget.*", "forecast.*", "compliance.*", "demo.built")
COLUMNS = 4


def dashboard_service(app: Any) -> DashboardService:
    return app.workspace.dashboard


class _Clicks(QObject):
    """Turns a left click on a card into ``clicked(key)``."""

    clicked = Signal(str)

    def __init__(self, key: str, parent: QObject) -> None:
        super().__init__(parent)
        self.key = key

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.key)
            return True
        return False


class OutlookChart(QWidget):
    """13 weeks: the p50 line inside a shaded p10–p90 band, and the liquidity buffer dashed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title_label = QLabel("13-week cash outlook")
        self.title_label.setStyleSheet("font-weight: 600;")
        layout.addWidget(self.title_label)
        self.plot = pg.PlotWidget(axisItems={"left": AmountAxis()})
        self.plot.setMenuEnabled(False)
        self.plot.getPlotItem().hideButtons()
        self.plot.showGrid(x=False, y=True, alpha=0.15)
        self.plot.getViewBox().setMouseEnabled(x=False, y=False)
        self.plot.setMinimumHeight(200)
        layout.addWidget(self.plot, 1)
        self.empty = QLabel("No forecast yet.", self.plot)
        self.empty.setProperty("hint", True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.points: list[Any] = []
        dark = is_dark()
        self.plot.setBackground("#23272e" if dark else "#ffffff")

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self.empty.setGeometry(self.plot.rect())

    def set_points(self, points: list[Any], buffer: float | None, reason: str = "") -> None:
        self.plot.clear()
        self.points = list(points)
        usable = [p for p in points if p.p50 is not None]
        self.empty.setText(f"No forecast: {reason}" if reason else "No forecast yet.")
        self.empty.setVisible(not usable)
        item = self.plot.getPlotItem()
        for name in ("left", "bottom"):
            (item.showAxis if usable else item.hideAxis)(name)
        if not usable:
            return
        x = np.arange(len(points), dtype=float)
        mid = np.array([np.nan if p.p50 is None else p.p50 for p in points])
        if all(p.p10 is not None and p.p90 is not None for p in points):
            lo = pg.PlotDataItem(x, [p.p10 for p in points], pen=pg.mkPen(None))
            hi = pg.PlotDataItem(x, [p.p90 for p in points], pen=pg.mkPen(None))
            self.plot.addItem(lo)
            self.plot.addItem(hi)
            self.plot.addItem(pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(37, 99, 235, 50)))
        self.plot.plot(x, mid, pen=pg.mkPen("#2563eb", width=2))
        if buffer is not None:
            self.plot.addItem(pg.InfiniteLine(pos=buffer, angle=0,
                                              pen=pg.mkPen("#d92d20", width=1, style=Qt.PenStyle.DashLine)))
        axis = self.plot.getAxis("bottom")
        step = max(1, len(points) // 6)
        axis.setTicks([[(i, p.label) for i, p in enumerate(points) if i % step == 0]])


class DashboardPanel(Panel):
    NAME = "dashboard"
    TITLE = "Dashboard"
    PERMISSION = Permission.ACCOUNTS_READ
    SHORTCUT = "Ctrl+0"
    TOPICS = TOPICS

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.data: DashboardData | None = None
        self.cards: dict[str, KpiCard] = {}
        self._generation = 0
        self.loads = 0

    def build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget()
        scroll.setWidget(body)
        outer.addWidget(scroll)
        root = QVBoxLayout(body)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(12)
        self.pack_button = QPushButton("Board pack…")
        self.pack_button.setObjectName("boardPackButton")
        self.pack_button.clicked.connect(self.open_board_pack)
        session = self.app.workspace.ctx.session
        self.pack_button.setVisible(bool(session and session.can(Permission.REPORTS_EXPORT)))
        head, self.status_label = self.header_row(self.refresh, trailing=[self.pack_button],
                                                  status_text="loading…")
        root.addLayout(head)

        grid = QGridLayout()
        grid.setSpacing(10)
        for i, key in enumerate(METRIC_KEYS):
            caption, panel = METRICS[key]
            card = KpiCard(caption, "…", "")
            card.setObjectName("card")
            card.setProperty("metric", key)
            card.setCursor(QCursor(Qt.CursorShape.PointingHandCursor))
            card.setToolTip(f"Open {panel.title()}")
            clicks = _Clicks(key, card)
            card.installEventFilter(clicks)
            for child in card.findChildren(QLabel):
                child.installEventFilter(clicks)
            clicks.clicked.connect(self.open_metric)
            self.cards[key] = card
            grid.addWidget(card, i // COLUMNS, i % COLUMNS)
        root.addLayout(grid)

        charts = QHBoxLayout()
        cash_box = QGroupBox("Cash by currency")
        cb = QVBoxLayout(cash_box)
        self.cash_chart = BarChart("In base currency")
        cb.addWidget(self.cash_chart)
        outlook_box = QGroupBox("Outlook")
        ob = QVBoxLayout(outlook_box)
        self.outlook_chart = OutlookChart()
        ob.addWidget(self.outlook_chart)
        port_box = QGroupBox("Portfolio value")
        pb = QVBoxLayout(port_box)
        self.portfolio_chart = BalanceChart()
        pb.addWidget(self.portfolio_chart)
        for box in (cash_box, outlook_box, port_box):
            box.setMinimumHeight(260)
            charts.addWidget(box, 1)
        root.addLayout(charts, 1)

        self._timer = self.debouncer(self.refresh, 300)
        self.refresh()

    # -- data ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self._generation += 1
        gen = self._generation
        self.status_label.setText("refreshing…")
        self.app.workers.run(dashboard_service(self.app).get_dashboard_data,
                             lambda d: gen == self._generation and self.show_data(d), self._failed)

    def on_changes(self, topic: str, data: dict) -> None:
        if self._built:
            self._timer.start()  # many events in a burst: one reload

    def _failed(self, exc: BaseException) -> None:
        self.status_label.setText("could not load the dashboard")
        self.app.show_error(exc)

    def show_data(self, data: DashboardData) -> None:
        self.data = data
        self.loads += 1
        for key, m in data.metrics.items():
            card = self.cards[key]
            card.set_values(m.value, m.detail, m.state)
        local = data.as_of.astimezone()
        self.status_label.setText(f"as of {local:%d %b %Y %H:%M} · figures in {data.base_currency}")
        rows = [(c, float(b)) for c, _a, b in data.cash_by_currency if b is not None]
        self.cash_chart.set_data([c for c, _v in rows], [v for _c, v in rows],
                                 title=f"In {data.base_currency}" if rows else "No accounts yet")
        outlook = data.metrics["cash_outlook"]
        self.outlook_chart.set_points(data.outlook, float(data.buffer) if data.buffer is not None else None,
                                      "" if outlook.available else outlook.detail)
        if data.portfolio_series:
            self.portfolio_chart.set_series([Series("Portfolios", [d for d, _v in data.portfolio_series],
                                                    [v for _d, v in data.portfolio_series], data.base_currency)],
                                            title=f"Last 12 months ({data.base_currency})")
        else:
            self.portfolio_chart.set_series([], title="No portfolio history")

    # -- navigation ------------------------------------------------------------------------------
    def open_metric(self, key: str) -> None:
        panel = METRICS[key][1]
        window = self.window()
        shown = bool(getattr(window, "show_panel", None) and window.show_panel(panel))
        if not shown:
            self.app.status(f"The {panel} screen is not available to you in this version.")

    def open_board_pack(self) -> None:
        from cio_desktop.ui.dialogs.board_pack import BoardPackDialog

        BoardPackDialog(self.app, self).open()
