"""Cash Forecast panel: granularity and horizon, consolidated or one account, the closing
balance with its P10–P90 band, one row per period, and the known items behind the selected
period (drill-down). The forecast is computed in the worker pool."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QGroupBox, QLabel, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from cio_desktop.domain.cashflow import ForecastResult, ForecastRow
from cio_desktop.security.permissions import Permission
from cio_desktop.ui.models.portfolio_models import ROW_ROLE, Column, RowsModel, num
from cio_desktop.ui.panels.accounts import KpiStrip
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.portfolio import make_table
from cio_desktop.ui.widgets.forecast_chart import Band, ForecastChart
from cio_desktop.ui.widgets.kpi_card import KpiCard

DEFAULT_HORIZON = {"day": 30, "week": 13, "month": 6}
TOPICS = ("ledger.changed", "payments.changed", "accounts.changed", "forecast.changed", "analytics.changed",
          "sync.completed")

PERIOD_COLUMNS = [
    Column("period", "Period"), Column("first", "From"),
    Column("opening", "Opening", num, numeric=True, signed=True),
    Column("known_in", "Known in", num, numeric=True),
    Column("known_out", "Known out", num, numeric=True, signed=True),
    Column("model_net", "Model", num, numeric=True, signed=True,
           tooltip="the statistical forecast of flows not otherwise known"),
    Column("net_p50", "Net P50", num, numeric=True, signed=True),
    Column("closing_p10", "Closing P10", num, numeric=True, signed=True),
    Column("closing_p50", "Closing P50", num, numeric=True, signed=True),
    Column("closing_p90", "Closing P90", num, numeric=True, signed=True),
]
ITEM_COLUMNS = [
    Column("day", "Date"), Column("account", "Account"), Column("kind", "Kind"), Column("label", "Item"),
    Column("amount", "Amount", num, numeric=True, signed=True), Column("currency", "Ccy"),
]


def period_rows(rows: list[ForecastRow], minimum: float | None) -> list[dict]:
    return [{"period": r.period, "first": r.first.isoformat(), "last": r.last.isoformat(), "opening": r.opening,
             "known_in": r.known_in, "known_out": r.known_out, "model_net": r.model_net, "net_p50": r.net_p50,
             "closing_p10": r.closing_p10, "closing_p50": r.closing_p50, "closing_p90": r.closing_p90,
             "below": minimum is not None and r.closing_p10 < minimum, "_first": r.first, "_last": r.last,
             "_tooltip": f"{r.period}: P10 {r.closing_p10:,.0f} · P50 {r.closing_p50:,.0f} · P90 {r.closing_p90:,.0f}"}
            for r in rows]


class ForecastPanel(Panel):
    NAME = "forecast"
    TITLE = "Cash Forecast"
    PERMISSION = Permission.FORECAST_READ
    SHORTCUT = "Ctrl+Shift+F"
    TOPICS = TOPICS

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.result: ForecastResult | None = None
        self._generation = 0

    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        self.granularity = QComboBox()
        self.granularity.setObjectName("forecastGranularity")
        for g in DEFAULT_HORIZON:
            self.granularity.addItem(g.capitalize() + "s", g)
        self.granularity.setCurrentIndex(1)
        self.horizon = QSpinBox()
        self.horizon.setObjectName("forecastHorizon")
        self.horizon.setRange(1, 366)
        self.horizon.setValue(13)
        self.view = QComboBox()
        self.view.setObjectName("forecastView")
        self.view.setMinimumWidth(220)
        self.granularity.currentIndexChanged.connect(self._granularity_changed)
        self.horizon.valueChanged.connect(lambda _v: self._timer.start())
        self.view.currentIndexChanged.connect(lambda _i: self._show_view())
        head, self.status_label = self.header_row(
            self.refresh, leading=[QLabel("By"), self.granularity, QLabel("Horizon"), self.horizon,
                                   QLabel("Show"), self.view], wrap_status=True)
        root.addLayout(head)

        self.opening_card = KpiCard("Opening balance", "…", "")
        self.ending_card = KpiCard("Ending balance (P50)", "…", "")
        self.low_card = KpiCard("Lowest closing (P10)", "…", "")
        self.known_card = KpiCard("Known items", "…", "payments, open items, recurring")
        self.cards = KpiStrip()
        self.cards.set_cards([self.opening_card, self.ending_card, self.low_card, self.known_card])
        root.addWidget(self.cards)
        self.notes = QLabel("")
        self.notes.setProperty("warning", True)
        self.notes.setWordWrap(True)
        self.notes.setVisible(False)
        root.addWidget(self.notes)

        self.chart = ForecastChart("Closing balance")
        self.period_model = RowsModel(PERIOD_COLUMNS, self, row_flag=lambda r: r.get("below", False))
        self.period_table, self.period_proxy = make_table("forecastPeriods", self.period_model)
        self.period_table.selectionModel().selectionChanged.connect(lambda *_: self._drill_down())
        self.item_model = RowsModel(ITEM_COLUMNS, self)
        self.item_table, self.item_proxy = make_table("forecastItems", self.item_model)
        items_box = QGroupBox("Known items in the selected period")
        ib = QVBoxLayout(items_box)
        ib.addWidget(self.item_table)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.period_table)
        lower.addWidget(items_box)
        lower.setSizes([1000, 420])
        lower.setChildrenCollapsible(False)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.chart)
        split.addWidget(lower)
        split.setSizes([360, 420])
        split.setChildrenCollapsible(False)
        root.addWidget(split, 1)

        self._timer = self.debouncer(self.refresh, 250)
        theme = self.app.extra.get("theme")
        if theme is not None and hasattr(theme, "changed"):
            theme.changed.connect(lambda _n: self._show_view())
        self.refresh()

    def _granularity_changed(self) -> None:
        self.horizon.blockSignals(True)
        self.horizon.setValue(DEFAULT_HORIZON[self.granularity.currentData()])
        self.horizon.blockSignals(False)
        self.refresh()

    def on_changes(self, topic: str, data: dict) -> None:
        if self._built:
            self._timer.start()

    def refresh(self) -> None:
        self._generation += 1
        gen = self._generation
        g = str(self.granularity.currentData())
        horizon = self.horizon.value()
        svc = self.app.workspace.forecasts
        self.status_label.setText("Forecasting…")
        self.app.workers.run(lambda: svc.forecast_cashflow(horizon, g),
                             lambda res: gen == self._generation and self._loaded(res), self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.result = None
        self.status_label.setText(f"Not shown: {exc}")
        self.period_model.set_rows([])
        self.item_model.set_rows([])
        self.chart.show_forecast(None)
        self.app.show_error(exc)

    def _loaded(self, result: ForecastResult) -> None:
        self.result = result
        current = self.view.currentData()
        self.view.blockSignals(True)
        self.view.clear()
        self.view.addItem(f"Consolidated ({result.base_currency})", None)
        if len(result.by_currency) > 1:
            for cur in result.by_currency:
                self.view.addItem(f"All {cur} accounts ({cur})", f"cur:{cur}")
        for a in result.accounts:
            self.view.addItem(f"{a.name} ({a.currency})", a.id)
        idx = self.view.findData(current)
        self.view.setCurrentIndex(idx if idx >= 0 else 0)
        self.view.blockSignals(False)
        model = "calendar model + known items" if result.model_used else "known items only"
        self.status_label.setText(f"{result.start.isoformat()} … {result.end.isoformat()} · {len(result.rows)} "
                                  f"{result.granularity.value}s · {model} · {result.history_days} days of history")
        self.notes.setText("\n".join(result.notes))
        self.notes.setVisible(bool(result.notes))
        self._show_view()

    def selected_account(self) -> int | None:
        v = self.view.currentData()
        return int(v) if v is not None and not str(v).startswith("cur:") else None

    def selected_currency(self) -> str | None:
        v = self.view.currentData()
        return str(v)[4:] if v is not None and str(v).startswith("cur:") else None

    def _show_view(self) -> None:
        res = self.result
        if res is None:
            return
        acc, only = self.selected_account(), self.selected_currency()
        if only is not None:
            rows, cur, minimum = res.by_currency.get(only, []), only, None
            name = f"All {only} accounts"
        elif acc is None:
            rows, cur, minimum = res.rows, res.base_currency, None
            name = f"Consolidated, {cur}"
        else:
            info = next(a for a in res.accounts if a.id == acc)
            rows, cur, minimum = res.by_account.get(acc, []), info.currency, info.min_balance
            name = f"{info.name}, {cur}"
        self.period_model.set_rows(period_rows(rows, minimum))
        self.period_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.period_proxy.sort(-1)
        self.chart.apply_theme()
        band = Band(name, [r.last for r in rows], [r.closing_p10 for r in rows], [r.closing_p50 for r in rows],
                    [r.closing_p90 for r in rows])
        self.chart.show_forecast(band, title=f"Closing balance — {name} (end of each period)", buffer=minimum)
        if rows:
            low = min(rows, key=lambda r: r.closing_p10)
            self.opening_card.set_values(f"{rows[0].opening:,.0f}", f"{cur} on {res.start.isoformat()}")
            end = rows[-1]
            delta = end.closing_p50 - rows[0].opening
            self.ending_card.set_values(f"{end.closing_p50:,.0f}", f"{cur} · {delta:+,.0f} by {end.last.isoformat()}",
                                        "ok" if delta >= 0 else "warning")
            self.low_card.set_values(f"{low.closing_p10:,.0f}", f"{cur} in {low.period}",
                                     "danger" if minimum is not None and low.closing_p10 < minimum else "normal")
        else:
            for c in (self.opening_card, self.ending_card, self.low_card):
                c.set_values("—", "no accounts", "muted")
        currency_of = {a.id: a.currency for a in res.accounts}
        items = [i for i in res.items if (acc is None or i.account_id == acc)
                 and (only is None or currency_of[i.account_id] == only)]
        self.known_card.set_values(f"{len(items)}", f"{sum(1 for i in items if i.kind == 'recurring')} recurring, "
                                   f"{sum(1 for i in items if i.kind != 'recurring')} payments/open items")
        self.cards.reflow()
        if rows:
            self.period_table.selectRow(0)
        self._drill_down()

    def _drill_down(self) -> None:
        res = self.result
        if res is None:
            return
        sel = self.period_table.selectionModel().selectedRows()
        if not sel:
            self.item_model.set_rows([])
            return
        row = self.period_proxy.index(sel[0].row(), 0).data(ROW_ROLE)
        names = {a.id: (a.name, a.currency) for a in res.accounts}
        only = self.selected_currency()
        items = [i for i in res.items_on(row["_first"], row["_last"], self.selected_account())
                 if only is None or names[i.account_id][1] == only]
        self.item_model.set_rows([{"day": i.day.isoformat(), "account": names[i.account_id][0], "kind": i.kind,
                                   "label": i.label, "amount": i.amount, "currency": names[i.account_id][1]}
                                  for i in items])
        self.item_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.item_proxy.sort(-1)
