"""The main window is a frame only: sidebar, stacked panels, menus, status bar, idle lock.

Every feature lives in its panel module (``ui/panels``); the list of panels comes from
``ui.panels.registry.PANELS`` (passed in by ``app.py``). Panels the session may not use are not
shown; each panel is built the first time it is opened; bus events reach the panels that
declared the topic in ``TOPICS`` (exact topic, ``"prefix.*"`` or ``"*"``).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence,
                           QShowEvent)
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QListWidgetItem, QMainWindow, QMessageBox, QProgressBar,
                               QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from cio_desktop import __version__
from cio_desktop.security.permissions import Permission
from cio_desktop.ui.dialogs.lock import IdleWatcher, LockOverlay
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.theme import ThemeManager
from cio_desktop.ui.widgets.format import negative_color

log = logging.getLogger(__name__)

LOCK_SHORTCUT = "Ctrl+L"
IMPORT_SHORTCUT = "Ctrl+I"
QUIT_SHORTCUT = "Ctrl+Q"
THEME_SHORTCUT = "Ctrl+Shift+T"
SETTINGS_SHORTCUT = "Ctrl+,"


def topic_matches(patterns: Sequence[str], topic: str) -> bool:
    for p in patterns:
        if p == "*" or p == topic or (p.endswith(".*") and topic.startswith(p[:-1])):
            return True
    return False


class MainWindow(QMainWindow):
    #: emitted once, after the window is first shown (the first panel has requested its data)
    shown = Signal()
    #: the user chose File → Log out (or "Sign out" on the lock screen)
    logout_requested = Signal()
    #: the session ended underneath us (lock-out while unlocking, expiry): back to login
    session_ended = Signal(str)
    #: the user closed the window (File → Quit, the close button): the application should end
    closed = Signal()

    def __init__(self, ui_ctx: Any, panels: Sequence[type[Panel]], *,
                 theme: ThemeManager | None = None, idle: IdleWatcher | None = None,
                 prefs: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ui_ctx = ui_ctx
        self.theme = theme
        self.idle = idle
        self.prefs = prefs
        self.locked = False
        self._first_show = True
        self._closing_quietly = False
        self._closed_emitted = False
        self._torn_down = False
        self.import_dialog: Any = None
        self._sync_seen = False  # a sync event arrived: the start-up read must not overwrite it
        self._last_sync: tuple[str, str] | None = None
        self._hidden_for_lock: Any = None
        self._settings_hidden_for_lock: Any = None
        if theme is not None:
            ui_ctx.extra["theme"] = theme  # panels that draw themselves follow ThemeManager.changed
        session = ui_ctx.workspace.ctx.session
        self.session = session
        self.can_import = bool(session and session.can(Permission.LEDGER_IMPORT))
        self.setObjectName("mainWindow")
        db_name = ui_ctx.workspace.db.display_name
        self.setWindowTitle(f"CIO Desktop — {db_name} — {session.username if session else '?'}")

        # -- panels allowed for this session ------------------------------------------
        self.panels: list[Panel] = []
        for cls in panels:
            if cls.PERMISSION is not None and (session is None or not session.can(cls.PERMISSION)):
                log.debug("panel %s hidden: %s lacks %s", cls.NAME, session and session.role,
                          cls.PERMISSION)
                continue
            self.panels.append(cls(ui_ctx))

        # -- layout: sidebar | stack ----------------------------------------------------
        central = QWidget()
        self.central = central
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        side = QFrame()
        side.setObjectName("sidebarFrame")
        side.setFixedWidth(220)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 8)
        side_layout.setSpacing(0)
        title = QLabel("CIO Desktop")
        title.setObjectName("sidebarTitle")
        subtitle = QLabel(db_name)
        subtitle.setObjectName("sidebarSubtitle")
        subtitle.setWordWrap(True)
        side_layout.addWidget(title)
        side_layout.addWidget(subtitle)
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        side_layout.addWidget(self.sidebar, 1)
        self.stack = QStackedWidget()
        self.stack.setObjectName("panelStack")
        for panel in self.panels:
            item = QListWidgetItem(panel.TITLE)
            item.setData(Qt.ItemDataRole.UserRole, panel.NAME)
            if panel.SHORTCUT:
                item.setToolTip(f"{panel.TITLE} ({panel.SHORTCUT})")
            self.sidebar.addItem(item)
            self.stack.addWidget(panel)
            panel.badge_changed.connect(lambda n, p=panel: self._show_badge(p, n))
        if not self.panels:
            empty = QLabel("Your role has no screens in this version. Ask an administrator.")
            empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.stack.addWidget(empty)
        row.addWidget(side)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self._build_status_bar(db_name)
        self._build_menus()
        self.overlay = LockOverlay(ui_ctx, self)
        self.overlay.unlocked.connect(self._on_unlocked)
        self.overlay.session_ended.connect(self._end_session)
        self.overlay.logout_requested.connect(self.logout_requested.emit)

        ui_ctx.status = self.show_status
        from cio_desktop.ui.tray import install_tray, open_ref  # issue 9: desktop notifications, "open" links

        ui_ctx.extra["open_panel"] = lambda name, ref="": open_ref(self, name, ref)
        self._remove_tray = install_tray(self, ui_ctx)
        ui_ctx.bridge.event.connect(self._on_event)
        if idle is not None:
            idle.idle.connect(self.lock)
            idle.start()
        self.sidebar.currentRowChanged.connect(self._activate_row)
        self.setAcceptDrops(self.can_import)  # statement files dropped here open the Import dialog
        if theme is not None:
            theme.changed.connect(self._theme_changed)
        self._restore()
        self._load_last_sync()
        for panel in self.panels:
            if panel.BADGE_TOPICS:
                self._refresh_badge(panel)

    # -- construction helpers ------------------------------------------------------------
    def _build_status_bar(self, db_name: str) -> None:
        bar = self.statusBar()
        self.busy = QProgressBar()
        self.busy.setObjectName("busyIndicator")
        self.busy.setRange(0, 0)
        self.busy.setFixedWidth(90)
        self.busy.setMaximumHeight(12)
        self.busy.setTextVisible(False)
        self.busy.setToolTip("working in the background")
        self.busy.setVisible(False)
        s = self.session
        self.db_label = QLabel(f"Database: {db_name}")
        self.user_label = QLabel(f"User: {s.username} · {s.role}" if s else "Not signed in")
        self.sync_label = QLabel("Last sync: never")
        self.sync_label.setObjectName("lastSync")
        self.note_label = QLabel("")
        self.note_label.setVisible(False)
        for w in (self.busy, self.note_label, self.db_label, self.user_label, self.sync_label):
            bar.addPermanentWidget(w)
        self._busy_timer = QTimer(self)
        self._busy_timer.setInterval(200)
        self._busy_timer.timeout.connect(self._update_busy)
        self._busy_timer.start()

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.import_action = QAction("&Import statements…", self)
        self.import_action.setShortcut(QKeySequence(IMPORT_SHORTCUT))
        self.import_action.triggered.connect(lambda _c=False: self.open_import())
        self.import_action.setVisible(self.can_import)
        self.import_action.setEnabled(self.can_import)
        file_menu.addAction(self.import_action)
        self.board_pack_action = QAction("&Board pack…", self)  # issue 11
        self.board_pack_action.triggered.connect(lambda _c=False: self.open_board_pack())
        self.board_pack_action.setVisible(bool(self.session and self.session.can(Permission.REPORTS_EXPORT)))
        file_menu.addAction(self.board_pack_action)
        self.can_manage_settings = bool(self.session and self.session.can(Permission.SETTINGS_MANAGE))
        self.settings_dialog: Any = None
        self.settings_action = QAction("&Settings…", self)  # issue 12: database, TLS exceptions, backup
        self.settings_action.setShortcut(QKeySequence(SETTINGS_SHORTCUT))
        self.settings_action.triggered.connect(lambda _c=False: self.open_settings())
        self.settings_action.setVisible(self.can_manage_settings)
        self.settings_action.setEnabled(self.can_manage_settings)
        file_menu.addAction(self.settings_action)
        if self.can_import or self.can_manage_settings:
            file_menu.addSeparator()
        self.lock_action = QAction("&Lock", self)
        self.lock_action.setShortcut(QKeySequence(LOCK_SHORTCUT))
        self.lock_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.lock_action.triggered.connect(self.lock)
        self.logout_action = QAction("Log &out", self)
        self.logout_action.triggered.connect(self.logout_requested.emit)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence(QUIT_SHORTCUT))
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.lock_action)
        file_menu.addAction(self.logout_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        # Lock must work even while a menu bar is disabled or a panel has focus.
        self.addAction(self.lock_action)

        view_menu = menu.addMenu("&View")
        self.theme_action = QAction("&Dark theme", self)
        self.theme_action.setCheckable(True)
        self.theme_action.setShortcut(QKeySequence(THEME_SHORTCUT))
        self.theme_action.setChecked(bool(self.theme and self.theme.current == "dark"))
        self.theme_action.setEnabled(self.theme is not None)
        self.theme_action.triggered.connect(self.toggle_theme)
        view_menu.addAction(self.theme_action)
        view_menu.addSeparator()
        self.panel_actions: dict[str, QAction] = {}
        used: set[str] = set()
        for panel in self.panels:
            action = QAction(panel.TITLE, self)
            if panel.SHORTCUT:
                if panel.SHORTCUT in used:
                    log.warning("panel %s: shortcut %s already used", panel.NAME, panel.SHORTCUT)
                else:
                    used.add(panel.SHORTCUT)
                    action.setShortcut(QKeySequence(panel.SHORTCUT))
            action.triggered.connect(lambda _c=False, n=panel.NAME: self.show_panel(n))
            view_menu.addAction(action)
            self.panel_actions[panel.NAME] = action

        help_menu = menu.addMenu("&Help")
        shortcuts = QAction("&Keyboard shortcuts", self)
        shortcuts.setShortcut(QKeySequence("F1"))
        shortcuts.triggered.connect(self.show_shortcuts)
        about = QAction("&About CIO Desktop", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(shortcuts)
        help_menu.addAction(about)

    def _restore(self) -> None:
        geometry = self.prefs.value("window/geometry") if self.prefs is not None else None
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        last = str(self.prefs.value("window/panel", "")) if self.prefs is not None else ""
        names = [p.NAME for p in self.panels]
        if names:
            self.show_panel(last if last in names else names[0])

    # -- panels ---------------------------------------------------------------------------
    def panel(self, name: str) -> Panel | None:
        return next((p for p in self.panels if p.NAME == name), None)

    @property
    def panel_names(self) -> list[str]:
        return [p.NAME for p in self.panels]

    @property
    def current_panel(self) -> Panel | None:
        w = self.stack.currentWidget()
        return w if isinstance(w, Panel) else None

    def show_panel(self, name: str) -> bool:
        names = self.panel_names
        if name not in names or self.locked:
            return False
        row = names.index(name)
        if self.sidebar.currentRow() != row:
            self.sidebar.setCurrentRow(row)  # → _activate_row
        else:
            self._activate_row(row)
        return True

    def _activate_row(self, row: int) -> None:
        if not 0 <= row < len(self.panels):
            return
        panel = self.panels[row]
        self.stack.setCurrentWidget(panel)
        try:
            panel.ensure_built()
            panel.on_shown()
        except Exception as exc:  # a broken panel must not take the frame down
            log.exception("panel %s failed to open", panel.NAME)
            self.ui_ctx.show_error(exc)
        if self.prefs is not None:
            self.prefs.setValue("window/panel", panel.NAME)

    def _on_event(self, topic: str, data: dict) -> None:
        if topic == "auth.locked" and not self.locked:
            self.lock()
            return
        if topic in ("sync.completed", "sync.failed"):
            self._sync_seen = True
            self._sync_event(topic, data)
        for panel in self.panels:
            if topic_matches(panel.BADGE_TOPICS, topic):
                self._refresh_badge(panel)
            if panel._built and topic_matches(panel.TOPICS, topic):
                try:
                    panel.on_changes(topic, data)
                except Exception as exc:
                    log.exception("panel %s failed to handle %s", panel.NAME, topic)
                    self.ui_ctx.show_error(exc)

    def _refresh_badge(self, panel: Panel) -> None:
        try:
            panel.refresh_badge()
        except Exception:  # a badge must never take the frame down
            log.exception("panel %s failed to refresh its badge", panel.NAME)

    def _show_badge(self, panel: Panel, count: int) -> None:
        """The sidebar entry reads "Title (n)" while the panel's badge is positive."""
        if self._torn_down or panel not in self.panels:
            return
        item = self.sidebar.item(self.panels.index(panel))
        if item is not None:
            item.setText(f"{panel.TITLE} ({count})" if count > 0 else panel.TITLE)

    def sidebar_text(self, name: str) -> str:
        names = self.panel_names
        item = self.sidebar.item(names.index(name)) if name in names else None
        return item.text() if item is not None else ""

    # -- status bar -----------------------------------------------------------------------
    def show_status(self, message: str, msecs: int = 6000) -> None:
        self.statusBar().showMessage(message, msecs)

    def set_note(self, text: str) -> None:
        """A permanent note in the status bar (e.g. "demo key")."""
        self.note_label.setText(text)
        self.note_label.setVisible(bool(text))

    def set_last_sync(self, text: str, *, error: str = "") -> None:
        """``Last sync: <text>``; with ``error`` the label turns red and the tooltip holds it."""
        self._last_sync = (text, error)
        self.sync_label.setText(f"Last sync: {text}" + (" — failed" if error else ""))
        self.sync_label.setProperty("failed", bool(error))
        self.sync_label.setStyleSheet(f"color: {negative_color().name()}; font-weight: 600;" if error else "")
        self.sync_label.setToolTip(f"The last synchronisation failed: {error}" if error else
                                   "The last synchronisation with a bank or platform connection")

    def _theme_changed(self, _name: str) -> None:
        if self._last_sync is not None and not self._torn_down:
            text, error = self._last_sync
            self.set_last_sync(text, error=error)

    def _sync_event(self, topic: str, data: dict) -> None:
        name = str(data.get("connection") or "?")
        when = self.ui_ctx.workspace.ctx.now().astimezone().strftime("%H:%M")
        if topic == "sync.failed":
            self.set_last_sync(f"{when} ({name})", error=str(data.get("error") or "unknown error"))
        else:
            self.set_last_sync(f"{when} ({name})")

    def _load_last_sync(self) -> None:
        """The most recent run of any connection, read once in the worker pool."""
        if self.session is None or not self.session.can(Permission.ACCOUNTS_READ):
            return
        sync = getattr(self.ui_ctx.workspace, "sync", None)
        if sync is None:
            return

        def latest() -> Any:
            started = [v for v in sync.list_connections() if v.last_started_at is not None]
            return max(started, key=lambda v: v.last_started_at) if started else None

        def show(view: Any) -> None:
            if view is None or self._torn_down or self._sync_seen:
                return
            when = view.last_started_at.astimezone()
            today = self.ui_ctx.workspace.ctx.now().astimezone().date()
            text = when.strftime("%H:%M" if when.date() == today else "%Y-%m-%d %H:%M")
            self.set_last_sync(f"{text} ({view.name})", error=view.last_error)

        self.ui_ctx.workers.run(latest, show, lambda exc: log.info("last sync not shown: %s", exc))

    # -- import ---------------------------------------------------------------------------------
    def open_settings(self) -> Any:
        """File ▸ Settings… (Ctrl+,): administrators only; one dialog at a time."""
        if not self.can_manage_settings or self.locked:
            return None
        from cio_desktop.ui.dialogs.settings_dialog import SettingsDialog

        # kept (not deleted on close) so a backup still running in the worker pool reports back
        # to a live dialog even after the user closed it
        dialog = self.settings_dialog
        if dialog is None:
            dialog = SettingsDialog(self.ui_ctx, self)
            self.settings_dialog = dialog
        if dialog.isVisible():
            dialog.raise_()
            dialog.activateWindow()
        else:
            dialog.open()
        return dialog

    def open_board_pack(self) -> Any:
        from cio_desktop.ui.dialogs.board_pack import BoardPackDialog

        dialog = BoardPackDialog(self.ui_ctx, self)
        dialog.open()
        return dialog

    def open_import(self, paths: Sequence[str] = ()) -> Any:
        """File ▸ Import statements… (Ctrl+I), or files dropped on the window."""
        if not self.can_import or self.locked:
            return None
        from cio_desktop.ui.dialogs.import_dialog import ImportDialog

        dialog = self.import_dialog
        if dialog is not None:
            try:
                dialog.isVisible()
            except RuntimeError:  # deleted
                dialog = None
        if dialog is None:
            dialog = ImportDialog(self.ui_ctx, self, paths)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.destroyed.connect(lambda *_: setattr(self, "import_dialog", None))
            self.import_dialog = dialog
            dialog.open()
        else:
            dialog.add_files(paths)
            dialog.show()
            dialog.raise_()
            dialog.activateWindow()
        return dialog

    def _visible_import_dialog(self) -> Any:
        dialog = self.import_dialog
        try:
            return dialog if dialog is not None and dialog.isVisible() else None
        except RuntimeError:
            return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        mime = event.mimeData()
        if self.can_import and not self.locked and mime is not None and mime.hasUrls() and \
                any(u.isLocalFile() for u in mime.urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        mime = event.mimeData()
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime is not None else []
        if not paths or not self.can_import or self.locked:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_import(paths)

    def _update_busy(self) -> None:
        busy = bool(self.ui_ctx.workers.busy)
        if busy != self.busy.isVisible():
            self.busy.setVisible(busy)

    # -- lock -------------------------------------------------------------------------------
    def lock(self) -> None:
        """Hide everything behind the lock overlay and lock the session (audited)."""
        if self.locked:
            return
        self.locked = True
        if self.idle is not None:
            self.idle.stop()
        self.central.setEnabled(False)
        self.menuBar().setEnabled(False)
        self._hidden_for_lock = self._visible_import_dialog()
        if self._hidden_for_lock is not None:
            self._hidden_for_lock.hide()
        settings = self.settings_dialog  # the lock hides it too (it shows the database URL)
        self._settings_hidden_for_lock = settings if settings is not None and settings.isVisible() else None
        if self._settings_hidden_for_lock is not None:
            self._settings_hidden_for_lock.hide()
        self.overlay.show_over()
        auth = self.ui_ctx.workspace.auth
        self.ui_ctx.workers.run(auth.lock, None, self.ui_ctx.show_error)

    def _on_unlocked(self) -> None:
        self.locked = False
        self.central.setEnabled(True)
        self.menuBar().setEnabled(True)
        settings, self._settings_hidden_for_lock = self._settings_hidden_for_lock, None
        if settings is not None:
            settings.open()
        dialog, self._hidden_for_lock = self._hidden_for_lock, None
        if dialog is not None:
            try:
                dialog.show()
            except RuntimeError:  # closed meanwhile
                pass
        if self.idle is not None:
            self.idle.start()
        current = self.current_panel
        if current is not None:
            current.setFocus()
        self.show_status("unlocked")

    def _end_session(self, reason: str) -> None:
        self.session_ended.emit(reason)

    # -- view -------------------------------------------------------------------------------
    def toggle_theme(self) -> None:
        if self.theme is None:
            return
        name = self.theme.toggle()
        self.theme_action.setChecked(name == "dark")
        self.show_status(f"{name} theme")

    def shortcut_rows(self) -> list[tuple[str, str]]:
        rows = [(LOCK_SHORTCUT, "Lock the workstation"), (QUIT_SHORTCUT, "Quit"),
                (THEME_SHORTCUT, "Switch light / dark theme"), ("F1", "This list")]
        if self.can_import:
            rows.insert(0, (IMPORT_SHORTCUT, "Import statements (or drop files on the window)"))
        if self.can_manage_settings:
            rows.insert(0, (SETTINGS_SHORTCUT, "Settings: database, TLS exceptions, backup"))
        rows += [(p.SHORTCUT, f"Open {p.TITLE}") for p in self.panels if p.SHORTCUT]
        rows += [("Enter", "Confirm a dialog"), ("Esc", "Cancel a dialog")]
        return rows

    def show_shortcuts(self) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard shortcuts")
        dialog.setMinimumWidth(420)
        layout = QVBoxLayout(dialog)
        rows = self.shortcut_rows()
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.setShowGrid(False)
        table.setAlternatingRowColors(True)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for i, (keys, what) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(QKeySequence(keys).toString(
                QKeySequence.SequenceFormat.NativeText) or keys))
            table.setItem(i, 1, QTableWidgetItem(what))
        table.resizeColumnToContents(0)
        table.setColumnWidth(0, table.columnWidth(0) + 24)
        table.setMinimumHeight(min(40 + 30 * len(rows), 420))
        layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout.addWidget(buttons)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.shortcuts_dialog = dialog
        dialog.open()

    def show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "About CIO Desktop",
                          f"<b>CIO Desktop {__version__}</b><br>Treasury workstation: accounts, "
                          "ledger, payments, risk and reporting on an encrypted database.<br><br>"
                          f"Database: {self.ui_ctx.workspace.db.display_name}",
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- life cycle ---------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._first_show:
            self._first_show = False
            QTimer.singleShot(0, self.shown.emit)

    def close_quietly(self) -> None:
        """Close for a log-out (the application keeps running for the next login)."""
        self._closing_quietly = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self.prefs is not None:
            self.prefs.setValue("window/geometry", self.saveGeometry())
            self.prefs.sync()
        self.teardown()
        super().closeEvent(event)
        if not self._closing_quietly and not self._closed_emitted:
            self._closed_emitted = True
            self.closed.emit()

    def teardown(self) -> None:
        """Stop timers and leave the event bridge and idle watcher (idempotent)."""
        if self._torn_down:
            return
        self._torn_down = True
        self._remove_tray()
        self._busy_timer.stop()
        dialog = self.import_dialog
        if dialog is not None:
            try:
                dialog.cancel_import()  # a running import stops at its next chunk
            except RuntimeError:
                pass
        if self.idle is not None:
            self.idle.stop()
            try:
                self.idle.idle.disconnect(self.lock)
            except (RuntimeError, TypeError):
                pass
        try:
            self.ui_ctx.bridge.event.disconnect(self._on_event)
        except (RuntimeError, TypeError):
            pass
        if self.theme is not None:
            try:
                self.theme.changed.disconnect(self._theme_changed)
            except (RuntimeError, TypeError):
                pass
