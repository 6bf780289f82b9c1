"""Advisory panel: the newest report's recommendations in priority order (urgency, then impact),
the selected one's rationale, supporting figures and confidence with accept/reject, and the
strategy comparison matrix (strategies × metrics). "Generate report" runs the engine in the
worker pool and stores the result."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QLineEdit, QPushButton, QSplitter, QTextBrowser,
                               QVBoxLayout, QWidget)

from cio_desktop.domain.advisory import METRIC_LABELS, ComparisonMatrix
from cio_desktop.security.permissions import Permission
from cio_desktop.services.advisory import AdvisoryService, ReportView, StoredRecommendation
from cio_desktop.ui.models.portfolio_models import ROW_ROLE, Column, RowsModel, num, pct
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.panels.portfolio import make_table

REC_COLUMNS = [
    Column("rank", "#", lambda v: f"{v}", numeric=True), Column("urgency", "Urgency"), Column("action", "Action"),
    Column("subject", "Subject"), Column("impact", "Expected impact", lambda v: num(v, 0), numeric=True),
    Column("confidence", "Confidence", lambda v: pct(v, 0), numeric=True), Column("status", "Status"),
]
PERCENT_METRICS = {"expected_return", "volatility", "max_drawdown", "value_at_risk", "cost", "liquidity"}


def advisory_service(app: Any) -> AdvisoryService:
    return getattr(app.workspace, "advisory", None) or AdvisoryService(app.workspace.ctx)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class AdvisoryPanel(Panel):
    NAME = "advisory"
    TITLE = "Advisory"
    PERMISSION = Permission.ADVISORY_READ
    SHORTCUT = "Ctrl+Shift+V"
    TOPICS = ("advisory.report", "advisory.decided")

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.items: list[StoredRecommendation] = []
        self.matrix: ComparisonMatrix | None = None

    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        self.generate_button = QPushButton("Generate report")
        self.generate_button.setObjectName("advisoryGenerate")
        self.generate_button.clicked.connect(self.generate)
        head, self.status_label = self.header_row(None, trailing=[self.generate_button], wrap_status=True)
        root.addLayout(head)

        rec_box = QGroupBox("Recommendations (most urgent, then largest impact, first)")
        rb = QVBoxLayout(rec_box)
        self.rec_filter = QLineEdit()
        self.rec_filter.setPlaceholderText("Filter…")
        self.rec_model = RowsModel(REC_COLUMNS, self, row_flag=lambda r: r.get("urgency") == "critical")
        self.rec_table, self.rec_proxy = make_table("recommendationTable", self.rec_model)
        self.rec_filter.textChanged.connect(self.rec_proxy.setFilterFixedString)
        header = self.rec_table.horizontalHeader()
        for col, width in ((0, 36), (1, 72), (2, 84), (3, 300), (4, 110), (5, 86)):
            header.setSectionResizeMode(col, header.ResizeMode.Interactive)
            header.resizeSection(col, width)
        self.rec_table.selectionModel().selectionChanged.connect(lambda *_: self._selected())
        rb.addWidget(self.rec_filter)
        rb.addWidget(self.rec_table, 1)

        detail_box = QGroupBox("Rationale")
        db = QVBoxLayout(detail_box)
        self.detail = QTextBrowser()
        self.detail.setObjectName("recommendationDetail")
        db.addWidget(self.detail, 1)
        decide = QHBoxLayout()
        self.note = QLineEdit()
        self.note.setObjectName("decisionNote")
        self.note.setPlaceholderText("Note (optional): why")
        self.accept_button = QPushButton("Accept")
        self.accept_button.setObjectName("recAccept")
        self.accept_button.clicked.connect(lambda: self.decide(True))
        self.reject_button = QPushButton("Reject")
        self.reject_button.setObjectName("recReject")
        self.reject_button.clicked.connect(lambda: self.decide(False))
        decide.addWidget(self.note, 1)
        decide.addWidget(self.accept_button)
        decide.addWidget(self.reject_button)
        db.addLayout(decide)

        upper = QSplitter(Qt.Orientation.Horizontal)
        upper.addWidget(rec_box)
        upper.addWidget(detail_box)
        upper.setSizes([820, 580])
        upper.setChildrenCollapsible(False)

        matrix_box = QGroupBox("Strategy comparison")
        mb = QVBoxLayout(matrix_box)
        self.matrix_model = RowsModel([Column("strategy", "Strategy")], self)
        self.matrix_table, self.matrix_proxy = make_table("strategyMatrix", self.matrix_model)
        mb.addWidget(self.matrix_table, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(matrix_box)
        split.setSizes([560, 260])
        split.setChildrenCollapsible(False)
        root.addWidget(split, 1)
        self._set_buttons(None)
        self.refresh()

    def on_changes(self, topic: str, data: dict) -> None:
        if self._built:
            self.refresh()

    # -- loading -----------------------------------------------------------------------------
    def refresh(self) -> None:
        svc = advisory_service(self.app)
        self.app.workers.run(svc.recommendations, self._show, self._failed)
        self.app.workers.run(svc.compare_strategies, self._show_matrix, self._matrix_failed)

    def _failed(self, exc: BaseException) -> None:
        self.generate_button.setEnabled(True)
        self.status_label.setText(f"Not shown: {exc}")
        self.app.show_error(exc)

    def _matrix_failed(self, exc: BaseException) -> None:
        self.matrix_model.set_rows([])
        self.status_label.setText(f"Strategy comparison not shown: {exc}")

    def _show(self, items: list[StoredRecommendation]) -> None:
        self.items = items
        self.rec_model.set_rows([{"rank": i + 1, "id": s.id, "urgency": s.rec.urgency, "action": s.rec.action,
                                  "subject": s.rec.subject, "impact": s.rec.expected_impact,
                                  "confidence": s.rec.confidence, "status": s.status, "_tooltip": s.rec.rationale}
                                 for i, s in enumerate(items)])
        self.rec_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.rec_proxy.sort(-1)
        if not items:
            self.status_label.setText("No recommendations yet: generate a report.")
            self.detail.setHtml("<p>No recommendation selected.</p>")
        else:
            open_ = sum(s.status == "open" for s in items)
            self.status_label.setText(f"{len(items)} recommendation(s), {open_} open · report of "
                                      f"{items[0].created_at:%Y-%m-%d %H:%M} UTC")
            self.rec_table.selectRow(0)

    def _show_matrix(self, m: ComparisonMatrix) -> None:
        self.matrix = m
        cols = [Column("strategy", "Strategy"), Column("description", "What it is")]
        for k in m.metrics:
            cols.append(Column(k, METRIC_LABELS.get(k, k), lambda v: v, numeric=True))
        self.matrix_model.columns = cols
        rows = []
        for name, desc in zip(m.strategies, m.descriptions):
            row: dict[str, Any] = {"strategy": name, "description": desc}
            tips = []
            for k in m.metrics:
                cell = m.cell(name, k)
                row[k] = cell.text(percent=k in PERCENT_METRICS).replace("not available: ", "n/a: ") \
                    if cell.value is None else (pct(cell.value) if k in PERCENT_METRICS else num(cell.value))
                if cell.value is None:
                    tips.append(f"{k}: {cell.reason}")
            row["_tooltip"] = "; ".join(tips) or desc
            rows.append(row)
        self.matrix_model.set_rows(rows)
        self.matrix_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.matrix_proxy.sort(-1)  # the service's order: the current holdings first
        self.matrix_table.resizeColumnsToContents()
        self.matrix_table.setColumnWidth(1, min(self.matrix_table.columnWidth(1), 300))

    def selected(self) -> StoredRecommendation | None:
        rows = self.rec_table.selectionModel().selectedRows()
        if not rows:
            return None
        rid = rows[0].data(ROW_ROLE)["id"]
        return next((s for s in self.items if s.id == rid), None)

    def _set_buttons(self, s: StoredRecommendation | None) -> None:
        can = s is not None and s.status == "open"
        self.accept_button.setEnabled(can)
        self.reject_button.setEnabled(can)

    def _selected(self) -> None:
        s = self.selected()
        self._set_buttons(s)
        if s is None:
            return
        r = s.rec
        figures = "".join(f"<tr><td>{_esc(str(k))}</td><td align='right'>{_esc(self._fmt(v))}</td></tr>"
                          for k, v in r.data.items())
        decided = (f"<p><b>{s.status.capitalize()}</b> by {_esc(s.decided_by)} on {s.decided_at:%Y-%m-%d %H:%M}"
                   + (f": {_esc(s.feedback)}" if s.feedback else "") + "</p>") if s.status != "open" else ""
        self.detail.setHtml(
            f"<h3>{_esc(r.action.replace('_', ' ').capitalize())}: {_esc(r.subject)}</h3>"
            f"<p>{_esc(r.rationale)}</p>"
            f"<p><b>Expected impact:</b> {_esc(r.impact_text or f'{r.expected_impact:,.0f}')} · "
            f"<b>Urgency:</b> {r.urgency} · <b>Confidence:</b> {r.confidence:.0%} "
            f"<span style='color:gray'>({_esc(r.confidence_source)})</span></p>"
            f"{decided}<p><b>Supporting figures</b></p><table cellspacing='4'>{figures}</table>")

    @staticmethod
    def _fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 10 else f"{v:,.0f}"
        if isinstance(v, (dict, list)):
            return json.dumps(v)
        return "" if v is None else str(v)

    # -- actions -----------------------------------------------------------------------------
    def generate(self) -> None:
        svc = advisory_service(self.app)
        self.generate_button.setEnabled(False)
        self.status_label.setText("Generating recommendations…")

        def done(report: ReportView) -> None:
            self.generate_button.setEnabled(True)
            self.refresh()

        self.app.workers.run(svc.generate_report, done, self._failed)

    def decide(self, accept: bool) -> None:
        s = self.selected()
        if s is None:
            return
        svc, note = advisory_service(self.app), self.note.text()

        def done(_v: Any) -> None:
            self.note.clear()
            self.refresh()

        self.app.workers.run(lambda: svc.decide(s.id, accept, note), done, self._failed)
