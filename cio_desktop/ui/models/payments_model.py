"""The Payments table: ``PaymentView`` rows from ``PaymentsService.list_payments``.

``PaymentsModel`` holds the rows of the current status tab and account (the service filters
those); ``PaymentsFilterProxy`` sorts by a per-column key (``SORT_ROLE``: dates as ISO text,
amounts as minor units) and filters by an execution-date range on the client. Statuses are
coloured (light and dark variants); amounts are right-aligned; the beneficiary's account is
only ever the masked one the service returns.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QPersistentModelIndex,
                            QSortFilterProxyModel, Qt)
from PySide6.QtGui import QColor

from cio_desktop.domain.payments import LABELS, PaymentStatus
from cio_desktop.ui.widgets.format import format_amount, format_date, is_dark, muted_color

Index = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole
ID_ROLE = Qt.ItemDataRole.UserRole + 1
VIEW_ROLE = Qt.ItemDataRole.UserRole + 2

COLUMNS = ("Execution date", "Debit account", "Beneficiary", "Beneficiary account", "Amount",
           "Currency", "Status", "Approvals", "Requested by", "Purpose", "End-to-end id", "Booked")
(C_DATE, C_ACCOUNT, C_BENEFICIARY, C_IBAN, C_AMOUNT, C_CURRENCY, C_STATUS, C_APPROVALS,
 C_REQUESTER, C_PURPOSE, C_E2E, C_BOOKED) = range(len(COLUMNS))

#: status → (light, dark) text colour
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    PaymentStatus.DRAFT: ("#52606d", "#aab4be"),
    PaymentStatus.PENDING_APPROVAL: ("#a15c00", "#f5b94a"),
    PaymentStatus.APPROVED: ("#1d4ed8", "#7aa7ff"),
    PaymentStatus.SCHEDULED: ("#0f766e", "#4fd1c5"),
    PaymentStatus.EXECUTED: ("#12805c", "#4ade80"),
    PaymentStatus.FAILED: ("#c0262d", "#ff6b6b"),
    PaymentStatus.REJECTED: ("#c0262d", "#ff6b6b"),
    PaymentStatus.CANCELLED: ("#66727f", "#9aa4ae"),
    PaymentStatus.REVERSED: ("#7c3aed", "#c4a5ff"),
}
FINAL_MUTED = (PaymentStatus.CANCELLED, PaymentStatus.REJECTED, PaymentStatus.REVERSED)


def status_colour(status: str) -> QColor:
    light, dark = STATUS_COLOURS.get(status, ("#52606d", "#aab4be"))
    return QColor(dark if is_dark() else light)


def status_label(status: str) -> str:
    try:
        return LABELS[PaymentStatus(status)]
    except ValueError:
        return status


def booked_text(view: Any) -> str:
    if view.status not in (PaymentStatus.EXECUTED, PaymentStatus.REVERSED):
        return ""
    return "yes" if view.booked else "not yet"


def approvals_text(view: Any) -> str:
    if not view.required_approvals and not view.approvals:
        return "none needed" if view.status not in (PaymentStatus.DRAFT,) else ""
    return f"{len(view.approvals)}/{view.required_approvals}"


class PaymentsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[Any] = []

    def set_rows(self, rows: list[Any]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt API
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.TextAlignmentRole and section == C_AMOUNT:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def view_at(self, row: int) -> Any:
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        v = self.rows[index.row()]
        c = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(v, c)
        if role == SORT_ROLE:
            return self._key(v, c)
        if role == ID_ROLE:
            return v.id
        if role == VIEW_ROLE:
            return v
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if c in (C_AMOUNT, C_APPROVALS):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter) if c == C_AMOUNT \
                    else int(Qt.AlignmentFlag.AlignCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if c == C_STATUS:
                return status_colour(v.status)
            if v.status in FINAL_MUTED and c != C_STATUS:
                return muted_color()
            if c == C_BOOKED and booked_text(v) == "not yet":
                return muted_color()
            return None
        if role == Qt.ItemDataRole.FontRole and c == C_STATUS:
            from PySide6.QtGui import QFont
            font = QFont()
            font.setWeight(QFont.Weight.DemiBold)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            if c == C_STATUS and v.failure_reason:
                return f"{status_label(v.status)}: {v.failure_reason}"
            if c == C_APPROVALS and (v.approvals or v.approval_reasons):
                who = ", ".join(v.approvals) or "nobody yet"
                why = "; ".join(v.approval_reasons)
                return f"approved by {who}" + (f"\nrequired because: {why}" if why else "")
            if c in (C_PURPOSE, C_BENEFICIARY, C_E2E, C_ACCOUNT):
                return self._text(v, c)
        return None

    @staticmethod
    def _text(v: Any, c: int) -> str:
        if c == C_DATE:
            return format_date(v.execution_date)
        if c == C_ACCOUNT:
            return v.debit_account_name
        if c == C_BENEFICIARY:
            return v.beneficiary_name + (" (transfer)" if v.kind == "internal" else "")
        if c == C_IBAN:
            return v.beneficiary_account_masked
        if c == C_AMOUNT:
            return format_amount(v.amount)
        if c == C_CURRENCY:
            return v.amount.currency
        if c == C_STATUS:
            return status_label(v.status)
        if c == C_APPROVALS:
            return approvals_text(v)
        if c == C_REQUESTER:
            return v.requested_by
        if c == C_PURPOSE:
            return v.purpose
        if c == C_E2E:
            return v.end_to_end_id
        if c == C_BOOKED:
            return booked_text(v)
        return ""

    @staticmethod
    def _key(v: Any, c: int) -> Any:
        if c == C_DATE:
            return f"{v.execution_date.isoformat()}{v.id:012d}"
        if c == C_AMOUNT:
            return float(v.amount.to_minor())
        if c == C_APPROVALS:
            return float(len(v.approvals) * 10 + v.required_approvals)
        return PaymentsModel._text(v, c).lower()


class PaymentsFilterProxy(QSortFilterProxyModel):
    """Sorts by ``SORT_ROLE``; keeps rows whose execution date is within [start, end]."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.start: date | None = None
        self.end: date | None = None
        self.setSortRole(SORT_ROLE)

    def set_range(self, start: date | None, end: date | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt ≥ 6.10
            self.beginFilterChange()
            self.start, self.end = start, end
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.start, self.end = start, end
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:  # noqa: N802 - Qt API
        model = self.sourceModel()
        view = model.view_at(row) if isinstance(model, PaymentsModel) else None
        if view is None:
            return True
        if self.start is not None and view.execution_date < self.start:
            return False
        if self.end is not None and view.execution_date > self.end:
            return False
        return True
