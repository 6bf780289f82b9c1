"""Market panel: the watch list (add, remove, fetch now), a price chart with indicators
(SMA 50/200, Bollinger bands) and the asset's analysis readings, FX reference rates with their
age, and the providers' status and cache. Service calls run in the worker pool."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from cio_desktop.domain import technical as tech
from cio_desktop.domain.analysis import InvestmentAnalysis
from cio_desktop.security.permissions import Permission
from cio_desktop.services.market import FetchReport, MarketService
from cio_desktop.ui.dialogs.common import confirm
from cio_desktop.ui.models.portfolio_models import ROW_ROLE, Column, RowsModel, num, pct
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.portfolio import make_table
from cio_desktop.ui.widgets.balance_chart import BalanceChart, Series
from cio_desktop.ui.widgets.format import format_date

TOPICS = ("market.updated", "market.watchlist_changed", "market.providers_changed", "prices.changed")


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "never fetched"
    s = int(seconds)
    return f"{s // 60} min" if s < 3600 else f"{s // 3600} h" if s < 172800 else f"{s // 86400} days"


WATCH_COLUMNS = [
    Column("symbol", "Symbol"), Column("provider", "Provider"), Column("identifier", "Asset"), Column("name", "Name"),
    Column("currency", "Ccy"), Column("last_close", "Last close", lambda v: num(v, 4), numeric=True),
    Column("last_date", "Date", format_date), Column("change", "1 day", pct, numeric=True, signed=True),
    Column("age", "Cache age", age_text, numeric=True),
]
READING_COLUMNS = [Column("section", "Section"), Column("label", "Reading"), Column("text", "Value"),
                   Column("signal", "Signal"), Column("as_of", "Data date", format_date)]
FX_COLUMNS = [Column("pair", "Pair"), Column("rate", "Rate", lambda v: num(v, 4), numeric=True),
              Column("date", "Date", format_date), Column("age", "Age (days)", lambda v: f"{v}", numeric=True)]
PROVIDER_COLUMNS = [Column("name", "Provider"), Column("kind", "Kind"), Column("enabled", "On"),
                    Column("key", "API key"), Column("ttl", "Time-to-live"), Column("last", "Last success"),
                    Column("error", "Last problem")]


@dataclass
class MarketData:
    watch: list
    fx: list
    providers: list
    assets: list[tuple[str, str]]


def reading_rows(a: InvestmentAnalysis) -> list[dict]:
    return [{"section": s, "label": r.label, "text": r.text(), "signal": r.signal, "as_of": r.as_of,
             "_tooltip": r.reason or r.detail, "unavailable": not r.available}
            for s, rs in a.sections.items() for r in rs]


class MarketPanel(Panel):
    NAME = "market"
    TITLE = "Market"
    PERMISSION = Permission.MARKET_READ
    SHORTCUT = "Ctrl+Shift+M"
    TOPICS = TOPICS

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.data: MarketData | None = None
        self.analysis: InvestmentAnalysis | None = None
        self.last_fetch: FetchReport | None = None
        self.confirm = confirm

    @property
    def service(self) -> MarketService:
        return self.app.workspace.market

    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        self.fetch_button = QPushButton("Fetch now")
        self.fetch_button.setObjectName("marketFetch")
        self.fetch_button.setToolTip("Refresh the watch list and FX rates; data within its time-to-live comes "
                                     "from the cache")
        self.fetch_button.clicked.connect(self.fetch)
        head, self.status_label = self.header_row(None, trailing=[self.fetch_button], wrap_status=True)
        root.addLayout(head)

        # watch list with add/remove
        watch_box = QGroupBox("Watch list")
        wb = QVBoxLayout(watch_box)
        add = QHBoxLayout()
        self.symbol_edit = QLineEdit()
        self.symbol_edit.setObjectName("watchSymbol")
        self.symbol_edit.setPlaceholderText("Symbol, e.g. sap.de or IBM")
        self.provider_combo = QComboBox()
        self.provider_combo.setObjectName("watchProvider")
        self.add_button = QPushButton("Add")
        self.add_button.setObjectName("watchAdd")
        self.add_button.clicked.connect(self.add_symbol)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("watchRemove")
        self.remove_button.clicked.connect(self.remove_symbol)
        for w in (self.symbol_edit, self.provider_combo, self.add_button, self.remove_button):
            add.addWidget(w)
        wb.addLayout(add)
        self.watch_model = RowsModel(WATCH_COLUMNS, self)
        self.watch_table, self.watch_proxy = make_table("watchTable", self.watch_model)
        self.watch_table.selectionModel().selectionChanged.connect(lambda *_: self._watch_selected())
        self.watch_filter = QLineEdit()
        self.watch_filter.setPlaceholderText("Filter…")
        self.watch_filter.textChanged.connect(self.watch_proxy.setFilterFixedString)
        wb.addWidget(self.watch_filter)
        wb.addWidget(self.watch_table, 1)

        # FX + providers (tabs)
        tabs = QTabWidget()
        self.fx_model = RowsModel(FX_COLUMNS, self, row_flag=lambda r: r.get("age", 0) > 5)
        self.fx_table, self.fx_proxy = make_table("fxTable", self.fx_model)
        tabs.addTab(self.fx_table, "FX rates (ECB reference)")
        self.provider_model = RowsModel(PROVIDER_COLUMNS, self, row_flag=lambda r: bool(r.get("error")))
        self.provider_table, _ = make_table("providerTable", self.provider_model)
        tabs.addTab(self.provider_table, "Providers and cache")
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(watch_box)
        left.addWidget(tabs)
        left.setSizes([480, 320])
        left.setChildrenCollapsible(False)

        # chart + readings
        right_box = QGroupBox("Price and indicators")
        rb = QVBoxLayout(right_box)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Asset"))
        self.asset_combo = QComboBox()
        self.asset_combo.setObjectName("chartAsset")
        self.asset_combo.setMinimumWidth(320)
        self.asset_combo.currentIndexChanged.connect(lambda _i: self.load_asset())
        pick.addWidget(self.asset_combo, 1)
        rb.addLayout(pick)
        self.chart = BalanceChart()
        self.chart.empty_label.setText("No closes stored for this asset.")
        self.readings_model = RowsModel(READING_COLUMNS, self)
        self.readings_table, self.readings_proxy = make_table("readingsTable", self.readings_model)
        chart_box = QWidget()
        cb = QVBoxLayout(chart_box)
        cb.setContentsMargins(0, 0, 0, 0)
        cb.addWidget(self.chart, 1)
        header = self.readings_table.horizontalHeader()
        for col, width in ((0, 90), (1, 190), (2, 330), (3, 100)):
            header.setSectionResizeMode(col, header.ResizeMode.Interactive)
            header.resizeSection(col, width)
        inner = QSplitter(Qt.Orientation.Vertical)
        inner.addWidget(chart_box)
        inner.addWidget(self.readings_table)
        inner.setSizes([420, 360])
        inner.setChildrenCollapsible(False)
        rb.addWidget(inner, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right_box)
        split.setSizes([640, 760])
        split.setChildrenCollapsible(False)
        root.addWidget(split, 1)
        self._timer = self.debouncer(self.refresh, 150)
        self.refresh()

    def on_changes(self, topic: str, data: dict) -> None:
        if self._built:
            self._timer.start()

    # -- loading -----------------------------------------------------------------------------
    def refresh(self) -> None:
        svc = self.service

        def work() -> MarketData:
            from sqlalchemy import select

            from cio_desktop.storage.models import Asset, Price

            watch, fx, providers = svc.watchlist(), svc.fx_rates(), svc.providers()
            with svc.ctx.db.unit_of_work(write=False) as uow:
                ids = set(uow.execute(select(Price.asset_id).distinct()).scalars())
                assets = [(a.identifier, a.name) for a in uow.execute(select(Asset).order_by(Asset.name)).scalars()
                          if a.id in ids]
            return MarketData(watch, fx, providers, assets)

        self.app.workers.run(work, self._show, self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.status_label.setText(f"Not shown: {exc}")
        self.app.show_error(exc)

    def _show(self, data: MarketData) -> None:
        self.data = data
        now = self.service.ctx.now()
        self._fill_watch(data)
        self.fx_model.set_rows([{"pair": f"{f.base}/{f.quote}", "rate": float(f.rate), "date": f.rate_date,
                                 "age": f.age_days} for f in data.fx])
        self._fill_providers(data, now)
        self._fill_combos(data)
        newest = max((f.rate_date for f in data.fx), default=None)
        fx_text = f"FX rates of {newest}" if newest else "no FX rates stored"
        problems = [p for p in data.providers if p.last_error]
        self.status_label.setText(f"{len(data.watch)} watched symbol(s) · {fx_text}"
                                  + (f" · {len(problems)} provider problem(s): cached data shown" if problems else ""))
        self.load_asset()

    def _fill_watch(self, data: MarketData) -> None:
        self.watch_model.set_rows([{"id": w.id, "symbol": w.symbol, "provider": w.provider, "identifier": w.identifier,
                                    "name": w.name, "currency": w.currency,
                                    "last_close": float(w.last_close) if w.last_close is not None else None,
                                    "last_date": w.last_date, "change": w.change_1d,
                                    "age": w.cache_age.total_seconds() if w.cache_age is not None else None}
                                   for w in data.watch])

    def _fill_providers(self, data: MarketData, now: Any) -> None:
        self.provider_model.set_rows([{"name": p.name, "kind": p.kind, "enabled": "yes" if p.enabled else "no",
                                       "key": "stored" if p.has_api_key else ("needed" if p.kind == "alphavantage"
                                                                              else "—"),
                                       "ttl": f"{p.ttl_seconds // 3600} h" if p.ttl_seconds >= 3600 else
                                       f"{p.ttl_seconds // 60} min",
                                       "last": (age_text((now - p.last_success_at).total_seconds()) + " ago")
                                       if p.last_success_at else "never", "error": p.last_error,
                                       "_tooltip": p.last_error or p.base_url} for p in data.providers])

    def _fill_combos(self, data: MarketData) -> None:
        current = self.asset_combo.currentData()
        self.provider_combo.clear()
        for p in data.providers:
            if p.kind != "ecb":
                self.provider_combo.addItem(p.name, p.name)
        self.asset_combo.blockSignals(True)
        self.asset_combo.clear()
        for ident, name in data.assets:
            self.asset_combo.addItem(f"{name} ({ident})", ident)
        idx = self.asset_combo.findData(current) if current else 0
        self.asset_combo.setCurrentIndex(max(idx, 0))
        self.asset_combo.blockSignals(False)

    def _watch_selected(self) -> None:
        row = self.selected_watch()
        if row and row["identifier"]:
            idx = self.asset_combo.findData(row["identifier"])
            if idx >= 0:
                self.asset_combo.setCurrentIndex(idx)

    def selected_watch(self) -> dict | None:
        rows = self.watch_table.selectionModel().selectedRows()
        return rows[0].data(ROW_ROLE) if rows else None

    def load_asset(self) -> None:
        ident = self.asset_combo.currentData()
        if not ident:
            self.chart.set_series([], title="")
            self.readings_model.set_rows([])
            return
        svc = self.service

        def work() -> tuple[InvestmentAnalysis, list[date], list[float]]:
            dates, closes = svc.price_history(ident, days=400)
            return svc.analyze_investment(ident), dates, closes

        self.app.workers.run(work, lambda res: self._show_asset(ident, *res), self._failed)

    def _show_asset(self, ident: str, analysis: InvestmentAnalysis, dates: list[date], closes: list[float]) -> None:
        if ident != self.asset_combo.currentData():
            return
        self.analysis = analysis
        x = np.asarray(closes, dtype=float)
        series = [Series("Close", dates, list(x), "")]
        for label, arr in (("SMA 50", tech.sma(x, tech.SHORT)), ("SMA 200", tech.sma(x, tech.LONG))):
            ok = ~np.isnan(arr)
            if ok.any():
                series.append(Series(label, [d for d, k in zip(dates, ok) if k], list(arr[ok]), ""))
        lo, _mid, hi = tech.bollinger(x)
        ok = ~np.isnan(lo)
        if ok.any():
            series.append(Series("Bollinger upper", [d for d, k in zip(dates, ok) if k], list(hi[ok]), ""))
            series.append(Series("Bollinger lower", [d for d, k in zip(dates, ok) if k], list(lo[ok]), ""))
        self.chart.set_series(series, title=f"{analysis.name} — overall {analysis.overall.text()}")
        self.readings_model.set_rows(reading_rows(analysis))
        self.readings_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.readings_proxy.sort(-1)  # the analysis' own order: data, technical, fundamental, summary

    # -- actions -----------------------------------------------------------------------------
    def fetch(self) -> None:
        self.fetch_button.setEnabled(False)
        self.status_label.setText("Fetching…")
        svc = self.service

        def done(report: FetchReport) -> None:
            self.fetch_button.setEnabled(True)
            self.last_fetch = report
            problems = report.problems()
            self.refresh()
            text = (f"Fetched: {report.prices_written} price(s), {report.fx_written} FX rate(s)."
                    + (" " + " · ".join(o.describe() for o in problems) if problems else ""))
            QTimer.singleShot(0, lambda: self.status_label.setText(text))

        def failed(exc: BaseException) -> None:
            self.fetch_button.setEnabled(True)
            self._failed(exc)

        self.app.workers.run(lambda: svc.fetch_market_data(), done, failed)

    def add_symbol(self) -> None:
        symbol, provider = self.symbol_edit.text().strip(), self.provider_combo.currentData()
        if not symbol or not provider:
            self.status_label.setText("Enter a symbol and choose a provider.")
            return
        svc = self.service

        def done(_view: Any) -> None:
            self.symbol_edit.clear()
            self.refresh()

        self.app.workers.run(lambda: svc.watch(symbol, provider), done, self._failed)

    def remove_symbol(self) -> None:
        row = self.selected_watch()
        if row is None:
            self.status_label.setText("Select a symbol to remove.")
            return
        if not self.confirm(self, "Remove from the watch list",
                            f"Stop watching {row['symbol']} at {row['provider']}? Its stored prices stay.", "Remove"):
            return
        svc = self.service
        self.app.workers.run(lambda: svc.unwatch(row["id"]), lambda _r: self.refresh(), self._failed)
