"""Budget panel: the month's budget lines (edit, delete with confirmation, import a CSV/Excel
file), budget vs actual with each flagged variance explained, and a scenario comparison
(base, optimistic, pessimistic and the user's own) of the consolidated closing balance.
Editing needs ``budget.manage``; every service call runs in the worker pool."""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from cio_desktop.domain.budget import Variance
from cio_desktop.security.permissions import Permission
from cio_desktop.services.forecasting import ScenarioComparison
from cio_desktop.ui.dialogs.common import confirm, hint_label, inline_error, show_status, status_label
from cio_desktop.ui.models.portfolio_models import ROW_ROLE, Column, RowsModel, num, pct
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.portfolio import make_table
from cio_desktop.ui.widgets.forecast_chart import ForecastChart

TOPICS = ("budget.changed", "ledger.changed", "analytics.changed", "payments.changed")

LINE_COLUMNS = [Column("category", "Category"), Column("amount", "Budget", num, numeric=True),
                Column("currency", "Ccy"), Column("note", "Note"), Column("updated_by", "By")]
VARIANCE_COLUMNS = [
    Column("category", "Category"), Column("kind", "Kind"), Column("budget", "Budget", num, numeric=True),
    Column("actual", "Actual", num, numeric=True), Column("deviation", "Deviation", num, numeric=True, signed=True),
    Column("pct", "Deviation %", pct, numeric=True, signed=True), Column("status", "Status"),
]
SCENARIO_COLUMNS = [Column("name", "Scenario"), Column("ending", "Ending balance", num, numeric=True, signed=True),
                    Column("growth", "Revenue growth", lambda v: pct(v, 0), numeric=True),
                    Column("delay", "Delay (days)", str, numeric=True), Column("fx", "FX move", lambda v: pct(v, 0),
                                                                                 numeric=True, signed=True)]


def months_around(today: date, back: int = 12, ahead: int = 3) -> list[str]:
    y, m = today.year, today.month
    out = []
    for k in range(-back, ahead + 1):
        mm = m + k
        yy = y + (mm - 1) // 12
        mm = (mm - 1) % 12 + 1
        out.append(f"{yy:04d}-{mm:02d}")
    return list(reversed(out))


class BudgetPanel(Panel):
    NAME = "budget"
    TITLE = "Budget"
    PERMISSION = Permission.FORECAST_READ
    SHORTCUT = "Ctrl+Shift+B"
    TOPICS = TOPICS

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.custom: list[dict] = []
        self.variances: list[Variance] = []
        self.comparison: ScenarioComparison | None = None
        self.confirm: Callable[[str, str, str], bool] = lambda title, text, action: confirm(self, title, text, action)
        self.choose_file: Callable[[], str] = lambda: QFileDialog.getOpenFileName(
            self, "Import budget", "", "Budget files (*.csv *.xlsx)")[0]

    @property
    def can_edit(self) -> bool:
        s = self.app.workspace.ctx.session
        return bool(s and s.can(Permission.BUDGET_MANAGE))

    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        self.period = QComboBox()
        self.period.setObjectName("budgetPeriod")
        for p in months_around(self.app.workspace.ctx.now().date()):
            self.period.addItem(p, p)
        # the last complete month: the current one has hardly any actuals yet
        self.period.setCurrentIndex(self.period.findData(months_around(self.app.workspace.ctx.now().date(), 1, 0)[1]))
        self.period.currentIndexChanged.connect(lambda _i: self.refresh())
        self.import_button = QPushButton("Import…")
        self.import_button.setObjectName("budgetImport")
        self.import_button.clicked.connect(lambda _c=False: self.import_file())
        head, self.status_label = self.header_row(self.refresh, leading=[QLabel("Month"), self.period],
                                                  trailing=[self.import_button], wrap_status=True)
        root.addLayout(head)

        # budget lines + editor
        lines_box = QGroupBox("Budget lines")
        lb = QVBoxLayout(lines_box)
        self.line_model = RowsModel(LINE_COLUMNS, self)
        self.line_table, self.line_proxy = make_table("budgetLines", self.line_model)
        self.line_table.selectionModel().selectionChanged.connect(lambda *_: self._line_selected())
        lb.addWidget(self.line_table, 1)
        form = QHBoxLayout()
        self.category = QComboBox()
        self.category.setObjectName("budgetCategory")
        self.amount = QLineEdit()
        self.amount.setObjectName("budgetAmount")
        self.amount.setPlaceholderText("amount, e.g. 450000")
        self.amount.setMinimumWidth(130)
        self.category.setMinimumWidth(170)
        self.note = QLineEdit()
        self.note.setPlaceholderText("note")
        self.save_button = QPushButton("Save line")
        self.save_button.setObjectName("budgetSave")
        self.save_button.clicked.connect(lambda _c=False: self.save_line())
        self.delete_button = QPushButton("Delete")
        self.delete_button.setObjectName("budgetDelete")
        self.delete_button.clicked.connect(lambda _c=False: self.delete_line())
        for w in (self.category, self.amount, self.note, self.save_button, self.delete_button):
            form.addWidget(w)
        lb.addLayout(form)
        self.form_status = status_label()
        lb.addWidget(self.form_status)
        if not self.can_edit:
            lb.addWidget(hint_label("Read only: editing budgets needs the budget.manage permission."))

        # variances
        var_box = QGroupBox("Budget vs actual")
        vb = QVBoxLayout(var_box)
        self.var_model = RowsModel(VARIANCE_COLUMNS, self, row_flag=lambda r: r.get("flagged", False))
        self.var_table, self.var_proxy = make_table("budgetVariances", self.var_model)
        self.var_table.selectionModel().selectionChanged.connect(lambda *_: self._variance_selected())
        vb.addWidget(self.var_table, 1)
        self.explanation = QLabel("")
        self.explanation.setObjectName("budgetExplanation")
        self.explanation.setWordWrap(True)
        self.explanation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.explanation.setMinimumHeight(54)
        self.explanation.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        vb.addWidget(self.explanation)

        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(lines_box)
        upper.addWidget(var_box)
        upper.setSizes([560, 860])
        upper.setChildrenCollapsible(False)

        # scenarios
        scen_box = QGroupBox("Scenarios: consolidated closing balance (P50)")
        sb = QVBoxLayout(scen_box)
        inputs = QHBoxLayout()
        self.growth = QDoubleSpinBox()
        self.growth.setRange(-100, 200)
        self.growth.setDecimals(1)
        self.growth.setSuffix(" % revenue")
        self.growth.setValue(-5)
        self.delay = QSpinBox()
        self.delay.setRange(0, 365)
        self.delay.setSuffix(" days delay")
        self.delay.setValue(10)
        self.fx = QDoubleSpinBox()
        self.fx.setRange(-90, 200)
        self.fx.setDecimals(1)
        self.fx.setSuffix(" % FX")
        add = QPushButton("Add scenario")
        add.setObjectName("scenarioAdd")
        add.clicked.connect(lambda _c=False: self.add_scenario())
        for w in (self.growth, self.delay, self.fx, add):
            inputs.addWidget(w)
        inputs.addStretch(1)
        sb.addLayout(inputs)
        self.scen_model = RowsModel(SCENARIO_COLUMNS, self)
        self.scen_table, _ = make_table("scenarioTable", self.scen_model)
        self.scen_chart = ForecastChart("")
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.scen_table)
        lower.addWidget(self.scen_chart)
        lower.setSizes([640, 780])
        lower.setChildrenCollapsible(False)
        sb.addWidget(lower, 1)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(scen_box)
        split.setSizes([440, 380])
        split.setChildrenCollapsible(False)
        root.addWidget(split, 1)

        for w in (self.category, self.amount, self.note, self.save_button, self.delete_button, self.import_button):
            w.setEnabled(self.can_edit)
        self._timer = self.debouncer(self.refresh, 250)
        self.app.workers.run(self.app.workspace.budget.categories, self._categories_loaded, self._failed)
        self.refresh()

    def _categories_loaded(self, cats: list[tuple[str, str]]) -> None:
        self.category.clear()
        for name, kind in cats:
            self.category.addItem(f"{name} ({kind})", name)

    def current_period(self) -> str:
        return str(self.period.currentData())

    def on_changes(self, topic: str, data: dict) -> None:
        if self._built:
            self._timer.start()

    def refresh(self) -> None:
        period = self.current_period()
        budget, forecasts = self.app.workspace.budget, self.app.workspace.forecasts
        custom = list(self.custom)
        self.status_label.setText("Loading…")

        def work() -> tuple:
            return (budget.list_budget(period, period), budget.detect_budget_variance(period),
                    forecasts.model_scenarios(custom, 13, "week"))

        self.app.workers.run(work, lambda res: self._loaded(*res), self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.status_label.setText(f"Not shown: {exc}")
        self.app.show_error(exc)

    def _loaded(self, lines: list, variances: list[Variance], comparison: ScenarioComparison) -> None:
        self.line_model.set_rows([{"category": b.category, "amount": float(b.amount), "currency": b.currency,
                                   "note": b.note, "updated_by": b.updated_by, "_updated_at": b.updated_at}
                                  for b in lines])
        self.line_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.line_proxy.sort(-1)
        self.variances = variances
        self.var_model.set_rows([{"category": v.category, "kind": v.kind, "budget": float(v.budget),
                                  "actual": float(v.actual), "deviation": float(v.deviation),
                                  "pct": v.pct if v.pct is not None else float("nan"),
                                  "status": "FLAGGED" if v.flagged else "ok", "flagged": v.flagged,
                                  "_explanation": v.explanation, "_tooltip": v.explanation} for v in variances])
        self.var_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.var_proxy.sort(-1)
        flagged = sum(v.flagged for v in variances)
        self.status_label.setText(f"{self.current_period()}: {len(lines)} budget line(s), {flagged} flagged "
                                  "variance(s)" + ("" if lines else " — add budget lines or import a file"))
        if variances:
            first_flagged = next((i for i, v in enumerate(variances) if v.flagged), 0)
            src = self.var_model.index(first_flagged, 0)
            self.var_table.selectRow(self.var_proxy.mapFromSource(src).row())
        else:
            self.explanation.setText("")
        self.comparison = comparison
        self._draw_scenarios()

    def _draw_scenarios(self) -> None:
        comp = self.comparison
        if comp is None:
            return
        self.scen_model.set_rows([{"name": s.name, "growth": s.assumptions.revenue_growth,
                                   "delay": s.assumptions.payment_delay_days, "fx": s.assumptions.fx_move,
                                   "ending": s.ending} for s in comp.scenarios])
        self.scen_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.scen_chart.apply_theme()
        self.scen_chart.show_forecast(None, [(s.name, list(s.ends), list(s.closing)) for s in comp.scenarios],
                                      title=f"Closing balance by week, {comp.base_currency}")

    def _variance_selected(self) -> None:
        sel = self.var_table.selectionModel().selectedRows()
        if not sel:
            return
        row = self.var_proxy.index(sel[0].row(), 0).data(ROW_ROLE)
        self.explanation.setText(row.get("_explanation", ""))

    def _line_selected(self) -> None:
        sel = self.line_table.selectionModel().selectedRows()
        if not sel:
            return
        row = self.line_proxy.index(sel[0].row(), 0).data(ROW_ROLE)
        idx = self.category.findData(row["category"])
        if idx >= 0:
            self.category.setCurrentIndex(idx)
        self.amount.setText(f"{row['amount']:.2f}")
        self.note.setText(row.get("note", ""))

    # -- edits ----------------------------------------------------------------------------------
    def seen_version(self, category: str) -> object:
        """What this screen shows for ``category``: its line's ``updated_at``, or None when the
        period has no line for it (the service refuses the save if that changed meanwhile)."""
        for r in range(self.line_model.rowCount()):
            row = self.line_model.index(r, 0).data(ROW_ROLE)
            if row and row["category"] == category:
                return row["_updated_at"]
        return None

    def save_line(self) -> None:
        cat, period, amount, note = self.category.currentData(), self.current_period(), self.amount.text(), self.note.text()
        svc, seen = self.app.workspace.budget, self.seen_version(cat)
        self.app.workers.run(lambda: svc.set_budget_line(cat, period, amount, note, seen=seen),
                             lambda v: (show_status(self.form_status, f"saved {v.category} {v.period}: "
                                                    f"{v.amount:,.2f} {v.currency}", "ok"), self.refresh()),
                             lambda exc: show_status(self.form_status, inline_error(self.app, exc)))

    def delete_line(self) -> None:
        cat, period = self.category.currentData(), self.current_period()
        if not self.confirm("Delete budget line", f"Delete the {period} budget for {cat}?", "Delete"):
            return
        svc, seen = self.app.workspace.budget, self.seen_version(cat)
        self.app.workers.run(lambda: svc.delete_budget_line(cat, period, seen=seen),
                             lambda _r: (show_status(self.form_status, f"deleted {cat} {period}", "ok"), self.refresh()),
                             lambda exc: show_status(self.form_status, inline_error(self.app, exc)))

    def import_file(self) -> None:
        path = self.choose_file()
        if not path:
            return
        svc = self.app.workspace.budget
        self.app.workers.run(lambda: svc.import_budget(path),
                             lambda r: (show_status(self.form_status, f"{r.source}: {r.lines} line(s), {r.created} new, "
                                                    f"{r.updated} updated", "ok"), self.refresh()),
                             lambda exc: show_status(self.form_status, inline_error(self.app, exc)))

    def add_scenario(self) -> None:
        g, d, f = self.growth.value() / 100, self.delay.value(), self.fx.value() / 100
        self.custom.append({"name": f"custom {len(self.custom) + 1}: {g:+.0%}, {d} d, FX {f:+.0%}",
                            "revenue_growth": g, "payment_delay_days": d, "fx_move": f})
        self.refresh()
