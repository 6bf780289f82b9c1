"""Jobs: each background job with its schedule, next run, last run and result, failures;
"Run now", "Pause"/"Resume" and, for the cron jobs (advisory report, daily summary), "Schedule…".

The panel talks to the running scheduler (``ui_ctx.extra["jobs"]``, set by the app when it
starts the scheduler). Without one (a test, or the scheduler still starting) it opens the
persistent job store paused, so the schedules are still shown and can be changed. Every call
runs in the worker pool; managing needs ``jobs.manage`` (checked again by the scheduler).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from cio_desktop.security.permissions import Permission
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.widgets.tables import compact_rows, record_table

log = logging.getLogger(__name__)

COLUMNS = ("Job", "Schedule", "Next run", "Last run", "Result", "Failures", "Next retry")
SORT_ROLE = Qt.ItemDataRole.UserRole
ID_ROLE = Qt.ItemDataRole.UserRole + 1
FAILED_COLOUR = "#c62828"


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else ""


def _item(text: str, sort: Any = None) -> QStandardItem:
    it = QStandardItem(text)
    it.setEditable(False)
    it.setData(text if sort is None else sort, SORT_ROLE)
    it.setToolTip(text)
    return it


class JobsPanel(Panel):
    NAME = "jobs"
    TITLE = "Jobs"
    PERMISSION = Permission.JOBS_MANAGE
    SHORTCUT = "Ctrl+Shift+J"
    TOPICS = ("jobs.ran", "jobs.changed")

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.rows: list[Any] = []
        self.last_message = ""
        self._own: Any = None
        self._generation = 0
        self.ask_cron = lambda current: QInputDialog.getText(
            self, "Schedule", "Cron (UTC): minute hour day month weekday, e.g. 30 7 * * 1-5", text=current)

    def build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        head, self.state_label = self.header_row(self.reload)
        root.addLayout(head)
        self.model = QStandardItemModel(0, len(COLUMNS))
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = QSortFilterProxyModel()
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = record_table(self.proxy, "jobsTable", sort_column=0, order=Qt.SortOrder.AscendingOrder)
        compact_rows(self.table)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        root.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.run_button = QPushButton("Run now")
        self.run_button.clicked.connect(self.run_selected)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.schedule_button = QPushButton("Schedule…")
        self.schedule_button.clicked.connect(self.schedule_selected)
        for b in (self.run_button, self.pause_button, self.schedule_button):
            row.addWidget(b)
        row.addStretch(1)
        root.addLayout(row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        root.addWidget(self.message)
        self._update_buttons()

    def on_shown(self) -> None:
        self.reload()

    def on_changes(self, topic: str, data: dict) -> None:
        self.reload()

    # -- the scheduler ---------------------------------------------------------------------------
    def scheduler(self) -> Any:
        """The app's running scheduler, else our own paused view of the job store (worker thread)."""
        running = self.app.extra.get("jobs")
        if running is not None and running.running:
            return running
        if self._own is None:
            from cio_desktop.jobs.scheduler import BackgroundJobs

            ws = self.app.workspace
            own = BackgroundJobs(ws, ws.ctx.session)
            own.start(wire_events=False, paused=True)
            self._own = own
        return self._own

    def reload(self) -> None:
        if not self._built:
            return
        self._generation += 1
        generation = self._generation

        def load() -> tuple[list, bool]:
            jobs = self.scheduler()
            return jobs.jobs(), jobs is not self._own

        def done(result: tuple[list, bool]) -> None:
            if generation != self._generation:
                return
            self.rows, live = result
            self.state_label.setText("scheduler running" if live else
                                     "scheduler not running in this window: showing the stored schedules")
            self._fill()

        self.app.workers.run(load, done, self._error)

    def _fill(self) -> None:
        current = self.selected()
        self.model.removeRows(0, self.model.rowCount())
        for j in self.rows:
            result = ("ok — " if j.last_ok else "FAILED — ") + j.last_result if j.last_run_at else ""
            items = [_item(j.title), _item(j.schedule), _item("paused" if j.paused else when(j.next_run),
                                                              j.next_run.timestamp() if j.next_run else 0),
                     _item(when(j.last_run_at), j.last_run_at.timestamp() if j.last_run_at else 0), _item(result),
                     _item(str(j.failures), j.failures), _item(when(j.next_retry_at))]
            items[0].setData(j.name, ID_ROLE)
            if j.last_run_at and not j.last_ok:
                items[4].setForeground(QColor(FAILED_COLOUR))
            self.model.appendRow(items)
        self.table.resizeColumnsToContents()
        if current is not None:
            self.select_job(current.name)
        self._update_buttons()

    def selected(self) -> Any:
        if not self._built:
            return None
        idx = self.table.selectionModel().selectedRows()
        if not idx:
            return None
        name = self.proxy.data(self.proxy.index(idx[0].row(), 0), ID_ROLE)
        return next((j for j in self.rows if j.name == name), None)

    def select_job(self, name: str) -> bool:
        for row in range(self.proxy.rowCount()):
            if self.proxy.data(self.proxy.index(row, 0), ID_ROLE) == name:
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        j = self.selected()
        self.run_button.setEnabled(j is not None)
        self.pause_button.setEnabled(j is not None)
        self.pause_button.setText("Resume" if j is not None and j.paused else "Pause")
        from cio_desktop.jobs.scheduler import JOBS

        self.schedule_button.setEnabled(j is not None and JOBS[j.name].kind == "cron")

    # -- actions ---------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.last_message = text
        self.message.setText(text)
        self.app.status(text)

    def _error(self, exc: BaseException) -> None:
        self.last_message = str(exc)
        self.message.setText(str(exc))
        self.app.show_error(exc)

    def run_selected(self) -> None:
        j = self.selected()
        if j is None:
            return
        self.run_button.setEnabled(False)
        self._say(f"{j.title}: running…")

        def done(result: Any) -> None:
            self._say(f"{j.title}: {'ok' if result.ok else 'FAILED'} — {result.message}")
            self.reload()

        self.app.workers.run(lambda: self.scheduler().run_now(j.name), done, self._error)

    def toggle_pause(self) -> None:
        j = self.selected()
        if j is None:
            return
        what = "resume" if j.paused else "pause"
        self.app.workers.run(lambda: getattr(self.scheduler(), what)(j.name),
                             lambda _r: (self._say(f"{j.title}: {what}d"), self.reload()), self._error)

    def schedule_selected(self) -> None:
        j = self.selected()
        if j is None:
            return
        text, ok = self.ask_cron(j.schedule)
        if not ok or not text.strip():
            return
        self.app.workers.run(lambda: self.scheduler().set_schedule(j.name, text),
                             lambda _r: (self._say(f"{j.title}: scheduled '{text}' (UTC)"), self.reload()),
                             self._error)
