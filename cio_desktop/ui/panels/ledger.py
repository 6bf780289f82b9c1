"""Ledger panel: every booked transaction in a lazy table (pages read in the worker pool),
sorted and filtered by the database, with a row count, copy (Ctrl+C) and CSV export.

Keys: Ctrl+F focuses the search box, Esc in it clears the search, Ctrl+C copies the selected
rows as tab-separated text.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHeaderView, QLabel, QPushButton, QTableView,
                               QVBoxLayout, QWidget)

from cio_desktop.security.permissions import Permission
from cio_desktop.services.ledger import LedgerQuery
from cio_desktop.ui.models.ledger_model import COLUMN_KEYS, COLUMNS, LedgerTableModel
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.widgets.filter_bar import LedgerFilterBar

log = logging.getLogger(__name__)

REFRESH_DELAY_MS = 150


def count_text(n: int | None) -> str:
    if n is None:
        return "counting…"
    if n < 0:
        return "count unavailable"
    if n == 0:
        return "no transactions"
    return f"{n:,} transaction{'s' if n != 1 else ''}"


class LedgerPanel(Panel):
    NAME = "ledger"
    TITLE = "Ledger"
    PERMISSION = Permission.LEDGER_READ
    SHORTCUT = "Ctrl+2"
    TOPICS = ("ledger.changed", "sync.completed")

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self._dirty = False
        self.names: dict[int, str] = {}

    # -- construction -------------------------------------------------------------------------
    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)

        self.loading_label = QLabel("")
        self.loading_label.setProperty("hint", True)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setObjectName("ledgerExport")
        self.export_button.setToolTip("Export every row that matches the filters (not only the loaded ones)")
        self.export_button.clicked.connect(self.export_clicked)
        session = self.app.workspace.ctx.session
        self.export_button.setVisible(session is not None and session.can(Permission.REPORTS_EXPORT))
        head, self.count_label = self.header_row(self.refresh, status_extras=[self.loading_label],
                                                 trailing=[self.export_button], status_text="counting…")
        self.count_label.setObjectName("ledgerCount")
        root.addLayout(head)

        self.filter_bar = LedgerFilterBar()
        self.filter_bar.changed.connect(self.apply_filters)
        root.addWidget(self.filter_bar)

        self.model = LedgerTableModel(self.app.workspace.ledger, self.app.workers,
                                      on_error=self.app.show_error, parent=self)
        self.model.countChanged.connect(self._count_changed)
        self.model.loadingChanged.connect(
            lambda busy: self.loading_label.setText("loading…" if busy else ""))
        self.table = QTableView()
        self.table.setObjectName("ledgerTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vh = self.table.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: fast at any size
        vh.setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for i, col in enumerate(COLUMNS):
            header.resizeSection(i, col.width)
        header.setSectionResizeMode(COLUMN_KEYS.index("description"), QHeaderView.ResizeMode.Stretch)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(self.model.sort_column(), Qt.SortOrder.DescendingOrder)
        header.sortIndicatorChanged.connect(self._sort_indicator_changed)
        self.table.setSortingEnabled(True)
        root.addWidget(self.table, 1)

        copy = QAction("Copy rows", self.table)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        copy.triggered.connect(self.copy_selected)
        self.table.addAction(copy)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        find = QShortcut(QKeySequence.StandardKey.Find, self)
        find.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find.activated.connect(self.focus_search)
        self.find_shortcut = find

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.refresh)

        self._load_names()
        self.model.set_query(LedgerQuery(**self.filter_bar.values()))

    # -- data -------------------------------------------------------------------------------------
    def _load_names(self) -> None:
        ledger = self.app.workspace.ledger

        def done(names: dict[int, str]) -> None:
            self.names = names
            self.model.set_account_names(names)
            self.filter_bar.set_accounts(names)

        self.app.workers.run(ledger.account_names, done, self.app.show_error)

    def refresh(self) -> None:
        """Re-read the current query (and account names): the ledger changed."""
        self._dirty = False
        self._load_names()
        self.model.reload()

    def apply_filters(self) -> None:
        q = self.model.query.with_(**self.filter_bar.values())
        self.model.set_query(q)

    def _count_changed(self, n: int | None) -> None:
        self.count_label.setText(count_text(n))

    def _sort_indicator_changed(self, section: int, order: Qt.SortOrder) -> None:
        """Columns the database cannot sort by keep the indicator where the sort really is."""
        if COLUMNS[section].sort is None:
            header = self.table.horizontalHeader()
            header.blockSignals(True)
            header.setSortIndicator(self.model.sort_column(),
                                    Qt.SortOrder.DescendingOrder if self.model.query.descending
                                    else Qt.SortOrder.AscendingOrder)
            header.blockSignals(False)

    # -- actions ----------------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.filter_bar.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_bar.search.selectAll()

    def selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    def copy_selected(self) -> str:
        rows = self.selected_rows()
        if not rows:
            return ""
        text = self.model.as_tsv(rows)
        QGuiApplication.clipboard().setText(text)
        self.app.status(f"copied {len(rows):,} row{'s' if len(rows) != 1 else ''}")
        return text

    def export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export ledger", "ledger.csv", "CSV files (*.csv)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path, on_done: Callable[[int], None] | None = None) -> None:
        """Write every row matching the current filters to ``path`` (in the worker pool)."""
        ledger, query = self.app.workspace.ledger, self.model.query
        self.export_button.setEnabled(False)

        def run() -> int:
            return ledger.export_csv(query, path)

        def done(n: int) -> None:
            self.export_button.setEnabled(True)
            self.app.status(f"exported {n:,} rows to {path}")
            if on_done:
                on_done(n)

        def failed(exc: BaseException) -> None:
            self.export_button.setEnabled(True)
            self.app.show_error(exc)

        self.app.workers.run(run, done, failed)

    # -- Panel contract ---------------------------------------------------------------------------
    def on_shown(self) -> None:
        if self._dirty and self._built:
            self.refresh()

    def on_changes(self, topic: str, data: dict) -> None:
        if topic not in self.TOPICS:
            return
        self._dirty = True
        if self._built and self.isVisible():
            self._refresh_timer.start()
