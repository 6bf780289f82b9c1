"""Horizontal bar chart (pyqtgraph) for categories: allocations, scenario P&L.

Bars run left to right from zero with the category names on the left axis (top to bottom in the
order given); negative values are drawn in the danger colour. Follows the light/dark theme.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cio_desktop.ui.widgets.themed_chart import ThemedChart
from cio_desktop.ui.widgets.format import compact_number

POSITIVE, NEGATIVE = "#2563eb", "#d92d20"


class ValueAxis(pg.AxisItem):
    def __init__(self, percent: bool = False, **kwargs) -> None:  # noqa: ANN003
        super().__init__(orientation="bottom", **kwargs)
        self.percent = percent
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing):  # noqa: ANN001, ANN201, N802 - pyqtgraph API
        if self.percent:
            return [f"{v * scale * 100:.0f}%" if spacing >= 0.01 else f"{v * scale * 100:.1f}%" for v in values]
        return [compact_number(v * scale) for v in values]


class BarChart(ThemedChart):
    def __init__(self, title: str = "", *, percent: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.title_label = QLabel(title)
        self.title_label.setStyleSheet("font-weight: 600;")
        layout.addWidget(self.title_label)
        self.plot = pg.PlotWidget(axisItems={"bottom": ValueAxis(percent)})
        self.plot.setMenuEnabled(False)
        self.plot.getPlotItem().hideButtons()
        self.plot.showGrid(x=True, y=False, alpha=0.15)
        self.plot.getViewBox().setMouseEnabled(x=False, y=False)
        self.plot.setMinimumHeight(160)
        layout.addWidget(self.plot, 1)
        self.labels: list[str] = []
        self.values: list[float] = []
        self.apply_theme()

    def set_data(self, labels: list[str], values: list[float], title: str | None = None) -> None:
        self.plot.clear()
        if title is not None:
            self.title_label.setText(title)
        self.labels, self.values = list(labels), [float(v) for v in values]
        n = len(labels)
        if not n:
            return
        y = np.arange(n)[::-1].astype(float)  # first label at the top
        v = np.array(self.values)
        brushes = [pg.mkBrush(NEGATIVE if x < 0 else POSITIVE) for x in v]
        bars = pg.BarGraphItem(x0=np.minimum(v, 0), y=y, height=0.6, width=np.abs(v), brushes=brushes,
                               pen=pg.mkPen(None))
        self.plot.addItem(bars)
        left = self.plot.getAxis("left")
        left.setTicks([[(float(y[i]), labels[i]) for i in range(n)]])
        metrics = QFontMetrics(left.font() if hasattr(left, "font") else self.font())
        left.setWidth(max(metrics.horizontalAdvance(t) for t in labels) + 16)
        lo, hi = min(0.0, float(v.min())), max(0.0, float(v.max()))
        pad = (hi - lo) * 0.05 or 1.0
        self.plot.setXRange(lo - (pad if lo < 0 else 0), hi + pad, padding=0)
        self.plot.setYRange(-0.6, n - 0.4, padding=0)
