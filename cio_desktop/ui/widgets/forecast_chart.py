"""Forecast chart (pyqtgraph): the P50 closing balance as a line over its shaded P10–P90 band,
one point per period, optionally with further lines (scenarios) and a dashed buffer line.
Dates are UTC midnights on the shared date axis of ``balance_chart``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from cio_desktop.ui.widgets.balance_chart import PALETTE, DateChart, date_to_x
from cio_desktop.ui.widgets.format import is_dark


@dataclass
class Band:
    label: str
    dates: list[date]
    p10: list[float]
    p50: list[float]
    p90: list[float]


class ForecastChart(DateChart):
    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(title, "Nothing to chart.", 200, parent)
        self.band: Band | None = None
        self.lines: list[tuple[str, list[date], list[float]]] = []
        self._legend: pg.LegendItem | None = None
        self.apply_theme()

    def _legend_item(self) -> pg.LegendItem:
        if self._legend is None:
            dark = is_dark()
            self._legend = self.plot.addLegend(
                offset=(10, 10), brush=pg.mkBrush(35, 39, 46, 220) if dark else pg.mkBrush(255, 255, 255, 220),
                pen=pg.mkPen("#3a4049" if dark else "#dde1e6"), labelTextColor="#e3e6ea" if dark else "#1f2933")
        return self._legend

    def clear(self) -> None:
        self.plot.clear()
        if self._legend is not None:
            self._legend.scene() and self._legend.scene().removeItem(self._legend)
            self._legend = None
        self.band, self.lines = None, []

    def show_forecast(self, band: Band | None, lines: list[tuple[str, list[date], list[float]]] = (),
                      *, title: str = "", buffer: float | None = None) -> None:
        """Draw the band (P10–P90 shaded, P50 line) and any further lines."""
        self.clear()
        self.title_label.setText(title)
        self.band, self.lines = band, list(lines)
        if band is not None or len(self.lines) > 1:
            self._legend_item()
        if band is not None and band.dates:
            x = np.array([date_to_x(d) for d in band.dates])
            colour = QColor(PALETTE[0])
            fill = QColor(colour)
            fill.setAlpha(60)
            lo = self.plot.plot(x, np.array(band.p10), pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine))
            hi = self.plot.plot(x, np.array(band.p90), pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine),
                                name="P10–P90")
            self.plot.addItem(pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(fill)))
            self.plot.plot(x, np.array(band.p50), pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5,
                           symbolBrush=colour, name=f"{band.label} P50")
        for i, (label, dates, values) in enumerate(self.lines):
            x = np.array([date_to_x(d) for d in dates])
            c = PALETTE[(i + (1 if band is not None else 0)) % len(PALETTE)]
            self.plot.plot(x, np.array(values, dtype=float), pen=pg.mkPen(c, width=2), name=label)
        if buffer is not None:
            self.plot.addItem(pg.InfiniteLine(pos=buffer, angle=0, movable=False,
                                              pen=pg.mkPen("#d92d20", width=1, style=Qt.PenStyle.DashLine),
                                              label="buffer", labelOpts={"position": 0.05, "color": "#d92d20"}))
        has = bool((band and band.dates) or any(d for _, d, _ in self.lines))
        self.empty_label.setVisible(not has)
        self.empty_label.setGeometry(self.plot.rect())
        if has:
            self.plot.enableAutoRange()
