"""The login dialog: user name, password, optional two-factor code; plain inline errors.

A lock-out (``AccountLocked``) shows the service's message and a live countdown; the sign-in
button stays disabled for that user until the lock ends (the clock is the service clock, so
tests drive it with a fake clock).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QVBoxLayout,
                               QWidget)

from cio_desktop.errors import AccountLocked
from cio_desktop.services.session import AuthSession
from cio_desktop.ui.dialogs.common import (hint_label, inline_error, primary_button, show_status,
                                           status_label, title_label)

log = logging.getLogger(__name__)


def format_remaining(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.999))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}:{secs:02d}"


class LoginDialog(QDialog):
    def __init__(self, ui_ctx: Any, username: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ui_ctx = ui_ctx
        self.session: AuthSession | None = None
        self._locked_user: str | None = None
        self._locked_until: datetime | None = None
        self._locked_message = ""
        self._busy = False
        self.setObjectName("loginDialog")
        self.setWindowTitle("CIO Desktop — sign in")
        self.setMinimumWidth(420)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 20)
        layout.setSpacing(10)
        layout.addWidget(title_label("Sign in to CIO Desktop"))
        layout.addWidget(hint_label(f"Database: {ui_ctx.workspace.db.display_name}"))

        form = QFormLayout()
        form.setSpacing(8)
        self.user_edit = QLineEdit(username)
        self.user_edit.setObjectName("loginUser")
        self.user_edit.setPlaceholderText("user name")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("loginPassword")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("password")
        self.otp_edit = QLineEdit()
        self.otp_edit.setObjectName("loginOtp")
        self.otp_edit.setPlaceholderText("optional, 6 digits")
        self.otp_edit.setMaxLength(16)
        form.addRow("User name", self.user_edit)
        form.addRow("Password", self.password_edit)
        form.addRow("Two-factor code", self.otp_edit)
        layout.addLayout(form)
        layout.addWidget(hint_label("The two-factor code is optional here; sensitive actions ask "
                                    "for a fresh one anyway."))

        self.error_label = status_label("error")
        self.error_label.setObjectName("loginError")
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox()
        self.login_button = primary_button("Sign in")
        self.login_button.setObjectName("loginButton")
        self.login_button.setDefault(True)
        self.login_button.setAutoDefault(True)
        self.buttons.addButton(self.login_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.countdown = QTimer(self)
        self.countdown.setInterval(1000)
        self.countdown.timeout.connect(self.tick)
        self.user_edit.textChanged.connect(lambda _t: self._update_enabled())
        (self.password_edit if username else self.user_edit).setFocus()

    # -- behaviour ------------------------------------------------------------------
    def submit(self) -> None:
        if self._busy or not self.login_button.isEnabled():
            return
        user = self.user_edit.text().strip()
        password = self.password_edit.text()
        otp = self.otp_edit.text().strip() or None
        if not user or not password:
            show_status(self.error_label, "enter your user name and password")
            return
        self._set_busy(True)
        auth = self.ui_ctx.workspace.auth
        self.ui_ctx.workers.run(lambda: auth.login(user, password, otp=otp), self._succeeded,
                                self._failed)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        for w in (self.user_edit, self.password_edit, self.otp_edit):
            w.setEnabled(not busy)
        self.login_button.setText("Signing in…" if busy else "Sign in")
        self._update_enabled()

    def _succeeded(self, session: AuthSession) -> None:
        self._set_busy(False)
        self.session = session
        self.password_edit.clear()
        self.countdown.stop()
        log.info("signed in as %s (%s)", session.username, session.role)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.password_edit.clear()
        self.otp_edit.clear()
        if isinstance(exc, AccountLocked):
            self._locked_user = self.user_edit.text().strip().lower()
            self._locked_until = exc.until
            self._locked_message = str(exc)
            self.countdown.start()
            self.tick()
            return
        show_status(self.error_label, inline_error(self.ui_ctx, exc))
        self.password_edit.setFocus()

    @property
    def locked(self) -> bool:
        return (self._locked_until is not None
                and self.user_edit.text().strip().lower() == self._locked_user)

    def remaining_seconds(self) -> float:
        if self._locked_until is None:
            return 0.0
        return (self._locked_until - self.ui_ctx.workspace.ctx.now()).total_seconds()

    def tick(self) -> None:
        """Update the lock-out countdown (called every second while an account is locked)."""
        if self._locked_until is None:
            return
        remaining = self.remaining_seconds()
        if remaining <= 0:
            self._locked_user = self._locked_until = None
            self.countdown.stop()
            show_status(self.error_label, "The lock has ended: you can try again.", "warning")
        else:
            show_status(self.error_label, f"{self._locked_message}.\nTry again in "
                                          f"{format_remaining(remaining)}.")
        self._update_enabled()

    def _update_enabled(self) -> None:
        self.login_button.setEnabled(not self._busy and not self.locked)

    def done(self, result: int) -> None:  # noqa: D102 - stop the timer whatever closes the dialog
        self.countdown.stop()
        super().done(result)
