"""A lazy, SQL-backed table model over the ledger.

Rows arrive page by page (``PAGE_SIZE``) from ``LedgerService.page`` on the worker pool: the view
asks ``canFetchMore``/``fetchMore`` when the user scrolls near the end, the page query runs off
the GUI thread, and the rows are appended when they arrive. Sorting (``sort``) and filtering
(``set_query``) are done by the database: the model resets and reloads with the new
``LedgerQuery``. Every reload bumps a generation number; a page or count that belongs to an
older query is dropped when it arrives, so a slow answer can never overwrite a newer one.

Painting cost (the GUI thread must never stall > 50 ms, also while a worker runs Python): the
view asks for every visible cell on each repaint, and a page arriving repaints the viewport.
So ``multiData`` answers all the roles of a cell in one Python call (Qt's default asks ``data``
once per role: seven calls, each re-taking the GIL from a busy worker), and a row's display
strings are formatted once, the first time it is shown, then read from ``_texts``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QModelRoleDataSpan, QPersistentModelIndex, Qt,
                            Signal)

from cio_desktop.services.ledger import SORTABLE, LedgerQuery, LedgerRow
from cio_desktop.ui.widgets.format import format_amount, format_date, negative_color

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex
ROW_ROLE = Qt.ItemDataRole.UserRole + 1

# Roles as plain ints: ``multiData`` compares them for every painted cell.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole.value)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)
_ROW = int(ROW_ROLE)
_LEFT = int((Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter).value)
_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)


@dataclass(frozen=True)
class LedgerColumn:
    key: str
    title: str
    sort: str | None  # LedgerQuery.sort key, None when the database cannot sort by it
    width: int


COLUMNS: tuple[LedgerColumn, ...] = (
    LedgerColumn("booking_date", "Booking date", "booking_date", 125),
    LedgerColumn("value_date", "Value date", "value_date", 110),
    LedgerColumn("account", "Account", "account", 170),
    LedgerColumn("counterparty", "Counterparty", "counterparty", 180),
    LedgerColumn("description", "Description", None, 260),
    LedgerColumn("reference", "Reference", "reference", 175),
    LedgerColumn("category", "Category", "category", 110),
    LedgerColumn("amount", "Amount", "amount", 130),
    LedgerColumn("currency", "Currency", "currency", 90),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
_ACCOUNT = COLUMN_KEYS.index("account")
_AMOUNT = COLUMN_KEYS.index("amount")
_TOOLTIP_COLUMNS = frozenset(COLUMN_KEYS.index(k) for k in ("description", "counterparty", "reference"))
assert all(c.sort is None or c.sort in SORTABLE for c in COLUMNS)


class LedgerTableModel(QAbstractTableModel):
    PAGE_SIZE = 500

    #: the number of rows matching the query, or None while it is being counted
    countChanged = Signal(object)
    #: True while a page is being read
    loadingChanged = Signal(bool)
    #: a page arrived: (rows appended, rows now loaded)
    pageLoaded = Signal(int, int)
    queryChanged = Signal(object)

    def __init__(self, ledger: Any, workers: Any, *, on_error: Callable[[BaseException], None] | None = None,
                 page_size: int | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.ledger = ledger
        self.workers = workers
        self.page_size = page_size or self.PAGE_SIZE
        self._on_error = on_error
        self._query = LedgerQuery()
        self._rows: list[LedgerRow] = []
        self._texts: list[tuple[str, ...] | None] = []  # display strings per row, made when first shown
        self._names: dict[int, str] = {}
        self._generation = 0
        self._loading = False
        self._exhausted = True  # nothing to fetch until the first set_query/reload
        self._count: int | None = None
        self._started = False

    # -- query -------------------------------------------------------------------------------
    @property
    def query(self) -> LedgerQuery:
        return self._query

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def loading(self) -> bool:
        return self._loading

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    @property
    def total(self) -> int | None:
        return self._count

    def set_account_names(self, names: dict[int, str]) -> None:
        self._names = dict(names)
        if self._rows:
            col = COLUMN_KEYS.index("account")
            self.dataChanged.emit(self.index(0, col), self.index(len(self._rows) - 1, col))

    def set_query(self, query: LedgerQuery, *, force: bool = False) -> None:
        """Show the rows of ``query`` (from the first page); no-op when nothing changed."""
        if query == self._query and self._started and not force:
            return
        # A new order over the same filters matches the same rows: the count stays valid.
        keep_count = (self._started and not force and self._count is not None and self._count >= 0
                      and query.with_(sort=self._query.sort, descending=self._query.descending) == self._query)
        self._query = query
        self._started = True
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._texts = []
        self._exhausted = False
        self._set_loading(False)
        self.endResetModel()
        self.queryChanged.emit(query)
        if keep_count:
            self.countChanged.emit(self._count)
        else:
            self._start_count()
        self.fetchMore(QModelIndex())

    def reload(self) -> None:
        """Re-read the current query (the data changed underneath)."""
        self.set_query(self._query, force=True)

    def _set_loading(self, loading: bool) -> None:
        if loading != self._loading:
            self._loading = loading
            self.loadingChanged.emit(loading)

    # -- count --------------------------------------------------------------------------------
    def _start_count(self) -> None:
        generation, query = self._generation, self._query
        self._count = None
        self.countChanged.emit(None)

        def counted(n: int) -> None:
            if generation == self._generation:
                self._count = n
                self.countChanged.emit(n)

        self.workers.run(lambda: self.ledger.count(query, cancelled=self._stale(generation)), counted,
                         lambda exc: self._failed(generation, exc))

    def _stale(self, generation: int):  # noqa: ANN202
        """For the worker: true once a newer query replaced this one (the database stops early)."""
        return lambda: generation != self._generation

    # -- lazy loading -------------------------------------------------------------------------
    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: N802 - Qt API
        return not parent.isValid() and not self._exhausted and not self._loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: N802 - Qt API
        if parent.isValid() or self._exhausted or self._loading:
            return
        generation, query = self._generation, self._query
        offset = len(self._rows)
        after = self._rows[-1] if self._rows else None
        limit = self.page_size
        self._set_loading(True)
        self.workers.run(lambda: self.ledger.page(query, offset, limit, after=after,
                                                  cancelled=self._stale(generation)),
                         lambda rows: self._page_arrived(generation, rows),
                         lambda exc: self._failed(generation, exc))

    def _page_arrived(self, generation: int, rows: list[LedgerRow]) -> None:
        if generation != self._generation:
            log.debug("dropped a stale ledger page (generation %s, now %s)", generation, self._generation)
            return
        if len(rows) < self.page_size:
            self._exhausted = True
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self._texts.extend([None] * len(rows))
            self.endInsertRows()
        self._set_loading(False)
        self.pageLoaded.emit(len(rows), len(self._rows))

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self._exhausted = True  # stop asking for more until the next reload
        self._set_loading(False)
        if self._count is None:
            self.countChanged.emit(-1)
        if self._on_error is not None:
            self._on_error(exc)
        else:
            log.error("ledger query failed: %s", exc)

    # -- Qt model -----------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def row(self, i: int) -> LedgerRow:
        return self._rows[i]

    def rows(self) -> list[LedgerRow]:
        return list(self._rows)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt API
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        col = COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.title
        if role == Qt.ItemDataRole.TextAlignmentRole and col.key == "amount":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Sort by {col.title.lower()}" if col.sort else "This column cannot be sorted"
        return None

    def text(self, row: LedgerRow, key: str) -> str:
        if key == "booking_date":
            return format_date(row.booking_date)
        if key == "value_date":
            return format_date(row.value_date)
        if key == "account":
            return self._names.get(row.account_id, f"#{row.account_id}")
        if key == "amount":
            return format_amount(row.amount)
        if key == "currency":
            return row.amount.currency
        return getattr(row, key)

    def _texts_of(self, i: int) -> tuple[str, ...]:
        """Row ``i``'s display strings (the account column is looked up at paint time, so new
        account names need no re-format); formatted on first use, then cached."""
        texts = self._texts[i]
        if texts is None:
            row = self._rows[i]
            texts = self._texts[i] = tuple("" if key == "account" else self.text(row, key) for key in COLUMN_KEYS)
        return texts

    def _value(self, i: int, col: int, role: int) -> Any:
        """The value of one cell for one role (``data`` and ``multiData`` share it)."""
        if role == _DISPLAY:
            if col == _ACCOUNT:
                account_id = self._rows[i].account_id
                return self._names.get(account_id, f"#{account_id}")
            return self._texts_of(i)[col]
        if role == _ALIGNMENT:
            return _RIGHT if col == _AMOUNT else _LEFT
        if role == _FOREGROUND:
            return negative_color() if col == _AMOUNT and self._rows[i].amount.amount < 0 else None
        if role == _TOOLTIP:
            return (self._texts_of(i)[col] or None) if col in _TOOLTIP_COLUMNS else None
        if role == _ROW:
            return self._rows[i]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        return self._value(index.row(), index.column(), int(role))

    def multiData(self, index: Index, roleDataSpan: QModelRoleDataSpan) -> None:  # noqa: N802, N803 - Qt API
        """Every role the delegate asks for, in one call (see the module docstring)."""
        if not index.isValid():
            return
        i, col = index.row(), index.column()
        if i >= len(self._rows):
            return
        for role_data in roleDataSpan:
            value = self._value(i, col, role_data.role())
            # The delegate reuses its span from cell to cell: a role left unset would keep the
            # previous cell's value (a positive amount painted in the last negative one's red).
            if value is None:
                role_data.clearData()
            else:
                role_data.setData(value)

    # -- sorting ----------------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort in the database: reload from the first page with the new order."""
        if not 0 <= column < len(COLUMNS) or COLUMNS[column].sort is None:
            return
        self.set_query(self._query.with_(sort=COLUMNS[column].sort,
                                         descending=order == Qt.SortOrder.DescendingOrder))

    def sort_column(self) -> int:
        for i, c in enumerate(COLUMNS):
            if c.sort == self._query.sort:
                return i
        return 0

    # -- copying -------------------------------------------------------------------------------------
    def as_tsv(self, rows: list[int], *, header: bool = True) -> str:
        """These rows as tab-separated text (what Ctrl+C puts on the clipboard)."""
        def clean(value: str) -> str:
            return " ".join(value.replace("\t", " ").split())

        def cell(r: LedgerRow, key: str) -> str:
            # amounts without grouping separators, so a spreadsheet reads them as numbers
            return str(r.amount.rounded().amount) if key == "amount" else clean(self.text(r, key))

        lines = ["\t".join(c.title for c in COLUMNS)] if header else []
        for i in sorted(set(rows)):
            if 0 <= i < len(self._rows):
                lines.append("\t".join(cell(self._rows[i], key) for key in COLUMN_KEYS))
        return "\n".join(lines) + "\n"
