"""Alerts: the notification centre (your in-app notifications, unread count as the sidebar
badge), the alerts table (acknowledge, open the related panel) and the threshold rules (a
sortable table; with ``alerts.manage`` add and edit them in ``AlertRuleDialog``, which refuses to
overwrite another user's change made meanwhile and reloads the rule instead).

Double-clicking a notification marks it read and opens the place it points to (a payment, a
connection, the risk panel…) through ``ui_ctx.extra["open_panel"]`` (set by the main window).
All service calls run in the worker pool; the panel refreshes on ``alerts.changed`` and
``notifications.changed`` (the scheduler's background runs publish them too).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable, Sequence

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QTableView,
                               QTabWidget, QVBoxLayout, QWidget)

from cio_desktop.security.permissions import Permission
from cio_desktop.ui.dialogs.common import confirm
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.widgets.format import muted_color
from cio_desktop.ui.widgets.tables import compact_rows, record_table

log = logging.getLogger(__name__)

NOTE_COLUMNS = ("When", "Severity", "Title", "Kind", "Opens", "Read")
ALERT_COLUMNS = ("ID", "Severity", "Status", "Rule", "Subject", "Measured", "Threshold", "Raised", "Level",
                 "Acknowledged by")
RULE_COLUMNS = ("Name", "Source", "Measure", "Comparison", "Threshold", "Severity", "Escalation", "Path",
                "Enabled", "Last changed")
ID_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
CRITICAL_COLOUR = "#c62828"
WARNING_COLOUR = "#b26a00"


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else ""


def _item(text: str, sort: Any = None, ident: Any = None) -> QStandardItem:
    it = QStandardItem(text)
    it.setEditable(False)
    it.setData(text if sort is None else sort, SORT_ROLE)
    if ident is not None:
        it.setData(ident, ID_ROLE)
    it.setToolTip(text)
    return it


def _severity_item(severity: str) -> QStandardItem:
    it = _item(severity.capitalize(), SEVERITY_ORDER.get(severity, 9))
    if severity == "critical":
        it.setForeground(QColor(CRITICAL_COLOUR))
    elif severity == "warning":
        it.setForeground(QColor(WARNING_COLOUR))
    return it


def _table(columns: Sequence[str], name: str, sort_column: int,
           order: Qt.SortOrder = Qt.SortOrder.DescendingOrder) -> tuple[QStandardItemModel, QSortFilterProxyModel,
                                                                        QTableView]:
    model = QStandardItemModel(0, len(columns))
    model.setHorizontalHeaderLabels(list(columns))
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setFilterKeyColumn(-1)
    table = record_table(proxy, name, sort_column=sort_column, order=order)
    compact_rows(table)
    return model, proxy, table


class AlertsPanel(Panel):
    NAME = "alerts"
    TITLE = "Alerts"
    PERMISSION = Permission.ALERTS_READ
    SHORTCUT = "Ctrl+Shift+N"
    TOPICS = ("alerts.changed", "alerts.rules_changed", "notifications.changed")
    BADGE_TOPICS = ("notifications.changed", "alerts.changed")

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.notes: list[Any] = []
        self.alerts: list[Any] = []
        self.rules: list[Any] = []
        self.last_message = ""
        self._generation = 0
        self._badge_generation = 0
        self._rule_to_select: int | None = None
        self.rule_dialog: Any = None   # the open AlertRuleDialog (tests)
        self.confirm = confirm   # tests replace it

    # -- construction ---------------------------------------------------------------------------
    def build(self) -> None:
        session = self.app.workspace.ctx.session
        self.can_manage = bool(session and session.can(Permission.ALERTS_MANAGE))
        root = QVBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(10)
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("alertsFilter")
        self.filter_edit.setPlaceholderText("Filter…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setFixedWidth(200)
        self.filter_edit.textChanged.connect(self._filter)
        self.check_button = QPushButton("Check rules now")
        self.check_button.setToolTip("Measure every alert rule now (the scheduler does it every 15 minutes)")
        self.check_button.clicked.connect(self.check_now)
        self.prefs_button = QPushButton("Preferences…")
        self.prefs_button.clicked.connect(self.open_preferences)
        head, self.count_label = self.header_row(
            self.reload, trailing=[self.filter_edit, self.check_button, self.prefs_button])
        root.addLayout(head)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("alertsTabs")
        # notifications
        notes = QWidget()
        nl = QVBoxLayout(notes)
        nl.setContentsMargins(0, 8, 0, 0)
        self.note_model, self.note_proxy, self.note_table = _table(NOTE_COLUMNS, "notificationsTable", 0)
        self.note_table.doubleClicked.connect(lambda _i: self.open_selected_note())
        self.note_table.selectionModel().selectionChanged.connect(lambda *_: self._show_note())
        nl.addWidget(self.note_table, 1)
        self.note_detail = QLabel("")
        self.note_detail.setObjectName("notificationDetail")
        self.note_detail.setWordWrap(True)
        self.note_detail.setProperty("hint", True)
        nl.addWidget(self.note_detail)
        row = QHBoxLayout()
        self.open_note_button = QPushButton("Open")
        self.open_note_button.setToolTip("Mark read and go to the related place in the app")
        self.open_note_button.clicked.connect(self.open_selected_note)
        self.read_all_button = QPushButton("Mark all read")
        self.read_all_button.clicked.connect(self.mark_all_read)
        row.addWidget(self.open_note_button)
        row.addWidget(self.read_all_button)
        row.addStretch(1)
        nl.addLayout(row)
        self.tabs.addTab(notes, "Notifications")
        # alerts
        alerts = QWidget()
        al = QVBoxLayout(alerts)
        al.setContentsMargins(0, 8, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        self.status_combo = QComboBox()
        self.status_combo.setObjectName("alertStatus")
        for label, value in (("Open", "open"), ("Unacknowledged", "unacknowledged"), ("Resolved", "resolved"),
                             ("All", "all")):
            self.status_combo.addItem(label, value)
        self.status_combo.currentIndexChanged.connect(lambda _i: self.reload())
        top.addWidget(self.status_combo)
        top.addStretch(1)
        al.addLayout(top)
        self.alert_model, self.alert_proxy, self.alert_table = _table(ALERT_COLUMNS, "alertsTable", 7)
        self.alert_table.doubleClicked.connect(lambda _i: self.open_selected_alert())
        self.alert_table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        al.addWidget(self.alert_table, 1)
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.detail.setProperty("hint", True)
        al.addWidget(self.detail)
        row = QHBoxLayout()
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.setToolTip("Take the alert on: its escalation stops")
        self.ack_button.clicked.connect(self.acknowledge_selected)
        self.open_alert_button = QPushButton("Open related")
        self.open_alert_button.clicked.connect(self.open_selected_alert)
        row.addWidget(self.ack_button)
        row.addWidget(self.open_alert_button)
        row.addStretch(1)
        al.addLayout(row)
        self.tabs.addTab(alerts, "Alerts")
        # rules
        rules = QWidget()
        rl = QVBoxLayout(rules)
        rl.setContentsMargins(0, 8, 0, 0)
        bar = QHBoxLayout()
        self.add_rule_button = QPushButton("Add rule…")
        self.add_rule_button.setObjectName("ruleAdd")
        self.add_rule_button.clicked.connect(lambda _c=False: self.open_add_rule())
        self.edit_rule_button = QPushButton("Edit…")
        self.edit_rule_button.setObjectName("ruleEdit")
        self.edit_rule_button.clicked.connect(lambda _c=False: self.open_edit_rule())
        for b in (self.add_rule_button, self.edit_rule_button):
            b.setVisible(self.can_manage)
            bar.addWidget(b)
        bar.addStretch(1)
        rl.addLayout(bar)
        self.rule_model, self.rule_proxy, self.rule_table = _table(RULE_COLUMNS, "rulesTable", 1,
                                                                   Qt.SortOrder.AscendingOrder)
        self.rule_table.doubleClicked.connect(lambda _i: self.open_edit_rule() if self.can_manage else None)
        self.rule_table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        rl.addWidget(self.rule_table, 1)
        hint = QLabel("Escalation steps are user names or role:<role>; the first step is notified, and an "
                      "unacknowledged critical alert moves one step up per interval. "
                      + ("Disable a rule to stop it raising alerts." if self.can_manage else
                         "Changing rules needs the alerts.manage permission."))
        hint.setWordWrap(True)
        hint.setProperty("hint", True)
        rl.addWidget(hint)
        self.tabs.addTab(rules, "Rules")
        # daily summary
        summary = QWidget()
        sl = QVBoxLayout(summary)
        sl.setContentsMargins(0, 8, 0, 0)
        row = QHBoxLayout()
        self.summary_button = QPushButton("Build today's summary")
        self.summary_button.setToolTip("Balances, payments due and awaiting approval, open alerts, limit headroom "
                                       "and the 13-week outlook (the scheduler also sends it every morning)")
        self.summary_button.clicked.connect(self.build_summary)
        row.addWidget(self.summary_button)
        row.addStretch(1)
        sl.addLayout(row)
        self.summary_text = QPlainTextEdit()
        self.summary_text.setObjectName("dailySummary")
        self.summary_text.setReadOnly(True)
        sl.addWidget(self.summary_text, 1)
        self.tabs.addTab(summary, "Daily summary")
        root.addWidget(self.tabs, 1)
        self.message = QLabel("")
        self.message.setObjectName("alertsMessage")
        self.message.setWordWrap(True)
        root.addWidget(self.message)
        self._update_buttons()

    def on_shown(self) -> None:
        self.reload()

    def on_changes(self, topic: str, data: dict) -> None:
        self.reload()

    # -- badge -----------------------------------------------------------------------------------
    def refresh_badge(self) -> None:
        self._badge_generation += 1
        generation = self._badge_generation
        service = self.app.workspace.notifications

        def done(n: int) -> None:
            if generation == self._badge_generation:
                self.set_badge(n)

        self.app.workers.run(service.unread_count, done, lambda exc: log.info("alerts badge not refreshed: %s", exc))

    # -- loading ---------------------------------------------------------------------------------
    def reload(self) -> None:
        if not self._built:
            return
        self._generation += 1
        generation = self._generation
        ws = self.app.workspace
        status = self.status_combo.currentData() or "open"

        def load() -> tuple[list, list, list, dict]:
            return (ws.notifications.inbox(), ws.alerts.list_alerts(status), ws.alerts.rules(),
                    ws.alerts.open_counts())

        def done(result: tuple[list, list, list, dict]) -> None:
            if generation != self._generation:
                return
            self.notes, self.alerts, self.rules, counts = result
            self._fill()
            unread = sum(1 for n in self.notes if n.read_at is None)
            self.set_badge(unread)
            self.tabs.setTabText(0, f"Notifications ({unread} unread)" if unread else "Notifications")
            open_total = sum(counts.values())
            self.tabs.setTabText(1, f"Alerts ({open_total} open)" if open_total else "Alerts")
            crit = counts.get("critical", 0)
            self.count_label.setText(f"{open_total} open · {crit} critical" if open_total else "no open alerts")

        self.app.workers.run(load, done, self._error)

    def _fill(self) -> None:
        self.note_model.removeRows(0, self.note_model.rowCount())
        for n in self.notes:
            items = [_item(when(n.created_at), n.created_at.timestamp(), n.id), _severity_item(n.severity),
                     _item(n.title), _item(n.kind), _item(n.panel + (f" ({n.ref})" if n.ref else "")),
                     _item("read" if n.read_at else "unread")]
            if n.read_at is None:
                for it in items:
                    font = it.font()
                    font.setBold(True)
                    it.setFont(font)
            items[2].setToolTip(n.body)
            self.note_model.appendRow(items)
        if not self.notes:   # say why the list is empty rather than show a bare header
            self.note_detail.setText("No notifications for you yet. Alerts reach you here once they are "
                                     "delivered to you (by rule, severity and your preferences); every open "
                                     "alert is on the Alerts tab.")
        self.open_note_button.setEnabled(bool(self.notes))
        self.read_all_button.setEnabled(any(n.read_at is None for n in self.notes))
        self.alert_model.removeRows(0, self.alert_model.rowCount())
        for a in self.alerts:
            items = [_item(str(a.id), a.id, a.id), _severity_item(a.severity), _item(a.status), _item(a.rule),
                     _item(a.title.split(": ", 1)[-1]), _item(_fmt(a.measured, a.unit)),
                     _item(_fmt(a.threshold, a.unit)), _item(when(a.created_at), a.created_at.timestamp()),
                     _item(str(a.escalation_level), a.escalation_level), _item(a.acknowledged_by or "")]
            items[4].setToolTip(a.message)
            if a.status == "resolved":
                for it in items:
                    it.setForeground(muted_color())
            self.alert_model.appendRow(items)
        self.rule_model.removeRows(0, self.rule_model.rowCount())
        for r in self.rules:
            esc = f"every {r.escalation_minutes} min" if r.escalation_minutes else ""
            changed = f"{r.updated_by} · {when(r.updated_at)}" if r.updated_at else r.updated_by
            items = [
                _item(r.name, r.name.casefold(), r.id), _item(r.source), _item(r.metric), _item(r.comparison),
                _item(r.threshold, _number(r.threshold)), _severity_item(r.severity),
                _item(esc, r.escalation_minutes or 0), _item(" → ".join(r.escalation_path)),
                _item("yes" if r.enabled else "no"),
                _item(changed, r.updated_at.timestamp() if r.updated_at else 0.0)]
            if not r.enabled:
                for it in items:
                    it.setForeground(muted_color())
            self.rule_model.appendRow(items)
        for table in (self.note_table, self.alert_table, self.rule_table):
            table.resizeColumnsToContents()
            header = table.horizontalHeader()
            for c in range(header.count() - 1):
                header.resizeSection(c, min(header.sectionSize(c), 320))
        # the path is long and repeats across rules (its tooltip has it whole): keep "Last changed" in view
        rule_header = self.rule_table.horizontalHeader()
        path_column = RULE_COLUMNS.index("Path")
        rule_header.resizeSection(path_column, min(rule_header.sectionSize(path_column), 200))
        if self._rule_to_select is not None and self.select_rule(self._rule_to_select):
            self._rule_to_select = None
        self._update_buttons()

    def _filter(self, text: str) -> None:
        for proxy in (self.note_proxy, self.alert_proxy, self.rule_proxy):
            proxy.setFilterFixedString(text)

    # -- selection -------------------------------------------------------------------------------
    def _selected(self, table: QTableView, proxy: QSortFilterProxyModel, rows: list, key: Callable) -> Any:
        idx = table.selectionModel().selectedRows()
        if not idx:
            return None
        ident = proxy.data(proxy.index(idx[0].row(), 0), ID_ROLE)
        return next((r for r in rows if key(r) == ident), None)

    def selected_alert(self) -> Any:
        return self._selected(self.alert_table, self.alert_proxy, self.alerts, lambda a: a.id)

    def selected_note(self) -> Any:
        return self._selected(self.note_table, self.note_proxy, self.notes, lambda n: n.id)

    def selected_rule(self) -> Any:
        return self._selected(self.rule_table, self.rule_proxy, self.rules, lambda r: r.id)

    def select_rule(self, rule_id: int) -> bool:
        for row in range(self.rule_proxy.rowCount()):
            if self.rule_proxy.data(self.rule_proxy.index(row, 0), ID_ROLE) == rule_id:
                self.rule_table.selectRow(row)
                return True
        return False

    def select_alert(self, alert_id: int) -> bool:
        self.tabs.setCurrentIndex(1)
        for row in range(self.alert_proxy.rowCount()):
            if self.alert_proxy.data(self.alert_proxy.index(row, 0), ID_ROLE) == alert_id:
                self.alert_table.selectRow(row)
                return True
        return False

    def _show_note(self) -> None:
        n = self.selected_note()
        if n is not None or self.notes:
            self.note_detail.setText(n.body if n else "")

    def build_summary(self) -> None:
        ws = self.app.workspace
        self.summary_button.setEnabled(False)

        def done(summary: Any) -> None:
            self.summary_button.setEnabled(True)
            self.summary_text.setPlainText(summary.text())

        def failed(exc: BaseException) -> None:
            self.summary_button.setEnabled(True)
            self._error(exc)

        self.app.workers.run(ws.notifications.daily_summary, done, failed)

    def _update_buttons(self) -> None:
        a = self.selected_alert() if self._built else None
        self.edit_rule_button.setEnabled(self._built and self.selected_rule() is not None)
        self.ack_button.setEnabled(a is not None and a.status == "open")
        self.open_alert_button.setEnabled(a is not None)
        self.detail.setText(a.message if a else "")

    # -- actions ---------------------------------------------------------------------------------
    def _error(self, exc: BaseException) -> None:
        self.last_message = str(exc)
        self.message.setText(str(exc))
        self.app.show_error(exc)

    def _say(self, text: str) -> None:
        self.last_message = text
        self.message.setText(text)
        self.app.status(text)

    def check_now(self) -> None:
        ws = self.app.workspace
        self.check_button.setEnabled(False)

        def done(report: Any) -> None:
            self.check_button.setEnabled(True)
            text = report.summary()
            if report.unavailable:
                text += " — not available: " + "; ".join(f"{k} ({v})" for k, v in report.unavailable.items())
            self._say(text)
            self.reload()

        def failed(exc: BaseException) -> None:
            self.check_button.setEnabled(True)
            self._error(exc)

        self.app.workers.run(ws.alerts.evaluate, done, failed)

    def acknowledge_selected(self) -> None:
        a = self.selected_alert()
        if a is None:
            return
        if a.severity == "critical" and not self.confirm(self, "Acknowledge alert",
                                                    f"Take on “{a.title}”? Its escalation stops.", "Acknowledge"):
            return
        ws = self.app.workspace
        self.app.workers.run(lambda: ws.alerts.acknowledge(a.id),
                             lambda v: (self._say(f"alert {v.id} acknowledged"), self.reload()), self._error)

    def mark_all_read(self) -> None:
        ws = self.app.workspace
        self.app.workers.run(lambda: ws.notifications.mark_read(None),
                             lambda n: (self._say(f"{n} notifications marked read"), self.reload()), self._error)

    def _open(self, panel: str, ref: str) -> None:
        """Go where a notification or alert points: an alert here, anything else in its panel."""
        if ref.startswith("alert:") and panel in ("alerts", ""):
            self.select_alert(int(ref.split(":", 1)[1]))
            return
        opener = self.app.extra.get("open_panel")
        if opener is not None and panel and panel != self.NAME:
            opener(panel, ref)

    def open_selected_note(self) -> None:
        n = self.selected_note()
        if n is None:
            return
        ws = self.app.workspace
        if n.read_at is None:
            self.app.workers.run(lambda: ws.notifications.mark_read([n.id]), lambda _n: self.reload(), self._error)
        self._open(n.panel, n.ref)

    def open_selected_alert(self) -> None:
        a = self.selected_alert()
        if a is not None:
            self._open(a.panel, a.ref)

    # -- rules -----------------------------------------------------------------------------------
    def open_add_rule(self) -> Any:
        return self._open_rule_dialog(None)

    def open_edit_rule(self) -> Any:
        rule = self.selected_rule()
        return self._open_rule_dialog(rule) if rule is not None else None

    def _open_rule_dialog(self, rule: Any) -> Any:
        """The rule editor, with what this table shows (its ``updated_at`` is the ``seen`` token)."""
        from cio_desktop.ui.dialogs.alert_rule_dialog import AlertRuleDialog

        dialog = AlertRuleDialog(self.app, rule, self, taken=[r.name for r in self.rules])
        dialog.accepted.connect(lambda: self._rule_saved(dialog, "added" if rule is None else "saved"))
        dialog.reloaded.connect(self.reload)  # a refused save reloaded the rule: so does the table
        self.rule_dialog = dialog
        dialog.open()
        return dialog

    def _rule_saved(self, dialog: Any, what: str) -> None:
        view = dialog.result_value
        if view is None:
            return
        self._rule_to_select = view.id
        self._say(f"alert rule “{view.name}” {what}" + ("" if view.enabled else " (disabled)"))
        self.reload()

    def open_preferences(self) -> None:
        from cio_desktop.ui.dialogs.notification_prefs import NotificationPrefsDialog

        self.prefs_dialog = NotificationPrefsDialog(self.app, self)
        self.prefs_dialog.open()


def _number(text: str) -> float:
    """A threshold's sort key (numeric, not alphabetical: 0.10 after 0.05, -2500 first)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


def _fmt(value: str, unit: str) -> str:
    from cio_desktop.services.alerts import format_value

    return format_value(value, unit) if value else ""


__all__ = ["AlertsPanel"]
