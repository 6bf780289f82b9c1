"""The base of the pyqtgraph charts: background and axis colours follow the light/dark theme,
also when the user switches themes while the chart is shown."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QWidget

from cio_desktop.ui.widgets.format import is_dark


class ThemedChart(QWidget):
    """Subclasses create ``self.plot`` (a ``pg.PlotWidget``) and then call ``apply_theme()``."""

    plot: pg.PlotWidget

    def apply_theme(self) -> None:
        dark = is_dark()
        self.plot.setBackground("#23272e" if dark else "#ffffff")
        pen = pg.mkPen("#9aa4ae" if dark else "#52606d")
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pen)
            axis.setTextPen(pen)

    def changeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self.apply_theme()  # light/dark switched at run time
