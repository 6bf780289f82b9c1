"""Rebalancing view (a tab of the Portfolio panel): target editor by asset class or by asset →
trade list with transaction cost and estimated market impact → CSV export.

Targets start at the current weights; the sum is shown live and a plan is only requested when the
service accepts the targets (its message names the asset or class otherwise). The proposal and
the impact estimate run through ``ui_ctx.workers``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from cio_desktop.domain.market_impact import ImpactSummary
from cio_desktop.services.portfolio import PortfolioSummary, RebalanceProposal, plan_table
from cio_desktop.ui.models.portfolio_models import Column, RowsModel, num, pct

TRADE_COLUMNS = [
    Column("identifier", "Identifier"), Column("name", "Name"), Column("side", "Side"),
    Column("quantity", "Quantity", lambda v: num(v, 3), numeric=True, signed=True),
    Column("price", "Price (base)", lambda v: num(v, 4), numeric=True),
    Column("value", "Value (base)", num, numeric=True, signed=True),
    Column("cost", "Transaction cost", num, numeric=True),
    Column("impact", "Market impact", num, numeric=True,
           tooltip="Half spread + square-root impact (k = 1) on a class ADV proxy"),
    Column("participation", "% of ADV", pct, numeric=True),
    Column("weight_before", "Weight before", pct, numeric=True),
    Column("weight_after", "Weight after", pct, numeric=True),
    Column("target", "Target", pct, numeric=True),
]


class RebalancingView(QWidget):
    def __init__(self, app: Any, panel: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app, self.panel = app, panel
        self.setObjectName("rebalancingView")
        self.portfolios: list[PortfolioSummary] = []
        self.proposal: RebalanceProposal | None = None
        self.impact: ImpactSummary | None = None
        self.accepted: Any = None          # the last accepted plan (services.compliance.AcceptedPlan)
        self.current_weights: dict[str, dict[str, tuple[str, float]]] = {}
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 10, 0, 0)
        root.setSpacing(10)

        top = QHBoxLayout()
        editor_box = QGroupBox("Targets")
        ed = QVBoxLayout(editor_box)
        mode_row = QHBoxLayout()
        mode_row.addWidget(QLabel("Rebalance by"))
        self.mode = QComboBox()
        self.mode.setObjectName("rebalanceMode")
        self.mode.addItem("Asset class", "asset_class")
        self.mode.addItem("Asset", "asset")
        self.mode.currentIndexChanged.connect(lambda _i: self.load_targets())
        mode_row.addWidget(self.mode)
        mode_row.addStretch(1)
        self.reset_button = QPushButton("Reset to current")
        self.reset_button.clicked.connect(self.load_targets)
        mode_row.addWidget(self.reset_button)
        ed.addLayout(mode_row)
        self.editor = QTableWidget(0, 3)
        self.editor.setObjectName("targetEditor")
        self.editor.setHorizontalHeaderLabels(["Asset / class", "Current", "Target %"])
        self.editor.verticalHeader().hide()
        self.editor.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.editor.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.editor.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.editor.itemChanged.connect(lambda _i: self._update_sum())
        ed.addWidget(self.editor, 1)
        self.sum_label = QLabel("")
        ed.addWidget(self.sum_label)
        top.addWidget(editor_box, 3)

        cons_box = QGroupBox("Constraints")
        form = QFormLayout(cons_box)
        self.cost_bps = self._spin(0, 500, 5.0, 1, " bp")
        self.min_trade = self._spin(0, 10_000_000, 1_000.0, 0, "")
        self.min_trade.setSingleStep(1000)
        self.tolerance = self._spin(0, 20, 0.5, 2, " %")
        self.cash_buffer = self._spin(0, 50, 0.0, 2, " %")
        form.addRow("Transaction cost", self.cost_bps)
        form.addRow("Minimum trade (base)", self.min_trade)
        form.addRow("Tolerance band", self.tolerance)
        form.addRow("Cash buffer", self.cash_buffer)
        note = QLabel("No shorting; lots: shares 1, bonds 1,000 nominal. Impact uses an ADV proxy per "
                      "asset class (no volumes are stored).")
        note.setProperty("hint", True)
        note.setWordWrap(True)
        form.addRow(note)
        self.propose_button = QPushButton("Propose trades")
        self.propose_button.setObjectName("proposeTrades")
        self.propose_button.setProperty("primary", True)
        self.propose_button.clicked.connect(self.propose)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setObjectName("exportRebalancing")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_clicked)
        self.accept_button = QPushButton("Accept plan…")  # compliance-checked, recorded (issue 6)
        self.accept_button.setObjectName("acceptRebalancing")
        self.accept_button.setToolTip("Check the plan against the compliance rules and record it as accepted")
        self.accept_button.setEnabled(False)
        self.accept_button.clicked.connect(self._accept_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.propose_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.accept_button)
        form.addRow(buttons)
        top.addWidget(cons_box, 2)

        self.trades_model = RowsModel(TRADE_COLUMNS, self, row_flag=lambda r: r.get("large", False))
        from cio_desktop.ui.panels.portfolio import make_table
        self.trades_table, self.trades_proxy = make_table("tradesTable", self.trades_model)
        self.trades_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.trades_table.horizontalHeader().resizeSection(1, 260)
        self.summary_label = QLabel("Edit the targets and propose trades.")
        self.summary_label.setObjectName("rebalanceSummary")
        self.summary_label.setWordWrap(True)
        trades_box = QGroupBox("Trades")
        tb = QVBoxLayout(trades_box)
        tb.addWidget(self.summary_label)
        tb.addWidget(self.trades_table, 1)
        top_w = QWidget()
        top_w.setLayout(top)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top_w)
        split.addWidget(trades_box)
        split.setSizes([330, 470])
        split.setChildrenCollapsible(False)
        root.addWidget(split, 1)

    @staticmethod
    def _spin(lo: float, hi: float, value: float, decimals: int, suffix: str) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(lo, hi)
        s.setDecimals(decimals)
        s.setValue(value)
        s.setSuffix(suffix)
        s.setGroupSeparatorShown(True)
        return s

    # -- targets ----------------------------------------------------------------------------
    def set_portfolios(self, portfolios: list[PortfolioSummary]) -> None:
        self.portfolios = portfolios

    def portfolio_id(self) -> int | None:
        return self.panel.current_id()

    def load_targets(self) -> None:
        """Fill the editor with the current weights (from the panel's loaded valuation)."""
        ov = self.panel.overview
        self.proposal, self.impact = None, None
        self.export_button.setEnabled(False)
        self.trades_model.set_rows([])
        self.editor.blockSignals(True)
        self.editor.setRowCount(0)
        if ov is not None:
            by = self.mode.currentData()
            rows: dict[str, tuple[str, float]] = {}
            for h in ov.valuation.holdings:
                if by == "asset":
                    rows[h.identifier] = (f"{h.identifier}  {h.asset.name}", h.weight)
                else:
                    k = h.asset.asset_class
                    label, w = rows.get(k, (k.replace("_", " "), 0.0))
                    rows[k] = (label, w + h.weight)
            for key, (label, w) in rows.items():
                r = self.editor.rowCount()
                self.editor.insertRow(r)
                item = QTableWidgetItem(label)
                item.setData(Qt.ItemDataRole.UserRole, key)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.editor.setItem(r, 0, item)
                cur = QTableWidgetItem(pct(w))
                cur.setFlags(cur.flags() & ~Qt.ItemFlag.ItemIsEditable)
                cur.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.editor.setItem(r, 1, cur)
                tgt = QTableWidgetItem(f"{w * 100:.2f}")
                tgt.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.editor.setItem(r, 2, tgt)
        self.editor.blockSignals(False)
        self._update_sum()
        self.summary_label.setText("Edit the targets and propose trades.")

    def set_target(self, key: str, percent: float) -> None:
        for r in range(self.editor.rowCount()):
            if self.editor.item(r, 0).data(Qt.ItemDataRole.UserRole) == key:
                self.editor.item(r, 2).setText(f"{percent:.4f}")
                return
        raise KeyError(key)

    def targets(self) -> dict[str, float]:
        out = {}
        for r in range(self.editor.rowCount()):
            key = self.editor.item(r, 0).data(Qt.ItemDataRole.UserRole)
            text = (self.editor.item(r, 2).text() or "0").replace(",", "").replace("%", "").strip()
            try:
                out[key] = float(text) / 100.0
            except ValueError:
                out[key] = float("nan")
        return out

    def _update_sum(self) -> None:
        total = sum(v for v in self.targets().values() if v == v)
        ok = abs(total - 1.0) <= 1e-4
        self.sum_label.setText(f"Targets sum to {total * 100:.2f} %" + ("" if ok else " — they must sum to 100 %"))
        self.sum_label.setProperty("error", not ok)
        self.sum_label.style().unpolish(self.sum_label)
        self.sum_label.style().polish(self.sum_label)

    # -- plan -------------------------------------------------------------------------------
    def propose(self) -> None:
        pid = self.portfolio_id()
        if pid is None:
            return
        svc = self.panel.service
        targets, by = self.targets(), self.mode.currentData()
        cost, min_trade = self.cost_bps.value(), self.min_trade.value()
        tol, buffer = self.tolerance.value() / 100.0, self.cash_buffer.value() / 100.0
        self.summary_label.setText("Computing…")

        def work() -> tuple[RebalanceProposal, ImpactSummary]:
            c = svc.default_constraints(pid, transaction_cost_bps=cost, min_trade_value=min_trade, tolerance=tol)
            c = replace(c, cash_buffer=buffer)
            prop = svc.recommend_rebalancing(pid, targets, c, by=by)
            return prop, svc.assess_impact(prop.plan.trades)

        self.app.workers.run(work, self._show, self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.proposal, self.impact = None, None
        self.trades_model.set_rows([])
        self.export_button.setEnabled(False)
        self.accept_button.setEnabled(False)
        self.summary_label.setText(f"No plan: {exc}")
        self.app.show_error(exc)

    def _show(self, result: tuple[RebalanceProposal, ImpactSummary]) -> None:
        prop, impact = result
        self.proposal, self.impact = prop, impact
        self.trades_model.set_rows(plan_table(prop, impact))
        plan = prop.plan
        cur = prop.base_currency
        if not plan.trades:
            text = "Already within the tolerance band of every target: no trades."
        else:
            text = (f"{len(plan.trades)} trades · turnover {pct(plan.turnover)} · transaction cost {cur} "
                    f"{plan.total_cost:,.2f} · estimated impact {cur} {impact.total_cost:,.2f} "
                    f"({impact.cost_bps:.1f} bp) · cash after {cur} {plan.cash_after:,.2f} · "
                    + ("within tolerance after trading" if plan.within_tolerance else "NOT within tolerance"))
        if plan.notes:
            text += "\n" + "; ".join(plan.notes)
        self.summary_label.setText(text)
        self.export_button.setEnabled(bool(plan.trades))
        self.accept_button.setEnabled(bool(plan.trades))

    def _accept_clicked(self) -> None:
        from cio_desktop.ui.dialogs.common import confirm

        prop = self.proposal
        if prop is None or not prop.plan.trades:
            return
        if confirm(self, "Accept rebalancing plan", f"Check {len(prop.plan.trades)} trades against the compliance "
                   "rules and record the plan as accepted?", "Accept plan"):
            self.accept_plan()

    def accept_plan(self) -> None:
        """Compliance check + record (off the GUI thread); a blocking rule is shown as an error."""
        prop = self.proposal
        if prop is None:
            return
        svc = self.panel.service
        trades = list(prop.plan.trades)

        def done(result: Any) -> None:
            self.accepted = result
            extra = f"; warnings: {'; '.join(result.warnings)}" if result.warnings else ""
            self.summary_label.setText(f"Plan accepted by {result.accepted_by}: {result.trades} trades, "
                                       f"compliance {result.outcome}{extra}")
            self.app.status(f"Rebalancing plan accepted (compliance {result.outcome})")

        def failed(exc: BaseException) -> None:
            self.accepted = None
            self.summary_label.setText(f"Plan not accepted: {exc}")
            self.app.show_error(exc)

        self.app.workers.run(lambda: svc.accept_rebalancing(prop.portfolio_id, trades), done, failed)

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export rebalancing plan", "rebalancing.csv", "CSV (*.csv)")
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path) -> None:
        prop, impact = self.proposal, self.impact
        if prop is None:
            return
        svc = self.panel.service
        self.app.workers.run(lambda: svc.export_rebalancing_csv(prop, path, impact),
                             lambda p: self.app.status(f"Rebalancing plan exported to {p}"), self.app.show_error)
