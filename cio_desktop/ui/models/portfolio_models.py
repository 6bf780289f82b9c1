"""Table models for the Portfolio, Rebalancing and Risk views: one small row-dict model with
declared columns (title, formatter, alignment, colour), sorted on the raw value and filtered on
the displayed text by a QSortFilterProxyModel."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush

from cio_desktop.ui.widgets.format import danger_background, negative_color

RAW_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2


def pct(v: Any, places: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float) and math.isinf(v):  # e.g. any holding against a 0 % limit
        return "∞" if v > 0 else "−∞"
    return f"{float(v) * 100:,.{places}f} %"


def num(v: Any, places: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{float(v):,.{places}f}"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    fmt: Callable[[Any], str] = str
    numeric: bool = False
    signed: bool = False  # negative figures in the negative colour
    tooltip: str = ""


class RowsModel(QAbstractTableModel):
    """Rows are dicts; ``row_flag`` (optional) marks rows to paint with the danger background."""

    def __init__(self, columns: list[Column], parent: Any = None,
                 row_flag: Callable[[dict], bool] | None = None) -> None:
        super().__init__(parent)
        self.columns = columns
        self.rows: list[dict] = []
        self.row_flag = row_flag

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802, ANN201
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            c = self.columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return c.title
            if role == Qt.ItemDataRole.ToolTipRole and c.tooltip:
                return c.tooltip
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int((Qt.AlignmentFlag.AlignRight if c.numeric else Qt.AlignmentFlag.AlignLeft)
                           | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: ANN201
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], self.columns[index.column()]
        value = row.get(col.key)
        if role == Qt.ItemDataRole.DisplayRole:
            return col.fmt(value) if value is not None else ""
        if role == RAW_ROLE:
            if isinstance(value, float) and math.isnan(value):
                return -math.inf
            return value
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int((Qt.AlignmentFlag.AlignRight if col.numeric else Qt.AlignmentFlag.AlignLeft)
                       | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col.signed and isinstance(value, (int, float)) and value < 0:
            return QBrush(negative_color())
        if role == Qt.ItemDataRole.BackgroundRole and self.row_flag is not None and self.row_flag(row):
            return QBrush(danger_background())
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.get("_tooltip") or (col.fmt(value) if value is not None else None)
        return None

    def column_of(self, key: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.key == key)


class RowsProxy(QSortFilterProxyModel):
    """Sorts on the raw value, filters on any column's displayed text (case-insensitive)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(RAW_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        a, b = left.data(RAW_ROLE), right.data(RAW_ROLE)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)
