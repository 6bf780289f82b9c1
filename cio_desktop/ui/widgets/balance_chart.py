"""Balance-history chart (pyqtgraph): dates along the bottom, readable amounts on the left.

Dates are plotted as POSIX seconds at UTC midnight and the date axis is told to use UTC, so a
booking day is labelled as that day whatever the machine's time zone.
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from datetime import date, datetime, timezone

import numpy as np
import pyqtgraph as pg
import pyqtgraph.graphicsItems.DateAxisItem as _dates
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cio_desktop.ui.widgets.themed_chart import ThemedChart
from cio_desktop.ui.widgets.format import compact_number, is_dark

PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"]


def date_to_x(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()


# Years with months between them; unlike pyqtgraph's default the months thin out (every 3rd,
# 6th) on a narrow chart instead of disappearing, so a two-year history keeps month marks.
_YEAR_MONTH = _dates.ZoomLevel([
    _dates.TickSpec(_dates.YEAR_SPACING, _dates.makeYStepper(1), "%Y", autoSkip=[1, 5, 10, 25]),
    _dates.TickSpec(_dates.MONTH_SPACING, _dates.makeMStepper(1), "%b", autoSkip=[1, 3, 6]),
], "Sep 99")


class UtcDateAxis(pg.DateAxisItem):
    """Date axis labelling UTC-midnight timestamps as their calendar day."""

    def __init__(self, orientation: str = "bottom", **kwargs) -> None:  # noqa: ANN003
        super().__init__(orientation=orientation, utcOffset=0, **kwargs)
        self.zoomLevels[np.inf] = _YEAR_MONTH


class AmountAxis(pg.AxisItem):
    """Amount axis: ``1.2M``, ``350k`` instead of pyqtgraph's scientific scaling."""

    def __init__(self, orientation: str = "left", **kwargs) -> None:  # noqa: ANN003
        super().__init__(orientation=orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing):  # noqa: ANN001, ANN201, N802 - pyqtgraph API
        step = abs(spacing * scale)
        if 0 < step < 1 and all(abs(v * scale) < 1000 for v in values):
            # prices a few units apart (116.0, 116.5, …): as many decimals as the tick step needs,
            # else neighbouring ticks would read the same
            places = min(6, max(1, -math.floor(math.log10(step))))
            return [f"{v * scale:,.{places}f}" for v in values]
        return [compact_number(v * scale) for v in values]


@dataclass
class Series:
    label: str
    dates: list[date]
    values: list[float]  # major units (floats only for drawing)
    currency: str
    #: ``date_to_x`` of each date, when the caller computed them off the GUI thread
    x: list[float] | None = None


class DateChart(ThemedChart):
    """A titled time chart (UTC date axis, compact amount axis, horizontal pan only) with a
    centred hint shown when there is nothing to draw; the balance and forecast charts build on it."""

    def __init__(self, title: str, empty_text: str, minimum_height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.title_label = QLabel(title)
        self.title_label.setStyleSheet("font-weight: 600;")
        layout.addWidget(self.title_label)
        # enableMenu=False: the view box then never builds its context menu (a dozen widgets,
        # a noticeable part of opening a panel with a chart), which setMenuEnabled(False) alone
        # would build and hide.
        self.plot = pg.PlotWidget(axisItems={"bottom": UtcDateAxis(), "left": AmountAxis()}, enableMenu=False)
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.getPlotItem().hideButtons()
        self.plot.getViewBox().setMouseEnabled(x=True, y=False)
        self.plot.setMinimumHeight(minimum_height)
        layout.addWidget(self.plot, 1)
        self.empty_label = QLabel(empty_text, self.plot)
        self.empty_label.setProperty("hint", True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.hide()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        super().resizeEvent(event)
        self.empty_label.setGeometry(self.plot.rect())


class ChartPlaceholder(QWidget):
    """Stands where a chart will be while a panel creates it on a later event-loop turn (a
    pyqtgraph plot takes ~20 ms to build): the same title line and size hints as a ``DateChart``
    of that minimum height, so layouts and splitters size the panel as if the chart were there."""

    PLOT_SIZE_HINT = QSize(600, 480)  # pyqtgraph's PlotWidget.sizeHint()
    PLOT_MINIMUM_WIDTH = 68  # pyqtgraph's PlotWidget.minimumSizeHint().width()
    SPACING = 4  # DateChart's layout spacing

    def __init__(self, minimum_height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(self.SPACING)
        self.title_label = QLabel("")
        self.title_label.setStyleSheet("font-weight: 600;")
        layout.addWidget(self.title_label)
        area = QWidget()
        area.setMinimumSize(self.PLOT_MINIMUM_WIDTH, minimum_height)
        layout.addWidget(area, 1)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        title = self.title_label.sizeHint().height() + self.SPACING
        return QSize(self.PLOT_SIZE_HINT.width(), title + self.PLOT_SIZE_HINT.height())


class BalanceChart(DateChart):
    MINIMUM_HEIGHT = 220

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", "No bookings to chart.", self.MINIMUM_HEIGHT, parent)
        self.curves: list[pg.PlotDataItem] = []
        self.series: list[Series] = []
        self._legend: pg.LegendItem | None = None
        self._minimum: pg.InfiniteLine | None = None
        self.apply_theme()

    def clear(self) -> None:
        self.plot.clear()
        if self._legend is not None:
            self._legend.scene() and self._legend.scene().removeItem(self._legend)
            self._legend = None
        self.curves, self.series, self._minimum = [], [], None

    def set_series(self, series: list[Series], *, title: str = "", minimum: float | None = None) -> None:
        """Draw one line per series (legend when more than one), and the minimum as a dashed line."""
        self.clear()
        self.title_label.setText(title)
        self.series = list(series)
        if len(series) > 1:
            dark = is_dark()
            self._legend = self.plot.addLegend(
                offset=(10, 10), brush=pg.mkBrush(35, 39, 46, 220) if dark else pg.mkBrush(255, 255, 255, 220),
                pen=pg.mkPen("#3a4049" if dark else "#dde1e6"),
                labelTextColor="#e3e6ea" if dark else "#1f2933")
        for i, s in enumerate(series):
            x = np.array(s.x if s.x is not None else [date_to_x(d) for d in s.dates], dtype=float)
            y = np.array(s.values, dtype=float)
            pen = pg.mkPen(PALETTE[i % len(PALETTE)], width=2)
            curve = self.plot.plot(x, y, pen=pen, name=f"{s.label} ({s.currency})" if s.currency else s.label)
            self.curves.append(curve)
        if minimum is not None and len(series) == 1:
            self._minimum = pg.InfiniteLine(pos=minimum, angle=0, movable=False,
                                            pen=pg.mkPen("#d92d20", width=1, style=Qt.PenStyle.DashLine),
                                            label="minimum", labelOpts={"position": 0.05, "color": "#d92d20"})
            self.plot.addItem(self._minimum)
        has_points = any(len(s.dates) for s in series)
        self.empty_label.setVisible(not has_points)
        self.empty_label.setGeometry(self.plot.rect())
        if has_points:
            self.plot.enableAutoRange()

    def data(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The plotted (x, y) arrays, one pair per line (what tests compare)."""
        out = []
        for curve in self.curves:
            x, y = curve.getData()
            out.append((np.asarray(x if x is not None else []), np.asarray(y if y is not None else [])))
        return out
