"""Risk panel: portfolio and risk-profile selectors, limits vs actual with headroom (breaches in
red), VaR/CVaR cards, concentration by dimension, historical and user-defined scenarios with a
P&L bar chart. Everything is computed through ``ui_ctx.workers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QSplitter, QVBoxLayout, QWidget)

from cio_desktop.domain.risk import Concentration
from cio_desktop.domain.scenarios import HISTORICAL_SCENARIOS, ScenarioResult, Shock
from cio_desktop.security.permissions import Permission
from cio_desktop.services.portfolio import PortfolioSummary
from cio_desktop.services.risk import PROFILES, RiskReport, RiskService, VarReport
from cio_desktop.ui.models.portfolio_models import Column, RowsModel, num, pct
from cio_desktop.ui.panels.accounts import KpiStrip
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.portfolio import TOPICS, make_table
from cio_desktop.ui.widgets.bar_chart import BarChart
from cio_desktop.ui.widgets.kpi_card import KpiCard

LIMIT_COLUMNS = [
    Column("dimension", "Limit"), Column("key", "On"),
    Column("limit", "Limit", pct, numeric=True), Column("actual", "Actual", pct, numeric=True),
    Column("headroom", "Headroom", pct, numeric=True, signed=True),
    Column("utilisation", "Used", lambda v: pct(v, 0), numeric=True),
    Column("status", "Status"),
]
CONC_COLUMNS = [
    Column("dimension", "Dimension"), Column("hhi", "HHI", lambda v: num(v, 3), numeric=True,
                                             tooltip="Herfindahl–Hirschman index, 0–1 scale"),
    Column("effective", "Effective number", lambda v: num(v, 1), numeric=True),
    Column("top_share", "Top-5 share", pct, numeric=True), Column("largest", "Largest"),
    Column("largest_share", "Largest share", pct, numeric=True),
]
SCENARIO_COLUMNS = [
    Column("name", "Scenario"), Column("pnl", "P&L (base)", num, numeric=True, signed=True),
    Column("pnl_pct", "P&L %", pct, numeric=True, signed=True),
    Column("worst", "Worst position"), Column("worst_pnl", "Its P&L", num, numeric=True, signed=True),
]


@dataclass
class RiskData:
    report: RiskReport
    var: VarReport
    concentration: dict[str, Concentration]
    scenarios: list[ScenarioResult]


def limit_rows(report: RiskReport) -> list[dict]:
    out = []
    for c in report.evaluation.checks:
        status = "BREACH" if c.breached else ("not determined" if not c.determined else "ok")
        out.append({"dimension": c.dimension.replace("_", " "), "key": c.key or "portfolio",
                    "limit": c.limit, "actual": c.actual, "headroom": c.headroom,
                    "utilisation": c.utilisation if c.determined else math.nan, "status": status,
                    "breached": c.breached,
                    "_tooltip": f"{'minimum' if c.kind == 'min' else 'maximum'} {pct(c.limit)}, actual {pct(c.actual)}"})
    out.sort(key=lambda r: (not r["breached"], -(r["utilisation"] if r["utilisation"] == r["utilisation"] else 0)))
    return out


def scenario_rows(results: list[ScenarioResult]) -> list[dict]:
    rows = []
    for s in results:
        worst = min(s.positions, key=lambda p: p.pnl, default=None)
        rows.append({"name": s.name, "pnl": s.total_pnl, "pnl_pct": s.total_pct,
                     "worst": worst.asset if worst else "", "worst_pnl": worst.pnl if worst else math.nan})
    return rows


class RiskPanel(Panel):
    NAME = "risk"
    TITLE = "Risk"
    PERMISSION = Permission.RISK_READ
    SHORTCUT = "Ctrl+5"
    TOPICS = TOPICS

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.data: RiskData | None = None
        self.custom: list[Shock] = []
        self._generation = 0

    @property
    def service(self) -> RiskService:
        return self.app.workspace.risk

    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        self.selector = QComboBox()
        self.selector.setObjectName("riskPortfolio")
        self.selector.setMinimumWidth(220)
        self.selector.currentIndexChanged.connect(lambda _i: self.load())
        self.profile = QComboBox()
        self.profile.setObjectName("riskProfile")
        for name in PROFILES:
            self.profile.addItem(name, name)
        self.profile.currentIndexChanged.connect(lambda _i: self.load())
        head, self.status_label = self.header_row(
            self.refresh, leading=[self.selector, QLabel("Profile"), self.profile], wrap_status=True)
        root.addLayout(head)

        self.score_card = KpiCard("Risk score", "…", "100 = at the tightest limit")
        self.var_card = KpiCard("VaR 95 % (1 day)", "…", "historical")
        self.pvar_card = KpiCard("Parametric / Monte Carlo", "…", "")
        self.cvar_card = KpiCard("CVaR 95 % (1 day)", "…", "expected shortfall")
        self.sharpe_card = KpiCard("Risk-adjusted return", "…", "Sharpe, 1 year")
        self.cards = KpiStrip()
        self.cards.set_cards([self.score_card, self.var_card, self.pvar_card, self.cvar_card, self.sharpe_card])
        root.addWidget(self.cards)

        self.limits_model = RowsModel(LIMIT_COLUMNS, self, row_flag=lambda r: r.get("breached", False))
        self.limits_table, self.limits_proxy = make_table("limitsTable", self.limits_model)
        limits_box = QGroupBox("Limits vs actual")
        lb = QVBoxLayout(limits_box)
        lb.addWidget(self.limits_table)
        self.conc_model = RowsModel(CONC_COLUMNS, self)
        self.conc_table, _ = make_table("concentrationTable", self.conc_model)
        self.conc_table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Interactive)
        self.conc_table.horizontalHeader().resizeSection(4, 200)
        conc_box = QGroupBox("Concentration")
        ccb = QVBoxLayout(conc_box)
        ccb.addWidget(self.conc_table)
        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(limits_box)
        upper.addWidget(conc_box)
        upper.setSizes([760, 640])
        upper.setChildrenCollapsible(False)

        scen_box = QGroupBox("Scenarios")
        sb = QVBoxLayout(scen_box)
        custom = QHBoxLayout()
        self.rates = self._spin(-500, 500, 100, " bp rates")
        self.equity = self._spin(-90, 90, -20, " % equity")
        self.fx = self._spin(-50, 50, -10, " % FX")
        self.spread = self._spin(-300, 1000, 100, " bp spreads")
        for w in (self.rates, self.equity, self.fx, self.spread):
            custom.addWidget(w)
        add = QPushButton("Add shock")
        add.setObjectName("addShock")
        add.clicked.connect(self.add_custom_shock)
        custom.addWidget(add)
        custom.addStretch(1)
        sb.addLayout(custom)
        self.scen_model = RowsModel(SCENARIO_COLUMNS, self)
        self.scen_table, self.scen_proxy = make_table("scenarioTable", self.scen_model)
        self.scen_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.scen_table.horizontalHeader().resizeSection(0, 320)
        self.pnl_chart = BarChart("Scenario P&L (base currency)")
        lower_split = QSplitter(Qt.Orientation.Horizontal)
        lower_split.addWidget(self.scen_table)
        lower_split.addWidget(self.pnl_chart)
        lower_split.setSizes([760, 640])
        lower_split.setChildrenCollapsible(False)
        sb.addWidget(lower_split, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(scen_box)
        split.setSizes([420, 380])
        split.setChildrenCollapsible(False)
        root.addWidget(split, 1)

        self._timer = self.debouncer(self.refresh, 150)
        theme = self.app.extra.get("theme")
        if theme is not None and hasattr(theme, "changed"):
            theme.changed.connect(lambda _n: self._draw_chart())
        self.refresh()

    @staticmethod
    def _spin(lo: float, hi: float, value: float, suffix: str) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(lo, hi)
        s.setDecimals(0)
        s.setValue(value)
        s.setSuffix(suffix)
        return s

    def on_changes(self, topic: str, data: dict) -> None:
        if self._built:
            self._timer.start()

    def refresh(self) -> None:
        svc = self.app.workspace.portfolio
        self.app.workers.run(svc.list_portfolios, self._portfolios_loaded, self._failed)

    def _portfolios_loaded(self, portfolios: list[PortfolioSummary]) -> None:
        current = self.current_id()
        self.selector.blockSignals(True)
        self.selector.clear()
        for p in portfolios:
            self.selector.addItem(f"{p.name} ({p.base_currency})", p.id)
        self.selector.setCurrentIndex(next((i for i, p in enumerate(portfolios) if p.id == current), 0))
        self.selector.blockSignals(False)
        if not portfolios:
            self.status_label.setText("No portfolios yet.")
            return
        self.load()

    def current_id(self) -> int | None:
        v = self.selector.currentData() if self._built else None
        return int(v) if v is not None else None

    def shocks(self) -> list[Shock]:
        return [*HISTORICAL_SCENARIOS.values(), *self.custom]

    def add_custom_shock(self) -> None:
        r, e, f, s = self.rates.value(), self.equity.value(), self.fx.value(), self.spread.value()
        name = f"custom: rates {r:+.0f} bp, equity {e:+.0f} %, FX {f:+.0f} %, spreads {s:+.0f} bp"
        self.custom.append(Shock(name=name, rates_bp=r, equity_pct=e / 100, fx_pct=f / 100, spread_bp=s))
        self.load()

    def load(self) -> None:
        pid = self.current_id()
        if pid is None:
            return
        self._generation += 1
        gen = self._generation
        svc, profile, shocks = self.service, self.profile.currentData(), self.shocks()
        self.status_label.setText("Computing…")

        def work() -> tuple[RiskData, float]:
            return (RiskData(svc.evaluate_portfolio_risk(pid, profile), svc.value_at_risk(pid),
                             svc.identify_concentration_risk(pid), svc.run_scenario_analysis(pid, shocks)),
                    svc.calculate_risk_adjusted_return(pid))

        self.app.workers.run(work, lambda res: gen == self._generation and self._show(*res), self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.data = None
        self.status_label.setText(f"Not shown: {exc}")
        for t in (self.limits_model, self.conc_model, self.scen_model):
            t.set_rows([])
        for c in (self.score_card, self.var_card, self.pvar_card, self.cvar_card, self.sharpe_card):
            c.set_values("—", state="muted")
        self.app.show_error(exc)

    def _show(self, data: RiskData, sharpe: float) -> None:
        self.data = data
        ev, v = data.report.evaluation, data.var
        cur = v.base_currency
        n = len(ev.breaches)
        self.score_card.set_values(f"{ev.score:.0f}" if ev.score <= 999 else "> 999", "compliant" if ev.compliant else
                                   f"{n} breach{'es' if n != 1 else ''}" + (f", {len(ev.undetermined)} not determined"
                                                                          if ev.undetermined else ""),
                                   "ok" if ev.compliant else "danger")
        self.var_card.set_values(pct(v.historical), f"{cur} {v.amount(v.historical):,.0f} on {cur} {v.value:,.0f}",
                                 "warning" if n else "normal")
        self.pvar_card.set_values(f"{pct(v.parametric)} / {pct(v.monte_carlo)}", f"{v.observations} daily returns")
        self.cvar_card.set_values(pct(v.cvar), f"{cur} {v.amount(v.cvar):,.0f}")
        self.sharpe_card.set_values(num(sharpe))
        self.cards.reflow()
        self.limits_model.set_rows(limit_rows(data.report))
        self.limits_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.limits_proxy.sort(-1)  # breaches first, then by utilisation (the service order)
        self.conc_model.set_rows([{"dimension": k.replace("_", " "), "hhi": c.hhi, "effective": c.effective_number,
                                   "top_share": c.top_n_share, "largest": c.shares[0][0] if c.shares else "",
                                   "largest_share": c.shares[0][1] if c.shares else math.nan}
                                  for k, c in data.concentration.items()])
        self.scen_model.set_rows(scenario_rows(data.scenarios))
        self.scen_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.scen_proxy.sort(-1)
        self.status_label.setText(f"{data.report.profile.name} · valued {data.report.as_of} · VaR/CVaR one day, "
                                  "last 365 days, buy-and-hold at today's quantities")
        self._draw_chart()

    def _draw_chart(self) -> None:
        if self.data is None:
            return
        self.pnl_chart.apply_theme()
        names = [s.name if len(s.name) <= 32 else s.name[:30] + "…" for s in self.data.scenarios]
        self.pnl_chart.set_data(names, [s.total_pnl for s in self.data.scenarios])
