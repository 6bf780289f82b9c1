"""Analytics panel: patterns found in the cash flows (with strength), spending by category and
the recurring items, the model versions with their accuracy (train new ones), and the
categoriser's recategorisation suggestions to accept or reject. Training and suggestions need
``budget.manage``; everything runs in the worker pool."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from cio_desktop.security.permissions import Permission
from cio_desktop.services.analytics import ModelVersionView, SpendingReport, Suggestion
from cio_desktop.ui.dialogs.common import hint_label, inline_error, show_status, status_label
from cio_desktop.ui.models.portfolio_models import ROW_ROLE, Column, RowsModel, num, pct
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.portfolio import make_table
from cio_desktop.ui.widgets.bar_chart import BarChart

TOPICS = ("analytics.changed", "ledger.changed", "sync.completed")

PATTERN_COLUMNS = [Column("kind", "Pattern"), Column("strength", "Strength", lambda v: pct(v, 0), numeric=True),
                   Column("found", "Found"), Column("description", "What")]
RECURRING_COLUMNS = [Column("counterparty", "Counterparty"), Column("category", "Category"),
                     Column("period", "Every"), Column("amount", "Amount", num, numeric=True, signed=True),
                     Column("occurrences", "Times", str, numeric=True), Column("last", "Last")]
MODEL_COLUMNS = [Column("kind", "Model"), Column("version", "Version", str, numeric=True),
                 Column("active", "Active"), Column("created", "Trained"), Column("samples", "Samples", str, numeric=True),
                 Column("accuracy", "Accuracy / skill", lambda v: pct(v, 1), numeric=True,
                        tooltip="categoriser: held-out accuracy; forecast: 1 − MAE / seasonal-naive MAE"),
                 Column("coverage", "P10–P90 coverage", lambda v: pct(v, 0), numeric=True)]
SUGGESTION_COLUMNS = [Column("date", "Date"), Column("counterparty", "Counterparty"), Column("description", "Description"),
                      Column("amount", "Amount", num, numeric=True, signed=True), Column("current", "Now"),
                      Column("suggested", "Suggested"), Column("confidence", "Confidence", lambda v: pct(v, 0),
                                                                numeric=True)]


class AnalyticsPanel(Panel):
    NAME = "analytics"
    TITLE = "Analytics"
    PERMISSION = Permission.FORECAST_READ
    SHORTCUT = "Ctrl+Shift+A"
    TOPICS = TOPICS

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.report: SpendingReport | None = None
        self.suggestions: list[Suggestion] = []

    @property
    def can_manage(self) -> bool:
        s = self.app.workspace.ctx.session
        return bool(s and s.can(Permission.BUDGET_MANAGE))

    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        head, self.status_label = self.header_row(self.refresh, wrap_status=True)
        root.addLayout(head)
        tabs = QTabWidget()
        tabs.setObjectName("analyticsTabs")
        root.addWidget(tabs, 1)

        # patterns and spending
        page = QWidget()
        pl = QVBoxLayout(page)
        self.pattern_model = RowsModel(PATTERN_COLUMNS, self)
        self.pattern_table, self.pattern_proxy = make_table("patternTable", self.pattern_model)
        pbox = QGroupBox("Patterns in the daily net cash flow (last two years)")
        QVBoxLayout(pbox).addWidget(self.pattern_table)
        self.spend_chart = BarChart("Net flow by category, last 12 months (base currency)")
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(pbox)
        top.addWidget(self.spend_chart)
        top.setSizes([700, 700])
        top.setChildrenCollapsible(False)
        self.recurring_model = RowsModel(RECURRING_COLUMNS, self)
        self.recurring_table, self.recurring_proxy = make_table("recurringTable", self.recurring_model)
        rbox = QGroupBox("Recurring items (same counterparty at a regular interval)")
        QVBoxLayout(rbox).addWidget(self.recurring_table)
        vs = QSplitter(Qt.Orientation.Vertical)
        vs.addWidget(top)
        vs.addWidget(rbox)
        vs.setSizes([330, 420])
        vs.setChildrenCollapsible(False)
        pl.addWidget(vs)
        tabs.addTab(page, "Patterns and spending")

        # models
        page = QWidget()
        ml = QVBoxLayout(page)
        buttons = QHBoxLayout()
        self.train_cat = QPushButton("Train categoriser")
        self.train_cat.setObjectName("trainCategoriser")
        self.train_cat.clicked.connect(lambda _c=False: self.train("categoriser"))
        self.train_fc = QPushButton("Train forecast model")
        self.train_fc.setObjectName("trainForecast")
        self.train_fc.clicked.connect(lambda _c=False: self.train("forecast"))
        buttons.addWidget(self.train_cat)
        buttons.addWidget(self.train_fc)
        buttons.addStretch(1)
        ml.addLayout(buttons)
        self.model_status = status_label()
        ml.addWidget(self.model_status)
        self.model_model = RowsModel(MODEL_COLUMNS, self)
        self.model_table, self.model_proxy = make_table("modelTable", self.model_model)
        ml.addWidget(self.model_table, 1)
        ml.addWidget(hint_label("Each training run stores a new version in the database; the newest is active. "
                                "The forecast model's skill is measured by a rolling-origin backtest against "
                                "the seasonal-naive baseline (same weekday a year earlier)."))
        tabs.addTab(page, "Model versions")

        # suggestions
        page = QWidget()
        sl = QVBoxLayout(page)
        sb = QHBoxLayout()
        self.accept_button = QPushButton("Accept suggestion")
        self.accept_button.setObjectName("acceptSuggestion")
        self.accept_button.clicked.connect(lambda _c=False: self.decide(True))
        self.reject_button = QPushButton("Reject")
        self.reject_button.setObjectName("rejectSuggestion")
        self.reject_button.clicked.connect(lambda _c=False: self.decide(False))
        sb.addWidget(self.accept_button)
        sb.addWidget(self.reject_button)
        sb.addStretch(1)
        sl.addLayout(sb)
        self.suggestion_status = status_label()
        sl.addWidget(self.suggestion_status)
        self.suggestion_model = RowsModel(SUGGESTION_COLUMNS, self)
        self.suggestion_table, self.suggestion_proxy = make_table("suggestionTable", self.suggestion_model)
        sl.addWidget(self.suggestion_table, 1)
        sl.addWidget(hint_label("Lines without a category, or whose category the categoriser confidently "
                                "disagrees with. Accepting recategorises the line and teaches the model; "
                                "identical lines follow at once."))
        tabs.addTab(page, "Recategorisation suggestions")
        self.tabs = tabs

        for w in (self.train_cat, self.train_fc, self.accept_button, self.reject_button):
            w.setEnabled(self.can_manage)
        self._timer = self.debouncer(self.refresh, 300)
        self.refresh()

    def on_changes(self, topic: str, data: dict) -> None:
        if self._built:
            self._timer.start()

    def refresh(self) -> None:
        svc = self.app.workspace.analytics
        self.status_label.setText("Analysing…")

        def work() -> tuple:
            return (svc.identify_patterns(), svc.analyze_spending_patterns(), svc.list_models(),
                    svc.suggest_recategorisations(limit=200))

        self.app.workers.run(work, lambda res: self._loaded(*res), self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.status_label.setText(f"Not shown: {exc}")
        self.app.show_error(exc)

    def _loaded(self, patterns: list, report: SpendingReport, models: list[ModelVersionView],
                suggestions: list[Suggestion]) -> None:
        self.report = report
        self.pattern_model.set_rows([{"kind": p.kind, "strength": p.strength, "found": "yes" if p.found else "no",
                                      "description": p.description} for p in patterns])
        self.pattern_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.pattern_proxy.sort(-1)
        cats = sorted(report.by_category.items(), key=lambda kv: kv[1])
        self.spend_chart.apply_theme()
        self.spend_chart.set_data([c for c, _ in cats], [v for _, v in cats])
        self.recurring_model.set_rows([{"counterparty": r.counterparty, "category": r.category, "period": r.period,
                                        "amount": r.amount, "occurrences": r.occurrences, "last": r.last.isoformat()}
                                       for r in report.recurring])
        self.recurring_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.recurring_proxy.sort(-1)
        self.model_model.set_rows([{"kind": m.kind, "version": m.version, "active": "yes" if m.is_active else "",
                                    "created": f"{m.created_at:%Y-%m-%d %H:%M}", "samples": m.samples,
                                    "accuracy": m.accuracy, "coverage": m.metrics.get("coverage_80"),
                                    "_tooltip": ", ".join(f"{k} {v}" for k, v in m.metrics.items())} for m in models])
        self.model_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.model_proxy.sort(-1)
        self.suggestions = suggestions
        self.suggestion_model.set_rows([{"date": s.booking_date.isoformat(), "counterparty": s.counterparty,
                                         "description": s.description, "amount": s.amount,
                                         "current": s.current or "(none)", "suggested": s.suggested,
                                         "confidence": s.confidence, "_id": s.transaction_id} for s in suggestions])
        self.suggestion_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.suggestion_proxy.sort(-1)
        found = [p.kind for p in patterns if p.found]
        trained = {m.kind for m in models}
        self.status_label.setText(
            f"{len(found)} pattern(s) found ({', '.join(found) or 'none'}) · {len(report.recurring)} recurring items · "
            f"{len(models)} model version(s)" + ("" if "categoriser" in trained else " · no categoriser trained yet: "
                                                 "train one to get suggestions"))

    def train(self, kind: str) -> None:
        svc = self.app.workspace.analytics
        show_status(self.model_status, f"training the {kind}…", "warning")
        self.app.workers.run(lambda: svc.train_model(kind),
                             lambda v: (show_status(self.model_status, f"{v.kind} version {v.version} trained "
                                                    f"({', '.join(f'{k} {x}' for k, x in v.metrics.items())})", "ok"),
                                        self.refresh()),
                             lambda exc: show_status(self.model_status, inline_error(self.app, exc)))

    def selected_suggestion(self) -> dict | None:
        sel = self.suggestion_table.selectionModel().selectedRows()
        return self.suggestion_proxy.index(sel[0].row(), 0).data(ROW_ROLE) if sel else None

    def decide(self, accept: bool) -> None:
        row = self.selected_suggestion()
        if row is None:
            show_status(self.suggestion_status, "select a suggestion first", "warning")
            return
        svc = self.app.workspace.analytics
        tid, cat = row["_id"], row["suggested"]
        fn = (lambda: svc.correct_category(tid, cat)) if accept else (lambda: svc.reject_suggestion(tid))
        self.app.workers.run(fn, lambda _r: (show_status(self.suggestion_status,
                                                         f"line {tid}: {'recategorised as ' + cat if accept else 'suggestion rejected'}",
                                                         "ok"), self.refresh()),
                             lambda exc: show_status(self.suggestion_status, inline_error(self.app, exc)))
