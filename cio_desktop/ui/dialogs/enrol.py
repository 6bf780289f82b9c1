"""Two-factor enrolment: QR code (segno) + secret as text, then the first code to confirm."""

from __future__ import annotations

import io
from typing import Any

import segno
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QGridLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget)

from cio_desktop.services.auth import MfaEnrolment
from cio_desktop.ui.dialogs.common import (hint_label, inline_error, primary_button, show_status,
                                           status_label, title_label)


def qr_image(text: str, scale: int = 4, border: int = 3) -> QImage:
    """Render ``text`` as a QR code: always dark on white so every phone camera reads it."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=scale, border=border,
                                     dark="#000000", light="#ffffff")
    image = QImage()
    if not image.loadFromData(buffer.getvalue(), "PNG"):
        raise RuntimeError("could not render the QR code")
    return image


def group_secret(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


class MfaEnrolDialog(QDialog):
    """Shows the new secret; ``enrolled`` carries the recovery codes once the code is confirmed."""

    enrolled = Signal(list)

    def __init__(self, ui_ctx: Any, enrolment: MfaEnrolment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ui_ctx = ui_ctx
        self.enrolment = enrolment
        self.codes: list[str] | None = None
        self._busy = False
        self.setObjectName("mfaEnrolDialog")
        self.setWindowTitle("Set up two-factor authentication")
        self.setMinimumWidth(740)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(12)
        layout.addWidget(title_label("Set up two-factor authentication"))
        layout.addWidget(hint_label(
            "1. Scan the QR code with an authenticator app (Microsoft Authenticator, Google "
            "Authenticator, 1Password, …) — or type the secret into it.\n"
            "2. Enter the 6-digit code the app shows to confirm."))

        body = QHBoxLayout()
        body.setSpacing(18)
        self.qr_label = QLabel()
        self.qr_label.setObjectName("mfaQr")
        self.qr_label.setPixmap(QPixmap.fromImage(qr_image(enrolment.uri)))
        self.qr_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr_label.setStyleSheet("background: #ffffff; border-radius: 6px; padding: 4px;")
        body.addWidget(self.qr_label, 0, Qt.AlignmentFlag.AlignTop)

        details = QGridLayout()
        details.setVerticalSpacing(6)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.secret_label = QLabel(group_secret(enrolment.secret))
        self.secret_label.setObjectName("mfaSecret")
        self.secret_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.secret_label.setWordWrap(True)
        self.secret_label.setFont(mono)
        self.uri_edit = QLineEdit(enrolment.uri)
        self.uri_edit.setObjectName("mfaUri")
        self.uri_edit.setReadOnly(True)
        self.uri_edit.setCursorPosition(0)
        copy_secret = QPushButton("Copy")
        copy_secret.clicked.connect(lambda: self._copy(enrolment.secret, "secret"))
        copy_uri = QPushButton("Copy")
        copy_uri.clicked.connect(lambda: self._copy(enrolment.uri, "link"))
        details.addWidget(QLabel("Secret"), 0, 0)
        details.addWidget(self.secret_label, 0, 1)
        details.addWidget(copy_secret, 0, 2)
        details.addWidget(QLabel("Link"), 1, 0)
        details.addWidget(self.uri_edit, 1, 1)
        details.addWidget(copy_uri, 1, 2)
        details.addWidget(hint_label("Keep the secret private: anyone who has it can make codes "
                                     "for your account. Type: time-based, 6 digits, 30 seconds."),
                          2, 0, 1, 3)
        self.copied = hint_label("")
        details.addWidget(self.copied, 3, 0, 1, 3)
        form = QFormLayout()
        form.setHorizontalSpacing(12)
        self.code_edit = QLineEdit()
        self.code_edit.setObjectName("mfaEnrolCode")
        self.code_edit.setPlaceholderText("6-digit code")
        self.code_edit.setMaxLength(8)
        form.addRow("Code from the app", self.code_edit)
        details.addLayout(form, 4, 0, 1, 3)
        details.setRowStretch(5, 1)
        body.addLayout(details, 1)
        layout.addLayout(body)

        self.error_label = status_label("error")
        self.error_label.setObjectName("mfaEnrolError")
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox()
        self.confirm_button = primary_button("Confirm")
        self.confirm_button.setObjectName("mfaEnrolConfirm")
        self.confirm_button.setDefault(True)
        self.buttons.addButton(self.confirm_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.code_edit.setFocus()

    def _copy(self, text: str, what: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied.setText(f"The {what} is on the clipboard.")

    @property
    def secret(self) -> str:
        """The secret as shown (without the grouping spaces)."""
        return self.secret_label.text().replace(" ", "")

    def submit(self) -> None:
        if self._busy:
            return
        code = self.code_edit.text().strip().replace(" ", "")
        if len(code) != 6 or not code.isdigit():
            show_status(self.error_label, "enter the 6-digit code your authenticator app shows")
            return
        self._busy = True
        self.confirm_button.setEnabled(False)
        auth = self.ui_ctx.workspace.auth
        self.ui_ctx.workers.run(lambda: auth.confirm_mfa_enrolment(code), self._confirmed, self._failed)

    def _confirmed(self, codes: list[str]) -> None:
        self._busy = False
        self.codes = list(codes)
        self.enrolled.emit(self.codes)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self.confirm_button.setEnabled(True)
        self.code_edit.clear()
        show_status(self.error_label, inline_error(self.ui_ctx, exc))
