"""Payments: the payment list by status, the approval inbox, a payment's history and funds, and
the actions of its life cycle.

* Status tabs with counts (``status_counts``): All, Awaiting my approval, Draft, Pending
  approval, Approved, Scheduled, Executed, Failed, Rejected, Cancelled, Reversed. The table shows
  what ``list_payments`` returns for the tab and the chosen account; an execution-date range
  filters on the client. "Awaiting my approval" (the inbox) = payments pending approval that
  this user may approve (``payments.approve``), did not request and has not approved yet; its
  count is also the sidebar badge (``Panel.refresh_badge``).
* The detail pane shows the selected payment, its funds check (``verify_funds`` for a payment
  still to be executed) and its history (``PaymentEvent``: the execution log).
* Actions, shown by permission and enabled by status: New payment… (Ctrl+N; ``PaymentDialog``),
  Submit (drafts), Approve / Reject… (reason required), Execute now, Cancel… (Delete), Roll
  back… and Export pain.001…. Every mutating call goes through ``run_sensitive``: the ones the
  service gates by MFA (approve, reject, execute, export, reversal) then ask for a fresh code.
  Enter (or a double click) opens the detail pane.

Every service call runs in the worker pool; the panel refreshes on ``payments.changed``,
``approvals.changed`` and ``beneficiaries.changed``.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox,
                               QFileDialog, QFormLayout, QFrame, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QPlainTextEdit, QPushButton, QScrollArea, QSplitter, QTabBar,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from cio_desktop.domain.payments import CANCELLABLE, EXECUTABLE, DuplicatePaymentSuspected, PaymentStatus
from cio_desktop.security.permissions import Permission
from cio_desktop.ui.dialogs.common import (confirm, hint_label, inline_error, primary_button,
                                           show_status, status_label, title_label)
from cio_desktop.ui.dialogs.mfa import SensitiveRun, run_sensitive
from cio_desktop.ui.dialogs.payment_dialog import PaymentDialog
from cio_desktop.ui.models.payments_model import (C_AMOUNT, C_APPROVALS, C_BENEFICIARY, C_BOOKED,
                                                  C_CURRENCY, C_DATE, C_E2E, C_PURPOSE, C_STATUS,
                                                  COLUMNS, ID_ROLE, PaymentsFilterProxy,
                                                  PaymentsModel, status_colour, status_label as label_of)
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.widgets.tables import compact_rows, record_table
from cio_desktop.ui.widgets.filter_bar import _OptionalDateEdit
from cio_desktop.ui.widgets.format import format_date, negative_color

log = logging.getLogger(__name__)

S = PaymentStatus
ALL, INBOX = "all", "inbox"
TABS: tuple[tuple[str, str], ...] = (
    (ALL, "All"), (INBOX, "Awaiting my approval"), (S.DRAFT.value, "Draft"),
    (S.PENDING_APPROVAL.value, "Pending approval"), (S.APPROVED.value, "Approved"),
    (S.SCHEDULED.value, "Scheduled"), (S.EXECUTED.value, "Executed"), (S.FAILED.value, "Failed"),
    (S.REJECTED.value, "Rejected"), (S.CANCELLED.value, "Cancelled"), (S.REVERSED.value, "Reversed"),
)
HISTORY_COLUMNS = ("When", "Change", "By", "Note")


def awaiting(views: Sequence[Any], username: str) -> list[Any]:
    """The approval inbox: pending payments ``username`` did not request and has not approved."""
    return [v for v in views if v.status == S.PENDING_APPROVAL and v.approval_status in (None, "pending")
            and v.requested_by != username and username not in v.approvals]


def local_time(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else ""


class ReasonDialog(QDialog):
    """Asks for a reason (required or optional) before a cancel, rollback or rejection."""

    def __init__(self, parent: QWidget | None, title: str, text: str, action: str, required: bool) -> None:
        super().__init__(parent)
        self.required = required
        self.setWindowTitle(title)
        self.setMinimumWidth(440)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.addWidget(title_label(title))
        layout.addWidget(hint_label(text))
        self.edit = QPlainTextEdit()
        self.edit.setObjectName("reasonEdit")
        self.edit.setPlaceholderText("Reason (kept in the payment's history and the audit trail)"
                                     if required else "Comment (optional)")
        self.edit.setFixedHeight(80)
        layout.addWidget(self.edit)
        buttons = QDialogButtonBox()
        self.ok = primary_button(action)
        buttons.addButton(self.ok, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.edit.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        self.ok.setEnabled(not self.required or bool(self.edit.toPlainText().strip()))

    def text(self) -> str:
        return " ".join(self.edit.toPlainText().split())


def ask_reason(parent: QWidget | None, title: str, text: str, action: str, required: bool = True) -> str | None:
    """The reason typed, or None when the user cancelled (blocking)."""
    dialog = ReasonDialog(parent, title, text, action, required)
    return dialog.text() if dialog.exec() == QDialog.DialogCode.Accepted else None


def ask_export_path(parent: QWidget | None, default_dir: str) -> tuple[str, str] | None:
    """(path, pain.001 version) from a save dialog whose filter chooses the version."""
    v09, v03 = "pain.001.001.09 (*.xml)", "pain.001.001.03 (*.xml)"
    path, chosen = QFileDialog.getSaveFileName(parent, "Export pain.001 payment file",
                                               str(Path(default_dir) / "payments-pain001.xml"),
                                               f"{v09};;{v03}", v09)
    if not path:
        return None
    return path, "03" if chosen == v03 else "09"


class PaymentsPanel(Panel):
    NAME = "payments"
    TITLE = "Payments"
    PERMISSION = Permission.PAYMENTS_READ
    SHORTCUT = "Ctrl+6"
    TOPICS = ("payments.changed", "approvals.changed", "beneficiaries.changed")
    BADGE_TOPICS = ("payments.changed", "approvals.changed")

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.views: list[Any] = []
        self.history: list[Any] = []
        self.funds: Any = None
        self.counts: dict[str, int] = {}
        self.dialog: PaymentDialog | None = None
        self.last_run: SensitiveRun | None = None
        self.last_message = ""
        self._generation = 0
        self._detail_generation = 0
        self._badge_generation = 0
        self._selected_id: int | None = None
        self._loaded = False
        self._ready = False  # build() finished: signals fired while building are ignored
        session = app.workspace.ctx.session
        self.username = session.username if session else ""
        can = (lambda p: bool(session and session.can(p)))
        self.can_create = can(Permission.PAYMENTS_CREATE)
        self.can_approve = can(Permission.PAYMENTS_APPROVE)
        self.can_execute = can(Permission.PAYMENTS_EXECUTE)
        self.can_cancel = can(Permission.PAYMENTS_CANCEL)
        #: blocking prompts, attributes so tests can answer them
        self.confirm: Callable[[str, str, str], bool] = lambda title, text, action: confirm(
            self, title, text, action)
        self.ask_reason: Callable[[str, str, str, bool], str | None] = \
            lambda title, text, action, required=True: ask_reason(self, title, text, action, required)
        self.ask_export_path: Callable[[], tuple[str, str] | None] = \
            lambda: ask_export_path(self, str(Path.home()))

    # -- construction ---------------------------------------------------------------------------------
    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(8)
        head, self.count_label = self.header_row(self.reload)
        root.addLayout(head)

        self.tabs = QTabBar()
        self.tabs.setObjectName("paymentTabs")
        self.tabs.setExpanding(False)
        self.tabs.setDrawBase(False)
        self.tabs.setUsesScrollButtons(True)
        self.tabs.setElideMode(Qt.TextElideMode.ElideNone)
        self.tabs.setStyleSheet("QTabBar::tab { padding: 6px 8px; }")  # eleven tabs fit 1280 px
        for key, text in TABS:
            i = self.tabs.addTab(text)
            self.tabs.setTabData(i, key)
        self.tabs.setTabVisible(self.tab_index(INBOX), self.can_approve)
        if self.can_approve:
            self.tabs.setTabToolTip(self.tab_index(INBOX), "Payments pending approval that you did not request "
                                    "and have not approved yet")
        self.tabs.currentChanged.connect(lambda _i: self.reload())
        root.addWidget(self.tabs)

        filters = QHBoxLayout()
        filters.addWidget(QLabel("Account"))
        self.account_combo = QComboBox()
        self.account_combo.setObjectName("payFilterAccount")
        self.account_combo.setMinimumWidth(220)
        self.account_combo.addItem("All accounts", None)
        self.account_combo.currentIndexChanged.connect(lambda _i: self.reload())
        filters.addWidget(self.account_combo)
        filters.addSpacing(12)
        filters.addWidget(QLabel("Execution date from"))
        self.date_from = _OptionalDateEdit()
        self.date_from.setObjectName("payFilterFrom")
        filters.addWidget(self.date_from)
        filters.addWidget(QLabel("to"))
        self.date_to = _OptionalDateEdit()
        self.date_to.setObjectName("payFilterTo")
        filters.addWidget(self.date_to)
        self.clear_filters_button = QPushButton("Clear")
        self.clear_filters_button.clicked.connect(self.clear_filters)
        filters.addWidget(self.clear_filters_button)
        filters.addStretch(1)
        self.date_from.dateChanged.connect(lambda _d: self.apply_date_filter())
        self.date_to.dateChanged.connect(lambda _d: self.apply_date_filter())
        root.addLayout(filters)

        bar = QHBoxLayout()
        self.new_button = primary_button("New payment…")
        self.new_button.setObjectName("payNew")
        self.new_button.setToolTip("New payment (Ctrl+N)")
        self.submit_button = QPushButton("Submit")
        self.submit_button.setObjectName("paySubmit")
        self.submit_button.setToolTip("Submit the draft for approval")
        self.approve_button = primary_button("Approve")
        self.approve_button.setObjectName("payApprove")
        self.reject_button = QPushButton("Reject…")
        self.reject_button.setObjectName("payReject")
        self.execute_button = QPushButton("Execute now")
        self.execute_button.setObjectName("payExecute")
        self.execute_button.setToolTip("Execute the approved payment now (two-factor check)")
        self.cancel_button = QPushButton("Cancel payment…")
        self.cancel_button.setObjectName("payCancel")
        self.cancel_button.setToolTip("Cancel a payment that has not been executed (Delete)")
        self.rollback_button = QPushButton("Roll back…")
        self.rollback_button.setObjectName("payRollback")
        self.rollback_button.setToolTip("Reverse an executed payment (two-factor check); history is kept")
        self.export_button = QPushButton("Export pain.001…")
        self.export_button.setObjectName("payExport")
        self.export_button.setToolTip("Write the approved payments not yet exported to a pain.001 file")
        self.action_buttons = (self.new_button, self.submit_button, self.approve_button, self.reject_button,
                               self.execute_button, self.cancel_button, self.rollback_button, self.export_button)
        visible = {self.new_button: self.can_create, self.submit_button: self.can_create,
                   self.approve_button: self.can_approve, self.reject_button: self.can_approve,
                   self.execute_button: self.can_execute, self.cancel_button: self.can_cancel,
                   self.rollback_button: self.can_cancel and self.can_execute,
                   self.export_button: self.can_execute}
        for b in self.action_buttons:
            b.setVisible(visible[b])
            bar.addWidget(b)
        self.reject_button.setProperty("danger", True)
        bar.addStretch(1)
        root.addLayout(bar)
        self.new_button.clicked.connect(lambda: self.open_new())
        self.submit_button.clicked.connect(lambda: self.submit_selected())
        self.approve_button.clicked.connect(lambda: self.approve_selected())
        self.reject_button.clicked.connect(lambda: self.reject_selected())
        self.execute_button.clicked.connect(lambda: self.execute_selected())
        self.cancel_button.clicked.connect(lambda: self.cancel_selected())
        self.rollback_button.clicked.connect(lambda: self.rollback_selected())
        self.export_button.clicked.connect(lambda: self.export_file())
        self.message_label = status_label("ok")
        self.message_label.setObjectName("payMessage")
        root.addWidget(self.message_label)

        self.model = PaymentsModel(self)
        self.proxy = PaymentsFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = record_table(self.proxy, "paymentsTable", sort_column=C_DATE,
                                  order=Qt.SortOrder.DescendingOrder)
        compact_rows(self.table)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.table.doubleClicked.connect(lambda _i: self.open_detail())

        self.detail_box = QGroupBox("Payment")
        self.detail_box.setObjectName("paymentDetail")
        dl = QHBoxLayout(self.detail_box)
        facts = QWidget()
        facts.setObjectName("paymentFacts")
        left = QVBoxLayout(facts)
        left.setContentsMargins(0, 0, 8, 0)
        self.detail_form = QFormLayout()
        self.detail_form.setVerticalSpacing(3)
        self.detail_fields: dict[str, QLabel] = {}
        for key in ("Status", "From", "To", "Amount", "Execution date", "Approvals", "Requested by",
                    "Purpose", "End-to-end id", "Execution", "File"):
            value = QLabel("")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.detail_fields[key] = value
            self.detail_form.addRow(key, value)
        left.addLayout(self.detail_form)
        self.funds_label = QLabel("")
        self.funds_label.setObjectName("payDetailFunds")
        self.funds_label.setWordWrap(True)
        self.funds_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left.addWidget(self.funds_label)
        left.addStretch(1)
        self.detail_hint = hint_label("Select a payment to see its history and funds check.")
        left.insertWidget(0, self.detail_hint)
        scroll = QScrollArea()
        scroll.setWidget(facts)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        facts.setAutoFillBackground(False)
        scroll.viewport().setAutoFillBackground(False)
        dl.addWidget(scroll, 5)
        right = QVBoxLayout()
        right.addWidget(QLabel("History"))
        self.history_table = QTableWidget(0, len(HISTORY_COLUMNS))
        self.history_table.setObjectName("paymentHistory")
        self.history_table.setHorizontalHeaderLabels(list(HISTORY_COLUMNS))
        self.history_table.verticalHeader().setVisible(False)
        self.history_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history_table.setAlternatingRowColors(True)
        self.history_table.setShowGrid(False)
        self.history_table.setWordWrap(True)
        hh = self.history_table.horizontalHeader()
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(len(HISTORY_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        right.addWidget(self.history_table, 1)
        dl.addLayout(right, 7)

        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(self.table)
        self.split.addWidget(self.detail_box)
        self.split.setChildrenCollapsible(True)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        self.split.setSizes([520, 300])
        self.detail_box.setMinimumHeight(180)
        root.addWidget(self.split, 1)

        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        self.new_shortcut = QShortcut(QKeySequence("Ctrl+N"), self, lambda: self.open_new(), context=ctx)
        self.delete_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table,
                                         lambda: self.cancel_selected(),
                                         context=Qt.ShortcutContext.WidgetShortcut)
        self.enter_shortcuts = [QShortcut(QKeySequence(k), self.table, lambda: self.open_detail(),
                                          context=Qt.ShortcutContext.WidgetShortcut)
                                for k in (Qt.Key.Key_Return, Qt.Key.Key_Enter)]
        theme = self.app.extra.get("theme")
        if theme is not None:  # colours set on widgets follow the theme
            theme.changed.connect(lambda _name: self.load_detail() if self._ready else None)
        self._show_detail(None)
        self._update_buttons()
        self._ready = True
        self._load_accounts()
        self.reload()
        self.refresh_badge()

    # -- tabs and filters ---------------------------------------------------------------------------
    def tab_index(self, key: str) -> int:
        return next(i for i in range(self.tabs.count()) if self.tabs.tabData(i) == key)

    def current_tab(self) -> str:
        return self.tabs.tabData(self.tabs.currentIndex()) or ALL

    def set_tab(self, key: str) -> None:
        i = self.tab_index(key)
        if self.tabs.currentIndex() != i:
            self.tabs.setCurrentIndex(i)  # → reload

    def tab_text(self, key: str) -> str:
        return self.tabs.tabText(self.tab_index(key))

    def account_filter(self) -> int | None:
        return self.account_combo.currentData()

    def set_account_filter(self, account_id: int | None) -> None:
        i = self.account_combo.findData(account_id)
        if i >= 0:
            self.account_combo.setCurrentIndex(i)

    def set_date_range(self, start: date | None, end: date | None) -> None:
        self.date_from.set_value(start)
        self.date_to.set_value(end)

    def clear_filters(self) -> None:
        self.account_combo.setCurrentIndex(0)
        self.set_date_range(None, None)

    def apply_date_filter(self) -> None:
        self.proxy.set_range(self.date_from.value(), self.date_to.value())
        self._update_count()
        if self.selected() is None and self._selected_id is not None:
            self._selected_id = None
            self._show_detail(None)
            self._update_buttons()

    def _load_accounts(self) -> None:
        session = self.app.workspace.ctx.session
        if not (session and session.can(Permission.ACCOUNTS_READ)):
            return

        def done(accounts: list[Any]) -> None:
            keep = self.account_filter()
            self.account_combo.blockSignals(True)
            while self.account_combo.count() > 1:
                self.account_combo.removeItem(1)
            for a in accounts:
                self.account_combo.addItem(f"{a.name} · {a.currency}", a.id)
            i = self.account_combo.findData(keep)
            self.account_combo.setCurrentIndex(max(i, 0))
            self.account_combo.blockSignals(False)

        self.app.workers.run(self.app.workspace.accounts.list_accounts, done,
                             lambda exc: log.info("payment account filter not loaded: %s", exc))

    # -- data --------------------------------------------------------------------------------------------
    def reload(self) -> None:
        if not self._ready:
            return
        self._generation += 1
        generation = self._generation
        payments, tab, account_id, me = self.app.workspace.payments, self.current_tab(), self.account_filter(), \
            self.username
        self.count_label.setText("loading…")

        def fetch() -> tuple[list[Any], dict[str, int]]:
            if tab == INBOX:
                rows = awaiting(payments.list_payments(status=S.PENDING_APPROVAL.value, account_id=account_id), me)
            elif tab == ALL:
                rows = payments.list_payments(account_id=account_id)
            else:
                rows = payments.list_payments(status=tab, account_id=account_id)
            return rows, payments.status_counts()

        def failed(exc: BaseException) -> None:
            if generation == self._generation:
                self.count_label.setText("could not load the payments")
                self.app.show_error(exc)

        self.app.workers.run(fetch, lambda result: self._fill(generation, *result), failed)

    def _fill(self, generation: int, views: list[Any], counts: dict[str, int]) -> None:
        if generation != self._generation:
            return
        keep = self._selected_id
        self.views = list(views)
        self.counts = dict(counts)
        self._loaded = True
        for i in range(self.tabs.count()):
            key = self.tabs.tabData(i)
            base = dict(TABS)[key]
            if key == ALL:
                n = sum(counts.values())
            elif key == INBOX:
                n = self.badge
            else:
                n = counts.get(key, 0)
            self.tabs.setTabText(i, f"{base} ({n})")
        self.model.set_rows(self.views)
        self._fit_columns()
        self._update_count()
        target = keep if keep is not None and self.select_payment(keep) else None
        if target is None:
            self._selected_id = None
            if self.proxy.rowCount():
                self.table.selectRow(0)
            else:
                self._show_detail(None)
        self._selection_changed(force=True)

    def _fit_columns(self) -> None:
        header = self.table.horizontalHeader()
        self.table.resizeColumnsToContents()
        for c, cap in ((C_BENEFICIARY, 210), (C_PURPOSE, 240), (C_E2E, 190)):
            if header.sectionSize(c) > cap:
                header.resizeSection(c, cap)
        for c in (C_AMOUNT, C_STATUS, C_APPROVALS, C_CURRENCY, C_BOOKED):
            header.resizeSection(c, header.sectionSize(c) + 12)

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        text = f"{shown} payment{'s' if shown != 1 else ''}"
        if shown != total:
            text += f" of {total} (date filter)"
        self.count_label.setText(text)

    def view(self, payment_id: int | None) -> Any:
        return next((v for v in self.views if v.id == payment_id), None)

    def selected(self) -> Any:
        if not hasattr(self, "table"):
            return None
        rows = self.table.selectionModel().selectedRows()
        return self.view(rows[0].data(ID_ROLE)) if rows else None

    def select_payment(self, payment_id: int) -> bool:
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(ID_ROLE) == payment_id:
                self.table.selectRow(row)
                return True
        return False

    def shown_ids(self) -> list[int]:
        """The payment ids in the table as shown (sorted, filtered)."""
        return [self.proxy.index(r, 0).data(ID_ROLE) for r in range(self.proxy.rowCount())]

    def row_texts(self) -> list[dict[str, str]]:
        return [{title: self.proxy.index(r, c).data() or "" for c, title in enumerate(COLUMNS)}
                for r in range(self.proxy.rowCount())]

    # -- badge ---------------------------------------------------------------------------------------------
    def refresh_badge(self) -> None:
        if not self.can_approve:
            self.set_badge(0)
            return
        self._badge_generation += 1
        generation = self._badge_generation
        payments, me = self.app.workspace.payments, self.username

        def done(n: int) -> None:
            if generation == self._badge_generation:
                self.set_badge(n)
                if self._built:
                    self.tabs.setTabText(self.tab_index(INBOX), f"Awaiting my approval ({n})")

        self.app.workers.run(lambda: len(awaiting(payments.list_payments(status=S.PENDING_APPROVAL.value), me)),
                             done, lambda exc: log.info("payments badge not refreshed: %s", exc))

    # -- detail --------------------------------------------------------------------------------------------
    def _selection_changed(self, force: bool = False) -> None:
        view = self.selected()
        new_id = view.id if view else None
        changed = new_id != self._selected_id
        self._selected_id = new_id
        self._update_buttons()
        if changed or force:
            self.load_detail()

    def load_detail(self) -> None:
        self._detail_generation += 1
        generation = self._detail_generation
        view = self.selected()
        self._show_detail(view)
        if view is None:
            return
        payments = self.app.workspace.payments
        today = self.app.workspace.ctx.now().date()
        check_funds = S(view.status) in (CANCELLABLE | EXECUTABLE)

        def fetch() -> tuple[list[Any], Any, str]:
            history = payments.history(view.id)
            funds, funds_error = None, ""
            if check_funds:
                try:
                    funds = payments.verify_funds(view.debit_account_id, view.amount.amount,
                                                  max(view.execution_date, today), exclude_payment_id=view.id)
                except Exception as exc:  # noqa: BLE001 — shown in the pane (e.g. a closed account)
                    funds_error = str(exc)
            return history, funds, funds_error

        def done(result: tuple[list[Any], Any, str]) -> None:
            if generation == self._detail_generation:
                self._show_history(*result)

        def failed(exc: BaseException) -> None:
            if generation == self._detail_generation:
                self.funds_label.setText(f"could not load the history: {inline_error(self.app, exc)}")

        self.app.workers.run(fetch, done, failed)

    def _show_detail(self, view: Any) -> None:
        self.detail_hint.setVisible(view is None)
        for i in range(self.detail_form.rowCount()):
            for role in (QFormLayout.ItemRole.LabelRole, QFormLayout.ItemRole.FieldRole):
                item = self.detail_form.itemAt(i, role)
                if item is not None and item.widget() is not None:
                    item.widget().setVisible(view is not None)
        if view is None:
            self.detail_box.setTitle("Payment")
            self.funds_label.setText("")
            self.history = []
            self.history_table.setRowCount(0)
            return
        self.detail_box.setTitle(f"Payment {view.id}")
        f = self.detail_fields
        f["Status"].setText(label_of(view.status) + (f" — {view.failure_reason}" if view.failure_reason else ""))
        f["Status"].setStyleSheet(f"color: {status_colour(view.status).name()}; font-weight: 600;")
        f["From"].setText(f"{view.debit_account_name} ({view.debit_account_masked})")
        to = f"{view.beneficiary_name} · {view.beneficiary_account_masked}"
        if view.bic:
            to += f" · {view.bic}"
        if view.country:
            to += f" · {view.country}"
        f["To"].setText(to + (" (transfer between own accounts)" if view.kind == "internal" else ""))
        f["Amount"].setText(view.amount.format())
        f["Execution date"].setText(format_date(view.execution_date))
        approvals = (f"{len(view.approvals)} of {view.required_approvals}" if view.required_approvals
                     else "none required" if view.status != S.DRAFT else "not submitted yet")
        if view.approvals:
            approvals += f" — by {', '.join(view.approvals)}"
        if view.approval_reasons:
            approvals += f" ({'; '.join(view.approval_reasons)})"
        f["Approvals"].setText(approvals)
        f["Requested by"].setText(f"{view.requested_by}, {local_time(view.created_at)}")
        f["Purpose"].setText(view.purpose or "—")
        f["End-to-end id"].setText(view.end_to_end_id + (f" · batch {view.batch}" if view.batch else ""))
        if view.executed_at:
            f["Execution"].setText(f"executed {local_time(view.executed_at)}; "
                                   + ("booked by the bank" if view.booked else "not yet on a bank statement"))
        else:
            f["Execution"].setText("not executed")
        f["File"].setText(f"{view.file_path} ({local_time(view.exported_at)})" if view.exported_at else "not exported")
        self.funds_label.setText("")

    def _show_history(self, history: list[Any], funds: Any, funds_error: str) -> None:
        self.history = list(history)
        self.funds = funds
        view = self.selected()
        if funds is not None:
            verdict = "sufficient" if funds.sufficient else f"short by {funds.shortfall.format()}"
            self.funds_label.setText(f"<b>Funds check on {format_date(funds.on_date)}: {verdict}</b><br>"
                                     f"{funds.sentence()}")
            self.funds_label.setStyleSheet("" if funds.sufficient else f"color: {negative_color().name()};")
        elif funds_error:
            self.funds_label.setText(f"Funds check not available: {funds_error}")
            self.funds_label.setStyleSheet(f"color: {negative_color().name()};")
        else:
            self.funds_label.setText("")
            self.funds_label.setStyleSheet("")
        table = self.history_table
        table.setRowCount(len(history))
        for r, e in enumerate(history):
            if not e.from_status:
                change = label_of(e.to_status)
            elif e.from_status == e.to_status:
                change = "note"
            else:
                change = f"{label_of(e.from_status)} → {label_of(e.to_status)}"
            for c, text in enumerate((local_time(e.at), change, e.actor, e.note)):
                item = QTableWidgetItem(text)
                if c == 3:
                    item.setToolTip(e.note)
                if c == 1 and e.to_status and e.from_status != e.to_status:
                    item.setForeground(status_colour(e.to_status))
                table.setItem(r, c, item)
        table.resizeRowsToContents()
        if view is not None:
            table.scrollToBottom()

    def open_detail(self) -> Any:
        """Enter / double click: make sure the detail pane is open and focus its history."""
        view = self.selected()
        if view is None:
            return None
        sizes = self.split.sizes()
        if len(sizes) == 2 and sizes[1] == 0:
            total = sum(sizes) or 600
            self.split.setSizes([total * 3 // 5, total * 2 // 5])
        self.history_table.setFocus()
        return view

    # -- buttons ---------------------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        v = self.selected()
        st = S(v.status) if v is not None else None
        today = self.app.workspace.ctx.now().date()
        mine = v is not None and v.requested_by == self.username
        self.submit_button.setEnabled(st is S.DRAFT and mine)
        can_decide = st is S.PENDING_APPROVAL and not mine and self.username not in v.approvals
        self.approve_button.setEnabled(can_decide)
        self.reject_button.setEnabled(can_decide)
        if st is S.PENDING_APPROVAL and mine:
            why = "you requested this payment: another approver must decide (four-eyes principle)"
        elif st is S.PENDING_APPROVAL and v is not None and self.username in v.approvals:
            why = "you have already approved this payment"
        else:
            why = ""
        for b in (self.approve_button, self.reject_button):
            b.setToolTip(why)
        self.execute_button.setEnabled(st in EXECUTABLE and v.execution_date <= today)
        self.cancel_button.setEnabled(st in CANCELLABLE)
        self.rollback_button.setEnabled(st is S.EXECUTED)

    def _message(self, text: str, kind: str = "ok") -> None:
        self.last_message = text
        show_status(self.message_label, text, kind)

    def _failed(self, what: str) -> Callable[[BaseException], None]:
        def report(exc: BaseException) -> None:
            control = getattr(exc, "control", None)
            prefix = f"{what} refused by the “{control}” control" if control else f"{what} failed"
            self._message(f"{prefix}: {inline_error(self.app, exc)}", "error")
        return report

    def _sensitive(self, fn: Callable[[], Any], done: Callable[[Any], None], what: str,
                   on_error: Callable[[BaseException], None] | None = None) -> SensitiveRun:
        self.last_run = run_sensitive(self.app, self, fn, done, on_error or self._failed(what),
                                      lambda: self._message(f"{what}: cancelled", "warning"))
        return self.last_run

    # -- actions ------------------------------------------------------------------------------------------------
    def open_new(self) -> PaymentDialog | None:
        if not self.can_create:
            return None
        dialog = PaymentDialog(self.app, self, account_id=self.account_filter())
        dialog.accepted.connect(lambda: self._created(dialog))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _created(self, dialog: PaymentDialog) -> None:
        result = dialog.result_value
        if result is None:
            return
        p = result.payment
        text = f"Payment {p.id} created: {p.amount.format()} to {p.beneficiary_name}, {label_of(p.status)}"
        if p.status == S.PENDING_APPROVAL:
            text += f" ({p.required_approvals} approval{'s' if p.required_approvals != 1 else ''} needed"
            text += f": {'; '.join(p.approval_reasons)})" if p.approval_reasons else ")"
        text += "."
        if result.warnings:
            text += " Warning: " + " ".join(result.warnings)
        self._selected_id = p.id
        self.app.status(f"payment {p.id} created")
        self._message(text, "warning" if result.warnings else "ok")
        if self.current_tab() not in (ALL, p.status):
            self.set_tab(ALL)
        else:
            self.reload()

    def submit_selected(self, *, confirm_duplicate: bool = False) -> SensitiveRun | None:
        v = self.selected()
        if v is None or not self.can_create:
            return None
        payments, pid = self.app.workspace.payments, v.id

        def done(view: Any) -> None:
            self._message(f"Payment {pid} submitted: {label_of(view.status)}.")

        def failed(exc: BaseException) -> None:
            if isinstance(exc, DuplicatePaymentSuspected):
                if self.confirm("Possible duplicate payment", f"{exc}.\n\nSubmit it anyway?", "Submit anyway"):
                    self.submit_selected(confirm_duplicate=True)
                else:
                    self._message(f"Payment {pid} not submitted: possible duplicate", "warning")
                return
            self._failed(f"Submitting payment {pid}")(exc)

        return self._sensitive(lambda: payments.submit(pid, confirm_duplicate=confirm_duplicate), done,
                               f"Submitting payment {pid}", failed)

    def approve_selected(self) -> SensitiveRun | None:
        v = self.selected()
        if v is None or not self.can_approve:
            return None
        payments, pid = self.app.workspace.payments, v.id

        def done(view: Any) -> None:
            self._message(f"Payment {pid} approved by you: now {label_of(view.status)} "
                          f"({len(view.approvals)} of {view.required_approvals} approvals).")
            self.app.status(f"payment {pid} approved")

        return self._sensitive(lambda: payments.approve(pid, ""), done, f"Approving payment {pid}")

    def reject_selected(self) -> SensitiveRun | None:
        v = self.selected()
        if v is None or not self.can_approve:
            return None
        reason = self.ask_reason(f"Reject payment {v.id}",
                                 f"Reject {v.amount.format()} to {v.beneficiary_name}? The payment ends "
                                 "here; the requester sees your reason.", "Reject", True)
        if reason is None:
            return None
        if not reason.strip():
            self._message("Not rejected: say why you reject the payment (a reason is required).", "error")
            return None
        payments, pid = self.app.workspace.payments, v.id
        return self._sensitive(lambda: payments.reject(pid, reason),
                               lambda _v: self._message(f"Payment {pid} rejected."), f"Rejecting payment {pid}")

    def execute_selected(self) -> SensitiveRun | None:
        v = self.selected()
        if v is None or not self.can_execute:
            return None
        if not self.confirm("Execute payment", f"Execute payment {v.id} now: {v.amount.format()} from "
                            f"{v.debit_account_name} to {v.beneficiary_name} ({v.beneficiary_account_masked})?",
                            "Execute"):
            return None
        payments, pid = self.app.workspace.payments, v.id
        return self._sensitive(lambda: payments.execute_transaction(pid),
                               lambda view: self._message(f"Payment {pid} {label_of(view.status)}."),
                               f"Executing payment {pid}")

    def cancel_selected(self) -> SensitiveRun | None:
        v = self.selected()
        if v is None or not self.can_cancel:
            return None
        if S(v.status) not in CANCELLABLE:
            if v.status == S.EXECUTED and self.can_execute:
                return self.rollback_selected()
            self._message(f"Payment {v.id} is {label_of(v.status)}: it cannot be cancelled.", "error")
            return None
        reason = self.ask_reason(f"Cancel payment {v.id}",
                                 f"Cancel {v.amount.format()} to {v.beneficiary_name}? It will not be paid"
                                 + (" and its approval request is withdrawn" if v.status == S.PENDING_APPROVAL
                                    else "") + ".", "Cancel payment", True)
        if not reason:
            if reason is not None:
                self._message("Not cancelled: a reason is required.", "error")
            return None
        payments, pid = self.app.workspace.payments, v.id
        return self._sensitive(lambda: payments.cancel_transaction(pid, reason),
                               lambda _v: self._message(f"Payment {pid} cancelled."), f"Cancelling payment {pid}")

    def rollback_selected(self) -> SensitiveRun | None:
        v = self.selected()
        if v is None or not (self.can_cancel and self.can_execute):
            return None
        reason = self.ask_reason(f"Roll back payment {v.id}",
                                 f"Reverse the executed payment of {v.amount.format()} to {v.beneficiary_name}? "
                                 + ("The bank booked it: a reversing ledger line is posted. " if v.booked else
                                    "It is not yet on a bank statement. ")
                                 + "Nothing is deleted; this needs a two-factor check.", "Roll back", True)
        if not reason:
            if reason is not None:
                self._message("Not rolled back: a reason is required.", "error")
            return None
        payments, pid = self.app.workspace.payments, v.id
        return self._sensitive(lambda: payments.rollback_transaction(pid, reason),
                               lambda view: self._message(f"Payment {pid} {label_of(view.status)}."),
                               f"Rolling back payment {pid}")

    def export_file(self) -> SensitiveRun | None:
        if not self.can_execute:
            return None
        chosen = self.ask_export_path()
        if not chosen:
            return None
        path, version = chosen
        payments, account_id = self.app.workspace.payments, self.account_filter()

        def done(result: Any) -> None:
            self._message(result.summary() + ".")
            self.app.status(f"payment file written: {result.path}")

        return self._sensitive(lambda: payments.export_pain001(path, version=version, account_id=account_id),
                               done, "Export")

    # -- Panel contract --------------------------------------------------------------------------------------------
    def on_shown(self) -> None:
        if self._loaded:
            self._update_buttons()

    def on_changes(self, topic: str, data: dict) -> None:
        if topic in self.TOPICS and self._built:
            self.reload()
