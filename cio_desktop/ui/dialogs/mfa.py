"""The two-factor prompt and ``run_sensitive``, the one way the UI runs an MFA-gated action.

Usage (from any panel or dialog)::

    run_sensitive(self.app, self, lambda: users.unlock(name), on_success=self.reload)

``fn`` runs through the worker pool. If the service raises ``MfaRequired`` the MFA dialog asks
for a 6-digit code (or a recovery code), ``auth.verify_mfa(code)`` checks it, and ``fn`` is
retried once. Any other error goes to ``on_error`` (default: ``ui_ctx.show_error``). The dialog
is opened without blocking (``open()``); the returned ``SensitiveRun`` exposes it as ``.dialog``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QMessageBox,
                               QVBoxLayout, QWidget)

from cio_desktop.errors import AccountLocked, MfaRequired, NotAuthenticated
from cio_desktop.ui.dialogs.common import (hint_label, inline_error, primary_button, show_status,
                                           status_label, title_label)

log = logging.getLogger(__name__)

NOT_ENROLLED = ("This action needs two-factor authentication, which is not set up for your "
                "account yet. Open “My security” and set it up first.")


class MfaDialog(QDialog):
    """Asks for a code and verifies it with ``auth.verify_mfa``; accepts only when it is right."""

    def __init__(self, ui_ctx: Any, operation: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ui_ctx = ui_ctx
        self._busy = False
        self.setObjectName("mfaDialog")
        self.setWindowTitle("Two-factor check")
        self.setMinimumWidth(400)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        layout.addWidget(title_label("Confirm it is you"))
        what = f"“{operation}”" if operation else "This action"
        layout.addWidget(hint_label(f"{what} is a sensitive action. Enter the 6-digit code from "
                                    "your authenticator app, or one of your recovery codes."))
        demo_secret = ui_ctx.extra.get("demo_totp_secret") if hasattr(ui_ctx, "extra") else None
        if demo_secret:  # the demo company's secret is public: show its current code
            from cio_desktop.security.totp import code_at

            now = ui_ctx.workspace.ctx.now()
            demo = hint_label(f"Demo company: the current code is {code_at(demo_secret, now)}.")
            demo.setObjectName("mfaDemoCode")
            layout.addWidget(demo)
        form = QFormLayout()
        self.code_edit = QLineEdit()
        self.code_edit.setObjectName("mfaCode")
        self.code_edit.setPlaceholderText("123456 or k7fq-2m9x-p4ta")
        self.code_edit.setMaxLength(20)
        form.addRow("Code", self.code_edit)
        layout.addLayout(form)
        self.error_label = status_label("error")
        self.error_label.setObjectName("mfaError")
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox()
        self.verify_button = primary_button("Verify")
        self.verify_button.setObjectName("mfaVerify")
        self.verify_button.setDefault(True)
        self.buttons.addButton(self.verify_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.code_edit.setFocus()

    def submit(self) -> None:
        if self._busy:
            return
        code = self.code_edit.text().strip()
        if not code:
            show_status(self.error_label, "enter the code from your authenticator app")
            return
        self._set_busy(True)
        auth = self.ui_ctx.workspace.auth
        self.ui_ctx.workers.run(lambda: auth.verify_mfa(code), self._verified, self._failed)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.verify_button.setEnabled(not busy)
        self.code_edit.setEnabled(not busy)

    def _verified(self, _result: object) -> None:
        self._set_busy(False)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        if isinstance(exc, (AccountLocked, NotAuthenticated)):
            # too many wrong codes end the session: close, and let the shell return to login
            self.reject()
            self.ui_ctx.show_error(exc)
            return
        self.code_edit.clear()
        self.code_edit.setFocus()
        show_status(self.error_label, inline_error(self.ui_ctx, exc))


@dataclass
class SensitiveRun:
    """Handle on one ``run_sensitive`` call (what tests and callers may inspect)."""

    dialog: MfaDialog | None = None
    attempts: int = 0
    done: bool = False
    cancelled: bool = False
    error: BaseException | None = None
    result: Any = None
    notice: QMessageBox | None = field(default=None, repr=False)


def run_sensitive(ui_ctx: Any, parent: QWidget | None, fn: Callable[[], Any],
                  on_success: Callable[[Any], None] | None = None,
                  on_error: Callable[[BaseException], None] | None = None,
                  on_cancel: Callable[[], None] | None = None) -> SensitiveRun:
    """Run an MFA-gated service call; ask for a fresh code when the service wants one."""
    run = SensitiveRun()
    report = on_error or ui_ctx.show_error

    def succeeded(result: Any) -> None:
        run.done, run.result = True, result
        if on_success:
            on_success(result)

    def failed(exc: BaseException) -> None:
        if isinstance(exc, MfaRequired) and run.attempts == 1:
            session = ui_ctx.workspace.ctx.session
            if session is not None and not session.mfa_enabled:
                run.error = exc
                box = QMessageBox(QMessageBox.Icon.Information, "Two-factor authentication needed",
                                  NOT_ENROLLED, QMessageBox.StandardButton.Ok, parent)
                run.notice = box
                box.open()
                if on_cancel:
                    on_cancel()
                return
            ask(exc)
            return
        run.error = exc
        report(exc)

    def ask(exc: MfaRequired) -> None:
        dialog = MfaDialog(ui_ctx, exc.operation, parent)
        run.dialog = dialog

        def accepted() -> None:
            attempt()

        def rejected() -> None:
            run.cancelled = True
            ui_ctx.status("cancelled: no two-factor code given")
            if on_cancel:
                on_cancel()

        dialog.accepted.connect(accepted)
        dialog.rejected.connect(rejected)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        dialog.open()

    def attempt() -> None:
        run.attempts += 1
        ui_ctx.workers.run(fn, succeeded, failed)

    attempt()
    return run
