"""My security: change your password, set up or replace two-factor, new recovery codes."""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFormLayout, QGroupBox, QHBoxLayout, QLineEdit, QPushButton,
                               QScrollArea, QVBoxLayout, QWidget)

from cio_desktop.services.auth import MfaEnrolment
from cio_desktop.ui.dialogs.common import (PASSWORD_POLICY, confirm, hint_label, inline_error,
                                           primary_button, show_status, status_label, title_label)
from cio_desktop.ui.dialogs.enrol import MfaEnrolDialog
from cio_desktop.ui.dialogs.mfa import run_sensitive
from cio_desktop.ui.dialogs.recovery import RecoveryCodesDialog
from cio_desktop.ui.panels.base import Panel

log = logging.getLogger(__name__)


class SecurityPanel(Panel):
    NAME = "security"
    TITLE = "My security"
    PERMISSION = None
    SHORTCUT = "Ctrl+9"
    TOPICS = ()

    def __init__(self, app: Any, parent: QWidget | None = None) -> None:
        super().__init__(app, parent)
        self.enrol_dialog: MfaEnrolDialog | None = None
        self.codes_dialog: RecoveryCodesDialog | None = None
        self.confirm: Callable[[str, str, str], bool] = lambda title, text, action: confirm(
            self, title, text, action)

    def build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        outer.addWidget(scroll)
        body = QWidget()
        body.setObjectName("securityBody")
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.setSpacing(12)
        layout.addWidget(title_label("My security", "panelTitle"))
        session = self.app.workspace.ctx.session
        self.who = hint_label(f"Signed in as {session.username} ({session.role})." if session else "")
        layout.addWidget(self.who)

        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(14)
        column.addWidget(self._build_password_box())
        column.addWidget(self._build_mfa_box())
        column.addStretch(1)
        row = QHBoxLayout()
        holder = QWidget()
        holder.setLayout(column)
        holder.setMaximumWidth(680)
        row.addWidget(holder, 1)
        row.addStretch(0)
        layout.addLayout(row, 1)
        self.refresh()

    def _build_password_box(self) -> QGroupBox:
        box = QGroupBox("Password")
        v = QVBoxLayout(box)
        form = QFormLayout()
        form.setSpacing(8)
        self.old_edit = QLineEdit()
        self.old_edit.setObjectName("oldPassword")
        self.new_edit = QLineEdit()
        self.new_edit.setObjectName("newPassword")
        self.repeat_edit = QLineEdit()
        self.repeat_edit.setObjectName("repeatPassword")
        for e in (self.old_edit, self.new_edit, self.repeat_edit):
            e.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Current password", self.old_edit)
        form.addRow("New password", self.new_edit)
        form.addRow("Repeat new password", self.repeat_edit)
        v.addLayout(form)
        v.addWidget(hint_label(PASSWORD_POLICY))
        self.password_status = status_label("error")
        self.password_status.setObjectName("passwordStatus")
        v.addWidget(self.password_status)
        row = QHBoxLayout()
        row.addStretch(1)
        self.change_button = primary_button("Change password")
        self.change_button.setObjectName("changePassword")
        self.change_button.clicked.connect(self.change_password)
        row.addWidget(self.change_button)
        v.addLayout(row)
        self.repeat_edit.returnPressed.connect(self.change_password)
        return box

    def _build_mfa_box(self) -> QGroupBox:
        box = QGroupBox("Two-factor authentication")
        v = QVBoxLayout(box)
        self.mfa_state = status_label("ok")
        self.mfa_state.setObjectName("mfaState")
        v.addWidget(self.mfa_state)
        v.addWidget(hint_label("Sensitive actions — approving or executing payments, managing users "
                               "and roles, revealing account numbers, unmasked exports — ask for a "
                               "code from your authenticator app. Recovery codes work when the "
                               "phone is not at hand; each one works once."))
        self.mfa_status = status_label("error")
        self.mfa_status.setObjectName("mfaStatus")
        v.addWidget(self.mfa_status)
        row = QHBoxLayout()
        row.addStretch(1)
        self.codes_button = QPushButton("New recovery codes…")
        self.codes_button.setObjectName("newRecoveryCodes")
        self.codes_button.clicked.connect(self.regenerate_codes)
        self.enrol_button = primary_button("Set up two-factor…")
        self.enrol_button.setObjectName("enrolMfa")
        self.enrol_button.clicked.connect(self.start_enrolment)
        row.addWidget(self.codes_button)
        row.addWidget(self.enrol_button)
        v.addLayout(row)
        return box

    def refresh(self) -> None:
        session = self.app.workspace.ctx.session
        enabled = bool(session and session.mfa_enabled)
        if enabled:
            show_status(self.mfa_state, "Two-factor authentication is on.", "ok")
        else:
            show_status(self.mfa_state, "Two-factor authentication is off: set it up before you "
                                        "can approve payments or manage users.", "warning")
        self.enrol_button.setText("Replace authenticator…" if enabled else "Set up two-factor…")
        self.codes_button.setVisible(enabled)

    def on_shown(self) -> None:
        self.refresh()

    # -- password ---------------------------------------------------------------------------
    def change_password(self) -> None:
        old, new, repeat = self.old_edit.text(), self.new_edit.text(), self.repeat_edit.text()
        if not old or not new:
            show_status(self.password_status, "enter your current and your new password")
            return
        if new != repeat:
            show_status(self.password_status, "the two new passwords differ")
            return
        self.change_button.setEnabled(False)
        auth = self.app.workspace.auth
        self.app.workers.run(lambda: auth.change_password(old, new), self._password_changed,
                             self._password_failed)

    def _password_changed(self, _r: object) -> None:
        self.change_button.setEnabled(True)
        for e in (self.old_edit, self.new_edit, self.repeat_edit):
            e.clear()
        show_status(self.password_status, "Your password was changed.", "ok")
        self.app.status("password changed")

    def _password_failed(self, exc: BaseException) -> None:
        self.change_button.setEnabled(True)
        self.old_edit.clear()
        show_status(self.password_status, inline_error(self.app, exc))

    # -- two-factor -----------------------------------------------------------------------------
    def start_enrolment(self) -> None:
        session = self.app.workspace.ctx.session
        if session and session.mfa_enabled and not self.confirm(
                "Replace authenticator", "Set up a new authenticator? The current one and your "
                "recovery codes stop working once the new one is confirmed.", "Continue"):
            return
        show_status(self.mfa_status, "")
        auth = self.app.workspace.auth
        run_sensitive(self.app, self, auth.begin_mfa_enrolment, self._show_enrolment,
                      lambda exc: show_status(self.mfa_status, inline_error(self.app, exc)))

    def _show_enrolment(self, enrolment: MfaEnrolment) -> None:
        dialog = MfaEnrolDialog(self.app, enrolment, self)
        dialog.enrolled.connect(self._enrolled)
        self.enrol_dialog = dialog
        dialog.open()

    def _enrolled(self, codes: list[str]) -> None:
        self.refresh()
        self.app.status("two-factor authentication is on")
        self.show_codes(codes)

    def regenerate_codes(self) -> None:
        if not self.confirm("New recovery codes", "Make ten new recovery codes? Your current codes "
                            "stop working at once.", "Make new codes"):
            return
        auth = self.app.workspace.auth
        run_sensitive(self.app, self, auth.regenerate_recovery_codes, self.show_codes,
                      lambda exc: show_status(self.mfa_status, inline_error(self.app, exc)))

    def show_codes(self, codes: list[str]) -> RecoveryCodesDialog:
        dialog = RecoveryCodesDialog(codes, self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.codes_dialog = dialog
        dialog.open()
        return dialog
