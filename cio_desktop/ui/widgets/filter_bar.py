"""The ledger's filter bar: text search (debounced), accounts, booking-date range, amount range.

Emits ``changed`` when the filters change: at once for accounts and dates, ``DEBOUNCE_MS`` after
the last keystroke for text and amounts, so typing a word runs one query, not one per letter.
Esc in the search box clears it. ``values()`` gives the filters as ``LedgerQuery`` fields.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from PySide6.QtCore import QDate, QEvent, QObject, QRegularExpression, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QRegularExpressionValidator
from PySide6.QtWidgets import (QDateEdit, QHBoxLayout, QLabel, QLineEdit, QMenu, QPushButton,
                               QToolButton, QWidget)

DEBOUNCE_MS = 300
_NO_DATE = QDate(1900, 1, 1)  # the QDateEdit minimum, shown as "any"


class _OptionalDateEdit(QDateEdit):
    """A date edit that can be empty ("any"): its minimum date stands for "no bound"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCalendarPopup(True)
        self.setMinimumDate(_NO_DATE)
        self.setSpecialValueText("any")
        self.setDate(_NO_DATE)
        self.setDisplayFormat(_display_format())
        self.calendarWidget().installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.calendarWidget() and event.type() == QEvent.Type.Show and self.value() is None:
            today = QDate.currentDate()
            obj.setCurrentPage(today.year(), today.month())
        return super().eventFilter(obj, event)

    def keyPressEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.value() is not None \
                and self.hasSelectedText() and self.lineEdit().selectedText() == self.text():
            self.clear_value()
            return
        super().keyPressEvent(event)

    def value(self) -> date | None:
        d = self.date()
        return None if d == _NO_DATE else date(d.year(), d.month(), d.day())

    def set_value(self, value: date | None) -> None:
        self.setDate(_NO_DATE if value is None else QDate(value.year, value.month, value.day))

    def clear_value(self) -> None:
        self.setDate(_NO_DATE)


def _display_format() -> str:
    from cio_desktop.ui.widgets.format import date_format

    return date_format()


def parse_amount(text: str) -> Decimal | None:
    text = text.strip().replace(",", "")
    if not text or text in ("-", "+", "."):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


class LedgerFilterBar(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ledgerFilterBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)

        self.search = QLineEdit()
        self.search.setObjectName("ledgerSearch")
        self.search.setPlaceholderText("Search counterparty, reference, description…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(260)
        self.search.installEventFilter(self)
        row.addWidget(self.search, 3)

        self.accounts_button = QToolButton()
        self.accounts_button.setObjectName("ledgerAccounts")
        self.accounts_button.setText("All accounts")
        self.accounts_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.accounts_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        self.accounts_button.setMinimumWidth(150)
        self.accounts_menu = QMenu(self.accounts_button)
        self.accounts_button.setMenu(self.accounts_menu)
        self._account_actions: dict[int, QAction] = {}
        self._all_action = QAction("All accounts", self)  # owned by the bar: menu.clear() keeps it
        self._all_action.triggered.connect(self._select_all_accounts)
        row.addWidget(self.accounts_button)

        row.addWidget(QLabel("From"))
        self.date_from = _OptionalDateEdit()
        self.date_from.setObjectName("ledgerDateFrom")
        row.addWidget(self.date_from)
        row.addWidget(QLabel("to"))
        self.date_to = _OptionalDateEdit()
        self.date_to.setObjectName("ledgerDateTo")
        row.addWidget(self.date_to)

        validator = QRegularExpressionValidator(QRegularExpression(r"^-?[0-9,]*(\.[0-9]{0,3})?$"), self)
        self.amount_min = QLineEdit()
        self.amount_min.setObjectName("ledgerAmountMin")
        self.amount_min.setPlaceholderText("min amount")
        self.amount_max = QLineEdit()
        self.amount_max.setObjectName("ledgerAmountMax")
        self.amount_max.setPlaceholderText("max amount")
        for edit in (self.amount_min, self.amount_max):
            edit.setValidator(validator)
            edit.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            edit.setMaximumWidth(120)
            row.addWidget(edit)

        self.clear_button = QPushButton("Clear filters")
        self.clear_button.setObjectName("ledgerClearFilters")
        self.clear_button.clicked.connect(self.clear)
        row.addWidget(self.clear_button)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_if_changed)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.amount_min.textChanged.connect(lambda _t: self._debounce.start())
        self.amount_max.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self.flush)
        self.amount_min.returnPressed.connect(self.flush)
        self.amount_max.returnPressed.connect(self.flush)
        self.date_from.dateChanged.connect(lambda _d: self._emit_if_changed())
        self.date_to.dateChanged.connect(lambda _d: self._emit_if_changed())
        self._last = self.values()

    # -- accounts ---------------------------------------------------------------------------
    def set_accounts(self, names: dict[int, str]) -> None:
        """Offer these accounts (id → display name), keeping the current choice where possible."""
        chosen = set(self.selected_account_ids())
        self.accounts_menu.clear()
        for old in self._account_actions.values():
            old.deleteLater()
        self.accounts_menu.addAction(self._all_action)
        self.accounts_menu.addSeparator()
        self._account_actions = {}
        for account_id, name in sorted(names.items(), key=lambda kv: kv[1].lower()):
            act = QAction(name, self)
            act.setCheckable(True)
            act.setChecked(account_id in chosen)
            act.toggled.connect(lambda _c: self._accounts_toggled())
            self.accounts_menu.addAction(act)
            self._account_actions[account_id] = act
        self._update_accounts_text()

    def selected_account_ids(self) -> tuple[int, ...]:
        return tuple(sorted(i for i, a in self._account_actions.items() if a.isChecked()))

    def set_selected_accounts(self, ids: tuple[int, ...] | list[int]) -> None:
        wanted = set(ids)
        for account_id, act in self._account_actions.items():
            act.blockSignals(True)
            act.setChecked(account_id in wanted)
            act.blockSignals(False)
        self._accounts_toggled()

    def _select_all_accounts(self) -> None:
        self.set_selected_accounts(())

    def _accounts_toggled(self) -> None:
        self._update_accounts_text()
        self._emit_if_changed()

    def _update_accounts_text(self) -> None:
        ids = self.selected_account_ids()
        if not ids:
            text = "All accounts"
        elif len(ids) == 1:
            text = self._account_actions[ids[0]].text()
        else:
            text = f"{len(ids)} accounts"
        self.accounts_button.setText(f"{text}  ▾")
        self.accounts_button.setToolTip("\n".join(self._account_actions[i].text() for i in ids)
                                        or "Show the lines of some accounts only")

    # -- values --------------------------------------------------------------------------------
    def values(self) -> dict:
        """The filters as ``LedgerQuery`` keyword arguments."""
        d_from, d_to = self.date_from.value(), self.date_to.value()
        if d_from and d_to and d_from > d_to:  # a reversed range means the days between them
            d_from, d_to = d_to, d_from
        lo, hi = parse_amount(self.amount_min.text()), parse_amount(self.amount_max.text())
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        return {"text": " ".join(self.search.text().split()), "account_ids": self.selected_account_ids(),
                "date_from": d_from, "date_to": d_to, "amount_min": lo, "amount_max": hi}

    def flush(self) -> None:
        """Apply pending typing now (Enter, or a test that does not want to wait)."""
        self._debounce.stop()
        self._emit_if_changed()

    def clear(self) -> None:
        widgets = (self.search, self.amount_min, self.amount_max, self.date_from, self.date_to,
                   *self._account_actions.values())
        for w in widgets:
            w.blockSignals(True)
        self.search.clear()
        self.amount_min.clear()
        self.amount_max.clear()
        self.date_from.clear_value()
        self.date_to.clear_value()
        for act in self._account_actions.values():
            act.setChecked(False)
        for w in widgets:
            w.blockSignals(False)
        self._update_accounts_text()
        self.flush()

    def _emit_if_changed(self) -> None:
        current = self.values()
        if current != self._last:
            self._last = current
            self.changed.emit()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.search and event.type() == QEvent.Type.KeyPress \
                and event.key() == Qt.Key.Key_Escape and self.search.text():
            self.search.clear()
            self.flush()
            return True
        return super().eventFilter(obj, event)
