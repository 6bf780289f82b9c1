"""Connections: the bank, accounting and investment-platform APIs this workstation synchronises.

A sortable table of connections (when each last ran, last succeeded, runs next, and the last
error in red), the recent runs of the selected one, and the actions: Add… / Edit… (the
connection dialog; MFA-gated; a save refused because another user changed the connection
meanwhile reloads it, here and in the dialog), Test, Sync now, Pause / Resume (MFA-gated). Every service call
runs in the worker pool; the panel refreshes on ``connections.changed`` and on the
``sync.completed`` / ``sync.failed`` events the scheduler's background runs publish too.
Buttons the role may not use are hidden (``connections.manage``, ``sync.run``); the services
check again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QEvent, QObject, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView,
                               QPushButton, QSplitter, QStyle, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from cio_desktop.security.permissions import Permission
from cio_desktop.ui.dialogs.common import (hint_label, inline_error, primary_button, show_status,
                                           status_label)
from cio_desktop.ui.dialogs.connection_dialog import ConnectionDialog
from cio_desktop.ui.dialogs.mfa import SensitiveRun, run_sensitive
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.widgets.tables import compact_rows, record_table
from cio_desktop.ui.widgets.format import is_dark, muted_color, negative_color

log = logging.getLogger(__name__)

COLUMNS = ("Name", "Kind", "Base URL", "Auth", "Interval", "Paused", "Last sync started",
           "Last success", "Next sync", "Last error")
#: header texts (two lines where that saves width; ``COLUMNS`` are the names)
HEADERS = ("Name", "Kind", "Base URL", "Auth", "Interval", "Paused", "Last sync\nstarted",
           "Last\nsuccess", "Next\nsync", "Last error")
(C_NAME, C_KIND, C_URL, C_AUTH, C_INTERVAL, C_PAUSED, C_STARTED, C_SUCCESS, C_NEXT,
 C_ERROR) = range(len(COLUMNS))
RUN_COLUMNS = ("Started", "Finished", "Status", "New", "Duplicates", "Error")
AUTH_NAMES = {"oauth2": "OAuth2", "api_key": "API key", "client_cert": "Client certificate",
              "none": "None"}
ID_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole
OK_COLOUR = "#12805c"


def local_time(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else ""


def short_time(value: datetime | None, now: datetime) -> str:
    """Compact local time for the table: ``today 08:30``, ``yesterday 21:10``, ``2 Nov 08:30``."""
    if value is None:
        return ""
    local, today = value.astimezone(), now.astimezone().date()
    days = (local.date() - today).days
    clock = local.strftime("%H:%M")
    if days == 0:
        return f"today {clock}"
    if days == -1:
        return f"yesterday {clock}"
    if days == 1:
        return f"tomorrow {clock}"
    if local.year == today.year:
        return f"{local.day} {local.strftime('%b')} {clock}"
    return local.strftime("%Y-%m-%d %H:%M")


def host_of(url: str) -> str:
    """``https://api.bank.example/psd2/v1`` → ``api.bank.example`` (the table; tooltips show all)."""
    return urlsplit(url).netloc or url


def error_text(error: str, name: str) -> str:
    """The error on one line, without the connection's name in front (the row already says it)."""
    text = " ".join((error or "").split())
    for prefix in (f"{name}: ", f"connection '{name}': "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def interval_text(minutes: int) -> str:
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


def next_sync_text(view: Any, now: datetime) -> str:
    if view.paused:
        return "paused"
    if view.next_sync_at is None or view.next_sync_at <= now:
        return "due now"
    return short_time(view.next_sync_at, now)


class ConnectionsPanel(Panel):
    NAME = "connections"
    TITLE = "Connections"
    PERMISSION = Permission.ACCOUNTS_READ
    SHORTCUT = "Ctrl+3"
    TOPICS = ("connections.changed", "sync.completed", "sync.failed")

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.connections: list[Any] = []
        self.runs: list[Any] = []
        self.dialog: ConnectionDialog | None = None
        self.last_run: SensitiveRun | None = None   # the last run_sensitive handle (tests)
        self.last_message = ""                       # the last Test / Sync now outcome
        self._busy: dict[int, str] = {}               # connection id → "test" | "sync"
        self._generation = 0
        self._runs_generation = 0
        self._selected_id: int | None = None
        self._loaded = False

    # -- construction -----------------------------------------------------------------------------
    def build(self) -> None:
        session = self.app.workspace.ctx.session
        self.can_manage = bool(session and session.can(Permission.CONNECTIONS_MANAGE))
        self.can_sync = bool(session and session.can(Permission.SYNC_RUN))
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        head, self.count_label = self.header_row(self.reload)
        root.addLayout(head)
        root.addWidget(hint_label(
            "Bank, accounting and investment-platform APIs. Each connection is synchronised in the "
            "background at its interval; new transactions go to the ledger, lines already there "
            "are skipped."))

        bar = QHBoxLayout()
        self.add_button = primary_button("Add…")
        self.add_button.setObjectName("connAdd")
        self.edit_button = QPushButton("Edit…")
        self.edit_button.setObjectName("connEdit")
        self.test_button = QPushButton("Test")
        self.test_button.setObjectName("connTest")
        self.test_button.setToolTip("Check the address, the TLS certificate and the credentials")
        self.sync_button = QPushButton("Sync now")
        self.sync_button.setObjectName("connSyncNow")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("connPause")
        self.pause_button.setMinimumWidth(90)
        for b in (self.add_button, self.edit_button, self.pause_button):
            b.setVisible(self.can_manage)
        for b in (self.test_button, self.sync_button):
            b.setVisible(self.can_sync)
        self.add_button.clicked.connect(self.open_add)
        self.edit_button.clicked.connect(self.open_edit)
        self.test_button.clicked.connect(self.test_selected)
        self.sync_button.clicked.connect(self.sync_selected)
        self.pause_button.clicked.connect(self.toggle_pause)
        for b in (self.add_button, self.edit_button, self.test_button, self.sync_button,
                  self.pause_button):
            bar.addWidget(b)
        bar.addStretch(1)
        root.addLayout(bar)
        self.message_label = status_label("ok")
        self.message_label.setObjectName("connMessage")
        root.addWidget(self.message_label)

        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.table = record_table(self.proxy, "connectionsTable", sort_column=C_NAME)
        compact_rows(self.table)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.table.doubleClicked.connect(lambda _i: self.open_edit() if self.can_manage else None)
        self.table.viewport().installEventFilter(self)

        runs_box = QGroupBox("Recent runs")
        self.runs_box = runs_box
        rv = QVBoxLayout(runs_box)
        self.runs_table = QTableWidget(0, len(RUN_COLUMNS))
        self.runs_table.setObjectName("connectionRuns")
        self.runs_table.setHorizontalHeaderLabels(list(RUN_COLUMNS))
        self.runs_table.verticalHeader().setVisible(False)
        self.runs_table.verticalHeader().setDefaultSectionSize(26)
        self.runs_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.runs_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs_table.setAlternatingRowColors(True)
        self.runs_table.setShowGrid(False)
        self.runs_table.setWordWrap(True)  # the whole error, over several lines if need be
        rh = self.runs_table.horizontalHeader()
        rh.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        rh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        rh.setSectionResizeMode(len(RUN_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        rh.sectionResized.connect(lambda *_: self.runs_table.resizeRowsToContents())
        self.runs_table.viewport().installEventFilter(self)
        self.runs_hint = hint_label("Select a connection to see its runs.")
        rv.addWidget(self.runs_hint)
        rv.addWidget(self.runs_table, 1)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(runs_box)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        root.addWidget(split, 1)
        self._update_buttons()
        self.reload()

    # -- data --------------------------------------------------------------------------------------------
    def reload(self) -> None:
        self._generation += 1
        generation = self._generation
        sync = self.app.workspace.sync
        self.count_label.setText("loading…")

        def failed(exc: BaseException) -> None:
            if generation == self._generation:
                self.count_label.setText("could not load the connections")
                self.app.show_error(exc)

        self.app.workers.run(sync.list_connections, lambda views: self._fill(generation, views), failed)

    def _fill(self, generation: int, views: list[Any]) -> None:
        if generation != self._generation:
            return
        keep = self._selected_id
        self.connections = list(views)
        self._loaded = True
        now = self.app.workspace.ctx.now()
        sort_column = self.proxy.sortColumn()
        sort_order = self.table.horizontalHeader().sortIndicatorOrder()
        self.table.setSortingEnabled(False)
        self.model.setRowCount(0)
        for v in views:
            never = datetime.min.isoformat()
            cells = [
                (v.name, v.name.lower()),
                (v.kind, v.kind),
                (host_of(v.base_url), v.base_url.lower()),
                (AUTH_NAMES.get(v.auth_kind, v.auth_kind), v.auth_kind),
                (interval_text(v.interval_minutes), int(v.interval_minutes)),
                ("yes" if v.paused else "no", int(v.paused)),
                (short_time(v.last_started_at, now) or "never",
                 v.last_started_at.isoformat() if v.last_started_at else never),
                (short_time(v.last_success_at, now) or "never",
                 v.last_success_at.isoformat() if v.last_success_at else never),
                (next_sync_text(v, now), "~" if v.paused else
                 (v.next_sync_at.isoformat() if v.next_sync_at else "")),
                (error_text(v.last_error, v.name), v.last_error.lower()),
            ]
            row = []
            for text, key in cells:
                item = QStandardItem(text)
                item.setData(key, SORT_ROLE)
                item.setEditable(False)
                row.append(item)
            row[C_NAME].setData(v.id, ID_ROLE)
            row[C_NAME].setToolTip(v.name)
            row[C_URL].setToolTip(v.base_url)
            for col, value in ((C_STARTED, v.last_started_at), (C_SUCCESS, v.last_success_at)):
                if value is not None:
                    row[col].setToolTip(local_time(value))
            if v.last_error:
                warning = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
                row[C_ERROR].setForeground(negative_color())
                row[C_ERROR].setToolTip(v.last_error)
                row[C_NAME].setForeground(negative_color())
                row[C_NAME].setIcon(warning)  # still visible when the row is selected
                row[C_NAME].setToolTip(f"{v.name}: the last sync failed — {v.last_error}")
            if v.paused:
                for item in row[C_KIND:C_ERROR]:
                    item.setForeground(muted_color())
            self.model.appendRow(row)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(sort_column if sort_column >= 0 else C_NAME, sort_order)
        self._fit_columns()
        failing = sum(1 for v in views if v.last_error)
        text = f"{len(views)} connection{'s' if len(views) != 1 else ''}"
        if failing:
            text += f" · {failing} failing"
        self.count_label.setText(text)
        target = keep if keep is not None and self.view(keep) is not None else None
        if target is None and views:
            target = self.proxy.index(0, C_NAME).data(ID_ROLE)
        self._selected_id = None
        if target is not None:
            self.select_connection(target)
        else:
            self._show_runs([])
        self._update_buttons()

    def _fit_columns(self) -> None:
        """Short columns fit their contents; name, URL and the last error share the rest (the
        error first), so the red error stays in view on an ordinary screen. Full texts are in
        the tooltips; the user may still drag the column edges."""
        if not hasattr(self, "table"):
            return
        header = self.table.horizontalHeader()
        available = self.table.viewport().width()
        if available <= 0:
            return
        fixed = 0
        for c in (C_KIND, C_AUTH, C_INTERVAL, C_PAUSED, C_STARTED, C_SUCCESS, C_NEXT):
            width = max(self.table.sizeHintForColumn(c), header.sectionSizeHint(c))
            header.resizeSection(c, width)
            fixed += width
        flexible = {C_ERROR: 0.44, C_NAME: 0.36, C_URL: 0.20}
        wants = {c: max(self.table.sizeHintForColumn(c), header.sectionSizeHint(c), 90) for c in flexible}
        rest = max(available - fixed, 3 * 90)
        widths = {c: min(wants[c], max(90, int(rest * share))) for c, share in flexible.items()}
        spare = rest - sum(widths.values())
        for c in flexible:  # what one column does not need goes to the others, error first
            if spare <= 0:
                break
            extra = min(spare, wants[c] - widths[c])
            if extra > 0:
                widths[c] += extra
                spare -= extra
        if spare > 0:
            widths[C_ERROR] += spare
        for c in (C_NAME, C_URL):
            header.resizeSection(c, widths[c])

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize and hasattr(self, "table"):
            if watched is self.table.viewport() and self._loaded:
                self._fit_columns()  # the window or the splitter changed the table's width
            elif watched is self.runs_table.viewport():
                self.runs_table.resizeRowsToContents()  # wrapped errors take the height they need
        return super().eventFilter(watched, event)

    def view(self, connection_id: int | None) -> Any:
        return next((v for v in self.connections if v.id == connection_id), None)

    def selected(self) -> Any:
        if not hasattr(self, "table"):
            return None
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.view(rows[0].siblingAtColumn(C_NAME).data(ID_ROLE))

    def select_connection(self, connection_id: int) -> bool:
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, C_NAME).data(ID_ROLE) == connection_id:
                self.table.selectRow(row)
                if self._selected_id != connection_id:
                    self._selection_changed()
                return True
        return False

    def row_texts(self) -> list[dict[str, str]]:
        """The table as shown (sorted), column title → text (what tests and copy use)."""
        return [{title: self.proxy.index(r, c).data() or "" for c, title in enumerate(COLUMNS)}
                for r in range(self.proxy.rowCount())]

    def _selection_changed(self) -> None:
        view = self.selected()
        self._selected_id = view.id if view else None
        self._update_buttons()
        self.load_runs()

    def load_runs(self) -> None:
        self._runs_generation += 1
        generation = self._runs_generation
        view = self.selected()
        if view is None:
            self._show_runs([])
            return
        self.runs_box.setTitle(f"Recent runs of {view.name}".replace("&", "&&"))
        sync, connection_id = self.app.workspace.sync, view.id

        def done(runs: list[Any]) -> None:
            if generation == self._runs_generation:
                self._show_runs(runs)

        def failed(exc: BaseException) -> None:
            if generation == self._runs_generation:
                self.runs_hint.setText(f"could not load the runs: {inline_error(self.app, exc)}")
                self.runs_hint.setVisible(True)

        self.app.workers.run(lambda: sync.recent_runs(connection_id), done, failed)

    def _show_runs(self, runs: list[Any]) -> None:
        self.runs = list(runs)
        table = self.runs_table
        table.setRowCount(len(runs))
        for r, run in enumerate(runs):
            duration = ""
            if run.finished_at and run.started_at:
                seconds = (run.finished_at - run.started_at).total_seconds()
                duration = f" ({seconds:.0f} s)" if seconds >= 1 else ""
            name = self.selected().name if self.selected() is not None else ""
            values = (local_time(run.started_at), local_time(run.finished_at) + duration, run.status,
                      f"{run.lines_new:,}", f"{run.lines_duplicate:,}", error_text(run.error, name))
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c in (3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 5 and run.error:
                    item.setToolTip(run.error)
                    item.setForeground(negative_color())
                if c == 2:
                    if run.status == "failed":
                        item.setForeground(negative_color())
                    elif run.status == "ok":
                        item.setForeground(self._ok_colour())
                table.setItem(r, c, item)
        table.resizeRowsToContents()
        if self.selected() is None:
            self.runs_box.setTitle("Recent runs")
            self.runs_hint.setText("Select a connection to see its runs." if self.connections else
                                   "No connections yet." + (" Add one with “Add…”." if self.can_manage else ""))
        else:
            self.runs_hint.setText("No runs yet: use “Sync now” or wait for the next background sync.")
        self.runs_hint.setVisible(not runs)
        table.setVisible(bool(runs))
        table.resizeRowsToContents()

    @staticmethod
    def _ok_colour() -> QColor:
        return QColor("#4ade80" if is_dark() else OK_COLOUR)

    # -- buttons --------------------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        view = self.selected()
        has = view is not None
        busy = has and view.id in self._busy
        self.edit_button.setEnabled(has)
        self.pause_button.setEnabled(has)
        self.pause_button.setText("Resume" if view is not None and view.paused else "Pause")
        self.test_button.setEnabled(has and not busy)
        self.sync_button.setEnabled(has and not busy)
        self.test_button.setText("Testing…" if busy and self._busy.get(view.id) == "test" else "Test")
        self.sync_button.setText("Syncing…" if busy and self._busy.get(view.id) == "sync" else "Sync now")

    def _message(self, text: str, kind: str = "ok") -> None:
        self.last_message = text
        show_status(self.message_label, text, kind)

    # -- actions ---------------------------------------------------------------------------------------------
    def open_add(self) -> ConnectionDialog:
        dialog = ConnectionDialog(self.app, None, self)
        dialog.accepted.connect(lambda: self._saved(dialog, "added"))
        self.dialog = dialog
        dialog.open()
        return dialog

    def open_edit(self) -> ConnectionDialog | None:
        view = self.selected()
        if view is None:
            return None
        dialog = ConnectionDialog(self.app, view, self)
        dialog.accepted.connect(lambda: self._saved(dialog, "saved"))
        dialog.reloaded.connect(self.reload)  # another user saved it meanwhile: show their version here too
        self.dialog = dialog
        dialog.open()
        return dialog

    def _saved(self, dialog: ConnectionDialog, what: str) -> None:
        view = dialog.result_value
        if view is None:
            return
        self._selected_id = view.id
        self.app.status(f"connection “{view.name}” {what}")
        self._message(f"Connection “{view.name}” {what}. Use Test to check it.", "ok")
        self.reload()

    def test_selected(self) -> None:
        view = self.selected()
        if view is None or view.id in self._busy:
            return
        sync, connection_id, name = self.app.workspace.sync, view.id, view.name
        self._busy[connection_id] = "test"
        self._update_buttons()
        self._message(f"Testing {name}…", "ok")

        def done(message: str) -> None:
            self._busy.pop(connection_id, None)
            self._update_buttons()
            self._message(f"{name}: {message}", "ok")
            self.app.status(f"{name}: {message}")

        def failed(exc: BaseException) -> None:
            self._busy.pop(connection_id, None)
            self._update_buttons()
            self._message(f"{name}: test failed — {inline_error(self.app, exc)}", "error")

        self.app.workers.run(lambda: sync.test_connection(connection_id), done, failed)

    def sync_selected(self) -> None:
        view = self.selected()
        if view is None or view.id in self._busy:
            return
        sync, connection_id, name = self.app.workspace.sync, view.id, view.name
        self._busy[connection_id] = "sync"
        self._update_buttons()
        self._message(f"Synchronising {name}…", "ok")

        def done(result: Any) -> None:
            self._busy.pop(connection_id, None)
            self._update_buttons()
            if result.ok:
                accounts = f" for {len(result.accounts)} account{'s' if len(result.accounts) != 1 else ''}" \
                    if result.accounts else ""
                self._message(f"{name}: {result.new:,} new transaction{'s' if result.new != 1 else ''}, "
                              f"{result.duplicates:,} already in the ledger{accounts} "
                              f"({result.pages} page{'s' if result.pages != 1 else ''}).", "ok")
            else:
                self._message(f"{name}: sync failed — {result.error}", "error")
            self.app.status(result.summary())
            self.reload()

        def failed(exc: BaseException) -> None:
            self._busy.pop(connection_id, None)
            self._update_buttons()
            self._message(f"{name}: sync failed — {inline_error(self.app, exc)}", "error")
            self.reload()

        self.app.workers.run(lambda: sync.sync_connection(connection_id), done, failed)

    def toggle_pause(self) -> SensitiveRun | None:
        view = self.selected()
        if view is None:
            return None
        sync, connection_id, paused = self.app.workspace.sync, view.id, not view.paused
        what = "paused" if paused else "resumed"

        def done(_view: Any) -> None:
            self.app.status(f"{view.name} {what}")
            self._message(f"{view.name} {what}." + ("" if paused else " It syncs at the next tick."), "ok")

        def failed(exc: BaseException) -> None:
            self._message(f"{view.name}: not {what} — {inline_error(self.app, exc)}", "error")

        self.last_run = run_sensitive(self.app, self, lambda: sync.update_connection(connection_id, paused=paused),
                                      done, failed)
        return self.last_run

    # -- Panel contract ------------------------------------------------------------------------------------------
    def on_shown(self) -> None:
        if self._loaded:
            self._update_buttons()

    def on_changes(self, topic: str, data: dict) -> None:
        if topic in self.TOPICS and self._built:
            self.reload()
