"""Portfolio panel: portfolio selector, metric cards, holdings table (sortable, filterable),
allocation by asset class and currency, performance vs benchmark, contribution table; and the
Rebalancing view as a second tab.

Benchmark: the portfolio's own assets **equally weighted, rebalanced daily**, in base currency
(the service's ``"equal_weight"``): it shows whether the chosen weights beat naive
diversification. Values are buy-and-hold at today's quantities (see services.portfolio).
Every load runs through ``ui_ctx.workers`` (never on the GUI thread).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QGroupBox, QHeaderView, QLabel, QLineEdit,
                               QSplitter, QTableView, QTabWidget, QVBoxLayout, QWidget)

from cio_desktop.security.permissions import Permission
from cio_desktop.services.portfolio import (EQUAL_WEIGHT, MetricsReport, PerformanceReport, PortfolioService,
                                            PortfolioSummary, Valuation, ValueSeries)
from cio_desktop.ui.models.portfolio_models import Column, RowsModel, RowsProxy, num, pct
from cio_desktop.ui.panels.accounts import KpiStrip
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.widgets.balance_chart import BalanceChart, Series
from cio_desktop.ui.widgets.bar_chart import BarChart
from cio_desktop.ui.widgets.format import format_date
from cio_desktop.ui.widgets.kpi_card import KpiCard

REFRESH_DELAY_MS = 150
TOPICS = ("portfolio.changed", "prices.changed")


HOLDING_COLUMNS = [
    Column("identifier", "Identifier"), Column("name", "Name"), Column("asset_class", "Class"),
    Column("sector", "Sector"), Column("country", "Country"), Column("currency", "Ccy"),
    Column("quantity", "Quantity", lambda v: num(v, 3), numeric=True),
    Column("price", "Last price", lambda v: num(v, 4), numeric=True),
    Column("price_date", "Price date", format_date),
    Column("value_local", "Value (local)", num, numeric=True),
    Column("value_base", "Value (base)", num, numeric=True),
    Column("weight", "Weight", pct, numeric=True),
    Column("cost", "Cost (local)", num, numeric=True),
    Column("pnl", "Unrealised P&L", num, numeric=True, signed=True),
    Column("pnl_pct", "P&L %", pct, numeric=True, signed=True),
]
CONTRIB_COLUMNS = [
    Column("identifier", "Identifier"), Column("name", "Name"),
    Column("contribution", "Contribution", lambda v: pct(v, 3), numeric=True, signed=True,
           tooltip="Daily weight × return, linked over the period (Cariño); the column sums to the "
                   "portfolio return"),
    Column("asset_return", "Return (base)", pct, numeric=True, signed=True),
    Column("weight_start", "Weight at start", pct, numeric=True),
]


@dataclass
class Overview:
    valuation: Valuation
    metrics: MetricsReport
    series: ValueSeries
    benchmark: np.ndarray
    performance: PerformanceReport


def make_table(name: str, model: RowsModel, *, sortable: bool = True) -> tuple[QTableView, RowsProxy]:
    proxy = RowsProxy(model)
    proxy.setSourceModel(model)
    table = QTableView()
    table.setObjectName(name)
    table.setModel(proxy)
    table.setSortingEnabled(sortable)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(26)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(False)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
    return table, proxy


def holding_rows(val: Valuation) -> list[dict]:
    return [{"identifier": h.identifier, "name": h.asset.name, "asset_class": h.asset.asset_class,
             "sector": h.asset.sector, "country": h.asset.country, "currency": h.asset.currency,
             "quantity": float(h.quantity), "price": float(h.price), "price_date": h.price_date,
             "value_local": float(h.value_local.amount), "value_base": float(h.value_base.amount),
             "weight": h.weight, "cost": float(h.cost.amount), "pnl": float(h.unrealised_pnl.amount),
             "pnl_pct": h.unrealised_pct} for h in val.holdings]


def allocation(val: Valuation, key: str) -> list[tuple[str, float]]:
    out: dict[str, float] = {}
    for h in val.holdings:
        k = getattr(h.asset, key) or "(not set)"
        out[k] = out.get(k, 0.0) + h.weight
    return sorted(out.items(), key=lambda kv: -kv[1])


class PortfolioPanel(Panel):
    NAME = "portfolio"
    TITLE = "Portfolio"
    PERMISSION = Permission.PORTFOLIO_READ
    SHORTCUT = "Ctrl+4"
    TOPICS = TOPICS

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.portfolios: list[PortfolioSummary] = []
        self.overview: Overview | None = None
        self.error: str = ""
        self._generation = 0

    @property
    def service(self) -> PortfolioService:
        return self.app.workspace.portfolio

    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        self.selector = QComboBox()
        self.selector.setObjectName("portfolioSelector")
        self.selector.setMinimumWidth(220)
        self.selector.currentIndexChanged.connect(lambda _i: self.load())
        head, self.status_label = self.header_row(self.refresh, leading=[self.selector], wrap_status=True)
        root.addLayout(head)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("portfolioTabs")
        root.addWidget(self.tabs, 1)
        overview = QWidget()
        ov = QVBoxLayout(overview)
        ov.setContentsMargins(0, 10, 0, 0)
        ov.setSpacing(10)
        self.value_card = KpiCard("Value", "…", "")
        self.return_card = KpiCard("1-year return", "…", "buy-and-hold, today's quantities")
        self.vol_card = KpiCard("Volatility", "…", "annualised, daily returns")
        self.sharpe_card = KpiCard("Sharpe ratio", "…", "annualised, risk-free 0")
        self.dd_card = KpiCard("Max drawdown", "…", "over the year")
        self.cards = KpiStrip()
        self.cards.set_cards([self.value_card, self.return_card, self.vol_card, self.sharpe_card, self.dd_card])
        ov.addWidget(self.cards)

        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("holdingsFilter")
        self.filter_edit.setPlaceholderText("Filter holdings by name, identifier, class, sector, country, currency…")
        self.filter_edit.setClearButtonEnabled(True)
        self.holdings_model = RowsModel(HOLDING_COLUMNS, self)
        self.holdings_table, self.holdings_proxy = make_table("holdingsTable", self.holdings_model)
        self.holdings_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.holdings_table.horizontalHeader().resizeSection(1, 260)
        self.filter_edit.textChanged.connect(self.holdings_proxy.setFilterFixedString)
        holdings_box = QWidget()
        hb = QVBoxLayout(holdings_box)
        hb.setContentsMargins(0, 0, 0, 0)
        hb.addWidget(self.filter_edit)
        hb.addWidget(self.holdings_table, 1)

        self.class_chart = BarChart("Allocation by asset class", percent=True)
        self.currency_chart = BarChart("Allocation by currency", percent=True)
        self.perf_chart = BalanceChart()
        self.contrib_model = RowsModel(CONTRIB_COLUMNS, self)
        self.contrib_table, self.contrib_proxy = make_table("contributionTable", self.contrib_model)
        self.contrib_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.contrib_table.horizontalHeader().resizeSection(1, 150)
        self.contrib_label = QLabel("")
        self.contrib_label.setProperty("hint", True)

        alloc = QWidget()
        al = QVBoxLayout(alloc)
        al.setContentsMargins(0, 0, 0, 0)
        al.addWidget(self.class_chart, 3)
        al.addWidget(self.currency_chart, 2)
        perf_box = QGroupBox("Performance vs benchmark (indexed to 100)")
        pb = QVBoxLayout(perf_box)
        pb.addWidget(self.perf_chart)
        contrib_box = QGroupBox("Contribution to return")
        cb = QVBoxLayout(contrib_box)
        cb.addWidget(self.contrib_table, 1)
        cb.addWidget(self.contrib_label)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(alloc)
        lower.addWidget(perf_box)
        lower.addWidget(contrib_box)
        lower.setSizes([330, 560, 520])
        lower.setChildrenCollapsible(False)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(holdings_box)
        split.addWidget(lower)
        split.setSizes([380, 420])
        split.setChildrenCollapsible(False)
        ov.addWidget(split, 1)
        self.tabs.addTab(overview, "Overview")

        from cio_desktop.ui.panels.rebalancing import RebalancingView
        self.rebalancing = RebalancingView(self.app, self)
        self.tabs.addTab(self.rebalancing, "Rebalancing")

        self._timer = self.debouncer(self.refresh, REFRESH_DELAY_MS)
        theme = self.app.extra.get("theme")
        if theme is not None and hasattr(theme, "changed"):
            theme.changed.connect(lambda _n: self._redraw())
        self.refresh()

    # -- loading ----------------------------------------------------------------------------
    def on_changes(self, topic: str, data: dict) -> None:
        if self._built:
            self._timer.start()

    def refresh(self) -> None:
        svc = self.service
        self.status_label.setText("Loading…")
        self.app.workers.run(svc.list_portfolios, self._portfolios_loaded, self._failed)

    def _portfolios_loaded(self, portfolios: list[PortfolioSummary]) -> None:
        current = self.current_id()
        self.portfolios = portfolios
        self.selector.blockSignals(True)
        self.selector.clear()
        for p in portfolios:
            self.selector.addItem(f"{p.name} ({p.base_currency})", p.id)
        idx = next((i for i, p in enumerate(portfolios) if p.id == current), 0)
        self.selector.setCurrentIndex(idx)
        self.selector.blockSignals(False)
        self.rebalancing.set_portfolios(portfolios)
        if not portfolios:
            self.status_label.setText("No portfolios yet.")
            return
        self.load()

    def current_id(self) -> int | None:
        v = self.selector.currentData() if self._built else None
        return int(v) if v is not None else None

    def load(self) -> None:
        pid = self.current_id()
        if pid is None:
            return
        self._generation += 1
        gen = self._generation
        svc = self.service
        self.status_label.setText("Loading…")

        def work() -> Overview:
            series = svc.value_series(pid)
            return Overview(svc.valuation(pid), svc.metrics(pid, benchmark=EQUAL_WEIGHT), series,
                            svc.benchmark_returns(series, EQUAL_WEIGHT), svc.track_asset_performance(pid))

        self.app.workers.run(work, lambda ov: gen == self._generation and self._show(ov), self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.error = str(exc)
        self.overview = None
        self.status_label.setText(f"Not shown: {exc}")
        for card in (self.value_card, self.return_card, self.vol_card, self.sharpe_card, self.dd_card):
            card.set_values("—", state="muted")
        self.holdings_model.set_rows([])
        self.contrib_model.set_rows([])
        self.app.show_error(exc)

    def _show(self, ov: Overview) -> None:
        self.error = ""
        self.overview = ov
        val, m = ov.valuation, ov.metrics.values
        base = val.portfolio.base_currency
        self.value_card.set_values(f"{base} {float(val.total.amount):,.0f}",
                                   f"{len(val.holdings)} holdings at {format_date(val.as_of)}", "normal")
        r = m["cumulative_return"]
        self.return_card.set_values(pct(r), f"{format_date(ov.metrics.start)} → {format_date(ov.metrics.end)}",
                                    "ok" if r >= 0 else "danger")
        self.vol_card.set_values(pct(m["annual_volatility"]), state="normal")
        self.sharpe_card.set_values(num(m["sharpe_ratio"]), state="normal")
        self.dd_card.set_values(pct(m["max_drawdown"]), state="warning" if m["max_drawdown"] < -0.1 else "normal")
        self.cards.reflow()
        self.holdings_model.set_rows(holding_rows(val))
        self.holdings_table.sortByColumn(self.holdings_model.column_of("weight"), Qt.SortOrder.DescendingOrder)
        rows = [{"identifier": a.asset.identifier, "name": a.asset.name, "asset_class": a.asset.asset_class,
                 "weight_start": a.weight_start, "asset_return": a.asset_return, "contribution": a.contribution}
                for a in ov.performance.rows]
        self.contrib_model.set_rows(rows)
        self.contrib_table.sortByColumn(self.contrib_model.column_of("contribution"), Qt.SortOrder.DescendingOrder)
        self.contrib_label.setText(f"Sum of contributions = portfolio return {pct(ov.performance.portfolio_return, 3)}")
        self.status_label.setText(f"{val.portfolio.name}: values in {base}; history is buy-and-hold at today's "
                                  "quantities")
        self._redraw()
        if getattr(self.rebalancing, "loaded_for", None) != val.portfolio.id or not self.rebalancing.editor.rowCount():
            self.rebalancing.loaded_for = val.portfolio.id
            self.rebalancing.load_targets()

    def _redraw(self) -> None:
        ov = self.overview
        if ov is None or not self._built:
            return
        for chart in (self.class_chart, self.currency_chart, self.perf_chart):
            if hasattr(chart, "apply_theme"):
                chart.apply_theme()
        by_class = allocation(ov.valuation, "asset_class")
        self.class_chart.set_data([k.replace("_", " ") for k, _ in by_class], [w for _, w in by_class])
        by_cur = allocation(ov.valuation, "currency")
        self.currency_chart.set_data([k for k, _ in by_cur], [w for _, w in by_cur])
        total = ov.series.total
        port = list(100.0 * total / total[0])
        bench = [100.0, *list(100.0 * np.cumprod(1.0 + ov.benchmark))]
        m = ov.metrics.values
        self.perf_chart.set_series(
            [Series("Portfolio", list(ov.series.dates), port, "index"),
             Series("Equal-weight benchmark", list(ov.series.dates), bench, "index")],
            title=f"Beta {num(m.get('beta', math.nan))} · alpha {pct(m.get('alpha', math.nan))} · "
                  f"tracking error {pct(m.get('tracking_error', math.nan))}")
