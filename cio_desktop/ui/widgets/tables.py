"""The one way a panel builds a read-only, sortable, single-selection table view."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView


def record_table(model: QAbstractItemModel, object_name: str, *, sort_column: int = 0,
                 order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> QTableView:
    """A QTableView over ``model`` (usually a QSortFilterProxyModel): rows selected whole, one
    at a time, never edited in place, sorted by clicking headers; left-aligned headers."""
    table = QTableView()
    table.setObjectName(object_name)
    table.setModel(model)
    table.setSortingEnabled(True)
    table.sortByColumn(sort_column, order)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return table


def compact_rows(table: QTableView) -> None:
    """One text line per row, eliding what does not fit, resizable columns (list-like tables)."""
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(28)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    header.setMinimumSectionSize(50)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
