"""Shows freshly made recovery codes once, with a copy button and a clear warning."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QHBoxLayout, QPlainTextEdit,
                               QPushButton, QVBoxLayout, QWidget)

from cio_desktop.ui.dialogs.common import hint_label, primary_button, show_status, status_label, title_label


def format_codes(codes: list[str]) -> str:
    """Two columns, numbered, so a printed copy is easy to tick off."""
    half = (len(codes) + 1) // 2
    rows = []
    for i in range(half):
        left = f"{i + 1:>2}. {codes[i]}"
        right = f"{i + half + 1:>2}. {codes[i + half]}" if i + half < len(codes) else ""
        rows.append(f"{left}     {right}".rstrip())
    return "\n".join(rows)


class RecoveryCodesDialog(QDialog):
    def __init__(self, codes: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.codes = list(codes)
        self.setObjectName("recoveryCodesDialog")
        self.setWindowTitle("Your recovery codes")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        layout.addWidget(title_label("Recovery codes"))
        warning = status_label("warning")
        show_status(warning, "These codes are shown only once. Store them somewhere safe (a password "
                             "manager or a printed copy in a safe). Each code works one time "
                             "instead of your authenticator app; any older codes no longer work.",
                    "warning")
        layout.addWidget(warning)
        self.text = QPlainTextEdit(format_codes(self.codes))
        self.text.setObjectName("recoveryCodes")
        self.text.setReadOnly(True)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSize(max(mono.pointSize(), 11))
        self.text.setFont(mono)
        self.text.setFixedHeight(self.text.fontMetrics().lineSpacing() * (len(format_codes(self.codes).splitlines()) + 1) + 16)
        layout.addWidget(self.text)
        row = QHBoxLayout()
        self.copy_button = QPushButton("Copy codes")
        self.copy_button.clicked.connect(self.copy)
        row.addWidget(self.copy_button)
        self.copied = hint_label("")
        row.addWidget(self.copied, 1)
        layout.addLayout(row)
        self.stored = QCheckBox("I have stored these codes somewhere safe")
        self.stored.setObjectName("recoveryStored")
        layout.addWidget(self.stored)
        buttons = QDialogButtonBox()
        self.done_button = primary_button("Done")
        self.done_button.setEnabled(False)
        buttons.addButton(self.done_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        self.stored.toggled.connect(self.done_button.setEnabled)
        layout.addWidget(buttons)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(self.codes))
        self.copied.setText("Copied to the clipboard. Paste them into your password manager, then "
                            "clear the clipboard.")

    def reject(self) -> None:  # Esc must not lose the codes silently: require the tick box
        if self.stored.isChecked():
            super().reject()
