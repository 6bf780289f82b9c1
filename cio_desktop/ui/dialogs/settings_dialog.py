"""Settings dialog (File ▸ Settings…, Ctrl+,): where the data lives, which hosts may skip TLS
checks, and backup / restore. Administrator only (``settings.manage``).

* Database settings are saved to the settings file the application reads at start
  (``services.settings_admin``, audited); the running workspace keeps its database until the
  next start, and the dialog says so.
* "Test connection" connects exactly as the next start will (TLS verify-full, TLS 1.2+) in the
  worker pool and shows the answer in plain words.
* "Backup now…" runs ``BackupService.backup`` in the worker pool with a busy indicator and
  shows the file and its size.
* "Restore…" checks the backup first (``BackupService.check``: key, integrity, schema, audit
  chain) and asks for confirmation naming what will be replaced — but does not replace the
  database under the running application: background jobs, open panels, the team change feed
  and other workstations hold it open, and the data keys unlocked at start could no longer
  match the restored data. It explains the safe way instead — quit, then ``cio-desktop
  restore`` (the same service, run when nothing else has the database open) — with the exact
  command to copy.

File pickers and the confirmation are attributes (``choose_*``, ``confirm``) so tests replace
them instead of driving native dialogs.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QButtonGroup, QDialog, QFileDialog, QFormLayout, QFrame, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QRadioButton, QScrollArea,
                               QTabWidget, QVBoxLayout, QWidget)

from cio_desktop.config import settings_file_path
from cio_desktop.security.permissions import Permission
from cio_desktop.services.backup import BackupCheck, BackupResult
from cio_desktop.services.settings_admin import MANAGED, DatabaseCheck
from cio_desktop.ui.dialogs.common import (confirm, hint_label, inline_error, primary_button, show_status,
                                           status_label, title_label)

URL_PLACEHOLDER = "postgresql://user@db.example.org:5432/cio"
INSECURE_WARNING = ("Connections to these hosts may skip certificate verification, or TLS altogether. "
                    "Every such connection is written to the audit trail. Leave this empty unless a "
                    "legacy server leaves no other choice.")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size:,} bytes"  # pragma: no cover


def _busy_bar(name: str) -> QProgressBar:
    bar = QProgressBar()
    bar.setObjectName(name)
    bar.setRange(0, 0)            # indeterminate: the service reports no fractions
    bar.setTextVisible(False)
    bar.setMaximumHeight(10)
    bar.setVisible(False)
    return bar


def _action_row(button: QPushButton, busy: QProgressBar, width: int) -> QHBoxLayout:
    """A button with its busy bar beside it, left-aligned: the bar shows while the button's work
    runs in the worker pool (the width is fixed so the row does not jump when it appears)."""
    busy.setFixedWidth(width)
    row = QHBoxLayout()
    row.addWidget(button)
    row.addWidget(busy)
    row.addStretch(1)
    return row


class _TaskBox(QGroupBox):
    """A group for one long task (backup, restore check): what it does, its button with a busy
    bar, and the status line its result goes to. ``name`` prefixes the busy bar's and the status
    label's object names (``backupBusy``, ``backupStatus``), which tests and style sheets use."""

    def __init__(self, title: str, hint: str, button: QPushButton, name: str) -> None:
        super().__init__(title)
        self.body = QVBoxLayout(self)
        self.body.addWidget(hint_label(hint))
        self.busy = _busy_bar(f"{name}Busy")
        self.body.addLayout(_action_row(button, self.busy, 160))
        self.status = status_label()
        self.status.setObjectName(f"{name}Status")
        self.body.addWidget(self.status)


class _ScrollingPage(QScrollArea):
    """A tab page that scrolls instead of squashing its fields when the window is short.

    QScrollArea sizes its widget from ``sizeHint`` and ignores height-for-width, so wrapped
    labels (the messages that appear under the buttons) would be clipped; the page's minimum
    height is therefore set from its layout's height for the actual width whenever the page
    lays itself out again.
    """

    def __init__(self, page: QWidget) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(page)
        self.viewport().setAutoFillBackground(False)
        page.setAutoFillBackground(False)
        page.installEventFilter(self)

    def _fit(self) -> None:
        page, layout = self.widget(), self.widget().layout()
        if page is None or layout is None:
            return
        width = self.viewport().width()
        height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else layout.totalSizeHint().height()
        if height > 0 and page.minimumHeight() != height:
            page.setMinimumHeight(height)

    def eventFilter(self, watched: Any, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._fit()
        return super().eventFilter(watched, event)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit()


def _save_file(parent: QWidget, suggested: str) -> str:
    name, _ = QFileDialog.getSaveFileName(parent, "Write the backup to", suggested,
                                          "CIO Desktop backup (*.cio-backup);;All files (*)")
    return name


def _open_file(parent: QWidget, title: str, start: str, filters: str) -> str:
    name, _ = QFileDialog.getOpenFileName(parent, title, start, filters)
    return name


class SettingsDialog(QDialog):
    saved = Signal(object)        # SavedSettings
    tested = Signal(object)       # DatabaseCheck
    backed_up = Signal(object)    # BackupResult
    restore_checked = Signal(object)  # BackupCheck

    def __init__(self, app: Any, parent: QWidget | None = None, *, settings_file: Path | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.settings_file = settings_file or app.extra.get("settings_file") or settings_file_path()
        self.admin = app.workspace.settings_admin
        session = app.workspace.ctx.session
        self.allowed = bool(session and session.can(Permission.SETTINGS_MANAGE))
        # replaced in tests (no native dialogs)
        self.choose_backup_file: Callable[[str], str] = lambda s: _save_file(self, s)
        self.choose_restore_file: Callable[[str], str] = lambda s: _open_file(
            self, "Restore from backup", s, "CIO Desktop backup (*.cio-backup *.cio *.db);;All files (*)")
        self.choose_ca_file: Callable[[str], str] = lambda s: _open_file(
            self, "CA certificate of the PostgreSQL server", s, "PEM certificate (*.pem *.crt);;All files (*)")
        self.choose_db_file: Callable[[str], str] = lambda s: _open_file(
            self, "CIO Desktop database file", s, "CIO Desktop database (*.db);;All files (*)")
        self.confirm: Callable[[QWidget, str, str, str], bool] = confirm
        self.last_check: BackupCheck | None = None
        self.restore_command = ""

        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setMinimumSize(640, 480)
        self.resize(720, 780)
        root = QVBoxLayout(self)
        root.addWidget(title_label("Settings"))
        self.denied = hint_label("Only an administrator can change these settings or take backups.")
        self.denied.setVisible(not self.allowed)
        root.addWidget(self.denied)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("settingsTabs")
        self.tabs.addTab(_ScrollingPage(self._database_tab()), "Database")
        self.tabs.addTab(_ScrollingPage(self._backup_tab()), "Backup and restore")
        root.addWidget(self.tabs, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.close_button)
        root.addLayout(buttons)
        self.tabs.setEnabled(self.allowed)
        # Enter saves; no other button may become the "default" one by taking focus
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
        self.save_button.setDefault(self.allowed)
        if self.allowed:
            self._load()

    # -- the database tab ---------------------------------------------------------------------------
    def _database_tab(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        db = self.app.workspace.db
        col.addWidget(hint_label(f"In use now: {db.display_name}. These settings are read when CIO Desktop "
                                 "starts: a change of database takes effect at the next start."))

        where = QGroupBox("Database location")
        form = QVBoxLayout(where)
        self.kind_group = QButtonGroup(self)
        self.use_file = QRadioButton("Encrypted file on this computer")
        self.use_file.setObjectName("useFile")
        self.use_team = QRadioButton("Team database on a PostgreSQL server")
        self.use_team.setObjectName("useTeam")
        self.kind_group.addButton(self.use_file)
        self.kind_group.addButton(self.use_team)
        form.addWidget(self.use_file)
        file_row = QHBoxLayout()
        file_row.setContentsMargins(24, 0, 0, 0)
        self.db_file = QLineEdit()
        self.db_file.setObjectName("dbFile")
        self.db_file.setPlaceholderText(str(self.app.workspace.ctx.settings.data_dir / "cio.db") + "  (default)")
        self.db_file_browse = QPushButton("Browse…")
        self.db_file_browse.clicked.connect(self._browse_db_file)
        file_row.addWidget(self.db_file, 1)
        file_row.addWidget(self.db_file_browse)
        form.addLayout(file_row)
        form.addWidget(self.use_team)
        team = QFormLayout()
        team.setContentsMargins(24, 0, 0, 0)
        self.db_url = QLineEdit()
        self.db_url.setObjectName("dbUrl")
        self.db_url.setPlaceholderText(URL_PLACEHOLDER)
        team.addRow("Server URL", self.db_url)
        ca_row = QHBoxLayout()
        self.ca_file = QLineEdit()
        self.ca_file.setObjectName("caFile")
        self.ca_file.setPlaceholderText("empty: the system's trusted certificates")
        self.ca_browse = QPushButton("Browse…")
        self.ca_browse.clicked.connect(self._browse_ca_file)
        ca_row.addWidget(self.ca_file, 1)
        ca_row.addWidget(self.ca_browse)
        team.addRow("CA certificate", ca_row)
        self.team_hint = hint_label("Always TLS 1.2 or newer with a verified certificate (sslmode=verify-full). "
                                    "The password is not saved here: put it in ~/.pgpass or PGPASSWORD. "
                                    "Every member needs the team passphrase.")
        team.addRow("", self.team_hint)
        form.addLayout(team)
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("testConnection")
        self.test_button.clicked.connect(self.test_connection)
        self.test_busy = _busy_bar("testBusy")
        form.addLayout(_action_row(self.test_button, self.test_busy, 120))
        self.test_status = status_label()
        self.test_status.setObjectName("testStatus")
        form.addWidget(self.test_status)
        col.addWidget(where)

        insecure = QGroupBox("Exceptions to TLS verification")
        ins = QVBoxLayout(insecure)
        hosts_form = QFormLayout()
        self.insecure_hosts = QLineEdit()
        self.insecure_hosts.setObjectName("insecureHosts")
        self.insecure_hosts.setPlaceholderText("none (recommended) — or exact host names, comma-separated")
        hosts_form.addRow("Allowed insecure hosts", self.insecure_hosts)
        ins.addLayout(hosts_form)
        self.insecure_warning = QLabel(INSECURE_WARNING)
        self.insecure_warning.setObjectName("insecureWarning")
        self.insecure_warning.setWordWrap(True)
        self.insecure_warning.setProperty("warning", True)
        ins.addWidget(self.insecure_warning)
        col.addWidget(insecure)

        self.env_note = status_label("warning")
        self.env_note.setObjectName("envNote")
        col.addWidget(self.env_note)
        save_row = QHBoxLayout()
        save_row.addStretch(1)
        self.save_button = primary_button("Save")
        self.save_button.setObjectName("saveSettings")
        self.save_button.clicked.connect(self.save)
        save_row.addWidget(self.save_button)
        col.addLayout(save_row)
        self.save_status = status_label()
        self.save_status.setObjectName("saveStatus")
        col.addWidget(self.save_status)
        col.addStretch(1)
        self.use_file.toggled.connect(self._kind_changed)
        self.use_team.toggled.connect(self._kind_changed)
        return page

    def _load(self) -> None:
        try:
            values = self.admin.current(self.settings_file)
        except Exception as exc:  # an unreadable settings file: say so, keep the form usable
            show_status(self.save_status, inline_error(self.app, exc))
            values = dict.fromkeys(MANAGED, "")
        db = values["db"]
        team = db.startswith(("postgresql:", "postgresql+", "postgres:"))
        (self.use_team if team else self.use_file).setChecked(True)
        self.db_url.setText(db if team else "")
        self.db_file.setText("" if team else db)
        self.ca_file.setText(values["pg_ca_file"])
        self.insecure_hosts.setText(values["allow_insecure_hosts"])
        self._kind_changed()
        from cio_desktop.config import environment_overrides

        overrides = environment_overrides(MANAGED)
        if overrides:
            show_status(self.env_note, f"{', '.join(overrides)} is set in the environment and wins over what is "
                                       "saved here.", "warning")

    def _kind_changed(self) -> None:
        team = self.use_team.isChecked()
        for w in (self.db_url, self.ca_file, self.ca_browse):
            w.setEnabled(team)
        for w in (self.db_file, self.db_file_browse):
            w.setEnabled(not team)
        show_status(self.test_status, "")

    def database_target(self) -> str:
        return self.db_url.text().strip() if self.use_team.isChecked() else self.db_file.text().strip()

    def _browse_db_file(self) -> None:
        name = self.choose_db_file(self.db_file.text() or str(self.app.workspace.ctx.settings.data_dir))
        if name:
            self.db_file.setText(name)

    def _browse_ca_file(self) -> None:
        name = self.choose_ca_file(self.ca_file.text() or str(Path.home()))
        if name:
            self.ca_file.setText(name)

    def test_connection(self) -> None:
        """Connect as the next start would, in the worker pool; the answer goes to the label."""
        target, ca, hosts = self.database_target(), self.ca_file.text(), self.insecure_hosts.text()
        if self.use_team.isChecked() and not target:
            show_status(self.test_status, "Enter the server URL first.")
            return
        self.test_button.setEnabled(False)
        self.test_busy.setVisible(True)
        show_status(self.test_status, "Testing the connection…", "warning")
        admin = self.admin
        self.app.workers.run(lambda: admin.check_database(target, ca_file=ca, allow_insecure_hosts=hosts),
                             self._tested, self._test_failed)

    def _tested(self, result: DatabaseCheck) -> None:
        self.test_button.setEnabled(True)
        self.test_busy.setVisible(False)
        show_status(self.test_status, result.message, "ok" if result.ok else "error")
        self.tested.emit(result)

    def _test_failed(self, exc: BaseException) -> None:
        self.test_button.setEnabled(True)
        self.test_busy.setVisible(False)
        show_status(self.test_status, inline_error(self.app, exc))

    def save(self) -> None:
        show_status(self.save_status, "")
        try:
            result = self.admin.save(db=self.database_target(), pg_ca_file=self.ca_file.text(),
                                     allow_insecure_hosts=self.insecure_hosts.text(), path=self.settings_file)
        except Exception as exc:
            show_status(self.save_status, inline_error(self.app, exc))
            return
        self.insecure_hosts.setText(self.admin.current(self.settings_file)["allow_insecure_hosts"])
        show_status(self.save_status, result.message(), "ok")
        if result.changed:
            self.app.status("settings saved: they take effect at the next start")
        self.saved.emit(result)

    # -- the backup tab -----------------------------------------------------------------------------
    def _backup_tab(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        self.backup_button = primary_button("Backup now…")
        self.backup_button.setObjectName("backupNow")
        self.backup_button.clicked.connect(self.backup_now)
        backup = _TaskBox("Backup", "A consistent copy taken while everyone keeps working, encrypted with the "
                                    "database key (it cannot be read without it). Keep backups somewhere other "
                                    "than this computer.", self.backup_button, "backup")
        self.backup_busy, self.backup_status = backup.busy, backup.status
        col.addWidget(backup)

        self.restore_button = QPushButton("Restore…")
        self.restore_button.setObjectName("restore")
        self.restore_button.clicked.connect(self.restore)
        restore = _TaskBox("Restore", "Replaces the whole database with a backup. The backup is checked first "
                                      "(key, integrity, schema, audit trail). The replacement itself runs while "
                                      "CIO Desktop is closed, with the command shown after the check.",
                           self.restore_button, "restore")
        self.restore_busy, self.restore_status = restore.busy, restore.status
        self.steps = QFrame()
        self.steps.setObjectName("restoreSteps")
        steps = QVBoxLayout(self.steps)
        steps.setContentsMargins(0, 4, 0, 0)
        self.steps_text = QLabel("")
        self.steps_text.setObjectName("restoreStepsText")
        self.steps_text.setWordWrap(True)
        self.steps_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        steps.addWidget(self.steps_text)
        cmd_row = QHBoxLayout()
        self.command = QLineEdit()
        self.command.setObjectName("restoreCommand")
        self.command.setReadOnly(True)
        self.copy_button = QPushButton("Copy command")
        self.copy_button.clicked.connect(self._copy_command)
        cmd_row.addWidget(self.command, 1)
        cmd_row.addWidget(self.copy_button)
        steps.addLayout(cmd_row)
        self.steps.setVisible(False)
        restore.body.addWidget(self.steps)
        col.addWidget(restore)
        col.addStretch(1)
        return page

    def _suggested_backup(self) -> str:
        stamp = self.app.workspace.ctx.now().astimezone().strftime("%Y%m%d-%H%M")
        return str(Path.home() / f"cio-backup-{stamp}.cio-backup")

    def backup_now(self) -> None:
        path = self.choose_backup_file(self._suggested_backup())
        if not path:
            return
        svc = self.app.workspace.backup
        self._start_task(self.backup_busy, self.backup_status, f"Writing the backup to {path}…",
                         lambda: svc.backup(path), self._backed_up)

    def _start_task(self, busy: QProgressBar, status: QLabel, doing: str, fn: Callable[[], Any],
                    done: Callable[[Any], None]) -> None:
        """Run a backup-tab task in the worker pool: both task buttons wait (a backup and a
        restore check never overlap), the task's busy bar shows, ``doing`` is its status until
        ``done`` — or the error, in plain words — replaces it."""
        self.backup_button.setEnabled(False)
        self.restore_button.setEnabled(False)
        busy.setVisible(True)
        show_status(status, doing, "warning")

        def failed(exc: BaseException) -> None:
            self._tasks_idle()
            show_status(status, inline_error(self.app, exc))

        self.app.workers.run(fn, done, failed)

    def _tasks_idle(self) -> None:
        self.backup_button.setEnabled(True)
        self.restore_button.setEnabled(True)
        self.backup_busy.setVisible(False)
        self.restore_busy.setVisible(False)

    def _backed_up(self, result: BackupResult) -> None:
        self._tasks_idle()
        show_status(self.backup_status, f"Backup written to {result.path} — {human_size(result.size)} "
                                        f"({result.size:,} bytes), encrypted; {result.audit_entries} audit "
                                        "entries.", "ok")
        self.app.status(f"backup written to {result.path}")
        self.backed_up.emit(result)

    def restore(self) -> None:
        """Pick a backup, check it off the GUI thread, confirm, then show the safe steps."""
        path = self.choose_restore_file(str(Path.home()))
        if not path:
            return
        self.steps.setVisible(False)
        svc = self.app.workspace.backup
        self._start_task(self.restore_busy, self.restore_status, f"Checking {path}…",
                         lambda: svc.check(path), self._restore_checked)

    def _restore_checked(self, check: BackupCheck) -> None:
        self._tasks_idle()
        self.last_check = check
        self.restore_checked.emit(check)
        db = self.app.workspace.db
        written = check.modified.astimezone().strftime("%Y-%m-%d %H:%M")
        entries = f", {check.audit_entries} audit entries" if check.audit_entries else ""
        question = (f"Replace the whole database\n\n    {db.display_name}\n\nwith the backup\n\n    {check.path}\n"
                    f"    (written {written}, {human_size(check.size)}{entries})?\n\n"
                    "Everything recorded after that backup — payments, imports, users, settings and audit "
                    "entries — will be lost. The backup passed the checks (key, integrity, schema, audit trail).")
        if not self.confirm(self, "Restore from backup", question, "Replace the database"):
            show_status(self.restore_status, "Restore cancelled; nothing was changed.", "warning")
            return
        self.restore_command = self._command(check.path)
        self.command.setText(self.restore_command)
        self.command.setCursorPosition(0)
        team = db.kind == "postgresql"
        others = "every workstation on the team database, " if team else ""
        self.steps_text.setText(
            "<b>The restore runs while CIO Desktop is closed.</b> Replacing the database under the running "
            "application is not safe: background jobs, open screens and the data keys unlocked at start "
            "would still point at the old data. To restore:"
            f"<ol><li>Quit CIO Desktop ({others}including this one).</li>"
            "<li>Run the command below. It checks the backup again, replaces the database in one step "
            "(nothing changes if anything fails), records the restore in the audit trail and prints the "
            "audit verification. It asks for your password and needs a current two-factor code.</li>"
            "<li>Start CIO Desktop again.</li></ol>")
        self.steps.setVisible(True)
        show_status(self.restore_status, f"Backup checked: {check.message()}.", "ok")

    def _command(self, path: Path) -> str:
        db = self.app.workspace.db
        session = self.app.workspace.ctx.session
        parts = ["cio-desktop", "restore", shlex.quote(str(path))]
        if db.kind == "sqlite":
            parts += ["--db", shlex.quote(db.target)]
        parts += ["--user", shlex.quote(session.username if session else "ADMIN"), "--otp", "CODE"]
        return " ".join(parts)

    def _copy_command(self) -> None:
        QGuiApplication.clipboard().setText(self.restore_command)
        self.app.status("restore command copied")
