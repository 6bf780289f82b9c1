"""Users & Roles: the user list with its admin actions, and the role → permission matrix.

Every change goes through ``run_sensitive`` (the service demands a fresh two-factor code) and
the service's own permission check; buttons the session may not use are hidden, which is only
a convenience. The panel refreshes when ``users.changed`` or ``roles.changed`` is published.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox,
                               QFormLayout, QHBoxLayout, QHeaderView, QInputDialog, QLineEdit,
                               QPushButton, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from cio_desktop.errors import ConcurrentUpdate, PasswordPolicyError
from cio_desktop.security.passwords import check_policy
from cio_desktop.security.permissions import SENSITIVE, Permission, Role
from cio_desktop.services.users import UserInfo
from cio_desktop.ui.dialogs.common import (PASSWORD_POLICY, confirm, hint_label, inline_error,
                                           primary_button, show_status, status_label, title_label)
from cio_desktop.ui.dialogs.mfa import run_sensitive
from cio_desktop.ui.panels.base import Panel
from cio_desktop.ui.widgets.tables import record_table

log = logging.getLogger(__name__)

COLUMNS = ("User", "Display name", "Role", "Active", "Two-factor", "Locked until", "Created")
ROLE_NAMES = [r.value for r in Role]


def local_time(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else ""


class _PasswordFields:
    """Password + repeat with the policy shown; ``check()`` returns an error or None."""

    def __init__(self, form: QFormLayout, label: str = "Password") -> None:
        self.password = QLineEdit()
        self.password.setObjectName("newPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat = QLineEdit()
        self.repeat.setObjectName("repeatPassword")
        self.repeat.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow(label, self.password)
        form.addRow("Repeat", self.repeat)
        form.addRow("", hint_label(PASSWORD_POLICY))

    def check(self, username: str) -> str | None:
        if self.password.text() != self.repeat.text():
            return "the two passwords differ"
        try:
            check_policy(self.password.text(), username)
        except PasswordPolicyError as exc:
            return f"password {exc.reason}"
        return None

    def clear(self) -> None:
        self.password.clear()
        self.repeat.clear()


class _FormDialog(QDialog):
    """A small form dialog whose OK runs a sensitive service call and stays open on errors."""

    def __init__(self, ui_ctx: Any, title: str, button: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.ui_ctx = ui_ctx
        self.result_value: Any = None
        self.setWindowTitle(title)
        self.setMinimumWidth(480)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(24, 20, 24, 16)
        self.layout_.setSpacing(10)
        self.layout_.addWidget(title_label(title))
        self.form = QFormLayout()
        self.form.setSpacing(8)
        self.layout_.addLayout(self.form)
        self.error_label = status_label("error")
        self.error_label.setObjectName("formError")
        buttons = QDialogButtonBox()
        self.ok_button = primary_button(button)
        self.ok_button.setObjectName("formOk")
        self.ok_button.setDefault(True)
        buttons.addButton(self.ok_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        self._buttons = buttons

    def finish_layout(self) -> None:
        self.layout_.addWidget(self.error_label)
        self.layout_.addWidget(self._buttons)

    def fail(self, text: str) -> None:
        show_status(self.error_label, text)

    def run(self, fn: Callable[[], Any]) -> None:
        self.ok_button.setEnabled(False)
        show_status(self.error_label, "")
        run_sensitive(self.ui_ctx, self, fn, self._done, self._failed, self._cancelled)

    def _done(self, value: Any) -> None:
        self.ok_button.setEnabled(True)
        self.result_value = value
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.ok_button.setEnabled(True)
        self.fail(inline_error(self.ui_ctx, exc))

    def _cancelled(self) -> None:
        self.ok_button.setEnabled(True)
        self.fail("not saved: the two-factor check was cancelled")

    def submit(self) -> None:
        raise NotImplementedError


class AddUserDialog(_FormDialog):
    def __init__(self, ui_ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(ui_ctx, "Add a user", "Add user", parent)
        self.setObjectName("addUserDialog")
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("newUserName")
        self.name_edit.setPlaceholderText("e.g. j.smith (letters, digits, . _ -)")
        self.display_edit = QLineEdit()
        self.display_edit.setObjectName("newUserDisplay")
        self.display_edit.setPlaceholderText("e.g. Jane Smith")
        self.role_combo = QComboBox()
        self.role_combo.setObjectName("newUserRole")
        self.role_combo.addItems(ROLE_NAMES)
        self.role_combo.setCurrentText(Role.VIEWER.value)
        self.form.addRow("User name", self.name_edit)
        self.form.addRow("Display name", self.display_edit)
        self.form.addRow("Role", self.role_combo)
        self.passwords = _PasswordFields(self.form, "Initial password")
        self.form.addRow("", hint_label("Give the initial password to the user in person; they "
                                        "change it in My security and set up two-factor there."))
        self.finish_layout()
        self.name_edit.setFocus()

    def submit(self) -> None:
        name = self.name_edit.text().strip()
        if not name:
            self.fail("enter a user name")
            return
        problem = self.passwords.check(name)
        if problem:
            self.fail(problem)
            return
        users = self.ui_ctx.workspace.users
        role, password, display = self.role_combo.currentText(), self.passwords.password.text(), \
            self.display_edit.text().strip()
        self.run(lambda: users.add_user(name, role, password, display_name=display))

    def accept(self) -> None:
        self.passwords.clear()
        super().accept()


class SetPasswordDialog(_FormDialog):
    def __init__(self, ui_ctx: Any, username: str, parent: QWidget | None = None) -> None:
        super().__init__(ui_ctx, f"Set a new password for {username}", "Set password", parent)
        self.setObjectName("setPasswordDialog")
        self.username = username
        self.passwords = _PasswordFields(self.form, "New password")
        self.finish_layout()

    def submit(self) -> None:
        problem = self.passwords.check(self.username)
        if problem:
            self.fail(problem)
            return
        users, name, password = self.ui_ctx.workspace.users, self.username, self.passwords.password.text()
        self.run(lambda: users.reset_password(name, password))

    def accept(self) -> None:
        self.passwords.clear()
        super().accept()


class UsersPanel(Panel):
    NAME = "users"
    TITLE = "Users & Roles"
    PERMISSION = Permission.USERS_READ
    SHORTCUT = "Ctrl+8"
    TOPICS = ("users.changed", "roles.changed")

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.users: list[UserInfo] = []
        self.matrix: dict[str, frozenset[str]] = {}
        self.dialog: QDialog | None = None
        #: asks before destructive actions; tests replace it
        self.confirm: Callable[[str, str, str], bool] = lambda title, text, action: confirm(
            self, title, text, action)
        #: asks for a new role; tests replace it
        self.ask_role: Callable[[str, str], str | None] = self._ask_role
        self._filling = False
        self._loaded = False

    # -- build ----------------------------------------------------------------------------
    def build(self) -> None:
        session = self.app.workspace.ctx.session
        self.can_manage = bool(session and session.can(Permission.USERS_MANAGE))
        self.can_roles = bool(session and session.can(Permission.ROLES_MANAGE))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.setSpacing(10)
        layout.addWidget(title_label("Users & Roles", "panelTitle"))
        layout.addWidget(hint_label("Who may use this workstation and what each role may do. "
                                    "Changes need a fresh two-factor code and are recorded in the "
                                    "audit trail."))
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_users_tab(), "Users")
        self.tabs.addTab(self._build_matrix_tab(), "Role permissions")
        layout.addWidget(self.tabs, 1)
        self.reload()

    def _build_users_tab(self) -> QWidget:
        tab = QWidget()
        v = QVBoxLayout(tab)
        v.setContentsMargins(0, 12, 0, 0)
        bar = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("usersFilter")
        self.filter_edit.setPlaceholderText("Filter users…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMaximumWidth(260)
        bar.addWidget(self.filter_edit)
        bar.addStretch(1)
        self.add_button = primary_button("Add user…")
        self.add_button.setObjectName("addUser")
        self.role_button = QPushButton("Change role…")
        self.unlock_button = QPushButton("Unlock")
        self.password_button = QPushButton("Set password…")
        self.mfa_button = QPushButton("Reset two-factor")
        self.active_button = QPushButton("Deactivate")
        self.active_button.setMinimumWidth(100)
        for b in (self.role_button, self.unlock_button, self.password_button, self.mfa_button,
                  self.active_button, self.add_button):
            bar.addWidget(b)
        self.add_button.clicked.connect(self.open_add_user)
        self.role_button.clicked.connect(self.change_role)
        self.unlock_button.clicked.connect(self.unlock_user)
        self.password_button.clicked.connect(self.set_password)
        self.mfa_button.clicked.connect(self.reset_mfa)
        self.active_button.clicked.connect(self.toggle_active)
        for b in (self.add_button, self.unlock_button, self.password_button, self.mfa_button,
                  self.active_button):
            b.setVisible(self.can_manage)
        self.role_button.setVisible(self.can_roles)
        v.addLayout(bar)

        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = record_table(self.proxy, "usersTable")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.table.doubleClicked.connect(lambda _i: self.change_role() if self.can_roles else None)
        v.addWidget(self.table, 1)
        self._update_buttons()
        return tab

    def _build_matrix_tab(self) -> QWidget:
        tab = QWidget()
        v = QVBoxLayout(tab)
        v.setContentsMargins(0, 12, 0, 0)
        text = ("Tick a box to give a role a permission. Each change is asked for a two-factor "
                "code and recorded." if self.can_roles else
                "Read-only: only an administrator with 'roles.manage' may change the matrix.")
        v.addWidget(hint_label(text + " Permissions marked ★ need a fresh two-factor code each "
                                      "time they are used."))
        perms = list(Permission)
        self.matrix_table = QTableWidget(len(perms), len(ROLE_NAMES))
        self.matrix_table.setObjectName("roleMatrix")
        self.matrix_table.setHorizontalHeaderLabels([r.title() for r in ROLE_NAMES])
        self.matrix_table.setVerticalHeaderLabels(
            [f"{p.value}{'  ★' if p in SENSITIVE else ''}" for p in perms])
        self.matrix_table.setAlternatingRowColors(True)
        self.matrix_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.matrix_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix_table.verticalHeader().setDefaultAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        flags = Qt.ItemFlag.ItemIsEnabled | (Qt.ItemFlag.ItemIsUserCheckable if self.can_roles
                                             else Qt.ItemFlag.NoItemFlags)
        for r, perm in enumerate(perms):
            for c, role in enumerate(ROLE_NAMES):
                item = QTableWidgetItem()
                item.setFlags(flags)
                item.setCheckState(Qt.CheckState.Unchecked)
                item.setData(Qt.ItemDataRole.UserRole, (role, perm.value))
                item.setToolTip(f"{role}: {perm.value}")
                self.matrix_table.setItem(r, c, item)
        self.matrix_table.itemChanged.connect(self._matrix_item_changed)
        v.addWidget(self.matrix_table, 1)
        return tab

    # -- data ---------------------------------------------------------------------------------
    def reload(self) -> None:
        users = self.app.workspace.users
        self.app.workers.run(users.list_users, self._fill_users)
        self.reload_matrix()

    def reload_matrix(self) -> None:
        self.app.workers.run(self.app.workspace.users.role_matrix, self._fill_matrix)

    def on_shown(self) -> None:
        if self._loaded:
            self._update_buttons()

    def on_changes(self, topic: str, data: dict) -> None:
        if topic == "users.changed":
            self.app.workers.run(self.app.workspace.users.list_users, self._fill_users)
        elif topic == "roles.changed":
            self.reload_matrix()

    def _fill_users(self, users: list[UserInfo]) -> None:
        selected = self.selected_user()
        self.users = list(users)
        self._loaded = True
        now = self.app.workspace.ctx.now()
        self.model.setRowCount(0)
        for u in users:
            locked = u.locked_until if u.locked_until and u.locked_until > now else None
            values = [(u.username, u.username), (u.display_name, u.display_name.lower()),
                      (u.role, ROLE_NAMES.index(u.role) if u.role in ROLE_NAMES else 99),
                      ("yes" if u.is_active else "no", int(u.is_active)),
                      ("on" if u.mfa_enabled else "off", int(u.mfa_enabled)),
                      (local_time(locked), locked.isoformat() if locked else ""),
                      (local_time(u.created_at), u.created_at.isoformat() if u.created_at else "")]
            row = []
            for text, key in values:
                item = QStandardItem(text)
                item.setData(key, Qt.ItemDataRole.UserRole)
                item.setEditable(False)
                row.append(item)
            row[0].setData(u.username, Qt.ItemDataRole.UserRole + 1)
            if not u.is_active:
                for item in row:
                    item.setForeground(self.palette().placeholderText())
            self.model.appendRow(row)
        if selected:
            self.select_user(selected.username)
        self._update_buttons()

    def _fill_matrix(self, matrix: dict[str, frozenset[str]]) -> None:
        self.matrix = dict(matrix)
        self._filling = True
        try:
            for r in range(self.matrix_table.rowCount()):
                for c in range(self.matrix_table.columnCount()):
                    item = self.matrix_table.item(r, c)
                    role, perm = item.data(Qt.ItemDataRole.UserRole)
                    on = perm in matrix.get(role, frozenset())
                    item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        finally:
            self._filling = False

    # -- selection ------------------------------------------------------------------------------
    def selected_user(self) -> UserInfo | None:
        if not hasattr(self, "table"):
            return None
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        name = self.proxy.data(rows[0].siblingAtColumn(0), Qt.ItemDataRole.UserRole + 1)
        return next((u for u in self.users if u.username == name), None)

    def select_user(self, username: str) -> bool:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if self.proxy.data(index, Qt.ItemDataRole.UserRole + 1) == username:
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        user = self.selected_user()
        now = self.app.workspace.ctx.now()
        has = user is not None
        self.role_button.setEnabled(has)
        self.password_button.setEnabled(has)
        self.unlock_button.setEnabled(bool(user and user.locked_until and user.locked_until > now))
        self.mfa_button.setEnabled(bool(user and user.mfa_enabled))
        self.active_button.setEnabled(has)
        self.active_button.setText("Activate" if user and not user.is_active else "Deactivate")

    # -- actions ------------------------------------------------------------------------------------
    def _sensitive(self, fn: Callable[[], Any], done: str) -> None:
        def failed(exc: BaseException) -> None:
            self.app.show_error(exc)
            if isinstance(exc, ConcurrentUpdate):  # show what the other administrator did
                self.reload()

        run_sensitive(self.app, self, fn, lambda _r: self.app.status(done), failed)

    def open_add_user(self) -> AddUserDialog:
        dialog = AddUserDialog(self.app, self)
        dialog.accepted.connect(lambda: self.app.status(
            f"user '{dialog.result_value.username}' added" if dialog.result_value else "user added"))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _ask_role(self, username: str, current: str) -> str | None:
        role, ok = QInputDialog.getItem(self, "Change role", f"New role for {username}:", ROLE_NAMES,
                                        ROLE_NAMES.index(current) if current in ROLE_NAMES else 0,
                                        False)
        return role if ok else None

    def change_role(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        role = self.ask_role(user.username, user.role)
        if not role or role == user.role:
            return
        if not self.confirm("Change role", f"Change {user.username} from {user.role} to {role}? "
                            "Their permissions change at their next sign-in.", "Change role"):
            return
        users, name, shown = self.app.workspace.users, user.username, user.role
        self._sensitive(lambda: users.set_role(name, role, seen_role=shown), f"{name} is now {role}")

    def unlock_user(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        users, name = self.app.workspace.users, user.username
        self._sensitive(lambda: users.unlock(name), f"{name} unlocked")

    def set_password(self) -> SetPasswordDialog | None:
        user = self.selected_user()
        if user is None:
            return None
        dialog = SetPasswordDialog(self.app, user.username, self)
        dialog.accepted.connect(lambda: self.app.status(f"new password set for {user.username}"))
        self.dialog = dialog
        dialog.open()
        return dialog

    def reset_mfa(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        if not self.confirm("Reset two-factor", f"Remove {user.username}'s authenticator? They can "
                            "sign in with their password only and must set up two-factor again "
                            "before any sensitive action.", "Reset two-factor"):
            return
        users, name = self.app.workspace.users, user.username
        self._sensitive(lambda: users.reset_mfa(name), f"two-factor reset for {name}")

    def toggle_active(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        users, name = self.app.workspace.users, user.username
        if user.is_active:
            if not self.confirm("Deactivate user", f"Deactivate {name}? They can no longer sign in. "
                                "Their history stays in the audit trail.", "Deactivate"):
                return
            self._sensitive(lambda: users.set_active(name, False), f"{name} deactivated")
        else:
            self._sensitive(lambda: users.set_active(name, True), f"{name} activated")

    def _matrix_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or not self.can_roles:
            return
        role, perm = item.data(Qt.ItemDataRole.UserRole)
        allowed = item.checkState() == Qt.CheckState.Checked
        users = self.app.workspace.users

        def revert(_exc: BaseException | None = None) -> None:
            self._fill_matrix(self.matrix)
            if _exc is not None:
                self.app.show_error(_exc)

        run_sensitive(self.app, self, lambda: users.set_role_permission(role, perm, allowed),
                      lambda _r: self.app.status(f"{role}: {perm} {'granted' if allowed else 'revoked'}"),
                      revert, lambda: revert(None))
