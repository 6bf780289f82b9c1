"""Small in-memory models for the Accounts panel (a company has tens of accounts, not millions:
the list comes whole from ``AccountsService.list_accounts`` and sorts/filters in a proxy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from cio_desktop.services.accounts import AccountView, CurrencyTotal
from cio_desktop.ui.widgets.format import (danger_background, format_date, format_rate,
                                           muted_color, negative_color, warning_background)

Index = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ACCOUNT_ROLE = Qt.ItemDataRole.UserRole + 2
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


@dataclass(frozen=True)
class Col:
    key: str
    title: str
    amount: bool = False


ACCOUNT_COLUMNS: tuple[Col, ...] = (
    Col("institution", "Institution"), Col("name", "Account"), Col("number", "Number"),
    Col("currency", "Currency"), Col("type", "Type"), Col("balance", "Balance", True),
    Col("minimum", "Minimum", True), Col("headroom", "Headroom", True),
    Col("last_booking", "Last booking"),
)


def below_minimum(a: AccountView) -> bool:
    return a.balance < a.min_balance


class AccountsTableModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._accounts: list[AccountView] = []
        self._cells: list[tuple[tuple[str, Any], ...]] = []  # (text, sort key) per column
        self._revealed: dict[int, str] = {}

    def set_accounts(self, accounts: list[AccountView]) -> None:
        self.beginResetModel()
        self._accounts = list(accounts)
        # Formatted once here, not on every paint and every resize-to-contents pass (the view
        # asks for each cell several times per paint, and formatting Money is not free).
        self._cells = [tuple(self._value(a, c.key) for c in ACCOUNT_COLUMNS) for a in self._accounts]
        self._revealed = {k: v for k, v in self._revealed.items() if any(a.id == k for a in accounts)}
        self.endResetModel()

    def accounts(self) -> list[AccountView]:
        return list(self._accounts)

    def account(self, row: int) -> AccountView:
        return self._accounts[row]

    def row_of(self, account_id: int) -> int:
        for i, a in enumerate(self._accounts):
            if a.id == account_id:
                return i
        return -1

    # -- revealed numbers (shown for a short while, then masked again) ---------------------
    def reveal(self, account_id: int, number: str) -> None:
        self._revealed[account_id] = number
        self._number_changed(account_id)

    def hide_number(self, account_id: int) -> None:
        if self._revealed.pop(account_id, None) is not None:
            self._number_changed(account_id)

    def revealed(self, account_id: int) -> str | None:
        return self._revealed.get(account_id)

    def _number_changed(self, account_id: int) -> None:
        row = self.row_of(account_id)
        if row >= 0:
            col = [c.key for c in ACCOUNT_COLUMNS].index("number")
            self.dataChanged.emit(self.index(row, col), self.index(row, col))

    # -- Qt model -------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self._accounts)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(ACCOUNT_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt API
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(ACCOUNT_COLUMNS):
            return None
        col = ACCOUNT_COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.title
        if role == Qt.ItemDataRole.TextAlignmentRole and col.amount:
            return RIGHT
        return None

    def _value(self, a: AccountView, key: str) -> tuple[str, Any]:
        """(display text, sort key) of one cell."""
        if key == "institution":
            return a.institution, a.institution.lower()
        if key == "name":
            return a.name, a.name.lower()
        if key == "number":
            shown = self._revealed.get(a.id, a.number_masked)
            return shown, a.number_masked
        if key == "currency":
            return a.currency, a.currency
        if key == "type":
            return a.account_type.replace("_", " "), a.account_type
        if key == "balance":
            return a.balance.format(), float(a.balance.amount)
        if key == "minimum":
            return a.min_balance.format(), float(a.min_balance.amount)
        if key == "headroom":
            return a.headroom.format(), float(a.headroom.amount)
        if key == "last_booking":
            return (format_date(a.last_booking) if a.last_booking else "none",
                    a.last_booking.toordinal() if a.last_booking else 0)
        raise KeyError(key)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._accounts):
            return None
        a = self._accounts[index.row()]
        col = ACCOUNT_COLUMNS[index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            # the number column changes when revealed: never cached
            text, key = (self._value(a, col.key) if col.key == "number"
                         else self._cells[index.row()][index.column()])
            return text if role == Qt.ItemDataRole.DisplayRole else key
        if role == ACCOUNT_ROLE:
            return a
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return RIGHT if col.amount else LEFT
        if role == Qt.ItemDataRole.ForegroundRole:
            if col.key == "balance" and a.balance.amount < 0:
                return negative_color()
            if col.key == "headroom" and a.headroom.amount < 0:
                return negative_color()
            if col.key == "last_booking" and a.last_booking is None:
                return muted_color()
        if role == Qt.ItemDataRole.BackgroundRole:
            if a.balance.amount < 0:
                return danger_background()
            if below_minimum(a):
                return warning_background()
        if role == Qt.ItemDataRole.ToolTipRole:
            if a.balance.amount < 0:
                return f"{a.name} is overdrawn: {a.balance.format()}"
            if below_minimum(a):
                return (f"{a.name} is below its minimum balance of {a.min_balance.format()} "
                        f"by {(-a.headroom).format()}")
            if col.key == "number" and a.id not in self._revealed:
                return "Masked: right-click → Reveal number (needs a two-factor check)"
        return None


class AccountsFilterProxy(QSortFilterProxyModel):
    """Sorts by each column's sort key and matches the filter text against any column."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)


CONSOLIDATED_COLUMNS = ("Currency", "Accounts", "Balance", "Rate", "In base currency")


class ConsolidatedTableModel(QAbstractTableModel):
    """One row per currency and a total row: balance, the rate used and the base equivalent."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._totals: list[CurrencyTotal] = []
        self._counts: dict[str, int] = {}
        self._grand = None
        self._base = ""
        self._texts: list[tuple[str, ...]] = []

    def set_totals(self, totals: list[CurrencyTotal], grand: Any, base: str,
                   counts: dict[str, int]) -> None:
        self.beginResetModel()
        self._totals, self._grand, self._base, self._counts = list(totals), grand, base, dict(counts)
        # the cells' text, formatted once (layout passes ask for every cell again and again)
        self._texts = [(t.currency, str(self._counts.get(t.currency, 0)), t.balance.format(), format_rate(t.rate),
                        t.in_base.format() if t.in_base is not None else "no rate") for t in self._totals]
        if self._totals:
            self._texts.append(("Total", str(sum(self._counts.values())), "", "",
                                self._grand.format() if self._grand is not None else "no rate"))
        self.endResetModel()

    def totals(self) -> list[CurrencyTotal]:
        return list(self._totals)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() or not self._totals else len(self._totals) + 1

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(CONSOLIDATED_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt API
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            title = CONSOLIDATED_COLUMNS[section]
            if section == 3 and self._base:
                return f"Rate ({self._base} per unit)"
            if section == 4 and self._base:
                return f"In {self._base}"
            return title
        if role == Qt.ItemDataRole.TextAlignmentRole and section >= 1:
            return RIGHT
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        total_row = r == len(self._totals)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._texts[r][c] if r < len(self._texts) else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return LEFT if c == 0 else RIGHT
        if role == Qt.ItemDataRole.FontRole and total_row:
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole:
            if total_row and c == 4 and self._grand is None:
                return negative_color()
            if not total_row:
                t = self._totals[r]
                if c == 4 and t.in_base is None:
                    return negative_color()
                if c == 2 and t.balance.amount < 0:
                    return negative_color()
        if role == Qt.ItemDataRole.ToolTipRole:
            if not total_row and self._totals[r].in_base is None:
                return f"No {self._totals[r].currency}/{self._base} rate is stored: no conversion is shown"
            if total_row and self._grand is None:
                return "At least one currency has no FX rate, so no total is shown (never a wrong total)"
        return None
